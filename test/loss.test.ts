import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray, rng } from './helpers/ref.js';
import { crossEntropy, klDiv, l1Loss, mseLoss, tensor, backward, tidy, engine, type Tensor, type Reduction } from '../src/node.js';
// the float64 references are shared with `lrdif selftest`
import { refCrossEntropy, refPointwise, refReduce } from '../src/selftest/reference/loss.js';

type Red = Reduction | 'batchmean';

async function take(t: Tensor): Promise<Float32Array> {
  const d = (await t.data()) as Float32Array;
  t.dispose();
  return d;
}

function randLabels(n: number, c: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * c));
}

// ---------------------------------------------------------------- float64 references

// ---------------------------------------------------------------- cross-entropy

describe('crossEntropy', () => {
  beforeAll(gpu);

  it('forward matches float64 for C = 1, 7, 257, 1000; N = 1, 5, 64; smoothing 0 and 0.1; every reduction', async () => {
    let seed = 1;
    for (const c of [1, 7, 257, 1000]) {
      for (const n of [1, 5, 64]) {
        const x = randArray([n, c], seed++, -4, 4);
        const labels = randLabels(n, c, seed++);
        const xt = gpuTensor(x, [n, c]);
        const lt = tensor(labels, [n], 'i32');
        for (const eps of [0, 0.1]) {
          for (const reduction of ['mean', 'sum', 'none'] as const) {
            const got = crossEntropy(xt, lt, { labelSmoothing: eps, reduction });
            expect(got.shape).toEqual(reduction === 'none' ? [n] : []);
            expectClose(await take(got), refCrossEntropy(x, labels, n, c, eps, reduction), 1e-5, 2e-5, `N=${n} C=${c} ε=${eps} ${reduction}`);
          }
        }
        xt.dispose();
        lt.dispose();
      }
    }
  });

  it('is stable for large logits (no overflow in exp)', async () => {
    const n = 9;
    const c = 300;
    const x = randArray([n, c], 3, -400, 400);
    const labels = randLabels(n, c, 4);
    const xt = gpuTensor(x, [n, c]);
    const lt = tensor(labels, [n], 'i32');
    const got = await take(crossEntropy(xt, lt, { labelSmoothing: 0.1, reduction: 'none' }));
    expectClose(got, refCrossEntropy(x, labels, n, c, 0.1, 'none'), 1e-5, 1e-3, 'large logits');
    xt.dispose();
    lt.dispose();
  });

  it('ignoreIndex rows contribute nothing and are not counted in the mean', async () => {
    const n = 12;
    const c = 6;
    const x = randArray([n, c], 5, -2, 2);
    const labels = Int32Array.from([0, 2, 5, 2, 1, 2, 3, 4, 2, 0, 1, 5]);
    const xt = gpuTensor(x, [n, c]);
    const lt = tensor(labels, [n], 'i32');
    for (const reduction of ['mean', 'sum', 'none'] as const) {
      const got = await take(crossEntropy(xt, lt, { labelSmoothing: 0.1, reduction, ignoreIndex: 2 }));
      expectClose(got, refCrossEntropy(x, labels, n, c, 0.1, reduction, 2), 1e-5, 1e-5, `ignoreIndex 2, ${reduction}`);
    }
    // PyTorch's usual padding label
    const padded = tensor(
      Int32Array.from(labels, (v, i) => (i % 3 === 0 ? -100 : v)),
      [n],
      'i32',
    );
    const want = refCrossEntropy(
      x,
      Int32Array.from(labels, (v, i) => (i % 3 === 0 ? -100 : v)),
      n,
      c,
      0,
      'mean',
      -100,
    );
    expectClose(await take(crossEntropy(xt, padded, { ignoreIndex: -100 })), want, 1e-5, 1e-5, 'ignoreIndex -100');
    xt.dispose();
    lt.dispose();
    padded.dispose();
  });

  it('labels outside [0, C) give loss 0 and gradient 0, are not counted, and produce no NaN', async () => {
    const n = 6;
    const c = 5;
    const x = randArray([n, c], 6, -2, 2);
    const labels = Int32Array.from([1, 5, -1, 4, 1_000_000, -2_000_000_000]);
    const xt = gpuTensor(x, [n, c], true);
    const lt = tensor(labels, [n], 'i32');
    const rows = await take(crossEntropy(xt, lt, { reduction: 'none' }));
    expect(rows[1]).toBe(0);
    expect(rows[2]).toBe(0);
    expect(rows[4]).toBe(0);
    expect(rows[5]).toBe(0);
    expectClose(rows, refCrossEntropy(x, labels, n, c, 0, 'none'), 1e-5, 1e-5, 'rows');
    const loss = tidy(() => crossEntropy(xt, lt, { labelSmoothing: 0.1 }));
    expectClose([await loss.item()], refCrossEntropy(x, labels, n, c, 0.1, 'mean'), 1e-5, 1e-5, 'mean over the 2 valid rows');
    backward(loss);
    const g = (await xt.grad!.data()) as Float32Array;
    expect(g.every((v) => Number.isFinite(v))).toBe(true);
    for (const row of [1, 2, 4, 5]) expect(Array.from(g.subarray(row * c, row * c + c))).toEqual([0, 0, 0, 0, 0]);
    expect(g.subarray(0, c).some((v) => v !== 0)).toBe(true);
    loss.dispose();
    xt.grad!.dispose();
    xt.grad = null;

    // no row counts: the mean is 0 (PyTorch: NaN) and so is its gradient
    const none = tensor([-1, 7, 5, -100, 9, 6], [n], 'i32');
    const empty = tidy(() => crossEntropy(xt, none, { ignoreIndex: -100 }));
    expect(await empty.item()).toBe(0);
    backward(empty);
    expect(Array.from(await xt.grad!.data()).every((v) => v === 0)).toBe(true);
    empty.dispose();
    xt.grad!.dispose();
    xt.dispose();
    lt.dispose();
    none.dispose();
  });

  it('handles an empty batch (N = 0)', async () => {
    const xt = tensor([], [0, 4]);
    const lt = tensor([], [0], 'i32');
    const rows = crossEntropy(xt, lt, { reduction: 'none' });
    expect(rows.shape).toEqual([0]);
    rows.dispose();
    expect(await take(crossEntropy(xt, lt))).toEqual(Float32Array.of(0));
    expect(await take(crossEntropy(xt, lt, { reduction: 'sum' }))).toEqual(Float32Array.of(0));
    xt.dispose();
    lt.dispose();
  });

  it('backward matches finite differences (smoothing, reductions, ignoreIndex, C = 1 and 257)', async () => {
    const configs: Array<{ n: number; c: number; eps: number; reduction: Reduction; ignoreIndex?: number }> = [
      { n: 5, c: 7, eps: 0, reduction: 'mean' },
      { n: 5, c: 7, eps: 0.1, reduction: 'mean', ignoreIndex: 3 },
      { n: 5, c: 7, eps: 0.1, reduction: 'sum' },
      { n: 4, c: 7, eps: 0.3, reduction: 'none' },
      { n: 3, c: 1, eps: 0.1, reduction: 'mean' },
      { n: 2, c: 257, eps: 0.1, reduction: 'mean' },
    ];
    let seed = 40;
    for (const cfg of configs) {
      const { n, c, eps, reduction, ignoreIndex } = cfg;
      const labels = randLabels(n, c, seed++);
      if (ignoreIndex !== undefined) labels[1] = ignoreIndex;
      await checkGradients({
        inputs: [{ data: randArray([n, c], seed++, -2, 2), shape: [n, c] }],
        gpuFn: (x) => crossEntropy(x, tensor(labels, [n], 'i32'), { labelSmoothing: eps, reduction, ignoreIndex }),
        refFn: (x) => refCrossEntropy(x, labels, n, c, eps, reduction, ignoreIndex),
      });
    }
  });

  it('matches PyTorch golden values (smoothing, ignore_index) with gradients', async () => {
    const doc = JSON.parse(readFileSync(new URL('./golden/fixtures/losses.json', import.meta.url), 'utf8'));
    const cases = doc.cases.filter((k: { name: string }) => k.name.startsWith('ce_'));
    expect(cases.length).toBe(3);
    for (const k of cases) {
      const x = gpuTensor(k.inputs.logits.data, k.inputs.logits.shape, true);
      const labels = tensor(k.inputs.labels.data, k.inputs.labels.shape, 'i32');
      const y = tidy(() => crossEntropy(x, labels, k.params));
      expectClose(await y.data(), k.output.data, 1e-5, 1e-6, `${k.name} output`);
      const w = gpuTensor(k.w.data, k.w.shape);
      backward(y, { grad: w });
      expectClose(await x.grad!.data(), k.grads.logits.data, 1e-4, 1e-6, `${k.name} gradient`);
      for (const t of [y, w, x.grad!, x, labels]) t.dispose();
    }
  });

  it('releases its temporaries (no leak over repeated forward + backward)', async () => {
    const ctx = await gpu();
    const x = gpuTensor(randArray([8, 11], 9), [8, 11], true);
    const labels = tensor(randLabels(8, 11, 10), [8], 'i32');
    const step = async () => {
      const loss = tidy(() => crossEntropy(x, labels, { labelSmoothing: 0.1 }));
      backward(loss);
      await loss.item();
      loss.dispose();
      x.grad!.dispose();
      x.grad = null;
    };
    await step();
    const live = ctx.stats().liveBuffers;
    for (let i = 0; i < 5; i++) await step();
    expect(ctx.stats().liveBuffers).toBe(live);
    x.dispose();
    labels.dispose();
  });

  it('rejects bad arguments, naming the op and the shapes', () => {
    const x = tensor(new Float32Array(15), [5, 3]);
    const l = tensor([0, 1, 2, 0, 1], [5], 'i32');
    const lf = tensor([0, 1, 2, 0, 1], [5]);
    const l4 = tensor([0, 1, 2, 0], [4], 'i32');
    expect(() => crossEntropy(x, lf)).toThrow(/crossEntropy: labels must be i32, got tensor \[5\] f32/);
    expect(() => crossEntropy(l4, l)).toThrow(/crossEntropy: logits must be f32, got tensor \[4\] i32/);
    expect(() => crossEntropy(x, l4)).toThrow(/crossEntropy: need logits \[N, C\] and labels \[N\], got logits \[5, 3\], labels \[4\]/);
    const x3 = x.view([5, 3, 1]);
    expect(() => crossEntropy(x3, l)).toThrow(/crossEntropy: need logits \[N, C\] and labels \[N\], got logits \[5, 3, 1\], labels \[5\]/);
    for (const s of [-0.1, 1.5, NaN]) {
      expect(() => crossEntropy(x, l, { labelSmoothing: s })).toThrow(
        new RegExp(`crossEntropy: labelSmoothing must be in \\[0, 1\\], got ${s} \\(logits \\[5, 3\\], labels \\[5\\]\\)`),
      );
    }
    expect(() => crossEntropy(x, l, { reduction: 'avg' as Reduction })).toThrow(/crossEntropy: reduction must be one of 'mean', 'sum', 'none', got 'avg'/);
    expect(() => crossEntropy(x, l, { ignoreIndex: 0.5 })).toThrow(/crossEntropy: ignoreIndex/);
    const x0 = tensor([], [5, 0]);
    expect(() => crossEntropy(x0, l)).toThrow(/crossEntropy: logits need at least one class, got logits \[5, 0\], labels \[5\]/);
    for (const t of [x, l, lf, l4, x3, x0]) t.dispose();
  });
});

