/**
 * The frozen encoders of LRDif (browser-safe): CLIP's image and text towers and face-api's
 * landmark feature extractor, with the embedding cache.
 *
 * - e_img: CLIP image embedding of the (degraded, un-augmented) S×S face, L2-normalised. The
 *   CLIP input is made from the S×S [0, 1] tensor the training pipeline sees: resized to CLIP's
 *   size with an antialiased bicubic filter (a square face crop: shortest-side resize and centre
 *   crop are the same), clamped to [0, 1], CLIP mean/std.
 * - e_txt: CLIP text embedding of "a photo of a {class} looking face." per class, L2-normalised.
 * - landmark taps: computed without gradients on the degraded (un-erased) images and kept in
 *   memory for the run per image and flip (the pipeline's `LandmarkTapCache`): the random erasing
 *   reaches only the UDCformer's input, so a tap depends on the image and the flip alone.
 *
 * - or e_img from another frozen image encoder (config `imageEncoder`): face-api's
 *   FaceExpressionNet, a pretrained face-expression network (`FaceExpressionEmbedder`): the
 *   pooled 256-d features of its extractor on the 112×112 face (read at 112 px whatever the
 *   model's input size), L2-normalised. It is loaded on
 *   demand (`FrozenEncoders.imageEncoder`) through the loader the platform gives.
 *
 * Embeddings are cached in an `EmbeddingStore` under keys that hash the encoder's weights and the
 * content (image bytes and every transform; the prompt): a cached value is never stale.
 */
import { noGrad, tidy } from '../autograd/engine.js';
import { tensor, type Tensor } from '../autograd/tensor.js';
import { add, clamp, mul } from '../kernels/elementwise.js';
import { resize, CLIP_MEAN, CLIP_STD } from '../kernels/resize.js';
import { adaptiveAvgPool2d } from '../kernels/pool.js';
import { ClipModel } from '../models/clip/model.js';
import { clipConfigToHuggingFace, type ClipConfig } from '../models/clip/config.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import type { ClipTokenizer } from '../models/clip/tokenizer.js';
import type { LandmarkTaps } from '../models/lrdif/dilnetwork.js';
import type { LrdifImageEncoder } from '../models/lrdif/config.js';
import { FACEAPI_EXPRESSION_DIM } from '../models/lrdif/config.js';
import type { FaceExpressionNet } from '../models/faceapi/expression-net.js';
import { Module } from '../nn/module.js';

/** What the landmark extractor must offer (face-api's `FaceLandmarkFeatures` does). */
export interface LandmarkExtractor {
  /** x [N, 3, 112, 112] RGB in [0, 1] → [f28, f14, f7], without gradients. */
  landmarkFeatureTaps(x: Tensor): [Tensor, Tensor, Tensor];
  dispose(): void;
}

/** Side of the landmark extractor's input (face-api's 112). */
export const LANDMARK_INPUT = 112;

/** A key → vector cache of frozen-encoder outputs. */
export interface EmbeddingStore {
  get(key: string): Float32Array | undefined;
  set(key: string, value: Float32Array): void;
  readonly size: number;
}

export class MemoryEmbeddingStore implements EmbeddingStore {
  private readonly map = new Map<string, Float32Array>();
  get(key: string): Float32Array | undefined {
    return this.map.get(key);
  }
  set(key: string, value: Float32Array): void {
    this.map.set(key, value);
  }
  get size(): number {
    return this.map.size;
  }
}

/**
 * Where the CLIP weights came from (recorded in checkpoints so eval and predict use the same):
 * a file (hash: SHA-256 of the weights file), or the tiny random CLIP (hash: `parameterHash`
 * of its parameters; `path`, when set, a folder where a copy was saved, since another GPU may
 * draw the random weights differently in the last bits).
 */
export type ClipRecord =
  | { kind: 'random-tiny'; seed: number; hash: string; projectionDim: number; imageSize: number; path?: string }
  | { kind: 'file'; path: string; hash: string; projectionDim: number; imageSize: number };

/** The prompt of a class (the spec's). */
export function classPrompt(name: string): string {
  return `a photo of a ${name} looking face.`;
}

