/**
 * The LRDif model (src/models/lrdif) against an independent PyTorch implementation
 * (test/golden/make_lrdif_fixtures.py → test/golden/fixtures/lrdif.json): every module's
 * forward and gradients — FPEN, a dynamic transformer block (DMNet + DGNet), down/upsample,
 * the DTnetwork, DIL window cross-attention (16 windows × 2 heads and 1 window × 3 heads), the
 * fusion ViT + classifier, the denoiser, three diffusion chains (eps, x0, without insert-noise),
 * the whole UDCformer, the stage-1 and stage-2 forwards and losses — at a config smaller than
 * tiny (32² input, 2×2 windows). The weights come from the fixture through loadStateDict, so the
 * parameter paths are checked too.
 *
 * Tolerance rule: for each compared array e (float64 reference) and a (GPU, float32), every
 * element satisfies |a − e| ≤ tol·(|e| + max|e|) with tol = 1e-4, outputs and gradients alike
 * (on lavapipe the worst case is ≈ 1.5e-5, the gradients of the whole DTnetwork; most are ≈ 1e-7).
 * Gradients are of L = Σ_outputs Σ_i w_i·out_i with w_i = cos(1.3·i + 0.5), or of the loss.
 *
 * Also: configs and their validation errors, the diffusion schedule, parameter counts of
 * `reference` and `tiny` (vs the PyTorch model's), stage parameter groups, loading stage 1 into
 * stage 2, inference, shape errors, and a flat GPU-memory check of repeated stage-2 steps.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/ref.js';
import { tensor, tidy, noGrad, backward, engine, sum, mul, add, randomNormal, Generator, type Tensor, type GpuContext } from '../src/node.js';
import { AdamW } from '../src/optim/index.js';
import {
  LrdifModel,
  LrdifConfigError,
  lrdifConfigs,
  lrdifAblations,
  makeLrdifConfig,
  makeDiffusionSchedule,
  timeFeature,
  insertNoise,
  sampleChain,
  reverseChain,
  canSampleFused,
  relativePositionIndex,
  lrdifMethodName,
  lrdifImageDim,
  withConfigDefaults,
  type LrdifConfig,
  type LandmarkTaps,
} from '../src/models/lrdif/index.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

interface Enc {
  shape: number[];
  b64: string;
}
interface Case {
  inputs: Record<string, Enc>;
  outputs: Record<string, Enc>;
  grads: Record<string, Enc>;
  labels?: number[];
  labelSmoothing?: number;
  overrides?: Partial<LrdifConfig>;
}
const fx = JSON.parse(fs.readFileSync(path.join(HERE, 'golden', 'fixtures', 'lrdif.json'), 'utf8')) as {
  config: Partial<LrdifConfig>;
  state: Record<string, Enc>;
  shared: Record<string, Enc>;
  cases: Record<string, Case>;
  schedule: Record<string, number[]>;
  paramCounts: Record<'reference' | 'tiny', Record<string, number>>;
};

const OUT_TOL = 1e-4;
const GRAD_TOL = 1e-4;

function dec(e: Enc): Float32Array {
  const b = Buffer.from(e.b64, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

function up(e: Enc, requiresGrad = false): Tensor {
  const t = engine.keep(tensor(dec(e), e.shape));
  t.requiresGrad = requiresGrad;
  return t;
}

/** |a − e| ≤ tol·(|e| + max|e|) elementwise. */
function expectNear(actual: ArrayLike<number>, expected: Enc | Float32Array, tol: number, what: string): void {
  const e = expected instanceof Float32Array ? expected : dec(expected);
  let scale = 0;
  for (const v of e) scale = Math.max(scale, Math.abs(v));
  expectClose(actual, e, tol, tol * scale, what);
}

function weights(n: number): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = Math.cos(1.3 * i + 0.5);
  return w;
}

/** Σ w ⊙ out over every output. */
function weightedSum(outs: Tensor[]): Tensor {
  let L: Tensor | null = null;
  for (const o of outs) {
    const s = sum(mul(o, tensor(weights(o.size), o.shape)));
    L = L ? add(L, s) : s;
  }
  return L!;
}

let ctx: GpuContext;
let cfg: LrdifConfig;
let model: LrdifModel;
let state: Map<string, Tensor>;
let shared: { x: Tensor; taps: LandmarkTaps };

