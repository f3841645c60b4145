/**
 * Losses: cross-entropy (one fused kernel per direction, shaders/cross_entropy.wgsl) and the
 * pointwise losses kl_div, l1, mse (shaders/loss.wgsl, then the ordinary sum/mean ops).
 * Semantics follow PyTorch's torch.nn.functional, with the differences noted per function.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import { alloc, assertDType, grid1d, sameShape } from './util.js';
import { mul, mulScalar } from './elementwise.js';
import { mean, sum } from './reduce.js';

export type Reduction = 'mean' | 'sum' | 'none';

function checkReduction<R extends string>(op: string, r: string, allowed: readonly R[], shapes: string): R {
  if (!(allowed as readonly string[]).includes(r)) {
    throw new Error(`lrdif: ${op}: reduction must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got '${r}' (${shapes})`);
  }
  return r as R;
}

// ---------------------------------------------------------------- cross-entropy

/**
 * Cross-entropy of logits [N, C] against i32 labels [N], PyTorch semantics including label
 * smoothing ε: loss_i = (1−ε)·(−log p_{y_i}) + ε·mean_c(−log p_c). 'mean' averages over the
 * rows that count. Rows whose label equals `ignoreIndex` contribute nothing and are not counted.
 *
 * Labels live on the GPU, so they cannot be range-checked on the host without a readback. A
 * label outside [0, C) is treated like an ignored one: that row's loss and gradient are 0, it
 * is not counted in the mean, and it is never used as an index (no out-of-bounds read). PyTorch
 * raises an error there instead. When no row counts, 'mean' gives 0 (PyTorch gives NaN).
 */
export function crossEntropy(logits: Tensor, labels: Tensor, opts: { labelSmoothing?: number; reduction?: Reduction; ignoreIndex?: number } = {}): Tensor {
  const shapes = `logits ${fmtShape(logits.shape)}, labels ${fmtShape(labels.shape)}`;
  assertDType('crossEntropy', logits, 'f32', 'logits');
  assertDType('crossEntropy', labels, 'i32', 'labels');
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(`lrdif: crossEntropy: need logits [N, C] and labels [N], got ${shapes}`);
  }
  const [n, c] = logits.shape;
  if (c === 0) throw new Error(`lrdif: crossEntropy: logits need at least one class, got ${shapes}`);
  const eps = opts.labelSmoothing ?? 0;
  if (typeof eps !== 'number' || !(eps >= 0 && eps <= 1)) {
    throw new Error(`lrdif: crossEntropy: labelSmoothing must be in [0, 1], got ${eps} (${shapes})`);
  }
  const reduction = checkReduction('crossEntropy', opts.reduction ?? 'mean', ['mean', 'sum', 'none'] as const, shapes);
  // without an ignore index, -1 never matches a label inside [0, C)
  const ignoreIndex = opts.ignoreIndex ?? -1;
  if (!Number.isInteger(ignoreIndex) || ignoreIndex < -(2 ** 31) || ignoreIndex >= 2 ** 31) {
    throw new Error(`lrdif: crossEntropy: ignoreIndex must be an i32 integer, got ${ignoreIndex} (${shapes})`);
  }
  const ctx = logits.ctx;
  const uniforms = { n, c, ignore_index: ignoreIndex, eps };

  const rowLoss = alloc([n]);
  const lse = alloc([n]);
  ctx.dispatch(
    { shader: 'cross_entropy', entry: 'forward' },
    { bindings: { logits: logits.buffer, labels: labels.buffer, loss: rowLoss.buffer, lse: lse.buffer }, uniforms, workgroups: ctx.grid(n) },
  );
  let out = rowLoss;
  let invCount: Tensor | null = null;
  if (reduction !== 'none') {
    out = alloc([]);
    invCount = alloc([]);
    ctx.dispatch(
      { shader: 'cross_entropy', entry: 'reduce', constants: { MEAN: reduction === 'mean' ? 1 : 0 } },
      { bindings: { labels: labels.buffer, loss: rowLoss.buffer, out: out.buffer, inv_count: invCount.buffer }, uniforms, workgroups: [1] },
    );
    rowLoss.dispose();
  }

  if (engine.needsGrad([logits])) {
    const saved = invCount ? [logits, labels, lse, invCount] : [logits, labels, lse];
    engine.record('crossEntropy', [logits, labels], out, saved, (g, [x, y, l, ic]) => {
      // d mean / d loss_i = 1/count, known only on the GPU
      const gEff = reduction === 'mean' ? mul(g, ic) : g;
      const dx = alloc([n, c]);
      ctx.dispatch(
        { shader: 'cross_entropy', entry: 'backward', constants: { BROADCAST_G: reduction === 'none' ? 0 : 1 } },
        {
          bindings: { logits: x.buffer, labels: y.buffer, lse: l.buffer, gy: gEff.buffer, dx: dx.buffer },
          uniforms,
          workgroups: grid1d(ctx, n * c),
        },
      );
      return [dx, null];
    });
  }
  lse.dispose();
  invCount?.dispose();
  return out;
}

