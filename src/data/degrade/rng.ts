/**
 * Seeds and host-side parameter draws for the degradations, all from Philox4x32-10 (the same
 * generator as src/kernels/random.ts, evaluated on the host with `philox4x32`), so a
 * degradation depends only on (dataset seed, image index) and is the same on every machine.
 *
 * - `imageSeed(seed, index)`: the per-image seed, a 53-bit integer from the Philox block with
 *   counter (index lo, index hi, 0x5EED, 0) and key (seed lo, seed hi): words w0 + (w1 mod 2^21)·2^32.
 * - `ParamRng(imageSeed)`: draw k of an image's parameters uses the block with counter
 *   (k, 0, 1, 0) and key (imageSeed lo, imageSeed hi), and turns its first two words into a
 *   53-bit uniform u = ((w0 >>> 5)·2^26 + (w1 >>> 6)) / 2^53 ∈ [0, 1).
 * - The GPU noise of an image uses the same key with counters (element, 0, 0, 0), a disjoint
 *   stream (shaders/degrade.wgsl).
 */
import { philox4x32, philoxUniforms } from '../../kernels/random.js';

const TWO32 = 4294967296;
const MAX_SEED = 2 ** 53;

export function checkSeed(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_SEED) {
    throw new Error(`lrdif: ${what} must be an integer in [0, 2^53], got ${String(v)}`);
  }
  return v;
}

/** The Philox key words of a seed. */
export function seedKey(seed: number): [number, number] {
  const u = philoxUniforms(seed, 0);
  return [u.key0, u.key1];
}

/** The seed of image `index` of a dataset (or batch) seeded with `seed`. */
export function imageSeed(seed: number, index: number): number {
  checkSeed('imageSeed: seed', seed);
  checkSeed('imageSeed: index', index);
  const [w0, w1] = philox4x32([index % TWO32, Math.floor(index / TWO32), 0x5eed, 0], seedKey(seed));
  return w0 + (w1 & 0x1fffff) * TWO32;
}

/** Seeded uniform draws for one image's parameters (draw k is always the same value). */
export class ParamRng {
  private k = 0;
  private readonly key: [number, number];

  constructor(readonly seed: number) {
    checkSeed('ParamRng: seed', seed);
    this.key = seedKey(seed);
  }

  /** The next uniform in [0, 1) (53 bits). */
  next(): number {
    const [w0, w1] = philox4x32([this.k, 0, 1, 0], this.key);
    this.k++;
    return ((w0 >>> 5) * 67108864 + (w1 >>> 6)) / 9007199254740992;
  }

  /** Uniform in [lo, hi], rounded to f32 (what the GPU will use). */
  uniform(range: readonly [number, number]): number {
    const u = this.next();
    return Math.fround(range[0] + (range[1] - range[0]) * u);
  }

  /** Log-uniform in [lo, hi] (lo > 0), rounded to f32. */
  logUniform(range: readonly [number, number]): number {
    const u = this.next();
    return Math.fround(Math.exp(Math.log(range[0]) + (Math.log(range[1]) - Math.log(range[0])) * u));
  }

  /** True with probability p (always consumes one draw). */
  bernoulli(p: number): boolean {
    return this.next() < p;
  }
}
