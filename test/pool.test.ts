import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { avgPool2d, adaptiveAvgPool2d, tidy } from '../src/node.js';
// the float64 references are shared with `lrdif selftest`
import { avgPoolRef, adaptiveRef, type Shape4 } from '../src/selftest/reference/pool.js';

interface AvgCase {
  name: string;
  x: Shape4;
  k: number | [number, number];
  s?: number | [number, number];
  p?: number | [number, number];
}

const avgCases: AvgCase[] = [
  { name: '3×3 stride 2 pad 1 on 13×7', x: [3, 5, 13, 7], k: 3, s: 2, p: 1 },
  { name: '2×2, default stride (= kernel), 28×28', x: [1, 1, 28, 28], k: 2 },
  { name: 'rectangular kernel, stride and padding', x: [2, 3, 7, 5], k: [3, 2], s: [2, 1], p: [1, 0] },
  { name: '5×5 stride 3 pad 2, 6 channels', x: [3, 6, 5, 13], k: 5, s: 3, p: 2 },
  { name: 'overlapping windows, stride 1', x: [1, 3, 7, 7], k: 3, s: 1, p: 1 },
  { name: '1×1 kernel (identity)', x: [1, 3, 5, 7], k: 1 },
  { name: 'size-1 image', x: [1, 1, 1, 1], k: 1 },
  { name: 'size-1 image with padding', x: [3, 2, 1, 1], k: 2, s: 1, p: 1 },
  { name: '300 planes', x: [3, 100, 5, 5], k: 2, s: 2 },
  { name: 'empty batch', x: [0, 3, 5, 5], k: 2 },
];

describe('avgPool2d', () => {
  beforeAll(gpu);
  avgCases.forEach((c, i) => {
    it(`forward: ${c.name}`, async () => {
      const xd = randArray(c.x, 200 + i);
      const ref = avgPoolRef(xd, c.x, c.k, c.s, c.p);
      const x = gpuTensor(xd, c.x);
      const y = tidy(() => avgPool2d(x, c.k, c.s, c.p));
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.data(), ref.y, 1e-5, 1e-6, c.name);
      x.dispose();
      y.dispose();
    });
  });

  for (const c of [avgCases[0], avgCases[2], avgCases[4], avgCases[7]]) {
    it(`backward: ${c.name}`, async () => {
      const xs: Shape4 = [Math.min(c.x[0], 2), Math.min(c.x[1], 2), c.x[2], c.x[3]];
      await checkGradients({
        inputs: [{ data: randArray(xs, 7), shape: [...xs] }],
        gpuFn: (x) => avgPool2d(x, c.k, c.s, c.p),
        refFn: (x) => avgPoolRef(x, xs, c.k, c.s, c.p).y,
      });
    });
  }

  it('errors name the op and the shapes', () => {
    const x = gpuTensor(new Float64Array(2 * 3 * 4 * 5), [2, 3, 4, 5]);
    const x3 = gpuTensor(new Float64Array(3 * 4 * 5), [3, 4, 5]);
    try {
      expect(() => avgPool2d(x3, 2)).toThrow(/avgPool2d.*4-D.*\[3, 4, 5\]/);
      expect(() => avgPool2d(x, 6)).toThrow(/avgPool2d.*kernel 6×6.*larger than the padded input 4×5.*\[2, 3, 4, 5\]/);
      expect(() => avgPool2d(x, 3, 1, 2)).toThrow(/avgPool2d.*padding \[2, 2\].*at most half.*3×3.*\[2, 3, 4, 5\]/);
      expect(() => avgPool2d(x, 2, 0)).toThrow(/avgPool2d.*stride/);
      expect(() => avgPool2d(x, [2, 2, 2] as unknown as number)).toThrow(/avgPool2d.*kernel/);
    } finally {
      x.dispose();
      x3.dispose();
    }
  });
});

interface AdaptiveCase {
  name: string;
  x: Shape4;
  out: number | [number, number];
}

const adaptiveCases: AdaptiveCase[] = [
  { name: 'global (1×1)', x: [3, 5, 13, 7], out: 1 },
  { name: 'non-dividing bins, overlapping', x: [3, 5, 13, 7], out: [3, 2] },
  { name: 'same size (identity)', x: [1, 3, 5, 7], out: [5, 7] },
  { name: 'larger than the input (bins of one, repeated)', x: [2, 2, 5, 7], out: [7, 13] },
  { name: '28×28 → 6×6', x: [1, 2, 28, 28], out: 6 },
  { name: 'one row', x: [2, 1, 1, 5], out: [1, 3] },
  { name: 'empty batch', x: [0, 2, 5, 5], out: 2 },
];

describe('adaptiveAvgPool2d', () => {
  beforeAll(gpu);
  adaptiveCases.forEach((c, i) => {
    it(`forward: ${c.name}`, async () => {
      const xd = randArray(c.x, 300 + i);
      const ref = adaptiveRef(xd, c.x, c.out);
      const x = gpuTensor(xd, c.x);
      const y = tidy(() => adaptiveAvgPool2d(x, c.out));
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.data(), ref.y, 1e-5, 1e-6, c.name);
      x.dispose();
      y.dispose();
    });
  });

  for (const c of [
    adaptiveCases[1],
    adaptiveCases[3],
    { name: '7×5 → 3×4', x: [2, 2, 7, 5] as Shape4, out: [3, 4] as [number, number] },
    // sizes with common factors: bin edges fall exactly on input positions
    { name: '6×8 → 4×6', x: [1, 2, 6, 8] as Shape4, out: [4, 6] as [number, number] },
  ]) {
    it(`backward: ${c.name}`, async () => {
      await checkGradients({
        inputs: [{ data: randArray(c.x, 8), shape: [...c.x] }],
        gpuFn: (x) => adaptiveAvgPool2d(x, c.out),
        refFn: (x) => adaptiveRef(x, c.x, c.out).y,
      });
    });
  }

  it('errors name the op and the shapes', () => {
    const x = gpuTensor(new Float64Array(2 * 3 * 4 * 5), [2, 3, 4, 5]);
    const x2 = gpuTensor(new Float64Array(4 * 5), [4, 5]);
    const e = gpuTensor(new Float64Array(0), [1, 2, 0, 5]);
    try {
      expect(() => adaptiveAvgPool2d(x2, 2)).toThrow(/adaptiveAvgPool2d.*4-D.*\[4, 5\]/);
      expect(() => adaptiveAvgPool2d(x, 0)).toThrow(/adaptiveAvgPool2d.*output size/);
      expect(() => adaptiveAvgPool2d(e, 2)).toThrow(/adaptiveAvgPool2d.*\[1, 2, 0, 5\].*empty/);
    } finally {
      x.dispose();
      x2.dispose();
      e.dispose();
    }
  });
});