function clearGrads(m: LrdifModel): void {
  for (const p of m.parameters()) {
    p.grad?.dispose();
    p.grad = null;
  }
}

/** A model of the fixture's config (plus overrides) holding the fixture's weights. */
function fixtureModel(overrides: Partial<LrdifConfig> = {}): LrdifModel {
  const m = new LrdifModel(makeLrdifConfig(cfg, overrides), { seed: 7 });
  m.loadStateDict(state);
  return m;
}

/**
 * Runs a fixture case: `fn` maps the case's input tensors to named outputs (and optionally the
 * loss to differentiate); compares outputs, then gradients of inputs and of named parameters.
 */
async function runCase(
  name: string,
  m: LrdifModel,
  fn: (inp: Record<string, Tensor>) => { outs: Record<string, Tensor | null>; loss?: Tensor },
  opts: { extraInputs?: Record<string, Tensor> } = {},
): Promise<void> {
  const c = fx.cases[name];
  const inputs: Record<string, Tensor> = {};
  for (const [k, e] of Object.entries(c.inputs)) inputs[k] = up(e, k in c.grads);
  Object.assign(inputs, opts.extraInputs ?? {});
  clearGrads(m);
  const params = new Map(m.namedParameters());
  const { outs, read } = tidy(() => {
    const r = fn(inputs);
    const compared = Object.keys(c.outputs).filter((k) => r.outs[k]);
    const L = r.loss ?? weightedSum(compared.map((k) => r.outs[k]!));
    backward(L);
    return { outs: r.outs, read: compared };
  });
  for (const k of read) expectNear(await outs[k]!.data(), c.outputs[k], OUT_TOL, `${name}: output ${k}`);
  for (const [k, e] of Object.entries(c.grads)) {
    const t = inputs[k] ?? params.get(k);
    expect(t, `${name}: no input or parameter '${k}'`).toBeDefined();
    expect(t!.grad, `${name}: no gradient for '${k}'`).toBeTruthy();
    expectNear(await t!.grad!.data(), e, GRAD_TOL, `${name}: gradient of ${k}`);
  }
  for (const t of Object.values(outs)) t?.dispose();
  for (const [k, t] of Object.entries(inputs)) {
    t.grad?.dispose();
    if (!(opts.extraInputs && k in opts.extraInputs)) t.dispose();
  }
  clearGrads(m);
}

beforeAll(async () => {
  ctx = await gpu();
  cfg = makeLrdifConfig('tiny', fx.config);
  state = new Map(Object.entries(fx.state).map(([k, e]) => [k, up(e)]));
  model = fixtureModel();
  shared = { x: up(fx.shared.x), taps: [up(fx.shared.tap1), up(fx.shared.tap2), up(fx.shared.tap3)] };
});

afterAll(() => {
  model?.dispose();
  for (const t of state?.values() ?? []) t.dispose();
  shared?.x.dispose();
  shared?.taps.forEach((t) => t.dispose());
  engine.clearTape();
});

