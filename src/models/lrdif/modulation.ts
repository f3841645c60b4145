/**
 * The EPR conditioning of a dynamic transformer block branch (paper Eq. 2, DiffIR):
 * F' = W₁Z ⊙ F + W₂Z, with W₁ and W₂ bias-free Linear(C → width) stacked in one weight
 * `kernel.weight` [2·width, C] (rows 0…width−1 are W₁, the rest W₂), as DiffIR's `kernel`.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { channelAffine } from '../../kernels/channel-affine.js';
import { linear } from '../../kernels/matmul.js';
import type { Generator } from '../../kernels/random.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { expectShape } from './layers.js';

export class PriorModulation extends Module {
  readonly kernel: Linear;

  constructor(
    readonly priorDim: number,
    readonly width: number,
    generator?: Generator,
  ) {
    super();
    this.kernel = this.registerModule('kernel', new Linear(priorDim, 2 * width, { bias: false, generator }));
  }

  /** x [B, width, H, W] (already layer-normalised), z [B, C] → W₁z ⊙ x + W₂z. */
  forward(x: Tensor, z: Tensor): Tensor {
    expectShape('PriorModulation', 'feature map', x, [-1, this.width, -1, -1]);
    expectShape('PriorModulation', 'prior Z', z, [x.shape[0], this.priorDim]);
    return tidy(() => {
      // one product for both halves, k = [W₁z, W₂z] [B, 2C], read in place by the affine map
      // (no slices of k; its backward writes dk whole): x·k[:, :C] + k[:, C:] per (sample,
      // channel) in one pass, and in backward dx and dk in two
      return channelAffine(x, linear(z, this.kernel.weight));
    });
  }
}
