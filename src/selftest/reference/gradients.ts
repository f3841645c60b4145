/**
 * Gradients of a GPU op against central finite differences of its float64 reference, for the
 * scalar L = Σ w ⊙ f(x…) with seeded random weights w. The op tests assert the comparison
 * (test/helpers/ref.ts `checkGradients`); `lrdif selftest` reports it.
 */
import { tensor, type Tensor } from '../../autograd/tensor.js';
import { backward } from '../../autograd/backward.js';
import { tidy } from '../../autograd/engine.js';
import { randArray } from './random.js';

/** A GPU tensor from float64 data (rounded to f32). */
export function gpuTensor(data: ArrayLike<number>, shape: readonly number[], requiresGrad = false): Tensor {
  const t = tensor(Float32Array.from(data), shape);
  t.requiresGrad = requiresGrad;
  return t;
}

export interface GradientInput {
  data: Float64Array;
  shape: number[];
  /** false: a constant input (no gradient compared). */
  grad?: boolean;
}

export interface GradientCheckOptions {
  inputs: GradientInput[];
  gpuFn: (...xs: Tensor[]) => Tensor;
  refFn: (...xs: Float64Array[]) => Float64Array;
  /** Seed of the weights w. */
  seed?: number;
  /** Finite-difference step. */
  h?: number;
}

/** One input's gradient: the GPU's (null when none reached the input) and the finite differences'. */
export interface GradientPair {
  input: number;
  gpu: Float32Array | null;
  fd: Float64Array;
}

/** The GPU gradients of every input that takes one, beside central finite differences of `refFn`. */
export async function gradientPairs(opts: GradientCheckOptions): Promise<GradientPair[]> {
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
  const grads: Array<Float32Array | null> = [];
  try {
    const y = tidy(() => gpuFn(...xs));
    const g = gpuTensor(w, y.shape);
    backward(y, { grad: g });
    y.dispose();
    g.dispose();
    for (const x of xs) grads.push(x.grad ? ((await x.grad.data()) as Float32Array) : null);
  } finally {
    for (const x of xs) {
      x.grad?.dispose();
      x.dispose();
    }
  }
  const out: GradientPair[] = [];
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
    out.push({ input: k, gpu: grads[k], fd });
  }
  return out;
}
