/**
 * `lrdif baseline --data <dir> --format <fmt> --out <dir> [--which cnn,faceapi] [options]`: the
 * baselines LRDif is measured against, on the same split (src/baseline/run-node.ts): a plain CNN
 * trained with lrdif's engine (selected on the validation split, scored once on test) and
 * face-api's pretrained expression net zero-shot. Writes <out>/cnn/ and <out>/faceapi/
 * (eval.json + confusion.svg, as `lrdif eval`), <out>/baseline.json, and prints a table.
 */
import { TEST_TIME_AUGMENTATIONS } from '../train/tta.js';
import type { Command } from 'commander';
import { initNode } from '../node.js';
import { clearPsfCache, type DegradationKind } from '../data/degrade/index.js';
import { BASELINE_KINDS, formatBaselineTable, runBaselines, type BaselineRunOptions } from '../baseline/run-node.js';
import type { CnnTrainHooks } from '../baseline/train-cnn.js';
import { parseDatasetKind } from '../train/session-node.js';
import type { Wrap } from './command.js';
import { isPlain, makeBar, type Bar } from './progress.js';
import { packageVersion } from './package-version.js';
import { choiceArg, intArg, numArg, readJsonFile } from './args.js';

/** The run options the flags give as they are (the rest are parsed or renamed below). */
type SameAsRunOptions =
  | 'data'
  | 'out'
  | 'which'
  | 'imageSize'
  | 'epochs'
  | 'batch'
  | 'evalBatch'
  | 'lr'
  | 'weightDecay'
  | 'schedule'
  | 'warmup'
  | 'seed'
  | 'augment'
  | 'widths'
  | 'dropout'
  | 'testFraction'
  | 'valFraction'
  | 'splitSeed'
  | 'tta';

type BaselineCliOpts = Pick<BaselineRunOptions, SameAsRunOptions> & {
  format: string;
  selectOn: BaselineRunOptions['select'];
  variant?: DegradationKind;
  degradeOnTheFly?: boolean;
  degradeConfig?: string;
  degradeSeed: number;
  faceapiWeights?: string;
  deterministic?: boolean;
  json?: boolean;
  plain?: boolean;
};

function listArg<T>(cmd: string, name: string, parse: (v: string) => T) {
  return (v: string): T[] => {
    const parts = v.split(',').map((s) => s.trim());
    if (parts.some((p) => p === '')) throw new Error(`lrdif: ${cmd}: --${name} takes a comma-separated list, got '${v}'`);
    return parts.map(parse);
  };
}

export function baselineOptionsFromCli(o: BaselineCliOpts): BaselineRunOptions {
  if (o.degradeOnTheFly && !o.variant) throw new Error('lrdif: baseline: --degrade-on-the-fly needs --variant udc|lowlight (the degradation to apply)');
  if (!o.degradeOnTheFly && o.degradeConfig) throw new Error('lrdif: baseline: --degrade-config is for --degrade-on-the-fly');
  const blocks = o.widths.length;
  if (o.imageSize % 2 ** blocks !== 0)
    throw new Error(`lrdif: baseline: --image-size ${o.imageSize} must be a multiple of ${2 ** blocks} (${blocks} CNN blocks, each halving the image)`);
  return {
    data: o.data,
    format: parseDatasetKind(o.format),
    testFraction: o.testFraction,
    valFraction: o.valFraction,
    splitSeed: o.splitSeed,
    out: o.out,
    which: [...new Set(o.which)],
    imageSize: o.imageSize,
    epochs: o.epochs,
    batch: o.batch,
    evalBatch: o.evalBatch,
    lr: o.lr,
    weightDecay: o.weightDecay,
    schedule: o.schedule,
    warmup: o.warmup,
    seed: o.seed,
    augment: o.augment,
    widths: o.widths,
    dropout: o.dropout,
    select: o.selectOn,
    degrade: o.degradeOnTheFly
      ? { kind: o.variant!, config: o.degradeConfig ? readJsonFile('baseline', 'the degradation config', o.degradeConfig) : {}, seed: o.degradeSeed }
      : null,
    faceapiWeights: o.faceapiWeights ?? null,
    deterministic: Boolean(o.deterministic),
    tta: o.tta,
  };
}

