/**
 * Browser image decoding with the browser's own decoder (createImageBitmap + OffscreenCanvas).
 * The pixels are turned as the file's EXIF orientation says (`imageOrientation: 'from-image'`,
 * asked for explicitly: older browsers defaulted to the stored pixels), as Node's decodeImage does.
 */
import { ImageError, fitSide, rgbaToRgb, type RgbImage } from './image.js';

export interface BrowserDecodeOptions {
  /** Scale (never up) so the longer side is at most this many pixels, in the browser's resampler (default: keep the size). */
  maxSide?: number;
}

export async function decodeImageBrowser(source: Blob | ImageBitmapSource, name = 'image', opts: BrowserDecodeOptions = {}): Promise<RgbImage> {
  if (typeof Blob !== 'undefined' && source instanceof Blob && source.size === 0) {
    throw new ImageError(`lrdif: ${name}: the file is empty (0 bytes); expected a JPEG or PNG image`);
  }
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(source as ImageBitmapSource, { imageOrientation: 'from-image' });
  } catch (e) {
    throw new ImageError(`lrdif: ${name}: the browser could not decode it (${(e as Error).message})`);
  }
  const { width, height } = fitSide(bmp.width, bmp.height, opts.maxSide ?? 0);
  const canvas = new OffscreenCanvas(width, height);
  const g = canvas.getContext('2d');
  if (!g) throw new ImageError('lrdif: no 2D canvas context available to read pixels');
  g.imageSmoothingQuality = 'high';
  g.drawImage(bmp, 0, 0, width, height);
  const { data } = g.getImageData(0, 0, width, height);
  const out = rgbaToRgb(data, width, height);
  bmp.close();
  return out;
}
