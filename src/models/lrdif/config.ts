/**
 * LRDif / LLDif model configuration: every size of the spec (docs/LRDIF-SPEC.md) is a field
 * here, with the spec's values in `lrdifConfigs.reference` and the CPU/CI sizes in
 * `lrdifConfigs.tiny`. `makeLrdifConfig(base, overrides)` overrides field by field and
 * validates the result; errors name the field at fault.
 *
 * LLDif is the same machinery with the low-light degradation: `variant: 'lowlight'`.
 */

export type LrdifVariant = 'udc' | 'lowlight';
/** What the denoiser predicts: the noise (paper Eq. 16, default) or the clean prior (DiffIR). */
export type LrdifParameterisation = 'eps' | 'x0';
/** β schedule: 'sqrtLinear' β = linspace(√β₁, √β_T, T)² (the spec's), 'linear' β = linspace(β₁, β_T, T). */
export type LrdifBetaSchedule = 'sqrtLinear' | 'linear';
/** Input normalisation of the [0, 1] images before the model and the encoders see them (input-norm.ts). */
export type LrdifInputNorm = 'none' | 'exposure';
/**
 * The frozen image encoder E_I that gives e_img: CLIP's image tower (the paper's), or face-api's
 * pretrained FaceExpressionNet (its pooled 256-d features, a face-expression encoder).
 */
export type LrdifImageEncoder = 'clip' | 'faceapi-expression';
/** Width of the face-api expression encoder's e_img (the pooled features of its extractor). */
export const FACEAPI_EXPRESSION_DIM = 256;
/**
 * Class weights of the cross-entropy from the training split's class counts n_k (N images, K
 * classes with images): 'none' (the paper's), 'inverse' w_k = N/(K·n_k), 'sqrtInverse'
 * w_k ∝ 1/√n_k scaled so that Σ n_k·w_k = N (K: the classes that have images). The loss is the weighted mean Σ w_{y_i}·ℓ_i / Σ w_{y_i}.
 */
export type LrdifClassBalance = 'none' | 'inverse' | 'sqrtInverse';
/** What stage 2 trains: 'all' (FPEN_S2, the denoiser and the UDCformer: the paper's) or 'prior' (FPEN_S2 and the denoiser; the UDCformer keeps stage 1's weights). */
export type LrdifStage2Train = 'all' | 'prior';
/** A stage-2 classifier reading e_img beside the UDCformer's ('none': the paper's; 'linear'). */
export type LrdifImageHead = 'none' | 'linear';

type Triple = [number, number, number];
type Quad = [number, number, number, number];

export interface LrdifConfig {
  /** 'udc' (LRDif, under-display camera) or 'lowlight' (LLDif): which degradation the data gets. */
  variant: LrdifVariant;
  /** Expression classes (7 for RAF-DB and KDEF, 8 for FERPlus). */
  numClasses: number;
  /** P: the CLIP projection size (512 for ViT-B/32 and B/16, 768 for L/14). */
  clipDim: number;
  /** Side of the square UDCformer input (112). Must be a multiple of 16·window. */
  imageSize: number;
  /**
   * 'none' (the paper's): the images as they come; 'exposure': every image brought to a clean
   * face's mean and contrast first (input-norm.ts), for the UDCformer and the encoders alike.
   */
  inputNorm: LrdifInputNorm;
  /**
   * E_I: 'clip' (the paper's; e_img has P = clipDim values) or 'faceapi-expression' (face-api's
   * FaceExpressionNet features, 256 values). e_txt stays CLIP's text embedding either way.
   */
  imageEncoder: LrdifImageEncoder;

  // ---- FPEN (S1: 2P → hidden → hidden → C; S2: P → hidden → hidden → C)
  /** Hidden width of FPEN_S1 and FPEN_S2 (256). */
  fpenHidden: number;
  /** C: size of the emotion prior representation Z (256). */
  priorDim: number;
  /** Negative slope of every LeakyReLU of FPEN and the denoiser (0.1). */
  leakySlope: number;

