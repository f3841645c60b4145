/**
 * Windowed (cross-)attention with a Swin relative-position bias (LRDif's DILnetwork core),
 * fused (shaders/window_attention.wgsl), with its backward rule; and the same attention
 * composed from the engine's unfused ops (`windowAttentionUnfused`), the test oracle and the
 * benchmark baseline.
 *
 * Queries come from one feature map and keys/values from another, both already split into
 * non-overlapping windows of M = w·w tokens. Per window and head:
 *   out = softmax(scale · q·kᵀ + b) · v,   b[i, j] = biasTable[rel(i, j), h],
 *   rel(i, j) = ((yi − yj) + w − 1)·(2w − 1) + (xi − xj) + w − 1   (Swin; i = yi·w + xi).
 *
 * Two layouts, the same kernels (they address q, k, v through strides, so neither costs a copy):
 * - `windowAttention`: head-major [B, heads, nWin, M, d] (or [B·nWin, heads, M, d]);
 * - `windowAttentionTokens`: token-major [B, nWin, M, heads·d], what a Linear over window
 *   tokens produces: the caller's projections need no permute before or after.
 *
 * Forward (flash-attention style): an online softmax over blocks of keys; it writes the output
 * and one log-sum-exp per query row (plus, when M > 56 on the subgroup kernels, one running sum
 * per row between blocks), never an M×M score matrix, so its memory does not grow with M².
 * Backward (flash-attention-2 style) recomputes the scores from q, k and the saved log-sum-exp:
 * dV = Pᵀ·dO, dP = dO·Vᵀ, ds = P ⊙ (dP − rowsum(dO ⊙ O)), dQ = scale·ds·K, dK = scale·dsᵀ·Q,
 * and the table's gradient sums ds over windows and over the (i, j) pairs of each relative
 * offset in closed form, in a fixed order (deterministic, no float atomics).
 *
 * Two kernel families, chosen by adapter (`ctx.tuning.windowAttention.path`; `ctx.setTuning` forces one):
 * - shaders/window_attention_sg.wgsl, for CPU adapters with subgroups of ≥ 8 (lavapipe): 8-lane
 *   workgroups, 56×56 register tiles (7 own tokens per lane, partners broadcast), the bias of a
 *   tile gathered once per group of windows; backward = one pass over keys (dK, dV, and ds of a
 *   chunk of windows, stored for the next pass, with the bias gradient summed per group) and
 *   one pass over queries (dQ = ds·K). Any head width.
 * - shaders/window_attention.wgsl, everywhere else: one invocation per query (or key) row,
 *   register tiles specialised on d (≤ 128), K/V rows read in order; backward = one pass over
 *   query rows (Δ, dQ and the ds of a chunk of windows), one over key rows (dK, dV).
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, tensor, type Tensor } from '../autograd/tensor.js';
import type { PooledBuffer } from '../gpu/buffer-pool.js';
import type { GpuContext } from '../gpu/context.js';
import type { KernelRequest } from '../gpu/kernel.js';
import { alloc, assertFloat, sameShape } from './util.js';
import { zeros } from './creation.js';
import { add, mulScalar } from './elementwise.js';
import { indexSelect } from './indexing.js';
import { permute } from './layout.js';
import { matmul } from './matmul.js';
import { reshape } from './shape.js';
import { softmax } from './softmax.js';

const OP = 'windowAttention';
const OP_TOKENS = 'windowAttentionTokens';
/** Largest head width (DMAX in the shader: the per-invocation register tiles). */
export const WINDOW_ATTENTION_MAX_HEAD_DIM = 128;
/** Largest rows per invocation (RMAX in the shader). */
const RMAX = 4;
const BIAS_WG = 64;

interface Geometry {
  op: string;
  B: number;
  heads: number;
  nWin: number;
  M: number;
  d: number;
  /** Window side; 0 without a bias table (then M is any token count). */
  w: number;
  /** B · nWin: windows over the batch. */
  bw: number;
  problems: number;
  sb: number;
  sw: number;
  sh: number;
  st: number;
  scale: number;
  hasBias: boolean;
}

