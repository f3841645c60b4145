/**
 * Loading CLIP weights from a safetensors reader into a ClipModel (browser-safe; the Node
 * entry `loadClip` in load-node.ts resolves paths, config files and the tokenizer).
 *
 * Every expected tensor is checked (present, float, the shape the config implies) before any
 * is uploaded, so one error lists every problem. Tensors are then read one at a time, in 4 MiB
 * slices through one scratch array (F16, BF16 and F64 converted to f32; the projections of the
 * OpenAI layout transposed, the fused in_proj read by row blocks), and written into the model's
 * buffers, the GPU queue drained every 32 MiB so upload staging stays small: host memory beyond
 * the model stays a few MiB whatever the file's size.
 */
import { engine } from '../../autograd/engine.js';
import { fmtShape, type Tensor } from '../../autograd/tensor.js';
import type { GpuContext } from '../../gpu/context.js';
import { isFloatDType, type SafetensorsReader } from '../../io/safetensors.js';
import { clipConfigFromHuggingFace, ClipConfigError, openClipHints, type ClipActivation, type ClipConfig } from './config.js';
import { clipTensorSource, ClipLoadError, detectClipLayout, inferClipConfig, type ClipLayout, type ClipTensorSource } from './layouts.js';
import { ClipModel, type ClipLoadInfo } from './model.js';

export type { ClipLoadInfo };
import type { ClipTokenizer } from './tokenizer.js';

export interface ClipLoadOptions {
  /** The MLP activation of both towers, overriding the config (or the QuickGELU default of config-less files). */
  hiddenAct?: ClipActivation;
  /** Heads of the vision / text tower, for files whose config does not give them (default width / 64). */
  visionHeads?: number;
  textHeads?: number;
  /** See ClipModelOptions. */
  embeddingChunkBytes?: number;
  activationBytes?: number;
  tokenizer?: ClipTokenizer | null;
  /** Called after each tensor with the bytes read so far and in all. */
  onProgress?: (p: { done: number; total: number; tensor: string }) => void;
  ctx?: GpuContext;
}

/** A config file's parsed JSON: Hugging Face's config.json or OpenCLIP's open_clip_config.json. */
export interface ClipConfigFile {
  kind: 'huggingface' | 'openclip';
  json: unknown;
  /** Its path, for errors. */
  file: string;
}

const TOKEN_TABLE = 'text_model.embeddings.token_embedding.weight';
/** Tensors are read and uploaded in slices of SLICE_FLOATS; the queue is drained after SYNC_BYTES of uploads. */
const SLICE_FLOATS = 1 << 20;
const SYNC_BYTES = 32 << 20;

function configFrom(reader: SafetensorsReader, layout: ClipLayout, cfg: ClipConfigFile | null, o: ClipLoadOptions): ClipConfig {
  const hints = { visionHeads: o.visionHeads, textHeads: o.textHeads, visionAct: o.hiddenAct, textAct: o.hiddenAct };
  let config: ClipConfig;
  try {
    if (cfg?.kind === 'huggingface') config = clipConfigFromHuggingFace(cfg.json);
    else if (cfg?.kind === 'openclip') return inferClipConfig(reader, layout, { ...hints, openClip: openClipHints(cfg.json) }, reader.file);
    else return inferClipConfig(reader, layout, hints, reader.file);
  } catch (e) {
    if (e instanceof ClipConfigError && cfg) throw new ClipConfigError(`${cfg.file}: ${e.message.replace(/^lrdif: CLIP config: /, '')}`);
    throw e;
  }
  if (o.hiddenAct) config = { ...config, vision: { ...config.vision, act: o.hiddenAct }, text: { ...config.text, act: o.hiddenAct } };
  for (const [tower, h] of [
    ['vision', o.visionHeads],
    ['text', o.textHeads],
  ] as const) {
    if (h !== undefined) config = { ...config, [tower]: { ...config[tower], heads: h } };
  }
  return config;
}

/** The model's tensors by Hugging Face name with their logical shapes (the token table as one). */
function modelTensors(model: ClipModel): Array<[string, readonly number[]]> {
  const out: Array<[string, readonly number[]]> = [];
  const table = model.text_model.embeddings.token_embedding;
  for (const [name, t] of model.stateDict()) {
    if (name.startsWith('text_model.embeddings.token_embedding.')) continue;
    out.push([name, t.shape]);
  }
  out.push([TOKEN_TABLE, [table.rows, table.dim]]);
  return out;
}

