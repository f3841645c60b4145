/**
 * `lrdif predict [--model udc|lowlight | --ckpt <stage-2 file>] <image ...> [--json] [--detect auto|always|never] [--max-side N]`:
 * class probabilities per face, no label used. Without --ckpt the shipped model of --model
 * (default udc; src/pretrained) is used, and the output names it. Photos that are not face crops go through face
 * detection and alignment first (src/train/predict-node.ts). Images are turned upright by their
 * EXIF orientation and scaled down on the CPU when their longer side is above --max-side.
 * `--ckpt` given more than once: a seed ensemble (the mean of the checkpoints' probabilities).
 */
import type { Command } from 'commander';
import { initNode } from '../node.js';
import { formatPrediction, runPrediction, type DetectMode } from '../train/predict-node.js';
import { PHOTO_MAX_SIDE } from '../io/image.js';
import { defaultCacheDir } from '../train/store-node.js';
import { DEFAULT_PRETRAINED, PRETRAINED_NAMES } from '../pretrained/models.js';
import { openPretrained } from '../pretrained/pretrained-node.js';
import type { Wrap } from './command.js';
import { choiceArg, intArg, numArg } from './args.js';

interface PredictCliOpts {
  /** One checkpoint, or several: a seed ensemble. */
  ckpt: string[];
  model?: string;
  clip?: string;
  detect: DetectMode;
  seed?: number;
  scoreThreshold: number;
  maxSide: number;
  cache?: string | false;
  json?: boolean;
}

export async function runPredictCli(images: string[], opts: PredictCliOpts) {
  const log = (m: string) => process.stderr.write(`${m}\n`);
  if (opts.ckpt.length > 1 && opts.model) throw new Error('lrdif: predict: give either --ckpt (your checkpoints) or --model (a shipped model), not both');
  const chosen = modelChoice({ ckpt: opts.ckpt[0], model: opts.model });
  const ctx = await initNode();
  try {
    const r = await runPrediction(
      {
        ckpt: chosen.ckpt,
        members: opts.ckpt.slice(1),
        model: chosen.model,
        images,
        clip: opts.clip ?? chosen.clip,
        detect: opts.detect,
        seed: opts.seed ?? null,
        cacheDir: opts.cache === false ? null : (opts.cache ?? defaultCacheDir()),
        scoreThreshold: opts.scoreThreshold,
        maxSide: opts.maxSide,
      },
      log,
    );
    process.stdout.write(opts.json ? `${JSON.stringify(r)}\n` : `${formatPrediction(r)}\n`);
    return r;
  } finally {
    ctx.dispose();
  }
}

/** The checkpoint of --ckpt, or the shipped model of --model (default udc), checked before the GPU starts. */
export function modelChoice(opts: { ckpt?: string; model?: string }): { ckpt: string; clip: string | null; model: { name: string; title: string } | null } {
  if (opts.ckpt && opts.model) throw new Error('lrdif: give either --ckpt (your checkpoint) or --model (a shipped model), not both');
  if (opts.ckpt) return { ckpt: opts.ckpt, clip: null, model: null };
  const m = openPretrained(opts.model ?? DEFAULT_PRETRAINED);
  return { ckpt: m.model, clip: m.clip, model: { name: m.entry.name, title: m.entry.title } };
}

export function registerPredict(program: Command, wrap: Wrap): void {
  const cmd = 'predict';
  program
    .command('predict')
    .description('expression probabilities of face images from a shipped model or a stage-2 checkpoint (photos are detected and aligned first)')
    .argument('<images...>', 'PNG or JPEG images: face crops or photos')
    .option(
      '--model <name>',
      `a shipped pretrained model: ${PRETRAINED_NAMES.join(' or ')} (default ${DEFAULT_PRETRAINED} when --ckpt is not given)`,
      choiceArg(cmd, 'model', PRETRAINED_NAMES),
    )
    .option(
      '--ckpt <file>',
      "your own stage-2 checkpoint (.safetensors) instead of a shipped model; given more than once, a seed ensemble (each face scored by the mean of the checkpoints' probabilities)",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--clip <dir>', 'CLIP weights (default: the ones the checkpoint records)')
    .option(
      '--detect <mode>',
      'auto (photos are detected and aligned, face crops used whole), always, or never',
      choiceArg(cmd, 'detect', ['auto', 'always', 'never'] as const),
      'auto',
    )
    .option('--score-threshold <x>', 'smallest face-detector score', numArg(cmd, 'score-threshold', 0, 1), 0.5)
    .option('--max-side <n>', 'scale images whose longer side is above n pixels down to it first (0: never)', intArg(cmd, 'max-side', 0), PHOTO_MAX_SIDE)
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
