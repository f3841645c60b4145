// DDPM reverse steps on the EPR (LRDif Eq. 16, DiffIR's posterior mean).
//
// `step`           one reverse step, elementwise: out = a·z_t + b·pred (+ σ·noise), with the step's
//                  coefficients (eps or x0 parameterisation, from ddpm.ts) as uniforms.
// `step_backward`  dz_t = a·g, dpred = b·g.
// `chain_wg`       the whole inference chain in one dispatch (the portable kernel, for GPUs): one
//                  workgroup per MAXR batch rows, their layer inputs and activations in workgroup
//                  memory, the lanes over a layer's outputs (each weight read once per MAXR rows),
//                  barriers between layers. (CPU adapters with subgroups run ddpm_sg.wgsl instead.)
// The chain: Z_T from `zt`, or drawn in-kernel from Philox with exactly randomNormal's stream
// (element i = row·C + j of the [B, C] draw: block offset + ⌊i/4⌋, word i mod 4, Box–Muller
// on word pairs); then for t = T…1: ε̂ = MLP(Concat(Z_t, t/(10·T), c)), Z_{t−1} = a_t·Z_t + b_t·ε̂;
// finally Ẑ_0 to `out`.
// The MLP: Linear(2C+1 → W) → LeakyReLU → NH × [Linear(W → W) → LeakyReLU] → Linear(W → C);
// all its weights and biases packed in `prm` (PyTorch [out, in] layouts) at the offsets below.
// The first layer is split: b₁ + W₁[:, C+1:]·c is the same at every step (computed once),
// W₁[:, C]·t/(10T) + W₁[:, :C]·Z_t per step.

const MAXC: u32 = 384u;       // largest prior size C
const MAXW: u32 = 256u;       // largest denoiser width W
const MAXR: u32 = 4u;         // chain_wg: batch rows per workgroup
const WGS: u32 = 64u;         // chain_wg: invocations per workgroup
const STEP_WG: u32 = 256u;

override HAS_NOISE: bool = false;   // step: add σ·noise

struct Params {
  // step
  n: u32,
  a: f32,
  b: f32,
  sigma: f32,
  // chains
  rows: u32,           // batch size B
  c: u32,              // prior size C
  w: u32,              // denoiser width W
  nh: u32,             // hidden W → W layers
  steps: u32,          // T
  slope: f32,          // LeakyReLU slope
  draw: u32,           // 1: draw Z_T with Philox, 0: read it from zt
  key0: u32,
  key1: u32,
  ctr0: u32,
  ctr1: u32,
  o_w1: u32,           // offsets (in floats) into prm
  o_b1: u32,
  o_wh: u32,           // hidden weights [nh, W, W], then
  o_bh: u32,           // hidden biases [nh, W]
  o_w2: u32,
  o_b2: u32,
  // per step t (index t − 1): (a_t, b_t, t/(10·T), unused)
  coef: array<vec4f, 32>,
}

@group(0) @binding(0) var<uniform> p: Params;
// step
@group(0) @binding(1) var<storage, read> zt: array<f32>;
@group(0) @binding(2) var<storage, read> pred: array<f32>;
@group(0) @binding(3) var<storage, read> noise: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
// step_backward
@group(0) @binding(5) var<storage, read> g: array<f32>;
@group(0) @binding(6) var<storage, read_write> dz: array<f32>;
@group(0) @binding(7) var<storage, read_write> dpred: array<f32>;
// chains (zt and out above)
@group(0) @binding(8) var<storage, read> cond: array<f32>;
@group(0) @binding(9) var<storage, read> prm: array<f32>;

fn step_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * STEP_WG + lid;
}

@compute @workgroup_size(256)
fn step(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = step_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  var v = p.a * zt[i] + p.b * pred[i];
  if (HAS_NOISE) { v = v + p.sigma * noise[i]; }
  out[i] = v;
}

@compute @workgroup_size(256)
fn step_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = step_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let gi = g[i];
  dz[i] = p.a * gi;
  dpred[i] = p.b * gi;
}

// #include "philox_stream.wgsl"

fn leaky(v: f32) -> f32 {
  return select(p.slope * v, v, v > 0.0);
}

// ---------------------------------------------------------------- chain, one workgroup per MAXR rows

