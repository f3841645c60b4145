/**
 * One dispatch of a kernel on scratch buffers (one workgroup, zero uniforms): what makes lavapipe
 * compile a pipeline, which it does at the first run rather than at creation. For the pipelines
 * compiled ahead on a helper device (precompile-node.ts) and the benchmarks that time pipeline
 * compilation (bench/first-step-pipelines.ts, bench/pipeline-async.ts).
 */
import type { GpuContext } from './context.js';
import type { Kernel } from './kernel.js';

type Pooled = ReturnType<GpuContext['acquire']>;

/** Scratch storage buffers shared by the dispatches, one per binding slot (64 KiB each). */
export class ScratchBindings {
  private readonly slots = new Map<number, Pooled>();

  constructor(private readonly ctx: GpuContext) {}

  /** Dispatches `k` once, its storage bindings on the scratch buffers (not waited for). */
  dispatchOnce(k: Kernel): void {
    const bindings: Record<string, Pooled> = {};
    for (const s of k.storage) {
      if (!this.slots.has(s.binding)) this.slots.set(s.binding, this.ctx.acquire(1 << 16, `scratch ${s.binding}`));
      bindings[s.name] = this.slots.get(s.binding)!;
    }
    this.ctx.dispatch(k, { bindings, workgroups: [1] });
  }

  release(): void {
    for (const b of this.slots.values()) this.ctx.release(b);
    this.slots.clear();
  }
}
