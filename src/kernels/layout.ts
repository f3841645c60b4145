/**
 * Layout ops: permute/transpose, slice/narrow, concat/split/chunk and pad, each with its
 * backward rule. Tensors are always contiguous, so these ops copy (f32 and i32 alike, bit for
 * bit). Kernels: shaders/permute.wgsl (tiled transpose), shaders/slice.wgsl (strided window
 * and row-block copies), shaders/pad.wgsl (padding and its reflect/replicate gradient).
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, sizeOf, type Shape, type Tensor } from '../autograd/tensor.js';
import { alloc, grid1d, ND_VEC, ndConstants, ndInverses, normAxis, pad8, stridesOf } from './util.js';

const MAX_RANK = 8;

function checkRank(op: string, x: Tensor): void {
  if (x.rank > MAX_RANK) throw new Error(`lrdif: ${op}: tensors of rank ${x.rank} are not supported (at most ${MAX_RANK}), got ${x.describe()}`);
}

function checkInt(op: string, what: string, v: number): void {
  if (!Number.isInteger(v)) throw new Error(`lrdif: ${op}: ${what} must be an integer, got ${v}`);
}

// ---------------------------------------------------------------- raw copies (not recorded)

/** y (contiguous, `shape`) = x read at base + Σ coord[d]·strides[d]; the result takes `outShape` (same size). */
function stridedRaw(x: Tensor, shape: Shape, base: number, strides: readonly number[], op: string, outShape: Shape = shape): Tensor {
  if (shape.length === 0) return copyRaw(x, outShape);
  const y = alloc(outShape, x.dtype);
  if (y.size === 0) return y;
  const ctx = x.ctx;
  ctx.dispatch(
    { shader: 'slice', entry: 'strided', constants: ndConstants(shape, y.size) },
    {
      bindings: { x: x.buffer, y: y.buffer },
      uniforms: { n: y.size, base, shape: pad8(shape, op), strides: pad8(strides, op), inv: ndInverses(shape, op) },
      workgroups: grid1d(ctx, Math.ceil(y.size / ND_VEC)),
    },
  );
  return y;
}

/** Copies a rows × cols block: dst[dstOffset + r·dstStride + c] = src[srcOffset + r·srcStride + c]. */
function copyRows(src: Tensor, dst: Tensor, rows: number, cols: number, srcStride: number, srcOffset: number, dstStride: number, dstOffset: number): void {
  const n = rows * cols;
  if (n === 0) return;
  const ctx = src.ctx;
  if (ctx.tuning.layout.copyCommands && (rows === 1 || (cols === srcStride && cols === dstStride))) {
    // one contiguous block: a buffer copy, no dispatch
    ctx.copy(src.buffer, srcOffset * 4, dst.buffer, dstOffset * 4, n * 4);
    return;
  }
  if ([cols, srcStride, srcOffset, dstStride, dstOffset].every((v) => v % 4 === 0)) {
    // whole quads of words: the vec4 kernel, every figure in quads
    ctx.dispatch(
      { shader: 'slice', entry: 'copy2d4' },
      {
        bindings: { x4: src.buffer, y4: dst.buffer },
        uniforms: { n: n / 4, cols: cols / 4, src_stride: srcStride / 4, src_offset: srcOffset / 4, dst_stride: dstStride / 4, dst_offset: dstOffset / 4 },
        workgroups: grid1d(ctx, n / 4),
      },
    );
    return;
  }
  ctx.dispatch(
    { shader: 'slice', entry: 'copy2d' },
    {
      bindings: { x: src.buffer, y: dst.buffer },
      uniforms: { n, cols, src_stride: srcStride, src_offset: srcOffset, dst_stride: dstStride, dst_offset: dstOffset },
      workgroups: grid1d(ctx, n),
    },
  );
}

function copyRaw(x: Tensor, outShape: Shape = x.shape): Tensor {
  const y = alloc(outShape, x.dtype);
  x.ctx.copy(x.buffer, 0, y.buffer, 0, x.size * 4);
  return y;
}

/** x viewed as [outer, axis, inner]. */
function around(shape: Shape, axis: number): { outer: number; inner: number } {
  return { outer: sizeOf(shape.slice(0, axis)), inner: sizeOf(shape.slice(axis + 1)) };
}

