import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose, gpuTensor, randArray } from './helpers/ref.js';
import { philox4x32, tensor, fillInPlace, empty } from '../src/node.js';
import {
  degradeBatch,
  applyDegradation,
  resolveDegradeConfig,
  sampleParams,
  imageSeed,
  ParamRng,
  psfCache,
  sensor,
  convolvePsf,
  useFftConvolution,
  seedKey,
  type UdcParams,
  type LowLightParams,
  type DegradeParams,
} from '../src/data/degrade/index.js';
// the float64 references are shared with `lrdif selftest`
import { refUdc, refLowLight } from '../src/selftest/reference/degrade.js';

async function bytesOf(t: { data(): Promise<Float32Array | Int32Array> }): Promise<Uint8Array> {
  const d = await t.data();
  return new Uint8Array(d.buffer.slice(0));
}

describe('seeds', () => {
  it('per-image seeds depend only on (seed, index), and parameter draws are in range', () => {
    expect(imageSeed(3, 10)).toBe(imageSeed(3, 10));
    const seen = new Set<number>();
    for (let s = 0; s < 4; s++) for (let i = 0; i < 50; i++) seen.add(imageSeed(s, i));
    expect(seen.size).toBe(200);
    for (const v of seen) expect(Number.isSafeInteger(v) && v >= 0).toBe(true);
    // the documented derivation
    const [w0, w1] = philox4x32([7, 0, 0x5eed, 0], [5, 0]);
    expect(imageSeed(5, 7)).toBe(w0 + (w1 & 0x1fffff) * 2 ** 32);
    const rng = new ParamRng(imageSeed(1, 2));
    for (let i = 0; i < 100; i++) {
      const u = rng.uniform([0.2, 0.35]);
      expect(u >= Math.fround(0.2) && u <= Math.fround(0.35)).toBe(true);
      const l = rng.logUniform([0.05, 0.2]);
      expect(l >= Math.fround(0.05) && l <= Math.fround(0.2)).toBe(true);
    }
    // roughly uniform: the mean of 4000 draws
    const r2 = new ParamRng(99);
    let m = 0;
    for (let i = 0; i < 4000; i++) m += r2.next();
    expect(Math.abs(m / 4000 - 0.5)).toBeLessThan(0.02);
    expect(() => imageSeed(-1, 0)).toThrow(/imageSeed: seed must be an integer in \[0, 2\^53\], got -1/);
  });
});

