import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray } from './helpers/ref.js';
import {
  Generator,
  philox4x32,
  randomBits,
  randomUniform,
  randomNormal,
  randomInt,
  manualSeed,
  defaultGenerator,
  dropout,
  backward,
  tensor,
  tidy,
  engine,
  type Tensor,
} from '../src/node.js';

const TWO32 = 4294967296;

/** The Philox words of a draw of n elements at (seed, offset), from the host Philox. */
function hostWords(seed: number, offset: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  const key: [number, number] = [seed % TWO32, Math.floor(seed / TWO32)];
  for (let j = 0; j * 4 < n; j++) {
    const ctr = offset + j;
    const w = philox4x32([ctr % TWO32, Math.floor(ctr / TWO32), 0, 0], key);
    for (let k = 0; k < 4 && 4 * j + k < n; k++) out[4 * j + k] = w[k];
  }
  return out;
}

const unit = (w: number) => (w >>> 8) * 2 ** -24;

/** Box–Muller exactly as documented in random.ts, in float64, for n elements (whole blocks of `words`). */
function hostNormal(words: Uint32Array, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let j = 0; j * 4 < n; j++) {
    const w = [0, 1, 2, 3].map((k) => words[4 * j + k]);
    for (let pair = 0; pair < 2; pair++) {
      const u1 = ((w[2 * pair] >>> 8) + 1) * 2 ** -24;
      const theta = 2 * Math.PI * (unit(w[2 * pair + 1]) - 0.5);
      const r = Math.sqrt(-2 * Math.log(u1));
      const i = 4 * j + 2 * pair;
      if (i < out.length) out[i] = r * Math.cos(theta);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(theta);
    }
  }
  return out;
}

async function take(t: Tensor): Promise<Float32Array | Int32Array> {
  const d = await t.data();
  t.dispose();
  return d;
}

