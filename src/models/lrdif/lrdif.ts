/**
 * The LRDif / LLDif model: FPEN_S1, FPEN_S2, the UDCformer, the denoiser and the diffusion
 * schedule, with the stage-1 and stage-2 forwards and losses of the spec, inference, and the
 * parameter groups of each stage. LLDif is the same model (`config.variant === 'lowlight'`).
 *
 * Stage 1: Z = FPEN_S1(Conc(e_txt(y), e_img(x))); logits = UDCformer(x112, taps, Z); L = CE.
 * e_img comes from the config's image encoder (CLIP, or face-api's expression net), e_txt from CLIP.
 * Stage 2: c = FPEN_S2(e_img(x)); Ẑ₀ = reverse chain from Z_T (training with a target Z and
 *   insertNoise: √ᾱ_T·Z + √(1−ᾱ_T)·ε; otherwise ε ~ N(0, I)), or Ẑ₀ = c without diffusion;
 *   logits = UDCformer(x112, taps, Ẑ₀) (+ ImageHead(e_img) with config.imageHead 'linear');
 *   L = CE + λ_kl·KL(softmax(Z/τ) ‖ softmax(Ẑ₀/τ)) + λ_l1·mean|Z − Ẑ₀|, Z = FPEN_S1(…) frozen.
 *
 * Parameter paths (stable; they are the checkpoint keys): `fpenS1.…`, `fpenS2.…`,
 * `denoiser.…`, `udcformer.…`, with an image head `imageHead.{weight,bias}` (see README.md).
 */
import { noGrad, tidy } from '../../autograd/engine.js';
import { tensor, type Tensor } from '../../autograd/tensor.js';
import { add, div, mul, mulScalar } from '../../kernels/elementwise.js';
import { sum } from '../../kernels/reduce.js';
import { embedding } from '../../kernels/indexing.js';
import { concat } from '../../kernels/layout.js';
import { crossEntropy, klDiv, l1Loss } from '../../kernels/loss.js';
import { Generator, randomNormal } from '../../kernels/random.js';
import { detach, reshape } from '../../kernels/shape.js';
import { logSoftmax, softmax } from '../../kernels/softmax.js';
import { Module } from '../../nn/module.js';
import { classBalanceWeights, lrdifConfigs, lrdifImageDim, validateLrdifConfig, type LrdifConfig } from './config.js';
import { Denoiser } from './denoiser.js';
import { checkTaps, type LandmarkTaps } from './dilnetwork.js';
import { insertNoise, makeDiffusionSchedule, reverseChain, sampleChain, type DiffusionSchedule } from './diffusion.js';
import { Fpen } from './fpen.js';
import { ImageHead } from './image-head.js';
import { expectShape } from './layers.js';
import { UDCformer } from './udcformer.js';

export interface LrdifModelOptions {
  /** Initialise from a fresh generator with this seed (PyTorch's default initialisation). */
  seed?: number;
  /** Or draw from this generator. Neither: the default generator. */
  generator?: Generator;
}

/** The per-image inputs every forward takes. */
export interface LrdifImageInputs {
  /** [B, 3, S, S], ImageNet mean/std. */
  x112: Tensor;
  /** Landmark taps NCHW: [B, 64, S/4, S/4], [B, 128, S/8, S/8], [B, 256, S/16, S/16] (channels per config). */
  taps: LandmarkTaps;
  /** Image embeddings e_img [B, P] of the config's image encoder (L2-normalised; P = lrdifImageDim(config)). */
  eImg: Tensor;
}

export interface Stage1Inputs extends LrdifImageInputs {
  /** e_txt(y) of each sample's label [B, P] (see `textEmbeddingsOfLabels`). */
  eTxt: Tensor;
}

export interface Stage1Output {
  logits: Tensor;
  /** The EPR Z [B, C]. */
  z: Tensor;
}

