/**
 * GpuContext: one WebGPU device and everything lrdif keeps per device — the kernel
 * (pipeline) cache, bind-group cache, uniform ring, buffer pools, the open command encoder
 * that batches dispatches, error reporting and timestamp profiling.
 *
 * Platform-neutral: the Node and browser adapters (`node.ts`, `browser.ts`) create the
 * device and supply the shader sources.
 */
import { expandIncludes } from './shader-include.js';
import { BufferPool, type PooledBuffer, type PoolStats } from './buffer-pool.js';
import { kernelKey, reflectEntry, reflectShader, type Kernel, type KernelChecks, type KernelRequest } from './kernel.js';
import { UniformRing } from './uniform-ring.js';
import { adapterCaps, type AdapterCaps, type SubgroupSizes } from './capabilities.js';
import { applyTuning, defaultTuning, freezeTuning, type ReadonlyKernelTuning, type TuningPatch } from './tuning.js';

export type ShaderSource = (name: string) => string;

export interface DeviceFeatures {
  shaderF16: boolean;
  subgroups: boolean;
  timestampQuery: boolean;
}

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** One line for tables and JSON: "llvmpipe (Mesa 25.0.7, LLVM 15.0.6)". */
  summary: string;
}

export interface DispatchArgs {
  /** Storage buffers by WGSL variable name. */
  bindings: Record<string, PooledBuffer>;
  /** Uniform values by struct field name (scalars or arrays). */
  uniforms?: Record<string, number | ArrayLike<number>>;
  /** Workgroup counts. */
  workgroups: [number, number?, number?];
}

export interface ProfileEntry {
  kernel: string;
  ms: number;
}

export interface ContextOptions {
  /** Wrap every dispatch in its own error scope and flush after it, so a validation error names its kernel exactly. Slow. */
  debug?: boolean;
  /** Bytes of the uniform ring; a full ring flushes the batch. */
  uniformRingBytes?: number;
  /** Kernel variants to force from the start (see `GpuContext.setTuning`). */
  tuning?: TuningPatch;
}

const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */
const READ_USAGE = 0x01 /* MAP_READ */ | 0x08; /* COPY_DST */
const QUERY_CAPACITY = 4096;

/** Objects that must stay referenced while a device lives (dawn.node's root), held for as long as the device is. */
const keptAlive = new WeakMap<GPUDevice, unknown>();

/** New bind groups between two `collectGarbage` calls: with the cache, at most about 12,000 alive. */
export const BIND_GROUPS_PER_COLLECTION = 8192;

export class GpuContext {
  readonly pool: BufferPool;
  private readPool: BufferPool;
  private ring: UniformRing;
  private kernels = new Map<string, Kernel>();
  /** Pipelines being built by `prepareKernels`. */
  private building = new Map<string, Promise<void>>();
  /** The dry run in progress (recordKernels): the kernels recorded so far. */
  private recording: { kernels: KernelRequest[]; seen: Set<string>; build: boolean } | null = null;
  /** What dry runs checked kernels not built yet against (their bindings), by kernel key. */
  private drafts = new Map<string, KernelChecks>();
  private modules = new Map<string, GPUShaderModule>();
  /** Each shader's WGSL, included files expanded, and its parse: one per file, however many variants are built from it. */
  private sources = new Map<string, { code: string; reflect: ReturnType<typeof reflectShader> }>();
  private bindGroups = new Map<string, GPUBindGroup>();
  /** Bind groups kept for reuse, keyed by kernel and buffers (0: none); see `collectGarbage`. */
  bindGroupCacheSize = 4096;
  /**
   * Run by the platform every BIND_GROUPS_PER_COLLECTION new bind groups (Node: a full V8
   * collection). WebGPU cannot release a bind group: a dropped GPUBindGroup gives its native object
   * back only when the JavaScript engine collects the wrapper, which a small heap puts off for
   * minutes. On lavapipe each one holds a descriptor set with its own one-page memory mapping, and
   * training makes hundreds of thousands (a demo run: 340,788 dispatches, 306,120 new bind groups):
   * a process reached the kernel's limit of 65,530 mappings (vm.max_map_count), the next mapping
   * failed, and lavapipe crashed writing through it (SIGSEGV in memset on its queue thread).
   */
  collectGarbage: (() => void) | null = null;
  private bindGroupsSinceCollection = 0;
  /**
   * Put the pool's free buffers in a fixed order at each read and sync (BufferPool.canonicalize),
   * so a repeated step gets the same buffers and hits the bind-group cache. Without it a tiny
   * LRDif training step created about 1,025 bind groups (93 % of its dispatches), about 50 ms of
   * the host thread's time per step; with it none.
   */
  canonicalBufferOrder = true;
  private nextKernelId = 1;

  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Kernels encoded into the open batch, for error messages. */
  private batchKernels: string[] = [];
  /** Number of the open batch; incremented at each flush. */
  batch = 0;
  /** Dispatches since the context was created. */
  dispatchCount = 0;

