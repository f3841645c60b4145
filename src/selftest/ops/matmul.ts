/** matmul / linear: every kernel (portable, subgroup with 8-, 16- and 32-row tiles) forward and backward, with the bias, activation and residual epilogues. */
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
  o?: Omit<MatmulRefOptions, 'bias' | 'residual'>;
  /** Bias of N. */
  bias?: boolean;
  /** A residual of the output's shape, added after the activation. */
  residual?: boolean;
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
  { a: [5, 9], b: [9, 12], bias: true, residual: true, o: { activation: 'gelu' }, quick: true },
  { a: [40, 12], b: [4, 12, 49], residual: true },
];

const BACKWARD: Case[] = [
  { a: [2, 3, 4], b: [4, 8], bias: true, o: { activation: 'gelu' }, quick: true },
  { a: [5, 3], b: [4, 5], o: { transA: true, transB: true } },
  { a: [2, 1, 3, 4], b: [3, 4, 2] },
  { a: [6, 4], b: [2, 4, 8], bias: true, residual: true, o: { activation: 'gelu' } },
];

function describeOpts(c: Case): string {
  const o = c.o ?? {};
  const parts = [
    o.transA ? 'Aᵀ' : '',
    o.transB ? 'Bᵀ' : '',
    c.bias ? '+bias' : '',
    o.activation && o.activation !== 'none' ? o.activation : '',
    c.residual ? '+residual' : '',
  ].filter(Boolean);
  return parts.length ? ` ${parts.join(' ')}` : '';
}

function gpuOptions(o: Omit<MatmulRefOptions, 'bias' | 'residual'> = {}): MatmulOptions {
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
          const residual = c.residual ? randArray(ref0.shape, s + 3) : null;
          const ref = bias || residual ? refMatmul(a, c.a, b, c.b, { ...c.o, bias, residual }) : ref0;
          const got = await gpuValues(() =>
            matmul(gpuTensor(a, c.a), gpuTensor(b, c.b), {
              ...gpuOptions(c.o),
              bias: bias ? gpuTensor(bias, [N]) : undefined,
              residual: residual ? gpuTensor(residual, ref0.shape) : undefined,
            }),
          );
          cmp.add('output', got, ref.data, 1e-4, 2e-5);
        }),
      );
    }
    for (const c of BACKWARD) {
      const s = seed;
      seed += 4;
      const outShape = refMatmul(new Float64Array(c.a.reduce((x, y) => x * y, 1)), c.a, new Float64Array(c.b.reduce((x, y) => x * y, 1)), c.b, c.o).shape;
      const N = outShape.at(-1)!;
      const inputs = [
        { data: randArray(c.a, s), shape: c.a },
        { data: randArray(c.b, s + 1), shape: c.b },
      ];
      // the optional inputs in a fixed order: bias, then residual (absent ones are undefined)
      const names = ['A', 'B'];
      if (c.bias) {
        inputs.push({ data: randArray([N], s + 2), shape: [N] });
        names.push('bias');
      }
      if (c.residual) {
        inputs.push({ data: randArray(outShape, s + 3), shape: outShape });
        names.push('residual');
      }
      const split = <T>(rest: T[]) => ({ bias: c.bias ? rest[0] : undefined, residual: c.residual ? rest[c.bias ? 1 : 0] : undefined });
      out.push(
        backwardCheck({ op: 'matmul', shapes: shapesText(c.a, c.b) + describeOpts(c), quick: c.quick }, v, {
          inputs,
          names,
          gpuFn: (a, b, ...rest) => matmul(a, b, { ...gpuOptions(c.o), ...split(rest) }),
          refFn: (a, b, ...rest) => refMatmul(a, c.a, b, c.b, { ...c.o, ...split(rest) }).data,
          rtol: 5e-3,
          atol: 5e-4,
        }),
      );
    }
  }
  return out;
}
