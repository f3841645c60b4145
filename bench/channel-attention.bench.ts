/**
 * channelAttention (DMNet's transposed channel attention, fused) vs the same attention from
 * unfused ops (square/sum/sqrt/clamp/div normalisation, matmul, mul by temperature, softmax,
 * matmul), at DMNet's sizes: the reference config (C = 48, 96, 192, 384 with 1, 2, 4, 8 heads,
 * so c = 48 channels per head, at 56², 28², 14², 7² pixels) and the tiny config (C = 8, 16, 32,
 * 64 with 1, 1, 2, 2 heads); forward, and forward + backward (dq, dk, dv, dtemperature).
 * Suites `channel-attention-b8` (batch 8) and `channel-attention-b64` (batch 64; slow on CPU
 * adapters). The fused row's `note` holds unfused/fused ratios of wall time and of GPU time
 * (timestamp queries), both medians from the same run on the same adapter.
 * GFLOP/s counts the two c×c×N products per (batch, head) of the forward (2·2·c²·N) and the
 * four of forward + backward (+ one c×c×N product for dA and three for dq, dk, dv).
 */
import { tensor } from '../src/node.js';
import { channelAttention, channelAttentionUnfused } from '../src/kernels/channel-attention.js';
import type { Harness, Row, Suite } from './harness.js';
import { randomData } from './random-data.js';
import { addRatioNote, forwardImpl, trainingImpl } from './fused-compare.js';

interface Level {
  config: 'reference' | 'tiny';
  level: number;
  channels: number;
  heads: number;
  side: number;
}

const LEVELS: Level[] = [
  { config: 'reference', level: 1, channels: 48, heads: 1, side: 56 },
  { config: 'reference', level: 2, channels: 96, heads: 2, side: 28 },
  { config: 'reference', level: 3, channels: 192, heads: 4, side: 14 },
  { config: 'reference', level: 4, channels: 384, heads: 8, side: 7 },
  { config: 'tiny', level: 1, channels: 8, heads: 1, side: 56 },
  { config: 'tiny', level: 2, channels: 16, heads: 1, side: 28 },
  { config: 'tiny', level: 3, channels: 32, heads: 2, side: 14 },
  { config: 'tiny', level: 4, channels: 64, heads: 2, side: 7 },
];

async function level(h: Harness, batch: number, lv: Level): Promise<void> {
  const c = lv.channels / lv.heads;
  const n = lv.side * lv.side;
  const shape = [batch, lv.heads, c, n];
  const size = batch * lv.heads * c * n;
  const q = tensor(randomData(size, 3 + lv.channels, 2), shape);
  const k = tensor(randomData(size, 5 + lv.channels, 2), shape);
  const v = tensor(randomData(size, 7 + lv.channels, 2), shape);
  const t = tensor(
    randomData(lv.heads, 9, 1).map((x) => 1 + x),
    [lv.heads],
  );
  const g = tensor(randomData(size, 11 + lv.channels, 2), shape);
  const ins = [q, k, v, t];
  const label = `${lv.config} L${lv.level}: [${shape.join(', ')}] (C ${lv.channels}, ${lv.heads} head${lv.heads > 1 ? 's' : ''}, ${lv.side}²)`;
  const product = 2 * batch * lv.heads * c * c * n;
  const samples = batch > 8 ? 3 : 7;
  try {
    const rows: Row[] = [];
    for (const x of ins) x.requiresGrad = false;
    for (const [name, fn] of [
      ['channel-attention fused', channelAttention],
      ['channel-attention unfused', channelAttentionUnfused],
    ] as const) {
      await h.case({ name: `${name} fwd`, shape: label, flops: 2 * product, ours: forwardImpl(() => fn(q, k, v, t)), samples });
      rows.push(h.rows[h.rows.length - 1]);
    }
    for (const x of ins) x.requiresGrad = true;
    for (const [name, fn] of [
      ['channel-attention fused', channelAttention],
      ['channel-attention unfused', channelAttentionUnfused],
    ] as const) {
      await h.case({
        name: `${name} fwd+bwd`,
        shape: label,
        flops: 6 * product,
        ours: trainingImpl(() => fn(ins[0], ins[1], ins[2], ins[3]), ins, g),
        samples: Math.min(samples, 5),
      });
      rows.push(h.rows[h.rows.length - 1]);
    }
    addRatioNote(rows[0], rows[1]);
    addRatioNote(rows[2], rows[3]);
  } finally {
    for (const x of [...ins, g]) x.dispose();
  }
}

function suite(batch: number): Suite {
  return {
    name: `channel-attention-b${batch}`,
    description: `transposed channel attention (DMNet) fused vs unfused, batch ${batch}, reference and tiny configs (c = C/heads at 56²…7²), fwd and fwd+bwd`,
    async run(h) {
      for (const lv of LEVELS) await level(h, batch, lv);
    },
  };
}

export const channelAttentionBatch8Suite = suite(8);
export const channelAttentionBatch64Suite = suite(64);
