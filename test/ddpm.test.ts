import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { gpu, skipWithoutSubgroups } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { backward, tidy, noGrad, randomNormal, Generator, type Tensor, type GpuContext, type TuningPatch } from '../src/node.js';
import {
  ddpmSchedule,
  ddpmCoefficients,
  ddpmStep,
  ddpmStepUnfused,
  ddpmSampleFused,
  ddpmSampleUnfused,
  type DdpmDenoiserWeights,
  type DdpmParameterisation,
} from '../src/kernels/ddpm.js';
import { refDdpmStep } from '../src/selftest/reference/ddpm.js';

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await gpu();
});
/** Forces the fused chain's kernel variants until the end of the test. */
let restores: Array<() => void> = [];
function force(ddpm: TuningPatch['ddpm']): void {
  restores.push(ctx.setTuning({ ddpm }));
}
afterEach(() => {
  for (const r of restores.reverse()) r();
  restores = [];
});

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** The chain kernels this adapter can run. */
function chainKernels(): Array<'subgroup' | 'portable'> {
  return ctx.caps.subgroupsAtLeast8 ? ['subgroup', 'portable'] : ['portable'];
}

describe('ddpmSchedule', () => {
  it("gives LRDif's T = 4 betas and the cumulative products", () => {
    const s = ddpmSchedule(4);
    expectClose(s.betas, [0.1, 0.2943, 0.591, 0.99], 5e-4, 0, 'betas');
    // exact: linspace(√0.1, √0.99, 4)²
    const r0 = Math.sqrt(0.1);
    const r1 = Math.sqrt(0.99);
    for (let i = 0; i < 4; i++) expect(s.betas[i]).toBeCloseTo((r0 + ((r1 - r0) * i) / 3) ** 2, 14);
    let prod = 1;
    for (let i = 0; i < 4; i++) {
      expect(s.alphas[i]).toBeCloseTo(1 - s.betas[i], 15);
      prod *= 1 - s.betas[i];
      expect(s.alphasCumprod[i]).toBeCloseTo(prod, 15);
    }
    expect(s.betas[0]).toBeCloseTo(0.1, 15);
    expect(s.betas[3]).toBeCloseTo(0.99, 14);
  });

  it('follows torch.linspace for T = 1 (β = [β_start]) and offers the linear kind', () => {
    expect(Array.from(ddpmSchedule(1).betas)).toEqual([0.1]);
    expect(Array.from(ddpmSchedule(1, { kind: 'linear', betaStart: 0.3 }).betas)).toEqual([0.3]);
    const lin = ddpmSchedule(3, { kind: 'linear', betaStart: 0.2, betaEnd: 0.6 });
    expectClose(lin.betas, [0.2, 0.4, 0.6], 1e-14, 0, 'linear betas');
    expect(ddpmSchedule(32).betas.length).toBe(32);
  });

  it('rejects bad arguments by name', () => {
    expect(() => ddpmSchedule(0)).toThrow(/ddpmSchedule: T must be a positive integer, got 0/);
    expect(() => ddpmSchedule(2.5)).toThrow(/ddpmSchedule: T/);
    expect(() => ddpmSchedule(4, { betaEnd: 1 })).toThrow(/ddpmSchedule: betaEnd must lie in \(0, 1\), got 1/);
    expect(() => ddpmSchedule(4, { betaStart: 0 })).toThrow(/betaStart/);
    expect(() => ddpmSchedule(4, { kind: 'cosine' as 'linear' })).toThrow(/kind/);
  });

  it('gives the step coefficients of Eq. 16 and of the x0 posterior mean (ᾱ_0 = 1)', () => {
    const s = ddpmSchedule(4);
    for (let t = 1; t <= 4; t++) {
      const b = s.betas[t - 1];
      const a = s.alphas[t - 1];
      const ab = s.alphasCumprod[t - 1];
      const abp = t > 1 ? s.alphasCumprod[t - 2] : 1;
      const e = ddpmCoefficients(s, t, 'eps');
      // Z_{t−1} = (Z_t − β/√(1−ᾱ)·ε)/√α
      expect(e.a).toBeCloseTo(1 / Math.sqrt(a), 14);
      expect(e.b).toBeCloseTo(-b / Math.sqrt(1 - ab) / Math.sqrt(a), 14);
      const x = ddpmCoefficients(s, t, 'x0');
      expect(x.a).toBeCloseTo((Math.sqrt(a) * (1 - abp)) / (1 - ab), 14);
      expect(x.b).toBeCloseTo((Math.sqrt(abp) * b) / (1 - ab), 14);
    }
    // the last x0 step returns x̂0 itself
    const one = ddpmCoefficients(ddpmSchedule(1), 1, 'x0');
    expect(one.a).toBe(0);
    expect(one.b).toBeCloseTo(1, 15);
    expect(() => ddpmCoefficients(s, 5)).toThrow(/ddpmStep: step t must be an integer in 1…4, got 5/);
    expect(() => ddpmCoefficients(s, 0)).toThrow(/ddpmStep: step t/);
  });
});

