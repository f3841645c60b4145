/**
 * The trainer's parts in isolation: metrics, t-SNE, the SVG figures, checkpoints (round trip,
 * errors), the keyed random streams of the pipeline, the run folder and the embedding cache
 * (content-keyed: a changed image is recomputed, a renamed one is not).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gpu } from './helpers/gpu.js';
import { tensor, backward, tidy, add, mul, sum, type Tensor } from '../src/node.js';
import { classificationReport, formatReport, argmaxRows } from '../src/train/metrics.js';
import { tsne, tsneJointProbabilities } from '../src/train/tsne.js';
import { confusionMatrixSvg, linePlotSvg, scatterSvg } from '../src/train/svg.js';
import {
  checkpointEntries,
  readCheckpointMeta,
  readModelState,
  readOptimizerState,
  disposeOptimizerState,
  CHECKPOINT_FORMAT,
  type CheckpointMeta,
} from '../src/train/checkpoint.js';
import { augmentUniforms, imageNoise, buildEmbeddingTable, splitWithIndices, assembleBatch, LandmarkTapCache, MODEL_RESIZE, type PipelineSpec } from '../src/train/pipeline.js';
import { evaluate, evalForward } from '../src/train/evaluate.js';
import { encodersForRecord } from '../src/train/session-node.js';
import { loadFaceLandmarkFeatures } from '../src/models/faceapi/load-node.js';
import { DataLoader } from '../src/data/loader.js';
import { resolveDegradeConfig } from '../src/data/degrade/index.js';
import { applyFlipErase } from '../src/kernels/augment.js';
import { noGrad } from '../src/autograd/engine.js';
import { FrozenEncoders, MemoryEmbeddingStore, tinyRandomClip, l2NormalizeRows, parameterHash } from '../src/train/encoders.js';
import { FileEmbeddingStore, FolderRunStore } from '../src/train/store-node.js';
import { LrdifModel, makeLrdifConfig } from '../src/models/lrdif/index.js';
import { AdamW } from '../src/optim/adamw.js';
import { serializeSafetensors, SafetensorsReader } from '../src/io/safetensors.js';
import { loadClipTokenizer } from '../src/models/clip/tokenizer-node.js';
import { loadImageFolder } from '../src/data/datasets/folder.js';
import { nodeDataSource } from '../src/data/datasets/source-node.js';
import { encodePng } from '../src/io/image-node.js';
import { syntheticFace } from '../src/data/synthetic-faces.js';
import { HostRandom } from '../src/data/rng.js';
import * as degradeModule from '../src/data/degrade/index.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-train-units-'));

/** A very small LRDif at 32 px: the checkpoint tests' and the evaluation tests' model. */
const tinyTestConfig = (numClasses: number, clipDim: number) =>
  makeLrdifConfig('tiny', {
    imageSize: 32,
    window: 2,
    numClasses,
    clipDim,
    fpenHidden: 8,
    priorDim: 8,
    dim: 4,
    heads: [1, 1, 1, 1],
    dilDims: [4, 4, 8],
    dilHeads: [1, 1, 2],
    embedDim: 8,
    fusionHeads: 2,
    denoiserWidth: 8,
  });

