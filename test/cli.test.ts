/**
 * The `lrdif` command line, run as a user would (node bin/lrdif.js …, in a child process so
 * each command owns its device), and its toy data.
 */
import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { accuracy, blobs, spiral } from '../src/cli/toy-data.js';
import { oneLine } from '../src/cli/errors.js';
import { fmtSeconds } from '../src/cli/progress.js';
import { DAWN_NOTICE, StderrFilter } from '../src/cli/dawn-notices.js';
import { runNode } from './helpers/child.js';
import { childPids, cmdline } from '../bench/proc.js';
import { spawn } from 'node:child_process';

const BIN = fileURLToPath(new URL('../bin/lrdif.js', import.meta.url));

async function lrdif(...args: string[]) {
  const r = await runNode([BIN, ...args], { timeout: 120_000, env: { ...process.env, LRDIF_DEBUG: '' } });
  if (r.error) throw r.error;
  // Dawn prints its own notices on stderr; keep only lrdif's lines
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('Warning: '))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr };
}

describe('toy data', () => {
  it('is seeded, balanced and shuffled', () => {
    const a = spiral(50, 3, 4);
    const b = spiral(50, 3, 4);
    expect(Array.from(a.x)).toEqual(Array.from(b.x));
    expect(Array.from(a.y)).toEqual(Array.from(b.y));
    expect(Array.from(spiral(50, 3, 5).x)).not.toEqual(Array.from(a.x));
    expect(a.n).toBe(150);
    for (let c = 0; c < 3; c++) expect(a.y.filter((v) => v === c).length).toBe(50);
    expect(Array.from(a.y.slice(0, 50)).every((v) => v === a.y[0])).toBe(false); // not in class order
    const d = blobs(20, 4, 1);
    expect(d.x.length).toBe(160);
    // each blob sits around its centre on the unit circle
    for (let c = 0; c < 4; c++) {
      let mx = 0;
      let my = 0;
      for (let i = 0; i < d.n; i++) if (d.y[i] === c) ((mx += d.x[2 * i] / 20), (my += d.x[2 * i + 1] / 20));
      expect(Math.hypot(mx - Math.cos((Math.PI * c) / 2), my - Math.sin((Math.PI * c) / 2))).toBeLessThan(0.25);
    }
  });

  it('accuracy counts matching labels and checks lengths', () => {
    expect(accuracy([0, 1, 2, 2], [0, 1, 1, 2])).toBe(0.75);
    expect(() => accuracy([0], [0, 1])).toThrow('lrdif: accuracy: 1 predictions for 2 labels');
  });

  it("drops Dawn's notices from stderr line by line, passes everything else at once", () => {
    let out = '';
    const f = new StderrFilter((t) => (out += t));
    f.push('Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\nWar');
    expect(out).toBe('');
    f.push('ning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n');
    expect(out).toBe('');
    f.push('loading 10%\r');
    expect(out).toBe('loading 10%\r'); // a progress line is not held back
    f.push('loading 20%\r\nWarning: something else\nlrdif: error: x');
    expect(out).toBe('loading 10%\rloading 20%\r\nWarning: something else\nlrdif: error: x');
    f.push('\nWarning: tail');
    f.end();
    expect(out).toBe('loading 10%\rloading 20%\r\nWarning: something else\nlrdif: error: x\nWarning: tail');
  });

  it('folds multi-line errors into one line', () => {
    expect(oneLine('lrdif: no adapter.\n  install one:\n  apt-get …\n')).toBe('no adapter. install one: apt-get …');
  });
});

describe('progress durations', () => {
  it('round before splitting minutes and hours: never "2m60s" or "1h60m"', () => {
    // the seconds field is whole seconds 0…59 and the minutes field 0…59, and the shown value is within half a unit
    const parse = (t: string) => {
      const m = /^(?:(\d+)h(\d\d)m|(?:(\d+)m)?(\d\d|\d)s)$/.exec(t);
      expect(m, t).not.toBeNull();
      if (m![1] !== undefined) {
        expect(Number(m![2])).toBeLessThan(60);
        return { secs: 3600 * Number(m![1]) + 60 * Number(m![2]), unit: 60 };
      }
      if (m![3] !== undefined) expect(Number(m![4])).toBeLessThan(60);
      return { secs: 60 * Number(m![3] ?? 0) + Number(m![4]), unit: 1 };
    };
    for (let s = 0; s < 4 * 3600; s += 0.37) {
      const { secs, unit } = parse(fmtSeconds(s));
      expect(Math.abs(secs - s)).toBeLessThanOrEqual(unit / 2 + 1e-9);
    }
    expect(fmtSeconds(179.6)).toBe('3m00s');
    expect(fmtSeconds(59.6)).toBe('1m00s');
    expect(fmtSeconds(3599.7)).toBe('1h00m');
    expect(fmtSeconds(7170)).toBe('2h00m');
    for (const bad of [NaN, Infinity, -1, 'NULL', undefined]) expect(fmtSeconds(bad)).toBe('-');
  });
});

