/**
 * The DDPM reverse chain of LRDif stage 2 at inference: ddpmSampleFused (one dispatch for the
 * whole chain, Z_T drawn in-kernel) vs the step-by-step composition ddpmSampleUnfused
 * (randomNormal, then per step concat + one matmul per layer with bias and LeakyReLU fused +
 * ddpmStep), same weights, same generator, same adapter, same run.
 * - the headline case: T = 4, batch 64, C = 256, W = 256, 1 hidden layer (the reference config);
 * - T = 1…32 at the same sizes; the tiny config (C = 32, W = 64) at T = 4;
 * - one reverse step, ddpmStep vs its unfused composition, [64, 256].
 * The fused row's `note` holds the step-by-step/fused ratios of wall and GPU time and the
 * dispatches per chain of each. GFLOP/s counts the denoiser's multiply-adds as the step-by-step
 * chain does them, 2·B·T·((2C+1)·W + n·W² + W·C), for both rows.
 */
import { tensor, noGrad, Generator, type Tensor } from '../src/node.js';
import { ddpmSampleFused, ddpmSampleUnfused, ddpmSchedule, ddpmStep, ddpmStepUnfused, type DdpmDenoiserWeights } from '../src/kernels/ddpm.js';
import type { Harness, Suite } from './harness.js';
import { randomData } from './random-data.js';
import { addRatioNote, forwardImpl } from './fused-compare.js';

interface Net {
  weights: DdpmDenoiserWeights;
  c: Tensor;
  dispose: () => void;
}

function makeNet(B: number, C: number, W: number, nh: number): Net {
  const lin = (out: number, inp: number, seed: number) => ({
    w: tensor(randomData(out * inp, seed, 2 / Math.sqrt(inp)), [out, inp]),
    b: tensor(randomData(out, seed + 1, 0.2), [out]),
  });
  const l1 = lin(W, 2 * C + 1, 1);
  const hidden = Array.from({ length: nh }, (_, i) => lin(W, W, 10 + 2 * i));
  const l2 = lin(C, W, 50);
  const c = tensor(randomData(B * C, 60, 2), [B, C]);
  const all = [l1.w, l1.b, l2.w, l2.b, c, ...hidden.flatMap((h) => [h.w, h.b])];
  return { weights: { w1: l1.w, b1: l1.b, hidden, w2: l2.w, b2: l2.b }, c, dispose: () => all.forEach((t) => t.dispose()) };
}

/** Dispatches one call of `fn` records (ctx.dispatchCount delta). */
async function dispatchesOf(h: Harness, fn: () => Tensor): Promise<number> {
  const before = h.ctx.dispatchCount;
  const z = fn();
  const n = h.ctx.dispatchCount - before;
  await z.data();
  z.dispose();
  return n;
}

async function chainCase(h: Harness, B: number, C: number, W: number, nh: number, T: number, samples: number): Promise<void> {
  const net = makeNet(B, C, W, nh);
  const sched = ddpmSchedule(T);
  const shape = `B ${B}, C ${C}, W ${W}, ${nh} hidden, T ${T}`;
  const flops = 2 * B * T * ((2 * C + 1) * W + nh * W * W + W * C);
  const gen = new Generator(2024);
  const fused = () => noGrad(() => ddpmSampleFused(net.c, net.weights, sched, { generator: gen }));
  const unfused = () => noGrad(() => ddpmSampleUnfused(net.c, net.weights, sched, { generator: gen }));
  try {
    const dFused = await dispatchesOf(h, fused);
    const dUnfused = await dispatchesOf(h, unfused);
    await h.case({ name: 'ddpm chain fused', shape, flops, ours: forwardImpl(fused), samples });
    const rf = h.rows[h.rows.length - 1];
    await h.case({ name: 'ddpm chain step-by-step', shape, flops, ours: forwardImpl(unfused), samples });
    const ru = h.rows[h.rows.length - 1];
    addRatioNote(rf, ru, 'step-by-step/fused', `; dispatches per chain: fused ${dFused}, step-by-step ${dUnfused}`);
  } finally {
    net.dispose();
  }
}

async function stepCase(h: Harness): Promise<void> {
  const shape = [64, 256];
  const sched = ddpmSchedule(4);
  const z = tensor(randomData(64 * 256, 1, 2), shape);
  const e = tensor(randomData(64 * 256, 2, 2), shape);
  const bytes = 3 * 64 * 256 * 4;
  try {
    await h.case({ name: 'ddpmStep fused', shape: '[64, 256], t 3', bytes, ours: forwardImpl(() => ddpmStep(z, e, 3, sched)) });
    const rf = h.rows[h.rows.length - 1];
    await h.case({ name: 'ddpmStep unfused', shape: '[64, 256], t 3', bytes, ours: forwardImpl(() => ddpmStepUnfused(z, e, 3, sched)) });
    addRatioNote(rf, h.rows[h.rows.length - 1], 'step-by-step/fused');
  } finally {
    z.dispose();
    e.dispose();
  }
}

export const ddpmSuite: Suite = {
  name: 'ddpm',
  description: 'DDPM reverse chain (T = 4, batch 64, C = 256, W = 256) in one dispatch vs step by step; T = 1…32; tiny config; one step',
  async run(h) {
    await chainCase(h, 64, 256, 256, 1, 4, 9);
    for (const T of [1, 2, 8, 16, 32]) await chainCase(h, 64, 256, 256, 1, T, 5);
    await chainCase(h, 64, 32, 64, 1, 4, 9);
    await stepCase(h);
  },
};
