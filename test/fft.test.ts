import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose, randArray, gpuTensor } from './helpers/ref.js';
import { fft2d, ifft2d, fft1d, realToComplex, complexReal, complexMul, complexAbs2 } from '../src/kernels/fft.js';
import { tensor } from '../src/node.js';
// the float64 references are shared with `lrdif selftest`
import { dft2d, dftAxis, fftTolerance as tol } from '../src/selftest/reference/fft.js';

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Both line paths run on every machine: per-pass (lines above localMax) and in one workgroup. */
const PATHS: Array<{ label: string; localMax: number }> = [
  { label: 'one workgroup per line', localMax: 1024 },
  { label: 'one dispatch per pass', localMax: 1 },
];

for (const path of PATHS)
  describe(`fft2d / ifft2d (${path.label})`, () => {
    let restore = () => {};
    beforeAll(async () => {
      restore = (await gpu()).setTuning({ fft: { localMax: path.localMax } });
    });
    afterAll(() => restore());

    const cases: Array<[number, number, number]> = [
      [1, 1, 1],
      [2, 2, 2],
      [3, 8, 8],
      [1, 64, 64],
      [1, 256, 256],
      [2, 16, 64],
      [1, 64, 16],
      [1, 1, 32],
      [1, 4, 1],
    ];
    for (const [b, h, w] of cases) {
      it(`matches a float64 DFT for [${b}, ${h}, ${w}] complex`, async () => {
        const data = randArray([b, h, w, 2], 1000 + h * 7 + w, -1, 1);
        const z = gpuTensor(data, [b, h, w, 2]);
        const y = fft2d(z);
        expect(y.shape).toEqual([b, h, w, 2]);
        const got = await y.data();
        const ref = dft2d(data, b, h, w);
        expectClose(got, ref, 0, tol(h * w, h, w), `fft2d [${b}, ${h}, ${w}]`);
        // the inverse of the reference spectrum gives the input back
        const back = ifft2d(y);
        expectClose(await back.data(), data, 0, 3e-7 * (Math.log2(h * w) + 1) + 1e-7, `ifft2d(fft2d(z)) [${b}, ${h}, ${w}]`);
        // the inverse alone matches the float64 inverse DFT
        const inv = ifft2d(z);
        expectClose(await inv.data(), dft2d(data, b, h, w, true), 0, tol(h * w, h, w) / (h * w) + 1e-7, `ifft2d [${b}, ${h}, ${w}]`);
        for (const t of [z, y, back, inv]) t.dispose();
      });
    }

    it('keeps leading batch axes and satisfies Parseval', async () => {
      const [b1, b2, h, w] = [2, 3, 32, 16];
      const data = randArray([b1, b2, h, w, 2], 5, -1, 1);
      const z = gpuTensor(data, [b1, b2, h, w, 2]);
      const y = fft2d(z);
      expect(y.shape).toEqual([b1, b2, h, w, 2]);
      const spec = await y.data();
      for (let k = 0; k < b1 * b2; k++) {
        let ex = 0;
        let ey = 0;
        const per = h * w * 2;
        for (let i = 0; i < per; i++) {
          ex += data[k * per + i] ** 2;
          ey += spec[k * per + i] ** 2;
        }
        // Σ|z|² = Σ|Z|² / (H·W)
        expect(Math.abs(ey / (h * w) - ex) / ex).toBeLessThan(2e-6);
      }
      z.dispose();
      y.dispose();
    });

    it('transforms a delta and a pure frequency exactly where theory says', async () => {
      const [h, w] = [16, 32];
      const data = new Float64Array(h * w * 2);
      // exp(2πi(3y/h + 5x/w)): the spectrum is h·w at (3, 5) and zero elsewhere
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const a = 2 * Math.PI * ((3 * y) / h + (5 * x) / w);
          data[2 * (y * w + x)] = Math.cos(a);
          data[2 * (y * w + x) + 1] = Math.sin(a);
        }
      }
      const z = gpuTensor(data, [h, w, 2]);
      const y = fft2d(z);
      const got = await y.data();
      const expected = new Float64Array(h * w * 2);
      expected[2 * (3 * w + 5)] = h * w;
      expectClose(got, expected, 0, 2e-4, 'pure frequency');
      z.dispose();
      y.dispose();
    });

    it('fft1d transforms one axis', async () => {
      const [a, n, c] = [3, 16, 5];
      const data = randArray([a, n, c, 2], 9, -1, 1);
      const z = gpuTensor(data, [a, n, c, 2]);
      const y0 = fft1d(z, 1);
      expectClose(await y0.data(), dftAxis(data, a, n, c, false), 0, tol(n, n, 1), 'fft1d axis 1');
      const y1 = fft1d(z, 1, { inverse: true });
      expectClose(await y1.data(), dftAxis(data, a, n, c, true), 0, tol(n, n, 1) / n, 'ifft1d axis 1');
      z.dispose();
      y0.dispose();
      y1.dispose();
      // c = 5 is not a power of two
      const z2 = gpuTensor(data, [a, n, c, 2]);
      expect(() => fft1d(z2, -1)).toThrow(/axis -1 of \[3, 16, 5, 2\] has size 5; the FFT needs a power of two/);
      z2.dispose();
    });

    it('names the shape at fault', async () => {
      const z = tensor(new Float32Array(12 * 2), [12, 1, 2]);
      expect(() => fft2d(z)).toThrow(/fft2d: \[12, 1, 2\] is 12×1 complex; both sizes must be powers of two/);
      const r = tensor(new Float32Array(8), [2, 4]);
      expect(() => fft2d(r)).toThrow(/fft2d: expected an interleaved complex tensor \[\.\.\., H, W, 2\]/);
      const g = tensor(new Float32Array(8), [2, 2, 2]);
      g.requiresGrad = true;
      expect(() => ifft2d(g)).toThrow(/not differentiable/);
      for (const t of [z, r, g]) t.dispose();
    });
  });

