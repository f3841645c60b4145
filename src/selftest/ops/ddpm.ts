/**
 * The diffusion ops: the fused reverse chain (subgroup kernel with 8, 16 or 32 batch rows per
 * workgroup, portable kernel) against a float64 chain, and one differentiable reverse step
 * against finite differences.
 */
import { noGrad } from '../../autograd/engine.js';
import { ddpmCoefficients, ddpmSampleFused, ddpmSchedule, ddpmStep, type DdpmParameterisation } from '../../kernels/ddpm.js';
import type { SelftestCheck } from '../check.js';
import { refDdpmChain, refDdpmStep, type RefDenoiser } from '../reference/ddpm.js';
import { backwardCheck, forwardCheck, gpuTensor, gpuValues, maxAbs, randArray, shapesText, type Variant } from './common.js';

const VARIANTS: Variant[] = [
  { variant: 'subgroup, rows by batch', tuning: { ddpm: { path: 'subgroup', rows: null } } },
  { variant: 'subgroup, 8 rows', quick: false, tuning: { ddpm: { path: 'subgroup', rows: 8 } } },
  { variant: 'subgroup, 16 rows', quick: false, tuning: { ddpm: { path: 'subgroup', rows: 16 } } },
  { variant: 'subgroup, 32 rows', quick: false, tuning: { ddpm: { path: 'subgroup', rows: 32 } } },
  { variant: 'portable', tuning: { ddpm: { path: 'portable' } } },
];

interface ChainCase {
  B: number;
  C: number;
  W: number;
  hidden: number;
  T: number;
  param: DdpmParameterisation;
  quick?: boolean;
}

const CASES: ChainCase[] = [
  { B: 17, C: 32, W: 64, hidden: 1, T: 4, param: 'eps', quick: true },
  { B: 40, C: 32, W: 64, hidden: 0, T: 4, param: 'x0' },
  { B: 3, C: 5, W: 8, hidden: 2, T: 7, param: 'eps' },
  { B: 2, C: 33, W: 20, hidden: 1, T: 32, param: 'x0' },
];

/** A denoiser with weights ~ U(±1.5/√fan_in) (the chain stays tame), as float64 and as tensors. */
function makeNet(c: ChainCase, seed: number): RefDenoiser {
  const lin = (out: number, inp: number, s: number) => ({ w: randArray([out, inp], s, -1.5 / Math.sqrt(inp), 1.5 / Math.sqrt(inp)), b: randArray([out], s + 1, -0.2, 0.2) });
  const l1 = lin(c.W, 2 * c.C + 1, seed);
  const l2 = lin(c.C, c.W, seed + 50);
  return { w1: l1.w, b1: l1.b, hidden: Array.from({ length: c.hidden }, (_, i) => lin(c.W, c.W, seed + 10 + 2 * i)), w2: l2.w, b2: l2.b, width: c.W };
}

export function ddpmChecks(): SelftestCheck[] {
  const out: SelftestCheck[] = [];
  let seed = 5000;
  for (const v of VARIANTS) {
    for (const c of CASES) {
      const s = (seed += 100);
      out.push(
        forwardCheck({ op: 'ddpmChain', shapes: `B ${c.B}, C ${c.C}, W ${c.W}, ${c.hidden} hidden, T ${c.T}, ${c.param}`, quick: c.quick }, v, async (cmp) => {
          const net = makeNet(c, s);
          const cond = randArray([c.B, c.C], s + 60);
          const zT = randArray([c.B, c.C], s + 70, -2, 2);
          const sched = ddpmSchedule(c.T);
          const coefs = Array.from({ length: c.T }, (_, i) => ddpmCoefficients(sched, i + 1, c.param));
          const got = await gpuValues(() =>
            noGrad(() =>
              ddpmSampleFused(
                gpuTensor(cond, [c.B, c.C]),
                {
                  w1: gpuTensor(net.w1, [c.W, 2 * c.C + 1]),
                  b1: gpuTensor(net.b1, [c.W]),
                  hidden: net.hidden.map((l) => ({ w: gpuTensor(l.w, [c.W, c.W]), b: gpuTensor(l.b, [c.W]) })),
                  w2: gpuTensor(net.w2, [c.C, c.W]),
                  b2: gpuTensor(net.b2, [c.C]),
                },
                sched,
                { zT: gpuTensor(zT, [c.B, c.C]), param: c.param },
              ),
            ),
          );
          const want = refDdpmChain(zT, cond, c.B, c.C, net, coefs);
          // the ddpm tests' rule: 1e-4 relative, 1e-4 of the largest magnitude absolute
          cmp.add('Ẑ₀', got, want, 1e-4, 1e-4 * maxAbs(want));
        }),
      );
    }
  }
  const sched = ddpmSchedule(4);
  for (const param of ['eps', 'x0'] as const) {
    for (const t of [1, 3]) {
      const shape = [3, 4];
      out.push(
        backwardCheck(
          { op: 'ddpmStep', shapes: `${shapesText(shape)}, t ${t}, ${param}, σ·noise`, quick: param === 'eps' && t === 3 },
          { variant: 'default' },
          {
            inputs: [
              { data: randArray(shape, 10 + t), shape },
              { data: randArray(shape, 20 + t), shape },
              { data: randArray(shape, 30 + t), shape, grad: false },
            ],
            names: ['zt', 'prediction', 'noise'],
            gpuFn: (z, e, nz) => ddpmStep(z, e, t, sched, { param, sigma: 0.5, noise: nz }),
            refFn: (z, e, nz) => refDdpmStep(z, e, ddpmCoefficients(sched, t, param), 0.5, nz),
          },
        ),
      );
    }
  }
  return out;
}
