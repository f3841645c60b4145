/**
 * CLIP sizes: the vision and text towers' configs, the OpenAI presets (ViT-B/32, B/16, L/14),
 * and readers for Hugging Face's `config.json` and OpenCLIP's `open_clip_config.json`.
 * Sizes that a file's tensor shapes also give are checked against them by the loader.
 */

/** The MLP activation: OpenAI's QuickGELU x·σ(1.702x), or the exact (erf) GELU. */
export type ClipActivation = 'quick_gelu' | 'gelu';

export interface ClipVisionConfig {
  imageSize: number;
  patchSize: number;
  width: number;
  layers: number;
  heads: number;
  /** Hidden size of each block's MLP (4·width in OpenAI's models). */
  mlpDim: number;
  act: ClipActivation;
  eps: number;
}

/**
 * Where the text tower pools: 'eot' at the first position holding `eotTokenId` (Hugging Face
 * with a current config), 'argmax' at the highest id of each row (OpenAI, OpenCLIP, and Hugging
 * Face configs with the legacy eos_token_id 2); with OpenAI's vocabulary both are the first EOT.
 */
export type ClipTextPooling = 'eot' | 'argmax';

export interface ClipTextConfig {
  vocabSize: number;
  /** Position embeddings: the longest token sequence (77). */
  contextLength: number;
  width: number;
  layers: number;
  heads: number;
  mlpDim: number;
  act: ClipActivation;
  eps: number;
  pooling: ClipTextPooling;
  /** The end-of-text id ('eot' pooling; also recorded for 'argmax'). */
  eotTokenId: number;
}

export interface ClipConfig {
  vision: ClipVisionConfig;
  text: ClipTextConfig;
  /** P: the size of the shared embedding space. */
  projectionDim: number;
}

export class ClipConfigError extends Error {
  constructor(message: string) {
    super(`lrdif: CLIP config: ${message}`);
    this.name = 'ClipConfigError';
  }
}

const OPENAI_EOT = 49407;

function vit(width: number, layers: number, patchSize: number, imageSize = 224): ClipVisionConfig {
  return { imageSize, patchSize, width, layers, heads: width / 64, mlpDim: 4 * width, act: 'quick_gelu', eps: 1e-5 };
}

function textTower(width: number, layers = 12): ClipTextConfig {
  return { vocabSize: 49408, contextLength: 77, width, layers, heads: width / 64, mlpDim: 4 * width, act: 'quick_gelu', eps: 1e-5, pooling: 'eot', eotTokenId: OPENAI_EOT };
}

/** OpenAI's released ViT CLIP sizes. */
export const CLIP_PRESETS: Readonly<Record<'ViT-B/32' | 'ViT-B/16' | 'ViT-L/14' | 'ViT-L/14@336px', ClipConfig>> = {
  'ViT-B/32': { vision: vit(768, 12, 32), text: textTower(512), projectionDim: 512 },
  'ViT-B/16': { vision: vit(768, 12, 16), text: textTower(512), projectionDim: 512 },
  'ViT-L/14': { vision: vit(1024, 24, 14), text: textTower(768), projectionDim: 768 },
  'ViT-L/14@336px': { vision: vit(1024, 24, 14, 336), text: textTower(768), projectionDim: 768 },
};

/** Tokens the vision tower sees: one per patch plus the class token. */
export function clipVisionTokens(v: ClipVisionConfig): number {
  const g = v.imageSize / v.patchSize;
  return g * g + 1;
}

