import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray, sizeOf } from './helpers/ref.js';
import { layerNorm, layerNormChannels, tensor, backward, engine, tidy, type Tensor } from '../src/node.js';
// the float64 references are shared with `lrdif selftest`
import { rowsView, channelsView, refNorm, refNormGrads } from '../src/selftest/reference/layernorm.js';

/**
 * The last-axis kernels' threads-per-row depends on the adapter (1–2 on lavapipe for these
 * rows); the row tests also run with the GPU setting and with one element per thread, so
 * the workgroup tree reductions (up to 256 threads per row) are exercised on every machine.
 */
const ROW_MODES: Array<{ label: string; perThread: number | null }> = [
  { label: 'threads per row chosen by adapter', perThread: null },
  { label: 'GPU setting (8 elements per thread)', perThread: 8 },
  { label: 'one element per thread (up to 256 threads per row)', perThread: 1 },
];

type Form = 'rows' | 'channels';
const run = (form: Form, x: Tensor, w: Tensor | null, b: Tensor | null, eps?: number) => (form === 'rows' ? layerNorm(x, w, b, eps) : layerNormChannels(x, w, b, eps));
const viewOf = (form: Form, shape: number[]) => (form === 'rows' ? rowsView(shape) : channelsView(shape));

async function forward(form: Form, shape: number[], withW: boolean, withB: boolean, seed: number, lo = -2, hi = 2, atol = 2e-5): Promise<void> {
  const v = viewOf(form, shape);
  const xd = randArray(shape, seed, lo, hi);
  const wd = withW ? randArray([v.d], seed + 1, 0.5, 1.5) : null;
  const bd = withB ? randArray([v.d], seed + 2, -1, 1) : null;
  const x = gpuTensor(xd, shape);
  const w = wd && gpuTensor(wd, [v.d]);
  const b = bd && gpuTensor(bd, [v.d]);
  const y = run(form, x, w, b);
  expect(y.shape).toEqual(shape);
  expectClose(await y.data(), refNorm(xd, wd, bd, v), 1e-4, atol, `${form} ${JSON.stringify(shape)} w=${withW} b=${withB}`);
  for (const t of [x, w, b, y]) t?.dispose();
}

async function gradCheck(form: Form, shape: number[], withW: boolean, withB: boolean): Promise<void> {
  const v = viewOf(form, shape);
  const seed = sizeOf(shape) * 7 + (withW ? 1 : 0) + (withB ? 2 : 0);
  const inputs = [{ data: randArray(shape, seed, -2, 2), shape }];
  if (withW) inputs.push({ data: randArray([v.d], seed + 1, 0.5, 1.5), shape: [v.d] });
  if (withB) inputs.push({ data: randArray([v.d], seed + 2, -1, 1), shape: [v.d] });
  await checkGradients({
    inputs,
    gpuFn: (x, ...rest) => run(form, x, withW ? rest[0] : null, withB ? rest[withW ? 1 : 0] : null),
    refFn: (x, ...rest) => refNorm(x, withW ? rest[0] : null, withB ? rest[withW ? 1 : 0] : null, v),
  });
}

/** Runs `f` and checks that the channel form took the four-pixel kernels exactly when H·W is a multiple of 4. */
async function expectColsEntries(shape: number[], f: () => Promise<void>): Promise<void> {
  const spy = vi.spyOn(await gpu(), 'dispatch');
  try {
    await f();
    const entries = spy.mock.calls.map(([req]) => ('label' in req ? req.label : `${req.shader}:${req.entry}`)).filter((e) => e.startsWith('layernorm:'));
    const suffix = (await gpu()).tuning.layerNorm.quads && (shape[2] * shape[3]) % 4 === 0 ? '_cols4' : '_cols';
    expect(entries).toEqual(['forward', 'backward', 'params'].map((e) => `layernorm:${e}${suffix}`));
  } finally {
    spy.mockRestore();
  }
}

/**
 * Larger cases against the analytic float64 gradient: these exercise the chunked (two-stage)
 * dweight/dbias reduction with several rows per chunk and several chunks.
 */
async function analyticGrads(form: Form, shape: number[]): Promise<void> {
  const v = viewOf(form, shape);
  const xd = randArray(shape, 7, -2, 2);
  const wd = randArray([v.d], 8, 0.5, 1.5);
  const gd = randArray(shape, 9, -1, 1);
  const x = gpuTensor(xd, shape, true);
  const w = gpuTensor(wd, [v.d], true);
  const b = gpuTensor(randArray([v.d], 10), [v.d], true);
  const g = gpuTensor(gd, shape);
  const y = run(form, x, w, b);
  backward(y, { grad: g });
  const ref = refNormGrads(xd, wd, gd, v);
  expectClose(await x.grad!.data(), ref.dx, 1e-3, 1e-4, 'dx');
  expectClose(await w.grad!.data(), ref.dw, 1e-4, 1e-3, 'dweight');
  expectClose(await b.grad!.data(), ref.db, 1e-4, 1e-3, 'dbias');
  for (const t of [x, w, b]) t.grad!.dispose();
  for (const t of [x, w, b, g, y]) t.dispose();
}

