#!/usr/bin/python3
"""Generates the PyTorch goldens of tests/elements/test-vqgan.c in
tests/golden/vqgan/:

  losses-in.safetensors     recon, image [2,3,4,4]; d/real, d/fake [2,5];
                            vq/kl []; vgg/{real,fake}/{relu1_2,relu2_2}
                            (f64)
  losses-out.safetensors    <case>/loss and <case>/grad/<entry> per case
  losses-cases.txt          <case> <t2iloss properties>
  vqgan-weights.safetensors a t2ivqgan arch=gumbel (VQGAN_PROPS), taming's
                            names
  vqgan-in.safetensors      image [2,3,8,8] (f32), tokens [2,4,4] (i32)
  vqgan-out.safetensors     encode/tokens; decode/image (of the input
                            tokens); autoencode/recon, autoencode/kl (the
                            argmax path) and autoencode/grad/image (of kl)
  patchgan-weights.safetensors, patchgan-out.safetensors: t2idiscriminator
                            arch=patchgan channels=4 layers=2 (training:
                            batch statistics): d/real, d/fake and the hinge
                            loss's gradients grad/image, grad/fake

The networks are written here from taming-transformers' layout (Esser et
al. 2021; ../shared/reference/seed-implementations.md 5.8), float64 on the
f32 weights.  Run with a Python that has torch (on our machines
/usr/bin/python3):

    /usr/bin/python3 tests/gen-vqgan-golden.py tests/golden/vqgan

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

save_safetensors = import_module("gen-lafite-golden").save_safetensors

VQ = dict(ch=8, mult=(1, 2), blocks=1, attn=(4,), groups=4, z=4, embed=6,
          codes=10, res=8)
VQGAN_PROPS = ("channels=8 ch-mult=1,2 res-blocks=1 attention=4 groups=4 "
               "z-channels=4 embed-dim=6 codes=10")


# ---- losses


def unit(f):
    return f / torch.sqrt((f * f).sum(1, keepdim=True) + 1e-20)


def loss_cases(t):
    perceptual = sum(((unit(t[f"vgg/fake/{l}"]) - unit(t[f"vgg/real/{l}"])) ** 2)
                     .sum(1).mean() for l in ("relu1_2", "relu2_2"))
    return {
        "l1": ("kind=l1", (t["recon"] - t["image"]).abs().mean()),
        "mean": ("kind=mean input=vq/kl", t["vq/kl"].mean()),
        "hinge-d": ("kind=hinge-d", 0.5 * (F.relu(1 - t["d/real"]).mean()
                                           + F.relu(1 + t["d/fake"]).mean())),
        "hinge-g": ("kind=hinge-g", -t["d/fake"].mean()),
        "perceptual": ("kind=perceptual layers=relu1_2,relu2_2", perceptual),
    }


# ---- the Gumbel VQGAN


class Weights:
    def __init__(self, gen):
        self.gen, self.w = gen, {}

    def conv(self, name, i, o, k):
        bound = 1 / (i * k * k) ** 0.5
        self.w[name + ".weight"] = (torch.rand(o, i, k, k, generator=self.gen,
                                               dtype=torch.float64) * 2 - 1) * bound
        self.w[name + ".bias"] = (torch.rand(o, generator=self.gen,
                                             dtype=torch.float64) * 2 - 1) * bound

    def norm(self, name, c):
        self.w[name + ".weight"] = 1 + 0.2 * torch.randn(c, generator=self.gen,
                                                         dtype=torch.float64)
        self.w[name + ".bias"] = 0.2 * torch.randn(c, generator=self.gen,
                                                   dtype=torch.float64)

    def res(self, name, i, o):
        self.norm(name + ".norm1", i)
        self.conv(name + ".conv1", i, o, 3)
        self.norm(name + ".norm2", o)
        self.conv(name + ".conv2", o, o, 3)
        if i != o:
            self.conv(name + ".nin_shortcut", i, o, 1)

    def attn(self, name, c):
        self.norm(name + ".norm", c)
        for n in ("q", "k", "v", "proj_out"):
            self.conv(f"{name}.{n}", c, c, 1)


def vqgan_weights(gen):
    ch, mult, nb, z, e, K = (VQ["ch"], VQ["mult"], VQ["blocks"], VQ["z"],
                             VQ["embed"], VQ["codes"])
    W = Weights(gen)
    W.conv("encoder.conv_in", 3, ch, 3)
    res, bi = VQ["res"], ch
    for i, m in enumerate(mult):
        for j in range(nb):
            W.res(f"encoder.down.{i}.block.{j}", bi, ch * m)
            bi = ch * m
            if res in VQ["attn"]:
                W.attn(f"encoder.down.{i}.attn.{j}", bi)
        if i != len(mult) - 1:
            W.conv(f"encoder.down.{i}.downsample.conv", bi, bi, 3)
            res //= 2
    for p in ("encoder", "decoder"):
        c = ch * mult[-1]
        W.res(p + ".mid.block_1", c, c)
        W.attn(p + ".mid.attn_1", c)
        W.res(p + ".mid.block_2", c, c)
    W.norm("encoder.norm_out", bi)
    W.conv("encoder.conv_out", bi, z, 3)
    W.conv("quant_conv", z, e, 1)
    W.conv("quantize.proj", e, K, 1)
    W.w["quantize.embed.weight"] = torch.randn(K, e, generator=gen,
                                               dtype=torch.float64)
    W.conv("post_quant_conv", e, z, 1)
    bi = ch * mult[-1]
    W.conv("decoder.conv_in", z, bi, 3)
    for i in reversed(range(len(mult))):
        for j in range(nb + 1):
            W.res(f"decoder.up.{i}.block.{j}", bi, ch * mult[i])
            bi = ch * mult[i]
            if res in VQ["attn"]:
                W.attn(f"decoder.up.{i}.attn.{j}", bi)
        if i != 0:
            W.conv(f"decoder.up.{i}.upsample.conv", bi, bi, 3)
            res *= 2
    W.norm("decoder.norm_out", bi)
    W.conv("decoder.conv_out", bi, 3, 3)
    return W.w


def vqgan_fns(w):
    G = VQ["groups"]

    def conv(name, x, stride=1, pad=None):
        k = w[name + ".weight"].shape[-1]
        return F.conv2d(x, w[name + ".weight"], w[name + ".bias"],
                        stride=stride, padding=k // 2 if pad is None else pad)

    def norm(name, x):
        return F.group_norm(x, G, w[name + ".weight"], w[name + ".bias"], 1e-6)

    def res(name, x):
        h = conv(name + ".conv1", F.silu(norm(name + ".norm1", x)))
        h = conv(name + ".conv2", F.silu(norm(name + ".norm2", h)))
        if name + ".nin_shortcut.weight" in w:
            x = conv(name + ".nin_shortcut", x)
        return x + h

    def attn(name, x):
        b, c, hh, ww = x.shape
        h = norm(name + ".norm", x)
        q, k, v = (conv(f"{name}.{n}", h).reshape(b, c, hh * ww)
                   for n in ("q", "k", "v"))
        a = torch.softmax(torch.bmm(q.permute(0, 2, 1), k) * c ** -0.5, dim=2)
        o = torch.bmm(v, a.permute(0, 2, 1)).reshape(b, c, hh, ww)
        return x + conv(name + ".proj_out", o)

    def mid(p, h):
        return res(p + ".mid.block_2", attn(p + ".mid.attn_1",
                                            res(p + ".mid.block_1", h)))

    def encode(x):
        h = conv("encoder.conv_in", x)
        n = len(VQ["mult"])
        for i in range(n):
            for j in range(VQ["blocks"]):
                h = res(f"encoder.down.{i}.block.{j}", h)
                if f"encoder.down.{i}.attn.{j}.q.weight" in w:
                    h = attn(f"encoder.down.{i}.attn.{j}", h)
            if i != n - 1:
                h = conv(f"encoder.down.{i}.downsample.conv",
                         F.pad(h, (0, 1, 0, 1)), stride=2, pad=0)
        h = mid("encoder", h)
        h = conv("encoder.conv_out", F.silu(norm("encoder.norm_out", h)))
        return conv("quantize.proj", conv("quant_conv", h))

    def decode(zq):
        h = conv("decoder.conv_in", conv("post_quant_conv", zq))
        h = mid("decoder", h)
        for i in reversed(range(len(VQ["mult"]))):
            for j in range(VQ["blocks"] + 1):
                h = res(f"decoder.up.{i}.block.{j}", h)
                if f"decoder.up.{i}.attn.{j}.q.weight" in w:
                    h = attn(f"decoder.up.{i}.attn.{j}", h)
            if i != 0:
                h = conv(f"decoder.up.{i}.upsample.conv",
                         F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return conv("decoder.conv_out", F.silu(norm("decoder.norm_out", h)))

    def lookup(tokens):
        return w["quantize.embed.weight"][tokens].permute(0, 3, 1, 2)

    return encode, decode, lookup


# ---- PatchGAN (NLayerDiscriminator)

PG = dict(ch=4, layers=2)


def patchgan_weights(gen):
    w, prev, idx = {}, 3, 0
    for i in range(PG["layers"] + 2):
        first, last = i == 0, i == PG["layers"] + 1
        out = 1 if last else PG["ch"] * min(2 ** i, 8)
        w[f"main.{idx}.weight"] = 0.2 * torch.randn(out, prev, 4, 4, generator=gen,
                                                    dtype=torch.float64)
        if first or last:
            w[f"main.{idx}.bias"] = 0.1 * torch.randn(out, generator=gen,
                                                      dtype=torch.float64)
        idx += 1
        if not first and not last:
            w[f"main.{idx}.weight"] = 1 + 0.1 * torch.randn(out, generator=gen,
                                                            dtype=torch.float64)
            w[f"main.{idx}.bias"] = 0.1 * torch.randn(out, generator=gen,
                                                      dtype=torch.float64)
            w[f"main.{idx}.running_mean"] = torch.zeros(out, dtype=torch.float64)
            w[f"main.{idx}.running_var"] = torch.ones(out, dtype=torch.float64)
            idx += 1
        if not last:
            idx += 1
        prev = out
    return w


def patchgan(w, x):
    idx = 0
    for i in range(PG["layers"] + 2):
        first, last = i == 0, i == PG["layers"] + 1
        x = F.conv2d(x, w[f"main.{idx}.weight"], w.get(f"main.{idx}.bias"),
                     stride=2 if i < PG["layers"] else 1, padding=1)
        idx += 1
        if last:
            break
        if not first:
            x = F.batch_norm(x, None, None, w[f"main.{idx}.weight"],
                             w[f"main.{idx}.bias"], training=True, eps=1e-5)
            idx += 1
        x = F.leaky_relu(x, 0.2)
        idx += 1
    return x.reshape(x.shape[0], -1)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/vqgan"
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20241205)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64)

    # ---- losses
    li = {"recon": randn(2, 3, 4, 4), "image": randn(2, 3, 4, 4),
          "d/real": randn(2, 5) * 1.5, "d/fake": randn(2, 5) * 1.5,
          "vq/kl": randn(()).abs()}
    for side in ("real", "fake"):
        li[f"vgg/{side}/relu1_2"] = F.relu(randn(2, 4, 3, 3))
        li[f"vgg/{side}/relu2_2"] = F.relu(randn(2, 6, 2, 2))
    save_safetensors(os.path.join(out, "losses-in.safetensors"), li)
    leaves = {k: v.clone().requires_grad_(True) for k, v in li.items()}
    lo = {}
    with open(os.path.join(out, "losses-cases.txt"), "w") as f:
        for name, (prop, loss) in loss_cases(leaves).items():
            grads = torch.autograd.grad(loss, list(leaves.values()),
                                        allow_unused=True)
            lo[name + "/loss"] = loss.detach().reshape(())
            for k, g in zip(leaves, grads):
                lo[f"{name}/grad/{k}"] = torch.zeros_like(li[k]) if g is None else g
            f.write(f"{name} {prop}\n")
    save_safetensors(os.path.join(out, "losses-out.safetensors"), lo)

    # ---- the VQGAN (f32 weights and inputs, f64 reference)
    w = {k: v.float() for k, v in vqgan_weights(gen).items()}
    save_safetensors(os.path.join(out, "vqgan-weights.safetensors"), w)
    w = {k: v.double() for k, v in w.items()}
    image = torch.tanh(randn(2, 3, VQ["res"], VQ["res"])).float()
    h = VQ["res"] // 2 ** (len(VQ["mult"]) - 1)
    tokens = torch.randint(0, VQ["codes"], (2, h, h), generator=gen)
    save_safetensors(os.path.join(out, "vqgan-in.safetensors"),
                     {"image": image, "tokens": tokens.to(torch.int32)})
    encode, decode, lookup = vqgan_fns(w)
    x = image.double().requires_grad_(True)
    logits = encode(x)
    top2 = logits.detach().topk(2, dim=1).values
    assert (top2[:, 0] - top2[:, 1]).min() > 1e-4, "argmax too close to call"
    idx = logits.argmax(1)
    q = torch.softmax(logits, 1)
    kl = (q * torch.log(q * VQ["codes"] + 1e-10)).sum(1).mean()
    (gi,) = torch.autograd.grad(kl, [x])
    vo = {"encode/tokens": idx.to(torch.int32),
          "decode/image": decode(lookup(tokens)).clamp(-1, 1).detach(),
          "autoencode/recon": decode(lookup(idx)).detach(),
          "autoencode/kl": kl.detach().reshape(()),
          "autoencode/grad/image": gi}
    save_safetensors(os.path.join(out, "vqgan-out.safetensors"), vo)

    # ---- PatchGAN on 16 px: 16 -> 8 -> 4 -> 3 -> 2, four patches
    pw = {k: v.float() for k, v in patchgan_weights(gen).items()}
    save_safetensors(os.path.join(out, "patchgan-weights.safetensors"), pw)
    pw = {k: v.double() for k, v in pw.items()}
    real = torch.tanh(randn(3, 3, 16, 16)).float()
    fake = torch.tanh(randn(3, 3, 16, 16)).float()
    save_safetensors(os.path.join(out, "patchgan-in.safetensors"),
                     {"image": real, "fake": fake})
    r = real.double().requires_grad_(True)
    fk = fake.double().requires_grad_(True)
    dr, df = patchgan(pw, r), patchgan(pw, fk)
    loss = 0.5 * (F.relu(1 - dr).mean() + F.relu(1 + df).mean())
    gr, gf = torch.autograd.grad(loss, [r, fk])
    save_safetensors(os.path.join(out, "patchgan-out.safetensors"), {
        "d/real": dr.detach(), "d/fake": df.detach(), "loss": loss.detach().reshape(()),
        "grad/image": gr, "grad/fake": gf})


if __name__ == "__main__":
    main()
