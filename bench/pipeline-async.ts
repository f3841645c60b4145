/**
 * Does building pipelines with createComputePipelineAsync overlap their compilation on this
 * adapter? Builds the same set of pipelines (every variant a tiny LRDif stage-1 step uses, from
 * a list written by first-step-pipelines.ts --json) in a child process with a cold Mesa cache,
 * either one after another with createComputePipeline or all at once with
 * createComputePipelineAsync (GpuContext.prepareKernels), then dispatches each once; reports
 * wall and CPU time of the building and of the first runs, split between the main thread and
 * the others.
 *
 *   npx tsx bench/pipeline-async.ts <compiled.json> [sync|async] [--first N]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScratchBindings } from '../src/gpu/scratch-dispatch.js';

interface Entry {
  key: string;
}

function threadTicks(): { main: number; others: number } {
  let main = 0;
  let others = 0;
  for (const t of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    if (Number(t) === process.pid) main += ticks;
    else others += ticks;
  }
  return { main: main * 10, others: others * 10 };
}

function parseKey(key: string): { shader: string; entry: string; constants?: Record<string, number> } {
  const m = /^([^:]+):([^{]+)(?:\{(.*)\})?$/.exec(key)!;
  const constants = m[3] ? Object.fromEntries(m[3].split(',').map((kv) => [kv.split('=')[0], Number(kv.split('=')[1])])) : undefined;
  return { shader: m[1], entry: m[2], constants };
}

async function child(file: string, mode: 'sync' | 'async', first: number): Promise<void> {
  const { initNode } = await import('../src/node.js');
  const ctx = await initNode();
  const list = (JSON.parse(readFileSync(file, 'utf8')) as { results: Entry[] }).results.slice(0, first).map((r) => parseKey(r.key));
  const c0 = threadTicks();
  const t0 = performance.now();
  if (mode === 'async') await ctx.prepareKernels(list);
  const kernels = list.map((req) => ctx.kernel(req));
  const t1 = performance.now();
  const c1 = threadTicks();
  // one dispatch each (one workgroup, scratch buffers): lavapipe may compile at the first run
  const scratch = new ScratchBindings(ctx);
  for (const k of kernels) scratch.dispatchOnce(k);
  await ctx.sync();
  const t2 = performance.now();
  const c2 = threadTicks();
  const ms = (c: { main: number; others: number }, d: { main: number; others: number }) => ({ main: d.main - c.main, others: d.others - c.others });
  console.log(JSON.stringify({ mode, n: list.length, buildMs: Math.round(t1 - t0), buildCpu: ms(c0, c1), firstRunMs: Math.round(t2 - t1), firstRunCpu: ms(c1, c2) }));
  scratch.release();
  ctx.dispose();
}

const argv = process.argv.slice(2);
if (argv[0] === '--child') await child(argv[1], argv[2] as 'sync' | 'async', Number(argv[3]));
else {
  const f = argv.indexOf('--first');
  const first = f > 0 ? Number(argv[f + 1]) : Infinity;
  for (const mode of argv[1] && !argv[1].startsWith('--') ? [argv[1]] : ['sync', 'async']) {
    const root = mkdtempSync(join(tmpdir(), 'lrdif-async-'));
    const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', argv[0], mode, String(first)], {
      env: { ...process.env, MESA_SHADER_CACHE_DIR: join(root, 'mesa') },
      encoding: 'utf8',
    });
    console.log(r.stdout.trim().split('\n').pop(), r.status === 0 ? '' : r.stderr.slice(-500));
    rmSync(root, { recursive: true, force: true });
  }
}
