/**
 * Complex fast Fourier transforms of power-of-two sizes on the GPU (shaders/fft.wgsl), f32.
 *
 * Layout: complex tensors are interleaved, with a trailing axis of 2 holding (re, im):
 * a batch of H×W complex images is a tensor [..., H, W, 2].
 *
 * - `fft2d(z)`: the 2-D DFT over the axes (H, W), batched over the leading axes; unnormalised
 *   forward, Y[u, v] = Σ z[y, x]·exp(−2πi(uy/H + vx/W)), like numpy.fft.fft2.
 * - `ifft2d(z)`: the inverse, scaled by 1/(H·W) (each radix-2 pass halves, an exact scaling).
 * - `fft1d(z, axis)`: one axis of the complex array (axis counts complex axes: −1 is W).
 * Radix-2 Stockham autosort passes, rows then columns; twiddles from a float64 table on the
 * host. On GPUs lines up to 1024 points run all their passes in one workgroup (workgroup
 * memory); longer ones (and every line on CPU adapters, see `ctx.tuning.fft`) one dispatch per
 * pass, ping-ponging two buffers. Sizes 1 … 2^24 per axis.
 *
 * Helpers: `realToComplex` (optionally zero-padding into a larger frame), `complexReal`
 * (real part of a block), `complexMul` (broadcast over the batch), `complexAbs2`.
 *
 * Not differentiable: these ops record no backward rule, and throw if an input requires a
 * gradient (the degradation pipeline that uses them works on data, not parameters).
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, tensor, type Tensor } from '../autograd/tensor.js';
import type { GpuContext } from '../gpu/context.js';
import { alloc, assertFloat, grid1d } from './util.js';

const MAX_LOG2 = 24;

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0 && n <= 2 ** MAX_LOG2;
}

function noGradInput(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (engine.needsGrad([t])) {
      throw new Error(`lrdif: ${op}: ${t.describe()} requires a gradient, but the FFT ops are not differentiable (run them under noGrad or on detached data)`);
    }
  }
}

function checkComplex(op: string, z: Tensor, minRank: number): void {
  assertFloat(op, z);
  if (z.rank < minRank + 1 || z.shape[z.rank - 1] !== 2) {
    throw new Error(`lrdif: ${op}: expected an interleaved complex tensor [..., ${minRank === 2 ? 'H, W' : 'n'}, 2] (trailing axis of 2 = re, im), got ${fmtShape(z.shape)}`);
  }
}

/** Twiddle tables w_n^m = exp(−2πi·m/n), m < n/2, per context and size (tiny, kept for the context's life). */
const twiddleCache = new WeakMap<GpuContext, Map<number, Tensor>>();

function twiddles(ctx: GpuContext, n: number): Tensor {
  let byN = twiddleCache.get(ctx);
  if (!byN) {
    byN = new Map();
    twiddleCache.set(ctx, byN);
  }
  const hit = byN.get(n);
  if (hit && !hit.isDisposed) return hit;
  const half = Math.max(1, n / 2);
  const data = new Float32Array(2 * half);
  for (let m = 0; m < half; m++) {
    const a = (2 * Math.PI * m) / n;
    data[2 * m] = Math.cos(a);
    data[2 * m + 1] = -Math.sin(a);
  }
  const t = engine.keep(tensor(data, [half, 2], 'f32', ctx));
  byN.set(n, t);
  return t;
}

/**
 * Lines of at most `ctx.tuning.fft.localMax` points are transformed by one workgroup each in
 * workgroup memory (`local` in fft.wgsl, at most 1024); longer ones by one dispatch per radix-2
 * pass. By adapter: 1024 on GPUs, 1 (every line per pass) on CPU adapters, where workgroup
 * barriers cost more than the extra passes.
 */
function localMax(ctx: GpuContext): number {
  return Math.min(ctx.tuning.fft.localMax, 1024);
}

