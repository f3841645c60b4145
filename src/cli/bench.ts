/**
 * `lrdif bench [filter]`: runs the benchmark suite (bench/run.ts) in a child process, so it
 * owns its device and its exit code. From a build, the compiled dist/bench/run.js runs instead.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function benchCommand(filter: string | undefined, extra: string[] = []): { cmd: string; args: string[] } {
  const fromSource = import.meta.url.endsWith('.ts');
  // src/cli/bench.ts → bench/run.ts; dist/src/cli/bench.js → dist/bench/run.js
  const script = fileURLToPath(new URL(`../../bench/run.${fromSource ? 'ts' : 'js'}`, import.meta.url));
  if (!existsSync(script)) throw new Error(`lrdif: bench: the benchmark suite is not there (${script})`);
  const args = fromSource ? ['--import', import.meta.resolve('tsx'), script] : [script];
  if (filter) args.push(filter);
  args.push(...extra);
  return { cmd: process.execPath, args };
}

export function runBench(filter: string | undefined, extra: string[] = []): Promise<number> {
  const { cmd, args } = benchCommand(filter, extra);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: 'inherit' });
    child.on('error', (e) => reject(new Error(`lrdif: bench: cannot start the benchmark suite: ${e.message}`)));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
