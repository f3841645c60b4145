/**
 * What average pooling (pool.ts) and max pooling (maxpool.ts) share: the window geometry of
 * NCHW input and the uniforms of shaders/pool_window.wgsl, which both shaders include.
 */
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import { assertFloat } from './util.js';

export interface PoolGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  oh: number;
  ow: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  /** Padding before (top, left). */
  pt: number;
  pl: number;
}

/** Checks that x is float32 images [N, C, H, W]. */
export function assertImages(op: string, x: Tensor): void {
  assertFloat(op, x);
  if (x.rank !== 4) throw new Error(`lrdif: ${op}: input must be 4-D [N, C, H, W], got ${fmtShape(x.shape)}`);
}

/** pool_window.wgsl's Params for `total` invocations; `scale` (average) and `slope` (max epilogue) as the kernel needs. */
export function poolUniforms(g: PoolGeometry, total: number, extra: { scale?: number; slope?: number } = {}): Record<string, number> {
  return {
    planes: g.n * g.c,
    c: g.c,
    h: g.h,
    w: g.w,
    oh: g.oh,
    ow: g.ow,
    kh: g.kh,
    kw: g.kw,
    sh: g.sh,
    sw: g.sw,
    pt: g.pt,
    pl: g.pl,
    total,
    scale: extra.scale ?? 0,
    slope: extra.slope ?? 0,
  };
}
