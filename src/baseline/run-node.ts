/**
 * `lrdif baseline` (Node): the baselines LRDif is measured against, on the same dataset split.
 *
 *   cnn      a plain 4-block CNN (cnn.ts) trained with lrdif's engine on the same (degraded)
 *            images, augmentation and image size as LRDif; the checkpoint is selected on the
 *            validation split (or as asked), then scored once on test;
 *   faceapi  face-api's pretrained expression net, zero-shot, on the classes it knows.
 *
 * Output folder:
 *   cnn/eval.json, cnn/confusion.svg          the CNN on test (as `lrdif eval` writes them)
 *   cnn/best.safetensors, cnn/last.safetensors, cnn/metrics.jsonl, cnn/run.json
 *   faceapi/eval.json, faceapi/confusion.svg  face-api on test
 *   baseline.json                             the summary of both
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { carveValidation, loadDataset, type DatasetKind } from '../data/datasets/index.js';
import { nodeDataSource } from '../data/datasets/source-node.js';
import type { ImageDataset } from '../data/datasets/types.js';
import { resolveDegradeConfig, type DegradationKind } from '../data/degrade/index.js';
import { loadFaceExpressionNet } from '../models/faceapi/load-node.js';
import type { ClassificationReport } from '../train/metrics.js';
import { MODEL_RESIZE, splitWithIndices, type PipelineSpec } from '../train/pipeline.js';
import { FolderRunStore, writeFileAtomic } from '../train/store-node.js';
import { confusionMatrixSvg } from '../train/svg.js';
import { BaselineCnn, makeCnnConfig } from './cnn.js';
import { scoreFaceApiZeroShot } from './faceapi-zero-shot.js';
import { trainCnn, type CnnTrainHooks, type Selection } from './train-cnn.js';
import type { TestTimeAugmentation } from '../train/tta.js';

export type BaselineKind = 'cnn' | 'faceapi';
export const BASELINE_KINDS: readonly BaselineKind[] = ['cnn', 'faceapi'];

export interface BaselineRunOptions {
  data: string;
  format: DatasetKind;
  testFraction: number;
  /** Share of train carved out as the validation split when the dataset has none (0: none). */
  valFraction: number;
  /** Seed of the test split (KDEF, class folders) and of the validation carve. */
  splitSeed: number;
  out: string;
  which: BaselineKind[];
  imageSize: number;
  epochs: number;
  batch: number;
  evalBatch: number;
  lr: number;
  weightDecay: number;
  schedule: 'cosine' | 'constant';
  warmup: number;
  seed: number;
  augment: boolean;
  widths: number[];
  dropout: number;
  /** 'auto': 'val' when the dataset has a validation split, else 'last'. */
  select: 'auto' | Selection;
  /** On-the-fly degradation of clean data (null: the data is used as it is). */
  degrade: { kind: DegradationKind; config: unknown; seed: number } | null;
  /** face-api expression weights (default: the installed @vladmandic/face-api). */
  faceapiWeights: string | null;
  deterministic: boolean;
  /** Test-time augmentation of every evaluation (selection and test), both baselines. */
  tta: TestTimeAugmentation;
}

export interface BaselineSummaryRow {
  baseline: BaselineKind;
  what: string;
  split: 'test';
  n: number;
  accuracy: number;
  meanClassAccuracy: number;
  seconds: number;
  /** CNN: how the checkpoint was chosen, and its score there. */
  selection?: { split: Selection; epoch: number; accuracy: number | null; meanClassAccuracy: number | null };
  /** face-api: images excluded (classes it does not know). */
  excluded?: number;
}

export interface BaselineRunResult {
  rows: BaselineSummaryRow[];
  files: string[];
  summary: Record<string, unknown>;
}

export interface BaselineEnv {
  log: (m: string) => void;
  warn: (m: string) => void;
  version: string;
  cnnHooks?: CnnTrainHooks;
  faceapiProgress?: (done: number, total: number) => void;
}

