/**
 * Runs benchmark suites on a new device: the body of `npm run bench` (bench/run.ts finds the
 * suites on disk; the GPU kit's bundle passes its own list). Arguments:
 *   [filter…]      keep the suites whose name contains one (all when none)
 *   --quick        fewer samples and sizes
 *   --no-peers     lrdif only (no TensorFlow.js, jax-js, PyTorch)
 *   --gpu-sizes    add the sizes meant for a GPU (matmul 4096², LRDif steps at batch 8 and 64)
 *   --out <file>   write the results document there (default bench/results/<timestamp>.json and latest.json)
 * Prints a table; returns the exit status (1: a suite failed — the others still ran and the rows
 * are written, with the failures; 2: no suite matches, or a bad argument).
 */
import { loadavg } from 'node:os';
import * as webgpu from 'webgpu';
import { createContext, engine, nodeShaderSource, setDawnPolling } from '../src/node.js';
import { Harness, type Suite } from './harness.js';
import { startPeers } from './peers.js';

export function isSuite(x: unknown): x is Suite {
  const s = x as Suite;
  return !!s && typeof s === 'object' && typeof s.name === 'string' && typeof s.run === 'function' && typeof s.description === 'string';
}

export interface BenchArgs {
  filters: string[];
  quick: boolean;
  noPeers: boolean;
  gpuSizes: boolean;
  out: string | null;
}

export function parseBenchArgs(args: string[]): BenchArgs {
  const out: BenchArgs = { filters: [], quick: false, noPeers: false, gpuSizes: false, out: null };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--quick') out.quick = true;
    else if (a === '--no-peers') out.noPeers = true;
    else if (a === '--gpu-sizes') out.gpuSizes = true;
    else if (a === '--out') {
      const f = args[++i];
      if (!f || f.startsWith('--')) throw new Error('bench: --out needs a file name');
      out.out = f;
    } else if (a.startsWith('--')) throw new Error(`bench: unknown option ${a} (options: --quick, --no-peers, --gpu-sizes, --out <file>)`);
    else out.filters.push(a);
  }
  return out;
}

export async function runBenchmarks(argv: string[], all: Suite[]): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(argv);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  const { quick, noPeers, gpuSizes, filters } = args;
  const suites = all.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)));
  if (suites.length === 0) {
    console.error(`no suite matches ${filters.join(', ')} (suites: ${all.map((s) => s.name).join(', ')})`);
    return 2;
  }

  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = '/tmp';
  Object.assign(globalThis, webgpu.globals);
  const flags: string[] = [];
  if (process.env.LRDIF_BACKEND) flags.push(`backend=${process.env.LRDIF_BACKEND}`);
  if (process.env.LRDIF_ADAPTER) flags.push(`adapter=${process.env.LRDIF_ADAPTER}`);
  // One GPU object for lrdif and the peers (kept referenced for the whole run: dawn.node
  // crashes if it is collected while a device lives).
  const gpu = webgpu.create(flags) as unknown as GPU;
  // dawn.node's waits paced as in createNodeContext (src/gpu/dawn-poll-node.ts), for lrdif and the peers alike
  setDawnPolling(process.env.LRDIF_DAWN_POLL === 'spin' ? 'spin' : 'paced');
  const ctx = await createContext(gpu, nodeShaderSource, {}, gpu);
  engine.setContext(ctx);
  const peers = noPeers ? { tf: null, jax: null, status: [] } : await startPeers(gpu, { tf: true, jax: true });

  console.log(`adapter: ${ctx.adapter.summary}${ctx.canProfile ? ' (timestamp queries: yes)' : ' (timestamp queries: no, wall time only)'}`);
  for (const p of peers.status) console.log(`peer ${p.name}: ${p.error ? `unavailable (${p.error})` : `adapter ${p.adapter ?? 'unreported'}`}`);

  const h = new Harness(ctx, peers, { quick, noPeers, gpuSizes });
  const t0 = performance.now();
  const loadBefore = loadavg()[0];
  // a shared machine skews every figure: say how busy it was
  console.log(`load average (1 min): ${loadBefore.toFixed(2)} on this machine`);
  // a suite that throws (a size this device refuses, a lost device) is reported and the others
  // still run: the rows so far are written either way, and the exit status says so
  const failures: Array<{ suite: string; error: string }> = [];
  for (const s of suites) {
    const idle = await h.checkIdle(s.name);
    console.log(`\n== ${s.name}: ${s.description} (idle CPU before: ${idle.toFixed(1)}%)`);
    const before = h.rows.length;
    try {
      await s.run(h);
      console.log(`   ${h.rows.length - before} rows`);
    } catch (e) {
      const error = (e as Error).message ?? String(e);
      failures.push({ suite: s.name, error });
      console.error(`   suite ${s.name} failed after ${h.rows.length - before} rows: ${error}`);
      engine.clearTape();
      if (ctx.lost) break;
    }
  }
  console.log('');
  h.printTable();
  const loadAfter = loadavg()[0];
  console.log(`load average (1 min) at the end: ${loadAfter.toFixed(2)}`);
  const seconds = Math.round((performance.now() - t0) / 1000);
  const file = h.writeJson(
    {
      suites: suites.map((s) => s.name),
      quick,
      gpuSizes,
      seconds,
      loadAverage: { before: round2(loadBefore), after: round2(loadAfter) },
      failures,
    },
    args.out ?? undefined,
  );
  console.log(`\nwrote ${file}${args.out ? '' : ' and bench/results/latest.json'} (${seconds} s)`);
  ctx.dispose();
  if (failures.length) {
    console.error(`${failures.length} suite${failures.length === 1 ? '' : 's'} failed: ${failures.map((f) => f.suite).join(', ')}`);
    return 1;
  }
  return 0;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
