/**
 * Timings of the data pipeline: `npx tsx bench/data-pipeline.ts [--reps 5] [--batch 64]`.
 * Medians over the repetitions after a warm-up, the GPU synchronised around each one:
 * - resize kernels: a batch of 100×100 faces to 112×112 (bilinear, antialias), its backward,
 *   a 1920×1367 photo through CLIP preprocessing (Pillow-exact 8-bit bicubic), and a
 *   batch to 224×224 bicubic;
 * - GPU flip + random erasing of a [B, 3, 112, 112] batch (and a plain copy of it, for scale);
 * - the procedural face generator (render, and render + PNG encode), images/s;
 * - DataLoader throughput over a generated folder dataset, with and without prefetch, alone
 *   and with a simulated training step (GPU work awaited per batch).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initNode, tidy, backward, resize, randomFlipErase, randomUniform, matmul, reshape, clone, clipPreprocess, Generator, type GpuContext, type Tensor } from '../src/node.js';
import { readImageFile, encodePng } from '../src/io/image-node.js';
import { syntheticFace } from '../src/data/synthetic-faces.js';
import { writeSyntheticDataset } from '../src/data/synthetic-faces-node.js';
import { loadImageFolder } from '../src/data/datasets/index.js';
import { nodeDataSource } from '../src/data/datasets/source-node.js';
import { DataLoader } from '../src/data/loader.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function med(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function median(ctx: GpuContext, reps: number, fn: () => void | Promise<void>): Promise<number> {
  await fn();
  await ctx.sync();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    await ctx.sync();
    times.push(performance.now() - t0);
  }
  return med(times);
}

const reps = arg('reps', 5);
const B = arg('batch', 64);
const ctx = await initNode();
console.log(`device: ${ctx.adapter.summary}; median of ${reps} after a warm-up; batch ${B}`);
const rows: Array<[string, string]> = [];
const ms = (v: number) => `${v.toFixed(1)} ms`;

{
  const x = randomUniform([B, 3, 100, 100], { generator: new Generator(1) });
  rows.push([`resize [${B},3,100,100] → 112² bilinear antialias`, ms(await median(ctx, reps, () => resize(x, 112, 112, { antialias: true }).dispose()))]);
  x.requiresGrad = true;
  rows.push([
    `  forward + backward`,
    ms(
      await median(ctx, reps, () => {
        const y = tidy(() => resize(x, 112, 112, { antialias: true }));
        backward(y, { grad: tidy(() => randomUniform(y.shape, { generator: new Generator(2) })) });
        y.dispose();
        x.grad?.dispose();
        x.grad = null;
      }),
    ),
  ]);
  x.dispose();
  const y = randomUniform([B, 3, 112, 112], { generator: new Generator(3) });
  rows.push([`resize [${B},3,112,112] → 224² bicubic`, ms(await median(ctx, reps, () => resize(y, 224, 224, { mode: 'bicubic' }).dispose()))]);
  rows.push([`copy [${B},3,112,112] (elementwise identity, for scale)`, ms(await median(ctx, reps, () => clone(y).dispose()))]);
  rows.push([`flip + random erasing [${B},3,112,112]`, ms(await median(ctx, reps, () => tidy(() => void randomFlipErase(y, { generator: new Generator(4) }))))]);
  y.dispose();
  const photo = readImageFile('node_modules/@vladmandic/face-api/demo/sample2.jpg');
  rows.push([`clipPreprocess 1920×1367 photo → [1,3,224,224] (upload + Pillow-exact bicubic)`, ms(await median(ctx, reps, () => clipPreprocess([photo]).dispose()))]);
}

{
  for (let i = 0; i < 10; i++) syntheticFace(1, i);
  const n = 100;
  const render: number[] = [];
  const withPng: number[] = [];
  for (let r = 0; r < reps; r++) {
    let t0 = performance.now();
    const imgs = Array.from({ length: n }, (_, i) => syntheticFace(r, i).image);
    render.push(performance.now() - t0);
    t0 = performance.now();
    for (const im of imgs) encodePng(im);
    withPng.push(render[render.length - 1] + performance.now() - t0);
  }
  rows.push([`synthetic faces 112² (render)`, `${((1000 * n) / med(render)).toFixed(0)} images/s`]);
  rows.push([`synthetic faces 112² (render + PNG encode)`, `${((1000 * n) / med(withPng)).toFixed(0)} images/s`]);
}

{
  const dir = mkdtempSync(join(tmpdir(), 'lrdif-bench-'));
  try {
    const n = 4 * B;
    await writeSyntheticDataset({ out: dir, n, seed: 1, size: 100, testFraction: 0 });
    const ds = await loadImageFolder(dir, nodeDataSource(), { testFraction: 0 });
    const w = randomUniform([112, 112], { generator: new Generator(5) });
    // a stand-in for a training step: GPU work on the batch, then a readback
    const step = async (images: Tensor) => {
      const s = tidy(() => {
        let h = matmul(reshape(images, [images.shape[0] * 3 * 112, 112]), w);
        for (let k = 0; k < 4; k++) h = matmul(h, w);
        return h;
      });
      await s.data();
      s.dispose();
    };
    for (const prefetch of [false, true]) {
      for (const train of [false, true]) {
        const loader = new DataLoader(ds, { batchSize: B, augment: true, prefetch, seed: 1 });
        let epoch = 0;
        const t = await median(ctx, Math.max(3, Math.floor(reps / 2)), async () => {
          for await (const b of loader.epoch(epoch++)) {
            if (train) await step(b.images);
            b.dispose();
          }
        });
        rows.push([
          `DataLoader ${n} PNGs 100² → 112², augment, prefetch ${prefetch ? 'on ' : 'off'}${train ? ', with a GPU step' : ''}`,
          `${((1000 * n) / t).toFixed(0)} images/s`,
        ]);
      }
    }
    w.dispose();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const width = Math.max(...rows.map((r) => r[0].length));
for (const [name, v] of rows) console.log(`${name.padEnd(width)}  ${v}`);
ctx.dispose();
