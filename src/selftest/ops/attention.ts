/**
 * The fused attentions: channel attention (Restormer's MDTA; subgroup and portable kernels,
 * lanes, vec4, column splits; q, k, v as tensors of their own and packed in one) and window attention (Swin; subgroup and portable kernels, rows
 * per invocation, lanes, backward chunks and bias-gradient splits), forward against the float64
 * reference and backward against its finite differences.
 */
import { channelAttention, channelAttentionPacked } from '../../kernels/channel-attention.js';
import { windowAttention } from '../../kernels/window-attention.js';
import type { SelftestCheck } from '../check.js';
import { refChannelAttention, refChannelAttentionPacked, refWindowAttention, type Shape4, type Shape5 } from '../reference/attention.js';
import { backwardCheck, forwardCheck, gpuTensor, gpuValues, maxAbs, randArray, shapesText, type Variant } from './common.js';

const CA_VARIANTS: Variant[] = [
  { variant: 'subgroup', tuning: { channelAttention: { path: 'subgroup' } } },
  { variant: 'subgroup, 2 mix columns, 3 column chunks', quick: false, tuning: { channelAttention: { path: 'subgroup', mixColumns: 2, splits: 3 } } },
  { variant: 'portable, 8 lanes, scalar', tuning: { channelAttention: { path: 'portable', lanes: 8, vec: false } } },
  { variant: 'portable, 64 lanes, vec4', quick: false, tuning: { channelAttention: { path: 'portable', lanes: 64, vec: true } } },
  { variant: 'portable, vec4, 3 column chunks', quick: false, tuning: { channelAttention: { path: 'portable', vec: true, splits: 3 } } },
];

/** Within 1e-4 relative; near-zero elements against the tensor's scale (the op tests' rule). */
const caAtol = (want: ArrayLike<number>) => 1e-5 * Math.max(maxAbs(want), 1);
const waAtol = (want: ArrayLike<number>) => 1e-5 * Math.max(maxAbs(want), 1e-3);

function channelChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const shapes: Array<{ shape: Shape4; quick?: boolean }> = [
    { shape: [2, 2, 17, 52], quick: true },
    { shape: [1, 3, 8, 196] },
    { shape: [1, 1, 48, 49] },
    { shape: [2, 1, 3, 7] },
    { shape: [1, 2, 33, 64] },
  ];
  let seed = 2000;
  for (const v of CA_VARIANTS) {
    for (const { shape, quick } of shapes) {
      const s = (seed += 10);
      out.push(
        forwardCheck({ op: 'channelAttention', shapes: `${shapesText(shape)} [B, heads, c, N]`, quick }, v, async (cmp) => {
          const [q, k, val] = [0, 1, 2].map((i) => randArray(shape, s + i));
          const t = randArray([shape[1]], s + 3, -3, 3);
          const got = await gpuValues(() => channelAttention(gpuTensor(q, shape), gpuTensor(k, shape), gpuTensor(val, shape), gpuTensor(t, [shape[1]])));
          const want = refChannelAttention(q, k, val, t, shape);
          cmp.add('output', got, want, 1e-4, caAtol(want));
        }),
      );
    }
    const shape: Shape4 = [2, 2, 3, 8];
    const s = (seed += 10);
    out.push(
      backwardCheck({ op: 'channelAttention', shapes: shapesText(shape), quick: true }, v, {
        inputs: [
          { data: randArray(shape, s), shape },
          { data: randArray(shape, s + 1), shape },
          { data: randArray(shape, s + 2), shape },
          { data: randArray([shape[1]], s + 3, -3, 3), shape: [shape[1]] },
        ],
        names: ['q', 'k', 'v', 'temperature'],
        gpuFn: (q, k, val, t) => channelAttention(q, k, val, t),
        refFn: (q, k, val, t) => refChannelAttention(q, k, val, t, shape),
      }),
    );
    // q, k and v packed as [B, 3, heads, c, N]
    const [B, heads, c, n] = shape;
    out.push(
      backwardCheck({ op: 'channelAttention', shapes: `${shapesText([B, 3, heads, c, n])} packed qkv [B, 3, heads, c, N]`, quick: true }, v, {
        inputs: [
          { data: randArray([B, 3, heads, c, n], s + 4), shape: [B, 3, heads, c, n] },
          { data: randArray([heads], s + 5, -3, 3), shape: [heads] },
        ],
        names: ['qkv', 'temperature'],
        gpuFn: (qkv, t) => channelAttentionPacked(qkv, t),
        refFn: (qkv, t) => refChannelAttentionPacked(qkv, t, shape),
      }),
    );
  }
  return out;
}

