/**
 * `lrdif train`: one training stage of LRDif (under-display camera) or LLDif (low light).
 *
 *   lrdif train --stage 1 --data <dir> --format rafdb|ferplus|kdef|folder [--clip <dir>]
 *               [--config tiny|reference|<file.json>] [--set field=value ...]
 *               [--epochs N --batch N --lr X --weight-decay X --seed N ...] --out <run>
 *   lrdif train --stage 2 --from <run1>/best.safetensors ... [--timesteps T] [--no-diffusion]
 *               [--loss ce|ce+kl] [--no-insert-noise] [--parameterisation eps|x0] --out <run2>
 *   lrdif train --resume --out <run>          continue a run from its last checkpoint
 *
 * The run folder gets last.safetensors / best.safetensors (atomic), metrics.jsonl and run.json
 * (src/train/store-node.ts). See README.md for the options.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { initNode } from '../node.js';
import { clearPsfCache } from '../data/degrade/index.js';
import type { LrdifConfig, LrdifVariant } from '../models/lrdif/config.js';
import { CANONICAL_CLASSES, type Split } from '../data/datasets/types.js';
import { runTraining, readRunOptions, type RunOutcome, type TrainRunOptions } from '../train/run-node.js';
import { openEncoders, parseDatasetKind, Session, type Log } from '../train/session-node.js';
import { defaultCacheDir } from '../train/store-node.js';
import type { TrainHooks } from '../train/trainer.js';
import type { Wrap } from './command.js';
import { embedProgress, isPlain, trainProgress } from './progress.js';
import { packageVersion } from './package-version.js';

// ---------------------------------------------------------------- argument parsers

export function intArg(cmd: string, name: string, min: number) {
  return (v: string) => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new Error(`lrdif: ${cmd}: --${name} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };
}

export function numArg(cmd: string, name: string, min: number, max = Infinity, exclusiveMin = false) {
  return (v: string) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || (exclusiveMin ? n <= min : n < min) || n > max) {
      throw new Error(`lrdif: ${cmd}: --${name} must be a number ${exclusiveMin ? '>' : '≥'} ${min}${max < Infinity ? ` and ≤ ${max}` : ''}, got '${v}'`);
    }
    return n;
  };
}

export function choiceArg<T extends string>(cmd: string, name: string, choices: readonly T[]) {
  return (v: string): T => {
    if (!(choices as readonly string[]).includes(v)) throw new Error(`lrdif: ${cmd}: --${name} must be one of ${choices.join(', ')}, got '${v}'`);
    return v as T;
  };
}

/** --set field=value (value parsed as JSON when it can be: numbers, booleans, arrays). */
export function collectSet(cmd: string) {
  return (v: string, prev: Record<string, unknown>): Record<string, unknown> => {
    const eq = v.indexOf('=');
    if (eq < 1) throw new Error(`lrdif: ${cmd}: --set takes field=value (a config field, e.g. timesteps=8 or blocks=[1,1,1,1]), got '${v}'`);
    const key = v.slice(0, eq).trim();
    const raw = v.slice(eq + 1).trim();
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // a bare string such as lowlight
    }
    return { ...prev, [key]: value };
  };
}

/** --classes neutral,happiness,…: canonical class names, in label order. */
export function classListArg(cmd: string) {
  return (v: string): string[] => {
    const list = v.split(',').map((c) => c.trim());
    const bad = list.filter((c) => !(CANONICAL_CLASSES as readonly string[]).includes(c));
    if (bad.length) throw new Error(`lrdif: ${cmd}: --classes takes canonical class names separated by commas (${CANONICAL_CLASSES.join(', ')}), got ${bad.map((c) => `'${c}'`).join(', ')}`);
    return list;
  };
}

