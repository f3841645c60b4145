// Pointwise loss terms of two same-shape tensors a, b (reductions are done by the reduce ops).
// OP: 0 l1 |a − b|; 1 mse (a − b)²; 2 kl_div a = log q, b = target probabilities t:
// t·(log t − a), 0 where t = 0 (PyTorch's xlogy); 3 kl_div with log-target b = log t: e^b·(b − a).
// `main` writes the term; `backward` writes both gradients ga = g·∂/∂a, gb = g·∂/∂b.
override OP: u32 = 0u;

struct Params {
  n: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> g: array<f32>;
@group(0) @binding(5) var<storage, read_write> ga: array<f32>;
@group(0) @binding(6) var<storage, read_write> gb: array<f32>;

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * 256u + lid;
}

fn term(x: f32, t: f32) -> f32 {
  switch OP {
    case 0u: { return abs(x - t); }
    case 1u: { return (x - t) * (x - t); }
    case 2u: { return select(t * (log(t) - x), 0.0, t == 0.0); }
    case 3u: { return exp(t) * (t - x); }
    default: { return 0.0; }
  }
}

// (∂/∂a, ∂/∂b) of the term.
fn grads(x: f32, t: f32) -> vec2f {
  switch OP {
    case 0u: {
      let s = sign(x - t);
      return vec2f(s, -s);
    }
    case 1u: {
      let d = 2.0 * (x - t);
      return vec2f(d, -d);
    }
    case 2u: {
      // at t = 0 the t·log t term's slope (−∞ in the limit) is dropped, leaving −a
      return vec2f(-t, select(log(t) + 1.0 - x, -x, t == 0.0));
    }
    case 3u: {
      let e = exp(t);
      return vec2f(-e, e * (t - x + 1.0));
    }
    default: { return vec2f(0.0, 0.0); }
  }
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < p.n) {
    out[i] = term(a[i], b[i]);
  }
}

@compute @workgroup_size(256)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i < p.n) {
    let d = g[i] * grads(a[i], b[i]);
    ga[i] = d.x;
    gb[i] = d.y;
  }
}
