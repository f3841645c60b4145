import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray, sizeOf } from './helpers/ref.js';
import { backward, tensor, tidy, engine, type Tensor, type GpuContext } from '../src/node.js';
import { gatedDepthwiseGelu, gatedDepthwiseGeluUnfused } from '../src/kernels/gdfn.js';
// the float64 reference is shared with `lrdif selftest`
import { refGdfn, type Shape4 } from '../src/selftest/reference/gdfn.js';

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

interface Result {
  out: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
}

/** Forward and both gradients of `fn` for upstream gradient gData. */
async function run(fn: (x: Tensor, w: Tensor) => Tensor, xData: Float64Array, wData: Float64Array, gData: Float64Array, shape: Shape4): Promise<Result> {
  const x = gpuTensor(xData, shape, true);
  const w = gpuTensor(wData, [shape[1], 1, 3, 3], true);
  const out = tidy(() => fn(x, w));
  const g = gpuTensor(gData, out.shape);
  backward(out, { grad: g });
  const res = { out: (await out.data()) as Float32Array, dx: (await x.grad!.data()) as Float32Array, dw: (await w.grad!.data()) as Float32Array };
  for (const t of [out, g, x.grad!, w.grad!, x, w]) t.dispose();
  return res;
}

/**
 * Fused vs unfused (forward and both gradients) to 1e-4 relative, with an absolute floor at
 * 1e-4 of the largest magnitude (entries that cancel to near zero carry f32 rounding of their
 * terms); the forward also against the float64 reference.
 */
async function compare(shape: Shape4, seed: number): Promise<void> {
  const [B, C2, H, W] = shape;
  const xData = randArray(shape, seed, -1.5, 1.5);
  const wData = randArray([C2, 1, 3, 3], seed + 1, -0.6, 0.6);
  const gData = randArray([B, C2 / 2, H, W], seed + 2, -1, 1);
  const fused = await run(gatedDepthwiseGelu, xData, wData, gData, shape);
  const unfused = await run(gatedDepthwiseGeluUnfused, xData, wData, gData, shape);
  const tag = `[${shape.join(', ')}]`;
  expectClose(fused.out, refGdfn(xData, wData, shape), 1e-4, 1e-6, `${tag} forward vs float64`);
  expectClose(fused.out, unfused.out, 1e-4, 1e-4 * maxAbs(unfused.out), `${tag} forward vs unfused`);
  expectClose(fused.dx, unfused.dx, 1e-4, 1e-4 * maxAbs(unfused.dx), `${tag} dx vs unfused`);
  expectClose(fused.dw, unfused.dw, 1e-4, 1e-4 * maxAbs(unfused.dw), `${tag} dweight vs unfused`);
}

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await gpu();
});

