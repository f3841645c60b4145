/**
 * TensorFlow.js weights (browser-safe): the `weights_manifest.json` format (or a `model.json`
 * holding one under `weightsManifest`) and its binary shards, decoded to host arrays and engine
 * tensors exactly as tfjs-core's `io.decodeWeights` (4.x) does.
 *
 * Format: the manifest is an array of groups `{ paths: [shard, ...], weights: [entry, ...] }`.
 * A group's shards, concatenated in order, hold its entries back to back in manifest order,
 * little-endian, without padding. An entry is `{ name, shape, dtype, quantization? }` with dtype
 * 'float32' | 'int32' | 'bool' (4, 4 and 1 bytes per value). With `quantization` the values
 * are stored as `quantization.dtype`:
 *   - 'uint8' / 'uint16' with `scale` and `min`: value = q·scale + min (computed in float64,
 *     stored as float32; int32 weights round it), 1 or 2 bytes per value;
 *   - 'float16' (float32 weights only): IEEE half precision, 2 bytes per value.
 * `original_dtype` (written by the Python converter) is accepted and ignored. TF.js has no
 * lookup-table quantization: any other `quantization.dtype` is an error, as in tfjs-core.
 * 'string' and 'complex64' entries cannot become engine tensors and are rejected by name.
 *
 * Every error is a `TfjsWeightsError` naming the manifest file and, where one is at fault, the
 * entry.
 */
import { tensor, fmtShape, type Shape, type Tensor } from '../autograd/tensor.js';
import type { GpuContext } from '../gpu/context.js';
import { f16BitsToF32, type SafetensorsEntry } from './safetensors.js';

export type TfjsDType = 'float32' | 'int32' | 'bool';
export type TfjsQuantizationDType = 'uint8' | 'uint16' | 'float16';

export interface TfjsQuantization {
  dtype: TfjsQuantizationDType;
  scale?: number;
  min?: number;
  original_dtype?: string;
}

export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: TfjsDType;
  quantization?: TfjsQuantization;
}

export interface TfjsManifestGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

/** One decoded weight: float32 → Float32Array, int32 → Int32Array, bool → Uint8Array (0/1). */
export interface TfjsWeight {
  name: string;
  shape: number[];
  dtype: TfjsDType;
  data: Float32Array | Int32Array | Uint8Array;
  /** How it was stored ('float32' etc. when not quantised). */
  storedAs: TfjsDType | TfjsQuantizationDType;
}

export class TfjsWeightsError extends Error {
  constructor(
    readonly file: string,
    readonly entry: string | null,
    readonly detail: string,
  ) {
    super(`TF.js weights '${file}'${entry !== null ? `, entry '${entry}'` : ''}: ${detail}`);
    this.name = 'TfjsWeightsError';
  }
}

const VALUE_BYTES: Record<TfjsDType | TfjsQuantizationDType, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

