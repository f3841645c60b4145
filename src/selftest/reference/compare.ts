/**
 * Elementwise closeness of a GPU result to a float64 reference: every element must satisfy
 * |a − e| ≤ atol + rtol·|e| (NaN where both are NaN counts as equal). The tests assert it
 * (test/helpers/ref.ts `expectClose`); `lrdif selftest` reports it.
 */

export interface Closeness {
  /** Every element is within tolerance and the lengths agree. */
  ok: boolean;
  /** Largest |a − e| / (atol + rtol·|e|) (NaN or Infinity for a NaN or an infinite error); ≤ 1 passes. */
  ratio: number;
  /** Largest |a − e| over the elements. */
  maxError: number;
  /** The element that fails worst, or -1 when every element passes. */
  worst: number;
  /** The lengths differ (then nothing else is compared). */
  lengthMismatch: boolean;
}

export function closeness(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): Closeness {
  if (actual.length !== expected.length) return { ok: false, ratio: Infinity, maxError: Infinity, worst: -1, lengthMismatch: true };
  let worst = -1;
  let worstRatio = 0;
  let maxRatio = 0;
  let maxError = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const err = Math.abs(a - e);
    // exact agreement passes even with a zero tolerance (0/0)
    const ratio = err === 0 ? 0 : err / (atol + rtol * Math.abs(e));
    if (!(err <= maxError)) maxError = err;
    if (!(ratio <= maxRatio)) maxRatio = ratio;
    if (!(ratio <= 1)) {
      if (!(ratio <= worstRatio)) {
        worstRatio = ratio;
        worst = i;
      }
    }
  }
  return { ok: worst < 0, ratio: maxRatio, maxError, worst, lengthMismatch: false };
}

/** The failure line of `closeness`: names the worst element, its values and the tolerance. */
export function describeMismatch(c: Closeness, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): string {
  if (c.lengthMismatch) return `${what}: length ${actual.length}, expected ${expected.length}`;
  const i = c.worst;
  return `${what}: element ${i}: got ${actual[i]}, expected ${expected[i]} (|diff| ${Math.abs(actual[i] - expected[i]).toExponential(3)} > atol ${atol} + rtol ${rtol}·|expected|)`;
}
