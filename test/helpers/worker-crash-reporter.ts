/**
 * A vitest reporter for test processes that die mid-file: a native crash in the software GPU
 * stack (lavapipe, its LLVM JIT, Dawn) or the stall watchdog's kill. vitest then reports only
 * "Worker exited unexpectedly", counts the file as passed in its JSON report and leaves its
 * remaining tests pending, so nothing says which file died or where. This names the file and the
 * test that was running, and, when LRDIF_WORKER_CRASHES names a path, writes what CI needs to
 * decide whether the run is otherwise clean (.ci/run reruns such a file alone, once). The running
 * test comes from progress-setup.ts's records, in a folder made here and handed to the test
 * processes through the environment.
 */
import { writeFileSync, renameSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';

/** What `.ci/run` reads. */
export interface WorkerCrashSummary {
  /** Files whose process died before they finished, with the test that was running. */
  unfinished: { file: string; test: string | null; testsWithoutResult: number }[];
  /** Unhandled errors that are a test process exiting, and all others. */
  workerExits: number;
  otherErrors: string[];
  failedTests: number;
  failedFiles: string[];
}

const WORKER_EXIT = 'Worker exited unexpectedly';

interface ErrorLike {
  message?: string;
  cause?: { message?: string };
}

function isWorkerExit(e: ErrorLike): boolean {
  return e.message?.includes(WORKER_EXIT) === true || e.cause?.message?.includes(WORKER_EXIT) === true;
}

/** The test progress-setup.ts last saw start in `moduleId`'s process, or null. */
function lastStarted(progressDir: string | undefined, moduleId: string): string | null {
  if (!progressDir) return null;
  try {
    return readFileSync(join(progressDir, encodeURIComponent(moduleId)), 'utf8') || null;
  } catch {
    return null; // the process died before the setup file ran
  }
}

export function summarise(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<ErrorLike>, root: string, progressDir?: string): WorkerCrashSummary {
  const unfinished: WorkerCrashSummary['unfinished'] = [];
  const failedFiles: string[] = [];
  let failedTests = 0;
  for (const m of modules) {
    const tests = [...m.children.allTests()];
    failedTests += tests.filter((t) => t.result().state === 'failed').length;
    const file = relative(root, m.moduleId);
    const state = m.state();
    if (state === 'failed') failedFiles.push(file);
    if (state !== 'pending' && state !== 'queued') continue;
    // vitest sends results in batches, so tests that passed just before the death can read pending
    const noResult = tests.filter((t) => t.result().state === 'pending').length;
    unfinished.push({ file, test: lastStarted(progressDir, m.moduleId), testsWithoutResult: noResult });
  }
  const exits = errors.filter(isWorkerExit);
  const others = errors.filter((e) => !isWorkerExit(e)).map((e) => `${e.message ?? e}`);
  return { unfinished, workerExits: exits.length, otherErrors: others, failedTests, failedFiles };
}

/**
 * The files CI may rerun alone, once: only when the run's sole trouble is test processes that
 * died (each unfinished file matched by one "worker exited" error), no test failed, and at most
 * `maxFiles` died; anything else is a real failure and is refused with the reason.
 */
export function filesToRerun(s: WorkerCrashSummary, maxFiles = 2): { files: string[] } | { refused: string } {
  if (s.unfinished.length === 0) return { refused: 'no test process died before its file finished' };
  if (s.failedTests > 0 || s.failedFiles.length > 0) return { refused: `${s.failedTests} test(s) failed (${s.failedFiles.join(', ') || 'no file named'})` };
  if (s.otherErrors.length > 0) return { refused: `other unhandled errors: ${s.otherErrors.join('; ')}` };
  if (s.workerExits !== s.unfinished.length) return { refused: `${s.workerExits} test process exit(s) against ${s.unfinished.length} unfinished file(s)` };
  if (s.unfinished.length > maxFiles) return { refused: `${s.unfinished.length} test processes died (more than ${maxFiles}: not a rare crash)` };
  return { files: s.unfinished.map((u) => u.file) };
}

export default class WorkerCrashReporter implements Reporter {
  private root = process.cwd();
  private progressDir = mkdtempSync(join(tmpdir(), 'lrdif-test-progress-'));

  onInit(ctx: { config: { root: string } }): void {
    this.root = ctx.config.root;
    process.env.LRDIF_TEST_PROGRESS_DIR = this.progressDir; // the test processes inherit it
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, errors: ReadonlyArray<ErrorLike>): void {
    const s = summarise(modules, errors, this.root, this.progressDir);
    rmSync(this.progressDir, { recursive: true, force: true });
    for (const u of s.unfinished) {
      const where = u.test ? `during "${u.test}"` : 'before its first test';
      console.error(
        `\nlrdif tests: the process running ${u.file} died ${where} (a native crash in the GPU stack, or the ` +
          `stall watchdog's kill: see its message above); ${u.testsWithoutResult} of its tests have no result. ` +
          `Run it alone: npx vitest run ${u.file}`,
      );
    }
    const path = process.env.LRDIF_WORKER_CRASHES;
    if (path) {
      writeFileSync(`${path}.tmp`, JSON.stringify(s, null, 2));
      renameSync(`${path}.tmp`, path);
    }
  }
}
