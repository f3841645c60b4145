#!/usr/bin/env python3
"""PyTorch peer of bench/lrdif.bench.ts: the same LRDif steps on the CPU, with the independent
PyTorch implementation of test/golden/make_lrdif_fixtures.py (float32, PyTorch's default init).

Usage: /usr/bin/python3 bench/lrdif_torch_peer.py '<json>'  with
  {"config": {...LrdifConfig fields...}, "batch": B, "samples": N, "cases": ["stage1", "stage2", "infer"],
   "threads": n (default: every core)}
Prints one JSON line: {"torch": version, "threads": n, "cases": {case: {"median_ms", "samples"}}}
  stage1  one training step of stage 1: FPEN_S1 + UDCformer forward, CE, backward, AdamW step
  stage2  one training step of stage 2: FPEN_S2, the T-step chain from the noised target, UDCformer,
          CE + KL, backward, AdamW step (FPEN_S1 frozen, under no_grad)
  infer   one inference batch: FPEN_S2, the chain from N(0, I), UDCformer, softmax (no_grad)
Inputs are random (the speed does not depend on the values); the frozen encoders are not timed.
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'test', 'golden'))
import make_lrdif_fixtures as M  # noqa: E402  (sets float64 as the default dtype)

torch.set_default_dtype(torch.float32)


def main():
    args = json.loads(sys.argv[1])
    c = dict(M.CFG)
    c.update(args['config'])
    B = int(args['batch'])
    samples = int(args.get('samples', 5))
    cases = args.get('cases', ['stage1', 'stage2', 'infer'])
    # every core, as lavapipe uses (this torch build's OpenMP default is 1 thread here)
    torch.set_num_threads(int(args.get('threads') or os.cpu_count() or 1))
    torch.manual_seed(0)
    model = M.Lrdif(c).float()
    S, P, C, T = c['imageSize'], c['clipDim'], c['priorDim'], c['timesteps']
    lc = c['landmarkChannels']
    x = torch.rand(B, 3, S, S)
    taps = [torch.rand(B, lc[0], S // 4, S // 4), torch.rand(B, lc[1], S // 8, S // 8), torch.rand(B, lc[2], S // 16, S // 16)]
    e_img = F.normalize(torch.randn(B, P), dim=1)
    e_txt = F.normalize(torch.randn(B, P), dim=1)
    labels = torch.randint(0, c['numClasses'], (B,))
    betas, alphas, ab = (t.float() for t in M.schedule(T, c['betaStart'], c['betaEnd'], c['betaSchedule']))

    def chain(zt, cond):
        z = zt
        for i in reversed(range(T)):
            pred = model.denoiser(z, (i + 1) / (10 * T), cond)
            if c['parameterisation'] == 'eps':
                z = (z - betas[i] / torch.sqrt(1 - ab[i]) * pred) / torch.sqrt(alphas[i])
            else:
                ab_prev = ab[i - 1] if i > 0 else torch.tensor(1.0)
                z = betas[i] * torch.sqrt(ab_prev) / (1 - ab[i]) * pred + (1 - ab_prev) * torch.sqrt(alphas[i]) / (1 - ab[i]) * z
        return z

    p1 = list(model.fpenS1.parameters()) + list(model.udcformer.parameters())
    p2 = list(model.fpenS2.parameters()) + list(model.denoiser.parameters()) + list(model.udcformer.parameters())
    opt1 = torch.optim.AdamW(p1, lr=3.5e-4, weight_decay=1e-4)
    opt2 = torch.optim.AdamW(p2, lr=3.5e-4, weight_decay=1e-4)

    def stage1():
        z = model.fpenS1(torch.cat([e_txt, e_img], 1))
        loss = F.cross_entropy(model.udcformer(x, taps, z), labels)
        opt1.zero_grad(set_to_none=True)
        loss.backward()
        opt1.step()
        return loss.item()

    def stage2():
        with torch.no_grad():
            zt = model.fpenS1(torch.cat([e_txt, e_img], 1))
        cond = model.fpenS2(e_img)
        z_t = torch.sqrt(ab[-1]) * zt + torch.sqrt(1 - ab[-1]) * torch.randn(B, C)
        zh = chain(z_t, cond)
        logits = model.udcformer(x, taps, zh)
        loss = F.cross_entropy(logits, labels) + c['lambdaKl'] * F.kl_div(F.log_softmax(zh, -1), F.softmax(zt, -1), reduction='batchmean')
        opt2.zero_grad(set_to_none=True)
        loss.backward()
        opt2.step()
        return loss.item()

    def infer():
        with torch.no_grad():
            zh = chain(torch.randn(B, C), model.fpenS2(e_img))
            return F.softmax(model.udcformer(x, taps, zh), -1)[0, 0].item()

    fns = {'stage1': stage1, 'stage2': stage2, 'infer': infer}
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'cases': {}}
    for name in cases:
        fn = fns[name]
        fn()  # warm-up
        times = []
        for _ in range(samples):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        n = len(times)
        med = times[n // 2] if n % 2 else (times[n // 2 - 1] + times[n // 2]) / 2
        out['cases'][name] = {'median_ms': med, 'samples': n}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
