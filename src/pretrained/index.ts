/**
 * The shipped pretrained models (browser-safe): names and folders, model cards, loading one from
 * its bytes, the training recipe and the packaging helpers. The file work is
 * src/pretrained/pretrained-node.ts (exported from `lrdif/node`).
 */
export * from './models.js';
export * from './load.js';
export * from './recipe.js';
export { inferenceCheckpoint, inferenceNeedsClip, portableClipRecord, buildCard, type CardInputs } from './package.js';
