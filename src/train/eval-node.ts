/**
 * `lrdif eval` (Node): a checkpoint on a dataset split — accuracy, per-class accuracy, the
 * confusion matrix (eval.json and confusion.svg) and optionally the t-SNE of the fused features
 * (tsne.svg, tsne.json; the paper's Fig. 4). The data goes through the same pipeline as in
 * training (the checkpoint's image size and on-the-fly degradation, no augmentation), with the
 * same evaluation noise, so a checkpoint scores here what it scored after its epoch.
 */
import * as path from 'node:path';
import { tensor } from '../autograd/tensor.js';
import { resolveDegradeConfig, type DegradationKind } from '../data/degrade/index.js';
import type { Split } from '../data/datasets/types.js';
import type { DatasetKind } from '../data/datasets/index.js';
import { LrdifModel } from '../models/lrdif/lrdif.js';
import { HostRandom } from '../data/rng.js';
import { loadModelWeights, type CheckpointMeta } from './checkpoint.js';
import { evaluate, type EvalResult } from './evaluate.js';
import { ensembleResult } from './ensemble.js';
import type { TestTimeAugmentation } from './tta.js';
import { formatReport } from './metrics.js';
import { configPipelineFields, MODEL_RESIZE, type EmbedProgress, type PipelineSpec } from './pipeline.js';
import { openCheckpoint } from './run-node.js';
import { encodersForRecord, Session, type Log } from './session-node.js';
import { writeFileAtomic } from './store-node.js';
import { confusionMatrixSvg, scatterSvg } from './svg.js';
import { tsne } from './tsne.js';
import { predictionCollapse } from './collapse.js';

export interface EvalRunOptions {
  ckpt: string;
  data: string;
  format: DatasetKind;
  split: Split;
  testFraction: number;
  splitSeed: number;
  /** CLIP override (default: the checkpoint's). */
  clip: string | null;
  batch: number;
  /** 'auto': the checkpoint's on-the-fly degradation; 'none'; or a kind with `degradeSeed`. */
  degrade: 'auto' | 'none' | DegradationKind;
  degradeSeed: number;
  /** Test-time augmentation (default none). */
  tta?: TestTimeAugmentation;
  /** Output folder for eval.json and the figures (null: none written). */
  out: string | null;
  tsne: boolean;
  tsneMax: number;
  tsnePerplexity: number;
  cacheDir: string | null;
}

export interface EvalRunResult {
  meta: CheckpointMeta;
  result: EvalResult;
  files: string[];
  text: string;
  json: Record<string, unknown>;
}

/** eval.json's figures of an evaluation: n, accuracies, loss, per class, confusion. */
function figuresJson(result: EvalResult): Record<string, unknown> {
  const r = result.report;
  return {
    n: r.n,
    accuracy: r.accuracy,
    mean_class_accuracy: r.meanClassAccuracy,
    loss: Number.isFinite(result.loss) ? result.loss : null,
    classes: r.classNames,
    per_class: Object.fromEntries(r.classNames.map((c, i) => [c, r.perClass[i]])),
    confusion: r.confusion,
  };
}

/** The checkpoint's evaluation pipeline, with the requested degradation. */
export function evalSpec(meta: CheckpointMeta, o: Pick<EvalRunOptions, 'degrade' | 'degradeSeed'>): PipelineSpec {
  const train = meta.train as { degrade?: PipelineSpec['degrade']; settings?: { seed?: number } };
  let degrade: PipelineSpec['degrade'] = null;
  if (o.degrade === 'auto') degrade = train.degrade ?? null;
  else if (o.degrade !== 'none') degrade = { kind: o.degrade, config: resolveDegradeConfig(o.degrade, {}), seed: o.degradeSeed };
  return { imageSize: meta.config.imageSize, resize: MODEL_RESIZE, degrade, augment: null, seed: train.settings?.seed ?? 0, ...configPipelineFields(meta.config) };
}

