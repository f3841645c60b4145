import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { gpu } from './helpers/gpu.js';
import { expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { tensor, tidy, backward, relu, crossEntropy, engine, type Tensor } from '../src/node.js';
import { Module, Linear, Conv2d, LayerNorm, Embedding, Sequential, ReLU, GELU, Dropout } from '../src/nn/index.js';
import { AdamW } from '../src/optim/index.js';

async function host(t: Tensor): Promise<Float64Array> {
  return Float64Array.from(await t.data());
}

/** x [n, in] · w[out, in]ᵀ + b in float64. */
function linearRef(x: Float64Array, n: number, w: Float64Array, b: Float64Array | null, inF: number, outF: number): Float64Array {
  const y = new Float64Array(n * outF);
  for (let i = 0; i < n; i++) {
    for (let o = 0; o < outF; o++) {
      let s = b ? b[o] : 0;
      for (let k = 0; k < inF; k++) s += x[i * inF + k] * w[o * inF + k];
      y[i * outF + o] = s;
    }
  }
  return y;
}

/** Direct convolution in float64 with symmetric padding. */
function conv2dRef(
  x: Float64Array,
  [n, c, h, w]: number[],
  wt: Float64Array,
  [o, cg, kh, kw]: number[],
  b: Float64Array | null,
  o2: { stride: number; pad: number; dil: number; groups: number },
): { y: Float64Array; shape: number[] } {
  const oh = Math.floor((h + 2 * o2.pad - o2.dil * (kh - 1) - 1) / o2.stride) + 1;
  const ow = Math.floor((w + 2 * o2.pad - o2.dil * (kw - 1) - 1) / o2.stride) + 1;
  const og = o / o2.groups;
  const y = new Float64Array(n * o * oh * ow);
  for (let ni = 0; ni < n; ni++)
    for (let oc = 0; oc < o; oc++) {
      const g = Math.floor(oc / og);
      for (let yi = 0; yi < oh; yi++)
        for (let xi = 0; xi < ow; xi++) {
          let s = b ? b[oc] : 0;
          for (let ci = 0; ci < cg; ci++)
            for (let a = 0; a < kh; a++)
              for (let bb = 0; bb < kw; bb++) {
                const iy = yi * o2.stride - o2.pad + a * o2.dil;
                const ix = xi * o2.stride - o2.pad + bb * o2.dil;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                s += x[((ni * c + g * cg + ci) * h + iy) * w + ix] * wt[((oc * cg + ci) * kh + a) * kw + bb];
              }
          y[((ni * o + oc) * oh + yi) * ow + xi] = s;
        }
    }
  return { y, shape: [n, o, oh, ow] };
}

/** Layer norm over runs of `d` values spaced `inner` apart, float64, biased variance. */
function layerNormRef(x: Float64Array, outer: number, d: number, inner: number, w: Float64Array, b: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let o = 0; o < outer; o++)
    for (let i = 0; i < inner; i++) {
      const at = (k: number) => (o * d + k) * inner + i;
      let mean = 0;
      for (let k = 0; k < d; k++) mean += x[at(k)];
      mean /= d;
      let v = 0;
      for (let k = 0; k < d; k++) v += (x[at(k)] - mean) ** 2;
      v /= d;
      for (let k = 0; k < d; k++) y[at(k)] = ((x[at(k)] - mean) / Math.sqrt(v + eps)) * w[k] + b[k];
    }
  return y;
}

