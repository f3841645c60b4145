/**
 * The small building blocks of the CLIP towers: how parameters start (uninitialised, for
 * loading, or seeded random, for tests and benchmarks), a Linear layer with an optional fused
 * activation, and the MLP of a transformer block. Parameter names follow Hugging Face.
 */
import type { Shape, Tensor } from '../../autograd/tensor.js';
import { empty } from '../../autograd/tensor.js';
import { zeros } from '../../kernels/creation.js';
import { linear, type Activation } from '../../kernels/matmul.js';
import type { Generator } from '../../kernels/random.js';
import { normalInit } from '../../nn/init.js';
import { Module } from '../../nn/module.js';
import type { ClipActivation } from './config.js';

/**
 * 'empty': parameters are allocated but not written (the loader fills every one of them);
 * a generator: weights N(0, std) drawn from it (std 1/√fan_in for matrices, 0.02 for
 * embeddings), LayerNorm weight 1 and bias 0, Linear biases 0.
 */
export type ClipInit = 'empty' | Generator;

export function initParam(shape: Shape, init: ClipInit, std: number): Tensor {
  return init === 'empty' ? empty(shape) : normalInit(shape, std, init);
}

/** Zeros for a random model, uninitialised for a loaded one. */
export function initZeros(shape: Shape, init: ClipInit): Tensor {
  return init === 'empty' ? empty(shape) : zeros(shape);
}

export function matmulActivation(act: ClipActivation): Activation {
  return act === 'quick_gelu' ? 'quickGelu' : 'gelu';
}

/** y = x·Wᵀ + b (weight [out, in]), with an activation fused into the matmul's epilogue. */
export class ClipLinear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly activation: Activation;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    init: ClipInit,
    options: { bias?: boolean; activation?: Activation } = {},
  ) {
    super();
    this.weight = this.registerParameter('weight', initParam([outFeatures, inFeatures], init, 1 / Math.sqrt(inFeatures)));
    this.bias = this.registerParameter('bias', options.bias === false ? null : initZeros([outFeatures], init));
    this.activation = options.activation ?? 'none';
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias, this.activation);
  }
}

/** fc2(act(fc1(x))), the activation fused into fc1. */
export class ClipMlp extends Module {
  readonly fc1: ClipLinear;
  readonly fc2: ClipLinear;

  constructor(width: number, hidden: number, act: ClipActivation, init: ClipInit) {
    super();
    this.fc1 = this.registerModule('fc1', new ClipLinear(width, hidden, init, { activation: matmulActivation(act) }));
    this.fc2 = this.registerModule('fc2', new ClipLinear(hidden, width, init));
  }

  forward(x: Tensor): Tensor {
    const h = this.fc1.forward(x);
    try {
      return this.fc2.forward(h);
    } finally {
      h.dispose();
    }
  }
}
