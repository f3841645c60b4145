/**
 * A seed ensemble (browser-safe): several models' evaluations of the same images combined by
 * the mean of their class probabilities, each image scored by the mean's argmax. The members are
 * typically stage-2 runs of one recipe with different `--seed`s from the same stage-1 checkpoint;
 * averaging them removes part of the spread between seeds.
 */
import type { EvalResult } from './evaluate.js';
import { argmaxRows, classificationReport } from './metrics.js';
import { nllSum } from './tta.js';

export interface EnsembleMember {
  /** What names the member in errors (its checkpoint path). */
  name: string;
  result: EvalResult;
}

/** The element-wise mean of several members' probabilities (equal lengths), summed in float64 in member order. */
export function meanProbabilities(members: readonly ArrayLike<number>[]): Float32Array {
  const sum = new Float64Array(members[0]?.length ?? 0);
  for (const p of members) {
    if (p.length !== sum.length) throw new Error(`lrdif: ensemble: ${p.length} probabilities against ${sum.length}: the members must score the same images`);
    for (let i = 0; i < sum.length; i++) sum[i] += p[i];
  }
  return Float32Array.from(sum, (v) => v / members.length);
}

/** The members' mean probabilities, scored against their (shared) labels. */
export function ensembleResult(members: readonly EnsembleMember[], classNames: readonly string[]): EvalResult {
  if (members.length < 2) throw new Error(`lrdif: ensemble: needs at least 2 members, got ${members.length}`);
  const K = classNames.length;
  const first = members[0];
  const n = first.result.labels.length;
  for (const m of members) {
    const r = m.result;
    if (r.probabilities.length !== r.labels.length * K)
      throw new Error(
        `lrdif: ensemble: ${m.name} gives ${r.probabilities.length / Math.max(r.labels.length, 1)} probabilities per image, expected ${K} (classes ${classNames.join(', ')})`,
      );
    if (r.labels.length !== n) throw new Error(`lrdif: ensemble: ${m.name} scored ${r.labels.length} images, ${first.name} ${n}: the members must score the same images`);
    for (let i = 0; i < n; i++) {
      if (r.local[i] !== first.result.local[i] || r.labels[i] !== first.result.labels[i])
        throw new Error(
          `lrdif: ensemble: image ${i} of ${m.name} is item ${r.local[i]} (label ${r.labels[i]}), of ${first.name} item ${first.result.local[i]} (label ${first.result.labels[i]}): the members must score the same images in the same order`,
        );
    }
  }
  const probabilities = meanProbabilities(members.map((m) => m.result.probabilities));
  const report = classificationReport(argmaxRows(probabilities, K), first.result.labels, classNames);
  return {
    report,
    loss: n ? nllSum(probabilities, first.result.labels, K) / n : NaN,
    probabilities,
    labels: Int32Array.from(first.result.labels),
    local: [...first.result.local],
    features: null,
    featureDim: first.result.featureDim,
  };
}
