import { defineConfig } from 'vitest/config';

// One worker process shares one WebGPU device across test files: on the 2-core CPU adapter
// parallel devices only fight over the cores (and dawn.node spins one per device).
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    isolate: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    globalSetup: ['test/helpers/global-setup.ts'],
    reporters: ['default'],
  },
});
