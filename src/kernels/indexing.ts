/**
 * Indexing ops: embedding, indexSelect, scatterAdd (torch.index_add) and gather, with their
 * backward rules. Kernels: shaders/gather.wgsl (reads through an index) and
 * shaders/scatter_add.wgsl (deterministic scatter-add).
 *
 * Indices are i32 tensors. They are not checked on the host (that would need a readback):
 * an out-of-range index (negative, or ≥ the axis length) reads 0 in the forward pass and
 * receives no gradient / adds nothing in scatter-add.
 *
 * Scatter-add never uses float atomics: the sources are counting-sorted by index (stable), and
 * each output row then sums its sources in increasing source order, so results are bitwise
 * reproducible and equal to a sequential float32 loop over the sources.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, sizeOf, type Shape, type Tensor } from '../autograd/tensor.js';
import { zeros } from './creation.js';
import { alloc, assertDType, assertFloat, grid1d, normAxis, pad8, stridesOf } from './util.js';

// ---------------------------------------------------------------- raw kernels (not recorded)

/** x viewed as [outer, x.shape[axis], inner]; out [outer, index.size, inner] with the given shape. */
function indexSelectRaw(x: Tensor, axis: number, index: Tensor, outShape: Shape): Tensor {
  const y = alloc(outShape, x.dtype);
  if (y.size === 0) return y;
  const ctx = x.ctx;
  ctx.dispatch(
    { shader: 'gather', entry: 'index_select' },
    {
      bindings: { x: x.buffer, index: index.buffer, y: y.buffer },
      uniforms: {
        n: y.size,
        axis_len: x.shape[axis],
        outer: sizeOf(x.shape.slice(0, axis)),
        inner: sizeOf(x.shape.slice(axis + 1)),
        count: index.size,
      },
      workgroups: grid1d(ctx, y.size),
    },
  );
  return y;
}

/** torch.gather; with `targets`, the flat position in x each element reads instead (i32, -1 when out of range). */
function gatherRaw(x: Tensor, xShape: Shape, axis: number, index: Tensor, targets: boolean): Tensor {
  const y = alloc(index.shape, targets ? 'i32' : x.dtype);
  if (y.size === 0) return y;
  const ctx = index.ctx;
  ctx.dispatch(
    { shader: 'gather', entry: 'gather', constants: { TARGETS: targets ? 1 : 0 } },
    {
      bindings: { x: x.buffer, index: index.buffer, y: y.buffer },
      uniforms: {
        n: y.size,
        rank: index.rank,
        axis,
        axis_len: xShape[axis],
        index_shape: pad8(index.shape, 'gather'),
        x_strides: pad8(stridesOf(xShape), 'gather'),
      },
      workgroups: grid1d(ctx, y.size),
    },
  );
  return y;
}

/**
 * Gradient of gather for index lines of at most GATHER_DIRECT_MAX along the axis (e.g. picking
 * class logits): each dx element scans its line, in order, so it equals the sorted path's result
 * bit for bit at a fraction of the cost.
 */
const GATHER_DIRECT_MAX = 16;

function gatherBackwardDirect(g: Tensor, xShape: Shape, axis: number, index: Tensor): Tensor {
  const dx = alloc(xShape);
  if (dx.size === 0) return dx;
  const ctx = g.ctx;
  ctx.dispatch(
    { shader: 'gather', entry: 'gather_backward' },
    {
      bindings: { x: g.buffer, index: index.buffer, y: dx.buffer },
      uniforms: { n: dx.size, rank: xShape.length, axis, index_shape: pad8(index.shape, 'gather'), x_shape: pad8(xShape, 'gather') },
      workgroups: grid1d(ctx, dx.size),
    },
  );
  return dx;
}

const SCAN_BLOCK = 1024; // entries per workgroup of scan_blocks (256 threads × 4)

