// Elementwise binary ops with NumPy broadcasting.
// Shapes are passed right-aligned in rank ≤ 8 vec4 pairs; a broadcast axis has stride 0.
override OP: u32 = 0u;
// When both inputs have the output's shape, skip the index arithmetic.
override SAME_SHAPE: bool = false;
// Number of (coalesced) axes: a constant so the index loop unrolls and its uniform reads are static.
override RANK: u32 = 8u;

struct Params {
  n: u32,
  rank: u32,
  shape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
}

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

fn dim(arr: array<vec4u, 2>, d: u32) -> u32 {
  return arr[d / 4u][d % 4u];
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  if (SAME_SHAPE) {
    out[i] = op(a[i], b[i]);
    return;
  }
  var rem = i;
  var ia = 0u;
  var ib = 0u;
  for (var e = 0u; e < RANK; e++) {
    let d = RANK - 1u - e;
    let s = dim(p.shape, d);
    let q = rem / s;
    let c = rem - q * s;
    rem = q;
    ia += c * dim(p.sa, d);
    ib += c * dim(p.sb, d);
  }
  out[i] = op(a[ia], b[ib]);
}
