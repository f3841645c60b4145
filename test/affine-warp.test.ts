import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose, gpuTensor, randArray, rng } from './helpers/ref.js';
import { affineWarp, resampleBilinearTables, RgbImageBuffer, tensor, type BilinearAxisTable, type WarpOptions } from '../src/node.js';
import type { RgbImage } from '../src/io/image.js';

/** A source as float64 NCHW values (bytes / 255 for RGB images). */
interface RefSource {
  n: number;
  c: number;
  h: number;
  w: number;
  v: Float64Array;
}

function fromImages(images: RgbImage[]): RefSource {
  const { width: w, height: h } = images[0];
  const v = new Float64Array(images.length * 3 * h * w);
  images.forEach((im, n) => {
    for (let c = 0; c < 3; c++) for (let p = 0; p < h * w; p++) v[(n * 3 + c) * h * w + p] = im.data[p * 3 + c] / 255;
  });
  return { n: images.length, c: 3, h, w, v };
}

function randomImage(w: number, h: number, seed: number): RgbImage {
  const r = rng(seed);
  return { width: w, height: h, data: Uint8Array.from({ length: w * h * 3 }, () => Math.floor(r() * 256)) };
}

/** TF's bilinear formula in float64 with `fill` outside the image. */
function sample(s: RefSource, img: number, c: number, y0: number, y1: number, fy: number, x0: number, x1: number, fx: number, fill: number): number {
  const t = (iy: number, ix: number) => (iy < 0 || ix < 0 || iy >= s.h || ix >= s.w ? fill : s.v[((img * s.c + c) * s.h + iy) * s.w + ix]);
  const top = t(y0, x0) + (t(y0, x1) - t(y0, x0)) * fx;
  const bottom = t(y1, x0) + (t(y1, x1) - t(y1, x0)) * fx;
  return top + (bottom - top) * fy;
}

function warpRef(s: RefSource, m: number[], oh: number, ow: number, opts: WarpOptions): Float64Array {
  const items = m.length / 6;
  const out = new Float64Array(items * s.c * oh * ow);
  const fill = opts.fill ?? 0;
  for (let f = 0; f < items; f++) {
    const a = m.slice(f * 6, f * 6 + 6).map(Math.fround);
    const img = opts.sources?.[f] ?? 0;
    for (let c = 0; c < s.c; c++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          const sx = a[0] * ox + a[1] * oy + a[2];
          const sy = a[3] * ox + a[4] * oy + a[5];
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const v = sample(s, img, c, y0, y0 + 1, sy - y0, x0, x0 + 1, sx - x0, fill);
          out[((f * s.c + c) * oh + oy) * ow + ox] = v * (opts.scale ?? 1) + (opts.bias?.[c] ?? 0);
        }
  }
  return out;
}

function tablesRef(s: RefSource, tables: Array<{ rows: BilinearAxisTable; cols: BilinearAxisTable }>, opts: WarpOptions): Float64Array {
  const oh = tables[0].rows.i0.length;
  const ow = tables[0].cols.i0.length;
  const out = new Float64Array(tables.length * s.c * oh * ow);
  tables.forEach((t, f) => {
    const img = opts.sources?.[f] ?? 0;
    for (let c = 0; c < s.c; c++)
      for (let oy = 0; oy < oh; oy++)
        for (let ox = 0; ox < ow; ox++) {
          const v = sample(s, img, c, t.rows.i0[oy], t.rows.i1[oy], Math.fround(t.rows.frac[oy]), t.cols.i0[ox], t.cols.i1[ox], Math.fround(t.cols.frac[ox]), opts.fill ?? 0);
          out[((f * s.c + c) * oh + oy) * ow + ox] = v * (opts.scale ?? 1) + (opts.bias?.[c] ?? 0);
        }
  });
  return out;
}

