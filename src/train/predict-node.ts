/**
 * `lrdif predict` (Node): class probabilities of face images from a stage-2 checkpoint, without
 * labels. Each image is either a face crop (used whole, resized like the training data) or a
 * photo, whose faces are found by face-api's tiny face detector and 68-point landmarks and
 * aligned to 112×112 (src/models/faceapi/detect-faces.ts, align.ts):
 *   --detect never   every image is a face crop;
 *   --detect always  every image is a photo (an image without a detected face is an error);
 *   --detect auto    (default) a photo when the detector finds a face covering less than half
 *                    of the image, else a crop (already-cropped faces keep their framing).
 * The faces then go through the evaluation path of stage 2 (pipeline.ts, evaluate.ts): CLIP
 * embedding, landmark taps, Ẑ₀ from the seeded noise of face k (stream (seed + 3, k)), softmax.
 * With `members`, a seed ensemble: every checkpoint (one recipe: the same config and classes)
 * scores the same faces, each with its own noise seed, and a face gets the mean of their
 * probabilities, as `lrdif eval --ckpt a --ckpt b …` scores it (ensemble.ts).
 */
import { noGrad, tidy } from '../autograd/engine.js';
import { tensor, type Tensor } from '../autograd/tensor.js';
import { imagesToTensor, PHOTO_MAX_SIDE, type RgbImage } from '../io/image.js';
import { readPhotoFile } from '../io/image-node.js';
import { resize } from '../kernels/resize.js';
import { clamp } from '../kernels/elementwise.js';
import { concat } from '../kernels/layout.js';
import { softmax } from '../kernels/softmax.js';
import { LrdifModel } from '../models/lrdif/lrdif.js';
import { loadFacePipeline } from '../models/faceapi/detect-node.js';
import type { FacePipeline } from '../models/faceapi/detect-faces.js';
import type { FaceBox } from '../models/faceapi/preprocess.js';
import { loadModelWeights, type CheckpointMeta } from './checkpoint.js';
import { evalForward } from './evaluate.js';
import { meanProbabilities } from './ensemble.js';
import { configPipelineFields, imagenetNormalize, modelImages, MODEL_RESIZE, type ModelBatch, type PipelineSpec } from './pipeline.js';
import { openCheckpoint } from './run-node.js';
import { encodersForRecord, type Log } from './session-node.js';

export type DetectMode = 'auto' | 'always' | 'never';

export interface PredictOptions {
  ckpt: string;
  /** More stage-2 checkpoints of the same config and classes: a seed ensemble with `ckpt`. */
  members?: readonly string[];
  images: string[];
  clip: string | null;
  detect: DetectMode;
  /** Seed of the noise (default: the checkpoint's training seed, as its evaluation). */
  seed: number | null;
  cacheDir: string | null;
  /** Smallest detector score (default 0.5). */
  scoreThreshold: number;
  /** Images whose longer side is above this are scaled down on the CPU first (default PHOTO_MAX_SIDE; 0: never). */
  maxSide?: number;
  /** Set when `ckpt` is a shipped model (src/pretrained): named in the result. */
  model?: { name: string; title: string } | null;
}

export interface PredictedFace {
  /** The face's box in the image (photos), or null for a crop used whole. */
  box: FaceBox | null;
  probabilities: Record<string, number>;
  top: string;
  topProbability: number;
}

export interface PredictResult {
  /** The shipped model used (null: a checkpoint given by path). */
  model: { name: string; title: string } | null;
  checkpoint: { path: string; stage: number; epoch: number; variant: string; classes: string[] };
  /** A seed ensemble's checkpoints (`checkpoint` first), each face scored by the mean of their probabilities. */
  ensemble?: Array<{ path: string; epoch: number }>;
  /** Set when the checkpoint was seen to predict one class (its training's collapse watch). */
  warning?: string;
  /** Each image's upright size; `processed`: the size it was scaled to (only when it was); boxes are in the image's own pixels. */
  images: Array<{ path: string; width: number; height: number; processed?: { width: number; height: number }; kind: 'crop' | 'photo'; faces: PredictedFace[]; note?: string }>;
}

