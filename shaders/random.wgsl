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

const M0: u32 = 0xD2511F53u;
const M1: u32 = 0xCD9E8D57u;
const W0: u32 = 0x9E3779B9u;
const W1: u32 = 0xBB67AE85u;
// 2^-24: (word >> 8) · 2^-24 is exact in f32.
const INV_2_24: f32 = 5.9604644775390625e-8;
const PI: f32 = 3.14159265358979;

// High 32 bits of the 64-bit product a·b, from 16-bit halves (WGSL has no 64-bit integers).
fn mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}

fn philox(counter: vec4u, key: vec2u) -> vec4u {
  var c = counter;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) {
      k = vec2u(k.x + W0, k.y + W1);
    }
    let hi0 = mulhi(M0, c.x);
    let lo0 = M0 * c.x;
    let hi1 = mulhi(M1, c.z);
    let lo1 = M1 * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// The block of thread j: counter offset + j with the carry into the high word.
fn philox_block(j: u32) -> vec4u {
  let lo = p.ctr0 + j;
  let hi = p.ctr1 + select(0u, 1u, lo < p.ctr0);
  return philox(vec4u(lo, hi, 0u, 0u), vec2u(p.key0, p.key1));
}

fn thread_index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

// Uniform in [0, 1) from the top 24 bits.
fn unit(w: u32) -> f32 {
  return f32(w >> 8u) * INV_2_24;
}

// Box–Muller on words (w0, w1): radius from u1 in (0, 1], angle 2π·u2 − π in [−π, π)
// (kept inside [−π, π], where GPU sin/cos are most accurate).
fn box_muller(w0: u32, w1: u32) -> vec2f {
  let u1 = (f32(w0 >> 8u) + 1.0) * INV_2_24;
  let theta = (unit(w1) - 0.5) * (2.0 * PI);
  let r = sqrt(max(-2.0 * log(u1), 0.0));
  return vec2f(r * cos(theta), r * sin(theta));
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
