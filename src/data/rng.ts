/**
 * Seeded host-side random numbers for data pipelines (shuffles, splits, procedural images),
 * from the same Philox4x32-10 as the GPU generator (src/kernels/random.ts): stream `stream`
 * of seed `seed` is the sequence of blocks philox(counter = (i mod 2^32, ⌊i / 2^32⌋,
 * stream mod 2^32, ⌊stream / 2^32⌋), key = (seed mod 2^32, ⌊seed / 2^32⌋)) for i = 0, 1, …,
 * read four words per block. So every value depends only on (seed, stream, position), and
 * independent streams (one per epoch, per image, per class) never overlap.
 */
import { philox4x32 } from '../kernels/random.js';

const TWO32 = 4294967296;

function checkSeed(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > Number.MAX_SAFE_INTEGER) {
    throw new Error(`lrdif: HostRandom: ${what} must be an integer in [0, 2^53), got ${v}`);
  }
}

export class HostRandom {
  private block = 0;
  private words: [number, number, number, number] = [0, 0, 0, 0];
  private used = 4;

  constructor(
    readonly seed: number,
    readonly stream = 0,
  ) {
    checkSeed('seed', seed);
    checkSeed('stream', stream);
  }

  /** The next 32-bit word (unsigned). */
  nextU32(): number {
    if (this.used === 4) {
      const b = this.block++;
      this.words = philox4x32([b % TWO32, Math.floor(b / TWO32), this.stream % TWO32, Math.floor(this.stream / TWO32)], [this.seed % TWO32, Math.floor(this.seed / TWO32)]);
      this.used = 0;
    }
    return this.words[this.used++];
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Uniform integer in [0, n) (n ≤ 2^32), without bias (rejection). */
  below(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO32) throw new Error(`lrdif: HostRandom.below: n must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO32 - (TWO32 % n);
    for (;;) {
      const w = this.nextU32();
      if (w < limit) return w % n;
    }
  }

  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = 1 - this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  /** Fisher–Yates shuffle in place; returns the array. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }
}

/** A random permutation of 0..n-1 determined by (seed, stream). */
export function permutation(n: number, seed: number, stream = 0): number[] {
  return new HostRandom(seed, stream).shuffle(Array.from({ length: n }, (_, i) => i));
}

/** Mulberry32: a small seeded generator of uniforms in [0, 1) (test data, toy data, pixel noise); the same seed gives the same numbers everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