describe('LRDif config', () => {
  it('reference follows the spec, tiny the spec’s CPU sizes, overrides field by field', () => {
    const r = lrdifConfigs.reference;
    expect(r).toMatchObject({ dim: 48, blocks: [2, 2, 4, 2], heads: [1, 2, 4, 8], priorDim: 256, fpenHidden: 256, embedDim: 256, window: 7 });
    expect(r).toMatchObject({ dilDims: [64, 128, 256], dilHeads: [2, 4, 8], fusionDepth: 2, fusionHeads: 8, denoiserWidth: 256, denoiserDepth: 1 });
    expect(r).toMatchObject({ timesteps: 4, betaStart: 0.1, betaEnd: 0.99, parameterisation: 'eps', insertNoise: true, lambdaKl: 1, tau: 1, lambdaL1: 0 });
    const t = lrdifConfigs.tiny;
    expect(t).toMatchObject({ dim: 8, blocks: [1, 1, 1, 1], heads: [1, 1, 2, 2], embedDim: 32, priorDim: 32, denoiserWidth: 64, imageSize: 112 });
    const c = makeLrdifConfig('tiny', { numClasses: 8, heads: [1, 2, 2, 4] });
    expect(c.numClasses).toBe(8);
    expect(c.heads).toEqual([1, 2, 2, 4]);
    expect(lrdifConfigs.tiny.heads).toEqual([1, 1, 2, 2]); // the base is untouched
    expect(lrdifMethodName(makeLrdifConfig('reference', { variant: 'lowlight' }))).toBe('LLDif');
    expect(lrdifMethodName(r)).toBe('LRDif');
    expect(makeLrdifConfig(r, lrdifAblations.V1).diffusion).toBe(false);
    expect(makeLrdifConfig(r, lrdifAblations.V2).lambdaKl).toBe(0);
    expect(makeLrdifConfig(r, lrdifAblations.V4).insertNoise).toBe(false);
  });

  it('validation errors name the field', () => {
    const bad = (o: Record<string, unknown>, field: string) => {
      let err: unknown;
      try {
        makeLrdifConfig('tiny', o as Partial<LrdifConfig>);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(o)).toBeInstanceOf(LrdifConfigError);
      expect((err as LrdifConfigError).field).toBe(field);
      expect((err as Error).message).toContain(`LrdifConfig.${field}`);
    };
    bad({ heads: [1, 1, 3, 2] }, 'heads[2]');
    bad({ imageSize: 100 }, 'imageSize');
    bad({ window: 5 }, 'imageSize');
    bad({ timesteps: 33 }, 'timesteps');
    bad({ timesteps: 0 }, 'timesteps');
    bad({ parameterisation: 'v' }, 'parameterisation');
    bad({ variant: 'night' }, 'variant');
    bad({ dilHeads: [1, 3, 2] }, 'dilHeads[1]');
    bad({ blocks: [1, 1, 1] }, 'blocks');
    bad({ fusionHeads: 3 }, 'fusionHeads');
    bad({ betaEnd: 1 }, 'betaEnd');
    bad({ labelSmoothing: -0.1 }, 'labelSmoothing');
    bad({ insertNoise: 'yes' }, 'insertNoise');
    bad({ dilMlpRatio: 0.01 }, 'dilMlpRatio');
    bad({ colour: 1 }, 'colour');
  });

  it('the diffusion schedule: β = linspace(√0.1, √0.99, T)², any T in 1…32, the linear option (vs torch.linspace)', () => {
    const s4 = makeDiffusionSchedule(lrdifConfigs.reference);
    expectClose(s4.betas, fx.schedule.T4, 1e-12, 1e-15, 'betas T=4');
    expectClose(s4.betas, [0.1, 0.2943, 0.591, 0.99], 0, 5e-4, 'betas T=4 (the spec’s rounded values)');
    expect(s4.alphasCumprod[3]).toBeCloseTo(0.9 * (1 - s4.betas[1]) * (1 - s4.betas[2]) * 0.01, 12);
    expectClose(makeDiffusionSchedule({ ...lrdifConfigs.reference, timesteps: 32 }).betas, fx.schedule.T32, 1e-12, 1e-15, 'betas T=32');
    expectClose(makeDiffusionSchedule({ ...lrdifConfigs.reference, timesteps: 1 }).betas, fx.schedule.T1, 1e-12, 1e-15, 'betas T=1');
    expectClose(makeDiffusionSchedule({ ...lrdifConfigs.reference, timesteps: 8, betaSchedule: 'linear' }).betas, fx.schedule.T8linear, 1e-12, 1e-15, 'linear betas T=8');
    expect(timeFeature(s4, 3)).toBeCloseTo(3 / 40, 15);
  });

  it('Swin’s relative position index', () => {
    const idx = relativePositionIndex(2);
    // tokens (0,0) (0,1) (1,0) (1,1): index = (Δh + 1)·3 + (Δw + 1)
    expect([...idx]).toEqual([4, 3, 1, 0, 5, 4, 2, 1, 7, 6, 4, 3, 8, 7, 5, 4]);
    expect(Math.max(...relativePositionIndex(7))).toBe(13 * 13 - 1);
  });

  it('parameter counts of reference and tiny match the PyTorch model; printed', () => {
    for (const name of ['reference', 'tiny'] as const) {
      const m = new LrdifModel(lrdifConfigs[name], { seed: 1 });
      const counts = m.parameterCount();
      console.log(`lrdif ${name} parameters: ${JSON.stringify(counts)}`);
      expect(counts).toEqual(fx.paramCounts[name]);
      m.dispose();
    }
  });
});

