/** Layers and models: Module and its building blocks, PyTorch-style. */
export { Module, type LoadResult } from './module.js';
export { Linear, type LinearOptions } from './linear.js';
export { Conv2d, type Conv2dLayerOptions } from './conv2d.js';
export { LayerNorm, type LayerNormOptions } from './layernorm.js';
export { BatchNorm2d, type BatchNormOptions } from './batchnorm.js';
export { Sequential, Lambda, type Layer } from './sequential.js';
export { ReLU, GELU, SiLU, Sigmoid, Tanh } from './activation.js';
export { Dropout } from './dropout.js';
export { Embedding } from './embedding.js';
export * as init from './init.js';
