#!/usr/bin/env python3
"""Writes the PyTorch golden fixtures in test/golden/fixtures/*.json.

Run: /usr/bin/python3 test/golden/make_golden.py   (needs only Debian's python3-torch and numpy)

Every input is drawn from a seeded NumPy generator and rounded to float32, so lrdif (float32
on the GPU) and PyTorch see exactly the same numbers; PyTorch then computes in float64:
  - the output of the op,
  - the gradients of L = sum(w * out) for a seeded weight w of the output's shape.
autograd.json instead holds graphs of several outputs and a sequence of backward calls on them
(shared leaves, a shared intermediate, detach/no_grad, retain_graph), with every leaf's gradient
after each call and PyTorch's message where it raises (test/autograd.test.ts).
Inputs are stored with the shortest digits that round-trip through float32, results with 8
significant digits. Re-running the script reproduces the files byte for byte.
"""
import json
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "fixtures")
torch.set_default_dtype(torch.float64)
# PyTorch notes that its own even-kernel 'same' copies the input; irrelevant here.
warnings.filterwarnings("ignore", message="Using padding='same'")


def f32(rng, shape, lo=-1.0, hi=1.0):
    """Seeded uniform data, rounded to float32 and returned as a float64 tensor."""
    return torch.from_numpy(rng.uniform(lo, hi, size=shape).astype(np.float32).astype(np.float64))


def enc_input(t):
    a = t.detach().numpy().astype(np.float32).ravel()
    return {"shape": list(t.shape), "data": [float(repr(np.float32(v))) for v in a]}


def enc_result(t):
    a = t.detach().numpy().astype(np.float64).ravel()
    return {"shape": list(t.shape), "data": [float("%.8g" % v) for v in a]}


def case(name, seed, inputs, fn, params=None, grad=True):
    """Runs fn(**inputs) in float64 and returns the fixture entry: inputs, output, and the
    gradients of sum(w * out) for every input (w drawn from the same seeded generator)."""
    rng = np.random.default_rng(seed + 1000)
    leaves = {k: v.clone().requires_grad_(grad) for k, v in inputs.items()}
    out = fn(**leaves)
    entry = {
        "name": name,
        "params": params or {},
        "inputs": {k: enc_input(v) for k, v in inputs.items()},
        "output": enc_result(out),
    }
    if grad:
        w = f32(rng, tuple(out.shape))
        (out * w).sum().backward()
        entry["w"] = enc_input(w)
        entry["grads"] = {k: enc_result(v.grad) for k, v in leaves.items()}
    return entry


def write(name, cases):
    path = os.path.join(OUT_DIR, name + ".json")
    doc = {
        "generator": "test/golden/make_golden.py",
        "torch": torch.__version__.split("+")[0],
        "cases": cases,
    }
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("%-28s %7d bytes, %d cases" % (os.path.relpath(path, os.path.dirname(os.path.dirname(HERE))), os.path.getsize(path), len(cases)))


# ---------------------------------------------------------------------------- matmul

def make_matmul():
    rng = np.random.default_rng(1)
    cases = []

    def mm(a, b, trans_a=False, trans_b=False, bias=None):
        A = a.transpose(-1, -2) if trans_a else a
        B = b.transpose(-1, -2) if trans_b else b
        y = A @ B
        return y if bias is None else y + bias

    cases.append(case("2d", 11, {"a": f32(rng, (7, 13)), "b": f32(rng, (13, 9))},
                      lambda a, b: mm(a, b)))
    cases.append(case("batched", 12, {"a": f32(rng, (3, 5, 11)), "b": f32(rng, (3, 11, 6))},
                      lambda a, b: mm(a, b)))
    cases.append(case("batched_transA_bias", 13,
                      {"a": f32(rng, (2, 9, 5)), "b": f32(rng, (2, 9, 6)), "bias": f32(rng, (6,))},
                      lambda a, b, bias: mm(a, b, trans_a=True, bias=bias), {"transA": True}))
    cases.append(case("batched_transB_bias", 14,
                      {"a": f32(rng, (2, 5, 10)), "b": f32(rng, (2, 6, 10)), "bias": f32(rng, (6,))},
                      lambda a, b, bias: mm(a, b, trans_b=True, bias=bias), {"transB": True}))
    cases.append(case("transA_transB", 15, {"a": f32(rng, (11, 4)), "b": f32(rng, (3, 11))},
                      lambda a, b: mm(a, b, trans_a=True, trans_b=True), {"transA": True, "transB": True}))
    # linear(x, weight[out, in], bias) = x @ weightᵀ + bias
    cases.append(case("linear", 16, {"x": f32(rng, (2, 3, 10)), "weight": f32(rng, (7, 10)), "bias": f32(rng, (7,))},
                      lambda x, weight, bias: F.linear(x, weight, bias), {"linear": True}))
    write("matmul", cases)


