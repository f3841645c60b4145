/**
 * Test helpers: seeded random data, float64 CPU references and comparison, and
 * finite-difference gradient checks against float64 reference functions. The data, the
 * comparison and the gradients are the library's (src/selftest/reference/, shared with
 * `lrdif selftest`); these wrappers turn them into vitest assertions.
 */
import { expect } from 'vitest';
import { closeness, describeMismatch } from '../../src/selftest/reference/compare.js';
import { gradientPairs, type GradientCheckOptions } from '../../src/selftest/reference/gradients.js';

export { rng, sizeOf, randArray } from '../../src/selftest/reference/random.js';
export { gpuTensor } from '../../src/selftest/reference/gradients.js';

/** max |a-b| / (atol + rtol·|b|) ≤ 1 for every element; the message names the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-6, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const c = closeness(actual, expected, rtol, atol);
  if (!c.ok) expect.fail(describeMismatch(c, actual, expected, rtol, atol, what));
}

/**
 * Checks the GPU backward of `gpuFn` against central finite differences of the float64
 * reference `refFn`, for the scalar L = Σ w ⊙ f(x…) with random weights w.
 */
export async function checkGradients(opts: GradientCheckOptions & { rtol?: number; atol?: number }): Promise<void> {
  for (const { input, gpu, fd } of await gradientPairs(opts)) {
    if (!gpu) {
      if (fd.some((v) => Math.abs(v) > 1e-6)) expect.fail(`input ${input}: no gradient reached it, but finite differences are non-zero`);
      continue;
    }
    expectClose(gpu, fd, opts.rtol ?? 2e-3, opts.atol ?? 2e-4, `gradient of input ${input}`);
  }
}