  // ---- DTnetwork (Restormer encoder–decoder conditioned on Z)
  /** d: width of encoder level 1 (48); levels 2–4 are 2d, 4d, 8d. */
  dim: number;
  /** Dynamic transformer blocks per encoder level ([2, 2, 4, 2]). */
  blocks: Quad;
  /** Attention heads per level ([1, 2, 4, 8]); each level's width must divide by its heads. */
  heads: Quad;
  /** Blocks per decoder level (1). */
  decoderBlocks: number;
  /** DGNet hidden width h = ⌊ffnExpansion·C⌋ (2.66). */
  ffnExpansion: number;
  /** Epsilon of the channel LayerNorms of the dynamic blocks (1e-5). */
  layerNormEps: number;

  // ---- DILnetwork (landmark × image window cross-attention per scale)
  /** Channels of the three landmark taps (face-api FaceFeatureExtractor: [64, 128, 256]). */
  landmarkChannels: Triple;
  /** D_i: attention width per scale ([64, 128, 256]). */
  dilDims: Triple;
  /** Heads per scale ([2, 4, 8]). */
  dilHeads: Triple;
  /** MLP ratio of the DIL blocks (4): hidden width ⌊ratio·D_i⌋. */
  dilMlpRatio: number;
  /** Side of the attention windows (7: M = 49 tokens). */
  window: number;

  // ---- fusion ViT and head
  /** E: token width (256). */
  embedDim: number;
  fusionDepth: number;
  fusionHeads: number;
  fusionMlpRatio: number;

  // ---- denoiser ε_θ: (2C+1) → width → n × [width → width] → C
  denoiserWidth: number;
  /** n: hidden width→width layers (1). */
  denoiserDepth: number;

  // ---- diffusion
  /** Off: Ẑ₀ = c = FPEN_S2(e_img) (Table 5, V1). */
  diffusion: boolean;
  /** T: reverse steps (4); 1 to 32. */
  timesteps: number;
  betaSchedule: LrdifBetaSchedule;
  betaStart: number;
  betaEnd: number;
  parameterisation: LrdifParameterisation;
  /** Training starts the chain at √ᾱ_T·Z + √(1−ᾱ_T)·ε (on) or at ε alone (off: Table 5, V4). */
  insertNoise: boolean;

  // ---- losses
  /** λ_kl: weight of KL(softmax(Z/τ) ‖ softmax(Ẑ₀/τ)) in stage 2 (1; 0 = CE only: Table 5, V2). */
  lambdaKl: number;
  /** τ: the KL temperature (1). */
  tau: number;
  /** λ_l1: weight of |Z − Ẑ₀|₁ (DiffIR's term; 0). */
  lambdaL1: number;
  /** Label smoothing ε of the cross-entropy (0). */
  labelSmoothing: number;
  /** Class weighting of the cross-entropy from the training counts ('none', the paper's). */
  classBalance: LrdifClassBalance;
  /** What stage 2 trains ('all', the paper's; 'prior': the UDCformer stays as stage 1 left it). */
  stage2Train: LrdifStage2Train;
  /**
   * 'linear': stage 2's logits add a linear classifier of e_img (zero at the start of stage 2,
   * trained there with it), so the frozen image encoder's features reach the classes directly and
   * not only through the prior Ẑ₀ ('none', the paper's).
   */
  imageHead: LrdifImageHead;
}

const reference: LrdifConfig = Object.freeze({
  variant: 'udc',
  numClasses: 7,
  clipDim: 512,
  imageSize: 112,
  inputNorm: 'none',
  imageEncoder: 'clip',
  fpenHidden: 256,
  priorDim: 256,
  leakySlope: 0.1,
  dim: 48,
  blocks: [2, 2, 4, 2],
  heads: [1, 2, 4, 8],
  decoderBlocks: 1,
  ffnExpansion: 2.66,
  layerNormEps: 1e-5,
  landmarkChannels: [64, 128, 256],
  dilDims: [64, 128, 256],
  dilHeads: [2, 4, 8],
  dilMlpRatio: 4,
  window: 7,
  embedDim: 256,
  fusionDepth: 2,
  fusionHeads: 8,
  fusionMlpRatio: 4,
  denoiserWidth: 256,
  denoiserDepth: 1,
  diffusion: true,
  timesteps: 4,
  betaSchedule: 'sqrtLinear',
  betaStart: 0.1,
  betaEnd: 0.99,
  parameterisation: 'eps',
  insertNoise: true,
  lambdaKl: 1,
  tau: 1,
  lambdaL1: 0,
  labelSmoothing: 0,
  classBalance: 'none',
  stage2Train: 'all',
  imageHead: 'none',
}) as LrdifConfig;