describe('LRDif modules vs the PyTorch reference', () => {
  it('loads the reference weights by parameter path (strict: same names, same shapes)', () => {
    expect([...model.stateDict().keys()].sort()).toEqual(Object.keys(fx.state).sort());
  });

  it('FPEN_S1', async () => {
    await runCase('fpen', model, (i) => ({ outs: { out: model.fpenS1.forward(i.x) } }));
  });

  it('dynamic transformer block (DMNet + DGNet conditioned on Z)', async () => {
    const block = model.udcformer.dt.encoder3.blocks[0];
    await runCase('block', model, (i) => ({ outs: { out: block.forward(i.x, i.z) } }));
  });

  it('downsample and upsample', async () => {
    await runCase('down', model, (i) => ({ outs: { out: model.udcformer.dt.down2.forward(i.x) } }));
    await runCase('up', model, (i) => ({ outs: { out: model.udcformer.dt.up3.forward(i.x) } }));
  });

  it('DTnetwork (F1, F2, F3)', async () => {
    await runCase('dtnetwork', model, (i) => {
      const f = model.udcformer.dt.features(shared.x, i.z);
      return { outs: { f1: f.f1, f2: f.f2, f3: f.f3 } };
    });
  });

  it('DIL window cross-attention with relative position bias: 16 windows × 2 heads, 1 window × 3 heads', async () => {
    await runCase('dil1', model, (i) => ({ outs: { out: model.udcformer.dil.scale1.forward(i.f, i.l) } }));
    await runCase('dil3', model, (i) => ({ outs: { out: model.udcformer.dil.scale3.forward(i.f, i.l) } }));
  });

  it('fusion ViT and classifier', async () => {
    const u = model.udcformer;
    await runCase('fusion', model, (i) => ({
      outs: { logits: u.classifier.forward(u.fusion.forward(u.fusion.embed({ f1: i.f1, f2: i.f2, f3: i.f3 }, [i.d1, i.d2, i.d3]))) },
    }));
  });

  it('denoiser', async () => {
    await runCase('denoiser', model, (i) => ({ outs: { out: model.denoiser.forward(i.zt, 3 / 40, i.c) } }));
  });

  it('diffusion chains: eps with insert-noise, x0 with insert-noise, eps from ε alone (T = 4)', async () => {
    for (const [name, overrides] of [
      ['chainEps', {}],
      ['chainX0', { parameterisation: 'x0' }],
      ['chainNoInsert', { insertNoise: false }],
    ] as const) {
      const m = fixtureModel(overrides as Partial<LrdifConfig>);
      await runCase(name, m, (i) => ({ outs: { zHat: m.estimatePrior(i.eImg, { zTarget: i.zTarget, noise: i.noise }).zHat } }));
      m.dispose();
    }
  });

  it('the inference chain is one fused dispatch and matches the reference chains (eps, x0, from ε)', async () => {
    for (const [name, overrides, insert] of [
      ['chainEps', {}, true],
      ['chainX0', { parameterisation: 'x0' }, true],
      ['chainNoInsert', { insertNoise: false }, false],
    ] as const) {
      const m = fixtureModel(overrides as Partial<LrdifConfig>);
      const c = fx.cases[name];
      const [eImg, zTarget, noise] = [up(c.inputs.eImg), up(c.inputs.zTarget), up(c.inputs.noise)];
      const zHat = noGrad(() =>
        tidy(() => {
          const cond = m.conditionS2(eImg);
          const zT = insert ? insertNoise(zTarget, noise, m.schedule) : noise;
          expect(canSampleFused(m.denoiser, cond, m.schedule, zT)).toBe(true);
          const before = ctx.stats().dispatches;
          const z = sampleChain(m.denoiser, cond, m.schedule, { zT });
          expect(ctx.stats().dispatches - before, 'dispatches of the whole chain').toBe(1);
          return z;
        }),
      );
      expectNear(await zHat.data(), c.outputs.zHat, OUT_TOL, `${name}: fused chain`);
      for (const t of [eImg, zTarget, noise, zHat]) t.dispose();
      m.dispose();
    }
    // Z_T drawn in the kernel from the generator equals randomNormal's draw (the differentiable path)
    const cond = engine.keep(randomNormal([3, cfg.priorDim], { generator: new Generator(8) }));
    const fused = noGrad(() => sampleChain(model.denoiser, cond, model.schedule, { generator: new Generator(9) }));
    const chained = tidy(() => reverseChain(model.denoiser, randomNormal([3, cfg.priorDim], { generator: new Generator(9) }), cond, model.schedule));
    engine.clearTape();
    expectNear(await fused.data(), (await chained.data()) as Float32Array, OUT_TOL, 'fused vs differentiable chain');
    for (const t of [cond, fused, chained]) t.dispose();
  });

  it('UDCformer (image, landmark taps, Z → logits), gradients of every input', async () => {
    const x = shared.x;
    const taps = shared.taps;
    for (const t of [x, ...taps]) t.requiresGrad = true;
    try {
      await runCase('udcformer', model, (i) => ({ outs: { logits: model.udcformer.forward(x, taps, i.z) } }), {
        extraInputs: { x, tap1: taps[0], tap2: taps[1], tap3: taps[2] },
      });
    } finally {
      for (const t of [x, ...taps]) t.requiresGrad = false;
    }
  });

  it('stage 1: forward and cross-entropy with label smoothing; gradients', async () => {
    const c = fx.cases.stage1;
    const m = fixtureModel({ labelSmoothing: c.labelSmoothing });
    m.setStage(1);
    const labels = engine.keep(tensor(c.labels!, [c.labels!.length], 'i32'));
    await runCase('stage1', m, (i) => {
      const out = m.stage1Forward({ x112: shared.x, taps: shared.taps, eImg: i.eImg, eTxt: i.eTxt });
      const loss = m.stage1Loss(out, labels);
      expect(loss.kl).toBeNull();
      return { outs: { logits: out.logits, z: out.z, loss: loss.total }, loss: loss.total };
    });
    labels.dispose();
    m.dispose();
  });

  it('stage 2: insert-noise chain, CE + λ_kl·KL(τ) + λ_l1·L1; FPEN_S1 frozen; and the no-diffusion ablation', async () => {
    for (const name of ['stage2', 'stage2NoDiffusion']) {
      const c = fx.cases[name];
      const m = fixtureModel(c.overrides);
      m.setStage(2);
      const labels = engine.keep(tensor(c.labels!, [c.labels!.length], 'i32'));
      await runCase(name, m, (i) => {
        const out = m.stage2Forward({ x112: shared.x, taps: shared.taps, eImg: i.eImg, eTxt: i.eTxt, noise: i.noise });
        const loss = m.stage2Loss(out, labels);
        return { outs: { logits: out.logits, zHat: out.zHat, zTarget: out.zTarget, total: loss.total, ce: loss.ce, kl: loss.kl, l1: loss.l1 }, loss: loss.total };
      });
      // gradients reached nothing frozen or unused
      for (const [k, p] of m.fpenS1.namedParameters('fpenS1.')) expect(p.grad, k).toBeNull();
      labels.dispose();
      m.dispose();
    }
  });
  it("stage2Train 'prior': the same golden gradients reach FPEN_S2 and the denoiser, none the UDCformer (kept as stage 1 left it)", async () => {
    const c = fx.cases.stage2;
    const m = fixtureModel({ ...c.overrides, stage2Train: 'prior' });
    m.setStage(2);
    expect(m.udcformer.parameters().every((p) => !p.requiresGrad)).toBe(true);
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, e]) => [k, up(e, k in c.grads)]));
    const labels = engine.keep(tensor(c.labels!, [c.labels!.length], 'i32'));
    clearGrads(m);
    const { loss, logits } = tidy(() => {
      const out = m.stage2Forward({ x112: shared.x, taps: shared.taps, eImg: inputs.eImg, eTxt: inputs.eTxt, noise: inputs.noise });
      const l = m.stage2Loss(out, labels);
      backward(l.total);
      return { loss: l.total, logits: out.logits };
    });
    expectNear(await logits.data(), c.outputs.logits, OUT_TOL, 'prior: logits');
    const params = new Map(m.namedParameters());
    const checked = Object.entries(c.grads).filter(([k]) => k.startsWith('fpenS2.') || k.startsWith('denoiser.'));
    expect(checked.length).toBeGreaterThan(0);
    for (const [k, e] of checked) expectNear(await params.get(k)!.grad!.data(), e, GRAD_TOL, `prior: gradient of ${k}`);
    for (const [k, p] of m.udcformer.namedParameters('udcformer.')) expect(p.grad, k).toBeNull();
    for (const t of [loss, logits, labels, ...Object.values(inputs)]) {
      t.grad?.dispose();
      t.dispose();
    }
    clearGrads(m);
    m.dispose();
  });
});

