/**
 * Face crop-and-align for LRDif: from the 68 landmarks of a face in a photo to an upright,
 * scaled face image [1, 3, size, size] (size 112 by default, LRDif's input) in [0, 1].
 *
 * The rule:
 * 1. Eye centres: L = mean of landmarks 36–41, R = mean of landmarks 42–47 (the eye on the
 *    image's left and right in face-api's 68-point scheme). Roll θ = atan2(R.y − L.y, R.x − L.x).
 * 2. Rotate the 68 landmarks by −θ about the eyes' midpoint: in that frame the eyes are level.
 * 3. Their bounding box there, padded by 20 % of its width and height (10 % on each side: the
 *    same margin as face-api's alignedRect, minBbox padded by 0.2 · size, which is the crop
 *    face-api's expression net reads), then made square by its longer side, centred on the box.
 * 4. That square, rotated back by θ into the photo, is resampled onto the size × size output
 *    (bilinear, shaders/affine_warp.wgsl; parts outside the photo are black).
 *
 * Coordinates are continuous pixel coordinates (face-api's: the photo spans [0, W] × [0, H],
 * pixel (i, j) covers [j, j + 1) × [i, i + 1)); the aligned image spans [0, size]².
 * `toAligned` maps photo → aligned coordinates, `toPhoto` the reverse, both as row-major 2×3
 * matrices [a, b, c, d, e, f]: (x, y) ↦ (a·x + b·y + c, d·x + e·y + f).
 */
import type { Tensor } from '../../autograd/tensor.js';
import { affineWarp, RgbImageBuffer } from '../../kernels/affine-warp.js';
import type { FacePoint } from './preprocess.js';

/** LRDif's input side. */
export const ALIGNED_FACE_SIZE = 112;
/** Bounding-box padding (fraction of the box's size, split between both sides), as face-api's alignedRect. */
export const ALIGN_MARGIN = 0.2;

export interface FaceAlignTransform {
  /** Photo → aligned image coordinates (row-major 2×3). */
  toAligned: [number, number, number, number, number, number];
  /** Aligned image → photo coordinates (row-major 2×3). */
  toPhoto: [number, number, number, number, number, number];
  /** The roll removed, in radians (positive: the right eye was lower in the image). */
  angle: number;
  /** Photo pixels per aligned pixel. */
  scale: number;
  /** The aligned square's centre in the photo. */
  center: FacePoint;
  /** Output side. */
  size: number;
}

export interface AlignedFace {
  /** [1, 3, size, size] RGB in [0, 1]. Dispose when done. */
  face: Tensor;
  transform: FaceAlignTransform;
  /** The 68 landmarks in the aligned image's coordinates. */
  landmarks: FacePoint[];
}

export interface AlignOptions {
  /** Output side (default 112). */
  size?: number;
  /** Bounding-box padding fraction (default 0.2). */
  margin?: number;
}

function mean(points: readonly FacePoint[], from: number, to: number): FacePoint {
  let x = 0;
  let y = 0;
  for (let i = from; i < to; i++) {
    x += points[i].x;
    y += points[i].y;
  }
  return { x: x / (to - from), y: y / (to - from) };
}

/** Maps a point with a row-major 2×3 matrix. */
export function applyAffine(m: readonly number[], p: FacePoint): FacePoint {
  return { x: m[0] * p.x + m[1] * p.y + m[2], y: m[3] * p.x + m[4] * p.y + m[5] };
}

