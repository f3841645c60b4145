/**
 * Max pooling, NCHW (shaders/maxpool.wgsl), with TF's padding modes ('valid', 'same') and
 * PyTorch's explicit symmetric padding. Padded cells never win a window (TF's SAME and PyTorch's
 * −∞ padding alike). The backward is its own gather kernel: every input element sums the output
 * gradients of the windows whose first maximum (row-major window order) it is — TF's and
 * PyTorch's rule for ties — so it is deterministic.
 *
 * `maxPool2dBiasLeaky` is the inference-only fused form face-api's tiny face detector needs:
 * maxPool(leaky(x + bias)) computed as leaky(maxPool(x) + bias), exact because x ↦ leaky(x + b)
 * is non-decreasing.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import { alloc, assertFloat, grid1d, pair } from './util.js';
import { assertImages, poolUniforms, type PoolGeometry } from './pool-window.js';

/** 'valid' (no padding), 'same' (TF: output ⌈in / stride⌉, the odd padding row after), or [ph, pw] on each side. */
export type MaxPoolPadding = 'valid' | 'same' | number | [number, number];

/** One axis: output size and padding before, for TF's modes or an explicit symmetric padding. */
function axis(op: string, x: Tensor, size: number, k: number, s: number, padding: 'valid' | 'same' | number): { out: number; before: number } {
  if (padding === 'same') {
    const out = Math.ceil(size / s);
    const total = Math.max((out - 1) * s + k - size, 0);
    return { out, before: Math.floor(total / 2) };
  }
  const p = padding === 'valid' ? 0 : padding;
  if (size + 2 * p < k) {
    throw new Error(`lrdif: ${op}: kernel ${k} is larger than the ${padding === 'valid' ? 'input' : 'padded input'} (${size + 2 * p}) along an axis of ${x.describe()}`);
  }
  return { out: Math.floor((size + 2 * p - k) / s) + 1, before: p };
}

function geometry(op: string, x: Tensor, kernel: number | [number, number], stride: number | [number, number] | undefined, padding: MaxPoolPadding): PoolGeometry {
  assertImages(op, x);
  const [kh, kw] = pair(op, 'kernel', kernel, 1);
  const [sh, sw] = pair(op, 'stride', stride ?? [kh, kw], 1);
  let ph: 'valid' | 'same' | number;
  let pw: 'valid' | 'same' | number;
  if (padding === 'valid' || padding === 'same') ph = pw = padding;
  else if (typeof padding === 'number' || Array.isArray(padding)) {
    [ph, pw] = pair(op, 'padding', padding, 0);
    if (2 * ph > kh || 2 * pw > kw) {
      throw new Error(`lrdif: ${op}: padding [${ph}, ${pw}] must be at most half the kernel ${kh}×${kw} (input ${fmtShape(x.shape)})`);
    }
  } else throw new Error(`lrdif: ${op}: padding must be 'valid', 'same', a number or [h, w], got ${JSON.stringify(padding)}`);
  const [n, c, h, w] = x.shape;
  if (h < 1 || w < 1) throw new Error(`lrdif: ${op}: input ${fmtShape(x.shape)} has an empty spatial axis`);
  const ay = axis(op, x, h, kh, sh, ph);
  const ax = axis(op, x, w, kw, sw, pw);
  return { n, c, h, w, oh: ay.out, ow: ax.out, kh, kw, sh, sw, pt: ay.before, pl: ax.before };
}

function uniforms(g: PoolGeometry, total: number, slope: number) {
  return poolUniforms(g, total, { slope });
}

