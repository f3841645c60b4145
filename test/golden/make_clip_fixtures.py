#!/usr/bin/env python3
"""Tiny random CLIP models and reference embeddings for test/clip.test.ts.

  /usr/bin/python3 test/golden/make_clip_fixtures.py

Needs torch, numpy and Pillow only (no transformers, no safetensors: the .safetensors files are
written by hand from the format spec: 8-byte little-endian header length, JSON header padded
with spaces to a multiple of 8, then the tensors' bytes). Writes test/golden/fixtures/clip-tiny/:

  vocab.json, merges.txt (shared copies in each model folder): a small byte-level BPE vocabulary
      covering the test texts, SOT/EOT in the middle of the id range (so pooling at the first EOT
      and at the highest id differ).
  img-*.png: three small RGB images of different sizes and aspect ratios.
  hf-quickgelu/   Hugging Face CLIPModel names, config.json (quick_gelu, eos_token_id = EOT:
                  pooled at the first EOT), model.safetensors (F32, with int64 position_ids
                  buffers), model-f16.safetensors and model-bf16.safetensors (the same weights).
  hf-gelu/        other weights, config.json with hidden_act gelu and the legacy eos_token_id 2
                  (transformers then pools at the highest id).
  openclip/       hf-gelu's weights in the OpenAI/OpenCLIP layout (fused in_proj, transposed
                  projections) with an open_clip_config.json (gelu, argmax pooling).
  openai-inferred/ a config-less OpenAI-layout F16 file (width 64 so the heads follow OpenAI's
                  width / 64 rule; 2 vision blocks, 1 text block): every size must be inferred.
  reference.json  token ids, and image/text embeddings of every model computed in float64 by the
                  independent PyTorch implementation of CLIP's forward pass below, from the
                  weights as stored (F16/BF16 rounded) and the images preprocessed with Pillow
                  as CLIPImageProcessor does (bicubic shortest side, centre crop, mean/std).
"""
import json
import math
import os
import shutil
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from clip_tokenizer_reference import bytes_to_unicode, get_pairs, pretokenize, basic_clean, whitespace_clean  # noqa: E402

OUT = os.path.join(HERE, 'fixtures', 'clip-tiny')
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
CONTEXT = 20

TEXTS = [
    'a photo of a happy looking face.',
    'a photo of a sad looking face.',
    'A photo of a SURPRISED looking face!',
    'neutral',
    'happy, happy face',
    'a photo of a face a photo of a face a photo of a face a photo of a face',  # truncated to 20
]
# merge chains (left to right) for these words; 'surprised' is only partly merged, so it is
# several tokens
FULL_WORDS = ['a', 'photo', 'of', 'happy', 'sad', 'looking', 'face', 'neutral']
PARTIAL = {'surprised': 3}


# ----------------------------------------------------------------------------- tokenizer

class TinyTokenizer:
    """OpenAI's simple_tokenizer BPE (as in clip_tokenizer_reference.py) over a given vocab and merges."""

    def __init__(self, encoder, merges):
        self.byte_encoder = bytes_to_unicode()
        self.encoder = encoder
        self.bpe_ranks = dict(zip(merges, range(len(merges))))

    def bpe(self, token):
        word = tuple(token[:-1]) + (token[-1] + '</w>',)
        pairs = get_pairs(word)
        if not pairs:
            return [token + '</w>']
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float('inf')))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word, i = [], 0
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
        return list(word)

    def symbols(self, text):
        out = []
        for piece in pretokenize(whitespace_clean(basic_clean(text, True)).lower()):
            out.extend(self.bpe(''.join(self.byte_encoder[b] for b in piece.encode('utf-8'))))
        return out

    def tokenize(self, text):
        """clip.tokenize(truncate=True) at CONTEXT: SOT ids EOT, EOT kept last, 0-padded."""
        ids = [self.encoder['<|startoftext|>']] + [self.encoder[s] for s in self.symbols(text)] + [self.encoder['<|endoftext|>']]
        if len(ids) > CONTEXT:
            ids = ids[:CONTEXT]
            ids[-1] = self.encoder['<|endoftext|>']
        return ids + [0] * (CONTEXT - len(ids))


