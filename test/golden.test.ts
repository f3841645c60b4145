/**
 * lrdif against PyTorch: the fixtures in test/golden/fixtures were written by
 * test/golden/make_golden.py (PyTorch 1.13, float64 computation on float32-exact inputs).
 * Each case gives inputs, the output, and the gradients of L = Σ w ⊙ out for a stored w.
 *
 * Tolerances (float32 on the GPU against float64): an element passes when
 *   |got − expected| ≤ rtol·|expected| + atol·rms(expected),
 * forward rtol = atol = 1e-4, gradients rtol = atol = 2e-4 (they sum more terms).
 * The MLP case compares its three losses at rtol 1e-5 and the weights after three AdamW
 * steps at rtol 1e-4, atol 1e-5.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/ref.js';
import { backward, conv2d, crossEntropy, engine, gelu, layerNorm, layerNormChannels, linear, logSoftmax, matmul, softmax, tensor, tidy, type Tensor } from '../src/node.js';
import { Linear, Module } from '../src/nn/index.js';
import { AdamW } from '../src/optim/index.js';
import type { Padding } from '../src/kernels/conv.js';

interface Arr {
  shape: number[];
  data: number[];
}

interface GoldenCase {
  name: string;
  params: Record<string, unknown>;
  inputs: Record<string, Arr>;
  output: Arr;
  w: Arr;
  grads: Record<string, Arr>;
}

interface Fixture<C = GoldenCase> {
  generator: string;
  torch: string;
  cases: C[];
}

function load<C = GoldenCase>(name: string): Fixture<C> {
  return JSON.parse(readFileSync(new URL(`./golden/fixtures/${name}.json`, import.meta.url), 'utf8')) as Fixture<C>;
}

const FORWARD_TOL = 1e-4;
const GRAD_TOL = 2e-4;

function rms(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return v.length ? Math.sqrt(s / v.length) : 0;
}

function expectGolden(got: ArrayLike<number>, want: Arr, tol: number, what: string): void {
  expectClose(got, want.data, tol, tol * rms(want.data), what);
}

/** Runs `op` on the case's inputs, checks the output, then the gradients of Σ w ⊙ out for every input. */
async function checkCase(c: GoldenCase, op: (x: Record<string, Tensor>) => Tensor): Promise<void> {
  const inputs: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(c.inputs)) {
    inputs[k] = tensor(Float32Array.from(v.data), v.shape);
    inputs[k].requiresGrad = true;
  }
  const y = tidy(() => op(inputs));
  const w = tensor(Float32Array.from(c.w.data), c.w.shape);
  try {
    expect([...y.shape], `${c.name}: output shape`).toEqual(c.output.shape);
    expectGolden(await y.data(), c.output, FORWARD_TOL, `${c.name}: output`);
    backward(y, { grad: w });
    for (const [k, g] of Object.entries(c.grads)) {
      const grad = inputs[k].grad;
      expect(grad, `${c.name}: no gradient reached '${k}'`).not.toBeNull();
      expectGolden(await grad!.data(), g, GRAD_TOL, `${c.name}: gradient of ${k}`);
    }
  } finally {
    engine.clearTape();
    for (const t of [y, w, ...Object.values(inputs)]) {
      t.grad?.dispose();
      t.dispose();
    }
  }
}

beforeAll(gpu);

describe('golden: matmul and linear', () => {
  for (const c of load('matmul').cases) {
    it(c.name, async () => {
      const p = c.params as { transA?: boolean; transB?: boolean; linear?: boolean };
      await checkCase(c, (x) => (p.linear ? linear(x.x, x.weight, x.bias) : matmul(x.a, x.b, { transA: p.transA, transB: p.transB, bias: x.bias })));
    });
  }
});

describe('golden: conv2d', () => {
  for (const c of load('conv2d').cases) {
    it(c.name, async () => {
      const p = c.params as { stride: number; padding: Padding; dilation: number; groups: number };
      await checkCase(c, (x) => conv2d(x.x, x.weight, x.bias ?? null, { stride: p.stride, padding: p.padding, dilation: p.dilation, groups: p.groups }));
    });
  }
});

