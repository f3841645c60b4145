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
// #include "channel_attention_common.wgsl"

const MAXG: u32 = 6u;
const MAXI: u32 = 48u;        // 8 · MAXG
const MAXR: u32 = 6u;

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

// rows g·8 … g·8 + 7 of the tile (as in `mixGroup`: constant accumulator indices only)
fn gramGroup(s: ptr<function, GramAcc>, g: u32, v: vec4f, bv: array<vec4f, MAXR>) {
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

fn gramStep(s: ptr<function, GramAcc>, av: array<vec4f, MAXG>, bv: array<vec4f, MAXR>, norms: bool) {
  if (norms) {
    for (var g = 0u; g < G; g++) { (*s).na[g] += dot(av[g], av[g]); }
    for (var r = 0u; r < R; r++) { (*s).nb[r] += dot(bv[r], bv[r]); }
  }
  gramGroup(s, 0u, av[0], bv);
  if (G > 1u) { gramGroup(s, 1u, av[1], bv); }
  if (G > 2u) { gramGroup(s, 2u, av[2], bv); }
  if (G > 3u) { gramGroup(s, 3u, av[3], bv); }
  if (G > 4u) { gramGroup(s, 4u, av[4], bv); }
  if (G > 5u) { gramGroup(s, 5u, av[5], bv); }
}

// part[row i0 + i, columns j0 + r·8 + lane]
fn gramStoreRow(s: ptr<function, GramAcc>, i: u32, outRow: u32, rowValid: bool, j0: u32) {
  if (!rowValid) { return; }
  for (var r = 0u; r < R; r++) {
    let j = j0 + r * 8u;
    if (j < p.c) { part[outRow + j] = (*s).acc[i][r]; }
  }
}

fn gramStoreGroup(s: ptr<function, GramAcc>, g: u32, outBase: u32, i0: u32, j0: u32) {
  let c = p.c;
  let i = g * 8u;
  gramStoreRow(s, i, outBase + (i0 + i) * c, i0 + i < c, j0);
  gramStoreRow(s, i + 1u, outBase + (i0 + i + 1u) * c, i0 + i + 1u < c, j0);
  gramStoreRow(s, i + 2u, outBase + (i0 + i + 2u) * c, i0 + i + 2u < c, j0);
  gramStoreRow(s, i + 3u, outBase + (i0 + i + 3u) * c, i0 + i + 3u < c, j0);
  gramStoreRow(s, i + 4u, outBase + (i0 + i + 4u) * c, i0 + i + 4u < c, j0);
  gramStoreRow(s, i + 5u, outBase + (i0 + i + 5u) * c, i0 + i + 5u < c, j0);
  gramStoreRow(s, i + 6u, outBase + (i0 + i + 6u) * c, i0 + i + 6u < c, j0);
  gramStoreRow(s, i + 7u, outBase + (i0 + i + 7u) * c, i0 + i + 7u < c, j0);
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
  let baseA = blockOf(prob, p.sa, p.oa);
  let baseB = blockOf(prob, p.sb, p.ob);
  var rowA: array<u32, MAXG>;
  for (var g = 0u; g < G; g++) { rowA[g] = baseA + min(i0 + g * 8u + lane, c - 1u) * N; }
  var rowB: array<u32, MAXR>;
  for (var r = 0u; r < R; r++) { rowB[r] = baseB + min(j0 + r * 8u + lane, c - 1u) * N; }
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
  gramStoreGroup(&s, 0u, outBase, i0, j0 + lane);
  if (G > 1u) { gramStoreGroup(&s, 1u, outBase, i0, j0 + lane); }
  if (G > 2u) { gramStoreGroup(&s, 2u, outBase, i0, j0 + lane); }
  if (G > 3u) { gramStoreGroup(&s, 3u, outBase, i0, j0 + lane); }
  if (G > 4u) { gramStoreGroup(&s, 4u, outBase, i0, j0 + lane); }
  if (G > 5u) { gramStoreGroup(&s, 5u, outBase, i0, j0 + lane); }
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
  // the problem's first element in x and in the output
  base: u32,
  obase: u32,
  i0: u32,
  col0: u32,
}

// The accumulators are only ever indexed by constants: each 8-row group has its own call
// (`if (G > g)` folds away with the override), so no loop over rows needs unrolling and the
// shader compiler never falls back to indexing them in memory.

fn mixRow(t: ptr<function, MixTile>, i: u32, m: vec4f, xv: array<array<vec4f, MAXR>, 4>) {
  for (var r = 0u; r < R; r++) {
    (*t).acc[i][r] = fma(vec4f(m.w), xv[3][r], fma(vec4f(m.z), xv[2][r], fma(vec4f(m.y), xv[1][r], fma(vec4f(m.x), xv[0][r], (*t).acc[i][r]))));
  }
}

// rows g·8 … g·8 + 7 of the tile; lane l holds the coefficients of row g·8 + l
fn mixGroup(t: ptr<function, MixTile>, g: u32, v: vec4f, xv: array<array<vec4f, MAXR>, 4>) {
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
  mixGroup(t, 0u, mv[0], xv);
  if (G > 1u) { mixGroup(t, 1u, mv[1], xv); }
  if (G > 2u) { mixGroup(t, 2u, mv[2], xv); }
  if (G > 3u) { mixGroup(t, 3u, mv[3], xv); }
  if (G > 4u) { mixGroup(t, 4u, mv[4], xv); }
  if (G > 5u) { mixGroup(t, 5u, mv[5], xv); }
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
  t.base = blockOf(prob, p.sa, p.oa);
  t.obase = blockOf(prob, p.so, p.oo);
  let mBase = prob * c * c;
  // strides of M along the output row and along j
  let rs = select(c, 1u, flag(TRANS));
  let js = select(1u, c, flag(TRANS));
  var mRows: array<u32, MAXG>;
  for (var g = 0u; g < G; g++) { mRows[g] = mBase + min(t.i0 + g * 8u + lane, c - 1u) * rs; }
  // steps of 4 j; the loads are masked, so the last step may be short
  for (var j = 0u; j < c; j += 4u) {
    mixStep(&t, mRows, js, j);
  }
  return t;
}

fn storeRow(t: ptr<function, MixTile>, i: u32) {
  let N = p.n;
  if ((*t).i0 + i >= p.c) { return; }
  let o = (*t).obase + ((*t).i0 + i) * N;
  for (var r = 0u; r < R; r++) {
    let col = (*t).col0 + r * 4u;
    for (var q = 0u; q < 4u; q++) {
      if (col + q < N) { out[o + col + q] = (*t).acc[i][r][q]; }
    }
  }
}

fn storeRow4(t: ptr<function, MixTile>, i: u32) {
  let N = p.n;
  if ((*t).i0 + i >= p.c) { return; }
  let o = ((*t).obase + ((*t).i0 + i) * N) / 4u;
  for (var r = 0u; r < R; r++) {
    let col = (*t).col0 + r * 4u;
    if (col < N) { out4[o + col / 4u] = (*t).acc[i][r]; }
  }
}

fn storeGroup(t: ptr<function, MixTile>, g: u32) {
  let i = g * 8u;
  storeRow(t, i);
  storeRow(t, i + 1u);
  storeRow(t, i + 2u);
  storeRow(t, i + 3u);
  storeRow(t, i + 4u);
  storeRow(t, i + 5u);
  storeRow(t, i + 6u);
  storeRow(t, i + 7u);
}

fn storeGroup4(t: ptr<function, MixTile>, g: u32) {
  let i = g * 8u;
  storeRow4(t, i);
  storeRow4(t, i + 1u);
  storeRow4(t, i + 2u);
  storeRow4(t, i + 3u);
  storeRow4(t, i + 4u);
  storeRow4(t, i + 5u);
  storeRow4(t, i + 6u);
  storeRow4(t, i + 7u);
}

// `mix` stores scalars (any n); `mix_vec4` stores vec4s (n % 4 == 0, with VEC)
@compute @workgroup_size(8)
fn mix(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  if (wid.z * nwg.y + wid.y >= p.problems) { return; }
  var t = mixTile(wid, nwg, lane);
  storeGroup(&t, 0u);
  if (G > 1u) { storeGroup(&t, 1u); }
  if (G > 2u) { storeGroup(&t, 2u); }
  if (G > 3u) { storeGroup(&t, 3u); }
  if (G > 4u) { storeGroup(&t, 4u); }
  if (G > 5u) { storeGroup(&t, 5u); }
}

@compute @workgroup_size(8)
fn mix_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  if (wid.z * nwg.y + wid.y >= p.problems) { return; }
  var t = mixTile(wid, nwg, lane);
  storeGroup4(&t, 0u);
  if (G > 1u) { storeGroup4(&t, 1u); }
  if (G > 2u) { storeGroup4(&t, 2u); }
  if (G > 3u) { storeGroup4(&t, 3u); }
  if (G > 4u) { storeGroup4(&t, 4u); }
  if (G > 5u) { storeGroup4(&t, 5u); }
}
