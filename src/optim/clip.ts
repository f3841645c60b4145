/**
 * Gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_), entirely on the GPU
 * (shaders/grad_norm.wgsl): per-gradient partial sums of squares, one tiny final reduction
 * that also computes the clip factor, then an in-place scale of every gradient that reads the
 * factor from its buffer — no readback, so the training step never waits on the GPU.
 */
import { engine } from '../autograd/engine.js';
import { empty, fmtShape, type Storage, type Tensor } from '../autograd/tensor.js';
import { alloc, grid1d, WG } from '../kernels/util.js';

/** At most this many workgroups (partial sums) per gradient; each thread then strides. */
const MAX_PARTIALS = 256;

/**
 * Scales the gradients of `params` in place by min(1, maxNorm / (norm + 1e-6)), where norm is
 * the L2 norm of all gradients together; parameters without a gradient are skipped. Returns
 * the norm (before clipping) as a one-element tensor the caller owns.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): Tensor {
  if (!(maxNorm >= 0)) throw new Error(`lrdif: clipGradNorm: maxNorm must be a number ≥ 0, got ${maxNorm}`);
  const grads: Tensor[] = [];
  for (const p of params) {
    const g = p.grad;
    if (!g) continue;
    if (g.dtype !== 'f32') throw new Error(`lrdif: clipGradNorm: gradient of ${p.describe()} must be f32, got ${g.describe()}`);
    if (g.size !== p.size) throw new Error(`lrdif: clipGradNorm: gradient of ${p.describe()} has shape ${fmtShape(g.shape)}`);
    grads.push(g);
  }
  const ctx = grads[0]?.ctx ?? engine.ctx;
  const counts = grads.map((g) => Math.min(MAX_PARTIALS, Math.ceil(g.size / WG)));
  const total = counts.reduce((a, b) => a + b, 0);
  const partials = alloc([Math.max(1, total)]);
  const norm = empty([]);
  const factor = alloc([1]);
  let offset = 0;
  for (let i = 0; i < grads.length; i++) {
    ctx.dispatch(
      { shader: 'grad_norm', entry: 'partial' },
      {
        bindings: { grad: grads[i].buffer, partials: partials.buffer },
        uniforms: { n: grads[i].size, offset },
        workgroups: [counts[i]],
      },
    );
    offset += counts[i];
  }
  ctx.dispatch(
    { shader: 'grad_norm', entry: 'finish' },
    {
      bindings: { partials: partials.buffer, norm: norm.buffer, factor: factor.buffer },
      uniforms: { n: total, max_norm: maxNorm },
      workgroups: [1],
    },
  );
  // Gradients may share storage (e.g. both inputs of an add receive the same tensor): scale each storage once.
  const scaled = new Set<Storage>();
  for (const g of grads) {
    if (scaled.has(g.storage)) continue;
    scaled.add(g.storage);
    ctx.dispatch(
      { shader: 'grad_norm', entry: 'apply' },
      {
        bindings: { grad: g.buffer, factor: factor.buffer },
        uniforms: { n: g.size },
        workgroups: grid1d(ctx, g.size),
      },
    );
  }
  partials.dispose();
  factor.dispose();
  return norm;
}
