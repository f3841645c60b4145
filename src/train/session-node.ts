/**
 * What train, eval, predict, demo and sweep share (Node): the frozen encoders (CLIP from a
 * folder or file, or the tiny random CLIP; face-api's landmark extractor), the embedding cache,
 * the dataset and its splits, and the memoised embedding tables.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeSafetensorsFile } from '../io/safetensors-node.js';
import type { ClipModel } from '../models/clip/model.js';
import { loadClip, resolveClipFiles } from '../models/clip/load-node.js';
import { loadClipTokenizer } from '../models/clip/tokenizer-node.js';
import { loadFaceExpressionNet, loadFaceLandmarkFeatures } from '../models/faceapi/load-node.js';
import { carveValidation, loadDataset, type DatasetKind, DATASET_KINDS } from '../data/datasets/index.js';
import { nodeDataSource } from '../data/datasets/source-node.js';
import type { ImageDataset, Split } from '../data/datasets/types.js';
import {
  FaceExpressionEmbedder,
  FrozenEncoders,
  MemoryEmbeddingStore,
  clipToHuggingFace,
  parameterHash,
  tinyRandomClip,
  type ClipRecord,
  type EmbeddingStore,
  type ImageEmbedderLoader,
} from './encoders.js';
import { buildEmbeddingTable, splitWithIndices, LandmarkTapCache, type EmbeddingTable, type EmbedProgress, type IndexedSplit, type PipelineSpec } from './pipeline.js';
import { FileEmbeddingStore, fileHash, writeFileAtomic } from './store-node.js';

export interface ClipChoice {
  /** A CLIP folder or .safetensors file; null: the tiny random CLIP. */
  path: string | null;
  /** Seed of the tiny random CLIP. */
  seed: number;
}

export type Log = (message: string) => void;

/** Loads or builds the CLIP of a choice and its record (hash: file SHA-256, or parameter hash for the tiny random one). */
async function buildClip(choice: ClipChoice, cacheDir: string | null, log: Log): Promise<{ clip: ClipModel; record: ClipRecord }> {
  if (choice.path) {
    const files = resolveClipFiles(choice.path);
    const clip = await loadClip(choice.path);
    const hash = fileHash(files.weights, cacheDir);
    log(`CLIP: ${files.weights} (P = ${clip.config.projectionDim}, ${clip.config.vision.imageSize}×${clip.config.vision.imageSize} input, sha256 ${hash.slice(0, 12)}…)`);
    return { clip, record: { kind: 'file', path: path.resolve(choice.path), hash, projectionDim: clip.config.projectionDim, imageSize: clip.config.vision.imageSize } };
  }
  const clip = tinyRandomClip(choice.seed, loadClipTokenizer());
  const hash = await parameterHash(clip.stateDict());
  log(`CLIP: the tiny random CLIP (seed ${choice.seed}: width 32, 2 layers, 32×32 input, P = 32; give --clip <dir> for a real one)`);
  return { clip, record: { kind: 'random-tiny', seed: choice.seed, hash, projectionDim: clip.config.projectionDim, imageSize: clip.config.vision.imageSize } };
}

/**
 * The loader of the image encoders other than CLIP: face-api's expression net from the installed
 * package, its cache (`faceapi-expression-<hash>.safetensors` beside CLIP's) keyed by the hash of
 * its parameters.
 */
function imageEmbedderLoader(cacheDir: string | null, log: Log): ImageEmbedderLoader {
  return async (kind) => {
    if (kind !== 'faceapi-expression') throw new Error(`lrdif: unknown image encoder ${JSON.stringify(kind)}`);
    const net = await loadFaceExpressionNet();
    const hash = await parameterHash(net.stateDict());
    const e = new FaceExpressionEmbedder(net, hash, cacheDir ? new FileEmbeddingStore(cacheDir, hash, 256, kind) : new MemoryEmbeddingStore());
    log(`image encoder: face-api's FaceExpressionNet (pooled 256-d features, parameters sha256 ${hash.slice(0, 12)}…)`);
    return e;
  };
}

async function withLandmarks(clip: ClipModel, record: ClipRecord, cacheDir: string | null, log: Log): Promise<FrozenEncoders> {
  let landmarks;
  try {
    landmarks = await loadFaceLandmarkFeatures();
  } catch (e) {
    clip.dispose();
    throw e;
  }
  let store: EmbeddingStore;
  if (cacheDir) {
    const fs = new FileEmbeddingStore(cacheDir, record.hash, clip.config.projectionDim);
    log(`embedding cache: ${fs.file} (${fs.size} entries)`);
    store = fs;
  } else store = new MemoryEmbeddingStore();
  return new FrozenEncoders(clip, landmarks, record, store, imageEmbedderLoader(cacheDir, log));
}

