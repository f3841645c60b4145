/** Shared helpers for op wrappers: output allocation, shape checks, broadcasting, dispatch sizes. */
import { empty, fmtShape, type DType, type Shape, type Tensor } from '../autograd/tensor.js';
import type { GpuContext } from '../gpu/context.js';

export const WG = 256;

export function alloc(shape: Shape, dtype: DType = 'f32'): Tensor {
  return empty(shape, dtype);
}

export function assertDType(op: string, t: Tensor, dtype: DType, what = 'input'): void {
  if (t.dtype !== dtype) throw new Error(`lrdif: ${op}: ${what} must be ${dtype}, got ${t.describe()}`);
}

export function assertFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) assertDType(op, t, 'f32');
}

/** A 2-D size given as one number or [h, w] (kernel, stride, padding), each an integer ≥ `min`. */
export function pair(op: string, what: string, v: number | [number, number], min: number): [number, number] {
  if (typeof v !== 'number' && !(Array.isArray(v) && v.length === 2)) {
    throw new Error(`lrdif: ${op}: ${what} must be a number or [h, w], got ${JSON.stringify(v)}`);
  }
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  for (const d of p) {
    if (!Number.isInteger(d) || d < min) throw new Error(`lrdif: ${op}: ${what} must be integers ≥ ${min}, got ${JSON.stringify(v)}`);
  }
  return p;
}

/** Normalises an axis (negative counts from the end) and checks it is in range. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new Error(`lrdif: ${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

export function normAxes(op: string, axes: number | readonly number[] | undefined, rank: number): number[] {
  if (axes === undefined) return [...Array(rank).keys()];
  const list = typeof axes === 'number' ? [axes] : [...axes];
  const out = [...new Set(list.map((a) => normAxis(op, a, rank)))].sort((x, y) => x - y);
  return out;
}

export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`lrdif: ${op}: shapes ${fmtShape(a)} and ${fmtShape(b)} cannot be broadcast together (axis ${i} of the result: ${da} vs ${db})`);
    }
    out.push(da === 1 ? db : da);
  }
  return out;
}

/** Row-major strides of `shape` right-aligned to `outShape`, 0 on broadcast axes. */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const rank = outShape.length;
  const strides = new Array(rank).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const oi = rank - shape.length + i;
    strides[oi] = shape[i] === 1 && outShape[oi] !== 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

/**
 * Merges adjacent axes that every operand walks contiguously (or broadcasts along together),
 * and drops size-1 axes, so broadcast kernels loop over as few axes as possible:
 * [N, C, H, W] + [1, C, 1, 1] becomes [N, C, H·W] with strides [0, 1, 0].
 */
export function coalesceBroadcast(shape: Shape, strides: ReadonlyArray<readonly number[]>): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const last = outShape.length - 1;
    // axis i joins the previous kept axis when, for every operand, stride[prev] == stride[i]·shape[i]
    if (last >= 0 && strides.every((st, k) => outStrides[k][last] === st[i] * shape[i])) {
      outShape[last] *= shape[i];
      strides.forEach((st, k) => (outStrides[k][last] = st[i]));
    } else {
      outShape.push(shape[i]);
      strides.forEach((st, k) => outStrides[k].push(st[i]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

export function stridesOf(shape: Shape): number[] {
  const st = new Array(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = s;
    s *= shape[i];
  }
  return st;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** shaders/nd_index.wgsl: outputs per thread (VEC). */
export const ND_VEC = 8;
/** shaders/nd_index.wgsl: below this many outputs the per-axis divisions use f32 reciprocals (FDIV). */
const ND_FDIV_LIMIT = 2 ** 24;

/** The pipeline constants of a kernel that includes nd_index.wgsl, for `n` outputs of `shape`. */
export function ndConstants(shape: readonly number[], n: number): { RANK: number; FDIV: number } {
  return { RANK: shape.length, ...fdivConstant(n) };
}

/** nd_index.wgsl's FDIV for a kernel whose dividends are all below `n`: f32-reciprocal division where it is exact. */
export function fdivConstant(n: number): { FDIV: number } {
  return { FDIV: n < ND_FDIV_LIMIT ? 1 : 0 };
}

/** 1/shape[d] rounded to f32, padded to 8 entries (nd_index.wgsl's `inv` uniforms). */
export function ndInverses(shape: readonly number[], op: string): number[] {
  return pad8(
    shape.map((d) => Math.fround(1 / d)),
    op,
  );
}

/** Pads a rank ≤ 8 list to 8 entries (for array<vec4u, 2> uniforms). */
export function pad8(v: readonly number[], op: string): number[] {
  if (v.length > 8) throw new Error(`lrdif: ${op}: tensors of rank ${v.length} are not supported (at most 8)`);
  const out = [...v];
  while (out.length < 8) out.push(0);
  return out;
}

/** Workgroups for `n` elements at 256 per workgroup, folded under the per-dimension limit. */
export function grid1d(ctx: GpuContext, n: number, perGroup = WG): [number, number] {
  return ctx.grid(Math.ceil(n / perGroup));
}
