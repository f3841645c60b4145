/** float64 references of the elementwise ops: NumPy-broadcast binary ops (unary ones are scalar functions, see special.ts). */
import { sizeOf } from './random.js';

/** float64 NumPy-broadcast binary op. */
export function refBinary(a: Float64Array, sa: number[], b: Float64Array, sb: number[], f: (x: number, y: number) => number): { out: Float64Array; shape: number[] } {
  const rank = Math.max(sa.length, sb.length);
  const pa = [...Array(rank - sa.length).fill(1), ...sa];
  const pb = [...Array(rank - sb.length).fill(1), ...sb];
  const shape = pa.map((d, i) => (d === 1 ? pb[i] : d));
  const n = sizeOf(shape);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i;
    let ia = 0;
    let ib = 0;
    let ma = 1;
    let mb = 1;
    for (let d = rank - 1; d >= 0; d--) {
      const c = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      if (pa[d] !== 1) ia += c * ma;
      if (pb[d] !== 1) ib += c * mb;
      ma *= pa[d];
      mb *= pb[d];
    }
    out[i] = f(a[ia], b[ib]);
  }
  return { out, shape };
}
