/**
 * Throughput of the image degradations: `npx tsx bench/degrade.ts [--batch 64] [--size 112] [--reps 5]`.
 * A batch of N×3×S×S images in [0, 1]; median wall time per batch over the repetitions after a
 * warm-up, the GPU synchronised around each one; reported as images/s. Also times the two PSF
 * convolution paths (direct depthwise conv2d vs FFT) at several sizes, which calibrates
 * `FFT_COST_FACTOR` in src/data/degrade/udc.ts, and the PSF computation itself.
 */
import { initNode, tidy, type GpuContext } from '../src/node.js';
import { degradeBatch, imageSeed, convolvePsf, computePsf, clearPsfCache, useFftConvolution, DEFAULT_DISPLAY } from '../src/data/degrade/index.js';
import { randomUniform, Generator } from '../src/kernels/random.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

async function median(ctx: GpuContext, reps: number, fn: () => void): Promise<number> {
  fn();
  await ctx.sync();
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    await ctx.sync();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const ctx = await initNode();
const batch = arg('batch', 64);
const size = arg('size', 112);
const reps = arg('reps', 5);
console.log(`device: ${ctx.adapter.summary}`);
console.log(`batch ${batch} × 3 × ${size} × ${size}, median of ${reps} after a warm-up`);

const gen = new Generator(1);
const x = randomUniform([batch, 3, size, size], { generator: gen });
const seeds = Array.from({ length: batch }, (_, i) => imageSeed(0, i));

for (const kind of ['udc', 'lowlight'] as const) {
  const ms = await median(ctx, reps, () => {
    const { images } = degradeBatch(x, kind, {}, seeds);
    images.dispose();
  });
  console.log(`${kind.padEnd(9)} ${ms.toFixed(1).padStart(8)} ms/batch  ${((batch * 1000) / ms).toFixed(1).padStart(8)} images/s`);
}

{
  clearPsfCache(ctx);
  const ms = await median(ctx, 3, () => {
    const p = computePsf(DEFAULT_DISPLAY, size);
    p.kernel.dispose();
    p.inCrop.dispose();
  });
  console.log(`PSF (3 wavelengths, ${size} px images) ${ms.toFixed(1)} ms`);
}

console.log('PSF convolution, direct vs FFT (ms per batch):');
for (const [n, s, k] of [
  [batch, size, 31],
  [batch, size, 15],
  [8, 224, 63],
  [2, 448, 125],
] as Array<[number, number, number]>) {
  const xi = randomUniform([n, 3, s, s], { generator: gen });
  const psf = tidy(() => randomUniform([3, k, k], { generator: gen }));
  const direct = await median(ctx, Math.min(reps, 3), () => convolvePsf(xi, psf, 'direct').dispose());
  const fft = await median(ctx, Math.min(reps, 3), () => convolvePsf(xi, psf, 'fft').dispose());
  console.log(`  [${n}, 3, ${s}, ${s}] k ${k}: direct ${direct.toFixed(1)}, fft ${fft.toFixed(1)}, auto picks ${useFftConvolution(s, s, k) ? 'fft' : 'direct'}`);
  xi.dispose();
  psf.dispose();
}
x.dispose();
clearPsfCache(ctx);
ctx.dispose();
