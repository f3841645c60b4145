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


class _Clock:
    """Stands in for the peer's `time` module: its timed loop reads perf_counter() once before
    and once after each call, so logging process_time() at each read gives each call's CPU time."""

    def __init__(self):
        self.cpu = []

    def perf_counter(self):
        self.cpu.append(time.process_time())
        return time.perf_counter()


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


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
    clock = _Clock()
    peer.time = clock
    out = {}
    for case in args.get('cases', peer.CASES):
        clock.cpu = []
        r = peer.run(args['config'], int(args['batch']), int(args.get('samples', 3)), [case], 'cpu')[case]
        pairs = clock.cpu[-2 * r['samples']:]
        cpu = [(pairs[2 * i + 1] - pairs[2 * i]) * 1000 for i in range(r['samples'])]
        out[case] = {'median_ms': r['median_ms'], 'cpu_median_ms': median(cpu), 'samples': r['samples']}
    print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'cases': out, 'mm512': mm_rate()}))


if __name__ == '__main__':
    main()
