import { describe, it, expect, beforeAll, vi } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { checkGradients, gpuTensor, randArray, rng, sizeOf } from './helpers/ref.js';
import { permute, transpose, slice, narrow, concat, split, chunk, pad, tensor, tidy, backward, mul, sum, type Tensor, type GpuContext } from '../src/node.js';
// the float64 references are shared with `lrdif selftest`
import { refPermute, refSlice, refConcat, refPad } from '../src/selftest/reference/layout.js';

// ---------------------------------------------------------------- float64 references

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1)) {
    for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  }
  return out;
}

function shuffle(n: number, seed: number): number[] {
  const r = rng(seed);
  const a = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Integers covering the whole i32 range, to check that copies move bits, not values. */
function randInts(n: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * 4294967296) - 2147483648);
}

async function expectPermute(shape: number[], perm: number[], seed: number): Promise<void> {
  const data = randArray(shape, seed);
  const x = gpuTensor(data, shape);
  const y = permute(x, perm);
  expect(y.shape).toEqual(perm.map((p) => shape[p]));
  expect(Array.from(await y.data()), `permute ${JSON.stringify(shape)} by ${JSON.stringify(perm)}`).toEqual(Array.from(refPermute(data, shape, perm)));
  x.dispose();
  y.dispose();
}

let ctx: GpuContext;

describe('permute / transpose', () => {
  beforeAll(async () => {
    ctx = await gpu();
  });

  it('every permutation of ranks 1–4, with size-1 axes', async () => {
    let seed = 1;
    for (const shape of [[7], [3, 5], [1, 4], [2, 1, 5], [3, 4, 5], [3, 1, 5, 2], [2, 3, 4, 5]]) {
      for (const perm of permutations(shape.length)) await expectPermute(shape, perm, seed++);
    }
  });

  it('random permutations of ranks 5 and 6, and negative axes', async () => {
    for (let s = 0; s < 6; s++) await expectPermute([2, 3, 1, 4, 3], shuffle(5, 10 + s), 20 + s);
    for (let s = 0; s < 6; s++) await expectPermute([2, 1, 3, 2, 3, 2], shuffle(6, 30 + s), 40 + s);
    const data = randArray([2, 3, 4], 5);
    const x = gpuTensor(data, [2, 3, 4]);
    const y = permute(x, [-1, 0, -2]);
    expect(Array.from(await y.data())).toEqual(Array.from(refPermute(data, [2, 3, 4], [2, 0, 1])));
    x.dispose();
    y.dispose();
  });

  for (const tiled of [true, false]) {
    it(`transposes with the ${tiled ? 'tiled' : 'strided'} kernel: sizes off the 32 tile, batches, merged axes`, async () => {
      const restore = ctx.setTuning({ permute: { tiled } });
      const spy = vi.spyOn(ctx, 'dispatch');
      try {
        await expectPermute([70, 33], [1, 0], 1);
        await expectPermute([3, 37, 45], [0, 2, 1], 2);
        await expectPermute([2, 3, 40, 50], [2, 3, 0, 1], 3); // [6, 2000] transposed (6 is under the tile's minimum)
        await expectPermute([2, 1, 65, 17], [1, 0, 3, 2], 4); // size-1 axes dropped first
        await expectPermute([17, 16], [1, 0], 5);
        await expectPermute([4, 300, 5], [0, 2, 1], 6); // thin: strided path
        await expectPermute([3, 20, 7, 18], [0, 2, 1, 3], 7); // attention head swap: strided path
        const kernels = spy.mock.calls.map(([req]) => ('label' in req ? req.label : `${req.shader}:${req.entry ?? 'main'}`));
        // four of them fit the tile; [6, 2000], the thin one and the head swap take the strided kernel anyway
        expect(kernels.filter((k) => k.startsWith('permute:tiled'))).toHaveLength(tiled ? 4 : 0);
        expect(kernels.filter((k) => k.startsWith('slice:strided'))).toHaveLength(tiled ? 3 : 7);
      } finally {
        spy.mockRestore();
        restore();
      }
    });
  }

  it('empty axes', async () => {
    await expectPermute([0, 3, 4], [2, 0, 1], 1);
    await expectPermute([3, 0], [1, 0], 2);
    await expectPermute([40, 0, 40], [2, 1, 0], 3);
  });

  it('moves i32 bits unchanged', async () => {
    const shape = [3, 33, 20];
    const data = randInts(sizeOf(shape), 7);
    for (const perm of [
      [0, 2, 1],
      [2, 0, 1],
      [1, 0, 2],
    ]) {
      const x = tensor(data, shape, 'i32');
      const y = permute(x, perm);
      expect(y.dtype).toBe('i32');
      expect(Array.from(await y.data())).toEqual(Array.from(refPermute(data, shape, perm)));
      x.dispose();
      y.dispose();
    }
  });

  it('transpose swaps the last two axes by default, or the given ones', async () => {
    const data = randArray([2, 3, 4], 8);
    const x = gpuTensor(data, [2, 3, 4]);
    const a = transpose(x);
    const b = transpose(x, 0, -1);
    expect(a.shape).toEqual([2, 4, 3]);
    expect(Array.from(await a.data())).toEqual(Array.from(refPermute(data, [2, 3, 4], [0, 2, 1])));
    expect(b.shape).toEqual([4, 3, 2]);
    expect(Array.from(await b.data())).toEqual(Array.from(refPermute(data, [2, 3, 4], [2, 1, 0])));
    [x, a, b].forEach((t) => t.dispose());
  });

  it('backward is the inverse permutation (finite differences)', async () => {
    await checkGradients({
      inputs: [{ data: randArray([2, 3, 4], 1), shape: [2, 3, 4] }],
      gpuFn: (x) => permute(x, [2, 0, 1]),
      refFn: (x) => refPermute(x, [2, 3, 4], [2, 0, 1]),
    });
    await checkGradients({
      inputs: [{ data: randArray([2, 17, 19], 2), shape: [2, 17, 19] }],
      gpuFn: (x) => transpose(x),
      refFn: (x) => refPermute(x, [2, 17, 19], [0, 2, 1]),
    });
  });

  it('errors name the op and the shape', () => {
    const x = gpuTensor(randArray([2, 3, 4], 1), [2, 3, 4]);
    expect(() => permute(x, [0, 0, 1])).toThrow(/permute: \[0, 0, 1\] is not a permutation .*\[2, 3, 4\]/);
    expect(() => permute(x, [0, 1])).toThrow(/permute: .*\[2, 3, 4\]/);
    expect(() => permute(x, [0, 1, 3])).toThrow(/permute: .*\[2, 3, 4\]/);
    expect(() => transpose(x, 0, 5)).toThrow(/transpose: axis 5 is out of range/);
    x.dispose();
  });
});