export async function runEvaluation(
  o: EvalRunOptions,
  log: Log,
  warn: Log,
  progress?: { embed?: (split: string, p: EmbedProgress) => void; batch?: (done: number, total: number) => void; tsne?: (it: number, total: number) => void },
): Promise<EvalRunResult> {
  const { reader, meta } = openCheckpoint(o.ckpt);
  let model: LrdifModel | null = null;
  let session: Session | null = null;
  try {
    model = new LrdifModel(meta.config);
    loadModelWeights(reader, model);
    log(`checkpoint: ${o.ckpt} (stage ${meta.stage}, epoch ${meta.epoch}, ${meta.config.variant === 'lowlight' ? 'LLDif' : 'LRDif'}, ${meta.classNames.length} classes)`);
    // stage 2 reads no text embedding: then CLIP runs only when it is the image encoder E_I
    const enc = await encodersForRecord(meta.clip, o.clip, o.cacheDir, log, { clipUnused: meta.stage === 2 && meta.config.imageEncoder !== 'clip' });
    try {
      // labelled with the checkpoint's classes (a class the checkpoint lacks is an error naming its
      // folder or file), and the validation split the run carved (same fraction and seed), so --split val/train are the run's
      const rec = meta.train as { selectOn?: string; valFraction?: number; splitSeed?: number };
      const valFraction = rec.selectOn === 'val' && typeof rec.valFraction === 'number' ? rec.valFraction : 0;
      session = await Session.open(
        {
          dir: o.data,
          format: o.format,
          splitSeed: valFraction ? (rec.splitSeed ?? o.splitSeed) : o.splitSeed,
          testFraction: o.testFraction,
          valFraction,
          classes: meta.classNames,
        },
        enc,
        log,
        warn,
      );
    } catch (e) {
      enc.dispose();
      throw e;
    }
    const ds = session.dataset;
    if (session.split(o.split).length === 0) throw new Error(`lrdif: eval: the dataset has no '${o.split}' images`);
    const spec = evalSpec(meta, o);
    const table = await session.table(o.split, spec, (p) => progress?.embed?.(o.split, p));
    // after the table: images that cannot be read are known and left out
    const split = session.split(o.split);
    const text = await session.textTable(meta.classNames);
    const textTable = tensor(text, [meta.classNames.length, enc.projectionDim]);
    let result: EvalResult;
    try {
      result = await evaluate(model, meta.stage, split, table, enc, spec, textTable, {
        batchSize: o.batch,
        features: o.tsne,
        classNames: meta.classNames,
        tapCache: session.tapCache(o.split, spec),
        tta: o.tta,
        onBatch: progress?.batch,
      });
    } finally {
      textTable.dispose();
    }
    const r = result.report;
    const files: string[] = [];
    const json: Record<string, unknown> = {
      checkpoint: path.resolve(o.ckpt),
      stage: meta.stage,
      epoch: meta.epoch,
      variant: meta.config.variant,
      data: { dir: path.resolve(o.data), format: o.format, split: o.split },
      degradation: spec.degrade ? { kind: spec.degrade.kind, seed: spec.degrade.seed } : null,
      tta: o.tta ?? 'none',
      ...figuresJson(result),
    };
    let text2 = formatReport(r);
    if (o.tta === 'flip') text2 = `test-time augmentation: flip (each image's probabilities averaged with its mirror image's)\n${text2}`;
    const collapse = predictionCollapse(r, o.split);
    json.collapse = collapse ? { kind: collapse.kind, class: collapse.className, share: collapse.share, message: collapse.message } : null;
    if (collapse) text2 = `warning: ${collapse.message}\n${text2}`;
    const trained = (meta.metrics as { collapse?: { kind: string; class: string | null; split: string } | null }).collapse;
    if (trained && !collapse)
      text2 = `note: when this checkpoint was written, training saw a collapse (${trained.kind}${trained.class ? `: '${trained.class}'` : ''} on ${trained.split})\n${text2}`;
    if (o.out) {
      const title = `${meta.config.variant === 'lowlight' ? 'LLDif' : 'LRDif'} stage ${meta.stage} on ${ds.name}/${o.split}: ${(100 * r.accuracy).toFixed(2)}%`;
      writeFileAtomic(path.join(o.out, 'confusion.svg'), confusionMatrixSvg(r.confusion, r.classNames, title));
      files.push(path.join(o.out, 'confusion.svg'));
    }
    if (o.tsne && result.features) {
      const n = result.labels.length;
      const E = result.featureDim;
      // a seeded subsample when there are more points than --tsne-max
      let pick = Array.from({ length: n }, (_, i) => i);
      if (n > o.tsneMax)
        pick = new HostRandom(0, 0x7453)
          .shuffle(pick)
          .slice(0, o.tsneMax)
          .sort((a, b) => a - b);
      const x = new Float64Array(pick.length * E);
      pick.forEach((p, i) => x.set(result.features!.subarray(p * E, (p + 1) * E), i * E));
      const labels = Int32Array.from(pick.map((p) => result.labels[p]));
      const t0 = performance.now();
      const t = tsne(x, pick.length, E, { perplexity: o.tsnePerplexity, seed: 0, onProgress: (it) => progress?.tsne?.(it, 1000) });
      log(`t-SNE of ${pick.length} fused features (${E}-d, perplexity ${t.perplexity.toFixed(1)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s, KL ${t.kl.toFixed(3)}`);
      json.tsne = { points: pick.length, perplexity: t.perplexity, kl: t.kl };
      if (o.out) {
        const pts = Array.from(t.embedding);
        writeFileAtomic(
          path.join(o.out, 'tsne.json'),
          `${JSON.stringify({ classes: r.classNames, perplexity: t.perplexity, kl: t.kl, points: pick.map((p, i) => ({ item: split.dataset.items[result.local[p]].id, label: labels[i], x: pts[2 * i], y: pts[2 * i + 1] })) })}\n`,
        );
        writeFileAtomic(path.join(o.out, 'tsne.svg'), scatterSvg(t.embedding, labels, r.classNames, `t-SNE of the fused features (stage ${meta.stage}, ${ds.name}/${o.split})`));
        files.push(path.join(o.out, 'tsne.json'), path.join(o.out, 'tsne.svg'));
      }
    }
    if (o.out) {
      writeFileAtomic(path.join(o.out, 'eval.json'), `${JSON.stringify(json, null, 2)}\n`);
      files.unshift(path.join(o.out, 'eval.json'));
    }
    if (files.length) text2 += `\nwrote ${files.join(', ')}`;
    return { meta, result, files, text: text2, json };
  } finally {
    reader.close();
    model?.dispose();
    session?.dispose();
  }
}

