// Broadcast copy: out (shape) = a broadcast to shape, with strides sa (0 on broadcast axes).
// Moves raw 32-bit words, so f32 and i32 tensors are copied bit for bit.
struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
}

// Number of (coalesced) axes: a constant so the index loop unrolls.
override RANK: u32 = 8u;

@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn dim(arr: array<vec4u, 2>, d: u32) -> u32 {
  return arr[d / 4u][d % 4u];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  var rem = i;
  var ia = 0u;
  for (var e = 0u; e < RANK; e++) {
    let d = RANK - 1u - e;
    let s = dim(p.shape, d);
    let q = rem / s;
    ia += (rem - q * s) * dim(p.sa, d);
    rem = q;
  }
  out[i] = a[ia];
}
