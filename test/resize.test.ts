import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { gpu } from './helpers/gpu.js';
import { checkGradients, expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { resize, centerCrop, clipPreprocess, resizeWeights, clipResizeSize, tensor, tidy, type ResizeOptions, type Tensor } from '../src/node.js';
import { readImageFile } from '../src/io/image-node.js';
import type { RgbImage } from '../src/io/image.js';

/**
 * Goldens: test/golden/resize_golden.py (Pillow 9.4 and PyTorch 1.13, /usr/bin/python3) wrote
 * test/golden/fixtures/resize.json and resize_clip_input.png.
 */
interface PillowCase {
  filter: 'bicubic' | 'bilinear';
  in: [number, number];
  out: [number, number];
  input: number[];
  output: number[];
}
interface TorchCase {
  input: string;
  out: [number, number];
  mode: 'bilinear' | 'bicubic' | 'nearest' | 'nearest-exact';
  alignCorners: boolean;
  antialias: boolean;
  output: number[];
}
interface ClipSummary {
  file: string;
  resized: [number, number];
  offset: [number, number];
  mean: number[];
  std: number[];
  crop: { x: number; y: number; size: number; chw: number[] };
}
const golden = JSON.parse(readFileSync(new URL('./golden/fixtures/resize.json', import.meta.url), 'utf8')) as {
  pillow_rgb: PillowCase[];
  pillow_float: PillowCase[];
  torch: { inputs: Record<string, { shape: number[]; data: number[] }>; cases: TorchCase[] };
  clip: { small: ClipSummary; full: ClipSummary };
};

/** HWC bytes → CHW levels. */
function hwcToChw(hwc: ArrayLike<number>, w: number, h: number, c = 3): Float64Array {
  const out = new Float64Array(w * h * c);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[(k * h + y) * w + x] = hwc[(y * w + x) * c + k];
  return out;
}

/** float64 reference: applies the host weight tables (W first, then H) to [outer, H, W] data. */
function refResize(x: Float64Array, shape: number[], outH: number, outW: number, opts: ResizeOptions): Float64Array {
  const H = shape[shape.length - 2];
  const W = shape[shape.length - 1];
  const outer = x.length / (H * W);
  const tw = W !== outW ? resizeWeights(W, outW, opts) : null;
  const th = H !== outH ? resizeWeights(H, outH, opts) : null;
  const mid = new Float64Array(outer * H * outW);
  for (let b = 0; b < outer; b++)
    for (let y = 0; y < H; y++)
      for (let o = 0; o < outW; o++) {
        let s = 0;
        if (!tw) s = x[(b * H + y) * W + o];
        else for (let e = tw.ptr[o]; e < tw.ptr[o + 1]; e++) s += tw.w[e] * x[(b * H + y) * W + tw.idx[e]];
        mid[(b * H + y) * outW + o] = s;
      }
  const out = new Float64Array(outer * outH * outW);
  for (let b = 0; b < outer; b++)
    for (let o = 0; o < outH; o++)
      for (let xx = 0; xx < outW; xx++) {
        let s = 0;
        if (!th) s = mid[(b * H + o) * outW + xx];
        else for (let e = th.ptr[o]; e < th.ptr[o + 1]; e++) s += th.w[e] * mid[(b * H + th.idx[e]) * outW + xx];
        out[(b * outH + o) * outW + xx] = s;
      }
  return out;
}

async function run(x: Tensor, fn: (t: Tensor) => Tensor): Promise<Float32Array> {
  const y = tidy(() => fn(x));
  const d = (await y.data()) as Float32Array;
  y.dispose();
  return d;
}

describe('resize: Pillow goldens', () => {
  beforeAll(gpu);

  it('uint8Intermediate reproduces Pillow 8-bit RGB resizes bit for bit (bicubic and bilinear, down and up, non-integer factors)', async () => {
    for (const c of golden.pillow_rgb) {
      const [iw, ih] = c.in;
      const [ow, oh] = c.out;
      const x = gpuTensor(hwcToChw(c.input, iw, ih), [1, 3, ih, iw]);
      const got = await run(x, (t) => resize(t, oh, ow, { mode: c.filter, antialias: true, uint8Intermediate: true }));
      x.dispose();
      const want = hwcToChw(c.output, ow, oh);
      let diffs = 0;
      for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) diffs++;
      expect(diffs, `${c.filter} ${iw}×${ih} → ${ow}×${oh}: pixels differing from Pillow`).toBe(0);
    }
  });

  it('the float path (antialias) is within one level of Pillow 8-bit after rounding, except at clamped bicubic overshoot', async () => {
    for (const c of golden.pillow_rgb) {
      const [iw, ih] = c.in;
      const [ow, oh] = c.out;
      const src = hwcToChw(c.input, iw, ih);
      const x = gpuTensor(src, [1, 3, ih, iw]);
      const got = await run(x, (t) => resize(t, oh, ow, { mode: c.filter, antialias: true }));
      x.dispose();
      const want = hwcToChw(c.output, ow, oh);
      // where the horizontal pass of Pillow clamped (an intermediate outside 0..255), the float path may differ more
      const tw = resizeWeights(iw, ow, { mode: c.filter, antialias: true });
      let maxDiff = 0;
      for (let i = 0; i < want.length; i++) {
        const v = Math.min(255, Math.max(0, Math.round(got[i])));
        const d = Math.abs(v - want[i]);
        if (d > 1) {
          const ch = Math.floor(i / (ow * oh));
          const xx = i % ow;
          // did any intermediate of this column overshoot?
          let overshoot = false;
          for (let y = 0; y < ih && c.filter === 'bicubic'; y++) {
            let s = 0;
            for (let e = tw.ptr[xx]; e < tw.ptr[xx + 1]; e++) s += tw.w[e] * src[(ch * ih + y) * iw + tw.idx[e]];
            if (s < -0.5 || s > 255.5) overshoot = true;
          }
          expect(overshoot, `${c.filter} ${iw}×${ih} → ${ow}×${oh}: element ${i} differs by ${d} levels without a clamped intermediate`).toBe(true);
        }
        if (c.filter === 'bilinear') maxDiff = Math.max(maxDiff, d);
      }
      expect(maxDiff).toBeLessThanOrEqual(1);
    }
  });

  it('the float path matches Pillow mode F (float images) for bicubic and bilinear', async () => {
    for (const c of golden.pillow_float) {
      const [iw, ih] = c.in;
      const [ow, oh] = c.out;
      const x = gpuTensor(c.input, [1, 1, ih, iw]);
      const got = await run(x, (t) => resize(t, oh, ow, { mode: c.filter, antialias: true }));
      x.dispose();
      expectClose(got, c.output, 1e-5, 2e-6, `Pillow F ${c.filter} ${iw}×${ih} → ${ow}×${oh}`);
    }
  });
});

