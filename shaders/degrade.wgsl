// The sensor stage of the image degradations (src/data/degrade/sensor.ts): one invocation per
// element of a batch x [N, 3, H, W], image n with its row of parameters
//   prm[16n …]: a_r, a_g, a_b, g_r, g_g, g_b, gamma, photons, sigma
// and its Philox key (keys[2n], keys[2n + 1]):
//
//   s = a_c · max(x, 0)^gamma                      (signal, gamma = 1 exactly skips the pow)
//   k ~ Poisson(s · photons), shot = k / photons   (photons = 0: no shot noise, shot = s)
//   y = clamp(g_c · (shot + sigma · z), 0, 1)      (z ~ N(0, 1): read noise)
//
// Poisson draws: for λ = s·photons below `threshold`, exact inversion of one uniform u
// (smallest k with CDF(k) ≥ u, the CDF summed in f32 by p_k = p_{k−1}·λ/k from e^{−λ}, stopping
// when adding p_k no longer changes the sum); above it the normal approximation λ + √λ·z'
// (continuous). Random words: the Philox4x32-10 block with counter (element index within the
// image, 0, 0, 0) and the image's key: Box–Muller on words (0, 1) gives z' (cos) and z (sin)
// (as random.wgsl), word 2 gives u = ((w >> 8) + 0.5)·2^-24 ∈ (0, 1). So every value depends
// only on the image's seed and the element, never on the batch it was computed in.

struct Params {
  total: u32,       // N·3·H·W
  plane: u32,       // H·W
  threshold: f32,   // λ below which Poisson draws are exact
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> prm: array<f32>;
@group(0) @binding(3) var<storage, read> keys: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

// #include "philox.wgsl"

fn poisson_inversion(lambda: f32, u: f32) -> f32 {
  var prob = exp(-lambda);
  var cdf = prob;
  var k = 0.0;
  for (var i = 0u; i < 1000u; i++) {
    if (u <= cdf) { break; }
    k += 1.0;
    prob = prob * lambda / k;
    let next = cdf + prob;
    if (next == cdf) { break; }
    cdf = next;
  }
  return k;
}

@compute @workgroup_size(256)
fn sensor(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let t = (wid.y * nwg.x + wid.x) * 256u + lid;
  if (t >= p.total) { return; }
  let chw = 3u * p.plane;
  let img = t / chw;
  let e = t % chw;
  let c = e / p.plane;
  let base = img * 16u;
  let a = prm[base + c];
  let g = prm[base + 3u + c];
  let gam = prm[base + 6u];
  let photons = prm[base + 7u];
  let sigma = prm[base + 8u];

  let xv = max(x[t], 0.0);
  var s = a * xv;
  if (gam != 1.0) {
    s = select(0.0, a * pow(xv, gam), xv > 0.0);
  }
  let w = philox(vec4u(e, 0u, 0u, 0u), vec2u(keys[2u * img], keys[2u * img + 1u]));
  let z = box_muller(w.x, w.y);
  var v = s;
  if (photons > 0.0) {
    let lambda = s * photons;
    var k: f32;
    if (lambda < p.threshold) {
      k = poisson_inversion(lambda, (f32(w.z >> 8u) + 0.5) * INV_2_24);
    } else {
      k = lambda + sqrt(lambda) * z.x;
    }
    v = k / photons;
  }
  v = v + sigma * z.y;
  y[t] = clamp(g * v, 0.0, 1.0);
}