describe('lrdif command', () => {
  it('info --json describes the adapter the library gets', async () => {
    const ctx = await gpu();
    const r = await lrdif('info', '--json');
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout) as {
      adapter: { summary: string };
      features: string[];
      lrdifFeatures: { shaderF16: boolean; subgroups: boolean };
      limits: Record<string, number>;
    };
    expect(info.adapter.summary).toBe(ctx.adapter.summary);
    // no kernel computes in f16: the device may have shader-f16, lrdif does not use it
    expect(info.features.includes('shader-f16')).toBe(ctx.features.shaderF16);
    expect(info.lrdifFeatures.shaderF16).toBe(false);
    expect(info.lrdifFeatures.subgroups).toBe(ctx.features.subgroups);
    expect(info.limits.maxComputeWorkgroupsPerDimension).toBe(ctx.limits.maxComputeWorkgroupsPerDimension);
    expect(info.limits.maxStorageBufferBindingSize).toBe(ctx.limits.maxStorageBufferBindingSize);
    expect(info.features.includes('timestamp-query')).toBe(ctx.features.timestampQuery);
  });

  it("info prints a table, with none of Dawn's start-up notices on stderr unless --verbose", async () => {
    const ctx = await gpu();
    const raw = await runNode([BIN, 'info'], { timeout: 120_000 });
    expect(raw.status, raw.stderr).toBe(0);
    expect(raw.stderr).toBe('');
    const r = { ...raw, stderr: '' };
    if (/llvmpipe|lavapipe/.test(ctx.adapter.summary)) {
      // lavapipe reports a million dynamic buffers: Dawn's clamp notice is there to be filtered
      const v = await runNode([BIN, '--verbose', 'info'], { timeout: 120_000 });
      expect(
        v.stderr.split('\n').some((l) => DAWN_NOTICE.test(l)),
        v.stderr,
      ).toBe(true);
    }
    expect(r.status, r.stderr).toBe(0);
    const f16 = ctx.features.shaderF16 ? 'the device has it; no lrdif kernel' : 'no lrdif kernel';
    expect(r.stdout).toContain(
      `\nlrdif uses   subgroups: ${ctx.features.subgroups ? 'yes' : 'no'}, timestamp-query: ${ctx.features.timestampQuery ? 'yes' : 'no'}, shader-f16: no (${f16} computes in f16 yet)\n`,
    );
    expect(r.stdout).toMatch(/^adapter {6}\S/);
    expect(r.stdout).toMatch(/\n {2}maxComputeWorkgroupsPerDimension +\d+\n/);
  });

  it('engine-demo trains a classifier that learns', async () => {
    const r = await lrdif('engine-demo', '--dataset', 'blobs', '--steps', '60', '--plain');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/step +60\/60 +loss \d+\.\d{4} +acc [\d.]+% +[\d.]+ steps\/s/);
    const m = /train accuracy ([\d.]+)%, test accuracy ([\d.]+)%/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    // three well-separated blobs: far above chance (33 %) after 60 steps
    expect(Number(m![1])).toBeGreaterThan(85);
    expect(Number(m![2])).toBeGreaterThan(85);
  });

  it('reports a bad argument in one line and exits non-zero; --verbose adds the stack', async () => {
    const r = await lrdif('engine-demo', '--steps', '0');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("lrdif: error: engine-demo: --steps must be a positive integer, got '0'");
    const v = await lrdif('--verbose', 'engine-demo', '--dataset', 'moons');
    expect(v.status).toBe(1);
    expect(v.stderr).toMatch(/^lrdif: error: Error: lrdif: engine-demo: --dataset must be 'spiral' or 'blobs', got 'moons'\n\s+at /);
  });

  it('reports device errors in one line', async () => {
    const r = await runNode([BIN, 'info'], { timeout: 60_000, env: { ...process.env, LRDIF_BACKEND: 'no-such-backend' } });
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('lrdif:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lrdif: error: .*no-such-backend/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('bench runs bench/run.ts with the filters and flags, and passes its exit code on', async () => {
    // a filter that matches no suite: the suite lists what there is and exits 2, before any device work
    const r = await lrdif('bench', 'no-such-suite', '--no-peers', '--quick');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no suite matches no-such-suite \(suites: .*matmul/);
  });

  it("says so when the command's process is ended by a signal nobody passed on (the OOM killer's SIGKILL), then ends the same way", async () => {
    const p = spawn(process.execPath, [BIN, 'engine-demo', '--steps', '1000000'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LRDIF_DEBUG: '' } });
    let stderr = '';
    p.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const closed = new Promise<NodeJS.Signals | null>((resolve) => p.on('close', (_code, signal) => resolve(signal)));
    let child = 0;
    for (let i = 0; i < 200 && !child; i++) {
      await new Promise((r) => setTimeout(r, 100));
      // the command's process (tsx may have its own esbuild service child: not that one)
      child = childPids(p.pid!).find((c) => cmdline(c).includes('engine-demo')) ?? 0;
    }
    try {
      expect(child, 'the command runs in a child process').toBeGreaterThan(0);
      process.kill(child, 'SIGKILL');
      expect(await closed).toBe('SIGKILL');
    } finally {
      // a failed run must not leave the long command behind
      for (const c of childPids(p.pid!)) if (cmdline(c).includes('engine-demo')) process.kill(c, 'SIGKILL');
      p.kill('SIGKILL');
    }
    expect(stderr).toMatch(
      /^lrdif: error: the command's process was ended by SIGKILL \(the kernel's out-of-memory killer sends it: `dmesg` says\)\. Files are written atomically/m,
    );
  }, 60_000);

  it('rejects an unknown command', async () => {
    const r = await lrdif('nope');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("unknown command 'nope'");
  });
});
