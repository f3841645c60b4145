#!/usr/bin/env python3
"""Independent reference for the CLIP tokenizer (test/tokenizer.test.ts).

A standalone port of OpenAI CLIP's `simple_tokenizer.py` + `clip.tokenize` (MIT, (c) 2021
OpenAI) without ftfy. Python's `re` has no \\p{L}, so CLIP's pre-tokenizer pattern
    <\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+
(regex module, IGNORECASE) is emulated by a scanner that tries the alternatives in order at each
position and classifies characters with unicodedata.category; case-insensitive literals
compare simple case folds. Text cleanup: NFC (the last step of ftfy.fix_text; optional),
html.unescape twice, collapse whitespace, strip, lowercase.

  /usr/bin/python3 test/golden/clip_tokenizer_reference.py [BPE_GZ] [OUT_JSON]

Writes the token ids for a list of test strings to test/golden/fixtures/clip_tokenizer.json.
"""
import gzip
import html
import html.entities
import json
import os
import random
import re
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_BPE = os.path.join(ROOT, 'assets', 'clip', 'bpe_simple_vocab_16e6.txt.gz')
DEFAULT_OUT = os.path.join(HERE, 'fixtures', 'clip_tokenizer.json')


def bytes_to_unicode():
    bs = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    cs = bs[:]
    n = 0
    for b in range(2 ** 8):
        if b not in bs:
            bs.append(b)
            cs.append(2 ** 8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    pairs = set()
    prev = word[0]
    for ch in word[1:]:
        pairs.add((prev, ch))
        prev = ch
    return pairs


def basic_clean(text, nfc):
    if nfc:
        text = unicodedata.normalize('NFC', text)
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    text = re.sub(r'\s+', ' ', text)
    return text.strip()


# The regex module's \s: the Unicode White_Space property.
WHITE_SPACE = set('\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000') | {chr(c) for c in range(0x2000, 0x200B)}
LITERALS = ['<|startoftext|>', '<|endoftext|>', "'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]


def fold(c):
    f = c.casefold()
    return f if len(f) == 1 else c


def is_letter(c):
    return unicodedata.category(c).startswith('L')


def is_number(c):
    return unicodedata.category(c).startswith('N')


def pretokenize(text):
    out = []
    i, n = 0, len(text)
    while i < n:
        for lit in LITERALS:
            if i + len(lit) <= n and all(fold(text[i + k]) == fold(lit[k]) for k in range(len(lit))):
                out.append(text[i:i + len(lit)])
                i += len(lit)
                break
        else:
            c = text[i]
            if is_letter(c):
                j = i
                while j < n and is_letter(text[j]):
                    j += 1
            elif is_number(c):
                j = i + 1
            elif c not in WHITE_SPACE:
                j = i
                while j < n and not (text[j] in WHITE_SPACE or is_letter(text[j]) or is_number(text[j])):
                    j += 1
            else:
                i += 1
                continue
            out.append(text[i:j])
            i = j
    return out


class SimpleTokenizer:
    def __init__(self, bpe_path):
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {v: k for k, v in self.byte_encoder.items()}
        merges = gzip.open(bpe_path).read().decode('utf-8').split('\n')
        merges = merges[1:49152 - 256 - 2 + 1]
        merges = [tuple(merge.split()) for merge in merges]
        vocab = list(bytes_to_unicode().values())
        vocab = vocab + [v + '</w>' for v in vocab]
        for merge in merges:
            vocab.append(''.join(merge))
        vocab.extend(['<|startoftext|>', '<|endoftext|>'])
        self.encoder = dict(zip(vocab, range(len(vocab))))
        self.decoder = {v: k for k, v in self.encoder.items()}
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.cache = {'<|startoftext|>': '<|startoftext|>', '<|endoftext|>': '<|endoftext|>'}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + '</w>',)
        pairs = get_pairs(word)
        if not pairs:
            return token + '</w>'
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float('inf')))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = ' '.join(word)
        self.cache[token] = word
        return word

    def clean(self, text, nfc=True):
        return whitespace_clean(basic_clean(text, nfc)).lower()

    def encode(self, text, nfc=True):
        pieces, bpe_tokens = [], []
        for token in pretokenize(self.clean(text, nfc)):
            pieces.append(token)
            token = ''.join(self.byte_encoder[b] for b in token.encode('utf-8'))
            bpe_tokens.extend(self.bpe(token).split(' '))
        return pieces, bpe_tokens, [self.encoder[t] for t in bpe_tokens]

    def decode(self, tokens):
        text = ''.join([self.decoder[token] for token in tokens])
        return bytearray([self.byte_decoder[c] for c in text]).decode('utf-8', errors='replace').replace('</w>', ' ')


def tokenize(tok, ids, context_length=77):
    """clip.tokenize(text, truncate=True) for one text: SOT ids EOT, truncated keeping EOT last, 0-padded."""
    sot, eot = tok.encoder['<|startoftext|>'], tok.encoder['<|endoftext|>']
    tokens = [sot] + ids + [eot]
    if len(tokens) > context_length:
        tokens = tokens[:context_length]
        tokens[-1] = eot
    return tokens + [0] * (context_length - len(tokens))


