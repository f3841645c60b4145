/**
 * Node loaders for face-api's networks: weights from the installed @vladmandic/face-api package
 * (its model/ folder) by default, or from any `*-weights_manifest.json` / `model.json`, or from a
 * `.safetensors` file written by `lrdif convert --tfjs`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { readTfjsWeights } from '../../io/tfjs-weights-node.js';
import { openSafetensorsFile } from '../../io/safetensors-node.js';
import { FaceLandmark68Net, FaceLandmarkFeatures } from './landmark-net.js';
import { FaceExpressionNet } from './expression-net.js';
import { safetensorsFaceApiSource, type FaceApiWeightSource } from './weights.js';

export { readTfjsWeights };

/** The model names of face-api's manifests (`<name>-weights_manifest.json`). */
export const FACEAPI_MODEL_NAMES = {
  landmark68: 'face_landmark_68_model',
  landmark68Tiny: 'face_landmark_68_tiny_model',
  expression: 'face_expression_model',
  tinyFaceDetector: 'tiny_face_detector_model',
  ssdMobilenetv1: 'ssd_mobilenetv1_model',
  recognition: 'face_recognition_model',
  ageGender: 'age_gender_model',
} as const;

/** The model/ folder of the installed @vladmandic/face-api package. */
export function faceApiModelDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve('@vladmandic/face-api/package.json');
  } catch (e) {
    throw new Error(`lrdif: the npm package @vladmandic/face-api is not installed (needed for its model weights; or pass a manifest path): ${(e as Error).message}`);
  }
  return join(dirname(pkg), 'model');
}

/** The manifest path of one of face-api's models in the installed package. */
export function faceApiManifestPath(model: string): string {
  return join(faceApiModelDir(), `${model}-weights_manifest.json`);
}

/**
 * Opens weights for a face-api net: `path` is a TF.js manifest / model.json, or a .safetensors
 * file (TF.js names and layouts); without it, `model` from the installed package.
 * Call the returned `close()` when the net is built.
 */
export async function openFaceApiWeights(path: string | undefined, model: string): Promise<{ source: FaceApiWeightSource; close: () => void }> {
  const file = path ?? faceApiManifestPath(model);
  if (file.endsWith('.safetensors')) {
    const reader = openSafetensorsFile(file);
    return { source: safetensorsFaceApiSource(reader), close: () => reader.close() };
  }
  return { source: await readTfjsWeights(file), close: () => {} };
}

async function build<T>(path: string | undefined, model: string, make: (src: FaceApiWeightSource) => T): Promise<T> {
  const { source, close } = await openFaceApiWeights(path, model);
  try {
    return make(source);
  } finally {
    close();
  }
}

/** face-api's 68-point landmark net (`tiny` for face_landmark_68_tiny_model). */
export function loadFaceLandmark68Net(opts: { tiny?: boolean; path?: string } = {}): Promise<FaceLandmark68Net> {
  const tiny = opts.tiny ?? false;
  return build(opts.path, tiny ? FACEAPI_MODEL_NAMES.landmark68Tiny : FACEAPI_MODEL_NAMES.landmark68, (src) => new FaceLandmark68Net(src, tiny ? 'tiny' : 'full'));
}

/** face-api's expression net. */
export function loadFaceExpressionNet(opts: { path?: string } = {}): Promise<FaceExpressionNet> {
  return build(opts.path, FACEAPI_MODEL_NAMES.expression, (src) => new FaceExpressionNet(src));
}

/** LRDif's frozen landmark feature taps (the extractor of face_landmark_68_model). */
export function loadFaceLandmarkFeatures(opts: { path?: string } = {}): Promise<FaceLandmarkFeatures> {
  return build(opts.path, FACEAPI_MODEL_NAMES.landmark68, (src) => FaceLandmarkFeatures.fromWeights(src));
}