function narrowRaw(x: Tensor, axis: number, start: number, length: number): Tensor {
  const shape = [...x.shape];
  const len = shape[axis];
  shape[axis] = length;
  const y = alloc(shape, x.dtype);
  const { outer, inner } = around(x.shape, axis);
  copyRows(x, y, outer, length * inner, len * inner, start * inner, length * inner, 0);
  return y;
}

const PAD_MODES = { constant: 0, reflect: 1, replicate: 2 } as const;
export type PadMode = keyof typeof PAD_MODES;

const bitsView = new DataView(new ArrayBuffer(4));
function bitsOf(value: number, dtype: Tensor['dtype']): number {
  if (dtype === 'i32') bitsView.setInt32(0, value, true);
  else bitsView.setFloat32(0, value, true);
  return bitsView.getUint32(0, true);
}

/**
 * Where the unpadded part of a padded shape is one contiguous block (padding on one axis only,
 * every axis before it of size 1), its first element; otherwise null.
 */
function blockIn(outShape: Shape, before: readonly number[], after: readonly number[]): { start: number } | null {
  const padded = outShape.map((_, i) => i).filter((i) => before[i] !== 0 || after[i] !== 0);
  if (padded.length > 1) return null;
  if (padded.length === 0) return { start: 0 };
  const a = padded[0];
  const { outer, inner } = around(outShape, a);
  return outer === 1 ? { start: before[a] * inner } : null;
}

function padRaw(x: Tensor, before: readonly number[], after: readonly number[], mode: PadMode, value: number): Tensor {
  if (x.rank === 0) return copyRaw(x);
  const outShape = x.shape.map((d, i) => d + before[i] + after[i]);
  const y = alloc(outShape, x.dtype);
  if (y.size === 0) return y;
  const ctx = x.ctx;
  const block = mode === 'constant' && bitsOf(value, x.dtype) === 0 && ctx.tuning.layout.copyCommands ? blockIn(outShape, before, after) : null;
  if (block) {
    // x is one contiguous block of y: zeros around a buffer copy, no dispatch
    const end = block.start + x.size;
    ctx.clear(y.buffer, 0, block.start * 4);
    ctx.copy(x.buffer, 0, y.buffer, block.start * 4, x.size * 4);
    ctx.clear(y.buffer, end * 4, (y.size - end) * 4);
    return y;
  }
  ctx.dispatch(
    { shader: 'pad', constants: { MODE: PAD_MODES[mode], ...ndConstants(x.shape, y.size) } },
    {
      bindings: { x: x.buffer, y: y.buffer },
      uniforms: {
        n: y.size,
        value: bitsOf(value, x.dtype),
        in_shape: pad8(x.shape, 'pad'),
        out_shape: pad8(outShape, 'pad'),
        pad_before: pad8(before, 'pad'),
        inv_out: ndInverses(outShape, 'pad'),
      },
      workgroups: grid1d(ctx, Math.ceil(y.size / ND_VEC)),
    },
  );
  return y;
}

/** Gradient of reflect/replicate padding: folds each padded axis back onto its source, one axis per pass. */
function padBackwardRaw(g: Tensor, inShape: Shape, before: readonly number[], after: readonly number[], mode: 'reflect' | 'replicate'): Tensor {
  const ctx = g.ctx;
  let cur = g;
  const shape = [...g.shape];
  for (let d = shape.length - 1; d >= 0; d--) {
    if (before[d] === 0 && after[d] === 0) continue;
    shape[d] = inShape[d];
    const next = alloc(shape);
    const { outer, inner } = around(shape, d);
    const n = next.size;
    if (n > 0) {
      ctx.dispatch(
        { shader: 'pad', entry: 'backward_axis', constants: { MODE: PAD_MODES[mode] } },
        {
          bindings: { x: cur.buffer, y: next.buffer },
          uniforms: { n, outer, len_in: inShape[d], len_out: cur.shape[d], inner, before: before[d] },
          workgroups: grid1d(ctx, n),
        },
      );
    }
    if (cur !== g) cur.dispose();
    cur = next;
  }
  return cur;
}

// ---------------------------------------------------------------- permute

/**
 * Drops size-1 axes and merges runs of input axes that stay adjacent in the output, so e.g.
 * [B, H, T, D] -> [B, T, H, D] becomes a [B, H, T, D] -> [B, T, H, D] with D kept contiguous,
 * and [A, B, C] -> [C, A, B] becomes a 2-D transpose [A·B, C] -> [C, A·B].
 */
