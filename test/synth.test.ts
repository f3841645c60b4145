/**
 * `lrdif synth`: degraded copies of small generated datasets in each layout, byte-identical
 * for the same seed, with labels copied verbatim, corrupt inputs skipped and every parameter
 * recorded; and the command itself in a child process.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, readdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { rng } from './helpers/ref.js';
import { encodeJpeg, encodePng, decodeImage } from '../src/io/image-node.js';
import { imagesToTensor, chwToImage, type RgbImage } from '../src/io/image.js';
import { runSynth, rgbToGrey, type SynthRecord } from '../src/data/degrade/synth.js';
import { nodeSynthLayout } from '../src/data/degrade/synth-node.js';
import { degradeBatch, imageSeed } from '../src/data/degrade/index.js';
import { runNode } from './helpers/child.js';

const BIN = fileURLToPath(new URL('../bin/lrdif.js', import.meta.url));

function face(w: number, h: number, seed: number): RgbImage {
  const r = rng(seed);
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = Math.round(60 + 120 * ((x + y * c) % 7 === 0 ? 1 : 0.4) + 50 * r());
    }
  }
  return { width: w, height: h, data };
}

function write(path: string, data: Uint8Array | string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
}

/** sha256 of every file below `dir`, by relative path. */
function hashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) visit(join(d, e.name), r);
      else
        out.set(
          r,
          createHash('sha256')
            .update(readFileSync(join(d, e.name)))
            .digest('hex'),
        );
    }
  };
  visit(dir, '');
  return out;
}

let root: string;
const warnings: string[] = [];

async function synth(format: string, data: string, out: string, kind: 'udc' | 'lowlight', seed: number, config: unknown = {}): Promise<SynthRecord> {
  return runSynth(nodeSynthLayout(format, data), out, { kind, seed, config, version: 'test', batch: 2, warn: (m) => warnings.push(m) });
}

