/**
 * `lrdif predict --ckpt <stage-2 file> <image ...> [--json] [--detect auto|always|never]`:
 * class probabilities per face, no label used. Photos that are not face crops go through face
 * detection and alignment first (src/train/predict-node.ts).
 */
import type { Command } from 'commander';
import { initNode } from '../node.js';
import { formatPrediction, runPrediction, type DetectMode } from '../train/predict-node.js';
import { defaultCacheDir } from '../train/store-node.js';
import type { Wrap } from './command.js';
import { choiceArg, intArg, numArg } from './args.js';

interface PredictCliOpts {
  ckpt: string;
  clip?: string;
  detect: DetectMode;
  seed?: number;
  scoreThreshold: number;
  cache?: string | false;
  json?: boolean;
}

export async function runPredictCli(images: string[], opts: PredictCliOpts) {
  const log = (m: string) => process.stderr.write(`${m}\n`);
  const ctx = await initNode();
  try {
    const r = await runPrediction(
      {
        ckpt: opts.ckpt,
        images,
        clip: opts.clip ?? null,
        detect: opts.detect,
        seed: opts.seed ?? null,
        cacheDir: opts.cache === false ? null : (opts.cache ?? defaultCacheDir()),
        scoreThreshold: opts.scoreThreshold,
      },
      log,
    );
    process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${formatPrediction(r)}\n`);
    return r;
  } finally {
    ctx.dispose();
  }
}

export function registerPredict(program: Command, wrap: Wrap): void {
  const cmd = 'predict';
  program
    .command('predict')
    .description('expression probabilities of face images from a stage-2 checkpoint (photos are detected and aligned first)')
    .argument('<images...>', 'PNG or JPEG images: face crops or photos')
    .requiredOption('--ckpt <file>', 'a stage-2 checkpoint (.safetensors)')
    .option('--clip <dir>', 'CLIP weights (default: the ones the checkpoint records)')
    .option('--detect <mode>', 'auto (photos are detected and aligned, face crops used whole), always, or never', choiceArg(cmd, 'detect', ['auto', 'always', 'never'] as const), 'auto')
    .option('--score-threshold <x>', 'smallest face-detector score', numArg(cmd, 'score-threshold', 0, 1), 0.5)
    .option('--seed <n>', "seed of the diffusion noise (default: the checkpoint's)", intArg(cmd, 'seed', 0))
    .option('--cache <dir>', 'embedding cache folder')
    .option('--no-cache', 'no embedding cache')
    .option('--json', 'print JSON')
    .action(
      wrap(async (images: string[], opts: PredictCliOpts) => {
        await runPredictCli(images, opts);
      }),
    );
}