for (const mode of ROW_MODES) {
  describe(`layerNorm over the last axis (${mode.label})`, () => {
    let restore = () => {};
    beforeAll(async () => {
      await gpu();
      if (mode.perThread !== null) restore = (await gpu()).setTuning({ rowKernels: { perThread: mode.perThread } });
    });
    afterAll(() => {
      restore();
    });

    it('forward: D = 1, 7, 48, 257, 384 with and without weight/bias', async () => {
      let seed = 1;
      for (const shape of [[5, 1], [3, 4, 7], [67, 48], [3, 257], [9, 384], [384]]) {
        for (const [w, b] of [
          [true, true],
          [false, false],
          [true, false],
          [false, true],
        ]) {
          await forward('rows', shape, w, b, seed++);
        }
      }
    });
    it('forward: many rows (several rows per workgroup, partial last workgroup)', async () => {
      await forward('rows', [1100, 48], true, true, 31);
      await forward('rows', [3001, 3], true, true, 32);
    });
    it('forward: rows with a large common offset (variance computed around the mean)', async () => {
      // std ≈ 0.29 on values ≈ 1000: f32 rounding of the mean alone costs ~1e-3 in x̂, but
      // E[x²] − E[x]² would lose the variance entirely (E[x²] ≈ 1e6 has an ulp of 0.06)
      await forward('rows', [6, 50], true, true, 41, 1000, 1001, 3e-3);
    });
    for (const [shape, withW, withB] of [
      [[3, 7], true, true],
      [[2, 3, 5], false, false],
      [[2, 1], true, true],
      [[2, 300], true, true],
      [[3, 8], true, true],
      [[2, 12], false, true],
    ] as Array<[number[], boolean, boolean]>) {
      it(`backward ${JSON.stringify(shape)} weight=${withW} bias=${withB} vs finite differences`, async () => {
        await gradCheck('rows', shape, withW, withB);
      });
    }
    for (const shape of [
      [2000, 48],
      [40, 384],
    ]) {
      it(`backward ${JSON.stringify(shape)}: dx, dweight, dbias vs the float64 analytic gradient`, async () => {
        await analyticGrads('rows', shape);
      });
    }
  });
}

describe('layerNorm over the last axis: which kernels', () => {
  beforeAll(gpu);
  it('one thread per row and D a multiple of 4 take the four-feature kernels; quads off, the scalar ones', async () => {
    const ctx = await gpu();
    for (const quads of [true, false]) {
      const spy = vi.spyOn(ctx, 'dispatch');
      try {
        await ctx.withTuning({ layerNorm: { quads }, rowKernels: { perThread: 256 } }, () => analyticGrads('rows', [500, 48]));
        const entries = spy.mock.calls.map(([req]) => ('label' in req ? req.label : `${req.shader}:${req.entry}`)).filter((e) => e.startsWith('layernorm:'));
        expect(entries).toEqual(['forward', 'backward', 'params'].map((e) => `layernorm:${e}_rows${quads ? '4' : ''}`));
      } finally {
        spy.mockRestore();
      }
    }
  });
});

describe('layerNorm forward', () => {
  beforeAll(gpu);
  it('empty inputs', async () => {
    for (const shape of [
      [0, 7],
      [3, 0],
      [2, 0, 5],
    ]) {
      const x = gpuTensor(new Float64Array(0), shape);
      const y = layerNorm(x);
      expect(y.shape).toEqual(shape);
      expect((await y.data()).length).toBe(0);
      x.dispose();
      y.dispose();
    }
  });
});

