/**
 * The row kernels — layer norm (rows and channels forms), softmax / log-softmax, reductions —
 * with their threads per row forced (one element per thread: up to 256 threads per row; 8 per
 * thread: the GPU default) and the channels-form dweight/dbias chunking forced small.
 */
import { layerNorm, layerNormChannels } from '../../kernels/layernorm.js';
import { softmax, logSoftmax } from '../../kernels/softmax.js';
import { sum, mean, max, min } from '../../kernels/reduce.js';
import { backward } from '../../autograd/backward.js';
import type { SelftestCheck } from '../check.js';
import { channelsView, refNorm, refNormGrads, rowsView } from '../reference/layernorm.js';
import { refSoftmax } from '../reference/softmax.js';
import { refReduce, type ReduceOp } from '../reference/reduce.js';
import { backwardCheck, DEFAULT_VARIANT, distinctData, forwardCheck, makeCheck, gpuTensor, gpuValues, randArray, shapesText, type Variant } from './common.js';

const ROW_VARIANTS: Variant[] = [
  DEFAULT_VARIANT,
  { variant: '1 element per thread', tuning: { rowKernels: { perThread: 1 } } },
  { variant: '8 elements per thread', quick: false, tuning: { rowKernels: { perThread: 8 } } },
  { variant: '256 elements per thread', quick: false, tuning: { rowKernels: { perThread: 256 } } },
];

function layerNormChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const rowShapes: Array<{ shape: number[]; quick?: boolean }> = [{ shape: [7, 300], quick: true }, { shape: [3, 1] }, { shape: [50, 48] }, { shape: [2, 3, 1025] }];
  for (const v of ROW_VARIANTS) {
    for (const { shape, quick } of rowShapes) {
      out.push(
        forwardCheck({ op: 'layerNorm', shapes: `${shapesText(shape)} rows`, quick }, v, async (cmp) => {
          const d = shape[shape.length - 1];
          const x = randArray(shape, 11, -3, 3);
          const w = randArray([d], 12, 0.5, 1.5);
          const b = randArray([d], 13);
          const got = await gpuValues(() => layerNorm(gpuTensor(x, shape), gpuTensor(w, [d]), gpuTensor(b, [d])));
          cmp.add('output', got, refNorm(x, w, b, rowsView(shape)), 1e-4, 1e-5);
        }),
      );
    }
    const shape = [5, 4];
    out.push(
      backwardCheck({ op: 'layerNorm', shapes: `${shapesText(shape)} rows`, quick: v === DEFAULT_VARIANT }, v, {
        inputs: [
          { data: randArray(shape, 21), shape },
          { data: randArray([4], 22, 0.5, 1.5), shape: [4] },
          { data: randArray([4], 23), shape: [4] },
        ],
        names: ['x', 'weight', 'bias'],
        gpuFn: (x, w, b) => layerNorm(x, w, b),
        refFn: (x, w, b) => refNorm(x, w, b, rowsView(shape)),
      }),
    );
  }
  // the channels form (NCHW, over C): forward, then dx/dweight/dbias against the analytic float64
  // gradient with the partial sums chunked by the adapter's default and by 300 pixels
  const chunks: Variant[] = [DEFAULT_VARIANT, { variant: '300-pixel chunks', tuning: { layerNorm: { pixelsPerChunk: 300 } } }];
  for (const v of chunks) {
    // H·W = 168, a multiple of 4: the four-pixel kernels (the other two take one pixel per thread)
    for (const { shape, quick } of [{ shape: [3, 5, 37, 29], quick: true }, { shape: [2, 48, 7, 9] }, { shape: [2, 8, 12, 14], quick: true }]) {
      out.push(
        forwardCheck({ op: 'layerNorm', shapes: `${shapesText(shape)} channels`, quick: quick && v === DEFAULT_VARIANT }, v, async (cmp) => {
          const c = shape[1];
          const x = randArray(shape, 31, -3, 3);
          const w = randArray([c], 32, 0.5, 1.5);
          const b = randArray([c], 33);
          const got = await gpuValues(() => layerNormChannels(gpuTensor(x, shape), gpuTensor(w, [c]), gpuTensor(b, [c])));
          cmp.add('output', got, refNorm(x, w, b, channelsView(shape)), 1e-4, 1e-5);
        }),
      );
      out.push(
        makeCheck('backward', { op: 'layerNorm', shapes: `${shapesText(shape)} channels`, quick }, v, async (cmp) => {
          const c = shape[1];
          const xd = randArray(shape, 41, -2, 2);
          const wd = randArray([c], 42, 0.5, 1.5);
          const gd = randArray(shape, 43);
          const x = gpuTensor(xd, shape, true);
          const w = gpuTensor(wd, [c], true);
          const b = gpuTensor(randArray([c], 44), [c], true);
          const g = gpuTensor(gd, shape);
          try {
            const y = layerNormChannels(x, w, b);
            backward(y, { grad: g });
            y.dispose();
            const ref = refNormGrads(xd, wd, gd, channelsView(shape));
            cmp.add('dx', (await x.grad!.data()) as Float32Array, ref.dx, 1e-3, 1e-4);
            cmp.add('dweight', (await w.grad!.data()) as Float32Array, ref.dw, 1e-4, 1e-3);
            cmp.add('dbias', (await b.grad!.data()) as Float32Array, ref.db, 1e-4, 1e-3);
          } finally {
            for (const t of [x, w, b]) {
              t.grad?.dispose();
              t.dispose();
            }
            g.dispose();
          }
        }),
      );
    }
  }
  return out;
}

function softmaxChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const cases: Array<{ shape: number[]; axis: number; quick?: boolean }> = [
    { shape: [25, 49], axis: -1, quick: true },
    { shape: [3, 1000], axis: -1 },
    { shape: [4, 5, 6], axis: 1 },
    { shape: [2, 1], axis: -1 },
  ];
  for (const v of ROW_VARIANTS) {
    for (const { shape, axis, quick } of cases) {
      for (const log of [false, true]) {
        out.push(
          forwardCheck({ op: log ? 'logSoftmax' : 'softmax', shapes: `${shapesText(shape)} axis ${axis}`, quick: quick && !log }, v, async (cmp) => {
            const x = randArray(shape, 51, -4, 4);
            const got = await gpuValues(() => (log ? logSoftmax : softmax)(gpuTensor(x, shape), axis));
            cmp.add('output', got, refSoftmax(x, shape, axis, log), 1e-5, log ? 1e-5 : 1e-6);
          }),
        );
      }
    }
    const shape = [3, 7];
    out.push(
      backwardCheck({ op: 'softmax', shapes: shapesText(shape), quick: v === DEFAULT_VARIANT }, v, {
        inputs: [{ data: randArray(shape, 61, -2, 2), shape }],
        names: ['x'],
        gpuFn: (x) => softmax(x, -1),
        refFn: (x) => refSoftmax(x, shape, -1, false),
      }),
    );
    out.push(
      backwardCheck({ op: 'logSoftmax', shapes: `${shapesText([2, 3, 4])} axis 1` }, v, {
        inputs: [{ data: randArray([2, 3, 4], 62, -2, 2), shape: [2, 3, 4] }],
        names: ['x'],
        gpuFn: (x) => logSoftmax(x, 1),
        refFn: (x) => refSoftmax(x, [2, 3, 4], 1, true),
      }),
    );
  }
  return out;
}

const REDUCE = { sum, mean, max, min };

function reduceChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const cases: Array<{ shape: number[]; axes: number | number[] | undefined; quick?: boolean }> = [
    { shape: [3, 257], axes: 1, quick: true },
    { shape: [3, 257], axes: undefined },
    { shape: [4, 5, 6], axes: [0, 2] },
    { shape: [2, 3000], axes: -1 },
  ];
  for (const v of ROW_VARIANTS) {
    for (const op of ['sum', 'mean', 'max', 'min'] as ReduceOp[]) {
      for (const { shape, axes, quick } of cases) {
        out.push(
          forwardCheck({ op, shapes: `${shapesText(shape)} axes ${JSON.stringify(axes ?? 'all')}`, quick: quick && (op === 'sum' || op === 'max') }, v, async (cmp) => {
            const x = distinctData(
              shape.reduce((a, b) => a * b, 1),
              71,
            );
            const got = await gpuValues(() => REDUCE[op](gpuTensor(x, shape), axes));
            cmp.add('output', got, refReduce(op, x, shape, axes, false).values, 1e-5, 1e-5);
          }),
        );
      }
      const shape = [3, 4, 5];
      out.push(
        backwardCheck({ op, shapes: `${shapesText(shape)} axes [1]`, quick: v === DEFAULT_VARIANT && op === 'max' }, v, {
          inputs: [{ data: distinctData(60, 72), shape }],
          names: ['x'],
          gpuFn: (x) => REDUCE[op](x, 1),
          refFn: (x) => refReduce(op, x, shape, 1, false).values,
        }),
      );
    }
  }
  return out;
}

export function rowChecks(): SelftestCheck[] {
  return [...layerNormChecks(), ...softmaxChecks(), ...reduceChecks()];
}
