/**
 * Node adapter for safetensors: files read with positional reads (the header first, then each
 * tensor straight into its destination array, so a large file is never held twice), and
 * atomic writes (temp file in the same folder, fsync, rename) so a crash leaves the old file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { planSafetensors, SafetensorsError, SafetensorsReader, type ByteSource, type SafetensorsEntry } from './safetensors.js';

/** A `ByteSource` over an open file; `close()` releases the descriptor. */
export function fileSource(filePath: string): ByteSource {
  let fd: number | null;
  try {
    fd = fs.openSync(filePath, 'r');
  } catch (e) {
    throw new SafetensorsError('read', `cannot open: ${(e as Error).message}`, filePath);
  }
  let size: number;
  try {
    size = fs.fstatSync(fd).size;
  } catch (e) {
    fs.closeSync(fd);
    throw new SafetensorsError('read', `cannot stat: ${(e as Error).message}`, filePath);
  }
  return {
    byteLength: size,
    readInto(offset: number, dest: Uint8Array): void {
      if (fd === null) throw new Error('the file was closed');
      let done = 0;
      while (done < dest.byteLength) {
        // readSync may return fewer bytes than asked (large reads are capped near 2 GiB).
        const n = fs.readSync(fd, dest, done, dest.byteLength - done, offset + done);
        if (n === 0) throw new Error(`the file ended at ${offset + done} bytes (it changed while open?)`);
        done += n;
      }
    },
    close(): void {
      if (fd !== null) fs.closeSync(fd);
      fd = null;
    },
  };
}

/** Opens and validates a .safetensors file (reads only the header); call `close()` when done. */
export function openSafetensorsFile(filePath: string): SafetensorsReader {
  const src = fileSource(filePath);
  try {
    return new SafetensorsReader(src, filePath);
  } catch (e) {
    src.close?.();
    throw e;
  }
}

/**
 * Writes a .safetensors file atomically: into a temp file beside it, fsync'd, then renamed over
 * `filePath` (and the folder fsync'd so the rename itself is durable).
 */
export function writeSafetensorsFile(filePath: string, entries: readonly SafetensorsEntry[], metadata?: Readonly<Record<string, string>>): void {
  const plan = planSafetensors(entries, metadata);
  const dir = path.dirname(path.resolve(filePath));
  const tmp = path.join(dir, `.${path.basename(filePath)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx', 0o644);
    writeAll(fd, plan.header);
    for (const t of plan.tensors) writeAll(fd, t.bytes);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, filePath);
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw new SafetensorsError('write', `writing failed (the previous file, if any, is unchanged): ${(e as Error).message}`, filePath);
  }
  fsyncDir(dir);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.byteLength) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
}

function fsyncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms (Windows) cannot open or fsync a folder; the file itself is already durable.
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
