#!/usr/bin/env python3
"""Writes test/golden/fixtures/losses.json: PyTorch cross-entropy (with label smoothing and
ignore_index) and kl_div ('batchmean', probability and log-probability targets).

Run: /usr/bin/python3 test/golden/losses_golden.py   (needs Debian's python3-torch and numpy)

Inputs come from a seeded NumPy generator and are rounded to float32, so lrdif (float32 on
the GPU) and PyTorch see the same numbers; PyTorch computes in float64 the output and the
gradients of L = sum(w * out) for a seeded weight w of the output's shape. Re-running the
script reproduces the file byte for byte.
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "fixtures", "losses.json")
torch.set_default_dtype(torch.float64)


def f32(t):
    """Rounds a float64 tensor to float32 values (kept in float64)."""
    return torch.from_numpy(t.detach().numpy().astype(np.float32).astype(np.float64))


def enc_input(t):
    a = t.detach().numpy().astype(np.float32).ravel()
    return {"shape": list(t.shape), "data": [float(repr(np.float32(v))) for v in a]}


def enc_labels(t):
    return {"shape": list(t.shape), "data": [int(v) for v in t]}


def enc_result(t):
    a = t.detach().numpy().astype(np.float64).ravel()
    return {"shape": list(t.shape), "data": [float("%.10g" % v) for v in a]}


def case(name, seed, inputs, labels, fn, params, grad_of):
    """fn(**inputs, labels) in float64; gradients of sum(w * out) for the inputs in grad_of."""
    rng = np.random.default_rng(seed)
    leaves = {k: v.clone().requires_grad_(k in grad_of) for k, v in inputs.items()}
    out = fn(**leaves, **({"labels": labels} if labels is not None else {}))
    w = f32(torch.from_numpy(rng.uniform(-1, 1, size=tuple(out.shape))))
    (out * w).sum().backward()
    entry = {
        "name": name,
        "params": params,
        "inputs": {k: enc_input(v) for k, v in inputs.items()},
        "output": enc_result(out),
        "w": enc_input(w),
        "grads": {k: enc_result(leaves[k].grad) for k in grad_of},
    }
    if labels is not None:
        entry["inputs"]["labels"] = enc_labels(labels)
    return entry


def main():
    rng = np.random.default_rng(7)
    cases = []

    def uniform(shape, lo, hi):
        return f32(torch.from_numpy(rng.uniform(lo, hi, size=shape)))

    # cross-entropy: N = 6 rows, C = 7 classes
    logits = uniform((6, 7), -3, 3)
    labels = torch.tensor([0, 6, 3, 2, 3, 5])
    cases.append(case("ce_smoothing_mean", 71, {"logits": logits}, labels,
                      lambda logits, labels: F.cross_entropy(logits, labels, label_smoothing=0.1),
                      {"labelSmoothing": 0.1, "reduction": "mean"}, ["logits"]))
    cases.append(case("ce_smoothing_ignore_mean", 72, {"logits": logits}, labels,
                      lambda logits, labels: F.cross_entropy(logits, labels, label_smoothing=0.2, ignore_index=3),
                      {"labelSmoothing": 0.2, "reduction": "mean", "ignoreIndex": 3}, ["logits"]))
    cases.append(case("ce_smoothing_none", 73, {"logits": logits}, labels,
                      lambda logits, labels: F.cross_entropy(logits, labels, label_smoothing=0.1, reduction="none"),
                      {"labelSmoothing": 0.1, "reduction": "none"}, ["logits"]))

    # kl_div: input = log-probabilities [4, 5]; target = probabilities or log-probabilities
    inp = f32(F.log_softmax(uniform((4, 5), -2, 2), dim=1))
    tgt_logits = uniform((4, 5), -2, 2)
    tgt = f32(F.softmax(tgt_logits, dim=1))
    log_tgt = f32(F.log_softmax(tgt_logits, dim=1))
    cases.append(case("kl_batchmean", 74, {"input": inp, "target": tgt}, None,
                      lambda input, target: F.kl_div(input, target, reduction="batchmean"),
                      {"reduction": "batchmean", "logTarget": False}, ["input", "target"]))
    cases.append(case("kl_batchmean_log_target", 75, {"input": inp, "target": log_tgt}, None,
                      lambda input, target: F.kl_div(input, target, reduction="batchmean", log_target=True),
                      {"reduction": "batchmean", "logTarget": True}, ["input", "target"]))

    doc = {"generator": "test/golden/losses_golden.py", "torch": torch.__version__.split("+")[0], "cases": cases}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("%s: %d bytes, %d cases" % (os.path.relpath(OUT, os.path.dirname(os.path.dirname(HERE))), os.path.getsize(OUT), len(cases)))


if __name__ == "__main__":
    main()
