import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { tensor, backward, tidy, add, sum, engine, noGrad, reshape, type Tensor } from '../src/node.js';
import { AdamW, SGD, clipGradNorm, cosineSchedule, stepSchedule, type OptimizerStateDict } from '../src/optim/index.js';

// Awkward sizes: not multiples of 4 (the kernels work on vec4s) nor of the workgroup, a single
// element, an empty tensor, and one spanning several workgroups.
const SHAPES = [[7, 13], [5], [1], [0, 3], [3001]];

function makeParams(seed: number): { host: Float64Array[]; params: Tensor[] } {
  const host = SHAPES.map((s, i) => randArray(s, seed + i));
  return { host, params: host.map((h, i) => gpuTensor(h, SHAPES[i], true)) };
}

/** Gradients for step `t` (f32-representable), as host arrays. */
function gradsAt(t: number, scale = 1): Float64Array[] {
  return SHAPES.map((s, i) => randArray(s, 1000 * t + i, -scale, scale));
}

function setGrads(params: Tensor[], grads: Float64Array[], skip: number[] = []): void {
  params.forEach((p, i) => {
    p.grad?.dispose();
    p.grad = skip.includes(i) ? null : engine.keep(gpuTensor(grads[i], SHAPES[i]));
  });
}

const p0ctx = (ps: Tensor[]) => ps[0].ctx;

function disposeAll(ts: Tensor[]): void {
  for (const t of ts) {
    t.grad?.dispose();
    t.grad = null;
    t.dispose();
  }
}

interface AdamRef {
  m: Float64Array;
  v: Float64Array;
  t: number;
}

/** torch.optim.AdamW's update (amsgrad off) in float64. */
function adamwRef(p: Float64Array, g: Float64Array, s: AdamRef, lr: number, b1: number, b2: number, eps: number, wd: number): void {
  s.t++;
  const bc1 = 1 - b1 ** s.t;
  const bc2 = 1 - b2 ** s.t;
  for (let i = 0; i < p.length; i++) {
    p[i] *= 1 - lr * wd;
    s.m[i] += (1 - b1) * (g[i] - s.m[i]);
    s.v[i] = b2 * s.v[i] + (1 - b2) * g[i] * g[i];
    const denom = Math.sqrt(s.v[i]) / Math.sqrt(bc2) + eps;
    p[i] -= (lr / bc1) * (s.m[i] / denom);
  }
}

/** torch.optim.SGD's update in float64; `buf` is null until the first step. */
function sgdRef(
  p: Float64Array,
  g: Float64Array,
  state: { buf: Float64Array | null },
  o: { lr: number; momentum: number; dampening: number; weightDecay: number; nesterov: boolean },
): void {
  const d = Float64Array.from(g, (gi, i) => gi + o.weightDecay * p[i]);
  if (o.momentum !== 0) {
    if (!state.buf) state.buf = Float64Array.from(d);
    else for (let i = 0; i < d.length; i++) state.buf[i] = o.momentum * state.buf[i] + (1 - o.dampening) * d[i];
    for (let i = 0; i < d.length; i++) d[i] = o.nesterov ? d[i] + o.momentum * state.buf[i] : state.buf[i];
  }
  for (let i = 0; i < p.length; i++) p[i] -= o.lr * d[i];
}

