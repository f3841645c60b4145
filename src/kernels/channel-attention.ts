/**
 * Transposed channel attention (Restormer's MDTA core, LRDif's DMNet), fused
 * (shaders/channel_attention.wgsl), with its backward rule; and the same attention composed
 * from the engine's unfused ops (`channelAttentionUnfused`), the test oracle and benchmark
 * baseline.
 *
 * q, k, v: [B, heads, c, N] (N = H·W pixels, c = C/heads channels per head); temperature:
 * [heads] (or Restormer's [heads, 1, 1]).
 *   out = softmax( normalize(q) · normalize(k)ᵀ · temperature[h] ) · v,
 *   normalize(x) = x / max(‖x‖₂, 1e-12) along N (PyTorch F.normalize).
 *
 * Forward: one pass over q and k for the c×c products q·kᵀ and the row norms (split over N
 * into chunks whose partial sums are added in a fixed order, so results are deterministic),
 * a small kernel for Ĝ = q̂k̂ᵀ and its softmax A, and one pass for A·v. It keeps A, Ĝ and
 * the norms (all small) for the backward, never a normalised copy of q or k.
 * Backward: one pass over g and v for dA = g·vᵀ, small kernels for the softmax and
 * normalisation backward (folded into c×c matrices and per-row factors), and one pass each
 * for dv = Aᵀg, dq = W·k − γq ⊙ q and dk = Wᵀ·q − γk ⊙ k (the −γ ⊙ x terms in a light
 * second pass over dq and dk).
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import type { PooledBuffer } from '../gpu/buffer-pool.js';
import type { GpuContext } from '../gpu/context.js';
import { alloc, assertFloat, sameShape } from './util.js';
import { clamp, div, mul, sqrt, square } from './elementwise.js';
import { sum } from './reduce.js';
import { softmax } from './softmax.js';
import { matmul } from './matmul.js';
import { reshape } from './shape.js';
import { zeros } from './creation.js';

const OP = 'channelAttention';
const EPS = 1e-12;
/** Rows of the shared operand per `gram` workgroup and b rows per lane (TI, RJ in the shader). */
const GRAM_TI = 8;
const GRAM_RJ = 2;
/** Output rows per `mix` workgroup and 4-column groups per lane (TM, RN in the shader). */
const MIX_TM = 16;
const MIX_RN = 2;
const SMALL_WG = 64;

/** Runtime flags of the big kernels (Params.flags). */
const NORMS = 1;
const TRANS = 2;

/** Largest G and R of the subgroup kernels (MAXG, MAXR in the shader). */
const SG_MAXG = 6;
const SG_MAXR = 6;
/**
 * Default tiles of the subgroup kernels: up to 24 rows (G ≤ 3) by up to 24 columns (R ≤ 3) for
 * gram, up to 24 rows by 4 columns per lane for mix, G and R picked to pad c the least.
 * Measured on lavapipe at B = 8, c = 48, N = 3136 (115 MFLOP per c×c×N product): about 6 ms
 * (gram) and 8–9 ms (mix) of CPU time, i.e. 13–20 GFLOP/s per core with lavapipe's 8-wide
 * unfused multiply-adds; bigger tiles (48×24 or 48×48 gram, 48×4 or 24×8 mix) were no faster
 * but took 3–8× longer to compile (2 s → 6–17 s of CPU per pipeline).
 */
const SG_MAX_TILE = 3;
const SG_MIX_R = 1;

/** 8-row groups (1…max) per tile with the least padding of c rows; ties go to larger tiles. */
function rowGroups(c: number, max: number): number {
  let best = 1;
  for (let g = 1; g <= max; g++) {
    if (Math.ceil(c / (8 * g)) * g <= Math.ceil(c / (8 * best)) * best) best = g;
  }
  return best;
}

function useVec(ctx: GpuContext, n: number): boolean {
  return n % 4 === 0 && ctx.tuning.channelAttention.vec;
}

interface Geometry {
  B: number;
  heads: number;
  c: number;
  n: number;
  problems: number;
}

/**
 * Where an operand's problems lie in a buffer: its tensor, the elements from one image to the
 * next and the offset of the first (the shaders' blockOf). A tensor of its own is
 * [B, heads, c, n]; q, k and v packed in one are [B, 3, heads, c, n].
 */
interface Operand {
  t: Tensor;
  stride: number;
  off: number;
}

function whole(g: Geometry, t: Tensor): Operand {
  return { t, stride: g.heads * g.c * g.n, off: 0 };
}