const WA_VARIANTS: Variant[] = [
  { variant: 'subgroup', tuning: { windowAttention: { path: 'subgroup' } } },
  { variant: 'subgroup, 2 windows per group, 3 splits', quick: false, tuning: { windowAttention: { path: 'subgroup', windowsPerGroup: 2, splits: 3 } } },
  { variant: 'portable, 8 lanes × 1 row', tuning: { windowAttention: { path: 'portable', lanes: 8, rows: 1 } } },
  { variant: 'portable, 64 lanes × 2 rows', quick: false, tuning: { windowAttention: { path: 'portable', lanes: 64, rows: 2 } } },
  { variant: 'portable, 4 rows, 1-window chunks, 2 splits', quick: false, tuning: { windowAttention: { path: 'portable', rows: 4, chunkBytes: 1, splits: 2 } } },
];

interface WaCase {
  shape: Shape5;
  w: number;
  bias: boolean;
  scale?: number;
  quick?: boolean;
}

function windowChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const cases: WaCase[] = [
    { shape: [2, 2, 4, 49, 8], w: 7, bias: true, quick: true },
    { shape: [1, 3, 2, 9, 5], w: 3, bias: true },
    { shape: [2, 1, 3, 4, 3], w: 2, bias: false },
    { shape: [1, 1, 1, 64, 4], w: 8, bias: true, scale: 6 },
  ];
  let seed = 3000;
  for (const v of WA_VARIANTS) {
    for (const c of cases) {
      const s = (seed += 10);
      const tableShape = [(2 * c.w - 1) ** 2, c.shape[1]];
      out.push(
        forwardCheck({ op: 'windowAttention', shapes: `${shapesText(c.shape)} [B, heads, windows, M, d]${c.bias ? ' +bias' : ''}`, quick: c.quick }, v, async (cmp) => {
          const q = randArray(c.shape, s, -2, 2);
          const k = randArray(c.shape, s + 1, -2, 2);
          const val = randArray(c.shape, s + 2);
          const table = c.bias ? randArray(tableShape, s + 3, -2, 2) : null;
          const scale = c.scale ?? 1 / Math.sqrt(c.shape[4]);
          const got = await gpuValues(() =>
            windowAttention(gpuTensor(q, c.shape), gpuTensor(k, c.shape), gpuTensor(val, c.shape), table ? gpuTensor(table, tableShape) : null, table ? c.w : null, scale),
          );
          const want = refWindowAttention(q, k, val, table, c.shape, c.w, scale);
          cmp.add('output', got, want, 1e-4, waAtol(want));
        }),
      );
    }
    const shape: Shape5 = [1, 2, 2, 4, 3];
    const w = 2;
    const tableShape = [(2 * w - 1) ** 2, shape[1]];
    const s = (seed += 10);
    out.push(
      backwardCheck({ op: 'windowAttention', shapes: `${shapesText(shape)} +bias`, quick: true }, v, {
        inputs: [
          { data: randArray(shape, s, -2, 2), shape },
          { data: randArray(shape, s + 1, -2, 2), shape },
          { data: randArray(shape, s + 2), shape },
          { data: randArray(tableShape, s + 3, -2, 2), shape: tableShape },
        ],
        names: ['q', 'k', 'v', 'biasTable'],
        gpuFn: (q, k, val, t) => windowAttention(q, k, val, t, w, 0.5),
        refFn: (q, k, val, t) => refWindowAttention(q, k, val, t, shape, w, 0.5),
        rtol: 5e-3,
        atol: 5e-4,
      }),
    );
  }
  return out;
}

export function attentionChecks(): SelftestCheck[] {
  return [...channelChecks(), ...windowChecks()];
}
