/**
 * safetensors: parse, validate, read and write. Pure: no GPU and no Node modules; sources are
 * byte arrays, an abstract random-access `ByteSource` (the Node adapter reads a file with
 * positional reads), or a fetch `Response`.
 *
 * Format: 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__"?: { string: string } }`
 * (offsets relative to the first byte after the header), then the tensors' bytes,
 * little-endian, row-major, contiguous, with no holes and nothing after the last tensor.
 */

/** Bytes per element of every dtype the format defines. */
export const SAFETENSORS_DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;
export type SafetensorsDType = keyof typeof SAFETENSORS_DTYPE_BYTES;

const FLOAT_DTYPES: ReadonlySet<SafetensorsDType> = new Set(['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2']);

/** True for dtypes that `getHostArray(name, 'native')` returns as Float32Array. */
export function isFloatDType(dtype: SafetensorsDType): boolean {
  return FLOAT_DTYPES.has(dtype);
}

/** The reference implementation's limit; checked before the header is allocated. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Which validation rule an error reports; also printed in the message as `[rule]`. */
export type SafetensorsRule =
  | 'file-too-short'
  | 'header-length'
  | 'header-utf8'
  | 'header-json'
  | 'header-not-object'
  | 'duplicate-name'
  | 'entry'
  | 'dtype'
  | 'shape'
  | 'offsets'
  | 'size-mismatch'
  | 'past-end'
  | 'overlap'
  | 'hole'
  | 'trailing-bytes'
  | 'metadata'
  | 'unknown-tensor'
  | 'int32-range'
  | 'read'
  | 'write';

export class SafetensorsError extends Error {
  constructor(
    readonly rule: SafetensorsRule,
    readonly detail: string,
    readonly file?: string,
    readonly tensor?: string,
  ) {
    super(`safetensors ${file !== undefined ? `'${file}'` : '(in-memory data)'}${tensor !== undefined ? `, tensor '${tensor}'` : ''}: ${detail} [${rule}]`);
    this.name = 'SafetensorsError';
  }
}

/** Random-access bytes: a file, a buffer, ... Reads are synchronous and exact. */
export interface ByteSource {
  readonly byteLength: number;
  /** Fills `dest` with the bytes at [offset, offset + dest.byteLength); throws if they are not there. */
  readInto(offset: number, dest: Uint8Array): void;
  /** Releases the source (a file descriptor); further reads fail. */
  close?(): void;
}

export function toUint8Array(bytes: ArrayBuffer | ArrayBufferView): Uint8Array {
  return bytes instanceof Uint8Array ? bytes : ArrayBuffer.isView(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : new Uint8Array(bytes);
}

/** A `ByteSource` over bytes already in memory (no copy). */
export function memorySource(bytes: ArrayBuffer | ArrayBufferView): ByteSource {
  const b = toUint8Array(bytes);
  return {
    byteLength: b.byteLength,
    readInto(offset: number, dest: Uint8Array): void {
      if (offset < 0 || offset + dest.byteLength > b.byteLength) {
        throw new RangeError(`read of ${dest.byteLength} bytes at ${offset} is outside the ${b.byteLength}-byte buffer`);
      }
      dest.set(b.subarray(offset, offset + dest.byteLength));
    },
  };
}

export interface TensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Bytes of data (elements × dtype size). */
  readonly byteLength: number;
}

interface Entry extends TensorInfo {
  readonly name: string;
  /** Offset of the first byte in the file (8 + N + begin). */
  readonly fileOffset: number;
  readonly begin: number;
  readonly end: number;
}

