/**
 * Softmax and log-softmax along one axis (shaders/softmax.wgsl), with fused backward kernels.
 * The input is viewed as [outer, R, inner] around the axis: rows (inner == 1) get a
 * workgroup-cooperative kernel, other axes a one-thread-per-column kernel.
 */
import { engine } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import type { PooledBuffer } from '../gpu/buffer-pool.js';
import type { GpuContext } from '../gpu/context.js';
import { alloc, assertFloat, grid1d, WG } from './util.js';
import { threadsPerRow } from './rows.js';

type SoftmaxKind = 'softmax' | 'logSoftmax';

interface AxisView {
  outer: number;
  r: number;
  inner: number;
}

function axisView(op: SoftmaxKind, x: Tensor, axis: number): AxisView {
  const rank = x.rank;
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(axis) || a < 0 || a >= rank) {
    throw new Error(`lrdif: ${op}: axis ${axis} is out of range for ${x.describe()} (rank ${rank})`);
  }
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < a; i++) outer *= x.shape[i];
  for (let i = a + 1; i < rank; i++) inner *= x.shape[i];
  return { outer, r: x.shape[a], inner };
}

function dispatchSoftmax(ctx: GpuContext, kind: SoftmaxKind, v: AxisView, backward: boolean, bindings: Record<string, PooledBuffer>): void {
  const uniforms = { outer: v.outer, r: v.r, inner: v.inner };
  const LOG = kind === 'logSoftmax' ? 1 : 0;
  if (v.inner === 1) {
    const tpr = threadsPerRow(ctx, v.r);
    ctx.dispatch(
      { shader: 'softmax', entry: backward ? 'rows_backward' : 'rows', constants: { LOG, TPR: tpr } },
      {
        bindings,
        uniforms,
        workgroups: ctx.grid(Math.ceil(v.outer / (WG / tpr))),
      },
    );
  } else {
    ctx.dispatch(
      { shader: 'softmax', entry: backward ? 'cols_backward' : 'cols', constants: { LOG } },
      {
        bindings,
        uniforms,
        workgroups: grid1d(ctx, v.outer * v.inner),
      },
    );
  }
}

/** dx from the forward output y and the incoming gradient g, in one kernel. */
function softmaxBackward(kind: SoftmaxKind, y: Tensor, g: Tensor, v: AxisView): Tensor {
  const dx = alloc(y.shape);
  if (dx.size > 0) dispatchSoftmax(y.ctx, kind, v, true, { fy: y.buffer, dy: g.buffer, dx: dx.buffer });
  return dx;
}

function softmaxOp(kind: SoftmaxKind, x: Tensor, axis: number): Tensor {
  assertFloat(kind, x);
  const v = axisView(kind, x, axis);
  const y = alloc(x.shape);
  if (y.size > 0) dispatchSoftmax(x.ctx, kind, v, false, { x: x.buffer, y: y.buffer });
  if (engine.needsGrad([x])) {
    engine.record(kind, [x], y, [y], (g, [ys]) => [softmaxBackward(kind, ys, g, v)]);
  }
  return y;
}

/** exp(x − max) / Σ exp(x − max) along `axis`. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('softmax', x, axis);
}

/** x − max − log Σ exp(x − max) along `axis`. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('logSoftmax', x, axis);
}
