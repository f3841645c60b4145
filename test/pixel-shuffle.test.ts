import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, gpuTensor, randArray } from './helpers/ref.js';
import { pixelShuffle, pixelUnshuffle, tidy } from '../src/node.js';

type Shape4 = [number, number, number, number];

/** out[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w], written as loops over the output. */
function shuffleRef(x: Float64Array, [n, cr, h, w]: Shape4, r: number): Float64Array {
  const c = cr / (r * r);
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let oy = 0; oy < h * r; oy++)
        for (let ox = 0; ox < w * r; ox++) {
          const src = ch * r * r + (oy % r) * r + (ox % r);
          out[((b * c + ch) * h * r + oy) * w * r + ox] = x[((b * cr + src) * h + Math.floor(oy / r)) * w + Math.floor(ox / r)];
        }
  return out;
}

/** The inverse, written as loops over its own output. */
function unshuffleRef(x: Float64Array, [n, c, hr, wr]: Shape4, r: number): Float64Array {
  const h = hr / r;
  const w = wr / r;
  const out = new Float64Array(x.length);
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < c * r * r; oc++)
      for (let y = 0; y < h; y++)
        for (let xx = 0; xx < w; xx++) {
          const ch = Math.floor(oc / (r * r));
          const i = Math.floor(oc / r) % r;
          const j = oc % r;
          out[((b * c * r * r + oc) * h + y) * w + xx] = x[((b * c + ch) * hr + y * r + i) * wr + xx * r + j];
        }
  return out;
}

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
