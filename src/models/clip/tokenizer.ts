/**
 * CLIP's byte-level BPE tokenizer, as OpenAI's `simple_tokenizer.py` + `clip.tokenize` and
 * Hugging Face's `CLIPTokenizer` (with ftfy) compute it, minus ftfy's mojibake repairs.
 *
 * Text cleanup: NFC (the last step of ftfy.fix_text; `normalize: false` turns it off), HTML
 * unescape twice (numeric references with Python's `html.unescape` rules; named entities: the
 * HTML5 names that also work without ';' plus common typographic ones, others are kept as
 * text), whitespace collapsed and stripped (Python's `str.isspace` set), lowercase.
 * Pre-tokenizer: CLIP's pattern (case-insensitive, Unicode classes); each piece's UTF-8 bytes
 * are mapped to printable characters (bytes_to_unicode), `</w>` marks the end of a word, and
 * merges apply by rank.
 *
 * Loading: OpenAI's `bpe_simple_vocab_16e6.txt(.gz)` (the vocab is built from the merges:
 * 256 byte characters, the same with `</w>`, each merge joined, then `<|startoftext|>`,
 * `<|endoftext|>`: 49408 entries, SOT 49406, EOT 49407), or Hugging Face's `vocab.json` +
 * `merges.txt`. Core code: no Node modules; gzip goes through `DecompressionStream`.
 */

/** Merges used by CLIP: lines 1 .. 49152 − 256 − 2 of the merges file (line 0 is a version header). */
export const CLIP_NUM_MERGES = 49152 - 256 - 2;
export const SOT_TEXT = '<|startoftext|>';
export const EOT_TEXT = '<|endoftext|>';

export interface ClipTokenizerOptions {
  /** Apply Unicode NFC before cleanup (ftfy.fix_text's last step). Default true. */
  normalize?: boolean;
  /** How many merges to use (default CLIP's 48894; fewer if the file has fewer). */
  maxMerges?: number;
}

export interface EncodeOptions {
  /** Output length including SOT and EOT. Default 77. */
  contextLength?: number;
  /** Cut over-long texts keeping EOT at the last position (as clip.tokenize(truncate=True)). Default true; false makes them an error. */
  truncate?: boolean;
  /** Pad to contextLength. Default true. */
  pad?: boolean;
  /**
   * Pad id. Default 0, as OpenAI's clip.tokenize. Hugging Face's openai/clip-vit-base-patch32
   * tokenizer pads with `<|endoftext|>` (pass `tokenizer.eot`). Either way the first EOT (the
   * highest id, where CLIP's text encoder pools) is the end of the text.
   */
  padToken?: number;
}

export class ClipTokenizerError extends Error {
  constructor(message: string) {
    super(`lrdif: CLIP tokenizer: ${message}`);
    this.name = 'ClipTokenizerError';
  }
}

/** OpenAI's bytes_to_unicode: printable Latin-1 bytes map to themselves, the rest to U+0100... */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  // In bs order (the vocab order), as strings.
  const table: string[] = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCharCode(cs[i])));
  return table;
}

/** The 256 byte characters in bs order: the first 256 vocab entries of OpenAI's scheme. */
function byteVocabOrder(): string[] {
  const enc = bytesToUnicode();
  const order: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) order.push(b);
  for (let b = 0xa1; b <= 0xac; b++) order.push(b);
  for (let b = 0xae; b <= 0xff; b++) order.push(b);
  for (let b = 0; b < 256; b++) if (!order.includes(b)) order.push(b);
  return order.map((b) => enc[b]);
}

// -------------------------------------------------------------------------------------------
// Text cleanup

/** Python's str.isspace set: Unicode White_Space plus U+001C..U+001F. */
const SPACE_RUN = /[\p{White_Space}\x1c-\x1f]+/gu;
const SPACE_EDGES = /^[\p{White_Space}\x1c-\x1f]+|[\p{White_Space}\x1c-\x1f]+$/gu;

