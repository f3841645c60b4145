import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray, sizeOf } from './helpers/ref.js';
import { softmax, logSoftmax, tensor, backward, engine, add as tensorAdd } from '../src/node.js';
import { threadsPerRow } from '../src/kernels/rows.js';
// the float64 references are shared with `lrdif selftest`
import { refSoftmax } from '../src/selftest/reference/softmax.js';

/**
 * The row kernel's threads-per-row depends on the adapter (1–4 on lavapipe for these rows);
 * the row tests also run with the GPU setting and with one element per thread, so the
 * workgroup tree reductions (up to 256 threads per row) are exercised on every machine.
 */
const ROW_MODES: Array<{ label: string; perThread: number | null }> = [
  { label: 'threads per row chosen by adapter', perThread: null },
  { label: 'GPU setting (8 elements per thread)', perThread: 8 },
  { label: 'one element per thread (up to 256 threads per row)', perThread: 1 },
];

function withRowMode(perThread: number | null): void {
  let restore = () => {};
  beforeAll(async () => {
    if (perThread !== null) restore = (await gpu()).setTuning({ rowKernels: { perThread } });
  });
  afterAll(() => restore());
}

async function forward(shape: number[], axis: number, log: boolean, seed: number, lo = -4, hi = 4): Promise<void> {
  const data = randArray(shape, seed, lo, hi);
  const x = gpuTensor(data, shape);
  const y = log ? logSoftmax(x, axis) : softmax(x, axis);
  expect(y.shape).toEqual(shape);
  const got = await y.data();
  // log-softmax values grow with |x|, so they get a looser absolute tolerance
  expectClose(got, refSoftmax(data, shape, axis, log), 1e-5, log ? 1e-5 : 1e-6, `${log ? 'logSoftmax' : 'softmax'} ${JSON.stringify(shape)} axis ${axis}`);
  x.dispose();
  y.dispose();
}

for (const mode of ROW_MODES) {
  describe(`softmax / logSoftmax over rows (${mode.label})`, () => {
    beforeAll(gpu);
    withRowMode(mode.perThread);

    it('reaches the intended threads per row', async () => {
      const ctx = await gpu();
      if (mode.perThread === 1) expect([1, 3, 49, 257, 1000].map((r) => threadsPerRow(ctx, r))).toEqual([1, 4, 64, 256, 256]);
      if (mode.perThread === 8) expect([1, 3, 49, 257, 1000].map((r) => threadsPerRow(ctx, r))).toEqual([1, 1, 8, 64, 128]);
    });

    const rowShapes: number[][] = [
      [5, 1],
      [4, 3],
      [3, 255],
      [3, 257],
      [2, 1000],
      [37, 49],
      [2, 3, 17],
      [1, 1],
    ];
    for (const log of [false, true]) {
      const name = log ? 'logSoftmax' : 'softmax';
      it(`${name}: last axis, rows of length 1, 3, 17, 49, 255, 257, 1000`, async () => {
        let seed = 1;
        for (const sh of rowShapes) await forward(sh, -1, log, seed++);
      });
      it(`${name}: large-magnitude inputs (±80) do not overflow`, async () => {
        await forward([6, 33], -1, log, 21, -80, 80);
        await forward([3, 700], -1, log, 23, -80, 80);
        // equal huge values: exactly uniform
        const x = tensor(new Float32Array([80, 80, 80, 80, -80, -80, -80, -80]), [2, 4]);
        const y = log ? logSoftmax(x) : softmax(x);
        const want = log ? Array(8).fill(-Math.log(4)) : Array(8).fill(0.25);
        expectClose(await y.data(), want, 1e-6, 1e-7);
        x.dispose();
        y.dispose();
      });
      it(`${name}: many short rows (several rows per workgroup, partial last workgroup)`, async () => {
        await forward([3001, 3], -1, log, 31);
        await forward([1100, 49], -1, log, 32);
      });
    }

    const gradCases: number[][] = [
      [3, 7],
      [2, 1],
      [2, 300],
      [5, 3, 2],
    ];
    for (const log of [false, true]) {
      const name = log ? 'logSoftmax' : 'softmax';
      for (const shape of gradCases) {
        it(`${name} ${JSON.stringify(shape)} last axis: backward vs finite differences`, async () => {
          await checkGradients({
            inputs: [{ data: randArray(shape, sizeOf(shape) + 7, -3, 3), shape }],
            gpuFn: (x) => (log ? logSoftmax(x) : softmax(x)),
            refFn: (x) => refSoftmax(x, shape, -1, log),
          });
        });
      }
    }
  });
}

