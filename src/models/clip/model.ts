/**
 * ClipModel: both towers and their projections (Hugging Face CLIPModel: `vision_model`,
 * `text_model`, `visual_projection`, `text_projection`, `logit_scale`). Frozen: its parameters
 * need no gradient and the encoders run under noGrad. Inputs are split into batch chunks so
 * that no activation outgrows one storage binding (e.g. ViT-L/14 at batch 32 on an adapter
 * with 128 MiB bindings).
 */
import { engine, noGrad, tidy } from '../../autograd/engine.js';
import { tensor, type Tensor } from '../../autograd/tensor.js';
import type { GpuContext } from '../../gpu/context.js';
import type { RgbImage } from '../../io/image.js';
import { concat, narrow } from '../../kernels/layout.js';
import { clipPreprocess, type ClipPreprocessOptions } from '../../kernels/resize.js';
import { Generator } from '../../kernels/random.js';
import { Module } from '../../nn/module.js';
import { validateClipConfig, clipVisionTokens, type ClipConfig } from './config.js';
import { ClipEmbeddingTable, maxClipBindingBytes } from './embedding-table.js';
import { ClipLinear, initParam, type ClipInit } from './layers.js';
import { ClipTextTransformer } from './text.js';
import type { ClipTokenizer } from './tokenizer.js';
import { ClipVisionTransformer } from './vision.js';

export interface ClipModelOptions {
  /** 'empty' (default): parameters uninitialised, to be loaded; 'random': seeded N(0, σ) weights (tests, benchmarks). */
  init?: 'empty' | 'random';
  seed?: number;
  /** Largest bytes of one token-embedding chunk (default: the device's storage-binding limit). */
  embeddingChunkBytes?: number;
  /** Largest bytes of one activation when splitting batches (default: the device's storage-binding limit). */
  activationBytes?: number;
  /** For encodeTexts. */
  tokenizer?: ClipTokenizer | null;
  ctx?: GpuContext;
}

/** How a loaded model was read (see loadClipFromReader). */
export interface ClipLoadInfo {
  file?: string;
  layout: 'huggingface' | 'openai';
  /** Where the sizes came from. */
  config: 'config.json' | 'open_clip_config.json' | 'inferred';
  /** Tensors of the file the model does not use (e.g. position_ids buffers). */
  ignored: string[];
}

/** ln(1/0.07), CLIP's initial logit scale. */
const LOGIT_SCALE_INIT = Math.log(1 / 0.07);

export class ClipModel extends Module {
  readonly vision_model: ClipVisionTransformer;
  readonly text_model: ClipTextTransformer;
  readonly visual_projection: ClipLinear;
  readonly text_projection: ClipLinear;
  /** ln of the temperature that scales cosine similarities into logits ([], as in the files). */
  readonly logit_scale: Tensor;
  tokenizer: ClipTokenizer | null;
  /** Set by the loader. */
  loadInfo: ClipLoadInfo | null = null;
  private readonly activationBytes: number;

  constructor(
    readonly config: ClipConfig,
    options: ClipModelOptions = {},
  ) {
    super();
    validateClipConfig(config);
    const ctx = options.ctx ?? engine.ctx;
    const mode = options.init ?? 'empty';
    if (mode !== 'empty' && mode !== 'random') throw new Error(`lrdif: ClipModel: init must be 'empty' or 'random', got ${JSON.stringify(mode)}`);
    const init: ClipInit = mode === 'empty' ? 'empty' : new Generator(options.seed ?? 0);
    this.activationBytes = options.activationBytes ?? maxClipBindingBytes(ctx);
    this.tokenizer = options.tokenizer ?? null;
    const P = config.projectionDim;
    this.vision_model = this.registerModule('vision_model', new ClipVisionTransformer(config.vision, init, ctx));
    this.text_model = this.registerModule('text_model', new ClipTextTransformer(config.text, init, ctx, options.embeddingChunkBytes));
    this.visual_projection = this.registerModule('visual_projection', new ClipLinear(config.vision.width, P, init, { bias: false }));
    this.text_projection = this.registerModule('text_projection', new ClipLinear(config.text.width, P, init, { bias: false }));
    this.logit_scale = this.registerParameter('logit_scale', init === 'empty' ? initParam([], 'empty', 0) : tensor([LOGIT_SCALE_INIT], []));
    this.requiresGrad_(false);
    this.eval();
  }

  /** Images per chunk so that the largest activation of one chunk fits in a binding. */
  private imageChunk(): number {
    const v = this.config.vision;
    const T = clipVisionTokens(v);
    const perImage = 4 * Math.max(T * v.mlpDim, v.heads * T * T, 3 * T * v.width, 3 * v.imageSize * v.imageSize);
    return Math.max(1, Math.floor(this.activationBytes / perImage));
  }

  private textChunk(L: number): number {
    const t = this.config.text;
    const perText = 4 * Math.max(L * t.mlpDim, t.heads * L * L, 3 * L * t.width);
    return Math.max(1, Math.floor(this.activationBytes / perText));
  }