/** accuracy, per-class, confusion: the fields `lrdif eval` writes. */
function reportJson(r: ClassificationReport) {
  return {
    n: r.n,
    accuracy: r.accuracy,
    mean_class_accuracy: r.meanClassAccuracy,
    classes: r.classNames,
    per_class: Object.fromEntries(r.classNames.map((c, i) => [c, r.perClass[i]])),
    confusion: r.confusion,
  };
}

/** The selection mode a run uses ('auto' resolved against the dataset's splits). */
export function resolveSelection(select: BaselineRunOptions['select'], ds: ImageDataset): Selection {
  const hasVal = ds.items.some((it) => it.split === 'val');
  if (select === 'auto') return hasVal ? 'val' : 'last';
  if (select === 'val' && !hasVal)
    throw new Error(
      `lrdif: baseline: --select-on val needs a validation split, and ${ds.name} has none (give a dataset with val/ images, or --val-fraction above 0, or --select-on last)`,
    );
  return select;
}

const SELECTION_LABEL: Record<Selection, string> = {
  val: 'best validation epoch',
  last: 'last epoch (no model selection)',
  test: "best test epoch (the paper's protocol: optimistic, test data chose the epoch)",
};

export async function runBaselines(o: BaselineRunOptions, env: BaselineEnv): Promise<BaselineRunResult> {
  const { log, warn } = env;
  if (o.which.length === 0) throw new Error('lrdif: baseline: --which names no baseline (cnn, faceapi)');
  let ds = await loadDataset(o.format, o.data, nodeDataSource(), { seed: o.splitSeed, testFraction: o.testFraction, warn });
  let carved: { by: string; groups: number; images: number } | null = null;
  // --select-on last is a refit, as in lrdif train: the images validation would hold train too
  if (o.valFraction > 0 && o.which.includes('cnn') && o.select !== 'last') {
    const c = carveValidation(ds, { fraction: o.valFraction, seed: o.splitSeed });
    ds = c.dataset;
    if (c.by !== 'own') carved = { by: c.by, groups: c.groups, images: c.images };
  }
  const counts = (['train', 'val', 'test'] as const).map((s) => [s, ds.items.filter((it) => it.split === s).length] as const).filter(([, n]) => n > 0);
  log(`data: ${ds.name} at ${o.data}: ${counts.map(([s, n]) => `${n} ${s}`).join(', ')} images, ${ds.numClasses} classes (${ds.classNames.join(', ')})`);
  if (carved) {
    log(
      `validation split: ${carved.images} training images carved out ${carved.by === 'person' ? `by person (${carved.groups} persons, none of them left in train)` : 'image by image'} (fraction ${o.valFraction}, seed ${o.splitSeed})`,
    );
  }
  const test = splitWithIndices(ds, 'test');
  if (test.length === 0) throw new Error(`lrdif: baseline: ${o.data} has no test images (give a dataset with a test split, or a --test-fraction above 0)`);
  const degrade = o.degrade ? { kind: o.degrade.kind, config: resolveDegradeConfig(o.degrade.kind, o.degrade.config ?? {}), seed: o.degrade.seed } : null;
  fs.mkdirSync(o.out, { recursive: true });
  const rows: BaselineSummaryRow[] = [];
  const files: string[] = [];
  const summary: Record<string, unknown> = {
    data: { dir: path.resolve(o.data), format: o.format, split: 'test', test_images: test.length },
    validation: carved ? { carved_from: 'train', by: carved.by, groups: carved.groups, images: carved.images, fraction: o.valFraction, seed: o.splitSeed } : null,
    degradation: degrade ? { kind: degrade.kind, seed: degrade.seed, on_the_fly: true } : null,
    tta: o.tta,
    version: env.version,
  };
  const dataName = `${path.basename(path.resolve(o.data))}/test`;

  if (o.which.includes('cnn')) {
    const selection = resolveSelection(o.select, ds);
    if (selection === 'last' && o.select === 'auto') warn('lrdif: baseline: the dataset has no validation split; the CNN is reported at its last epoch (no model selection)');
    const train = splitWithIndices(ds, 'train');
    const select = selection === 'last' ? null : splitWithIndices(ds, selection === 'test' ? 'test' : 'val');
    const spec: PipelineSpec = { imageSize: o.imageSize, resize: MODEL_RESIZE, degrade, augment: o.augment ? {} : null, seed: o.seed };
    const config = makeCnnConfig(ds.numClasses, { widths: o.widths, dropout: o.dropout });
    const dir = path.join(o.out, 'cnn');
    const store = new FolderRunStore(dir);
    writeFileAtomic(path.join(dir, 'run.json'), `${JSON.stringify({ ...o, select: selection, config }, null, 2)}\n`);
    const model = new BaselineCnn(config, { seed: o.seed });
    try {
      const np = model.parameters().reduce((a, p) => a + p.size, 0);
      log(
        `cnn: ${config.widths.length} blocks of widths ${config.widths.join('/')} (${np.toLocaleString('en')} parameters) at ${o.imageSize}×${o.imageSize}, ${o.epochs} epochs of ${train.length} images in batches of ${o.batch}, ` +
          `AdamW lr ${o.lr} (${o.schedule}), weight decay ${o.weightDecay}, augmentation ${o.augment ? 'flip + erasing' : 'off'}; selection: ${SELECTION_LABEL[selection]}` +
          (select ? ` on ${select.length} ${selection} images` : ''),
      );
      const r = await trainCnn({
        model,
        train,
        select,
        test,
        classNames: ds.classNames,
        spec,
        settings: {
          epochs: o.epochs,
          batchSize: o.batch,
          evalBatchSize: o.evalBatch,
          lr: o.lr,
          weightDecay: o.weightDecay,
          schedule: o.schedule,
          warmupSteps: o.warmup,
          seed: o.seed,
          selection,
          deterministic: o.deterministic,
          tta: o.tta,
        },
        store,
        record: { version: env.version, data: { dir: path.resolve(o.data), format: o.format } },
        hooks: env.cnnHooks,
      });
      const rep = r.test.report;
      const sel = {
        split: selection,
        label: SELECTION_LABEL[selection],
        epoch: r.selected.epoch,
        accuracy: r.selected.accuracy,
        mean_class_accuracy: r.selected.meanClassAccuracy,
      };
      const json = {
        model: 'baseline-cnn',
        checkpoint: path.resolve(dir, 'best.safetensors'),
        epoch: r.selected.epoch,
        epochs: o.epochs,
        selection: sel,
        data: { dir: path.resolve(o.data), format: o.format, split: 'test' },
        degradation: degrade ? { kind: degrade.kind, seed: degrade.seed } : null,
        tta: o.tta,
        image_size: o.imageSize,
        augment: o.augment,
        config,
        ...reportJson(rep),
        loss: Number.isFinite(r.test.loss) ? r.test.loss : null,
        history: r.history,
        wall_seconds: r.seconds,
      };
      writeFileAtomic(path.join(dir, 'eval.json'), `${JSON.stringify(json, null, 2)}\n`);
      writeFileAtomic(
        path.join(dir, 'confusion.svg'),
        confusionMatrixSvg(rep.confusion, rep.classNames, `Baseline CNN on ${dataName}: ${(100 * rep.accuracy).toFixed(2)}% (epoch ${r.selected.epoch}, ${selection})`),
      );
      files.push(path.join(dir, 'eval.json'), path.join(dir, 'confusion.svg'));
      rows.push({
        baseline: 'cnn',
        what: `CNN ${config.widths.join('/')} @${o.imageSize}px, ${o.epochs} ep${o.tta === 'flip' ? ', flip TTA' : ''}`,
        split: 'test',
        n: rep.n,
        accuracy: rep.accuracy,
        meanClassAccuracy: rep.meanClassAccuracy,
        seconds: r.seconds,
        selection: { split: selection, epoch: r.selected.epoch, accuracy: r.selected.accuracy, meanClassAccuracy: r.selected.meanClassAccuracy },
      });
      summary.cnn = {
        eval: path.resolve(dir, 'eval.json'),
        accuracy: rep.accuracy,
        mean_class_accuracy: rep.meanClassAccuracy,
        n: rep.n,
        selection: sel,
        epochs: o.epochs,
        wall_seconds: r.seconds,
      };
    } finally {
      model.dispose();
    }
  }

  if (o.which.includes('faceapi')) {
    const t0 = performance.now();
    const net = await loadFaceExpressionNet({ path: o.faceapiWeights ?? undefined });
    try {
      const r = await scoreFaceApiZeroShot(net, test, { degrade, batchSize: o.evalBatch, tta: o.tta, onBatch: env.faceapiProgress });
      const seconds = (performance.now() - t0) / 1000;
      const rep = r.report;
      const dir = path.join(o.out, 'faceapi');
      const note =
        `face-api's pretrained expression net without training, scored on the classes it knows (${r.classes.known.join(', ')}); ` +
        (r.excludedTotal
          ? `${r.excludedTotal} test image(s) of classes it does not know (${Object.entries(r.excluded)
              .map(([c, n]) => `${c}: ${n}`)
              .join(', ')}) are excluded`
          : 'no test image was excluded');
      const json = {
        model: 'faceapi-expression (zero-shot)',
        weights: o.faceapiWeights ? path.resolve(o.faceapiWeights) : '@vladmandic/face-api model/face_expression_model',
        data: { dir: path.resolve(o.data), format: o.format, split: 'test' },
        degradation: degrade ? { kind: degrade.kind, seed: degrade.seed } : null,
        tta: o.tta,
        ...reportJson(rep),
        excluded: { n: r.excludedTotal, per_class: r.excluded },
        unreadable: r.unreadable,
        note,
        wall_seconds: seconds,
      };
      writeFileAtomic(path.join(dir, 'eval.json'), `${JSON.stringify(json, null, 2)}\n`);
      writeFileAtomic(
        path.join(dir, 'confusion.svg'),
        confusionMatrixSvg(rep.confusion, rep.classNames, `face-api zero-shot on ${dataName}: ${(100 * rep.accuracy).toFixed(2)}% (${rep.n} images)`),
      );
      files.push(path.join(dir, 'eval.json'), path.join(dir, 'confusion.svg'));
      rows.push({
        baseline: 'faceapi',
        what: `face-api expression net, zero-shot${o.tta === 'flip' ? ', flip TTA' : ''}`,
        split: 'test',
        n: rep.n,
        accuracy: rep.accuracy,
        meanClassAccuracy: rep.meanClassAccuracy,
        seconds,
        excluded: r.excludedTotal,
      });
      summary.faceapi = {
        eval: path.resolve(dir, 'eval.json'),
        accuracy: rep.accuracy,
        mean_class_accuracy: rep.meanClassAccuracy,
        n: rep.n,
        excluded: r.excludedTotal,
        note,
        wall_seconds: seconds,
      };
    } finally {
      net.dispose();
    }
  }

  writeFileAtomic(path.join(o.out, 'baseline.json'), `${JSON.stringify(summary, null, 2)}\n`);
  files.push(path.join(o.out, 'baseline.json'));
  return { rows, files, summary };
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '-' : `${(100 * v).toFixed(2)}%`);

/** The summary table printed on stdout. */
export function formatBaselineTable(rows: readonly BaselineSummaryRow[]): string {
  const head = ['baseline', 'test n', 'accuracy', 'mean per-class', 'selected on', 'wall time'];
  const body = rows.map((r) => [
    r.what,
    String(r.n) + (r.excluded ? ` (+${r.excluded} excluded)` : ''),
    pct(r.accuracy),
    pct(r.meanClassAccuracy),
    r.selection
      ? r.selection.split === 'last'
        ? `last epoch (${r.selection.epoch})`
        : `${r.selection.split} ${pct(r.selection.accuracy)} @ epoch ${r.selection.epoch}${r.selection.split === 'test' ? ' (paper protocol)' : ''}`
      : 'no training',
    `${r.seconds.toFixed(0)} s`,
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(w[i]))
      .join('  ')
      .trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}
