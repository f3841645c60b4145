// Layer normalisation over the middle axis of an input viewed as [outer, D, inner]:
// over the last axis (inner == 1, `*_rows` entries) or over the channels of NCHW
// (outer = N, D = C, inner = H·W, `*_cols` entries). A "row" is one normalised vector,
// numbered q = o·inner + i; mean and rstd = 1/sqrt(var + eps) are saved per row.
//
// `forward_rows` / `backward_rows`: TPR threads share one row (WG / TPR rows per workgroup)
// and reduce in workgroup memory. `forward_cols` / `backward_cols`: one thread per row,
// reading down D with stride `inner` (consecutive threads read consecutive pixels).
// `*_cols4`: the same with four consecutive pixels per thread, through vec4 views of the
// buffers, when inner (and the chunk of `params_cols4`) is a multiple of 4: on CPU drivers
// every buffer access is a per-invocation loop, so one vec4 access in place of four scalar
// ones nearly halves the kernels' time (lavapipe, [16, 8, 56, 56]: 1.38 → 0.76 ms).
// `*_rows4`: one thread per row (TPR = 1, as on CPU adapters) reading the row as vec4s, when
// D is a multiple of 4; no workgroup reduction, so no barriers.
// Variance is the biased one, computed around the mean (two passes over the row).
//
// Backward, with x̂ = (x − mean)·rstd and gw = dy·weight:
//   dx = rstd · (gw − mean(gw) − x̂ · mean(gw·x̂))
// and, per feature d, partial sums of dy·x̂ (dweight) and dy (dbias) over chunks of rows
// (`params_rows`, `params_cols`); the caller sums the partials over chunks, so the result
// does not depend on scheduling (no float atomics).
override HAS_WEIGHT: bool = false;
override HAS_BIAS: bool = false;
// Threads per row in the `*_rows` entries: a power of two ≤ WG.
override TPR: u32 = 256u;

struct Params {
  outer: u32,
  d: u32,
  inner: u32,
  eps: f32,
  // rows per chunk and number of chunks of the dweight/dbias partial sums
  chunk: u32,
  chunks: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;
// backward
@group(0) @binding(7) var<storage, read> dy: array<f32>;
@group(0) @binding(8) var<storage, read> smean: array<f32>;
@group(0) @binding(9) var<storage, read> srstd: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<f32>;
@group(0) @binding(11) var<storage, read_write> pweight: array<f32>;
@group(0) @binding(12) var<storage, read_write> pbias: array<f32>;
// `*_cols4`: vec4 views of x, y, mean, rstd, dy, smean, srstd and dx (four pixels each)
@group(0) @binding(13) var<storage, read> x4: array<vec4f>;
@group(0) @binding(14) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(15) var<storage, read_write> mean4: array<vec4f>;
@group(0) @binding(16) var<storage, read_write> rstd4: array<vec4f>;
@group(0) @binding(17) var<storage, read> dy4: array<vec4f>;
@group(0) @binding(18) var<storage, read> smean4: array<vec4f>;
@group(0) @binding(19) var<storage, read> srstd4: array<vec4f>;
@group(0) @binding(20) var<storage, read_write> dx4: array<vec4f>;
// `*_rows4`: vec4 views of weight, bias and the [chunks, D] partial sums (four features each)
@group(0) @binding(21) var<storage, read> weight4: array<vec4f>;
@group(0) @binding(22) var<storage, read> bias4: array<vec4f>;
@group(0) @binding(23) var<storage, read_write> pweight4: array<vec4f>;
@group(0) @binding(24) var<storage, read_write> pbias4: array<vec4f>;

const WG: u32 = 256u;

var<workgroup> sv: array<vec2f, WG>;

fn group_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// Tree sum in workgroup memory over groups of `width` consecutive threads (t = this thread's
// place in its group); on return sv[lid - t] holds the group's sum. Called by the whole workgroup.
fn tree_sum(v: vec2f, lid: u32, t: u32, width: u32) {
  sv[lid] = v;
  workgroupBarrier();
  for (var k = width / 2u; k > 0u; k = k / 2u) {
    if (t < k) {
      sv[lid] = sv[lid] + sv[lid + k];
    }
    workgroupBarrier();
  }
}

// Sums v over the TPR threads of this thread's row (t = lid % TPR); every thread gets the sum.
fn row_sum(v: vec2f, lid: u32, t: u32) -> vec2f {
  workgroupBarrier(); // earlier readers of sv are done
  tree_sum(v, lid, t, TPR);
  return sv[lid - t];
}

fn w_at(d: u32) -> f32 {
  if (HAS_WEIGHT) {
    return weight[d];
  }
  return 1.0;
}

fn b_at(d: u32) -> f32 {
  if (HAS_BIAS) {
    return bias[d];
  }
  return 0.0;
}

@compute @workgroup_size(256)
fn forward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = lid % TPR;
  let row = group_index(wid, nwg) * (WG / TPR) + lid / TPR;
  let valid = row < p.outer;
  let base = row * p.d;
  let inv_d = 1.0 / f32(p.d);
  var acc = 0.0;
  if (valid) {
    for (var j = t; j < p.d; j += TPR) {
      acc += x[base + j];
    }
  }
  let mu = row_sum(vec2f(acc, 0.0), lid, t).x * inv_d;
  var acc2 = 0.0;
  if (valid) {
    for (var j = t; j < p.d; j += TPR) {
      let c = x[base + j] - mu;
      acc2 += c * c;
    }
  }
  let r = inverseSqrt(row_sum(vec2f(acc2, 0.0), lid, t).x * inv_d + p.eps);
  if (valid) {
    for (var j = t; j < p.d; j += TPR) {
      y[base + j] = (x[base + j] - mu) * r * w_at(j) + b_at(j);
    }
    if (t == 0u) {
      mean[row] = mu;
      rstd[row] = r;
    }
  }
}

