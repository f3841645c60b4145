/**
 * Optimizer base: the parameter list (keyed by name, or by index for a plain array), the
 * learning rate, per-parameter state (a step count and state tensors such as moments), and
 * the checkpoint round trip. Subclasses supply the fused update kernel for one parameter.
 *
 * Updates are in place on each parameter's buffer, so parameter tensors keep their identity
 * (modules and other references stay valid); they are not recorded on the tape.
 */
import { engine } from '../autograd/engine.js';
import { fmtShape, type Tensor } from '../autograd/tensor.js';
import { alloc, sameShape } from '../kernels/util.js';

export type ParamsArg = Tensor[] | Iterable<readonly [string, Tensor]>;

/** State of one parameter: how many updates it received and its state tensors by slot name. */
export interface ParamState {
  step: number;
  tensors: Record<string, Tensor>;
}

export interface OptimizerStateDict {
  /** Learning rate when saved; restored by `loadStateDict`. */
  lr: number;
  /** Per parameter key (its name, or its index in a plain array). Tensors are the optimizer's own: read or copy them, do not dispose them. */
  state: Map<string, ParamState>;
}

/** One parameter's update in a step: its gradient and its state (the step count already counts it). */
export interface ParamUpdate {
  param: Tensor;
  grad: Tensor;
  state: ParamState;
}

export interface ParamEntry {
  key: string;
  param: Tensor;
  state: ParamState | null;
}

function isTensorArray(params: ParamsArg): params is Tensor[] {
  return Array.isArray(params) && params.every((p) => !Array.isArray(p));
}

export abstract class Optimizer {
  protected readonly entries: ParamEntry[] = [];
  private lrValue: number;
  private disposed = false;

  constructor(
    readonly opName: string,
    params: ParamsArg,
    lr: number,
  ) {
    this.lrValue = Optimizer.checkLr(opName, lr);
    const pairs: Array<readonly [string, Tensor]> = isTensorArray(params) ? params.map((p, i) => [String(i), p] as const) : [...params];
    const keys = new Set<string>();
    const seen = new Set<Tensor>();
    for (const [key, param] of pairs) {
      if (keys.has(key)) throw new Error(`lrdif: ${opName}: parameter key '${key}' appears twice`);
      if (seen.has(param)) throw new Error(`lrdif: ${opName}: parameter '${key}' (${param.describe()}) is listed twice`);
      if (param.dtype !== 'f32') throw new Error(`lrdif: ${opName}: parameter '${key}' must be f32, got ${param.describe()}`);
      if (param.node) throw new Error(`lrdif: ${opName}: parameter '${key}' (${param.describe()}) is not a leaf tensor (it was computed by ${param.node.op})`);
      keys.add(key);
      seen.add(param);
      this.entries.push({ key, param, state: null });
    }
  }

  private static checkLr(op: string, lr: number): number {
    if (!(lr >= 0) || !Number.isFinite(lr)) throw new Error(`lrdif: ${op}: learning rate must be a finite number ≥ 0, got ${lr}`);
    return lr;
  }

  get lr(): number {
    return this.lrValue;
  }

  set lr(v: number) {
    this.lrValue = Optimizer.checkLr(this.opName, v);
  }

  /** The parameters, in the order given. */
  get params(): Tensor[] {
    return this.entries.map((e) => e.param);
  }

  /** Updates every parameter that has a gradient, in place. */
  step(): void {
    this.checkLive();
    const due: ParamUpdate[] = [];
    for (const e of this.entries) {
      const g = e.param.grad;
      if (!g) continue;
      if (g.size !== e.param.size) {
        throw new Error(`lrdif: ${this.opName}: the gradient of parameter '${e.key}' has shape ${fmtShape(g.shape)}, the parameter ${fmtShape(e.param.shape)}`);
      }
      if (!e.state) e.state = { step: 0, tensors: this.initState(e.param) };
      e.state.step++;
      if (e.param.size > 0) due.push({ param: e.param, grad: g, state: e.state });
    }
    this.updateAll(due);
  }

  /** Launches the updates of a step's parameters (in order); a subclass may group them into fewer dispatches. */
  protected updateAll(due: ParamUpdate[]): void {
    for (const d of due) this.update(d.param, d.grad, d.state);
  }

