/**
 * `lrdif make-synthetic --out <dir> --n <count> --seed N [--size 112] [--test-fraction 0.2]`:
 * writes the procedural face dataset (seven expressions, class-per-folder PNGs in train/ and
 * test/, synthetic.json with every image's parameters), with a progress bar.
 */
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { writeSyntheticDataset } from '../data/synthetic-faces-node.js';
import { SYNTHETIC_CLASSES } from '../data/synthetic-faces.js';
import type { Wrap } from './command.js';

export interface MakeSyntheticOptions {
  out: string;
  n: number;
  seed: number;
  size: number;
  testFraction: number;
  plain?: boolean;
}

function intArg(name: string, min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`lrdif: make-synthetic: --${name} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };
}

export async function runMakeSynthetic(o: MakeSyntheticOptions): Promise<void> {
  const plain = o.plain ?? !process.stdout.isTTY;
  process.stdout.write(`lrdif make-synthetic: ${o.n} faces of ${o.size}×${o.size} (${SYNTHETIC_CLASSES.join(', ')}), seed ${o.seed}, test fraction ${o.testFraction} → ${o.out}\n`);
  let onProgress: (done: number, total: number) => void;
  let stop = () => {};
  if (plain) {
    const every = Math.max(1, Math.round(o.n / 10));
    onProgress = (done, total) => {
      if (done % every === 0 || done === total) process.stdout.write(`${done}/${total} images\n`);
    };
  } else {
    const bar = new cliProgress.SingleBar(
      { format: 'rendering |{bar}| {value}/{total} images | {eta_formatted} left', stream: process.stdout, hideCursor: true, barsize: 30 },
      cliProgress.Presets.shades_classic,
    );
    bar.start(o.n, 0);
    onProgress = (done) => bar.update(done);
    stop = () => bar.stop();
  }
  let result;
  try {
    result = await writeSyntheticDataset({ out: o.out, n: o.n, seed: o.seed, size: o.size, testFraction: o.testFraction, onProgress });
  } finally {
    stop();
  }
  const train = result.manifest.images.filter((im) => im.split === 'train').length;
  process.stdout.write(
    `wrote ${o.n} images (${train} train, ${o.n - train} test) and synthetic.json in ${result.seconds.toFixed(1)} s (${(o.n / result.seconds).toFixed(0)} images/s)\n`,
  );
}

export function registerMakeSynthetic(program: Command, wrap: Wrap): void {
  program
    .command('make-synthetic')
    .description('write a procedural face dataset with seven expressions (class folders of PNGs in train/ and test/, synthetic.json)')
    .requiredOption('--out <dir>', 'output folder (new, empty, or an earlier synthetic dataset to replace)')
    .requiredOption('--n <count>', 'number of images (classes are balanced: image i has class i mod 7)', intArg('n', 1))
    .option('--seed <n>', 'seed: the same seed gives byte-identical files', intArg('seed', 0), 0)
    .option('--size <px>', 'image side in pixels', intArg('size', 16), 112)
    .option(
      '--test-fraction <x>',
      'fraction of each class in test/',
      (v: string) => {
        const x = Number(v);
        if (!(x >= 0 && x <= 1)) throw new Error(`lrdif: make-synthetic: --test-fraction must be a number in [0, 1], got '${v}'`);
        return x;
      },
      0.2,
    )
    .option('--plain', 'print progress lines instead of a progress bar')
    .action(wrap(async (opts: MakeSyntheticOptions) => runMakeSynthetic(opts)));
}
