/**
 * backward(y) walks and frees only y's graph, against PyTorch: test/golden/fixtures/autograd.json
 * (written by test/golden/make_golden.py, float64 on float32-exact inputs) holds graphs of
 * several outputs and a sequence of backward calls, with every leaf's gradient after each call
 * and PyTorch's message where it raised. lrdif builds the same graph and runs the same calls.
 * Tolerance as in golden.test.ts: |got − expected| ≤ 2e-4·(|expected| + rms(expected)).
 *
 * Then lrdif's own rules around it: the errors where PyTorch raises, a disposed input, and
 * release of graphs that are never backwarded (output disposed, or engine.clearTape()).
 */
import { describe, it, expect, beforeAll, afterEach } from 'vitest';
import { readFileSync } from 'node:fs';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/ref.js';
import { add, addScalar, backward, detach, engine, exp, gelu, linear, matmul, mean, mul, mulScalar, noGrad, square, sum, tanh, tensor, tidy, type Tensor } from '../src/node.js';

interface Arr {
  shape: number[];
  data: number[];
}

interface Step {
  backward: string;
  retainGraph: boolean;
  raises?: string;
  grads: Record<string, Arr | null>;
}

interface GraphCase {
  name: string;
  graph: string;
  inputs: Record<string, Arr>;
  requiresGrad: string[];
  outputs: Record<string, Arr>;
  steps: Step[];
}

interface ErrorsCase {
  name: 'errors';
  errors: { nonScalarWithoutGrad: string; noGradRequired: string; underNoGrad: string };
}

const fixture = JSON.parse(readFileSync(new URL('./golden/fixtures/autograd.json', import.meta.url), 'utf8')) as {
  cases: Array<GraphCase | ErrorsCase>;
};
const graphCases = fixture.cases.filter((c): c is GraphCase => c.name !== 'errors');
const torchErrors = (fixture.cases.find((c) => c.name === 'errors') as ErrorsCase).errors;

const TOL = 2e-4;

function rms(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return v.length ? Math.sqrt(s / v.length) : 0;
}

/** The graphs of make_autograd() in make_golden.py, op for op. */
const GRAPHS: Record<string, (x: Record<string, Tensor>) => Record<string, Tensor>> = {
  issue_example: ({ w }) => ({ a: sum(mul(w, w)), b: sum(mulScalar(w, 5)) }),
  two_losses: ({ x, w, v }) => ({ a: mean(square(tanh(matmul(x, w)))), b: sum(mul(exp(mulScalar(w, 0.5)), v)) }),
  shared_intermediate: ({ x, w, c }) => {
    const h = tanh(matmul(x, w));
    return { a: sum(square(h)), b: sum(mul(h, c)) };
  },
  detach_and_no_grad: ({ w, x }) => {
    const y = mul(w, x);
    const d = detach(y);
    const c = noGrad(() => mulScalar(w, 3));
    return { loss: sum(add(add(mul(d, w), mul(y, c)), square(y))) };
  },
  retain_graph_twice: ({ w, x }) => ({ loss: sum(exp(mulScalar(matmul(w, x), 0.3))) }),
  // tidy disposes every intermediate before backward; the graph keeps views of what it saved
  tidy_escape: ({ x, weight, bias }) => tidy(() => ({ loss: mean(square(gelu(linear(x, weight, bias)))) })),
};

/** The op whose released node a failing step must name (the first freed node its walk meets). */
const RELEASED_OP: Record<string, string> = { shared_intermediate: 'tanh', retain_graph_twice: 'sum' };

beforeAll(gpu);
// every test frees what it built; one that does not must not hide behind the next one's counts
afterEach(() => {
  const held = engine.liveNodes;
  engine.clearTape();
  expect(held, 'graph nodes left held by the test').toBe(0);
});

describe('autograd against PyTorch: several outputs, backward of each', () => {
  for (const c of graphCases) {
    it(c.name, async () => {
      const ctx = engine.ctx;
      const before = ctx.stats().liveBuffers;
      const leaves: Record<string, Tensor> = {};
      for (const [k, v] of Object.entries(c.inputs)) {
        leaves[k] = tensor(Float32Array.from(v.data), v.shape);
        leaves[k].name = k;
        leaves[k].requiresGrad = c.requiresGrad.includes(k);
      }
      // everything the graph allocates outside tidy belongs to this scope
      const scope = engine.beginScope();
      try {
        const outs = GRAPHS[c.graph](leaves);
        for (const [k, want] of Object.entries(c.outputs)) {
          expectClose(await outs[k].data(), want.data, TOL, TOL * rms(want.data), `${c.name}: output ${k}`);
        }
        for (const [i, step] of c.steps.entries()) {
          const what = `${c.name}: step ${i + 1}, backward(${step.backward}${step.retainGraph ? ', retainGraph' : ''})`;
          const call = () => backward(outs[step.backward], { retainGraph: step.retainGraph });
          if (step.raises) {
            // PyTorch: "Trying to backward through the graph a second time"
            expect(call, what).toThrow(new RegExp(`graph node of ${RELEASED_OP[c.graph]} .*earlier backward\\(\\); pass \\{ retainGraph: true \\}`));
          } else {
            call();
          }
          for (const [k, g] of Object.entries(step.grads)) {
            const got = leaves[k].grad;
            if (g === null) {
              expect(got, `${what}: gradient of ${k}`).toBeNull();
            } else {
              expect(got, `${what}: no gradient reached ${k}`).not.toBeNull();
              expectClose(await got!.data(), g.data, TOL, TOL * rms(g.data), `${what}: gradient of ${k}`);
            }
          }
        }
      } finally {
        engine.endScope(scope);
      }
      // the outputs are gone: whatever graph was still held (a failed step's, a retained one) went with them
      expect(engine.liveNodes, `${c.name}: graph nodes held after disposing every output`).toBe(0);
      for (const t of Object.values(leaves)) {
        t.grad?.dispose();
        t.dispose();
      }
      expect(ctx.stats().liveBuffers, `${c.name}: live buffers`).toBe(before);
    });
  }
});

