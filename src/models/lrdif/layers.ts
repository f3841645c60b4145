/** Small shared pieces of the LRDif modules. */
import type { Tensor } from '../../autograd/tensor.js';
import { matmul } from '../../kernels/matmul.js';
import { fmtShape } from '../../autograd/tensor.js';
import type { Linear } from '../../nn/linear.js';

/** LeakyReLU(slope)(x·Wᵀ + b) for x [B, in], with the bias and the activation fused into the matmul. */
export function leakyLinear(x: Tensor, layer: Linear, slope: number): Tensor {
  if (x.rank !== 2 || x.shape[1] !== layer.inFeatures) {
    throw new Error(`lrdif: leakyLinear: input ${x.describe()} must be [batch, ${layer.inFeatures}] for weight ${fmtShape(layer.weight.shape)}`);
  }
  return matmul(x, layer.weight, { transB: true, bias: layer.bias ?? undefined, activation: 'leakyRelu', leakySlope: slope });
}

/** Throws unless `t` has exactly `shape` (-1 matches any size); `what` names the tensor in the error. */
export function expectShape(op: string, what: string, t: Tensor, shape: readonly number[]): void {
  const ok = t.rank === shape.length && shape.every((d, i) => d < 0 || t.shape[i] === d);
  if (!ok) {
    const want = `[${shape.map((d) => (d < 0 ? '*' : String(d))).join(', ')}]`;
    throw new Error(`lrdif: ${op}: ${what} must have shape ${want}, got ${t.describe()}`);
  }
}