export function readJsonFile(cmd: string, what: string, file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`lrdif: ${cmd}: cannot read ${what} ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`lrdif: ${cmd}: ${what} ${file} is not valid JSON: ${(e as Error).message}`);
  }
}

interface TrainCliOpts {
  stage?: number;
  data?: string;
  format?: string;
  clip?: string;
  clipSeed: number;
  config: string;
  set: Record<string, unknown>;
  variant?: LrdifVariant;
  degradeOnTheFly?: boolean;
  degradeConfig?: string;
  degradeSeed: number;
  augment: boolean;
  epochs: number;
  batch: number;
  evalBatch: number;
  lr: number;
  weightDecay: number;
  schedule: 'cosine' | 'constant';
  warmup: number;
  gradClip: number;
  seed: number;
  deterministic?: boolean;
  from?: string;
  timesteps?: number;
  diffusion: boolean;
  loss?: 'ce' | 'ce+kl';
  klWeight?: number;
  insertNoise: boolean;
  parameterisation?: 'eps' | 'x0';
  testFraction: number;
  splitSeed: number;
  evalSplit: Split;
  classes?: string[];
  cache?: string | false;
  resume?: boolean;
  out: string;
  plain?: boolean;
}

/** The run options from the command line (everything but --resume). */
export function trainOptionsFromCli(o: TrainCliOpts, given: (name: string) => boolean): TrainRunOptions {
  const stage = o.stage;
  if (stage !== 1 && stage !== 2) throw new Error('lrdif: train: give --stage 1 or --stage 2 (or --resume --out <run>)');
  if (!o.data) throw new Error('lrdif: train: give --data <dataset folder>');
  if (!o.format) throw new Error('lrdif: train: give --format rafdb|ferplus|kdef|folder');
  const stage2Only = ['from', 'timesteps', 'diffusion', 'loss', 'klWeight', 'insertNoise', 'parameterisation'];
  if (stage === 1) {
    const bad = stage2Only.filter(given);
    if (bad.length) throw new Error(`lrdif: train: ${bad.map((b) => `--${b.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')} ${bad.length > 1 ? 'are' : 'is'} for stage 2`);
  } else if (!o.from) {
    throw new Error('lrdif: train: stage 2 needs --from <stage-1 checkpoint>');
  } else if (given('config') || Object.keys(o.set).length) {
    throw new Error('lrdif: train: stage 2 takes its architecture from the stage-1 checkpoint (--from); --config and --set are for stage 1');
  }
  let lambdaKl: number | undefined;
  if (o.loss === 'ce') lambdaKl = 0;
  if (o.klWeight !== undefined) {
    if (o.loss === 'ce' && o.klWeight > 0) throw new Error('lrdif: train: --loss ce and --kl-weight > 0 contradict each other');
    lambdaKl = o.klWeight;
  } else if (o.loss === 'ce+kl') lambdaKl = 1;
  return {
    stage,
    data: o.data,
    format: parseDatasetKind(o.format),
    testFraction: o.testFraction,
    splitSeed: o.splitSeed,
    evalSplit: o.evalSplit,
    classes: o.classes ?? null,
    clip: o.clip ?? null,
    clipSeed: o.clipSeed,
    config: o.config,
    overrides: o.set as Partial<LrdifConfig>,
    variant: o.variant ?? null,
    degradeOnTheFly: Boolean(o.degradeOnTheFly),
    degradeConfig: o.degradeConfig ? readJsonFile('train', 'the degradation config', o.degradeConfig) : {},
    degradeSeed: o.degradeSeed,
    augment: o.augment,
    epochs: o.epochs,
    batch: o.batch,
    evalBatch: o.evalBatch,
    lr: o.lr,
    weightDecay: o.weightDecay,
    schedule: o.schedule,
    warmup: o.warmup,
    gradClip: o.gradClip,
    seed: o.seed,
    deterministic: Boolean(o.deterministic),
    from: o.from ?? null,
    stage2: {
      timesteps: o.timesteps,
      diffusion: given('diffusion') ? o.diffusion : undefined,
      lambdaKl,
      insertNoise: given('insertNoise') ? o.insertNoise : undefined,
      parameterisation: o.parameterisation,
    },
    out: o.out,
    cacheDir: o.cache === false ? null : (o.cache ?? defaultCacheDir()),
  };
}