describe('ddpmStep', () => {
  const sched = ddpmSchedule(4);

  /** float64 a·zt + b·eps + σ·noise (the reference is shared with `lrdif selftest`). */
  function refStep(zt: Float64Array, eps: Float64Array, t: number, param: DdpmParameterisation, sigma = 0, noise?: Float64Array): Float64Array {
    return refDdpmStep(zt, eps, ddpmCoefficients(sched, t, param), sigma, noise);
  }

  for (const param of ['eps', 'x0'] as const) {
    for (const [shape, t, withNoise] of [
      [[1, 1], 1, false],
      [[3, 5], 4, true],
      [[7, 33], 2, false],
      [[64, 256], 3, true],
    ] as Array<[number[], number, boolean]>) {
      it(`equals the unfused composition, forward and gradients (${param}, [${shape.join(', ')}], t ${t}${withNoise ? ', σ·noise' : ''})`, async () => {
        const n = shape[0] * shape[1];
        const zData = randArray(shape, 1 + t + n, -2, 2);
        const eData = randArray(shape, 2 + t + n, -2, 2);
        const nData = randArray(shape, 3 + t + n, -2, 2);
        const gData = randArray(shape, 4 + t + n, -1, 1);
        const sigma = withNoise ? 0.37 : undefined;
        const results: Array<{ out: Float32Array; dz: Float32Array; de: Float32Array }> = [];
        for (const fn of [ddpmStep, ddpmStepUnfused]) {
          const z = gpuTensor(zData, shape, true);
          const e = gpuTensor(eData, shape, true);
          const noise = withNoise ? gpuTensor(nData, shape) : undefined;
          const out = tidy(() => fn(z, e, t, sched, { param, sigma, noise }));
          const g = gpuTensor(gData, shape);
          backward(out, { grad: g });
          results.push({ out: (await out.data()) as Float32Array, dz: (await z.grad!.data()) as Float32Array, de: (await e.grad!.data()) as Float32Array });
          for (const x of [out, g, z.grad, e.grad, z, e, noise]) x?.dispose();
        }
        const [f, u] = results;
        expectClose(f.out, u.out, 1e-4, 1e-4 * maxAbs(u.out), 'forward vs unfused');
        expectClose(f.dz, u.dz, 1e-4, 1e-6, 'dz_t vs unfused');
        expectClose(f.de, u.de, 1e-4, 1e-6, 'deps vs unfused');
        expectClose(f.out, refStep(zData, eData, t, param, sigma, withNoise ? nData : undefined), 1e-5, 1e-5, 'forward vs float64');
      });
    }

    it(`passes finite differences (${param})`, async () => {
      const shape = [3, 4];
      for (const t of [1, 3]) {
        await checkGradients({
          inputs: [
            { data: randArray(shape, 10 + t), shape },
            { data: randArray(shape, 20 + t), shape },
            { data: randArray(shape, 30 + t), shape, grad: false },
          ],
          gpuFn: (z, e, nz) => ddpmStep(z, e, t, sched, { param, sigma: 0.5, noise: nz }),
          refFn: (z, e, nz) => refStep(z, e, t, param, 0.5, nz),
        });
      }
    });
  }

  it('chains: gradients flow through several steps into the first Z and every prediction', async () => {
    const shape = [2, 3];
    const T = 4;
    const s = ddpmSchedule(T);
    const zData = randArray(shape, 51);
    const preds = [0, 1, 2, 3].map((i) => randArray(shape, 60 + i));
    await checkGradients({
      inputs: [{ data: zData, shape }, ...preds.map((d) => ({ data: d, shape }))],
      gpuFn: (z, ...p) => {
        let cur = z;
        for (let t = T; t >= 1; t--) cur = ddpmStep(cur, p[T - t], t, s);
        return cur;
      },
      refFn: (z, ...p) => {
        let cur = z;
        for (let t = T; t >= 1; t--) {
          const { a, b } = ddpmCoefficients(s, t, 'eps');
          cur = cur.map((v, i) => a * v + b * p[T - t][i]);
        }
        return cur;
      },
    });
  });

  it('names the op and the shapes in errors', () => {
    const a = gpuTensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = gpuTensor([1, 2, 3, 4, 5, 6], [3, 2]);
    expect(() => ddpmStep(a, b, 1, sched)).toThrow(/ddpmStep: zt \[2, 3\] and eps \[3, 2\] must have the same shape/);
    expect(() => ddpmStep(a, a, 1, sched, { sigma: 0.5 })).toThrow(/ddpmStep: sigma 0.5 was given without noise/);
    expect(() => ddpmStep(a, a, 1, sched, { noise: a })).toThrow(/ddpmStep: noise was given, so sigma must be a finite number/);
    expect(() => ddpmStep(a, a, 1, sched, { noise: b, sigma: 1 })).toThrow(/ddpmStep: noise \[3, 2\] must have the shape of zt \[2, 3\]/);
    expect(() => ddpmStep(a, a, 7, sched)).toThrow(/ddpmStep: step t must be an integer in 1…4, got 7/);
    expect(() => ddpmStep(a, a, 1, sched, { param: 'v' as 'eps' })).toThrow(/ddpmStep: param must be 'eps' or 'x0'/);
    a.dispose();
    b.dispose();
  });
});