function checkWindow(op: string, shapes: string, M: number, heads: number, biasTable: Tensor | null, window: number | null | undefined): number {
  const w = window ?? 0;
  if (window !== null && window !== undefined) {
    if (!Number.isInteger(window) || window < 1) throw new Error(`lrdif: ${op}: window must be a positive integer, got ${window} (${shapes})`);
    if (window * window !== M) throw new Error(`lrdif: ${op}: a ${window}×${window} window holds ${window * window} tokens, but the inputs have M = ${M} (${shapes})`);
  }
  if (biasTable) {
    assertFloat(op, biasTable);
    if (!w) throw new Error(`lrdif: ${op}: a bias table needs the window side (${shapes})`);
    const T = (2 * w - 1) ** 2;
    if (biasTable.rank !== 2 || biasTable.shape[0] !== T || biasTable.shape[1] !== heads) {
      throw new Error(`lrdif: ${op}: biasTable must be [(2·${w}−1)², heads] = [${T}, ${heads}], got ${shapes}`);
    }
  }
  return biasTable ? w : 0;
}

function checkScale(op: string, scale: number, shapes: string): void {
  if (!Number.isFinite(scale)) throw new Error(`lrdif: ${op}: scale must be finite, got ${scale} (${shapes})`);
}

function describeShapes(q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null): string {
  return `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}, biasTable ${biasTable ? fmtShape(biasTable.shape) : 'none'}`;
}

/** Head-major geometry: [B, heads, nWin, M, d] or [B·nWin, heads, M, d]. */
function headGeometry(q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null, window: number | null | undefined, scale: number | undefined): Geometry {
  assertFloat(OP, q, k, v);
  const shapes = describeShapes(q, k, v, biasTable);
  if (q.rank !== 5 && q.rank !== 4) throw new Error(`lrdif: ${OP}: q, k and v must be [B, heads, nWin, M, d] (or [B·nWin, heads, M, d]), got ${shapes}`);
  if (!sameShape(q.shape, k.shape) || !sameShape(q.shape, v.shape)) throw new Error(`lrdif: ${OP}: q, k and v must have the same shape, got ${shapes}`);
  const [B, heads, nWin, M, d] = q.rank === 5 ? q.shape : [q.shape[0], q.shape[1], 1, q.shape[2], q.shape[3]];
  const w = checkWindow(OP, shapes, M, heads, biasTable, window);
  const sc = scale ?? 1 / Math.sqrt(Math.max(d, 1));
  checkScale(OP, sc, shapes);
  return {
    op: OP,
    B,
    heads,
    nWin,
    M,
    d,
    w,
    bw: B * nWin,
    problems: B * nWin * heads,
    sb: heads * nWin * M * d,
    sh: nWin * M * d,
    sw: M * d,
    st: d,
    scale: sc,
    hasBias: !!biasTable,
  };
}

/** Token-major geometry: [B, nWin, M, heads·d]. */
function tokenGeometry(q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null, window: number | null | undefined, heads: number, scale: number | undefined): Geometry {
  assertFloat(OP_TOKENS, q, k, v);
  const shapes = describeShapes(q, k, v, biasTable);
  if (q.rank !== 4) throw new Error(`lrdif: ${OP_TOKENS}: q, k and v must be [B, nWin, M, heads·d], got ${shapes}`);
  if (!sameShape(q.shape, k.shape) || !sameShape(q.shape, v.shape)) throw new Error(`lrdif: ${OP_TOKENS}: q, k and v must have the same shape, got ${shapes}`);
  const [B, nWin, M, D] = q.shape;
  if (!Number.isInteger(heads) || heads < 1 || D % heads !== 0) throw new Error(`lrdif: ${OP_TOKENS}: width ${D} is not a multiple of heads = ${heads} (${shapes})`);
  const d = D / heads;
  const w = checkWindow(OP_TOKENS, shapes, M, heads, biasTable, window);
  const sc = scale ?? 1 / Math.sqrt(Math.max(d, 1));
  checkScale(OP_TOKENS, sc, shapes);
  return {
    op: OP_TOKENS,
    B,
    heads,
    nWin,
    M,
    d,
    w,
    bw: B * nWin,
    problems: B * nWin * heads,
    sb: nWin * M * D,
    sw: M * D,
    sh: d,
    st: D,
    scale: sc,
    hasBias: !!biasTable,
  };
}