/** Part i (0: q, 1: k, 2: v) of a packed [B, 3, heads, c, n] tensor. */
function packedPart(g: Geometry, t: Tensor, i: number): Operand {
  const per = g.heads * g.c * g.n;
  return { t, stride: 3 * per, off: i * per };
}

/** The uniforms that place operand a, operand b and the output. */
function placement(g: Geometry, a: Operand | null, b: Operand | null, o: Operand | null): Record<string, number> {
  return { heads: g.heads, sa: a?.stride ?? 0, oa: a?.off ?? 0, sb: b?.stride ?? 0, ob: b?.off ?? 0, so: o?.stride ?? 0, oo: o?.off ?? 0 };
}

function geometry(q: Tensor, k: Tensor, v: Tensor, temperature: Tensor): Geometry {
  assertFloat(OP, q, k, v, temperature);
  const shapes = `q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}, temperature ${fmtShape(temperature.shape)}`;
  if (q.rank !== 4) throw new Error(`lrdif: ${OP}: q, k and v must be [B, heads, c, N], got ${shapes}`);
  if (!sameShape(q.shape, k.shape) || !sameShape(q.shape, v.shape)) {
    throw new Error(`lrdif: ${OP}: q, k and v must have the same shape [B, heads, c, N], got ${shapes}`);
  }
  const [B, heads, c, n] = q.shape;
  checkTemperature(temperature, heads, shapes);
  return { B, heads, c, n, problems: B * heads };
}

/** temperature must be [heads] (or Restormer's [heads, 1, 1]); `shapes` names the operands in the error. */
function checkTemperature(temperature: Tensor, heads: number, shapes: string): void {
  const ok = (temperature.rank === 1 && temperature.shape[0] === heads) || (temperature.rank === 3 && sameShape(temperature.shape, [heads, 1, 1]));
  if (!ok) throw new Error(`lrdif: ${OP}: temperature must be [heads] = [${heads}] (or [${heads}, 1, 1]), got ${shapes}`);
}

/** The subgroup kernels (shaders/channel_attention_sg.wgsl) or the portable ones (`ctx.tuning.channelAttention.path`). */
function useSubgroups(ctx: GpuContext): boolean {
  return ctx.tuning.channelAttention.path === 'subgroup';
}

/** Folds `count` workgroups (problems or rows) into the y and z dimensions. */
function foldYZ(ctx: GpuContext, count: number): [number, number] {
  return ctx.grid(count);
}

interface GramPlan {
  sg: boolean;
  /** sg: 8-row groups of a and rows of b per lane. */
  G: number;
  R: number;
  splits: number;
  chunk: number;
  tilesI: number;
  tilesJ: number;
}

/** Tiles, and column chunks so that there are enough workgroups for the adapter; each chunk ≥ 64 columns. */
function gramPlan(ctx: GpuContext, g: Geometry): GramPlan {
  const sg = useSubgroups(ctx);
  const tuning = ctx.tuning.channelAttention;
  let G = 0;
  let R = 0;
  let tilesI: number;
  let tilesJ: number;
  if (sg) {
    G = Math.min(SG_MAXG, tuning.gramRowGroups ?? rowGroups(g.c, SG_MAX_TILE));
    R = Math.min(SG_MAXR, tuning.gramColumns ?? rowGroups(g.c, SG_MAX_TILE));
    tilesI = Math.ceil(g.c / (8 * G));
    tilesJ = Math.ceil(g.c / (8 * R));
  } else {
    tilesI = Math.ceil(g.c / GRAM_TI);
    tilesJ = Math.ceil(g.c / (tuning.lanes * GRAM_RJ));
  }
  const base = tilesI * tilesJ * g.problems;
  const maxSplits = Math.max(1, Math.ceil(g.n / 64));
  const target = ctx.caps.isCpuAdapter ? 32 : 2048;
  let splits = tuning.splits ?? Math.ceil(target / base);
  splits = Math.max(1, Math.min(splits, tuning.splits ? Infinity : maxSplits, Math.ceil(g.n / 4)));
  const chunk = Math.ceil(Math.ceil(g.n / splits) / 4) * 4;
  splits = Math.ceil(g.n / chunk);
  return { sg, G, R, splits, chunk, tilesI, tilesJ };
}

