/**
 * Which pipelines `lrdif train` builds before the end of its first step, and what each costs
 * to compile on this adapter with a cold Mesa shader cache. A diagnosis for bench/first-step.ts.
 *
 *   npx tsx bench/first-step-pipelines.ts [--images N] [--json out.json] [--floor]
 *
 * 1. Record (a child process): runs `lrdif train --stage 1 --config tiny --batch 16` in-process
 *    with GpuContext.kernel patched to note every pipeline requested (its key, the ms its
 *    synchronous creation took, and the phase: before the model was built or after), and stops
 *    at the end of step 1.
 * 2. Compile (a child with a new, empty Mesa shader cache): builds each recorded pipeline in the
 *    same order and dispatches it once (one workgroup, scratch buffers, zero uniforms), waiting
 *    after each: `create` is the createComputePipeline call, `first` the first dispatch's wait
 *    (lavapipe compiles a compute shader with LLVM when it first runs, not at creation).
 * Prints totals and the costliest shaders; the child's CPU time from /proc is the figure a
 * loaded machine skews least.
 *
 * --floor: also times `lrdif train` to the end of step 1 with warm caches (bench/first-step.ts,
 * after a warm-up run) and prints the floor of the cold first step on this machine's cores: a
 * cold run does at least the warm run's work (the pipelines' creation included, which no cache
 * spares) plus every pipeline's compilation at its first dispatch, and no more than all cores can
 * share it. That floor holds whoever compiles and in whatever order; only cheaper compilation
 * lowers it. Its figures come from separate runs, each as noisy as the machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { firstStepTrainArgs, timeToFirstStep, describeFirstStep } from './first-step.js';
import { processCpuMs, timePipelines } from './pipeline-cost.js';

interface Recorded {
  key: string;
  shader: string;
  entry?: string;
  constants?: Record<string, number>;
  /** 'before model' or 'after model' (the `stage 1 (LRDif): trains` line). */
  phase: string;
  createMs: number;
}

interface Compiled {
  key: string;
  shader: string;
  phase: string;
  createMs: number;
  firstMs: number;
  /** CPU ms of the whole process (every thread) over the creation and over the first dispatch. */
  createCpuMs: number;
  firstCpuMs: number;
}

const SELF = fileURLToPath(import.meta.url);

