/**
 * The validation split: carved out of the training split (seeded) when a dataset has no `val`
 * split of its own, so that checkpoints and settings are chosen on it and the test split is
 * evaluated once, at the end.
 *
 * Person-disjoint where the layout names persons, so a face seen in training never scores the
 * model's choice: KDEF's subject (`meta.subject`, both sessions together), and class folders whose
 * training files are named `<person>_<number>.<ext>` (as `faces-real` and LFW-style sets are).
 * Otherwise image by image. Either way stratified: each class gives about `fraction` of its
 * training images (whole persons are taken in a seeded order while they fit every class's quota;
 * then a class still short takes the person that brings it closest).
 */
import { HostRandom } from '../rng.js';
import { DatasetError, ImageDataset, type DatasetItem } from './types.js';

export interface ValidationOptions {
  /** Share of the training images moved to `val` (0 < fraction < 1). */
  fraction: number;
  /** Seed of the choice. */
  seed: number;
}

export interface ValidationCarve {
  dataset: ImageDataset;
  /** 'own': the dataset has its own val split (nothing was carved). */
  by: 'person' | 'image' | 'own';
  /** Persons (or images) moved to val. */
  groups: number;
  images: number;
}

const PERSON_FILE = /^(.+)_\d+\.[A-Za-z0-9]+$/;

function baseName(path: string): string {
  const i = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return path.slice(i + 1);
}

/** The person an item shows, or null when its layout does not say. */
export function personOf(item: DatasetItem, namedFiles: boolean): string | null {
  const subject = item.meta?.subject;
  if (subject !== undefined) return String(subject);
  if (!namedFiles || item.source.kind !== 'file') return null;
  const m = PERSON_FILE.exec(baseName(item.source.path));
  return m ? m[1] : `file:${item.source.path}`;
}

/**
 * Whether the training files name persons: at least 90 % of them are named
 * `<person>_<number>.<ext>` and some person has several (a stray name is a person of its own).
 */
function filesNamePersons(train: readonly DatasetItem[]): boolean {
  const persons = new Set<string>();
  let named = 0;
  let files = 0;
  for (const it of train) {
    if (it.source.kind !== 'file') continue;
    files++;
    const m = PERSON_FILE.exec(baseName(it.source.path));
    if (!m) continue;
    named++;
    persons.add(m[1]);
  }
  return files > 0 && named >= 0.9 * files && persons.size < named;
}

/**
 * Moves about `fraction` of the training split to a new `val` split. A dataset that already has a
 * val split is returned as it is.
 */
export function carveValidation(ds: ImageDataset, o: ValidationOptions): ValidationCarve {
  if (ds.items.some((it) => it.split === 'val')) return { dataset: ds, by: 'own', groups: 0, images: ds.items.filter((it) => it.split === 'val').length };
  if (!(o.fraction > 0 && o.fraction < 1)) throw new DatasetError(`lrdif: validation split: the fraction must be in (0, 1), got ${o.fraction}`);
  const train = ds.items.filter((it) => it.split === 'train');
  const named = filesNamePersons(train);
  const groups = new Map<string, DatasetItem[]>();
  let byPerson = true;
  for (const it of train) {
    const p = personOf(it, named);
    if (p === null) {
      byPerson = false;
      break;
    }
    const g = groups.get(p);
    if (g) g.push(it);
    else groups.set(p, [it]);
  }
  if (!byPerson) {
    groups.clear();
    for (const it of train) groups.set(it.id, [it]);
  }
  // quotas per class; a group joins val while it fits every class it holds
  const perClass = new Array<number>(ds.numClasses).fill(0);
  for (const it of train) perClass[it.label]++;
  const quota = perClass.map((n) => o.fraction * n);
  const taken = new Array<number>(ds.numClasses).fill(0);
  const keys = [...groups.keys()].sort();
  new HostRandom(o.seed, 0x56414c49 /* 'VALI' */).shuffle(keys);
  const val = new Set<DatasetItem>();
  let nGroups = 0;
  const target = o.fraction * train.length;
  for (const k of keys) {
    if (val.size >= target) break;
    const g = groups.get(k)!;
    const add = new Array<number>(ds.numClasses).fill(0);
    for (const it of g) add[it.label]++;
    // half an image of slack rounds each quota to the nearest whole image
    if (add.some((a, c) => a > 0 && taken[c] + a > quota[c] + 0.5)) continue;
    for (const it of g) val.add(it);
    add.forEach((a, c) => (taken[c] += a));
    nGroups++;
  }
  // a class still short of its quota (its persons hold many images each) takes the remaining
  // group that brings it closest to the quota, while that gets closer
  for (let c = 0; c < ds.numClasses; c++) {
    for (;;) {
      const deficit = quota[c] - taken[c];
      if (deficit <= 0.5) break;
      let bestKey: string | null = null;
      let bestScore = Infinity;
      for (const k of keys) {
        const g = groups.get(k)!;
        if (val.has(g[0])) continue;
        const inClass = g.filter((it) => it.label === c).length;
        const after = Math.abs(deficit - inClass);
        if (inClass === 0 || after >= deficit) continue;
        // closer to the quota, with fewer images of other classes taken along
        const score = after + 0.5 * (g.length - inClass);
        if (score < bestScore) {
          bestScore = score;
          bestKey = k;
        }
      }
      if (bestKey === null) break;
      for (const it of groups.get(bestKey)!) {
        val.add(it);
        taken[it.label]++;
      }
      nGroups++;
    }
  }
  const items = ds.items.map((it) => (val.has(it) ? { ...it, split: 'val' as const } : it));
  return { dataset: ds.withItems(items), by: byPerson ? 'person' : 'image', groups: nGroups, images: val.size };
}
