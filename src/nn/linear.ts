/** Linear layer y = x·Wᵀ + b (PyTorch nn.Linear), optionally with an activation fused into the matmul. */
import type { Tensor } from '../autograd/tensor.js';
import { linear, type Activation } from '../kernels/matmul.js';
import { defaultBiasInit, defaultWeightInit, resolveGenerator, type InitOptions } from './init.js';
import { Module } from './module.js';

export interface LinearOptions extends InitOptions {
  bias?: boolean;
  /** Activation applied in the matmul's epilogue (no extra pass); default none. */
  activation?: Activation;
}

function checkFeatures(op: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new Error(`lrdif: ${op}: ${what} must be an integer ≥ 0, got ${v}`);
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly activation: Activation;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    checkFeatures('Linear', 'inFeatures', inFeatures);
    checkFeatures('Linear', 'outFeatures', outFeatures);
    const gen = resolveGenerator(options);
    this.activation = options.activation ?? 'none';
    this.weight = this.registerParameter('weight', defaultWeightInit([outFeatures, inFeatures], inFeatures, gen));
    this.bias = this.registerParameter('bias', options.bias === false ? null : defaultBiasInit([outFeatures], inFeatures, gen));
  }

  /** x [..., in] → [..., out]; `residual` [..., out] is added last, in the product's epilogue. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    return linear(x, this.weight, this.bias, this.activation, residual);
  }
}
