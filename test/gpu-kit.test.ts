/**
 * The GPU kit's parts that can be checked cheaply here (CI builds the whole kit, unpacks it
 * outside the checkout and runs it: .ci/gpu-kit.sh): run.sh parses as a POSIX sh script and
 * takes its arguments as documented, and kit-summary's table of a run.sh output folder.
 */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from './helpers/child.js';
import { printKitSummary } from '../scripts/gpu-kit/summary.js';

const RUN_SH = fileURLToPath(new URL('../scripts/gpu-kit/run.sh', import.meta.url));

describe('GPU kit', () => {
  it('run.sh is a POSIX sh script (dash parses it) and rejects bad arguments with its usage', async () => {
    const syntax = await runCommand('/bin/sh', ['-n', RUN_SH]);
    expect(syntax.status, syntax.stderr).toBe(0);
    for (const args of [[], ['out', '--fast']]) {
      const r = await runCommand('/bin/sh', [RUN_SH, ...args]);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe('usage: sh run.sh OUT_DIR [--quick]\n');
    }
  });

  it('kit-summary prints the adapter, the self-test, every benchmark row and lrdif beside PyTorch', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lrdif-kit-summary-'));
    try {
      const w = (name: string, doc: unknown) => writeFileSync(join(dir, name), JSON.stringify(doc));
      w('info.json', { adapter: { summary: 'NVIDIA H200 (nvidia)' }, features: ['shader-f16', 'subgroups'] });
      w('selftest.json', {
        ok: false,
        passed: 10,
        failed: 1,
        skipped: 2,
        seconds: 12.5,
        quick: false,
        results: [{ op: 'matmul', kind: 'forward', shapes: '[33, 3]·[3, 17]', variant: 'portable', status: 'fail', detail: 'output: element 4: got 1, expected 2' }],
      });
      const row = (name: string, shape: string, ms: number) => ({ name, shape, ours_ms: ms, ours_metric: 'gpu', ours_wall_ms: 2 * ms });
      w('bench.json', { seconds: 30, rows: [row('matmul', '[4096×4096]·[4096×4096]', 3.5), row('lrdif stage-1 train step', 'tiny, batch 8, 112×112, T = 4', 10)] });
      w('pytorch-cuda.json', {
        torch: '2.11.0',
        device: 'NVIDIA H200',
        runs: [
          { config: 'tiny', batch: 8, mode: 'f32', cases: { stage1: { median_ms: 40 } } },
          { config: 'tiny', batch: 8, mode: 'default', cases: { stage1: { median_ms: 30 } } },
        ],
      });
      let out = '';
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
      let code: number;
      try {
        code = printKitSummary(dir);
      } finally {
        process.stdout.write = write;
      }
      expect(code).toBe(1);
      expect(out).toMatch(
        /^adapter: NVIDIA H200 \(nvidia\)\nfeatures: shader-f16, subgroups\nselftest: FAIL, 10 passed, 1 failed, 2 skipped in 12.5 s\n {2}FAIL matmul forward \[33, 3\]·\[3, 17\] \(portable\): output: element 4/,
      );
      expect(out).toMatch(/\n {2}matmul +\[4096×4096\]·\[4096×4096\] +3\.50 gpu +7\.00\n/);
      // lrdif's wall 20 ms against PyTorch's 40 ms (f32) and 30 ms (default)
      expect(out).toMatch(/\n {2}tiny b8 stage1 +20\.0 +40\.0 +30\.0 +2\.00× +1\.50×\n/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
