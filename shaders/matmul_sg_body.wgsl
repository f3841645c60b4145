// Batched matrix product out[z] = act(op(a[z]) · op(b[z]) + bias) (+ res[z]) for adapters with subgroups
// of at least 8 invocations (the fast path on lavapipe, whose subgroups are its 8 SIMD lanes).
// The body of matmul_sg.wgsl (ROWS = 32), matmul_sg16.wgsl (16, for M ≤ 16) and matmul_sg8.wgsl
// (8, for M ≤ 8), so small-M products do not compute clamped copies of rows: the includer
// declares `const ROWS` (a multiple of 8; private arrays need a constant size, not an override).
//
// One workgroup = one subgroup of 8 lanes computes a ROWS × 32 tile: lane l owns output
// columns 4l..4l+3 for all ROWS rows (ROWS vec4 accumulators). Per step of 4 k:
// - lane l loads the A values (4 k) of rows l, l+8, l+16, ...; subgroupBroadcast hands each
//   row to every lane, so each A value is loaded once per workgroup;
// - each lane loads its own 4 columns of B for the 4 k (vec4 loads where the layout allows).
// On a CPU every per-lane load is a scalar loop over the lanes with a bounds check, so the
// tile is shaped to do as many multiply-adds per load as possible (the accumulators spill to
// the stack, which is far cheaper than the loads).
//
// Rows and columns past the edge are clamped (they read valid memory; their results are not
// stored). K is walked in steps of 4: each operand with vec4 loads and no bounds checks where
// it is aligned, else (and for the last 1–3 values of k) with masked scalar loads.
// The layout is chosen by uniforms, not overrides: two pipelines in all (main, main_vec4),
// because each takes seconds to compile on a CPU adapter.
enable subgroups;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batchRank: u32,
  batchBase: u32,
  slope: f32,
  // The epilogue's choices are run-time values rather than overrides, so one pipeline serves
  // every activation (each pipeline takes seconds to compile on a CPU adapter): its id in
  // activation.wgsl (0: none)
  act: u32,
  hasBias: u32,
  // also store the pre-activation (kept for the backward pass)
  savePre: u32,
  // add `res` (same layout as out) after the activation: a residual connection, y = x + f(x)
  hasRes: u32,
  // = ROWS, passed at run time so the compiler cannot unroll the epilogue loop
  tileRows: u32,
  // Operand layouts, also run-time values (uniform branches cost nothing measurable here,
  // and one pipeline instead of ~14 saves a minute of compiling on a CPU adapter):
  // transposed a / b; vecA: a untransposed with K % 4 == 0; vecB: b with N % 4 == 0
  // (untransposed) or K % 4 == 0 (transposed): each loads vec4s where it is aligned, scalars otherwise.
  transA: u32,
  transB: u32,
  vecA: u32,
  vecB: u32,
  batchShape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
}

// a/a4 and b/b4 are the same buffers seen as scalars and as vec4s.
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> a4: array<vec4f>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> b4: array<vec4f>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;
// `main` stores scalars (any N); `main_vec4` stores vec4s (N % 4 == 0).
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read_write> pre: array<f32>;
@group(0) @binding(8) var<storage, read_write> out4: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> pre4: array<vec4f>;
// the residual added to the output (hasRes; otherwise bound to a and never read)
@group(0) @binding(10) var<storage, read> res: array<f32>;
@group(0) @binding(11) var<storage, read> res4: array<vec4f>;

const GROUPS: u32 = ROWS / 8u;
const COLS: u32 = 32u;

// ---------------------------------------------------------------- epilogue

// #include "activation.wgsl"

fn act4(v: vec4f) -> vec4f {
  return vec4f(act(p.act, v.x, p.slope), act(p.act, v.y, p.slope), act(p.act, v.z, p.slope), act(p.act, v.w, p.slope));
}

// ---------------------------------------------------------------- indexing

// #include "matmul_batch.wgsl"

// A(row, k..k+3) with scalar loads; values with k + q >= K are zero (the masked last step).
fn loadAScalar(offA: u32, row: u32, k: u32) -> vec4f {
  var v: vec4f;
  for (var q = 0u; q < 4u; q++) {
    let kk = min(k + q, p.K - 1u);
    // one load site for both layouts (every site costs compile time)
    let x = a[offA + select(row * p.K + kk, kk * p.M + row, p.transA != 0u)];
    v[q] = select(0.0, x, k + q < p.K);
  }
  return v;
}

