/**
 * Memory flatness: a training loop must not leak GPU buffers. After a short warm-up (pools
 * filled, pipelines built), every step must end with exactly the same live buffers and bytes,
 * create no new GPU buffers or pipelines, and leave the tape empty.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { gpuTensor, randArray } from './helpers/ref.js';
import { tensor, tidy, backward, crossEntropy, flatten, engine, relu, type Tensor } from '../src/node.js';
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
    const labels = tensor(Array.from({ length: n }, (_, i) => (i * 3) % classes), [n], 'i32');
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
      if (engine.tape.length !== 0) violations.push(`step ${step}: ${engine.tape.length} tape nodes left`);
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
});
