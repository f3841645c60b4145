import { describe, it, expect, beforeAll } from 'vitest';
import { gpu, usePath } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { backward, tidy, engine, type Tensor, type GpuContext } from '../src/node.js';
import { windowAttention, windowAttentionUnfused, windowAttentionTokens, windowAttentionTokensUnfused } from '../src/kernels/window-attention.js';
import { bucketSize } from '../src/gpu/buffer-pool.js';
// the float64 reference is shared with `lrdif selftest`
import { refWindowAttention } from '../src/selftest/reference/attention.js';

/** [B, heads, nWin, M, d] */
type Shape5 = [number, number, number, number, number];

interface Case {
  shape: Shape5;
  w: number;
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  table: Float64Array | null;
  scale: number;
}

function makeCase(shape: Shape5, w: number, seed: number, opts: { bias?: boolean; scale?: number } = {}): Case {
  const d = shape[4];
  return {
    shape,
    w,
    // queries and keys of a few units: softmax rows far from uniform
    q: randArray(shape, seed, -2, 2),
    k: randArray(shape, seed + 1, -2, 2),
    v: randArray(shape, seed + 2, -1, 1),
    table: opts.bias === false ? null : randArray([(2 * w - 1) ** 2, shape[1]], seed + 3, -2, 2),
    scale: opts.scale ?? 1 / Math.sqrt(d),
  };
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** Within 1e-4 relative; elements near zero are judged against the tensor's scale (cancellations leave float32 rounding). */
function expectMatch(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expectClose(got, want, 1e-4, 1e-5 * Math.max(maxAbs(want), 1e-3), what);
}

type Fn = (q: Tensor, k: Tensor, v: Tensor, t: Tensor | null, w: number | null, scale?: number) => Tensor;

/** Output and the gradients of q, k, v (and the table) for an upstream gradient `up`. */
async function run(fn: Fn, cs: Case, up: Float64Array, grads = true): Promise<Float32Array[]> {
  const ins = [cs.q, cs.k, cs.v].map((x) => gpuTensor(x, cs.shape, grads));
  const t = cs.table ? gpuTensor(cs.table, [(2 * cs.w - 1) ** 2, cs.shape[1]], grads) : null;
  const y = tidy(() => fn(ins[0], ins[1], ins[2], t, cs.table ? cs.w : null, cs.scale));
  const res: Float32Array[] = [(await y.data()) as Float32Array];
  const all = t ? [...ins, t] : ins;
  if (grads) {
    const g = gpuTensor(up, cs.shape);
    backward(y, { grad: g });
    g.dispose();
    for (const x of all) res.push((await x.grad!.data()) as Float32Array);
  }
  y.dispose();
  for (const x of all) {
    x.grad?.dispose();
    x.dispose();
  }
  return res;
}

const NAMES = ['output', 'dq', 'dk', 'dv', 'dtable'];

async function compareWithUnfused(cs: Case, label: string): Promise<void> {
  const up = randArray(cs.shape, 7, -1, 1);
  const fused = await run(windowAttention, cs, up);
  const unfused = await run(windowAttentionUnfused, cs, up);
  expect(fused.length).toBe(unfused.length);
  for (let i = 0; i < fused.length; i++) expectMatch(fused[i], unfused[i], `${label}: ${NAMES[i]} vs the unfused ops`);
  expectMatch(fused[0], refWindowAttention(cs.q, cs.k, cs.v, cs.table, cs.shape, cs.w, cs.scale), `${label}: output vs float64`);
}

const label = (cs: Case) => `[${cs.shape.join(', ')}] window ${cs.w}${cs.table ? '' : ' (no bias)'}`;

/** Each mode runs on the subgroup kernels (where the adapter has them) and on the portable ones. */
const MODES: Array<{ name: string; path: 'subgroup' | 'portable' }> = [
  { name: 'subgroup kernels', path: 'subgroup' },
  { name: 'portable kernels', path: 'portable' },
];

let ctx: GpuContext;
beforeAll(async () => {
  ctx = await gpu();
});

for (const mode of MODES) {
  describe(`windowAttention (${mode.name})`, () => {
    usePath('windowAttention', mode.path);

    if (mode.path === 'subgroup') {
      it('forward and every gradient equal the unfused ops and the float64 reference: windows 1, 2, 3, 7, heads 1–3, d 1, 5, 8, 32, B·nWin 1, 3, 16', async () => {
        const cases: Array<[Shape5, number]> = [
          [[1, 1, 1, 1, 1], 1],
          [[1, 2, 3, 4, 5], 2],
          [[2, 3, 8, 9, 8], 3],
          [[1, 1, 3, 49, 32], 7],
          [[3, 2, 1, 9, 1], 3],
          [[1, 3, 1, 49, 5], 7],
          [[16, 1, 1, 4, 32], 2],
          [[1, 2, 16, 1, 8], 1],
        ];
        let seed = 100;
        for (const [shape, w] of cases) {
          const cs = makeCase(shape, w, (seed += 10));
          await compareWithUnfused(cs, label(cs));
        }
      });

      it('at the DIL sizes (scale 1: 16 windows of 49 tokens, D = 64, heads 2) equals the unfused ops', async () => {
        const cs = makeCase([2, 2, 16, 49, 32], 7, 900);
        await compareWithUnfused(cs, 'DIL scale 1');
      });

      it('windows past one 56-token tile and block (8×8, 9×9, 14×14), odd scales and scores in the hundreds equal the unfused ops', async () => {
        const cases: Case[] = [
          makeCase([1, 2, 2, 64, 4], 8, 300),
          makeCase([2, 1, 1, 81, 3], 9, 310, { scale: 0.7 }),
          makeCase([1, 1, 1, 196, 8], 14, 320),
          // scores in the hundreds: the running max has to carry the softmax
          makeCase([1, 2, 2, 49, 8], 7, 330, { scale: 6 }),
        ];
        for (const cs of cases) await compareWithUnfused(cs, label(cs));
      });

      it('windows per workgroup, backward chunks and bias-gradient splits change nothing', async () => {
        const cs = makeCase([3, 2, 3, 9, 4], 3, 400);
        const up = randArray(cs.shape, 8, -1, 1);
        const want = await run(windowAttentionUnfused, cs, up);
        for (const [per, chunk, splits] of [
          [1, null, 1],
          [2, 2 * 9 * 9 * 4 * 2, 3],
          [4, 1, null],
        ] as Array<[number, number | null, number | null]>) {
          const patch = { windowsPerGroup: per, splits, ...(chunk === null ? {} : { chunkBytes: chunk }) };
          const got = await ctx.withTuning({ windowAttention: patch }, () => run(windowAttention, cs, up));
          for (let i = 0; i < got.length; i++) expectMatch(got[i], want[i], `per ${per}, chunk ${chunk}, splits ${splits}: ${NAMES[i]}`);
        }
      });
    } else {
      // the portable kernels are specialised on d: one width keeps the compiles few
      it('forward and every gradient equal the unfused ops (d = 5; windows 1, 2, 3, 7, 8; heads 1–3; chunked backward)', async () => {
        const cases: Array<[Shape5, number]> = [
          [[1, 1, 1, 1, 5], 1],
          [[2, 3, 2, 4, 5], 2],
          [[1, 2, 3, 9, 5], 3],
          [[1, 1, 2, 49, 5], 7],
          [[1, 2, 1, 64, 5], 8],
        ];
        let seed = 500;
        for (const [shape, w] of cases) {
          const cs = makeCase(shape, w, (seed += 10));
          await compareWithUnfused(cs, label(cs));
        }
        const cs = makeCase([2, 2, 3, 9, 5], 3, 600);
        await ctx.withTuning({ windowAttention: { chunkBytes: 1, splits: 2 } }, () => compareWithUnfused(cs, `${label(cs)}, one window per backward chunk`));
        // the GPU geometry: 64 invocations per workgroup, 2 rows each (rows past M idle)
        const wide = makeCase([1, 2, 2, 49, 5], 7, 610);
        await ctx.withTuning({ windowAttention: { lanes: 64, rows: 2 } }, () => compareWithUnfused(wide, `${label(wide)}, 64 lanes × 2 rows`));
      });
    }

    it("without a bias table: any token count (50, the fusion ViT's) equals the unfused ops", async () => {
      const cs = makeCase([2, 2, 1, 50, mode.path === 'subgroup' ? 8 : 5], 1, 700, { bias: false });
      // window is not needed without a table
      await compareWithUnfused(cs, label(cs));
    });

    it('token-major [B, nWin, M, heads·d] equals the unfused composition and the head-major op', async () => {
      const [B, H, nW, M, d] = [2, 2, 3, 9, mode.path === 'subgroup' ? 4 : 5] as const;
      const w = 3;
      const shape = [B, nW, M, H * d];
      const q = randArray(shape, 1, -2, 2);
      const k = randArray(shape, 2, -2, 2);
      const v = randArray(shape, 3, -1, 1);
      const table = randArray([(2 * w - 1) ** 2, H], 4, -1, 1);
      const up = randArray(shape, 5, -1, 1);
      const results: Float32Array[][] = [];
      for (const fn of [windowAttentionTokens, windowAttentionTokensUnfused]) {
        const ins = [q, k, v].map((x) => gpuTensor(x, shape, true));
        const t = gpuTensor(table, [(2 * w - 1) ** 2, H], true);
        const y = tidy(() => fn(ins[0], ins[1], ins[2], t, w, H));
        const g = gpuTensor(up, shape);
        backward(y, { grad: g });
        results.push([(await y.data()) as Float32Array, ...(await Promise.all([...ins, t].map((x) => x.grad!.data() as Promise<Float32Array>)))]);
        for (const x of [y, g, ...ins, t]) {
          x.grad?.dispose();
          x.dispose();
        }
      }
      for (let i = 0; i < 5; i++) expectMatch(results[0][i], results[1][i], `tokens: ${NAMES[i]} vs the unfused ops`);
      // the same numbers as the head-major op on permuted copies
      const toHeads = (x: Float64Array) => {
        const o = new Float64Array(x.length);
        for (let b = 0; b < B; b++)
          for (let n = 0; n < nW; n++)
            for (let i = 0; i < M; i++)
              for (let h = 0; h < H; h++) for (let c = 0; c < d; c++) o[(((b * H + h) * nW + n) * M + i) * d + c] = x[(((b * nW + n) * M + i) * H + h) * d + c];
        return o;
      };
      const ref = refWindowAttention(toHeads(q), toHeads(k), toHeads(v), table, [B, H, nW, M, d], w, 1 / Math.sqrt(d));
      expectMatch(toHeads(Float64Array.from(results[0][0])), ref, 'tokens: output vs float64');
    });

    it('gradients of q, k, v and the bias table pass finite differences', async () => {
      const shape: Shape5 = [1, 2, 2, 4, 3];
      const w = 2;
      const tShape = [(2 * w - 1) ** 2, 2];
      const scale = 0.8;
      await checkGradients({
        inputs: [
          { data: randArray(shape, 11, -1, 1), shape },
          { data: randArray(shape, 12, -1, 1), shape },
          { data: randArray(shape, 13, -1, 1), shape },
          { data: randArray(tShape, 14, -1, 1), shape: tShape },
        ],
        gpuFn: (q, k, v, t) => windowAttention(q, k, v, t, w, scale),
        refFn: (q, k, v, t) => refWindowAttention(q, k, v, t, shape, w, scale),
        rtol: 5e-3,
        atol: 5e-4,
      });
    });
  });
}

describe('windowAttention', () => {
  it('gradients only where asked: a table without requiresGrad gets none, q alone gets its own', async () => {
    const cs = makeCase([1, 2, 2, 9, 4], 3, 800);
    const up = randArray(cs.shape, 9, -1, 1);
    const want = await run(windowAttentionUnfused, cs, up);
    const q = gpuTensor(cs.q, cs.shape, true);
    const k = gpuTensor(cs.k, cs.shape);
    const v = gpuTensor(cs.v, cs.shape);
    const t = gpuTensor(cs.table!, [25, 2]);
    const y = tidy(() => windowAttention(q, k, v, t, 3));
    const g = gpuTensor(up, cs.shape);
    backward(y, { grad: g });
    expect(k.grad).toBeNull();
    expect(t.grad).toBeNull();
    expectMatch((await q.grad!.data()) as Float32Array, want[1], 'dq alone');
    for (const x of [y, g, q, k, v, t]) {
      x.grad?.dispose();
      x.dispose();
    }
  });

  it('the backward is deterministic (bitwise equal gradients on a repeat)', async () => {
    const cs = makeCase([2, 2, 4, 49, 8], 7, 850);
    const up = randArray(cs.shape, 10, -1, 1);
    const a = await run(windowAttention, cs, up);
    const b = await run(windowAttention, cs, up);
    for (let i = 0; i < a.length; i++) expect(Buffer.from(a[i].buffer).equals(Buffer.from(b[i].buffer)), NAMES[i]).toBe(true);
  });

  it('the forward allocates its output and per-row statistics only: no M² buffer (7×7 vs 14×14 windows, the same tokens)', async () => {
    const peaks: number[] = [];
    for (const [w, nWin] of [
      [7, 4],
      [14, 1],
    ]) {
      const shape: Shape5 = [2, 2, nWin, w * w, 8];
      const q = gpuTensor(randArray(shape, 1), shape);
      const t = gpuTensor(randArray([(2 * w - 1) ** 2, 2], 2), [(2 * w - 1) ** 2, 2]);
      await ctx.sync();
      const before = ctx.stats().liveBytes;
      ctx.pool.resetPeak();
      const y = windowAttention(q, q, q, t, w);
      const peak = ctx.stats().peakLiveBytes - before;
      await y.data();
      const rows = 2 * 2 * nWin * w * w;
      // the output, one log-sum-exp per row and (blocks of keys past the first, subgroup kernels) one running sum per row
      const sg = ctx.tuning.windowAttention.path === 'subgroup';
      const sums = sg ? bucketSize(w * w > 56 ? rows * 4 : 4) : 0;
      expect(peak, `window ${w}`).toBe(bucketSize(rows * 8 * 4) + bucketSize(rows * 4) + sums);
      peaks.push(peak);
      y.dispose();
      q.dispose();
      t.dispose();
    }
    expect(peaks[1]).toBeLessThanOrEqual(2 * peaks[0]);
  });

  it('holds GPU memory flat over repeated forward + backward', async () => {
    const cs = makeCase([2, 2, 2, 9, 4], 3, 870);
    const up = randArray(cs.shape, 11, -1, 1);
    await run(windowAttention, cs, up);
    await ctx.sync();
    const live = ctx.stats().liveBytes;
    for (let i = 0; i < 3; i++) await run(windowAttention, cs, up);
    await ctx.sync();
    expect(ctx.stats().liveBytes).toBe(live);
    expect(engine.liveNodes).toBe(0);
  });

  it('empty batches give empty outputs and zero gradients', async () => {
    const q = gpuTensor([], [0, 2, 1, 4, 3], true);
    const t = gpuTensor(randArray([9, 2], 1), [9, 2], true);
    const y = windowAttention(q, q, q, t, 2);
    expect(y.shape).toEqual([0, 2, 1, 4, 3]);
    backward(y, { grad: gpuTensor([], [0, 2, 1, 4, 3]) });
    expect(Array.from((await t.grad!.data()) as Float32Array).every((x) => x === 0)).toBe(true);
    for (const x of [y, q, t]) {
      x.grad?.dispose();
      x.dispose();
    }
  });

  it('bad shapes give errors naming the op and the shapes', () => {
    const a = gpuTensor(new Float64Array(2 * 9 * 4), [1, 2, 1, 9, 4]);
    const b = gpuTensor(new Float64Array(2 * 4 * 4), [1, 2, 1, 4, 4]);
    const t = gpuTensor(new Float64Array(25 * 2), [25, 2]);
    const t3 = gpuTensor(new Float64Array(25 * 3), [25, 3]);
    const flat = gpuTensor(new Float64Array(72), [72]);
    expect(() => windowAttention(a, b, a, t, 3)).toThrow(/windowAttention: q, k and v must have the same shape.*q \[1, 2, 1, 9, 4\], k \[1, 2, 1, 4, 4\]/);
    expect(() => windowAttention(flat, flat, flat, t, 3)).toThrow(/windowAttention: .*\[B, heads, nWin, M, d\].*q \[72\]/);
    expect(() => windowAttention(a, a, a, t, 2)).toThrow(/windowAttention: a 2×2 window holds 4 tokens, but the inputs have M = 9/);
    expect(() => windowAttention(a, a, a, t3, 3)).toThrow(/windowAttention: biasTable must be \[\(2·3−1\)², heads\] = \[25, 2\].*biasTable \[25, 3\]/);
    expect(() => windowAttention(a, a, a, t, null)).toThrow(/windowAttention: a bias table needs the window side/);
    expect(() => windowAttention(a, a, a, t, 3, Number.NaN)).toThrow(/windowAttention: scale must be finite/);
    const tok = gpuTensor(new Float64Array(9 * 10), [1, 1, 9, 10]);
    expect(() => windowAttentionTokens(tok, tok, tok, t, 3, 3)).toThrow(/windowAttentionTokens: width 10 is not a multiple of heads = 3.*q \[1, 1, 9, 10\]/);
    for (const x of [a, b, t, t3, flat, tok]) x.dispose();
  });
});