/**
 * `lrdif eval --ckpt a --ckpt b ...`: a seed ensemble (ensemble.ts). Each checkpoint is evaluated
 * as above on the same split (nothing written), then the mean of their probabilities is scored and
 * written as eval.json (with each member's own figures) and confusion.svg. The members must be of
 * one stage and one label set, and score the same images.
 */
export async function runEnsembleEvaluation(
  o: Omit<EvalRunOptions, 'ckpt'> & { ckpts: readonly string[] },
  log: Log,
  warn: Log,
  progress?: { embed?: (split: string, p: EmbedProgress) => void; batch?: (done: number, total: number) => void },
): Promise<EvalRunResult & { members: EvalRunResult[] }> {
  if (o.ckpts.length < 2) throw new Error(`lrdif: eval: an ensemble needs at least 2 checkpoints, got ${o.ckpts.length}`);
  if (o.tsne) throw new Error('lrdif: eval: --tsne is for one checkpoint, not an ensemble (its members have different features)');
  const members: EvalRunResult[] = [];
  for (const [i, ckpt] of o.ckpts.entries()) {
    log(`ensemble member ${i + 1} of ${o.ckpts.length}: ${ckpt}`);
    const r = await runEvaluation({ ...o, ckpt, out: null, tsne: false }, log, warn, progress);
    const m0 = members[0]?.meta;
    if (m0 && r.meta.stage !== m0.stage)
      throw new Error(`lrdif: eval: ${ckpt} is a stage-${r.meta.stage} checkpoint, ${o.ckpts[0]} stage ${m0.stage}: an ensemble's members are of one stage`);
    if (m0 && r.meta.classNames.join(',') !== m0.classNames.join(','))
      throw new Error(`lrdif: eval: ${ckpt} has the classes ${r.meta.classNames.join(', ')}, ${o.ckpts[0]} ${m0.classNames.join(', ')}: an ensemble's members share one label set`);
    members.push(r);
  }
  const meta = members[0].meta;
  const result = ensembleResult(
    members.map((m, i) => ({ name: o.ckpts[i], result: m.result })),
    meta.classNames,
  );
  const r = result.report;
  const memberJson = members.map((m, i) => ({
    checkpoint: path.resolve(o.ckpts[i]),
    epoch: m.meta.epoch,
    seed: (m.meta.train as { settings?: { seed?: number } }).settings?.seed ?? null,
    accuracy: m.result.report.accuracy,
    mean_class_accuracy: m.result.report.meanClassAccuracy,
  }));
  const collapse = predictionCollapse(r, o.split);
  const json: Record<string, unknown> = {
    ensemble: memberJson,
    stage: meta.stage,
    variant: meta.config.variant,
    data: { dir: path.resolve(o.data), format: o.format, split: o.split },
    degradation: members[0].json.degradation,
    tta: o.tta ?? 'none',
    ...figuresJson(result),
    collapse: collapse ? { kind: collapse.kind, class: collapse.className, share: collapse.share, message: collapse.message } : null,
  };
  const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
  let text = [
    `ensemble of ${members.length} checkpoints (the mean of their probabilities):`,
    ...memberJson.map((m, i) => `  ${o.ckpts[i]}: accuracy ${pct(m.accuracy)}, mean per-class ${pct(m.mean_class_accuracy)}`),
    formatReport(r),
  ].join('\n');
  if (collapse) text = `warning: ${collapse.message}\n${text}`;
  const files: string[] = [];
  if (o.out) {
    const title = `${meta.config.variant === 'lowlight' ? 'LLDif' : 'LRDif'} stage ${meta.stage}, ensemble of ${members.length}, on ${path.basename(path.resolve(o.data))}/${o.split}: ${(100 * r.accuracy).toFixed(2)}%`;
    writeFileAtomic(path.join(o.out, 'confusion.svg'), confusionMatrixSvg(r.confusion, r.classNames, title));
    writeFileAtomic(path.join(o.out, 'eval.json'), `${JSON.stringify(json, null, 2)}\n`);
    files.push(path.join(o.out, 'eval.json'), path.join(o.out, 'confusion.svg'));
    text += `\nwrote ${files.join(', ')}`;
  }
  return { meta, result, files, text, json, members };
}