describe('gatedDepthwiseGelu', () => {
  // every h ∈ {1, 3, 8, 127}, H×W ∈ {1×1, 2×3, 7×7, 13×11, 56×56}, B ∈ {1, 2} appears
  const cases: Array<[number, number, number, number]> = [
    // [B, h, H, W]
    [1, 1, 1, 1],
    [2, 1, 2, 3],
    [1, 1, 56, 56],
    [2, 3, 7, 7],
    [1, 3, 13, 11],
    [2, 8, 13, 11],
    [1, 8, 2, 3],
    [2, 8, 56, 56],
    [2, 127, 7, 7],
    [2, 127, 1, 1],
    [1, 127, 13, 11],
    [1, 127, 56, 56],
  ];
  for (const [B, h, H, W] of cases) {
    it(`equals the unfused composition, forward and gradients: B ${B}, h ${h}, ${H}×${W}`, async () => {
      await compare([B, 2 * h, H, W], 1000 + B * 7 + h * 13 + H * 17 + W);
    });
  }

  it('gives the same results on every tiling (row chunks, split weight-gradient slices, rows as quads or value by value)', async () => {
    // 12×16: rows as quads by default (W % 4 == 0); 13×11: value by value, with a ragged last strip
    for (const shape of [
      [2, 6, 12, 16],
      [2, 6, 13, 11],
    ] as Shape4[]) {
      const [B, C2, H, W] = shape;
      const xData = randArray(shape, 5 + W, -1.5, 1.5);
      const wData = randArray([C2, 1, 3, 3], 6 + W, -0.6, 0.6);
      const gData = randArray([B, C2 / 2, H, W], 7 + W, -1, 1);
      const ref = await run(gatedDepthwiseGeluUnfused, xData, wData, gData, shape);
      for (const [rows, units, quads] of [
        [3, 2, true],
        [5, 1, false],
        [13, 3, true],
        [1, 7, false],
        [4, 5, true],
      ] as const) {
        const r = await ctx.withTuning({ gdfn: { rowsPerChunk: rows, unitsPerInvocation: units, quads } }, () => run(gatedDepthwiseGelu, xData, wData, gData, shape));
        const tag = `[${shape.join(', ')}], ${rows} rows per chunk, ${units} units per invocation, quads ${quads}`;
        expectClose(r.out, ref.out, 1e-4, 1e-4 * maxAbs(ref.out), `${tag}: forward`);
        expectClose(r.dx, ref.dx, 1e-4, 1e-4 * maxAbs(ref.dx), `${tag}: dx`);
        expectClose(r.dw, ref.dw, 1e-4, 1e-4 * maxAbs(ref.dw), `${tag}: dweight`);
      }
    }
  });

  it('passes finite differences (x and weight)', async () => {
    for (const [shape, seed] of [
      [[2, 4, 4, 5], 21],
      [[1, 2, 3, 1], 22],
    ] as Array<[Shape4, number]>) {
      const wShape = [shape[1], 1, 3, 3];
      await checkGradients({
        inputs: [
          { data: randArray(shape, seed, -1.5, 1.5), shape },
          { data: randArray(wShape, seed + 1, -0.6, 0.6), shape: wShape },
        ],
        gpuFn: (x, w) => gatedDepthwiseGelu(x, w),
        refFn: (x, w) => refGdfn(x, w, shape),
        h: 1e-3,
      });
    }
  });

  it('gives only the gradients asked for', async () => {
    const shape: Shape4 = [1, 4, 5, 6];
    const xData = randArray(shape, 31);
    const wData = randArray([4, 1, 3, 3], 32, -0.6, 0.6);
    const gData = randArray([1, 2, 5, 6], 33);
    const ref = await run(gatedDepthwiseGeluUnfused, xData, wData, gData, shape);
    for (const [needX, needW] of [
      [true, false],
      [false, true],
    ]) {
      const x = gpuTensor(xData, shape, needX);
      const w = gpuTensor(wData, [4, 1, 3, 3], needW);
      const out = gatedDepthwiseGelu(x, w);
      const g = gpuTensor(gData, out.shape);
      backward(out, { grad: g });
      expect(!!x.grad).toBe(needX);
      expect(!!w.grad).toBe(needW);
      if (needX) expectClose((await x.grad!.data()) as Float32Array, ref.dx, 1e-4, 1e-4 * maxAbs(ref.dx), 'dx alone');
      if (needW) expectClose((await w.grad!.data()) as Float32Array, ref.dw, 1e-4, 1e-4 * maxAbs(ref.dw), 'dweight alone');
      for (const t of [out, g, x.grad, w.grad, x, w]) t?.dispose();
    }
  });

  it('is deterministic and holds memory flat over repeated steps', async () => {
    const shape: Shape4 = [2, 16, 14, 14];
    const x = gpuTensor(randArray(shape, 41), shape, true);
    const w = gpuTensor(randArray([16, 1, 3, 3], 42, -0.6, 0.6), [16, 1, 3, 3], true);
    const g = gpuTensor(randArray([2, 8, 14, 14], 43), [2, 8, 14, 14]);
    let first: Float32Array | null = null;
    let live = -1;
    for (let i = 0; i < 4; i++) {
      const out = gatedDepthwiseGelu(x, w);
      backward(out, { grad: g });
      const dw = (await w.grad!.data()) as Float32Array;
      if (first) expect(Array.from(dw)).toEqual(Array.from(first));
      else first = dw;
      out.dispose();
      x.grad!.dispose();
      w.grad!.dispose();
      x.grad = null;
      w.grad = null;
      await ctx.sync();
      if (i === 1) live = ctx.stats().liveBuffers;
      if (i > 1) expect(ctx.stats().liveBuffers).toBe(live);
    }
    for (const t of [x, w, g]) t.dispose();
  });

  it('handles empty batches', async () => {
    const x = gpuTensor([], [0, 4, 3, 3], true);
    const w = gpuTensor(randArray([4, 1, 3, 3], 51), [4, 1, 3, 3], true);
    const out = gatedDepthwiseGelu(x, w);
    expect(out.shape).toEqual([0, 2, 3, 3]);
    backward(out, { grad: gpuTensor([], [0, 2, 3, 3]) });
    expect(Array.from((await w.grad!.data()) as Float32Array)).toEqual(new Array(36).fill(0));
    for (const t of [out, x.grad, w.grad, x, w]) t?.dispose();
  });

  it('names the op and the shapes in shape errors', () => {
    const x = tensor(new Float32Array(sizeOf([1, 3, 4, 4])), [1, 3, 4, 4]);
    const x4 = tensor(new Float32Array(sizeOf([1, 4, 4, 4])), [1, 4, 4, 4]);
    const x3 = tensor(new Float32Array(16), [4, 2, 2]);
    const w3 = tensor(new Float32Array(27), [3, 1, 3, 3]);
    const w4 = tensor(new Float32Array(36), [4, 1, 3, 3]);
    const w5 = tensor(new Float32Array(4 * 25), [4, 1, 5, 5]);
    expect(() => gatedDepthwiseGelu(x, w3)).toThrow(/gatedDepthwiseGelu: x needs an even channel count.*\[1, 3, 4, 4\]/);
    expect(() => gatedDepthwiseGelu(x4, w5)).toThrow(/gatedDepthwiseGelu: weight must be \[2h, 1, 3, 3\] = \[4, 1, 3, 3\].*\[4, 1, 5, 5\]/);
    expect(() => gatedDepthwiseGelu(x4, w3)).toThrow(/gatedDepthwiseGelu: weight.*x \[1, 4, 4, 4\], weight \[3, 1, 3, 3\]/);
    expect(() => gatedDepthwiseGelu(x3, w4)).toThrow(/gatedDepthwiseGelu: x must be 4-D.*\[4, 2, 2\]/);
    expect(() => gatedDepthwiseGeluUnfused(x, w3)).toThrow(/gatedDepthwiseGelu/);
    // a tensor larger than one storage binding: checked before any buffer is touched
    const huge = Object.assign(Object.create(Object.getPrototypeOf(x4)), x4, { size: ctx.limits.maxStorageBufferBindingSize / 4 + 1 }) as Tensor;
    expect(() => gatedDepthwiseGelu(huge, w4)).toThrow(/gatedDepthwiseGelu: x \[1, 4, 4, 4\] holds \d+ bytes, more than this device binds at once.*split the batch/);
    for (const t of [x, x4, x3, w3, w4, w5]) t.dispose();
    engine.clearTape();
  });
});
