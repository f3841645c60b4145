/**
 * The web app (web/) in a real browser: Debian's Chromium driven by playwright-core, headless
 * with WebGPU (SwiftShader on machines without a GPU), against the Vite bundle built here and
 * served on a loopback port. Results are compared with Node's for the same inputs, computed in
 * this file with the library on Dawn:
 *
 * - inference: a tiny-config stage-2 checkpoint and the tiny random CLIP (test/browser/fixtures.ts)
 *   on face-api's demo photo (PNG, so both decoders give the same pixels), face detection and
 *   alignment on: the faces, their boxes and every class probability equal Node's within 1e-4,
 *   clean and under the UDC simulation;
 * - photos are turned upright by their EXIF orientation as Node turns them (a PNG tagged 6: the
 *   same pixels; a JPEG tagged 3: the same within the two JPEG decoders' rounding);
 * - the shipped model (assets/models/) is the default: a photo picked first loads it, and its
 *   probabilities equal Node's `lrdif predict` within 1e-4;
 * - the plain messages for a file that is not safetensors, a checkpoint whose tensors do not fit
 *   its config, a stage-1 checkpoint, and a browser without WebGPU;
 * - the webcam mode on Chromium's fake camera runs frame after frame until stopped;
 * - training: a short run of the tiny config on faces generated in the page lowers the loss; the
 *   downloaded stage-2 checkpoint and CLIP load in Node, whose evaluation of the test faces gives
 *   the page's probabilities within 1e-4;
 * - benchmarks: a suite runs in the page and prints the harness's table;
 * - the self-test: its permute checks run in the page and pass.
 *
 * A screenshot of each page is written to test/browser/screenshots/ (git-ignored).
 * Needs /usr/bin/chromium (`bash .ci/install-system.sh` installs it); LRDIF_CHROMIUM names
 * another binary.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview, type PreviewServer } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';
import { gpu } from '../helpers/gpu.js';
import { makeFixtures, NOISE_SEED, type BrowserFixtures } from './fixtures.js';
import { tensor, type Tensor } from '../../src/node.js';
import { imagesToTensor, chwToImage, orientImage } from '../../src/io/image.js';
import { RgbImageBuffer } from '../../src/kernels/affine-warp.js';
import { readImageFile, encodePng, encodeJpeg, decodeImage } from '../../src/io/image-node.js';
import { tiffWithOrientation, withExifJpeg, withExifPng } from '../helpers/exif.js';
import { openSafetensorsFile } from '../../src/io/safetensors-node.js';
import { loadClip } from '../../src/models/clip/load-node.js';
import { loadFaceLandmarkFeatures } from '../../src/models/faceapi/load-node.js';
import { loadFacePipeline } from '../../src/models/faceapi/detect-node.js';
import { alignFaces } from '../../src/models/faceapi/align.js';
import { LrdifModel } from '../../src/models/lrdif/lrdif.js';
import { degradeBatch, type DegradationKind, type DegradeConfig } from '../../src/data/degrade/index.js';
import { FrozenEncoders, sha256Hex, type ClipRecord } from '../../src/train/encoders.js';
import { imageNoise, imagenetNormalize, buildEmbeddingTable, splitWithIndices, MODEL_RESIZE, type PipelineSpec, type DegradeSpec } from '../../src/train/pipeline.js';
import { readCheckpointMeta, loadModelWeights } from '../../src/train/checkpoint.js';
import { evaluate } from '../../src/train/evaluate.js';
import { ImageDataset, type DataSource, type DatasetItem } from '../../src/data/datasets/types.js';
import { SYNTHETIC_CLASSES, syntheticFace, syntheticSplits } from '../../src/data/synthetic-faces.js';
import type { RgbImage } from '../../src/io/image.js';
import type { PageHooks } from '../../web/src/hooks.js';
import { DEFAULT_PRETRAINED } from '../../src/pretrained/models.js';
import { openPretrained } from '../../src/pretrained/pretrained-node.js';
import { runPrediction } from '../../src/train/predict-node.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const CONFIG = join(ROOT, 'web', 'vite.config.ts');
const SHOTS = join(HERE, 'screenshots');
const CHROMIUM = process.env.LRDIF_CHROMIUM ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // a fake camera (a test pattern) that needs no permission prompt
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
];
const TOL = 1e-4;

let tmp: string;
let fx: BrowserFixtures;
let server: PreviewServer;
let url: string;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

const state = (p: Page = page) => p.evaluate(() => (globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage);

async function shot(name: string, p: Page = page): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function openPage(hash: string, init?: () => void): Promise<Page> {
  const p = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  p.on('pageerror', (e) => pageErrors.push(e.message));
  if (init) await p.addInitScript(init);
  await p.goto(`${url}#${hash}`);
  await p.waitForFunction(
    () => {
      const s = (globalThis as unknown as { lrdifPage?: PageHooks }).lrdifPage;
      return !!s && (s.device.ready || s.device.error !== null);
    },
    null,
    { timeout: 60_000 },
  );
  return p;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Chromium at ${CHROMIUM}: run \`bash .ci/install-system.sh\` (it installs Debian's chromium), or set LRDIF_CHROMIUM`);
  }
  await gpu();
  tmp = mkdtempSync(join(tmpdir(), 'lrdif-web-'));
  fx = await makeFixtures(join(tmp, 'fixtures'));
  const outDir = join(tmp, 'bundle');
  await build({ configFile: CONFIG, logLevel: 'error', build: { outDir, emptyOutDir: true } });
  server = await preview({ configFile: CONFIG, logLevel: 'error', build: { outDir }, preview: { host: '127.0.0.1', port: 0, strictPort: false } });
  url = server.resolvedUrls!.local[0];
  // playwright gives the browser a fresh temporary profile
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  page = await openPage('inference');
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- Node's side

interface NodeFace {
  score: number;
  box: { x: number; y: number; width: number; height: number };
  probabilities: number[];
}

/** The photo degraded in Node as the page degrades it (8-bit result). */
async function nodeDegrade(image: RgbImage, d: { kind: DegradationKind; seed: number; config: DegradeConfig }): Promise<RgbImage> {
  const x = imagesToTensor([image]);
  const y = degradeBatch(x, d.kind, d.config, [d.seed]).images;
  try {
    return chwToImage((await y.data()) as Float32Array, image.width, image.height);
  } finally {
    x.dispose();
    y.dispose();
  }
}