/** One bar per CNN epoch and per evaluation pass, and an epoch summary line. */
function cnnProgress(plain: boolean): CnnTrainHooks & { close(): void } {
  let bar: Bar | null = null;
  let lossAvg = 0;
  let accAvg = 0;
  let n = 0;
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  return {
    close() {
      bar?.stop();
      bar = null;
    },
    onEpochStart(epoch, epochs, batches) {
      lossAvg = accAvg = n = 0;
      bar = makeBar(
        batches,
        plain,
        `cnn epoch ${epoch}/${epochs} |{bar}| {value}/{total} steps | {ips} img/s | loss {loss} | acc {acc} | ETA {eta_formatted}`,
        (v, p, eta) => `cnn epoch ${epoch}/${epochs} step ${v}/${batches}  ${p.ips} img/s  loss ${p.loss}  acc ${p.acc}  ETA ${eta}`,
        { ips: '-', loss: '-', acc: '-' },
      );
    },
    onStep(s) {
      n++;
      lossAvg += (s.loss - lossAvg) / n;
      accAvg += (s.accuracy - accAvg) / n;
      bar?.update(s.batch, { ips: s.imagesPerSecond.toFixed(1), loss: lossAvg.toFixed(4), acc: pct(accAvg) });
    },
    onEvalBatch(split, done, total) {
      if (done <= Math.min(total, 1) || !bar) {
        bar?.stop();
        bar = makeBar(
          total,
          plain,
          `cnn: evaluating on ${split} |{bar}| {value}/{total} images | ETA {eta_formatted}`,
          (v, _p, eta) => `cnn: evaluating on ${split}: ${v}/${total} images (ETA ${eta})`,
        );
      }
      bar.update(done);
      if (done >= total) {
        bar.stop();
        bar = null;
      }
    },
    onEpochEnd(e) {
      bar?.stop();
      bar = null;
      const sel = e.selectionReport
        ? ` | selection accuracy ${pct(e.selectionReport.accuracy)} (mean per-class ${pct(e.selectionReport.meanClassAccuracy)}; selected: epoch ${e.selected.epoch})${e.improved ? ' *' : ''}`
        : '';
      process.stdout.write(`cnn epoch ${e.epoch}/${e.epochs}: train loss ${e.trainLoss.toFixed(4)}, train accuracy ${pct(e.trainAccuracy)}${sel} | ${e.seconds.toFixed(1)} s\n`);
    },
  };
}

export async function runBaselineCli(opts: BaselineCliOpts) {
  const o = baselineOptionsFromCli(opts);
  const plain = isPlain(opts.plain);
  // with --json, stdout carries the JSON only
  const log = opts.json ? (m: string) => process.stderr.write(`${m}\n`) : (m: string) => process.stdout.write(`${m}\n`);
  const warn = (m: string) => process.stderr.write(`${m}\n`);
  const ctx = await initNode();
  const progress = opts.json ? null : cnnProgress(plain);
  let fbar: Bar | null = null;
  try {
    const r = await runBaselines(o, {
      log,
      warn,
      version: packageVersion(),
      cnnHooks: progress ?? undefined,
      faceapiProgress: opts.json
        ? undefined
        : (done, total) => {
            fbar ??= makeBar(
              total,
              plain,
              'faceapi: scoring |{bar}| {value}/{total} images | ETA {eta_formatted}',
              (v, _p, eta) => `faceapi: scoring ${v}/${total} images (ETA ${eta})`,
            );
            fbar.update(done);
            if (done >= total) {
              fbar.stop();
              fbar = null;
            }
          },
    });
    if (opts.json) process.stdout.write(`${JSON.stringify({ ...r.summary, files: r.files })}\n`);
    else process.stdout.write(`${formatBaselineTable(r.rows)}\nwrote ${r.files.join(', ')}\n`);
    return r;
  } finally {
    progress?.close();
    (fbar as Bar | null)?.stop();
    clearPsfCache(ctx);
    ctx.dispose();
  }
}

