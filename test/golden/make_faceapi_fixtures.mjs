#!/usr/bin/env node
/**
 * Reference results of @vladmandic/face-api's own networks for test/faceapi.test.ts.
 *
 *   node test/golden/make_faceapi_fixtures.mjs
 *
 * Runs face-api 1.7.15 with the TensorFlow.js it bundles (dist/face-api.esm.js, tfjs 4.22) on
 * the CPU backend, with the weights decoded by TF.js itself (tf.io.decodeWeights) from the
 * package's model/*-weights_manifest.json + .bin files, and writes
 * test/golden/fixtures/faceapi.json. Nothing of lrdif is imported.
 *
 * Inputs (each face-api net sees exactly what lrdif's does):
 * - photo: a fixed box of one of the package's demo/sample{1..6}.jpg, decoded with jpeg-js
 *   (lrdif's decoder, same options) and cropped to the integer box. The boxes were taken from
 *   face-api's SsdMobilenetv1 detections on these photos (its most confident face in each;
 *   one wider box so both padding axes occur), rounded to integers and fixed here. The fixture
 *   stores the box and an FNV-1a hash of the crop's RGB bytes (the test checks that it decodes
 *   the same pixels). face-api pads each crop to a square and resizes it to 112 itself
 *   (NetInput.toBatchTensor(112, true): zero padding centred, tf.image.resizeBilinear without
 *   align-corners or half-pixel centres).
 * - random-image: 8-bit RGB images of random bytes (Mulberry32, seed stored), not square: one
 *   larger than 112 (downsampled) and one smaller (upsampled).
 * - random: a 112×112×3 float image with values in [0, 255) (Mulberry32, seed stored), fed
 *   straight to the nets (no padding or resizing happens at 112×112).
 * Random values are generated in HWC order: value (y, x, c) is the (y·W + x)·3 + c-th draw.
 *
 * Weights: for each of face_landmark_68_model, face_landmark_68_tiny_model, face_expression_model
 * and ssd_mobilenetv1_model (which has int32 entries), every entry as tf.io.decodeWeights
 * returns it: shape, dtype, the float64 sum of its values in order, and its first 4 values.
 *
 * Outputs per input:
 * - landmarksRaw: FaceLandmark68Net's 136 outputs (fc on the pooled features, before decoding);
 *   landmarks: detectLandmarks' 68 positions in the input's pixel coordinates;
 *   landmarksTinyRaw / landmarksTiny: the same for FaceLandmark68TinyNet;
 * - expressions: FaceExpressionNet's 7 probabilities (neutral, happy, sad, angry, fearful,
 *   disgusted, surprised);
 * - taps: the outputs of dense blocks 2, 3 and 4 (dense1, dense2, dense3) of the landmark
 *   net's FaceFeatureExtractor, as summaries of the NCHW tensor of that image (C×H×W values,
 *   index (c·H + y)·W + x): `proj[k]` = Σ r_k[i]·t[i] with r_k[i] = 2·u − 1, u the i-th draw of
 *   Mulberry32(seed 1000·(tap+1) + k), `scale[k]` = Σ |r_k[i]·t[i]| (the size of the terms, for a
 *   tolerance relative to it), `idx`/`raw` 16 values at indices drawn from
 *   Mulberry32(seed 7000 + tap) (⌊u·size⌋), and maxAbs = max |t|. tap 0 = f28, 1 = f14, 2 = f7.
 *   The taps come from denseBlock4 re-run here with tf ops on the extractor's own parameters; the
 *   script checks that continuing them (avgPool 7×7 stride 2 'valid') reproduces face-api's
 *   FaceFeatureExtractor.forwardInput exactly, so they are face-api's own intermediate tensors.
 */
import { readFileSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import jpeg from 'jpeg-js';

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const FACEAPI_DIR = dirname(require.resolve('@vladmandic/face-api/package.json'));
const OUT = join(HERE, 'fixtures', 'faceapi.json');

// face-api.esm.js picks TF.js's Node platform when it sees Node, and that platform needs the
// `util` module its bundle leaves out; presenting a browser global makes it use the browser
// platform (global fetch and TextEncoder, both in Node 20). Only tensors are passed in.
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
    const parts = group.paths.map((p) => readFileSync(join(FACEAPI_DIR, 'model', p)));
    const all = Buffer.concat(parts);
    Object.assign(map, tf.io.decodeWeights(all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength), group.weights));
  }
  return map;
}

