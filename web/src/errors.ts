/**
 * Errors the page shows as they are: plain sentences naming the file and what to do.
 * `PageError` is one of those; `plainMessage` turns any error into one line for the page.
 */
import { SafetensorsError, SafetensorsReader } from '../../src/io/safetensors.js';

export class PageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PageError';
  }
}

/** The first line of an error's message without the `lrdif: ` prefix. */
export function plainMessage(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.replace(/^lrdif: /, '');
}

/** A safetensors reader over a file's bytes, or a PageError saying the file is not safetensors. */
export function readSafetensors(bytes: Uint8Array, name: string): SafetensorsReader {
  try {
    return SafetensorsReader.fromBytes(bytes, name);
  } catch (e) {
    if (e instanceof SafetensorsError) {
      throw new PageError(`${name} is not a safetensors file (${e.detail}). Pick a .safetensors file: an lrdif checkpoint or a CLIP model.`);
    }
    throw e;
  }
}

/** Shortens a long list of problems ("a; b; c; …") to its first `keep` items and a count. */
export function shortenList(message: string, keep = 3): string {
  const parts = message.split('; ');
  if (parts.length <= keep) return message;
  return `${parts.slice(0, keep).join('; ')}; … and ${parts.length - keep} more`;
}
