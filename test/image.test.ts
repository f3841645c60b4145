import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { gpu } from './helpers/gpu.js';
import { expectClose, rng } from './helpers/ref.js';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { engine } from '../src/autograd/engine.js';
import { imagesToTensor, chwToImage, downscaleImage, fitSide, fitPixels, orientImage, MAX_TENSOR_PIXELS, type RgbImage } from '../src/io/image.js';
import { decodeImage, readImageFile, readPhotoFile, encodePng, encodeJpeg } from '../src/io/image-node.js';
import { exifOrientation } from '../src/io/exif.js';
import { tiffWithOrientation, withExifJpeg, withExifPng, toGrid, DISPLAY } from './helpers/exif.js';
import { encode as encodePngRaw } from 'fast-png';

const fixture = JSON.parse(readFileSync(new URL('./golden/fixtures/image.json', import.meta.url), 'utf8'));

function randomImage(w: number, h: number, seed: number): RgbImage {
  const r = rng(seed);
  const data = new Uint8Array(w * h * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(r() * 256);
  return { width: w, height: h, data };
}

describe('image codecs (Node)', () => {
  it('decodes a JPEG like Pillow does (within IDCT rounding)', () => {
    const img = readImageFile(fixture.file);
    expect([img.width, img.height]).toEqual([fixture.width, fixture.height]);
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let i = c; i < img.data.length; i += 3) s += img.data[i];
      expect(Math.abs(s / (img.width * img.height) - fixture.mean[c])).toBeLessThan(0.5);
    }
    const { x, y, size, rgb } = fixture.crop;
    let maxDiff = 0;
    let sumDiff = 0;
    for (let j = 0; j < size; j++) {
      for (let i = 0; i < size; i++) {
        for (let c = 0; c < 3; c++) {
          const d = Math.abs(img.data[((y + j) * img.width + (x + i)) * 3 + c] - rgb[(j * size + i) * 3 + c]);
          maxDiff = Math.max(maxDiff, d);
          sumDiff += d;
        }
      }
    }
    expect(maxDiff).toBeLessThanOrEqual(6);
    expect(sumDiff / (size * size * 3)).toBeLessThan(1.5);
  });

  it('round-trips PNG exactly and decodes grey, alpha, 16-bit and palette PNGs', () => {
    const img = randomImage(13, 7, 1);
    expect(decodeImage(encodePng(img))).toEqual(img);
    const grey = encodePngRaw({ width: 3, height: 2, data: new Uint8Array([0, 50, 100, 150, 200, 255]), channels: 1, depth: 8 });
    expect(Array.from(decodeImage(grey).data.slice(0, 6))).toEqual([0, 0, 0, 50, 50, 50]);
    const rgba = encodePngRaw({ width: 1, height: 1, data: new Uint8Array([9, 8, 7, 3]), channels: 4, depth: 8 });
    expect(Array.from(decodeImage(rgba).data)).toEqual([9, 8, 7]);
    const deep = encodePngRaw({ width: 1, height: 1, data: new Uint16Array([0xffff, 0x8000, 0x00ff]), channels: 3, depth: 16 });
    expect(Array.from(decodeImage(deep).data)).toEqual([255, 128, 0]);
    const pal = encodePngRaw({
      width: 2,
      height: 1,
      data: new Uint8Array([1, 0]),
      channels: 1,
      depth: 8,
      palette: [
        [10, 20, 30],
        [40, 50, 60],
      ],
    });
    expect(Array.from(decodeImage(pal).data)).toEqual([40, 50, 60, 10, 20, 30]);
  });

  it('encodes JPEG that decodes close to the source', () => {
    const img: RgbImage = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3).fill(120) };
    const back = decodeImage(encodeJpeg(img, 95));
    for (const v of back.data) expect(Math.abs(v - 120)).toBeLessThanOrEqual(2);
  });

  it('rejects files that are not images, and corrupt ones, naming them', () => {
    expect(() => decodeImage(new Uint8Array([1, 2, 3, 4]), 'x.bin')).toThrow(/x\.bin: not a JPEG or PNG/);
    const jpg = readFileSync(fixture.file);
    expect(() => decodeImage(jpg.subarray(0, 300), 'cut.jpg')).toThrow(/cut\.jpg: corrupt or unsupported JPEG/);
    const png = encodePng(randomImage(5, 5, 2));
    expect(() => decodeImage(png.subarray(0, 40), 'cut.png')).toThrow(/cut\.png: corrupt or unsupported PNG/);
    expect(() => readImageFile('/nonexistent/face.png')).toThrow(/cannot read image \/nonexistent\/face\.png/);
  });
});

