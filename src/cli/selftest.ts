/**
 * `lrdif selftest [--quick] [--json] [--filter <op>…]`: does lrdif work on this GPU? Runs the
 * self-test (src/selftest) on the adapter lrdif gets here: every op forward and backward against
 * the tests' float64 references, every kernel variant forced, the tiny LRDif training runs and an
 * inference batch against PyTorch's golden values. A table (or JSON) with the adapter on top;
 * exit status 1 when a check fails.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import type { Register } from './command.js';
import { initNode } from '../node.js';
import { runSelftest, adapterReport, formatDevice, formatHeaderRow, formatRow, formatSummary, type LrdifGoldenFixture } from '../selftest/index.js';

const GOLDEN = join('test', 'golden', 'fixtures', 'lrdif.json');

/** The golden LRDif fixture beside the package (a checkout, the GPU kit); null where it is not there. */
export function findGoldenFixture(): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const file = join(dir, GOLDEN);
    if (existsSync(file)) return file;
    dir = dirname(dir);
  }
  return null;
}

export interface SelftestCliOptions {
  quick?: boolean;
  json?: boolean;
  filter?: string[];
}

export async function runSelftestCommand(opts: SelftestCliOptions): Promise<number> {
  const file = findGoldenFixture();
  const golden = file ? (JSON.parse(readFileSync(file, 'utf8')) as LrdifGoldenFixture) : null;
  const ctx = await initNode();
  try {
    const out = (s: string) => process.stdout.write(`${s}\n`);
    let started = false;
    const report = await runSelftest(ctx, {
      quick: opts.quick,
      filter: opts.filter,
      golden,
      onStart: (c, i, n) => {
        // with --json the table is not printed: a progress line on a terminal's stderr instead
        if (opts.json && process.stderr.isTTY) process.stderr.write(`\r\x1b[K${i + 1}/${n} ${c.op} ${c.kind} (${c.variant})`);
        if (opts.json || started) return;
        started = true;
        out(formatDevice(adapterReport(ctx)));
        out('');
        out(`lrdif selftest${opts.quick ? ' --quick' : ''}: ${n} checks${golden ? '' : ' (no golden fixture here: its checks are skipped)'}`);
        out(formatHeaderRow());
      },
      onResult: (r) => {
        if (!opts.json) out(formatRow(r));
      },
    });
    if (opts.json && process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    if (opts.json) out(JSON.stringify(report, null, 2));
    else out(formatSummary(report));
    return report.ok ? 0 : 1;
  } finally {
    ctx.dispose();
  }
}

function collect(value: string, prev: string[]): string[] {
  return [
    ...prev,
    ...value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

export const registerSelftest: Register = (program: Command, wrap) => {
  program
    .command('selftest')
    .description(
      'does lrdif work on this GPU? every op forward and backward against float64 references, every kernel variant, a tiny LRDif training run and inference against PyTorch; exit status 1 on any failure',
    )
    .option('--quick', 'a subset (about a minute on a CPU adapter)')
    .option('--json', 'print the report as JSON')
    .option('--filter <op>', 'only the checks whose op contains this (repeat or comma-separate; e.g. matmul, lrdif)', collect, [])
    .action(wrap(async (opts: { quick?: boolean; json?: boolean; filter: string[] }) => runSelftestCommand(opts)));
};
