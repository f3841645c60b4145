/**
 * Point-spread functions of a camera behind a display (under-display camera), by Fraunhofer
 * diffraction: PSF_λ = |FFT(pupil_λ)|², per wavelength (R, G, B = 610, 530, 470 nm).
 *
 * The pupil is the camera's circular aperture times the display's tiled pixel-opening mask:
 * a rectangular grid of pitch `pitchUm` whose cells each have one transparent rectangular
 * opening `openingUm`, centred in the cell (a P-OLED-like pattern; everything else is opaque).
 * Both factors are area-averaged over each pupil sample: the mask exactly (it is separable, so
 * its coverage is the product of two 1-D interval overlaps), the aperture by 8×8 supersampling
 * of the samples its edge crosses.
 *
 * Sampling. One PSF sample must be one image pixel at every wavelength. The DFT of a pupil
 * sampled at dx over N samples has bins 1/(N·dx) apart, i.e. λf/(N·dx) on the sensor, so the
 * pupil grid's physical extent N·dx is scaled with λ: N·dx(λ) = gridExtentUm · λ/λ_ref
 * (gridExtentUm = λ_ref·f/p for focal length f and image pixel p). Longer wavelengths thus get
 * a coarser pupil sampling and a proportionally wider PSF (diffraction angle ∝ λ).
 *
 * Image size. The geometry holds for images whose shorter side is `referenceSize` pixels
 * (the model's 112). For an image s = size/referenceSize times larger, the PSF is s times
 * wider in pixels: s ≥ 1 computes it directly with the grid extent scaled by s (and the FFT
 * grid enlarged by the next power of two ≥ s, up to 2048, so the pupil sampling stays as
 * fine), s < 1 computes it at the reference size and box-filters it down (each output pixel
 * integrates the 1/s input pixels under its footprint). Kernel side: the odd integer nearest
 * kernelSize·s, at least 3.
 *
 * The kernel is the centre k×k of the fftshifted PSF, normalised to unit sum, and flipped, so
 * that the correlation conv2d computes is a convolution with the PSF. The fraction of the
 * PSF's energy inside the crop (`inCrop`, from Parseval: the whole PSF holds N²·Σ|pupil|²) is
 * returned beside it: the UDC model spreads the rest, light diffracted far from the source,
 * as a uniform veil (flare); the transmission loss is modelled separately by γ.
 * For a real pupil |F(−ν)| = |F(ν)|, so the PSF is point-symmetric and the flip changes it
 * only by rounding.
 */
import { engine, tidy } from '../../autograd/engine.js';
import { fmtShape, tensor, type Tensor } from '../../autograd/tensor.js';
import type { GpuContext } from '../../gpu/context.js';
import { alloc, assertFloat } from '../../kernels/util.js';
import { fft2d, realToComplex } from '../../kernels/fft.js';

export interface DisplayConfig {
  /** Display pixel pitch [x, y], µm. */
  pitchUm: [number, number];
  /** Transparent opening of each display pixel [width, height], µm, centred in its cell. */
  openingUm: [number, number];
  /** Radius of the camera's circular aperture, µm. */
  apertureRadiusUm: number;
  /** Physical extent N·dx of the pupil grid at the reference wavelength and image size, µm (= λ_ref·f / pixel). */
  gridExtentUm: number;
  /** FFT grid side at the reference image size (power of two). */
  gridSize: number;
  /** Wavelengths of the R, G and B channels, nm. */
  wavelengthsNm: [number, number, number];
  /** Wavelength at which gridExtentUm holds, nm. */
  referenceWavelengthNm: number;
  /** Side of the cropped kernel at the reference image size (odd). */
  kernelSize: number;
  /** Shorter image side (pixels) at which kernelSize and gridExtentUm hold. */
  referenceSize: number;
}

