// Index arithmetic for the kernels that walk an n-dimensional layout one output at a time
// (slice.wgsl's `strided`, pad.wgsl's `main`). Included with `// #include "nd_index.wgsl"`.
// Such a kernel decodes the coordinates of the first of its VEC outputs and steps to the others
// along the last axis; the rank is a pipeline constant, so its loops over axes unroll and the
// coordinates stay in registers. The per-axis divisions were most of these kernels' time on
// lavapipe (its SIMD has no integer divide); with FDIV they go through f32 reciprocals.

override RANK: u32 = 1u;      // axes (1…8)
override FDIV: bool = false;  // every output index < 2^24
const VEC: u32 = 8u;          // consecutive outputs per thread

// Entry d of an 8-entry array packed as two vec4s.
fn dim(arr: array<vec4u, 2>, d: u32) -> u32 {
  return arr[d / 4u][d % 4u];
}

fn dimf(arr: array<vec4f, 2>, d: u32) -> f32 {
  return arr[d / 4u][d % 4u];
}

// 1-D thread index over a 2-D grid of 256-thread workgroups.
fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

// ⌊a / s⌋ (inv = 1/s rounded to f32). With FDIV, a < 2^24 is exact in f32 and a·inv is within
// one of the quotient (exact for s = 1), which one correction step fixes.
fn quot(a: u32, s: u32, inv: f32) -> u32 {
  if (FDIV) {
    var q = u32(f32(a) * inv);
    if (q * s > a) {
      q -= 1u;
    } else if (a - q * s >= s) {
      q += 1u;
    }
    return q;
  }
  return a / s;
}

// Coordinates of flat index i in `shape` (row-major).
fn coords_of(i: u32, shape: array<vec4u, 2>, inv: array<vec4f, 2>) -> array<u32, 8> {
  var c: array<u32, 8>;
  var rem = i;
  for (var e = 0u; e + 1u < RANK; e++) {
    let d = RANK - 1u - e;
    let s = dim(shape, d);
    let q = quot(rem, s, dimf(inv, d));
    c[d] = rem - q * s;
    rem = q;
  }
  c[0] = rem;
  return c;
}

// The next index's coordinates: one step along the last axis, carrying into the ones before.
// (Kernels that keep offsets into their inputs write this loop out with the offsets inside it: a
// helper that returned the axis that advanced, for the caller to look up its offset change,
// indexes a uniform array at run time and measured twice as slow on lavapipe.)
fn next_coords(c0: array<u32, 8>, shape: array<vec4u, 2>) -> array<u32, 8> {
  var c = c0;
  for (var e = 0u; e < RANK; e++) {
    let d = RANK - 1u - e;
    c[d] += 1u;
    if (c[d] < dim(shape, d)) { break; }
    c[d] = 0u;
  }
  return c;
}
