/**
 * gatedDepthwiseGelu (DGNet's gated depthwise-conv FFN core, fused) vs the same core from
 * unfused ops (conv2d groups = 2h + split + gelu + mul), at DGNet's sizes: h = ⌊2.66·C⌋ for
 * C = 48, 96, 192, 384 at 56², 28², 14², 7² pixels; forward, and forward + backward (dx and
 * dweight). Suites `gdfn-b8` (batch 8) and `gdfn-b64` (batch 64; slow on CPU adapters).
 * The fused row's `note` holds unfused/fused ratios of wall time and of GPU time (timestamp
 * queries), both medians from the same run on the same adapter.
 * GFLOP/s counts 2·9 multiply-adds per pixel and channel of the 2h-channel convolution
 * (×3 with the backward); the GELU and gate are not counted.
 */
import { tensor } from '../src/node.js';
import { gatedDepthwiseGelu, gatedDepthwiseGeluUnfused } from '../src/kernels/gdfn.js';
import type { Harness, Row, Suite } from './harness.js';
import { randomData } from './random-data.js';
import { addRatioNote, forwardImpl, trainingImpl } from './fused-compare.js';

const LEVELS: Array<{ c: number; side: number }> = [
  { c: 48, side: 56 },
  { c: 96, side: 28 },
  { c: 192, side: 14 },
  { c: 384, side: 7 },
];

async function level(h: Harness, batch: number, c: number, side: number): Promise<void> {
  const hidden = Math.floor(2.66 * c);
  const xShape = [batch, 2 * hidden, side, side];
  const n = xShape.reduce((a, b) => a * b, 1);
  const limit = h.ctx.limits.maxStorageBufferBindingSize;
  if (n * 4 > limit) {
    console.log(`   gdfn x [${xShape.join(', ')}]: skipped, ${n * 4} bytes is more than one binding may hold here (${limit}); split the batch`);
    return;
  }
  const x = tensor(randomData(n, 3 + c, 3), xShape);
  const w = tensor(randomData(2 * hidden * 9, 7 + c, 1), [2 * hidden, 1, 3, 3]);
  const g = tensor(randomData(n / 2, 11 + c, 2), [batch, hidden, side, side]);
  x.requiresGrad = true;
  w.requiresGrad = true;
  const shape = `x [${xShape.join(', ')}] (C ${c}, h ${hidden})`;
  const flops = 2 * 9 * n;
  const samples = batch > 8 ? 3 : 7;
  try {
    const rows: Row[] = [];
    for (const [name, fn] of [
      ['gdfn fused', gatedDepthwiseGelu],
      ['gdfn unfused', gatedDepthwiseGeluUnfused],
    ] as const) {
      await h.case({ name: `${name} fwd`, shape, flops, ours: forwardImpl(() => fn(x, w)), samples });
      rows.push(h.rows[h.rows.length - 1]);
    }
    for (const [name, fn] of [
      ['gdfn fused', gatedDepthwiseGelu],
      ['gdfn unfused', gatedDepthwiseGeluUnfused],
    ] as const) {
      await h.case({ name: `${name} fwd+bwd`, shape, flops: 3 * flops, ours: trainingImpl(() => fn(x, w), [x, w], g), samples: Math.min(samples, 5) });
      rows.push(h.rows[h.rows.length - 1]);
    }
    addRatioNote(rows[0], rows[1]);
    addRatioNote(rows[2], rows[3]);
  } finally {
    for (const t of [x, w, g]) t.dispose();
  }
}

function suite(batch: number): Suite {
  return {
    name: `gdfn-b${batch}`,
    description: `gated depthwise-conv FFN core (DGNet) fused vs unfused, batch ${batch}, C = 48…384 at 56²…7², fwd and fwd+bwd`,
    async run(h) {
      for (const { c, side } of LEVELS) await level(h, batch, c, side);
    },
  };
}

export const gdfnBatch8Suite = suite(8);
export const gdfnBatch64Suite = suite(64);
