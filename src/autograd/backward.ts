/**
 * Reverse-mode differentiation over the graph of one output.
 *
 * `backward(y)` collects the nodes `y` depends on (a depth-first walk from `y` through each
 * node's inputs, as micrograd and PyTorch do; other outputs' nodes are never visited), then
 * runs their backward rules in reverse topological order. Gradients of tensors used more than
 * once are summed. Leaf tensors that require a gradient (parameters) accumulate into `.grad`,
 * as in PyTorch, until `zeroGrad`. Afterwards the walked nodes are released, unless
 * `retainGraph` is set; nodes shared with another output's graph are released too (PyTorch
 * does the same), so backward through that output then needs `retainGraph` on the first call.
 *
 * Every check (a released node on the way, a disposed leaf) runs before the first rule, so a
 * failing call changes no gradient.
 */
import { engine, noGrad, tidy, type TapeNode } from './engine.js';
import { fmtShape, type Tensor } from './tensor.js';
import { onesLike } from '../kernels/creation.js';
import { add } from '../kernels/elementwise.js';

export interface BackwardOptions {
  /** Gradient of the output; default ones (the output must then have one element). */
  grad?: Tensor;
  /** Keep the graph so backward can run again through it (it is then released by a later backward, by disposing its output, or by `engine.clearTape()`). */
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

function releasedError(n: TapeNode, output: Tensor): Error {
  const why =
    n.released === 'backward'
      ? 'was freed by an earlier backward(); pass { retainGraph: true } to that first backward() to run backward through this part of the graph again'
      : n.released === 'clearTape'
        ? 'was freed by engine.clearTape()'
        : 'was freed when nothing could reach it any more (its output was disposed)';
  return new Error(`lrdif: backward of ${output.describe()}: the graph node of ${n.op} (which produced ${n.output.describe()}) ${why}`);
}

let walks = 0;

/**
 * The nodes `root` depends on, consumers before the nodes they take inputs from (reversed
 * depth-first post-order), after checking each can run: not released, no disposed leaf.
 */
function graphOf(root: TapeNode, output: Tensor): TapeNode[] {
  const id = ++walks;
  const post: TapeNode[] = [];
  const stack: TapeNode[] = [root];
  root.mark = id;
  root.nextInput = 0;
  while (stack.length) {
    const n = stack[stack.length - 1];
    const i = n.nextInput;
    if (i === n.inputs.length) {
      stack.pop();
      post.push(n);
      continue;
    }
    n.nextInput = i + 1;
    const inp = n.inputs[i];
    const m = inp.node;
    if (m) {
      if (m.mark === id) continue;
      if (m.released) throw releasedError(m, output);
      m.mark = id;
      m.nextInput = 0;
      stack.push(m);
    } else if (inp.requiresGrad && inp.isDisposed) {
      throw new Error(
        `lrdif: backward of ${output.describe()}: ${inp.describe()}, input ${i} of ${n.op}, requires a gradient but was disposed before backward (dispose parameters after their last backward)`,
      );
    }
  }
  return post.reverse();
}

export function backward(output: Tensor, options: BackwardOptions = {}): void {
  if (output.isDisposed) throw new Error(`lrdif: backward: ${output.describe()} was disposed`);
  if (!output.requiresGrad) {
    throw new Error(`lrdif: backward: ${output.describe()} does not require a gradient (no input of the computation requires one, or it ran under noGrad)`);
  }
  if (options.grad) {
    if (options.grad.size !== output.size) {
      throw new Error(`lrdif: backward: gradient shape ${fmtShape(options.grad.shape)} does not match output ${fmtShape(output.shape)}`);
    }
  } else if (output.size !== 1) {
    throw new Error(`lrdif: backward: ${output.describe()} has ${output.size} elements; pass options.grad for a non-scalar output`);
  }
  const root = output.node;
  if (root?.released) throw releasedError(root, output);
  const order = root ? graphOf(root, output) : [];
  const seed = options.grad ? options.grad.view(output.shape, false) : engine.keep(noGrad(() => onesLike(output)));
  if (!root) {
    // a leaf that requires a gradient
    output.grad = accumulate(output.grad, seed);
    return;
  }

  const grads = new Map<TapeNode, Tensor>([[root, seed]]);
  try {
    for (const node of order) {
      const g = grads.get(node);
      if (!g) continue; // on the graph, but no gradient flows to it (its consumers' rules returned none)
      grads.delete(node);
      // Everything the rule allocates is freed, except views of the input gradients we keep.
      let inGrads: Array<Tensor | null>;
      try {
        inGrads = tidy(() => {
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
              throw new Error(`lrdif: backward of ${node.op}: gradient for input ${j} has shape ${fmtShape(r.shape)}, expected ${fmtShape(inp.shape)}`);
            }
            kept.push(engine.keep(r.view(inp.shape, false)));
          }
          return kept;
        });
      } finally {
        g.dispose();
      }
      for (let j = 0; j < node.inputs.length; j++) {
        const r = inGrads[j];
        if (!r) continue;
        const inp = node.inputs[j];
        const m = inp.node;
        if (m) grads.set(m, accumulate(grads.get(m), r));
        else inp.grad = accumulate(inp.grad, r);
      }
    }
  } finally {
    for (const g of grads.values()) g.dispose();
  }
  if (!options.retainGraph) for (const n of order) engine.release(n, 'backward');
}

/** Drops every leaf's gradient. */
export function zeroGrad(params: Iterable<Tensor>): void {
  for (const p of params) {
    p.grad?.dispose();
    p.grad = null;
  }
}
