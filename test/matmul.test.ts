import { describe, it, expect, beforeAll, vi } from 'vitest';
import { gpu, usePath } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray, sizeOf } from './helpers/ref.js';
import { matmul, linear, tidy, tensor, sum, backward, zeroGrad, type Activation, type GpuContext, type MatmulOptions, type Tensor } from '../src/node.js';
import { refMatmul, type MatmulRefOptions } from '../src/selftest/reference/matmul.js';

// The float64 reference (refMatmul) is shared with `lrdif selftest`: src/selftest/reference/matmul.ts.
type RefOpts = MatmulRefOptions;

// ---------------------------------------------------------------- helpers

let seed = 1;
async function checkForward(aShape: number[], bShape: number[], o: RefOpts = {}, biasN?: number, withResidual = false): Promise<void> {
  const a = randArray(aShape, seed++);
  const b = randArray(bShape, seed++);
  const bias = biasN !== undefined ? randArray([biasN], seed++) : null;
  const outShape = refMatmul(new Float64Array(sizeOf(aShape)), aShape, new Float64Array(sizeOf(bShape)), bShape, o).shape;
  const residual = withResidual ? randArray(outShape, seed++) : null;
  const ref = refMatmul(a, aShape, b, bShape, { ...o, bias, residual });
  const got = tidy(() => {
    const opts: MatmulOptions = { transA: o.transA, transB: o.transB, activation: o.activation, leakySlope: o.leakySlope };
    if (bias) opts.bias = gpuTensor(bias, [biasN!]);
    if (residual) opts.residual = gpuTensor(residual, outShape);
    return matmul(gpuTensor(a, aShape), gpuTensor(b, bShape), opts);
  });
  expect(got.shape).toEqual(ref.shape);
  const what = `matmul ${JSON.stringify(aShape)}·${JSON.stringify(bShape)} ${JSON.stringify({ ...o, bias: biasN, residual: withResidual })}`;
  expectClose(await got.data(), ref.data, 1e-4, 2e-5, what);
  got.dispose();
}

// ---------------------------------------------------------------- tests

