/**
 * face-api's tiny face detector (src/tinyFaceDetector/ and src/tinyYolov2/ of
 * @vladmandic/face-api): a TinyYolov2 "tiny" variant with separable convolutions, one class
 * ('face'), five anchors, on the engine's ops (NCHW).
 *
 * Input (face-api's NetInput.toBatchTensor(inputSize, false), then normalize and /255): the photo
 * padded to a square with zeros after the image (bottom or right, not centred), resized to
 * inputSize × inputSize with TF's legacy bilinear resize (alignCorners false, halfPixelCenters
 * false), minus the mean RGB [117.001, 114.697, 97.404], divided by 255. Here one pass of
 * shaders/affine_warp.wgsl (`resampleBilinearTables`) reads the 8-bit photo and writes that
 * tensor: the tap positions s = o · S / inputSize (S the square's side), taps ⌊s⌋ and
 * min(⌈s⌉, S − 1), weight s − ⌊s⌋, are computed on the host in float64 as TF's CPU kernel does,
 * and taps in the padding read 0.
 *
 * Network (TinyYolov2Base.runMobilenet with isFirstLayerConv2d, filter sizes 3, 16, …, 512; the
 * batch norms are folded into the weights face-api ships, so every layer is conv + bias):
 *   conv0   3×3 'valid' conv 3 → 16 + bias, leaky ReLU 0.1, max pool 2×2 stride 2 'same'
 *   conv1…4 separable conv (zero pad 1, depthwise 3×3, pointwise 1×1) + bias, leaky, max pool 2×2 s2 'same'
 *   conv5   separable conv 256 → 512 + bias, leaky, max pool 2×2 stride 1 'same'
 *   conv8   1×1 conv 512 → 25 + bias
 * For inputSize 416: 416 → 414 → 207 → 104 → 52 → 26 → 13; the output is [N, 25, 13, 13]: per
 * cell and anchor a (channels 5a … 5a + 4) the box (x, y, w, h) and the score logit. Each
 * "+ bias, leaky, max pool" is one pass (`maxPool2dBiasLeaky`: leaky is non-decreasing, so
 * pooling commutes with it); face-api's leaky is relu(x − 0.1x) + 0.1x, the same function up to
 * float rounding.
 *
 * Decoding (TinyYolov2Base.extractBoxes): score = σ(logit), kept when score > scoreThreshold;
 * centre ((col + σ(x)) / cells, (row + σ(y)) / cells), size (e^w · anchor.x / cells,
 * e^h · anchor.y / cells), each × inputSize / (the resized image's side) to undo the padding,
 * all relative to the photo. Then face-api's greedy non-maximum suppression (IoU > 0.4 with a
 * better box removes a box; boxes scaled by inputSize first) and the boxes scaled to the photo's
 * pixels. Defaults as face-api: inputSize 416, scoreThreshold 0.5.
 */
import { Module } from '../../nn/module.js';
import { tensor, type Tensor } from '../../autograd/tensor.js';
import { noGrad, tidy } from '../../autograd/engine.js';
import { conv2d } from '../../kernels/conv.js';
import { matmul } from '../../kernels/matmul.js';
import { reshape } from '../../kernels/shape.js';
import { add, leakyRelu } from '../../kernels/elementwise.js';
import { maxPool2d, maxPool2dBiasLeaky } from '../../kernels/maxpool.js';
import { RgbImageBuffer, resampleBilinearTables, type BilinearAxisTable } from '../../kernels/affine-warp.js';
import type { RgbImage } from '../../io/image.js';
import { hwioToOihw, type FaceApiWeightSource } from './weights.js';
import type { FaceBox } from './preprocess.js';

/** face-api's BOX_ANCHORS of the tiny face detector (in grid cells). */
export const TINY_FACE_DETECTOR_ANCHORS: ReadonlyArray<{ x: number; y: number }> = [
  { x: 1.603231, y: 2.094468 },
  { x: 6.041143, y: 7.080126 },
  { x: 2.882459, y: 3.518061 },
  { x: 4.266906, y: 5.178857 },
  { x: 9.041765, y: 10.66308 },
];
/** face-api's MEAN_RGB of the tiny face detector (0..255 scale). */
export const TINY_FACE_DETECTOR_MEAN_RGB = [117.001, 114.697, 97.404] as const;
/** face-api's IOU_THRESHOLD of the tiny face detector's non-maximum suppression. */
export const TINY_FACE_DETECTOR_IOU_THRESHOLD = 0.4;
/** Channels of conv0 … conv5 (face-api's filterSizes). */
const FILTERS = [3, 16, 32, 64, 128, 256, 512] as const;
/** Values per anchor: x, y, w, h, score. */
const BOX_ENCODING = 5;

