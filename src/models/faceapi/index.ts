/**
 * face-api's pretrained face networks (browser-safe): the landmark feature extractor LRDif uses
 * (`FaceLandmarkFeatures`), the 68-point landmark nets (full and tiny), the expression net, and
 * face-api's input pipeline and landmark decoding. Weights come from TF.js manifests
 * (`TfjsWeightMap`, `fetchTfjsWeights`) or converted safetensors files; the Node loaders are in
 * load-node.ts.
 */
export {
  FaceFeatureExtractor,
  FaceApiDenseBlock,
  FaceApiConv,
  FaceApiSeparableConv,
  FACEAPI_MEAN_RGB,
  FACEAPI_INPUT_SIZE,
  FACE_FEATURE_EXTRACTOR_SPECS,
  type FaceFeatureExtractorKind,
} from './feature-extractor.js';
export { FaceLandmark68Net, FaceLandmarkFeatures, FaceApiFullyConnected, type LandmarkFeatureTaps } from './landmark-net.js';
export { FaceExpressionNet, FACE_EXPRESSION_LABELS, type FaceExpression, type FaceExpressions } from './expression-net.js';
export {
  cropRgbImage,
  faceApiInput,
  faceApiPadResize,
  faceApiSquarePadding,
  tfLegacyBilinearMatrix,
  decodeFaceLandmarks,
  type FaceBox,
  type FacePoint,
  type FaceApiBatch,
  type FaceLandmarks68,
} from './preprocess.js';
export { safetensorsFaceApiSource, hwioToOihw, type FaceApiWeightSource } from './weights.js';
export {
  TfjsWeightMap,
  TfjsWeightsError,
  parseTfjsManifest,
  decodeTfjsGroup,
  loadTfjsWeights,
  fetchTfjsWeights,
  tfjsEntryByteLength,
  type TfjsDType,
  type TfjsQuantization,
  type TfjsQuantizationDType,
  type TfjsWeightSpec,
  type TfjsManifestGroup,
  type TfjsWeight,
  type TfjsShardReader,
} from '../../io/tfjs-weights.js';
export {
  TinyFaceDetector,
  TINY_FACE_DETECTOR_ANCHORS,
  TINY_FACE_DETECTOR_MEAN_RGB,
  TINY_FACE_DETECTOR_IOU_THRESHOLD,
  resolveTinyFaceDetectorOptions,
  decodeTinyFaceDetections,
  faceApiNonMaxSuppression,
  faceBoxIou,
  type TinyFaceDetectorOptions,
  type FaceDetection,
} from './tiny-face-detector.js';
export {
  ALIGNED_FACE_SIZE,
  ALIGN_MARGIN,
  faceAlignTransform,
  alignWarpMatrix,
  alignFaces,
  alignFace,
  applyAffine,
  type FaceAlignTransform,
  type AlignedFace,
  type AlignOptions,
} from './align.js';
export { FacePipeline, faceApiClipBox, faceApiAlignedRect, faceApiCropTables, faceApiCropInput, type DetectedFace, type DetectFacesOptions } from './detect-faces.js';
export { drawFaces, drawBox, drawPoint, type DrawFacesOptions, type DrawColor } from './draw.js';