/** The transform along one axis of z viewed as [outer, n, inner] complex; returns a new tensor. */
function fftAxisRaw(z: Tensor, outer: number, n: number, inner: number, inverse: boolean): Tensor {
  const ctx = z.ctx;
  if (n === 1 || z.size === 0) {
    const y = alloc(z.shape);
    ctx.copy(z.buffer, 0, y.buffer, 0, z.size * 4);
    return y;
  }
  const tw = twiddles(ctx, n);
  if (n <= localMax(ctx)) {
    const y = alloc(z.shape);
    ctx.dispatch(
      { shader: 'fft', entry: 'local' },
      {
        bindings: { src: z.buffer, dst: y.buffer, twiddle: tw.buffer },
        uniforms: { outer, n, inner, inverse: inverse ? 1 : 0, scale: inverse ? 1 / n : 1 },
        workgroups: ctx.grid(outer * inner),
      },
    );
    return y;
  }
  const log2n = Math.round(Math.log2(n));
  const butterflies = (outer * inner * n) / 2;
  let cur = z;
  for (let s = 0; s < log2n; s++) {
    const next = alloc(z.shape);
    ctx.dispatch(
      { shader: 'fft', entry: 'stockham' },
      {
        bindings: { src: cur.buffer, dst: next.buffer, twiddle: tw.buffer },
        uniforms: { outer, n, inner, p: 1 << s, log_p: s, inverse: inverse ? 1 : 0, scale: inverse ? 0.5 : 1 },
        workgroups: grid1d(ctx, butterflies),
      },
    );
    if (cur !== z) cur.dispose();
    cur = next;
  }
  return cur;
}

/** 1-D FFT along complex axis `axis` (−1 = the last complex axis) of an interleaved tensor [..., 2]. */
export function fft1d(z: Tensor, axis = -1, opts: { inverse?: boolean } = {}): Tensor {
  const op = opts.inverse ? 'ifft1d' : 'fft1d';
  checkComplex(op, z, 1);
  noGradInput(op, z);
  const crank = z.rank - 1;
  const a = axis < 0 ? axis + crank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= crank) throw new Error(`lrdif: ${op}: axis ${axis} is out of range for complex shape ${fmtShape(z.shape.slice(0, -1))}`);
  const n = z.shape[a];
  if (!isPow2(n)) throw new Error(`lrdif: ${op}: axis ${axis} of ${fmtShape(z.shape)} has size ${n}; the FFT needs a power of two (1 … 2^${MAX_LOG2})`);
  const outer = z.shape.slice(0, a).reduce((p, d) => p * d, 1);
  const inner = z.shape.slice(a + 1, crank).reduce((p, d) => p * d, 1);
  return fftAxisRaw(z, outer, n, inner, !!opts.inverse);
}

function fft2dImpl(z: Tensor, inverse: boolean): Tensor {
  const op = inverse ? 'ifft2d' : 'fft2d';
  checkComplex(op, z, 2);
  noGradInput(op, z);
  const h = z.shape[z.rank - 3];
  const w = z.shape[z.rank - 2];
  if (!isPow2(h) || !isPow2(w)) {
    throw new Error(`lrdif: ${op}: ${fmtShape(z.shape)} is ${h}×${w} complex; both sizes must be powers of two (1 … 2^${MAX_LOG2}); pad first`);
  }
  const batch = z.shape.slice(0, -3).reduce((p, d) => p * d, 1);
  const rows = fftAxisRaw(z, batch * h, w, 1, inverse);
  const out = fftAxisRaw(rows, batch, h, w, inverse);
  rows.dispose();
  return out;
}

/** Forward 2-D DFT over the last two complex axes of [..., H, W, 2] (unnormalised). */
export function fft2d(z: Tensor): Tensor {
  return fft2dImpl(z, false);
}

/** Inverse 2-D DFT over the last two complex axes of [..., H, W, 2], scaled by 1/(H·W). */
export function ifft2d(z: Tensor): Tensor {
  return fft2dImpl(z, true);
}

/**
 * Real [..., h, w] → complex [..., mh, mw, 2] with the real block at (oy, ox) and zeros
 * elsewhere (default: the same size, no offset).
 */
