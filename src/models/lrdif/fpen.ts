/**
 * FPEN, the compact prior extraction network: Linear(in → hidden) → LeakyReLU(slope) →
 * Linear(hidden → hidden) → LeakyReLU(slope) → Linear(hidden → C), the activations fused into
 * the matmuls. FPEN_S1 takes Conc(e_txt(y), e_img(x)) (in = 2P) and gives the EPR Z;
 * FPEN_S2 takes e_img(x) (in = P) and gives the condition c of the denoiser.
 * Parameters: `layers.{0,1,2}.{weight,bias}` (PyTorch nn.Linear layout and initialisation).
 */
import type { Tensor } from '../../autograd/tensor.js';
import { Sequential } from '../../nn/sequential.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import type { Generator } from '../../kernels/random.js';
import { leakyLinear } from './layers.js';

export class Fpen extends Module {
  readonly layers: Sequential;

  constructor(
    readonly inFeatures: number,
    readonly hidden: number,
    readonly outFeatures: number,
    readonly slope: number,
    generator?: Generator,
    readonly label = 'Fpen',
  ) {
    super();
    this.layers = this.registerModule(
      'layers',
      new Sequential(new Linear(inFeatures, hidden, { generator }), new Linear(hidden, hidden, { generator }), new Linear(hidden, outFeatures, { generator })),
    );
  }

  /** x [B, inFeatures] → [B, outFeatures]. */
  forward(x: Tensor): Tensor {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new Error(`lrdif: ${this.label}: input must be [batch, ${this.inFeatures}], got ${x.describe()}`);
    }
    const l = [0, 1, 2].map((i) => this.layers.at(i) as Linear);
    const h1 = leakyLinear(x, l[0], this.slope);
    const h2 = leakyLinear(h1, l[1], this.slope);
    h1.dispose();
    const out = l[2].forward(h2);
    h2.dispose();
    return out;
  }
}
