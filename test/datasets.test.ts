import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rng } from './helpers/ref.js';
import { encodePng, encodeJpeg } from '../src/io/image-node.js';
import type { RgbImage } from '../src/io/image.js';
import {
  CANONICAL_CLASSES,
  loadRafDb,
  loadFerPlus,
  loadKdef,
  loadImageFolder,
  ferPlusMajority,
  parseKdefName,
  classIndexOfFolder,
  type ImageDataset,
} from '../src/data/datasets/index.js';
import { nodeDataSource } from '../src/data/datasets/source-node.js';
import { HostRandom, permutation } from '../src/data/rng.js';

const src = nodeDataSource();
let root: string;

function image(w: number, h: number, seed: number): RgbImage {
  const r = rng(seed);
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)) };
}

function write(path: string, data: string | Uint8Array): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
}

function collectWarnings(): { warn: (m: string) => void; messages: string[] } {
  const messages: string[] = [];
  return { warn: (m) => messages.push(m), messages };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'lrdif-datasets-'));
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('host random streams', () => {
  it('are reproducible, differ between seeds and streams, and shuffle into permutations', () => {
    const a = new HostRandom(5, 1);
    const b = new HostRandom(5, 1);
    const xs = Array.from({ length: 10 }, () => a.nextU32());
    expect(Array.from({ length: 10 }, () => b.nextU32())).toEqual(xs);
    expect(Array.from({ length: 10 }, () => new HostRandom(5, 2).nextU32())[0]).not.toBe(xs[0]);
    expect(new HostRandom(6, 1).nextU32()).not.toBe(xs[0]);
    const p = permutation(50, 3, 7);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(permutation(50, 3, 7)).toEqual(p);
    expect(permutation(50, 3, 8)).not.toEqual(p);
    // below(n) is uniform: counts of 6000 draws in 6 bins within 5 sigma
    const r = new HostRandom(1);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[r.below(6)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(5 * Math.sqrt(1000 * (5 / 6)));
  });
});

describe('RAF-DB', () => {
  let dir: string;
  const lines = ['train_00001.jpg 5', 'train_00002.jpg 4', 'train_00003.jpg 1', 'train_00004.jpg 7', 'test_0001.jpg 2', 'test_0002.jpg 6', 'test_0003.jpg 3', 'train_00005.jpg 4'];

  beforeAll(() => {
    dir = join(root, 'rafdb');
    write(join(dir, 'EmoLabel', 'list_patition_label.txt'), lines.join('\r\n') + '\n\n');
    lines.forEach((l, i) => {
      const stem = l.split('.')[0];
      if (stem === 'train_00005') return; // listed but missing
      const bytes = stem === 'test_0003' ? new Uint8Array([0xff, 0xd8, 0xff, 0, 1, 2, 3]) : encodeJpeg(image(10, 10, i), 90);
      write(join(dir, 'Image', 'aligned', `${stem}_aligned.jpg`), bytes);
    });
  });

  it('reads items, maps RAF-DB labels to the canonical classes, splits by prefix, skips missing and corrupt images', async () => {
    const w = collectWarnings();
    const ds = await loadRafDb(dir, src, { warn: w.warn });
    // every RAF-DB label occurs: all seven basic classes, canonical order
    expect(ds.classNames).toEqual(CANONICAL_CLASSES.slice(0, 7));
    // RAF-DB 1..7 = surprise, fear, disgust, happiness, sadness, anger, neutral
    const byId = Object.fromEntries(ds.items.map((it) => [it.id, ds.classNames[it.label]]));
    expect(byId).toEqual({
      'train_00001.jpg': 'sadness',
      'train_00002.jpg': 'happiness',
      'train_00003.jpg': 'surprise',
      'train_00004.jpg': 'neutral',
      'test_0001.jpg': 'fear',
      'test_0002.jpg': 'anger',
      'test_0003.jpg': 'disgust',
    });
    expect(ds.split('train').items.map((it) => it.id)).toEqual(['train_00001.jpg', 'train_00002.jpg', 'train_00003.jpg', 'train_00004.jpg']);
    expect(ds.split('test').length).toBe(3);
    expect(ds.items[0].source).toEqual({ kind: 'file', path: `${dir}/Image/aligned/train_00001_aligned.jpg` });
    expect(ds.skipped).toEqual([{ path: `${dir}/Image/aligned/train_00005_aligned.jpg`, reason: expect.stringMatching(/does not exist/) }]);
    const img = await ds.load(0);
    expect(img && [img.width, img.height]).toEqual([10, 10]);
    // the corrupt one: null, one warning naming it, counted once even if loaded again
    const test = ds.split('test');
    const corrupt = test.items.findIndex((it) => it.id === 'test_0003.jpg');
    expect(await test.load(corrupt)).toBeNull();
    expect(await test.load(corrupt)).toBeNull();
    expect(ds.skipped.length).toBe(2);
    expect(ds.skipped[1].path).toMatch(/test_0003_aligned\.jpg$/);
    expect(ds.skipped[1].reason).toMatch(/corrupt/);
    expect(w.messages.length).toBe(2);
    expect(w.messages[1]).toContain('test_0003_aligned.jpg');
  });

  it('a malformed label line is an error naming the file and the line', async () => {
    const bad = join(root, 'rafdb-bad');
    write(join(bad, 'Image', 'aligned', 'x.jpg'), '');
    write(join(bad, 'EmoLabel', 'list_patition_label.txt'), 'train_00001.jpg 5\n\ntrain_00002.jpg\n');
    await expect(loadRafDb(bad, src)).rejects.toThrow(/list_patition_label\.txt:3: expected '<train\|test>_<number>\.jpg <label 1\.\.7>', got 'train_00002\.jpg'/);
    write(join(bad, 'EmoLabel', 'list_patition_label.txt'), 'train_00001.jpg 5\ntest_0001.jpg 8\n');
    await expect(loadRafDb(bad, src)).rejects.toThrow(/list_patition_label\.txt:2: label must be an integer 1\.\.7, got '8'/);
    write(join(bad, 'EmoLabel', 'list_patition_label.txt'), 'train_00001.jpg 5\ntrain_00001.jpg 4\n');
    await expect(loadRafDb(bad, src)).rejects.toThrow(/:2: train_00001\.jpg is listed twice \(first at line 1\)/);
    await expect(loadRafDb(join(root, 'nowhere'), src)).rejects.toThrow(/cannot read the label file .*nowhere\/EmoLabel\/list_patition_label\.txt/);
  });
});

/** An independent reading of FERPlus's majority rule: drop single votes, the top count must beat the rest combined. */
function referenceMajority(votes: number[]): number | null {
  const kept = votes.map((v, i) => ({ v: v > 1 ? v : 0, i }));
  const sorted = [...kept].sort((a, b) => b.v - a.v || a.i - b.i);
  const top = sorted[0];
  const rest = sorted.slice(1).reduce((s, e) => s + e.v, 0);
  if (top.v === 0 || top.v <= rest) return null;
  return top.i <= 7 ? top.i : null; // 8 unknown, 9 NF
}

describe('FERPlus', () => {
  const NEW_HEADER = 'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF';
  // [Usage, name, votes]
  const rows: Array<[string, string, number[]]> = [
    ['Training', 'fer0000000.png', [4, 0, 0, 1, 3, 2, 0, 0, 0, 0]], // 4 of 9 after dropping the single → no majority
    ['Training', 'fer0000001.png', [6, 0, 0, 1, 0, 0, 0, 0, 3, 0]], // 6 of 9 → neutral
    ['Training', 'fer0000002.png', [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]], // happiness
    ['Training', '', [0, 10, 0, 0, 0, 0, 0, 0, 0, 0]], // empty name → dropped
    ['PublicTest', 'fer0000004.png', [0, 0, 1, 1, 1, 1, 1, 1, 4, 0]], // unknown majority after zeroing singles → dropped
    ['PublicTest', 'fer0000005.png', [0, 0, 0, 0, 0, 0, 0, 2, 0, 8]], // NF → dropped
    ['PrivateTest', 'fer0000006.png', [1, 1, 1, 1, 1, 0, 0, 5, 1, 0]], // contempt (5 of 5 after zeroing)
    ['PrivateTest', 'fer0000007.png', [0, 0, 5, 0, 0, 0, 5, 0, 0, 0]], // tie → no majority
    ['PrivateTest', 'fer0000008.png', [0, 0, 0, 0, 0, 0, 7, 0, 2, 1]], // fear (7 of 9 after zeroing)
  ];
  let dir: string;
  const pixels = (seed: number, n = 2304) => {
    const r = rng(seed);
    return Array.from({ length: n }, () => Math.floor(r() * 256));
  };

  function writeFiles(d: string, opts: { pixelCount?: (i: number) => number; dropLastNew?: boolean } = {}) {
    const old = ['emotion,pixels,Usage', ...rows.map(([u], i) => `${i % 7},${pixels(i, opts.pixelCount?.(i) ?? 2304).join(' ')},${u}`)];
    const neu = [NEW_HEADER, ...(opts.dropLastNew ? rows.slice(0, -1) : rows).map(([u, n, v]) => `${u},${n},${v.join(',')}`)];
    write(join(d, 'fer2013.csv'), old.join('\n') + '\n');
    write(join(d, 'fer2013new.csv'), neu.join('\r\n') + '\r\n');
  }

  beforeAll(() => {
    dir = join(root, 'ferplus');
    writeFiles(dir);
  });

  it('the majority rule agrees with an independent reference on the cases above and on random votes', () => {
    for (const [, , v] of rows) expect(ferPlusMajority(v)).toBe(referenceMajority(v));
    const r = new HostRandom(11);
    let kept = 0;
    for (let k = 0; k < 3000; k++) {
      const v = Array.from({ length: 10 }, () => (r.uniform() < 0.5 ? 0 : r.below(k % 3 === 0 ? 3 : 8)));
      const got = ferPlusMajority(v);
      expect(got, `votes ${v.join(',')}`).toBe(referenceMajority(v));
      if (got !== null) kept++;
    }
    expect(kept).toBeGreaterThan(300); // both outcomes are exercised
    expect(kept).toBeLessThan(2700);
  });

  it('reads both CSVs, keeps majority rows with their classes and Training/PublicTest/PrivateTest splits', async () => {
    const ds = await loadFerPlus(dir, src);
    // the classes some row's majority gives, canonical order
    expect(ds.classNames).toEqual(['neutral', 'happiness', 'fear', 'contempt']);
    expect(ds.items.map((it) => [it.id, ds.classNames[it.label], it.split])).toEqual([
      ['fer0000001.png', 'neutral', 'train'],
      ['fer0000002.png', 'happiness', 'train'],
      ['fer0000006.png', 'contempt', 'test'],
      ['fer0000008.png', 'fear', 'test'],
    ]);
    expect(ds.stats).toEqual({ rows: 9, emptyName: 1, noMajority: 2, unknownOrNF: 2 }); // rows 0 and 7; rows 4 and 5
    // the pixels of row 2 (0-based data row index 2), grey → RGB
    const img = await ds.load(1);
    const want = pixels(2);
    expect(img!.width).toBe(48);
    expect(Array.from(img!.data.slice(0, 9))).toEqual([want[0], want[0], want[0], want[1], want[1], want[1], want[2], want[2], want[2]]);
    expect(img!.data[3 * 2303]).toBe(want[2303]);
  });

  it('errors name the file and the line', async () => {
    const bad = join(root, 'ferplus-bad');
    writeFiles(bad, { pixelCount: (i) => (i === 2 ? 2303 : 2304) });
    await expect(loadFerPlus(bad, src)).rejects.toThrow(/fer2013\.csv:4: expected 2304 pixel values \(48×48\), got 2303/);
    writeFiles(bad, { dropLastNew: true });
    await expect(loadFerPlus(bad, src)).rejects.toThrow(/fer2013\.csv:10 has no matching row in .*fer2013new\.csv/);
    writeFiles(bad);
    write(join(bad, 'fer2013new.csv'), `Usage,Image name,neutral\nTraining,a.png,1\n`);
    await expect(loadFerPlus(bad, src)).rejects.toThrow(/fer2013new\.csv:1: expected the header 'Usage,Image name,neutral,happiness/);
    write(join(bad, 'fer2013new.csv'), [NEW_HEADER, ...rows.map(([u, n, v], i) => `${u},${n},${i === 4 ? 'x' : v[0]},${v.slice(1).join(',')}`)].join('\n'));
    await expect(loadFerPlus(bad, src)).rejects.toThrow(/fer2013new\.csv:6: vote count 'x' for neutral is not a number/);
  });
});

describe('KDEF', () => {
  let dir: string;
  const expressions = ['AF', 'AN', 'DI', 'HA', 'NE', 'SA', 'SU'];
  const subjects = ['F01', 'F02', 'F03', 'F04', 'F05', 'M01', 'M02', 'M03', 'M04', 'M05'];

  beforeAll(() => {
    dir = join(root, 'KDEF');
    let k = 0;
    for (const session of ['A', 'B'])
      for (const s of subjects)
        for (const e of expressions)
          for (const angle of ['S', 'HL']) {
            const name = `${session}${s}${e}${angle}.JPG`;
            write(join(dir, `${session}${s}`, name), encodePng(image(3, 3, k++)));
          }
    write(join(dir, 'AF01', 'AF01XXS.JPG'), encodePng(image(3, 3, 0))); // misnamed
    write(join(dir, 'AF01', 'notes.txt'), 'not an image');
  });

  it('parses names, maps expressions, and splits subject-disjoint 80/20 by seed', async () => {
    expect(parseKdefName('AF01ANFL.JPG')).toEqual({ session: 'A', gender: 'F', id: 1, subject: 'F01', expression: 'AN', angle: 'FL' });
    expect(parseKdefName('BM35SUS.jpg')?.angle).toBe('S');
    expect(parseKdefName('AF01ANXX.JPG')).toBeNull();
    const w = collectWarnings();
    const ds = await loadKdef(dir, src, { seed: 1, warn: w.warn });
    expect(ds.classNames).toEqual(CANONICAL_CLASSES.slice(0, 7));
    expect(ds.length).toBe(2 * 10 * 7 * 2);
    expect(ds.skipped.map((s) => s.path)).toEqual([`${dir}/AF01/AF01XXS.JPG`]);
    expect(w.messages[0]).toContain('AF01XXS.JPG');
    const label = (code: string) => ds.items.find((it) => it.meta?.expression === code)!.label;
    expect(expressions.map((e) => ds.classNames[label(e)])).toEqual(['fear', 'anger', 'disgust', 'happiness', 'neutral', 'sadness', 'surprise']);
    const testSubjects = new Set(ds.split('test').items.map((it) => it.meta!.subject));
    const trainSubjects = new Set(ds.split('train').items.map((it) => it.meta!.subject));
    expect(testSubjects.size).toBe(2);
    expect(trainSubjects.size).toBe(8);
    for (const s of testSubjects) expect(trainSubjects.has(s)).toBe(false);
    // both sessions of a subject together; every class in both splits
    expect(ds.split('test').length).toBe(2 * 2 * 7 * 2);
    expect(ds.split('test').classCounts()).toEqual(new Array(7).fill(8));
    // same seed, same split; other seeds give other splits
    const again = await loadKdef(dir, src, { seed: 1, warn: () => {} });
    expect(again.items.map((it) => it.split)).toEqual(ds.items.map((it) => it.split));
    const others = new Set<string>();
    for (let s = 2; s < 8; s++) {
      const o = await loadKdef(dir, src, { seed: s, warn: () => {} });
      others.add([...new Set(o.split('test').items.map((it) => String(it.meta!.subject)))].sort().join(','));
    }
    expect(others.size).toBeGreaterThan(1);
    const frontal = await loadKdef(dir, src, { seed: 1, angles: ['S'], warn: () => {} });
    expect(frontal.length).toBe(140);
    expect(frontal.items.every((it) => it.meta!.angle === 'S')).toBe(true);
    await expect(loadKdef(dir, src, { angles: ['XX' as never] })).rejects.toThrow(/unknown angle 'XX'/);
  });
});

describe('image folders', () => {
  it('flat class folders: aliases, seeded stratified split, the classes present in canonical order', async () => {
    const dir = join(root, 'flat');
    const classes: Array<[string, number]> = [
      ['Happy', 10],
      ['sad', 7],
      ['angry', 5],
      ['neutral', 1],
    ];
    let k = 0;
    for (const [c, n] of classes) for (let i = 0; i < n; i++) write(join(dir, c, `img${String(i).padStart(2, '0')}.png`), encodePng(image(2, 2, k++)));
    write(join(dir, 'sad', 'readme.txt'), 'ignored');
    write(join(dir, 'synthetic.json'), '{}');
    const ds = await loadImageFolder(dir, src, { seed: 4, testFraction: 0.2 });
    expect(ds.classNames).toEqual(['neutral', 'happiness', 'sadness', 'anger']);
    expect(ds.classCounts()).toEqual([1, 10, 7, 5]);
    // round(0.2 · n) per class: 10 → 2, 7 → 1, 5 → 1, 1 → 0
    expect(ds.split('test').classCounts()).toEqual([0, 2, 1, 1]);
    expect((await loadImageFolder(dir, src, { seed: 4 })).items).toEqual(ds.items);
    const splits = new Set<string>();
    for (let s = 0; s < 6; s++)
      splits.add(
        (await loadImageFolder(dir, src, { seed: s }))
          .split('test')
          .items.map((it) => it.id)
          .join(),
      );
    expect(splits.size).toBeGreaterThan(1);
    expect(classIndexOfFolder('Fearful')).toBe(6);
    expect(classIndexOfFolder('CONTEMPT')).toBe(7);
  });

  it('train/ and test/ folders give the split (either alone too); the classes of both splits; unknown folders are errors', async () => {
    const dir = join(root, 'tree');
    write(join(dir, 'train', 'happiness', 'a.png'), encodePng(image(2, 2, 1)));
    write(join(dir, 'train', 'contempt', 'b.png'), encodePng(image(2, 2, 2)));
    write(join(dir, 'test', 'surprise', 'c.jpg'), encodeJpeg(image(8, 8, 3)));
    write(join(dir, 'test', 'surprise', 'd.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4])); // corrupt
    const w = collectWarnings();
    const ds: ImageDataset = await loadImageFolder(dir, src, { warn: w.warn });
    expect(ds.classNames).toEqual(['happiness', 'surprise', 'contempt']);
    expect(ds.items.map((it) => [it.id.slice(dir.length + 1), ds.classNames[it.label], it.split])).toEqual([
      ['train/contempt/b.png', 'contempt', 'train'],
      ['train/happiness/a.png', 'happiness', 'train'],
      ['test/surprise/c.jpg', 'surprise', 'test'],
      ['test/surprise/d.png', 'surprise', 'test'],
    ]);
    expect(await ds.load(3)).toBeNull();
    expect(ds.skipped).toEqual([{ path: `${dir}/test/surprise/d.png`, reason: expect.stringMatching(/corrupt or unsupported PNG/) }]);
    const bad = join(root, 'bad-tree');
    write(join(bad, 'happy', 'a.png'), encodePng(image(2, 2, 1)));
    write(join(bad, 'bored', 'b.png'), encodePng(image(2, 2, 1)));
    await expect(loadImageFolder(bad, src)).rejects.toThrow(/bad-tree\/bored: 'bored' is not a known class; folder names may be: neutral/);
    // a tree with only train/ (e.g. a synthetic set made with --test-fraction 0): everything is train
    const half = join(root, 'half-tree');
    write(join(half, 'train', 'happy', 'a.png'), encodePng(image(2, 2, 1)));
    write(join(half, 'train', 'sad', 'b.png'), encodePng(image(2, 2, 1)));
    const halfDs = await loadImageFolder(half, src);
    expect(halfDs.items.map((it) => [halfDs.classNames[it.label], it.split])).toEqual([
      ['happiness', 'train'],
      ['sadness', 'train'],
    ]);
  });

  it('two folders of one class are an error naming both', async () => {
    const flat = join(root, 'twins-flat');
    write(join(flat, 'happy', 'a.png'), encodePng(image(2, 2, 1)));
    write(join(flat, 'happiness', 'a.png'), encodePng(image(2, 2, 1)));
    write(join(flat, 'sad', 'b.png'), encodePng(image(2, 2, 2)));
    await expect(loadImageFolder(flat, src)).rejects.toThrow(
      `lrdif: image folder: ${flat}/happiness and ${flat}/happy both mean the class 'happiness'; keep one folder per class (merge them, removing duplicates)`,
    );
    const tree = join(root, 'twins-tree');
    write(join(tree, 'train', 'sad', 'a.png'), encodePng(image(2, 2, 1)));
    write(join(tree, 'train', 'happy', 'a.png'), encodePng(image(2, 2, 1)));
    write(join(tree, 'test', 'Fear', 'b.png'), encodePng(image(2, 2, 2)));
    write(join(tree, 'test', 'scared', 'c.png'), encodePng(image(2, 2, 3)));
    await expect(loadImageFolder(tree, src)).rejects.toThrow(`${tree}/test/Fear and ${tree}/test/scared both mean the class 'fear'`);
  });

  it('one class is an error (a classifier of one class scores 100 %); an empty class folder is not a class', async () => {
    const one = join(root, 'one-class');
    write(join(one, 'happy', 'a.png'), encodePng(image(2, 2, 1)));
    write(join(one, 'happy', 'b.png'), encodePng(image(2, 2, 2)));
    mkdirSync(join(one, 'sad'), { recursive: true }); // no images
    await expect(loadImageFolder(one, src)).rejects.toThrow(
      `lrdif: image folder ${one}: only one class has images ('happiness', in ${one}/happy); a classifier needs at least two (add the other classes, or fix the label set with the classes option, e.g. --classes)`,
    );
    // with the label set fixed it loads: the head has the listed classes, the labels index them
    const fixed = await loadImageFolder(one, src, { classes: ['neutral', 'happiness', 'sadness'] });
    expect(fixed.classNames).toEqual(['neutral', 'happiness', 'sadness']);
    expect(fixed.items.map((it) => it.label)).toEqual([1, 1]);
  });

  it('the classes option fixes the label set in its own order; a class outside it, an unknown name or a repeat is an error', async () => {
    const dir = join(root, 'fixed');
    write(join(dir, 'happy', 'a.png'), encodePng(image(2, 2, 1)));
    write(join(dir, 'sad', 'b.png'), encodePng(image(2, 2, 2)));
    write(join(dir, 'contempt', 'c.png'), encodePng(image(2, 2, 3)));
    const ds = await loadImageFolder(dir, src, { classes: ['contempt', 'sadness', 'happiness', 'fear'] });
    expect(ds.classNames).toEqual(['contempt', 'sadness', 'happiness', 'fear']);
    expect(ds.items.map((it) => [it.id.slice(dir.length + 1), ds.classNames[it.label]])).toEqual([
      ['contempt/c.png', 'contempt'],
      ['happy/a.png', 'happiness'],
      ['sad/b.png', 'sadness'],
    ]);
    expect(ds.classCounts()).toEqual([1, 1, 1, 0]);
    await expect(loadImageFolder(dir, src, { classes: ['happiness', 'sadness'] })).rejects.toThrow(
      `lrdif: image folder ${dir}: ${dir}/contempt holds 'contempt' images, a class the classes option leaves out (happiness, sadness); add it to the list or remove those images`,
    );
    await expect(loadImageFolder(dir, src, { classes: ['happy', 'sadness', 'contempt'] })).rejects.toThrow(
      `the classes option names 'happy', not canonical classes (expected some of: ${CANONICAL_CLASSES.join(', ')})`,
    );
    await expect(loadImageFolder(dir, src, { classes: ['sadness', 'contempt', 'sadness'] })).rejects.toThrow("the classes option lists 'sadness' twice");
    await expect(loadImageFolder(dir, src, { classes: ['sadness'] })).rejects.toThrow('the classes option lists 1 class(es) (sadness); a classifier needs at least two');
  });

  it('RAF-DB and KDEF take the classes present too (FERPlus: above), or the classes option', async () => {
    const raf = join(root, 'rafdb-two');
    write(join(raf, 'EmoLabel', 'list_patition_label.txt'), 'train_00001.jpg 4\ntest_0001.jpg 7\ntrain_00002.jpg 4\n');
    for (const stem of ['train_00001', 'test_0001', 'train_00002']) write(join(raf, 'Image', 'aligned', `${stem}_aligned.jpg`), encodeJpeg(image(4, 4, 1)));
    const r = await loadRafDb(raf, src);
    expect(r.classNames).toEqual(['neutral', 'happiness']);
    expect(r.items.map((it) => r.classNames[it.label])).toEqual(['happiness', 'neutral', 'happiness']);
    await expect(loadRafDb(raf, src, { classes: ['happiness', 'sadness'] })).rejects.toThrow(
      `${raf}/EmoLabel/list_patition_label.txt (line 2) holds 'neutral' images, a class the classes option leaves out`,
    );
    write(join(raf, 'EmoLabel', 'list_patition_label.txt'), 'train_00001.jpg 4\n');
    await expect(loadRafDb(raf, src)).rejects.toThrow(`RAF-DB: only one class has images ('happiness', in ${raf}/EmoLabel/list_patition_label.txt (line 1))`);
    const kdef = join(root, 'kdef-two');
    write(join(kdef, 'AF01', 'AF01HAS.JPG'), encodePng(image(3, 3, 1)));
    write(join(kdef, 'AF01', 'AF01SAS.JPG'), encodePng(image(3, 3, 2)));
    const k = await loadKdef(kdef, src, { testFraction: 0 });
    expect(k.classNames).toEqual(['happiness', 'sadness']);
    expect((await loadKdef(kdef, src, { testFraction: 0, classes: [...CANONICAL_CLASSES.slice(0, 7)] })).items.map((it) => it.label)).toEqual([1, 3]);
  });
});
