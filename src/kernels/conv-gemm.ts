/**
 * A convolution with one group as a matrix product on the matmul kernels (im2col), forward and
 * both gradients; shaders/im2col.wgsl moves the data. With K = C·kh·kw and a chunk of nc images
 * whose Q = nc·OH·OW output pixels are the product's columns:
 * - forward: col [K, Q] = im2col(x); y' [O, Q] = W [O, K] · col; y = y' as NCHW, + bias;
 * - dx: dy' [O, Q] = dy's chunk as channel rows; dcol [K, Q] = Wᵀ [K, O] · dy'; dx = col2im(dcol),
 *   each input pixel summing the taps that reach it (strided: only those, no zero rows);
 * - dW [O, K] = Σ over chunks of dy' · colᵀ (the images are the product's inner dimension).
 * On lavapipe the direct kernel (shaders/conv2d.wgsl) loads about one value per 1.4 vec4
 * multiply-adds; the matmul tiles share their loads across a subgroup (16 per load), so the
 * layout passes cost far less than they save. No autograd here: conv.ts records the op.
 */
import type { Tensor } from '../autograd/tensor.js';
import { noGrad } from '../autograd/engine.js';
import type { GpuContext } from '../gpu/context.js';
import type { PooledBuffer } from '../gpu/buffer-pool.js';
import type { ConvGeometry } from './conv.js';
import { alloc, fdivConstant, grid1d } from './util.js';
import { reshape } from './shape.js';
import { add } from './elementwise.js';
import { matmul } from './matmul.js';
import { transpose } from './layout.js';
import { zeros } from './creation.js';

const F32 = 4;

