/**
 * The engine: the current GPU context, tidy scopes (explicit release of intermediates),
 * grad mode, and the autograd graph.
 *
 * Every op that needs a gradient records a node: its inputs, its output, views of the tensors
 * its backward rule needs (`saved`) and the rule. Nodes link through `input.node`, so each
 * output carries its own graph; `backward(y)` walks only the nodes `y` depends on and then
 * releases them (unless `retainGraph`), leaving other outputs' graphs intact.
 *
 * A node is released (its saved views disposed, its links dropped) when
 *   - `backward` walked it without `retainGraph`;
 *   - nothing can reach it any more: its output tensor was disposed and every node that took
 *     that output as an input was released (a count of holders, `refs`, like PyTorch's
 *     reference-counted grad_fn). A graph whose output is disposed without backward is thus
 *     freed at once, down to the nodes other live outputs still need;
 *   - `engine.clearTape()` releases every node still held (for callers that abandon graphs
 *     whose outputs they did not dispose).
 * A released node stays attached to its output so that a later backward through it fails with
 * an error naming the op instead of treating the output as a leaf.
 * Ops run under `noGrad` (or with no input requiring a gradient) record nothing.
 */
import type { GpuContext } from '../gpu/context.js';
import type { Tensor } from './tensor.js';

export type BackwardRule = (grad: Tensor, saved: Tensor[]) => Array<Tensor | null | undefined>;

/** Why a node's saved tensors were freed. */
export type ReleaseReason = 'backward' | 'unreachable' | 'clearTape';

export interface TapeNode {
  op: string;
  /** The op's inputs; emptied when the node is released. */
  inputs: Tensor[];
  output: Tensor;
  /** Views retained for the backward rule; disposed when the node is released. */
  saved: Tensor[];
  backward: BackwardRule;
  /** Holders that can still reach this node: its output while not disposed, plus each held node taking that output as an input. */
  refs: number;
  /** Null while held; once released, why. */
  released: ReleaseReason | null;
  /** Scratch for graph walks: the id of the last walk that visited the node, and the next input it will look at. */
  mark: number;
  nextInput: number;
}

class Engine {
  private current: GpuContext | null = null;
  private scopes: Set<Tensor>[] = [];
  gradEnabled = true;
  /** Nodes recorded and not yet released (every graph still held). */
  private held = new Set<TapeNode>();

  get ctx(): GpuContext {
    if (!this.current || this.current.isDisposed) {
      throw new Error('lrdif: no GPU context; call `await initNode()` (Node) or `await initBrowser()` (browser) first');
    }
    return this.current;
  }

  get hasContext(): boolean {
    return !!this.current && !this.current.isDisposed;
  }

  setContext(ctx: GpuContext | null): void {
    this.current = ctx;
    this.held = new Set();
    this.scopes = [];
  }

  track(t: Tensor): void {
    const s = this.scopes[this.scopes.length - 1];
    if (s) {
      s.add(t);
      t.scope = s;
    }
  }

  beginScope(): Set<Tensor> {
    const s = new Set<Tensor>();
    this.scopes.push(s);
    return s;
  }

  /** Disposes every tensor created in the scope except those in `keep`, which move to the parent scope. */
  endScope(scope: Set<Tensor>, keep: Iterable<Tensor> = []): void {
    const i = this.scopes.lastIndexOf(scope);
    if (i < 0) throw new Error('lrdif: endScope() of a scope that is not open');
    this.scopes.splice(i, 1);
    const kept = new Set(keep);
    const parent = this.scopes[this.scopes.length - 1] ?? null;
    for (const t of scope) {
      if (kept.has(t)) {
        t.scope = parent;
        parent?.add(t);
      } else {
        t.scope = null;
        t.dispose();
      }
    }
  }

  /** Removes a tensor from scope management: the caller now owns it. */
  keep<T extends Tensor>(t: T): T {
    if (t.scope) {
      t.scope.delete(t);
      t.scope = null;
    }
    return t;
  }