function randomTable(len: number, size: number, seed: number): BilinearAxisTable {
  const r = rng(seed);
  const i0: number[] = [];
  const i1: number[] = [];
  const frac: number[] = [];
  for (let o = 0; o < len; o++) {
    const a = Math.floor(r() * (size + 1)) - 1; // −1 … size − 1
    i0.push(a);
    i1.push(r() < 0.2 ? a : Math.min(a + 1, size - 1));
    frac.push(r() < 0.1 ? 0 : r());
  }
  return { i0, i1, frac };
}

/** Rotation by `deg` about (cx, cy) with scale s and a shift: output index → source index. */
function similarity(deg: number, s: number, cx: number, cy: number, ox: number, oy: number): number[] {
  const t = (deg * Math.PI) / 180;
  const c = Math.cos(t) * s;
  const n = Math.sin(t) * s;
  // source = R·(o − (ox, oy)) + (cx, cy)
  return [c, -n, cx - c * ox + n * oy, n, c, cy - n * ox - c * oy];
}

describe('affineWarp', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('f32 sources: rotations, scales, positions outside the image, per-item source images, fill, scale and bias', async () => {
    const shape = [2, 3, 17, 23];
    const data = randArray([2 * 3 * 17 * 23], 5, 0, 1);
    const s: RefSource = { n: 2, c: 3, h: 17, w: 23, v: Float64Array.from(data) };
    const m = [...similarity(17, 0.8, 11, 8, 6, 5), ...similarity(-40, 1.7, 3, 20, 6, 5), ...similarity(0, 1, -0.25, 2.5, 0, 0), ...[0, 0, 1e9, 0, 0, -1e9]];
    const opts: WarpOptions = { sources: [1, 0, 1, 0], fill: 0.25, scale: 2, bias: [-0.5, 0.1, 0.3] };
    const x = gpuTensor(data, shape);
    const y = affineWarp(x, m, 11, 13, opts);
    expect(y.shape).toEqual([4, 3, 11, 13]);
    // positions are computed in f32 on the GPU: |Δ position| ≲ 1e-5 px, values change by at most that × the local slope (≤ 1 here, ×2 scale)
    expectClose(await y.data(), warpRef(s, m, 11, 13, opts), 0, 1e-4, 'warp');
    x.dispose();
    y.dispose();
  });

  it('the identity and integer shifts reproduce the pixels exactly', async () => {
    const data = randArray([1 * 5 * 6 * 7], 6, -2, 2);
    const x = gpuTensor(data, [1, 5, 6, 7]);
    const y = affineWarp(x, [1, 0, 0, 0, 1, 0, 1, 0, 2, 0, 1, -1], 6, 7);
    const v = await y.data();
    const s: RefSource = { n: 1, c: 5, h: 6, w: 7, v: Float64Array.from(data) };
    expect(Array.from(v)).toEqual(Array.from(warpRef(s, [1, 0, 0, 0, 1, 0, 1, 0, 2, 0, 1, -1], 6, 7, {}), Math.fround));
    x.dispose();
    y.dispose();
  });

  it('8-bit RGB sources (RgbImageBuffer) read byte / 255', async () => {
    const images = [randomImage(31, 20, 1), randomImage(31, 20, 2), randomImage(31, 20, 3)];
    const buf = RgbImageBuffer.upload(images);
    expect([buf.count, buf.width, buf.height, buf.channels]).toEqual([3, 31, 20, 3]);
    const m = [...similarity(25, 0.5, 15, 10, 8, 8), ...similarity(-5, 2.2, 2, 2, 8, 8)];
    const opts: WarpOptions = { sources: [2, 1], bias: [-0.4, -0.5, -0.6] };
    const y = affineWarp(buf, m, 16, 16, opts);
    expectClose(await y.data(), warpRef(fromImages(images), m, 16, 16, opts), 0, 1e-4, 'warp bytes');
    y.dispose();
    buf.dispose();
  });
});