describe("imageHead 'linear' (stage 2 adds a linear classifier of e_img)", () => {
  /** The model of the stage-2 case with an image head: the fixture's weights, the head as given (zero: as constructed). */
  function headModel(head?: { weight: Float32Array; bias: Float32Array }): LrdifModel {
    const m = new LrdifModel(makeLrdifConfig(cfg, { ...fx.cases.stage2.overrides, imageHead: 'linear' }), { seed: 7 });
    m.loadStateDict(state, { strict: false });
    if (head) {
      const K = m.config.numClasses;
      const w = engine.keep(tensor(head.weight, [K, head.weight.length / K]));
      const b = engine.keep(tensor(head.bias, [K]));
      m.loadStateDict(
        new Map([
          ['imageHead.weight', w],
          ['imageHead.bias', b],
        ]),
        { strict: false },
      );
      w.dispose();
      b.dispose();
    }
    return m;
  }

  /** W·(√P·e) + b per row, in float64. */
  function cpuHead(e: Float32Array, W: Float32Array, b: Float32Array, K: number): Float64Array {
    const P = W.length / K;
    const B = e.length / P;
    const out = new Float64Array(B * K);
    for (let i = 0; i < B; i++)
      for (let k = 0; k < K; k++) {
        let acc = b[k];
        for (let j = 0; j < P; j++) acc += W[k * P + j] * Math.sqrt(P) * e[i * P + j];
        out[i * K + k] = acc;
      }
    return out;
  }

  it('starts at zero: the golden logits and gradients, the head’s gradient (softmax − onehot)/B against √P·e_img in float64', async () => {
    const c = fx.cases.stage2;
    const m = headModel();
    m.setStage(2);
    expect(m.stageParameters(2).map(([n]) => n)).toEqual(expect.arrayContaining(['imageHead.weight', 'imageHead.bias']));
    expect(m.stageParameters(1).some(([n]) => n.startsWith('imageHead.'))).toBe(false);
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, e]) => [k, up(e)]));
    const labels = engine.keep(tensor(c.labels!, [c.labels!.length], 'i32'));
    clearGrads(m);
    const logits = tidy(() => {
      const out = m.stage2Forward({ x112: shared.x, taps: shared.taps, eImg: inputs.eImg, eTxt: inputs.eTxt, noise: inputs.noise });
      backward(m.stage2Loss(out, labels).total);
      return out.logits;
    });
    const lg = await logits.data();
    expectNear(lg, c.outputs.logits, OUT_TOL, 'logits');
    const params = new Map(m.namedParameters());
    for (const [k, e] of Object.entries(c.grads)) if (params.has(k)) expectNear(await params.get(k)!.grad!.data(), e, GRAD_TOL, `gradient of ${k}`);
    // CE (mean, no smoothing) is the only term that sees the logits
    const K = m.config.numClasses;
    const B = c.labels!.length;
    const e = dec(c.inputs.eImg);
    const P = e.length / B;
    const g = new Float64Array(B * K);
    for (let i = 0; i < B; i++) {
      const row = Array.from(lg.slice(i * K, i * K + K) as Float32Array);
      const mx = Math.max(...row);
      const ex = row.map((v) => Math.exp(v - mx));
      const z = ex.reduce((a, v) => a + v, 0);
      for (let k = 0; k < K; k++) g[i * K + k] = (ex[k] / z - (k === c.labels![i] ? 1 : 0)) / B;
    }
    const gW = new Float32Array(K * P);
    const gb = new Float32Array(K);
    for (let k = 0; k < K; k++) {
      for (let i = 0; i < B; i++) gb[k] += g[i * K + k];
      for (let j = 0; j < P; j++) {
        let acc = 0;
        for (let i = 0; i < B; i++) acc += g[i * K + k] * Math.sqrt(P) * e[i * P + j];
        gW[k * P + j] = acc;
      }
    }
    expectNear(await m.imageHead!.weight.grad!.data(), gW, GRAD_TOL, 'gradient of imageHead.weight');
    expectNear(await m.imageHead!.bias.grad!.data(), gb, GRAD_TOL, 'gradient of imageHead.bias');
    for (const t of [logits, labels, ...Object.values(inputs)]) t.dispose();
    clearGrads(m);
    m.dispose();
  });

  it('with weights: logits = the golden logits + W·(√P·e_img) + b; the same through evaluation’s stage2Logits', async () => {
    const c = fx.cases.stage2;
    const K = cfg.numClasses;
    const e = dec(c.inputs.eImg);
    const P = e.length / c.labels!.length;
    const W = Float32Array.from({ length: K * P }, (_, i) => 0.3 * Math.sin(0.7 * i + 0.2));
    const b = Float32Array.from({ length: K }, (_, k) => 0.1 * k - 0.2);
    const m = headModel({ weight: W, bias: b });
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, up(v)]));
    const golden = dec(c.outputs.logits);
    const head = cpuHead(e, W, b, K);
    const expected = Float32Array.from(golden, (v, i) => v + head[i]);
    const out = noGrad(() => m.stage2Forward({ x112: shared.x, taps: shared.taps, eImg: inputs.eImg, eTxt: inputs.eTxt, noise: inputs.noise }));
    expectNear(await out.logits.data(), expected, OUT_TOL, 'logits with the head');
    const viaFeatures = noGrad(() => tidy(() => m.stage2Logits(m.udcformer.features(shared.x, shared.taps, out.zHat), inputs.eImg)));
    expectNear(await viaFeatures.data(), expected, OUT_TOL, 'stage2Logits from the features');
    expect(() => tidy(() => m.imageHead!.forward(tensor(new Float32Array(P + 1), [1, P + 1])))).toThrow(/ImageHead.*eImg/);
    for (const t of [out.logits, out.zHat, out.c, out.zTarget, viaFeatures, ...Object.values(inputs)]) t?.dispose();
    m.dispose();
  });

  it('a stage-1 model without the head initialises it (loadStage1State leaves the head at zero); old configs read as none', async () => {
    const s2 = new LrdifModel(makeLrdifConfig(cfg, { imageHead: 'linear' }), { seed: 3 });
    s2.loadStage1State(model.stateDict());
    expect(Math.max(...(await s2.imageHead!.weight.data()).map(Math.abs))).toBe(0);
    expect(s2.parameterCount().imageHead).toBe(cfg.numClasses * (lrdifImageDim(cfg) + 1));
    expect(model.imageHead).toBeNull();
    expect(model.parameterCount().imageHead).toBeUndefined();
    expect(withConfigDefaults<Partial<LrdifConfig>>({ variant: 'udc' }).imageHead).toBe('none');
    s2.dispose();
  });
});

