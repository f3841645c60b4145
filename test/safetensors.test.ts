/**
 * safetensors: files written by hand in Python (test/golden/make_safetensors_fixtures.py) read
 * back here, our writer's files checked by the same script with torch, round trips of every
 * dtype, one test per rejection rule, the Node file adapter and the fetch Response path.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SafetensorsReader,
  SafetensorsError,
  serializeSafetensors,
  memorySource,
  f32ToF16Bits,
  f32ToBf16Bits,
  SAFETENSORS_DTYPE_BYTES,
  loadTensor,
  loadTensors,
  tensorsToEntries,
  type SafetensorsEntry,
  type SafetensorsDType,
  type SafetensorsRule,
  type ByteSource,
} from '../src/io/index.js';
import { openSafetensorsFile, writeSafetensorsFile } from '../src/io/safetensors-node.js';
import { gpu } from './helpers/gpu.js';
import { tensor } from '../src/node.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const GOLDEN = path.join(HERE, 'golden', 'safetensors');
const SCRIPT = path.join(HERE, 'golden', 'make_safetensors_fixtures.py');
const PYTHON = '/usr/bin/python3';

interface ExpectedTensor {
  dtype: SafetensorsDType;
  shape: number[];
  f32_bits?: number[];
  ints?: string[];
  raw_u16?: number[];
  int32_range_error_at?: number;
}
interface ExpectedFile {
  metadata: Record<string, string>;
  order: string[];
  tensors: Record<string, ExpectedTensor>;
}
const expected = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'expected.json'), 'utf8')) as Record<string, ExpectedFile>;

function bitsOf(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

/** Bit-exact f32 comparison, except that any NaN matches any NaN (payloads are not part of the contract). */
function expectF32Bits(actual: Float32Array, expectedBits: number[], what: string): void {
  expect(actual.length, `${what}: length`).toBe(expectedBits.length);
  const got = bitsOf(actual);
  const f = new Float32Array(new Uint32Array(expectedBits).buffer);
  for (let i = 0; i < got.length; i++) {
    if (Number.isNaN(f[i])) expect(Number.isNaN(actual[i]), `${what}[${i}] should be NaN`).toBe(true);
    else expect(got[i], `${what}[${i}]: got ${actual[i]}, expected ${f[i]}`).toBe(expectedBits[i]);
  }
}

