// The reporter that names a test file whose process died mid-file, and CI's rule for rerunning
// it: run on a small fixture suite (test/fixtures/worker-crash) whose second file can kill its
// own process with SIGSEGV, as a crash in lavapipe does.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runNode } from './helpers/child.js';
import { filesToRerun, type WorkerCrashSummary } from './helpers/worker-crash-reporter.js';

const FIXTURE = resolve('test/fixtures/worker-crash');
const VITEST = resolve('node_modules/vitest/vitest.mjs');
const REPORTER = resolve('test/helpers/worker-crash-reporter.ts');

async function runFixture(env: Record<string, string>) {
  const summaryPath = join(mkdtempSync(join(tmpdir(), 'lrdif-crash-')), 'summary.json');
  const r = await runNode([VITEST, 'run', '--reporter=default', `--reporter=${REPORTER}`], {
    cwd: FIXTURE,
    env: { ...process.env, LRDIF_WORKER_CRASHES: summaryPath, ...env },
    timeout: 60_000,
  });
  const summary = existsSync(summaryPath) ? (JSON.parse(readFileSync(summaryPath, 'utf8')) as WorkerCrashSummary) : null;
  return { ...r, summary };
}

describe('worker crash reporter', () => {
  it('names the file and test a dead process was running, and CI may rerun that file', async () => {
    const r = await runFixture({ FIXTURE_CRASH: '1' });
    expect(r.status).toBe(1); // vitest fails the run on the worker's exit
    expect(r.stderr).toContain('the process running b.fixture.ts died during "dies of a segmentation fault"');
    expect(r.stderr).toMatch(/[23] of its tests have no result/); // the first one's may not have arrived
    expect(r.summary).toEqual({
      unfinished: [{ file: 'b.fixture.ts', test: 'dies of a segmentation fault', testsWithoutResult: expect.any(Number) }],
      workerExits: 1,
      otherErrors: [],
      failedTests: 0,
      failedFiles: [],
    });
    expect(filesToRerun(r.summary!)).toEqual({ files: ['b.fixture.ts'] });
  }, 90_000);

  it('refuses a rerun when a test also failed', async () => {
    const r = await runFixture({ FIXTURE_CRASH: '1', FIXTURE_FAIL: '1' });
    expect(r.summary!.failedTests).toBe(1);
    expect(r.summary!.failedFiles).toEqual(['c.fixture.ts']);
    expect(filesToRerun(r.summary!)).toEqual({ refused: '1 test(s) failed (c.fixture.ts)' });
  }, 90_000);

  it('reports nothing on a clean run, and a skipped test is not an unfinished one', async () => {
    const r = await runFixture({});
    expect(r.status).toBe(0);
    expect(r.stderr).not.toContain('died');
    expect(r.summary).toEqual({ unfinished: [], workerExits: 0, otherErrors: [], failedTests: 0, failedFiles: [] });
    expect(filesToRerun(r.summary!)).toEqual({ refused: 'no test process died before its file finished' });
  }, 90_000);

  it('refuses errors other than process exits, mismatched counts and more than two deaths', () => {
    const base: WorkerCrashSummary = { unfinished: [], workerExits: 0, otherErrors: [], failedTests: 0, failedFiles: [] };
    const dead = (file: string) => ({ file, test: 't', testsWithoutResult: 1 });
    expect(filesToRerun({ ...base, unfinished: [dead('a')], workerExits: 1, otherErrors: ['Unhandled Rejection: boom'] })).toEqual({
      refused: 'other unhandled errors: Unhandled Rejection: boom',
    });
    expect(filesToRerun({ ...base, unfinished: [dead('a')], workerExits: 0 })).toEqual({
      refused: '0 test process exit(s) against 1 unfinished file(s)',
    });
    const three = [dead('a'), dead('b'), dead('c')];
    expect(filesToRerun({ ...base, unfinished: three, workerExits: 3 })).toEqual({
      refused: '3 test processes died (more than 2: not a rare crash)',
    });
    expect(filesToRerun({ ...base, unfinished: three.slice(0, 2), workerExits: 2 })).toEqual({ files: ['a', 'b'] });
  });
});
