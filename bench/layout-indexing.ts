/**
 * Timings of the layout and indexing kernels: `npx tsx bench/layout-indexing.ts`.
 * Wall time per call after a warm-up, with the GPU synchronised around each timed loop.
 * The tiled transpose is compared with the generic strided kernel doing the same transpose.
 */
import { initNode, tensor, empty, tidy, backward, permute, embedding, indexSelect, gather, fillInPlace, type Tensor, type GpuContext } from '../src/node.js';
import { ND_VEC, ndConstants, ndInverses } from '../src/kernels/util.js';

async function time(ctx: GpuContext, reps: number, fn: () => void): Promise<number> {
  fn();
  await ctx.sync();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) fn();
  await ctx.sync();
  return (performance.now() - t0) / reps;
}

function ints(n: number, hi: number, seed: number): Int32Array {
  let s = seed >>> 0;
  return Int32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % hi;
  });
}

/** ms per backward of `op(x)` for an upstream gradient of ones (the forward is included). */
async function backwardTime(ctx: GpuContext, reps: number, x: Tensor, op: (x: Tensor) => Tensor): Promise<number> {
  x.requiresGrad = true;
  const y0 = tidy(() => op(x));
  const g = fillInPlace(empty(y0.shape), 1);
  y0.dispose();
  const ms = await time(ctx, reps, () => {
    const y = tidy(() => op(x));
    backward(y, { grad: g });
    y.dispose();
    x.grad?.dispose();
    x.grad = null;
  });
  g.dispose();
  return ms;
}

const ctx = await initNode();
console.log(`device: ${ctx.adapter.summary}`);
const rows: Array<[string, number]> = [];

{
  const [B, R, C] = [16, 256, 384];
  const x = fillInPlace(empty([B, R, C]), 1);
  rows.push([`permute [${B}, ${R}, ${C}] -> [0, 2, 1], tiled`, await time(ctx, 10, () => permute(x, [0, 2, 1]).dispose())]);
  rows.push([
    `same transpose, generic strided kernel`,
    await time(ctx, 10, () => {
      const y = empty([B, C, R]);
      ctx.dispatch(
        { shader: 'slice', entry: 'strided', constants: ndConstants([B, C, R], y.size) },
        {
          bindings: { x: x.buffer, y: y.buffer },
          uniforms: { n: y.size, base: 0, shape: [B, C, R, 0, 0, 0, 0, 0], strides: [R * C, 1, C, 0, 0, 0, 0, 0], inv: ndInverses([B, C, R], 'strided') },
          workgroups: ctx.grid(Math.ceil(y.size / ND_VEC / 256)),
        },
      );
      y.dispose();
    }),
  ]);
  rows.push([`permute [${B}, ${R}, 8, 48] -> [0, 2, 1, 3] (head split)`, await time(ctx, 10, () => permute(x.view([B, R, 8, 48]), [0, 2, 1, 3]).dispose())]);
  x.dispose();
}

for (const [V, D, N] of [
  [49408, 512, 256 * 77],
  [49408, 64, 100_000],
]) {
  const w = fillInPlace(empty([V, D]), 0.5);
  const ids = tensor(ints(N, V, 7), [N], 'i32');
  rows.push([`embedding forward  V=${V} D=${D} ids=${N}`, await time(ctx, 5, () => embedding(w, ids).dispose())]);
  rows.push([`embedding fwd+bwd  V=${V} D=${D} ids=${N}`, await backwardTime(ctx, 3, w, (t) => embedding(t, ids))]);
  w.dispose();
  ids.dispose();
}

{
  const table = fillInPlace(empty([169, 6]), 0.5);
  const idx = tensor(ints(2401, 169, 3), [2401], 'i32');
  rows.push([`indexSelect fwd+bwd 169×6 table, 2401 indices`, await backwardTime(ctx, 20, table, (t) => indexSelect(t, 0, idx))]);
  table.dispose();
  idx.dispose();
}

{
  const logits = fillInPlace(empty([64, 49408]), 0.5);
  const cls = tensor(ints(64, 49408, 5), [64, 1], 'i32');
  rows.push([`gather fwd+bwd class logits [64, 49408]`, await backwardTime(ctx, 5, logits, (t) => gather(t, 1, cls))]);
  logits.dispose();
  cls.dispose();
}

for (const [name, ms] of rows) console.log(`${name.padEnd(56)} ${ms.toFixed(2).padStart(9)} ms`);
ctx.dispose();