function forwardRaw(x: Tensor, g: PoolGeometry, bias: Tensor | null, slope: number): Tensor {
  const y = alloc([g.n, g.c, g.oh, g.ow]);
  if (y.size === 0) return y;
  // the shader references `bias` statically; without the epilogue it is never read (x stands in)
  const bindings = { x: x.buffer, y: y.buffer, bias: (bias ?? x).buffer };
  const planes = g.n * g.c;
  const maxDim = x.ctx.device.limits.maxComputeWorkgroupsPerDimension;
  if (g.kh * g.kw <= 16 && planes <= maxDim && Math.ceil(g.ow / 8) <= maxDim && Math.ceil(g.oh / 8) <= maxDim) {
    // small windows: the 3-D grid kernel with the window size fixed (its loops unroll)
    x.ctx.dispatch(
      { shader: 'maxpool', entry: 'max_forward_grid', constants: { EPI: bias ? 1 : 0, KH: g.kh, KW: g.kw } },
      {
        bindings,
        uniforms: uniforms(g, y.size, slope),
        workgroups: [Math.ceil(g.ow / 8), Math.ceil(g.oh / 8), planes],
      },
    );
  } else {
    x.ctx.dispatch(
      { shader: 'maxpool', entry: 'max_forward', constants: { EPI: bias ? 1 : 0 } },
      {
        bindings,
        uniforms: uniforms(g, y.size, slope),
        workgroups: grid1d(x.ctx, y.size),
      },
    );
  }
  return y;
}

function backwardRaw(dy: Tensor, x: Tensor, g: PoolGeometry): Tensor {
  const dx = alloc(x.shape);
  if (dx.size === 0) return dx;
  dy.ctx.dispatch(
    { shader: 'maxpool', entry: 'max_backward' },
    {
      bindings: { x: x.buffer, dy: dy.buffer, dx: dx.buffer },
      uniforms: uniforms(g, dx.size, 0),
      workgroups: grid1d(dy.ctx, dx.size),
    },
  );
  return dx;
}

/**
 * Max pooling of x [N, C, H, W] over `kernel` windows moved by `stride` (default: the kernel).
 * `padding`: 'valid' (default; output ⌊(in − k) / s⌋ + 1), 'same' (TF: output ⌈in / s⌉, total
 * padding max((out − 1)·s + k − in, 0) with ⌊total / 2⌋ before), or explicit [ph, pw] cells on
 * each side as PyTorch's max_pool2d (at most half the kernel; output ⌊(in + 2p − k) / s⌋ + 1).
 */
export function maxPool2d(x: Tensor, kernel: number | [number, number], stride?: number | [number, number], padding: MaxPoolPadding = 'valid'): Tensor {
  const op = 'maxPool2d';
  const g = geometry(op, x, kernel, stride, padding);
  const y = forwardRaw(x, g, null, 0);
  if (engine.needsGrad([x])) engine.record(op, [x], y, [x], (dy, [xs]) => [backwardRaw(dy, xs, g)]);
  return y;
}

/**
 * maxPool2d(leakyRelu(x + bias[c], slope)) in one pass (inference only): bias [C] per channel.
 * face-api's tiny face detector layers (conv → + bias → leaky ReLU 0.1 → max pool 2×2 'same').
 */
export function maxPool2dBiasLeaky(
  x: Tensor,
  bias: Tensor,
  kernel: number | [number, number],
  stride?: number | [number, number],
  padding: MaxPoolPadding = 'valid',
  slope = 0.1,
): Tensor {
  const op = 'maxPool2dBiasLeaky';
  const g = geometry(op, x, kernel, stride, padding);
  assertFloat(op, bias);
  if (bias.rank !== 1 || bias.shape[0] !== g.c) throw new Error(`lrdif: ${op}: bias must be [${g.c}] (the channels of ${x.describe()}), got ${fmtShape(bias.shape)}`);
  if (engine.needsGrad([x, bias])) {
    throw new Error(`lrdif: ${op}: inference only, but an input requires a gradient (${x.describe()}, bias ${bias.describe()}); use maxPool2d(leakyRelu(add(x, bias)))`);
  }
  if (!Number.isFinite(slope)) throw new Error(`lrdif: ${op}: slope must be a finite number, got ${slope}`);
  return forwardRaw(x, g, bias, slope);
}
