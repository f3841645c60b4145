/**
 * The whole face pipeline for a photo, as face-api's
 * `detectAllFaces(photo, new TinyFaceDetectorOptions()).withFaceLandmarks().withFaceExpressions()`,
 * plus LRDif's crop-and-align (align.ts):
 *
 * 1. Tiny face detector → boxes and scores (tiny-face-detector.ts).
 * 2. Landmarks: for each box, face-api's crop (extractFaceTensors: the box clipped at the photo's
 *    borders, then x, y, width and height each floored), padded to a square (centred) and resized
 *    to 112 (TF legacy bilinear), through FaceLandmark68Net; decoded into the crop's pixels and
 *    shifted by the detection box's (unfloored) x, y — exactly as face-api's
 *    extendWithFaceLandmarks does (so the landmarks can sit up to a pixel off the floored crop,
 *    face-api's own quirk, kept for identical results).
 * 3. face-api's alignedRect: the landmarks' bounding box (minBbox; its max starts at 0 as
 *    face-api's) padded by 20 % of its width and height.
 * 4. Expressions: face-api crops alignedRect (clipped and floored the same way) — not the
 *    detection box — for FaceExpressionNet, padded and resized as in 2.
 * 5. Optionally LRDif's aligned 112×112 face per detection (align.ts).
 *
 * Every crop is cut, padded and resized on the GPU in one resampling pass per batch straight
 * from the uploaded 8-bit photo (shaders/affine_warp.wgsl, tap tables computed on the host in
 * float64 as TF's CPU resizeBilinear computes them), so the nets see the same values as
 * face-api's. A detection whose clipped crop is empty is dropped (face-api would drop it too,
 * but then pairs the remaining results with the wrong detections).
 */
import type { Tensor } from '../../autograd/tensor.js';
import { noGrad } from '../../autograd/engine.js';
import { RgbImageBuffer, resampleBilinearTables, type BilinearAxisTable } from '../../kernels/affine-warp.js';
import { checkImage, type RgbImage } from '../../io/image.js';
import { FACEAPI_INPUT_SIZE } from './feature-extractor.js';
import type { FaceLandmark68Net } from './landmark-net.js';
import { FACE_EXPRESSION_LABELS, type FaceExpressionNet, type FaceExpressions } from './expression-net.js';
import { decodeFaceLandmarks, faceApiSquarePadding, type FaceBox, type FacePoint } from './preprocess.js';
import { TinyFaceDetector, resolveTinyFaceDetectorOptions, type FaceDetection, type TinyFaceDetectorOptions } from './tiny-face-detector.js';
import { alignFace, alignFaces, type AlignedFace, type AlignOptions, type FaceAlignTransform } from './align.js';

export interface DetectedFace {
  /** The detector's score. */
  score: number;
  /** The detection box in the photo's pixels. */
  box: FaceBox;
  /** The 68 landmarks in the photo's pixels (face-api's `landmarks.positions`). */
  landmarks: FacePoint[];
  /** face-api's alignedRect: the landmarks' bounding box padded by 20 %. */
  alignedRect: FaceBox;
  /** face-api's expression probabilities (absent with `expressions: false`). */
  expressions?: FaceExpressions;
  /** The integer crops the landmark and expression nets read. */
  crops: { landmarks: FaceBox; expressions?: FaceBox };
  /** LRDif's aligned face (with `align: true`); dispose `aligned.face` when done. */
  aligned?: AlignedFace;
}

export interface DetectFacesOptions extends TinyFaceDetectorOptions {
  /** Run the expression net (default true when the pipeline has one). */
  expressions?: boolean;
  /** Also return each face aligned for LRDif (default false). */
  align?: boolean | AlignOptions;
  /** Faces per landmark / expression batch (default 32). */
  batchSize?: number;
}

/** face-api's Box.clipAtImageBorders: clipped to the photo, then x, y, width, height each floored. */
export function faceApiClipBox(box: FaceBox, width: number, height: number): FaceBox {
  const x = Math.max(box.x, 0);
  const y = Math.max(box.y, 0);
  const w = Math.min(box.x + box.width - x, width - x);
  const h = Math.min(box.y + box.height - y, height - y);
  return { x: Math.floor(x), y: Math.floor(y), width: Math.floor(w), height: Math.floor(h) };
}