// ---------------------------------------------------------------- plans

/** The subgroup kernels (built for CPU adapters) or the portable ones (`ctx.tuning.windowAttention.path`). */
function useSubgroups(ctx: GpuContext): boolean {
  return ctx.tuning.windowAttention.path === 'subgroup';
}

/** Portable kernels: invocations per workgroup, rows per invocation, row tiles per problem. */
interface Plan {
  lanes: number;
  rows: number;
  tiles: number;
}

function plan(ctx: GpuContext, g: Geometry): Plan {
  const { lanes } = ctx.tuning.windowAttention;
  let rows = ctx.tuning.windowAttention.rows;
  rows = Math.max(1, Math.min(RMAX, rows, Math.ceil(g.M / lanes)));
  return { lanes, rows, tiles: Math.ceil(g.M / (lanes * rows)) };
}

/**
 * The pipelines of the subgroup kernels for the forward or for the backward (bwd_kv, then bwd_dq:
 * the order a step reaches them), for compiling ahead (gpu/precompile-node.ts): on lavapipe the
 * three take 20–30 s of a cold first training step to compile. None on the portable path.
 */
export function windowAttentionKernels(ctx: GpuContext, pass: 'forward' | 'backward'): KernelRequest[] {
  if (!useSubgroups(ctx)) return [];
  return pass === 'forward' ? [SG.forward] : [SG.bwdKv, SG.bwdDq];
}

/** The subgroup kernels' pipelines: what the ops dispatch and what is compiled ahead, written once. */
const SG = {
  forward: { shader: 'window_attention_sg', entry: 'forward' },
  bwdKv: { shader: 'window_attention_sg', entry: 'bwd_kv' },
  bwdDq: { shader: 'window_attention_sg', entry: 'bwd_dq' },
} as const satisfies Record<string, KernelRequest>;

/** Subgroup kernels (shaders/window_attention_sg.wgsl): own tokens per tile and partners per block (8 lanes × 7). */
const SG_KB = 56;

/** Subgroup kernels: tiles of 56 own tokens, groups of `per` windows per workgroup, blocks of 56 partners. */
interface SgPlan {
  tiles: number;
  per: number;
  groups: number;
  blocks: number;
}

function sgPlan(ctx: GpuContext, g: Geometry): SgPlan {
  const tiles = Math.ceil(g.M / SG_KB);
  // enough workgroups for the CPU's threads, and as many windows per workgroup as that allows
  // (the bias of a tile is gathered once per workgroup)
  const target = 16;
  let per = ctx.tuning.windowAttention.windowsPerGroup ?? Math.ceil(g.bw / Math.max(1, Math.ceil(target / (g.heads * tiles))));
  per = Math.max(1, Math.min(g.bw, per));
  return { tiles, per, groups: Math.ceil(g.bw / per), blocks: Math.ceil(g.M / SG_KB) };
}

function uniforms(g: Geometry, tiles: number, extra: Record<string, number> = {}): Record<string, number> {
  return {
    problems: g.problems,
    p0: 0,
    heads: g.heads,
    nwin: g.nWin,
    m: g.M,
    w: Math.max(g.w, 1),
    tiles,
    sb: g.sb,
    sw: g.sw,
    sh: g.sh,
    st: g.st,
    scale: g.scale,
    flags: g.hasBias ? 1 : 0,
    entries: 0,
    splits: 0,
    s0: 0,
    per: 0,
    bwTotal: g.bw,
    totalSplits: 0,
    d: g.d,
    ...extra,
  };
}

function sgUniforms(g: Geometry, sp: SgPlan, extra: Record<string, number> = {}): Record<string, number> {
  return uniforms(g, sp.tiles, { per: sp.per, ...extra });
}

