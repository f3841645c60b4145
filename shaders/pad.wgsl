// Padding (`main`) and the gradient of reflect/replicate padding along one axis (`backward_axis`).
// MODE: 0 constant (`value` as 32-bit pattern), 1 reflect (mirror without repeating the edge,
// periodic with period 2(n-1) so pads may exceed the axis), 2 replicate (clamp to the edge).
// Forward moves 32-bit words (f32 or i32), VEC outputs per thread (nd_index.wgsl); the gradient
// sums f32.
override MODE: u32 = 0u;

struct Params {
  n: u32,
  value: u32,
  // backward_axis: gradient viewed as [outer, len_out, inner], result [outer, len_in, inner]
  outer: u32,
  len_in: u32,
  len_out: u32,
  inner: u32,
  before: u32,
  in_shape: array<vec4u, 2>,
  out_shape: array<vec4u, 2>,
  pad_before: array<vec4u, 2>,
  inv_out: array<vec4f, 2>,   // 1/out_shape[d], rounded to f32 (for FDIV)
}

// #include "nd_index.wgsl"

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

// Source coordinate of padded coordinate t (relative to the start of the data) on an axis of n.
fn source(t: i32, n: i32) -> i32 {
  if (MODE == 2u) {
    return clamp(t, 0, n - 1);
  }
  let period = 2 * (n - 1);
  var m = t % period;
  if (m < 0) { m += period; }
  return select(period - m, m, m < n);
}

// The word at output coordinates c.
fn padded(c: array<u32, 8>) -> u32 {
  var src = 0u;
  var stride = 1u;
  for (var e = 0u; e < RANK; e++) {
    let d = RANK - 1u - e;
    let n = i32(dim(p.in_shape, d));
    var t = i32(c[d]) - i32(dim(p.pad_before, d));
    if (t < 0 || t >= n) {
      if (MODE == 0u) { return p.value; }
      t = source(t, n);
    }
    src += u32(t) * stride;
    stride *= u32(n);
  }
  return x[src];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i0 = index(wid, nwg, lid) * VEC;
  if (i0 >= p.n) { return; }
  var c = coords_of(i0, p.out_shape, p.inv_out);
  y[i0] = padded(c);
  let end = min(i0 + VEC, p.n);
  for (var i = i0 + 1u; i < end; i++) {
    c = next_coords(c, p.out_shape);
    y[i] = padded(c);
  }
}

// dx[o, j, k] = Σ over padded positions t that read source j of dy[o, before + t, k], in a
// fixed order (deterministic). Replicate: one contiguous run of t. Reflect: t ≡ ±j mod 2(n-1).
@compute @workgroup_size(256)
fn backward_axis(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.n) { return; }
  let k = i % p.inner;
  let j = i32((i / p.inner) % p.len_in);
  let o = i / (p.inner * p.len_in);
  let n = i32(p.len_in);
  let lo = -i32(p.before);
  let hi = i32(p.len_out) - i32(p.before);  // exclusive
  let row = o * p.len_out;
  var acc = 0.0;
  if (MODE == 2u) {
    let t0 = select(j, lo, j == 0);
    let t1 = select(j, hi - 1, j == n - 1);
    for (var t = t0; t <= t1; t++) {
      acc += bitcast<f32>(x[(row + u32(t - lo)) * p.inner + k]);
    }
  } else {
    let period = 2 * (n - 1);
    // t = j + q·period for every q that lands in [lo, hi)
    var t = j - ((j - lo) / period) * period;
    for (; t < hi; t += period) {
      acc += bitcast<f32>(x[(row + u32(t - lo)) * p.inner + k]);
    }
    // t = -j + q·period, unless it is the same set (j at either edge)
    if (j != 0 && j != n - 1) {
      var u: i32;
      if (-j >= lo) {
        u = -j - ((-j - lo) / period) * period;
      } else {
        u = -j + ((lo + j + period - 1) / period) * period;
      }
      for (; u < hi; u += period) {
        acc += bitcast<f32>(x[(row + u32(u - lo)) * p.inner + k]);
      }
    }
  }
  y[i] = bitcast<u32>(acc);
}