/**
 * Defaults: a P-OLED-like display (40 µm pitch, 28×32 µm openings) over a 200 µm aperture;
 * the grid extent puts the first diffraction orders ≈ 13 px from the centre at 530 nm (inside
 * the 31×31 kernel, as the ghosts and smear of UDC images) and the Airy core radius at ≈ 3 px;
 * 77–83 % of the light stays inside the kernel (the rest becomes the UDC model's veil).
 */
export const DEFAULT_DISPLAY: Readonly<DisplayConfig> = Object.freeze({
  pitchUm: [40, 40],
  openingUm: [28, 32],
  apertureRadiusUm: 100,
  gridExtentUm: 512,
  gridSize: 256,
  wavelengthsNm: [610, 530, 470],
  referenceWavelengthNm: 530,
  kernelSize: 31,
  referenceSize: 112,
}) as Readonly<DisplayConfig>;

/** Largest FFT grid used when an image is much larger than the reference size. */
export const MAX_GRID = 2048;

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0;
}

/** Checks a display configuration; errors name the field and what was expected. */
export function checkDisplayConfig(cfg: DisplayConfig, where = 'display'): void {
  const fail = (field: string, want: string, got: unknown) => {
    throw new Error(`lrdif: ${where}.${field}: expected ${want}, got ${JSON.stringify(got)}`);
  };
  const pos = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v > 0;
  const pair = (field: keyof DisplayConfig) => {
    const v = cfg[field] as unknown;
    if (!Array.isArray(v) || v.length !== 2 || !v.every(pos)) fail(field, 'two positive numbers', v);
  };
  pair('pitchUm');
  pair('openingUm');
  if (cfg.openingUm[0] > cfg.pitchUm[0] || cfg.openingUm[1] > cfg.pitchUm[1]) {
    fail('openingUm', `an opening no larger than the pitch ${JSON.stringify(cfg.pitchUm)}`, cfg.openingUm);
  }
  for (const f of ['apertureRadiusUm', 'gridExtentUm', 'referenceWavelengthNm'] as const) if (!pos(cfg[f])) fail(f, 'a positive number', cfg[f]);
  if (!isPow2(cfg.gridSize) || cfg.gridSize < 8 || cfg.gridSize > MAX_GRID) fail('gridSize', `a power of two in [8, ${MAX_GRID}]`, cfg.gridSize);
  if (!Array.isArray(cfg.wavelengthsNm) || cfg.wavelengthsNm.length !== 3 || !cfg.wavelengthsNm.every(pos))
    fail('wavelengthsNm', 'three positive numbers (R, G, B)', cfg.wavelengthsNm);
  if (!Number.isInteger(cfg.kernelSize) || cfg.kernelSize < 1 || cfg.kernelSize % 2 === 0 || cfg.kernelSize >= cfg.gridSize) {
    fail('kernelSize', `an odd integer below gridSize ${cfg.gridSize}`, cfg.kernelSize);
  }
  if (!Number.isInteger(cfg.referenceSize) || cfg.referenceSize < 1) fail('referenceSize', 'a positive integer', cfg.referenceSize);
  const maxLambda = Math.max(...cfg.wavelengthsNm);
  const minLambda = Math.min(...cfg.wavelengthsNm);
  // the aperture must fit the grid at the shortest wavelength (whose grid is the smallest)
  if (2 * cfg.apertureRadiusUm >= (cfg.gridExtentUm * minLambda) / cfg.referenceWavelengthNm) {
    fail(
      'apertureRadiusUm',
      `an aperture narrower than the pupil grid (${((cfg.gridExtentUm * minLambda) / cfg.referenceWavelengthNm).toFixed(1)} µm at ${minLambda} nm)`,
      cfg.apertureRadiusUm,
    );
  }
  void maxLambda;
}

/** How a PSF for a given image size is computed. */
export interface PsfPlan {
  /** Image scale relative to the reference size. */
  scale: number;
  /** FFT grid side used. */
  gridSize: number;
  /** Pupil sample spacing per channel (µm). */
  sampleUm: [number, number, number];
  /** Kernel side computed by the FFT (before any downsampling). */
  computedKernelSize: number;
  /** Final kernel side. */
  kernelSize: number;
}