describe('resize: PyTorch F.interpolate goldens', () => {
  beforeAll(gpu);

  it('bilinear/bicubic (align_corners, antialias) and nearest/nearest-exact', async () => {
    for (const c of golden.torch.cases) {
      const inp = golden.torch.inputs[c.input];
      const x = gpuTensor(inp.data, inp.shape);
      const opts: ResizeOptions = c.mode.startsWith('nearest') ? { mode: c.mode } : { mode: c.mode, alignCorners: c.alignCorners, antialias: c.antialias };
      const got = await run(x, (t) => resize(t, c.out[0], c.out[1], opts));
      x.dispose();
      expectClose(got, c.output, 1e-5, 3e-6, `F.interpolate ${JSON.stringify(inp.shape)} → ${c.out} ${JSON.stringify(opts)}`);
    }
  });

  it('agrees with the float64 table reference on awkward shapes (rank 3 and 5, size-1 axes, one axis unchanged)', async () => {
    const cases: Array<[number[], number, number, ResizeOptions]> = [
      [[3, 1, 5], 4, 1, { mode: 'bicubic' }],
      [[2, 1, 2, 3, 4], 3, 4, { mode: 'bilinear', antialias: true }],
      [[1, 9, 1], 2, 7, { mode: 'bicubic', antialias: true, alignCorners: true }],
      [[2, 300], 2, 257, { mode: 'bilinear' }],
      [[1, 2, 6, 6], 6, 6, { mode: 'bicubic' }],
    ];
    let seed = 3;
    for (const [shape, oh, ow, opts] of cases) {
      const data = randArray(shape, seed++);
      const x = gpuTensor(data, shape);
      const got = await run(x, (t) => resize(t, oh, ow, opts));
      expect(got.length).toBe((data.length / (shape.at(-1)! * shape.at(-2)!)) * oh * ow);
      x.dispose();
      expectClose(got, refResize(data, shape, oh, ow, opts), 1e-5, 1e-6, `resize ${JSON.stringify(shape)} → ${oh}×${ow} ${JSON.stringify(opts)}`);
    }
  });

  it('antialiased weights sum to one for every output and every scale', () => {
    for (const [i, o] of [
      [17, 5],
      [5, 17],
      [100, 33],
      [3, 1],
      [1, 4],
    ]) {
      for (const mode of ['bilinear', 'bicubic'] as const) {
        const t = resizeWeights(i, o, { mode, antialias: true });
        for (let k = 0; k < o; k++) {
          let s = 0;
          for (let e = t.ptr[k]; e < t.ptr[k + 1]; e++) s += t.w[e];
          expect(Math.abs(s - 1)).toBeLessThan(1e-12);
        }
      }
    }
  });
});

