/**
 * The two paths of a convolution with one group, side by side on the 3×3 convolutions of an
 * LRDif training step: the direct kernel (shaders/conv2d.wgsl) and the matrix product
 * (src/kernels/conv-gemm.ts: im2col, the matmul kernels, col2im). For each geometry (taken from
 * the step's dispatches: its forward convolutions and the stride-1 problems of their data
 * gradients), the two paths alternate in one process; the figures are medians of wall ms, the
 * forward and the backward (dx and dweight) apart. This is what `ctx.tuning.conv`'s default
 * choice rests on (conv-gemm.ts `usesGemm`: the backward from 32 output channels, the forward
 * from 64, or from 32 when strided).
 *
 *   npx tsx bench/conv-paths.ts [--config tiny|reference] [--reps 5]
 */
import { parseArgs } from 'node:util';
import { initNode, engine, conv2d, backward, sum, tidy, randomNormal } from '../src/node.js';

const { values } = parseArgs({ options: { config: { type: 'string', default: 'tiny' }, reps: { type: 'string', default: '5' } } });
const reps = Number(values.reps);

/** [N, C, H, W, O, stride], padding 1, 3×3. */
const GEOMETRIES: Record<string, number[][]> = {
  tiny: [
    [16, 8, 56, 56, 4, 1],
    [16, 4, 56, 56, 8, 1],
    [16, 16, 28, 28, 8, 1],
    [16, 8, 28, 28, 16, 1],
    [16, 32, 14, 14, 16, 1],
    [16, 16, 14, 14, 32, 1],
    [16, 64, 7, 7, 128, 1],
    [16, 128, 7, 7, 64, 1],
    [16, 32, 14, 14, 64, 1],
    [16, 64, 14, 14, 32, 1],
    [16, 32, 28, 28, 32, 2],
    [16, 32, 14, 14, 32, 2],
    [16, 64, 14, 14, 32, 2],
  ],
  reference: [
    [8, 48, 56, 56, 24, 1],
    [8, 24, 56, 56, 48, 1],
    [8, 96, 28, 28, 48, 1],
    [8, 48, 28, 28, 96, 1],
    [8, 192, 14, 14, 96, 1],
    [8, 96, 14, 14, 192, 1],
    [8, 384, 7, 7, 768, 1],
    [8, 768, 7, 7, 384, 1],
    [8, 192, 14, 14, 384, 1],
    [8, 384, 14, 14, 192, 1],
    [8, 160, 28, 28, 256, 2],
    [8, 256, 14, 14, 256, 2],
    [8, 320, 14, 14, 256, 2],
  ],
};

const geometries = GEOMETRIES[values.config!];
if (!geometries) throw new Error(`conv-paths: --config must be one of ${Object.keys(GEOMETRIES).join(', ')}, got '${values.config}'`);
if (!Number.isInteger(reps) || reps < 1) throw new Error(`conv-paths: --reps must be a positive integer, got '${values.reps}'`);

const ctx = await initNode();
const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
type Path = 'direct' | 'gemm';

console.log(`${values.config}: 3×3 convolutions, padding 1, medians of ${reps} alternating runs (wall ms) on ${ctx.adapter.summary}`);
console.log('| N, C, H, W → O, stride | GFLOP forward | forward direct | forward gemm | backward direct | backward gemm | direct / gemm, both |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const [n, c, h, w, o, s] of geometries) {
  const x = randomNormal([n, c, h, w]);
  x.requiresGrad = true;
  const weight = randomNormal([o, c, 3, 3]);
  weight.requiresGrad = true;
  const times: Record<Path, { f: number[]; b: number[] }> = { direct: { f: [], b: [] }, gemm: { f: [], b: [] } };
  const run = async (path: Path): Promise<[number, number]> => {
    const restore = ctx.setTuning({ conv: { path } });
    try {
      await ctx.sync();
      let t0 = performance.now();
      const y = tidy(() => conv2d(x, weight, null, { stride: s, padding: 1 }));
      await ctx.sync();
      const forward = performance.now() - t0;
      const loss = tidy(() => sum(y));
      await ctx.sync();
      t0 = performance.now();
      backward(loss);
      await x.grad!.data();
      await weight.grad!.data();
      const back = performance.now() - t0;
      for (const t of [loss, y, x.grad!, weight.grad!]) t.dispose();
      x.grad = null;
      weight.grad = null;
      engine.clearTape();
      return [forward, back];
    } finally {
      restore();
    }
  };
  // warm-up (pipelines), then ABBA
  for (const p of ['direct', 'gemm', 'direct', 'gemm'] as Path[]) await run(p);
  for (let i = 0; i < reps; i++) {
    for (const p of (i % 2 ? ['gemm', 'direct'] : ['direct', 'gemm']) as Path[]) {
      const [f, b] = await run(p);
      times[p].f.push(f);
      times[p].b.push(b);
    }
  }
  const oh = Math.floor((h - 1) / s) + 1;
  const ow = Math.floor((w - 1) / s) + 1;
  const gflop = (2 * n * o * c * 9 * oh * ow) / 1e9;
  const d = times.direct;
  const g = times.gemm;
  const both = (median(d.f) + median(d.b)) / (median(g.f) + median(g.b));
  const f1 = (v: number) => v.toFixed(1);
  console.log(
    `| ${n}, ${c}, ${h}, ${w} → ${o}, ${s} | ${gflop.toFixed(3)} | ${f1(median(d.f))} | ${f1(median(g.f))} | ${f1(median(d.b))} | ${f1(median(g.b))} | ${both.toFixed(2)}× |`,
  );
  x.dispose();
  weight.dispose();
}
ctx.dispose();
