/**
 * Average pooling, NCHW (shaders/pool.wgsl): fixed windows (PyTorch's avg_pool2d with
 * count_include_pad = True, ceil_mode = False) and adaptive windows (adaptive_avg_pool2d's bins).
 * Each backward is its own gather kernel: every input element sums the outputs it fed.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import { alloc, grid1d, pair } from './util.js';
import { assertImages, poolUniforms, type PoolGeometry } from './pool-window.js';

function uniforms(g: PoolGeometry, total: number) {
  return poolUniforms(g, total, { scale: 1 / (g.kh * g.kw) });
}

function poolForward(entry: 'avg' | 'adaptive', x: Tensor, g: PoolGeometry): Tensor {
  const y = alloc([g.n, g.c, g.oh, g.ow]);
  const ctx = x.ctx;
  ctx.dispatch(
    { shader: 'pool', entry },
    {
      bindings: { x: x.buffer, y: y.buffer },
      uniforms: uniforms(g, y.size),
      workgroups: grid1d(ctx, y.size),
    },
  );
  return y;
}

function poolBackward(entry: 'avg_backward' | 'adaptive_backward', dy: Tensor, g: PoolGeometry): Tensor {
  const dx = alloc([g.n, g.c, g.h, g.w]);
  const ctx = dy.ctx;
  ctx.dispatch(
    { shader: 'pool', entry },
    {
      bindings: { dy: dy.buffer, dx: dx.buffer },
      uniforms: uniforms(g, dx.size),
      workgroups: grid1d(ctx, dx.size),
    },
  );
  return dx;
}

/**
 * Average pooling over windows `kernel` moved by `stride` (default: the kernel) over x [N, C, H, W]
 * zero-padded by `padding` on each side; the padding counts in the average (PyTorch's default).
 * Output size ⌊(in + 2·padding − kernel) / stride⌋ + 1. As in PyTorch, padding is at most half the kernel.
 */
export function avgPool2d(x: Tensor, kernel: number | [number, number], stride?: number | [number, number], padding: number | [number, number] = 0): Tensor {
  const op = 'avgPool2d';
  assertImages(op, x);
  const [kh, kw] = pair(op, 'kernel', kernel, 1);
  const [sh, sw] = pair(op, 'stride', stride ?? [kh, kw], 1);
  const [ph, pw] = pair(op, 'padding', padding, 0);
  if (2 * ph > kh || 2 * pw > kw) {
    throw new Error(`lrdif: ${op}: padding [${ph}, ${pw}] must be at most half the kernel ${kh}×${kw} (input ${fmtShape(x.shape)})`);
  }
  const [n, c, h, w] = x.shape;
  if (kh > h + 2 * ph || kw > w + 2 * pw) {
    throw new Error(`lrdif: ${op}: kernel ${kh}×${kw} is larger than the padded input ${h + 2 * ph}×${w + 2 * pw} (input ${fmtShape(x.shape)}, padding [${ph}, ${pw}])`);
  }
  const g: PoolGeometry = {
    n,
    c,
    h,
    w,
    oh: Math.floor((h + 2 * ph - kh) / sh) + 1,
    ow: Math.floor((w + 2 * pw - kw) / sw) + 1,
    kh,
    kw,
    sh,
    sw,
    pt: ph,
    pl: pw,
  };
  const y = poolForward('avg', x, g);
  if (engine.needsGrad([x])) engine.record(op, [x], y, [], (dy) => [poolBackward('avg_backward', dy, g)]);
  return y;
}

/**
 * Average pooling to a fixed output size (PyTorch's adaptive_avg_pool2d): output cell i averages
 * input rows ⌊i·H/outH⌋ … ⌈(i+1)·H/outH⌉ − 1, and columns alike.
 */
export function adaptiveAvgPool2d(x: Tensor, outSize: number | [number, number]): Tensor {
  const op = 'adaptiveAvgPool2d';
  assertImages(op, x);
  const [oh, ow] = pair(op, 'output size', outSize, 1);
  const [n, c, h, w] = x.shape;
  if (h < 1 || w < 1) throw new Error(`lrdif: ${op}: input ${fmtShape(x.shape)} has an empty spatial axis`);
  const g: PoolGeometry = { n, c, h, w, oh, ow, kh: 1, kw: 1, sh: 1, sw: 1, pt: 0, pl: 0 };
  const y = poolForward('adaptive', x, g);
  if (engine.needsGrad([x])) engine.record(op, [x], y, [], (dy) => [poolBackward('adaptive_backward', dy, g)]);
  return y;
}