def build_vocab(rng):
    merges = []
    for w in FULL_WORDS + list(PARTIAL):
        chars = list(w[:-1]) + [w[-1] + '</w>']
        steps = PARTIAL.get(w, len(chars) - 1)
        cur = chars[0]
        for c in chars[1:1 + steps]:
            if (cur, c) not in merges:
                merges.append((cur, c))
            cur = cur + c
    tok = TinyTokenizer({}, merges)
    symbols = []
    for t in TEXTS:
        for s in tok.symbols(t):
            if s not in symbols:
                symbols.append(s)
    symbols += ['x', 'z</w>']  # in the vocabulary, not in the texts
    order = list(rng.permutation(len(symbols)))
    vocab = [symbols[i] for i in order]
    mid = len(vocab) // 2
    vocab = vocab[:mid] + ['<|startoftext|>', '<|endoftext|>'] + vocab[mid:]
    encoder = {s: i for i, s in enumerate(vocab)}
    return TinyTokenizer(encoder, merges), merges


# ----------------------------------------------------------------------------- weights

def hf_weights(gen, vis, txt, proj, vocab):
    """Random CLIPModel state dict (float32) in Hugging Face naming, plus its position_ids buffers."""
    W, Wt = vis['width'], txt['width']
    p = {}

    def normal(shape, std):
        return (torch.randn(shape, generator=gen, dtype=torch.float64) * std).float()

    def ln(name, w):
        p[name + '.weight'] = 1 + normal([w], 0.1)
        p[name + '.bias'] = normal([w], 0.1)

    def linear(name, out_f, in_f, bias=True):
        p[name + '.weight'] = normal([out_f, in_f], 1 / math.sqrt(in_f))
        if bias:
            p[name + '.bias'] = normal([out_f], 0.1)

    def blocks(prefix, c):
        for i in range(c['layers']):
            b = f'{prefix}.encoder.layers.{i}'
            ln(b + '.layer_norm1', c['width'])
            for n in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):
                linear(f'{b}.self_attn.{n}', c['width'], c['width'])
            ln(b + '.layer_norm2', c['width'])
            linear(b + '.mlp.fc1', c['mlp'], c['width'])
            linear(b + '.mlp.fc2', c['width'], c['mlp'])

    g = vis['image'] // vis['patch']
    p['vision_model.embeddings.class_embedding'] = normal([W], 0.5)
    p['vision_model.embeddings.patch_embedding.weight'] = normal([W, 3, vis['patch'], vis['patch']], 1 / math.sqrt(3 * vis['patch'] ** 2))
    p['vision_model.embeddings.position_embedding.weight'] = normal([g * g + 1, W], 0.5)
    ln('vision_model.pre_layrnorm', W)
    blocks('vision_model', vis)
    ln('vision_model.post_layernorm', W)
    p['text_model.embeddings.token_embedding.weight'] = normal([vocab, Wt], 0.5)
    p['text_model.embeddings.position_embedding.weight'] = normal([txt['context'], Wt], 0.5)
    blocks('text_model', txt)
    ln('text_model.final_layer_norm', Wt)
    linear('visual_projection', proj, W, bias=False)
    linear('text_projection', proj, Wt, bias=False)
    p['logit_scale'] = torch.tensor(math.log(1 / 0.07) + 0.25, dtype=torch.float32)
    buffers = {
        'vision_model.embeddings.position_ids': torch.arange(g * g + 1, dtype=torch.int64)[None],
        'text_model.embeddings.position_ids': torch.arange(txt['context'], dtype=torch.int64)[None],
    }
    return p, buffers


