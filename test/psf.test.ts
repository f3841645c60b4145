import { describe, it, expect, beforeAll } from 'vitest';
import { gpu } from './helpers/gpu.js';
import { expectClose } from './helpers/ref.js';
import { buildPupil, computePsf, psfPlan, resampleMatrix, checkDisplayConfig, DEFAULT_DISPLAY, PsfCache, type DisplayConfig } from '../src/data/degrade/psf.js';

/** |DFT2(p)|² in float64, unshifted, row-major N×N. */
function dftPower(p: Float64Array, n: number): Float64Array {
  const cos = Float64Array.from({ length: n }, (_, m) => Math.cos((2 * Math.PI * m) / n));
  const sin = Float64Array.from({ length: n }, (_, m) => -Math.sin((2 * Math.PI * m) / n));
  // rows
  const rr = new Float64Array(n * n);
  const ri = new Float64Array(n * n);
  for (let y = 0; y < n; y++) {
    for (let v = 0; v < n; v++) {
      let a = 0;
      let b = 0;
      for (let x = 0; x < n; x++) {
        const m = (v * x) % n;
        a += p[y * n + x] * cos[m];
        b += p[y * n + x] * sin[m];
      }
      rr[y * n + v] = a;
      ri[y * n + v] = b;
    }
  }
  const out = new Float64Array(n * n);
  for (let u = 0; u < n; u++) {
    for (let v = 0; v < n; v++) {
      let a = 0;
      let b = 0;
      for (let y = 0; y < n; y++) {
        const m = (u * y) % n;
        a += rr[y * n + v] * cos[m] - ri[y * n + v] * sin[m];
        b += rr[y * n + v] * sin[m] + ri[y * n + v] * cos[m];
      }
      out[u * n + v] = a * a + b * b;
    }
  }
  return out;
}

/** fftshift, centre k×k crop, flip both axes, normalise: the kernel psf.ts documents. */
function refKernel(power: Float64Array, n: number, k: number): { kernel: Float64Array; inCrop: number } {
  const shifted = (i: number, j: number) => power[((i + n / 2) % n) * n + ((j + n / 2) % n)];
  const r = (k - 1) / 2;
  const crop = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) crop[i * k + j] = shifted(n / 2 - r + i, n / 2 - r + j);
  const kernel = new Float64Array(k * k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) kernel[i * k + j] = crop[(k - 1 - i) * k + (k - 1 - j)];
  const s = kernel.reduce((a, b) => a + b, 0);
  const total = power.reduce((a, b) => a + b, 0);
  return { kernel: kernel.map((v) => v / s), inCrop: s / total };
}

/** Second moment Σ w·r² about the kernel centre (the kernels sum to 1). */
function secondMoment(kern: ArrayLike<number>, k: number, offset = 0): number {
  const r = (k - 1) / 2;
  let m = 0;
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) m += kern[offset + i * k + j] * ((i - r) ** 2 + (j - r) ** 2);
  return m;
}

const SMALL: DisplayConfig = {
  pitchUm: [8, 8],
  openingUm: [5, 6],
  apertureRadiusUm: 30,
  gridExtentUm: 128,
  gridSize: 32,
  wavelengthsNm: [610, 530, 470],
  referenceWavelengthNm: 530,
  kernelSize: 15,
  referenceSize: 112,
};

/** An open display (openings fill the cells): the pupil is the bare circular aperture. */
const OPEN: DisplayConfig = {
  ...SMALL,
  pitchUm: [10, 10],
  openingUm: [10, 10],
  apertureRadiusUm: 20,
  gridExtentUm: 256,
  gridSize: 256,
  kernelSize: 41,
};

