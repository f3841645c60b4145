/**
 * CLIP's text tower (Hugging Face CLIPTextTransformer; OpenAI's encode_text without the
 * projection): token + position embeddings, the transformer under a causal mask, the final LN,
 * pooled at the end-of-text token of each row (see ClipTextPooling).
 */
import { keep, tidy } from '../../autograd/engine.js';
import { tensor, type Tensor } from '../../autograd/tensor.js';
import type { GpuContext } from '../../gpu/context.js';
import { add, broadcastTo } from '../../kernels/elementwise.js';
import { embedding, gather } from '../../kernels/indexing.js';
import { narrow } from '../../kernels/layout.js';
import { argmax } from '../../kernels/reduce.js';
import { reshape } from '../../kernels/shape.js';
import { LayerNorm } from '../../nn/layernorm.js';
import { Module } from '../../nn/module.js';
import { clipCausalMask } from './attention.js';
import type { ClipTextConfig } from './config.js';
import { ClipEmbeddingTable } from './embedding-table.js';
import { ClipEncoder } from './encoder.js';
import type { ClipInit } from './layers.js';

export class ClipTextEmbeddings extends Module {
  readonly token_embedding: ClipEmbeddingTable;
  readonly position_embedding: ClipEmbeddingTable;

  constructor(
    readonly config: ClipTextConfig,
    init: ClipInit,
    ctx: GpuContext,
    maxChunkBytes?: number,
  ) {
    super();
    this.token_embedding = this.registerModule('token_embedding', new ClipEmbeddingTable(config.vocabSize, config.width, init, { ctx, maxChunkBytes }));
    this.position_embedding = this.registerModule('position_embedding', new ClipEmbeddingTable(config.contextLength, config.width, init, { ctx, std: 0.01 }));
  }

  /** ids i32 [N, L] -> [N, L, width]. */
  forward(ids: Tensor): Tensor {
    const L = ids.shape[1];
    return tidy(() => {
      const pos = this.position_embedding.weight;
      return add(this.token_embedding.forward(ids), L === pos.shape[0] ? pos : narrow(pos, 0, 0, L));
    });
  }
}

export class ClipTextTransformer extends Module {
  readonly embeddings: ClipTextEmbeddings;
  readonly encoder: ClipEncoder;
  readonly final_layer_norm: LayerNorm;
  private readonly masks = new Map<number, Tensor>();
  private poolTable: Tensor | null = null;

  constructor(
    readonly config: ClipTextConfig,
    init: ClipInit,
    ctx: GpuContext,
    maxChunkBytes?: number,
  ) {
    super();
    this.embeddings = this.registerModule('embeddings', new ClipTextEmbeddings(config, init, ctx, maxChunkBytes));
    this.encoder = this.registerModule('encoder', new ClipEncoder(config, init));
    this.final_layer_norm = this.registerModule('final_layer_norm', new LayerNorm(config.width, { eps: config.eps }));
  }

  /** ids i32 [N, L] (L ≤ contextLength) -> the final-LN hidden state at each row's pooling position [N, width]. */
  forward(ids: Tensor): Tensor {
    const c = this.config;
    if (ids.dtype !== 'i32' || ids.rank !== 2 || ids.shape[1] < 1 || ids.shape[1] > c.contextLength) {
      throw new Error(`lrdif: CLIP text tower: ids must be i32 [N, L] with 1 ≤ L ≤ ${c.contextLength}, got ${ids.describe()}`);
    }
    const [N, L] = ids.shape;
    const W = c.width;
    const mask = this.mask(L);
    const table = this.table();
    return tidy(() => {
      const h = this.encoder.forward(this.embeddings.forward(ids), mask);
      // pooling position: the first maximum of a per-id score (1 at EOT, or the id itself)
      const score = reshape(embedding(table, ids), [N, L]);
      const at = broadcastTo(reshape(argmax(score, 1), [N, 1, 1]), [N, 1, W]);
      const pooled = reshape(gather(h, 1, at), [N, W]);
      return this.final_layer_norm.forward(pooled);
    });
  }

  private mask(L: number): Tensor {
    let m = this.masks.get(L);
    if (!m) {
      m = keep(clipCausalMask(L));
      this.masks.set(L, m);
    }
    return m;
  }

  /** [vocab, 1] f32: 1 at the EOT id ('eot' pooling) or the id itself ('argmax'). */
  private table(): Tensor {
    if (!this.poolTable) {
      const c = this.config;
      const t = new Float32Array(c.vocabSize);
      if (c.pooling === 'eot') t[c.eotTokenId] = 1;
      else for (let i = 0; i < t.length; i++) t[i] = i;
      this.poolTable = keep(tensor(t, [c.vocabSize, 1]));
    }
    return this.poolTable;
  }

  /** Frees the cached causal masks and pooling table (rebuilt on the next forward). */
  releaseCaches(): void {
    for (const m of this.masks.values()) m.dispose();
    this.masks.clear();
    this.poolTable?.dispose();
    this.poolTable = null;
  }

  override dispose(): void {
    this.releaseCaches();
    super.dispose();
  }
}
