/** Elementwise ops: the unary activations and functions, broadcast binary ops and the per-channel affine map, forward and backward. */
import type { Tensor } from '../../autograd/tensor.js';
import { exp, log, sqrt, gelu, sigmoid, tanh, silu, quickGelu, leakyRelu, pow, add, sub, mul, div, maximum } from '../../kernels/elementwise.js';
import type { SelftestCheck } from '../check.js';
import { gelu as gelu64, geluTanh as geluTanh64, sigmoid as sigmoid64 } from '../reference/special.js';
import { refBinary } from '../reference/elementwise.js';
import { channelAffine } from '../../kernels/channel-affine.js';
import { refChannelAffine } from '../reference/channel-affine.js';
import { backwardCheck, DEFAULT_VARIANT, forwardCheck, gpuTensor, gpuValues, randArray, shapesText } from './common.js';

interface Unary {
  name: string;
  fn: (x: Tensor) => Tensor;
  ref: (v: number) => number;
  lo: number;
  hi: number;
  quick?: boolean;
}

const UNARY: Unary[] = [
  { name: 'exp', fn: exp, ref: Math.exp, lo: -5, hi: 5, quick: true },
  { name: 'log', fn: log, ref: Math.log, lo: 0.05, hi: 5 },
  { name: 'sqrt', fn: sqrt, ref: Math.sqrt, lo: 0.05, hi: 5 },
  { name: 'pow 1.5', fn: (x) => pow(x, 1.5), ref: (v) => v ** 1.5, lo: 0.05, hi: 4 },
  { name: 'gelu', fn: (x) => gelu(x), ref: gelu64, lo: -6, hi: 6, quick: true },
  { name: 'gelu (tanh)', fn: (x) => gelu(x, 'tanh'), ref: geluTanh64, lo: -6, hi: 6 },
  { name: 'quickGelu', fn: quickGelu, ref: (v) => v * sigmoid64(1.702 * v), lo: -6, hi: 6 },
  { name: 'sigmoid', fn: sigmoid, ref: sigmoid64, lo: -8, hi: 8 },
  { name: 'tanh', fn: tanh, ref: Math.tanh, lo: -4, hi: 4 },
  { name: 'silu', fn: silu, ref: (v) => v * sigmoid64(v), lo: -6, hi: 6 },
  { name: 'leakyRelu 0.2', fn: (x) => leakyRelu(x, 0.2), ref: (v) => (v > 0 ? v : 0.2 * v), lo: -3, hi: 3 },
];

interface Binary {
  name: string;
  fn: (a: Tensor, b: Tensor) => Tensor;
  ref: (x: number, y: number) => number;
  quick?: boolean;
}

const BINARY: Binary[] = [
  { name: 'add', fn: add, ref: (x, y) => x + y, quick: true },
  { name: 'sub', fn: sub, ref: (x, y) => x - y },
  { name: 'mul', fn: mul, ref: (x, y) => x * y, quick: true },
  { name: 'div', fn: div, ref: (x, y) => x / y },
  { name: 'maximum', fn: maximum, ref: Math.max },
];

/** Operands away from the awkward points: divisors away from 0, maximum's sides on interleaved grids (no ties). */
function operand(name: string, shape: number[], seed: number, side: 'a' | 'b'): Float64Array {
  const d = randArray(shape, seed, -2, 2);
  if (name === 'div' && side === 'b') return d.map((v) => Math.fround(Math.sign(v || 1) * (0.5 + Math.abs(v))));
  if (name === 'maximum') return d.map((v) => Math.fround(Math.floor(v * 10) / 10 + (side === 'a' ? 0.03 : 0.08)));
  return d;
}