export function registerBaseline(program: Command, wrap: Wrap): void {
  const cmd = 'baseline';
  program
    .command('baseline')
    .description(
      "the baselines on a dataset's test split: a plain CNN trained with lrdif (selected on validation) and face-api's expression net zero-shot; eval.json + confusion.svg each, baseline.json",
    )
    .requiredOption('--data <dir>', 'dataset folder')
    .requiredOption('--format <fmt>', 'dataset layout: rafdb, ferplus, kdef or folder')
    .requiredOption('--out <dir>', 'output folder (cnn/, faceapi/, baseline.json)')
    .option('--which <list>', 'baselines to run: cnn, faceapi or both (comma-separated)', listArg(cmd, 'which', choiceArg(cmd, 'which', BASELINE_KINDS)), [...BASELINE_KINDS])
    .option('--image-size <px>', 'CNN input side (a multiple of 2^blocks)', intArg(cmd, 'image-size', 1), 64)
    .option('--epochs <n>', 'CNN epochs', intArg(cmd, 'epochs', 1), 30)
    .option('--batch <n>', 'CNN batch size', intArg(cmd, 'batch', 2), 32)
    .option('--eval-batch <n>', 'evaluation batch size', intArg(cmd, 'eval-batch', 1), 64)
    .option('--lr <x>', 'AdamW learning rate', numArg(cmd, 'lr', 0, 1, true), 1e-3)
    .option('--weight-decay <x>', 'AdamW weight decay', numArg(cmd, 'weight-decay', 0), 1e-2)
    .option('--schedule <s>', 'learning-rate schedule: cosine or constant', choiceArg(cmd, 'schedule', ['cosine', 'constant'] as const), 'cosine')
    .option('--warmup <steps>', 'linear warm-up steps', intArg(cmd, 'warmup', 0), 0)
    .option('--seed <n>', 'seed of the weights, order and augmentation', intArg(cmd, 'seed', 0), 0)
    .option('--no-augment', "no random flip and erasing (the CNN otherwise gets LRDif's)")
    .option('--widths <list>', 'CNN block widths, comma-separated (one block each)', listArg(cmd, 'widths', intArg(cmd, 'widths', 1)), [32, 64, 128, 256])
    .option('--dropout <p>', "dropout before the CNN's linear head", numArg(cmd, 'dropout', 0, 0.99), 0.3)
    .option(
      '--select-on <s>',
      "the split that picks the CNN's epoch: auto (val, unless --val-fraction 0 and the dataset has none: then last), val, last (a refit: nothing carved out, the last epoch kept), or test (the paper's best test epoch: optimistic)",
      choiceArg(cmd, 'select-on', ['auto', 'val', 'last', 'test'] as const),
      'auto',
    )
    .option('--variant <v>', 'with --degrade-on-the-fly: udc or lowlight', choiceArg(cmd, 'variant', ['udc', 'lowlight'] as const))
    .option('--degrade-on-the-fly', 'degrade the (clean) images on the fly, each image with its own seed')
    .option('--degrade-config <file>', 'JSON file with a partial degradation config for --degrade-on-the-fly')
    .option('--degrade-seed <n>', 'seed of the on-the-fly degradation', intArg(cmd, 'degrade-seed', 0), 0)
    .option('--faceapi-weights <file>', "face-api expression weights (a weights manifest or .safetensors; default: the installed @vladmandic/face-api's)")
    .option('--test-fraction <x>', 'test share for datasets without a test split (KDEF, class folders)', numArg(cmd, 'test-fraction', 0, 1), 0.2)
    .option(
      '--val-fraction <x>',
      'share of train carved out as the validation split (person-disjoint where file names name persons) when the dataset has none; 0: none',
      numArg(cmd, 'val-fraction', 0, 0.9),
      0.15,
    )
    .option('--split-seed <n>', 'seed of the test split and of the validation carve', intArg(cmd, 'split-seed', 0), 0)
    .option(
      '--tta <mode>',
      "test-time augmentation of every evaluation: none, or flip (the mean of each image's and its mirror image's probabilities), as lrdif eval --tta",
      choiceArg(cmd, 'tta', TEST_TIME_AUGMENTATIONS),
      'none',
    )
    .option('--deterministic', 'no timings in metrics.jsonl, no prefetch')
    .option('--json', 'print the summary as JSON')
    .option('--plain', 'print progress lines instead of progress bars')
    .action(
      wrap(async (opts: BaselineCliOpts) => {
        await runBaselineCli(opts);
      }),
    );
}
