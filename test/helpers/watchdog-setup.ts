// vitest setup file: a stall watchdog in every test process (see stall-watchdog.ts). The limit,
// LRDIF_TEST_STALL_S (default 300 s), lies well above any synchronous stretch a test has.
import { beforeEach, afterAll, expect } from 'vitest';
import { startStallWatchdog } from './stall-watchdog.js';

const limitS = Number(process.env.LRDIF_TEST_STALL_S ?? 300);
const watchdog = startStallWatchdog(limitS * 1000, `loading ${expect.getState().testPath ?? 'a test file'}`);
beforeEach((ctx) => {
  watchdog.setLabel(`${ctx.task.file.name} > ${ctx.task.name}`);
});
afterAll(() => watchdog.stop());
