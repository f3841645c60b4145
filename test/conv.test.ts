import { describe, it, expect, beforeAll, afterAll, vi } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { conv2d, tidy, backward, sum, mul, type Conv2dOptions, type Tensor, type TuningPatch } from '../src/node.js';
// the float64 references are shared with `lrdif selftest`
import { refOpts, convRef, outShape, type Shape4 } from '../src/selftest/reference/conv.js';

interface Case {
  name: string;
  x: Shape4;
  w: Shape4;
  bias?: boolean;
  opts?: Conv2dOptions;
  /** Expected output shape, where the case is about the geometry. */
  out?: Shape4;
}

const forwardCases: Case[] = [
  { name: '1×1 path with bias, batch 3', x: [3, 6, 7, 5], w: [8, 6, 1, 1], bias: true },
  { name: '1×1 path without bias, batch 1', x: [1, 3, 13, 13], w: [5, 3, 1, 1] },
  { name: '1×1 with stride 2 (general path)', x: [1, 3, 7, 7], w: [5, 3, 1, 1], opts: { stride: 2 }, out: [1, 5, 4, 4] },
  { name: '3×3 pad 1, batch 3, bias', x: [3, 3, 13, 13], w: [8, 3, 3, 3], bias: true, opts: { padding: 1 } },
  { name: '3×3 valid, O = 5', x: [1, 6, 7, 5], w: [5, 6, 3, 3], opts: { padding: 'valid' }, out: [1, 5, 5, 3] },
  { name: '28×28, C = 6, O = 8', x: [1, 6, 28, 28], w: [8, 6, 3, 3], bias: true, opts: { padding: 1 } },
  { name: 'single input and output channel', x: [3, 1, 13, 7], w: [1, 1, 3, 3], opts: { padding: 1 } },
  { name: '[ph, pw] padding', x: [3, 1, 5, 7], w: [1, 1, 3, 3], opts: { padding: [1, 2] }, out: [3, 1, 5, 9] },
  { name: 'asymmetric explicit padding, 5×5', x: [1, 3, 7, 13], w: [5, 3, 5, 5], opts: { padding: [2, 0, 1, 3] }, out: [1, 5, 5, 13] },
  // TF SAME: 28 → 14 needs 1 pad row, all at the bottom/right
  { name: 'TF SAME stride 2 on even size (asymmetric)', x: [1, 3, 28, 28], w: [8, 3, 3, 3], bias: true, opts: { stride: 2, padding: 'same' }, out: [1, 8, 14, 14] },
  // 13 with k = 4: total pad 3 → 1 top, 2 bottom; width 6 with k = 3: total 1 → 0 left, 1 right
  { name: 'TF SAME stride 2 on odd size (asymmetric)', x: [3, 3, 13, 6], w: [5, 3, 4, 3], opts: { stride: 2, padding: 'same' }, out: [3, 5, 7, 3] },
  { name: 'TF SAME stride 1, even kernel', x: [1, 3, 7, 5], w: [5, 3, 2, 2], opts: { padding: 'same' }, out: [1, 5, 7, 5] },
  { name: 'dilation 2', x: [1, 3, 13, 13], w: [5, 3, 3, 3], opts: { dilation: 2, padding: 2 }, out: [1, 5, 13, 13] },
  { name: 'dilation [2, 1], stride [1, 2], TF SAME', x: [3, 3, 7, 13], w: [8, 3, 3, 3], opts: { dilation: [2, 1], stride: [1, 2], padding: 'same' }, out: [3, 8, 7, 7] },
  { name: 'groups 2', x: [3, 6, 7, 7], w: [8, 3, 3, 3], bias: true, opts: { groups: 2, padding: 1 } },
  { name: 'groups 3 (2 outputs per group)', x: [1, 6, 5, 13], w: [6, 2, 3, 3], opts: { groups: 3 } },
  { name: 'groups 3 (1 output per group)', x: [3, 6, 7, 5], w: [3, 2, 3, 3], opts: { groups: 3, padding: 1, stride: 2 } },
  { name: 'groups 2, 5 outputs per group (partial channel block)', x: [1, 6, 7, 7], w: [10, 3, 3, 3], opts: { groups: 2, padding: 1 } },
  { name: 'depthwise 3×3, multiplier 1, bias', x: [3, 6, 13, 13], w: [6, 1, 3, 3], bias: true, opts: { groups: 6, padding: 1 } },
  { name: 'depthwise 3×3 on strips, rows as quads (W % 4 == 0), bias', x: [2, 5, 9, 16], w: [5, 1, 3, 3], bias: true, opts: { groups: 5, padding: 1 } },
  { name: 'depthwise 3×3 on strips, multiplier 2, quads', x: [1, 3, 6, 12], w: [6, 1, 3, 3], opts: { groups: 3, padding: 1 } },
  { name: 'depthwise 3×3 on strips, one column', x: [2, 4, 5, 1], w: [4, 1, 3, 3], bias: true, opts: { groups: 4, padding: 1 } },
  { name: 'depthwise, multiplier 2, stride 2, TF SAME', x: [1, 3, 7, 5], w: [6, 1, 3, 3], opts: { groups: 3, stride: 2, padding: 'same' }, out: [1, 6, 4, 3] },
  { name: 'depthwise 5×5, dilation 2', x: [1, 6, 13, 13], w: [6, 1, 5, 5], opts: { groups: 6, dilation: 2, padding: 'same' }, out: [1, 6, 13, 13] },
  { name: 'depthwise 3×3 on 28×28, stride 2, asymmetric padding', x: [3, 3, 28, 28], w: [3, 1, 3, 3], bias: true, opts: { groups: 3, stride: 2, padding: [0, 1, 1, 0] } },
  { name: '1×1 input with padding', x: [1, 3, 1, 1], w: [5, 3, 3, 3], opts: { padding: 1 }, out: [1, 5, 1, 1] },
  { name: 'one row, 28 columns', x: [1, 1, 1, 28], w: [1, 1, 1, 3], out: [1, 1, 1, 26] },
  { name: 'dilation too wide for a register window', x: [3, 2, 5, 45], w: [4, 2, 3, 3], bias: true, opts: { dilation: [1, 20], padding: 1 }, out: [3, 4, 5, 7] },
  { name: 'depthwise, dilation too wide for a register window', x: [1, 2, 6, 40], w: [2, 1, 2, 3], opts: { groups: 2, dilation: [3, 18] }, out: [1, 2, 3, 4] },
  { name: '7×7 kernel, stride 3', x: [1, 3, 13, 13], w: [5, 3, 7, 7], opts: { stride: 3, padding: 3 }, out: [1, 5, 5, 5] },
  { name: '1×1 depthwise, multiplier 2', x: [3, 6, 5, 7], w: [12, 1, 1, 1], bias: true, opts: { groups: 6 } },
  { name: 'empty batch', x: [0, 3, 5, 5], w: [5, 3, 3, 3], bias: true, out: [0, 5, 3, 3] },
  { name: 'empty batch, 1×1 path', x: [0, 3, 5, 5], w: [5, 3, 1, 1], out: [0, 5, 5, 5] },
];

