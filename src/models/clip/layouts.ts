/**
 * The two file layouts of CLIP weights, and the sizes they imply.
 *
 * Hugging Face `CLIPModel`: `vision_model.*`, `text_model.*`, `visual_projection.weight`,
 * `text_projection.weight`, `logit_scale` — the names this library's modules use. The key
 * `vision_model.pre_layrnorm` is misspelt in the real files; `*.position_ids` buffers are ignored.
 *
 * OpenAI / OpenCLIP: `visual.conv1.weight`, `visual.class_embedding`, `visual.positional_embedding`,
 * `visual.ln_pre`, `visual.transformer.resblocks.N.{ln_1, attn.in_proj_weight/bias, attn.out_proj,
 * ln_2, mlp.c_fc, mlp.c_proj}`, `visual.ln_post`, `visual.proj` [width, P] (x·proj, so transposed
 * here), `token_embedding.weight`, `positional_embedding`, `transformer.resblocks.N.*`,
 * `ln_final`, `text_projection` [width, P] (transposed), `logit_scale`. The fused in_proj
 * [3·width, width] is split into q, k and v by rows.
 */
import type { TensorInfo } from '../../io/safetensors.js';
import { ClipConfigError, validateClipConfig, type ClipActivation, type ClipConfig, type OpenClipHints } from './config.js';

export type ClipLayout = 'huggingface' | 'openai';

/** Where one of the model's tensors (by its Hugging Face name) comes from in a file. */
export interface ClipTensorSource {
  /** The tensor's name in the file. */
  key: string;
  /** The shape it must have there. */
  fileShape: number[];
  /** How the file's values become the parameter's: as they are, transposed (2-D), or a block of rows. */
  transform: { kind: 'none' } | { kind: 'transpose' } | { kind: 'rows'; start: number; count: number };
}

export class ClipLoadError extends Error {
  constructor(
    readonly file: string | undefined,
    detail: string,
  ) {
    super(`lrdif: CLIP weights${file ? ` '${file}'` : ''}: ${detail}`);
    this.name = 'ClipLoadError';
  }
}

function list(names: readonly string[], max = 8): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')}, ... (${names.length} in all)`;
}

/** Tells the layout from the tensor names; anything else is an error listing what was found. */
export function detectClipLayout(names: readonly string[], file?: string): ClipLayout {
  const has = (p: string) => names.some((n) => n.startsWith(p));
  if (has('vision_model.') || has('text_model.')) return 'huggingface';
  if (has('visual.layer1.') || has('visual.attnpool.')) {
    throw new ClipLoadError(file, 'the image tower is a ModifiedResNet (visual.layer1.*, visual.attnpool.*); only ViT CLIP models are supported');
  }
  if (has('visual.conv1.') || has('visual.transformer.') || has('transformer.resblocks.')) return 'openai';
  throw new ClipLoadError(
    file,
    `unknown layout: expected Hugging Face CLIPModel names (vision_model.*, text_model.*, visual_projection.weight, text_projection.weight) or OpenAI/OpenCLIP names (visual.conv1.weight, visual.transformer.resblocks.N.*, transformer.resblocks.N.*, token_embedding.weight); the file has: ${list(names) || 'no tensors'}`,
  );
}

const TOWER_RENAMES: ReadonlyArray<[RegExp, string]> = [
  [/^embeddings\.class_embedding$/, 'class_embedding'],
  [/^embeddings\.patch_embedding\.weight$/, 'conv1.weight'],
  [/^embeddings\.position_embedding\.weight$/, 'positional_embedding'],
  [/^embeddings\.token_embedding\.weight$/, 'token_embedding.weight'],
  [/^pre_layrnorm\./, 'ln_pre.'],
  [/^post_layernorm\./, 'ln_post.'],
  [/^final_layer_norm\./, 'ln_final.'],
  [/^encoder\.layers\.(\d+)\.layer_norm1\./, 'transformer.resblocks.$1.ln_1.'],
  [/^encoder\.layers\.(\d+)\.layer_norm2\./, 'transformer.resblocks.$1.ln_2.'],
  [/^encoder\.layers\.(\d+)\.self_attn\.out_proj\./, 'transformer.resblocks.$1.attn.out_proj.'],
  [/^encoder\.layers\.(\d+)\.mlp\.fc1\./, 'transformer.resblocks.$1.mlp.c_fc.'],
  [/^encoder\.layers\.(\d+)\.mlp\.fc2\./, 'transformer.resblocks.$1.mlp.c_proj.'],
];

