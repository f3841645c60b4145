/**
 * Matrix products (shaders/matmul.wgsl): batched, with transposes, broadcast batch dims, a
 * fused bias and a fused activation epilogue; and `linear` (PyTorch's nn.Linear) on top.
 *
 * Backward: dA and dB are matmuls with the right transpose flags (summed over broadcast batch
 * dims), dbias sums the rows. With a fused activation the forward kernel also stores the
 * pre-activation z when a gradient is needed (one extra write, no second matmul in backward),
 * and backward first forms dz = dy · act'(z).
 */
import { engine, noGrad } from '../autograd/engine.js';
import { fmtShape, sizeOf, type Shape, type Tensor } from '../autograd/tensor.js';
import type { PooledBuffer } from '../gpu/buffer-pool.js';
import type { GpuContext } from '../gpu/context.js';
import type { KernelRequest } from '../gpu/kernel.js';
import { alloc, assertFloat, broadcastStrides, grid1d, pad8, sameShape } from './util.js';
import { reshape } from './shape.js';
import { sum } from './reduce.js';
import { add, sumToShape } from './elementwise.js';
import { ACTIVATIONS, type Activation } from './activation.js';
import { transpose } from './layout.js';

export type { Activation } from './activation.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Tensor;
  activation?: Activation;
  /** Slope of leakyRelu for negative inputs (default 0.01). */
  leakySlope?: number;
  /**
   * Added to the output after the activation (a residual connection, y = r + f(x)); the output's
   * shape exactly. The subgroup kernels add it in their epilogue (no pass of its own); the portable
   * kernel adds it after the product.
   */
  residual?: Tensor;
}

/** Output rows × columns computed by one workgroup of each kernel. */
const PORTABLE_TILE = 32;
const SG_COLS = 32;

/**
 * The subgroup kernel's tile rows for M rows (`ctx.tuning.matmul.tileRows` forces one):
 * matmul_sg8.wgsl for M ≤ 8 and matmul_sg16.wgsl for M ≤ 16 (a 32-row tile computes clamped
 * copies for the rows past M), else matmul_sg.wgsl.
 */
function sgRows(ctx: GpuContext, M: number): 8 | 16 | 32 {
  return ctx.tuning.matmul.tileRows ?? (M <= 8 ? 8 : M <= 16 ? 16 : 32);
}

interface Plan {
  M: number;
  N: number;
  K: number;
  batch: number[];
  outShape: number[];
}

function describeOperand(t: Tensor, trans: boolean): string {
  return `${fmtShape(t.shape)}${trans ? ' (transposed)' : ''}`;
}

function plan(op: string, a: Tensor, b: Tensor, transA: boolean, transB: boolean): Plan {
  if (a.rank < 2 || b.rank < 2) {
    throw new Error(`lrdif: ${op}: both operands need rank ≥ 2, got a ${fmtShape(a.shape)} and b ${fmtShape(b.shape)}`);
  }
  const ra = a.rank;
  const rb = b.rank;
  const M = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const Ka = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (Ka !== Kb) {
    throw new Error(`lrdif: ${op}: inner dimensions differ: a ${describeOperand(a, transA)} has K = ${Ka}, b ${describeOperand(b, transB)} has K = ${Kb}`);
  }
  const ba = a.shape.slice(0, -2);
  const bb = b.shape.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = ba[ba.length - rank + i] ?? 1;
    const db = bb[bb.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`lrdif: ${op}: batch dimensions of a ${fmtShape(a.shape)} and b ${fmtShape(b.shape)} cannot be broadcast together (${da} vs ${db})`);
    }
    batch.push(da === 1 ? db : da);
  }
  return { M, N, K: Ka, batch, outShape: [...batch, M, N] };
}

interface RawArgs {
  transA: boolean;
  transB: boolean;
  bias: Tensor | null;
  act: Activation;
  slope: number;
  savePre: boolean;
  /** Added in the subgroup kernels' epilogue (matmulRaw adds it after the portable kernel). */
  residual: Tensor | null;
}