export interface ParsedHeader {
  /** N, the JSON header's length in bytes. */
  readonly headerLength: number;
  /** 8 + N: where the data starts in the file. */
  readonly dataStart: number;
  /** Tensors in file (offset) order. */
  readonly entries: readonly Entry[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Bytes of data the header describes (the last tensor's end offset). */
  readonly dataLength: number;
}

/** Reads N from the first 8 bytes; checks it against the cap and, when known, the file size. */
export function readHeaderLength(first8: Uint8Array, fileSize: number | undefined, file?: string): number {
  if (first8.byteLength < 8 || (fileSize !== undefined && fileSize < 8)) {
    const n = fileSize ?? first8.byteLength;
    throw new SafetensorsError('file-too-short', `the file is ${n} byte${n === 1 ? '' : 's'} long, shorter than the 8-byte header length`, file);
  }
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo; // inexact above 2^53, but those fail the cap anyway
  if (n > MAX_HEADER_BYTES) {
    throw new SafetensorsError('header-length', `header length ${hi === 0 ? n : `${n.toExponential(3)}`} is over the ${MAX_HEADER_BYTES}-byte limit`, file);
  }
  if (fileSize !== undefined && 8 + n > fileSize) {
    throw new SafetensorsError('header-length', `header length ${n} runs past the end of the ${fileSize}-byte file`, file);
  }
  return n;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Validates the JSON header. With `fileSize` it also checks that the data fits the file exactly;
 * without (a stream of unknown length) those checks are left to the caller.
 */
export function parseHeader(headerBytes: Uint8Array, fileSize: number | undefined, file?: string): ParsedHeader {
  const headerLength = headerBytes.byteLength;
  let text: string;
  try {
    text = UTF8.decode(headerBytes);
  } catch {
    throw new SafetensorsError('header-utf8', `the ${headerLength}-byte header is not valid UTF-8`, file);
  }
  if (!text.startsWith('{')) {
    throw new SafetensorsError('header-not-object', `the header must be a JSON object starting with '{', it starts with ${JSON.stringify(text.slice(0, 16))}`, file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError('header-json', `the header is not valid JSON (${(e as Error).message})`, file);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsError('header-not-object', `the header must be a JSON object, got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json}`, file);
  }
  const dup = findDuplicateKey(text);
  if (dup) {
    if (dup.parent === undefined) throw new SafetensorsError('duplicate-name', `the header names '${dup.key}' more than once`, file, dup.key);
    throw new SafetensorsError('duplicate-name', `the entry has the field '${dup.key}' more than once`, file, dup.parent);
  }

  const dataStart = 8 + headerLength;
  const dataAvailable = fileSize === undefined ? undefined : fileSize - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(raw, file);
      continue;
    }
    entries.push(checkEntry(name, raw, dataStart, dataAvailable, file));
  }

  // File order; zero-byte tensors may share an offset with their neighbours.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: Entry | undefined;
  for (const e of entries) {
    if (e.begin < pos) {
      throw new SafetensorsError('overlap', `data_offsets [${e.begin}, ${e.end}] overlap tensor '${prev!.name}' at [${prev!.begin}, ${prev!.end}]`, file, e.name);
    }
    if (e.begin > pos) {
      const where = prev ? `after tensor '${prev.name}' (which ends at ${pos})` : 'at the start of the data';
      throw new SafetensorsError('hole', `data_offsets [${e.begin}, ${e.end}] leave a hole of ${e.begin - pos} unused bytes ${where}`, file, e.name);
    }
    pos = e.end;
    prev = e;
  }
  if (dataAvailable !== undefined && pos < dataAvailable) {
    throw new SafetensorsError(
      'trailing-bytes',
      `${dataAvailable - pos} bytes follow the last tensor's data (the header describes ${pos} bytes of data, the file has ${dataAvailable})`,
      file,
    );
  }
  return { headerLength, dataStart, entries, metadata, dataLength: pos };
}

function checkMetadata(raw: unknown, file: string | undefined): Record<string, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SafetensorsError(
      'metadata',
      `'__metadata__' must be an object mapping strings to strings, got ${Array.isArray(raw) ? 'an array' : raw === null ? 'null' : typeof raw}`,
      file,
    );
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof v !== 'string') throw new SafetensorsError('metadata', `'__metadata__' value for key '${k}' must be a string, got ${describeJson(v)}`, file);
    out[k] = v;
  }
  return out;
}

