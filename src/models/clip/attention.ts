/**
 * Multi-head self-attention of a CLIP transformer block (Hugging Face's CLIPAttention: separate
 * q/k/v/out projections with biases; OpenAI's fused in_proj is split into them on loading).
 * Scores are q·kᵀ/√d per head, plus an optional additive mask (the text tower's causal mask),
 * softmax over the keys.
 */
import { tidy } from '../../autograd/engine.js';
import { fmtShape, type Tensor } from '../../autograd/tensor.js';
import { tensor } from '../../autograd/tensor.js';
import { add, mulScalar } from '../../kernels/elementwise.js';
import { permute } from '../../kernels/layout.js';
import { matmul } from '../../kernels/matmul.js';
import { reshape } from '../../kernels/shape.js';
import { softmax } from '../../kernels/softmax.js';
import { Module } from '../../nn/module.js';
import { ClipLinear, type ClipInit } from './layers.js';

/** A large negative number instead of −∞ (exp of it minus the row max is exactly 0). */
const MASKED = -1e30;

/** The [L, L] additive causal mask: 0 on and below the diagonal, a large negative value above. */
export function clipCausalMask(length: number): Tensor {
  const m = new Float32Array(length * length);
  for (let i = 0; i < length; i++) for (let j = i + 1; j < length; j++) m[i * length + j] = MASKED;
  return tensor(m, [length, length]);
}

export class ClipAttention extends Module {
  readonly q_proj: ClipLinear;
  readonly k_proj: ClipLinear;
  readonly v_proj: ClipLinear;
  readonly out_proj: ClipLinear;
  readonly headDim: number;

  constructor(
    readonly width: number,
    readonly heads: number,
    init: ClipInit,
  ) {
    super();
    if (width % heads !== 0) throw new Error(`lrdif: ClipAttention: width ${width} is not a multiple of heads ${heads}`);
    this.headDim = width / heads;
    this.q_proj = this.registerModule('q_proj', new ClipLinear(width, width, init));
    this.k_proj = this.registerModule('k_proj', new ClipLinear(width, width, init));
    this.v_proj = this.registerModule('v_proj', new ClipLinear(width, width, init));
    this.out_proj = this.registerModule('out_proj', new ClipLinear(width, width, init));
  }

  /** x [B, L, width]; mask [L, L] added to the scores (optional). Returns [B, L, width]. */
  forward(x: Tensor, mask?: Tensor | null): Tensor {
    if (x.rank !== 3 || x.shape[2] !== this.width) {
      throw new Error(`lrdif: ClipAttention: input must be [batch, tokens, ${this.width}], got ${x.describe()}`);
    }
    const [B, L] = x.shape;
    if (mask && (mask.rank !== 2 || mask.shape[0] !== L || mask.shape[1] !== L)) {
      throw new Error(`lrdif: ClipAttention: mask must be [${L}, ${L}] for ${L} tokens, got ${fmtShape(mask.shape)}`);
    }
    const H = this.heads;
    const d = this.headDim;
    return tidy(() => {
      // [B, L, W] -> [B, H, L, d]
      const heads = (y: Tensor) => permute(reshape(y, [B, L, H, d]), [0, 2, 1, 3]);
      const q = heads(mulScalar(this.q_proj.forward(x), 1 / Math.sqrt(d)));
      const k = heads(this.k_proj.forward(x));
      const v = heads(this.v_proj.forward(x));
      let scores = matmul(q, k, { transB: true }); // [B, H, L, L]
      if (mask) scores = add(scores, mask);
      const o = matmul(softmax(scores, -1), v); // [B, H, L, d]
      return this.out_proj.forward(reshape(permute(o, [0, 2, 1, 3]), [B, L, this.width]));
    });
  }
}
