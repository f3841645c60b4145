/** Every op, by family. */
export * from './creation.js';
export * from './elementwise.js';
export * from './shape.js';
export * from './reduce.js';
export * from './matmul.js';
export * from './softmax.js';
export * from './layernorm.js';
export * from './random.js';
export * from './dropout.js';
export * from './loss.js';
export * from './layout.js';
export * from './indexing.js';
export * from './fft.js';
export * from './resize.js';
export * from './augment.js';
export * from './conv.js';