describe('layerNormChannels forward', () => {
  beforeAll(gpu);
  it('NCHW with odd H·W, C = 1, 5, 48, with and without weight/bias', async () => {
    let seed = 100;
    for (const shape of [
      [2, 5, 3, 3],
      [1, 48, 7, 9],
      [3, 1, 5, 5],
      [2, 7, 1, 13],
    ]) {
      for (const [w, b] of [
        [true, true],
        [false, false],
        [true, false],
        [false, true],
      ]) {
        await forward('channels', shape, w, b, seed++);
      }
    }
  });
  it('1×1 pixels (falls back to the row kernel) and more pixels than one workgroup', async () => {
    await forward('channels', [3, 9, 1, 1], true, true, 120);
    await forward('channels', [2, 3, 17, 19], true, true, 121);
  });
  it('channels with a large common offset', async () => {
    await forward('channels', [2, 50, 3, 3], true, true, 42, 1000, 1001, 3e-3);
    await forward('channels', [2, 50, 4, 4], true, true, 43, 1000, 1001, 3e-3);
  });
  it('H·W a multiple of 4 takes the four-pixel kernel (C = 1, 5, 48; partial and several workgroups)', async () => {
    const spy = vi.spyOn(await gpu(), 'dispatch');
    try {
      let seed = 130;
      for (const shape of [
        [2, 5, 4, 6],
        [1, 48, 2, 2],
        [3, 1, 8, 4],
        [3, 4, 32, 36],
      ]) {
        for (const [w, b] of [
          [true, true],
          [false, false],
          [true, false],
        ]) {
          await forward('channels', shape, w, b, seed++);
        }
      }
      const entries = spy.mock.calls.map(([req]) => ('label' in req ? req.label : `${req.shader}:${req.entry}`));
      expect(entries.filter((e) => e === 'layernorm:forward_cols4')).toHaveLength(12);
      expect(entries.filter((e) => e === 'layernorm:forward_cols')).toHaveLength(0);
    } finally {
      spy.mockRestore();
    }
  });
  it('empty spatial axes', async () => {
    const x = gpuTensor(new Float64Array(0), [2, 3, 0, 4]);
    const y = layerNormChannels(x);
    expect(y.shape).toEqual([2, 3, 0, 4]);
    x.dispose();
    y.dispose();
  });
});

describe('layerNorm backward', () => {
  beforeAll(gpu);
  const cases: Array<[Form, number[], boolean, boolean]> = [
    ['rows', [4, 6], true, false],
    ['rows', [4, 6], false, true],
    ['channels', [2, 3, 2, 3], true, true],
    ['channels', [2, 4, 1, 1], true, true],
    ['channels', [1, 5, 3, 1], false, false],
    ['channels', [2, 3, 2, 4], true, true],
    ['channels', [1, 4, 4, 1], false, true],
  ];
  for (const [form, shape, withW, withB] of cases) {
    it(`${form} ${JSON.stringify(shape)} weight=${withW} bias=${withB} vs finite differences`, async () => {
      await gradCheck(form, shape, withW, withB);
    });
  }

  it('only weight/bias require a gradient (x is data)', async () => {
    const shape = [5, 4];
    await checkGradients({
      inputs: [
        { data: randArray(shape, 3), shape, grad: false },
        { data: randArray([4], 4, 0.5, 1.5), shape: [4] },
        { data: randArray([4], 5), shape: [4] },
      ],
      gpuFn: (x, w, b) => layerNorm(x, w, b),
      refFn: (x, w, b) => refNorm(x, w, b, rowsView(shape)),
    });
  });

  for (const shape of [
    [3, 5, 37, 29],
    [9, 48, 7, 9],
    [3, 5, 36, 28], // H·W a multiple of 4: the four-pixel kernels (300-pixel chunks too)
  ]) {
    it(`channels ${JSON.stringify(shape)}: dx, dweight, dbias vs the float64 analytic gradient`, async () => {
      await expectColsEntries(shape, () => analyticGrads('channels', shape));
    });
    // small chunks: several chunks per image, chunk edges inside an image, 256-pixel steps across images
    it(`channels ${JSON.stringify(shape)}, 300-pixel chunks: dx, dweight, dbias vs the float64 analytic gradient`, async () => {
      await (await gpu()).withTuning({ layerNorm: { pixelsPerChunk: 300 } }, () => expectColsEntries(shape, () => analyticGrads('channels', shape)));
    });
    it(`channels ${JSON.stringify(shape)}, one pixel per thread (quads off): dx, dweight, dbias vs the float64 analytic gradient`, async () => {
      await (await gpu()).withTuning({ layerNorm: { quads: false } }, () => expectColsEntries(shape, () => analyticGrads('channels', shape)));
    });
  }

  it('dweight is bitwise reproducible (no atomics)', async () => {
    const shape = [3000, 20];
    const xd = randArray(shape, 1);
    const gd = randArray(shape, 2);
    const grads: Float32Array[] = [];
    for (let k = 0; k < 2; k++) {
      const x = gpuTensor(xd, shape);
      const w = gpuTensor(randArray([20], 3), [20], true);
      const g = gpuTensor(gd, shape);
      const y = layerNorm(x, w);
      backward(y, { grad: g });
      grads.push((await w.grad!.data()) as Float32Array);
      w.grad!.dispose();
      for (const t of [x, w, g, y]) t.dispose();
    }
    expect(Array.from(grads[1])).toEqual(Array.from(grads[0]));
  });

  it('gradients of empty inputs: dx empty, dweight and dbias zero', async () => {
    const x = gpuTensor(new Float64Array(0), [0, 3], true);
    const w = gpuTensor([1, 2, 3], [3], true);
    const b = gpuTensor([1, 2, 3], [3], true);
    const y = layerNorm(x, w, b);
    backward(y, { grad: gpuTensor(new Float64Array(0), [0, 3]) });
    expect(x.grad!.shape).toEqual([0, 3]);
    expect(Array.from(await w.grad!.data())).toEqual([0, 0, 0]);
    expect(Array.from(await b.grad!.data())).toEqual([0, 0, 0]);
    for (const t of [x, w, b]) t.grad!.dispose();
    for (const t of [x, w, b, y]) t.dispose();
    engine.clearTape();
  });

  it('releases its buffers: repeated forward + backward leaves the live buffer count unchanged', async () => {
    const ctx = await gpu();
    const x = gpuTensor(randArray([6, 3, 5, 5], 1), [6, 3, 5, 5], true);
    const w = gpuTensor([1, 2, 3], [3], true);
    const step = () => {
      const y = tidy(() => layerNormChannels(x, w, null));
      backward(y, { grad: y });
      y.dispose();
      x.grad!.dispose();
      w.grad!.dispose();
      x.grad = null;
      w.grad = null;
    };
    step();
    await ctx.sync();
    const before = ctx.stats().liveBuffers;
    for (let i = 0; i < 3; i++) step();
    await ctx.sync();
    expect(ctx.stats().liveBuffers).toBe(before);
    x.dispose();
    w.dispose();
  });
});

