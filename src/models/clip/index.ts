/** CLIP (browser-safe): tokenizer, configs, the image and text encoders, and weight loading from a safetensors reader. The Node loader is `loadClip` in load-node.ts. */
export { ClipTokenizer, ClipTokenizerError, CLIP_NUM_MERGES, SOT_TEXT, EOT_TEXT, type ClipTokenizerOptions, type EncodeOptions as ClipEncodeOptions } from './tokenizer.js';
export * from './config.js';
export { ClipLinear, ClipMlp, type ClipInit } from './layers.js';
export { ClipAttention, clipCausalMask } from './attention.js';
export { ClipEncoder, ClipEncoderLayer, ClipLayerStack, type ClipEncoderSizes } from './encoder.js';
export { ClipEmbeddingTable, maxClipBindingBytes, clipTableRowsPerChunk } from './embedding-table.js';
export { ClipVisionTransformer, ClipVisionEmbeddings, ClipPatchEmbedding } from './vision.js';
export { ClipTextTransformer, ClipTextEmbeddings } from './text.js';
export { ClipModel, type ClipModelOptions, type ClipLoadInfo } from './model.js';
export {
  detectClipLayout,
  clipTensorSource,
  inferClipConfig,
  ClipLoadError,
  type ClipLayout,
  type ClipTensorSource,
  type TensorShapes as ClipTensorShapes,
  type InferenceHints as ClipInferenceHints,
} from './layouts.js';
export { loadClipFromReader, type ClipLoadOptions, type ClipConfigFile } from './load.js';
