/**
 * Fuzzing the safetensors reader: seeded mutations of valid files (bit flips, truncation,
 * byte insertion/deletion, header-length edits, structured edits of the header JSON). Every
 * outcome must be a parse whose tensors all read, or a SafetensorsError with a message: never
 * another exception type, a hang or an allocation larger than the file.
 */
import { describe, it, expect } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SafetensorsReader, SafetensorsError, serializeSafetensors, SAFETENSORS_DTYPE_BYTES, type SafetensorsRule } from '../src/io/index.js';
import { rng } from './helpers/ref.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden', 'safetensors');

function seeds(): Uint8Array[] {
  const files: Uint8Array[] = ['floats.safetensors', 'ints.safetensors', 'wide.safetensors', 'f8.safetensors'].map((f) => new Uint8Array(fs.readFileSync(path.join(GOLDEN, f))));
  files.push(
    serializeSafetensors(
      [
        { name: 'a', dtype: 'F32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] },
        { name: 'b', dtype: 'BF16', shape: [4], data: [1, -1, 0.5, 8] },
        { name: 'c', dtype: 'I64', shape: [2], data: [-1, 2 ** 40] },
        { name: 'z', dtype: 'U8', shape: [0], data: [] },
        { name: 'd', dtype: 'BOOL', shape: [3], data: [1, 0, 1] },
        { name: 'e', dtype: 'U32', shape: [1], data: [2 ** 32 - 1] },
      ],
      { k: 'v' },
    ),
  );
  return files;
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)];

function headerOf(file: Uint8Array): { n: number; json: Record<string, unknown> } | null {
  if (file.length < 8) return null;
  const n = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  try {
    return { n, json: JSON.parse(new TextDecoder().decode(file.subarray(8, 8 + n))) as Record<string, unknown> };
  } catch {
    return null;
  }
}

