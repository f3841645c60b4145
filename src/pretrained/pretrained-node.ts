/**
 * The shipped models on disk (Node): where they are, opening one by name (with its card checked
 * against the weights file), and packaging a training run folder into one (atomically, with the
 * packaged model's predictions checked against the source checkpoint's).
 *
 * The models live in `assets/models/` of the package (found from this module's folder upwards,
 * as in a checkout and in the installed package); LRDIF_PRETRAINED_DIR names another folder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { writeSafetensorsFile } from '../io/safetensors-node.js';
import { encodePng } from '../io/image-node.js';
import { syntheticFace } from '../data/synthetic-faces.js';
import { CheckpointError, type CheckpointMeta } from '../train/checkpoint.js';
import { openCheckpoint } from '../train/run-node.js';
import { runPrediction, type PredictResult } from '../train/predict-node.js';
import type { Log } from '../train/session-node.js';
import {
  PRETRAINED_DIR,
  PRETRAINED_FILES,
  PRETRAINED_NAMES,
  PretrainedError,
  parseCard,
  pretrainedEntry,
  type BaselineFigures,
  type PretrainedCard,
  type PretrainedEntry,
} from './models.js';
import { buildCard, inferenceCheckpoint, inferenceNeedsClip } from './package.js';
import { loadPretrainedFromBytes, type LoadedPretrained } from './load.js';

export const PRETRAINED_ENV = 'LRDIF_PRETRAINED_DIR';

const HOW_TO_PACKAGE = 'package it with `npx tsx scripts/make-pretrained.ts package <name>=<stage-2 run folder>`, or give a checkpoint with --ckpt';

/** The folder of the shipped models: $LRDIF_PRETRAINED_DIR, else assets/models found upwards from this module. */
export function pretrainedRoot(): string {
  const env = process.env[PRETRAINED_ENV];
  if (env) return path.resolve(env);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, PRETRAINED_DIR);
    if (fs.existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  throw new PretrainedError(
    `the shipped models are missing: no ${PRETRAINED_DIR}/ above ${path.dirname(fileURLToPath(import.meta.url))} (a package built without its assets?); ${HOW_TO_PACKAGE}`,
  );
}

export interface PretrainedPaths {
  entry: PretrainedEntry;
  dir: string;
  model: string;
  card: string;
  /** The CLIP folder, for configs whose image encoder is CLIP (null otherwise). */
  clip: string | null;
}

export interface OpenedPretrained extends PretrainedPaths {
  info: PretrainedCard;
  meta: CheckpointMeta;
}

