import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gpu } from './helpers/gpu.js';
import { checkGradients, gpuTensor, randArray, rng } from './helpers/ref.js';
import { Generator, philox4x32, randomFlipErase, applyFlipErase, flipEraseParams, resizeWeights, tensor, AUGMENT_UNIFORMS, type FlipEraseOptions } from '../src/node.js';
import { encodePng } from '../src/io/image-node.js';
import { downscaleImage, fitPixels, MAX_TENSOR_PIXELS, type RgbImage } from '../src/io/image.js';
import { loadImageFolder, ImageDataset, type DatasetItem } from '../src/data/datasets/index.js';
import { nodeDataSource } from '../src/data/datasets/source-node.js';
import { DataLoader } from '../src/data/loader.js';

// ---------------------------------------------------------------- CPU references

/** The GPU generator's uniforms of a draw at (seed, offset), element i = word i mod 4 of block offset + ⌊i/4⌋. */
function hostUniforms(seed: number, offset: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 4) {
    const b = offset + i / 4;
    const w = philox4x32([b % 2 ** 32, Math.floor(b / 2 ** 32), 0, 0], [seed % 2 ** 32, Math.floor(seed / 2 ** 32)]);
    for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = (w[k] >>> 8) * 2 ** -24;
  }
  return out;
}

/** Python's round (half to even). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** torchvision's RandomHorizontalFlip + RandomErasing parameter rule on one image's uniforms. */
function refParams(u: ArrayLike<number>, H: number, W: number, o: Required<FlipEraseOptions>): number[] {
  const flip = u[0] < o.flipP ? 1 : 0;
  if (!(u[1] < o.eraseP)) return [flip, 0, 0, 0, 0];
  const f = Math.fround;
  for (let a = 0; a < 10; a++) {
    const q = 2 + 4 * a;
    const area = f(H * W * f(f(o.scale[0]) + f(f(f(o.scale[1]) - f(o.scale[0])) * u[q])));
    const l0 = f(Math.log(o.ratio[0]));
    const l1 = f(Math.log(o.ratio[1]));
    const aspect = f(Math.exp(f(l0 + f(f(l1 - l0) * u[q + 1]))));
    const h = roundHalfEven(Math.sqrt(f(area * aspect)));
    const w = roundHalfEven(Math.sqrt(f(area / aspect)));
    if (h < H && w < W) return [flip, Math.floor(u[q + 2] * (H - h + 1)), Math.floor(u[q + 3] * (W - w + 1)), h, w];
  }
  return [flip, 0, 0, 0, 0];
}

/** Applies (flip, top, left, h, w) to x [B, C, H, W]. */
function refApply(x: ArrayLike<number>, shape: number[], params: ArrayLike<number>, value: number): Float64Array {
  const [B, C, H, W] = shape;
  const y = new Float64Array(B * C * H * W);
  for (let b = 0; b < B; b++) {
    const [flip, top, left, h, w] = Array.from(params).slice(5 * b, 5 * b + 5);
    for (let c = 0; c < C; c++)
      for (let i = 0; i < H; i++)
        for (let j = 0; j < W; j++) {
          const e = ((b * C + c) * H + i) * W + j;
          const erased = i >= top && i < top + h && j >= left && j < left + w;
          y[e] = erased ? value : x[((b * C + c) * H + i) * W + (flip ? W - 1 - j : j)];
        }
  }
  return y;
}

const DEFAULTS: Required<FlipEraseOptions> = { flipP: 0.5, eraseP: 0.5, scale: [0.02, 0.1], ratio: [0.3, 3.3], value: 0 };

