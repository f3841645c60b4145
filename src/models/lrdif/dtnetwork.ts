/**
 * DTnetwork: a Restormer encoder–decoder whose every transformer block is conditioned on the
 * EPR Z (paper §3.1, spec "DTnetwork").
 *
 *   stem      Conv3×3 stride 2, 3 → d                         112² → 56² × d
 *   encoder1  blocks[0] × block(d, heads[0])                   56² × d
 *   down1     Conv3×3 d → d/2 + PixelUnshuffle(2)              28² × 2d
 *   encoder2  blocks[1] × block(2d, heads[1])
 *   down2, encoder3 (14² × 4d), down3, latent (7² × 8d)       → F3
 *   up3       Conv3×3 8d → 16d + PixelShuffle(2)               14² × 4d
 *   reduce3   Conv1×1 (4d + 4d skip) → 4d; decoder3 (heads[2]) → F2
 *   up2       Conv3×3 4d → 8d + PixelShuffle(2)                28² × 2d
 *   reduce2   Conv1×1 (2d + 2d skip) → 2d; decoder2 (heads[1]) → F1
 *
 * Dynamic transformer block: x = x + DMNet(LN(x), Z); x = x + DGNet(LN(x), Z), LN over the
 * channels of every pixel (with bias). No convolution of the network has a bias (Restormer's
 * bias=False, which the stem and the 1×1 reductions follow too).
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { clone } from '../../kernels/elementwise.js';
import { concat } from '../../kernels/layout.js';
import { pixelShuffle, pixelUnshuffle } from '../../kernels/pixel-shuffle.js';
import type { Generator } from '../../kernels/random.js';
import { Conv2d } from '../../nn/conv2d.js';
import { LayerNorm } from '../../nn/layernorm.js';
import { Module } from '../../nn/module.js';
import type { LrdifConfig } from './config.js';
import { DGNet } from './dgnet.js';
import { DMNet } from './dmnet.js';
import { expectShape } from './layers.js';

export class DynamicTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: DMNet;
  readonly norm2: LayerNorm;
  readonly ffn: DGNet;

  constructor(
    readonly width: number,
    heads: number,
    priorDim: number,
    expansion: number,
    eps: number,
    generator?: Generator,
  ) {
    super();
    this.norm1 = this.registerModule('norm1', new LayerNorm(width, { channels: true, eps }));
    this.attn = this.registerModule('attn', new DMNet(width, heads, priorDim, generator));
    this.norm2 = this.registerModule('norm2', new LayerNorm(width, { channels: true, eps }));
    this.ffn = this.registerModule('ffn', new DGNet(width, expansion, priorDim, generator));
  }

  /** x [B, width, H, W], z [B, C] → [B, width, H, W]. */
  forward(x: Tensor, z: Tensor): Tensor {
    expectShape('DynamicTransformerBlock', 'input', x, [-1, this.width, -1, -1]);
    // each skip connection is added in its branch's output projection (a 1×1 convolution's epilogue)
    return tidy(() => {
      const h = this.attn.forward(this.norm1.forward(x), z, x);
      return this.ffn.forward(this.norm2.forward(h), z, h);
    });
  }
}

/** Conv3×3 C → C/2 (no bias) + PixelUnshuffle(2): [B, C, H, W] → [B, 2C, H/2, W/2]. */
export class Downsample extends Module {
  readonly conv: Conv2d;

  constructor(
    readonly channels: number,
    generator?: Generator,
  ) {
    super();
    if (channels % 2 !== 0) throw new Error(`lrdif: Downsample: channels ${channels} must be even`);
    this.conv = this.registerModule('conv', new Conv2d(channels, channels / 2, 3, { padding: 1, bias: false, generator }));
  }

  forward(x: Tensor): Tensor {
    expectShape('Downsample', 'input', x, [-1, this.channels, -1, -1]);
    if (x.shape[2] % 2 !== 0 || x.shape[3] % 2 !== 0) throw new Error(`lrdif: Downsample: input ${x.describe()} needs even height and width`);
    return tidy(() => pixelUnshuffle(this.conv.forward(x), 2));
  }
}

/** Conv3×3 C → 2C (no bias) + PixelShuffle(2): [B, C, H, W] → [B, C/2, 2H, 2W]. */
export class Upsample extends Module {
  readonly conv: Conv2d;

  constructor(
    readonly channels: number,
    generator?: Generator,
  ) {
    super();
    if (channels % 2 !== 0) throw new Error(`lrdif: Upsample: channels ${channels} must be even`);
    this.conv = this.registerModule('conv', new Conv2d(channels, 2 * channels, 3, { padding: 1, bias: false, generator }));
  }

  forward(x: Tensor): Tensor {
    expectShape('Upsample', 'input', x, [-1, this.channels, -1, -1]);
    return tidy(() => pixelShuffle(this.conv.forward(x), 2));
  }
}

/** A run of dynamic transformer blocks (`{i}.…`), each taking the same Z. */
export class DynamicStage extends Module {
  readonly blocks: DynamicTransformerBlock[] = [];

