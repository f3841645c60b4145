/**
 * Image degradations for LRDif (under-display camera) and LLDif (low light), on the GPU, seeded
 * per image: a batch's result depends only on each image's seed (`imageSeed(datasetSeed,
 * index)`), never on the batch it was computed in. Used offline by `lrdif synth` and on the
 * fly during training (`degradeBatch`).
 */
import { fmtShape, type Tensor } from '../../autograd/tensor.js';
import { noGrad } from '../../autograd/engine.js';
import { applyUdc, resolveUdcConfig, sampleUdcParams, type UdcConfig, type UdcParams } from './udc.js';
import { applyLowLight, resolveLowLightConfig, sampleLowLightParams, type LowLightConfig, type LowLightParams } from './lowlight.js';

export * from './psf.js';
export * from './rng.js';
export * from './sensor.js';
export * from './udc.js';
export * from './lowlight.js';

export type DegradationKind = 'udc' | 'lowlight';
export const DEGRADATION_KINDS: readonly DegradationKind[] = ['udc', 'lowlight'];

export type DegradeConfig = UdcConfig | LowLightConfig;
export type DegradeParams = UdcParams | LowLightParams;

export function checkKind(kind: unknown): DegradationKind {
  if (kind !== 'udc' && kind !== 'lowlight') throw new Error(`lrdif: unknown degradation ${JSON.stringify(kind)} (expected 'udc' or 'lowlight')`);
  return kind;
}

/** The full configuration of a degradation from its defaults and a partial one (e.g. parsed JSON). */
export function resolveDegradeConfig(kind: 'udc', partial?: unknown): UdcConfig;
export function resolveDegradeConfig(kind: 'lowlight', partial?: unknown): LowLightConfig;
export function resolveDegradeConfig(kind: DegradationKind, partial?: unknown): DegradeConfig;
export function resolveDegradeConfig(kind: DegradationKind, partial: unknown = {}): DegradeConfig {
  return checkKind(kind) === 'udc' ? resolveUdcConfig(partial) : resolveLowLightConfig(partial);
}

/** One image's parameters, drawn from its seed (imageSize: the shorter side, used by the UDC PSF). */
export function sampleParams(kind: DegradationKind, config: DegradeConfig, seed: number, imageSize: number): DegradeParams {
  return checkKind(kind) === 'udc' ? sampleUdcParams(config as UdcConfig, seed, imageSize) : sampleLowLightParams(config as LowLightConfig, seed);
}

/** Applies degradations with known per-image parameters to x [N, 3, H, W] in [0, 1]. */
export function applyDegradation(x: Tensor, kind: DegradationKind, config: DegradeConfig, params: readonly DegradeParams[]): Tensor {
  return noGrad(() =>
    checkKind(kind) === 'udc' ? applyUdc(x, params as UdcParams[], config as UdcConfig) : applyLowLight(x, params as LowLightParams[], config as LowLightConfig),
  );
}

/**
 * Degrades a batch x [N, 3, H, W] in [0, 1]: draws each image's parameters from its seed
 * (`seeds[i]`, e.g. `imageSeed(datasetSeed, index)`) and applies them. `config` may be
 * partial (missing fields take the defaults). Returns the images (a new tensor) and the
 * JSON-able parameter records.
 */
export function degradeBatch(
  x: Tensor,
  kind: DegradationKind,
  config: Partial<DegradeConfig> | DegradeConfig,
  seeds: readonly number[],
): { images: Tensor; params: DegradeParams[] } {
  checkKind(kind);
  if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`lrdif: degradeBatch: expected images [N, 3, H, W], got ${fmtShape(x.shape)}`);
  if (seeds.length !== x.shape[0]) throw new Error(`lrdif: degradeBatch: ${seeds.length} seeds for ${x.shape[0]} images ${fmtShape(x.shape)}`);
  const cfg = resolveDegradeConfig(kind, config);
  const size = Math.min(x.shape[2], x.shape[3]);
  const params = seeds.map((s) => sampleParams(kind, cfg, s, size));
  return { images: applyDegradation(x, kind, cfg, params), params };
}
