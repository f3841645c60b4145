// Batched matrix product out[z] = act(op(a[z]) · op(b[z]) + bias), op = transpose or not.
// Generic kernel: any M, N, K, any transposes. Each invocation computes a 4×4 block of the
// output; row/column indices past the edge are clamped (they read valid memory and their
// results are never stored), so the K loop has no bounds checks or branches.
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
// The fused activation's id in activation.wgsl (0: none).
override ACT: u32 = 0u;
// Also store the pre-activation (kept for the backward pass).
override SAVE_PRE: bool = false;

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batchRank: u32,
  // first batch index of this dispatch (batches beyond 65535 are split over dispatches)
  batchBase: u32,
  slope: f32,
  // output batch shape and each input's batch strides (0 on broadcast axes), right-aligned
  batchShape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> pre: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

// #include "activation.wgsl"

// #include "matmul_batch.wgsl"

// Adds the bias, applies the activation and stores one output (and its pre-activation).
fn store(base: u32, row: u32, col: u32, v: f32) {
  if (row >= p.M || col >= p.N) { return; }
  var z = v;
  if (HAS_BIAS) { z += bias[col]; }
  let i = base + row * p.N + col;
  out[i] = act(ACT, z, p.slope);
  if (SAVE_PRE) { pre[i] = z; }
}

const TILE: u32 = 32u;

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let z = wid.z + p.batchBase;
  let offs = batchOffsets(z);
  let M = p.M;
  let N = p.N;
  let K = p.K;
  // rows row0 + 8·i, columns col0 + 8·j: neighbouring invocations read neighbouring columns
  let row0 = wid.y * TILE + lid.y;
  let col0 = wid.x * TILE + lid.x;
  var ra: array<u32, 4>;
  var cb: array<u32, 4>;
  for (var i = 0u; i < 4u; i++) {
    let r = min(row0 + 8u * i, M - 1u);
    let c = min(col0 + 8u * i, N - 1u);
    // where element (r, k) of op(a) lives: offset + k·strideK
    ra[i] = offs.x + select(r * K, r, TRANS_A);
    cb[i] = offs.y + select(c, c * K, TRANS_B);
  }
  let ka = select(1u, M, TRANS_A);
  let kb = select(N, 1u, TRANS_B);
  var acc: array<vec4f, 4>;
  for (var k = 0u; k < K; k++) {
    let av = vec4f(a[ra[0] + k * ka], a[ra[1] + k * ka], a[ra[2] + k * ka], a[ra[3] + k * ka]);
    let bv = vec4f(b[cb[0] + k * kb], b[cb[1] + k * kb], b[cb[2] + k * kb], b[cb[3] + k * kb]);
    acc[0] += av.x * bv;
    acc[1] += av.y * bv;
    acc[2] += av.z * bv;
    acc[3] += av.w * bv;
  }
  let base = z * M * N;
  for (var i = 0u; i < 4u; i++) {
    for (var j = 0u; j < 4u; j++) {
      store(base, row0 + 8u * i, col0 + 8u * j, acc[i][j]);
    }
  }
}

// Backward of the fused activation: dz = dy · act'(pre), elementwise over p.M values.
@group(0) @binding(6) var<storage, read> dy: array<f32>;
@group(0) @binding(7) var<storage, read> zin: array<f32>;
@group(0) @binding(8) var<storage, read_write> dz: array<f32>;

// act_backward4: vec4 views of dy, zin and dz, p.M / 4 quads (p.M % 4 == 0): on CPU drivers
// every buffer access is a per-invocation loop, so one vec4 access replaces four.
@group(0) @binding(9) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(10) var<storage, read> zin4: array<vec4f>;
@group(0) @binding(11) var<storage, read_write> dz4: array<vec4f>;

@compute @workgroup_size(256)
fn act_backward4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < p.M / 4u) {
    let z = zin4[i];
    var d: vec4f;
    for (var e = 0u; e < 4u; e++) { d[e] = dact(ACT, z[e], act(ACT, z[e], p.slope), p.slope); }
    dz4[i] = dy4[i] * d;
  }
}

@compute @workgroup_size(256)
fn act_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i < p.M) {
    let z = zin[i];
    dz[i] = dy[i] * dact(ACT, z, act(ACT, z, p.slope), p.slope);
  }
}
