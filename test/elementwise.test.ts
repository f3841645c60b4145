import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray, rng, sizeOf } from './helpers/ref.js';
import {
  neg,
  exp,
  log,
  sqrt,
  rsqrt,
  pow,
  abs,
  clamp,
  relu,
  leakyRelu,
  gelu,
  quickGelu,
  sigmoid,
  tanh,
  silu,
  affine,
  reciprocal,
  square,
  clone,
  mulScalar,
  addScalar,
  add,
  sub,
  mul,
  div,
  maximum,
  minimum,
  greater,
  equal,
  binary,
  broadcastTo,
  tensor,
  backward,
  type Tensor,
} from '../src/node.js';
import { sigmoid as sigmoid64, gelu as gelu64, geluTanh as geluTanh64 } from '../src/selftest/reference/special.js';
import { refBinary } from '../src/selftest/reference/elementwise.js';

// ---------------------------------------------------------------- float64 references

// float64 references shared with `lrdif selftest`: erf, sigmoid, gelu (src/selftest/reference/special.ts), refBinary
// (src/selftest/reference/elementwise.ts).
const sigmoidRef = sigmoid64;

interface UnaryCase {
  name: string;
  fn: (x: Tensor) => Tensor;
  ref: (v: number) => number;
  lo: number;
  hi: number;
  /** Points (kinks, poles) that inputs keep at least 0.05 away from. */
  avoid?: number[];
}

const UNARY_CASES: UnaryCase[] = [
  { name: 'neg', fn: neg, ref: (v) => -v, lo: -3, hi: 3 },
  { name: 'exp', fn: exp, ref: Math.exp, lo: -5, hi: 5 },
  { name: 'log', fn: log, ref: Math.log, lo: 0.05, hi: 5 },
  { name: 'sqrt', fn: sqrt, ref: Math.sqrt, lo: 0.05, hi: 5 },
  { name: 'rsqrt', fn: rsqrt, ref: (v) => 1 / Math.sqrt(v), lo: 0.1, hi: 5 },
  { name: 'pow 2', fn: (x) => pow(x, 2), ref: (v) => v ** 2, lo: -3, hi: 3 },
  { name: 'pow 3 (negative bases)', fn: (x) => pow(x, 3), ref: (v) => v ** 3, lo: -2, hi: 2 },
  { name: 'pow 4 (negative bases)', fn: (x) => pow(x, 4), ref: (v) => v ** 4, lo: -2, hi: 2 },
  { name: 'pow -1 (negative bases)', fn: (x) => pow(x, -1), ref: (v) => v ** -1, lo: -3, hi: 3, avoid: [0, 0.1, -0.1, 0.2, -0.2] },
  { name: 'pow -2 (negative bases)', fn: (x) => pow(x, -2), ref: (v) => v ** -2, lo: -3, hi: 3, avoid: [0, 0.1, -0.1, 0.2, -0.2] },
  { name: 'pow 0.5', fn: (x) => pow(x, 0.5), ref: (v) => v ** 0.5, lo: 0.05, hi: 4 },
  { name: 'pow 1.5', fn: (x) => pow(x, 1.5), ref: (v) => v ** 1.5, lo: 0.05, hi: 4 },
  { name: 'pow -0.5', fn: (x) => pow(x, -0.5), ref: (v) => v ** -0.5, lo: 0.1, hi: 4 },
  { name: 'pow 0', fn: (x) => pow(x, 0), ref: () => 1, lo: -3, hi: 3 },
  { name: 'pow 1', fn: (x) => pow(x, 1), ref: (v) => v, lo: -3, hi: 3 },
  { name: 'abs', fn: abs, ref: Math.abs, lo: -3, hi: 3, avoid: [0] },
  { name: 'clamp', fn: (x) => clamp(x, -0.7, 1.2), ref: (v) => Math.min(1.2, Math.max(-0.7, v)), lo: -3, hi: 3, avoid: [-0.7, 1.2] },
  { name: 'relu', fn: relu, ref: (v) => Math.max(v, 0), lo: -3, hi: 3, avoid: [0] },
  { name: 'leakyRelu', fn: (x) => leakyRelu(x, 0.2), ref: (v) => (v > 0 ? v : 0.2 * v), lo: -3, hi: 3, avoid: [0] },
  { name: 'leakyRelu default slope', fn: (x) => leakyRelu(x), ref: (v) => (v > 0 ? v : 0.01 * v), lo: -3, hi: 3, avoid: [0] },
  { name: 'gelu (erf)', fn: (x) => gelu(x), ref: gelu64, lo: -6, hi: 6 },
  {
    name: 'gelu (tanh)',
    fn: (x) => gelu(x, 'tanh'),
    ref: geluTanh64,
    lo: -6,
    hi: 6,
  },
  { name: 'quickGelu', fn: quickGelu, ref: (v) => v * sigmoidRef(1.702 * v), lo: -6, hi: 6 },
  { name: 'sigmoid', fn: sigmoid, ref: sigmoidRef, lo: -8, hi: 8 },
  { name: 'tanh', fn: tanh, ref: Math.tanh, lo: -4, hi: 4 },
  { name: 'silu', fn: silu, ref: (v) => v * sigmoidRef(v), lo: -6, hi: 6 },
  { name: 'affine', fn: (x) => affine(x, 2.5, -1.25), ref: (v) => 2.5 * v - 1.25, lo: -3, hi: 3 },
  { name: 'mulScalar', fn: (x) => mulScalar(x, -3), ref: (v) => -3 * v, lo: -3, hi: 3 },
  { name: 'addScalar', fn: (x) => addScalar(x, 0.75), ref: (v) => v + 0.75, lo: -3, hi: 3 },
  { name: 'reciprocal', fn: reciprocal, ref: (v) => 1 / v, lo: -3, hi: 3, avoid: [0, 0.1, -0.1, 0.2, -0.2] },
  { name: 'square', fn: square, ref: (v) => v * v, lo: -3, hi: 3 },
  { name: 'clone', fn: clone, ref: (v) => v, lo: -3, hi: 3 },
];

