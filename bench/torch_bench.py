#!/usr/bin/python3
"""PyTorch side of bench/run: the same cases as bench-t2i, same output
format ("case NAME MEDIAN_MS MIN_MS MAX_MS GFLOP", and for the whole-method
cases "mem NAME PEAK_RSS_MIB START_RSS_MIB -").  Runs with Debian's
python3-torch.  The GAN is gan_bench.py of
../shared/reference/cpu-performance.md (same layers, same step); the
methods are torch_lafite.py and torch_distgan.py.

    torch_bench.py [--threads N] [--samples K] [NAME...]
    torch_bench.py [--threads N] --blas-info

--blas-info prints, as "key value" lines, what this process computes with:
the BLAS library actually mapped into it (not what the libblas.so.3 link
says), its kind (openblas, reference, blis, mkl, unknown), OpenBLAS's core
and thread count, and torch's threads and ATen CPU capability.
"""
import argparse
import ctypes
import math
import os
import re
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_distgan  # noqa: E402
import torch_lafite  # noqa: E402
import torch_vqdiff  # noqa: E402

NZ, NC_IN, NC_PROJ, B = 100, 512, 128, 64


class G(nn.Module):
    def __init__(self, res):
        super().__init__()
        ch = [512, 256, 128, 64] if res == 64 else [512, 256, 128]
        self.proj = nn.Sequential(nn.Linear(NC_IN, NC_PROJ), nn.LeakyReLU(0.2, True))
        layers = [nn.ConvTranspose2d(NZ + NC_PROJ, ch[0], 4, 1, 0, bias=False),
                  nn.BatchNorm2d(ch[0]), nn.ReLU(True)]
        for a, b in zip(ch[:-1], ch[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(ch[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z, c):
        return self.net(torch.cat([z, self.proj(c)], 1)[:, :, None, None])


class D(nn.Module):
    def __init__(self, res):
        super().__init__()
        ch = [64, 128, 256, 512] if res == 64 else [128, 256, 512]
        layers = [nn.Conv2d(3, ch[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b),
                       nn.LeakyReLU(0.2, True)]
        self.net = nn.Sequential(*layers)
        self.proj = nn.Sequential(nn.Linear(NC_IN, NC_PROJ), nn.LeakyReLU(0.2, True))
        self.out = nn.Conv2d(512 + NC_PROJ, 1, 4, 1, 0)

    def forward(self, x, c):
        p = self.proj(c)[:, :, None, None].expand(-1, -1, 4, 4)
        return self.out(torch.cat([self.net(x), p], 1)).view(-1)


def flops_g(res):
    f = 2 * NC_IN * NC_PROJ + 2 * (NZ + NC_PROJ) * 512 * 16
    ch = [512, 256, 128, 64, 3] if res == 64 else [512, 256, 128, 3]
    hw = 4
    for a, b in zip(ch[:-1], ch[1:]):
        f += 2 * a * hw * hw * b * 16
        hw *= 2
    return f


def flops_d(res):
    ch = [3, 64, 128, 256, 512] if res == 64 else [3, 128, 256, 512]
    f = 2 * NC_IN * NC_PROJ + 2 * (512 + NC_PROJ) * 16
    hw = res // 2
    for a, b in zip(ch[:-1], ch[1:]):
        f += 2 * b * hw * hw * a * 16
        hw //= 2
    return f


def bench(name, fn, gflop, samples):
    fn()
    fn()
    t = time.perf_counter()
    fn()
    one = time.perf_counter() - t
    k = max(1, int(0.3 / max(one, 1e-6)))
    res = []
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(k):
            fn()
        res.append((time.perf_counter() - t) / k)
    res.sort()
    print("case %s %.3f %.3f %.3f %.4f" % (name, res[len(res) // 2] * 1e3,
                                           res[0] * 1e3, res[-1] * 1e3, gflop))
    sys.stdout.flush()


def op_case(name, fn, x, w, gflop, samples, bf16=False):
    """forward and both gradients; with @bf16 under CPU autocast"""
    x.requires_grad_(True)
    w.requires_grad_(True)

    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = fn(x, w)
        torch.autograd.grad(y, (x, w), torch.full_like(y, 0.01))
    bench(name, run, gflop, samples)


def gan_cases(res, step, samples):
    torch.manual_seed(1)
    g, d = G(res), D(res)
    real = torch.randn(B, 3, res, res)
    c = torch.randn(B, NC_IN)
    if not step:
        g.eval()

        def infer():
            with torch.no_grad():
                g(torch.randn(B, NZ), c)
        bench("gan%d-g-inference" % res, infer, B * flops_g(res) * 1e-9, samples)
        return
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(B), torch.zeros(B)

    def train_step():
        fake = g(torch.randn(B, NZ), c)
        opt_d.zero_grad(set_to_none=True)
        (bce(d(real, c), ones) + bce(d(fake.detach(), c), zeros)).backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        bce(d(fake, c), ones).backward()
        opt_g.step()
    bench("gan%d-train-step" % res, train_step,
          B * (3 * flops_g(res) + 9 * flops_d(res)) * 1e-9, samples)


def encoder(width, layers, heads):
    layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0,
                                       activation="gelu", batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class TextEncoder(nn.Module):
    """tf_bench.py of cpu-performance.md: CLIP ViT-B/32's text tower."""
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(49408, 512)
        self.pos = nn.Parameter(torch.randn(77, 512) * 0.01)
        self.enc = encoder(512, 12, 8)
        self.ln = nn.LayerNorm(512)
        self.proj = nn.Linear(512, 512, bias=False)
        self.register_buffer("mask", torch.full((77, 77), float("-inf")).triu(1))

    def forward(self, ids):
        x = self.ln(self.enc(self.tok(ids) + self.pos, mask=self.mask))
        return self.proj(x[torch.arange(ids.shape[0]), ids.argmax(-1)])


class ViT(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 768, 32, 32, bias=False)
        self.cls = nn.Parameter(torch.randn(1, 1, 768))
        self.pos = nn.Parameter(torch.randn(50, 768) * 0.01)
        self.ln_pre = nn.LayerNorm(768)
        self.enc = encoder(768, 12, 12)
        self.ln = nn.LayerNorm(768)
        self.proj = nn.Linear(768, 512, bias=False)

    def forward(self, x):
        x = self.conv(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
        return self.proj(self.ln(self.enc(self.ln_pre(x))[:, 0]))


def tf_flops(n, d, layers):
    return layers * (24 * n * d * d + 4 * n * n * d)


def clip_cases(text, samples, bf16=False):
    b = 16
    if text:
        m = TextEncoder().eval()
        ids = torch.randint(1, 49406, (b, 77))
        ids[:, -1] = 49407
        arg, gflop = ids, b * (tf_flops(77, 512, 12) + 2 * 512 * 512) * 1e-9
        name = "clip-text-b16"
    else:
        m = ViT().eval()
        arg = torch.randn(b, 3, 224, 224)
        gflop = b * (tf_flops(50, 768, 12) + 2 * 49 * 768 * 3 * 32 * 32
                     + 2 * 768 * 512) * 1e-9
        name = "clip-vit-b32-b16"

    def run():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16,
                                             enabled=bf16):
            m(arg)
    bench(name + ("-bf16" if bf16 else ""), run, gflop, samples)


# ---- SDN: one Stage-II training step (bench-t2i.c's sdn32-stage2-step) ----
SDN_B, SDN_RES, SDN_W, SDN_HIDDEN, SDN_COND = 16, 32, 16, 1024, 128
SDN_CONVS, SDN_MULT = [2, 2, 4, 4, 4], [1, 2, 4, 8, 8]


class SdnTeacher(nn.Module):
    """VGG19's features, width SDN_W, average pooling; SDN's 22 taps"""

    def __init__(self):
        super().__init__()
        self.convs, c = nn.ModuleList(), 3
        for b in range(5):
            for _ in range(SDN_CONVS[b]):
                self.convs.append(nn.Conv2d(c, SDN_W * SDN_MULT[b], 3, 1, 1))
                c = SDN_W * SDN_MULT[b]

    def forward(self, x):
        taps, k = [x], 0
        for b in range(5):
            for _ in range(SDN_CONVS[b]):
                x = torch.relu(self.convs[k](x))
                taps.append(x)
                k += 1
            x = nn.functional.avg_pool2d(x, 2)
            taps.append(x)
        return taps


class SdnG(nn.Module):
    """t2i/sdn.h: fc8, fc7, fc6, then VGG19 backwards (nearest x2, convs)"""

    def __init__(self):
        super().__init__()
        side = SDN_RES // 32
        self.fc = nn.ModuleList([nn.Linear(SDN_COND, SDN_HIDDEN),
                                 nn.Linear(SDN_HIDDEN, SDN_HIDDEN),
                                 nn.Linear(SDN_HIDDEN, 8 * SDN_W * side * side)])
        self.blocks, c = nn.ModuleList(), 8 * SDN_W
        for b in range(4, -1, -1):
            convs = []
            for i in range(SDN_CONVS[b], 0, -1):
                o = (SDN_W * SDN_MULT[b] if i > 1 else
                     SDN_W * SDN_MULT[b - 1] if b > 0 else 3)
                convs.append(nn.Conv2d(c, o, 3, 1, 1))
                c = o
            self.blocks.append(nn.ModuleList(convs))

    def forward(self, t):
        for fc in self.fc:
            t = torch.relu(fc(t))
        x = t.reshape(t.shape[0], -1, SDN_RES // 32, SDN_RES // 32)
        levels = [x]
        for bi, convs in enumerate(self.blocks):
            x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")
            levels.append(x)
            for j, conv in enumerate(convs):
                x = conv(x)
                if not (bi == 4 and j == len(convs) - 1):
                    x = torch.relu(x)
                    levels.append(x)
        return x, levels


def sdn_vgg_macs():
    macs, c, side = 0, 3, SDN_RES
    for b in range(5):
        for _ in range(SDN_CONVS[b]):
            macs += 9 * c * SDN_W * SDN_MULT[b] * side * side
            c = SDN_W * SDN_MULT[b]
        side //= 2
    return macs


def sdn_g_macs():
    pool5 = 8 * SDN_W * (SDN_RES // 32) ** 2
    return (SDN_COND * SDN_HIDDEN + SDN_HIDDEN * SDN_HIDDEN + SDN_HIDDEN * pool5
            + sdn_vgg_macs())


def sdn_cases(samples):
    torch.manual_seed(1)
    teacher, g = SdnTeacher(), SdnG()
    teacher.requires_grad_(False)
    opt = torch.optim.Adam(g.parameters(), lr=1e-3)
    real = torch.randn(SDN_B, 3, SDN_RES, SDN_RES)
    cond = torch.randn(SDN_B, SDN_COND)
    l1 = nn.functional.l1_loss

    def step():
        with torch.no_grad():
            r = teacher(real)
        fake, _ = g(cond)
        f = teacher(fake)
        loss = sum(l1(a, b) for a, b in zip(f, r))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    bench("sdn32-stage2-step", step,
          SDN_B * 2.0 * (3 * sdn_vgg_macs() + 3 * sdn_g_macs()) * 1e-9, samples)
# ---- ICSD-GAN's training step (bench/icsd.h): the networks of
# core/models/{condaug,msgan-g,msgan-d,damsm-image}.c as modules

ICSD_BASE, ICSD_NGF, ICSD_NDF, ICSD_Z, ICSD_C, ICSD_L, ICSD_T = \
    16, 32, 32, 100, 100, 18, 256


def up_block(cin, cout):
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                         nn.Conv2d(cin, 2 * cout, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(2 * cout), nn.GLU(1))


class CA(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(ICSD_T, 4 * ICSD_C)

    def forward(self, t):
        x = nn.functional.glu(self.fc(t), 1)
        mu, logvar = x[:, :ICSD_C], x[:, ICSD_C:]
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar), mu, logvar


class AM(nn.Module):
    def __init__(self, ngf):
        super().__init__()
        self.conv1 = nn.Conv2d(2 * ngf, 4 * ngf, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(4 * ngf, affine=False)
        self.mod1 = nn.Conv2d(ngf, 8 * ngf, 3, 1, 1)
        self.conv2 = nn.Conv2d(2 * ngf, 2 * ngf, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * ngf, affine=False)
        self.mod2 = nn.Conv2d(ngf, 4 * ngf, 3, 1, 1)

    def forward(self, x, ctx):
        g, b = self.mod1(ctx).chunk(2, 1)
        y = nn.functional.glu(self.bn1(self.conv1(x)) * (1 + g) + b, 1)
        g, b = self.mod2(ctx).chunk(2, 1)
        return x + self.bn2(self.conv2(y)) * (1 + g) + b


class NextStage(nn.Module):
    def __init__(self, ngf):
        super().__init__()
        self.conv_context = nn.Linear(ICSD_T, ngf, bias=False)
        self.am = AM(ngf)
        self.up = up_block(2 * ngf, ngf)
        self.img = nn.Conv2d(ngf, 3, 3, 1, 1, bias=False)

    def forward(self, h, words, mask_bias):
        n, c, hh, ww = h.shape
        w = self.conv_context(words)                        # [N, L, ngf]
        q = h.view(n, c, hh * ww).transpose(1, 2)
        a = torch.softmax(q @ w.transpose(1, 2) + mask_bias, 2)
        ctx = (a @ w).transpose(1, 2).reshape(n, c, hh, ww)
        h = self.up(self.am(torch.cat([h, ctx], 1), ctx))
        return h, torch.tanh(self.img(h))


class MultiStageG(nn.Module):
    def __init__(self):
        super().__init__()
        ngf, u = ICSD_NGF, int(math.log2(ICSD_BASE // 4))
        self.top = ngf << u
        self.fc = nn.Linear(ICSD_Z + ICSD_C, self.top * 32, bias=False)
        self.fc_bn = nn.BatchNorm1d(self.top * 32)
        self.up = nn.Sequential(*[up_block(self.top >> k, self.top >> (k + 1))
                                  for k in range(u)])
        self.img0 = nn.Conv2d(ngf, 3, 3, 1, 1, bias=False)
        self.next = nn.ModuleList([NextStage(ngf) for _ in range(2)])

    def forward(self, c, z, words, mask):
        x = nn.functional.glu(self.fc_bn(self.fc(torch.cat([c, z], 1))), 1)
        h = self.up(x.view(-1, self.top, 4, 4))
        fakes = [torch.tanh(self.img0(h))]
        bias = torch.zeros_like(mask).masked_fill(mask == 0, float("-inf"))
        for s in self.next:
            h, f = s(h, words, bias[:, None, :])
            fakes.append(f)
        return fakes


class MsganD(nn.Module):
    def __init__(self, stage):
        super().__init__()
        res = ICSD_BASE << stage
        n = int(math.log2(res // 4))
        ch = ICSD_NDF
        layers = [nn.Conv2d(3, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
        for _ in range(n - 1):
            layers += [nn.Conv2d(ch, 2 * ch, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2)]
            ch *= 2
        for _ in range(stage):
            layers += [nn.Conv2d(ch, ch // 2, 3, 1, 1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.LeakyReLU(0.2)]
            ch //= 2
        self.down = nn.Sequential(*layers)
        self.joint = nn.Sequential(nn.Conv2d(ch + ICSD_T, ch, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(ch), nn.LeakyReLU(0.2))
        self.cond_logits = nn.Conv2d(ch, 1, 4, 4)
        self.uncond_logits = nn.Conv2d(ch, 1, 4, 4)
        self.sim_text = nn.Linear(ICSD_T, 256, bias=False)
        self.sim_image = nn.Linear(ch * 16, 256, bias=False)

    def forward(self, x, t):
        f = self.down(x)
        n = x.shape[0]
        tt = t[:, :, None, None].expand(-1, -1, 4, 4)
        cond = self.cond_logits(self.joint(torch.cat([f, tt], 1))).view(n)
        uncond = self.uncond_logits(f).view(n)
        sim = nn.functional.cosine_similarity(self.sim_text(t),
                                              self.sim_image(f.reshape(n, -1)))
        return cond, uncond, sim, f


class DamsmCnn(nn.Module):
    def __init__(self):
        super().__init__()
        w = [32, 64, 128, 256]

        def block(a, b, s):
            return nn.Sequential(nn.Conv2d(a, b, 3, s, 1, bias=False),
                                 nn.GroupNorm(8, b), nn.LeakyReLU(0.2))
        self.stem = block(3, w[0], 1)
        self.stages = nn.ModuleList([block(w[i], w[i + 1], 2) for i in range(3)])
        self.emb_features = nn.Conv2d(w[2], ICSD_T, 1, bias=False)
        self.emb_cnn_code = nn.Linear(w[3], ICSD_T)

    def forward(self, x):
        h = self.stem(x)
        for i, s in enumerate(self.stages):
            h = s(h)
            if i == 1:
                mid = h
        return self.emb_cnn_code(h.mean((2, 3))), self.emb_features(mid)


def damsm_loss(words, lengths, regions, glob, sent, g1=4.0, g2=5.0, g3=10.0):
    n, d = words.shape[0], words.shape[2]
    rt = regions.reshape(n, d, -1).transpose(1, 2)          # [N, R, D]
    cols = []
    for j in range(n):
        e = words[j:j + 1, :lengths[j]]                      # [1, T, D]
        a = torch.softmax(rt @ e.transpose(1, 2), 2)         # over words
        alpha = torch.softmax(g1 * a.transpose(1, 2), 2)     # over regions
        c = alpha @ rt
        r = nn.functional.cosine_similarity(c, e.expand_as(c), dim=2)
        cols.append(torch.logsumexp(g2 * r, 1, keepdim=True) / g2)
    labels = torch.arange(n)

    def match(s):
        s = g3 * s
        return (nn.functional.cross_entropy(s, labels)
                + nn.functional.cross_entropy(s.t(), labels))
    s = nn.functional.cosine_similarity(glob[:, None], sent[None], dim=2)
    return match(torch.cat(cols, 1)) + match(s)


def csd_loss(fs, ft):
    def m(f):
        f = nn.functional.normalize(f.reshape(f.shape[0], -1), dim=1)
        return f @ f.t()
    return ((m(fs) - m(ft.detach())) ** 2).mean()


def icsd_flops():
    def conv(cin, cout, k, side):
        return 2.0 * cin * cout * k * k * side * side
    ngf, u = ICSD_NGF, int(math.log2(ICSD_BASE // 4))
    top = ngf << u
    g = 2.0 * (ICSD_Z + ICSD_C) * top * 32
    g += sum(conv(top >> k, 2 * (top >> (k + 1)), 3, 8 << k) for k in range(u))
    g += conv(ngf, 3, 3, ICSD_BASE)
    for i in (1, 2):
        h = ICSD_BASE << (i - 1)
        g += 2.0 * ICSD_T * ngf * ICSD_L + 2 * 2.0 * h * h * ICSD_L * ngf
        g += (conv(2 * ngf, 4 * ngf, 3, h) + conv(ngf, 8 * ngf, 3, h)
              + conv(2 * ngf, 2 * ngf, 3, h) + conv(ngf, 4 * ngf, 3, h))
        g += conv(2 * ngf, 2 * ngf, 3, 2 * h) + conv(ngf, 3, 3, 2 * h)
    d = 0.0
    for s in range(3):
        r = ICSD_BASE << s
        n = int(math.log2(r // 4))
        ch = ICSD_NDF
        d += conv(3, ch, 4, r / 2)
        for k in range(1, n):
            d += conv(ch, 2 * ch, 4, r / (2 << k))
            ch *= 2
        for _ in range(s):
            d += conv(ch, ch / 2, 3, 4)
            ch /= 2
        d += conv(ch + ICSD_T, ch, 3, 4) + 2 * conv(ch, 1, 4, 1)
        d += 2.0 * 256 * (ICSD_T + ch * 16)
    side = ICSD_BASE * 4
    w = [32, 64, 128, 256]
    e = conv(3, w[0], 3, side)
    e += sum(conv(w[s], w[s + 1], 3, side / (2 << s)) for s in range(3))
    e += conv(128, 256, 1, side / 4) + 2.0 * 256 * 256
    return 4 * g + 12 * d + 3 * e


def icsd_case(samples):
    torch.manual_seed(3)
    b = 16
    ca, g = CA(), MultiStageG()
    ds = [MsganD(s) for s in range(3)]
    enc = DamsmCnn().requires_grad_(False)
    adam = dict(lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(list(g.parameters()) + list(ca.parameters()), **adam)
    opt_d = [torch.optim.Adam(d.parameters(), **adam) for d in ds]
    lengths = [4 + i % 9 for i in range(b)]
    mask = torch.zeros(b, ICSD_L)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    words = torch.randn(b, ICSD_L, ICSD_T) * mask[:, :, None]
    text = torch.randn(b, ICSD_T)
    real = [torch.tanh(torch.randn(b, 3, ICSD_BASE << i, ICSD_BASE << i))
            for i in range(3)]
    wrong = [torch.roll(r, 1, 0) for r in real]
    sp = nn.functional.softplus

    def step():
        # D phase: each discriminator on its own loss
        c, _, _ = ca(text)
        fakes = g(c, torch.randn(b, ICSD_Z), words, mask)
        for i, d in enumerate(ds):
            rc, ru, rs, _ = d(real[i], text)
            fc, fu, fs, _ = d(fakes[i].detach(), text)
            _, _, ws, _ = d(wrong[i], text)
            loss = (sp(-rc).mean() + sp(fc).mean() + sp(-ru).mean()
                    + sp(fu).mean() + (torch.relu(1 - rs) + (torch.relu(1 + ws)
                                       + torch.relu(1 + fs)) / 2).mean())
            opt_d[i].zero_grad(set_to_none=True)
            loss.backward()
            opt_d[i].step()
        # G phase: a fresh forward against the updated discriminators
        c, mu, logvar = ca(text)
        fakes = g(c, torch.randn(b, ICSD_Z), words, mask)
        loss, feats = 0, []
        for i, d in enumerate(ds):
            fc, fu, fs, f = d(fakes[i], text)
            loss = loss + sp(-fc).mean() + sp(-fu).mean() - fs.mean()
            feats.append(f)
        glob, regions = enc(fakes[2])
        loss = loss + 5 * damsm_loss(words, lengths, regions, glob, text)
        loss = loss + (0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(1)).mean()
        loss = loss + csd_loss(feats[0], feats[2]) + csd_loss(feats[1], feats[2])
        opt_g.zero_grad(set_to_none=True)
        for d in ds:
            d.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
    bench("icsd16-train-step", step, b * icsd_flops() * 1e-9, samples)


def mapped_blas():
    """paths of the BLAS libraries mapped into this process"""
    found = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            path = fields[5].strip() if len(fields) == 6 else ""
            name = os.path.basename(path)
            if re.match(r"lib(open)?blas|libblis|libmkl|lib[st]?atlas", name) \
                    and path not in found:
                found.append(path)
    return found


def symbol(lib, name, restype):
    try:
        f = getattr(lib, name)
    except AttributeError:
        return None
    f.restype = restype
    return f()


def blas_info():
    # one product through torch's BLAS path (addmm on CPU f32), so that a
    # lazily loaded library is mapped too
    torch.addmm(torch.zeros(64, 64), torch.ones(64, 64), torch.ones(64, 64))
    cfg = torch.__config__.show()
    m = re.search(r"CPU capability usage: (\S+)", cfg)
    print("torch %s" % torch.__version__)
    print("torch-threads %d" % torch.get_num_threads())
    print("torch-cpu %s" % (m.group(1) if m else "unknown"))
    print("torch-onednn %s" % ("yes" if torch.backends.mkldnn.is_available() else "no"))
    paths = mapped_blas()
    m = re.search(r"BLAS_INFO=(\w+)", cfg)
    built = m.group(1) if m else "unknown"
    if not paths:
        # linked in statically (pip wheels: MKL); torch's build says which
        print("blas (built into torch)")
        print("blas-kind %s" % ("mkl" if built == "mkl" else "unknown"))
        return
    path = os.path.realpath(paths[0])
    print("blas %s" % path)
    lib = ctypes.CDLL(paths[0])
    core = symbol(lib, "openblas_get_corename", ctypes.c_char_p)
    if core is not None:
        print("blas-kind openblas")
        print("blas-core %s" % core.decode())
        print("blas-threads %d" % symbol(lib, "openblas_get_num_threads", ctypes.c_int))
        print("blas-config %s" % symbol(lib, "openblas_get_config", ctypes.c_char_p).decode())
    elif symbol(lib, "bli_info_get_version_str", ctypes.c_char_p) is not None:
        print("blas-kind blis")
    elif "mkl" in os.path.basename(path):
        print("blas-kind mkl")
    elif os.path.basename(os.path.dirname(path)) == "blas":
        # Debian's netlib package (libblas3) installs in <libdir>/blas/
        print("blas-kind reference")
    else:
        print("blas-kind unknown")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--blas-info", action="store_true")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.blas_info:
        blas_info()
        return

    def wanted(n):
        return not a.names or any(n.startswith(x) for x in a.names)

    s = a.samples
    for sfx in ("", "-bf16"):
        if wanted("matmul-1024" + sfx):
            op_case("matmul-1024" + sfx, torch.matmul,
                    torch.randn(1024, 1024), torch.randn(1024, 1024),
                    3 * 2 * 1024 ** 3 * 1e-9, s, bf16=bool(sfx))
        if wanted("conv-64x128-32" + sfx):
            op_case("conv-64x128-32" + sfx,
                    lambda x, w: torch.nn.functional.conv2d(x, w, None, 2, 1),
                    torch.randn(64, 64, 32, 32), torch.randn(128, 64, 4, 4),
                    3 * 2.0 * 64 * 128 * 16 * 16 * 64 * 16 * 1e-9, s,
                    bf16=bool(sfx))
    if wanted("deconv-512x256-4"):
        op_case("deconv-512x256-4",
                lambda x, w: torch.nn.functional.conv_transpose2d(x, w, None, 2, 1),
                torch.randn(64, 512, 4, 4), torch.randn(512, 256, 4, 4),
                3 * 2.0 * 64 * 512 * 4 * 4 * 256 * 16 * 1e-9, s)
    if wanted("attention-2048"):
        def attention(q, w):
            """causal softmax(q w^T / sqrt(d)) w, as t2i's case computes it
            (PyTorch 1.13 has no fused CPU attention)"""
            s = q @ w.transpose(-2, -1) / math.sqrt(q.shape[-1])
            n = q.shape[-2]
            mask = torch.ones(n, n, dtype=torch.bool).triu(1)
            return s.masked_fill(mask, float("-inf")).softmax(-1) @ w
        op_case("attention-2048", attention, torch.randn(2, 8, 2048, 64),
                torch.randn(2, 8, 2048, 64),
                3 * 4.0 * 16 * 2048 * 2048 * 64 * 1e-9, s)
    if wanted("gan64-g-inference"):
        gan_cases(64, False, s)
    if wanted("gan64-train-step"):
        gan_cases(64, True, s)
    if wanted("icsd16-train-step"):
        icsd_case(s)
    for sfx in ("", "-bf16"):
        if wanted("clip-text-b16" + sfx):
            clip_cases(True, s, bf16=bool(sfx))
        if wanted("clip-vit-b32-b16" + sfx):
            clip_cases(False, s, bf16=bool(sfx))
    if wanted("sdn32-stage2-step"):
        sdn_cases(s)
    if wanted("vqdiff-train-step") or wanted("vqdiff-sample"):
        torch_vqdiff.cases(bench, wanted, s)
    torch_lafite.cases(wanted, s)
    torch_distgan.cases(wanted, s)


if __name__ == "__main__":
    main()
