/** Special functions and activations in float64, for the references. */
import type { Activation } from '../../kernels/activation.js';

/** erf to ~1e-15: Maclaurin series for |x| < 3, the continued fraction of erfc beyond. */
export function erf(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 3) {
    let term = z;
    let s = z;
    for (let n = 1; n < 100; n++) {
      term *= (-z * z) / n;
      const add = term / (2 * n + 1);
      s += add;
      if (Math.abs(add) < 1e-17) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * s;
  } else {
    // erfc(z) = exp(-z²)/√π · 1/(z + 1/2/(z + 1/(z + 3/2/(z + ...))))
    let f = z;
    for (let n = 60; n >= 1; n--) f = z + n / 2 / f;
    r = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  }
  return x < 0 ? -r : r;
}

export const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** GELU with the exact erf. */
export const gelu = (v: number): number => 0.5 * v * (1 + erf(v / Math.SQRT2));

/** GELU's tanh approximation. */
export const geluTanh = (v: number): number => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));

/** The fused activations of matmul, linear and conv2d. */
export function activate(v: number, act: Activation, slope: number): number {
  switch (act) {
    case 'none':
      return v;
    case 'relu':
      return Math.max(v, 0);
    case 'leakyRelu':
      return v > 0 ? v : slope * v;
    case 'gelu':
      return gelu(v);
    case 'geluTanh':
      return geluTanh(v);
    case 'quickGelu':
      return v * sigmoid(1.702 * v);
    case 'silu':
      return v * sigmoid(v);
    case 'sigmoid':
      return sigmoid(v);
    case 'tanh':
      return Math.tanh(v);
  }
}
