/**
 * The image head (config `imageHead: 'linear'`): a linear classifier of the frozen image
 * encoder's e_img whose logits stage 2 adds to the UDCformer's. The paper's model reaches the
 * classes from e_img only through the prior Ẑ₀ (FPEN_S2, the chain, the modulations); with a
 * pretrained face encoder as E_I that path loses much of what its features already separate.
 *
 * Zero-initialised, so stage 2 starts from exactly the UDCformer's logits. e_img is L2-normalised
 * (each value about 1/√P); the head reads √P·e_img, values of unit scale, so that the stage's
 * learning rate moves it as fast as the UDCformer's own layers.
 * Parameters: `weight` [classes, P], `bias` [classes] (nn.Linear's layout).
 */
import { tidy } from '../../autograd/engine.js';
import type { Tensor } from '../../autograd/tensor.js';
import { zeros } from '../../kernels/creation.js';
import { mulScalar } from '../../kernels/elementwise.js';
import { linear } from '../../kernels/matmul.js';
import { Module } from '../../nn/module.js';
import { expectShape } from './layers.js';

export class ImageHead extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(
    readonly imageDim: number,
    readonly numClasses: number,
  ) {
    super();
    this.weight = this.registerParameter('weight', zeros([numClasses, imageDim]));
    this.bias = this.registerParameter('bias', zeros([numClasses]));
  }

  /** e_img [B, P] → logits [B, classes]. */
  forward(eImg: Tensor): Tensor {
    expectShape('ImageHead', 'eImg (image embeddings)', eImg, [-1, this.imageDim]);
    return tidy(() => linear(mulScalar(eImg, Math.sqrt(this.imageDim)), this.weight, this.bias));
  }
}