export function elementwiseChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  let seed = 9800;
  for (const u of UNARY) {
    const s = (seed += 2);
    out.push(
      forwardCheck({ op: u.name, shapes: `${shapesText([3, 257])}, ${shapesText([4096])}`, quick: u.quick }, DEFAULT_VARIANT, async (cmp) => {
        for (const shape of [[3, 257], [4096]]) {
          const x = randArray(shape, s + shape.length, u.lo, u.hi);
          cmp.add(`${u.name} ${shapesText(shape)}`, await gpuValues(() => u.fn(gpuTensor(x, shape))), Array.from(x, u.ref), 2e-5, 2e-6);
        }
      }),
    );
    out.push(
      backwardCheck({ op: u.name, shapes: shapesText([2, 7]), quick: u.quick }, DEFAULT_VARIANT, {
        inputs: [{ data: randArray([2, 7], s + 1, Math.max(u.lo, -3), Math.min(u.hi, 3)).map((v) => (Math.abs(v) < 0.05 ? 0.05 : v)), shape: [2, 7] }],
        names: ['x'],
        gpuFn: u.fn,
        refFn: (x) => x.map(u.ref),
      }),
    );
  }
  const pairs: Array<[number[], number[]]> = [
    [[3, 5], [5]],
    [
      [2, 1, 4],
      [3, 1],
    ],
    [
      [1, 257],
      [7, 1],
    ],
  ];
  for (const b of BINARY) {
    const s = (seed += 10);
    out.push(
      forwardCheck({ op: b.name, shapes: pairs.map(([x, y]) => shapesText(x, y)).join(', '), quick: b.quick }, DEFAULT_VARIANT, async (cmp) => {
        let k = 0;
        for (const [sa, sb] of pairs) {
          const ad = operand(b.name, sa, s + k++, 'a');
          const bd = operand(b.name, sb, s + k++, 'b');
          const ref = refBinary(ad, sa, bd, sb, b.ref);
          cmp.add(`${b.name} ${shapesText(sa, sb)}`, await gpuValues(() => b.fn(gpuTensor(ad, sa), gpuTensor(bd, sb))), ref.out, 1e-6, 1e-7);
        }
      }),
    );
    const [sa, sb] = [
      [2, 3, 4],
      [3, 1],
    ];
    out.push(
      backwardCheck({ op: b.name, shapes: shapesText(sa, sb), quick: b.quick }, DEFAULT_VARIANT, {
        inputs: [
          { data: operand(b.name, sa, s + 7, 'a'), shape: sa },
          { data: operand(b.name, sb, s + 8, 'b'), shape: sb },
        ],
        names: ['a', 'b'],
        gpuFn: (x, y) => b.fn(x, y),
        refFn: (x, y) => refBinary(x, sa, y, sb, b.ref).out,
      }),
    );
  }
  // the per-(image, channel) affine map: planes of whole quads (vec4 kernels) and not
  for (const shape of [
    [2, 3, 4, 6],
    [2, 3, 3, 5],
  ]) {
    const s = (seed += 10);
    const kShape = [shape[0], 2 * shape[1]];
    out.push(
      forwardCheck({ op: 'channelAffine', shapes: shapesText(shape, kShape), quick: true }, DEFAULT_VARIANT, async (cmp) => {
        const x = randArray(shape, s, -2, 2);
        const k = randArray(kShape, s + 1, -2, 2);
        cmp.add('output', await gpuValues(() => channelAffine(gpuTensor(x, shape), gpuTensor(k, kShape))), refChannelAffine(x, k, shape), 1e-6, 1e-6);
      }),
    );
    out.push(
      backwardCheck({ op: 'channelAffine', shapes: shapesText(shape, kShape), quick: true }, DEFAULT_VARIANT, {
        inputs: [
          { data: randArray(shape, s + 2, -2, 2), shape },
          { data: randArray(kShape, s + 3, -2, 2), shape: kShape },
        ],
        names: ['x', 'k'],
        gpuFn: (x, k) => channelAffine(x, k),
        refFn: (x, k) => refChannelAffine(x, k, shape),
      }),
    );
  }
  return out;
}