function oddNear(v: number): number {
  const k = Math.round(v);
  const odd = k % 2 === 1 ? k : v >= k ? k + 1 : k - 1;
  return Math.max(3, odd);
}

/** The computation plan for an image whose shorter side is `imageSize` pixels. */
export function psfPlan(cfg: DisplayConfig, imageSize: number = cfg.referenceSize): PsfPlan {
  checkDisplayConfig(cfg);
  if (!Number.isInteger(imageSize) || imageSize < 1) throw new Error(`lrdif: psfPlan: image size must be a positive integer, got ${imageSize}`);
  const scale = imageSize / cfg.referenceSize;
  const up = Math.max(scale, 1);
  const grid = scale > 1 ? Math.min(MAX_GRID, Math.max(cfg.gridSize, cfg.gridSize * 2 ** Math.ceil(Math.log2(scale)))) : cfg.gridSize;
  const computed = scale > 1 ? oddNear(cfg.kernelSize * scale) : cfg.kernelSize;
  if (computed >= grid) throw new Error(`lrdif: psfPlan: a ${computed}-pixel kernel for images of ${imageSize} px does not fit the ${grid} FFT grid; raise display.gridSize`);
  const kernelSize = scale < 1 ? Math.min(cfg.kernelSize, oddNear(cfg.kernelSize * scale)) : computed;
  const sampleUm = cfg.wavelengthsNm.map((l) => (cfg.gridExtentUm * up * (l / cfg.referenceWavelengthNm)) / grid) as [number, number, number];
  return { scale, gridSize: grid, sampleUm, computedKernelSize: computed, kernelSize };
}

/** ∫_0^t of the periodic opening indicator (openings [kΛ − w/2, kΛ + w/2]). */
function openCumulative(t: number, pitch: number, w: number): number {
  const s = t + w / 2;
  const cells = Math.floor(s / pitch);
  return cells * w + Math.min(s - cells * pitch, w);
}

/**
 * The pupil transmittance on an N×N grid with spacing `sampleUm` (µm), centred at sample
 * (N/2, N/2): aperture coverage × display-opening coverage per sample, row-major, float64.
 */
export function buildPupil(cfg: DisplayConfig, n: number, sampleUm: number): Float64Array {
  const dx = sampleUm;
  const [px, py] = cfg.pitchUm;
  const [ow, oh] = cfg.openingUm;
  const rad = cfg.apertureRadiusUm;
  const cover1d = (c: number, pitch: number, w: number) => (openCumulative(c + dx / 2, pitch, w) - openCumulative(c - dx / 2, pitch, w)) / dx;
  const maskX = new Float64Array(n);
  const maskY = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    maskX[i] = cover1d((i - n / 2) * dx, px, ow);
    maskY[i] = cover1d((i - n / 2) * dx, py, oh);
  }
  const SS = 8;
  const edge = dx * Math.SQRT1_2;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const y = (i - n / 2) * dx;
    if (maskY[i] === 0 || Math.abs(y) > rad + dx) continue;
    for (let j = 0; j < n; j++) {
      if (maskX[j] === 0) continue;
      const x = (j - n / 2) * dx;
      const r = Math.hypot(x, y);
      let ap: number;
      if (r <= rad - edge) ap = 1;
      else if (r >= rad + edge) ap = 0;
      else {
        let inside = 0;
        for (let a = 0; a < SS; a++) {
          for (let b = 0; b < SS; b++) {
            const sx = x + ((b + 0.5) / SS - 0.5) * dx;
            const sy = y + ((a + 0.5) / SS - 0.5) * dx;
            if (sx * sx + sy * sy <= rad * rad) inside++;
          }
        }
        ap = inside / (SS * SS);
      }
      out[i * n + j] = ap * maskX[j] * maskY[i];
    }
  }
  return out;
}

