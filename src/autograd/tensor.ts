/**
 * Tensor: a shape, a dtype and reference-counted GPU storage. Storage is always contiguous
 * row-major; `reshape` makes a view sharing the storage, every other layout change copies.
 * Memory is released explicitly (`dispose`, or a `tidy` scope), never by the garbage collector.
 */
import type { PooledBuffer } from '../gpu/buffer-pool.js';
import type { GpuContext } from '../gpu/context.js';
import { engine, type TapeNode } from './engine.js';

export type DType = 'f32' | 'i32';
export type Shape = readonly number[];
export type TypedArrayFor<D extends DType> = D extends 'i32' ? Int32Array : Float32Array;

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function checkShape(shape: Shape, what = 'tensor'): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`lrdif: ${what}: invalid shape [${shape.join(', ')}] (dimensions must be non-negative integers)`);
  }
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** GPU memory shared by a tensor and its views; returned to the pool when the last user lets go. */
export class Storage {
  refs = 1;
  constructor(
    readonly ctx: GpuContext,
    readonly pb: PooledBuffer,
    readonly bytes: number,
  ) {}

  retain(): this {
    this.refs++;
    return this;
  }

  releaseRef(): void {
    if (--this.refs === 0) this.ctx.release(this.pb);
  }
}

let nextTensorId = 1;

export class Tensor {
  readonly id = nextTensorId++;
  readonly size: number;
  /** Set when this tensor needs a gradient (parameters, or anything computed from one while grad is enabled). */
  requiresGrad = false;
  /** Accumulated gradient of a leaf tensor after `backward`. */
  grad: Tensor | null = null;
  /** The graph node that produced this tensor (null for leaves); stays set, marked released, after its graph is freed. */
  node: TapeNode | null = null;
  /** Optional name used in error messages (parameters carry their path). */
  name: string | null = null;
  /** The tidy scope that owns this tensor, if any. */
  scope: Set<Tensor> | null = null;
  private disposedFlag = false;

  constructor(
    private readonly store: Storage,
    readonly shape: Shape,
    readonly dtype: DType,
    track = true,
  ) {
    this.size = sizeOf(shape);
    if (track) engine.track(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  get isDisposed(): boolean {
    return this.disposedFlag;
  }

  get storage(): Storage {
    if (this.disposedFlag) throw new Error(`lrdif: ${this.describe()} was used after it was disposed`);
    return this.store;
  }

  /** The GPU buffer holding the data (bucketed: may be larger than the tensor). */
  get buffer(): PooledBuffer {
    return this.storage.pb;
  }

  get ctx(): GpuContext {
    return this.store.ctx;
  }

  describe(): string {
    return `tensor${this.name ? ` '${this.name}'` : ''} ${fmtShape(this.shape)} ${this.dtype}`;
  }

  /** A new tensor object over the same storage (a view); `shape` must have the same size. */
  view(shape: Shape, track = true): Tensor {
    return new Tensor(this.storage.retain(), shape, this.dtype, track);
  }

  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.store.releaseRef();
    // an op's output: its node loses a holder (and is freed if nothing else can reach it)
    if (this.node) engine.outputDisposed(this.node);
    if (this.scope) {
      this.scope.delete(this);
      this.scope = null;
    }
  }

  /** Reads the data back to the host (flushes pending GPU work). */
  async data(): Promise<TypedArrayFor<this['dtype']>> {
    const buf = await this.ctx.read(this.storage.pb, this.size * 4);
    return (this.dtype === 'i32' ? new Int32Array(buf) : new Float32Array(buf)) as TypedArrayFor<this['dtype']>;
  }

  /** Reads a one-element tensor as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`lrdif: item() needs a tensor with one element, got ${this.describe()}`);
    return (await this.data())[0];
  }

  toString(): string {
    return `Tensor(${fmtShape(this.shape)}, ${this.dtype}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

/** Allocates an uninitialised tensor on the current context. */
export function empty(shape: Shape, dtype: DType = 'f32', ctx: GpuContext = engine.ctx): Tensor {
  checkShape(shape);
  const bytes = sizeOf(shape) * 4;
  const pb = ctx.acquire(bytes, `tensor ${fmtShape(shape)} ${dtype}`);
  return new Tensor(new Storage(ctx, pb, bytes), [...shape], dtype);
}

/** Uploads host data into a new tensor. */
export function tensor(data: ArrayLike<number>, shape?: Shape, dtype: DType = 'f32', ctx: GpuContext = engine.ctx): Tensor {
  const s = shape ?? [data.length];
  checkShape(s);
  if (sizeOf(s) !== data.length) {
    throw new Error(`lrdif: tensor(): ${data.length} values do not fill shape ${fmtShape(s)} (${sizeOf(s)} elements)`);
  }
  const t = empty(s, dtype, ctx);
  const arr = dtype === 'i32' ? (data instanceof Int32Array ? data : Int32Array.from(data)) : data instanceof Float32Array ? data : Float32Array.from(data);
  ctx.upload(t.buffer, arr);
  return t;
}

export function scalar(value: number, dtype: DType = 'f32'): Tensor {
  return tensor([value], [], dtype);
}
