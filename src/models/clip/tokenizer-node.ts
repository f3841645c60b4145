/**
 * Node adapter for the CLIP tokenizer: loads OpenAI's bpe_simple_vocab_16e6.txt(.gz) (zlib) or
 * a Hugging Face folder (vocab.json + merges.txt) from disk, and finds the copy shipped in
 * `assets/clip/`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { ClipTokenizer, ClipTokenizerError, isGzip, type ClipTokenizerOptions } from './tokenizer.js';

export const BUNDLED_BPE = path.join('assets', 'clip', 'bpe_simple_vocab_16e6.txt.gz');

/** The bundled OpenAI merges file: looked up from this module's folder upwards (src/ or dist/src/). */
export function bundledBpePath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = path.join(dir, BUNDLED_BPE);
    if (fs.existsSync(p)) return p;
    dir = path.dirname(dir);
  }
  throw new ClipTokenizerError(`cannot find ${BUNDLED_BPE} above ${path.dirname(fileURLToPath(import.meta.url))}`);
}

/**
 * Loads a tokenizer from a path: a folder with vocab.json + merges.txt (Hugging Face), or
 * OpenAI's merges file (gzipped or not). Without a path, the bundled OpenAI file.
 */
export function loadClipTokenizer(source: string = bundledBpePath(), options: ClipTokenizerOptions = {}): ClipTokenizer {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch (e) {
    throw new ClipTokenizerError(`cannot read '${source}': ${(e as Error).message}`);
  }
  if (stat.isDirectory()) {
    const vocab = path.join(source, 'vocab.json');
    const merges = path.join(source, 'merges.txt');
    for (const f of [vocab, merges])
      if (!fs.existsSync(f)) throw new ClipTokenizerError(`'${source}' is a folder without ${path.basename(f)} (expected Hugging Face's vocab.json and merges.txt)`);
    return ClipTokenizer.fromHuggingFace(fs.readFileSync(vocab, 'utf8'), fs.readFileSync(merges, 'utf8'), options);
  }
  const bytes = fs.readFileSync(source);
  const text = (isGzip(bytes) ? gunzipSync(bytes) : bytes).toString('utf8');
  return ClipTokenizer.fromMerges(text, options);
}
