/**
 * `lrdif bench [filters...]`: runs the benchmark suites (bench/run.ts) in a child process, so
 * they own their device and exit code. From a build, the compiled dist/bench/run.js runs instead.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function benchCommand(benchArgs: string[]): { cmd: string; args: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  // src/cli/bench.ts → bench/run.ts; dist/src/cli/bench.js → dist/bench/run.js
  const script = fileURLToPath(new URL(`../../bench/run.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  if (!existsSync(script)) throw new Error(`lrdif: bench: the benchmark suite is not there (${script})`);
  const args = fromSource ? ['--import', import.meta.resolve('tsx'), script] : [script];
  args.push(...benchArgs);
  return { cmd: process.execPath, args };
}

export function runBench(benchArgs: string[]): Promise<number> {
  const { cmd, args } = benchCommand(benchArgs);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.on('error', (e) => reject(new Error(`lrdif: bench: cannot start the benchmark suite: ${e.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