// ---------------------------------------------------------------- raw kernels

/** Tensors a dispatch binds but does not use, released together. */
class StandIns {
  private ts: Tensor[] = [];
  get(): PooledBuffer {
    const t = alloc([1]);
    this.ts.push(t);
    return t.buffer;
  }
  dispose(): void {
    for (const t of this.ts) t.dispose();
  }
}

function forwardRaw(g: Geometry, q: Tensor, k: Tensor, v: Tensor, table: Tensor | null): { out: Tensor; lse: Tensor } {
  const ctx = q.ctx;
  const out = alloc(q.shape);
  const lse = alloc([g.problems, g.M]);
  const io = { qb: q.buffer, kb: k.buffer, vb: v.buffer, tbl: (table ?? q).buffer, ob: out.buffer, lse: lse.buffer };
  if (useSubgroups(ctx)) {
    const sp = sgPlan(ctx, g);
    // running row sums between blocks of keys (only when M > KB)
    const lsum = sp.blocks > 1 ? alloc([g.problems, g.M]) : alloc([1]);
    ctx.dispatch(SG.forward, { bindings: { ...io, lsum: lsum.buffer }, uniforms: sgUniforms(g, sp), workgroups: ctx.grid(g.heads * sp.tiles * sp.groups) });
    lsum.dispose();
    return { out, lse };
  }
  const pl = plan(ctx, g);
  ctx.dispatch(
    { shader: 'window_attention', entry: 'forward', constants: { HD: g.d, R: pl.rows, WGS: pl.lanes } },
    { bindings: io, uniforms: uniforms(g, pl.tiles), workgroups: ctx.grid(g.problems * pl.tiles) },
  );
  return { out, lse };
}

interface Need {
  q: boolean;
  k: boolean;
  v: boolean;
  table: boolean;
}

/** Sums partial bias gradients `part` ([windows or groups, heads, M, M] over `count` of them) into the table's gradient. */
function biasGradient(ctx: GpuContext, g: Geometry, part: Tensor, count: number, tableShape: readonly number[]): Tensor {
  const entries = (2 * g.w - 1) ** 2 * g.heads;
  const dtable = alloc(tableShape);
  const target = ctx.caps.isCpuAdapter ? 8 : Math.max(1, Math.ceil(16384 / entries));
  let splits = Math.max(1, Math.min(count, ctx.tuning.windowAttention.splits ?? target));
  const per = Math.ceil(count / splits);
  splits = Math.ceil(count / per);
  const sums = splits === 1 ? dtable : alloc([entries, splits]);
  ctx.dispatch(
    { shader: 'window_attention', entry: 'bwd_bias' },
    {
      bindings: { dsb: part.buffer, part: sums.buffer },
      uniforms: uniforms(g, 1, { entries, splits, s0: 0, per, bwTotal: count, totalSplits: splits }),
      workgroups: ctx.grid(Math.ceil((entries * splits) / BIAS_WG)),
    },
  );
  if (sums !== dtable) {
    ctx.dispatch(
      { shader: 'window_attention', entry: 'bwd_bias_sum' },
      { bindings: { part: sums.buffer, dtbl: dtable.buffer }, uniforms: uniforms(g, 1, { entries, totalSplits: splits }), workgroups: ctx.grid(Math.ceil(entries / BIAS_WG)) },
    );
    sums.dispose();
  }
  return dtable;
}

