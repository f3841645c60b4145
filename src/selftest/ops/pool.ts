/** Pooling: average (with padding, adaptive) and max (TF 'same', 'valid', symmetric padding). */
import { avgPool2d, adaptiveAvgPool2d } from '../../kernels/pool.js';
import { maxPool2d, type MaxPoolPadding } from '../../kernels/maxpool.js';
import type { SelftestCheck } from '../check.js';
import { adaptiveRef, avgPoolRef, type Shape4 } from '../reference/pool.js';
import { maxPoolRef } from '../reference/maxpool.js';
import { backwardCheck, DEFAULT_VARIANT, distinctData, forwardCheck, gpuTensor, gpuValues, randArray, shapesText } from './common.js';

export function poolChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const avg: Array<{ x: Shape4; k: number; s?: number; p?: number; quick?: boolean }> = [
    { x: [2, 3, 13, 11], k: 3, s: 2, p: 1, quick: true },
    { x: [1, 4, 8, 8], k: 2 },
  ];
  let seed = 9000;
  for (const c of avg) {
    const s = (seed += 1);
    const n = c.x.reduce((a, b) => a * b, 1);
    out.push(
      forwardCheck({ op: 'avgPool2d', shapes: `${shapesText(c.x)} k ${c.k} s ${c.s ?? c.k} p ${c.p ?? 0}`, quick: c.quick }, DEFAULT_VARIANT, async (cmp) => {
        const x = randArray([n], s);
        cmp.add('output', await gpuValues(() => avgPool2d(gpuTensor(x, c.x), c.k, c.s, c.p)), avgPoolRef(x, c.x, c.k, c.s, c.p).y, 1e-5, 1e-6);
      }),
    );
    out.push(
      backwardCheck({ op: 'avgPool2d', shapes: `${shapesText(c.x)} k ${c.k} s ${c.s ?? c.k} p ${c.p ?? 0}`, quick: c.quick }, DEFAULT_VARIANT, {
        inputs: [{ data: randArray([n], s + 1), shape: [...c.x] }],
        names: ['x'],
        gpuFn: (x) => avgPool2d(x, c.k, c.s, c.p),
        refFn: (x) => avgPoolRef(x, c.x, c.k, c.s, c.p).y,
      }),
    );
  }
  {
    const x: Shape4 = [2, 3, 7, 9];
    const n = x.reduce((a, b) => a * b, 1);
    out.push(
      forwardCheck({ op: 'adaptiveAvgPool2d', shapes: `${shapesText(x)} → 3×4` }, DEFAULT_VARIANT, async (cmp) => {
        const d = randArray([n], seed + 100);
        cmp.add('output', await gpuValues(() => adaptiveAvgPool2d(gpuTensor(d, x), [3, 4])), adaptiveRef(d, x, [3, 4]).y, 1e-5, 1e-6);
      }),
    );
  }
  const max: Array<{ x: Shape4; k: number; s?: number; p: MaxPoolPadding; quick?: boolean }> = [
    { x: [2, 4, 27, 14], k: 2, s: 2, p: 'same', quick: true },
    { x: [1, 3, 9, 7], k: 3, s: 2, p: 'valid' },
    { x: [1, 2, 6, 6], k: 3, s: 1, p: 1 },
  ];
  for (const c of max) {
    const s = (seed += 1);
    const n = c.x.reduce((a, b) => a * b, 1);
    const what = `${shapesText(c.x)} k ${c.k} s ${c.s ?? c.k} ${typeof c.p === 'string' ? c.p : `p ${c.p}`}`;
    out.push(
      forwardCheck({ op: 'maxPool2d', shapes: what, quick: c.quick }, DEFAULT_VARIANT, async (cmp) => {
        const x = randArray([n], s, -3, 3);
        // a max selects one of the inputs: exactly equal
        cmp.add('output', await gpuValues(() => maxPool2d(gpuTensor(x, c.x), c.k, c.s, c.p)), maxPoolRef(x, c.x, c.k, c.s, c.p).y, 0, 0);
      }),
    );
    out.push(
      backwardCheck({ op: 'maxPool2d', shapes: what, quick: c.quick }, DEFAULT_VARIANT, {
        inputs: [{ data: distinctData(n, s + 1), shape: [...c.x] }],
        names: ['x'],
        gpuFn: (x) => maxPool2d(x, c.k, c.s, c.p),
        refFn: (x) => maxPoolRef(x, c.x, c.k, c.s, c.p).y,
        h: 1e-3,
      }),
    );
  }
  return out;
}
