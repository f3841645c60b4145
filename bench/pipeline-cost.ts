/**
 * What a pipeline costs to build and compile on this adapter: created (`create`: Dawn's Tint, then
 * the driver's front end), then dispatched once on scratch buffers and waited for (`first`:
 * lavapipe compiles with LLVM at a pipeline's first run). Wall and CPU ms of the whole process,
 * every thread. Shared by bench/first-step-pipelines.ts and bench/pipeline-compile.ts.
 */
import type { GpuContext } from '../src/gpu/context.js';
import type { KernelRequest } from '../src/gpu/kernel.js';
import { ScratchBindings } from '../src/gpu/scratch-dispatch.js';

export interface PipelineCost {
  label: string;
  createMs: number;
  firstMs: number;
  createCpuMs: number;
  firstCpuMs: number;
}

/** CPU ms this process has used (user + system, every thread). */
export function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Builds and first-dispatches each request in turn, waiting after each. */
export async function timePipelines(ctx: GpuContext, reqs: KernelRequest[]): Promise<PipelineCost[]> {
  const scratch = new ScratchBindings(ctx);
  const costs: PipelineCost[] = [];
  try {
    for (const req of reqs) {
      const c0 = processCpuMs();
      const t0 = performance.now();
      const k = ctx.kernel(req);
      const t1 = performance.now();
      const c1 = processCpuMs();
      scratch.dispatchOnce(k);
      await ctx.sync();
      costs.push({ label: k.label, createMs: t1 - t0, firstMs: performance.now() - t1, createCpuMs: c1 - c0, firstCpuMs: processCpuMs() - c1 });
    }
  } finally {
    scratch.release();
  }
  return costs;
}