def test_strings():
    legacy = sorted(k for k in html.entities.html5 if not k.endswith(';'))
    typographic = ['apos', 'hellip', 'mdash', 'ndash', 'lsquo', 'rsquo', 'ldquo', 'rdquo', 'sbquo', 'bdquo', 'bull',
                   'trade', 'euro', 'dagger', 'Dagger', 'permil', 'lsaquo', 'rsaquo', 'prime', 'Prime', 'thinsp', 'ensp',
                   'emsp', 'zwnj', 'zwj', 'lrm', 'rlm', 'hearts', 'larr', 'rarr', 'uarr', 'darr', 'harr', 'minus', 'le',
                   'ge', 'ne', 'infin', 'oelig', 'OElig', 'scaron', 'Scaron', 'Yuml', 'fnof', 'circ', 'tilde']
    texts = [
        'a photo of a happy looking face.',
        'A Photo Of A SURPRISED looking face!',
        'a photo of a neutral looking face.',
        'Hello, world!!! ... ?! (really) [yes] {no} #tag @user 50% $3 a+b=c',
        'in 2024, 3.14159 and 1,000,000 people; 42nd street',
        'café naïve résumé',
        'cafe\u0301 nai\u0308ve',
        '表情 認識',
        '笑顔のテスト、喜び。',
        'улыбка и грусть',
        'ΟΔΟΣ Σίσυφος',
        'naïve über straße İstanbul',
        'मुस्कान',
        '😀 happy 👍🏽 face 🙂 👨‍👩‍👧',
        "it's don't we're they've i'm you'll he'd IT'S DON'T",
        "rock 'n' roll ''quoted'' 'sup it\u2019s it'ſ",
        '&amp; &lt;b&gt; &quot;quoted&quot; &#39;apos&#39; &#x41;&#66; &amp;amp; &nbsp;x &ampx fish &amp chips &AMP; &unknownentity; &',
        '&#0; &#13; &#128; &#x80; &#x9f; &#150; &#55296; &#1114112; &#65534; &#11; &#x1F600; &#127;; &#99999999999;',
        '   \t\n  spaced   out \u3000 text \u00a0 here \x1c\x85 end \u2028 ',
        '\ufeffbom text \u200bzero width',
        'line1\nline2\r\nline3\tcol',
        '<|startoftext|>hello<|endoftext|> <|ENDOFTEXT|>',
        '٣ ½ ² Ⅻ ১২',
        '𝒜𝓅𝓅𝓁ℯ 𝟙𝟚',
        'supercalifragilisticexpialidocious antidisestablishmentarianism',
        'a' * 60,
        'ÜNÏCÖDÉ ÀÉÎ Ærøskøbing',
        ' '.join(['a photo of a happy looking face'] * 12),
        '',
        '     ',
        '!',
        'x',
    ]
    texts.append(' '.join(f'&{k}; &{k} &{k}z' for k in legacy))
    texts.append(' '.join(f'&{k};' for k in typographic))
    texts.append(' '.join(f'&#{c};' for c in range(0, 0xA1)))
    # Seeded random mixtures from stable Unicode ranges (named entities only as whole, ';'-terminated fragments).
    rng = random.Random(1234)
    pool = (list('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789') * 3 + list(" ,.!?'\"-_:;()[]/\\*+=<>|~`^") * 2
            + list('éèêëàâäçñöüßøåæœ') + list('абвгдежзийклмнопрстуфхцчшщыэюяАБВГД') + list('的一是不了人我在有他这中大来上国个到说')
            + list('αβγδεζηθικλμνξοπρστυφχψω') + ['😀', '👍', '🏽', '\u200d', '❤', '\ufe0f'] + ['\u0301', '\u0308', '\u093f']
            + [' ', ' ', ' ', '  ', '\t', '\n', '\u3000'] + ["'s", "'t", "'re", "'LL", '&amp;', '&lt;', '&#39;', '&#x263a;', '& ', '&quot;'])
    for _ in range(40):
        texts.append(''.join(rng.choice(pool) for _ in range(rng.randint(5, 120))))
    return texts


def main():
    bpe_path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_BPE
    out_path = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    tok = SimpleTokenizer(bpe_path)
    cases = []
    for nfc in (True, False):
        for text in test_strings():
            if not nfc and unicodedata.normalize('NFC', text) == text:
                continue  # only texts that NFC changes are repeated without it
            pieces, bpe_tokens, ids = tok.encode(text, nfc)
            cases.append({
                'text': text,
                'nfc': nfc,
                'cleaned': tok.clean(text, nfc),
                'pieces': pieces,
                'bpe': bpe_tokens,
                'ids': ids,
                'tokenized77': tokenize(tok, ids),
                'decoded': tok.decode(ids),
            })
    out = {
        'source': 'test/golden/clip_tokenizer_reference.py (port of OpenAI CLIP simple_tokenizer.py, without ftfy)',
        'vocab_size': len(tok.encoder),
        'sot': tok.encoder['<|startoftext|>'],
        'eot': tok.encoder['<|endoftext|>'],
        'num_merges': len(tok.bpe_ranks),
        'cases': cases,
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=True, indent=0)
        f.write('\n')
    print(f'wrote {len(cases)} cases to {out_path}')


if __name__ == '__main__':
    main()
