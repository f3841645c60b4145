#!/usr/bin/env python3
"""Golden values for test/resize.test.ts: Pillow's Image.resize and PyTorch's F.interpolate.

Run: /usr/bin/python3 test/golden/resize_golden.py   (Debian: python3-pil, python3-numpy, python3-torch)
Writes test/golden/fixtures/resize.json and test/golden/fixtures/resize_clip_input.png.
Re-running reproduces both files byte for byte.

1. Pillow, 8-bit RGB images (Pillow's fixed-point path: 22-bit integer weights, rounding and
   clamping to 0..255 after the horizontal pass and after the vertical pass): small seeded
   random images, down- and up-scaling by non-integer factors, BICUBIC and BILINEAR.
2. Pillow, mode 'F' (32-bit float images: double weights, no rounding): the same filters on
   float data, for the float (antialias) path.
3. PyTorch F.interpolate (float64) for the non-Pillow modes: bilinear/bicubic with and without
   align_corners and antialias, nearest and nearest-exact.
4. CLIP preprocessing as Hugging Face's CLIPImageProcessor does it (Pillow BICUBIC resize of
   the shortest side to 224, long side int(224 * long / short), centre crop with offsets
   (H - 224) // 2, /255, CLIP mean/std):
   a. of a small copy of face-api's demo photo sample2.jpg (Pillow BICUBIC to 126x90, stored
      as a PNG so the test decodes exactly the same pixels): per-channel mean/std of the result
      and a 12x12 crop of it;
   b. of the full-size JPEG (decoded by Pillow; the test decodes it with jpeg-js, so it is
      compared loosely): per-channel mean/std and an 8x8 crop.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..')
OUT = os.path.join(HERE, 'fixtures')
PHOTO_REL = 'node_modules/@vladmandic/face-api/demo/sample2.jpg'
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


def f32list(a):
    return [float(repr(np.float32(v))) for v in np.asarray(a, dtype=np.float32).ravel()]


def g8(a):
    return [float('%.8g' % v) for v in np.asarray(a, dtype=np.float64).ravel()]


def pillow_rgb_cases():
    rng = np.random.default_rng(7)
    specs = [
        # (in_w, in_h, out_w, out_h, filter)
        (17, 13, 7, 5, 'bicubic'),
        (17, 13, 7, 5, 'bilinear'),
        (9, 11, 20, 15, 'bicubic'),
        (9, 11, 20, 15, 'bilinear'),
        (23, 10, 11, 17, 'bicubic'),
        (21, 19, 8, 8, 'bilinear'),
        (26, 21, 9, 19, 'bicubic'),
    ]
    out = []
    for (iw, ih, ow, oh, name) in specs:
        px = rng.integers(0, 256, size=(ih, iw, 3), dtype=np.uint8)
        filt = Image.BICUBIC if name == 'bicubic' else Image.BILINEAR
        res = np.asarray(Image.fromarray(px, 'RGB').resize((ow, oh), filt), dtype=np.uint8)
        out.append({'filter': name, 'in': [iw, ih], 'out': [ow, oh],
                    'input': px.ravel().tolist(), 'output': res.ravel().tolist()})
    return out


def pillow_float_cases():
    rng = np.random.default_rng(8)
    specs = [(19, 14, 6, 9, 'bicubic'), (19, 14, 6, 9, 'bilinear'), (7, 6, 16, 11, 'bicubic'), (7, 6, 16, 11, 'bilinear')]
    out = []
    for (iw, ih, ow, oh, name) in specs:
        px = rng.uniform(-1, 1, size=(ih, iw)).astype(np.float32)
        filt = Image.BICUBIC if name == 'bicubic' else Image.BILINEAR
        res = np.asarray(Image.fromarray(px, 'F').resize((ow, oh), filt), dtype=np.float32)
        out.append({'filter': name, 'in': [iw, ih], 'out': [ow, oh], 'input': f32list(px), 'output': f32list(res)})
    return out


def torch_cases():
    torch.manual_seed(0)
    rng = np.random.default_rng(9)
    x_small = rng.uniform(-1, 1, size=(2, 1, 7, 9)).astype(np.float32)
    x_big = rng.uniform(-1, 1, size=(1, 2, 13, 17)).astype(np.float32)
    specs = [
        # (input, out_h, out_w, mode, align_corners, antialias)
        ('small', 5, 13, 'bilinear', False, False),
        ('small', 11, 4, 'bilinear', False, False),
        ('small', 5, 13, 'bilinear', True, False),
        ('small', 11, 4, 'bilinear', True, False),
        ('small', 5, 13, 'bicubic', False, False),
        ('small', 11, 4, 'bicubic', False, False),
        ('small', 5, 13, 'bicubic', True, False),
        ('big', 6, 7, 'bilinear', False, True),
        ('big', 6, 7, 'bicubic', False, True),
        ('big', 20, 9, 'bilinear', False, True),
        ('big', 20, 9, 'bicubic', False, True),
        ('big', 6, 7, 'bilinear', True, True),
        ('big', 5, 23, 'bicubic', True, True),
        ('small', 5, 13, 'nearest', None, False),
        ('small', 11, 4, 'nearest', None, False),
        ('small', 14, 18, 'nearest', None, False),
        ('small', 5, 13, 'nearest-exact', None, False),
        ('small', 11, 4, 'nearest-exact', None, False),
    ]
    inputs = {'small': x_small, 'big': x_big}
    out = []
    for (name, oh, ow, mode, align, aa) in specs:
        x = torch.from_numpy(inputs[name].astype(np.float64))
        kw = {'size': (oh, ow), 'mode': mode}
        if mode in ('bilinear', 'bicubic'):
            kw['align_corners'] = align
            kw['antialias'] = aa
        y = F.interpolate(x, **kw)
        out.append({'input': name, 'out': [oh, ow], 'mode': mode, 'alignCorners': bool(align), 'antialias': aa,
                    'output': g8(y.numpy())})
    return {'inputs': {k: {'shape': list(v.shape), 'data': f32list(v)} for k, v in inputs.items()}, 'cases': out}


def clip_preprocess(img):
    """Hugging Face CLIPImageProcessor (do_resize, do_center_crop, do_rescale, do_normalize)."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(224 * long / short)
    nw, nh = (224, new_long) if w <= h else (new_long, 224)
    r = np.asarray(img.resize((nw, nh), Image.BICUBIC), dtype=np.float64)
    top, left = (nh - 224) // 2, (nw - 224) // 2
    c = r[top:top + 224, left:left + 224]
    return ((c / 255.0 - CLIP_MEAN) / CLIP_STD).transpose(2, 0, 1), (nw, nh, left, top)