/**
 * The tiny random CLIP of the spec's `tiny` config: both towers width 32, 2 layers, 2 heads,
 * MLP 128, QuickGELU; 32×32 images in 8×8 patches; projection P = 32; OpenAI's vocabulary and
 * context length (so the real tokenizer works); seeded N(0, σ) weights.
 */
export const TINY_CLIP_CONFIG: ClipConfig = Object.freeze({
  vision: { imageSize: 32, patchSize: 8, width: 32, layers: 2, heads: 2, mlpDim: 128, act: 'quick_gelu', eps: 1e-5 },
  text: { vocabSize: 49408, contextLength: 77, width: 32, layers: 2, heads: 2, mlpDim: 128, act: 'quick_gelu', eps: 1e-5, pooling: 'eot', eotTokenId: 49407 },
  projectionDim: 32,
}) as ClipConfig;

export function tinyRandomClip(seed: number, tokenizer: ClipTokenizer): ClipModel {
  return new ClipModel(
    { vision: { ...TINY_CLIP_CONFIG.vision }, text: { ...TINY_CLIP_CONFIG.text }, projectionDim: TINY_CLIP_CONFIG.projectionDim },
    { init: 'random', seed, tokenizer },
  );
}

/**
 * A CLIP model as the two files of a Hugging Face folder: `model.safetensors` entries (F32,
 * Hugging Face names, the token table in one piece) and the `config.json` object.
 */
export async function clipToHuggingFace(clip: ClipModel): Promise<{ entries: SafetensorsEntry[]; config: Record<string, unknown> }> {
  const entries: SafetensorsEntry[] = [];
  const table = clip.text_model.embeddings.token_embedding;
  let tableDone = false;
  for (const [name, t] of clip.stateDict()) {
    if (/^text_model\.embeddings\.token_embedding\.weight(_chunk\d+)?$/.test(name)) {
      if (tableDone) continue;
      tableDone = true;
      const all = new Float32Array(table.rows * table.dim);
      for (let i = 0; i < table.chunks.length; i++) all.set((await table.chunks[i].data()) as Float32Array, table.starts[i] * table.dim);
      entries.push({ name: 'text_model.embeddings.token_embedding.weight', dtype: 'F32', shape: [table.rows, table.dim], data: all });
      continue;
    }
    entries.push({ name, dtype: 'F32', shape: [...t.shape], data: new Float32Array((await t.data()) as Float32Array) });
  }
  return { entries, config: clipConfigToHuggingFace(clip.config) };
}

/** Hex SHA-256 (WebCrypto: browsers and Node ≥ 20). */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A hash of a model's parameter values (names, shapes and bytes, in state-dict order). */
export async function parameterHash(state: Map<string, Tensor>): Promise<string> {
  const parts: string[] = [];
  for (const [name, t] of state) {
    const data = (await t.data()) as Float32Array | Int32Array;
    parts.push(`${name}:${t.shape.join('x')}:${await sha256Hex(new Uint8Array(data.buffer, data.byteOffset, data.byteLength))}`);
  }
  return sha256Hex(parts.join('\n'));
}

/** Rows scaled to unit L2 norm (float64 sums), in place; returns the array. */
export function l2NormalizeRows(v: Float32Array, width: number): Float32Array {
  for (let i = 0; i < v.length; i += width) {
    let s = 0;
    for (let j = 0; j < width; j++) s += v[i + j] * v[i + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < width; j++) v[i + j] *= inv;
  }
  return v;
}

/** A frozen image encoder giving e_img (CLIP's image tower, or face-api's expression net). */
export interface ImageEmbedder {
  readonly kind: LrdifImageEncoder;
  /** Width of its e_img. */
  readonly dim: number;
  /**
   * The side of the images it is given (the embedding table reads the images at this size), or
   * undefined for the model's input size (CLIP: its own preprocessing resizes from there).
   */
  readonly inputSize?: number;
  /** A hash of its weights: part of every cache key of its embeddings. */
  readonly hash: string;
  /** Where its embeddings are cached (rows of `dim` values). */
  readonly store: EmbeddingStore;
  /** L2-normalised embeddings [N·dim] (host) of images x [N, 3, S, S] in [0, 1]. */
  embed(x01: Tensor): Promise<Float32Array>;
}

