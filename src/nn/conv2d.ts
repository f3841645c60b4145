/** 2-D convolution layer over NCHW (PyTorch nn.Conv2d). */
import type { Tensor } from '../autograd/tensor.js';
import { conv2d, type Padding } from '../kernels/conv.js';
import { defaultBiasInit, defaultWeightInit, resolveGenerator, type InitOptions } from './init.js';
import { Module } from './module.js';

export interface Conv2dLayerOptions extends InitOptions {
  stride?: number | [number, number];
  padding?: Padding;
  dilation?: number | [number, number];
  groups?: number;
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly kernelSize: [number, number];
  readonly stride: number | [number, number];
  readonly padding: Padding;
  readonly dilation: number | [number, number];
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: number | [number, number],
    options: Conv2dLayerOptions = {},
  ) {
    super();
    const k: [number, number] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : [kernelSize[0], kernelSize[1]];
    const groups = options.groups ?? 1;
    const bad = (what: string, v: unknown) => new Error(`lrdif: Conv2d(${inChannels}, ${outChannels}, ${JSON.stringify(kernelSize)}): ${what}, got ${JSON.stringify(v)}`);
    for (const [what, v] of [
      ['inChannels', inChannels],
      ['outChannels', outChannels],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw bad(`${what} must be a positive integer`, v);
    }
    if (!k.every((d) => Number.isInteger(d) && d >= 1)) throw bad('kernel size must be positive integers', kernelSize);
    if (!Number.isInteger(groups) || groups < 1) throw bad('groups must be a positive integer', groups);
    if (inChannels % groups !== 0 || outChannels % groups !== 0) throw bad('inChannels and outChannels must be divisible by groups', groups);
    this.kernelSize = k;
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.dilation = options.dilation ?? 1;
    this.groups = groups;
    const gen = resolveGenerator(options);
    const fanIn = (inChannels / groups) * k[0] * k[1];
    this.weight = this.registerParameter('weight', defaultWeightInit([outChannels, inChannels / groups, k[0], k[1]], fanIn, gen));
    this.bias = this.registerParameter('bias', options.bias === false ? null : defaultBiasInit([outChannels], fanIn, gen));
  }

  /** `residual` (the output's shape) is added last: in a 1×1 convolution's product epilogue. */
  forward(x: Tensor, residual?: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups, residual });
  }
}
