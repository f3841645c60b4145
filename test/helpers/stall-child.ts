// Child process for test/watchdog.test.ts: a main thread that blocks for 20 s in one call.
import { startStallWatchdog } from './stall-watchdog.js';

startStallWatchdog(1000, 'the blocking call');
Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20_000);
process.stdout.write('the watchdog did not fire\n');
