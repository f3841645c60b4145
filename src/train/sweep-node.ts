/**
 * The paper's ablations on any dataset (Node): Table 5 (stage-2 variants V1–V4 beside stage 1)
 * and Fig. 6 (accuracy against the number of diffusion steps T). One stage-1 run (or a given
 * stage-1 checkpoint), then one stage-2 run per variant and per T, each an ordinary run folder;
 * the results are written as table5.md / table5.json and fig6.svg / fig6.json.
 *
 *   V1  no diffusion: Ẑ₀ = FPEN_S2(e_img)
 *   V2  diffusion, CE only (λ_kl = 0)
 *   V3  diffusion, CE + KL, insert-noise (the method)
 *   V4  diffusion, CE + KL, without insert-noise (the training chain starts from ε)
 * Fig. 6 runs V3 at each T; the V3 run at the base T is shared with the table.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lrdifAblations, type LrdifConfig } from '../models/lrdif/config.js';
import type { TrainRunOptions, RunOutcome } from './run-node.js';
import type { SelectOn } from './options.js';
import { writeFileAtomic } from './store-node.js';
import { linePlotSvg } from './svg.js';

export type Variant = 'V1' | 'V2' | 'V3' | 'V4';
export const VARIANTS: readonly Variant[] = ['V1', 'V2', 'V3', 'V4'];

export const VARIANT_ROWS: Record<Variant, { diffusion: boolean; ce: boolean; kl: boolean; insertNoise: boolean; label: string }> = {
  V1: { diffusion: false, ce: true, kl: true, insertNoise: false, label: 'without diffusion (Ẑ₀ = FPEN_S2(e_img))' },
  V2: { diffusion: true, ce: true, kl: false, insertNoise: true, label: 'CE only' },
  V3: { diffusion: true, ce: true, kl: true, insertNoise: true, label: 'CE + KL (LRDif)' },
  V4: { diffusion: true, ce: true, kl: true, insertNoise: false, label: 'without insert-noise' },
};

export interface SweepOptions {
  /** Stage-1 options (stage, out and epochs are set here); stage 2 reuses them with `epochs2`. */
  base: TrainRunOptions;
  /** A stage-1 checkpoint to start from instead of training stage 1. */
  from: string | null;
  epochs1: number;
  epochs2: number;
  variants: Variant[];
  timesteps: number[];
  /** T of the Table 5 runs. */
  baseT: number;
  /** The stage-2 runs' parameterisation (null: the stage-1 config's). */
  parameterisation: 'eps' | 'x0' | null;
  out: string;
}

export interface SweepRow {
  name: string;
  run: string;
  /** Test accuracy of the selected epoch (selected on val), or the best test accuracy (selected on test). */
  accuracy: number;
  meanClassAccuracy: number | null;
  /** The selected epoch and the split that selected it. */
  epoch: number;
  selectedOn: SelectOn;
  selectionAccuracy: number;
  lastAccuracy: number | null;
}

export interface SweepResult {
  stage1: SweepRow | null;
  table: Array<SweepRow & { variant: Variant }>;
  fig6: Array<SweepRow & { timesteps: number }>;
  files: string[];
}

/** One stage-2 run's options for a variant at T. */
export function variantOptions(o: SweepOptions, from: string, v: Variant, T: number, out: string): TrainRunOptions {
  const a = lrdifAblations[v] as Partial<LrdifConfig>;
  const ceOnly = a.lambdaKl === 0;
  return {
    ...o.base,
    stage: 2,
    epochs: o.epochs2,
    from,
    set: {},
    timesteps: T,
    diffusion: a.diffusion ?? true,
    loss: ceOnly ? 'ce' : 'ce+kl',
    klWeight: ceOnly ? null : (o.base.klWeight ?? 1),
    insertNoise: a.insertNoise ?? true,
    parameterisation: o.parameterisation,
    out,
  };
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${(100 * v).toFixed(2)}`);
const mark = (b: boolean) => (b ? '✓' : '✗');

export function table5Markdown(r: SweepResult, dataName: string, baseT: number): string {
  const lines = [
    `# Table 5 layout: ablations of LRDif on ${dataName} (T = ${baseT})`,
    '',
    '| Variant | Diffusion | L_ce | L_kl | Insert noise | Accuracy (%) | best epoch |',
    '| --- | :-: | :-: | :-: | :-: | --: | --: |',
  ];
  if (r.stage1) lines.push(`| LRDif_S1 (label as input) | - | ✓ | - | - | ${pct(r.stage1.accuracy)} | ${r.stage1.epoch} |`);
  for (const row of r.table) {
    const v = VARIANT_ROWS[row.variant];
    lines.push(
      `| ${row.variant}: ${v.label} | ${mark(v.diffusion)} | ${mark(v.ce)} | ${mark(v.kl)} | ${v.diffusion ? mark(v.insertNoise) : '-'} | ${pct(row.accuracy)} | ${row.epoch} |`,
    );
  }
  const selected = [r.stage1, ...r.table].find((x) => x)?.selectedOn ?? 'val';
  lines.push(
    '',
    selected === 'val'
      ? 'Accuracy: test accuracy of the epoch each run selected on its validation split (its best.safetensors), evaluated once.'
      : "Accuracy: the best test accuracy over the epochs of each run (the paper's protocol: the epoch is chosen on the test split, so the figures are optimistic).",
    '',
  );
  return lines.join('\n');
}