describe('nn layers: forward vs float64 references on the layer weights', () => {
  beforeAll(gpu);

  it('Linear (with and without bias, batched leading axes)', async () => {
    for (const bias of [true, false]) {
      const m = new Linear(13, 7, { bias, seed: 1 });
      const xs = randArray([2, 5, 13], 2);
      const x = gpuTensor(xs, [2, 5, 13]);
      const y = tidy(() => m.forward(x));
      expect(y.shape).toEqual([2, 5, 7]);
      const ref = linearRef(xs, 10, await host(m.weight), bias ? await host(m.bias!) : null, 13, 7);
      expectClose(await y.data(), ref, 1e-5, 1e-5, `Linear bias=${bias}`);
      expect(m.bias === null).toBe(!bias);
      x.dispose();
      y.dispose();
      m.dispose();
    }
  });

  it('Conv2d (stride, padding, dilation, groups)', async () => {
    const cases = [
      { c: 3, o: 5, k: 3, stride: 1, pad: 1, dil: 1, groups: 1, hw: [9, 7] },
      { c: 4, o: 6, k: 3, stride: 2, pad: 2, dil: 2, groups: 2, hw: [11, 10] },
      { c: 3, o: 3, k: 1, stride: 1, pad: 0, dil: 1, groups: 3, hw: [5, 5] },
    ];
    for (const [i, cs] of cases.entries()) {
      const m = new Conv2d(cs.c, cs.o, cs.k, { stride: cs.stride, padding: cs.pad, dilation: cs.dil, groups: cs.groups, seed: 10 + i });
      expect(m.weight.shape).toEqual([cs.o, cs.c / cs.groups, cs.k, cs.k]);
      const xShape = [2, cs.c, ...cs.hw];
      const xs = randArray(xShape, 20 + i);
      const x = gpuTensor(xs, xShape);
      const y = tidy(() => m.forward(x));
      const ref = conv2dRef(xs, xShape, await host(m.weight), m.weight.shape as number[], await host(m.bias!), cs);
      expect(y.shape).toEqual(ref.shape);
      expectClose(await y.data(), ref.y, 1e-5, 1e-5, `Conv2d case ${i}`);
      x.dispose();
      y.dispose();
      m.dispose();
    }
  });

  it('LayerNorm over the last axis and over NCHW channels, affine and not', async () => {
    const ln = new LayerNorm(37, { eps: 1e-4 });
    // non-trivial affine parameters, loaded through the state dict
    const w = randArray([37], 30, 0.5, 1.5);
    const b = randArray([37], 31);
    const sd = new Map([
      ['weight', gpuTensor(w, [37])],
      ['bias', gpuTensor(b, [37])],
    ]);
    ln.loadStateDict(sd);
    for (const t of sd.values()) t.dispose();
    const xs = randArray([3, 4, 37], 32, -3, 3);
    const x = gpuTensor(xs, [3, 4, 37]);
    const y = tidy(() => ln.forward(x));
    expectClose(await y.data(), layerNormRef(xs, 12, 37, 1, w, b, 1e-4), 1e-4, 1e-5, 'LayerNorm last axis');

    const lnc = new LayerNorm(5, { channels: true, affine: false });
    expect(lnc.parameters()).toHaveLength(0);
    const xc = randArray([2, 5, 3, 4], 33);
    const xct = gpuTensor(xc, [2, 5, 3, 4]);
    const yc = tidy(() => lnc.forward(xct));
    expectClose(await yc.data(), layerNormRef(xc, 2, 5, 12, new Float64Array(5).fill(1), new Float64Array(5), 1e-5), 1e-4, 1e-5, 'LayerNorm channels');
    expect(() => ln.forward(xct)).toThrow(/LayerNorm\(37\): input tensor \[2, 5, 3, 4\] f32 must have 37 features on its last axis/);
    for (const t of [x, y, xct, yc]) t.dispose();
    ln.dispose();
    lnc.dispose();
  });

  it('Embedding looks up rows by i32 ids of any shape', async () => {
    const m = new Embedding(11, 6, { seed: 4 });
    const idsHost = [3, 0, 10, 3, 7, 1];
    const ids = tensor(idsHost, [2, 3], 'i32');
    const y = tidy(() => m.forward(ids));
    expect(y.shape).toEqual([2, 3, 6]);
    const wt = await host(m.weight);
    const ref = idsHost.flatMap((id) => Array.from(wt.subarray(id * 6, id * 6 + 6)));
    expect(Array.from(await y.data())).toEqual(ref.map(Math.fround));
    ids.dispose();
    y.dispose();
    m.dispose();
  });

  it('Sequential runs modules and plain functions in order', async () => {
    const a = new Linear(6, 9, { seed: 5 });
    const b = new Linear(9, 4, { seed: 6 });
    const seq = new Sequential(a, relu, b);
    const xs = randArray([7, 6], 7);
    const x = gpuTensor(xs, [7, 6]);
    const y = tidy(() => seq.forward(x));
    const h = linearRef(xs, 7, await host(a.weight), await host(a.bias!), 6, 9).map((v) => Math.max(v, 0));
    expectClose(await y.data(), linearRef(h, 7, await host(b.weight), await host(b.bias!), 9, 4), 1e-5, 1e-5, 'Sequential');
    expect(seq.length).toBe(3);
    expect(seq.at(-1)).toBe(b);
    x.dispose();
    y.dispose();
    seq.dispose();
  });

  it('Dropout drops in training mode and is the identity after eval()', async () => {
    const seq = new Sequential(new Dropout(0.5, { seed: 3 }));
    const x = gpuTensor(new Float64Array(400).fill(1), [400]);
    const yTrain = tidy(() => seq.forward(x));
    const vals = await yTrain.data();
    const zerosCount = vals.filter((v) => v === 0).length;
    expect(zerosCount).toBeGreaterThan(120);
    expect(zerosCount).toBeLessThan(280);
    expect(vals.every((v) => v === 0 || v === 2)).toBe(true);
    seq.eval();
    expect(seq.at(0).training).toBe(false);
    const yEval = tidy(() => seq.forward(x));
    expect(Array.from(await yEval.data()).every((v) => v === 1)).toBe(true);
    seq.train();
    expect(seq.at(0).training).toBe(true);
    for (const t of [x, yTrain, yEval]) t.dispose();
  });
});