describe('imagesToTensor', () => {
  beforeAll(gpu);
  it('normalises on the GPU into NCHW like the float64 formula', async () => {
    const imgs = [randomImage(5, 3, 3), randomImage(5, 3, 4)];
    const mean = [0.48145466, 0.4578275, 0.40821073] as const;
    const std = [0.26862954, 0.26130258, 0.27577711] as const;
    const t = imagesToTensor(imgs, { mean, std });
    expect(t.shape).toEqual([2, 3, 3, 5]);
    const want: number[] = [];
    for (const im of imgs) for (let c = 0; c < 3; c++) for (let p = 0; p < 15; p++) want.push((im.data[p * 3 + c] / 255 - mean[c]) / std[c]);
    expectClose(await t.data(), want, 1e-5, 1e-5);
    const back = chwToImage((await imagesToTensor([imgs[0]]).data()) as Float32Array, 5, 3);
    expect(back).toEqual(imgs[0]);
    t.dispose();
  });
  it('rejects mixed sizes and malformed images', () => {
    expect(() => imagesToTensor([randomImage(2, 2, 1), randomImage(3, 2, 1)])).toThrow(/image 1 is 3×2, image 0 is 2×2/);
    expect(() => imagesToTensor([{ width: 2, height: 2, data: new Uint8Array(5) }])).toThrow(/5 bytes do not hold 2×2/);
    expect(() => imagesToTensor([])).toThrow(/no images/);
  });
});

// ---------------------------------------------------------------- EXIF orientation

/** An asymmetric test picture: every pixel different, no symmetry a wrong turn could hide behind. */
function asymmetric(w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = 3 * (y * w + x);
      data[i] = Math.round((255 * x) / (w - 1));
      data[i + 1] = Math.round((255 * y) / (h - 1));
      data[i + 2] = (x * 37 + y * 101) % 256;
    }
  }
  return { width: w, height: h, data };
}

describe('EXIF orientation', () => {
  const stored = asymmetric(7, 4);

  it('JPEG: all eight orientations, both byte orders, decode to the turned pixels', () => {
    const jpg = encodeJpeg(stored, 100);
    const plain = decodeImage(jpg); // no EXIF: the stored pixels (with JPEG's own rounding)
    expect([plain.width, plain.height]).toEqual([7, 4]);
    for (const little of [true, false]) {
      for (let o = 1; o <= 8; o++) {
        const bytes = withExifJpeg(jpg, tiffWithOrientation(o, little));
        expect(exifOrientation(bytes), `orientation ${o}`).toBe(o);
        const got = decodeImage(bytes, `o${o}.jpg`);
        expect(toGrid(got), `orientation ${o}, ${little ? 'II' : 'MM'}`).toEqual(DISPLAY[o](toGrid(plain)));
        // orient: false keeps the stored pixels
        expect(decodeImage(bytes, 'x', { orient: false })).toEqual(plain);
      }
    }
  });

  it('PNG: the eXIf chunk is applied the same way (lossless: against the original pixels)', () => {
    const png = encodePng(stored);
    for (let o = 1; o <= 8; o++) {
      const bytes = withExifPng(png, tiffWithOrientation(o, o % 2 === 0));
      expect(exifOrientation(bytes)).toBe(o);
      expect(toGrid(decodeImage(bytes)), `orientation ${o}`).toEqual(DISPLAY[o](toGrid(stored)));
    }
  });

  it('orientImage agrees with the table on non-square sizes, including one-pixel rows and columns', () => {
    for (const [w, h] of [
      [5, 3],
      [1, 4],
      [6, 1],
      [1, 1],
    ]) {
      const im = randomImage(w, h, w * 10 + h);
      for (let o = 1; o <= 8; o++) expect(toGrid(orientImage(im, o))).toEqual(DISPLAY[o](toGrid(im)));
    }
    expect(() => orientImage(stored, 9)).toThrow('orientation must be an integer 1…8 (EXIF tag 0x0112), got 9');
  });

  it('a missing, malformed or out-of-range orientation reads as 1 (the stored pixels)', () => {
    const jpg = encodeJpeg(stored, 100);
    expect(exifOrientation(jpg)).toBe(1);
    expect(exifOrientation(withExifJpeg(jpg, tiffWithOrientation(0, true)))).toBe(1);
    expect(exifOrientation(withExifJpeg(jpg, tiffWithOrientation(9, false)))).toBe(1);
    const cut = tiffWithOrientation(6, true).subarray(0, 20); // IFD0 entries past the end
    expect(exifOrientation(withExifJpeg(jpg, cut))).toBe(1);
    const badOrder = tiffWithOrientation(6, true);
    badOrder[0] = 0x41;
    expect(exifOrientation(withExifJpeg(jpg, badOrder))).toBe(1);
    expect(decodeImage(withExifJpeg(jpg, badOrder))).toEqual(decodeImage(jpg));
    expect(exifOrientation(new Uint8Array([0xff, 0xd8, 0xff]))).toBe(1);
    expect(exifOrientation(new Uint8Array(0))).toBe(1);
  });
});