describe('softmax / logSoftmax over other axes (column kernel)', () => {
  beforeAll(gpu);
  for (const log of [false, true]) {
    const name = log ? 'logSoftmax' : 'softmax';
    it(`${name}: axis 0 and middle axes`, async () => {
      await forward([7, 5], 0, log, 11);
      await forward([300, 3], 0, log, 12);
      await forward([3, 6, 4, 5], 1, log, 13);
      await forward([2, 257, 3], 1, log, 14);
      await forward([4, 1, 9], 1, log, 15); // size-1 softmax axis in the middle
      await forward([2, 5, 1], 1, log, 16); // inner of size 1 through a middle axis
    });
    it(`${name}: large-magnitude inputs (±80) down columns`, async () => {
      await forward([33, 6], 0, log, 22, -80, 80);
    });
    it(`${name}: empty tensors`, async () => {
      for (const [shape, axis] of [
        [[0, 5], -1],
        [[3, 0], -1],
        [[3, 0, 4], 1],
        [[3, 0, 4], 2],
      ] as Array<[number[], number]>) {
        const x = gpuTensor(new Float64Array(0), shape);
        const y = log ? logSoftmax(x, axis) : softmax(x, axis);
        expect(y.shape).toEqual(shape);
        expect((await y.data()).length).toBe(0);
        x.dispose();
        y.dispose();
      }
    });
  }

  it('softmax rows sum to one and log-softmax is its log', async () => {
    const shape = [9, 123];
    const data = randArray(shape, 41, -10, 10);
    const x = gpuTensor(data, shape);
    const p = await softmax(x).data();
    const lp = await logSoftmax(x).data();
    for (let r = 0; r < 9; r++) {
      let sum = 0;
      for (let j = 0; j < 123; j++) sum += p[r * 123 + j];
      expect(Math.abs(sum - 1)).toBeLessThan(1e-5);
    }
    expectClose(Array.from(lp, Math.exp), p, 1e-5, 1e-7);
    x.dispose();
  });
});

describe('softmax / logSoftmax backward over other axes, and reuse', () => {
  beforeAll(gpu);
  const cases: Array<[number[], number]> = [
    [[5, 4], 0],
    [[2, 3, 4], 1],
    [[3, 1, 2], 1],
  ];
  for (const log of [false, true]) {
    const name = log ? 'logSoftmax' : 'softmax';
    for (const [shape, axis] of cases) {
      it(`${name} ${JSON.stringify(shape)} axis ${axis} vs finite differences`, async () => {
        await checkGradients({
          inputs: [{ data: randArray(shape, sizeOf(shape) + axis + 7, -3, 3), shape }],
          gpuFn: (x) => (log ? logSoftmax(x, axis) : softmax(x, axis)),
          refFn: (x) => refSoftmax(x, shape, axis, log),
        });
      });
    }
  }

  it('gradients of a reused input add up (softmax and logSoftmax of the same tensor)', async () => {
    const shape = [4, 6];
    await checkGradients({
      inputs: [{ data: randArray(shape, 5, -2, 2), shape }],
      gpuFn: (x) => {
        const a = softmax(x, 1);
        const b = logSoftmax(x, 0);
        return tensorAdd(a, b);
      },
      refFn: (x) => {
        const a = refSoftmax(x, shape, 1, false);
        const b = refSoftmax(x, shape, 0, true);
        return a.map((v, i) => v + b[i]);
      },
    });
  });

  it('backward of an empty softmax gives an empty gradient', async () => {
    const x = gpuTensor(new Float64Array(0), [0, 4], true);
    const y = softmax(x);
    backward(y, { grad: gpuTensor(new Float64Array(0), [0, 4]) });
    expect(x.grad!.shape).toEqual([0, 4]);
    x.grad!.dispose();
    x.dispose();
    y.dispose();
    engine.clearTape();
  });
});

describe('softmax errors', () => {
  beforeAll(gpu);
  it('names the op and the shape for a bad axis', () => {
    const x = gpuTensor(new Float64Array(6), [2, 3]);
    expect(() => softmax(x, 2)).toThrow(/softmax: axis 2 is out of range for tensor \[2, 3\] f32/);
    expect(() => logSoftmax(x, -3)).toThrow(/logSoftmax: axis -3 is out of range for tensor \[2, 3\] f32/);
    expect(() => softmax(x, 0.5)).toThrow(/softmax: axis 0.5/);
    x.dispose();
  });
  it('rejects i32 input', () => {
    const x = tensor([1, 2, 3], [3], 'i32');
    expect(() => softmax(x)).toThrow(/softmax: input must be f32, got tensor \[3\] i32/);
    expect(() => logSoftmax(x)).toThrow(/logSoftmax: input must be f32/);
    x.dispose();
  });
  it('rejects a rank-0 tensor', () => {
    const x = tensor([1], []);
    expect(() => softmax(x)).toThrow(/softmax: axis -1 is out of range for tensor \[\] f32/);
    x.dispose();
  });
});