function sha256File(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * A shipped model by name, checked: its files exist, the card parses, the weights file hashes as
 * the card says (a damaged or swapped file is caught here), the checkpoint is a stage-2 one for
 * the model's variant and classes. Reads no tensor.
 */
export function openPretrained(name: string, root: string = pretrainedRoot()): OpenedPretrained {
  const entry = pretrainedEntry(name);
  const dir = path.join(root, entry.folder);
  const model = path.join(dir, PRETRAINED_FILES.model);
  const cardFile = path.join(dir, PRETRAINED_FILES.card);
  for (const f of [model, cardFile]) {
    if (!fs.existsSync(f)) throw new PretrainedError(`the shipped model '${entry.name}' is missing: ${f} does not exist; ${HOW_TO_PACKAGE}`);
  }
  const info = parseCard(fs.readFileSync(cardFile, 'utf8'), cardFile);
  if (info.name !== entry.name) throw new PretrainedError(`${cardFile} describes the model '${info.name}', not '${entry.name}'`);
  const sha = sha256File(model);
  if (sha !== info.model.sha256) {
    throw new PretrainedError(
      `${model} is damaged or not the packaged file: its sha256 is ${sha.slice(0, 12)}…, the card says ${info.model.sha256.slice(0, 12)}…; ${HOW_TO_PACKAGE}`,
    );
  }
  let meta: CheckpointMeta;
  try {
    const { reader, meta: m } = openCheckpoint(model);
    reader.close();
    meta = m;
  } catch (e) {
    throw new PretrainedError(`the shipped model '${entry.name}' cannot be read: ${(e as Error).message.replace(/^lrdif: /, '')}`);
  }
  const problems: string[] = [];
  if (meta.stage !== 2) problems.push(`it is a stage-${meta.stage} checkpoint (inference needs stage 2)`);
  if (meta.config.variant !== entry.variant) problems.push(`its variant is ${meta.config.variant}, expected ${entry.variant}`);
  if (JSON.stringify(meta.classNames) !== JSON.stringify(info.classes))
    problems.push(`its classes (${meta.classNames.join(', ')}) differ from the card's (${info.classes.join(', ')})`);
  const clipDir = path.join(dir, PRETRAINED_FILES.clip);
  const needsClip = inferenceNeedsClip(meta.config);
  if (needsClip && !fs.existsSync(clipDir)) problems.push(`its config takes E_I from CLIP but ${clipDir} is missing`);
  if (problems.length) throw new PretrainedError(`the shipped model '${entry.name}' (${model}) is not usable: ${problems.join('; ')}; ${HOW_TO_PACKAGE}`);
  return { entry, dir, model, card: cardFile, clip: needsClip ? clipDir : null, info, meta };
}

/** A shipped model by name as a ready LrdifModel (eval mode; the caller disposes it), with its paths, metadata and card. */
export async function loadPretrained(name: string, root: string = pretrainedRoot()): Promise<LoadedPretrained & { paths: OpenedPretrained }> {
  const paths = openPretrained(name, root);
  const loaded = await loadPretrainedFromBytes(new Uint8Array(fs.readFileSync(paths.model)), fs.readFileSync(paths.card, 'utf8'), { model: paths.model, card: paths.card });
  return { ...loaded, paths };
}

/** The shipped models with their cards (or why one cannot be opened). */
export function listPretrained(root?: string): Array<{ name: string; model: OpenedPretrained | null; error: string | null }> {
  return PRETRAINED_NAMES.map((name) => {
    try {
      return { name, model: openPretrained(name, root ?? pretrainedRoot()), error: null };
    } catch (e) {
      return { name, model: null, error: (e as Error).message.replace(/^lrdif: /, '') };
    }
  });
}

function readJson(file: string): Record<string, unknown> | null {
  if (!fs.existsSync(file)) return null;
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`lrdif: package: ${file} is not valid JSON (${(e as Error).message})`);
  }
}

/** The baselines of the run's baseline.json (in the run folder or beside it) scored on the same test split. */
function findBaselines(runDir: string, data: string, n: number, log: Log): BaselineFigures[] {
  const candidates = [
    path.join(runDir, 'baseline.json'),
    path.join(runDir, 'baseline', 'baseline.json'),
    path.join(runDir, '..', 'baseline.json'),
    path.join(runDir, '..', 'baseline', 'baseline.json'),
  ];
  for (const file of candidates) {
    const b = readJson(file) as { data?: { dir?: string; test_images?: number }; cnn?: Record<string, unknown>; faceapi?: Record<string, unknown> } | null;
    if (!b) continue;
    if (path.resolve(b.data?.dir ?? '') !== path.resolve(data) || b.data?.test_images !== n) {
      log(`package: ${file} is for another split (${b.data?.dir}, ${b.data?.test_images} test images; the run: ${data}, ${n}): not in the card`);
      continue;
    }
    const out: BaselineFigures[] = [];
    if (b.cnn)
      out.push({ what: 'plain CNN (lrdif baseline cnn)', n: b.cnn.n as number, accuracy: b.cnn.accuracy as number, mean_class_accuracy: b.cnn.mean_class_accuracy as number });
    if (b.faceapi) {
      out.push({
        what: "face-api's expression net, zero-shot (lrdif baseline faceapi)",
        n: b.faceapi.n as number,
        accuracy: b.faceapi.accuracy as number,
        mean_class_accuracy: b.faceapi.mean_class_accuracy as number,
        ...(typeof b.faceapi.note === 'string' ? { note: b.faceapi.note } : {}),
      });
    }
    log(`package: baselines from ${file}`);
    return out;
  }
  return [];
}

/**
 * Images to check the packaged model on: the first test image of each class of the run's data
 * (when the data is on this machine), else synthetic faces written to a temp folder.
 */
