import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray, rng, sizeOf } from './helpers/ref.js';
import { sum, mean, max, min, argmax, tensor, backward, type Tensor } from '../src/node.js';
// the float64 references are shared with `lrdif selftest`
import { refReduce } from '../src/selftest/reference/reduce.js';

type Op = 'sum' | 'mean' | 'max' | 'min';
const OPS: Record<Op, (x: Tensor, axes?: number | number[], keepDims?: boolean) => Tensor> = { sum, mean, max, min };

/** Distinct values (a shuffled grid with steps of 0.013), so max/min have no ties and finite differences cross none. */
function distinctData(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const perm = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return Float64Array.from(perm, (k) => Math.fround((k - n / 2) * 0.013));
}

const FORWARD_CASES: Array<[number[], number | number[] | undefined]> = [
  [[3, 257], undefined], // all axes
  [[3, 257], 1], // rows kernel, longer than a workgroup
  [[3, 257], 0], // column kernel
  [[2, 1000], -1],
  [[7], 0],
  [[5, 300, 2], 1], // middle axis
  [
    [5, 300, 2],
    [0, 1],
  ], // leading run
  [
    [5, 300, 2],
    [1, 2],
  ], // trailing run
  [
    [2, 3, 4, 5],
    [0, 2],
  ], // non-contiguous
  [
    [2, 3, 4, 5],
    [1, 3],
  ],
  [
    [2, 3, 4, 5],
    [0, 2, 3],
  ],
  [
    [2, 3, 4, 5],
    [3, -4],
  ], // negative and unsorted
  [
    [2, 3, 4, 5],
    [1, 1],
  ], // repeated axis counts once
  [[1, 1], undefined],
  [[4, 1, 3], 1], // size-1 reduced axis
  [
    [1, 6, 1],
    [0, 2],
  ],
  [[0, 5], 1], // empty kept axis: empty result
  [[2, 3], []], // no axes: a copy
  [[], undefined], // scalar
];

describe('sum / mean / max / min forward', () => {
  beforeAll(gpu);
  for (const op of ['sum', 'mean', 'max', 'min'] as Op[]) {
    it(`${op} over single, contiguous, non-contiguous and all axes, with and without keepDims`, async () => {
      let seed = 1;
      for (const [shape, axes] of FORWARD_CASES) {
        const data = randArray(shape, seed++, -2, 2);
        for (const keepDims of [false, true]) {
          const x = gpuTensor(data, shape);
          const y = OPS[op](x, axes as number[], keepDims);
          const ref = refReduce(op, data, shape, axes, keepDims);
          const what = `${op} ${JSON.stringify(shape)} axes ${JSON.stringify(axes)} keepDims ${keepDims}`;
          expect(y.shape, what).toEqual(ref.shape);
          expectClose(await y.data(), ref.values, 1e-5, 1e-5, what);
          x.dispose();
          y.dispose();
        }
      }
    });
  }

  it('many short rows (several rows per workgroup)', async () => {
    const shape = [70000, 3];
    const data = randArray(shape, 5);
    const x = gpuTensor(data, shape);
    for (const op of ['sum', 'max', 'min'] as Op[]) {
      const y = OPS[op](x, 1);
      expectClose(await y.data(), refReduce(op, data, shape, 1, false).values, 1e-5, 1e-6, `${op} ${JSON.stringify(shape)}`);
      y.dispose();
    }
    x.dispose();
  });

  it('row kernel at every threads-per-row width (1 … 256 threads sharing a row)', async () => {
    // each width is its own pipeline (compiles are slow on lavapipe): a few widths cover 1, 2, 8 and 256 threads
    for (const perThread of [1, null]) {
      const restore = perThread === null ? () => {} : (await gpu()).setTuning({ rowKernels: { perThread } });
      try {
        for (const [rows, len] of [
          [9, 7],
          [3, 257],
        ]) {
          const shape = [rows, len];
          const data = distinctData(rows * len, rows + len);
          const x = gpuTensor(data, shape);
          for (const op of ['sum', 'max', 'min'] as Op[]) {
            const y = OPS[op](x, 1);
            expectClose(await y.data(), refReduce(op, data, shape, 1, false).values, 1e-5, 1e-5, `${op} ${JSON.stringify(shape)} perThread ${perThread}`);
            y.dispose();
          }
          const am = argmax(x, 1);
          expect(Array.from(await am.data()), `argmax ${JSON.stringify(shape)} perThread ${perThread}`).toEqual(Array.from(refReduce('argmax', data, shape, 1, false).values));
          am.dispose();
          x.dispose();
        }
      } finally {
        restore();
      }
    }
  });

  it('sum and mean over an empty axis give 0 (sum) with the right shape', async () => {
    const x = gpuTensor(new Float64Array(0), [3, 0, 2]);
    const s = sum(x, 1);
    expect(s.shape).toEqual([3, 2]);
    expect(Array.from(await s.data())).toEqual([0, 0, 0, 0, 0, 0]);
    const all = sum(x);
    expect(all.shape).toEqual([]);
    expect(await all.item()).toBe(0);
    const m = mean(x, [0, 1], true);
    expect(m.shape).toEqual([1, 1, 2]);
    for (const t of [x, s, all, m]) t.dispose();
  });

  it('max and min over an empty axis raise an error naming the op and the tensor', () => {
    const x = gpuTensor(new Float64Array(0), [3, 0]);
    expect(() => max(x, 1)).toThrow(/max: cannot reduce an empty axis of tensor \[3, 0\] f32/);
    expect(() => min(x)).toThrow(/min: cannot reduce an empty axis of tensor \[3, 0\] f32/);
    x.dispose();
  });
});

