/**
 * Training in the page: the tiny LRDif / LLDif config on procedural faces generated here
 * (src/data/synthetic-faces.ts), through the library's trainer (src/train/trainer.ts) exactly as
 * `lrdif train` runs it in Node — stage 1, then stage 2 initialised from stage 1's best
 * checkpoint — with checkpoints kept in memory for download.
 *
 * The frozen CLIP is the tiny random CLIP (width 32, P = 32). Its random draws are made on this
 * page's GPU, which need not match another GPU's to the last bit, so the checkpoints record it
 * as a file — the `model.safetensors` the page offers beside them (with its config.json) — by
 * that file's SHA-256: Node (or this page) loads the checkpoint with exactly that CLIP.
 */
import { engine } from '../../src/autograd/engine.js';
import { serializeSafetensors, SafetensorsReader, type SafetensorsEntry } from '../../src/io/safetensors.js';
import { ImageDataset, type DataSource, type DatasetItem } from '../../src/data/datasets/types.js';
import { SYNTHETIC_CLASSES, syntheticFace, syntheticSplits } from '../../src/data/synthetic-faces.js';
import { resolveDegradeConfig, type DegradationKind } from '../../src/data/degrade/index.js';
import type { RgbImage } from '../../src/io/image.js';
import { LrdifModel } from '../../src/models/lrdif/lrdif.js';
import { makeLrdifConfig, type LrdifConfig } from '../../src/models/lrdif/config.js';
import { FrozenEncoders, tinyRandomClip, sha256Hex, type ClipRecord } from '../../src/train/encoders.js';
import { buildEmbeddingTable, splitWithIndices, LandmarkTapCache, MODEL_RESIZE, type PipelineSpec } from '../../src/train/pipeline.js';
import { epochEval, trainStage, type EpochInfo, type RunStore, type StepInfo, type TrainSettings } from '../../src/train/trainer.js';
import { readModelState } from '../../src/train/checkpoint.js';
import type { ClipModel } from '../../src/models/clip/model.js';
import { clipToFiles } from './clip-file.js';
import { loadLandmarkFeatures, loadTokenizer } from './assets.js';
import { PageError } from './errors.js';

export interface PageTrainOptions {
  /** Synthetic faces to generate (class i mod 7). */
  images: number;
  /** Fraction of each class held out for testing. */
  testFraction: number;
  /** Seed of the faces and their split. */
  dataSeed: number;
  /** Seed of the tiny random CLIP. */
  clipSeed: number;
  /** On-the-fly degradation (also the model's variant: 'lowlight' trains LLDif). */
  degrade: DegradationKind | 'none';
  stage1Epochs: number;
  stage2Epochs: number;
  batch: number;
  lr: number;
  /** Seed of the model, order, augmentation and noise. */
  seed: number;
  /** Random flips and erasing. */
  augment: boolean;
}

export const DEFAULT_TRAIN_OPTIONS: PageTrainOptions = {
  images: 140,
  testFraction: 0.25,
  dataSeed: 1,
  clipSeed: 0,
  degrade: 'udc',
  stage1Epochs: 4,
  stage2Epochs: 2,
  batch: 16,
  lr: 1e-3,
  seed: 0,
  augment: true,
};

export function checkTrainOptions(o: PageTrainOptions): PageTrainOptions {
  const int = (name: string, v: number, min: number, max: number) => {
    if (!Number.isInteger(v) || v < min || v > max) throw new PageError(`${name} must be a whole number from ${min} to ${max}, got ${Number.isNaN(v) ? 'nothing' : v}`);
  };
  int('Images', o.images, 14, 5000);
  int('Stage-1 epochs', o.stage1Epochs, 1, 1000);
  int('Stage-2 epochs', o.stage2Epochs, 0, 1000);
  int('Batch size', o.batch, 1, 256);
  int('Data seed', o.dataSeed, 0, 2 ** 31);
  int('CLIP seed', o.clipSeed, 0, 2 ** 31);
  int('Seed', o.seed, 0, 2 ** 31);
  if (!(o.testFraction > 0 && o.testFraction < 1)) throw new PageError(`Test fraction must be between 0 and 1 (exclusive), got ${o.testFraction}`);
  if (!(o.lr > 0 && o.lr < 1)) throw new PageError(`Learning rate must be between 0 and 1, got ${o.lr}`);
  const perClass = Math.floor(o.images / SYNTHETIC_CLASSES.length);
  if (Math.round(perClass * o.testFraction) < 1 || Math.round(perClass * o.testFraction) >= perClass) {
    throw new PageError(
      `With ${o.images} images (${perClass} per class) a test fraction of ${o.testFraction} leaves no test or no training image in a class; use more images or another fraction`,
    );
  }
  return o;
}

/** A data source for in-memory pixels only (the synthetic faces never touch files). */
const NO_FILES: DataSource = {
  readText: () => Promise.reject(new Error('the page dataset has no files')),
  readBytes: () => Promise.reject(new Error('the page dataset has no files')),
  lines: () => {
    throw new Error('the page dataset has no files');
  },
  listDir: () => Promise.reject(new Error('the page dataset has no files')),
  isDirectory: () => Promise.resolve(false),
  decodeImage: () => {
    throw new Error('the page dataset has no files');
  },
};

