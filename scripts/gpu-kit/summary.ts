/**
 * `kit-summary OUT_DIR` (the GPU kit's run.sh calls it last): one table of what run.sh wrote —
 * the adapter, the self-test's totals and failures, every benchmark row, and the LRDif steps
 * beside PyTorch's on CUDA (f32 with TF32 off, and PyTorch's default) where that ran.
 * Returns the exit status: 1 when the self-test failed or its report is missing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Info {
  adapter: { summary: string };
  features: string[];
}
interface Selftest {
  ok: boolean;
  passed: number;
  failed: number;
  skipped: number;
  seconds: number;
  quick: boolean;
  results: Array<{ op: string; kind: string; shapes: string; variant: string; status: string; detail?: string }>;
}
interface BenchRow {
  name: string;
  shape: string;
  ours_ms: number;
  ours_metric: string;
  ours_wall_ms: number;
  gflops?: number;
  gbps?: number;
  note?: string;
}
interface Bench {
  rows: BenchRow[];
  seconds: number;
  gpuSizes?: boolean;
  failures?: Array<{ suite: string; error: string }>;
}
interface TorchRun {
  config: string;
  batch: number;
  mode: string;
  cases: Record<string, { median_ms: number }>;
}
interface Torch {
  torch?: string;
  device?: string;
  runs?: TorchRun[];
  skipped?: string;
}

function read<T>(dir: string, name: string): T | null {
  const file = join(dir, name);
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

function fmt(x: number | null | undefined): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return '-';
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3);
}

/** Columns padded to their widest cell: the first `left` to the left (names), the rest to the right (figures). */
function table(head: string[], rows: string[][], left = 1): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(head), '-'.repeat(widths.reduce((a, b) => a + b + 2, -2)), ...rows.map(line)];
}

const CASE_NAMES: Record<string, string> = { stage1: 'lrdif stage-1 train step', stage2: 'lrdif stage-2 train step', infer: 'lrdif inference batch' };

export function printKitSummary(dir: string | undefined): number {
  if (!dir) {
    process.stderr.write('lrdif: error: kit-summary needs the output folder of run.sh\n');
    return 2;
  }
  const out: string[] = [];
  const info = read<Info>(dir, 'info.json');
  const st = read<Selftest>(dir, 'selftest.json');
  const bench = read<Bench>(dir, 'bench.json');
  const torch = read<Torch>(dir, 'pytorch-cuda.json');
  out.push(`adapter: ${info?.adapter.summary ?? '(info.json missing)'}`);
  if (info) out.push(`features: ${info.features.join(', ')}`);
  if (st) {
    out.push(`selftest${st.quick ? ' --quick' : ''}: ${st.ok ? 'PASS' : 'FAIL'}, ${st.passed} passed, ${st.failed} failed, ${st.skipped} skipped in ${st.seconds} s`);
    for (const r of st.results.filter((x) => x.status === 'fail')) out.push(`  FAIL ${r.op} ${r.kind} ${r.shapes} (${r.variant}): ${r.detail ?? ''}`);
  } else out.push('selftest: selftest.json missing or unreadable');
  if (bench) {
    out.push('', `benchmarks (${bench.rows.length} rows, ${bench.seconds} s; ms per op: GPU time where timestamp queries exist, and wall)`);
    out.push(
      ...table(
        ['name', 'shape', 'ms', 'wall ms', 'rate'],
        bench.rows.map((r) => [
          r.name,
          r.shape,
          `${fmt(r.ours_ms)} ${r.ours_metric}`,
          fmt(r.ours_wall_ms),
          r.gflops !== undefined ? `${fmt(r.gflops)} GF/s` : r.gbps !== undefined ? `${fmt(r.gbps)} GB/s` : '',
        ]),
        2,
      ).map((l) => `  ${l}`),
    );
    for (const f of bench.failures ?? []) out.push(`  suite ${f.suite} FAILED: ${f.error}`);
  } else out.push('', 'benchmarks: bench.json missing or unreadable');
  if (torch?.runs?.length && bench) {
    out.push('', `LRDif steps: lrdif (wall) vs PyTorch ${torch.torch ?? ''} on ${torch.device ?? 'CUDA'} (f32: TF32 off; default: PyTorch's settings); ratio = PyTorch / lrdif`);
    const rows: string[][] = [];
    const keys = [...new Set(torch.runs.map((r) => `${r.config}|${r.batch}`))];
    for (const key of keys) {
      const [config, batch] = key.split('|');
      for (const c of Object.keys(CASE_NAMES)) {
        const ours = bench.rows.find((r) => r.name === CASE_NAMES[c] && r.shape.startsWith(`${config}, batch ${batch},`));
        const f32 = torch.runs.find((r) => r.config === config && String(r.batch) === batch && r.mode === 'f32')?.cases[c]?.median_ms;
        const def = torch.runs.find((r) => r.config === config && String(r.batch) === batch && r.mode === 'default')?.cases[c]?.median_ms;
        const w = ours?.ours_wall_ms;
        rows.push([`${config} b${batch} ${c}`, fmt(w), fmt(f32), fmt(def), w && f32 ? `${(f32 / w).toFixed(2)}×` : '-', w && def ? `${(def / w).toFixed(2)}×` : '-']);
      }
    }
    out.push(...table(['case', 'lrdif ms', 'torch f32 ms', 'torch default ms', 'ratio f32', 'ratio default'], rows).map((l) => `  ${l}`));
  } else if (torch?.skipped) out.push('', `PyTorch peer: ${torch.skipped}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return st?.ok ? 0 : 1;
}
