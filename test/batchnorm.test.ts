import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { tensor, tidy, engine } from '../src/node.js';
import { BatchNorm2d, batchNorm2dEval, batchNorm2dTrain } from '../src/nn/batchnorm.js';

/** float64 per-channel statistics of x [N, C, H, W]: mean and biased variance. */
function refStats(x: Float64Array, shape: number[]): { mean: Float64Array; variance: Float64Array } {
  const [N, C, H, W] = shape;
  const mean = new Float64Array(C);
  const variance = new Float64Array(C);
  const per = N * H * W;
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let p = 0; p < H * W; p++) s += x[(n * C + c) * H * W + p];
    mean[c] = s / per;
    let v = 0;
    for (let n = 0; n < N; n++) for (let p = 0; p < H * W; p++) v += (x[(n * C + c) * H * W + p] - mean[c]) ** 2;
    variance[c] = v / per;
  }
  return { mean, variance };
}

/** float64 normalisation of x with given per-channel statistics, scale and shift. */
function refNorm(x: Float64Array, shape: number[], mean: Float64Array, variance: Float64Array, w: Float64Array | null, b: Float64Array | null, eps = 1e-5): Float64Array {
  const [N, C, H, W] = shape;
  const y = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      const r = 1 / Math.sqrt(variance[c] + eps);
      for (let p = 0; p < H * W; p++) {
        const i = (n * C + c) * H * W + p;
        y[i] = (x[i] - mean[c]) * r * (w ? w[c] : 1) + (b ? b[c] : 0);
      }
    }
  }
  return y;
}

const refTrain = (x: Float64Array, shape: number[], w: Float64Array | null, b: Float64Array | null) => {
  const s = refStats(x, shape);
  return refNorm(x, shape, s.mean, s.variance, w, b);
};

describe('BatchNorm2d', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('training forward, batch statistics and running statistics match a float64 reference on an awkward shape', async () => {
    const shape = [3, 5, 7, 9];
    const x = randArray(shape, 1, -2, 3);
    const w = randArray([5], 2, 0.5, 1.5);
    const b = randArray([5], 3);
    const bn = new BatchNorm2d(5, { momentum: 0.25 });
    bn.loadStateDict(
      new Map([
        ['weight', tensor(Float32Array.from(w), [5])],
        ['bias', tensor(Float32Array.from(b), [5])],
        ['running_mean', tensor(Float32Array.from([0.1, -0.2, 0.3, 0, 0.5]), [5])],
        ['running_var', tensor(Float32Array.from([1, 2, 0.5, 1.5, 1]), [5])],
      ]),
    );
    const xt = gpuTensor(x, shape);
    const y = tidy(() => bn.forward(xt));
    expectClose((await y.data()) as Float32Array, refTrain(x, shape, w, b), 1e-4, 1e-5, 'y');
    const s = refStats(x, shape);
    const per = 3 * 7 * 9;
    const rm = [0.1, -0.2, 0.3, 0, 0.5].map((v, c) => 0.75 * Math.fround(v) + 0.25 * s.mean[c]);
    const rv = [1, 2, 0.5, 1.5, 1].map((v, c) => 0.75 * v + 0.25 * s.variance[c] * (per / (per - 1)));
    expectClose((await bn.runningMean.data()) as Float32Array, rm, 1e-5, 1e-6, 'running_mean');
    expectClose((await bn.runningVar.data()) as Float32Array, rv, 1e-5, 1e-6, 'running_var');
    y.dispose();
    xt.dispose();
    bn.dispose();
  });

  it('evaluation forward uses the running statistics', async () => {
    const shape = [2, 4, 3, 5];
    const x = randArray(shape, 4, -1, 2);
    const rm = randArray([4], 5);
    const rv = randArray([4], 6, 0.2, 2);
    const w = randArray([4], 7, 0.5, 1.5);
    const b = randArray([4], 8);
    const bn = new BatchNorm2d(4);
    bn.loadStateDict(
      new Map([
        ['weight', gpuTensor(w, [4])],
        ['bias', gpuTensor(b, [4])],
        ['running_mean', gpuTensor(rm, [4])],
        ['running_var', gpuTensor(rv, [4])],
      ]),
    );
    bn.eval();
    const before = (await bn.runningMean.data()).slice();
    const xt = gpuTensor(x, shape);
    const y = tidy(() => bn.forward(xt));
    expectClose((await y.data()) as Float32Array, refNorm(x, shape, rm, rv, w, b), 1e-4, 1e-5, 'y');
    // evaluation leaves the running statistics alone
    expect(Array.from(await bn.runningMean.data())).toEqual(Array.from(before));
    y.dispose();
    xt.dispose();
    bn.dispose();
  });

  it('training backward (x, weight, bias) matches finite differences of the float64 reference', async () => {
    const shape = [2, 3, 4, 5];
    await checkGradients({
      inputs: [
        { data: randArray(shape, 11, -1, 2), shape },
        { data: randArray([3], 12, 0.5, 1.5), shape: [3] },
        { data: randArray([3], 13), shape: [3] },
      ],
      gpuFn: (x, w, b) => batchNorm2dTrain(x, w, b).y,
      refFn: (x, w, b) => refTrain(x, shape, w, b),
    });
  });

  it('training backward without affine parameters, one pixel per image', async () => {
    const shape = [6, 2, 1, 1];
    await checkGradients({
      inputs: [{ data: randArray(shape, 21, -1, 1), shape }],
      gpuFn: (x) => batchNorm2dTrain(x, null, null).y,
      refFn: (x) => refTrain(x, shape, null, null),
    });
  });

  it('evaluation backward (x, weight, bias) matches finite differences', async () => {
    const shape = [2, 3, 2, 3];
    const rm = randArray([3], 31);
    const rv = randArray([3], 32, 0.3, 2);
    await checkGradients({
      inputs: [
        { data: randArray(shape, 33), shape },
        { data: randArray([3], 34, 0.5, 1.5), shape: [3] },
        { data: randArray([3], 35), shape: [3] },
      ],
      gpuFn: (x, w, b) => batchNorm2dEval(x, gpuTensor(rm, [3]), gpuTensor(rv, [3]), w, b),
      refFn: (x, w, b) => refNorm(x, shape, rm, rv, w, b),
    });
  });

  it("keeps PyTorch's state-dict names and refuses bad input, naming the shapes", () => {
    const bn = new BatchNorm2d(4);
    expect([...bn.stateDict().keys()]).toEqual(['weight', 'bias', 'running_mean', 'running_var']);
    expect(bn.namedParameters().map(([n]) => n)).toEqual(['weight', 'bias']);
    const x = tensor(new Float32Array(2 * 3 * 2 * 2), [2, 3, 2, 2]);
    expect(() => bn.forward(x)).toThrow(/BatchNorm2d\(4\): input .*\[2, 3, 2, 2\].* must be \[N, 4, H, W\]/);
    const one = tensor(new Float32Array(4), [1, 4, 1, 1]);
    expect(() => bn.forward(one)).toThrow(/more than one value per channel/);
    expect(() => batchNorm2dTrain(x, tensor(new Float32Array(2), [2]), null)).toThrow(/weight .*\[2\].* must be \[3\]/);
    expect(() => new BatchNorm2d(0)).toThrow(/numFeatures must be a positive integer/);
    expect(() => new BatchNorm2d(3, { momentum: 2 })).toThrow(/momentum must be in \[0, 1\]/);
    x.dispose();
    one.dispose();
    bn.dispose();
    engine.clearTape();
  });
});
