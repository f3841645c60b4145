/**
 * Node entry for CLIP weights: `loadClip(path)` takes a folder or a .safetensors file.
 *
 * A folder holds `model.safetensors` (Hugging Face), `open_clip_model.safetensors` (OpenCLIP on
 * the Hub) or a single other .safetensors file; a file path is used as given. Beside the
 * weights, `config.json` (a Hugging Face CLIPConfig) or `open_clip_config.json` gives the sizes;
 * without either they are inferred from the tensor shapes. The tokenizer is the folder's
 * `vocab.json` + `merges.txt` when present, otherwise OpenAI's bundled BPE file.
 * Tensors are read from the file one at a time with positional reads.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openSafetensorsFile } from '../../io/safetensors-node.js';
import { ClipConfigError } from './config.js';
import { ClipLoadError } from './layouts.js';
import { loadClipFromReader, type ClipConfigFile, type ClipLoadOptions } from './load.js';
import type { ClipModel } from './model.js';
import { loadClipTokenizer } from './tokenizer-node.js';
import type { ClipTokenizer } from './tokenizer.js';

export interface ClipFiles {
  weights: string;
  config: ClipConfigFile | null;
  /** The folder with vocab.json + merges.txt, or null for the bundled OpenAI BPE. */
  tokenizerDir: string | null;
}

const WEIGHT_NAMES = ['model.safetensors', 'open_clip_model.safetensors'];

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ClipConfigError(`cannot read '${file}': ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ClipConfigError(`'${file}' is not valid JSON (${(e as Error).message})`);
  }
}

function isClipConfig(json: unknown): boolean {
  if (typeof json !== 'object' || json === null) return false;
  const o = json as Record<string, unknown>;
  return o.model_type === 'clip' || 'vision_config' in o || 'text_config' in o || 'vision_config_dict' in o;
}

/** Finds the weights, the config and the tokenizer files for a folder or file path. */
export function resolveClipFiles(p: string): ClipFiles {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(p);
  } catch (e) {
    throw new ClipLoadError(p, `cannot read: ${(e as Error).message}`);
  }
  let weights: string;
  let dir: string;
  if (stat.isDirectory()) {
    dir = p;
    const entries = fs.readdirSync(p);
    if (entries.includes('model.safetensors.index.json') && !entries.includes('model.safetensors')) {
      throw new ClipLoadError(p, 'the weights are sharded (model.safetensors.index.json); sharded files are not supported, merge them into one model.safetensors');
    }
    const named = WEIGHT_NAMES.find((n) => entries.includes(n));
    const all = entries.filter((n) => n.endsWith('.safetensors')).sort();
    if (named) weights = path.join(p, named);
    else if (all.length === 1) weights = path.join(p, all[0]);
    else if (all.length === 0) throw new ClipLoadError(p, 'the folder has no .safetensors file (expected model.safetensors)');
    else throw new ClipLoadError(p, `the folder has several .safetensors files (${all.join(', ')}) and no model.safetensors: pass the file to use`);
  } else {
    weights = p;
    dir = path.dirname(p);
  }
  let config: ClipConfigFile | null = null;
  const hf = path.join(dir, 'config.json');
  const oc = path.join(dir, 'open_clip_config.json');
  if (fs.existsSync(hf)) {
    const json = readJson(hf);
    // a config.json of something else beside a bare weights file is not ours to read
    if (stat.isDirectory() || isClipConfig(json)) config = { kind: 'huggingface', json, file: hf };
  }
  if (!config && fs.existsSync(oc)) config = { kind: 'openclip', json: readJson(oc), file: oc };
  const tokenizerDir = fs.existsSync(path.join(dir, 'vocab.json')) && fs.existsSync(path.join(dir, 'merges.txt')) ? dir : null;
  return { weights, config, tokenizerDir };
}

/** The tokenizer that goes with a folder or file path (its vocab.json + merges.txt, or the bundled OpenAI BPE). */
export function loadClipTokenizerFor(p: string): ClipTokenizer {
  const { tokenizerDir } = resolveClipFiles(p);
  return tokenizerDir ? loadClipTokenizer(tokenizerDir) : loadClipTokenizer();
}

/**
 * Loads a CLIP model from a folder or a .safetensors file (see the file header). The tokenizer
 * is attached unless `options.tokenizer` is given (null: none).
 */
export async function loadClip(p: string, options: ClipLoadOptions = {}): Promise<ClipModel> {
  const files = resolveClipFiles(p);
  const tokenizer = options.tokenizer !== undefined ? options.tokenizer : files.tokenizerDir ? loadClipTokenizer(files.tokenizerDir) : loadClipTokenizer();
  const reader = openSafetensorsFile(files.weights);
  try {
    return await loadClipFromReader(reader, files.config, { ...options, tokenizer });
  } finally {
    reader.close();
  }
}
