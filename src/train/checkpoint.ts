/**
 * LRDif checkpoints as safetensors (browser-safe; Node reads them with openSafetensorsFile in
 * src/io/safetensors-node.ts and writes them through the run folder, src/train/store-node.ts).
 *
 * Tensors: `model.<parameter path>` (the whole LrdifModel state dict, F32) and, when the
 * optimiser is saved, `optimizer.<parameter path>.<slot>` (AdamW's exp_avg / exp_avg_sq).
 * `__metadata__` (strings; JSON where structured):
 *   format       "lrdif-checkpoint/1"
 *   stage        "1" | "2"
 *   epoch        completed epochs;  step: optimiser steps so far
 *   config       the LrdifConfig;   classNames: the class list (JSON array)
 *   optimizer    { lr, steps: { <param path>: n } } (with the tensors above) or absent
 *   rng          the seeds and stream positions that continue the run exactly
 *   train        the training settings; clip: where the frozen CLIP came from and its hash
 *   metrics      the last evaluation and the best accuracy so far
 *   version      lrdif's version
 */
import type { Tensor } from '../autograd/tensor.js';
import type { SafetensorsEntry, SafetensorsReader } from '../io/safetensors.js';
import { loadTensor } from '../io/tensors.js';
import type { Optimizer, OptimizerStateDict } from '../optim/optimizer.js';
import { validateLrdifConfig, withConfigDefaults, type LrdifConfig } from '../models/lrdif/config.js';
import type { LrdifModel, LrdifStage } from '../models/lrdif/lrdif.js';
import type { ClipRecord } from './encoders.js';

export const CHECKPOINT_FORMAT = 'lrdif-checkpoint/1';

export interface CheckpointMeta {
  stage: LrdifStage;
  epoch: number;
  step: number;
  config: LrdifConfig;
  classNames: string[];
  rng: Record<string, unknown>;
  train: Record<string, unknown>;
  clip: ClipRecord;
  metrics: Record<string, unknown>;
  version: string;
}

export class CheckpointError extends Error {
  constructor(file: string | undefined, message: string) {
    super(`lrdif: checkpoint${file ? ` ${file}` : ''}: ${message}`);
    this.name = 'CheckpointError';
  }
}

/** Reads model (and optimiser) state back to the host as writer entries with the metadata. */
export async function checkpointEntries(
  model: LrdifModel,
  optimizer: Optimizer | null,
  meta: CheckpointMeta,
): Promise<{ entries: SafetensorsEntry[]; metadata: Record<string, string> }> {
  const entries: SafetensorsEntry[] = [];
  for (const [name, t] of model.stateDict()) {
    entries.push({ name: `model.${name}`, dtype: 'F32', shape: [...t.shape], data: new Float32Array((await t.data()) as Float32Array) });
  }
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    stage: String(meta.stage),
    epoch: String(meta.epoch),
    step: String(meta.step),
    config: JSON.stringify(meta.config),
    classNames: JSON.stringify(meta.classNames),
    rng: JSON.stringify(meta.rng),
    train: JSON.stringify(meta.train),
    clip: JSON.stringify(meta.clip),
    metrics: JSON.stringify(meta.metrics),
    version: meta.version,
  };
  if (optimizer) {
    const sd = optimizer.stateDict();
    const steps: Record<string, number> = {};
    for (const [key, s] of sd.state) {
      steps[key] = s.step;
      for (const [slot, t] of Object.entries(s.tensors)) {
        entries.push({ name: `optimizer.${key}.${slot}`, dtype: 'F32', shape: [...t.shape], data: new Float32Array((await t.data()) as Float32Array) });
      }
    }
    metadata.optimizer = JSON.stringify({ lr: sd.lr, steps });
  }
  return { entries, metadata };
}

function json<T>(reader: SafetensorsReader, key: string): T {
  const v = reader.metadata[key];
  if (v === undefined) throw new CheckpointError(reader.file, `__metadata__ has no '${key}'`);
  try {
    return JSON.parse(v) as T;
  } catch (e) {
    throw new CheckpointError(reader.file, `__metadata__.${key} is not valid JSON (${(e as Error).message})`);
  }
}

