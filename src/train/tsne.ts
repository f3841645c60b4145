/**
 * Exact t-SNE (van der Maaten & Hinton 2008) in plain TypeScript, O(n²) per iteration: fine for
 * a few thousand points (the paper's Fig. 4 of the fused features). Browser-safe.
 *
 * The method and its constants follow scikit-learn's `TSNE(method='exact')`:
 * - P: per point a binary search for the Gaussian precision whose conditional distribution has
 *   perplexity `perplexity` (entropy in nats = ln perplexity, tolerance 1e-5, 100 steps), then
 *   P = (P + Pᵀ) / (2n), floored at 1e-12 (sklearn's MACHINE_EPSILON-style floor);
 * - Q: Student-t with one degree of freedom, q_ij ∝ 1 / (1 + |y_i − y_j|²);
 * - gradient 4·Σ_j (p_ij − q_ij)·(y_i − y_j) / (1 + |y_i − y_j|²);
 * - gradient descent with momentum 0.5 for the first 250 iterations (P multiplied by the early
 *   exaggeration 12), then 0.8; per-coordinate gains (+0.2 where the update changes sign,
 *   ×0.8 otherwise, at least 0.01); learning rate max(n / 12 / 4, 50) ('auto');
 * - start: seeded N(0, 1e-4²) coordinates (Philox, `seed`).
 */
import { HostRandom } from '../data/rng.js';

export interface TsneOptions {
  /** Output dimensions (default 2). */
  dims?: number;
  /** Perplexity (default 30; capped at (n − 1) / 3 for small n). */
  perplexity?: number;
  /** Iterations (default 1000). */
  iterations?: number;
  /** Early exaggeration (default 12) for the first `exaggerationIterations` (default 250). */
  earlyExaggeration?: number;
  exaggerationIterations?: number;
  /** Learning rate (default 'auto': max(n / earlyExaggeration / 4, 50)). */
  learningRate?: number | 'auto';
  seed?: number;
  /** Called every 50 iterations with (iteration, KL divergence). */
  onProgress?: (iteration: number, kl: number) => void;
}

export interface TsneResult {
  /** [n, dims] row-major. */
  embedding: Float64Array;
  /** KL(P ‖ Q) at the end. */
  kl: number;
  perplexity: number;
}

/** Conditional probabilities of one row with precision beta; returns the entropy (nats). */
function rowP(d2: Float64Array, i: number, n: number, beta: number, out: Float64Array): number {
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const v = j === i ? 0 : Math.exp(-d2[i * n + j] * beta);
    out[j] = v;
    sum += v;
  }
  if (sum <= 0) sum = 1e-300;
  let h = 0;
  for (let j = 0; j < n; j++) {
    const p = out[j] / sum;
    out[j] = p;
    if (p > 1e-300) h -= p * Math.log(p);
  }
  return h;
}

/** Symmetric joint probabilities P [n·n] for points x [n, d]. */
export function tsneJointProbabilities(x: ArrayLike<number>, n: number, d: number, perplexity: number): Float64Array {
  const d2 = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        const t = x[i * d + k] - x[j * d + k];
        s += t * t;
      }
      d2[i * n + j] = d2[j * n + i] = s;
    }
  }
  const target = Math.log(perplexity);
  const cond = new Float64Array(n * n);
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let beta = 1;
    let lo = -Infinity;
    let hi = Infinity;
    for (let it = 0; it < 100; it++) {
      const h = rowP(d2, i, n, beta, row);
      const diff = h - target;
      if (Math.abs(diff) < 1e-5) break;
      if (diff > 0) {
        // entropy too high: sharpen
        lo = beta;
        beta = hi === Infinity ? beta * 2 : (beta + hi) / 2;
      } else {
        hi = beta;
        beta = lo === -Infinity ? beta / 2 : (beta + lo) / 2;
      }
    }
    cond.set(row, i * n);
  }
  const P = new Float64Array(n * n);
  const scale = 1 / (2 * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) P[i * n + j] = i === j ? 0 : Math.max((cond[i * n + j] + cond[j * n + i]) * scale, 1e-12);
  }
  return P;
}

/** Gradient of KL(P ‖ Q) at y (written into grad) and the divergence itself. */
function gradient(P: Float64Array, y: Float64Array, n: number, dims: number, exaggeration: number, grad: Float64Array, num: Float64Array): number {
  let sumQ = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < dims; k++) {
        const t = y[i * dims + k] - y[j * dims + k];
        s += t * t;
      }
      const q = 1 / (1 + s);
      num[i * n + j] = num[j * n + i] = q;
      sumQ += 2 * q;
    }
  }
  grad.fill(0);
  let kl = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const q = Math.max(num[i * n + j] / sumQ, 1e-12);
      const p = exaggeration * P[i * n + j];
      const m = 4 * (p - q) * num[i * n + j];
      for (let k = 0; k < dims; k++) grad[i * dims + k] += m * (y[i * dims + k] - y[j * dims + k]);
      kl += P[i * n + j] * Math.log(Math.max(P[i * n + j], 1e-12) / q);
    }
  }
  return kl;
}

/** t-SNE of points x [n, d] (row-major) → [n, dims]. */
export function tsne(x: ArrayLike<number>, n: number, d: number, options: TsneOptions = {}): TsneResult {
  if (!Number.isInteger(n) || n < 2) throw new Error(`lrdif: tsne: need at least 2 points, got ${n}`);
  if (!Number.isInteger(d) || d < 1 || x.length !== n * d) throw new Error(`lrdif: tsne: ${x.length} values are not ${n} points of ${d} dimensions`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new Error(`lrdif: tsne: point ${Math.floor(i / d)} has a non-finite coordinate (${x[i]})`);
  const dims = options.dims ?? 2;
  const iterations = options.iterations ?? 1000;
  const exIters = options.exaggerationIterations ?? 250;
  const ex = options.earlyExaggeration ?? 12;
  const perplexity = Math.max(1, Math.min(options.perplexity ?? 30, (n - 1) / 3));
  const lr = options.learningRate === undefined || options.learningRate === 'auto' ? Math.max(n / ex / 4, 50) : options.learningRate;
  if (!(lr > 0)) throw new Error(`lrdif: tsne: learning rate must be > 0, got ${lr}`);
  const P = tsneJointProbabilities(x, n, d, perplexity);
  const rng = new HostRandom(options.seed ?? 0, 0);
  const y = new Float64Array(n * dims);
  for (let i = 0; i < y.length; i++) y[i] = 1e-4 * rng.normal();
  const update = new Float64Array(n * dims);
  const gains = new Float64Array(n * dims).fill(1);
  const grad = new Float64Array(n * dims);
  const num = new Float64Array(n * n);
  let kl = 0;
  for (let it = 0; it < iterations; it++) {
    const early = it < exIters;
    const momentum = early ? 0.5 : 0.8;
    kl = gradient(P, y, n, dims, early ? ex : 1, grad, num);
    for (let i = 0; i < y.length; i++) {
      // sklearn's rule: the gain grows where the last update and the gradient disagree in sign
      gains[i] = Math.max(update[i] * grad[i] < 0 ? gains[i] + 0.2 : gains[i] * 0.8, 0.01);
      update[i] = momentum * update[i] - lr * gains[i] * grad[i];
      y[i] += update[i];
    }
    if (options.onProgress && ((it + 1) % 50 === 0 || it === iterations - 1)) options.onProgress(it + 1, kl);
  }
  kl = gradient(P, y, n, dims, 1, grad, num);
  return { embedding: y, kl, perplexity };
}
