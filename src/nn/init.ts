/**
 * Parameter initialisation as PyTorch's torch.nn.init, drawn on the GPU from a seeded
 * Philox generator (kernels/random.ts), so a model built with the same seed is the same.
 */
import { noGrad } from '../autograd/engine.js';
import type { Shape, Tensor } from '../autograd/tensor.js';
import { zeros } from '../kernels/creation.js';
import { Generator, randomNormal, randomUniform } from '../kernels/random.js';

export interface InitOptions {
  /** Draw from this generator (its offset advances). */
  generator?: Generator;
  /** Or from a fresh generator with this seed. Neither: the default generator (see `manualSeed`). */
  seed?: number;
}

export function resolveGenerator(opts: InitOptions): Generator | undefined {
  if (opts.generator && opts.seed !== undefined) throw new Error('lrdif: nn: give either a generator or a seed, not both');
  return opts.generator ?? (opts.seed !== undefined ? new Generator(opts.seed) : undefined);
}

/** U(−bound, bound) as torch.nn.init.uniform_; a zero bound gives zeros (a layer with no inputs). */
export function uniformInit(shape: Shape, bound: number, generator?: Generator): Tensor {
  if (!(bound >= 0) || !Number.isFinite(bound)) throw new Error(`lrdif: uniformInit: bound must be finite and ≥ 0, got ${bound}`);
  return noGrad(() => (bound === 0 ? zeros(shape) : randomUniform(shape, { low: -bound, high: bound, generator })));
}

export function normalInit(shape: Shape, std = 1, generator?: Generator, mean = 0): Tensor {
  return noGrad(() => randomNormal(shape, { mean, std, generator }));
}

/** torch.nn.init.kaiming_uniform_ bound for leaky-ReLU slope a: gain·√(3/fanIn), gain = √(2/(1 + a²)). */
export function kaimingUniformBound(fanIn: number, a = Math.sqrt(5)): number {
  if (fanIn === 0) return 0;
  return Math.sqrt(2 / (1 + a * a)) * Math.sqrt(3 / fanIn);
}

/**
 * PyTorch's default for Linear and Conv2d weights: kaiming_uniform_ with a = √5, which is
 * U(−1/√fanIn, 1/√fanIn). Their biases use the same bound, 1/√fanIn.
 */
export function defaultWeightInit(shape: Shape, fanIn: number, generator?: Generator): Tensor {
  return uniformInit(shape, kaimingUniformBound(fanIn), generator);
}

export function defaultBiasInit(shape: Shape, fanIn: number, generator?: Generator): Tensor {
  return uniformInit(shape, fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0, generator);
}