// Both kernels run the whole suite: the subgroup one (the fast path where subgroups of ≥ 8
// exist, e.g. lavapipe) and the portable one.
for (const kernel of ['subgroup', 'portable'] as const) {
  describe(`matmul forward (${kernel} kernel)`, () => {
    let ctx: GpuContext;
    beforeAll(async () => {
      ctx = await gpu();
    });
    usePath('matmul', kernel);

    it('matches the float64 reference on awkward 2-D shapes', async () => {
      const sizes: Array<[number, number, number]> = [
        [1, 1, 1],
        [1, 7, 1],
        [3, 17, 33],
        [33, 3, 17],
        [65, 130, 3],
        [130, 65, 33],
        [17, 1, 130],
        [64, 48, 144], // multiples of 4 and of the tile
        [49, 384, 116],
        [100, 64, 132],
        [129, 33, 64],
        [12, 40, 36], // 16-row tiles of the subgroup kernel (M ≤ 16), vec4 stores
        [16, 9, 13], // and scalar stores
        [8, 21, 44], // 8-row tiles (M ≤ 8)
      ];
      for (const [M, K, N] of sizes) await checkForward([M, K], [K, N]);
    });

    if (kernel === 'subgroup') {
      it('gives the same products with every tile forced (8, 16 and 32 rows), also past the tile and batched', async () => {
        for (const tileRows of [8, 16, 32] as const) {
          const restore = ctx.setTuning({ matmul: { tileRows } });
          try {
            for (const [M, K, N] of [
              [5, 9, 12],
              [13, 17, 7],
              [40, 12, 36],
            ])
              await checkForward([M, K], [K, N], {}, N);
            await checkForward([2, 19, 12], [2, 12, 20], { transB: false, activation: 'gelu' });
            await checkForward([20, 9], [11, 20], { transA: true, transB: true });
          } finally {
            restore();
          }
        }
      });
    }

    it('handles every transpose combination', async () => {
      const shapes: Array<[number, number, number]> = [
        [3, 17, 33],
        [36, 64, 40],
        [65, 20, 7],
        [1, 5, 1],
        [40, 32, 36], // aligned with a K tail-free loop and N not a multiple of the tile
        [12, 24, 20], // 16-row tiles
        [7, 9, 12], // 8-row tiles
      ];
      for (const [M, K, N] of shapes) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const aShape = transA ? [K, M] : [M, K];
            const bShape = transB ? [N, K] : [K, N];
            await checkForward(aShape, bShape, { transA, transB });
          }
        }
      }
    });

    it('gives zeros (plus bias) for K = 0 and empty outputs for M or N = 0', async () => {
      await checkForward([3, 0], [0, 5]);
      await checkForward([3, 0], [0, 5], { activation: 'sigmoid' }, 5);
      const e1 = tidy(() => matmul(tensor([], [0, 4]), tensor(new Float32Array(12), [4, 3])));
      expect(e1.shape).toEqual([0, 3]);
      const e2 = tidy(() => matmul(tensor(new Float32Array(8), [2, 4]), tensor([], [4, 0])));
      expect(e2.shape).toEqual([2, 0]);
      expect((await e2.data()).length).toBe(0);
      e1.dispose();
      e2.dispose();
    });

    it('broadcasts batch dimensions', async () => {
      await checkForward([2, 3, 5, 7], [7, 6]); // b shared by a batched a
      await checkForward([5, 7], [4, 7, 6]); // a shared by a batched b
      await checkForward([2, 1, 5, 7], [3, 7, 6]); // both broadcast
      await checkForward([1, 3, 9, 4], [2, 1, 4, 10]);
      await checkForward([8, 33, 20], [8, 20, 17]); // plain batch
      await checkForward([2, 3, 7, 5], [7, 6], { transA: true }); // shared b, transposed a
      await checkForward([4, 6, 5], [2, 1, 7, 5], { transB: true });
      await checkForward([3, 0, 4], [4, 2]); // empty batch rows
      await checkForward([0, 5, 4], [4, 2]); // empty batch
    });

    it('loads each operand as vec4s where it alone is aligned (batched, so the batch offsets count)', async () => {
      await checkForward([3, 6, 8], [3, 8, 7]); // a aligned (K % 4 = 0), b not (N = 7)
      await checkForward([3, 8, 6], [3, 8, 12], { transA: true }); // b aligned, a transposed
      await checkForward([2, 8, 5], [2, 6, 8], { transA: true, transB: true }); // bᵀ aligned (K % 4 = 0), a transposed
      await checkForward([40, 12], [4, 12, 49]); // a shared by a batched b of 49 columns (a 1×1 convolution at 7×7)
    });

    it('adds the bias and applies each fused activation', async () => {
      const acts: Activation[] = ['none', 'relu', 'leakyRelu', 'gelu', 'geluTanh', 'quickGelu', 'silu', 'sigmoid', 'tanh'];
      for (const activation of acts) await checkForward([2, 19, 12], [12, 20], { activation }, 20);
      // the other store path (N % 4 != 0) and another operand layout
      for (const activation of acts) await checkForward([9, 6], [11, 6], { activation, transB: true }, 11);
      await checkForward([7, 5], [5, 9], { activation: 'leakyRelu', leakySlope: 0.3 }, 9);
    });

    it('adds a residual after the bias and activation (both store paths, every tile height, batched)', async () => {
      for (const activation of ['none', 'gelu'] as Activation[]) {
        await checkForward([2, 19, 12], [12, 20], { activation }, 20, true); // vec4 stores, 32-row tiles (M folded to 38)
        await checkForward([9, 6], [11, 6], { activation, transB: true }, 11, true); // scalar stores (N = 11), 16-row tile
      }
      await checkForward([5, 7], [7, 9], {}, undefined, true); // 8-row tile, no bias
      await checkForward([40, 12], [4, 12, 49], {}, undefined, true); // a shared by a batched b (a 1×1 convolution)
      await checkForward([3, 8, 6], [3, 8, 12], { transA: true }, undefined, true); // batched, a transposed
      await checkForward([3, 0], [0, 8], {}, 8, true); // K = 0: bias + residual
    });

    it('linear matches x·Wᵀ + b', async () => {
      const x = randArray([2, 5, 7], 501);
      const w = randArray([9, 7], 502);
      const bias = randArray([9], 503);
      const ref = refMatmul(x, [10, 7], w, [9, 7], { transB: true, bias, activation: 'gelu' });
      const y = tidy(() => linear(gpuTensor(x, [2, 5, 7]), gpuTensor(w, [9, 7]), gpuTensor(bias, [9]), 'gelu'));
      expect(y.shape).toEqual([2, 5, 9]);
      expectClose(await y.data(), ref.data, 1e-4, 2e-5, 'linear');
      const x1 = randArray([7], 504);
      const ref1 = refMatmul(x1, [1, 7], w, [9, 7], { transB: true });
      const y1 = tidy(() => linear(gpuTensor(x1, [7]), gpuTensor(w, [9, 7])));
      expect(y1.shape).toEqual([9]);
      expectClose(await y1.data(), ref1.data, 1e-4, 2e-5, 'linear (1-D input)');
      y.dispose();
      y1.dispose();
    });

    it('raises errors that name the op and the shapes', () => {
      tidy(() => {
        const a = tensor(new Float32Array(6), [2, 3]);
        const b = tensor(new Float32Array(8), [4, 2]);
        expect(() => matmul(a, b)).toThrow(/matmul: inner dimensions differ: a \[2, 3\] has K = 3, b \[4, 2\] has K = 4/);
        expect(() => matmul(a, tensor(new Float32Array(3), [3]))).toThrow(/matmul: both operands need rank ≥ 2.*\[2, 3\].*\[3\]/);
        const c = tensor(new Float32Array(12), [3, 4]);
        expect(() => matmul(a, c, { bias: tensor([1, 2, 3], [3]) })).toThrow(/matmul: bias must have shape \[4\].*got \[3\]/);
        expect(() => matmul(a, c, { bias: tensor(new Float32Array(4), [1, 4]) })).toThrow(/matmul: bias must have shape \[4\]/);
        expect(() => matmul(tensor(new Float32Array(12), [2, 2, 3]), tensor(new Float32Array(36), [3, 3, 4]))).toThrow(
          /matmul: batch dimensions of a \[2, 2, 3\] and b \[3, 3, 4\] cannot be broadcast/,
        );
        expect(() => matmul(a, c, { activation: 'swish' as Activation })).toThrow(/matmul: unknown activation 'swish'/);
        expect(() => linear(a, tensor(new Float32Array(8), [2, 4]))).toThrow(/linear: input \[2, 3\] does not end in in_features = 4/);
        expect(() => matmul(a, c, { residual: tensor(new Float32Array(8), [4, 2]) })).toThrow(/matmul: residual must have the output's shape \[2, 4\].*got \[4, 2\]/);
      });
    });

    it('releases its memory, forward and backward', async () => {
      const w = gpuTensor(randArray([7, 3], 801), [7, 3], true);
      const bias = gpuTensor(randArray([3], 802), [3], true);
      const run = () => {
        tidy(() => matmul(tensor(new Float32Array(35), [5, 7]), w, { activation: 'gelu', bias }).dispose());
        const y = tidy(() => sum(matmul(gpuTensor(randArray([2, 5, 7], 803), [2, 5, 7]), w, { activation: 'gelu', bias })));
        backward(y);
        y.dispose();
        zeroGrad([w, bias]);
      };
      run(); // compiles and fills the buffer pool
      const before = ctx.pool.getStats().liveBuffers;
      for (let i = 0; i < 4; i++) run();
      expect(ctx.pool.getStats().liveBuffers).toBe(before);
      w.dispose();
      bias.dispose();
    });
  });

  describe(`matmul backward (${kernel} kernel)`, () => {
    usePath('matmul', kernel);

    async function checkGrad(aShape: number[], bShape: number[], o: RefOpts = {}, withBias = false): Promise<void> {
      const ref = refMatmul(new Float64Array(sizeOf(aShape)), aShape, new Float64Array(sizeOf(bShape)), bShape, o);
      const N = ref.shape[ref.shape.length - 1];
      const inputs = [
        { data: randArray(aShape, seed++), shape: aShape },
        { data: randArray(bShape, seed++), shape: bShape },
      ];
      if (withBias) inputs.push({ data: randArray([N], seed++), shape: [N] });
      await checkGradients({
        inputs,
        gpuFn: (a: Tensor, b: Tensor, bias?: Tensor) => matmul(a, b, { ...o, residual: undefined, bias }),
        refFn: (a, b, bias) => refMatmul(a, aShape, b, bShape, { ...o, bias }).data,
        rtol: 5e-3,
        atol: 5e-4,
      });
    }

    it('differentiates a and b for every transpose combination', async () => {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const [M, K, N] = [3, 5, 4];
          await checkGrad(transA ? [K, M] : [M, K], transB ? [N, K] : [K, N], { transA, transB });
        }
      }
    });

    it('sums gradients over broadcast batch dimensions', async () => {
      await checkGrad([2, 3, 4, 5], [5, 3]);
      await checkGrad([2, 3, 5, 4], [3, 5], { transA: true, transB: true });
      await checkGrad([4, 5], [3, 5, 2]);
      await checkGrad([2, 1, 3, 4], [3, 4, 2]);
      await checkGrad([2, 3, 4], [1, 2, 4], { transB: true });
      // a shared, 42 rows by 8 columns: its gradient is formed transposed (8 × 42 per batch), summed, transposed back
      await checkGrad([42, 8], [3, 8, 20]);
      await checkGrad([42, 8], [3, 20, 8], { transB: true });
    });

    it('differentiates bias and each fused activation (outputs of whole quads and not)', async () => {
      const acts: Activation[] = ['relu', 'leakyRelu', 'gelu', 'geluTanh', 'quickGelu', 'silu', 'sigmoid', 'tanh'];
      const spy = vi.spyOn(await gpu(), 'dispatch');
      try {
        for (const activation of acts) {
          await checkGrad([2, 3, 4], [4, 8], { activation }, true); // 48 outputs: act_backward4
          await checkGrad([3, 4], [4, 5], { activation }, true); // 15: act_backward
        }
        const entries = spy.mock.calls.map(([req]) => ('label' in req ? req.label : `${req.shader}:${req.entry}`)).filter((e) => e.startsWith('matmul:act_backward'));
        expect(entries.filter((e) => e === 'matmul:act_backward4').length).toBeGreaterThanOrEqual(acts.length);
        expect(entries.filter((e) => e === 'matmul:act_backward').length).toBeGreaterThanOrEqual(acts.length);
      } finally {
        spy.mockRestore();
      }
      await checkGrad([3, 4], [5, 4], { activation: 'leakyRelu', leakySlope: 0.2, transB: true }, true);
      await checkGrad([3, 4], [4, 5], {}, true);
    });

    it('differentiates through the residual (its gradient is the output gradient) with a bias and activation', async () => {
      for (const [aShape, bShape, o] of [
        [[2, 3, 4], [4, 8], { activation: 'gelu' }], // vec4 stores
        [[3, 4], [4, 5], {}], // scalar stores
        [[6, 4], [2, 4, 7], {}], // a shared by a batched b (a 1×1 convolution)
      ] as Array<[number[], number[], RefOpts]>) {
        const outShape = refMatmul(new Float64Array(sizeOf(aShape)), aShape, new Float64Array(sizeOf(bShape)), bShape, o).shape;
        const N = outShape[outShape.length - 1];
        await checkGradients({
          inputs: [
            { data: randArray(aShape, seed++), shape: aShape },
            { data: randArray(bShape, seed++), shape: bShape },
            { data: randArray([N], seed++), shape: [N] },
            { data: randArray(outShape, seed++), shape: outShape },
          ],
          gpuFn: (a: Tensor, b: Tensor, bias: Tensor, residual: Tensor) => matmul(a, b, { ...o, residual, bias }),
          refFn: (a, b, bias, residual) => refMatmul(a, aShape, b, bShape, { ...o, bias, residual }).data,
          rtol: 5e-3,
          atol: 5e-4,
        });
      }
    });

    it('differentiates linear', async () => {
      await checkGradients({
        inputs: [
          { data: randArray([2, 3, 4], 701), shape: [2, 3, 4] },
          { data: randArray([5, 4], 702), shape: [5, 4] },
          { data: randArray([5], 703), shape: [5] },
        ],
        gpuFn: (x: Tensor, w: Tensor, bias: Tensor) => linear(x, w, bias, 'silu'),
        refFn: (x, w, bias) => refMatmul(x, [6, 4], w, [5, 4], { transB: true, bias, activation: 'silu' }).data,
        rtol: 5e-3,
        atol: 5e-4,
      });
    });
  });
}