function checkEntry(name: string, raw: unknown, dataStart: number, dataAvailable: number | undefined, file: string | undefined): Entry {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SafetensorsError('entry', `the entry must be an object {dtype, shape, data_offsets}, got ${describeJson(raw)}`, file, name);
  }
  const r = raw as Record<string, unknown>;
  const dtype = r.dtype;
  if (typeof dtype !== 'string' || !Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, dtype)) {
    throw new SafetensorsError('dtype', `unknown dtype ${describeJson(dtype)} (known: ${Object.keys(SAFETENSORS_DTYPE_BYTES).join(', ')})`, file, name);
  }
  const shape = r.shape;
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError('shape', `shape must be an array of non-negative integers, got ${describeJson(shape)}`, file, name);
  }
  const offs = r.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0) || offs[0] > offs[1]) {
    throw new SafetensorsError('offsets', `data_offsets must be [begin, end] with integers 0 ≤ begin ≤ end, got ${describeJson(offs)}`, file, name);
  }
  const [begin, end] = offs as [number, number];
  const elemBytes = SAFETENSORS_DTYPE_BYTES[dtype as SafetensorsDType];
  // Number products of safe integers: an overflowing product is huge or Infinity, never equal to a real span.
  let elements = 1;
  for (const d of shape as number[]) elements *= d;
  const byteLength = elements * elemBytes;
  if (byteLength !== end - begin) {
    throw new SafetensorsError(
      'size-mismatch',
      `shape [${shape.join(', ')}] × ${dtype} (${elemBytes} byte${elemBytes === 1 ? '' : 's'}) is ${byteLength} bytes, but data_offsets [${begin}, ${end}] span ${end - begin}`,
      file,
      name,
    );
  }
  if (dataAvailable !== undefined && end > dataAvailable) {
    throw new SafetensorsError('past-end', `data_offsets [${begin}, ${end}] run past the end of the data (${dataAvailable} bytes after the header)`, file, name);
  }
  return { name, dtype: dtype as SafetensorsDType, shape: [...(shape as number[])], byteLength, fileOffset: dataStart + begin, begin, end };
}

function describeJson(v: unknown): string {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isJsonSpace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * JSON.parse keeps the last of duplicate keys silently; this scan of already-valid JSON finds
 * the first key repeated within one object. `parent` is the top-level key of the entry it is in.
 */
function findDuplicateKey(text: string): { key: string; parent?: string } | undefined {
  const stack: Array<Set<string> | null> = []; // null marks an array
  let topKey: string | undefined;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      let j = i + 1;
      for (;;) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) j += 2;
        else if (d === 0x22) break;
        else j++;
      }
      const keys = stack[stack.length - 1];
      if (keys) {
        let k = j + 1;
        while (isJsonSpace(text.charCodeAt(k))) k++;
        if (text.charCodeAt(k) === 0x3a) {
          const key = JSON.parse(text.slice(i, j + 1)) as string;
          if (keys.has(key)) return stack.length === 1 ? { key } : { key, parent: topKey };
          keys.add(key);
          if (stack.length === 1) topKey = key;
        }
      }
      i = j;
    } else if (c === 0x7b) stack.push(new Set());
    else if (c === 0x5b) stack.push(null);
    else if (c === 0x7d || c === 0x5d) stack.pop();
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Element conversions

let f16Table: Float32Array | undefined;
/** All 65536 half-precision values as f32 (exact: every f16 is an f32). */
function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
      f16Table[h] = h & 0x8000 ? -v : v;
    }
  }
  return f16Table;
}

let e4m3Table: Float32Array | undefined;
/** float8 e4m3fn (bias 7, no infinities, S.1111.111 is NaN), as torch.float8_e4m3fn. */
function e4m3Lut(): Float32Array {
  if (!e4m3Table) {
    e4m3Table = new Float32Array(256);
    for (let b = 0; b < 256; b++) {
      const e = (b >> 3) & 0xf;
      const m = b & 7;
      const v = e === 15 && m === 7 ? NaN : e === 0 ? m * 2 ** -9 : (1 + m / 8) * 2 ** (e - 7);
      e4m3Table[b] = b & 0x80 ? -v : v;
    }
  }
  return e4m3Table;
}

