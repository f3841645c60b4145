/**
 * CLIP models as files in the page: a ClipModel written as a Hugging Face folder's two files
 * (`model.safetensors` with Hugging Face tensor names, F32, and `config.json`), and a CLIP read
 * back from such files (or from a single .safetensors whose sizes the loader can infer).
 */
import { serializeSafetensors, type SafetensorsEntry } from '../../src/io/safetensors.js';
import { SafetensorsReader } from '../../src/io/safetensors.js';
import { clipConfigToHuggingFace } from '../../src/models/clip/config.js';
import { loadClipFromReader, type ClipConfigFile } from '../../src/models/clip/load.js';
import type { ClipModel } from '../../src/models/clip/model.js';
import type { ClipTokenizer } from '../../src/models/clip/tokenizer.js';
import { readSafetensors, PageError } from './errors.js';

const TOKEN_CHUNK = /^text_model\.embeddings\.token_embedding\.weight_chunk\d+$/;

/** model.safetensors bytes and config.json text of a CLIP (the token table in one piece). */
export async function clipToFiles(clip: ClipModel): Promise<{ weights: Uint8Array<ArrayBuffer>; config: string }> {
  const entries: SafetensorsEntry[] = [];
  const table = clip.text_model.embeddings.token_embedding;
  let tableDone = false;
  for (const [name, t] of clip.stateDict()) {
    if (TOKEN_CHUNK.test(name)) {
      if (tableDone) continue;
      tableDone = true;
      const all = new Float32Array(table.rows * table.dim);
      for (let i = 0; i < table.chunks.length; i++) all.set((await table.chunks[i].data()) as Float32Array, table.starts[i] * table.dim);
      entries.push({ name: 'text_model.embeddings.token_embedding.weight', dtype: 'F32', shape: [table.rows, table.dim], data: all });
      continue;
    }
    entries.push({ name, dtype: 'F32', shape: [...t.shape], data: new Float32Array((await t.data()) as Float32Array) });
  }
  return { weights: serializeSafetensors(entries, { format: 'pt' }), config: `${JSON.stringify(clipConfigToHuggingFace(clip.config), null, 2)}\n` };
}

/** A CLIP from a weights file's bytes and, optionally, a Hugging Face config.json's text. */
export async function clipFromFiles(
  weights: { bytes: Uint8Array; name: string },
  config: { text: string; name: string } | null,
  tokenizer: ClipTokenizer | null,
): Promise<ClipModel> {
  const reader = readSafetensors(weights.bytes, weights.name);
  let cfg: ClipConfigFile | null = null;
  if (config) {
    let json: unknown;
    try {
      json = JSON.parse(config.text);
    } catch (e) {
      throw new PageError(
        `${config.name} is not valid JSON (${(e as Error).message}); give the CLIP's Hugging Face config.json, or leave it out to infer the sizes from the weights`,
      );
    }
    cfg = { kind: 'huggingface', json, file: config.name };
  }
  try {
    return await loadClipFromReader(reader, cfg, { tokenizer });
  } catch (e) {
    throw new PageError(`${weights.name} is not a CLIP model lrdif can load: ${(e as Error).message.replace(/^lrdif: /, '')}`);
  }
}

export { SafetensorsReader };
