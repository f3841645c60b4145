/**
 * The `lrdif` command line. Each command lives in its own file and registers itself here;
 * `demo` runs the whole LRDif job (src/cli/demo.ts), `engine-demo` the engine's MLP demo.
 *
 * Failures print one line on stderr and exit non-zero (`--verbose` adds the stack).
 */
import { Command, CommanderError } from 'commander';
import { reportError } from './errors.js';
import type { Action, Wrap } from './command.js';
import { runInfo } from './info.js';
import { runBench } from './bench.js';
import { registerDemo } from './demo.js';
import { registerSynth } from './synth.js';
import { registerMakeSynthetic } from './make-synthetic.js';
import { registerEmbed } from './embed.js';
import { registerConvert } from './convert.js';
import { registerFaces } from './faces.js';
import { registerEngineDemo } from './engine-demo.js';
import { registerTrain } from './train.js';
import { registerEval } from './eval.js';
import { registerPredict } from './predict.js';
import { registerSweep } from './sweep.js';
import { registerBaseline } from './baseline.js';
import { registerSelftest } from './selftest.js';
import { packageVersion } from './package-version.js';

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command('lrdif');
  const verbose = () => Boolean(program.opts().verbose);
  // a failing action becomes one line on stderr and an exit code, never an unhandled rejection
  const wrap: Wrap =
    <A extends unknown[]>(fn: Action<A>) =>
    async (...args: A) => {
      try {
        const code = await fn(...args);
        setExit(code ?? 0);
      } catch (e) {
        reportError(e, verbose());
        setExit(1);
      }
    };

  program
    .description('lrdif: a WebGPU compute-kernel library in TypeScript (tensors, autograd, nn, optim), the engine for the LRDif facial-expression-recognition system')
    .version(packageVersion(), '-V, --version')
    .option('-v, --verbose', 'print full errors with stack traces')
    .showHelpAfterError('(run `lrdif --help` for usage)')
    .exitOverride();

  program
    .command('info')
    .description('show the WebGPU adapter lrdif uses here: description, features and limits')
    .option('--json', 'print JSON instead of a table')
    .action(wrap(async (opts: { json?: boolean }) => runInfo(opts)));

  program
    .command('bench')
    .description('run the benchmark suites (bench/run.ts): a table, and bench/results/latest.json')
    .argument('[filters...]', 'run only the suites whose name contains one of these')
    .option('--quick', 'fewer sizes and repetitions')
    .option('--no-peers', 'skip the comparison with TensorFlow.js and jax-js')
    .option('--gpu-sizes', 'add the sizes meant for a GPU (matmul 4096², the LRDif steps at batch 8 and 64)')
    .option('--out <file>', 'write the results JSON there instead of bench/results/')
    .action(
      wrap(async (filters: string[], opts: { quick?: boolean; peers: boolean; gpuSizes?: boolean; out?: string }) => {
        const args = [...filters];
        if (opts.quick) args.push('--quick');
        if (!opts.peers) args.push('--no-peers');
        if (opts.gpuSizes) args.push('--gpu-sizes');
        if (opts.out) args.push('--out', opts.out);
        return runBench(args);
      }),
    );

  registerDemo(program, wrap);
  registerSynth(program, wrap);
  registerMakeSynthetic(program, wrap);
  registerEmbed(program, wrap);
  registerConvert(program, wrap);
  registerFaces(program, wrap);
  registerTrain(program, wrap);
  registerEval(program, wrap);
  registerPredict(program, wrap);
  registerSweep(program, wrap);
  registerBaseline(program, wrap);
  registerEngineDemo(program, wrap);
  registerSelftest(program, wrap);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  let exitCode = 0;
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    // commander has already printed usage errors, help and the version
    if (e instanceof CommanderError) return e.exitCode;
    reportError(e, process.argv.includes('--verbose') || process.argv.includes('-v'));
    return 1;
  }
  return exitCode;
}

process.exitCode = await main();
