/**
 * Elementwise ops (shaders/unary.wgsl, shaders/binary.wgsl) with their backward rules.
 * Binary ops broadcast like NumPy; their gradients are summed back to each input's shape.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Shape, type Tensor } from '../autograd/tensor.js';
import { alloc, assertFloat, broadcastShapes, broadcastStrides, coalesceBroadcast, grid1d, ND_VEC, ndConstants, ndInverses, pad8, sameShape } from './util.js';
import { reshape } from './shape.js';
import { sum } from './reduce.js';
import { ACTIVATIONS, UNARY_FIRST_OTHER } from './activation.js';

// ---------------------------------------------------------------- unary

/**
 * unary.wgsl's OP ids: the activations by their ids in activation.ts (the shader hands them to
 * activation.wgsl's act/dact; identity is the id of 'none'), the other ops from UNARY_FIRST_OTHER.
 */
export const UNARY = {
  identity: ACTIVATIONS.none,
  relu: ACTIVATIONS.relu,
  leakyRelu: ACTIVATIONS.leakyRelu,
  geluErf: ACTIVATIONS.gelu,
  geluTanh: ACTIVATIONS.geluTanh,
  quickGelu: ACTIVATIONS.quickGelu,
  silu: ACTIVATIONS.silu,
  sigmoid: ACTIVATIONS.sigmoid,
  tanh: ACTIVATIONS.tanh,
  neg: UNARY_FIRST_OTHER,
  exp: UNARY_FIRST_OTHER + 1,
  log: UNARY_FIRST_OTHER + 2,
  sqrt: UNARY_FIRST_OTHER + 3,
  rsqrt: UNARY_FIRST_OTHER + 4,
  pow: UNARY_FIRST_OTHER + 5,
  abs: UNARY_FIRST_OTHER + 6,
  clamp: UNARY_FIRST_OTHER + 7,
  affine: UNARY_FIRST_OTHER + 8,
  reciprocal: UNARY_FIRST_OTHER + 9,
  square: UNARY_FIRST_OTHER + 10,
} as const;
export type UnaryName = keyof typeof UNARY;

function unaryRaw(name: UnaryName, x: Tensor, alpha = 0, beta = 0): Tensor {
  const ctx = x.ctx;
  const y = alloc(x.shape);
  if (x.size % 4 === 0) {
    // a vec4 per thread (unary.wgsl `main4`)
    ctx.dispatch(
      { shader: 'unary', entry: 'main4', constants: { OP: UNARY[name] } },
      { bindings: { x4: x.buffer, y4: y.buffer }, uniforms: { n: x.size / 4, alpha, beta }, workgroups: grid1d(ctx, x.size / 4) },
    );
    return y;
  }
  ctx.dispatch(
    { shader: 'unary', constants: { OP: UNARY[name] } },
    { bindings: { x: x.buffer, y: y.buffer }, uniforms: { n: x.size, alpha, beta }, workgroups: grid1d(ctx, x.size) },
  );
  return y;
}

function unaryBackwardRaw(name: UnaryName, x: Tensor, y: Tensor, dy: Tensor, alpha: number, beta: number): Tensor {
  const ctx = x.ctx;
  const dx = alloc(x.shape);
  if (x.size % 4 === 0) {
    ctx.dispatch(
      { shader: 'unary', entry: 'backward4', constants: { OP: UNARY[name] } },
      { bindings: { x4: x.buffer, y4: dx.buffer, fy4: y.buffer, dy4: dy.buffer }, uniforms: { n: x.size / 4, alpha, beta }, workgroups: grid1d(ctx, x.size / 4) },
    );
    return dx;
  }
  ctx.dispatch(
    { shader: 'unary', entry: 'backward', constants: { OP: UNARY[name] } },
    {
      bindings: { x: x.buffer, y: dx.buffer, fy: y.buffer, dy: dy.buffer },
      uniforms: { n: x.size, alpha, beta },
      workgroups: grid1d(ctx, x.size),
    },
  );
  return dx;
}

