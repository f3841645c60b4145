/**
 * face-api's pretrained FaceExpressionNet as a zero-shot baseline (browser-safe): no training,
 * each image padded and resized as face-api does (src/models/faceapi/preprocess.ts), the argmax
 * of its seven outputs mapped to lrdif's canonical classes:
 *   neutral → neutral, happy → happiness, sad → sadness, angry → anger, fearful → fear,
 *   disgusted → disgust, surprised → surprise.
 * face-api knows no contempt: images of a class it does not know are excluded from the score and
 * counted (per class), so its accuracy is over the classes both share.
 */
import { noGrad, tidy } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import { imagesToTensor } from '../io/image.js';
import { concat } from '../kernels/layout.js';
import { mirrorImages } from '../kernels/augment.js';
import { checkTta, meanOfViews, type TestTimeAugmentation } from '../train/tta.js';
import { degradeBatch, imageSeed } from '../data/degrade/index.js';
import { FACE_EXPRESSION_LABELS, type FaceExpression, type FaceExpressionNet } from '../models/faceapi/expression-net.js';
import { faceApiPadResize } from '../models/faceapi/preprocess.js';
import { classificationReport, type ClassificationReport } from '../train/metrics.js';
import type { DegradeSpec, IndexedSplit } from '../train/pipeline.js';

/** face-api's label → lrdif's canonical class name. */
export const FACEAPI_TO_CANONICAL: Readonly<Record<FaceExpression, string>> = Object.freeze({
  neutral: 'neutral',
  happy: 'happiness',
  sad: 'sadness',
  angry: 'anger',
  fearful: 'fear',
  disgusted: 'disgust',
  surprised: 'surprise',
});

export interface ZeroShotClasses {
  /** The dataset's classes face-api knows, in dataset order: the report's classes. */
  known: string[];
  /** The dataset's classes it does not know (their images are excluded). */
  unknown: string[];
  /** For each face-api output j: its index in `known`, or -1 when the dataset lacks that class. */
  outputToKnown: number[];
  /** For each dataset class index: its index in `known`, or -1 (excluded). */
  datasetToKnown: number[];
}

/** How a dataset's classes meet face-api's seven. */
export function zeroShotClasses(datasetClasses: readonly string[]): ZeroShotClasses {
  const canon = new Set(Object.values(FACEAPI_TO_CANONICAL));
  const known = datasetClasses.filter((c) => canon.has(c));
  const unknown = datasetClasses.filter((c) => !canon.has(c));
  if (known.length === 0)
    throw new Error(
      `lrdif: baseline faceapi: none of the dataset's classes (${datasetClasses.join(', ')}) is one face-api knows (${Object.values(FACEAPI_TO_CANONICAL).join(', ')})`,
    );
  return {
    known,
    unknown,
    outputToKnown: FACE_EXPRESSION_LABELS.map((l) => known.indexOf(FACEAPI_TO_CANONICAL[l])),
    datasetToKnown: datasetClasses.map((c) => known.indexOf(c)),
  };
}

/**
 * The predicted known-class index of each row of face-api probabilities [n, 7]: the most
 * probable output among those whose class the dataset has (first one on ties).
 */
export function zeroShotPredictions(probabilities: ArrayLike<number>, classes: ZeroShotClasses): Int32Array {
  const J = FACE_EXPRESSION_LABELS.length;
  if (probabilities.length % J !== 0) throw new Error(`lrdif: baseline faceapi: ${probabilities.length} probabilities are not rows of ${J}`);
  const n = probabilities.length / J;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -1;
    for (let j = 0; j < J; j++) {
      if (classes.outputToKnown[j] < 0) continue;
      if (best < 0 || probabilities[i * J + j] > probabilities[i * J + best]) best = j;
    }
    out[i] = classes.outputToKnown[best];
  }
  return out;
}

export interface ZeroShotResult {
  report: ClassificationReport;
  classes: ZeroShotClasses;
  /** Images excluded because face-api does not know their class, per class name. */
  excluded: Record<string, number>;
  excludedTotal: number;
  /** Images that could not be read (skipped). */
  unreadable: number;
  /** [n, 7] face-api probabilities of the scored images, in the order of `local`. */
  probabilities: Float32Array;
  local: number[];
}

/**
 * Scores face-api's expression net on a split. `degrade` applies an on-the-fly degradation to
 * each image at its own size (image g with imageSeed(seed, g)), as `lrdif synth` does offline;
 * `tta: 'flip'` scores the mean of each image's and its mirror image's probabilities.
 */
export async function scoreFaceApiZeroShot(
  net: FaceExpressionNet,
  split: IndexedSplit,
  opts: { degrade?: DegradeSpec | null; batchSize?: number; tta?: TestTimeAugmentation; onBatch?: (done: number, total: number) => void } = {},
): Promise<ZeroShotResult> {
  const tta = checkTta('baseline', opts.tta ?? 'none');
  const ds = split.dataset;
  const classes = zeroShotClasses(ds.classNames);
  const excluded: Record<string, number> = Object.fromEntries(classes.unknown.map((c) => [c, 0]));
  const scored: number[] = [];
  for (let i = 0; i < ds.length; i++) {
    const k = classes.datasetToKnown[ds.items[i].label];
    if (k < 0) excluded[ds.classNames[ds.items[i].label]]++;
    else scored.push(i);
  }
  const bs = Math.max(1, opts.batchSize ?? 32);
  const probs: Float32Array[] = [];
  const local: number[] = [];
  const labels: number[] = [];
  let unreadable = 0;
  for (let s = 0; s < scored.length; s += bs) {
    const ids = scored.slice(s, s + bs);
    const imgs: Array<{ i: number; x: Tensor }> = [];
    try {
      for (const i of ids) {
        const im = await ds.load(i);
        if (!im) {
          unreadable++;
          continue;
        }
        const x = noGrad(() =>
          tidy(() => {
            let t = imagesToTensor([im]);
            const d = opts.degrade;
            if (d) t = degradeBatch(t, d.kind, d.config, [imageSeed(d.seed, split.globalIndex[i])]).images;
            return faceApiPadResize(t);
          }),
        );
        imgs.push({ i, x });
      }
      if (imgs.length) {
        const p = noGrad(() =>
          tidy(() => {
            const x =
              imgs.length === 1
                ? imgs[0].x
                : concat(
                    imgs.map((e) => e.x),
                    0,
                  );
            // the net's output is already probabilities: flip TTA averages them with the mirror image's
            return tta === 'flip' ? meanOfViews(net.forward(x), net.forward(mirrorImages(x))) : net.forward(x);
          }),
        );
        probs.push(new Float32Array((await p.data()) as Float32Array));
        p.dispose();
        for (const e of imgs) {
          local.push(e.i);
          labels.push(classes.datasetToKnown[ds.items[e.i].label]);
        }
      }
    } finally {
      for (const e of imgs) e.x.dispose();
    }
    opts.onBatch?.(Math.min(s + bs, scored.length), scored.length);
  }
  const probabilities = new Float32Array(probs.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of probs) {
    probabilities.set(p, o);
    o += p.length;
  }
  const report = classificationReport(zeroShotPredictions(probabilities, classes), labels, classes.known);
  return { report, classes, excluded, excludedTotal: Object.values(excluded).reduce((a, b) => a + b, 0), unreadable, probabilities, local };
}
