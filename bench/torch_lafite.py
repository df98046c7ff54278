"""PyTorch side of bench/run's LAFITE cases (bench/method.c): the training
step of pipelines/lafite-train-free.t2i at ch=64, batch 32, 32 px, with the
frozen CLIP image tower of models/clip-shapes.safetensors.

    lafite-train-step   one measurement, printed under both names: t2i runs
    lafite-core-step    the step through t2i-launch and through its core API

One step, as the pipeline takes it: f = CLIP(x) (frozen, no grad);
h' = normalize(f + xi u ||f||) with xi = 3 (LAFITE eq. 1); x' = G(h', z)
with fresh per-layer noise; f' = CLIP(x'); D on x (a gradient leaf, for
R1) and on x'; the lafite-d loss (L_D + 10 L_ConD(f_s(x), h'), plus
16 x R1 with gamma 0.0064 on steps that are multiples of 16) for D and the
lafite-g loss (L_G + 10 L_ConD(f_s(x'), h') + 10 L_ConG(f', h'), tau 0.5)
for G, each backpropagated into its own network's parameters before either
changes, Adam (G: lr 0.0025, betas (0, 0.99); D: 0.00235, (0, 0.9906)), and
G's moving average (decay 0.998).

Networks: tests/gen-lafite-golden.py's StyleGAN2 G and D with LAFITE's
conditioning (functions of a dict of tensors, imported, at the pipeline's
sizes), except where the golden writes a layer for clarity and training
code does otherwise:
- the up-sampling modulated convolution is StyleGAN2-ADA's
  conv2d_resample: a stride-2 transposed convolution, then the [1,3,3,1]
  FIR (the golden inserts zeros and convolves at twice the resolution: 4x
  the multiply-adds, the same result; --check compares the two);
- per-layer noise is drawn fresh for every image (noise-mode=random), and
  the mapping's average of w moves, as in training.
The CLIP image tower is tests/gen-models-golden.py's CnnClip with the
weights of models/clip-shapes.safetensors.  The real images are a fixed
random batch (t2i draws its batches from the shapes dataset; bench-t2i
prints how long that takes).

Timing as bench-t2i's: two warm-up steps (step 0 runs R1), then samples of
16 consecutive steps, exactly one with R1.  Memory ("mem NAME PEAK_RSS
START_RSS -"): the process's peak RSS from the case's start (VmHWM after
resetting it through /proc/self/clear_refs) and its RSS then; PyTorch 1.13
keeps no count of its CPU tensor memory.

    /usr/bin/python3 bench/torch_lafite.py --check   # the networks against
                                                     # the golden's, float64

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import contextlib
import ctypes
import gc
import importlib
import math
import os
import re
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
lg = importlib.import_module("gen-lafite-golden")
mg = importlib.import_module("gen-models-golden")

CLIP_FILE = os.path.join(ROOT, "models", "clip-shapes.safetensors")
BATCH, RES, CH, Z_DIM, W_DIM, COND_HIDDEN, MAP_LAYERS, MBSTD = \
    32, 32, 64, 512, 512, 512, 8, 4
CHANNEL_BASE = 32768
TAU, GAMMA, LAMBDA, XI = 0.5, 10.0, 10.0, 3.0
R1_EVERY, R1_GAMMA = 16, 0.0064
EMA_DECAY, W_AVG_BETA = 0.998, 0.995
WARMUP = 2


def use_sizes(res, map_layers, mbstd):
    """the golden's networks read their sizes from its module constants"""
    lg.RES, lg.MAP_LAYERS, lg.MBSTD = res, map_layers, mbstd


