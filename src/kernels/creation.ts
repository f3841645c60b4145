/** Tensor creation on the GPU: fill, zeros, ones, full. */
import { engine } from '../autograd/engine.js';
import { empty, checkShape, type DType, type Shape, type Tensor } from '../autograd/tensor.js';
import { grid1d } from './util.js';

const bitsView = new DataView(new ArrayBuffer(4));

/** Writes `value` into every element of `t` (in place; not recorded on the tape). */
export function fillInPlace(t: Tensor, value: number): Tensor {
  if (t.dtype === 'i32') bitsView.setInt32(0, value, true);
  else bitsView.setFloat32(0, value, true);
  const ctx = t.ctx;
  ctx.dispatch(
    { shader: 'fill' },
    {
      bindings: { out: t.buffer },
      uniforms: { n: t.size, bits: bitsView.getUint32(0, true) },
      workgroups: grid1d(ctx, t.size),
    },
  );
  return t;
}

export function full(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
  checkShape(shape, 'full');
  return fillInPlace(empty(shape, dtype, engine.ctx), value);
}

export function zeros(shape: Shape, dtype: DType = 'f32'): Tensor {
  return full(shape, 0, dtype);
}

export function ones(shape: Shape, dtype: DType = 'f32'): Tensor {
  return full(shape, 1, dtype);
}

export function onesLike(t: Tensor): Tensor {
  return full(t.shape, 1, t.dtype);
}
