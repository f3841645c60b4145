/**
 * DDPM on LRDif's prior (paper §3.3, Eq. 16; DiffIR's x0 form), shaders/ddpm.wgsl:
 * - `ddpmSchedule`: β_t, α_t = 1 − β_t, ᾱ_t = ∏_{s ≤ t} α_s (float64) for t = 1…T at index t − 1;
 * - `ddpmStep`: one reverse step as an autograd op (stage-2 training backpropagates through
 *   all T steps), one elementwise kernel with the step's coefficients as uniforms;
 * - `ddpmSampleFused`: the whole inference chain (Z_T, then T denoiser evaluations and reverse
 *   steps) in ONE dispatch; inference only.
 * And `ddpmStepUnfused` / `ddpmSampleUnfused`, the same from the engine's unfused ops (the test
 * oracles and benchmark baselines).
 *
 * Reverse step t (1…T), with ᾱ_0 = 1:
 *   'eps': Z_{t−1} = (Z_t − β_t/√(1−ᾱ_t)·ε̂) / √α_t                        (Eq. 16)
 *   'x0':  Z_{t−1} = √ᾱ_{t−1}·β_t/(1−ᾱ_t)·x̂₀ + √α_t·(1−ᾱ_{t−1})/(1−ᾱ_t)·Z_t  (posterior mean μ̃)
 * plus σ·noise when asked (`ddpmStep` only; sampling is deterministic, as in DiffIR).
 * Denoiser (the spec's ε_θ): Concat(Z_t, t/(10·T), c) → Linear(2C+1 → W) → LeakyReLU(slope) →
 * n × [Linear(W → W) → LeakyReLU(slope)] → Linear(W → C).
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import type { GpuContext } from '../gpu/context.js';
import { alloc, assertFloat, grid1d, sameShape } from './util.js';
import { add, mulScalar } from './elementwise.js';
import { concat } from './layout.js';
import { full } from './creation.js';
import { matmul } from './matmul.js';
import { defaultGenerator, Generator, philoxBlocks, philoxUniforms, randomNormal } from './random.js';

// ---------------------------------------------------------------- schedule

export type DdpmScheduleKind = 'sqrt-linear' | 'linear';
export type DdpmParameterisation = 'eps' | 'x0';

export interface DdpmSchedule {
  /** β_t, α_t, ᾱ_t for t = 1…T at index t − 1. */
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly alphasCumprod: Float64Array;
}

/** What the steps read from a schedule (the model's own schedule object fits too). */
export interface DdpmScheduleLike {
  readonly betas: ArrayLike<number>;
  readonly alphas: ArrayLike<number>;
  readonly alphasCumprod: ArrayLike<number>;
}

/**
 * β = linspace(√β_start, √β_end, T)² ('sqrt-linear', the default: [0.1, 0.2943, 0.591, 0.99] for
 * T = 4 with the defaults β_start = 0.1, β_end = 0.99) or linspace(β_start, β_end, T) ('linear').
 * linspace follows torch.linspace: for T = 1 it is [start], so β = [β_start].
 * Every β must lie in (0, 1).
 */
export function ddpmSchedule(T: number, opts: { betaStart?: number; betaEnd?: number; kind?: DdpmScheduleKind } = {}): DdpmSchedule {
  const op = 'ddpmSchedule';
  if (!Number.isInteger(T) || T < 1) throw new Error(`lrdif: ${op}: T must be a positive integer, got ${T}`);
  const b0 = opts.betaStart ?? 0.1;
  const b1 = opts.betaEnd ?? 0.99;
  const kind = opts.kind ?? 'sqrt-linear';
  if (kind !== 'sqrt-linear' && kind !== 'linear') throw new Error(`lrdif: ${op}: kind must be 'sqrt-linear' or 'linear', got ${JSON.stringify(kind)}`);
  for (const [name, v] of [
    ['betaStart', b0],
    ['betaEnd', b1],
  ] as const) {
    if (!(v > 0 && v < 1)) throw new Error(`lrdif: ${op}: ${name} must lie in (0, 1), got ${v}`);
  }
  const lin = (a: number, b: number, i: number) => (T === 1 ? a : a + ((b - a) * i) / (T - 1));
  const betas = new Float64Array(T);
  for (let i = 0; i < T; i++) betas[i] = kind === 'linear' ? lin(b0, b1, i) : lin(Math.sqrt(b0), Math.sqrt(b1), i) ** 2;
  const alphas = betas.map((b) => 1 - b);
  const alphasCumprod = new Float64Array(T);
  let prod = 1;
  for (let i = 0; i < T; i++) alphasCumprod[i] = prod *= alphas[i];
  return { betas, alphas, alphasCumprod };
}