@compute @workgroup_size(256)
fn forward_cols(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = group_index(wid, nwg) * WG + lid;
  if (q >= p.outer * p.inner) { return; }
  let base = (q / p.inner) * p.d * p.inner + q % p.inner;
  let inv_d = 1.0 / f32(p.d);
  var acc = 0.0;
  for (var j = 0u; j < p.d; j++) {
    acc += x[base + j * p.inner];
  }
  let mu = acc * inv_d;
  var acc2 = 0.0;
  for (var j = 0u; j < p.d; j++) {
    let c = x[base + j * p.inner] - mu;
    acc2 += c * c;
  }
  let r = inverseSqrt(acc2 * inv_d + p.eps);
  for (var j = 0u; j < p.d; j++) {
    let i = base + j * p.inner;
    y[i] = (x[i] - mu) * r * w_at(j) + b_at(j);
  }
  mean[q] = mu;
  rstd[q] = r;
}

@compute @workgroup_size(256)
fn backward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = lid % TPR;
  let row = group_index(wid, nwg) * (WG / TPR) + lid / TPR;
  let valid = row < p.outer;
  let base = row * p.d;
  var mu = 0.0;
  var r = 0.0;
  var acc = vec2f(0.0);
  if (valid) {
    mu = smean[row];
    r = srstd[row];
    for (var j = t; j < p.d; j += TPR) {
      let gw = dy[base + j] * w_at(j);
      acc += vec2f(gw, gw * (x[base + j] - mu) * r);
    }
  }
  let m = row_sum(acc, lid, t) * (1.0 / f32(p.d));
  if (valid) {
    for (var j = t; j < p.d; j += TPR) {
      let gw = dy[base + j] * w_at(j);
      dx[base + j] = r * (gw - m.x - (x[base + j] - mu) * r * m.y);
    }
  }
}

@compute @workgroup_size(256)
fn backward_cols(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let q = group_index(wid, nwg) * WG + lid;
  if (q >= p.outer * p.inner) { return; }
  let base = (q / p.inner) * p.d * p.inner + q % p.inner;
  let mu = smean[q];
  let r = srstd[q];
  var acc = vec2f(0.0);
  for (var j = 0u; j < p.d; j++) {
    let i = base + j * p.inner;
    let gw = dy[i] * w_at(j);
    acc += vec2f(gw, gw * (x[i] - mu) * r);
  }
  let m = acc * (1.0 / f32(p.d));
  for (var j = 0u; j < p.d; j++) {
    let i = base + j * p.inner;
    let gw = dy[i] * w_at(j);
    dx[i] = r * (gw - m.x - (x[i] - mu) * r * m.y);
  }
}