async function record(data: string, out: string, listFile: string): Promise<void> {
  const { GpuContext } = await import('../src/gpu/context.js');
  const { kernelKey } = await import('../src/gpu/kernel.js');
  const list: Recorded[] = [];
  let phase = 'before model';
  const proto = GpuContext.prototype as unknown as { kernel: (req: import('../src/gpu/kernel.js').KernelRequest) => unknown; kernels?: unknown };
  const original = proto.kernel;
  const seen = new Set<string>();
  proto.kernel = function (this: unknown, req) {
    const key = kernelKey(req);
    if (seen.has(key)) return original.call(this, req);
    seen.add(key);
    const t0 = performance.now();
    const k = original.call(this, req);
    list.push({ key, shader: req.shader, entry: req.entry, constants: req.constants, phase, createMs: performance.now() - t0 });
    return k;
  };
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    if (/^stage 1 \(L[RL]Dif\): trains/m.test(text)) phase = 'after model';
    if (/ step 1\//.test(text)) {
      writeFileSync(listFile, JSON.stringify(list));
      process.exit(0);
    }
    return (write as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
  process.argv = [process.argv[0], 'lrdif', ...firstStepTrainArgs(data, join(out, 'run'), join(out, 'cache'))];
  await import('../src/cli/main.js');
}

async function compile(listFile: string, resultFile: string): Promise<void> {
  const { initNode } = await import('../src/node.js');
  const list = JSON.parse(readFileSync(listFile, 'utf8')) as Recorded[];
  const ctx = await initNode();
  const costs = await timePipelines(
    ctx,
    list.map((r) => ({ shader: r.shader, entry: r.entry, constants: r.constants })),
  );
  const results: Compiled[] = list.map((r, i) => {
    const { createMs, firstMs, createCpuMs, firstCpuMs } = costs[i];
    return { key: r.key, shader: r.shader, phase: r.phase, createMs, firstMs, createCpuMs, firstCpuMs };
  });
  writeFileSync(resultFile, JSON.stringify({ results, cpuMs: processCpuMs() }));
  ctx.dispose();
}

function child(args: string[], env: Record<string, string>): void {
  const r = spawnSync(process.execPath, [...process.execArgv, SELF, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`first-step-pipelines ${args[0]} failed (exit ${r.status})`);
}

function report({ results, cpuMs }: { results: Compiled[]; cpuMs: number }): void {
  const sum = (xs: Compiled[], f: (c: Compiled) => number) => xs.reduce((a, c) => a + f(c), 0) / 1000;
  for (const phase of ['before model', 'after model']) {
    const xs = results.filter((r) => r.phase === phase);
    console.log(
      `${phase}: ${xs.length} pipelines from ${new Set(xs.map((x) => x.shader)).size} shaders; ` +
        `create ${sum(xs, (c) => c.createCpuMs).toFixed(1)} s CPU (${sum(xs, (c) => c.createMs).toFixed(1)} s wall), ` +
        `first dispatch ${sum(xs, (c) => c.firstCpuMs).toFixed(1)} s CPU (${sum(xs, (c) => c.firstMs).toFixed(1)} s wall)`,
    );
  }
  console.log(`compile child: ${(cpuMs / 1000).toFixed(1)} s CPU in all (every thread, start-up included)`);
  const by = new Map<string, { n: number; create: number; first: number }>();
  for (const r of results) {
    const e = by.get(r.shader) ?? { n: 0, create: 0, first: 0 };
    e.n++;
    e.create += r.createCpuMs;
    e.first += r.firstCpuMs;
    by.set(r.shader, e);
  }
  console.log('shaders by CPU (pipelines: create + first dispatch):');
  for (const [s, e] of [...by].sort((a, b) => b[1].create + b[1].first - a[1].create - a[1].first)) {
    console.log(`  ${s}: ${e.n} → ${(e.create / 1000).toFixed(2)} + ${(e.first / 1000).toFixed(2)} s`);
  }
  console.log('costliest pipelines (CPU s: create + first dispatch):');
  for (const r of [...results].sort((a, b) => b.createCpuMs + b.firstCpuMs - a.createCpuMs - a.firstCpuMs).slice(0, 12)) {
    console.log(`  ${r.key}: ${(r.createCpuMs / 1000).toFixed(2)} + ${(r.firstCpuMs / 1000).toFixed(2)}`);
  }
}

/** The floor of the cold first step: (warm run's CPU + every pipeline's first-dispatch CPU) / cores. */
async function floor(results: Compiled[], images: number): Promise<void> {
  await timeToFirstStep({ warm: true, images });
  const warm = await timeToFirstStep({ warm: true, images });
  console.log(`warm: ${describeFirstStep(warm)}`);
  if (warm.cpuMs === null) {
    console.log('floor: needs the CPU time of the warm run (/proc, Linux only)');
    return;
  }
  const cores = availableParallelism();
  const compileS = results.reduce((a, r) => a + r.firstCpuMs, 0) / 1000;
  const warmS = warm.cpuMs / 1000;
  const costliest = [...results].sort((a, b) => b.createCpuMs + b.firstCpuMs - a.createCpuMs - a.firstCpuMs)[0];
  console.log(
    `floor of the cold first step on ${cores} cores (an estimate: each figure moves ±15 % from run to run): (${warmS.toFixed(1)} s warm CPU + ${compileS.toFixed(1)} s of compilation at first dispatches) / ${cores} = ` +
      `${((warmS + compileS) / cores).toFixed(1)} s; no pipeline is compiled by two threads, so none ends before its own ` +
      `${((costliest.createCpuMs + costliest.firstCpuMs) / 1000).toFixed(1)} s (${costliest.key})`,
  );
  const budget = cores * 15 - warmS;
  console.log(
    `to end step 1 within 15 s cold, compilation must take at most ${budget.toFixed(1)} s of CPU (${cores} × 15 s − the warm run's ${warmS.toFixed(1)} s), ` +
      `${((100 * Math.max(0, budget)) / compileS).toFixed(0)} % of what it takes now`,
  );
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--record-child') return record(argv[1], argv[2], argv[3]);
  if (argv[0] === '--compile-child') return compile(argv[1], argv[2]);
  if (argv[0] === '--report') return report(JSON.parse(readFileSync(argv[1], 'utf8')) as { results: Compiled[]; cpuMs: number });
  const i = argv.indexOf('--images');
  const images = i >= 0 ? Number(argv[i + 1]) : 42;
  const j = argv.indexOf('--json');
  const root = mkdtempSync(join(tmpdir(), 'lrdif-pipelines-'));
  try {
    const { writeSyntheticDataset } = await import('../src/data/synthetic-faces-node.js');
    const data = join(root, 'data');
    await writeSyntheticDataset({ out: data, n: images, seed: 0 });
    const listFile = join(root, 'list.json');
    const resultFile = join(root, 'compiled.json');
    const env = { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', LRDIF_CLI_CHILD: '1' };
    child(['--record-child', data, root, listFile], { ...env, MESA_SHADER_CACHE_DIR: join(root, 'mesa-record') });
    child(['--compile-child', listFile, resultFile], { ...env, MESA_SHADER_CACHE_DIR: join(root, 'mesa-compile') });
    const compiled = JSON.parse(readFileSync(resultFile, 'utf8')) as { results: Compiled[]; cpuMs: number };
    if (j >= 0) writeFileSync(argv[j + 1], JSON.stringify(compiled, null, 1));
    report(compiled);
    if (argv.includes('--floor')) await floor(compiled.results, images);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
