/// <reference types="vite/client" />

declare module 'virtual:lrdif-bench-suites' {
  /** bench/<file>.bench.ts → its module, for the suites that can run in a page. */
  export const suiteFiles: Record<string, () => Promise<Record<string, unknown>>>;
  /** The suites left out, with the reason (they import something Node-only). */
  export const excludedSuiteFiles: Array<{ file: string; reason: string }>;
}

/** lrdif's package.json version (vite.config.ts `define`). */
declare const __LRDIF_VERSION__: string;

// Benchmark.js's own dependencies (no type packages installed; only handed over as globals).
declare module 'lodash' {
  const lodash: unknown;
  export default lodash;
}
declare module 'platform' {
  const platform: unknown;
  export default platform;
}
