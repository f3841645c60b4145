/**
 * Inference in the page: an LRDif / LLDif stage-2 checkpoint, its frozen encoders (CLIP and
 * face-api's landmark extractor) and face-api's detector, run on a photo:
 *
 *   photo (8-bit RGB; scaled down first when its longer side exceeds `maxSide`)
 *   → optional UDC / low-light simulation (degradeBatch, the image's seed; back to 8 bits, as a
 *     camera would deliver it)
 *   → face-api's tiny face detector + 68 landmarks → each face aligned to S×S (align.ts);
 *     or, with detection off, the photo's centre square resized to S×S (a face crop)
 *   → e_img = CLIP embedding, landmark taps, x112 = ImageNet-normalised faces
 *   → LRDif stage 2: Ẑ₀ from ε (face f's evaluation noise: stream (seed + 3, f), as the trainer's
 *     evaluation) → UDCformer → softmax.
 * Every part is timed to its completion on the GPU.
 */
import { engine } from '../../src/autograd/engine.js';
import { tensor, type Tensor } from '../../src/autograd/tensor.js';
import { noGrad, tidy } from '../../src/autograd/engine.js';
import { imagesToTensor, chwToImage, downscaleImage, fitSide, type RgbImage } from '../../src/io/image.js';
import { resize } from '../../src/kernels/resize.js';
import { clamp } from '../../src/kernels/elementwise.js';
import { RgbImageBuffer } from '../../src/kernels/affine-warp.js';
import { degradeBatch, resolveDegradeConfig, DEFAULT_DISPLAY, type DegradationKind, type DegradeConfig } from '../../src/data/degrade/index.js';
import { cropRgbImage, type FaceBox, type FacePoint } from '../../src/models/faceapi/preprocess.js';
import { alignFaces } from '../../src/models/faceapi/align.js';
import type { FacePipeline } from '../../src/models/faceapi/detect-faces.js';
import type { FaceLandmarkFeatures } from '../../src/models/faceapi/landmark-net.js';
import { LrdifModel } from '../../src/models/lrdif/lrdif.js';
import type { ClipModel } from '../../src/models/clip/model.js';
import { tinyRandomClip, parameterHash, sha256Hex, FrozenEncoders, type ClipRecord } from '../../src/train/encoders.js';
import { imageNoise, imagenetNormalize, modelImages, MODEL_RESIZE } from '../../src/train/pipeline.js';
import { readCheckpointMeta, loadModelWeights, type CheckpointMeta } from '../../src/train/checkpoint.js';
import { readSafetensors, PageError, plainMessage, shortenList } from './errors.js';
import { clipFromFiles } from './clip-file.js';
import { loadFacePipeline, loadImageEmbedder, loadLandmarkFeatures, loadTokenizer } from './assets.js';

export interface FileBytes {
  name: string;
  bytes: Uint8Array;
}

/** A stage-2 checkpoint's model and metadata. */
export interface LoadedCheckpoint {
  name: string;
  meta: CheckpointMeta;
  model: LrdifModel;
}

/** Reads and checks a checkpoint file; errors are PageErrors that say what is wrong. */
export function loadCheckpoint(file: FileBytes): LoadedCheckpoint {
  const reader = readSafetensors(file.bytes, file.name);
  let meta: CheckpointMeta;
  try {
    meta = readCheckpointMeta(reader);
  } catch (e) {
    throw new PageError(`${plainMessage(e)}. Pick a checkpoint written by lrdif's trainer (\`lrdif train\` or this page's Training tab).`);
  }
  if (meta.stage !== 2) {
    throw new PageError(`${file.name} is a stage-1 checkpoint: stage 1 needs each image's true label. Inference takes a stage-2 checkpoint (train stage 2 from this one first).`);
  }
  const model = new LrdifModel(meta.config, { seed: 0 });
  try {
    loadModelWeights(reader, model);
  } catch (e) {
    model.dispose();
    throw new PageError(
      `${file.name} does not fit the config it records (a checkpoint for a different config, or a damaged one): ${shortenList(plainMessage(e).replace(/^checkpoint \S+: /, ''))}`,
    );
  }
  model.eval();
  return { name: file.name, meta, model };
}