describe('slice / narrow', () => {
  beforeAll(gpu);

  it('matches the reference on ranks 1–5 (negative begins, size -1, empty results)', async () => {
    const cases: Array<[number[], number[], number[]]> = [
      [[10], [3], [5]],
      [[10], [-4], [-1]],
      [[10], [10], [0]],
      [
        [5, 7],
        [1, -3],
        [3, 2],
      ], // two axes: strided kernel
      [
        [5, 7],
        [0, 2],
        [-1, 4],
      ], // one axis: row-copy kernel
      [
        [5, 7],
        [0, 0],
        [5, 7],
      ], // whole tensor
      [
        [3, 1, 6, 5],
        [1, 0, -5, 2],
        [2, 1, 3, -1],
      ],
      [
        [3, 0, 4],
        [1, 0, 1],
        [1, 0, 2],
      ],
      [
        [2, 3, 2, 3, 4],
        [1, -2, 0, 1, 1],
        [1, 2, -1, 2, 3],
      ],
      [
        [2, 300],
        [0, 37],
        [-1, 259],
      ],
    ];
    let seed = 1;
    for (const [shape, begin, size] of cases) {
      const data = randArray(shape, seed++);
      const x = gpuTensor(data, shape);
      const y = slice(x, begin, size);
      const b = begin.map((v, i) => (v < 0 ? v + shape[i] : v));
      const s = size.map((v, i) => (v === -1 ? shape[i] - b[i] : v));
      expect(y.shape).toEqual(s);
      expect(Array.from(await y.data()), `slice ${JSON.stringify([shape, begin, size])}`).toEqual(Array.from(refSlice(data, shape, b, s)));
      x.dispose();
      y.dispose();
    }
  });

  it('windows of 16.8M and 17.2M elements: every index right through both division paths (f32 reciprocals below 2^24 outputs, integers above)', async () => {
    const [R, C] = [4200, 4100];
    const ids = new Int32Array(R * C);
    for (let i = 0; i < ids.length; i++) ids[i] = i;
    const x = tensor(ids, [R, C], 'i32');
    for (const [begin, size] of [
      [
        [1, 2],
        [4093, 4097],
      ],
      [
        [1, 1],
        [4199, 4099],
      ],
    ]) {
      const y = slice(x, begin, size);
      expect(y.size < 2 ** 24).toBe(size[0] === 4093);
      const got = (await y.data()) as Int32Array;
      let bad = -1;
      for (let r = 0, i = 0; r < size[0] && bad < 0; r++) {
        for (let c = 0; c < size[1]; c++, i++) {
          if (got[i] !== (begin[0] + r) * C + begin[1] + c) {
            bad = i;
            break;
          }
        }
      }
      expect(bad, `slice ${JSON.stringify([begin, size])}: first wrong output`).toBe(-1);
      y.dispose();
    }
    x.dispose();
  });

  it('narrow along every axis, negative start', async () => {
    const shape = [3, 4, 5];
    const data = randArray(shape, 3);
    const x = gpuTensor(data, shape);
    for (let axis = 0; axis < 3; axis++) {
      const y = narrow(x, axis, -2, 2);
      const begin = [0, 0, 0];
      begin[axis] = shape[axis] - 2;
      const size = [...shape];
      size[axis] = 2;
      expect(Array.from(await y.data())).toEqual(Array.from(refSlice(data, shape, begin, size)));
      y.dispose();
    }
    x.dispose();
  });

  it('backward scatters into zeros (finite differences)', async () => {
    await checkGradients({
      inputs: [{ data: randArray([3, 4, 5], 1), shape: [3, 4, 5] }],
      gpuFn: (x) => slice(x, [1, -3, 0], [2, 2, -1]),
      refFn: (x) => refSlice(x, [3, 4, 5], [1, 1, 0], [2, 2, 5]),
    });
    await checkGradients({
      inputs: [{ data: randArray([4, 6], 2), shape: [4, 6] }],
      gpuFn: (x) => narrow(x, 1, 1, 3),
      refFn: (x) => refSlice(x, [4, 6], [0, 1], [4, 3]),
    });
  });

  it('errors name the op and the shape', () => {
    const x = gpuTensor(randArray([3, 4], 1), [3, 4]);
    expect(() => slice(x, [0, 2], [3, 3])).toThrow(/slice: axis 1 \(size 4\) is out of range: .*\[3, 4\]/);
    expect(() => slice(x, [-5, 0], [1, 1])).toThrow(/slice: axis 0 .*\[3, 4\]/);
    expect(() => slice(x, [0], [1])).toThrow(/slice: begin and size need one entry per axis.*\[3, 4\]/);
    expect(() => narrow(x, 0, 2, 2)).toThrow(/narrow: start 2, length 2 is out of range .*\[3, 4\]/);
    x.dispose();
  });
});