function backwardSg(g: Geometry, go: Tensor, q: Tensor, k: Tensor, v: Tensor, table: Tensor | null, out: Tensor, lse: Tensor, need: Need): Array<Tensor | null> {
  const ctx = go.ctx;
  const sp = sgPlan(ctx, g);
  const wantTable = need.table && g.hasBias;
  const tbl = (table ?? q).buffer;
  const dq = alloc(q.shape);
  const dk = alloc(k.shape);
  const dv = alloc(v.shape);
  // ds of a chunk of windows (whole groups) stays under the binding limit
  const bytesPerWindow = g.heads * g.M * g.M * 4;
  const cap = Math.min(ctx.tuning.windowAttention.chunkBytes, ctx.limits.maxStorageBufferBindingSize);
  if (bytesPerWindow > ctx.limits.maxStorageBufferBindingSize) {
    throw new Error(`lrdif: ${g.op}: the scores of one window (${bytesPerWindow} bytes) exceed the storage binding limit`);
  }
  const groupsPerChunk = Math.max(1, Math.floor(cap / (bytesPerWindow * sp.per)));
  const chunkWindows = Math.min(g.bw, groupsPerChunk * sp.per);
  const ds = alloc([chunkWindows, g.heads, g.M, g.M]);
  const dbp = wantTable ? alloc([sp.groups, g.heads, g.M, g.M]) : alloc([1]);
  for (let bw0 = 0; bw0 < g.bw; bw0 += chunkWindows) {
    const n = Math.min(chunkWindows, g.bw - bw0);
    const un = sgUniforms(g, sp, { p0: bw0, bwTotal: n, flags: (g.hasBias ? 1 : 0) | (wantTable ? 2 : 0) });
    const grid = ctx.grid(g.heads * sp.tiles * Math.ceil(n / sp.per));
    ctx.dispatch(SG.bwdKv, {
      bindings: {
        qb: q.buffer,
        kb: k.buffer,
        vb: v.buffer,
        tbl,
        gob: go.buffer,
        fob: out.buffer,
        lse: lse.buffer,
        dkb: dk.buffer,
        dvb: dv.buffer,
        dsb: ds.buffer,
        dbp: dbp.buffer,
      },
      uniforms: un,
      workgroups: grid,
    });
    ctx.dispatch(SG.bwdDq, { bindings: { kb: k.buffer, dsb: ds.buffer, dqb: dq.buffer }, uniforms: un, workgroups: grid });
  }
  ds.dispose();
  const dtable = wantTable ? biasGradient(ctx, g, dbp, sp.groups, table!.shape) : null;
  dbp.dispose();
  return finish(dq, dk, dv, dtable, need, wantTable);
}

function finish(dq: Tensor, dk: Tensor | null, dv: Tensor | null, dtable: Tensor | null, need: Need, wantTable: boolean): Array<Tensor | null> {
  if (!need.q) dq.dispose();
  if (!need.k) dk?.dispose();
  if (!need.v) dv?.dispose();
  return [need.q ? dq : null, need.k ? dk : null, need.v ? dv : null, wantTable ? dtable : null];
}