/** Where the CLIP came from, for the page. */
export interface ClipChoice {
  clip: ClipModel;
  source: string;
  /** A note when the CLIP could not be checked exactly against the checkpoint's record. */
  warning: string | null;
}

function describeRecord(r: ClipRecord): string {
  return r.kind === 'random-tiny' ? `the tiny random CLIP with seed ${r.seed}` : `${r.path}`;
}

/**
 * The CLIP for a checkpoint: the given files (weights + optional config.json), checked against
 * the checkpoint's record by hash; without files, the tiny random CLIP rebuilt from the recorded
 * seed (when the checkpoint was trained with one). A config whose image encoder is not CLIP runs
 * no CLIP at inference (stage 2 reads no text embedding): then, without files, the tiny random
 * CLIP stands in whatever the record says, with no warning.
 */
export async function loadClipFor(meta: CheckpointMeta, weights: FileBytes | null, config: { name: string; text: string } | null): Promise<ClipChoice> {
  const rec = meta.clip;
  const check = (clip: ClipModel, what: string) => {
    if (clip.config.projectionDim !== meta.config.clipDim) {
      clip.dispose();
      throw new PageError(
        `${what} gives embeddings of width ${clip.config.projectionDim}, but the checkpoint was trained with CLIP embeddings of width ${meta.config.clipDim} (${describeRecord(rec)}): a CLIP for a different config. Give the CLIP the checkpoint was trained with.`,
      );
    }
  };
  const unused = meta.config.imageEncoder !== 'clip';
  if (!weights) {
    if (unused) {
      const clip = tinyRandomClip(rec.kind === 'random-tiny' ? rec.seed : 0, await loadTokenizer());
      return {
        clip,
        source: `none needed: this model takes its image embedding from ${meta.config.imageEncoder === 'faceapi-expression' ? "face-api's expression net" : meta.config.imageEncoder} and runs no CLIP`,
        warning: null,
      };
    }
    if (rec.kind !== 'random-tiny') {
      throw new PageError(
        `The checkpoint was trained with the CLIP ${rec.path} (sha256 ${rec.hash.slice(0, 12)}…): pick its model.safetensors (and config.json) under CLIP, or give their URL.`,
      );
    }
    const clip = tinyRandomClip(rec.seed, await loadTokenizer());
    check(clip, 'The tiny random CLIP');
    const hash = await parameterHash(clip.stateDict());
    const warning =
      hash === rec.hash
        ? null
        : `The tiny random CLIP (seed ${rec.seed}) rebuilt on this device differs from the one the checkpoint was trained with in the last bits (random draws on another GPU); predictions may differ slightly. For exact results pick the CLIP files the trainer saved.`;
    return { clip, source: `the tiny random CLIP, seed ${rec.seed} (rebuilt)`, warning };
  }
  const clip = await clipFromFiles(weights, config, await loadTokenizer());
  check(clip, weights.name);
  const hash = rec.kind === 'file' ? await sha256Hex(weights.bytes) : await parameterHash(clip.stateDict());
  if (hash !== rec.hash) {
    clip.dispose();
    throw new PageError(
      `${weights.name} (sha256 ${hash.slice(0, 12)}…) is not the CLIP the checkpoint was trained with (${describeRecord(rec)}, sha256 ${rec.hash.slice(0, 12)}…). Give that CLIP, or a checkpoint trained with this one.`,
    );
  }
  return { clip, source: weights.name, warning: null };
}

/** Everything inference needs, loaded. */
export class InferenceSession {
  private constructor(
    readonly checkpoint: LoadedCheckpoint,
    readonly clip: ClipChoice,
    readonly encoders: FrozenEncoders,
    readonly faces: FacePipeline,
  ) {}