describe('philox4x32 (host)', () => {
  it('matches the Random123 known-answer vectors for Philox4x32-10', () => {
    // Random123 tests/kat_vectors: counter[4] key[2] -> output[4]
    const kat: Array<[[number, number, number, number], [number, number], number[]]> = [
      [
        [0, 0, 0, 0],
        [0, 0],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
      ],
      [
        [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
        [0xffffffff, 0xffffffff],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
      ],
      [
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
      ],
    ];
    for (const [ctr, key, want] of kat) expect(philox4x32(ctr, key)).toEqual(want);
  });
});

describe('random draws on the GPU', () => {
  beforeAll(gpu);

  it('randomBits equals the host Philox bit for bit (awkward sizes, large seeds, counter carry)', async () => {
    const cases: Array<{ seed: number; offset: number; shape: number[] }> = [
      { seed: 0, offset: 0, shape: [1] },
      { seed: 12345, offset: 7, shape: [3, 343] },
      { seed: 2 ** 53 - 1, offset: 0, shape: [1027] },
      // the first counters cross 2^32: the carry into the high counter word
      { seed: 42, offset: TWO32 - 3, shape: [4, 5] },
      { seed: 2 ** 53, offset: 2 ** 40 + 5, shape: [2, 0, 3] },
    ];
    for (const { seed, offset, shape } of cases) {
      const gen = new Generator(seed);
      gen.setState({ seed, offset });
      const got = new Uint32Array((await take(randomBits(shape, { generator: gen }))).buffer);
      const n = shape.reduce((a, b) => a * b, 1);
      expect(Array.from(got), `seed ${seed} offset ${offset}`).toEqual(Array.from(hostWords(seed, offset, n)));
      expect(gen.getState().offset).toBe(offset + Math.ceil(n / 4));
    }
  });

  it('randomUniform [0, 1) is exactly (w >>> 8)·2^-24', async () => {
    const gen = new Generator(99);
    const got = await take(randomUniform([5, 201], { generator: gen }));
    const want = Array.from(hostWords(99, 0, 1005), unit);
    expect(Array.from(got)).toEqual(want);
  });

  it('randomUniform [low, high) follows the f32 formula and never reaches high', async () => {
    const gen = new Generator(5);
    const got = await take(randomUniform([3001], { low: -2.5, high: 7.25, generator: gen }));
    const words = hostWords(5, 0, 3001);
    const want = Array.from(words, (w) => Math.fround(-2.5 + Math.fround(9.75 * unit(w))));
    // the GPU may fuse low + range·u into one rounding: allow one f32 ulp (≤ 2^-21 here)
    expectClose(got, want, 0, 2 ** -20, 'uniform [-2.5, 7.25)');
    expect(Math.min(...got)).toBeGreaterThanOrEqual(-2.5);
    expect(Math.max(...got)).toBeLessThan(7.25);

    // an interval one ulp wide: low + range·u rounds to high for u ≥ 1/2, which must be clamped
    const high = 1 + 2 ** -23;
    const narrow = await take(randomUniform([1000], { low: 1, high, generator: gen }));
    expect(Array.from(narrow).every((v) => v === 1)).toBe(true);
  });

  it('randomNormal follows Box–Muller on the host words', async () => {
    const gen = new Generator(2024);
    gen.setState({ seed: 2024, offset: 11 });
    const got = await take(randomNormal([7, 143], { generator: gen }));
    // 1001 elements use 251 whole blocks; the last element's pair partner is word 1001
    const want = hostNormal(hostWords(2024, 11, 1004), 1001);
    // f32 log, sin, cos and the f32 angle: measured worst |error| 2e-5 over 2^20 draws
    expectClose(got, want, 1e-5, 4e-5, 'normal');

    const gen2 = new Generator(2024);
    gen2.setState({ seed: 2024, offset: 11 });
    const shifted = await take(randomNormal([1001], { mean: 3, std: 0.5, generator: gen2 }));
    expectClose(
      shifted,
      Array.from(want, (z) => 3 + 0.5 * z),
      1e-5,
      2e-5,
      'normal(3, 0.5)',
    );
  });

  it('randomInt equals low + ⌊w·(high − low)/2^32⌋ exactly', async () => {
    const ranges: Array<[number, number]> = [
      [0, 10],
      [-5, 3],
      [0, 2 ** 31],
      [-(2 ** 31), 2 ** 31],
      [7, 8],
    ];
    for (const [low, high] of ranges) {
      const gen = new Generator(31337);
      const got = await take(randomInt([3, 67], low, high, { generator: gen }));
      const range = BigInt(high - low);
      const want = Array.from(hostWords(31337, 0, 201), (w) => low + Number((BigInt(w) * range) >> 32n));
      expect(Array.from(got), `[${low}, ${high})`).toEqual(want);
      expect(Math.min(...got)).toBeGreaterThanOrEqual(low);
      expect(Math.max(...got)).toBeLessThan(high);
    }
  });

  it('results depend only on (seed, offset, index), not on the size of the draw', async () => {
    const a = new Generator(8);
    const b = new Generator(8);
    const small = await take(randomUniform([10], { generator: a }));
    const large = await take(randomUniform([100003], { generator: b }));
    expect(Array.from(small)).toEqual(Array.from(large.subarray(0, 10)));
  });

  it('same seed gives the same bytes; other seeds and offsets give other numbers', async () => {
    const g1 = new Generator(1);
    const g2 = new Generator(1);
    const a = await take(randomNormal([1000], { generator: g1 }));
    const b = await take(randomNormal([1000], { generator: g2 }));
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);

    // the second draw of a generator continues at a new offset
    const next = await take(randomNormal([1000], { generator: g1 }));
    const other = await take(randomNormal([1000], { generator: new Generator(2) }));
    for (const c of [next, other]) {
      let same = 0;
      for (let i = 0; i < 1000; i++) if (c[i] === a[i]) same++;
      expect(same).toBeLessThan(5);
    }
  });

  it('getState/setState resume the exact sequence; manualSeed resets the default generator', async () => {
    const gen = new Generator(77);
    (await take(randomUniform([13], { generator: gen }))).fill(0);
    const saved = gen.getState();
    expect(saved).toEqual({ seed: 77, offset: 4 });
    const first = await take(randomNormal([50], { generator: gen }));
    const restored = new Generator(0);
    restored.setState(saved);
    const again = await take(randomNormal([50], { generator: restored }));
    expect(Array.from(again)).toEqual(Array.from(first));

    manualSeed(123);
    expect(defaultGenerator().getState()).toEqual({ seed: 123, offset: 0 });
    const d1 = await take(randomUniform([9]));
    manualSeed(123);
    const d2 = await take(randomUniform([9]));
    expect(Array.from(d2)).toEqual(Array.from(d1));
    expect(Array.from(d1)).toEqual(Array.from(hostWords(123, 0, 9), unit));
  });

  it('10^6 uniforms: mean, variance, range and a 100-bin chi-square', async () => {
    const n = 1_000_000;
    const u = await take(randomUniform([n], { generator: new Generator(2718) }));
    let s = 0;
    let s2 = 0;
    let lo = Infinity;
    let hi = -Infinity;
    const bins = new Array(100).fill(0);
    for (const v of u) {
      s += v;
      s2 += v * v;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      bins[Math.floor(v * 100)]++;
    }
    const m = s / n;
    const variance = s2 / n - m * m;
    // 5 standard errors: sd(mean) = sqrt(1/12/n), sd(var) = sqrt((1/80 − 1/144)/n)
    expect(Math.abs(m - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(variance - 1 / 12)).toBeLessThan(5 * Math.sqrt((1 / 80 - 1 / 144) / n));
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThan(1);
    expect(lo).toBeLessThan(1e-4);
    expect(hi).toBeGreaterThan(1 - 1e-4);
    const e = n / 100;
    const chi2 = bins.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
    // 99 degrees of freedom: mean 99, sd 14
    expect(chi2).toBeLessThan(99 + 5 * 14);
  });

  it('10^6 normals: moments and tail frequencies', async () => {
    const n = 1_000_000;
    const z = await take(randomNormal([n], { generator: new Generator(31415) }));
    let s = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    const tails = [0, 0, 0]; // |z| > 2, 3, 4
    for (const v of z) {
      s += v;
      s2 += v * v;
      s3 += v * v * v;
      s4 += v * v * v * v;
      const a = Math.abs(v);
      if (a > 2) tails[0]++;
      if (a > 3) tails[1]++;
      if (a > 4) tails[2]++;
    }
    const m = s / n;
    expect(Math.abs(m)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s2 / n - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(s3 / n)).toBeLessThan(5 * Math.sqrt(15 / n));
    expect(Math.abs(s4 / n - 3)).toBeLessThan(5 * Math.sqrt(96 / n));
    // two-sided normal tail probabilities P(|Z| > k)
    const p = [0.04550026389635842, 0.0026997960632601866, 6.334248366623996e-5];
    for (let k = 0; k < 3; k++) {
      const expected = n * p[k];
      expect(Math.abs(tails[k] - expected), `|z| > ${k + 2}: ${tails[k]} vs ${expected.toFixed(1)}`).toBeLessThan(5 * Math.sqrt(expected));
    }
    // Box–Muller from 24-bit u1 bounds |z| by sqrt(48 ln 2)
    let largest = 0;
    for (const v of z) largest = Math.max(largest, Math.abs(v));
    expect(largest).toBeLessThanOrEqual(Math.sqrt(48 * Math.LN2) + 1e-5);
  });

  it('randomInt histogram is flat (chi-square over 10 values)', async () => {
    const n = 200_000;
    const x = await take(randomInt([n], -3, 7, { generator: new Generator(11) }));
    const bins = new Array(10).fill(0);
    for (const v of x) bins[v + 3]++;
    const e = n / 10;
    const chi2 = bins.reduce((acc, c) => acc + (c - e) ** 2 / e, 0);
    // 9 degrees of freedom: mean 9, sd 4.24
    expect(chi2).toBeLessThan(9 + 5 * 4.25);
  });

  it('rejects bad seeds, states and arguments, naming the op', () => {
    expect(() => new Generator(-1)).toThrow(/Generator: seed must be an integer in \[0, 2\^53\], got -1/);
    expect(() => new Generator(1.5)).toThrow(/Generator: seed/);
    expect(() => new Generator(2 ** 53 + 2)).toThrow(/Generator: seed/);
    const g = new Generator(0);
    expect(() => g.setState({ seed: 0, offset: -3 })).toThrow(/setState: offset/);
    expect(() => g.advance(0.5)).toThrow(/advance/);
    g.setState({ seed: 0, offset: 2 ** 53 - 1 });
    expect(() => g.advance(2)).toThrow(/would pass 2\^53/);
    expect(() => manualSeed(NaN)).toThrow(/manualSeed: seed/);
    expect(() => randomUniform([2, 3], { low: 1, high: 1 })).toThrow(/randomUniform: .*low 1, high 1 \(shape \[2, 3\]\)/);
    expect(() => randomUniform([2], { low: -3e38, high: 3e38 })).toThrow(/randomUniform/);
    expect(() => randomNormal([4], { std: -1 })).toThrow(/randomNormal: .*std -1 \(shape \[4\]\)/);
    expect(() => randomInt([4], 5, 5)).toThrow(/randomInt: .*low 5, high 5 \(shape \[4\]\)/);
    expect(() => randomInt([4], 0, 2 ** 32)).toThrow(/randomInt/);
    expect(() => randomInt([4], 0.5, 3)).toThrow(/randomInt/);
    expect(() => randomUniform([2, -1])).toThrow(/randomUniform: invalid shape \[2, -1\]/);
  });
});

// ---------------------------------------------------------------- dropout

/** Host dropout: keep when (w >>> 8) ≥ ⌈p·2^24⌉, scale by the f32 1/(1 − p). */
function hostDropout(x: ArrayLike<number>, p: number, seed: number, offset: number): Float64Array {
  const words = hostWords(seed, offset, x.length);
  const threshold = Math.ceil(p * 2 ** 24);
  const scale = p === 1 ? 0 : Math.fround(1 / (1 - p));
  return Float64Array.from(words, (w, i) => (w >>> 8 >= threshold ? Math.fround(Math.fround(x[i]) * scale) : 0));
}

describe('dropout', () => {
  beforeAll(gpu);

  it('equals the host reference built from philox4x32 exactly (awkward shape)', async () => {
    const shape = [3, 37, 5];
    const x = randArray(shape, 1, -2, 2);
    const gen = new Generator(555);
    gen.setState({ seed: 555, offset: 1000 });
    const xt = gpuTensor(x, shape);
    const y = await take(dropout(xt, 0.3, { generator: gen }));
    expect(Array.from(y)).toEqual(Array.from(hostDropout(x, 0.3, 555, 1000)));
    expect(gen.getState().offset).toBe(1000 + Math.ceil(555 / 4));
    // a second call draws a new mask
    const y2 = await take(dropout(xt, 0.3, { generator: gen }));
    expect(Array.from(y2)).toEqual(Array.from(hostDropout(x, 0.3, 555, 1000 + 139)));
    expect(Array.from(y2)).not.toEqual(Array.from(y));
    xt.dispose();
  });

  it('gradient is mask·scale·g, regenerated from the same counters', async () => {
    const shape = [13, 21];
    const x = randArray(shape, 2);
    const g = randArray(shape, 3);
    const xt = gpuTensor(x, shape, true);
    const gt = gpuTensor(g, shape);
    const gen = new Generator(9);
    const y = tidy(() => dropout(xt, 0.45, { generator: gen }));
    // another draw between forward and backward must not change the mask
    (await take(randomUniform([100], { generator: gen }))).fill(0);
    backward(y, { grad: gt });
    const want = hostDropout(g, 0.45, 9, 0);
    expect(Array.from(await xt.grad!.data())).toEqual(Array.from(want));
    y.dispose();
    gt.dispose();
    xt.grad!.dispose();
    xt.dispose();
  });

  it('backward matches finite differences', async () => {
    const shape = [5, 9];
    await checkGradients({
      inputs: [{ data: randArray(shape, 4), shape }],
      gpuFn: (x) => dropout(x, 0.5, { generator: new Generator(1234) }),
      refFn: (x) => hostDropout(x, 0.5, 1234, 0),
    });
  });

  it('is the identity (no counters used) when p = 0 or not training; p = 1 gives zeros', async () => {
    const shape = [4, 7];
    const x = randArray(shape, 5);
    const xt = gpuTensor(x, shape, true);
    const gen = new Generator(3);
    for (const [p, training] of [
      [0, true],
      [0.5, false],
    ] as const) {
      const y = dropout(xt, p, { training, generator: gen });
      expect(Array.from(await y.data())).toEqual(Array.from(x, Math.fround));
      expect(gen.getState().offset).toBe(0);
      backward(y, { grad: gpuTensor(x, shape) });
      expect(Array.from(await xt.grad!.data())).toEqual(Array.from(x, Math.fround));
      xt.grad!.dispose();
      xt.grad = null;
      y.dispose();
    }
    const z = dropout(xt, 1, { generator: gen });
    expect(Array.from(await z.data()).every((v) => v === 0)).toBe(true);
    backward(z, { grad: gpuTensor(x, shape) });
    expect(Array.from(await xt.grad!.data()).every((v) => v === 0)).toBe(true);
    xt.grad!.dispose();
    z.dispose();
    xt.dispose();
    engine.clearTape();
  });

  it('keeps a fraction 1 − p and preserves the mean in expectation', async () => {
    const n = 100_003;
    const x = tensor(new Float32Array(n).fill(1), [n]);
    const y = await take(dropout(x, 0.25, { generator: new Generator(17) }));
    let kept = 0;
    let total = 0;
    let wrongScale = 0;
    for (const v of y) {
      if (v !== 0) {
        kept++;
        if (v !== Math.fround(1 / 0.75)) wrongScale++;
      }
      total += v;
    }
    expect(wrongScale).toBe(0);
    const sd = Math.sqrt((0.25 * 0.75) / n);
    expect(Math.abs(kept / n - 0.75)).toBeLessThan(5 * sd);
    expect(Math.abs(total / n - 1)).toBeLessThan((5 * sd) / 0.75);
    x.dispose();
  });

  it('rejects p outside [0, 1] and non-f32 input, naming the op and the shape', () => {
    const x = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    for (const p of [-0.1, 1.5, NaN]) {
      expect(() => dropout(x, p)).toThrow(new RegExp(`dropout: p must be a probability in \\[0, 1\\], got ${p} \\(input tensor \\[2, 3\\] f32\\)`));
    }
    const xi = tensor([1, 2], [2], 'i32');
    expect(() => dropout(xi, 0.5)).toThrow(/dropout: input must be f32, got tensor \[2\] i32/);
    x.dispose();
    xi.dispose();
  });
});
