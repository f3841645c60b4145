/**
 * face-api's tiny face detector and its detect → landmarks → expressions pipeline against
 * face-api itself (test/golden/make_faceapi_detect_fixtures.mjs → fixtures/faceapi-detect.json:
 * @vladmandic/face-api 1.7.15 with its bundled TF.js 4.22 on the CPU backend), LRDif's
 * crop-and-align against a float64 reference, and `lrdif faces`.
 *
 * Tolerances: the detector's raw outputs and scores within 1e-4; boxes within 1 pixel (they
 * agree to ~1e-4 px); landmark positions within 1e-4 × the crop's longer side (the landmark net
 * predicts fractions of its 112 input); alignedRect likewise; expression probabilities within 1e-4.
 * The integer crops the nets read must be identical.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { rng, expectClose } from './helpers/ref.js';
import { tensor, RgbImageBuffer, type Tensor } from '../src/node.js';
import { readImageFile, decodeImage } from '../src/io/image-node.js';
import { downscaleImage, orientImage } from '../src/io/image.js';
import { loadFacePipeline } from '../src/models/faceapi/detect-node.js';
import { PHONE, phonePhotoJpeg } from './helpers/phone-photo.js';
import type { RgbImage } from '../src/io/image.js';
import {
  TfjsWeightsError,
  TinyFaceDetector,
  FacePipeline,
  decodeTinyFaceDetections,
  faceApiNonMaxSuppression,
  faceApiCropInput,
  faceApiInput,
  cropRgbImage,
  faceAlignTransform,
  alignFaces,
  alignFace,
  applyAffine,
  drawFaces,
  resolveTinyFaceDetectorOptions,
  FACE_EXPRESSION_LABELS,
  TINY_FACE_DETECTOR_MEAN_RGB,
  type FacePoint,
} from '../src/models/faceapi/index.js';
import { faceApiModelDir, faceApiManifestPath, loadFaceLandmark68Net, loadFaceExpressionNet } from '../src/models/faceapi/load-node.js';
import { loadTinyFaceDetector } from '../src/models/faceapi/detect-node.js';
import { runNode } from './helpers/child.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BIN = join(HERE, '..', 'bin', 'lrdif.js');

type Box4 = [number, number, number, number];
interface FixtureRun {
  inputSize: number;
  scoreThreshold: number;
  detections: Array<{ score: number; box: Box4 }>;
  rawShape?: number[];
  raw?: number[];
}
interface FixtureFace {
  score: number;
  box: Box4;
  landmarkCrop: Box4;
  landmarks: Array<[number, number]>;
  alignedRect: Box4;
  expressionCrop: Box4;
  expressions: number[];
}
interface FixtureInput {
  name: string;
  kind: 'photo' | 'flat' | 'noise';
  file?: string;
  value?: number;
  seed?: number;
  width: number;
  height: number;
  hash: string;
  runs: FixtureRun[];
  faces: FixtureFace[];
}
interface Fixture {
  faceapi: string;
  expressionLabels: string[];
  inputs: FixtureInput[];
  nms: Array<{ seed: number; iouThreshold: number; boxes: Box4[]; scores: number[]; picks: number[] }>;
}

const FIX: Fixture = JSON.parse(readFileSync(join(HERE, 'golden', 'fixtures', 'faceapi-detect.json'), 'utf8'));

function fnv1a(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

const images = new Map<string, RgbImage>();
/** The fixture input's pixels, checked against the hash of what face-api saw. */
function image(inp: FixtureInput): RgbImage {
  if (!images.has(inp.name)) {
    let img: RgbImage;
    if (inp.kind === 'photo') img = readImageFile(join(dirname(faceApiModelDir()), 'demo', inp.file!));
    else if (inp.kind === 'flat') img = { width: inp.width, height: inp.height, data: new Uint8Array(inp.width * inp.height * 3).fill(inp.value!) };
    else {
      const r = rng(inp.seed!);
      img = { width: inp.width, height: inp.height, data: Uint8Array.from({ length: inp.width * inp.height * 3 }, () => Math.floor(r() * 256)) };
    }
    expect(fnv1a(img.data), `${inp.name}: pixels`).toBe(inp.hash);
    images.set(inp.name, img);
  }
  return images.get(inp.name)!;
}

