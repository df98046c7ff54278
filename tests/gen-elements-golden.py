#!/usr/bin/python3
"""Generates the PyTorch goldens of tests/elements/test-grads-golden.c:

    tests/golden/elements-expr-in.safetensors    x f32[4,3], w f32[3,5], b f32[5]
    tests/golden/elements-expr-grad.safetensors  loss, grad/x, grad/w, grad/b (f64)

for loss = mean(tanh(x @ w + b)^2), the gradients computed by
torch.autograd in float64 from the float32 inputs.  The test feeds the
inputs through `t2itensorsrc requires-grad=x,w,b ! <expression element> !
t2itensorsink grads-of=loss/expr` and compares.  Run with a Python that has
torch (on our machines /usr/bin/python3):

    /usr/bin/python3 tests/gen-elements-golden.py tests/golden

The files are committed, so the tests need no torch.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

save_safetensors = import_module("gen-lafite-golden").save_safetensors



def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    torch.manual_seed(20240607)
    x = torch.randn(4, 3, dtype=torch.float32)
    w = torch.randn(3, 5, dtype=torch.float32) * 0.7
    b = torch.randn(5, dtype=torch.float32) * 0.3
    save_safetensors(os.path.join(out, "elements-expr-in.safetensors"),
                     {"x": x, "w": w, "b": b})

    x64, w64, b64 = (t.double().requires_grad_(True) for t in (x, w, b))
    loss = torch.tanh(x64 @ w64 + b64).pow(2).mean()
    gx, gw, gb = torch.autograd.grad(loss, [x64, w64, b64])
    save_safetensors(os.path.join(out, "elements-expr-grad.safetensors"),
                     {"loss": loss.reshape(()), "grad/x": gx, "grad/w": gw,
                      "grad/b": gb})


if __name__ == "__main__":
    main()
