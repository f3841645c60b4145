// The seed ensemble's combination (src/train/ensemble.ts) against a float64 reference written
// here: the mean of the members' probabilities, its argmax, the report and the mean NLL.
import { describe, expect, it } from 'vitest';
import { ensembleResult, type EnsembleMember } from '../src/train/ensemble.js';
import type { EvalResult } from '../src/train/evaluate.js';

const CLASSES = ['neutral', 'happiness', 'sadness'];
const K = CLASSES.length;

function member(name: string, probs: number[][], labels: number[], local?: number[]): EnsembleMember {
  const result: EvalResult = {
    report: { n: 0, accuracy: 0, perClass: [], meanClassAccuracy: 0, confusion: [], classNames: [...CLASSES] },
    loss: 0,
    probabilities: Float32Array.from(probs.flat()),
    labels: Int32Array.from(labels),
    local: local ?? labels.map((_, i) => 10 + i),
    features: null,
    featureDim: 4,
  };
  return { name, result };
}

// Seeded rows of probabilities (each row sums to 1).
function rows(n: number, seed: number): number[][] {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 0.05 + s / 2147483648;
  };
  return Array.from({ length: n }, () => {
    const r = Array.from({ length: K }, next);
    const t = r.reduce((a, b) => a + b, 0);
    return r.map((v) => v / t);
  });
}

describe('seed ensemble', () => {
  it('scores the mean of the members’ probabilities', () => {
    const labels = [0, 1, 2, 2, 1, 0, 0, 2, 1, 1, 2, 0];
    const members = [1, 2, 3].map((s) => member(`seed${s}.safetensors`, rows(labels.length, s), labels));
    const r = ensembleResult(members, CLASSES);
    // reference: float64 mean, argmax, per-class and overall accuracy, NLL
    const mean = labels.map((_, i) => CLASSES.map((_, k) => members.reduce((a, m) => a + m.result.probabilities[i * K + k], 0) / members.length));
    const pred = mean.map((row) => row.indexOf(Math.max(...row)));
    const right = pred.filter((p, i) => p === labels[i]).length;
    const perClass = CLASSES.map((_, k) => {
      const idx = labels.map((l, i) => (l === k ? i : -1)).filter((i) => i >= 0);
      return idx.filter((i) => pred[i] === k).length / idx.length;
    });
    const nll = -mean.reduce((a, row, i) => a + Math.log(row[labels[i]]), 0) / labels.length;
    for (let i = 0; i < labels.length; i++) for (let k = 0; k < K; k++) expect(r.probabilities[i * K + k]).toBeCloseTo(mean[i][k], 6);
    expect(r.report.accuracy).toBeCloseTo(right / labels.length, 12);
    expect(r.report.perClass).toEqual(perClass.map((v) => expect.closeTo(v, 12)));
    expect(r.report.meanClassAccuracy).toBeCloseTo(perClass.reduce((a, b) => a + b, 0) / K, 12);
    expect(r.loss).toBeCloseTo(nll, 5);
    expect(Array.from(r.labels)).toEqual(labels);
    expect(r.local).toEqual(members[0].result.local);
    // the ensemble is not just one member's answer here: at least one image differs from each member's argmax
    for (const m of members) {
      const own = labels.map((_, i) => {
        const row = Array.from(m.result.probabilities.subarray(i * K, (i + 1) * K));
        return row.indexOf(Math.max(...row));
      });
      expect(own).not.toEqual(pred);
    }
  });

  it('is the member itself when every member is the same', () => {
    const labels = [2, 0, 1, 1];
    const p = rows(labels.length, 7);
    const r = ensembleResult([member('a', p, labels), member('b', p, labels)], CLASSES);
    expect(Array.from(r.probabilities)).toEqual(Array.from(Float32Array.from(p.flat())));
  });

  it('refuses members that do not score the same images, or one member', () => {
    const labels = [0, 1, 2];
    const a = member('a.safetensors', rows(3, 1), labels);
    expect(() => ensembleResult([a], CLASSES)).toThrow('lrdif: ensemble: needs at least 2 members, got 1');
    expect(() => ensembleResult([a, member('b.safetensors', rows(2, 2), [0, 1])], CLASSES)).toThrow(
      'lrdif: ensemble: b.safetensors scored 2 images, a.safetensors 3: the members must score the same images',
    );
    expect(() => ensembleResult([a, member('b.safetensors', rows(3, 2), labels, [10, 12, 11])], CLASSES)).toThrow(
      'lrdif: ensemble: image 1 of b.safetensors is item 12 (label 1), of a.safetensors item 11 (label 1): the members must score the same images in the same order',
    );
    expect(() => ensembleResult([a, a], ['neutral', 'happiness'])).toThrow(
      'lrdif: ensemble: a.safetensors gives 3 probabilities per image, expected 2 (classes neutral, happiness)',
    );
  });
});