describe('concat / split / chunk', () => {
  beforeAll(gpu);

  it('concat matches the reference, with zero-size parts and negative axes', async () => {
    const cases: Array<[number[][], number]> = [
      [[[3], [0], [5]], 0],
      [
        [
          [2, 3],
          [2, 1],
          [2, 0],
          [2, 4],
        ],
        1,
      ],
      [
        [
          [2, 3, 4],
          [1, 3, 4],
        ],
        0,
      ],
      [
        [
          [2, 3, 4],
          [2, 3, 1],
          [2, 3, 7],
        ],
        -1,
      ],
      [
        [
          [1, 2, 0, 3],
          [1, 2, 5, 3],
        ],
        2,
      ],
      [
        [
          [2, 1, 3, 2, 1, 2],
          [2, 4, 3, 2, 1, 2],
        ],
        1,
      ],
    ];
    let seed = 1;
    for (const [shapes, axis] of cases) {
      const parts = shapes.map((s) => ({ data: randArray(s, seed++), shape: s }));
      const xs = parts.map((p) => gpuTensor(p.data, p.shape));
      const y = concat(xs, axis);
      const a = axis < 0 ? axis + shapes[0].length : axis;
      expect(Array.from(await y.data()), `concat ${JSON.stringify(shapes)} axis ${axis}`).toEqual(Array.from(refConcat(parts, a)));
      [...xs, y].forEach((t) => t.dispose());
    }
  });

  it('blocks of whole quads of words take the vec4 copy, others the scalar one (concat, narrow, split)', async () => {
    const ctx = await gpu();
    const spy = vi.spyOn(ctx, 'dispatch');
    try {
      const copies = () => spy.mock.calls.map(([req]) => ('label' in req ? req.label : `${req.shader}:${req.entry}`)).filter((e) => e.startsWith('slice:copy2d'));
      // concat along axis 1 of [2, 8, 3] and [2, 4, 3]: rows of 24 and 12 words, stride 36: quads
      const parts = [
        { data: randArray([2, 8, 3], 31), shape: [2, 8, 3] },
        { data: randArray([2, 4, 3], 32), shape: [2, 4, 3] },
      ];
      const xs = parts.map((q) => gpuTensor(q.data, q.shape));
      const y = concat(xs, 1);
      expect(Array.from(await y.data())).toEqual(Array.from(refConcat(parts, 1)));
      expect(copies()).toEqual(['slice:copy2d4', 'slice:copy2d4']);
      // narrow [4, 16] at column 4 (quads) and at column 1 (not)
      spy.mockClear();
      const data = randArray([4, 16], 33);
      const x = gpuTensor(data, [4, 16]);
      for (const start of [4, 1]) {
        const n = narrow(x, 1, start, 8);
        expect(Array.from(await n.data()), `narrow at ${start}`).toEqual(Array.from(refSlice(data, [4, 16], [0, start], [4, 8])));
        n.dispose();
      }
      // split [4, 16] into 8 + 5 + 3 columns: the first part is quads, the others are not
      const ps = split(x, [8, 5, 3], 1);
      let at = 0;
      for (const [i, w] of [8, 5, 3].entries()) {
        expect(Array.from(await ps[i].data()), `split part ${i}`).toEqual(Array.from(refSlice(data, [4, 16], [0, at], [4, w])));
        at += w;
      }
      expect(copies()).toEqual(['slice:copy2d4', 'slice:copy2d', 'slice:copy2d4', 'slice:copy2d', 'slice:copy2d']);
      [...xs, y, x, ...ps].forEach((t) => t.dispose());
    } finally {
      spy.mockRestore();
    }
  });

  it("one contiguous block (narrow or concat where every axis before it is 1, zero padding around one) is a buffer command, with the kernels' values", async () => {
    const ctx = await gpu();
    const spy = vi.spyOn(ctx, 'dispatch');
    try {
      const dispatched = () => spy.mock.calls.map(([req]) => ('label' in req ? req.label : `${req.shader}:${req.entry ?? 'main'}`));
      for (const copyCommands of [true, false]) {
        await ctx.withTuning({ layout: { copyCommands } }, async () => {
          spy.mockClear();
          const data = randArray([6, 5], 41);
          const x = gpuTensor(data, [6, 5]);
          // narrow along axis 0, and along axis 1 of [1, 6, 5] (the axis before it is 1)
          const n0 = narrow(x, 0, 2, 3);
          const x3 = gpuTensor(data, [1, 6, 5]);
          const n1 = narrow(x3, 1, 1, 4);
          // concat along axis 0; zero padding on axis 1 of [1, 4, 5]; a fill value that is not 0 takes the kernel either way
          const c = concat([n0, x], 0);
          const pads: Array<[number, number]> = [
            [0, 0],
            [2, 1],
            [0, 0],
          ];
          const padded = [0, 1.5].map((value) => ({ value, y: pad(n1, pads, 'constant', value) }));
          const n0d = refSlice(data, [6, 5], [2, 0], [3, 5]);
          const n1d = refSlice(data, [1, 6, 5], [0, 1, 0], [1, 4, 5]);
          expect(Array.from(await n0.data())).toEqual(Array.from(n0d));
          expect(Array.from(await n1.data())).toEqual(Array.from(n1d));
          const joined = refConcat(
            [
              { data: n0d, shape: [3, 5] },
              { data, shape: [6, 5] },
            ],
            0,
          );
          expect(Array.from(await c.data())).toEqual(Array.from(joined));
          for (const { value, y } of padded) expect(Array.from(await y.data()), `fill ${value}`).toEqual(Array.from(refPad(n1d, [1, 4, 5], pads, 'constant', value)));
          // i32 bits through a buffer copy
          const ints = randInts(12, 42);
          const xi = tensor(ints, [4, 3], 'i32');
          const ni = narrow(xi, 0, 1, 2);
          expect(Array.from(await ni.data())).toEqual(Array.from(ints.slice(3, 9)));
          const kernels = dispatched();
          // buffer commands: only the padding with 1.5 dispatches; kernels: 5 copies and 2 paddings
          if (copyCommands) expect(kernels).toEqual(['pad:main']);
          else expect([kernels.filter((k) => k.startsWith('slice:')).length, kernels.filter((k) => k.startsWith('pad:')).length]).toEqual([5, 2]);
          [x, n0, x3, n1, c, ...padded.map((e) => e.y), xi, ni].forEach((t) => t.dispose());
        });
      }
    } finally {
      spy.mockRestore();
    }
    // the gradient of a narrow along axis 0 is the block in zeros (a buffer command by default)
    await checkGradients({
      inputs: [{ data: randArray([5, 4], 43), shape: [5, 4] }],
      gpuFn: (x) => narrow(x, 0, 1, 3),
      refFn: (x) => refSlice(x, [5, 4], [1, 0], [3, 4]),
    });
  });

  it('concat of i32 tensors keeps the bits', async () => {
    const a = randInts(6, 1);
    const b = randInts(4, 2);
    const xs = [tensor(a, [3, 2], 'i32'), tensor(b, [2, 2], 'i32')];
    const y = concat(xs);
    expect(y.dtype).toBe('i32');
    expect(Array.from(await y.data())).toEqual([...a, ...b]);
    [...xs, y].forEach((t) => t.dispose());
  });

  it('split with uneven sizes and by count; chunk like torch.chunk', async () => {
    const shape = [3, 7, 2];
    const data = randArray(shape, 4);
    const x = gpuTensor(data, shape);
    const check = async (parts: Tensor[], sizes: number[], axis: number) => {
      expect(parts.map((p) => p.shape[axis])).toEqual(sizes);
      let off = 0;
      for (let i = 0; i < parts.length; i++) {
        const begin = [0, 0, 0];
        begin[axis] = off;
        const size = [...shape];
        size[axis] = sizes[i];
        expect(Array.from(await parts[i].data())).toEqual(Array.from(refSlice(data, shape, begin, size)));
        off += sizes[i];
        parts[i].dispose();
      }
    };
    await check(split(x, [2, 0, 4, 1], 1), [2, 0, 4, 1], 1);
    await check(split(x, 3, 0), [1, 1, 1], 0);
    await check(split(x, [2, 5], -2), [2, 5], 1);
    await check(chunk(x, 3, 1), [3, 3, 1], 1);
    await check(chunk(x, 4, 1), [2, 2, 2, 1], 1);
    await check(chunk(x, 5, 2), [1, 1], 2); // torch.chunk returns fewer parts here
    x.dispose();
    const e = gpuTensor([], [0, 2]);
    const parts = chunk(e, 3);
    expect(parts.map((p) => p.shape)).toEqual([
      [0, 2],
      [0, 2],
      [0, 2],
    ]);
    parts.forEach((p) => p.dispose());
    e.dispose();
  });

  it('concat backward gives each part its slice; split parts without gradient contribute zeros', async () => {
    const sa = [2, 3];
    const sb = [2, 2];
    await checkGradients({
      inputs: [
        { data: randArray(sa, 1), shape: sa },
        { data: randArray(sb, 2), shape: sb, grad: false },
        { data: randArray([2, 4], 3), shape: [2, 4] },
      ],
      gpuFn: (a, b, c) => concat([a, b, c], 1),
      refFn: (a, b, c) =>
        refConcat(
          [
            { data: a, shape: sa },
            { data: b, shape: sb },
            { data: c, shape: [2, 4] },
          ],
          1,
        ),
    });
    // parts 1 and 3 are unused; 2 and 0 are concatenated in swapped order
    const shape = [3, 6, 2];
    await checkGradients({
      inputs: [{ data: randArray(shape, 4), shape }],
      gpuFn: (x) => {
        const p = split(x, [1, 2, 2, 1], 1);
        return concat([p[2], p[0]], 1);
      },
      refFn: (x) =>
        refConcat(
          [
            { data: refSlice(x, shape, [0, 3, 0], [3, 2, 2]), shape: [3, 2, 2] },
            { data: refSlice(x, shape, [0, 0, 0], [3, 1, 2]), shape: [3, 1, 2] },
          ],
          1,
        ),
    });
  });

  it('errors name the op and the shapes', () => {
    const a = gpuTensor(randArray([2, 3], 1), [2, 3]);
    const b = gpuTensor(randArray([2, 3, 1], 2), [2, 3, 1]);
    const c = gpuTensor(randArray([3, 3], 3), [3, 3]);
    const i = tensor([1, 2, 3, 4, 5, 6], [2, 3], 'i32');
    expect(() => concat([a, b])).toThrow(/concat: all tensors need the same rank, got shapes \[2, 3\], \[2, 3, 1\]/);
    expect(() => concat([a, c], 1)).toThrow(/concat: shapes \[2, 3\], \[3, 3\] differ outside axis 1/);
    expect(() => concat([a, i])).toThrow(/concat: all tensors need the same dtype.*\[2, 3\] f32.*\[2, 3\] i32/);
    expect(() => concat([])).toThrow(/concat: needs at least one tensor/);
    expect(() => split(a, [1, 1], 1)).toThrow(/split: sizes \[1, 1\] do not sum to axis 1 of tensor \[2, 3\] f32 \(size 3\)/);
    expect(() => split(a, 2, 1)).toThrow(/split: axis 1 of tensor \[2, 3\] f32 \(size 3\) does not split into 2 equal parts/);
    expect(() => chunk(a, 0)).toThrow(/chunk: count must be a positive integer.*\[2, 3\]/);
    [a, b, c, i].forEach((t) => t.dispose());
  });
});

