/**
 * safetensors ↔ engine tensors. Kept apart from `safetensors.ts` so the parser has no GPU
 * dependency.
 */
import { tensor, fmtShape, type DType, type Shape, type Tensor } from '../autograd/tensor.js';
import type { GpuContext } from '../gpu/context.js';
import { isFloatDType, SafetensorsError, type SafetensorsEntry, type SafetensorsReader } from './safetensors.js';

export interface LoadTensorOptions {
  /** The shape the caller expects; a different shape is an error naming the file and tensor. */
  shape?: Shape;
  ctx?: GpuContext;
}

/**
 * Uploads one tensor. `dtype` defaults to the natural engine type ('f32' for float dtypes,
 * 'i32' for integer and BOOL dtypes); integers may be loaded as 'f32', floats never as 'i32'.
 */
export function loadTensor(reader: SafetensorsReader, name: string, dtype?: DType, options: LoadTensorOptions = {}): Tensor {
  const info = reader.info(name);
  const isFloat = isFloatDType(info.dtype);
  const target: DType = dtype ?? (isFloat ? 'f32' : 'i32');
  if (target === 'i32' && isFloat) {
    throw new SafetensorsError('read', `cannot load ${info.dtype} data as i32 (load it as f32)`, reader.file, name);
  }
  if (options.shape && (options.shape.length !== info.shape.length || options.shape.some((d, i) => d !== info.shape[i]))) {
    throw new SafetensorsError('shape', `expected shape ${fmtShape(options.shape)}, the file has ${fmtShape(info.shape)} (${info.dtype})`, reader.file, name);
  }
  const data = target === 'f32' ? reader.getHostArray(name, 'f32') : reader.getHostArray(name, 'native');
  const t = tensor(data, info.shape, target, options.ctx);
  t.name = name;
  return t;
}

/** Loads several tensors (all of them by default) into a name → Tensor record. */
export function loadTensors(reader: SafetensorsReader, names: readonly string[] = reader.names(), ctx?: GpuContext): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  try {
    for (const n of names) out[n] = loadTensor(reader, n, undefined, { ctx });
  } catch (e) {
    for (const t of Object.values(out)) t.dispose();
    throw e;
  }
  return out;
}

/** Reads tensors back to the host as F32 / I32 writer entries (e.g. for a checkpoint). */
export async function tensorsToEntries(tensors: Readonly<Record<string, Tensor>>): Promise<SafetensorsEntry[]> {
  const out: SafetensorsEntry[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    const data = await t.data();
    out.push({ name, dtype: t.dtype === 'i32' ? 'I32' : 'F32', shape: [...t.shape], data });
  }
  return out;
}
