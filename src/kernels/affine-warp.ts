/**
 * Bilinear image resampling on the GPU (shaders/affine_warp.wgsl): affine warps (face
 * alignment: rotate, scale, crop in one pass) and separable tap tables (TF's resizeBilinear,
 * padding and crops, expressed exactly with host-computed float64 positions).
 *
 * Sources are f32 NCHW tensors or `RgbImageBuffer`s — 8-bit RGB photos uploaded once, packed
 * four bytes per word (a 1920×1280 photo is 7.4 MB there instead of 29.5 MB as floats) and read
 * as byte / 255. Outputs are [F, C, OH, OW] f32, one item per matrix / table, each reading any
 * source image, with y = scale · v + bias[c] applied last (fused normalisation).
 *
 * Sample positions are pixel indices: pixel (row i, column j) sits at (x = j, y = i). A position
 * reads taps ⌊x⌋, ⌊x⌋ + 1 (rows alike); taps outside the image read `fill`. Interpolation is TF's
 * (top = tl + (tr − tl)·fx, bottom likewise, v = top + (bottom − top)·fy).
 *
 * Not differentiable (inference preprocessing): a source that requires a gradient is an error.
 */
import { engine } from '../autograd/engine.js';
import { empty, tensor, type Tensor } from '../autograd/tensor.js';
import { checkImage, ImageError, type RgbImage } from '../io/image.js';
import { alloc, assertFloat } from './util.js';

/** 8-bit RGB images of one size on the GPU, packed (read as byte / 255). Dispose when done. */
export class RgbImageBuffer {
  private constructor(
    /** The packed bytes (i32 words). */
    readonly bytes: Tensor,
    readonly count: number,
    readonly width: number,
    readonly height: number,
  ) {}

  /** Uploads same-sized RGB images. */
  static upload(images: readonly RgbImage[]): RgbImageBuffer {
    if (images.length === 0) throw new ImageError('lrdif: RgbImageBuffer.upload: no images given');
    const { width, height } = images[0];
    images.forEach((im, i) => {
      checkImage(im, `RgbImageBuffer.upload image ${i}`);
      if (im.width !== width || im.height !== height) {
        throw new ImageError(`lrdif: RgbImageBuffer.upload: image ${i} is ${im.width}×${im.height}, image 0 is ${width}×${height}`);
      }
    });
    const per = width * height * 3;
    const words = Math.max(1, Math.ceil((per * images.length) / 4));
    const packed = new Uint8Array(words * 4);
    images.forEach((im, i) => packed.set(im.data, i * per));
    const ctx = engine.ctx;
    const bytes = empty([words], 'i32', ctx);
    ctx.upload(bytes.buffer, new Uint32Array(packed.buffer));
    return new RgbImageBuffer(bytes, images.length, width, height);
  }

  get channels(): number {
    return 3;
  }

  dispose(): void {
    this.bytes.dispose();
  }
}

export type WarpSource = Tensor | RgbImageBuffer;

export interface WarpOptions {
  /** Source image index of each output item (default 0 for every item). */
  sources?: readonly number[];
  /** Value of taps outside the source image, in source units ([0, 1] for RgbImageBuffer); default 0. */
  fill?: number;
  /** Output = scale · value + bias[c]; default 1. */
  scale?: number;
  /** Per-channel bias (at most 4 channels); default 0. */
  bias?: readonly number[];
}

/** Taps and weights along one output axis: output o reads i0[o] (weight 1 − frac) and i1[o] (weight frac); −1 reads the fill. */
export interface BilinearAxisTable {
  i0: ArrayLike<number>;
  i1: ArrayLike<number>;
  frac: ArrayLike<number>;
}

interface SourceInfo {
  buffer: Tensor;
  bytes: boolean;
  items: number;
  c: number;
  h: number;
  w: number;
}

function sourceInfo(op: string, src: WarpSource): SourceInfo {
  if (src instanceof RgbImageBuffer) return { buffer: src.bytes, bytes: true, items: src.count, c: 3, h: src.height, w: src.width };
  assertFloat(op, src);
  if (src.rank !== 4) throw new Error(`lrdif: ${op}: the source must be an RgbImageBuffer or an f32 tensor [N, C, H, W], got ${src.describe()}`);
  if (engine.needsGrad([src])) throw new Error(`lrdif: ${op}: not differentiable, but the source ${src.describe()} requires a gradient (detach it)`);
  const [n, c, h, w] = src.shape;
  if (n < 1 || c < 1 || h < 1 || w < 1) throw new Error(`lrdif: ${op}: the source ${src.describe()} is empty`);
  return { buffer: src, bytes: false, items: n, c, h, w };
}

function checkOut(op: string, what: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`lrdif: ${op}: ${what} must be a positive integer, got ${v}`);
}

