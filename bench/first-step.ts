/**
 * Time to the first training step: `lrdif train` (stage 1, tiny config, batch 16, 112×112) in a
 * child process, from its start to the end of step 1 (its `step 1/` progress line), with cold
 * caches — a new embedding cache, a new temporary folder (so where a checkout's build is stale
 * and the CLI runs the sources, tsx transpiles them afresh; bin/build-freshness.js) and a new
 * Mesa shader cache. The child is killed once step 1 is done. What it
 * prints before then marks the phases; its CPU time (all threads, from /proc on Linux) is a
 * figure that a loaded machine skews far less than the wall time.
 *
 *   npx tsx bench/first-step.ts [--warm] [--images N] [--bin <checkout>/bin/lrdif.js] [--runs N]
 * prints one measurement per run (--warm: after a warm-up run that fills the caches);
 * and as a row of the lrdif suite (bench/lrdif.bench.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSyntheticDataset } from '../src/data/synthetic-faces-node.js';
import { procStats } from './proc.js';

// the checkout's CLI; in a bundle (the GPU kit's app/lrdif.mjs) this module sits in the CLI itself
const CHECKOUT_BIN = fileURLToPath(new URL('../bin/lrdif.js', import.meta.url));
const BIN = existsSync(CHECKOUT_BIN) ? CHECKOUT_BIN : process.argv[1];

export interface FirstStepOptions {
  /** Synthetic images in the dataset (train + val + test); at least a batch of 16 must land in train. */
  images?: number;
  /** Reuse the caches of an earlier call with warm: true (tsx, Mesa) instead of new ones. */
  warm?: boolean;
  /** Give up after this many ms. */
  timeoutMs?: number;
  /** The `lrdif` command to time (another checkout's bin/lrdif.js, for an A/B); default this checkout's. */
  bin?: string;
}

/** The `lrdif train` arguments (after the CLI's path) of the first-step measurement: tiny stage 1, batch 16, one epoch. */
export function firstStepTrainArgs(data: string, out: string, cache: string): string[] {
  return ['train', '--stage', '1', '--config', 'tiny', '--data', data, '--epochs', '1', '--batch', '16', '--out', out, '--cache', cache, '--plain'];
}

export interface FirstStepResult {
  /** Wall ms from the spawn to the end of step 1. */
  ms: number;
  /** CPU ms of the child (user + system, all threads) at the end of step 1; null off Linux. */
  cpuMs: number | null;
  /** Wall ms at which each phase's first line appeared. */
  phases: Array<{ phase: string; ms: number; cpuMs: number | null }>;
}

const PHASES: Array<[string, RegExp]> = [
  ['first output', /./],
  ['data listed', /^data: /],
  ['CLIP image embeddings done', /^CLIP image embeddings \(test\)/],
  ['model built', /^stage 1 \(L[RL]Dif\): trains/],
];

let warmRoot: string | null = null;

/**
 * CPU ms of a process and all its descendants (bin/lrdif.js runs the command in a child of its
 * own, and tsx's esbuild is a child too): each live process's own time plus what its reaped
 * children used. Null off Linux.
 */
function cpuOf(pid: number): number | null {
  const stats = procStats();
  if (!stats || !stats.has(pid)) return null;
  const tree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, s] of stats) {
      if (!tree.has(p) && tree.has(s.ppid)) {
        tree.add(p);
        grew = true;
      }
    }
  }
  let ticks = 0;
  for (const p of tree) ticks += stats.get(p)!.ticks;
  return (ticks * 1000) / 100; // clock ticks of 10 ms
}

/** One measurement (the dataset is written before the clock starts). */
export async function timeToFirstStep(opts: FirstStepOptions = {}): Promise<FirstStepResult> {
  const images = opts.images ?? 42;
  const root = opts.warm ? (warmRoot ??= mkdtempSync(join(tmpdir(), 'lrdif-first-step-warm-'))) : mkdtempSync(join(tmpdir(), 'lrdif-first-step-'));
  const data = join(root, `data-${images}`);
  if (!existsSync(join(data, 'synthetic.json'))) await writeSyntheticDataset({ out: data, n: images, seed: 0 });
  const run = mkdtempSync(join(root, 'run-'));
  const env = {
    ...process.env,
    TMPDIR: join(root, 'tmp'),
    MESA_SHADER_CACHE_DIR: join(root, 'mesa'),
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp',
    NO_COLOR: '1',
  };
  mkdirSync(env.TMPDIR, { recursive: true });
  const args = [opts.bin ?? BIN, ...firstStepTrainArgs(data, join(run, 'out'), join(run, 'cache'))];
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = new Promise((r) => child.once('close', r).once('error', r));
  const phases: FirstStepResult['phases'] = [];
  const seen = new Set<string>();
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  try {
    return await new Promise<FirstStepResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no step 1 within ${opts.timeoutMs ?? 1_800_000} ms`)), opts.timeoutMs ?? 1_800_000);
      let buf = '';
      child.stdout.on('data', (b: Buffer) => {
        buf += b.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const ms = performance.now() - t0;
          for (const [phase, re] of PHASES) {
            if (!seen.has(phase) && re.test(line)) {
              seen.add(phase);
              phases.push({ phase, ms, cpuMs: cpuOf(child.pid!) });
            }
          }
          if (/ step 1\//.test(line)) {
            const cpuMs = cpuOf(child.pid!);
            clearTimeout(timer);
            resolve({ ms, cpuMs, phases });
          }
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        const why = stderr.split('\n').filter((l) => l.trim() && !/^Node\.js v/.test(l) && !/^Warning: /.test(l));
        reject(new Error(`lrdif train exited (${code}) before step 1: ${why.find((l) => /Error|error:/.test(l)) ?? why.pop() ?? ''}`));
      });
    });
  } finally {
    child.kill('SIGKILL');
    await closed;
    if (!opts.warm) rmSync(root, { recursive: true, force: true });
    else rmSync(run, { recursive: true, force: true });
  }
}

export function describeFirstStep(r: FirstStepResult): string {
  const cpu = r.cpuMs === null ? '' : `, ${(r.cpuMs / 1000).toFixed(1)} s CPU`;
  const at = (p: FirstStepResult['phases'][number]) => `${(p.ms / 1000).toFixed(1)} s${p.cpuMs === null ? '' : ` (CPU ${(p.cpuMs / 1000).toFixed(1)} s)`}`;
  return `${(r.ms / 1000).toFixed(1)} s to the end of step 1${cpu}; ${r.phases.map((p) => `${p.phase} at ${at(p)}`).join(', ')}`;
}

// run as a script (not when bundled into the CLI, where import.meta.url is the bundle's too)
if (process.argv[1] && /first-step\.[cm]?[jt]s$/.test(process.argv[1]) && fileURLToPath(import.meta.url) === process.argv[1]) {
  const warm = process.argv.includes('--warm');
  const arg = (name: string) => {
    const i = process.argv.indexOf(name);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const images = arg('--images') ? Number(arg('--images')) : undefined;
  const bin = arg('--bin');
  const runs = Number(arg('--runs') ?? 1);
  if (warm) console.log(`warm-up: ${describeFirstStep(await timeToFirstStep({ warm, images, bin }))}`);
  for (let i = 0; i < runs; i++) console.log(describeFirstStep(await timeToFirstStep({ warm, images, bin })));
}