export interface TinyFaceDetectorOptions {
  /** Side of the square network input, a multiple of 32 (default 416). */
  inputSize?: number;
  /** Keep boxes whose score is above this, in (0, 1) (default 0.5). */
  scoreThreshold?: number;
}

export interface FaceDetection {
  score: number;
  /** In the photo's pixels (may reach outside the photo). */
  box: FaceBox;
  /** The box relative to the photo's width and height. */
  relativeBox: FaceBox;
  imageWidth: number;
  imageHeight: number;
}

/** face-api's TinyYolov2Options checks and defaults (a 0 or missing value takes the default, as there). */
export function resolveTinyFaceDetectorOptions(opts: TinyFaceDetectorOptions = {}): Required<TinyFaceDetectorOptions> {
  const inputSize = opts.inputSize || 416;
  const scoreThreshold = opts.scoreThreshold || 0.5;
  if (typeof inputSize !== 'number' || !Number.isInteger(inputSize) || inputSize % 32 !== 0 || inputSize < 32) {
    throw new Error(`lrdif: TinyFaceDetector: inputSize must be a positive multiple of 32, got ${String(opts.inputSize)}`);
  }
  if (typeof scoreThreshold !== 'number' || !(scoreThreshold > 0 && scoreThreshold < 1)) {
    throw new Error(`lrdif: TinyFaceDetector: scoreThreshold must be a number between 0 and 1 (exclusive), got ${String(opts.scoreThreshold)}`);
  }
  return { inputSize, scoreThreshold };
}

function frozen(m: Module, name: string, data: Float32Array, shape: number[]): Tensor {
  const t = m.registerParameter(name, tensor(data, shape));
  t.requiresGrad = false;
  return t;
}

/** conv0: 3×3 'valid' convolution 3 → 16 (the bias is added in the pooling pass). */
class DetectorConv extends Module {
  readonly filters: Tensor;
  readonly bias: Tensor;
  constructor(src: FaceApiWeightSource, prefix: string, k: number, ci: number, co: number) {
    super();
    this.filters = frozen(this, 'filters', hwioToOihw(src.float32(`${prefix}/filters`, [k, k, ci, co]), k, k, ci, co), [co, ci, k, k]);
    this.bias = frozen(this, 'bias', src.float32(`${prefix}/bias`, [co]), [co]);
  }
  /** face-api's convLayer(x, params, 'valid'): convolution + bias. */
  forward(x: Tensor): Tensor {
    return conv2d(x, this.filters, this.bias, { padding: 'valid' });
  }
}

/** face-api's depthwiseSeparableConv without its bias and leaky: pad 1, depthwise 3×3, pointwise 1×1. */
class DetectorSeparableConv extends Module {
  readonly depthwise: Tensor;
  readonly pointwise: Tensor;
  readonly bias: Tensor;
  constructor(src: FaceApiWeightSource, prefix: string, ci: number, co: number) {
    super();
    this.depthwise = frozen(this, 'depthwise_filter', hwioToOihw(src.float32(`${prefix}/depthwise_filter`, [3, 3, ci, 1]), 3, 3, ci, 1), [ci, 1, 3, 3]);
    // [1, 1, ci, co] → [co, ci]: the pointwise weights as a matrix
    this.pointwise = frozen(this, 'pointwise_filter', hwioToOihw(src.float32(`${prefix}/pointwise_filter`, [1, 1, ci, co]), 1, 1, ci, co), [co, ci]);
    this.bias = frozen(this, 'bias', src.float32(`${prefix}/bias`, [co]), [co]);
  }
  /** pointwise · depthwise(x) as [N, O, H, W] (no bias). */
  product(x: Tensor): Tensor {
    return tidy(() => {
      const d = conv2d(x, this.depthwise, null, { padding: 1, groups: x.shape[1] });
      const [n, c, h, w] = d.shape;
      const m = matmul(this.pointwise, reshape(d, [n, c, h * w]));
      return reshape(m, [n, this.pointwise.shape[0], h, w]);
    });
  }
  /** face-api's depthwiseSeparableConv: leaky(pointwise · depthwise(pad(x, 1)) + bias). */
  forward(x: Tensor): Tensor {
    return tidy(() => leakyRelu(add(this.product(x), reshape(this.bias, [1, this.bias.shape[0], 1, 1])), 0.1));
  }
}

