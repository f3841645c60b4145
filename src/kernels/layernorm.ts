/**
 * Layer normalisation (shaders/layernorm.wgsl) over the last axis, or over the channels of
 * NCHW, with fused backward kernels. Both forms view the input as [outer, D, inner] and
 * normalise over D; the forward saves mean and 1/std per normalised vector for backward.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import type { PooledBuffer } from '../gpu/buffer-pool.js';
import type { GpuContext } from '../gpu/context.js';
import { alloc, assertDType, assertFloat, grid1d, WG } from './util.js';
import { sum } from './reduce.js';
import { threadsPerRow } from './rows.js';
import { reshape } from './shape.js';

type NormOp = 'layerNorm' | 'layerNormChannels';

interface NormView {
  outer: number;
  d: number;
  inner: number;
  /** How error messages name the normalised axis. */
  axisName: string;
}

function checkAffine(op: NormOp, x: Tensor, v: NormView, t: Tensor | null | undefined, what: 'weight' | 'bias'): Tensor | null {
  if (!t) return null;
  assertDType(op, t, 'f32', what);
  if (t.rank !== 1 || t.shape[0] !== v.d) {
    throw new Error(`lrdif: ${op}: ${what} has shape ${fmtShape(t.shape)}, expected [${v.d}] (the ${v.axisName} of input ${fmtShape(x.shape)})`);
  }
  return t;
}

function normDispatch(ctx: GpuContext, entry: 'forward' | 'backward', v: NormView, constants: Record<string, number>, bindings: Record<string, PooledBuffer>, eps = 0): void {
  const rows = v.outer * v.inner;
  const uniforms = { outer: v.outer, d: v.d, inner: v.inner, eps, chunk: 0, chunks: 0 };
  if (v.inner === 1) {
    const tpr = threadsPerRow(ctx, v.d);
    if (tpr === 1 && rowQuads(ctx, v)) {
      ctx.dispatch({ shader: 'layernorm', entry: `${entry}_rows4`, constants }, { bindings: asVec4('rows', bindings), uniforms, workgroups: grid1d(ctx, rows) });
      return;
    }
    ctx.dispatch(
      { shader: 'layernorm', entry: `${entry}_rows`, constants: { ...constants, TPR: tpr } },
      {
        bindings,
        uniforms,
        workgroups: ctx.grid(Math.ceil(rows / (WG / tpr))),
      },
    );
  } else if (pixelQuads(ctx, v, 4)) {
    ctx.dispatch({ shader: 'layernorm', entry: `${entry}_cols4`, constants }, { bindings: asVec4('cols', bindings), uniforms, workgroups: grid1d(ctx, rows / 4) });
  } else {
    ctx.dispatch({ shader: 'layernorm', entry: `${entry}_cols`, constants }, { bindings, uniforms, workgroups: grid1d(ctx, rows) });
  }
}

/** The channels form's four-pixel (`*_cols4`) kernels apply: on by tuning, and the images (and `chunk`) split into whole quads. */
function pixelQuads(ctx: GpuContext, v: NormView, chunk: number): boolean {
  return ctx.tuning.layerNorm.quads && v.inner % 4 === 0 && chunk % 4 === 0;
}

/** The last-axis form's four-feature (`*_rows4`) kernels apply: on by tuning, and rows of whole quads. */
function rowQuads(ctx: GpuContext, v: NormView): boolean {
  return ctx.tuning.layerNorm.quads && v.d % 4 === 0;
}

/**
 * Buffers each quad form reads as the scalar entries do: per channel in `*_cols4` (whose vec4s
 * run across pixels), per row in `*_rows4` (whose vec4s run along the row).
 */
const SCALAR_IN: Record<'rows' | 'cols', ReadonlySet<string>> = {
  cols: new Set(['weight', 'bias', 'pweight', 'pbias']),
  rows: new Set(['mean', 'rstd', 'smean', 'srstd']),
};

/** The quad entries' names for the other buffers (their vec4 views: x4, dy4, weight4, …). */
function asVec4(form: 'rows' | 'cols', bindings: Record<string, PooledBuffer>): Record<string, PooledBuffer> {
  const out: Record<string, PooledBuffer> = {};
  for (const [name, b] of Object.entries(bindings)) out[SCALAR_IN[form].has(name) ? name : `${name}4`] = b;
  return out;
}

/**
 * dweight = Σ_rows dy·x̂ and dbias = Σ_rows dy, deterministically: the kernel writes partial
 * sums per chunk of rows ([chunks, D]), then a plain reduction sums them over chunks.
 */
