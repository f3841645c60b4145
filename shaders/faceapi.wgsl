// face-api's FaceFeatureExtractor (src/models/faceapi/feature-extractor.ts), the passes around
// its depthwise convolutions and pointwise matmuls, NCHW, one plane = H·W values of a channel:
//
// `normalize_input`  y = x[offset + i] − mean[c]              (face-api's mean RGB, /255)
// `bias_relu`  y = relu(a + bias[c])                         out1 of a block (conv0)
// `sum_relu`   s = s + (a + bias[c]) in place; y = relu(s)   out_k added to the running sum
// `last_relu`  y = relu(s + (a + bias[c]))                   the block's output
//
// `a` is the pointwise product W·x (bias not yet added: face-api adds it as its own op, then
// sums). V consecutive values per invocation (4 where the plane size is a multiple of 4, so
// the vec4 never straddles two channels, else 1).
override V: u32 = 4u;

const WG: u32 = 256u;

struct Params {
  total: u32,      // values in the tensor
  plane: u32,      // values per channel plane (H·W)
  channels: u32,
  offset: u32,     // normalize_input: first value of `a` read (a chunk of the batch)
  mean: vec4f,     // normalize_input: per-channel values subtracted
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> s: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn first(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return ((wid.y * nwg.x + wid.x) * WG + lid) * V;
}

fn channel(i: u32) -> u32 {
  return (i / p.plane) % p.channels;
}

@compute @workgroup_size(256)
fn normalize_input(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = first(wid, nwg, lid);
  if (i0 >= p.total) { return; }
  let m = p.mean[channel(i0)];
  for (var k = 0u; k < V; k++) {
    let i = i0 + k;
    if (i >= p.total) { break; }
    y[i] = a[p.offset + i] - m;
  }
}

@compute @workgroup_size(256)
fn bias_relu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = first(wid, nwg, lid);
  if (i0 >= p.total) { return; }
  let b = bias[channel(i0)];
  for (var k = 0u; k < V; k++) {
    let i = i0 + k;
    if (i >= p.total) { break; }
    y[i] = max(a[i] + b, 0.0);
  }
}

@compute @workgroup_size(256)
fn sum_relu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = first(wid, nwg, lid);
  if (i0 >= p.total) { return; }
  let b = bias[channel(i0)];
  for (var k = 0u; k < V; k++) {
    let i = i0 + k;
    if (i >= p.total) { break; }
    let v = s[i] + (a[i] + b);
    s[i] = v;
    y[i] = max(v, 0.0);
  }
}

@compute @workgroup_size(256)
fn last_relu(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = first(wid, nwg, lid);
  if (i0 >= p.total) { return; }
  let b = bias[channel(i0)];
  for (var k = 0u; k < V; k++) {
    let i = i0 + k;
    if (i >= p.total) { break; }
    y[i] = max(s[i] + (a[i] + b), 0.0);
  }
}