function withHeader(file: Uint8Array, oldN: number, text: string, r: Rand): Uint8Array {
  let h = new TextEncoder().encode(text);
  if (r() < 0.5) h = new TextEncoder().encode(text.padEnd(Math.ceil(h.length / 8) * 8 + (text.length - h.length)));
  const data = file.subarray(8 + oldN);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

const ODD_VALUES: unknown[] = [-1, 0, 1, 1.5, 2 ** 31, 2 ** 53, 1e308, -0, null, 'x', [], {}, true, [1, 2, 3], 'F32'];
const DTYPES = [...Object.keys(SAFETENSORS_DTYPE_BYTES), 'F4', 'f32', 'C64', ''];

/** A structured edit of the header JSON: offsets, dtypes, shapes, names, metadata. */
function editHeader(file: Uint8Array, r: Rand): Uint8Array {
  const h = headerOf(file);
  if (!h) return file;
  const names = Object.keys(h.json).filter((k) => k !== '__metadata__');
  const json = h.json;
  const name = names.length ? pick(r, names) : '__none__';
  const cur = json[name];
  const e = (typeof cur === 'object' && cur !== null && !Array.isArray(cur) ? cur : {}) as Record<string, unknown>;
  let text: string | undefined;
  switch (int(r, 11)) {
    case 0: {
      const o = Array.isArray(e.data_offsets) ? [...(e.data_offsets as number[])] : [0, 0];
      o[int(r, 2)] += pick(r, [-8, -4, -2, -1, 1, 2, 4, 8, 1000, 2 ** 40]);
      e.data_offsets = o;
      break;
    }
    case 1:
      e.data_offsets = pick(r, [[0], [1, 0], [0, 1e20], ['0', 4], ODD_VALUES[int(r, ODD_VALUES.length)]]);
      break;
    case 2:
      e.dtype = pick(r, DTYPES);
      break;
    case 3: {
      const s = Array.isArray(e.shape) ? [...(e.shape as number[])] : [];
      const k = int(r, 5);
      if (k === 0) s.push(pick(r, [0, 1, 2, 3, 2 ** 30, 2 ** 52]));
      else if (k === 1) s.pop();
      else if (k === 2 && s.length) s[int(r, s.length)] = pick(r, ODD_VALUES) as number;
      else if (k === 3 && s.length) s[int(r, s.length)] *= 2;
      else s.reverse();
      e.shape = s;
      break;
    }
    case 4:
      e.shape = pick(r, ODD_VALUES);
      break;
    case 5:
      json[name] = pick(r, ODD_VALUES);
      break;
    case 6:
      delete json[name];
      break;
    case 7:
      json.__metadata__ = pick(r, [{ a: 1 }, [], null, 'meta', { a: 'b', c: null }, { ok: 'yes' }]);
      break;
    case 8: {
      // A duplicate key, which JSON.parse would merge silently.
      const s = JSON.stringify(json);
      text = `${s.slice(0, -1)}${s.length > 2 ? ',' : ''}${JSON.stringify(name)}:${JSON.stringify(e)}}`;
      break;
    }
    case 9:
      json[`${name}_copy`] = { ...e };
      break;
    default:
      for (const k of ['dtype', 'shape', 'data_offsets']) if (r() < 0.3) delete e[k];
      e.extra = 'field';
  }
  if (text === undefined) {
    if (name in json && typeof json[name] === 'object' && json[name] !== null && !Array.isArray(json[name])) Object.assign(json[name] as object, e);
    text = JSON.stringify(json);
  }
  return withHeader(file, h.n, text, r);
}

function mutate(file: Uint8Array, r: Rand): Uint8Array {
  const out = file.slice();
  const n = file.length >= 8 ? Math.min(Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true)), file.length) : 0;
  switch (int(r, 7)) {
    case 0: {
      // Bit flips, mostly in the header where they matter most.
      const flips = 1 + int(r, 4);
      for (let i = 0; i < flips; i++) {
        const at = r() < 0.8 && n > 0 ? 8 + int(r, Math.min(n, out.length - 8)) : int(r, out.length);
        out[at] ^= 1 << int(r, 8);
      }
      return out;
    }
    case 1:
      return out.slice(0, int(r, out.length));
    case 2: {
      const at = int(r, out.length + 1);
      const ins = Uint8Array.from({ length: 1 + int(r, 8) }, () => pick(r, [0x20, 0x7b, 0x7d, 0x22, 0x2c, 0x00, 0xff, int(r, 256)]));
      const res = new Uint8Array(out.length + ins.length);
      res.set(out.subarray(0, at));
      res.set(ins, at);
      res.set(out.subarray(at), at + ins.length);
      return res;
    }
    case 3: {
      const at = int(r, out.length);
      const k = 1 + int(r, 4);
      return Uint8Array.from([...out.subarray(0, at), ...out.subarray(at + k)]);
    }
    case 4: {
      // Header length edits: off by a little, zero, random 32-bit, huge 64-bit.
      const dv = new DataView(out.buffer);
      if (out.length < 8) return out;
      const choice = int(r, 5);
      const v =
        choice === 0
          ? BigInt(Math.max(0, n + int(r, 17) - 8))
          : choice === 1
            ? 0n
            : choice === 2
              ? BigInt(int(r, 2 ** 32))
              : choice === 3
                ? BigInt(100_000_001)
                : 2n ** BigInt(33 + int(r, 31));
      dv.setBigUint64(0, v, true);
      return out;
    }
    default:
      return editHeader(file, r);
  }
}

const ALL_RULES: ReadonlySet<SafetensorsRule> = new Set([
  'file-too-short',
  'header-length',
  'header-utf8',
  'header-json',
  'header-not-object',
  'duplicate-name',
  'entry',
  'dtype',
  'shape',
  'offsets',
  'size-mismatch',
  'past-end',
  'overlap',
  'hole',
  'trailing-bytes',
  'metadata',
]);