/**
 * face-api's FaceExpressionNet as E_I: the pooled 256-d features of its extractor (the input of
 * its own 7-way classifier) for the face resized to its 112×112 input (antialiased bilinear, as
 * for the landmark taps), L2-normalised.
 */
export class FaceExpressionEmbedder implements ImageEmbedder {
  readonly kind = 'faceapi-expression' as const;
  readonly dim = FACEAPI_EXPRESSION_DIM;
  /** Its native 112×112 input: the faces are read at that size, not at the model's (a 32-px face loses the expression's fine lines). */
  readonly inputSize = LANDMARK_INPUT;

  constructor(
    readonly net: FaceExpressionNet,
    readonly hash: string,
    readonly store: EmbeddingStore = new MemoryEmbeddingStore(),
  ) {}

  /** Features [N, 256] (GPU, not normalised) of images x [N, 3, S, S] in [0, 1]. */
  features(x01: Tensor): Tensor {
    return noGrad(() =>
      tidy(() => {
        const x =
          x01.shape[2] === LANDMARK_INPUT && x01.shape[3] === LANDMARK_INPUT
            ? x01
            : clamp(resize(x01, LANDMARK_INPUT, LANDMARK_INPUT, { mode: 'bilinear', antialias: true }), 0, 1);
        return this.net.extractor.forward(x);
      }),
    );
  }

  async embed(x01: Tensor): Promise<Float32Array> {
    const f = this.features(x01);
    try {
      return l2NormalizeRows(new Float32Array((await f.data()) as Float32Array), this.dim);
    } finally {
      f.dispose();
    }
  }

  dispose(): void {
    this.net.dispose();
  }
}

/** Builds an image encoder other than CLIP (Node reads face-api's weights from its package, a page fetches them). */
export type ImageEmbedderLoader = (kind: Exclude<LrdifImageEncoder, 'clip'>) => Promise<ImageEmbedder & { dispose(): void }>;

export class FrozenEncoders {
  private readonly others = new Map<LrdifImageEncoder, ImageEmbedder & { dispose(): void }>();

  constructor(
    readonly clip: ClipModel,
    readonly landmarks: LandmarkExtractor,
    readonly clipRecord: ClipRecord,
    readonly store: EmbeddingStore = new MemoryEmbeddingStore(),
    /** How to build the image encoders other than CLIP, when a config asks for one. */
    readonly loadImageEmbedder: ImageEmbedderLoader | null = null,
  ) {}

  /** Every embedding cache in use (CLIP's and those of the other image encoders loaded). */
  stores(): EmbeddingStore[] {
    return [this.store, ...[...this.others.values()].map((e) => e.store)];
  }

  /** CLIP's image tower as an ImageEmbedder (its cache is `store`, its hash the CLIP's). */
  get clipImageEmbedder(): ImageEmbedder {
    return { kind: 'clip', dim: this.projectionDim, hash: this.clipRecord.hash, store: this.store, embed: (x) => this.imageEmbeddings(x) };
  }

  /** The image encoder E_I of a config (CLIP, or one built once through `loadImageEmbedder`). */
  async imageEncoder(kind: LrdifImageEncoder): Promise<ImageEmbedder> {
    if (kind === 'clip') return this.clipImageEmbedder;
    const hit = this.others.get(kind);
    if (hit) return hit;
    if (!this.loadImageEmbedder) throw new Error(`lrdif: the image encoder '${kind}' is not available here (no loader for it was given)`);
    const e = await this.loadImageEmbedder(kind);
    this.others.set(kind, e);
    return e;
  }

  get projectionDim(): number {
    return this.clip.config.projectionDim;
  }

  /** Parameters of the frozen encoders (CLIP and the landmark extractor, when it is a module). */
  parameterCount(): number {
    const count = (m: unknown) => (m instanceof Module ? m.parameters().reduce((s, p) => s + p.size, 0) : 0);
    const lm = this.landmarks as LandmarkExtractor & { extractor?: unknown };
    const others = [...this.others.values()].reduce((a, e) => a + count((e as { net?: unknown }).net), 0);
    return count(this.clip) + count(lm.extractor ?? lm) + others;
  }

