/**
 * UDCformer: DTnetwork (image features conditioned on the EPR) → DILnetwork (landmark × image
 * window cross-attention per scale) → fusion ViT → classifier (Linear(E → classes) on the CLS
 * feature). Parameters: `dt.…`, `dil.…`, `fusion.…`, `classifier.{weight,bias}`.
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import type { Generator } from '../../kernels/random.js';
import { Linear } from '../../nn/linear.js';
import { Module } from '../../nn/module.js';
import type { LrdifConfig } from './config.js';
import { DILNetwork, checkTaps, type LandmarkTaps } from './dilnetwork.js';
import { DTNetwork } from './dtnetwork.js';
import { FusionViT } from './fusion.js';

export class UDCformer extends Module {
  readonly dt: DTNetwork;
  readonly dil: DILNetwork;
  readonly fusion: FusionViT;
  readonly classifier: Linear;

  constructor(
    readonly config: LrdifConfig,
    generator?: Generator,
  ) {
    super();
    this.dt = this.registerModule('dt', new DTNetwork(config, generator));
    this.dil = this.registerModule('dil', new DILNetwork(config, generator));
    this.fusion = this.registerModule('fusion', new FusionViT(config, generator));
    this.classifier = this.registerModule('classifier', new Linear(config.embedDim, config.numClasses, { generator }));
  }

  /** The CLS feature [B, E] before the classifier. */
  features(x: Tensor, taps: LandmarkTaps, z: Tensor): Tensor {
    checkTaps(this.config, taps, x.shape[0]);
    return tidy(() => {
      const f = this.dt.features(x, z);
      const dil = this.dil.run(f, taps);
      return this.fusion.forward(this.fusion.embed(f, dil));
    });
  }

  /**
   * x [B, 3, S, S] (ImageNet-normalised), taps (landmark features, NCHW), z [B, C] (the EPR Z or
   * its estimate Ẑ₀) → logits [B, classes].
   */
  forward(x: Tensor, taps: LandmarkTaps, z: Tensor): Tensor {
    return tidy(() => this.classifier.forward(this.features(x, taps, z)));
  }
}
