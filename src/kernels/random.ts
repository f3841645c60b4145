/**
 * Seeded counter-based random numbers on the GPU (shaders/random.wgsl): Philox4x32-10.
 *
 * A `Generator` is only a (seed, offset) pair. A draw of n elements reserves ceil(n/4)
 * counters starting at the offset; element i comes from word i mod 4 of the Philox block
 * with counter (offset + ⌊i/4⌋ as two 32-bit words, 0, 0) and key (seed mod 2^32, ⌊seed/2^32⌋).
 * So a value depends only on (seed, offset, index): draws are reproducible, independent of
 * the dispatch shape, and a saved state resumes the exact sequence.
 *
 * Conversions from a 32-bit word w (the host formulas the GPU reproduces):
 * - uniform [0, 1): u = (w >>> 8) · 2^-24 (24 bits, so every value is exact in f32);
 *   [low, high): min(low + (high − low)·u, largest f32 below high), in f32;
 * - normal: Box–Muller on the word pairs (w0, w1) and (w2, w3) of a block:
 *   u1 = ((w0 >>> 8) + 1) · 2^-24 ∈ (0, 1], θ = 2π·((w1 >>> 8) · 2^-24 − 0.5),
 *   r = √(−2 ln u1); elements 4j, 4j+1 = r·cos θ, r·sin θ (then 4j+2, 4j+3 from w2, w3);
 *   |z| ≤ √(48 ln 2) ≈ 5.77 by construction;
 * - integers [low, high): low + ⌊w · (high − low) / 2^32⌋ (Lemire; bias < (high − low)/2^32).
 */
import { checkShape, fmtShape, type DType, type Shape, type Tensor } from '../autograd/tensor.js';
import { alloc, grid1d } from './util.js';

const TWO32 = 4294967296;
/** Seeds and offsets stay exact integers in a double. */
const MAX_STATE = 2 ** 53;

export interface GeneratorState {
  seed: number;
  offset: number;
}

function checkStateNumber(op: string, what: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_STATE) {
    throw new Error(`lrdif: ${op}: ${what} must be an integer in [0, 2^53], got ${String(v)}`);
  }
}

export class Generator {
  private seed: number;
  private offset = 0;

  constructor(seed: number) {
    checkStateNumber('Generator', 'seed', seed);
    this.seed = seed;
  }

  /** The state to save in checkpoints and restore for exact resumption. */
  getState(): GeneratorState {
    return { seed: this.seed, offset: this.offset };
  }

  setState(s: GeneratorState): void {
    checkStateNumber('Generator.setState', 'seed', s?.seed);
    checkStateNumber('Generator.setState', 'offset', s?.offset);
    this.seed = s.seed;
    this.offset = s.offset;
  }

  /** Reserves `n` counters and returns the first (advances the offset). */
  advance(n: number): number {
    if (!Number.isInteger(n) || n < 0) throw new Error(`lrdif: Generator.advance: n must be a non-negative integer, got ${n}`);
    if (this.offset > MAX_STATE - n) {
      throw new Error(`lrdif: Generator.advance: the offset ${this.offset} + ${n} would pass 2^53; reseed the generator`);
    }
    const first = this.offset;
    this.offset += n;
    return first;
  }
}

const defaultGen = new Generator(0);

/** The module-level generator used when an op is given none (seed 0 unless `manualSeed` is called). */
export function defaultGenerator(): Generator {
  return defaultGen;
}

/** Reseeds the default generator and restarts its offset at 0. */
export function manualSeed(seed: number): void {
  checkStateNumber('manualSeed', 'seed', seed);
  defaultGen.setState({ seed, offset: 0 });
}

/** Key and first-counter words for a draw at `offset` (uniform fields of random.wgsl). */
export function philoxUniforms(seed: number, offset: number): { key0: number; key1: number; ctr0: number; ctr1: number } {
  return { key0: seed % TWO32, key1: Math.floor(seed / TWO32), ctr0: offset % TWO32, ctr1: Math.floor(offset / TWO32) };
}

/** Number of Philox blocks (counters) a draw of `n` elements uses. */
export function philoxBlocks(n: number): number {
  return Math.ceil(n / 4);
}