/** Runs a unary op and records its backward rule dx = dy · f'(x). */
export function unary(name: UnaryName, x: Tensor, alpha = 0, beta = 0): Tensor {
  assertFloat(name, x);
  const y = unaryRaw(name, x, alpha, beta);
  if (engine.needsGrad([x])) {
    engine.record(name, [x], y, [x, y], (g, [xs, ys]) => [unaryBackwardRaw(name, xs, ys, g, alpha, beta)]);
  }
  return y;
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const abs = (x: Tensor) => unary('abs', x);
export const relu = (x: Tensor) => unary('relu', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const silu = (x: Tensor) => unary('silu', x);
export const quickGelu = (x: Tensor) => unary('quickGelu', x);
export const square = (x: Tensor) => unary('square', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
/** x ** exponent for a scalar exponent. */
export const pow = (x: Tensor, exponent: number) => unary('pow', x, exponent);
export const leakyRelu = (x: Tensor, slope = 0.01) => unary('leakyRelu', x, slope);
/** GELU; `approximate: 'tanh'` gives the tanh form, otherwise the exact erf form. */
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none') => unary(approximate === 'tanh' ? 'geluTanh' : 'geluErf', x);
/** a·x + b with scalars a, b. */
export const affine = (x: Tensor, a: number, b = 0) => unary('affine', x, a, b);
export const mulScalar = (x: Tensor, a: number) => unary('affine', x, a, 0);
export const addScalar = (x: Tensor, b: number) => unary('affine', x, 1, b);
/** A copy with its own storage (gradient passes through). */
export const clone = (x: Tensor) => unary('identity', x);

export function clamp(x: Tensor, min: number, max: number): Tensor {
  if (!(min <= max)) throw new Error(`lrdif: clamp: min (${min}) must not exceed max (${max})`);
  return unary('clamp', x, min, max);
}

// ---------------------------------------------------------------- binary

export const BINARY = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, greater: 6, equal: 7, greaterEqual: 8 } as const;
export type BinaryName = keyof typeof BINARY;

function binaryRaw(name: BinaryName, a: Tensor, b: Tensor): Tensor {
  const outShape = broadcastShapes(name, a.shape, b.shape);
  const out = alloc(outShape);
  const ctx = a.ctx;
  const same = sameShape(a.shape, outShape) && sameShape(b.shape, outShape);
  if (same && out.size % 4 === 0) {
    ctx.dispatch(
      { shader: 'binary', entry: 'same4', constants: { OP: BINARY[name] } },
      { bindings: { a4: a.buffer, b4: b.buffer, out4: out.buffer }, uniforms: { n: out.size / 4 }, workgroups: grid1d(ctx, out.size / 4) },
    );
    return out;
  }
  if (same) {
    ctx.dispatch(
      { shader: 'binary', constants: { OP: BINARY[name], SAME_SHAPE: 1, RANK: 1 } },
      { bindings: { a: a.buffer, b: b.buffer, out: out.buffer }, uniforms: { n: out.size }, workgroups: grid1d(ctx, out.size) },
    );
    return out;
  }
  const c = coalesceBroadcast(outShape, [broadcastStrides(a.shape, outShape), broadcastStrides(b.shape, outShape)]);
  ctx.dispatch(
    { shader: 'binary', constants: { OP: BINARY[name], SAME_SHAPE: 0, ...ndConstants(c.shape, out.size) } },
    {
      bindings: { a: a.buffer, b: b.buffer, out: out.buffer },
      uniforms: { n: out.size, shape: pad8(c.shape, name), sa: pad8(c.strides[0], name), sb: pad8(c.strides[1], name), inv: ndInverses(c.shape, name) },
      workgroups: grid1d(ctx, Math.ceil(out.size / ND_VEC)),
    },
  );
  return out;
}

/** Sums a broadcast gradient back down to `shape`. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  if (lead < 0) throw new Error(`lrdif: sumToShape: cannot reduce ${fmtShape(g.shape)} to ${fmtShape(shape)}`);
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
  }
  const s = axes.length ? sum(g, axes, true) : g;
  return reshape(s, shape);
}

export function binary(name: BinaryName, a: Tensor, b: Tensor): Tensor {
  assertFloat(name, a, b);
  const out = binaryRaw(name, a, b);
  if (engine.needsGrad([a, b])) {
    const sa = a.shape;
    const sb = b.shape;
    switch (name) {
      case 'add':
        engine.record(name, [a, b], out, [], (g) => [sumToShape(g, sa), sumToShape(g, sb)]);
        break;
      case 'sub':
        engine.record(name, [a, b], out, [], (g) => [sumToShape(g, sa), sumToShape(neg(g), sb)]);
        break;
      case 'mul':
        engine.record(name, [a, b], out, [a, b], (g, [x, y]) => [
          a.requiresGrad ? sumToShape(binaryRaw('mul', g, y), sa) : null,
          b.requiresGrad ? sumToShape(binaryRaw('mul', g, x), sb) : null,
        ]);
        break;
      case 'div':
        engine.record(name, [a, b], out, [b, out], (g, [y, q]) => [
          a.requiresGrad ? sumToShape(binaryRaw('div', g, y), sa) : null,
          // d(a/b)/db = -(a/b)/b
          b.requiresGrad ? sumToShape(neg(binaryRaw('div', binaryRaw('mul', g, q), y)), sb) : null,
        ]);
        break;
      case 'maximum':
      case 'minimum':
        // the gradient goes to the input that won (to a on ties)
        engine.record(name, [a, b], out, [a, out], (g, [x, o]) => {
          const maskA = binaryRaw('equal', x, o);
          const ga = binaryRaw('mul', g, maskA);
          const gb = binaryRaw('sub', g, ga);
          return [sumToShape(ga, sa), sumToShape(gb, sb)];
        });
        break;
      default:
        // comparisons are piecewise constant: no gradient
        break;
    }
  }
  return out;
}

export const add = (a: Tensor, b: Tensor) => binary('add', a, b);
export const sub = (a: Tensor, b: Tensor) => binary('sub', a, b);
export const mul = (a: Tensor, b: Tensor) => binary('mul', a, b);
export const div = (a: Tensor, b: Tensor) => binary('div', a, b);
export const maximum = (a: Tensor, b: Tensor) => binary('maximum', a, b);
export const minimum = (a: Tensor, b: Tensor) => binary('minimum', a, b);
/** 1 where a > b, else 0 (no gradient). */
export const greater = (a: Tensor, b: Tensor) => binary('greater', a, b);
/** 1 where a == b, else 0 (no gradient). */
export const equal = (a: Tensor, b: Tensor) => binary('equal', a, b);

// ---------------------------------------------------------------- broadcast

/** Copies `x` broadcast to `shape` (NumPy rules). Backward sums over the broadcast axes. */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  const outShape = broadcastShapes('broadcastTo', x.shape, shape);
  if (!sameShape(outShape, shape)) {
    throw new Error(`lrdif: broadcastTo: ${fmtShape(x.shape)} cannot be broadcast to ${fmtShape(shape)}`);
  }
  const out = alloc(shape, x.dtype);
  const ctx = x.ctx;
  const c = coalesceBroadcast(shape, [broadcastStrides(x.shape, shape)]);
  ctx.dispatch(
    { shader: 'expand', constants: ndConstants(c.shape, out.size) },
    {
      bindings: { a: x.buffer, out: out.buffer },
      uniforms: { n: out.size, shape: pad8(c.shape, 'broadcastTo'), sa: pad8(c.strides[0], 'broadcastTo'), inv: ndInverses(c.shape, 'broadcastTo') },
      workgroups: grid1d(ctx, Math.ceil(out.size / ND_VEC)),
    },
  );
  if (engine.needsGrad([x])) {
    const xs = x.shape;
    engine.record('broadcastTo', [x], out, [], (g) => [sumToShape(g, xs)]);
  }
  return out;
}
