/**
 * Low-light degradation (LLDif):
 *
 *   y = clip(Poisson(e · c ⊙ x^γ · photons) / photons + σ·z, 0, 1)
 *
 * - e: exposure, log-uniform in [0.05, 0.2] (5–20 % of the original);
 * - γ: a gamma > 1 that darkens the shadows further (uniform);
 * - c: an optional colour cast (with probability `colourCast.probability`, per-channel gains
 *   uniform in `colourCast.gains`; otherwise 1);
 * - shot noise at `photons` photons for a full-scale signal (log-uniform) and Gaussian read
 *   noise σ (sensor.ts), no gain afterwards (the image stays dark).
 *
 * Per-image draws (ParamRng of the image's seed, in this order): e, γ, cast?, c_R, c_G, c_B,
 * photons, σ. All draws are always made, so switching the cast or the noise off changes no
 * other parameter. With `noise: false` photons and σ are recorded (and used) as 0.
 */
import { fmtShape, type Tensor } from '../../autograd/tensor.js';
import { alloc } from '../../kernels/util.js';
import { ParamRng, checkSeed } from './rng.js';
import { sensor, POISSON_THRESHOLD } from './sensor.js';
import { checkBool, checkKeys, checkNumber, checkRange, fail, isPlainObject, type Range } from './config.js';

export interface LowLightConfig {
  /** Exposure range (log-uniform), fractions of the original. */
  exposure: Range;
  /** Gamma range (uniform). */
  gamma: Range;
  /** Colour cast: probability and per-channel gain range. */
  colourCast: { probability: number; gains: Range };
  /** Photons at full scale (log-uniform). */
  photons: Range;
  /** Read-noise σ range. */
  readNoise: Range;
  noise: boolean;
  poissonThreshold: number;
}

export const DEFAULT_LOWLIGHT: Readonly<LowLightConfig> = Object.freeze({
  exposure: [0.05, 0.2],
  gamma: [1.0, 1.5],
  colourCast: { probability: 0.5, gains: [0.8, 1.2] },
  photons: [200, 2000],
  readNoise: [0.002, 0.01],
  noise: true,
  poissonThreshold: POISSON_THRESHOLD,
}) as Readonly<LowLightConfig>;

export interface LowLightParams {
  kind: 'lowlight';
  seed: number;
  exposure: number;
  gamma: number;
  /** Per-channel gains, or null when this image has no cast. */
  colourCast: [number, number, number] | null;
  photons: number;
  readNoise: number;
}

export function resolveLowLightConfig(partial: unknown = {}, where = 'lowlight'): LowLightConfig {
  if (!isPlainObject(partial)) fail(where, 'an object', partial);
  checkKeys(where, partial, DEFAULT_LOWLIGHT);
  const p = partial as Partial<LowLightConfig>;
  const castIn = p.colourCast ?? DEFAULT_LOWLIGHT.colourCast;
  if (!isPlainObject(castIn)) fail(`${where}.colourCast`, 'an object { probability, gains }', castIn);
  checkKeys(`${where}.colourCast`, castIn, DEFAULT_LOWLIGHT.colourCast);
  const cast = { ...DEFAULT_LOWLIGHT.colourCast, ...castIn };
  return {
    exposure: checkRange(`${where}.exposure`, p.exposure ?? DEFAULT_LOWLIGHT.exposure, 1e-4, 1),
    gamma: checkRange(`${where}.gamma`, p.gamma ?? DEFAULT_LOWLIGHT.gamma, 0.1, 10),
    colourCast: {
      probability: checkNumber(`${where}.colourCast.probability`, cast.probability, 0, 1),
      gains: checkRange(`${where}.colourCast.gains`, cast.gains, 0, 10),
    },
    photons: checkRange(`${where}.photons`, p.photons ?? DEFAULT_LOWLIGHT.photons, 1e-3, 1e9),
    readNoise: checkRange(`${where}.readNoise`, p.readNoise ?? DEFAULT_LOWLIGHT.readNoise, 0, 1),
    noise: checkBool(`${where}.noise`, p.noise ?? DEFAULT_LOWLIGHT.noise),
    poissonThreshold: checkNumber(`${where}.poissonThreshold`, p.poissonThreshold ?? DEFAULT_LOWLIGHT.poissonThreshold, 0, 1000),
  };
}

export function sampleLowLightParams(cfg: LowLightConfig, seed: number): LowLightParams {
  checkSeed('sampleLowLightParams: seed', seed);
  const rng = new ParamRng(seed);
  const exposure = rng.logUniform(cfg.exposure);
  const gamma = rng.uniform(cfg.gamma);
  const hasCast = rng.bernoulli(cfg.colourCast.probability);
  const gains = [0, 1, 2].map(() => rng.uniform(cfg.colourCast.gains)) as [number, number, number];
  const photons = rng.logUniform(cfg.photons);
  const readNoise = rng.uniform(cfg.readNoise);
  return {
    kind: 'lowlight',
    seed,
    exposure,
    gamma,
    colourCast: hasCast ? gains : null,
    photons: cfg.noise ? photons : 0,
    readNoise: cfg.noise ? readNoise : 0,
  };
}

/** Applies low-light degradations with the given per-image parameters to x [N, 3, H, W] in [0, 1]. */
export function applyLowLight(x: Tensor, params: readonly LowLightParams[], cfg: LowLightConfig): Tensor {
  if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`lrdif: lowlight: expected images [N, 3, H, W], got ${fmtShape(x.shape)}`);
  if (params.length !== x.shape[0]) throw new Error(`lrdif: lowlight: ${params.length} parameter records for ${x.shape[0]} images`);
  params.forEach((p, i) => {
    if (p.kind !== 'lowlight') throw new Error(`lrdif: lowlight: parameter record ${i} is for '${p.kind}'`);
  });
  if (x.size === 0) return alloc(x.shape);
  return sensor(
    x,
    params.map((p) => {
      const c = p.colourCast ?? [1, 1, 1];
      return {
        scale: [Math.fround(p.exposure * c[0]), Math.fround(p.exposure * c[1]), Math.fround(p.exposure * c[2])] as const,
        gain: [1, 1, 1] as const,
        gamma: p.gamma,
        photons: p.photons,
        readNoise: p.readNoise,
        seed: p.seed,
      };
    }),
    cfg.poissonThreshold,
  );
}