/** Partial products a·bᵀ per problem and chunk [P, S, c, c], and (norms) partial squared row norms [P, S, 2, c]. */
function gram(ctx: GpuContext, g: Geometry, pl: GramPlan, a: Operand, b: Operand, norms: boolean): { part: Tensor; npart: Tensor | null } {
  const part = alloc([g.problems, pl.splits, g.c, g.c]);
  // without norms, a one-element stand-in is bound to the (never written) norms binding
  const npart = alloc(norms ? [g.problems, pl.splits, 2, g.c] : [1]);
  const VEC = useVec(ctx, g.n) ? 1 : 0;
  // each operand is bound as scalars and as vec4s (read-only aliases)
  const bindings = { a: a.t.buffer, a4: a.t.buffer, b: b.t.buffer, b4: b.t.buffer, part: part.buffer, npart: npart.buffer };
  const [y, z] = foldYZ(ctx, g.problems * pl.splits);
  ctx.dispatch(
    pl.sg
      ? { shader: 'channel_attention_sg', entry: 'gram', constants: { VEC, G: pl.G, R: pl.R } }
      : { shader: 'channel_attention', entry: 'gram', constants: { VEC, WGS: ctx.tuning.channelAttention.lanes } },
    {
      bindings,
      uniforms: { c: g.c, n: g.n, problems: g.problems, splits: pl.splits, chunk: pl.chunk, tilesJ: pl.tilesJ, flags: norms ? NORMS : 0, ...placement(g, a, b, null) },
      workgroups: [pl.tilesI * pl.tilesJ, y, z],
    },
  );
  if (!norms) {
    npart.dispose();
    return { part, npart: null };
  }
  return { part, npart };
}

/**
 * out[i, :] = Σ_j M[i, j] x[j, :] (M transposed with `trans`) − d[i] y[i, :] (with `diag`, a
 * second pass), per problem; into `into` (a part of a packed tensor), or a new [B, heads, c, n].
 */
function mix(ctx: GpuContext, g: Geometry, m: Tensor, x: Operand, trans: boolean, diag: { d: Tensor; y: Operand } | null, into?: Operand): Tensor {
  const o = into ?? whole(g, alloc([g.B, g.heads, g.c, g.n]));
  const out = o.t;
  const vec = useVec(ctx, g.n);
  // x is bound as scalars and as vec4s
  const bindings: Record<string, PooledBuffer> = { mat: m.buffer, a: x.t.buffer, a4: x.t.buffer };
  if (vec) bindings.out4 = out.buffer;
  else bindings.out = out.buffer;
  const VEC = vec ? 1 : 0;
  const flags = trans ? TRANS : 0;
  const entry = vec ? 'mix_vec4' : 'mix';
  let colGroups: number;
  let tiles: number;
  let req;
  const tuning = ctx.tuning.channelAttention;
  if (useSubgroups(ctx)) {
    const G = Math.min(SG_MAXG, tuning.mixRowGroups ?? rowGroups(g.c, SG_MAX_TILE));
    const R = Math.max(1, Math.min(SG_MAXR, tuning.mixColumns ?? SG_MIX_R));
    colGroups = Math.ceil(g.n / (8 * 4 * R));
    tiles = Math.ceil(g.c / (8 * G));
    req = { shader: 'channel_attention_sg', entry, constants: { VEC, G, R } };
  } else {
    const wgs = tuning.lanes;
    colGroups = Math.ceil(g.n / (4 * MIX_RN * wgs));
    tiles = Math.ceil(g.c / MIX_TM);
    req = { shader: 'channel_attention', entry, constants: { VEC, WGS: wgs } };
  }
  const [y, z] = foldYZ(ctx, g.problems);
  ctx.dispatch(req, { bindings, uniforms: { c: g.c, n: g.n, problems: g.problems, colGroups, flags, ...placement(g, x, null, o) }, workgroups: [tiles * colGroups, y, z] });
  if (diag) {
    // a separate pass: folded into the mix kernels this term cost about as much at run time
    // on lavapipe and quadrupled their compile time
    ctx.dispatch(
      { shader: 'channel_attention', entry: 'diag_sub' },
      {
        bindings: { out: out.buffer, dvec: diag.d.buffer, b: diag.y.t.buffer },
        uniforms: { c: g.c, n: g.n, problems: g.problems, ...placement(g, null, diag.y, o) },
        // 4 columns of a row per invocation
        workgroups: ctx.grid(Math.ceil((g.problems * g.c * Math.ceil(g.n / 4)) / SMALL_WG)),
      },
    );
  }
  return out;
}

/** Dispatches a small per-row entry over problems · c invocations. */
function rowsDispatch(ctx: GpuContext, entry: string, g: Geometry, splits: number, bindings: Record<string, PooledBuffer>): void {
  ctx.dispatch(
    { shader: 'channel_attention', entry },
    {
      bindings,
      uniforms: { c: g.c, n: g.n, problems: g.problems, splits, heads: g.heads, eps: EPS },
      workgroups: ctx.grid(Math.ceil((g.problems * g.c) / SMALL_WG)),
    },
  );
}