/** Returns the rejection rule, or 'ok' after reading every tensor every way. */
function exercise(bytes: Uint8Array): string {
  let reader: SafetensorsReader;
  try {
    reader = SafetensorsReader.fromBytes(bytes, 'fuzz.safetensors');
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw new Error(`parse threw ${(e as Error)?.constructor?.name}: ${String(e)}`);
    expect(ALL_RULES.has(e.rule), e.message).toBe(true);
    expect(e.message).toContain("'fuzz.safetensors'");
    return e.rule;
  }
  // Valid: the tensors exactly tile the data, so nothing below allocates more than the file.
  let total = 8 + reader.headerLength;
  for (const name of reader.names()) {
    const info = reader.info(name);
    total += info.byteLength;
    const count = info.shape.reduce((a, b) => a * b, 1);
    expect(info.byteLength).toBe(count * SAFETENSORS_DTYPE_BYTES[info.dtype]);
    expect(reader.getHostArray(name, 'f32').length).toBe(count);
    expect(reader.getRaw(name).length).toBe(info.byteLength);
    try {
      expect(reader.getHostArray(name).length).toBe(count);
    } catch (e) {
      // Only 64-bit/U32 values outside int32 may refuse a native read.
      if (!(e instanceof SafetensorsError) || e.rule !== 'int32-range') throw e;
    }
  }
  expect(total).toBe(bytes.length);
  return 'ok';
}

describe('safetensors fuzz', () => {
  it('survives thousands of seeded mutations of valid files', () => {
    const base = seeds();
    for (const b of base) expect(exercise(b)).toBe('ok');
    const r = rng(20240531);
    const outcomes = new Map<string, number>();
    const t0 = performance.now();
    const N = 20000;
    for (let i = 0; i < N; i++) {
      let m = pick(r, base);
      const rounds = 1 + int(r, 3);
      for (let k = 0; k < rounds; k++) m = mutate(m, r);
      let outcome: string;
      try {
        outcome = exercise(m);
      } catch (e) {
        throw new Error(`mutation ${i} (${m.length} bytes, header ${JSON.stringify(new TextDecoder().decode(m.subarray(8, 200)))}): ${(e as Error).message}`);
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    const ms = performance.now() - t0;
    // The mutations must actually reach the validation rules, and some must stay valid.
    for (const rule of [
      'ok',
      'file-too-short',
      'header-length',
      'header-json',
      'header-not-object',
      'duplicate-name',
      'dtype',
      'shape',
      'offsets',
      'size-mismatch',
      'past-end',
      'overlap',
      'hole',
      'trailing-bytes',
      'metadata',
      'entry',
      'header-utf8',
    ]) {
      expect(outcomes.get(rule) ?? 0, `outcome '${rule}' never happened: ${JSON.stringify([...outcomes])}`).toBeGreaterThan(0);
    }
    expect(ms).toBeLessThan(15_000);
  });

  it('streams mutated files through the Response path with the same verdicts', async () => {
    const base = seeds();
    const r = rng(7);
    for (let i = 0; i < 400; i++) {
      const m = mutate(pick(r, base), r);
      let sync: string;
      try {
        sync = SafetensorsReader.fromBytes(m).names().join(',');
      } catch (e) {
        sync = `error:${(e as SafetensorsError).rule}`;
      }
      let streamed: string;
      const chunk = 1 + int(r, 64);
      let at = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= m.length) return c.close();
          c.enqueue(m.slice(at, at + chunk));
          at += chunk;
        },
      });
      try {
        streamed = (await SafetensorsReader.fromResponse(new Response(body))).names().join(',');
      } catch (e) {
        if (!(e instanceof SafetensorsError)) throw new Error(`mutation ${i}: stream threw ${String(e)}`);
        streamed = `error:${e.rule}`;
      }
      // Both accept or both reject; the rule may differ (a stream learns the file size last).
      expect(streamed.startsWith('error:'), `mutation ${i}: bytes → ${sync}, stream → ${streamed}`).toBe(sync.startsWith('error:'));
      if (!sync.startsWith('error:')) expect(streamed).toBe(sync);
    }
  });
});