/** face-api's FaceLandmarks.align() (minBbox of the positions, padded by 0.2 · its size). */
export function faceApiAlignedRect(positions: readonly FacePoint[]): FaceBox {
  // minBbox: minima start at Infinity, maxima at 0 (as face-api's reduce)
  let minX = Infinity;
  let minY = Infinity;
  let maxX = 0;
  let maxY = 0;
  for (const p of positions) {
    if (p.x < minX) minX = p.x;
    if (p.y < minY) minY = p.y;
    if (maxX < p.x) maxX = p.x;
    if (maxY < p.y) maxY = p.y;
  }
  const w = maxX - minX;
  const h = maxY - minY;
  const padX = w * 0.2;
  const padY = h * 0.2;
  return { x: minX - padX / 2, y: minY - padY / 2, width: w + padX, height: h + padY };
}

/**
 * Tap tables that cut the integer box `crop` out of a photo, pad it to a square with zeros
 * (centred, face-api's padToSquare(…, true)) and resize it to size × size with TF's legacy
 * bilinear resize — face-api's NetInput.toBatchTensor(112, true) of the cropped tensor.
 */
export function faceApiCropTables(crop: FaceBox, size = FACEAPI_INPUT_SIZE): { rows: BilinearAxisTable; cols: BilinearAxisTable } {
  const side = Math.max(crop.width, crop.height);
  const [[top], [left]] = faceApiSquarePadding(crop.width, crop.height);
  const axis = (origin: number, len: number, before: number): BilinearAxisTable => {
    const i0 = new Int32Array(size);
    const i1 = new Int32Array(size);
    const frac = new Float64Array(size);
    const ratio = side / size;
    const tap = (q: number) => (q - before >= 0 && q - before < len ? origin + q - before : -1);
    for (let o = 0; o < size; o++) {
      const s = side === size ? o : ratio * o;
      const lo = Math.max(0, Math.floor(s));
      const hi = Math.min(side - 1, Math.ceil(s));
      i0[o] = tap(lo);
      i1[o] = tap(hi);
      frac[o] = s - lo;
    }
    return { i0, i1, frac };
  };
  return { rows: axis(crop.y, crop.height, top), cols: axis(crop.x, crop.width, left) };
}

/** The nets' input [F, 3, 112, 112] in [0, 1] for integer crops of photo image `index`. */
export function faceApiCropInput(photo: RgbImageBuffer, crops: readonly FaceBox[], index = 0): Tensor {
  crops.forEach((c, i) => {
    if (
      ![c.x, c.y, c.width, c.height].every(Number.isInteger) ||
      c.width < 1 ||
      c.height < 1 ||
      c.x < 0 ||
      c.y < 0 ||
      c.x + c.width > photo.width ||
      c.y + c.height > photo.height
    ) {
      throw new Error(
        `lrdif: faceApiCropInput: crop ${i} {x: ${c.x}, y: ${c.y}, width: ${c.width}, height: ${c.height}} must be integers inside the ${photo.width}×${photo.height} photo`,
      );
    }
  });
  return resampleBilinearTables(
    photo,
    crops.map((c) => faceApiCropTables(c)),
    { sources: crops.map(() => index) },
  );
}

/** face-api's detector, landmark net and (optionally) expression net, run together on photos. */
export class FacePipeline {
  constructor(
    readonly detector: TinyFaceDetector,
    readonly landmarkNet: FaceLandmark68Net,
    readonly expressionNet: FaceExpressionNet | null = null,
  ) {}

