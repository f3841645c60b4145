/**
 * Module: the base of every layer and model. It owns named parameters (trainable leaf
 * tensors), named buffers (state saved with the model but not trained) and named child
 * modules, and walks them with PyTorch's dotted paths (`encoder.layers.1.bias`).
 *
 * Parameters and buffers are kept out of tidy scopes: a module's tensors live until
 * `dispose()`. Each parameter's `name` is its path from the outermost module it was
 * registered into, so op errors name it.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import { sameShape } from '../kernels/util.js';

export interface LoadResult {
  /** Names the module has but the state dict lacked (only when `strict` is false). */
  missing: string[];
  /** Names the state dict has but the module lacks (only when `strict` is false). */
  unexpected: string[];
}

export abstract class Module {
  /** Training mode (true) or evaluation mode (false); see `train()` / `eval()`. */
  training = true;
  private readonly ownParams = new Map<string, Tensor | null>();
  private readonly ownBuffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Runs the layer. Subclasses narrow the arguments. */
  abstract forward(...inputs: unknown[]): Tensor;

  // ---------------------------------------------------------------- registration

  /**
   * Registers a trainable parameter under `name` (null reserves the name, as an absent bias).
   * The tensor becomes a leaf requiring a gradient and leaves any tidy scope.
   */
  registerParameter<T extends Tensor | null>(name: string, t: T): T {
    this.checkName(name);
    if (t) {
      if (t.dtype !== 'f32') throw new Error(`lrdif: Module.registerParameter: parameter '${name}' must be f32, got ${t.describe()}`);
      if (t.node) throw new Error(`lrdif: Module.registerParameter: parameter '${name}' must be a leaf tensor; ${t.describe()} was computed by ${t.node.op}`);
      engine.keep(t);
      t.requiresGrad = true;
      t.name = name;
    }
    this.ownParams.set(name, t);
    return t;
  }

  /** Registers a non-trainable tensor saved in the state dict (e.g. running statistics). */
  registerBuffer(name: string, t: Tensor): Tensor {
    this.checkName(name);
    engine.keep(t);
    t.name = name;
    this.ownBuffers.set(name, t);
    return t;
  }

  /** Registers a child module under `name`; its parameters are then named `name.…`. */
  registerModule<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    if (m === (this as Module)) throw new Error(`lrdif: Module.registerModule: a module cannot contain itself ('${name}')`);
    this.children.set(name, m);
    // Rename the whole subtree relative to this module; an outer registration renames again.
    for (const [path, t] of m.namedTensors(`${name}.`)) t.name = path;
    return m;
  }

  private checkName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`lrdif: Module: invalid name '${name}' (non-empty, without '.')`);
    if (this.ownParams.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new Error(`lrdif: Module: the name '${name}' is already registered in ${this.constructor.name}`);
    }
  }

  // ---------------------------------------------------------------- traversal

  /** Child modules by name, in registration order. */
  namedChildren(): Array<[string, Module]> {
    return [...this.children];
  }

  /** This module and every descendant with its dotted path ('' for this one). */
  namedModules(prefix = ''): Array<[string, Module]> {
    const out: Array<[string, Module]> = [[prefix.replace(/\.$/, ''), this]];
    for (const [name, child] of this.children) out.push(...child.namedModules(`${prefix}${name}.`));
    return out;
  }

  /** Every parameter with its dotted path; a parameter shared by several modules appears once, under its first path. */
  namedParameters(prefix = ''): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    const seen = new Set<Tensor>();
    this.walk(prefix, (path, t, kind) => {
      if (kind === 'param' && !seen.has(t)) {
        seen.add(t);
        out.push([path, t]);
      }
    });
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  namedBuffers(prefix = ''): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    this.walk(prefix, (path, t, kind) => {
      if (kind === 'buffer') out.push([path, t]);
    });
    return out;
  }

  /** Parameters and buffers, every path (shared tensors under each of their paths). */
  private namedTensors(prefix = ''): Array<[string, Tensor]> {
    const out: Array<[string, Tensor]> = [];
    this.walk(prefix, (path, t) => out.push([path, t]));
    return out;
  }

  private walk(prefix: string, visit: (path: string, t: Tensor, kind: 'param' | 'buffer') => void): void {
    for (const [name, t] of this.ownParams) if (t) visit(prefix + name, t, 'param');
    for (const [name, t] of this.ownBuffers) visit(prefix + name, t, 'buffer');
    for (const [name, child] of this.children) child.walk(`${prefix}${name}.`, visit);
  }

  // ---------------------------------------------------------------- state

  /**
   * Parameters and buffers by dotted path, as live references (PyTorch's state_dict):
   * read them or copy them; do not dispose them.
   */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedTensors());
  }

  /**
   * Copies values from `state` into this module's own tensors (identities are kept, so
   * optimisers holding them stay valid; the caller keeps ownership of `state`).
   * Shapes must match exactly. With `strict` (the default), the key sets must match too;
   * otherwise the missing and unexpected keys are returned.
   */
  loadStateDict(state: Map<string, Tensor>, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !state.has(k));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    if (strict && (missing.length || unexpected.length)) {
      const parts: string[] = [];
      if (missing.length) parts.push(`missing key(s): ${missing.join(', ')}`);
      if (unexpected.length) parts.push(`unexpected key(s): ${unexpected.join(', ')}`);
      throw new Error(`lrdif: loadStateDict into ${this.constructor.name}: ${parts.join('; ')}`);
    }
    // Check every shape before copying anything, so a failed load leaves the module as it was.
    const mismatched: string[] = [];
    for (const [key, dst] of own) {
      const src = state.get(key);
      if (src && (!sameShape(src.shape, dst.shape) || src.dtype !== dst.dtype)) {
        mismatched.push(`'${key}' expects shape ${fmtShape(dst.shape)} ${dst.dtype}, the state dict gives ${fmtShape(src.shape)} ${src.dtype}`);
      }
    }
    if (mismatched.length) throw new Error(`lrdif: loadStateDict into ${this.constructor.name}: ${mismatched.join('; ')}`);
    for (const [key, dst] of own) {
      const src = state.get(key);
      if (src && src.buffer !== dst.buffer) dst.ctx.copy(src.buffer, 0, dst.buffer, 0, dst.size * 4);
    }
    return { missing, unexpected };
  }

  // ---------------------------------------------------------------- modes

  /** Sets training mode on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes (true) every parameter: frozen ones receive no gradient. */
  requiresGrad_(flag = true): this {
    for (const [, p] of this.namedParameters()) p.requiresGrad = flag;
    return this;
  }

  /** Frees every parameter, its gradient, and every buffer, of this module and its descendants. */
  dispose(): void {
    for (const [, t] of this.namedTensors()) {
      t.grad?.dispose();
      t.grad = null;
      t.dispose();
    }
  }
}
