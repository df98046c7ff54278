#!/usr/bin/python3
"""Generates the PyTorch goldens of tests/elements/test-sdn.c in
tests/golden/sdn/:

  losses-in.safetensors   images, generated candidates, four families of
                          21 levels (teacher on real, generator, teacher on
                          the generated image and on three candidates:
                          small stand-in shapes, the losses pair by name),
                          logits and class ids (f64, i32)
  losses-out.safetensors  <case>/loss and <case>/grad/<entry> per case, for
                          the entries the case reads
  losses-cases.txt        <case> <t2iloss properties>
  g.safetensors           a small SDN generator (G.fc8.weight, ...)
  v.safetensors           a small VGG19-shaped teacher (V.features.0.weight,
                          ...), width 2
  p.safetensors           a probe with a hidden layer (P.fc0.weight, ...)
  net-in.safetensors      text_emb [2, 8], image [2, 3, 32, 32] (f32)
  net-out.safetensors     (f32) s1/...: the generator's images and some
                          levels, some of the teacher's levels on the real
                          images, Stage I's loss and its gradient w.r.t.
                          text_emb; s2/...: Stage II with two candidates
                          through the teacher; pg/...: the gradient of a
                          fixed function of the generator's outputs w.r.t.
                          each parameter; probe/...: logits, cross-entropy
                          and its gradient w.r.t. the features

SDN's losses written literally from the paper (Yuan & Peng, ACM MM 2018):
eq. 1 and 3 as sums over levels of L1 distances plus the image loss of eq.
2, eq. 4 with the minimum over the candidates of the image term only, eq.
5 with the minimum over the whole bracket, each per item and averaged over
the batch, the candidates looped over one by one; the generator from its
description (t2i/sdn.h: the released code's network with width and hidden
size as parameters) with torch.nn.functional; the teacher as torchvision's
VGG19 features with average pooling and the released code's BGR 0..255
input.  float64 throughout.  Run with a Python that has torch (on our
machines /usr/bin/python3):

    /usr/bin/python3 tests/gen-sdn-golden.py tests/golden/sdn

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

lafite = import_module("gen-lafite-golden")
lafite.DTYPES[torch.int32] = "I32"
save_safetensors = lafite.save_safetensors

# SDN's 22 levels (the input image first); the generator mirrors the 21
# after it
SDN_TAPS = ["input", "relu1_1", "relu1_2", "pool1", "relu2_1", "relu2_2",
            "pool2", "relu3_1", "relu3_2", "relu3_3", "relu3_4", "pool3",
            "relu4_1", "relu4_2", "relu4_3", "relu4_4", "pool4", "relu5_1",
            "relu5_2", "relu5_3", "relu5_4", "pool5"]
LEVELS = SDN_TAPS[1:]
BLOCK_CONVS = [2, 2, 4, 4, 4]
BLOCK_MULT = [1, 2, 4, 8, 8]

# the small networks (test-sdn.c sets the same properties)
N, RES, COND, WIDTH, HIDDEN, CHOICES = 2, 32, 8, 2, 16, 2
# the losses pair entries by name and shape only: tiny stand-ins
LOSS_N, LOSS_RES, LOSS_CHOICES = 2, 4, 3
# the levels and taps the network goldens keep
KEEP = ["relu1_1", "pool2", "relu3_4", "relu5_1", "pool5"]


def tap_shape(tap, width, res):
    if tap == "input":
        return (3, res, res)
    pool = tap.startswith("pool")
    block = int(tap[-1 if pool else -3]) - 1
    side = res >> (block + (1 if pool else 0))
    return (width * BLOCK_MULT[block], side, side)


# ---------------------------------------------------------------- losses

def l1(a, b, reduce):
    """||a - b||_1 of one item: summed, or averaged over its elements"""
    d = (a - b).abs()
    return d.sum() if reduce == "sum" else d.mean()


def image_term(real, fake, n, reduce):
    """eq. 2, and eq. 4's min_p over the candidates; mean over the batch"""
    per = []
    for i in range(real.shape[0]):
        cands = [l1(real[i], fake[i, 3 * p:3 * p + 3], reduce)
                 for p in range(n)]
        per.append(torch.stack(cands).min())
    return torch.stack(per).mean()


