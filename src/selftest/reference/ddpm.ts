/**
 * float64 references of the diffusion ops: one reverse step (a·z_t + b·pred + σ·noise) and the
 * whole reverse chain of ddpmSampleFused (the denoiser MLP on Concat(Z_t, t/(10·T), c), then the
 * step, for t = T…1). The step coefficients come from `ddpmCoefficients` (checked against the
 * formulas in test/ddpm.test.ts).
 */

/** float64 a·zt + b·eps + σ·noise. */
export function refDdpmStep(zt: Float64Array, eps: Float64Array, coef: { a: number; b: number }, sigma = 0, noise?: Float64Array): Float64Array {
  return zt.map((z, i) => coef.a * z + coef.b * eps[i] + (noise ? sigma * noise[i] : 0));
}

/** A denoiser's weights as float64 arrays (PyTorch Linear layout: w [out, in]). */
export interface RefDenoiser {
  w1: Float64Array;
  b1: Float64Array;
  hidden: Array<{ w: Float64Array; b: Float64Array }>;
  w2: Float64Array;
  b2: Float64Array;
  /** Width W. */
  width: number;
}

function linearRows(x: Float64Array, rows: number, inF: number, w: Float64Array, b: Float64Array, outF: number, slope: number | null): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let s = b[o];
      for (let i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
      y[r * outF + o] = slope === null || s > 0 ? s : slope * s;
    }
  }
  return y;
}

/**
 * Ẑ_0 [B, C] from Z_T [B, C] and the condition c [B, C]: for t = T…1, pred = denoiser(Concat(Z_t,
 * t/(10·T), c)) with LeakyReLU(slope) after every layer but the last, then Z_{t−1} = a_t·Z_t + b_t·pred.
 */
export function refDdpmChain(zT: Float64Array, c: Float64Array, B: number, C: number, net: RefDenoiser, coefs: Array<{ a: number; b: number }>, slope = 0.1): Float64Array {
  const T = coefs.length;
  let z: Float64Array = Float64Array.from(zT);
  for (let t = T; t >= 1; t--) {
    const h0 = new Float64Array(B * (2 * C + 1));
    for (let r = 0; r < B; r++) {
      for (let i = 0; i < C; i++) h0[r * (2 * C + 1) + i] = z[r * C + i];
      h0[r * (2 * C + 1) + C] = t / (10 * T);
      for (let i = 0; i < C; i++) h0[r * (2 * C + 1) + C + 1 + i] = c[r * C + i];
    }
    let h = linearRows(h0, B, 2 * C + 1, net.w1, net.b1, net.width, slope);
    for (const l of net.hidden) h = linearRows(h, B, net.width, l.w, l.b, net.width, slope);
    const pred = linearRows(h, B, net.width, net.w2, net.b2, C, null);
    z = refDdpmStep(z, pred, coefs[t - 1]);
  }
  return z;
}