/**
 * The source of the model tensor `name` (Hugging Face naming) of logical shape `shape`, in the
 * given layout.
 */
export function clipTensorSource(layout: ClipLayout, name: string, shape: readonly number[]): ClipTensorSource {
  const same = (key: string): ClipTensorSource => ({ key, fileShape: [...shape], transform: { kind: 'none' } });
  if (layout === 'huggingface') return same(name);
  if (name === 'logit_scale') return same('logit_scale');
  if (name === 'visual_projection.weight') return { key: 'visual.proj', fileShape: [shape[1], shape[0]], transform: { kind: 'transpose' } };
  if (name === 'text_projection.weight') return { key: 'text_projection', fileShape: [shape[1], shape[0]], transform: { kind: 'transpose' } };
  const m = /^(vision_model|text_model)\.(.*)$/.exec(name);
  if (!m) throw new Error(`lrdif: CLIP layouts: no OpenAI name for '${name}'`);
  const prefix = m[1] === 'vision_model' ? 'visual.' : '';
  const rest = m[2];
  const qkv = /^encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)$/.exec(rest);
  if (qkv) {
    const width = shape[0];
    const part = 'qkv'.indexOf(qkv[2]);
    const key = `${prefix}transformer.resblocks.${qkv[1]}.attn.in_proj_${qkv[3]}`;
    const fileShape = qkv[3] === 'weight' ? [3 * width, shape[1]] : [3 * width];
    return { key, fileShape, transform: { kind: 'rows', start: part * width, count: width } };
  }
  for (const [re, to] of TOWER_RENAMES) {
    if (re.test(rest)) return same(prefix + rest.replace(re, to));
  }
  throw new Error(`lrdif: CLIP layouts: no OpenAI name for '${name}'`);
}

/** The view of a file the inference needs. */
export interface TensorShapes {
  names(): string[];
  info(name: string): TensorInfo;
}

export interface InferenceHints {
  visionHeads?: number;
  textHeads?: number;
  visionAct?: ClipActivation;
  textAct?: ClipActivation;
  openClip?: OpenClipHints;
}

/**
 * Sizes from tensor shapes, for files without a config: widths, patch, image size (from the
 * number of positions), layer counts, MLP and projection sizes, vocabulary and context length.
 * Heads are not in the shapes: they come from the hints, or OpenAI's rule width / 64. The
 * activation defaults to QuickGELU (OpenAI's models) and text pooling to argmax (OpenAI's).
 */