  constructor(count: number, width: number, heads: number, priorDim: number, expansion: number, eps: number, generator?: Generator) {
    super();
    for (let i = 0; i < count; i++) {
      this.blocks.push(this.registerModule(String(i), new DynamicTransformerBlock(width, heads, priorDim, expansion, eps, generator)));
    }
  }

  forward(x: Tensor, z: Tensor): Tensor {
    if (this.blocks.length === 0) return clone(x);
    let y = x;
    for (const b of this.blocks) {
      const next = b.forward(y, z);
      if (y !== x) y.dispose();
      y = next;
    }
    return y;
  }
}

/** The DTnetwork's three multi-scale outputs. */
export interface DtFeatures {
  /** Decoder level 2: [B, 2d, S/4, S/4] (28² for a 112² input). */
  f1: Tensor;
  /** Decoder level 3: [B, 4d, S/8, S/8]. */
  f2: Tensor;
  /** Encoder level 4 (the latent): [B, 8d, S/16, S/16]. */
  f3: Tensor;
}

export class DTNetwork extends Module {
  readonly stem: Conv2d;
  readonly encoder1: DynamicStage;
  readonly down1: Downsample;
  readonly encoder2: DynamicStage;
  readonly down2: Downsample;
  readonly encoder3: DynamicStage;
  readonly down3: Downsample;
  readonly latent: DynamicStage;
  readonly up3: Upsample;
  readonly reduce3: Conv2d;
  readonly decoder3: DynamicStage;
  readonly up2: Upsample;
  readonly reduce2: Conv2d;
  readonly decoder2: DynamicStage;

  constructor(
    readonly config: LrdifConfig,
    generator?: Generator,
  ) {
    super();
    const { dim: d, blocks, heads, priorDim: C, ffnExpansion: e, layerNormEps: eps, decoderBlocks } = config;
    const stage = (n: number, w: number, h: number) => new DynamicStage(n, w, h, C, e, eps, generator);
    this.stem = this.registerModule('stem', new Conv2d(3, d, 3, { stride: 2, padding: 1, bias: false, generator }));
    this.encoder1 = this.registerModule('encoder1', stage(blocks[0], d, heads[0]));
    this.down1 = this.registerModule('down1', new Downsample(d, generator));
    this.encoder2 = this.registerModule('encoder2', stage(blocks[1], 2 * d, heads[1]));
    this.down2 = this.registerModule('down2', new Downsample(2 * d, generator));
    this.encoder3 = this.registerModule('encoder3', stage(blocks[2], 4 * d, heads[2]));
    this.down3 = this.registerModule('down3', new Downsample(4 * d, generator));
    this.latent = this.registerModule('latent', stage(blocks[3], 8 * d, heads[3]));
    this.up3 = this.registerModule('up3', new Upsample(8 * d, generator));
    this.reduce3 = this.registerModule('reduce3', new Conv2d(8 * d, 4 * d, 1, { bias: false, generator }));
    this.decoder3 = this.registerModule('decoder3', stage(decoderBlocks, 4 * d, heads[2]));
    this.up2 = this.registerModule('up2', new Upsample(4 * d, generator));
    this.reduce2 = this.registerModule('reduce2', new Conv2d(4 * d, 2 * d, 1, { bias: false, generator }));
    this.decoder2 = this.registerModule('decoder2', stage(decoderBlocks, 2 * d, heads[1]));
  }

  /** x [B, 3, S, S] (S = config.imageSize), z [B, C] → F1, F2, F3. */
  features(x: Tensor, z: Tensor): DtFeatures {
    const S = this.config.imageSize;
    expectShape('DTNetwork', 'image x112', x, [-1, 3, S, S]);
    expectShape('DTNetwork', 'prior Z', z, [x.shape[0], this.config.priorDim]);
    return tidy(() => {
      const e1 = this.encoder1.forward(this.stem.forward(x), z);
      const e2 = this.encoder2.forward(this.down1.forward(e1), z);
      const e3 = this.encoder3.forward(this.down2.forward(e2), z);
      const f3 = this.latent.forward(this.down3.forward(e3), z);
      const d3 = this.decoder3.forward(this.reduce3.forward(concat([this.up3.forward(f3), e3], 1)), z);
      const d2 = this.decoder2.forward(this.reduce2.forward(concat([this.up2.forward(d3), e2], 1)), z);
      return { f1: d2, f2: d3, f3 };
    });
  }

  /** One scale's output (0: F1, 1: F2, 2: F3); `features` gives all three from one pass. */
  forward(x: Tensor, z: Tensor, scale = 0): Tensor {
    const f = this.features(x, z);
    const keys = ['f1', 'f2', 'f3'] as const;
    const key = keys[scale];
    if (!key) throw new Error(`lrdif: DTNetwork.forward: scale must be 0, 1 or 2, got ${scale}`);
    for (const k of keys) if (k !== key) f[k].dispose();
    return f[key];
  }
}
