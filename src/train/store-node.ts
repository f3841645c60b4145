/**
 * Node file adapters of the trainer: the run folder (checkpoints, metrics.jsonl, run.json) and
 * the on-disk embedding cache. Every file is written atomically (temp file, fsync, rename), so a
 * crash leaves the previous version readable; metrics lines are appended and a torn last line
 * is dropped when read back.
 *
 * Run folder:
 *   last.safetensors   the latest epoch's checkpoint (weights, optimiser state, metadata)
 *   best.safetensors   the epoch with the best accuracy on the selection split (val, or test) so far
 *   metrics.jsonl      one JSON object per line: step, eval, epoch, test (and diverged) records
 *   run.json           the options of the run (what --resume continues with)
 *   result.json        the outcome: the selected epoch and its test figures (when the run is complete)
 *   .lock              while a process trains in the folder (run-lock-node.ts)
 *
 * Embedding cache: `<dir>/clip-<first 16 hex of the CLIP hash>.safetensors` (and
 * `faceapi-expression-<hash>.safetensors` for that image encoder), one F32 tensor
 * `embeddings` [n, P] and `__metadata__.keys`, the JSON list of the rows' keys (SHA-256 of the
 * CLIP hash, the image content and its transforms, or of the prompt). Flushing merges with
 * what another process may have written meanwhile.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { openSafetensorsFile, writeSafetensorsFile } from '../io/safetensors-node.js';
import type { SafetensorsEntry } from '../io/safetensors.js';
import type { EmbeddingStore } from './encoders.js';
import type { RunStore } from './trainer.js';

/** Writes a text file atomically. */
export function writeFileAtomic(file: string, text: string | Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    fs.writeSync(fd, typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new Error(`lrdif: cannot write ${file}: ${(e as Error).message}`);
  }
}

export const RUN_FILES = { last: 'last.safetensors', best: 'best.safetensors', metrics: 'metrics.jsonl', run: 'run.json', result: 'result.json' } as const;

export class FolderRunStore implements RunStore {
  /** The folder is made by the first write (the trainer locks it first: run-lock-node.ts). */
  constructor(readonly dir: string) {}

  writeResult(result: Record<string, unknown>): void {
    writeFileAtomic(path.join(this.dir, RUN_FILES.result), `${JSON.stringify(result, null, 2)}\n`);
  }

  checkpointPath(which: 'last' | 'best'): string {
    return path.join(this.dir, RUN_FILES[which]);
  }

  writeCheckpoint(which: 'last' | 'best', entries: SafetensorsEntry[], metadata: Record<string, string>): void {
    writeSafetensorsFile(this.checkpointPath(which), entries, metadata);
  }

  get metricsPath(): string {
    return path.join(this.dir, RUN_FILES.metrics);
  }

  readMetrics(): string[] {
    let text: string;
    try {
      text = fs.readFileSync(this.metricsPath, 'utf8');
    } catch {
      return [];
    }
    const out: string[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        JSON.parse(line);
        out.push(line);
      } catch {
        // a line torn by a crash
      }
    }
    return out;
  }

  rewriteMetrics(lines: string[]): void {
    writeFileAtomic(this.metricsPath, lines.map((l) => `${l}\n`).join(''));
  }

  appendMetrics(line: string): void {
    fs.appendFileSync(this.metricsPath, `${line}\n`);
  }
}

/** The default embedding cache folder: $LRDIF_CACHE_DIR, else ~/.cache/lrdif/embeddings. */
export function defaultCacheDir(): string {
  return process.env.LRDIF_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'lrdif', 'embeddings');
}

export class FileEmbeddingStore implements EmbeddingStore {
  private readonly map = new Map<string, Float32Array>();
  private dirty = false;
  readonly file: string;

  constructor(
    readonly dir: string,
    readonly modelHash: string,
    readonly width: number,
    /** The file's name prefix: the encoder ('clip', 'faceapi-expression'). */
    readonly prefix = 'clip',
  ) {
    this.file = path.join(dir, `${prefix}-${modelHash.slice(0, 16)}.safetensors`);
    this.readInto(this.map);
  }

  private readInto(map: Map<string, Float32Array>): void {
    if (!fs.existsSync(this.file)) return;
    let reader;
    try {
      reader = openSafetensorsFile(this.file);
    } catch (e) {
      // an unreadable cache is rebuilt, never trusted
      process.stderr.write(`lrdif: warning: ignoring the unreadable embedding cache ${this.file}: ${(e as Error).message}\n`);
      return;
    }
    try {
      if (reader.metadata.model !== this.modelHash || !reader.has('embeddings')) return;
      const keys = JSON.parse(reader.metadata.keys ?? '[]') as string[];
      const info = reader.info('embeddings');
      if (info.shape.length !== 2 || info.shape[0] !== keys.length || info.shape[1] !== this.width) return;
      const data = reader.getHostArray('embeddings', 'f32');
      keys.forEach((k, i) => {
        if (!map.has(k)) map.set(k, data.slice(i * this.width, (i + 1) * this.width));
      });
    } catch (e) {
      process.stderr.write(`lrdif: warning: ignoring the unreadable embedding cache ${this.file}: ${(e as Error).message}\n`);
    } finally {
      reader.close();
    }
  }

  get(key: string): Float32Array | undefined {
    return this.map.get(key);
  }

  set(key: string, value: Float32Array): void {
    if (value.length !== this.width) throw new Error(`lrdif: embedding cache: a row of ${value.length} values for width ${this.width}`);
    this.map.set(key, value);
    this.dirty = true;
  }

  get size(): number {
    return this.map.size;
  }

  /** Writes the cache (merged with the file's current rows) when something was added. */
  flush(): void {
    if (!this.dirty) return;
    fs.mkdirSync(this.dir, { recursive: true });
    this.readInto(this.map);
    const keys = [...this.map.keys()];
    const data = new Float32Array(keys.length * this.width);
    keys.forEach((k, i) => data.set(this.map.get(k)!, i * this.width));
    writeSafetensorsFile(this.file, [{ name: 'embeddings', dtype: 'F32', shape: [keys.length, this.width], data }], { model: this.modelHash, keys: JSON.stringify(keys) });
    this.dirty = false;
  }
}

/**
 * SHA-256 of a file, memoised in `<cacheDir>/file-hashes.json` by absolute path, size and
 * modification time (hashing a 600 MB CLIP file takes seconds).
 */
export function fileHash(file: string, cacheDir: string | null): string {
  const abs = path.resolve(file);
  const st = fs.statSync(abs);
  const id = `${abs}|${st.size}|${st.mtimeMs}`;
  const memo = cacheDir ? path.join(cacheDir, 'file-hashes.json') : null;
  let table: Record<string, string> = {};
  if (memo && fs.existsSync(memo)) {
    try {
      table = JSON.parse(fs.readFileSync(memo, 'utf8')) as Record<string, string>;
    } catch {
      table = {};
    }
  }
  if (table[id]) return table[id];
  const h = createHash('sha256');
  const fd = fs.openSync(abs, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  const hex = h.digest('hex');
  if (memo) {
    table[id] = hex;
    try {
      writeFileAtomic(memo, `${JSON.stringify(table, null, 1)}\n`);
    } catch {
      // the memo is an optimisation only
    }
  }
  return hex;
}