function simplifyPermutation(shape: Shape, perm: readonly number[]): { shape: number[]; perm: number[] } {
  const kept = perm.filter((p) => shape[p] !== 1);
  const order = [...kept].sort((a, b) => a - b);
  const pos = new Map(order.map((a, i) => [a, i]));
  const groups: number[][] = [];
  for (const p of kept) {
    const q = pos.get(p)!;
    const last = groups[groups.length - 1];
    if (last && last[last.length - 1] === q - 1) last.push(q);
    else groups.push([q]);
  }
  const byInput = [...groups].sort((a, b) => a[0] - b[0]);
  const mergedShape = byInput.map((gr) => gr.reduce((s, q) => s * shape[order[q]], 1));
  const mergedPerm = groups.map((gr) => byInput.indexOf(gr));
  return { shape: mergedShape, perm: mergedPerm };
}

// The tile only pays off when both transposed extents fill a good part of it, and on GPUs
// (`ctx.tuning.permute.tiled`, which tests set to reach both paths): on a CPU adapter (lavapipe)
// the strided kernel did the [16, 256, 384] transpose in 6.2 ms against the tiled kernel's 23 ms
// (workgroup barriers are dear there, and there is no coalescing to win).
const TILED_MIN_EXTENT = 16;

function permuteRaw(x: Tensor, perm: readonly number[]): Tensor {
  const outShape = perm.map((p) => x.shape[p]);
  if (x.size === 0) return alloc(outShape, x.dtype);
  const s = simplifyPermutation(x.shape, perm);
  if (s.perm.length <= 1) return copyRaw(x, outShape);
  const swapLastTwo = (s.perm.length === 2 && s.perm[0] === 1) || (s.perm.length === 3 && s.perm[0] === 0 && s.perm[1] === 2);
  const r = s.shape[s.shape.length - 2];
  const c = s.shape[s.shape.length - 1];
  if (swapLastTwo && r >= TILED_MIN_EXTENT && c >= TILED_MIN_EXTENT && x.ctx.tuning.permute.tiled) {
    const batch = s.perm.length === 3 ? s.shape[0] : 1;
    const y = alloc(outShape, x.dtype);
    const tilesR = Math.ceil(r / 32);
    const tilesC = Math.ceil(c / 32);
    const ctx = x.ctx;
    ctx.dispatch(
      { shader: 'permute', entry: 'tiled' },
      {
        bindings: { x: x.buffer, y: y.buffer },
        uniforms: { batch, rows: r, cols: c, tiles_r: tilesR, tiles_c: tilesC },
        workgroups: ctx.grid(batch * tilesR * tilesC),
      },
    );
    return y;
  }
  const inStrides = stridesOf(s.shape);
  return stridedRaw(
    x,
    s.perm.map((p) => s.shape[p]),
    0,
    s.perm.map((p) => inStrides[p]),
    'permute',
    outShape,
  );
}

function inversePermutation(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

/** Reorders the axes: output axis i is input axis perm[i] (negative entries count from the end). */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  checkRank('permute', x);
  const bad = () => new Error(`lrdif: permute: [${perm.join(', ')}] is not a permutation of the axes of ${x.describe()}`);
  if (perm.length !== x.rank) throw bad();
  const p = perm.map((a) => {
    if (!Number.isInteger(a) || a < -x.rank || a >= x.rank) throw bad();
    return a < 0 ? a + x.rank : a;
  });
  if (new Set(p).size !== p.length) throw bad();
  const y = permuteRaw(x, p);
  if (engine.needsGrad([x])) {
    const inv = inversePermutation(p);
    engine.record('permute', [x], y, [], (g) => [permuteRaw(g, inv)]);
  }
  return y;
}

/** Swaps two axes (by default the last two). */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const a = normAxis('transpose', axis0, x.rank);
  const b = normAxis('transpose', axis1, x.rank);
  const perm = [...x.shape.keys()];
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

// ---------------------------------------------------------------- slice / narrow