describe('layerNorm errors', () => {
  beforeAll(gpu);
  it('weight or bias of the wrong shape names the op and the shapes', () => {
    const x = gpuTensor(new Float64Array(14), [2, 7]);
    const w5 = gpuTensor(new Float64Array(5), [5]);
    const w17 = gpuTensor(new Float64Array(7), [1, 7]);
    expect(() => layerNorm(x, w5)).toThrow(/layerNorm: weight has shape \[5\], expected \[7\] \(the last axis of input \[2, 7\]\)/);
    expect(() => layerNorm(x, null, w5)).toThrow(/layerNorm: bias has shape \[5\], expected \[7\]/);
    expect(() => layerNorm(x, w17)).toThrow(/layerNorm: weight has shape \[1, 7\], expected \[7\]/);
    const xc = gpuTensor(new Float64Array(2 * 3 * 4 * 5), [2, 3, 4, 5]);
    expect(() => layerNormChannels(xc, w5)).toThrow(/layerNormChannels: weight has shape \[5\], expected \[3\] \(the channel axis of input \[2, 3, 4, 5\]\)/);
    for (const t of [x, w5, w17, xc]) t.dispose();
  });
  it('channels form needs rank 4; last-axis form needs rank ≥ 1', () => {
    const x3 = gpuTensor(new Float64Array(24), [2, 3, 4]);
    const x5 = gpuTensor(new Float64Array(24), [1, 2, 3, 4, 1]);
    const x0 = tensor([1], []);
    expect(() => layerNormChannels(x3)).toThrow(/layerNormChannels: input must be \[N, C, H, W\] \(rank 4\), got tensor \[2, 3, 4\] f32/);
    expect(() => layerNormChannels(x5)).toThrow(/layerNormChannels: input must be \[N, C, H, W\] \(rank 4\), got tensor \[1, 2, 3, 4, 1\] f32/);
    expect(() => layerNorm(x0)).toThrow(/layerNorm: needs an input with at least one axis, got tensor \[\] f32/);
    for (const t of [x3, x5, x0]) t.dispose();
  });
  it('rejects i32 tensors and a bad eps', () => {
    const x = gpuTensor(new Float64Array(6), [2, 3]);
    const xi = tensor([1, 2, 3], [1, 3], 'i32');
    const wi = tensor([1, 2, 3], [3], 'i32');
    expect(() => layerNorm(xi)).toThrow(/layerNorm: input must be f32, got tensor \[1, 3\] i32/);
    expect(() => layerNorm(x, wi)).toThrow(/layerNorm: weight must be f32, got tensor \[3\] i32/);
    expect(() => layerNorm(x, null, null, -1)).toThrow(/layerNorm: eps must be a finite number ≥ 0, got -1/);
    expect(() => layerNorm(x, null, null, NaN)).toThrow(/layerNorm: eps/);
    for (const t of [x, xi, wi]) t.dispose();
  });
});
