/** float64 reference of matmul / linear (batched, broadcast, transposes, bias, fused activation, residual). */
import type { Activation } from '../../kernels/activation.js';
import { activate } from './special.js';
import { sizeOf } from './random.js';

export interface MatmulRefOptions {
  transA?: boolean;
  transB?: boolean;
  bias?: Float64Array | null;
  activation?: Activation;
  leakySlope?: number;
  /** Added after the activation, laid out as the output. */
  residual?: Float64Array | null;
}

/** Batched, broadcast matmul in float64, straight from the definition. */
export function refMatmul(a: Float64Array, aShape: number[], b: Float64Array, bShape: number[], o: MatmulRefOptions = {}): { data: Float64Array; shape: number[] } {
  const ra = aShape.length;
  const rb = bShape.length;
  const M = o.transA ? aShape[ra - 1] : aShape[ra - 2];
  const K = o.transA ? aShape[ra - 2] : aShape[ra - 1];
  const N = o.transB ? bShape[rb - 2] : bShape[rb - 1];
  const ba = aShape.slice(0, -2);
  const bb = bShape.slice(0, -2);
  const rank = Math.max(ba.length, bb.length);
  const batch: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = ba[ba.length - rank + i] ?? 1;
    batch.push(da === 1 ? (bb[bb.length - rank + i] ?? 1) : da);
  }
  const nb = sizeOf(batch);
  const out = new Float64Array(nb * M * N);
  const offsetIn = (shape: number[], idx: number[]) => {
    // index into a batch shape right-aligned with `batch`, broadcasting size-1 axes
    let off = 0;
    for (let d = 0; d < shape.length; d++) off = off * shape[d] + (shape[d] === 1 ? 0 : idx[rank - shape.length + d]);
    return off;
  };
  for (let z = 0; z < nb; z++) {
    const idx: number[] = [];
    let rem = z;
    for (let d = rank - 1; d >= 0; d--) {
      idx[d] = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
    }
    const oa = offsetIn(ba, idx) * M * K;
    const ob = offsetIn(bb, idx) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = o.transA ? a[oa + k * M + i] : a[oa + i * K + k];
          const bv = o.transB ? b[ob + j * K + k] : b[ob + k * N + j];
          s += av * bv;
        }
        if (o.bias) s += o.bias[j];
        const at = (z * M + i) * N + j;
        out[at] = activate(s, o.activation ?? 'none', o.leakySlope ?? 0.01) + (o.residual ? o.residual[at] : 0);
      }
    }
  }
  return { data: out, shape: [...batch, M, N] };
}
