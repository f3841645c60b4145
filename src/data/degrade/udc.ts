/**
 * Under-display-camera degradation, a physically based stand-in for MPGNet (whose weights are
 * not public):
 *
 *   y = clip(g · (γ ⊙ (η ⊙ (PSF ∗ x) + (1 − η) ⊙ mean(x)) + n), 0, 1)
 *
 * - η, flare: PSF is the k×k centre of the diffraction pattern; the fraction 1 − η of each
 *   channel's light that the display diffracts beyond it lands far from its source and is
 *   modelled as a uniform veil, the channel's image mean (`flare: false` drops it instead,
 *   i.e. η = 1 with the kernel renormalised);
 * - PSF: per channel, the display's diffraction PSF at 610/530/470 nm (psf.ts), for the
 *   image's size; the convolution reflect-pads the image by the kernel radius (so edges are
 *   not darkened) and runs either directly (depthwise conv2d) or through the FFT (frames of
 *   the next powers of two, multiplied by the conjugate kernel spectrum) — `convolution:
 *   'auto'` picks by an operation count (`useFftConvolution`); the FFT path packs two images
 *   into each complex frame (real and imaginary parts), the kernel being real;
 * - γ: per-channel transmission of the display, uniform in per-channel ranges (P-OLED-like,
 *   0.2–0.35, blue lowest);
 * - g = compensation / mean(γ): the camera's exposure compensation, which amplifies the noise;
 * - n: Poisson shot noise at `photons` photons for a full-scale signal (log-uniform) plus
 *   Gaussian read noise σ (sensor.ts), both before the gain.
 *
 * Per-image draws (ParamRng of the image's seed, in this order): γ_R, γ_G, γ_B,
 * compensation, photons, σ. With `noise: false` the draws are the same but photons and σ are
 * recorded (and used) as 0.
 */
import { tidy } from '../../autograd/engine.js';
import { fmtShape, type Tensor } from '../../autograd/tensor.js';
import { conv2d } from '../../kernels/conv.js';
import { pad, narrow } from '../../kernels/layout.js';
import { reshape } from '../../kernels/shape.js';
import { fft2d, ifft2d, realToComplex, complexMul, packRealPairs, unpackRealPairs } from '../../kernels/fft.js';
import { alloc } from '../../kernels/util.js';
import { add, affine, mul } from '../../kernels/elementwise.js';
import { mean } from '../../kernels/reduce.js';
import { DEFAULT_DISPLAY, checkDisplayConfig, psfCache, psfPlan, type DisplayConfig, type PsfCache } from './psf.js';
import { ParamRng, checkSeed } from './rng.js';
import { sensor, POISSON_THRESHOLD } from './sensor.js';
import { checkBool, checkKeys, checkNumber, checkRange, fail, isPlainObject, type Range } from './config.js';

export type ConvolutionMethod = 'auto' | 'direct' | 'fft';

export interface UdcConfig {
  display: DisplayConfig;
  /** Transmission γ ranges for R, G, B. */
  transmission: [Range, Range, Range];
  /** Exposure compensation range: gain = compensation / mean(γ). */
  compensation: Range;
  /** Photons at full scale (log-uniform). */
  photons: Range;
  /** Read-noise σ range (signal units before the gain). */
  readNoise: Range;
  /** Shot and read noise on (false: photons and σ are 0). */
  noise: boolean;
  convolution: ConvolutionMethod;
  /** Light diffracted beyond the kernel becomes a uniform veil (true) or is dropped (false). */
  flare: boolean;
  /** λ below which Poisson draws are exact (sensor.ts). */
  poissonThreshold: number;
}

export const DEFAULT_UDC: Readonly<UdcConfig> = Object.freeze({
  display: { ...DEFAULT_DISPLAY },
  transmission: [
    [0.27, 0.35],
    [0.23, 0.31],
    [0.2, 0.27],
  ],
  compensation: [0.8, 1.0],
  photons: [500, 4000],
  readNoise: [0.0005, 0.003],
  noise: true,
  convolution: 'auto',
  flare: true,
  poissonThreshold: POISSON_THRESHOLD,
}) as Readonly<UdcConfig>;

export interface UdcParams {
  kind: 'udc';
  /** The image's seed (noise key and parameter draws). */
  seed: number;
  transmission: [number, number, number];
  compensation: number;
  gain: number;
  photons: number;
  readNoise: number;
  psf: { imageSize: number; kernelSize: number; gridSize: number; sampleUm: [number, number, number] };
}

