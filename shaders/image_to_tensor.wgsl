// Interleaved 8-bit RGB (HWC, packed four bytes per u32) → planar f32 NCHW,
// out = (byte · scale − mean[c]) / std[c]. One invocation per output element.
struct Params {
  n: u32,        // batch
  h: u32,
  w: u32,
  scale: f32,    // 1/255 for [0, 1] inputs, 1 for raw 0..255
  mean: vec4f,
  inv_std: vec4f,
}

@group(0) @binding(0) var<storage, read> bytes: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

fn byte_at(i: u32) -> f32 {
  return f32((bytes[i / 4u] >> (8u * (i % 4u))) & 0xffu);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  let hw = p.h * p.w;
  if (i >= p.n * 3u * hw) { return; }
  let b = i / (3u * hw);
  let c = (i / hw) % 3u;
  let pix = i % hw;
  let v = byte_at((b * hw + pix) * 3u + c);
  out[i] = (v * p.scale - p.mean[c]) * p.inv_std[c];
}