// ---------------------------------------------------------------- sizes and scaling

/** Area average by a different route: the exact integral of the piecewise-constant image (bilinear in its prefix sums), float64. */
function areaAverageReference(im: RgbImage, w: number, h: number): Float64Array {
  const W = im.width;
  const H = im.height;
  const out = new Float64Array(w * h * 3);
  for (let c = 0; c < 3; c++) {
    const S = new Float64Array((W + 1) * (H + 1)); // S[y][x] = sum over [0, x) × [0, y)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) S[(y + 1) * (W + 1) + x + 1] = im.data[3 * (y * W + x) + c] + S[y * (W + 1) + x + 1] + S[(y + 1) * (W + 1) + x] - S[y * (W + 1) + x];
    const F = (x: number, y: number) => {
      const i = Math.min(W - 1, Math.floor(x));
      const j = Math.min(H - 1, Math.floor(y));
      const fx = x - i;
      const fy = y - j;
      const s = (a: number, b: number) => S[b * (W + 1) + a];
      return (1 - fx) * (1 - fy) * s(i, j) + fx * (1 - fy) * s(i + 1, j) + (1 - fx) * fy * s(i, j + 1) + fx * fy * s(i + 1, j + 1);
    };
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const x0 = (x * W) / w;
        const x1 = ((x + 1) * W) / w;
        const y0 = (y * H) / h;
        const y1 = ((y + 1) * H) / h;
        out[3 * (y * w + x) + c] = (F(x1, y1) - F(x0, y1) - F(x1, y0) + F(x0, y0)) / ((x1 - x0) * (y1 - y0));
      }
    }
  }
  return out;
}

