/**
 * KDEF (Karolinska Directed Emotional Faces): image files named like AF01ANFL.JPG, usually in
 * one folder per session and subject (KDEF/AF01/AF01ANFL.JPG); any folder depth is read.
 *   [0] session A/B, [1] gender F/M, [2-3] subject 01–35,
 *   [4-5] expression AF (afraid), AN (angry), DI (disgusted), HA (happy), NE (neutral),
 *         SA (sad), SU (surprised),
 *   [6-7] angle FL (full left), HL (half left), S (straight), HR (half right), FR (full right).
 * Expressions map to the canonical classes NE → neutral, HA → happiness, SU → surprise,
 * SA → sadness, AN → anger, DI → disgust, AF → fear (classNames: the classes with images, in
 * canonical order — all seven in the full set — or the `classes` option).
 * Split: subject-disjoint, seeded: the subjects (gender + id, e.g. F01; both sessions of a
 * subject stay together) are shuffled by the seed and the first round(20 %) go to test.
 * Image files whose names do not follow the pattern are skipped with a warning.
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
} from './types.js';

export const KDEF_EXPRESSIONS: Record<string, ClassName> = {
  NE: 'neutral',
  HA: 'happiness',
  SU: 'surprise',
  SA: 'sadness',
  AN: 'anger',
  DI: 'disgust',
  AF: 'fear',
};
export const KDEF_ANGLES = ['FL', 'HL', 'S', 'HR', 'FR'] as const;
export type KdefAngle = (typeof KDEF_ANGLES)[number];

const NAME = /^([AB])([FM])(\d{2})(AF|AN|DI|HA|NE|SA|SU)(FL|HL|S|HR|FR)\.(jpe?g|png)$/i;

export interface KdefOptions extends DatasetOptions {
  /** Seed of the subject split (default 0). */
  seed?: number;
  /** Fraction of subjects in the test split (default 0.2). */
  testFraction?: number;
  /** Keep only these camera angles (default all five). */
  angles?: readonly KdefAngle[];
}

/** Parses a KDEF file name, or returns null when it does not follow the pattern. */
export function parseKdefName(name: string): { session: string; gender: string; id: number; subject: string; expression: string; angle: KdefAngle } | null {
  const m = NAME.exec(name);
  if (!m) return null;
  const id = Number(m[3]);
  if (id < 1 || id > 99) return null;
  const gender = m[2].toUpperCase();
  return { session: m[1].toUpperCase(), gender, id, subject: `${gender}${m[3]}`, expression: m[4].toUpperCase(), angle: m[5].toUpperCase() as KdefAngle };
}

async function walk(src: DataSource, dir: string, depth: number, out: string[]): Promise<void> {
  const entries = [...(await src.listDir(dir))].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = joinPath(dir, e.name);
    if (e.isDirectory) {
      if (depth < 4) await walk(src, p, depth + 1, out);
    } else out.push(p);
  }
}

export async function loadKdef(root: string, src: DataSource, opts: KdefOptions = {}): Promise<ImageDataset> {
  const seed = opts.seed ?? 0;
  const testFraction = opts.testFraction ?? 0.2;
  if (!(testFraction >= 0 && testFraction <= 1)) throw new DatasetError(`lrdif: KDEF: testFraction must be in [0, 1], got ${testFraction}`);
  const angles = new Set<string>(opts.angles ?? KDEF_ANGLES);
  for (const a of angles) {
    if (!(KDEF_ANGLES as readonly string[]).includes(a)) throw new DatasetError(`lrdif: KDEF: unknown angle '${a}' (expected ${KDEF_ANGLES.join(', ')})`);
  }
  if (!(await src.isDirectory(root))) throw new DatasetError(`lrdif: KDEF: the folder ${root} does not exist`);
  const files: string[] = [];
  await walk(src, root, 0, files);
  const bad: string[] = [];
  const parsed: Array<{ path: string; info: NonNullable<ReturnType<typeof parseKdefName>> }> = [];
  for (const path of files) {
    const base = path.slice(path.lastIndexOf('/') + 1);
    if (!isImageFileName(base)) continue;
    const info = parseKdefName(base);
    if (!info) {
      bad.push(path);
      continue;
    }
    if (angles.has(info.angle)) parsed.push({ path, info });
  }
  if (parsed.length === 0) {
    throw new DatasetError(`lrdif: KDEF: no images named like AF01ANFL.JPG under ${root}${angles.size < 5 ? ` with angles ${[...angles].join(', ')}` : ''}`);
  }
  const subjects = [...new Set(parsed.map((p) => p.info.subject))].sort();
  new HostRandom(seed, 0x4b444546 /* 'KDEF' */).shuffle(subjects);
  const nTest = Math.round(subjects.length * testFraction);
  const testSubjects = new Set(subjects.slice(0, nTest));
  const items: DatasetItem[] = parsed.map(({ path, info }) => ({
    id: path,
    label: CANONICAL_CLASSES.indexOf(KDEF_EXPRESSIONS[info.expression]),
    split: testSubjects.has(info.subject) ? 'test' : 'train',
    source: { kind: 'file', path },
    meta: { session: info.session, subject: info.subject, angle: info.angle, expression: info.expression },
  }));
  const { classNames, labels } = resolveClasses(
    `KDEF ${root}`,
    items.map((it) => it.label),
    opts.classes,
    (c) => items.find((it) => it.label === c)!.id,
  );
  items.forEach((it, i) => (it.label = labels[i]));
  const ds = new ImageDataset('KDEF', classNames, items, src, opts);
  for (const p of bad) ds.skip(p, 'the name does not follow the KDEF pattern <A|B><F|M><01-35><AF|AN|DI|HA|NE|SA|SU><FL|HL|S|HR|FR>.JPG');
  return ds;
}