/**
 * Runs the sweep. `train` runs one training (the CLI's trainWithOptions with a shared session);
 * runs whose folder already holds a finished run (last checkpoint at the final epoch) are reused.
 */
export async function runSweep(o: SweepOptions, train: (opts: TrainRunOptions) => Promise<RunOutcome>, log: (m: string) => void, dataName: string): Promise<SweepResult> {
  fs.mkdirSync(o.out, { recursive: true });
  const result: SweepResult = { stage1: null, table: [], fig6: [], files: [] };
  const row = (name: string, r: RunOutcome): SweepRow => ({
    name,
    run: r.out,
    accuracy: r.result.test?.accuracy ?? r.result.best.accuracy,
    meanClassAccuracy: r.result.test?.meanClassAccuracy ?? null,
    epoch: r.result.best.epoch,
    selectedOn: r.result.best.split,
    selectionAccuracy: r.result.best.accuracy,
    lastAccuracy: r.result.last?.report.accuracy ?? null,
  });
  let from = o.from;
  if (!from) {
    log(`sweep: stage 1 (${o.epochs1} epochs)`);
    const r1 = await train({
      ...o.base,
      stage: 1,
      epochs: o.epochs1,
      from: null,
      timesteps: null,
      diffusion: null,
      loss: null,
      klWeight: null,
      insertNoise: null,
      parameterisation: null,
      out: path.join(o.out, 'stage1'),
    });
    result.stage1 = row('LRDif_S1', r1);
    from = path.join(r1.out, 'best.safetensors');
  }
  const done = new Map<string, SweepRow>();
  const runOne = async (v: Variant, T: number): Promise<SweepRow> => {
    const key = `${v}-T${T}`;
    const hit = done.get(key);
    if (hit) return hit;
    log(`sweep: stage 2, ${v} (${VARIANT_ROWS[v].label}), T = ${T}`);
    const r = await train(variantOptions(o, from!, v, T, path.join(o.out, `stage2-${key}`)));
    const rw = row(key, r);
    done.set(key, rw);
    return rw;
  };
  for (const v of o.variants) result.table.push({ ...(await runOne(v, o.baseT)), variant: v });
  for (const T of o.timesteps) result.fig6.push({ ...(await runOne('V3', T)), timesteps: T });

  const files: string[] = [];
  if (result.table.length || result.stage1) {
    const md = table5Markdown(result, dataName, o.baseT);
    writeFileAtomic(path.join(o.out, 'table5.md'), md);
    writeFileAtomic(
      path.join(o.out, 'table5.json'),
      `${JSON.stringify({ data: dataName, timesteps: o.baseT, stage1: result.stage1, rows: result.table.map((r) => ({ ...r, ...VARIANT_ROWS[r.variant] })) }, null, 2)}\n`,
    );
    files.push(path.join(o.out, 'table5.md'), path.join(o.out, 'table5.json'));
  }
  if (result.fig6.length) {
    const svg = linePlotSvg([{ name: 'LRDif (V3)', points: result.fig6.map((r) => [r.timesteps, r.accuracy] as [number, number]) }], {
      title: `Fig. 6 layout: accuracy against diffusion steps T (${dataName})`,
      xLabel: 'diffusion steps T',
      yLabel: 'test accuracy',
      logX: true,
      percent: true,
    });
    writeFileAtomic(path.join(o.out, 'fig6.svg'), svg);
    writeFileAtomic(path.join(o.out, 'fig6.json'), `${JSON.stringify({ data: dataName, points: result.fig6 }, null, 2)}\n`);
    files.push(path.join(o.out, 'fig6.svg'), path.join(o.out, 'fig6.json'));
  }
  result.files = files;
  return result;
}
