/**
 * GPU batch augmentation (shaders/augment.wgsl): random horizontal flip then random erasing,
 * as torchvision's RandomHorizontalFlip(p) followed by RandomErasing(p, scale, ratio, value)
 * with a constant value, every image with its own parameters.
 *
 * The parameters come from uniforms drawn by the Philox generator (src/kernels/random.ts):
 * each image uses a row of AUGMENT_UNIFORMS = 44 consecutive uniforms (2 + 4·10 attempts = 42
 * used, padded to whole Philox blocks: one image is exactly 11 blocks):
 * u0 < flipP flips; u1 < eraseP erases, trying up to 10 boxes (torchvision's rule): attempt a
 * takes area H·W·U(scale) from u[2+4a], aspect exp(U(log ratio)) from u[3+4a],
 * h = round(√(area·aspect)), w = round(√(area/aspect)) (half to even), and is accepted when
 * h < H and w < W, with top ⌊u[4+4a]·(H − h + 1)⌋ and left ⌊u[5+4a]·(W − w + 1)⌋.
 * So the augmentation of an image is a function of its uniforms only, and a draw at a known
 * generator state reproduces it exactly.
 */
import { engine, tidy } from '../autograd/engine.js';
import { fmtShape, tensor, type Tensor } from '../autograd/tensor.js';
import { alloc, assertDType, assertFloat, grid1d } from './util.js';
import { randomUniform, Generator } from './random.js';

export const ERASE_ATTEMPTS = 10;
export const AUGMENT_UNIFORMS = 4 * Math.ceil((2 + 4 * ERASE_ATTEMPTS) / 4);

export interface FlipEraseOptions {
  /** Probability of a horizontal flip (default 0.5). */
  flipP?: number;
  /** Probability of erasing a box (default 0.5). */
  eraseP?: number;
  /** Range of the erased area as a fraction of the image (default [0.02, 0.1], the LRDif setting). */
  scale?: readonly [number, number];
  /** Range of the box's aspect ratio h/w (default [0.3, 3.3], torchvision's). */
  ratio?: readonly [number, number];
  /** Value written into the box (default 0). */
  value?: number;
}

function resolve(opts: FlipEraseOptions) {
  const flipP = opts.flipP ?? 0.5;
  const eraseP = opts.eraseP ?? 0.5;
  const scale = opts.scale ?? [0.02, 0.1];
  const ratio = opts.ratio ?? [0.3, 3.3];
  const value = opts.value ?? 0;
  const prob = (n: string, v: number) => {
    if (!(v >= 0 && v <= 1)) throw new Error(`lrdif: flipErase: ${n} must be a probability in [0, 1], got ${v}`);
  };
  prob('flipP', flipP);
  prob('eraseP', eraseP);
  if (!(scale[0] > 0 && scale[0] <= scale[1] && scale[1] <= 1)) throw new Error(`lrdif: flipErase: scale must satisfy 0 < lo ≤ hi ≤ 1, got [${scale.join(', ')}]`);
  if (!(ratio[0] > 0 && ratio[0] <= ratio[1] && Number.isFinite(ratio[1]))) throw new Error(`lrdif: flipErase: ratio must satisfy 0 < lo ≤ hi, got [${ratio.join(', ')}]`);
  if (!Number.isFinite(value)) throw new Error(`lrdif: flipErase: value must be finite, got ${value}`);
  return { flipP, eraseP, scale, ratio, value };
}

function checkImages(op: string, x: Tensor): void {
  assertFloat(op, x);
  if (x.rank !== 4) throw new Error(`lrdif: ${op}: images must be [B, C, H, W], got ${x.describe()}`);
}

/**
 * Per-image parameters [B, 5] i32 (flip, top, left, h, w; h = w = 0 when nothing is erased)
 * for images of H × W from uniforms [B, AUGMENT_UNIFORMS].
 */
