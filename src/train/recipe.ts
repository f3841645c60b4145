/**
 * The recommended LRDif / LLDif training recipe for the tiny config on a CPU (browser-safe
 * constants; `lrdif demo` runs it, the regression tests train with it, README "Training" shows it
 * as `lrdif train` flags). The paper's configuration stays reachable: `--config reference` and the
 * config's defaults are the paper's; this recipe only sets fields away from them.
 *
 * Why each setting (measured on faces-real degraded as UDC and as low light, and on the demo's
 * synthetic faces; /work/notes/research-log.md has the tables):
 * - inputNorm 'exposure': each image brought to a clean face's mean and contrast first. Without it
 *   a low-light face is a ±0.17 ripple on −1.8 after the ImageNet normalisation, stage 1 learns
 *   to read the label from Z alone, and stage 2 collapses to one class (issue 17).
 * - imageEncoder 'faceapi-expression': e_img from face-api's pretrained expression net (read at
 *   its own 112 px) instead of the tiny random CLIP, whose embedding of a face carries almost no
 *   expression (a linear probe on it is at the majority class): FPEN_S2 then has something to
 *   predict the prior from.
 * - imageSize 32 (window 2): the tiny config at a tenth of the 112-px work per image.
 * - batches of 32 at a constant 1e-3 without augmentation, and stage 2 with DiffIR's x0
 *   parameterisation at T = 4: see src/cli/demo.ts.
 */
import type { LrdifConfig } from '../models/lrdif/config.js';

/** Stage-1 config fields of the recipe, over `tiny`. */
export const RECIPE_CONFIG: Readonly<Partial<LrdifConfig>> = Object.freeze({
  imageSize: 32,
  window: 2,
  inputNorm: 'exposure',
  imageEncoder: 'faceapi-expression',
});

/** Optimisation of both stages. */
export const RECIPE_TRAINING = Object.freeze({ batch: 32, lr: 1e-3, schedule: 'constant' as const, augment: false });

/** Stage-2 switches of the recipe. */
export const RECIPE_STAGE2: Readonly<Pick<LrdifConfig, 'parameterisation' | 'timesteps'>> = Object.freeze({ parameterisation: 'x0', timesteps: 4 });