  /** The frozen networks in use, by name (for messages). */
  names(): string[] {
    return ['CLIP', 'face-api landmarks', ...[...this.others.keys()].map((k) => (k === 'faceapi-expression' ? 'face-api expression' : k))];
  }

  /** CLIP's input [N, 3, s, s] from images x [N, 3, S, S] in [0, 1]. */
  clipInput(x01: Tensor): Tensor {
    const s = this.clip.config.vision.imageSize;
    return noGrad(() =>
      tidy(() => {
        let x = x01;
        if (x.shape[2] !== s || x.shape[3] !== s) x = clamp(resize(x01, s, s, { mode: 'bicubic', antialias: true }), 0, 1);
        const scale = tensor(
          CLIP_STD.map((v) => 1 / v),
          [1, 3, 1, 1],
        );
        const shift = tensor(
          CLIP_MEAN.map((m, c) => -m / CLIP_STD[c]),
          [1, 3, 1, 1],
        );
        return add(mul(x, scale), shift);
      }),
    );
  }

  /** L2-normalised CLIP image embeddings [N·P] (host) of images x [N, 3, S, S] in [0, 1]. */
  async imageEmbeddings(x01: Tensor): Promise<Float32Array> {
    const e = noGrad(() =>
      tidy(() => {
        const px = this.clipInput(x01);
        return this.clip.encodeImage(px);
      }),
    );
    try {
      return l2NormalizeRows(new Float32Array((await e.data()) as Float32Array), this.projectionDim);
    } finally {
      e.dispose();
    }
  }

  /** L2-normalised text embeddings of the class prompts [K·P] (host), cached. */
  async textEmbeddings(classNames: readonly string[]): Promise<Float32Array> {
    const P = this.projectionDim;
    const out = new Float32Array(classNames.length * P);
    const missing: number[] = [];
    const keys = await Promise.all(classNames.map((c) => sha256Hex(`text|${this.clipRecord.hash}|${classPrompt(c)}`)));
    keys.forEach((k, i) => {
      const v = this.store.get(k);
      if (v && v.length === P) out.set(v, i * P);
      else missing.push(i);
    });
    if (missing.length) {
      const e = this.clip.encodeTexts(missing.map((i) => classPrompt(classNames[i])));
      const data = l2NormalizeRows(new Float32Array((await e.data()) as Float32Array), P);
      e.dispose();
      missing.forEach((i, r) => {
        const row = data.slice(r * P, (r + 1) * P);
        out.set(row, i * P);
        this.store.set(keys[i], row);
      });
    }
    return out;
  }

  /**
   * Landmark taps of images x [N, 3, S, S] in [0, 1] (no gradients): [N, 64, S/4, S/4],
   * [N, 128, S/8, S/8], [N, 256, S/16, S/16]. The extractor takes 112×112 faces; for another S
   * (smaller test configs) the images are resized to 112 (antialiased bilinear) and the taps
   * average-pooled to the config's scales (PyTorch's adaptive bins).
   */
  taps(x01: Tensor): LandmarkTaps {
    const S = x01.shape[2];
    if (S === LANDMARK_INPUT) return this.landmarks.landmarkFeatureTaps(x01);
    return noGrad(() =>
      tidy(() => {
        const x = clamp(resize(x01, LANDMARK_INPUT, LANDMARK_INPUT, { mode: 'bilinear', antialias: true }), 0, 1);
        const t = this.landmarks.landmarkFeatureTaps(x);
        return [adaptiveAvgPool2d(t[0], S / 4), adaptiveAvgPool2d(t[1], S / 8), adaptiveAvgPool2d(t[2], S / 16)] as [Tensor, Tensor, Tensor];
      }),
    );
  }

  dispose(): void {
    this.clip.dispose();
    this.landmarks.dispose();
    for (const e of this.others.values()) e.dispose();
    this.others.clear();
  }
}