/** The tap table of one axis of face-api's detector input: a length-`len` axis padded after to `side`, resized to `out`. */
function paddedResizeTable(len: number, side: number, out: number): BilinearAxisTable {
  const i0 = new Int32Array(out);
  const i1 = new Int32Array(out);
  const frac = new Float64Array(out);
  const ratio = side / out;
  for (let o = 0; o < out; o++) {
    // TF's CPU resizeBilinear (alignCorners false, halfPixelCenters false), in float64
    const s = side === out ? o : ratio * o;
    const lo = Math.max(0, Math.floor(s));
    const hi = Math.min(side - 1, Math.ceil(s));
    i0[o] = lo < len ? lo : -1;
    i1[o] = hi < len ? hi : -1;
    frac[o] = s - lo;
  }
  return { i0, i1, frac };
}

/** face-api's computeReshapedDimensions: the photo scaled so its longer side is inputSize, rounded. */
function reshapedDimensions(width: number, height: number, inputSize: number): { width: number; height: number } {
  const scale = inputSize / Math.max(width, height);
  return { width: Math.round(width * scale), height: Math.round(height * scale) };
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** IoU of two boxes {x, y, width, height} (face-api's iou with isIOU = true). */
export function faceBoxIou(a: FaceBox, b: FaceBox): number {
  const w = Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/**
 * face-api's greedy non-maximum suppression (ops/nonMaxSuppression.ts): repeatedly pick the best
 * remaining box (ties: the later index) and drop the boxes whose IoU with it exceeds the
 * threshold. Returns the picked indices, best first.
 */
export function faceApiNonMaxSuppression(boxes: readonly FaceBox[], scores: readonly number[], iouThreshold: number): number[] {
  if (boxes.length !== scores.length) throw new Error(`lrdif: faceApiNonMaxSuppression: ${boxes.length} boxes but ${scores.length} scores`);
  // Array.prototype.sort is stable: equal scores keep their index order, and pop() takes the last
  let order = scores
    .map((score, i) => ({ score, i }))
    .sort((a, b) => a.score - b.score)
    .map((c) => c.i);
  const pick: number[] = [];
  while (order.length > 0) {
    const cur = order.pop()!;
    pick.push(cur);
    order = order.filter((i) => faceBoxIou(boxes[cur], boxes[i]) <= iouThreshold);
  }
  return pick;
}

/**
 * face-api's box decoding and NMS for one image: `raw` the network output [25, cells, cells]
 * (NCHW, as forward() returns it), the photo's size, the options. Detections best first.
 */
export function decodeTinyFaceDetections(raw: ArrayLike<number>, imageWidth: number, imageHeight: number, options: TinyFaceDetectorOptions = {}): FaceDetection[] {
  const { inputSize, scoreThreshold } = resolveTinyFaceDetectorOptions(options);
  const cells = inputSize / 32;
  const anchors = TINY_FACE_DETECTOR_ANCHORS;
  if (raw.length !== anchors.length * BOX_ENCODING * cells * cells) {
    throw new Error(`lrdif: decodeTinyFaceDetections: ${raw.length} values; inputSize ${inputSize} needs ${anchors.length * BOX_ENCODING}×${cells}×${cells}`);
  }
  const dims = reshapedDimensions(imageWidth, imageHeight, inputSize);
  const side = Math.max(dims.width, dims.height);
  const cx = side / dims.width;
  const cy = side / dims.height;
  const plane = cells * cells;
  const at = (a: number, k: number, row: number, col: number) => raw[(a * BOX_ENCODING + k) * plane + row * cells + col];
  const boxes: FaceBox[] = [];
  const scores: number[] = [];
  for (let row = 0; row < cells; row++) {
    for (let col = 0; col < cells; col++) {
      for (let a = 0; a < anchors.length; a++) {
        const score = sigmoid(at(a, 4, row, col));
        if (!(score > scoreThreshold)) continue;
        const ctX = ((col + sigmoid(at(a, 0, row, col))) / cells) * cx;
        const ctY = ((row + sigmoid(at(a, 1, row, col))) / cells) * cy;
        const w = ((Math.exp(at(a, 2, row, col)) * anchors[a].x) / cells) * cx;
        const h = ((Math.exp(at(a, 3, row, col)) * anchors[a].y) / cells) * cy;
        const x = ctX - w / 2;
        const y = ctY - h / 2;
        // face-api keeps the box as left/top/right/bottom (BoundingBox), so width = right − left
        boxes.push({ x, y, width: x + w - x, height: y + h - y });
        scores.push(score);
      }
    }
  }
  const scaled = boxes.map((b) => ({ x: b.x * inputSize, y: b.y * inputSize, width: b.width * inputSize, height: b.height * inputSize }));
  const picks = faceApiNonMaxSuppression(scaled, scores, TINY_FACE_DETECTOR_IOU_THRESHOLD);
  return picks.map((i) => {
    const r = boxes[i];
    return {
      score: scores[i],
      box: { x: r.x * imageWidth, y: r.y * imageHeight, width: r.width * imageWidth, height: r.height * imageHeight },
      relativeBox: { ...r },
      imageWidth,
      imageHeight,
    };
  });
}

export class TinyFaceDetector extends Module {
  readonly conv0: DetectorConv;
  readonly convs: DetectorSeparableConv[];
  readonly conv8: DetectorConv;

  /** From the weights of face-api's `tiny_face_detector_model` (conv0, conv1…conv5 separable, conv8). */
  constructor(src: FaceApiWeightSource) {
    super();
    this.conv0 = this.registerModule('conv0', new DetectorConv(src, 'conv0', 3, FILTERS[0], FILTERS[1]));
    this.convs = [];
    for (let i = 1; i <= 5; i++) this.convs.push(this.registerModule(`conv${i}`, new DetectorSeparableConv(src, `conv${i}`, FILTERS[i], FILTERS[i + 1])));
    this.conv8 = this.registerModule('conv8', new DetectorConv(src, 'conv8', 1, FILTERS[6], TINY_FACE_DETECTOR_ANCHORS.length * BOX_ENCODING));
    this.eval();
  }

  /**
   * The network on normalised inputs x [N, 3, S, S] (S a multiple of 32; what `input()` returns):
   * the raw output [N, 25, S/32, S/32]. Inference only. `fused` (default true) runs each
   * "+ bias, leaky, max pool" as one pass; `{ fused: false }` follows face-api's code op by op
   * (convLayer, leaky, maxPool, depthwiseSeparableConv) on the engine's separate ops.
   */
  forward(x: Tensor, opts: { fused?: boolean } = {}): Tensor {
    if (x.rank !== 4 || x.shape[1] !== 3 || x.shape[2] !== x.shape[3] || x.shape[2] % 32 !== 0 || x.shape[2] < 32) {
      throw new Error(`lrdif: TinyFaceDetector: input must be [N, 3, S, S] with S a positive multiple of 32, got ${x.describe()}`);
    }
    const fused = opts.fused ?? true;
    return noGrad(() =>
      tidy(() => {
        let h: Tensor;
        if (fused) {
          h = maxPool2dBiasLeaky(conv2d(x, this.conv0.filters, null, { padding: 'valid' }), this.conv0.bias, 2, 2, 'same');
          this.convs.forEach((c, i) => {
            h = maxPool2dBiasLeaky(c.product(h), c.bias, 2, i === 4 ? 1 : 2, 'same');
          });
        } else {
          h = maxPool2d(leakyRelu(this.conv0.forward(x), 0.1), 2, 2, 'same');
          this.convs.forEach((c, i) => {
            h = maxPool2d(c.forward(h), 2, i === 4 ? 1 : 2, 'same');
          });
        }
        return this.conv8.forward(h);
      }),
    );
  }

  /**
   * face-api's detector input for image `index` of `photo` (padded after to a square, TF legacy
   * bilinear resize to inputSize, (x − mean) / 255): [1, 3, inputSize, inputSize].
   */
  input(photo: RgbImageBuffer, inputSize = 416, index = 0): Tensor {
    resolveTinyFaceDetectorOptions({ inputSize });
    const side = Math.max(photo.width, photo.height);
    const table = { rows: paddedResizeTable(photo.height, side, inputSize), cols: paddedResizeTable(photo.width, side, inputSize) };
    return resampleBilinearTables(photo, [table], { sources: [index], bias: TINY_FACE_DETECTOR_MEAN_RGB.map((m) => -m / 255) });
  }

  /** Raw output [25, S/32, S/32] of one photo, read back. */
  async run(photo: RgbImageBuffer, inputSize = 416, index = 0): Promise<Float32Array> {
    const x = this.input(photo, inputSize, index);
    const y = this.forward(x);
    x.dispose();
    const v = (await y.data()) as Float32Array;
    y.dispose();
    return v;
  }

  /** face-api's TinyFaceDetector.locateFaces: the faces in a photo, best first. */
  async detect(photo: RgbImage | RgbImageBuffer, options: TinyFaceDetectorOptions & { index?: number } = {}): Promise<FaceDetection[]> {
    const opts = resolveTinyFaceDetectorOptions(options);
    const buf = photo instanceof RgbImageBuffer ? photo : RgbImageBuffer.upload([photo]);
    try {
      const raw = await this.run(buf, opts.inputSize, options.index ?? 0);
      return decodeTinyFaceDetections(raw, buf.width, buf.height, opts);
    } finally {
      if (buf !== photo) buf.dispose();
    }
  }
}
