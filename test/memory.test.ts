/**
 * Memory flatness: a training loop must not leak GPU buffers. After a short warm-up (pools
 * filled, pipelines built), every step must end with exactly the same live buffers and bytes,
 * create no new GPU buffers or pipelines, and leave no graph node held.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { gpuTensor, randArray } from './helpers/ref.js';
import { tensor, tidy, backward, crossEntropy, flatten, engine, relu, sum, type Tensor } from '../src/node.js';
import { Conv2d, Linear, ReLU, Sequential } from '../src/nn/index.js';
import { AdamW, clipGradNorm, cosineSchedule } from '../src/optim/index.js';

const STEPS = 1000;
const WARMUP = 10;
const READ_EVERY = 100;

describe('memory', () => {
  beforeAll(gpu);

  it(`${STEPS} training steps (conv + MLP, cross-entropy, clipping, AdamW) keep GPU memory flat`, async () => {
    const ctx = engine.ctx;
    const [n, c, hw, classes] = [8, 2, 6, 5];
    const model = new Sequential(
      new Conv2d(c, 3, 3, { padding: 1, seed: 1 }),
      relu,
      (t: Tensor) => flatten(t, 1),
      new Linear(3 * hw * hw, 16, { seed: 2 }),
      new ReLU(),
      new Linear(16, classes, { seed: 3 }),
    );
    const x = gpuTensor(randArray([n, c, hw, hw], 4), [n, c, hw, hw]);
    const labels = tensor(
      Array.from({ length: n }, (_, i) => (i * 3) % classes),
      [n],
      'i32',
    );
    const opt = new AdamW(model.namedParameters(), { lr: 1e-2 });
    const schedule = cosineSchedule({ baseLr: 1e-2, totalSteps: STEPS, warmupSteps: 20 });

    let ref: ReturnType<typeof ctx.stats> | null = null;
    const violations: string[] = [];
    const losses: number[] = [];
    for (let step = 0; step < STEPS; step++) {
      opt.lr = schedule(step);
      const loss = tidy(() => crossEntropy(model.forward(x), labels));
      backward(loss);
      const norm = clipGradNorm(model.parameters(), 5);
      opt.step();
      opt.zeroGrad();
      if (step % READ_EVERY === 0 || step === STEPS - 1) losses.push(await loss.item());
      loss.dispose();
      norm.dispose();
      if (engine.liveNodes !== 0) violations.push(`step ${step}: ${engine.liveNodes} graph nodes left`);
      const s = ctx.stats();
      if (step === WARMUP) ref = s;
      if (ref && step > WARMUP && violations.length < 5) {
        for (const k of ['liveBuffers', 'liveBytes', 'created', 'kernels'] as const) {
          if (s[k] !== ref[k]) violations.push(`step ${step}: ${k} ${s[k]} (at step ${WARMUP}: ${ref[k]})`);
        }
      }
    }
    expect(violations).toEqual([]);
    // the loop really trained (the data are 8 fixed samples it can fit)
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);

    const live = ctx.stats().liveBuffers;
    opt.dispose();
    model.dispose();
    x.dispose();
    labels.dispose();
    // 2 moments for each of the 6 parameters, the 6 parameters, x and labels
    expect(live - ctx.stats().liveBuffers).toBe(12 + 6 + 2);
  });

  it(`${STEPS} steps with two losses each (two backward calls, no clearTape) and an abandoned graph keep GPU memory flat`, async () => {
    const ctx = engine.ctx;
    const [n, d, classes] = [8, 6, 4];
    const model = new Sequential(new Linear(d, 16, { seed: 5 }), new ReLU(), new Linear(16, classes, { seed: 6 }));
    const x1 = gpuTensor(randArray([n, d], 7), [n, d]);
    const x2 = gpuTensor(randArray([n, d], 8), [n, d]);
    const labels1 = tensor(
      Array.from({ length: n }, (_, i) => i % classes),
      [n],
      'i32',
    );
    const labels2 = tensor(
      Array.from({ length: n }, (_, i) => (i * 3 + 1) % classes),
      [n],
      'i32',
    );
    const opt = new AdamW(model.namedParameters(), { lr: 1e-2 });

    let ref: ReturnType<typeof ctx.stats> | null = null;
    const violations: string[] = [];
    const losses: Array<[number, number]> = [];
    for (let step = 0; step < STEPS; step++) {
      // two graphs sharing the parameters; each backward walks and frees its own
      const a = tidy(() => crossEntropy(model.forward(x1), labels1));
      const b = tidy(() => crossEntropy(model.forward(x2), labels2));
      // a third graph built with gradients on and dropped without backward: disposing its output frees it
      tidy(() => sum(model.forward(x2))).dispose();
      if (step % 2 === 0) {
        backward(a);
        backward(b);
      } else {
        backward(b);
        backward(a);
      }
      opt.step();
      opt.zeroGrad();
      if (step % READ_EVERY === 0 || step === STEPS - 1) losses.push([await a.item(), await b.item()]);
      a.dispose();
      b.dispose();
      if (engine.liveNodes !== 0) violations.push(`step ${step}: ${engine.liveNodes} graph nodes left`);
      const s = ctx.stats();
      if (step === WARMUP) ref = s;
      if (ref && step > WARMUP && violations.length < 5) {
        for (const k of ['liveBuffers', 'liveBytes', 'created', 'kernels'] as const) {
          if (s[k] !== ref[k]) violations.push(`step ${step}: ${k} ${s[k]} (at step ${WARMUP}: ${ref[k]})`);
        }
      }
      if (violations.length >= 5) break;
    }
    expect(violations).toEqual([]);
    // both losses trained: each reached its parameters' gradients
    const [first, last] = [losses[0], losses[losses.length - 1]];
    expect(losses.flat().every(Number.isFinite)).toBe(true);
    expect(last[0]).toBeLessThan(0.5 * first[0]);
    expect(last[1]).toBeLessThan(0.5 * first[1]);

    const live = ctx.stats().liveBuffers;
    opt.dispose();
    model.dispose();
    for (const t of [x1, x2, labels1, labels2]) t.dispose();
    // 2 moments for each of the 4 parameters, the 4 parameters, x1, x2 and the labels
    expect(live - ctx.stats().liveBuffers).toBe(8 + 4 + 4);
  });
});