async function runForward(c: Case, seed: number): Promise<void> {
  const xd = randArray(c.x, seed);
  const wd = randArray(c.w, seed + 1);
  const bd = c.bias ? randArray([c.w[0]], seed + 2) : null;
  const r = refOpts(c.opts ?? {}, c.x, c.w);
  const expected = convRef(xd, c.x, wd, c.w, bd, r);
  const x = gpuTensor(xd, c.x);
  const w = gpuTensor(wd, c.w);
  const b = bd ? gpuTensor(bd, [c.w[0]]) : null;
  const y = tidy(() => conv2d(x, w, b, c.opts));
  try {
    expect(y.shape).toEqual(outShape(c.x, c.w, r));
    if (c.out) expect(y.shape).toEqual(c.out);
    expectClose(await y.data(), expected, 1e-4, 1e-5, c.name);
  } finally {
    for (const t of [x, w, b, y]) t?.dispose();
  }
}

/**
 * Every case runs on each path of a convolution with one group: the default choice, the direct
 * kernel (shaders/conv2d.wgsl), the matrix product (conv-gemm.ts) with the whole batch in one
 * chunk, and with one image per chunk (a column budget of 1 byte).
 */
const paths: Array<[string, TuningPatch]> = [
  ['default path', {}],
  ['direct kernel', { conv: { path: 'direct' } }],
  ['gemm', { conv: { path: 'gemm' } }],
  ['gemm, one image per chunk', { conv: { path: 'gemm', colBytes: 1 } }],
];

/** Sets the tuning for the tests of the enclosing describe, restores it after them. */
function withPath(patch: TuningPatch): void {
  let restore: (() => void) | null = null;
  beforeAll(async () => {
    restore = (await gpu()).setTuning(patch);
  });
  afterAll(() => restore?.());
}

