/**
 * Offline degradation of a whole dataset (`lrdif synth`): every image of a dataset layout is
 * degraded with its own seed, imageSeed(seed, index), where index is the image's position in
 * the layout's fixed order, and written back in the same layout; label files and everything
 * else are copied verbatim. The record (synth.json) holds every parameter of every image, the
 * seed, the full configuration and the lrdif version, so the output can be reproduced byte
 * for byte (on the same GPU and driver: the f32 transcendental functions of different GPUs may
 * round differently).
 *
 * The output folder must be empty or new, or hold an earlier synth of the same input and
 * parameters: the input is fingerprinted (every file's path, size and modification time) and
 * recorded with the parameters and the lrdif version. A complete identical synth (synth.json) is
 * left as it is; an interrupted one (its journal, .synth-progress.jsonl: the identity, then one
 * line per image written) is resumed, skipping the images already written (every file is written
 * atomically, so one that exists is whole). Anything else in the folder is an error naming it;
 * `force` empties the folder first.
 *
 * The layout and its output are interfaces, so this file stays platform-neutral; the Node
 * layouts (class folders, RAF-DB, KDEF, FERPlus) are in synth-node.ts.
 */
import { imagesToTensor, chwToImage, ImageError, type RgbImage } from '../../io/image.js';
import { tidy } from '../../autograd/engine.js';
import { degradeBatch, resolveDegradeConfig, checkKind, psfCache, psfPlan, type DegradationKind, type DegradeConfig, type DegradeParams, type UdcConfig } from './index.js';
import { imageSeed, checkSeed } from './rng.js';

/** One image of a layout, in the layout's order. */
export interface SynthEntry {
  /** Stable name: the path relative to the dataset root, or e.g. "fer2013.csv#12". */
  key: string;
  /** Decodes the image (throws ImageError, or any error, when it is unreadable or corrupt). */
  load(): Promise<RgbImage> | RgbImage;
}

/** A dataset as `synth` sees it: images to degrade, in a fixed order, and files to copy. */
export interface SynthLayout {
  readonly format: string;
  /** Number of images `entries()` yields (for progress). */
  count(): Promise<number>;
  entries(): AsyncIterable<SynthEntry>;
  /** What identifies the input: every file's path, size and modification time, hashed. */
  fingerprint(): Promise<SynthInput>;
  /** The output folder, for inspecting and clearing it (an error when it is, or is inside, the dataset). */
  folder(outDir: string): SynthFolder;
  /** The file (relative to the output folder) an entry's image goes to, or null when entries share one file (no resuming them). */
  outputOf(entry: SynthEntry): string | null;
  /** Where the degraded copy goes. */
  open(outDir: string): Promise<SynthOutput>;
}

export interface SynthInput {
  files: number;
  bytes: number;
  sha256: string;
}

/** The output folder as runSynth needs it. */
export interface SynthFolder {
  readonly path: string;
  /** Names directly inside it, hidden ones included; [] when it does not exist. */
  list(): Promise<string[]>;
  /** A text file's contents, or null when it does not exist. */
  readText(relPath: string): Promise<string | null>;
  /** Writes a text file atomically. */
  writeText(relPath: string, text: string): Promise<void>;
  appendText(relPath: string, text: string): Promise<void>;
  exists(relPath: string): Promise<boolean>;
  remove(relPath: string): Promise<void>;
  /** Removes temporary files an interrupted run left (".name.pid.tmp"). */
  removeTemporaries(): Promise<void>;
  /** Removes everything inside it. */
  clear(): Promise<void>;
}

export interface SynthOutput {
  /** Stores the degraded image of an entry (entries arrive in order). */
  write(entry: SynthEntry, image: RgbImage): Promise<void>;
  /** An entry that could not be read: dropped (files), or kept verbatim where it cannot be dropped (CSV rows). */
  skip(entry: SynthEntry): Promise<void>;
  /** Finishes the images (e.g. the rewritten CSV) and copies the other files verbatim; returns the copied paths. */
  finish(): Promise<string[]>;
  /** Writes a text file atomically (synth.json). */
  writeText(relPath: string, text: string): Promise<void>;
}

