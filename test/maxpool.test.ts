import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray, rng } from './helpers/ref.js';
import { maxPool2d, maxPool2dBiasLeaky, tensor, type MaxPoolPadding } from '../src/node.js';
// the float64 references are shared with `lrdif selftest`
import { maxPoolRef, type Shape4 } from '../src/selftest/reference/maxpool.js';

/** Distinct values (a shuffled ramp, 0.01 apart) so finite differences never cross a tie. */
function distinct(size: number, seed: number): Float64Array {
  const r = rng(seed);
  const v = Float64Array.from({ length: size }, (_, i) => Math.fround((i - size / 2) * 0.01));
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [v[i], v[j]] = [v[j], v[i]];
  }
  return v;
}

interface Case {
  name: string;
  x: Shape4;
  k: number | [number, number];
  s?: number | [number, number];
  p: MaxPoolPadding;
}

const CASES: Case[] = [
  { name: "2×2 s2 'same' on odd sizes (the pad row after)", x: [2, 3, 207, 13], k: 2, s: 2, p: 'same' },
  { name: "2×2 s1 'same' (face-api's last pool)", x: [1, 5, 13, 13], k: 2, s: 1, p: 'same' },
  { name: "3×3 s2 'same' (padding before and after)", x: [1, 2, 10, 9], k: 3, s: 2, p: 'same' },
  { name: "3×2 s[2,1] 'valid'", x: [2, 1, 11, 6], k: [3, 2], s: [2, 1], p: 'valid' },
  { name: '3×3 s2 padding 1 (PyTorch)', x: [1, 3, 9, 8], k: 3, s: 2, p: 1 },
  { name: "1×1 s3 'same'", x: [1, 1, 5, 7], k: 1, s: 3, p: 'same' },
  { name: "5×5 'same' over a 1×1 image", x: [3, 2, 1, 1], k: 5, s: 1, p: 'same' },
  { name: 'empty batch', x: [0, 3, 4, 4], k: 2, s: 2, p: 'valid' },
];

describe('maxPool2d', () => {
  beforeAll(async () => {
    await gpu();
  });

  for (const cs of CASES) {
    it(`forward vs float64: ${cs.name}`, async () => {
      const size = cs.x.reduce((a, b) => a * b, 1);
      const data = randArray([size], 7, -3, 3);
      const ref = maxPoolRef(data, cs.x, cs.k, cs.s, cs.p);
      const x = gpuTensor(data, cs.x);
      const y = maxPool2d(x, cs.k, cs.s, cs.p);
      expect(y.shape).toEqual(ref.shape);
      // a max selects one of the inputs: exactly equal
      expect(Array.from(await y.data()), cs.name).toEqual(Array.from(ref.y));
      x.dispose();
      y.dispose();
    });
  }

  for (const cs of CASES.filter((c) => c.x.reduce((a, b) => a * b, 1) > 0 && c.x.reduce((a, b) => a * b, 1) < 3000)) {
    it(`backward vs finite differences: ${cs.name}`, async () => {
      const size = cs.x.reduce((a, b) => a * b, 1);
      await checkGradients({
        inputs: [{ data: distinct(size, 3), shape: cs.x }],
        gpuFn: (x) => maxPool2d(x, cs.k, cs.s, cs.p),
        refFn: (x) => maxPoolRef(x, cs.x, cs.k, cs.s, cs.p).y,
        h: 1e-3,
      });
    });
  }

  it('backward sends each window gradient to its first maximum on ties (TF and PyTorch)', async () => {
    // every value equal: each 2×2 window's gradient goes to its top-left cell
    const x = tensor(new Float32Array(16).fill(1), [1, 1, 4, 4]);
    x.requiresGrad = true;
    const y = maxPool2d(x, 2, 1, 'valid');
    const { backward } = await import('../src/node.js');
    backward(y, {
      grad: tensor(
        Float32Array.from({ length: 9 }, (_, i) => i + 1),
        [1, 1, 3, 3],
      ),
    });
    const g = Array.from(await x.grad!.data());
    expect(g).toEqual([1, 2, 3, 0, 4, 5, 6, 0, 7, 8, 9, 0, 0, 0, 0, 0]);
    x.grad!.dispose();
    x.dispose();
    y.dispose();
  });

  it('maxPool2dBiasLeaky equals max-pooling leaky(x + bias)', async () => {
    const shape: Shape4 = [2, 4, 27, 14];
    const size = shape.reduce((a, b) => a * b, 1);
    const data = randArray([size], 11, -2, 2);
    const b = randArray([4], 12, -1, 1);
    const pre = new Float64Array(size);
    for (let i = 0; i < size; i++) {
      const v = Math.fround(data[i] + b[Math.floor(i / (27 * 14)) % 4]);
      pre[i] = v >= 0 ? v : Math.fround(v * Math.fround(0.1));
    }
    const ref = maxPoolRef(pre, shape, 2, 2, 'same');
    const x = gpuTensor(data, shape);
    const bias = gpuTensor(b, [4]);
    const y = maxPool2dBiasLeaky(x, bias, 2, 2, 'same', 0.1);
    expect(y.shape).toEqual(ref.shape);
    expectClose(await y.data(), ref.y, 1e-6, 1e-7, 'fused');
    x.dispose();
    bias.dispose();
    y.dispose();
  });

  it('errors name the op and the shapes', () => {
    const x = tensor(new Float32Array(2 * 3 * 4 * 5), [2, 3, 4, 5]);
    expect(() => maxPool2d(tensor(new Float32Array(4), [2, 2]), 2)).toThrow(/maxPool2d: input must be 4-D \[N, C, H, W\], got \[2, 2\]/);
    expect(() => maxPool2d(x, 6)).toThrow(/maxPool2d: kernel 6 is larger than the input \(4\).*\[2, 3, 4, 5\]/);
    expect(() => maxPool2d(x, 2, 0)).toThrow(/maxPool2d: stride must be integers ≥ 1/);
    expect(() => maxPool2d(x, 2, 1, 2)).toThrow(/maxPool2d: padding \[2, 2\] must be at most half the kernel 2×2 \(input \[2, 3, 4, 5\]\)/);
    expect(() => maxPool2d(x, 2, 1, 'full' as unknown as MaxPoolPadding)).toThrow(/maxPool2d: padding must be 'valid', 'same'/);
    expect(() => maxPool2dBiasLeaky(x, tensor(new Float32Array(2), [2]), 2)).toThrow(/maxPool2dBiasLeaky: bias must be \[3\].*got \[2\]/);
    const xg = tensor(new Float32Array(2 * 3 * 4 * 5), [2, 3, 4, 5]);
    xg.requiresGrad = true;
    const b3 = tensor(new Float32Array(3), [3]);
    expect(() => maxPool2dBiasLeaky(xg, b3, 2)).toThrow(/maxPool2dBiasLeaky: inference only/);
    x.dispose();
    xg.dispose();
    b3.dispose();
  });
});
