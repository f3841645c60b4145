/**
 * Baseline CNN checkpoints as safetensors (browser-safe; files are written by the caller's store,
 * atomically in Node).
 *
 * Tensors: `model.<path>` (the BaselineCnn state dict: weights and BatchNorm running statistics).
 * `__metadata__`: format "lrdif-baseline-cnn/1", config (CnnConfig), classNames, epoch, step,
 * selection (how this checkpoint was chosen), metrics, settings, version.
 */
import { tensor, type Tensor } from '../autograd/tensor.js';
import type { SafetensorsEntry, SafetensorsReader } from '../io/safetensors.js';
import { loadTensor } from '../io/tensors.js';
import { BaselineCnn, validateCnnConfig, type CnnConfig } from './cnn.js';

export const CNN_CHECKPOINT_FORMAT = 'lrdif-baseline-cnn/1';

export interface CnnCheckpointMeta {
  config: CnnConfig;
  classNames: string[];
  epoch: number;
  step: number;
  selection: Record<string, unknown>;
  metrics: Record<string, unknown>;
  settings: Record<string, unknown>;
  version: string;
}

/** The model's state read back to the host. */
export async function cnnStateEntries(model: BaselineCnn): Promise<SafetensorsEntry[]> {
  const entries: SafetensorsEntry[] = [];
  for (const [name, t] of model.stateDict()) {
    entries.push({ name: `model.${name}`, dtype: 'F32', shape: [...t.shape], data: new Float32Array((await t.data()) as Float32Array) });
  }
  return entries;
}

export function cnnCheckpointMetadata(meta: CnnCheckpointMeta): Record<string, string> {
  return {
    format: CNN_CHECKPOINT_FORMAT,
    config: JSON.stringify(meta.config),
    classNames: JSON.stringify(meta.classNames),
    epoch: String(meta.epoch),
    step: String(meta.step),
    selection: JSON.stringify(meta.selection),
    metrics: JSON.stringify(meta.metrics),
    settings: JSON.stringify(meta.settings),
    version: meta.version,
  };
}

/** Copies host entries (as written by cnnStateEntries) into the model's tensors. */
export function loadCnnEntries(model: BaselineCnn, entries: readonly SafetensorsEntry[]): void {
  const state = new Map<string, Tensor>();
  try {
    for (const e of entries) {
      if (!e.name.startsWith('model.')) continue;
      state.set(e.name.slice('model.'.length), tensor(e.data as Float32Array, e.shape));
    }
    model.loadStateDict(state);
  } finally {
    for (const t of state.values()) t.dispose();
  }
}

function fail(file: string | undefined, msg: string): Error {
  return new Error(`lrdif: baseline checkpoint${file ? ` ${file}` : ''}: ${msg}`);
}

/** Reads a baseline CNN checkpoint into a new model (errors name the file and what is wrong). */
export function readCnnCheckpoint(reader: SafetensorsReader): { model: BaselineCnn; meta: CnnCheckpointMeta } {
  const md = reader.metadata;
  if (md.format !== CNN_CHECKPOINT_FORMAT)
    throw fail(
      reader.file,
      md.format === undefined ? 'not a baseline CNN checkpoint (no __metadata__.format)' : `format ${JSON.stringify(md.format)}, expected ${CNN_CHECKPOINT_FORMAT}`,
    );
  const json = <T>(k: string): T => {
    if (md[k] === undefined) throw fail(reader.file, `__metadata__ has no '${k}'`);
    try {
      return JSON.parse(md[k]) as T;
    } catch (e) {
      throw fail(reader.file, `__metadata__.${k} is not valid JSON (${(e as Error).message})`);
    }
  };
  let config: CnnConfig;
  try {
    config = validateCnnConfig(json<CnnConfig>('config'));
  } catch (e) {
    throw fail(reader.file, (e as Error).message.replace(/^lrdif: /, ''));
  }
  const meta: CnnCheckpointMeta = {
    config,
    classNames: json<string[]>('classNames'),
    epoch: Number(md.epoch),
    step: Number(md.step),
    selection: json('selection'),
    metrics: json('metrics'),
    settings: json('settings'),
    version: md.version ?? 'unknown',
  };
  const model = new BaselineCnn(config);
  const state = new Map<string, Tensor>();
  try {
    for (const name of reader.names()) if (name.startsWith('model.')) state.set(name.slice(6), loadTensor(reader, name, 'f32'));
    model.loadStateDict(state);
  } catch (e) {
    model.dispose();
    throw fail(reader.file, (e as Error).message.replace(/^lrdif: /, ''));
  } finally {
    for (const t of state.values()) t.dispose();
  }
  return { model, meta };
}