function backwardPortable(g: Geometry, go: Tensor, q: Tensor, k: Tensor, v: Tensor, table: Tensor | null, out: Tensor, lse: Tensor, need: Need): Array<Tensor | null> {
  const ctx = go.ctx;
  const pl = plan(ctx, g);
  const consts = { HD: g.d, R: pl.rows, WGS: pl.lanes };
  const tbl = (table ?? q).buffer;
  const dq = alloc(q.shape);
  const delta = alloc([g.problems, g.M]);
  const wantTable = need.table && g.hasBias;
  const spare = new StandIns();
  const bwdQ = (p0: number, problems: number, dsBuf: PooledBuffer, storeDs: boolean) => {
    ctx.dispatch(
      { shader: 'window_attention', entry: 'bwd_q', constants: consts },
      {
        bindings: { qb: q.buffer, kb: k.buffer, vb: v.buffer, tbl, gob: go.buffer, fob: out.buffer, lse: lse.buffer, dqb: dq.buffer, delta: delta.buffer, dsb: dsBuf },
        uniforms: uniforms(g, pl.tiles, { problems, p0, flags: (g.hasBias ? 1 : 0) | (storeDs ? 2 : 0) }),
        workgroups: ctx.grid(problems * pl.tiles),
      },
    );
  };
  let dtable: Tensor | null = null;
  if (!wantTable) {
    bwdQ(0, g.problems, spare.get(), false);
  } else {
    // ds [windows of a chunk, heads, M, M], summed into per-chunk partial tables
    const bytesPerWindow = g.heads * g.M * g.M * 4;
    const cap = Math.min(ctx.tuning.windowAttention.chunkBytes, ctx.limits.maxStorageBufferBindingSize);
    if (bytesPerWindow > ctx.limits.maxStorageBufferBindingSize) {
      throw new Error(`lrdif: ${g.op}: the bias gradient of one window (${bytesPerWindow} bytes of scores) exceeds the storage binding limit`);
    }
    const chunk = Math.max(1, Math.min(g.bw, Math.floor(cap / bytesPerWindow)));
    const ds = alloc([chunk, g.heads, g.M, g.M]);
    const partials: Tensor[] = [];
    for (let bw0 = 0; bw0 < g.bw; bw0 += chunk) {
      const n = Math.min(chunk, g.bw - bw0);
      bwdQ(bw0 * g.heads, n * g.heads, ds.buffer, true);
      partials.push(biasGradient(ctx, g, ds, n, table!.shape));
    }
    ds.dispose();
    dtable = partials[0];
    for (let i = 1; i < partials.length; i++) {
      const sum = add(dtable, partials[i]);
      dtable.dispose();
      partials[i].dispose();
      dtable = sum;
    }
  }
  let dk: Tensor | null = null;
  let dv: Tensor | null = null;
  if (need.k || need.v) {
    dk = alloc(k.shape);
    dv = alloc(v.shape);
    ctx.dispatch(
      { shader: 'window_attention', entry: 'bwd_kv', constants: consts },
      {
        bindings: { qb: q.buffer, kb: k.buffer, vb: v.buffer, tbl, gob: go.buffer, lse: lse.buffer, delta: delta.buffer, dkb: dk.buffer, dvb: dv.buffer },
        uniforms: uniforms(g, pl.tiles),
        workgroups: ctx.grid(g.problems * pl.tiles),
      },
    );
  }
  delta.dispose();
  spare.dispose();
  return finish(dq, dk, dv, dtable, need, wantTable);
}

function backwardRaw(g: Geometry, go: Tensor, q: Tensor, k: Tensor, v: Tensor, table: Tensor | null, out: Tensor, lse: Tensor, need: Need): Array<Tensor | null> {
  return useSubgroups(go.ctx) ? backwardSg(g, go, q, k, v, table, out, lse, need) : backwardPortable(g, go, q, k, v, table, out, lse, need);
}

function fused(g: Geometry, q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null): Tensor {
  const inputs = biasTable ? [q, k, v, biasTable] : [q, k, v];
  const grad = engine.needsGrad(inputs);
  if (g.problems === 0 || g.d === 0 || g.M === 0) {
    // nothing to attend over (or an empty head width): an empty or zero output, zero gradients
    const out = zeros(q.shape);
    if (grad) {
      engine.record(g.op, inputs, out, [], () => inputs.map((t) => zeros(t.shape)));
    }
    return out;
  }
  if (g.d > WINDOW_ATTENTION_MAX_HEAD_DIM && !useSubgroups(q.ctx)) {
    throw new Error(
      `lrdif: ${g.op}: head width ${g.d} exceeds ${WINDOW_ATTENTION_MAX_HEAD_DIM}, the portable kernels' register tile (${describeShapes(q, k, v, biasTable)}); use the unfused composition`,
    );
  }
  const { out, lse } = forwardRaw(g, q, k, v, biasTable);
  if (grad) {
    const need: Need = { q: q.requiresGrad, k: k.requiresGrad, v: v.requiresGrad, table: !!biasTable?.requiresGrad };
    const saved = biasTable ? [q, k, v, out, lse, biasTable] : [q, k, v, out, lse];
    engine.record(g.op, inputs, out, saved, (gr, [qs, ks, vs, os, ls, ts]) => {
      const r = backwardRaw(g, gr, qs, ks, vs, ts ?? null, os, ls, need);
      return biasTable ? r : r.slice(0, 3);
    });
  }
  // the tape holds a view of what the backward needs
  lse.dispose();
  return out;
}

// ---------------------------------------------------------------- public API