export function inferClipConfig(src: TensorShapes, layout: ClipLayout, hints: InferenceHints = {}, file?: string): ClipConfig {
  const names = src.names();
  const oa = layout === 'openai';
  const key = (tower: 'v' | 't', hf: string) => clipTensorSource(layout, `${tower === 'v' ? 'vision_model' : 'text_model'}.${hf}`, []).key;
  const shapeOf = (k: string, rank: number, what: string): readonly number[] => {
    if (!names.includes(k)) throw new ClipLoadError(file, `missing tensor '${k}' (${what}; needed to infer the model's sizes)`);
    const s = src.info(k).shape;
    if (s.length !== rank) throw new ClipLoadError(file, `tensor '${k}' has shape [${s.join(', ')}], expected ${rank} dimensions (${what})`);
    return s;
  };
  const countLayers = (prefix: string) => {
    const ids = new Set<number>();
    const re = new RegExp(`^${prefix.replace(/\./g, '\\.')}(\\d+)\\.`);
    for (const n of names) {
      const m = re.exec(n);
      if (m) ids.add(Number(m[1]));
    }
    if (ids.size === 0) throw new ClipLoadError(file, `no transformer blocks (${prefix}N.*) found`);
    const max = Math.max(...ids);
    if (ids.size !== max + 1) {
      const missing = [...Array(max + 1).keys()].filter((i) => !ids.has(i));
      throw new ClipLoadError(file, `transformer blocks ${prefix}N: block(s) ${missing.join(', ')} missing (found up to ${max})`);
    }
    return ids.size;
  };
  const heads = (tower: string, width: number, given: number | undefined) => {
    if (given !== undefined) return given;
    if (width % 64 !== 0) {
      throw new ClipLoadError(
        file,
        `cannot infer the ${tower} tower's number of heads: OpenAI's rule width / 64 does not divide width ${width}; give it (${tower}Heads) or a config file`,
      );
    }
    return width / 64;
  };

  const conv = shapeOf(key('v', 'embeddings.patch_embedding.weight'), 4, 'the patch embedding [width, 3, patch, patch]');
  const [vWidth, channels, patch, patch2] = conv;
  if (channels !== 3 || patch !== patch2) {
    throw new ClipLoadError(file, `tensor '${key('v', 'embeddings.patch_embedding.weight')}' has shape [${conv.join(', ')}], expected [width, 3, patch, patch]`);
  }
  const vPos = shapeOf(key('v', 'embeddings.position_embedding.weight'), 2, 'the vision position embedding [1 + grid², width]');
  const grid = Math.round(Math.sqrt(vPos[0] - 1));
  if (grid * grid + 1 !== vPos[0]) {
    throw new ClipLoadError(file, `tensor '${key('v', 'embeddings.position_embedding.weight')}' has ${vPos[0]} positions, not 1 + a square number of patches`);
  }
  const vMlp = shapeOf(key('v', 'encoder.layers.0.mlp.fc1.weight'), 2, "the first vision block's MLP")[0];
  const tok = shapeOf(key('t', 'embeddings.token_embedding.weight'), 2, 'the token embedding [vocab, width]');
  const tPos = shapeOf(key('t', 'embeddings.position_embedding.weight'), 2, 'the text position embedding [context, width]');
  const tMlp = shapeOf(key('t', 'encoder.layers.0.mlp.fc1.weight'), 2, "the first text block's MLP")[0];
  const vProjKey = clipTensorSource(layout, 'visual_projection.weight', [0, 0]).key;
  const vProj = shapeOf(vProjKey, 2, 'the visual projection');
  const P = oa ? vProj[1] : vProj[0];
  const vLayers = countLayers(oa ? 'visual.transformer.resblocks.' : 'vision_model.encoder.layers.');
  const tLayers = countLayers(oa ? 'transformer.resblocks.' : 'text_model.encoder.layers.');
  const oc = hints.openClip;
  const tWidth = tok[1];
  const config: ClipConfig = {
    vision: {
      imageSize: grid * patch,
      patchSize: patch,
      width: vWidth,
      layers: vLayers,
      heads: heads('vision', vWidth, hints.visionHeads ?? (oc ? Math.max(1, Math.floor(vWidth / oc.visionHeadWidth)) : undefined)),
      mlpDim: vMlp,
      act: hints.visionAct ?? oc?.act ?? 'quick_gelu',
      eps: 1e-5,
    },
    text: {
      vocabSize: tok[0],
      contextLength: tPos[0],
      width: tWidth,
      layers: tLayers,
      heads: heads('text', tWidth, hints.textHeads ?? oc?.textHeads),
      mlpDim: tMlp,
      act: hints.textAct ?? oc?.act ?? 'quick_gelu',
      eps: 1e-5,
      pooling: 'argmax',
      eotTokenId: tok[0] - 1,
    },
    projectionDim: P,
  };
  if (oc) {
    const e = oc.expect;
    const checks: Array<[string, number | undefined, number]> = [
      ['embed_dim', e.embedDim, P],
      ['vision_cfg.image_size', e.imageSize, config.vision.imageSize],
      ['vision_cfg.patch_size', e.patchSize, patch],
      ['vision_cfg.width', e.visionWidth, vWidth],
      ['vision_cfg.layers', e.visionLayers, vLayers],
      ['text_cfg.context_length', e.contextLength, tPos[0]],
      ['text_cfg.vocab_size', e.vocabSize, tok[0]],
      ['text_cfg.width', e.textWidth, tWidth],
      ['text_cfg.layers', e.textLayers, tLayers],
    ];
    for (const [what, want, got] of checks) {
      if (want !== undefined && want !== got) throw new ClipLoadError(file, `open_clip_config.json says ${what} = ${want}, the weights have ${got}`);
    }
  }
  try {
    return validateClipConfig(config);
  } catch (e) {
    if (e instanceof ClipConfigError) throw new ClipLoadError(file, `the sizes inferred from the tensor shapes are inconsistent: ${e.message}`);
    throw e;
  }
}
