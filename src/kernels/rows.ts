/** How many threads share one row in the row-cooperative kernels (softmax, layer norm). */
import type { GpuContext } from '../gpu/context.js';
import { WG } from './util.js';

/**
 * The power of two (1…WG) of threads per row so each covers about `ctx.tuning.rowKernels.perThread`
 * elements. On CPU adapters every workgroup barrier is expensive (measured on lavapipe: a
 * 25088×49 softmax takes ~25 ms with 1 thread per row, ~430 ms with 64), so their threads take
 * long stretches (256); GPUs get short stretches (8) and wide rows of threads.
 */
export function threadsPerRow(ctx: GpuContext, rowLength: number): number {
  const perThread = ctx.tuning.rowKernels.perThread;
  let t = 1;
  while (t * perThread < rowLength && t < WG) t *= 2;
  return t;
}