// ---------------------------------------------------------------- the fused chain

interface Net {
  weights: DdpmDenoiserWeights;
  c: Tensor;
  dispose: () => void;
}

/** A denoiser with weights ~ U(±scale/√fan_in) (so the chain stays tame) and a condition c. */
function makeNet(B: number, C: number, W: number, nh: number, seed: number): Net {
  const lin = (out: number, inp: number, s: number) => ({
    w: gpuTensor(randArray([out, inp], s, -1.5 / Math.sqrt(inp), 1.5 / Math.sqrt(inp)), [out, inp]),
    b: gpuTensor(randArray([out], s + 1, -0.2, 0.2), [out]),
  });
  const l1 = lin(W, 2 * C + 1, seed);
  const hidden = Array.from({ length: nh }, (_, i) => lin(W, W, seed + 10 + 2 * i));
  const l2 = lin(C, W, seed + 50);
  const c = gpuTensor(randArray([B, C], seed + 60, -1, 1), [B, C]);
  const all = [l1.w, l1.b, l2.w, l2.b, c, ...hidden.flatMap((h) => [h.w, h.b])];
  return { weights: { w1: l1.w, b1: l1.b, hidden, w2: l2.w, b2: l2.b }, c, dispose: () => all.forEach((t) => t.dispose()) };
}

