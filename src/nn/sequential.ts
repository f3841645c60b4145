/**
 * Sequential container (PyTorch nn.Sequential): runs its layers in order. Children are named
 * 0, 1, …; a plain function such as `relu` takes its index like PyTorch's nn.ReLU would.
 */
import type { Tensor } from '../autograd/tensor.js';
import { Module } from './module.js';

export type Layer = Module | ((x: Tensor) => Tensor);

/** A parameter-free layer from a function. */
export class Lambda extends Module {
  constructor(readonly fn: (x: Tensor) => Tensor) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}

export class Sequential extends Module {
  private readonly layers: Module[] = [];

  constructor(...layers: Layer[]) {
    super();
    for (const l of layers) this.append(l);
  }

  append(layer: Layer): this {
    const m = layer instanceof Module ? layer : typeof layer === 'function' ? new Lambda(layer) : null;
    if (!m) throw new Error(`lrdif: Sequential: layer ${this.layers.length} must be a Module or a function of one tensor, got ${String(layer)}`);
    this.layers.push(this.registerModule(String(this.layers.length), m));
    return this;
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Module {
    const m = this.layers[i < 0 ? i + this.layers.length : i];
    if (!m) throw new Error(`lrdif: Sequential: no layer ${i} (it has ${this.layers.length})`);
    return m;
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
    return y;
  }
}