export interface SynthOptions {
  kind: DegradationKind;
  /** Partial configuration (the defaults fill the rest). */
  config?: unknown;
  seed: number;
  /** Images per GPU batch (default 32). */
  batch?: number;
  /** lrdif version, recorded. */
  version: string;
  onProgress?: (done: number, total: number, skipped: number) => void;
  warn?: (message: string) => void;
  /** Empty the output folder first, whatever it holds. */
  force?: boolean;
  /** Told when the output folder already holds this synth: complete (nothing is done) or partly written (resumed). */
  onExisting?: (state: { complete: boolean; images: number }) => void;
}

export interface SynthImageRecord {
  index: number;
  path: string;
  width: number;
  height: number;
  params: DegradeParams;
}

export interface SynthRecord {
  lrdif: string;
  format: string;
  degradation: DegradationKind;
  /** The input it was made from (fingerprint: paths, sizes and modification times of every file). */
  input: SynthInput;
  seed: number;
  imageSeed: string;
  config: DegradeConfig;
  output: { jpegQuality: number; png: string; ferplusGrey: string };
  psf?: Array<{ imageSize: number; kernelSize: number; gridSize: number; sampleUm: number[]; inCrop: number[] }>;
  images: SynthImageRecord[];
  skipped: Array<{ index: number; path: string; reason: string }>;
  copied: string[];
  counts: { images: number; skipped: number; copied: number };
}

export const SYNTH_RECORD = 'synth.json';
/** The journal of a synth in progress: its identity, then one image record per line. */
export const SYNTH_JOURNAL = '.synth-progress.jsonl';

/** What makes two synths the same: the input, the parameters and the code. */
type SynthIdentity = Pick<SynthRecord, 'lrdif' | 'format' | 'degradation' | 'input' | 'seed' | 'config'>;

/** How `old` differs from `now`, in words (empty: the same). */
function identityDiff(old: Partial<SynthIdentity>, now: SynthIdentity): string[] {
  const out: string[] = [];
  if (!old.input) out.push('the input files (not recorded: an older lrdif wrote it)');
  else if (old.input.sha256 !== now.input.sha256)
    out.push(`the input files (${now.input.files} files of ${now.input.bytes} bytes now, ${old.input.files} of ${old.input.bytes} then, or changed since)`);
  if (old.format !== now.format) out.push(`the format (${now.format}, was ${old.format})`);
  if (old.degradation !== now.degradation) out.push(`the degradation (${now.degradation}, was ${old.degradation})`);
  if (old.seed !== now.seed) out.push(`the seed (${now.seed}, was ${old.seed})`);
  if (JSON.stringify(old.config) !== JSON.stringify(now.config)) out.push('the degradation configuration');
  if (old.lrdif !== now.lrdif) out.push(`the lrdif version (${now.lrdif}, was ${old.lrdif})`);
  return out;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * What the output folder holds: nothing, this synth complete (its record), this synth in part
 * (the images already written), or something else (an error naming the folder and what is in it).
 */
async function existingSynth(folder: SynthFolder, id: SynthIdentity): Promise<{ complete: SynthRecord } | { partial: SynthImageRecord[] } | null> {
  const names = await folder.list();
  if (names.length === 0) return null;
  const other = (what: string, diff: string[]) =>
    new Error(`lrdif: synth: the output folder ${folder.path} holds ${what} (different: ${diff.join('; ')}); pass --force to replace it, or choose another --out`);
  const recordText = await folder.readText(SYNTH_RECORD);
  if (recordText !== null) {
    const rec = parseJson(recordText) as SynthRecord | null;
    if (!rec || typeof rec !== 'object')
      throw new Error(`lrdif: synth: ${folder.path}/${SYNTH_RECORD} is not a synth record (not JSON); pass --force to replace the folder, or choose another --out`);
    const diff = identityDiff(rec, id);
    if (diff.length) throw other('a synth of another dataset or other parameters', diff);
    return { complete: rec };
  }
  const journal = await folder.readText(SYNTH_JOURNAL);
  if (journal !== null) {
    const lines = journal.split('\n');
    const head = parseJson(lines[0]) as SynthIdentity | null;
    if (!head) throw new Error(`lrdif: synth: ${folder.path}/${SYNTH_JOURNAL} does not start with a synth's identity; pass --force to replace the folder, or choose another --out`);
    const diff = identityDiff(head, id);
    if (diff.length) throw other('an interrupted synth of another dataset or other parameters', diff);
    // a torn last line (the run was killed while appending) is dropped: that image is redone
    const done = lines
      .slice(1)
      .map((l) => parseJson(l) as SynthImageRecord | null)
      .filter((r): r is SynthImageRecord => !!r && typeof r.index === 'number');
    return { partial: done };
  }
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? ', …' : '');
  throw new Error(
    `lrdif: synth: the output folder ${folder.path} is not empty (${names.length} entries: ${shown}) and holds no synth record (${SYNTH_RECORD}); ` +
      'writing beside what is there would mix old and new files: choose an empty or new --out, or pass --force to replace its contents',
  );
}
export const JPEG_QUALITY = 95;