  static async open(checkpoint: LoadedCheckpoint, clip: ClipChoice): Promise<InferenceSession> {
    let landmarks: FaceLandmarkFeatures | null = null;
    let faces: FacePipeline | null = null;
    try {
      landmarks = await loadLandmarkFeatures();
      faces = await loadFacePipeline();
      return new InferenceSession(checkpoint, clip, new FrozenEncoders(clip.clip, landmarks, checkpoint.meta.clip, undefined, loadImageEmbedder), faces);
    } catch (e) {
      landmarks?.dispose();
      faces?.dispose();
      throw e;
    }
  }

  get classNames(): string[] {
    return this.checkpoint.meta.classNames;
  }

  /** The seed of the evaluation noise: the checkpoint's training seed (rng.seed), 0 if absent. */
  get noiseSeed(): number {
    const s = (this.checkpoint.meta.rng as { seed?: unknown }).seed;
    return typeof s === 'number' && Number.isInteger(s) && s >= 0 ? s : 0;
  }

  dispose(): void {
    this.checkpoint.model.dispose();
    this.encoders.dispose();
    this.faces.dispose();
  }
}

export interface DegradeChoice {
  kind: DegradationKind;
  /** 0 (mild) … 1 (severe); 0.5 is about the middle of the training ranges. */
  strength: number;
  /** The image's seed (its noise). */
  seed: number;
}

export interface InferOptions {
  degrade: DegradeChoice | null;
  /** Detect faces (true) or take the photo as one face crop (false). */
  detect: boolean;
  scoreThreshold: number;
  inputSize: number;
  /** Photos whose longer side is larger are scaled down to it first (0: never). */
  maxSide: number;
}

export const DEFAULT_INFER_OPTIONS: InferOptions = { degrade: null, detect: true, scoreThreshold: 0.5, inputSize: 416, maxSide: 960 };

export interface FaceResult {
  /** Detection score, box and landmarks in the processed photo's pixels (null with detection off). */
  score: number | null;
  box: FaceBox | null;
  landmarks: FacePoint[] | null;
  /** The S×S face LRDif saw. */
  face: RgbImage;
  probabilities: number[];
  top: string;
}

export interface InferTiming {
  part: string;
  ms: number;
}

export interface InferResult {
  /** The photo as processed (scaled, degraded). */
  image: RgbImage;
  scaled: boolean;
  degrade: { kind: DegradationKind; strength: number; seed: number; config: DegradeConfig } | null;
  faces: FaceResult[];
  classNames: string[];
  timings: InferTiming[];
  totalMs: number;
}

const lerp = (a: number, b: number, t: number) => a + (b - a) * t;
const logLerp = (a: number, b: number, t: number) => Math.exp(lerp(Math.log(a), Math.log(b), t));
const point = (v: number): [number, number] => [v, v];

/**
 * The degradation of one strength s ∈ [0, 1] for a photo whose shorter side is `shorterSide`
 * pixels, every range collapsed to one value (so only the noise is random).
 *
 * UDC: the display's diffraction PSF is fixed in the camera's pixels, not relative to the photo:
 * at s = 0.5 it is the 31-pixel kernel a 112-pixel training face gets (display.referenceSize =
 * the photo's shorter side), half that size at s = 0 and twice at s = 1 (log-scaled between);
 * transmission from the top of the training ranges (s = 0) to 0.6 × their bottom (s = 1),
 * photons 4000 → 250 (log), read noise 0.0005 → 0.006.
 * Low light: exposure 0.5 → 0.02 (log), gamma 1 → 1.6, photons 4000 → 100 (log), read noise
 * 0.001 → 0.015, no colour cast.
 */
