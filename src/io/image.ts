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
  const per = width * height * 3;
  const packed = new Uint8Array(Math.ceil((per * images.length) / 4) * 4);
  images.forEach((im, i) => packed.set(im.data, i * per));
  const raw = empty([packed.length / 4], 'i32', ctx);
  ctx.upload(raw.buffer, new Uint32Array(packed.buffer));
  const out = empty([images.length, 3, height, width], 'f32', ctx);
  const mean = opts.mean ?? [0, 0, 0];
  const std = opts.std ?? [1, 1, 1];
  ctx.dispatch({ shader: 'image_to_tensor' }, {
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
  });
  raw.dispose();
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
