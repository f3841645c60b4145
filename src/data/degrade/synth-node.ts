/**
 * Node layouts for `lrdif synth` (see synth.ts): the dataset formats as file trees.
 *
 * - folder:  class-per-folder trees; every .jpg/.jpeg/.png below the root (any depth) is
 *            degraded, every other file is copied verbatim.
 * - rafdb:   <root>/EmoLabel/list_patition_label.txt is required and copied verbatim with the
 *            rest of EmoLabel/; every image under <root>/Image/ (aligned/ and original/) is
 *            degraded; other files are copied.
 * - kdef:    every image below the root (flat, or KDEF/AF01/AF01ANFL.JPG folders) is degraded;
 *            at least one must follow KDEF's naming; other files are copied.
 * - ferplus: <root>/fer2013.csv's rows are the images (48×48 grey, the `pixels` column): each
 *            row's image is replicated to RGB, degraded, and turned back into grey by the rounded
 *            mean of its R, G, B; the new fer2013.csv keeps the other columns and the line
 *            endings. <root>/fer2013new.csv (labels) and every other file are copied verbatim.
 *            A row whose pixels are malformed is kept verbatim (dropping it would shift the
 *            row alignment with fer2013new.csv), reported and recorded as skipped.
 *
 * Order: images sorted by their '/'-separated relative path (code-point order), CSV rows in
 * file order. Hidden files and folders (names starting with '.') are ignored. Output images
 * keep their file names and formats: JPEG at quality 95, PNG lossless. Every file is written
 * atomically (temporary file, then rename).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile, open as openFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { decodeImage, encodeJpeg, encodePng } from '../../io/image-node.js';
import type { RgbImage } from '../../io/image.js';
import { JPEG_QUALITY, SynthSkip, rgbToGrey, type SynthEntry, type SynthFolder, type SynthInput, type SynthLayout, type SynthOutput } from './synth.js';

export const SYNTH_FORMATS = ['folder', 'rafdb', 'kdef', 'ferplus'] as const;
export type SynthFormat = (typeof SYNTH_FORMATS)[number];

const IMAGE = /\.(jpe?g|png)$/i;
const KDEF_NAME = /^([AB])([FM])(\d{2})(AF|AN|DI|HA|NE|SA|SU)(FL|HL|S|HR|FR)\.(jpe?g|png)$/i;

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Relative '/'-separated paths of the regular files below `root`, sorted; hidden names ignored. */
async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string, rel: string) => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      throw new Error(`lrdif: synth: cannot read folder ${dir}: ${(e as Error).message}`);
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      const r = rel ? `${rel}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const s = await stat(p);
        isDir = s.isDirectory();
        isFile = s.isFile();
      }
      if (isDir) await visit(p, r);
      else if (isFile) out.push(r);
    }
  };
  await visit(root, '');
  return out.sort(byCodePoint);
}

async function atomicWrite(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function atomicCopy(src: string, dst: string): Promise<void> {
  await mkdir(dirname(dst), { recursive: true });
  const tmp = join(dirname(dst), `.${basename(dst)}.${process.pid}.tmp`);
  try {
    await copyFile(src, tmp);
    await rename(tmp, dst);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

function encodeLike(path: string, img: RgbImage): Uint8Array {
  return /\.jpe?g$/i.test(path) ? encodeJpeg(img, JPEG_QUALITY) : encodePng(img);
}

/** The output folder must be neither the dataset nor inside it (nor contain it). */
function checkOut(root: string, outDir: string): void {
  const a = resolve(root);
  const b = resolve(outDir);
  const inside = (x: string, y: string) => x === y || x.startsWith(y.endsWith(sep) ? y : y + sep);
  if (inside(b, a) || inside(a, b)) {
    throw new Error(`lrdif: synth: the output folder ${outDir} must not be the dataset folder ${root}, inside it, or contain it`);
  }
}

/** The input's fingerprint: every file below the root (as walk lists them) by path, size and modification time. */
async function fingerprint(root: string): Promise<SynthInput> {
  const h = createHash('sha256');
  let bytes = 0;
  const files = await walk(root);
  for (const rel of files) {
    const st = await stat(join(root, rel));
    bytes += st.size;
    h.update(`${rel}\t${st.size}\t${st.mtimeMs}\n`);
  }
  return { files: files.length, bytes, sha256: h.digest('hex') };
}

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'ENOENT';
}

/** The output folder on disk (see SynthFolder). */
export function nodeSynthFolder(outDir: string): SynthFolder {
  const at = (rel: string) => join(outDir, rel);
  return {
    path: outDir,
    async list() {
      try {
        return (await readdir(outDir)).sort(byCodePoint);
      } catch (e) {
        if (isMissing(e)) return [];
        throw new Error(`lrdif: synth: cannot read the output folder ${outDir}: ${(e as Error).message}`);
      }
    },
    async readText(rel) {
      try {
        return await readFile(at(rel), 'utf8');
      } catch (e) {
        if (isMissing(e)) return null;
        throw new Error(`lrdif: synth: cannot read ${at(rel)}: ${(e as Error).message}`);
      }
    },
    writeText: (rel, text) => atomicWrite(at(rel), text),
    async appendText(rel, text) {
      await mkdir(dirname(at(rel)), { recursive: true });
      await appendFile(at(rel), text);
    },
    async exists(rel) {
      try {
        return (await stat(at(rel))).isFile();
      } catch {
        return false;
      }
    },
    remove: (rel) => rm(at(rel), { force: true }),
    async removeTemporaries() {
      const visit = async (dir: string) => {
        for (const e of await readdir(dir, { withFileTypes: true })) {
          const p = join(dir, e.name);
          if (e.isDirectory()) await visit(p);
          else if (/^\..+\.\d+\.tmp$/.test(e.name)) await rm(p, { force: true });
        }
      };
      await visit(outDir);
    },
    async clear() {
      for (const name of await this.list()) await rm(at(name), { recursive: true, force: true });
    },
  };
}

async function requireFile(path: string, what: string): Promise<void> {
  let ok = false;
  try {
    ok = (await stat(path)).isFile();
  } catch {
    ok = false;
  }
  if (!ok) throw new Error(`lrdif: synth: ${what}: ${path} is missing`);
}

async function requireDir(path: string, what: string): Promise<void> {
  let ok = false;
  try {
    ok = (await stat(path)).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new Error(`lrdif: synth: ${what}: ${path} is not a folder`);
}

/** File-tree layouts: images (chosen by `isDegraded`) are degraded, the other files copied. */
function treeLayout(format: SynthFormat, root: string, isDegraded: (rel: string) => boolean, check: (files: string[]) => Promise<void>): SynthLayout {
  let listing: Promise<{ images: string[]; others: string[] }> | null = null;
  const list = () => {
    listing ??= (async () => {
      await requireDir(root, `${format} dataset`);
      const files = await walk(root);
      await check(files);
      return { images: files.filter(isDegraded), others: files.filter((f) => !isDegraded(f)) };
    })();
    return listing;
  };
  return {
    format,
    count: async () => (await list()).images.length,
    async fingerprint() {
      await list();
      return fingerprint(root);
    },
    folder(outDir) {
      checkOut(root, outDir);
      return nodeSynthFolder(outDir);
    },
    outputOf: (entry) => entry.key,
    async *entries() {
      for (const rel of (await list()).images) {
        yield {
          key: rel,
          load: async () => {
            const bytes = await readBytes(join(root, rel));
            return decodeImage(bytes, rel);
          },
        };
      }
    },
    async open(outDir) {
      checkOut(root, outDir);
      const { others } = await list();
      await mkdir(outDir, { recursive: true });
      return {
        write: (entry, img) => atomicWrite(join(outDir, entry.key), encodeLike(entry.key, img)),
        skip: async () => {},
        async finish() {
          for (const rel of others) await atomicCopy(join(root, rel), join(outDir, rel));
          return others;
        },
        writeText: (rel, text) => atomicWrite(join(outDir, rel), text),
      };
    },
  };
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw new SynthSkip(`cannot read ${path}: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------- FERPlus