describe('argmax', () => {
  beforeAll(gpu);
  it('matches a float64 argmax over any axis, with keepDims, as i32', async () => {
    let seed = 1;
    for (const [shape, axis] of [
      [[3, 257], 1],
      [[3, 257], 0],
      [[2, 1000], -1],
      [[4, 5, 6], 1],
      [[7], 0],
      [[5, 1], 1],
    ] as Array<[number[], number]>) {
      const data = randArray(shape, seed++);
      const x = gpuTensor(data, shape);
      for (const keepDims of [false, true]) {
        const y = argmax(x, axis, keepDims);
        const ref = refReduce('argmax', data, shape, axis, keepDims);
        expect(y.dtype).toBe('i32');
        expect(y.shape).toEqual(ref.shape);
        expect(Array.from(await y.data()), `argmax ${JSON.stringify(shape)} axis ${axis}`).toEqual(Array.from(ref.values));
        y.dispose();
      }
      x.dispose();
    }
  });

  it('ties go to the first index (within one thread, across threads of a row, and down columns)', async () => {
    // rows of 1000 with the maximum at several positions spread over different threads
    const r = 1000;
    const data = randArray([3, r], 9, -1, 0.5);
    const places = [
      [700, 300, 999],
      [5, 261, 517], // 5 and 261 are handled by threads 5 and 5 (stride 256), 517 too
      [0, 999],
    ];
    places.forEach((ps, row) => ps.forEach((j) => (data[row * r + j] = 2)));
    const x = gpuTensor(data, [3, r]);
    const y = argmax(x, 1);
    const ref = refReduce('argmax', data, [3, r], 1, false).values;
    expect(Array.from(ref)).toEqual([300, 5, 0]);
    expect(Array.from(await y.data())).toEqual(Array.from(ref));
    // columns: [r, 3] with ties down each column
    const cols = new Float64Array(r * 3);
    for (let i = 0; i < r; i++) for (let c = 0; c < 3; c++) cols[i * 3 + c] = data[c * r + i];
    const xc = gpuTensor(cols, [r, 3]);
    const yc = argmax(xc, 0);
    expect(Array.from(await yc.data())).toEqual(Array.from(ref));
    for (const t of [x, y, xc, yc]) t.dispose();
  });

  it('an all-equal row gives index 0', async () => {
    const x = gpuTensor([4, 4, 4, 4, -1, -1, -1], [7]);
    const y = argmax(x);
    expect(await y.item()).toBe(0);
    x.dispose();
    y.dispose();
  });

  it('rejects a bad axis, naming the op', () => {
    const x = gpuTensor([1, 2], [2]);
    expect(() => argmax(x, 1)).toThrow(/argmax: axis 1 is out of range for a tensor of rank 1/);
    x.dispose();
  });
});