describe('LRDif model behaviour', () => {
  it('stage parameter groups and freezing', () => {
    const names = (s: 1 | 2) => new Set(model.stageParameters(s).map(([n]) => n.split('.')[0]));
    expect([...names(1)].sort()).toEqual(['fpenS1', 'udcformer']);
    expect([...names(2)].sort()).toEqual(['denoiser', 'fpenS2', 'udcformer']);
    const prior = new LrdifModel(makeLrdifConfig(cfg, { stage2Train: 'prior' }), { seed: 1 });
    expect(prior.stageParameters(2).map(([n]) => n.split('.')[0])).not.toContain('udcformer');
    expect(prior.stageParameters(1).some(([n]) => n.startsWith('udcformer.'))).toBe(true);
    prior.dispose();
    model.setStage(2);
    expect(model.fpenS1.parameters().every((p) => !p.requiresGrad)).toBe(true);
    expect(model.denoiser.parameters().every((p) => p.requiresGrad)).toBe(true);
    model.setStage(1);
    expect(model.fpenS2.parameters().every((p) => !p.requiresGrad)).toBe(true);
    expect(model.udcformer.parameters().every((p) => p.requiresGrad)).toBe(true);
    model.requiresGrad_(true);
    expect(() => model.stageParameters(3 as 1)).toThrow(/stage must be 1 or 2/);
  });

  it('loadStage1State copies FPEN_S1 and the UDCformer, keeps FPEN_S2 and the denoiser', async () => {
    const s2 = new LrdifModel(cfg, { seed: 99 });
    const before = await s2.denoiser.layers.at(0).parameters()[0].data();
    const keys = s2.loadStage1State(model.stateDict());
    expect(keys.every((k) => k.startsWith('fpenS1.') || k.startsWith('udcformer.'))).toBe(true);
    expect(keys.length).toBe([...model.stateDict().keys()].filter((k) => k.startsWith('fpenS1.') || k.startsWith('udcformer.')).length);
    const sd = s2.stateDict();
    expect([...(await sd.get('udcformer.dil.scale2.relBias')!.data())]).toEqual([...dec(fx.state['udcformer.dil.scale2.relBias'])]);
    expect([...(await sd.get('fpenS1.layers.1.weight')!.data())]).toEqual([...dec(fx.state['fpenS1.layers.1.weight'])]);
    expect([...(await sd.get('denoiser.layers.0.weight')!.data())]).toEqual([...before]);
    const partial = new Map([...model.stateDict()].filter(([k]) => !k.startsWith('udcformer.fusion.')));
    expect(() => s2.loadStage1State(partial)).toThrow(/lacks \d+ key\(s\): udcformer\.fusion\./);
    s2.dispose();
  });

  it('predict: probabilities, reproducible for the same seed, no tape', async () => {
    const eImg = engine.keep(randomNormal([2, cfg.clipDim], { generator: new Generator(5) }));
    const p1 = model.predict({ x112: shared.x, taps: shared.taps, eImg, generator: new Generator(11) });
    expect(engine.liveNodes).toBe(0);
    const p2 = model.predict({ x112: shared.x, taps: shared.taps, eImg, generator: new Generator(11) });
    const a = await p1.data();
    const b = await p2.data();
    expect([...a]).toEqual([...b]);
    expect(a[0] + a[1] + a[2]).toBeCloseTo(1, 5);
    expect(a[3] + a[4] + a[5]).toBeCloseTo(1, 5);
    for (const t of [eImg, p1, p2]) t.dispose();
  });

  it('errors name the tensor and the shape at fault', () => {
    const eImg = engine.keep(tensor(new Float32Array(2 * cfg.clipDim), [2, cfg.clipDim]));
    const badTap = engine.keep(tensor(new Float32Array(2 * 6 * 8 * 8), [2, 6, 8, 8]));
    const shortImg = engine.keep(tensor(new Float32Array(2 * 5), [2, 5]));
    expect(() => model.stage2Forward({ x112: shared.x, taps: [shared.taps[0], badTap, shared.taps[2]], eImg })).toThrow(
      /landmark tap 2 must have shape \[2, 6, 4, 4\], got tensor \[2, 6, 8, 8\]/,
    );
    expect(() => model.stage1Forward({ x112: shared.x, taps: shared.taps, eImg: shortImg, eTxt: eImg })).toThrow(/eImg \(CLIP image embeddings\) must have shape \[2, 6\]/);
    expect(() => model.stage2Forward({ x112: badTap, taps: shared.taps, eImg })).toThrow(/x112 must have shape \[\*, 3, 32, 32\]/);
    expect(() => model.stage2Loss({ logits: eImg, zHat: eImg }, eImg)).toThrow(/need the stage-1 target Z/);
    for (const t of [eImg, badTap, shortImg]) t.dispose();
  });
});

