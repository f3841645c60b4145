/**
 * `lrdif eval --ckpt <file> | --model udc|lowlight --data <dir> --format <fmt> [--split test] [--tta flip] [--out <dir>] [--tsne]`:
 * accuracy, per-class accuracy and the confusion matrix of a checkpoint (printed, and written
 * as eval.json + confusion.svg), optionally the t-SNE of the fused features (tsne.svg,
 * tsne.json). Stage-1 checkpoints are scored with the label as input, as the paper does.
 * `--ckpt` given more than once scores a seed ensemble: the mean of the checkpoints' probabilities.
 */
import * as path from 'node:path';
import type { Command } from 'commander';
import { initNode } from '../node.js';
import { clearPsfCache } from '../data/degrade/index.js';
import type { Split } from '../data/datasets/types.js';
import { runEnsembleEvaluation, runEvaluation, type EvalRunOptions } from '../train/eval-node.js';
import { TEST_TIME_AUGMENTATIONS, type TestTimeAugmentation } from '../train/tta.js';
import { parseDatasetKind } from '../train/session-node.js';
import { defaultCacheDir } from '../train/store-node.js';
import type { Wrap } from './command.js';
import { embedProgress, isPlain, makeBar, type Bar } from './progress.js';
import { choiceArg, intArg, numArg } from './args.js';
import { PRETRAINED_NAMES } from '../pretrained/models.js';
import { modelChoice } from './predict.js';

interface EvalCliOpts {
  /** One checkpoint, or several: a seed ensemble. */
  ckpt: string[];
  model?: string;
  data: string;
  format: string;
  split: Split;
  clip?: string;
  batch: number;
  degrade: 'auto' | 'none' | 'udc' | 'lowlight';
  degradeSeed: number;
  tta: TestTimeAugmentation;
  out?: string;
  figures: boolean;
  tsne?: boolean;
  tsneMax: number;
  tsnePerplexity: number;
  testFraction: number;
  splitSeed: number;
  cache?: string | false;
  json?: boolean;
  plain?: boolean;
}

export async function runEvalCli(opts: EvalCliOpts) {
  const ckpts = opts.ckpt;
  if (!ckpts.length && !opts.model) throw new Error('lrdif: eval: give --ckpt <file> or --model <name> (a shipped model)');
  if (ckpts.length > 1 && opts.model) throw new Error('lrdif: eval: give either --ckpt (your checkpoints) or --model (a shipped model), not both');
  const ensemble = ckpts.length > 1;
  const chosen = modelChoice({ ckpt: ckpts[0], model: opts.model });
  // a shipped model's figures go to the working folder, not into the package; an ensemble's too
  const outDefault = chosen.model
    ? path.resolve(`eval-${chosen.model.name}-${opts.split}`)
    : ensemble
      ? path.resolve(`eval-ensemble-${opts.split}`)
      : path.join(path.dirname(chosen.ckpt), `eval-${path.basename(chosen.ckpt).replace(/\.safetensors$/, '')}-${opts.split}`);
  const o: EvalRunOptions = {
    ckpt: chosen.ckpt,
    data: opts.data,
    format: parseDatasetKind(opts.format),
    split: opts.split,
    testFraction: opts.testFraction,
    splitSeed: opts.splitSeed,
    clip: opts.clip ?? chosen.clip,
    batch: opts.batch,
    degrade: opts.degrade,
    degradeSeed: opts.degradeSeed,
    tta: opts.tta,
    out: opts.figures ? (opts.out ?? outDefault) : null,
    tsne: Boolean(opts.tsne),
    tsneMax: opts.tsneMax,
    tsnePerplexity: opts.tsnePerplexity,
    cacheDir: opts.cache === false ? null : (opts.cache ?? defaultCacheDir()),
  };
  const plain = isPlain(opts.plain);
  // with --json, stdout carries the JSON only
  const log = opts.json ? (m: string) => process.stderr.write(`${m}\n`) : (m: string) => process.stdout.write(`${m}\n`);
  const ctx = await initNode();
  let bar: Bar | null = null;
  try {
    const warn = (m: string) => process.stderr.write(`${m}\n`);
    const progress = {
      embed: opts.json ? undefined : embedProgress(plain),
      batch: opts.json
        ? undefined
        : (done: number, total: number) => {
            bar ??= makeBar(total, plain, 'evaluating |{bar}| {value}/{total} images | ETA {eta_formatted}', (v, _p, eta) => `evaluating: ${v}/${total} images (ETA ${eta})`);
            bar.update(done);
            if (done >= total) {
              bar.stop();
              bar = null;
            }
          },
    };
    const r = ensemble ? await runEnsembleEvaluation({ ...o, ckpts }, log, warn, progress) : await runEvaluation(o, log, warn, progress);
    if (opts.json) process.stdout.write(`${JSON.stringify({ ...r.json, files: r.files })}\n`);
    else process.stdout.write(`${r.text}\n`);
    return r;
  } finally {
    (bar as Bar | null)?.stop();
    clearPsfCache(ctx);
    ctx.dispose();
  }
}

