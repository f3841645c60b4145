/**
 * 2-D convolution, NCHW, weight [O, C/groups, kh, kw] (PyTorch layout), with four paths:
 * - 1×1, stride 1, no padding, one group: a batched matmul, weight [O, C] · x viewed [N, C, H·W];
 * - one group, where `usesGemm` picks it (per pass: forward and backward apart): a matrix
 *   product on the matmul kernels, forward and both gradients (conv-gemm.ts: im2col, col2im);
 * - depthwise (groups = C, O = M·C): shaders/depthwise.wgsl, pipelines specialised on the
 *   kernel size, stride and dilation;
 * - everything else: shaders/conv2d.wgsl, a register-tiled direct convolution.
 * Backward of the last two: dx is itself a stride-1 convolution (of dy spread out by the stride,
 * against the weight rotated by 180° with in/out channels swapped), run by the same forward
 * kernels; dweight is a deterministic reduction over N and the output pixels (fixed-order partial
 * sums, no atomics). dbias sums dy over N, H, W on every path.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import { alloc, assertFloat, grid1d, pair, sameShape } from './util.js';
import { outputForms, stripPlan, targetInvocations } from './strips.js';
import { reshape } from './shape.js';
import { sum } from './reduce.js';
import { add } from './elementwise.js';
import { matmul } from './matmul.js';
import { gemmBackward, gemmForward, usesGemm } from './conv-gemm.js';

export type Padding = number | [number, number] /* [ph, pw] */ | [number, number, number, number] /* [top, bottom, left, right] */ | 'valid' | 'same';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: Padding;
  dilation?: number | [number, number];
  groups?: number;
  /**
   * Added to the output (a residual connection, y = r + conv(x)); the output's shape exactly. A 1×1
   * convolution adds it in its matrix product's epilogue (matmul's `residual`); others after.
   */
  residual?: Tensor;
}

/** Everything a convolution kernel needs to know, resolved and checked. */
export interface ConvGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  /** Padding: top, bottom, left, right (top/left negative in a transposed problem: a crop). */
  pt: number;
  pb: number;
  pl: number;
  pr: number;
  oh: number;
  ow: number;
  groups: number;
  /** Input and output channels per group. */
  cg: number;
  og: number;
}

/** Invocations per workgroup in the shaders (their `WG`). */
const WG = 64;

/** TensorFlow's SAME padding along one axis: [before, after]. */
export function samePadding(size: number, k: number, stride: number, dilation: number): [number, number] {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

function resolvePadding(op: string, padding: Padding, h: number, w: number, kh: number, kw: number, s: [number, number], d: [number, number]): [number, number, number, number] {
  let p: number[];
  if (padding === 'valid') p = [0, 0, 0, 0];
  else if (padding === 'same') p = [...samePadding(h, kh, s[0], d[0]), ...samePadding(w, kw, s[1], d[1])];
  else if (typeof padding === 'number') p = [padding, padding, padding, padding];
  else if (Array.isArray(padding) && padding.length === 2) p = [padding[0], padding[0], padding[1], padding[1]];
  else if (Array.isArray(padding) && padding.length === 4) p = [...padding];
  else throw new Error(`lrdif: ${op}: padding must be a number, [ph, pw], [top, bottom, left, right], 'valid' or 'same', got ${JSON.stringify(padding)}`);
  for (const v of p) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`lrdif: ${op}: padding must be non-negative integers, got ${JSON.stringify(padding)}`);
  }
  return p as [number, number, number, number];
}