describe('resampleBilinearTables', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('8-bit RGB sources: taps inside, −1 (fill), repeated taps and zero weights', async () => {
    const images = [randomImage(13, 11, 7), randomImage(13, 11, 8)];
    const buf = RgbImageBuffer.upload(images);
    const tables = [
      { rows: randomTable(9, 11, 1), cols: randomTable(14, 13, 2) },
      { rows: randomTable(9, 11, 3), cols: randomTable(14, 13, 4) },
      { rows: randomTable(9, 11, 5), cols: randomTable(14, 13, 6) },
    ];
    const opts: WarpOptions = { sources: [1, 0, 1], fill: 0.5, scale: 1, bias: [0.1, 0.2, 0.3] };
    const y = resampleBilinearTables(buf, tables, opts);
    expect(y.shape).toEqual([3, 3, 9, 14]);
    expectClose(await y.data(), tablesRef(fromImages(images), tables, opts), 1e-6, 1e-6, 'tables bytes');
    y.dispose();
    buf.dispose();
  });

  it('f32 sources with one and five channels', async () => {
    for (const c of [1, 5]) {
      const data = randArray([2 * c * 6 * 4], 9 + c, -1, 1);
      const x = gpuTensor(data, [2, c, 6, 4]);
      const tables = [{ rows: randomTable(3, 6, 10), cols: randomTable(8, 4, 11) }];
      const opts: WarpOptions = { sources: [1], scale: -3 };
      const y = resampleBilinearTables(x, tables, opts);
      expectClose(await y.data(), tablesRef({ n: 2, c, h: 6, w: 4, v: Float64Array.from(data) }, tables, opts), 1e-6, 1e-6, `tables f32 C=${c}`);
      x.dispose();
      y.dispose();
    }
  });

  it('errors name the op, the item and the entry', () => {
    const x = tensor(new Float32Array(2 * 3 * 4 * 5), [2, 3, 4, 5]);
    const t = { rows: { i0: [0, 1], i1: [1, 2], frac: [0, 0.5] }, cols: { i0: [0], i1: [1], frac: [0.5] } };
    expect(() => resampleBilinearTables(x, [t, { ...t, cols: { i0: [0], i1: [5], frac: [0.5] } }])).toThrow(
      /resampleBilinearTables: item 1: cols entry 0 \(i0 0, i1 5, frac 0.5\) must have taps in −1 … 4/,
    );
    expect(() => resampleBilinearTables(x, [t, { ...t, rows: { i0: [0], i1: [1], frac: [0] } }])).toThrow(/item 1: the rows table must have 2 entries/);
    expect(() => resampleBilinearTables(x, [t], { sources: [2] })).toThrow(/item 0 reads source image 2, but the source holds 2 image\(s\)/);
    expect(() => resampleBilinearTables(x, [])).toThrow(/no output items/);
    expect(() => affineWarp(x, [1, 0, 0, 0, 1], 2, 2)).toThrow(/affineWarp: matrices must hold 6 values per output item, got 5/);
    expect(() => affineWarp(x, [1, 0, 0, 0, 1, NaN], 2, 2)).toThrow(/matrix 0 has a non-finite entry NaN at 5/);
    expect(() => affineWarp(x, [1, 0, 0, 0, 1, 0], 0, 2)).toThrow(/output height must be a positive integer, got 0/);
    expect(() => affineWarp(x, [1, 0, 0, 0, 1, 0], 2, 2, { bias: [1, 2] })).toThrow(/bias needs one value per channel \(3; at most 4\), got 2/);
    expect(() => affineWarp(tensor(new Float32Array(4), [2, 2]), [1, 0, 0, 0, 1, 0], 2, 2)).toThrow(
      /affineWarp: the source must be an RgbImageBuffer or an f32 tensor \[N, C, H, W\]/,
    );
    const g = tensor(new Float32Array(12), [1, 3, 2, 2]);
    g.requiresGrad = true;
    expect(() => affineWarp(g, [1, 0, 0, 0, 1, 0], 2, 2)).toThrow(/affineWarp: not differentiable/);
    expect(() => RgbImageBuffer.upload([randomImage(3, 2, 1), randomImage(2, 3, 1)])).toThrow(/image 1 is 2×3, image 0 is 3×2/);
    x.dispose();
    g.dispose();
  });
});