function checkSchedule(op: string, s: DdpmScheduleLike): number {
  const T = s?.betas?.length;
  if (!T || s.alphas?.length !== T || s.alphasCumprod?.length !== T) {
    throw new Error(`lrdif: ${op}: the schedule needs betas, alphas and alphasCumprod of one length T ≥ 1`);
  }
  return T;
}

/**
 * Z_{t−1} = a·Z_t + b·prediction for reverse step t (1…T) of the schedule (float64). Throws
 * where a coefficient is not finite (1 − ᾱ_t = 0 or α_t ≤ 0).
 */
export function ddpmCoefficients(schedule: DdpmScheduleLike, t: number, param: DdpmParameterisation = 'eps'): { a: number; b: number } {
  const op = 'ddpmStep';
  const T = checkSchedule(op, schedule);
  if (!Number.isInteger(t) || t < 1 || t > T) throw new Error(`lrdif: ${op}: step t must be an integer in 1…${T}, got ${t}`);
  if (param !== 'eps' && param !== 'x0') throw new Error(`lrdif: ${op}: param must be 'eps' or 'x0', got ${JSON.stringify(param)}`);
  const beta = schedule.betas[t - 1];
  const alpha = schedule.alphas[t - 1];
  const ab = schedule.alphasCumprod[t - 1];
  const abPrev = t > 1 ? schedule.alphasCumprod[t - 2] : 1;
  const r =
    param === 'eps'
      ? { a: 1 / Math.sqrt(alpha), b: -beta / (Math.sqrt(1 - ab) * Math.sqrt(alpha)) }
      : { a: (Math.sqrt(alpha) * (1 - abPrev)) / (1 - ab), b: (Math.sqrt(abPrev) * beta) / (1 - ab) };
  if (!Number.isFinite(r.a) || !Number.isFinite(r.b)) {
    throw new Error(`lrdif: ${op}: step ${t} has no finite coefficients (β ${beta}, α ${alpha}, ᾱ ${ab})`);
  }
  return r;
}

// ---------------------------------------------------------------- one step (autograd)

export interface DdpmStepOptions {
  /** What `eps` holds: the predicted noise ('eps', the default) or the predicted Z_0 ('x0'). */
  param?: DdpmParameterisation;
  /** Adds σ·noise; both or neither. */
  sigma?: number;
  noise?: Tensor;
}

function stepCheck(op: string, zt: Tensor, eps: Tensor, opts: DdpmStepOptions): number {
  assertFloat(op, zt, eps);
  if (!sameShape(zt.shape, eps.shape)) throw new Error(`lrdif: ${op}: zt ${fmtShape(zt.shape)} and eps ${fmtShape(eps.shape)} must have the same shape`);
  const { sigma, noise } = opts;
  if (noise) {
    assertFloat(op, noise);
    if (!sameShape(noise.shape, zt.shape)) throw new Error(`lrdif: ${op}: noise ${fmtShape(noise.shape)} must have the shape of zt ${fmtShape(zt.shape)}`);
    if (sigma === undefined || !Number.isFinite(sigma)) throw new Error(`lrdif: ${op}: noise was given, so sigma must be a finite number, got ${sigma}`);
    return sigma;
  }
  if (sigma !== undefined && sigma !== 0) throw new Error(`lrdif: ${op}: sigma ${sigma} was given without noise (zt ${fmtShape(zt.shape)})`);
  return 0;
}