def stage1(t, real, fake, image, gen, layers, weights, reduce, iw, n):
    """eq. 1 (eq. 4 with n > 1)"""
    total = 0
    for tap, w in zip(layers, weights):
        per = [l1(t[f"{real}/{tap}"][i], t[f"{fake}/{tap}"][i], reduce)
               for i in range(t[image].shape[0])]
        total = total + w * torch.stack(per).mean()
    if iw:
        total = total + iw * image_term(t[image], t[gen], n, reduce)
    return total


def stage2(t, real, fake, image, gen, layers, weights, reduce, iw, n):
    """eq. 3, and eq. 5: min_p of the whole bracket; mean over the batch"""
    per = []
    for i in range(t[image].shape[0]):
        brackets = []
        for p in range(n):
            b = 0
            for tap, w in zip(layers, weights):
                b = b + w * l1(t[f"{real}/{tap}"][i],
                               t[f"{fake}/{tap}"][i * n + p], reduce)
            if iw:
                b = b + iw * l1(t[image][i], t[gen][i, 3 * p:3 * p + 3],
                                reduce)
            brackets.append(b)
        per.append(torch.stack(brackets).min())
    return torch.stack(per).mean()


def cross_entropy(logits, ids, column=None, ignore=-1):
    y = ids[:, column] if column is not None else ids
    return F.cross_entropy(logits, y.long(), ignore_index=ignore)


def loss_cases(t):
    few = ["relu1_1", "pool3", "pool5"]
    s1 = "kind=sdn-stage1"
    s2 = "kind=sdn-stage2"
    return {
        "image": ("kind=sdn-image", image_term(t["image"], t["fake"], 1,
                                               "sum")),
        "image-mean": ("kind=sdn-image reduce=mean",
                       image_term(t["image"], t["fake"], 1, "mean")),
        "image-choices": ("kind=sdn-image input=fake3 choices=3",
                          image_term(t["image"], t["fake3"], 3, "sum")),
        "s1": (s1, stage1(t, "vgg/real", "vgg/fake", "image", "fake", LEVELS,
                          [1] * 21, "sum", 1, 1)),
        "s1-code": (f"{s1} layers={','.join(few)} level-weights=0.5,2,1 "
                    "reduce=mean image-weight=127.5",
                    stage1(t, "vgg/real", "vgg/fake", "image", "fake", few,
                           [0.5, 2, 1], "mean", 127.5, 1)),
        "s1-choices": (f"{s1} input=fake3 choices=3",
                       stage1(t, "vgg/real", "vgg/fake", "image", "fake3",
                              LEVELS, [1] * 21, "sum", 1, 3)),
        "s1-levels-only": (f"{s1} image-weight=0 level-weights=0.25",
                           stage1(t, "vgg/real", "vgg/fake", "image", "fake",
                                  LEVELS, [0.25] * 21, "sum", 0, 1)),
        "s2": (s2, stage2(t, "vgg/real", "vgg/synth", "image", "fake", LEVELS,
                          [1] * 21, "sum", 1, 1)),
        "s2-code": (f"{s2} layers={','.join(few)} level-weights=0.5,2,1 "
                    "reduce=mean image-weight=127.5",
                    stage2(t, "vgg/real", "vgg/synth", "image", "fake", few,
                           [0.5, 2, 1], "mean", 127.5, 1)),
        "s2-choices": (f"{s2} fake=vgg/synth3 input=fake3 choices=3",
                       stage2(t, "vgg/real", "vgg/synth3", "image", "fake3",
                              LEVELS, [1] * 21, "sum", 1, 3)),
        "s2-choices-mean": (f"{s2} fake=vgg/synth3 input=fake3 choices=3 "
                            "reduce=mean image-weight=0",
                            stage2(t, "vgg/real", "vgg/synth3", "image",
                                   "fake3", LEVELS, [1] * 21, "mean", 0, 3)),
        "ce-id": ("kind=cross-entropy input=logits target=id",
                  cross_entropy(t["logits"], t["id"])),
        "ce-first": ("kind=cross-entropy input=logits target=attr",
                     cross_entropy(t["logits"], t["attr"], 0)),
        "ce-ignore": ("kind=cross-entropy input=logits target=attr column=1",
                      cross_entropy(t["logits"], t["attr"], 1)),
    }


