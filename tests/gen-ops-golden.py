#!/usr/bin/python3
"""Generates tests/golden/ops-nn.json: PyTorch reference values for the
normalisation, attention, LSTM-cell and modulated-conv ops of
core/ops/{norm,attention,misc,modconv}.c, read by tests/core/test-ops-nn.c.

Run with a Python that has torch (on our machines /usr/bin/python3):

    /usr/bin/python3 tests/gen-ops-golden.py > tests/golden/ops-nn.json

Everything is float64.  Each case holds named tensors: the inputs, a
random cotangent "r", and the outputs and the gradients of sum(out * r)
("grad_<input>"), each as {"shape": [...], "data": [...]}, plus scalar
parameters.  The file is committed, so CI needs no torch.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import json
import sys

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
torch.set_default_dtype(torch.float64)


def enc(t):
    t = t.detach().to(torch.float64).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1)]}


def leaf(*shape, scale=1.0, offset=0.0):
    return (torch.randn(*shape) * scale + offset).requires_grad_(True)


def with_grads(case, out, inputs, key="out", r=None):
    """adds out, r and grad_<name> of sum(out * r) to case"""
    if r is None:
        r = torch.randn_like(out)
    case[key] = enc(out)
    case["r_" + key if key != "out" else "r"] = enc(r)
    names = [n for n, t in inputs.items() if t is not None and t.requires_grad]
    grads = torch.autograd.grad((out * r).sum(), [inputs[n] for n in names],
                                retain_graph=True)
    for n, g in zip(names, grads):
        case["grad_" + n] = enc(g)


def batch_norm_cases():
    cases = {}
    for name, shape in (("bn_train_3d", (4, 3, 5)), ("bn_train_4d", (3, 2, 4, 4))):
        C = shape[1]
        x = leaf(*shape, scale=2.0, offset=0.5)
        w = leaf(C, scale=0.5, offset=1.0)
        b = leaf(C, scale=0.5)
        rm = torch.randn(C) * 0.1
        rv = torch.rand(C) + 0.5
        case = {"x": enc(x), "weight": enc(w), "bias": enc(b),
                "running_mean": enc(rm), "running_var": enc(rv),
                "momentum": 0.1, "eps": 1e-5, "training": True}
        rm2, rv2 = rm.clone(), rv.clone()
        y = F.batch_norm(x, rm2, rv2, w, b, training=True, momentum=0.1, eps=1e-5)
        with_grads(case, y, {"x": x, "weight": w, "bias": b})
        case["running_mean_after"] = enc(rm2)
        case["running_var_after"] = enc(rv2)
        cases[name] = case
    # evaluation with running statistics
    x = leaf(4, 3, 2, 3)
    w = leaf(3, scale=0.5, offset=1.0)
    b = leaf(3, scale=0.5)
    rm = torch.randn(3) * 0.3
    rv = torch.rand(3) + 0.5
    case = {"x": enc(x), "weight": enc(w), "bias": enc(b),
            "running_mean": enc(rm), "running_var": enc(rv),
            "momentum": 0.1, "eps": 1e-5, "training": False}
    y = F.batch_norm(x, rm, rv, w, b, training=False, momentum=0.1, eps=1e-5)
    with_grads(case, y, {"x": x, "weight": w, "bias": b})
    cases["bn_eval"] = case
    return cases


def layer_norm_cases():
    cases = {}
    x = leaf(2, 3, 4, 5, scale=1.5, offset=0.3)
    w = leaf(4, 5, scale=0.5, offset=1.0)
    b = leaf(4, 5, scale=0.5)
    y = F.layer_norm(x, (4, 5), w, b, eps=1e-5)
    case = {"x": enc(x), "weight": enc(w), "bias": enc(b), "norm_ndim": 2,
            "eps": 1e-5}
    with_grads(case, y, {"x": x, "weight": w, "bias": b})
    cases["ln_2d_affine"] = case
    x = leaf(3, 7, scale=1.5, offset=-0.2)
    y = F.layer_norm(x, (7,), None, None, eps=1e-5)
    case = {"x": enc(x), "norm_ndim": 1, "eps": 1e-5}
    with_grads(case, y, {"x": x})
    cases["ln_1d_plain"] = case
    return cases


def group_norm_cases():
    cases = {}
    x = leaf(2, 6, 3, 3, scale=1.5, offset=0.3)
    w = leaf(6, scale=0.5, offset=1.0)
    b = leaf(6, scale=0.5)
    y = F.group_norm(x, 3, w, b, eps=1e-5)
    case = {"x": enc(x), "weight": enc(w), "bias": enc(b), "groups": 3,
            "eps": 1e-5}
    with_grads(case, y, {"x": x, "weight": w, "bias": b})
    cases["gn_g3"] = case
    return cases


def sdpa(q, k, v, causal, scale):
    s = q @ k.transpose(-2, -1) * scale
    if causal:
        Lq, Lk = q.shape[-2], k.shape[-2]
        mask = torch.ones(Lq, Lk, dtype=torch.bool).tril(diagonal=0)
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def attention_cases():
    cases = {}
    for name, (B, H, Lq, Lk, Dh) in (("sdpa_causal_square", (2, 2, 5, 5, 4)),
                                      ("sdpa_causal_rect", (1, 3, 4, 6, 8))):
        q, k, v = leaf(B, H, Lq, Dh), leaf(B, H, Lk, Dh), leaf(B, H, Lk, Dh)
        scale = 1.0 / Dh ** 0.5
        y = sdpa(q, k, v, True, scale)
        case = {"q": enc(q), "k": enc(k), "v": enc(v), "causal": True}
        with_grads(case, y, {"q": q, "k": k, "v": v})
        cases[name] = case
    return cases


def lstm_cases():
    N, In, Hd = 3, 5, 4
    x, h, c = leaf(N, In), leaf(N, Hd), leaf(N, Hd)
    cell = torch.nn.LSTMCell(In, Hd)
    w_ih = cell.weight_ih.detach().clone().requires_grad_(True)
    w_hh = cell.weight_hh.detach().clone().requires_grad_(True)
    b_ih = cell.bias_ih.detach().clone().requires_grad_(True)
    b_hh = cell.bias_hh.detach().clone().requires_grad_(True)
    h2, c2 = torch._VF.lstm_cell(x, (h, c), w_ih, w_hh, b_ih, b_hh)
    case = {"x": enc(x), "h": enc(h), "c": enc(c), "w_ih": enc(w_ih),
            "w_hh": enc(w_hh), "b_ih": enc(b_ih), "b_hh": enc(b_hh)}
    r_h, r_c = torch.randn_like(h2), torch.randn_like(c2)
    case["out"] = enc(h2)
    case["c_out"] = enc(c2)
    case["r"] = enc(r_h)
    case["r_c"] = enc(r_c)
    ins = {"x": x, "h": h, "c": c, "w_ih": w_ih, "w_hh": w_hh, "b_ih": b_ih,
           "b_hh": b_hh}
    grads = torch.autograd.grad((h2 * r_h).sum() + (c2 * r_c).sum(),
                                list(ins.values()))
    for n, g in zip(ins, grads):
        case["grad_" + n] = enc(g)
    return {"lstm_cell": case}


def modconv_ref(x, w, s, demodulate, padding, up):
    """StyleGAN2-ADA modulated_conv2d(fused_modconv=False) with
    conv2d_resample, written out for up in (1, 2)"""
    N, Cout, k = x.shape[0], w.shape[0], w.shape[2]
    xs = x * s[:, :, None, None]
    if up == 1:
        y = F.conv2d(xs, w, padding=padding)
    else:
        a0, a1 = padding + 2 - (k - 1), padding + 1 - (k - 2)
        pt = max(min(-a0, -a1), 0)
        t = F.conv_transpose2d(xs, w.transpose(0, 1), stride=2, padding=pt)
        t = F.pad(t, [a0 + pt, a1 + pt, a0 + pt, a1 + pt])
        f1 = torch.tensor([1.0, 3.0, 3.0, 1.0])
        f = torch.outer(f1, f1) / f1.sum() ** 2 * 4
        y = F.conv2d(t, f[None, None].repeat(Cout, 1, 1, 1), groups=Cout)
    if demodulate:
        d = ((w[None] * s[:, None, :, None, None]) ** 2).sum([2, 3, 4]) + 1e-8
        y = y * d.rsqrt()[:, :, None, None]
    return y


def modconv_cases():
    cases = {}
    for name, (demod, pad, up, k) in (("modconv_up1_demod", (True, 1, 1, 3)),
                                      ("modconv_up2_demod", (True, 1, 2, 3)),
                                      ("modconv_up2_plain_k1", (False, 0, 2, 1))):
        x = leaf(2, 3, 4, 4)
        w = leaf(4, 3, k, k)
        s = leaf(2, 3, scale=0.5, offset=1.0)
        y = modconv_ref(x, w, s, demod, pad, up)
        case = {"x": enc(x), "w": enc(w), "style": enc(s), "demodulate": demod,
                "padding": pad, "up": up}
        with_grads(case, y, {"x": x, "w": w, "style": s})
        cases[name] = case
    return cases


def main():
    cases = {}
    for f in (batch_norm_cases, layer_norm_cases, group_norm_cases,
              attention_cases, lstm_cases, modconv_cases):
        cases.update(f())
    doc = {"generator": "tests/gen-ops-golden.py",
           "torch": torch.__version__, "cases": cases}
    json.dump(doc, sys.stdout, indent=None, separators=(",", ":"))
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