/**
 * One reverse step t (1…T): zt, eps [B, C] (eps is x̂₀ with param 'x0') → Z_{t−1} [B, C]
 * (+ σ·noise). Backward gives dz_t = a·g and deps = b·g (and σ·g to noise if it needs one).
 */
export function ddpmStep(zt: Tensor, eps: Tensor, t: number, schedule: DdpmScheduleLike, opts: DdpmStepOptions = {}): Tensor {
  const op = 'ddpmStep';
  const sigma = stepCheck(op, zt, eps, opts);
  const { a, b } = ddpmCoefficients(schedule, t, opts.param ?? 'eps');
  const noise = opts.noise ?? null;
  const out = alloc(zt.shape);
  const ctx = zt.ctx;
  if (out.size > 0) {
    ctx.dispatch(
      { shader: 'ddpm', entry: 'step', constants: { HAS_NOISE: noise ? 1 : 0 } },
      {
        // without noise, eps stands in for it (read-only aliasing; never read)
        bindings: { zt: zt.buffer, pred: eps.buffer, noise: (noise ?? eps).buffer, out: out.buffer },
        uniforms: { n: out.size, a, b, sigma },
        workgroups: grid1d(ctx, out.size),
      },
    );
  }
  const inputs = noise ? [zt, eps, noise] : [zt, eps];
  if (engine.needsGrad(inputs)) {
    const needZ = zt.requiresGrad;
    const needE = eps.requiresGrad;
    const needN = !!noise?.requiresGrad;
    engine.record(op, inputs, out, [], (g) => {
      let dz: Tensor | null = null;
      let de: Tensor | null = null;
      if ((needZ || needE) && g.size > 0) {
        dz = alloc(g.shape);
        de = alloc(g.shape);
        ctx.dispatch(
          { shader: 'ddpm', entry: 'step_backward' },
          { bindings: { g: g.buffer, dz: dz.buffer, dpred: de.buffer }, uniforms: { n: g.size, a, b }, workgroups: grid1d(ctx, g.size) },
        );
      } else if (needZ || needE) {
        dz = alloc(g.shape);
        de = alloc(g.shape);
      }
      return [needZ ? dz : null, needE ? de : null, needN ? mulScalar(g, sigma) : null];
    });
  }
  return out;
}

/** The same step from unfused elementwise ops: a·zt + b·eps (+ σ·noise). */
export function ddpmStepUnfused(zt: Tensor, eps: Tensor, t: number, schedule: DdpmScheduleLike, opts: DdpmStepOptions = {}): Tensor {
  const sigma = stepCheck('ddpmStep', zt, eps, opts);
  const { a, b } = ddpmCoefficients(schedule, t, opts.param ?? 'eps');
  const za = mulScalar(zt, a);
  const eb = mulScalar(eps, b);
  let out = add(za, eb);
  if (opts.noise) {
    const ns = mulScalar(opts.noise, sigma);
    const withNoise = add(out, ns);
    ns.dispose();
    out.dispose();
    out = withNoise;
  }
  za.dispose();
  eb.dispose();
  return out;
}

// ---------------------------------------------------------------- the fused chain

export interface DdpmDenoiserWeights {
  /** [W, 2C+1] and [W]: the first layer (PyTorch Linear layout). */
  w1: Tensor;
  b1: Tensor;
  /** n = 0…4 hidden layers: [W, W] and [W]. */
  hidden: ReadonlyArray<{ w: Tensor; b: Tensor }>;
  /** [C, W] and [C]: the output layer. */
  w2: Tensor;
  b2: Tensor;
}

export interface DdpmSampleOptions {
  param?: DdpmParameterisation;
  /** Draws Z_T ~ N(0, I) like randomNormal([B, C], { generator }) (the default generator if neither this nor zT is given). */
  generator?: Generator;
  /** Z_T [B, C] given instead of drawn. */
  zT?: Tensor;
  /** LeakyReLU slope (default 0.1). */
  slope?: number;
}

