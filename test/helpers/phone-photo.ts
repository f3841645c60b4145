/**
 * A phone photo for tests: a picture doubled (each pixel 2×2) on a grey 4000×3000 canvas — 12
 * megapixels, too large for one f32 tensor on a 128 MiB binding — stored as phones store a photo
 * taken held upright: turned a quarter counter-clockwise and tagged with EXIF orientation 6.
 */
import { orientImage, type RgbImage } from '../../src/io/image.js';
import { encodeJpeg } from '../../src/io/image-node.js';
import { tiffWithOrientation, withExifJpeg } from './exif.js';

export const PHONE = { width: 4000, height: 3000, offset: [80, 220] as const };

export function phonePhotoJpeg(small: RgbImage, quality = 90): Uint8Array {
  const { width: W, height: H } = PHONE;
  const [ox, oy] = PHONE.offset;
  if (2 * small.width + ox > W || 2 * small.height + oy > H) throw new Error(`phonePhotoJpeg: ${small.width}×${small.height} doubled does not fit the canvas`);
  const upright = new Uint8Array(W * H * 3).fill(128);
  for (let y = 0; y < 2 * small.height; y++) {
    for (let x = 0; x < 2 * small.width; x++) {
      const s = 3 * ((y >> 1) * small.width + (x >> 1));
      upright.set(small.data.subarray(s, s + 3), 3 * ((y + oy) * W + x + ox));
    }
  }
  const stored = orientImage({ width: W, height: H, data: upright }, 8);
  return withExifJpeg(encodeJpeg(stored, quality), tiffWithOrientation(6, false));
}