const FER_HEADER = 'emotion,pixels,Usage';
const FER_SIDE = 48;

interface FerEntry extends SynthEntry {
  line: string;
}

/** Parses a fer2013.csv data row: [emotion, pixels, usage, quoted]; null when it has not three fields. */
function splitFerRow(line: string): { emotion: string; pixels: string; usage: string; quoted: boolean } | null {
  const m = /^([^,]*),("?)([^,"]*)\2,(.*)$/.exec(line);
  if (!m) return null;
  return { emotion: m[1], pixels: m[3], usage: m[4], quoted: m[2] === '"' };
}

function ferPixels(line: string, where: string): RgbImage {
  const row = splitFerRow(line);
  if (!row) throw new SynthSkip(`${where}: expected three fields 'emotion,pixels,Usage'`);
  const vals = row.pixels.trim().split(/\s+/);
  if (vals.length !== FER_SIDE * FER_SIDE) throw new SynthSkip(`${where}: expected ${FER_SIDE * FER_SIDE} pixel values (48×48), got ${row.pixels.trim() === '' ? 0 : vals.length}`);
  const data = new Uint8Array(3 * vals.length);
  for (let i = 0; i < vals.length; i++) {
    const v = Number(vals[i]);
    if (!/^\d+$/.test(vals[i]) || v > 255) throw new SynthSkip(`${where}: pixel ${i} is '${vals[i]}', expected an integer in 0..255`);
    data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = v;
  }
  return { width: FER_SIDE, height: FER_SIDE, data };
}

async function detectEol(path: string): Promise<string> {
  const fh = await openFile(path, 'r');
  try {
    const buf = new Uint8Array(65536);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const i = buf.subarray(0, bytesRead).indexOf(10);
    return i > 0 && buf[i - 1] === 13 ? '\r\n' : '\n';
  } finally {
    await fh.close();
  }
}

async function* csvLines(path: string): AsyncGenerator<string> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
    stream.destroy();
  }
}