/** |a − e| ≤ tol · scale elementwise; the message names the worst element. */
function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, scale: number, tol: number, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let worst = -1;
  let worstDiff = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= tol * scale) && !(d <= worstDiff)) {
      worst = i;
      worstDiff = d;
    }
  }
  if (worst >= 0) expect.fail(`${what}: element ${worst}: got ${actual[worst]}, face-api ${expected[worst]} (|diff| ${worstDiff.toExponential(3)} > ${tol} × ${scale})`);
}

const boxArr = (b: { x: number; y: number; width: number; height: number }): Box4 => [b.x, b.y, b.width, b.height];

let detector: TinyFaceDetector;
let pipeline: FacePipeline;

beforeAll(async () => {
  await gpu();
  detector = await loadTinyFaceDetector();
  pipeline = new FacePipeline(detector, await loadFaceLandmark68Net(), await loadFaceExpressionNet());
});

afterAll(() => {
  pipeline?.dispose();
});

describe('tiny face detector vs face-api (TF.js CPU)', () => {
  it('the fixture covers the six demo photos, images without faces, and other options', () => {
    const photos = FIX.inputs.filter((i) => i.kind === 'photo').map((i) => i.file);
    expect(photos).toEqual(['sample1.jpg', 'sample2.jpg', 'sample3.jpg', 'sample4.jpg', 'sample5.jpg', 'sample6.jpg']);
    for (const inp of FIX.inputs) expect(inp.runs[0].detections.length > 0, inp.name).toBe(inp.kind === 'photo');
    expect(FIX.inputs.flatMap((i) => i.runs.map((r) => r.inputSize))).toEqual(expect.arrayContaining([320, 416, 608]));
    expect(FIX.inputs.filter((i) => i.runs.some((r) => r.raw)).length).toBeGreaterThanOrEqual(3);
  });

  for (const inp of FIX.inputs) {
    it(`${inp.name}: raw outputs, scores and boxes`, async () => {
      const img = image(inp);
      const buf = RgbImageBuffer.upload([img]);
      try {
        for (const run of inp.runs) {
          const what = `${inp.name} (inputSize ${run.inputSize}, scoreThreshold ${run.scoreThreshold})`;
          const raw = await detector.run(buf, run.inputSize);
          if (run.raw) {
            // face-api's output is NHWC [1, g, g, 25]; ours NCHW [25, g, g]
            const g = run.inputSize / 32;
            expect(run.rawShape).toEqual([1, g, g, 25]);
            const nhwc = new Float32Array(raw.length);
            for (let c = 0; c < 25; c++) for (let p = 0; p < g * g; p++) nhwc[p * 25 + c] = raw[c * g * g + p];
            expectWithin(nhwc, run.raw, 1, 1e-4, `${what}: raw output`);
          }
          const dets = decodeTinyFaceDetections(raw, img.width, img.height, run);
          expect(dets.length, `${what}: detections`).toBe(run.detections.length);
          dets.forEach((d, i) => {
            expectWithin([d.score], [run.detections[i].score], 1, 1e-4, `${what}: score ${i}`);
            expectWithin(boxArr(d.box), run.detections[i].box, 1, 1, `${what}: box ${i} (pixels)`);
            expect(d.imageWidth).toBe(img.width);
            expectWithin(
              boxArr(d.relativeBox),
              [d.box.x / img.width, d.box.y / img.height, d.box.width / img.width, d.box.height / img.height],
              1,
              1e-12,
              `${what}: relative box ${i}`,
            );
          });
        }
      } finally {
        buf.dispose();
      }
    });
  }

  it("non-maximum suppression picks what face-api's nonMaxSuppression picks (ties, repeated boxes)", () => {
    for (const c of FIX.nms) {
      const boxes = c.boxes.map(([x, y, width, height]) => ({ x, y, width, height }));
      expect(faceApiNonMaxSuppression(boxes, c.scores, c.iouThreshold), `seed ${c.seed}`).toEqual(c.picks);
    }
  });

  it("detector input: face-api's pad-after square, TF legacy bilinear resize and normalisation (float64 reference)", async () => {
    const w = 45;
    const h = 29;
    const r = rng(3);
    const img: RgbImage = { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)) };
    const S = Math.max(w, h);
    for (const size of [32, 64]) {
      // tf.image.resizeBilinear's CPU kernel on the zero-padded square, then (x − mean) / 255
      const ref = new Float64Array(3 * size * size);
      const px = (y: number, x: number, c: number) => (y < h && x < w ? img.data[(y * w + x) * 3 + c] : 0);
      for (let oy = 0; oy < size; oy++) {
        const sy = (S / size) * oy;
        const y0 = Math.floor(sy);
        const y1 = Math.min(S - 1, Math.ceil(sy));
        for (let ox = 0; ox < size; ox++) {
          const sx = (S / size) * ox;
          const x0 = Math.floor(sx);
          const x1 = Math.min(S - 1, Math.ceil(sx));
          for (let c = 0; c < 3; c++) {
            const top = px(y0, x0, c) + (px(y0, x1, c) - px(y0, x0, c)) * (sx - x0);
            const bottom = px(y1, x0, c) + (px(y1, x1, c) - px(y1, x0, c)) * (sx - x0);
            ref[(c * size + oy) * size + ox] = (top + (bottom - top) * (sy - y0) - TINY_FACE_DETECTOR_MEAN_RGB[c]) / 255;
          }
        }
      }
      const buf = RgbImageBuffer.upload([img]);
      const x = detector.input(buf, size);
      expect(x.shape).toEqual([1, 3, size, size]);
      expectClose(await x.data(), ref, 0, 2e-6, `detector input ${size}`);
      x.dispose();
      buf.dispose();
    }
  });

  it("the fused network (bias + leaky + pool in one pass) equals face-api's layer-by-layer forward", async () => {
    const r = rng(8);
    const x = tensor(
      Float32Array.from({ length: 2 * 3 * 96 * 96 }, () => r() - 0.5),
      [2, 3, 96, 96],
    );
    const a = detector.forward(x);
    const b = detector.forward(x, { fused: false });
    expect(a.shape).toEqual([2, 25, 3, 3]);
    expectClose(await a.data(), await b.data(), 1e-4, 1e-4, 'fused vs unfused');
    for (const t of [x, a, b]) t.dispose();
  });

  it('options as face-api: defaults 416 / 0.5, inputSize a multiple of 32, scoreThreshold in (0, 1)', () => {
    expect(resolveTinyFaceDetectorOptions()).toEqual({ inputSize: 416, scoreThreshold: 0.5 });
    expect(resolveTinyFaceDetectorOptions({ inputSize: 0, scoreThreshold: 0 })).toEqual({ inputSize: 416, scoreThreshold: 0.5 });
    expect(() => resolveTinyFaceDetectorOptions({ inputSize: 100 })).toThrow(/inputSize must be a positive multiple of 32, got 100/);
    expect(() => resolveTinyFaceDetectorOptions({ scoreThreshold: 1.5 })).toThrow(/scoreThreshold must be a number between 0 and 1 \(exclusive\), got 1.5/);
    const t = tensor(new Float32Array(3 * 40 * 40), [1, 3, 40, 40]);
    expect(() => detector.forward(t)).toThrow(/TinyFaceDetector: input must be \[N, 3, S, S\] with S a positive multiple of 32, got .*\[1, 3, 40, 40\]/);
    t.dispose();
    expect(() => decodeTinyFaceDetections(new Float32Array(10), 100, 100)).toThrow(/10 values; inputSize 416 needs 25×13×13/);
  });

  it('a malformed detector manifest gives errors naming the manifest and the entry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lrdif-detector-'));
    try {
      const original = faceApiManifestPath('tiny_face_detector_model');
      const base = JSON.parse(readFileSync(original, 'utf8')) as Array<{ paths: string[]; weights: Array<{ name: string; shape: number[]; dtype: string }> }>;
      const variant = (name: string, edit: (w: { name: string; shape: number[]; dtype: string }) => void) => {
        const m = structuredClone(base);
        m[0].paths = m[0].paths.map((p) => join(dirname(original), p));
        edit(m[0].weights.find((w) => w.name === name)!);
        const file = join(dir, `${name.replace('/', '_')}-weights_manifest.json`);
        writeFileSync(file, JSON.stringify(m));
        return file;
      };
      const expectEntry = async (file: string, entry: string, text: RegExp) => {
        let err: unknown = null;
        try {
          (await loadTinyFaceDetector({ path: file })).dispose();
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(TfjsWeightsError);
        const e = err as TfjsWeightsError;
        expect([e.file, e.entry]).toEqual([file, entry]);
        expect(e.message).toContain(`entry '${entry}'`);
        expect(e.message).toMatch(text);
      };
      await expectEntry(
        variant('conv5/bias', (w) => (w.name = 'conv5/biases')),
        'conv5/bias',
        /the network needs this entry/,
      );
      await expectEntry(
        variant('conv8/filters', (w) => (w.shape = [1, 1, 25, 512])),
        'conv8/filters',
        /needs shape \[1, 1, 512, 25\], the manifest has \[1, 1, 25, 512\]/,
      );
      await expectEntry(
        variant('conv1/bias', (w) => (w.dtype = 'int32')),
        'conv1/bias',
        /expected a float32 weight/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('detectAllFaces(...).withFaceLandmarks().withFaceExpressions() vs face-api', () => {
  for (const inp of FIX.inputs) {
    it(`${inp.name}: boxes, crops, 68 landmarks, alignedRect and expression probabilities`, async () => {
      const img = image(inp);
      const faces = await pipeline.detectFaces(img, { align: true });
      try {
        expect(faces.length, inp.name).toBe(inp.faces.length);
        faces.forEach((f, i) => {
          const e = inp.faces[i];
          const what = `${inp.name} face ${i}`;
          expectWithin([f.score], [e.score], 1, 1e-4, `${what}: score`);
          expectWithin(boxArr(f.box), e.box, 1, 1, `${what}: box (pixels)`);
          expect(boxArr(f.crops.landmarks), `${what}: landmark crop`).toEqual(e.landmarkCrop);
          expect(boxArr(f.crops.expressions!), `${what}: expression crop`).toEqual(e.expressionCrop);
          const side = Math.max(e.landmarkCrop[2], e.landmarkCrop[3]);
          expectWithin(
            f.landmarks.flatMap((p) => [p.x, p.y]),
            e.landmarks.flat(),
            side,
            1e-4,
            `${what}: landmarks`,
          );
          expectWithin(boxArr(f.alignedRect), e.alignedRect, side, 1e-4, `${what}: alignedRect`);
          expectWithin(
            FACE_EXPRESSION_LABELS.map((k) => f.expressions![k]),
            e.expressions,
            1,
            1e-4,
            `${what}: expressions`,
          );
          // the aligned face: eyes level in it
          const a = f.aligned!;
          expect(a.face.shape).toEqual([1, 3, 112, 112]);
          const eye = (from: number) => a.landmarks.slice(from, from + 6).reduce((s, p) => s + p.y, 0) / 6;
          expect(Math.abs(eye(36) - eye(42)), `${what}: eye rows in the aligned face`).toBeLessThan(1e-9);
        });
      } finally {
        for (const f of faces) f.aligned?.face.dispose();
      }
    });
  }

  it("crops: the GPU crop-pad-resize pass equals the nets' existing input path (cropRgbImage + faceApiInput)", async () => {
    const inp = FIX.inputs.find((i) => i.file === 'sample1.jpg')!;
    const img = image(inp);
    const crops = [...inp.faces.map((f) => f.landmarkCrop), [0, 0, 1920, 1280] as Box4, [1900, 5, 20, 7] as Box4, [0, 0, 112, 112] as Box4].map(([x, y, width, height]) => ({
      x,
      y,
      width,
      height,
    }));
    const buf = RgbImageBuffer.upload([img]);
    const ours = faceApiCropInput(buf, crops);
    const theirs = faceApiInput(crops.map((c) => cropRgbImage(img, c))).input;
    expect(ours.shape).toEqual([crops.length, 3, 112, 112]);
    expectClose(await ours.data(), await theirs.data(), 1e-5, 1e-6, 'crop inputs');
    expect(() => faceApiCropInput(buf, [{ x: 1900, y: 0, width: 21, height: 5 }])).toThrow(
      /crop 0 \{x: 1900, y: 0, width: 21, height: 5\} must be integers inside the 1920×1280 photo/,
    );
    for (const t of [ours, theirs]) t.dispose();
    buf.dispose();
  });

  it('expressions can be skipped, and asking for them without an expression net is an error', async () => {
    const img = image(FIX.inputs.find((i) => i.file === 'sample2.jpg')!);
    const faces = await pipeline.detectFaces(img, { expressions: false });
    expect(faces.length).toBe(1);
    expect(faces[0].expressions).toBeUndefined();
    const noExpr = new FacePipeline(pipeline.detector, pipeline.landmarkNet, null);
    await expect(noExpr.detectFaces(img, { expressions: true })).rejects.toThrow(/expressions were asked for, but the pipeline has no expression net/);
  });
});

/** Float64 bilinear sample of an RGB image (bytes / 255) at pixel-index position (x, y), black outside. */
function sampleRef(img: RgbImage, x: number, y: number, c: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const t = (iy: number, ix: number) => (iy < 0 || ix < 0 || iy >= img.height || ix >= img.width ? 0 : img.data[(iy * img.width + ix) * 3 + c] / 255);
  const fx = x - x0;
  const fy = y - y0;
  const top = t(y0, x0) + (t(y0, x0 + 1) - t(y0, x0)) * fx;
  const bottom = t(y0 + 1, x0) + (t(y0 + 1, x0 + 1) - t(y0 + 1, x0)) * fx;
  return top + (bottom - top) * fy;
}

describe('crop-and-align for LRDif', () => {
  /** 68 synthetic landmarks: a face-like layout rotated by `deg` about (cx, cy), scaled. */
  function synthLandmarks(deg: number, cx: number, cy: number, s: number): FacePoint[] {
    const r = rng(77);
    const pts: FacePoint[] = [];
    for (let i = 0; i < 68; i++) {
      let u = (r() - 0.5) * 2;
      let v = (r() - 0.4) * 2;
      if (i >= 36 && i < 42) [u, v] = [-0.45 + 0.05 * (i - 36), -0.3 + 0.01 * (i % 2)];
      if (i >= 42 && i < 48) [u, v] = [0.2 + 0.05 * (i - 42), -0.3 + 0.01 * (i % 2)];
      const t = (deg * Math.PI) / 180;
      pts.push({ x: cx + s * (Math.cos(t) * u - Math.sin(t) * v), y: cy + s * (Math.sin(t) * u + Math.cos(t) * v) });
    }
    return pts;
  }

  it('the transform: eyes level, the padded landmark box fills the square, toAligned ∘ toPhoto = identity', () => {
    for (const deg of [0, 23, -71, 180]) {
      const lm = synthLandmarks(deg, 140, 90, 50);
      const t = faceAlignTransform(lm);
      expect(t.angle * (180 / Math.PI)).toBeCloseTo(deg === 180 ? 180 : deg, 6);
      const al = lm.map((p) => applyAffine(t.toAligned, p));
      const eyeY = (from: number) => al.slice(from, from + 6).reduce((s, p) => s + p.y, 0) / 6;
      expect(Math.abs(eyeY(36) - eyeY(42))).toBeLessThan(1e-9);
      const xs = al.map((p) => p.x);
      const ys = al.map((p) => p.y);
      const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
      // the longer side spans 112 / 1.2, centred in the 112 square
      expect(Math.max(x1 - x0, y1 - y0)).toBeCloseTo(112 / 1.2, 9);
      expect((x0 + x1) / 2).toBeCloseTo(56, 9);
      expect((y0 + y1) / 2).toBeCloseTo(56, 9);
      for (const p of [
        { x: 3, y: 4 },
        { x: -20, y: 300 },
      ]) {
        const q = applyAffine(t.toPhoto, applyAffine(t.toAligned, p));
        expect(q.x).toBeCloseTo(p.x, 9);
        expect(q.y).toBeCloseTo(p.y, 9);
      }
    }
    expect(() => faceAlignTransform(synthLandmarks(0, 0, 0, 1).slice(0, 5))).toThrow(/expected the 68 face landmarks, got 5 points/);
    expect(() => faceAlignTransform(new Array(68).fill({ x: 1, y: 1 }))).toThrow(/span no area/);
    const bad = synthLandmarks(0, 0, 0, 1);
    bad[7] = { x: NaN, y: 0 };
    expect(() => faceAlignTransform(bad)).toThrow(/landmark 7 is not finite/);
  });

  it('the aligned pixels equal a float64 bilinear sampling of the photo through toPhoto (pixel centres, black outside)', async () => {
    const r = rng(12);
    const img: RgbImage = { width: 203, height: 151, data: Uint8Array.from({ length: 203 * 151 * 3 }, () => Math.floor(r() * 256)) };
    const faces = [synthLandmarks(17, 100, 70, 45), synthLandmarks(-35, 20, 140, 40)]; // the second reaches outside the photo
    const buf = RgbImageBuffer.upload([img]);
    const { faces: t, transforms } = alignFaces(buf, faces, { size: 64 });
    expect(t.shape).toEqual([2, 3, 64, 64]);
    const ref = new Float64Array(2 * 3 * 64 * 64);
    transforms.forEach((tr, f) => {
      for (let oy = 0; oy < 64; oy++)
        for (let ox = 0; ox < 64; ox++) {
          const p = applyAffine(tr.toPhoto, { x: ox + 0.5, y: oy + 0.5 });
          for (let c = 0; c < 3; c++) ref[((f * 3 + c) * 64 + oy) * 64 + ox] = sampleRef(img, p.x - 0.5, p.y - 0.5, c);
        }
    });
    // positions in f32 on the GPU: ~1e-5 px, times a slope of at most 1 per pixel
    const all = await t.data();
    expectClose(all, ref, 0, 1e-4, 'aligned pixels');
    const one = alignFace(buf, faces[0], { size: 64 });
    expect(Array.from(await one.face.data()), 'alignFace = alignFaces item 0').toEqual(Array.from(all.subarray(0, 3 * 64 * 64)));
    expect(one.landmarks[36].x).toBeCloseTo(applyAffine(one.transform.toAligned, faces[0][36]).x, 12);
    for (const x of [t, one.face] as Tensor[]) x.dispose();
    buf.dispose();
  });

  it('alignedFaces: photo → [F, 3, 112, 112] in detection order, none for a photo without faces', async () => {
    const img = image(FIX.inputs.find((i) => i.file === 'sample4.jpg')!);
    const { faces, transforms, batch } = await pipeline.alignedFaces(img);
    expect(faces.length).toBe(3);
    expect(transforms.length).toBe(3);
    expect(batch!.shape).toEqual([3, 3, 112, 112]);
    const v = await batch!.data();
    expect(v.every((x) => x >= 0 && x <= 1)).toBe(true);
    batch!.dispose();
    const flat = await pipeline.alignedFaces(image(FIX.inputs.find((i) => i.kind === 'flat')!));
    expect(flat).toEqual({ faces: [], transforms: [], batch: null });
  });
});

describe('lrdif faces', () => {
  it('prints boxes, scores, landmarks and expressions (--json) and draws them (--out)', async () => {
    const inp = FIX.inputs.find((i) => i.file === 'sample1.jpg')!;
    const dir = mkdtempSync(join(tmpdir(), 'lrdif-faces-'));
    try {
      const photo = join(dirname(faceApiModelDir()), 'demo', 'sample1.jpg');
      const out = join(dir, 'annotated.png');
      const r = await runNode([BIN, 'faces', '--image', photo, '--json', '--out', out], { timeout: 300_000 });
      expect(r.status, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(res.image).toEqual({ path: photo, width: 1920, height: 1280 });
      expect(res.faces.length).toBe(inp.faces.length);
      res.faces.forEach(
        (
          f: { score: number; box: { x: number; y: number; width: number; height: number }; landmarks: Array<[number, number]>; expressions: Record<string, number> },
          i: number,
        ) => {
          const e = inp.faces[i];
          expectWithin([f.score], [e.score], 1, 1e-4, `face ${i} score`);
          expectWithin(boxArr(f.box), e.box, 1, 1, `face ${i} box`);
          expectWithin(f.landmarks.flat(), e.landmarks.flat(), Math.max(e.landmarkCrop[2], e.landmarkCrop[3]), 1e-4, `face ${i} landmarks`);
          expectWithin(
            FACE_EXPRESSION_LABELS.map((k) => f.expressions[k]),
            e.expressions,
            1,
            1e-4,
            `face ${i} expressions`,
          );
        },
      );
      // the annotated image: the photo with exactly the boxes and dots drawn
      expect(existsSync(out)).toBe(true);
      const drawn = readImageFile(out);
      const expected = drawFaces(
        image(inp),
        res.faces.map((f: { box: unknown; landmarks: Array<[number, number]> }) => ({ box: f.box, landmarks: f.landmarks.map(([x, y]) => ({ x, y })) })),
      );
      expect(drawn.width).toBe(1920);
      expect(Buffer.compare(Buffer.from(drawn.data), Buffer.from(expected.data))).toBe(0);
      expect(Buffer.compare(Buffer.from(drawn.data), Buffer.from(image(inp).data))).not.toBe(0);

      const table = await runNode([BIN, 'faces', '--image', photo, '--input-size', '320', '--score-threshold', '0.3'], { timeout: 300_000 });
      expect(table.status, table.stderr).toBe(0);
      expect(table.stdout).toContain(`${inp.runs[1].detections.length} face(s) (tiny face detector, input 320, score > 0.3)`);
      expect(table.stdout).toMatch(/face 1: score \d\.\d{4} {2}box x [\d.]+ y [\d.]+ width [\d.]+ height [\d.]+/);
      expect(table.stdout).toMatch(/expressions \(\w+\): neutral \d\.\d{4} {2}happy/);
      expect(table.stdout).toContain(' 67 ');

      const bad = await runNode([BIN, 'faces', '--image', photo, '--input-size', '100'], { timeout: 120_000 });
      expect(bad.status).not.toBe(0);
      expect(bad.stderr).toContain('--input-size must be a positive multiple of 32');
      const missing = await runNode([BIN, 'faces', '--image', join(dir, 'none.jpg')], { timeout: 120_000 });
      expect(missing.status).toBe(1);
      expect(missing.stderr).toContain('none.jpg');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it("a 12-megapixel phone photo held upright (4000×3000, EXIF orientation 6): scaled on the way in, results in the photo's own pixels", async () => {
    const inp = FIX.inputs.find((i) => i.file === 'sample1.jpg')!;
    const small = image(inp);
    // sample1 doubled on a 4000×3000 canvas, stored turned and tagged 6 (test/helpers/phone-photo.ts)
    const { width: W, height: H } = PHONE;
    const [ox, oy] = PHONE.offset;
    const bytes = phonePhotoJpeg(small);
    const dir = mkdtempSync(join(tmpdir(), 'lrdif-faces-big-'));
    try {
      const photo = join(dir, 'phone.jpg');
      writeFileSync(photo, bytes);
      const out = join(dir, 'annotated.png');
      const r = await runNode([BIN, 'faces', '--image', photo, '--json', '--out', out], { timeout: 600_000 });
      expect(r.status, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(res.image).toEqual({ path: photo, width: W, height: H, processed: { width: 2048, height: 1536 } });
      // the same pipeline in this process on the same pixels: decoded as stored, turned, scaled to 2048 × 1536
      const processed = downscaleImage(orientImage(decodeImage(bytes, 'phone.jpg', { orient: false }), 6), 2048, 1536);
      const pipeline = await loadFacePipeline();
      let want;
      try {
        want = await pipeline.detectFaces(processed, { inputSize: 416, scoreThreshold: 0.5 });
      } finally {
        pipeline.dispose();
      }
      expect(res.faces.length).toBe(want.length);
      const [sx, sy] = [W / 2048, H / 1536];
      res.faces.forEach((f: { score: number; box: { x: number; y: number; width: number; height: number }; landmarks: Array<[number, number]> }, i: number) => {
        const w = want[i];
        expectWithin([f.score], [w.score], 1, 1e-6, `face ${i} score`);
        expectWithin(boxArr(f.box), [w.box.x * sx, w.box.y * sy, w.box.width * sx, w.box.height * sy], 1, 1e-6, `face ${i} box`);
        expectWithin(
          f.landmarks.flat(),
          w.landmarks.flatMap((p) => [p.x * sx, p.y * sy]),
          1,
          1e-6,
          `face ${i} landmarks`,
        );
      });
      // and they are sample1's faces, upright, where the canvas put them: each overlaps one of
      // sample1's boxes (doubled, shifted) by IoU > 0.5 (loosely: the detector saw another resampling)
      expect(res.faces.length).toBe(inp.faces.length);
      const iou = (a: Box4, b: Box4) => {
        const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
        const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
        const inter = Math.max(0, w) * Math.max(0, h);
        return inter / (a[2] * a[3] + b[2] * b[3] - inter);
      };
      const placed = inp.faces.map((e) => [2 * e.box[0] + ox, 2 * e.box[1] + oy, 2 * e.box[2], 2 * e.box[3]] as Box4);
      const matched = res.faces.map((f: { box: { x: number; y: number; width: number; height: number } }) => Math.max(...placed.map((p) => iou(boxArr(f.box), p))));
      for (const m of matched) expect(m).toBeGreaterThan(0.5);
      // --out draws on the full-size upright photo
      const drawn = readImageFile(out);
      expect([drawn.width, drawn.height]).toEqual([W, H]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 900_000);
});