function sizeOfShape(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes an entry takes in its group's shards. */
export function tfjsEntryByteLength(spec: TfjsWeightSpec): number {
  return sizeOfShape(spec.shape) * VALUE_BYTES[spec.quantization ? spec.quantization.dtype : spec.dtype];
}

function describe(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * Checks a parsed manifest (the array of groups, or a model.json object with `weightsManifest`)
 * and returns it typed. `file` names the manifest in errors.
 */
export function parseTfjsManifest(json: unknown, file: string): TfjsManifestGroup[] {
  let groups = json;
  if (groups && typeof groups === 'object' && !Array.isArray(groups)) {
    if (!('weightsManifest' in groups))
      throw new TfjsWeightsError(file, null, 'not a weights manifest: expected an array of groups, or a model.json object with "weightsManifest"');
    groups = (groups as { weightsManifest: unknown }).weightsManifest;
  }
  if (!Array.isArray(groups)) throw new TfjsWeightsError(file, null, `the manifest must be an array of groups {paths, weights}, got ${describe(groups)}`);
  const seen = new Set<string>();
  return groups.map((g: unknown, gi: number): TfjsManifestGroup => {
    if (!g || typeof g !== 'object') throw new TfjsWeightsError(file, null, `group ${gi} must be an object {paths, weights}, got ${describe(g)}`);
    const { paths, weights } = g as { paths?: unknown; weights?: unknown };
    if (!Array.isArray(paths) || paths.length === 0 || !paths.every((p) => typeof p === 'string' && p.length > 0)) {
      throw new TfjsWeightsError(file, null, `group ${gi}: "paths" must be a non-empty array of shard file names, got ${describe(paths)}`);
    }
    if (!Array.isArray(weights)) throw new TfjsWeightsError(file, null, `group ${gi}: "weights" must be an array of entries, got ${describe(weights)}`);
    const specs = weights.map((w: unknown, wi: number) => {
      if (!w || typeof w !== 'object') throw new TfjsWeightsError(file, null, `group ${gi}, entry ${wi} must be an object {name, shape, dtype}, got ${describe(w)}`);
      const e = w as Record<string, unknown>;
      if (typeof e.name !== 'string' || e.name.length === 0)
        throw new TfjsWeightsError(file, null, `group ${gi}, entry ${wi}: "name" must be a non-empty string, got ${describe(e.name)}`);
      const name = e.name;
      if (seen.has(name)) throw new TfjsWeightsError(file, name, 'the name occurs twice in the manifest');
      seen.add(name);
      if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
        throw new TfjsWeightsError(file, name, `"shape" must be an array of non-negative integers, got ${describe(e.shape)}`);
      }
      const dtype = e.dtype;
      if (dtype === 'string' || dtype === 'complex64') {
        throw new TfjsWeightsError(file, name, `dtype '${dtype}' is valid TF.js but cannot be loaded as an engine tensor (supported: float32, int32, bool)`);
      }
      if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') {
        throw new TfjsWeightsError(file, name, `unknown dtype ${describe(dtype)} (supported: float32, int32, bool)`);
      }
      const spec: TfjsWeightSpec = { name, shape: [...(e.shape as number[])], dtype };
      if (e.quantization !== undefined && e.quantization !== null) {
        const q = e.quantization as Record<string, unknown>;
        if (typeof q !== 'object') throw new TfjsWeightsError(file, name, `"quantization" must be an object, got ${describe(q)}`);
        const qd = q.dtype;
        if (qd !== 'uint8' && qd !== 'uint16' && qd !== 'float16') {
          throw new TfjsWeightsError(file, name, `unknown quantization dtype ${describe(qd)} (TF.js knows uint8, uint16 and float16)`);
        }
        if (dtype === 'bool') throw new TfjsWeightsError(file, name, `a bool weight cannot be quantised (quantization dtype '${qd}')`);
        if (qd === 'float16' && dtype !== 'float32') throw new TfjsWeightsError(file, name, `float16 quantization applies to float32 weights only, this one is ${dtype}`);
        const quant: TfjsQuantization = { dtype: qd };
        if (qd !== 'float16') {
          if (typeof q.scale !== 'number' || !Number.isFinite(q.scale) || typeof q.min !== 'number' || !Number.isFinite(q.min)) {
            throw new TfjsWeightsError(file, name, `${qd} quantization needs finite numbers "scale" and "min", got scale ${describe(q.scale)}, min ${describe(q.min)}`);
          }
          quant.scale = q.scale;
          quant.min = q.min;
        }
        if (typeof q.original_dtype === 'string') quant.original_dtype = q.original_dtype;
        spec.quantization = quant;
      }
      return spec;
    });
    return { paths: [...(paths as string[])], weights: specs };
  });
}