/** A complete UDC configuration from defaults and a partial one (from a JSON file); validated. */
export function resolveUdcConfig(partial: unknown = {}, where = 'udc'): UdcConfig {
  if (!isPlainObject(partial)) fail(where, 'an object', partial);
  checkKeys(where, partial, DEFAULT_UDC);
  const p = partial as Partial<UdcConfig>;
  const displayIn = p.display ?? {};
  if (!isPlainObject(displayIn)) fail(`${where}.display`, 'an object', displayIn);
  checkKeys(`${where}.display`, displayIn, DEFAULT_DISPLAY);
  const display = { ...DEFAULT_DISPLAY, ...(displayIn as Partial<DisplayConfig>) } as DisplayConfig;
  checkDisplayConfig(display, `${where}.display`);
  const tr = p.transmission ?? DEFAULT_UDC.transmission;
  if (!Array.isArray(tr) || tr.length !== 3) fail(`${where}.transmission`, 'three ranges (R, G, B)', tr);
  const transmission = tr.map((r, c) => checkRange(`${where}.transmission[${c}]`, r, 1e-3, 1)) as [Range, Range, Range];
  const conv = p.convolution ?? DEFAULT_UDC.convolution;
  if (!['auto', 'direct', 'fft'].includes(conv)) fail(`${where}.convolution`, "'auto', 'direct' or 'fft'", conv);
  return {
    display,
    transmission,
    compensation: checkRange(`${where}.compensation`, p.compensation ?? DEFAULT_UDC.compensation, 1e-3, 100),
    photons: checkRange(`${where}.photons`, p.photons ?? DEFAULT_UDC.photons, 1e-3, 1e9),
    readNoise: checkRange(`${where}.readNoise`, p.readNoise ?? DEFAULT_UDC.readNoise, 0, 1),
    noise: checkBool(`${where}.noise`, p.noise ?? DEFAULT_UDC.noise),
    convolution: conv,
    flare: checkBool(`${where}.flare`, p.flare ?? DEFAULT_UDC.flare),
    poissonThreshold: checkNumber(`${where}.poissonThreshold`, p.poissonThreshold ?? DEFAULT_UDC.poissonThreshold, 0, 1000),
  };
}