/** Launches the kernel; returns the output and, if asked, the pre-activation. No autograd. */
function matmulRaw(a: Tensor, b: Tensor, pl: Plan, args: RawArgs): { out: Tensor; pre: Tensor | null } {
  const ctx = a.ctx;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  let { M } = pl;
  let batch = pl.batch;
  let batchCount = sizeOf(batch);
  // b shared by every batch of a (untransposed a): the batches of a are just more rows.
  if (batchCount > 1 && sizeOf(batchB) === 1 && !args.transA) {
    M *= batchCount;
    batch = [];
    batchCount = 1;
  }
  const matA = pl.M * pl.K;
  const matB = pl.K * pl.N;
  const sa = batch.length ? broadcastStrides(batchA, batch).map((s) => s * matA) : [];
  const sb = batch.length ? broadcastStrides(batchB, batch).map((s) => s * matB) : [];

  const sg = ctx.tuning.matmul.path === 'subgroup';
  const tileRows = sg ? sgRows(ctx, M) : PORTABLE_TILE;
  const tileCols = sg ? SG_COLS : PORTABLE_TILE;
  const rowGroups = Math.ceil(M / tileRows);
  const colGroups = Math.ceil(pl.N / tileCols);
  const maxDim = ctx.limits.maxComputeWorkgroupsPerDimension;
  if (rowGroups > maxDim || colGroups > maxDim) {
    throw new Error(`lrdif: matmul: output ${fmtShape(pl.outShape)} has too many rows or columns for one dispatch (at most ${maxDim * tileRows})`);
  }
  const out = alloc(pl.outShape);
  const pre = args.savePre ? alloc(pl.outShape) : null;
  if (out.size === 0) return { out, pre };
  // When the pre-activation is not kept, `pre` is bound to a small pooled buffer the kernel
  // never writes (writable bindings may not alias `out`), returned to the pool right after.
  const scratch = pre ? null : ctx.acquire(16, 'matmul unused pre');
  try {
    dispatchMatmul(ctx, sg ? tileRows : 0, a, b, out, pre ? pre.buffer : scratch!, { M, batch, batchCount, sa, sb, rowGroups, colGroups, maxDim }, pl, args);
  } catch (e) {
    out.dispose();
    pre?.dispose();
    throw e;
  } finally {
    if (scratch) ctx.release(scratch);
  }
  if (args.residual && !sg) {
    // the portable kernel has no residual epilogue: one add after it
    const y = noGrad(() => add(out, args.residual!));
    out.dispose();
    return { out: y, pre };
  }
  return { out, pre };
}

interface Grid {
  M: number;
  batch: number[];
  batchCount: number;
  sa: number[];
  sb: number[];
  rowGroups: number;
  colGroups: number;
  maxDim: number;
}

/** sgTileRows: the subgroup kernel's tile rows, 0 for the portable kernel. */
function dispatchMatmul(ctx: GpuContext, sgTileRows: number, a: Tensor, b: Tensor, out: Tensor, preBuf: PooledBuffer, g: Grid, pl: Plan, args: RawArgs): void {
  const { M, batch, batchCount, sa, sb, rowGroups, colGroups, maxDim } = g;
  const pre = args.savePre;
  // a stands in for a missing bias (read-only aliasing is allowed)
  const biasBuf = args.bias ? args.bias.buffer : a.buffer;
  let kernel: KernelRequest;
  let bindings: Record<string, PooledBuffer>;
  let epilogue: Record<string, number> = {};
  if (sgTileRows) {
    const K = pl.K;
    const N = pl.N;
    const vec4Out = N % 4 === 0;
    const rows = sgTileRows;
    kernel = { shader: rows === 32 ? 'matmul_sg' : `matmul_sg${rows}`, entry: vec4Out ? 'main_vec4' : 'main' };
    // each operand is bound twice: as scalars and as vec4s
    bindings = { a: a.buffer, a4: a.buffer, b: b.buffer, b4: b.buffer, bias: biasBuf };
    // a stands in for a missing residual too
    const resBuf = args.residual ? args.residual.buffer : a.buffer;
    if (vec4Out) Object.assign(bindings, { out4: out.buffer, pre4: preBuf, res4: resBuf });
    else Object.assign(bindings, { out: out.buffer, pre: preBuf, res: resBuf });
    epilogue = {
      act: ACTIVATIONS[args.act],
      hasBias: args.bias ? 1 : 0,
      savePre: pre ? 1 : 0,
      hasRes: args.residual ? 1 : 0,
      tileRows: rows,
      transA: args.transA ? 1 : 0,
      transB: args.transB ? 1 : 0,
      vecA: !args.transA && K % 4 === 0 ? 1 : 0,
      vecB: (!args.transB && N % 4 === 0) || (args.transB && K % 4 === 0) ? 1 : 0,
    };
  } else {
    kernel = {
      shader: 'matmul',
      constants: {
        TRANS_A: args.transA ? 1 : 0,
        TRANS_B: args.transB ? 1 : 0,
        HAS_BIAS: args.bias ? 1 : 0,
        ACT: ACTIVATIONS[args.act],
        SAVE_PRE: pre ? 1 : 0,
      },
    };
    bindings = { a: a.buffer, b: b.buffer, bias: biasBuf, out: out.buffer, pre: preBuf };
  }
  for (let base = 0; base < batchCount; base += maxDim) {
    ctx.dispatch(kernel, {
      bindings,
      uniforms: {
        M,
        N: pl.N,
        K: pl.K,
        batchRank: batch.length,
        batchBase: base,
        slope: args.slope,
        ...epilogue,
        batchShape: pad8(batch, 'matmul'),
        sa: pad8(sa, 'matmul'),
        sb: pad8(sb, 'matmul'),
      },
      workgroups: [colGroups, rowGroups, Math.min(maxDim, batchCount - base)],
    });
  }
}

