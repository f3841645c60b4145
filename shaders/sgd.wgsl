// SGD update as torch.optim.SGD, fused into one pass over the parameter, in place.
// `plain` has no momentum buffer; `momentum` keeps one (written as a copy of the first
// direction on the first step, as torch clones it).
//
// Works on vec4s: pooled buffers hold a multiple of 16 bytes (at least 256), so the last vec4
// may run past the tensor's end into its own buffer's padding, which nothing reads.
struct Params {
  n4: u32,                 // vec4s to update: ceil(n / 4)
  lr: f32,
  weight_decay: f32,
  momentum: f32,
  one_minus_dampening: f32,
  nesterov: u32,           // 0 or 1
  first: u32,              // 1 on the step that creates the momentum buffer
}

@group(0) @binding(0) var<storage, read_write> param: array<vec4f>;
@group(0) @binding(1) var<storage, read> grad: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> buf: array<vec4f>;
@group(0) @binding(3) var<uniform> u: Params;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn plain(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= u.n4) { return; }
  let p = param[i];
  let d = grad[i] + u.weight_decay * p;
  param[i] = p - u.lr * d;
}

@compute @workgroup_size(256)
fn momentum(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= u.n4) { return; }
  let p = param[i];
  var d = grad[i] + u.weight_decay * p;
  var b: vec4f;
  if (u.first == 1u) {
    b = d;
  } else {
    b = u.momentum * buf[i] + u.one_minus_dampening * d;
  }
  buf[i] = b;
  if (u.nesterov == 1u) {
    d = d + u.momentum * b;
  } else {
    d = b;
  }
  param[i] = p - u.lr * d;
}
