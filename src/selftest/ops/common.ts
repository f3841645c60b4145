/** Helpers of the op checks: GPU runs that free what they make, and check constructors. */
import type { Tensor } from '../../autograd/tensor.js';
import { tidy } from '../../autograd/engine.js';
import type { TuningPatch } from '../../gpu/tuning.js';
import { Comparisons, compareGradients, type CheckKind, type SelftestCheck } from '../check.js';
import type { GradientInput } from '../reference/gradients.js';
import { rng } from '../reference/random.js';

export { gpuTensor } from '../reference/gradients.js';
export { randArray, rng, sizeOf, maxAbs } from '../reference/random.js';
export { Comparisons, shapesText } from '../check.js';

/** Runs `fn` in a tidy scope and reads its result back; frees everything it made. */
export async function gpuValues(fn: () => Tensor): Promise<Float32Array> {
  const y = tidy(fn);
  try {
    return (await y.data()) as Float32Array;
  } finally {
    y.dispose();
  }
}

/** A kernel variant: its name in the table and the tuning that forces it. */
export interface Variant {
  variant: string;
  tuning?: TuningPatch;
  /**
   * false: only in the full run. `--quick` keeps one forced variant per kernel family besides
   * the default (each variant compiles its own pipelines: seconds each on a CPU adapter).
   */
  quick?: boolean;
}

export const DEFAULT_VARIANT: Variant = { variant: 'default' };

interface Base {
  op: string;
  shapes: string;
  quick?: boolean;
}

/** A forward check: `body` adds its comparisons. */
export function forwardCheck(b: Base, v: Variant, body: (cmp: Comparisons) => Promise<void>): SelftestCheck {
  return makeCheck('forward', b, v, body);
}

/** A backward check against finite differences of the float64 reference. */
export function backwardCheck(
  b: Base,
  v: Variant,
  g: { inputs: GradientInput[]; names: string[]; gpuFn: (...xs: Tensor[]) => Tensor; refFn: (...xs: Float64Array[]) => Float64Array; rtol?: number; atol?: number; h?: number },
): SelftestCheck {
  return makeCheck('backward', b, v, async (cmp) => {
    await compareGradients(cmp, g);
  });
}

/** Any check: `body` adds its comparisons. */
export function makeCheck(kind: CheckKind, b: Base, v: Variant, body: (cmp: Comparisons) => Promise<void>): SelftestCheck {
  return {
    op: b.op,
    kind,
    shapes: b.shapes,
    variant: v.variant,
    tuning: v.tuning,
    quick: (b.quick ?? false) && (v.quick ?? true),
    async run() {
      const cmp = new Comparisons();
      await body(cmp);
      return cmp.result();
    },
  };
}

/** Distinct values (a shuffled grid), so max/min have no ties and finite differences cross none. */
export function distinctData(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const perm = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  return Float64Array.from(perm, (k) => Math.fround((k - n / 2) * 0.013));
}