describe('autograd: errors', () => {
  function leaf(values: number[], name = 'w'): Tensor {
    const t = tensor(values);
    t.name = name;
    t.requiresGrad = true;
    return t;
  }

  it(`backward of a non-scalar without a gradient (PyTorch: "${torchErrors.nonScalarWithoutGrad}")`, () => {
    const w = leaf([1, 2, 3]);
    const y = mulScalar(w, 2);
    expect(() => backward(y)).toThrow(/has 3 elements; pass options\.grad for a non-scalar output/);
    expect(w.grad).toBeNull();
    for (const t of [y, w]) t.dispose();
    expect(engine.liveNodes).toBe(0);
  });

  it(`backward of a tensor that needs no gradient (PyTorch: "${torchErrors.noGradRequired}")`, () => {
    const x = tensor([1, 2, 3]);
    const y = sum(x);
    expect(() => backward(y)).toThrow(/does not require a gradient/);
    for (const t of [x, y]) t.dispose();
  });

  it(`backward of a result computed under noGrad (PyTorch: "${torchErrors.underNoGrad}")`, () => {
    const w = leaf([1, 2, 3]);
    const y = noGrad(() => sum(mulScalar(w, 2)));
    expect(() => backward(y)).toThrow(/does not require a gradient/);
    for (const t of [y, w]) t.dispose();
  });

  it('backward after a leaf that requires a gradient was disposed names the leaf and the op', () => {
    const w = leaf([1, 2, 3], 'w2');
    const v = leaf([4, 5, 6], 'v');
    const y = tidy(() => sum(mul(tanh(v), w)));
    w.dispose();
    expect(() => backward(y)).toThrow(/tensor 'w2' \[3\] f32, input 1 of mul, requires a gradient but was disposed before backward/);
    // the checks run before any rule: nothing accumulated
    expect(v.grad).toBeNull();
    y.dispose();
    v.dispose();
    expect(engine.liveNodes).toBe(0);
  });

  it('backward of a disposed output', () => {
    const w = leaf([1, 2, 3]);
    const y = tidy(() => sum(square(w)));
    y.dispose();
    expect(() => backward(y)).toThrow(/backward: tensor \[\] f32 was disposed/);
    w.dispose();
  });

  it('backward through a graph freed by engine.clearTape() names the op', () => {
    const w = leaf([1, 2, 3]);
    const y = tidy(() => sum(exp(w)));
    expect(engine.liveNodes).toBe(2);
    engine.clearTape();
    expect(engine.liveNodes).toBe(0);
    expect(() => backward(y)).toThrow(/graph node of sum .* was freed by engine\.clearTape\(\)/);
    // a new graph through an output of the freed one fails too, instead of treating it as a leaf
    const z = mulScalar(y, 2);
    expect(() => backward(z)).toThrow(/graph node of sum/);
    expect(w.grad).toBeNull();
    for (const t of [z, y, w]) t.dispose();
    expect(engine.liveNodes).toBe(0);
  });
});

describe('autograd: graphs released without backward', () => {
  it('disposing an output frees its graph, but not the nodes another live output needs', async () => {
    const ctx = engine.ctx;
    const w = tensor([0.5, -1, 2]);
    w.requiresGrad = true;
    const before = ctx.stats().liveBuffers;
    // h is shared; a and b escape the tidy, every intermediate is disposed
    const { a, b } = tidy(() => {
      const h = exp(w);
      return { a: sum(square(h)), b: sum(mulScalar(h, 3)) };
    });
    const held = engine.liveNodes;
    expect(held).toBe(5); // exp, square, sum, mulScalar (affine), sum
    a.dispose(); // frees a's sum and square; exp stays, b needs it
    expect(engine.liveNodes).toBe(3);
    backward(b);
    expect(engine.liveNodes).toBe(0);
    expectClose(
      await w.grad!.data(),
      [0.5, -1, 2].map((v) => 3 * Math.exp(v)),
      1e-5,
      0,
      'gradient of sum(3·exp(w))',
    );
    b.dispose();
    w.grad!.dispose();
    w.grad = null;
    expect(ctx.stats().liveBuffers).toBe(before);
    w.dispose();
  });

  it('a retained graph is freed by the backward that does not retain it, or by disposing its output', () => {
    const w = tensor([1, 2]);
    w.requiresGrad = true;
    const y = tidy(() => sum(exp(w)));
    backward(y, { retainGraph: true });
    expect(engine.liveNodes).toBe(2);
    y.dispose();
    expect(engine.liveNodes).toBe(0);
    w.grad?.dispose();
    w.dispose();
  });

  it('a graph 10,000 nodes deep: backward and release walk it without recursion', async () => {
    const w = tensor([0.5]);
    w.requiresGrad = true;
    const DEPTH = 10_000;
    const y = tidy(() => {
      let t = w;
      for (let i = 0; i < DEPTH; i++) t = addScalar(t, 1e-4);
      return t;
    });
    expect(engine.liveNodes).toBe(DEPTH);
    backward(y, { retainGraph: true });
    expect(await w.grad!.item()).toBe(1);
    y.dispose(); // frees the retained chain, last node first
    expect(engine.liveNodes).toBe(0);
    w.grad!.dispose();
    w.dispose();
  });
});
