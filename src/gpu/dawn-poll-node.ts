/**
 * Paces dawn.node's event polling.
 *
 * While any of its promises is pending (mapAsync, onSubmittedWorkDone, popErrorScope,
 * createComputePipelineAsync), dawn.node calls `wgpuInstanceProcessEvents` from a callback it
 * re-queues with the global `setImmediate` at every turn of the event loop: the main thread
 * spins for as long as the GPU works. On a CPU adapter (lavapipe) that spinning thread takes a
 * core from the threads doing the GPU work: measured on 2 cores, the tiny LRDif stage-1 step
 * used 2.9 s of CPU per step spinning and 1.8 s paced, and ran 1.7× faster paced (in-process
 * A/B, bench/poll-pacing.ts).
 *
 * Paced: a run of polls spins for SPIN_MS (short waits keep their latency), then polls once a
 * millisecond. Dawn's callback is recognised as what it is, an anonymous native function; every
 * other `setImmediate` call goes straight through.
 */

export type DawnPolling = 'paced' | 'spin';

/** How long a run of polls stays immediate before it backs off to one a millisecond. */
const SPIN_MS = 0.25;

const nativeSource = Function.prototype.toString;
let original: typeof setImmediate | null = null;
let mode: DawnPolling = 'spin';
let runStart = 0;
let inPoll = false;
let polls = 0;

function isDawnPoll(fn: unknown): fn is () => void {
  return typeof fn === 'function' && fn.name === '' && nativeSource.call(fn).includes('[native code]');
}

function pacedSetImmediate(this: unknown, fn: unknown, ...args: unknown[]): unknown {
  const immediate = original!;
  if (!isDawnPoll(fn)) return (immediate as unknown as (...a: unknown[]) => unknown)(fn, ...args);
  polls++;
  if (mode === 'spin') return immediate(fn);
  const now = performance.now();
  // A poll queued from inside a poll continues the run; anything else starts a new one.
  if (!inPoll) runStart = now;
  const poll = () => {
    inPoll = true;
    try {
      fn();
    } finally {
      inPoll = false;
    }
  };
  return now - runStart < SPIN_MS ? immediate(poll) : setTimeout(poll, 1);
}

/** Sets how dawn.node polls (process-wide; every Dawn device shares the one event loop). Returns the mode before. */
export function setDawnPolling(next: DawnPolling): DawnPolling {
  const before = mode;
  if (original === null) {
    original = globalThis.setImmediate;
    // keep util.promisify(setImmediate) and the like working
    for (const key of Object.getOwnPropertySymbols(original)) {
      Object.defineProperty(pacedSetImmediate, key, Object.getOwnPropertyDescriptor(original, key)!);
    }
    globalThis.setImmediate = pacedSetImmediate as unknown as typeof setImmediate;
  }
  mode = next;
  return before;
}

/** Dawn polls queued since the process started (counted once `setDawnPolling` was first called). */
export function dawnPollCount(): number {
  return polls;
}
