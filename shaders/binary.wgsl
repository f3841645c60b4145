// Elementwise binary ops with NumPy broadcasting.
// Shapes are passed right-aligned in rank ≤ 8 vec4 pairs; a broadcast axis has stride 0. With
// broadcasting, each thread writes VEC consecutive outputs (nd_index.wgsl: RANK is the number of
// coalesced axes).
override OP: u32 = 0u;
// When both inputs have the output's shape, skip the index arithmetic (one output per thread).
override SAME_SHAPE: bool = false;

struct Params {
  n: u32,
  shape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
  inv: array<vec4f, 2>,   // 1/shape[d], rounded to f32 (for FDIV)
}

// #include "nd_index.wgsl"


@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn op(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return x + y; }
    case 1u: { return x - y; }
    case 2u: { return x * y; }
    case 3u: { return x / y; }
    case 4u: { return max(x, y); }
    case 5u: { return min(x, y); }
    case 6u: { return select(0.0, 1.0, x > y); }   // greater
    case 7u: { return select(0.0, 1.0, x == y); }  // equal
    case 8u: { return select(0.0, 1.0, x >= y); }  // greater or equal
    default: { return x; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  if (SAME_SHAPE) {
    out[i] = op(a[i], b[i]);
    return;
  }
  let i0 = i * VEC;
  if (i0 >= p.n) { return; }
  var c = coords_of(i0, p.shape, p.inv);
  var ia = 0u;
  var ib = 0u;
  for (var d = 0u; d < RANK; d++) {
    ia += c[d] * dim(p.sa, d);
    ib += c[d] * dim(p.sb, d);
  }
  out[i0] = op(a[ia], b[ib]);
  let end = min(i0 + VEC, p.n);
  for (var j = i0 + 1u; j < end; j++) {
    for (var e = 0u; e < RANK; e++) {
      let d = RANK - 1u - e;
      c[d] += 1u;
      ia += dim(p.sa, d);
      ib += dim(p.sb, d);
      if (c[d] < dim(p.shape, d)) { break; }
      ia -= c[d] * dim(p.sa, d);
      ib -= c[d] * dim(p.sb, d);
      c[d] = 0u;
    }
    out[j] = op(a[ia], b[ib]);
  }
}

// Same shapes and a size that is a multiple of 4: a vec4 per thread (p.n counts vec4s). On
// lavapipe each lane's load is its own scalar loop step, so 16 bytes per step beat 4.
@group(0) @binding(4) var<storage, read> a4: array<vec4f>;
@group(0) @binding(5) var<storage, read> b4: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> out4: array<vec4f>;

@compute @workgroup_size(256)
fn same4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let x = a4[i];
  let y = b4[i];
  out4[i] = vec4f(op(x.x, y.x), op(x.y, y.y), op(x.z, y.z), op(x.w, y.w));
}
