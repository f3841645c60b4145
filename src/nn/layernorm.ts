/**
 * Layer normalisation (PyTorch nn.LayerNorm over the last axis of size `dim`), or with
 * `channels` over the channel axis of NCHW at every pixel (the LayerNorm of Restormer-style
 * image models).
 */
import type { Tensor } from '../autograd/tensor.js';
import { ones, zeros } from '../kernels/creation.js';
import { layerNorm, layerNormChannels } from '../kernels/layernorm.js';
import { Module } from './module.js';

export interface LayerNormOptions {
  eps?: number;
  /** Learnable per-feature scale (ones) and shift (zeros); default true. */
  affine?: boolean;
  /** Normalise over axis 1 of an [N, C, H, W] input instead of the last axis. */
  channels?: boolean;
}

export class LayerNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;
  readonly channels: boolean;

  constructor(
    readonly dim: number,
    options: LayerNormOptions = {},
  ) {
    super();
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`lrdif: LayerNorm: dim must be a positive integer, got ${dim}`);
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps >= 0)) throw new Error(`lrdif: LayerNorm: eps must be ≥ 0, got ${this.eps}`);
    this.channels = options.channels ?? false;
    const affine = options.affine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones([dim]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([dim]) : null);
  }

  forward(x: Tensor): Tensor {
    const axis = this.channels ? 1 : x.rank - 1;
    if (x.rank < 1 || x.shape[axis] !== this.dim) {
      throw new Error(
        `lrdif: LayerNorm(${this.dim}${this.channels ? ', channels' : ''}): input ${x.describe()} must have ${this.dim} features on its ${this.channels ? 'channel axis (1)' : 'last axis'}`,
      );
    }
    return this.channels ? layerNormChannels(x, this.weight, this.bias, this.eps) : layerNorm(x, this.weight, this.bias, this.eps);
  }
}