/**
 * A box of x: `begin[i]` and `size[i]` for every axis i. A negative begin counts from the end
 * of its axis; size -1 takes everything to the end.
 */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  checkRank('slice', x);
  const where = () => `begin [${begin.join(', ')}], size [${size.join(', ')}] for ${x.describe()}`;
  if (begin.length !== x.rank || size.length !== x.rank) {
    throw new Error(`lrdif: slice: begin and size need one entry per axis (${x.rank}): ${where()}`);
  }
  const b: number[] = [];
  const s: number[] = [];
  for (let i = 0; i < x.rank; i++) {
    checkInt('slice', 'begin', begin[i]);
    checkInt('slice', 'size', size[i]);
    const d = x.shape[i];
    const bi = begin[i] < 0 ? begin[i] + d : begin[i];
    const si = size[i] === -1 ? d - bi : size[i];
    if (bi < 0 || bi > d || si < 0 || bi + si > d) {
      throw new Error(`lrdif: slice: axis ${i} (size ${d}) is out of range: ${where()}`);
    }
    b.push(bi);
    s.push(si);
  }
  const cut = s.map((si, i) => si !== x.shape[i]);
  const cutAxes = cut.reduce((n, c) => n + (c ? 1 : 0), 0);
  let y: Tensor;
  if (cutAxes === 0) y = copyRaw(x);
  else if (cutAxes === 1) {
    const a = cut.indexOf(true);
    y = narrowRaw(x, a, b[a], s[a]);
  } else {
    const strides = stridesOf(x.shape);
    const base = b.reduce((acc, bi, i) => acc + bi * strides[i], 0);
    y = stridedRaw(x, s, base, strides, 'slice');
  }
  if (engine.needsGrad([x])) {
    const after = x.shape.map((d, i) => d - b[i] - s[i]);
    engine.record('slice', [x], y, [], (g) => [padRaw(g, b, after, 'constant', 0)]);
  }
  return y;
}

/** `length` entries of one axis from `start` (negative counts from the end). */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normAxis('narrow', axis, x.rank);
  checkInt('narrow', 'start', start);
  checkInt('narrow', 'length', length);
  const d = x.shape[a];
  const st = start < 0 ? start + d : start;
  if (st < 0 || length < 0 || st + length > d) {
    throw new Error(`lrdif: narrow: start ${start}, length ${length} is out of range for axis ${axis} (size ${d}) of ${x.describe()}`);
  }
  const y = narrowRaw(x, a, st, length);
  if (engine.needsGrad([x])) {
    const before = x.shape.map((_, i) => (i === a ? st : 0));
    const after = x.shape.map((_, i) => (i === a ? d - st - length : 0));
    engine.record('narrow', [x], y, [], (g) => [padRaw(g, before, after, 'constant', 0)]);
  }
  return y;
}

// ---------------------------------------------------------------- concat / split / chunk

/** Joins tensors along an existing axis; all other axes must match. */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('lrdif: concat: needs at least one tensor');
  const first = xs[0];
  checkRank('concat', first);
  const shapes = () => xs.map((t) => fmtShape(t.shape)).join(', ');
  for (const t of xs) {
    if (t.rank !== first.rank) throw new Error(`lrdif: concat: all tensors need the same rank, got shapes ${shapes()}`);
    if (t.dtype !== first.dtype) throw new Error(`lrdif: concat: all tensors need the same dtype, got ${xs.map((u) => u.describe()).join(', ')}`);
  }
  const a = normAxis('concat', axis, first.rank);
  for (const t of xs) {
    if (t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new Error(`lrdif: concat: shapes ${shapes()} differ outside axis ${axis}`);
    }
  }
  const lengths = xs.map((t) => t.shape[a]);
  const total = lengths.reduce((s, l) => s + l, 0);
  const outShape = [...first.shape];
  outShape[a] = total;
  const y = alloc(outShape, first.dtype);
  const { outer, inner } = around(outShape, a);
  let offset = 0;
  for (const t of xs) {
    const cols = t.shape[a] * inner;
    copyRows(t, y, outer, cols, cols, 0, total * inner, offset * inner);
    offset += t.shape[a];
  }
  if (engine.needsGrad([...xs])) {
    const wants = xs.map((t) => t.requiresGrad);
    engine.record('concat', [...xs], y, [], (g) => {
      let off = 0;
      return lengths.map((len, i) => {
        const r = wants[i] ? narrowRaw(g, a, off, len) : null;
        off += len;
        return r;
      });
    });
  }
  return y;
}

/**
 * Splits along an axis into parts of the given sizes (which must sum to the axis), or into
 * `count` equal parts (the axis must divide evenly). Each part is a `narrow`, so its gradient
 * is zero outside its range and parts that get no gradient contribute nothing.
 */
