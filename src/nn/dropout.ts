/** Dropout layer (PyTorch nn.Dropout): active in training mode, the identity after `eval()`. */
import type { Tensor } from '../autograd/tensor.js';
import { dropout } from '../kernels/dropout.js';
import { resolveGenerator, type InitOptions } from './init.js';
import type { Generator } from '../kernels/random.js';
import { Module } from './module.js';

export class Dropout extends Module {
  private readonly generator: Generator | undefined;

  constructor(
    readonly p = 0.5,
    options: InitOptions = {},
  ) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`lrdif: Dropout: p must be a probability in [0, 1], got ${p}`);
    this.generator = resolveGenerator(options);
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training, generator: this.generator });
  }
}
