import { defineConfig } from 'vitest/config';

// Test files run one at a time (on the 2-core CPU adapter parallel devices only fight over the
// cores, and dawn.node spins one per device), each in its own process with its own device:
// dozens of devices created and destroyed in one process once crashed Dawn's native side.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    isolate: true,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    setupFiles: ['test/helpers/watchdog-setup.ts', 'test/helpers/progress-setup.ts'],
    // the second names a file whose process died mid-file (a native crash), which vitest does not
    reporters: ['default', './test/helpers/worker-crash-reporter.ts'],
  },
});
