#!/usr/bin/env python3
"""PyTorch side of bench/lrdif-ceiling.ts: the LRDif steps of bench/lrdif_torch_peer.py (the same
model, inputs and step functions), timed by wall clock AND by the process's CPU time (all threads),
since the machine these run on is shared; plus the rate PyTorch's own matmul reaches on a 512³
product, for scale.

  python3 bench/lrdif_ceiling_peer.py '{"config": {...}, "batch": B, "samples": N, "cases": [...], "threads": n}'
prints one JSON line:
  {"torch", "threads", "cases": {case: {"median_ms", "cpu_median_ms", "samples"}}, "mm512": {"wall", "cpu"} (GFLOP/s by wall time, GFLOP per CPU-second)}
"""
import json
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import lrdif_torch_peer as peer  # noqa: E402
from lrdif_torch_peer import median  # noqa: E402


def mm_rate(n=512, reps=20):
    """GFLOP/s of torch.mm on n×n by wall time, and GFLOP per CPU-second (process time, all threads)."""
    a, b = torch.rand(n, n), torch.rand(n, n)
    torch.mm(a, b)
    walls, cpus = [], []
    for _ in range(5):
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(reps):
            torch.mm(a, b)
        walls.append((time.perf_counter() - t0) / reps)
        cpus.append((time.process_time() - c0) / reps)
    flops = 2 * n ** 3
    return {'wall': flops / median(walls) / 1e9, 'cpu': flops / median(cpus) / 1e9}


def main():
    args = json.loads(sys.argv[1])
    torch.set_num_threads(int(args.get('threads') or os.cpu_count() or 1))
    out = {}
    for case in args.get('cases', peer.CASES):
        r = peer.run(args['config'], int(args['batch']), int(args.get('samples', 3)), [case], 'cpu')[case]
        out[case] = {'median_ms': r['median_ms'], 'cpu_median_ms': r['cpu_median_ms'], 'samples': r['samples']}
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'cases': out, 'mm512': mm_rate()}))


if __name__ == '__main__':
    main()
