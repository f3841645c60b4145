/**
 * AdamW (torch.optim.AdamW, amsgrad off): decoupled weight decay and bias-corrected moments,
 * one fused kernel (shaders/adamw.wgsl), or four parameters per dispatch (shaders/adamw4.wgsl)
 * where the device binds 16 storage buffers per stage: a model's hundreds of small parameters
 * then cost a quarter of the dispatches. The step-dependent scalars are computed here in float64
 * and passed as uniforms, so nothing recompiles between steps.
 */
import { engine } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import { zeros } from '../kernels/creation.js';
import { Optimizer, type ParamsArg, type ParamState, type ParamUpdate } from './optimizer.js';
import type { GpuContext } from '../gpu/context.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /**
   * Parameters updated per dispatch: 4 (shaders/adamw4.wgsl; needs 16 storage buffers per
   * shader stage) or 1. Default: 4 where the device allows it.
   */
  perDispatch?: 1 | 4;
}

/** Storage buffers adamw4.wgsl binds. */
const ADAMW4_BUFFERS = 16;

/**
 * Whether four updates write twelve different buffers: WebGPU refuses a buffer bound twice for
 * writing in one dispatch, and parameters that share storage (a reshape of another, made without
 * gradient) then go one by one, as they always did.
 */
function distinctStorage(four: ParamUpdate[]): boolean {
  return new Set(four.flatMap((d) => [d.param.buffer, d.state.tensors.exp_avg.buffer, d.state.tensors.exp_avg_sq.buffer])).size === 12;
}

const SLOTS = ['exp_avg', 'exp_avg_sq'];

export class AdamW extends Optimizer {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  private readonly perDispatch: 1 | 4 | undefined;

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
    if (options.perDispatch !== undefined && options.perDispatch !== 1 && options.perDispatch !== 4) {
      throw new Error(`lrdif: AdamW: perDispatch must be 1 or 4, got ${String(options.perDispatch)}`);
    }
    this.perDispatch = options.perDispatch;
  }

  /** Whether `ctx` runs the four-parameter kernel (perDispatch 4, or by default where it can). */
  private fourAt(ctx: GpuContext): boolean {
    const can = ctx.limits.maxStorageBuffersPerShaderStage >= ADAMW4_BUFFERS;
    if (this.perDispatch === 4 && !can) {
      throw new Error(
        `lrdif: AdamW: perDispatch 4 needs ${ADAMW4_BUFFERS} storage buffers per shader stage; this device allows ${ctx.limits.maxStorageBuffersPerShaderStage} (use perDispatch 1)`,
      );
    }
    return this.perDispatch !== 1 && can;
  }

  protected initSlots(): string[] {
    return SLOTS;
  }

  protected initState(param: Tensor): Record<string, Tensor> {
    return { exp_avg: engine.keep(zeros(param.shape)), exp_avg_sq: engine.keep(zeros(param.shape)) };
  }

  /** The step's scalars for step count t (float64 here, f32 in the kernel). */
  private scalars(t: number) {
    const [b1, b2] = this.betas;
    const lr = this.lr;
    return {
      decay: 1 - lr * this.weightDecay,
      beta1: b1,
      one_minus_beta1: 1 - b1,
      beta2: b2,
      one_minus_beta2: 1 - b2,
      step_size: lr / (1 - b1 ** t),
      inv_bc2_sqrt: 1 / Math.sqrt(1 - b2 ** t),
      eps: this.eps,
    };
  }

  protected update(param: Tensor, grad: Tensor, state: ParamState): void {
    const n4 = Math.ceil(param.size / 4);
    const ctx = param.ctx;
    ctx.dispatch(
      { shader: 'adamw' },
      {
        bindings: { param: param.buffer, grad: grad.buffer, exp_avg: state.tensors.exp_avg.buffer, exp_avg_sq: state.tensors.exp_avg_sq.buffer },
        uniforms: { n4, ...this.scalars(state.step) },
        workgroups: ctx.grid(Math.ceil(n4 / 256)),
      },
    );
  }

  /** Four parameters of the same step count and context per adamw4 dispatch; the rest one by one. */
  protected override updateAll(due: ParamUpdate[]): void {
    const byStep = new Map<number, ParamUpdate[]>();
    for (const d of due) byStep.set(d.state.step, [...(byStep.get(d.state.step) ?? []), d]);
    for (const g of byStep.values()) {
      const ctx = g[0].param.ctx;
      const four = g.length >= 4 && g.every((d) => d.param.ctx === ctx) && this.fourAt(ctx);
      for (let i = 0; i < g.length; i += 4) {
        const chunk = g.slice(i, i + 4);
        if (four && chunk.length === 4 && distinctStorage(chunk)) this.update4(chunk);
        else for (const d of chunk) this.update(d.param, d.grad, d.state);
      }
    }
  }

  private update4(four: ParamUpdate[]): void {
    const ctx = four[0].param.ctx;
    const n4 = four.map((d) => Math.ceil(d.param.size / 4));
    const wgs = n4.map((n) => Math.ceil(n / 256));
    const bindings: Record<string, Tensor['buffer']> = {};
    four.forEach((d, j) => {
      bindings[`p${j}`] = d.param.buffer;
      bindings[`g${j}`] = d.grad.buffer;
      bindings[`m${j}`] = d.state.tensors.exp_avg.buffer;
      bindings[`v${j}`] = d.state.tensors.exp_avg_sq.buffer;
    });
    ctx.dispatch(
      { shader: 'adamw4' },
      {
        bindings,
        uniforms: {
          n4_0: n4[0],
          n4_1: n4[1],
          n4_2: n4[2],
          n4_3: n4[3],
          start1: wgs[0],
          start2: wgs[0] + wgs[1],
          start3: wgs[0] + wgs[1] + wgs[2],
          ...this.scalars(four[0].state.step),
        },
        workgroups: ctx.grid(wgs[0] + wgs[1] + wgs[2] + wgs[3]),
      },
    );
  }
}
