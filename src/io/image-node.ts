/**
 * Node image codecs: JPEG (jpeg-js) and PNG (fast-png), both pure JavaScript. Decoded pixels are
 * turned as their EXIF orientation says (exif.ts), as browsers show them.
 *
 * Size limits: jpeg-js keeps every DCT block of the whole image (one Int32Array per 8×8 block),
 * so a JPEG's decoding memory grows with its pixels: about 340 MB RSS for a 12-megapixel photo
 * and 960 MB for 48 megapixels (4:2:0). Images up to MAX_DECODE_MEGAPIXELS are read (jpeg-js
 * counting at most JPEG_MEMORY_MB); larger ones are an error naming the file and the size.
 */
import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import jpeg from 'jpeg-js';
import { decode as decodePngRaw, encode as encodePngRaw } from 'fast-png';
import { ImageError, checkImage, downscaleImage, fitSide, orientImage, type RgbImage } from './image.js';
import { exifOrientation } from './exif.js';

/** The largest image decodeImage reads, in megapixels (jpeg-js's own default limit). */
export const MAX_DECODE_MEGAPIXELS = 100;
/**
 * jpeg-js's memory limit, by its own count (DCT blocks, component rows, the output): enough for
 * a 100-megapixel JPEG without chroma subsampling (4:4:4, ~1.8 GB by that count; 4:2:0 ~1.05 GB).
 */
const JPEG_MEMORY_MB = 2048;

function sniff(bytes: Uint8Array): 'jpeg' | 'png' | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  return null;
}

/** Width and height from a JPEG's frame header (SOFn), or null when none is found before the scan. */
function jpegFrameSize(b: Uint8Array): { width: number; height: number } | null {
  let o = 2;
  while (o + 9 <= b.length && b[o] === 0xff) {
    const m = b[o + 1];
    if (m === 0xff) {
      o++;
      continue;
    }
    if (m === 0xda || m === 0xd9) return null;
    const len = (b[o + 2] << 8) | b[o + 3];
    // SOF0…SOF15 except DHT (C4), JPG (C8) and DAC (CC)
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) return { height: (b[o + 5] << 8) | b[o + 6], width: (b[o + 7] << 8) | b[o + 8] };
    o += 2 + len;
  }
  return null;
}

function tooLarge(name: string, kind: string, width: number, height: number): ImageError {
  const mp = (width * height) / 1e6;
  return new ImageError(
    `lrdif: ${name}: the ${kind} is ${width}×${height} (${mp.toFixed(1)} megapixels), more than lrdif's decoder reads (${MAX_DECODE_MEGAPIXELS} megapixels); scale it down first`,
  );
}

export interface DecodeOptions {
  /** Turn the pixels as the EXIF orientation says (default true). */
  orient?: boolean;
}

/**
 * Decodes JPEG or PNG bytes (any bit depth, grey, alpha or palette) to 8-bit RGB, turned as the
 * file's EXIF orientation says (unless `orient: false`).
 */
export function decodeImage(bytes: Uint8Array, name = 'image', opts: DecodeOptions = {}): RgbImage {
  const img = decodeStored(bytes, name);
  if (opts.orient === false) return img;
  return orientImage(img, exifOrientation(bytes));
}