/** Checks the shapes and options of conv2d and resolves the output geometry. */
function convGeometry(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions, op = 'conv2d'): ConvGeometry {
  assertFloat(op, x, weight);
  if (bias) assertFloat(op, bias);
  if (x.rank !== 4) throw new Error(`lrdif: ${op}: input must be 4-D [N, C, H, W], got ${fmtShape(x.shape)}`);
  if (weight.rank !== 4) throw new Error(`lrdif: ${op}: weight must be 4-D [O, C/groups, kh, kw], got ${fmtShape(weight.shape)} (input ${fmtShape(x.shape)})`);
  const [n, c, h, w] = x.shape;
  const [o, wc, kh, kw] = weight.shape;
  const groups = opts.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new Error(`lrdif: ${op}: groups must be a positive integer, got ${groups}`);
  if (c % groups !== 0) {
    throw new Error(`lrdif: ${op}: input channels C = ${c} of x ${fmtShape(x.shape)} are not divisible by groups = ${groups}`);
  }
  if (o % groups !== 0) {
    throw new Error(`lrdif: ${op}: output channels O = ${o} of weight ${fmtShape(weight.shape)} are not divisible by groups = ${groups}`);
  }
  if (wc !== c / groups) {
    throw new Error(
      `lrdif: ${op}: weight ${fmtShape(weight.shape)} has ${wc} input channels per group, but x ${fmtShape(x.shape)} with groups = ${groups} needs C/groups = ${c / groups}`,
    );
  }
  if (kh < 1 || kw < 1) throw new Error(`lrdif: ${op}: weight ${fmtShape(weight.shape)} has an empty kernel`);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== o)) {
    throw new Error(`lrdif: ${op}: bias must have shape [${o}] (one per output channel of weight ${fmtShape(weight.shape)}), got ${fmtShape(bias.shape)}`);
  }
  const s = pair(op, 'stride', opts.stride ?? 1, 1);
  const d = pair(op, 'dilation', opts.dilation ?? 1, 1);
  const ekh = (kh - 1) * d[0] + 1;
  const ekw = (kw - 1) * d[1] + 1;
  const [pt, pb, pl, pr] = resolvePadding(op, opts.padding ?? 0, h, w, kh, kw, s, d);
  const hp = h + pt + pb;
  const wp = w + pl + pr;
  if (ekh > hp || ekw > wp) {
    throw new Error(
      `lrdif: ${op}: kernel ${kh}×${kw}${d[0] > 1 || d[1] > 1 ? ` (dilated to ${ekh}×${ekw})` : ''} of weight ${fmtShape(weight.shape)} is larger than the padded input ${hp}×${wp} (x ${fmtShape(x.shape)}, padding [${pt}, ${pb}, ${pl}, ${pr}])`,
    );
  }
  const oh = Math.floor((hp - ekh) / s[0]) + 1;
  const ow = Math.floor((wp - ekw) / s[1]) + 1;
  return { n, c, h, w, o, kh, kw, sh: s[0], sw: s[1], dh: d[0], dw: d[1], pt, pb, pl, pr, oh, ow, groups, cg: c / groups, og: o / groups };
}

function isPointwise(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1 && g.pt + g.pb + g.pl + g.pr === 0 && g.groups === 1;
}

function isDepthwise(g: ConvGeometry): boolean {
  return g.groups > 1 && g.groups === g.c;
}

// ---------------------------------------------------------------- general kernel

/**
 * Output channels per invocation of the general kernels: 1, 2, 4 or 8 (fewer pipeline variants
 * to compile), the smallest that covers the group in as few blocks as 8 would.
 */
function channelBlocks(perGroup: number): { oct: number; blocks: number } {
  const blocks = Math.max(1, Math.ceil(perGroup / 8));
  const need = Math.ceil(perGroup / blocks);
  return { oct: need <= 1 ? 1 : need <= 2 ? 2 : need <= 4 ? 4 : 8, blocks };
}

/** Input columns a register window may hold in conv2d.wgsl's `forward` (`MAXWIN`) and `backward_weight` (`MAXWX`). */
const MAXWIN = 40;
const MAXWX = 24;

function generalUniforms(g: ConvGeometry) {
  return { n: g.n, c: g.c, h: g.h, w: g.w, o: g.o, oh: g.oh, ow: g.ow, groups: g.groups, kh: g.kh, sh: g.sh, dh: g.dh, pt: g.pt, pl: g.pl, cg: g.cg, og: g.og };
}

/** conv2d.wgsl specialises on the column geometry only (rows are runtime loops). */
function kernelConstants(g: ConvGeometry) {
  return { KW: g.kw, SW: g.sw, DW: g.dw };
}

function checkGrid(op: string, grid: [number, number, number], maxDim: number): void {
  if (grid.some((d) => d > maxDim)) {
    throw new Error(`lrdif: ${op}: the problem needs a grid of [${grid.join(', ')}] workgroups, more than ${maxDim} in one dimension; split the batch`);
  }
}

