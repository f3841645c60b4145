/** Node image codecs: JPEG (jpeg-js) and PNG (fast-png), both pure JavaScript. */
import { readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import jpeg from 'jpeg-js';
import { decode as decodePngRaw, encode as encodePngRaw } from 'fast-png';
import { ImageError, checkImage, type RgbImage } from './image.js';

function sniff(bytes: Uint8Array): 'jpeg' | 'png' | null {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  return null;
}

/** Decodes JPEG or PNG bytes (any bit depth, grey, alpha or palette) to 8-bit RGB. */
export function decodeImage(bytes: Uint8Array, name = 'image'): RgbImage {
  const kind = sniff(bytes);
  if (!kind) throw new ImageError(`lrdif: ${name}: not a JPEG or PNG file (unrecognised signature)`);
  try {
    if (kind === 'jpeg') {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 1024 });
      const data = img.data as Uint8Array;
      if (data.length === img.width * img.height * 3) return { width: img.width, height: img.height, data };
      throw new Error(`decoder returned ${data.length} bytes for ${img.width}×${img.height}`);
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

export function readImageFile(path: string): RgbImage {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new ImageError(`lrdif: cannot read image ${path}: ${(e as Error).message}`);
  }
  return decodeImage(bytes, path);
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