/** Images per chunk: the column matrix (and the [O, Q] product) below the byte budget, Q % 4 == 0 where it can be. */
function imagesPerChunk(ctx: GpuContext, g: ConvGeometry): number {
  const P = g.oh * g.ow;
  const rows = Math.max(g.c * g.kh * g.kw, g.o);
  const budget = Math.min(ctx.tuning.conv.colBytes, ctx.limits.maxStorageBufferBindingSize);
  let nc = Math.max(1, Math.min(g.n, Math.floor(budget / (rows * P * F32))));
  // whole quads of columns keep the product on its vec4 path
  const step = 4 / gcd(P, 4);
  if (nc < g.n && nc >= step) nc -= nc % step;
  return nc;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Whether the gemm path runs this convolution's forward or backward pass (they are chosen apart:
 * the backward has two products to the forward's one for the same layout passes): one group,
 * each image's column matrix within one binding, and by default where the products are large
 * enough to pay for the layout passes.
 */
export function usesGemm(ctx: GpuContext, g: ConvGeometry, pass: 'forward' | 'backward'): boolean {
  if (g.groups !== 1) return false;
  const P = g.oh * g.ow;
  if (Math.max(g.c * g.kh * g.kw, g.o) * P * F32 > ctx.limits.maxStorageBufferBindingSize) return false;
  const path = ctx.tuning.conv.path;
  if (path !== null) return path === 'gemm';
  if ((g.c * g.kh * g.kw) % 4 !== 0) return false;
  // The layout passes cost about what a product with 2·O multiply-adds per column value does at
  // O ≈ 32 (lavapipe: bench/conv-paths.ts); the direct kernel's forward is at its best at stride 1.
  if (pass === 'backward') return g.o >= 32;
  return g.o >= 64 || (g.o >= 32 && (g.sh > 1 || g.sw > 1));
}

function layoutUniforms(g: ConvGeometry, n0: number, nc: number) {
  return { c: g.c, h: g.h, w: g.w, oh: g.oh, ow: g.ow, kh: g.kh, kw: g.kw, dh: g.dh, dw: g.dw, pt: g.pt, pl: g.pl, nc, n0 };
}

/** The strides (constant divisors) and FDIV for a kernel whose indices stay below `n`. */
function constants(g: ConvGeometry, n: number) {
  return { SH: g.sh, SW: g.sw, ...fdivConstant(n) };
}

/** col [K, nc·P] of images [n0, n0 + nc) of x. */
function im2col(x: Tensor, g: ConvGeometry, n0: number, nc: number): Tensor {
  const ctx = x.ctx;
  const Q = nc * g.oh * g.ow;
  const K = g.c * g.kh * g.kw;
  const col = alloc([K, Q]);
  const quads = Q % 4 === 0;
  ctx.dispatch(
    { shader: 'im2col', entry: quads ? 'im2col4' : 'im2col', constants: constants(g, K * Q) },
    {
      bindings: quads ? { x: x.buffer, col4: col.buffer } : { x: x.buffer, col: col.buffer },
      uniforms: layoutUniforms(g, n0, nc),
      workgroups: grid1d(ctx, quads ? (K * Q) / 4 : K * Q),
    },
  );
  return col;
}

interface SwapArgs {
  /** in [a, b, s] from element inBase → out [b, a, s] from element outBase, + bias[i] of in's first axis. */
  a: number;
  b: number;
  s: number;
  inBase: number;
  outBase: number;
  bias: Tensor | null;
}

function swap(ctx: GpuContext, src: PooledBuffer, dst: PooledBuffer, w: SwapArgs): void {
  const quads = w.s % 4 === 0;
  // src stands in for a missing bias (read-only aliasing is allowed)
  const bias = w.bias ? w.bias.buffer : src;
  ctx.dispatch(
    { shader: 'im2col', entry: quads ? 'swap4' : 'swap', constants: fdivConstant(w.a * w.b * w.s) },
    {
      bindings: quads ? { src4: src, bias, dst4: dst } : { src, bias, dst },
      uniforms: { a: w.a, b: w.b, s: w.s, in_base: w.inBase, out_base: w.outBase, has_bias: w.bias ? 1 : 0 },
      workgroups: grid1d(ctx, quads ? (w.a * w.b * w.s) / 4 : w.a * w.b * w.s),
    },
  );
}

/** y [N, O, OH, OW] = conv(x, weight) + bias, for usesGemm geometries. */
export function gemmForward(x: Tensor, weight: Tensor, bias: Tensor | null, g: ConvGeometry): Tensor {
  const ctx = x.ctx;
  const P = g.oh * g.ow;
  const K = g.c * g.kh * g.kw;
  if (g.n === 1 && !bias) {
    // one image's [O, P] product is already its NCHW output: no swap pass
    return noGrad(() => {
      const w2 = reshape(weight, [g.o, K]);
      const col = im2col(x, g, 0, 1);
      const prod = matmul(w2, col);
      const y = reshape(prod, [1, g.o, g.oh, g.ow]);
      for (const t of [w2, col, prod]) t.dispose();
      return y;
    });
  }
  const y = alloc([g.n, g.o, g.oh, g.ow]);
  if (y.size === 0) return y;
  const nc = imagesPerChunk(ctx, g);
  noGrad(() => {
    const w2 = reshape(weight, [g.o, K]);
    for (let n0 = 0; n0 < g.n; n0 += nc) {
      const m = Math.min(nc, g.n - n0);
      const col = im2col(x, g, n0, m);
      const prod = matmul(w2, col);
      col.dispose();
      swap(ctx, prod.buffer, y.buffer, { a: g.o, b: m, s: P, inBase: 0, outBase: n0 * g.o * P, bias });
      prod.dispose();
    }
    w2.dispose();
  });
  return y;
}

/** dx [N, C, H, W] and dW [O, C, kh, kw] of a gemm-path convolution; each only when asked. */
export function gemmBackward(dy: Tensor, x: Tensor, weight: Tensor, g: ConvGeometry, needX: boolean, needW: boolean): [Tensor | null, Tensor | null] {
  const ctx = dy.ctx;
  const P = g.oh * g.ow;
  const K = g.c * g.kh * g.kw;
  const dx = needX ? alloc([g.n, g.c, g.h, g.w]) : null;
  let dw: Tensor | null = null;
  if (g.n * P === 0 || (!needX && !needW)) {
    if (needW) dw = zeros([g.o, g.c, g.kh, g.kw]);
    return [dx, dw];
  }
  const nc = imagesPerChunk(ctx, g);
  noGrad(() => {
    let wt: Tensor | null = null;
    if (needX) {
      // Wᵀ [K, O]: the product's A operand untransposed (its vec4 path)
      const w2 = reshape(weight, [g.o, K]);
      wt = transpose(w2);
      w2.dispose();
    }
    for (let n0 = 0; n0 < g.n; n0 += nc) {
      const m = Math.min(nc, g.n - n0);
      let dyT: Tensor;
      if (g.n === 1) dyT = reshape(dy, [g.o, P]);
      else {
        dyT = alloc([g.o, m * P]);
        swap(ctx, dy.buffer, dyT.buffer, { a: m, b: g.o, s: P, inBase: n0 * g.o * P, outBase: 0, bias: null });
      }
      if (dx && wt) {
        const dcol = matmul(wt, dyT);
        col2im(dcol, dx, g, n0, m);
        dcol.dispose();
      }
      if (needW) {
        const col = im2col(x, g, n0, m);
        const part = matmul(dyT, col, { transB: true });
        col.dispose();
        if (dw) {
          const s = add(dw, part);
          dw.dispose();
          part.dispose();
          dw = s;
        } else dw = part;
      }
      dyT.dispose();
    }
    wt?.dispose();
    if (dw) {
      const shaped = reshape(dw, [g.o, g.c, g.kh, g.kw]);
      dw.dispose();
      dw = shaped;
    }
  });
  return [dx, dw];
}

/** dx's images [n0, n0 + nc) from dcol [K, nc·P]. */
function col2im(dcol: Tensor, dx: Tensor, g: ConvGeometry, n0: number, nc: number): void {
  const ctx = dcol.ctx;
  const quads = g.w % 4 === 0;
  const pixels = nc * g.c * g.h * g.w;
  ctx.dispatch(
    { shader: 'im2col', entry: quads ? 'col2im4' : 'col2im', constants: constants(g, pixels) },
    {
      bindings: quads ? { dcol: dcol.buffer, dx4: dx.buffer } : { dcol: dcol.buffer, dx: dx.buffer },
      uniforms: { ...layoutUniforms(g, n0, nc), dx_base: n0 * g.c * g.h * g.w },
      workgroups: grid1d(ctx, quads ? pixels / 4 : pixels),
    },
  );
}