describe('pupil', () => {
  it('is the aperture times the tiled openings, area-averaged and point-symmetric', () => {
    const n = 64;
    const dx = 1.5;
    const cfg: DisplayConfig = { ...SMALL, apertureRadiusUm: 40 };
    const p = buildPupil(cfg, n, dx);
    // every value is a coverage fraction
    expect(p.every((v) => v >= 0 && v <= 1)).toBe(true);
    // point symmetry about sample (n/2, n/2)
    for (let i = 1; i < n; i++) for (let j = 1; j < n; j++) expect(Math.abs(p[i * n + j] - p[(n - i) * n + (n - j)])).toBeLessThan(1e-12);
    // total transmission ≈ aperture area × open fraction of the display
    const sum = p.reduce((a, b) => a + b, 0) * dx * dx;
    const expected = Math.PI * 40 * 40 * ((5 * 6) / (8 * 8));
    expect(Math.abs(sum - expected) / expected).toBeLessThan(0.02);
    // the centre sample lies inside an opening, the cell corners are opaque: (4 µm, 4 µm) from the centre
    expect(p[(n / 2) * n + n / 2]).toBe(1);
    // samples far outside the aperture are zero
    expect(p[0]).toBe(0);
    // a fully open display leaves the disk: its area is π a²
    const open = buildPupil({ ...cfg, openingUm: [8, 8] }, n, dx);
    const area = open.reduce((a, b) => a + b, 0) * dx * dx;
    expect(Math.abs(area - Math.PI * 40 * 40) / (Math.PI * 40 * 40)).toBeLessThan(2e-3);
  });
});

