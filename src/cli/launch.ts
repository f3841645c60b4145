/**
 * The `lrdif` command's entry (bin/lrdif.js, the GPU kit's bundle): runs main.ts in a child
 * process whose stderr is filtered of Dawn's start-up notices (see dawn-notices.ts), so every
 * command's output starts with its own lines. With `--verbose` (or `-v`), or where the child
 * cannot be started, main.ts runs in this process and Dawn's notices show.
 *
 * The child gets this process's arguments, stdin and stdout; signals sent to this process are
 * passed on, and its exit status (or signal) becomes this process's.
 */
import { spawn } from 'node:child_process';
import { StderrFilter } from './dawn-notices.js';

/** Set in the child: run the command here. */
const CHILD_FLAG = 'LRDIF_CLI_CHILD';
/** Set in the child when this process's stderr is a terminal (the child's is a pipe). */
export const STDERR_TTY_FLAG = 'LRDIF_STDERR_TTY';

/** The line for a command's process that a signal ended (not one this process passed on). */
export function killedMessage(signal: NodeJS.Signals): string {
  const why =
    signal === 'SIGKILL'
      ? " (the kernel's out-of-memory killer sends it: `dmesg` says)"
      : signal === 'SIGSEGV' || signal === 'SIGBUS' || signal === 'SIGABRT'
        ? ' (a crash in the GPU driver or runtime: run again with --verbose)'
        : '';
  return (
    `lrdif: error: the command's process was ended by ${signal}${why}. ` +
    'Files are written atomically, so checkpoints and outputs hold their last complete state; `lrdif train --resume --out <run>` continues a training run'
  );
}

function wantsVerbose(argv: string[]): boolean {
  return argv.includes('--verbose') || argv.includes('-v');
}

async function runHere(): Promise<void> {
  if (process.env[STDERR_TTY_FLAG] === '1' && !process.stderr.isTTY) {
    // the parent's terminal is behind the pipe: progress written with '\r' still belongs there
    (process.stderr as { isTTY?: boolean }).isTTY = true;
  }
  await import('./main.js');
}

function runFiltered(): Promise<void> {
  return new Promise((resolve) => {
    const env = { ...process.env, [CHILD_FLAG]: '1', ...(process.stderr.isTTY ? { [STDERR_TTY_FLAG]: '1' } : {}) };
    const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...process.argv.slice(2)], {
      stdio: ['inherit', 'inherit', 'pipe'],
      env,
    });
    const filter = new StderrFilter((t) => process.stderr.write(t));
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (t: string) => filter.push(t));
    // a terminal's Ctrl-C reaches the child too (same process group): wait for it to exit
    const received = new Set<NodeJS.Signals>();
    const forward = (sig: NodeJS.Signals) => () => {
      received.add(sig);
      if (sig !== 'SIGINT') child.kill(sig);
    };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    const handlers = signals.map((s) => [s, forward(s)] as const);
    for (const [s, h] of handlers) process.on(s, h);
    let started = false;
    child.on('spawn', () => (started = true));
    child.on('error', (e) => {
      for (const [s, h] of handlers) process.off(s, h);
      if (started) {
        process.stderr.write(`lrdif: error: the command's process failed: ${e.message}\n`);
        process.exitCode = 1;
        resolve();
      } else {
        // no child process here (a sandbox without fork): run in this process, notices and all
        void runHere().then(resolve);
      }
    });
    child.on('close', (code, signal) => {
      filter.end();
      for (const [s, h] of handlers) process.off(s, h);
      if (signal) {
        // a signal nobody here sent (the out-of-memory killer's SIGKILL, a crash's SIGSEGV) would otherwise end the command without a word
        if (!received.has(signal)) process.stderr.write(`${killedMessage(signal)}\n`);
        process.kill(process.pid, signal);
        return;
      }
      process.exitCode = code ?? 1;
      resolve();
    });
  });
}

if (process.env[CHILD_FLAG] === '1' || wantsVerbose(process.argv.slice(2))) await runHere();
else await runFiltered();
