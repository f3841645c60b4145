// Elementwise unary ops, forward (`main`) and backward (`backward`). OP picks the function
// (UNARY in src/kernels/elementwise.ts): below FIRST_OTHER an activation of activation.wgsl, by its
// id; alpha and beta are the scalar arguments (leaky slope, pow exponent, clamp bounds, affine a·x+b).
override OP: u32 = 0u;
const FIRST_OTHER: u32 = 16u;

struct Params {
  n: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// #include "activation.wgsl"

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
  if (OP < FIRST_OTHER) { return act(OP, v, p.alpha); }
  switch OP {
    case 16u: { return -v; }                                   // neg
    case 17u: { return exp(v); }                               // exp
    case 18u: { return log(v); }                               // log
    case 19u: { return sqrt(v); }                              // sqrt
    case 20u: { return inverseSqrt(v); }                       // rsqrt
    case 21u: { return pow_(v, p.alpha); }                     // pow by scalar
    case 22u: { return abs(v); }                               // abs
    case 23u: { return clamp(v, p.alpha, p.beta); }            // clamp
    case 24u: { return p.alpha * v + p.beta; }                 // affine (scale, add scalar)
    case 25u: { return 1.0 / v; }                              // reciprocal
    case 26u: { return v * v; }                                // square
    default: { return v; }
  }
}

// d f / d x at x (y = f(x) is also given, for rules cheaper in terms of the output).
fn df(v: f32, out: f32) -> f32 {
  if (OP < FIRST_OTHER) { return dact(OP, v, out, p.alpha); }
  switch OP {
    case 16u: { return -1.0; }
    case 17u: { return out; }
    case 18u: { return 1.0 / v; }
    case 19u: { return 0.5 / out; }
    case 20u: { return -0.5 * out * out * out; }
    case 21u: {
      if (p.alpha == 0.0) { return 0.0; }
      return p.alpha * pow_(v, p.alpha - 1.0);
    }
    case 22u: { return sign(v); }
    case 23u: { return select(0.0, 1.0, v >= p.alpha && v <= p.beta); }
    case 24u: { return p.alpha; }
    case 25u: { return -out * out; }
    case 26u: { return 2.0 * v; }
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