/**
 * The spec's tiny sizes (d = 8, blocks [1,1,1,1], heads [1,1,2,2], E = C = 32, denoiser 64) with
 * the same 112×112 input and the real landmark taps; the CLIP size is the tiny random CLIP's 32.
 * The unspecified widths are scaled down with them: FPEN hidden 64, DIL widths [16, 32, 32]
 * with heads [1, 2, 2], fusion 2 × 2 heads.
 */
const tiny: LrdifConfig = Object.freeze({
  ...reference,
  clipDim: 32,
  fpenHidden: 64,
  priorDim: 32,
  dim: 8,
  blocks: [1, 1, 1, 1],
  heads: [1, 1, 2, 2],
  dilDims: [16, 32, 32],
  dilHeads: [1, 2, 2],
  embedDim: 32,
  fusionDepth: 2,
  fusionHeads: 2,
  denoiserWidth: 64,
}) as LrdifConfig;

/** The named configurations (frozen; derive with `makeLrdifConfig`). */
export const lrdifConfigs: Readonly<{ reference: LrdifConfig; tiny: LrdifConfig }> = Object.freeze({ reference, tiny });

/**
 * The paper's Table 5 stage-2 ablations as config overrides: V1 no diffusion (Ẑ₀ = c), V2 CE only,
 * V3 CE + KL (the method, the defaults), V4 without insert-noise.
 */
export const lrdifAblations: Readonly<Record<'V1' | 'V2' | 'V3' | 'V4', Partial<LrdifConfig>>> = Object.freeze({
  V1: { diffusion: false },
  V2: { lambdaKl: 0, lambdaL1: 0 },
  V3: { diffusion: true, lambdaKl: 1, insertNoise: true },
  V4: { insertNoise: false },
});

export class LrdifConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`lrdif: LrdifConfig.${field}: ${message}`);
    this.name = 'LrdifConfigError';
  }
}

const KEYS = Object.keys(reference) as Array<keyof LrdifConfig>;
const ARRAY_LENGTH: Partial<Record<keyof LrdifConfig, number>> = {
  blocks: 4,
  heads: 4,
  landmarkChannels: 3,
  dilDims: 3,
  dilHeads: 3,
};
const ENUMS: Partial<Record<keyof LrdifConfig, readonly string[]>> = {
  variant: ['udc', 'lowlight'],
  parameterisation: ['eps', 'x0'],
  betaSchedule: ['sqrtLinear', 'linear'],
  inputNorm: ['none', 'exposure'],
  imageEncoder: ['clip', 'faceapi-expression'],
  classBalance: ['none', 'inverse', 'sqrtInverse'],
  stage2Train: ['all', 'prior'],
  imageHead: ['none', 'linear'],
};

function fail(field: string, message: string): never {
  throw new LrdifConfigError(field, message);
}