describe('GPU flip + random erasing', () => {
  beforeAll(gpu);

  for (const [label, shape, opts] of [
    ['LRDif defaults, 64 images of 12×10', [64, 3, 12, 10], {}],
    ['large boxes on 5×6 images (rejected attempts, value 0.5)', [40, 2, 5, 6], { eraseP: 1, flipP: 0.3, scale: [0.3, 0.9], ratio: [0.2, 5], value: 0.5 }],
  ] as Array<[string, number[], FlipEraseOptions]>) {
    it(`equals the CPU reference with the same Philox draws: ${label}`, async () => {
      const o = { ...DEFAULTS, ...opts };
      const data = randArray(shape, 3);
      const x = gpuTensor(data, shape);
      const gen = new Generator(1234);
      gen.setState({ seed: 1234, offset: 77 });
      const { images, params } = randomFlipErase(x, { ...opts, generator: gen });
      expect(gen.getState().offset).toBe(77 + (shape[0] * AUGMENT_UNIFORMS) / 4);
      const gotParams = Array.from((await params.data()) as Int32Array);
      const got = (await images.data()) as Float32Array;
      const u = hostUniforms(1234, 77, shape[0] * AUGMENT_UNIFORMS);
      const want: number[] = [];
      for (let b = 0; b < shape[0]; b++) want.push(...refParams(u.subarray(b * AUGMENT_UNIFORMS, (b + 1) * AUGMENT_UNIFORMS), shape[2], shape[3], o));
      expect(gotParams).toEqual(want);
      expect(Array.from(got)).toEqual(Array.from(refApply(Float32Array.from(data), shape, want, Math.fround(o.value))));
      // both outcomes of each coin occur; erased areas follow the scale range
      const flips = want.filter((_, i) => i % 5 === 0).reduce((s, v) => s + v, 0);
      expect(flips).toBeGreaterThan(0);
      expect(flips).toBeLessThan(shape[0]);
      const erasedBoxes = Array.from({ length: shape[0] }, (_, b) => want[5 * b + 3] * want[5 * b + 4]).filter((a) => a > 0);
      expect(erasedBoxes.length).toBeGreaterThan(0);
      if (!opts.scale) {
        expect(erasedBoxes.length).toBeLessThan(shape[0]);
        for (const a of erasedBoxes) expect(a / (shape[2] * shape[3])).toBeLessThan(0.2);
      }
      for (const t of [x, images, params]) t.dispose();
    });
  }

  it('backward is the transposed flip with erased pixels zeroed (finite differences)', async () => {
    const shape = [3, 2, 4, 5];
    const params = tensor(Int32Array.from([1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 1, 0, 0, 1, 5]), [3, 5], 'i32');
    await checkGradients({
      inputs: [{ data: randArray(shape, 8), shape }],
      gpuFn: (x) => applyFlipErase(x, params, 0.25),
      refFn: (x) => refApply(x, shape, [1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 1, 0, 0, 1, 5], 0.25),
    });
    params.dispose();
  });

  it('errors name the tensors and the expected shapes', () => {
    const x = tensor(new Float32Array(2 * 3 * 4 * 4), [2, 3, 4, 4]);
    const bad = tensor(new Int32Array(6), [2, 3], 'i32');
    expect(() => applyFlipErase(x, bad)).toThrow(/params must be \[2, 5\] for images \[2, ?3, ?4, ?4\]/);
    expect(() => flipEraseParams(tensor(new Float32Array(6), [2, 3]), 4, 4)).toThrow(/uniforms must be \[B, 44\]/);
    expect(() => randomFlipErase(x, { flipP: 2 })).toThrow(/flipP must be a probability/);
    expect(() => randomFlipErase(tensor(new Float32Array(4), [4]))).toThrow(/images must be \[B, C, H, W\]/);
    x.dispose();
    bad.dispose();
  });
});

// ---------------------------------------------------------------- the loader

let root: string;
const src = nodeDataSource();
const CLASSES = ['happy', 'sad', 'surprise'];

function image(w: number, h: number, seed: number): RgbImage {
  const r = rng(seed);
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)) };
}

function write(path: string, data: Uint8Array): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, data);
}

/** 23 images of mixed sizes in three class folders, one of them corrupt. */
function makeTree(dir: string, sizes: (k: number) => [number, number], corrupt: boolean): void {
  let k = 0;
  for (const c of CLASSES) {
    for (let i = 0; i < (c === 'sad' ? 7 : 8); i++, k++) {
      const [w, h] = sizes(k);
      const bytes = corrupt && k === 9 ? new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]) : encodePng(image(w, h, k));
      write(join(dir, c, `${String(k).padStart(3, '0')}.png`), bytes);
    }
  }
}

async function collect(loader: DataLoader, epoch: number): Promise<Array<{ images: Float32Array; labels: Int32Array; indices: number[]; params: Int32Array | null }>> {
  const out = [];
  for await (const b of loader.epoch(epoch)) {
    out.push({
      images: (await b.images.data()) as Float32Array,
      labels: (await b.labels.data()) as Int32Array,
      indices: b.indices,
      params: b.augmentParams ? ((await b.augmentParams.data()) as Int32Array) : null,
    });
    b.dispose();
  }
  return out;
}

/** CPU reference of one resized, augmented loader image. */
function refLoaderImage(img: RgbImage, size: number, u: Float64Array | null): { pixels: Float64Array; params: number[] | null } {
  const tw = resizeWeights(img.width, size, { mode: 'bilinear', antialias: true });
  const th = resizeWeights(img.height, size, { mode: 'bilinear', antialias: true });
  const out = new Float64Array(3 * size * size);
  for (let c = 0; c < 3; c++) {
    const mid = new Float64Array(img.height * size);
    for (let y = 0; y < img.height; y++)
      for (let o = 0; o < size; o++) {
        let s = 0;
        if (img.width === size) s = img.data[(y * img.width + o) * 3 + c];
        else for (let e = tw.ptr[o]; e < tw.ptr[o + 1]; e++) s += tw.w[e] * img.data[(y * img.width + tw.idx[e]) * 3 + c];
        mid[y * size + o] = s / 255;
      }
    for (let o = 0; o < size; o++)
      for (let x = 0; x < size; x++) {
        let s = 0;
        if (img.height === size) s = mid[o * size + x];
        else for (let e = th.ptr[o]; e < th.ptr[o + 1]; e++) s += th.w[e] * mid[th.idx[e] * size + x];
        out[(c * size + o) * size + x] = s;
      }
  }
  if (!u) return { pixels: out, params: null };
  const params = refParams(u, size, size, DEFAULTS);
  return { pixels: refApply(out, [1, 3, size, size], params, 0), params };
}