function decodeEntry(spec: TfjsWeightSpec, bytes: Uint8Array): TfjsWeight {
  const n = sizeOfShape(spec.shape);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const q = spec.quantization;
  let data: Float32Array | Int32Array | Uint8Array;
  if (q) {
    const read = q.dtype === 'uint8' ? (i: number) => bytes[i] : (i: number) => dv.getUint16(2 * i, true);
    if (q.dtype === 'float16') {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = f16BitsToF32(dv.getUint16(2 * i, true));
      data = out;
    } else if (spec.dtype === 'float32') {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = read(i) * q.scale! + q.min!;
      data = out;
    } else {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.round(read(i) * q.scale! + q.min!);
      data = out;
    }
  } else if (spec.dtype === 'float32') {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
    data = out;
  } else if (spec.dtype === 'int32') {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = dv.getInt32(4 * i, true);
    data = out;
  } else {
    data = Uint8Array.from(bytes.subarray(0, n), (b) => (b ? 1 : 0));
  }
  return { name: spec.name, shape: [...spec.shape], dtype: spec.dtype, data, storedAs: q ? q.dtype : spec.dtype };
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Decodes one group from its shards' bytes (in `paths` order). The byte count must match the
 * entries exactly: short shards name the first entry that does not fit, long ones the last entry.
 */
export function decodeTfjsGroup(group: TfjsManifestGroup, shards: readonly Uint8Array[], file: string, groupIndex = 0): TfjsWeight[] {
  if (shards.length !== group.paths.length) {
    throw new TfjsWeightsError(
      file,
      group.weights[0]?.name ?? null,
      `group ${groupIndex} lists ${group.paths.length} shard(s) (${group.paths.join(', ')}) but ${shards.length} were given`,
    );
  }
  const bytes = concatBytes(shards);
  const out: TfjsWeight[] = [];
  let offset = 0;
  for (const spec of group.weights) {
    const len = tfjsEntryByteLength(spec);
    if (offset + len > bytes.byteLength) {
      throw new TfjsWeightsError(
        file,
        spec.name,
        `needs bytes ${offset}..${offset + len} (shape ${fmtShape(spec.shape)}, ${spec.quantization ? `${spec.quantization.dtype}-quantised ` : ''}${spec.dtype}) but group ${groupIndex}'s shard(s) ${group.paths.join(', ')} hold only ${bytes.byteLength} bytes (a truncated shard, or wrong shapes)`,
      );
    }
    out.push(decodeEntry(spec, bytes.subarray(offset, offset + len)));
    offset += len;
  }
  if (offset !== bytes.byteLength) {
    const last = group.weights[group.weights.length - 1]?.name ?? null;
    throw new TfjsWeightsError(
      file,
      last,
      `group ${groupIndex}'s entries end at byte ${offset}${last !== null ? ' (after this, its last entry)' : ''}, but its shard(s) ${group.paths.join(', ')} hold ${bytes.byteLength} bytes: ${bytes.byteLength - offset} bytes are left over (wrong shapes or dtypes, or a wrong shard)`,
    );
  }
  return out;
}

/** Reads one shard given its path as written in the manifest. */
export type TfjsShardReader = (path: string) => Uint8Array | Promise<Uint8Array>;

/**
 * Loads every group of a manifest through `readShard` (paths as written in the manifest,
 * resolved by the reader). A shard that cannot be read is an error naming the first entry
 * stored in it.
 */
export async function loadTfjsWeights(manifest: unknown, readShard: TfjsShardReader, file: string): Promise<TfjsWeightMap> {
  const groups = parseTfjsManifest(manifest, file);
  const weights = new Map<string, TfjsWeight>();
  for (let gi = 0; gi < groups.length; gi++) {
    const g = groups[gi];
    const shards: Uint8Array[] = [];
    let start = 0;
    for (const p of g.paths) {
      let bytes: Uint8Array;
      try {
        bytes = await readShard(p);
      } catch (e) {
        // the first entry whose bytes reach into this shard
        let end = 0;
        let entry: string | null = g.weights[g.weights.length - 1]?.name ?? null;
        for (const w of g.weights) {
          end += tfjsEntryByteLength(w);
          if (end > start) {
            entry = w.name;
            break;
          }
        }
        throw new TfjsWeightsError(file, entry, `cannot read shard '${p}' of group ${gi}: ${(e as Error).message}`);
      }
      shards.push(bytes);
      start += bytes.byteLength;
    }
    for (const w of decodeTfjsGroup(g, shards, file, gi)) weights.set(w.name, w);
  }
  return new TfjsWeightMap(file, weights);
}

/**
 * Fetches a manifest and its shards (shard paths relative to the manifest's URL), for browsers
 * (and anything with `fetch`).
 */
export async function fetchTfjsWeights(manifestUrl: string | URL, fetchFn: typeof fetch = fetch): Promise<TfjsWeightMap> {
  const url = new URL(manifestUrl, typeof location !== 'undefined' ? location.href : undefined);
  const file = url.href;
  const res = await fetchFn(url);
  if (!res.ok) throw new TfjsWeightsError(file, null, `cannot fetch the manifest: HTTP ${res.status} ${res.statusText}`);
  let json: unknown;
  try {
    json = await res.json();
  } catch (e) {
    throw new TfjsWeightsError(file, null, `not JSON: ${(e as Error).message}`);
  }
  return loadTfjsWeights(
    json,
    async (p) => {
      const r = await fetchFn(new URL(p, url));
      if (!r.ok) throw new Error(`HTTP ${r.status} ${r.statusText}`);
      return new Uint8Array(await r.arrayBuffer());
    },
    file,
  );
}

/** Decoded TF.js weights by name, with checked access for model loaders. */
export class TfjsWeightMap {
  constructor(
    /** The manifest, for error messages. */
    readonly file: string,
    private readonly weights: ReadonlyMap<string, TfjsWeight>,
  ) {}

  names(): string[] {
    return [...this.weights.keys()];
  }

  has(name: string): boolean {
    return this.weights.has(name);
  }

  get size(): number {
    return this.weights.size;
  }

  /** The weight `name`; an error naming the manifest and the entry if it is absent or (given `shape`) shaped otherwise. */
  get(name: string, shape?: Shape): TfjsWeight {
    const w = this.weights.get(name);
    if (!w) {
      const near = this.names().filter((n) => n.split('/')[0] === name.split('/')[0]);
      throw new TfjsWeightsError(
        this.file,
        name,
        `the network needs this entry but the manifest has no such name (${this.size} entries${near.length ? `; under '${name.split('/')[0]}/': ${near.slice(0, 8).join(', ')}${near.length > 8 ? ', ...' : ''}` : ''})`,
      );
    }
    if (shape && (shape.length !== w.shape.length || shape.some((d, i) => d !== w.shape[i]))) {
      throw new TfjsWeightsError(this.file, name, `the network needs shape ${fmtShape(shape)}, the manifest has ${fmtShape(w.shape)}`);
    }
    return w;
  }

  /** Float values of a float32 weight (checked as `get` does). */
  float32(name: string, shape?: Shape): Float32Array {
    const w = this.get(name, shape);
    if (w.dtype !== 'float32') throw new TfjsWeightsError(this.file, name, `expected a float32 weight, the manifest has ${w.dtype}`);
    return w.data as Float32Array;
  }

  /** Uploads a weight: float32 → f32, int32 and bool → i32. */
  tensor(name: string, opts: { shape?: Shape; ctx?: GpuContext } = {}): Tensor {
    const w = this.get(name, opts.shape);
    const t = w.dtype === 'float32' ? tensor(w.data, w.shape, 'f32', opts.ctx) : tensor(Int32Array.from(w.data), w.shape, 'i32', opts.ctx);
    t.name = name;
    return t;
  }

  /** Every weight as a safetensors entry (F32, I32, BOOL), names and shapes as in the manifest. */
  toSafetensorsEntries(): SafetensorsEntry[] {
    return [...this.weights.values()].map((w) => ({ name: w.name, dtype: w.dtype === 'float32' ? 'F32' : w.dtype === 'int32' ? 'I32' : 'BOOL', shape: w.shape, data: w.data }));
  }
}
