#!/usr/bin/env node
/**
 * Reference results of @vladmandic/face-api's tiny face detector and its full
 * detect → landmarks → expressions pipeline, for test/faceapi-detect.test.ts.
 *
 *   node test/golden/make_faceapi_detect_fixtures.mjs
 *
 * Runs face-api 1.7.15 with the TensorFlow.js it bundles (dist/face-api.esm.js, tfjs 4.22) on
 * the CPU backend, the weights decoded by TF.js itself (tf.io.decodeWeights) from the package's
 * model/*-weights_manifest.json + .bin files, and writes test/golden/fixtures/faceapi-detect.json.
 * Nothing of lrdif is imported.
 *
 * Inputs: the package's demo photos demo/sample{1..6}.jpg decoded with jpeg-js (lrdif's decoder,
 * same options; the fixture stores an FNV-1a hash of the RGB bytes so the test knows it decodes
 * the same pixels), and two images without faces: a flat grey one and one of random bytes
 * (Mulberry32, seed stored; value (y, x, c) is the (y·W + x)·3 + c-th draw). Each goes to
 * face-api as a float32 tensor3d [H, W, 3] of the 0..255 values (face-api's Node usage).
 *
 * Per input and detector options (inputSize, scoreThreshold; face-api's defaults 416 and 0.5,
 * plus two other settings on sample1.jpg):
 * - raw (some inputs): the detector network's output [1, S/32, S/32, 25] (TinyFaceDetector
 *   .forwardInput), NHWC order as TF.js returns it;
 * - detections: faceapi.detectAllFaces(image, new TinyFaceDetectorOptions(...)): score, box
 *   (x, y, width, height in the photo's pixels), in face-api's order (NMS picks, best first);
 * - faces (default options only): detectAllFaces(...).withFaceLandmarks().withFaceExpressions():
 *   per face its detection (score, box), the 68 landmark positions in the photo, the aligned
 *   rectangle face-api crops for the expression net (alignedRect), the 7 expression
 *   probabilities (neutral, happy, sad, angry, fearful, disgusted, surprised), and the integer
 *   crops face-api cut from the image tensor (extractFaceTensors: box.clipAtImageBorders(),
 *   which floors) for the landmark net (`landmarkCrop`) and the expression net (`expressionCrop`).
 *
 * nms: face-api's own nonMaxSuppression(boxes, scores, 0.4, true) on random boxes (Mulberry32,
 * seed stored; x, y in [0, 100), width, height in [5, 45)) with scores rounded to tenths (ties) and
 * some boxes repeated: the boxes, scores and the picked indices.
 */
import { readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import jpeg from 'jpeg-js';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const FACEAPI_DIR = dirname(require.resolve('@vladmandic/face-api/package.json'));
const OUT = join(HERE, 'fixtures', 'faceapi-detect.json');

// As in make_faceapi_fixtures.mjs: a browser global makes face-api's bundled TF.js use its
// browser platform (its Node platform needs the `util` module the bundle leaves out).
globalThis.window = globalThis;
globalThis.document = {};
const faceapi = await import(join(FACEAPI_DIR, 'dist', 'face-api.esm.js'));
const tf = faceapi.tf;
if (!(await tf.setBackend('cpu'))) throw new Error('tf.setBackend(cpu) failed');
await tf.ready();

/** Mulberry32, the same generator as test/helpers/ref.ts rng(). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a 32-bit of bytes, as 8 hex digits. */
function fnv1a(bytes) {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

function loadWeightMap(model) {
  const manifest = JSON.parse(readFileSync(join(FACEAPI_DIR, 'model', `${model}-weights_manifest.json`), 'utf8'));
  const map = {};
  for (const group of manifest) {
    const all = Buffer.concat(group.paths.map((p) => readFileSync(join(FACEAPI_DIR, 'model', p))));
    Object.assign(map, tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), group.weights));
  }
  return map;
}

faceapi.nets.tinyFaceDetector.loadFromWeightMap(loadWeightMap('tiny_face_detector_model'));
faceapi.nets.faceLandmark68Net.loadFromWeightMap(loadWeightMap('face_landmark_68_model'));
faceapi.nets.faceExpressionNet.loadFromWeightMap(loadWeightMap('face_expression_model'));

const f = (v) => Number(v.toPrecision(9));
const box = (b) => [f(b.x), f(b.y), f(b.width), f(b.height)];
const intBox = (b) => [b.x, b.y, b.width, b.height];