for (const [pathName, patch] of paths) {
  describe(`conv2d forward (${pathName})`, () => {
    withPath(patch);
    forwardCases.forEach((c, i) => {
      it(c.name, () => runForward(c, 100 + 7 * i));
    });
  });
}

const gradCases: Case[] = [
  { name: 'general 3×3 pad 1 with bias', x: [2, 3, 5, 6], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 } },
  { name: 'general, stride 2, TF SAME (asymmetric)', x: [1, 2, 7, 6], w: [3, 2, 3, 3], opts: { stride: 2, padding: 'same' } },
  { name: 'general, dilation 2, asymmetric padding', x: [1, 2, 7, 7], w: [2, 2, 3, 3], bias: true, opts: { dilation: 2, padding: [1, 2, 0, 1] } },
  { name: 'groups 2, 3 outputs per group, stride [2, 1]', x: [2, 4, 5, 5], w: [6, 2, 3, 3], opts: { groups: 2, stride: [2, 1], padding: 1 } },
  { name: 'single output row (no row slices in dweight)', x: [1, 2, 3, 5], w: [3, 2, 3, 3] },
  { name: 'depthwise, multiplier 1, bias', x: [2, 3, 6, 5], w: [3, 1, 3, 3], bias: true, opts: { groups: 3, padding: 1 } },
  { name: 'depthwise 3×3, rows as quads (W % 4 == 0)', x: [2, 3, 5, 8], w: [3, 1, 3, 3], bias: true, opts: { groups: 3, padding: 1 } },
  { name: 'depthwise 3×3, multiplier 2, rows as quads', x: [1, 2, 5, 8], w: [4, 1, 3, 3], opts: { groups: 2, padding: 1 } },
  { name: 'depthwise, multiplier 2, stride 2, TF SAME', x: [1, 2, 7, 6], w: [4, 1, 3, 3], opts: { groups: 2, stride: 2, padding: 'same' } },
  { name: 'depthwise, dilation 2, 2×3 kernel', x: [2, 2, 6, 7], w: [2, 1, 2, 3], opts: { groups: 2, dilation: 2, padding: [1, 0, 2, 1] } },
  { name: '1×1 path with bias', x: [2, 3, 4, 5], w: [4, 3, 1, 1], bias: true },
  // one image: the bias gradient sums H and W only; a 1×1 output of one image: it is dy itself
  { name: 'one image with bias', x: [1, 3, 5, 6], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 } },
  { name: '1×1 depthwise over one image with bias (the prior modulation)', x: [1, 6, 3, 4], w: [6, 1, 1, 1], bias: true, opts: { groups: 6 } },
  { name: 'one image, 1×1 output, with bias', x: [1, 2, 3, 3], w: [3, 2, 3, 3], bias: true },
  { name: '5×5 kernel, stride 2 (several tap blocks per weight-gradient invocation)', x: [1, 2, 7, 8], w: [2, 2, 5, 5], opts: { stride: 2, padding: 2 } },
  { name: 'dilation too wide for register windows', x: [1, 1, 3, 41], w: [2, 1, 1, 3], opts: { dilation: [1, 19] } },
  { name: 'depthwise 5×5, odd output height (row pairs)', x: [2, 2, 7, 6], w: [2, 1, 5, 5], opts: { groups: 2, padding: [2, 1, 2, 2] } },
  { name: 'depthwise, dilation too wide for register windows', x: [1, 2, 2, 75], w: [2, 1, 2, 3], opts: { groups: 2, dilation: [1, 36] } },
  // C·kh·kw a multiple of 4 (the default picks gemm); rows of 8 (vec4 col2im) and of 6
  { name: 'C = 4, stride 2, pad 1, rows of 8', x: [3, 4, 6, 8], w: [5, 4, 3, 3], bias: true, opts: { stride: 2, padding: 1 } },
  { name: 'C = 4, stride [1, 2], rows of 6', x: [2, 4, 5, 6], w: [3, 4, 3, 3], opts: { stride: [1, 2], padding: [1, 0, 2, 1] } },
];

for (const [pathName, patch] of paths) {
  describe(`conv2d backward, finite differences (${pathName})`, () => {
    withPath(patch);
    for (const c of gradCases) {
      it(c.name, async () => {
        const r = refOpts(c.opts ?? {}, c.x, c.w);
        const inputs = [
          { data: randArray(c.x, 11), shape: [...c.x] },
          { data: randArray(c.w, 12), shape: [...c.w] },
        ];
        if (c.bias) inputs.push({ data: randArray([c.w[0]], 13), shape: [c.w[0]] });
        await checkGradients({
          inputs,
          gpuFn: (x, w, b) => conv2d(x, w, b, c.opts),
          refFn: (x, w, b) => convRef(x, c.x, w, c.w, b ?? null, r),
        });
      });
    }
  });
}

