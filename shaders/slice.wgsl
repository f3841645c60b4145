// Layout copies that move 32-bit words (f32 and i32 alike, bit for bit).
// `strided`: y (contiguous, `shape`) reads x at base + Σ coord[d]·strides[d] — a window of x
//   (slice) or any axis order (permute's generic path). Rank ≤ 8; VEC outputs per thread
//   (nd_index.wgsl).
// `copy2d`: copies a rows × cols block between two row-strided layouts — one axis of a
//   tensor viewed as [outer, axis·inner] (narrow, split, concat and their gradients).
// `copy2d4`: the same in units of 4 words (vec4 views), when cols, strides and offsets are
//   multiples of 4: on CPU drivers every buffer access is a per-invocation loop, so a vec4
//   access in place of four scalar ones nearly halves the copy's time.
struct Params {
  n: u32,
  base: u32,
  cols: u32,
  src_stride: u32,
  src_offset: u32,
  dst_stride: u32,
  dst_offset: u32,
  shape: array<vec4u, 2>,
  strides: array<vec4u, 2>,
  inv: array<vec4f, 2>,     // strided: 1/shape[d], rounded to f32 (for FDIV)
}

// #include "nd_index.wgsl"

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;
// copy2d4: vec4 views of x and y
@group(0) @binding(3) var<storage, read> x4: array<vec4u>;
@group(0) @binding(4) var<storage, read_write> y4: array<vec4u>;

@compute @workgroup_size(256)
fn strided(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = index(wid, nwg, lid) * VEC;
  if (i0 >= p.n) { return; }
  var coord = coords_of(i0, p.shape, p.inv);
  var src = p.base;
  for (var d = 0u; d < RANK; d++) { src += coord[d] * dim(p.strides, d); }
  y[i0] = x[src];
  // the next ones: one step along the last axis, carrying into the axes before it
  let end = min(i0 + VEC, p.n);
  for (var i = i0 + 1u; i < end; i++) {
    for (var e = 0u; e < RANK; e++) {
      let d = RANK - 1u - e;
      coord[d] += 1u;
      src += dim(p.strides, d);
      if (coord[d] < dim(p.shape, d)) { break; }
      src -= coord[d] * dim(p.strides, d);
      coord[d] = 0u;
    }
    y[i] = x[src];
  }
}

@compute @workgroup_size(256)
fn copy2d(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let c = i - r * p.cols;
  y[p.dst_offset + r * p.dst_stride + c] = x[p.src_offset + r * p.src_stride + c];
}

// As copy2d, every uniform in units of 4 words.
@compute @workgroup_size(256)
fn copy2d4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let c = i - r * p.cols;
  y4[p.dst_offset + r * p.dst_stride + c] = x4[p.src_offset + r * p.src_stride + c];
}