async function detect(t, inputSize, scoreThreshold, withRaw) {
  const opts = new faceapi.TinyFaceDetectorOptions({ inputSize, scoreThreshold });
  const dets = await faceapi.detectAllFaces(t, opts);
  const out = { inputSize, scoreThreshold, detections: dets.map((d) => ({ score: f(d.score), box: box(d.box) })) };
  if (withRaw) {
    const raw = faceapi.nets.tinyFaceDetector.forwardInput(await faceapi.toNetInput(t), inputSize);
    out.rawShape = raw.shape;
    out.raw = Array.from(await raw.data(), (v) => Number(v.toPrecision(7)));
    raw.dispose();
  }
  return out;
}

async function pipeline(t) {
  const [h, w] = t.shape;
  const results = await faceapi.detectAllFaces(t, new faceapi.TinyFaceDetectorOptions()).withFaceLandmarks().withFaceExpressions();
  return results.map((r) => ({
    score: f(r.detection.score),
    box: box(r.detection.box),
    landmarkCrop: intBox(r.detection.forSize(w, h).box.clipAtImageBorders(w, h)),
    landmarks: r.landmarks.positions.map((p) => [f(p.x), f(p.y)]),
    alignedRect: box(r.alignedRect.box),
    expressionCrop: intBox(r.alignedRect.forSize(w, h).box.clipAtImageBorders(w, h)),
    expressions: faceapi.FACE_EXPRESSION_LABELS.map((k) => f(r.expressions[k])),
  }));
}

const inputs = [];
async function run(name, extra, width, height, bytes, settings) {
  const t = tf.tensor3d(Float32Array.from(bytes), [height, width, 3], 'float32');
  const runs = [];
  for (const [inputSize, scoreThreshold, withRaw] of settings) runs.push(await detect(t, inputSize, scoreThreshold, withRaw));
  const faces = await pipeline(t);
  t.dispose();
  console.log(`${name}: ${runs.map((r) => `${r.inputSize}/${r.scoreThreshold}: ${r.detections.length} face(s)`).join(', ')}`);
  inputs.push({ name, ...extra, width, height, hash: fnv1a(bytes), runs, faces });
}

for (let i = 1; i <= 6; i++) {
  const file = `sample${i}.jpg`;
  const img = jpeg.decode(readFileSync(join(FACEAPI_DIR, 'demo', file)), { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
  const settings = i === 1
    ? [[416, 0.5, true], [320, 0.3, true], [608, 0.6, false]]
    : [[416, 0.5, i === 3]];
  await run(file, { kind: 'photo', file }, img.width, img.height, img.data, settings);
}

{
  const [w, h] = [640, 480];
  const bytes = new Uint8Array(w * h * 3).fill(128);
  await run(`flat grey ${w}×${h}`, { kind: 'flat', value: 128 }, w, h, bytes, [[416, 0.5, false]]);
}
{
  const [w, h, seed] = [500, 375, 31];
  const r = rng(seed);
  const bytes = new Uint8Array(w * h * 3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  await run(`random bytes ${w}×${h} (seed ${seed})`, { kind: 'noise', seed }, w, h, bytes, [[416, 0.5, true]]);
}

const nms = [];
for (const seed of [41, 42, 43]) {
  const r = rng(seed);
  const boxes = [];
  const scores = [];
  for (let i = 0; i < 40; i++) {
    if (i > 0 && r() < 0.15) {
      const j = Math.floor(r() * i);
      boxes.push({ ...boxes[j] });
    } else {
      boxes.push({ x: 100 * r(), y: 100 * r(), width: 5 + 40 * r(), height: 5 + 40 * r() });
    }
    scores.push(Math.round(10 * r()) / 10);
  }
  const picks = faceapi.nonMaxSuppression(boxes.map((b) => new faceapi.Box(b)), scores, 0.4, true);
  nms.push({ seed, iouThreshold: 0.4, boxes: boxes.map((b) => [b.x, b.y, b.width, b.height]), scores, picks });
}

const doc = {
  generator: 'test/golden/make_faceapi_detect_fixtures.mjs',
  faceapi: JSON.parse(readFileSync(join(FACEAPI_DIR, 'package.json'), 'utf8')).version,
  tfjs: tf.version.tfjs ?? tf.version['tfjs-core'],
  backend: tf.getBackend(),
  expressionLabels: [...faceapi.FACE_EXPRESSION_LABELS],
  inputs,
  nms,
};
mkdirSync(dirname(OUT), { recursive: true });
const tmp = `${OUT}.${process.pid}.tmp`;
writeFileSync(tmp, `${JSON.stringify(doc)}\n`);
renameSync(tmp, OUT);
console.log(`wrote ${OUT} (${inputs.length} inputs)`);
