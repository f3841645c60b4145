// Cross-entropy of logits [N, C] against i32 labels [N], with label smoothing ε:
//   loss_i = (1 − ε)·(lse_i − x_{i,y}) + ε·(lse_i − mean_c x_{i,c}),  lse_i = log Σ_c exp(x_{i,c}).
// A row whose label is the ignore index or outside [0, C) is not a valid row: its loss and
// gradient are 0 and it is not counted in the mean (its label is never used as an index).
//
// `forward`: one workgroup per row; writes the row loss and lse (kept for the backward).
// `reduce`: one workgroup; out = Σ loss (/ valid count when MEAN), inv_count = 1/count (0 if none).
// `backward`: one thread per logit; dx = g_i·(softmax − (1 − ε)·onehot − ε/C) on valid rows.
override MEAN: bool = false;
// The backward's upstream gradient is one value for all rows (reduced loss) or one per row.
override BROADCAST_G: bool = false;

struct Params {
  n: u32,
  c: u32,
  ignore_index: i32,
  eps: f32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> inv_count: array<f32>;
@group(0) @binding(7) var<storage, read> gy: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;

const WG: u32 = 256u;
const BIG: f32 = 3.0e38;

var<workgroup> sa: array<f32, WG>;
var<workgroup> sb: array<f32, WG>;
var<workgroup> sc: array<u32, WG>;

fn valid_label(y: i32) -> bool {
  return y != p.ignore_index && y >= 0 && u32(y) < p.c;
}

@compute @workgroup_size(256)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.n) { return; }  // uniform per workgroup
  let base = row * p.c;

  // pass 1: row max and row sum
  var m = -BIG;
  var s = 0.0;
  for (var j = lid; j < p.c; j += WG) {
    let v = logits[base + j];
    m = max(m, v);
    s += v;
  }
  sa[lid] = m;
  sb[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      sa[lid] = max(sa[lid], sa[lid + k]);
      sb[lid] = sb[lid] + sb[lid + k];
    }
    workgroupBarrier();
  }
  let row_max = sa[0];
  let row_sum = sb[0];
  workgroupBarrier();

  // pass 2: Σ exp(x − max)
  var e = 0.0;
  for (var j = lid; j < p.c; j += WG) {
    e += exp(logits[base + j] - row_max);
  }
  sa[lid] = e;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      sa[lid] = sa[lid] + sa[lid + k];
    }
    workgroupBarrier();
  }

  if (lid == 0u) {
    let l = row_max + log(sa[0]);
    lse[row] = l;
    let y = labels[row];
    var value = 0.0;
    if (valid_label(y)) {
      let nll = l - logits[base + u32(y)];
      let uniform_nll = l - row_sum / f32(p.c);
      value = (1.0 - p.eps) * nll + p.eps * uniform_nll;
    }
    loss[row] = value;
  }
}

@compute @workgroup_size(256)
fn reduce(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var cnt = 0u;
  for (var i = lid; i < p.n; i += WG) {
    s += loss[i];
    cnt += select(0u, 1u, valid_label(labels[i]));
  }
  sa[lid] = s;
  sc[lid] = cnt;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      sa[lid] = sa[lid] + sa[lid + k];
      sc[lid] = sc[lid] + sc[lid + k];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    let count = sc[0];
    let inv = select(0.0, 1.0 / f32(count), count > 0u);
    inv_count[0] = inv;
    out[0] = select(sa[0], sa[0] * inv, MEAN);
  }
}

@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= p.n * p.c) { return; }
  let row = i / p.c;
  let col = i % p.c;
  let y = labels[row];
  var d = 0.0;
  if (valid_label(y)) {
    var g = 0.0;
    if (BROADCAST_G) { g = gy[0]; } else { g = gy[row]; }
    let smoothed = select(0.0, 1.0 - p.eps, u32(y) == col) + p.eps / f32(p.c);
    d = g * (exp(logits[i] - lse[row]) - smoothed);
  }
  dx[i] = d;
}