var<workgroup> zw: array<f32, MAXR * MAXC>;          // layer-1 input: c, then Z_t; [r][k], row stride C
var<workgroup> hs: array<f32, 2u * MAXR * MAXW>;     // activations, two buffers; [r][k], row stride W
// the lane's outputs j = lid + WGS·m, for each of the MAXR rows
var<private> zp: array<f32, MAXR * ((MAXC + WGS - 1u) / WGS)>;   // Z_t, [m][r]
var<private> pp: array<f32, MAXR * ((MAXW + WGS - 1u) / WGS)>;   // b₁ + W₁[:, C+1:]·c, [m][r]

// Σ_k w[wRow + k] · src[r·stride + k] for the MAXR rows (src: 0 zw, 1 hs from srcBase).
fn dot_rows(wRow: u32, K: u32, src: u32, srcBase: u32, stride: u32) -> array<f32, MAXR> {
  var acc: array<f32, MAXR>;
  for (var k = 0u; k < K; k++) {
    let wv = prm[wRow + k];
    for (var r = 0u; r < MAXR; r++) {
      var xv: f32;
      if (src == 0u) { xv = zw[r * stride + k]; } else { xv = hs[srcBase + r * stride + k]; }
      acc[r] = fma(wv, xv, acc[r]);
    }
  }
  return acc;
}

@compute @workgroup_size(64)
fn chain_wg(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row0 = (wid.y * nwg.x + wid.x) * MAXR;
  let C = p.c;
  let W = p.w;
  let K1 = 2u * C + 1u;
  var rowOf: array<u32, MAXR>;
  for (var r = 0u; r < MAXR; r++) { rowOf[r] = min(row0 + r, p.rows - 1u); }

  // c into zw, then the condition's part of the first layer, once
  for (var i = lid; i < MAXR * C; i += WGS) { zw[i] = cond[rowOf[i / C] * C + i % C]; }
  workgroupBarrier();
  for (var m = 0u; lid + m * WGS < W; m++) {
    let j = lid + m * WGS;
    let acc = dot_rows(p.o_w1 + j * K1 + C + 1u, C, 0u, 0u, C);
    for (var r = 0u; r < MAXR; r++) { pp[m * MAXR + r] = acc[r] + prm[p.o_b1 + j]; }
  }
  workgroupBarrier();
  // Z_T
  for (var m = 0u; lid + m * WGS < C; m++) {
    let j = lid + m * WGS;
    for (var r = 0u; r < MAXR; r++) {
      let i = rowOf[r] * C + j;
      var v: f32;
      if (p.draw != 0u) { v = normal_at(i); } else { v = zt[i]; }
      zp[m * MAXR + r] = v;
      zw[r * C + j] = v;
    }
  }
  workgroupBarrier();

  for (var t = p.steps; t >= 1u; t--) {
    let cf = p.coef[t - 1u];
    // first layer → hs[0]
    for (var m = 0u; lid + m * WGS < W; m++) {
      let j = lid + m * WGS;
      let acc = dot_rows(p.o_w1 + j * K1, C, 0u, 0u, C);
      let tj = prm[p.o_w1 + j * K1 + C] * cf.z;
      for (var r = 0u; r < MAXR; r++) { hs[r * W + j] = leaky(acc[r] + pp[m * MAXR + r] + tj); }
    }
    workgroupBarrier();
    var src = 0u;
    for (var l = 0u; l < p.nh; l++) {
      let dst = MAXR * MAXW - src;
      for (var m = 0u; lid + m * WGS < W; m++) {
        let j = lid + m * WGS;
        let acc = dot_rows(p.o_wh + (l * W + j) * W, W, 1u, src, W);
        let bj = prm[p.o_bh + l * W + j];
        for (var r = 0u; r < MAXR; r++) { hs[dst + r * W + j] = leaky(acc[r] + bj); }
      }
      workgroupBarrier();
      src = dst;
    }
    // output layer and the update; zw is not read again in this step
    for (var m = 0u; lid + m * WGS < C; m++) {
      let j = lid + m * WGS;
      let acc = dot_rows(p.o_w2 + j * W, W, 1u, src, W);
      let bj = prm[p.o_b2 + j];
      for (var r = 0u; r < MAXR; r++) {
        let z = cf.x * zp[m * MAXR + r] + cf.y * (acc[r] + bj);
        zp[m * MAXR + r] = z;
        zw[r * C + j] = z;
      }
    }
    workgroupBarrier();
  }
  for (var m = 0u; lid + m * WGS < C; m++) {
    let j = lid + m * WGS;
    for (var r = 0u; r < MAXR; r++) {
      if (row0 + r < p.rows) { out[(row0 + r) * C + j] = zp[m * MAXR + r]; }
    }
  }
}