export interface Stage2Inputs extends LrdifImageInputs {
  /** The target EPR Z [B, C] of the frozen stage 1 (training). */
  zTarget?: Tensor | null;
  /** Or e_txt(y) [B, P]: Z is then computed here with FPEN_S1, without gradient. */
  eTxt?: Tensor | null;
  /** Draws ε (default: the default generator). */
  generator?: Generator;
  /** Or the noise ε [B, C] itself (tests, exact replays). */
  noise?: Tensor | null;
}

export interface Stage2Output {
  logits: Tensor;
  /** The estimated EPR Ẑ₀ [B, C]. */
  zHat: Tensor;
  /** The denoiser's condition c = FPEN_S2(e_img) [B, C]. */
  c: Tensor;
  /** The target Z used (given or computed from eTxt), detached; null at inference. */
  zTarget: Tensor | null;
}

/** A loss and its parts (parts that are switched off are null). */
export interface LrdifLoss {
  total: Tensor;
  ce: Tensor;
  kl: Tensor | null;
  l1: Tensor | null;
}

export type LrdifStage = 1 | 2;

/** e_txt rows of the labels: table [classes, P] (one prompt embedding per class), labels i32 [B] → [B, P]. */
export function textEmbeddingsOfLabels(table: Tensor, labels: Tensor): Tensor {
  return embedding(table, labels);
}

export class LrdifModel extends Module {
  readonly config: LrdifConfig;
  readonly schedule: DiffusionSchedule;
  readonly fpenS1: Fpen;
  readonly fpenS2: Fpen;
  readonly udcformer: UDCformer;
  readonly denoiser: Denoiser;
  /** Stage 2's linear classifier of e_img (config.imageHead 'linear'), or null. */
  readonly imageHead: ImageHead | null;

  constructor(config: LrdifConfig = lrdifConfigs.reference, options: LrdifModelOptions = {}) {
    super();
    this.config = validateLrdifConfig({ ...config });
    if (options.generator && options.seed !== undefined) throw new Error('lrdif: LrdifModel: give either a generator or a seed, not both');
    const gen = options.generator ?? (options.seed !== undefined ? new Generator(options.seed) : undefined);
    const c = this.config;
    this.schedule = makeDiffusionSchedule(c);
    const imageDim = lrdifImageDim(c);
    this.fpenS1 = this.registerModule('fpenS1', new Fpen(c.clipDim + imageDim, c.fpenHidden, c.priorDim, c.leakySlope, gen, 'FPEN_S1'));
    this.fpenS2 = this.registerModule('fpenS2', new Fpen(imageDim, c.fpenHidden, c.priorDim, c.leakySlope, gen, 'FPEN_S2'));
    this.udcformer = this.registerModule('udcformer', new UDCformer(c, gen));
    this.denoiser = this.registerModule('denoiser', new Denoiser(c.priorDim, c.denoiserWidth, c.denoiserDepth, c.leakySlope, gen));
    this.imageHead = c.imageHead === 'linear' ? this.registerModule('imageHead', new ImageHead(imageDim, c.numClasses)) : null;
  }

  private get imageEncoderName(): string {
    return this.config.imageEncoder === 'clip' ? 'CLIP' : 'face-api expression';
  }

  private checkImage(op: string, inp: LrdifImageInputs): number {
    const S = this.config.imageSize;
    expectShape(op, 'x112', inp.x112, [-1, 3, S, S]);
    const B = inp.x112.shape[0];
    checkTaps(this.config, inp.taps, B);
    expectShape(op, `eImg (${this.imageEncoderName} image embeddings)`, inp.eImg, [B, lrdifImageDim(this.config)]);
    return B;
  }

  // ---------------------------------------------------------------- priors