/** The alignment transform of a face from its 68 landmarks (photo coordinates); see the file comment. */
export function faceAlignTransform(landmarks: readonly FacePoint[], opts: AlignOptions = {}): FaceAlignTransform {
  const size = opts.size ?? ALIGNED_FACE_SIZE;
  const margin = opts.margin ?? ALIGN_MARGIN;
  if (!Number.isInteger(size) || size < 1) throw new Error(`lrdif: faceAlignTransform: size must be a positive integer, got ${size}`);
  if (!(margin >= 0) || !Number.isFinite(margin)) throw new Error(`lrdif: faceAlignTransform: margin must be a finite number ≥ 0, got ${margin}`);
  if (landmarks.length !== 68) throw new Error(`lrdif: faceAlignTransform: expected the 68 face landmarks, got ${landmarks.length} points`);
  landmarks.forEach((p, i) => {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) throw new Error(`lrdif: faceAlignTransform: landmark ${i} is not finite (${p.x}, ${p.y})`);
  });
  const l = mean(landmarks, 36, 42);
  const r = mean(landmarks, 42, 48);
  const angle = Math.atan2(r.y - l.y, r.x - l.x);
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  const mid = { x: (l.x + r.x) / 2, y: (l.y + r.y) / 2 };
  // the landmarks in the level frame (rotated by −θ about the eyes' midpoint)
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  for (const p of landmarks) {
    const dx = p.x - mid.x;
    const dy = p.y - mid.y;
    const u = cos * dx + sin * dy;
    const v = -sin * dx + cos * dy;
    x0 = Math.min(x0, u);
    x1 = Math.max(x1, u);
    y0 = Math.min(y0, v);
    y1 = Math.max(y1, v);
  }
  const side = Math.max(x1 - x0, y1 - y0) * (1 + margin);
  if (!(side > 0)) throw new Error('lrdif: faceAlignTransform: the landmarks span no area (all points coincide)');
  const cu = (x0 + x1) / 2;
  const cv = (y0 + y1) / 2;
  const center = { x: mid.x + cos * cu - sin * cv, y: mid.y + sin * cu + cos * cv };
  const scale = side / size;
  // aligned (a, b) → photo: center + scale · R(θ) · ((a, b) − size/2)
  const h = size / 2;
  const toPhoto: FaceAlignTransform['toPhoto'] = [
    scale * cos,
    -scale * sin,
    center.x - scale * cos * h + scale * sin * h,
    scale * sin,
    scale * cos,
    center.y - scale * sin * h - scale * cos * h,
  ];
  // inverse: (a, b) = size/2 + R(−θ) · (p − center) / scale
  const toAligned: FaceAlignTransform['toAligned'] = [
    cos / scale,
    sin / scale,
    h - (cos * center.x + sin * center.y) / scale,
    -sin / scale,
    cos / scale,
    h - (-sin * center.x + cos * center.y) / scale,
  ];
  return { toAligned, toPhoto, angle, scale, center, size };
}

/**
 * The sampling matrix of affineWarp (output pixel index → photo pixel index) for a transform:
 * output pixel (i, j) has its centre at (j + ½, i + ½); photo pixel indices are coordinates − ½.
 */
export function alignWarpMatrix(t: FaceAlignTransform): number[] {
  const [a, b, c, d, e, f] = t.toPhoto;
  return [a, b, c + 0.5 * (a + b) - 0.5, d, e, f + 0.5 * (d + e) - 0.5];
}

/**
 * Aligned faces [F, 3, size, size] in [0, 1] from one photo (an RgbImageBuffer, image `index`)
 * and each face's 68 landmarks, in one warp. Dispose the returned tensor when done.
 */
export function alignFaces(
  photo: RgbImageBuffer,
  faces: ReadonlyArray<readonly FacePoint[]>,
  opts: AlignOptions & { index?: number } = {},
): { faces: Tensor; transforms: FaceAlignTransform[] } {
  if (faces.length === 0) throw new Error('lrdif: alignFaces: no faces given');
  const transforms = faces.map((lm) => faceAlignTransform(lm, opts));
  const m = transforms.flatMap(alignWarpMatrix);
  const size = transforms[0].size;
  const out = affineWarp(photo, m, size, size, { sources: faces.map(() => opts.index ?? 0) });
  return { faces: out, transforms };
}

/** One aligned face [1, 3, size, size] with its transform and its landmarks in the aligned image. */
export function alignFace(photo: RgbImageBuffer, landmarks: readonly FacePoint[], opts: AlignOptions & { index?: number } = {}): AlignedFace {
  const { faces, transforms } = alignFaces(photo, [landmarks], opts);
  const transform = transforms[0];
  return { face: faces, transform, landmarks: landmarks.map((p) => applyAffine(transform.toAligned, p)) };
}
