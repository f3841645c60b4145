/**
 * Inverted dropout (the `dropout` entry of shaders/random.wgsl).
 *
 * Element i is kept when the top 24 bits of its Philox word (see random.ts) satisfy
 * (w >>> 8) ≥ ⌈p · 2^24⌉, i.e. when its uniform (w >>> 8)·2^-24 is ≥ p, so p is effectively
 * rounded up to a multiple of 2^-24. Kept values are multiplied by the f32 1/(1 − p).
 *
 * The mask is not stored: the backward regenerates it from the same (seed, offset), which
 * makes the backward the forward kernel applied to the gradient. That costs one Philox block
 * per four elements again but saves a mask tensor the size of x for every dropout layer
 * between forward and backward, which matters more (memory, not arithmetic, is what a
 * training step runs out of).
 */
import { engine } from '../autograd/engine.js';
import type { Tensor } from '../autograd/tensor.js';
import { alloc, assertFloat, grid1d } from './util.js';
import { reshape } from './shape.js';
import { defaultGenerator, Generator, philoxBlocks, philoxUniforms } from './random.js';

interface Mask {
  seed: number;
  offset: number;
  threshold: number;
  scale: number;
}

function applyMask(x: Tensor, m: Mask): Tensor {
  const y = alloc(x.shape);
  const ctx = x.ctx;
  const blocks = philoxBlocks(x.size);
  ctx.dispatch(
    { shader: 'random', entry: 'dropout' },
    {
      bindings: { x: x.buffer, y: y.buffer },
      uniforms: { n: x.size, ...philoxUniforms(m.seed, m.offset), threshold: m.threshold, scale: m.scale },
      workgroups: grid1d(ctx, blocks),
    },
  );
  return y;
}

/** Inverted dropout: zeroes elements with probability p and scales the rest by 1/(1 − p). Identity when !training or p == 0; p == 1 gives zeros. */
export function dropout(x: Tensor, p: number, opts: { training?: boolean; generator?: Generator } = {}): Tensor {
  assertFloat('dropout', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) {
    throw new Error(`lrdif: dropout: p must be a probability in [0, 1], got ${p} (input ${x.describe()})`);
  }
  const gen = opts.generator ?? defaultGenerator();
  if (!(gen instanceof Generator)) throw new Error(`lrdif: dropout: opts.generator must be a Generator (input ${x.describe()})`);
  // a view: no copy, the gradient passes through unchanged, and no counters are used
  if (opts.training === false || p === 0) return reshape(x, x.shape);
  const mask: Mask = {
    seed: gen.getState().seed,
    offset: gen.advance(philoxBlocks(x.size)),
    threshold: Math.ceil(p * 2 ** 24),
    scale: p === 1 ? 0 : Math.fround(1 / (1 - p)),
  };
  const y = applyMask(x, mask);
  if (engine.needsGrad([x])) {
    engine.record('dropout', [x], y, [], (g) => [applyMask(g, mask)]);
  }
  return y;
}
