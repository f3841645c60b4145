/**
 * FERPlus: the FER2013 pixels with Microsoft's relabelling, official files:
 *   fer2013.csv      header "emotion,pixels,Usage"; pixels = 2304 grey values (48×48)
 *   fer2013new.csv   header "Usage,Image name,neutral,happiness,surprise,sadness,anger,
 *                    disgust,fear,contempt,unknown,NF"; one row per fer2013.csv row, same order
 * The label is the majority vote as FERPlus's own reader computes it ('majority' mode):
 * votes ≤ 1 are zeroed (outlier removal), then the largest count wins if it is more than half
 * of the remaining votes; otherwise the row is 'unknown'. Rows whose winner is unknown or NF
 * (not a face), rows without a majority and rows with an empty image name are dropped.
 * The eight vote columns are already the canonical order (classNames: the classes some row's
 * majority gives, in canonical order — all eight in the full set, contempt included — or the
 * `classes` option). Usage: Training → train, PublicTest → val, PrivateTest → test.
 * The original FER2013 `emotion` column is kept in `meta.fer2013Emotion` but not used.
 */
import { DatasetError, ImageDataset, joinPath, resolveClasses, type DataSource, type DatasetItem, type DatasetOptions, type Split } from './types.js';

export const FERPLUS_VOTE_COLUMNS = ['neutral', 'happiness', 'surprise', 'sadness', 'anger', 'disgust', 'fear', 'contempt', 'unknown', 'NF'] as const;
const NEW_HEADER = ['Usage', 'Image name', ...FERPLUS_VOTE_COLUMNS];
const OLD_HEADER = ['emotion', 'pixels', 'Usage'];
const USAGE: Record<string, Split> = { Training: 'train', PublicTest: 'val', PrivateTest: 'test' };
const SIDE = 48;

/**
 * FERPlus majority label of ten vote counts (the columns above): a canonical class 0..7, or
 * null when the row is dropped (no strict majority after zeroing single votes, or the winner
 * is unknown/NF).
 */
export function ferPlusMajority(votes: readonly number[]): number | null {
  if (votes.length !== 10) throw new DatasetError(`lrdif: ferPlusMajority: expected 10 vote counts, got ${votes.length}`);
  const v = votes.map((x) => (x <= 1 ? 0 : x));
  const total = v.reduce((a, b) => a + b, 0);
  let best = 0;
  for (let i = 1; i < 10; i++) if (v[i] > v[best]) best = i;
  if (!(v[best] > 0.5 * total)) return null; // FERPlus marks it unknown
  return best < 8 ? best : null;
}

export interface FerPlusOptions extends DatasetOptions {
  /** Path of fer2013.csv (default <root>/fer2013.csv). */
  fer2013?: string;
  /** Path of fer2013new.csv (default <root>/fer2013new.csv). */
  fer2013new?: string;
}

export interface FerPlusStats {
  rows: number;
  emptyName: number;
  noMajority: number;
  unknownOrNF: number;
}

function checkHeader(file: string, line: string | undefined, expected: string[]): void {
  const got = (line ?? '')
    .replace(/^\uFEFF/, '')
    .split(',')
    .map((s) => s.trim());
  if (got.length !== expected.length || got.some((g, i) => g !== expected[i])) {
    throw new DatasetError(`lrdif: FERPlus: ${file}:1: expected the header '${expected.join(',')}', got '${line ?? '(empty file)'}'`);
  }
}