describe('conv2d with a residual', () => {
  beforeAll(gpu);
  const cases: Case[] = [
    { name: '1×1 (added in the product epilogue), bias', x: [2, 3, 4, 5], w: [4, 3, 1, 1], bias: true },
    { name: '1×1, one image, 8 outputs (vec4 stores)', x: [1, 6, 4, 4], w: [8, 6, 1, 1] },
    { name: '3×3 pad 1 (added after)', x: [2, 3, 5, 6], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 } },
  ];
  for (const c of cases) {
    it(`${c.name}: values and gradients`, async () => {
      const r = refOpts(c.opts ?? {}, c.x, c.w);
      const o = outShape(c.x, c.w, r);
      const inputs = [
        { data: randArray(c.x, 21), shape: [...c.x] },
        { data: randArray(c.w, 22), shape: [...c.w] },
        { data: randArray(o, 23), shape: [...o] },
        ...(c.bias ? [{ data: randArray([c.w[0]], 24), shape: [c.w[0]] }] : []),
      ];
      const refFn = (x: Float64Array, w: Float64Array, res: Float64Array, b?: Float64Array) => convRef(x, c.x, w, c.w, b ?? null, r).map((v, i) => v + res[i]);
      const y = tidy(() =>
        conv2d(gpuTensor(inputs[0].data, c.x), gpuTensor(inputs[1].data, c.w), c.bias ? gpuTensor(inputs[3].data, [c.w[0]]) : null, {
          ...c.opts,
          residual: gpuTensor(inputs[2].data, o),
        }),
      );
      expectClose(await y.data(), refFn(inputs[0].data, inputs[1].data, inputs[2].data, c.bias ? inputs[3].data : undefined), 1e-4, 1e-5, c.name);
      y.dispose();
      await checkGradients({ inputs, gpuFn: (x, w, res, b) => conv2d(x, w, b, { ...c.opts, residual: res }), refFn });
    });
  }

  it('names the shape it expected', () => {
    tidy(() => {
      const x = gpuTensor(randArray([1, 3, 4, 4], 1), [1, 3, 4, 4]);
      const w = gpuTensor(randArray([5, 3, 1, 1], 2), [5, 3, 1, 1]);
      expect(() => conv2d(x, w, null, { residual: gpuTensor(randArray([1, 3, 4, 4], 3), [1, 3, 4, 4]) })).toThrow(
        /conv2d: residual must have the output's shape \[1, 5, 4, 4\], got \[1, 3, 4, 4\]/,
      );
    });
  });
});

describe('conv2d backward', () => {
  beforeAll(gpu);

  it('gives no gradient to inputs that do not require one', async () => {
    const xs: Shape4 = [1, 3, 5, 5];
    const ws: Shape4 = [4, 3, 3, 3];
    const r = refOpts({ padding: 1 }, xs, ws);
    await checkGradients({
      inputs: [
        { data: randArray(xs, 21), shape: [...xs], grad: false },
        { data: randArray(ws, 22), shape: [...ws] },
      ],
      gpuFn: (x, w) => conv2d(x, w, null, { padding: 1 }),
      refFn: (x, w) => convRef(x, xs, w, ws, null, r),
    });
  });

  it('weight gradients are deterministic and nothing leaks', async () => {
    const ctx = await gpu();
    const run = async (opts: Conv2dOptions, xs: Shape4, ws: Shape4): Promise<Float32Array[]> => {
      const x = gpuTensor(randArray(xs, 31), xs, true);
      const w = gpuTensor(randArray(ws, 32), ws, true);
      const g = gpuTensor(randArray([1], 33), []);
      const before = ctx.stats().liveBuffers;
      const out: Float32Array[] = [];
      for (let k = 0; k < 2; k++) {
        const y = tidy(() => {
          const c = conv2d(x, w, null, opts);
          return mulSum(c, g);
        });
        backward(y);
        y.dispose();
        out.push((await w.grad!.data()) as Float32Array);
        w.grad!.dispose();
        x.grad!.dispose();
        w.grad = null;
        x.grad = null;
      }
      expect(ctx.stats().liveBuffers).toBe(before);
      for (const t of [x, w, g]) t.dispose();
      return out;
    };
    for (const [opts, xs, ws] of [
      [{ padding: 1 }, [3, 6, 13, 13], [5, 6, 3, 3]],
      [{ padding: 'same', stride: 2 }, [3, 6, 13, 13], [5, 6, 3, 3]],
      [{ padding: 1 }, [3, 8, 13, 12], [32, 8, 3, 3]], // the gemm backward
      [{ padding: 1, stride: 2 }, [3, 8, 13, 12], [32, 8, 3, 3]], // gemm both ways
      [{ groups: 6, padding: 1 }, [3, 6, 13, 13], [12, 1, 3, 3]],
      [{ groups: 6, padding: 1, stride: 2 }, [3, 6, 13, 13], [6, 1, 3, 3]],
    ] as Array<[Conv2dOptions, Shape4, Shape4]>) {
      const [a, b] = await run(opts, xs, ws);
      expect(Array.from(a)).toEqual(Array.from(b));
    }
  });
});

