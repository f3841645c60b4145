/**
 * From dataset batches to the model's inputs (browser-safe).
 *
 * Per batch (a DataLoader batch of S×S images in [0, 1], no loader augmentation):
 *   1. on-the-fly degradation (optional): `degradeBatch` with image g's seed imageSeed(seed, g),
 *      g the item's index in the whole dataset, so every image is degraded the same way in
 *      every epoch and in every batch composition; then the config's input normalisation
 *      (`inputNorm`: none, or per-image exposure normalisation, input-norm.ts);
 *   2. e_img: the cached embedding of that (degraded, normalised, un-augmented) image by the
 *      config's image encoder (CLIP, or face-api's expression net);
 *   3. augmentation (training only): horizontal flip + random erasing with the 44 uniforms of
 *      the Philox stream (seed + 1, epoch·2³² + g): a function of (seed, epoch, image) only;
 *   4. landmark taps of the degraded, flipped (not erased) images, cached per (image, flip)
 *      (LandmarkTapCache); x112 = the ImageNet-normalised augmented images.
 * The mirrored view of evaluation's test-time augmentation flips every image as step 3 would,
 * erasing nothing; e_img stays the un-flipped image's, as in training.
 * Stage-2 noise ε of image g is drawn likewise from stream (seed + 2, epoch·2³² + g) in
 * training and (seed + 3, g) in evaluation and prediction, so results never depend on the batch
 * size, the order, or an interruption.
 */
import { noGrad, tidy } from '../autograd/engine.js';
import { indexSelect } from '../kernels/indexing.js';
import { tensor, type Tensor } from '../autograd/tensor.js';
import { div, sub } from '../kernels/elementwise.js';
import { applyFlipErase, flipEraseParams, flipOnlyParams, mirrorImages, AUGMENT_UNIFORMS, type FlipEraseOptions } from '../kernels/augment.js';
import type { ResizeOptions } from '../kernels/resize.js';
import { HostRandom } from '../data/rng.js';
import { DataLoader, type Batch } from '../data/loader.js';
import { ImageDataset, type Split } from '../data/datasets/types.js';
import { degradeBatch, imageSeed, type DegradationKind, type DegradeConfig } from '../data/degrade/index.js';
import type { LandmarkTaps } from '../models/lrdif/dilnetwork.js';
import type { LrdifImageEncoder, LrdifInputNorm } from '../models/lrdif/config.js';
import { normalizeInput } from '../models/lrdif/input-norm.js';
import { sha256Hex, type FrozenEncoders } from './encoders.js';
import { exifOrientation } from '../io/exif.js';

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;
const TWO32 = 4294967296;
/** The largest float32 below 1: uniforms for the GPU augmentation stay in [0, 1). */
const BELOW_ONE = 1 - 2 ** -24;

export interface DegradeSpec {
  kind: DegradationKind;
  /** Resolved configuration (every field). */
  config: DegradeConfig;
  /** Dataset seed: image g gets imageSeed(seed, g). */
  seed: number;
}

export interface PipelineSpec {
  /** Side of the model input (the config's imageSize). */
  imageSize: number;
  /** How the loader resizes images to imageSize. */
  resize: ResizeOptions;
  /** On-the-fly degradation, or null (clean or offline-degraded data). */
  degrade: DegradeSpec | null;
  /** Training augmentation, or null. */
  augment: FlipEraseOptions | null;
  /** Seed of the augmentation and noise streams. */
  seed: number;
  /** The config's input normalisation of the (degraded) [0, 1] images (default 'none'). */
  inputNorm?: LrdifInputNorm;
  /** The config's image encoder E_I (default 'clip'). */
  imageEncoder?: LrdifImageEncoder;
}

/** The loader's resize for model inputs (Pillow-style antialiased bilinear, the DataLoader default). */
export const MODEL_RESIZE: ResizeOptions = Object.freeze({ mode: 'bilinear', antialias: true }) as ResizeOptions;

