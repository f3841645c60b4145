/**
 * `lrdif demo` end to end as a user runs it (node bin/lrdif.js demo, in a child process), shrunk
 * to 84 faces and 2 + 1 epochs so that it takes about half a minute: every step runs in order,
 * the run folders are ordinary `lrdif train` runs selected on a validation split, the evaluation
 * files are written, the final line reports both stages and face-api's zero-shot figure on the
 * same faces, and a second run in the same folder reuses the data and reproduces the figures.
 * (The demo's accuracy at its defaults is measured in the README, not here: too slow for a test.)
 */
import { describe, it, expect, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runNode } from './helpers/child.js';

const BIN = fileURLToPath(new URL('../bin/lrdif.js', import.meta.url));
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-demo-'));
afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

async function demo(): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const r = await runNode([BIN, 'demo', '--images', '84', '--epochs1', '2', '--epochs2', '1', '--out', out, '--no-cache', '--plain'], {
    timeout: 300_000,
    env: { ...process.env, LRDIF_DEBUG: '' },
  });
  if (r.error) throw r.error;
  return r;
}

const FINAL =
  /^LRDif \(under-display camera\): stage 1 \(label as input\) (\d+\.\d)% test accuracy; stage 2 \(image only\) (\d+\.\d)% on 21 test faces \(chance 14\.3%; face-api's expression net zero-shot (\d+\.\d)% on the same faces\)/m;

describe('lrdif demo', () => {
  it('runs the five steps, writes ordinary run folders and the evaluation, and reports both stages beside face-api', async () => {
    const r = await demo();
    expect(r.status, r.stderr).toBe(0);
    const steps = ['[1/5] 84 synthetic faces', '[2/5] under-display-camera degradation', '[3/5] stage 1', '[4/5] stage 2', '[5/5] evaluation'].map((s) => r.stdout.indexOf(s));
    expect(
      steps.every((i) => i >= 0),
      r.stdout.slice(0, 2000),
    ).toBe(true);
    expect([...steps].sort((a, b) => a - b)).toEqual(steps);
    const m = FINAL.exec(r.stdout);
    expect(m, r.stdout.slice(-1500)).not.toBeNull();
    for (const stage of ['stage1', 'stage2']) {
      for (const f of ['best.safetensors', 'last.safetensors', 'run.json', 'result.json', 'metrics.jsonl'])
        expect(fs.existsSync(path.join(out, stage, f)), `${stage}/${f}`).toBe(true);
      const result = JSON.parse(fs.readFileSync(path.join(out, stage, 'result.json'), 'utf8')) as { selected_on: string; n: number; accuracy: number };
      expect(result.selected_on).toBe('val');
      expect(result.n).toBe(21);
    }
    const ev = JSON.parse(fs.readFileSync(path.join(out, 'eval', 'eval.json'), 'utf8')) as { n: number; accuracy: number; confusion: number[][] };
    expect(ev.n).toBe(21);
    expect(ev.confusion).toHaveLength(7);
    // the final line's stage-2 figure is the evaluation's
    expect(Number(m![2])).toBeCloseTo(100 * ev.accuracy, 1);
    for (const f of ['confusion.svg', 'tsne.svg']) expect(fs.readFileSync(path.join(out, 'eval', f), 'utf8')).toMatch(/^<svg /);
  }, 320_000);

  it('run again in the same folder, reuses the data and reproduces the figures', async () => {
    const first = JSON.parse(fs.readFileSync(path.join(out, 'eval', 'eval.json'), 'utf8')) as { accuracy: number };
    const r = await demo();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`[1/5] synthetic faces: reusing ${path.join(out, 'data', 'clean')}`);
    expect(r.stdout).toContain(`[2/5] degraded faces: reusing ${path.join(out, 'data', 'udc')}`);
    const again = JSON.parse(fs.readFileSync(path.join(out, 'eval', 'eval.json'), 'utf8')) as { accuracy: number };
    expect(again.accuracy).toBe(first.accuracy);
  }, 320_000);
});
