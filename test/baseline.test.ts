/**
 * `lrdif baseline`: the plain CNN trained with lrdif's engine (it must learn synthetic faces well
 * above chance), face-api's zero-shot scorer (the class mapping is exact, unknown classes are
 * excluded and counted, the scores are the expression net's own), the reports the command writes,
 * and its errors.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { runNode } from './helpers/child.js';
import { encodePng, readImageFile } from '../src/io/image-node.js';
import { syntheticFace, syntheticSplits } from '../src/data/synthetic-faces.js';
import { CANONICAL_CLASSES, loadDataset } from '../src/data/datasets/index.js';
import { nodeDataSource } from '../src/data/datasets/source-node.js';
import { openSafetensorsFile } from '../src/io/safetensors-node.js';
import { loadFaceExpressionNet } from '../src/models/faceapi/load-node.js';
import { FACE_EXPRESSION_LABELS, type FaceExpressionNet } from '../src/models/faceapi/expression-net.js';
import { splitWithIndices, MODEL_RESIZE } from '../src/train/pipeline.js';
import { FACEAPI_TO_CANONICAL, scoreFaceApiZeroShot, zeroShotClasses, zeroShotPredictions } from '../src/baseline/faceapi-zero-shot.js';
import { readCnnCheckpoint } from '../src/baseline/checkpoint.js';
import { evaluateCnn } from '../src/baseline/train-cnn.js';
import { runBaselines, type BaselineRunOptions } from '../src/baseline/run-node.js';

const BIN = fileURLToPath(new URL('../bin/lrdif.js', import.meta.url));

async function lrdif(...args: string[]) {
  const r = await runNode([BIN, ...args], { timeout: 300_000, env: { ...process.env, LRDIF_DEBUG: '' } });
  if (r.error) throw r.error;
  const stderr = r.stderr
    .split('\n')
    .filter((l) => l && !l.startsWith('Warning: '))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-baseline-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of a folder of PNGs with every image mirrored left to right on the host (flip TTA's reference). */
function mirrorFolder(src: string, dst: string): void {
  for (const e of fs.readdirSync(src, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const from = path.join(e.parentPath, e.name);
    const im = readImageFile(from);
    const flipped = new Uint8Array(im.data.length);
    for (let y = 0; y < im.height; y++)
      for (let x = 0; x < im.width; x++) for (let c = 0; c < 3; c++) flipped[3 * (y * im.width + x) + c] = im.data[3 * (y * im.width + (im.width - 1 - x)) + c];
    const to = path.join(dst, path.relative(src, from));
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.writeFileSync(to, encodePng({ width: im.width, height: im.height, data: flipped }));
  }
}

/** Flip TTA's probabilities must be the mean of the images' and the host-mirrored images', row by row. */
function expectMeanOfViews(tta: Float32Array, plain: Float32Array, mirrored: Float32Array): void {
  expect(tta.length).toBe(plain.length);
  let worst = 0;
  let changed = 0;
  tta.forEach((p, i) => {
    worst = Math.max(worst, Math.abs(p - (plain[i] + mirrored[i]) / 2));
    changed = Math.max(changed, Math.abs(p - plain[i]));
  });
  expect(worst).toBeLessThan(2e-6);
  expect(changed).toBeGreaterThan(1e-4); // the mirror image's view moved something
}

/**
 * Synthetic faces of the given canonical classes (their indices in the generator's order), in
 * <dir>/<split>/<class>/; `val` takes that share of each class's training images.
 */
function writeFaces(dir: string, classes: number[], perClass: number, size: number, opts: { seed?: number; val?: number; extra?: Record<string, number> } = {}): void {
  const seed = opts.seed ?? 0;
  const n = 7 * perClass;
  const splits = syntheticSplits(n, seed, 0.25);
  const seen = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const label = i % 7;
    if (!classes.includes(label)) continue;
    let split: string = splits[i];
    const k = seen.get(label) ?? 0;
    if (split === 'train' && opts.val && k % Math.round(1 / opts.val) === 0) split = 'val';
    if (split === 'train' || split === 'val') seen.set(label, k + 1);
    const file = path.join(dir, split, CANONICAL_CLASSES[label], `${String(i).padStart(5, '0')}.png`);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, encodePng(syntheticFace(seed, i, size).image));
  }
  // images of other classes (e.g. contempt, which face-api does not know), copied from face i
  for (const [cls, count] of Object.entries(opts.extra ?? {})) {
    for (let j = 0; j < count; j++) {
      const file = path.join(dir, 'test', cls, `x${j}.png`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, encodePng(syntheticFace(seed + 1, j, size).image));
    }
  }
}