function posInt(c: LrdifConfig, f: keyof LrdifConfig, min = 1): void {
  const v = c[f] as unknown;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(f, `must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
}

function intArray(c: LrdifConfig, f: keyof LrdifConfig, min: number): number[] {
  const v = c[f] as unknown;
  const n = ARRAY_LENGTH[f]!;
  if (!Array.isArray(v) || v.length !== n) fail(f, `must be an array of ${n} integers, got ${JSON.stringify(v)}`);
  v.forEach((x, i) => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min) fail(`${f}[${i}]`, `must be an integer ≥ ${min}, got ${JSON.stringify(x)}`);
  });
  return v as number[];
}

function num(c: LrdifConfig, f: keyof LrdifConfig, ok: (v: number) => boolean, what: string): void {
  const v = c[f] as unknown;
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) fail(f, `must be ${what}, got ${JSON.stringify(v)}`);
}

/** Throws an LrdifConfigError naming the first field that is missing, unknown or out of range. */
export function validateLrdifConfig(c: LrdifConfig): LrdifConfig {
  if (c === null || typeof c !== 'object') throw new LrdifConfigError('(config)', `must be an object, got ${JSON.stringify(c)}`);
  for (const k of Object.keys(c)) if (!KEYS.includes(k as keyof LrdifConfig)) fail(k, `unknown field (known: ${KEYS.join(', ')})`);
  for (const k of KEYS) if (c[k] === undefined) fail(k, 'is missing');
  for (const [f, values] of Object.entries(ENUMS)) {
    const v = c[f as keyof LrdifConfig];
    if (!values!.includes(v as string)) fail(f, `must be one of ${values!.map((s) => `'${s}'`).join(', ')}, got ${JSON.stringify(v)}`);
  }
  for (const f of ['diffusion', 'insertNoise'] as const) if (typeof c[f] !== 'boolean') fail(f, `must be a boolean, got ${JSON.stringify(c[f])}`);
  for (const f of ['numClasses', 'clipDim', 'imageSize', 'fpenHidden', 'priorDim', 'dim', 'decoderBlocks', 'window', 'embedDim', 'fusionHeads', 'denoiserWidth'] as const) {
    posInt(c, f);
  }
  for (const f of ['fusionDepth', 'denoiserDepth'] as const) posInt(c, f, 0);
  if (c.numClasses < 2) fail('numClasses', `must be ≥ 2, got ${c.numClasses}`);
  posInt(c, 'timesteps');
  if (c.timesteps > 32) fail('timesteps', `must be in 1…32, got ${c.timesteps}`);
  num(c, 'leakySlope', (v) => v >= 0, 'a finite number ≥ 0');
  num(c, 'ffnExpansion', (v) => v > 0, 'a finite number > 0');
  num(c, 'layerNormEps', (v) => v > 0, 'a finite number > 0');
  num(c, 'dilMlpRatio', (v) => v > 0, 'a finite number > 0');
  num(c, 'fusionMlpRatio', (v) => v > 0, 'a finite number > 0');
  num(c, 'betaStart', (v) => v > 0 && v < 1, 'in (0, 1)');
  num(c, 'betaEnd', (v) => v > 0 && v < 1, 'in (0, 1)');
  num(c, 'lambdaKl', (v) => v >= 0, 'a finite number ≥ 0');
  num(c, 'lambdaL1', (v) => v >= 0, 'a finite number ≥ 0');
  num(c, 'tau', (v) => v > 0, 'a finite number > 0');
  num(c, 'labelSmoothing', (v) => v >= 0 && v <= 1, 'in [0, 1]');
  const blocks = intArray(c, 'blocks', 0);
  const heads = intArray(c, 'heads', 1);
  intArray(c, 'landmarkChannels', 1);
  const dilDims = intArray(c, 'dilDims', 1);
  const dilHeads = intArray(c, 'dilHeads', 1);
  void blocks;
  heads.forEach((h, i) => {
    const width = c.dim * 2 ** i;
    if (width % h !== 0) fail(`heads[${i}]`, `${h} heads do not divide level ${i + 1}'s width ${width} (= dim·2^${i})`);
  });
  dilHeads.forEach((h, i) => {
    if (dilDims[i] % h !== 0) fail(`dilHeads[${i}]`, `${h} heads do not divide dilDims[${i}] = ${dilDims[i]}`);
  });
  if (c.embedDim % c.fusionHeads !== 0) fail('fusionHeads', `${c.fusionHeads} heads do not divide embedDim = ${c.embedDim}`);
  if (c.imageSize % 16 !== 0 || (c.imageSize / 16) % c.window !== 0) {
    fail(
      'imageSize',
      `${c.imageSize} must be a multiple of 16·window (= ${16 * c.window}): the DIL scales are imageSize/4, /8 and /16 pixels wide and each must divide into ${c.window}×${c.window} windows`,
    );
  }
  if (Math.floor(c.ffnExpansion * c.dim) < 1) fail('ffnExpansion', `⌊${c.ffnExpansion}·${c.dim}⌋ gives an empty DGNet hidden layer`);
  if (Math.floor(c.dilMlpRatio * Math.min(...dilDims)) < 1) fail('dilMlpRatio', `${c.dilMlpRatio} gives an empty DIL MLP hidden layer for width ${Math.min(...dilDims)}`);
  if (Math.floor(c.fusionMlpRatio * c.embedDim) < 1) fail('fusionMlpRatio', `${c.fusionMlpRatio} gives an empty fusion MLP hidden layer for width ${c.embedDim}`);
  return c;
}

