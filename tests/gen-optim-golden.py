#!/usr/bin/python3
"""Writes tests/golden/optim.json: short, fixed optimizer runs made with
PyTorch (torch.optim.SGD / Adam / AdamW, single-tensor path), plus
torch.nn.utils.clip_grad_norm_ and a plain EMA, which tests/core/test-optim.c
replays with t2i's implementations.  Needs Debian's python3-torch:

    /usr/bin/python3 tests/gen-optim-golden.py

Every run has two parameters, "w" [3, 4] and "b" [5]; "b" has no gradient
at step 3 (index 2), so the optimizer must skip it there.
"""
import json
import os
import re

import torch

torch.manual_seed(0)
STEPS = 5
SHAPES = {"w": [3, 4], "b": [5]}


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def make_inputs():
    init = {n: torch.randn(s) for n, s in SHAPES.items()}
    grads = []
    for step in range(STEPS):
        g = {}
        for n, s in SHAPES.items():
            g[n] = None if (n == "b" and step == 2) else torch.randn(s) * (0.5 + step)
        grads.append(g)
    return init, grads


CASES = [
    ("sgd_plain", "sgd", dict(lr=0.1)),
    ("sgd_momentum_wd", "sgd", dict(lr=0.05, momentum=0.9, weight_decay=1e-2)),
    ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("sgd_dampening", "sgd", dict(lr=0.02, momentum=0.8, dampening=0.25)),
    ("adam", "adam", dict(lr=1e-2)),
    ("adam_wd", "adam", dict(lr=3e-2, betas=(0.5, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", "adamw", dict(lr=1e-2, weight_decay=0.05)),
    ("adamw_betas", "adamw", dict(lr=2e-3, betas=(0.0, 0.99), eps=1e-8, weight_decay=0.5)),
]


def run_case(name, kind, hp):
    init, grads = make_inputs()
    params = {n: init[n].clone().requires_grad_(True) for n in SHAPES}
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]
    kwargs = dict(hp, foreach=False)
    opt = cls([params["w"], params["b"]], **kwargs)
    expected = []
    for step in range(STEPS):
        for n in SHAPES:
            params[n].grad = None if grads[step][n] is None else grads[step][n].clone()
        opt.step()
        expected.append({n: flat(params[n]) for n in SHAPES})
    config = {
        "lr": hp["lr"],
        "momentum": hp.get("momentum", 0.0),
        "dampening": hp.get("dampening", 0.0),
        "nesterov": hp.get("nesterov", False),
        "beta1": hp.get("betas", (0.9, 0.999))[0],
        "beta2": hp.get("betas", (0.9, 0.999))[1],
        "eps": hp.get("eps", 1e-8),
        "weight_decay": hp.get("weight_decay", 1e-2 if kind == "adamw" else 0.0),
    }
    return {
        "name": name,
        "kind": kind,
        "config": config,
        "shapes": SHAPES,
        "init": {n: flat(init[n]) for n in SHAPES},
        "grads": [{n: (None if g[n] is None else flat(g[n])) for n in SHAPES} for g in grads],
        "expected": expected,
    }


def clip_case(max_norm, with_none):
    grads = {n: torch.randn(s) for n, s in SHAPES.items()}
    if with_none:
        grads["b"] = None
    ps = []
    for n, s in SHAPES.items():
        p = torch.zeros(s, requires_grad=True)
        p.grad = None if grads[n] is None else grads[n].clone()
        ps.append(p)
    norm = torch.nn.utils.clip_grad_norm_(ps, max_norm)
    return {
        "max_norm": max_norm,
        "grads": {n: (None if grads[n] is None else flat(grads[n])) for n in SHAPES},
        "norm": float(norm),
        "clipped": {n: (None if p.grad is None else flat(p.grad)) for n, p in zip(SHAPES, ps)},
    }


def ema_case(decay):
    values = [torch.randn(SHAPES["w"]) for _ in range(STEPS + 1)]
    shadow = values[0].clone()
    expected = []
    for step in range(STEPS):
        shadow.mul_(decay).add_(values[step + 1], alpha=1 - decay)
        expected.append(flat(shadow))
    return {
        "decay": decay,
        "shape": SHAPES["w"],
        "values": [flat(v) for v in values],
        "expected": expected,
    }


golden = {
    "generator": "tests/gen-optim-golden.py, torch " + torch.__version__,
    "steps": STEPS,
    "cases": [run_case(*c) for c in CASES],
    "clip": [clip_case(0.5, False), clip_case(100.0, False), clip_case(1.0, True)],
    "ema": [ema_case(0.9), ema_case(0.999)],
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "optim.json")
text = json.dumps(golden, indent=1)
# one line per flat array of numbers
text = re.sub(r"\[\s*([^\[\]{}]*?)\s*\]",
              lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
with open(out, "w") as f:
    f.write(text + "\n")
print(out, os.path.getsize(out), "bytes")
