/**
 * conv2d: the 1×1, general, depthwise and grouped paths, TF 'same' padding, strides and
 * dilations; the convolutions with one group also on each path forced (direct kernel, gemm), the
 * depthwise 3×3 ones also on tiles instead of strips.
 */
import { conv2d, type Conv2dOptions } from '../../kernels/conv.js';
import type { SelftestCheck } from '../check.js';
import { convRef, refOpts, type Shape4 } from '../reference/conv.js';
import { backwardCheck, DEFAULT_VARIANT, forwardCheck, gpuTensor, gpuValues, randArray, shapesText, type Variant } from './common.js';

interface Case {
  name: string;
  x: Shape4;
  w: Shape4;
  bias?: boolean;
  opts?: Conv2dOptions;
  quick?: boolean;
}

const FORWARD: Case[] = [
  { name: '3×3 pad 1 +bias', x: [3, 3, 13, 13], w: [8, 3, 3, 3], bias: true, opts: { padding: 1 }, quick: true },
  { name: '1×1 +bias', x: [3, 6, 7, 5], w: [8, 6, 1, 1], bias: true },
  { name: "stride 2, TF 'same'", x: [1, 3, 28, 28], w: [8, 3, 3, 3], bias: true, opts: { stride: 2, padding: 'same' }, quick: true },
  { name: 'dilation 2', x: [1, 3, 13, 13], w: [5, 3, 3, 3], opts: { dilation: 2, padding: 2 } },
  { name: 'groups 2, 5 per group', x: [1, 6, 7, 7], w: [10, 3, 3, 3], opts: { groups: 2, padding: 1 } },
  { name: 'depthwise 3×3 +bias', x: [3, 6, 13, 13], w: [6, 1, 3, 3], bias: true, opts: { groups: 6, padding: 1 }, quick: true },
  { name: 'depthwise 3×3 +bias, rows as quads', x: [2, 5, 9, 16], w: [5, 1, 3, 3], bias: true, opts: { groups: 5, padding: 1 } },
  { name: 'asymmetric padding 5×5', x: [1, 3, 7, 13], w: [5, 3, 5, 5], opts: { padding: [2, 0, 1, 3] } },
  { name: '3×3 pad 1, 48 → 48', x: [2, 48, 28, 28], w: [48, 48, 3, 3], bias: true, opts: { padding: 1 } },
];

const BACKWARD: Case[] = [
  { name: '3×3 pad 1 +bias', x: [2, 3, 5, 6], w: [4, 3, 3, 3], bias: true, opts: { padding: 1 }, quick: true },
  { name: "stride 2, TF 'same'", x: [1, 2, 7, 6], w: [3, 2, 3, 3], opts: { stride: 2, padding: 'same' } },
  { name: 'depthwise, multiplier 2, stride 2', x: [1, 2, 7, 6], w: [4, 1, 3, 3], opts: { groups: 2, stride: 2, padding: 'same' }, quick: true },
  { name: 'depthwise 3×3 +bias, rows as quads', x: [2, 3, 5, 8], w: [3, 1, 3, 3], bias: true, opts: { groups: 3, padding: 1 }, quick: true },
  { name: 'depthwise 3×3, ragged strips', x: [1, 2, 6, 5], w: [2, 1, 3, 3], opts: { groups: 2, padding: 1 } },
  { name: '1×1 +bias', x: [2, 3, 4, 5], w: [4, 3, 1, 1], bias: true },
  { name: 'dilation 2, asymmetric padding', x: [1, 2, 7, 7], w: [2, 2, 3, 3], bias: true, opts: { dilation: 2, padding: [1, 2, 0, 1] } },
];

const FORCED: Variant[] = [
  { variant: 'gemm', tuning: { conv: { path: 'gemm' } } },
  { variant: 'direct kernel', tuning: { conv: { path: 'direct' } }, quick: false },
];

const TILES: Variant = { variant: 'depthwise on tiles', tuning: { conv: { depthwiseStrips: false } } };

/** The default, and each forced path where the case has one group and is not the 1×1 path; depthwise 3×3 pad 1 also on tiles. */
function variantsOf(c: Case): Variant[] {
  const pointwise = c.w[2] === 1 && c.w[3] === 1 && !c.opts?.stride && !c.opts?.padding;
  const groups = c.opts?.groups ?? 1;
  const strips = groups === c.x[1] && c.w[2] === 3 && c.w[3] === 3 && c.opts?.padding === 1 && !c.opts?.stride && !c.opts?.dilation;
  if (strips) return [DEFAULT_VARIANT, TILES];
  return groups === 1 && !pointwise ? [DEFAULT_VARIANT, ...FORCED] : [DEFAULT_VARIANT];
}

export function convChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  let seed = 6000;
  for (const c of FORWARD) {
    const s = (seed += 10);
    for (const v of variantsOf(c))
      out.push(
        forwardCheck({ op: 'conv2d', shapes: `${shapesText(c.x, c.w)} ${c.name}`, quick: c.quick }, v, async (cmp) => {
          const x = randArray(c.x, s);
          const w = randArray(c.w, s + 1);
          const bias = c.bias ? randArray([c.w[0]], s + 2) : null;
          const got = await gpuValues(() => conv2d(gpuTensor(x, c.x), gpuTensor(w, c.w), bias ? gpuTensor(bias, [c.w[0]]) : null, c.opts));
          cmp.add('output', got, convRef(x, c.x, w, c.w, bias, refOpts(c.opts ?? {}, c.x, c.w)), 1e-4, 1e-5);
        }),
      );
  }
  for (const c of BACKWARD) {
    const s = (seed += 10);
    const inputs = [
      { data: randArray(c.x, s), shape: [...c.x] },
      { data: randArray(c.w, s + 1), shape: [...c.w] },
    ];
    if (c.bias) inputs.push({ data: randArray([c.w[0]], s + 2), shape: [c.w[0]] });
    const r = refOpts(c.opts ?? {}, c.x, c.w);
    for (const v of variantsOf(c))
      out.push(
        backwardCheck({ op: 'conv2d', shapes: `${shapesText(c.x, c.w)} ${c.name}`, quick: c.quick }, v, {
          inputs,
          names: ['x', 'weight', 'bias'],
          gpuFn: (x, w, b) => conv2d(x, w, b, c.opts),
          refFn: (x, w, b) => convRef(x, c.x, w, c.w, b ?? null, r),
        }),
      );
  }
  return out;
}