describe('conv2d picks its path', () => {
  /** The kernels (shader:entry) dispatched by a forward and backward of conv2d. */
  async function kernelsOf(xs: Shape4, ws: Shape4, opts: Conv2dOptions): Promise<string[]> {
    const ctx = await gpu();
    const x = gpuTensor(randArray(xs, 41), xs, true);
    const w = gpuTensor(randArray(ws, 42), ws, true);
    const spy = vi.spyOn(ctx, 'dispatch');
    try {
      const y = tidy(() => sum(conv2d(x, w, null, opts)));
      backward(y);
      y.dispose();
      return spy.mock.calls.map(([req]) => ('label' in req ? req.label : `${req.shader}:${req.entry}`));
    } finally {
      spy.mockRestore();
      x.grad?.dispose();
      w.grad?.dispose();
      x.dispose();
      w.dispose();
    }
  }

  it('one group, C·kh·kw a multiple of 4, 32 outputs or more: im2col, the matmul kernels and col2im', async () => {
    const k = await kernelsOf([2, 4, 8, 8], [32, 4, 3, 3], { padding: 1, stride: 2 });
    expect(k.filter((e) => e.startsWith('conv2d:'))).toEqual([]);
    expect(k).toContain('im2col:im2col4');
    expect(k).toContain('im2col:col2im4');
    expect(k.filter((e) => e.startsWith('matmul')).length).toBe(3);
  });

  it('stride 1 with 32 to 63 outputs: the direct forward, the gemm backward', async () => {
    const k = await kernelsOf([2, 4, 8, 8], [32, 4, 3, 3], { padding: 1 });
    expect(k.filter((e) => e.startsWith('conv2d:'))).toEqual(['conv2d:forward']);
    expect(k.filter((e) => e.startsWith('im2col:im2col'))).toEqual(['im2col:im2col4']);
    expect(k).toContain('im2col:col2im4');
    const k64 = await kernelsOf([2, 4, 8, 8], [64, 4, 3, 3], { padding: 1 });
    expect(k64.filter((e) => e.startsWith('conv2d:'))).toEqual([]);
  });

  it('C·kh·kw not a multiple of 4, fewer than 32 outputs, or groups: the direct kernel', async () => {
    for (const [xs, ws, opts] of [
      [[2, 3, 8, 8], [32, 3, 3, 3], { padding: 1 }],
      [[2, 4, 8, 8], [31, 4, 3, 3], { padding: 1 }],
      [[2, 4, 8, 8], [6, 2, 3, 3], { padding: 1, groups: 2 }],
    ] as Array<[Shape4, Shape4, Conv2dOptions]>) {
      const k = await kernelsOf(xs, ws, opts);
      expect(k.filter((e) => e.startsWith('im2col:'))).toEqual([]);
      expect(k).toContain('conv2d:forward');
      expect(k).toContain('conv2d:backward_weight');
    }
  });

  it('depthwise 3×3, stride 1, padding 1: strips forward, for dx and for dweight; other depthwise geometries and the tuning switch: tiles', async () => {
    const strips = await kernelsOf([2, 4, 8, 8], [4, 1, 3, 3], { padding: 1, groups: 4 });
    expect(strips.filter((e) => e.startsWith('depthwise:'))).toEqual(['depthwise:forward_strips', 'depthwise:forward_strips', 'depthwise:backward_weight_strips']);
    const stride2 = await kernelsOf([2, 4, 8, 8], [4, 1, 3, 3], { padding: 1, groups: 4, stride: 2 });
    expect(stride2).not.toContain('depthwise:forward_strips');
    const ctx = await gpu();
    const tiles = await ctx.withTuning({ conv: { depthwiseStrips: false } }, () => kernelsOf([2, 4, 8, 8], [4, 1, 3, 3], { padding: 1, groups: 4 }));
    expect(tiles.filter((e) => e.startsWith('depthwise:'))).toEqual(['depthwise:forward', 'depthwise:forward', 'depthwise:backward_weight']);
  });

  it('depthwise 3×3 strips equal the tiles, forward and gradients', async () => {
    const ctx = await gpu();
    for (const [xs, bias] of [
      [[2, 6, 12, 16], true],
      [[3, 5, 7, 10], false],
    ] as Array<[Shape4, boolean]>) {
      const ws: Shape4 = [xs[1], 1, 3, 3];
      const run = async () => {
        const x = gpuTensor(randArray(xs, 51), xs, true);
        const w = gpuTensor(randArray(ws, 52), ws, true);
        const b = bias ? gpuTensor(randArray([xs[1]], 53), [xs[1]], true) : null;
        const y = conv2d(x, w, b, { padding: 1, groups: xs[1] });
        const g = gpuTensor(randArray(y.shape as Shape4, 54), y.shape);
        backward(y, { grad: g });
        const out = [await y.data(), await x.grad!.data(), await w.grad!.data()] as Float32Array[];
        for (const t of [y, g, x.grad, w.grad, b?.grad, x, w, b]) t?.dispose();
        return out;
      };
      const a = await run();
      const t = await ctx.withTuning({ conv: { depthwiseStrips: false } }, run);
      for (let i = 0; i < 3; i++) expectClose(a[i], t[i], 1e-5, 1e-5, `[${xs.join(', ')}] ${['y', 'dx', 'dweight'][i]}`);
    }
  });
});

