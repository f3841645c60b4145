/**
 * face-api's pretrained networks against face-api itself (test/golden/make_faceapi_fixtures.mjs
 * → test/golden/fixtures/faceapi.json: @vladmandic/face-api 1.7.15 with its bundled TF.js 4.22
 * on the CPU backend), and the TF.js weights loader against tf.io.decodeWeights and the format.
 *
 * Tolerance rule: |ours − face-api| ≤ 1e-4 × the scale of the value, where the scale is
 * - 1 for the raw landmark outputs (fractions of the 112 input) and for probabilities;
 * - the crop's longer side for landmark positions in pixels;
 * - Σ|r_k[i]·t[i]| (the size of the summed terms) for a random projection of a feature tap;
 * - max |t| of the tap for its raw values.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { rng, expectClose } from './helpers/ref.js';
import { tensor, tidy, concat, type Tensor } from '../src/node.js';
import { readImageFile } from '../src/io/image-node.js';
import { readTfjsWeights } from '../src/io/tfjs-weights-node.js';
import { openSafetensorsFile } from '../src/io/safetensors-node.js';
import {
  loadTfjsWeights,
  parseTfjsManifest,
  TfjsWeightsError,
  FaceLandmark68Net,
  FaceLandmarkFeatures,
  FaceExpressionNet,
  FACE_EXPRESSION_LABELS,
  cropRgbImage,
  faceApiInput,
  faceApiSquarePadding,
  tfLegacyBilinearMatrix,
  decodeFaceLandmarks,
  safetensorsFaceApiSource,
  type TfjsWeightMap,
} from '../src/models/faceapi/index.js';
import { faceApiModelDir, faceApiManifestPath, loadFaceLandmark68Net, loadFaceExpressionNet, loadFaceLandmarkFeatures } from '../src/models/faceapi/load-node.js';
import { runNode } from './helpers/child.js';
import { FaceExpressionEmbedder } from '../src/train/encoders.js';
import { softmax } from '../src/kernels/softmax.js';
import { clamp } from '../src/kernels/elementwise.js';
import { resize } from '../src/kernels/resize.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = join(HERE, '..', 'bin', 'lrdif.js');

interface TapSummary {
  shape: number[];
  proj: number[];
  scale: number[];
  idx: number[];
  raw: number[];
  maxAbs: number;
}
interface FixtureInput {
  name: string;
  kind: 'photo' | 'random-image' | 'random';
  file?: string;
  box?: [number, number, number, number];
  seed?: number;
  cropHash?: string;
  width: number;
  height: number;
  landmarksRaw: number[];
  landmarks: Array<[number, number]>;
  landmarksTinyRaw: number[];
  landmarksTiny: Array<[number, number]>;
  expressions: number[];
  taps: Record<'f28' | 'f14' | 'f7', TapSummary>;
}
interface Fixture {
  faceapi: string;
  expressionLabels: string[];
  projections: number;
  weights: Record<string, Record<string, { shape: number[]; dtype: string; sum: number; head: number[] }>>;
  inputs: FixtureInput[];
}

const FIX: Fixture = JSON.parse(readFileSync(join(HERE, 'golden', 'fixtures', 'faceapi.json'), 'utf8'));

function fnv1a(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** |a − e| ≤ tol · scale for every element; the message names the worst one. */
function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: number | ArrayLike<number>, what: string, tol = 1e-4): void {
  if (process.env.FACEAPI_REPORT) {
    // FACEAPI_REPORT=1 prints how close each comparison is (max |diff| / scale)
    let m = 0;
    for (let i = 0; i < expected.length; i++) m = Math.max(m, Math.abs(actual[i] - expected[i]) / (typeof scale === 'number' ? scale : scale[i]));
    console.log(`${what}: max |diff|/scale ${m.toExponential(2)}`);
  }
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstRatio = 1;
  for (let i = 0; i < expected.length; i++) {
    const s = typeof scale === 'number' ? scale : scale[i];
    const r = Math.abs(actual[i] - expected[i]) / (tol * s);
    if (!(r <= worstRatio)) {
      worstRatio = r;
      worst = i;
    }
  }
  if (worst >= 0) {
    const s = typeof scale === 'number' ? scale : scale[worst];
    expect.fail(
      `${what}: element ${worst}: got ${actual[worst]}, face-api ${expected[worst]} (|diff| ${Math.abs(actual[worst] - expected[worst]).toExponential(3)} > ${tol} × scale ${s})`,
    );
  }
}

