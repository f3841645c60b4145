/**
 * Runs a Node child process (the `lrdif` command, an example script) without blocking the test
 * process: spawnSync would freeze the worker's event loop, so neither vitest's test timeout nor
 * anything else could fire while the child ran. The child leads its own process group; past
 * `timeout` the whole group gets SIGKILL (SIGTERM can be caught, and a wrapper may outlive its
 * child), and the result says so.
 */
import { spawn } from 'node:child_process';

export interface ChildResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the child ran past its timeout and was killed. */
  error?: Error;
}

export interface ChildOptions {
  /** Milliseconds before the child's process group is killed (default 120 s). */
  timeout?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const running = new Set<number>();
process.once('exit', () => {
  for (const pid of running) killGroup(pid);
});

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** `node …args`, collecting stdout and stderr as UTF-8. Never rejects for a failing child. */
export function runNode(args: string[], options: ChildOptions = {}): Promise<ChildResult> {
  return runCommand(process.execPath, args, options);
}

export function runCommand(command: string, args: string[], options: ChildOptions = {}): Promise<ChildResult> {
  const timeout = options.timeout ?? 120_000;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, cwd: options.cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const pid = child.pid;
    if (pid !== undefined) running.add(pid);
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid);
    }, timeout);
    child.once('error', (e) => {
      clearTimeout(timer);
      if (pid !== undefined) running.delete(pid);
      reject(e);
    });
    child.once('close', (status, signal) => {
      clearTimeout(timer);
      if (pid !== undefined) {
        running.delete(pid);
        killGroup(pid); // anything the child left behind in its group
      }
      const stderr = Buffer.concat(err).toString('utf8');
      const result: ChildResult = { status, signal, stdout: Buffer.concat(out).toString('utf8'), stderr };
      if (timedOut) {
        const tail = stderr
          .split('\n')
          .filter((l) => l && !l.startsWith('Warning: '))
          .slice(-8)
          .join('\n');
        result.error = new Error(`\`${[command, ...args].join(' ')}\` did not finish within ${timeout / 1000} s and was killed; the end of its stderr:\n${tail}`);
      }
      resolve(result);
    });
  });
}

/** Dawn prints its own notices on stderr; keep only the child's own lines. */
export function withoutDawnNotices(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('Warning: '))
    .join('\n');
}