// Named entities (values from the WHATWG list, as in Python's html.entities.html5). LEGACY names
// also match without ';' (and as prefixes, e.g. "&ampx" → "&x"), exactly as html.unescape does.
const LEGACY =
  'AElig:c6 AMP:26 Aacute:c1 Acirc:c2 Agrave:c0 Aring:c5 Atilde:c3 Auml:c4 COPY:a9 Ccedil:c7 ETH:d0 Eacute:c9 Ecirc:ca Egrave:c8 Euml:cb GT:3e Iacute:cd Icirc:ce Igrave:cc Iuml:cf LT:3c Ntilde:d1 Oacute:d3 Ocirc:d4 Ograve:d2 Oslash:d8 Otilde:d5 Ouml:d6 QUOT:22 REG:ae THORN:de Uacute:da Ucirc:db Ugrave:d9 Uuml:dc Yacute:dd aacute:e1 acirc:e2 acute:b4 aelig:e6 agrave:e0 amp:26 aring:e5 atilde:e3 auml:e4 brvbar:a6 ccedil:e7 cedil:b8 cent:a2 copy:a9 curren:a4 deg:b0 divide:f7 eacute:e9 ecirc:ea egrave:e8 eth:f0 euml:eb frac12:bd frac14:bc frac34:be gt:3e iacute:ed icirc:ee iexcl:a1 igrave:ec iquest:bf iuml:ef laquo:ab lt:3c macr:af micro:b5 middot:b7 nbsp:a0 not:ac ntilde:f1 oacute:f3 ocirc:f4 ograve:f2 ordf:aa ordm:ba oslash:f8 otilde:f5 ouml:f6 para:b6 plusmn:b1 pound:a3 quot:22 raquo:bb reg:ae sect:a7 shy:ad sup1:b9 sup2:b2 sup3:b3 szlig:df thorn:fe times:d7 uacute:fa ucirc:fb ugrave:f9 uml:a8 uuml:fc yacute:fd yen:a5 yuml:ff';
const WITH_SEMICOLON =
  'apos:27 hellip:2026 mdash:2014 ndash:2013 lsquo:2018 rsquo:2019 ldquo:201c rdquo:201d sbquo:201a bdquo:201e bull:2022 trade:2122 euro:20ac dagger:2020 Dagger:2021 permil:2030 lsaquo:2039 rsaquo:203a prime:2032 Prime:2033 thinsp:2009 ensp:2002 emsp:2003 zwnj:200c zwj:200d lrm:200e rlm:200f hearts:2665 larr:2190 rarr:2192 uarr:2191 darr:2193 harr:2194 minus:2212 le:2264 ge:2265 ne:2260 infin:221e oelig:153 OElig:152 scaron:161 Scaron:160 Yuml:178 fnof:192 circ:2c6 tilde:2dc';

let entityTable: Map<string, string> | undefined;
function entities(): Map<string, string> {
  if (!entityTable) {
    entityTable = new Map();
    for (const [list, legacy] of [
      [LEGACY, true],
      [WITH_SEMICOLON, false],
    ] as const) {
      for (const item of list.split(' ')) {
        const [name, hex] = item.split(':');
        const ch = String.fromCodePoint(parseInt(hex, 16));
        entityTable.set(`${name};`, ch);
        if (legacy) entityTable.set(name, ch);
      }
    }
  }
  return entityTable;
}