export function verificationImages(data: string | null, count = 8): { files: string[]; cleanup: () => void } {
  const test = data ? path.join(data, 'test') : null;
  if (test && fs.existsSync(test)) {
    const out: string[] = [];
    for (const c of fs.readdirSync(test).sort()) {
      const dir = path.join(test, c);
      if (!fs.statSync(dir).isDirectory()) continue;
      const f = fs
        .readdirSync(dir)
        .filter((x) => /\.(png|jpe?g)$/i.test(x))
        .sort()[0];
      if (f) out.push(path.join(dir, f));
      if (out.length >= count) break;
    }
    if (out.length) return { files: out, cleanup: () => {} };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-verify-'));
  const files = Array.from({ length: count }, (_, i) => {
    const file = path.join(dir, `face-${i}.png`);
    fs.writeFileSync(file, encodePng(syntheticFace(0, i).image));
    return file;
  });
  return { files, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The largest |p − q| over every face and class of two predictions of the same images. */
export function maxProbabilityDifference(a: PredictResult, b: PredictResult): number {
  let worst = 0;
  if (a.images.length !== b.images.length) return Infinity;
  a.images.forEach((im, i) => {
    const other = b.images[i];
    if (other.faces.length !== im.faces.length) worst = Infinity;
    im.faces.forEach((f, k) => {
      for (const [c, p] of Object.entries(f.probabilities)) worst = Math.max(worst, Math.abs(p - (other.faces[k]?.probabilities[c] ?? Infinity)));
    });
  });
  return worst;
}

export interface PackageOptions {
  name: string;
  /** The stage-2 run folder (best.safetensors, run.json, result.json, metrics.jsonl). */
  run: string;
  /** Folder of the shipped models (default: pretrainedRoot()). */
  root?: string;
  /** Images to check the packaged model on (default: verificationImages). */
  images?: string[];
  /** Largest allowed probability difference to the source checkpoint (default 1e-6). */
  tolerance?: number;
  /**
   * Package a run that has not finished (no result.json): its best checkpoint so far, as a
   * stand-in whose card has no test figures and says so.
   */
  unfinished?: boolean;
  version: string;
  log: Log;
}

/**
 * Packages a stage-2 run as the shipped model `name`: writes model.safetensors (no optimiser
 * state), the CLIP folder when the config needs it, and card.json into a temp folder beside the
 * target, checks the packaged model's predictions against the source checkpoint's, then swaps
 * the folder in (the previous one stays untouched if anything fails).
 */
export async function packagePretrained(o: PackageOptions): Promise<{ card: PretrainedCard; dir: string; bytes: number }> {
  const entry = pretrainedEntry(o.name);
  const runDir = path.resolve(o.run);
  const source = path.join(runDir, 'best.safetensors');
  if (!fs.existsSync(source)) throw new Error(`lrdif: package: ${source} does not exist (give the stage-2 run folder that holds best.safetensors, run.json and result.json)`);
  const runStage2 = readJson(path.join(runDir, 'run.json'));
  const result = readJson(path.join(runDir, 'result.json'));
  if (!runStage2) throw new Error(`lrdif: package: ${path.join(runDir, 'run.json')} does not exist`);
  if (!result && !o.unfinished)
    throw new Error(`lrdif: package: ${path.join(runDir, 'result.json')} does not exist (the run has not finished: result.json is written after the test evaluation)`);
  if (result && o.unfinished) o.log(`package: ${runDir} has finished: packaged with its test figures`);
  const metricsFile = path.join(runDir, 'metrics.jsonl');
  const metrics = fs.existsSync(metricsFile)
    ? fs
        .readFileSync(metricsFile, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as Record<string, unknown>)
    : [];
  const { reader, meta } = openCheckpoint(source);
  const root = path.resolve(o.root ?? pretrainedRoot());
  fs.mkdirSync(root, { recursive: true });
  const final = path.join(root, entry.folder);
  const tmp = path.join(root, `.${entry.folder}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  let cleanupImages = () => {};
  try {
    if (meta.stage !== 2) throw new CheckpointError(source, `is a stage-${meta.stage} checkpoint; a shipped model is a stage-2 one`);
    if (meta.config.variant !== entry.variant) throw new CheckpointError(source, `is a ${meta.config.variant} model; '${entry.name}' ships a ${entry.variant} one`);
    fs.mkdirSync(tmp);
    const model = path.join(tmp, PRETRAINED_FILES.model);
    const inf = inferenceCheckpoint(reader, meta);
    writeSafetensorsFile(model, inf.entries, inf.metadata);
    let clipDir: string | null = null;
    if (inferenceNeedsClip(meta.config)) {
      const from = meta.clip.path ?? path.join(runDir, 'clip');
      if (!fs.existsSync(from)) throw new Error(`lrdif: package: the config takes E_I from CLIP, but the CLIP folder ${from} is missing`);
      clipDir = path.join(tmp, PRETRAINED_FILES.clip);
      fs.cpSync(from, clipDir, { recursive: true });
    }
    // the packaged model must answer as the source checkpoint does
    let images = o.images;
    if (!images) {
      const v = verificationImages(typeof runStage2.data === 'string' ? runStage2.data : null);
      images = v.files;
      cleanupImages = v.cleanup;
    }
    const tolerance = o.tolerance ?? 1e-6;
    const quiet: Log = () => {};
    const predict = (ckpt: string, clip: string | null) => runPrediction({ ckpt, images, clip, detect: 'never', seed: null, cacheDir: null, scoreThreshold: 0.5 }, quiet);
    const want = await predict(source, clipDir);
    const got = await predict(model, clipDir);
    const diff = maxProbabilityDifference(want, got);
    if (!(diff <= tolerance))
      throw new Error(
        `lrdif: package: the packaged model's probabilities differ from ${source}'s by up to ${diff} on ${images.length} images (tolerance ${tolerance}); nothing was replaced`,
      );
    o.log(`package: ${entry.name}: the packaged model gives the source checkpoint's probabilities on ${images.length} images (largest difference ${diff})`);
    const from1 = (meta.train as { from?: string }).from;
    // run.json keeps a run's first options; a resumed run may have changed its epochs, which its
    // result.json and the checkpoint's settings record
    const s1Dir = from1 ? path.dirname(from1) : null;
    const runStage1 = s1Dir ? withEpochsRun(readJson(path.join(s1Dir, 'run.json')), readJson(path.join(s1Dir, 'result.json'))?.epochs) : null;
    const settings2 = (meta.train as { settings?: { epochs?: number } }).settings;
    const synth = typeof runStage2.data === 'string' ? readJson(path.join(runStage2.data, 'synth.json')) : null;
    const bytes = fs.statSync(model).size;
    const card = buildCard({
      entry,
      meta,
      source,
      model: { bytes, sha256: sha256File(model), parameters: inf.parameters },
      runStage1,
      runStage2: withEpochsRun(runStage2, result?.epochs ?? settings2?.epochs) ?? runStage2,
      result,
      plannedEpochs: settings2?.epochs ?? (typeof runStage2.epochs === 'number' ? runStage2.epochs : undefined),
      metrics,
      synth,
      baselines: result ? findBaselines(runDir, String(runStage2.data ?? ''), result.n as number, o.log) : [],
      verified: { images: images.length, maxAbsDifference: diff, tolerance },
      version: o.version,
    });
    fs.writeFileSync(path.join(tmp, PRETRAINED_FILES.card), `${JSON.stringify(card, null, 2)}\n`);
    // swap the folder in: the old one is moved aside first and removed only once the new one is in place
    const old = path.join(root, `.${entry.folder}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
    const hadOld = fs.existsSync(final);
    if (hadOld) fs.renameSync(final, old);
    try {
      fs.renameSync(tmp, final);
    } catch (e) {
      if (hadOld) fs.renameSync(old, final);
      throw e;
    }
    if (hadOld) fs.rmSync(old, { recursive: true, force: true });
    const total = folderBytes(final);
    return { card, dir: final, bytes: total };
  } finally {
    reader.close();
    cleanupImages();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** A run.json with `epochs` set to the epochs the run was last set to (when a resume changed them; the first value kept as `epochsAtStart`). */
function withEpochsRun(run: Record<string, unknown> | null, epochs: unknown): Record<string, unknown> | null {
  if (!run || typeof epochs !== 'number' || epochs === run.epochs) return run;
  return { ...run, epochs, epochsAtStart: run.epochs };
}

/** Total size of the files under a folder. */
export function folderBytes(dir: string): number {
  let n = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    n += e.isDirectory() ? folderBytes(p) : fs.statSync(p).size;
  }
  return n;
}
