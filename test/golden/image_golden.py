"""Reference decodes of face-api's demo JPEG by Pillow (an independent decoder), for test/image.test.ts.

Run: /usr/bin/python3 test/golden/image_golden.py   (Debian: python3-pil, python3-numpy)
Writes test/golden/fixtures/image.json: size, per-channel means, and a 24x24 crop of pixels.
"""
import json, os
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, '..', '..', 'node_modules', '@vladmandic', 'face-api', 'demo', 'sample1.jpg')

img = np.asarray(Image.open(SRC).convert('RGB'), dtype=np.uint8)
h, w, _ = img.shape
y0, x0 = h // 3, w // 3
crop = img[y0:y0 + 24, x0:x0 + 24]
out = {
    'file': 'node_modules/@vladmandic/face-api/demo/sample1.jpg',
    'width': w, 'height': h,
    'mean': [float(img[..., c].mean()) for c in range(3)],
    'crop': {'x': x0, 'y': y0, 'size': 24, 'rgb': crop.reshape(-1).tolist()},
}
with open(os.path.join(HERE, 'fixtures', 'image.json'), 'w') as f:
    json.dump(out, f)
print('wrote image.json', w, h)