  /** Z = FPEN_S1(Conc(e_txt, e_img)): eTxt, eImg [B, P] → [B, C]. */
  priorS1(eTxt: Tensor, eImg: Tensor): Tensor {
    expectShape('LrdifModel.priorS1', 'eTxt (CLIP text embeddings of the labels)', eTxt, [-1, this.config.clipDim]);
    expectShape('LrdifModel.priorS1', `eImg (${this.imageEncoderName} image embeddings)`, eImg, [eTxt.shape[0], lrdifImageDim(this.config)]);
    return tidy(() => this.fpenS1.forward(concat([eTxt, eImg], 1)));
  }

  /** c = FPEN_S2(e_img): [B, P] → [B, C]. */
  conditionS2(eImg: Tensor): Tensor {
    return this.fpenS2.forward(eImg);
  }

  /**
   * Ẑ₀ from the image embedding: c = FPEN_S2(eImg), then the reverse chain from Z_T (insert noise
   * into zTarget when given and config.insertNoise, else ε), or c itself without diffusion.
   */
  estimatePrior(eImg: Tensor, opts: { zTarget?: Tensor | null; generator?: Generator; noise?: Tensor | null } = {}): { zHat: Tensor; c: Tensor } {
    const cfg = this.config;
    const B = eImg.shape[0];
    return tidy(() => {
      const c = this.conditionS2(eImg);
      if (!cfg.diffusion) return { zHat: c, c };
      if (opts.noise) expectShape('LrdifModel.estimatePrior', 'noise ε', opts.noise, [B, cfg.priorDim]);
      if (opts.zTarget && cfg.insertNoise) {
        expectShape('LrdifModel.estimatePrior', 'zTarget (the stage-1 EPR Z)', opts.zTarget, [B, cfg.priorDim]);
        const eps = opts.noise ?? randomNormal([B, cfg.priorDim], { generator: opts.generator });
        return { zHat: reverseChain(this.denoiser, insertNoise(detach(opts.zTarget), eps, this.schedule), c, this.schedule), c };
      }
      // from ε alone: one fused dispatch at inference, the differentiable chain in training
      return { zHat: sampleChain(this.denoiser, c, this.schedule, { zT: opts.noise, generator: opts.generator }), c };
    });
  }

  // ---------------------------------------------------------------- forwards

  /** Stage 1: Z = FPEN_S1(Conc(e_txt(y), e_img)), logits = UDCformer(x112, taps, Z). */
  stage1Forward(inp: Stage1Inputs): Stage1Output {
    this.checkImage('LrdifModel.stage1Forward', inp);
    return tidy(() => {
      const z = this.priorS1(inp.eTxt, inp.eImg);
      return { logits: this.udcformer.forward(inp.x112, inp.taps, z), z };
    });
  }

  /**
   * Stage 2: Ẑ₀ from the image alone (see estimatePrior), logits = UDCformer(x112, taps, Ẑ₀).
   * With zTarget (or eTxt) the chain starts from the noised target (training); without, from
   * ε ~ N(0, I) (inference).
   */
  stage2Forward(inp: Stage2Inputs): Stage2Output {
    this.checkImage('LrdifModel.stage2Forward', inp);
    return tidy(() => {
      let zTarget: Tensor | null = null;
      if (inp.zTarget) zTarget = detach(inp.zTarget);
      else if (inp.eTxt) zTarget = noGrad(() => this.priorS1(inp.eTxt!, inp.eImg));
      const { zHat, c } = this.estimatePrior(inp.eImg, { zTarget, generator: inp.generator, noise: inp.noise });
      return { logits: this.stage2Logits(this.udcformer.features(inp.x112, inp.taps, zHat), inp.eImg), zHat, c, zTarget };
    });
  }

  /** Stage 2's logits from the UDCformer's CLS features [B, E]: its classifier, plus the image head's logits of eImg when there is one. */
  stage2Logits(features: Tensor, eImg: Tensor): Tensor {
    return tidy(() => {
      const logits = this.udcformer.classifier.forward(features);
      return this.imageHead ? add(logits, this.imageHead.forward(eImg)) : logits;
    });
  }

