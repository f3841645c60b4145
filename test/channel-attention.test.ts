import { describe, it, expect, beforeAll } from 'vitest';
import { gpu, usePath } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray, sizeOf } from './helpers/ref.js';
import { backward, tensor, tidy, engine, type Tensor, type TuningPatch } from '../src/node.js';
import { channelAttention, channelAttentionPacked, channelAttentionUnfused } from '../src/kernels/channel-attention.js';
// the float64 reference is shared with `lrdif selftest`
import { refChannelAttention, refChannelAttentionPacked } from '../src/selftest/reference/attention.js';

type Shape4 = [number, number, number, number];

interface Case {
  shape: Shape4;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  t: Float64Array;
}

function makeCase(shape: Shape4, seed: number): Case {
  return {
    shape,
    q: randArray(shape, seed, -1, 1),
    k: randArray(shape, seed + 1, -1, 1),
    v: randArray(shape, seed + 2, -1, 1),
    // temperatures of both signs and sizes (1 is Restormer's initial value)
    t: randArray([shape[1]], seed + 3, -3, 3),
  };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/**
 * Within 1e-4 relative; elements near zero are judged against the tensor's scale, at least 1
 * (inputs and upstream gradients are O(1): a gradient that is exactly 0, like dq for N = 1,
 * comes out as a cancellation of O(1) terms, with float32 rounding left over).
 */
function expectMatch(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expectClose(got, want, 1e-4, 1e-5 * Math.max(maxAbs(want), 1), what);
}

/** Output and the four gradients (for an upstream gradient w) of the fused or the unfused op. */
async function run(fn: typeof channelAttention, cs: Case, w: Float64Array, grads = true): Promise<Float32Array[]> {
  const ins = [cs.q, cs.k, cs.v].map((d) => gpuTensor(d, cs.shape, grads));
  const t = gpuTensor(cs.t, [cs.shape[1]], grads);
  const y = tidy(() => fn(ins[0], ins[1], ins[2], t));
  const res: Float32Array[] = [(await y.data()) as Float32Array];
  if (grads) {
    const g = gpuTensor(w, cs.shape);
    backward(y, { grad: g });
    g.dispose();
    for (const x of [...ins, t]) res.push((await x.grad!.data()) as Float32Array);
  }
  y.dispose();
  for (const x of [...ins, t]) {
    x.grad?.dispose();
    x.dispose();
  }
  return res;
}

const NAMES = ['output', 'dq', 'dk', 'dv', 'dtemperature'];

async function compareWithUnfused(cs: Case, label: string): Promise<void> {
  const w = randArray(cs.shape, 7, -1, 1);
  const fused = await run(channelAttention, cs, w);
  const unfused = await run(channelAttentionUnfused, cs, w);
  for (let i = 0; i < NAMES.length; i++) expectMatch(fused[i], unfused[i], `${label}: ${NAMES[i]} vs the unfused ops`);
  expectMatch(fused[0], refChannelAttention(cs.q, cs.k, cs.v, cs.t, cs.shape), `${label}: output vs float64`);
}

/**
 * Both sets of kernels are tested where the adapter has subgroups: the subgroup kernels (used
 * there) and the portable ones (used on adapters without). The one the adapter uses by default
 * gets the full sweep of sizes, the other a smaller one (each new size compiles new pipelines,
 * seconds each on a CPU adapter).
 */
const MODES: Array<{ label: string; path: 'subgroup' | 'portable' }> = [
  { label: 'subgroup kernels', path: 'subgroup' },
  { label: 'portable kernels', path: 'portable' },
];

const C_SIZES = [1, 3, 8, 17, 48];
const N_SIZES = [1, 7, 49, 50, 197, 196];

for (const mode of MODES) {
  describe(`channelAttention (${mode.label})`, () => {
    // the adapter's own path gets every size, the other one a sample
    const forced = usePath('channelAttention', mode.path);
    const tune = async (patch: TuningPatch['channelAttention'], fn: () => Promise<void>) => (await gpu()).withTuning({ channelAttention: patch }, fn);

    it('forward and every gradient equal the unfused ops and the float64 reference (c ∈ {1,3,8,17,48} × N ∈ {1,7,49,50,196,197}, heads 1–3, B 1–2)', async () => {
      let seed = 100;
      let i = 0;
      for (const c of forced.isDefault ? C_SIZES : [3, 17]) {
        for (const n of forced.isDefault ? N_SIZES : [7, 50, 196]) {
          // heads and batch cycle through 1–3 and 1–2
          const shape: Shape4 = [1 + (i % 2), 1 + (i % 3), c, n];
          i++;
          await compareWithUnfused(makeCase(shape, (seed += 10)), `shape [${shape.join(', ')}]`);
        }
      }
    });

    it('c = 128 (several tiles of rows and columns), c = 33 and 60 (partial tiles)', async () => {
      await compareWithUnfused(makeCase([1, 2, 128, 20], 501), 'c 128');
      await compareWithUnfused(makeCase([2, 1, 33, 64], 502), 'c 33');
      await compareWithUnfused(makeCase([1, 1, 60, 9], 503), 'c 60');
    });

    it('products split over several column chunks (partial sums added in order), last chunk short', async () => {
      for (const splits of [2, 3, 7]) {
        await tune({ splits }, async () => {
          await compareWithUnfused(makeCase([2, 2, 17, 50], 600 + splits), `${splits} chunks, N 50`);
          await compareWithUnfused(makeCase([1, 3, 8, 196], 610 + splits), `${splits} chunks, N 196`);
        });
      }
    });

    it('vec4 loads and stores where N % 4 == 0 (the GPU setting; CPU adapters load scalars)', async () => {
      await tune({ vec: true }, async () => {
        await compareWithUnfused(makeCase([2, 2, 17, 196], 650), 'N 196');
        await compareWithUnfused(makeCase([1, 3, 8, 64], 651), 'N 64');
        await compareWithUnfused(makeCase([1, 1, 48, 4], 652), 'N 4');
      });
      await tune({ vec: true, splits: 3 }, () => compareWithUnfused(makeCase([2, 1, 3, 52], 653), 'N 52 in 3 chunks'));
    });

    it(
      mode.path === 'subgroup' ? 'other tiles (8-row groups and columns per lane of gram and mix) change nothing' : 'the GPU geometry (64 lanes per workgroup) changes nothing',
      async () => {
        const patch = mode.path === 'subgroup' ? { gramRowGroups: 1, gramColumns: 2, mixRowGroups: 2, mixColumns: 2 } : { lanes: 64 };
        await tune(patch, () => compareWithUnfused(makeCase([2, 2, 17, 50], 660), `c 17, N 50, ${JSON.stringify(patch)}`));
      },
    );

    it('backward vs finite differences of the float64 reference', async () => {
      const cases: Shape4[] = [
        [2, 2, 3, 7],
        [1, 1, 8, 5],
        [1, 3, 2, 1],
        [2, 1, 1, 4],
      ];
      let seed = 700;
      for (const shape of cases) {
        const cs = makeCase(shape, (seed += 10));
        await checkGradients({
          inputs: [
            { data: cs.q, shape },
            { data: cs.k, shape },
            { data: cs.v, shape },
            { data: cs.t, shape: [shape[1]] },
          ],
          gpuFn: (q, k, v, t) => channelAttention(q, k, v, t),
          refFn: (q, k, v, t) => refChannelAttention(q, k, v, t, shape),
        });
      }
    });
  });
}

describe('channelAttention', () => {
  beforeAll(gpu);

  it('one larger forward case (c = 48, N = 3136, B = 1) equals the unfused ops', async () => {
    const shape: Shape4 = [1, 1, 48, 3136];
    const cs = makeCase(shape, 900);
    const w = new Float64Array(0);
    const fused = await run(channelAttention, cs, w, false);
    const unfused = await run(channelAttentionUnfused, cs, w, false);
    expectMatch(fused[0], unfused[0], 'c 48, N 3136');
  });

  it('packed qkv [B, 3, heads, c, N]: the attention of its three parts, one packed gradient (finite differences; subgroup and portable kernels, scalar and vec4)', async () => {
    const ctx = await gpu();
    const variants: TuningPatch[] = [{}, { channelAttention: { vec: true } }, { channelAttention: { path: 'portable' } }, { channelAttention: { path: 'portable', vec: true } }];
    for (const [patch, [B, heads, c, n]] of [
      [2, 2, 3, 5],
      [1, 1, 4, 8],
      [2, 2, 9, 12],
    ].flatMap((shape) => variants.map((v) => [v, shape] as const))) {
      const shape: Shape4 = [B, heads, c, n];
      await ctx.withTuning(patch, () =>
        checkGradients({
          inputs: [
            { data: randArray([B, 3, heads, c, n], 980 + n), shape: [B, 3, heads, c, n] },
            { data: Float64Array.from({ length: heads }, (_, h) => 0.7 + 0.3 * h), shape: [heads] },
          ],
          gpuFn: (qkv, t) => channelAttentionPacked(qkv, t),
          refFn: (qkv, t) => refChannelAttentionPacked(qkv, t, shape),
        }),
      );
    }
    const bad = gpuTensor(randArray([1, 2, 1, 2, 3], 990), [1, 2, 1, 2, 3]);
    const t = gpuTensor(new Float64Array([1]), [1]);
    expect(() => channelAttentionPacked(bad, t)).toThrow(/channelAttention: packed qkv must be \[B, 3, heads, c, N\], got .*\[1, 2, 1, 2, 3\]/);
    const good = gpuTensor(randArray([1, 3, 2, 2, 3], 991), [1, 3, 2, 2, 3]);
    expect(() => channelAttentionPacked(good, t)).toThrow(/channelAttention: temperature must be \[heads\] = \[2\].*qkv \[1, 3, 2, 2, 3\], temperature \[1\]/);
    for (const x of [bad, good, t]) x.dispose();
  });

  it('temperature may be [heads, 1, 1] (Restormer parameter); its gradient keeps that shape', async () => {
    const shape: Shape4 = [2, 2, 5, 9];
    const cs = makeCase(shape, 950);
    const w = randArray(shape, 951);
    const ins = [cs.q, cs.k, cs.v].map((d) => gpuTensor(d, shape, true));
    const t = gpuTensor(cs.t, [2, 1, 1], true);
    const y = tidy(() => channelAttention(ins[0], ins[1], ins[2], t));
    expectMatch(await y.data(), refChannelAttention(cs.q, cs.k, cs.v, cs.t, shape), 'output');
    const g = gpuTensor(w, shape);
    backward(y, { grad: g });
    expect(t.grad!.shape).toEqual([2, 1, 1]);
    const want = await run(channelAttentionUnfused, cs, w);
    expectMatch(await t.grad!.data(), want[4], 'dtemperature');
    for (const x of [...ins, t, y, g]) {
      x.grad?.dispose();
      x.dispose();
    }
  });

  it('rows with a norm below eps are divided by eps (F.normalize), forward and backward', async () => {
    // q row 1 of each problem is tiny (norm < 1e-12) and row 2 is exactly zero
    const shape: Shape4 = [1, 2, 4, 6];
    const cs = makeCase(shape, 960);
    const [, H, c, n] = shape;
    for (let h = 0; h < H; h++) {
      for (let x = 0; x < n; x++) {
        cs.q[(h * c + 1) * n + x] = Math.fround(cs.q[(h * c + 1) * n + x] * 1e-13);
        cs.q[(h * c + 2) * n + x] = 0;
      }
    }
    const w = randArray(shape, 961);
    const fused = await run(channelAttention, cs, w);
    expectMatch(fused[0], refChannelAttention(cs.q, cs.k, cs.v, cs.t, shape), 'output');
    // finite differences of the float64 reference, with steps small enough to stay below eps
    const L = (q: Float64Array) => {
      const y = refChannelAttention(q, cs.k, cs.v, cs.t, shape);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += w[i] * y[i];
      return s;
    };
    const fd = new Float64Array(cs.q.length);
    for (let i = 0; i < cs.q.length; i++) {
      const row = Math.floor(i / n) % c;
      const step = row === 1 || row === 2 ? 1e-17 : 1e-5;
      const qp = Float64Array.from(cs.q);
      qp[i] += step;
      const qm = Float64Array.from(cs.q);
      qm[i] -= step;
      fd[i] = (L(qp) - L(qm)) / (2 * step);
    }
    expect(fused[1].every((x) => Number.isFinite(x))).toBe(true);
    // the clamped rows' gradients are ~1e12 times larger: each group against its own scale
    for (const clamped of [true, false]) {
      const idx = [...fd.keys()].filter((i) => [1, 2].includes(Math.floor(i / n) % c) === clamped);
      const want = idx.map((i) => fd[i]);
      expectClose(
        idx.map((i) => fused[1][i]),
        want,
        2e-3,
        2e-4 * maxAbs(want),
        clamped ? 'dq of the clamped rows' : 'dq of the other rows',
      );
    }
  });

  it('is deterministic: the same inputs give bitwise the same results', async () => {
    const cs = makeCase([2, 2, 17, 197], 970);
    const w = randArray(cs.shape, 971);
    const a = await run(channelAttention, cs, w);
    const b = await run(channelAttention, cs, w);
    for (let i = 0; i < a.length; i++) expect(Array.from(b[i])).toEqual(Array.from(a[i]));
  });

  it('only the gradients that are needed: v alone, temperature alone', async () => {
    const shape: Shape4 = [1, 2, 6, 10];
    const cs = makeCase(shape, 980);
    const w = randArray(shape, 981);
    const want = await run(channelAttentionUnfused, cs, w);
    for (const which of [2, 3]) {
      const ins = [cs.q, cs.k, cs.v].map((d, i) => gpuTensor(d, shape, i === which));
      const t = gpuTensor(cs.t, [2], which === 3);
      const y = tidy(() => channelAttention(ins[0], ins[1], ins[2], t));
      const g = gpuTensor(w, shape);
      backward(y, { grad: g });
      const all = [...ins, t];
      all.forEach((x, i) => expect(!!x.grad, `input ${i}`).toBe(i === which));
      expectMatch(await all[which].grad!.data(), want[1 + which], NAMES[1 + which]);
      for (const x of [...all, y, g]) {
        x.grad?.dispose();
        x.dispose();
      }
    }
  });

  it('empty batch or pixels: empty output, zero gradients', async () => {
    for (const shape of [
      [0, 2, 3, 4],
      [1, 2, 3, 0],
    ] as Shape4[]) {
      const ins = [0, 1, 2].map(() => gpuTensor(new Float64Array(sizeOf(shape)), shape, true));
      const t = gpuTensor([1, 1], [2], true);
      const y = channelAttention(ins[0], ins[1], ins[2], t);
      expect(y.shape).toEqual(shape);
      expect(y.size).toBe(0);
      backward(y, { grad: gpuTensor([], shape) });
      expect(Array.from(await t.grad!.data())).toEqual([0, 0]);
      for (const x of [...ins, t, y]) {
        x.grad?.dispose();
        x.dispose();
      }
    }
  });

  it('holds GPU memory flat over repeated forward + backward', async () => {
    const ctx = await gpu();
    const shape: Shape4 = [2, 2, 8, 49];
    const cs = makeCase(shape, 990);
    const ins = [cs.q, cs.k, cs.v].map((d) => gpuTensor(d, shape, true));
    const t = gpuTensor(cs.t, [2], true);
    const g = gpuTensor(randArray(shape, 991), shape);
    const step = () => {
      const y = tidy(() => channelAttention(ins[0], ins[1], ins[2], t));
      backward(y, { grad: g });
      y.dispose();
      for (const x of [...ins, t]) {
        x.grad?.dispose();
        x.grad = null;
      }
    };
    step();
    await ctx.sync();
    const before = ctx.stats().liveBytes;
    for (let i = 0; i < 20; i++) step();
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(before);
    expect(engine.liveNodes).toBe(0);
    for (const x of [...ins, t, g]) x.dispose();
  });

  it('errors name the op and the shapes', async () => {
    const q = tensor(new Float32Array(2 * 3 * 4), [1, 2, 3, 4]);
    const k5 = tensor(new Float32Array(2 * 3 * 5), [1, 2, 3, 5]);
    const q3 = tensor(new Float32Array(6 * 4), [6, 4]);
    const t2 = tensor([1, 1], [2]);
    const t3 = tensor([1, 1, 1], [3]);
    const ti = tensor([1, 1], [2], 'i32');
    const bad: Array<[() => Tensor, RegExp]> = [
      [() => channelAttention(q, k5, q, t2), /channelAttention: .*same shape.*q \[1, 2, 3, 4\], k \[1, 2, 3, 5\]/],
      [() => channelAttention(q3, q3, q3, t2), /channelAttention: .*\[B, heads, c, N\].*q \[6, 4\]/],
      [() => channelAttention(q, q, q, t3), /channelAttention: temperature must be \[heads\] = \[2\].*temperature \[3\]/],
      [() => channelAttention(q, q, q, ti), /channelAttention: .*f32.*\[2\] i32/],
      [() => channelAttentionUnfused(q, k5, q, t2), /channelAttention: .*same shape/],
    ];
    for (const [fn, re] of bad) expect(fn).toThrow(re);
    for (const x of [q, k5, q3, t2, t3, ti]) x.dispose();
  });
});