describe('downscaling photos on the CPU', () => {
  it('downscaleImage is the area average (exact integral, float64), rounded', () => {
    for (const [W, H, w, h] of [
      [37, 23, 10, 7],
      [40, 30, 20, 15],
      [9, 50, 4, 13],
      [31, 17, 31, 5],
      [64, 48, 1, 1],
    ]) {
      const im = randomImage(W, H, W + H);
      const got = downscaleImage(im, w, h);
      expect([got.width, got.height]).toEqual([w, h]);
      const want = areaAverageReference(im, w, h);
      let worst = 0;
      for (let i = 0; i < want.length; i++) {
        // both round the same mean; float64 sums in another order may land on the other side of .5 only there
        const d = Math.abs(got.data[i] - want[i]);
        worst = Math.max(worst, d);
      }
      expect(worst, `${W}×${H} → ${w}×${h}`).toBeLessThanOrEqual(0.5 + 1e-9);
    }
    const im = randomImage(4, 4, 1);
    expect(downscaleImage(im, 4, 4)).toBe(im);
    expect(() => downscaleImage(im, 5, 4)).toThrow('cannot scale 4×4 to 5×4');
  });

  it('fitSide and fitPixels never scale up and keep the aspect ratio', () => {
    expect(fitSide(4000, 3000, 2048)).toEqual({ width: 2048, height: 1536 });
    expect(fitSide(3000, 4000, 960)).toEqual({ width: 720, height: 960 });
    expect(fitSide(800, 600, 2048)).toEqual({ width: 800, height: 600 });
    expect(fitSide(8000, 6000, 0)).toEqual({ width: 8000, height: 6000 });
    const f = fitPixels(4000, 3000, MAX_TENSOR_PIXELS);
    expect(f.width * f.height).toBeLessThanOrEqual(MAX_TENSOR_PIXELS);
    expect(f.width * f.height * 3 * 4).toBeLessThanOrEqual(128 * 2 ** 20);
    expect(Math.abs(f.width / f.height - 4 / 3)).toBeLessThan(0.01);
    expect(fitPixels(100, 100, MAX_TENSOR_PIXELS)).toEqual({ width: 100, height: 100 });
  });

  it('readPhotoFile turns the photo upright, then scales it; scaleX/scaleY map back to its pixels', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lrdif-photo-'));
    try {
      const stored = randomImage(300, 200, 5);
      const file = join(dir, 'portrait.png');
      writeFileSync(file, withExifPng(encodePng(stored), tiffWithOrientation(6, false)));
      const p = readPhotoFile(file, { maxSide: 100, keepOriginal: true });
      expect([p.width, p.height]).toEqual([200, 300]);
      expect([p.image.width, p.image.height]).toEqual([67, 100]);
      expect(p.scaleX).toBeCloseTo(200 / 67, 12);
      expect(p.scaleY).toBe(3);
      expect(p.original).toEqual(orientImage(stored, 6));
      expect(p.image).toEqual(downscaleImage(orientImage(stored, 6), 67, 100));
      const whole = readPhotoFile(file, { maxSide: 0 });
      expect(whole.image).toEqual(orientImage(stored, 6));
      expect(whole.original).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("an empty file and an image past the decoder's limit are errors naming the file and what was expected", () => {
    expect(() => decodeImage(new Uint8Array(0), 'empty.jpg')).toThrow('lrdif: empty.jpg: the file is empty (0 bytes); expected a JPEG or PNG image');
    expect(() => decodeImage(new Uint8Array([0x47, 0x49, 0x46, 0x38, 0x39, 0x61]), 'a.gif')).toThrow(
      'a.gif: not a JPEG or PNG file (unrecognised signature: it starts with 47 49 46 38 …, 6 bytes)',
    );
    // a JPEG frame header (SOF0) claiming 20000×15000 pixels, and a PNG header claiming as many
    const sof = [0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 15000 >> 8, 15000 & 255, 20000 >> 8, 20000 & 255, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1];
    expect(() => decodeImage(Uint8Array.from(sof), 'huge.jpg')).toThrow(
      "lrdif: huge.jpg: the JPEG is 20000×15000 (300.0 megapixels), more than lrdif's decoder reads (100 megapixels); scale it down first",
    );
    const png = encodePng(randomImage(2, 2, 1));
    const big = png.slice();
    new DataView(big.buffer).setUint32(16, 20000);
    new DataView(big.buffer).setUint32(20, 15000);
    expect(() => decodeImage(big, 'huge.png')).toThrow(
      "lrdif: huge.png: the PNG is 20000×15000 (300.0 megapixels), more than lrdif's decoder reads (100 megapixels); scale it down first",
    );
  });
});

describe('images past what the GPU binds at once', () => {
  beforeAll(gpu);
  it('imagesToTensor refuses a 12-megapixel photo before uploading it, naming the tensor, the limit and the remedy', (t) => {
    const limit = engine.ctx.limits.maxStorageBufferBindingSize;
    if (4000 * 3000 * 12 <= limit) t.skip(); // this adapter binds it
    const photo: RgbImage = { width: 4000, height: 3000, data: new Uint8Array(4000 * 3000 * 3) };
    const live = engine.ctx.stats().liveBytes;
    expect(() => imagesToTensor([photo])).toThrow(
      `lrdif: imagesToTensor: 1 image(s) of 4000×3000 make an f32 tensor [1, 3, 3000, 4000] of 144,000,000 bytes, more than this device binds at once (maxStorageBufferBindingSize ${limit.toLocaleString('en')} bytes); scale the images down first (downscaleImage) or upload fewer at once`,
    );
    expect(engine.ctx.stats().liveBytes).toBe(live);
    // scaled to MAX_TENSOR_PIXELS it fits every adapter
    const { width, height } = fitPixels(4000, 3000, MAX_TENSOR_PIXELS);
    const t2 = imagesToTensor([downscaleImage(photo, width, height)]);
    expect(t2.shape).toEqual([1, 3, height, width]);
    t2.dispose();
  });
});
