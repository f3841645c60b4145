/**
 * The baseline CNN's inputs for one loader batch (browser-safe), through the same steps as
 * LRDif's pipeline (src/train/pipeline.ts) so both models see the same pixels:
 *   1. on-the-fly degradation (optional), image g with imageSeed(seed, g);
 *   2. augmentation (training only): flip + random erasing with LRDif's uniforms of
 *      (seed + 1, epoch·2³² + g), so an image is augmented exactly as LRDif's trainer does it;
 *   3. ImageNet normalisation.
 */
import { noGrad, tidy } from '../autograd/engine.js';
import { tensor, type Tensor } from '../autograd/tensor.js';
import { applyFlipErase, flipEraseParams, AUGMENT_UNIFORMS } from '../kernels/augment.js';
import type { Batch } from '../data/loader.js';
import { degradeBatch, imageSeed } from '../data/degrade/index.js';
import { augmentUniforms, imagenetNormalize, type IndexedSplit, type PipelineSpec } from '../train/pipeline.js';

export interface CnnBatch {
  /** [B, 3, S, S] normalised images. */
  x: Tensor;
  /** [B] i32 labels (the loader batch's; owned by it). */
  labels: Tensor;
  labelValues: Int32Array;
  /** Split-local and whole-dataset indices of the images. */
  local: number[];
  global: number[];
  size: number;
}

/** Degrades, augments (when `epoch` is given and the spec augments) and normalises a loader batch. Dispose `x`. */
export function cnnBatch(b: Batch, split: IndexedSplit, spec: PipelineSpec, epoch: number | null): CnnBatch {
  const local = b.indices;
  const global = local.map((i) => split.globalIndex[i]);
  const B = global.length;
  const S = spec.imageSize;
  const augment = spec.augment && epoch !== null ? spec.augment : null;
  const x = noGrad(() =>
    tidy(() => {
      let img = b.images;
      if (img.shape[2] !== S || img.shape[3] !== S) throw new Error(`lrdif: baseline: batch images ${img.describe()} are not ${S}×${S}`);
      if (spec.degrade)
        img = degradeBatch(
          img,
          spec.degrade.kind,
          spec.degrade.config,
          global.map((g) => imageSeed(spec.degrade!.seed, g)),
        ).images;
      if (augment) {
        const u = tensor(augmentUniforms(spec.seed, epoch!, global), [B, AUGMENT_UNIFORMS]);
        img = applyFlipErase(img, flipEraseParams(u, S, S, augment), augment.value ?? 0);
      }
      return imagenetNormalize(img);
    }),
  );
  return { x, labels: b.labels, labelValues: Int32Array.from(local.map((i) => split.dataset.items[i].label)), local, global, size: B };
}
