/**
 * face-api's FaceFeatureExtractor (src/faceFeatureExtractor/ of @vladmandic/face-api) on the
 * engine's ops, NCHW.
 *
 * Input: x [N, 3, 112, 112], RGB in [0, 1]. face-api feeds its nets 0..255 pixels and computes
 * (x − meanRgb) / 255 with meanRgb = [122.782, 117.001, 104.298]; here that is x − meanRgb/255.
 *
 * A dense block (`denseBlock4`, or `denseBlock3` for the tiny extractor, which stops after out3):
 *   out1 = relu(conv0(x))                       conv0: 3×3 stride 2, TF 'same' padding
 *   out2 = sep(out1)                            sep: depthwise 3×3 stride 1 'same', then
 *   in3  = relu(out1 + out2)                         pointwise 1×1, plus bias
 *   out3 = sep(in3)
 *   in4  = relu(out1 + (out2 + out3))           (the tiny block returns this)
 *   out4 = sep(in4)
 *   out  = relu(out1 + (out2 + (out3 + out4)))
 * conv0 of the first block is a full 3×3 convolution 3 → 32 with bias; in the other blocks it is
 * a separable convolution whose depthwise part has stride 2. TF's SAME padding at stride 2 on an
 * even size pads only the bottom/right (56 → 28: rows 0..56, one zero row below).
 *
 * Full extractor: blocks of 32, 64, 128, 256 channels at 56², 28², 14², 7²; then a 7×7 average
 * (face-api's avgPool 7×7 stride 2 'valid' on a 7×7 map) → [N, 256].
 * Tiny extractor: 32, 64, 128 channels at 56², 28², 14²; then the 14×14 average → [N, 128].
 *
 * Weights are frozen (no gradients); state-dict names mirror TF.js names with '/' → '.'
 * (`dense1.conv0.depthwise_filter`), in the engine's layouts (OIHW, [C, 1, 3, 3], [O, C, 1, 1]).
 */
import { Module } from '../../nn/module.js';
import { tensor, type Tensor } from '../../autograd/tensor.js';
import { tidy } from '../../autograd/engine.js';
import { conv2d } from '../../kernels/conv.js';
import { add, relu, sub } from '../../kernels/elementwise.js';
import { mean } from '../../kernels/reduce.js';
import { hwioToOihw, type FaceApiWeightSource } from './weights.js';

/** face-api's mean RGB on the 0..255 scale. */
export const FACEAPI_MEAN_RGB = [122.782, 117.001, 104.298] as const;
/** Input size of face-api's landmark and expression nets. */
export const FACEAPI_INPUT_SIZE = 112;

export type FaceFeatureExtractorKind = 'full' | 'tiny';

export const FACE_FEATURE_EXTRACTOR_SPECS: Record<FaceFeatureExtractorKind, { channels: readonly number[]; convsPerBlock: 3 | 4 }> = {
  full: { channels: [32, 64, 128, 256], convsPerBlock: 4 },
  tiny: { channels: [32, 64, 128], convsPerBlock: 3 },
};

/** Frozen parameter from host data. */
function frozen(m: Module, name: string, data: Float32Array, shape: number[]): Tensor {
  const t = m.registerParameter(name, tensor(data, shape));
  t.requiresGrad = false;
  return t;
}

/** A full 3×3 convolution with bias (the first block's conv0). */
export class FaceApiConv extends Module {
  readonly filters: Tensor;
  readonly bias: Tensor;
  constructor(src: FaceApiWeightSource, prefix: string, ci: number, co: number) {
    super();
    this.filters = frozen(this, 'filters', hwioToOihw(src.float32(`${prefix}/filters`, [3, 3, ci, co]), 3, 3, ci, co), [co, ci, 3, 3]);
    this.bias = frozen(this, 'bias', src.float32(`${prefix}/bias`, [co]), [co]);
  }
  forward(x: Tensor, stride = 2): Tensor {
    return conv2d(x, this.filters, this.bias, { stride, padding: 'same' });
  }
}

