/**
 * DMNet, the dynamic multi-head transposed attention of the DTnetwork (Restormer's MDTA with
 * DiffIR's prior modulation): F' = W₁Z ⊙ F + W₂Z; qkv = DWConv3×3(Conv1×1(F', C → 3C));
 * per head, A = softmax(q̂·k̂ᵀ·temperature_h) over c×c (q̂, k̂ L2-normalised along the pixels);
 * out = Conv1×1(A·v). No biases; temperature [heads] starts at 1.
 * Parameters: `mod.kernel.weight`, `qkv.weight`, `qkvDw.weight`, `temperature`, `projOut.weight`.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { ones } from '../../kernels/creation.js';
import { channelAttention, channelAttentionPacked } from '../../kernels/channel-attention.js';
import { reshape } from '../../kernels/shape.js';
import type { Generator } from '../../kernels/random.js';
import { Conv2d } from '../../nn/conv2d.js';
import { Module } from '../../nn/module.js';
import { PriorModulation } from './modulation.js';
import { expectShape } from './layers.js';

/**
 * The attention core, in one place: q, k, v [B, heads, c, H·W], temperature [heads] →
 * softmax(normalize(q)·normalize(k)ᵀ·temperature)·v, [B, heads, c, H·W]. The fused kernel
 * (src/kernels/channel-attention.ts).
 */
export function dmnetCore(q: Tensor, k: Tensor, v: Tensor, temperature: Tensor): Tensor {
  return channelAttention(q, k, v, temperature);
}

/** `dmnetCore` on q, k and v packed as qkv [B, 3, heads, c, H·W]. */
export function dmnetCorePacked(qkv: Tensor, temperature: Tensor): Tensor {
  return channelAttentionPacked(qkv, temperature);
}

export class DMNet extends Module {
  readonly mod: PriorModulation;
  readonly qkv: Conv2d;
  readonly qkvDw: Conv2d;
  readonly temperature: Tensor;
  readonly projOut: Conv2d;

  constructor(
    readonly width: number,
    readonly heads: number,
    priorDim: number,
    generator?: Generator,
  ) {
    super();
    if (width % heads !== 0) throw new Error(`lrdif: DMNet: width ${width} is not a multiple of heads ${heads}`);
    this.mod = this.registerModule('mod', new PriorModulation(priorDim, width, generator));
    this.qkv = this.registerModule('qkv', new Conv2d(width, 3 * width, 1, { bias: false, generator }));
    this.qkvDw = this.registerModule('qkvDw', new Conv2d(3 * width, 3 * width, 3, { padding: 1, groups: 3 * width, bias: false, generator }));
    this.temperature = this.registerParameter('temperature', ones([heads]));
    this.projOut = this.registerModule('projOut', new Conv2d(width, width, 1, { bias: false, generator }));
  }

  /**
   * x [B, width, H, W] (layer-normalised), z [B, C] → [B, width, H, W]; `residual` (that shape) is
   * added in the output projection's epilogue (the block's skip connection, no add of its own).
   */
  forward(x: Tensor, z: Tensor, residual?: Tensor): Tensor {
    expectShape('DMNet', 'input', x, [-1, this.width, -1, -1]);
    const [B, C, H, W] = x.shape;
    const c = C / this.heads;
    return tidy(() => {
      const xm = this.mod.forward(x, z);
      // q, k and v in one 1×1 and one depthwise convolution over all 3C channels, attended
      // packed: one gradient for the three, written side by side
      const qkv = this.qkvDw.forward(this.qkv.forward(xm));
      const o = dmnetCorePacked(reshape(qkv, [B, 3, this.heads, c, H * W]), this.temperature);
      return this.projOut.forward(reshape(o, [B, C, H, W]), residual);
    });
  }
}
