import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { gpu } from './helpers/gpu.js';
import { expectClose, rng } from './helpers/ref.js';
import { imagesToTensor, chwToImage, type RgbImage } from '../src/io/image.js';
import { decodeImage, readImageFile, encodePng, encodeJpeg } from '../src/io/image-node.js';
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
    const pal = encodePngRaw({ width: 2, height: 1, data: new Uint8Array([1, 0]), channels: 1, depth: 8, palette: [[10, 20, 30], [40, 50, 60]] });
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