# ---------------------------------------------------------------------------- conv2d

def tf_same_pads(size, k, stride, dilation):
    """TensorFlow SAME: output ceil(size/stride); the odd pixel of padding goes after."""
    eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def make_conv():
    rng = np.random.default_rng(2)
    cases = []

    def conv_case(name, seed, xshape, wshape, stride=1, padding=0, dilation=1, groups=1, bias=True):
        H, W = xshape[2], xshape[3]
        kh, kw = wshape[2], wshape[3]
        if padding == "same":
            t, b = tf_same_pads(H, kh, stride, dilation)
            l, r = tf_same_pads(W, kw, stride, dilation)
        elif padding == "valid":
            t = b = l = r = 0
        elif isinstance(padding, int):
            t = b = l = r = padding
        elif len(padding) == 2:
            t = b = padding[0]
            l = r = padding[1]
        else:
            t, b, l, r = padding
        inputs = {"x": f32(rng, xshape), "weight": f32(rng, wshape)}
        if bias:
            inputs["bias"] = f32(rng, (wshape[0],))

        def fn(x, weight, bias=None):
            xp = F.pad(x, (l, r, t, b))  # F.pad takes (left, right, top, bottom) for the last two axes
            return F.conv2d(xp, weight, bias, stride=stride, padding=0, dilation=dilation, groups=groups)

        if padding == "same" and stride == 1:
            # PyTorch's own 'same' (stride 1 only) must agree with the explicit TF padding.
            ref = F.conv2d(inputs["x"], inputs["weight"], inputs.get("bias"), padding="same", dilation=dilation, groups=groups)
            assert torch.allclose(ref, fn(**inputs), atol=1e-12)
        params = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups,
                  "resolvedPadding": [t, b, l, r]}
        cases.append(case(name, seed, inputs, fn, params))

    conv_case("same_stride2_even", 21, (1, 3, 8, 6), (4, 3, 3, 3), stride=2, padding="same")
    conv_case("same_stride2_odd_asym", 22, (1, 3, 9, 7), (5, 3, 4, 3), stride=2, padding="same")
    conv_case("same_stride1_even_kernel", 23, (1, 4, 6, 5), (3, 4, 4, 4), stride=1, padding="same")
    conv_case("dilation2", 24, (1, 3, 9, 8), (4, 3, 3, 3), padding=[2, 1], dilation=2)
    conv_case("groups2", 25, (1, 4, 7, 6), (6, 2, 3, 3), padding=1, groups=2)
    conv_case("depthwise_same_stride2", 26, (1, 6, 7, 7), (12, 1, 3, 3), stride=2, padding="same", groups=6)
    conv_case("valid_no_bias", 27, (2, 2, 5, 6), (3, 2, 2, 3), stride=2, padding="valid", bias=False)
    write("conv2d", cases)


# ---------------------------------------------------------------------------- normalisation, softmax, gelu

def make_layernorm():
    rng = np.random.default_rng(3)
    cases = []
    eps = 1e-5
    cases.append(case("last_axis", 31,
                      {"x": f32(rng, (2, 3, 37), -2, 3), "weight": f32(rng, (37,)), "bias": f32(rng, (37,))},
                      lambda x, weight, bias: F.layer_norm(x, (37,), weight, bias, eps), {"eps": eps}))
    cases.append(case("last_axis_no_affine", 32, {"x": f32(rng, (4, 9), -1, 1)},
                      lambda x: F.layer_norm(x, (9,), None, None, eps), {"eps": eps}))

    def channels(x, weight, bias):
        # NCHW normalised over C: permute to NHWC, layer norm the last axis, permute back.
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), weight, bias, eps)
        return y.permute(0, 3, 1, 2)

    cases.append(case("channels_nchw", 33,
                      {"x": f32(rng, (2, 6, 4, 5), -1, 2), "weight": f32(rng, (6,)), "bias": f32(rng, (6,))},
                      channels, {"eps": eps, "channels": True}))
    write("layernorm", cases)


def make_softmax():
    rng = np.random.default_rng(4)
    cases = [
        case("softmax_axis1", 41, {"x": f32(rng, (2, 7, 5), -3, 3)}, lambda x: F.softmax(x, dim=1), {"axis": 1}),
        case("log_softmax_axis1", 42, {"x": f32(rng, (2, 7, 5), -3, 3)}, lambda x: F.log_softmax(x, dim=1), {"axis": 1}),
        case("softmax_last_wide", 43, {"x": f32(rng, (2, 131), -8, 8)}, lambda x: F.softmax(x, dim=-1), {"axis": -1}),
    ]
    write("softmax", cases)


