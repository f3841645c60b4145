/**
 * `lrdif selftest` as a library (Node and browsers alike): runs every check on the current
 * device — each op forward and backward against the float64 references the tests use, each
 * kernel family forced through `ctx.withTuning` at least once, awkward shapes, then the tiny
 * LRDif training runs and an inference batch — and reports what each measured.
 */
import { engine } from '../autograd/engine.js';
import type { GpuContext } from '../gpu/context.js';
import type { KernelFamily, TuningPatch } from '../gpu/tuning.js';
import { adapterReport, type AdapterReport } from './adapter.js';
import type { CheckKind, SelftestCheck } from './check.js';
import { opChecks } from './ops/index.js';
import { lrdifChecks, type LrdifGoldenFixture } from './lrdif.js';

export type CheckStatus = 'pass' | 'fail' | 'skip';

export interface CheckResult {
  op: string;
  kind: CheckKind;
  shapes: string;
  variant: string;
  status: CheckStatus;
  /** Largest |got − expected| of the worst comparison (null when skipped or failed without one). */
  maxError: number | null;
  /** Worst error over its tolerance (≤ 1 passes). */
  ratio: number | null;
  tolerance: string;
  ms: number;
  /** Why it failed or was skipped; what a training run saw. */
  detail?: string;
}

export interface SelftestOptions {
  /** The `--quick` subset (about a minute on lavapipe). */
  quick?: boolean;
  /** Keep the checks whose op contains one of these (case-insensitive); all when empty. */
  filter?: string[];
  /** The golden PyTorch fixture of the LRDif model (test/golden/fixtures/lrdif.json); without it those checks are skipped. */
  golden?: LrdifGoldenFixture | null;
  /** Called before each check runs. */
  onStart?(check: SelftestCheck, index: number, total: number): void;
  /** Called with each result as it comes. */
  onResult?(result: CheckResult, index: number, total: number): void;
}

export interface SelftestReport {
  lrdifSelftest: 1;
  date: string;
  quick: boolean;
  filter: string[];
  device: AdapterReport;
  /** The kernel variants forced, by family ('path=subgroup', 'tileRows=8', …). */
  forced: Partial<Record<KernelFamily, string[]>>;
  results: CheckResult[];
  passed: number;
  failed: number;
  skipped: number;
  seconds: number;
  ok: boolean;
}

/** Every check, in the order they run (ops first, then the LRDif model). */
export function selftestChecks(options: Pick<SelftestOptions, 'quick' | 'filter' | 'golden'> = {}): SelftestCheck[] {
  const all = [...opChecks(), ...lrdifChecks(options.golden ?? null)];
  const filters = (options.filter ?? []).map((f) => f.toLowerCase()).filter(Boolean);
  return all.filter((c) => (!options.quick || c.quick) && (filters.length === 0 || filters.some((f) => c.op.toLowerCase().includes(f))));
}

function forcedSettings(patch: TuningPatch | undefined, into: Partial<Record<KernelFamily, string[]>>): void {
  for (const [family, settings] of Object.entries(patch ?? {})) {
    const list = (into[family as KernelFamily] ??= []);
    for (const [k, v] of Object.entries(settings ?? {})) {
      const s = `${k}=${v === null ? 'auto' : String(v)}`;
      if (!list.includes(s)) list.push(s);
    }
  }
}

export async function runSelftest(ctx: GpuContext, options: SelftestOptions = {}): Promise<SelftestReport> {
  const checks = selftestChecks(options);
  if (checks.length === 0) throw new Error(`lrdif: selftest: no check matches ${(options.filter ?? []).join(', ')}`);
  return runChecks(ctx, checks, options);
}

/** A variant the adapter cannot run (setTuning says so): skipped, not failed. */
const CANNOT_RUN = /cannot run on this adapter/;

/** Runs the given checks in order (each with its kernel variants forced) and reports them. */
export async function runChecks(ctx: GpuContext, checks: SelftestCheck[], options: Omit<SelftestOptions, 'golden'> = {}): Promise<SelftestReport> {
  const t0 = performance.now();
  if (!engine.hasContext || engine.ctx !== ctx) engine.setContext(ctx);
  const results: CheckResult[] = [];
  const forced: Partial<Record<KernelFamily, string[]>> = {};
  for (let i = 0; i < checks.length; i++) {
    const c = checks[i];
    options.onStart?.(c, i, checks.length);
    const base = { op: c.op, kind: c.kind, shapes: c.shapes, variant: c.variant };
    let restore: (() => void) | null = null;
    let result: CheckResult | null = null;
    const start = performance.now();
    try {
      restore = c.tuning ? ctx.setTuning(c.tuning) : () => {};
    } catch (e) {
      const msg = (e as Error).message.replace(/^lrdif: setTuning: /, '');
      // a variant this adapter cannot run (the subgroup kernels without subgroups of ≥ 8) is skipped
      result = { ...base, status: CANNOT_RUN.test(msg) ? 'skip' : 'fail', maxError: null, ratio: null, tolerance: '-', ms: 0, detail: msg };
    }
    if (restore) {
      try {
        const m = await c.run();
        await ctx.sync();
        const pass = m.ratio <= 1;
        result = {
          ...base,
          status: m.skipped ? 'skip' : pass ? 'pass' : 'fail',
          maxError: finiteOrNull(m.maxError),
          ratio: finiteOrNull(m.ratio),
          tolerance: m.tolerance,
          ms: 0,
          detail: m.skipped ?? m.detail,
        };
        forcedSettings(c.tuning, forced);
      } catch (e) {
        result = { ...base, status: 'fail', maxError: null, ratio: null, tolerance: '-', ms: 0, detail: `threw: ${(e as Error).message}` };
      } finally {
        restore();
        engine.clearTape();
      }
      result.ms = Math.round((performance.now() - start) * 10) / 10;
    }
    results.push(result!);
    options.onResult?.(result!, i, checks.length);
  }
  for (const c of checks) c.dispose?.();
  engine.clearTape();
  const count = (s: CheckStatus) => results.filter((r) => r.status === s).length;
  const failed = count('fail');
  return {
    lrdifSelftest: 1,
    date: new Date().toISOString(),
    quick: options.quick ?? false,
    filter: options.filter ?? [],
    device: adapterReport(ctx),
    forced,
    results,
    passed: count('pass'),
    failed,
    skipped: count('skip'),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
    ok: failed === 0,
  };
}

function finiteOrNull(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