beforeAll(async () => {
  await gpu();
  root = mkdtempSync(join(tmpdir(), 'lrdif-synth-'));
  // class folders: PNG and JPEG, two sizes, a label file, a corrupt JPEG
  write(join(root, 'folder/happy/a.png'), encodePng(face(20, 16, 1)));
  write(join(root, 'folder/happy/b.jpg'), encodeJpeg(face(24, 24, 2)));
  write(join(root, 'folder/sad/c.png'), encodePng(face(20, 16, 3)));
  write(join(root, 'folder/sad/d.png'), encodePng(face(20, 16, 4)));
  write(join(root, 'folder/sad/broken.jpg'), new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]));
  write(join(root, 'folder/labels.csv'), 'file,label\nhappy/a.png,happy\n');
  // RAF-DB
  write(join(root, 'rafdb/EmoLabel/list_patition_label.txt'), 'train_00001.jpg 5\ntest_0001.jpg 7\n');
  write(join(root, 'rafdb/Image/aligned/train_00001_aligned.jpg'), encodeJpeg(face(16, 16, 5)));
  write(join(root, 'rafdb/Image/aligned/test_0001_aligned.jpg'), encodeJpeg(face(16, 16, 6)));
  // KDEF
  write(join(root, 'kdef/KDEF/AF01/AF01ANFL.JPG'), encodeJpeg(face(18, 24, 7)));
  write(join(root, 'kdef/KDEF/AF01/AF01HAS.JPG'), encodeJpeg(face(18, 24, 8)));
  // FERPlus: three rows, the second malformed
  const pix = (seed: number) => Array.from({ length: 2304 }, (_, i) => (i * 7 + seed * 13) % 256).join(' ');
  write(join(root, 'ferplus/fer2013.csv'), `emotion,pixels,Usage\r\n0,${pix(1)},Training\r\n3,1 2 3,PublicTest\r\n6,${pix(2)},PrivateTest\r\n`);
  write(
    join(root, 'ferplus/fer2013new.csv'),
    'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF\nTraining,fer0000000.png,4,0,0,1,0,0,5,0,0,0\n',
  );
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('lrdif synth (library)', () => {
  it('class folders: same seed, same bytes; labels verbatim; corrupt image skipped; parameters recorded', async () => {
    const data = join(root, 'folder');
    const a = await synth('folder', data, join(root, 'out/f1'), 'udc', 7);
    await synth('folder', data, join(root, 'out/f2'), 'udc', 7);
    const c = await synth('folder', data, join(root, 'out/f3'), 'udc', 8);
    const h1 = hashes(join(root, 'out/f1'));
    const h2 = hashes(join(root, 'out/f2'));
    const h3 = hashes(join(root, 'out/f3'));
    expect([...h1.keys()].sort()).toEqual(['happy/a.png', 'happy/b.jpg', 'labels.csv', 'sad/c.png', 'sad/d.png', 'synth.json']);
    expect(h2).toEqual(h1);
    // another seed changes every image, not the labels
    for (const f of ['happy/a.png', 'happy/b.jpg', 'sad/c.png', 'sad/d.png']) expect(h3.get(f)).not.toBe(h1.get(f));
    expect(h3.get('labels.csv')).toBe(h1.get('labels.csv'));
    expect(readFileSync(join(root, 'out/f1/labels.csv'), 'utf8')).toBe(readFileSync(join(data, 'labels.csv'), 'utf8'));
    // the record
    const rec = JSON.parse(readFileSync(join(root, 'out/f1/synth.json'), 'utf8')) as SynthRecord;
    expect(rec).toEqual(JSON.parse(JSON.stringify(a)));
    expect(rec.counts).toEqual({ images: 4, skipped: 1, copied: 1 });
    expect(rec.skipped[0]).toMatchObject({ index: 2, path: 'sad/broken.jpg' });
    expect(warnings.some((w) => w.includes('sad/broken.jpg'))).toBe(true);
    expect(rec.images.map((i) => [i.index, i.path])).toEqual([
      [0, 'happy/a.png'],
      [1, 'happy/b.jpg'],
      [3, 'sad/c.png'],
      [4, 'sad/d.png'],
    ]);
    expect(rec.images[0].params.seed).toBe(imageSeed(7, 0));
    expect(rec).toMatchObject({ lrdif: 'test', format: 'folder', degradation: 'udc', seed: 7, output: { jpegQuality: 95 } });
    expect(rec.psf!.map((p) => p.imageSize)).toEqual([16, 24]);
    expect(c.images[0].params.seed).not.toBe(rec.images[0].params.seed);
    // a PNG output is exactly the degradation of its input with imageSeed(seed, index)
    const input = decodeImage(readFileSync(join(data, 'sad/c.png')));
    const x = imagesToTensor([input]);
    const { images } = degradeBatch(x, 'udc', rec.config, [imageSeed(7, 3)]);
    const expected = chwToImage((await images.data()) as Float32Array, 20, 16);
    x.dispose();
    images.dispose();
    expect(decodeImage(readFileSync(join(root, 'out/f1/sad/c.png'))).data).toEqual(expected.data);
    // JPEGs stay JPEGs of the same size
    const b = decodeImage(readFileSync(join(root, 'out/f1/happy/b.jpg')));
    expect([b.width, b.height]).toEqual([24, 24]);
    expect(readFileSync(join(root, 'out/f1/happy/b.jpg'))[0]).toBe(0xff);
  });

  it('RAF-DB and KDEF: images degraded in place of the originals, label file copied', async () => {
    const r1 = await synth('rafdb', join(root, 'rafdb'), join(root, 'out/r1'), 'lowlight', 3);
    await synth('rafdb', join(root, 'rafdb'), join(root, 'out/r2'), 'lowlight', 3);
    expect(hashes(join(root, 'out/r1'))).toEqual(hashes(join(root, 'out/r2')));
    expect([...hashes(join(root, 'out/r1')).keys()].sort()).toEqual([
      'EmoLabel/list_patition_label.txt',
      'Image/aligned/test_0001_aligned.jpg',
      'Image/aligned/train_00001_aligned.jpg',
      'synth.json',
    ]);
    expect(readFileSync(join(root, 'out/r1/EmoLabel/list_patition_label.txt'), 'utf8')).toBe('train_00001.jpg 5\ntest_0001.jpg 7\n');
    expect(r1.counts).toEqual({ images: 2, skipped: 0, copied: 1 });
    expect(r1.images[0].params.kind).toBe('lowlight');
    // low light darkens
    const before = decodeImage(readFileSync(join(root, 'rafdb/Image/aligned/test_0001_aligned.jpg')));
    const after = decodeImage(readFileSync(join(root, 'out/r1/Image/aligned/test_0001_aligned.jpg')));
    const mean = (im: RgbImage) => im.data.reduce((s, v) => s + v, 0) / im.data.length;
    expect(mean(after)).toBeLessThan(0.5 * mean(before));

    const k = await synth('kdef', join(root, 'kdef'), join(root, 'out/k1'), 'udc', 1);
    expect(k.images.map((i) => i.path)).toEqual(['KDEF/AF01/AF01ANFL.JPG', 'KDEF/AF01/AF01HAS.JPG']);
    expect(existsSync(join(root, 'out/k1/KDEF/AF01/AF01HAS.JPG'))).toBe(true);
  });

  it('FERPlus: rewrites the pixels column of fer2013.csv as grey, keeps everything else', async () => {
    const rec = await synth('ferplus', join(root, 'ferplus'), join(root, 'out/p1'), 'udc', 5);
    await synth('ferplus', join(root, 'ferplus'), join(root, 'out/p2'), 'udc', 5);
    expect(hashes(join(root, 'out/p1'))).toEqual(hashes(join(root, 'out/p2')));
    expect(readFileSync(join(root, 'out/p1/fer2013new.csv'))).toEqual(readFileSync(join(root, 'ferplus/fer2013new.csv')));
    expect(rec.counts).toEqual({ images: 2, skipped: 1, copied: 1 });
    expect(rec.skipped[0]).toMatchObject({ index: 1, path: 'fer2013.csv#2' });
    expect(rec.skipped[0].reason).toMatch(/fer2013\.csv:3: expected 2304 pixel values \(48×48\), got 3/);
    const input = readFileSync(join(root, 'ferplus/fer2013.csv'), 'utf8').split('\r\n');
    const out = readFileSync(join(root, 'out/p1/fer2013.csv'), 'utf8').split('\r\n');
    expect(out.length).toBe(input.length);
    expect(out[0]).toBe('emotion,pixels,Usage');
    expect(out[2]).toBe(input[2]); // the malformed row, verbatim
    expect(out[4]).toBe('');
    for (const [i, emotion, usage] of [
      [1, '0', 'Training'],
      [3, '6', 'PrivateTest'],
    ] as const) {
      const f = out[i].split(',');
      expect([f[0], f[2]]).toEqual([emotion, usage]);
      const vals = f[1].split(' ').map(Number);
      expect(vals.length).toBe(2304);
      expect(vals.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)).toBe(true);
      expect(f[1]).not.toBe(input[i].split(',')[1]);
    }
    // grey = the rounded mean of the degraded channels
    const grey = Uint8Array.from(input[1].split(',')[1].split(' ').map(Number));
    const rgb = { width: 48, height: 48, data: new Uint8Array(3 * 2304) };
    for (let i = 0; i < 2304; i++) rgb.data[3 * i] = rgb.data[3 * i + 1] = rgb.data[3 * i + 2] = grey[i];
    const x = imagesToTensor([rgb]);
    const { images } = degradeBatch(x, 'udc', rec.config, [imageSeed(5, 0)]);
    const deg = chwToImage((await images.data()) as Float32Array, 48, 48);
    x.dispose();
    images.dispose();
    expect(out[1].split(',')[1]).toBe(Array.from(rgbToGrey(deg)).join(' '));
    expect(rec.psf).toEqual([expect.objectContaining({ imageSize: 48, kernelSize: 13 })]);
  });

  it('refuses bad layouts and outputs inside the dataset, naming them', async () => {
    await expect(synth('folder', join(root, 'rafdb/EmoLabel'), join(root, 'out/x'), 'udc', 0)).rejects.toThrow(/no images in class folders/);
    await expect(synth('rafdb', join(root, 'folder'), join(root, 'out/x'), 'udc', 0)).rejects.toThrow(/RAF-DB labels: .*EmoLabel\/list_patition_label\.txt is missing/);
    await expect(synth('kdef', join(root, 'folder'), join(root, 'out/x'), 'udc', 0)).rejects.toThrow(/no images named like AF01ANFL\.JPG/);
    await expect(synth('ferplus', join(root, 'folder'), join(root, 'out/x'), 'udc', 0)).rejects.toThrow(/fer2013\.csv is missing/);
    await expect(synth('folder', join(root, 'folder'), join(root, 'folder/out'), 'udc', 0)).rejects.toThrow(/must not be the dataset folder/);
    expect(() => nodeSynthLayout('voc', root)).toThrow(/unknown dataset format 'voc' \(expected folder, rafdb, kdef, ferplus\)/);
    await expect(synth('folder', join(root, 'folder'), join(root, 'out/x'), 'udc', 0, { nosie: false })).rejects.toThrow(/udc\.nosie: expected one of the fields/);
  });
});

