/**
 * Layout ops: permute with the tiled (workgroup-memory) and the strided kernel; narrow, concat
 * and zero padding of one contiguous block as buffer commands and as kernels; pixel shuffle and
 * unshuffle.
 */
import { concat, narrow, pad, permute } from '../../kernels/layout.js';
import { pixelShuffle, pixelUnshuffle } from '../../kernels/pixel-shuffle.js';
import type { SelftestCheck } from '../check.js';
import { refConcat, refPad, refPermute, refSlice } from '../reference/layout.js';
import { shuffleRef, unshuffleRef, type Shape4 } from '../reference/pixel-shuffle.js';
import { backwardCheck, DEFAULT_VARIANT, forwardCheck, gpuTensor, gpuValues, randArray, shapesText, type Variant } from './common.js';

const PERMUTE_VARIANTS: Variant[] = [
  { variant: 'tiled', tuning: { permute: { tiled: true } } },
  { variant: 'strided', tuning: { permute: { tiled: false } } },
];

const BLOCK_VARIANTS: Variant[] = [
  { variant: 'buffer commands', tuning: { layout: { copyCommands: true } } },
  { variant: 'kernels', tuning: { layout: { copyCommands: false } } },
];

export function layoutChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const cases: Array<{ shape: number[]; perm: number[]; quick?: boolean }> = [
    { shape: [70, 33], perm: [1, 0], quick: true },
    { shape: [3, 37, 45], perm: [0, 2, 1], quick: true },
    { shape: [2, 3, 40, 50], perm: [2, 3, 0, 1] },
    { shape: [2, 1, 65, 17], perm: [1, 0, 3, 2] },
    { shape: [3, 20, 7, 18], perm: [0, 2, 1, 3] },
    { shape: [2, 3, 1, 4, 3], perm: [4, 0, 3, 1, 2] },
    { shape: [64, 3136], perm: [1, 0] },
  ];
  let seed = 7000;
  for (const v of PERMUTE_VARIANTS) {
    for (const c of cases) {
      const s = (seed += 1);
      out.push(
        forwardCheck({ op: 'permute', shapes: `${shapesText(c.shape)} → (${c.perm.join(', ')})`, quick: c.quick }, v, async (cmp) => {
          const x = randArray(c.shape, s);
          const got = await gpuValues(() => permute(gpuTensor(x, c.shape), c.perm));
          cmp.add('output', got, refPermute(x, c.shape, c.perm), 0, 0);
        }),
      );
    }
    const shape = [3, 4, 5];
    out.push(
      backwardCheck({ op: 'permute', shapes: `${shapesText(shape)} → (2, 0, 1)`, quick: true }, v, {
        inputs: [{ data: randArray(shape, seed + 50), shape }],
        names: ['x'],
        gpuFn: (x) => permute(x, [2, 0, 1]),
        refFn: (x) => refPermute(x, shape, [2, 0, 1]),
      }),
    );
  }
  // one contiguous block: narrow and concat along axis 0 (or after axes of 1), zeros around it
  for (const v of BLOCK_VARIANTS) {
    const s = (seed += 1);
    const shape = [7, 6, 5];
    out.push(
      forwardCheck({ op: 'narrow/concat/pad', shapes: `${shapesText(shape)} axis 0, [1, 7, 30] axis 1`, quick: true }, v, async (cmp) => {
        const x = randArray(shape, s);
        const part = refSlice(x, shape, [2, 0, 0], [3, 6, 5]);
        cmp.add('narrow', await gpuValues(() => narrow(gpuTensor(x, shape), 0, 2, 3)), part, 0, 0);
        const joined = refConcat(
          [
            { data: part, shape: [3, 6, 5] },
            { data: x, shape },
          ],
          0,
        );
        cmp.add('concat', await gpuValues(() => concat([gpuTensor(part, [3, 6, 5]), gpuTensor(x, shape)], 0)), joined, 0, 0);
        const pads: Array<[number, number]> = [
          [0, 0],
          [3, 2],
          [0, 0],
        ];
        cmp.add('pad', await gpuValues(() => pad(gpuTensor(x, [1, 7, 30]), pads, 'constant', 0)), refPad(x, [1, 7, 30], pads, 'constant', 0), 0, 0);
      }),
    );
    out.push(
      backwardCheck({ op: 'narrow', shapes: `${shapesText([6, 4])} axis 0`, quick: true }, v, {
        inputs: [{ data: randArray([6, 4], s + 50), shape: [6, 4] }],
        names: ['x'],
        gpuFn: (x) => narrow(x, 0, 1, 3),
        refFn: (x) => refSlice(x, [6, 4], [1, 0], [3, 4]),
      }),
    );
  }
  const ps: Array<{ x: Shape4; r: number; quick?: boolean }> = [
    { x: [2, 8, 3, 5], r: 2, quick: true },
    { x: [1, 27, 4, 2], r: 3 },
  ];
  for (const c of ps) {
    const s = (seed += 1);
    const n = c.x.reduce((a, b) => a * b, 1);
    const up: Shape4 = [c.x[0], c.x[1] / (c.r * c.r), c.x[2] * c.r, c.x[3] * c.r];
    out.push(
      forwardCheck({ op: 'pixelShuffle', shapes: `${shapesText(c.x)} r ${c.r}`, quick: c.quick }, DEFAULT_VARIANT, async (cmp) => {
        const x = randArray([n], s);
        cmp.add('shuffle', await gpuValues(() => pixelShuffle(gpuTensor(x, c.x), c.r)), shuffleRef(x, c.x, c.r), 0, 0);
        cmp.add('unshuffle', await gpuValues(() => pixelUnshuffle(gpuTensor(x, up), c.r)), unshuffleRef(x, up, c.r), 0, 0);
      }),
    );
    out.push(
      backwardCheck({ op: 'pixelShuffle', shapes: `${shapesText(c.x)} r ${c.r}`, quick: c.quick }, DEFAULT_VARIANT, {
        inputs: [{ data: randArray([n], s + 1), shape: [...c.x] }],
        names: ['x'],
        gpuFn: (x) => pixelShuffle(x, c.r),
        refFn: (x) => shuffleRef(x, c.x, c.r),
      }),
    );
  }
  return out;
}
