/**
 * Float64 reference of `channelAffine` (src/kernels/channel-affine.ts): y[n, c, s] = x[n, c, s] ·
 * k[n, c] + k[n, C + c] over x [N, C, H, W] (S = H·W values per plane) and k [N, 2C]; and its
 * gradients for an upstream gradient g: dx = g · k[n, c], dk[n, c] = Σ_s g·x, dk[n, C + c] = Σ_s g.
 */
export function refChannelAffine(x: ArrayLike<number>, k: ArrayLike<number>, shape: readonly number[]): Float64Array {
  const [n, c, h, w] = shape;
  const s = h * w;
  const y = new Float64Array(n * c * s);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      const a = k[i * 2 * c + j];
      const b = k[i * 2 * c + c + j];
      const base = (i * c + j) * s;
      for (let t = 0; t < s; t++) y[base + t] = x[base + t] * a + b;
    }
  }
  return y;
}

export function refChannelAffineGrads(x: ArrayLike<number>, k: ArrayLike<number>, g: ArrayLike<number>, shape: readonly number[]): { dx: Float64Array; dk: Float64Array } {
  const [n, c, h, w] = shape;
  const s = h * w;
  const dx = new Float64Array(n * c * s);
  const dk = new Float64Array(n * 2 * c);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < c; j++) {
      const a = k[i * 2 * c + j];
      const base = (i * c + j) * s;
      let sgx = 0;
      let sg = 0;
      for (let t = 0; t < s; t++) {
        dx[base + t] = g[base + t] * a;
        sgx += g[base + t] * x[base + t];
        sg += g[base + t];
      }
      dk[i * 2 * c + j] = sgx;
      dk[i * 2 * c + c + j] = sg;
    }
  }
  return { dx, dk };
}
