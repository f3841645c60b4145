/**
 * What a training run compiles ahead on a helper device (gpu/precompile-node.ts), on a CPU
 * adapter where lavapipe compiles each pipeline with LLVM when the device first runs it, one at
 * a time on the device's thread, while the second core idles.
 *
 * The helper starts at once with the window attention's backward pipelines, the costliest to
 * compile (bwd_kv 10–19 s), which the main device reaches only after the whole first forward.
 * Once the trainer is built, a dry run of its step (StageRun.stepKernels) lists every kernel of
 * the step's forward and backward; the helper takes them from the last to the first while the
 * main device compiles from the first: each finds what the other compiled in Mesa's shader
 * cache, and the two meet somewhere in the middle. The trainer stops the helper once the first
 * step's backward has run.
 */
import type { GpuContext } from '../gpu/context.js';
import type { KernelRequest } from '../gpu/kernel.js';
import { existsSync } from 'node:fs';
import { HelperCompiler, helperCanPrecompile, precompiledMarker, type HelperOutcome } from '../gpu/precompile-node.js';
import { windowAttentionKernels } from '../kernels/window-attention.js';
import type { CompileAhead } from './trainer.js';

/** A helper compiling a training run's pipelines ahead: what the trainer tells it, and when it is done. */
export interface TrainingCompileAhead extends CompileAhead {
  /** Resolves once the helper device is given back; never rejects. */
  readonly done: Promise<HelperOutcome>;
}

/**
 * Starts the helper where it can help (a CPU adapter with Mesa's shader cache, the subgroup window
 * attention not compiled yet, and no marker of an earlier run into the same cache); null where not.
 */
export function compileTrainingAhead(ctx: GpuContext): TrainingCompileAhead | null {
  const first = windowAttentionKernels(ctx, 'backward').filter((k) => !ctx.hasKernel(k));
  if (!first.length || !helperCanPrecompile(ctx) || existsSync(precompiledMarker(ctx, first))) return null;
  const helper = new HelperCompiler(ctx, first, { open: true });
  return {
    done: helper.done,
    // the step's kernels from its last to its first, against the main device's first to last
    add: (kernels: KernelRequest[]) => {
      helper.add(kernels.filter((k) => !ctx.hasRun(k)).reverse());
      helper.seal();
    },
    stop: () => helper.stop(),
  };
}