/** dz = dy · act'(z) for the fused activation. */
function activationBackward(dy: Tensor, z: Tensor, act: Activation, slope: number): Tensor {
  const ctx = dy.ctx;
  const dz = alloc(dy.shape);
  if (dy.size % 4 === 0) {
    // whole quads: the vec4 entry (a quarter of the buffer accesses)
    ctx.dispatch(
      { shader: 'matmul', entry: 'act_backward4', constants: { ACT: ACTIVATIONS[act] } },
      { bindings: { dy4: dy.buffer, zin4: z.buffer, dz4: dz.buffer }, uniforms: { M: dy.size, slope }, workgroups: grid1d(ctx, dy.size / 4) },
    );
    return dz;
  }
  ctx.dispatch(
    { shader: 'matmul', entry: 'act_backward', constants: { ACT: ACTIVATIONS[act] } },
    { bindings: { dy: dy.buffer, zin: z.buffer, dz: dz.buffer }, uniforms: { M: dy.size, slope }, workgroups: grid1d(ctx, dy.size) },
  );
  return dz;
}

/**
 * a: [...batchA, M, K] (or [..., K, M] with transA), b: [...batchB, K, N] (or [..., N, K] with
 * transB); batch dims broadcast; bias [N] added to every row; activation applied last (fused).
 * Returns [...batch, M, N].
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const op = 'matmul';
  assertFloat(op, a, b);
  const transA = !!opts.transA;
  const transB = !!opts.transB;
  const act = opts.activation ?? 'none';
  if (!(act in ACTIVATIONS)) throw new Error(`lrdif: ${op}: unknown activation '${act}' (expected one of ${Object.keys(ACTIVATIONS).join(', ')})`);
  const slope = opts.leakySlope ?? 0.01;
  const pl = plan(op, a, b, transA, transB);
  const bias = opts.bias ?? null;
  if (bias) {
    assertFloat(op, bias);
    if (bias.rank !== 1 || bias.shape[0] !== pl.N) {
      throw new Error(`lrdif: ${op}: bias must have shape [${pl.N}] (the N of a ${describeOperand(a, transA)} · b ${describeOperand(b, transB)}), got ${fmtShape(bias.shape)}`);
    }
  }
  const residual = opts.residual ?? null;
  if (residual) {
    assertFloat(op, residual);
    if (!sameShape(residual.shape, pl.outShape)) {
      throw new Error(
        `lrdif: ${op}: residual must have the output's shape ${fmtShape(pl.outShape)} (a ${describeOperand(a, transA)} · b ${describeOperand(b, transB)}), got ${fmtShape(residual.shape)}`,
      );
    }
  }
  const inputs = [a, b, ...(bias ? [bias] : []), ...(residual ? [residual] : [])];
  const grad = engine.needsGrad(inputs);
  const { out, pre } = matmulRaw(a, b, pl, { transA, transB, bias, act, slope, savePre: grad && act !== 'none', residual });
  if (grad) {
    const aShape = a.shape;
    const bShape = b.shape;
    const needA = a.requiresGrad;
    const needB = b.requiresGrad;
    const needBias = !!bias?.requiresGrad;
    const saved = pre ? [a, b, pre] : [a, b];
    engine.record(op, inputs, out, saved, (g, [as, bs, zs]) => {
      const dz = act === 'none' ? g : activationBackward(g, zs, act, slope);
      const grads = [needA ? gradA(dz, bs, aShape, transA, transB) : null, needB ? gradB(dz, as, bShape, transA, transB) : null];
      if (bias) grads.push(needBias ? sum(reshape(dz, [dz.size / pl.N || 0, pl.N]), 0) : null);
      // the residual's gradient is the output's, as it is
      if (residual) grads.push(residual.requiresGrad ? g : null);
      return grads;
    });
    // the saved view keeps pre alive for backward; this handle is not needed
    pre?.dispose();
  }
  return out;
}

/** Output slots a subgroup product of M × N computes, padded to whole tiles. */
function paddedSlots(ctx: GpuContext, M: number, N: number): number {
  const rows = sgRows(ctx, M);
  return Math.ceil(M / rows) * rows * Math.ceil(N / SG_COLS) * SG_COLS;
}