describe('UDC degradation', () => {
  beforeAll(async () => {
    await gpu();
  });

  for (const method of ['direct', 'fft'] as const) {
    for (const flare of [true, false]) {
      it(`without noise equals its float64 formula (${method} convolution, flare ${flare})`, async () => {
        const [n, h, w] = [2, 20, 26];
        const data = randArray([n, 3, h, w], 41, 0, 1);
        const x = gpuTensor(data, [n, 3, h, w]);
        const cfg = resolveDegradeConfig('udc', { noise: false, convolution: method, flare });
        const seeds = [imageSeed(4, 0), imageSeed(4, 1)];
        const { images, params } = degradeBatch(x, 'udc', cfg, seeds);
        const udc = params as UdcParams[];
        expect(udc[0].photons).toBe(0);
        expect(udc[0].readNoise).toBe(0);
        const psf = psfCache().get(cfg.display, 20);
        const k = psf.kernel.shape[1];
        expect(k).toBe(udc[0].psf.kernelSize);
        const kernel = (await psf.kernel.data()) as Float32Array;
        const eta = Array.from(await psf.inCrop.data());
        const ref = refUdc(data, n, h, w, kernel, k, flare ? eta : null, udc);
        expectClose(await images.data(), ref, 0, 3e-6, `UDC ${method}`);
        // the gain compensates the mean transmission
        const mt = (udc[0].transmission[0] + udc[0].transmission[1] + udc[0].transmission[2]) / 3;
        expect(Math.abs(udc[0].gain - udc[0].compensation / mt)).toBeLessThan(1e-6);
        x.dispose();
        images.dispose();
      });
    }
  }

  it('FFT and direct convolutions agree on a large kernel', async () => {
    const [n, h, w] = [3, 40, 33];
    const data = randArray([n, 3, h, w], 8, 0, 1);
    const x = gpuTensor(data, [n, 3, h, w]);
    const k = 31;
    const kd = randArray([3, k, k], 9, 0, 1);
    const psf = gpuTensor(kd, [3, k, k]);
    const a = convolvePsf(x, psf, 'direct');
    const b = convolvePsf(x, psf, 'fft');
    expectClose(await b.data(), await a.data(), 1e-5, 2e-4, 'fft vs direct');
    // FFT batches split by memory: 128×64 frames of 3 planes are 192 KiB, so 2 images (one frame) per batch
    const c = x.ctx.withTuning({ udc: { fftBatchBytes: 200_000 } }, () => convolvePsf(x, psf, 'fft'));
    expect(await bytesOf(c)).toEqual(await bytesOf(b));
    c.dispose();
    for (const t of [x, psf, a, b]) t.dispose();
    // the cost model prefers direct small kernels on small images and the FFT for big kernels
    expect(useFftConvolution(112, 112, 31)).toBe(false);
    expect(useFftConvolution(762, 562, 157)).toBe(true);
  });

  it('records JSON-able parameters that reproduce the same bytes', async () => {
    const data = randArray([3, 3, 16, 16], 2, 0, 1);
    const x = gpuTensor(data, [3, 3, 16, 16]);
    const seeds = [11, 12, 13].map((i) => imageSeed(9, i));
    const a = degradeBatch(x, 'udc', {}, seeds);
    const json = JSON.parse(JSON.stringify(a.params)) as DegradeParams[];
    expect(json).toEqual(a.params);
    expect(Object.keys(json[0]).sort()).toEqual(['compensation', 'gain', 'kind', 'photons', 'psf', 'readNoise', 'seed', 'transmission']);
    const cfg = resolveDegradeConfig('udc');
    for (const p of json as UdcParams[]) {
      p.transmission.forEach((t, c) => expect(t >= Math.fround(cfg.transmission[c][0]) && t <= Math.fround(cfg.transmission[c][1])).toBe(true));
      expect(p.photons >= Math.fround(cfg.photons[0]) && p.photons <= Math.fround(cfg.photons[1])).toBe(true);
    }
    const again = applyDegradation(x, 'udc', cfg, json);
    expect(await bytesOf(again)).toEqual(await bytesOf(a.images));
    for (const t of [x, a.images, again]) t.dispose();
  });
});

describe('low-light degradation', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('without noise equals its float64 formula, with and without a colour cast', async () => {
    const [n, h, w] = [6, 9, 13];
    const data = randArray([n, 3, h, w], 77, 0, 1);
    data[0] = 0; // x = 0 with gamma ≠ 1
    const x = gpuTensor(data, [n, 3, h, w]);
    const seeds = Array.from({ length: n }, (_, i) => imageSeed(21, i));
    const { images, params } = degradeBatch(x, 'lowlight', { noise: false }, seeds);
    const ll = params as LowLightParams[];
    expect(ll.some((p) => p.colourCast !== null)).toBe(true);
    expect(ll.some((p) => p.colourCast === null)).toBe(true);
    for (const p of ll) {
      expect(p.exposure >= Math.fround(0.05) && p.exposure <= Math.fround(0.2)).toBe(true);
      expect(p.gamma >= 1 && p.gamma <= 1.5).toBe(true);
    }
    expectClose(await images.data(), refLowLight(data, n, h * w, ll), 2e-6, 1e-7, 'low light');
    x.dispose();
    images.dispose();
  });

  it('switching the noise off changes no other parameter', () => {
    const a = sampleParams('lowlight', resolveDegradeConfig('lowlight'), 5, 112) as LowLightParams;
    const b = sampleParams('lowlight', resolveDegradeConfig('lowlight', { noise: false }), 5, 112) as LowLightParams;
    expect({ ...b, photons: a.photons, readNoise: a.readNoise }).toEqual(a);
    expect(a.photons).toBeGreaterThan(0);
  });
});