// inner == 1: one thread per (chunk, feature d), summing down `chunk` rows; consecutive
// threads take consecutive features, so each row is read contiguously. Output [chunks, D].
@compute @workgroup_size(256)
fn params_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = group_index(wid, nwg) * WG + lid;
  if (k >= p.chunks * p.d) { return; }
  let d = k % p.d;
  let r0 = (k / p.d) * p.chunk;
  let r1 = min(r0 + p.chunk, p.outer);
  var aw = 0.0;
  var ab = 0.0;
  for (var row = r0; row < r1; row++) {
    let g = dy[row * p.d + d];
    aw += g * (x[row * p.d + d] - smean[row]) * srstd[row];
    ab += g;
  }
  pweight[k] = aw;
  pbias[k] = ab;
}

// params_cols / params_cols4: the workgroup's (Σ dy·x̂, Σ dy) summed in workgroup memory, stored
// as partial k by thread 0 (called by the whole workgroup: it holds barriers).
fn storeChunkSums(k: u32, lid: u32, acc: vec2f) {
  tree_sum(acc, lid, lid, WG);
  if (lid == 0u) {
    pweight[k] = sv[0].x;
    pbias[k] = sv[0].y;
  }
}

// inner > 1: one workgroup per (chunk, channel d), its threads spread over the chunk's
// rows (pixels), reduced in workgroup memory. Output [chunks, D].
@compute @workgroup_size(256)
fn params_cols(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = group_index(wid, nwg);
  if (k >= p.chunks * p.d) { return; } // uniform: the same for the whole workgroup
  let d = k % p.d;
  let q0 = (k / p.d) * p.chunk;
  let q1 = min(q0 + p.chunk, p.outer * p.inner);
  var acc = vec2f(0.0);
  // (o, i) of pixel q, stepped without a division per element
  var o = (q0 + lid) / p.inner;
  var i = (q0 + lid) % p.inner;
  for (var q = q0 + lid; q < q1; q += WG) {
    let at = (o * p.d + d) * p.inner + i;
    let g = dy[at];
    acc += vec2f(g * (x[at] - smean[q]) * srstd[q], g);
    i += WG;
    while (i >= p.inner) {
      i -= p.inner;
      o += 1u;
    }
  }
  storeChunkSums(k, lid, acc);
}

// ---------------------------------------------------------------- four pixels per thread
// Thread k takes pixels 4k … 4k + 3 of the [outer, inner] plane (inner % 4 == 0, so the four
// are in one image); the arithmetic is that of the scalar entries above, per component.

@compute @workgroup_size(256)
fn forward_cols4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = group_index(wid, nwg) * WG + lid;
  let inner4 = p.inner / 4u;
  if (k >= p.outer * inner4) { return; }
  let base = (k / inner4) * p.d * inner4 + k % inner4;
  let inv_d = 1.0 / f32(p.d);
  var acc = vec4f(0.0);
  for (var j = 0u; j < p.d; j++) {
    acc += x4[base + j * inner4];
  }
  let mu = acc * inv_d;
  var acc2 = vec4f(0.0);
  for (var j = 0u; j < p.d; j++) {
    let c = x4[base + j * inner4] - mu;
    acc2 += c * c;
  }
  let r = inverseSqrt(acc2 * inv_d + p.eps);
  for (var j = 0u; j < p.d; j++) {
    let i = base + j * inner4;
    y4[i] = (x4[i] - mu) * r * w_at(j) + b_at(j);
  }
  mean4[k] = mu;
  rstd4[k] = r;
}

@compute @workgroup_size(256)
fn backward_cols4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = group_index(wid, nwg) * WG + lid;
  let inner4 = p.inner / 4u;
  if (k >= p.outer * inner4) { return; }
  let base = (k / inner4) * p.d * inner4 + k % inner4;
  let mu = smean4[k];
  let r = srstd4[k];
  var acc = vec4f(0.0);
  var accx = vec4f(0.0);
  for (var j = 0u; j < p.d; j++) {
    let i = base + j * inner4;
    let gw = dy4[i] * w_at(j);
    acc += gw;
    accx += gw * (x4[i] - mu) * r;
  }
  let inv_d = 1.0 / f32(p.d);
  let m = acc * inv_d;
  let mx = accx * inv_d;
  for (var j = 0u; j < p.d; j++) {
    let i = base + j * inner4;
    let gw = dy4[i] * w_at(j);
    dx4[i] = r * (gw - m - (x4[i] - mu) * r * mx);
  }
}

