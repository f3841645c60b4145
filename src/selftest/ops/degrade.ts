/**
 * The UDC degradation's PSF convolution (src/data/degrade/udc.ts): direct, and by FFT with the
 * images in one batch or split into batches of one frame (ctx.tuning.udc.fftBatchBytes).
 */
import { convolvePsf, type ConvolutionMethod } from '../../data/degrade/udc.js';
import type { SelftestCheck } from '../check.js';
import { refConvolvePsf } from '../reference/degrade.js';
import { DEFAULT_VARIANT, forwardCheck, gpuTensor, gpuValues, randArray, shapesText, type Variant } from './common.js';

const VARIANTS: Array<Variant & { method: ConvolutionMethod; quick?: boolean }> = [
  { ...DEFAULT_VARIANT, variant: 'direct', method: 'direct' },
  { ...DEFAULT_VARIANT, variant: 'FFT, one batch', method: 'fft', quick: true },
  // 128×64 frames of 3 planes are 192 KiB: one frame (two images) per batch
  { variant: 'FFT, one frame per batch', tuning: { udc: { fftBatchBytes: 200_000 } }, method: 'fft', quick: true },
];

export function degradeChecks(): SelftestCheck[] {
  const [n, h, w, k] = [3, 40, 33, 31];
  return VARIANTS.map((v) =>
    forwardCheck({ op: 'udcBlur', shapes: `${shapesText([n, 3, h, w])} PSF ${k}×${k}`, quick: v.quick }, v, async (cmp) => {
      const x = randArray([n, 3, h, w], 8, 0, 1);
      const kd = randArray([3, k, k], 9, 0, 1);
      // a PSF sums to one per channel: outputs stay in [0, 1]
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = 0; i < k * k; i++) s += kd[c * k * k + i];
        for (let i = 0; i < k * k; i++) kd[c * k * k + i] = Math.fround(kd[c * k * k + i] / s);
      }
      const got = await gpuValues(() => convolvePsf(gpuTensor(x, [n, 3, h, w]), gpuTensor(kd, [3, k, k]), v.method));
      cmp.add('blurred', got, refConvolvePsf(x, n, h, w, kd, k), 1e-5, 3e-6);
    }),
  );
}
