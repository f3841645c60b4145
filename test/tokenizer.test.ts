/**
 * CLIP tokenizer against an independent Python port of OpenAI's simple_tokenizer.py
 * (test/golden/clip_tokenizer_reference.py → test/golden/fixtures/clip_tokenizer.json), run on
 * the real merges file, plus ids known by construction and the Hugging Face loading path.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { ClipTokenizer, ClipTokenizerError, cleanText, pretokenize, bytesToUnicode, CLIP_NUM_MERGES } from '../src/models/clip/tokenizer.js';
import { loadClipTokenizer, bundledBpePath } from '../src/models/clip/tokenizer-node.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

interface Case {
  text: string;
  nfc: boolean;
  cleaned: string;
  pieces: string[];
  bpe: string[];
  ids: number[];
  tokenized77: number[];
  decoded: string;
}
const fixture = JSON.parse(fs.readFileSync(path.join(HERE, 'golden', 'fixtures', 'clip_tokenizer.json'), 'utf8')) as {
  vocab_size: number;
  sot: number;
  eot: number;
  num_merges: number;
  cases: Case[];
};

let tok: ClipTokenizer;
let tokRaw: ClipTokenizer; // without NFC
let mergesText: string;

beforeAll(async () => {
  // Core path: gzip bytes through DecompressionStream.
  tok = await ClipTokenizer.fromBpeFile(new Uint8Array(fs.readFileSync(bundledBpePath())));
  mergesText = gunzipSync(fs.readFileSync(bundledBpePath())).toString('utf8');
  tokRaw = ClipTokenizer.fromMerges(mergesText, { normalize: false });
});

function byteEncode(piece: string): string {
  const enc = bytesToUnicode();
  return Array.from(new TextEncoder().encode(piece), (b) => enc[b]).join('');
}

describe('CLIP tokenizer vs the Python reference', () => {
  it('builds OpenAI’s vocabulary from the merges', () => {
    expect(tok.vocabSize).toBe(fixture.vocab_size);
    expect(tok.sot).toBe(fixture.sot);
    expect(tok.eot).toBe(fixture.eot);
    expect(fixture.num_merges).toBe(CLIP_NUM_MERGES);
    expect([tok.vocabSize, tok.sot, tok.eot]).toEqual([49408, 49406, 49407]);
  });

  it(`matches ${fixture.cases.length} reference cases: cleanup, pieces, BPE, ids, clip.tokenize, decode`, () => {
    for (const c of fixture.cases) {
      const t = c.nfc ? tok : tokRaw;
      const what = `${JSON.stringify(c.text.slice(0, 50))} (nfc ${c.nfc})`;
      expect(cleanText(c.text, c.nfc), `${what}: cleaned`).toBe(c.cleaned);
      expect(pretokenize(c.cleaned), `${what}: pieces`).toEqual(c.pieces);
      expect(
        c.pieces.flatMap((p) => t.bpe(byteEncode(p))),
        `${what}: bpe`,
      ).toEqual(c.bpe);
      expect(t.tokenize(c.text), `${what}: ids`).toEqual(c.ids);
      expect(Array.from(t.encode(c.text)), `${what}: tokenize`).toEqual(c.tokenized77);
      expect(t.decode(c.ids), `${what}: decode`).toBe(c.decoded);
    }
  });

  it('covers the edge cases the brief lists', () => {
    const texts = new Set(fixture.cases.map((c) => c.text));
    for (const t of ['2024', 'café naïve', '表情 認識', 'улыбка', '😀', "it's don't", '&amp;']) {
      expect(
        [...texts].some((x) => x.includes(t)),
        t,
      ).toBe(true);
    }
    expect(texts.has('')).toBe(true);
    expect(fixture.cases.some((c) => c.ids.length > 75)).toBe(true);
    // "2024" splits into single digits.
    const c = fixture.cases.find((x) => x.text.startsWith('in 2024'))!;
    expect(c.pieces.slice(1, 5)).toEqual(['2', '0', '2', '4']);
  });
});

describe('CLIP tokenizer API', () => {
  it('knows ids by construction and round-trips the LRDif prompt', () => {
    // bytes_to_unicode puts '!'..'~' first: 'a' is entry 0x61 − 0x21 = 64, 'a</w>' is 256 + 64.
    expect(tok.tokenId('!')).toBe(0);
    expect(tok.tokenId('a')).toBe(64);
    expect(tok.tokenId('a</w>')).toBe(320);
    // The first merge line is "i n": the first merged entry, 512.
    expect(mergesText.split('\n')[1]).toBe('i n');
    expect(tok.tokenId('in')).toBe(512);
    expect(tok.idToToken(49406)).toBe('<|startoftext|>');
    const text = 'a photo of a happy looking face.';
    const ids = tok.encode(text);
    expect(ids[0]).toBe(49406);
    expect(ids[1]).toBe(320);
    const n = ids.indexOf(49407);
    expect(Array.from(ids.subarray(n + 1)).every((v) => v === 0)).toBe(true);
    const decoded = tok.decode(ids, { skipSpecial: true });
    expect(decoded).toBe('a photo of a happy looking face . ');
    expect(Array.from(tok.encode(decoded))).toEqual(Array.from(ids));
    expect(tok.decode(ids.subarray(0, n + 1))).toBe('<|startoftext|>a photo of a happy looking face . <|endoftext|>');
  });

  it('truncates keeping EOT last, or errors naming the length', () => {
    const long = 'happy '.repeat(100);
    const ids = tok.encode(long);
    expect(ids.length).toBe(77);
    expect(ids[76]).toBe(tok.eot);
    expect(ids[75]).toBe(tok.tokenId('happy</w>'));
    expect(() => tok.encode(long, { truncate: false })).toThrow(ClipTokenizerError);
    expect(() => tok.encode(long, { truncate: false })).toThrow(/is 102 tokens long \(with SOT and EOT\), over the context length 77/);
    const short = tok.encode('a happy face', { contextLength: 4 });
    expect(Array.from(short)).toEqual([tok.sot, 320, tok.tokenId('happy</w>')!, tok.eot]);
    expect(() => tok.encode('x', { contextLength: 1 })).toThrow(/contextLength must be an integer ≥ 2/);
  });

  it('pads with 0 (OpenAI) or EOT (Hugging Face), or not at all', () => {
    const base = Array.from(tok.encode('a face', { pad: false }));
    expect(base).toEqual([tok.sot, 320, tok.tokenId('face</w>')!, tok.eot]);
    const hf = tok.encode('a face', { padToken: tok.eot, contextLength: 8 });
    expect(Array.from(hf)).toEqual([...base, tok.eot, tok.eot, tok.eot, tok.eot]);
    const batch = tok.encodeBatch(['a face', 'a photo of a happy looking face.'], { contextLength: 10 });
    expect(batch.length).toBe(20);
    expect(Array.from(batch.subarray(0, 10))).toEqual([...base, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(batch.subarray(10))).toEqual(Array.from(tok.encode('a photo of a happy looking face.', { contextLength: 10 })));
  });

  it('loads Hugging Face vocab.json + merges.txt and uses its ids', () => {
    // A vocabulary with shuffled ids: the HF path must map through vocab.json, not construction.
    const perm = Array.from({ length: tok.vocabSize }, (_, i) => i);
    let s = 12345;
    for (let i = perm.length - 1; i > 0; i--) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const j = s % (i + 1);
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const vocab: Record<string, number> = {};
    for (let id = 0; id < tok.vocabSize; id++) vocab[tok.idToToken(id)!] = perm[id];
    const merges = `#version: 0.2\n${mergesText
      .split('\n')
      .slice(1, 1 + CLIP_NUM_MERGES)
      .join('\n')}\n`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lrdif-hf-'));
    try {
      fs.writeFileSync(path.join(dir, 'vocab.json'), JSON.stringify(vocab));
      fs.writeFileSync(path.join(dir, 'merges.txt'), merges);
      const hf = loadClipTokenizer(dir);
      expect([hf.sot, hf.eot]).toEqual([perm[49406], perm[49407]]);
      for (const c of fixture.cases.filter((x) => x.nfc).slice(0, 30)) {
        expect(hf.tokenize(c.text), c.text).toEqual(c.ids.map((i) => perm[i]));
        expect(hf.decode(c.ids.map((i) => perm[i]))).toBe(c.decoded);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads through the Node adapter (zlib) and from plain text', () => {
    const a = loadClipTokenizer();
    const b = ClipTokenizer.fromMerges(mergesText);
    const text = 'A photo of a SAD looking face, 2024 ✓';
    expect(a.tokenize(text)).toEqual(tok.tokenize(text));
    expect(b.tokenize(text)).toEqual(tok.tokenize(text));
  });

  it('reports malformed inputs clearly', () => {
    expect(() => ClipTokenizer.fromMerges('#version\ni n\na b c\n')).toThrow(/merges file line 3: expected two symbols separated by a space, got "a b c"/);
    expect(() => ClipTokenizer.fromMerges('#version only')).toThrow(/has no merges/);
    expect(() => ClipTokenizer.fromHuggingFace('{"a": 1}', '#version\na b')).toThrow(/the vocabulary has no <\|startoftext\|> token/);
    expect(() => ClipTokenizer.fromHuggingFace('{"a": -1}', '#version\na b')).toThrow(/the id of "a" must be a non-negative integer/);
    expect(() => ClipTokenizer.fromHuggingFace('[1]', '#version\na b')).toThrow(/vocab.json must be an object/);
    const tiny = ClipTokenizer.fromHuggingFace({ '<|startoftext|>': 0, '<|endoftext|>': 1, 'a</w>': 2 }, '#version\na b');
    expect(tiny.tokenize('a')).toEqual([2]);
    expect(() => tiny.tokenize('b')).toThrow(/no entry for the BPE symbol "b<\/w>" \(from "b"\)/);
    expect(() => tok.decode([5, 99999])).toThrow(/id 99999 at position 1 is not in the vocabulary \(size 49408\)/);
    expect(() => loadClipTokenizer(os.tmpdir())).toThrow(/without vocab.json/);
  });
});
