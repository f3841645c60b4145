/**
 * The transformer of both CLIP towers: N pre-LN residual blocks,
 *   x = x + attn(LN1(x)),  x = x + MLP(LN2(x)),
 * named as Hugging Face's CLIPEncoder (`layers.N.layer_norm1`, `self_attn`, `layer_norm2`, `mlp`).
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { add } from '../../kernels/elementwise.js';
import { LayerNorm } from '../../nn/layernorm.js';
import { Module } from '../../nn/module.js';
import { ClipAttention } from './attention.js';
import type { ClipActivation } from './config.js';
import { ClipMlp, type ClipInit } from './layers.js';

export interface ClipEncoderSizes {
  width: number;
  layers: number;
  heads: number;
  mlpDim: number;
  act: ClipActivation;
  eps: number;
}

export class ClipEncoderLayer extends Module {
  readonly layer_norm1: LayerNorm;
  readonly self_attn: ClipAttention;
  readonly layer_norm2: LayerNorm;
  readonly mlp: ClipMlp;

  constructor(s: ClipEncoderSizes, init: ClipInit) {
    super();
    this.layer_norm1 = this.registerModule('layer_norm1', new LayerNorm(s.width, { eps: s.eps }));
    this.self_attn = this.registerModule('self_attn', new ClipAttention(s.width, s.heads, init));
    this.layer_norm2 = this.registerModule('layer_norm2', new LayerNorm(s.width, { eps: s.eps }));
    this.mlp = this.registerModule('mlp', new ClipMlp(s.width, s.mlpDim, s.act, init));
  }

  /** x [B, L, width] -> [B, L, width]; `mask` as in ClipAttention. */
  forward(x: Tensor, mask?: Tensor | null): Tensor {
    return tidy(() => {
      const h = add(x, this.self_attn.forward(this.layer_norm1.forward(x), mask));
      return add(h, this.mlp.forward(this.layer_norm2.forward(h)));
    });
  }
}

/** The blocks, named 0, 1, … */
export class ClipLayerStack extends Module {
  readonly blocks: ClipEncoderLayer[] = [];

  constructor(s: ClipEncoderSizes, init: ClipInit) {
    super();
    for (let i = 0; i < s.layers; i++) this.blocks.push(this.registerModule(String(i), new ClipEncoderLayer(s, init)));
  }

  forward(x: Tensor, mask?: Tensor | null): Tensor {
    let y = x;
    for (const b of this.blocks) {
      const next = b.forward(y, mask);
      if (y !== x) y.dispose();
      y = next;
    }
    // no blocks: a new handle on the input, so the caller may dispose the result either way
    return y === x ? x.view(x.shape) : y;
  }
}

export class ClipEncoder extends Module {
  readonly layers: ClipLayerStack;

  constructor(
    readonly sizes: ClipEncoderSizes,
    init: ClipInit,
  ) {
    super();
    this.layers = this.registerModule('layers', new ClipLayerStack(sizes, init));
  }

  forward(x: Tensor, mask?: Tensor | null): Tensor {
    return this.layers.forward(x, mask);
  }
}
