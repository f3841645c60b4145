/**
 * `lrdif synth`: writes a degraded copy of a dataset in the same layout (labels and splits
 * untouched) and synth.json, the record of every parameter (src/data/degrade/synth.ts).
 *
 *   lrdif synth --degradation udc|lowlight --data <dir> --format folder|rafdb|kdef|ferplus
 *               --out <dir> --seed N [--config <file.json>] [--batch N] [--force] [--plain]
 *
 * --out must be empty or new, or hold an earlier synth of the same dataset and parameters: a
 * complete one is left as it is, an interrupted one resumed. Anything else there is an error;
 * --force empties the folder first.
 *
 * --config holds a partial degradation configuration (the defaults fill the rest; unknown
 * fields are errors), e.g. {"noise": false} or {"display": {"apertureRadiusUm": 80}}.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { initNode } from '../node.js';
import type { Wrap } from './command.js';
import { runSynth, type SynthRecord } from '../data/degrade/synth.js';
import { nodeSynthLayout, SYNTH_FORMATS } from '../data/degrade/synth-node.js';
import { checkKind, clearPsfCache } from '../data/degrade/index.js';
import { packageVersion } from './package-version.js';

export interface SynthCliOptions {
  degradation: string;
  data: string;
  format: string;
  out: string;
  seed: number;
  config?: string;
  batch: number;
  force?: boolean;
  plain?: boolean;
}

function readConfig(path: string | undefined): unknown {
  if (!path) return {};
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`lrdif: synth: cannot read the config file ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`lrdif: synth: the config file ${path} is not valid JSON: ${(e as Error).message}`);
  }
}

interface Progress {
  update(done: number, total: number, skipped: number): void;
  stop(): void;
}

function progress(plain: boolean, total: number): Progress {
  const t0 = performance.now();
  const rate = (done: number) => (done / Math.max(1e-3, (performance.now() - t0) / 1000)).toFixed(1);
  if (plain) {
    let last = -1;
    return {
      update(done, tot, skipped) {
        const step = Math.max(1, Math.round(tot / 10));
        if (done === tot || Math.floor(done / step) !== Math.floor(last / step)) {
          process.stdout.write(`images ${done}/${tot}  skipped ${skipped}  ${rate(done)} images/s\n`);
        }
        last = done;
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: 'synth |{bar}| {value}/{total} images | {ips} images/s | skipped {skipped}', stream: process.stdout, hideCursor: true, barsize: 24 },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { ips: '-', skipped: 0 });
  return {
    update(done, _tot, skipped) {
      bar.update(done, { ips: rate(done), skipped });
    },
    stop() {
      bar.stop();
    },
  };
}

export async function runSynthCli(o: SynthCliOptions): Promise<SynthRecord> {
  const kind = checkKind(o.degradation);
  const config = readConfig(o.config);
  const layout = nodeSynthLayout(o.format, o.data);
  const ctx = await initNode();
  try {
    const total = await layout.count();
    process.stdout.write(`lrdif synth: ${kind} degradation of ${total} images (${o.format} dataset ${o.data}) into ${o.out}, seed ${o.seed}, on ${ctx.adapter.summary}\n`);
    const bar = progress(o.plain ?? !process.stdout.isTTY, total);
    const warnings: string[] = [];
    const notes: string[] = [];
    let complete = false;
    const t0 = performance.now();
    let record: SynthRecord;
    try {
      record = await runSynth(layout, o.out, {
        kind,
        config,
        seed: o.seed,
        batch: o.batch,
        version: packageVersion(),
        force: o.force,
        onExisting: (state) => {
          complete = state.complete;
          if (!state.complete) notes.push(`resuming the synth in ${o.out}: ${state.images} of ${total} images were written before`);
        },
        onProgress: (d, t, s) => bar.update(d, t, s),
        // warnings wait until the bar is done, so they do not tear it
        warn: (m) => warnings.push(m),
      });
    } finally {
      bar.stop();
      for (const n of notes) process.stdout.write(`${n}\n`);
      for (const w of warnings) process.stderr.write(`${w}\n`);
    }
    const c = record.counts;
    if (complete) {
      process.stdout.write(
        `nothing to do: ${o.out} already holds this synth (the same dataset and parameters: ${c.images} degraded, ${c.skipped} skipped); --force writes it again\n`,
      );
      return record;
    }
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(
      `done in ${seconds.toFixed(1)} s (${(c.images / Math.max(seconds, 1e-3)).toFixed(1)} images/s): ${c.images} degraded, ${c.skipped} skipped, ${c.copied} files copied; record in ${o.out}/synth.json\n`,
    );
    return record;
  } finally {
    clearPsfCache(ctx);
    ctx.dispose();
  }
}

function nonNegativeInt(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new Error(`lrdif: synth: --${name} must be an integer ≥ 0, got '${v}'`);
    return n;
  };
}

export function registerSynth(program: Command, wrap: Wrap): void {
  program
    .command('synth')
    .description('write a degraded copy (under-display camera or low light) of a dataset in the same layout, with synth.json recording every parameter')
    .requiredOption('--degradation <kind>', 'udc or lowlight')
    .requiredOption('--data <dir>', 'the dataset folder')
    .requiredOption('--format <fmt>', `dataset layout: ${SYNTH_FORMATS.join(', ')}`)
    .requiredOption('--out <dir>', 'output folder: new, empty, or an earlier synth of the same dataset and parameters (resumed); not inside the dataset')
    .option('--seed <n>', 'dataset seed (each image gets its own seed from it and its index)', nonNegativeInt('seed'), 0)
    .option('--config <file>', 'JSON file with a partial degradation configuration')
    .option(
      '--batch <n>',
      'images per GPU batch',
      (v: string) => {
        const n = nonNegativeInt('batch')(v);
        if (n < 1) throw new Error(`lrdif: synth: --batch must be at least 1, got '${v}'`);
        return n;
      },
      32,
    )
    .option('--force', 'empty --out first, whatever it holds')
    .option('--plain', 'print progress lines instead of a progress bar')
    .action(
      wrap(async (opts: SynthCliOptions) => {
        await runSynthCli(opts);
      }),
    );
}