/** Whole image → [1, 3, S, S] in [0, 1] (the loader's resize). */
function cropTensor(img: RgbImage, S: number): Tensor {
  return tidy(() => {
    const t = imagesToTensor([img]);
    return img.width === S && img.height === S ? t : clamp(resize(t, S, S, MODEL_RESIZE), 0, 1);
  });
}

export async function runPrediction(o: PredictOptions, log: Log): Promise<PredictResult> {
  if (o.images.length === 0) throw new Error('lrdif: predict: give at least one image');
  // read every image first: a bad path or a corrupt file fails before the models load
  const photos = o.images.map((p) => readPhotoFile(p, { maxSide: o.maxSide ?? PHOTO_MAX_SIDE }));
  const imgs = photos.map((p) => p.image);
  const { reader, meta } = openCheckpoint(o.ckpt);
  const others: Array<{ path: string } & ReturnType<typeof openCheckpoint>> = [];
  const models: LrdifModel[] = [];
  let model: LrdifModel | null = null;
  let pipeline: FacePipeline | null = null;
  const parts: Tensor[] = [];
  /** The same faces at the image encoder's input size, when it differs from the model's. */
  const encParts: Tensor[] = [];
  try {
    if (meta.stage !== 2) throw new Error(`lrdif: predict: ${o.ckpt} is a stage-${meta.stage} checkpoint; prediction needs stage 2 (stage 1 takes the label as an input)`);
    for (const p of o.members ?? []) {
      others.push({ path: p, ...openCheckpoint(p) });
      checkEnsembleMember(o.ckpt, meta, p, others[others.length - 1].meta);
    }
    model = new LrdifModel(meta.config);
    loadModelWeights(reader, model);
    models.push(model);
    for (const m of others) {
      models.push(new LrdifModel(m.meta.config));
      loadModelWeights(m.reader, models[models.length - 1]);
    }
    const metas = [meta, ...others.map((m) => m.meta)];
    const paths = [o.ckpt, ...others.map((m) => m.path)];
    // stage 2 reads no text embedding: CLIP runs only when it is the image encoder E_I
    const enc = await encodersForRecord(meta.clip, o.clip, o.cacheDir, log, { clipUnused: meta.config.imageEncoder !== 'clip' });
    try {
      const S = meta.config.imageSize;
      if (o.detect !== 'never') pipeline = await loadFacePipeline({ withExpressions: false });
      const result: PredictResult = {
        model: o.model ?? null,
        checkpoint: { path: o.ckpt, stage: meta.stage, epoch: meta.epoch, variant: meta.config.variant, classes: meta.classNames },
        ...(others.length ? { ensemble: metas.map((m, i) => ({ path: paths[i], epoch: m.epoch })) } : {}),
        images: [],
      };
      const warnings: string[] = [];
      metas.forEach((m, i) => {
        const collapsed = (m.metrics as { collapse?: { kind: string; class: string | null; split: string; share: number | null } | null }).collapse;
        if (!collapsed) return;
        const which = others.length ? `the ensemble's checkpoint ${paths[i]}` : 'this checkpoint';
        warnings.push(
          collapsed.kind === 'one-class'
            ? `${which} predicts one class: '${collapsed.class}' for ${(100 * (collapsed.share ?? 1)).toFixed(1)} % of its ${collapsed.split} images when it was written (epoch ${m.epoch}); its answers below say little about the faces`
            : `${which}'s training loss sat at the entropy of the class prior (a collapsed model, epoch ${m.epoch}); its answers below say little about the faces`,
        );
      });
      if (warnings.length) {
        result.warning = warnings.join('; ');
        log(`lrdif: predict: warning: ${result.warning}`);
      }
      const emb = await enc.imageEncoder(meta.config.imageEncoder);
      const E = emb.inputSize ?? S;
      const owners: Array<{ image: number; box: FaceBox | null }> = [];
      for (let i = 0; i < imgs.length; i++) {
        const img = imgs[i];
        const ph = photos[i];
        const entry: PredictResult['images'][number] = {
          path: o.images[i],
          width: ph.width,
          height: ph.height,
          ...(img.width !== ph.width || img.height !== ph.height ? { processed: { width: img.width, height: img.height } } : {}),
          kind: 'crop',
          faces: [],
        };
        result.images.push(entry);
        if (pipeline) {
          const found = await pipeline.alignedFaces(img, { scoreThreshold: o.scoreThreshold });
          const largest = found.faces.reduce((m, f) => Math.max(m, (f.box.width * f.box.height) / (img.width * img.height)), 0);
          const isPhoto = found.batch !== null && (o.detect === 'always' || largest < 0.5);
          if (isPhoto) {
            entry.kind = 'photo';
            const b = found.batch!;
            const at = (side: number) => (b.shape[2] === side ? b : noGrad(() => tidy(() => clamp(resize(b, side, side, MODEL_RESIZE), 0, 1))));
            parts.push(at(S));
            if (E !== S) encParts.push(at(E));
            if (b.shape[2] !== S && b.shape[2] !== E) b.dispose();
            for (const f of found.faces)
              owners.push({ image: i, box: { x: f.box.x * ph.scaleX, y: f.box.y * ph.scaleY, width: f.box.width * ph.scaleX, height: f.box.height * ph.scaleY } });
            continue;
          }
          found.batch?.dispose();
          if (o.detect === 'always') throw new Error(`lrdif: predict: no face found in ${o.images[i]} (score threshold ${o.scoreThreshold}); use --detect never for face crops`);
          entry.note = found.faces.length ? 'the face fills the image: used as a face crop' : 'no face detected: used as a face crop';
        }
        parts.push(cropTensor(img, S));
        if (E !== S) encParts.push(cropTensor(img, E));
        owners.push({ image: i, box: null });
      }
      const xIn = parts.length === 1 ? parts[0] : noGrad(() => concat(parts, 0));
      const N = xIn.shape[0];
      const settings = (meta.train as { settings?: { seed?: number } }).settings;
      const spec: PipelineSpec = { imageSize: S, resize: MODEL_RESIZE, degrade: null, augment: null, seed: o.seed ?? settings?.seed ?? 0, ...configPipelineFields(meta.config) };
      const x01 = modelImages(xIn, spec);
      if (x01 !== xIn && xIn !== parts[0]) xIn.dispose();
      // e_img from the faces at the image encoder's own input size when it has one
      let eImg: Tensor;
      if (E === S) eImg = tensor(await emb.embed(x01), [N, emb.dim]);
      else {
        const encIn = encParts.length === 1 ? encParts[0] : noGrad(() => concat(encParts, 0));
        const encX = modelImages(encIn, spec);
        eImg = tensor(await emb.embed(encX), [N, emb.dim]);
        if (encX !== encIn) encX.dispose();
        if (encIn !== encParts[0]) encIn.dispose();
      }
      const taps = enc.taps(x01);
      const x112 = imagenetNormalize(x01);
      if (x01 !== parts[0]) x01.dispose();
      const global = Array.from({ length: N }, (_, k) => k);
      const labels = tensor(new Int32Array(N), [N], 'i32');
      const mb: ModelBatch = { x112, taps, eImg, labels, labelValues: new Int32Array(N), local: global, global, size: N, dispose() {} };
      const textTable = tensor(new Float32Array(meta.classNames.length * enc.projectionDim), [meta.classNames.length, enc.projectionDim]);
      // one member: its probabilities; an ensemble: their mean (each member with its own noise seed)
      const each: Float32Array[] = [];
      try {
        for (const [i, m] of models.entries()) {
          const seed = o.seed ?? (metas[i].train as { settings?: { seed?: number } }).settings?.seed ?? 0;
          const { logits, features } = evalForward(m, 2, mb, textTable, { ...spec, seed });
          const p = noGrad(() => softmax(logits, -1));
          each.push(new Float32Array((await p.data()) as Float32Array));
          for (const t of [logits, features, p]) t.dispose();
        }
      } finally {
        for (const t of [x112, ...taps, eImg, labels, textTable]) t.dispose();
      }
      const probs = meanProbabilities(each);
      const K = meta.classNames.length;
      owners.forEach((ow, k) => {
        const row = Array.from(probs.subarray(k * K, (k + 1) * K));
        let best = 0;
        for (let c = 1; c < K; c++) if (row[c] > row[best]) best = c;
        result.images[ow.image].faces.push({
          box: ow.box,
          probabilities: Object.fromEntries(meta.classNames.map((c, j) => [c, row[j]])),
          top: meta.classNames[best],
          topProbability: row[best],
        });
      });
      return result;
    } finally {
      enc.dispose();
    }
  } finally {
    for (const t of [...parts, ...encParts]) if (!t.isDisposed) t.dispose();
    reader.close();
    for (const m of others) m.reader.close();
    for (const m of models) m.dispose();
    if (model && !models.includes(model)) model.dispose();
    pipeline?.dispose();
  }
}

