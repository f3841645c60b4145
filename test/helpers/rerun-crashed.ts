/**
 * CI's answer to a test process that died mid-file (see worker-crash-reporter.ts): reads the
 * reporter's summary, and if a rare native crash is the run's only trouble, reruns each such file
 * alone, once, with vitest. Exits 0 only when every rerun passes; otherwise 1, saying why.
 * Usage: npx tsx test/helpers/rerun-crashed.ts <summary.json>
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { filesToRerun, type WorkerCrashSummary } from './worker-crash-reporter.js';

const path = process.argv[2];
if (!path) {
  console.error('usage: rerun-crashed.ts <summary.json written by worker-crash-reporter.ts>');
  process.exit(2);
}
const summary = JSON.parse(readFileSync(path, 'utf8')) as WorkerCrashSummary;
const decision = filesToRerun(summary);
if ('refused' in decision) {
  console.log(`::: no rerun: ${decision.refused}`);
  process.exit(1);
}
let failed = 0;
for (const u of summary.unfinished) {
  console.log(`::: rerunning ${u.file} alone: its process died during "${u.test ?? 'loading'}" (${u.testsWithoutResult} tests without a result)`);
  const env = { ...process.env };
  delete env.LRDIF_WORKER_CRASHES; // keep the summary being read
  const r = spawnSync('npx', ['vitest', 'run', u.file], { stdio: 'inherit', env });
  const ok = r.status === 0;
  if (!ok) failed++;
  console.log(`::: ${u.file} alone: ${ok ? 'passed' : `failed (exit ${r.status ?? r.signal})`}`);
}
process.exit(failed === 0 ? 0 : 1);