// ---------------------------------------------------------------- host Philox

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of a·b for 32-bit unsigned a, b (exact; the product does not fit a double). */
function mulhi32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = ((a0 * b0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + Math.floor(mid / 65536)) >>> 0;
}

/** Host-side Philox4x32-10 (for tests and for CPU code that must agree with the GPU bit for bit). */
export function philox4x32(counter: [number, number, number, number], key: [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0);
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

// ---------------------------------------------------------------- GPU draws

const DIST = { bits: 0, uniform: 1, normal: 2, int: 3 } as const;

function draw(op: string, shape: Shape, dtype: DType, dist: keyof typeof DIST, gen: Generator | undefined, params: Record<string, number>): Tensor {
  checkShape(shape, op);
  const g = gen ?? defaultGen;
  if (!(g instanceof Generator)) throw new Error(`lrdif: ${op}: opts.generator must be a Generator`);
  const out = alloc(shape, dtype);
  const blocks = philoxBlocks(out.size);
  const offset = g.advance(blocks);
  const ctx = out.ctx;
  ctx.dispatch(
    { shader: 'random', constants: { DIST: DIST[dist] } },
    {
      bindings: { out: out.buffer },
      uniforms: { n: out.size, ...philoxUniforms(g.getState().seed, offset), ...params },
      workgroups: grid1d(ctx, blocks),
    },
  );
  return out;
}

const f32View = new DataView(new ArrayBuffer(4));

/** The largest f32 strictly below the f32 `v`. */
function f32Below(v: number): number {
  if (v === 0) return -1.401298464324817e-45;
  f32View.setFloat32(0, v, true);
  const bits = f32View.getUint32(0, true);
  f32View.setUint32(0, v > 0 ? bits - 1 : bits + 1, true);
  return f32View.getFloat32(0, true);
}

/** Raw Philox words, reinterpreted as i32 (element i = word i mod 4 of block offset + ⌊i/4⌋). */
export function randomBits(shape: Shape, opts: { generator?: Generator } = {}): Tensor {
  return draw('randomBits', shape, 'i32', 'bits', opts.generator, {});
}

/** Uniform f32 values in [low, high) (default [0, 1)), 24 random bits each. */
export function randomUniform(shape: Shape, opts: { low?: number; high?: number; generator?: Generator } = {}): Tensor {
  const low = Math.fround(opts.low ?? 0);
  const high = Math.fround(opts.high ?? 1);
  const range = Math.fround(high - low);
  if (!Number.isFinite(low) || !Number.isFinite(high) || !(low < high) || !Number.isFinite(range)) {
    throw new Error(`lrdif: randomUniform: need finite low < high with a finite f32 width, got low ${opts.low ?? 0}, high ${opts.high ?? 1} (shape ${fmtShape(shape)})`);
  }
  return draw('randomUniform', shape, 'f32', 'uniform', opts.generator, { a: low, b: range, below_high: f32Below(high) });
}

/** Normal f32 values (Box–Muller on Philox outputs). */
export function randomNormal(shape: Shape, opts: { mean?: number; std?: number; generator?: Generator } = {}): Tensor {
  const mean = opts.mean ?? 0;
  const std = opts.std ?? 1;
  if (!Number.isFinite(mean) || !Number.isFinite(std) || std < 0) {
    throw new Error(`lrdif: randomNormal: need a finite mean and a finite std ≥ 0, got mean ${mean}, std ${std} (shape ${fmtShape(shape)})`);
  }
  return draw('randomNormal', shape, 'f32', 'normal', opts.generator, { a: mean, b: std });
}

/** Uniform i32 integers in [low, high); -2^31 ≤ low < high ≤ 2^31. */
export function randomInt(shape: Shape, low: number, high: number, opts: { generator?: Generator } = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || low >= high || low < -(2 ** 31) || high > 2 ** 31) {
    throw new Error(`lrdif: randomInt: need integers -2^31 ≤ low < high ≤ 2^31, got low ${low}, high ${high} (shape ${fmtShape(shape)})`);
  }
  return draw('randomInt', shape, 'i32', 'int', opts.generator, { ilow: low, irange: (high - low) % TWO32 });
}
