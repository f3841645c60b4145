/**
 * Test-time augmentation (browser-safe), shared by LRDif's evaluation and the baselines': 'flip'
 * scores each image by the mean of its own and its mirror image's class probabilities (the
 * mirror is the training augmentation's flip), 'none' by its own.
 */
import { noGrad, tidy } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import { add, mulScalar } from '../kernels/elementwise.js';
import { softmax } from '../kernels/softmax.js';

export type TestTimeAugmentation = 'none' | 'flip';
export const TEST_TIME_AUGMENTATIONS: readonly TestTimeAugmentation[] = ['none', 'flip'];

export function checkTta(where: string, tta: string): TestTimeAugmentation {
  if (!(TEST_TIME_AUGMENTATIONS as readonly string[]).includes(tta)) throw new Error(`lrdif: ${where}: tta must be one of ${TEST_TIME_AUGMENTATIONS.join(', ')}, got '${tta}'`);
  return tta as TestTimeAugmentation;
}

/** The mean of two views' probabilities [B, K] (no gradients). */
export function meanOfViews(probabilities: Tensor, mirroredProbabilities: Tensor): Tensor {
  return noGrad(() => tidy(() => mulScalar(add(probabilities, mirroredProbabilities), 0.5)));
}

/** The mean of two views' probabilities [B, K], from their logits (no gradients). */
export function meanViewProbabilities(logits: Tensor, mirroredLogits: Tensor): Tensor {
  return noGrad(() => tidy(() => meanOfViews(softmax(logits, -1), softmax(mirroredLogits, -1))));
}

/** Σ −log p[row, label] over the rows of probabilities [B, K] (the cross-entropy of averaged views). */
export function nllSum(probabilities: ArrayLike<number>, labels: ArrayLike<number>, K: number): number {
  let s = 0;
  for (let r = 0; r < labels.length; r++) s -= Math.log(Math.max(probabilities[r * K + labels[r]], 1e-30));
  return s;
}
