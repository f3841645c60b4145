/**
 * Class-per-folder trees (the common layout for everything else):
 *   <root>/<class>/<image>.{jpg,jpeg,png}                       seeded stratified split
 *   <root>/train/<class>/…, <root>/test/<class>/…, <root>/val/<class>/… (any of them)
 * Class folder names map to the canonical classes case-insensitively, through these aliases:
 *   neutral: neutral, calm, ne · happiness: happiness, happy, joy, ha ·
 *   surprise: surprise, surprised, su · sadness: sadness, sad, sa · anger: anger, angry, an ·
 *   disgust: disgust, disgusted, di · fear: fear, fearful, afraid, scared, af ·
 *   contempt: contempt, co
 * classNames are the classes whose folders hold images, in canonical order (or the `classes`
 * option); fewer than two is an error. Another folder name is an error naming it, and so are two
 * folders of one class in the same place (happy/ and happiness/: their images would merge
 * silently, duplicates could sit in both splits). Without train/, val/ or test/ folders, each
 * class's images (sorted by name) are shuffled by the seed and round(testFraction · n) of
 * them go to test.
 */
import { HostRandom } from '../rng.js';
import {
  CANONICAL_CLASSES,
  DatasetError,
  ImageDataset,
  isImageFileName,
  joinPath,
  resolveClasses,
  type ClassName,
  type DataSource,
  type DatasetItem,
  type DatasetOptions,
  type Split,
} from './types.js';

const ALIASES: Record<ClassName, string[]> = {
  neutral: ['neutral', 'calm', 'ne'],
  happiness: ['happiness', 'happy', 'joy', 'ha'],
  surprise: ['surprise', 'surprised', 'su'],
  sadness: ['sadness', 'sad', 'sa'],
  anger: ['anger', 'angry', 'an'],
  disgust: ['disgust', 'disgusted', 'di'],
  fear: ['fear', 'fearful', 'afraid', 'scared', 'af'],
  contempt: ['contempt', 'co'],
};

/** Canonical class index of a folder name, or -1. */
export function classIndexOfFolder(name: string): number {
  const n = name.trim().toLowerCase();
  return CANONICAL_CLASSES.findIndex((c) => ALIASES[c].includes(n));
}

export interface FolderOptions extends DatasetOptions {
  /** Seed of the stratified split (default 0). */
  seed?: number;
  /** Fraction of each class in the test split when there are no train/ and test/ folders (default 0.2). */
  testFraction?: number;
  /** Dataset name (default 'folder'). */
  name?: string;
}

const SPLIT_DIRS: Record<string, Split> = { train: 'train', val: 'val', test: 'test' };

function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

async function readClassFolders(src: DataSource, dir: string): Promise<Array<{ label: number; folder: string; files: string[] }>> {
  const entries = [...(await src.listDir(dir))].filter((e) => e.isDirectory && !e.name.startsWith('.')).sort(byName);
  const out: Array<{ label: number; folder: string; files: string[] }> = [];
  const seen = new Map<number, string>();
  for (const e of entries) {
    const label = classIndexOfFolder(e.name);
    if (label < 0) {
      const accepted = CANONICAL_CLASSES.map((c) => `${c} (${ALIASES[c].slice(1).join(', ')})`).join('; ');
      throw new DatasetError(`lrdif: image folder: ${joinPath(dir, e.name)}: '${e.name}' is not a known class; folder names may be: ${accepted}`);
    }
    const sub = joinPath(dir, e.name);
    const other = seen.get(label);
    if (other !== undefined) {
      throw new DatasetError(
        `lrdif: image folder: ${other} and ${sub} both mean the class '${CANONICAL_CLASSES[label]}'; keep one folder per class (merge them, removing duplicates)`,
      );
    }
    seen.set(label, sub);
    const files = [...(await src.listDir(sub))]
      .filter((f) => !f.isDirectory && isImageFileName(f.name))
      .sort(byName)
      .map((f) => joinPath(sub, f.name));
    out.push({ label, folder: sub, files });
  }
  return out;
}

export async function loadImageFolder(root: string, src: DataSource, opts: FolderOptions = {}): Promise<ImageDataset> {
  const seed = opts.seed ?? 0;
  const testFraction = opts.testFraction ?? 0.2;
  if (!(testFraction >= 0 && testFraction <= 1)) throw new DatasetError(`lrdif: image folder: testFraction must be in [0, 1], got ${testFraction}`);
  if (!(await src.isDirectory(root))) throw new DatasetError(`lrdif: image folder: ${root} does not exist or is not a folder`);
  const top = (await src.listDir(root)).filter((e) => e.isDirectory).map((e) => e.name);
  // labels are canonical indices until the label set is known (resolveClasses, below)
  const items: DatasetItem[] = [];
  const folderOf = new Map<number, string>();
  const push = (label: number, path: string, split: Split) => items.push({ id: path, label, split, source: { kind: 'file', path } });
  const classFolders = async (dir: string) => {
    const found = await readClassFolders(src, dir);
    for (const f of found) if (f.files.length && !folderOf.has(f.label)) folderOf.set(f.label, f.folder);
    return found;
  };
  if (top.some((d) => d === 'train' || d === 'val' || d === 'test')) {
    // a split tree: whichever of train/, val/ and test/ exist
    for (const name of ['train', 'val', 'test']) {
      if (!top.includes(name)) continue;
      for (const { label, files } of await classFolders(joinPath(root, name))) for (const f of files) push(label, f, SPLIT_DIRS[name]);
    }
  } else {
    for (const { label, files } of await classFolders(root)) {
      const order = new HostRandom(seed, 0x464f4c44 /* 'FOLD' */ + label).shuffle(files.map((_, i) => i));
      const nTest = Math.round(files.length * testFraction);
      const test = new Set(order.slice(0, nTest));
      files.forEach((f, i) => push(label, f, test.has(i) ? 'test' : 'train'));
    }
  }
  if (items.length === 0) throw new DatasetError(`lrdif: image folder: no .jpg/.jpeg/.png images in class folders under ${root}`);
  const { classNames, labels } = resolveClasses(
    `image folder ${root}`,
    items.map((it) => it.label),
    opts.classes,
    (c) => folderOf.get(c) ?? root,
  );
  items.forEach((it, i) => (it.label = labels[i]));
  return new ImageDataset(opts.name ?? 'folder', classNames, items, src, opts);
}