async function read(t: Tensor): Promise<Float32Array> {
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

describe('ddpmSampleFused', () => {
  // [B, C, W, hidden layers, T, param, Z_T from]
  const cases: Array<[number, number, number, number, number, DdpmParameterisation, 'zT' | 'generator']> = [
    [3, 1, 8, 0, 1, 'eps', 'zT'],
    [5, 5, 8, 1, 2, 'x0', 'generator'],
    [17, 32, 64, 2, 4, 'eps', 'generator'],
    [2, 5, 64, 1, 7, 'eps', 'zT'],
    [9, 32, 8, 0, 32, 'x0', 'zT'],
    [1, 1, 64, 2, 32, 'eps', 'generator'],
    [33, 32, 64, 1, 4, 'x0', 'zT'],
    [4, 32, 64, 0, 1, 'x0', 'generator'],
    [6, 5, 8, 2, 4, 'eps', 'zT'],
  ];
  for (const [B, C, W, nh, T, param, from] of cases) {
    it(`equals ddpmStep applied step by step: B ${B}, C ${C}, W ${W}, ${nh} hidden, T ${T}, ${param}, Z_T from ${from}`, async () => {
      const net = makeNet(B, C, W, nh, 100 + B + C + W + T);
      const sched = ddpmSchedule(T);
      const zT = from === 'zT' ? gpuTensor(randArray([B, C], 7 + T, -2, 2), [B, C]) : undefined;
      const opts = () => (zT ? { zT, param } : { generator: new Generator(1234 + T), param });
      const ref = await read(ddpmSampleUnfused(net.c, net.weights, sched, opts()));
      for (const chain of chainKernels()) {
        force({ path: chain });
        const got = await read(ddpmSampleFused(net.c, net.weights, sched, opts()));
        expectClose(got, ref, 1e-4, 1e-4 * maxAbs(ref), `${chain} chain`);
      }
      zT?.dispose();
      net.dispose();
    });
  }

  it('gives every row count of the subgroup kernel the same result (8, 16, 32 rows per workgroup)', async (t) => {
    skipWithoutSubgroups(t, ctx);
    const B = 40;
    const net = makeNet(B, 32, 64, 1, 7);
    const sched = ddpmSchedule(4);
    force({ path: 'portable' });
    const ref = await read(ddpmSampleFused(net.c, net.weights, sched, { generator: new Generator(3) }));
    for (const rows of [8, 16, 32] as const) {
      force({ path: 'subgroup', rows });
      const got = await read(ddpmSampleFused(net.c, net.weights, sched, { generator: new Generator(3) }));
      expectClose(got, ref, 1e-5, 1e-5 * maxAbs(ref), `${rows} rows per workgroup`);
    }
    net.dispose();
  });

  it("draws Z_T from randomNormal's stream and advances the generator like it", async () => {
    const [B, C] = [7, 5];
    const net = makeNet(B, C, 8, 1, 9);
    const sched = ddpmSchedule(2);
    for (const chain of chainKernels()) {
      force({ path: chain });
      const g1 = new Generator(77);
      g1.advance(5);
      const g2 = new Generator(77);
      g2.advance(5);
      const zT = randomNormal([B, C], { generator: g2 });
      const a = await read(ddpmSampleFused(net.c, net.weights, sched, { generator: g1 }));
      const b = await read(ddpmSampleFused(net.c, net.weights, sched, { zT }));
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(g1.getState()).toEqual(g2.getState());
      zT.dispose();
    }
    net.dispose();
  });

  it('runs the whole chain in one dispatch and holds memory flat', async () => {
    const net = makeNet(16, 32, 64, 2, 11);
    const sched = ddpmSchedule(7);
    for (const chain of chainKernels()) {
      force({ path: chain });
      let live = -1;
      for (let i = 0; i < 4; i++) {
        const before = ctx.dispatchCount;
        const z = ddpmSampleFused(net.c, net.weights, sched, { generator: new Generator(i) });
        expect(ctx.dispatchCount - before).toBe(1);
        await read(z);
        await ctx.sync();
        if (i === 1) live = ctx.stats().liveBuffers;
        if (i > 1) expect(ctx.stats().liveBuffers).toBe(live);
      }
    }
    net.dispose();
  });

  it('is inference only: it refuses inputs that need a gradient, and runs under noGrad', async () => {
    const net = makeNet(2, 4, 8, 0, 13);
    const sched = ddpmSchedule(4);
    net.weights.w1.requiresGrad = true;
    expect(() => ddpmSampleFused(net.c, net.weights, sched)).toThrow(/ddpmSampleFused: inference only, but an input requires a gradient/);
    const z = noGrad(() => ddpmSampleFused(net.c, net.weights, sched, { generator: new Generator(1) }));
    expect(z.shape).toEqual([2, 4]);
    z.dispose();
    net.dispose();
  });

  it('names the op and the shapes in errors, and states its limits', () => {
    const net = makeNet(2, 4, 8, 1, 15);
    const sched = ddpmSchedule(4);
    const w = net.weights;
    const bad = gpuTensor(new Float64Array(3 * 9), [3, 9]);
    expect(() => ddpmSampleFused(net.c, { ...w, w1: bad }, sched)).toThrow(/ddpmSampleFused: b1 must be \[3\]|ddpmSampleFused: w1 must be/);
    expect(() => ddpmSampleFused(net.c, { ...w, w2: bad }, sched)).toThrow(/ddpmSampleFused: w2 must be \[4, 8\].*got \[3, 9\]/);
    expect(() => ddpmSampleFused(net.c, { ...w, hidden: [{ w: bad, b: w.b1 }] }, sched)).toThrow(/ddpmSampleFused: hidden\[0\]\.w must be \[8, 8\]/);
    expect(() => ddpmSampleFused(net.c, w, sched, { zT: bad })).toThrow(/ddpmSampleFused: zT must be \[2, 4\]/);
    expect(() => ddpmSampleFused(net.c, w, sched, { zT: net.c, generator: new Generator(1) })).toThrow(/give zT or a generator, not both/);
    expect(() => ddpmSampleFused(net.c, w, ddpmSchedule(33))).toThrow(/ddpmSampleFused: steps T 33 is above the fused kernel's limit 32/);
    const big = makeNet(1, 385, 8, 0, 17);
    expect(() => ddpmSampleFused(big.c, big.weights, sched)).toThrow(/ddpmSampleFused: prior size C 385 is above the fused kernel's limit 384/);
    const wide = makeNet(1, 2, 257, 0, 19);
    expect(() => ddpmSampleFused(wide.c, wide.weights, sched)).toThrow(/denoiser width W 257 is above the fused kernel's limit 256/);
    const deep = makeNet(1, 2, 8, 5, 21);
    expect(() => ddpmSampleFused(deep.c, deep.weights, sched)).toThrow(/hidden layers 5 is above the fused kernel's limit 4/);
    for (const n of [net, big, wide, deep]) n.dispose();
    bad.dispose();
  });
});