/** An ensemble member must be a stage-2 checkpoint of the first one's config, classes and image encoder. */
function checkEnsembleMember(first: string, a: CheckpointMeta, file: string, b: CheckpointMeta): void {
  if (b.stage !== 2) throw new Error(`lrdif: predict: ${file} is a stage-${b.stage} checkpoint; prediction needs stage 2 (stage 1 takes the label as an input)`);
  if (JSON.stringify(b.classNames) !== JSON.stringify(a.classNames))
    throw new Error(`lrdif: predict: ${file} has the classes ${b.classNames.join(', ')}, ${first} ${a.classNames.join(', ')}: an ensemble's checkpoints share one label set`);
  const fields = [...new Set([...Object.keys(a.config), ...Object.keys(b.config)])].filter(
    (k) => JSON.stringify((a.config as unknown as Record<string, unknown>)[k]) !== JSON.stringify((b.config as unknown as Record<string, unknown>)[k]),
  );
  if (fields.length) throw new Error(`lrdif: predict: ${file} differs from ${first} in its config (${fields.join(', ')}): an ensemble's checkpoints come from one recipe`);
  if (a.config.imageEncoder === 'clip' && JSON.stringify(a.clip) !== JSON.stringify(b.clip))
    throw new Error(`lrdif: predict: ${file} was trained with another CLIP than ${first}: an ensemble's checkpoints share their image encoder`);
}

/** A short text form: per image, each face's top classes. */
export function formatPrediction(r: PredictResult, top = 3): string {
  const lines: string[] = [
    r.model
      ? `model: the shipped '${r.model.name}' model (${r.model.title}; ${r.checkpoint.path})`
      : r.ensemble
        ? `model: an ensemble of ${r.ensemble.length} checkpoints (the mean of their probabilities): ${r.ensemble.map((m) => m.path).join(', ')}`
        : `model: ${r.checkpoint.path}`,
  ];
  if (r.warning) lines.push(`warning: ${r.warning}`);
  for (const im of r.images) {
    if (im.faces.length === 0) {
      lines.push(`${im.path}: no face`);
      continue;
    }
    im.faces.forEach((f, i) => {
      const ranked = Object.entries(f.probabilities)
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([c, p]) => `${c} ${(100 * p).toFixed(1)}%`)
        .join(', ');
      const where = f.box ? ` face ${i + 1} at (${Math.round(f.box.x)}, ${Math.round(f.box.y)}, ${Math.round(f.box.width)}×${Math.round(f.box.height)})` : '';
      lines.push(`${im.path}${where}: ${ranked}`);
    });
    if (im.note) lines.push(`  (${im.note})`);
  }
  return lines.join('\n');
}