def make_gelu():
    rng = np.random.default_rng(5)
    cases = [
        case("erf", 51, {"x": f32(rng, (203,), -5, 5)}, lambda x: F.gelu(x), {"approximate": "none"}),
        case("tanh", 52, {"x": f32(rng, (203,), -5, 5)}, lambda x: F.gelu(x, approximate="tanh"), {"approximate": "tanh"}),
    ]
    write("gelu", cases)


# ---------------------------------------------------------------------------- a small MLP training step

def make_mlp():
    rng = np.random.default_rng(6)
    n, d_in, d_hidden, classes = 13, 7, 16, 5
    x = f32(rng, (n, d_in), -2, 2)
    labels = torch.from_numpy(rng.integers(0, classes, size=n).astype(np.int64))
    # PyTorch's default Linear init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
    b1, b2 = 1 / np.sqrt(d_in), 1 / np.sqrt(d_hidden)
    init = {
        "fc1.weight": f32(rng, (d_hidden, d_in), -b1, b1),
        "fc1.bias": f32(rng, (d_hidden,), -b1, b1),
        "fc2.weight": f32(rng, (classes, d_hidden), -b2, b2),
        "fc2.bias": f32(rng, (classes,), -b2, b2),
    }
    hp = {"lr": 1e-2, "weightDecay": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "labelSmoothing": 0.1, "steps": 3}
    params = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    opt = torch.optim.AdamW(params.values(), lr=hp["lr"], betas=(hp["beta1"], hp["beta2"]), eps=hp["eps"],
                            weight_decay=hp["weightDecay"])
    losses = []
    min_abs_grad = float("inf")
    for _ in range(hp["steps"]):
        opt.zero_grad()
        h = F.gelu(F.linear(x, params["fc1.weight"], params["fc1.bias"]))
        logits = F.linear(h, params["fc2.weight"], params["fc2.bias"])
        loss = F.cross_entropy(logits, labels, label_smoothing=hp["labelSmoothing"])
        loss.backward()
        losses.append(float("%.8g" % loss.item()))
        min_abs_grad = min(min_abs_grad, min(float(p.grad.abs().min()) for p in params.values()))
        opt.step()
    # Adam's first steps move each weight by about lr·sign(grad): a gradient near zero could
    # change sign between float32 and float64 and make the comparison meaningless.
    assert min_abs_grad > 1e-5, "pick another seed: a gradient is too close to zero (%g)" % min_abs_grad
    doc_case = {
        "name": "mlp_adamw_3_steps",
        "params": hp,
        "inputs": {"x": enc_input(x), "labels": {"shape": [n], "data": [int(v) for v in labels]},
                   **{k: enc_input(v) for k, v in init.items()}},
        "losses": losses,
        "final": {k: enc_result(v) for k, v in params.items()},
        "minAbsGrad": float("%.3g" % min_abs_grad),
    }
    write("mlp_adamw", [doc_case])


# ---------------------------------------------------------------------------- autograd: several outputs, one backward each

def torch_error(fn):
    """Runs fn, which PyTorch must reject; returns the first line of its RuntimeError."""
    try:
        fn()
    except RuntimeError as e:
        return str(e).split("\n")[0]
    raise AssertionError("PyTorch did not raise")


def grads_of(leaves):
    return {k: (enc_result(v.grad) if v.grad is not None else None) for k, v in leaves.items() if v.requires_grad}


def autograd_case(name, graph, seed, inputs, requires_grad, build, steps):
    """A graph of several outputs and a sequence of backward calls on it.

    build(**leaves) returns {output name: scalar tensor}; steps are (output, retain_graph)
    pairs. After each call the fixture records every leaf's gradient (null before any
    reached it) and, where PyTorch raised, its message."""
    leaves = {k: v.clone().requires_grad_(k in requires_grad) for k, v in inputs.items()}
    outs = build(**leaves)
    entry = {
        "name": name,
        "graph": graph,
        "params": {"seed": seed},
        "inputs": {k: enc_input(v) for k, v in inputs.items()},
        "requiresGrad": list(requires_grad),
        "outputs": {k: enc_result(v) for k, v in outs.items()},
        "steps": [],
    }
    for out, retain in steps:
        step = {"backward": out, "retainGraph": retain}
        try:
            outs[out].backward(retain_graph=retain)
        except RuntimeError as e:
            step["raises"] = str(e).split("\n")[0]
        step["grads"] = grads_of(leaves)
        entry["steps"].append(step)
    return entry