  /** Drops every parameter's gradient (as torch's zero_grad(set_to_none=True)); the next backward allocates fresh ones. */
  zeroGrad(): void {
    for (const e of this.entries) {
      e.param.grad?.dispose();
      e.param.grad = null;
    }
  }

  /** State tensors a parameter needs, created on its first update (kept out of tidy scopes). */
  protected abstract initState(param: Tensor): Record<string, Tensor>;

  /** Launches the fused update of one parameter; `state.step` already counts this update. */
  protected abstract update(param: Tensor, grad: Tensor, state: ParamState): void;

  /** Live references to the state (see `OptimizerStateDict`); parameters never updated have no entry. */
  stateDict(): OptimizerStateDict {
    this.checkLive();
    const state = new Map<string, ParamState>();
    for (const e of this.entries) {
      if (e.state) state.set(e.key, { step: e.state.step, tensors: { ...e.state.tensors } });
    }
    return { lr: this.lr, state };
  }

  /**
   * Copies a saved state into this optimizer's own tensors (the caller keeps ownership of
   * the dict's tensors). Every key must name a parameter, and every slot must have the
   * parameter's shape; parameters absent from the dict start fresh.
   */
  loadStateDict(dict: OptimizerStateDict): void {
    this.checkLive();
    const byKey = new Map(this.entries.map((e) => [e.key, e]));
    const unknown = [...dict.state.keys()].filter((k) => !byKey.has(k));
    if (unknown.length) {
      throw new Error(
        `lrdif: ${this.opName}.loadStateDict: state for unknown parameter(s) ${unknown.map((k) => `'${k}'`).join(', ')} (parameters: ${[...byKey.keys()].join(', ')})`,
      );
    }
    // Validate everything before touching anything.
    for (const [key, s] of dict.state) {
      const p = byKey.get(key)!.param;
      const fresh = this.initSlots(p);
      for (const slot of Object.keys(s.tensors)) {
        if (!fresh.includes(slot))
          throw new Error(`lrdif: ${this.opName}.loadStateDict: parameter '${key}': unknown state slot '${slot}' (expected: ${fresh.join(', ') || 'none'})`);
        const t = s.tensors[slot];
        if (!sameShape(t.shape, p.shape) || t.dtype !== 'f32') {
          throw new Error(`lrdif: ${this.opName}.loadStateDict: parameter '${key}' slot '${slot}': expected shape ${fmtShape(p.shape)} f32, got ${t.describe()}`);
        }
      }
      for (const slot of fresh) {
        if (!s.tensors[slot]) throw new Error(`lrdif: ${this.opName}.loadStateDict: parameter '${key}': slot '${slot}' is missing`);
      }
      if (!Number.isInteger(s.step) || s.step < 0) throw new Error(`lrdif: ${this.opName}.loadStateDict: parameter '${key}': invalid step count ${s.step}`);
    }
    this.lr = dict.lr;
    for (const e of this.entries) {
      const s = dict.state.get(e.key);
      if (!s) {
        this.disposeState(e);
        continue;
      }
      if (!e.state) e.state = { step: 0, tensors: {} };
      for (const slot of Object.keys(s.tensors)) {
        const src = s.tensors[slot];
        let dst = e.state.tensors[slot];
        if (!dst) dst = e.state.tensors[slot] = engine.keep(alloc(e.param.shape));
        if (src.buffer !== dst.buffer) dst.ctx.copy(src.buffer, 0, dst.buffer, 0, src.size * 4);
      }
      e.state.step = s.step;
    }
  }

  /** Slot names `initState` creates for a parameter (used to validate loaded state). */
  protected abstract initSlots(param: Tensor): string[];

  private disposeState(e: ParamEntry): void {
    if (!e.state) return;
    for (const t of Object.values(e.state.tensors)) t.dispose();
    e.state = null;
  }

  /** Frees the state tensors (not the parameters nor their gradients). */
  dispose(): void {
    if (this.disposed) return;
    for (const e of this.entries) this.disposeState(e);
    this.disposed = true;
  }

  private checkLive(): void {
    if (this.disposed) throw new Error(`lrdif: ${this.opName}: this optimizer has been disposed`);
  }
}
