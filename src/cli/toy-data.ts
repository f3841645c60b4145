/**
 * Seeded synthetic 2-D classification data for the engine demo: interleaved spiral arms
 * (not linearly separable, so the MLP has to learn curved boundaries) or Gaussian blobs.
 */
import { mulberry32 } from '../data/rng.js';

export interface ToyData {
  /** Points, row-major [n, 2]. */
  x: Float32Array;
  /** Class of each point, in [0, classes). */
  y: Int32Array;
  n: number;
  classes: number;
}

export { mulberry32 };

/** Standard normal by Box–Muller. */
function gaussian(rand: () => number): number {
  const u = 1 - rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** `classes` spiral arms of `perClass` points each, radius 0…1 over `turns` turns, with Gaussian jitter. */
export function spiral(perClass: number, classes: number, seed: number, noise = 0.04, turns = 0.75): ToyData {
  const rand = mulberry32(seed);
  const n = perClass * classes;
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  let i = 0;
  for (let c = 0; c < classes; c++) {
    for (let k = 0; k < perClass; k++, i++) {
      const r = (k + 0.5) / perClass;
      const angle = (2 * Math.PI * c) / classes + 2 * Math.PI * turns * r;
      x[2 * i] = r * Math.cos(angle) + noise * gaussian(rand);
      x[2 * i + 1] = r * Math.sin(angle) + noise * gaussian(rand);
      y[i] = c;
    }
  }
  return shuffle({ x, y, n, classes }, rand);
}

/** `classes` isotropic Gaussian blobs with centres on a circle of radius 1. */
export function blobs(perClass: number, classes: number, seed: number, std = 0.3): ToyData {
  const rand = mulberry32(seed);
  const n = perClass * classes;
  const x = new Float32Array(n * 2);
  const y = new Int32Array(n);
  let i = 0;
  for (let c = 0; c < classes; c++) {
    const cx = Math.cos((2 * Math.PI * c) / classes);
    const cy = Math.sin((2 * Math.PI * c) / classes);
    for (let k = 0; k < perClass; k++, i++) {
      x[2 * i] = cx + std * gaussian(rand);
      x[2 * i + 1] = cy + std * gaussian(rand);
      y[i] = c;
    }
  }
  return shuffle({ x, y, n, classes }, rand);
}

/** Fisher–Yates over the points, so mini-batches mix the classes. */
function shuffle(d: ToyData, rand: () => number): ToyData {
  for (let i = d.n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [d.y[i], d.y[j]] = [d.y[j], d.y[i]];
    [d.x[2 * i], d.x[2 * j]] = [d.x[2 * j], d.x[2 * i]];
    [d.x[2 * i + 1], d.x[2 * j + 1]] = [d.x[2 * j + 1], d.x[2 * i + 1]];
  }
  return d;
}

/** Fraction of rows whose predicted class equals the label. */
export function accuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predicted.length !== labels.length) throw new Error(`lrdif: accuracy: ${predicted.length} predictions for ${labels.length} labels`);
  let hits = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) hits++;
  return labels.length ? hits / labels.length : 0;
}