// html.unescape's numeric rules: C1 references are read as windows-1252, some code points are dropped.
const INVALID_CHARREFS: Record<number, string> = {
  0x00: '\ufffd',
  0x0d: '\r',
  0x80: '\u20ac',
  0x81: '\x81',
  0x82: '\u201a',
  0x83: '\u0192',
  0x84: '\u201e',
  0x85: '\u2026',
  0x86: '\u2020',
  0x87: '\u2021',
  0x88: '\u02c6',
  0x89: '\u2030',
  0x8a: '\u0160',
  0x8b: '\u2039',
  0x8c: '\u0152',
  0x8d: '\x8d',
  0x8e: '\u017d',
  0x8f: '\x8f',
  0x90: '\x90',
  0x91: '\u2018',
  0x92: '\u2019',
  0x93: '\u201c',
  0x94: '\u201d',
  0x95: '\u2022',
  0x96: '\u2013',
  0x97: '\u2014',
  0x98: '\u02dc',
  0x99: '\u2122',
  0x9a: '\u0161',
  0x9b: '\u203a',
  0x9c: '\u0153',
  0x9d: '\x9d',
  0x9e: '\u017e',
  0x9f: '\u0178',
};

function isInvalidCodePoint(n: number): boolean {
  return (n >= 0x1 && n <= 0x8) || n === 0xb || (n >= 0xe && n <= 0x1f) || (n >= 0x7f && n <= 0x9f) || (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** One pass of Python's html.unescape (with the entity subset above). */
export function htmlUnescape(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(CHARREF, (whole, ref: string) => {
    if (ref[0] === '#') {
      const hex = ref[1] === 'x' || ref[1] === 'X';
      const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
      // Huge references only need to be known as out of range.
      const num = digits.replace(/^0+/, '').length > 8 ? Infinity : parseInt(digits, hex ? 16 : 10);
      if (num in INVALID_CHARREFS) return INVALID_CHARREFS[num];
      if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
      if (isInvalidCodePoint(num)) return '';
      return String.fromCodePoint(num);
    }
    const table = entities();
    const hit = table.get(ref);
    if (hit !== undefined) return hit;
    // The longest legacy name that prefixes the reference ("&ampx" → "&" + "x").
    const cps = [...ref];
    for (let x = cps.length - 1; x > 1; x--) {
      const prefix = cps.slice(0, x).join('');
      const v = table.get(prefix);
      if (v !== undefined) return v + cps.slice(x).join('');
    }
    return whole;
  });
}

/** CLIP's text cleanup: (NFC), unescape twice, collapse whitespace, strip, lowercase. */
export function cleanText(text: string, normalize = true): string {
  let t = normalize ? text.normalize('NFC') : text;
  t = htmlUnescape(htmlUnescape(t));
  return t.replace(SPACE_RUN, ' ').replace(SPACE_EDGES, '').toLowerCase();
}

/**
 * CLIP's pre-tokenizer. `\s` is spelled \p{White_Space} (the regex module's meaning; JS's \s
 * would also match U+FEFF).
 */
const PRETOKENIZE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}]+/giu;

export function pretokenize(cleaned: string): string[] {
  return cleaned.match(PRETOKENIZE) ?? [];
}

// -------------------------------------------------------------------------------------------
// Tokenizer

const CACHE_LIMIT = 100_000;

export class ClipTokenizer {
  readonly sot: number;
  readonly eot: number;
  readonly vocabSize: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: Map<number, string>;
  private readonly ranks: Map<string, number>;
  private readonly byteEncoder = bytesToUnicode();
  private readonly byteDecoder = new Map<string, number>();
  private readonly cache = new Map<string, string[]>();
  private readonly normalize: boolean;

  private constructor(encoder: Map<string, number>, merges: ReadonlyArray<readonly [string, string]>, options: ClipTokenizerOptions) {
    this.encoder = encoder;
    this.decoder = new Map();
    for (const [k, v] of encoder) this.decoder.set(v, k);
    this.ranks = new Map();
    // Symbols never contain a space (byte 0x20 maps to U+0120). A repeated merge keeps its last
    // rank, as Python's dict(zip(merges, range(...))).
    merges.forEach(([a, b], i) => this.ranks.set(`${a} ${b}`, i));
    this.byteEncoder.forEach((c, b) => this.byteDecoder.set(c, b));
    const sot = encoder.get(SOT_TEXT);
    const eot = encoder.get(EOT_TEXT);
    if (sot === undefined || eot === undefined) throw new ClipTokenizerError(`the vocabulary has no ${sot === undefined ? SOT_TEXT : EOT_TEXT} token`);
    this.sot = sot;
    this.eot = eot;
    this.vocabSize = encoder.size;
    this.cache.set(SOT_TEXT, [SOT_TEXT]);
    this.cache.set(EOT_TEXT, [EOT_TEXT]);
    this.normalize = options.normalize ?? true;
  }

