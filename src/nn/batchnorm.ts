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

/**
 * Training-mode batch normalisation of x [N, C, H, W] with the batch's statistics: returns y and
 * the per-channel mean and biased variance ([1, C, 1, 1]). Differentiable in x, weight and bias.
 */
export function batchNorm2dTrain(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): { y: Tensor; mean: Tensor; variance: Tensor } {
  checkInput('batchNorm2dTrain', x, weight, bias);
  const C = x.shape[1];
  const per = x.shape[0] * x.shape[2] * x.shape[3];
  if (per < 2) throw new Error(`lrdif: batchNorm2dTrain: training needs more than one value per channel, got input ${x.describe()}`);
  const mu = mean(x, [0, 2, 3], true);
  const xc = sub(x, mu);
  const variance = mean(square(xc), [0, 2, 3], true);
  const inv = rsqrt(addScalar(variance, eps));
  // one [1, C, 1, 1] scale instead of two passes over the activations
  const scale = weight ? mul(inv, reshape(weight, [1, C, 1, 1])) : inv;
  let y = mul(xc, scale);
  if (bias) y = add(y, reshape(bias, [1, C, 1, 1]));
  return { y, mean: mu, variance };
}

/** Evaluation-mode batch normalisation with given statistics: y = x·s + t, s = w/√(var + eps), t = b − mean·s. */
export function batchNorm2dEval(x: Tensor, runningMean: Tensor, runningVar: Tensor, weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  checkInput('batchNorm2dEval', x, weight, bias);
  const C = x.shape[1];
  for (const [n, t] of [
    ['runningMean', runningMean],
    ['runningVar', runningVar],
  ] as const) {
    if (t.rank !== 1 || t.shape[0] !== C) throw new Error(`lrdif: batchNorm2dEval: ${n} ${t.describe()} must be [${C}] for input ${x.describe()}`);
  }
  let s = rsqrt(addScalar(runningVar, eps));
  if (weight) s = mul(s, weight);
  const ms = mul(runningMean, s);
  const t = bias ? sub(bias, ms) : mulScalar(ms, -1);
  return add(mul(x, reshape(s, [1, C, 1, 1])), reshape(t, [1, C, 1, 1]));
}

function checkInput(op: string, x: Tensor, weight: Tensor | null, bias: Tensor | null): void {
  if (x.rank !== 4) throw new Error(`lrdif: ${op}: input ${x.describe()} must be [N, C, H, W]`);
  const C = x.shape[1];
  for (const [n, t] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (t && (t.rank !== 1 || t.shape[0] !== C)) throw new Error(`lrdif: ${op}: ${n} ${t.describe()} must be [${C}] for input ${x.describe()}`);
  }
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
    if (!this.training) return tidy(() => batchNorm2dEval(x, this.runningMean, this.runningVar, this.weight, this.bias, this.eps));
    const per = x.shape[0] * x.shape[2] * x.shape[3];
    if (per < 2) throw new Error(`lrdif: BatchNorm2d(${C}): training needs more than one value per channel, got input ${x.describe()}`);
    return tidy(() => {
      const r = batchNorm2dTrain(x, this.weight, this.bias, this.eps);
      this.updateRunning(r.mean, r.variance, per);
      return r.y;
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
