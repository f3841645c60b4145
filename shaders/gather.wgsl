// Reads along one axis through an i32 index. Moves 32-bit words (f32 or i32).
// An index outside [0, axis_len) reads 0 (no error on the GPU side).
// `index_select`: x viewed as [outer, axis_len, inner], y [outer, count, inner],
//   y[o, m, k] = x[o, index[m], k].
// `gather` (torch.gather): y has the index's shape; y[c] = x[c with c[axis] replaced by index[c]].
//   With TARGETS it writes instead the flat position in x each element reads (0xffffffff when
//   out of range): the scatter keys of its gradient.
// `gather_backward`: the gradient of `gather` when the index is short along the axis: every
//   element of dx (x_shape) sums, in order along the axis, the gradient entries whose index
//   points at it (x holds the f32 gradient, y receives dx). Longer index lines go through
//   scatter_add.wgsl instead.
override TARGETS: bool = false;

struct Params {
  n: u32,
  rank: u32,
  axis: u32,
  axis_len: u32,
  outer: u32,
  inner: u32,
  count: u32,
  index_shape: array<vec4u, 2>,
  x_strides: array<vec4u, 2>,
  x_shape: array<vec4u, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> index: array<i32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

const INVALID: u32 = 0xffffffffu;

fn dim(arr: array<vec4u, 2>, d: u32) -> u32 {
  return arr[d / 4u][d % 4u];
}

fn global_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn index_select(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = global_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  // one division per coordinate: integer division is the costly part of this kernel
  let row = i / p.inner;
  let k = i - row * p.inner;
  let o = row / p.count;
  let m = row - o * p.count;
  let id = index[m];
  if (id < 0 || u32(id) >= p.axis_len) {
    y[i] = 0u;
    return;
  }
  y[i] = x[(o * p.axis_len + u32(id)) * p.inner + k];
}

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = global_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  var rem = i;
  var src = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = dim(p.index_shape, u32(d));
    if (u32(d) != p.axis) {
      src += (rem % s) * dim(p.x_strides, u32(d));
    }
    rem = rem / s;
  }
  let id = index[i];
  let valid = id >= 0 && u32(id) < p.axis_len;
  src += u32(max(id, 0)) * dim(p.x_strides, p.axis);
  if (TARGETS) {
    y[i] = select(INVALID, src, valid);
  } else {
    y[i] = select(0u, x[select(0u, src, valid)], valid);
  }
}

@compute @workgroup_size(256)
fn gather_backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = global_index(wid, nwg, lid);
  if (i >= p.n) { return; }
  var rem = i;
  var line = 0u;          // offset in the index of this element's line (axis coordinate 0)
  var index_stride = 1u;
  var axis_stride = 0u;
  var target_pos = 0u;    // this element's coordinate along the axis
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = dim(p.x_shape, u32(d));
    let q = rem / s;
    let c = rem - q * s;
    rem = q;
    let extent = dim(p.index_shape, u32(d));
    if (u32(d) == p.axis) {
      target_pos = c;
      axis_stride = index_stride;
    } else {
      if (c >= extent) {
        y[i] = 0u;  // outside the index's extent: nothing read this element
        return;
      }
      line += c * index_stride;
    }
    index_stride *= extent;
  }
  var acc = 0.0;
  for (var j = 0u; j < dim(p.index_shape, p.axis); j++) {
    let e = line + j * axis_stride;
    if (index[e] == i32(target_pos)) {
      acc += bitcast<f32>(x[e]);
    }
  }
  y[i] = bitcast<u32>(acc);
}
