/** float64 references of the degradations: the UDC (PSF convolution, flare, gain) and low light. */
import type { UdcParams, LowLightParams } from '../../data/degrade/index.js';

/** Reflect index as the pad op (mirror without repeating the edge, periodic beyond). */
export function reflect(t: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = t % period;
  if (m < 0) m += period;
  return m < n ? m : period - m;
}

/**
 * float64 convolvePsf: per image and channel, the convolution with the PSF (reflect padding);
 * `kernel` [3, k, k] is the flipped PSF psf.ts returns, so this is a true convolution with the
 * unflipped PSF.
 */
export function refConvolvePsf(x: ArrayLike<number>, n: number, h: number, w: number, kernel: ArrayLike<number>, k: number): Float64Array {
  const r = (k - 1) / 2;
  const out = new Float64Array(n * 3 * h * w);
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < 3; c++) {
      const plane = (b * 3 + c) * h * w;
      const psf = (dy: number, dx: number) => kernel[c * k * k + (r - dy) * k + (r - dx)];
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          let s = 0;
          for (let dy = -r; dy <= r; dy++) {
            for (let dx = -r; dx <= r; dx++) s += psf(dy, dx) * x[plane + reflect(y - dy, h) * w + reflect(xx - dx, w)];
          }
          out[plane + y * w + xx] = s;
        }
      }
    }
  }
  return out;
}

/**
 * float64 UDC without noise: per channel, y = clip(g·γ_c·(η_c·(PSF_c ∗ x) + (1 − η_c)·mean(x_c))),
 * the convolution with reflect padding; `kernel` is the flipped PSF psf.ts returns, so the
 * convolution is written as a true convolution with the unflipped PSF.
 */
export function refUdc(x: Float64Array, n: number, h: number, w: number, kernel: Float32Array, k: number, eta: number[] | null, params: UdcParams[]): Float64Array {
  const blurred = refConvolvePsf(x, n, h, w, kernel, k);
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < 3; c++) {
      const plane = (b * 3 + c) * h * w;
      let mean = 0;
      for (let i = 0; i < h * w; i++) mean += x[plane + i];
      mean /= h * w;
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          let s = blurred[plane + y * w + xx];
          if (eta) s = eta[c] * s + (1 - eta[c]) * mean;
          const v = params[b].gain * params[b].transmission[c] * s;
          out[plane + y * w + xx] = Math.min(1, Math.max(0, v));
        }
      }
    }
  }
  return out;
}

export function refLowLight(x: Float64Array, n: number, hw: number, params: LowLightParams[]): Float64Array {
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++) {
    const p = params[b];
    for (let c = 0; c < 3; c++) {
      const cast = p.colourCast ? p.colourCast[c] : 1;
      const a = Math.fround(p.exposure * cast);
      for (let i = 0; i < hw; i++) {
        const v = x[(b * 3 + c) * hw + i];
        out[(b * 3 + c) * hw + i] = Math.min(1, Math.max(0, a * Math.pow(v, p.gamma)));
      }
    }
  }
  return out;
}
