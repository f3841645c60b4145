/**
 * `lrdif selftest` as a library: every op forward and backward on the current device against
 * the float64 references the tests use (./reference/), every kernel variant forced, and the LRDif
 * model trained and run. Browser-safe (the web app runs it too).
 */
export { runSelftest, runChecks, selftestChecks, type SelftestOptions, type SelftestReport, type CheckResult, type CheckStatus } from './run.js';
export type { SelftestCheck, Measurement, CheckKind } from './check.js';
export type { LrdifGoldenFixture } from './lrdif.js';
export { adapterReport, deviceLimits, type AdapterReport } from './adapter.js';
export { formatDevice, formatHeaderRow, formatRow, formatSummary } from './format.js';
