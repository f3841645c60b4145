/** float64 references of the reductions (sum, mean, max, min, argmax over any axes). */
import { sizeOf } from './random.js';

export type ReduceOp = 'sum' | 'mean' | 'max' | 'min';

export function normAxes(axes: number | number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : axes;
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((a, b) => a - b);
}

/** float64 reduction over a set of axes; returns the keep-dims shape and values. */
export function refReduce(op: ReduceOp | 'argmax', x: Float64Array, shape: number[], axesIn: number | number[] | undefined, keepDims: boolean) {
  const axes = normAxes(axesIn, shape.length);
  const kshape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const n = sizeOf(kshape);
  const acc = new Float64Array(n).fill(op === 'max' || op === 'argmax' ? -Infinity : op === 'min' ? Infinity : 0);
  const idx = new Float64Array(n).fill(-1);
  const count = sizeOf(axes.map((a) => shape[a]));
  const strides = shape.map((_, i) => sizeOf(shape.slice(i + 1)));
  const kstrides = kshape.map((_, i) => sizeOf(kshape.slice(i + 1)));
  for (let i = 0; i < x.length; i++) {
    let o = 0;
    let along = 0; // position along the (single) argmax axis
    for (let d = 0; d < shape.length; d++) {
      const c = Math.floor(i / strides[d]) % shape[d];
      if (!axes.includes(d)) o += c * kstrides[d];
      else along = c;
    }
    const v = x[i];
    if (op === 'sum' || op === 'mean') acc[o] += v;
    else if (op === 'max' || op === 'argmax') {
      if (v > acc[o]) {
        acc[o] = v;
        idx[o] = along;
      }
    } else if (v < acc[o]) acc[o] = v;
  }
  if (op === 'mean') for (let i = 0; i < n; i++) acc[i] /= count;
  const outShape = keepDims ? kshape : shape.filter((_, i) => !axes.includes(i));
  return { values: op === 'argmax' ? idx : acc, shape: outShape };
}