/** The synthetic dataset of n faces (112×112) with its seeded train/test split. */
export function syntheticDataset(n: number, seed: number, testFraction: number): ImageDataset {
  const splits = syntheticSplits(n, seed, testFraction);
  const items: DatasetItem[] = [];
  for (let i = 0; i < n; i++) {
    const { image } = syntheticFace(seed, i, 112);
    items.push({
      id: `face-${i}`,
      label: i % SYNTHETIC_CLASSES.length,
      split: splits[i],
      source: { kind: 'pixels', width: image.width, height: image.height, channels: 3, data: image.data },
    });
  }
  return new ImageDataset('synthetic', SYNTHETIC_CLASSES, items, NO_FILES);
}

/** A RunStore in memory: checkpoints as safetensors bytes, metrics as lines. */
export class MemoryRunStore implements RunStore {
  readonly checkpoints = new Map<'last' | 'best', Uint8Array<ArrayBuffer>>();
  lines: string[] = [];

  constructor(readonly prefix: string) {}

  writeCheckpoint(which: 'last' | 'best', entries: SafetensorsEntry[], metadata: Record<string, string>): void {
    this.checkpoints.set(which, serializeSafetensors(entries, metadata));
  }

  checkpointPath(which: 'last' | 'best'): string {
    return `${this.prefix}-${which}.safetensors`;
  }

  readMetrics(): string[] {
    return [...this.lines];
  }

  rewriteMetrics(lines: string[]): void {
    this.lines = [...lines];
  }

  appendMetrics(line: string): void {
    this.lines.push(line);
  }
}

export interface TrainHooks {
  phase(text: string): void;
  /** The generated faces (for a preview). */
  dataset?(ds: ImageDataset): void;
  step?(stage: 1 | 2, s: StepInfo): void;
  epoch?(stage: 1 | 2, e: EpochInfo): void;
  /** Checked at every step; true stops the run (TrainingStopped). */
  stopRequested?(): boolean;
}

export class TrainingStopped extends Error {
  constructor() {
    super('training stopped');
    this.name = 'TrainingStopped';
  }
}

export interface StageOutcome {
  store: MemoryRunStore;
  best: { epoch: number; accuracy: number };
  epochs: EpochInfo[];
  /** Stopped by the user (the checkpoints are those of the epochs that finished). */
  stopped: boolean;
}

export interface PageTrainResult {
  config: LrdifConfig;
  clip: { record: ClipRecord; weights: Uint8Array<ArrayBuffer>; config: string; folder: string };
  stage1: StageOutcome;
  stage2: StageOutcome | null;
  seconds: number;
  stopped: boolean;
  /** The trained CLIP, kept for the inference tab (the caller disposes it). */
  clipModel: ClipModel;
}