/** Four synthetic 64-px faces (sad, happy, sad, happy) in <tmp>/train/, with a tiny random CLIP and face-api's landmark net. */
async function fourFacesAndEncoders(faceSeed: number): Promise<{ root: string; enc: FrozenEncoders }> {
  const root = tmp();
  for (let i = 0; i < 4; i++) {
    const dir = path.join(root, 'train', i % 2 ? 'happy' : 'sad');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${i}.png`), encodePng(syntheticFace(faceSeed, i, 64).image));
  }
  const clip = tinyRandomClip(0, loadClipTokenizer());
  const enc = new FrozenEncoders(
    clip,
    await loadFaceLandmarkFeatures(),
    { kind: 'random-tiny', seed: 0, hash: await parameterHash(clip.stateDict()), projectionDim: 32, imageSize: 32 },
    new MemoryEmbeddingStore(),
  );
  return { root, enc };
}

describe('metrics', () => {
  it('counts accuracy, per-class accuracy and the confusion matrix', () => {
    const r = classificationReport([0, 1, 1, 2, 2, 0], [0, 1, 2, 2, 2, 1], ['a', 'b', 'c', 'd']);
    expect(r.n).toBe(6);
    expect(r.accuracy).toBeCloseTo(4 / 6, 12);
    expect(r.perClass).toEqual([1, 0.5, 2 / 3, null]);
    expect(r.meanClassAccuracy).toBeCloseTo((1 + 0.5 + 2 / 3) / 3, 12);
    expect(r.confusion).toEqual([
      [1, 0, 0, 0],
      [1, 1, 0, 0],
      [0, 1, 2, 0],
      [0, 0, 0, 0],
    ]);
    const text = formatReport(r);
    expect(text).toContain('accuracy 66.67% on 6 images');
    expect(text).toMatch(/d\s+-\s+\(0 images\)/);
    expect(Array.from(argmaxRows([0.1, 0.7, 0.2, 0.5, 0.5, 0], 3))).toEqual([1, 0]);
  });

  it('names the bad entry', () => {
    expect(() => classificationReport([0, 3], [0, 1], ['a', 'b'])).toThrow('prediction 1 is 3, outside 0..1');
    expect(() => classificationReport([0], [0, 1], ['a', 'b'])).toThrow('1 predictions for 2 labels');
    expect(() => argmaxRows([1, 2, 3], 2)).toThrow('3 values are not rows of 2');
  });
});

describe('t-SNE', () => {
  /** Three tight Gaussian clusters in 10-d. */
  function clusters(n: number) {
    const r = new HostRandom(3, 0);
    const x = new Float64Array(3 * n * 10);
    const y: number[] = [];
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < n; i++) {
        const row = c * n + i;
        y.push(c);
        for (let k = 0; k < 10; k++) x[row * 10 + k] = (k === c ? 8 : 0) + 0.5 * r.normal();
      }
    }
    return { x, y };
  }

  it('keeps separated clusters apart (1-NN in the embedding) and is seeded', () => {
    const { x, y } = clusters(20);
    const a = tsne(x, 60, 10, { perplexity: 10, iterations: 400, seed: 1 });
    const b = tsne(x, 60, 10, { perplexity: 10, iterations: 400, seed: 1 });
    expect(Array.from(a.embedding)).toEqual(Array.from(b.embedding));
    let ok = 0;
    for (let i = 0; i < 60; i++) {
      let best = -1;
      let bd = Infinity;
      for (let j = 0; j < 60; j++) {
        if (i === j) continue;
        const d = (a.embedding[2 * i] - a.embedding[2 * j]) ** 2 + (a.embedding[2 * i + 1] - a.embedding[2 * j + 1]) ** 2;
        if (d < bd) ((bd = d), (best = j));
      }
      if (y[best] === y[i]) ok++;
    }
    expect(ok).toBe(60);
    expect(a.kl).toBeGreaterThan(0);
    expect(a.kl).toBeLessThan(1.5);
  });

  it('calibrates each row to the perplexity and symmetrises P', () => {
    const { x } = clusters(10);
    const n = 30;
    const P = tsneJointProbabilities(x, n, 10, 5);
    let total = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) total += P[i * n + j];
    expect(total).toBeCloseTo(1, 6);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(P[i * n + j]).toBeCloseTo(P[j * n + i], 15);
  });

  it('rejects bad input', () => {
    expect(() => tsne([1, 2, 3], 1, 3)).toThrow('need at least 2 points');
    expect(() => tsne([1, 2, 3], 2, 2)).toThrow('3 values are not 2 points of 2 dimensions');
    expect(() => tsne([1, NaN, 3, 4], 2, 2)).toThrow('point 0 has a non-finite coordinate');
  });
});

describe('SVG figures', () => {
  it('draws the confusion matrix, the scatter plot and the line plot', () => {
    const cm = confusionMatrixSvg(
      [
        [3, 1],
        [0, 4],
      ],
      ['happy <x>', 'sad'],
    );
    expect(cm.startsWith('<svg')).toBe(true);
    expect(cm.trim().endsWith('</svg>')).toBe(true);
    expect((cm.match(/<rect /g) ?? []).length).toBe(1 + 4); // background + one cell per entry
    expect(cm).toContain('happy &lt;x&gt;');
    expect(cm).toContain('>75%<');
    expect(() => confusionMatrixSvg([[1]], ['a', 'b'])).toThrow('not 2×2');
    const sc = scatterSvg([0, 0, 1, 1, 2, 0], [0, 1, 1], ['a', 'b']);
    expect((sc.match(/<circle /g) ?? []).length).toBe(3 + 2);
    expect(() => scatterSvg([0, 0], [0, 1], ['a', 'b'])).toThrow('2 coordinates for 2 labels');
    const lp = linePlotSvg(
      [
        {
          name: 'V3',
          points: [
            [1, 0.5],
            [2, 0.6],
            [32, 0.55],
          ],
        },
      ],
      { title: 'T', xLabel: 'T', yLabel: 'acc', logX: true, percent: true },
    );
    expect(lp).toContain('<polyline');
    expect(lp).toContain('>32<');
    expect(lp).toContain('60%');
  });
});

describe('checkpoints', () => {
  beforeAll(async () => {
    await gpu();
  });

  const cfg = tinyTestConfig(3, 6);
  const meta = (): CheckpointMeta => ({
    stage: 1,
    epoch: 3,
    step: 12,
    config: cfg,
    classNames: ['neutral', 'happiness', 'surprise'],
    rng: { seed: 5 },
    train: { settings: { seed: 5 } },
    clip: { kind: 'random-tiny', seed: 0, hash: 'abc', projectionDim: 6, imageSize: 32 },
    metrics: { best: { epoch: 2, accuracy: 0.5 } },
    version: 'test',
  });

  it('round-trips the weights, the optimiser state and the metadata', async () => {
    const model = new LrdifModel(cfg, { seed: 3 });
    const params = model.stageParameters(1).slice(0, 2);
    const opt = new AdamW(params, { lr: 1e-3 });
    const loss = tidy(() => {
      let total: Tensor | null = null;
      for (const [, p] of params) {
        const term = sum(mul(p, tensor(new Float32Array(p.size).fill(0.5), [...p.shape])));
        total = total ? add(total, term) : term;
      }
      return total!;
    });
    backward(loss);
    opt.step();
    loss.dispose();
    const { entries, metadata } = await checkpointEntries(model, opt, meta());
    const bytes = serializeSafetensors(entries, metadata);
    const reader = SafetensorsReader.fromBytes(bytes, 'mem.safetensors');
    const m = readCheckpointMeta(reader);
    expect(m.stage).toBe(1);
    expect(m.epoch).toBe(3);
    expect(m.step).toBe(12);
    expect(m.config).toEqual(cfg);
    expect(m.classNames).toEqual(['neutral', 'happiness', 'surprise']);
    expect(reader.metadata.format).toBe(CHECKPOINT_FORMAT);
    const state = readModelState(reader);
    const own = model.stateDict();
    expect([...state.keys()].sort()).toEqual([...own.keys()].sort());
    for (const [k, t] of own) expect(Array.from((await state.get(k)!.data()) as Float32Array)).toEqual(Array.from((await t.data()) as Float32Array));
    const os2 = readOptimizerState(reader)!;
    const sd = opt.stateDict();
    expect([...os2.state.keys()]).toEqual([...sd.state.keys()]);
    for (const [k, s] of sd.state) {
      expect(os2.state.get(k)!.step).toBe(1);
      for (const slot of ['exp_avg', 'exp_avg_sq'])
        expect(Array.from((await os2.state.get(k)!.tensors[slot].data()) as Float32Array)).toEqual(Array.from((await s.tensors[slot].data()) as Float32Array));
    }
    // a second model restored from the file matches
    const m2 = new LrdifModel(cfg, { seed: 99 });
    m2.loadStateDict(state);
    const w = (await m2.stateDict().get('udcformer.classifier.weight')!.data()) as Float32Array;
    expect(Array.from(w)).toEqual(Array.from((await own.get('udcformer.classifier.weight')!.data()) as Float32Array));
    for (const t of state.values()) t.dispose();
    disposeOptimizerState(os2);
    m2.dispose();
    opt.dispose();
    model.dispose();
  });

  it('rejects files that are not checkpoints, naming the file and the field', () => {
    const plain = SafetensorsReader.fromBytes(serializeSafetensors([{ name: 'x', dtype: 'F32', shape: [1], data: [1] }]), 'weights.safetensors');
    expect(() => readCheckpointMeta(plain)).toThrow('lrdif: checkpoint weights.safetensors: not an lrdif checkpoint (no __metadata__.format)');
    const md = { format: CHECKPOINT_FORMAT, stage: '3', epoch: '1', step: '1', config: JSON.stringify(cfg), classNames: '[]', rng: '{}', train: '{}', clip: '{}', metrics: '{}' };
    const bad = SafetensorsReader.fromBytes(serializeSafetensors([{ name: 'model.x', dtype: 'F32', shape: [1], data: [1] }], md), 'c.safetensors');
    expect(() => readCheckpointMeta(bad)).toThrow('checkpoint c.safetensors: __metadata__.stage must be 1 or 2, got 3');
    const badCfg = SafetensorsReader.fromBytes(
      serializeSafetensors([{ name: 'model.x', dtype: 'F32', shape: [1], data: [1] }], { ...md, stage: '1', config: JSON.stringify({ ...cfg, timesteps: 40 }) }),
      'c.safetensors',
    );
    expect(() => readCheckpointMeta(badCfg)).toThrow('checkpoint c.safetensors: LrdifConfig.timesteps: must be in 1…32, got 40');
    const badJson = SafetensorsReader.fromBytes(
      serializeSafetensors([{ name: 'model.x', dtype: 'F32', shape: [1], data: [1] }], { ...md, stage: '1', classNames: '[oops' }),
      'c.safetensors',
    );
    expect(() => readCheckpointMeta(badJson)).toThrow('__metadata__.classNames is not valid JSON');
  });
});

describe('pipeline random streams', () => {
  it('draws augmentation uniforms and noise per (seed, epoch, image), in [0, 1) and independent of the batch', () => {
    const a = augmentUniforms(7, 2, [5, 9, 11]);
    const b = augmentUniforms(7, 2, [11, 5]);
    expect(a.length).toBe(3 * 44);
    expect(Array.from(a.subarray(0, 44))).toEqual(Array.from(b.subarray(44, 88)));
    expect(Array.from(a.subarray(88, 132))).toEqual(Array.from(b.subarray(0, 44)));
    expect(Array.from(augmentUniforms(7, 3, [5]))).not.toEqual(Array.from(a.subarray(0, 44)));
    expect(Array.from(augmentUniforms(8, 2, [5]))).not.toEqual(Array.from(a.subarray(0, 44)));
    expect(Math.max(...a)).toBeLessThan(1);
    expect(Math.min(...a)).toBeGreaterThanOrEqual(0);
    const n1 = imageNoise(1, 0, [3, 4], 16);
    const n2 = imageNoise(1, 0, [4], 16);
    expect(Array.from(n1.subarray(16))).toEqual(Array.from(n2));
    let m = 0;
    let v = 0;
    const big = imageNoise(
      2,
      0,
      Array.from({ length: 200 }, (_, i) => i),
      32,
    );
    for (const x of big) ((m += x), (v += x * x));
    m /= big.length;
    v = v / big.length - m * m;
    expect(Math.abs(m)).toBeLessThan(0.05);
    expect(Math.abs(v - 1)).toBeLessThan(0.06);
  });

  it('normalises rows to unit length', () => {
    const v = l2NormalizeRows(Float32Array.from([3, 4, 0, 0]), 2);
    expect(Array.from(v)).toEqual([0.6000000238418579, 0.800000011920929, 0, 0]);
  });
});

describe('run folder and embedding cache', () => {
  it('appends metrics and drops a line torn by a crash', () => {
    const dir = tmp();
    const s = new FolderRunStore(dir);
    s.rewriteMetrics(['{"a":1}']);
    s.appendMetrics('{"b":2}');
    fs.appendFileSync(s.metricsPath, '{"c":');
    expect(s.readMetrics()).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('stores, merges and reloads embeddings; ignores an unreadable cache file', () => {
    const dir = tmp();
    const a = new FileEmbeddingStore(dir, 'f'.repeat(64), 2);
    a.set('k1', Float32Array.from([1, 2]));
    const b = new FileEmbeddingStore(dir, 'f'.repeat(64), 2);
    b.set('k2', Float32Array.from([3, 4]));
    a.flush();
    b.flush(); // merges a's row
    const c = new FileEmbeddingStore(dir, 'f'.repeat(64), 2);
    expect(c.size).toBe(2);
    expect(Array.from(c.get('k1')!)).toEqual([1, 2]);
    expect(Array.from(c.get('k2')!)).toEqual([3, 4]);
    expect(() => c.set('k3', Float32Array.from([1]))).toThrow('a row of 1 values for width 2');
    fs.writeFileSync(c.file, 'not a safetensors file');
    const messages: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((m: string) => (messages.push(String(m)), true)) as typeof process.stderr.write;
    try {
      const d = new FileEmbeddingStore(dir, 'f'.repeat(64), 2);
      expect(d.size).toBe(0);
    } finally {
      process.stderr.write = orig;
    }
    expect(messages.join('')).toContain('ignoring the unreadable embedding cache');
  });

  it('keys CLIP embeddings by content: a renamed image is a cache hit, a changed one is recomputed', async () => {
    await gpu();
    const root = tmp();
    const write = (rel: string, seed: number, i: number) => {
      fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
      fs.writeFileSync(path.join(root, rel), encodePng(syntheticFace(seed, i, 40).image));
    };
    write('train/happy/a.png', 1, 1);
    write('train/sad/b.png', 1, 3);
    write('test/happy/c.png', 1, 8);
    const clip = tinyRandomClip(0, loadClipTokenizer());
    const noLandmarks = {
      landmarkFeatureTaps: (): never => {
        throw new Error('not used');
      },
      dispose() {},
    };
    const enc = new FrozenEncoders(
      clip,
      noLandmarks,
      { kind: 'random-tiny', seed: 0, hash: await parameterHash(clip.stateDict()), projectionDim: 32, imageSize: 32 },
      new MemoryEmbeddingStore(),
    );
    const spec: PipelineSpec = { imageSize: 32, resize: MODEL_RESIZE, degrade: null, augment: null, seed: 0 };
    const load = () => loadImageFolder(root, nodeDataSource(), { warn: () => {} });
    const r1 = await buildEmbeddingTable(enc, splitWithIndices(await load(), 'train'), spec);
    expect([r1.cached, r1.computed]).toEqual([0, 2]);
    const r2 = await buildEmbeddingTable(enc, splitWithIndices(await load(), 'train'), spec);
    expect([r2.cached, r2.computed]).toEqual([2, 0]);
    expect(Array.from(r2.table.rows)).toEqual(Array.from(r1.table.rows));
    // unit rows
    let s = 0;
    for (let k = 0; k < 32; k++) s += r1.table.rows[k] ** 2;
    expect(s).toBeCloseTo(1, 5);
    fs.renameSync(path.join(root, 'train/sad/b.png'), path.join(root, 'train/sad/renamed.png'));
    write('train/happy/a.png', 1, 2); // new content under the old name
    const r3 = await buildEmbeddingTable(enc, splitWithIndices(await load(), 'train'), spec);
    expect([r3.cached, r3.computed]).toEqual([1, 1]);
    // a corrupt image is skipped (recorded), not embedded
    fs.writeFileSync(path.join(root, 'train/sad/broken.png'), 'not a png');
    const ds = await load();
    const r4 = await buildEmbeddingTable(enc, splitWithIndices(ds, 'train'), spec);
    expect(r4.skipped).toBe(1);
    expect(ds.skipped.map((x) => path.basename(x.path))).toEqual(['broken.png']);
    const g = ds.items.findIndex((it) => it.id.endsWith('broken.png'));
    expect(() => r4.table.gather([g], (k) => ds.items[k].id)).toThrow(/no image embedding for item .*broken\.png/);
    // the split as a run now takes it: without the unreadable image, every row found by its dataset index
    const usable = splitWithIndices(ds, 'train');
    expect(usable.length).toBe(ds.split('train').length - 1);
    expect(usable.dataset.items.some((it) => it.id.endsWith('broken.png'))).toBe(false);
    expect(usable.globalIndex).not.toContain(g);
    const rows = r4.table.gather(usable.globalIndex);
    expect(rows.shape).toEqual([usable.length, 32]);
    rows.dispose();
    enc.dispose();
  });

  it('degrades on the fly per image (cache keys follow the degradation), and assembles batches the same way every time', async () => {
    await gpu();
    const { root, enc } = await fourFacesAndEncoders(2);
    const ds = await loadImageFolder(root, nodeDataSource(), { warn: () => {} });
    const split = splitWithIndices(ds, 'train');
    const clean: PipelineSpec = { imageSize: 32, resize: MODEL_RESIZE, degrade: null, augment: { flipP: 0.5, eraseP: 1 }, seed: 4 };
    const udc = (seed: number): PipelineSpec => ({ ...clean, degrade: { kind: 'udc', config: resolveDegradeConfig('udc', {}), seed } });
    const t0 = await buildEmbeddingTable(enc, split, clean);
    const t1 = await buildEmbeddingTable(enc, split, udc(1));
    const t1b = await buildEmbeddingTable(enc, split, udc(1));
    const t2 = await buildEmbeddingTable(enc, split, udc(2));
    expect([t1.computed, t1b.cached, t2.computed]).toEqual([4, 4, 4]);
    expect(Array.from(t1.table.rows)).not.toEqual(Array.from(t0.table.rows));
    expect(Array.from(t1b.table.rows)).toEqual(Array.from(t1.table.rows));
    expect(Array.from(t2.table.rows)).not.toEqual(Array.from(t1.table.rows));

    const loader = new DataLoader(split.dataset, { batchSize: 4, size: 32, shuffle: false, augment: false, resize: MODEL_RESIZE });
    const cache = new LandmarkTapCache();
    const grab = async (epoch: number | null) => {
      const out: Float32Array[] = [];
      for await (const b of loader.epoch(0)) {
        const mb = await assembleBatch(b, split, udc(1), enc, t1.table, epoch, cache);
        out.push(new Float32Array((await mb.x112.data()) as Float32Array), new Float32Array((await mb.taps[2].data()) as Float32Array));
        expect(mb.taps.map((t) => t.shape)).toEqual([
          [4, 64, 8, 8],
          [4, 128, 4, 4],
          [4, 256, 2, 2],
        ]);
        mb.dispose();
        b.dispose();
      }
      return out;
    };
    const a = await grab(3);
    const hitsBefore = cache.hits;
    const b2 = await grab(3);
    expect(cache.hits - hitsBefore).toBe(4); // the second pass reads every image's taps from the cache
    expect(Array.from(b2[0])).toEqual(Array.from(a[0]));
    expect(Array.from(b2[1])).toEqual(Array.from(a[1]));
    const other = await grab(4);
    expect(Array.from(other[0])).not.toEqual(Array.from(a[0]));
    // the cached taps are those of the degraded, flipped (not erased) image
    const u = augmentUniforms(4, 3, split.globalIndex);
    const flips = split.globalIndex.map((_, i) => Math.fround(u[i * 44]) < 0.5);
    expect(flips.some(Boolean)).toBe(true);
    for await (const b of loader.epoch(0)) {
      const direct = noGrad(() =>
        tidy(() => {
          const { degradeBatch, imageSeed } = degradeModule;
          const x = degradeBatch(
            b.images,
            'udc',
            resolveDegradeConfig('udc', {}),
            split.globalIndex.map((g) => imageSeed(1, g)),
          ).images;
          const f = applyFlipErase(x, tensor(Int32Array.from(flips.flatMap((v) => [v ? 1 : 0, 0, 0, 0, 0])), [4, 5], 'i32'));
          return enc.taps(f)[2];
        }),
      );
      const d = (await direct.data()) as Float32Array;
      direct.dispose();
      b.dispose();
      let worst = 0;
      for (let i = 0; i < d.length; i++) worst = Math.max(worst, Math.abs(d[i] - a[1][i]));
      expect(worst).toBe(0);
    }
    enc.dispose();
  });

  it("test-time augmentation: the mirrored view is every image flipped (host reference) with its own taps and the same e_img; evaluate averages the two views' probabilities", async () => {
    await gpu();
    const { root, enc } = await fourFacesAndEncoders(3);
    const split = splitWithIndices(await loadImageFolder(root, nodeDataSource(), { warn: () => {} }), 'train');
    const spec: PipelineSpec = {
      imageSize: 32,
      resize: MODEL_RESIZE,
      degrade: { kind: 'udc', config: resolveDegradeConfig('udc', {}), seed: 1 },
      augment: { flipP: 0.5, eraseP: 1 },
      seed: 4,
    };
    const { table } = await buildEmbeddingTable(enc, split, spec);
    const loader = new DataLoader(split.dataset, { batchSize: 4, size: 32, shuffle: false, augment: false, resize: MODEL_RESIZE });
    const cache = new LandmarkTapCache();
    const model = new LrdifModel(tinyTestConfig(2, 32), { seed: 7 });
    model.eval();
    const textTable = tensor(new Float32Array(2 * 32), [2, 32]);
    const mirrorProbs: number[] = [];
    const S = 32;
    const hostFlip = (d: Float32Array) => d.map((_, i) => d[i - (i % S) + (S - 1 - (i % S))]);
    for await (const b of loader.epoch(0)) {
      await expect(assembleBatch(b, split, spec, enc, table, 0, cache, true)).rejects.toThrow(/the mirrored view is for evaluation/);
      const plain = await assembleBatch(b, split, spec, enc, table, null, cache);
      const mirrored = await assembleBatch(b, split, spec, enc, table, null, cache, true);
      expect(Array.from((await mirrored.x112.data()) as Float32Array)).toEqual(Array.from(hostFlip((await plain.x112.data()) as Float32Array)));
      expect(Array.from((await mirrored.eImg.data()) as Float32Array)).toEqual(Array.from((await plain.eImg.data()) as Float32Array));
      const degraded = noGrad(() =>
        degradeModule.degradeBatch(
          b.images,
          'udc',
          resolveDegradeConfig('udc', {}),
          split.globalIndex.map((g) => degradeModule.imageSeed(1, g)),
        ),
      ).images;
      const flippedOnHost = tensor(hostFlip((await degraded.data()) as Float32Array), degraded.shape);
      const direct = noGrad(() => tidy(() => enc.taps(flippedOnHost)[2]));
      for (const t of [degraded, flippedOnHost]) t.dispose();
      const d = (await direct.data()) as Float32Array;
      const m = (await mirrored.taps[2].data()) as Float32Array;
      let worst = 0;
      for (let i = 0; i < d.length; i++) worst = Math.max(worst, Math.abs(d[i] - m[i]));
      expect(worst).toBeLessThan(1e-5);
      const { logits, features } = evalForward(model, 2, mirrored, textTable, spec);
      const l = (await logits.data()) as Float32Array;
      for (let r = 0; r < 4; r++) {
        const row = Array.from(l.subarray(2 * r, 2 * r + 2));
        const mx = Math.max(...row);
        const z = row.reduce((a, v) => a + Math.exp(v - mx), 0);
        mirrorProbs.push(...row.map((v) => Math.exp(v - mx) / z));
      }
      for (const t of [direct, logits, features]) t.dispose();
      plain.dispose();
      mirrored.dispose();
      b.dispose();
    }
    const none = await evaluate(model, 2, split, table, enc, spec, textTable, { batchSize: 4, tapCache: cache });
    const flip = await evaluate(model, 2, split, table, enc, spec, textTable, { batchSize: 2, tapCache: cache, tta: 'flip' });
    let fromNone = 0;
    flip.probabilities.forEach((p, i) => {
      expect(p).toBeCloseTo((none.probabilities[i] + mirrorProbs[i]) / 2, 6);
      fromNone = Math.max(fromNone, Math.abs(p - none.probabilities[i]));
    });
    expect(fromNone).toBeGreaterThan(1e-4); // the mirror image's view changed something
    const nll = Array.from(flip.labels).reduce((a, y, r) => a - Math.log(flip.probabilities[2 * r + y]), 0) / 4;
    expect(flip.loss).toBeCloseTo(nll, 5);
    await expect(evaluate(model, 2, split, table, enc, spec, textTable, { tta: 'mirror' as 'flip' })).rejects.toThrow(/tta must be one of none, flip, got 'mirror'/);
    textTable.dispose();
    model.dispose();
    enc.dispose();
  });

  it("refuses CLIP weights other than the checkpoint's", async () => {
    await expect(encodersForRecord({ kind: 'random-tiny', seed: 0, hash: 'deadbeef'.repeat(8), projectionDim: 32, imageSize: 32 }, null, null, () => {})).rejects.toThrow(
      /the CLIP weights rebuilt from seed 0 on this GPU \(hash [0-9a-f]{12}…\) are not the ones the checkpoint was trained with \(hash deadbeefdead…\); pass the right ones with --clip/,
    );
  });
});