/** PSF kernels and the fraction of each PSF's energy that falls inside its kernel. */
export interface PsfKernels {
  /** [B, k, k], each summing to 1 (flipped for conv2d). */
  kernel: Tensor;
  /** [B]: energy inside the k×k crop / energy of the whole PSF (before normalising). */
  inCrop: Tensor;
}

/** Σ|pupil|², so that N²·Σ|pupil|² = Σ|FFT(pupil)|² (Parseval): the whole PSF's energy. */
export function pupilEnergy(pupil: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let i = 0; i < pupil.length; i++) s += pupil[i] * pupil[i];
  return s * n * n;
}

/**
 * PSF kernels from real pupils [B, N, N] (N a power of two): the flipped, centred k×k crop of
 * |FFT2(pupil)|², each normalised to unit sum; `energy[b]` is the whole PSF's energy
 * (`pupilEnergy`), for the in-crop fractions.
 */
export function psfFromPupils(pupils: Tensor, k: number, energy: ArrayLike<number>): PsfKernels {
  assertFloat('psfFromPupils', pupils);
  if (pupils.rank !== 3 || pupils.shape[1] !== pupils.shape[2] || !isPow2(pupils.shape[1])) {
    throw new Error(`lrdif: psfFromPupils: pupils must be [B, N, N] with N a power of two, got ${fmtShape(pupils.shape)}`);
  }
  const [b, n] = pupils.shape;
  if (!Number.isInteger(k) || k < 1 || k % 2 === 0 || k > n) throw new Error(`lrdif: psfFromPupils: kernel size must be odd and at most ${n}, got ${k}`);
  if (energy.length !== b) throw new Error(`lrdif: psfFromPupils: ${energy.length} energies for ${b} pupils`);
  const kernel = alloc([b, k, k]);
  const inCrop = alloc([b]);
  if (b === 0) return { kernel, inCrop };
  const spec = tidy(() => fft2d(realToComplex(pupils)));
  const e = tensor(Float32Array.from(energy), [b], 'f32', pupils.ctx);
  pupils.ctx.dispatch(
    { shader: 'psf', entry: 'crop' },
    {
      bindings: { spec: spec.buffer, psf: kernel.buffer, energy: e.buffer, in_crop: inCrop.buffer },
      uniforms: { n, k },
      workgroups: [b],
    },
  );
  spec.dispose();
  e.dispose();
  return { kernel, inCrop };
}

/**
 * Box-filter downsampling matrix [ks, k]: output pixel i (centred coordinates, footprint
 * 1/scale input pixels wide) gets the overlap length of its footprint with input pixel u.
 */
export function resampleMatrix(k: number, ks: number, scale: number): Float64Array {
  const a = new Float64Array(ks * k);
  const r = (k - 1) / 2;
  const rs = (ks - 1) / 2;
  for (let i = 0; i < ks; i++) {
    const lo = (i - rs - 0.5) / scale;
    const hi = (i - rs + 0.5) / scale;
    for (let u = 0; u < k; u++) {
      const ov = Math.min(hi, u - r + 0.5) - Math.max(lo, u - r - 0.5);
      a[i * k + u] = ov > 0 ? ov : 0;
    }
  }
  return a;
}

/** Downsamples kernels [B, k, k] to [B, ks, ks] with `resampleMatrix` (A·K·Aᵀ), renormalised. */
export function resamplePsf(psf: Tensor, ks: number, scale: number): Tensor {
  assertFloat('resamplePsf', psf);
  if (psf.rank !== 3 || psf.shape[1] !== psf.shape[2]) throw new Error(`lrdif: resamplePsf: kernels must be [B, k, k], got ${fmtShape(psf.shape)}`);
  const [b, k] = psf.shape;
  const a = tensor(Float32Array.from(resampleMatrix(k, ks, scale)), [ks, k], 'f32', psf.ctx);
  const out = alloc([b, ks, ks]);
  if (b > 0) {
    psf.ctx.dispatch(
      { shader: 'psf', entry: 'resample' },
      {
        bindings: { src: psf.buffer, amat: a.buffer, psf: out.buffer },
        uniforms: { n: k, k: ks },
        workgroups: [b],
      },
    );
  }
  a.dispose();
  return out;
}

