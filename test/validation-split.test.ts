import { describe, expect, it } from 'vitest';
import { carveValidation, ImageDataset, type DataSource, type DatasetItem } from '../src/data/datasets/index.js';
import { HostRandom } from '../src/data/rng.js';

const noSource = {} as DataSource;
const CLASSES = ['neutral', 'happiness', 'surprise'];

function item(path: string, label: number, split: DatasetItem['split'] = 'train', meta?: DatasetItem['meta']): DatasetItem {
  return { id: path, label, split, source: { kind: 'file', path }, meta };
}

/** A folder dataset whose files name persons: person p has 1–4 images, of one or two classes. */
function personDataset(persons: number, seed = 1): ImageDataset {
  const r = new HostRandom(seed, 7);
  const items: DatasetItem[] = [];
  for (let p = 0; p < persons; p++) {
    const n = 1 + Math.floor(r.uniform() * 4);
    for (let k = 0; k < n; k++) items.push(item(`/d/train/${CLASSES[(p + (k % 2)) % 3]}/Person_${p}_${String(k + 1).padStart(4, '0')}.jpg`, (p + (k % 2)) % 3));
  }
  items.push(item('/d/test/neutral/Someone_Else_0001.jpg', 0, 'test'));
  return new ImageDataset('folder', CLASSES, items, noSource);
}

const personOfPath = (p: string) => /([^/]+)_\d+\.jpg$/.exec(p)![1];

describe('carveValidation', () => {
  it('is person-disjoint when the file names name persons, and near the fraction in each class', () => {
    const ds = personDataset(300);
    const r = carveValidation(ds, { fraction: 0.15, seed: 0 });
    expect(r.by).toBe('person');
    const val = r.dataset.items.filter((it) => it.split === 'val');
    const train = r.dataset.items.filter((it) => it.split === 'train');
    const trainPersons = new Set(train.map((it) => personOfPath(it.id)));
    for (const it of val) expect(trainPersons.has(personOfPath(it.id))).toBe(false);
    expect(val.length + train.length).toBe(ds.items.filter((it) => it.split === 'train').length);
    expect(r.images).toBe(val.length);
    const total = ds.items.filter((it) => it.split === 'train').length;
    expect(Math.abs(val.length / total - 0.15)).toBeLessThan(0.02);
    for (let c = 0; c < 3; c++) {
      const nc = ds.items.filter((it) => it.split === 'train' && it.label === c).length;
      const vc = val.filter((it) => it.label === c).length;
      expect(vc).toBeLessThanOrEqual(Math.round(0.15 * nc) + 1);
      expect(vc / nc).toBeGreaterThan(0.1);
    }
    // the test split is untouched
    expect(r.dataset.items.filter((it) => it.split === 'test').map((it) => it.id)).toEqual(['/d/test/neutral/Someone_Else_0001.jpg']);
  });

  it('is a function of the seed', () => {
    const ds = personDataset(200);
    const ids = (seed: number) =>
      carveValidation(ds, { fraction: 0.2, seed })
        .dataset.items.filter((it) => it.split === 'val')
        .map((it) => it.id);
    expect(ids(3)).toEqual(ids(3));
    expect(ids(3)).not.toEqual(ids(4));
  });

  it('goes image by image when the names do not name persons, stratified by class', () => {
    const items: DatasetItem[] = [];
    for (let i = 0; i < 90; i++) items.push(item(`/s/train/${CLASSES[i % 3]}/${String(i).padStart(3, '0')}.png`, i % 3));
    const r = carveValidation(new ImageDataset('folder', CLASSES, items, noSource), { fraction: 0.2, seed: 0 });
    expect(r.by).toBe('image');
    const val = r.dataset.items.filter((it) => it.split === 'val');
    expect([0, 1, 2].map((c) => val.filter((it) => it.label === c).length)).toEqual([6, 6, 6]);
  });

  it("keeps KDEF's subjects together (both sessions)", () => {
    const items: DatasetItem[] = [];
    for (let s = 0; s < 40; s++) {
      for (const session of ['A', 'B']) for (let c = 0; c < 3; c++) items.push(item(`/k/${session}F${s}/${session}F${s}${c}.JPG`, c, 'train', { subject: `F${s}`, session }));
    }
    const r = carveValidation(new ImageDataset('kdef', CLASSES, items, noSource), { fraction: 0.25, seed: 2 });
    expect(r.by).toBe('person');
    expect(r.groups).toBe(10);
    const valSubjects = new Set(r.dataset.items.filter((it) => it.split === 'val').map((it) => it.meta!.subject));
    for (const it of r.dataset.items.filter((i) => i.split === 'train')) expect(valSubjects.has(it.meta!.subject)).toBe(false);
    expect(r.images).toBe(60);
  });

  it("keeps a dataset's own val split, and refuses a fraction outside (0, 1)", () => {
    const items = [item('/a/train/neutral/1.png', 0), item('/a/val/neutral/2.png', 0, 'val')];
    const ds = new ImageDataset('folder', CLASSES, items, noSource);
    const r = carveValidation(ds, { fraction: 0.5, seed: 0 });
    expect(r.by).toBe('own');
    expect(r.dataset).toBe(ds);
    expect(() => carveValidation(personDataset(10), { fraction: 1, seed: 0 })).toThrow(/fraction must be in \(0, 1\), got 1/);
  });
});