/** One split of a dataset with each item's index in the whole dataset. */
export class IndexedSplit {
  constructor(
    readonly dataset: ImageDataset,
    /** globalIndex[i]: index in the whole dataset of this split's item i. */
    readonly globalIndex: readonly number[],
  ) {
    if (globalIndex.length !== dataset.length) throw new Error(`lrdif: IndexedSplit: ${globalIndex.length} indices for ${dataset.length} items`);
  }

  get length(): number {
    return this.dataset.length;
  }
}

/**
 * The items of `split` with their indices in `full`, leaving out the files found unreadable so
 * far (full.skipped): after the split's embedding table is built, that is exactly the images a
 * run uses, so it counts them and fills its batches with them.
 */
export function splitWithIndices(full: ImageDataset, split: Split): IndexedSplit {
  const idx: number[] = [];
  full.items.forEach((it, i) => {
    if (it.split === split && !full.isSkipped(it)) idx.push(i);
  });
  return new IndexedSplit(full.split(split).usable(), idx);
}

/**
 * SHA-256 of an item's source (file bytes, or in-memory pixels and their size); null if it cannot
 * be read (recorded as skipped). A file with an EXIF orientation other than 1 gets it appended:
 * its pixels are now decoded upright, so embeddings cached before that (sideways) are not reused.
 */
export async function itemContentHash(ds: ImageDataset, i: number): Promise<string | null> {
  const it = ds.items[i];
  const s = it.source;
  if (s.kind === 'pixels') return sha256Hex(new Uint8Array([...new TextEncoder().encode(`${s.width}x${s.height}x${s.channels}|`), ...s.data]));
  if (ds.isSkipped(it)) return null;
  try {
    const bytes = await ds.source.readBytes(s.path);
    const o = exifOrientation(bytes);
    const h = await sha256Hex(bytes);
    return o === 1 ? h : `${h}|exif-orientation-${o}`;
  } catch (e) {
    ds.skip(s.path, (e as Error).message.replace(/^lrdif: /, ''));
    return null;
  }
}

/**
 * Everything between an image's bytes and the image encoder's input (read at `size`), as a stable
 * string (part of the cache key; the input normalisation appears only when there is one, so the
 * keys of the paper's pipeline are those of earlier versions).
 */
export function imageTransformKey(spec: PipelineSpec, globalIndex: number, size = spec.imageSize): string {
  const d = spec.degrade;
  return JSON.stringify({
    size,
    resize: { mode: spec.resize.mode ?? 'bilinear', antialias: spec.resize.antialias ?? false },
    degrade: d ? { kind: d.kind, config: d.config, seed: imageSeed(d.seed, globalIndex) } : null,
    ...(spec.inputNorm && spec.inputNorm !== 'none' ? { inputNorm: spec.inputNorm } : {}),
  });
}

/** The pipeline fields a model's config decides (its input normalisation and image encoder). */
export function configPipelineFields(cfg: { inputNorm: LrdifInputNorm; imageEncoder: LrdifImageEncoder }): Pick<PipelineSpec, 'inputNorm' | 'imageEncoder'> {
  return { inputNorm: cfg.inputNorm, imageEncoder: cfg.imageEncoder };
}

/** The images every part of the model sees: the spec's input normalisation of the [0, 1] images (the same tensor for 'none'). */
export function modelImages(x01: Tensor, spec: Pick<PipelineSpec, 'inputNorm'>): Tensor {
  return noGrad(() => normalizeInput(x01, spec.inputNorm ?? 'none'));
}

/**
 * Image embeddings e_img (of the image encoder) of a split's images, one row per item, found by the item's index in the
 * whole dataset (so a split rebuilt without its unreadable items still finds its rows); rows of
 * unreadable items are absent.
 */
export class EmbeddingTable {
  private readonly slot: Map<number, number>;

  constructor(
    readonly rows: Float32Array,
    readonly present: Uint8Array,
    readonly width: number,
    /** Dataset index of each row. */
    readonly globalIndex: readonly number[],
  ) {
    this.slot = new Map(globalIndex.map((g, i) => [g, i]));
  }

