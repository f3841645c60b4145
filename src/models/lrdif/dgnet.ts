/**
 * DGNet, the dynamic gated depthwise-conv feed-forward network (Restormer's GDFN with DiffIR's
 * prior modulation): F' = W₁Z ⊙ F + W₂Z; y = DWConv3×3(Conv1×1(F', C → 2h)); split in halves
 * y₁, y₂; out = Conv1×1(GELU(y₁) ⊙ y₂, h → C), h = ⌊expansion·C⌋. No biases.
 * Parameters: `mod.kernel.weight`, `projIn.weight`, `dw.weight`, `projOut.weight`.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { conv2d } from '../../kernels/conv.js';
import { gatedDepthwiseGelu } from '../../kernels/gdfn.js';
import type { Generator } from '../../kernels/random.js';
import { Conv2d } from '../../nn/conv2d.js';
import { Module } from '../../nn/module.js';
import { PriorModulation } from './modulation.js';
import { expectShape } from './layers.js';

/**
 * The gated FFN core, in one place: x [B, C, H, W] (modulated), projIn [2h, C, 1, 1], dwWeight
 * [2h, 1, 3, 3] → GELU(y₁) ⊙ y₂ with [y₁, y₂] = DWConv3×3(Conv1×1(x)) split along channels;
 * [B, h, H, W]. The depthwise conv, split and gate are the fused `gatedDepthwiseGelu`.
 */
export function gdfnCore(x: Tensor, projIn: Tensor, dwWeight: Tensor): Tensor {
  const h2 = projIn.shape[0];
  expectShape('gdfnCore', 'projIn weight', projIn, [h2, x.shape[1], 1, 1]);
  expectShape('gdfnCore', 'depthwise weight', dwWeight, [h2, 1, 3, 3]);
  return tidy(() => gatedDepthwiseGelu(conv2d(x, projIn), dwWeight));
}

export class DGNet extends Module {
  readonly hidden: number;
  readonly mod: PriorModulation;
  readonly projIn: Conv2d;
  readonly dw: Conv2d;
  readonly projOut: Conv2d;

  constructor(
    readonly width: number,
    expansion: number,
    priorDim: number,
    generator?: Generator,
  ) {
    super();
    this.hidden = Math.floor(width * expansion);
    if (this.hidden < 1) throw new Error(`lrdif: DGNet: hidden width ⌊${expansion}·${width}⌋ is empty`);
    const h2 = 2 * this.hidden;
    this.mod = this.registerModule('mod', new PriorModulation(priorDim, width, generator));
    this.projIn = this.registerModule('projIn', new Conv2d(width, h2, 1, { bias: false, generator }));
    this.dw = this.registerModule('dw', new Conv2d(h2, h2, 3, { padding: 1, groups: h2, bias: false, generator }));
    this.projOut = this.registerModule('projOut', new Conv2d(this.hidden, width, 1, { bias: false, generator }));
  }

  /**
   * x [B, width, H, W] (layer-normalised), z [B, C] → [B, width, H, W]; `residual` (that shape) is
   * added in the output projection's epilogue (the block's skip connection, no add of its own).
   */
  forward(x: Tensor, z: Tensor, residual?: Tensor): Tensor {
    expectShape('DGNet', 'input', x, [-1, this.width, -1, -1]);
    return tidy(() => this.projOut.forward(gdfnCore(this.mod.forward(x, z), this.projIn.weight, this.dw.weight), residual));
  }
}