function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function expectRejected(fn: () => unknown, rule: SafetensorsRule, ...parts: string[]): SafetensorsError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected a SafetensorsError [${rule}]`).toBeInstanceOf(SafetensorsError);
  const e = err as SafetensorsError;
  expect(e.rule, e.message).toBe(rule);
  expect(e.message).toContain(`[${rule}]`);
  for (const p of parts) expect(e.message).toContain(p);
  return e;
}

describe('safetensors: Python-written fixtures', () => {
  for (const [file, exp] of Object.entries(expected)) {
    it(`reads ${file} (from bytes and from a file path)`, () => {
      const full = path.join(GOLDEN, file);
      const readers = [SafetensorsReader.fromBytes(fs.readFileSync(full), file), openSafetensorsFile(full)];
      try {
        for (const r of readers) {
          expect(r.names()).toEqual(exp.order);
          expect({ ...r.metadata }).toEqual(exp.metadata);
          for (const [name, t] of Object.entries(exp.tensors)) {
            const info = r.info(name);
            expect(info.dtype).toBe(t.dtype);
            expect([...info.shape]).toEqual(t.shape);
            expect(info.byteLength).toBe(shapeSize(t.shape) * SAFETENSORS_DTYPE_BYTES[t.dtype]);
            expect(r.getRaw(name).byteLength).toBe(info.byteLength);
            if (t.f32_bits) expectF32Bits(r.getHostArray(name, 'f32'), t.f32_bits, `${file}:${name}`);
            if (t.ints) {
              const native = r.getHostArray(name);
              expect(native).toBeInstanceOf(Int32Array);
              expect(Array.from(native, String)).toEqual(t.ints);
              expect(Array.from(r.getHostArray(name, 'f32'))).toEqual(t.ints.map((s) => Math.fround(Number(s))));
            } else if (t.int32_range_error_at !== undefined) {
              expectRejected(() => r.getHostArray(name), 'int32-range', `tensor '${name}'`, `element ${t.int32_range_error_at}`, 'does not fit in int32');
            } else {
              const native = r.getHostArray(name);
              expect(native).toBeInstanceOf(Float32Array);
              expectF32Bits(native as Float32Array, t.f32_bits!, `${file}:${name} native`);
            }
            if (t.raw_u16) {
              const raw = r.getRaw(name);
              expect(Array.from(new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2))).toEqual(t.raw_u16);
            }
          }
        }
      } finally {
        for (const r of readers) r.close();
      }
    });
  }

  it('rounds f32 to f16 as numpy and to bf16 as torch (nearest even, overflow, subnormals, NaN)', () => {
    const conv = JSON.parse(fs.readFileSync(path.join(GOLDEN, 'conversions.json'), 'utf8')) as { f32_bits: number[]; f16_bits: number[]; bf16_bits: number[] };
    const inputs = new Float32Array(new Uint32Array(conv.f32_bits).buffer);
    const isNaN16 = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    const isNaNbf = (h: number) => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
    for (let i = 0; i < inputs.length; i++) {
      const h = f32ToF16Bits(inputs[i]);
      const b = f32ToBf16Bits(inputs[i]);
      if (isNaN16(conv.f16_bits[i])) expect(isNaN16(h), `f16 of NaN`).toBe(true);
      else expect(h, `f16 of ${inputs[i]}`).toBe(conv.f16_bits[i]);
      if (isNaNbf(conv.bf16_bits[i])) expect(isNaNbf(b), `bf16 of NaN`).toBe(true);
      else expect(b, `bf16 of ${inputs[i]}`).toBe(conv.bf16_bits[i]);
    }
    // The writer uses the same rounding when given numbers for F16/BF16.
    const bytes = serializeSafetensors([
      { name: 'h', dtype: 'F16', shape: [inputs.length], data: inputs },
      { name: 'b', dtype: 'BF16', shape: [inputs.length], data: inputs },
    ]);
    const r = SafetensorsReader.fromBytes(bytes);
    const h = r.getRaw('h');
    const h16 = new Uint16Array(h.buffer, 0, inputs.length);
    for (let i = 0; i < inputs.length; i++) if (!isNaN16(conv.f16_bits[i])) expect(h16[i]).toBe(conv.f16_bits[i]);
  });
});

// Every dtype, with its natural typed array and (where allowed) plain numbers.
function everyDtypeEntries(): SafetensorsEntry[] {
  return [
    { name: 'f64', dtype: 'F64', shape: [2, 2], data: new Float64Array([1 / 3, -1e300, 5e-324, -0]) },
    { name: 'f32', dtype: 'F32', shape: [3], data: new Float32Array([1.5, -2.25, 3e-42]) },
    { name: 'f16', dtype: 'F16', shape: [2, 3], data: [0.5, -1024, 65504, 2 ** -24, -0, 0.099975586] },
    { name: 'f16raw', dtype: 'F16', shape: [2], data: new Uint16Array([0x3c00, 0xfc00]) },
    { name: 'bf16', dtype: 'BF16', shape: [4], data: [1, -3.5, 2 ** 100, 0.0078125] },
    { name: 'e4m3', dtype: 'F8_E4M3', shape: [3], data: new Uint8Array([0x38, 0x7e, 0x81]) },
    { name: 'e5m2', dtype: 'F8_E5M2', shape: [3], data: new Uint8Array([0x3c, 0x7c, 0x01]) },
    { name: 'i64', dtype: 'I64', shape: [3], data: new BigInt64Array([-(2n ** 31n), 2n ** 31n - 1n, 7n]) },
    { name: 'i64n', dtype: 'I64', shape: [2], data: [-5, 123456] },
    { name: 'i32', dtype: 'I32', shape: [2], data: new Int32Array([-(2 ** 31), 2 ** 31 - 1]) },
    { name: 'i16', dtype: 'I16', shape: [3], data: [-32768, 32767, 0] },
    { name: 'i8', dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
    { name: 'u64', dtype: 'U64', shape: [2], data: new BigUint64Array([0n, 2n ** 31n - 1n]) },
    { name: 'u32', dtype: 'U32', shape: [2], data: [0, 2 ** 31 - 1] },
    { name: 'u16', dtype: 'U16', shape: [2], data: new Uint16Array([0, 65535]) },
    { name: 'u8', dtype: 'U8', shape: [1, 3], data: [0, 128, 255] },
    { name: 'bool', dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    { name: 'scalar', dtype: 'F32', shape: [], data: [42] },
    { name: 'empty', dtype: 'I32', shape: [2, 0, 3], data: [] },
  ];
}

/** What each entry reads back as with getHostArray(name, 'f32'), computed from the inputs. */
function expectedF32(e: SafetensorsEntry): number[] {
  if (e.name === 'f16raw') return [1, -Infinity];
  if (e.name === 'e4m3') return [1, 448, -(2 ** -9)]; // 0x38 = 2^0, 0x7e = 1.75·2^8, 0x81 = −(1/8)·2^-6
  if (e.name === 'e5m2') return [1, Infinity, 2 ** -16]; // the top byte of an f16
  return Array.from(e.data as ArrayLike<number | bigint>, (v) => Math.fround(Number(v)));
}

/** What integer entries read back as natively (Int32Array): the exact values. */
function expectedInts(e: SafetensorsEntry): number[] {
  return Array.from(e.data as ArrayLike<number | bigint>, (v) => Number(v));
}

describe('safetensors: writer and reader round trip', () => {
  it('round-trips every dtype, in order, with metadata', () => {
    const entries = everyDtypeEntries();
    const meta = { author: 'lrdif', ключ: 'значение' };
    const bytes = serializeSafetensors(entries, meta);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const r = SafetensorsReader.fromBytes(bytes, 'roundtrip.safetensors');
    expect(r.names()).toEqual(entries.map((e) => e.name));
    expect({ ...r.metadata }).toEqual(meta);
    for (const e of entries) {
      expect(r.info(e.name).dtype).toBe(e.dtype);
      expect([...r.info(e.name).shape]).toEqual([...e.shape]);
      expect(Array.from(r.getHostArray(e.name, 'f32')), e.name).toEqual(expectedF32(e));
      const native = r.getHostArray(e.name);
      if (['F64', 'F32', 'F16', 'BF16', 'F8_E4M3', 'F8_E5M2'].includes(e.dtype)) expect(native, e.name).toBeInstanceOf(Float32Array);
      else {
        expect(native, e.name).toBeInstanceOf(Int32Array);
        expect(Array.from(native), e.name).toEqual(expectedInts(e));
      }
      const d = e.data as ArrayLike<number> & Partial<ArrayBufferView>;
      if (ArrayBuffer.isView(d)) expect(r.getRaw(e.name)).toEqual(new Uint8Array(d.buffer!, d.byteOffset, d.byteLength));
    }
  });

  it('narrows 64-bit and U32 integers only when they fit in int32', () => {
    const r = SafetensorsReader.fromBytes(
      serializeSafetensors([
        { name: 'neg', dtype: 'I64', shape: [2], data: new BigInt64Array([1n, -(2n ** 31n) - 1n]) },
        { name: 'u64', dtype: 'U64', shape: [2], data: new BigUint64Array([3n, 2n ** 63n]) },
        { name: 'u32', dtype: 'U32', shape: [3], data: new Uint32Array([1, 2, 2 ** 31]) },
      ]),
      'wide.safetensors',
    );
    expectRejected(() => r.getHostArray('neg'), 'int32-range', "'wide.safetensors'", "tensor 'neg'", 'I64 value -2147483649 at element 1');
    expectRejected(() => r.getHostArray('u64'), 'int32-range', "tensor 'u64'", 'U64 value 9223372036854776000 at element 1');
    expectRejected(() => r.getHostArray('u32'), 'int32-range', "tensor 'u32'", 'U32 value 2147483648 at element 2');
    expect(Array.from(r.getHostArray('neg', 'f32'))).toEqual([1, -(2 ** 31) - 1].map(Math.fround));
    expect(Array.from(r.getHostArray('u64', 'f32'))).toEqual([3, 2 ** 63]);
    expect(Array.from(r.getHostArray('u32', 'f32'))).toEqual([1, 2, 2 ** 31]);
  });

  it('converts large tensors in bounded chunks (F16 and I64 over several chunks)', () => {
    const n = 1_500_001; // > 1 MiB of F16 and of I64: several conversion chunks, odd tail
    const vals = new Float32Array(n);
    for (let i = 0; i < n; i++) vals[i] = ((i * 7919) % 4097) - 2048; // exact in f16
    const ints = new Int32Array(2 * n); // I64 as (lo, hi) words
    for (let i = 0; i < n; i++) {
      ints[2 * i] = i * 1021 - 700_000_000;
      ints[2 * i + 1] = ints[2 * i] < 0 ? -1 : 0;
    }
    const r = SafetensorsReader.fromBytes(
      serializeSafetensors([
        { name: 'h', dtype: 'F16', shape: [n], data: vals },
        { name: 'q', dtype: 'I64', shape: [n], data: new BigInt64Array(ints.buffer) },
      ]),
    );
    const h = r.getHostArray('h');
    const q = r.getHostArray('q');
    expect([h.length, q.length]).toEqual([n, n]);
    let bad = -1; // one loop instead of a deep-equality diff of 1.5M elements
    for (let i = 0; i < n && bad < 0; i++) if (h[i] !== vals[i] || q[i] !== ints[2 * i]) bad = i;
    expect(bad).toBe(-1);
  });

  it('reads only the header when opened, then only the bytes of the tensor asked for', () => {
    const bytes = serializeSafetensors([
      { name: 'a', dtype: 'F32', shape: [1000], data: new Float32Array(1000).fill(1) },
      { name: 'b', dtype: 'F16', shape: [10], data: new Float32Array(10).fill(2) },
    ]);
    const inner = memorySource(bytes);
    let read = 0;
    const counting: ByteSource = {
      byteLength: inner.byteLength,
      readInto(offset, dest) {
        read += dest.byteLength;
        inner.readInto(offset, dest);
      },
    };
    const r = new SafetensorsReader(counting);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(read).toBe(8 + n);
    r.getHostArray('b');
    expect(read).toBe(8 + n + 20);
    r.getHostArray('a');
    expect(read).toBe(8 + n + 20 + 4000);
  });

  it('rejects bad writer input with errors naming the tensor', () => {
    const f = (e: Partial<SafetensorsEntry>) => () => serializeSafetensors([{ name: 't', dtype: 'F32', shape: [2], data: [1, 2], ...e }]);
    expectRejected(f({ data: [1, 2, 3] }), 'write', "tensor 't'", 'data has 3 elements, shape [2] needs 2');
    expectRejected(f({ dtype: 'I8', data: [1, 300] }), 'write', "tensor 't'", "element 1 is 300, not an integer in I8's range [-128, 127]");
    expectRejected(f({ dtype: 'I32', data: [1, 0.5] }), 'write', 'element 1 is 0.5');
    expectRejected(f({ dtype: 'BOOL', data: new Uint8Array([0, 2]) }), 'write', "element 1 is 2, not an integer in BOOL's range [0, 1]");
    expectRejected(f({ dtype: 'F8_E4M3', data: [1, 2] }), 'write', 'F8_E4M3 data must be raw bits in a Uint8Array');
    expectRejected(f({ dtype: 'I32', data: new BigInt64Array(2) }), 'write', 'BigInt64Array data can only be written as I64');
    expectRejected(f({ dtype: 'F4' as SafetensorsDType }), 'dtype', "unknown dtype 'F4'");
    expectRejected(f({ shape: [-2] }), 'shape', "tensor 't'");
    expectRejected(f({ name: '__metadata__' }), 'write', 'reserved');
    expectRejected(
      () =>
        serializeSafetensors([
          { name: 'x', dtype: 'F32', shape: [], data: [1] },
          { name: 'x', dtype: 'F32', shape: [], data: [1] },
        ]),
      'duplicate-name',
      "tensor 'x'",
    );
    expectRejected(() => serializeSafetensors([], { k: 5 as unknown as string }), 'metadata', "key 'k'");
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-built invalid files: one per rule.

function build(header: string | Uint8Array, dataBytes = 0, n?: number): Uint8Array {
  const h = typeof header === 'string' ? new TextEncoder().encode(header) : header;
  const out = new Uint8Array(8 + h.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(n ?? h.byteLength), true);
  out.set(h, 8);
  return out;
}
const FILE = 'bad.safetensors';
const open = (bytes: Uint8Array) => () => SafetensorsReader.fromBytes(bytes, FILE);
const t = (dtype: string, shape: unknown, offsets: unknown) => JSON.stringify({ dtype, shape, data_offsets: offsets });

describe('safetensors: rejection rules', () => {
  it('file shorter than 8 bytes', () => {
    expectRejected(open(new Uint8Array(5)), 'file-too-short', `'${FILE}'`, 'the file is 5 bytes long, shorter than the 8-byte header length');
  });
  it('header length over 100 MB (checked before allocating)', () => {
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true);
    expectRejected(open(b), 'header-length', 'over the 100000000-byte limit');
    new DataView(b.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    expectRejected(open(b), 'header-length', 'over the 100000000-byte limit');
  });
  it('header length past the end of the file', () => {
    expectRejected(open(build('{}', 0, 100)), 'header-length', 'header length 100 runs past the end of the 10-byte file');
  });
  it('header that is not UTF-8', () => {
    expectRejected(open(build(new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]))), 'header-utf8', 'the 6-byte header is not valid UTF-8');
  });
  it('header that is not valid JSON', () => {
    expectRejected(open(build('{"a": {"dtype": "F32",')), 'header-json', 'the header is not valid JSON');
  });
  it('header that is not an object', () => {
    expectRejected(open(build('[1, 2]')), 'header-not-object', "starting with '{'");
    expectRejected(open(build(' {}')), 'header-not-object', "starting with '{'");
  });
  it('entry that is not an object', () => {
    expectRejected(open(build('{"w": 5}')), 'entry', "tensor 'w'", 'the entry must be an object {dtype, shape, data_offsets}, got 5');
  });
  it('unknown dtype', () => {
    expectRejected(open(build(`{"w":${t('F4', [1], [0, 1])}}`, 1)), 'dtype', "tensor 'w'", 'unknown dtype "F4"');
    expectRejected(open(build(`{"w":{"shape":[1],"data_offsets":[0,1]}}`, 1)), 'dtype', 'unknown dtype nothing');
  });
  it('shapes that are not arrays of non-negative integers', () => {
    for (const s of [[-1], [1.5], '3', [[2]], [1e300], null]) {
      expectRejected(open(build(`{"w":${t('U8', s, [0, 1])}}`, 1)), 'shape', "tensor 'w'", `shape must be an array of non-negative integers, got ${JSON.stringify(s)}`);
    }
  });
  it('malformed data_offsets', () => {
    for (const o of [[0], [4, 0], [-4, 0], [0, 'x'], null]) {
      expectRejected(open(build(`{"w":${t('U8', [0], o)}}`)), 'offsets', "tensor 'w'", 'data_offsets must be [begin, end]');
    }
  });
  it('duplicate names (which JSON.parse would silently merge)', () => {
    const w = t('U8', [1], [0, 1]);
    expectRejected(open(build(`{"w":${w},"w":${w}}`, 1)), 'duplicate-name', "tensor 'w'", "the header names 'w' more than once");
    expectRejected(open(build(`{"w":${w}, "\\u0077" :${w}}`, 1)), 'duplicate-name', "names 'w' more than once");
    expectRejected(open(build(`{"w":{"dtype":"U8","dtype":"F32","shape":[1],"data_offsets":[0,1]}}`, 1)), 'duplicate-name', "tensor 'w'", "the field 'dtype' more than once");
    // The same key in different objects is fine.
    expect(SafetensorsReader.fromBytes(build(`{"__metadata__":{"w":"x"},"w":${w}}`, 1)).names()).toEqual(['w']);
  });
  it('offsets that disagree with shape × dtype size', () => {
    expectRejected(
      open(build(`{"w":${t('F32', [2, 3], [0, 20])}}`, 20)),
      'size-mismatch',
      "tensor 'w'",
      'shape [2, 3] × F32 (4 bytes) is 24 bytes, but data_offsets [0, 20] span 20',
    );
    // Products far beyond the file fail here, before anything is allocated.
    expectRejected(open(build(`{"w":${t('F64', [2 ** 40, 2 ** 40, 2 ** 40], [0, 8])}}`, 8)), 'size-mismatch', "tensor 'w'");
  });
  it('offsets past the end of the file', () => {
    expectRejected(open(build(`{"w":${t('F32', [2], [0, 8])}}`, 4)), 'past-end', "tensor 'w'", 'data_offsets [0, 8] run past the end of the data (4 bytes after the header)');
  });
  it('overlapping offsets', () => {
    expectRejected(open(build(`{"a":${t('F32', [2], [0, 8])},"b":${t('F32', [2], [4, 12])}}`, 12)), 'overlap', "tensor 'b'", "overlap tensor 'a' at [0, 8]");
  });
  it('holes between or before tensors', () => {
    expectRejected(open(build(`{"a":${t('F32', [1], [0, 4])},"b":${t('F32', [1], [8, 12])}}`, 12)), 'hole', "tensor 'b'", "a hole of 4 unused bytes after tensor 'a'");
    expectRejected(open(build(`{"a":${t('F32', [1], [4, 8])}}`, 8)), 'hole', "tensor 'a'", 'at the start of the data');
  });
  it('trailing bytes after the last tensor', () => {
    expectRejected(open(build(`{"a":${t('F32', [1], [0, 4])}}`, 7)), 'trailing-bytes', `'${FILE}'`, '3 bytes follow the last tensor');
    expectRejected(open(build('{}', 1)), 'trailing-bytes', '1 bytes follow');
  });
  it('__metadata__ that is not a map of strings', () => {
    expectRejected(open(build('{"__metadata__":{"epoch":3}}')), 'metadata', "'__metadata__' value for key 'epoch' must be a string, got 3");
    expectRejected(open(build('{"__metadata__":["a"]}')), 'metadata', 'got an array');
    expectRejected(open(build('{"__metadata__":null}')), 'metadata', 'got null');
  });
  it('unknown tensor names, listing what the file has', () => {
    const r = SafetensorsReader.fromBytes(serializeSafetensors([{ name: 'x', dtype: 'F32', shape: [], data: [1] }]), FILE);
    expectRejected(() => r.getHostArray('y'), 'unknown-tensor', "tensor 'y'", 'the file has: x');
  });
  it('accepts the edge cases the format allows', () => {
    // Empty header, zero-size tensors sharing an offset, header padded with spaces.
    expect(SafetensorsReader.fromBytes(build('{}')).names()).toEqual([]);
    const r = SafetensorsReader.fromBytes(build(`{"z":${t('F32', [0], [4, 4])},"a":${t('F32', [1], [0, 4])},"y":${t('I8', [3, 0], [4, 4])}}    `, 4));
    expect(r.names()).toEqual(['a', 'z', 'y']);
    expect(r.getHostArray('y').length).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe('safetensors: Node files', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-st-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes atomically and reads back with positional reads', () => {
    const file = path.join(dir, 'ckpt.safetensors');
    writeSafetensorsFile(file, everyDtypeEntries(), { step: '1' });
    writeSafetensorsFile(file, [{ name: 'w', dtype: 'F32', shape: [2], data: [3, 4] }], { step: '2' });
    expect(fs.readdirSync(dir)).toEqual(['ckpt.safetensors']); // no temp files left
    const r = openSafetensorsFile(file);
    expect(r.metadata.step).toBe('2');
    expect(Array.from(r.getHostArray('w'))).toEqual([3, 4]);
    r.close();
    expectRejected(() => r.getHostArray('w'), 'read', `'${file}'`, "tensor 'w'", 'the file was closed');
  });

  it('leaves the old file intact and no temp file when a write fails', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'fail-'));
    const file = path.join(sub, 'keep.safetensors');
    writeSafetensorsFile(file, [{ name: 'w', dtype: 'F32', shape: [1], data: [1] }]);
    const before = fs.readFileSync(file);
    // Invalid input fails before anything is written.
    expectRejected(() => writeSafetensorsFile(file, [{ name: 'w', dtype: 'F32', shape: [2], data: [1] }]), 'write', "tensor 'w'");
    // A rename that fails (the target is a non-empty folder) removes the temp file.
    const blocker = path.join(sub, 'blocker.safetensors');
    fs.mkdirSync(blocker);
    fs.writeFileSync(path.join(blocker, 'x'), 'x');
    expectRejected(() => writeSafetensorsFile(blocker, [{ name: 'w', dtype: 'F32', shape: [1], data: [2] }]), 'write', `'${blocker}'`, 'the previous file, if any, is unchanged');
    expect(fs.readdirSync(sub).sort()).toEqual(['blocker.safetensors', 'keep.safetensors']);
    expect(fs.readFileSync(file)).toEqual(before);
  });

  it('names the file in open errors', () => {
    const bad = path.join(dir, 'short.safetensors');
    fs.writeFileSync(bad, new Uint8Array(3));
    expectRejected(() => openSafetensorsFile(bad), 'file-too-short', `'${bad}'`);
    expectRejected(() => openSafetensorsFile(path.join(dir, 'missing.safetensors')), 'read', 'missing.safetensors', 'cannot open');
  });
});

// ---------------------------------------------------------------------------------------------

function chunkedResponse(bytes: Uint8Array, chunk: number, counter?: { pulls: number }): Response {
  let at = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (counter) counter.pulls++;
      if (at >= bytes.byteLength) return c.close();
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
  return new Response(body);
}

describe('safetensors: fetch Response', () => {
  const bytes = serializeSafetensors(everyDtypeEntries(), { via: 'response' });
  for (const chunk of [1, 3, 8, 4096]) {
    it(`streams the body in ${chunk}-byte chunks`, async () => {
      const r = await SafetensorsReader.fromResponse(chunkedResponse(bytes, chunk), 'remote.safetensors');
      expect(r.metadata.via).toBe('response');
      for (const e of everyDtypeEntries()) expect(Array.from(r.getHostArray(e.name, 'f32')), e.name).toEqual(expectedF32(e));
    });
  }
  it('reads an unstreamed body and rejects HTTP errors', async () => {
    const r = await SafetensorsReader.fromResponse(new Response(bytes));
    expect(r.names().length).toBe(everyDtypeEntries().length);
    await expect(SafetensorsReader.fromResponse(new Response('nope', { status: 404, statusText: 'Not Found' }), 'x.safetensors')).rejects.toThrow(
      /'x.safetensors': HTTP 404 Not Found \[read\]/,
    );
  });
  it('rejects truncated and over-long bodies', async () => {
    await expect(SafetensorsReader.fromResponse(chunkedResponse(bytes.slice(0, bytes.length - 5), 7), 'r')).rejects.toThrow(
      /the body ended after \d+ bytes, but the header describes \d+ \[past-end\]/,
    );
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    await expect(SafetensorsReader.fromResponse(chunkedResponse(longer, 7), 'r')).rejects.toThrow(/\[trailing-bytes\]/);
    await expect(SafetensorsReader.fromResponse(chunkedResponse(bytes.slice(0, 5), 2), 'r')).rejects.toThrow(/\[file-too-short\]/);
  });
  it('fails on a bad header before downloading the data', async () => {
    const big = serializeSafetensors([{ name: 'w', dtype: 'F32', shape: [100_000], data: new Float32Array(100_000) }]);
    const text = new TextDecoder().decode(big.subarray(8, 8 + Number(new DataView(big.buffer).getBigUint64(0, true))));
    const broken = big.slice();
    broken.set(new TextEncoder().encode(text.replace('"F32"', '"F31"')), 8);
    const counter = { pulls: 0 };
    await expect(SafetensorsReader.fromResponse(chunkedResponse(broken, 64, counter), 'r')).rejects.toThrow(/tensor 'w': unknown dtype "F31" .*\[dtype\]/);
    expect(counter.pulls).toBeLessThan(10);
  });
});

// ---------------------------------------------------------------------------------------------

function hasTorch(): boolean {
  if (!fs.existsSync(PYTHON)) return false;
  return spawnSync(PYTHON, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0;
}
const torchOk = hasTorch();
if (!torchOk) console.warn(`safetensors: skipping the Python cross-check: ${PYTHON} with torch and numpy is not available (CI has no Python torch)`);

interface CheckOutput {
  ok: boolean;
  error?: string;
  metadata: Record<string, string>;
  tensors: Array<{ name: string; dtype: string; shape: number[]; f32_bits?: number[]; ints?: string[] }>;
}

describe.skipIf(!torchOk)(`safetensors: our files checked by ${PYTHON} with torch (official rules)`, () => {
  let dir: string;
  const entries = everyDtypeEntries();
  const meta = { framework: 'lrdif', ü: 'ß' };
  const results = new Map<string, CheckOutput>();
  const files = { all: 'all.safetensors', bad: 'bad.safetensors', pad: (k: number) => `pad${k}.safetensors` };

  // Write every file first, then check them all in one Python process (importing torch takes seconds).
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-stpy-'));
    writeSafetensorsFile(path.join(dir, files.all), entries, meta);
    for (let k = 0; k < 8; k++) writeSafetensorsFile(path.join(dir, files.pad(k)), [{ name: 'x'.repeat(k + 1), dtype: 'F32', shape: [2], data: [k, -k] }]);
    const badHeader = `{"a":${t('F32', [1], [0, 4])}}`;
    fs.writeFileSync(path.join(dir, files.bad), build(badHeader.padEnd(Math.ceil(badHeader.length / 8) * 8), 8)); // padded: only the trailing bytes are wrong
    const names = [files.all, files.bad, ...Array.from({ length: 8 }, (_, k) => files.pad(k))];
    const p = spawnSync(PYTHON, [SCRIPT, '--check', ...names.map((n) => path.join(dir, n))], { encoding: 'utf8' });
    const lines = p.stdout.trim().split('\n');
    if (lines.length !== names.length) throw new Error(`checker printed ${lines.length} results for ${names.length} files: ${p.stderr}`);
    names.forEach((n, i) => results.set(n, JSON.parse(lines[i]) as CheckOutput));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('every dtype: layout accepted, values decoded by torch equal ours', () => {
    const out = results.get(files.all)!;
    expect(out.error).toBeUndefined();
    expect(out.ok).toBe(true);
    expect(out.metadata).toEqual(meta);
    expect(out.tensors.map((x) => x.name)).toEqual(entries.map((e) => e.name));
    const r = openSafetensorsFile(path.join(dir, files.all));
    try {
      for (const [i, e] of entries.entries()) {
        const py = out.tensors[i];
        expect(py.dtype).toBe(e.dtype);
        expect(py.shape).toEqual([...e.shape]);
        if (py.f32_bits) expectF32Bits(r.getHostArray(e.name, 'f32'), py.f32_bits, `${e.name} (torch)`);
        else expect(py.ints, e.name).toEqual(Array.from(e.data as ArrayLike<number | bigint>, (v) => String(v))); // F8: raw bytes (torch 1.13 has no float8)
      }
    } finally {
      r.close();
    }
  });

  it('headers of every length mod 8 are padded as the reference does', () => {
    for (let k = 0; k < 8; k++) {
      const out = results.get(files.pad(k))!;
      expect(out.ok, out.error).toBe(true);
      expect(out.tensors[0].f32_bits).toEqual(bitsOf(new Float32Array([k, -k])));
    }
  });

  it('the checker itself rejects what the rules reject', () => {
    expect(results.get(files.bad)!).toEqual({ ok: false, error: 'MetadataIncompleteBuffer' });
  });
});

// ---------------------------------------------------------------------------------------------

describe('safetensors: engine tensors', () => {
  beforeAll(gpu);

  it('loads tensors onto the GPU with the natural or requested dtype', async () => {
    const r = SafetensorsReader.fromBytes(fs.readFileSync(path.join(GOLDEN, 'floats.safetensors')), 'floats.safetensors');
    const exp = expected['floats.safetensors'].tensors['weight.f16'];
    const h = loadTensor(r, 'weight.f16', undefined, { shape: [2, 3, 4] });
    expect(h.dtype).toBe('f32');
    expect([...h.shape]).toEqual([2, 3, 4]);
    expect(h.name).toBe('weight.f16');
    expectF32Bits((await h.data()) as Float32Array, exp.f32_bits!, 'GPU weight.f16');
    h.dispose();
    expectRejected(
      () => loadTensor(r, 'weight.f16', undefined, { shape: [4, 6] }),
      'shape',
      "'floats.safetensors'",
      "tensor 'weight.f16'",
      'expected shape [4, 6], the file has [2, 3, 4] (F16)',
    );
    expectRejected(() => loadTensor(r, 'weight.f32', 'i32'), 'read', 'cannot load F32 data as i32');

    const ri = SafetensorsReader.fromBytes(fs.readFileSync(path.join(GOLDEN, 'ints.safetensors')));
    const ids = loadTensor(ri, 'ids');
    expect(ids.dtype).toBe('i32');
    expect(Array.from(await ids.data(), String)).toEqual(expected['ints.safetensors'].tensors.ids.ints);
    const idsF = loadTensor(ri, 'u8', 'f32');
    expect(Array.from(await idsF.data())).toEqual([250, 251, 252, 253, 254, 255]);
    ids.dispose();
    idsF.dispose();
  });

  it('saves engine tensors and loads them back', async () => {
    const a = tensor([1.5, -2, 3.25, 0], [2, 2]);
    const b = tensor([7, -8, 9], [3], 'i32');
    const entries = await tensorsToEntries({ 'layer.a': a, 'layer.b': b });
    const all = loadTensors(SafetensorsReader.fromBytes(serializeSafetensors(entries)));
    expect(Object.keys(all)).toEqual(['layer.a', 'layer.b']);
    expect(Array.from(await all['layer.a'].data())).toEqual([1.5, -2, 3.25, 0]);
    expect(all['layer.b'].dtype).toBe('i32');
    expect(Array.from(await all['layer.b'].data())).toEqual([7, -8, 9]);
    for (const x of [a, b, ...Object.values(all)]) x.dispose();
  });
});
