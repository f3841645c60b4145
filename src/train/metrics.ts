/**
 * Classification metrics (browser-safe, plain arrays): accuracy, per-class accuracy (recall),
 * the confusion matrix (rows: true class, columns: predicted class) and their text form.
 */

export interface ClassificationReport {
  /** Images scored. */
  n: number;
  /** Correct / n (0 when n = 0). */
  accuracy: number;
  /** Per class: correct / images of that class (null for a class with no image). */
  perClass: Array<number | null>;
  /** Mean of the per-class accuracies over classes that have images. */
  meanClassAccuracy: number;
  /** confusion[t][p]: images of true class t predicted as p. */
  confusion: number[][];
  classNames: string[];
}

/** Counts predictions against labels; errors name the first bad entry. */
export function classificationReport(predictions: ArrayLike<number>, labels: ArrayLike<number>, classNames: readonly string[]): ClassificationReport {
  const K = classNames.length;
  if (K < 1) throw new Error('lrdif: classificationReport: no class names');
  if (predictions.length !== labels.length) throw new Error(`lrdif: classificationReport: ${predictions.length} predictions for ${labels.length} labels`);
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const t = labels[i];
    const p = predictions[i];
    if (!Number.isInteger(t) || t < 0 || t >= K) throw new Error(`lrdif: classificationReport: label ${i} is ${t}, outside 0..${K - 1}`);
    if (!Number.isInteger(p) || p < 0 || p >= K) throw new Error(`lrdif: classificationReport: prediction ${i} is ${p}, outside 0..${K - 1}`);
    confusion[t][p]++;
    if (t === p) correct++;
  }
  const perClass = confusion.map((row, t) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n === 0 ? null : row[t] / n;
  });
  const present = perClass.filter((v): v is number => v !== null);
  return {
    n: labels.length,
    accuracy: labels.length ? correct / labels.length : 0,
    perClass,
    meanClassAccuracy: present.length ? present.reduce((a, b) => a + b, 0) / present.length : 0,
    confusion,
    classNames: [...classNames],
  };
}

/** Index of the largest value of each row of a [n, k] row-major array (first one on ties). */
export function argmaxRows(values: ArrayLike<number>, k: number): Int32Array {
  if (k < 1 || values.length % k !== 0) throw new Error(`lrdif: argmaxRows: ${values.length} values are not rows of ${k}`);
  const n = values.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (values[i * k + j] > values[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

const pct = (v: number | null) => (v === null ? '   -  ' : `${(100 * v).toFixed(1).padStart(5)}%`);

/** A plain-text report: accuracy, per-class accuracy and the confusion matrix. */
export function formatReport(r: ClassificationReport): string {
  const w = Math.max(9, ...r.classNames.map((c) => c.length));
  const lines: string[] = [];
  lines.push(`accuracy ${(100 * r.accuracy).toFixed(2)}% on ${r.n} images (mean per-class ${(100 * r.meanClassAccuracy).toFixed(2)}%)`);
  lines.push('per-class accuracy:');
  r.classNames.forEach((c, i) => lines.push(`  ${c.padEnd(w)} ${pct(r.perClass[i])}  (${r.confusion[i].reduce((a, b) => a + b, 0)} images)`));
  const cw = Math.max(5, ...r.classNames.map((c) => Math.min(c.length, 8))) + 1;
  lines.push('confusion matrix (rows: true class, columns: predicted):');
  lines.push(`  ${''.padEnd(w)} ${r.classNames.map((c) => c.slice(0, 8).padStart(cw)).join('')}`);
  r.confusion.forEach((row, i) => lines.push(`  ${r.classNames[i].padEnd(w)} ${row.map((v) => String(v).padStart(cw)).join('')}`));
  return lines.join('\n');
}