describe('lrdif synth into a folder that is not empty', () => {
  const data = () => join(root, 'folder-b');
  const run = (out: string, seed: number, extra: Partial<Parameters<typeof runSynth>[2]> = {}) =>
    runSynth(nodeSynthLayout('folder', data()), out, { kind: 'udc', seed, version: 'test', batch: 2, warn: () => {}, ...extra });

  beforeAll(() => {
    for (let i = 0; i < 7; i++) write(join(data(), i % 2 ? 'happy' : 'sad', `${i}.png`), encodePng(face(12, 10, 20 + i)));
  });

  it('refuses a folder holding anything but a synth, naming it; --force replaces what is there', async () => {
    const out = join(root, 'out/busy');
    write(join(out, 'old/a.png'), encodePng(face(4, 4, 1)));
    write(join(out, 'notes.txt'), 'mine');
    await expect(run(out, 1)).rejects.toThrow(
      `lrdif: synth: the output folder ${out} is not empty (2 entries: notes.txt, old) and holds no synth record (synth.json); writing beside what is there would mix old and new files: choose an empty or new --out, or pass --force to replace its contents`,
    );
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine');
    await run(out, 1, { force: true });
    await run(join(root, 'out/busy-fresh'), 1);
    expect(hashes(out)).toEqual(hashes(join(root, 'out/busy-fresh')));
  });

  it('an identical earlier synth is left as it is; another dataset or other parameters are an error naming what differs', async () => {
    const out = join(root, 'out/same');
    const first = await run(out, 2);
    expect(first.input.files).toBe(7);
    const before = hashes(out);
    const states: Array<{ complete: boolean; images: number }> = [];
    const second = await run(out, 2, { onExisting: (st) => states.push(st) });
    expect(states).toEqual([{ complete: true, images: 7 }]);
    expect(second).toEqual(JSON.parse(JSON.stringify(first)));
    expect(hashes(out)).toEqual(before);
    await expect(run(out, 3)).rejects.toThrow(
      `lrdif: synth: the output folder ${out} holds a synth of another dataset or other parameters (different: the seed (3, was 2)); pass --force to replace it, or choose another --out`,
    );
    await expect(run(out, 2, { config: { noise: false } })).rejects.toThrow('(different: the degradation configuration)');
    // the dataset changed: one more image
    write(join(data(), 'happy', 'extra.png'), encodePng(face(12, 10, 99)));
    try {
      await expect(run(out, 2)).rejects.toThrow(
        /holds a synth of another dataset or other parameters \(different: the input files \(8 files of \d+ bytes now, 7 of \d+ then, or changed since\)\)/,
      );
    } finally {
      rmSync(join(data(), 'happy', 'extra.png'));
    }
    expect(hashes(out)).toEqual(before);
    // a record from before inputs were fingerprinted cannot be trusted to match
    const old = JSON.parse(readFileSync(join(out, 'synth.json'), 'utf8'));
    delete old.input;
    writeFileSync(join(out, 'synth.json'), JSON.stringify(old));
    await expect(run(out, 2)).rejects.toThrow('(different: the input files (not recorded: an older lrdif wrote it))');
  });

  it('an interrupted synth is resumed: the images it wrote are kept, the rest written, the result the uninterrupted one byte for byte', async () => {
    const whole = join(root, 'out/whole');
    await run(whole, 5);
    const out = join(root, 'out/killed');
    // killed after the second batch of two: four images written and journaled
    let calls = 0;
    await expect(
      run(out, 5, {
        onProgress: () => {
          if (++calls === 2) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    expect(existsSync(join(out, 'synth.json'))).toBe(false);
    const journal = readFileSync(join(out, '.synth-progress.jsonl'), 'utf8').trim().split('\n');
    expect(journal.length).toBe(1 + 4);
    // the kill tore the last line and left a temporary file behind
    writeFileSync(join(out, '.synth-progress.jsonl'), `${journal.slice(0, 4).join('\n')}\n${journal[4].slice(0, 20)}`);
    write(join(out, 'sad', '.4.png.12345.tmp'), 'partial');
    const states: Array<{ complete: boolean; images: number }> = [];
    const r = await run(out, 5, { onExisting: (st) => states.push(st) });
    expect(states).toEqual([{ complete: false, images: 3 }]);
    expect(r.counts).toEqual({ images: 7, skipped: 0, copied: 0 });
    expect(hashes(out)).toEqual(hashes(whole));
    // a journal of other parameters is refused like a record
    const other = join(root, 'out/killed-other');
    calls = 0;
    await expect(
      run(other, 6, {
        onProgress: () => {
          if (++calls === 1) throw new Error('killed');
        },
      }),
    ).rejects.toThrow('killed');
    await expect(run(other, 5)).rejects.toThrow(`the output folder ${other} holds an interrupted synth of another dataset or other parameters (different: the seed (5, was 6))`);
  });
});

describe('lrdif synth (command)', () => {
  async function lrdif(...args: string[]) {
    const r = await runNode([BIN, ...args], { timeout: 300_000, env: { ...process.env, LRDIF_DEBUG: '' } });
    if (r.error) throw r.error;
    return {
      status: r.status,
      stdout: r.stdout,
      stderr: r.stderr
        .split('\n')
        .filter((l) => l && !l.startsWith('Warning: '))
        .join('\n'),
    };
  }

  it('writes the degraded dataset with a progress line and a summary', async () => {
    const cfg = join(root, 'cfg.json');
    writeFileSync(cfg, JSON.stringify({ noise: false }));
    const out = join(root, 'out/cli');
    const r = await lrdif('synth', '--degradation', 'lowlight', '--data', join(root, 'folder'), '--format', 'folder', '--out', out, '--seed', '4', '--config', cfg, '--plain');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/images 5\/5 {2}skipped 1 {2}[\d.]+ images\/s/);
    expect(r.stdout).toMatch(/4 degraded, 1 skipped, 1 files copied/);
    expect(r.stderr).toMatch(/skipping sad\/broken\.jpg/);
    const rec = JSON.parse(readFileSync(join(out, 'synth.json'), 'utf8')) as SynthRecord;
    expect(rec.config).toMatchObject({ noise: false });
    expect(rec.images[0].params).toMatchObject({ photons: 0, readNoise: 0 });
    const again = await lrdif('synth', '--degradation', 'lowlight', '--data', join(root, 'folder'), '--format', 'folder', '--out', out, '--seed', '4', '--config', cfg, '--plain');
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toContain(`nothing to do: ${out} already holds this synth (the same dataset and parameters: 4 degraded, 1 skipped); --force writes it again`);
    const other = await lrdif('synth', '--degradation', 'lowlight', '--data', join(root, 'folder'), '--format', 'folder', '--out', out, '--seed', '5', '--config', cfg, '--plain');
    expect(other.status).toBe(1);
    expect(other.stderr).toContain(
      `lrdif: error: synth: the output folder ${out} holds a synth of another dataset or other parameters (different: the seed (5, was 4)); pass --force`,
    );
    const forced = await lrdif(
      'synth',
      '--degradation',
      'lowlight',
      '--data',
      join(root, 'folder'),
      '--format',
      'folder',
      '--out',
      out,
      '--seed',
      '5',
      '--config',
      cfg,
      '--plain',
      '--force',
    );
    expect(forced.status, forced.stderr).toBe(0);
    expect((JSON.parse(readFileSync(join(out, 'synth.json'), 'utf8')) as SynthRecord).seed).toBe(5);
    const bad = await lrdif('synth', '--degradation', 'haze', '--data', root, '--format', 'folder', '--out', out);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unknown degradation "haze"/);
  });
});
