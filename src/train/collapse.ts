/**
 * Collapse: a classifier that has stopped looking at its input (browser-safe). Two signs, either
 * enough:
 *   - one class: its predictions over an evaluation split fall (almost) all on one class;
 *   - prior loss: its training cross-entropy has sat at the entropy of the class prior for
 *     several epochs, the loss of a model that outputs the class frequencies whatever it sees.
 * An accuracy figure of such a model is the share of a class, not recognition, so the trainer,
 * `lrdif eval` and `lrdif predict` say so.
 */
import type { ClassificationReport } from './metrics.js';

export interface CollapseReport {
  kind: 'one-class' | 'prior-loss';
  /** Where it was seen: an evaluation split, or 'train'. */
  split: string;
  /** The class the predictions fall on (one-class). */
  className: string | null;
  /** Share of the predictions on that class (one-class). */
  share: number | null;
  /** Epochs the loss sat at the prior's entropy (prior-loss). */
  epochs: number | null;
  message: string;
}

/** Share of the predictions on one class from which a split counts as collapsed. */
export const ONE_CLASS_SHARE = 0.95;
/** Fewer images than this say nothing about collapse. */
const MIN_IMAGES = 20;
/** Epochs in a row at the prior's entropy (within PRIOR_LOSS_MARGIN of it). */
export const PRIOR_LOSS_EPOCHS = 3;
const PRIOR_LOSS_MARGIN = 0.03;

const ADVICE =
  'Try a lower --lr, more epochs, or a class-balanced loss; for stage 2, check that the image embedding varies between images ' +
  '(near-black or uniform inputs give every image the same prior) and that stage 1 read the image, not only the label.';

const pct = (v: number) => `${(100 * v).toFixed(1)} %`;

/** One-class collapse in an evaluation report, or null. */
export function predictionCollapse(r: ClassificationReport, split: string): CollapseReport | null {
  if (r.n < MIN_IMAGES) return null;
  const predicted = r.classNames.map((_, p) => r.confusion.reduce((s, row) => s + row[p], 0));
  const truePresent = r.confusion.filter((row) => row.some((v) => v > 0)).length;
  if (truePresent < 2) return null;
  let top = 0;
  for (let p = 1; p < predicted.length; p++) if (predicted[p] > predicted[top]) top = p;
  const share = predicted[top] / r.n;
  if (share < ONE_CLASS_SHARE) return null;
  const trueShare = r.confusion[top].reduce((a, b) => a + b, 0) / r.n;
  return {
    kind: 'one-class',
    split,
    className: r.classNames[top],
    share,
    epochs: null,
    message:
      `the model predicts '${r.classNames[top]}' for ${pct(share)} of the ${r.n} ${split} images (that class is ${pct(trueShare)} of them): ` +
      `it has collapsed to one class, and its accuracy is that class's share, not recognition. ${ADVICE}`,
  };
}

/** Entropy (nats) of the class frequencies in `counts`. */
export function priorEntropy(counts: readonly number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n);
  return h;
}

/** Watches the epochs' mean training cross-entropy for a plateau at the prior's entropy. */
export class PriorLossWatch {
  private run = 0;
  readonly entropy: number;

  constructor(classCounts: readonly number[], run = 0) {
    this.entropy = priorEntropy(classCounts);
    this.run = run;
  }

  /** Epochs in a row so far (for resumption). */
  get epochsAtPrior(): number {
    return this.run;
  }

  observe(trainCe: number): CollapseReport | null {
    const at = Number.isFinite(trainCe) && Math.abs(trainCe - this.entropy) <= PRIOR_LOSS_MARGIN * this.entropy;
    this.run = at ? this.run + 1 : 0;
    if (this.run < PRIOR_LOSS_EPOCHS) return null;
    return {
      kind: 'prior-loss',
      split: 'train',
      className: null,
      share: null,
      epochs: this.run,
      message:
        `the training cross-entropy has stayed at ${trainCe.toFixed(3)} for ${this.run} epochs, the entropy of the class frequencies (${this.entropy.toFixed(3)}): ` +
        `the model outputs the class prior whatever the image, i.e. it has collapsed. ${ADVICE}`,
    };
  }
}
