/**
 * Test helpers: seeded random data, float64 CPU references and comparison, and
 * finite-difference gradient checks against float64 reference functions.
 */
import { expect } from 'vitest';
import { tensor, backward, tidy, type Tensor } from '../../src/node.js';

/** Mulberry32: small, seeded, good enough for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

/** A GPU tensor from float64 data (rounded to f32). */
export function gpuTensor(data: ArrayLike<number>, shape: readonly number[], requiresGrad = false): Tensor {
  const t = tensor(Float32Array.from(data), shape);
  t.requiresGrad = requiresGrad;
  return t;
}

/** max |a-b| / (atol + rtol·|b|) ≤ 1 for every element; the message names the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-6, what = 'values'): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstRatio = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    const ratio = Math.abs(a - e) / (atol + rtol * Math.abs(e));
    if (!(ratio <= 1)) {
      if (!(ratio <= worstRatio)) {
        worstRatio = ratio;
        worst = i;
      }
    }
  }
  if (worst >= 0) {
    expect.fail(`${what}: element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (|diff| ${Math.abs(actual[worst] - expected[worst]).toExponential(3)} > atol ${atol} + rtol ${rtol}·|expected|)`);
  }
}

/**
 * Checks the GPU backward of `gpuFn` against central finite differences of the float64
 * reference `refFn`, for the scalar L = Σ w ⊙ f(x…) with random weights w.
 */
export async function checkGradients(opts: {
  inputs: Array<{ data: Float64Array; shape: number[]; grad?: boolean }>;
  gpuFn: (...xs: Tensor[]) => Tensor;
  refFn: (...xs: Float64Array[]) => Float64Array;
  seed?: number;
  h?: number;
  rtol?: number;
  atol?: number;
}): Promise<void> {
  const { inputs, gpuFn, refFn } = opts;
  const h = opts.h ?? 1e-4;
  const base = refFn(...inputs.map((i) => i.data));
  const w = randArray([base.length], opts.seed ?? 99, -1, 1);
  const L = (xs: Float64Array[]) => {
    const y = refFn(...xs);
    let s = 0;
    for (let i = 0; i < y.length; i++) s += w[i] * y[i];
    return s;
  };
  const xs = inputs.map((i) => gpuTensor(i.data, i.shape, i.grad !== false));
  const grads = await (async () => {
    const y = tidy(() => gpuFn(...xs));
    const g = gpuTensor(w, y.shape);
    backward(y, { grad: g });
    y.dispose();
    g.dispose();
    const out: Array<Float32Array | null> = [];
    for (const x of xs) out.push(x.grad ? ((await x.grad.data()) as Float32Array) : null);
    return out;
  })();
  for (const x of xs) {
    x.grad?.dispose();
    x.dispose();
  }
  for (let k = 0; k < inputs.length; k++) {
    if (inputs[k].grad === false) continue;
    const data = inputs[k].data;
    const fd = new Float64Array(data.length);
    const arrs = inputs.map((i) => Float64Array.from(i.data));
    for (let i = 0; i < data.length; i++) {
      const v = arrs[k][i];
      arrs[k][i] = v + h;
      const lp = L(arrs);
      arrs[k][i] = v - h;
      const lm = L(arrs);
      arrs[k][i] = v;
      fd[i] = (lp - lm) / (2 * h);
    }
    const g = grads[k];
    if (!g) {
      if (fd.some((v) => Math.abs(v) > 1e-6)) expect.fail(`input ${k}: no gradient reached it, but finite differences are non-zero`);
      continue;
    }
    expectClose(g, fd, opts.rtol ?? 2e-3, opts.atol ?? 2e-4, `gradient of input ${k}`);
  }
}
