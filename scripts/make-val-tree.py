#!/usr/bin/env python3
"""Symlink tree <src>-v with train/ (minus val persons), val/ (~15 % of train persons, seeded) and test/.
Person = file name before the last _NNNN. Temporary stand-in until `lrdif train` carves its own validation split."""
import os, random, re, sys
src, dst = sys.argv[1], sys.argv[2]
frac = float(sys.argv[3]) if len(sys.argv) > 3 else 0.15
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 0
def person(f):
    m = re.match(r'^(.*)_\d+\.[^.]+$', f)
    return m.group(1) if m else os.path.splitext(f)[0]
items = []
for c in sorted(os.listdir(os.path.join(src, 'train'))):
    for f in sorted(os.listdir(os.path.join(src, 'train', c))):
        items.append((c, f))
persons = sorted({person(f) for _, f in items})
rng = random.Random(seed)
rng.shuffle(persons)
# take persons until ~frac of the images
target = frac * len(items)
count = {}
for c, f in items: count[person(f)] = count.get(person(f), 0) + 1
val, n = set(), 0
for p in persons:
    if n >= target: break
    val.add(p); n += count[p]
for c, f in items:
    split = 'val' if person(f) in val else 'train'
    d = os.path.join(dst, split, c); os.makedirs(d, exist_ok=True)
    os.symlink(os.path.abspath(os.path.join(src, 'train', c, f)), os.path.join(d, f))
for c in sorted(os.listdir(os.path.join(src, 'test'))):
    d = os.path.join(dst, 'test', c); os.makedirs(d, exist_ok=True)
    for f in sorted(os.listdir(os.path.join(src, 'test', c))):
        os.symlink(os.path.abspath(os.path.join(src, 'test', c, f)), os.path.join(d, f))
for s in ('train', 'val', 'test'):
    print(s, {c: len(os.listdir(os.path.join(dst, s, c))) for c in sorted(os.listdir(os.path.join(dst, s)))})