describe('AdamW', () => {
  beforeAll(gpu);

  it('matches the float64 torch.optim.AdamW update over several steps, with lr changes and a skipped parameter', async () => {
    const { host, params } = makeParams(1);
    const [b1, b2, eps, wd] = [0.8, 0.95, 1e-6, 0.05];
    const opt = new AdamW(params, { lr: 1e-2, betas: [b1, b2], eps, weightDecay: wd });
    const ref: AdamRef[] = host.map((h) => ({ m: new Float64Array(h.length), v: new Float64Array(h.length), t: 0 }));
    for (let t = 1; t <= 6; t++) {
      if (t === 4) opt.lr = 3e-3;
      // parameter 1 has no gradient on step 2: it is skipped, and its step count lags
      const skip = t === 2 ? [1] : [];
      const g = gradsAt(t);
      setGrads(params, g, skip);
      opt.step();
      host.forEach((h, i) => {
        if (!skip.includes(i)) adamwRef(h, g[i], ref[i], opt.lr, b1, b2, eps, wd);
      });
    }
    for (let i = 0; i < params.length; i++) {
      expectClose(await params[i].data(), host[i], 1e-5, 1e-6, `parameter ${i} ${JSON.stringify(SHAPES[i])}`);
    }
    const sd = opt.stateDict();
    expect(sd.state.get('1')!.step).toBe(5);
    expect(sd.state.get('0')!.step).toBe(6);
    expectClose(await sd.state.get('0')!.tensors.exp_avg.data(), ref[0].m, 1e-5, 1e-6, 'exp_avg');
    expectClose(await sd.state.get('0')!.tensors.exp_avg_sq.data(), ref[0].v, 1e-5, 1e-7, 'exp_avg_sq');
    opt.dispose();
    disposeAll(params);
  });

  it('four parameters per dispatch (adamw4.wgsl) and one per dispatch both match float64, with fewer dispatches for four', async () => {
    // nine parameters of awkward sizes (one spanning three workgroups in each of the four slots it
    // can land in); parameters 2 and 6 skip step 2, so their step counts lag and they are grouped apart
    const shapes = [[7, 13], [5], [1], [3001], [2, 2], [3], [3001], [6, 7], [257]];
    const [b1, b2, eps, wd] = [0.85, 0.99, 1e-6, 0.03];
    const run = async (perDispatch: 1 | 4) => {
      const host = shapes.map((sh, i) => randArray(sh, 50 + i));
      const params = host.map((h, i) => gpuTensor(h, shapes[i], true));
      const opt = new AdamW(params, { lr: 2e-2, betas: [b1, b2], eps, weightDecay: wd, perDispatch });
      const ref: AdamRef[] = host.map((h) => ({ m: new Float64Array(h.length), v: new Float64Array(h.length), t: 0 }));
      let dispatches = 0;
      for (let t = 1; t <= 4; t++) {
        const skip = t === 2 ? [2, 6] : [];
        const g = shapes.map((sh, i) => randArray(sh, 700 * t + i, -1, 1));
        params.forEach((p, i) => {
          p.grad?.dispose();
          p.grad = skip.includes(i) ? null : engine.keep(gpuTensor(g[i], shapes[i]));
        });
        const before = p0ctx(params).stats().dispatches;
        opt.step();
        // (step 1 also fills the new moments with zeros: counted from step 2 on)
        if (t > 1) dispatches += p0ctx(params).stats().dispatches - before;
        host.forEach((h, i) => {
          if (!skip.includes(i)) adamwRef(h, g[i], ref[i], opt.lr, b1, b2, eps, wd);
        });
      }
      for (let i = 0; i < params.length; i++) {
        expectClose(await params[i].data(), host[i], 1e-5, 1e-6, `perDispatch ${perDispatch}: parameter ${i} ${JSON.stringify(shapes[i])}`);
      }
      const sd = opt.stateDict();
      for (const i of [3, 6, 8]) {
        expectClose(await sd.state.get(String(i))!.tensors.exp_avg.data(), ref[i].m, 1e-5, 1e-6, `perDispatch ${perDispatch}: exp_avg ${i}`);
        expectClose(await sd.state.get(String(i))!.tensors.exp_avg_sq.data(), ref[i].v, 1e-5, 1e-7, `perDispatch ${perDispatch}: exp_avg_sq ${i}`);
      }
      expect(sd.state.get('6')!.step).toBe(3);
      opt.dispose();
      disposeAll(params);
      return dispatches;
    };
    // steps 2–4 one by one: 7 + 9 + 9 dispatches. By four: step 2, seven parameters at count 2
    // (a four and three singles); steps 3 and 4, the same seven plus the two lagging parameters,
    // at another count, alone
    expect(await run(1)).toBe(25);
    expect(await run(4)).toBe(4 + 6 + 6);
  });

  it('parameters that share storage go one by one (no buffer bound twice for writing): the same bits as perDispatch 1', async () => {
    const run = async (perDispatch: 1 | 4) => {
      const a = gpuTensor(randArray([4, 6], 5), [4, 6], true);
      const b = noGrad(() => reshape(a, [24])); // a view of a's storage
      const rest = [[3], [10], [2, 5]].map((sh, i) => gpuTensor(randArray(sh, 9 + i), sh, true));
      const params = [a, b, ...rest];
      expect(b.buffer).toBe(a.buffer);
      const opt = new AdamW(params, { lr: 1e-2, perDispatch });
      for (let t = 1; t <= 2; t++) {
        params.forEach((p, i) => {
          p.grad?.dispose();
          p.grad = engine.keep(gpuTensor(randArray(p.shape, 40 * t + i, -1, 1), p.shape));
        });
        opt.step();
      }
      const out = await Promise.all(params.map((p) => p.data()));
      opt.dispose();
      disposeAll(rest);
      for (const p of [a, b]) {
        p.grad?.dispose();
        p.grad = null;
      }
      b.dispose();
      a.dispose();
      return out;
    };
    const [one, four] = [await run(1), await run(4)];
    four.forEach((x, i) => expect(Array.from(x), `parameter ${i}`).toEqual(Array.from(one[i])));
  });

  it('uses the PyTorch defaults (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 1e-2)', async () => {
    const { host, params } = makeParams(2);
    const opt = new AdamW(params);
    const ref = host.map((h) => ({ m: new Float64Array(h.length), v: new Float64Array(h.length), t: 0 }));
    for (let t = 1; t <= 3; t++) {
      const g = gradsAt(t, 0.01);
      setGrads(params, g);
      opt.step();
      host.forEach((h, i) => adamwRef(h, g[i], ref[i], 1e-3, 0.9, 0.999, 1e-8, 1e-2));
    }
    for (let i = 0; i < params.length; i++) expectClose(await params[i].data(), host[i], 1e-5, 1e-6, `parameter ${i}`);
    opt.dispose();
    disposeAll(params);
  });

  it('keeps parameter identity and records nothing on the tape', async () => {
    const { params } = makeParams(3);
    const before = params.map((p) => p.buffer);
    const opt = new AdamW(params);
    setGrads(params, gradsAt(1));
    opt.step();
    params.forEach((p, i) => expect(p.buffer).toBe(before[i]));
    expect(engine.liveNodes).toBe(0);
    opt.zeroGrad();
    expect(params.every((p) => p.grad === null)).toBe(true);
    opt.dispose();
    disposeAll(params);
  });

  it('rejects bad arguments with errors that name the optimizer and the parameter', () => {
    const p = gpuTensor([1, 2, 3], [3], true);
    expect(() => new AdamW([p], { betas: [0.9, 1] })).toThrow(/AdamW: betas\[1\]/);
    expect(() => new AdamW([p], { lr: -1 })).toThrow(/AdamW: learning rate/);
    expect(() => new AdamW([p, p])).toThrow(/AdamW: parameter '1'.*listed twice/);
    expect(() => new AdamW([p], { perDispatch: 2 as 4 })).toThrow(/AdamW: perDispatch must be 1 or 4, got 2/);
    const opt = new AdamW([['fc.weight', p]]);
    p.grad = engine.keep(gpuTensor([1, 2], [2]));
    expect(() => opt.step()).toThrow(/AdamW: the gradient of parameter 'fc.weight' has shape \[2\], the parameter \[3\]/);
    expect(() => (opt.lr = Number.NaN)).toThrow(/AdamW: learning rate/);
    opt.dispose();
    expect(() => opt.step()).toThrow(/disposed/);
    disposeAll([p]);
  });
});