  /** Every face in the photo, best detection first. */
  async detectFaces(photo: RgbImage | RgbImageBuffer, opts: DetectFacesOptions = {}): Promise<DetectedFace[]> {
    const det = resolveTinyFaceDetectorOptions(opts);
    const wantExpr = opts.expressions ?? this.expressionNet !== null;
    if (wantExpr && !this.expressionNet) throw new Error('lrdif: FacePipeline.detectFaces: expressions were asked for, but the pipeline has no expression net');
    const bs = Math.max(1, Math.floor(opts.batchSize ?? 32));
    if (!(photo instanceof RgbImageBuffer)) checkImage(photo, 'FacePipeline.detectFaces photo');
    const buf = photo instanceof RgbImageBuffer ? photo : RgbImageBuffer.upload([photo]);
    const made: AlignedFace[] = [];
    try {
      const { width, height } = buf;
      const detections: FaceDetection[] = await this.detector.detect(buf, det);
      const kept = detections.map((d) => ({ d, crop: faceApiClipBox(d.box, width, height) })).filter((k) => k.crop.width > 0 && k.crop.height > 0);
      const faces: DetectedFace[] = [];
      for (let i = 0; i < kept.length; i += bs) {
        const part = kept.slice(i, i + bs);
        // landmarks on the detection crops
        const x = faceApiCropInput(
          buf,
          part.map((k) => k.crop),
        );
        const raw = noGrad(() => this.landmarkNet.forward(x));
        x.dispose();
        const values = await raw.data();
        raw.dispose();
        const lms = decodeFaceLandmarks(
          values,
          part.map((k) => ({ width: k.crop.width, height: k.crop.height })),
          { shifts: part.map((k) => ({ x: k.d.box.x, y: k.d.box.y })) },
        );
        part.forEach((k, j) => {
          const positions = lms[j].positions;
          faces.push({ score: k.d.score, box: { ...k.d.box }, landmarks: positions, alignedRect: faceApiAlignedRect(positions), crops: { landmarks: k.crop } });
        });
      }
      if (wantExpr && this.expressionNet) {
        const withCrops = faces.map((f) => ({ f, crop: faceApiClipBox(f.alignedRect, width, height) })).filter((k) => k.crop.width > 0 && k.crop.height > 0);
        for (let i = 0; i < withCrops.length; i += bs) {
          const part = withCrops.slice(i, i + bs);
          const x = faceApiCropInput(
            buf,
            part.map((k) => k.crop),
          );
          const p = noGrad(() => this.expressionNet!.forward(x));
          x.dispose();
          const v = await p.data();
          p.dispose();
          part.forEach((k, j) => {
            k.f.crops.expressions = k.crop;
            k.f.expressions = Object.fromEntries(FACE_EXPRESSION_LABELS.map((name, c) => [name, v[j * FACE_EXPRESSION_LABELS.length + c]])) as FaceExpressions;
          });
        }
      }
      if (opts.align) {
        const alignOpts = typeof opts.align === 'object' ? opts.align : {};
        for (const f of faces) {
          f.aligned = alignFace(buf, f.landmarks, alignOpts);
          made.push(f.aligned);
        }
      }
      // handed to the caller: not freed below
      made.length = 0;
      return faces;
    } finally {
      // on an error, free what was made for the caller
      for (const a of made) a.face.dispose();
      if (buf !== photo) buf.dispose();
    }
  }

  /**
   * Photo → LRDif's aligned faces: every detected face (detector and landmarks; no expressions)
   * aligned by align.ts into one batch [F, 3, size, size] in [0, 1], in detection order, with
   * each face's record and transform. `batch` is null when no face was found; dispose it when done.
   */
  async alignedFaces(
    photo: RgbImage | RgbImageBuffer,
    opts: Omit<DetectFacesOptions, 'align' | 'expressions'> & AlignOptions = {},
  ): Promise<{ faces: DetectedFace[]; transforms: FaceAlignTransform[]; batch: Tensor | null }> {
    const buf = photo instanceof RgbImageBuffer ? photo : RgbImageBuffer.upload([photo]);
    try {
      const faces = await this.detectFaces(buf, { ...opts, expressions: false, align: false });
      if (faces.length === 0) return { faces, transforms: [], batch: null };
      const { faces: batch, transforms } = alignFaces(
        buf,
        faces.map((f) => f.landmarks),
        { size: opts.size, margin: opts.margin },
      );
      return { faces, transforms, batch };
    } finally {
      if (buf !== photo) buf.dispose();
    }
  }

  dispose(): void {
    this.detector.dispose();
    this.landmarkNet.dispose();
    this.expressionNet?.dispose();
  }
}