class Block extends Module {
  readonly norm = this.registerModule('norm', new LayerNorm(4));
  readonly layers = this.registerModule('layers', new Sequential(new Linear(4, 4, { seed: 1 }), new ReLU(), new Linear(4, 4, { seed: 2 })));
  forward(x: Tensor): Tensor {
    return this.layers.forward(this.norm.forward(x));
  }
}

class Net extends Module {
  readonly encoder = this.registerModule('encoder', new Block());
  readonly head = this.registerModule('head', new Linear(4, 3, { bias: false, seed: 3 }));
  forward(x: Tensor): Tensor {
    return this.head.forward(this.encoder.forward(x));
  }
}

describe('Module: names, state dicts, freezing', () => {
  beforeAll(gpu);
  const PATHS = ['encoder.norm.weight', 'encoder.norm.bias', 'encoder.layers.0.weight', 'encoder.layers.0.bias', 'encoder.layers.2.weight', 'encoder.layers.2.bias', 'head.weight'];

  it('namedParameters uses PyTorch dotted paths and names each parameter by its path', () => {
    const net = new Net();
    const named = net.namedParameters();
    expect(named.map(([k]) => k)).toEqual(PATHS);
    for (const [k, p] of named) {
      expect(p.name).toBe(k);
      expect(p.requiresGrad).toBe(true);
    }
    expect(net.parameters()).toHaveLength(7);
    expect(net.namedModules().map(([k]) => k)).toEqual(['', 'encoder', 'encoder.norm', 'encoder.layers', 'encoder.layers.0', 'encoder.layers.1', 'encoder.layers.2', 'head']);
    expect(() => net.registerModule('head', new ReLU())).toThrow(/'head' is already registered/);
    net.dispose();
  });

  it('a parameter shared by two modules is listed once but saved under both names', () => {
    const a = new Linear(3, 3, { seed: 1 });
    const seq = new Sequential(a, a);
    expect(seq.namedParameters().map(([k]) => k)).toEqual(['0.weight', '0.bias']);
    expect([...seq.stateDict().keys()]).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
    a.dispose();
  });

  it('stateDict / loadStateDict round trip reproduces the model, keeping parameter identity', async () => {
    const a = new Net();
    const other = new Net();
    // perturb `other` so it differs from `a`
    const before = other.parameters();
    for (const p of before) p.ctx.upload(p.buffer, Float32Array.from(randArray(p.shape, 77)));
    const xs = randArray([5, 4], 8);
    const x = gpuTensor(xs, [5, 4]);
    const ya = tidy(() => a.forward(x));
    const yo = tidy(() => other.forward(x));
    expect(Array.from(await yo.data())).not.toEqual(Array.from(await ya.data()));
    const res = other.loadStateDict(a.stateDict());
    expect(res).toEqual({ missing: [], unexpected: [] });
    expect(other.parameters()).toEqual(before); // same tensor objects
    const yb = tidy(() => other.forward(x));
    expect(Array.from(await yb.data())).toEqual(Array.from(await ya.data()));
    for (const t of [x, ya, yo, yb]) t.dispose();
    a.dispose();
    other.dispose();
  });

  it('loadStateDict errors name missing and unexpected keys and mismatched shapes', async () => {
    const net = new Net();
    const src = new Net();
    // same seeds as `net`: make its values differ so copies are visible
    for (const p of src.parameters()) p.ctx.upload(p.buffer, Float32Array.from(randArray(p.shape, 55)));
    const sd = src.stateDict();
    const snapshot = await host(net.encoder.layers.at(0).parameters()[0]);

    const missing = new Map(sd);
    missing.delete('encoder.layers.2.bias');
    expect(() => net.loadStateDict(missing)).toThrow(/loadStateDict into Net: missing key\(s\): encoder\.layers\.2\.bias/);

    const extra = new Map(sd);
    const junk = gpuTensor([1], [1]);
    extra.set('decoder.weight', junk);
    expect(() => net.loadStateDict(extra)).toThrow(/unexpected key\(s\): decoder\.weight/);

    const wrong = new Map(sd);
    const bad = gpuTensor(new Float64Array(12), [4, 3]);
    wrong.set('head.weight', bad);
    expect(() => net.loadStateDict(wrong)).toThrow(/'head\.weight' expects shape \[3, 4\] f32, the state dict gives \[4, 3\] f32/);
    // a shape error even when not strict, and nothing was copied before it
    expect(() => net.loadStateDict(wrong, { strict: false })).toThrow(/'head\.weight' expects shape \[3, 4\]/);
    expect(Array.from(await net.encoder.layers.at(0).parameters()[0].data())).toEqual(Array.from(snapshot));
    expect(net.loadStateDict(extra, { strict: false })).toEqual({ missing: [], unexpected: ['decoder.weight'] });
    expect(Array.from(await net.encoder.layers.at(0).parameters()[0].data())).not.toEqual(Array.from(snapshot));

    net.head.weight.ctx.upload(net.head.weight.buffer, new Float32Array(12));
    const partial = new Map([['head.weight', sd.get('head.weight')!]]);
    const r = net.loadStateDict(partial, { strict: false });
    expect(r.missing).toEqual(PATHS.filter((p) => p !== 'head.weight'));
    expect(Array.from(await net.head.weight.data())).toEqual(Array.from(await src.head.weight.data()));
    junk.dispose();
    bad.dispose();
    net.dispose();
    src.dispose();
  });

  it('requiresGrad_(false) freezes parameters: they receive no gradient', async () => {
    const net = new Net();
    net.encoder.requiresGrad_(false);
    const x = gpuTensor(randArray([6, 4], 9), [6, 4]);
    const labels = tensor([0, 1, 2, 0, 1, 2], [6], 'i32');
    const loss = tidy(() => crossEntropy(net.forward(x), labels));
    backward(loss);
    for (const [k, p] of net.namedParameters()) {
      if (k.startsWith('encoder.')) expect(p.grad, k).toBeNull();
      else expect(p.grad, k).not.toBeNull();
    }
    expect(engine.liveNodes).toBe(0);
    net.requiresGrad_(true);
    expect(net.parameters().every((p) => p.requiresGrad)).toBe(true);
    for (const t of [x, labels, loss]) t.dispose();
    net.dispose();
  });

  it('dispose frees every parameter and gradient', () => {
    const ctx = engine.ctx;
    const live = ctx.stats().liveBuffers;
    const net = new Net();
    expect(ctx.stats().liveBuffers).toBe(live + 7);
    net.dispose();
    expect(ctx.stats().liveBuffers).toBe(live);
  });
});

