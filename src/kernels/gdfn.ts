/**
 * The gated depthwise-conv FFN core (Restormer's GDFN, LRDif's DGNet), fused
 * (shaders/gdfn.wgsl), with its backward rule; and the same core composed from the engine's
 * unfused ops (`gatedDepthwiseGeluUnfused`), the test oracle and benchmark baseline.
 *
 * x: [B, 2h, H, W] (the output of the first 1×1 convolution), weight: [2h, 1, 3, 3]
 * (depthwise, no bias, padding 1):
 *   y = DWConv3×3(x);  out = GELU_erf(y[:, :h]) ⊙ y[:, h:]  → [B, h, H, W].
 *
 * Forward: one kernel; each invocation slides a 3-row register window down a strip of four
 * columns of channels c and c + h and writes the gated output, so the 2h-channel y never
 * reaches memory.
 * Backward: one kernel recomputes y in registers (nothing but x and the weight is saved),
 * forms dy₁ = g ⊙ y₂ ⊙ GELU'(y₁), dy₂ = g ⊙ GELU(y₁), and from the last three dy rows writes dx
 * (the depthwise transpose) and accumulates the weight gradient per invocation; a fixed-order
 * sum over the invocations' partials gives dweight (deterministic, no atomics).
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import type { GpuContext } from '../gpu/context.js';
import { alloc, assertFloat, grid1d } from './util.js';
import { outputForms, stripPlan, targetInvocations, type StripPlan } from './strips.js';
import { conv2d } from './conv.js';
import { split } from './layout.js';
import { gelu, mul } from './elementwise.js';
import { sum } from './reduce.js';
import { reshape } from './shape.js';
import { zeros } from './creation.js';

const OP = 'gatedDepthwiseGelu';
/** Invocations per workgroup in the shader (its `WG`). */
const WG = 64;

interface Plan extends StripPlan {
  n: number;
  h: number;
  H: number;
  W: number;
  /** Rows read and written a vec4 at a time (W % 4 == 0). */
  quads: boolean;
}

function geometry(x: Tensor, weight: Tensor): { n: number; h: number; H: number; W: number } {
  assertFloat(OP, x, weight);
  const shapes = `x ${fmtShape(x.shape)}, weight ${fmtShape(weight.shape)}`;
  if (x.rank !== 4) throw new Error(`lrdif: ${OP}: x must be 4-D [B, 2h, H, W], got ${shapes}`);
  const [n, c2, H, W] = x.shape;
  if (c2 % 2 !== 0) throw new Error(`lrdif: ${OP}: x needs an even channel count 2h (two halves), got ${shapes}`);
  const ok = weight.rank === 4 && weight.shape[0] === c2 && weight.shape[1] === 1 && weight.shape[2] === 3 && weight.shape[3] === 3;
  if (!ok) throw new Error(`lrdif: ${OP}: weight must be [2h, 1, 3, 3] = [${c2}, 1, 3, 3] (depthwise 3×3), got ${shapes}`);
  return { n, h: c2 / 2, H, W };
}

function plan(ctx: GpuContext, geo: { n: number; h: number; H: number; W: number }): Plan {
  const { n, h, H, W } = geo;
  const strips = stripPlan(ctx, H, W, n * h, ctx.tuning.gdfn.rowsPerChunk);
  return { n, h, H, W, ...strips, quads: W % 4 === 0 && ctx.tuning.gdfn.quads };
}

function uniforms(pl: Plan) {
  return { n: pl.n, h: pl.h, hh: pl.H, w: pl.W, strips: pl.strips, chunks: pl.chunks, rows_per_chunk: pl.rowsPerChunk };
}

function forwardRaw(x: Tensor, weight: Tensor, pl: Plan): Tensor {
  const out = alloc([pl.n, pl.h, pl.H, pl.W]);
  if (out.size === 0) return out;
  const ctx = x.ctx;
  const total = pl.n * pl.h * pl.chunks * pl.strips;
  const spare = alloc([4]);
  ctx.dispatch(
    { shader: 'gdfn', entry: 'forward', constants: { QUADS: pl.quads ? 1 : 0 } },
    {
      // an input is bound to both its forms; the forward reads no g, but its row loader (shared
      // with the backward) names it
      bindings: { x: x.buffer, x4: x.buffer, g: x.buffer, g4: x.buffer, wt: weight.buffer, ...outputForms(pl.quads, ['out', 'out4'], out.buffer, spare.buffer) },
      uniforms: { ...uniforms(pl), total },
      workgroups: grid1d(ctx, total, WG),
    },
  );
  spare.dispose();
  return out;
}

