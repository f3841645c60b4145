/** float64 DFT references of the FFT kernels. */

/** float64 DFT along one complex axis of an interleaved array viewed as [outer, n, inner, 2]. */
export function dftAxis(z: Float64Array, outer: number, n: number, inner: number, inverse: boolean): Float64Array {
  const out = new Float64Array(z.length);
  const sign = inverse ? 1 : -1;
  const cos = new Float64Array(n);
  const sin = new Float64Array(n);
  for (let m = 0; m < n; m++) {
    cos[m] = Math.cos((2 * Math.PI * m) / n);
    sin[m] = sign * Math.sin((2 * Math.PI * m) / n);
  }
  for (let o = 0; o < outer; o++) {
    for (let q = 0; q < inner; q++) {
      for (let u = 0; u < n; u++) {
        let re = 0;
        let im = 0;
        for (let x = 0; x < n; x++) {
          const m = (u * x) % n;
          const i = 2 * ((o * n + x) * inner + q);
          re += z[i] * cos[m] - z[i + 1] * sin[m];
          im += z[i] * sin[m] + z[i + 1] * cos[m];
        }
        const j = 2 * ((o * n + u) * inner + q);
        out[j] = inverse ? re / n : re;
        out[j + 1] = inverse ? im / n : im;
      }
    }
  }
  return out;
}

export function dft2d(z: Float64Array, b: number, h: number, w: number, inverse = false): Float64Array {
  return dftAxis(dftAxis(z, b * h, w, 1, inverse), b, h, w, inverse);
}

/** Absolute tolerance for an n-point FFT of values in [-1, 1]: f32 rounding grows like log2(n)·√(total). */
export function fftTolerance(total: number, h: number, w: number): number {
  return 4e-7 * Math.sqrt(total) * (Math.log2(h * w) + 1) + 1e-6;
}