describe('complex helpers', () => {
  it('realToComplex pads into a frame and complexReal crops it back', async () => {
    await gpu();
    const data = randArray([2, 3, 5], 3, -1, 1);
    const x = gpuTensor(data, [2, 3, 5]);
    const z = realToComplex(x, [4, 8], [1, 2]);
    expect(z.shape).toEqual([2, 4, 8, 2]);
    const zd = await z.data();
    const expected = new Float64Array(2 * 4 * 8 * 2);
    for (let b = 0; b < 2; b++) for (let y = 0; y < 3; y++) for (let xx = 0; xx < 5; xx++) expected[2 * ((b * 4 + y + 1) * 8 + xx + 2)] = data[(b * 3 + y) * 5 + xx];
    expectClose(zd, expected, 0, 1e-30, 'realToComplex');
    const back = complexReal(z, [3, 5], [1, 2]);
    expectClose(await back.data(), data, 0, 1e-30, 'complexReal');
    expect(() => realToComplex(x, [2, 8], [0, 0])).toThrow(/a 3×5 block at \(0, 0\) does not fit a 2×8 frame/);
    for (const t of [x, z, back]) t.dispose();
  });

  it('complexMul broadcasts over the batch and complexAbs2 squares magnitudes', async () => {
    await gpu();
    const a = randArray([6, 4, 2], 11, -2, 2);
    const b = randArray([3, 4, 2], 12, -2, 2);
    const ta = gpuTensor(a, [6, 4, 2]);
    const tb = gpuTensor(b, [3, 4, 2]);
    const y = complexMul(ta, tb);
    const ref = new Float64Array(a.length);
    for (let i = 0; i < 24; i++) {
      const j = i % 12;
      ref[2 * i] = a[2 * i] * b[2 * j] - a[2 * i + 1] * b[2 * j + 1];
      ref[2 * i + 1] = a[2 * i] * b[2 * j + 1] + a[2 * i + 1] * b[2 * j];
    }
    expectClose(await y.data(), ref, 1e-6, 1e-6, 'complexMul');
    const yc = complexMul(ta, tb, { conjB: true });
    const refc = new Float64Array(a.length);
    for (let i = 0; i < 24; i++) {
      const j = i % 12;
      refc[2 * i] = a[2 * i] * b[2 * j] + a[2 * i + 1] * b[2 * j + 1];
      refc[2 * i + 1] = -a[2 * i] * b[2 * j + 1] + a[2 * i + 1] * b[2 * j];
    }
    expectClose(await yc.data(), refc, 1e-6, 1e-6, 'complexMul conj');
    yc.dispose();
    const m = complexAbs2(ta);
    expect(m.shape).toEqual([6, 4]);
    const mref = Array.from({ length: 24 }, (_, i) => a[2 * i] ** 2 + a[2 * i + 1] ** 2);
    expectClose(await m.data(), mref, 1e-6, 1e-7, 'complexAbs2');
    const bad = gpuTensor(new Float64Array(5 * 4 * 2), [5, 4, 2]);
    expect(() => complexMul(ta, bad)).toThrow(/complexMul: \[5, 4, 2\] cannot broadcast over \[6, 4, 2\]/);
    for (const t of [ta, tb, y, m, bad]) t.dispose();
    expect(maxAbs(ref)).toBeGreaterThan(0);
  });
});

describe('fft paths', () => {
  it('packRealPairs / unpackRealPairs put two images in one complex frame', async () => {
    await gpu();
    const { packRealPairs, unpackRealPairs } = await import('../src/kernels/fft.js');
    const [b, p, h, w] = [3, 2, 3, 5];
    const data = randArray([b, p, h, w], 17, -1, 1);
    const x = gpuTensor(data, [b, p, h, w]);
    const z = packRealPairs(x, [4, 8], [1, 2]);
    expect(z.shape).toEqual([2, p, 4, 8, 2]);
    const zd = await z.data();
    const expected = new Float64Array(zd.length);
    for (let i = 0; i < b; i++) {
      for (let c = 0; c < p; c++) {
        for (let y = 0; y < h; y++) {
          for (let xx = 0; xx < w; xx++) {
            expected[2 * ((((i >> 1) * p + c) * 4 + y + 1) * 8 + xx + 2) + (i & 1)] = data[((i * p + c) * h + y) * w + xx];
          }
        }
      }
    }
    expectClose(zd, expected, 0, 1e-30, 'packRealPairs');
    const back = unpackRealPairs(z, b, [h, w], [1, 2]);
    expectClose(await back.data(), data, 0, 1e-30, 'unpackRealPairs');
    for (const t of [x, z, back]) t.dispose();
  });
});