/** dx [B, 2h, H, W] (when wanted) and dweight [2h, 1, 3, 3] (when wanted). */
function backwardRaw(g: Tensor, x: Tensor, weight: Tensor, pl: Plan, wantDx: boolean, wantDw: boolean): [Tensor | null, Tensor | null] {
  const ctx = g.ctx;
  const units = pl.n * pl.chunks * pl.strips;
  let per: number;
  const forcedUnits = ctx.tuning.gdfn.unitsPerInvocation;
  if (forcedUnits) per = forcedUnits;
  else if (!wantDw) per = 1;
  else per = Math.max(1, Math.floor((units * pl.h) / targetInvocations(ctx)));
  per = Math.min(per, units);
  const splits = Math.ceil(units / per);
  const dx = wantDx ? alloc(x.shape) : alloc([4]);
  const dwp = alloc([splits, 2 * pl.h * 9]);
  const total = splits * pl.h;
  const spare = alloc([4]);
  ctx.dispatch(
    { shader: 'gdfn', entry: 'backward', constants: { QUADS: pl.quads ? 1 : 0 } },
    {
      bindings: { x: x.buffer, x4: x.buffer, wt: weight.buffer, g: g.buffer, g4: g.buffer, ...outputForms(pl.quads, ['dx', 'dx4'], dx.buffer, spare.buffer), dwp: dwp.buffer },
      uniforms: { ...uniforms(pl), total, units, units_per_split: per, want_dx: wantDx ? 1 : 0 },
      workgroups: grid1d(ctx, total, WG),
    },
  );
  spare.dispose();
  if (!wantDx) dx.dispose();
  let dw: Tensor | null = null;
  if (wantDw) {
    // fixed-order sum over the splits
    dw = reshape(splits === 1 ? dwp : sum(dwp, 0), [2 * pl.h, 1, 3, 3]);
  }
  if (splits !== 1 || !wantDw) dwp.dispose();
  return [wantDx ? dx : null, dw];
}

/**
 * x: [B, 2h, H, W] (output of the first 1×1 conv), weight: [2h, 1, 3, 3] (depthwise, no bias,
 * padding 1). y = dw(x); out = GELU_erf(y[:, :h]) ⊙ y[:, h:] → [B, h, H, W]. Fused; its
 * backward gives dx and dweight.
 */
export function gatedDepthwiseGelu(x: Tensor, weight: Tensor): Tensor {
  const geo = geometry(x, weight);
  const inputs = [x, weight];
  const grad = engine.needsGrad(inputs);
  if (geo.n * geo.h * geo.H * geo.W === 0) {
    const out = alloc([geo.n, geo.h, geo.H, geo.W]);
    if (grad) engine.record(OP, inputs, out, [], () => [zeros(x.shape), zeros(weight.shape)]);
    return out;
  }
  const limit = x.ctx.limits.maxStorageBufferBindingSize;
  if (x.size * 4 > limit) {
    throw new Error(`lrdif: ${OP}: x ${fmtShape(x.shape)} holds ${x.size * 4} bytes, more than this device binds at once (maxStorageBufferBindingSize ${limit}); split the batch`);
  }
  const pl = plan(x.ctx, geo);
  const out = forwardRaw(x, weight, pl);
  if (grad) {
    const needX = x.requiresGrad;
    const needW = weight.requiresGrad;
    engine.record(OP, inputs, out, [x, weight], (gr, [xs, ws]) => backwardRaw(gr, xs, ws, pl, needX, needW));
  }
  return out;
}

/** The same core from the engine's unfused ops: conv2d (groups = 2h) + split + gelu + mul. */
export function gatedDepthwiseGeluUnfused(x: Tensor, weight: Tensor): Tensor {
  geometry(x, weight);
  const y = conv2d(x, weight, null, { padding: 1, groups: x.shape[1] });
  const [y1, y2] = split(y, 2, 1);
  const gy = gelu(y1);
  const out = mul(gy, y2);
  for (const t of [y, y1, y2, gy]) t.dispose();
  return out;
}