/** The fixture's input as our nets take it: the RGB crop (photo, random-image) or the 112² float image as [1, 3, 112, 112] in [0, 1]. */
const photoCache = new Map<string, ReturnType<typeof readImageFile>>();
function crop(inp: FixtureInput) {
  if (inp.kind === 'photo') {
    const file = inp.file!;
    if (!photoCache.has(file)) photoCache.set(file, readImageFile(join(dirname(faceApiModelDir()), 'demo', file)));
    const [x, y, width, height] = inp.box!;
    return cropRgbImage(photoCache.get(file)!, { x, y, width, height });
  }
  const r = rng(inp.seed!);
  const data = new Uint8Array(inp.width * inp.height * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { width: inp.width, height: inp.height, data };
}

function randomFloatInput(seed: number): Tensor {
  const r = rng(seed);
  const hwc = new Float32Array(112 * 112 * 3);
  for (let i = 0; i < hwc.length; i++) hwc[i] = Math.fround(255 * r());
  const chw = new Float32Array(hwc.length);
  for (let p = 0; p < 112 * 112; p++) for (let c = 0; c < 3; c++) chw[c * 112 * 112 + p] = hwc[p * 3 + c] / 255;
  return tensor(chw, [1, 3, 112, 112]);
}

/** Every fixture input as one batch [N, 3, 112, 112] in [0, 1], with each input's size. */
function fixtureBatch(): { x: Tensor; dims: Array<{ width: number; height: number }> } {
  const dims: Array<{ width: number; height: number }> = [];
  const x = tidy(() => {
    const parts = FIX.inputs.map((inp) => {
      dims.push({ width: inp.width, height: inp.height });
      if (inp.kind === 'random') return randomFloatInput(inp.seed!);
      const img = crop(inp);
      expect(fnv1a(img.data), `${inp.name}: crop pixels`).toBe(inp.cropHash);
      return faceApiInput([img]).input;
    });
    return concat(parts, 0);
  });
  return { x, dims };
}

// ---------------------------------------------------------------------------------- loader

function manifestBytes(specs: Array<{ name: string; shape: number[]; dtype: string; quantization?: object }>, paths = ['w.bin']) {
  return [{ paths, weights: specs }];
}

async function loadMem(manifest: unknown, shards: Record<string, Uint8Array>, file = 'mem-manifest.json'): Promise<TfjsWeightMap> {
  return loadTfjsWeights(
    manifest,
    (p) => {
      if (!(p in shards)) throw new Error(`no such file ${p}`);
      return shards[p];
    },
    file,
  );
}

async function expectTfjsError(p: Promise<unknown> | (() => unknown), entry: string | null, text: RegExp | string, file = 'mem-manifest.json'): Promise<void> {
  let err: unknown = null;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err, 'an error').toBeInstanceOf(TfjsWeightsError);
  const e = err as TfjsWeightsError;
  expect(e.file).toBe(file);
  expect(e.entry).toBe(entry);
  expect(e.message).toContain(`'${file}'`);
  if (entry !== null) expect(e.message).toContain(`entry '${entry}'`);
  if (typeof text === 'string') expect(e.message).toContain(text);
  else expect(e.message).toMatch(text);
}