/**
 * d op(a) = dz · op(b)ᵀ, transposed back if a was used transposed; summed to a's shape. An
 * untransposed a shared by a batch (a 1×1 convolution's weight) whose gradient is a few columns
 * wide (few input channels) is formed transposed, op(b) · dzᵀ, summed, then transposed once: a
 * product K rows by M columns fills the subgroup tiles where M rows by K columns would compute
 * mostly padding (42×8 per image: 16 % of a 64×32 tile, 66 % of 8×64 the other way).
 */
function gradA(dz: Tensor, b: Tensor, aShape: Shape, transA: boolean, transB: boolean): Tensor {
  if (transA) return sumToShape(matmul(b, dz, { transA: transB, transB: true }), aShape);
  const M = aShape[aShape.length - 2];
  const K = aShape[aShape.length - 1];
  const shared = sizeOf(aShape.slice(0, -2)) === 1 && dz.rank > 2 && sizeOf(dz.shape.slice(0, -2)) > 1;
  const ctx = dz.ctx;
  if (shared && ctx.tuning.matmul.path === 'subgroup' && 2 * paddedSlots(ctx, K, M) <= paddedSlots(ctx, M, K)) {
    const summed = sumToShape(matmul(b, dz, { transA: transB, transB: true }), [K, M]);
    return reshape(transpose(summed), aShape);
  }
  return sumToShape(matmul(dz, b, { transB: !transB }), aShape);
}

/** d op(b) = op(a)ᵀ · dz, transposed back if b was used transposed; summed to b's shape. */
function gradB(dz: Tensor, a: Tensor, bShape: Shape, transA: boolean, transB: boolean): Tensor {
  const batchB = sizeOf(bShape.slice(0, -2));
  const batchA = sizeOf(a.shape.slice(0, -2));
  if (batchB === 1 && batchA > 1 && !transA) {
    // b shared across a's batches: fold them into rows so one matmul sums over them
    const K = a.shape[a.rank - 1];
    const N = dz.shape[dz.rank - 1];
    const rows = dz.size / N;
    const a2 = reshape(a, [rows, K]);
    const dz2 = reshape(dz, [rows, N]);
    const g = transB ? matmul(dz2, a2, { transA: true }) : matmul(a2, dz2, { transA: true });
    return reshape(g, bShape);
  }
  const full = transB ? matmul(dz, a, { transA: true, transB: transA }) : matmul(a, dz, { transA: !transA });
  return sumToShape(full, bShape);
}

/**
 * PyTorch Linear: x [..., in] @ weight[out, in]ᵀ + bias[out], optional fused activation, optional
 * residual [..., out] added last (in the product's epilogue: matmul's `residual`).
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null, activation: Activation = 'none', residual?: Tensor | null): Tensor {
  if (weight.rank !== 2) throw new Error(`lrdif: linear: weight must be [out, in], got ${fmtShape(weight.shape)}`);
  if (x.rank < 1 || x.shape[x.rank - 1] !== weight.shape[1]) {
    throw new Error(`lrdif: linear: input ${fmtShape(x.shape)} does not end in in_features = ${weight.shape[1]} (weight ${fmtShape(weight.shape)})`);
  }
  if (x.rank === 1) {
    const x2 = reshape(x, [1, x.shape[0]]);
    const r2 = residual ? reshape(residual, [1, residual.size]) : null;
    const y2 = matmul(x2, weight, { transB: true, bias: bias ?? undefined, activation, residual: r2 ?? undefined });
    const y = reshape(y2, [weight.shape[0]]);
    x2.dispose();
    y2.dispose();
    r2?.dispose();
    return y;
  }
  return matmul(x, weight, { transB: true, bias: bias ?? undefined, activation, residual: residual ?? undefined });
}