describe('resize: backward (finite differences)', () => {
  beforeAll(gpu);
  const cases: Array<[number[], number, number, ResizeOptions]> = [
    [[2, 2, 5, 7], 3, 4, { mode: 'bilinear' }],
    [[1, 2, 5, 7], 9, 11, { mode: 'bicubic' }],
    [[1, 1, 9, 6], 4, 13, { mode: 'bicubic', antialias: true }],
    [[1, 2, 6, 8], 5, 3, { mode: 'bilinear', antialias: true, alignCorners: true }],
    [[1, 1, 4, 5], 7, 3, { mode: 'nearest' }],
    [[1, 1, 5, 4], 5, 9, { mode: 'bilinear', alignCorners: true }],
  ];
  for (const [shape, oh, ow, opts] of cases) {
    it(`${JSON.stringify(shape)} → ${oh}×${ow} ${JSON.stringify(opts)}`, async () => {
      await checkGradients({
        inputs: [{ data: randArray(shape, 11), shape }],
        gpuFn: (x) => resize(x, oh, ow, opts),
        refFn: (x) => refResize(x, shape, oh, ow, opts),
      });
    });
  }
  it('unchanged size passes the gradient through', async () => {
    const shape = [1, 1, 3, 4];
    await checkGradients({ inputs: [{ data: randArray(shape, 5), shape }], gpuFn: (x) => resize(x, 3, 4, { mode: 'bicubic' }), refFn: (x) => x });
  });
});

describe('resize: errors', () => {
  beforeAll(gpu);
  it('names the op, the shape and what was expected', () => {
    const x = tensor(new Float32Array(12), [1, 1, 3, 4]);
    expect(() => resize(x, 0, 4)).toThrow(/resize: output height .*\[1, ?1, ?3, ?4\].* positive integer, got 0/);
    expect(() => resize(x, 2, 2, { mode: 'area' as never })).toThrow(/mode must be/);
    expect(() => resize(x, 2, 2, { mode: 'nearest', alignCorners: true })).toThrow(/alignCorners and antialias apply to 'bilinear' and 'bicubic' only/);
    expect(() => resize(tensor([1, 2, 3]), 2, 2)).toThrow(/rank ≥ 2/);
    x.requiresGrad = true;
    expect(() => resize(x, 2, 2, { uint8Intermediate: true })).toThrow(/not differentiable/);
    x.dispose();
  });
});

