// The activations, once: act(id, v, slope) and its derivative dact(id, v, fv, slope), numbered as
// ACTIVATIONS in src/kernels/activation.ts (unary.wgsl hands its activation ops over with the same
// ids). Shared by unary.wgsl, matmul.wgsl and matmul_sg_body.wgsl (their fused epilogues) and
// gdfn.wgsl: `// #include "activation.wgsl"`. With `id` a constant or an override the switch folds
// away; matmul_sg_body.wgsl passes a uniform, so one pipeline serves every activation.
// Names here must not be those of an includer's bindings (x, y, out, g, ...): wgsl_reflect
// takes any use of such a name, even a parameter's, for a use of the binding.

const SQRT_2_OVER_PI: f32 = 0.7978845608028654;
const INV_SQRT_2: f32 = 0.7071067811865476;
const INV_SQRT_2PI: f32 = 0.3989422804014327;

// erf with |error| < 1.2e-7 (Numerical Recipes erfc, Chebyshev fit).
fn erf_(v: f32) -> f32 {
  let z = abs(v);
  let t = 1.0 / (1.0 + 0.5 * z);
  let r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
          t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
          t * (-0.82215223 + t * 0.17087277)))))))));
  return select(r - 1.0, 1.0 - r, v >= 0.0);
}

fn sigmoid_(v: f32) -> f32 {
  // split by sign so exp never overflows
  if (v >= 0.0) {
    return 1.0 / (1.0 + exp(-v));
  }
  let e = exp(v);
  return e / (1.0 + e);
}

fn tanh_(v: f32) -> f32 {
  // near 0, 1 − e cancels (and exp's own error swamps tiny v): Taylor series to v¹¹,
  // whose truncation error at |v| = 0.3 is ~1e-8 relative
  if (abs(v) < 0.3) {
    let v2 = v * v;
    return v * (1.0 + v2 * (-0.3333333333 + v2 * (0.1333333333 + v2 * (-0.0539682540 + v2 * (0.0218694885 + v2 * -0.0088632355)))));
  }
  // tanh through exp of a non-positive argument: no overflow for large |v|
  let e = exp(-2.0 * abs(v));
  return sign(v) * (1.0 - e) / (1.0 + e);
}

const ACT_NONE: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_LEAKY_RELU: u32 = 2u;
const ACT_GELU: u32 = 3u;        // erf form
const ACT_GELU_TANH: u32 = 4u;
const ACT_QUICK_GELU: u32 = 5u;
const ACT_SILU: u32 = 6u;
const ACT_SIGMOID: u32 = 7u;
const ACT_TANH: u32 = 8u;

// `slope`: leakyRelu's for negative inputs (unused by the others).
fn act(id: u32, v: f32, slope: f32) -> f32 {
  switch id {
    case ACT_RELU: { return max(v, 0.0); }
    case ACT_LEAKY_RELU: { return select(slope * v, v, v > 0.0); }
    case ACT_GELU: { return 0.5 * v * (1.0 + erf_(v * INV_SQRT_2)); }
    case ACT_GELU_TANH: { return 0.5 * v * (1.0 + tanh_(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))); }
    case ACT_QUICK_GELU: { return v * sigmoid_(1.702 * v); }
    case ACT_SILU: { return v * sigmoid_(v); }
    case ACT_SIGMOID: { return sigmoid_(v); }
    case ACT_TANH: { return tanh_(v); }
    default: { return v; }
  }
}

// d act / d v at v, given fv = act(id, v, slope) (sigmoid and tanh derive from it).
fn dact(id: u32, v: f32, fv: f32, slope: f32) -> f32 {
  switch id {
    case ACT_RELU: { return select(0.0, 1.0, v > 0.0); }
    case ACT_LEAKY_RELU: { return select(slope, 1.0, v > 0.0); }
    case ACT_GELU: { return 0.5 * (1.0 + erf_(v * INV_SQRT_2)) + v * INV_SQRT_2PI * exp(-0.5 * v * v); }
    case ACT_GELU_TANH: {
      let u = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
      let t = tanh_(u);
      let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du;
    }
    case ACT_QUICK_GELU: {
      let s = sigmoid_(1.702 * v);
      return s + 1.702 * v * s * (1.0 - s);
    }
    case ACT_SILU: {
      let s = sigmoid_(v);
      return s * (1.0 + v * (1.0 - s));
    }
    case ACT_SIGMOID: { return fv * (1.0 - fv); }
    case ACT_TANH: { return 1.0 - fv * fv; }
    default: { return 1.0; }
  }
}
