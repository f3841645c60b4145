/** Cross-entropy (label smoothing, ignore index, every reduction) and the pointwise losses. */
import { tensor } from '../../autograd/tensor.js';
import { crossEntropy, l1Loss, mseLoss, klDiv } from '../../kernels/loss.js';
import type { SelftestCheck } from '../check.js';
import { refCrossEntropy, refPointwise, refReduce } from '../reference/loss.js';
import { backwardCheck, DEFAULT_VARIANT, forwardCheck, gpuTensor, gpuValues, randArray, rng, shapesText } from './common.js';

function labelsOf(n: number, c: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * c));
}

export function lossChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const cases: Array<{ n: number; c: number; eps: number; quick?: boolean }> = [
    { n: 64, c: 7, eps: 0.1, quick: true },
    { n: 5, c: 1000, eps: 0 },
    { n: 1, c: 257, eps: 0.1 },
  ];
  let seed = 9500;
  for (const k of cases) {
    const s = (seed += 2);
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      out.push(
        forwardCheck(
          { op: 'crossEntropy', shapes: `${shapesText([k.n, k.c])} smoothing ${k.eps}, ${reduction}`, quick: k.quick && reduction === 'mean' },
          DEFAULT_VARIANT,
          async (cmp) => {
            const x = randArray([k.n, k.c], s, -4, 4);
            const labels = labelsOf(k.n, k.c, s + 1);
            const got = await gpuValues(() => crossEntropy(gpuTensor(x, [k.n, k.c]), tensor(labels, [k.n], 'i32'), { labelSmoothing: k.eps, reduction }));
            cmp.add('loss', got, refCrossEntropy(x, labels, k.n, k.c, k.eps, reduction), 1e-5, 2e-5);
          },
        ),
      );
    }
  }
  const labels = labelsOf(4, 5, 9600);
  out.push(
    backwardCheck({ op: 'crossEntropy', shapes: `${shapesText([4, 5])} smoothing 0.1, mean`, quick: true }, DEFAULT_VARIANT, {
      inputs: [{ data: randArray([4, 5], 9601, -3, 3), shape: [4, 5] }],
      names: ['logits'],
      gpuFn: (x) => crossEntropy(x, tensor(labels, [4], 'i32'), { labelSmoothing: 0.1 }),
      refFn: (x) => refCrossEntropy(x, labels, 4, 5, 0.1, 'mean'),
    }),
  );
  const shape = [3, 7];
  const pointwise = [
    { op: 'l1Loss', kind: 'l1' as const, fn: l1Loss, lo: -2 },
    { op: 'mseLoss', kind: 'mse' as const, fn: mseLoss, lo: -2 },
  ];
  for (const p of pointwise) {
    out.push(
      backwardCheck({ op: p.op, shapes: `${shapesText(shape)} mean` }, DEFAULT_VARIANT, {
        inputs: [
          { data: randArray(shape, 9700), shape },
          { data: randArray(shape, 9701), shape },
        ],
        names: ['input', 'target'],
        gpuFn: (a, b) => p.fn(a, b),
        refFn: (a, b) => refReduce(refPointwise(p.kind, a, b), 'mean', shape[0]),
      }),
    );
  }
  out.push(
    forwardCheck({ op: 'klDiv', shapes: `${shapesText(shape)} batchmean, log target` }, DEFAULT_VARIANT, async (cmp) => {
      const a = randArray(shape, 9702, -3, 0);
      const b = randArray(shape, 9703, -3, 0);
      const got = await gpuValues(() => klDiv(gpuTensor(a, shape), gpuTensor(b, shape), { reduction: 'batchmean', logTarget: true }));
      cmp.add('loss', got, refReduce(refPointwise('klLog', a, b), 'batchmean', shape[0]), 1e-5, 1e-5);
    }),
  );
  return out;
}