  /** Rows of the items with these dataset indices [B, P] on the GPU; an absent row is an error naming the item. */
  gather(global: readonly number[], names?: (g: number) => string): Tensor {
    const P = this.width;
    const out = new Float32Array(global.length * P);
    global.forEach((g, r) => {
      const i = this.slot.get(g);
      if (i === undefined || !this.present[i])
        throw new Error(`lrdif: no image embedding for item ${names ? names(g) : g} (it could not be read when the embeddings were computed)`);
      out.set(this.rows.subarray(i * P, (i + 1) * P), r * P);
    });
    return tensor(out, [global.length, P]);
  }
}

export interface EmbedProgress {
  phase: 'hash' | 'embed';
  done: number;
  total: number;
}

/**
 * The image embeddings (of the spec's image encoder) of every item of a split: cached ones from
 * the encoder's store, the rest computed (in batches, with the same resize, degradation and
 * input normalisation as training, at the encoder's input size when it has one) and stored.
 */
export async function buildEmbeddingTable(
  enc: FrozenEncoders,
  split: IndexedSplit,
  spec: PipelineSpec,
  opts: { batchSize?: number; onProgress?: (p: EmbedProgress) => void } = {},
): Promise<{ table: EmbeddingTable; cached: number; computed: number; skipped: number }> {
  const emb = await enc.imageEncoder(spec.imageEncoder ?? 'clip');
  const P = emb.dim;
  const size = emb.inputSize ?? spec.imageSize;
  const n = split.length;
  const rows = new Float32Array(n * P);
  const present = new Uint8Array(n);
  const keys: Array<string | null> = new Array(n).fill(null);
  const misses: number[] = [];
  let cached = 0;
  for (let i = 0; i < n; i++) {
    const h = await itemContentHash(split.dataset, i);
    if (h !== null) {
      keys[i] = await sha256Hex(`image|${emb.hash}|${h}|${imageTransformKey(spec, split.globalIndex[i], size)}`);
      const v = emb.store.get(keys[i]!);
      if (v && v.length === P) {
        rows.set(v, i * P);
        present[i] = 1;
        cached++;
      } else misses.push(i);
    }
    if (opts.onProgress && ((i + 1) % 64 === 0 || i + 1 === n)) opts.onProgress({ phase: 'hash', done: i + 1, total: n });
  }
  let computed = 0;
  if (misses.length) {
    // a private subset: what it skips is reported once, through the split itself (below)
    const subDs = new ImageDataset(
      split.dataset.name,
      split.dataset.classNames,
      misses.map((i) => split.dataset.items[i]),
      split.dataset.source,
      { warn: () => {} },
    );
    const sub = new IndexedSplit(
      subDs,
      misses.map((i) => split.globalIndex[i]),
    );
    const loader = new DataLoader(sub.dataset, { batchSize: opts.batchSize ?? 32, size, shuffle: false, augment: false, resize: spec.resize });
    let done = 0;
    for await (const b of loader.epoch(0)) {
      try {
        const g = b.indices.map((i) => sub.globalIndex[i]);
        const xd = spec.degrade
          ? noGrad(
              () =>
                degradeBatch(
                  b.images,
                  spec.degrade!.kind,
                  spec.degrade!.config,
                  g.map((gi) => imageSeed(spec.degrade!.seed, gi)),
                ).images,
            )
          : b.images;
        const x = modelImages(xd, spec);
        if (x !== xd && xd !== b.images) xd.dispose();
        const e = await emb.embed(x);
        if (x !== b.images) x.dispose();
        b.indices.forEach((si, r) => {
          const local = misses[si];
          const row = e.slice(r * P, (r + 1) * P);
          rows.set(row, local * P);
          present[local] = 1;
          emb.store.set(keys[local]!, row);
          computed++;
        });
      } finally {
        b.dispose();
      }
      done = Math.min(misses.length, (b.index + 1) * loader.batchSize);
      opts.onProgress?.({ phase: 'embed', done, total: misses.length });
    }
    for (const sk of subDs.skipped) split.dataset.skip(sk.path, sk.reason);
  }
  return { table: new EmbeddingTable(rows, present, P, split.globalIndex), cached, computed, skipped: n - cached - computed };
}

