/**
 * RAF-DB (basic emotion set), official layout:
 *   <root>/EmoLabel/list_patition_label.txt   lines "train_00001.jpg 5" / "test_0001.jpg 7"
 *   <root>/Image/aligned/train_00001_aligned.jpg   (or Image/original/train_00001.jpg)
 * RAF-DB labels 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral map to the
 * canonical classes of those names (classNames: the classes with images, in canonical order —
 * all seven in the official release — or the `classes` option).
 * Split by the file name's prefix: train_ → train, test_ → test.
 *
 * A malformed line is an error naming the file and line; a listed image that is missing is
 * skipped with a warning (corrupt ones are skipped when decoded).
 */
import { CANONICAL_CLASSES, DatasetError, ImageDataset, joinPath, resolveClasses, type DataSource, type DatasetItem, type DatasetOptions, type ClassName } from './types.js';

/** RAF-DB label (1-based) → canonical class name. */
export const RAFDB_LABELS: readonly ClassName[] = ['surprise', 'fear', 'disgust', 'happiness', 'sadness', 'anger', 'neutral'];

export interface RafDbOptions extends DatasetOptions {
  /** Use Image/aligned (default) or Image/original. */
  aligned?: boolean;
}

export const RAFDB_LABEL_FILE = 'EmoLabel/list_patition_label.txt';

export async function loadRafDb(root: string, src: DataSource, opts: RafDbOptions = {}): Promise<ImageDataset> {
  const aligned = opts.aligned ?? true;
  const labelFile = joinPath(root, RAFDB_LABEL_FILE);
  const imageDir = joinPath(root, aligned ? 'Image/aligned' : 'Image/original');
  let text: string;
  try {
    text = await src.readText(labelFile);
  } catch (e) {
    throw new DatasetError(`lrdif: RAF-DB: cannot read the label file ${labelFile} (${(e as Error).message}); expected the official layout <root>/${RAFDB_LABEL_FILE}`);
  }
  if (!(await src.isDirectory(imageDir))) {
    throw new DatasetError(`lrdif: RAF-DB: the image folder ${imageDir} does not exist (expected <root>/Image/${aligned ? 'aligned' : 'original'})`);
  }
  const present = new Set((await src.listDir(imageDir)).filter((e) => !e.isDirectory).map((e) => e.name));
  const items: DatasetItem[] = [];
  const missing: string[] = [];
  const seen = new Map<string, number>();
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const line = raw.trim();
    if (line === '') return;
    const m = /^((train|test)_\d+)\.jpg\s+(\S+)$/.exec(line);
    if (!m) {
      throw new DatasetError(`lrdif: RAF-DB: ${labelFile}:${lineNo}: expected '<train|test>_<number>.jpg <label 1..7>', got '${line}'`);
    }
    const [, stem, prefix, labelText] = m;
    const label = Number(labelText);
    if (!Number.isInteger(label) || label < 1 || label > 7) {
      throw new DatasetError(`lrdif: RAF-DB: ${labelFile}:${lineNo}: label must be an integer 1..7, got '${labelText}'`);
    }
    const prev = seen.get(stem);
    if (prev !== undefined) throw new DatasetError(`lrdif: RAF-DB: ${labelFile}:${lineNo}: ${stem}.jpg is listed twice (first at line ${prev})`);
    seen.set(stem, lineNo);
    const file = aligned ? `${stem}_aligned.jpg` : `${stem}.jpg`;
    const path = joinPath(imageDir, file);
    if (!present.has(file)) {
      missing.push(path);
      return;
    }
    items.push({
      id: `${stem}.jpg`,
      label: CANONICAL_CLASSES.indexOf(RAFDB_LABELS[label - 1]),
      split: prefix === 'train' ? 'train' : 'test',
      source: { kind: 'file', path },
      meta: { rafLabel: label },
    });
  });
  const firstLine = new Map<number, number>();
  for (const it of items) if (!firstLine.has(it.label)) firstLine.set(it.label, seen.get(it.id.replace(/\.jpg$/, ''))!);
  const { classNames, labels } = resolveClasses(
    'RAF-DB',
    items.map((it) => it.label),
    opts.classes,
    (c) => `${labelFile} (line ${firstLine.get(c)})`,
  );
  items.forEach((it, i) => (it.label = labels[i]));
  const ds = new ImageDataset('RAF-DB', classNames, items, src, opts);
  for (const p of missing) ds.skip(p, `listed in ${labelFile} but the file does not exist`);
  return ds;
}