// As `params_cols`, four pixels per step (p.chunk % 4 == 0, so a chunk's quads stay whole).
@compute @workgroup_size(256)
fn params_cols4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = group_index(wid, nwg);
  if (k >= p.chunks * p.d) { return; } // uniform: the same for the whole workgroup
  let d = k % p.d;
  let inner4 = p.inner / 4u;
  let q0 = (k / p.d) * (p.chunk / 4u);
  let q1 = min(q0 + p.chunk / 4u, p.outer * inner4);
  var aw = vec4f(0.0);
  var ab = vec4f(0.0);
  var o = (q0 + lid) / inner4;
  var i = (q0 + lid) % inner4;
  for (var q = q0 + lid; q < q1; q += WG) {
    let at = (o * p.d + d) * inner4 + i;
    let g = dy4[at];
    aw += g * (x4[at] - smean4[q]) * srstd4[q];
    ab += g;
    i += WG;
    while (i >= inner4) {
      i -= inner4;
      o += 1u;
    }
  }
  storeChunkSums(k, lid, vec2f(aw.x + aw.y + aw.z + aw.w, ab.x + ab.y + ab.z + ab.w));
}

// ---------------------------------------------------------------- rows, four features per access
// One thread per row (the TPR = 1 case, without the workgroup reduction); D % 4 == 0.

fn w4_at(j: u32) -> vec4f {
  if (HAS_WEIGHT) {
    return weight4[j];
  }
  return vec4f(1.0);
}

fn b4_at(j: u32) -> vec4f {
  if (HAS_BIAS) {
    return bias4[j];
  }
  return vec4f(0.0);
}

fn hsum(v: vec4f) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

@compute @workgroup_size(256)
fn forward_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = group_index(wid, nwg) * WG + lid;
  if (row >= p.outer) { return; }
  let d4 = p.d / 4u;
  let base = row * d4;
  let inv_d = 1.0 / f32(p.d);
  var acc = vec4f(0.0);
  for (var j = 0u; j < d4; j++) {
    acc += x4[base + j];
  }
  let mu = hsum(acc) * inv_d;
  var acc2 = vec4f(0.0);
  for (var j = 0u; j < d4; j++) {
    let c = x4[base + j] - mu;
    acc2 += c * c;
  }
  let r = inverseSqrt(hsum(acc2) * inv_d + p.eps);
  for (var j = 0u; j < d4; j++) {
    y4[base + j] = (x4[base + j] - mu) * r * w4_at(j) + b4_at(j);
  }
  mean[row] = mu;
  rstd[row] = r;
}

@compute @workgroup_size(256)
fn backward_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = group_index(wid, nwg) * WG + lid;
  if (row >= p.outer) { return; }
  let d4 = p.d / 4u;
  let base = row * d4;
  let mu = smean[row];
  let r = srstd[row];
  var acc = vec4f(0.0);
  var accx = vec4f(0.0);
  for (var j = 0u; j < d4; j++) {
    let gw = dy4[base + j] * w4_at(j);
    acc += gw;
    accx += gw * (x4[base + j] - mu) * r;
  }
  let inv_d = 1.0 / f32(p.d);
  let m = hsum(acc) * inv_d;
  let mx = hsum(accx) * inv_d;
  for (var j = 0u; j < d4; j++) {
    let gw = dy4[base + j] * w4_at(j);
    dx4[base + j] = r * (gw - m - (x4[base + j] - mu) * r * mx);
  }
}

// As `params_rows`, one thread per (chunk, four consecutive features). Output [chunks, D].
@compute @workgroup_size(256)
fn params_rows4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let d4 = p.d / 4u;
  let k = group_index(wid, nwg) * WG + lid;
  if (k >= p.chunks * d4) { return; }
  let j = k % d4;
  let r0 = (k / d4) * p.chunk;
  let r1 = min(r0 + p.chunk, p.outer);
  var aw = vec4f(0.0);
  var ab = vec4f(0.0);
  for (var row = r0; row < r1; row++) {
    let g = dy4[row * d4 + j];
    aw += g * (x4[row * d4 + j] - smean[row]) * srstd[row];
    ab += g;
  }
  pweight4[k] = aw;
  pbias4[k] = ab;
}
