/**
 * Benchmark.js in a bundle: it finds lodash and platform through a CommonJS `require` that a
 * bundled ES module does not have, falling back to the globals `_` and `platform`; and in a
 * browser it compiles its timing loops by injecting scripts that refer to the global
 * `Benchmark`. This module provides the first two; it must be imported before anything that
 * imports `benchmark` (web/src/bench.ts and the GPU kit's entry, scripts/gpu-kit/entry.ts,
 * import it first), and they set the third.
 */
import lodash from 'lodash';
import platform from 'platform';

const g = globalThis as unknown as { _?: unknown; platform?: unknown };
g._ ??= lodash;
g.platform ??= platform;
