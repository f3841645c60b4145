/**
 * The EPR conditioning of a dynamic transformer block branch (paper Eq. 2, DiffIR):
 * F' = W₁Z ⊙ F + W₂Z, with W₁ and W₂ bias-free Linear(C → width) stacked in one weight
 * `kernel.weight` [2·width, C] (rows 0…width−1 are W₁, the rest W₂), as DiffIR's `kernel`.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { conv2d } from '../../kernels/conv.js';
import { narrow } from '../../kernels/layout.js';
import { linear } from '../../kernels/matmul.js';
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
    const [B, C, H, W] = x.shape;
    return tidy(() => {
      // one product for both halves, then the small [B, 2C] result split: fewer dispatches than
      // splitting the weight (two narrows, two products, and in backward two of each plus a sum)
      const k = linear(z, this.kernel.weight);
      const k1 = narrow(k, 1, 0, C);
      const k2 = narrow(k, 1, C, C);
      // x·k1 + k2 per (sample, channel) as one depthwise 1×1 convolution over the B·C channels
      // of x viewed [1, B·C, H, W] (weight k1, bias k2): one pass, and its backward gives
      // dx, Σ g·x and Σ g without broadcasting
      const y = conv2d(reshape(x, [1, B * C, H, W]), reshape(k1, [B * C, 1, 1, 1]), reshape(k2, [B * C]), { groups: B * C });
      return reshape(y, [B, C, H, W]);
    });
  }
}
