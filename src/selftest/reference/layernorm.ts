/** float64 references of layer norm over the last axis (rows) or the channel axis of NCHW, and its gradients. */
import { sizeOf } from './random.js';

export interface View {
  outer: number;
  d: number;
  inner: number;
}

export const rowsView = (shape: number[]): View => ({ outer: sizeOf(shape.slice(0, -1)), d: shape[shape.length - 1], inner: 1 });

export const channelsView = (shape: number[]): View => ({ outer: shape[0], d: shape[1], inner: shape[2] * shape[3] });

/** float64 layer norm over the middle axis of [outer, d, inner], biased variance. */
export function refNorm(x: Float64Array, w: Float64Array | null, b: Float64Array | null, v: View, eps = 1e-5): Float64Array {
  const y = new Float64Array(x.length);
  for (let o = 0; o < v.outer; o++) {
    for (let i = 0; i < v.inner; i++) {
      const at = (j: number) => (o * v.d + j) * v.inner + i;
      let m = 0;
      for (let j = 0; j < v.d; j++) m += x[at(j)];
      m /= v.d;
      let s = 0;
      for (let j = 0; j < v.d; j++) s += (x[at(j)] - m) ** 2;
      const r = 1 / Math.sqrt(s / v.d + eps);
      for (let j = 0; j < v.d; j++) y[at(j)] = (x[at(j)] - m) * r * (w ? w[j] : 1) + (b ? b[j] : 0);
    }
  }
  return y;
}

/** float64 analytic gradients of Σ g ⊙ layerNorm(x) (textbook formula, independent of the kernels' arrangement). */
export function refNormGrads(x: Float64Array, w: Float64Array | null, g: Float64Array, v: View, eps = 1e-5) {
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(v.d);
  const db = new Float64Array(v.d);
  for (let o = 0; o < v.outer; o++) {
    for (let i = 0; i < v.inner; i++) {
      const at = (j: number) => (o * v.d + j) * v.inner + i;
      let m = 0;
      for (let j = 0; j < v.d; j++) m += x[at(j)];
      m /= v.d;
      let s = 0;
      for (let j = 0; j < v.d; j++) s += (x[at(j)] - m) ** 2;
      const r = 1 / Math.sqrt(s / v.d + eps);
      let sg = 0;
      let sgx = 0;
      for (let j = 0; j < v.d; j++) {
        const xh = (x[at(j)] - m) * r;
        const gw = g[at(j)] * (w ? w[j] : 1);
        sg += gw;
        sgx += gw * xh;
        dw[j] += g[at(j)] * xh;
        db[j] += g[at(j)];
      }
      for (let j = 0; j < v.d; j++) {
        const xh = (x[at(j)] - m) * r;
        const gw = g[at(j)] * (w ? w[j] : 1);
        dx[at(j)] = r * (gw - sg / v.d - (xh * sgx) / v.d);
      }
    }
  }
  return { dx, dw, db };
}