/** In-place exclusive prefix sum of the first `len` u32 entries of `data`. */
function exclusiveScan(data: Tensor, len: number): void {
  const ctx = data.ctx;
  const blocks = Math.ceil(len / SCAN_BLOCK);
  const sums = alloc([Math.max(blocks, 1)], 'i32');
  ctx.dispatch(
    { shader: 'scatter_add', entry: 'scan_blocks' },
    {
      bindings: { data: data.buffer, sums: sums.buffer },
      uniforms: { len },
      workgroups: ctx.grid(blocks),
    },
  );
  if (blocks > 1) {
    exclusiveScan(sums, blocks);
    ctx.dispatch(
      { shader: 'scatter_add', entry: 'scan_add' },
      {
        bindings: { data: data.buffer, sums: sums.buffer },
        uniforms: { len },
        workgroups: grid1d(ctx, len),
      },
    );
  }
  sums.dispose();
}

/**
 * Stable counting sort of `n` keys in [0, buckets): `offsets` [buckets + 1] (start of each
 * key's group) and `order` [n] (source positions grouped by key, increasing within a group).
 * Keys outside the range are left out.
 */
function sortByKey(keys: Tensor, n: number, buckets: number): { offsets: Tensor; order: Tensor } {
  const ctx = keys.ctx;
  const offsets = zeros([buckets + 1], 'i32');
  const cursor = zeros([buckets], 'i32');
  const order = alloc([n], 'i32');
  ctx.dispatch(
    { shader: 'scatter_add', entry: 'histogram' },
    {
      bindings: { keys: keys.buffer, counts: offsets.buffer },
      uniforms: { n, buckets },
      workgroups: grid1d(ctx, n),
    },
  );
  exclusiveScan(offsets, buckets + 1);
  ctx.dispatch(
    { shader: 'scatter_add', entry: 'rank' },
    {
      bindings: { keys: keys.buffer, offsets: offsets.buffer, cursor: cursor.buffer, order: order.buffer },
      uniforms: { n, buckets },
      workgroups: [n > 0 ? 1 : 0],
    },
  );
  cursor.dispose();
  return { offsets, order };
}

/**
 * out [outer, buckets, inner] = base (or 0) plus, for every source m with a valid key, src[:, m, :]
 * added into row key[m]; src viewed as [outer, n, inner]. Deterministic (see the file header).
 */
function scatterAddRaw(base: Tensor | null, outShape: Shape, outer: number, buckets: number, inner: number, keys: Tensor, n: number, src: Tensor): Tensor {
  const out = alloc(outShape);
  if (out.size === 0) return out;
  const ctx = src.ctx;
  const { offsets, order } = sortByKey(keys, n, buckets);
  ctx.dispatch(
    { shader: 'scatter_add', entry: 'reduce', constants: { HAS_BASE: base ? 1 : 0 } },
    {
      // without a base the kernel never reads it; bind src (read-only aliasing is allowed)
      bindings: { offsets: offsets.buffer, sorted: order.buffer, base: (base ?? src).buffer, src: src.buffer, out: out.buffer },
      uniforms: { n, buckets, outer, inner },
      workgroups: grid1d(ctx, out.size),
    },
  );
  offsets.dispose();
  order.dispose();
  return out;
}

/** index_add along `axis` of a tensor of `shape`: base (or zeros) + src rows added at index. */
function indexAddRaw(base: Tensor | null, shape: Shape, axis: number, index: Tensor, src: Tensor): Tensor {
  const outer = sizeOf(shape.slice(0, axis));
  const inner = sizeOf(shape.slice(axis + 1));
  return scatterAddRaw(base, shape, outer, shape[axis], inner, index, index.size, src);
}

// ---------------------------------------------------------------- ops

function assertIndex(op: string, index: Tensor): void {
  assertDType(op, index, 'i32', 'index');
}

