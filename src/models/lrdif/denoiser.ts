/**
 * The denoiser ε_θ (DiffIR's denoise network): input Concat(Z_t, t/(10·T), c) of size 2C+1 →
 * Linear(2C+1 → W) → LeakyReLU → n × [Linear(W → W) → LeakyReLU] → Linear(W → C).
 * It predicts the noise (parameterisation 'eps') or the clean prior ('x0').
 * Parameters: `layers.{0…n+1}.{weight,bias}`.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { full } from '../../kernels/creation.js';
import { concat } from '../../kernels/layout.js';
import type { Generator } from '../../kernels/random.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { Sequential } from '../../nn/sequential.js';
import { expectShape, leakyLinear } from './layers.js';

export class Denoiser extends Module {
  readonly layers: Sequential;

  constructor(
    readonly priorDim: number,
    readonly width: number,
    readonly depth: number,
    readonly slope: number,
    generator?: Generator,
  ) {
    super();
    this.layers = this.registerModule('layers', new Sequential(new Linear(2 * priorDim + 1, width, { generator })));
    for (let i = 0; i < depth; i++) this.layers.append(new Linear(width, width, { generator }));
    this.layers.append(new Linear(width, priorDim, { generator }));
  }

  /** zt [B, C], timeFeature (the scalar t/(10·T), the same for the batch), c [B, C] → [B, C]. */
  forward(zt: Tensor, timeFeature: number, c: Tensor): Tensor {
    expectShape('Denoiser', 'Z_t', zt, [-1, this.priorDim]);
    expectShape('Denoiser', 'condition c', c, [zt.shape[0], this.priorDim]);
    if (!Number.isFinite(timeFeature)) throw new Error(`lrdif: Denoiser: the time feature must be finite, got ${timeFeature}`);
    return tidy(() => {
      let h = concat([zt, full([zt.shape[0], 1], timeFeature), c], 1);
      const n = this.layers.length;
      for (let i = 0; i < n - 1; i++) h = leakyLinear(h, this.layers.at(i) as Linear, this.slope);
      return this.layers.at(n - 1).forward(h);
    });
  }
}