  /** Runs `fn` on batch chunks of `x` (axis 0) and concatenates the results. */
  private chunked(x: Tensor, per: number, fn: (part: Tensor) => Tensor): Tensor {
    return noGrad(() => {
      const N = x.shape[0];
      if (N <= per) return tidy(() => fn(x));
      const parts: Tensor[] = [];
      try {
        for (let s = 0; s < N; s += per) parts.push(tidy(() => fn(narrow(x, 0, s, Math.min(per, N - s)))));
        return concat(parts, 0);
      } finally {
        for (const p of parts) p.dispose();
      }
    });
  }

  /**
   * Image features (Hugging Face get_image_features): pixels [N, 3, S, S], CLIP-normalised at
   * the model's image size S -> projected, unnormalised embeddings [N, P].
   */
  encodeImage(pixels: Tensor): Tensor {
    const S = this.config.vision.imageSize;
    if (pixels.dtype !== 'f32' || pixels.rank !== 4 || pixels.shape[1] !== 3 || pixels.shape[2] !== S || pixels.shape[3] !== S) {
      throw new Error(`lrdif: ClipModel.encodeImage: pixels must be f32 [N, 3, ${S}, ${S}] (CLIP-preprocessed at the model's image size), got ${pixels.describe()}`);
    }
    if (pixels.shape[0] === 0) return tensor([], [0, this.config.projectionDim]);
    return this.chunked(pixels, this.imageChunk(), (x) => this.visual_projection.forward(this.vision_model.forward(x)));
  }

  /**
   * Text features (Hugging Face get_text_features): token ids i32 [N, L], L ≤ the context
   * length (77), SOT … EOT and padding -> projected, unnormalised embeddings [N, P].
   */
  encodeText(ids: Tensor): Tensor {
    const ctxLen = this.config.text.contextLength;
    if (ids.dtype !== 'i32' || ids.rank !== 2 || ids.shape[1] < 1 || ids.shape[1] > ctxLen) {
      throw new Error(`lrdif: ClipModel.encodeText: ids must be i32 [N, L] with 1 ≤ L ≤ ${ctxLen}, got ${ids.describe()}`);
    }
    if (ids.shape[0] === 0) return tensor([], [0, this.config.projectionDim]);
    return this.chunked(ids, this.textChunk(ids.shape[1]), (x) => this.text_projection.forward(this.text_model.forward(x)));
  }

  /** Token ids [texts.length, contextLength] of the model's tokenizer, checked against the vocabulary. */
  tokenize(texts: readonly string[]): Int32Array {
    if (!this.tokenizer) throw new Error('lrdif: ClipModel: no tokenizer attached (pass one in the options or set model.tokenizer)');
    const { contextLength, vocabSize } = this.config.text;
    const ids = this.tokenizer.encodeBatch(texts, { contextLength });
    for (let i = 0; i < ids.length; i++) {
      if (ids[i] >= vocabSize) {
        const row = Math.floor(i / contextLength);
        throw new Error(
          `lrdif: ClipModel: the tokenizer gives id ${ids[i]} for ${JSON.stringify(texts[row])}, outside the model's vocabulary of ${vocabSize} (tokenizer and weights do not match)`,
        );
      }
    }
    return ids;
  }

  /**
   * Tokenizes and encodes texts -> [texts.length, P]. Only the first L tokens of every row are
   * run, L = 1 + the last pooling position of the batch: under the causal mask the pooled
   * token never sees the padding after it, so the result is encodeText's on the full rows.
   */
  encodeTexts(texts: readonly string[]): Tensor {
    const full = this.tokenize(texts);
    const C = this.config.text.contextLength;
    const L = Math.max(1, ...Array.from({ length: texts.length }, (_, i) => this.poolPosition(full.subarray(i * C, (i + 1) * C)) + 1));
    const trimmed = new Int32Array(texts.length * L);
    for (let i = 0; i < texts.length; i++) trimmed.set(full.subarray(i * C, i * C + L), i * L);
    const ids = tensor(trimmed, [texts.length, L], 'i32');
    try {
      return this.encodeText(ids);
    } finally {
      ids.dispose();
    }
  }

  /** Where the text tower pools a row of ids: the first EOT, or the first highest id (ClipTextPooling). */
  poolPosition(row: ArrayLike<number>): number {
    const t = this.config.text;
    let best = 0;
    for (let j = 0; j < row.length; j++) {
      if (t.pooling === 'eot' ? row[j] === t.eotTokenId : row[j] > row[best]) {
        best = j;
        if (t.pooling === 'eot') break;
      }
    }
    return best;
  }

  /** CLIP's image preprocessing at the model's image size: [N, 3, S, S]. */
  preprocess(images: readonly RgbImage[], options: ClipPreprocessOptions = {}): Tensor {
    return clipPreprocess(images, this.config.vision.imageSize, options);
  }

  /** Preprocesses and encodes 8-bit RGB images -> [N, P]. */
  encodeImages(images: readonly RgbImage[], options: ClipPreprocessOptions = {}): Tensor {
    const px = this.preprocess(images, options);
    try {
      return this.encodeImage(px);
    } finally {
      px.dispose();
    }
  }

  /** Frees the parameters and the towers' cached tables (Module.dispose frees tensors, not caches). */
  override dispose(): void {
    for (const [, m] of this.namedModules()) {
      if (m instanceof ClipTextTransformer || m instanceof ClipEmbeddingTable) m.releaseCaches();
    }
    super.dispose();
  }

  /** Same as encodeImage. */
  forward(pixels: Tensor): Tensor {
    return this.encodeImage(pixels);
  }
}