function paramGrads(g: Tensor, xs: Tensor, mean: Tensor, rstd: Tensor, v: NormView): [Tensor, Tensor] {
  const ctx = xs.ctx;
  const rows = v.outer * v.inner;
  let chunk: number;
  if (v.inner === 1) {
    // one thread per (chunk, feature): aim for ~16K threads
    const target = Math.max(1, Math.min(rows, Math.ceil(16384 / Math.max(v.d, 1))));
    chunk = Math.max(1, Math.ceil(rows / target));
  } else {
    // one workgroup per (chunk, channel), 256 threads over the chunk's pixels; CPU adapters
    // want few, long workgroups (barriers are costly), GPUs want many
    chunk = ctx.tuning.layerNorm.pixelsPerChunk;
  }
  const chunks = Math.ceil(rows / chunk);
  const pw = alloc([chunks, v.d]);
  const pb = alloc([chunks, v.d]);
  const all = { x: xs.buffer, dy: g.buffer, smean: mean.buffer, srstd: rstd.buffer, pweight: pw.buffer, pbias: pb.buffer };
  let entry: string;
  let workgroups: [number, number];
  let bound: Record<string, PooledBuffer> = all;
  if (v.inner === 1) {
    // four features per thread where the rows split into whole quads
    const quads = rowQuads(ctx, v);
    entry = quads ? 'params_rows4' : 'params_rows';
    workgroups = grid1d(ctx, (chunks * v.d) / (quads ? 4 : 1));
    if (quads) bound = asVec4('rows', all);
  } else {
    // four pixels per step where the images and the chunks split into whole quads
    const quads = pixelQuads(ctx, v, chunk);
    entry = quads ? 'params_cols4' : 'params_cols';
    workgroups = ctx.grid(chunks * v.d);
    if (quads) bound = asVec4('cols', all);
  }
  ctx.dispatch(
    { shader: 'layernorm', entry },
    {
      bindings: bound,
      uniforms: { outer: v.outer, d: v.d, inner: v.inner, eps: 0, chunk, chunks },
      workgroups,
    },
  );
  // one chunk: the partial sums are the sums (a view, no copy dispatched)
  const dw = chunks === 1 ? reshape(pw, [v.d]) : sum(pw, 0);
  const db = chunks === 1 ? reshape(pb, [v.d]) : sum(pb, 0);
  pw.dispose();
  pb.dispose();
  return [dw, db];
}

function normalize(op: NormOp, x: Tensor, v: NormView, weightIn: Tensor | null | undefined, biasIn: Tensor | null | undefined, eps: number): Tensor {
  assertFloat(op, x);
  const weight = checkAffine(op, x, v, weightIn, 'weight');
  const bias = checkAffine(op, x, v, biasIn, 'bias');
  if (!(eps >= 0) || !Number.isFinite(eps)) throw new Error(`lrdif: ${op}: eps must be a finite number ≥ 0, got ${eps}`);
  const ctx = x.ctx;
  const rows = v.outer * v.inner;
  const y = alloc(x.shape);
  const mean = alloc([rows]);
  const rstd = alloc([rows]);
  const constants = { HAS_WEIGHT: weight ? 1 : 0, HAS_BIAS: bias ? 1 : 0 };
  if (y.size > 0) {
    // an absent weight/bias is never read (HAS_* = 0); x stands in for its binding
    normDispatch(
      ctx,
      'forward',
      v,
      constants,
      {
        x: x.buffer,
        weight: (weight ?? x).buffer,
        bias: (bias ?? x).buffer,
        y: y.buffer,
        mean: mean.buffer,
        rstd: rstd.buffer,
      },
      eps,
    );
  }
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  if (engine.needsGrad(inputs)) {
    const wantX = x.requiresGrad;
    const wantParams = !!(weight?.requiresGrad || bias?.requiresGrad);
    const saved = weight ? [x, mean, rstd, weight] : [x, mean, rstd];
    engine.record(op, inputs, y, saved, (g, [xs, ms, rs, ws]) => {
      let dx: Tensor | null = null;
      if (wantX && xs.size > 0) {
        dx = alloc(xs.shape);
        normDispatch(
          ctx,
          'backward',
          v,
          { HAS_WEIGHT: ws ? 1 : 0 },
          {
            x: xs.buffer,
            weight: (ws ?? xs).buffer,
            dy: g.buffer,
            smean: ms.buffer,
            srstd: rs.buffer,
            dx: dx.buffer,
          },
        );
      } else if (wantX) {
        dx = alloc(xs.shape);
      }
      let dw: Tensor | null = null;
      let db: Tensor | null = null;
      if (wantParams) [dw, db] = paramGrads(g, xs, ms, rs, v);
      const out: Array<Tensor | null> = [dx];
      if (weight) out.push(dw);
      if (bias) out.push(db);
      return out;
    });
  }
  mean.dispose();
  rstd.dispose();
  return y;
}

/** Over the last axis, PyTorch semantics (biased variance). weight/bias [D] optional. */
export function layerNorm(x: Tensor, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  if (x.rank < 1) throw new Error(`lrdif: layerNorm: needs an input with at least one axis, got ${x.describe()}`);
  const d = x.shape[x.rank - 1];
  return normalize('layerNorm', x, { outer: sizeOfLead(x), d, inner: 1, axisName: 'last axis' }, weight, bias, eps);
}

/** Over the channels of NCHW (per pixel, as Restormer's LayerNorm on [B,C,H,W]): x [N,C,H,W], weight/bias [C]. */
export function layerNormChannels(x: Tensor, weight?: Tensor | null, bias?: Tensor | null, eps = 1e-5): Tensor {
  if (x.rank !== 4) throw new Error(`lrdif: layerNormChannels: input must be [N, C, H, W] (rank 4), got ${x.describe()}`);
  const [n, c, h, w] = x.shape;
  return normalize('layerNormChannels', x, { outer: n, d: c, inner: h * w, axisName: 'channel axis' }, weight, bias, eps);
}

/** Product of every axis but the last. */
function sizeOfLead(x: Tensor): number {
  let n = 1;
  for (let i = 0; i < x.rank - 1; i++) n *= x.shape[i];
  return n;
}
