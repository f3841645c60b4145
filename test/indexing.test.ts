import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, gpuTensor, randArray, rng, sizeOf } from './helpers/ref.js';
import { embedding, indexSelect, scatterAdd, gather, tensor, tidy, backward, type Tensor, type GpuContext } from '../src/node.js';

// ---------------------------------------------------------------- references

function stridesOf(shape: readonly number[]): number[] {
  const st: number[] = [];
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const c = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    c[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return c;
}

function around(shape: readonly number[], axis: number) {
  return { outer: sizeOf(shape.slice(0, axis)), len: shape[axis], inner: sizeOf(shape.slice(axis + 1)) };
}

/** torch.index_select; out-of-range entries read 0 (this library's documented behaviour). */
function refIndexSelect(x: ArrayLike<number>, shape: number[], axis: number, index: ArrayLike<number>): Float64Array {
  const { outer, len, inner } = around(shape, axis);
  const m = index.length;
  const y = new Float64Array(outer * m * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const id = index[j];
      if (id < 0 || id >= len) continue;
      for (let k = 0; k < inner; k++) y[(o * m + j) * inner + k] = x[(o * len + id) * inner + k];
    }
  }
  return y;
}

/**
 * torch.index_add; `f32` accumulates in float32 in source order (what the kernel promises,
 * bit for bit), otherwise in float64.
 */
function refIndexAdd(x: ArrayLike<number> | null, shape: number[], axis: number, index: ArrayLike<number>, src: ArrayLike<number>, f32 = false): Float64Array {
  const { outer, len, inner } = around(shape, axis);
  const m = index.length;
  const y = x ? Float64Array.from(x) : new Float64Array(sizeOf(shape));
  const round = f32 ? Math.fround : (v: number) => v;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const id = index[j];
      if (id < 0 || id >= len) continue;
      for (let k = 0; k < inner; k++) {
        const t = (o * len + id) * inner + k;
        y[t] = round(y[t] + src[(o * m + j) * inner + k]);
      }
    }
  }
  return y;
}

/** torch.gather; `targets` gives the flat position read (or -1). */
function gatherTargets(xShape: number[], axis: number, index: ArrayLike<number>, indexShape: number[]): Int32Array {
  const xs = stridesOf(xShape);
  const out = new Int32Array(index.length);
  for (let i = 0; i < index.length; i++) {
    const c = unravel(i, indexShape);
    const id = index[i];
    if (id < 0 || id >= xShape[axis]) {
      out[i] = -1;
      continue;
    }
    c[axis] = id;
    out[i] = c.reduce((s, v, d) => s + v * xs[d], 0);
  }
  return out;
}

function refGather(x: ArrayLike<number>, xShape: number[], axis: number, index: ArrayLike<number>, indexShape: number[]): Float64Array {
  const t = gatherTargets(xShape, axis, index, indexShape);
  return Float64Array.from(t, (p) => (p < 0 ? 0 : x[p]));
}

/** Gradient of gather: Σ in source order, float32 or float64. */
function refGatherBackward(g: ArrayLike<number>, xShape: number[], axis: number, index: ArrayLike<number>, indexShape: number[], f32: boolean): Float64Array {
  const t = gatherTargets(xShape, axis, index, indexShape);
  const dx = new Float64Array(sizeOf(xShape));
  for (let i = 0; i < t.length; i++) if (t[i] >= 0) dx[t[i]] = f32 ? Math.fround(dx[t[i]] + g[i]) : dx[t[i]] + g[i];
  return dx;
}

function randInts(n: number, seed: number, lo: number, hi: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => lo + Math.floor(r() * (hi - lo)));
}

/** Mostly one id: many sources per output row, so a racing sum order would show. */
function heavyIds(n: number, seed: number, vocab: number, hot: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => (r() < 0.8 ? hot : Math.floor(r() * vocab)));
}

/** Values over several orders of magnitude, so float32 sums depend on their order. */
function spreadValues(n: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => Math.fround((r() - 0.5) * Math.pow(10, 4 * r() - 2)));
}

async function bits(t: Tensor): Promise<Uint32Array> {
  const d = (await t.data()) as Float32Array;
  return new Uint32Array(d.buffer, d.byteOffset, d.length);
}

function f32Bits(v: Float64Array): Uint32Array {
  return new Uint32Array(Float32Array.from(v).buffer);
}

/** Bitwise equality; the message names the first differing element. */
function expectSameBits(actual: Uint32Array, expected: Uint32Array, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i] !== expected[i]) {
      const f = (u: number) => new Float32Array(Uint32Array.of(u).buffer)[0];
      expect.fail(`${what}: element ${i}: got ${f(actual[i])} (0x${actual[i].toString(16)}), expected ${f(expected[i])} (0x${expected[i].toString(16)})`);
    }
  }
}

