/** How many threads share one row in the row-cooperative kernels (softmax, layer norm). */
import type { GpuContext } from '../gpu/context.js';
import { WG } from './util.js';

/** CPU (software) Vulkan adapters: lavapipe/llvmpipe, SwiftShader. */
export function isSoftwareAdapter(ctx: GpuContext): boolean {
  const a = ctx.adapter;
  return a.architecture === 'software' || /llvmpipe|lavapipe|swiftshader/i.test(`${a.description} ${a.device}`);
}

/** Forces the elements per thread (tests and benchmarks use it to reach every path); null: chosen by adapter. */
export const rowKernelTuning: { perThread: number | null } = { perThread: null };

/**
 * The power of two (1…WG) of threads per row so each covers about `perThread` elements.
 * On CPU adapters every workgroup barrier is expensive (measured on lavapipe: a 25088×49
 * softmax takes ~25 ms with 1 thread per row, ~430 ms with 64), so their threads take long
 * stretches; GPUs get short stretches and wide rows of threads.
 */
export function threadsPerRow(ctx: GpuContext, rowLength: number): number {
  const perThread = rowKernelTuning.perThread ?? (isSoftwareAdapter(ctx) ? 256 : 8);
  let t = 1;
  while (t * perThread < rowLength && t < WG) t *= 2;
  return t;
}
