/**
 * Image resizing on the GPU (shaders/resize.wgsl): separable resampling of the last two axes
 * (H, W) of a tensor [..., H, W], its backward rule, centre cropping and CLIP's preprocessing.
 *
 * Which flags give which semantics:
 * - `antialias: true` (bilinear or bicubic) is Pillow's `Image.resize` (ImagingResample) and
 *   equally PyTorch's `F.interpolate(..., antialias=True)`: the filter (triangle, or Keys
 *   cubic with a = −0.5) is stretched by the scale factor when downscaling, so every input
 *   pixel under the footprint contributes; sample centres at (o + 0.5)·in/out; each output's
 *   weights are renormalised to sum to 1 (windows are cut at the borders, never clamped).
 *   With `uint8Intermediate: true` as well, the arithmetic is Pillow's 8-bit one exactly:
 *   inputs are 8-bit levels (0..255; rounded and clamped), weights are Pillow's integers with
 *   22 fractional bits, and both passes round and clamp to 0..255 — horizontal first, then
 *   vertical — so the result equals Pillow's for RGB/L images bit for bit. Without it the
 *   passes run in float32 like Pillow's mode 'F' and differ from Pillow's 8-bit result by at
 *   most one level after rounding, except where Pillow clamps its intermediate (bicubic
 *   overshoot), where the float result keeps the overshoot.
 * - `antialias: false` (the default) is PyTorch's `F.interpolate` without antialiasing:
 *   bilinear interpolates the two nearest samples (source x = (o + 0.5)·in/out − 0.5, clamped
 *   at 0), bicubic uses Keys' cubic with a = −0.75 on four samples with indices clamped to the
 *   edge. `alignCorners: true` maps the corner samples onto each other (source x =
 *   o·(in − 1)/(out − 1)), as PyTorch's align_corners=True (also with antialias, where it only
 *   changes the scale, as PyTorch does).
 * - `mode: 'nearest'` is PyTorch's 'nearest' (source ⌊o·in/out⌋, in float32), and
 *   'nearest-exact' is PyTorch's 'nearest-exact' (⌊(o + 0.5)·in/out⌋, which is also Pillow's
 *   NEAREST).
 *
 * The weights are computed on the host in float64 (as Pillow and PyTorch do) into sparse
 * per-output tables; the GPU kernel only gathers. The backward pass applies the transposed
 * tables (each input pixel sums the weights that reference it, in a fixed order), so it is
 * deterministic.
 */
import { engine, tidy } from '../autograd/engine.js';
import { tensor, type Tensor } from '../autograd/tensor.js';
import { alloc, assertFloat, grid1d } from './util.js';
import { concat, narrow, pad } from './layout.js';
import { clone, mul, add } from './elementwise.js';
import { imagesToTensor, checkImage, type RgbImage } from '../io/image.js';

export type ResizeMode = 'bilinear' | 'bicubic' | 'nearest' | 'nearest-exact';

export interface ResizeOptions {
  /** Default 'bilinear'. */
  mode?: ResizeMode;
  /** Pillow-style (and PyTorch antialias=True) filtering; default false (PyTorch's default). */
  antialias?: boolean;
  /** PyTorch's align_corners; default false. Not for the nearest modes. */
  alignCorners?: boolean;
  /** Pillow's 8-bit arithmetic (inputs are 0..255 levels; rounding between passes). Not differentiable. */
  uint8Intermediate?: boolean;
}

/** Sparse resampling weights of one axis: output o reads idx[e] with weight w[e] for e in [ptr[o], ptr[o+1]). */
export interface ResizeAxisWeights {
  inLen: number;
  outLen: number;
  ptr: Int32Array;
  idx: Int32Array;
  w: Float64Array;
}

const PRECISION_BITS = 22;

