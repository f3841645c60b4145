/**
 * A watchdog for test processes whose main thread stops running JavaScript: a native call that
 * never returns (a driver deadlock) blocks the event loop, so vitest's own test timeout, a timer
 * on that loop, never fires and the run hangs until CI gives up on it with no word of where.
 * The main thread stamps a shared clock every second; a worker thread (its own event loop)
 * reads it, and when the stamp is older than the limit it names the running test on stderr and
 * kills the process, so vitest reports that file as failed and goes on with the next.
 */
import { Worker } from 'node:worker_threads';

const WATCHER = `
const { workerData, parentPort } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const beat = new Float64Array(workerData.clock);
let doing = workerData.label;
parentPort.on('message', (label) => { doing = label; });
setInterval(() => {
  const stalled = Date.now() - beat[0];
  if (stalled > workerData.limitMs) {
    writeSync(2, '\\nlrdif test watchdog: no JavaScript ran on the main thread for ' + (stalled / 1000).toFixed(1) +
      ' s (blocked in a native call?) during: ' + doing + '; killing the test process\\n');
    process.kill(process.pid, 'SIGKILL');
  }
}, Math.min(1000, workerData.limitMs / 4));
`;

export interface StallWatchdog {
  /** What the process is doing now, for the message (the running test's name). */
  setLabel(label: string): void;
  stop(): void;
}

export function startStallWatchdog(limitMs: number, label: string): StallWatchdog {
  const clock = new Float64Array(new SharedArrayBuffer(8));
  clock[0] = Date.now();
  const beat = setInterval(
    () => {
      clock[0] = Date.now();
    },
    Math.min(1000, limitMs / 4),
  );
  beat.unref();
  const worker = new Worker(WATCHER, { eval: true, workerData: { clock: clock.buffer, limitMs, label } });
  worker.unref();
  return {
    setLabel: (l) => worker.postMessage(l),
    stop: () => {
      clearInterval(beat);
      void worker.terminate();
    },
  };
}