/**
 * Rows of `weight` [V, D] picked by `ids` (i32, any shape) -> [...ids.shape, D]. An id outside
 * [0, V) gives a zero row and no gradient. Backward: the gradient rows are scatter-added into
 * dweight (deterministically).
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  assertDType('embedding', ids, 'i32', 'ids');
  if (weight.rank !== 2) throw new Error(`lrdif: embedding: weight must be [V, D], got ${weight.describe()} (ids ${fmtShape(ids.shape)})`);
  const [vocab, dimension] = weight.shape;
  const y = indexSelectRaw(weight, 0, ids, [...ids.shape, dimension]);
  if (engine.needsGrad([weight])) {
    engine.record('embedding', [weight], y, [ids], (g, [idx]) => [indexAddRaw(null, [vocab, dimension], 0, idx, g)]);
  }
  return y;
}

/** Like torch.index_select: entries `index` (i32, 1-D) of one axis. Out-of-range entries read 0. */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normAxis('indexSelect', axis, x.rank);
  assertIndex('indexSelect', index);
  if (index.rank !== 1) throw new Error(`lrdif: indexSelect: index must be 1-D, got ${index.describe()} (input ${x.describe()})`);
  const outShape = [...x.shape];
  outShape[a] = index.size;
  const y = indexSelectRaw(x, a, index, outShape);
  if (engine.needsGrad([x])) {
    const xs = x.shape;
    engine.record('indexSelect', [x], y, [index], (g, [idx]) => [indexAddRaw(null, xs, a, idx, g)]);
  }
  return y;
}

/**
 * Like torch.index_add, out of place: out = x, then out.narrow(axis, index[i], 1) +=
 * src.narrow(axis, i, 1) for every i, summed in order of i. `src` has x's shape except
 * index.size along `axis`. Out-of-range indices add nothing.
 */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  assertFloat('scatterAdd', x, src);
  const a = normAxis('scatterAdd', axis, x.rank);
  assertIndex('scatterAdd', index);
  if (index.rank !== 1) throw new Error(`lrdif: scatterAdd: index must be 1-D, got ${index.describe()} (input ${x.describe()})`);
  const expected = [...x.shape];
  expected[a] = index.size;
  if (src.rank !== x.rank || src.shape.some((d, i) => d !== expected[i])) {
    throw new Error(`lrdif: scatterAdd: src ${fmtShape(src.shape)} must be ${fmtShape(expected)} (input ${fmtShape(x.shape)}, index ${fmtShape(index.shape)}, axis ${axis})`);
  }
  const y = indexAddRaw(x, x.shape, a, index, src);
  if (engine.needsGrad([x, src])) {
    const srcShape = src.shape;
    const wantSrc = src.requiresGrad;
    engine.record('scatterAdd', [x, src], y, [index], (g, [idx]) => [g, wantSrc ? indexSelectRaw(g, a, idx, srcShape) : null]);
  }
  return y;
}

/**
 * Like torch.gather: out[c] = x[c with c[axis] replaced by index[c]]. `index` is i32 with x's
 * rank and at most x's size on every other axis; the result has the index's shape.
 * Out-of-range entries read 0. Backward: deterministic scatter-add into x's shape.
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normAxis('gather', axis, x.rank);
  assertIndex('gather', index);
  if (index.rank !== x.rank || index.shape.some((d, i) => i !== a && d > x.shape[i])) {
    throw new Error(`lrdif: gather: index ${fmtShape(index.shape)} must have the rank of the input ${fmtShape(x.shape)} and no larger size on axes other than ${axis}`);
  }
  if (x.rank > 8) throw new Error(`lrdif: gather: tensors of rank ${x.rank} are not supported (at most 8), got ${x.describe()}`);
  const y = gatherRaw(x, x.shape, a, index, false);
  if (engine.needsGrad([x])) {
    const xs = x.shape;
    engine.record('gather', [x], y, [index], (g, [idx]) => {
      if (idx.shape[a] <= GATHER_DIRECT_MAX) return [gatherBackwardDirect(g, xs, a, idx)];
      // the index's buffer stands in for x: the TARGETS kernel binds it but never reads it
      const keys = gatherRaw(idx, xs, a, idx, true);
      return [scatterAddRaw(null, xs, 1, sizeOf(xs), 1, keys, keys.size, g)];
    });
  }
  return y;
}
