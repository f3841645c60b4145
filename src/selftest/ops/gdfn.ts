/** The GDFN core (depthwise 3×3 then GELU(y₁)·y₂) with every tiling forced: row chunks, weight-gradient units, rows as quads or one value per access. */
import { gatedDepthwiseGelu } from '../../kernels/gdfn.js';
import type { SelftestCheck } from '../check.js';
import { refGdfn, type Shape4 } from '../reference/gdfn.js';
import { backwardCheck, DEFAULT_VARIANT, forwardCheck, gpuTensor, gpuValues, randArray, shapesText, type Variant } from './common.js';

const VARIANTS: Variant[] = [
  DEFAULT_VARIANT,
  { variant: '3-row chunks, 2 units', quick: false, tuning: { gdfn: { rowsPerChunk: 3, unitsPerInvocation: 2 } } },
  { variant: '5-row chunks, 1 unit, values one by one', tuning: { gdfn: { rowsPerChunk: 5, unitsPerInvocation: 1, quads: false } } },
  { variant: '1-row chunks, 7 units', quick: false, tuning: { gdfn: { rowsPerChunk: 1, unitsPerInvocation: 7 } } },
];

export function gdfnChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  const shapes: Array<{ shape: Shape4; quick?: boolean }> = [{ shape: [2, 6, 13, 11], quick: true }, { shape: [1, 2, 1, 1] }, { shape: [2, 34, 28, 28] }, { shape: [1, 4, 3, 17] }];
  let seed = 4000;
  for (const v of VARIANTS) {
    for (const { shape, quick } of shapes) {
      const s = (seed += 10);
      out.push(
        forwardCheck({ op: 'gdfn', shapes: `${shapesText(shape)}`, quick }, v, async (cmp) => {
          const x = randArray(shape, s, -1.5, 1.5);
          const w = randArray([shape[1], 1, 3, 3], s + 1, -0.6, 0.6);
          const got = await gpuValues(() => gatedDepthwiseGelu(gpuTensor(x, shape), gpuTensor(w, [shape[1], 1, 3, 3])));
          cmp.add('output', got, refGdfn(x, w, shape), 1e-4, 1e-6);
        }),
      );
    }
    const shape: Shape4 = [2, 4, 5, 6];
    const s = (seed += 10);
    out.push(
      backwardCheck({ op: 'gdfn', shapes: shapesText(shape), quick: true }, v, {
        inputs: [
          { data: randArray(shape, s, -1.5, 1.5), shape },
          { data: randArray([shape[1], 1, 3, 3], s + 1, -0.6, 0.6), shape: [shape[1], 1, 3, 3] },
        ],
        names: ['x', 'weight'],
        gpuFn: (x, w) => gatedDepthwiseGelu(x, w),
        refFn: (x, w) => refGdfn(x, w, shape),
      }),
    );
  }
  return out;
}
