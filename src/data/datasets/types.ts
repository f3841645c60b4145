/**
 * Datasets: the one canonical class list, items, splits, and the platform adapter that reads
 * files (`DataSource`; Node: datasets/source-node.ts). Nothing here imports Node modules.
 *
 * Canonical classes (indices are labels everywhere; checkpoints record `classNames`):
 *   0 neutral, 1 happiness, 2 surprise, 3 sadness, 4 anger, 5 disgust, 6 fear, 7 contempt
 * This is FERPlus's vote-column order. Datasets with the seven basic expressions (RAF-DB,
 * KDEF, the synthetic faces) use the first seven; FERPlus uses all eight. The per-dataset
 * mappings are documented in rafdb.ts, ferplus.ts, kdef.ts and folder.ts.
 */
import { checkImage, type RgbImage } from '../../io/image.js';

export const CANONICAL_CLASSES = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt'] as const;
export type ClassName = (typeof CANONICAL_CLASSES)[number];
/** The seven basic expressions: the first seven canonical classes. */
export const BASIC_CLASSES = CANONICAL_CLASSES.slice(0, 7) as readonly ClassName[];

export type Split = 'train' | 'val' | 'test';

export type ItemSource =
  | { kind: 'file'; path: string }
  /** Decoded pixels held in memory (FERPlus's CSV rows): `channels` 1 (grey) or 3 (RGB, interleaved). */
  | { kind: 'pixels'; width: number; height: number; channels: 1 | 3; data: Uint8Array };

export interface DatasetItem {
  /** A stable name: the file path, or e.g. FERPlus's image name. */
  id: string;
  /** Canonical class index. */
  label: number;
  split: Split;
  source: ItemSource;
  /** Dataset-specific fields (KDEF subject and angle, FERPlus row, …). */
  meta?: Record<string, string | number>;
}

export interface SkippedItem {
  path: string;
  reason: string;
}

/** File access and image decoding: the only platform-specific part of the data pipeline. */
export interface DataSource {
  readText(path: string): Promise<string>;
  readBytes(path: string): Promise<Uint8Array>;
  /** The lines of a text file (without line terminators), streamed. */
  lines(path: string): AsyncIterable<string>;
  /** Entries of a folder; throws naming the folder when it cannot be read. */
  listDir(path: string): Promise<Array<{ name: string; isDirectory: boolean }>>;
  /** Whether a folder exists (and is a folder). */
  isDirectory(path: string): Promise<boolean>;
  decodeImage(bytes: Uint8Array, name: string): RgbImage | Promise<RgbImage>;
}

export interface DatasetOptions {
  /** Receives warnings (skipped files); default console.warn. */
  warn?: (message: string) => void;
}

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/** Joins path segments with '/' (accepted by Node on every platform and by URLs). */
export function joinPath(...parts: string[]): string {
  return parts
    .filter((p) => p !== '')
    .map((p, i) => (i === 0 ? p.replace(/\/+$/, '') : p.replace(/^\/+|\/+$/g, '')))
    .join('/');
}

export function isImageFileName(name: string): boolean {
  return /\.(jpe?g|png)$/i.test(name) && !name.startsWith('.');
}

/** A grey or RGB pixel buffer as 8-bit RGB. */
export function pixelsToRgb(s: Extract<ItemSource, { kind: 'pixels' }>): RgbImage {
  if (s.channels === 3) return { width: s.width, height: s.height, data: s.data };
  const n = s.width * s.height;
  const data = new Uint8Array(3 * n);
  for (let i = 0; i < n; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = s.data[i];
  return { width: s.width, height: s.height, data };
}

/**
 * A list of labelled images, lazily decoded. Subsets made by `split()` share the source and
 * the `skipped` record with their parent. Unreadable or corrupt images are skipped (once,
 * with a warning naming them) and recorded in `skipped`.
 */
export class ImageDataset {
  readonly skipped: SkippedItem[];
  private readonly skippedSet: Set<string>;
  private readonly warn: (message: string) => void;

  constructor(
    readonly name: string,
    readonly classNames: readonly string[],
    readonly items: readonly DatasetItem[],
    readonly source: DataSource,
    opts: DatasetOptions & { skipped?: SkippedItem[] } = {},
  ) {
    this.skipped = opts.skipped ?? [];
    this.skippedSet = new Set(this.skipped.map((s) => s.path));
    this.warn = opts.warn ?? ((m) => console.warn(m));
    for (const it of items) {
      if (!Number.isInteger(it.label) || it.label < 0 || it.label >= classNames.length) {
        throw new DatasetError(`lrdif: dataset ${name}: item ${it.id} has label ${it.label}, outside 0..${classNames.length - 1} (${classNames.join(', ')})`);
      }
    }
  }

  get length(): number {
    return this.items.length;
  }

  get numClasses(): number {
    return this.classNames.length;
  }

  /** The items of one split, as a dataset sharing this one's source and skipped record. */
  split(s: Split): ImageDataset {
    return new ImageDataset(
      `${this.name}/${s}`,
      this.classNames,
      this.items.filter((it) => it.split === s),
      this.source,
      { warn: this.warn, skipped: this.skipped },
    );
  }

  /** The same dataset (name, classes, source, skipped record) with other items, e.g. re-split. */
  withItems(items: readonly DatasetItem[]): ImageDataset {
    return new ImageDataset(this.name, this.classNames, items, this.source, { warn: this.warn, skipped: this.skipped });
  }

  /** Number of items per class. */
  classCounts(): number[] {
    const c = new Array<number>(this.classNames.length).fill(0);
    for (const it of this.items) c[it.label]++;
    return c;
  }

  /** Records a skipped file (once) and warns. */
  skip(path: string, reason: string): void {
    if (this.skippedSet.has(path)) return;
    this.skippedSet.add(path);
    this.skipped.push({ path, reason });
    this.warn(`lrdif: skipping ${path}: ${reason}`);
  }

  isSkipped(item: DatasetItem): boolean {
    return item.source.kind === 'file' && this.skippedSet.has(item.source.path);
  }

  /** Decodes item i to 8-bit RGB, or returns null (skipped, warned and recorded) when it cannot be read or decoded. */
  async load(i: number): Promise<RgbImage | null> {
    const it = this.items[i];
    if (!it) throw new DatasetError(`lrdif: dataset ${this.name}: item ${i} does not exist (${this.items.length} items)`);
    const s = it.source;
    if (s.kind === 'pixels') return pixelsToRgb(s);
    if (this.skippedSet.has(s.path)) return null;
    try {
      const bytes = await this.source.readBytes(s.path);
      const img = await this.source.decodeImage(bytes, s.path);
      checkImage(img, s.path);
      return img;
    } catch (e) {
      this.skip(s.path, (e as Error).message.replace(/^lrdif: /, ''));
      return null;
    }
  }
}