/** Gradient of `fn(x)` for the given upstream gradient, read back. */
async function gradOf(x: Tensor, fn: (x: Tensor) => Tensor, g: ArrayLike<number>): Promise<Tensor> {
  x.requiresGrad = true;
  const y = tidy(() => fn(x));
  const gt = gpuTensor(g, y.shape);
  backward(y, { grad: gt });
  y.dispose();
  gt.dispose();
  const dx = x.grad!;
  x.grad = null;
  return dx;
}

let ctx: GpuContext;

describe('embedding', () => {
  beforeAll(async () => {
    ctx = await gpu();
  });

  it('picks rows; repeats; ids of any shape; out-of-range ids give zero rows', async () => {
    const [V, D] = [13, 7];
    const w = randArray([V, D], 1);
    const idsData = Int32Array.from([3, 0, 12, 3, 3, 7, 13, -1, 5, 0, 12, 1, 1, 9, 4]);
    const weight = gpuTensor(w, [V, D]);
    const ids = tensor(idsData, [3, 5], 'i32');
    const y = embedding(weight, ids);
    expect(y.shape).toEqual([3, 5, D]);
    expect(Array.from(await y.data())).toEqual(Array.from(refIndexSelect(w, [V, D], 0, idsData)));
    const e = embedding(weight, tensor([], [2, 0], 'i32'));
    expect(e.shape).toEqual([2, 0, D]);
    [weight, ids, y, e].forEach((t) => t.dispose());
  });

  it('backward vs finite differences (repeated ids)', async () => {
    const idsData = Int32Array.from([1, 4, 1, 0, 5, 1, 4, 2, 2, 1, 0, 3]);
    const ids = tensor(idsData, [4, 3], 'i32');
    await checkGradients({
      inputs: [{ data: randArray([6, 5], 2), shape: [6, 5] }],
      gpuFn: (w) => embedding(w, ids),
      refFn: (w) => refIndexSelect(w, [6, 5], 0, idsData),
    });
    ids.dispose();
  });

  it('backward equals a float32 loop over the ids in order, bit for bit (1000 × 33, 3000 ids, heavy collisions)', async () => {
    const [V, D, N] = [1000, 33, 3000];
    const idsData = heavyIds(N, 3, V + 5, 17); // a few ids out of range
    const g = spreadValues(N * D, 4);
    const weight = gpuTensor(randArray([V, D], 5), [V, D]);
    const ids = tensor(idsData, [N], 'i32');
    const dw = await gradOf(weight, (w) => embedding(w, ids), g);
    expectSameBits(await bits(dw), f32Bits(refIndexAdd(null, [V, D], 0, idsData, g, true)), 'dw');
    [weight, ids, dw].forEach((t) => t.dispose());
  });
});

describe('scatter-add at full vocabulary scale', () => {
  beforeAll(gpu);

  it('embedding backward with the CLIP vocabulary (49408 rows, 10^5 ids): in-order float32 sums', async () => {
    const [V, D, N] = [49408, 4, 100_000];
    const r = rng(50);
    // a padding id that repeats a lot, the rest spread over the vocabulary
    const idsData = Int32Array.from({ length: N }, () => (r() < 0.3 ? 49407 : Math.floor(r() * V)));
    const g = spreadValues(N * D, 51);
    const weight = gpuTensor(new Float64Array(V * D), [V, D]);
    const ids = tensor(idsData, [N], 'i32');
    const dw = await gradOf(weight, (w) => embedding(w, ids), g);
    expectSameBits(await bits(dw), f32Bits(refIndexAdd(null, [V, D], 0, idsData, g, true)), 'dw');
    [weight, ids, dw].forEach((t) => t.dispose());
  });

  it('gather backward into 24 × 49408 logits: short index lines (direct) and long ones (three-level prefix sum over 1.2M buckets)', async () => {
    const shape = [24, 49408];
    const x = gpuTensor(new Float64Array(sizeOf(shape)), shape);
    for (const ishape of [
      [24, 2],
      [24, 40],
    ]) {
      const idx = randInts(sizeOf(ishape), 52, 0, shape[1]);
      idx[1] = idx[0]; // a repeat within a row
      const g = spreadValues(sizeOf(ishape), 53);
      const index = tensor(idx, ishape, 'i32');
      const dx = await gradOf(x, (t) => gather(t, 1, index), g);
      expectSameBits(await bits(dx), f32Bits(refGatherBackward(g, shape, 1, idx, ishape, true)), `dx for index ${JSON.stringify(ishape)}`);
      [index, dx].forEach((t) => t.dispose());
    }
    x.dispose();
  });
});