describe('SGD', () => {
  beforeAll(gpu);
  const variants = [
    { name: 'plain', lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
    { name: 'weight decay', lr: 0.05, momentum: 0, dampening: 0, weightDecay: 0.1, nesterov: false },
    { name: 'momentum with dampening and weight decay', lr: 0.05, momentum: 0.9, dampening: 0.3, weightDecay: 0.01, nesterov: false },
    { name: 'nesterov', lr: 0.05, momentum: 0.8, dampening: 0, weightDecay: 0.02, nesterov: true },
  ];
  for (const o of variants) {
    it(`matches the float64 torch.optim.SGD update: ${o.name}`, async () => {
      const { host, params } = makeParams(10);
      const opt = new SGD(params, o);
      const state = host.map(() => ({ buf: null as Float64Array | null }));
      for (let t = 1; t <= 5; t++) {
        const g = gradsAt(t);
        setGrads(params, g);
        opt.step();
        host.forEach((h, i) => sgdRef(h, g[i], state[i], o));
      }
      for (let i = 0; i < params.length; i++) expectClose(await params[i].data(), host[i], 1e-5, 1e-6, `parameter ${i}`);
      opt.dispose();
      disposeAll(params);
    });
  }

  it('rejects nesterov without momentum, naming SGD', () => {
    const p = gpuTensor([1], [1], true);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/SGD: nesterov needs momentum > 0/);
    disposeAll([p]);
  });
});

