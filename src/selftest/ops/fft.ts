/** The FFT: lines in one workgroup (all passes local) and one dispatch per pass, forward and inverse, against a float64 DFT. */
import { fft2d, ifft2d, fft1d } from '../../kernels/fft.js';
import type { SelftestCheck } from '../check.js';
import { dft2d, dftAxis, fftTolerance } from '../reference/fft.js';
import { forwardCheck, gpuTensor, gpuValues, randArray, shapesText, type Variant } from './common.js';

const VARIANTS: Variant[] = [
  { variant: 'one workgroup per line', tuning: { fft: { localMax: 1024 } } },
  { variant: 'one dispatch per pass', tuning: { fft: { localMax: 1 } } },
  { variant: 'local up to 16 points', quick: false, tuning: { fft: { localMax: 16 } } },
];

export function fftChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const cases: Array<{ b: number; h: number; w: number; quick?: boolean }> = [
    { b: 2, h: 32, w: 64, quick: true },
    { b: 1, h: 256, w: 16 },
    { b: 3, h: 1, w: 32 },
    { b: 1, h: 128, w: 128 },
  ];
  let seed = 8000;
  for (const v of VARIANTS) {
    for (const { b, h, w, quick } of cases) {
      const s = (seed += 1);
      const shape = [b, h, w, 2];
      out.push(
        forwardCheck({ op: 'fft2d', shapes: `${shapesText(shape)} complex`, quick }, v, async (cmp) => {
          const data = randArray(shape, s);
          cmp.add('fft2d', await gpuValues(() => fft2d(gpuTensor(data, shape))), dft2d(data, b, h, w), 0, fftTolerance(h * w, h, w));
          cmp.add('ifft2d', await gpuValues(() => ifft2d(gpuTensor(data, shape))), dft2d(data, b, h, w, true), 0, fftTolerance(h * w, h, w) / (h * w) + 1e-7);
        }),
      );
    }
    const [a, n, c] = [3, 64, 5];
    const shape = [a, n, c, 2];
    out.push(
      forwardCheck({ op: 'fft1d', shapes: `${shapesText(shape)} axis 1` }, v, async (cmp) => {
        const data = randArray(shape, seed + 500);
        cmp.add('fft1d', await gpuValues(() => fft1d(gpuTensor(data, shape), 1)), dftAxis(data, a, n, c, false), 0, fftTolerance(n, n, 1));
        cmp.add('ifft1d', await gpuValues(() => fft1d(gpuTensor(data, shape), 1, { inverse: true })), dftAxis(data, a, n, c, true), 0, fftTolerance(n, n, 1) / n);
      }),
    );
  }
  return out;
}
