/**
 * Images on the host and their upload to the GPU. Decoding is platform-specific
 * (`image-node.ts`: jpeg-js and fast-png; `image-browser.ts`: the browser's own decoder);
 * this file holds what both share.
 */
import { empty, type Tensor } from '../autograd/tensor.js';
import { engine } from '../autograd/engine.js';

/** 8-bit RGB, row-major, interleaved (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

export function checkImage(img: RgbImage, what = 'image'): void {
  if (!Number.isInteger(img.width) || !Number.isInteger(img.height) || img.width <= 0 || img.height <= 0) {
    throw new ImageError(`lrdif: ${what}: invalid size ${img.width}×${img.height}`);
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new ImageError(`lrdif: ${what}: ${img.data.length} bytes do not hold ${img.width}×${img.height} RGB pixels (${img.width * img.height * 3} expected)`);
  }
}

/** Drops the alpha channel of RGBA pixels. */
export function rgbaToRgb(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): RgbImage {
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[3 * i] = rgba[4 * i];
    data[3 * i + 1] = rgba[4 * i + 1];
    data[3 * i + 2] = rgba[4 * i + 2];
  }
  return { width, height, data };
}

/**
 * The pixels as they are meant to be seen: EXIF orientation `o` (1…8, exif.ts) applied to the
 * stored pixels. 2 mirrors left–right, 3 turns 180°, 4 mirrors top–bottom, 5 transposes
 * (mirror, then 270° clockwise), 6 turns 90° clockwise (a phone held upright), 7 mirrors then
 * turns 90° clockwise, 8 turns 270° clockwise. 5…8 swap width and height. 1 returns `img` itself.
 */
