/**
 * Size-bucketed pool of storage buffers. Buffers are never destroyed while the pool is live
 * unless `trim()` is called, so steady-state training creates no new buffers.
 *
 * Size classes: powers of two up to 1 MiB, then steps of 1/8 of the next power of two
 * (at most 12.5 % waste on large tensors).
 */

export interface PooledBuffer {
  readonly buffer: GPUBuffer;
  /** Bucketed capacity in bytes (what the GPU buffer really holds). */
  readonly capacity: number;
  /** Unique id, used as the bind-group cache key. */
  readonly id: number;
  /** Batch number of the last command encoder that used it (for upload hazards). */
  lastBatch: number;
  /** Bytes asked for by the current holder (≤ capacity), and what it holds (e.g. "tensor [2, 3] f32"), for errors. */
  used?: number;
  what?: string;
}

export interface PoolStats {
  /** Buffers handed out and not yet released. */
  liveBuffers: number;
  liveBytes: number;
  /** Buffers sitting in the free lists. */
  freeBuffers: number;
  freeBytes: number;
  /** Highest `liveBytes` seen since the last `resetPeak()`. */
  peakLiveBytes: number;
  /** GPU buffers created over the pool's life (grows only when the pool misses). */
  created: number;
}

const MIN_BYTES = 256;

export function bucketSize(bytes: number): number {
  const n = Math.max(MIN_BYTES, bytes);
  let p = MIN_BYTES;
  while (p < n) p *= 2;
  if (p <= 1 << 20) return p;
  const step = p / 8;
  return Math.ceil(n / step) * step;
}

export class BufferPool {
  private free = new Map<number, PooledBuffer[]>();
  private nextId = 1;
  private stats: PoolStats = { liveBuffers: 0, liveBytes: 0, freeBuffers: 0, freeBytes: 0, peakLiveBytes: 0, created: 0 };
  /** Called when a buffer is destroyed, so caches keyed by it can forget it. */
  onDestroy: ((id: number) => void) | null = null;

  constructor(
    private device: GPUDevice,
    private usage: GPUBufferUsageFlags,
    private maxBufferSize: number,
  ) {}

  acquire(bytes: number, label = 'tensor'): PooledBuffer {
    // the bucket may round past the device's limit when the request itself fits
    const capacity = Math.min(bucketSize(bytes), Math.max(bytes, Math.floor(this.maxBufferSize / 4) * 4));
    if (bytes > this.maxBufferSize) {
      throw new Error(
        `lrdif: ${label}: a buffer of ${bytes.toLocaleString('en')} bytes was requested, but this device allows at most ${this.maxBufferSize.toLocaleString('en')} bytes per buffer (maxBufferSize); ` +
          'work on fewer or smaller tensors at once (split the batch, scale images down first)',
      );
    }
    const list = this.free.get(capacity);
    let pb = list?.pop();
    if (pb) {
      this.stats.freeBuffers--;
      this.stats.freeBytes -= capacity;
    } else {
      const buffer = this.device.createBuffer({ size: capacity, usage: this.usage, label });
      pb = { buffer, capacity, id: this.nextId++, lastBatch: -1 };
      this.stats.created++;
    }
    pb.used = bytes;
    pb.what = label;
    this.stats.liveBuffers++;
    this.stats.liveBytes += capacity;
    if (this.stats.liveBytes > this.stats.peakLiveBytes) this.stats.peakLiveBytes = this.stats.liveBytes;
    return pb;
  }

  release(pb: PooledBuffer): void {
    this.stats.liveBuffers--;
    this.stats.liveBytes -= pb.capacity;
    let list = this.free.get(pb.capacity);
    if (!list) this.free.set(pb.capacity, (list = []));
    list.push(pb);
    this.stats.freeBuffers++;
    this.stats.freeBytes += pb.capacity;
  }

  /**
   * Puts each free list in a fixed order (by id), so what the pool hands out next depends only on
   * which buffers are free, not on the order they came back in. A program that repeats the same
   * work from the same free buffers (a training step) then gets the same buffers each time, and
   * the bind groups cached for them are reused instead of created (see GpuContext.bindGroup).
   * Within a step the lists stay last-in first-out: a buffer just released, still in the CPU's
   * caches on a CPU adapter, is the next one handed out.
   */
  canonicalize(): void {
    for (const list of this.free.values()) if (list.length > 1) list.sort((a, b) => b.id - a.id);
  }

  /** Destroys every free buffer. The caller must have flushed pending work first. */
  trim(): void {
    for (const list of this.free.values()) {
      for (const pb of list) {
        this.onDestroy?.(pb.id);
        pb.buffer.destroy();
      }
    }
    this.free.clear();
    this.stats.freeBuffers = 0;
    this.stats.freeBytes = 0;
  }

  resetPeak(): void {
    this.stats.peakLiveBytes = this.stats.liveBytes;
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }
}
