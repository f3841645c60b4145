// Softmax and log-softmax along the middle axis of an input viewed as [outer, R, inner].
//
// `rows` / `rows_backward` (inner == 1): TPR threads share one row, WG / TPR rows per
// workgroup, and combine their partial results with a tree in workgroup memory. TPR is a
// power of two chosen from R, so short rows (R = 49) do not leave most of a workgroup idle.
// `cols` / `cols_backward` (inner > 1): one thread per (outer, inner) column, reading R values
// with stride `inner` (consecutive threads read consecutive addresses).
//
// Forward keeps an online (running max m, Σ exp(x − m)) pair per thread: exp never sees a
// positive argument, so ±80 inputs do not overflow. Backward uses the forward output y:
//   softmax:     dx = y ⊙ (dy − Σ dy ⊙ y)
//   log-softmax: dx = dy − exp(y) ⊙ Σ dy
override LOG: bool = false;
// Threads per row in the `rows` entries: a power of two ≤ WG.
override TPR: u32 = 256u;

struct Params {
  outer: u32,
  r: u32,
  inner: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
// backward: fy is the forward output, dy the incoming gradient, dx the result
@group(0) @binding(3) var<storage, read> fy: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

const WG: u32 = 256u;
const BIG: f32 = 3.0e38;

var<workgroup> sm: array<f32, WG>;
var<workgroup> ss: array<f32, WG>;

// Merges two (max, Σ exp(x − max)) pairs.
fn merge(m1: f32, s1: f32, m2: f32, s2: f32) -> vec2f {
  let m = max(m1, m2);
  return vec2f(m, s1 * exp(m1 - m) + s2 * exp(m2 - m));
}

// Adds v to a running (max, sum) pair with one exp.
fn push(ms: vec2f, v: f32) -> vec2f {
  if (v > ms.x) {
    return vec2f(v, ms.y * exp(ms.x - v) + 1.0);
  }
  return vec2f(ms.x, ms.y + exp(v - ms.x));
}

fn out_value(v: f32, m: f32, s: f32, inv_s: f32) -> f32 {
  if (LOG) {
    return v - m - log(s);
  }
  return exp(v - m) * inv_s;
}

fn grad_value(g: f32, yv: f32, total: f32) -> f32 {
  if (LOG) {
    return g - exp(yv) * total;
  }
  return yv * (g - total);
}

fn grad_term(g: f32, yv: f32) -> f32 {
  if (LOG) {
    return g;
  }
  return g * yv;
}

@compute @workgroup_size(256)
fn rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = lid % TPR;
  let row = (wid.y * nwg.x + wid.x) * (WG / TPR) + lid / TPR;
  let valid = row < p.outer;
  let base = row * p.r;
  var ms = vec2f(-BIG, 0.0);
  if (valid) {
    for (var j = t; j < p.r; j += TPR) {
      ms = push(ms, x[base + j]);
    }
  }
  sm[lid] = ms.x;
  ss[lid] = ms.y;
  workgroupBarrier();
  for (var k = TPR / 2u; k > 0u; k = k / 2u) {
    if (t < k) {
      let mm = merge(sm[lid], ss[lid], sm[lid + k], ss[lid + k]);
      sm[lid] = mm.x;
      ss[lid] = mm.y;
    }
    workgroupBarrier();
  }
  let head = lid - t;
  let m = sm[head];
  let s = ss[head];
  let inv_s = 1.0 / s;
  if (valid) {
    for (var j = t; j < p.r; j += TPR) {
      y[base + j] = out_value(x[base + j], m, s, inv_s);
    }
  }
}

@compute @workgroup_size(256)
fn cols(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * WG + lid;
  if (o >= p.outer * p.inner) { return; }
  let base = (o / p.inner) * p.r * p.inner + o % p.inner;
  var ms = vec2f(-BIG, 0.0);
  for (var j = 0u; j < p.r; j++) {
    ms = push(ms, x[base + j * p.inner]);
  }
  let inv_s = 1.0 / ms.y;
  for (var j = 0u; j < p.r; j++) {
    let i = base + j * p.inner;
    y[i] = out_value(x[i], ms.x, ms.y, inv_s);
  }
}

@compute @workgroup_size(256)
fn rows_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = lid % TPR;
  let row = (wid.y * nwg.x + wid.x) * (WG / TPR) + lid / TPR;
  let valid = row < p.outer;
  let base = row * p.r;
  var acc = 0.0;
  if (valid) {
    for (var j = t; j < p.r; j += TPR) {
      acc += grad_term(dy[base + j], fy[base + j]);
    }
  }
  ss[lid] = acc;
  workgroupBarrier();
  for (var k = TPR / 2u; k > 0u; k = k / 2u) {
    if (t < k) {
      ss[lid] = ss[lid] + ss[lid + k];
    }
    workgroupBarrier();
  }
  let total = ss[lid - t];
  if (valid) {
    for (var j = t; j < p.r; j += TPR) {
      dx[base + j] = grad_value(dy[base + j], fy[base + j], total);
    }
  }
}

@compute @workgroup_size(256)
fn cols_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let o = (wid.y * nwg.x + wid.x) * WG + lid;
  if (o >= p.outer * p.inner) { return; }
  let base = (o / p.inner) * p.r * p.inner + o % p.inner;
  var total = 0.0;
  for (var j = 0u; j < p.r; j++) {
    let i = base + j * p.inner;
    total += grad_term(dy[i], fy[i]);
  }
  for (var j = 0u; j < p.r; j++) {
    let i = base + j * p.inner;
    dx[i] = grad_value(dy[i], fy[i], total);
  }
}
