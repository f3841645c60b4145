/**
 * Fusion of the three scales and the vanilla ViT (POSTER++'s fusion; spec "Fusion and head").
 *
 * x_i = Concat(F_i, X''_i) along channels; tokens: scale 1 → Conv3×3 s2 → Conv3×3 s2, scale 2 →
 * Conv3×3 s2, scale 3 → Conv1×1, each to width E (with biases, no activation between), so every
 * scale gives (S/16)² tokens; 3·(S/16)² tokens (147 for S = 112) after a CLS token, plus a
 * learned position embedding. Then `depth` pre-LN blocks x = x + MSA(LN(x)); x = x + MLP(LN(x))
 * (MLP: Linear(E → rE) → GELU → Linear(rE → E)), and a final LN; `forward` returns the CLS row.
 * Parameters: `embed1.{0,1}`, `embed2`, `embed3` (convs), `cls` [1, 1, E], `pos` [1, N+1, E]
 * (both N(0, 0.02²)), `blocks.{i}.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}`, `norm`.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { add, broadcastTo } from '../../kernels/elementwise.js';
import { concat, narrow, permute } from '../../kernels/layout.js';
import { linear } from '../../kernels/matmul.js';
import type { Generator } from '../../kernels/random.js';
import { reshape } from '../../kernels/shape.js';
import { Conv2d } from '../../nn/conv2d.js';
import { normalInit } from '../../nn/init.js';
import { LayerNorm } from '../../nn/layernorm.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import { Sequential } from '../../nn/sequential.js';
import { lrdifScales, type LrdifConfig } from './config.js';
import { DilMlp, windowAttentionCore } from './dilnetwork.js';
import type { DtFeatures } from './dtnetwork.js';
import { expectShape } from './layers.js';

/** Multi-head self-attention with a fused qkv projection (rows: q, k, v) and an output projection. */
export class FusionAttention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;

  constructor(
    readonly dim: number,
    readonly heads: number,
    generator?: Generator,
  ) {
    super();
    if (dim % heads !== 0) throw new Error(`lrdif: FusionAttention: width ${dim} is not a multiple of heads ${heads}`);
    this.qkv = this.registerModule('qkv', new Linear(dim, 3 * dim, { generator }));
    this.proj = this.registerModule('proj', new Linear(dim, dim, { generator }));
  }

  /** x [B, N, E] → [B, N, E]; `residual` (that shape) is added in the output projection's epilogue. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    expectShape('FusionAttention', 'tokens', x, [-1, -1, this.dim]);
    return tidy(() => {
      // q, k, v from their rows of the qkv weight (no split of the activations)
      const part = (i: number) => linear(x, narrow(this.qkv.weight, 0, i * this.dim, this.dim), narrow(this.qkv.bias!, 0, i * this.dim, this.dim));
      const o = windowAttentionCore(part(0), part(1), part(2), null, null, this.heads, 1 / Math.sqrt(this.dim / this.heads));
      return this.proj.forward(o, residual);
    });
  }
}

export class FusionBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: FusionAttention;
  readonly norm2: LayerNorm;
  readonly mlp: DilMlp;

  constructor(dim: number, heads: number, mlpRatio: number, generator?: Generator) {
    super();
    this.norm1 = this.registerModule('norm1', new LayerNorm(dim));
    this.attn = this.registerModule('attn', new FusionAttention(dim, heads, generator));
    this.norm2 = this.registerModule('norm2', new LayerNorm(dim));
    this.mlp = this.registerModule('mlp', new DilMlp(dim, Math.floor(dim * mlpRatio), generator));
  }

  forward(x: Tensor): Tensor {
    return tidy(() => {
      // each skip connection is added in its branch's last product (the epilogue, no add of its own)
      const h = this.attn.forward(this.norm1.forward(x), x);
      return this.mlp.forward(this.norm2.forward(h), h);
    });
  }
}

export class FusionViT extends Module {
  readonly embed1: Sequential;
  readonly embed2: Conv2d;
  readonly embed3: Conv2d;
  readonly cls: Tensor;
  readonly pos: Tensor;
  readonly blocks: Sequential;
  readonly norm: LayerNorm;
  readonly tokens: number;

  constructor(
    readonly config: LrdifConfig,
    generator?: Generator,
  ) {
    super();
    const E = config.embedDim;
    const { widths, tokens } = lrdifScales(config);
    const inC = widths.map((w, i) => w + config.dilDims[i]);
    const s2 = { stride: 2, padding: 1, generator };
    this.embed1 = this.registerModule('embed1', new Sequential(new Conv2d(inC[0], E, 3, s2), new Conv2d(E, E, 3, s2)));
    this.embed2 = this.registerModule('embed2', new Conv2d(inC[1], E, 3, s2));
    this.embed3 = this.registerModule('embed3', new Conv2d(inC[2], E, 1, { generator }));
    this.tokens = tokens;
    this.cls = this.registerParameter('cls', normalInit([1, 1, E], 0.02, generator));
    this.pos = this.registerParameter('pos', normalInit([1, tokens + 1, E], 0.02, generator));
    this.blocks = this.registerModule('blocks', new Sequential());
    for (let i = 0; i < config.fusionDepth; i++) this.blocks.append(new FusionBlock(E, config.fusionHeads, config.fusionMlpRatio, generator));
    this.norm = this.registerModule('norm', new LayerNorm(E));
  }

  /** The fused scales x_i = Concat(F_i, X''_i) → tokens [B, 1 + N, E] (CLS first, position embedding added). */
  embed(features: DtFeatures, dil: readonly [Tensor, Tensor, Tensor]): Tensor {
    const E = this.config.embedDim;
    return tidy(() => {
      const x = [concat([features.f1, dil[0]], 1), concat([features.f2, dil[1]], 1), concat([features.f3, dil[2]], 1)];
      const maps = [this.embed1.forward(x[0]), this.embed2.forward(x[1]), this.embed3.forward(x[2])];
      const B = maps[0].shape[0];
      const side = Math.sqrt(this.tokens / 3);
      maps.forEach((m, i) => expectShape('FusionViT', `scale ${i + 1} tokens`, m, [B, E, side, side]));
      // [B, E, s, s] → [B, s², E], scales one after another
      const toks = maps.map((m) => permute(reshape(m, [B, E, side * side]), [0, 2, 1]));
      const seq = concat([broadcastTo(this.cls, [B, 1, E]), ...toks], 1);
      return add(seq, this.pos);
    });
  }

  /** Token sequence [B, 1 + N, E] → the final-LN CLS feature [B, E]. */
  forward(tokens: Tensor): Tensor {
    expectShape('FusionViT', 'tokens', tokens, [-1, this.tokens + 1, this.config.embedDim]);
    return tidy(() => {
      let x = tokens;
      for (let i = 0; i < this.blocks.length; i++) x = this.blocks.at(i).forward(x);
      const cls = reshape(narrow(x, 1, 0, 1), [x.shape[0], this.config.embedDim]);
      return this.norm.forward(cls);
    });
  }
}