def channels(res):
    return min(CHANNEL_BASE // res, CH)


# ---------------------------------------------------------------- memory

def status_mib(key):
    with open("/proc/self/status") as f:
        m = re.search(r"\n%s:\s+(\d+)" % key, f.read())
    return int(m.group(1)) / 1024.0 if m else 0.0


def reset_peak_rss():
    """drops what earlier cases freed, then restarts VmHWM"""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


# ---------------------------------------------------------------- networks

def modconv(x, w, s, demod, up, padding):
    """the golden's modulated convolution; up = 2 as conv2d_resample does
    it: conv_transpose2d(stride 2, no padding) gives 2H + 1, the FIR with
    padding p brings it to 2H"""
    if up == 1:
        return lg.modconv(x, w, s, demod, up, padding)
    y = F.conv_transpose2d(x * s[:, :, None, None], w.transpose(0, 1),
                           stride=2)
    y = lg.upfirdn2d(y, pad=(padding, padding), gain=4.0)
    if demod:
        d = ((w[None] * s[:, None, :, None, None]) ** 2).sum([2, 3, 4])
        y = y * (d + 1e-8).rsqrt()[:, :, None, None]
    return y


def syn_layer(p, name, x, w, h, up, noise):
    s = lg.style(p, name, w, h, "concat")
    y = modconv(x, p[name + ".weight"], s, True, up, 1)
    n, _, r, _ = y.shape
    nz = torch.randn(n, 1, r, r, dtype=y.dtype) if noise == "random" \
        else p[name + ".noise_const"].reshape(1, 1, r, r)
    y = y + nz * p[name + ".noise_strength"]
    return lg.lrelu(y + p[name + ".bias"][None, :, None, None])


def generator(p, z, h, noise="random", track_w_avg=True):
    """the golden's generator (cond-mode=concat) with modconv() and fresh
    noise"""
    x = z * (z.square().mean(1, keepdim=True) + 1e-8).rsqrt()
    for i in range(lg.MAP_LAYERS):
        x = lg.fc(p, f"G.mapping.fc{i}", x, True, 0.01)
    if track_w_avg:
        with torch.no_grad():
            avg = p["G.mapping.w_avg"]
            avg.copy_(x.detach().mean(0).lerp(avg, W_AVG_BETA))
    w, img, res = x, None, 4
    while res <= lg.RES:
        b = f"G.synthesis.b{res}"
        if res == 4:
            x = p[b + ".const"][None].expand(z.shape[0], -1, -1, -1)
        else:
            x = syn_layer(p, b + ".conv0", x, w, h, 2, noise)
        x = syn_layer(p, b + ".conv1", x, w, h, 1, noise)
        y = lg.torgb(p, b + ".torgb", x, w, h, "concat")
        img = y if img is None else \
            lg.upfirdn2d(img, up=2, pad=(2, 1), gain=4.0) + y
        res *= 2
    return img


G_BUFFERS = ("w_avg", "noise_const")


def g_params(cond):
    """StyleGAN2's initialisation (equalised learning rate: N(0, 1) / lr
    multiplier, biases 0, the affine ones 1, noise strengths 0)"""
    p = {}

    def fc(name, i, o, lr_mul=1.0, bias=0.0):
        p[name + ".weight"] = torch.randn(o, i) / lr_mul
        p[name + ".bias"] = torch.full((o,), float(bias))

    def style(name, cin):
        hid = (cond + COND_HIDDEN) // 2
        fc(name + ".pre_0", cond, hid, 0.01)
        fc(name + ".pre_1", hid, COND_HIDDEN, 0.01)
        fc(name + ".affine_0", COND_HIDDEN + W_DIM, cin, 1.0, 1.0)

    def layer(name, cin, cout, res):
        style(name, cin)
        p[name + ".weight"] = torch.randn(cout, cin, 3, 3)
        p[name + ".noise_strength"] = torch.zeros(())
        p[name + ".bias"] = torch.zeros(cout)
        p[name + ".noise_const"] = torch.randn(res, res)

    for i in range(MAP_LAYERS):
        fc(f"G.mapping.fc{i}", Z_DIM if i == 0 else W_DIM, W_DIM, 0.01)
    p["G.mapping.w_avg"] = torch.zeros(W_DIM)
    res = 4
    while res <= RES:
        b, co = f"G.synthesis.b{res}", channels(res)
        if res == 4:
            p[b + ".const"] = torch.randn(co, 4, 4)
        else:
            layer(b + ".conv0", channels(res // 2), co, res)
        layer(b + ".conv1", co, co, res)
        style(b + ".torgb", co)
        p[b + ".torgb.weight"] = torch.randn(3, co, 1, 1)
        p[b + ".torgb.bias"] = torch.zeros(3)
        res *= 2
    return p


def d_params(cond):
    p = {}

    def conv(name, cout, cin, k, bias=True):
        p[name + ".weight"] = torch.randn(cout, cin, k, k)
        if bias:
            p[name + ".bias"] = torch.zeros(cout)

    res = RES
    while res >= 8:
        b, ci, co = f"D.b{res}", channels(res), channels(res // 2)
        if res == RES:
            conv(b + ".fromrgb", ci, 3, 1)
        conv(b + ".conv0", ci, ci, 3)
        conv(b + ".conv1", co, ci, 3)
        conv(b + ".skip", co, ci, 1, False)
        res //= 2
    c4 = channels(4)
    conv("D.b4.conv", c4, c4 + 1, 3)
    p["D.b4.fc.weight"], p["D.b4.fc.bias"] = torch.randn(c4, c4 * 16), torch.zeros(c4)
    p["D.b4.fts.weight"], p["D.b4.fts.bias"] = torch.randn(cond, c4), torch.zeros(cond)
    p["D.b4.out.weight"], p["D.b4.out.bias"] = torch.randn(1, c4), torch.zeros(1)
    return p


def clip_file():
    sd, _ = mg.read_safetensors(CLIP_FILE)
    return {k[len("clip."):]: v.float() for k, v in sd.items()}


def clip_image(sd):
    """the file's CNN image tower, frozen; (module, its sizes)"""
    stages = sorted({int(k.split(".")[2]) for k in sd
                     if k.startswith("visual.stages.")})
    kw = dict(stem=sd["visual.stem.conv.weight"].shape[0],
              widths=[sd[f"visual.stages.{i}.0.conv.weight"].shape[0]
                      for i in stages],
              depth=len({k.split(".")[3] for k in sd
                         if k.startswith("visual.stages.0.")}),
              embed=sd["visual.head.weight"].shape[0])
    m = mg.CnnClip(**kw)
    m.load_state_dict({k: v for k, v in sd.items()
                       if k.startswith("visual.")})
    m.requires_grad_(False)
    return m.visual, kw


# ------------------------------------------------- multiply-accumulates
# per item and forward pass, as bench/method.c counts them

def g_macs(cond):
    hid = (cond + COND_HIDDEN) // 2
    m = Z_DIM * W_DIM + (MAP_LAYERS - 1) * W_DIM * W_DIM

    def style(cin):
        return cond * hid + hid * COND_HIDDEN + (COND_HIDDEN + W_DIM) * cin
    res = 4
    while res <= RES:
        co = channels(res)
        if res > 4:
            ci = channels(res // 2)
            m += style(ci) + ci * co * 9 * (res // 2) ** 2
        m += style(co) + co * co * 9 * res * res + style(co) + co * 3 * res * res
        res *= 2
    return m


def d_macs(cond):
    m, res = 0, RES
    while res >= 8:
        ci, co, o = channels(res), channels(res // 2), (res // 2) ** 2
        if res == RES:
            m += 3 * ci * res * res
        m += ci * ci * 9 * res * res + ci * co * 9 * o + ci * co * o
        res //= 2
    c4 = channels(4)
    return m + (c4 + 1) * c4 * 9 * 16 + c4 * 16 * c4 + c4 + c4 * cond


def cnn_macs(kw, res):
    cin = kw["stem"]
    m = 3 * cin * 9 * res * res
    for co in kw["widths"]:
        res //= 2
        m += cin * co * 9 * res * res + (kw["depth"] - 1) * co * co * 9 * res * res
        cin = co
    return m + cin * kw["embed"]


def blocks_macs(n, d, layers):
    return layers * (12 * n * d * d + 2 * n * n * d)


# ---------------------------------------------------------------- the step

class Trainer:
    """the two groups' optimizers and G's moving average, as t2itrainer"""

    def __init__(self, g, d, g_extra=()):
        self.g, self.d = g, d
        self.g_train = [v for k, v in g.items() if not k.endswith(G_BUFFERS)]
        self.g_train += list(g_extra)
        self.d_train = list(d.values())
        for t in self.g_train + self.d_train:
            t.requires_grad_(True)
        self.opt_g = torch.optim.Adam(self.g_train, lr=0.0025, betas=(0, 0.99))
        self.opt_d = torch.optim.Adam(self.d_train, lr=0.00235,
                                      betas=(0, 0.9906))
        self.ema = [t.detach().clone() for t in self.g_train]
        self.g_buffers = [v for k, v in g.items() if k.endswith(G_BUFFERS)]
        self.ema_buffers = [t.clone() for t in self.g_buffers]

    def step(self, loss_d, loss_g):
        # the trainer reads each loss (and stops on a non-finite one)
        if not (math.isfinite(float(loss_d)) and math.isfinite(float(loss_g))):
            raise RuntimeError("non-finite loss")
        gd = torch.autograd.grad(loss_d, self.d_train, retain_graph=True)
        gg = torch.autograd.grad(loss_g, self.g_train)
        for params, grads in ((self.d_train, gd), (self.g_train, gg)):
            for t, g in zip(params, grads):
                t.grad = g
        self.opt_d.step()
        self.opt_g.step()
        with torch.no_grad():
            for e, t in zip(self.ema, self.g_train):
                e.lerp_(t, 1 - EMA_DECAY)
            for e, t in zip(self.ema_buffers, self.g_buffers):
                e.copy_(t)


def r1_penalty(d_real, real):
    """lazy R1 as lafite-d adds it: every x gamma / 2 E||grad D(real)||^2"""
    (g,) = torch.autograd.grad(d_real.sum(), [real], create_graph=True)
    return R1_EVERY * (R1_GAMMA / 2) * g.square().sum([1, 2, 3]).mean()


class Lafite:
    def __init__(self):
        torch.manual_seed(0)
        use_sizes(RES, MAP_LAYERS, MBSTD)
        self.clip, kw = clip_image(clip_file())
        cond = kw["embed"]
        self.g, self.d = g_params(cond), d_params(cond)
        self.trainer = Trainer(self.g, self.d)
        self.real = torch.rand(BATCH, 3, RES, RES) * 2 - 1
        self.n = 0
        macs = 3 * g_macs(cond) + 7 * d_macs(cond) + 3 * cnn_macs(kw, RES)
        self.gflop = 2.0 * BATCH * macs * 1e-9

    def step(self):
        with torch.no_grad():
            f = F.normalize(self.clip(self.real), dim=1)
        u = F.normalize(torch.randn_like(f), dim=1)
        h = F.normalize(f + XI * u * f.norm(dim=1, keepdim=True), dim=1)
        fake = generator(self.g, torch.randn(BATCH, Z_DIM), h)
        fake_feat = self.clip(fake)
        real = self.real.detach().requires_grad_(True)
        d_real, real_fs = lg.d_logits(self.d, real, h)
        d_fake, fake_fs = lg.d_logits(self.d, fake, h)
        loss_d = lg.gan_d(d_real, d_fake) \
            + GAMMA * lg.contrastive(real_fs, h, TAU, False)
        if self.n % R1_EVERY == 0:
            loss_d = loss_d + r1_penalty(d_real, real)
        loss_g = lg.gan_g(d_fake) \
            + GAMMA * lg.contrastive(fake_fs, h, TAU, False) \
            + LAMBDA * lg.contrastive(fake_feat, h, TAU, False)
        self.trainer.step(loss_d, loss_g)
        self.n += 1


@contextlib.contextmanager
def group_norm_f32():
    """group norm in f32 under autocast: PyTorch 1.13's (Debian 12's)
    autocast passes it bf16 inputs with f32 weights, which it refuses"""
    gn = F.group_norm
    F.group_norm = lambda x, *a, **k: gn(x.float(), *a, **k)
    try:
        yield
    finally:
        F.group_norm = gn


def run_case(names, make, samples, bf16=False):
    """bench-t2i's timing of a method's step, printed under each of @names;
    with @bf16 under CPU autocast to bfloat16 (PyTorch's mixed precision:
    f32 weights, bf16 matmuls and convolutions)"""
    reset_peak_rss()
    start = status_mib("VmRSS")
    m = make()
    step = m.step
    if bf16:
        def step():
            with torch.autocast("cpu", dtype=torch.bfloat16), group_norm_f32():
                m.step()
    for _ in range(WARMUP):
        step()
    res = []
    cpu = time.process_time()
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(R1_EVERY):
            step()
        res.append((time.perf_counter() - t) / R1_EVERY)
    cpu = (time.process_time() - cpu) / (samples * R1_EVERY)
    res.sort()
    peak = status_mib("VmHWM")
    tr = m.trainer
    print("# %s: %.0f ms of CPU time per step (all threads)" % (names[0],
                                                               cpu * 1e3))
    print("# %s: trained parameters D %d, G %d" % (
        names[0], sum(t.numel() for t in tr.d_train),
        sum(t.numel() for t in tr.g_train)))
    for name in names:
        print("mem %s %.0f %.0f -" % (name, peak, start))
        print("case %s %.3f %.3f %.3f %.4f" % (name, res[len(res) // 2] * 1e3,
                                               res[0] * 1e3, res[-1] * 1e3,
                                               m.gflop))
    sys.stdout.flush()


def cases(wanted, samples):
    for sfx in ("", "-bf16"):
        names = [n + sfx for n in ("lafite-train-step", "lafite-core-step")
                 if wanted(n + sfx)]
        if names:
            run_case(names, Lafite, samples, bf16=bool(sfx))


# ---------------------------------------------------------------- --check

def check():
    """modconv()'s up path and generator() against the golden's, float64,
    at the golden's small sizes"""
    use_sizes(16, 2, 4)
    gen = torch.Generator().manual_seed(1)
    p = {k: v.double() for k, v in lg.g_weights("concat", gen).items()}
    z = torch.randn(lg.BATCH, lg.Z_DIM, generator=gen, dtype=torch.float64)
    h = torch.randn(lg.BATCH, lg.COND, generator=gen, dtype=torch.float64)
    want = lg.generator(p, z, h, "concat")
    got = generator(p, z, h, noise="const", track_w_avg=False)
    err = (got - want).abs().max().item()
    print("generator vs the golden's: max |difference| %.3g" % err)
    x = torch.randn(2, 5, 6, 6, generator=gen, dtype=torch.float64)
    w = torch.randn(7, 5, 3, 3, generator=gen, dtype=torch.float64)
    s = torch.randn(2, 5, generator=gen, dtype=torch.float64)
    err2 = (modconv(x, w, s, True, 2, 1) - lg.modconv(x, w, s, True, 2, 1)) \
        .abs().max().item()
    print("up-sampling modconv vs the golden's: max |difference| %.3g" % err2)
    use_sizes(RES, MAP_LAYERS, MBSTD)
    return err < 1e-9 and err2 < 1e-9


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if check() else 1)
    print(__doc__.split("\n\n")[0])