describe('determinism', () => {
  beforeAll(async () => {
    await gpu();
  });

  for (const kind of ['udc', 'lowlight'] as const) {
    it(`${kind}: same seeds give identical bytes, other seeds differ, and an image does not depend on its batch`, async () => {
      const [n, h, w] = [4, 24, 24];
      const data = randArray([n, 3, h, w], 5, 0.1, 0.9);
      const x = gpuTensor(data, [n, 3, h, w]);
      const seeds = [0, 1, 2, 3].map((i) => imageSeed(42, i));
      const a = degradeBatch(x, kind, {}, seeds);
      const b = degradeBatch(x, kind, {}, seeds);
      const ba = await bytesOf(a.images);
      expect(await bytesOf(b.images)).toEqual(ba);
      const c = degradeBatch(
        x,
        kind,
        {},
        [0, 1, 2, 3].map((i) => imageSeed(43, i)),
      );
      const bc = await bytesOf(c.images);
      const per = 3 * h * w * 4;
      for (let i = 0; i < n; i++) expect(bc.subarray(i * per, (i + 1) * per)).not.toEqual(ba.subarray(i * per, (i + 1) * per));
      // image 2 alone, with its seed, gives the bytes it had in the batch
      const one = gpuTensor(data.subarray(2 * 3 * h * w, 3 * 3 * h * w), [1, 3, h, w]);
      const d = degradeBatch(one, kind, {}, [seeds[2]]);
      expect(await bytesOf(d.images)).toEqual(ba.subarray(2 * per, 3 * per));
      for (const t of [x, a.images, b.images, c.images, one, d.images]) t.dispose();
    });
  }
});

describe('memory', () => {
  it('repeated on-the-fly degradation holds GPU memory flat', async () => {
    const ctx = await gpu();
    const x = gpuTensor(randArray([4, 3, 28, 28], 3, 0, 1), [4, 3, 28, 28]);
    const step = (i: number) => {
      for (const kind of ['udc', 'lowlight'] as const) {
        const { images } = degradeBatch(
          x,
          kind,
          {},
          [0, 1, 2, 3].map((j) => imageSeed(i, j)),
        );
        images.dispose();
      }
    };
    step(0);
    await ctx.sync();
    const before = ctx.stats();
    for (let i = 1; i <= 20; i++) step(i);
    await ctx.sync();
    const after = ctx.stats();
    expect(after.liveBuffers).toBe(before.liveBuffers);
    expect(after.liveBytes).toBe(before.liveBytes);
    x.dispose();
  });
});