describe('optimizer state dict', () => {
  beforeAll(gpu);

  async function snapshot(sd: OptimizerStateDict): Promise<OptimizerStateDict> {
    const state: OptimizerStateDict['state'] = new Map();
    for (const [k, s] of sd.state) {
      const tensors: Record<string, Tensor> = {};
      for (const [slot, t] of Object.entries(s.tensors)) tensors[slot] = tensor(await t.data(), t.shape);
      state.set(k, { step: s.step, tensors });
    }
    return { lr: sd.lr, state };
  }

  for (const kind of ['AdamW', 'SGD'] as const) {
    it(`${kind}: a saved and reloaded state reproduces the next steps exactly`, async () => {
      const make = (ps: Tensor[]) => (kind === 'AdamW' ? new AdamW(ps, { lr: 1e-2, weightDecay: 0.1 }) : new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true }));
      const a = makeParams(20);
      const optA = make(a.params);
      for (let t = 1; t <= 3; t++) {
        setGrads(a.params, gradsAt(t));
        optA.step();
      }
      // a checkpoint: everything goes through the host
      const saved = await snapshot(optA.stateDict());
      const paramsB = await Promise.all(a.params.map(async (p) => gpuTensor(await p.data(), p.shape, true)));
      const optB = make(paramsB);
      optB.lr = 1; // overwritten by the load
      optB.loadStateDict(saved);
      expect(optB.lr).toBe(optA.lr);
      for (const s of saved.state.values()) for (const t of Object.values(s.tensors)) t.dispose();
      for (let t = 4; t <= 6; t++) {
        setGrads(a.params, gradsAt(t));
        setGrads(paramsB, gradsAt(t));
        optA.step();
        optB.step();
      }
      for (let i = 0; i < paramsB.length; i++) {
        expect(Array.from(await paramsB[i].data()), `parameter ${i}`).toEqual(Array.from(await a.params[i].data()));
      }
      optA.dispose();
      optB.dispose();
      disposeAll(a.params);
      disposeAll(paramsB);
    });
  }

  it('rejects state for unknown parameters and slots of the wrong shape', () => {
    const p = gpuTensor([1, 2, 3], [3], true);
    const opt = new AdamW([['w', p]]);
    const bad = tensor([0, 0], [2]);
    const ok = tensor([0, 0, 0], [3]);
    expect(() => opt.loadStateDict({ lr: 1, state: new Map([['v', { step: 1, tensors: { exp_avg: ok, exp_avg_sq: ok } }]]) })).toThrow(
      /AdamW.loadStateDict: state for unknown parameter\(s\) 'v'/,
    );
    expect(() => opt.loadStateDict({ lr: 1, state: new Map([['w', { step: 1, tensors: { exp_avg: bad, exp_avg_sq: ok } }]]) })).toThrow(
      /parameter 'w' slot 'exp_avg': expected shape \[3\] f32, got tensor \[2\] f32/,
    );
    expect(() => opt.loadStateDict({ lr: 1, state: new Map([['w', { step: 1, tensors: { exp_avg: ok } }]]) })).toThrow(/slot 'exp_avg_sq' is missing/);
    bad.dispose();
    ok.dispose();
    opt.dispose();
    disposeAll([p]);
  });
});

describe('clipGradNorm', () => {
  beforeAll(gpu);

  // a gradient large enough for the partial-sum kernel to stride (more than 256 workgroups' worth)
  const CLIP_SHAPES = [[7, 13], [0], [1], [70001]];

  for (const [label, maxNorm] of [
    ['clips', 1.5],
    ['leaves small gradients alone', 1e6],
  ] as const) {
    it(`${label}: norm and scaled gradients match torch.nn.utils.clip_grad_norm_ in float64`, async () => {
      const host = CLIP_SHAPES.map((s, i) => randArray(s, 300 + i));
      const params = CLIP_SHAPES.map((s) => gpuTensor(new Float64Array(s.reduce((a, b) => a * b, 1)), s, true));
      params.forEach((p, i) => (p.grad = engine.keep(gpuTensor(host[i], CLIP_SHAPES[i]))));
      const noGradParam = gpuTensor([5], [1], true);
      const norm = clipGradNorm([...params, noGradParam], maxNorm);
      let ss = 0;
      for (const h of host) for (const v of h) ss += v * v;
      const refNorm = Math.sqrt(ss);
      const coef = Math.min(1, maxNorm / (refNorm + 1e-6));
      expect(norm.size).toBe(1);
      expectClose([await norm.item()], [refNorm], 1e-5, 0, 'norm');
      for (let i = 0; i < params.length; i++) {
        expectClose(
          await params[i].grad!.data(),
          host[i].map((v) => v * coef),
          1e-5,
          1e-7,
          `gradient ${i}`,
        );
      }
      expect(noGradParam.grad).toBeNull();
      norm.dispose();
      disposeAll([...params, noGradParam]);
    });
  }

  it('scales gradients that share storage only once', async () => {
    const a = gpuTensor([1, 2, 3], [3], true);
    const b = gpuTensor([4, 5, 6], [3], true);
    const y = tidy(() => sum(add(a, b)));
    backward(y);
    y.dispose();
    // both gradients are ones; the global norm is √6
    const norm = clipGradNorm([a, b], 1);
    const coef = 1 / (Math.sqrt(6) + 1e-6);
    expectClose([await norm.item()], [Math.sqrt(6)], 1e-6, 0, 'norm');
    expectClose(await a.grad!.data(), [coef, coef, coef], 1e-6, 0, 'gradient of a');
    expectClose(await b.grad!.data(), [coef, coef, coef], 1e-6, 0, 'gradient of b');
    norm.dispose();
    disposeAll([a, b]);
  });

  it('returns a zero norm when no parameter has a gradient, and rejects a negative maxNorm', async () => {
    const p = gpuTensor([1], [1], true);
    const norm = clipGradNorm([p], 1);
    expect(await norm.item()).toBe(0);
    norm.dispose();
    expect(() => clipGradNorm([p], -1)).toThrow(/clipGradNorm: maxNorm/);
    disposeAll([p]);
  });
});