def make_autograd():
    cases = []

    # The issue's example: two losses sharing a leaf; PyTorch gives w.grad = 2w + 5 either way.
    def issue(w):
        return {"a": (w * w).sum(), "b": (w * 5).sum()}

    w3 = torch.tensor([1.0, 2.0, 3.0])
    for order in ("ab", "ba"):
        cases.append(autograd_case("issue_example_" + order, "issue_example", 0, {"w": w3}, ["w"], issue,
                                   [(order[0], False), (order[1], False)]))

    # Two losses on three shared leaves, no shared intermediate: either order, same total.
    def two_losses(x, w, v):
        a = torch.tanh(x @ w).square().mean()
        b = (torch.exp(w * 0.5) * v).sum()
        return {"a": a, "b": b}

    rng = np.random.default_rng(7)
    tl = {"x": f32(rng, (3, 4)), "w": f32(rng, (4, 5)), "v": f32(rng, (5,))}
    for order in ("ab", "ba"):
        cases.append(autograd_case("two_losses_" + order, "two_losses", 7, tl, ["x", "w", "v"], two_losses,
                                   [(order[0], False), (order[1], False)]))

    # A shared intermediate h used by two outputs: the first backward frees h's node (TanhBackward
    # saved its output), so the second raises unless the first kept the graph.
    def shared(x, w, c):
        h = torch.tanh(x @ w)
        return {"a": h.square().sum(), "b": (h * c).sum()}

    rng = np.random.default_rng(8)
    si = {"x": f32(rng, (3, 4)), "w": f32(rng, (4, 5)), "c": f32(rng, (3, 5))}
    cases.append(autograd_case("shared_intermediate_retain", "shared_intermediate", 8, si, ["x", "w"], shared,
                               [("a", True), ("b", False)]))
    cases.append(autograd_case("shared_intermediate_no_retain", "shared_intermediate", 8, si, ["x", "w"], shared,
                               [("a", False), ("b", False)]))

    # detach and no_grad inside a graph: only the attached paths carry gradient.
    def detach_no_grad(w, x):
        y = w * x
        d = y.detach()
        with torch.no_grad():
            c = w * 3
        return {"loss": (d * w + y * c + y.square()).sum()}

    rng = np.random.default_rng(9)
    cases.append(autograd_case("detach_and_no_grad", "detach_and_no_grad", 9,
                               {"w": f32(rng, (6,)), "x": f32(rng, (6,))}, ["w", "x"], detach_no_grad,
                               [("loss", False)]))

    # retain_graph, then backward again (gradients add up), then a third time through the freed graph.
    def retained(w, x):
        return {"loss": torch.exp((w @ x) * 0.3).sum()}

    rng = np.random.default_rng(10)
    cases.append(autograd_case("retain_graph_twice", "retain_graph_twice", 10,
                               {"w": f32(rng, (2, 3)), "x": f32(rng, (3, 4))}, ["w", "x"], retained,
                               [("loss", True), ("loss", False), ("loss", False)]))

    # A graph built inside lrdif's tidy() whose output escapes (PyTorch: the same graph).
    def escape(x, weight, bias):
        return {"loss": F.gelu(F.linear(x, weight, bias)).square().mean()}

    rng = np.random.default_rng(11)
    cases.append(autograd_case("tidy_escape", "tidy_escape", 11,
                               {"x": f32(rng, (2, 3, 5)), "weight": f32(rng, (4, 5)), "bias": f32(rng, (4,))},
                               ["x", "weight", "bias"], escape, [("loss", False)]))

    # Where PyTorch raises (lrdif must raise too), with PyTorch's message for reference.
    w = torch.ones(3, requires_grad=True)
    errors = {
        "nonScalarWithoutGrad": torch_error(lambda: (w * 2).backward()),
        "noGradRequired": torch_error(lambda: torch.ones(3).sum().backward()),
        "underNoGrad": torch_error(lambda: no_grad_sum(w).backward()),
    }
    cases.append({"name": "errors", "graph": "errors", "params": {}, "errors": errors})
    write("autograd", cases)


def no_grad_sum(w):
    with torch.no_grad():
        return (w * 2).sum()


if __name__ == "__main__":
    os.makedirs(OUT_DIR, exist_ok=True)
    make_matmul()
    make_conv()
    make_layernorm()
    make_softmax()
    make_gelu()
    make_mlp()
    make_autograd()
