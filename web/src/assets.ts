/**
 * What the page fetches from its own server (web/vite.config.ts serves and bundles it): face-api's
 * tiny face detector, 68-point landmark and expression weights (the last only for checkpoints whose
 * image encoder is face-api's expression net), OpenAI's CLIP BPE merges, and the shipped
 * pretrained models (assets/models/, src/pretrained). Each is loaded once per page.
 */
import { fetchTfjsWeights, TfjsWeightMap } from '../../src/io/tfjs-weights.js';
import { ClipTokenizer } from '../../src/models/clip/tokenizer.js';
import { TinyFaceDetector } from '../../src/models/faceapi/tiny-face-detector.js';
import { FaceLandmark68Net, FaceLandmarkFeatures } from '../../src/models/faceapi/landmark-net.js';
import { FacePipeline } from '../../src/models/faceapi/detect-faces.js';
import { FaceExpressionNet } from '../../src/models/faceapi/expression-net.js';
import { FaceExpressionEmbedder, parameterHash, sha256Hex, type ImageEmbedderLoader } from '../../src/train/encoders.js';
import { parseCard, pretrainedEntry, PRETRAINED_DIR, PRETRAINED_FILES, type PretrainedCard } from '../../src/pretrained/models.js';
import { PageError, plainMessage } from './errors.js';

const base = () => new URL('./', location.href);
export const FACEAPI_URLS = {
  detector: 'models/faceapi/tiny_face_detector_model-weights_manifest.json',
  landmarks: 'models/faceapi/face_landmark_68_model-weights_manifest.json',
  expression: 'models/faceapi/face_expression_model-weights_manifest.json',
};
export const BPE_URL = 'assets/clip/bpe_simple_vocab_16e6.txt.gz';

const weightCache = new Map<string, Promise<TfjsWeightMap>>();

function weights(path: string): Promise<TfjsWeightMap> {
  let p = weightCache.get(path);
  if (!p) {
    p = fetchTfjsWeights(new URL(path, base())).catch((e: unknown) => {
      weightCache.delete(path);
      throw new PageError(`could not load face-api's weights from ${path}: ${plainMessage(e)}`);
    });
    weightCache.set(path, p);
  }
  return p;
}

/** face-api's detector and landmark net (fresh GPU copies; dispose when done). */
export async function loadFacePipeline(): Promise<FacePipeline> {
  const [det, lm] = await Promise.all([weights(FACEAPI_URLS.detector), weights(FACEAPI_URLS.landmarks)]);
  const detector = new TinyFaceDetector(det);
  try {
    return new FacePipeline(detector, new FaceLandmark68Net(lm, 'full'), null);
  } catch (e) {
    detector.dispose();
    throw e;
  }
}

/** LRDif's frozen landmark feature extractor (fresh GPU copy; dispose when done). */
export async function loadLandmarkFeatures(): Promise<FaceLandmarkFeatures> {
  return FaceLandmarkFeatures.fromWeights(await weights(FACEAPI_URLS.landmarks));
}

/** LRDif's image encoders other than CLIP (config imageEncoder), built from the page's assets. */
export const loadImageEmbedder: ImageEmbedderLoader = async (kind) => {
  if (kind !== 'faceapi-expression') throw new PageError(`this page has no image encoder '${kind}'`);
  const net = new FaceExpressionNet(await weights(FACEAPI_URLS.expression));
  return new FaceExpressionEmbedder(net, await parameterHash(net.stateDict()));
};

let tokenizer: Promise<ClipTokenizer> | null = null;

/** OpenAI's CLIP tokenizer (the bundled BPE merges). */
export function loadTokenizer(): Promise<ClipTokenizer> {
  if (!tokenizer) {
    tokenizer = (async () => {
      const res = await fetch(new URL(BPE_URL, base()));
      if (!res.ok) throw new PageError(`could not load the CLIP tokenizer's merges from ${BPE_URL}: HTTP ${res.status}`);
      return ClipTokenizer.fromBpeFile(new Uint8Array(await res.arrayBuffer()));
    })();
    tokenizer.catch(() => {
      tokenizer = null;
    });
  }
  return tokenizer;
}

/** A shipped model's URLs (relative to the page). */
export function shippedModelUrls(name: string): { model: string; card: string } {
  const e = pretrainedEntry(name);
  return { model: `${PRETRAINED_DIR}/${e.folder}/${PRETRAINED_FILES.model}`, card: `${PRETRAINED_DIR}/${e.folder}/${PRETRAINED_FILES.card}` };
}

/** A shipped model's checkpoint bytes and card, the bytes checked against the card's SHA-256. */
export async function loadShippedModel(name: string): Promise<{ name: string; bytes: Uint8Array; card: PretrainedCard }> {
  const urls = shippedModelUrls(name);
  const get = async (path: string) => {
    let res: Response;
    try {
      res = await fetch(new URL(path, base()));
    } catch (e) {
      throw new PageError(`could not load the shipped model '${name}' from ${path}: ${plainMessage(e)}`);
    }
    if (!res.ok)
      throw new PageError(`could not load the shipped model '${name}' from ${path}: HTTP ${res.status} (a build without the packaged models? Pick your own checkpoint instead)`);
    return new Uint8Array(await res.arrayBuffer());
  };
  const [bytes, cardBytes] = await Promise.all([get(urls.model), get(urls.card)]);
  let card: PretrainedCard;
  try {
    card = parseCard(new TextDecoder().decode(cardBytes), urls.card);
  } catch (e) {
    throw new PageError(plainMessage(e));
  }
  const sha = await sha256Hex(bytes);
  if (sha !== card.model.sha256) throw new PageError(`${urls.model} is damaged: its sha256 is ${sha.slice(0, 12)}…, its card says ${card.model.sha256.slice(0, 12)}…`);
  return { name: urls.model, bytes, card };
}