/** Random data in [lo, hi) moved at least 0.05 away from the `avoid` points. */
function unaryData(c: UnaryCase, n: number, seed: number): Float64Array {
  const d = randArray([n], seed, c.lo, c.hi);
  for (let i = 0; i < n; i++) {
    for (const k of c.avoid ?? []) {
      if (Math.abs(d[i] - k) < 0.05) d[i] = Math.fround(k + (d[i] >= k ? 0.05 : -0.05));
    }
  }
  return d;
}

/** Like expectClose, but ±Infinity and NaN must match exactly. */
function expectCloseSpecial(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  const a: number[] = [];
  const e: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (Number.isFinite(expected[i])) {
      a.push(actual[i]);
      e.push(expected[i]);
    } else {
      expect(actual[i], `${what}: element ${i}`).toBe(expected[i]);
    }
  }
  expectClose(a, e, rtol, atol, what);
}

// ---------------------------------------------------------------- unary

describe('unary ops forward', () => {
  beforeAll(gpu);
  for (const c of UNARY_CASES) {
    it(`${c.name}: [3, 257] and size-1 / scalar / empty tensors vs float64`, async () => {
      for (const shape of [[3, 257], [1], [], [0], [2, 0, 3]]) {
        const data = unaryData(c, sizeOf(shape), 17 + shape.length);
        const x = gpuTensor(data, shape);
        const y = c.fn(x);
        expect(y.shape).toEqual(shape);
        expectClose(await y.data(), Array.from(data, c.ref), 2e-5, 2e-6, `${c.name} ${JSON.stringify(shape)}`);
        x.dispose();
        y.dispose();
      }
    });
  }

  it('pow: special bases and exponents (zero base, non-integer power of a negative base)', async () => {
    const bases = [0, 2, -2, -3, 0.5, -0.5];
    for (const e of [2, 3, -1, -2, 0.5, 1.5, -0.5, 0, 1, 4]) {
      const x = gpuTensor(bases, [bases.length]);
      const y = pow(x, e);
      // Math.pow gives NaN for a negative base and a non-integer exponent, ∞ for 0 ** negative (as PyTorch)
      expectCloseSpecial(
        await y.data(),
        bases.map((b) => Math.pow(b, e)),
        2e-6,
        1e-7,
        `pow(·, ${e})`,
      );
      x.dispose();
      y.dispose();
    }
  });

  it('tanh keeps its relative accuracy near 0 (no cancellation in 1 − e^(−2|x|))', async () => {
    const xs = [1e-30, 1e-6, -1e-6, 1e-4, 1e-3, -3e-3, 0.01, 0.1, 0.29, 0.31, -0.5];
    const x = gpuTensor(xs, [xs.length]);
    const y = tanh(x);
    // atol far below the values: a relative comparison
    expectClose(
      await y.data(),
      xs.map((v) => Math.tanh(Math.fround(v))),
      2e-6,
      1e-37,
      'tanh near 0',
    );
    x.dispose();
    y.dispose();
  });

  it('no NaN or overflow for large |x| (±50, ±100, ±1000)', async () => {
    const big = [-1000, -100, -50, 50, 100, 1000];
    const cases: Array<[string, (x: Tensor) => Tensor, (v: number) => number]> = [
      ['sigmoid', sigmoid, sigmoidRef],
      ['tanh', tanh, Math.tanh],
      ['silu', silu, (v) => v * sigmoidRef(v)],
      ['quickGelu', quickGelu, (v) => v * sigmoidRef(1.702 * v)],
      ['gelu', (x) => gelu(x), gelu64],
      ['gelu tanh', (x) => gelu(x, 'tanh'), (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))],
      // exp overflows float32 to +∞ (as in PyTorch), never NaN
      ['exp', exp, (v) => Math.fround(Math.exp(v))],
    ];
    for (const [name, fn, ref] of cases) {
      const x = gpuTensor(big, [big.length]);
      const y = fn(x);
      const got = await y.data();
      for (const v of got) expect(Number.isNaN(v), `${name}: NaN in ${Array.from(got)}`).toBe(false);
      // WGSL allows exp an error of 3 + 2|x| ulp: ~6e-6 relative at |x| = 50
      expectCloseSpecial(got, big.map(ref), 1e-5, 1e-6, name);
      x.dispose();
      y.dispose();
    }
  });

  it('gradients stay finite for large |x|', async () => {
    const big = [-1000, -100, -50, 50, 100, 1000];
    for (const [name, fn] of [
      ['sigmoid', sigmoid],
      ['tanh', tanh],
      ['silu', silu],
      ['quickGelu', quickGelu],
      ['gelu', (x: Tensor) => gelu(x)],
      ['gelu tanh', (x: Tensor) => gelu(x, 'tanh')],
    ] as Array<[string, (x: Tensor) => Tensor]>) {
      const x = gpuTensor(big, [big.length], true);
      const y = fn(x);
      backward(y, { grad: gpuTensor([1, 1, 1, 1, 1, 1], [6]) });
      const g = Array.from(await x.grad!.data());
      // far from 0 these functions are flat (0) or the identity (slope 1 for the GELU family, 0 for the rest)
      const slopeAtPlus = name === 'sigmoid' || name === 'tanh' ? 0 : 1;
      expectClose(
        g,
        big.map((v) => (v < 0 ? 0 : slopeAtPlus)),
        0,
        1e-6,
        `${name} gradient`,
      );
      x.grad!.dispose();
      x.dispose();
      y.dispose();
    }
  });
});

