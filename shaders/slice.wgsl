// Layout copies that move 32-bit words (f32 and i32 alike, bit for bit).
// `strided`: y (contiguous, `shape`) reads x at base + Σ coord[d]·strides[d] — a window of x
//   (slice) or any axis order (permute's generic path). Rank ≤ 8.
// `copy2d`: copies a rows × cols block between two row-strided layouts — one axis of a
//   tensor viewed as [outer, axis·inner] (narrow, split, concat and their gradients).
struct Params {
  n: u32,
  rank: u32,
  base: u32,
  cols: u32,
  src_stride: u32,
  src_offset: u32,
  dst_stride: u32,
  dst_offset: u32,
  shape: array<vec4u, 2>,
  strides: array<vec4u, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn dim(arr: array<vec4u, 2>, d: u32) -> u32 {
  return arr[d / 4u][d % 4u];
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn strided(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  var rem = i;
  var src = p.base;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = dim(p.shape, u32(d));
    let q = rem / s;
    src += (rem - q * s) * dim(p.strides, u32(d));
    rem = q;
  }
  y[i] = x[src];
}

@compute @workgroup_size(256)
fn copy2d(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let c = i - r * p.cols;
  y[p.dst_offset + r * p.dst_stride + c] = x[p.src_offset + r * p.src_stride + c];
}