describe('nn init: PyTorch bounds and distributions, reproducible from a seed', () => {
  beforeAll(gpu);

  function stats(v: Float64Array): { min: number; max: number; mean: number; variance: number } {
    let mean = 0;
    for (const x of v) mean += x;
    mean /= v.length;
    let variance = 0;
    for (const x of v) variance += (x - mean) ** 2;
    return { min: Math.min(...v), max: Math.max(...v), mean, variance: variance / v.length };
  }

  /** U(-b, b): inside the bounds, reaching near them, mean 0 and variance b²/3 (n ≥ 10⁴ samples: 5σ bands). */
  function expectUniform(v: Float64Array, b: number, what: string): void {
    const s = stats(v);
    expect(s.min, what).toBeGreaterThanOrEqual(-b);
    expect(s.max, what).toBeLessThan(b);
    expect(s.max, what).toBeGreaterThan(0.99 * b);
    expect(s.min, what).toBeLessThan(-0.99 * b);
    const n = v.length;
    expect(Math.abs(s.mean), what).toBeLessThan((5 * b) / Math.sqrt(3 * n));
    // the variance of the sample variance of U(-b, b) is (b⁴/5 − b⁴/9)/n
    expect(Math.abs(s.variance - (b * b) / 3), what).toBeLessThan(5 * Math.sqrt((b ** 4 * (1 / 5 - 1 / 9)) / n));
  }

  it('Linear: weight and bias U(−1/√in, 1/√in)', async () => {
    const m = new Linear(150, 120, { seed: 11 });
    const b = 1 / Math.sqrt(150);
    expectUniform(await host(m.weight), b, 'Linear weight');
    const bias = await host(m.bias!);
    expect(Math.max(...bias.map(Math.abs))).toBeLessThanOrEqual(b);
    m.dispose();
  });

  it('Conv2d: fan-in counts channels per group and the kernel area', async () => {
    const m = new Conv2d(12, 64, [3, 5], { groups: 4, seed: 12 });
    const b = 1 / Math.sqrt((12 / 4) * 3 * 5);
    expectUniform(await host(m.weight), b, 'Conv2d weight');
    expect(Math.max(...(await host(m.bias!)).map(Math.abs))).toBeLessThanOrEqual(b);
    m.dispose();
  });

  it('Embedding N(0, 1); LayerNorm ones and zeros', async () => {
    const m = new Embedding(100, 160, { seed: 13 });
    const s = stats(await host(m.weight));
    const n = 100 * 160;
    expect(Math.abs(s.mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(s.variance - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    m.dispose();
    const ln = new LayerNorm(9);
    expect(Array.from(await ln.weight!.data())).toEqual(new Array(9).fill(1));
    expect(Array.from(await ln.bias!.data())).toEqual(new Array(9).fill(0));
    ln.dispose();
  });

  it('the same seed gives the same weights; another seed other weights', async () => {
    const [a, b, c] = [new Linear(8, 8, { seed: 5 }), new Linear(8, 8, { seed: 5 }), new Linear(8, 8, { seed: 6 })];
    expect(Array.from(await a.weight.data())).toEqual(Array.from(await b.weight.data()));
    expect(Array.from(await a.bias!.data())).toEqual(Array.from(await b.bias!.data()));
    expect(Array.from(await a.weight.data())).not.toEqual(Array.from(await c.weight.data()));
    // weight and bias come from different counters of the generator
    expect(Array.from(await a.bias!.data())).not.toEqual(Array.from((await a.weight.data()).subarray(0, 8)));
    for (const m of [a, b, c]) m.dispose();
  });

  it('bad layer arguments raise errors naming the layer', () => {
    expect(() => new Conv2d(6, 4, 3, { groups: 4 })).toThrow(/Conv2d\(6, 4, 3\): inChannels and outChannels must be divisible by groups/);
    expect(() => new Linear(-1, 3)).toThrow(/Linear: inFeatures must be an integer/);
    expect(() => new LayerNorm(0)).toThrow(/LayerNorm: dim must be a positive integer/);
    expect(() => new Linear(2, 2, { seed: 1, generator: undefined })).not.toThrow();
  });
});

describe('end to end: a small MLP trained with AdamW matches PyTorch', () => {
  beforeAll(gpu);

  interface Enc {
    shape: number[];
    data: number[];
  }
  const fixture = JSON.parse(readFileSync(new URL('./golden/fixtures/mlp_adamw.json', import.meta.url), 'utf8')) as {
    cases: Array<{ params: Record<string, number>; inputs: Record<string, Enc>; losses: number[]; final: Record<string, Enc> }>;
  };

  class MLP extends Module {
    readonly fc1: Linear;
    readonly fc2: Linear;
    readonly act = new GELU();
    constructor(dIn: number, dHidden: number, classes: number) {
      super();
      this.fc1 = this.registerModule('fc1', new Linear(dIn, dHidden));
      this.fc2 = this.registerModule('fc2', new Linear(dHidden, classes));
    }
    forward(x: Tensor): Tensor {
      return this.fc2.forward(this.act.forward(this.fc1.forward(x)));
    }
  }

  it('losses and final weights after 3 steps (test/golden/fixtures/mlp_adamw.json)', async () => {
    const c = fixture.cases[0];
    const hp = c.params;
    const [n, dIn] = c.inputs.x.shape;
    const model = new MLP(dIn, c.inputs['fc1.weight'].shape[0], c.inputs['fc2.weight'].shape[0]);
    const init = new Map(['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'].map((k) => [k, tensor(c.inputs[k].data, c.inputs[k].shape)]));
    model.loadStateDict(init);
    for (const t of init.values()) t.dispose();
    const x = tensor(c.inputs.x.data, [n, dIn]);
    const labels = tensor(c.inputs.labels.data, [n], 'i32');
    const opt = new AdamW(model.namedParameters(), { lr: hp.lr, betas: [hp.beta1, hp.beta2], eps: hp.eps, weightDecay: hp.weightDecay });
    const losses: number[] = [];
    for (let s = 0; s < hp.steps; s++) {
      opt.zeroGrad();
      const loss = tidy(() => crossEntropy(model.forward(x), labels, { labelSmoothing: hp.labelSmoothing }));
      backward(loss);
      losses.push(await loss.item());
      loss.dispose();
      opt.step();
    }
    expectClose(losses, c.losses, 1e-5, 1e-6, 'losses');
    for (const [k, p] of model.namedParameters()) expectClose(await p.data(), c.final[k].data, 1e-4, 1e-6, `final ${k}`);
    opt.zeroGrad();
    opt.dispose();
    model.dispose();
    x.dispose();
    labels.dispose();
  });
});