interface Pending {
  index: number;
  entry: SynthEntry;
  image: RgbImage | null;
  reason?: string;
}

/** Degrades every image of `layout` into `outDir`; returns the record it wrote to synth.json. */
export async function runSynth(layout: SynthLayout, outDir: string, opts: SynthOptions): Promise<SynthRecord> {
  const kind = checkKind(opts.kind);
  const seed = checkSeed('synth: seed', opts.seed);
  const config = resolveDegradeConfig(kind, opts.config ?? {});
  const batch = opts.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`lrdif: synth: batch must be a positive integer, got ${batch}`);
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  const total = await layout.count();
  const folder = layout.folder(outDir);
  const identity: SynthIdentity = { lrdif: opts.version, format: layout.format, degradation: kind, input: await layout.fingerprint(), seed, config };
  let earlier: Map<number, SynthImageRecord> = new Map();
  if (opts.force) await folder.clear();
  else {
    const found = await existingSynth(folder, identity);
    if (found && 'complete' in found) {
      opts.onExisting?.({ complete: true, images: found.complete.images.length });
      return found.complete;
    }
    if (found) {
      earlier = new Map(found.partial.map((r) => [r.index, r]));
      await folder.removeTemporaries();
    }
  }
  if (earlier.size) opts.onExisting?.({ complete: false, images: earlier.size });
  else await folder.writeText(SYNTH_JOURNAL, `${JSON.stringify(identity)}\n`);
  const out = await layout.open(outDir);
  const images: SynthImageRecord[] = [];
  const skipped: SynthRecord['skipped'] = [];
  const sizes = new Set<number>();
  let done = 0;
  let pending: Pending[] = [];

  const flush = async () => {
    // degrade same-sized images together; write every entry in order
    const results = new Map<number, RgbImage>();
    const written = new Map<number, SynthImageRecord>();
    const groups = new Map<string, Pending[]>();
    for (const p of pending) {
      if (!p.image) continue;
      const key = `${p.image.width}x${p.image.height}`;
      const g = groups.get(key);
      if (g) g.push(p);
      else groups.set(key, [p]);
    }
    for (const g of groups.values()) {
      const { width, height } = g[0].image!;
      const { images: y, params } = tidy(() => {
        const x = imagesToTensor(g.map((p) => p.image!));
        return degradeBatch(
          x,
          kind,
          config,
          g.map((p) => imageSeed(seed, p.index)),
        );
      });
      const data = (await y.data()) as Float32Array;
      y.dispose();
      const per = 3 * width * height;
      g.forEach((p, i) => {
        results.set(p.index, chwToImage(data.subarray(i * per, (i + 1) * per), width, height));
        const rec = { index: p.index, path: p.entry.key, width, height, params: params[i] };
        images.push(rec);
        written.set(p.index, rec);
      });
      sizes.add(Math.min(width, height));
    }
    const journal: string[] = [];
    for (const p of pending) {
      const img = results.get(p.index);
      if (img) {
        await out.write(p.entry, img);
        journal.push(JSON.stringify(written.get(p.index)));
      } else await out.skip(p.entry);
      done++;
    }
    if (journal.length) await folder.appendText(SYNTH_JOURNAL, `${journal.join('\n')}\n`);
    pending = [];
    opts.onProgress?.(done, total, skipped.length);
  };

  let index = 0;
  for await (const entry of layout.entries()) {
    // resuming: an image this synth already wrote is kept (written atomically: it exists whole)
    const prev = earlier.get(index);
    const target = layout.outputOf(entry);
    if (prev && prev.path === entry.key && target !== null && (await folder.exists(target))) {
      images.push(prev);
      sizes.add(Math.min(prev.width, prev.height));
      done++;
      index++;
      if (done % batch === 0) opts.onProgress?.(done, total, skipped.length);
      continue;
    }
    let image: RgbImage | null = null;
    let reason: string | undefined;
    try {
      image = await entry.load();
    } catch (e) {
      if (!(e instanceof ImageError) && !(e instanceof SynthSkip)) throw e;
      reason = (e as Error).message.replace(/^lrdif:\s*/, '');
      warn(`lrdif: synth: skipping ${entry.key}: ${reason}`);
      skipped.push({ index, path: entry.key, reason });
    }
    pending.push({ index, entry, image, reason });
    index++;
    if (pending.length >= batch) await flush();
  }
  await flush();
  const copied = await out.finish();
  images.sort((a, b) => a.index - b.index);

  let psf: SynthRecord['psf'];
  if (kind === 'udc') {
    const display = (config as UdcConfig).display;
    psf = [];
    for (const s of [...sizes].sort((a, b) => a - b)) {
      const plan = psfPlan(display, s);
      const k = psfCache().get(display, s);
      psf.push({ imageSize: s, kernelSize: plan.kernelSize, gridSize: plan.gridSize, sampleUm: plan.sampleUm, inCrop: Array.from(await k.inCrop.data()) });
    }
  }
  const record: SynthRecord = {
    lrdif: opts.version,
    format: layout.format,
    degradation: kind,
    input: identity.input,
    seed,
    imageSeed: 'imageSeed(seed, index): Philox4x32-10 (src/data/degrade/rng.ts); index = position in the sorted list of images',
    config,
    output: {
      jpegQuality: JPEG_QUALITY,
      png: 'lossless, 8-bit RGB',
      ferplusGrey: 'FERPlus pixels: grey replicated to RGB, degraded, then the rounded mean of the degraded 8-bit R, G, B',
    },
    ...(psf ? { psf } : {}),
    images,
    skipped,
    copied,
    counts: { images: images.length, skipped: skipped.length, copied: copied.length },
  };
  await out.writeText(SYNTH_RECORD, `${JSON.stringify(record, null, 1)}\n`);
  // the record is the commit: the journal goes only after it is written
  await folder.remove(SYNTH_JOURNAL);
  return record;
}

/** Thrown by a layout's `load` for an entry that must be skipped (malformed CSV pixels, …). */
export class SynthSkip extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SynthSkip';
  }
}

/** 8-bit grey of a degraded RGB image: the rounded mean of R, G and B per pixel. */
export function rgbToGrey(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round((img.data[3 * i] + img.data[3 * i + 1] + img.data[3 * i + 2]) / 3);
  return out;
}
