/**
 * Runs the benchmark suites: `npm run bench [-- <filter>...] [--quick] [--no-peers] [--gpu-sizes] [--out <file>]`.
 * A filter selects suites whose name contains it (e.g. `npm run bench -- matmul`).
 * Prints a table and writes bench/results/<timestamp>.json and bench/results/latest.json.
 *
 * Suites are discovered: every bench/<name>.bench.ts is imported and each of its exports
 * that is a `Suite` ({ name, description, run }) is run, files in alphabetical order. To add
 * one, write such a file (see harness.ts and README.md); nothing else needs editing.
 * The run itself is runner.ts.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Suite } from './harness.js';
import { isSuite, runBenchmarks } from './runner.js';

export async function discoverSuites(): Promise<Suite[]> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(dir)
    .filter((f) => /\.bench\.[jt]s$/.test(f))
    .sort(); // .js in a build (dist/bench)
  const suites: Suite[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(`${dir}/${f}`).href)) as Record<string, unknown>;
    for (const v of Object.values(mod)) if (isSuite(v)) suites.push(v);
  }
  return suites;
}

const code = await runBenchmarks(process.argv.slice(2), await discoverSuites());
// the peers' devices keep the event loop alive
process.exit(code);