  /** OpenAI's scheme: merges file text (bpe_simple_vocab_16e6.txt), vocab built from it. */
  static fromMerges(mergesText: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
    const merges = parseMerges(mergesText, options.maxMerges ?? CLIP_NUM_MERGES, 'merges file');
    const bytes = byteVocabOrder();
    const vocab = [...bytes, ...bytes.map((c) => `${c}</w>`), ...merges.map(([a, b]) => a + b), SOT_TEXT, EOT_TEXT];
    const encoder = new Map<string, number>();
    // zip(vocab, range) into a dict: a repeated entry keeps the last id, as in Python.
    vocab.forEach((v, i) => encoder.set(v, i));
    return new ClipTokenizer(encoder, merges, options);
  }

  /** OpenAI's file as bytes, gzipped or not (gunzipped with DecompressionStream). */
  static async fromBpeFile(data: ArrayBuffer | Uint8Array | string, options: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
    if (typeof data === 'string') return ClipTokenizer.fromMerges(data, options);
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    const text = new TextDecoder('utf-8').decode(isGzip(bytes) ? await gunzip(bytes) : bytes);
    return ClipTokenizer.fromMerges(text, options);
  }

  /** Hugging Face's files: vocab.json (text or parsed) and merges.txt. */
  static fromHuggingFace(vocabJson: string | Record<string, number>, mergesText: string, options: ClipTokenizerOptions = {}): ClipTokenizer {
    let vocab: unknown;
    try {
      vocab = typeof vocabJson === 'string' ? JSON.parse(vocabJson) : vocabJson;
    } catch (e) {
      throw new ClipTokenizerError(`vocab.json is not valid JSON (${(e as Error).message})`);
    }
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new ClipTokenizerError('vocab.json must be an object mapping tokens to ids');
    const encoder = new Map<string, number>();
    for (const [k, v] of Object.entries(vocab as Record<string, unknown>)) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
        throw new ClipTokenizerError(`vocab.json: the id of ${JSON.stringify(k)} must be a non-negative integer, got ${JSON.stringify(v)}`);
      encoder.set(k, v);
    }
    const merges = parseMerges(mergesText.trim(), options.maxMerges ?? CLIP_NUM_MERGES, 'merges.txt');
    return new ClipTokenizer(encoder, merges, options);
  }

  /** The cleaned, lowercased text the pre-tokenizer sees. */
  clean(text: string): string {
    return cleanText(text, this.normalize);
  }

  /** BPE symbols of one pre-token (already byte-encoded), e.g. "face." → ["face</w>"] ... */
  bpe(token: string): string[] {
    const hit = this.cache.get(token);
    if (hit) return hit;
    // Byte-encoded characters are all in the BMP: one UTF-16 unit each.
    let word: string[] = [...token.slice(0, -1), `${token.slice(-1)}</w>`];
    if (word.length === 1) return word;
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best];
      const second = word[best + 1];
      // Merge every occurrence of the pair, left to right (as simple_tokenizer does).
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else merged.push(word[i++]);
      }
      word = merged;
      if (word.length === 1) break;
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(token, word);
    return word;
  }

  /** Token ids of a text, without SOT/EOT. */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    const utf8 = new TextEncoder();
    for (const piece of pretokenize(this.clean(text))) {
      let mapped = '';
      for (const b of utf8.encode(piece)) mapped += this.byteEncoder[b];
      for (const sym of this.bpe(mapped)) {
        const id = this.encoder.get(sym);
        if (id === undefined)
          throw new ClipTokenizerError(`the vocabulary has no entry for the BPE symbol ${JSON.stringify(sym)} (from ${JSON.stringify(piece)}); vocab and merges do not match`);
        ids.push(id);
      }
    }
    return ids;
  }

  /** SOT, the text's ids, EOT; truncated keeping EOT last; padded. */
  encode(text: string, options: EncodeOptions = {}): Int32Array {
    const { contextLength = 77, truncate = true, pad = true, padToken = 0 } = options;
    if (!Number.isInteger(contextLength) || contextLength < 2) throw new ClipTokenizerError(`contextLength must be an integer ≥ 2, got ${contextLength}`);
    const ids = [this.sot, ...this.tokenize(text), this.eot];
    if (ids.length > contextLength) {
      if (!truncate) {
        const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
        throw new ClipTokenizerError(`the text ${JSON.stringify(shown)} is ${ids.length} tokens long (with SOT and EOT), over the context length ${contextLength}`);
      }
      ids.length = contextLength;
      ids[contextLength - 1] = this.eot;
    }
    const out = new Int32Array(pad ? contextLength : ids.length).fill(padToken);
    out.set(ids);
    return out;
  }

  /** Several texts as one [texts.length, contextLength] row-major array (always padded). */
  encodeBatch(texts: readonly string[], options: Omit<EncodeOptions, 'pad'> = {}): Int32Array {
    const ctx = options.contextLength ?? 77;
    const out = new Int32Array(texts.length * ctx);
    texts.forEach((t, i) => out.set(this.encode(t, { ...options, pad: true }), i * ctx));
    return out;
  }

  /**
   * Text of ids, as OpenAI's decode: `</w>` becomes a space, invalid UTF-8 becomes U+FFFD.
   * `skipSpecial` drops SOT and stops at the first EOT (what follows is padding).
   */
  decode(ids: ArrayLike<number>, options: { skipSpecial?: boolean } = {}): string {
    const parts: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (options.skipSpecial) {
        if (id === this.eot) break;
        if (id === this.sot) continue;
      }
      const s = this.decoder.get(id);
      if (s === undefined) throw new ClipTokenizerError(`id ${id} at position ${i} is not in the vocabulary (size ${this.vocabSize})`);
      parts.push(s);
    }
    const text = parts.join('');
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const b = this.byteDecoder.get(text[i]);
      if (b === undefined) throw new ClipTokenizerError(`vocabulary entry character ${JSON.stringify(text[i])} is not a byte character`);
      bytes[i] = b;
    }
    // ignoreBOM keeps a leading U+FEFF, which is text here (Python's 'utf-8' codec keeps it too).
    return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes).replaceAll('</w>', ' ');
  }

  /** The id of a vocabulary entry (e.g. "face</w>"), or undefined. */
  tokenId(entry: string): number | undefined {
    return this.encoder.get(entry);
  }

  /** The vocabulary entry of an id (byte characters, "</w>" ends a word), or undefined. */
  idToToken(id: number): string | undefined {
    return this.decoder.get(id);
  }
}

function parseMerges(text: string, maxMerges: number, what: string): Array<[string, string]> {
  const lines = text.split('\n').slice(1, 1 + maxMerges);
  const merges: Array<[string, string]> = [];
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '' && i === lines.length - 1) return; // a final newline
    const parts = line.split(/\s+/).filter((p) => p !== '');
    if (parts.length !== 2) throw new ClipTokenizerError(`${what} line ${i + 2}: expected two symbols separated by a space, got ${JSON.stringify(line)}`);
    merges.push([parts[0], parts[1]]);
  });
  if (merges.length === 0) throw new ClipTokenizerError(`${what} has no merges (line 1 is a version header, merges follow)`);
  return merges;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Gunzips with the platform's DecompressionStream (browsers, Node ≥ 18, Deno). */
export async function gunzip(bytes: Uint8Array): Promise<Uint8Array> {
  if (typeof DecompressionStream === 'undefined') throw new ClipTokenizerError('this platform has no DecompressionStream: pass the decompressed merges text instead');
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
