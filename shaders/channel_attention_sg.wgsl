// Subgroup versions of the two big kernels of channel_attention.wgsl (`gram` and `mix`; the
// small kernels and the meaning of every buffer are described there), for adapters with
// subgroups of at least 8 invocations. A workgroup is 8 invocations, one subgroup.
//
// On lavapipe (a workgroup runs as one loop over 8 SIMD lanes) every load inside a loop is a
// per-lane scalar gather with a bounds check, so the cost is the number of loads per lane and
// the multiply-adds are nearly free. Here each lane loads a different row of the shared operand
// and subgroupBroadcast hands it to the other 7 lanes, so each value is loaded once per
// workgroup and feeds 8 lanes' multiply-adds.
//
// `gram`: a workgroup owns 8·G rows of a (lane l loads rows l, l+8, ...) and 8·R rows of b
//         (R per lane); per step of 4 columns a lane makes G + R vec4 loads and 8·G·R dot4s.
// `mix`:  a workgroup owns 8·G output rows; each lane owns R groups of 4 consecutive columns.
//         Per step of 4 inner indices j a lane loads its rows' M[·, j..j+3] (G vec4s, shared by
//         broadcast) and 4·R vec4s of x, then makes 8·G·R·4 vec4 multiply-adds.
enable subgroups;

override G: u32 = 1u;         // 8-row groups of the shared operand per workgroup (≤ MAXG)
override R: u32 = 1u;         // gram: rows of b per lane; mix: 4-column groups per lane (≤ MAXR)
override VEC: bool = false;   // n % 4 == 0: rows start on vec4 boundaries

const MAXG: u32 = 6u;
const MAXI: u32 = 48u;        // 8 · MAXG
const MAXR: u32 = 6u;
const NORMS: u32 = 1u;
const TRANS: u32 = 2u;
const DIAG: u32 = 4u;