function positiveInt(what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ClipConfigError(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/** Checks a config's internal consistency (divisibility, positive sizes, known activation). */
export function validateClipConfig(c: ClipConfig): ClipConfig {
  const v = c.vision;
  const t = c.text;
  for (const [k, x] of Object.entries(v)) if (k !== 'act' && k !== 'eps') positiveInt(`vision.${k}`, x);
  for (const [k, x] of Object.entries(t)) if (k !== 'act' && k !== 'eps' && k !== 'pooling' && k !== 'eotTokenId') positiveInt(`text.${k}`, x);
  positiveInt('projectionDim', c.projectionDim);
  if (v.imageSize % v.patchSize !== 0) throw new ClipConfigError(`vision.imageSize ${v.imageSize} is not a multiple of vision.patchSize ${v.patchSize}`);
  for (const [tower, x] of [
    ['vision', v],
    ['text', t],
  ] as const) {
    if (x.width % x.heads !== 0) throw new ClipConfigError(`${tower}.width ${x.width} is not a multiple of ${tower}.heads ${x.heads}`);
    if (x.act !== 'quick_gelu' && x.act !== 'gelu') throw new ClipConfigError(`${tower}.act must be 'quick_gelu' or 'gelu', got ${JSON.stringify(x.act)}`);
    if (!(x.eps > 0)) throw new ClipConfigError(`${tower}.eps must be > 0, got ${x.eps}`);
  }
  if (t.pooling !== 'eot' && t.pooling !== 'argmax') throw new ClipConfigError(`text.pooling must be 'eot' or 'argmax', got ${JSON.stringify(t.pooling)}`);
  if (!Number.isInteger(t.eotTokenId) || t.eotTokenId < 0 || t.eotTokenId >= t.vocabSize) {
    throw new ClipConfigError(`text.eotTokenId ${t.eotTokenId} is outside the vocabulary [0, ${t.vocabSize})`);
  }
  return c;
}

/** Hugging Face's hidden_act names → ours ('gelu' is the exact erf GELU there too). */
export function parseClipActivation(what: string, v: unknown): ClipActivation {
  if (v === 'quick_gelu') return 'quick_gelu';
  if (v === 'gelu') return 'gelu';
  throw new ClipConfigError(`${what} ${JSON.stringify(v)} is not supported (expected "quick_gelu" or "gelu")`);
}

type Json = Record<string, unknown>;

function obj(what: string, v: unknown): Json {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ClipConfigError(`${what} must be an object`);
  return v as Json;
}

/**
 * Hugging Face `CLIPConfig` (config.json of a `CLIPModel`): text_config / vision_config with
 * Hugging Face's defaults for absent keys; the old `*_config_dict` keys override them, as
 * transformers does. eos_token_id 2 (old configs) means argmax pooling, as transformers does.
 */
export function clipConfigFromHuggingFace(json: unknown): ClipConfig {
  const root = obj('config.json', json);
  if (root.model_type !== undefined && root.model_type !== 'clip') {
    throw new ClipConfigError(`config.json has model_type ${JSON.stringify(root.model_type)}, expected "clip" (a CLIPModel)`);
  }
  if (!('text_config' in root) && !('vision_config' in root) && !('text_config_dict' in root) && !('vision_config_dict' in root)) {
    throw new ClipConfigError('config.json has neither text_config nor vision_config (not a CLIPModel config)');
  }
  const tc: Json = { ...obj('text_config', root.text_config), ...obj('text_config_dict', root.text_config_dict) };
  const vc: Json = { ...obj('vision_config', root.vision_config), ...obj('vision_config_dict', root.vision_config_dict) };
  const get = (c: Json, key: string, def: unknown) => (c[key] === undefined || c[key] === null ? def : c[key]);
  const num = (c: Json, tower: string, key: string, def: number) => positiveInt(`${tower}.${key}`, get(c, key, def));
  const eps = (c: Json, tower: string) => {
    const e = get(c, 'layer_norm_eps', 1e-5);
    if (typeof e !== 'number' || !(e > 0)) throw new ClipConfigError(`${tower}.layer_norm_eps must be a positive number, got ${JSON.stringify(e)}`);
    return e;
  };
  const channels = get(vc, 'num_channels', 3);
  if (channels !== 3) throw new ClipConfigError(`vision_config.num_channels ${JSON.stringify(channels)} is not supported (RGB: 3)`);
  const width = num(vc, 'vision_config', 'hidden_size', 768);
  const vision: ClipVisionConfig = {
    imageSize: num(vc, 'vision_config', 'image_size', 224),
    patchSize: num(vc, 'vision_config', 'patch_size', 32),
    width,
    layers: num(vc, 'vision_config', 'num_hidden_layers', 12),
    heads: num(vc, 'vision_config', 'num_attention_heads', 12),
    mlpDim: num(vc, 'vision_config', 'intermediate_size', 3072),
    act: parseClipActivation('vision_config.hidden_act', get(vc, 'hidden_act', 'quick_gelu')),
    eps: eps(vc, 'vision_config'),
  };
  const eosRaw = get(tc, 'eos_token_id', OPENAI_EOT);
  if (typeof eosRaw !== 'number' || !Number.isInteger(eosRaw) || eosRaw < 0)
    throw new ClipConfigError(`text_config.eos_token_id must be an integer ≥ 0, got ${JSON.stringify(eosRaw)}`);
  const legacy = eosRaw === 2;
  const vocabSize = num(tc, 'text_config', 'vocab_size', 49408);
  const text: ClipTextConfig = {
    vocabSize,
    contextLength: num(tc, 'text_config', 'max_position_embeddings', 77),
    width: num(tc, 'text_config', 'hidden_size', 512),
    layers: num(tc, 'text_config', 'num_hidden_layers', 12),
    heads: num(tc, 'text_config', 'num_attention_heads', 8),
    mlpDim: num(tc, 'text_config', 'intermediate_size', 2048),
    act: parseClipActivation('text_config.hidden_act', get(tc, 'hidden_act', 'quick_gelu')),
    eps: eps(tc, 'text_config'),
    pooling: legacy ? 'argmax' : 'eot',
    eotTokenId: legacy ? Math.min(OPENAI_EOT, vocabSize - 1) : eosRaw,
  };
  const projectionDim = positiveInt('projection_dim', root.projection_dim ?? 512);
  return validateClipConfig({ vision, text, projectionDim });
}

/**
 * OpenCLIP's `open_clip_config.json` ({ model_cfg: { embed_dim, quick_gelu, vision_cfg, text_cfg } },
 * or the model config itself). Only the keys that shapes cannot give are required here: heads
 * (text_cfg.heads; vision width / vision_cfg.head_width, default 64) and the activation
 * (quick_gelu, OpenCLIP's default false); the loader fills and checks the rest from the weights.
 */
export interface OpenClipHints {
  textHeads: number;
  act: ClipActivation;
  /** Sizes the file's tensors must agree with. */
  expect: {
    embedDim?: number;
    imageSize?: number;
    patchSize?: number;
    visionWidth?: number;
    visionLayers?: number;
    contextLength?: number;
    vocabSize?: number;
    textWidth?: number;
    textLayers?: number;
  };
  /** vision_cfg.head_width when heads come from the width. */
  visionHeadWidth: number;
}

export function openClipHints(json: unknown): OpenClipHints {
  const root = obj('open_clip_config.json', json);
  const cfg = 'model_cfg' in root ? obj('model_cfg', root.model_cfg) : root;
  const vc = obj('vision_cfg', cfg.vision_cfg);
  const tc = obj('text_cfg', cfg.text_cfg);
  if (vc.layers !== undefined && typeof vc.layers !== 'number')
    throw new ClipConfigError('vision_cfg.layers as a list means a ResNet image tower, which is not supported (ViT only)');
  const pool = tc.pool_type ?? 'argmax';
  if (pool !== 'argmax') throw new ClipConfigError(`text_cfg.pool_type ${JSON.stringify(pool)} is not supported (only OpenAI's 'argmax')`);
  for (const k of ['attentional_pool', 'no_ln_pre', 'final_ln_after_pool', 'hf_model_name'] as const) {
    const v = k === 'hf_model_name' ? tc[k] : vc[k];
    if (v) throw new ClipConfigError(`${k === 'hf_model_name' ? 'text_cfg' : 'vision_cfg'}.${k} is set; this variant of the CLIP architecture is not supported`);
  }
  const opt = (what: string, v: unknown) => (v === undefined || v === null ? undefined : positiveInt(what, v));
  const headWidth = opt('vision_cfg.head_width', vc.head_width) ?? 64;
  const quick = cfg.quick_gelu ?? false;
  if (typeof quick !== 'boolean') throw new ClipConfigError(`quick_gelu must be true or false, got ${JSON.stringify(quick)}`);
  return {
    textHeads: opt('text_cfg.heads', tc.heads) ?? 8,
    act: quick ? 'quick_gelu' : 'gelu',
    visionHeadWidth: headWidth,
    expect: {
      embedDim: opt('embed_dim', cfg.embed_dim),
      imageSize: opt('vision_cfg.image_size', vc.image_size),
      patchSize: opt('vision_cfg.patch_size', vc.patch_size),
      visionWidth: opt('vision_cfg.width', vc.width),
      visionLayers: opt('vision_cfg.layers', vc.layers),
      contextLength: opt('text_cfg.context_length', tc.context_length),
      vocabSize: opt('text_cfg.vocab_size', tc.vocab_size),
      textWidth: opt('text_cfg.width', tc.width),
      textLayers: opt('text_cfg.layers', tc.layers),
    },
  };
}

/** A Hugging Face config.json for `c` (what `clipConfigFromHuggingFace` reads back as `c`). */
export function clipConfigToHuggingFace(c: ClipConfig): Record<string, unknown> {
  return {
    architectures: ['CLIPModel'],
    model_type: 'clip',
    projection_dim: c.projectionDim,
    text_config: {
      vocab_size: c.text.vocabSize,
      max_position_embeddings: c.text.contextLength,
      hidden_size: c.text.width,
      num_hidden_layers: c.text.layers,
      num_attention_heads: c.text.heads,
      intermediate_size: c.text.mlpDim,
      hidden_act: c.text.act,
      layer_norm_eps: c.text.eps,
      eos_token_id: c.text.pooling === 'argmax' ? 2 : c.text.eotTokenId,
      projection_dim: c.projectionDim,
    },
    vision_config: {
      image_size: c.vision.imageSize,
      patch_size: c.vision.patchSize,
      hidden_size: c.vision.width,
      num_hidden_layers: c.vision.layers,
      num_attention_heads: c.vision.heads,
      intermediate_size: c.vision.mlpDim,
      hidden_act: c.vision.act,
      layer_norm_eps: c.vision.eps,
      num_channels: 3,
      projection_dim: c.projectionDim,
    },
  };
}