  /** Inference: class probabilities [B, classes] (stage-2 path, Z_T ~ N(0, I), no gradient). */
  predict(inp: LrdifImageInputs & { generator?: Generator; noise?: Tensor | null }): Tensor {
    return noGrad(() =>
      tidy(() => {
        const out = this.stage2Forward({ ...inp, zTarget: null, eTxt: null });
        return softmax(out.logits, -1);
      }),
    );
  }

  /** The deployed model: stage-2 logits from the image alone (Z_T ~ N(0, I) from `generator`). */
  forward(x112: Tensor, taps: LandmarkTaps, eImg: Tensor, generator?: Generator): Tensor {
    return tidy(() => this.stage2Forward({ x112, taps, eImg, generator }).logits);
  }

  // ---------------------------------------------------------------- losses

  /**
   * Cross-entropy with the config's label smoothing; with class weights w [K] (classBalance) the
   * weighted mean Σ w_{y_i}·ℓ_i / Σ w_{y_i} (PyTorch's `weight=`).
   */
  private ce(logits: Tensor, labels: Tensor, classWeights?: Tensor | null): Tensor {
    expectShape('LrdifModel loss', 'labels', labels, [logits.shape[0]]);
    if (!classWeights) return crossEntropy(logits, labels, { labelSmoothing: this.config.labelSmoothing });
    expectShape('LrdifModel loss', 'class weights', classWeights, [this.config.numClasses]);
    return tidy(() => {
      const per = crossEntropy(logits, labels, { labelSmoothing: this.config.labelSmoothing, reduction: 'none' });
      const w = detach(embedding(reshape(classWeights, [this.config.numClasses, 1]), labels));
      const wv = reshape(w, [labels.shape[0]]);
      return div(sum(mul(per, wv)), sum(wv));
    });
  }

  /** The class weights [K] of the config's classBalance for training class counts (null for 'none'). */
  classWeights(counts: readonly number[]): Tensor | null {
    if (counts.length !== this.config.numClasses) throw new Error(`lrdif: LrdifModel.classWeights: ${counts.length} class counts for ${this.config.numClasses} classes`);
    const w = classBalanceWeights(this.config.classBalance, counts);
    return w ? tensor(w, [this.config.numClasses]) : null;
  }

  /** Stage 1: cross-entropy (with the config's label smoothing and class weights); labels i32 [B]. */
  stage1Loss(out: Pick<Stage1Output, 'logits'>, labels: Tensor, classWeights?: Tensor | null): LrdifLoss {
    return tidy(() => {
      const ce = this.ce(out.logits, labels, classWeights);
      return { total: ce, ce, kl: null, l1: null };
    });
  }

  /**
   * Stage 2: CE + λ_kl·KL(softmax(Z/τ) ‖ softmax(Ẑ₀/τ)) (summed over C, averaged over the batch)
   * + λ_l1·mean|Z − Ẑ₀|; a term whose weight is 0 is not computed (null). Z is out.zTarget unless given.
   */
  stage2Loss(out: Pick<Stage2Output, 'logits' | 'zHat'> & { zTarget?: Tensor | null }, labels: Tensor, zTarget?: Tensor | null, classWeights?: Tensor | null): LrdifLoss {
    const cfg = this.config;
    const z = zTarget ?? out.zTarget ?? null;
    if ((cfg.lambdaKl > 0 || cfg.lambdaL1 > 0) && !z) {
      throw new Error('lrdif: LrdifModel.stage2Loss: the KL and L1 terms need the stage-1 target Z (zTarget, or eTxt in stage2Forward)');
    }
    return tidy(() => {
      const ce = this.ce(out.logits, labels, classWeights);
      let total = ce;
      let kl: Tensor | null = null;
      let l1: Tensor | null = null;
      if (cfg.lambdaKl > 0) {
        expectShape('LrdifModel.stage2Loss', 'zTarget', z!, out.zHat.shape);
        const zt = detach(z!);
        kl = klDiv(logSoftmax(mulScalar(out.zHat, 1 / cfg.tau), -1), softmax(mulScalar(zt, 1 / cfg.tau), -1), { reduction: 'batchmean' });
        total = add(total, mulScalar(kl, cfg.lambdaKl));
      }
      if (cfg.lambdaL1 > 0) {
        expectShape('LrdifModel.stage2Loss', 'zTarget', z!, out.zHat.shape);
        l1 = l1Loss(out.zHat, detach(z!));
        total = add(total, mulScalar(l1, cfg.lambdaL1));
      }
      return { total, ce, kl, l1 };
    });
  }