export function split(x: Tensor, sizesOrCount: number | readonly number[], axis = 0): Tensor[] {
  const a = normAxis('split', axis, x.rank);
  const d = x.shape[a];
  let sizes: number[];
  if (typeof sizesOrCount === 'number') {
    const count = sizesOrCount;
    if (!Number.isInteger(count) || count < 1) throw new Error(`lrdif: split: count must be a positive integer, got ${count} for ${x.describe()}`);
    if (d % count !== 0) throw new Error(`lrdif: split: axis ${axis} of ${x.describe()} (size ${d}) does not split into ${count} equal parts`);
    sizes = new Array<number>(count).fill(d / count);
  } else {
    sizes = [...sizesOrCount];
    if (sizes.some((s) => !Number.isInteger(s) || s < 0) || sizes.reduce((s, v) => s + v, 0) !== d) {
      throw new Error(`lrdif: split: sizes [${sizes.join(', ')}] do not sum to axis ${axis} of ${x.describe()} (size ${d})`);
    }
  }
  let off = 0;
  return sizes.map((s) => {
    const part = narrow(x, a, off, s);
    off += s;
    return part;
  });
}

/**
 * Like torch.chunk: parts of ceil(size / count) along the axis, the last one smaller; so fewer
 * than `count` parts come back when the axis is too short (an empty axis gives `count` empty parts).
 */
export function chunk(x: Tensor, count: number, axis = 0): Tensor[] {
  const a = normAxis('chunk', axis, x.rank);
  if (!Number.isInteger(count) || count < 1) throw new Error(`lrdif: chunk: count must be a positive integer, got ${count} for ${x.describe()}`);
  const d = x.shape[a];
  if (d === 0) return split(x, new Array<number>(count).fill(0), a);
  const size = Math.ceil(d / count);
  const sizes: number[] = [];
  for (let off = 0; off < d; off += size) sizes.push(Math.min(size, d - off));
  return split(x, sizes, a);
}

// ---------------------------------------------------------------- pad

/**
 * Pads x. `pads[j] = [before, after]` applies to axis `rank - pads.length + j`: the list is in
 * natural axis order and aligned to the trailing axes, so fewer entries than the rank leave the
 * leading axes unpadded. (PyTorch's F.pad takes a flat list starting from the last axis: F.pad's
 * (l, r, t, b) is pads [[t, b], [l, r]] here.)
 * Modes: 'constant' fills with `value`; 'replicate' repeats the edge element; 'reflect' mirrors
 * about the edge element without repeating it, like PyTorch, and continues periodically (period
 * 2·(n-1)) when a pad reaches past the far edge, like NumPy (PyTorch forbids pads ≥ n there).
 */
export function pad(x: Tensor, pads: ReadonlyArray<readonly [number, number]>, mode: PadMode = 'constant', value = 0): Tensor {
  checkRank('pad', x);
  const where = () => `pads [${pads.map((p) => `[${p[0]}, ${p[1]}]`).join(', ')}] for ${x.describe()}`;
  if (!Object.hasOwn(PAD_MODES, mode)) throw new Error(`lrdif: pad: unknown mode '${mode}' (constant, reflect or replicate)`);
  if (pads.length > x.rank) throw new Error(`lrdif: pad: more pad entries than axes: ${where()}`);
  const before = new Array<number>(x.rank).fill(0);
  const after = new Array<number>(x.rank).fill(0);
  const lead = x.rank - pads.length;
  pads.forEach(([b, e], j) => {
    if (!Number.isInteger(b) || !Number.isInteger(e) || b < 0 || e < 0) {
      throw new Error(`lrdif: pad: pads must be non-negative integers: ${where()}`);
    }
    const d = x.shape[lead + j];
    if (mode !== 'constant' && b + e > 0) {
      if (d === 0) throw new Error(`lrdif: pad: ${mode} padding of axis ${lead + j}, which is empty: ${where()}`);
      if (mode === 'reflect' && d === 1) throw new Error(`lrdif: pad: reflect padding needs at least 2 elements on axis ${lead + j} (it has 1): ${where()}`);
    }
    before[lead + j] = b;
    after[lead + j] = e;
  });
  const y = padRaw(x, before, after, mode, value);
  if (engine.needsGrad([x])) {
    const inShape = x.shape;
    const strides = stridesOf(y.shape);
    const base = before.reduce((acc, b, i) => acc + b * strides[i], 0);
    engine.record('pad', [x], y, [], (g) => (mode === 'constant' ? [stridedRaw(g, inShape, base, strides, 'pad')] : [padBackwardRaw(g, inShape, before, after, mode)]));
  }
  return y;
}
