/** Browser image decoding with the browser's own decoder (createImageBitmap + OffscreenCanvas). */
import { ImageError, rgbaToRgb, type RgbImage } from './image.js';

export async function decodeImageBrowser(source: Blob | ImageBitmapSource, name = 'image'): Promise<RgbImage> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(source as ImageBitmapSource);
  } catch (e) {
    throw new ImageError(`lrdif: ${name}: the browser could not decode it (${(e as Error).message})`);
  }
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const g = canvas.getContext('2d');
  if (!g) throw new ImageError('lrdif: no 2D canvas context available to read pixels');
  g.drawImage(bmp, 0, 0);
  const { data } = g.getImageData(0, 0, bmp.width, bmp.height);
  const out = rgbaToRgb(data, bmp.width, bmp.height);
  bmp.close();
  return out;
}