const cvF32 = new Float32Array(1);
const cvU32 = new Uint32Array(cvF32.buffer);

/** f32 → IEEE half bits, round to nearest even; overflow → ±Inf, NaN stays NaN. */
export function f32ToF16Bits(x: number): number {
  cvF32[0] = x;
  const bits = cvU32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h; // a carry into bit 10 is the smallest normal: still the right encoding
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // a carry may reach 0x7c00 (Inf): correct
  return sign | h;
}

/** f32 → bfloat16 bits, round to nearest even (as torch), NaN stays (quiet) NaN. */
export function f32ToBf16Bits(x: number): number {
  cvF32[0] = x;
  const bits = cvU32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && (bits & 0x7fffff) !== 0) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) / 65536) >>> 0;
}

export function f16BitsToF32(h: number): number {
  return halfTable()[h & 0xffff];
}

type Target = 'f32' | 'i32';

/**
 * Converts `count` elements at the start of `chunk` (an aligned copy of file bytes) into
 * dest[at ...]. `index0` is the element index of the chunk's first element, for error messages.
 */
function convertChunk(
  dtype: SafetensorsDType,
  chunk: ArrayBuffer,
  count: number,
  dest: Float32Array | Int32Array,
  at: number,
  target: Target,
  index0: number,
  file: string | undefined,
  name: string,
): void {
  switch (dtype) {
    case 'F32':
      dest.set(new Float32Array(chunk, 0, count), at);
      return;
    case 'F64':
      dest.set(new Float64Array(chunk, 0, count), at);
      return;
    case 'F16': {
      const src = new Uint16Array(chunk, 0, count);
      const t = halfTable();
      for (let i = 0; i < count; i++) dest[at + i] = t[src[i]];
      return;
    }
    case 'BF16': {
      const src = new Uint16Array(chunk, 0, count);
      const d = new Uint32Array(dest.buffer, dest.byteOffset + at * 4, count);
      for (let i = 0; i < count; i++) d[i] = src[i] << 16;
      return;
    }
    case 'F8_E5M2': {
      const src = new Uint8Array(chunk, 0, count);
      const t = halfTable();
      for (let i = 0; i < count; i++) dest[at + i] = t[src[i] << 8];
      return;
    }
    case 'F8_E4M3': {
      const src = new Uint8Array(chunk, 0, count);
      const t = e4m3Lut();
      for (let i = 0; i < count; i++) dest[at + i] = t[src[i]];
      return;
    }
    case 'I32':
      dest.set(new Int32Array(chunk, 0, count), at);
      return;
    case 'I16':
      dest.set(new Int16Array(chunk, 0, count), at);
      return;
    case 'I8':
      dest.set(new Int8Array(chunk, 0, count), at);
      return;
    case 'U16':
      dest.set(new Uint16Array(chunk, 0, count), at);
      return;
    case 'U8':
      dest.set(new Uint8Array(chunk, 0, count), at);
      return;
    case 'BOOL': {
      const src = new Uint8Array(chunk, 0, count);
      for (let i = 0; i < count; i++) dest[at + i] = src[i] !== 0 ? 1 : 0;
      return;
    }
    case 'U32': {
      const src = new Uint32Array(chunk, 0, count);
      if (target === 'i32') {
        for (let i = 0; i < count; i++) {
          if (src[i] > 0x7fffffff) throw rangeError(file, name, dtype, src[i], index0 + i);
          dest[at + i] = src[i];
        }
      } else dest.set(src, at);
      return;
    }
    case 'I64':
    case 'U64': {
      // Pairs of 32-bit words (lo, hi): no BigInt per element.
      const w = new Int32Array(chunk, 0, count * 2);
      for (let i = 0; i < count; i++) {
        const lo = w[2 * i];
        const hi = w[2 * i + 1];
        if (target === 'i32') {
          const fits = dtype === 'I64' ? hi === lo >> 31 : hi === 0 && lo >= 0;
          if (!fits) throw rangeError(file, name, dtype, dtype === 'I64' ? hi * 2 ** 32 + (lo >>> 0) : (hi >>> 0) * 2 ** 32 + (lo >>> 0), index0 + i);
          dest[at + i] = lo;
        } else {
          dest[at + i] = (dtype === 'I64' ? hi : hi >>> 0) * 2 ** 32 + (lo >>> 0);
        }
      }
      return;
    }
  }
}

