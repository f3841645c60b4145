/**
 * face-api's 68-point landmark nets (FaceLandmark68Net, FaceLandmark68TinyNet) and the frozen
 * landmark feature taps LRDif reads.
 *
 * Head (face-api's FaceProcessor.runNet): fully connected on the pooled features,
 * out = features · fc/weights + fc/bias, fc/weights [256, 136] (tiny: [128, 136]). The 136
 * outputs are 68 (x, y) pairs relative to the padded 112 × 112 input; `decodeFaceLandmarks`
 * maps them into the input image's pixels as face-api does.
 */
import { Module } from '../../nn/module.js';
import { tensor, type Tensor } from '../../autograd/tensor.js';
import { noGrad, tidy } from '../../autograd/engine.js';
import { matmul } from '../../kernels/matmul.js';
import type { RgbImage } from '../../io/image.js';
import { FaceFeatureExtractor, type FaceFeatureExtractorKind } from './feature-extractor.js';
import { decodeFaceLandmarks, faceApiInput, type FaceLandmarks68, type FacePoint } from './preprocess.js';
import type { FaceApiWeightSource } from './weights.js';

/** face-api's fully connected head: [N, C] · W [C, O] + b. */
export class FaceApiFullyConnected extends Module {
  readonly weights: Tensor;
  readonly bias: Tensor;
  constructor(src: FaceApiWeightSource, prefix: string, ci: number, co: number) {
    super();
    this.weights = this.registerParameter('weights', tensor(src.float32(`${prefix}/weights`, [ci, co]), [ci, co]));
    this.bias = this.registerParameter('bias', tensor(src.float32(`${prefix}/bias`, [co]), [co]));
    this.weights.requiresGrad = false;
    this.bias.requiresGrad = false;
  }
  forward(x: Tensor): Tensor {
    return matmul(x, this.weights, { bias: this.bias });
  }
}

export class FaceLandmark68Net extends Module {
  readonly extractor: FaceFeatureExtractor;
  readonly fc: FaceApiFullyConnected;

  /**
   * From the weights of `face_landmark_68_model` (kind 'full') or `face_landmark_68_tiny_model`
   * (kind 'tiny'): `dense*` for the extractor, `fc/weights` and `fc/bias` for the head.
   */
  constructor(
    src: FaceApiWeightSource,
    readonly kind: FaceFeatureExtractorKind = 'full',
  ) {
    super();
    this.extractor = this.registerModule('extractor', new FaceFeatureExtractor(src, kind));
    const c = this.extractor.channels[this.extractor.channels.length - 1];
    this.fc = this.registerModule('fc', new FaceApiFullyConnected(src, 'fc', c, 136));
    this.eval();
  }

  /** Raw outputs [N, 136] for x [N, 3, 112, 112] in [0, 1]: (x, y) pairs relative to the 112 square. */
  forward(x: Tensor): Tensor {
    return tidy(() => this.fc.forward(this.extractor.forward(x)));
  }

  /**
   * Landmarks of face crops of any sizes, as face-api's detectLandmarks: padded to a square,
   * resized to 112, decoded into each crop's pixels (plus `shifts[i]`, e.g. the crop's origin in
   * the photo). Batches of `batchSize` crops at a time.
   */
  async detectLandmarks(images: readonly RgbImage[], opts: { shifts?: readonly FacePoint[]; batchSize?: number } = {}): Promise<FaceLandmarks68[]> {
    const bs = Math.max(1, opts.batchSize ?? 64);
    const out: FaceLandmarks68[] = [];
    for (let i = 0; i < images.length; i += bs) {
      const part = images.slice(i, i + bs);
      const { input, dims } = faceApiInput(part);
      const raw = noGrad(() => this.forward(input));
      input.dispose();
      const values = await raw.data();
      raw.dispose();
      out.push(...decodeFaceLandmarks(values, dims, { shifts: opts.shifts?.slice(i, i + bs) }));
    }
    return out;
  }
}

/** The three landmark feature maps LRDif's DILnetwork reads (NCHW). */
export interface LandmarkFeatureTaps {
  /** Output of dense block 2 (`dense1`): [N, 64, 28, 28]. */
  f28: Tensor;
  /** Output of dense block 3 (`dense2`): [N, 128, 14, 14]. */
  f14: Tensor;
  /** Output of dense block 4 (`dense3`): [N, 256, 7, 7]. */
  f7: Tensor;
}

/**
 * The frozen landmark feature extractor LRDif uses: the FaceFeatureExtractor of face-api's
 * full `face_landmark_68_model`. For x112 [N, 3, 112, 112] RGB in [0, 1] it applies face-api's
 * normalisation ((255·x − meanRgb) / 255, meanRgb = [122.782, 117.001, 104.298]) and returns
 * the outputs of dense blocks 2, 3 and 4, after each block's final ReLU (the tensors face-api
 * passes from one block to the next; the 7² map is what face-api then average-pools for its
 * heads). It runs without recording gradients: its weights are frozen and nothing flows back
 * into the image.
 */
export class FaceLandmarkFeatures {
  constructor(readonly extractor: FaceFeatureExtractor) {
    if (extractor.kind !== 'full') throw new Error(`lrdif: FaceLandmarkFeatures needs the full face_landmark_68 extractor (4 dense blocks), got the '${extractor.kind}' one`);
  }

  /** From the weights of `face_landmark_68_model` (its `dense*` entries; `fc/*` is not needed). */
  static fromWeights(src: FaceApiWeightSource): FaceLandmarkFeatures {
    return new FaceLandmarkFeatures(new FaceFeatureExtractor(src, 'full'));
  }

  forward(x112: Tensor): LandmarkFeatureTaps {
    const [f28, f14, f7] = this.landmarkFeatureTaps(x112);
    return { f28, f14, f7 };
  }

  /** [f28, f14, f7] as a tuple. */
  landmarkFeatureTaps(x112: Tensor): [Tensor, Tensor, Tensor] {
    return noGrad(() =>
      tidy(() => {
        const [f28, f14, f7] = this.extractor.forwardBlocks(x112, { blocks: [1, 2, 3] });
        return [f28, f14, f7] as [Tensor, Tensor, Tensor];
      }),
    );
  }

  dispose(): void {
    this.extractor.dispose();
  }
}
