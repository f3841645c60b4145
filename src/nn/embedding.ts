/** Embedding table (PyTorch nn.Embedding): rows of a [num, dim] weight looked up by i32 ids; weights start N(0, 1). */
import type { Tensor } from '../autograd/tensor.js';
import { embedding } from '../kernels/indexing.js';
import { normalInit, resolveGenerator, type InitOptions } from './init.js';
import { Module } from './module.js';

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: InitOptions = {},
  ) {
    super();
    for (const [what, v] of [
      ['numEmbeddings', numEmbeddings],
      ['embeddingDim', embeddingDim],
    ] as const) {
      if (!Number.isInteger(v) || v < 0) throw new Error(`lrdif: Embedding: ${what} must be an integer ≥ 0, got ${v}`);
    }
    this.weight = this.registerParameter('weight', normalInit([numEmbeddings, embeddingDim], 1, resolveGenerator(options)));
  }

  /** ids: i32 of any shape; returns [...ids.shape, embeddingDim]. */
  forward(ids: Tensor): Tensor {
    return embedding(this.weight, ids);
  }
}
