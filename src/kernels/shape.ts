/** Shape-only ops: views over the same storage (no kernel), recorded for autograd. */
import { engine } from '../autograd/engine.js';
import { fmtShape, sizeOf, type Shape, type Tensor } from '../autograd/tensor.js';
import { normAxis } from './util.js';

/** A view with a new shape of the same size; one dimension may be -1 (inferred). */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const s = [...shape];
  const infer = s.indexOf(-1);
  if (infer >= 0) {
    if (s.indexOf(-1, infer + 1) >= 0) throw new Error(`lrdif: reshape: more than one -1 in ${fmtShape(shape)}`);
    const rest = sizeOf(s.filter((_, i) => i !== infer));
    if (rest === 0 || x.size % rest !== 0) {
      throw new Error(`lrdif: reshape: cannot reshape ${x.describe()} to ${fmtShape(shape)}`);
    }
    s[infer] = x.size / rest;
  }
  for (const d of s) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`lrdif: reshape: invalid target shape ${fmtShape(shape)}`);
  }
  if (sizeOf(s) !== x.size) {
    throw new Error(`lrdif: reshape: cannot reshape ${x.describe()} (${x.size} elements) to ${fmtShape(s)} (${sizeOf(s)} elements)`);
  }
  const out = x.view(s);
  if (engine.needsGrad([x])) {
    const xs = x.shape;
    engine.record('reshape', [x], out, [], (g) => [reshape(g, xs)]);
  }
  return out;
}

export function flatten(x: Tensor, startAxis = 0): Tensor {
  const a = normAxis('flatten', startAxis, Math.max(x.rank, 1));
  return reshape(x, [...x.shape.slice(0, a), -1]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normAxis('unsqueeze', axis, x.rank + 1);
  const s = [...x.shape];
  s.splice(a, 0, 1);
  return reshape(x, s);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined)
    return reshape(
      x,
      x.shape.filter((d) => d !== 1),
    );
  const a = normAxis('squeeze', axis, x.rank);
  if (x.shape[a] !== 1) throw new Error(`lrdif: squeeze: axis ${axis} of ${x.describe()} has size ${x.shape[a]}, not 1`);
  return reshape(
    x,
    x.shape.filter((_, i) => i !== a),
  );
}

/** A tensor sharing storage with `x` but cut off from the graph. */
export function detach(x: Tensor): Tensor {
  return x.view(x.shape);
}