export interface TrainCommandEnv {
  log?: Log;
  hooks?: TrainHooks;
  plain?: boolean;
  /** An open session to reuse (demo, sweep); otherwise one is opened and closed here. */
  session?: Session;
}

/** Runs `lrdif train` with resolved options (a device must be current). */
export async function trainWithOptions(o: TrainRunOptions, resume: boolean, env: TrainCommandEnv = {}): Promise<RunOutcome> {
  const log = env.log ?? ((m: string) => process.stdout.write(`${m}\n`));
  const warn = (m: string) => process.stderr.write(`${m}\n`);
  const plain = isPlain(env.plain);
  const session =
    env.session ??
    (await (async () => {
      const enc = await openEncoders({ path: o.clip, seed: o.clipSeed }, o.cacheDir, log);
      try {
        return await Session.open({ dir: o.data, format: o.format, splitSeed: o.splitSeed, testFraction: o.testFraction, classes: o.classes ?? null }, enc, log, warn);
      } catch (e) {
        enc.dispose();
        throw e;
      }
    })());
  const progress = trainProgress(plain, `stage ${o.stage}`, env.hooks);
  try {
    return await runTraining(o, { session, log, hooks: progress, version: packageVersion(), embedProgress: embedProgress(plain) }, resume);
  } finally {
    progress.close();
    if (!env.session) session.dispose();
  }
}

export async function runTrainCli(opts: TrainCliOpts, given: (name: string) => boolean): Promise<RunOutcome> {
  let o: TrainRunOptions;
  if (opts.resume) {
    const allowed = new Set(['resume', 'out', 'plain', 'cache']);
    const extra = ['stage', 'data', 'format', 'clip', 'config', 'set', 'epochs', 'batch', 'lr', 'weightDecay', 'seed', 'from', 'timesteps', 'variant', 'degradeOnTheFly', 'deterministic', 'classes'].filter(
      (k) => !allowed.has(k) && given(k),
    );
    if (extra.length) throw new Error(`lrdif: train --resume continues with the run's own options (its run.json); do not pass ${extra.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`);
    o = readRunOptions(opts.out);
    o.out = opts.out;
    if (given('cache')) o.cacheDir = opts.cache === false ? null : (opts.cache ?? defaultCacheDir());
  } else {
    o = trainOptionsFromCli(opts, given);
  }
  const ctx = await initNode();
  try {
    const r = await trainWithOptions(o, Boolean(opts.resume), { plain: opts.plain });
    const b = r.result.best;
    process.stdout.write(
      `done: ${r.result.steps} steps; best test accuracy ${(100 * b.accuracy).toFixed(2)}% at epoch ${b.epoch}. ` +
        `Checkpoints: ${o.out}/best.safetensors, ${o.out}/last.safetensors; metrics: ${o.out}/metrics.jsonl\n`,
    );
    return r;
  } finally {
    clearPsfCache(ctx);
    ctx.dispose();
  }
}