describe('unary ops backward', () => {
  beforeAll(gpu);
  for (const c of UNARY_CASES) {
    if (c.name === 'pow 0') continue; // constant: covered below
    it(`${c.name} vs finite differences`, async () => {
      await checkGradients({
        inputs: [{ data: unaryData(c, 10, 5), shape: [2, 5] }],
        gpuFn: c.fn,
        refFn: (x) => x.map(c.ref),
      });
      // a size divisible by 4 takes the vec4 kernels (unary.wgsl's main4 and backward4)
      await checkGradients({
        inputs: [{ data: unaryData(c, 12, 6), shape: [3, 4] }],
        gpuFn: c.fn,
        refFn: (x) => x.map(c.ref),
      });
    });
  }
  it('pow 0 has a zero gradient', async () => {
    const x = gpuTensor([-2, 0.5, 3], [3], true);
    const y = pow(x, 0);
    backward(y, { grad: gpuTensor([1, 1, 1], [3]) });
    expect(Array.from(await x.grad!.data())).toEqual([0, 0, 0]);
    x.grad!.dispose();
    x.dispose();
    y.dispose();
  });
});

// ---------------------------------------------------------------- binary

const BROADCAST_PAIRS: Array<[number[], number[]]> = [
  [
    [3, 5],
    [3, 5],
  ], // same shape
  [[300], [300]], // not a multiple of the workgroup
  [[3, 5], [5]], // rank mismatch
  [[5], [4, 3, 5]],
  [
    [3, 1],
    [1, 5],
  ], // both sides broadcast
  [
    [2, 1, 4],
    [3, 1],
  ],
  [[], [2, 3]], // scalar
  [[2, 3], []],
  [[1], [1]],
  [[4, 0, 3], [3]], // empty
  [[0], [1]],
  [
    [2, 3, 1, 5, 2],
    [3, 4, 1, 2],
  ], // rank 5 vs 4
  [
    [1, 257],
    [7, 1],
  ],
];

