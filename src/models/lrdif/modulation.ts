/**
 * The EPR conditioning of a dynamic transformer block branch (paper Eq. 2, DiffIR):
 * F' = W₁Z ⊙ F + W₂Z, with W₁ and W₂ bias-free Linear(C → width) stacked in one weight
 * `kernel.weight` [2·width, C] (rows 0…width−1 are W₁, the rest W₂), as DiffIR's `kernel`.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { add, mul } from '../../kernels/elementwise.js';
import { split } from '../../kernels/layout.js';
import { reshape } from '../../kernels/shape.js';
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
      const k = reshape(this.kernel.forward(z), [x.shape[0], 2 * this.width, 1, 1]);
      const [k1, k2] = split(k, 2, 1);
      return add(mul(x, k1), k2);
    });
  }
}
