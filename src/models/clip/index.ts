/** CLIP (browser-safe): tokenizer, configs, the image and text encoders, and weight loading from a safetensors reader. The Node loader is `loadClip` in load-node.ts. */
export * from './tokenizer.js';
export * from './config.js';
export { ClipLinear, ClipMlp, initParam, type ClipInit } from './layers.js';
export { ClipAttention, causalMask } from './attention.js';
export { ClipEncoder, ClipEncoderLayer, ClipLayerStack, type ClipEncoderSizes } from './encoder.js';
export { ClipEmbeddingTable, maxBindingBytes, rowsPerChunk } from './embedding-table.js';
export { ClipVisionTransformer, ClipVisionEmbeddings, ClipPatchEmbedding } from './vision.js';
export { ClipTextTransformer, ClipTextEmbeddings } from './text.js';
export { ClipModel, type ClipModelOptions, type ClipLoadInfo } from './model.js';
export { detectClipLayout, clipTensorSource, inferClipConfig, ClipLoadError, type ClipLayout, type ClipTensorSource, type TensorShapes, type InferenceHints } from './layouts.js';
export { loadClipFromReader, type ClipLoadOptions, type ClipConfigFile } from './load.js';
