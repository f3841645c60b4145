// The scalar functions behind the activations, shared by unary.wgsl, matmul.wgsl,
// matmul_sg_body.wgsl (their fused epilogues) and gdfn.wgsl: `// #include "activation_math.wgsl"`.

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
