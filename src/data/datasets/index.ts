/** Dataset loaders for the official layouts (platform-independent; Node file access: source-node.ts). */
export * from './types.js';
export { loadRafDb, RAFDB_LABELS, RAFDB_LABEL_FILE, type RafDbOptions } from './rafdb.js';
export { loadFerPlus, ferPlusMajority, FERPLUS_VOTE_COLUMNS, type FerPlusOptions, type FerPlusStats } from './ferplus.js';
export { loadKdef, parseKdefName, KDEF_EXPRESSIONS, KDEF_ANGLES, type KdefOptions, type KdefAngle } from './kdef.js';
export { loadImageFolder, classIndexOfFolder, type FolderOptions } from './folder.js';
export { carveValidation, personOf, type ValidationCarve, type ValidationOptions } from './validation.js';

import type { DataSource, DatasetOptions, ImageDataset } from './types.js';
import { loadRafDb } from './rafdb.js';
import { loadFerPlus } from './ferplus.js';
import { loadKdef } from './kdef.js';
import { loadImageFolder } from './folder.js';
import { carveValidation } from './validation.js';

export type DatasetKind = 'rafdb' | 'ferplus' | 'kdef' | 'folder';
export const DATASET_KINDS: readonly DatasetKind[] = ['rafdb', 'ferplus', 'kdef', 'folder'];

/**
 * Loads a dataset by kind (seed and testFraction apply to KDEF and folder splits). With
 * `valFraction` > 0, a dataset without a val split of its own gets one carved out of train
 * (validation.ts; seeded by `seed`, person-disjoint where the layout names persons).
 */
export async function loadDataset(
  kind: DatasetKind,
  root: string,
  src: DataSource,
  opts: DatasetOptions & { seed?: number; testFraction?: number; valFraction?: number } = {},
): Promise<ImageDataset> {
  const ds = await loadByKind(kind, root, src, opts);
  return opts.valFraction ? carveValidation(ds, { fraction: opts.valFraction, seed: opts.seed ?? 0 }).dataset : ds;
}

function loadByKind(kind: DatasetKind, root: string, src: DataSource, opts: DatasetOptions & { seed?: number; testFraction?: number }): Promise<ImageDataset> {
  switch (kind) {
    case 'rafdb':
      return loadRafDb(root, src, opts);
    case 'ferplus':
      return loadFerPlus(root, src, opts);
    case 'kdef':
      return loadKdef(root, src, opts);
    case 'folder':
      return loadImageFolder(root, src, opts);
    default:
      throw new Error(`lrdif: unknown dataset kind '${String(kind)}' (expected ${DATASET_KINDS.join(', ')})`);
  }
}
