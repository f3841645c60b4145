/**
 * Batch normalisation over the channels of NCHW (PyTorch nn.BatchNorm2d), built from existing
 * ops so autograd differentiates it through mean, sub, mul and rsqrt.
 *
 * Training: each channel is normalised by the batch's mean and biased variance over (N, H, W),
 * then scaled and shifted; the running statistics move by `momentum` towards the batch mean and
 * the unbiased batch variance (as PyTorch does). Evaluation: the running statistics are used,
 * folded into one per-channel scale and shift.
 */
import { noGrad, tidy } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import { ones, zeros } from '../kernels/creation.js';
import { add, addScalar, affine, mul, mulScalar, rsqrt, square, sub } from '../kernels/elementwise.js';
import { mean } from '../kernels/reduce.js';
import { reshape } from '../kernels/shape.js';
import { Module } from './module.js';

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the batch statistic in the running average (PyTorch's momentum, default 0.1). */
  momentum?: number;
  /** Learnable per-channel scale (ones) and shift (zeros); default true. */
  affine?: boolean;
}

export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly eps: number;
  readonly momentum: number;

  constructor(
    readonly numFeatures: number,
    options: BatchNormOptions = {},
  ) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) throw new Error(`lrdif: BatchNorm2d: numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    if (!(this.eps >= 0)) throw new Error(`lrdif: BatchNorm2d: eps must be ≥ 0, got ${this.eps}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`lrdif: BatchNorm2d: momentum must be in [0, 1], got ${this.momentum}`);
    const aff = options.affine ?? true;
    this.weight = this.registerParameter('weight', aff ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', aff ? zeros([numFeatures]) : null);
    // PyTorch's state-dict names
    this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', ones([numFeatures]));
  }

  forward(x: Tensor): Tensor {
    const C = this.numFeatures;
    if (x.rank !== 4 || x.shape[1] !== C) throw new Error(`lrdif: BatchNorm2d(${C}): input ${x.describe()} must be [N, ${C}, H, W]`);
    const [N, , H, W] = x.shape;
    const per = N * H * W;
    const col = (t: Tensor) => reshape(t, [1, C, 1, 1]);
    if (!this.training) {
      // y = x·s + t with s = w / √(var + eps), t = b − mean·s
      return tidy(() => {
        let s = rsqrt(addScalar(this.runningVar, this.eps));
        if (this.weight) s = mul(s, this.weight);
        const ms = mul(this.runningMean, s);
        const t = this.bias ? sub(this.bias, ms) : mulScalar(ms, -1);
        return add(mul(x, col(s)), col(t));
      });
    }
    if (per < 2) throw new Error(`lrdif: BatchNorm2d(${C}): training needs more than one value per channel, got input ${x.describe()}`);
    return tidy(() => {
      const mu = mean(x, [0, 2, 3], true);
      const xc = sub(x, mu);
      const varB = mean(square(xc), [0, 2, 3], true);
      const inv = rsqrt(addScalar(varB, this.eps));
      // one [1, C, 1, 1] scale instead of two passes over the activations
      const scale = this.weight ? mul(inv, col(this.weight)) : inv;
      let y = mul(xc, scale);
      if (this.bias) y = add(y, col(this.bias));
      this.updateRunning(mu, varB, per);
      return y;
    });
  }

  private updateRunning(mu: Tensor, varB: Tensor, per: number): void {
    const m = this.momentum;
    noGrad(() =>
      tidy(() => {
        const C = this.numFeatures;
        const newMean = add(mulScalar(this.runningMean, 1 - m), mulScalar(reshape(mu, [C]), m));
        const newVar = add(mulScalar(this.runningVar, 1 - m), affine(reshape(varB, [C]), (m * per) / (per - 1)));
        const ctx = this.runningMean.ctx;
        ctx.copy(newMean.buffer, 0, this.runningMean.buffer, 0, 4 * C);
        ctx.copy(newVar.buffer, 0, this.runningVar.buffer, 0, 4 * C);
      }),
    );
  }
}
