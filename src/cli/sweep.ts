/**
 * `lrdif sweep`: the layout of the paper's Table 5 (stage-2 variants V1–V4 beside stage 1) and
 * Fig. 6 (accuracy against T = 1 … 32) on any dataset (src/train/sweep-node.ts).
 *
 *   lrdif sweep --data <dir> --format <fmt> [--clip <dir>] [--config tiny] [--set f=v ...]
 *               [--from <stage-1 ckpt> | --epochs1 N] [--epochs2 N] [--variants V1,V2,V3,V4]
 *               [--timesteps-list 1,2,4,8,16,32] [--timesteps 4] --out <dir>
 *
 * Each run is an ordinary run folder under --out; a finished run found there is reused and an
 * interrupted one resumed, so a killed sweep continues where it stopped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import { initNode } from '../node.js';
import { clearPsfCache } from '../data/degrade/index.js';
import { openSafetensorsFile } from '../io/safetensors-node.js';
import { readCheckpointMeta } from '../train/checkpoint.js';
import { readRunOptions, type RunOutcome } from '../train/run-node.js';
import { openEncoders, Session } from '../train/session-node.js';
import { runSweep, VARIANTS, type SweepResult, type Variant } from '../train/sweep-node.js';
import type { Wrap } from './command.js';
import { trainWithOptions } from './train.js';
import { choiceArg, intArg } from './args.js';
import { addRunOptionFlags, givenOf, runOptionsFromValues } from './train-flags.js';
import { validateRunOptions, type SelectOn, type TrainRunOptions } from '../train/options.js';

function listArg<T>(cmd: string, name: string, parse: (s: string) => T) {
  return (v: string): T[] => {
    const parts = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (!parts.length) throw new Error(`lrdif: ${cmd}: --${name} needs a comma-separated list, got '${v}'`);
    return parts.map(parse);
  };
}

/** A finished run is reused, an interrupted one resumed, a missing one trained. */
async function trainOrReuse(o: TrainRunOptions, session: Session, plain: boolean | undefined, log: (m: string) => void): Promise<RunOutcome> {
  const last = path.join(o.out, 'last.safetensors');
  if (fs.existsSync(last)) {
    const r = openSafetensorsFile(last);
    let meta;
    try {
      meta = readCheckpointMeta(r);
    } finally {
      r.close();
    }
    const saved = readRunOptions(o.out);
    const resultFile = path.join(o.out, 'result.json');
    if (meta.epoch >= saved.epochs && fs.existsSync(resultFile)) {
      const res = JSON.parse(fs.readFileSync(resultFile, 'utf8')) as {
        selected_epoch: number;
        selected_on: SelectOn;
        selection_accuracy: number;
        accuracy?: number;
        mean_class_accuracy?: number;
        n?: number;
      };
      const best = { epoch: res.selected_epoch, accuracy: res.selection_accuracy, split: res.selected_on };
      const test =
        res.accuracy !== undefined
          ? {
              epoch: res.selected_epoch,
              selectedOn: res.selected_on,
              n: res.n ?? 0,
              accuracy: res.accuracy,
              meanClassAccuracy: res.mean_class_accuracy ?? NaN,
              eval: null as never,
              collapse: null,
            }
          : null;
      log(`reusing the finished run ${o.out} (epoch ${best.epoch} selected on ${best.split}${test ? `, test ${(100 * test.accuracy).toFixed(2)}%` : ''})`);
      return { result: { epochs: meta.epoch, steps: meta.step, best, last: null, test, collapse: null }, config: meta.config, out: o.out, classNames: meta.classNames };
    }
    log(`resuming the interrupted run ${o.out}`);
    return trainWithOptions({ ...saved, out: o.out }, true, { session, plain, log });
  }
  return trainWithOptions(o, false, { session, plain, log });
}