describe('sensor noise', () => {
  beforeAll(async () => {
    await gpu();
  });

  function flat(n: number, h: number, w: number, v: number) {
    return fillInPlace(empty([n, 3, h, w]), v);
  }

  function moments(d: ArrayLike<number>): { mean: number; variance: number } {
    let m = 0;
    for (let i = 0; i < d.length; i++) m += d[i];
    m /= d.length;
    let v = 0;
    for (let i = 0; i < d.length; i++) v += (d[i] - m) ** 2;
    return { mean: m, variance: v / (d.length - 1) };
  }

  it('Poisson–Gaussian noise above the threshold has mean g·s and variance g²·(s/photons + σ²)', async () => {
    const x = flat(4, 64, 64, 0.5);
    const [a, g, photons, sigma] = [0.8, 1.5, 1000, 0.01];
    const rows = [0, 1, 2, 3].map((i) => ({ scale: [a, a, a] as const, gain: [g, g, g] as const, gamma: 1, photons, readNoise: sigma, seed: imageSeed(1, i) }));
    const y = sensor(x, rows);
    const d = await y.data();
    const s = Math.fround(0.5 * a);
    const mean = g * s;
    const variance = g * g * (s / photons + sigma * sigma);
    const m = moments(d);
    const nS = d.length;
    expect(Math.abs(m.mean - mean)).toBeLessThan(5 * Math.sqrt(variance / nS));
    // the variance of a sample variance is ≈ 2σ⁴/(n−1)
    expect(Math.abs(m.variance - variance)).toBeLessThan(5 * variance * Math.sqrt(2 / (nS - 1)));
    x.dispose();
    y.dispose();
  });

  it('below the threshold draws exact Poisson counts, by inversion of the documented uniform', async () => {
    const [h, w] = [64, 64];
    const x = flat(2, h, w, 0.5);
    const lambda = 5;
    const photons = 100;
    const a = lambda / photons / 0.5;
    const seeds = [imageSeed(7, 0), imageSeed(7, 1)];
    const rows = seeds.map((seed) => ({ scale: [a, a, a] as const, gain: [1, 1, 1] as const, gamma: 1, photons, readNoise: 0, seed }));
    const y = sensor(x, rows);
    const d = await y.data();
    const counts = Array.from(d, (v) => Math.round(v * photons));
    // the values are counts / photons
    for (let i = 0; i < d.length; i += 97) expect(Math.abs(d[i] * photons - counts[i])).toBeLessThan(1e-4);
    // frequencies match the Poisson pmf
    const nS = counts.length;
    let pk = Math.exp(-Math.fround(Math.fround(0.5 * Math.fround(a)) * photons));
    for (let k = 0; k < 14; k++) {
      if (k > 0) pk *= lambda / k;
      const f = counts.filter((c) => c === k).length / nS;
      expect(Math.abs(f - pk), `P(k = ${k})`).toBeLessThan(5 * Math.sqrt((pk * (1 - pk)) / nS) + 1e-4);
    }
    const m = moments(d);
    expect(Math.abs(m.mean - lambda / photons)).toBeLessThan(5 * Math.sqrt(lambda / photons / photons / nS));
    expect(Math.abs(m.variance - lambda / photons / photons) / (lambda / photons / photons)).toBeLessThan(0.05);
    // each count is the inversion of u = ((w2 >> 8) + 0.5)·2^-24 from the element's Philox block
    let mismatches = 0;
    const lam = Math.fround(Math.fround(0.5 * Math.fround(a)) * photons);
    for (let img = 0; img < 2; img++) {
      const key = seedKey(seeds[img]);
      for (let e = 0; e < 3 * h * w; e += 7) {
        const wds = philox4x32([e, 0, 0, 0], key);
        const u = ((wds[2] >>> 8) + 0.5) * 2 ** -24;
        let p = Math.exp(-lam);
        let cdf = p;
        let k = 0;
        while (u > cdf && k < 1000) {
          k++;
          p *= lam / k;
          cdf += p;
        }
        if (k !== counts[img * 3 * h * w + e]) mismatches++;
      }
    }
    // float32 CDF sums may round a draw sitting on a boundary the other way
    expect(mismatches).toBeLessThanOrEqual(2);
    x.dispose();
    y.dispose();
  });

  it("read noise is the sine half of Box–Muller on the element's Philox words (GPU Philox = host Philox)", async () => {
    const [h, w] = [8, 12];
    const x = flat(2, h, w, 0.5);
    const sigma = 0.05;
    const seeds = [imageSeed(3, 0), 2 ** 40 + 12345];
    const rows = seeds.map((seed) => ({ scale: [1, 1, 1] as const, gain: [1, 1, 1] as const, gamma: 1, photons: 0, readNoise: sigma, seed }));
    const y = sensor(x, rows);
    const d = await y.data();
    const ref = new Float64Array(d.length);
    for (let img = 0; img < 2; img++) {
      const key = seedKey(seeds[img]);
      for (let e = 0; e < 3 * h * w; e++) {
        const [w0, w1] = philox4x32([e, 0, 0, 0], key);
        const u1 = ((w0 >>> 8) + 1) * 2 ** -24;
        const theta = ((w1 >>> 8) * 2 ** -24 - 0.5) * 2 * Math.PI;
        ref[img * 3 * h * w + e] = 0.5 + sigma * Math.sqrt(-2 * Math.log(u1)) * Math.sin(theta);
      }
    }
    expectClose(d, ref, 0, 2e-6, 'read noise');
    x.dispose();
    y.dispose();
  });

  it('names what is wrong', async () => {
    const x = tensor(new Float32Array(2 * 3 * 4), [2, 3, 2, 2]);
    expect(() => degradeBatch(x, 'udc', {}, [1])).toThrow(/degradeBatch: 1 seeds for 2 images \[2, 3, 2, 2\]/);
    expect(() => degradeBatch(x, 'fog' as 'udc', {}, [1, 2])).toThrow(/unknown degradation "fog"/);
    expect(() => resolveDegradeConfig('udc', { transmision: [0.2, 0.3] })).toThrow(/udc\.transmision: expected one of the fields/);
    expect(() => resolveDegradeConfig('lowlight', { exposure: [0.3, 0.1] })).toThrow(/lowlight\.exposure: expected a range \[lo, hi\]/);
    expect(() => resolveDegradeConfig('udc', { display: { gridSize: 300 } })).toThrow(/udc\.display\.gridSize: expected a power of two/);
    const g = tensor(new Float32Array(6 * 4), [2, 3, 2, 2]);
    g.requiresGrad = true;
    expect(() => sensor(g, [])).toThrow(/sensor: 0 parameter rows for 2 images/);
    const bad = tensor(new Float32Array(8), [2, 1, 2, 2]);
    expect(() => degradeBatch(bad, 'lowlight', {}, [1, 2])).toThrow(/expected images \[N, 3, H, W\], got \[2, 1, 2, 2\]/);
    for (const t of [x, g, bad]) t.dispose();
  });
});