function run(op: string, entry: 'warp' | 'resample', s: SourceInfo, items: number, oh: number, ow: number, geo: Float32Array, stride: number, opts: WarpOptions): Tensor {
  const sources = opts.sources ?? new Array<number>(items).fill(0);
  if (sources.length !== items) throw new Error(`lrdif: ${op}: ${sources.length} source indices for ${items} output item(s)`);
  sources.forEach((v, f) => {
    if (!Number.isInteger(v) || v < 0 || v >= s.items) throw new Error(`lrdif: ${op}: item ${f} reads source image ${v}, but the source holds ${s.items} image(s)`);
    geo[f * stride + (entry === 'warp' ? 6 : 0)] = v;
  });
  const bias = opts.bias ?? [];
  if (bias.length > 4 || (bias.length > 0 && bias.length !== s.c)) {
    throw new Error(`lrdif: ${op}: bias needs one value per channel (${s.c}; at most 4), got ${bias.length}`);
  }
  const fill = opts.fill ?? 0;
  const scale = opts.scale ?? 1;
  if (!Number.isFinite(fill) || !Number.isFinite(scale) || !bias.every(Number.isFinite)) throw new Error(`lrdif: ${op}: fill, scale and bias must be finite numbers`);
  const ctx = s.buffer.ctx;
  const y = alloc([items, s.c, oh, ow]);
  const g = tensor(geo, [geo.length], 'f32', ctx);
  const total = y.size;
  const maxDim = ctx.device.limits.maxComputeWorkgroupsPerDimension;
  if (items * s.c > maxDim || Math.ceil(ow / 8) > maxDim || Math.ceil(oh / 8) > maxDim) {
    g.dispose();
    y.dispose();
    throw new Error(
      `lrdif: ${op}: ${items} item(s) × ${s.c} channels of ${oh}×${ow} exceed the dispatch grid (at most ${maxDim} item-channels, ${8 * maxDim} rows and columns); split the call`,
    );
  }
  ctx.dispatch(
    { shader: 'affine_warp', entry, constants: { SRC_BYTES: s.bytes ? 1 : 0 } },
    {
      bindings: { src: s.buffer.buffer, geo: g.buffer, y: y.buffer },
      uniforms: {
        total,
        c: s.c,
        h: s.h,
        w: s.w,
        oh,
        ow,
        src_items: s.items,
        stride,
        scale,
        fill,
        _p0: 0,
        _p1: 0,
        bias: [0, 1, 2, 3].map((k) => bias[k] ?? 0),
      },
      workgroups: [Math.ceil(ow / 8), Math.ceil(oh / 8), items * s.c],
    },
  );
  g.dispose();
  return y;
}

/**
 * Affine warp: output item f (of `matrices.length / 6`) samples its source image at
 * x = m0·ox + m1·oy + m2, y = m3·ox + m4·oy + m5 (pixel indices; matrices row-major, 6 per item).
 * Returns [F, C, outH, outW].
 */
export function affineWarp(src: WarpSource, matrices: ArrayLike<number>, outH: number, outW: number, opts: WarpOptions = {}): Tensor {
  const op = 'affineWarp';
  const s = sourceInfo(op, src);
  checkOut(op, 'output height', outH);
  checkOut(op, 'output width', outW);
  if (matrices.length === 0 || matrices.length % 6 !== 0) throw new Error(`lrdif: ${op}: matrices must hold 6 values per output item, got ${matrices.length}`);
  const items = matrices.length / 6;
  const geo = new Float32Array(items * 8);
  for (let f = 0; f < items; f++) {
    for (let k = 0; k < 6; k++) {
      const v = matrices[f * 6 + k];
      if (!Number.isFinite(v)) throw new Error(`lrdif: ${op}: matrix ${f} has a non-finite entry ${v} at ${k}`);
      geo[f * 8 + k] = v;
    }
  }
  return run(op, 'warp', s, items, outH, outW, geo, 8, opts);
}

/**
 * Separable bilinear resampling by tap tables: output item f reads rows by tables[f].rows
 * (length outH) and columns by tables[f].cols (length outW). Returns [F, C, outH, outW].
 */
export function resampleBilinearTables(src: WarpSource, tables: ReadonlyArray<{ rows: BilinearAxisTable; cols: BilinearAxisTable }>, opts: WarpOptions = {}): Tensor {
  const op = 'resampleBilinearTables';
  const s = sourceInfo(op, src);
  if (tables.length === 0) throw new Error(`lrdif: ${op}: no output items (tables) given`);
  const oh = tables[0].rows.i0.length;
  const ow = tables[0].cols.i0.length;
  checkOut(op, 'output height (rows table length)', oh);
  checkOut(op, 'output width (cols table length)', ow);
  const stride = 4 + 3 * (oh + ow);
  const geo = new Float32Array(tables.length * stride);
  tables.forEach((t, f) => {
    const put = (tab: BilinearAxisTable, len: number, size: number, at: number, what: string) => {
      if (tab.i0.length !== len || tab.i1.length !== len || tab.frac.length !== len) {
        throw new Error(`lrdif: ${op}: item ${f}: the ${what} table must have ${len} entries in i0, i1 and frac (item 0 has ${len})`);
      }
      for (let o = 0; o < len; o++) {
        const a = tab.i0[o];
        const b = tab.i1[o];
        const fr = tab.frac[o];
        if (!Number.isInteger(a) || !Number.isInteger(b) || a < -1 || b < -1 || a >= size || b >= size || !(fr >= 0 && fr <= 1)) {
          throw new Error(`lrdif: ${op}: item ${f}: ${what} entry ${o} (i0 ${a}, i1 ${b}, frac ${fr}) must have taps in −1 … ${size - 1} and frac in [0, 1]`);
        }
        geo[at + 3 * o] = a;
        geo[at + 3 * o + 1] = b;
        geo[at + 3 * o + 2] = fr;
      }
    };
    put(t.rows, oh, s.h, f * stride + 4, 'rows');
    put(t.cols, ow, s.w, f * stride + 4 + 3 * oh, 'cols');
  });
  return run(op, 'resample', s, tables.length, oh, ow, geo, stride, opts);
}