/** The data, model, optimisation and evaluation options `lrdif train` and `lrdif sweep` share. */
export function addTrainingOptions(c: Command, cmd: string): Command {
  return c
    .option('--clip <dir>', 'CLIP weights (a Hugging Face / OpenCLIP folder or .safetensors file); default: the tiny random CLIP')
    .option('--clip-seed <n>', 'seed of the tiny random CLIP', intArg(cmd, 'clip-seed', 0), 0)
    .option('--config <name>', 'stage 1: tiny, reference, or a JSON file of config fields over reference', 'reference')
    .option('--set <field=value>', 'stage 1: override a config field (repeatable), e.g. --set imageSize=32 --set window=2', collectSet(cmd), {})
    .option('--variant <v>', 'udc (LRDif) or lowlight (LLDif): the degradation the model is for', choiceArg(cmd, 'variant', ['udc', 'lowlight'] as const))
    .option('--degrade-on-the-fly', 'degrade the (clean) images per batch, each image with its own seed')
    .option('--degrade-config <file>', 'JSON file with a partial degradation config for --degrade-on-the-fly')
    .option('--degrade-seed <n>', 'seed of the on-the-fly degradation', intArg(cmd, 'degrade-seed', 0), 0)
    .option('--no-augment', 'no random flip and erasing')
    .option('--batch <n>', 'batch size', intArg(cmd, 'batch', 1), 64)
    .option('--eval-batch <n>', 'evaluation batch size', intArg(cmd, 'eval-batch', 1), 64)
    .option('--lr <x>', 'AdamW learning rate', numArg(cmd, 'lr', 0, 1, true), 3.5e-4)
    .option('--weight-decay <x>', 'AdamW weight decay', numArg(cmd, 'weight-decay', 0), 1e-4)
    .option('--schedule <s>', 'learning-rate schedule: cosine or constant', choiceArg(cmd, 'schedule', ['cosine', 'constant'] as const), 'cosine')
    .option('--warmup <steps>', 'linear warm-up steps', intArg(cmd, 'warmup', 0), 0)
    .option('--grad-clip <x>', 'clip the global gradient norm (0: off)', numArg(cmd, 'grad-clip', 0), 0)
    .option('--seed <n>', 'seed of the weights, order, augmentation and noise', intArg(cmd, 'seed', 0), 0)
    .option('--deterministic', 'no timings in metrics.jsonl (reruns and resumed runs write identical files), no prefetch')
    .option('--test-fraction <x>', 'test share for datasets without a test split (KDEF, class folders)', numArg(cmd, 'test-fraction', 0, 1), 0.2)
    .option('--split-seed <n>', 'seed of that split', intArg(cmd, 'split-seed', 0), 0)
    .option('--classes <list>', 'the label set, canonical class names separated by commas in label order (default: the classes that have images)', classListArg(cmd))
    .option('--eval-split <s>', 'split evaluated after each epoch: test or val', choiceArg(cmd, 'eval-split', ['test', 'val'] as const), 'test')
    .option('--cache <dir>', 'embedding cache folder (default $LRDIF_CACHE_DIR or ~/.cache/lrdif/embeddings)')
    .option('--no-cache', 'keep the embeddings in memory only');
}

export function registerTrain(program: Command, wrap: Wrap): void {
  const cmd = 'train';
  const c = addTrainingOptions(
    program
      .command('train')
      .description('train stage 1 or stage 2 of LRDif / LLDif on a dataset; checkpoints, metrics and evaluation in a run folder')
      .option('--stage <n>', 'training stage: 1 (label-aware prior) or 2 (diffusion prior from the image)', intArg(cmd, 'stage', 1))
      .option('--data <dir>', 'dataset folder')
      .option('--format <fmt>', 'dataset layout: rafdb, ferplus, kdef or folder'),
    cmd,
  )
    .option('--epochs <n>', 'epochs', intArg(cmd, 'epochs', 1), 100)
    .option('--from <ckpt>', 'stage 2: the stage-1 checkpoint to start from')
    .option('--timesteps <T>', 'stage 2: diffusion steps T (1…32)', intArg(cmd, 'timesteps', 1))
    .option('--no-diffusion', 'stage 2: Ẑ₀ = FPEN_S2(e_img) without diffusion (Table 5, V1)')
    .option('--loss <l>', 'stage 2: ce (CE only, Table 5 V2) or ce+kl (the method)', choiceArg(cmd, 'loss', ['ce', 'ce+kl'] as const))
    .option('--kl-weight <x>', 'stage 2: λ_kl', numArg(cmd, 'kl-weight', 0))
    .option('--no-insert-noise', 'stage 2: start the training chain from ε alone (Table 5, V4)')
    .option('--parameterisation <p>', "stage 2: the denoiser predicts eps (paper Eq. 16) or x0 (DiffIR)", choiceArg(cmd, 'parameterisation', ['eps', 'x0'] as const))
    .option('--resume', "continue the run in --out from its last checkpoint, with the run's own options")
    .requiredOption('--out <run>', 'run folder')
    .option('--plain', 'print progress lines instead of progress bars');
  c.action(
    wrap(async (opts: TrainCliOpts) => {
      const given = (name: string) => c.getOptionValueSource(name) === 'cli';
      await runTrainCli(opts, given);
    }),
  );
}