describe('DataLoader', () => {
  let mixed: ImageDataset;
  let uniform: ImageDataset;
  let corrupt: ImageDataset;
  const warnings: string[] = [];

  beforeAll(async () => {
    await gpu();
    root = mkdtempSync(join(tmpdir(), 'lrdif-loader-'));
    makeTree(join(root, 'mixed'), (k) => [9 + (k % 5) * 3, 11 + (k % 3) * 4], false);
    makeTree(join(root, 'uniform'), () => [20, 20], false);
    makeTree(join(root, 'corrupt'), () => [16, 16], true);
    mixed = await loadImageFolder(join(root, 'mixed'), src, { testFraction: 0 });
    uniform = await loadImageFolder(join(root, 'uniform'), src, { testFraction: 0 });
    corrupt = await loadImageFolder(join(root, 'corrupt'), src, { testFraction: 0, warn: (m) => warnings.push(m) });
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('shuffles reproducibly: the order depends only on (seed, epoch)', () => {
    const a = new DataLoader(mixed, { batchSize: 4, seed: 7 });
    const b = new DataLoader(mixed, { batchSize: 9, seed: 7, prefetch: false });
    expect(a.order(0)).toEqual(b.order(0));
    expect(a.order(3)).toEqual(b.order(3));
    expect(a.order(1)).not.toEqual(a.order(0));
    expect(new DataLoader(mixed, { batchSize: 4, seed: 8 }).order(0)).not.toEqual(a.order(0));
    expect([...a.order(2)].sort((x, y) => x - y)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(new DataLoader(mixed, { batchSize: 4, shuffle: false }).order(5)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(a.numBatches).toBe(6);
    expect(new DataLoader(mixed, { batchSize: 4, dropLast: true }).numBatches).toBe(5);
    expect(() => new DataLoader(mixed, { batchSize: 0 })).toThrow(/batchSize must be an integer ≥ 1, got 0/);
  });

  it('batches equal a CPU reference (decode, antialiased resize, Philox augmentation at the documented counters)', async () => {
    for (const ds of [mixed, uniform]) {
      const size = 14;
      const seed = 5;
      const loader = new DataLoader(ds, { batchSize: 5, size, seed, augment: true });
      const epoch = 2;
      const order = loader.order(epoch);
      const batches = await collect(loader, epoch);
      expect(batches.map((b) => b.indices.length)).toEqual([5, 5, 5, 5, 3]);
      expect(batches.flatMap((b) => b.indices)).toEqual(order);
      let sawFlip = false;
      for (const [k, b] of batches.entries()) {
        expect(Array.from(b.labels)).toEqual(b.indices.map((i) => ds.items[i].label));
        for (const [j, idx] of b.indices.entries()) {
          const p = k * 5 + j;
          const u = hostUniforms(seed + 1, epoch * 2 ** 32 + p * 11, AUGMENT_UNIFORMS);
          const ref = refLoaderImage((await ds.load(idx))!, size, u);
          expect(Array.from(b.params!.subarray(5 * j, 5 * j + 5))).toEqual(ref.params);
          if (ref.params![0]) sawFlip = true;
          const got = b.images.subarray(j * 3 * size * size, (j + 1) * 3 * size * size);
          let worst = 0;
          for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref.pixels[i]));
          expect(worst, `${ds.name} epoch ${epoch} batch ${k} image ${j}`).toBeLessThan(2e-6);
        }
      }
      expect(sawFlip).toBe(true);
    }
  });

  it('prefetching yields exactly the batches of a run without it', async () => {
    for (const augment of [false, true]) {
      const a = await collect(new DataLoader(mixed, { batchSize: 4, size: 12, seed: 3, augment, prefetch: true }), 1);
      const b = await collect(new DataLoader(mixed, { batchSize: 4, size: 12, seed: 3, augment, prefetch: false }), 1);
      expect(a.length).toBe(6);
      expect(b.length).toBe(6);
      for (let k = 0; k < a.length; k++) {
        expect(a[k].indices).toEqual(b[k].indices);
        expect(Array.from(a[k].labels)).toEqual(Array.from(b[k].labels));
        expect(Buffer.from(a[k].images.buffer).equals(Buffer.from(b[k].images.buffer))).toBe(true);
      }
    }
  });

  it('large images: uploads grouped to fit one binding, a 12-megapixel one reduced on the CPU first; the values of a CPU reference', async () => {
    // three 2000×2000 images (48 MB as f32 each: at most two fit a 128 MiB binding) and a 4000×3000 photo (144 MB)
    const sizes: Array<[number, number]> = [
      [2000, 2000],
      [2000, 2000],
      [2000, 2000],
      [4000, 3000],
    ];
    // a cheap deterministic texture (a multiplicative hash of the byte's index and the image number)
    const pics = sizes.map(([w, h], k): RgbImage => {
      const data = new Uint8Array(w * h * 3);
      for (let i = 0; i < data.length; i++) data[i] = Math.imul(i + 7919 * k, 2654435761) >>> 24;
      return { width: w, height: h, data };
    });
    const items: DatasetItem[] = pics.map((p, k) => ({
      id: `big${k}`,
      label: k % 2,
      split: 'train',
      source: { kind: 'pixels', width: p.width, height: p.height, channels: 3, data: p.data },
    }));
    const ds = new ImageDataset('big', ['neutral', 'happiness'], items, src);
    const size = 6;
    const [b] = await collect(new DataLoader(ds, { batchSize: 4, size, shuffle: false }), 0);
    expect(b.indices).toEqual([0, 1, 2, 3]);
    for (const [j, p] of pics.entries()) {
      const f = fitPixels(p.width, p.height, MAX_TENSOR_PIXELS);
      if (j < 3) expect(f).toEqual({ width: 2000, height: 2000 });
      else expect(f.width * f.height * 12).toBeLessThanOrEqual(128 * 2 ** 20);
      const ref = refLoaderImage(downscaleImage(p, f.width, f.height), size, null).pixels;
      const got = b.images.subarray(j * 3 * size * size, (j + 1) * 3 * size * size);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
      expect(worst, `image ${j}`).toBeLessThan(2e-6);
    }
  }, 300_000);

  it('bicubic resizing keeps batches in [0, 1] (its overshoot is clamped)', async () => {
    const batches = await collect(new DataLoader(mixed, { batchSize: 8, size: 30, resize: { mode: 'bicubic' } }), 0);
    let lo = Infinity;
    let hi = -Infinity;
    let atBounds = 0;
    for (const b of batches)
      for (const v of b.images) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
        if (v === 0 || v === 1) atBounds++;
      }
    expect(lo).toBe(0);
    expect(hi).toBe(1);
    // random-noise images upscaled by bicubic overshoot in many places
    expect(atBounds).toBeGreaterThan(100);
  });

  it('a corrupt image is skipped, warned about and counted, not fatal; the batches stay full; GPU memory stays flat across epochs', async () => {
    const ctx = await gpu();
    const loader = new DataLoader(corrupt, { batchSize: 6, size: 16, seed: 1, augment: true });
    const e0 = await collect(loader, 0);
    const seen = e0.flatMap((b) => b.indices);
    expect(seen.length).toBe(22);
    const bad = corrupt.items.findIndex((it) => it.id.endsWith('009.png'));
    expect(seen).not.toContain(bad);
    // the next image takes the corrupt one's place: 22 images in 6 + 6 + 6 + 4, not a short batch and an extra one
    expect(e0.map((b) => b.indices.length)).toEqual([6, 6, 6, 4]);
    expect(seen).toEqual(loader.order(0).filter((i) => i !== bad));
    // with the corrupt image known from the start the epoch's batches are the same, bit for bit
    const again = await collect(loader, 0);
    expect(again.map((b) => b.indices)).toEqual(e0.map((b) => b.indices));
    again.forEach((b, k) => expect(Buffer.from(b.images.buffer).equals(Buffer.from(e0[k].images.buffer))).toBe(true));
    // usable(): the images that can be read, counted up front
    const usable = corrupt.usable();
    expect(usable.length).toBe(22);
    expect(new DataLoader(usable, { batchSize: 6 }).numBatches).toBe(4);
    expect(e0.reduce((s, b) => s + b.images.length, 0)).toBe(22 * 3 * 16 * 16);
    expect(corrupt.skipped).toEqual([{ path: corrupt.items[bad].id, reason: expect.stringMatching(/corrupt or unsupported PNG/) }]);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain('009.png');
    const live = ctx.stats().liveBuffers;
    for (let e = 1; e < 4; e++) await collect(loader, e);
    // an early break also leaves nothing behind
    for await (const b of loader.epoch(4)) {
      b.dispose();
      break;
    }
    expect(ctx.stats().liveBuffers).toBe(live);
    expect(corrupt.skipped.length).toBe(1);
    expect(warnings.length).toBe(1);
  });
});
