// Per-(image, channel) affine map of an NCHW tensor, viewed as P = N·C planes of S = H·W values,
// its scale and shift packed per image as k [N, 2C] (columns 0…C−1 the scale, C…2C−1 the shift):
//   y[n, c, s] = x[n, c, s] · k[n, c] + k[n, C + c]
// (LRDif's prior modulation W₁Z ⊙ F + W₂Z, k = [W₁Z, W₂Z] from one product).
//
// `apply`, `apply4`  one thread per value (per vec4 of a plane, S % 4 == 0): y = x · scale + shift,
//                    or without the shift (has_shift = 0: dx = g · scale).
// `grads`, `grads4`  one thread per plane: dk[n, c] = Σ_s g·x, dk[n, C + c] = Σ_s g, reading the
//                    plane in order (one value, or a vec4, per access).
// On CPU drivers every buffer access is a per-invocation loop, so the vec4 forms take a quarter
// of the accesses.

struct Params {
  planes: u32,
  size: u32,                     // S, values per plane
  c: u32,                        // C, channels per image
  has_shift: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> x4: array<vec4f>;
@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(6) var<uniform> p: Params;
// grads
@group(0) @binding(7) var<storage, read> g: array<f32>;
@group(0) @binding(8) var<storage, read> g4: array<vec4f>;
@group(0) @binding(9) var<storage, read_write> dk: array<f32>;

const WG: u32 = 256u;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * WG + lid;
}

// Where plane (n, c)'s scale sits in k; its shift is C further on.
fn scaleAt(plane: u32) -> u32 {
  return (plane / p.c) * 2u * p.c + plane % p.c;
}

fn shiftOf(plane: u32) -> f32 {
  if (p.has_shift == 0u) { return 0.0; }
  return k[scaleAt(plane) + p.c];
}

@compute @workgroup_size(256)
fn apply(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.planes * p.size) { return; }
  let plane = i / p.size;
  y[i] = x[i] * k[scaleAt(plane)] + shiftOf(plane);
}

@compute @workgroup_size(256)
fn apply4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  let per = p.size / 4u;
  if (i >= p.planes * per) { return; }
  let plane = i / per;
  y4[i] = x4[i] * k[scaleAt(plane)] + shiftOf(plane);
}

@compute @workgroup_size(256)
fn grads(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let plane = index(wid, nwg, lid);
  if (plane >= p.planes) { return; }
  let base = plane * p.size;
  var sgx = 0.0;
  var sg = 0.0;
  for (var s = 0u; s < p.size; s++) {
    let gv = g[base + s];
    sgx += gv * x[base + s];
    sg += gv;
  }
  let at = scaleAt(plane);
  dk[at] = sgx;
  dk[at + p.c] = sg;
}

@compute @workgroup_size(256)
fn grads4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let plane = index(wid, nwg, lid);
  if (plane >= p.planes) { return; }
  let per = p.size / 4u;
  let base = plane * per;
  var sgx = vec4f(0.0);
  var sg = vec4f(0.0);
  for (var s = 0u; s < per; s++) {
    let gv = g4[base + s];
    sgx += gv * x4[base + s];
    sg += gv;
  }
  let at = scaleAt(plane);
  dk[at] = (sgx.x + sgx.y) + (sgx.z + sgx.w);
  dk[at + p.c] = (sg.x + sg.y) + (sg.z + sg.w);
}
