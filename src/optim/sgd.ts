/**
 * SGD (torch.optim.SGD): weight decay, momentum with dampening, Nesterov; one fused kernel
 * per parameter (shaders/sgd.wgsl). The momentum buffer starts as a copy of the first
 * direction, as torch clones it.
 */
import { engine } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import { alloc } from '../kernels/util.js';
import { Optimizer, type ParamsArg, type ParamState } from './optimizer.js';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;

  constructor(params: ParamsArg, options: SGDOptions) {
    super('SGD', params, options.lr);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    if (!(this.momentum >= 0)) throw new Error(`lrdif: SGD: momentum must be ≥ 0, got ${this.momentum}`);
    if (!(this.weightDecay >= 0)) throw new Error(`lrdif: SGD: weightDecay must be ≥ 0, got ${this.weightDecay}`);
    if (!Number.isFinite(this.dampening)) throw new Error(`lrdif: SGD: dampening must be finite, got ${this.dampening}`);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error(`lrdif: SGD: nesterov needs momentum > 0 and dampening 0 (got momentum ${this.momentum}, dampening ${this.dampening})`);
    }
  }

  protected initSlots(): string[] {
    return this.momentum !== 0 ? ['momentum_buffer'] : [];
  }

  protected initState(param: Tensor): Record<string, Tensor> {
    // uninitialised: the first update writes it (first = 1)
    return this.momentum !== 0 ? { momentum_buffer: engine.keep(alloc(param.shape)) } : {};
  }

  protected update(param: Tensor, grad: Tensor, state: ParamState): void {
    const n4 = Math.ceil(param.size / 4);
    const ctx = param.ctx;
    const uniforms = {
      n4,
      lr: this.lr,
      weight_decay: this.weightDecay,
      momentum: this.momentum,
      one_minus_dampening: 1 - this.dampening,
      nesterov: this.nesterov ? 1 : 0,
      first: state.step === 1 ? 1 : 0,
    };
    const workgroups = ctx.grid(Math.ceil(n4 / 256));
    if (this.momentum === 0) {
      ctx.dispatch({ shader: 'sgd', entry: 'plain' }, { bindings: { param: param.buffer, grad: grad.buffer }, uniforms, workgroups });
    } else {
      const buf = state.tensors.momentum_buffer;
      ctx.dispatch({ shader: 'sgd', entry: 'momentum' }, { bindings: { param: param.buffer, grad: grad.buffer, buf: buf.buffer }, uniforms, workgroups });
    }
  }
}
