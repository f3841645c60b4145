/** Node entry: everything in `lrdif` plus the Dawn (npm `webgpu`) device adapter. */
export * from './index.js';
export { createNodeContext, nodeShaderSource, type NodeCreateOptions } from './gpu/node.js';
export { setDawnPolling, dawnPollCount, type DawnPolling } from './gpu/dawn-poll-node.js';

import { createNodeContext, type NodeCreateOptions } from './gpu/node.js';
import { engine } from './autograd/engine.js';
import type { GpuContext } from './gpu/context.js';

/** Creates a Dawn device and makes it current. Call `ctx.dispose()` when done so Node can exit. */
export async function initNode(options: NodeCreateOptions = {}): Promise<GpuContext> {
  const ctx = await createNodeContext(options);
  engine.setContext(ctx);
  return ctx;
}
export { loadClip, resolveClipFiles, loadClipTokenizerFor, type ClipFiles } from './models/clip/load-node.js';
export {
  readTfjsWeights,
  loadFaceLandmark68Net,
  loadFaceExpressionNet,
  loadFaceLandmarkFeatures,
  openFaceApiWeights,
  faceApiModelDir,
  faceApiManifestPath,
  FACEAPI_MODEL_NAMES,
} from './models/faceapi/load-node.js';
export { loadTinyFaceDetector, loadFacePipeline, type FacePipelinePaths } from './models/faceapi/detect-node.js';
export {
  openPretrained,
  loadPretrained,
  listPretrained,
  packagePretrained,
  pretrainedRoot,
  PRETRAINED_ENV,
  type OpenedPretrained,
  type PackageOptions,
} from './pretrained/pretrained-node.js';
