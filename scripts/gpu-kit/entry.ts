/**
 * The GPU kit's bundle entry (scripts/gpu-kit.ts bundles it into app/lrdif.mjs): the `lrdif`
 * command as bin/lrdif.js runs it (src/cli/launch.ts: Dawn's start-up notices filtered), except
 * - `bench …`: the suites bundled beside it run in this process (there is no tsx to run
 *   bench/run.ts), with runner.ts's arguments (filters, --quick, --no-peers, --gpu-sizes, --out);
 * - `kit-summary OUT_DIR`: the summary table of a run.sh output folder.
 */
// first: Benchmark.js finds lodash and platform as globals in a bundle (bench/benchmark-globals.ts)
import '../../bench/benchmark-globals.js';
import Benchmark from 'benchmark';
import { suiteModules } from 'lrdif-kit:suites';

// Benchmark.js's compiled timing loops refer to the global Benchmark
(globalThis as unknown as { Benchmark: typeof Benchmark }).Benchmark = Benchmark;

const args = process.argv.slice(2);
const verbose = args.includes('--verbose') || args.includes('-v');
// launch.ts runs the command in a child with this variable set; bench runs there
const inChild = process.env.LRDIF_CLI_CHILD === '1' || verbose;

if (args[0] === 'bench' && inChild && !args.includes('--help') && !args.includes('-h')) {
  const { isSuite, runBenchmarks } = await import('../../bench/runner.js');
  const suites = suiteModules.flatMap((m) => Object.values(m).filter(isSuite));
  const code = await runBenchmarks(
    args.slice(1).filter((a) => a !== '--verbose' && a !== '-v'),
    suites,
  );
  // the peers' devices (if any) keep the event loop alive
  process.exit(code);
} else if (args[0] === 'kit-summary') {
  const { printKitSummary } = await import('./summary.js');
  process.exitCode = printKitSummary(args[1]);
} else {
  await import('../../src/cli/launch.js');
}