def summary(chw, crop_at, crop_size):
    y, x = crop_at
    return {
        'mean': g8(chw.mean(axis=(1, 2))),
        'std': g8(chw.std(axis=(1, 2))),
        'crop': {'x': x, 'y': y, 'size': crop_size, 'chw': g8(chw[:, y:y + crop_size, x:x + crop_size])},
    }


def clip_cases():
    photo = Image.open(os.path.join(ROOT, PHOTO_REL)).convert('RGB')
    small = photo.resize((126, 90), Image.BICUBIC)
    png = os.path.join(OUT, 'resize_clip_input.png')
    small.save(png, optimize=True)
    chw_small, geo_small = clip_preprocess(small)
    chw_full, geo_full = clip_preprocess(photo)
    return {
        'small': {'file': 'test/golden/fixtures/resize_clip_input.png', 'resized': geo_small[:2], 'offset': geo_small[2:],
                  **summary(chw_small, (100, 90), 12)},
        'full': {'file': PHOTO_REL, 'resized': geo_full[:2], 'offset': geo_full[2:], **summary(chw_full, (96, 108), 8)},
    }


def main():
    data = {
        'pillow_rgb': pillow_rgb_cases(),
        'pillow_float': pillow_float_cases(),
        'torch': torch_cases(),
        'clip': clip_cases(),
    }
    with open(os.path.join(OUT, 'resize.json'), 'w') as f:
        json.dump(data, f, separators=(',', ':'))
        f.write('\n')
    print('wrote resize.json and resize_clip_input.png')


if __name__ == '__main__':
    main()
