/**
 * Datasets: the one canonical class list, items, splits, and the platform adapter that reads
 * files (`DataSource`; Node: datasets/source-node.ts). Nothing here imports Node modules.
 *
 * Canonical classes:
 *   neutral, happiness, surprise, sadness, anger, disgust, fear, contempt
 * This is FERPlus's vote-column order. Every loader maps its dataset's labels to these names
 * (rafdb.ts, ferplus.ts, kdef.ts and folder.ts document how); a dataset's `classNames` are then
 * the canonical classes that have images, in canonical order — or exactly the list given as the
 * `classes` option, when datasets must share a classifier head (a checkpoint's classes, for one).
 * An item's label is its index in `classNames`; checkpoints record `classNames`.
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
  /** Index in the dataset's classNames. */
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
  /**
   * The label set, as canonical class names in the order the labels take (default: the
   * canonical classes that have images, in canonical order). A class in the data but not in
   * the list is an error; a listed class without images is allowed (it is a shared head).
   */
  classes?: readonly string[];
}

export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

/**
 * The label set of a dataset whose items carry canonical class indices (`canonical[i]` for item
 * i): the classes present (canonical order) or the `classes` option; returns the class names and
 * each item's label in them. `where(c)` names a place holding class c's images, for errors. Fewer
 * than two classes is an error: a classifier cannot learn from one (it would score 100 %).
 */
export function resolveClasses(
  dataset: string,
  canonical: readonly number[],
  classes: readonly string[] | undefined,
  where: (canonicalIndex: number) => string,
): { classNames: string[]; labels: number[] } {
  const names = CANONICAL_CLASSES as readonly string[];
  let classNames: string[];
  if (classes) {
    const bad = classes.filter((c) => !names.includes(c));
    if (bad.length)
      throw new DatasetError(`lrdif: ${dataset}: the classes option names ${bad.map((c) => `'${c}'`).join(', ')}, not canonical classes (expected some of: ${names.join(', ')})`);
    const dup = classes.find((c, i) => classes.indexOf(c) !== i);
    if (dup) throw new DatasetError(`lrdif: ${dataset}: the classes option lists '${dup}' twice`);
    if (classes.length < 2)
      throw new DatasetError(`lrdif: ${dataset}: the classes option lists ${classes.length} class(es) (${classes.join(', ') || 'none'}); a classifier needs at least two`);
    for (const c of new Set(canonical)) {
      if (!classes.includes(names[c])) {
        throw new DatasetError(
          `lrdif: ${dataset}: ${where(c)} holds '${names[c]}' images, a class the classes option leaves out (${classes.join(', ')}); add it to the list or remove those images`,
        );
      }
    }
    classNames = [...classes];
  } else {
    const present = [...new Set(canonical)].sort((a, b) => a - b);
    if (present.length < 2) {
      throw new DatasetError(
        `lrdif: ${dataset}: ${present.length ? `only one class has images ('${names[present[0]]}', in ${where(present[0])})` : 'no class has images'}; ` +
          'a classifier needs at least two (add the other classes, or fix the label set with the classes option, e.g. --classes)',
      );
    }
    classNames = present.map((c) => names[c]);
  }
  const index = new Map(classNames.map((c, i) => [names.indexOf(c), i]));
  return { classNames, labels: canonical.map((c) => index.get(c)!) };
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

/** The files a dataset has found unreadable: shared by a dataset and the subsets split from it. */
export class SkipRecord {
  readonly list: SkippedItem[] = [];
  readonly paths = new Set<string>();
}

/**
 * A list of labelled images, lazily decoded. Subsets made by `split()` share the source and
 * the skip record with their parent (a file found unreadable through a split is skipped in the
 * whole dataset too). Unreadable or corrupt images are skipped (once, with a warning naming
 * them) and recorded in `skipped`; `usable()` leaves out those found so far.
 */
export class ImageDataset {
  private readonly record: SkipRecord;
  private readonly warn: (message: string) => void;

  constructor(
    readonly name: string,
    readonly classNames: readonly string[],
    readonly items: readonly DatasetItem[],
    readonly source: DataSource,
    opts: DatasetOptions & { skipRecord?: SkipRecord } = {},
  ) {
    this.record = opts.skipRecord ?? new SkipRecord();
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

  /** The files skipped so far (unreadable, corrupt, or listed but missing), each once. */
  get skipped(): readonly SkippedItem[] {
    return this.record.list;
  }

  get numClasses(): number {
    return this.classNames.length;
  }

  /** The items of one split, as a dataset sharing this one's source and skip record. */
  split(s: Split): ImageDataset {
    return this.subset(
      `${this.name}/${s}`,
      this.items.filter((it) => it.split === s),
    );
  }

  /** The items not skipped so far, as a dataset sharing this one's source and skip record. */
  usable(): ImageDataset {
    return this.subset(
      this.name,
      this.items.filter((it) => !this.isSkipped(it)),
    );
  }

  private subset(name: string, items: DatasetItem[]): ImageDataset {
    return new ImageDataset(name, this.classNames, items, this.source, { warn: this.warn, skipRecord: this.record });
  }

  /** The same dataset (name, classes, source, skipped record) with other items, e.g. re-split. */
  withItems(items: readonly DatasetItem[]): ImageDataset {
    return new ImageDataset(this.name, this.classNames, items, this.source, { warn: this.warn, skipRecord: this.record });
  }

  /** Number of items per class. */
  classCounts(): number[] {
    const c = new Array<number>(this.classNames.length).fill(0);
    for (const it of this.items) c[it.label]++;
    return c;
  }

  /** Records a skipped file (once) and warns. */
  skip(path: string, reason: string): void {
    if (this.record.paths.has(path)) return;
    this.record.paths.add(path);
    this.record.list.push({ path, reason });
    this.warn(`lrdif: skipping ${path}: ${reason}`);
  }

  isSkipped(item: DatasetItem): boolean {
    return item.source.kind === 'file' && this.record.paths.has(item.source.path);
  }

  /** Decodes item i to 8-bit RGB, or returns null (skipped, warned and recorded) when it cannot be read or decoded. */
  async load(i: number): Promise<RgbImage | null> {
    const it = this.items[i];
    if (!it) throw new DatasetError(`lrdif: dataset ${this.name}: item ${i} does not exist (${this.items.length} items)`);
    const s = it.source;
    if (s.kind === 'pixels') return pixelsToRgb(s);
    if (this.record.paths.has(s.path)) return null;
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
