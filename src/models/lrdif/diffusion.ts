/**
 * The diffusion schedule and the reverse chain on the EPR (paper §3.3, DiffIR).
 *
 * β = linspace(√β_start, √β_end, T)² ('sqrtLinear', the spec's; [0.1, 0.2943, 0.591, 0.99] for
 * T = 4) or linspace(β_start, β_end, T) ('linear'); α_t = 1 − β_t, ᾱ_t = ∏_{s ≤ t} α_s, t = 1…T.
 * Forward (insert noise): Z_T = √ᾱ_T·Z + √(1−ᾱ_T)·ε.
 * Reverse step t (deterministic: the posterior mean, no noise added, as DiffIR samples):
 *   'eps': Z_{t−1} = (Z_t − β_t/√(1−ᾱ_t)·ε_θ) / √α_t
 *   'x0':  Z_{t−1} = β_t·√ᾱ_{t−1}/(1−ᾱ_t)·x̂₀ + (1−ᾱ_{t−1})·√α_t/(1−ᾱ_t)·Z_t   (ᾱ_0 = 1)
 * The denoiser's time input at step t is t/(10·T).
 */
import { engine, tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { DDPM_MAX_HIDDEN, DDPM_MAX_PRIOR, DDPM_MAX_STEPS, DDPM_MAX_WIDTH, ddpmSampleFused, ddpmSchedule, ddpmStep as ddpmStepKernel } from '../../kernels/ddpm.js';
import { add, mulScalar } from '../../kernels/elementwise.js';
import { randomNormal, type Generator } from '../../kernels/random.js';
import type { Linear } from '../../nn/linear.js';
import type { LrdifBetaSchedule, LrdifConfig, LrdifParameterisation } from './config.js';
import type { Denoiser } from './denoiser.js';

export interface DiffusionSchedule {
  readonly timesteps: number;
  /** β_t, α_t, ᾱ_t for t = 1…T at index t − 1 (float64). */
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  readonly alphasCumprod: Float64Array;
  readonly parameterisation: LrdifParameterisation;
}

export function makeDiffusionSchedule(c: Pick<LrdifConfig, 'timesteps' | 'betaSchedule' | 'betaStart' | 'betaEnd' | 'parameterisation'>): DiffusionSchedule {
  const T = c.timesteps;
  if (!Number.isInteger(T) || T < 1 || T > 32) throw new Error(`lrdif: makeDiffusionSchedule: timesteps must be in 1…32, got ${T}`);
  const kind = (c.betaSchedule as LrdifBetaSchedule) === 'linear' ? 'linear' : 'sqrt-linear';
  const { betas, alphas, alphasCumprod } = ddpmSchedule(T, { betaStart: c.betaStart, betaEnd: c.betaEnd, kind });
  return { timesteps: T, betas, alphas, alphasCumprod, parameterisation: c.parameterisation };
}

/**
 * One reverse step, in one place: zt [B, C] and the denoiser's prediction (ε̂ or x̂₀) [B, C] →
 * Z_{t−1} [B, C]; the fused one-kernel `ddpmStep` op (differentiable).
 */
export function reverseStep(zt: Tensor, prediction: Tensor, s: DiffusionSchedule, t: number): Tensor {
  return ddpmStepKernel(zt, prediction, t, s, { param: s.parameterisation });
}

/** The denoiser's time input at step t: t/(10·T). */
export function timeFeature(s: DiffusionSchedule, t: number): number {
  return t / (10 * s.timesteps);
}

/** Z_T = √ᾱ_T·z + √(1−ᾱ_T)·noise (the "insert noise" start of the training chain). */
export function insertNoise(z: Tensor, noise: Tensor, s: DiffusionSchedule): Tensor {
  const ab = s.alphasCumprod[s.timesteps - 1];
  return tidy(() => add(mulScalar(z, Math.sqrt(ab)), mulScalar(noise, Math.sqrt(1 - ab))));
}

/**
 * All T reverse steps from zT with condition c: Ẑ₀ [B, C]. Under autograd the gradient flows
 * through every step into the denoiser and c.
 */
export function reverseChain(denoiser: Denoiser, zT: Tensor, c: Tensor, s: DiffusionSchedule): Tensor {
  return tidy(() => {
    let z = zT;
    for (let t = s.timesteps; t >= 1; t--) {
      const pred = denoiser.forward(z, timeFeature(s, t), c);
      z = reverseStep(z, pred, s, t);
    }
    return z;
  });
}

/** Whether `sampleChain` can run the whole chain as one fused dispatch (inference, sizes within the kernel's limits). */
export function canSampleFused(denoiser: Denoiser, c: Tensor, s: DiffusionSchedule, zT?: Tensor | null): boolean {
  const inputs = [c, ...denoiser.parameters(), ...(zT ? [zT] : [])];
  return !engine.needsGrad(inputs) && denoiser.priorDim <= DDPM_MAX_PRIOR && denoiser.width <= DDPM_MAX_WIDTH && denoiser.depth <= DDPM_MAX_HIDDEN && s.timesteps <= DDPM_MAX_STEPS;
}

/**
 * The reverse chain from Z_T = zT, or Z_T ~ N(0, I) drawn from `generator` (exactly as
 * randomNormal([B, C], { generator }) draws it), to Ẑ₀ [B, C]. For inference (no gradient
 * needed) it is ONE fused dispatch (`ddpmSampleFused`); otherwise the differentiable chain.
 */
export function sampleChain(denoiser: Denoiser, c: Tensor, s: DiffusionSchedule, opts: { zT?: Tensor | null; generator?: Generator } = {}): Tensor {
  const B = c.shape[0];
  if (canSampleFused(denoiser, c, s, opts.zT)) {
    const layers = Array.from({ length: denoiser.layers.length }, (_, i) => denoiser.layers.at(i) as Linear);
    const first = layers[0];
    const last = layers[layers.length - 1];
    return ddpmSampleFused(
      c,
      {
        w1: first.weight,
        b1: first.bias!,
        hidden: layers.slice(1, -1).map((l) => ({ w: l.weight, b: l.bias! })),
        w2: last.weight,
        b2: last.bias!,
      },
      s,
      { param: s.parameterisation, generator: opts.generator, zT: opts.zT ?? undefined, slope: denoiser.slope },
    );
  }
  return tidy(() => {
    const zT = opts.zT ?? randomNormal([B, denoiser.priorDim], { generator: opts.generator });
    return reverseChain(denoiser, zT, c, s);
  });
}
