// Philox4x32-10 (Salmon et al. 2011, as in JAX and PyTorch) and Box–Muller: the one copy of the
// counter-based generator every random shader uses, and the same stream as src/kernels/random.ts's
// host implementation. Included with `// #include "philox.wgsl"` (see src/gpu/shader-include.ts).

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