// ---------------------------------------------------------------- klDiv, l1Loss, mseLoss

describe('klDiv, l1Loss, mseLoss', () => {
  beforeAll(gpu);

  /** Probabilities along the last axis (a target for klDiv), from seeded data. */
  function probs(shape: number[], seed: number): Float64Array {
    const raw = randArray(shape, seed, 0.05, 1);
    const c = shape[shape.length - 1] ?? 1;
    for (let i = 0; i < raw.length; i += c) {
      let s = 0;
      for (let j = 0; j < c; j++) s += raw[i + j];
      for (let j = 0; j < c; j++) raw[i + j] = Math.fround(raw[i + j] / s);
    }
    return raw;
  }

  const ops = {
    kl: (a: Tensor, b: Tensor, reduction: Red) => klDiv(a, b, { reduction }),
    klLog: (a: Tensor, b: Tensor, reduction: Red) => klDiv(a, b, { reduction, logTarget: true }),
    l1: (a: Tensor, b: Tensor, reduction: Red) => l1Loss(a, b, { reduction: reduction as Reduction }),
    mse: (a: Tensor, b: Tensor, reduction: Red) => mseLoss(a, b, { reduction: reduction as Reduction }),
  };

  function inputsFor(kind: keyof typeof ops, shape: number[], seed: number): [Float64Array, Float64Array] {
    if (kind === 'kl') return [randArray(shape, seed, -3, 0), probs(shape, seed + 1)];
    if (kind === 'klLog') return [randArray(shape, seed, -3, 0), randArray(shape, seed + 1, -3, 0)];
    return [randArray(shape, seed, -2, 2), randArray(shape, seed + 1, -2, 2)];
  }

  it('forward matches float64 on awkward and empty shapes, every reduction', async () => {
    let seed = 100;
    for (const kind of Object.keys(ops) as Array<keyof typeof ops>) {
      for (const shape of [[3, 37], [1], [2, 1, 301], [0, 4], []]) {
        const [a, b] = inputsFor(kind, shape, seed);
        seed += 2;
        const at = gpuTensor(a, shape);
        const bt = gpuTensor(b, shape);
        const reductions: Red[] = kind.startsWith('kl') && shape.length > 0 ? ['none', 'sum', 'mean', 'batchmean'] : ['none', 'sum', 'mean'];
        for (const reduction of reductions) {
          const got = ops[kind](at, bt, reduction);
          expect(got.shape).toEqual(reduction === 'none' ? shape : []);
          const want = refReduce(refPointwise(kind, a, b), reduction, shape[0] ?? 1);
          expectClose(await take(got), want, 1e-5, 1e-5, `${kind} ${JSON.stringify(shape)} ${reduction}`);
        }
        at.dispose();
        bt.dispose();
      }
    }
  });

  it('backward matches finite differences wrt both inputs', async () => {
    const shape = [3, 5];
    let seed = 200;
    for (const kind of Object.keys(ops) as Array<keyof typeof ops>) {
      for (const reduction of (kind.startsWith('kl') ? ['batchmean', 'none'] : ['mean', 'sum']) as Red[]) {
        const [a, b] = inputsFor(kind, shape, seed);
        seed += 2;
        await checkGradients({
          inputs: [
            { data: a, shape },
            { data: b, shape },
          ],
          gpuFn: (x, y) => ops[kind](x, y, reduction),
          refFn: (x, y) => refReduce(refPointwise(kind, x, y), reduction, shape[0]),
        });
      }
    }
  });

  it('klDiv: zero targets give loss 0 and target gradient −input (documented; PyTorch gives NaN)', async () => {
    const input = [-0.5, -1.5, -2, -0.25];
    const target = [0, 0.7, 0, 0.3];
    const it = gpuTensor(input, [2, 2], true);
    const tt = gpuTensor(target, [2, 2], true);
    const terms = await take(klDiv(it, tt, { reduction: 'none' }));
    expectClose(terms, refPointwise('kl', Float64Array.from(input, Math.fround), Float64Array.from(target, Math.fround)), 1e-6, 1e-7);
    expect(terms[0]).toBe(0);
    const y = tidy(() => klDiv(it, tt, { reduction: 'sum' }));
    backward(y);
    const gt = await tt.grad!.data();
    expectClose(
      gt,
      target.map((t, i) => (t === 0 ? -Math.fround(input[i]) : Math.log(Math.fround(t)) + 1 - Math.fround(input[i]))),
      1e-5,
      1e-6,
    );
    expectClose(
      await it.grad!.data(),
      target.map((t) => -Math.fround(t)),
      1e-6,
      1e-7,
    );
    for (const t of [y, it.grad!, tt.grad!, it, tt]) t.dispose();
  });

  it('klDiv matches PyTorch golden values (batchmean, both target forms) with both gradients', async () => {
    const doc = JSON.parse(readFileSync(new URL('./golden/fixtures/losses.json', import.meta.url), 'utf8'));
    const cases = doc.cases.filter((k: { name: string }) => k.name.startsWith('kl_'));
    expect(cases.length).toBe(2);
    for (const k of cases) {
      const input = gpuTensor(k.inputs.input.data, k.inputs.input.shape, true);
      const target = gpuTensor(k.inputs.target.data, k.inputs.target.shape, true);
      const y = tidy(() => klDiv(input, target, k.params));
      expectClose(await y.data(), k.output.data, 1e-5, 1e-6, `${k.name} output`);
      const w = gpuTensor(k.w.data, k.w.shape);
      backward(y, { grad: w });
      expectClose(await input.grad!.data(), k.grads.input.data, 1e-5, 1e-6, `${k.name} input gradient`);
      expectClose(await target.grad!.data(), k.grads.target.data, 1e-5, 1e-6, `${k.name} target gradient`);
      for (const t of [y, w, input.grad!, target.grad!, input, target]) t.dispose();
    }
  });

  it('rejects bad arguments, naming the op and the shapes', () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(6), [3, 2]);
    const ai = tensor([1, 2, 3, 4, 5, 6], [2, 3], 'i32');
    const s = tensor([1], []);
    expect(() => klDiv(a, b)).toThrow(/klDiv: input and target must have the same shape, got input \[2, 3\], target \[3, 2\]/);
    expect(() => l1Loss(a, b)).toThrow(/l1Loss: a and b must have the same shape, got a \[2, 3\], b \[3, 2\]/);
    expect(() => mseLoss(a, ai)).toThrow(/mseLoss: b must be f32, got tensor \[2, 3\] i32/);
    expect(() => klDiv(a, a, { reduction: 'avg' as Red })).toThrow(
      /klDiv: reduction must be one of 'mean', 'sum', 'none', 'batchmean', got 'avg' \(input \[2, 3\], target \[2, 3\]\)/,
    );
    expect(() => mseLoss(a, a, { reduction: 'batchmean' as Reduction })).toThrow(/mseLoss: reduction must be one of 'mean', 'sum', 'none', got 'batchmean'/);
    expect(() => klDiv(s, s, { reduction: 'batchmean' })).toThrow(/klDiv: 'batchmean' needs a batch axis, got input \[\], target \[\]/);
    for (const t of [a, b, ai, s]) t.dispose();
    engine.clearTape();
  });
});
