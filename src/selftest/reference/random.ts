/** Seeded test data: the inputs of the op tests and of `lrdif selftest`. */
import { mulberry32 } from '../../data/rng.js';

/** Mulberry32 (src/data/rng.ts): the seeded source of the test data. */
export const rng = mulberry32;

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Uniform values in [lo, hi) as float32-representable float64s. */
export function randArray(shape: readonly number[], seed: number, lo = -1, hi = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(sizeOf(shape));
  for (let i = 0; i < out.length; i++) out[i] = Math.fround(lo + (hi - lo) * r());
  return out;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