describe('indexSelect', () => {
  beforeAll(gpu);

  it('every axis, duplicates, empty index, awkward shapes, i32 input', async () => {
    const cases: Array<[number[], number, number[]]> = [
      [[7], 0, [6, 0, 6, 2]],
      [[5, 3], 0, [4, 4, 0, 1, 4]],
      [[3, 5, 2], 1, [0, 4, 4, 9, -2, 3]], // 9 and -2: out of range -> 0
      [[2, 3, 4, 257], 3, [256, 0, 128, 256]],
      [[2, 1, 4], 1, [0, 0, 0]],
      [[4, 3], 1, []],
    ];
    let seed = 1;
    for (const [shape, axis, idx] of cases) {
      const data = randArray(shape, seed++);
      const x = gpuTensor(data, shape);
      const index = tensor(idx, [idx.length], 'i32');
      const y = indexSelect(x, axis, index);
      const outShape = [...shape];
      outShape[axis] = idx.length;
      expect(y.shape).toEqual(outShape);
      expect(Array.from(await y.data()), `indexSelect ${JSON.stringify([shape, axis, idx])}`).toEqual(Array.from(refIndexSelect(data, shape, axis, idx)));
      [x, index, y].forEach((t) => t.dispose());
    }
    const xi = tensor([-2147483648, 7, 2147483647], [3], 'i32');
    const index = tensor([2, 0, 2], [3], 'i32');
    const yi = indexSelect(xi, 0, index);
    expect(Array.from(await yi.data())).toEqual([2147483647, -2147483648, 2147483647]);
    [xi, index, yi].forEach((t) => t.dispose());
  });

  it('backward vs finite differences (duplicates along a middle axis)', async () => {
    const idx = [3, 0, 3, 3, 1];
    const index = tensor(idx, [5], 'i32');
    await checkGradients({
      inputs: [{ data: randArray([2, 4, 3], 6), shape: [2, 4, 3] }],
      gpuFn: (x) => indexSelect(x, 1, index),
      refFn: (x) => refIndexSelect(x, [2, 4, 3], 1, idx),
    });
    index.dispose();
  });

  it('relative-position-bias size: 169 × 6 table read by 2401 indices, forward and backward', async () => {
    const [rows, heads, n] = [169, 6, 2401];
    // the Swin pattern: (Δy + 6)·13 + (Δx + 6) for every pair of 7×7 window positions
    const idx = new Int32Array(n);
    for (let a = 0; a < 49; a++) {
      for (let b = 0; b < 49; b++) idx[a * 49 + b] = (Math.floor(a / 7) - Math.floor(b / 7) + 6) * 13 + ((a % 7) - (b % 7) + 6);
    }
    const table = randArray([rows, heads], 7);
    const x = gpuTensor(table, [rows, heads]);
    const index = tensor(idx, [n], 'i32');
    const y = indexSelect(x, 0, index);
    expect(Array.from(await y.data())).toEqual(Array.from(refIndexSelect(table, [rows, heads], 0, idx)));
    y.dispose();
    const g = spreadValues(n * heads, 8);
    const dx = await gradOf(x, (t) => indexSelect(t, 0, index), g);
    expectSameBits(await bits(dx), f32Bits(refIndexAdd(null, [rows, heads], 0, idx, g, true)), 'dx');
    [x, index, dx].forEach((t) => t.dispose());
  });
});