/** TF.js's own decoding of every entry of a model: shape, Σ values (float64, in order) and the first 4 values. */
function weightSummary(map) {
  const out = {};
  for (const [name, t] of Object.entries(map)) {
    const v = t.dataSync();
    let sum = 0;
    for (let i = 0; i < v.length; i++) sum += v[i];
    out[name] = { shape: t.shape, dtype: t.dtype, sum, head: Array.from(v.slice(0, 4)) };
  }
  return out;
}
const WEIGHT_MODELS = ['face_landmark_68_model', 'face_landmark_68_tiny_model', 'face_expression_model', 'ssd_mobilenetv1_model'];
const weights = Object.fromEntries(WEIGHT_MODELS.map((m) => {
  const map = loadWeightMap(m);
  const s = weightSummary(map);
  tf.dispose(Object.values(map));
  return [m, s];
}));

const landmarkNet = new faceapi.FaceLandmark68Net();
landmarkNet.loadFromWeightMap(loadWeightMap('face_landmark_68_model'));
const tinyNet = new faceapi.FaceLandmark68TinyNet();
tinyNet.loadFromWeightMap(loadWeightMap('face_landmark_68_tiny_model'));
const expressionNet = new faceapi.FaceExpressionNet();
expressionNet.loadFromWeightMap(loadWeightMap('face_expression_model'));

// ------------------------------------------------------------------ taps (denseBlock4 with tf ops)

function sepConv(x, p, stride) {
  return tf.add(tf.separableConv2d(x, p.depthwise_filter, p.pointwise_filter, stride, 'same'), p.bias);
}

/** face-api's denseBlock4 (src/faceFeatureExtractor/denseBlock.ts), term for term. */
function denseBlock4(x, p, isFirstLayer) {
  const out1 = tf.relu(isFirstLayer ? tf.add(tf.conv2d(x, p.conv0.filters, [2, 2], 'same'), p.conv0.bias) : sepConv(x, p.conv0, [2, 2]));
  const out2 = sepConv(out1, p.conv1, [1, 1]);
  const in3 = tf.relu(tf.add(out1, out2));
  const out3 = sepConv(in3, p.conv2, [1, 1]);
  const in4 = tf.relu(tf.add(out1, tf.add(out2, out3)));
  const out4 = sepConv(in4, p.conv3, [1, 1]);
  return tf.relu(tf.add(out1, tf.add(out2, tf.add(out3, out4))));
}

/** The four dense block outputs of the landmark net's extractor for a [1, 112, 112, 3] batch tensor (0..255). */
function extractorBlocks(batch) {
  const p = landmarkNet.faceFeatureExtractor.params;
  const normalized = faceapi.normalize(batch, [122.782, 117.001, 104.298]).div(255);
  const d0 = denseBlock4(normalized, p.dense0, true);
  const d1 = denseBlock4(d0, p.dense1);
  const d2 = denseBlock4(d1, p.dense2);
  const d3 = denseBlock4(d2, p.dense3);
  return [d0, d1, d2, d3];
}

