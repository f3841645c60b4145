/**
 * Annotating photos on the CPU: rectangles for face boxes and dots for landmarks, drawn into a
 * copy of an 8-bit RGB image (plain rasterisation: axis-aligned outlines clipped to the image,
 * filled discs).
 */
import { checkImage, type RgbImage } from '../../io/image.js';
import type { FaceBox, FacePoint } from './preprocess.js';

export type DrawColor = readonly [number, number, number];

export interface DrawFacesOptions {
  /** Box colour (default green). */
  boxColor?: DrawColor;
  /** Landmark colour (default red). */
  pointColor?: DrawColor;
  /** Box outline thickness in pixels (default: ~1/400 of the longer side, at least 2). */
  lineWidth?: number;
  /** Landmark dot radius in pixels (default: ~1/500 of the longer side, at least 1). */
  pointRadius?: number;
}

function put(img: RgbImage, x: number, y: number, c: DrawColor): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const i = (y * img.width + x) * 3;
  img.data[i] = c[0];
  img.data[i + 1] = c[1];
  img.data[i + 2] = c[2];
}

/** Fills pixels [x0, x1) × [y0, y1), clipped to the image. */
function fillRect(img: RgbImage, x0: number, y0: number, x1: number, y1: number, c: DrawColor): void {
  const xa = Math.max(0, Math.floor(x0));
  const xb = Math.min(img.width, Math.ceil(x1));
  const ya = Math.max(0, Math.floor(y0));
  const yb = Math.min(img.height, Math.ceil(y1));
  for (let y = ya; y < yb; y++) for (let x = xa; x < xb; x++) put(img, x, y, c);
}

/** Draws the outline of `box` (continuous pixel coordinates), `width` pixels thick inside it. */
export function drawBox(img: RgbImage, box: FaceBox, color: DrawColor, width = 2): void {
  const x0 = Math.round(box.x);
  const y0 = Math.round(box.y);
  const x1 = Math.round(box.x + box.width);
  const y1 = Math.round(box.y + box.height);
  const t = Math.max(1, Math.round(width));
  fillRect(img, x0, y0, x1, y0 + t, color);
  fillRect(img, x0, y1 - t, x1, y1, color);
  fillRect(img, x0, y0, x0 + t, y1, color);
  fillRect(img, x1 - t, y0, x1, y1, color);
}

/** Draws a filled disc centred on `p` (continuous pixel coordinates: pixel centres at +½). */
export function drawPoint(img: RgbImage, p: FacePoint, color: DrawColor, radius = 1): void {
  const r = Math.max(0.5, radius);
  const cx = p.x - 0.5;
  const cy = p.y - 0.5;
  for (let y = Math.floor(cy - r); y <= Math.ceil(cy + r); y++) {
    for (let x = Math.floor(cx - r); x <= Math.ceil(cx + r); x++) {
      if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) put(img, x, y, color);
    }
  }
}

/** A copy of `img` with each face's box and landmarks drawn. */
export function drawFaces(img: RgbImage, faces: ReadonlyArray<{ box: FaceBox; landmarks?: readonly FacePoint[] }>, opts: DrawFacesOptions = {}): RgbImage {
  checkImage(img, 'drawFaces');
  const out: RgbImage = { width: img.width, height: img.height, data: Uint8Array.from(img.data) };
  const long = Math.max(img.width, img.height);
  const lineWidth = opts.lineWidth ?? Math.max(2, Math.round(long / 400));
  const radius = opts.pointRadius ?? Math.max(1, Math.round(long / 500));
  for (const f of faces) {
    drawBox(out, f.box, opts.boxColor ?? [0, 255, 0], lineWidth);
    for (const p of f.landmarks ?? []) drawPoint(out, p, opts.pointColor ?? [255, 0, 0], radius);
  }
  return out;
}
