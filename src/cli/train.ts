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
import type { Command } from 'commander';
import { engine, initNode } from '../node.js';
import { compileTrainingAhead } from '../train/compile-ahead-node.js';
import { clearPsfCache } from '../data/degrade/index.js';
import { runTraining, readRunOptions, readSelection, type RunOutcome } from '../train/run-node.js';
import { refitOptions, resumeOptions, validateRunOptions, type TrainRunOptions } from '../train/options.js';
import { openEncoders, Session, type Log } from '../train/session-node.js';
import type { CompileAhead, TrainHooks } from '../train/trainer.js';
import type { Wrap } from './command.js';
import { embedProgress, isPlain, trainProgress } from './progress.js';
import { packageVersion } from './package-version.js';
import { addRunOptionFlags, givenOf, resumeHelp, runOptionsFromValues } from './train-flags.js';

/** Run options from the command line (everything but --resume). */
export function trainOptionsFromCli(values: Record<string, unknown>, given: (name: keyof TrainRunOptions) => boolean): TrainRunOptions {
  if (!given('stage')) throw new Error('lrdif: train: give --stage 1 or --stage 2 (or --resume --out <run>)');
  const o = runOptionsFromValues(values, given);
  validateRunOptions(o, given);
  return o;
}

/** Run options of `--refit <run>`: the selection run's, refitted (src/train/options.ts refitOptions); says what it takes. */
export function refitOptionsFromCli(run: string, values: Record<string, unknown>, given: (name: keyof TrainRunOptions) => boolean): TrainRunOptions {
  const selected = readSelection(run);
  const o = refitOptions(run, readRunOptions(run, 'train --refit'), selected, runOptionsFromValues(values, given), given);
  validateRunOptions(o, given);
  process.stdout.write(
    `refit of ${run}: its options (stage ${o.stage}), every training image (nothing carved out for validation), ${o.epochs} epochs: ` +
      `the epoch it chose on validation${selected.accuracy === null ? '' : ` (${(100 * selected.accuracy).toFixed(2)}%)`}` +
      (o.stage === 2 ? `; from ${o.from}` : '') +
      '\n',
  );
  return o;
}

const printLine = (m: string) => process.stdout.write(`${m}\n`);

export interface TrainCommandEnv {
  log?: Log;
  hooks?: TrainHooks;
  plain?: boolean;
  /** An open session to reuse (demo, sweep); otherwise one is opened and closed here. */
  session?: Session;
}

/** Runs `lrdif train` with resolved options (a device must be current). */
export async function trainWithOptions(o: TrainRunOptions, resume: boolean, env: TrainCommandEnv = {}): Promise<RunOutcome> {
  // pipelines compiled ahead on a helper device while this one gets ready (CPU adapters)
  const ahead = compileTrainingAhead(engine.ctx);
  if (ahead) {
    // a cold cache on a CPU adapter: say why the first step will take a while
    (env.log ?? printLine)(
      `GPU kernels: compiling them for ${engine.ctx.adapter.summary}, whose shader cache is empty: step 1 comes after about half a minute ` +
        'on 2 cores (a helper device shares the work); later runs find them in the cache',
    );
  }
  try {
    return await trainWithSession(o, resume, env, ahead);
  } finally {
    ahead?.stop();
    await ahead?.done;
  }
}

async function trainWithSession(o: TrainRunOptions, resume: boolean, env: TrainCommandEnv, ahead: CompileAhead | null): Promise<RunOutcome> {
  const log = env.log ?? printLine;
  const warn = (m: string) => process.stderr.write(`${m}\n`);
  const plain = isPlain(env.plain);
  const session =
    env.session ??
    (await (async () => {
      const enc = await openEncoders({ path: o.clip, seed: o.clipSeed }, o.cache ?? null, log);
      try {
        return await Session.open(
          { dir: o.data, format: o.format, splitSeed: o.splitSeed, testFraction: o.testFraction, valFraction: o.selectOn === 'val' ? o.valFraction : 0, classes: o.classes },
          enc,
          log,
          warn,
        );
      } catch (e) {
        enc.dispose();
        throw e;
      }
    })());
  const progress = trainProgress(plain, `stage ${o.stage}`, env.hooks);
  try {
    return await runTraining(o, { session, log, hooks: progress, version: packageVersion(), embedProgress: embedProgress(plain), compileAhead: ahead ?? undefined }, resume);
  } finally {
    progress.close();
    if (!env.session) session.dispose();
  }
}

/** The closing lines of a run: the selected epoch, the test figures, and a collapse if there was one. */
export function runSummary(r: RunOutcome): string {
  const res = r.result;
  const b = res.best;
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  const lines = [
    res.test
      ? `done: ${res.steps} steps; ` +
        (b.split === 'last'
          ? `a refit: the last epoch (${b.epoch}) kept, nothing selected; `
          : `epoch ${b.epoch} selected on the validation split (val accuracy ${pct(b.accuracy)}); `) +
        `test accuracy ${pct(res.test.accuracy)} (mean per-class ${pct(res.test.meanClassAccuracy)}) on ${res.test.n} images, evaluated once.`
      : b.split === 'last'
        ? `done: ${res.steps} steps; a refit: the last epoch (${b.epoch}) kept, and no test split to evaluate it on.`
        : `done: ${res.steps} steps; best ${b.split} accuracy ${pct(b.accuracy)} at epoch ${b.epoch}` +
          (b.split === 'test' ? " (the paper's protocol: the epoch is chosen on the test split, so this figure is optimistic)." : '.'),
  ];
  if (res.collapse) lines.push(`warning: ${res.collapse.message}`);
  lines.push(`Checkpoints: ${r.out}/best.safetensors, ${r.out}/last.safetensors; metrics: ${r.out}/metrics.jsonl`);
  return lines.join('\n');
}

export async function runTrainCli(values: Record<string, unknown>, given: (name: keyof TrainRunOptions) => boolean): Promise<RunOutcome> {
  const out = values.out as string;
  if (values.resume && values.refit) throw new Error('lrdif: train: --resume continues a run and --refit starts one: give one of them');
  const o = values.resume
    ? resumeOptions({ ...readRunOptions(out), out }, runOptionsFromValues(values, given), given)
    : values.refit
      ? refitOptionsFromCli(values.refit as string, values, given)
      : trainOptionsFromCli(values, given);
  const ctx = await initNode();
  try {
    const r = await trainWithOptions(o, Boolean(values.resume), { plain: values.plain as boolean | undefined });
    process.stdout.write(`${runSummary(r)}\n`);
    return r;
  } finally {
    clearPsfCache(ctx);
    ctx.dispose();
  }
}

export function registerTrain(program: Command, wrap: Wrap): void {
  const c = program
    .command('train')
    .description('train stage 1 or stage 2 of LRDif / LLDif on a dataset; checkpoints, metrics and evaluation in a run folder')
    .option('--resume', "continue the run in --out from its last checkpoint, with the run's own options (run.json)")
    .option(
      '--refit <run>',
      "train a finished --select-on val run again, with its options, on every training image (validation's included) for the epoch it chose, keeping the last (--select-on last); only --out, --from (the refitted stage-1 checkpoint, for stage 2), --seed, --cache, --eval-batch may be given",
    )
    .option('--plain', 'print progress lines instead of progress bars');
  addRunOptionFlags(c, 'train', 'train');
  c.addHelpText('after', resumeHelp());
  c.action(
    wrap(async (values: Record<string, unknown>) => {
      if (!values.out) throw new Error('lrdif: train: give --out <run folder>');
      await runTrainCli(values, givenOf(c));
    }),
  );
}
