/**
 * An embedding table [rows, dim] that may be stored in several row chunks, because one storage
 * binding is limited in size (128 MiB on some adapters, where ViT-L/14's token table
 * [49408, 768] f32 is 152 MB). With one chunk the parameter is `weight`, as in Hugging Face;
 * with several they are `weight_chunk0`, `weight_chunk1`, … (rows in order).
 *
 * A chunked lookup maps each id to its row within each chunk through small i32 remap tables
 * (−1 outside the chunk, which reads a zero row), sums the chunks' lookups, and zeroes ids
 * outside [0, rows) as the one-chunk lookup does.
 */
import { keep, tidy } from '../../autograd/engine.js';
import { fmtShape, tensor, type Tensor } from '../../autograd/tensor.js';
import { bucketSize } from '../../gpu/buffer-pool.js';
import type { GpuContext } from '../../gpu/context.js';
import { add, mul } from '../../kernels/elementwise.js';
import { embedding } from '../../kernels/indexing.js';
import { reshape } from '../../kernels/shape.js';
import { Module } from '../../nn/module.js';
import { initParam, type ClipInit } from './layers.js';

/** The largest tensor (bytes) one storage binding of this device holds, allowing for the buffer pool's size buckets. */
export function maxClipBindingBytes(ctx: GpuContext): number {
  const limit = Math.min(ctx.limits.maxStorageBufferBindingSize, ctx.limits.maxBufferSize);
  let n = limit;
  // bucket sizes round up by at most 1/8: step down until the bucket fits
  while (n > 4 && bucketSize(n) > limit) n -= Math.max(4, bucketSize(n) - limit);
  return n - (n % 4);
}

/** Rows per chunk so that one chunk of a [*, dim] f32 table fits in `maxBytes`. */
export function clipTableRowsPerChunk(dim: number, maxBytes: number): number {
  const rows = Math.floor(maxBytes / (4 * dim));
  if (rows < 1) throw new Error(`lrdif: embedding table: one row of ${dim} f32 values (${4 * dim} bytes) is more than the chunk limit of ${maxBytes} bytes`);
  return rows;
}

export class ClipEmbeddingTable extends Module {
  /** The chunks, rows in order (one, named `weight`, unless the table is larger than the chunk limit). */
  readonly chunks: Tensor[] = [];
  /** First row of each chunk. */
  readonly starts: number[] = [];
  private remaps: Tensor[] | null = null;
  private valid: Tensor | null = null;

  constructor(
    readonly rows: number,
    readonly dim: number,
    init: ClipInit,
    options: { std?: number; maxChunkBytes?: number; ctx: GpuContext },
  ) {
    super();
    const per = clipTableRowsPerChunk(dim, options.maxChunkBytes ?? maxClipBindingBytes(options.ctx));
    const std = options.std ?? 0.02;
    if (rows <= per) {
      this.chunks.push(this.registerParameter('weight', initParam([rows, dim], init, std)));
      this.starts.push(0);
    } else {
      for (let s = 0, i = 0; s < rows; s += per, i++) {
        this.chunks.push(this.registerParameter(`weight_chunk${i}`, initParam([Math.min(per, rows - s), dim], init, std)));
        this.starts.push(s);
      }
    }
  }

  /** The whole table as one tensor (only when it is one chunk). */
  get weight(): Tensor {
    if (this.chunks.length !== 1) throw new Error(`lrdif: embedding table [${this.rows}, ${this.dim}] is stored in ${this.chunks.length} chunks; use lookups`);
    return this.chunks[0];
  }

  /** Writes the table's host values [rows·dim] into the chunk(s). */
  upload(values: Float32Array): void {
    if (values.length !== this.rows * this.dim) {
      throw new Error(`lrdif: embedding table: ${values.length} values for a [${this.rows}, ${this.dim}] table`);
    }
    this.chunks.forEach((c, i) => {
      const s = this.starts[i] * this.dim;
      c.ctx.upload(c.buffer, values.subarray(s, s + c.size));
    });
  }

  /** ids: i32 of any shape -> [...ids.shape, dim]; ids outside [0, rows) give zero rows. */
  forward(ids: Tensor): Tensor {
    if (ids.dtype !== 'i32') throw new Error(`lrdif: embedding table: ids must be i32, got ${ids.describe()}`);
    if (this.chunks.length === 1) return embedding(this.chunks[0], ids);
    this.buildRemaps();
    return tidy(() => {
      let sum: Tensor | null = null;
      this.chunks.forEach((c, i) => {
        const local = reshape(embedding(this.remaps![i], ids), ids.shape);
        const part = embedding(c, local);
        sum = sum ? add(sum, part) : part;
      });
      // an id outside the table reads remap value 0 (a zero row), i.e. row 0 of every chunk: zero it
      const valid = embedding(this.valid!, ids); // [...ids.shape, 1]
      return mul(sum!, valid);
    });
  }

  private buildRemaps(): void {
    if (this.remaps) return;
    const remaps: Tensor[] = [];
    for (let i = 0; i < this.chunks.length; i++) {
      const r = new Int32Array(this.rows).fill(-1);
      const s = this.starts[i];
      for (let j = 0; j < this.chunks[i].shape[0]; j++) r[s + j] = j;
      remaps.push(tensor(r, [this.rows, 1], 'i32'));
    }
    this.remaps = remaps.map((t) => keep(t));
    this.valid = keep(tensor(new Float32Array(this.rows).fill(1), [this.rows, 1]));
  }

  describeShape(): string {
    return `${fmtShape([this.rows, this.dim])}${this.chunks.length > 1 ? ` in ${this.chunks.length} chunks` : ''}`;
  }

  /** Frees the chunked lookup's remap tables (rebuilt on the next lookup). */
  releaseCaches(): void {
    for (const t of this.remaps ?? []) t.dispose();
    this.valid?.dispose();
    this.remaps = null;
    this.valid = null;
  }

  override dispose(): void {
    this.releaseCaches();
    super.dispose();
  }
}
