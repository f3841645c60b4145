/**
 * Training, evaluation and prediction of LRDif / LLDif (browser-safe): the trainer, the batch
 * pipeline, the frozen encoders and their cache, checkpoints, evaluation, metrics, t-SNE and
 * the SVG figures. The Node run folder, cache file and CLI glue are the `*-node.ts` files.
 */
export * from './trainer.js';
export * from './pipeline.js';
export * from './encoders.js';
export * from './checkpoint.js';
export * from './evaluate.js';
export * from './metrics.js';
export * from './tsne.js';
export * from './svg.js';