export function orientImage(img: RgbImage, o: number): RgbImage {
  if (!Number.isInteger(o) || o < 1 || o > 8) throw new ImageError(`lrdif: orientImage: orientation must be an integer 1…8 (EXIF tag 0x0112), got ${o}`);
  if (o === 1) return img;
  const W = img.width;
  const H = img.height;
  const swap = o >= 5;
  const w = swap ? H : W;
  const h = swap ? W : H;
  const src = img.data;
  const out = new Uint8Array(src.length);
  // source pixel of display pixel (x, y) is sx = ax + bx·x + cx·y, sy = ay + by·x + cy·y
  const [ax, bx, cx, ay, by, cy] = (
    {
      2: [W - 1, -1, 0, 0, 0, 1],
      3: [W - 1, -1, 0, H - 1, 0, -1],
      4: [0, 1, 0, H - 1, 0, -1],
      5: [0, 0, 1, 0, 1, 0],
      6: [0, 0, 1, H - 1, -1, 0],
      7: [W - 1, 0, -1, H - 1, -1, 0],
      8: [W - 1, 0, -1, 0, 1, 0],
    } as Record<number, number[]>
  )[o];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = 3 * ((ay + by * x + cy * y) * W + ax + bx * x + cx * y);
      const d = 3 * (y * w + x);
      out[d] = src[s];
      out[d + 1] = src[s + 1];
      out[d + 2] = src[s + 2];
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * The most pixels of an image whose f32 tensor [1, 3, H, W] fits in 128 MiB, WebGPU's default
 * maxStorageBufferBindingSize (every adapter allows at least that much per binding).
 */
export const MAX_TENSOR_PIXELS = Math.floor((128 * 2 ** 20) / 12);

/**
 * The longer side photos are scaled down to before the face tools (lrdif faces, lrdif predict)
 * look at them: a 12-megapixel phone photo is 4000 pixels wide and would not fit the GPU as one
 * f32 tensor; the face detector itself looks at 416 pixels.
 */
export const PHOTO_MAX_SIDE = 2048;

/** The size of a width × height image scaled (never up) so that its longer side is at most maxSide. */
export function fitSide(width: number, height: number, maxSide: number): { width: number; height: number } {
  const side = Math.max(width, height);
  if (!(maxSide > 0) || side <= maxSide) return { width, height };
  return { width: Math.max(1, Math.round((width * maxSide) / side)), height: Math.max(1, Math.round((height * maxSide) / side)) };
}

/** The size of a width × height image scaled (never up) so that it has at most maxPixels pixels. */
export function fitPixels(width: number, height: number, maxPixels: number): { width: number; height: number } {
  if (width * height <= maxPixels) return { width, height };
  const f = Math.sqrt(maxPixels / (width * height));
  return { width: Math.max(1, Math.floor(width * f)), height: Math.max(1, Math.floor(height * f)) };
}

/**
 * Downscales 8-bit RGB on the CPU by area averaging: output pixel (x, y) is the mean of the
 * source area [x·W/w, (x+1)·W/w) × [y·H/h, (y+1)·H/h), partly covered source pixels weighted by
 * their coverage, rounded to 8 bits. Memory: the output and one row of accumulators, so a large
 * photo is reduced before any float copy of it exists. Returns `img` itself when the size is
 * unchanged; upscaling is an error.
 */
export function downscaleImage(img: RgbImage, width: number, height: number): RgbImage {
  checkImage(img, 'downscaleImage');
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > img.width || height > img.height) {
    throw new ImageError(`lrdif: downscaleImage: cannot scale ${img.width}×${img.height} to ${width}×${height} (expected a size from 1×1 to the image's own)`);
  }
  if (width === img.width && height === img.height) return img;
  const W = img.width;
  const H = img.height;
  const src = img.data;
  // one axis's taps: output i covers source [i·r, (i+1)·r)
  const taps = (n: number, N: number) => {
    const r = N / n;
    const start = new Int32Array(n);
    const count = new Int32Array(n);
    const weights: number[] = [];
    const offset = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const a = i * r;
      const b = Math.min(N, (i + 1) * r);
      const s0 = Math.floor(a);
      const s1 = Math.min(N, Math.ceil(b));
      start[i] = s0;
      count[i] = s1 - s0;
      offset[i] = weights.length;
      for (let s = s0; s < s1; s++) weights.push(Math.min(b, s + 1) - Math.max(a, s));
    }
    return { start, count, offset, weights: Float64Array.from(weights), area: r };
  };
  const tx = taps(width, W);
  const ty = taps(height, H);
  const out = new Uint8Array(width * height * 3);
  const row = new Float64Array(width * 3);
  const acc = new Float64Array(width * 3);
  const norm = 1 / (tx.area * ty.area);
  for (let y = 0; y < height; y++) {
    acc.fill(0);
    for (let k = 0; k < ty.count[y]; k++) {
      const sy = ty.start[y] + k;
      const wy = ty.weights[ty.offset[y] + k];
      const base = sy * W * 3;
      for (let x = 0; x < width; x++) {
        let r = 0;
        let g = 0;
        let b = 0;
        for (let j = 0; j < tx.count[x]; j++) {
          const wx = tx.weights[tx.offset[x] + j];
          const s = base + 3 * (tx.start[x] + j);
          r += wx * src[s];
          g += wx * src[s + 1];
          b += wx * src[s + 2];
        }
        row[3 * x] = r;
        row[3 * x + 1] = g;
        row[3 * x + 2] = b;
      }
      for (let i = 0; i < row.length; i++) acc[i] += wy * row[i];
    }
    const o = y * width * 3;
    for (let i = 0; i < acc.length; i++) {
      const v = Math.round(acc[i] * norm);
      out[o + i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height, data: out };
}

export interface ToTensorOptions {
  /** Multiplier applied to the 0..255 bytes first (default 1/255). */
  scale?: number;
  /** Per-channel mean subtracted after scaling (default 0). */
  mean?: readonly [number, number, number];
  /** Per-channel std divided by (default 1). */
  std?: readonly [number, number, number];
}

/** Uploads same-sized images as one f32 tensor [N, 3, H, W], normalised on the GPU. */
export function imagesToTensor(images: readonly RgbImage[], opts: ToTensorOptions = {}): Tensor {
  if (images.length === 0) throw new ImageError('lrdif: imagesToTensor: no images given');
  const { width, height } = images[0];
  images.forEach((im, i) => {
    checkImage(im, `image ${i}`);
    if (im.width !== width || im.height !== height) {
      throw new ImageError(`lrdif: imagesToTensor: image ${i} is ${im.width}×${im.height}, image 0 is ${width}×${height}; resize them to one size first`);
    }
  });
  const ctx = engine.ctx;
  const floatBytes = images.length * 3 * height * width * 4;
  const limit = ctx.limits.maxStorageBufferBindingSize;
  if (floatBytes > limit) {
    throw new ImageError(
      `lrdif: imagesToTensor: ${images.length} image(s) of ${width}×${height} make an f32 tensor [${images.length}, 3, ${height}, ${width}] of ${floatBytes.toLocaleString('en')} bytes, ` +
        `more than this device binds at once (maxStorageBufferBindingSize ${limit.toLocaleString('en')} bytes); scale the images down first (downscaleImage) or upload fewer at once`,
    );
  }
  const per = width * height * 3;
  const packed = new Uint8Array(Math.ceil((per * images.length) / 4) * 4);
  images.forEach((im, i) => packed.set(im.data, i * per));
  const raw = empty([packed.length / 4], 'i32', ctx);
  const out = empty([images.length, 3, height, width], 'f32', ctx);
  try {
    ctx.upload(raw.buffer, new Uint32Array(packed.buffer));
    const mean = opts.mean ?? [0, 0, 0];
    const std = opts.std ?? [1, 1, 1];
    ctx.dispatch(
      { shader: 'image_to_tensor' },
      {
        bindings: { bytes: raw.buffer, out: out.buffer },
        uniforms: {
          n: images.length,
          h: height,
          w: width,
          scale: opts.scale ?? 1 / 255,
          mean: [...mean, 0],
          inv_std: [1 / std[0], 1 / std[1], 1 / std[2], 0],
        },
        workgroups: ctx.grid(Math.ceil(out.size / 256)),
      },
    );
  } catch (e) {
    out.dispose();
    throw e;
  } finally {
    raw.dispose();
  }
  return out;
}

/** Float NCHW data in [0, 1] (one image, C = 3) back to 8-bit RGB, rounding and clamping. */
export function chwToImage(data: Float32Array, width: number, height: number): RgbImage {
  const hw = width * height;
  if (data.length < 3 * hw) throw new ImageError(`lrdif: chwToImage: ${data.length} values cannot hold 3×${height}×${width}`);
  const out = new Uint8Array(hw * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < hw; i++) {
      const v = Math.round(data[c * hw + i] * 255);
      out[3 * i + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height, data: out };
}
