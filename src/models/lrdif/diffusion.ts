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
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { add, mulScalar } from '../../kernels/elementwise.js';
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

export function makeDiffusionSchedule(
  c: Pick<LrdifConfig, 'timesteps' | 'betaSchedule' | 'betaStart' | 'betaEnd' | 'parameterisation'>,
): DiffusionSchedule {
  const T = c.timesteps;
  if (!Number.isInteger(T) || T < 1 || T > 32) throw new Error(`lrdif: makeDiffusionSchedule: timesteps must be in 1…32, got ${T}`);
  const betas = new Float64Array(T);
  const lin = (a: number, b: number, i: number) => (T === 1 ? a : a + ((b - a) * i) / (T - 1));
  for (let i = 0; i < T; i++) {
    betas[i] = (c.betaSchedule as LrdifBetaSchedule) === 'linear' ? lin(c.betaStart, c.betaEnd, i) : lin(Math.sqrt(c.betaStart), Math.sqrt(c.betaEnd), i) ** 2;
  }
  const alphas = betas.map((b) => 1 - b);
  const alphasCumprod = new Float64Array(T);
  let p = 1;
  for (let i = 0; i < T; i++) alphasCumprod[i] = p *= alphas[i];
  return { timesteps: T, betas, alphas, alphasCumprod, parameterisation: c.parameterisation };
}

/** The coefficients of one reverse step t (1…T): Z_{t−1} = zCoef·Z_t + predCoef·prediction. */
export function ddpmStepCoefficients(s: DiffusionSchedule, t: number): { zCoef: number; predCoef: number } {
  if (!Number.isInteger(t) || t < 1 || t > s.timesteps) throw new Error(`lrdif: ddpmStep: step t must be in 1…${s.timesteps}, got ${t}`);
  const beta = s.betas[t - 1];
  const alpha = s.alphas[t - 1];
  const ab = s.alphasCumprod[t - 1];
  const abPrev = t > 1 ? s.alphasCumprod[t - 2] : 1;
  if (s.parameterisation === 'eps') return { zCoef: 1 / Math.sqrt(alpha), predCoef: -beta / (Math.sqrt(1 - ab) * Math.sqrt(alpha)) };
  return { zCoef: ((1 - abPrev) * Math.sqrt(alpha)) / (1 - ab), predCoef: (beta * Math.sqrt(abPrev)) / (1 - ab) };
}

/**
 * One reverse step, in one place: zt [B, C] and the denoiser's prediction (ε̂ or x̂₀) [B, C] →
 * Z_{t−1} [B, C].
 */
export function ddpmStep(zt: Tensor, prediction: Tensor, s: DiffusionSchedule, t: number): Tensor {
  const { zCoef, predCoef } = ddpmStepCoefficients(s, t);
  return tidy(() => add(mulScalar(zt, zCoef), mulScalar(prediction, predCoef)));
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
      z = ddpmStep(z, pred, s, t);
    }
    return z;
  });
}