interface BinaryCase {
  name: string;
  fn: (a: Tensor, b: Tensor) => Tensor;
  ref: (x: number, y: number) => number;
  /** b is kept away from zero (divisor). */
  bAwayFromZero?: boolean;
  /** Inputs drawn from small integers so ties occur. */
  integers?: boolean;
  differentiable: boolean;
}

const BINARY_CASES: BinaryCase[] = [
  { name: 'add', fn: add, ref: (x, y) => x + y, differentiable: true },
  { name: 'sub', fn: sub, ref: (x, y) => x - y, differentiable: true },
  { name: 'mul', fn: mul, ref: (x, y) => x * y, differentiable: true },
  { name: 'div', fn: div, ref: (x, y) => x / y, bAwayFromZero: true, differentiable: true },
  { name: 'maximum', fn: maximum, ref: Math.max, differentiable: true },
  { name: 'minimum', fn: minimum, ref: Math.min, differentiable: true },
  { name: 'greater', fn: greater, ref: (x, y) => (x > y ? 1 : 0), integers: true, differentiable: false },
  { name: 'equal', fn: equal, ref: (x, y) => (x === y ? 1 : 0), integers: true, differentiable: false },
  { name: 'greaterEqual', fn: (a, b) => binary('greaterEqual', a, b), ref: (x, y) => (x >= y ? 1 : 0), integers: true, differentiable: false },
];

/**
 * Operands for a binary case. For maximum/minimum the two sides take values on interleaved
 * grids (a ≡ 0.03, b ≡ 0.08 mod 0.1), so |a − b| ≥ 0.05 and finite differences never cross a tie.
 */
function binaryData(c: BinaryCase, shape: number[], seed: number, side: 'a' | 'b'): Float64Array {
  const n = sizeOf(shape);
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (c.integers) out[i] = Math.floor(r() * 3) - 1;
    else if (c.name === 'maximum' || c.name === 'minimum') out[i] = Math.fround(Math.floor(r() * 40 - 20) / 10 + (side === 'a' ? 0.03 : 0.08));
    else if (c.bAwayFromZero && side === 'b') out[i] = Math.fround((r() < 0.5 ? -1 : 1) * (0.5 + 1.5 * r()));
    else out[i] = Math.fround(r() * 4 - 2);
  }
  return out;
}

