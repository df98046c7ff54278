#!/usr/bin/python3
"""Generates the PyTorch goldens of tests/elements/test-icsd.c in
tests/golden/icsd/:

  losses-in.safetensors   the loss inputs (f64) and class_id (i32)
  losses-out.safetensors  <case>/loss and <case>/grad/<entry> per case
  losses-cases.txt        <case> <t2iloss properties>

ICSD-GAN's losses (Mao et al., Sci China Inf Sci 2021) written from the
paper: CSD (eq. 1-2), the adversarial similarity losses (eq. 7), one
stage's D and G objectives (eq. 3, 5, 6), the CA's KL term (eq. 4); and
AttnGAN's DAMSM loss (Xu et al. 2018, eq. 7-14) as the paper gives it,
with the code's variants (taoxugit/AttnGAN code/miscc/losses.py: no
1/gamma2 power in eq. 10, the class masking; the KL as a mean over every
element; D's true/false term with the wrong pairs).  float64 throughout.
Run with a Python that has torch (on our machines /usr/bin/python3):

    /usr/bin/python3 tests/gen-icsd-golden.py tests/golden/icsd

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32"}

N, D, L, H = 6, 10, 5, 3        # batch, features, word positions, region side
LENGTHS = [3, 5, 1, 4, 2, 5]
CLASSES = [0, 1, 0, 2, 1, 3]


def save_safetensors(path, tensors):
    """the safetensors layout, written by hand (no safetensors package)"""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        data = t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- losses

def cos_matrix(a, b):
    """m_ij = a_i . b_j / (|a_i| |b_j|) (eq. 1)"""
    return (a @ b.t()) / (a.norm(dim=1)[:, None] * b.norm(dim=1)[None, :])


def csd(fs, ft):
    """eq. 2, no gradient into the teacher"""
    n = fs.shape[0]
    ms = cos_matrix(fs.reshape(n, -1), fs.reshape(n, -1))
    ft = ft.detach().reshape(n, -1)
    mt = cos_matrix(ft, ft)
    return ((ms - mt) ** 2).sum() / n ** 2


def asl_d(r, w, g):
    """eq. 7, L_D^ASL"""
    return (torch.clamp(1 - r, min=0)
            + (torch.clamp(1 + w, min=0) + torch.clamp(1 + g, min=0)) / 2).mean()


def asl_g(g):
    return -g.mean()


def log_d(x):
    """log D = log sigmoid(logit)"""
    return F.logsigmoid(x)


def log_1md(x):
    """log(1 - D) = log sigmoid(-logit)"""
    return F.logsigmoid(-x)


def icsd_d(t, p, lam=1.0, tf="paper"):
    """eq. 3 with eq. 5 (or AttnGAN's weighting of the BCE terms)"""
    if tf == "paper":
        ltf = (-log_d(t[p + "/real"]).mean() - log_1md(t[p + "/fake"]).mean()
               - log_d(t[p + "/real_uncond"]).mean()
               - log_1md(t[p + "/fake_uncond"]).mean())
    else:
        bce = F.binary_cross_entropy_with_logits
        one, zero = torch.ones_like, torch.zeros_like
        ltf = ((bce(t[p + "/real_uncond"], one(t[p + "/real_uncond"]))
                + bce(t[p + "/real"], one(t[p + "/real"]))) / 2
               + (bce(t[p + "/fake_uncond"], zero(t[p + "/fake_uncond"]))
                  + bce(t[p + "/fake"], zero(t[p + "/fake"]))
                  + bce(t[p + "/wrong"], zero(t[p + "/wrong"]))) / 3)
    return ltf + lam * asl_d(t[p + "/real_sim"], t[p + "/wrong_sim"],
                             t[p + "/fake_sim"])


def icsd_g(t, p, lam=1.0):
    """eq. 3 with eq. 6"""
    ltf = -log_d(t[p + "/fake"]).mean() - log_d(t[p + "/fake_uncond"]).mean()
    return ltf + lam * asl_g(t[p + "/fake_sim"])


def ca_kl(mu, logvar, reduce="sum"):
    """D_KL(N(mu, Sigma) || N(0, I)); AttnGAN's KL_loss with reduce=mean"""
    if reduce == "mean":
        return -0.5 * torch.mean(1 + logvar - mu.pow(2) - logvar.exp())
    var = logvar.exp()
    return (0.5 * (mu ** 2 + var - logvar - 1).sum(1)).mean()


def damsm(t, lengths, g1=4.0, g2=5.0, g3=10.0, score="paper", classes=None):
    """AttnGAN eq. 7-14, written per caption and image as the paper reads"""
    words, regions, image, sent = t["words"], t["img_regions"], t["img_emb"], \
        t["text_emb"]
    n = words.shape[0]
    v = regions.reshape(n, regions.shape[1], -1)        # [N, D, R]
    R = torch.zeros(n, n, dtype=words.dtype)
    rows = []
    for i in range(n):              # image Q_i
        row = []
        for j in range(n):          # caption D_j
            e = words[j, :lengths[j]]                   # [T, D]
            s = e @ v[i]                                # [T, R] eq. 7
            s = torch.softmax(s, dim=0)                 # over the words, eq. 8
            alpha = torch.softmax(g1 * s, dim=1)        # over the regions, eq. 9
            c = alpha @ v[i].t()                        # [T, D]
            r = (c * e).sum(1) / (c.norm(dim=1) * e.norm(dim=1))
            lse = torch.log(torch.exp(g2 * r).sum())
            row.append(lse / g2 if score == "paper" else lse)   # eq. 10
        rows.append(torch.stack(row))
    R = torch.stack(rows)                               # [images, captions]
    S = cos_matrix(image, sent)                         # eq. 14

    def match(m):
        m = g3 * m
        if classes is not None:
            c = torch.tensor(classes)
            mask = (c[:, None] == c[None, :]) & ~torch.eye(n, dtype=torch.bool)
            m = m.masked_fill(mask, float("-inf"))
        labels = torch.arange(n)
        return F.cross_entropy(m, labels) + F.cross_entropy(m.t(), labels)
    return match(R) + match(S)


LOSS_LEAVES = ["d0/real", "d0/fake", "d0/wrong", "d0/real_uncond",
               "d0/fake_uncond", "d0/real_sim", "d0/wrong_sim", "d0/fake_sim",
               "d0/fake_feat", "d2/fake_feat", "ca/mu", "ca/logvar", "words",
               "words_mask", "text_emb", "img_regions", "img_emb"]


def loss_cases(t):
    return {
        "csd": ("kind=csd", csd(t["d0/fake_feat"], t["d2/fake_feat"])),
        "asl-d": ("kind=asl-d real-sim=d0/real_sim wrong-sim=d0/wrong_sim "
                  "fake-sim=d0/fake_sim",
                  asl_d(t["d0/real_sim"], t["d0/wrong_sim"], t["d0/fake_sim"])),
        "asl-g": ("kind=asl-g fake-sim=d0/fake_sim", asl_g(t["d0/fake_sim"])),
        "icsd-d": ("kind=icsd-d scores=d0", icsd_d(t, "d0")),
        "icsd-d-attngan": ("kind=icsd-d scores=d0 tf=attngan lambda=0.5",
                           icsd_d(t, "d0", 0.5, "attngan")),
        "icsd-g": ("kind=icsd-g scores=d0", icsd_g(t, "d0")),
        "icsd-g-lambda": ("kind=icsd-g scores=d0 lambda=2",
                          icsd_g(t, "d0", 2.0)),
        "ca-kl": ("kind=ca-kl", ca_kl(t["ca/mu"], t["ca/logvar"])),
        "ca-kl-mean": ("kind=ca-kl reduce=mean",
                       ca_kl(t["ca/mu"], t["ca/logvar"], "mean")),
        "damsm": ("kind=damsm", damsm(t, LENGTHS)),
        "damsm-attngan": ("kind=damsm word-score=attngan class-ids=class_id",
                          damsm(t, LENGTHS, score="attngan", classes=CLASSES)),
        "damsm-gammas": ("kind=damsm gamma1=2 gamma2=3 gamma3=7",
                         damsm(t, LENGTHS, 2.0, 3.0, 7.0)),
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/icsd"
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20250113)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale

    mask = torch.zeros(N, L, dtype=torch.float64)
    for i, n in enumerate(LENGTHS):
        mask[i, :n] = 1
    li = {
        "d0/real": randn(N), "d0/fake": randn(N), "d0/wrong": randn(N),
        "d0/real_uncond": randn(N), "d0/fake_uncond": randn(N),
        # scores on both sides of the hinges' corners at +-1 (cosines
        # never pass them, the loss does not care)
        "d0/real_sim": randn(N, scale=1.5),
        "d0/wrong_sim": randn(N, scale=1.5),
        "d0/fake_sim": randn(N, scale=1.5),
        "d0/fake_feat": randn(N, 4, 2, 2),
        "d2/fake_feat": randn(N, 4, 2, 2),
        "ca/mu": randn(N, 7, scale=0.5), "ca/logvar": randn(N, 7, scale=0.5),
        # padding words hold noise: they must not count
        "words": randn(N, L, D), "words_mask": mask,
        "text_emb": randn(N, D), "img_regions": randn(N, D, H, H),
        "img_emb": randn(N, D),
    }
    # hinges exactly at their corners have no defined gradient: keep away
    for k in ("d0/real_sim", "d0/wrong_sim", "d0/fake_sim"):
        assert (li[k].abs() - 1).abs().min() > 1e-3
    save_safetensors(os.path.join(out, "losses-in.safetensors"),
                     dict(li, class_id=torch.tensor(CLASSES, dtype=torch.int32)))
    leaves = {k: v.clone().requires_grad_(True) for k, v in li.items()}
    lo, props = {}, {}
    for name, (prop, loss) in loss_cases(leaves).items():
        grads = torch.autograd.grad(loss, list(leaves.values()),
                                    allow_unused=True)
        lo[name + "/loss"] = loss.detach().reshape(())
        for k, g in zip(leaves, grads):
            lo[f"{name}/grad/{k}"] = torch.zeros_like(li[k]) if g is None else g
        props[name] = prop
    # the padding words get no gradient
    assert (lo["damsm/grad/words"][2, 1:] == 0).all()
    save_safetensors(os.path.join(out, "losses-out.safetensors"), lo)
    with open(os.path.join(out, "losses-cases.txt"), "w") as f:
        for name, prop in props.items():
            f.write(f"{name} {prop}\n")


if __name__ == "__main__":
    main()