/** Python's round(d / 2) and floor(d / 2) offsets, written out case by case. */
describe('centerCrop', () => {
  beforeAll(gpu);
  it('torchvision (half to even) and Hugging Face (floor) offsets, and zero padding of larger crops', async () => {
    const H = 7;
    const W = 10;
    const data = Float32Array.from({ length: H * W }, (_, i) => i + 1);
    const x = tensor(data, [1, H, W]);
    // (H, h, expected torchvision top, expected floor top): (7-2)/2 = 2.5 → 2; (10-5)/2 = 2.5 → 2; (10-3)/2 = 3.5 → 4
    const cases: Array<[number, number, 'round' | 'floor', number, number]> = [
      [2, 5, 'round', 2, 2],
      [2, 5, 'floor', 2, 2],
      [4, 3, 'round', 2, 4],
      [4, 3, 'floor', 1, 3],
      [7, 10, 'round', 0, 0],
    ];
    for (const [h, w, rounding, top, left] of cases) {
      const got = await run(x, (t) => centerCrop(t, h, w, { rounding }));
      const want: number[] = [];
      for (let y = 0; y < h; y++) for (let xx = 0; xx < w; xx++) want.push(data[(top + y) * W + left + xx]);
      expect(Array.from(got), `crop ${h}×${w} (${rounding})`).toEqual(want);
    }
    // larger than the image: torchvision pads (9-7)//2 = 1 row above, 1 below; (13-10)//2 = 1 column left, 2 right
    const got = await run(x, (t) => centerCrop(t, 9, 13));
    const want: number[] = [];
    for (let y = -1; y < 8; y++) for (let xx = -1; xx < 12; xx++) want.push(y >= 0 && y < H && xx >= 0 && xx < W ? data[y * W + xx] : 0);
    expect(Array.from(got)).toEqual(want);
    x.dispose();
    expect(() => centerCrop(x, 0, 2)).toThrow(/crop height/);
  });
});

describe('clipPreprocess', () => {
  beforeAll(gpu);

  function summarise(chw: Float32Array, size: number, crop: ClipSummary['crop']) {
    const hw = size * size;
    const mean: number[] = [];
    const std: number[] = [];
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let i = 0; i < hw; i++) s += chw[c * hw + i];
      const m = s / hw;
      let v = 0;
      for (let i = 0; i < hw; i++) v += (chw[c * hw + i] - m) ** 2;
      mean.push(m);
      std.push(Math.sqrt(v / hw));
    }
    const cropVals: number[] = [];
    for (let c = 0; c < 3; c++) for (let y = 0; y < crop.size; y++) for (let x = 0; x < crop.size; x++) cropVals.push(chw[c * hw + (crop.y + y) * size + crop.x + x]);
    return { mean, std, crop: cropVals };
  }

  it('equals CLIPImageProcessor (Pillow bicubic, centre crop, mean/std) on a small photo', async () => {
    const g = golden.clip.small;
    const img = readImageFile(g.file);
    expect(clipResizeSize(img.width, img.height)).toEqual({ width: g.resized[0], height: g.resized[1] });
    const y = clipPreprocess([img]);
    expect(y.shape).toEqual([1, 3, 224, 224]);
    const s = summarise((await y.data()) as Float32Array, 224, g.crop);
    y.dispose();
    expectClose(s.mean, g.mean, 0, 2e-6, 'channel means');
    expectClose(s.std, g.std, 0, 2e-6, 'channel stds');
    expectClose(s.crop, g.crop.chw, 0, 3e-6, 'crop');
  });

  it('matches Pillow on the full-size JPEG (a different JPEG decoder: loose) and batches images of different sizes', async () => {
    const g = golden.clip.full;
    const img = readImageFile(g.file);
    expect(clipResizeSize(img.width, img.height)).toEqual({ width: g.resized[0], height: g.resized[1] });
    const small = readImageFile(golden.clip.small.file);
    const y = clipPreprocess([small, img]);
    expect(y.shape).toEqual([2, 3, 224, 224]);
    const all = (await y.data()) as Float32Array;
    y.dispose();
    const s = summarise(all.subarray(3 * 224 * 224), 224, g.crop);
    // one 8-bit level is 1/(255·0.27) ≈ 0.0145 here
    expectClose(s.mean, g.mean, 0, 0.006, 'channel means');
    expectClose(s.std, g.std, 0, 0.006, 'channel stds');
    expectClose(s.crop, g.crop.chw, 0, 0.045, 'crop');
    // the first image of the batch is unaffected by its neighbour
    const first = summarise(all.subarray(0, 3 * 224 * 224), 224, golden.clip.small.crop);
    expectClose(first.crop, golden.clip.small.crop.chw, 0, 3e-6, 'first image crop');
  });

  it('rejects bad input', () => {
    expect(() => clipPreprocess([])).toThrow(/no images/);
    const bad: RgbImage = { width: 2, height: 2, data: new Uint8Array(5) };
    expect(() => clipPreprocess([bad])).toThrow(/image 0: 5 bytes/);
  });
});