function mulSum(a: Tensor, b: Tensor): Tensor {
  return sum(mul(a, b));
}

describe('conv2d errors name the op and the shapes', () => {
  beforeAll(gpu);
  const cases: Array<[string, Shape4 | number[], Shape4, Conv2dOptions, RegExp, number?]> = [
    ['C not divisible by groups', [1, 5, 7, 7], [4, 2, 3, 3], { groups: 2 }, /conv2d.*C = 5.*\[1, 5, 7, 7\].*groups = 2/],
    ['O not divisible by groups', [1, 4, 7, 7], [3, 2, 3, 3], { groups: 2 }, /conv2d.*O = 3.*\[3, 2, 3, 3\].*groups = 2/],
    ['weight channel mismatch', [1, 6, 7, 7], [4, 4, 3, 3], { groups: 2 }, /conv2d.*weight \[4, 4, 3, 3\].*x \[1, 6, 7, 7\].*C\/groups = 3/],
    ['kernel larger than padded input', [1, 3, 2, 4], [4, 3, 3, 3], { padding: 'valid' }, /conv2d.*kernel 3×3.*\[4, 3, 3, 3\].*larger than the padded input 2×4.*\[1, 3, 2, 4\]/],
    ['dilated kernel larger than padded input', [1, 3, 5, 5], [4, 3, 3, 3], { dilation: 3 }, /conv2d.*dilated to 7×7.*larger than the padded input 5×5/],
    ['non-4-D input', [3, 7, 7], [4, 3, 3, 3], {}, /conv2d.*4-D.*\[3, 7, 7\]/],
    ['bias of the wrong size', [1, 3, 7, 7], [4, 3, 3, 3], {}, /conv2d.*bias.*\[4\].*\[5\]/, 5],
    ['zero stride', [1, 3, 7, 7], [4, 3, 3, 3], { stride: 0 }, /conv2d.*stride/],
    ['negative padding', [1, 3, 7, 7], [4, 3, 3, 3], { padding: -1 }, /conv2d.*padding/],
  ];
  for (const [name, xs, ws, opts, re, biasSize] of cases) {
    it(name, () => {
      const x = gpuTensor(new Float64Array(xs.reduce((a, b) => a * b, 1)), xs);
      const w = gpuTensor(new Float64Array(ws.reduce((a, b) => a * b, 1)), ws);
      const b = biasSize ? gpuTensor(new Float64Array(biasSize), [biasSize]) : null;
      try {
        expect(() => conv2d(x, w, b, opts)).toThrow(re);
      } finally {
        for (const t of [x, w, b]) t?.dispose();
      }
    });
  }
});
