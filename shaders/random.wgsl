// Counter-based random numbers: Philox4x32-10 (Salmon, Moraes, Dror, Shaw, SC 2011).
//
// Thread j evaluates one Philox block with counter (offset + j, 0, 0) as a 128-bit number
// (words: lo, hi, 0, 0) and key (seed lo, seed hi), and writes elements 4j … 4j+3 from its
// four output words. An element's value therefore depends only on (seed, offset, index),
// never on how the work was dispatched.
//
// `main` fills `out` with DIST: 0 raw words, 1 uniform, 2 normal, 3 integers.
// `dropout` masks `x` into `y` (its backward is the same kernel applied to the gradient).
override DIST: u32 = 0u;

struct Params {
  n: u32,
  key0: u32,
  key1: u32,
  ctr0: u32,
  ctr1: u32,
  // uniform: low, high − low, largest f32 below high; normal: mean, std
  a: f32,
  b: f32,
  below_high: f32,
  // integers: low, and high − low modulo 2^32 (0 means the full 2^32 range)
  ilow: i32,
  irange: u32,
  // dropout: keep when (word >> 8) >= threshold; kept values are scaled
  threshold: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read_write> out: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

// #include "philox_stream.wgsl"

fn thread_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

fn sample(w: vec4u) -> vec4u {
  switch DIST {
    case 1u: {
      let u = vec4f(unit(w.x), unit(w.y), unit(w.z), unit(w.w));
      // rounding of low + range·u may reach high: clamp to the largest f32 below it
      return bitcast<vec4u>(min(vec4f(p.a) + vec4f(p.b) * u, vec4f(p.below_high)));
    }
    case 2u: {
      let z = vec4f(box_muller(w.x, w.y), box_muller(w.z, w.w));
      return bitcast<vec4u>(vec4f(p.a) + vec4f(p.b) * z);
    }
    case 3u: {
      // Lemire's multiply-shift: floor(word · range / 2^32), bias below range / 2^32
      var r = vec4u(mulhi(w.x, p.irange), mulhi(w.y, p.irange), mulhi(w.z, p.irange), mulhi(w.w, p.irange));
      if (p.irange == 0u) { r = w; }
      return bitcast<vec4u>(vec4i(p.ilow) + bitcast<vec4i>(r));
    }
    default: { return w; }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = thread_index(wid, nwg, lid);
  let base = j * 4u;
  if (base >= p.n) { return; }
  let v = sample(philox_block(j));
  for (var k = 0u; k < 4u; k++) {
    if (base + k < p.n) { out[base + k] = v[k]; }
  }
}

@compute @workgroup_size(256)
fn dropout(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let j = thread_index(wid, nwg, lid);
  let base = j * 4u;
  if (base >= p.n) { return; }
  let w = philox_block(j);
  for (var k = 0u; k < 4u; k++) {
    if (base + k < p.n) {
      let keep = (w[k] >> 8u) >= p.threshold;
      y[base + k] = select(0.0, x[base + k] * p.scale, keep);
    }
  }
}
