/** Every op, by family. */
export * from './creation.js';
export * from './elementwise.js';
export * from './shape.js';
export * from './reduce.js';
export * from './matmul.js';
export * from './softmax.js';
export * from './layernorm.js';
