// Elementwise unary ops, forward (`main`) and backward (`backward`). OP picks the function;
// alpha and beta are its scalar arguments (pow exponent, clamp bounds, leaky slope, affine a·x+b).
override OP: u32 = 0u;

struct Params {
  n: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// #include "activation_math.wgsl"

fn pow_(v: f32, e: f32) -> f32 {
  if (e == 0.0) { return 1.0; }
  if (e == 1.0) { return v; }
  if (e == 2.0) { return v * v; }
  let r = pow(abs(v), e);
  // negative base: defined for integer exponents only
  if (v < 0.0) {
    if (fract(e) != 0.0) { return sqrt(v); } // NaN, computed at run time (WGSL forbids NaN constants)
    if (fract(e * 0.5) != 0.0) { return -r; }
  }
  if (v == 0.0) { return select(0.0, 1.0 / v, e < 0.0); }
  return r;
}

fn f(v: f32) -> f32 {
  switch OP {
    case 0u: { return -v; }                                    // neg
    case 1u: { return exp(v); }                                // exp
    case 2u: { return log(v); }                                // log
    case 3u: { return sqrt(v); }                               // sqrt
    case 4u: { return inverseSqrt(v); }                        // rsqrt
    case 5u: { return pow_(v, p.alpha); }                      // pow by scalar
    case 6u: { return abs(v); }                                // abs
    case 7u: { return clamp(v, p.alpha, p.beta); }             // clamp
    case 8u: { return max(v, 0.0); }                           // relu
    case 9u: { return select(p.alpha * v, v, v > 0.0); }       // leaky_relu
    case 10u: { return 0.5 * v * (1.0 + erf_(v * INV_SQRT_2)); }                              // gelu (erf)
    case 11u: { return 0.5 * v * (1.0 + tanh_(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))); } // gelu (tanh)
    case 12u: { return v * sigmoid_(1.702 * v); }              // quick_gelu
    case 13u: { return sigmoid_(v); }                          // sigmoid
    case 14u: { return tanh_(v); }                             // tanh
    case 15u: { return v * sigmoid_(v); }                      // silu
    case 16u: { return p.alpha * v + p.beta; }                 // affine (scale, add scalar)
    case 17u: { return v; }                                    // identity (copy)
    case 18u: { return 1.0 / v; }                              // reciprocal
    case 19u: { return v * v; }                                // square
    default: { return v; }
  }
}

// d f / d x at x (y = f(x) is also given, for rules cheaper in terms of the output).
fn df(v: f32, out: f32) -> f32 {
  switch OP {
    case 0u: { return -1.0; }
    case 1u: { return out; }
    case 2u: { return 1.0 / v; }
    case 3u: { return 0.5 / out; }
    case 4u: { return -0.5 * out * out * out; }
    case 5u: {
      if (p.alpha == 0.0) { return 0.0; }
      return p.alpha * pow_(v, p.alpha - 1.0);
    }
    case 6u: { return sign(v); }
    case 7u: { return select(0.0, 1.0, v >= p.alpha && v <= p.beta); }
    case 8u: { return select(0.0, 1.0, v > 0.0); }
    case 9u: { return select(p.alpha, 1.0, v > 0.0); }
    case 10u: {
      return 0.5 * (1.0 + erf_(v * INV_SQRT_2)) + v * INV_SQRT_2PI * exp(-0.5 * v * v);
    }
    case 11u: {
      let u = SQRT_2_OVER_PI * (v + 0.044715 * v * v * v);
      let t = tanh_(u);
      let du = SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * v * v);
      return 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du;
    }
    case 12u: {
      let s = sigmoid_(1.702 * v);
      return s + 1.702 * v * s * (1.0 - s);
    }
    case 13u: { return out * (1.0 - out); }
    case 14u: { return 1.0 - out * out; }
    case 15u: {
      let s = sigmoid_(v);
      return s * (1.0 + v * (1.0 - s));
    }
    case 16u: { return p.alpha; }
    case 17u: { return 1.0; }
    case 18u: { return -out * out; }
    case 19u: { return 2.0 * v; }
    default: { return 1.0; }
  }
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < p.n) {
    y[i] = f(x[i]);
  }
}

// Backward: dx = dy · f'(x). `x` is the forward input, `fy` the forward output.
@group(0) @binding(3) var<storage, read> fy: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;

@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < p.n) {
    y[i] = dy[i] * df(x[i], fy[i]);
  }
}

// The same for a size that is a multiple of 4, a vec4 per thread (p.n counts vec4s): on
// lavapipe each lane's load is its own scalar loop step, so 16 bytes per step beat 4.
@group(0) @binding(5) var<storage, read> x4: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> y4: array<vec4f>;
@group(0) @binding(7) var<storage, read> fy4: array<vec4f>;
@group(0) @binding(8) var<storage, read> dy4: array<vec4f>;

@compute @workgroup_size(256)
fn main4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < p.n) {
    let v = x4[i];
    y4[i] = vec4f(f(v.x), f(v.y), f(v.z), f(v.w));
  }
}

@compute @workgroup_size(256)
fn backward4(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < p.n) {
    let v = x4[i];
    let o = fy4[i];
    y4[i] = dy4[i] * vec4f(df(v.x, o.x), df(v.y, o.y), df(v.z, o.z), df(v.w, o.w));
  }
}
