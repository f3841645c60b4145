/**
 * Uniform ring: every dispatch of a batch gets its own slot in one uniform buffer, bound with
 * a dynamic offset. The CPU mirror is uploaded with a single writeBuffer just before the batch
 * is submitted; queue order guarantees the next batch's upload lands after this batch ran,
 * so the ring restarts at 0 every batch.
 */
import type { UniformLayout } from './kernel.js';

export class UniformRing {
  readonly buffer: GPUBuffer;
  private mirror: ArrayBuffer;
  private u32: Uint32Array;
  private i32: Int32Array;
  private f32: Float32Array;
  private used = 0;

  constructor(
    device: GPUDevice,
    private capacity: number,
    private align: number,
  ) {
    this.buffer = device.createBuffer({ size: capacity, usage: 0x40 /* UNIFORM */ | 0x08 /* COPY_DST */, label: 'lrdif uniform ring' });
    this.mirror = new ArrayBuffer(capacity);
    this.u32 = new Uint32Array(this.mirror);
    this.i32 = new Int32Array(this.mirror);
    this.f32 = new Float32Array(this.mirror);
    this.device = device;
  }

  private device: GPUDevice;

  hasRoom(size: number): boolean {
    return this.used + Math.ceil(size / this.align) * this.align <= this.capacity;
  }

  /** Writes one struct's values; returns its byte offset. Fields not given are zero. */
  write(layout: UniformLayout, values: Record<string, number | ArrayLike<number>>, kernel: string): number {
    const offset = this.used;
    const slot = Math.ceil(layout.size / this.align) * this.align;
    if (offset + slot > this.capacity) throw new Error(`lrdif: uniform ring overflow in ${kernel}`);
    this.used += slot;
    this.u32.fill(0, offset / 4, (offset + layout.size) / 4);
    for (const [name, v] of Object.entries(values)) {
      const f = layout.fields.get(name);
      if (!f) {
        throw new Error(`lrdif: kernel ${kernel}: uniform field '${name}' does not exist in ${layout.name} (fields: ${[...layout.fields.keys()].join(', ')})`);
      }
      const view = f.kind === 'u32' ? this.u32 : f.kind === 'i32' ? this.i32 : this.f32;
      if (typeof v === 'number') {
        if (f.count !== 1 && f.perElement === 1) throw new Error(`lrdif: kernel ${kernel}: uniform field '${name}' is an array; pass an array`);
        if (f.kind === 'u32' && (v < 0 || !Number.isInteger(v))) throw new Error(`lrdif: kernel ${kernel}: uniform '${name}' must be a non-negative integer, got ${v}`);
        view[(offset + f.offset) / 4] = v;
      } else {
        if (v.length > f.count) throw new Error(`lrdif: kernel ${kernel}: uniform '${name}' holds ${f.count} values, got ${v.length}`);
        for (let i = 0; i < v.length; i++) {
          const el = Math.floor(i / f.perElement);
          const comp = i % f.perElement;
          view[(offset + f.offset + el * f.elementStride) / 4 + comp] = v[i];
        }
      }
    }
    return offset;
  }

  /** Uploads what this batch wrote and restarts the ring. */
  upload(): void {
    if (this.used === 0) return;
    this.device.queue.writeBuffer(this.buffer, 0, this.mirror, 0, this.used);
    this.used = 0;
  }
}