// B(k + q, cols) for q = 0..3 as four vec4s over the lane's 4 columns, scalar loads, masked like A.
fn loadBScalar(offB: u32, cols: array<u32, 4>, k: u32) -> array<vec4f, 4> {
  var r: array<vec4f, 4>;
  for (var q = 0u; q < 4u; q++) {
    let kk = min(k + q, p.K - 1u);
    for (var j = 0u; j < 4u; j++) {
      let x = b[offB + select(kk * p.N + cols[j], cols[j] * p.K + kk, p.transB != 0u)];
      r[q][j] = select(0.0, x, k + q < p.K);
    }
  }
  return r;
}

// Multiplies the broadcast A rows into the accumulators for one step of 4 k.
fn accumulate(acc: ptr<function, array<vec4f, ROWS>>, av: array<vec4f, GROUPS>, bq: array<vec4f, 4>) {
  for (var g = 0u; g < GROUPS; g++) {
    let v = av[g];
    let i = g * 8u;
    var t = subgroupBroadcast(v, 0u);
    (*acc)[i] = fma(vec4f(t.w), bq[3], fma(vec4f(t.z), bq[2], fma(vec4f(t.y), bq[1], fma(vec4f(t.x), bq[0], (*acc)[i]))));
    t = subgroupBroadcast(v, 1u);
    (*acc)[i + 1u] = fma(vec4f(t.w), bq[3], fma(vec4f(t.z), bq[2], fma(vec4f(t.y), bq[1], fma(vec4f(t.x), bq[0], (*acc)[i + 1u]))));
    t = subgroupBroadcast(v, 2u);
    (*acc)[i + 2u] = fma(vec4f(t.w), bq[3], fma(vec4f(t.z), bq[2], fma(vec4f(t.y), bq[1], fma(vec4f(t.x), bq[0], (*acc)[i + 2u]))));
    t = subgroupBroadcast(v, 3u);
    (*acc)[i + 3u] = fma(vec4f(t.w), bq[3], fma(vec4f(t.z), bq[2], fma(vec4f(t.y), bq[1], fma(vec4f(t.x), bq[0], (*acc)[i + 3u]))));
    t = subgroupBroadcast(v, 4u);
    (*acc)[i + 4u] = fma(vec4f(t.w), bq[3], fma(vec4f(t.z), bq[2], fma(vec4f(t.y), bq[1], fma(vec4f(t.x), bq[0], (*acc)[i + 4u]))));
    t = subgroupBroadcast(v, 5u);
    (*acc)[i + 5u] = fma(vec4f(t.w), bq[3], fma(vec4f(t.z), bq[2], fma(vec4f(t.y), bq[1], fma(vec4f(t.x), bq[0], (*acc)[i + 5u]))));
    t = subgroupBroadcast(v, 6u);
    (*acc)[i + 6u] = fma(vec4f(t.w), bq[3], fma(vec4f(t.z), bq[2], fma(vec4f(t.y), bq[1], fma(vec4f(t.x), bq[0], (*acc)[i + 6u]))));
    t = subgroupBroadcast(v, 7u);
    (*acc)[i + 7u] = fma(vec4f(t.w), bq[3], fma(vec4f(t.z), bq[2], fma(vec4f(t.y), bq[1], fma(vec4f(t.x), bq[0], (*acc)[i + 7u]))));
  }
}

struct Tile {
  acc: array<vec4f, ROWS>,
  row0: u32,
  // the lane's first column / 4 (may be past the edge)
  col4: u32,
  // element offset of this batch's output
  offO: u32,
}