describe('face-api zero-shot mapping', () => {
  it("maps face-api's seven outputs onto the canonical classes, contempt unknown", () => {
    expect(FACEAPI_TO_CANONICAL).toEqual({ neutral: 'neutral', happy: 'happiness', sad: 'sadness', angry: 'anger', fearful: 'fear', disgusted: 'disgust', surprised: 'surprise' });
    const z = zeroShotClasses(CANONICAL_CLASSES);
    expect(z.known).toEqual(['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear']);
    expect(z.unknown).toEqual(['contempt']);
    // face-api order: neutral, happy, sad, angry, fearful, disgusted, surprised
    expect(z.outputToKnown).toEqual([0, 1, 3, 4, 6, 5, 2]);
    expect(z.datasetToKnown).toEqual([0, 1, 2, 3, 4, 5, 6, -1]);
  });

  it('predicts among the classes the dataset has, first on ties', () => {
    const z = zeroShotClasses(['neutral', 'happiness', 'surprise']);
    expect(z.outputToKnown).toEqual([0, 1, -1, -1, -1, -1, 2]);
    // row 0: 'sad' is the largest but unknown here, so happy (0.3) wins; row 1: surprised; row 2: a tie → neutral
    const p = [0.1, 0.3, 0.5, 0.05, 0.05, 0, 0, 0, 0.1, 0, 0, 0, 0, 0.9, 0.25, 0.25, 0, 0, 0.25, 0, 0.25];
    expect(Array.from(zeroShotPredictions(p, z))).toEqual([1, 2, 0]);
    expect(() => zeroShotPredictions([0.5, 0.5], z)).toThrow(/2 probabilities are not rows of 7/);
    expect(() => zeroShotClasses(['contempt'])).toThrow(/none of the dataset's classes \(contempt\) is one face-api knows/);
  });
});

describe('face-api zero-shot scoring', () => {
  let net: FaceExpressionNet;
  const dir = path.join(tmp, 'zs');
  beforeAll(async () => {
    await gpu();
    net = await loadFaceExpressionNet();
    writeFaces(dir, [0, 1, 2, 3], 4, 112, { extra: { contempt: 3 } });
  });
  afterAll(() => net?.dispose());

  it("scores the expression net's own predictions on the known classes and counts the excluded images", async () => {
    const ds = await loadDataset('folder', dir, nodeDataSource(), {});
    // the classes that have images, in canonical order
    expect(ds.classNames).toEqual(['neutral', 'happiness', 'surprise', 'sadness', 'contempt']);
    const test = splitWithIndices(ds, 'test');
    const r = await scoreFaceApiZeroShot(net, test, { batchSize: 3 });
    const contempt = test.dataset.items.filter((it) => it.label === ds.classNames.indexOf('contempt')).length;
    expect(contempt).toBe(3);
    expect(r.excluded).toEqual({ contempt: 3 });
    expect(r.excludedTotal).toBe(3);
    expect(r.report.n).toBe(test.length - 3);
    expect(r.report.classNames).toEqual(['neutral', 'happiness', 'surprise', 'sadness']);
    // independent path: face-api's own predictExpressions on the same crops, argmax, mapped by name
    const imgs = await Promise.all(r.local.map((i) => test.dataset.load(i)));
    const own = await net.predictExpressions(imgs.map((im) => im!));
    const expected = own.map((e) => {
      const best = FACE_EXPRESSION_LABELS.reduce((a, b) => (e[b] > e[a] ? b : a));
      return r.classes.known.indexOf(FACEAPI_TO_CANONICAL[best]);
    });
    const labels = r.local.map((i) => r.classes.datasetToKnown[test.dataset.items[i].label]);
    let correct = 0;
    expected.forEach((p, i) => (correct += p === labels[i] ? 1 : 0));
    expect(r.report.accuracy).toBeCloseTo(correct / labels.length, 12);
    own.forEach((e, i) => FACE_EXPRESSION_LABELS.forEach((l, j) => expect(r.probabilities[i * 7 + j]).toBeCloseTo(e[l], 5)));
    // the confusion matrix counts every scored image once, in its true row
    const rows = r.report.confusion.map((row) => row.reduce((a, b) => a + b, 0));
    expect(rows).toEqual(r.classes.known.map((_, k) => labels.filter((l) => l === k).length));
  });
});

describe('face-api zero-shot with flip TTA', () => {
  it("averages each image's probabilities with its mirror image's", async () => {
    await gpu();
    const net = await loadFaceExpressionNet();
    const dir = path.join(tmp, 'zs-tta');
    writeFaces(dir, [0, 1, 2, 3], 4, 112);
    mirrorFolder(dir, `${dir}-mirrored`);
    const score = async (d: string, tta: 'none' | 'flip') =>
      scoreFaceApiZeroShot(net, splitWithIndices(await loadDataset('folder', d, nodeDataSource(), {}), 'test'), { batchSize: 3, tta });
    const [plain, mirrored, flip] = [await score(dir, 'none'), await score(`${dir}-mirrored`, 'none'), await score(dir, 'flip')];
    expect(flip.local).toEqual(plain.local);
    expectMeanOfViews(flip.probabilities, plain.probabilities, mirrored.probabilities);
    net.dispose();
  });
});

describe('baseline CNN', () => {
  it('learns three synthetic expressions well above chance, selected on validation, and its checkpoint scores what the report says', async () => {
    await gpu();
    // happiness, surprise, sadness: 150 faces each at 32 px (≈ 96 train, 17 val, 37 test per class)
    const dir = path.join(tmp, 'learn');
    writeFaces(dir, [1, 2, 3], 150, 32);
    const out = path.join(tmp, 'learn-out');
    const o: BaselineRunOptions = {
      data: dir,
      format: 'folder',
      testFraction: 0.2,
      valFraction: 0.15,
      splitSeed: 0,
      out,
      which: ['cnn'],
      imageSize: 32,
      epochs: 10,
      batch: 16,
      evalBatch: 64,
      lr: 2e-3,
      weightDecay: 1e-2,
      schedule: 'cosine',
      warmup: 0,
      seed: 0,
      augment: false,
      widths: [8, 16, 32],
      dropout: 0.3,
      select: 'auto',
      degrade: null,
      faceapiWeights: null,
      deterministic: true,
      tta: 'none',
    };
    const logs: string[] = [];
    const r = await runBaselines(o, { log: (m) => logs.push(m), warn: (m) => logs.push(m), version: 'test' });
    const row = r.rows[0];
    expect(row.baseline).toBe('cnn');
    expect(row.selection!.split).toBe('val');
    expect(logs.join('\n')).toMatch(/validation split: \d+ training images carved out image by image/);
    // chance is 1/3 over the three classes present
    expect(row.accuracy, JSON.stringify(row)).toBeGreaterThan(0.5);
    const ev = JSON.parse(fs.readFileSync(path.join(out, 'cnn', 'eval.json'), 'utf8'));
    expect(ev.selection.split).toBe('val');
    expect(ev.epoch).toBe(row.selection!.epoch);
    expect(ev.history).toHaveLength(10);
    // the selected epoch is a best validation epoch (ties go to the lower validation loss)
    const best = Math.max(...ev.history.map((h: { selectAccuracy: number }) => h.selectAccuracy));
    expect(ev.history[ev.epoch - 1].selectAccuracy).toBe(best);
    // best.safetensors reproduces the reported test accuracy
    const reader = openSafetensorsFile(path.join(out, 'cnn', 'best.safetensors'));
    const { model, meta } = readCnnCheckpoint(reader);
    reader.close();
    expect(meta.epoch).toBe(ev.epoch);
    const ds = await loadDataset('folder', dir, nodeDataSource(), {});
    const again = await evaluateCnn(model, splitWithIndices(ds, 'test'), { imageSize: 32, resize: MODEL_RESIZE, degrade: null, augment: null, seed: 0 }, ds.classNames);
    // flip TTA: the mean of the test images' probabilities and their host-mirrored copies'
    mirrorFolder(dir, `${dir}-mirrored`);
    const spec = { imageSize: 32, resize: MODEL_RESIZE, degrade: null, augment: null, seed: 0 };
    const mirroredDs = await loadDataset('folder', `${dir}-mirrored`, nodeDataSource(), {});
    const onMirrored = await evaluateCnn(model, splitWithIndices(mirroredDs, 'test'), spec, ds.classNames);
    const flip = await evaluateCnn(model, splitWithIndices(ds, 'test'), spec, ds.classNames, { tta: 'flip', batchSize: 7 });
    expectMeanOfViews(flip.probabilities, again.probabilities, onMirrored.probabilities);
    const nll = Array.from(flip.labels).reduce((a, y, r) => a - Math.log(flip.probabilities[3 * r + y]), 0) / flip.labels.length;
    expect(flip.loss).toBeCloseTo(nll, 5);
    model.dispose();
    expect(again.report.accuracy).toBe(ev.accuracy);
    expect(again.report.confusion).toEqual(ev.confusion);
  }, 900_000);
});

describe('lrdif baseline command', () => {
  const dir = path.join(tmp, 'cli');
  beforeAll(() => {
    // own train/val/test folders; contempt only in test
    writeFaces(dir, [0, 1, 2], 6, 32, { val: 0.34, extra: { contempt: 2 } });
    fs.mkdirSync(path.join(dir, 'train', 'contempt'), { recursive: true });
    fs.copyFileSync(path.join(dir, 'test', 'contempt', 'x0.png'), path.join(dir, 'train', 'contempt', 'x0.png'));
  });

  it('writes eval.json + confusion.svg for both baselines and baseline.json, and prints the table', async () => {
    const out = path.join(tmp, 'cli-out');
    const r = await lrdif('baseline', '--data', dir, '--format', 'folder', '--out', out, '--image-size', '32', '--epochs', '2', '--widths', '4,8', '--batch', '8', '--plain');
    expect(r.status, r.stderr).toBe(0);
    for (const f of [
      'cnn/eval.json',
      'cnn/confusion.svg',
      'cnn/best.safetensors',
      'cnn/last.safetensors',
      'cnn/metrics.jsonl',
      'faceapi/eval.json',
      'faceapi/confusion.svg',
      'baseline.json',
    ]) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    }
    const cnn = JSON.parse(fs.readFileSync(path.join(out, 'cnn/eval.json'), 'utf8'));
    const fa = JSON.parse(fs.readFileSync(path.join(out, 'faceapi/eval.json'), 'utf8'));
    const sum = JSON.parse(fs.readFileSync(path.join(out, 'baseline.json'), 'utf8'));
    const nTest = fs.readdirSync(path.join(dir, 'test')).reduce((a, c) => a + fs.readdirSync(path.join(dir, 'test', c)).length, 0);
    // the dataset's own val split is used (nothing carved), the CNN scores every test image
    expect(cnn.selection.split).toBe('val');
    expect(sum.validation).toBeNull();
    expect(cnn.n).toBe(nTest);
    expect(cnn.classes).toEqual(['neutral', 'happiness', 'surprise', 'contempt']);
    expect(cnn.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(nTest);
    // face-api: the two contempt images are excluded and counted
    expect(fa.n).toBe(nTest - 2);
    expect(fa.excluded).toEqual({ n: 2, per_class: { contempt: 2 } });
    expect(fa.classes).not.toContain('contempt');
    expect(fa.note).toMatch(/2 test image\(s\) of classes it does not know \(contempt: 2\) are excluded/);
    expect(sum.cnn.accuracy).toBe(cnn.accuracy);
    expect(sum.faceapi.accuracy).toBe(fa.accuracy);
    expect(fs.readFileSync(path.join(out, 'cnn/confusion.svg'), 'utf8')).toMatch(/^<svg [^>]*>\n<title>Baseline CNN on cli\/test: /);
    expect(r.stdout).toMatch(/baseline\s+test n\s+accuracy\s+mean per-class\s+selected on\s+wall time/);
    expect(r.stdout).toMatch(new RegExp(`face-api expression net, zero-shot\\s+${nTest - 2} \\(\\+2 excluded\\)`));
    const metrics = fs
      .readFileSync(path.join(out, 'cnn/metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.type === 'eval').map((m) => m.split)).toEqual(['val', 'val']);
    expect(metrics.filter((m) => m.type === 'test')).toHaveLength(1);
  }, 600_000);

  /** `lrdif baseline` of the CNN alone, 4 channels wide on 32-px images, into `out`. */
  const tinyCnn = (out: string, ...extra: string[]) =>
    lrdif('baseline', '--data', dir, '--format', 'folder', '--out', out, '--image-size', '32', '--widths', '4', '--which', 'cnn', ...extra);

  it("labels the paper's protocol (--select-on test) and prints JSON with --json", async () => {
    const out = path.join(tmp, 'cli-test-select');
    const r = await tinyCnn(out, '--epochs', '1', '--select-on', 'test', '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.cnn.selection.split).toBe('test');
    expect(j.cnn.selection.label).toMatch(/paper's protocol: optimistic/);
    expect(j.faceapi).toBeUndefined();
    expect(j.files).toContain(path.join(out, 'baseline.json'));
  }, 600_000);

  it('--select-on last is a refit: nothing carved out of train (despite the default --val-fraction), the last epoch kept', async () => {
    const out = path.join(tmp, 'cli-last');
    const r = await tinyCnn(out, '--epochs', '2', '--select-on', 'last', '--json');
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.cnn.selection).toMatchObject({ split: 'last', epoch: 2, label: 'last epoch (no model selection)' });
    expect(r.stderr).not.toMatch(/has no validation split/);
    const sum = JSON.parse(fs.readFileSync(path.join(out, 'baseline.json'), 'utf8'));
    expect(sum.validation).toBeNull();
    const metrics = fs
      .readFileSync(path.join(out, 'cnn/metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(metrics.filter((m) => m.type === 'eval')).toHaveLength(0);
  }, 600_000);

  it('refuses bad input with one clear line', async () => {
    const out = path.join(tmp, 'bad');
    const cases: Array<[string[], RegExp]> = [
      [['--data', path.join(tmp, 'nope'), '--format', 'folder', '--out', out], /image folder: .*nope does not exist or is not a folder/],
      [['--data', dir, '--format', 'csv', '--out', out], /--format must be one of rafdb, ferplus, kdef, folder, got 'csv'/],
      [['--data', dir, '--format', 'folder', '--out', out, '--image-size', '60'], /--image-size 60 must be a multiple of 16 \(4 CNN blocks/],
      [['--data', dir, '--format', 'folder', '--out', out, '--which', 'cnn,resnet'], /--which must be one of cnn, faceapi, got 'resnet'/],
      [['--data', dir, '--format', 'folder', '--out', out, '--widths', '8,,16'], /--widths takes a comma-separated list, got '8,,16'/],
      [['--data', dir, '--format', 'folder', '--out', out, '--tta', 'mirror'], /--tta must be one of none, flip, got 'mirror'/],
      [['--data', dir, '--format', 'folder', '--out', out, '--degrade-on-the-fly'], /--degrade-on-the-fly needs --variant udc\|lowlight/],
      [
        ['--data', path.join(dir, 'train'), '--format', 'folder', '--out', out, '--test-fraction', '0'],
        /has no test images \(give a dataset with a test split, or a --test-fraction above 0\)/,
      ],
      [
        ['--data', path.join(dir, 'test'), '--format', 'folder', '--out', out, '--test-fraction', '0.5', '--val-fraction', '0', '--select-on', 'val', '--which', 'cnn'],
        /--select-on val needs a validation split/,
      ],
    ];
    for (const [args, msg] of cases) {
      const r = await lrdif('baseline', ...args);
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(msg);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('lrdif') || l.startsWith('error')).length, r.stderr).toBeLessThanOrEqual(2);
    }
  }, 600_000);
});