def to_openai(p, vis, txt):
    """Hugging Face names -> OpenAI/OpenCLIP names (in_proj fused, projections transposed)."""
    o = {}

    def tower(src, dst, c):
        for i in range(c['layers']):
            s, d = f'{src}.encoder.layers.{i}', f'{dst}transformer.resblocks.{i}'
            o[f'{d}.ln_1.weight'], o[f'{d}.ln_1.bias'] = p[f'{s}.layer_norm1.weight'], p[f'{s}.layer_norm1.bias']
            o[f'{d}.attn.in_proj_weight'] = torch.cat([p[f'{s}.self_attn.{n}_proj.weight'] for n in 'qkv'], 0)
            o[f'{d}.attn.in_proj_bias'] = torch.cat([p[f'{s}.self_attn.{n}_proj.bias'] for n in 'qkv'], 0)
            o[f'{d}.attn.out_proj.weight'], o[f'{d}.attn.out_proj.bias'] = p[f'{s}.self_attn.out_proj.weight'], p[f'{s}.self_attn.out_proj.bias']
            o[f'{d}.ln_2.weight'], o[f'{d}.ln_2.bias'] = p[f'{s}.layer_norm2.weight'], p[f'{s}.layer_norm2.bias']
            o[f'{d}.mlp.c_fc.weight'], o[f'{d}.mlp.c_fc.bias'] = p[f'{s}.mlp.fc1.weight'], p[f'{s}.mlp.fc1.bias']
            o[f'{d}.mlp.c_proj.weight'], o[f'{d}.mlp.c_proj.bias'] = p[f'{s}.mlp.fc2.weight'], p[f'{s}.mlp.fc2.bias']

    o['visual.class_embedding'] = p['vision_model.embeddings.class_embedding']
    o['visual.conv1.weight'] = p['vision_model.embeddings.patch_embedding.weight']
    o['visual.positional_embedding'] = p['vision_model.embeddings.position_embedding.weight']
    o['visual.ln_pre.weight'], o['visual.ln_pre.bias'] = p['vision_model.pre_layrnorm.weight'], p['vision_model.pre_layrnorm.bias']
    tower('vision_model', 'visual.', vis)
    o['visual.ln_post.weight'], o['visual.ln_post.bias'] = p['vision_model.post_layernorm.weight'], p['vision_model.post_layernorm.bias']
    o['visual.proj'] = p['visual_projection.weight'].t().contiguous()
    o['token_embedding.weight'] = p['text_model.embeddings.token_embedding.weight']
    o['positional_embedding'] = p['text_model.embeddings.position_embedding.weight']
    tower('text_model', '', txt)
    o['ln_final.weight'], o['ln_final.bias'] = p['text_model.final_layer_norm.weight'], p['text_model.final_layer_norm.bias']
    o['text_projection'] = p['text_projection.weight'].t().contiguous()
    o['logit_scale'] = p['logit_scale']
    return o


# ----------------------------------------------------------------------------- safetensors

def tensor_bytes(t, dtype):
    if dtype == 'F32':
        return t.to(torch.float32).contiguous().numpy().astype('<f4').tobytes()
    if dtype == 'F16':
        return t.to(torch.float16).contiguous().view(torch.int16).numpy().astype('<i2').tobytes()
    if dtype == 'BF16':
        return t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().astype('<i2').tobytes()
    if dtype == 'I64':
        return t.to(torch.int64).contiguous().numpy().astype('<i8').tobytes()
    raise ValueError(dtype)


def write_safetensors(path, tensors, float_dtype='F32'):
    """tensors: name -> torch tensor; floats stored as float_dtype, int64 as I64."""
    header, chunks, pos = {}, [], 0
    for name, t in tensors.items():
        dtype = 'I64' if t.dtype == torch.int64 else float_dtype
        data = tensor_bytes(t, dtype)
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [pos, pos + len(data)]}
        chunks.append(data)
        pos += len(data)
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def as_stored(p, dtype):
    """The float64 values a reader of a file of this dtype sees."""
    if dtype == 'F32':
        return {k: v.double() for k, v in p.items()}
    tdt = torch.float16 if dtype == 'F16' else torch.bfloat16
    return {k: v.to(tdt).double() for k, v in p.items()}


