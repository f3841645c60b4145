/**
 * Pipelines compiled ahead on a helper device, for the first training step on a CPU adapter.
 *
 * lavapipe compiles a compute pipeline with LLVM when the device first runs it, on the device's
 * own thread, one pipeline at a time: while the main device compiles, the second core idles. A
 * second device has a thread of its own, and Mesa's shader cache (on disk, shared by the devices
 * of a process) hands what the helper compiled to the main device as a cache hit. So the helper
 * builds pipelines the run will need (asynchronously: the host thread is not held)
 * and runs each once on scratch buffers, while the main device is still loading data, building
 * the model and compiling the pipelines it reaches first.
 *
 * Only pipelines the main device reaches after the helper has finished them are worth it: one
 * the main device reaches while the helper compiles it is compiled on both (as happened when a
 * helper built every pipeline in the main device's order; docs/PERFORMANCE.md, "The cold first
 * step"). So a training run gives the helper the pipelines the main device reaches last first
 * (train/compile-ahead-node.ts). A failure costs only the head start.
 *
 * Once a helper has compiled a set of pipelines into Mesa's shader cache, a marker file in the
 * cache's folder says so (named by the adapter and the shaders' code), and later runs skip the
 * helper: with the cache warm it would only cost CPU time (about 3 s of it, 0.5 s of wall time
 * to the first step). The marker goes when the folder is deleted; if Mesa evicts the pipelines
 * alone, the main device compiles them as it would without a helper.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { GpuContext } from './context.js';
import { kernelKey, type KernelRequest } from './kernel.js';
import { createNodeContext, nodeShaderSource } from './node.js';
import { ScratchBindings } from './scratch-dispatch.js';
import { expandIncludes } from './shader-include.js';

const truthy = (v: string | undefined) => !!v && /^(1|true|yes)$/i.test(v);

/** Whether a helper can help here: a CPU adapter whose compiled pipelines go to Mesa's shader cache. */
export function helperCanPrecompile(ctx: GpuContext): boolean {
  return ctx.caps.isCpuAdapter && !truthy(process.env.MESA_SHADER_CACHE_DISABLE) && !truthy(process.env.MESA_GLSL_CACHE_DISABLE);
}

/** The marker of `requests` compiled into this process's Mesa shader cache (in that cache's folder). */
export function precompiledMarker(ctx: GpuContext, requests: KernelRequest[]): string {
  const h = createHash('sha256');
  h.update(ctx.adapter.summary);
  for (const req of requests) h.update(`\0${kernelKey(req)}\0${expandIncludes(req.shader, nodeShaderSource)}`);
  const dir = process.env.MESA_SHADER_CACHE_DIR || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'mesa_shader_cache');
  return join(dir, `lrdif-precompiled-${h.digest('hex').slice(0, 24)}.json`);
}

/** How a helper's work ended: compiled (or stopped once the run needed no more), skipped (the marker says an earlier run did it), failed. */
export type HelperOutcome = 'compiled' | 'skipped' | 'failed';

/**
 * A helper device compiling a queue of pipelines in order, each created asynchronously (off the
 * host thread) and then run once on scratch buffers. `open` keeps it waiting for more (`add`)
 * until `seal` or `stop`. Never rejects: where the helper fails, the main device compiles the
 * pipelines itself. Once done without failing, it writes the marker of its first requests.
 */
export class HelperCompiler {
  readonly done: Promise<HelperOutcome>;
  /** Kernel keys the helper has compiled, in order. */
  readonly compiled: string[] = [];
  private readonly queue: KernelRequest[] = [];
  private readonly queued = new Set<string>();
  private readonly created = new Map<string, Promise<void>>();
  private helper: GpuContext | null = null;
  private sealed = false;
  private stopped = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly ctx: GpuContext,
    first: KernelRequest[],
    opts: { open?: boolean } = {},
  ) {
    this.add(first);
    this.sealed = !opts.open;
    this.done = this.run(first);
  }

  /** Appends kernels not queued yet (ignored once sealed or stopped). */
  add(kernels: KernelRequest[]): void {
    if (this.sealed) return;
    for (const req of kernels) {
      const key = kernelKey(req);
      if (this.queued.has(key)) continue;
      this.queued.add(key);
      this.queue.push(req);
      this.create(req);
    }
    this.poke();
  }

  /** No more kernels will come: the helper finishes its queue. */
  seal(): void {
    this.sealed = true;
    this.poke();
  }

  /** Start no other pipeline (the one being compiled finishes; no marker unless the first requests were compiled). */
  stop(): void {
    this.stopped = true;
    this.sealed = true;
    this.poke();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  // every queued pipeline's creation starts at once; a failed one is handled when its turn comes,
  // not reported as an unhandled rejection before it
  private create(req: KernelRequest): void {
    if (!this.helper) return;
    const p = this.helper.prepareKernels([req]);
    p.catch(() => {});
    this.created.set(kernelKey(req), p);
  }

  private async run(first: KernelRequest[]): Promise<HelperOutcome> {
    try {
      const marker = precompiledMarker(this.ctx, first);
      this.helper = await createNodeContext();
      for (const req of this.queue) this.create(req);
      const scratch = new ScratchBindings(this.helper);
      for (;;) {
        if (this.stopped) break;
        const req = this.queue.shift();
        if (!req) {
          if (this.sealed) break;
          await new Promise<void>((r) => (this.wake = r));
          continue;
        }
        const key = kernelKey(req);
        await this.created.get(key);
        scratch.dispatchOnce(this.helper.kernel(req));
        await this.helper.sync();
        this.compiled.push(key);
      }
      scratch.release();
      // the marker only once its requests are in the cache (stopped early, the main device may not have run them)
      if (first.every((req) => this.compiled.includes(kernelKey(req)) || this.ctx.hasRun(req))) {
        mkdirSync(dirname(marker), { recursive: true });
        const tmp = `${marker}.${process.pid}.tmp`;
        writeFileSync(tmp, `${JSON.stringify({ kernels: this.compiled, adapter: this.ctx.adapter.summary, at: new Date().toISOString() })}\n`);
        renameSync(tmp, marker);
      }
      return 'compiled';
    } catch {
      return 'failed';
    } finally {
      this.helper?.dispose();
    }
  }
}

/**
 * Compiles `requests` in order on a new device of the same adapter, then gives the device back
 * ('compiled'), unless the marker says an earlier run did so into the same shader cache
 * ('skipped'). Never rejects: where the helper fails ('failed') the main device compiles the
 * pipelines itself.
 */
export async function precompileOnHelper(ctx: GpuContext, requests: KernelRequest[]): Promise<HelperOutcome> {
  try {
    if (existsSync(precompiledMarker(ctx, requests))) return 'skipped';
  } catch {
    return 'failed';
  }
  return new HelperCompiler(ctx, requests).done;
}