export function flipEraseParams(uniforms: Tensor, height: number, width: number, opts: FlipEraseOptions = {}): Tensor {
  assertFloat('flipEraseParams', uniforms);
  if (uniforms.rank !== 2 || uniforms.shape[1] !== AUGMENT_UNIFORMS) {
    throw new Error(`lrdif: flipEraseParams: uniforms must be [B, ${AUGMENT_UNIFORMS}], got ${uniforms.describe()}`);
  }
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) {
    throw new Error(`lrdif: flipEraseParams: image size must be positive integers, got ${height}×${width}`);
  }
  const o = resolve(opts);
  const b = uniforms.shape[0];
  const params = alloc([b, 5], 'i32');
  if (b === 0) return params;
  const ctx = uniforms.ctx;
  ctx.dispatch(
    { shader: 'augment', entry: 'make_params', constants: { ATTEMPTS: ERASE_ATTEMPTS } },
    {
      bindings: { u: uniforms.buffer, params: params.buffer },
      uniforms: {
        n: b,
        c: 0,
        h: height,
        w: width,
        flip_p: o.flipP,
        erase_p: o.eraseP,
        scale_lo: o.scale[0],
        scale_hi: o.scale[1],
        log_r0: Math.log(o.ratio[0]),
        log_r1: Math.log(o.ratio[1]),
        value: o.value,
      },
      workgroups: [Math.ceil(b / 64), 1, 1],
    },
  );
  return params;
}

function applyRaw(x: Tensor, params: Tensor, value: number, backward: boolean): Tensor {
  const [, c, h, w] = x.shape;
  const y = alloc(x.shape);
  if (y.size === 0) return y;
  const ctx = x.ctx;
  ctx.dispatch(
    { shader: 'augment', entry: backward ? 'apply_backward' : 'apply' },
    {
      bindings: { x: x.buffer, prm: params.buffer, y: y.buffer },
      uniforms: { n: x.size, c, h, w, flip_p: 0, erase_p: 0, scale_lo: 0, scale_hi: 0, log_r0: 0, log_r1: 0, value },
      workgroups: grid1d(ctx, x.size),
    },
  );
  return y;
}

/** Applies per-image (flip, top, left, h, w) parameters [B, 5] to x [B, C, H, W]; differentiable in x. */
export function applyFlipErase(x: Tensor, params: Tensor, value = 0): Tensor {
  checkImages('applyFlipErase', x);
  assertDType('applyFlipErase', params, 'i32', 'params');
  if (params.rank !== 2 || params.shape[0] !== x.shape[0] || params.shape[1] !== 5) {
    throw new Error(`lrdif: applyFlipErase: params must be [${x.shape[0]}, 5] for images ${fmtShape(x.shape)}, got ${params.describe()}`);
  }
  const y = applyRaw(x, params, value, false);
  if (engine.needsGrad([x])) {
    engine.record('applyFlipErase', [x], y, [params], (g, [prm]) => [applyRaw(g, prm, 0, true)]);
  }
  return y;
}

/** Per-image parameters [B, 5] that flip the images marked and erase nothing. */
export function flipOnlyParams(flips: readonly boolean[]): Tensor {
  return tensor(Int32Array.from(flips.flatMap((v) => [v ? 1 : 0, 0, 0, 0, 0])), [flips.length, 5], 'i32');
}

/** Every image of x [B, C, H, W] mirrored left to right (test-time augmentation's second view). */
export function mirrorImages(x: Tensor): Tensor {
  checkImages('mirrorImages', x);
  return tidy(() => applyFlipErase(x, flipOnlyParams(new Array<boolean>(x.shape[0]).fill(true))));
}

/**
 * Random flip + erasing of a batch x [B, C, H, W], drawing B × AUGMENT_UNIFORMS uniforms from
 * `generator` (default: the module's default generator). Returns the images and the
 * parameters used.
 */
export function randomFlipErase(x: Tensor, opts: FlipEraseOptions & { generator?: Generator; uniforms?: Tensor } = {}): { images: Tensor; params: Tensor } {
  checkImages('randomFlipErase', x);
  const [b, , h, w] = x.shape;
  const u = opts.uniforms ?? randomUniform([b, AUGMENT_UNIFORMS], { generator: opts.generator });
  if (opts.uniforms && (u.rank !== 2 || u.shape[0] !== b)) {
    throw new Error(`lrdif: randomFlipErase: uniforms must be [${b}, ${AUGMENT_UNIFORMS}] for images ${fmtShape(x.shape)}, got ${u.describe()}`);
  }
  const params = flipEraseParams(u, h, w, opts);
  if (!opts.uniforms) u.dispose();
  const images = applyFlipErase(x, params, opts.value ?? 0);
  return { images, params };
}