export function realToComplex(x: Tensor, size?: [number, number], offset: [number, number] = [0, 0]): Tensor {
  assertFloat('realToComplex', x);
  noGradInput('realToComplex', x);
  if (x.rank < 2) throw new Error(`lrdif: realToComplex: expected a real tensor [..., h, w], got ${fmtShape(x.shape)}`);
  const h = x.shape[x.rank - 2];
  const w = x.shape[x.rank - 1];
  const [mh, mw] = size ?? [h, w];
  const [oy, ox] = offset;
  if (![mh, mw, oy, ox].every((v) => Number.isInteger(v) && v >= 0) || oy + h > mh || ox + w > mw) {
    throw new Error(`lrdif: realToComplex: a ${h}×${w} block at (${oy}, ${ox}) does not fit a ${mh}×${mw} frame (x ${fmtShape(x.shape)})`);
  }
  const lead = x.shape.slice(0, -2);
  const b = lead.reduce((p, d) => p * d, 1);
  const z = alloc([...lead, mh, mw, 2]);
  const total = b * mh * mw;
  if (total === 0) return z;
  const ctx = x.ctx;
  ctx.dispatch(
    { shader: 'fft', entry: 'embed' },
    {
      bindings: { re: x.buffer, dst: z.buffer },
      uniforms: { total, b, h, w, mh, mw, oy, ox },
      workgroups: grid1d(ctx, total),
    },
  );
  return z;
}

/**
 * Packs pairs of real images into complex frames: x [B, P, h, w] (B images of P planes) →
 * [ceil(B/2), P, mh, mw, 2] with image 2j as the real and image 2j + 1 as the imaginary part
 * of frame j (zero when B is odd), the block at (oy, ox) of a zero frame. Filtering such a
 * frame with a real kernel filters both images (see `unpackRealPairs`): half the FFT work.
 */
export function packRealPairs(x: Tensor, size: [number, number], offset: [number, number] = [0, 0]): Tensor {
  assertFloat('packRealPairs', x);
  noGradInput('packRealPairs', x);
  if (x.rank !== 4) throw new Error(`lrdif: packRealPairs: expected real images [B, P, h, w], got ${fmtShape(x.shape)}`);
  const [b, planes, h, w] = x.shape;
  const [mh, mw] = size;
  const [oy, ox] = offset;
  if (![mh, mw, oy, ox].every((v) => Number.isInteger(v) && v >= 0) || oy + h > mh || ox + w > mw) {
    throw new Error(`lrdif: packRealPairs: a ${h}×${w} block at (${oy}, ${ox}) does not fit a ${mh}×${mw} frame (x ${fmtShape(x.shape)})`);
  }
  const frames = Math.ceil(b / 2);
  const z = alloc([frames, planes, mh, mw, 2]);
  const total = frames * planes * mh * mw;
  if (total === 0) return z;
  const ctx = x.ctx;
  ctx.dispatch(
    { shader: 'fft', entry: 'embed' },
    {
      bindings: { re: x.buffer, dst: z.buffer },
      uniforms: { total, h, w, mh, mw, oy, ox, pairs: 1, per_b: planes, nb: b },
      workgroups: grid1d(ctx, total),
    },
  );
  return z;
}

/** The inverse of `packRealPairs`: blocks of complex frames [ceil(B/2), P, mh, mw, 2] → real [B, P, h, w]. */
export function unpackRealPairs(z: Tensor, images: number, size: [number, number], offset: [number, number] = [0, 0]): Tensor {
  checkComplex('unpackRealPairs', z, 2);
  noGradInput('unpackRealPairs', z);
  if (z.rank !== 5 || z.shape[0] !== Math.ceil(images / 2)) {
    throw new Error(`lrdif: unpackRealPairs: expected complex frames [ceil(${images}/2), P, mh, mw, 2], got ${fmtShape(z.shape)}`);
  }
  const [, planes, mh, mw] = z.shape;
  const [h, w] = size;
  const [oy, ox] = offset;
  if (![h, w, oy, ox].every((v) => Number.isInteger(v) && v >= 0) || oy + h > mh || ox + w > mw) {
    throw new Error(`lrdif: unpackRealPairs: a ${h}×${w} block at (${oy}, ${ox}) does not fit the ${mh}×${mw} frames of ${fmtShape(z.shape)}`);
  }
  const y = alloc([images, planes, h, w]);
  const total = y.size;
  if (total === 0) return y;
  const ctx = z.ctx;
  ctx.dispatch(
    { shader: 'fft', entry: 'extract' },
    {
      bindings: { src: z.buffer, re_out: y.buffer },
      uniforms: { total, h, w, mh, mw, oy, ox, pairs: 1, per_b: planes },
      workgroups: grid1d(ctx, total),
    },
  );
  return y;
}

