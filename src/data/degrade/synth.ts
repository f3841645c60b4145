/**
 * Offline degradation of a whole dataset (`lrdif synth`): every image of a dataset layout is
 * degraded with its own seed, imageSeed(seed, index), where index is the image's position in
 * the layout's fixed order, and written back in the same layout; label files and everything
 * else are copied verbatim. The record (synth.json) holds every parameter of every image, the
 * seed, the full configuration and the lrdif version, so the output can be reproduced byte
 * for byte (on the same GPU and driver: the f32 transcendental functions of different GPUs may
 * round differently).
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
  /** Where the degraded copy goes. */
  open(outDir: string): Promise<SynthOutput>;
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
  const out = await layout.open(outDir);
  const images: SynthImageRecord[] = [];
  const skipped: SynthRecord['skipped'] = [];
  const sizes = new Set<number>();
  let done = 0;
  let pending: Pending[] = [];

  const flush = async () => {
    // degrade same-sized images together; write every entry in order
    const results = new Map<number, RgbImage>();
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
        return degradeBatch(x, kind, config, g.map((p) => imageSeed(seed, p.index)));
      });
      const data = (await y.data()) as Float32Array;
      y.dispose();
      const per = 3 * width * height;
      g.forEach((p, i) => {
        results.set(p.index, chwToImage(data.subarray(i * per, (i + 1) * per), width, height));
        images.push({ index: p.index, path: p.entry.key, width, height, params: params[i] });
      });
      sizes.add(Math.min(width, height));
    }
    for (const p of pending) {
      const img = results.get(p.index);
      if (img) await out.write(p.entry, img);
      else await out.skip(p.entry);
      done++;
    }
    pending = [];
    opts.onProgress?.(done, total, skipped.length);
  };

  let index = 0;
  for await (const entry of layout.entries()) {
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