function bilinearFilter(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

/** Keys' cubic convolution kernel with parameter a (Pillow and PyTorch-antialias: −0.5; PyTorch: −0.75). */
function cubicFilter(x: number, a: number): number {
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function checkLen(op: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`lrdif: ${op}: ${what} must be a positive integer, got ${v}`);
}

/** Builds a CSR table from per-output windows (start and contiguous weights), merging nothing. */
class TableBuilder {
  ptr: number[] = [0];
  idx: number[] = [];
  w: number[] = [];
  push(entries: Array<[number, number]>): void {
    for (const [i, wt] of entries) {
      // indices arrive sorted; clamped duplicates (edge replication) merge into one entry
      const last = this.idx.length - 1;
      if (last >= this.ptr[this.ptr.length - 1] && this.idx[last] === i) this.w[last] += wt;
      else {
        this.idx.push(i);
        this.w.push(wt);
      }
    }
    this.ptr.push(this.idx.length);
  }
  build(inLen: number, outLen: number): ResizeAxisWeights {
    return { inLen, outLen, ptr: Int32Array.from(this.ptr), idx: Int32Array.from(this.idx), w: Float64Array.from(this.w) };
  }
}

/** Resampling weights of one axis of length inLen → outLen, in float64 (see the file comment for the semantics). */
export function resizeWeights(inLen: number, outLen: number, opts: ResizeOptions = {}): ResizeAxisWeights {
  checkLen('resizeWeights', 'input length', inLen);
  checkLen('resizeWeights', 'output length', outLen);
  const mode = opts.mode ?? 'bilinear';
  const align = opts.alignCorners ?? false;
  const tb = new TableBuilder();
  if (mode === 'nearest' || mode === 'nearest-exact') {
    // PyTorch computes these source indices in float32
    const scale = Math.fround(inLen / outLen);
    for (let o = 0; o < outLen; o++) {
      let src: number;
      if (mode === 'nearest') {
        if (outLen === inLen) src = o;
        else if (outLen === 2 * inLen) src = o >> 1;
        else src = Math.floor(Math.fround(o * scale));
      } else src = Math.floor(Math.fround(Math.fround(o + 0.5) * scale));
      tb.push([[Math.min(src, inLen - 1), 1]]);
    }
    return tb.build(inLen, outLen);
  }
  const scale = align ? (outLen > 1 ? (inLen - 1) / (outLen - 1) : 0) : inLen / outLen;
  if (opts.antialias) {
    // Pillow's precompute_coeffs (and PyTorch's _compute_indices_weights_aa)
    const filter = mode === 'bicubic' ? (x: number) => cubicFilter(x, -0.5) : bilinearFilter;
    const support0 = mode === 'bicubic' ? 2 : 1;
    const filterscale = Math.max(scale, 1);
    const support = support0 * filterscale;
    const ss = 1 / filterscale;
    for (let o = 0; o < outLen; o++) {
      const center = (o + 0.5) * scale;
      const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
      const xmax = Math.min(Math.trunc(center + support + 0.5), inLen);
      const ws: number[] = [];
      let total = 0;
      for (let x = xmin; x < xmax; x++) {
        const w = filter((x - center + 0.5) * ss);
        ws.push(w);
        total += w;
      }
      const entries: Array<[number, number]> = [];
      ws.forEach((w, j) => entries.push([xmin + j, total !== 0 ? w / total : w]));
      tb.push(entries);
    }
    return tb.build(inLen, outLen);
  }
  for (let o = 0; o < outLen; o++) {
    if (mode === 'bilinear') {
      if (inLen === outLen) {
        tb.push([[o, 1]]);
        continue;
      }
      const src = align ? scale * o : Math.max(scale * (o + 0.5) - 0.5, 0);
      const i0 = Math.trunc(src);
      const i1 = i0 + (i0 < inLen - 1 ? 1 : 0);
      const l1 = Math.min(Math.max(src - i0, 0), 1);
      tb.push([
        [i0, 1 - l1],
        [i1, l1],
      ]);
    } else {
      const src = align ? scale * o : scale * (o + 0.5) - 0.5;
      const i0 = Math.floor(src);
      const t = src - i0;
      const c = [cubicFilter(t + 1, -0.75), cubicFilter(t, -0.75), cubicFilter(1 - t, -0.75), cubicFilter(2 - t, -0.75)];
      const clampI = (i: number) => Math.min(Math.max(i, 0), inLen - 1);
      tb.push(c.map((w, k) => [clampI(i0 - 1 + k), w] as [number, number]));
    }
  }
  return tb.build(inLen, outLen);
}

/** The transposed table: input i gathers the outputs that read it (in increasing output order). */
export function transposeResizeWeights(t: ResizeAxisWeights): ResizeAxisWeights {
  const count = new Int32Array(t.inLen + 1);
  for (let e = 0; e < t.idx.length; e++) count[t.idx[e] + 1]++;
  for (let i = 0; i < t.inLen; i++) count[i + 1] += count[i];
  const ptr = Int32Array.from(count);
  const fill = Int32Array.from(count);
  const idx = new Int32Array(t.idx.length);
  const w = new Float64Array(t.idx.length);
  for (let o = 0; o < t.outLen; o++) {
    for (let e = t.ptr[o]; e < t.ptr[o + 1]; e++) {
      const at = fill[t.idx[e]]++;
      idx[at] = o;
      w[at] = t.w[e];
    }
  }
  return { inLen: t.outLen, outLen: t.inLen, ptr, idx, w };
}

/** Pillow's fixed-point weight: round half away from zero of w·2^22. */
function fixedWeight(w: number): number {
  const s = w * (1 << PRECISION_BITS);
  return s < 0 ? Math.trunc(-0.5 + s) : Math.trunc(0.5 + s);
}

function packTable(t: ResizeAxisWeights, fixed: boolean): Int32Array {
  const nnz = t.idx.length;
  const out = new Int32Array(t.outLen + 1 + 2 * nnz);
  out.set(t.ptr, 0);
  out.set(t.idx, t.outLen + 1);
  const wOff = t.outLen + 1 + nnz;
  if (fixed) for (let e = 0; e < nnz; e++) out[wOff + e] = fixedWeight(t.w[e]);
  else new Float32Array(out.buffer, wOff * 4, nnz).set(t.w);
  return out;
}

/** One pass along `axis` (of x viewed as [outer, len, inner]) with table t; not recorded. */
function passRaw(x: Tensor, axis: number, t: ResizeAxisWeights, fixed: boolean): Tensor {
  const shape = [...x.shape];
  if (shape[axis] !== t.inLen) throw new Error(`lrdif: resize: internal table mismatch on axis ${axis} of ${x.describe()}`);
  shape[axis] = t.outLen;
  const y = alloc(shape);
  if (y.size === 0) return y;
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const packed = packTable(t, fixed);
  const tab = tensor(packed, [packed.length], 'i32', x.ctx);
  const ctx = x.ctx;
  ctx.dispatch(
    { shader: 'resize', constants: { FIXED: fixed ? 1 : 0 } },
    {
      bindings: { x: x.buffer, table: tab.buffer, y: y.buffer },
      uniforms: { n: y.size, inner, len_in: t.inLen, len_out: t.outLen, idx_off: t.outLen + 1, w_off: t.outLen + 1 + t.idx.length },
      workgroups: grid1d(ctx, y.size),
    },
  );
  tab.dispose();
  return y;
}

/**
 * Resizes the last two axes (H, W) of x [..., H, W] (usually [N, C, H, W]) to outH × outW.
 * Horizontal pass first, then vertical (as Pillow); an axis whose size does not change is not
 * resampled (every mode is the identity there). See the file comment for the flags.
 */
export function resize(x: Tensor, outH: number, outW: number, opts: ResizeOptions = {}): Tensor {
  assertFloat('resize', x);
  if (x.rank < 2) throw new Error(`lrdif: resize: needs a tensor [..., H, W] of rank ≥ 2, got ${x.describe()}`);
  checkLen('resize', `output height (for ${x.describe()})`, outH);
  checkLen('resize', `output width (for ${x.describe()})`, outW);
  const mode = opts.mode ?? 'bilinear';
  if (!['bilinear', 'bicubic', 'nearest', 'nearest-exact'].includes(mode)) {
    throw new Error(`lrdif: resize: mode must be 'bilinear', 'bicubic', 'nearest' or 'nearest-exact', got '${String(mode)}'`);
  }
  const nearest = mode === 'nearest' || mode === 'nearest-exact';
  if (nearest && (opts.alignCorners || opts.antialias)) {
    throw new Error(`lrdif: resize: alignCorners and antialias apply to 'bilinear' and 'bicubic' only, not to mode '${mode}'`);
  }
  const H = x.shape[x.rank - 2];
  const W = x.shape[x.rank - 1];
  if (H < 1 || W < 1) throw new Error(`lrdif: resize: cannot resize an empty image, got ${x.describe()}`);
  const fixed = opts.uint8Intermediate ?? false;
  if (fixed && engine.needsGrad([x])) {
    throw new Error(`lrdif: resize: uint8Intermediate rounds to 8 bits and is not differentiable; ${x.describe()} requires a gradient (detach it or drop the option)`);
  }
  const tw = W !== outW ? resizeWeights(W, outW, opts) : null;
  const th = H !== outH ? resizeWeights(H, outH, opts) : null;
  let y: Tensor;
  if (!tw && !th) y = passCopy(x);
  else {
    const mid = tw ? passRaw(x, x.rank - 1, tw, fixed) : x;
    y = th ? passRaw(mid, x.rank - 2, th, fixed) : mid;
    if (mid !== x && mid !== y) mid.dispose();
  }
  if (engine.needsGrad([x])) {
    const twT = tw ? transposeResizeWeights(tw) : null;
    const thT = th ? transposeResizeWeights(th) : null;
    engine.record('resize', [x], y, [], (g) => {
      if (!twT && !thT) return [passCopy(g)];
      const gm = thT ? passRaw(g, g.rank - 2, thT, false) : g;
      const gx = twT ? passRaw(gm, g.rank - 1, twT, false) : gm;
      if (gm !== g && gm !== gx) gm.dispose();
      return [gx === g ? passCopy(g) : gx];
    });
  }
  return y;
}

function passCopy(x: Tensor): Tensor {
  const y = alloc(x.shape);
  if (x.size > 0) x.ctx.copy(x.buffer, 0, y.buffer, 0, x.size * 4);
  return y;
}

export type CropRounding = 'round' | 'floor';

/**
 * Crops the centre h × w of x [..., H, W]. Offsets: 'round' (default) is torchvision's
 * CenterCrop, int(round((H − h) / 2)) with Python's round-half-to-even; 'floor' is Hugging
 * Face's image processors, (H − h) // 2. They differ only when H − h is odd. A crop larger
 * than the image first pads with zeros as torchvision does ((h − H) // 2 before, the rest
 * after). Differentiable (slice and pad).
 */
export function centerCrop(x: Tensor, h: number, w: number, opts: { rounding?: CropRounding } = {}): Tensor {
  if (x.rank < 2) throw new Error(`lrdif: centerCrop: needs a tensor [..., H, W] of rank ≥ 2, got ${x.describe()}`);
  checkLen('centerCrop', `crop height (for ${x.describe()})`, h);
  checkLen('centerCrop', `crop width (for ${x.describe()})`, w);
  const rounding = opts.rounding ?? 'round';
  if (rounding !== 'round' && rounding !== 'floor') throw new Error(`lrdif: centerCrop: rounding must be 'round' or 'floor', got '${String(rounding)}'`);
  return tidy(() => {
    let cur = x;
    const H = x.shape[x.rank - 2];
    const W = x.shape[x.rank - 1];
    if (h > H || w > W) {
      const pads: Array<[number, number]> = x.shape.map(() => [0, 0]);
      if (h > H) pads[x.rank - 2] = [Math.floor((h - H) / 2), Math.floor((h - H + 1) / 2)];
      if (w > W) pads[x.rank - 1] = [Math.floor((w - W) / 2), Math.floor((w - W + 1) / 2)];
      cur = pad(cur, pads, 'constant', 0);
    }
    const offset = (full: number, crop: number) => {
      const d = full - crop;
      if (rounding === 'floor') return Math.floor(d / 2);
      // Python round(d / 2): halves go to the even neighbour
      const f = Math.floor(d / 2);
      return d % 2 === 0 || f % 2 === 0 ? f : f + 1;
    };
    const Hc = cur.shape[cur.rank - 2];
    const Wc = cur.shape[cur.rank - 1];
    if (Hc !== h) cur = narrow(cur, cur.rank - 2, offset(Hc, h), h);
    if (Wc !== w) cur = narrow(cur, cur.rank - 1, offset(Wc, w), w);
    return cur === x ? clone(x) : cur;
  });
}

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export interface ClipPreprocessOptions {
  /** 'hf' (default): Hugging Face CLIPImageProcessor's crop offsets (H − size) // 2; 'openai': torchvision's CenterCrop rounding as in OpenAI's clip.load preprocess. */
  crop?: 'hf' | 'openai';
}

/** The size an image is resized to before the crop: shortest side `size`, long side int(size · long / short). */
export function clipResizeSize(width: number, height: number, size = 224): { width: number; height: number } {
  const short = Math.min(width, height);
  const long = Math.max(width, height);
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? { width: size, height: newLong } : { width: newLong, height: size };
}

/**
 * CLIP's image preprocessing of 8-bit RGB images to [N, 3, size, size]: resize the shortest
 * side to `size` with Pillow's bicubic filter in Pillow's 8-bit arithmetic (bit-exact with
 * Pillow, as CLIPImageProcessor and OpenAI's preprocess use), centre crop, /255, CLIP mean/std.
 */
export function clipPreprocess(images: readonly RgbImage[], size = 224, opts: ClipPreprocessOptions = {}): Tensor {
  if (images.length === 0) throw new Error('lrdif: clipPreprocess: no images given');
  checkLen('clipPreprocess', 'size', size);
  const crop = opts.crop ?? 'hf';
  if (crop !== 'hf' && crop !== 'openai') throw new Error(`lrdif: clipPreprocess: crop must be 'hf' or 'openai', got '${String(crop)}'`);
  images.forEach((im, i) => checkImage(im, `clipPreprocess: image ${i}`));
  return tidy(() => {
    const scale = tensor(
      CLIP_STD.map((s) => 1 / (255 * s)),
      [1, 3, 1, 1],
    );
    const shift = tensor(
      CLIP_MEAN.map((m, c) => -m / CLIP_STD[c]),
      [1, 3, 1, 1],
    );
    const parts = images.map((im) => {
      const levels = imagesToTensor([im], { scale: 1 });
      const t = clipResizeSize(im.width, im.height, size);
      const r = resize(levels, t.height, t.width, { mode: 'bicubic', antialias: true, uint8Intermediate: true });
      const c = centerCrop(r, size, size, { rounding: crop === 'hf' ? 'floor' : 'round' });
      return add(mul(c, scale), shift);
    });
    return parts.length === 1 ? parts[0] : concat(parts, 0);
  });
}
