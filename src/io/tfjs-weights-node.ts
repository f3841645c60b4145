/** Node adapter for TF.js weights: a manifest (or model.json) and its shards read from disk. */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadTfjsWeights, TfjsWeightsError, type TfjsWeightMap } from './tfjs-weights.js';

/**
 * Reads `manifestPath` (`*-weights_manifest.json` or a `model.json` with `weightsManifest`) and
 * the shards it lists, which are resolved relative to the manifest's folder.
 */
export async function readTfjsWeights(manifestPath: string): Promise<TfjsWeightMap> {
  let text: string;
  try {
    text = readFileSync(manifestPath, 'utf8');
  } catch (e) {
    throw new TfjsWeightsError(manifestPath, null, `cannot read the manifest: ${(e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TfjsWeightsError(manifestPath, null, `not valid JSON: ${(e as Error).message}`);
  }
  const dir = dirname(resolve(manifestPath));
  return loadTfjsWeights(
    json,
    (p) => {
      const full = resolve(dir, p);
      try {
        return new Uint8Array(readFileSync(full));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        throw new Error(code === 'ENOENT' ? `no such file ${full}` : (e as Error).message);
      }
    },
    manifestPath,
  );
}
