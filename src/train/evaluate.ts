/**
 * Evaluation of an LRDif model on a split (browser-safe): predictions, accuracy, per-class
 * accuracy, confusion matrix, mean cross-entropy, and optionally the fused features (the CLS
 * feature before the classifier, the paper's Fig. 4 t-SNE input).
 *
 * Stage 1 is scored as the paper scores it: Z = FPEN_S1(e_txt(y), e_img) with the true label as
 * input (so ≈ 100 % is expected). Stage 2 uses the image alone: Ẑ₀ from ε ~ N(0, I) (image g's
 * evaluation noise, pipeline.ts) through the reverse chain.
 *
 * Test-time augmentation `tta: 'flip'` averages the class probabilities of each image and its
 * mirror image (the training augmentation's flip; same e_img and noise), and scores the mean.
 */
import { noGrad, tidy } from '../autograd/engine.js';
import { tensor, type Tensor } from '../autograd/tensor.js';
import { embedding } from '../kernels/indexing.js';
import { crossEntropy } from '../kernels/loss.js';
import { softmax } from '../kernels/softmax.js';
import { checkTta, meanViewProbabilities, nllSum, type TestTimeAugmentation } from './tta.js';
import { DataLoader } from '../data/loader.js';
import type { LrdifModel, LrdifStage } from '../models/lrdif/lrdif.js';
import type { FrozenEncoders } from './encoders.js';
import { classificationReport, argmaxRows, type ClassificationReport } from './metrics.js';
import { assembleBatch, evalNoise, LandmarkTapCache, type EmbeddingTable, type IndexedSplit, type ModelBatch, type PipelineSpec } from './pipeline.js';

export interface EvalResult {
  report: ClassificationReport;
  /** Mean cross-entropy over the images. */
  loss: number;
  /** [n, K] softmax probabilities, in the order of `local`. */
  probabilities: Float32Array;
  labels: Int32Array;
  /** Split-local item indices, in result order. */
  local: number[];
  /** [n, E] fused features (when asked for). */
  features: Float32Array | null;
  featureDim: number;
}

/** Logits (and the fused features) of one batch, without gradients. */
export function evalForward(model: LrdifModel, stage: LrdifStage, mb: ModelBatch, textTable: Tensor, spec: PipelineSpec): { logits: Tensor; features: Tensor } {
  return noGrad(() =>
    tidy(() => {
      let z: Tensor;
      if (stage === 1) {
        z = model.priorS1(embedding(textTable, mb.labels), mb.eImg);
      } else {
        const noise = tensor(evalNoise(spec, mb.global, model.config.priorDim), [mb.size, model.config.priorDim]);
        z = model.estimatePrior(mb.eImg, { noise }).zHat;
      }
      const features = model.udcformer.features(mb.x112, mb.taps, z);
      return { logits: stage === 1 ? model.udcformer.classifier.forward(features) : model.stage2Logits(features, mb.eImg), features };
    }),
  );
}

export async function evaluate(
  model: LrdifModel,
  stage: LrdifStage,
  split: IndexedSplit,
  table: EmbeddingTable,
  enc: FrozenEncoders,
  spec: PipelineSpec,
  textTable: Tensor,
  opts: {
    batchSize?: number;
    features?: boolean;
    classNames?: readonly string[];
    tapCache?: LandmarkTapCache;
    prefetch?: boolean;
    tta?: TestTimeAugmentation;
    onBatch?: (done: number, total: number) => void;
  } = {},
): Promise<EvalResult> {
  const tta = checkTta('evaluate', opts.tta ?? 'none');
  const K = model.config.numClasses;
  const E = model.config.embedDim;
  const wasTraining = model.training;
  model.eval();
  const loader = new DataLoader(split.dataset, {
    batchSize: opts.batchSize ?? 32,
    size: spec.imageSize,
    shuffle: false,
    augment: false,
    resize: spec.resize,
    prefetch: opts.prefetch ?? true,
  });
  const probs: number[] = [];
  const labels: number[] = [];
  const local: number[] = [];
  const feats: number[] = [];
  let lossSum = 0;
  let done = 0;
  try {
    for await (const b of loader.epoch(0)) {
      const cache = opts.tapCache ?? new LandmarkTapCache(0);
      const mb = await assembleBatch(b, split, spec, enc, table, null, cache);
      let mirrored: ModelBatch | null = null;
      try {
        if (tta === 'flip') mirrored = await assembleBatch(b, split, spec, enc, table, null, cache, true);
        const { logits, features } = evalForward(model, stage, mb, textTable, spec);
        const flipped = mirrored ? evalForward(model, stage, mirrored, textTable, spec) : null;
        if (flipped) {
          const p = meanViewProbabilities(logits, flipped.logits);
          const pv = (await p.data()) as Float32Array;
          for (const v of pv) probs.push(v);
          lossSum += nllSum(pv, mb.labelValues, K);
          p.dispose();
        } else {
          const { p, ce } = noGrad(() => tidy(() => ({ p: softmax(logits, -1), ce: crossEntropy(logits, mb.labels) })));
          const pv = (await p.data()) as Float32Array;
          for (const v of pv) probs.push(v);
          lossSum += (await ce.item()) * mb.size;
          for (const t of [p, ce]) t.dispose();
        }
        if (opts.features) for (const v of (await features.data()) as Float32Array) feats.push(v);
        for (const t of [logits, features, flipped?.logits, flipped?.features]) t?.dispose();
        labels.push(...mb.labelValues);
        local.push(...mb.local);
      } finally {
        mb.dispose();
        mirrored?.dispose();
        b.dispose();
      }
      done += b.indices.length;
      opts.onBatch?.(done, split.length);
    }
  } finally {
    model.train(wasTraining);
  }
  const probabilities = Float32Array.from(probs);
  const preds = argmaxRows(probabilities, K);
  const classNames = opts.classNames ?? split.dataset.classNames;
  if (classNames.length !== K) throw new Error(`lrdif: evaluate: ${classNames.length} class names for a model of ${K} classes`);
  const report = classificationReport(preds, labels, classNames);
  return {
    report,
    loss: labels.length ? lossSum / labels.length : NaN,
    probabilities,
    labels: Int32Array.from(labels),
    local,
    features: opts.features ? Float32Array.from(feats) : null,
    featureDim: E,
  };
}