function rangeError(file: string | undefined, name: string, dtype: SafetensorsDType, value: number, index: number): SafetensorsError {
  return new SafetensorsError('int32-range', `${dtype} value ${value} at element ${index} does not fit in int32 (load it as 'f32' instead)`, file, name);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Conversion chunk: bounds the scratch memory when converting a large tensor. */
const CHUNK_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Reader

export class SafetensorsReader {
  readonly headerLength: number;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly entries = new Map<string, Entry>();

  /** Validates the header of `source`; `file` names it in errors. Reads only the header. */
  constructor(
    private readonly source: ByteSource,
    readonly file?: string,
  ) {
    if (!LITTLE_ENDIAN) throw new SafetensorsError('read', 'big-endian hosts are not supported (typed arrays would need byte swapping)', file);
    const size = source.byteLength;
    const first = new Uint8Array(Math.min(8, size));
    this.readAt(0, first, 'the header length');
    const n = readHeaderLength(first, size, file);
    const header = new Uint8Array(n); // n ≤ MAX_HEADER_BYTES and within the file: checked above
    this.readAt(8, header, 'the header');
    const parsed = parseHeader(header, size, file);
    this.headerLength = parsed.headerLength;
    this.metadata = parsed.metadata;
    for (const e of parsed.entries) this.entries.set(e.name, e);
  }

  static fromBytes(bytes: ArrayBuffer | ArrayBufferView, file?: string): SafetensorsReader {
    return new SafetensorsReader(memorySource(bytes), file);
  }

  /**
   * Reads a fetch `Response`: the header first (so a bad file fails before its data downloads),
   * then the body into one buffer of the size the header announces. The whole file is held in
   * memory once; tensors are copied out of it on demand.
   */
  static async fromResponse(response: Response, file: string | undefined = response.url || undefined): Promise<SafetensorsReader> {
    if (!response.ok) throw new SafetensorsError('read', `HTTP ${response.status} ${response.statusText}`.trim(), file);
    if (!response.body) return SafetensorsReader.fromBytes(await response.arrayBuffer(), file);
    const bytes = await readStream(response.body.getReader(), knownLength(response), file);
    return SafetensorsReader.fromBytes(bytes, file);
  }

  /** Tensor names in file order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  info(name: string): TensorInfo {
    const e = this.entry(name);
    return { dtype: e.dtype, shape: e.shape, byteLength: e.byteLength };
  }

  /** The tensor's bytes as stored (little-endian), e.g. F16 for devices with shader-f16. */
  getRaw(name: string): Uint8Array {
    const e = this.entry(name);
    const out = new Uint8Array(e.byteLength);
    this.read(e, e.fileOffset, out);
    return out;
  }

  /**
   * A new host array: 'native' (default) gives Float32Array for float dtypes (F64, F16, BF16,
   * F8 converted) and Int32Array for integer and BOOL dtypes (I64/U64/U32 narrowed with a range
   * check); 'f32' gives Float32Array for every dtype.
   */
  getHostArray(name: string, as: 'f32'): Float32Array;
  getHostArray(name: string, as?: 'native'): Float32Array | Int32Array;
  getHostArray(name: string, as: 'f32' | 'native' = 'native'): Float32Array | Int32Array {
    const e = this.entry(name);
    const target: Target = as === 'f32' || isFloatDType(e.dtype) ? 'f32' : 'i32';
    const count = e.byteLength / SAFETENSORS_DTYPE_BYTES[e.dtype];
    const dest = target === 'f32' ? new Float32Array(count) : new Int32Array(count);
    // Same layout: read straight into the destination, no intermediate copy.
    if ((e.dtype === 'F32' && target === 'f32') || (e.dtype === 'I32' && target === 'i32')) {
      this.read(e, e.fileOffset, new Uint8Array(dest.buffer));
      return dest;
    }
    const elemBytes = SAFETENSORS_DTYPE_BYTES[e.dtype];
    const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / elemBytes));
    const scratch = new ArrayBuffer(Math.min(count, perChunk) * elemBytes);
    for (let i = 0; i < count; i += perChunk) {
      const k = Math.min(perChunk, count - i);
      this.read(e, e.fileOffset + i * elemBytes, new Uint8Array(scratch, 0, k * elemBytes));
      convertChunk(e.dtype, scratch, k, dest, i, target, i, this.file, e.name);
    }
    return dest;
  }

  /**
   * Elements [start, start + dest.length) of a tensor, converted to f32 as getHostArray(name,
   * 'f32') converts them, written into `dest`: reads a large tensor in slices through one
   * scratch array instead of allocating it whole.
   */
  readF32Into(name: string, start: number, dest: Float32Array): void {
    const e = this.entry(name);
    const elemBytes = SAFETENSORS_DTYPE_BYTES[e.dtype];
    const count = e.byteLength / elemBytes;
    if (!Number.isInteger(start) || start < 0 || start + dest.length > count) {
      throw new SafetensorsError('read', `elements [${start}, ${start + dest.length}) are outside the tensor's ${count}`, this.file, name);
    }
    if (e.dtype === 'F32') {
      this.read(e, e.fileOffset + start * 4, new Uint8Array(dest.buffer, dest.byteOffset, dest.byteLength));
      return;
    }
    const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / elemBytes));
    const scratch = new ArrayBuffer(Math.min(dest.length, perChunk) * elemBytes);
    for (let i = 0; i < dest.length; i += perChunk) {
      const k = Math.min(perChunk, dest.length - i);
      this.read(e, e.fileOffset + (start + i) * elemBytes, new Uint8Array(scratch, 0, k * elemBytes));
      convertChunk(e.dtype, scratch, k, dest, i, 'f32', start + i, this.file, e.name);
    }
  }

  close(): void {
    this.source.close?.();
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) {
      const names = this.names();
      const list = names.length <= 12 ? names.join(', ') : `${names.slice(0, 12).join(', ')}, ... (${names.length} in all)`;
      throw new SafetensorsError('unknown-tensor', `no such tensor (the file has: ${list || 'no tensors'})`, this.file, name);
    }
    return e;
  }

  private read(e: Entry, offset: number, dest: Uint8Array): void {
    this.readAt(offset, dest, `${dest.byteLength} bytes at offset ${offset}`, e.name);
  }

  private readAt(offset: number, dest: Uint8Array, what: string, tensor?: string): void {
    try {
      this.source.readInto(offset, dest);
    } catch (err) {
      if (err instanceof SafetensorsError) throw err;
      throw new SafetensorsError('read', `reading ${what} failed: ${(err as Error).message}`, this.file, tensor);
    }
  }
}

