/** matmul / linear: every kernel (portable, subgroup with 8-, 16- and 32-row tiles) forward and backward. */
import { matmul, type MatmulOptions } from '../../kernels/matmul.js';
import type { Activation } from '../../kernels/activation.js';
import type { SelftestCheck } from '../check.js';
import { refMatmul, type MatmulRefOptions } from '../reference/matmul.js';
import { backwardCheck, forwardCheck, gpuTensor, gpuValues, randArray, shapesText, type Variant } from './common.js';

const VARIANTS: Variant[] = [
  { variant: 'portable', tuning: { matmul: { path: 'portable' } } },
  { variant: 'subgroup, tile by M', tuning: { matmul: { path: 'subgroup', tileRows: null } } },
  { variant: 'subgroup, 8-row tiles', quick: false, tuning: { matmul: { path: 'subgroup', tileRows: 8 } } },
  { variant: 'subgroup, 16-row tiles', quick: false, tuning: { matmul: { path: 'subgroup', tileRows: 16 } } },
  { variant: 'subgroup, 32-row tiles', quick: false, tuning: { matmul: { path: 'subgroup', tileRows: 32 } } },
];

interface Case {
  a: number[];
  b: number[];
  o?: Omit<MatmulRefOptions, 'bias'>;
  /** Bias of N. */
  bias?: boolean;
  quick?: boolean;
}

const FORWARD: Case[] = [
  { a: [33, 3], b: [3, 17], quick: true },
  { a: [5, 9], b: [9, 12], bias: true, o: { activation: 'gelu' }, quick: true },
  { a: [9, 20], b: [11, 9], o: { transA: true, transB: true }, quick: true },
  { a: [2, 1, 5, 7], b: [3, 7, 6], quick: true },
  { a: [1, 1], b: [1, 1] },
  { a: [65, 130], b: [130, 3] },
  { a: [17, 1], b: [1, 130] },
  { a: [129, 33], b: [33, 64], bias: true, o: { activation: 'leakyRelu', leakySlope: 0.3 } },
  { a: [12, 40], b: [40, 36], o: { activation: 'silu' } },
  { a: [40, 12], b: [40, 36], o: { transA: true } },
  { a: [2, 19, 12], b: [12, 20], bias: true, o: { activation: 'tanh' } },
  { a: [127, 255], b: [255, 129] },
];

const BACKWARD: Case[] = [
  { a: [2, 3, 4], b: [4, 8], bias: true, o: { activation: 'gelu' }, quick: true },
  { a: [5, 3], b: [4, 5], o: { transA: true, transB: true } },
  { a: [2, 1, 3, 4], b: [3, 4, 2] },
];

function describeOpts(c: Case): string {
  const o = c.o ?? {};
  const parts = [o.transA ? 'Aᵀ' : '', o.transB ? 'Bᵀ' : '', c.bias ? '+bias' : '', o.activation && o.activation !== 'none' ? o.activation : ''].filter(Boolean);
  return parts.length ? ` ${parts.join(' ')}` : '';
}

function gpuOptions(o: Omit<MatmulRefOptions, 'bias'> = {}): MatmulOptions {
  return { transA: o.transA, transB: o.transB, activation: o.activation as Activation | undefined, leakySlope: o.leakySlope };
}

export function matmulChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  let seed = 1000;
  for (const v of VARIANTS) {
    for (const c of FORWARD) {
      const s = seed;
      seed += 3;
      out.push(
        forwardCheck({ op: 'matmul', shapes: shapesText(c.a, c.b) + describeOpts(c), quick: c.quick }, v, async (cmp) => {
          const a = randArray(c.a, s);
          const b = randArray(c.b, s + 1);
          const ref0 = refMatmul(a, c.a, b, c.b, c.o);
          const N = ref0.shape[ref0.shape.length - 1];
          const bias = c.bias ? randArray([N], s + 2) : null;
          const ref = bias ? refMatmul(a, c.a, b, c.b, { ...c.o, bias }) : ref0;
          const got = await gpuValues(() => matmul(gpuTensor(a, c.a), gpuTensor(b, c.b), { ...gpuOptions(c.o), bias: bias ? gpuTensor(bias, [N]) : undefined }));
          cmp.add('output', got, ref.data, 1e-4, 2e-5);
        }),
      );
    }
    for (const c of BACKWARD) {
      const s = seed;
      seed += 3;
      const N = refMatmul(new Float64Array(c.a.reduce((x, y) => x * y, 1)), c.a, new Float64Array(c.b.reduce((x, y) => x * y, 1)), c.b, c.o).shape.at(-1)!;
      const inputs = [
        { data: randArray(c.a, s), shape: c.a },
        { data: randArray(c.b, s + 1), shape: c.b },
      ];
      if (c.bias) inputs.push({ data: randArray([N], s + 2), shape: [N] });
      out.push(
        backwardCheck({ op: 'matmul', shapes: shapesText(c.a, c.b) + describeOpts(c), quick: c.quick }, v, {
          inputs,
          names: ['A', 'B', 'bias'],
          gpuFn: (a, b, bias) => matmul(a, b, { ...gpuOptions(c.o), bias }),
          refFn: (a, b, bias) => refMatmul(a, c.a, b, c.b, { ...c.o, bias }).data,
          rtol: 5e-3,
          atol: 5e-4,
        }),
      );
    }
  }
  return out;
}