/** Limits of shaders/ddpm.wgsl (MAXC, MAXW, the coefficient array, the hidden layers packed). */
export const DDPM_MAX_PRIOR = 384;
export const DDPM_MAX_WIDTH = 256;
export const DDPM_MAX_STEPS = 32;
export const DDPM_MAX_HIDDEN = 4;
/** chain_wg: batch rows per workgroup (MAXR); chain_sg: workgroup memory in vec4s (WGV). */
const WG_ROWS = 4;
const SG_WG_VEC4 = 2048;

interface ChainGeometry {
  B: number;
  C: number;
  W: number;
  nh: number;
  T: number;
}

function chainCheck(op: string, c: Tensor, wts: DdpmDenoiserWeights, schedule: DdpmScheduleLike, opts: DdpmSampleOptions): ChainGeometry {
  if (!wts || !wts.w1 || !wts.b1 || !wts.w2 || !wts.b2 || !Array.isArray(wts.hidden)) {
    throw new Error(`lrdif: ${op}: weights must be { w1, b1, hidden: [{ w, b }…], w2, b2 }`);
  }
  const all = [c, wts.w1, wts.b1, wts.w2, wts.b2, ...wts.hidden.flatMap((l) => [l.w, l.b])];
  assertFloat(op, ...all);
  if (c.rank !== 2) throw new Error(`lrdif: ${op}: the condition c must be [B, C], got ${fmtShape(c.shape)}`);
  const [B, C] = c.shape;
  const W = wts.w1.shape[0];
  const nh = wts.hidden.length;
  const T = checkSchedule(op, schedule);
  const expect = (what: string, t: Tensor, shape: number[]) => {
    if (!sameShape(t.shape, shape))
      throw new Error(`lrdif: ${op}: ${what} must be [${shape.join(', ')}] (c ${fmtShape(c.shape)}, w1 ${fmtShape(wts.w1.shape)}), got ${fmtShape(t.shape)}`);
  };
  expect('w1', wts.w1, [W, 2 * C + 1]);
  expect('b1', wts.b1, [W]);
  wts.hidden.forEach((l, i) => {
    expect(`hidden[${i}].w`, l.w, [W, W]);
    expect(`hidden[${i}].b`, l.b, [W]);
  });
  expect('w2', wts.w2, [C, W]);
  expect('b2', wts.b2, [C]);
  if (opts.zT) {
    assertFloat(op, opts.zT);
    expect('zT', opts.zT, [B, C]);
    if (opts.generator) throw new Error(`lrdif: ${op}: give zT or a generator, not both`);
  }
  if (opts.generator !== undefined && !(opts.generator instanceof Generator)) throw new Error(`lrdif: ${op}: opts.generator must be a Generator`);
  const slope = opts.slope ?? 0.1;
  if (!Number.isFinite(slope)) throw new Error(`lrdif: ${op}: slope must be finite, got ${slope}`);
  return { B, C, W, nh, T };
}

/** The step coefficients (a_t, b_t, t/(10T), 0) for t = 1…T. */
function chainCoefficients(schedule: DdpmScheduleLike, T: number, param: DdpmParameterisation): number[] {
  const out: number[] = [];
  for (let t = 1; t <= T; t++) {
    const { a, b } = ddpmCoefficients(schedule, t, param);
    out.push(a, b, t / (10 * T), 0);
  }
  return out;
}

/**
 * chain_sg's rows per workgroup: each weight load feeds R rows, so as many as fit workgroup
 * memory (R rows of max(C, W) floats), while the batch still makes at least two workgroups
 * (two cores) where it can.
 */
function sgRows(B: number, kx4: number): 8 | 16 | 32 {
  for (const r of [32, 16] as const) if (r * kx4 <= SG_WG_VEC4 && B >= 2 * r) return r;
  return 8;
}

