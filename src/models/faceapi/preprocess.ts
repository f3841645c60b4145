/**
 * face-api's input pipeline (NetInput.toBatchTensor(112, true)) and its landmark decoding
 * (FaceLandmark68NetBase.postProcess), for face crops of any size.
 *
 * - Pad to a square with zeros (black), centred: the shorter axis gets ⌊d/2⌉ = round(d/2)
 *   zeros after the image and d − round(d/2) before it (d = |H − W|), as face-api's padToSquare.
 * - Resize to 112 × 112 (unless the square already is) with TF's legacy bilinear resize
 *   (tf.image.resizeBilinear, alignCorners false, halfPixelCenters false): output o samples the
 *   input at s = o·in/out, interpolating rows ⌊s⌋ and min(⌈s⌉, in − 1) with weights 1 − f and
 *   f (f = s − ⌊s⌋). Done as two matmuls with interpolation matrices built on the host.
 * - The nets' input is that square /255 (RGB in [0, 1]).
 *
 * Landmarks: the landmark net's 136 outputs are (x, y) pairs relative to the padded 112 square.
 * face-api maps them back with the image scaled so its longer side is 112 (w', h') and a padding
 * of |w' − h'|/2 on the shorter axis: rel = (out·112 − pad) / w' (resp. h'), then
 * position = rel · (image width, height) + shift (the crop's origin in a larger image).
 */
import { tensor, type Tensor } from '../../autograd/tensor.js';
import { tidy } from '../../autograd/engine.js';
import { imagesToTensor, checkImage, ImageError, type RgbImage } from '../../io/image.js';
import { pad, concat } from '../../kernels/layout.js';
import { matmul } from '../../kernels/matmul.js';
import { clone } from '../../kernels/elementwise.js';
import { FACEAPI_INPUT_SIZE } from './feature-extractor.js';

export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface FacePoint {
  x: number;
  y: number;
}

/** Copies the integer box `box` out of `img` (it must lie inside the image). */
export function cropRgbImage(img: RgbImage, box: FaceBox): RgbImage {
  checkImage(img, 'cropRgbImage');
  const { x, y, width: w, height: h } = box;
  if (![x, y, w, h].every(Number.isInteger) || w < 1 || h < 1 || x < 0 || y < 0 || x + w > img.width || y + h > img.height) {
    throw new ImageError(`lrdif: cropRgbImage: box {x: ${x}, y: ${y}, width: ${w}, height: ${h}} must be integers inside the ${img.width}×${img.height} image`);
  }
  const data = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) data.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3), r * w * 3);
  return { width: w, height: h, data };
}

/** TF's legacy bilinear resampling matrix [outLen, inLen] (alignCorners false, halfPixelCenters false). */
export function tfLegacyBilinearMatrix(inLen: number, outLen: number): Float32Array {
  const m = new Float32Array(outLen * inLen);
  const ratio = inLen / outLen;
  for (let o = 0; o < outLen; o++) {
    const s = ratio * o;
    const lo = Math.max(0, Math.floor(s));
    const f = s - lo;
    const hi = Math.min(inLen - 1, Math.ceil(s));
    m[o * inLen + lo] += 1 - f;
    m[o * inLen + hi] += f;
  }
  return m;
}

/** Rows added before/after on each axis by face-api's centred padToSquare: [[top, bottom], [left, right]]. */
export function faceApiSquarePadding(width: number, height: number): [[number, number], [number, number]] {
  const d = Math.abs(height - width);
  const after = Math.round(d * 0.5);
  const before = d - after;
  return height > width
    ? [
        [0, 0],
        [before, after],
      ]
    : [
        [before, after],
        [0, 0],
      ];
}

/** One image [1, 3, H, W] (any value range) padded to a square and resized to size × size as face-api does. */
export function faceApiPadResize(x: Tensor, size = FACEAPI_INPUT_SIZE): Tensor {
  if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`lrdif: faceApiPadResize: expected one image [1, 3, H, W] or a batch [N, 3, H, W], got ${x.describe()}`);
  return tidy(() => {
    const [, , h, w] = x.shape;
    const sq = h === w ? x : pad(x, faceApiSquarePadding(w, h));
    const s = Math.max(h, w);
    if (s === size) return h === w ? clone(x) : sq;
    const r = tensor(tfLegacyBilinearMatrix(s, size), [size, s]);
    // rows: R · X, then columns: (R · X) · Rᵀ
    const rows = matmul(r, sq);
    return matmul(rows, r, { transB: true });
  });
}

export interface FaceApiBatch {
  /** [N, 3, 112, 112], RGB in [0, 1]: what face-api's nets see, /255. */
  input: Tensor;
  /** Each image's size, for decoding landmarks. */
  dims: Array<{ width: number; height: number }>;
}

/** face-api's NetInput for a list of RGB face crops of any sizes. Dispose `input` when done. */
export function faceApiInput(images: readonly RgbImage[], size = FACEAPI_INPUT_SIZE): FaceApiBatch {
  if (images.length === 0) throw new ImageError('lrdif: faceApiInput: no images given');
  images.forEach((im, i) => checkImage(im, `faceApiInput image ${i}`));
  const input = tidy(() => {
    const parts = images.map((im) => {
      const x = imagesToTensor([im]);
      return faceApiPadResize(x, size);
    });
    return parts.length === 1 ? parts[0] : concat(parts, 0);
  });
  return { input, dims: images.map((im) => ({ width: im.width, height: im.height })) };
}

export interface FaceLandmarks68 {
  /** 68 points in the input image's pixels (plus the shift). */
  positions: FacePoint[];
  /** 68 points relative to the input image (0..1 inside it). */
  relativePositions: FacePoint[];
  imageWidth: number;
  imageHeight: number;
  shift: FacePoint;
}

/** face-api's landmark decoding of raw outputs [N·136] for inputs of the given sizes. */
export function decodeFaceLandmarks(
  raw: ArrayLike<number>,
  dims: ReadonlyArray<{ width: number; height: number }>,
  opts: { inputSize?: number; shifts?: readonly FacePoint[] } = {},
): FaceLandmarks68[] {
  const size = opts.inputSize ?? FACEAPI_INPUT_SIZE;
  if (raw.length !== dims.length * 136) throw new Error(`lrdif: decodeFaceLandmarks: ${raw.length} values for ${dims.length} image(s); expected 136 per image`);
  if (opts.shifts && opts.shifts.length !== dims.length) throw new Error(`lrdif: decodeFaceLandmarks: ${opts.shifts.length} shifts for ${dims.length} image(s)`);
  return dims.map(({ width, height }, n) => {
    const scale = size / Math.max(width, height);
    const w = width * scale;
    const h = height * scale;
    const padX = w < h ? Math.abs(w - h) / 2 : 0;
    const padY = h < w ? Math.abs(w - h) / 2 : 0;
    const shift = opts.shifts ? { ...opts.shifts[n] } : { x: 0, y: 0 };
    const rel: FacePoint[] = [];
    const pos: FacePoint[] = [];
    for (let i = 0; i < 68; i++) {
      const rx = (raw[n * 136 + 2 * i] * size - padX) / w;
      const ry = (raw[n * 136 + 2 * i + 1] * size - padY) / h;
      rel.push({ x: rx, y: ry });
      pos.push({ x: rx * width + shift.x, y: ry * height + shift.y });
    }
    return { positions: pos, relativePositions: rel, imageWidth: width, imageHeight: height, shift };
  });
}
