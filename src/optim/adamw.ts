/**
 * AdamW (torch.optim.AdamW, amsgrad off): decoupled weight decay and bias-corrected moments,
 * one fused kernel per parameter (shaders/adamw.wgsl). The step-dependent scalars are
 * computed here in float64 and passed as uniforms, so nothing recompiles between steps.
 */
import { engine } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import { zeros } from '../kernels/creation.js';
import { Optimizer, type ParamsArg, type ParamState } from './optimizer.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

const SLOTS = ['exp_avg', 'exp_avg_sq'];

export class AdamW extends Optimizer {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: ParamsArg, options: AdamWOptions = {}) {
    super('AdamW', params, options.lr ?? 1e-3);
    const [b1, b2] = options.betas ?? [0.9, 0.999];
    for (const [i, b] of [b1, b2].entries()) {
      if (!(b >= 0 && b < 1)) throw new Error(`lrdif: AdamW: betas[${i}] must be in [0, 1), got ${b}`);
    }
    this.betas = [b1, b2];
    this.eps = options.eps ?? 1e-8;
    if (!(this.eps >= 0)) throw new Error(`lrdif: AdamW: eps must be ≥ 0, got ${this.eps}`);
    this.weightDecay = options.weightDecay ?? 1e-2;
    if (!(this.weightDecay >= 0)) throw new Error(`lrdif: AdamW: weightDecay must be ≥ 0, got ${this.weightDecay}`);
  }

  protected initSlots(): string[] {
    return SLOTS;
  }

  protected initState(param: Tensor): Record<string, Tensor> {
    return { exp_avg: engine.keep(zeros(param.shape)), exp_avg_sq: engine.keep(zeros(param.shape)) };
  }

  protected update(param: Tensor, grad: Tensor, state: ParamState): void {
    const [b1, b2] = this.betas;
    const t = state.step;
    const lr = this.lr;
    const n4 = Math.ceil(param.size / 4);
    const ctx = param.ctx;
    ctx.dispatch(
      { shader: 'adamw' },
      {
        bindings: { param: param.buffer, grad: grad.buffer, exp_avg: state.tensors.exp_avg.buffer, exp_avg_sq: state.tensors.exp_avg_sq.buffer },
        uniforms: {
          n4,
          decay: 1 - lr * this.weightDecay,
          beta1: b1,
          one_minus_beta1: 1 - b1,
          beta2: b2,
          one_minus_beta2: 1 - b2,
          step_size: lr / (1 - b1 ** t),
          inv_bc2_sqrt: 1 / Math.sqrt(1 - b2 ** t),
          eps: this.eps,
        },
        workgroups: ctx.grid(Math.ceil(n4 / 256)),
      },
    );
  }
}