/** Uniforms of the augmentation of image g in epoch `epoch` [B, 44]. */
export function augmentUniforms(seed: number, epoch: number, globalIndices: readonly number[]): Float32Array {
  const u = new Float32Array(globalIndices.length * AUGMENT_UNIFORMS);
  globalIndices.forEach((g, r) => {
    const rng = new HostRandom(seed + 1, epoch * TWO32 + g);
    for (let k = 0; k < AUGMENT_UNIFORMS; k++) u[r * AUGMENT_UNIFORMS + k] = Math.min(Math.fround(rng.uniform()), BELOW_ONE);
  });
  return u;
}

/** Standard normal noise ε [B·C] of images g from the stream (seed, base + g). */
export function imageNoise(seed: number, base: number, globalIndices: readonly number[], width: number): Float32Array {
  const out = new Float32Array(globalIndices.length * width);
  globalIndices.forEach((g, r) => {
    const rng = new HostRandom(seed, base + g);
    for (let k = 0; k < width; k++) out[r * width + k] = rng.normal();
  });
  return out;
}

/** Training noise of an epoch's images, and evaluation / prediction noise. */
export const trainNoise = (spec: PipelineSpec, epoch: number, g: readonly number[], width: number) => imageNoise(spec.seed + 2, epoch * TWO32, g, width);
export const evalNoise = (spec: PipelineSpec, g: readonly number[], width: number) => imageNoise(spec.seed + 3, 0, g, width);

export interface ModelBatch {
  x112: Tensor;
  taps: LandmarkTaps;
  eImg: Tensor;
  labels: Tensor;
  /** Host copy of the labels. */
  labelValues: Int32Array;
  local: number[];
  global: number[];
  size: number;
  dispose(): void;
}

/**
 * Host copies of landmark taps per (image, flip), up to a byte budget (beyond it taps are
 * computed per batch, with the same result). The taps are those of the degraded and possibly
 * flipped image without the erased box: random erasing applies to the UDCformer's image input
 * only, which is what makes the frozen extractor's output cacheable.
 */
export class LandmarkTapCache {
  private readonly map = new Map<string, [Float32Array, Float32Array, Float32Array]>();
  bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes = 2 ** 30) {}

  get(g: number, flip: boolean): [Float32Array, Float32Array, Float32Array] | undefined {
    return this.map.get(`${g}|${flip ? 1 : 0}`);
  }

  set(g: number, flip: boolean, taps: [Float32Array, Float32Array, Float32Array]): void {
    const b = 4 * (taps[0].length + taps[1].length + taps[2].length);
    if (this.bytes + b > this.maxBytes) return;
    this.map.set(`${g}|${flip ? 1 : 0}`, taps);
    this.bytes += b;
  }

  get size(): number {
    return this.map.size;
  }
}

/** Taps of images x01 [B, 3, S, S] with per-image flips, through the cache. */
async function cachedTaps(x01: Tensor, global: readonly number[], flips: readonly boolean[], enc: FrozenEncoders, cache: LandmarkTapCache): Promise<LandmarkTaps> {
  const B = global.length;
  const missing: number[] = [];
  const rows: Array<[Float32Array, Float32Array, Float32Array] | undefined> = global.map((g, i) => cache.get(g, flips[i]));
  rows.forEach((r, i) => {
    if (!r) missing.push(i);
  });
  cache.hits += B - missing.length;
  cache.misses += missing.length;
  if (missing.length) {
    const computed = noGrad(() =>
      tidy(() => {
        let x = missing.length === B ? x01 : indexSelect(x01, 0, tensor(Int32Array.from(missing), [missing.length], 'i32'));
        const f = missing.map((i) => flips[i]);
        if (f.some(Boolean)) x = applyFlipErase(x, flipOnlyParams(f));
        return enc.taps(x);
      }),
    );
    try {
      const data = await Promise.all(computed.map(async (t) => (await t.data()) as Float32Array));
      missing.forEach((i, r) => {
        const per = data.map((d) => d.slice((r * d.length) / missing.length, ((r + 1) * d.length) / missing.length)) as [Float32Array, Float32Array, Float32Array];
        rows[i] = per;
        cache.set(global[i], flips[i], per);
      });
    } finally {
      for (const t of computed) t.dispose();
    }
  }
  const S = x01.shape[2];
  const shapes = [
    [B, 0, S / 4, S / 4],
    [B, 0, S / 8, S / 8],
    [B, 0, S / 16, S / 16],
  ];
  return [0, 1, 2].map((k) => {
    const per = rows[0]![k].length;
    const buf = new Float32Array(B * per);
    rows.forEach((r, i) => buf.set(r![k], i * per));
    const hw = shapes[k][2] * shapes[k][3];
    return tensor(buf, [B, per / hw, shapes[k][2], shapes[k][3]]);
  }) as unknown as LandmarkTaps;
}