describe('pad', () => {
  beforeAll(gpu);

  const cases: Array<[number[], Array<[number, number]>]> = [
    [[5], [[2, 3]]],
    [
      [4, 3],
      [
        [1, 2],
        [2, 1],
      ],
    ],
    [
      [2, 3, 4],
      [
        [3, 5],
        [0, 2],
      ],
    ], // trailing axes only; pads beyond the axis length
    [
      [2, 1, 3, 2, 3],
      [
        [1, 0],
        [0, 1],
        [2, 2],
        [4, 0],
      ],
    ],
    [
      [2, 300],
      [
        [0, 0],
        [7, 9],
      ],
    ],
  ];

  it('constant, reflect and replicate match the reference (pads larger than the axis too)', async () => {
    let seed = 1;
    for (const mode of ['constant', 'reflect', 'replicate'] as const) {
      for (const [shape, pads] of cases) {
        if (mode === 'reflect' && pads.some(([b, e], j) => b + e > 0 && shape[shape.length - pads.length + j] < 2)) continue;
        const data = randArray(shape, seed++);
        const x = gpuTensor(data, shape);
        const y = pad(x, pads, mode, 2.5);
        const want = refPad(data, shape, pads, mode, 2.5);
        expect(y.size).toBe(want.length);
        expect(Array.from(await y.data()), `pad ${mode} ${JSON.stringify([shape, pads])}`).toEqual(Array.from(want));
        x.dispose();
        y.dispose();
      }
    }
  });

  it('outputs of 16.75M and 16.79M elements: every value right through both division paths', async () => {
    for (const [R, C] of [
      [4090, 4090],
      [4090, 4100],
    ]) {
      const ids = new Int32Array(R * C);
      for (let i = 0; i < ids.length; i++) ids[i] = i;
      const x = tensor(ids, [R, C], 'i32');
      const y = pad(
        x,
        [
          [1, 2],
          [3, 0],
        ],
        'constant',
        -1,
      );
      const [OR, OC] = [R + 3, C + 3];
      expect(y.shape).toEqual([OR, OC]);
      expect(y.size < 2 ** 24).toBe(C === 4090);
      const got = (await y.data()) as Int32Array;
      let bad = -1;
      for (let r = 0, i = 0; r < OR && bad < 0; r++) {
        for (let c = 0; c < OC; c++, i++) {
          const want = r >= 1 && r < 1 + R && c >= 3 ? (r - 1) * C + (c - 3) : -1;
          if (got[i] !== want) {
            bad = i;
            break;
          }
        }
      }
      expect(bad, `pad [${R}, ${C}]: first wrong output`).toBe(-1);
      x.dispose();
      y.dispose();
    }
  });

  it('replicate on a size-1 axis, constant on an empty axis, i32 fill value', async () => {
    let x = gpuTensor([1.5, -2], [2, 1]);
    let y = pad(x, [[3, 2]], 'replicate');
    expect(Array.from(await y.data())).toEqual([1.5, 1.5, 1.5, 1.5, 1.5, 1.5, -2, -2, -2, -2, -2, -2]);
    x.dispose();
    y.dispose();
    x = gpuTensor([], [2, 0]);
    y = pad(
      x,
      [
        [1, 0],
        [1, 2],
      ],
      'constant',
      -1,
    );
    expect(y.shape).toEqual([3, 3]);
    expect(Array.from(await y.data())).toEqual(new Array(9).fill(-1));
    x.dispose();
    y.dispose();
    const xi = tensor([2147483647, -5], [2], 'i32');
    const yi = pad(xi, [[1, 1]], 'constant', -7);
    expect(Array.from(await yi.data())).toEqual([-7, 2147483647, -5, -7]);
    xi.dispose();
    yi.dispose();
  });

  it('backward of every mode (finite differences)', async () => {
    const shape = [2, 3, 4];
    const pads: Array<[number, number]> = [
      [2, 5],
      [3, 1],
    ];
    for (const mode of ['constant', 'reflect', 'replicate'] as const) {
      await checkGradients({
        inputs: [{ data: randArray(shape, 7), shape }],
        gpuFn: (x) => pad(x, pads, mode, 0.5),
        refFn: (x) => refPad(x, shape, pads, mode, 0.5),
      });
    }
    // a size-1 axis replicated on both sides; reflection of 2 elements far past the edges
    await checkGradients({
      inputs: [{ data: randArray([3, 1], 8), shape: [3, 1] }],
      gpuFn: (x) => pad(x, [[2, 3]], 'replicate'),
      refFn: (x) => refPad(x, [3, 1], [[2, 3]], 'replicate'),
    });
    await checkGradients({
      inputs: [{ data: randArray([2, 2], 9), shape: [2, 2] }],
      gpuFn: (x) =>
        pad(
          x,
          [
            [3, 0],
            [5, 4],
          ],
          'reflect',
        ),
      refFn: (x) =>
        refPad(
          x,
          [2, 2],
          [
            [3, 0],
            [5, 4],
          ],
          'reflect',
        ),
    });
  });

  it('errors name the op and the shape', () => {
    const x = gpuTensor(randArray([3, 1], 1), [3, 1]);
    expect(() => pad(x, [[1, 1]], 'reflect')).toThrow(/pad: reflect padding needs at least 2 elements on axis 1 .*\[3, 1\]/);
    expect(() =>
      pad(x, [
        [0, 0],
        [0, 0],
        [1, 1],
      ]),
    ).toThrow(/pad: more pad entries than axes: .*\[3, 1\]/);
    expect(() => pad(x, [[-1, 0]])).toThrow(/pad: pads must be non-negative integers: .*\[3, 1\]/);
    const e = gpuTensor([], [0, 2]);
    expect(() =>
      pad(
        e,
        [
          [1, 0],
          [0, 0],
        ],
        'replicate',
      ),
    ).toThrow(/pad: replicate padding of axis 0, which is empty: .*\[0, 2\]/);
    x.dispose();
    e.dispose();
  });
});

describe('layout memory', () => {
  beforeAll(gpu);

  it('forward + backward in a loop leaves no buffers behind', async () => {
    const x = gpuTensor(randArray([4, 5, 6], 1), [4, 5, 6], true);
    const w = gpuTensor(randArray([4, 2, 15], 2), [4, 2, 15]);
    const step = () => {
      const loss = tidy(() => {
        const p = split(permute(x, [0, 2, 1]), [2, 2, 2], 1);
        const y = concat([pad(p[0], [[1, 1]], 'reflect'), slice(p[2], [0, 0, 0], [4, 2, -1]), narrow(p[1], 2, 1, 3)], 2);
        return sum(mul(y, w));
      });
      backward(loss);
      loss.dispose();
      x.grad?.dispose();
      x.grad = null;
    };
    step();
    await ctx.sync();
    const live = ctx.stats().liveBuffers;
    for (let i = 0; i < 3; i++) step();
    await ctx.sync();
    expect(ctx.stats().liveBuffers).toBe(live);
    x.dispose();
    w.dispose();
  });
});