/** Pupils of the three wavelengths for a plan, float64 [3·N·N]. */
export function planPupils(cfg: DisplayConfig, plan: PsfPlan): Float64Array[] {
  return plan.sampleUm.map((dx) => buildPupil(cfg, plan.gridSize, dx));
}

/**
 * The R, G, B PSF kernels of a display for images whose shorter side is `imageSize` pixels:
 * kernel [3, k, k], each summing to 1, flipped for conv2d (see the file comment), and the
 * in-crop energy fractions [3] (of the PSF as computed, before any downsampling).
 */
export function computePsf(cfg: DisplayConfig, imageSize: number = cfg.referenceSize): PsfKernels {
  const plan = psfPlan(cfg, imageSize);
  const n = plan.gridSize;
  const k = plan.computedKernelSize;
  const pupils = planPupils(cfg, plan);
  // all three wavelengths in one batch unless the complex buffers would be large
  const perBatch = 3 * n * n * 8 <= 64 * 2 ** 20 ? 3 : 1;
  let kernel = alloc([3, k, k]);
  const inCrop = alloc([3]);
  const ctx = kernel.ctx;
  for (let c = 0; c < 3; c += perBatch) {
    const data = new Float32Array(perBatch * n * n);
    const energy: number[] = [];
    for (let q = 0; q < perBatch; q++) {
      data.set(pupils[c + q], q * n * n);
      energy.push(pupilEnergy(pupils[c + q], n));
    }
    const p = tensor(data, [perBatch, n, n]);
    const part = psfFromPupils(p, k, energy);
    ctx.copy(part.kernel.buffer, 0, kernel.buffer, c * k * k * 4, perBatch * k * k * 4);
    ctx.copy(part.inCrop.buffer, 0, inCrop.buffer, c * 4, perBatch * 4);
    for (const t of [p, part.kernel, part.inCrop]) t.dispose();
  }
  if (plan.scale < 1 && plan.kernelSize !== plan.computedKernelSize) {
    const small = resamplePsf(kernel, plan.kernelSize, plan.scale);
    kernel.dispose();
    kernel = small;
  }
  return { kernel, inCrop };
}

/**
 * A small per-context cache of PSF kernels by (display, image size): the degradations ask for
 * the same few PSFs over and over. Cached tensors belong to the cache (kept out of tidy scopes).
 */
export class PsfCache {
  private entries = new Map<string, PsfKernels>();
  constructor(readonly maxEntries = 8) {}

  get(cfg: DisplayConfig, imageSize: number): PsfKernels {
    const key = `${JSON.stringify(cfg)}@${imageSize}`;
    const hit = this.entries.get(key);
    if (hit && !hit.kernel.isDisposed && !hit.inCrop.isDisposed) {
      // most recently used last
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    const t = computePsf(cfg, imageSize);
    engine.keep(t.kernel);
    engine.keep(t.inCrop);
    this.entries.set(key, t);
    while (this.entries.size > this.maxEntries) {
      const [oldKey, old] = this.entries.entries().next().value as [string, PsfKernels];
      this.entries.delete(oldKey);
      old.kernel.dispose();
      old.inCrop.dispose();
    }
    return t;
  }

  get size(): number {
    return this.entries.size;
  }

  dispose(): void {
    for (const t of this.entries.values()) {
      t.kernel.dispose();
      t.inCrop.dispose();
    }
    this.entries.clear();
  }
}

const caches = new WeakMap<GpuContext, PsfCache>();

/** The shared PSF cache of a context. */
export function psfCache(ctx: GpuContext = engine.ctx): PsfCache {
  let c = caches.get(ctx);
  if (!c) {
    c = new PsfCache();
    caches.set(ctx, c);
  }
  return c;
}

/** Frees the cached PSFs of a context. */
export function clearPsfCache(ctx: GpuContext = engine.ctx): void {
  caches.get(ctx)?.dispose();
}
