/**
 * What a training run compiles ahead on a helper device (gpu/precompile-node.ts): the window
 * attention's backward pipelines, the costliest to compile (bwd_kv 10–19 s on lavapipe). The
 * helper builds them while the main device embeds the images, builds the model and runs the
 * first forward; lavapipe compiles a pipeline when the device first runs it, which for bwd_kv
 * comes after the whole first forward has run, so the main device then finds it in Mesa's shader
 * cache. Not the forward's: the main device reaches it before the helper could finish it after
 * bwd_kv.
 */
import type { GpuContext } from '../gpu/context.js';
import { helperCanPrecompile, precompileOnHelper } from '../gpu/precompile-node.js';
import { windowAttentionKernels } from '../kernels/window-attention.js';

/** Starts the helper where it can help (a CPU adapter, pipelines not built yet); null where not. Never rejects. */
export function compileTrainingAhead(ctx: GpuContext): Promise<'compiled' | 'skipped' | 'failed'> | null {
  const kernels = windowAttentionKernels(ctx, 'backward').filter((k) => !ctx.hasKernel(k));
  return kernels.length && helperCanPrecompile(ctx) ? precompileOnHelper(ctx, kernels) : null;
}
