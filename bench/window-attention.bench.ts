/**
 * windowAttention (the DILnetwork's window cross-attention with a Swin relative-position
 * bias, fused) vs the same attention from unfused ops (mul by the scale, matmul, indexSelect of
 * the bias table + permute + add, softmax, matmul), at the DILnetwork's sizes: scale 1 (28²
 * map: 16 windows of 7×7, D = 64, 2 heads), scale 2 (14²: 4 windows, D = 128, 4 heads),
 * scale 3 (7²: 1 window, D = 256, 8 heads), so d = 32 per head throughout; forward, and
 * forward + backward (dq, dk, dv, dtable). Suites `window-attention-b8` (batch 8) and
 * `window-attention-b64` (batch 64; slow on CPU adapters). The fused row's `note` holds
 * unfused/fused ratios of wall time and of GPU time (timestamp queries), both medians from the
 * same run on the same adapter, and the peak bytes the forward allocates (pool peakLiveBytes,
 * bucketed capacities), fused and unfused.
 * Suite `window-attention-memory`: the forward's peak bytes at scale 1, batch 8, with 7×7 and
 * 14×14 windows (the same tokens: M = 49 vs 196), fused vs unfused, and the forward's time.
 * GFLOP/s counts the two M×M×d products per window and head of the forward (2·2·M²·d) and the
 * six of forward + backward (the recomputed scores not counted).
 */
import { tensor, type GpuContext, type Tensor } from '../src/node.js';
import { windowAttention, windowAttentionUnfused } from '../src/kernels/window-attention.js';
import type { Harness, Row, Suite } from './harness.js';
import { randomData } from './random-data.js';
import { addNote, addRatioNote, forwardImpl, trainingImpl } from './fused-compare.js';

interface Scale {
  scale: number;
  side: number;
  dim: number;
  heads: number;
}

const SCALES: Scale[] = [
  { scale: 1, side: 28, dim: 64, heads: 2 },
  { scale: 2, side: 14, dim: 128, heads: 4 },
  { scale: 3, side: 7, dim: 256, heads: 8 },
];

type Fn = (q: Tensor, k: Tensor, v: Tensor, t: Tensor, w: number) => Tensor;

/** Bytes the pool hands out (peak, bucketed) during one forward, beyond what was live before. */
async function forwardPeakBytes(ctx: GpuContext, fn: Fn, ins: Tensor[], w: number): Promise<number> {
  await ctx.sync();
  const before = ctx.stats().liveBytes;
  ctx.pool.resetPeak();
  const y = fn(ins[0], ins[1], ins[2], ins[3], w);
  const peak = ctx.stats().peakLiveBytes - before;
  await y.data();
  y.dispose();
  return peak;
}

interface Inputs {
  ins: Tensor[];
  g: Tensor;
  shape: number[];
  label: string;
  product: number;
  dispose: () => void;
}

function inputs(batch: number, sc: Scale, window: number): Inputs {
  const M = window * window;
  const nWin = (sc.side / window) ** 2;
  const d = sc.dim / sc.heads;
  const shape = [batch, sc.heads, nWin, M, d];
  const size = batch * sc.heads * nWin * M * d;
  const T = (2 * window - 1) ** 2;
  const ins = [
    tensor(randomData(size, 3 + sc.dim, 2), shape),
    tensor(randomData(size, 5 + sc.dim, 2), shape),
    tensor(randomData(size, 7 + sc.dim, 2), shape),
    tensor(randomData(T * sc.heads, 9, 0.1), [T, sc.heads]),
  ];
  const g = tensor(randomData(size, 11 + sc.dim, 2), shape);
  return {
    ins,
    g,
    shape,
    label: `scale ${sc.scale}: [${shape.join(', ')}] (${sc.side}², ${window}×${window} windows, D ${sc.dim}, ${sc.heads} heads)`,
    product: 2 * batch * sc.heads * nWin * M * M * d,
    dispose: () => {
      for (const x of [...ins, g]) x.dispose();
    },
  };
}

const VARIANTS = [
  ['window-attention fused', windowAttention],
  ['window-attention unfused', windowAttentionUnfused],
] as const;

async function scaleCase(h: Harness, batch: number, sc: Scale): Promise<void> {
  const x = inputs(batch, sc, 7);
  const samples = batch > 8 ? 3 : 7;
  try {
    const rows: Row[] = [];
    for (const t of x.ins) t.requiresGrad = false;
    const peaks: number[] = [];
    for (const [name, fn] of VARIANTS) {
      peaks.push(await forwardPeakBytes(h.ctx, fn, x.ins, 7));
      await h.case({ name: `${name} fwd`, shape: x.label, flops: 2 * x.product, ours: forwardImpl(() => fn(x.ins[0], x.ins[1], x.ins[2], x.ins[3], 7)), samples });
      rows.push(h.rows[h.rows.length - 1]);
    }
    for (const t of x.ins) t.requiresGrad = true;
    for (const [name, fn] of VARIANTS) {
      await h.case({
        name: `${name} fwd+bwd`,
        shape: x.label,
        flops: 6 * x.product,
        ours: trainingImpl(() => fn(x.ins[0], x.ins[1], x.ins[2], x.ins[3], 7), x.ins, x.g),
        samples: Math.min(samples, 5),
      });
      rows.push(h.rows[h.rows.length - 1]);
    }
    addRatioNote(rows[0], rows[1]);
    addRatioNote(rows[2], rows[3]);
    addNote(rows[0], `forward peak bytes: fused ${peaks[0]}, unfused ${peaks[1]}`);
  } finally {
    x.dispose();
  }
}

function suite(batch: number): Suite {
  return {
    name: `window-attention-b${batch}`,
    description: `DILnetwork window cross-attention (7×7 windows, relative-position bias) fused vs unfused, batch ${batch}, scales 1–3 (d = 32), fwd and fwd+bwd`,
    async run(h) {
      for (const sc of SCALES) await scaleCase(h, batch, sc);
    },
  };
}

export const windowAttentionBatch8Suite = suite(8);
export const windowAttentionBatch64Suite = suite(64);

export const windowAttentionMemorySuite: Suite = {
  name: 'window-attention-memory',
  description: 'forward peak bytes with 7×7 vs 14×14 windows (M = 49 vs 196, the same tokens), fused vs unfused, scale 1, batch 8',
  async run(h) {
    for (const window of [7, 14]) {
      const x = inputs(8, SCALES[0], window);
      try {
        const rows: Row[] = [];
        const peaks: number[] = [];
        for (const [name, fn] of VARIANTS) {
          peaks.push(await forwardPeakBytes(h.ctx, fn, x.ins, window));
          await h.case({ name: `${name} fwd`, shape: x.label, flops: 2 * x.product, ours: forwardImpl(() => fn(x.ins[0], x.ins[1], x.ins[2], x.ins[3], window)), samples: 5 });
          rows.push(h.rows[h.rows.length - 1]);
        }
        addRatioNote(rows[0], rows[1]);
        const text = `forward peak bytes: fused ${peaks[0]}, unfused ${peaks[1]}`;
        addNote(rows[0], text);
        addNote(rows[1], text);
        console.log(`   window ${window} (M = ${window * window}): ${text}`);
      } finally {
        x.dispose();
      }
    }
  },
};