  private errors: string[] = [];
  private pendingScopes: Promise<void>[] = [];
  private lostInfo: GPUDeviceLostInfo | null = null;
  private disposed = false;

  private profiling = false;
  private querySet: GPUQuerySet | null = null;
  private queryLabels: string[] = [];
  private profileReads: Promise<ProfileEntry[]>[] = [];
  private queryResolve: PooledBuffer | null = null;

  readonly debug: boolean;
  /** What the adapter can do, in the terms the kernels choose by. */
  readonly caps: AdapterCaps;
  private tuningState: ReadonlyKernelTuning;

  constructor(
    readonly device: GPUDevice,
    readonly adapter: AdapterDescription,
    readonly features: DeviceFeatures,
    private shaderSource: ShaderSource,
    options: ContextOptions = {},
    /** Objects that must stay referenced while the device lives (dawn.node's root). */
    keepAlive: unknown = null,
  ) {
    if (keepAlive !== null) keptAlive.set(device, keepAlive);
    this.debug = options.debug ?? false;
    this.caps = adapterCaps(adapter, features, (device as GPUDevice & { adapterInfo?: SubgroupSizes }).adapterInfo);
    this.tuningState = freezeTuning(defaultTuning(this.caps));
    if (options.tuning) {
      try {
        this.tuningState = applyTuning(this.tuningState, options.tuning, this.caps, adapter.summary);
      } catch (e) {
        device.destroy(); // a refused patch must not leave a device keeping the process alive
        throw e;
      }
    }
    this.pool = new BufferPool(device, STORAGE_USAGE, device.limits.maxBufferSize);
    this.pool.onDestroy = () => this.bindGroups.clear();
    this.readPool = new BufferPool(device, READ_USAGE, device.limits.maxBufferSize);
    this.ring = new UniformRing(device, options.uniformRingBytes ?? 1 << 20, device.limits.minUniformBufferOffsetAlignment);
    device.onuncapturederror = (ev: GPUUncapturedErrorEvent) => {
      this.errors.push(ev.error.message);
    };
    void device.lost.then((info) => {
      this.lostInfo = info;
    });
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  // ---------------------------------------------------------------- kernel variants

  /** The kernel variants in force: chosen for this adapter, or forced with `setTuning`. */
  get tuning(): ReadonlyKernelTuning {
    return this.tuningState;
  }

  /**
   * Forces kernel variants, e.g. `ctx.setTuning({ matmul: { path: 'portable' } })`; returns a
   * function that restores the settings in force before. Checks the whole patch before changing
   * anything: an unknown setting, a value out of range or a subgroup path this adapter cannot
   * run throws, naming it. Compiled pipelines stay cached (their keys hold every choice).
   */
  setTuning(patch: TuningPatch): () => void {
    const before = this.tuningState;
    this.tuningState = applyTuning(before, patch, this.caps, this.adapter.summary);
    return () => {
      this.tuningState = before;
    };
  }

  /** Runs `fn` with kernel variants forced (see `setTuning`) and restores them after, also when `fn` throws or its promise rejects. */
  withTuning<T>(patch: TuningPatch, fn: () => T): T {
    const restore = this.setTuning(patch);
    let result: T;
    try {
      result = fn();
    } catch (e) {
      restore();
      throw e;
    }
    if (result instanceof Promise) return result.finally(restore) as T;
    restore();
    return result;
  }

  // ---------------------------------------------------------------- kernels

  kernel(req: KernelRequest): Kernel {
    const key = kernelKey(req);
    const hit = this.kernels.get(key);
    if (hit) return hit;
    const p = this.pipelineParts(req, key);
    const k = this.makeKernel(req, key, p, this.device.createComputePipeline(p.descriptor));
    this.kernels.set(key, k);
    return k;
  }

  /** Whether the pipeline of `req` is built (by a dispatch, `kernel()` or `prepareKernels`). */
  hasKernel(req: KernelRequest): boolean {
    return this.kernels.has(kernelKey(req));
  }

  /** Whether this device has run the kernel of `req` (beyond `recordKernels`' dry runs). */
  hasRun(req: KernelRequest): boolean {
    return this.kernels.get(kernelKey(req))?.ran ?? false;
  }

  /**
   * Builds the pipelines of `reqs` that are not built yet with createComputePipelineAsync, all at
   * once, so the driver may compile them in parallel before they are first dispatched; `kernel()`
   * finds them built. Resolves when all are built.
   */
  async prepareKernels(reqs: KernelRequest[]): Promise<void> {
    this.checkUsable();
    const pending: Promise<void>[] = [];
    for (const req of reqs) {
      const key = kernelKey(req);
      if (this.kernels.has(key) || this.building.has(key)) continue;
      const p = this.pipelineParts(req, key);
      const build = this.device.createComputePipelineAsync(p.descriptor).then((pipeline) => {
        this.building.delete(key);
        if (!this.kernels.has(key)) this.kernels.set(key, this.makeKernel(req, key, p, pipeline));
      });
      this.building.set(key, build);
      pending.push(build);
    }
    await Promise.all(pending);
  }

  /** The shader's source (included files expanded, parsed once per file) and the entry's bindings. */
  private entryOf(req: KernelRequest) {
    let source = this.sources.get(req.shader);
    if (!source) {
      let code: string;
      try {
        code = expandIncludes(req.shader, this.shaderSource);
      } catch (e) {
        const msg = (e as Error).message;
        throw new Error(msg.startsWith('lrdif: shader ') ? msg : `lrdif: cannot load shader '${req.shader}.wgsl': ${msg}`);
      }
      source = { code, reflect: reflectShader(code) };
      this.sources.set(req.shader, source);
    }
    return { source, info: reflectEntry(source.reflect, req) };
  }

  private pipelineParts(req: KernelRequest, key: string) {
    const { source, info } = this.entryOf(req);
    let module = this.modules.get(req.shader);
    if (!module) {
      module = this.device.createShaderModule({ code: source.code, label: `${req.shader}.wgsl` });
      this.modules.set(req.shader, module);
    }
    const entries: GPUBindGroupLayoutEntry[] = info.storage.map((s) => ({
      binding: s.binding,
      visibility: 4 /* COMPUTE */,
      buffer: { type: s.readOnly ? 'read-only-storage' : 'storage' },
    }));
    if (info.uniform) {
      entries.push({
        binding: info.uniform.binding,
        visibility: 4,
        buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: info.uniform.size },
      });
    }
    const layout = this.device.createBindGroupLayout({ entries, label: key });
    const descriptor: GPUComputePipelineDescriptor = {
      label: key,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout], label: key }),
      compute: { module, entryPoint: req.entry ?? 'main', constants: req.constants },
    };
    return { info, layout, descriptor };
  }

  /** A kernel's bindings and label for a dry run's checks: the built kernel if there is one, else its parts with no pipeline. */
  private draftKernel(req: KernelRequest): KernelChecks {
    const key = kernelKey(req);
    const built = this.kernels.get(key);
    if (built) return built;
    let d = this.drafts.get(key);
    if (!d) {
      // only the bindings: no shader module or layouts for a pipeline not built yet
      const { info } = this.entryOf(req);
      d = { label: key, shader: req.shader, storage: info.storage, uniform: info.uniform, request: req };
      this.drafts.set(key, d);
    }
    return d;
  }

  private makeKernel(req: KernelRequest, key: string, p: ReturnType<GpuContext['pipelineParts']>, pipeline: GPUComputePipeline): Kernel {
    return {
      label: key,
      shader: req.shader,
      id: this.nextKernelId++,
      pipeline,
      layout: p.layout,
      storage: p.info.storage,
      uniform: p.info.uniform,
      workgroupSize: p.info.workgroupSize,
      request: req,
      ran: false,
    };
  }

  /**
   * Runs `fn` as a dry run: its dispatches and copies are checked against the shaders' bindings,
   * but nothing is encoded, so the buffers it writes hold nothing meaningful and `fn` must not
   * read any (a read throws). No pipeline is built, unless `build` (each as the dry run reaches
   * it). Returns the kernels it dispatched, in the order of their first dispatch: what
   * `prepareKernels` can build in parallel, and what a helper device can compile ahead (a CPU
   * adapter compiles a pipeline when it first runs it; `hasRun` tells which this device has run).
   * `fn` must leave no state behind that later work reads (dispose what it creates, clear
   * gradients it accumulated).
   */
  recordKernels(fn: () => void, opts: { build?: boolean } = {}): KernelRequest[] {
    this.checkUsable();
    if (this.recording) throw new Error('lrdif: recordKernels: a dry run is already in progress');
    const rec = { kernels: [] as KernelRequest[], seen: new Set<string>(), build: !!opts.build };
    this.recording = rec;
    try {
      fn();
    } finally {
      this.recording = null;
    }
    return rec.kernels;
  }

  // ---------------------------------------------------------------- dispatch

  dispatch(k: Kernel | KernelRequest, args: DispatchArgs): void {
    this.checkUsable();
    // a dry run checks against the shader's bindings, without building the pipeline unless asked
    const checks: KernelChecks = 'pipeline' in k ? k : this.recording && !this.recording.build ? this.draftKernel(k) : this.kernel(k);
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxDim || y > maxDim || z > maxDim || !Number.isInteger(x) || !Number.isInteger(y) || !Number.isInteger(z)) {
      throw new Error(`lrdif: kernel ${checks.label}: workgroup count [${x}, ${y}, ${z}] is invalid (each at most ${maxDim})`);
    }

    // Check the wrapper binds exactly what the shader declares.
    const given = args.bindings;
    for (const s of checks.storage) {
      if (!given[s.name]) {
        throw new Error(`lrdif: kernel ${checks.label}: shader binding '${s.name}' (@binding(${s.binding})) was not bound by the caller`);
      }
    }
    if (Object.keys(given).length !== checks.storage.length) {
      for (const name of Object.keys(given)) {
        if (!checks.storage.some((s) => s.name === name)) {
          throw new Error(
            `lrdif: kernel ${checks.label}: the caller binds '${name}', which the shader does not declare (it declares: ${checks.storage.map((s) => s.name).join(', ')})`,
          );
        }
      }
    }

    this.checkBindingSizes(checks, given);

    if (this.recording) {
      if (!this.recording.seen.has(checks.label)) {
        this.recording.seen.add(checks.label);
        this.recording.kernels.push(checks.request);
      }
      return;
    }
    // outside a dry run it is built
    const kernel = checks as Kernel;
    kernel.ran = true;

    if (this.profiling && this.querySet && this.queryLabels.length + 2 > QUERY_CAPACITY) this.flush();
    if (!this.ring.hasRoom(kernel.uniform?.size ?? 0)) this.flush();

    let uniformOffset = -1;
    if (kernel.uniform) {
      uniformOffset = this.ring.write(kernel.uniform, args.uniforms ?? {}, kernel.label);
    } else if (args.uniforms && Object.keys(args.uniforms).length) {
      throw new Error(`lrdif: kernel ${kernel.label}: uniforms were given but the shader declares no var<uniform>`);
    }

    // Pushed only once nothing can throw before the matching pop: a scope left open would swallow later errors.
    if (this.debug) this.device.pushErrorScope('validation');
    const bg = this.bindGroup(kernel, given);
    const pass = this.beginPass(kernel.label);
    pass.setPipeline(kernel.pipeline);
    if (uniformOffset >= 0) pass.setBindGroup(0, bg, [uniformOffset]);
    else pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(x, y, z);
    for (const s of kernel.storage) given[s.name].lastBatch = this.batch;
    this.batchKernels.push(kernel.label);
    this.dispatchCount++;
    if (this.profiling) this.endPass();
    if (this.debug) {
      this.flush();
      const label = kernel.label;
      this.pendingScopes.push(
        this.device.popErrorScope().then((err) => {
          if (err) this.errors.push(`in kernel ${label}: ${err.message}`);
        }),
      );
    }
  }

  /**
   * A storage binding larger than the device binds at once would be a WebGPU validation error
   * surfacing later, naming neither the op nor the tensor: refuse it here, before anything is
   * encoded, naming the op, the binding, what it holds, the limit and what to do.
   */
  private checkBindingSizes(kernel: KernelChecks, given: Record<string, PooledBuffer>): void {
    const limit = this.device.limits.maxStorageBufferBindingSize;
    for (const s of kernel.storage) {
      const pb = given[s.name];
      const bytes = pb.used ?? pb.capacity;
      if (bytes > limit) {
        throw new Error(
          `lrdif: ${kernel.shader}: binding '${s.name}' is ${pb.what ?? 'a buffer'} of ${bytes.toLocaleString('en')} bytes, more than this device binds at once ` +
            `(maxStorageBufferBindingSize ${limit.toLocaleString('en')} bytes); work on fewer or smaller tensors at once (split the batch, scale images down first)`,
        );
      }
    }
  }

  /** 1-D grid of `n` workgroups folded into x and y so each stays under the per-dimension limit. */
  grid(n: number): [number, number] {
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (n <= maxDim) return [n, 1];
    const y = Math.ceil(n / maxDim);
    return [Math.ceil(n / y), y];
  }

  private bindGroup(kernel: Kernel, given: Record<string, PooledBuffer>): GPUBindGroup {
    const cached = this.bindGroupCacheSize > 0;
    let key = '';
    if (cached) {
      key = `${kernel.id}`;
      for (const s of kernel.storage) key += `,${given[s.name].id}`;
      const hit = this.bindGroups.get(key);
      if (hit) return hit;
    }
    // a pooled buffer's bucket can be larger than the binding limit while its contents fit: bind only what may be bound
    const limit = this.device.limits.maxStorageBufferBindingSize;
    const entries: GPUBindGroupEntry[] = kernel.storage.map((s) => {
      const pb = given[s.name];
      return { binding: s.binding, resource: pb.capacity > limit ? { buffer: pb.buffer, size: Math.floor(limit / 4) * 4 } : { buffer: pb.buffer } };
    });
    if (kernel.uniform) {
      entries.push({ binding: kernel.uniform.binding, resource: { buffer: this.ring.buffer, offset: 0, size: kernel.uniform.size } });
    }
    const bg = this.device.createBindGroup({ layout: kernel.layout, entries, label: kernel.label });
    if (this.collectGarbage && ++this.bindGroupsSinceCollection >= BIND_GROUPS_PER_COLLECTION) {
      this.bindGroupsSinceCollection = 0;
      this.collectGarbage();
    }
    if (cached) {
      if (this.bindGroups.size >= this.bindGroupCacheSize) this.bindGroups.clear();
      this.bindGroups.set(key, bg);
    }
    return bg;
  }

  private beginPass(label: string): GPUComputePassEncoder {
    if (this.pass) return this.pass;
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'lrdif batch' });
    if (this.profiling) {
      if (!this.querySet) this.querySet = this.device.createQuerySet({ type: 'timestamp', count: QUERY_CAPACITY });
      const i = this.queryLabels.length;
      this.queryLabels.push(label, label);
      this.pass = this.encoder.beginComputePass({
        label,
        timestampWrites: { querySet: this.querySet, beginningOfPassWriteIndex: i, endOfPassWriteIndex: i + 1 },
      });
    } else {
      this.pass = this.encoder.beginComputePass({ label: 'lrdif kernels' });
    }
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private getEncoder(): GPUCommandEncoder {
    this.endPass();
    if (!this.encoder) this.encoder = this.device.createCommandEncoder({ label: 'lrdif batch' });
    return this.encoder;
  }

  // ---------------------------------------------------------------- buffers

  acquire(bytes: number, label?: string): PooledBuffer {
    this.checkUsable();
    return this.pool.acquire(bytes, label);
  }

  release(pb: PooledBuffer): void {
    if (this.disposed) return;
    this.pool.release(pb);
  }

  /** Writes host data into a buffer, ordered after every dispatch already encoded. */
  upload(pb: PooledBuffer, data: ArrayBufferView, byteOffset = 0): void {
    this.checkUsable();
    if (data.byteLength === 0) return;
    // queue.writeBuffer lands before the open (unsubmitted) batch: if that batch touches the
    // buffer, submit it first so the order the program asked for is kept.
    if (pb.lastBatch === this.batch && this.encoder) this.flush();
    let src = data;
    if (typeof SharedArrayBuffer !== 'undefined' && data.buffer instanceof SharedArrayBuffer) {
      src = new Uint8Array(data.byteLength);
      (src as Uint8Array).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    if (src.byteLength % 4 !== 0) throw new Error(`lrdif: upload of ${src.byteLength} bytes is not a multiple of 4`);
    this.device.queue.writeBuffer(pb.buffer, byteOffset, src.buffer, src.byteOffset, src.byteLength);
  }

  /** Encodes a buffer-to-buffer copy into the open batch. */
  copy(src: PooledBuffer, srcOffset: number, dst: PooledBuffer, dstOffset: number, bytes: number): void {
    this.checkUsable();
    if (bytes === 0 || this.recording) return;
    this.getEncoder().copyBufferToBuffer(src.buffer, srcOffset, dst.buffer, dstOffset, bytes);
    src.lastBatch = this.batch;
    dst.lastBatch = this.batch;
    this.batchKernels.push('copy');
  }

  /** Encodes zeroing `bytes` of a buffer from `offset` (both multiples of 4) into the open batch. */
  clear(pb: PooledBuffer, offset: number, bytes: number): void {
    this.checkUsable();
    if (bytes === 0 || this.recording) return;
    this.getEncoder().clearBuffer(pb.buffer, offset, bytes);
    pb.lastBatch = this.batch;
    this.batchKernels.push('clear');
  }

  /** Reads `bytes` from the start of a buffer. Flushes the open batch. */
  async read(pb: PooledBuffer, bytes: number): Promise<ArrayBuffer> {
    this.checkUsable();
    if (this.recording) throw new Error('lrdif: a read inside recordKernels: a dry run encodes nothing, so there is nothing to read');
    if (bytes === 0) return new ArrayBuffer(0);
    if (this.canonicalBufferOrder) this.pool.canonicalize();
    const staging = this.readPool.acquire(bytes, 'readback');
    const enc = this.getEncoder();
    enc.copyBufferToBuffer(pb.buffer, 0, staging.buffer, 0, bytes);
    this.flush();
    try {
      await staging.buffer.mapAsync(1 /* READ */, 0, bytes);
    } catch (e) {
      await this.throwPendingErrors();
      this.checkUsable();
      throw new Error(`lrdif: readback failed: ${(e as Error).message}`);
    }
    const out = staging.buffer.getMappedRange(0, bytes).slice(0);
    staging.buffer.unmap();
    this.readPool.release(staging);
    await this.throwPendingErrors();
    return out;
  }

  // ---------------------------------------------------------------- submission

  /** Submits the open batch (if any). */
  flush(): void {
    if (!this.encoder && !this.pass) return;
    this.checkUsable();
    this.endPass();
    const enc = this.encoder!;
    let profileRead: { buf: PooledBuffer; labels: string[] } | null = null;
    if (this.profiling && this.querySet && this.queryLabels.length) {
      const n = this.queryLabels.length;
      if (!this.queryResolve) {
        this.queryResolve = {
          buffer: this.device.createBuffer({ size: QUERY_CAPACITY * 8, usage: 0x200 /* QUERY_RESOLVE */ | 0x04 }),
          capacity: QUERY_CAPACITY * 8,
          id: -1,
          lastBatch: -1,
        };
      }
      enc.resolveQuerySet(this.querySet, 0, n, this.queryResolve.buffer, 0);
      const rb = this.readPool.acquire(n * 8, 'timestamps');
      enc.copyBufferToBuffer(this.queryResolve.buffer, 0, rb.buffer, 0, n * 8);
      profileRead = { buf: rb, labels: this.queryLabels };
      this.queryLabels = [];
    }
    this.ring.upload();
    const kernels = this.batchKernels;
    this.device.pushErrorScope('validation');
    const cb = enc.finish();
    this.device.queue.submit([cb]);
    this.pendingScopes.push(
      this.device.popErrorScope().then((err) => {
        if (err) {
          const names = [...new Set(kernels)].join(', ');
          this.errors.push(`${err.message}\n  (in a batch with kernels: ${names}; set LRDIF_DEBUG=1 to name the exact kernel)`);
        }
      }),
    );
    this.encoder = null;
    this.batchKernels = [];
    this.batch++;
    if (profileRead) {
      const { buf, labels } = profileRead;
      this.profileReads.push(
        buf.buffer.mapAsync(1, 0, labels.length * 8).then(() => {
          const t = new BigInt64Array(buf.buffer.getMappedRange(0, labels.length * 8).slice(0));
          buf.buffer.unmap();
          this.readPool.release(buf);
          const out: ProfileEntry[] = [];
          for (let i = 0; i < labels.length; i += 2) out.push({ kernel: labels[i], ms: Number(t[i + 1] - t[i]) / 1e6 });
          return out;
        }),
      );
    }
  }

  /** Flushes and waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    if (this.canonicalBufferOrder) this.pool.canonicalize();
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.throwPendingErrors();
  }

  private async throwPendingErrors(): Promise<void> {
    if (this.pendingScopes.length) {
      const scopes = this.pendingScopes;
      this.pendingScopes = [];
      await Promise.all(scopes);
    }
    if (this.errors.length) {
      const msg = this.errors.join('\n');
      this.errors = [];
      throw new Error(`lrdif: WebGPU error: ${msg}`);
    }
  }

  private checkUsable(): void {
    if (this.disposed) throw new Error('lrdif: this GPU context has been disposed');
    if (this.lostInfo) {
      const last = this.batchKernels.slice(-5).join(', ') || 'none pending';
      throw new Error(`lrdif: the GPU device was lost (${this.lostInfo.reason}: ${this.lostInfo.message}); last kernels: ${last}`);
    }
    if (this.errors.length) {
      const msg = this.errors.join('\n');
      this.errors = [];
      throw new Error(`lrdif: WebGPU error: ${msg}`);
    }
  }

  // ---------------------------------------------------------------- profiling

  get canProfile(): boolean {
    return this.features.timestampQuery;
  }

  /** Starts timing every dispatch with timestamp queries (one compute pass per dispatch). */
  startProfile(): void {
    if (!this.features.timestampQuery) throw new Error('lrdif: this adapter has no timestamp-query feature; profile with wall time instead');
    this.endPass();
    this.profiling = true;
  }

  /** Stops timing and returns one entry per dispatch since `startProfile()`. */
  async stopProfile(): Promise<ProfileEntry[]> {
    this.flush();
    this.profiling = false;
    const reads = this.profileReads;
    this.profileReads = [];
    const parts = await Promise.all(reads);
    return parts.flat();
  }

  // ---------------------------------------------------------------- lifetime

  stats(): PoolStats & { kernels: number; bindGroups: number; dispatches: number } {
    return { ...this.pool.getStats(), kernels: this.kernels.size, bindGroups: this.bindGroups.size, dispatches: this.dispatchCount };
  }

  /** Destroys pooled free buffers (after flushing). */
  async trim(): Promise<void> {
    await this.sync();
    this.pool.trim();
    this.readPool.trim();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  get lost(): GPUDeviceLostInfo | null {
    return this.lostInfo;
  }

  /** Destroys the device so Node can exit. Safe to call twice. */
  dispose(): void {
    if (this.disposed) return;
    try {
      if (!this.lostInfo) this.flush();
    } catch {
      // a failing batch must not prevent the device from being destroyed
    }
    this.disposed = true;
    this.device.destroy();
    this.kernels.clear();
    this.sources.clear();
    this.modules.clear();
    this.bindGroups.clear();
    keptAlive.delete(this.device);
  }
}
