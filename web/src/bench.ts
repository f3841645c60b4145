/**
 * The kernel benchmark suites (bench/*.bench.ts) in the page, through the same harness as
 * `npm run bench` (bench/harness.ts: the same warm-up, calibration, Benchmark.js statistics,
 * timestamp-query GPU times and table). Suites whose own imports are Node-only (e.g. weights
 * read from disk) are left out by the page build and listed with the reason. Peers
 * (tfjs-webgpu, jax-js) run in the page too when asked, on their own devices from navigator.gpu.
 */
import '../../bench/benchmark-globals.js';
import Benchmark from 'benchmark';
import { suiteFiles, excludedSuiteFiles } from 'virtual:lrdif-bench-suites';
import { engine } from '../../src/autograd/engine.js';
import { Harness, type CaseSpec, type Row, type Suite } from '../../bench/harness.js';
import type { Peers } from '../../bench/peers.js';

// Benchmark.js's compiled timing loops refer to the global Benchmark (see bench/benchmark-globals.ts)
(globalThis as unknown as { Benchmark: typeof Benchmark }).Benchmark = Benchmark;

export { excludedSuiteFiles };

function isSuite(x: unknown): x is Suite {
  const s = x as Suite;
  return !!s && typeof s === 'object' && typeof s.name === 'string' && typeof s.run === 'function' && typeof s.description === 'string';
}

/** Every suite the page can run, files in alphabetical order (as bench/run.ts). */
export async function pageSuites(): Promise<Suite[]> {
  const out: Suite[] = [];
  for (const f of Object.keys(suiteFiles).sort()) {
    const mod = await suiteFiles[f]();
    for (const v of Object.values(mod)) if (isSuite(v)) out.push(v);
  }
  return out;
}

export interface BenchOptions {
  /** Keep suites whose name contains one of these (all when empty). */
  filters: string[];
  quick: boolean;
  peers: boolean;
}

export interface BenchHooks {
  suite?(name: string, description: string): void;
  case?(suite: string, name: string, shape: string): void;
  row?(row: Row): void;
}

export interface BenchResult {
  /** The lines `npm run bench` prints before the table (adapter, peers). */
  header: string[];
  /** The table, as Harness.printTable prints it. */
  table: string;
  rows: Row[];
  /** The document `npm run bench` writes to bench/results (with the page's user agent). */
  doc: Record<string, unknown>;
}

/** Runs the suites that match; the table is the harness's own printTable output. */
export async function runBenchmarks(opts: BenchOptions, hooks: BenchHooks = {}): Promise<BenchResult> {
  const all = await pageSuites();
  const suites = all.filter((s) => opts.filters.length === 0 || opts.filters.some((f) => s.name.includes(f)));
  if (suites.length === 0) throw new Error(`no suite matches ${opts.filters.join(', ')} (suites in the page: ${all.map((s) => s.name).join(', ')})`);
  const ctx = engine.ctx;
  let peers: Peers = { tf: null, jax: null, status: [] };
  if (opts.peers) {
    const { startPeers } = await import('../../bench/peers.js');
    peers = await startPeers((navigator as Navigator & { gpu: GPU }).gpu, { tf: true, jax: true });
  }
  const header = [`adapter: ${ctx.adapter.summary}${ctx.canProfile ? ' (timestamp queries: yes)' : ' (timestamp queries: no, wall time only)'}`];
  for (const p of peers.status) header.push(`peer ${p.name}: ${p.error ? `unavailable (${p.error})` : `adapter ${p.adapter ?? 'unreported'}`}`);
  const h = new Harness(ctx, peers, { quick: opts.quick, noPeers: !opts.peers });
  let current = '';
  const caseOf = h.case.bind(h);
  h.case = async (spec: CaseSpec) => {
    hooks.case?.(current, spec.name, spec.shape);
    const before = h.rows.length;
    await caseOf(spec);
    for (const r of h.rows.slice(before)) hooks.row?.(r);
  };
  const t0 = performance.now();
  for (const s of suites) {
    current = s.name;
    hooks.suite?.(s.name, s.description);
    await s.run(h);
  }
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => {
    lines.push(args.map(String).join(' '));
  };
  try {
    h.printTable();
  } finally {
    console.log = log;
  }
  const doc = {
    date: new Date().toISOString(),
    adapter: h.adapter,
    userAgent: navigator.userAgent,
    peers: peers.status,
    suites: suites.map((s) => s.name),
    quick: opts.quick,
    seconds: Math.round((performance.now() - t0) / 1000),
    rows: h.rows,
  };
  return { header, table: lines.join('\n'), rows: h.rows, doc };
}
