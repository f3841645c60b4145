/**
 * Node writer of the procedural face dataset (src/data/synthetic-faces.ts) as a class-per-folder
 * tree that loadImageFolder reads:
 *   <out>/train/<class>/<index>.png, <out>/test/<class>/<index>.png, <out>/synthetic.json
 * synthetic.json records the generator settings and every image's file, split, class and
 * parameters. Every file is written atomically (temporary file, then rename); the same
 * options give byte-identical files.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { encodePng } from '../io/image-node.js';
import { SYNTHETIC_CLASSES, syntheticFace, syntheticSplits, type FaceParams } from './synthetic-faces.js';

export const SYNTHETIC_MANIFEST = 'synthetic.json';
export const SYNTHETIC_GENERATOR = 'lrdif synthetic faces v1';

export interface WriteSyntheticOptions {
  out: string;
  n: number;
  seed: number;
  size?: number;
  testFraction?: number;
  /** Called after each image with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

export interface SyntheticManifest {
  generator: string;
  seed: number;
  size: number;
  n: number;
  testFraction: number;
  classes: string[];
  images: Array<{ file: string; split: 'train' | 'test'; label: number; className: string; params: Omit<FaceParams, 'label' | 'expression'> }>;
}

function atomicWrite(path: string, data: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Rounds every number of a parameter record to 6 significant digits (a compact, exact-enough manifest). */
function compact(p: FaceParams): Omit<FaceParams, 'label' | 'expression'> {
  const r = (v: unknown): unknown => (typeof v === 'number' ? Number(v.toPrecision(6)) : Array.isArray(v) ? v.map(r) : v);
  const { label: _l, expression: _e, ...rest } = p;
  return Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, r(v)])) as Omit<FaceParams, 'label' | 'expression'>;
}

const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function writeSyntheticDataset(opts: WriteSyntheticOptions): Promise<{ manifest: SyntheticManifest; seconds: number }> {
  const { out, n, seed } = opts;
  const size = opts.size ?? 112;
  const testFraction = opts.testFraction ?? 0.2;
  if (!Number.isInteger(n) || n < 1) throw new Error(`lrdif: make-synthetic: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(seed) || seed < 0 || seed > Number.MAX_SAFE_INTEGER) throw new Error(`lrdif: make-synthetic: seed must be an integer ≥ 0, got ${seed}`);
  if (!Number.isInteger(size) || size < 16 || size > 1024) throw new Error(`lrdif: make-synthetic: size must be an integer in [16, 1024], got ${size}`);
  const splits = syntheticSplits(n, seed, testFraction);
  if (existsSync(out)) {
    const entries = readdirSync(out);
    if (entries.length > 0) {
      if (!entries.includes(SYNTHETIC_MANIFEST)) {
        throw new Error(
          `lrdif: make-synthetic: ${out} is not empty and holds no ${SYNTHETIC_MANIFEST}; give an empty or new folder (an earlier synthetic dataset there would be replaced)`,
        );
      }
      // an earlier synthetic dataset: replace it
      for (const d of ['train', 'test']) rmSync(join(out, d), { recursive: true, force: true });
      rmSync(join(out, SYNTHETIC_MANIFEST), { force: true });
    }
  }
  const digits = Math.max(6, String(n - 1).length);
  const images: SyntheticManifest['images'] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const { image, params } = syntheticFace(seed, i, size);
    const className = SYNTHETIC_CLASSES[params.label];
    const file = `${splits[i]}/${className}/${String(i).padStart(digits, '0')}.png`;
    atomicWrite(join(out, file), encodePng(image));
    images.push({ file, split: splits[i], label: params.label, className, params: compact(params) });
    opts.onProgress?.(i + 1, n);
    if (i % 16 === 15) await yieldNow();
  }
  const manifest: SyntheticManifest = { generator: SYNTHETIC_GENERATOR, seed, size, n, testFraction, classes: [...SYNTHETIC_CLASSES], images };
  atomicWrite(join(out, SYNTHETIC_MANIFEST), JSON.stringify(manifest) + '\n');
  return { manifest, seconds: (performance.now() - t0) / 1000 };
}
