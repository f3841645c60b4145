/**
 * Pixel shuffle (sub-pixel rearrangement, PyTorch's order) and its inverse (shaders/pixel_shuffle.wgsl).
 * Pure permutations: each is the other's backward.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import { alloc, assertFloat, grid1d } from './util.js';

function checkFactor(op: string, x: Tensor, r: number): void {
  assertFloat(op, x);
  if (x.rank !== 4) throw new Error(`lrdif: ${op}: input must be 4-D [N, C, H, W], got ${fmtShape(x.shape)}`);
  if (!Number.isInteger(r) || r < 1) throw new Error(`lrdif: ${op}: the factor must be a positive integer, got ${r}`);
}

function permute(entry: 'shuffle' | 'unshuffle', x: Tensor, outShape: number[], small: { h: number; w: number }, r: number): Tensor {
  const y = alloc(outShape);
  const ctx = x.ctx;
  ctx.dispatch(
    { shader: 'pixel_shuffle', entry },
    {
      bindings: { x: x.buffer, y: y.buffer },
      uniforms: { total: y.size, r, h: small.h, w: small.w },
      workgroups: grid1d(ctx, y.size),
    },
  );
  return y;
}

function shuffleRaw(x: Tensor, r: number): Tensor {
  const [n, c, h, w] = x.shape;
  return permute('shuffle', x, [n, c / (r * r), h * r, w * r], { h, w }, r);
}

function unshuffleRaw(x: Tensor, r: number): Tensor {
  const [n, c, h, w] = x.shape;
  return permute('unshuffle', x, [n, c * r * r, h / r, w / r], { h: h / r, w: w / r }, r);
}

/** [N, C·r², H, W] → [N, C, H·r, W·r]: out[n, c, h·r + i, w·r + j] = x[n, c·r² + i·r + j, h, w]. */
export function pixelShuffle(x: Tensor, r: number): Tensor {
  const op = 'pixelShuffle';
  checkFactor(op, x, r);
  if (x.shape[1] % (r * r) !== 0) {
    throw new Error(`lrdif: ${op}: channels ${x.shape[1]} of ${fmtShape(x.shape)} are not divisible by r² = ${r * r}`);
  }
  const y = shuffleRaw(x, r);
  if (engine.needsGrad([x])) engine.record(op, [x], y, [], (g) => [unshuffleRaw(g, r)]);
  return y;
}

/** The inverse of pixelShuffle: [N, C, H·r, W·r] → [N, C·r², H, W]. */
export function pixelUnshuffle(x: Tensor, r: number): Tensor {
  const op = 'pixelUnshuffle';
  checkFactor(op, x, r);
  if (x.shape[2] % r !== 0 || x.shape[3] % r !== 0) {
    throw new Error(`lrdif: ${op}: height and width of ${fmtShape(x.shape)} must be divisible by r = ${r}`);
  }
  const y = unshuffleRaw(x, r);
  if (engine.needsGrad([x])) engine.record(op, [x], y, [], (g) => [shuffleRaw(g, r)]);
  return y;
}