describe('reductions backward', () => {
  beforeAll(gpu);
  const cases: Array<[number[], number | number[] | undefined, boolean]> = [
    [[3, 4], undefined, false],
    [[3, 4], 1, false],
    [[3, 4], 0, true],
    [[2, 3, 4], [0, 2], false],
    [[2, 3, 4], [1, 2], true],
    [[2, 300], 1, false],
    [[4, 1, 3], 1, false],
  ];
  for (const op of ['sum', 'mean', 'max', 'min'] as Op[]) {
    it(`${op} vs finite differences`, async () => {
      let seed = 3;
      for (const [shape, axes, keepDims] of cases) {
        await checkGradients({
          inputs: [{ data: distinctData(sizeOf(shape), seed++), shape }],
          gpuFn: (x) => OPS[op](x, axes as number[], keepDims),
          refFn: (x) => refReduce(op, x, shape, axes, keepDims).values,
        });
      }
    });
  }

  it('max / min share the gradient evenly among tied extrema', async () => {
    const shape = [3, 4];
    const data = Float64Array.from([1, 3, 3, 0, 5, 5, 5, 2, -1, -1, 0, -1]);
    for (const op of ['max', 'min'] as Op[]) {
      const x = gpuTensor(data, shape, true);
      const y = OPS[op](x, 1);
      const g = [0.5, 3, 1.5];
      backward(y, { grad: gpuTensor(g, [3]) });
      // float64 reference: each row's gradient split over the positions equal to its extremum
      const ext = refReduce(op, data, shape, 1, false).values;
      const want = Array.from(data, (v, i) => {
        const row = Math.floor(i / 4);
        const ties = data.slice(row * 4, row * 4 + 4).filter((u) => u === ext[row]).length;
        return v === ext[row] ? g[row] / ties : 0;
      });
      expectClose(await x.grad!.data(), want, 1e-6, 1e-7, `${op} tie gradient`);
      x.grad!.dispose();
      x.dispose();
      y.dispose();
    }
  });

  it('sum over an empty axis: gradient of the right (empty) shape', async () => {
    const x = gpuTensor(new Float64Array(0), [2, 0], true);
    const y = sum(x, 1);
    backward(y, { grad: gpuTensor([1, 2], [2]) });
    expect(x.grad!.shape).toEqual([2, 0]);
    x.grad!.dispose();
    x.dispose();
    y.dispose();
  });
});

describe('reduction errors', () => {
  beforeAll(gpu);
  it('a bad axis names the op', () => {
    const x = gpuTensor(new Float64Array(6), [2, 3]);
    expect(() => sum(x, 2)).toThrow(/sum: axis 2 is out of range for a tensor of rank 2/);
    expect(() => mean(x, [0, -3])).toThrow(/mean: axis -3 is out of range/);
    expect(() => max(x, 5)).toThrow(/max: axis 5 is out of range/);
    expect(() => min(x, 1.5)).toThrow(/min: axis 1.5 is out of range/);
    x.dispose();
  });
  it('integer input is rejected', () => {
    const x = tensor([1, 2], [2], 'i32');
    expect(() => sum(x)).toThrow(/sum: input must be f32, got tensor \[2\] i32/);
    expect(() => argmax(x)).toThrow(/argmax: input must be f32/);
    x.dispose();
  });
});
