#!/usr/bin/python3
"""Generates tests/golden/ops-conv.txt: PyTorch reference outputs for a few
conv_transpose2d, conv2d, upsample_bilinear2d and pooling cases of
core/ops/{conv,pool}.c, read by tests/core/test-ops-conv.c.

Run with a Python that has torch (on our machines /usr/bin/python3):

    /usr/bin/python3 tests/gen-ops-conv-golden.py > tests/golden/ops-conv.txt

Inputs are not stored: they are defined by formulas that the C test
evaluates the same way (element i of the flat, row-major tensor):

    x[i] = sin(0.37 i + 0.1)
    w[i] = 0.5 cos(0.23 i + 0.2)
    b[i] = 0.1 i - 0.05

Each line is "name count v0 v1 ..." with the float64 output, row-major.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import math

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def formula(shape, f):
    n = math.prod(shape)
    return torch.tensor([f(i) for i in range(n)]).reshape(shape)


def X(*shape):
    return formula(shape, lambda i: math.sin(0.37 * i + 0.1))


def W(*shape):
    return formula(shape, lambda i: 0.5 * math.cos(0.23 * i + 0.2))


def B(*shape):
    return formula(shape, lambda i: 0.1 * i - 0.05)


def emit(name, t):
    v = t.detach().reshape(-1).tolist()
    print(name, len(v), " ".join(repr(float(a)) for a in v))


# conv_transpose2d: asymmetric stride, padding, dilation, output_padding
emit("convt_a", F.conv_transpose2d(X(2, 3, 3, 4), W(3, 2, 3, 2), B(2),
                                   stride=(2, 1), padding=(1, 0),
                                   output_padding=(1, 0), dilation=(1, 2)))
# conv_transpose2d: k4 s2 p1 with groups 2
emit("convt_b", F.conv_transpose2d(X(1, 4, 3, 3), W(4, 3, 4, 4), None,
                                   stride=2, padding=1, groups=2))
# conv2d: groups 2, dilation 2, stride (1, 2), padding (2, 1)
emit("conv_a", F.conv2d(X(2, 4, 7, 6), W(6, 2, 3, 2), B(6), stride=(1, 2),
                        padding=(2, 1), dilation=2, groups=2))
# bilinear, both corner conventions, up and down
x = X(1, 2, 3, 5)
emit("bilinear_up_ac", F.interpolate(x, size=(7, 4), mode="bilinear",
                                     align_corners=True))
emit("bilinear_up", F.interpolate(x, size=(7, 4), mode="bilinear",
                                  align_corners=False))
emit("bilinear_down", F.interpolate(X(1, 2, 7, 9), size=(3, 4),
                                    mode="bilinear", align_corners=False))
# pooling
x = X(2, 2, 7, 5)
emit("avgpool_nopad", F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))
emit("avgpool_pad", F.avg_pool2d(x, 3, 2, 1, count_include_pad=True))
emit("maxpool", F.max_pool2d(x, 3, 2, 1))
emit("adaptive", F.adaptive_avg_pool2d(x, (3, 2)))
