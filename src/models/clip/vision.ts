/**
 * CLIP's vision tower (Hugging Face CLIPVisionTransformer; OpenAI's VisionTransformer):
 * patch embedding (a conv with kernel = stride = patch and no bias, computed as patchify +
 * matmul), class token, position embedding, pre-LN, the transformer, post-LN on the class
 * token. The projection to the shared space lives in ClipModel.
 */
import { tidy } from '../../autograd/engine.js';
import type { GpuContext } from '../../gpu/context.js';
import type { Tensor } from '../../autograd/tensor.js';
import { add, broadcastTo } from '../../kernels/elementwise.js';
import { concat, narrow, permute } from '../../kernels/layout.js';
import { matmul } from '../../kernels/matmul.js';
import { reshape } from '../../kernels/shape.js';
import { LayerNorm } from '../../nn/layernorm.js';
import { Module } from '../../nn/module.js';
import { clipVisionTokens, type ClipVisionConfig } from './config.js';
import { ClipEmbeddingTable } from './embedding-table.js';
import { ClipEncoder } from './encoder.js';
import { initParam, type ClipInit } from './layers.js';

/** The patch conv's weight [width, 3, patch, patch] as a Hugging Face module (`patch_embedding.weight`). */
export class ClipPatchEmbedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly width: number,
    readonly patch: number,
    init: ClipInit,
  ) {
    super();
    this.weight = this.registerParameter('weight', initParam([width, 3, patch, patch], init, 1 / Math.sqrt(3 * patch * patch)));
  }

  /** pixels [N, 3, S, S] (S a multiple of the patch) -> [N, (S/patch)², width], patches in row-major order. */
  forward(pixels: Tensor): Tensor {
    const p = this.patch;
    const [N, C, S, S2] = pixels.shape;
    if (pixels.rank !== 4 || C !== 3 || S !== S2 || S % p !== 0) {
      throw new Error(`lrdif: CLIP patch embedding: pixels must be [N, 3, S, S] with S a multiple of ${p}, got ${pixels.describe()}`);
    }
    const g = S / p;
    return tidy(() => {
      const patches = reshape(permute(reshape(pixels, [N, 3, g, p, g, p]), [0, 2, 4, 1, 3, 5]), [N * g * g, 3 * p * p]);
      const y = matmul(patches, reshape(this.weight, [this.width, 3 * p * p]), { transB: true });
      return reshape(y, [N, g * g, this.width]);
    });
  }
}

export class ClipVisionEmbeddings extends Module {
  readonly class_embedding: Tensor;
  readonly patch_embedding: ClipPatchEmbedding;
  readonly position_embedding: ClipEmbeddingTable;

  constructor(
    readonly config: ClipVisionConfig,
    init: ClipInit,
    ctx: GpuContext,
  ) {
    super();
    const { width, patchSize } = config;
    this.class_embedding = this.registerParameter('class_embedding', initParam([width], init, 0.02));
    this.patch_embedding = this.registerModule('patch_embedding', new ClipPatchEmbedding(width, patchSize, init));
    this.position_embedding = this.registerModule('position_embedding', new ClipEmbeddingTable(clipVisionTokens(config), width, init, { ctx }));
  }

  /** pixels [N, 3, S, S] -> tokens [N, 1 + (S/patch)², width]: class token first, positions added. */
  forward(pixels: Tensor): Tensor {
    const S = this.config.imageSize;
    if (pixels.rank !== 4 || pixels.shape[1] !== 3 || pixels.shape[2] !== S || pixels.shape[3] !== S) {
      throw new Error(`lrdif: CLIP vision tower: pixels must be [N, 3, ${S}, ${S}] (the model's image size), got ${pixels.describe()}`);
    }
    const N = pixels.shape[0];
    const W = this.config.width;
    return tidy(() => {
      const patches = this.patch_embedding.forward(pixels);
      const cls = broadcastTo(reshape(this.class_embedding, [1, 1, W]), [N, 1, W]);
      return add(concat([cls, patches], 1), this.position_embedding.weight);
    });
  }
}

export class ClipVisionTransformer extends Module {
  readonly embeddings: ClipVisionEmbeddings;
  /** Hugging Face's spelling. */
  readonly pre_layrnorm: LayerNorm;
  readonly encoder: ClipEncoder;
  readonly post_layernorm: LayerNorm;

  constructor(
    readonly config: ClipVisionConfig,
    init: ClipInit,
    ctx: GpuContext,
  ) {
    super();
    this.embeddings = this.registerModule('embeddings', new ClipVisionEmbeddings(config, init, ctx));
    this.pre_layrnorm = this.registerModule('pre_layrnorm', new LayerNorm(config.width, { eps: config.eps }));
    this.encoder = this.registerModule('encoder', new ClipEncoder(config, init));
    this.post_layernorm = this.registerModule('post_layernorm', new LayerNorm(config.width, { eps: config.eps }));
  }

  /** pixels [N, 3, S, S] (CLIP-normalised) -> the pooled, post-LN class token [N, width]. */
  forward(pixels: Tensor): Tensor {
    const N = pixels.shape[0];
    return tidy(() => {
      const x = this.pre_layrnorm.forward(this.embeddings.forward(pixels));
      const h = this.encoder.forward(x);
      const cls = reshape(narrow(h, 1, 0, 1), [N, this.config.width]);
      return this.post_layernorm.forward(cls);
    });
  }
}
