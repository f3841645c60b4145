/**
 * The host side of the kernels on strips of four columns (shaders/rows3x3.wgsl: gdfn.wgsl,
 * depthwise.wgsl's `*_strips` entries): how a plane's rows are split into chunks, and how an
 * output is bound when the shader declares it both as f32 and as vec4 (QUADS).
 */
import type { PooledBuffer } from '../gpu/buffer-pool.js';
import type { GpuContext } from '../gpu/context.js';

/** Invocations worth having on this adapter: a few workgroups per core on CPUs, many on GPUs. */
export function targetInvocations(ctx: GpuContext): number {
  return ctx.caps.isCpuAdapter ? 1024 : 32768;
}

export interface StripPlan {
  /** Strips of four columns per row. */
  strips: number;
  chunks: number;
  rowsPerChunk: number;
}

/**
 * Strips of an H × W plane, and its rows in chunks: split only when `planes` planes alone give
 * too few invocations, in chunks of ≥ 4 rows (each chunk reloads a 2-row halo); `forcedRows`
 * (a tuning setting) overrides.
 */
export function stripPlan(ctx: GpuContext, H: number, W: number, planes: number, forcedRows: number | null = null): StripPlan {
  const strips = Math.ceil(W / 4);
  let rowsPerChunk: number;
  if (forcedRows) {
    rowsPerChunk = Math.min(H, forcedRows);
  } else {
    const wanted = Math.ceil(targetInvocations(ctx) / Math.max(1, planes * strips));
    rowsPerChunk = Math.max(Math.min(4, H), Math.ceil(H / wanted));
  }
  rowsPerChunk = Math.max(1, rowsPerChunk);
  return { strips, chunks: Math.ceil(H / rowsPerChunk), rowsPerChunk };
}

/**
 * Bindings of an output the shader declares in both forms, [f32 name, vec4 name]: `out` to the
 * form the pipeline writes (vec4 with `quads`), `spare` (a 16-byte buffer) to the other, since
 * writable bindings may not alias.
 */
export function outputForms(quads: boolean, names: readonly [string, string], out: PooledBuffer, spare: PooledBuffer): Record<string, PooledBuffer> {
  return quads ? { [names[0]]: spare, [names[1]]: out } : { [names[0]]: out, [names[1]]: spare };
}
