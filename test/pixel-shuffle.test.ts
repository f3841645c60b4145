import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, gpuTensor, randArray } from './helpers/ref.js';
import { pixelShuffle, pixelUnshuffle, tidy } from '../src/node.js';
// the float64 references are shared with `lrdif selftest`
import { shuffleRef, unshuffleRef, type Shape4 } from '../src/selftest/reference/pixel-shuffle.js';

const cases: Array<{ x: Shape4; r: number }> = [
  { x: [2, 8, 3, 5], r: 2 },
  { x: [1, 9, 1, 1], r: 3 },
  { x: [3, 4, 7, 1], r: 2 },
  { x: [1, 18, 5, 7], r: 3 },
  { x: [2, 3, 4, 5], r: 1 },
  { x: [0, 4, 2, 2], r: 2 },
];

describe('pixelShuffle / pixelUnshuffle', () => {
  beforeAll(gpu);
  cases.forEach((c, k) => {
    it(`shuffle ${JSON.stringify(c.x)} r=${c.r}, and back`, async () => {
      const xd = randArray(c.x, 400 + k);
      const x = gpuTensor(xd, c.x);
      const y = tidy(() => pixelShuffle(x, c.r));
      const back = tidy(() => pixelUnshuffle(y, c.r));
      const outShape: Shape4 = [c.x[0], c.x[1] / (c.r * c.r), c.x[2] * c.r, c.x[3] * c.r];
      expect(y.shape).toEqual(outShape);
      // a permutation moves values unchanged: exact equality
      expect(Array.from(await y.data())).toEqual(Array.from(Float32Array.from(shuffleRef(xd, c.x, c.r))));
      expect(back.shape).toEqual(c.x);
      expect(Array.from(await back.data())).toEqual(Array.from(Float32Array.from(xd)));
      for (const t of [x, y, back]) t.dispose();
    });
  });

  it('unshuffle matches its own reference', async () => {
    const xs: Shape4 = [2, 3, 6, 4];
    const xd = randArray(xs, 410);
    const x = gpuTensor(xd, xs);
    const y = tidy(() => pixelUnshuffle(x, 2));
    expect(y.shape).toEqual([2, 12, 3, 2]);
    expect(Array.from(await y.data())).toEqual(Array.from(Float32Array.from(unshuffleRef(xd, xs, 2))));
    x.dispose();
    y.dispose();
  });

  it('backward of each is the other (finite differences)', async () => {
    const xs: Shape4 = [2, 8, 3, 2];
    await checkGradients({
      inputs: [{ data: randArray(xs, 420), shape: [...xs] }],
      gpuFn: (x) => pixelShuffle(x, 2),
      refFn: (x) => shuffleRef(x, xs, 2),
    });
    const us: Shape4 = [1, 2, 6, 3];
    await checkGradients({
      inputs: [{ data: randArray(us, 421), shape: [...us] }],
      gpuFn: (x) => pixelUnshuffle(x, 3),
      refFn: (x) => unshuffleRef(x, us, 3),
    });
  });

  it('errors name the op and the shapes', () => {
    const x = gpuTensor(new Float64Array(1 * 6 * 4 * 5), [1, 6, 4, 5]);
    const x3 = gpuTensor(new Float64Array(8 * 4 * 4), [8, 4, 4]);
    try {
      expect(() => pixelShuffle(x, 2)).toThrow(/pixelShuffle.*channels 6.*\[1, 6, 4, 5\].*r² = 4/);
      expect(() => pixelUnshuffle(x, 2)).toThrow(/pixelUnshuffle.*\[1, 6, 4, 5\].*divisible by r = 2/);
      expect(() => pixelShuffle(x3, 2)).toThrow(/pixelShuffle.*4-D.*\[8, 4, 4\]/);
      expect(() => pixelShuffle(x, 0)).toThrow(/pixelShuffle.*positive integer/);
    } finally {
      x.dispose();
      x3.dispose();
    }
  });
});