export function registerEval(program: Command, wrap: Wrap): void {
  const cmd = 'eval';
  program
    .command('eval')
    .description('evaluate a checkpoint: accuracy, per-class accuracy, confusion matrix (JSON and SVG), optional t-SNE of the fused features')
    .option(
      '--ckpt <file>',
      "an lrdif checkpoint (.safetensors); given more than once, a seed ensemble: each image scored by the mean of the checkpoints' probabilities (default --out: eval-ensemble-<split>/ here)",
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('--model <name>', `a shipped pretrained model instead: ${PRETRAINED_NAMES.join(' or ')}`, choiceArg(cmd, 'model', PRETRAINED_NAMES))
    .requiredOption('--data <dir>', 'dataset folder')
    .requiredOption('--format <fmt>', 'dataset layout: rafdb, ferplus, kdef or folder')
    .option('--split <s>', 'split to evaluate: test, val or train', choiceArg(cmd, 'split', ['test', 'val', 'train'] as const), 'test')
    .option('--clip <dir>', 'CLIP weights (default: the ones the checkpoint records; they must hash the same)')
    .option('--batch <n>', 'batch size', intArg(cmd, 'batch', 1), 64)
    .option(
      '--degrade <mode>',
      "auto (the checkpoint's on-the-fly degradation), none, udc or lowlight",
      choiceArg(cmd, 'degrade', ['auto', 'none', 'udc', 'lowlight'] as const),
      'auto',
    )
    .option('--degrade-seed <n>', 'seed of --degrade udc|lowlight', intArg(cmd, 'degrade-seed', 0), 0)
    .option(
      '--tta <mode>',
      "test-time augmentation: none, or flip (the mean of each image's and its mirror image's probabilities; twice the time)",
      choiceArg(cmd, 'tta', TEST_TIME_AUGMENTATIONS),
      'none',
    )
    .option(
      '--out <dir>',
      'folder for eval.json, confusion.svg and the t-SNE files (default: eval-<checkpoint>-<split>/ beside the checkpoint; eval-<model>-<split>/ here with --model)',
    )
    .option('--no-figures', 'write no files')
    .option('--tsne', 't-SNE of the fused features (tsne.svg, tsne.json)')
    .option('--tsne-max <n>', 'at most this many points in the t-SNE (a seeded subsample)', intArg(cmd, 'tsne-max', 2), 2000)
    .option('--tsne-perplexity <x>', 't-SNE perplexity', numArg(cmd, 'tsne-perplexity', 1), 30)
    .option('--test-fraction <x>', 'test share for datasets without a test split', numArg(cmd, 'test-fraction', 0, 1), 0.2)
    .option('--split-seed <n>', 'seed of that split', intArg(cmd, 'split-seed', 0), 0)
    .option('--cache <dir>', 'embedding cache folder')
    .option('--no-cache', 'keep the embeddings in memory only')
    .option('--json', 'print the result as JSON')
    .option('--plain', 'print progress lines instead of progress bars')
    .action(
      wrap(async (opts: EvalCliOpts) => {
        await runEvalCli(opts);
      }),
    );
}