/** Draws one image's UDC parameters from its seed, for an image whose shorter side is `imageSize`. */
export function sampleUdcParams(cfg: UdcConfig, seed: number, imageSize: number): UdcParams {
  checkSeed('sampleUdcParams: seed', seed);
  const rng = new ParamRng(seed);
  const transmission = cfg.transmission.map((r) => rng.uniform(r)) as [number, number, number];
  const compensation = rng.uniform(cfg.compensation);
  const photons = rng.logUniform(cfg.photons);
  const readNoise = rng.uniform(cfg.readNoise);
  const meanT = (transmission[0] + transmission[1] + transmission[2]) / 3;
  const plan = psfPlan(cfg.display, imageSize);
  return {
    kind: 'udc',
    seed,
    transmission,
    compensation,
    gain: Math.fround(compensation / meanT),
    photons: cfg.noise ? photons : 0,
    readNoise: cfg.noise ? readNoise : 0,
    psf: { imageSize, kernelSize: plan.kernelSize, gridSize: plan.gridSize, sampleUm: plan.sampleUm },
  };
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * Cost of the FFT path per image, in units of m·log2(m) for frames of m points, against k²·H·W
 * multiply-adds of the direct path. Measured with bench/degrade.ts on lavapipe: for 64
 * images of 112² and k = 31 (256² frames) the two take about as long (7.3 s vs 7.5 s), so
 * 12.05 M = factor · 65536 · 16 gives ≈ 11.5; for k = 63 on 224² the FFT is 3.3× faster and for
 * k = 125 on 448² 10×.
 */
export const FFT_COST_FACTOR = 12;

/** Whether the FFT path is expected to be cheaper for a k×k kernel on H×W images (operation-count model). */
export function useFftConvolution(h: number, w: number, k: number): boolean {
  const r = (k - 1) / 2;
  const m = nextPow2(h + 2 * r) * nextPow2(w + 2 * r);
  return k * k * h * w > FFT_COST_FACTOR * m * Math.log2(m);
}

function fftConvolve(xp: Tensor, psf: Tensor, h: number, w: number): Tensor {
  const [n, c, hp, wp] = xp.shape;
  const mh = nextPow2(hp);
  const mw = nextPow2(wp);
  const frameBytes = c * mh * mw * 8; // one complex frame holds two images
  // bytes of complex frames per FFT batch: larger batches are split (tests lower it to reach the split)
  const limit = xp.ctx.tuning.udc.fftBatchBytes;
  if (frameBytes > limit)
    throw new Error(
      `lrdif: udc: a ${h}×${w} image needs ${mh}×${mw} FFT frames (${(frameBytes / 2 ** 20).toFixed(0)} MiB), more than one buffer may hold; use convolution 'direct'`,
    );
  const chunk = 2 * Math.floor(limit / frameBytes);
  const kspec = tidy(() => fft2d(realToComplex(psf, [mh, mw])));
  // two images per complex frame (the kernel is real): half the transforms
  const run = (part: Tensor) => tidy(() => unpackRealPairs(ifft2d(complexMul(fft2d(packRealPairs(part, [mh, mw])), kspec, { dims: 2, conjB: true })), part.shape[0], [h, w]));
  let y: Tensor;
  if (n <= chunk) y = run(xp);
  else {
    y = alloc([n, c, h, w]);
    for (let s = 0; s < n; s += chunk) {
      const len = Math.min(chunk, n - s);
      const part = narrow(xp, 0, s, len);
      const yp = run(part);
      y.ctx.copy(yp.buffer, 0, y.buffer, s * c * h * w * 4, len * c * h * w * 4);
      part.dispose();
      yp.dispose();
    }
  }
  kspec.dispose();
  return y;
}

/**
 * Convolves each channel of x [N, 3, H, W] with its PSF kernel (psf [3, k, k], flipped as
 * psf.ts returns it), reflect padding by the kernel radius. Output [N, 3, H, W].
 */
export function convolvePsf(x: Tensor, psf: Tensor, method: ConvolutionMethod = 'auto'): Tensor {
  if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`lrdif: convolvePsf: expected images [N, 3, H, W], got ${fmtShape(x.shape)}`);
  if (psf.rank !== 3 || psf.shape[0] !== 3 || psf.shape[1] !== psf.shape[2] || psf.shape[1] % 2 === 0) {
    throw new Error(`lrdif: convolvePsf: expected PSF kernels [3, k, k] with k odd, got ${fmtShape(psf.shape)}`);
  }
  const [, , h, w] = x.shape;
  const k = psf.shape[1];
  const r = (k - 1) / 2;
  const mode = h >= 2 && w >= 2 ? 'reflect' : 'replicate';
  const fft = method === 'fft' || (method === 'auto' && useFftConvolution(h, w, k));
  return tidy(() => {
    const xp =
      r > 0
        ? pad(
            x,
            [
              [r, r],
              [r, r],
            ],
            mode,
          )
        : x;
    if (fft) return fftConvolve(xp, psf, h, w);
    return conv2d(xp, reshape(psf, [3, 1, k, k]), null, { groups: 3 });
  });
}

/** Applies UDC degradations with the given per-image parameters to x [N, 3, H, W] in [0, 1]. */
export function applyUdc(x: Tensor, params: readonly UdcParams[], cfg: UdcConfig, cache: PsfCache = psfCache(x.ctx)): Tensor {
  if (x.rank !== 4 || x.shape[1] !== 3) throw new Error(`lrdif: udc: expected images [N, 3, H, W], got ${fmtShape(x.shape)}`);
  if (params.length !== x.shape[0]) throw new Error(`lrdif: udc: ${params.length} parameter records for ${x.shape[0]} images`);
  const size = Math.min(x.shape[2], x.shape[3]);
  params.forEach((p, i) => {
    if (p.kind !== 'udc') throw new Error(`lrdif: udc: parameter record ${i} is for '${p.kind}'`);
    if (p.psf.imageSize !== size)
      throw new Error(`lrdif: udc: parameter record ${i} was drawn for images of ${p.psf.imageSize} px, but x ${fmtShape(x.shape)} has a shorter side of ${size}`);
  });
  if (x.size === 0) return alloc(x.shape);
  const psf = cache.get(cfg.display, size);
  return tidy(() => {
    let blurred = convolvePsf(x, psf.kernel, cfg.convolution);
    if (cfg.flare) {
      const eta = reshape(psf.inCrop, [1, 3, 1, 1]);
      blurred = add(mul(blurred, eta), mul(mean(x, [2, 3], true), affine(eta, -1, 1)));
    }
    return sensor(
      blurred,
      params.map((p) => ({
        scale: p.transmission,
        gain: [p.gain, p.gain, p.gain] as const,
        gamma: 1,
        photons: p.photons,
        readNoise: p.readNoise,
        seed: p.seed,
      })),
      cfg.poissonThreshold,
    );
  });
}