function decodeStored(bytes: Uint8Array, name: string): RgbImage {
  if (bytes.length === 0) throw new ImageError(`lrdif: ${name}: the file is empty (0 bytes); expected a JPEG or PNG image`);
  const kind = sniff(bytes);
  if (!kind) {
    const head = Array.from(bytes.subarray(0, 4), (v) => v.toString(16).padStart(2, '0')).join(' ');
    throw new ImageError(`lrdif: ${name}: not a JPEG or PNG file (unrecognised signature: it starts with ${head}${bytes.length > 4 ? ' …' : ''}, ${bytes.length} bytes)`);
  }
  try {
    if (kind === 'jpeg') {
      const size = jpegFrameSize(bytes);
      if (size && size.width * size.height > MAX_DECODE_MEGAPIXELS * 1e6) throw tooLarge(name, 'JPEG', size.width, size.height);
      let img: { width: number; height: number; data: Uint8Array | Buffer };
      try {
        img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxResolutionInMP: MAX_DECODE_MEGAPIXELS, maxMemoryUsageInMB: JPEG_MEMORY_MB });
      } catch (e) {
        const msg = (e as Error).message ?? '';
        if (size && /maxResolutionInMP/.test(msg)) throw tooLarge(name, 'JPEG', size.width, size.height);
        if (/maxMemoryUsageInMB|allocate enough memory/.test(msg)) {
          const dims = size ? `${size.width}×${size.height} ` : '';
          throw new ImageError(`lrdif: ${name}: decoding this ${dims}JPEG would take more memory than lrdif allows its decoder (${JPEG_MEMORY_MB} MB); scale it down first`);
        }
        throw e;
      }
      const data = img.data as Uint8Array;
      if (data.length === img.width * img.height * 3) return { width: img.width, height: img.height, data };
      throw new Error(`decoder returned ${data.length} bytes for ${img.width}×${img.height}`);
    }
    if (bytes.length >= 24) {
      // IHDR: width and height are the first fields of the first chunk
      const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const w = dv.getUint32(16);
      const h = dv.getUint32(20);
      if (w * h > MAX_DECODE_MEGAPIXELS * 1e6) throw tooLarge(name, 'PNG', w, h);
    }
    const png = decodePngRaw(bytes);
    const { width, height } = png;
    const ch = png.channels;
    const n = width * height;
    const out = new Uint8Array(n * 3);
    const src = png.data;
    const shift = png.depth === 16 ? 8 : 0;
    const maxv = (1 << png.depth) - 1;
    const to8 = (v: number) => (png.depth === 16 ? v >> shift : png.depth < 8 ? Math.round((v * 255) / maxv) : v);
    if (png.palette) {
      for (let i = 0; i < n; i++) {
        const e = png.palette[src[i]];
        out[3 * i] = e[0];
        out[3 * i + 1] = e[1];
        out[3 * i + 2] = e[2];
      }
    } else {
      for (let i = 0; i < n; i++) {
        if (ch >= 3) {
          out[3 * i] = to8(src[ch * i]);
          out[3 * i + 1] = to8(src[ch * i + 1]);
          out[3 * i + 2] = to8(src[ch * i + 2]);
        } else {
          const g = to8(src[ch * i]);
          out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = g;
        }
      }
    }
    return { width, height, data: out };
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(`lrdif: ${name}: corrupt or unsupported ${kind.toUpperCase()} (${(e as Error).message})`);
  }
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ImageError(`lrdif: cannot read image ${path}: ${(e as Error).message}`);
  }
}

/** Reads and decodes an image file (turned by its EXIF orientation). */
export function readImageFile(path: string): RgbImage {
  return decodeImage(readBytes(path), path);
}

export interface Photo {
  /** The photo as processed: upright, its longer side at most maxSide. */
  image: RgbImage;
  /** The upright photo's own size. */
  width: number;
  height: number;
  /** Photo pixels per processed pixel along x and y (1 when not scaled). */
  scaleX: number;
  scaleY: number;
  /** The full-size upright photo (with `keepOriginal`). */
  original?: RgbImage;
}

/**
 * A photo as the face tools read it: decoded, turned upright (EXIF) and scaled down on the CPU
 * (area average, downscaleImage) so that its longer side is at most `maxSide` (0: never) — before
 * any float copy of it exists. Coordinates found on `image` map to the photo by `scaleX`, `scaleY`.
 */
export function readPhotoFile(path: string, opts: { maxSide: number; keepOriginal?: boolean }): Photo {
  const full = readImageFile(path);
  const fit = fitSide(full.width, full.height, opts.maxSide);
  const image = downscaleImage(full, fit.width, fit.height);
  return { image, width: full.width, height: full.height, scaleX: full.width / image.width, scaleY: full.height / image.height, ...(opts.keepOriginal ? { original: full } : {}) };
}

export function encodePng(img: RgbImage): Uint8Array {
  checkImage(img);
  return encodePngRaw({ width: img.width, height: img.height, data: img.data, channels: 3, depth: 8 });
}

export function encodeJpeg(img: RgbImage, quality = 95): Uint8Array {
  checkImage(img);
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    rgba[4 * i] = img.data[3 * i];
    rgba[4 * i + 1] = img.data[3 * i + 1];
    rgba[4 * i + 2] = img.data[3 * i + 2];
    rgba[4 * i + 3] = 255;
  }
  return jpeg.encode({ width: img.width, height: img.height, data: rgba }, quality).data;
}

/** Writes a PNG or JPEG (by extension) atomically: temp file, then rename. */
export function writeImageFile(path: string, img: RgbImage): void {
  const bytes = /\.jpe?g$/i.test(path) ? encodeJpeg(img) : encodePng(img);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}