/**
 * Window (cross-)attention, fused. q: [B, heads, nWin, M, d] (queries, e.g. from the landmark
 * features), k, v: the same shape (from the image features), already split into windows (the
 * caller partitions with reshape/permute); [B·nWin, heads, M, d] is accepted too. biasTable:
 * [(2w−1)², heads], Swin-style (the entry for query token i = (yi, xi) and key token j = (yj, xj)
 * is ((yi−yj)+w−1)·(2w−1) + (xi−xj)+w−1), or null for plain attention (then `window` may be
 * null and M is any token count). M must be window². scale defaults to 1/√d.
 *   out = softmax(q·kᵀ·scale + bias) · v, the shape of q.
 * Head width d ≤ 128 (WINDOW_ATTENTION_MAX_HEAD_DIM). Gradients: q, k, v and the table.
 */
export function windowAttention(q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null, window: number | null, scale?: number): Tensor {
  const g = headGeometry(q, k, v, biasTable, window, scale);
  return fused(g, q, k, v, biasTable);
}

/**
 * The same attention on token-major tensors: q, k, v [B, nWin, M, heads·d] (window tokens as a
 * Linear produces them; channel h·d + c of a token is channel c of head h), out likewise. No
 * permute is needed on either side; the kernels read the heads through strides.
 */
export function windowAttentionTokens(q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null, window: number | null, heads: number, scale?: number): Tensor {
  const g = tokenGeometry(q, k, v, biasTable, window, heads, scale);
  return fused(g, q, k, v, biasTable);
}

/**
 * Swin's relative position index of a w×w window: [w²·w²] entries into a (2w−1)² bias table,
 * row-major over (query i, key j): ((yi − yj) + w − 1)·(2w − 1) + (xi − xj) + w − 1.
 */
export function relativePositionIndex(w: number): Int32Array {
  const M = w * w;
  const out = new Int32Array(M * M);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < M; j++) {
      out[i * M + j] = (Math.floor(i / w) - Math.floor(j / w) + w - 1) * (2 * w - 1) + ((i % w) - (j % w) + w - 1);
    }
  }
  return out;
}

/** matmul + gathered bias + softmax + matmul on head-major [..., heads, (nWin,) M, d] tensors. */
function unfusedCore(g: Geometry, q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null, rank5: boolean): Tensor {
  let s = matmul(mulScalar(q, g.scale), k, { transB: true });
  if (biasTable) {
    const idx = tensor(relativePositionIndex(g.w), [g.M * g.M], 'i32');
    const b = permute(reshape(indexSelect(biasTable, 0, idx), [g.M, g.M, g.heads]), [2, 0, 1]);
    idx.dispose();
    s = add(s, rank5 ? reshape(b, [g.heads, 1, g.M, g.M]) : b);
  }
  return matmul(softmax(s, -1), v);
}

/**
 * `windowAttention` composed from the engine's unfused ops (matmul, indexSelect of the bias,
 * add, softmax, matmul): the test oracle and the benchmark baseline. Same arguments.
 */
export function windowAttentionUnfused(q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null, window: number | null, scale?: number): Tensor {
  const g = headGeometry(q, k, v, biasTable, window, scale);
  return unfusedCore(g, q, k, v, biasTable, q.rank === 5);
}

/** `windowAttentionTokens` from unfused ops: permute to head-major, attend, permute back. */
export function windowAttentionTokensUnfused(q: Tensor, k: Tensor, v: Tensor, biasTable: Tensor | null, window: number | null, heads: number, scale?: number): Tensor {
  const g = tokenGeometry(q, k, v, biasTable, window, heads, scale);
  const toHeads = (x: Tensor) => permute(reshape(x, [g.B, g.nWin, g.M, g.heads, g.d]), [0, 3, 1, 2, 4]);
  const o = unfusedCore(g, toHeads(q), toHeads(k), toHeads(v), biasTable, true);
  return reshape(permute(o, [0, 2, 3, 1, 4]), [g.B, g.nWin, g.M, g.heads * g.d]);
}
