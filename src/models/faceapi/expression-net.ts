/**
 * face-api's FaceExpressionNet: its own full FaceFeatureExtractor (same architecture as the
 * landmark net's, other weights), fully connected 256 → 7 on the pooled features, softmax.
 * Classes, in output order: neutral, happy, sad, angry, fearful, disgusted, surprised.
 */
import { Module } from '../../nn/module.js';
import type { Tensor } from '../../autograd/tensor.js';
import { noGrad, tidy } from '../../autograd/engine.js';
import { softmax } from '../../kernels/softmax.js';
import type { RgbImage } from '../../io/image.js';
import { FaceFeatureExtractor } from './feature-extractor.js';
import { FaceApiFullyConnected } from './landmark-net.js';
import { faceApiInput } from './preprocess.js';
import type { FaceApiWeightSource } from './weights.js';

export const FACE_EXPRESSION_LABELS = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'] as const;
export type FaceExpression = (typeof FACE_EXPRESSION_LABELS)[number];
export type FaceExpressions = Record<FaceExpression, number>;

export class FaceExpressionNet extends Module {
  readonly extractor: FaceFeatureExtractor;
  readonly fc: FaceApiFullyConnected;

  /** From the weights of `face_expression_model` (`dense*`, `fc/weights` [256, 7], `fc/bias` [7]). */
  constructor(src: FaceApiWeightSource) {
    super();
    this.extractor = this.registerModule('extractor', new FaceFeatureExtractor(src, 'full'));
    this.fc = this.registerModule('fc', new FaceApiFullyConnected(src, 'fc', 256, FACE_EXPRESSION_LABELS.length));
    this.eval();
  }

  /** Logits [N, 7] for x [N, 3, 112, 112] RGB in [0, 1]. */
  logits(x: Tensor): Tensor {
    return tidy(() => this.fc.forward(this.extractor.forward(x)));
  }

  /** Probabilities [N, 7] (softmax of the logits). */
  forward(x: Tensor): Tensor {
    return tidy(() => softmax(this.logits(x), -1));
  }

  /** Expression probabilities of face crops of any sizes (padded and resized as face-api does). */
  async predictExpressions(images: readonly RgbImage[], opts: { batchSize?: number } = {}): Promise<FaceExpressions[]> {
    const bs = Math.max(1, opts.batchSize ?? 64);
    const out: FaceExpressions[] = [];
    for (let i = 0; i < images.length; i += bs) {
      const { input } = faceApiInput(images.slice(i, i + bs));
      const p = noGrad(() => this.forward(input));
      input.dispose();
      const v = await p.data();
      p.dispose();
      for (let n = 0; n < v.length / 7; n++) {
        out.push(Object.fromEntries(FACE_EXPRESSION_LABELS.map((k, j) => [k, v[n * 7 + j]])) as FaceExpressions);
      }
    }
    return out;
  }
}