/** Builds the frozen encoders (and opens the cache keyed by the CLIP hash). */
export async function openEncoders(choice: ClipChoice, cacheDir: string | null, log: Log): Promise<FrozenEncoders> {
  const { clip, record } = await buildClip(choice, cacheDir, log);
  return withLandmarks(clip, record, cacheDir, log);
}

/**
 * Saves the tiny random CLIP as a Hugging Face folder (model.safetensors + config.json) so that
 * eval and predict load exactly these weights on any GPU; returns the record with the path.
 */
export async function saveTinyClip(enc: FrozenEncoders, dir: string): Promise<ClipRecord> {
  const r = enc.clipRecord;
  if (r.kind !== 'random-tiny') return r;
  const { entries, config } = await clipToHuggingFace(enc.clip);
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensorsFile(path.join(dir, 'model.safetensors'), entries, { format: 'pt' });
  writeFileAtomic(path.join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  return { ...r, path: path.resolve(dir) };
}

/**
 * The encoders a checkpoint was trained with: its recorded CLIP (or `override`), checked by
 * hash. The tiny random CLIP is rebuilt from its seed, or read from its saved copy when this GPU
 * draws it differently.
 *
 * `clipUnused`: the caller runs no CLIP (stage-2 inference of a config whose E_I is not CLIP:
 * stage 2 reads no text embedding). Then a CLIP that cannot be had exactly (a tiny random one
 * drawn differently on this GPU without its saved copy, a CLIP file not on this machine) is no
 * error: the tiny random CLIP stands in, with a note.
 */
export async function encodersForRecord(
  record: ClipRecord,
  override: string | null,
  cacheDir: string | null,
  log: Log,
  opts: { clipUnused?: boolean } = {},
): Promise<FrozenEncoders> {
  if (opts.clipUnused && !override) {
    const exact = record.kind === 'random-tiny' || fs.existsSync(record.path);
    if (exact) {
      try {
        return await encodersForRecord(record, null, cacheDir, log);
      } catch (e) {
        log(`CLIP: not the one recorded (${(e as Error).message.replace(/^lrdif: /, '')}); this model's inference runs no CLIP, so the tiny random one stands in`);
      }
    } else log(`CLIP: ${record.path} is not on this machine; this model's inference runs no CLIP, so the tiny random one stands in`);
    const stand = await buildClip({ path: null, seed: record.kind === 'random-tiny' ? record.seed : 0 }, cacheDir, log);
    return withLandmarks(stand.clip, stand.record, cacheDir, log);
  }
  const mismatch = (where: string, got: string) =>
    new Error(
      `lrdif: the CLIP weights ${where} (hash ${got.slice(0, 12)}…) are not the ones the checkpoint was trained with (hash ${record.hash.slice(0, 12)}…${record.path ? `, from ${record.path}` : ''}); pass the right ones with --clip`,
    );
  if (record.kind === 'file' || override) {
    const p = override ?? record.path!;
    const { clip, record: got } = await buildClip({ path: p, seed: 0 }, cacheDir, log);
    const hash = record.kind === 'file' ? got.hash : await parameterHash(clip.stateDict());
    if (hash !== record.hash) {
      clip.dispose();
      throw mismatch(p, hash);
    }
    return withLandmarks(clip, record, cacheDir, log);
  }
  const rebuilt = await buildClip({ path: null, seed: record.seed }, cacheDir, log);
  if (rebuilt.record.hash === record.hash) return withLandmarks(rebuilt.clip, record, cacheDir, log);
  rebuilt.clip.dispose();
  if (!record.path) throw mismatch(`rebuilt from seed ${record.seed} on this GPU`, rebuilt.record.hash);
  log(`CLIP: this GPU draws the tiny random CLIP differently; reading the copy saved in ${record.path}`);
  const clip = await loadClip(record.path);
  const hash = await parameterHash(clip.stateDict());
  if (hash !== record.hash) {
    clip.dispose();
    throw mismatch(record.path, hash);
  }
  return withLandmarks(clip, record, cacheDir, log);
}

export function parseDatasetKind(v: string): DatasetKind {
  if (!(DATASET_KINDS as readonly string[]).includes(v)) throw new Error(`lrdif: --format must be one of ${DATASET_KINDS.join(', ')}, got '${v}'`);
  return v as DatasetKind;
}

export interface DataChoice {
  dir: string;
  format: DatasetKind;
  /** Split seed and test fraction (KDEF and class folders without split folders). */
  splitSeed: number;
  testFraction: number;
  /** Share of train carved out as the validation split when the dataset has none (0: none). */
  valFraction?: number;
  /** The label set (canonical class names, in label order); default: the classes present in the data. */
  classes?: readonly string[] | null;
}

/** Flushes the caches that are files. */
export function flushStore(enc: FrozenEncoders): void {
  for (const s of enc.stores()) if (s instanceof FileEmbeddingStore) s.flush();
}

/** The dataset, its splits and the encoders, with memoised embedding tables. */
export class Session {
  private readonly tables = new Map<string, EmbeddingTable>();
  private readonly texts = new Map<string, Float32Array>();
  private readonly tapCaches = new Map<string, LandmarkTapCache>();

  private constructor(
    readonly encoders: FrozenEncoders,
    readonly dataset: ImageDataset,
    readonly data: DataChoice,
    readonly log: Log,
  ) {}

  static async open(data: DataChoice, encoders: FrozenEncoders, log: Log, warn: Log): Promise<Session> {
    let ds = await loadDataset(data.format, data.dir, nodeDataSource(), {
      seed: data.splitSeed,
      testFraction: data.testFraction,
      warn,
      ...(data.classes ? { classes: data.classes } : {}),
    });
    let carved = '';
    if (data.valFraction) {
      const v = carveValidation(ds, { fraction: data.valFraction, seed: data.splitSeed });
      ds = v.dataset;
      if (v.by !== 'own') carved = ` (val: ${v.images} training images of ${v.groups} ${v.by === 'person' ? 'persons, person-disjoint' : 'images'}, seed ${data.splitSeed})`;
    }
    const counts = (['train', 'val', 'test'] as const).map((s) => [s, ds.items.filter((it) => it.split === s).length] as const).filter(([, n]) => n > 0);
    log(`data: ${ds.name} at ${data.dir}: ${counts.map(([s, n]) => `${n} ${s}`).join(', ')} images${carved}, ${ds.numClasses} classes (${ds.classNames.join(', ')})`);
    return new Session(encoders, ds, data, log);
  }

  split(s: Split): IndexedSplit {
    return splitWithIndices(this.dataset, s);
  }

  /** The CLIP embedding table of a split under a pipeline (computed once, cached on disk). */
  async table(split: Split, spec: PipelineSpec, progress?: (p: EmbedProgress) => void): Promise<EmbeddingTable> {
    const key = `${split}|${JSON.stringify({ size: spec.imageSize, resize: spec.resize, degrade: spec.degrade, inputNorm: spec.inputNorm ?? 'none', encoder: spec.imageEncoder ?? 'clip' })}`;
    const hit = this.tables.get(key);
    if (hit) return hit;
    const s = this.split(split);
    const t0 = performance.now();
    const r = await buildEmbeddingTable(this.encoders, s, spec, { batchSize: 32, onProgress: progress });
    flushStore(this.encoders);
    this.log(
      `${spec.imageEncoder && spec.imageEncoder !== 'clip' ? spec.imageEncoder : 'CLIP'} image embeddings (${split}): ${r.cached} from the cache, ${r.computed} computed${r.skipped ? `, ${r.skipped} unreadable` : ''} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    this.tables.set(key, r.table);
    return r.table;
  }

  private savedClip: ClipRecord | null = null;

  /**
   * The CLIP record for a run's checkpoints: a file CLIP as is; the tiny random CLIP saved once
   * per session (in the first run's folder, `clip/`) so eval and predict can read it anywhere.
   */
  async clipRecordFor(runDir: string): Promise<ClipRecord> {
    const r = this.encoders.clipRecord;
    if (r.kind !== 'random-tiny') return r;
    if (this.savedClip?.path && fs.existsSync(path.join(this.savedClip.path, 'model.safetensors'))) return this.savedClip;
    this.savedClip = await saveTinyClip(this.encoders, path.join(runDir, 'clip'));
    return this.savedClip;
  }

  /** The landmark tap cache of a split under a pipeline (shared by the runs of this session). */
  tapCache(split: Split, spec: PipelineSpec): LandmarkTapCache {
    const key = `${split}|${JSON.stringify({ size: spec.imageSize, resize: spec.resize, degrade: spec.degrade, inputNorm: spec.inputNorm ?? 'none' })}`;
    let c = this.tapCaches.get(key);
    if (!c) this.tapCaches.set(key, (c = new LandmarkTapCache()));
    return c;
  }

  async textTable(classNames: readonly string[]): Promise<Float32Array> {
    const key = classNames.join('|');
    const hit = this.texts.get(key);
    if (hit) return hit;
    const t = await this.encoders.textEmbeddings(classNames);
    flushStore(this.encoders);
    this.texts.set(key, t);
    return t;
  }

  dispose(): void {
    this.encoders.dispose();
  }
}