describe('binary ops forward with broadcasting', () => {
  beforeAll(gpu);
  for (const c of BINARY_CASES) {
    it(`${c.name} over every broadcasting pattern vs float64`, async () => {
      let seed = 1;
      for (const [sa, sb] of BROADCAST_PAIRS) {
        const ad = binaryData(c, sa, seed++, 'a');
        const bd = binaryData(c, sb, seed++, 'b');
        const a = gpuTensor(ad, sa);
        const b = gpuTensor(bd, sb);
        const y = c.fn(a, b);
        const ref = refBinary(ad, sa, bd, sb, c.ref);
        expect(y.shape, `${c.name} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`).toEqual(ref.shape);
        expectClose(await y.data(), ref.out, 1e-6, 1e-7, `${c.name} ${JSON.stringify(sa)} with ${JSON.stringify(sb)}`);
        for (const t of [a, b, y]) t.dispose();
      }
    });
  }
  it('comparisons of integer-valued inputs do produce both outcomes (the tie cases are exercised)', async () => {
    const c = BINARY_CASES.find((k) => k.name === 'equal')!;
    const ref = refBinary(binaryData(c, [3, 5], 1, 'a'), [3, 5], binaryData(c, [5], 2, 'b'), [5], c.ref).out;
    expect(ref.includes(1) && ref.includes(0)).toBe(true);
  });
});

describe('binary ops backward with broadcasting', () => {
  beforeAll(gpu);
  const gradPairs: Array<[number[], number[]]> = [
    [
      [2, 3],
      [2, 3],
    ],
    [[2, 3], [3]],
    [
      [3, 1],
      [1, 4],
    ],
    [
      [2, 1, 3],
      [4, 1],
    ],
    [[], [2, 3]],
    [[2, 2], [1]],
  ];
  for (const c of BINARY_CASES.filter((k) => k.differentiable)) {
    it(`${c.name} vs finite differences for both inputs`, async () => {
      let seed = 50;
      for (const [sa, sb] of gradPairs) {
        await checkGradients({
          inputs: [
            { data: binaryData(c, sa, seed++, 'a'), shape: sa },
            { data: binaryData(c, sb, seed++, 'b'), shape: sb },
          ],
          gpuFn: c.fn,
          refFn: (a, b) => refBinary(a, sa, b, sb, c.ref).out,
        });
      }
    });
  }
  it('the same tensor on both sides (gradients add)', async () => {
    await checkGradients({
      inputs: [{ data: randArray([7], 3, 0.5, 2), shape: [7] }],
      gpuFn: (x) => div(mul(x, x), add(x, x)),
      refFn: (x) => x.map((v) => (v * v) / (v + v)),
    });
  });
  it('maximum / minimum at ties: the gradient goes to the first input, and the two parts sum to the incoming gradient', async () => {
    for (const fn of [maximum, minimum]) {
      const a = gpuTensor([1, 2, 3], [3], true);
      const b = gpuTensor([1, 0, 3], [3], true);
      const y = fn(a, b);
      backward(y, { grad: gpuTensor([0.5, 0.25, 2], [3]) });
      const ga = Array.from(await a.grad!.data());
      const gb = Array.from(await b.grad!.data());
      const firstWins = fn === maximum ? [true, true, true] : [true, false, true];
      expect(ga).toEqual([0.5, 0.25, 2].map((g, i) => (firstWins[i] ? g : 0)));
      expect(ga.map((v, i) => v + gb[i])).toEqual([0.5, 0.25, 2]);
      for (const t of [a, b]) t.grad!.dispose();
      for (const t of [a, b, y]) t.dispose();
    }
  });
  it('comparisons record no gradient', async () => {
    const a = gpuTensor([1, 2], [2], true);
    const b = gpuTensor([2, 1], [2], true);
    const y = greater(a, b);
    expect(y.requiresGrad).toBe(false);
    for (const t of [a, b, y]) t.dispose();
  });
});

// ---------------------------------------------------------------- broadcastTo