/** Real parts of the block [..., h, w] at (oy, ox) of complex [..., mh, mw, 2] (default: everything). */
export function complexReal(z: Tensor, size?: [number, number], offset: [number, number] = [0, 0]): Tensor {
  checkComplex('complexReal', z, 2);
  noGradInput('complexReal', z);
  const mh = z.shape[z.rank - 3];
  const mw = z.shape[z.rank - 2];
  const [h, w] = size ?? [mh, mw];
  const [oy, ox] = offset;
  if (![h, w, oy, ox].every((v) => Number.isInteger(v) && v >= 0) || oy + h > mh || ox + w > mw) {
    throw new Error(`lrdif: complexReal: a ${h}×${w} block at (${oy}, ${ox}) does not fit the ${mh}×${mw} complex frame of ${fmtShape(z.shape)}`);
  }
  const lead = z.shape.slice(0, -3);
  const b = lead.reduce((p, d) => p * d, 1);
  const y = alloc([...lead, h, w]);
  const total = b * h * w;
  if (total === 0) return y;
  const ctx = z.ctx;
  ctx.dispatch(
    { shader: 'fft', entry: 'extract' },
    {
      bindings: { src: z.buffer, re_out: y.buffer },
      uniforms: { total, b, h, w, mh, mw, oy, ox },
      workgroups: grid1d(ctx, total),
    },
  );
  return y;
}

/**
 * Elementwise complex product a ⊙ b (or a ⊙ conj(b) with `conjB`). The last `dims` complex
 * axes (default: all of b's but its first) are multiplied elementwise; b's remaining leading
 * axes form a batch that repeats over a's (a's flat batch index mod b's batch size).
 */
export function complexMul(a: Tensor, b: Tensor, opts: { dims?: number; conjB?: boolean } = {}): Tensor {
  checkComplex('complexMul', a, 1);
  checkComplex('complexMul', b, 1);
  noGradInput('complexMul', a, b);
  const dims = opts.dims ?? b.rank - 2;
  const tail = dims + 1;
  const tailA = a.shape.slice(a.rank - tail);
  const tailB = b.shape.slice(b.rank - tail);
  const nbA = a.shape.slice(0, a.rank - tail).reduce((p, d) => p * d, 1);
  const nbB = b.shape.slice(0, b.rank - tail).reduce((p, d) => p * d, 1);
  if (!Number.isInteger(dims) || dims < 1 || a.rank < tail || b.rank < tail || tailA.some((d, i) => d !== tailB[i]) || nbB === 0 || nbA % nbB !== 0) {
    throw new Error(`lrdif: complexMul: ${fmtShape(b.shape)} cannot broadcast over ${fmtShape(a.shape)} (the same last ${dims} complex axes and a batch dividing a's needed)`);
  }
  const y = alloc(a.shape);
  const total = a.size / 2;
  if (total === 0) return y;
  const ctx = a.ctx;
  ctx.dispatch(
    { shader: 'fft', entry: 'cmul' },
    {
      bindings: { src: a.buffer, other: b.buffer, dst: y.buffer },
      uniforms: { total, per_b: total / nbA, nb: nbB, inverse: opts.conjB ? 1 : 0 },
      workgroups: grid1d(ctx, total),
    },
  );
  return y;
}

/** |z|² of an interleaved complex tensor [..., 2] → real [...]. */
export function complexAbs2(z: Tensor): Tensor {
  checkComplex('complexAbs2', z, 1);
  noGradInput('complexAbs2', z);
  const y = alloc(z.shape.slice(0, -1));
  if (y.size === 0) return y;
  const ctx = z.ctx;
  ctx.dispatch(
    { shader: 'fft', entry: 'abs2' },
    {
      bindings: { src: z.buffer, re_out: y.buffer },
      uniforms: { total: y.size },
      workgroups: grid1d(ctx, y.size),
    },
  );
  return y;
}
