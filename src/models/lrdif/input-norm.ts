/**
 * Per-image exposure normalisation of the model's input (config `inputNorm: 'exposure'`).
 *
 * A low-light face keeps its contrast pattern but at a few per cent of the usual level: after the
 * ImageNet normalisation every pixel sits near −2 and the expression is a ripple of a few
 * hundredths on top, for the UDCformer, CLIP and the landmark extractor alike. Exposure
 * normalisation gives every image (over all its pixels and channels: one gain and one offset per
 * image, so colours keep their ratios) the mean and standard deviation of a typical clean face:
 *
 *   x' = clamp(m₀ + s₀·(x − μ)/√(σ² + ε²), 0, 1)
 *
 * μ, σ the image's mean and (population) standard deviation, m₀ = 0.4 and s₀ = 0.2 (the average
 * per-image mean and standard deviation of the clean faces-real photographs, 0.41 and 0.19),
 * ε = 1e-3 so a flat black image stays flat rather than amplifying its rounding noise without
 * bound. It is applied to the [0, 1] images before anything else sees them (the UDCformer's
 * ImageNet normalisation, the CLIP or face-api image encoder, the landmark taps), in training,
 * evaluation and prediction alike.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { addScalar, affine, clamp, div, mul, sqrt, sub } from '../../kernels/elementwise.js';
import { mean } from '../../kernels/reduce.js';
import type { LrdifInputNorm } from './config.js';

export const EXPOSURE_TARGET_MEAN = 0.4;
export const EXPOSURE_TARGET_STD = 0.2;
export const EXPOSURE_EPS = 1e-3;

/** x [B, C, H, W] in [0, 1] → each image with mean m₀ and standard deviation s₀ (clamped to [0, 1]). */
export function exposureNormalize(x: Tensor, targetMean = EXPOSURE_TARGET_MEAN, targetStd = EXPOSURE_TARGET_STD, eps = EXPOSURE_EPS): Tensor {
  if (x.rank !== 4) throw new Error(`lrdif: exposureNormalize: images must be [batch, channels, height, width], got ${x.describe()}`);
  return tidy(() => {
    const mu = mean(x, [1, 2, 3], true);
    const d = sub(x, mu);
    const variance = mean(mul(d, d), [1, 2, 3], true);
    const y = div(d, sqrt(addScalar(variance, eps * eps)));
    return clamp(affine(y, targetStd, targetMean), 0, 1);
  });
}

/** The input normalisation of a config applied to [0, 1] images (the same tensor for 'none'). */
export function normalizeInput(x: Tensor, norm: LrdifInputNorm): Tensor {
  if (norm === 'none') return x;
  if (norm === 'exposure') return exposureNormalize(x);
  throw new Error(`lrdif: normalizeInput: unknown input normalisation ${JSON.stringify(norm)} (expected 'none' or 'exposure')`);
}