/** The page's last processed photo (8-bit RGB). */
async function pageImage(p: Page = page): Promise<RgbImage> {
  const { width, height, b64 } = await p.evaluate(() => {
    const im = (globalThis as unknown as { lrdifPageImage: { width: number; height: number; data: Uint8Array } }).lrdifPageImage;
    let bin = '';
    for (let i = 0; i < im.data.length; i += 0x8000) bin += String.fromCharCode(...im.data.subarray(i, i + 0x8000));
    return { width: im.width, height: im.height, b64: btoa(bin) };
  });
  return { width, height, data: new Uint8Array(Buffer.from(b64, 'base64')) };
}

/** The page's pipeline on Dawn, from the photo on (the fixture photo unless given): detector, alignment, encoders, checkpoint. */
async function nodeInference(photo: RgbImage | null): Promise<NodeFace[]> {
  const image: RgbImage = photo ?? readImageFile(fx.photo);
  const reader = openSafetensorsFile(fx.checkpoint);
  const meta = readCheckpointMeta(reader);
  const model = new LrdifModel(meta.config, { seed: 0 });
  loadModelWeights(reader, model);
  reader.close();
  model.eval();
  const pipeline = await loadFacePipeline({ withExpressions: false });
  const enc = new FrozenEncoders(await loadClip(fx.clipDir), await loadFaceLandmarkFeatures(), meta.clip);
  const made: Tensor[] = [];
  try {
    const faces = await pipeline.detectFaces(image, { inputSize: 416, scoreThreshold: 0.5, expressions: false });
    if (faces.length === 0) return [];
    const buf = RgbImageBuffer.upload([image]);
    const batch = alignFaces(
      buf,
      faces.map((f) => f.landmarks),
      { size: meta.config.imageSize },
    ).faces;
    buf.dispose();
    made.push(batch);
    const F = faces.length;
    const eImg = tensor(await enc.imageEmbeddings(batch), [F, meta.config.clipDim]);
    const taps = enc.taps(batch);
    const noise = tensor(
      imageNoise(
        NOISE_SEED + 3,
        0,
        faces.map((_, i) => i),
        meta.config.priorDim,
      ),
      [F, meta.config.priorDim],
    );
    const x112 = imagenetNormalize(batch);
    made.push(eImg, ...taps, noise, x112);
    const p = model.predict({ x112, taps, eImg, noise });
    made.push(p);
    const probs = (await p.data()) as Float32Array;
    const K = meta.config.numClasses;
    return faces.map((f, i) => ({ score: f.score, box: f.box, probabilities: Array.from(probs.subarray(i * K, (i + 1) * K)) }));
  } finally {
    for (const t of made) t.dispose();
    model.dispose();
    pipeline.dispose();
    enc.dispose();
  }
}

