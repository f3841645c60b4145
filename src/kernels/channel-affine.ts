/**
 * Per-(image, channel) affine map of NCHW (shaders/channel_affine.wgsl), with its backward rule:
 * y[n, c] = x[n, c] · k[n, c] + k[n, C + c], the scale and shift of each image packed side by
 * side in k [N, 2C] (LRDif's prior modulation W₁Z ⊙ F + W₂Z, where k = [W₁Z, W₂Z] comes from
 * one product). One dispatch forward; backward one for dx = g · scale and one for dk (Σ_hw g·x
 * and Σ_hw g), written straight into k's layout: no slices of k, no pads or sums in backward.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import type { PooledBuffer } from '../gpu/buffer-pool.js';
import { alloc, assertFloat, grid1d } from './util.js';

const OP = 'channelAffine';

interface Planes {
  /** N·C planes of `size` = H·W values, C channels per image. */
  planes: number;
  size: number;
  c: number;
}

/** y = x·scale + shift (withShift false: x·scale); vec4 where the planes are whole quads. */
function applyRaw(x: Tensor, k: Tensor, v: Planes, withShift: boolean): Tensor {
  const y = alloc(x.shape);
  if (y.size === 0) return y;
  const ctx = x.ctx;
  const quads = v.size % 4 === 0;
  ctx.dispatch(
    { shader: 'channel_affine', entry: quads ? 'apply4' : 'apply' },
    {
      bindings: quads ? { k: k.buffer, x4: x.buffer, y4: y.buffer } : { k: k.buffer, x: x.buffer, y: y.buffer },
      uniforms: { planes: v.planes, size: v.size, c: v.c, has_shift: withShift ? 1 : 0 },
      workgroups: grid1d(ctx, quads ? y.size / 4 : y.size),
    },
  );
  return y;
}

/** dk [N, 2C]: Σ g·x over each plane in the scale's place, Σ g in the shift's. */
function gradsRaw(g: Tensor, x: Tensor, v: Planes, kShape: readonly number[]): Tensor {
  const dk = alloc(kShape);
  if (v.planes === 0) return dk;
  const ctx = g.ctx;
  const quads = v.size % 4 === 0;
  const bindings: Record<string, PooledBuffer> = quads ? { dk: dk.buffer, g4: g.buffer, x4: x.buffer } : { dk: dk.buffer, g: g.buffer, x: x.buffer };
  ctx.dispatch(
    { shader: 'channel_affine', entry: quads ? 'grads4' : 'grads' },
    { bindings, uniforms: { planes: v.planes, size: v.size, c: v.c, has_shift: 0 }, workgroups: grid1d(ctx, v.planes) },
  );
  return dk;
}

/**
 * x [N, C, H, W] and k [N, 2C] → x · k[:, :C] + k[:, C:], each (image, channel) plane with its
 * own scale and shift. Errors name the argument and the shapes.
 */
export function channelAffine(x: Tensor, k: Tensor): Tensor {
  assertFloat(OP, x, k);
  if (x.rank !== 4) throw new Error(`lrdif: ${OP}: input must be [N, C, H, W] (rank 4), got ${x.describe()}`);
  const [n, c, h, w] = x.shape;
  if (k.rank !== 2 || k.shape[0] !== n || k.shape[1] !== 2 * c) {
    throw new Error(`lrdif: ${OP}: scale-and-shift k has shape ${fmtShape(k.shape)}, expected [${n}, ${2 * c}] (N and 2·C of input ${fmtShape(x.shape)})`);
  }
  const v: Planes = { planes: n * c, size: h * w, c };
  const y = applyRaw(x, k, v, true);
  if (engine.needsGrad([x, k])) {
    const wantX = x.requiresGrad;
    const wantK = k.requiresGrad;
    const kShape = k.shape;
    engine.record(OP, [x, k], y, [x, k], (g, [xs, ks]) => [wantX ? applyRaw(g, ks, v, false) : null, wantK ? gradsRaw(g, xs, v, kShape) : null]);
  }
  return y;
}