/** ImageNet mean/std normalisation of [0, 1] images. */
export function imagenetNormalize(x01: Tensor): Tensor {
  return tidy(() => div(sub(x01, tensor([...IMAGENET_MEAN], [1, 3, 1, 1])), tensor([...IMAGENET_STD], [1, 3, 1, 1])));
}

/**
 * The model's inputs for one loader batch: degradation, the input normalisation, augmentation
 * (when `epoch` is given and the spec augments), landmark taps (through `cache`), ImageNet
 * normalisation and the cached e_img rows. `mirror` (evaluation only) gives the mirrored view of
 * test-time augmentation: every image flipped, nothing erased.
 */
export async function assembleBatch(
  b: Batch,
  split: IndexedSplit,
  spec: PipelineSpec,
  enc: FrozenEncoders,
  table: EmbeddingTable,
  epoch: number | null,
  cache: LandmarkTapCache,
  mirror = false,
): Promise<ModelBatch> {
  const local = b.indices;
  const global = local.map((i) => split.globalIndex[i]);
  const S = spec.imageSize;
  const B = global.length;
  const augment = spec.augment && epoch !== null ? spec.augment : null;
  if (augment && mirror) throw new Error('lrdif: assembleBatch: the mirrored view is for evaluation, not for an augmented training batch');
  const u = augment ? augmentUniforms(spec.seed, epoch!, global) : null;
  const flipP = Math.fround(augment?.flipP ?? 0.5);
  const flips = global.map((_, i) => (u ? Math.fround(u[i * AUGMENT_UNIFORMS]) < flipP : mirror));
  const raw = noGrad(() =>
    spec.degrade
      ? degradeBatch(
          b.images,
          spec.degrade.kind,
          spec.degrade.config,
          global.map((g) => imageSeed(spec.degrade!.seed, g)),
        ).images
      : b.images,
  );
  const degraded = modelImages(raw, spec);
  if (degraded !== raw && raw !== b.images) raw.dispose();
  let taps: LandmarkTaps | null = null;
  let x112: Tensor | null = null;
  let eImg: Tensor | null = null;
  try {
    taps = await cachedTaps(degraded, global, flips, enc, cache);
    x112 = noGrad(() =>
      tidy(() => {
        let x = degraded;
        if (augment) x = applyFlipErase(x, flipEraseParams(tensor(u!, [B, AUGMENT_UNIFORMS]), S, S, augment), augment.value ?? 0);
        else if (mirror) x = mirrorImages(x);
        return imagenetNormalize(x);
      }),
    );
    const ids = new Map(global.map((g, r) => [g, split.dataset.items[local[r]].id]));
    eImg = table.gather(global, (g) => ids.get(g) ?? String(g));
  } catch (e) {
    for (const t of [...(taps ?? []), x112, eImg]) t?.dispose();
    throw e;
  } finally {
    if (degraded !== b.images) degraded.dispose();
  }
  const labelValues = Int32Array.from(local.map((i) => split.dataset.items[i].label));
  const t = taps;
  const xi = x112;
  const ei = eImg;
  return {
    x112: xi,
    taps: t,
    eImg: ei,
    labels: b.labels,
    labelValues,
    local,
    global,
    size: B,
    dispose() {
      xi.dispose();
      for (const k of t) k.dispose();
      ei.dispose();
    },
  };
}