export function degradeConfigFor(kind: DegradationKind, strength: number, shorterSide = DEFAULT_DISPLAY.referenceSize): DegradeConfig {
  if (!(strength >= 0 && strength <= 1)) throw new PageError(`the degradation strength must be between 0 and 1, got ${strength}`);
  const s = strength;
  if (kind === 'udc') {
    const hi = [0.35, 0.31, 0.27];
    const lo = [0.27, 0.23, 0.2];
    const psfScale = 2 ** (2 * s - 1);
    return resolveDegradeConfig('udc', {
      display: { referenceSize: Math.max(1, Math.round(shorterSide / psfScale)) },
      transmission: hi.map((h, c) => point(lerp(h, 0.6 * lo[c], s))),
      compensation: point(0.9),
      photons: point(logLerp(4000, 250, s)),
      readNoise: point(lerp(0.0005, 0.006, s)),
    });
  }
  return resolveDegradeConfig('lowlight', {
    exposure: point(logLerp(0.5, 0.02, s)),
    gamma: point(lerp(1, 1.6, s)),
    colourCast: { probability: 0, gains: [1, 1] },
    photons: point(logLerp(4000, 100, s)),
    readNoise: point(lerp(0.001, 0.015, s)),
  });
}

/** 8-bit RGB from a [1, 3, H, W] tensor in [0, 1] (rounded, clamped). */
async function toImage(x: Tensor): Promise<RgbImage> {
  return chwToImage((await x.data()) as Float32Array, x.shape[3], x.shape[2]);
}

/**
 * The photo scaled so its longer side is at most maxSide (0: kept), by area averaging on the CPU
 * (the same as Node's lrdif faces and predict): a phone photo of 12 megapixels or more would not
 * fit the GPU as one f32 tensor.
 */
export function scalePhoto(photo: RgbImage, maxSide: number): RgbImage {
  const { width, height } = fitSide(photo.width, photo.height, maxSide);
  return downscaleImage(photo, width, height);
}

/** The degraded photo, back in 8 bits. */
export async function degradePhoto(photo: RgbImage, d: DegradeChoice): Promise<{ image: RgbImage; config: DegradeConfig }> {
  const config = degradeConfigFor(d.kind, d.strength, Math.min(photo.width, photo.height));
  const y = noGrad(() =>
    tidy(() => {
      const x = imagesToTensor([photo]);
      return degradeBatch(x, d.kind, config, [d.seed]).images;
    }),
  );
  try {
    return { image: await toImage(y), config };
  } finally {
    y.dispose();
  }
}

/** The centre square of a photo resized to S×S, [1, 3, S, S] in [0, 1]. */
export function centreFace(photo: RgbImage, size: number): Tensor {
  const side = Math.min(photo.width, photo.height);
  const crop = cropRgbImage(photo, { x: Math.floor((photo.width - side) / 2), y: Math.floor((photo.height - side) / 2), width: side, height: side });
  return noGrad(() =>
    tidy(() => {
      const x = imagesToTensor([crop]);
      return side === size ? x : clamp(resize(x, size, size, MODEL_RESIZE), 0, 1);
    }),
  );
}

