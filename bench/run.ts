/**
 * Runs the benchmark suites: `npm run bench [-- <filter>...] [--quick] [--no-peers]`.
 * A filter selects suites whose name contains it (e.g. `npm run bench -- matmul`).
 * Prints a table and writes bench/results/<timestamp>.json and bench/results/latest.json.
 *
 * Suites are discovered: every bench/<name>.bench.ts is imported and each of its exports
 * that is a `Suite` ({ name, description, run }) is run, files in alphabetical order. To add
 * one, write such a file (see harness.ts and README.md); nothing else needs editing.
 */
import { readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as webgpu from 'webgpu';
import { createContext, engine, nodeShaderSource, setDawnPolling } from '../src/node.js';
import { Harness, type Suite } from './harness.js';
import { startPeers } from './peers.js';

function isSuite(x: unknown): x is Suite {
  const s = x as Suite;
  return !!s && typeof s === 'object' && typeof s.name === 'string' && typeof s.run === 'function' && typeof s.description === 'string';
}

export async function discoverSuites(): Promise<Suite[]> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort();
  const suites: Suite[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(`${dir}/${f}`).href)) as Record<string, unknown>;
    for (const v of Object.values(mod)) if (isSuite(v)) suites.push(v);
  }
  return suites;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const noPeers = args.includes('--no-peers');
  const filters = args.filter((a) => !a.startsWith('--'));
  const all = await discoverSuites();
  const suites = all.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)));
  if (suites.length === 0) {
    console.error(`no suite matches ${filters.join(', ')} (suites: ${all.map((s) => s.name).join(', ')})`);
    process.exit(2);
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

  const h = new Harness(ctx, peers, { quick, noPeers });
  const t0 = performance.now();
  const loadBefore = loadavg()[0];
  // a shared machine skews every figure: say how busy it was
  console.log(`load average (1 min): ${loadBefore.toFixed(2)} on this machine`);
  for (const s of suites) {
    const idle = await h.checkIdle(s.name);
    console.log(`\n== ${s.name}: ${s.description} (idle CPU before: ${idle.toFixed(1)}%)`);
    const before = h.rows.length;
    await s.run(h);
    console.log(`   ${h.rows.length - before} rows`);
  }
  console.log('');
  h.printTable();
  const loadAfter = loadavg()[0];
  console.log(`load average (1 min) at the end: ${loadAfter.toFixed(2)}`);
  const file = h.writeJson({
    suites: suites.map((s) => s.name),
    quick,
    seconds: Math.round((performance.now() - t0) / 1000),
    loadAverage: { before: round2(loadBefore), after: round2(loadAfter) },
  });
  console.log(`\nwrote ${file} and bench/results/latest.json (${Math.round((performance.now() - t0) / 1000)} s)`);
  ctx.dispose();
  // the peers' devices keep the event loop alive
  process.exit(0);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

await main();