/**
 * Which chain kernel runs (`ctx.tuning.ddpm.path`): 'subgroup' (shaders/ddpm_sg.wgsl: 8-lane
 * subgroups carrying 8, 16 or 32 batch rows; the fast path on CPU adapters) or 'portable'
 * (shaders/ddpm.wgsl's chain_wg: lanes over a layer's outputs; any adapter).
 */
function useSubgroupChain(ctx: GpuContext): boolean {
  return ctx.tuning.ddpm.path === 'subgroup';
}

/**
 * The whole reverse chain in one dispatch: Z_T (drawn in-kernel from the generator's Philox
 * stream, exactly as randomNormal([B, C], { generator }) would draw it, or given as zT), then for
 * t = T…1 the denoiser MLP on Concat(Z_t, t/(10·T), c) and the reverse step; returns Ẑ_0 [B, C].
 * Inference only: throws if a gradient would be needed (run it under noGrad, or use ddpmStep).
 * Sizes: C ≤ 384, W ≤ 256, 0…4 hidden layers, T ≤ 32.
 */
export function ddpmSampleFused(c: Tensor, weights: DdpmDenoiserWeights, schedule: DdpmScheduleLike, opts: DdpmSampleOptions = {}): Tensor {
  const op = 'ddpmSampleFused';
  const g = chainCheck(op, c, weights, schedule, opts);
  const inputs = [c, weights.w1, weights.b1, weights.w2, weights.b2, ...weights.hidden.flatMap((l) => [l.w, l.b]), ...(opts.zT ? [opts.zT] : [])];
  if (engine.needsGrad(inputs)) {
    throw new Error(`lrdif: ${op}: inference only, but an input requires a gradient (c ${fmtShape(c.shape)}); run it under noGrad, or train through ddpmStep`);
  }
  const limits: Array<[string, number, number]> = [
    ['prior size C', g.C, DDPM_MAX_PRIOR],
    ['denoiser width W', g.W, DDPM_MAX_WIDTH],
    ['hidden layers', g.nh, DDPM_MAX_HIDDEN],
    ['steps T', g.T, DDPM_MAX_STEPS],
  ];
  for (const [what, v, max] of limits) {
    if (v > max) throw new Error(`lrdif: ${op}: ${what} ${v} is above the fused kernel's limit ${max} (c ${fmtShape(c.shape)}, w1 ${fmtShape(weights.w1.shape)})`);
  }
  const param = opts.param ?? 'eps';
  const coef = chainCoefficients(schedule, g.T, param);
  const ctx = c.ctx;
  const out = alloc([g.B, g.C]);
  // the generator advances exactly as randomNormal's draw of [B, C] would
  let philox = { key0: 0, key1: 0, ctr0: 0, ctr1: 0 };
  if (!opts.zT) {
    const gen = opts.generator ?? defaultGenerator();
    const offset = gen.advance(philoxBlocks(g.B * g.C));
    philox = philoxUniforms(gen.getState().seed, offset);
  }
  if (out.size === 0) return out;
  if (g.W === 0) throw new Error(`lrdif: ${op}: the denoiser width W must be at least 1, got w1 ${fmtShape(weights.w1.shape)}`);

  // every weight and bias packed into one buffer, each part at a 16-byte boundary (buffer
  // copies: no dispatch)
  const parts: Tensor[] = [weights.w1, weights.b1, ...weights.hidden.map((l) => l.w), ...weights.hidden.map((l) => l.b), weights.w2, weights.b2];
  const offsets: number[] = [];
  let total = 0;
  for (const t of parts) {
    offsets.push(total);
    total += Math.ceil(t.size / 4) * 4;
  }
  // one vec4 of slack: the unaligned vec4 loads read one vec4 past a row's last value
  const prm = alloc([total + 4]);
  parts.forEach((t, i) => ctx.copy(t.buffer, 0, prm.buffer, offsets[i] * 4, t.size * 4));
  const nh = g.nh;
  const common = {
    rows: g.B,
    c: g.C,
    w: g.W,
    nh,
    steps: g.T,
    slope: opts.slope ?? 0.1,
    draw: opts.zT ? 0 : 1,
    ...philox,
    o_w1: offsets[0],
    o_b1: offsets[1],
    o_wh: nh ? offsets[2] : 0,
    o_bh: nh ? offsets[2 + nh] : 0,
    o_w2: offsets[2 + 2 * nh],
    o_b2: offsets[3 + 2 * nh],
    coef,
  };
  // without zT, c stands in for it (read-only aliasing; never read)
  const zt = (opts.zT ?? c).buffer;
  if (useSubgroupChain(ctx)) {
    const kx4 = Math.ceil(Math.max(g.C, g.W) / 4);
    const rows = ctx.tuning.ddpm.rows ?? sgRows(g.B, kx4);
    if (rows * kx4 > SG_WG_VEC4) throw new Error(`lrdif: ${op}: ${rows} rows per workgroup do not fit workgroup memory for C ${g.C}, W ${g.W}`);
    // per workgroup, [tile][row][lane] vec4s: one tile's accumulators, Z_t, the constant part, a layer's output
    const ct = Math.ceil(g.C / 32);
    const wt = Math.ceil(g.W / 32);
    const slab = rows * 8;
    const groups = Math.ceil(g.B / rows);
    const scrSize = slab * (1 + ct + 2 * wt);
    const scratch = alloc([groups * scrSize * 4]);
    ctx.dispatch(
      { shader: 'ddpm_sg', entry: 'chain_sg', constants: { R: rows } },
      {
        bindings: { zt, cond: c.buffer, prm: prm.buffer, prm4: prm.buffer, out: out.buffer, scr: scratch.buffer },
        uniforms: {
          ...common,
          kx4,
          aligned: g.W % 4 === 0 ? 1 : 0,
          rt: rows,
          scr_zp: slab,
          scr_pp: slab * (1 + ct),
          scr_hp: slab * (1 + ct + wt),
          scr_size: scrSize,
        },
        workgroups: ctx.grid(groups),
      },
    );
    scratch.dispose();
  } else {
    ctx.dispatch(
      { shader: 'ddpm', entry: 'chain_wg' },
      { bindings: { zt, cond: c.buffer, prm: prm.buffer, out: out.buffer }, uniforms: common, workgroups: ctx.grid(Math.ceil(g.B / WG_ROWS)) },
    );
  }
  prm.dispose();
  return out;
}

