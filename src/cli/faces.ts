/**
 * `lrdif faces`: face-api's face pipeline on a photo.
 *
 *   lrdif faces --image <photo> [--json] [--out annotated.png] [--input-size N] [--score-threshold T]
 *               [--max-side N] [--detector <weights>] [--landmarks <weights>] [--expressions <weights>]
 *
 * For each face (best detection first): the tiny face detector's box and score, the 68
 * landmarks and face-api's expression probabilities, as face-api's
 * detectAllFaces(...).withFaceLandmarks().withFaceExpressions() gives them. `--out` writes a copy
 * of the photo with the boxes and landmark dots drawn (PNG or JPEG by extension, atomically).
 * Weights default to the installed @vladmandic/face-api package's model/ folder.
 *
 * The photo is turned upright by its EXIF orientation and, when its longer side is over
 * --max-side (default 2048), scaled down on the CPU first (src/io/image-node.ts readPhotoFile):
 * a 12-megapixel phone photo would not fit the GPU as one tensor, and the detector looks at 416
 * pixels anyway. Boxes and landmarks are given in the upright photo's own pixels, and --out draws
 * on the full-size photo.
 */
import type { Command } from 'commander';
import { initNode } from '../node.js';
import { readPhotoFile, writeImageFile } from '../io/image-node.js';
import { PHOTO_MAX_SIDE } from '../io/image.js';
import { loadFacePipeline } from '../models/faceapi/detect-node.js';
import { drawFaces } from '../models/faceapi/draw.js';
import { FACE_EXPRESSION_LABELS, type FaceExpressions } from '../models/faceapi/expression-net.js';
import type { FaceBox, FacePoint } from '../models/faceapi/preprocess.js';
import type { Wrap } from './command.js';

export interface FacesOptions {
  image: string;
  json?: boolean;
  out?: string;
  inputSize?: number;
  scoreThreshold?: number;
  /** Photos with a longer side above this are scaled down first (default 2048; 0: never). */
  maxSide?: number;
  detector?: string;
  landmarks?: string;
  expressions?: string;
}

export interface FacesResult {
  /** The upright photo's size; `processed`: the size it was scaled to (only when it was). */
  image: { path: string; width: number; height: number; processed?: { width: number; height: number } };
  options: { inputSize: number; scoreThreshold: number };
  faces: Array<{ score: number; box: FaceBox; landmarks: Array<[number, number]>; expressions: FaceExpressions }>;
  /** The annotated image written (with --out). */
  out?: string;
}

/** Runs the pipeline and returns the numbers (the command prints them). */
export async function runFaces(opts: FacesOptions): Promise<FacesResult> {
  // read the photo first: a bad path fails before the networks load
  const photo = readPhotoFile(opts.image, { maxSide: opts.maxSide ?? PHOTO_MAX_SIDE, keepOriginal: Boolean(opts.out) });
  const img = photo.image;
  const inputSize = opts.inputSize ?? 416;
  const scoreThreshold = opts.scoreThreshold ?? 0.5;
  const ctx = await initNode();
  try {
    const pipeline = await loadFacePipeline({ detector: opts.detector, landmarks: opts.landmarks, expressions: opts.expressions });
    try {
      const faces = await pipeline.detectFaces(img, { inputSize, scoreThreshold });
      // back to the photo's own pixels
      const sx = photo.scaleX;
      const sy = photo.scaleY;
      const toPhoto = (b: FaceBox): FaceBox => (sx === 1 && sy === 1 ? b : { x: b.x * sx, y: b.y * sy, width: b.width * sx, height: b.height * sy });
      const found = faces.map((f) => ({
        score: f.score,
        box: toPhoto(f.box),
        landmarks: f.landmarks.map((p: FacePoint) => ({ x: p.x * sx, y: p.y * sy })),
        expressions: f.expressions!,
      }));
      const result: FacesResult = {
        image: {
          path: opts.image,
          width: photo.width,
          height: photo.height,
          ...(img.width !== photo.width || img.height !== photo.height ? { processed: { width: img.width, height: img.height } } : {}),
        },
        options: { inputSize, scoreThreshold },
        faces: found.map((f) => ({ ...f, landmarks: f.landmarks.map((p) => [p.x, p.y] as [number, number]) })),
      };
      if (opts.out) {
        writeImageFile(opts.out, drawFaces(photo.original ?? img, found));
        result.out = opts.out;
      }
      return result;
    } finally {
      pipeline.dispose();
    }
  } finally {
    ctx.dispose();
  }
}

function printText(r: FacesResult): void {
  const out: string[] = [];
  const scaled = r.image.processed ? `, scaled to ${r.image.processed.width}×${r.image.processed.height}` : '';
  out.push(
    `${r.image.path} (${r.image.width}×${r.image.height}${scaled}): ${r.faces.length} face(s) (tiny face detector, input ${r.options.inputSize}, score > ${r.options.scoreThreshold})`,
  );
  r.faces.forEach((f, i) => {
    const b = f.box;
    out.push('');
    out.push(`face ${i + 1}: score ${f.score.toFixed(4)}  box x ${b.x.toFixed(1)} y ${b.y.toFixed(1)} width ${b.width.toFixed(1)} height ${b.height.toFixed(1)}`);
    const best = FACE_EXPRESSION_LABELS.reduce((a, k) => (f.expressions[k] > f.expressions[a] ? k : a));
    out.push(`  expressions (${best}): ${FACE_EXPRESSION_LABELS.map((k) => `${k} ${f.expressions[k].toFixed(4)}`).join('  ')}`);
    out.push('  landmarks (x, y):');
    for (let k = 0; k < f.landmarks.length; k += 8) {
      const row = f.landmarks.slice(k, k + 8).map(([x, y], j) => `${String(k + j).padStart(2)} ${x.toFixed(1)},${y.toFixed(1)}`);
      out.push(`    ${row.join('  ')}`);
    }
  });
  if (r.out) out.push('', `annotated image: ${r.out}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function parseNumber(what: string, check: (n: number) => boolean, rule: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === '' || !check(n)) throw new Error(`lrdif: faces: ${what} must be ${rule}, got '${v}'`);
    return n;
  };
}

export function registerFaces(program: Command, wrap: Wrap): void {
  program
    .command('faces')
    .description("face-api's tiny face detector, 68 landmarks and expression probabilities for each face in a photo")
    .requiredOption('--image <photo>', 'the photo (PNG or JPEG)')
    .option('--json', 'print JSON')
    .option('--out <file>', 'write the photo with boxes and landmarks drawn (PNG, or JPEG by extension)')
    .option(
      '--input-size <n>',
      "the detector's input side, a multiple of 32 (default 416)",
      parseNumber('--input-size', (n) => Number.isInteger(n) && n >= 32 && n % 32 === 0, 'a positive multiple of 32'),
    )
    .option(
      '--score-threshold <t>',
      'keep detections scoring above this (default 0.5)',
      parseNumber('--score-threshold', (n) => n > 0 && n < 1, 'a number between 0 and 1'),
    )
    .option(
      '--max-side <n>',
      `scale photos whose longer side is above n pixels down to it first (0: never; default ${PHOTO_MAX_SIDE})`,
      parseNumber('--max-side', (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'),
    )
    .option('--detector <weights>', 'tiny face detector weights (manifest, model.json or .safetensors; default: the face-api package)')
    .option('--landmarks <weights>', '68-point landmark net weights (default: the face-api package)')
    .option('--expressions <weights>', 'expression net weights (default: the face-api package)')
    .action(
      wrap(async (opts: FacesOptions) => {
        const r = await runFaces(opts);
        if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`);
        else printText(r);
      }),
    );
}