describe('golden: layer norm', () => {
  for (const c of load('layernorm').cases) {
    it(c.name, async () => {
      const p = c.params as { eps: number; channels?: boolean };
      await checkCase(c, (x) => (p.channels ? layerNormChannels(x.x, x.weight, x.bias, p.eps) : layerNorm(x.x, x.weight ?? null, x.bias ?? null, p.eps)));
    });
  }
});

describe('golden: softmax and log-softmax', () => {
  for (const c of load('softmax').cases) {
    it(c.name, async () => {
      const axis = (c.params as { axis: number }).axis;
      await checkCase(c, (x) => (c.name.startsWith('log_softmax') ? logSoftmax(x.x, axis) : softmax(x.x, axis)));
    });
  }
});

describe('golden: gelu', () => {
  for (const c of load('gelu').cases) {
    it(c.name, async () => {
      const approximate = (c.params as { approximate: 'none' | 'tanh' }).approximate;
      await checkCase(c, (x) => gelu(x.x, approximate));
    });
  }
});

interface MlpCase {
  name: string;
  params: { lr: number; weightDecay: number; beta1: number; beta2: number; eps: number; labelSmoothing: number; steps: number };
  inputs: Record<string, Arr>;
  losses: number[];
  final: Record<string, Arr>;
}

/** PyTorch's nn.Sequential(Linear(7, 16), GELU(), Linear(16, 5)) with the fixture's parameter names. */
class GoldenMlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  constructor(dIn: number, dHidden: number, classes: number) {
    super();
    this.fc1 = this.registerModule('fc1', new Linear(dIn, dHidden));
    this.fc2 = this.registerModule('fc2', new Linear(dHidden, classes));
  }

  forward(x: Tensor): Tensor {
    return this.fc2.forward(gelu(this.fc1.forward(x)));
  }
}

describe('golden: MLP training with cross-entropy and AdamW', () => {
  const c = load<MlpCase>('mlp_adamw').cases[0];
  it(c.name, async () => {
    const p = c.params;
    const [dHidden, dIn] = c.inputs['fc1.weight'].shape;
    const classes = c.inputs['fc2.weight'].shape[0];
    const model = new GoldenMlp(dIn, dHidden, classes);
    const init = new Map<string, Tensor>();
    for (const k of ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']) init.set(k, tensor(Float32Array.from(c.inputs[k].data), c.inputs[k].shape));
    model.loadStateDict(init);
    for (const t of init.values()) t.dispose();
    const x = tensor(Float32Array.from(c.inputs.x.data), c.inputs.x.shape);
    const labels = tensor(Int32Array.from(c.inputs.labels.data), c.inputs.labels.shape, 'i32');
    const opt = new AdamW(model.namedParameters(), { lr: p.lr, betas: [p.beta1, p.beta2], eps: p.eps, weightDecay: p.weightDecay });
    try {
      const losses: number[] = [];
      for (let step = 0; step < p.steps; step++) {
        opt.zeroGrad();
        const loss = tidy(() => crossEntropy(model.forward(x), labels, { labelSmoothing: p.labelSmoothing }));
        losses.push(await loss.item());
        backward(loss);
        loss.dispose();
        opt.step();
      }
      expectClose(losses, c.losses, 1e-5, 0, 'losses');
      for (const [k, t] of model.namedParameters()) {
        expectClose(await t.data(), c.final[k].data, 1e-4, 1e-5, `${k} after ${p.steps} AdamW steps`);
      }
      // the run really trained: every weight moved
      for (const [k, t] of model.namedParameters()) {
        const before = c.inputs[k].data;
        const after = await t.data();
        expect(
          after.every((v, i) => v !== before[i]),
          `${k} moved`,
        ).toBe(true);
      }
    } finally {
      opt.zeroGrad();
      opt.dispose();
      model.dispose();
      x.dispose();
      labels.dispose();
    }
  });
});
