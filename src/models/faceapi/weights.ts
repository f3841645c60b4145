/**
 * Where face-api weights come from: anything that hands out float32 arrays by TF.js name and
 * shape. `TfjsWeightMap` (a manifest and its shards) is one; `safetensorsFaceApiSource` wraps a
 * safetensors file written by `lrdif convert --tfjs` (same names, same TF layouts).
 *
 * TF layouts and the engine's: conv filters are HWIO [kh, kw, in, out] (→ OIHW), depthwise
 * filters [kh, kw, C, 1] (→ [C, 1, kh, kw]), pointwise filters [1, 1, in, out] (→ [out, in, 1, 1]),
 * dense weights [in, out] (kept).
 */
import { fmtShape, type Shape } from '../../autograd/tensor.js';
import type { SafetensorsReader } from '../../io/safetensors.js';
import { TfjsWeightsError } from '../../io/tfjs-weights.js';

export interface FaceApiWeightSource {
  /** Names the source in errors (the manifest or safetensors file). */
  readonly file: string;
  has(name: string): boolean;
  /** The float32 values of `name`, which must have exactly `shape`; errors name the file and the entry. */
  float32(name: string, shape: Shape): Float32Array;
}

/** A safetensors file holding face-api weights under their TF.js names and layouts. */
export function safetensorsFaceApiSource(reader: SafetensorsReader): FaceApiWeightSource {
  const file = reader.file ?? '(in-memory safetensors)';
  const names = new Set(reader.names());
  return {
    file,
    has: (name) => names.has(name),
    float32(name, shape) {
      if (!names.has(name)) throw new TfjsWeightsError(file, name, `the network needs this entry but the file has no such tensor (${names.size} tensors)`);
      const info = reader.info(name);
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i])) {
        throw new TfjsWeightsError(file, name, `the network needs shape ${fmtShape(shape)}, the file has ${fmtShape(info.shape)}`);
      }
      return reader.getHostArray(name, 'f32') as Float32Array;
    },
  };
}

/** HWIO [kh, kw, I, O] → OIHW [O, I, kh, kw]. */
export function hwioToOihw(w: Float32Array, kh: number, kw: number, ci: number, co: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < ci; i++) {
        for (let o = 0; o < co; o++) out[((o * ci + i) * kh + y) * kw + x] = w[((y * kw + x) * ci + i) * co + o];
      }
    }
  }
  return out;
}