/** Launches `forward` of conv2d.wgsl for geometry g (any padding, negative included). */
function generalForward(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor {
  const y = alloc([g.n, g.o, g.oh, g.ow]);
  if (y.size === 0) return y;
  const ctx = x.ctx;
  const { oct, blocks } = channelBlocks(g.og);
  const window = (px: number) => (px - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  // 8 columns per invocation reuse each weight twice as often as 4 (which serves only when 8
  // would not fit the register window: one variant fewer to compile for short rows)
  const px = window(8) <= MAXWIN ? 8 : 4;
  const cols = Math.ceil(g.ow / px);
  const grid: [number, number, number] = [Math.ceil((g.oh * cols) / WG), g.groups * blocks, g.n];
  checkGrid('conv2d', grid, ctx.limits.maxComputeWorkgroupsPerDimension);
  ctx.dispatch(
    {
      shader: 'conv2d',
      entry: 'forward',
      constants: { ...kernelConstants(g), OCT: oct, PX: px, WINDOW: window(px) <= MAXWIN ? 1 : 0 },
    },
    {
      // read-only aliasing is allowed: the weight stands in for a missing bias
      bindings: { x: x.buffer, wt: weight.buffer, bias: (bias ?? weight).buffer, y: y.buffer },
      uniforms: { ...generalUniforms(g), blocks, cols, has_bias: bias ? 1 : 0 },
      workgroups: grid,
    },
  );
  return y;
}

/**
 * dx as a forward convolution with stride 1: dy (spread out with zeros between rows/columns when
 * strided) against the weight rotated by 180° with input and output channels swapped
 * ([C, O/groups, kh, kw]), padded by (k−1)·dilation − padding, giving exactly H × W.
 * Returns that convolution's input, weight and geometry; the caller disposes the two tensors
 * (the input is `dy` itself when the stride is 1).
 */
function transposedProblem(dy: Tensor, weight: Tensor, g: ConvGeometry): { src: Tensor; flipped: Tensor; t: ConvGeometry } {
  const ctx = dy.ctx;
  const flipped = alloc([g.c, g.og, g.kh, g.kw]);
  ctx.dispatch(
    { shader: 'conv2d', entry: 'flip_weight', constants: { KW: g.kw } },
    {
      bindings: { wt: weight.buffer, y: flipped.buffer },
      uniforms: { ...generalUniforms(g), total: flipped.size },
      workgroups: grid1d(ctx, flipped.size, WG),
    },
  );
  let src = dy;
  const uh = (g.oh - 1) * g.sh + 1;
  const uw = (g.ow - 1) * g.sw + 1;
  if (g.sh > 1 || g.sw > 1) {
    src = alloc([g.n, g.o, uh, uw]);
    ctx.dispatch(
      { shader: 'conv2d', entry: 'dilate', constants: { SW: g.sw } },
      {
        bindings: { dy: dy.buffer, y: src.buffer },
        uniforms: { ...generalUniforms(g), total: src.size },
        workgroups: grid1d(ctx, src.size, WG),
      },
    );
  }
  const t: ConvGeometry = {
    n: g.n,
    c: g.o,
    h: uh,
    w: uw,
    o: g.c,
    kh: g.kh,
    kw: g.kw,
    sh: 1,
    sw: 1,
    dh: g.dh,
    dw: g.dw,
    pt: (g.kh - 1) * g.dh - g.pt,
    pb: 0,
    pl: (g.kw - 1) * g.dw - g.pl,
    pr: 0,
    oh: g.h,
    ow: g.w,
    groups: g.groups,
    cg: g.og,
    og: g.cg,
  };
  return { src, flipped, t };
}

function generalBackwardInput(dy: Tensor, weight: Tensor, g: ConvGeometry): Tensor {
  if (g.n * g.c * g.h * g.w === 0) return alloc([g.n, g.c, g.h, g.w]);
  const { src, flipped, t } = transposedProblem(dy, weight, g);
  const dx = generalForward(src, flipped, null, t);
  flipped.dispose();
  if (src !== dy) src.dispose();
  return dx;
}

/** Enough invocations to keep both cores' SIMD lanes busy; more only costs partial sums. */
const WEIGHT_GRAD_INVOCATIONS = 2048;

function generalBackwardWeight(dy: Tensor, x: Tensor, g: ConvGeometry): Tensor {
  const ctx = dy.ctx;
  const wShape = [g.o, g.cg, g.kh, g.kw];
  const nw = g.o * g.cg * g.kh * g.kw;
  const { oct, blocks } = channelBlocks(g.og);
  const kyt = Math.min(3, g.kh);
  const perSplit = g.groups * blocks * g.cg * Math.ceil(g.kh / kyt) * Math.ceil(g.kw / 4);
  const rows = g.n * g.oh;
  // Split the (n, oy) rows into slices when there are too few weights to fill the machine.
  const wanted = Math.min(Math.max(rows, 1), Math.ceil(WEIGHT_GRAD_INVOCATIONS / perSplit));
  const rowsPerSplit = Math.max(1, Math.ceil(rows / wanted));
  const splits = Math.max(1, Math.ceil(rows / rowsPerSplit));
  const partial = alloc([splits, nw]);
  const total = splits * perSplit;
  ctx.dispatch(
    {
      shader: 'conv2d',
      entry: 'backward_weight',
      constants: { ...kernelConstants(g), OCT: oct, KYT: kyt, XWINDOW: 3 * g.sw + 3 * g.dw + 1 <= MAXWX ? 1 : 0 },
    },
    {
      bindings: { dy: dy.buffer, x: x.buffer, dwp: partial.buffer },
      uniforms: { ...generalUniforms(g), blocks, total, rows_per_split: rowsPerSplit },
      workgroups: grid1d(ctx, total, WG),
    },
  );
  if (splits === 1) return reshape(partial, wShape);
  // fixed-order sum over the slices
  return reshape(sum(partial, 0), wShape);
}

// ---------------------------------------------------------------- depthwise kernel

/** Values the depthwise forward kernel's register window may hold (its `MAXWIN`). */
const DW_MAXWIN = 144;

interface DepthwiseTile {
  py: number;
  px: number;
  window: boolean;
}

/**
 * The forward tile (output rows × columns per invocation) with the fewest estimated instructions
 * per plane: buffer loads cost ~12 per value (window, weights, stores), multiply-adds ~1/4.
 */
function depthwiseTile(g: ConvGeometry): DepthwiseTile {
  let best: DepthwiseTile | null = null;
  let bestCost = Infinity;
  for (const [py, px] of [
    [8, 8],
    [4, 8],
    [4, 4],
    [2, 8],
    [2, 4],
    [1, 8],
    [1, 4],
    [2, 2],
    [1, 2],
    [1, 1],
  ]) {
    const hr = (py - 1) * g.sh + (g.kh - 1) * g.dh + 1;
    const wr = (px - 1) * g.sw + (g.kw - 1) * g.dw + 1;
    if (hr * wr > DW_MAXWIN) continue;
    const tiles = Math.ceil(g.oh / py) * Math.ceil(g.ow / px);
    const cost = tiles * (12 * g.cg * (hr * wr + g.kh * g.kw) + 0.25 * g.cg * py * px * g.kh * g.kw + 12 * py * px);
    if (cost < bestCost) {
      bestCost = cost;
      best = { py, px, window: true };
    }
  }
  // a window too large even for one output (huge dilation): load per tap
  return best ?? { py: 1, px: 4, window: false };
}

function depthwiseConstants(g: ConvGeometry) {
  return { KH: g.kh, KW: g.kw, SH: g.sh, SW: g.sw, DH: g.dh, DW: g.dw };
}

function depthwiseUniforms(g: ConvGeometry) {
  return { n: g.n, c: g.c, h: g.h, w: g.w, o: g.o, oh: g.oh, ow: g.ow, cg: g.cg, og: g.og, pt: g.pt, pl: g.pl };
}

/** 3×3, stride 1, padding 1 (same size), one input channel per group: `forward_strips`. */
function stripsApply(g: ConvGeometry): boolean {
  const same = g.kh === 3 && g.kw === 3 && g.sh === 1 && g.sw === 1 && g.dh === 1 && g.dw === 1;
  return same && g.pt === 1 && g.pl === 1 && g.oh === g.h && g.ow === g.w && g.cg === 1;
}

/** Launches `forward_strips` of depthwise.wgsl (see stripsApply). */
function depthwiseForwardStrips(x: Tensor, weight: Tensor, bias: Tensor | null, y: Tensor, g: ConvGeometry): void {
  const ctx = x.ctx;
  const { strips, chunks, rowsPerChunk } = stripPlan(ctx, g.h, g.w, g.n * g.o);
  const total = g.n * g.o * chunks * strips;
  const quads = g.w % 4 === 0;
  const spare = alloc([4]);
  ctx.dispatch(
    { shader: 'depthwise', entry: 'forward_strips', constants: { QUADS: quads ? 1 : 0 } },
    {
      // x4 and y4 are x and y as quads
      bindings: { x: x.buffer, x4: x.buffer, wt: weight.buffer, bias: (bias ?? weight).buffer, ...outputForms(quads, ['y', 'y4'], y.buffer, spare.buffer) },
      uniforms: { ...depthwiseUniforms(g), rows: chunks, cols: strips, rows_per_split: rowsPerChunk, total, has_bias: bias ? 1 : 0 },
      workgroups: grid1d(ctx, total, WG),
    },
  );
  spare.dispose();
}

/** Launches `forward` of depthwise.wgsl: groups = C with few channels per group (cg ≥ 1, og ≥ 1). */
function depthwiseForward(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor {
  const y = alloc([g.n, g.o, g.oh, g.ow]);
  if (y.size === 0) return y;
  const ctx = x.ctx;
  if (stripsApply(g) && ctx.tuning.conv.depthwiseStrips) {
    depthwiseForwardStrips(x, weight, bias, y, g);
    return y;
  }
  const tile = depthwiseTile(g);
  const rows = Math.ceil(g.oh / tile.py);
  const cols = Math.ceil(g.ow / tile.px);
  const total = g.n * g.o * rows * cols;
  ctx.dispatch(
    {
      shader: 'depthwise',
      entry: 'forward',
      constants: { ...depthwiseConstants(g), PY: tile.py, PX: tile.px, WINDOW: tile.window ? 1 : 0 },
    },
    {
      bindings: { x: x.buffer, wt: weight.buffer, bias: (bias ?? weight).buffer, y: y.buffer },
      uniforms: { ...depthwiseUniforms(g), rows, cols, total, has_bias: bias ? 1 : 0 },
      workgroups: grid1d(ctx, total, WG),
    },
  );
  return y;
}

/** dx: the transposed problem has groups = C with M input channels and one output channel each. */
function depthwiseBackwardInput(dy: Tensor, weight: Tensor, g: ConvGeometry): Tensor {
  if (g.n * g.c * g.h * g.w === 0) return alloc([g.n, g.c, g.h, g.w]);
  const { src, flipped, t } = transposedProblem(dy, weight, g);
  const dx = depthwiseForward(src, flipped, null, t);
  flipped.dispose();
  if (src !== dy) src.dispose();
  return dx;
}

/** The weight gradient on strips (see stripsApply): partial sums per slice of (image, row chunk, strip) units. */
function depthwiseBackwardWeightStrips(dy: Tensor, x: Tensor, g: ConvGeometry): Tensor {
  const ctx = dy.ctx;
  const { strips, chunks, rowsPerChunk } = stripPlan(ctx, g.h, g.w, g.n);
  const units = g.n * chunks * strips;
  const per = Math.max(1, Math.floor((units * g.o) / targetInvocations(ctx)));
  const splits = Math.ceil(units / per);
  const partial = alloc([splits, g.o * 9]);
  const total = splits * g.o;
  const quads = g.w % 4 === 0;
  ctx.dispatch(
    { shader: 'depthwise', entry: 'backward_weight_strips', constants: { QUADS: quads ? 1 : 0 } },
    {
      bindings: { dy: dy.buffer, dy4: dy.buffer, x: x.buffer, x4: x.buffer, dwp: partial.buffer },
      uniforms: { ...depthwiseUniforms(g), rows: chunks, cols: strips, rows_per_split: rowsPerChunk, units_per_split: per, total },
      workgroups: grid1d(ctx, total, WG),
    },
  );
  // fixed-order sum over the slices
  return reshape(splits === 1 ? partial : sum(partial, 0), [g.o, 1, 3, 3]);
}

function depthwiseBackwardWeight(dy: Tensor, x: Tensor, g: ConvGeometry): Tensor {
  const ctx = dy.ctx;
  if (stripsApply(g) && ctx.tuning.conv.depthwiseStrips) return depthwiseBackwardWeightStrips(dy, x, g);
  const wShape = [g.o, 1, g.kh, g.kw];
  const nw = g.o * g.kh * g.kw;
  const kyt = Math.min(3, g.kh);
  const perSplit = g.o * Math.ceil(g.kh / kyt) * Math.ceil(g.kw / 4);
  const pairs = g.n * Math.ceil(g.oh / 2);
  const wanted = Math.min(Math.max(pairs, 1), Math.ceil(WEIGHT_GRAD_INVOCATIONS / perSplit));
  const pairsPerSplit = Math.max(1, Math.ceil(pairs / wanted));
  const splits = Math.max(1, Math.ceil(pairs / pairsPerSplit));
  const partial = alloc([splits, nw]);
  const total = splits * perSplit;
  ctx.dispatch(
    { shader: 'depthwise', entry: 'backward_weight', constants: { ...depthwiseConstants(g), KYT: kyt } },
    {
      bindings: { dy: dy.buffer, x: x.buffer, dwp: partial.buffer },
      uniforms: { ...depthwiseUniforms(g), total, rows_per_split: pairsPerSplit },
      workgroups: grid1d(ctx, total, WG),
    },
  );
  // fixed-order sum over the slices
  return reshape(splits === 1 ? partial : sum(partial, 0), wShape);
}

// ---------------------------------------------------------------- 1×1 path

/** weight [O, C, 1, 1] · x [N, C, H·W] (+ bias per output channel, + residual); autograd through the ops used. */
function pointwise(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry, residual: Tensor | null): Tensor {
  const x3 = reshape(x, [g.n, g.c, g.h * g.w]);
  const w2 = reshape(weight, [g.o, g.c]);
  const r3 = residual ? reshape(residual, [g.n, g.o, g.oh * g.ow]) : null;
  const y3 = matmul(w2, x3, r3 ? { residual: r3 } : {});
  x3.dispose();
  w2.dispose();
  r3?.dispose();
  let y = reshape(y3, [g.n, g.o, g.oh, g.ow]);
  y3.dispose();
  if (bias) {
    const b4 = reshape(bias, [1, g.o, 1, 1]);
    const yb = add(y, b4);
    b4.dispose();
    y.dispose();
    y = yb;
  }
  return y;
}

// ---------------------------------------------------------------- conv2d

/**
 * x [N, C, H, W], weight [O, C/groups, kh, kw] (PyTorch layout), bias [O] optional.
 * 'same' is TensorFlow's SAME: out = ceil(in / stride), total pad =
 * max((out−1)·stride + (k−1)·dilation + 1 − in, 0), top/left = floor(total/2), bottom/right the rest.
 */
/** Σ of dy [N, C, H, W] over N, H and W, as [C]; axes of size 1 are not summed (the modulation's batch of 1: no copy dispatched). */
function biasGradient(dy: Tensor): Tensor {
  const axes = [0, 2, 3].filter((a) => dy.shape[a] !== 1);
  return reshape(axes.length ? sum(dy, axes, true) : dy, [dy.shape[1]]);
}

export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, opts: Conv2dOptions = {}): Tensor {
  const b = bias ?? null;
  const g = convGeometry(x, weight, b, opts);
  const residual = opts.residual ?? null;
  if (residual) {
    assertFloat('conv2d', residual);
    const want = [g.n, g.o, g.oh, g.ow];
    if (!sameShape(residual.shape, want)) throw new Error(`lrdif: conv2d: residual must have the output's shape ${fmtShape(want)}, got ${fmtShape(residual.shape)}`);
  }
  if (isPointwise(g)) return pointwise(x, weight, b, g, residual);
  if (residual) {
    const y = conv2d(x, weight, b, { ...opts, residual: undefined });
    const yr = add(y, residual);
    y.dispose();
    return yr;
  }
  const inputs = b ? [x, weight, b] : [x, weight];
  const depthwise = isDepthwise(g);
  const y = usesGemm(x.ctx, g, 'forward') ? gemmForward(x, weight, b, g) : depthwise ? depthwiseForward(x, weight, b, g) : generalForward(x, weight, b, g);
  if (engine.needsGrad(inputs)) {
    const needX = x.requiresGrad;
    const needW = weight.requiresGrad;
    const needB = !!b?.requiresGrad;
    if (usesGemm(x.ctx, g, 'backward')) {
      engine.record('conv2d', inputs, y, [x, weight], (dy, [xs, ws]) => [...gemmBackward(dy, xs, ws, g, needX, needW), needB ? biasGradient(dy) : null]);
      return y;
    }
    engine.record(depthwise ? 'conv2d (depthwise)' : 'conv2d', inputs, y, [x, weight], (dy, [xs, ws]) => [
      needX ? (depthwise ? depthwiseBackwardInput(dy, ws, g) : generalBackwardInput(dy, ws, g)) : null,
      needW ? (depthwise ? depthwiseBackwardWeight(dy, xs, g) : generalBackwardWeight(dy, xs, g)) : null,
      needB ? biasGradient(dy) : null,
    ]);
  }
  return y;
}