function knownLength(response: Response): number | undefined {
  // Content-Length counts encoded bytes; the body stream is decoded, so it only applies unencoded.
  const enc = response.headers.get('content-encoding');
  if (enc && enc !== 'identity') return undefined;
  const len = response.headers.get('content-length');
  if (len === null || !/^\d+$/.test(len.trim())) return undefined;
  return Number(len);
}

/** Streams a safetensors body into one exactly-sized buffer, validating the header as soon as it arrives. */
async function readStream(reader: ReadableStreamDefaultReader<Uint8Array>, declared: number | undefined, file: string | undefined): Promise<Uint8Array> {
  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let done = false;
  const pull = async (): Promise<boolean> => {
    const r = await reader.read();
    if (r.done) {
      done = true;
      return false;
    }
    pending.push(r.value);
    pendingBytes += r.value.byteLength;
    return true;
  };
  const gather = (): Uint8Array => {
    const out = new Uint8Array(pendingBytes);
    let at = 0;
    for (const p of pending) {
      out.set(p, at);
      at += p.byteLength;
    }
    pending.length = 0;
    pending.push(out);
    return out;
  };
  try {
    while (pendingBytes < 8 && (await pull()));
    const head = gather();
    const n = readHeaderLength(head, done ? head.byteLength : declared, file);
    while (pendingBytes < 8 + n && (await pull()));
    if (pendingBytes < 8 + n) throw new SafetensorsError('header-length', `header length ${n} runs past the end of the ${pendingBytes}-byte file`, file);
    const start = gather();
    const parsed = parseHeader(start.subarray(8, 8 + n), declared, file);
    const total = 8 + n + parsed.dataLength;
    let out: Uint8Array;
    try {
      out = new Uint8Array(total);
    } catch {
      throw new SafetensorsError('read', `cannot allocate the ${total} bytes the header describes`, file);
    }
    const first = start.subarray(0, Math.min(total, start.byteLength));
    out.set(first);
    let at = first.byteLength;
    if (start.byteLength > total) throw new SafetensorsError('trailing-bytes', `bytes follow the last tensor's data (the header describes ${total} bytes in all)`, file);
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      if (at + r.value.byteLength > total) throw new SafetensorsError('trailing-bytes', `bytes follow the last tensor's data (the header describes ${total} bytes in all)`, file);
      out.set(r.value, at);
      at += r.value.byteLength;
    }
    if (at < total) throw new SafetensorsError('past-end', `the body ended after ${at} bytes, but the header describes ${total}`, file);
    return out;
  } catch (err) {
    void reader.cancel().catch(() => undefined);
    if (err instanceof SafetensorsError) throw err;
    throw new SafetensorsError('read', `reading the response failed: ${(err as Error).message}`, file);
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

export type SafetensorsData = ArrayLike<number> | BigInt64Array | BigUint64Array;

export interface SafetensorsEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  /**
   * Row-major values. The matching typed array is written as is (Float32Array for F32,
   * Int32Array for I32, BigInt64Array for I64, ...). F16/BF16 take a Uint16Array of raw bits or
   * any numbers (rounded to nearest even); F8 takes raw bits in a Uint8Array; integer dtypes take
   * integers in range; BOOL takes 0/1.
   */
  data: SafetensorsData;
}