# ----------------------------------------------------------------------------- reference CLIP

def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def activation(x, kind):
    if kind == 'quick_gelu':
        return x * torch.sigmoid(1.702 * x)
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


def lin(x, p, name):
    y = x @ p[name + '.weight'].t()
    return y + p[name + '.bias'] if name + '.bias' in p else y


def attention(x, p, pre, heads, causal):
    B, L, W = x.shape
    d = W // heads
    q = lin(x, p, pre + '.q_proj').view(B, L, heads, d).transpose(1, 2) * d ** -0.5
    k = lin(x, p, pre + '.k_proj').view(B, L, heads, d).transpose(1, 2)
    v = lin(x, p, pre + '.v_proj').view(B, L, heads, d).transpose(1, 2)
    s = q @ k.transpose(-1, -2)
    if causal:
        s = s + torch.full((L, L), float('-inf'), dtype=s.dtype).triu(1)
    o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, L, W)
    return lin(o, p, pre + '.out_proj')


def encoder(x, p, prefix, c, causal):
    for i in range(c['layers']):
        b = f'{prefix}.encoder.layers.{i}'
        x = x + attention(layer_norm(x, p[b + '.layer_norm1.weight'], p[b + '.layer_norm1.bias']), p, b + '.self_attn', c['heads'], causal)
        h = layer_norm(x, p[b + '.layer_norm2.weight'], p[b + '.layer_norm2.bias'])
        x = x + lin(activation(lin(h, p, b + '.mlp.fc1'), c['act']), p, b + '.mlp.fc2')
    return x


def image_features(pixels, p, vis):
    x = F.conv2d(pixels, p['vision_model.embeddings.patch_embedding.weight'], stride=vis['patch'])
    x = x.flatten(2).transpose(1, 2)
    cls = p['vision_model.embeddings.class_embedding'].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], 1) + p['vision_model.embeddings.position_embedding.weight']
    x = layer_norm(x, p['vision_model.pre_layrnorm.weight'], p['vision_model.pre_layrnorm.bias'])
    x = encoder(x, p, 'vision_model', vis, False)
    pooled = layer_norm(x[:, 0], p['vision_model.post_layernorm.weight'], p['vision_model.post_layernorm.bias'])
    return pooled @ p['visual_projection.weight'].t()


def text_features(ids, p, txt):
    L = ids.shape[1]
    x = p['text_model.embeddings.token_embedding.weight'][ids] + p['text_model.embeddings.position_embedding.weight'][:L]
    x = encoder(x, p, 'text_model', txt, True)
    x = layer_norm(x, p['text_model.final_layer_norm.weight'], p['text_model.final_layer_norm.bias'])
    if txt['pool'] == 'argmax':
        at = ids.argmax(-1)
    else:
        at = (ids == txt['eot']).int().argmax(-1)
    return x[torch.arange(x.shape[0]), at] @ p['text_projection.weight'].t()


# ----------------------------------------------------------------------------- images

def make_images(rng):
    images = {}
    for name, (w, h) in {'img-wide.png': (48, 40), 'img-tall.png': (29, 45), 'img-square.png': (32, 32)}.items():
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        base = np.stack([128 + 100 * np.sin(xx / (3 + 2 * c) + yy / (5 + c) + c) for c in range(3)], -1)
        noise = rng.normal(0, 25, (h, w, 3))
        images[name] = np.clip(base + noise, 0, 255).round().astype(np.uint8)
    return images


