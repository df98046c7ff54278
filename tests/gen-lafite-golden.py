#!/usr/bin/python3
"""Generates the PyTorch goldens of tests/elements/test-lafite.c in
tests/golden/lafite/:

  losses-in.safetensors   d/real, d/fake [8], d/real_fs, d/fake_fs, h,
                          fake_feat [8,12] (f64)
  losses-out.safetensors  <case>/loss and <case>/grad/<entry> per loss case
  g-concat.safetensors    weights of a small t2igenerator (cond-mode=concat)
  g-modulate.safetensors  the same with cond-mode=modulate
  d.safetensors           weights of a small t2idiscriminator
  net-in.safetensors      z [8,6], h [8,12], image, fake [8,3,16,16] (f32)
  net-out.safetensors     generator images, discriminator outputs, losses
                          and gradients with respect to the inputs and to
                          every discriminator parameter (R1)
  perturb.safetensors     weights of t2iperturb mode=trainable hidden=16
                          (r2's last bias is -60: exp(r2) ~ 1e-26 makes
                          the output independent of the noise)
  perturb-in.safetensors  img_feat, txt_feat [8,12] (f32)
  perturb-out.safetensors h, loss/P-perturb and their gradients

Everything is computed by torch.autograd in float64 from float32 inputs and
weights, with a re-implementation of StyleGAN2-ADA's layers written from
their definitions (upfirdn2d as zero insertion, padding and a flipped FIR;
conv2d_resample's generic path; modulated convolution with demodulation;
minibatch standard deviation) and of LAFITE's losses: the paper's eq. 5-9
(batch means) and the released code's contra_loss (extra exp, tau inside
the log), which the script checks against a literal transcription of its
formula.  Run with a Python that has torch (on our machines
/usr/bin/python3):

    /usr/bin/python3 tests/gen-lafite-golden.py tests/golden/lafite

The files are committed, so the tests need no torch.  The architecture
constants below must match the element properties test-lafite.c uses.

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import json
import math
import os
import struct
import sys

import torch
import torch.nn.functional as F

DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.int32: "I32"}

# the small networks (test-lafite.c sets the same properties)
RES = 16
CH = 8            # channels= (channel-base 32768 leaves every layer at 8)
Z_DIM = 6
W_DIM = 10
COND = 12
COND_HIDDEN = 7   # cond-hidden=
MAP_LAYERS = 2    # mapping-layers=
BATCH = 8
MBSTD = 4
TAU = 0.5


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


# ---------------------------------------------------------------- layers

FIR = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=torch.float64)
FIR2 = torch.outer(FIR, FIR) / FIR.sum() ** 2


def upfirdn2d(x, up=1, down=1, pad=(0, 0), gain=1.0):
    """zero insertion by @up, pad (before, after), true convolution with the
    [1,3,3,1] filter times gain, keep every @down-th sample"""
    n, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(n, c, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    k = (FIR2 * gain).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
    x = F.conv2d(x, k.to(x.dtype), groups=c)
    return x[:, :, ::down, ::down]


def lrelu(x, gain=1.0):
    return F.leaky_relu(x, 0.2) * (math.sqrt(2) * gain)


def fc(p, name, x, act, lr_mul=1.0):
    w = p[name + ".weight"]
    y = x @ (w * (lr_mul / math.sqrt(w.shape[1]))).t() + p[name + ".bias"] * lr_mul
    return lrelu(y) if act else y


def modconv(x, w, s, demod, up, padding):
    xs = x * s[:, :, None, None]
    if up == 1:
        y = F.conv2d(xs, w, padding=padding)
    else:
        # conv2d_resample, generic path: upfirdn2d(up 2, pad p+2 / p+1,
        # gain 4), then a true convolution (flip_weight=False)
        u = upfirdn2d(xs, up=2, pad=(padding + 2, padding + 1), gain=4.0)
        y = F.conv2d(u, w.flip([2, 3]))
    if demod:
        d = ((w[None] * s[:, None, :, None, None]) ** 2).sum([2, 3, 4])
        y = y * (d + 1e-8).rsqrt()[:, :, None, None]
    return y


def style(p, name, w, h, mode):
    if mode == "concat":
        f = fc(p, name + ".pre_0", h, True, 0.01)
        f = fc(p, name + ".pre_1", f, True, 0.01)
        return fc(p, name + ".affine_0", torch.cat([f, w], 1), False)
    sc = fc(p, name + ".scale_layer_0", h, True, 0.01)
    sc = fc(p, name + ".scale_layer_1", sc, True, 0.01)
    sc = fc(p, name + ".scale_layer_2", sc, False)
    sh = fc(p, name + ".bias_layer_0", h, True, 0.01)
    sh = fc(p, name + ".bias_layer_1", sh, True, 0.01)
    sh = fc(p, name + ".bias_layer_2", sh, False)
    return sh + fc(p, name + ".affine", w, False) * sc


def syn_layer(p, name, x, w, h, mode, up):
    s = style(p, name, w, h, mode)
    y = modconv(x, p[name + ".weight"], s, True, up, 1)
    res = y.shape[2]
    y = y + p[name + ".noise_const"].reshape(1, 1, res, res) * p[name + ".noise_strength"]
    return lrelu(y + p[name + ".bias"][None, :, None, None])


def torgb(p, name, x, w, h, mode):
    s = style(p, name, w, h, mode) / math.sqrt(x.shape[1])
    y = modconv(x, p[name + ".weight"], s, False, 1, 0)
    return y + p[name + ".bias"][None, :, None, None]


def generator(p, z, h, mode):
    x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
    for i in range(MAP_LAYERS):
        x = fc(p, f"G.mapping.fc{i}", x, True, 0.01)
    w = x
    img = None
    res = 4
    while res <= RES:
        b = f"G.synthesis.b{res}"
        if res == 4:
            x = p[b + ".const"][None].expand(z.shape[0], -1, -1, -1)
        else:
            x = syn_layer(p, b + ".conv0", x, w, h, mode, 2)
        x = syn_layer(p, b + ".conv1", x, w, h, mode, 1)
        y = torgb(p, b + ".torgb", x, w, h, mode)
        img = y if img is None else upfirdn2d(img, up=2, pad=(2, 1), gain=4.0) + y
        res *= 2
    return img


def conv_layer(p, name, x, k, act, down=1, gain=1.0):
    w = p[name + ".weight"]
    w = w / math.sqrt(w.shape[1] * k * k)
    if down == 2 and k == 3:
        y = F.conv2d(upfirdn2d(x, pad=(2, 2)), w, stride=2)
    elif down == 2:
        y = F.conv2d(upfirdn2d(x, down=2, pad=(1, 1)), w)
    else:
        y = F.conv2d(x, w, padding=k // 2)
    if name + ".bias" in p:
        y = y + p[name + ".bias"][None, :, None, None]
    return lrelu(y, gain) if act else y * gain


def mbstd(x, group):
    n, c, h, w = x.shape
    g = min(group, n)
    y = x.reshape(g, -1, 1, c, h, w)
    y = y - y.mean(0)
    y = (y.square().mean(0) + 1e-8).sqrt()
    y = y.mean([2, 3, 4]).reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], 1)


def discriminator(p, img):
    x = None
    res = RES
    while res >= 8:
        b = f"D.b{res}"
        if x is None:
            x = conv_layer(p, b + ".fromrgb", img, 1, True)
        y = conv_layer(p, b + ".skip", x, 1, False, 2, math.sqrt(0.5))
        x = conv_layer(p, b + ".conv0", x, 3, True)
        x = conv_layer(p, b + ".conv1", x, 3, True, 2, math.sqrt(0.5))
        x = x + y
        res //= 2
    x = conv_layer(p, "D.b4.conv", mbstd(x, MBSTD), 3, True)
    f = fc(p, "D.b4.fc", x.flatten(1), True)
    return fc(p, "D.b4.out", f, False)[:, 0], fc(p, "D.b4.fts", f, False)


def d_logits(p, img, h):
    """per-sample conditional logits (cond-logit=per-sample) and f_s"""
    out, fs = discriminator(p, img)
    return out + (fs * h).sum(1), fs


# ---------------------------------------------------------------- weights

def g_weights(mode, gen):
    p = {}

    def rn(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen) * scale

    def fc_w(name, i, o, lr_mul=1.0, bias=0.0):
        p[name + ".weight"] = rn(o, i) / lr_mul
        p[name + ".bias"] = bias + rn(o, scale=0.1) / lr_mul

    for i in range(MAP_LAYERS):
        fc_w(f"G.mapping.fc{i}", Z_DIM if i == 0 else W_DIM, W_DIM, 0.01)
    p["G.mapping.w_avg"] = torch.zeros(W_DIM)
    hid = (COND + COND_HIDDEN) // 2

    def style_w(name, cin):
        if mode == "concat":
            fc_w(name + ".pre_0", COND, hid, 0.01)
            fc_w(name + ".pre_1", hid, COND_HIDDEN, 0.01)
            fc_w(name + ".affine_0", COND_HIDDEN + W_DIM, cin, 1.0, 1.0)
        else:
            fc_w(name + ".affine", W_DIM, cin, 1.0, 1.0)
            for k in ("scale", "bias"):
                fc_w(f"{name}.{k}_layer_0", COND, hid, 0.01)
                fc_w(f"{name}.{k}_layer_1", hid, COND_HIDDEN, 0.01)
                fc_w(f"{name}.{k}_layer_2", COND_HIDDEN, cin, 1.0,
                     1.0 if k == "scale" else 0.0)

    def layer_w(name, cin, res):
        style_w(name, cin)
        p[name + ".weight"] = rn(CH, cin, 3, 3)
        p[name + ".noise_strength"] = rn(1, scale=0.3).reshape(())
        p[name + ".bias"] = rn(CH, scale=0.1)
        p[name + ".noise_const"] = rn(res, res)

    res = 4
    while res <= RES:
        b = f"G.synthesis.b{res}"
        if res == 4:
            p[b + ".const"] = rn(CH, 4, 4)
        else:
            layer_w(b + ".conv0", CH, res)
        layer_w(b + ".conv1", CH, res)
        style_w(b + ".torgb", CH)
        p[b + ".torgb.weight"] = rn(3, CH, 1, 1)
        p[b + ".torgb.bias"] = rn(3, scale=0.1)
        res *= 2
    return p


def d_weights(gen):
    p = {}

    def rn(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen) * scale

    res = RES
    while res >= 8:
        b = f"D.b{res}"
        if res == RES:
            p[b + ".fromrgb.weight"] = rn(CH, 3, 1, 1)
            p[b + ".fromrgb.bias"] = rn(CH, scale=0.1)
        for k in ("conv0", "conv1"):
            p[f"{b}.{k}.weight"] = rn(CH, CH, 3, 3)
            p[f"{b}.{k}.bias"] = rn(CH, scale=0.1)
        p[b + ".skip.weight"] = rn(CH, CH, 1, 1)
        res //= 2
    p["D.b4.conv.weight"] = rn(CH, CH + 1, 3, 3)
    p["D.b4.conv.bias"] = rn(CH, scale=0.1)
    p["D.b4.fc.weight"] = rn(CH, CH * 16)
    p["D.b4.fc.bias"] = rn(CH, scale=0.1)
    p["D.b4.fts.weight"] = rn(COND, CH)
    p["D.b4.fts.bias"] = rn(COND, scale=0.1)
    p["D.b4.out.weight"] = rn(1, CH)
    p["D.b4.out.bias"] = rn(1, scale=0.1)
    return p


# ---------------------------------------------------------------- losses

def contrastive(x, h, tau, official):
    """eq. 6-7 as batch means; s[j, i] = cos(x_j, h_i)"""
    s = F.cosine_similarity(x.flatten(1)[:, None, :], h[None, :, :], dim=-1)
    if official:
        ls = torch.log_softmax(torch.exp(s / tau), 0)
        return -(torch.diagonal(ls).mean() + math.log(tau))
    return -tau * torch.diagonal(torch.log_softmax(s / tau, 0)).mean()


def official_contra_loss(temp, mat1, mat2):
    """drboog/Lafite training/loss.py contra_loss with lam = 0, as its
    formula reads; the G/D losses subtract its mean"""
    sim = F.cosine_similarity(mat1.unsqueeze(1), mat2.unsqueeze(0), dim=-1)
    sim = torch.exp(sim / temp)
    sim2 = torch.diagonal(F.softmax(sim, dim=0)) * temp
    return torch.log(sim2)


def gan_d(real, fake):
    return F.softplus(fake).mean() + F.softplus(-real).mean()


def gan_g(fake):
    return F.softplus(-fake).mean()


def loss_cases(t):
    """name -> (t2iloss properties, loss)"""
    r, f, rfs, ffs, h, ff = (t["d/real"], t["d/fake"], t["d/real_fs"],
                             t["d/fake_fs"], t["h"], t["fake_feat"])
    return {
        "gan-d": ("kind=gan-logistic-d", gan_d(r, f)),
        "gan-g": ("kind=gan-logistic-g", gan_g(f)),
        "cond": ("kind=lafite-cond", contrastive(rfs, h, TAU, False)),
        "cond-tau": ("kind=lafite-cond tau=0.1", contrastive(rfs, h, 0.1, False)),
        "cond-official": ("kind=lafite-cond official-exp=true",
                          contrastive(rfs, h, TAU, True)),
        "cong": ("kind=lafite-cong", contrastive(ff, h, TAU, False)),
        "d": ("kind=lafite-d gamma=10 r1-every=0",
              gan_d(r, f) + 10 * contrastive(rfs, h, TAU, False)),
        "g": ("kind=lafite-g gamma=10 lambda=10",
              gan_g(f) + 10 * contrastive(ffs, h, TAU, False)
              + 10 * contrastive(ff, h, TAU, False)),
        "g-official": ("kind=lafite-g gamma=5 lambda=10 official-exp=true",
                       gan_g(f) + 5 * contrastive(ffs, h, TAU, True)
                       + 10 * contrastive(ff, h, TAU, True)),
        "g-weight": ("kind=lafite-g gamma=0 lambda=0 weight=2.5", 2.5 * gan_g(f)),
    }


def perturb_golden(out, gen):
    hid = 16
    p = {}
    for i in range(8):
        k = i % 4
        fin = COND if k == 0 else hid
        fout = COND if k == 3 else hid
        p[f"P.linear{i + 1}.weight"] = torch.randn(fout, fin, generator=gen) / math.sqrt(fin)
        p[f"P.linear{i + 1}.bias"] = torch.randn(fout, generator=gen) * 0.1
    p["P.linear8.bias"] = torch.full((COND,), -60.0)
    save_safetensors(os.path.join(out, "perturb.safetensors"), p)
    pi = {"img_feat": torch.randn(BATCH, COND, generator=gen) * 3,
          "txt_feat": torch.randn(BATCH, COND, generator=gen)}
    save_safetensors(os.path.join(out, "perturb-in.safetensors"), pi)

    pd = {k: v.double() for k, v in p.items()}
    f0 = pi["img_feat"].double().requires_grad_(True)
    t = pi["txt_feat"].double().requires_grad_(True)
    f = F.normalize(f0, dim=1)
    x = f
    for i in range(1, 5):
        x = x @ pd[f"P.linear{i}.weight"].t() + pd[f"P.linear{i}.bias"]
        if i < 4:
            x = F.leaky_relu(x, 0.01)
    h = F.normalize(f + x, dim=1)
    loss = (1 - F.cosine_similarity(h, t, dim=1)).mean()
    gf, gt = torch.autograd.grad(loss, [f0, t])
    save_safetensors(os.path.join(out, "perturb-out.safetensors"),
                     {"h": h.detach(), "loss": loss.detach(), "grad/img_feat": gf,
                      "grad/txt_feat": gt})


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/lafite"
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20240607)

    # ---- losses (f64 inputs)
    li = {
        "d/real": torch.randn(BATCH, generator=gen, dtype=torch.float64) * 2,
        "d/fake": torch.randn(BATCH, generator=gen, dtype=torch.float64) * 2,
        "d/real_fs": torch.randn(BATCH, COND, generator=gen, dtype=torch.float64),
        "d/fake_fs": torch.randn(BATCH, COND, generator=gen, dtype=torch.float64),
        "h": torch.randn(BATCH, COND, generator=gen, dtype=torch.float64),
        "fake_feat": torch.randn(BATCH, COND, generator=gen, dtype=torch.float64),
    }
    # h' is correlated with the real features, as a trained D makes it
    li["h"] = F.normalize(li["h"] + 1.5 * li["d/real_fs"], dim=1)
    save_safetensors(os.path.join(out, "losses-in.safetensors"), li)

    # the official formula is our official-exp form
    chk = -official_contra_loss(TAU, li["d/real_fs"], li["h"]).mean()
    assert torch.allclose(chk, contrastive(li["d/real_fs"], li["h"], TAU, True))

    leaves = {k: v.clone().requires_grad_(True) for k, v in li.items()}
    lo, props = {}, {}
    for name, (prop, loss) in loss_cases(leaves).items():
        grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
        lo[name + "/loss"] = loss.detach().reshape(())
        for k, g in zip(leaves, grads):
            lo[f"{name}/grad/{k}"] = torch.zeros_like(li[k]) if g is None else g
        props[name] = prop
    save_safetensors(os.path.join(out, "losses-out.safetensors"), lo)
    with open(os.path.join(out, "losses-cases.txt"), "w") as f:
        for name, prop in props.items():
            f.write(f"{name} {prop}\n")

    # ---- networks (f32 weights and inputs, f64 reference)
    weights = {"g-concat": g_weights("concat", gen),
               "g-modulate": g_weights("modulate", gen),
               "d": d_weights(gen)}
    for name, p in weights.items():
        save_safetensors(os.path.join(out, name + ".safetensors"), p)
    ni = {
        "z": torch.randn(BATCH, Z_DIM, generator=gen),
        "h": F.normalize(torch.randn(BATCH, COND, generator=gen), dim=1),
        "image": torch.rand(BATCH, 3, RES, RES, generator=gen) * 2 - 1,
        "fake": torch.rand(BATCH, 3, RES, RES, generator=gen) * 2 - 1,
    }
    save_safetensors(os.path.join(out, "net-in.safetensors"), ni)

    dp = {k: v.double() for k, v in weights["d"].items()}
    no = {}
    for mode in ("concat", "modulate"):
        gp = {k: v.double() for k, v in weights["g-" + mode].items()}
        z = ni["z"].double().requires_grad_(True)
        h = ni["h"].double().requires_grad_(True)
        img = ni["image"].double()
        fake = generator(gp, z, h, mode)
        dr, rfs = d_logits(dp, img, h)
        df, ffs = d_logits(dp, fake, h)
        # t2iloss kind=lafite-g gamma=1 lambda=0
        loss = gan_g(df) + contrastive(ffs, h, TAU, False)
        gz, gh = torch.autograd.grad(loss, [z, h])
        for k, v in (("fake", fake), ("d/real", dr), ("d/fake", df),
                     ("d/real_fs", rfs), ("d/fake_fs", ffs), ("loss", loss),
                     ("grad/z", gz), ("grad/h", gh)):
            no[f"{mode}/{k}"] = v.detach()

    # kind=lafite-d gamma=10 (r1-every=16: R1 at step 0, scaled by 16)
    dleaves = {k: v.clone().requires_grad_(True) for k, v in dp.items()}
    img = ni["image"].double().requires_grad_(True)
    fake = ni["fake"].double().requires_grad_(True)
    h = ni["h"].double().requires_grad_(True)
    dr, rfs = d_logits(dleaves, img, h)
    df, _ = d_logits(dleaves, fake, h)
    (gimg,) = torch.autograd.grad(dr.sum(), [img], create_graph=True)
    r1 = gimg.square().sum([1, 2, 3]).mean() * (10.0 / 2)
    loss = gan_d(dr, df) + 10 * contrastive(rfs, h, TAU, False) + 16 * r1
    grads = torch.autograd.grad(loss, [img, fake, h], retain_graph=True)
    no["r1/loss"] = loss.detach()
    for k, g in zip(("image", "fake", "h"), grads):
        no["r1/grad/" + k] = g
    # the R1 term alone (kind=r1 every=1) and its gradients with respect to
    # every discriminator parameter, the ones training uses
    pgrads = torch.autograd.grad(r1, list(dleaves.values()), allow_unused=True)
    no["r1only/loss"] = r1.detach()
    for k, g in zip(dleaves, pgrads):
        # biases after the last nonlinearity do not reach the gradient
        no["r1only/param_grad/" + k] = torch.zeros_like(dp[k]) if g is None else g
    save_safetensors(os.path.join(out, "net-out.safetensors"), no)
    perturb_golden(out, gen)


if __name__ == "__main__":
    main()