describe('LRDif memory', () => {
  it('repeated stage-2 training steps (tiny, 112²) hold GPU buffers flat', async () => {
    const m = new LrdifModel(lrdifConfigs.tiny, { seed: 3 });
    m.setStage(2);
    const opt = new AdamW(
      m.stageParameters(2).map(([, p]) => p),
      { lr: 1e-4 },
    );
    const g = new Generator(21);
    const input = () => {
      const B = 1;
      return {
        x112: randomNormal([B, 3, 112, 112], { generator: g }),
        taps: [randomNormal([B, 64, 28, 28], { generator: g }), randomNormal([B, 128, 14, 14], { generator: g }), randomNormal([B, 256, 7, 7], { generator: g })] as const,
        eImg: randomNormal([B, 32], { generator: g }),
        eTxt: randomNormal([B, 32], { generator: g }),
        labels: tensor([4], [1], 'i32'),
      };
    };
    const live: number[] = [];
    for (let step = 0; step < 4; step++) {
      const loss = tidy(() => {
        const b = input();
        const out = m.stage2Forward({ ...b, generator: g });
        const l = m.stage2Loss(out, b.labels);
        backward(l.total);
        opt.step();
        opt.zeroGrad();
        return l.total;
      });
      expect(Number.isFinite(await loss.item())).toBe(true);
      loss.dispose();
      live.push(ctx.stats().liveBuffers);
    }
    expect(engine.liveNodes).toBe(0);
    // the first step creates the optimiser state; after it, nothing grows
    expect(live[2]).toBe(live[1]);
    expect(live[3]).toBe(live[1]);
    opt.dispose();
    m.dispose();
  }, 300_000); // the first step compiles the 112² / 7×7-window pipelines (minutes on a loaded CPU adapter)
});