/** NHWC [1, H, W, C] values → NCHW-ordered Float64Array. */
function toNchw(values, h, w, c) {
  const out = new Float64Array(h * w * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[(ch * h + y) * w + x] = values[(y * w + x) * c + ch];
  return out;
}

const K = 8;
const RAW = 16;
const f = (v) => Number(v.toPrecision(9));

function summarise(t, tap) {
  const n = t.length;
  const proj = [];
  const scale = [];
  for (let k = 0; k < K; k++) {
    const r = rng(1000 * (tap + 1) + k);
    let s = 0;
    let a = 0;
    for (let i = 0; i < n; i++) {
      const term = (2 * r() - 1) * t[i];
      s += term;
      a += Math.abs(term);
    }
    proj.push(f(s));
    scale.push(f(a));
  }
  const ri = rng(7000 + tap);
  const idx = [];
  for (let j = 0; j < RAW; j++) idx.push(Math.floor(ri() * n));
  let maxAbs = 0;
  for (let i = 0; i < n; i++) maxAbs = Math.max(maxAbs, Math.abs(t[i]));
  return { proj, scale, idx, raw: idx.map((i) => f(t[i])), maxAbs: f(maxAbs) };
}

// ------------------------------------------------------------------ one input through everything

async function run(input /* tf.Tensor3D [H, W, 3] float32, 0..255 */) {
  const [h, w] = input.shape;
  const netInput = await faceapi.toNetInput(input);
  const batch = netInput.toBatchTensor(112, true); // what every net sees: [1, 112, 112, 3]

  const raw = landmarkNet.runNet(await faceapi.toNetInput(input));
  const lm = await landmarkNet.detectLandmarks(input);
  const rawTiny = tinyNet.runNet(await faceapi.toNetInput(input));
  const lmTiny = await tinyNet.detectLandmarks(input);
  const expr = await expressionNet.predictExpressions(input);

  const blocks = extractorBlocks(batch);
  const pooled = tf.avgPool(blocks[3], [7, 7], [2, 2], 'valid');
  const official = landmarkNet.faceFeatureExtractor.forwardInput(await faceapi.toNetInput(input));
  const a = await pooled.data();
  const b = await official.data();
  for (let i = 0; i < b.length; i++) {
    if (a[i] !== b[i]) throw new Error(`the re-run dense blocks differ from FaceFeatureExtractor.forwardInput at ${i}: ${a[i]} vs ${b[i]}`);
  }
  const taps = {};
  const names = ['f28', 'f14', 'f7'];
  for (let t = 0; t < 3; t++) {
    const blk = blocks[t + 1];
    const [, bh, bw, bc] = blk.shape;
    taps[names[t]] = { shape: [bc, bh, bw], ...summarise(toNchw(await blk.data(), bh, bw, bc), t) };
  }
  const out = {
    width: w,
    height: h,
    landmarksRaw: Array.from(await raw.data(), f),
    landmarks: lm.positions.map((p) => [f(p.x), f(p.y)]),
    landmarksTinyRaw: Array.from(await rawTiny.data(), f),
    landmarksTiny: lmTiny.positions.map((p) => [f(p.x), f(p.y)]),
    expressions: faceapi.FACE_EXPRESSION_LABELS.map((k) => f(expr[k])),
    taps,
  };
  tf.dispose([batch, raw, rawTiny, pooled, official, ...blocks]);
  return out;
}

// ------------------------------------------------------------------ inputs

/** [file, x, y, width, height]: face-api SsdMobilenetv1's most confident face per photo (rounded), and one wider box. */
const BOXES = [
  ['sample1.jpg', 414, 355, 178, 238],
  ['sample2.jpg', 1447, 153, 193, 243],
  ['sample3.jpg', 585, 329, 199, 271],
  ['sample4.jpg', 664, 52, 187, 258],
  ['sample5.jpg', 787, 109, 156, 212],
  ['sample6.jpg', 681, 321, 159, 306],
  ['sample1.jpg', 800, 420, 262, 228],
];

const decoded = new Map();
function decode(file) {
  if (!decoded.has(file)) {
    const img = jpeg.decode(readFileSync(join(FACEAPI_DIR, 'demo', file)), { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
    decoded.set(file, img);
  }
  return decoded.get(file);
}

function crop(img, x, y, w, h) {
  if (x < 0 || y < 0 || x + w > img.width || y + h > img.height) throw new Error(`box ${[x, y, w, h]} is outside the ${img.width}×${img.height} image`);
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) out.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3), r * w * 3);
  return out;
}

const inputs = [];
for (const [file, x, y, w, h] of BOXES) {
  const img = decode(file);
  const bytes = crop(img, x, y, w, h);
  const t = tf.tensor3d(Float32Array.from(bytes), [h, w, 3], 'float32');
  console.log(`${file} box ${[x, y, w, h].join(',')}`);
  inputs.push({ name: `${file} [${x}, ${y}, ${w}, ${h}]`, kind: 'photo', file, box: [x, y, w, h], imageWidth: img.width, imageHeight: img.height, cropHash: fnv1a(bytes), ...(await run(t)) });
  t.dispose();
}

for (const [seed, w, h] of [[21, 150, 97], [22, 47, 61]]) {
  const r = rng(seed);
  const bytes = new Uint8Array(w * h * 3);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(r() * 256);
  const t = tf.tensor3d(Float32Array.from(bytes), [h, w, 3], 'float32');
  console.log(`random-image seed ${seed} ${w}×${h}`);
  inputs.push({ name: `random 8-bit image ${w}×${h} (seed ${seed})`, kind: 'random-image', seed, cropHash: fnv1a(bytes), ...(await run(t)) });
  t.dispose();
}

for (const seed of [11, 12]) {
  const r = rng(seed);
  const v = new Float32Array(112 * 112 * 3);
  for (let i = 0; i < v.length; i++) v[i] = Math.fround(255 * r());
  const t = tf.tensor3d(v, [112, 112, 3], 'float32');
  console.log(`random seed ${seed}`);
  inputs.push({ name: `random float 112×112 (seed ${seed})`, kind: 'random', seed, ...(await run(t)) });
  t.dispose();
}

const doc = {
  generator: 'test/golden/make_faceapi_fixtures.mjs',
  faceapi: JSON.parse(readFileSync(join(FACEAPI_DIR, 'package.json'), 'utf8')).version,
  tfjs: tf.version.tfjs ?? tf.version['tfjs-core'],
  backend: tf.getBackend(),
  expressionLabels: [...faceapi.FACE_EXPRESSION_LABELS],
  projections: K,
  rawValues: RAW,
  weights,
  inputs,
};
mkdirSync(dirname(OUT), { recursive: true });
const tmp = `${OUT}.${process.pid}.tmp`;
writeFileSync(tmp, `${JSON.stringify(doc)}\n`);
renameSync(tmp, OUT);
console.log(`wrote ${OUT} (${inputs.length} inputs)`);
