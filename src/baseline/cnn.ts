/**
 * The baseline classifier: a plain CNN of the kind a user tries first (browser-safe).
 *
 *   per width w of `widths`: conv3×3 → BatchNorm → ReLU → conv3×3 → BatchNorm → ReLU → maxpool 2
 *   then global average pooling → dropout → linear to the classes.
 *
 * Input: [B, 3, S, S] ImageNet-normalised images, S divisible by 2^(number of blocks).
 */
import type { Tensor } from '../autograd/tensor.js';
import { relu } from '../kernels/elementwise.js';
import { maxPool2d } from '../kernels/maxpool.js';
import { mean } from '../kernels/reduce.js';
import { Generator } from '../kernels/random.js';
import { BatchNorm2d } from '../nn/batchnorm.js';
import { Conv2d } from '../nn/conv2d.js';
import { Dropout } from '../nn/dropout.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';

export interface CnnConfig {
  /** Channels of each block (default [32, 64, 128, 256]: four blocks). */
  widths: number[];
  numClasses: number;
  /** Dropout before the linear head (default 0.3). */
  dropout: number;
}

export const DEFAULT_CNN_WIDTHS = [32, 64, 128, 256];

export function makeCnnConfig(numClasses: number, over: Partial<Omit<CnnConfig, 'numClasses'>> = {}): CnnConfig {
  const cfg: CnnConfig = { widths: over.widths ?? [...DEFAULT_CNN_WIDTHS], numClasses, dropout: over.dropout ?? 0.3 };
  validateCnnConfig(cfg);
  return cfg;
}

export function validateCnnConfig(cfg: CnnConfig): CnnConfig {
  if (!Array.isArray(cfg.widths) || cfg.widths.length < 1 || !cfg.widths.every((w) => Number.isInteger(w) && w >= 1)) {
    throw new Error(`lrdif: baseline CNN: widths must be a non-empty list of positive integers, got ${JSON.stringify(cfg.widths)}`);
  }
  if (!Number.isInteger(cfg.numClasses) || cfg.numClasses < 2) throw new Error(`lrdif: baseline CNN: numClasses must be an integer ≥ 2, got ${cfg.numClasses}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) throw new Error(`lrdif: baseline CNN: dropout must be in [0, 1), got ${cfg.dropout}`);
  return cfg;
}

/** Two conv → BatchNorm → ReLU layers and a 2×2 max pool. */
export class CnnBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, gen: Generator) {
    super();
    // no conv bias: BatchNorm's shift replaces it
    this.conv1 = this.registerModule('conv1', new Conv2d(inChannels, outChannels, 3, { padding: 1, bias: false, generator: gen }));
    this.bn1 = this.registerModule('bn1', new BatchNorm2d(outChannels));
    this.conv2 = this.registerModule('conv2', new Conv2d(outChannels, outChannels, 3, { padding: 1, bias: false, generator: gen }));
    this.bn2 = this.registerModule('bn2', new BatchNorm2d(outChannels));
  }

  forward(x: Tensor): Tensor {
    const h = relu(this.bn1.forward(this.conv1.forward(x)));
    return maxPool2d(relu(this.bn2.forward(this.conv2.forward(h))), 2);
  }
}

export class BaselineCnn extends Module {
  readonly blocks: CnnBlock[] = [];
  readonly dropout: Dropout;
  readonly head: Linear;

  constructor(
    readonly config: CnnConfig,
    opts: { seed?: number } = {},
  ) {
    super();
    validateCnnConfig(config);
    const gen = new Generator(opts.seed ?? 0);
    let cin = 3;
    config.widths.forEach((w, i) => {
      this.blocks.push(this.registerModule(`block${i}`, new CnnBlock(cin, w, gen)));
      cin = w;
    });
    this.dropout = this.registerModule('dropout', new Dropout(config.dropout, { generator: new Generator((opts.seed ?? 0) + 0x64726f70) }));
    this.head = this.registerModule('head', new Linear(cin, config.numClasses, { generator: gen }));
  }

  /** The smallest input side a forward pass accepts (each block halves it). */
  get minImageSize(): number {
    return 2 ** this.config.widths.length;
  }

  /** Logits [B, K] of images [B, 3, S, S]. */
  forward(x: Tensor): Tensor {
    const d = this.minImageSize;
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] % d !== 0 || x.shape[3] % d !== 0 || x.shape[2] < d || x.shape[3] < d) {
      throw new Error(`lrdif: baseline CNN: input ${x.describe()} must be [B, 3, H, W] with H and W multiples of ${d} (${this.config.widths.length} blocks of 2×2 pooling)`);
    }
    let h = x;
    for (const b of this.blocks) h = b.forward(h);
    // global average pooling
    const pooled = mean(h, [2, 3]);
    return this.head.forward(this.dropout.forward(pooled));
  }
}