  // ---------------------------------------------------------------- stages

  /** The modules trained in a stage: S1 FPEN_S1 + UDCformer; S2 FPEN_S2 + denoiser + UDCformer (+ the image head). */
  stageModules(stage: LrdifStage): Array<[string, Module]> {
    if (stage === 1)
      return [
        ['fpenS1', this.fpenS1],
        ['udcformer', this.udcformer],
      ];
    if (stage === 2) {
      const prior: Array<[string, Module]> = [
        ['fpenS2', this.fpenS2],
        ['denoiser', this.denoiser],
      ];
      if (this.imageHead) prior.push(['imageHead', this.imageHead]);
      // stage2Train 'prior': the UDCformer keeps stage 1's weights (it learned there to classify from Z)
      return this.config.stage2Train === 'prior' ? prior : [...prior, ['udcformer', this.udcformer]];
    }
    throw new Error(`lrdif: LrdifModel: stage must be 1 or 2, got ${String(stage)}`);
  }

  /** The trainable parameters of a stage with their full dotted paths (for the optimiser). */
  stageParameters(stage: LrdifStage): Array<[string, Tensor]> {
    return this.stageModules(stage).flatMap(([name, m]) => m.namedParameters(`${name}.`));
  }

  /**
   * Sets which parameters receive gradients for a stage: the stage's modules train, the others
   * are frozen (stage 2 freezes FPEN_S1; stage 1 leaves FPEN_S2 and the denoiser untouched).
   */
  setStage(stage: LrdifStage): this {
    const train = new Set(this.stageModules(stage).map(([n]) => n));
    for (const [name, m] of this.namedChildren()) m.requiresGrad_(train.has(name));
    return this;
  }

  /**
   * Initialises stage 2 from a stage-1 state dict (an LrdifModel's, e.g. a stage-1 checkpoint):
   * copies `fpenS1.*` and `udcformer.*` (all of them must be there, with the same shapes), leaves
   * FPEN_S2 and the denoiser as they are, and returns the keys it copied.
   */
  loadStage1State(state: Map<string, Tensor>): string[] {
    const prefixes = ['fpenS1.', 'udcformer.'];
    const own = this.stateDict();
    const keys = [...own.keys()].filter((k) => prefixes.some((p) => k.startsWith(p)));
    const missing = keys.filter((k) => !state.has(k));
    if (missing.length)
      throw new Error(`lrdif: LrdifModel.loadStage1State: the stage-1 state lacks ${missing.length} key(s): ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}`);
    const sub = new Map(keys.map((k) => [k, state.get(k)!] as const));
    this.loadStateDict(sub, { strict: false });
    return keys;
  }

  /** Number of parameter elements, in total and per top-level module. */
  parameterCount(): { total: number; fpenS1: number; fpenS2: number; udcformer: number; denoiser: number; imageHead?: number } {
    const count = (m: Module) => m.parameters().reduce((s, p) => s + p.size, 0);
    const r = { fpenS1: count(this.fpenS1), fpenS2: count(this.fpenS2), udcformer: count(this.udcformer), denoiser: count(this.denoiser) };
    const head = this.imageHead ? count(this.imageHead) : 0;
    return { total: r.fpenS1 + r.fpenS2 + r.udcformer + r.denoiser + head, ...r, ...(this.imageHead ? { imageHead: head } : {}) };
  }
}