describe('broadcastTo', () => {
  beforeAll(gpu);
  const cases: Array<[number[], number[]]> = [
    [[3], [4, 3]],
    [
      [2, 1],
      [2, 257],
    ],
    [
      [1, 3, 1],
      [5, 2, 3, 4],
    ],
    [[], [2, 2]],
    [[4], [4]],
    [[1], [0]],
    [
      [2, 1],
      [2, 0],
    ],
  ];
  it('forward vs float64 (every kind of broadcast, empty targets)', async () => {
    let seed = 1;
    for (const [s, t] of cases) {
      const d = randArray(s, seed++);
      const x = gpuTensor(d, s);
      const y = broadcastTo(x, t);
      expect(y.shape).toEqual(t);
      // a copy: exact
      expect(Array.from(await y.data()), `broadcastTo ${JSON.stringify(s)} → ${JSON.stringify(t)}`).toEqual(
        Array.from(refBinary(d, s, new Float64Array(sizeOf(t)), t, (v) => v).out),
      );
      x.dispose();
      y.dispose();
    }
  });
  it('copies i32 tensors exactly (small integers are f32 denormal bit patterns)', async () => {
    const vals = [1, 2, -3, 123456789, 0, -2147483648];
    const x = tensor(vals, [6, 1], 'i32');
    const y = broadcastTo(x, [6, 3]);
    expect(y.dtype).toBe('i32');
    expect(Array.from(await y.data())).toEqual(vals.flatMap((v) => [v, v, v]));
    x.dispose();
    y.dispose();
  });
  it('backward sums over the broadcast axes (finite differences)', async () => {
    for (const [s, t] of cases.slice(0, 5)) {
      await checkGradients({
        inputs: [{ data: randArray(s, 7), shape: s }],
        gpuFn: (x) => broadcastTo(x, t),
        refFn: (x) => refBinary(x, s, new Float64Array(sizeOf(t)), t, (v) => v).out,
      });
    }
  });
});

// ---------------------------------------------------------------- errors

describe('elementwise errors', () => {
  beforeAll(gpu);
  it('broadcast mismatch names the op and both shapes', () => {
    const a = gpuTensor(new Float64Array(6), [2, 3]);
    const b = gpuTensor(new Float64Array(4), [4]);
    expect(() => add(a, b)).toThrow(/add: shapes \[2, 3\] and \[4\] cannot be broadcast together/);
    expect(() => mul(b, a)).toThrow(/mul: shapes \[4\] and \[2, 3\] cannot be broadcast together/);
    expect(() => maximum(a, b)).toThrow(/maximum: shapes \[2, 3\] and \[4\]/);
    expect(() => broadcastTo(a, [3, 3])).toThrow(/broadcastTo: shapes \[2, 3\] and \[3, 3\] cannot be broadcast together/);
    expect(() => broadcastTo(a, [3])).toThrow(/broadcastTo: \[2, 3\] cannot be broadcast to \[3\]/);
    expect(() => broadcastTo(a, [2, 1])).toThrow(/broadcastTo: \[2, 3\] cannot be broadcast to \[2, 1\]/);
    a.dispose();
    b.dispose();
  });
  it('integer inputs and bad clamp bounds are rejected, naming the op', () => {
    const i = tensor([1, 2, 3], [3], 'i32');
    const f = gpuTensor([1, 2, 3], [3]);
    expect(() => exp(i)).toThrow(/exp: input must be f32, got tensor \[3\] i32/);
    expect(() => add(f, i)).toThrow(/add: input must be f32, got tensor \[3\] i32/);
    expect(() => clamp(f, 2, 1)).toThrow(/clamp: min \(2\) must not exceed max \(1\)/);
    i.dispose();
    f.dispose();
  });
});

describe('coalesceBroadcast', () => {
  it('merges axes walked contiguously or broadcast together, and drops size-1 axes', async () => {
    const { coalesceBroadcast, broadcastStrides } = await import('../src/kernels/util.js');
    const out = [8, 48, 56, 36];
    const c = coalesceBroadcast(out, [broadcastStrides(out, out), broadcastStrides([1, 48, 1, 1], out)]);
    expect(c).toEqual({
      shape: [8, 48, 56 * 36],
      strides: [
        [48 * 56 * 36, 56 * 36, 1],
        [0, 1, 0],
      ],
    });
    const d = coalesceBroadcast([2, 1, 3, 4], [broadcastStrides([2, 1, 3, 4], [2, 1, 3, 4]), broadcastStrides([3, 4], [2, 1, 3, 4])]);
    expect(d).toEqual({
      shape: [2, 12],
      strides: [
        [12, 1],
        [0, 1],
      ],
    });
    expect(coalesceBroadcast([1, 1], [[0, 0]])).toEqual({ shape: [], strides: [[]] });
  });
});