describe('scatterAdd (index_add)', () => {
  beforeAll(gpu);

  it('forward on every axis with duplicates and out-of-range entries, in source order', async () => {
    const cases: Array<[number[], number, number[]]> = [
      [[6], 0, [5, 0, 5, 5, 2, 7, -1]],
      [[4, 3], 0, [1, 1, 3, 0, 1]],
      [[3, 5, 2], 1, [4, 4, 4, 0]],
      [[2, 3, 300], 2, [299, 0, 299, 17]],
      [[3, 4], 1, []],
    ];
    let seed = 10;
    for (const [shape, axis, idx] of cases) {
      const srcShape = [...shape];
      srcShape[axis] = idx.length;
      const xd = randArray(shape, seed++);
      const sd = spreadValues(sizeOf(srcShape), seed++);
      const x = gpuTensor(xd, shape);
      const src = gpuTensor(sd, srcShape);
      const index = tensor(idx, [idx.length], 'i32');
      const y = scatterAdd(x, axis, index, src);
      expect(y.shape).toEqual(shape);
      expectSameBits(await bits(y), f32Bits(refIndexAdd(xd, shape, axis, idx, sd, true)), `scatterAdd ${JSON.stringify([shape, axis, idx])}`);
      [x, src, index, y].forEach((t) => t.dispose());
    }
  });

  it('backward vs finite differences for x and src', async () => {
    const idx = [2, 0, 2, 1, 2];
    const index = tensor(idx, [5], 'i32');
    await checkGradients({
      inputs: [
        { data: randArray([2, 3, 4], 1), shape: [2, 3, 4] },
        { data: randArray([2, 5, 4], 2), shape: [2, 5, 4] },
      ],
      gpuFn: (x, s) => scatterAdd(x, 1, index, s),
      refFn: (x, s) => refIndexAdd(x, [2, 3, 4], 1, idx, s),
    });
    index.dispose();
  });

  it('is deterministic: two runs on heavy collisions are bitwise equal, and equal to the in-order float32 sum', async () => {
    const [rows, D, N] = [3, 64, 20000];
    const idx = heavyIds(N, 21, rows, 1);
    const sd = spreadValues(N * D, 22);
    const xd = randArray([rows, D], 23);
    const x = gpuTensor(xd, [rows, D]);
    const src = gpuTensor(sd, [N, D]);
    const index = tensor(idx, [N], 'i32');
    const a = scatterAdd(x, 0, index, src);
    const b = scatterAdd(x, 0, index, src);
    const ba = await bits(a);
    expectSameBits(await bits(b), ba, 'second run');
    const inOrder = f32Bits(refIndexAdd(xd, [rows, D], 0, idx, sd, true));
    expectSameBits(ba, inOrder, 'first run vs in-order float32 sums');
    // the check has teeth: summing the same values in reverse order changes some bits
    const reversed = f32Bits(refIndexAdd(xd, [rows, D], 0, Int32Array.from(idx).reverse(), reverseRows(sd, N, D), true));
    expect(Array.from(reversed)).not.toEqual(Array.from(inOrder));
    [x, src, index, a, b].forEach((t) => t.dispose());
  });

  it('errors name the op and the shapes', () => {
    const x = gpuTensor(randArray([3, 4], 1), [3, 4]);
    const src = gpuTensor(randArray([2, 4], 2), [2, 4]);
    const idx = tensor([0, 2], [2], 'i32');
    const fidx = gpuTensor([0, 2], [2]);
    expect(() => scatterAdd(x, 0, fidx, src)).toThrow(/scatterAdd: index must be i32, got tensor \[2\] f32/);
    expect(() => scatterAdd(x, 1, idx, src)).toThrow(/scatterAdd: src \[2, 4\] must be \[3, 2\] \(input \[3, 4\], index \[2\], axis 1\)/);
    expect(() => scatterAdd(x, 2, idx, src)).toThrow(/scatterAdd: axis 2 is out of range for a tensor of rank 2/);
    [x, src, idx, fidx].forEach((t) => t.dispose());
  });
});

function reverseRows(v: Float64Array, n: number, d: number): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < n; i++) out.set(v.subarray(i * d, (i + 1) * d), (n - 1 - i) * d);
  return out;
}