export async function runSweepCli(values: Record<string, unknown>, given: (name: keyof TrainRunOptions) => boolean): Promise<SweepResult> {
  const out = values.out as string;
  // --from, --timesteps and --parameterisation are the sweep's own (the stage-2 runs'), not stage 1's
  const own = new Set<string>(['from', 'timesteps', 'parameterisation']);
  const baseGiven = (n: keyof TrainRunOptions) => !own.has(n) && given(n);
  const { from: _from, timesteps: _t, parameterisation: _p, ...shared } = values;
  const base = runOptionsFromValues({ ...shared, stage: 1, epochs: values.epochs1, out: path.join(out, 'stage1') }, baseGiven);
  validateRunOptions(base, baseGiven);
  if (base.selectOn === 'last') {
    throw new Error(
      'lrdif: sweep: --select-on last (a refit) evaluates nothing to compare the variants on; sweep with --select-on val, then refit the chosen variant with lrdif train --select-on last',
    );
  }
  const log = (m: string) => process.stdout.write(`${m}\n`);
  const ctx = await initNode();
  try {
    const enc = await openEncoders({ path: base.clip, seed: base.clipSeed }, base.cache ?? null, log);
    let session: Session;
    try {
      session = await Session.open(
        {
          dir: base.data,
          format: base.format,
          splitSeed: base.splitSeed,
          testFraction: base.testFraction,
          valFraction: base.selectOn === 'val' ? base.valFraction : 0,
          classes: base.classes,
        },
        enc,
        log,
        (m) => process.stderr.write(`${m}\n`),
      );
    } catch (e) {
      enc.dispose();
      throw e;
    }
    try {
      const r = await runSweep(
        {
          base,
          from: (values.from as string | undefined) ?? null,
          epochs1: values.epochs1 as number,
          epochs2: values.epochs2 as number,
          variants: values.variants as Variant[],
          timesteps: values.timestepsList as number[],
          baseT: values.timesteps as number,
          parameterisation: (values.parameterisation as 'eps' | 'x0' | undefined) ?? null,
          out,
        },
        (o) => trainOrReuse(o, session, values.plain as boolean | undefined, log),
        log,
        session.dataset.name,
      );
      const tableFile = r.files.find((f) => f.endsWith('table5.md'));
      if (tableFile) log(`\n${fs.readFileSync(tableFile, 'utf8')}`);
      if (r.fig6.length) log(`Fig. 6: ${r.fig6.map((p) => `T=${p.timesteps}: ${(100 * p.accuracy).toFixed(2)}%`).join(', ')}`);
      log(`wrote ${r.files.join(', ')}`);
      return r;
    } finally {
      session.dispose();
    }
  } finally {
    clearPsfCache(ctx);
    ctx.dispose();
  }
}

export function registerSweep(program: Command, wrap: Wrap): void {
  const cmd = 'sweep';
  const c = program
    .command('sweep')
    .description("the paper's Table 5 (stage-2 variants) and Fig. 6 (accuracy against T) on a dataset: runs, table5.md/json, fig6.svg/json")
    .requiredOption('--out <dir>', 'sweep folder (one run folder per run inside)')
    .option('--from <ckpt>', 'a stage-1 checkpoint (default: train stage 1 first)')
    .option('--epochs1 <n>', 'stage-1 epochs', intArg(cmd, 'epochs1', 1), 100)
    .option('--epochs2 <n>', 'stage-2 epochs per run', intArg(cmd, 'epochs2', 1), 100)
    .option('--variants <list>', 'Table 5 variants to run', listArg(cmd, 'variants', choiceArg(cmd, 'variants', VARIANTS)), [...VARIANTS])
    .option('--timesteps-list <list>', 'Fig. 6: the values of T', listArg(cmd, 'timesteps-list', intArg(cmd, 'timesteps-list', 1)), [1, 2, 4, 8, 16, 32])
    .option('--timesteps <T>', 'T of the Table 5 runs', intArg(cmd, 'timesteps', 1), 4)
    .option('--parameterisation <p>', 'eps or x0 for every stage-2 run', choiceArg(cmd, 'parameterisation', ['eps', 'x0'] as const))
    .option('--plain', 'print progress lines instead of progress bars');
  addRunOptionFlags(c, cmd, 'shared');
  c.action(
    wrap(async (values: Record<string, unknown>) => {
      if (!values.data) throw new Error('lrdif: sweep: give --data <dataset folder>');
      await runSweepCli(values, givenOf(c));
    }),
  );
}
