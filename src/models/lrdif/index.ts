/** The LRDif / LLDif model (browser-safe): config, modules, diffusion, the two-stage model. */
export * from './config.js';
export { exposureNormalize, normalizeInput, EXPOSURE_TARGET_MEAN, EXPOSURE_TARGET_STD, EXPOSURE_EPS } from './input-norm.js';
export { Fpen } from './fpen.js';
export { PriorModulation } from './modulation.js';
export { DMNet, dmnetCore } from './dmnet.js';
export { DGNet, gdfnCore } from './dgnet.js';
export { DTNetwork, DynamicTransformerBlock, DynamicStage, Downsample, Upsample, type DtFeatures } from './dtnetwork.js';
export { DILNetwork, DilScale, DilMlp, windowAttentionCore, relativePositionIndex, toWindows, fromWindows, checkTaps, type LandmarkTaps } from './dilnetwork.js';
export { FusionViT, FusionBlock, FusionAttention } from './fusion.js';
export { UDCformer } from './udcformer.js';
export { Denoiser } from './denoiser.js';
export { makeDiffusionSchedule, reverseStep, insertNoise, reverseChain, sampleChain, canSampleFused, timeFeature, type DiffusionSchedule } from './diffusion.js';
export {
  LrdifModel,
  textEmbeddingsOfLabels,
  type LrdifModelOptions,
  type LrdifImageInputs,
  type Stage1Inputs,
  type Stage1Output,
  type Stage2Inputs,
  type Stage2Output,
  type LrdifLoss,
  type LrdifStage,
} from './lrdif.js';