struct Params {
  c: u32,
  n: u32,
  problems: u32,
  splits: u32,
  chunk: u32,
  tilesJ: u32,
  colGroups: u32,
  heads: u32,
  eps: f32,
  // bit 0: gram also sums the squared row norms; bit 1: mix multiplies by Mᵀ; bit 2: mix subtracts d[i] · y[i, :]
  flags: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> a4: array<vec4f>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> b4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> part: array<f32>;
@group(0) @binding(6) var<storage, read_write> npart: array<f32>;
@group(0) @binding(11) var<storage, read> mat: array<f32>;
@group(0) @binding(12) var<storage, read> dvec: array<f32>;
@group(0) @binding(13) var<storage, read_write> out: array<f32>;
@group(0) @binding(14) var<storage, read_write> out4: array<vec4f>;

fn flag(f: u32) -> bool {
  return (p.flags & f) != 0u;
}

// a[off + k + q] for q < 4, zero where k + q ≥ end (off + end − 1 is a valid index).
fn loadA4(off: u32, k: u32, end: u32) -> vec4f {
  var v: vec4f;
  for (var q = 0u; q < 4u; q++) {
    v[q] = select(0.0, a[off + min(k + q, end - 1u)], k + q < end);
  }
  return v;
}

fn loadB4(off: u32, k: u32, end: u32) -> vec4f {
  var v: vec4f;
  for (var q = 0u; q < 4u; q++) {
    v[q] = select(0.0, b[off + min(k + q, end - 1u)], k + q < end);
  }
  return v;
}

// a[off + k .. off + k + 3]: with VEC one vec4 (off + k is a multiple of 4 and k + 3 < end),
// otherwise masked scalars
fn rowA4(off: u32, k: u32, end: u32) -> vec4f {
  if (VEC) { return a4[(off + k) / 4u]; }
  return loadA4(off, k, end);
}

fn rowB4(off: u32, k: u32, end: u32) -> vec4f {
  if (VEC) { return b4[(off + k) / 4u]; }
  return loadB4(off, k, end);
}

// ---------------------------------------------------------------- gram

struct GramAcc {
  acc: array<array<f32, MAXR>, MAXI>,
  na: array<f32, MAXG>,
  nb: array<f32, MAXR>,
}

fn gramRow(s: ptr<function, GramAcc>, i: u32, t: vec4f, bv: array<vec4f, MAXR>) {
  for (var r = 0u; r < R; r++) {
    (*s).acc[i][r] += dot(t, bv[r]);
  }
}

fn gramStep(s: ptr<function, GramAcc>, av: array<vec4f, MAXG>, bv: array<vec4f, MAXR>, norms: bool) {
  if (norms) {
    for (var g = 0u; g < G; g++) { (*s).na[g] += dot(av[g], av[g]); }
    for (var r = 0u; r < R; r++) { (*s).nb[r] += dot(bv[r], bv[r]); }
  }
  for (var g = 0u; g < G; g++) {
    let v = av[g];
    let i = g * 8u;
    gramRow(s, i, subgroupBroadcast(v, 0u), bv);
    gramRow(s, i + 1u, subgroupBroadcast(v, 1u), bv);
    gramRow(s, i + 2u, subgroupBroadcast(v, 2u), bv);
    gramRow(s, i + 3u, subgroupBroadcast(v, 3u), bv);
    gramRow(s, i + 4u, subgroupBroadcast(v, 4u), bv);
    gramRow(s, i + 5u, subgroupBroadcast(v, 5u), bv);
    gramRow(s, i + 6u, subgroupBroadcast(v, 6u), bv);
    gramRow(s, i + 7u, subgroupBroadcast(v, 7u), bv);
  }
}

// grid: x = tilesI · tilesJ, (y, z) = problem · splits + split (folded)
@compute @workgroup_size(8)
fn gram(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let ps = wid.z * nwg.y + wid.y;
  if (ps >= p.problems * p.splits) { return; }
  let c = p.c;
  let N = p.n;
  let prob = ps / p.splits;
  let split = ps % p.splits;
  let ti = wid.x / p.tilesJ;
  let tj = wid.x % p.tilesJ;
  let i0 = ti * G * 8u;
  let j0 = tj * R * 8u;
  let base = prob * c * N;
  var rowA: array<u32, MAXG>;
  for (var g = 0u; g < G; g++) { rowA[g] = base + min(i0 + g * 8u + lane, c - 1u) * N; }
  var rowB: array<u32, MAXR>;
  for (var r = 0u; r < R; r++) { rowB[r] = base + min(j0 + r * 8u + lane, c - 1u) * N; }
  let n0 = split * p.chunk;
  let n1 = min(n0 + p.chunk, N);
  let norms = flag(NORMS);
  var s: GramAcc;
  // steps of 4 columns; without VEC the loads are masked, so the last step may be short
  for (var k = n0; k < n1; k += 4u) {
    var av: array<vec4f, MAXG>;
    var bv: array<vec4f, MAXR>;
    for (var g = 0u; g < G; g++) { av[g] = rowA4(rowA[g], k, n1); }
    for (var r = 0u; r < R; r++) { bv[r] = rowB4(rowB[r], k, n1); }
    gramStep(&s, av, bv, norms);
  }
  let outBase = ps * c * c;
  for (var i = 0u; i < G * 8u; i++) {
    if (i0 + i < c) {
      for (var r = 0u; r < R; r++) {
        let j = j0 + r * 8u + lane;
        if (j < c) { part[outBase + (i0 + i) * c + j] = s.acc[i][r]; }
      }
    }
  }
  if (norms) {
    if (tj == 0u) {
      for (var g = 0u; g < G; g++) {
        let i = i0 + g * 8u + lane;
        if (i < c) { npart[ps * 2u * c + i] = s.na[g]; }
      }
    }
    if (ti == 0u) {
      for (var r = 0u; r < R; r++) {
        let j = j0 + r * 8u + lane;
        if (j < c) { npart[(ps * 2u + 1u) * c + j] = s.nb[r]; }
      }
    }
  }
}

// ---------------------------------------------------------------- mix

// x[j, col .. col+3] of the problem starting at `base` (columns past n read as 0).
fn loadX4(base: u32, j: u32, col: u32) -> vec4f {
  let N = p.n;
  if (VEC) {
    return a4[(base + j * N) / 4u + min(col, N - 4u) / 4u];
  }
  return loadA4(base + j * N, col, N);
}

fn loadY4(base: u32, i: u32, col: u32) -> vec4f {
  let N = p.n;
  if (VEC) {
    return b4[(base + i * N) / 4u + min(col, N - 4u) / 4u];
  }
  return loadB4(base + i * N, col, N);
}

// M[row, j + q] for q < 4 (M[j + q, row] when transposed: `mRow` is the offset of the row,
// `js` the stride along j), zero where j + q ≥ c
fn loadM4(mRow: u32, js: u32, j: u32) -> vec4f {
  let c = p.c;
  var v: vec4f;
  for (var q = 0u; q < 4u; q++) {
    let jj = min(j + q, c - 1u);
    v[q] = select(0.0, mat[mRow + jj * js], j + q < c);
  }
  return v;
}

struct MixTile {
  acc: array<array<vec4f, MAXR>, MAXI>,
  base: u32,
  i0: u32,
  col0: u32,
}

fn mixRow(t: ptr<function, MixTile>, i: u32, m: vec4f, xv: array<array<vec4f, MAXR>, 4>) {
  for (var r = 0u; r < R; r++) {
    (*t).acc[i][r] = fma(vec4f(m.w), xv[3][r], fma(vec4f(m.z), xv[2][r], fma(vec4f(m.y), xv[1][r], fma(vec4f(m.x), xv[0][r], (*t).acc[i][r]))));
  }
}

fn mixStep(t: ptr<function, MixTile>, mRows: array<u32, MAXG>, js: u32, j: u32) {
  let c = p.c;
  var mv: array<vec4f, MAXG>;
  for (var g = 0u; g < G; g++) { mv[g] = loadM4(mRows[g], js, j); }
  var xv: array<array<vec4f, MAXR>, 4>;
  for (var q = 0u; q < 4u; q++) {
    // rows past c have a zero coefficient; a valid row stands in for them
    let jj = min(j + q, c - 1u);
    for (var r = 0u; r < R; r++) { xv[q][r] = loadX4((*t).base, jj, (*t).col0 + r * 4u); }
  }
  for (var g = 0u; g < G; g++) {
    let v = mv[g];
    let i = g * 8u;
    mixRow(t, i, subgroupBroadcast(v, 0u), xv);
    mixRow(t, i + 1u, subgroupBroadcast(v, 1u), xv);
    mixRow(t, i + 2u, subgroupBroadcast(v, 2u), xv);
    mixRow(t, i + 3u, subgroupBroadcast(v, 3u), xv);
    mixRow(t, i + 4u, subgroupBroadcast(v, 4u), xv);
    mixRow(t, i + 5u, subgroupBroadcast(v, 5u), xv);
    mixRow(t, i + 6u, subgroupBroadcast(v, 6u), xv);
    mixRow(t, i + 7u, subgroupBroadcast(v, 7u), xv);
  }
}

fn mixDiag(t: ptr<function, MixTile>, i: u32, d: f32) {
  let row = min((*t).i0 + i, p.c - 1u);
  for (var r = 0u; r < R; r++) {
    (*t).acc[i][r] -= d * loadY4((*t).base, row, (*t).col0 + r * 4u);
  }
}

// grid: x = row tiles · colGroups, (y, z) = problem (folded)
fn mixTile(wid: vec3u, nwg: vec3u, lane: u32) -> MixTile {
  var t: MixTile;
  let prob = wid.z * nwg.y + wid.y;
  let c = p.c;
  let N = p.n;
  let tileI = wid.x / p.colGroups;
  let cg = wid.x % p.colGroups;
  t.i0 = tileI * G * 8u;
  t.col0 = (cg * 8u + lane) * 4u * R;
  t.base = prob * c * N;
  let mBase = prob * c * c;
  // strides of M along the output row and along j
  let rs = select(c, 1u, flag(TRANS));
  let js = select(1u, c, flag(TRANS));
  var rows: array<u32, MAXG>;
  var mRows: array<u32, MAXG>;
  for (var g = 0u; g < G; g++) {
    rows[g] = min(t.i0 + g * 8u + lane, c - 1u);
    mRows[g] = mBase + rows[g] * rs;
  }
  // steps of 4 j; the loads are masked, so the last step may be short
  for (var j = 0u; j < c; j += 4u) {
    mixStep(&t, mRows, js, j);
  }
  if (flag(DIAG)) {
    for (var g = 0u; g < G; g++) {
      let dv = dvec[prob * c + rows[g]];
      let i = g * 8u;
      mixDiag(&t, i, subgroupBroadcast(dv, 0u));
      mixDiag(&t, i + 1u, subgroupBroadcast(dv, 1u));
      mixDiag(&t, i + 2u, subgroupBroadcast(dv, 2u));
      mixDiag(&t, i + 3u, subgroupBroadcast(dv, 3u));
      mixDiag(&t, i + 4u, subgroupBroadcast(dv, 4u));
      mixDiag(&t, i + 5u, subgroupBroadcast(dv, 5u));
      mixDiag(&t, i + 6u, subgroupBroadcast(dv, 6u));
      mixDiag(&t, i + 7u, subgroupBroadcast(dv, 7u));
    }
  }
  return t;
}

@compute @workgroup_size(8)
fn mix(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  if (wid.z * nwg.y + wid.y >= p.problems) { return; }
  let t = mixTile(wid, nwg, lane);
  let c = p.c;
  let N = p.n;
  for (var i = 0u; i < G * 8u; i++) {
    if (t.i0 + i < c) {
      let o = t.base + (t.i0 + i) * N;
      for (var r = 0u; r < R; r++) {
        let col = t.col0 + r * 4u;
        for (var q = 0u; q < 4u; q++) {
          if (col + q < N) { out[o + col + q] = t.acc[i][r][q]; }
        }
      }
    }
  }
}

@compute @workgroup_size(8)
fn mix_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  if (wid.z * nwg.y + wid.y >= p.problems) { return; }
  let t = mixTile(wid, nwg, lane);
  let c = p.c;
  let N = p.n;
  for (var i = 0u; i < G * 8u; i++) {
    if (t.i0 + i < c) {
      let o = (t.base + (t.i0 + i) * N) / 4u;
      for (var r = 0u; r < R; r++) {
        let col = t.col0 + r * 4u;
        if (col < N) { out4[o + col / 4u] = t.acc[i][r]; }
      }
    }
  }
}