function ferLayout(root: string): SynthLayout {
  const csv = join(root, 'fer2013.csv');
  const labels = join(root, 'fer2013new.csv');
  const checks = async () => {
    await requireDir(root, 'ferplus dataset');
    await requireFile(csv, "FERPlus pixels (FER2013's fer2013.csv)");
    await requireFile(labels, "FERPlus labels (FERPlus's fer2013new.csv)");
  };
  let header: string | null = null;
  return {
    format: 'ferplus',
    async fingerprint() {
      await checks();
      return fingerprint(root);
    },
    folder(outDir) {
      checkOut(root, outDir);
      return nodeSynthFolder(outDir);
    },
    // every row goes into the one rewritten fer2013.csv (renamed into place at the end): no resuming rows
    outputOf: () => null,
    async count() {
      await checks();
      let n = -1;
      for await (const l of csvLines(csv)) {
        void l;
        n++;
      }
      return Math.max(0, n);
    },
    async *entries() {
      await checks();
      let lineNo = 0;
      for await (const line of csvLines(csv)) {
        lineNo++;
        if (lineNo === 1) {
          const h = line.replace(/^\uFEFF/, '').trim();
          if (h !== FER_HEADER) throw new Error(`lrdif: synth: ${csv}:1: expected the header '${FER_HEADER}', got '${line}'`);
          header = line;
          continue;
        }
        const where = `fer2013.csv:${lineNo}`;
        const entry: FerEntry = { key: `fer2013.csv#${lineNo - 1}`, line, load: () => ferPixels(line, where) };
        yield entry;
      }
      if (header === null) throw new Error(`lrdif: synth: ${csv} is empty; expected the header '${FER_HEADER}'`);
    },
    async open(outDir) {
      checkOut(root, outDir);
      await checks();
      const eol = await detectEol(csv);
      const others = (await walk(root)).filter((f) => f !== 'fer2013.csv');
      await mkdir(outDir, { recursive: true });
      const target = join(outDir, 'fer2013.csv');
      const tmp = join(outDir, `.fer2013.csv.${process.pid}.tmp`);
      const stream = createWriteStream(tmp, { encoding: 'utf8' });
      let failed: Error | null = null;
      stream.on('error', (e) => {
        failed = e;
      });
      let wroteHeader = false;
      const put = async (text: string) => {
        if (failed) throw failed;
        if (!wroteHeader) {
          wroteHeader = true;
          await put(`${header ?? FER_HEADER}${eol}`);
        }
        if (!stream.write(text)) await new Promise<void>((res) => stream.once('drain', () => res()));
      };
      const output: SynthOutput = {
        async write(entry, img) {
          const row = splitFerRow((entry as FerEntry).line)!;
          const pixels = Array.from(rgbToGrey(img)).join(' ');
          const q = row.quoted ? '"' : '';
          await put(`${row.emotion},${q}${pixels}${q},${row.usage}${eol}`);
        },
        skip: (entry) => put(`${(entry as FerEntry).line}${eol}`),
        async finish() {
          if (!wroteHeader) await put('');
          await new Promise<void>((res, rej) => stream.end((e?: Error | null) => (e ? rej(e) : res())));
          if (failed) throw failed;
          await rename(tmp, target);
          for (const rel of others) await atomicCopy(join(root, rel), join(outDir, rel));
          return others;
        },
        writeText: (rel, text) => atomicWrite(join(outDir, rel), text),
      };
      return output;
    },
  };
}

/** The synth layout of a dataset folder in one of the supported formats. */
export function nodeSynthLayout(format: string, root: string): SynthLayout {
  switch (format) {
    case 'folder':
      return treeLayout(
        'folder',
        root,
        (f) => IMAGE.test(f),
        async (files) => {
          if (!files.some((f) => IMAGE.test(f) && f.includes('/'))) {
            throw new Error(`lrdif: synth: folder dataset ${root}: no images in class folders (expected <root>/<class>/<image>.jpg|png)`);
          }
        },
      );
    case 'rafdb':
      return treeLayout(
        'rafdb',
        root,
        (f) => f.startsWith('Image/') && IMAGE.test(f),
        async (files) => {
          await requireFile(join(root, 'EmoLabel', 'list_patition_label.txt'), 'RAF-DB labels');
          if (!files.some((f) => f.startsWith('Image/') && IMAGE.test(f)))
            throw new Error(`lrdif: synth: RAF-DB dataset ${root}: no images under Image/ (expected Image/aligned/*.jpg)`);
        },
      );
    case 'kdef':
      return treeLayout(
        'kdef',
        root,
        (f) => IMAGE.test(f),
        async (files) => {
          if (!files.some((f) => KDEF_NAME.test(f.slice(f.lastIndexOf('/') + 1)))) {
            throw new Error(`lrdif: synth: KDEF dataset ${root}: no images named like AF01ANFL.JPG`);
          }
        },
      );
    case 'ferplus':
      return ferLayout(root);
    default:
      throw new Error(`lrdif: synth: unknown dataset format '${format}' (expected ${SYNTH_FORMATS.join(', ')})`);
  }
}