describe('PSF', () => {
  beforeAll(async () => {
    await gpu();
  });

  it('matches a float64 DFT of the same pupils on a small grid', async () => {
    const plan = psfPlan(SMALL, 112);
    expect(plan).toMatchObject({ scale: 1, gridSize: 32, computedKernelSize: 15, kernelSize: 15 });
    const psf = computePsf(SMALL, 112);
    expect(psf.kernel.shape).toEqual([3, 15, 15]);
    const got = await psf.kernel.data();
    const inCrop = await psf.inCrop.data();
    for (let c = 0; c < 3; c++) {
      const pupil = buildPupil(SMALL, 32, plan.sampleUm[c]);
      const ref = refKernel(dftPower(pupil, 32), 32, 15);
      const mx = Math.max(...ref.kernel);
      expectClose(got.subarray(c * 225, (c + 1) * 225), ref.kernel, 0, 2e-6 * mx + 1e-9, `PSF channel ${c}`);
      expect(Math.abs(inCrop[c] - ref.inCrop)).toBeLessThan(1e-5);
    }
    psf.kernel.dispose();
    psf.inCrop.dispose();
  });

  it('sums to one, and the red PSF is wider than the green and the blue', async () => {
    for (const cfg of [DEFAULT_DISPLAY, OPEN]) {
      const psf = computePsf(cfg);
      const k = psf.kernel.shape[1];
      const d = await psf.kernel.data();
      const m: number[] = [];
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let i = 0; i < k * k; i++) s += d[c * k * k + i];
        expect(Math.abs(s - 1)).toBeLessThan(1e-5);
        m.push(secondMoment(d, k, c * k * k));
      }
      expect(m[0]).toBeGreaterThan(m[1]);
      expect(m[1]).toBeGreaterThan(m[2]);
      const f = await psf.inCrop.data();
      expect(f.every((v) => v > 0 && v <= 1)).toBe(true);
      psf.kernel.dispose();
      psf.inCrop.dispose();
    }
  });

  it('of an open pupil is an Airy pattern with its first dark ring at 1.22·λ/D', async () => {
    const psf = computePsf(OPEN);
    const k = OPEN.kernelSize;
    const r = (k - 1) / 2;
    const d = await psf.kernel.data();
    const plan = psfPlan(OPEN);
    for (let c = 0; c < 3; c++) {
      // the zero of J1(2πaρ) at 2πaρ = 3.8317 lies at ρ = 0.6098/a cycles per µm: in DFT bins, ρ·N·dx
      const theory = (3.8317 / (2 * Math.PI * OPEN.apertureRadiusUm)) * plan.gridSize * plan.sampleUm[c];
      // azimuthal average in unit-wide rings
      const rings = new Float64Array(r + 1);
      const counts = new Float64Array(r + 1);
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < k; j++) {
          const q = Math.round(Math.hypot(i - r, j - r));
          if (q <= r) {
            rings[q] += d[c * k * k + i * k + j];
            counts[q]++;
          }
        }
      }
      const prof = Array.from(rings, (v, q) => v / counts[q]);
      let first = -1;
      for (let q = 1; q < r; q++) {
        if (prof[q] < prof[q - 1] && prof[q] <= prof[q + 1]) {
          first = q;
          break;
        }
      }
      // sub-cell position of the minimum by a parabola through its neighbours
      const [a, b, e] = [prof[first - 1], prof[first], prof[first + 1]];
      const at = first + (0.5 * (a - e)) / (a - 2 * b + e);
      expect(Math.abs(at - theory), `channel ${c}: ring at ${at.toFixed(2)}, theory ${theory.toFixed(2)}`).toBeLessThan(1);
      // the centre holds the maximum
      expect(d[c * k * k + r * k + r]).toBe(Math.max(...d.subarray(c * k * k, (c + 1) * k * k)));
    }
    psf.kernel.dispose();
    psf.inCrop.dispose();
  });

  it('scales with the image: computed wider for larger images, box-filtered for smaller ones', async () => {
    // larger: twice the size, twice the kernel and a grid twice as fine
    const up = psfPlan(OPEN, 224);
    expect(up).toMatchObject({ scale: 2, gridSize: 512, computedKernelSize: 83, kernelSize: 83 });
    const base = computePsf(OPEN);
    const big = computePsf(OPEN, 224);
    const bd = await base.kernel.data();
    const gd = await big.kernel.data();
    for (let c = 0; c < 3; c++) {
      const ratio = Math.sqrt(secondMoment(gd, 83, c * 83 * 83) / secondMoment(bd, 41, c * 41 * 41));
      expect(Math.abs(ratio - 2), `channel ${c} width ratio ${ratio}`).toBeLessThan(0.1);
    }
    // smaller: the reference-size kernel box-filtered, A·K·Aᵀ renormalised
    const down = psfPlan(OPEN, 48);
    expect(down).toMatchObject({ gridSize: 256, computedKernelSize: 41, kernelSize: 17 });
    const small = computePsf(OPEN, 48);
    expect(small.kernel.shape).toEqual([3, 17, 17]);
    const sd = await small.kernel.data();
    const a = resampleMatrix(41, 17, 48 / 112);
    for (let c = 0; c < 3; c++) {
      const ref = new Float64Array(17 * 17);
      for (let i = 0; i < 17; i++) {
        for (let j = 0; j < 17; j++) {
          let s = 0;
          for (let u = 0; u < 41; u++) for (let v = 0; v < 41; v++) s += a[i * 41 + u] * bd[c * 1681 + u * 41 + v] * a[j * 41 + v];
          ref[i * 17 + j] = s;
        }
      }
      const tot = ref.reduce((x, y) => x + y, 0);
      expectClose(
        sd.subarray(c * 289, (c + 1) * 289),
        ref.map((v) => v / tot),
        1e-4,
        1e-7,
        `downsampled channel ${c}`,
      );
    }
    for (const p of [base, big, small]) {
      p.kernel.dispose();
      p.inCrop.dispose();
    }
  });

  it('box-filter matrix rows integrate each output footprint', () => {
    const a = resampleMatrix(31, 13, 13 / 31);
    for (let i = 0; i < 13; i++) {
      let s = 0;
      for (let u = 0; u < 31; u++) s += a[i * 31 + u];
      expect(Math.abs(s - 31 / 13)).toBeLessThan(1e-12);
    }
  });

  it('caches by display and size, evicting the least recently used', async () => {
    const cache = new PsfCache(2);
    const a = cache.get(SMALL, 112);
    expect(cache.get(SMALL, 112)).toBe(a);
    cache.get(SMALL, 56);
    cache.get(SMALL, 112);
    cache.get(SMALL, 80);
    expect(cache.size).toBe(2);
    expect(cache.get(SMALL, 112)).toBe(a);
    cache.dispose();
    expect(a.kernel.isDisposed).toBe(true);
  });

  it('names the display field at fault', () => {
    expect(() => checkDisplayConfig({ ...SMALL, gridSize: 100 })).toThrow(/display\.gridSize: expected a power of two in \[8, 2048\], got 100/);
    expect(() => checkDisplayConfig({ ...SMALL, openingUm: [9, 6] })).toThrow(/display\.openingUm: expected an opening no larger than the pitch/);
    expect(() => checkDisplayConfig({ ...SMALL, kernelSize: 14 })).toThrow(/display\.kernelSize: expected an odd integer/);
    expect(() => checkDisplayConfig({ ...SMALL, apertureRadiusUm: 80 })).toThrow(/display\.apertureRadiusUm: expected an aperture narrower than the pupil grid/);
    expect(() => psfPlan(SMALL, 0)).toThrow(/image size must be a positive integer/);
  });
});
