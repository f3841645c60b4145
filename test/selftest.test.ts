/**
 * `lrdif selftest` (src/selftest, src/cli/selftest.ts): what it checks (every kernel family
 * forced, forward and backward of every op, the quick subset), that it passes here, that it
 * fails a wrong result and skips a variant the adapter cannot run, and the command's output.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { runNode } from './helpers/child.js';
import { createNodeContext, engine, tensor, add, type GpuContext, type KernelFamily } from '../src/node.js';
import { runChecks, runSelftest, selftestChecks, formatSummary, type LrdifGoldenFixture, type SelftestCheck } from '../src/selftest/index.js';
import { Comparisons } from '../src/selftest/check.js';

const BIN = fileURLToPath(new URL('../bin/lrdif.js', import.meta.url));
const GOLDEN = JSON.parse(readFileSync(new URL('./golden/fixtures/lrdif.json', import.meta.url), 'utf8')) as LrdifGoldenFixture;

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await gpu();
});

function familiesForced(checks: SelftestCheck[]): Set<string> {
  return new Set(checks.flatMap((c) => Object.keys(c.tuning ?? {})));
}

describe('selftest checks', () => {
  it('force every kernel family at least once, in the full run and in --quick', () => {
    const families = Object.keys(ctx.tuning) as KernelFamily[];
    expect(families.length).toBeGreaterThanOrEqual(10);
    for (const quick of [false, true]) {
      const forced = familiesForced(selftestChecks({ quick }));
      for (const f of families) expect(forced.has(f), `${f} is forced${quick ? ' in --quick' : ''}`).toBe(true);
    }
    // every path of each family with one, every matmul tile and every ddpm row count
    const full = selftestChecks();
    const settings = (family: string, key: string) =>
      new Set(full.map((c) => (c.tuning as Record<string, Record<string, unknown>> | undefined)?.[family]?.[key]).filter((v) => v !== undefined));
    for (const f of ['matmul', 'channelAttention', 'windowAttention', 'ddpm']) expect([...settings(f, 'path')].sort()).toEqual(['portable', 'subgroup']);
    expect([...settings('matmul', 'tileRows')].sort()).toEqual([16, 32, 8, null].sort());
    expect([...settings('ddpm', 'rows')].sort()).toEqual([16, 32, 8, null].sort());
    expect([...settings('permute', 'tiled')].sort()).toEqual([false, true]);
  });

  it('check every op forward and backward; --quick is a subset that keeps both', () => {
    const full = selftestChecks();
    const quick = selftestChecks({ quick: true });
    expect(quick.length).toBeLessThan(full.length / 2);
    for (const c of quick) expect(full.some((f) => f.op === c.op && f.shapes === c.shapes && f.variant === c.variant && f.kind === c.kind)).toBe(true);
    const kinds = (cs: SelftestCheck[], op: string) => new Set(cs.filter((c) => c.op === op).map((c) => c.kind));
    for (const op of ['matmul', 'conv2d', 'layerNorm', 'softmax', 'channelAttention', 'windowAttention', 'gdfn', 'permute', 'maxPool2d', 'crossEntropy', 'gelu', 'add']) {
      expect([...kinds(quick, op)].sort(), op).toEqual(['backward', 'forward']);
    }
    expect([...kinds(quick, 'lrdif')].sort()).toEqual(['inference', 'training']);
    expect(selftestChecks({ filter: ['MATMUL'] }).every((c) => c.op === 'matmul')).toBe(true);
  });
});

describe('runSelftest', () => {
  it('passes a filtered quick run here, reports the device and what it forced', async () => {
    const rep = await runSelftest(ctx, { quick: true, filter: ['matmul', 'udcBlur', 'ddpmChain'] });
    const bad = rep.results.filter((r) => r.status !== 'pass');
    expect(bad, JSON.stringify(bad)).toEqual([]);
    expect(rep.ok).toBe(true);
    expect(rep.device.adapter.summary).toBe(ctx.adapter.summary);
    expect(rep.device.limits.maxComputeWorkgroupsPerDimension).toBe(ctx.limits.maxComputeWorkgroupsPerDimension);
    // --quick forces both paths with the automatic tile (the 8/16/32-row tiles are in the full run, checked above)
    expect(rep.forced.matmul).toEqual(expect.arrayContaining(['path=portable', 'path=subgroup', 'tileRows=auto']));
    expect(rep.forced.udc).toEqual(['fftBatchBytes=200000']);
    for (const r of rep.results) {
      expect(r.maxError).not.toBeNull();
      expect(r.ratio!).toBeLessThanOrEqual(1);
      expect(r.ms).toBeGreaterThan(0);
    }
    // the tuning in force is the adapter's own again
    expect(ctx.tuning.matmul.tileRows).toBeNull();
    expect(formatSummary(rep)).toMatch(/^PASS: \d+ passed, 0 failed, 0 skipped in [\d.]+ s \(--quick\) on /m);
  });

  it('fails a result that disagrees with its reference, naming the element, and a check that throws', async () => {
    const checks: SelftestCheck[] = [
      {
        op: 'add',
        kind: 'forward',
        shapes: '[3]',
        variant: 'default',
        quick: true,
        async run() {
          const y = add(tensor([1, 2, 3], [3]), tensor([1, 1, 1], [3]));
          const got = await y.data();
          y.dispose();
          return new Comparisons().add('output', got, [2, 3, 5], 1e-6, 1e-7).result();
        },
      },
      {
        op: 'broken',
        kind: 'forward',
        shapes: '-',
        variant: 'default',
        quick: true,
        run: () => Promise.reject(new Error('lrdif: something went wrong')),
      },
      {
        op: 'bad variant',
        kind: 'forward',
        shapes: '-',
        variant: 'tile 7',
        tuning: { matmul: { tileRows: 7 as 8 } },
        quick: true,
        run: () => Promise.reject(new Error('not reached')),
      },
    ];
    const rep = await runChecks(ctx, checks);
    expect(rep.ok).toBe(false);
    expect(rep.failed).toBe(3);
    expect(rep.results[0].detail).toBe('output: element 2: got 4, expected 5 (|diff| 1.000e+0 > atol 1e-7 + rtol 0.000001·|expected|)');
    expect(rep.results[0].maxError).toBe(1);
    expect(rep.results[1].detail).toBe('threw: lrdif: something went wrong');
    expect(rep.results[2].detail).toMatch(/matmul\.tileRows must be one of 8, 16, 32, null, got 7/);
    expect(formatSummary(rep)).toMatch(/failures\n {2}add forward \[3\] \(default\): output: element 2/);
  });

  it('skips the subgroup variants on a device without subgroups, and passes the portable ones', async () => {
    const plain = await createNodeContext({ features: [] });
    try {
      expect(plain.caps.subgroupsAtLeast8).toBe(false);
      const checks = selftestChecks({ quick: true, filter: ['ddpmChain'] });
      const rep = await runChecks(plain, checks);
      expect(rep.ok).toBe(true);
      const skipped = rep.results.filter((r) => r.status === 'skip');
      expect(skipped.map((r) => r.variant)).toEqual(checks.filter((c) => c.variant.startsWith('subgroup')).map((c) => c.variant));
      expect(skipped[0].detail).toMatch(/ddpm\.path 'subgroup' cannot run on this adapter .*no 'subgroups' feature/);
      expect(rep.results.filter((r) => r.status === 'pass').map((r) => r.variant)).toEqual(['portable']);
    } finally {
      engine.setContext(ctx);
      plain.dispose();
    }
  });

  it('trains the tiny LRDif (both losses fall) and matches PyTorch at inference; the full run also compares with the unfused composition', async () => {
    const rep = await runSelftest(ctx, { quick: true, filter: ['lrdif'], golden: GOLDEN });
    expect(rep.results.map((r) => `${r.kind} ${r.status}`)).toEqual(['training pass', 'training pass', 'inference pass']);
    expect(rep.results[0].detail).toMatch(/^loss [\d.]+ → [\d.]+ over 16 steps/);
    const unfused = selftestChecks({ filter: ['lrdif'] }).filter((c) => c.variant === 'fused chain vs unfused, portable');
    expect(unfused).toHaveLength(1);
    const u = await runChecks(ctx, unfused);
    expect(u.results[0].status, u.results[0].detail).toBe('pass');
    // without the fixture its checks are skipped, saying why
    const golden = selftestChecks({ filter: ['lrdif'], golden: null }).filter((c) => c.variant === 'default vs PyTorch');
    expect(golden).toHaveLength(3);
    const none = await runChecks(ctx, golden);
    expect(none.results.map((r) => r.status)).toEqual(['skip', 'skip', 'skip']);
    expect(none.results[0].detail).toMatch(/golden fixture .*lrdif\.json is not available/);
  }, 600_000);
});

describe('lrdif selftest command', () => {
  it('--json prints the report and exits 0; the table has the device on top, a row per check and the totals', async () => {
    const r = await runNode([BIN, 'selftest', '--quick', '--json', '--filter', 'permute'], { timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const rep = JSON.parse(r.stdout) as { ok: boolean; quick: boolean; results: Array<{ op: string; status: string }>; device: { adapter: { summary: string } } };
    expect(rep.ok).toBe(true);
    expect(rep.quick).toBe(true);
    expect(rep.device.adapter.summary).toBe(ctx.adapter.summary);
    expect(rep.results.length).toBeGreaterThanOrEqual(4);
    expect(rep.results.every((x) => x.op === 'permute' && x.status === 'pass')).toBe(true);
    const t = await runNode([BIN, 'selftest', '--quick', '--filter', 'pixelShuffle'], { timeout: 300_000 });
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^adapter {6}\S/);
    expect(t.stdout).toMatch(/\nlimits\n {2}\S/);
    expect(t.stdout).toMatch(/lrdif selftest --quick: 2 checks\nop +kind +shapes +variant +max error +tolerance +result +ms\n-+\n/);
    expect(t.stdout).toMatch(/\npixelShuffle +forward +\[2, 8, 3, 5\] r 2 +default +0 +0 +PASS +\d+\n/);
    expect(t.stdout).toMatch(/\nPASS: 2 passed, 0 failed, 0 skipped in [\d.]+ s \(--quick\) on /);
  });

  it('exits 1 with one line when no check matches the filter', async () => {
    const r = await runNode([BIN, 'selftest', '--filter', 'no-such-op'], { timeout: 120_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('lrdif: error: selftest: no check matches no-such-op');
  });
});