function int(reader: SafetensorsReader, key: string): number {
  const v = Number(reader.metadata[key]);
  if (!Number.isInteger(v) || v < 0) throw new CheckpointError(reader.file, `__metadata__.${key} must be an integer ≥ 0, got ${JSON.stringify(reader.metadata[key])}`);
  return v;
}

/** The metadata of a checkpoint, validated (reads no tensor). */
export function readCheckpointMeta(reader: SafetensorsReader): CheckpointMeta {
  const fmt = reader.metadata.format;
  if (fmt !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      reader.file,
      fmt === undefined ? 'not an lrdif checkpoint (no __metadata__.format)' : `unknown format ${JSON.stringify(fmt)} (expected ${CHECKPOINT_FORMAT})`,
    );
  }
  const stage = int(reader, 'stage');
  if (stage !== 1 && stage !== 2) throw new CheckpointError(reader.file, `__metadata__.stage must be 1 or 2, got ${stage}`);
  let config: LrdifConfig;
  try {
    // configs written before a field existed get the value that reproduces them
    config = validateLrdifConfig(withConfigDefaults(json<LrdifConfig>(reader, 'config')));
  } catch (e) {
    throw new CheckpointError(reader.file, (e as Error).message.replace(/^lrdif: /, ''));
  }
  const classNames = json<string[]>(reader, 'classNames');
  if (!Array.isArray(classNames) || classNames.length !== config.numClasses || !classNames.every((c) => typeof c === 'string')) {
    throw new CheckpointError(reader.file, `__metadata__.classNames must list ${config.numClasses} class names, got ${reader.metadata.classNames}`);
  }
  return {
    stage,
    epoch: int(reader, 'epoch'),
    step: int(reader, 'step'),
    config,
    classNames,
    rng: json(reader, 'rng'),
    train: json(reader, 'train'),
    clip: json(reader, 'clip'),
    metrics: json(reader, 'metrics'),
    version: reader.metadata.version ?? 'unknown',
  };
}

/** The model state of a checkpoint on the GPU (the caller disposes the tensors). */
export function readModelState(reader: SafetensorsReader): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  try {
    for (const name of reader.names()) {
      if (!name.startsWith('model.')) continue;
      out.set(name.slice('model.'.length), loadTensor(reader, name, 'f32'));
    }
  } catch (e) {
    for (const t of out.values()) t.dispose();
    throw e;
  }
  if (out.size === 0) throw new CheckpointError(reader.file, 'has no model.* tensors');
  return out;
}

/** The optimiser state of a checkpoint (null when it has none); the caller disposes the tensors. */
export function readOptimizerState(reader: SafetensorsReader): OptimizerStateDict | null {
  if (reader.metadata.optimizer === undefined) return null;
  const o = json<{ lr: number; steps: Record<string, number> }>(reader, 'optimizer');
  const state: OptimizerStateDict['state'] = new Map();
  try {
    for (const [key, step] of Object.entries(o.steps)) state.set(key, { step, tensors: {} });
    for (const name of reader.names()) {
      if (!name.startsWith('optimizer.')) continue;
      const rest = name.slice('optimizer.'.length);
      const dot = rest.lastIndexOf('.');
      const key = rest.slice(0, dot);
      const slot = rest.slice(dot + 1);
      const s = state.get(key);
      if (!s) throw new CheckpointError(reader.file, `tensor ${name} belongs to no parameter of __metadata__.optimizer.steps`);
      s.tensors[slot] = loadTensor(reader, name, 'f32');
    }
  } catch (e) {
    disposeOptimizerState({ lr: 0, state });
    throw e;
  }
  return { lr: o.lr, state };
}

export function disposeOptimizerState(s: OptimizerStateDict | null): void {
  if (!s) return;
  for (const p of s.state.values()) for (const t of Object.values(p.tensors)) t.dispose();
}

/** Loads a checkpoint's weights into a model (every key must match); errors name the file. */
export function loadModelWeights(reader: SafetensorsReader, model: LrdifModel): void {
  const state = readModelState(reader);
  try {
    model.loadStateDict(state);
  } catch (e) {
    throw new CheckpointError(reader.file, (e as Error).message.replace(/^lrdif: /, ''));
  } finally {
    for (const t of state.values()) t.dispose();
  }
}
