#!/usr/bin/env python3
"""Linear probe of the embeddings written by scripts/probe-embeddings.ts: multinomial logistic
regression on standardised features (train split), weight decay and class weighting chosen on
val; prints val accuracy and mean per-class accuracy (over classes with val images).
    /usr/bin/python3 scripts/linear-probe.py <dir> [names...]"""
import json, os, sys
import numpy as np, torch
d = sys.argv[1]
names = sys.argv[2:] or sorted({f.split('.')[0] for f in os.listdir(d) if f.endswith('.train.f32')})
ytr = np.array(json.load(open(os.path.join(d, 'labels.train.json'))))
yva = np.array(json.load(open(os.path.join(d, 'labels.val.json'))))
K = int(max(ytr.max(), yva.max()) + 1)
def load(n, s, N):
    v = np.fromfile(os.path.join(d, f'{n}.{s}.f32'), dtype=np.float32)
    return v.reshape(N, -1)
def fit(X, y, wd, balanced):
    torch.manual_seed(0)
    X = torch.tensor(X, dtype=torch.float64); y = torch.tensor(y)
    W = torch.zeros(X.shape[1], K, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(K, dtype=torch.float64, requires_grad=True)
    cnt = torch.bincount(y, minlength=K).double().clamp(min=1)
    w = (len(y) / (K * cnt)) if balanced else None
    opt = torch.optim.LBFGS([W, b], max_iter=300, line_search_fn='strong_wolfe')
    def closure():
        opt.zero_grad()
        l = torch.nn.functional.cross_entropy(X @ W + b, y, weight=w) + wd * (W ** 2).sum()
        l.backward(); return l
    opt.step(closure)
    return W.detach(), b.detach()
def score(W, b, X, y):
    p = (torch.tensor(X, dtype=torch.float64) @ W + b).argmax(1).numpy()
    acc = (p == y).mean()
    pc = [(p[y == k] == k).mean() for k in range(K) if (y == k).any()]
    return acc, float(np.mean(pc))
print(f'{"embedding":<20} {"dim":>4}  best-acc (wd, bal): val acc / mean-class | best-mca (wd, bal): val acc / mean-class')
for n in names:
    Xtr = load(n, 'train', len(ytr)); Xva = load(n, 'val', len(yva))
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr = (Xtr - mu) / sd; Xva = (Xva - mu) / sd
    res = []
    for wd in (1e-4, 1e-3, 1e-2):
        for bal in (False, True):
            W, b = fit(Xtr, ytr, wd, bal)
            res.append((wd, bal) + score(W, b, Xva, yva))
    ba = max(res, key=lambda r: r[2]); bm = max(res, key=lambda r: r[3])
    print(f'{n:<20} {Xtr.shape[1]:>4}  {100*ba[2]:5.1f} / {100*ba[3]:5.1f} ({ba[0]:g}, {ba[1]}) | {100*bm[2]:5.1f} / {100*bm[3]:5.1f} ({bm[0]:g}, {bm[1]})')
