// Broadcast copy: out (shape) = a broadcast to shape, with strides sa (0 on broadcast axes).
// Moves raw 32-bit words, so f32 and i32 tensors are copied bit for bit. VEC outputs per thread
// (nd_index.wgsl: RANK is the number of coalesced axes).
struct Params {
  n: u32,
  shape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  inv: array<vec4f, 2>,   // 1/shape[d], rounded to f32 (for FDIV)
}

// #include "nd_index.wgsl"

@group(0) @binding(0) var<storage, read> a: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = index(wid, nwg, lid) * VEC;
  if (i0 >= p.n) { return; }
  var c = coords_of(i0, p.shape, p.inv);
  var ia = 0u;
  for (var d = 0u; d < RANK; d++) { ia += c[d] * dim(p.sa, d); }
  out[i0] = a[ia];
  let end = min(i0 + VEC, p.n);
  for (var i = i0 + 1u; i < end; i++) {
    for (var e = 0u; e < RANK; e++) {
      let d = RANK - 1u - e;
      c[d] += 1u;
      ia += dim(p.sa, d);
      if (c[d] < dim(p.shape, d)) { break; }
      ia -= c[d] * dim(p.sa, d);
      c[d] = 0u;
    }
    out[i] = a[ia];
  }
}
