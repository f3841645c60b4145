/**
 * Node loaders for face-api's tiny face detector and the whole face pipeline (detector,
 * 68-point landmark net, expression net): weights from the installed @vladmandic/face-api
 * package by default, or from given manifests / .safetensors files (as load-node.ts).
 */
import { FACEAPI_MODEL_NAMES, openFaceApiWeights, loadFaceLandmark68Net, loadFaceExpressionNet } from './load-node.js';
import { TinyFaceDetector } from './tiny-face-detector.js';
import { FacePipeline } from './detect-faces.js';

/** face-api's tiny face detector (`path`: a manifest, model.json or .safetensors; default the package's). */
export async function loadTinyFaceDetector(opts: { path?: string } = {}): Promise<TinyFaceDetector> {
  const { source, close } = await openFaceApiWeights(opts.path, FACEAPI_MODEL_NAMES.tinyFaceDetector);
  try {
    return new TinyFaceDetector(source);
  } finally {
    close();
  }
}

export interface FacePipelinePaths {
  /** Tiny face detector weights (default: the package's tiny_face_detector_model). */
  detector?: string;
  /** 68-point landmark net weights (default: face_landmark_68_model). */
  landmarks?: string;
  /** Expression net weights (default: face_expression_model). */
  expressions?: string;
  /** Load the expression net (default true; LRDif's alignment does not need it). */
  withExpressions?: boolean;
}

/** The detector, the landmark net and (unless withExpressions is false) the expression net. */
export async function loadFacePipeline(paths: FacePipelinePaths = {}): Promise<FacePipeline> {
  const detector = await loadTinyFaceDetector({ path: paths.detector });
  try {
    const landmarks = await loadFaceLandmark68Net({ path: paths.landmarks });
    try {
      const expressions = paths.withExpressions === false ? null : await loadFaceExpressionNet({ path: paths.expressions });
      return new FacePipeline(detector, landmarks, expressions);
    } catch (e) {
      landmarks.dispose();
      throw e;
    }
  } catch (e) {
    detector.dispose();
    throw e;
  }
}
