/**
 * One self-test check: an op (or the LRDif model) run on the current device, compared with an
 * independent reference — the float64 references of src/selftest/reference/ that the tests use,
 * finite differences of them for gradients, or a golden PyTorch fixture. A check may force
 * kernel variants (`tuning`), so each kernel family is exercised whatever the adapter would
 * choose by itself.
 */
import type { TuningPatch } from '../gpu/tuning.js';
import { closeness, describeMismatch } from './reference/compare.js';
import { gradientPairs, type GradientCheckOptions } from './reference/gradients.js';

export type CheckKind = 'forward' | 'backward' | 'training' | 'inference';

/** What a check measured: its worst comparison. */
export interface Measurement {
  /** Largest |got − expected| of the worst comparison (for training: the loss ratio). */
  maxError: number;
  /** Worst |got − expected| / (atol + rtol·|expected|) over every comparison: ≤ 1 passes. */
  ratio: number;
  /** The worst comparison's tolerance, in words ("1e-4·|e| + 2e-5"). */
  tolerance: string;
  /** Why it fails (the worst element), or what a training check saw. */
  detail?: string;
  /** The check could not run here, and why (a missing fixture): reported as skipped, not failed. */
  skipped?: string;
}

export interface SelftestCheck {
  /** The op or model part, e.g. 'matmul', 'layerNorm', 'lrdif'. */
  op: string;
  kind: CheckKind;
  /** The shapes, as short text. */
  shapes: string;
  /** The kernel variant, e.g. 'subgroup, 8-row tiles'; 'default' for the adapter's own choice. */
  variant: string;
  /** Kernel variants forced while it runs (ctx.withTuning). */
  tuning?: TuningPatch;
  /** Part of `--quick`. */
  quick: boolean;
  run(): Promise<Measurement>;
  /** Frees what the check keeps for later checks (called once the whole run ends). */
  dispose?(): void;
}

/** Formats a tolerance: "1e-4·|e| + 2e-5". */
export function toleranceText(rtol: number, atol: number): string {
  const f = (v: number) => (v === 0 ? '0' : v.toExponential(0).replace('e-', 'e-').replace('e+0', ''));
  if (rtol === 0) return f(atol);
  if (atol === 0) return `${f(rtol)}·|e|`;
  return `${f(rtol)}·|e| + ${f(atol)}`;
}

/** Accumulates the comparisons of one check; `result()` is the worst. */
export class Comparisons {
  private worst: Measurement | null = null;

  /** Compares `got` with `expected` elementwise (|a − e| ≤ atol + rtol·|e|). */
  add(what: string, got: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number): this {
    const c = closeness(got, expected, rtol, atol);
    const m: Measurement = {
      maxError: c.maxError,
      ratio: c.ratio,
      tolerance: toleranceText(rtol, atol),
      detail: c.ok ? undefined : describeMismatch(c, got, expected, rtol, atol, what),
    };
    if (!this.worst || !(m.ratio <= this.worst.ratio)) this.worst = m;
    return this;
  }

  /** Compares a GPU result with a scale-relative tolerance: |a − e| ≤ tol·(|e| + max|e|) (the golden fixtures' rule). */
  addScaled(what: string, got: ArrayLike<number>, expected: ArrayLike<number>, tol: number): this {
    let scale = 0;
    for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]));
    return this.add(what, got, expected, tol, tol * scale);
  }

  /** A failure that is not a numeric comparison (a missing gradient, a wrong shape). */
  fail(detail: string): this {
    this.worst = { maxError: NaN, ratio: Infinity, tolerance: '-', detail };
    return this;
  }

  result(): Measurement {
    if (!this.worst) throw new Error('lrdif: selftest: a check compared nothing');
    return this.worst;
  }
}

/** Shape list as text: "[3, 5]·[5, 4]". */
export function shapesText(...shapes: ReadonlyArray<readonly number[]>): string {
  return shapes.map((s) => `[${s.join(', ')}]`).join('·');
}

/**
 * Gradients of `gpuFn` against central finite differences of the float64 `refFn` (L = Σ w ⊙ f),
 * added to `cmp` as 'd<name>' per input (the tests' default tolerance: 2e-3·|e| + 2e-4).
 */
export async function compareGradients(cmp: Comparisons, opts: GradientCheckOptions & { names?: string[]; rtol?: number; atol?: number }): Promise<Comparisons> {
  for (const { input, gpu, fd } of await gradientPairs(opts)) {
    const name = `d${opts.names?.[input] ?? `input${input}`}`;
    if (!gpu) {
      if (fd.some((v) => Math.abs(v) > 1e-6)) cmp.fail(`${name}: no gradient reached it, but finite differences are non-zero`);
      continue;
    }
    cmp.add(name, gpu, fd, opts.rtol ?? 2e-3, opts.atol ?? 2e-4);
  }
  return cmp;
}
