/**
 * lrdif: a WebGPU compute library (tensors, kernels, autograd, modules, optimisers).
 * This entry imports nothing Node-only; `lrdif/node` adds the Dawn adapter.
 */
export { GpuContext, type DeviceFeatures, type AdapterDescription, type ProfileEntry, type ContextOptions } from './gpu/context.js';
export { createContext, NO_ADAPTER_HELP, type CreateOptions } from './gpu/create.js';
export type { AdapterCaps } from './gpu/capabilities.js';
export type { KernelTuning, ReadonlyKernelTuning, TuningPatch, KernelPath, KernelFamily } from './gpu/tuning.js';
export { createBrowserContext } from './gpu/browser.js';
export { engine, tidy, keep, noGrad, isGradEnabled } from './autograd/engine.js';
export { Tensor, Storage, tensor, scalar, empty, sizeOf, type DType, type Shape } from './autograd/tensor.js';
export { backward, zeroGrad } from './autograd/backward.js';
export * from './kernels/index.js';

import { createBrowserContext } from './gpu/browser.js';
import type { CreateOptions } from './gpu/create.js';
import { engine } from './autograd/engine.js';

/** Creates a device from navigator.gpu and makes it current. */
export async function initBrowser(shaders: Record<string, string>, options: CreateOptions = {}) {
  const ctx = await createBrowserContext(shaders, options);
  engine.setContext(ctx);
  return ctx;
}
export * as optim from './optim/index.js';
export * as nn from './nn/index.js';
export * from './models/clip/index.js';
export * as degrade from './data/degrade/index.js';
export * as lrdifModel from './models/lrdif/index.js';
export * from './models/faceapi/index.js';
export * as training from './train/index.js';
export * as pretrained from './pretrained/index.js';