export interface SafetensorsPlan {
  /** The 8-byte length and the space-padded JSON header. */
  readonly header: Uint8Array;
  /** Each tensor's little-endian bytes, in file order (views of the input where possible). */
  readonly tensors: ReadonlyArray<{ readonly name: string; readonly bytes: Uint8Array }>;
  readonly totalBytes: number;
}

const NATIVE_ARRAY: Partial<Record<SafetensorsDType, Function>> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  F8_E4M3: Uint8Array,
  F8_E5M2: Uint8Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U64: BigUint64Array,
  U32: Uint32Array,
  U16: Uint16Array,
  U8: Uint8Array,
};

const INT_RANGE: Partial<Record<SafetensorsDType, [number, number]>> = {
  I32: [-(2 ** 31), 2 ** 31 - 1],
  I16: [-32768, 32767],
  I8: [-128, 127],
  U32: [0, 2 ** 32 - 1],
  U16: [0, 65535],
  U8: [0, 255],
  BOOL: [0, 1],
  I64: [-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  U64: [0, Number.MAX_SAFE_INTEGER],
};

function writeError(name: string, detail: string): SafetensorsError {
  return new SafetensorsError('write', detail, undefined, name);
}

function encodeData(e: SafetensorsEntry, count: number): Uint8Array {
  const { dtype, data, name } = e;
  if (data.length !== count) throw writeError(name, `data has ${data.length} elements, shape [${e.shape.join(', ')}] needs ${count}`);
  const native = NATIVE_ARRAY[dtype];
  if (native && data instanceof native) {
    const v = data as unknown as ArrayBufferView;
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    throw writeError(name, `${data.constructor.name} data can only be written as ${data instanceof BigInt64Array ? 'I64' : 'U64'}, not ${dtype}`);
  }
  const values = data as ArrayLike<number>;
  switch (dtype) {
    case 'F64':
      return bytesOf(Float64Array.from(values));
    case 'F32':
      return bytesOf(Float32Array.from(values));
    case 'F16':
    case 'BF16': {
      const out = new Uint16Array(count);
      const conv = dtype === 'F16' ? f32ToF16Bits : f32ToBf16Bits;
      for (let i = 0; i < count; i++) out[i] = conv(values[i]);
      return bytesOf(out);
    }
    case 'F8_E4M3':
    case 'F8_E5M2':
      throw writeError(name, `${dtype} data must be raw bits in a Uint8Array`);
    default: {
      const [lo, hi] = INT_RANGE[dtype]!;
      for (let i = 0; i < count; i++) {
        const v = values[i];
        if (!Number.isInteger(v) || v < lo || v > hi) throw writeError(name, `element ${i} is ${v}, not an integer in ${dtype}'s range [${lo}, ${hi}]`);
      }
      if (dtype === 'I64') return bytesOf(BigInt64Array.from(Array.from(values, (v) => BigInt(v))));
      if (dtype === 'U64') return bytesOf(BigUint64Array.from(Array.from(values, (v) => BigInt(v))));
      if (dtype === 'BOOL') return Uint8Array.from(values);
      const Ctor = NATIVE_ARRAY[dtype] as unknown as { from(a: ArrayLike<number>): ArrayBufferView };
      return bytesOf(Ctor.from(values));
    }
  }
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/**
 * Checks the entries and lays out the file: header padded with spaces to a multiple of 8 bytes
 * (as the reference implementation does, so the data is 8-byte aligned), tensors in the order
 * given, contiguous.
 */
export function planSafetensors(entries: readonly SafetensorsEntry[], metadata?: Readonly<Record<string, string>>): SafetensorsPlan {
  if (!LITTLE_ENDIAN) throw new SafetensorsError('write', 'big-endian hosts are not supported');
  const seen = new Set<string>();
  const parts: string[] = [];
  if (metadata !== undefined) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new SafetensorsError('metadata', `metadata value for key '${k}' must be a string, got ${typeof v}`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  const tensors: Array<{ name: string; bytes: Uint8Array }> = [];
  let offset = 0;
  for (const e of entries) {
    if (typeof e.name !== 'string') throw new SafetensorsError('write', `tensor names must be strings, got ${typeof e.name}`);
    if (e.name === '__metadata__') throw writeError(e.name, `'__metadata__' is reserved for the metadata map`);
    if (seen.has(e.name)) throw new SafetensorsError('duplicate-name', 'the name is given more than once', undefined, e.name);
    seen.add(e.name);
    if (!Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPE_BYTES, e.dtype)) throw new SafetensorsError('dtype', `unknown dtype '${String(e.dtype)}'`, undefined, e.name);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError('shape', `shape must be an array of non-negative integers, got ${describeJson(e.shape)}`, undefined, e.name);
    }
    let count = 1;
    for (const d of e.shape) count *= d;
    const bytes = encodeData(e, count);
    parts.push(`${JSON.stringify(e.name)}:${JSON.stringify({ dtype: e.dtype, shape: [...e.shape], data_offsets: [offset, offset + bytes.byteLength] })}`);
    tensors.push({ name: e.name, bytes });
    offset += bytes.byteLength;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.byteLength / 8) * 8;
  const header = new Uint8Array(8 + n).fill(0x20, 8);
  new DataView(header.buffer).setBigUint64(0, BigInt(n), true);
  header.set(json, 8);
  return { header, tensors, totalBytes: header.byteLength + offset };
}

/** The whole file in one buffer. */
export function serializeSafetensors(entries: readonly SafetensorsEntry[], metadata?: Readonly<Record<string, string>>): Uint8Array<ArrayBuffer> {
  const plan = planSafetensors(entries, metadata);
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.header);
  let at = plan.header.byteLength;
  for (const t of plan.tensors) {
    out.set(t.bytes, at);
    at += t.bytes.byteLength;
  }
  return out;
}