/** TF's separableConv2d + bias: depthwise 3×3 (stride s, 'same'), pointwise 1×1, bias. */
export class FaceApiSeparableConv extends Module {
  readonly depthwise: Tensor;
  readonly pointwise: Tensor;
  readonly bias: Tensor;
  constructor(src: FaceApiWeightSource, prefix: string, ci: number, co: number) {
    super();
    this.depthwise = frozen(this, 'depthwise_filter', hwioToOihw(src.float32(`${prefix}/depthwise_filter`, [3, 3, ci, 1]), 3, 3, ci, 1), [ci, 1, 3, 3]);
    // [1, 1, ci, co] → [co, ci, 1, 1] is the HWIO → OIHW transpose with kh = kw = 1
    this.pointwise = frozen(this, 'pointwise_filter', hwioToOihw(src.float32(`${prefix}/pointwise_filter`, [1, 1, ci, co]), 1, 1, ci, co), [co, ci, 1, 1]);
    this.bias = frozen(this, 'bias', src.float32(`${prefix}/bias`, [co]), [co]);
  }
  forward(x: Tensor, stride = 1): Tensor {
    const d = conv2d(x, this.depthwise, null, { stride, padding: 'same', groups: x.shape[1] });
    const y = conv2d(d, this.pointwise, this.bias);
    d.dispose();
    return y;
  }
}

/** face-api's denseBlock4 (4 convolutions) or denseBlock3 (3). */
export class FaceApiDenseBlock extends Module {
  readonly convs: Array<FaceApiConv | FaceApiSeparableConv>;
  constructor(src: FaceApiWeightSource, prefix: string, ci: number, co: number, convs: 3 | 4, first: boolean) {
    super();
    this.convs = [];
    for (let i = 0; i < convs; i++) {
      const p = `${prefix}/conv${i}`;
      const c = i === 0 && first ? new FaceApiConv(src, p, ci, co) : new FaceApiSeparableConv(src, p, i === 0 ? ci : co, co);
      this.convs.push(this.registerModule(`conv${i}`, c));
    }
  }
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const [c0, c1, c2, c3] = this.convs;
      const out1 = relu(c0.forward(x, 2));
      const out2 = c1.forward(out1, 1);
      const in3 = relu(add(out1, out2));
      const out3 = c2.forward(in3, 1);
      const in4 = relu(add(out1, add(out2, out3)));
      if (!c3) return in4;
      const out4 = c3.forward(in4, 1);
      return relu(add(out1, add(out2, add(out3, out4))));
    });
  }
}

export class FaceFeatureExtractor extends Module {
  readonly kind: FaceFeatureExtractorKind;
  readonly blocks: FaceApiDenseBlock[];
  /** Channels of each block's output. */
  readonly channels: readonly number[];
  private readonly meanRgb: Tensor;

  /** Builds the extractor from TF.js-named weights (`dense0/conv0/filters`, ...). */
  constructor(src: FaceApiWeightSource, kind: FaceFeatureExtractorKind = 'full') {
    super();
    const spec = FACE_FEATURE_EXTRACTOR_SPECS[kind];
    if (!spec) throw new Error(`lrdif: FaceFeatureExtractor: kind must be 'full' or 'tiny', got '${String(kind)}'`);
    this.kind = kind;
    this.channels = spec.channels;
    this.blocks = spec.channels.map((co, i) =>
      this.registerModule(`dense${i}`, new FaceApiDenseBlock(src, `dense${i}`, i === 0 ? 3 : spec.channels[i - 1], co, spec.convsPerBlock, i === 0)),
    );
    this.meanRgb = this.registerBuffer('mean_rgb', tensor(FACEAPI_MEAN_RGB.map((v) => v / 255), [1, 3, 1, 1]));
  }

  private checkInput(x: Tensor): void {
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== FACEAPI_INPUT_SIZE || x.shape[3] !== FACEAPI_INPUT_SIZE) {
      throw new Error(`lrdif: FaceFeatureExtractor (${this.kind}): input must be [N, 3, 112, 112] RGB in [0, 1], got ${x.describe()}`);
    }
  }

  /** Every dense block's output, NCHW: full [N,32,56,56], [N,64,28,28], [N,128,14,14], [N,256,7,7]. */
  forwardBlocks(x: Tensor, upTo = this.blocks.length): Tensor[] {
    this.checkInput(x);
    return tidy(() => {
      const outs: Tensor[] = [];
      let h = sub(x, this.meanRgb);
      for (let i = 0; i < upTo; i++) {
        h = this.blocks[i].forward(h);
        outs.push(h);
      }
      return outs;
    });
  }

  /** The pooled features face-api's heads read: [N, 256] (full) or [N, 128] (tiny). */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const blocks = this.forwardBlocks(x);
      return mean(blocks[blocks.length - 1], [2, 3]);
    });
  }
}
