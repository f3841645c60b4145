#!/usr/bin/env python3
"""PyTorch peer of bench/lrdif.bench.ts: the same LRDif steps with the independent PyTorch
implementation of test/golden/make_lrdif_fixtures.py (float32, PyTorch's default init), on the CPU
or on a CUDA GPU.

One run (what bench/lrdif.bench.ts calls, on the CPU):
  python3 bench/lrdif_torch_peer.py '<json>'  with
  {"config": {...LrdifConfig fields...}, "batch": B, "samples": N, "cases": ["stage1", "stage2", "infer"],
   "threads": n (default: every core), "device": "cpu" | "cuda" (default cpu),
   "tf32": false | true | null (CUDA: TF32 off, on, or PyTorch's default; default null)}
  prints one JSON line: {"torch": version, "threads": n, "device": name, "tf32": ..., "cases": {case: {"median_ms", "samples", "min_ms", "max_ms"}}}
Paired (what bench/lrdif.bench.ts calls, alternating its own samples with these):
  python3 bench/lrdif_torch_peer.py --serve '<json>'  (config, batch, threads, device, tf32 as above)
  prints {"ready": true, "torch", "threads", "device"} once the model is built, then answers each
  stdin line {"case": "stage1", "n": 1} with {"ms": [wall ms of each call], "cpu_ms": [its CPU ms]} (a case's first
  request warms it up first); ends at the end of stdin.
Suite (what the GPU kit's run.sh calls when PyTorch has CUDA):
  python3 lrdif_torch_peer.py --suite configs.json --out torch.json [--device cuda] [--batches 8,64] [--samples 5]
  configs.json: {"tiny": {...}, "reference": {...}} (LrdifConfig objects); on CUDA every config and
  batch runs twice: float32 with TF32 off ("f32") and PyTorch's default settings ("default").
  Writes {"torch", "cuda", "device", "runs": [{"config", "batch", "mode", "tf32_matmul", "tf32_cudnn",
  "cases": {case: {"median_ms", "cpu_median_ms", "samples", "images_per_s", "min_ms", "max_ms"}}}]} and prints a line per run.
Cases:
  stage1  one training step of stage 1: FPEN_S1 + UDCformer forward, CE, backward, AdamW step
  stage2  one training step of stage 2: FPEN_S2, the T-step chain from the noised target, UDCformer,
          CE + KL, backward, AdamW step (FPEN_S1 frozen, under no_grad)
  infer   one inference batch: FPEN_S2, the chain from N(0, I), UDCformer, softmax (no_grad)
Inputs are random (the speed does not depend on the values); the frozen encoders are not timed.
On CUDA each timed call ends with torch.cuda.synchronize().
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
# in a checkout the model is in test/golden; in the GPU kit it sits beside this file
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'test', 'golden'))
import make_lrdif_fixtures as M  # noqa: E402  (sets float64 as the default dtype)

torch.set_default_dtype(torch.float32)

CASES = ['stage1', 'stage2', 'infer']


def set_tf32(tf32):
    """tf32: False (float32 matmuls and convolutions), True, or None (leave PyTorch's defaults)."""
    if tf32 is None:
        return
    torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
    torch.backends.cudnn.allow_tf32 = bool(tf32)


def steps(config, B, device='cpu'):
    """The three steps as functions (stage1, stage2, infer; each ends synchronised) and a cleanup."""
    dev = torch.device(device)
    c = dict(M.CFG)
    c.update(config)
    torch.manual_seed(0)
    model = M.Lrdif(c).float().to(dev)
    S, P, C, T = c['imageSize'], c['clipDim'], c['priorDim'], c['timesteps']
    lc = c['landmarkChannels']
    x = torch.rand(B, 3, S, S, device=dev)
    taps = [torch.rand(B, lc[0], S // 4, S // 4, device=dev), torch.rand(B, lc[1], S // 8, S // 8, device=dev), torch.rand(B, lc[2], S // 16, S // 16, device=dev)]
    e_img = F.normalize(torch.randn(B, P, device=dev), dim=1)
    e_txt = F.normalize(torch.randn(B, P, device=dev), dim=1)
    labels = torch.randint(0, c['numClasses'], (B,), device=dev)
    betas, alphas, ab = (t.float().to(dev) for t in M.schedule(T, c['betaStart'], c['betaEnd'], c['betaSchedule']))
    one = torch.tensor(1.0, device=dev)

    def chain(zt, cond):
        z = zt
        for i in reversed(range(T)):
            pred = model.denoiser(z, (i + 1) / (10 * T), cond)
            if c['parameterisation'] == 'eps':
                z = (z - betas[i] / torch.sqrt(1 - ab[i]) * pred) / torch.sqrt(alphas[i])
            else:
                ab_prev = ab[i - 1] if i > 0 else one
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
        z_t = torch.sqrt(ab[-1]) * zt + torch.sqrt(1 - ab[-1]) * torch.randn(B, C, device=dev)
        zh = chain(z_t, cond)
        logits = model.udcformer(x, taps, zh)
        loss = F.cross_entropy(logits, labels) + c['lambdaKl'] * F.kl_div(F.log_softmax(zh, -1), F.softmax(zt, -1), reduction='batchmean')
        opt2.zero_grad(set_to_none=True)
        loss.backward()
        opt2.step()
        return loss.item()

    def infer():
        with torch.no_grad():
            zh = chain(torch.randn(B, C, device=dev), model.fpenS2(e_img))
            return F.softmax(model.udcformer(x, taps, zh), -1)[0, 0].item()

    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)

    def synced(fn):
        def call():
            fn()
            sync()
        return call

    fns = {'stage1': synced(stage1), 'stage2': synced(stage2), 'infer': synced(infer)}

    def cleanup():
        nonlocal model, opt1, opt2
        del model, opt1, opt2
        if dev.type == 'cuda':
            torch.cuda.empty_cache()

    return fns, cleanup


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def timed(fn, n):
    """Wall ms and CPU ms (this process, every thread) of n calls of fn, one each."""
    ms, cpu_ms = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        ms.append((time.perf_counter() - t0) * 1000)
        cpu_ms.append((time.process_time() - c0) * 1000)
    return ms, cpu_ms


def run(config, B, samples=5, cases=CASES, device='cpu'):
    fns, cleanup = steps(config, B, device)
    out = {}
    for name in cases:
        fns[name]()  # warm-up
        ms, cpu_ms = timed(fns[name], samples)
        med = median(ms)
        out[name] = {'median_ms': med, 'cpu_median_ms': median(cpu_ms), 'samples': len(ms), 'images_per_s': 1000 * B / med, 'min_ms': min(ms), 'max_ms': max(ms)}
    cleanup()
    return out


def serve(args):
    """Paired timing: builds the steps once, then times them on request, so that the caller can
    alternate its own samples with these (both sides then run in the same minutes of a machine
    whose speed drifts). Reads one JSON request a line from stdin, {"case": name, "n": k}, and
    answers each with one line, {"ms": [k wall ms], "cpu_ms": [their CPU ms]}; a case's first request runs it once untimed
    first (warm-up). Prints {"ready": true, "torch", "threads", "device"} once built; ends at EOF."""
    device = args.get('device', 'cpu')
    fns, cleanup = steps(args['config'], int(args['batch']), device)
    print(json.dumps({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'device': device_name(device)}), flush=True)
    warmed = set()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        name = req.get('case')
        if name not in fns:
            print(json.dumps({'error': f'unknown case {name!r} (expected one of {", ".join(CASES)})'}), flush=True)
            continue
        if name not in warmed:
            fns[name]()
            warmed.add(name)
        ms, cpu_ms = timed(fns[name], int(req.get('n', 1)))
        print(json.dumps({'ms': ms, 'cpu_ms': cpu_ms}), flush=True)
    cleanup()


def device_name(device):
    if device == 'cuda':
        return torch.cuda.get_device_name(0)
    return f'CPU, {torch.get_num_threads()} threads'


def suite(argv):
    opts = {'--device': 'cuda', '--batches': '8,64', '--samples': '5'}
    i = 0
    while i < len(argv):
        if argv[i] not in ('--suite', '--out', '--device', '--batches', '--samples') or i + 1 >= len(argv):
            sys.exit(f'lrdif_torch_peer: unexpected argument {argv[i]!r} (usage: --suite configs.json --out file.json [--device cuda] [--batches 8,64] [--samples 5])')
        opts[argv[i]] = argv[i + 1]
        i += 2
    if '--suite' not in opts or '--out' not in opts:
        sys.exit('lrdif_torch_peer: --suite configs.json and --out file.json are required')
    with open(opts['--suite']) as f:
        configs = json.load(f)
    device = opts['--device']
    if device == 'cuda' and not torch.cuda.is_available():
        sys.exit('lrdif_torch_peer: --device cuda, but torch.cuda.is_available() is False')
    if device == 'cpu':
        torch.set_num_threads(os.cpu_count() or 1)
    batches = [int(b) for b in opts['--batches'].split(',')]
    samples = int(opts['--samples'])
    modes = [('f32', False), ('default', None)] if device == 'cuda' else [('default', None)]
    doc = {'torch': torch.__version__, 'cuda': torch.version.cuda, 'device': device_name(device), 'runs': []}
    defaults = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    for name, cfg in configs.items():
        for B in batches:
            for mode, tf32 in modes:
                torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = defaults
                set_tf32(tf32)
                t0 = time.perf_counter()
                cases = run(cfg, B, samples, CASES, device)
                entry = {'config': name, 'batch': B, 'mode': mode, 'tf32_matmul': torch.backends.cuda.matmul.allow_tf32,
                         'tf32_cudnn': torch.backends.cudnn.allow_tf32, 'cases': cases}
                doc['runs'].append(entry)
                figures = ', '.join(f"{k} {v['median_ms']:.2f} ms" for k, v in cases.items())
                print(f'pytorch {device} {name} batch {B} {mode}: {figures} ({time.perf_counter() - t0:.0f} s)', flush=True)
    tmp = f"{opts['--out']}.{os.getpid()}.tmp"
    with open(tmp, 'w') as f:
        json.dump(doc, f, indent=2)
        f.write('\n')
    os.replace(tmp, opts['--out'])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == '--suite':
        suite(sys.argv[1:])
        return
    serving = len(sys.argv) > 2 and sys.argv[1] == '--serve'
    args = json.loads(sys.argv[2] if serving else sys.argv[1])
    device = args.get('device', 'cpu')
    if device == 'cpu':
        # every core, as lavapipe uses (this torch build's OpenMP default is 1 thread here)
        torch.set_num_threads(int(args.get('threads') or os.cpu_count() or 1))
    set_tf32(args.get('tf32'))
    if serving:
        serve(args)
        return
    cases = run(args['config'], int(args['batch']), int(args.get('samples', 5)), args.get('cases', CASES), device)
    out = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'device': device_name(device), 'tf32': args.get('tf32'),
           'cases': {k: {'median_ms': v['median_ms'], 'samples': v['samples'], 'min_ms': v['min_ms'], 'max_ms': v['max_ms']} for k, v in cases.items()}}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