export async function loadFerPlus(root: string, src: DataSource, opts: FerPlusOptions = {}): Promise<ImageDataset & { stats: FerPlusStats }> {
  const oldFile = opts.fer2013 ?? joinPath(root, 'fer2013.csv');
  const newFile = opts.fer2013new ?? joinPath(root, 'fer2013new.csv');
  // the relabelling file is small (≈2 MB): read it whole; fer2013.csv (≈290 MB) is streamed
  let newText: string;
  try {
    newText = await src.readText(newFile);
  } catch (e) {
    throw new DatasetError(`lrdif: FERPlus: cannot read ${newFile} (${(e as Error).message}); expected FERPlus's fer2013new.csv`);
  }
  const newLines = newText.split(/\r?\n/);
  while (newLines.length > 1 && newLines[newLines.length - 1].trim() === '') newLines.pop();
  checkHeader(newFile, newLines[0], NEW_HEADER);
  const stats: FerPlusStats = { rows: 0, emptyName: 0, noMajority: 0, unknownOrNF: 0 };
  const items: DatasetItem[] = [];
  let lineNo = 0;
  let row = 0;
  let headerSeen = false;
  try {
    for await (const raw of src.lines(oldFile)) {
      lineNo++;
      if (!headerSeen) {
        checkHeader(oldFile, raw, OLD_HEADER);
        headerSeen = true;
        continue;
      }
      if (raw.trim() === '') continue;
      row++;
      const oldCols = raw.split(',');
      if (oldCols.length !== 3) throw new DatasetError(`lrdif: FERPlus: ${oldFile}:${lineNo}: expected 3 columns (emotion,pixels,Usage), got ${oldCols.length}`);
      const newLineNo = row + 1;
      const newRaw = newLines[row];
      if (newRaw === undefined) {
        throw new DatasetError(
          `lrdif: FERPlus: ${oldFile}:${lineNo} has no matching row in ${newFile} (which ends at line ${newLines.length}); the two files must have one row per image, in the same order`,
        );
      }
      const cols = newRaw.split(',');
      if (cols.length !== 12) throw new DatasetError(`lrdif: FERPlus: ${newFile}:${newLineNo}: expected 12 columns (${NEW_HEADER.join(',')}), got ${cols.length}`);
      const usage = cols[0].trim();
      const split = USAGE[usage];
      if (!split) throw new DatasetError(`lrdif: FERPlus: ${newFile}:${newLineNo}: Usage must be Training, PublicTest or PrivateTest, got '${usage}'`);
      const oldUsage = oldCols[2].trim();
      if (oldUsage !== usage) {
        throw new DatasetError(
          `lrdif: FERPlus: ${oldFile}:${lineNo} (Usage '${oldUsage}') and ${newFile}:${newLineNo} (Usage '${usage}') disagree; the files must be in the same order`,
        );
      }
      const votes = cols.slice(2).map((c, k) => {
        const v = Number(c.trim());
        if (c.trim() === '' || !Number.isFinite(v) || v < 0) {
          throw new DatasetError(`lrdif: FERPlus: ${newFile}:${newLineNo}: vote count '${c}' for ${FERPLUS_VOTE_COLUMNS[k]} is not a number ≥ 0`);
        }
        return v;
      });
      stats.rows++;
      const name = cols[1].trim();
      if (name === '') {
        stats.emptyName++;
        continue;
      }
      const label = ferPlusMajority(votes);
      if (label === null) {
        const v = votes.map((x) => (x <= 1 ? 0 : x));
        const total = v.reduce((a, b) => a + b, 0);
        const max = Math.max(...v);
        if (max > 0.5 * total) stats.unknownOrNF++;
        else stats.noMajority++;
        continue;
      }
      const pixText = oldCols[1].trim().split(/\s+/);
      if (pixText.length !== SIDE * SIDE) {
        throw new DatasetError(`lrdif: FERPlus: ${oldFile}:${lineNo}: expected ${SIDE * SIDE} pixel values (48×48), got ${pixText.length}`);
      }
      const data = new Uint8Array(SIDE * SIDE);
      for (let k = 0; k < pixText.length; k++) {
        const v = Number(pixText[k]);
        if (!Number.isInteger(v) || v < 0 || v > 255) {
          throw new DatasetError(`lrdif: FERPlus: ${oldFile}:${lineNo}: pixel ${k} is '${pixText[k]}', not an integer 0..255`);
        }
        data[k] = v;
      }
      items.push({
        id: name,
        label,
        split,
        source: { kind: 'pixels', width: SIDE, height: SIDE, channels: 1, data },
        meta: { row, fer2013Emotion: Number(oldCols[0]) },
      });
    }
  } catch (e) {
    if (e instanceof DatasetError) throw e;
    throw new DatasetError(`lrdif: FERPlus: cannot read ${oldFile} (${(e as Error).message}); expected the FER2013 fer2013.csv`);
  }
  if (!headerSeen) throw new DatasetError(`lrdif: FERPlus: ${oldFile}:1: expected the header '${OLD_HEADER.join(',')}', got an empty file`);
  if (row !== newLines.length - 1) {
    throw new DatasetError(`lrdif: FERPlus: ${oldFile} has ${row} rows but ${newFile} has ${newLines.length - 1}; the two files must have one row per image, in the same order`);
  }
  const { classNames, labels } = resolveClasses(
    'FERPlus',
    items.map((it) => it.label),
    opts.classes,
    (c) => {
      const it = items.find((x) => x.label === c)!;
      return `${newFile} (row ${it.meta!.row}, ${it.id})`;
    },
  );
  items.forEach((it, i) => (it.label = labels[i]));
  const ds = new ImageDataset('FERPlus', classNames, items, src, opts) as ImageDataset & { stats: FerPlusStats };
  ds.stats = stats;
  return ds;
}
