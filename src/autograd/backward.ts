/**
 * Reverse-mode differentiation over the engine's tape.
 *
 * The tape holds nodes in the order they ran (a topological order). Walking it backwards,
 * each node whose output received a gradient runs its backward rule; gradients of tensors
 * used more than once are summed. Leaf tensors that require a gradient (parameters)
 * accumulate into `.grad`, as in PyTorch. Afterwards the tape is released, unless
 * `retainGraph` is set.
 */
import { engine, noGrad, tidy } from './engine.js';
import { fmtShape, type Tensor } from './tensor.js';
import { onesLike } from '../kernels/creation.js';
import { add } from '../kernels/elementwise.js';

export interface BackwardOptions {
  /** Gradient of the output; default ones (the output must then have one element). */
  grad?: Tensor;
  /** Keep the tape so backward can run again over the same graph. */
  retainGraph?: boolean;
}

function accumulate(prev: Tensor | undefined | null, g: Tensor): Tensor {
  if (!prev) return g;
  const s = noGrad(() => add(prev, g));
  prev.dispose();
  g.dispose();
  engine.keep(s);
  return s;
}

export function backward(output: Tensor, options: BackwardOptions = {}): void {
  if (!output.requiresGrad) {
    throw new Error(`lrdif: backward: ${output.describe()} does not require a gradient (no input of the computation requires one, or it ran under noGrad)`);
  }
  let seed: Tensor;
  if (options.grad) {
    if (options.grad.size !== output.size) {
      throw new Error(`lrdif: backward: gradient shape ${fmtShape(options.grad.shape)} does not match output ${fmtShape(output.shape)}`);
    }
    seed = options.grad.view(output.shape, false);
  } else {
    if (output.size !== 1) {
      throw new Error(`lrdif: backward: ${output.describe()} has ${output.size} elements; pass options.grad for a non-scalar output`);
    }
    seed = engine.keep(noGrad(() => onesLike(output)));
  }

  const grads = new Map<Tensor, Tensor>();
  if (output.node) {
    grads.set(output, seed);
  } else {
    output.grad = accumulate(output.grad, seed);
  }
  const tape = engine.tape;
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    const g = grads.get(node.output);
    if (!g) continue;
    grads.delete(node.output);
    // Everything the rule allocates is freed, except views of the input gradients we keep.
    const inGrads = tidy(() => {
      const rs = noGrad(() => node.backward(g, node.saved));
      const kept: Array<Tensor | null> = [];
      for (let j = 0; j < node.inputs.length; j++) {
        const r = rs[j];
        const inp = node.inputs[j];
        if (!r || !inp.requiresGrad) {
          kept.push(null);
          continue;
        }
        if (r.size !== inp.size) {
          throw new Error(
            `lrdif: backward of ${node.op}: gradient for input ${j} has shape ${fmtShape(r.shape)}, expected ${fmtShape(inp.shape)}`,
          );
        }
        kept.push(engine.keep(r.view(inp.shape, false)));
      }
      return kept;
    });
    g.dispose();
    for (let j = 0; j < node.inputs.length; j++) {
      const r = inGrads[j];
      if (!r) continue;
      const inp = node.inputs[j];
      if (inp.node) grads.set(inp, accumulate(grads.get(inp), r));
      else inp.grad = accumulate(inp.grad, r);
    }
  }
  for (const g of grads.values()) g.dispose();
  if (!options.retainGraph) engine.clearTape();
}

/** Drops every leaf's gradient. */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