/** A validated copy of `base` with `overrides` applied field by field (arrays replace whole). */
export function makeLrdifConfig(base: LrdifConfig | 'reference' | 'tiny' = 'reference', overrides: Partial<LrdifConfig> = {}): LrdifConfig {
  const b = typeof base === 'string' ? lrdifConfigs[base] : base;
  if (!b) throw new LrdifConfigError('(base)', `unknown configuration ${JSON.stringify(base)} (known: reference, tiny)`);
  if (overrides === null || typeof overrides !== 'object') throw new LrdifConfigError('(overrides)', `must be an object, got ${JSON.stringify(overrides)}`);
  const c = { ...b } as Record<string, unknown>;
  for (const [k, v] of Object.entries(overrides)) {
    if (!KEYS.includes(k as keyof LrdifConfig)) fail(k, `unknown field (known: ${KEYS.join(', ')})`);
    if (v !== undefined) c[k] = Array.isArray(v) ? [...v] : v;
  }
  for (const k of Object.keys(ARRAY_LENGTH)) if (Array.isArray(c[k])) c[k] = [...(c[k] as number[])];
  return validateLrdifConfig(c as unknown as LrdifConfig);
}

/**
 * Fields added after the first checkpoint format, with the value that reproduces the models
 * written before them (a checkpoint's config lacking one gets it: `withConfigDefaults`).
 */
export const LRDIF_ADDED_FIELDS: Readonly<Partial<LrdifConfig>> = Object.freeze({
  inputNorm: 'none',
  imageEncoder: 'clip',
  classBalance: 'none',
  stage2Train: 'all',
  imageHead: 'none',
});

/** A stored config with the later-added fields filled in (LRDIF_ADDED_FIELDS) when absent. */
export function withConfigDefaults<T>(c: T): T {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) return c;
  return { ...LRDIF_ADDED_FIELDS, ...c };
}

/**
 * The cross-entropy's class weights for training counts `counts` (one per class) under a
 * balance scheme, or null for 'none'. Classes without training images get weight 0.
 */
export function classBalanceWeights(balance: LrdifClassBalance, counts: readonly number[]): Float32Array | null {
  if (balance === 'none') return null;
  if (counts.some((n) => !Number.isInteger(n) || n < 0)) throw new Error(`lrdif: classBalanceWeights: counts must be integers ≥ 0, got [${counts.join(', ')}]`);
  const N = counts.reduce((a, b) => a + b, 0);
  if (N === 0) throw new Error('lrdif: classBalanceWeights: no training images');
  const raw = counts.map((n) => (n === 0 ? 0 : balance === 'inverse' ? 1 / n : 1 / Math.sqrt(n)));
  // scale so that Σ n_k·w_k = N (for 'inverse' that is w_k = N/(K·n_k), K the classes with images)
  const mass = counts.reduce((a, n, k) => a + n * raw[k], 0);
  return Float32Array.from(raw, (w) => (w * N) / mass);
}

/** Width of e_img: CLIP's projection P, or the face-api expression encoder's 256. */
export function lrdifImageDim(c: Pick<LrdifConfig, 'imageEncoder' | 'clipDim'>): number {
  return c.imageEncoder === 'faceapi-expression' ? FACEAPI_EXPRESSION_DIM : c.clipDim;
}

/** 'LRDif' or 'LLDif', by variant. */
export function lrdifMethodName(c: Pick<LrdifConfig, 'variant'>): 'LRDif' | 'LLDif' {
  return c.variant === 'lowlight' ? 'LLDif' : 'LRDif';
}

/** Per-scale geometry that follows from a config: feature sides, DTnetwork widths, windows. */
export function lrdifScales(c: LrdifConfig): { sides: Triple; widths: Triple; windowsPerImage: Triple; tokens: number } {
  const s = c.imageSize;
  const sides: Triple = [s / 4, s / 8, s / 16];
  const widths: Triple = [2 * c.dim, 4 * c.dim, 8 * c.dim];
  const windowsPerImage = sides.map((x) => (x / c.window) ** 2) as Triple;
  return { sides, widths, windowsPerImage, tokens: 3 * sides[2] * sides[2] };
}