# ---------------------------------------------------------------- networks

def generator(p, cond):
    """t2i/sdn.h: fc8, fc7, fc6 with ReLU, reshaped to pool5; per block
    nearest x2 upsampling, then the convs (ReLU but the last)"""
    h = cond
    for name in ("fc8", "fc7", "fc6"):
        h = torch.relu(F.linear(h, p[name + ".weight"], p[name + ".bias"]))
    side = RES // 32
    x = h.reshape(h.shape[0], -1, side, side)
    levels = {"pool5": x}
    for b in range(5, 0, -1):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        n_convs = BLOCK_CONVS[b - 1]
        levels[f"relu{b}_{n_convs}"] = x
        for i in range(n_convs, 0, -1):
            name = f"conv{b}_{i}"
            x = F.conv2d(x, p[name + ".weight"], p[name + ".bias"], padding=1)
            if i > 1:
                x = torch.relu(x)
                levels[f"relu{b}_{i - 1}"] = x
            elif b > 1:
                x = torch.relu(x)
                levels[f"pool{b - 1}"] = x
    return x, levels


def generator_weights(gen):
    # positive biases keep the narrow ReLU layers alive (every parameter
    # then gets a gradient)
    def conv(o, i):
        return (torch.randn(o, i, 3, 3, generator=gen) * math.sqrt(2 / (9 * i)),
                torch.rand(o, generator=gen) * 0.2 + 0.1)
    p = {}
    pool5 = WIDTH * 8 * (RES // 32) ** 2
    for name, i, o in (("fc8", COND, HIDDEN), ("fc7", HIDDEN, HIDDEN),
                       ("fc6", HIDDEN, pool5)):
        p[name + ".weight"] = torch.randn(o, i, generator=gen) * math.sqrt(2 / i)
        p[name + ".bias"] = torch.randn(o, generator=gen) * 0.1
    c = WIDTH * 8
    for b in range(5, 0, -1):
        for i in range(BLOCK_CONVS[b - 1], 0, -1):
            if i > 1:
                o = WIDTH * BLOCK_MULT[b - 1]
            elif b > 1:
                o = WIDTH * BLOCK_MULT[b - 2]
            else:
                o = 3 * CHOICES
            p[f"conv{b}_{i}.weight"], p[f"conv{b}_{i}.bias"] = conv(o, c)
            c = o
    return p


def teacher(p, x):
    """VGG19's features with average pooling on the BGR 0..255 input;
    SDN's 22 taps"""
    x = (x.flip(1) + 1) * 127.5
    taps = {"input": x}
    k = 0
    for b in range(5):
        for i in range(BLOCK_CONVS[b]):
            x = torch.relu(F.conv2d(x, p[f"features.{k}.weight"],
                                    p[f"features.{k}.bias"], padding=1))
            taps[f"relu{b + 1}_{i + 1}"] = x
            k += 2
        x = F.avg_pool2d(x, 2)
        taps[f"pool{b + 1}"] = x
        k += 1
    return taps


def teacher_weights(gen):
    p, c, k = {}, 3, 0
    for b in range(5):
        o = WIDTH * BLOCK_MULT[b]
        for _ in range(BLOCK_CONVS[b]):
            # He, the first layer scaled down to the 0..255 input
            p[f"features.{k}.weight"] = (torch.randn(o, c, 3, 3, generator=gen)
                                         * math.sqrt(2 / (9 * c))
                                         / (100 if k == 0 else 1))
            p[f"features.{k}.bias"] = torch.rand(o, generator=gen) * 0.2 + 0.05
            c = o
            k += 2
        k += 1
    return p


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/sdn"
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20241205)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    def alive(levels):
        return min((v > 0).double().mean().item() for v in levels.values())

    # ---- losses (f64): levels are ReLU-like (non-negative), of a few
    # shapes
    n, r = LOSS_N, LOSS_RES
    li = {"image": randn(n, 3, r, r).clamp(-1, 1),
          "fake": randn(n, 3, r, r) * 0.6,
          "fake3": randn(n, 3 * LOSS_CHOICES, r, r) * 0.6}
    for k, tap in enumerate(LEVELS):
        shape = (1 + k % 3, 2 - k % 2, 1 + k % 2)
        li[f"vgg/real/{tap}"] = randn(n, *shape).relu()
        li[f"vgg/fake/{tap}"] = randn(n, *shape).relu()
        li[f"vgg/synth/{tap}"] = randn(n, *shape).relu()
        li[f"vgg/synth3/{tap}"] = randn(n * LOSS_CHOICES, *shape).relu()
    li["logits"] = randn(5, 6) * 2
    float_entries = list(li)
    li["id"] = torch.tensor([0, 5, 2, 3, 1], dtype=torch.int32)
    li["attr"] = torch.tensor([[1, -1], [4, 2], [0, -1], [5, 5], [2, -1]],
                              dtype=torch.int32)
    save_safetensors(os.path.join(out, "losses-in.safetensors"), li)
    leaves = {k: (v.clone().requires_grad_(True) if k in float_entries else v)
              for k, v in li.items()}
    lo, props = {}, {}
    for name, (prop, loss) in loss_cases(leaves).items():
        grads = torch.autograd.grad(loss, [leaves[k] for k in float_entries],
                                    allow_unused=True)
        lo[name + "/loss"] = loss.detach().reshape(())
        # only the entries the case reads have a gradient
        for k, g in zip(float_entries, grads):
            if g is not None:
                lo[f"{name}/grad/{k}"] = g
        props[name] = prop
    save_safetensors(os.path.join(out, "losses-out.safetensors"), lo)
    with open(os.path.join(out, "losses-cases.txt"), "w") as f:
        for name, prop in props.items():
            f.write(f"{name} {prop}\n")

    # ---- networks: f32 weights and inputs, f64 reference
    pg = generator_weights(gen)
    pv = teacher_weights(gen)
    save_safetensors(os.path.join(out, "g.safetensors"),
                     {"G." + k: v.float() for k, v in pg.items()})
    save_safetensors(os.path.join(out, "v.safetensors"),
                     {"V." + k: v.float() for k, v in pv.items()})
    ni = {"text_emb": F.normalize(torch.randn(N, COND, generator=gen), dim=1),
          "image": torch.rand(N, 3, RES, RES, generator=gen) * 2 - 1}
    save_safetensors(os.path.join(out, "net-in.safetensors"), ni)
    gd = {k: v.float().double() for k, v in pg.items()}
    vd = {k: v.float().double() for k, v in pv.items()}
    no = {}
    cond = ni["text_emb"].double().requires_grad_(True)
    image = ni["image"].double()
    fake, levels = generator(gd, cond)
    real = teacher(vd, image)
    assert alive(levels) > 0.2 and alive(real) > 0.2, (alive(levels),
                                                        alive(real))
    t = {"image": image, "fake": fake}
    t.update({f"vgg/real/{k}": v for k, v in real.items()})
    t.update({f"vgg/fake/{k}": v for k, v in levels.items()})
    # Stage I, the released code's form: mean reduction, the image as its
    # 22nd level in BGR 0..255 units; eq. 4's min over the two candidates
    loss = stage1(t, "vgg/real", "vgg/fake", "image", "fake", LEVELS,
                  [1] * 21, "mean", 127.5, CHOICES)
    (g,) = torch.autograd.grad(loss, [cond])
    no["s1/fake"] = fake.detach()
    for k in KEEP:
        no[f"s1/levels/{k}"] = levels[k].detach()
    for k in KEEP + ["input"]:
        no[f"s1/real/{k}"] = real[k].detach()
    no["s1/loss"] = loss.detach().reshape(())
    no["s1/grad/text_emb"] = g
    # Stage II with two candidates (eq. 5) through the same teacher
    cond2 = ni["text_emb"].double().requires_grad_(True)
    fake2, _ = generator(gd, cond2)
    cands = fake2.reshape(N * CHOICES, 3, RES, RES)
    synth = teacher(vd, cands)
    t2 = {"image": image, "fake": fake2}
    t2.update({f"vgg/real/{k}": v for k, v in real.items()})
    t2.update({f"vgg/synth/{k}": v for k, v in synth.items()})
    loss2 = stage2(t2, "vgg/real", "vgg/synth", "image", "fake", LEVELS,
                   [1] * 21, "mean", 127.5, CHOICES)
    (g2,) = torch.autograd.grad(loss2, [cond2])
    no["s2/loss"] = loss2.detach().reshape(())
    no["s2/grad/text_emb"] = g2
    no["s2/synth/pool5"] = synth["pool5"].detach()
    # parameter gradients of sum(u * image) + sum_k (k + 1) mean(level_k^2)
    # over the levels in t2i_sdn_levels() order
    gp = {k: v.clone().requires_grad_(True) for k, v in gd.items()}
    img3, lev3 = generator(gp, ni["text_emb"].double())
    u = torch.randn(img3.shape, generator=gen).double()
    f = (u * img3).sum() + sum((k + 1) * (lev3[t] ** 2).mean()
                               for k, t in enumerate(LEVELS))
    grads = torch.autograd.grad(f, list(gp.values()))
    no["pg/f"] = f.detach().reshape(())
    for k, gk in zip(gp, grads):
        no[f"pg/G.{k}"] = gk
    no["pg/u"] = u

    # ---- probe with a hidden layer, cross-entropy on a column with -1s
    pp = {"fc0.weight": torch.randn(5, 16, generator=gen) / 4,
          "fc0.bias": torch.randn(5, generator=gen) * 0.1,
          "fc.weight": torch.randn(6, 5, generator=gen) / math.sqrt(5),
          "fc.bias": torch.randn(6, generator=gen) * 0.1}
    save_safetensors(os.path.join(out, "p.safetensors"),
                     {"P." + k: v for k, v in pp.items()})
    feats = torch.randn(5, 16, 1, 1, generator=gen)
    attr = torch.tensor([[1, -1], [4, 2], [0, -1], [5, 5], [2, -1]],
                        dtype=torch.int32)
    save_safetensors(os.path.join(out, "probe-in.safetensors"),
                     {"vgg/pool5": feats, "attr/shape": attr})
    fd = feats.double().requires_grad_(True)
    ppd = {k: v.double() for k, v in pp.items()}
    hid = torch.relu(F.linear(fd.reshape(5, 16), ppd["fc0.weight"],
                              ppd["fc0.bias"]))
    logits = F.linear(hid, ppd["fc.weight"], ppd["fc.bias"])
    ce = cross_entropy(logits, attr, 1)
    (gf,) = torch.autograd.grad(ce, [fd])
    no["probe/logits"] = logits.detach()
    no["probe/loss"] = ce.detach().reshape(())
    no["probe/grad/vgg/pool5"] = gf
    save_safetensors(os.path.join(out, "net-out.safetensors"),
                     {k: v.float() for k, v in no.items()})


if __name__ == "__main__":
    main()