function expectSameFaces(pageFaces: NonNullable<PageHooks['inference']['last']>['faces'], nodeFaces: NodeFace[]): number {
  expect(pageFaces.length).toBe(nodeFaces.length);
  let worst = 0;
  pageFaces.forEach((f, i) => {
    const n = nodeFaces[i];
    expect(Math.abs(f.score! - n.score)).toBeLessThan(1e-4);
    for (const k of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(f.box![k] - n.box[k])).toBeLessThan(0.01);
    expect(f.probabilities.length).toBe(n.probabilities.length);
    f.probabilities.forEach((p, k) => {
      const d = Math.abs(p - n.probabilities[k]);
      worst = Math.max(worst, d);
      expect(d, `face ${i} class ${k}: page ${p}, Node ${n.probabilities[k]}`).toBeLessThanOrEqual(TOL);
    });
  });
  return worst;
}

/** Clicks "Load model" and waits for the load to finish. */
async function load(p: Page = page): Promise<void> {
  const before = (await state(p)).inference.loads;
  await p.click('#load-models');
  await p.waitForFunction((n) => (globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage.inference.loads > n, before, { timeout: 120_000 });
}

async function waitRun(p: Page, runsBefore: number): Promise<PageHooks['inference']> {
  await p.waitForFunction(
    (n) => {
      const s = (globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage.inference;
      return s.runs > n || s.error !== null;
    },
    runsBefore,
    { timeout: 240_000 },
  );
  const s = (await state(p)).inference;
  expect(s.error).toBeNull();
  return s;
}

// ---------------------------------------------------------------- tests

describe('web app in Chromium (WebGPU)', () => {
  it('has a WebGPU device', async () => {
    const s = await state();
    expect(s.device.error).toBeNull();
    expect(s.device.adapter).toBeTruthy();
  });

  it('inference: a checkpoint, CLIP files and a photo; the faces and class probabilities equal Node’s within 1e-4', async () => {
    await page.setInputFiles('#ck-file', fx.checkpoint);
    await page.setInputFiles('#clip-files', [fx.clipWeights, fx.clipConfig]);
    await load();
    const loaded = (await state()).inference;
    expect(loaded.error).toBeNull();
    expect(loaded.warning).toBeNull();
    // choosing a photo runs the pipeline on it
    await page.setInputFiles('#photo-file', fx.photo);
    const s = await waitRun(page, 0);
    const last = s.last!;
    expect(last.width).toBe(960);
    expect(last.faces.length).toBe(3);
    expect(last.timings.map((t) => t.part)).toEqual([
      'face detection + landmarks',
      'alignment',
      'CLIP image embedding',
      'landmark features',
      'LRDif (T = 4 denoising steps + UDCformer)',
    ]);
    // the bars show the same numbers
    const shown = await page.$$eval('.face-card', (cards) => cards.map((c) => [...c.querySelectorAll('.bar-value')].map((v) => Number(v.textContent))));
    expect(shown.length).toBe(3);
    shown.forEach((vals, i) => vals.forEach((v, k) => expect(Math.abs(v - last.faces[i].probabilities[k])).toBeLessThanOrEqual(5e-4)));
    await shot('inference');
    // the page's photo is the fixture's pixels: both PNG decoders agree
    const shownPhoto = await pageImage();
    expect(Buffer.from(shownPhoto.data).equals(Buffer.from(readImageFile(fx.photo).data))).toBe(true);
    const worst = expectSameFaces(last.faces, await nodeInference(null));
    console.log(
      `inference: 3 faces, largest |page − Node| probability difference ${worst.toExponential(2)}; page timings ${last.timings.map((t) => `${t.part} ${t.ms.toFixed(0)} ms`).join(', ')}`,
    );
  }, 300_000);

  it('the UDC simulation: the degraded photo matches Node’s to ±1 in 8 bits, and on the page’s degraded photo the probabilities equal Node’s within 1e-4', async () => {
    const before = (await state()).inference.runs;
    await page.selectOption('#sim-kind', 'udc');
    await page.fill('#sim-seed', '3');
    try {
      await page.click('#run-photo');
      const last = (await waitRun(page, before)).last!;
      const d = last.degrade as { kind: DegradationKind; strength: number; seed: number; config: DegradeConfig };
      expect(d.kind).toBe('udc');
      expect(d.seed).toBe(3);
      expect(d.strength).toBe(0.5);
      expect(last.timings[0].part).toBe('UDC simulation');
      expect(last.faces.length).toBeGreaterThan(0);
      await shot('inference-udc');
      // the degradation: Node's for the same config and seed. Its noise comes from GPU random
      // draws (logarithms, cosines) that another GPU rounds differently in the last bits, so a
      // value near a rounding boundary may land one 8-bit step away.
      const degraded = await pageImage();
      const mine = (await nodeDegrade(readImageFile(fx.photo), d)).data;
      let off = 0;
      let maxDiff = 0;
      for (let i = 0; i < mine.length; i++) {
        const diff = Math.abs(mine[i] - degraded.data[i]);
        if (diff) off++;
        maxDiff = Math.max(maxDiff, diff);
      }
      expect(maxDiff).toBeLessThanOrEqual(1);
      expect(off / mine.length).toBeLessThan(0.01);
      // the rest of the pipeline on the page's degraded photo
      const worst = expectSameFaces(last.faces, await nodeInference(degraded));
      console.log(
        `inference with UDC: ${last.faces.length} faces; degraded photo: ${off} of ${mine.length} values one step off Node's (${((100 * off) / mine.length).toFixed(3)} %); largest probability difference ${worst.toExponential(2)}`,
      );
    } finally {
      await page.selectOption('#sim-kind', 'none');
    }
  }, 300_000);

  it('turns photos upright by their EXIF orientation, as Node does', async () => {
    const upright = readImageFile(fx.photo);
    const dir = join(tmp, 'exif');
    mkdirSync(dir, { recursive: true });
    const meanDiff = (a: RgbImage, b: RgbImage) => a.data.reduce((s, v, i) => s + Math.abs(v - b.data[i]), 0) / a.data.length;
    // a PNG stored a quarter turn counter-clockwise and tagged 6 (turn clockwise to view): lossless, so the very pixels
    const png = join(dir, 'portrait6.png');
    writeFileSync(png, withExifPng(encodePng(orientImage(upright, 8)), tiffWithOrientation(6, true)));
    let before = (await state()).inference.runs;
    await page.setInputFiles('#photo-file', png);
    await waitRun(page, before);
    const shownPng = await pageImage();
    expect([shownPng.width, shownPng.height]).toEqual([upright.width, upright.height]);
    expect(Buffer.from(shownPng.data).equals(Buffer.from(upright.data))).toBe(true);
    // a JPEG stored upside down and tagged 3: Chromium's and jpeg-js's decodes differ by rounding only
    const jpg = join(dir, 'upside-down3.jpg');
    const bytes = withExifJpeg(encodeJpeg(orientImage(upright, 3), 95), tiffWithOrientation(3, false));
    writeFileSync(jpg, bytes);
    before = (await state()).inference.runs;
    await page.setInputFiles('#photo-file', jpg);
    await waitRun(page, before);
    const shownJpg = await pageImage();
    const node = decodeImage(bytes, 'upside-down3.jpg');
    expect([shownJpg.width, shownJpg.height]).toEqual([node.width, node.height]);
    const same = meanDiff(shownJpg, node);
    const unturned = meanDiff(shownJpg, decodeImage(bytes, 'x', { orient: false }));
    expect(same).toBeLessThan(2);
    expect(unturned).toBeGreaterThan(10 * same);
    console.log(`EXIF: PNG (6) identical to Node's; JPEG (3) mean |page − Node| ${same.toFixed(3)} per value (${unturned.toFixed(1)} against the unturned pixels)`);
  }, 300_000);

  it('shows plain messages for a file that is not safetensors, a checkpoint for a different config and a stage-1 checkpoint', async () => {
    const tryLoad = async (file: string) => {
      await page.setInputFiles('#ck-file', file);
      await load();
      const s = (await state()).inference;
      expect(await page.isVisible('#infer-error')).toBe(s.error !== null);
      expect(await page.textContent('#infer-error')).toBe(s.error ?? '');
      return s.error;
    };
    const notSt = await tryLoad(fx.notSafetensors);
    expect(notSt).toMatch(/^not-safetensors\.safetensors is not a safetensors file \(.+\)\. Pick a \.safetensors file/);
    const wrong = await tryLoad(fx.wrongConfig);
    expect(wrong).toMatch(
      /^wrong-config\.safetensors does not fit the config it records \(a checkpoint for a different config, or a damaged one\): loadStateDict into LrdifModel: 'udcformer\.dt\.stem\.weight' expects shape \[16, 3, 3, 3\] f32, the state dict gives \[8, 3, 3, 3\] f32; .* and \d+ more$/,
    );
    expect(wrong!.length).toBeLessThan(800);
    await shot('inference-error');
    const s1 = await tryLoad(fx.stage1);
    expect(s1).toMatch(/^stage1\.safetensors is a stage-1 checkpoint/);
    // a failed load keeps the model that was loaded
    expect((await state()).inference.ready).toBe(true);
    expect(await page.textContent('#model-info')).toContain('stage2.safetensors');
    expect(await page.isEnabled('#run-photo')).toBe(true);
    for (const m of [notSt, wrong, s1]) expect(m).not.toMatch(/^lrdif:|Error:|\n/);
    // the good one still loads afterwards
    expect(await tryLoad(fx.checkpoint)).toBeNull();
  }, 180_000);

  it('says plainly when the browser has no WebGPU', async () => {
    const p = await openPage('inference', () => {
      delete (Navigator.prototype as unknown as { gpu?: unknown }).gpu;
    });
    try {
      const s = await state(p);
      expect(s.device.ready).toBe(false);
      expect(s.device.error).toMatch(/^This browser has no WebGPU \(navigator\.gpu is missing\)/);
      expect(await p.textContent('#fatal')).toBe(s.device.error);
      expect(await p.isDisabled('#load-models')).toBe(true);
      await shot('no-webgpu', p);
    } finally {
      await p.close();
    }
  });

  it('webcam mode (Chromium’s fake camera) runs frame after frame until stopped, with fresh low-light noise per frame and flat GPU memory', async () => {
    // the fake camera shows a test pattern, not a face: take each frame as one face crop
    await page.uncheck('#det-on');
    await page.selectOption('#sim-kind', 'lowlight');
    await page.fill('#sim-seed', '100');
    try {
      await page.click('#webcam-start');
      const frames = async (n: number) => {
        await page.waitForFunction(
          (k) => {
            const s = (globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage.inference;
            return s.webcamFrames >= k || s.error !== null;
          },
          n,
          { timeout: 180_000 },
        );
        const s = (await state()).inference;
        expect(s.error).toBeNull();
        return s;
      };
      const s2 = await frames(2);
      const s5 = await frames(5);
      expect(s5.webcam).toBe(true);
      const last = s5.last!;
      expect(last.faces.length).toBe(1);
      expect(last.faces[0].score).toBeNull();
      expect(last.timings.map((t) => t.part)).toEqual([
        'low-light simulation',
        'face crop',
        'CLIP image embedding',
        'landmark features',
        'LRDif (T = 4 denoising steps + UDCformer)',
      ]);
      const d = last.degrade as { kind: string; seed: number };
      expect(d.kind).toBe('lowlight');
      expect(d.seed).toBeGreaterThan(100); // seed + frame number: new noise every frame
      expect(Math.abs(last.faces[0].probabilities.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
      // nothing accumulates on the GPU from frame to frame
      expect(last.gpuLiveBytes).toBe(s2.last!.gpuLiveBytes);
      expect(await page.textContent('#infer-status')).toMatch(/^webcam: frame \d+, [\d.]+ frames\/s$/);
      await shot('inference-webcam');
      await page.click('#webcam-stop');
      await page.waitForFunction(() => !(globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage.inference.webcam, null, { timeout: 120_000 });
      const n = (await state()).inference.webcamFrames;
      await page.waitForTimeout(1500);
      expect((await state()).inference.webcamFrames).toBe(n);
    } finally {
      await page.selectOption('#sim-kind', 'none');
      await page.check('#det-on');
    }
  }, 300_000);

  it('the shipped model is the default: a photo picked before any model loads it, and its probabilities equal Node’s lrdif predict within 1e-4', async () => {
    const shipped = openPretrained(DEFAULT_PRETRAINED);
    // a 112×112 face crop, detection off: the page's centre square is the whole image, as Node's --detect never
    const face = join(tmp, 'shipped-face.png');
    writeFileSync(face, encodePng(syntheticFace(11, 2).image));
    const p = await openPage('inference');
    try {
      expect(await p.inputValue('#model-choice')).toBe(DEFAULT_PRETRAINED);
      await p.uncheck('#det-on');
      await p.setInputFiles('#photo-file', face);
      const s = await waitRun(p, 0);
      expect(s.model).toBe(DEFAULT_PRETRAINED);
      expect(s.warning).toBeNull();
      expect(await p.textContent('#model-info')).toContain(`Shipped model '${DEFAULT_PRETRAINED}': ${shipped.entry.title}`);
      expect(s.last!.timings.map((t) => t.part)).toContain('image embedding');
      const node = await runPrediction({ ckpt: shipped.model, images: [face], clip: null, detect: 'never', seed: null, cacheDir: null, scoreThreshold: 0.5 }, () => {});
      const want = node.images[0].faces[0].probabilities;
      expect(s.last!.classNames).toEqual(Object.keys(want));
      const worst = Math.max(...s.last!.faces[0].probabilities.map((v, k) => Math.abs(v - want[s.last!.classNames[k]])));
      expect(worst).toBeLessThanOrEqual(TOL);
      await shot('inference-shipped', p);
      console.log(`shipped model '${DEFAULT_PRETRAINED}' in the page: largest |page − Node| probability difference ${worst.toExponential(2)}`);
    } finally {
      await p.close();
    }
  }, 300_000);

  it('loads the checkpoint and the CLIP from URLs, and says plainly when a URL does not answer', async () => {
    // same-origin URLs answered by the test with the fixture files
    await page.route('**/remote/**', (route) => {
      const name = new URL(route.request().url()).pathname.split('/').pop()!;
      const file = { 'stage2.safetensors': fx.checkpoint, 'model.safetensors': fx.clipWeights, 'config.json': fx.clipConfig }[name];
      return file ? route.fulfill({ path: file }) : route.fulfill({ status: 404, body: 'not here' });
    });
    try {
      await page.setInputFiles('#ck-file', []);
      await page.setInputFiles('#clip-files', []);
      await page.fill('#ck-url', `${url}remote/missing.safetensors`);
      await load();
      expect((await state()).inference.error).toBe(`could not fetch ${url}remote/missing.safetensors: HTTP 404 Not Found`);
      await page.fill('#ck-url', `${url}remote/stage2.safetensors`);
      await page.fill('#clip-url', `${url}remote/model.safetensors`);
      await page.fill('#clip-config-url', `${url}remote/config.json`);
      await load();
      const s = (await state()).inference;
      expect(s.error).toBeNull();
      expect(s.ready).toBe(true);
      expect(await page.textContent('#model-info')).toContain('CLIP: model.safetensors (P = 32)');
    } finally {
      await page.unroute('**/remote/**');
      await page.fill('#ck-url', '');
      await page.fill('#clip-url', '');
      await page.fill('#clip-config-url', '');
    }
  }, 120_000);

  it('training: a short run on faces generated in the page lowers the loss; Node loads the checkpoint and evaluates the test faces the same', async () => {
    await page.goto(`${url}#training`);
    await page.waitForFunction(() => (globalThis as unknown as { lrdifPage?: PageHooks }).lrdifPage?.device.ready === true, null, { timeout: 60_000 });
    const set = async (id: string, v: string) => page.fill(`#${id}`, v);
    await set('tr-images', '21');
    await set('tr-test', '0.34');
    await set('tr-data-seed', '4');
    await set('tr-clip-seed', '2');
    await page.selectOption('#tr-degrade', 'none');
    await page.uncheck('#tr-augment');
    await set('tr-e1', '3');
    await set('tr-e2', '1');
    await set('tr-batch', '7');
    await set('tr-lr', '0.002');
    await set('tr-seed', '9');
    const t0 = performance.now();
    await page.click('#train-start');
    await page.waitForFunction(
      () => {
        const s = (globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage.training;
        return s.done || s.error !== null;
      },
      null,
      { timeout: 600_000 },
    );
    const seconds = (performance.now() - t0) / 1000;
    const tr = (await state()).training;
    expect(tr.error).toBeNull();
    const e1 = tr.epochs.filter((e) => e.stage === 1);
    const e2 = tr.epochs.filter((e) => e.stage === 2);
    expect(e1.length).toBe(3);
    expect(e2.length).toBe(1);
    expect(tr.steps.filter((s) => s.stage === 1).length).toBe(6);
    // the loss falls: the last stage-1 epoch's mean training loss is below the first's
    console.log(`training in the page: ${seconds.toFixed(0)} s; stage-1 epoch losses ${e1.map((e) => e.trainLoss.toFixed(4)).join(', ')}; stage 2 ${e2[0].trainLoss.toFixed(4)}`);
    expect(e1[2].trainLoss).toBeLessThan(e1[0].trainLoss);
    await shot('training');

    const save = async (button: string, name: string) => {
      const [dl] = await Promise.all([page.waitForEvent('download'), page.click(`#${button}`)]);
      const file = join(tmp, 'downloads', name);
      await dl.saveAs(file);
      return file;
    };
    const ck = await save('dl-stage2-last', 'stage2-last.safetensors');
    const clipWeights = await save('dl-clip-weights', join('clip', 'model.safetensors'));
    await save('dl-clip-config', join('clip', 'config.json'));

    // Node: the checkpoint, its metadata and its CLIP
    const reader = openSafetensorsFile(ck);
    const meta = readCheckpointMeta(reader);
    expect(meta.stage).toBe(2);
    expect(meta.epoch).toBe(1);
    expect(meta.classNames).toEqual([...SYNTHETIC_CLASSES]);
    const rec = meta.clip as ClipRecord;
    expect(rec.kind).toBe('file');
    expect(rec.hash).toBe(await sha256Hex(readFileSync(clipWeights)));
    const model = new LrdifModel(meta.config, { seed: 0 });
    loadModelWeights(reader, model);
    reader.close();
    const enc = new FrozenEncoders(await loadClip(dirname(clipWeights)), await loadFaceLandmarkFeatures(), rec);
    try {
      // the same faces and split, made here
      const syn = (meta.train as { synthetic: { images: number; seed: number; testFraction: number } }).synthetic;
      expect(syn).toEqual({ images: 21, seed: 4, testFraction: 0.34, size: 112 });
      const splits = syntheticSplits(syn.images, syn.seed, syn.testFraction);
      const items: DatasetItem[] = splits.map((split, i) => {
        const { image } = syntheticFace(syn.seed, i, 112);
        return { id: `face-${i}`, label: i % 7, split, source: { kind: 'pixels', width: 112, height: 112, channels: 3, data: image.data } };
      });
      const noFiles = {} as DataSource;
      const test = splitWithIndices(new ImageDataset('synthetic', SYNTHETIC_CLASSES, items, noFiles), 'test');
      expect(test.length).toBe(7);
      const spec: PipelineSpec = {
        imageSize: meta.config.imageSize,
        resize: MODEL_RESIZE,
        degrade: (meta.train as { degrade: DegradeSpec | null }).degrade,
        augment: null,
        seed: (meta.rng as { seed: number }).seed,
      };
      expect(spec.seed).toBe(9);
      const table = (await buildEmbeddingTable(enc, test, spec)).table;
      const text = tensor(await enc.textEmbeddings(SYNTHETIC_CLASSES), [7, meta.config.clipDim]);
      const ev = await evaluate(model, 2, test, table, enc, spec, text, { batchSize: 32, prefetch: false });
      text.dispose();
      const pageEval = tr.evals['2']!;
      expect(ev.local).toEqual(pageEval.local);
      expect(Array.from(ev.labels)).toEqual(pageEval.labels);
      let worst = 0;
      ev.probabilities.forEach((p, i) => {
        const d = Math.abs(p - pageEval.probabilities[i]);
        worst = Math.max(worst, d);
        expect(d, `probability ${i}: Node ${p}, page ${pageEval.probabilities[i]}`).toBeLessThanOrEqual(TOL);
      });
      console.log(`training: Node's evaluation of the downloaded checkpoint matches the page's within ${worst.toExponential(2)}`);
    } finally {
      model.dispose();
      enc.dispose();
    }

    // the trained model goes straight to the inference tab
    const loads = (await state()).inference.loads;
    await page.click('#use-in-inference');
    await page.waitForFunction((n) => (globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage.inference.loads > n, loads, { timeout: 120_000 });
    expect(await page.evaluate(() => location.hash)).toBe('#inference');
    expect((await state()).inference.error).toBeNull();
    expect(await page.textContent('#model-info')).toContain('lrdif-tiny-stage2-best.safetensors');
  }, 900_000);

  it('benchmarks: a suite runs in the page and prints the harness’s table', async () => {
    await page.goto(`${url}#bench`);
    await page.waitForFunction(() => (globalThis as unknown as { lrdifPage?: PageHooks }).lrdifPage?.device.ready === true, null, { timeout: 60_000 });
    const s0 = (await state()).bench;
    // suites that read weights from disk stay in Node, with the reason shown
    expect(s0.excluded.map((x) => x.file)).toEqual(expect.arrayContaining(['clip.bench.ts', 'faceapi.bench.ts']));
    expect(await page.textContent('#tab-bench')).toContain('Not in the page (Node only)');
    await page.fill('#bench-filter', 'adamw');
    const t0 = performance.now();
    await page.click('#bench-run');
    await page.waitForFunction(
      () => {
        const s = (globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage.bench;
        return s.done || s.error !== null;
      },
      null,
      { timeout: 300_000 },
    );
    const b = (await state()).bench;
    expect(b.error).toBeNull();
    expect(b.rows.length).toBeGreaterThan(0);
    for (const r of b.rows) {
      expect(r.name).toMatch(/adamw/i);
      expect(r.ours_wall_ms).toBeGreaterThan(0);
      expect(r.peer).toBeNull();
    }
    const lines = b.table!.split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual(['name', 'shape', 'ours ms', 'wall ms', 'rate', 'peer', 'peer ms', 'peer rate', 'ratio']);
    expect(lines.length).toBe(2 + b.rows.length);
    expect(await page.textContent('#bench-table')).toContain(b.table!);
    expect(await page.$$eval('#bench-rows tr', (r) => r.length)).toBe(b.rows.length);
    console.log(`benchmarks in the page (${((performance.now() - t0) / 1000).toFixed(0)} s):\n${b.table}`);
    await shot('benchmarks');
  }, 400_000);

  it('self-test: the checks of lrdif selftest run in the page, with the device on top', async () => {
    await page.goto(`${url}#selftest`);
    await page.waitForFunction(() => (globalThis as unknown as { lrdifPage?: PageHooks }).lrdifPage?.device.ready === true, null, { timeout: 60_000 });
    await page.fill('#st-filter', 'permute');
    const t0 = performance.now();
    await page.click('#st-run');
    await page.waitForFunction(
      () => {
        const s = (globalThis as unknown as { lrdifPage: PageHooks }).lrdifPage.selftest;
        return s.done || s.error !== null;
      },
      null,
      { timeout: 300_000 },
    );
    const s = (await state()).selftest;
    expect(s.error).toBeNull();
    expect(s.ok).toBe(true);
    // both permute kernels, forward and backward, against the float64 reference
    expect(s.results.length).toBeGreaterThanOrEqual(6);
    for (const r of s.results) {
      expect(r.op).toBe('permute');
      expect(r.status).toBe('pass');
    }
    expect(new Set(s.results.map((r) => r.variant))).toEqual(new Set(['tiled', 'strided']));
    expect(await page.textContent('#st-device')).toMatch(/^adapter {6}\S/);
    expect(s.summary).toMatch(/\nPASS: \d+ passed, 0 failed, 0 skipped in [\d.]+ s \(--quick\) on /);
    expect(await page.$$eval('#st-rows tr', (r) => r.length)).toBe(s.results.length);
    console.log(`self-test in the page (${((performance.now() - t0) / 1000).toFixed(0)} s):\n${s.summary}`);
    await shot('selftest');
  }, 400_000);

  it('raised no uncaught error in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});
