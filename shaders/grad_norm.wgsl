// Global L2 norm of many gradient tensors and in-place clipping, without a host readback.
// `partial`  one dispatch per gradient: each workgroup writes the sum of squares of its
//            strided share to partials[offset + workgroup].
// `finish`   one workgroup: sums every partial, writes the norm and the clip factor
//            min(1, max_norm / (norm + 1e-6)) (torch.nn.utils.clip_grad_norm_).
// `apply`    one dispatch per gradient: grad *= clip factor, read from the buffer.
struct Params {
  n: u32,          // elements of this gradient (partial, apply) or partials to sum (finish)
  offset: u32,     // first partial slot of this gradient (partial)
  max_norm: f32,   // (finish)
}

@group(0) @binding(0) var<storage, read_write> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> norm: array<f32>;
@group(0) @binding(3) var<storage, read_write> factor: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

const WG: u32 = 256u;
var<workgroup> acc: array<f32, WG>;

fn tree_sum(lid: u32) {
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { acc[lid] = acc[lid] + acc[lid + s]; }
    workgroupBarrier();
  }
}

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = wid.x * WG + lid; i < u.n; i += nwg.x * WG) {
    let g = grad[i];
    s += g * g;
  }
  acc[lid] = s;
  tree_sum(lid);
  if (lid == 0u) { partials[u.offset + wid.x] = acc[0]; }
}

@compute @workgroup_size(256)
fn finish(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  for (var i = lid; i < u.n; i += WG) { s += partials[i]; }
  acc[lid] = s;
  tree_sum(lid);
  if (lid == 0u) {
    let total = sqrt(acc[0]);
    norm[0] = total;
    factor[0] = min(1.0, u.max_norm / (total + 1e-6));
  }
}

@compute @workgroup_size(256)
fn apply(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * WG + lid;
  if (i >= u.n) { return; }
  grad[i] = grad[i] * factor[0];
}