def preprocess(img_u8, size):
    """CLIPImageProcessor: shortest side to `size` (bicubic, long side int(size·long/short)), centre crop (offsets floor), /255, mean/std."""
    h, w = img_u8.shape[:2]
    short, long = min(w, h), max(w, h)
    new_long = int(size * long / short)
    nw, nh = (size, new_long) if w <= h else (new_long, size)
    im = Image.fromarray(img_u8, 'RGB').resize((nw, nh), resample=Image.BICUBIC)
    a = np.asarray(im, dtype=np.float64)
    top, left = (nh - size) // 2, (nw - size) // 2
    a = a[top:top + size, left:left + size] / 255.0
    a = (a - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


# ----------------------------------------------------------------------------- output

def hf_config(vis, txt, proj, eos):
    return {
        'architectures': ['CLIPModel'], 'model_type': 'clip', 'projection_dim': proj,
        'logit_scale_init_value': 2.6592,
        'text_config': {
            'vocab_size': txt['vocab'], 'max_position_embeddings': txt['context'], 'hidden_size': txt['width'],
            'num_hidden_layers': txt['layers'], 'num_attention_heads': txt['heads'], 'intermediate_size': txt['mlp'],
            'hidden_act': txt['act'], 'layer_norm_eps': 1e-5, 'eos_token_id': eos, 'bos_token_id': txt['sot'],
            'pad_token_id': 1, 'model_type': 'clip_text_model',
        },
        'vision_config': {
            'image_size': vis['image'], 'patch_size': vis['patch'], 'hidden_size': vis['width'],
            'num_hidden_layers': vis['layers'], 'num_attention_heads': vis['heads'], 'intermediate_size': vis['mlp'],
            'hidden_act': vis['act'], 'layer_norm_eps': 1e-5, 'num_channels': 3, 'model_type': 'clip_vision_model',
        },
    }


def rounded(t):
    return [[float('%.9g' % v) for v in row] for row in t.tolist()]


def main():
    rng = np.random.default_rng(20240202)
    tok, merges = build_vocab(rng)
    V = len(tok.encoder)
    sot, eot = tok.encoder['<|startoftext|>'], tok.encoder['<|endoftext|>']
    assert 0 < eot < V - 1, 'EOT must not be the highest id'
    ids = torch.tensor([tok.tokenize(t) for t in TEXTS], dtype=torch.int64)
    assert (ids.argmax(-1) != (ids == eot).int().argmax(-1)).any(), 'the texts must tell the two pooling rules apart'

    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    vocab_json = json.dumps(tok.encoder, ensure_ascii=True)
    merges_txt = '#version: 0.2\n' + '\n'.join(f'{a} {b}' for a, b in merges) + '\n'

    def tokenizer_files(d):
        with open(os.path.join(d, 'vocab.json'), 'w', encoding='utf-8') as f:
            f.write(vocab_json)
        with open(os.path.join(d, 'merges.txt'), 'w', encoding='utf-8') as f:
            f.write(merges_txt)

    images = make_images(rng)
    for name, a in images.items():
        Image.fromarray(a, 'RGB').save(os.path.join(OUT, name))
    image_names = sorted(images)

    def pixels(size):
        return torch.stack([preprocess(images[n], size) for n in image_names])

    ref = {
        'source': 'test/golden/make_clip_fixtures.py (float64 PyTorch CLIP forward, Pillow preprocessing)',
        'texts': TEXTS, 'ids': ids.tolist(), 'images': image_names, 'context': CONTEXT,
        'vocab_size': V, 'sot': sot, 'eot': eot, 'models': {},
    }

    def reference(name, p, vis, txt, proj, extra=None):
        with torch.no_grad():
            img = image_features(pixels(vis['image']), p, vis)
            txt_f = text_features(ids, p, txt)
        entry = {'image': rounded(img), 'text': rounded(txt_f), 'logit_scale': float(p['logit_scale']),
                 'projection_dim': proj, 'vision': vis, 'text_config': txt}
        entry.update(extra or {})
        ref['models'][name] = entry

    gen = torch.Generator().manual_seed(1234)
    base_txt = {'vocab': V, 'context': CONTEXT, 'width': 24, 'layers': 2, 'heads': 2, 'mlp': 40, 'sot': sot}

    # hf-quickgelu: pooled at the first EOT
    vis = {'image': 32, 'patch': 8, 'width': 32, 'layers': 2, 'heads': 2, 'mlp': 37, 'act': 'quick_gelu'}
    txt = dict(base_txt, act='quick_gelu', pool='eot', eot=eot)
    p, buffers = hf_weights(gen, vis, txt, 16, V)
    d = os.path.join(OUT, 'hf-quickgelu')
    os.makedirs(d)
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(hf_config(vis, txt, 16, eot), f, indent=2)
    tokenizer_files(d)
    write_safetensors(os.path.join(d, 'model.safetensors'), {**p, **buffers}, 'F32')
    write_safetensors(os.path.join(d, 'model-f16.safetensors'), p, 'F16')
    write_safetensors(os.path.join(d, 'model-bf16.safetensors'), p, 'BF16')
    for dt, key in (('F32', 'hf-quickgelu'), ('F16', 'hf-quickgelu-f16'), ('BF16', 'hf-quickgelu-bf16')):
        reference(key, as_stored(p, dt), vis, txt, 16)

    # hf-gelu: legacy eos_token_id 2 -> argmax pooling
    vis = dict(vis, act='gelu')
    txt = dict(base_txt, act='gelu', pool='argmax', eot=eot)
    p, buffers = hf_weights(gen, vis, txt, 16, V)
    d = os.path.join(OUT, 'hf-gelu')
    os.makedirs(d)
    with open(os.path.join(d, 'config.json'), 'w') as f:
        json.dump(hf_config(vis, txt, 16, 2), f, indent=2)
    tokenizer_files(d)
    write_safetensors(os.path.join(d, 'model.safetensors'), {**p, **buffers}, 'F32')
    reference('hf-gelu', as_stored(p, 'F32'), vis, txt, 16)

    # openclip: the same weights in the OpenAI layout
    d = os.path.join(OUT, 'openclip')
    os.makedirs(d)
    oc = {'model_cfg': {'embed_dim': 16, 'quick_gelu': False,
                        'vision_cfg': {'image_size': 32, 'layers': 2, 'width': 32, 'patch_size': 8, 'head_width': 16, 'mlp_ratio': 37 / 32},
                        'text_cfg': {'context_length': CONTEXT, 'vocab_size': V, 'width': 24, 'heads': 2, 'layers': 2, 'mlp_ratio': 40 / 24}},
          'preprocess_cfg': {'mean': CLIP_MEAN, 'std': CLIP_STD}}
    with open(os.path.join(d, 'open_clip_config.json'), 'w') as f:
        json.dump(oc, f, indent=2)
    tokenizer_files(d)
    write_safetensors(os.path.join(d, 'open_clip_model.safetensors'), to_openai(p, vis, txt), 'F32')

    # openai-inferred: no config; width 64 (one head by width / 64), QuickGELU, argmax pooling
    vis = {'image': 32, 'patch': 8, 'width': 64, 'layers': 2, 'heads': 1, 'mlp': 96, 'act': 'quick_gelu'}
    txt = dict(base_txt, width=64, layers=1, heads=1, mlp=80, act='quick_gelu', pool='argmax', eot=eot)
    p, _ = hf_weights(gen, vis, txt, 24, V)
    d = os.path.join(OUT, 'openai-inferred')
    os.makedirs(d)
    tokenizer_files(d)
    write_safetensors(os.path.join(d, 'model.safetensors'), to_openai(p, vis, txt), 'F16')
    reference('openai-inferred', as_stored(p, 'F16'), vis, txt, 24)

    with open(os.path.join(OUT, 'reference.json'), 'w') as f:
        json.dump(ref, f, indent=1)
        f.write('\n')
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(OUT) for n in ns)
    print(f'wrote {OUT} ({total} bytes); vocab {V}, SOT {sot}, EOT {eot}')


if __name__ == '__main__':
    main()