/** Runs the whole pipeline on one photo. */
export async function inferPhoto(session: InferenceSession, photo: RgbImage, opts: InferOptions): Promise<InferResult> {
  const ctx = engine.ctx;
  const timings: InferTiming[] = [];
  const t0 = performance.now();
  let mark = t0;
  const lap = async (part: string) => {
    await ctx.sync();
    const now = performance.now();
    timings.push({ part, ms: now - mark });
    mark = now;
  };
  const cfg = session.checkpoint.meta.config;
  const S = cfg.imageSize;
  const model = session.checkpoint.model;

  let image = scalePhoto(photo, opts.maxSide);
  const scaled = image !== photo;
  if (scaled) await lap('scale');
  let degradeInfo: InferResult['degrade'] = null;
  if (opts.degrade) {
    const d = await degradePhoto(image, opts.degrade);
    image = d.image;
    degradeInfo = { ...opts.degrade, config: d.config };
    await lap(opts.degrade.kind === 'udc' ? 'UDC simulation' : 'low-light simulation');
  }

  let batch: Tensor | null = null;
  // the faces again at the image encoder's own input size, when it has one that differs from S
  const emb = await session.encoders.imageEncoder(cfg.imageEncoder);
  const E = emb.inputSize ?? S;
  let encBatch: Tensor | null = null;
  let detections: Array<{ score: number; box: FaceBox; landmarks: FacePoint[] }> = [];
  const buf = RgbImageBuffer.upload([image]);
  try {
    if (opts.detect) {
      const faces = await session.faces.detectFaces(buf, { inputSize: opts.inputSize, scoreThreshold: opts.scoreThreshold, expressions: false, align: false });
      detections = faces.map((f) => ({ score: f.score, box: f.box, landmarks: f.landmarks }));
      await lap('face detection + landmarks');
      if (detections.length === 0) {
        return { image, scaled, degrade: degradeInfo, faces: [], classNames: session.classNames, timings, totalMs: performance.now() - t0 };
      }
      batch = alignFaces(
        buf,
        detections.map((d) => d.landmarks),
        { size: S },
      ).faces;
      if (E !== S)
        encBatch = alignFaces(
          buf,
          detections.map((d) => d.landmarks),
          { size: E },
        ).faces;
      await lap('alignment');
    } else {
      batch = centreFace(image, S);
      if (E !== S) encBatch = centreFace(image, E);
      await lap('face crop');
    }
  } finally {
    buf.dispose();
  }

  const F = batch.shape[0];
  const made: Tensor[] = [batch, ...(encBatch ? [encBatch] : [])];
  try {
    // the config's input normalisation (none, or per-image exposure) for everything the model sees
    const seen = modelImages(batch, { inputNorm: cfg.inputNorm });
    if (seen !== batch) made.push(seen);
    const encSeen = encBatch ? modelImages(encBatch, { inputNorm: cfg.inputNorm }) : seen;
    if (encSeen !== seen && encSeen !== encBatch) made.push(encSeen);
    const eImg = tensor(await emb.embed(encSeen), [F, emb.dim]);
    made.push(eImg);
    await lap(cfg.imageEncoder === 'clip' ? 'CLIP image embedding' : 'image embedding');
    const taps = session.encoders.taps(seen);
    made.push(...taps);
    await lap('landmark features');
    const g = Array.from({ length: F }, (_, i) => i);
    const noise = tensor(imageNoise(session.noiseSeed + 3, 0, g, cfg.priorDim), [F, cfg.priorDim]);
    made.push(noise);
    const x112 = imagenetNormalize(seen);
    made.push(x112);
    const p = model.predict({ x112, taps, eImg, noise });
    made.push(p);
    const probs = (await p.data()) as Float32Array;
    await lap(`${cfg.variant === 'lowlight' ? 'LLDif' : 'LRDif'} (T = ${cfg.timesteps} denoising steps + UDCformer)`);
    const faceData = (await batch.data()) as Float32Array;
    const K = cfg.numClasses;
    const per = 3 * S * S;
    const faces: FaceResult[] = Array.from({ length: F }, (_, i) => {
      const pr = Array.from(probs.subarray(i * K, (i + 1) * K));
      let best = 0;
      for (let k = 1; k < K; k++) if (pr[k] > pr[best]) best = k;
      const d = detections[i];
      return {
        score: d?.score ?? null,
        box: d?.box ?? null,
        landmarks: d?.landmarks ?? null,
        face: chwToImage(faceData.subarray(i * per, (i + 1) * per), S, S),
        probabilities: pr,
        top: session.classNames[best],
      };
    });
    return { image, scaled, degrade: degradeInfo, faces, classNames: session.classNames, timings, totalMs: performance.now() - t0 };
  } finally {
    for (const t of made) t.dispose();
  }
}
