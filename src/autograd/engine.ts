/**
 * The engine: the current GPU context, tidy scopes (explicit release of intermediates),
 * grad mode, and the autograd tape.
 *
 * The tape is a list of nodes in the order ops ran, which is a topological order. `backward`
 * walks it in reverse, then releases it (the tensors nodes saved for their backward rules).
 * Ops run under `noGrad` (or with no input requiring a gradient) record nothing.
 */
import type { GpuContext } from '../gpu/context.js';
import type { Tensor } from './tensor.js';

export type BackwardRule = (grad: Tensor, saved: Tensor[]) => Array<Tensor | null | undefined>;

export interface TapeNode {
  op: string;
  inputs: Tensor[];
  output: Tensor;
  /** Views retained for the backward rule; released with the tape. */
  saved: Tensor[];
  backward: BackwardRule;
}

class Engine {
  private current: GpuContext | null = null;
  private scopes: Set<Tensor>[] = [];
  gradEnabled = true;
  tape: TapeNode[] = [];

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
    this.tape = [];
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
      // views that belong to the tape, not to any scope
      saved: saved.map((t) => {
        const v = t.view(t.shape, false);
        v.name = t.name;
        return v;
      }),
      backward,
    };
    output.requiresGrad = true;
    output.node = node;
    this.tape.push(node);
  }

  needsGrad(inputs: Tensor[]): boolean {
    if (!this.gradEnabled) return false;
    for (const t of inputs) if (t.requiresGrad) return true;
    return false;
  }

  /** Releases every node on the tape (their saved tensors). */
  clearTape(): void {
    for (const n of this.tape) {
      for (const s of n.saved) s.dispose();
      n.saved = [];
      n.output.node = null;
    }
    this.tape = [];
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