fn tile(wid: vec3u, lane: u32) -> Tile {
  let z = wid.z + p.batchBase;
  let offs = batchOffsets(z);
  let M = p.M;
  let N = p.N;
  let K = p.K;
  let row0 = wid.y * ROWS;
  let col4 = wid.x * (COLS / 4u) + lane;
  var cols: array<u32, 4>;
  for (var j = 0u; j < 4u; j++) { cols[j] = min(col4 * 4u + j, N - 1u); }
  var rows: array<u32, GROUPS>;
  for (var g = 0u; g < GROUPS; g++) { rows[g] = min(row0 + g * 8u + lane, M - 1u); }

  var acc: array<vec4f, ROWS>;
  for (var k = 0u; k < K; k += 4u) {
    var av: array<vec4f, GROUPS>;
    var bq: array<vec4f, 4>;
    // each operand aligned on its own: vec4 loads; otherwise (and for the last 1–3 values of k)
    // masked scalar loads
    let whole = k + 4u <= K;
    if (p.vecA != 0u && whole) {
      for (var g = 0u; g < GROUPS; g++) { av[g] = a4[(offs.x + rows[g] * K + k) / 4u]; }
    } else {
      for (var g = 0u; g < GROUPS; g++) { av[g] = loadAScalar(offs.x, rows[g], k); }
    }
    if (p.vecB != 0u && whole) {
      if (p.transB == 0u) {
        let c4 = min(col4, N / 4u - 1u);
        for (var q = 0u; q < 4u; q++) { bq[q] = b4[(offs.y + (k + q) * N) / 4u + c4]; }
      } else {
        // four columns of Bᵀ, 4 k each, transposed into rows of 4 columns (free on a SIMD
        // CPU, where each vector component is its own register)
        let t0 = b4[(offs.y + cols[0] * K + k) / 4u];
        let t1 = b4[(offs.y + cols[1] * K + k) / 4u];
        let t2 = b4[(offs.y + cols[2] * K + k) / 4u];
        let t3 = b4[(offs.y + cols[3] * K + k) / 4u];
        bq = array<vec4f, 4>(vec4f(t0.x, t1.x, t2.x, t3.x), vec4f(t0.y, t1.y, t2.y, t3.y), vec4f(t0.z, t1.z, t2.z, t3.z), vec4f(t0.w, t1.w, t2.w, t3.w));
      }
    } else {
      bq = loadBScalar(offs.y, cols, k);
    }
    accumulate(&acc, av, bq);
  }
  return Tile(acc, row0, col4, z * M * N);
}

fn biasAt(col: u32) -> f32 {
  return bias[min(col, p.N - 1u)];
}

// Epilogue: the accumulators go to workgroup memory (unrolled over the tile's rows, cheap
// stores with no bounds checks), then one loop that is not unrolled (its bound comes from a
// uniform) adds the bias, applies the activation, adds the residual and writes the outputs. Unrolled global
// stores, each a bounds-checked loop over the lanes on a CPU adapter, made pipelines take
// many seconds to compile. Each lane rereads only what it wrote, so no barrier is needed.
var<workgroup> staged: array<vec4f, ROWS * 8u>;

fn biasVec(c0: u32) -> vec4f {
  if (p.hasBias == 0u) { return vec4f(0.0); }
  return vec4f(biasAt(c0), biasAt(c0 + 1u), biasAt(c0 + 2u), biasAt(c0 + 3u));
}

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let t = tile(wid, lane);
  for (var i = 0u; i < ROWS; i++) { staged[i * 8u + lane] = t.acc[i]; }
  let c0 = t.col4 * 4u;
  let bv = biasVec(c0);
  let rows = min(p.tileRows, p.M - t.row0);
  let cols = min(4u, max(p.N, c0) - c0);
  for (var i = 0u; i < rows; i++) {
    let v = staged[i * 8u + lane] + bv;
    let y = act4(v);
    for (var j = 0u; j < cols; j++) {
      let o = t.offO + (t.row0 + i) * p.N + c0 + j;
      var yo = y[j];
      if (p.hasRes != 0u) { yo += res[o]; }
      out[o] = yo;
      if (p.savePre != 0u) { pre[o] = v[j]; }
    }
  }
}

@compute @workgroup_size(8)
fn main_vec4(@builtin(workgroup_id) wid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let t = tile(wid, lane);
  for (var i = 0u; i < ROWS; i++) { staged[i * 8u + lane] = t.acc[i]; }
  let N4 = p.N / 4u;
  if (t.col4 >= N4) { return; }
  let bv = biasVec(t.col4 * 4u);
  let rows = min(p.tileRows, p.M - t.row0);
  let base = t.offO / 4u + t.col4;
  for (var i = 0u; i < rows; i++) {
    let v = staged[i * 8u + lane] + bv;
    let o = base + (t.row0 + i) * N4;
    var y = act4(v);
    if (p.hasRes != 0u) { y += res4[o]; }
    out4[o] = y;
    if (p.savePre != 0u) { pre4[o] = v; }
  }
}
