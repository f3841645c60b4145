/**
 * Reductions (shaders/reduce.wgsl): sum, mean, max, min over any axes, argmax over one axis.
 * Contiguous axes are reduced in one pass over the [outer, R, inner] view; other axis sets
 * reduce one run of axes at a time.
 */
import { engine } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import { alloc, assertFloat, grid1d, normAxes, normAxis, WG } from './util.js';
import { threadsPerRow } from './rows.js';
import { reshape } from './shape.js';
import { broadcastTo, mul, equal, div, mulScalar } from './elementwise.js';

const OPS = { sum: 0, max: 1, min: 2, argmax: 3 } as const;
type ReduceOp = keyof typeof OPS;

/** Reduces axes [a0, a1] (inclusive, contiguous) of x; keeps them as size-1 axes. */
function reduceRun(op: ReduceOp, x: Tensor, a0: number, a1: number, scale: number): Tensor {
  const shape = x.shape;
  let outer = 1;
  let r = 1;
  let inner = 1;
  for (let i = 0; i < shape.length; i++) {
    if (i < a0) outer *= shape[i];
    else if (i <= a1) r *= shape[i];
    else inner *= shape[i];
  }
  const outShape = shape.map((d, i) => (i >= a0 && i <= a1 ? 1 : d));
  const out = alloc(outShape, op === 'argmax' ? 'i32' : 'f32');
  if (r === 0 && op !== 'sum') throw new Error(`lrdif: ${op}: cannot reduce an empty axis of ${x.describe()}`);
  const ctx = x.ctx;
  const uniforms = { outer, r, inner, scale };
  if (out.size === 0) return out;
  if (inner === 1) {
    const tpr = threadsPerRow(ctx, r);
    ctx.dispatch(
      { shader: 'reduce', entry: 'rows', constants: { OP: OPS[op], TPR: tpr } },
      {
        bindings: { x: x.buffer, out: out.buffer },
        uniforms,
        workgroups: ctx.grid(Math.ceil(outer / (WG / tpr))),
      },
    );
  } else {
    ctx.dispatch(
      { shader: 'reduce', entry: 'cols', constants: { OP: OPS[op] } },
      {
        bindings: { x: x.buffer, out: out.buffer },
        uniforms,
        workgroups: grid1d(ctx, outer * inner),
      },
    );
  }
  return out;
}

/** Reduces sorted axes, merging contiguous runs; returns the keep-dims result. */
function reduceAxes(op: ReduceOp, x: Tensor, axes: number[], scale: number): Tensor {
  if (axes.length === 0) return reduceRun(op, x, 0, -1, scale); // copies (r = 1)
  let cur = x;
  // from the last run to the first so earlier axis numbers stay valid
  let i = axes.length - 1;
  let first = true;
  while (i >= 0) {
    let j = i;
    while (j > 0 && axes[j - 1] === axes[j] - 1) j--;
    const next = reduceRun(op, cur, axes[j], axes[i], first ? scale : 1);
    if (!first) cur.dispose();
    cur = next;
    first = false;
    i = j - 1;
  }
  return cur;
}

function dropAxes(shape: readonly number[], axes: number[]): number[] {
  return shape.filter((_, i) => !axes.includes(i));
}

export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  assertFloat('sum', x);
  const ax = normAxes('sum', axes, x.rank);
  const k = reduceAxes('sum', x, ax, 1);
  const out = keepDims ? k : reshapeRaw(k, dropAxes(x.shape, ax));
  if (engine.needsGrad([x])) {
    const xs = x.shape;
    const kshape = k.shape;
    engine.record('sum', [x], out, [], (g) => [broadcastTo(reshape(g, kshape), xs)]);
  }
  return out;
}

export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  assertFloat('mean', x);
  const ax = normAxes('mean', axes, x.rank);
  let count = 1;
  for (const a of ax) count *= x.shape[a];
  const k = reduceAxes('sum', x, ax, count === 0 ? 0 : 1 / count);
  const out = keepDims ? k : reshapeRaw(k, dropAxes(x.shape, ax));
  if (engine.needsGrad([x])) {
    const xs = x.shape;
    const kshape = k.shape;
    engine.record('mean', [x], out, [], (g) => {
      const b = broadcastTo(reshape(g, kshape), xs);
      return [reduceScale(b, count)];
    });
  }
  return out;
}

function reduceScale(t: Tensor, count: number): Tensor {
  return mulScalar(t, count === 0 ? 0 : 1 / count);
}

function extremum(op: 'max' | 'min', x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  assertFloat(op, x);
  const ax = normAxes(op, axes, x.rank);
  const k = reduceAxes(op, x, ax, 1);
  const out = keepDims ? k : reshapeRaw(k, dropAxes(x.shape, ax));
  if (engine.needsGrad([x])) {
    const xs = x.shape;
    const kshape = k.shape;
    // gradient shared evenly among the elements equal to the extremum; saves `out`, not `k`
    // (without keepDims, reshapeRaw has already disposed k)
    engine.record(op, [x], out, [x, out], (g, [xv, ov]) => {
      const mask = equal(xv, broadcastTo(reshape(ov, kshape), xs));
      const count = sum(mask, ax, true);
      return [mul(mask, broadcastTo(div(reshape(g, kshape), count), xs))];
    });
  }
  return out;
}

export const max = (x: Tensor, axes?: number | readonly number[], keepDims = false) => extremum('max', x, axes, keepDims);
export const min = (x: Tensor, axes?: number | readonly number[], keepDims = false) => extremum('min', x, axes, keepDims);

/** Index of the largest value along one axis (first index on ties), as i32. No gradient. */
export function argmax(x: Tensor, axis = -1, keepDims = false): Tensor {
  assertFloat('argmax', x);
  const a = normAxis('argmax', axis, x.rank);
  const k = reduceRun('argmax', x, a, a, 1);
  return keepDims ? k : reshapeRaw(k, dropAxes(x.shape, [a]));
}

/** Reshape without recording (the caller records its own node). */
function reshapeRaw(t: Tensor, shape: number[]): Tensor {
  const v = t.view(shape);
  t.dispose();
  return v;
}