describe('gather', () => {
  beforeAll(gpu);

  it('ranks 1–4, every axis, index smaller than the input, repeats, out-of-range entries', async () => {
    const cases: Array<[number[], number, number[]]> = [
      [[9], 0, [4]],
      [[5, 10], 1, [5, 1]], // picking class logits
      [[4, 3], 0, [7, 2]],
      [[3, 4, 5], 1, [2, 6, 5]],
      [[3, 4, 5], 2, [3, 1, 9]],
      [[2, 3, 1, 4], 3, [2, 2, 1, 3]],
      [[3, 0, 2], 0, [2, 0, 2]],
    ];
    let seed = 30;
    for (const [shape, axis, ishape] of cases) {
      const data = randArray(shape, seed++);
      const idx = randInts(sizeOf(ishape), seed++, -1, shape[axis] + 1); // includes -1 and shape[axis]
      const x = gpuTensor(data, shape);
      const index = tensor(idx, ishape, 'i32');
      const y = gather(x, axis, index);
      expect(y.shape).toEqual(ishape);
      expect(Array.from(await y.data()), `gather ${JSON.stringify([shape, axis, ishape])}`).toEqual(Array.from(refGather(data, shape, axis, idx, ishape)));
      [x, index, y].forEach((t) => t.dispose());
    }
  });

  it('backward vs finite differences (short index lines, long ones, out-of-range entries, index smaller than x)', async () => {
    const cases: Array<[number[], number, number[]]> = [
      [[3, 4, 2], 1, [3, 6, 2]],
      [[3, 4, 2], 1, [2, 20, 1]], // longer than the direct path takes: sorted scatter-add
      [[4, 5], 0, [3, 4]],
      [[5], 0, [7]],
    ];
    let seed = 40;
    for (const [shape, axis, ishape] of cases) {
      const idx = randInts(sizeOf(ishape), seed++, -1, shape[axis] + 1);
      const index = tensor(idx, ishape, 'i32');
      await checkGradients({
        inputs: [{ data: randArray(shape, seed++), shape }],
        gpuFn: (x) => gather(x, axis, index),
        refFn: (x) => refGather(x, shape, axis, idx, ishape),
      });
      index.dispose();
    }
  });

  it('backward is deterministic and sums in source order (heavy collisions)', async () => {
    const shape = [4, 6];
    const ishape = [4, 3000];
    const idx = heavyIds(sizeOf(ishape), 42, 6, 2);
    const g = spreadValues(sizeOf(ishape), 43);
    const x = gpuTensor(randArray(shape, 44), shape);
    const index = tensor(idx, ishape, 'i32');
    const a = await gradOf(x, (t) => gather(t, 1, index), g);
    const b = await gradOf(x, (t) => gather(t, 1, index), g);
    const ba = await bits(a);
    expectSameBits(await bits(b), ba, 'second run');
    expectSameBits(ba, f32Bits(refGatherBackward(g, shape, 1, idx, ishape, true)), 'dx');
    [x, index, a, b].forEach((t) => t.dispose());
  });

  it('errors name the op and the shapes', () => {
    const x = gpuTensor(randArray([3, 4], 1), [3, 4]);
    const i1 = tensor([0, 1, 2], [3], 'i32');
    const i2 = tensor([0, 1, 2, 3, 0, 1, 2, 3], [4, 2], 'i32');
    const f = gpuTensor([0, 1], [2, 1]);
    expect(() => gather(x, 1, i1)).toThrow(/gather: index \[3\] must have the rank of the input \[3, 4\]/);
    expect(() => gather(x, 1, i2)).toThrow(/gather: index \[4, 2\] must have the rank of the input \[3, 4\] and no larger size on axes other than 1/);
    expect(() => gather(x, 1, f)).toThrow(/gather: index must be i32, got tensor \[2, 1\] f32/);
    expect(() => indexSelect(x, 0, i2)).toThrow(/indexSelect: index must be 1-D, got tensor \[4, 2\] i32 \(input tensor \[3, 4\] f32\)/);
    expect(() => indexSelect(x, 0, f)).toThrow(/indexSelect: index must be i32, got tensor \[2, 1\] f32/);
    expect(() => embedding(x, f)).toThrow(/embedding: ids must be i32, got tensor \[2, 1\] f32/);
    expect(() => embedding(gpuTensor([1, 2], [2]), i1)).toThrow(/embedding: weight must be \[V, D\], got tensor \[2\] f32 \(ids \[3\]\)/);
    [x, i1, i2, f].forEach((t) => t.dispose());
  });
});

describe('indexing memory', () => {
  beforeAll(gpu);

  it('forward + backward in a loop leaves no buffers behind', async () => {
    const w = gpuTensor(randArray([50, 8], 1), [50, 8], true);
    const ids = tensor(randInts(40, 2, 0, 50), [5, 8], 'i32');
    const cls = tensor(randInts(5, 3, 0, 8), [5, 1], 'i32');
    const step = () => {
      const y = tidy(() => {
        const e = embedding(w, ids); // [5, 8, 8]
        const picked = gather(e, 2, tensor(randInts(40, 4, 0, 8), [5, 8, 1], 'i32'));
        return gather(scatterAdd(picked, 0, tensor([4, 4, 0], [3], 'i32'), indexSelect(picked, 0, tensor([1, 2, 3], [3], 'i32'))), 1, cls.view([5, 1, 1]));
      });
      const g = gpuTensor([1, 2, 3, 4, 5], [5, 1, 1]);
      backward(y, { grad: g });
      [y, g].forEach((t) => t.dispose());
      w.grad?.dispose();
      w.grad = null;
    };
    step();
    await ctx.sync();
    const live = ctx.stats().liveBuffers;
    for (let i = 0; i < 3; i++) step();
    await ctx.sync();
    expect(ctx.stats().liveBuffers).toBe(live);
    [w, ids, cls].forEach((t) => t.dispose());
  });
});
