#!/usr/bin/python3
"""Generates the PyTorch goldens of t2iloss kind=clip for
tests/elements/test-encoders.c in tests/golden/clip/:

  loss-in.safetensors    img_emb, text_emb [8,16] (f32), paired rows
  scale-<case>.safetensors  L.logit_scale (f32, 0-d): the loss element's
                         parameter (group L) the test loads with weights=
  loss-out.safetensors   <case>/loss, <case>/grad/img_emb,
                         <case>/grad/text_emb, <case>/grad/logit_scale

for the cases init (ln(1/0.07), OpenAI's init), s3 (3.0) and clamped (5.0 >
ln 100: the scale is 100 and logit_scale gets no gradient).  The loss is
OpenAI's / open_clip's: normalise both embeddings, logits_per_image =
exp(logit_scale).clamp(max=100) * img @ txt.T, the mean of the
cross-entropies of logits_per_image and logits_per_text = its transpose
against arange(N).  Computed with torch.autograd in float64 from the f32
inputs.  Run with a Python that has torch (on our machines /usr/bin/python3):

    /usr/bin/python3 tests/gen-clip-loss-golden.py tests/golden/clip

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

save_safetensors = import_module("gen-lafite-golden").save_safetensors

N, E = 8, 16
CASES = {"init": math.log(1 / 0.07), "s3": 3.0, "clamped": 5.0}


def clip_loss(img, txt, logit_scale):
    img = F.normalize(img, dim=1)
    txt = F.normalize(txt, dim=1)
    scale = logit_scale.exp().clamp(max=100)
    logits_per_image = scale * img @ txt.t()
    labels = torch.arange(img.shape[0])
    return (F.cross_entropy(logits_per_image, labels)
            + F.cross_entropy(logits_per_image.t(), labels)) / 2


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/clip"
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    # correlated pairs, so the loss is well below ln N
    base = torch.randn(N, E, generator=g)
    img = (base + 0.8 * torch.randn(N, E, generator=g)).float()
    txt = (base + 0.8 * torch.randn(N, E, generator=g)).float()
    save_safetensors(os.path.join(out, "loss-in.safetensors"),
                     {"img_emb": img, "text_emb": txt})
    gold = {}
    for case, value in CASES.items():
        s32 = torch.tensor(value, dtype=torch.float32)
        save_safetensors(os.path.join(out, "scale-%s.safetensors" % case),
                         {"L.logit_scale": s32})
        i = img.double().requires_grad_()
        t = txt.double().requires_grad_()
        s = s32.double().requires_grad_()
        loss = clip_loss(i, t, s)
        gi, gt, gs = torch.autograd.grad(loss, [i, t, s])
        gold[case + "/loss"] = loss.detach()
        gold[case + "/grad/img_emb"] = gi
        gold[case + "/grad/text_emb"] = gt
        gold[case + "/grad/logit_scale"] = gs
        print("%s: loss %.6f dlogit_scale %.6f" % (case, loss.item(),
                                                   gs.item()))
    save_safetensors(os.path.join(out, "loss-out.safetensors"), gold)


if __name__ == "__main__":
    main()