interface Saved {
  /** [B, heads, c, c] softmax output. */
  attn: Tensor;
  /** [B, heads, c, c] q̂k̂ᵀ. */
  ghat: Tensor;
  /** [B, heads, 2, c] unclamped row norms of q and k. */
  nrm: Tensor;
}

function forwardRaw(g: Geometry, q: Operand, k: Operand, v: Operand, temperature: Tensor): { out: Tensor; saved: Saved } {
  const ctx = temperature.ctx;
  const pl = gramPlan(ctx, g);
  const { part, npart } = gram(ctx, g, pl, q, k, true);
  const attn = alloc([g.B, g.heads, g.c, g.c]);
  const ghat = alloc([g.B, g.heads, g.c, g.c]);
  const nrm = alloc([g.B, g.heads, 2, g.c]);
  rowsDispatch(ctx, 'attn_rows', g, pl.splits, {
    part: part.buffer,
    npart: npart!.buffer,
    temp: temperature.buffer,
    attn: attn.buffer,
    ghat: ghat.buffer,
    nrm: nrm.buffer,
  });
  part.dispose();
  npart!.dispose();
  const out = mix(ctx, g, attn, v, false, null);
  return { out, saved: { attn, ghat, nrm } };
}

/**
 * dq, dk, dv (each new, or written into the parts of `packed` [B, 3, heads, c, n], then
 * returned as null) and dtemperature.
 */
function backwardRaw(
  g: Geometry,
  grad: Tensor,
  q: Operand,
  k: Operand,
  v: Operand,
  temperature: Tensor,
  s: Saved,
  need: [boolean, boolean, boolean, boolean],
  packed?: Tensor,
): Array<Tensor | null> {
  const ctx = grad.ctx;
  const gr = whole(g, grad);
  const dst = (i: number) => (packed ? packedPart(g, packed, i) : undefined);
  const dv = need[2] ? mix(ctx, g, s.attn, gr, true, null, dst(2)) : null;
  if (!need[0] && !need[1] && !need[3]) return [null, null, packed ? null : dv, null];
  const pl = gramPlan(ctx, g);
  const { part } = gram(ctx, g, pl, gr, v, false);
  const w = alloc([g.B, g.heads, g.c, g.c]);
  const gq = alloc([g.problems, g.c]);
  const gk = alloc([g.problems, g.c]);
  const dtrow = alloc([g.problems, g.c]);
  const common = { attn: s.attn.buffer, ghat: s.ghat.buffer, nrm: s.nrm.buffer };
  rowsDispatch(ctx, 'bwd_rows', g, pl.splits, { ...common, part: part.buffer, temp: temperature.buffer, wmat: w.buffer, gq: gq.buffer, dtrow: dtrow.buffer });
  let dtemp: Tensor | null = null;
  if (need[3]) {
    dtemp = alloc([g.heads]);
    ctx.dispatch(
      { shader: 'channel_attention', entry: 'bwd_temp' },
      { bindings: { dtrow: dtrow.buffer, dtemp: dtemp.buffer }, uniforms: { c: g.c, problems: g.problems, heads: g.heads }, workgroups: [Math.ceil(g.heads / SMALL_WG)] },
    );
  }
  const dq = need[0] ? mix(ctx, g, w, k, false, { d: gq, y: q }, dst(0)) : null;
  let dk: Tensor | null = null;
  if (need[1]) {
    rowsDispatch(ctx, 'bwd_cols', g, pl.splits, { wmat: w.buffer, ghat: s.ghat.buffer, nrm: s.nrm.buffer, gk: gk.buffer });
    dk = mix(ctx, g, w, q, true, { d: gk, y: k }, dst(1));
  }
  for (const t of [part, w, gq, gk, dtrow]) t.dispose();
  return packed ? [null, null, null, dtemp] : [dq, dk, dv, dtemp];
}

/**
 * out = softmax( normalize(q, N) · normalize(k, N)ᵀ · temperature[h] ) · v, fused.
 * q, k, v: [B, heads, c, N]; temperature: [heads] (or [heads, 1, 1]); returns [B, heads, c, N].
 */
