/** The test processes' stall watchdog (test/helpers/stall-watchdog.ts). */
import { describe, it, expect } from 'vitest';
import { fileURLToPath } from 'node:url';
import { runNode } from './helpers/child.js';

describe('stall watchdog', () => {
  it('kills a process whose main thread is blocked past the limit, naming what it was doing', async () => {
    const script = fileURLToPath(new URL('./helpers/stall-child.ts', import.meta.url));
    const t0 = Date.now();
    const r = await runNode(['--import', import.meta.resolve('tsx'), script], { timeout: 60_000 });
    const seconds = (Date.now() - t0) / 1000;
    expect(r.signal).toBe('SIGKILL');
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /lrdif test watchdog: no JavaScript ran on the main thread for \d+\.\d s \(blocked in a native call\?\) during: the blocking call; killing the test process/,
    );
    expect(seconds).toBeLessThan(15);
  });
});