describe('TF.js weights loader', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('decodes face-api manifests exactly as tf.io.decodeWeights (uint8 quantised, float32, int32)', async () => {
    for (const [model, entries] of Object.entries(FIX.weights)) {
      const map = await readTfjsWeights(faceApiManifestPath(model));
      expect(map.names().sort(), model).toEqual(Object.keys(entries).sort());
      for (const [name, ref] of Object.entries(entries)) {
        const w = map.get(name);
        expect(w.shape, `${model} ${name}`).toEqual(ref.shape);
        expect(w.dtype, `${model} ${name}`).toBe(ref.dtype);
        expect(Array.from(w.data.slice(0, 4)), `${model} ${name}: first values`).toEqual(ref.head);
        let sum = 0;
        for (let i = 0; i < w.data.length; i++) sum += w.data[i];
        expect(sum, `${model} ${name}: sum`).toBe(ref.sum);
      }
    }
  });

  it('decodes uint16 and float16 quantisation, int32 (rounded), bool, several shards and groups, model.json', async () => {
    // group 0, split over two shards mid-entry: a float32 [3], uint16 [2, 2] with scale/min, float16 [5]
    const f32 = new Float32Array([1.5, -2.25, 3e-8]);
    const u16 = new Uint16Array([0, 1, 65535, 300]);
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00]); // 1, -2, 65504, 2^-24, +inf
    const g0 = new Uint8Array(12 + 8 + 10);
    g0.set(new Uint8Array(f32.buffer), 0);
    g0.set(new Uint8Array(u16.buffer), 12);
    g0.set(new Uint8Array(f16.buffer), 20);
    // group 1: int32 [2] plain, int32 [3] uint8-quantised, bool [4]
    const i32 = new Int32Array([-7, 2147483647]);
    const g1 = new Uint8Array(8 + 3 + 4);
    g1.set(new Uint8Array(i32.buffer), 0);
    g1.set([0, 3, 255], 8);
    g1.set([0, 1, 0, 7], 11);
    const model = {
      format: 'graph-model',
      weightsManifest: [
        {
          paths: ['g0-shard1of2.bin', 'g0-shard2of2.bin'],
          weights: [
            { name: 'a', shape: [3], dtype: 'float32' },
            { name: 'b', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint16', scale: 0.001, min: -1, original_dtype: 'float32' } },
            { name: 'c', shape: [5], dtype: 'float32', quantization: { dtype: 'float16' } },
          ],
        },
        {
          paths: ['g1.bin'],
          weights: [
            { name: 'd', shape: [2], dtype: 'int32' },
            { name: 'e', shape: [3], dtype: 'int32', quantization: { dtype: 'uint8', scale: 0.5, min: -0.75 } },
            { name: 'f', shape: [2, 2], dtype: 'bool' },
          ],
        },
      ],
    };
    const map = await loadMem(model, { 'g0-shard1of2.bin': g0.subarray(0, 14), 'g0-shard2of2.bin': g0.subarray(14), 'g1.bin': g1 });
    expect(Array.from(map.get('a').data)).toEqual(Array.from(f32));
    expect(Array.from(map.get('b').data)).toEqual([0, 1, 65535, 300].map((q) => Math.fround(q * 0.001 - 1)));
    expect(map.get('b').storedAs).toBe('uint16');
    expect(Array.from(map.get('c').data)).toEqual([1, -2, 65504, 2 ** -24, Infinity]);
    expect(map.get('d').data).toBeInstanceOf(Int32Array);
    expect(Array.from(map.get('d').data)).toEqual([-7, 2147483647]);
    expect(Array.from(map.get('e').data)).toEqual([-1, 1, 127]); // Math.round of -0.75, 0.75, 126.75
    expect(Array.from(map.get('f').data)).toEqual([0, 1, 0, 1]);
    // engine tensors: float32 → f32, int32 and bool → i32
    const tb = map.tensor('b', { shape: [2, 2] });
    const td = map.tensor('d');
    expect(tb.dtype).toBe('f32');
    expect(td.dtype).toBe('i32');
    expect(Array.from(await tb.data())).toEqual(Array.from(map.get('b').data));
    expect(Array.from(await td.data())).toEqual([-7, 2147483647]);
    tb.dispose();
    td.dispose();
  });

  it('names the manifest and the entry in every error', async () => {
    const bytes = new Uint8Array(3 * 4 + 2);
    const specs = [
      { name: 'w0', shape: [3], dtype: 'float32' },
      { name: 'w1', shape: [2], dtype: 'float32', quantization: { dtype: 'uint8', scale: 0.1, min: 0 } },
    ];
    expect((await loadMem(manifestBytes(specs), { 'w.bin': bytes })).names()).toEqual(['w0', 'w1']);
    // wrong byte counts: short shards name the first entry that does not fit, long ones the last entry
    await expectTfjsError(loadMem(manifestBytes(specs), { 'w.bin': bytes.subarray(0, 13) }), 'w1', 'hold only 13 bytes');
    await expectTfjsError(loadMem(manifestBytes(specs), { 'w.bin': bytes.subarray(0, 11) }), 'w0', 'hold only 11 bytes');
    await expectTfjsError(loadMem(manifestBytes(specs), { 'w.bin': new Uint8Array(20) }), 'w1', '6 bytes are left over');
    await expectTfjsError(loadMem(manifestBytes([{ ...specs[0], shape: [4] }, specs[1]]), { 'w.bin': bytes }), 'w0', 'needs bytes 0..16 (shape [4], float32) but');
    // a missing shard names the first entry stored in it
    await expectTfjsError(loadMem(manifestBytes(specs, ['a.bin', 'b.bin']), { 'a.bin': bytes.subarray(0, 12) }), 'w1', "cannot read shard 'b.bin'");
    await expectTfjsError(loadMem(manifestBytes(specs, ['a.bin', 'b.bin']), { 'b.bin': bytes }), 'w0', "cannot read shard 'a.bin'");
    // dtypes and quantisation
    await expectTfjsError(loadMem(manifestBytes([{ name: 'x', shape: [1], dtype: 'float64' }]), {}), 'x', 'unknown dtype "float64"');
    await expectTfjsError(loadMem(manifestBytes([{ name: 's', shape: [1], dtype: 'string' }]), {}), 's', "dtype 'string'");
    await expectTfjsError(
      loadMem(manifestBytes([{ name: 'q', shape: [1], dtype: 'float32', quantization: { dtype: 'int4', scale: 1, min: 0 } }]), {}),
      'q',
      'unknown quantization dtype "int4"',
    );
    await expectTfjsError(
      loadMem(manifestBytes([{ name: 'q', shape: [1], dtype: 'float32', quantization: { dtype: 'uint8', min: 0 } }]), {}),
      'q',
      'needs finite numbers "scale" and "min"',
    );
    await expectTfjsError(
      loadMem(manifestBytes([{ name: 'q', shape: [1], dtype: 'int32', quantization: { dtype: 'float16' } }]), {}),
      'q',
      'float16 quantization applies to float32 weights only',
    );
    await expectTfjsError(loadMem(manifestBytes([{ name: 'q', shape: [1], dtype: 'bool', quantization: { dtype: 'uint8', scale: 1, min: 0 } }]), {}), 'q', 'cannot be quantised');
    await expectTfjsError(loadMem(manifestBytes([{ name: 'q', shape: [2, -1], dtype: 'float32' }]), {}), 'q', '"shape" must be an array of non-negative integers');
    await expectTfjsError(loadMem(manifestBytes([specs[0], specs[0]]), {}), 'w0', 'occurs twice');
    // the structure itself
    await expectTfjsError(() => parseTfjsManifest({ modelTopology: {} }, 'mem-manifest.json'), null, 'not a weights manifest');
    await expectTfjsError(() => parseTfjsManifest([{ paths: [], weights: [] }], 'mem-manifest.json'), null, 'group 0: "paths" must be a non-empty array');
    await expectTfjsError(() => parseTfjsManifest([{ paths: ['a'], weights: [{ shape: [1], dtype: 'float32' }] }], 'mem-manifest.json'), null, 'group 0, entry 0: "name"');
    // access by the networks: absent names and wrong shapes
    const map = await loadMem(manifestBytes(specs), { 'w.bin': bytes });
    await expectTfjsError(() => map.get('dense0/conv0/filters'), 'dense0/conv0/filters', 'the network needs this entry but the manifest has no such name');
    await expectTfjsError(() => map.float32('w0', [3, 1]), 'w0', 'the network needs shape [3, 1], the manifest has [3]');
  });

  it('reads manifests from disk: a missing shard file, bad JSON, and an entry the network needs that is absent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lrdif-tfjs-'));
    try {
      const src = JSON.parse(readFileSync(faceApiManifestPath('face_landmark_68_tiny_model'), 'utf8'));
      const bin = readFileSync(join(faceApiModelDir(), 'face_landmark_68_tiny_model.bin'));
      // a missing shard
      const m1 = join(dir, 'missing-weights_manifest.json');
      writeFileSync(m1, JSON.stringify([{ paths: ['nowhere.bin'], weights: src[0].weights }]));
      await expectTfjsError(readTfjsWeights(m1), 'dense0/conv0/filters', /cannot read shard 'nowhere\.bin' of group 0: no such file .*nowhere\.bin/, m1);
      // not JSON
      const m2 = join(dir, 'bad.json');
      writeFileSync(m2, '[{"paths": ');
      await expectTfjsError(readTfjsWeights(m2), null, 'not valid JSON', m2);
      // an entry removed (its bytes too): loads, but the network names what it lacks
      const weights = src[0].weights as Array<{ name: string; shape: number[] }>;
      const at = weights.findIndex((w) => w.name === 'dense1/conv2/bias');
      let off = 0;
      for (let i = 0; i < at; i++) off += weights[i].shape.reduce((a, b) => a * b, 1);
      const n = weights[at].shape.reduce((a, b) => a * b, 1);
      writeFileSync(join(dir, 'cut.bin'), Buffer.concat([bin.subarray(0, off), bin.subarray(off + n)]));
      const m3 = join(dir, 'cut-weights_manifest.json');
      writeFileSync(m3, JSON.stringify([{ paths: ['cut.bin'], weights: weights.filter((_, i) => i !== at) }]));
      const map = await readTfjsWeights(m3);
      await expectTfjsError(() => new FaceLandmark68Net(map, 'tiny'), 'dense1/conv2/bias', 'the network needs this entry', m3);
      // the full net asks for dense3, which the tiny manifest lacks
      const tinyMap = await readTfjsWeights(faceApiManifestPath('face_landmark_68_tiny_model'));
      await expectTfjsError(
        () => new FaceLandmark68Net(tinyMap, 'full'),
        'dense0/conv3/depthwise_filter',
        'the network needs this entry',
        faceApiManifestPath('face_landmark_68_tiny_model'),
      );
      // wrong shapes: the landmark manifest's fc/weights read as the expression head
      const lmMap = await readTfjsWeights(faceApiManifestPath('face_landmark_68_model'));
      await expectTfjsError(
        () => new FaceExpressionNet(lmMap),
        'fc/weights',
        'the network needs shape [256, 7], the manifest has [256, 136]',
        faceApiManifestPath('face_landmark_68_model'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------- networks

describe('face-api networks vs face-api (TF.js CPU)', () => {
  let landmarks: FaceLandmark68Net;
  let tiny: FaceLandmark68Net;
  let expressions: FaceExpressionNet;
  let features: FaceLandmarkFeatures;
  let batch: { x: Tensor; dims: Array<{ width: number; height: number }> };

  beforeAll(async () => {
    await gpu();
    landmarks = await loadFaceLandmark68Net();
    tiny = await loadFaceLandmark68Net({ tiny: true });
    expressions = await loadFaceExpressionNet();
    features = await loadFaceLandmarkFeatures();
    batch = fixtureBatch();
  });

  afterAll(() => {
    landmarks?.dispose();
    tiny?.dispose();
    expressions?.dispose();
    features?.dispose();
    batch?.x.dispose();
  });

  it('the fixture covers photos (both padding axes), a random 8-bit image and random 112² inputs', () => {
    const kinds = FIX.inputs.map((i) => i.kind);
    expect(kinds.filter((k) => k === 'photo').length).toBeGreaterThanOrEqual(6);
    expect(FIX.inputs.some((i) => i.kind === 'photo' && i.width > i.height)).toBe(true);
    expect(FIX.inputs.some((i) => i.kind === 'photo' && i.width < i.height)).toBe(true);
    expect(kinds).toContain('random-image');
    expect(kinds).toContain('random');
    expect(FIX.faceapi).toBe('1.7.15');
  });

  it('landmarks (full net): raw outputs and decoded positions', async () => {
    const raw = landmarks.forward(batch.x);
    expect(raw.shape).toEqual([FIX.inputs.length, 136]);
    const v = await raw.data();
    raw.dispose();
    const decoded = decodeFaceLandmarks(v, batch.dims);
    FIX.inputs.forEach((inp, n) => {
      expectWithin(v.subarray(n * 136, (n + 1) * 136), inp.landmarksRaw, 1, `${inp.name}: raw landmarks`);
      const pos = decoded[n].positions.flatMap((p) => [p.x, p.y]);
      expectWithin(pos, inp.landmarks.flat(), Math.max(inp.width, inp.height), `${inp.name}: landmark positions`);
    });
  });

  it('landmarks (tiny net): raw outputs and decoded positions', async () => {
    const raw = tiny.forward(batch.x);
    const v = await raw.data();
    raw.dispose();
    const decoded = decodeFaceLandmarks(v, batch.dims);
    FIX.inputs.forEach((inp, n) => {
      expectWithin(v.subarray(n * 136, (n + 1) * 136), inp.landmarksTinyRaw, 1, `${inp.name}: raw tiny landmarks`);
      expectWithin(
        decoded[n].positions.flatMap((p) => [p.x, p.y]),
        inp.landmarksTiny.flat(),
        Math.max(inp.width, inp.height),
        `${inp.name}: tiny landmark positions`,
      );
    });
  });

  it('expression probabilities', async () => {
    const p = expressions.forward(batch.x);
    expect(p.shape).toEqual([FIX.inputs.length, 7]);
    const v = await p.data();
    p.dispose();
    FIX.inputs.forEach((inp, n) => expectWithin(v.subarray(n * 7, n * 7 + 7), inp.expressions, 1, `${inp.name}: expressions`));
    expect([...FACE_EXPRESSION_LABELS]).toEqual(FIX.expressionLabels);
  });

  it("LRDif's face-api image encoder: e_img is the expression net's pooled features (face-api's expressions through its head), L2-normalised", async () => {
    const emb = new FaceExpressionEmbedder(expressions, 'test');
    const f = emb.features(batch.x);
    const N = FIX.inputs.length;
    expect(f.shape).toEqual([N, 256]);
    const p = tidy(() => softmax(expressions.fc.forward(f), -1));
    const pv = await p.data();
    FIX.inputs.forEach((inp, n) => expectWithin(pv.subarray(n * 7, n * 7 + 7), inp.expressions, 1, `${inp.name}: expressions from the embedder's features`));
    const fv = Float64Array.from((await f.data()) as Float32Array);
    const e = await emb.embed(batch.x);
    const ref = new Float64Array(fv.length);
    for (let n = 0; n < N; n++) {
      const row = fv.subarray(n * 256, (n + 1) * 256);
      const norm = Math.sqrt(row.reduce((a, v) => a + v * v, 0));
      row.forEach((v, j) => (ref[n * 256 + j] = v / norm));
    }
    expectClose(e, ref, 1e-5, 1e-7, 'e_img = features / ‖features‖');
    // a smaller image goes through the same 112×112 input (antialiased bilinear resize)
    const small = tidy(() => resize(batch.x, 56, 56, { mode: 'bilinear', antialias: true }));
    const up = tidy(() => clamp(resize(small, 112, 112, { mode: 'bilinear', antialias: true }), 0, 1));
    expectClose(await emb.embed(small), await emb.embed(up), 1e-6, 1e-7, 'e_img of a 56-px image');
    for (const t of [f, p, small, up]) t.dispose();
  });

  it('landmark feature taps f28, f14, f7 (dense blocks 2, 3, 4)', async () => {
    const { f28, f14, f7 } = features.forward(batch.x);
    const N = FIX.inputs.length;
    expect(f28.shape).toEqual([N, 64, 28, 28]);
    expect(f14.shape).toEqual([N, 128, 14, 14]);
    expect(f7.shape).toEqual([N, 256, 7, 7]);
    expect(f28.requiresGrad || f14.requiresGrad || f7.requiresGrad).toBe(false);
    const taps = { f28, f14, f7 };
    for (const [t, key] of (['f28', 'f14', 'f7'] as const).entries()) {
      const shape = [...taps[key].shape.slice(1)];
      const all = await taps[key].data();
      taps[key].dispose();
      const per = all.length / N;
      FIX.inputs.forEach((inp, n) => {
        const ref = inp.taps[key];
        expect(shape).toEqual(ref.shape);
        const v = all.subarray(n * per, (n + 1) * per);
        const proj: number[] = [];
        for (let k = 0; k < FIX.projections; k++) {
          const r = rng(1000 * (t + 1) + k);
          let s = 0;
          for (let i = 0; i < per; i++) s += (2 * r() - 1) * v[i];
          proj.push(s);
        }
        expectWithin(proj, ref.proj, ref.scale, `${inp.name}: ${key} projections`);
        expectWithin(
          ref.idx.map((i) => v[i]),
          ref.raw,
          ref.maxAbs,
          `${inp.name}: ${key} values`,
        );
      });
    }
  });

  it('the fused path (whole batch, or in chunks of any size) and the reference ops agree', async () => {
    const ext = features.extractor;
    const N = batch.x.shape[0];
    const read = async (ts: Tensor[]) => {
      const out = await Promise.all(ts.map((t) => t.data()));
      ts.forEach((t) => t.dispose());
      return out;
    };
    const ref = await read(ext.forwardBlocks(batch.x, { fused: false }));
    expect(ref.map((r) => r.length)).toEqual([32 * 56 * 56, 64 * 28 * 28, 128 * 14 * 14, 256 * 7 * 7].map((v) => v * N));
    for (const chunk of [3, N, 64]) {
      const got = await read(ext.forwardBlocks(batch.x, { chunk }));
      got.forEach((g, b) => {
        let max = 0;
        for (const v of ref[b]) max = Math.max(max, Math.abs(v));
        expectWithin(g, ref[b], max, `block ${b}, chunk ${chunk}, vs the reference ops`, 1e-5);
      });
    }
    // a subset of blocks, in the order asked
    const [b3, b1] = await read(ext.forwardBlocks(batch.x, { blocks: [3, 1], chunk: 4 }));
    expectWithin(b3, ref[3], 10, 'block 3 asked alone', 1e-5);
    expectWithin(b1, ref[1], 10, 'block 1 asked alone', 1e-5);
    expect(() => ext.forwardBlocks(batch.x, { blocks: [4] })).toThrow('block 4 does not exist (0..3)');
    expect(() => ext.forwardBlocks(batch.x, { chunk: 0 })).toThrow('chunk must be a positive integer');
    // the fused passes are inference-only: an input that needs a gradient is refused there
    const xg = tensor(new Float32Array(3 * 112 * 112), [1, 3, 112, 112]);
    xg.requiresGrad = true;
    expect(() => ext.forwardBlocks(xg)).toThrow('the fused forward pass is inference-only');
    xg.dispose();
  });

  it('repeated inference holds GPU memory flat (every intermediate freed)', async () => {
    const ctx = await gpu();
    const x = tidy(() => concat([batch.x, batch.x], 0)); // 20 faces: several chunks
    let ref: ReturnType<typeof ctx.stats> | null = null;
    for (let i = 0; i < 4; i++) {
      const { f28, f14, f7 } = features.forward(x);
      const p = expressions.forward(x);
      const r = landmarks.forward(x);
      await r.data();
      for (const t of [f28, f14, f7, p, r]) t.dispose();
      await ctx.sync();
      const s = ctx.stats();
      if (i === 1) ref = s;
      if (ref && i > 1) for (const k of ['liveBuffers', 'liveBytes', 'created'] as const) expect(s[k], `${k} after call ${i}`).toBe(ref[k]);
    }
    x.dispose();
  });

  it('detectLandmarks and predictExpressions take crops of any size as face-api does', async () => {
    const photos = FIX.inputs.filter((i) => i.kind !== 'random');
    const crops = photos.map(crop);
    const shifts = photos.map((i) => ({ x: i.box?.[0] ?? 0, y: i.box?.[1] ?? 0 }));
    const lm = await landmarks.detectLandmarks(crops, { shifts, batchSize: 3 });
    const ex = await expressions.predictExpressions(crops);
    photos.forEach((inp, n) => {
      expect(lm[n].imageWidth).toBe(inp.width);
      expectWithin(
        lm[n].positions.flatMap((p) => [p.x - shifts[n].x, p.y - shifts[n].y]),
        inp.landmarks.flat(),
        Math.max(inp.width, inp.height),
        `${inp.name}: detectLandmarks`,
      );
      expectWithin(
        FACE_EXPRESSION_LABELS.map((k) => ex[n][k]),
        inp.expressions,
        1,
        `${inp.name}: predictExpressions`,
      );
    });
  });
});

describe('face-api input pipeline', () => {
  it('pads to a square as padToSquare (centred, the extra row after) and resizes as tf.image.resizeBilinear', async () => {
    await gpu();
    expect(faceApiSquarePadding(10, 15)).toEqual([
      [0, 0],
      [2, 3],
    ]);
    expect(faceApiSquarePadding(16, 10)).toEqual([
      [3, 3],
      [0, 0],
    ]);
    expect(faceApiSquarePadding(7, 7)).toEqual([
      [0, 0],
      [0, 0],
    ]);
    // TF legacy bilinear: out o samples o·in/out, no half-pixel offset, edge clamped
    const m = tfLegacyBilinearMatrix(5, 2);
    expect(Array.from(m)).toEqual([1, 0, 0, 0, 0, 0, 0, 0.5, 0.5, 0].map(Math.fround));
    const up = tfLegacyBilinearMatrix(2, 4); // s = 0, 0.5, 1, 1.5 → last one clamps to row 1
    expect(Array.from(up)).toEqual([1, 0, 0.5, 0.5, 0, 1, 0, 1]);
    // a 3×2 image: one zero column after it (round(1/2) = 1 after, 0 before), no resize at size 3
    const img = { width: 2, height: 3, data: Uint8Array.from({ length: 18 }, (_, i) => 10 * i) };
    const { input, dims } = faceApiInput([img], 3);
    expect(dims).toEqual([{ width: 2, height: 3 }]);
    const v = await input.data();
    input.dispose();
    const expected: number[] = [];
    for (let c = 0; c < 3; c++) for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) expected.push(x < 2 ? (10 * ((y * 2 + x) * 3 + c)) / 255 : 0);
    expectClose(v, expected, 1e-6, 1e-9, 'padded 3×3 input');
  });

  it('crops with checked integer boxes', () => {
    const img = { width: 4, height: 3, data: Uint8Array.from({ length: 36 }, (_, i) => i) };
    const c = cropRgbImage(img, { x: 1, y: 1, width: 2, height: 2 });
    expect(Array.from(c.data)).toEqual([15, 16, 17, 18, 19, 20, 27, 28, 29, 30, 31, 32]);
    expect(() => cropRgbImage(img, { x: 3, y: 0, width: 2, height: 1 })).toThrow('must be integers inside the 4×3 image');
    expect(() => cropRgbImage(img, { x: 0.5, y: 0, width: 2, height: 1 })).toThrow('must be integers inside');
  });

  it('FaceLandmarkFeatures rejects other input sizes and the tiny extractor', async () => {
    await gpu();
    const tinyMap = await readTfjsWeights(faceApiManifestPath('face_landmark_68_tiny_model'));
    const tinyNet = new FaceLandmark68Net(tinyMap, 'tiny');
    try {
      expect(() => new FaceLandmarkFeatures(tinyNet.extractor)).toThrow("needs the full face_landmark_68 extractor (4 dense blocks), got the 'tiny' one");
      const x = tensor(new Float32Array(3 * 64 * 64), [1, 3, 64, 64]);
      expect(() => tinyNet.forward(x)).toThrow('input must be [N, 3, 112, 112] RGB in [0, 1], got');
      x.dispose();
    } finally {
      tinyNet.dispose();
    }
  });
});

describe('lrdif convert --tfjs', () => {
  it('writes every weight as safetensors (TF.js names, shapes and values), which the loaders read back', async () => {
    await gpu();
    const dir = mkdtempSync(join(tmpdir(), 'lrdif-convert-'));
    try {
      const out = join(dir, 'landmarks.safetensors');
      const manifest = faceApiManifestPath('face_landmark_68_model');
      const r = await runNode([BIN, 'convert', '--tfjs', manifest, '--out', out, '--json'], { timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(summary.tensors).toBe(Object.keys(FIX.weights.face_landmark_68_model).length);
      expect(summary.storedAs).toEqual({ uint8: Object.values(FIX.weights.face_landmark_68_model).reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0) });
      const reader = openSafetensorsFile(out);
      const map = await readTfjsWeights(manifest);
      try {
        expect(reader.names().sort()).toEqual(map.names().sort());
        expect(reader.metadata.format).toBe('tfjs');
        for (const n of map.names()) {
          expect([...reader.info(n).shape]).toEqual(map.get(n).shape);
          expect(reader.info(n).dtype).toBe('F32');
          expect(Array.from(reader.getHostArray(n, 'f32'))).toEqual(Array.from(map.get(n).data));
        }
        // the converted file loads the same net: identical outputs
        const a = await loadFaceLandmark68Net({ path: out });
        const b = new FaceLandmark68Net(safetensorsFaceApiSource(reader));
        const c = await loadFaceLandmark68Net();
        const x = randomFloatInput(5);
        const [ya, yb, yc] = await Promise.all(
          [a, b, c].map(async (net) => {
            const y = net.forward(x);
            const d = await y.data();
            y.dispose();
            net.dispose();
            return Array.from(d);
          }),
        );
        x.dispose();
        expect(ya).toEqual(yc);
        expect(yb).toEqual(yc);
      } finally {
        reader.close();
      }
      // the command's errors: one line naming the manifest
      const bad = await runNode([BIN, 'convert', '--tfjs', join(dir, 'none.json'), '--out', out], { timeout: 120_000 });
      expect(bad.status).toBe(1);
      expect(bad.stderr).toContain('none.json');
      expect(bad.stderr).toContain('cannot read the manifest');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