export function channelAttention(q: Tensor, k: Tensor, v: Tensor, temperature: Tensor): Tensor {
  const g = geometry(q, k, v, temperature);
  const inputs = [q, k, v, temperature];
  const grad = engine.needsGrad(inputs);
  if (g.problems === 0 || g.c === 0 || g.n === 0) {
    // nothing to attend over: an empty output, and zero gradients
    const out = alloc(q.shape);
    if (grad) {
      engine.record(OP, inputs, out, [], () => [zeros(q.shape), zeros(k.shape), zeros(v.shape), zeros(temperature.shape)]);
    }
    return out;
  }
  const { out, saved } = forwardRaw(g, whole(g, q), whole(g, k), whole(g, v), temperature);
  if (grad) {
    const need: [boolean, boolean, boolean, boolean] = [q.requiresGrad, k.requiresGrad, v.requiresGrad, temperature.requiresGrad];
    engine.record(OP, inputs, out, [q, k, v, temperature, saved.attn, saved.ghat, saved.nrm], (gr, [qs, ks, vs, ts, as, gs, ns]) =>
      backwardRaw(g, gr, whole(g, qs), whole(g, ks), whole(g, vs), ts, { attn: as, ghat: gs, nrm: ns }, need),
    );
  }
  // the tape holds views of what the backward needs
  saved.attn.dispose();
  saved.ghat.dispose();
  saved.nrm.dispose();
  return out;
}

/**
 * The same attention on q, k and v packed in one tensor, qkv [B, 3, heads, c, N] (a view of
 * what one 1×1 convolution to 3·heads·c channels gives), temperature [heads]; returns
 * [B, heads, c, N]. One node whose gradient is one packed tensor (the three parts written side
 * by side), where three narrows of qkv would each give a full-size gradient, summed in two
 * more passes.
 */
export function channelAttentionPacked(qkv: Tensor, temperature: Tensor): Tensor {
  assertFloat(OP, qkv, temperature);
  if (qkv.rank !== 5 || qkv.shape[1] !== 3) {
    throw new Error(`lrdif: ${OP}: packed qkv must be [B, 3, heads, c, N], got ${qkv.describe()}`);
  }
  const [B, , heads, c, n] = qkv.shape;
  checkTemperature(temperature, heads, `qkv ${fmtShape(qkv.shape)}, temperature ${fmtShape(temperature.shape)}`);
  const g: Geometry = { B, heads, c, n, problems: B * heads };
  const inputs = [qkv, temperature];
  const grad = engine.needsGrad(inputs);
  if (g.problems === 0 || g.c === 0 || g.n === 0) {
    const out = alloc([B, heads, c, n]);
    if (grad) engine.record(OP, inputs, out, [], () => [zeros(qkv.shape), zeros(temperature.shape)]);
    return out;
  }
  // the kernels read q, k and v where they lie in qkv, and write dq, dk and dv there too
  const { out, saved } = forwardRaw(g, packedPart(g, qkv, 0), packedPart(g, qkv, 1), packedPart(g, qkv, 2), temperature);
  if (grad) {
    const needQkv = qkv.requiresGrad;
    const need: [boolean, boolean, boolean, boolean] = [needQkv, needQkv, needQkv, temperature.requiresGrad];
    engine.record(OP, inputs, out, [qkv, temperature, saved.attn, saved.ghat, saved.nrm], (gr, [xs, ts, as, gs, ns]) => {
      const dqkv = needQkv ? alloc(qkv.shape) : undefined;
      const parts = [0, 1, 2].map((i) => packedPart(g, xs, i));
      const [, , , dtemp] = backwardRaw(g, gr, parts[0], parts[1], parts[2], ts, { attn: as, ghat: gs, nrm: ns }, need, dqkv);
      return [dqkv ?? null, dtemp];
    });
  }
  // the tape holds views of what the backward needs
  for (const t of [saved.attn, saved.ghat, saved.nrm]) t.dispose();
  return out;
}

/** x / max(‖x‖₂, 1e-12) along the last axis, from existing ops (PyTorch F.normalize). */
function l2NormalizeUnfused(x: Tensor): Tensor {
  const n = sqrt(sum(square(x), -1, true));
  return div(x, clamp(n, EPS, 3e38));
}

/** The same attention composed from the engine's unfused ops: the test oracle and the benchmark baseline. */
export function channelAttentionUnfused(q: Tensor, k: Tensor, v: Tensor, temperature: Tensor): Tensor {
  const g = geometry(q, k, v, temperature);
  const qn = l2NormalizeUnfused(q);
  const kn = l2NormalizeUnfused(k);
  const s = mul(matmul(qn, kn, { transB: true }), reshape(temperature, [g.heads, 1, 1]));
  return matmul(softmax(s, -1), v);
}