// ---------------------------------------------------------------- pointwise losses

const POINTWISE = { l1: 0, mse: 1, kl: 2, klLogTarget: 3 } as const;
type PointwiseName = keyof typeof POINTWISE;

function pointwiseLoss(op: string, name: PointwiseName, a: Tensor, b: Tensor): Tensor {
  const ctx = a.ctx;
  const out = alloc(a.shape);
  ctx.dispatch(
    { shader: 'loss', constants: { OP: POINTWISE[name] } },
    { bindings: { a: a.buffer, b: b.buffer, out: out.buffer }, uniforms: { n: a.size }, workgroups: grid1d(ctx, a.size) },
  );
  if (engine.needsGrad([a, b])) {
    engine.record(op, [a, b], out, [a, b], (g, [sa, sb]) => {
      const ga = alloc(sa.shape);
      const gb = alloc(sb.shape);
      ctx.dispatch(
        { shader: 'loss', entry: 'backward', constants: { OP: POINTWISE[name] } },
        { bindings: { a: sa.buffer, b: sb.buffer, g: g.buffer, ga: ga.buffer, gb: gb.buffer }, uniforms: { n: sa.size }, workgroups: grid1d(ctx, sa.size) },
      );
      return [ga, gb];
    });
  }
  return out;
}

function reduceLoss(terms: Tensor, reduction: Reduction | 'batchmean', batch: number): Tensor {
  if (reduction === 'none') return terms;
  let out: Tensor;
  if (reduction === 'sum') out = sum(terms);
  else if (reduction === 'mean') out = mean(terms);
  else {
    const total = sum(terms);
    out = mulScalar(total, batch === 0 ? 0 : 1 / batch);
    total.dispose();
  }
  // the reduction nodes do not need the terms again
  terms.dispose();
  return out;
}

function checkPair(op: string, a: Tensor, b: Tensor, what: [string, string]): string {
  const shapes = `${what[0]} ${fmtShape(a.shape)}, ${what[1]} ${fmtShape(b.shape)}`;
  assertDType(op, a, 'f32', what[0]);
  assertDType(op, b, 'f32', what[1]);
  if (!sameShape(a.shape, b.shape)) throw new Error(`lrdif: ${op}: ${what[0]} and ${what[1]} must have the same shape, got ${shapes}`);
  return shapes;
}

/**
 * PyTorch F.kl_div: input = log-probabilities, target = probabilities (or log-probabilities when
 * logTarget). Pointwise t·(log t − input) (0 where t = 0), or e^t·(t − input) with logTarget.
 * 'batchmean' divides the sum by input.shape[0]. Where a probability target is exactly 0 its
 * gradient is −input (the t·log t slope, −∞ there, is dropped; PyTorch gives NaN).
 */
export function klDiv(input: Tensor, target: Tensor, opts: { reduction?: Reduction | 'batchmean'; logTarget?: boolean } = {}): Tensor {
  const shapes = checkPair('klDiv', input, target, ['input', 'target']);
  const reduction = checkReduction('klDiv', opts.reduction ?? 'mean', ['mean', 'sum', 'none', 'batchmean'] as const, shapes);
  if (reduction === 'batchmean' && input.rank === 0) throw new Error(`lrdif: klDiv: 'batchmean' needs a batch axis, got ${shapes}`);
  const terms = pointwiseLoss('klDiv', opts.logTarget ? 'klLogTarget' : 'kl', input, target);
  return reduceLoss(terms, reduction, input.shape[0] ?? 1);
}

/** Mean (or sum, or elementwise) absolute error |a − b|; the gradient at a = b is 0, as in PyTorch. */
export function l1Loss(a: Tensor, b: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const shapes = checkPair('l1Loss', a, b, ['a', 'b']);
  const reduction = checkReduction('l1Loss', opts.reduction ?? 'mean', ['mean', 'sum', 'none'] as const, shapes);
  return reduceLoss(pointwiseLoss('l1Loss', 'l1', a, b), reduction, 0);
}

/** Mean (or sum, or elementwise) squared error (a − b)². */
export function mseLoss(a: Tensor, b: Tensor, opts: { reduction?: Reduction } = {}): Tensor {
  const shapes = checkPair('mseLoss', a, b, ['a', 'b']);
  const reduction = checkReduction('mseLoss', opts.reduction ?? 'mean', ['mean', 'sum', 'none'] as const, shapes);
  return reduceLoss(pointwiseLoss('mseLoss', 'mse', a, b), reduction, 0);
}