/**
 * The same chain step by step from the engine's ops: Z_T from randomNormal (or zT), then per
 * step concat + matmul (bias and LeakyReLU fused in its epilogue) per layer + ddpmStep.
 * Differentiable (gradients flow through every step).
 */
export function ddpmSampleUnfused(c: Tensor, weights: DdpmDenoiserWeights, schedule: DdpmScheduleLike, opts: DdpmSampleOptions = {}): Tensor {
  const op = 'ddpmSampleUnfused';
  const g = chainCheck(op, c, weights, schedule, opts);
  const param = opts.param ?? 'eps';
  const slope = opts.slope ?? 0.1;
  let z = opts.zT ?? randomNormal([g.B, g.C], { generator: opts.generator });
  const owned: Tensor[] = opts.zT ? [] : [z];
  for (let t = g.T; t >= 1; t--) {
    const tf = full([g.B, 1], t / (10 * g.T));
    let h = concat([z, tf, c], 1);
    owned.push(tf, h);
    h = matmul(h, weights.w1, { transB: true, bias: weights.b1, activation: 'leakyRelu', leakySlope: slope });
    owned.push(h);
    for (const l of weights.hidden) {
      h = matmul(h, l.w, { transB: true, bias: l.b, activation: 'leakyRelu', leakySlope: slope });
      owned.push(h);
    }
    const pred = matmul(h, weights.w2, { transB: true, bias: weights.b2 });
    z = ddpmStep(z, pred, t, schedule, { param });
    owned.push(pred, z);
  }
  owned.pop();
  for (const t of owned) t.dispose();
  return z;
}
