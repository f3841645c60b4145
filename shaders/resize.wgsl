// One separable resampling pass along one axis (src/kernels/resize.ts builds the weight tables).
// x is viewed as [outer, len_in, inner] and y as [outer, len_out, inner]:
//   y[b, o, k] = Σ_{e = ptr[o]}^{ptr[o+1]-1} w[e] · x[b, idx[e], k].
// The table is one i32 array: ptr (len_out + 1 entries) at 0, idx at idx_off, the weights at
// w_off (f32 bit patterns, or FIXED: Pillow's integer weights with 22 fractional bits).
// The same entry runs the backward pass with the transposed table (each input index sums the
// weights of the outputs that read it, in a fixed order: deterministic, no atomics).
//
// FIXED = 1 reproduces Pillow's 8-bit path (ImagingResampleHorizontal/Vertical_8bpc): inputs
// are 8-bit levels (rounded and clamped to 0..255 here), the sum starts at 2^21 (rounding),
// and the result is clamp(sum >> 22, 0, 255).
override FIXED: u32 = 0u;

struct Params {
  n: u32,
  inner: u32,
  len_in: u32,
  len_out: u32,
  idx_off: u32,
  w_off: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> table: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (i >= p.n) { return; }
  let k = i % p.inner;
  let o = (i / p.inner) % p.len_out;
  let b = i / (p.inner * p.len_out);
  let base = b * p.len_in * p.inner + k;
  let e0 = u32(table[o]);
  let e1 = u32(table[o + 1u]);
  if (FIXED == 1u) {
    var acc: i32 = 1 << 21u;
    for (var e = e0; e < e1; e++) {
      let src = u32(table[p.idx_off + e]);
      let level = i32(round(clamp(x[base + src * p.inner], 0.0, 255.0)));
      acc += table[p.w_off + e] * level;
    }
    y[i] = f32(clamp(acc >> 22u, 0, 255));
  } else {
    var acc = 0.0;
    for (var e = e0; e < e1; e++) {
      let src = u32(table[p.idx_off + e]);
      acc += bitcast<f32>(table[p.w_off + e]) * x[base + src * p.inner];
    }
    y[i] = acc;
  }
}
