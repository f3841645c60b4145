/** float64 reference of softmax and log-softmax. */
import { sizeOf } from './random.js';

/** float64 softmax / log-softmax along `axis` of a row-major array. */
export function refSoftmax(x: Float64Array, shape: number[], axis: number, log: boolean): Float64Array {
  const a = axis < 0 ? axis + shape.length : axis;
  const outer = sizeOf(shape.slice(0, a));
  const r = shape[a];
  const inner = sizeOf(shape.slice(a + 1));
  const y = new Float64Array(x.length);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const at = (j: number) => (o * r + j) * inner + i;
      let m = -Infinity;
      for (let j = 0; j < r; j++) m = Math.max(m, x[at(j)]);
      let s = 0;
      for (let j = 0; j < r; j++) s += Math.exp(x[at(j)] - m);
      for (let j = 0; j < r; j++) y[at(j)] = log ? x[at(j)] - m - Math.log(s) : Math.exp(x[at(j)] - m) / s;
    }
  }
  return y;
}
