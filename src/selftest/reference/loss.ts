/** float64 references of the losses: cross-entropy (label smoothing, ignore index), L1, MSE, KL divergence. */
import type { Reduction } from '../../kernels/loss.js';

export type LossReduction = Reduction | 'batchmean';

/** PyTorch cross-entropy in float64; rows with the ignore index or a label outside [0, C) give 0 and do not count. */
export function refCrossEntropy(x: Float64Array, labels: Int32Array, n: number, c: number, eps: number, reduction: Reduction, ignoreIndex = -1): Float64Array {
  const rows = new Float64Array(n);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i];
    if (y === ignoreIndex || y < 0 || y >= c) continue;
    count++;
    let m = -Infinity;
    for (let j = 0; j < c; j++) m = Math.max(m, x[i * c + j]);
    let s = 0;
    let sx = 0;
    for (let j = 0; j < c; j++) {
      s += Math.exp(x[i * c + j] - m);
      sx += x[i * c + j];
    }
    const lse = m + Math.log(s);
    rows[i] = (1 - eps) * (lse - x[i * c + y]) + eps * (lse - sx / c);
  }
  if (reduction === 'none') return rows;
  const total = rows.reduce((a, b) => a + b, 0);
  return Float64Array.of(reduction === 'sum' ? total : count === 0 ? 0 : total / count);
}

export function refPointwise(kind: 'l1' | 'mse' | 'kl' | 'klLog', a: Float64Array, b: Float64Array): Float64Array {
  return a.map((x, i) => {
    const t = b[i];
    switch (kind) {
      case 'l1':
        return Math.abs(x - t);
      case 'mse':
        return (x - t) ** 2;
      case 'kl':
        return t === 0 ? 0 : t * (Math.log(t) - x);
      default:
        return Math.exp(t) * (t - x);
    }
  });
}

export function refReduce(terms: Float64Array, reduction: LossReduction, batch: number): Float64Array {
  if (reduction === 'none') return terms;
  const total = terms.reduce((a, b) => a + b, 0);
  if (reduction === 'sum') return Float64Array.of(total);
  if (reduction === 'mean') return Float64Array.of(terms.length === 0 ? 0 : total / terms.length);
  return Float64Array.of(batch === 0 ? 0 : total / batch);
}