/** Runs stage 1 and (if asked) stage 2. */
export async function trainInPage(o: PageTrainOptions, hooks: TrainHooks): Promise<PageTrainResult> {
  checkTrainOptions(o);
  const t0 = performance.now();
  hooks.phase(`generating ${o.images} synthetic faces`);
  const ds = syntheticDataset(o.images, o.dataSeed, o.testFraction);
  hooks.dataset?.(ds);
  const train = splitWithIndices(ds, 'train');
  const test = splitWithIndices(ds, 'test');

  hooks.phase('loading the frozen encoders (tiny random CLIP, face-api landmark extractor)');
  const tokenizer = await loadTokenizer();
  const clip = tinyRandomClip(o.clipSeed, tokenizer);
  let enc: FrozenEncoders | null = null;
  const models: LrdifModel[] = [];
  try {
    const files = await clipToFiles(clip);
    const folder = `lrdif-tiny-clip-seed${o.clipSeed}`;
    const record: ClipRecord = {
      kind: 'file',
      path: `${folder}/model.safetensors`,
      hash: await sha256Hex(files.weights),
      projectionDim: clip.config.projectionDim,
      imageSize: clip.config.vision.imageSize,
    };
    enc = new FrozenEncoders(clip, await loadLandmarkFeatures(), record);
    const variant = o.degrade === 'lowlight' ? 'lowlight' : 'udc';
    const config = makeLrdifConfig('tiny', { numClasses: SYNTHETIC_CLASSES.length, clipDim: enc.projectionDim, variant });
    const spec: PipelineSpec = {
      imageSize: config.imageSize,
      resize: MODEL_RESIZE,
      degrade: o.degrade === 'none' ? null : { kind: o.degrade, config: resolveDegradeConfig(o.degrade, {}), seed: o.dataSeed },
      augment: o.augment ? {} : null,
      seed: o.seed,
    };
    hooks.phase(`CLIP image embeddings of ${ds.length} faces${spec.degrade ? ` (${spec.degrade.kind} degraded)` : ''}`);
    const trainTable = (await buildEmbeddingTable(enc, train, spec)).table;
    const testTable = (await buildEmbeddingTable(enc, test, spec)).table;
    const textTable = await enc.textEmbeddings(SYNTHETIC_CLASSES);
    const caches = { train: new LandmarkTapCache(256 * 2 ** 20), test: new LandmarkTapCache(256 * 2 ** 20) };
    const recordTrain = {
      data: 'synthetic faces generated in the page',
      format: 'synthetic',
      synthetic: { images: o.images, seed: o.dataSeed, testFraction: o.testFraction, size: 112 },
      selectOn: 'test',
      degradeOnTheFly: spec.degrade !== null,
      degrade: spec.degrade,
      augment: o.augment,
    };
    // the page's few faces have no room for a validation split: the best epoch is chosen on the
    // test split, the paper's protocol, and the page says so next to the figures
    const settings = (stage: 1 | 2, epochs: number): TrainSettings => ({
      stage,
      epochs,
      batch: o.batch,
      evalBatch: 32,
      lr: o.lr,
      weightDecay: 1e-4,
      schedule: 'cosine',
      warmup: 0,
      gradClip: 0,
      seed: o.seed,
      deterministic: false,
      selectOn: 'test',
    });
    const runStage = async (stage: 1 | 2, model: LrdifModel, epochs: number): Promise<StageOutcome> => {
      const store = new MemoryRunStore(`${variant === 'lowlight' ? 'lldif' : 'lrdif'}-tiny-stage${stage}`);
      const seen: EpochInfo[] = [];
      const best = () =>
        seen.reduce(
          (b, e) => {
            const accuracy = epochEval(e).report.accuracy;
            return accuracy > b.accuracy ? { epoch: e.epoch, accuracy } : b;
          },
          { epoch: 0, accuracy: -1 },
        );
      try {
        await trainStage({
          model,
          encoders: enc!,
          train,
          trainTable,
          selection: { split: test, table: testTable },
          finalTest: null,
          textTable,
          classNames: SYNTHETIC_CLASSES,
          spec,
          settings: settings(stage, epochs),
          store,
          record: { clip: record, version: __LRDIF_VERSION__, train: { ...recordTrain, from: stage === 2 ? 'stage 1 best (in the page)' : null } },
          tapCaches: { train: caches.train, selection: caches.test },
          hooks: {
            onEpochStart: (e, n) => hooks.phase(`stage ${stage}: epoch ${e} of ${n}`),
            onStep: (s) => {
              hooks.step?.(stage, s);
              if (hooks.stopRequested?.()) throw new TrainingStopped();
            },
            onEvalBatch: (done, total) => hooks.phase(`stage ${stage}: evaluating ${done}/${total} test faces`),
            onEpochEnd: (e) => {
              seen.push(e);
              hooks.epoch?.(stage, e);
            },
          },
        });
      } catch (e) {
        if (e instanceof TrainingStopped) return { store, best: best(), epochs: seen, stopped: true };
        throw e;
      }
      return { store, best: best(), epochs: seen, stopped: false };
    };

    const m1 = new LrdifModel(config, { seed: o.seed });
    models.push(m1);
    const stage1 = await runStage(1, m1, o.stage1Epochs);
    let stage2: StageOutcome | null = null;
    if (stage1.stopped && !stage1.store.checkpoints.has('best')) throw new TrainingStopped();
    if (o.stage2Epochs > 0 && !stage1.stopped) {
      const m2 = new LrdifModel(config, { seed: o.seed });
      models.push(m2);
      const state = readModelState(SafetensorsReader.fromBytes(stage1.store.checkpoints.get('best')!, stage1.store.checkpointPath('best')));
      try {
        m2.loadStage1State(state);
      } finally {
        for (const t of state.values()) t.dispose();
      }
      stage2 = await runStage(2, m2, o.stage2Epochs);
    }
    hooks.phase('done');
    return {
      config,
      clip: { record, weights: files.weights, config: files.config, folder },
      stage1,
      stage2,
      seconds: (performance.now() - t0) / 1000,
      stopped: stage1.stopped || (stage2?.stopped ?? false),
      clipModel: clip,
    };
  } catch (e) {
    clip.dispose();
    throw e;
  } finally {
    for (const m of models) m.dispose();
    // the landmark extractor is the encoders' own; the CLIP goes to the caller
    enc?.landmarks.dispose();
    engine.clearTape();
  }
}

/** Thumbnails of the first faces of each class (for the preview). */
export function previewFaces(ds: ImageDataset, perClass: number): Array<{ image: RgbImage; label: string; split: string }> {
  const out: Array<{ image: RgbImage; label: string; split: string }> = [];
  for (let c = 0; c < ds.classNames.length; c++) {
    let k = 0;
    for (const it of ds.items) {
      if (it.label !== c || k >= perClass) continue;
      const s = it.source as Extract<DatasetItem['source'], { kind: 'pixels' }>;
      out.push({ image: { width: s.width, height: s.height, data: s.data }, label: ds.classNames[c], split: it.split });
      k++;
    }
  }
  return out;
}