function checkSources(reader: SafetensorsReader, plan: Array<[string, ClipTensorSource]>, layout: ClipLayout): void {
  const problems: string[] = [];
  for (const [name, s] of plan) {
    if (!reader.has(s.key)) {
      problems.push(`missing tensor '${s.key}' (expected shape ${fmtShape(s.fileShape)}${s.key !== name ? `, for ${name}` : ''})`);
      continue;
    }
    const info = reader.info(s.key);
    const scalarOk = name === 'logit_scale' && info.shape.reduce((a, b) => a * b, 1) === 1;
    if (!scalarOk && (info.shape.length !== s.fileShape.length || info.shape.some((d, i) => d !== s.fileShape[i]))) {
      problems.push(`tensor '${s.key}' has shape ${fmtShape(info.shape)}, expected ${fmtShape(s.fileShape)}`);
    } else if (!isFloatDType(info.dtype)) {
      problems.push(`tensor '${s.key}' is ${info.dtype}, expected a float type (F32, F16, BF16)`);
    }
  }
  if (problems.length) {
    const shown = problems.length > 10 ? [...problems.slice(0, 10), `... and ${problems.length - 10} more`] : problems;
    throw new ClipLoadError(reader.file, `${layout === 'huggingface' ? 'Hugging Face' : 'OpenAI'} layout: ${shown.join('; ')}`);
  }
}

function transposeHost(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * Builds a ClipModel from a safetensors file's tensors. `cfg` gives the sizes (Hugging Face) or
 * the hints shapes cannot give (OpenCLIP); without one the sizes are inferred from the shapes.
 */
export async function loadClipFromReader(reader: SafetensorsReader, cfg: ClipConfigFile | null, options: ClipLoadOptions = {}): Promise<ClipModel> {
  const ctx = options.ctx ?? engine.ctx;
  const layout = detectClipLayout(reader.names(), reader.file);
  const config = configFrom(reader, layout, cfg, options);
  const model = new ClipModel(config, {
    init: 'empty',
    ctx,
    embeddingChunkBytes: options.embeddingChunkBytes,
    activationBytes: options.activationBytes,
    tokenizer: options.tokenizer ?? null,
  });
  try {
    const plan = modelTensors(model).map(([name, shape]): [string, ClipTensorSource] => [name, clipTensorSource(layout, name, shape)]);
    checkSources(reader, plan, layout);
    const state = model.stateDict();
    const used = new Set(plan.map(([, s]) => s.key));
    const total = [...used].reduce((n, k) => n + reader.info(k).byteLength, 0);
    let done = 0;
    let sinceSync = 0;
    const scratch = new Float32Array(SLICE_FLOATS);
    // uploads `values` at element `at` of t, draining the queue every SYNC_BYTES so upload
    // staging stays bounded (writeBuffer copies the data: the scratch can be reused at once)
    const upload = async (t: Tensor, values: Float32Array, at: number) => {
      ctx.upload(t.buffer, values, 4 * at);
      sinceSync += values.byteLength;
      if (sinceSync >= SYNC_BYTES) {
        sinceSync = 0;
        await ctx.sync();
      }
    };
    // elements [start, start + t.size) of a file tensor into t, slice by slice
    const copy = async (t: Tensor, key: string, start: number) => {
      for (let a = 0; a < t.size; a += SLICE_FLOATS) {
        const part = scratch.subarray(0, Math.min(SLICE_FLOATS, t.size - a));
        reader.readF32Into(key, start + a, part);
        await upload(t, part, a);
      }
    };
    for (const [name, s] of plan) {
      const info = reader.info(s.key);
      const elemBytes =
        info.byteLength /
        Math.max(
          1,
          info.shape.reduce((x, y) => x * y, 1),
        );
      const rowLen = s.fileShape.slice(1).reduce((x, y) => x * y, 1);
      if (name === TOKEN_TABLE) {
        const table = model.text_model.embeddings.token_embedding;
        for (let i = 0; i < table.chunks.length; i++) await copy(table.chunks[i], s.key, table.starts[i] * table.dim);
        done += info.byteLength;
      } else {
        const t: Tensor = state.get(name)!;
        if (s.transform.kind === 'transpose') await upload(t, transposeHost(reader.getHostArray(s.key, 'f32'), s.fileShape[0], s.fileShape[1]), 0);
        else await copy(t, s.key, s.transform.kind === 'rows' ? s.transform.start * rowLen : 0);
        done += t.size * elemBytes;
      }
      options.onProgress?.({ done, total, tensor: s.key });
    }
    await ctx.sync();
    model.loadInfo = {
      file: reader.file,
      layout,
      config: cfg ? (cfg.kind === 'huggingface' ? 'config.json' : 'open_clip_config.json') : 'inferred',
      ignored: reader.names().filter((n) => !used.has(n)),
    };
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}