  record(op: string, inputs: Tensor[], output: Tensor, saved: Tensor[], backward: BackwardRule): void {
    const node: TapeNode = {
      op,
      inputs,
      output,
      // views that belong to the graph, not to any scope
      saved: saved.map((t) => {
        const v = t.view(t.shape, false);
        v.name = t.name;
        return v;
      }),
      backward,
      refs: 1,
      released: null,
      mark: 0,
      nextInput: 0,
    };
    for (const t of inputs) {
      const n = t.node;
      if (n && !n.released) n.refs++;
    }
    output.requiresGrad = true;
    output.node = node;
    this.held.add(node);
  }

  needsGrad(inputs: Tensor[]): boolean {
    if (!this.gradEnabled) return false;
    for (const t of inputs) if (t.requiresGrad) return true;
    return false;
  }

  /** Number of nodes recorded and not yet released, over every graph. */
  get liveNodes(): number {
    return this.held.size;
  }

  /** Called by `Tensor.dispose` for a tensor an op produced: its node loses that holder. */
  outputDisposed(node: TapeNode): void {
    if (!node.released && --node.refs === 0) this.release(node, 'unreachable');
  }

  /**
   * Frees `first`'s saved views and drops its links; every node upstream that nothing else
   * holds any more follows (iteratively: graphs can be thousands of nodes deep).
   */
  release(first: TapeNode, reason: ReleaseReason): void {
    const stack = [first];
    while (stack.length) {
      const n = stack.pop()!;
      if (n.released) continue;
      n.released = reason;
      this.held.delete(n);
      for (const s of n.saved) s.dispose();
      n.saved = [];
      for (const t of n.inputs) {
        const m = t.node;
        if (m && !m.released && --m.refs === 0) stack.push(m);
      }
      n.inputs = [];
    }
  }

  /**
   * Releases every graph still held, whoever holds it: for callers that abandon graphs without
   * backward or disposing their outputs (a diverged step, a test that stops half-way).
   */
  clearTape(): void {
    for (const n of [...this.held]) this.release(n, 'clearTape');
    this.held.clear();
  }
}

export const engine = new Engine();

/** Runs `fn` and disposes every tensor it created except those it returns (in a tensor, array or object). */
export function tidy<T>(fn: () => T): T {
  const scope = engine.beginScope();
  let result: T;
  try {
    result = fn();
  } catch (e) {
    engine.endScope(scope);
    throw e;
  }
  if (result instanceof Promise) {
    engine.endScope(scope);
    throw new Error('lrdif: tidy() takes a synchronous function; use beginScope()/endScope() around async work');
  }
  engine.endScope(scope, collectTensors(result));
  return result;
}

export function collectTensors(x: unknown, out: Tensor[] = [], seen = new Set<unknown>()): Tensor[] {
  if (x === null || typeof x !== 'object' || seen.has(x)) return out;
  seen.add(x);
  if (isTensor(x)) {
    out.push(x);
  } else if (Array.isArray(x)) {
    for (const v of x) collectTensors(v, out, seen);
  } else if (x instanceof Map) {
    for (const v of x.values()) collectTensors(v, out, seen);
  } else if (Object.getPrototypeOf(x) === Object.prototype) {
    for (const v of Object.values(x)) collectTensors(v, out, seen);
  }
  return out;
}

function isTensor(x: unknown): x is Tensor {
  return typeof x === 'object' && x !== null && 'shape' in x && 'dtype' in x && 'node' in x && 'requiresGrad' in x;
}

export function keep<T extends Tensor>(t: T): T {
  return engine.keep(t);
}

/** Runs `fn` with gradient recording off. */
export function noGrad<T>(fn: () => T): T {
  const prev = engine.gradEnabled;
  engine.gradEnabled = false;
  try {
    return fn();
  } finally {
    engine.gradEnabled = prev;
  }
}

export function isGradEnabled(): boolean {
  return engine.gradEnabled;
}