describe('learning-rate schedules', () => {
  /**
   * torch.optim.lr_scheduler.CosineAnnealingLR as it steps (its recursive get_lr, torch 1.13),
   * an independent route to the closed form the library uses.
   */
  function torchCosineRecursive(baseLr: number, tMax: number, etaMin: number, epochs: number): number[] {
    const out = [baseLr];
    let lr = baseLr;
    for (let e = 1; e <= epochs; e++) {
      if ((e - 1 - tMax) % (2 * tMax) === 0) lr = lr + ((baseLr - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2;
      else lr = ((1 + Math.cos((Math.PI * e) / tMax)) / (1 + Math.cos((Math.PI * (e - 1)) / tMax))) * (lr - etaMin) + etaMin;
      out.push(lr);
    }
    return out;
  }

  it('cosine with warm-up follows linear warm-up then CosineAnnealingLR', () => {
    const baseLr = 3e-4;
    const minLr = 1e-5;
    const warmupSteps = 5;
    const totalSteps = 105;
    const sched = cosineSchedule({ baseLr, totalSteps, warmupSteps, minLr });
    for (let s = 0; s < warmupSteps; s++) expect(sched(s)).toBeCloseTo((baseLr * (s + 1)) / warmupSteps, 15);
    const T = totalSteps - warmupSteps;
    const torch = torchCosineRecursive(baseLr, T, minLr, T);
    const got = torch.map((_, t) => sched(warmupSteps + t));
    expectClose(got, torch, 1e-12, 1e-18, 'cosine lr');
    // key points: the start of the decay is baseLr, its middle the mean of both ends, its end minLr
    expect(sched(warmupSteps)).toBeCloseTo(baseLr, 15);
    expect(sched(warmupSteps + T / 2)).toBeCloseTo((baseLr + minLr) / 2, 15);
    expect(sched(totalSteps)).toBeCloseTo(minLr, 15);
    expect(sched(totalSteps + 50)).toBeCloseTo(minLr, 15);
  });

  it('cosine without warm-up starts at baseLr', () => {
    const sched = cosineSchedule({ baseLr: 0.1, totalSteps: 10 });
    const torch = torchCosineRecursive(0.1, 10, 0, 10);
    expectClose(
      torch.map((_, t) => sched(t)),
      torch,
      1e-12,
      1e-18,
      'cosine lr',
    );
  });

  it('step schedule follows StepLR as it steps', () => {
    const sched = stepSchedule({ baseLr: 0.5, stepSize: 3, gamma: 0.2 });
    // StepLR's recursive rule: multiply by gamma whenever the epoch is a positive multiple of step_size
    let lr = 0.5;
    for (let e = 0; e < 20; e++) {
      if (e > 0 && e % 3 === 0) lr *= 0.2;
      expect(sched(e)).toBeCloseTo(lr, 14);
    }
  });

  it('rejects schedules that cannot be built', () => {
    expect(() => cosineSchedule({ baseLr: 1, totalSteps: 5, warmupSteps: 5 })).toThrow(/cosineSchedule: totalSteps/);
    expect(() => stepSchedule({ baseLr: 1, stepSize: 0 })).toThrow(/stepSchedule: stepSize/);
  });
});
