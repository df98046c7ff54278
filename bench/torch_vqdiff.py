"""PyTorch side of bench/run's CLIP-VQDiffusion cases (bench-t2i.c's
bench_vqdiff): the released Condition2ImageTransformer at the shipped
shapes model's sizes and the released code's log-space diffusion
(microsoft/VQ-Diffusion's DiffusionTransformer: q_pred, q_posterior, the
bound with the auxiliary loss and importance weights, sampling with
truncation and classifier-free guidance), written here from
../shared/reference/seed-implementations.md section 5.

    vqdiff-train-step  batch 32: t and x_t drawn, loss, backward, AdamW
    vqdiff-sample      16 captions, 10 reverse steps, guidance 3 (two
                       passes per step), truncation 0.85

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

GRID, K, D, LAYERS, HEADS, E, T = 8, 256, 128, 4, 4, 128, 100
L = GRID * GRID


def macs():
    block = L * (4 * D * D + 2 * L * D + 2 * 9 * D * 4 * D) + 2 * D * D + E * D + 2 * D * D
    return LAYERS * block + L * D * K


class AdaLN(nn.Module):
    def __init__(self, cond):
        super().__init__()
        self.emb = nn.Embedding(T, D) if cond is None else None
        self.proj = nn.Sequential(nn.Linear(cond, D), nn.SiLU(), nn.Linear(D, 2 * D)) \
            if cond is not None else None
        self.linear = nn.Linear(D, 2 * D) if cond is None else None

    def forward(self, x, c):
        e = self.linear(F.silu(self.emb(c))) if self.emb is not None else self.proj(c)
        scale, shift = e.unsqueeze(1).chunk(2, dim=2)
        return F.layer_norm(x, (D,)) * (1 + scale) + shift


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = AdaLN(None), AdaLN(E)
        self.query, self.key, self.value, self.proj = (nn.Linear(D, D) for _ in range(4))
        self.conv1 = nn.Conv2d(D, 4 * D, 3, padding=1)
        self.conv2 = nn.Conv2d(4 * D, D, 3, padding=1)

    def forward(self, x, t, c):
        b = x.shape[0]
        h = self.ln1(x, t)
        q, k, v = (m(h).view(b, L, HEADS, -1).transpose(1, 2)
                   for m in (self.query, self.key, self.value))
        a = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D // HEADS), -1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(b, L, D))
        h = self.ln2(x, c).transpose(1, 2).reshape(b, D, GRID, GRID)
        h = self.conv1(h)
        h = self.conv2(h * torch.sigmoid(1.702 * h))
        return x + h.reshape(b, D, L).transpose(1, 2)


class Transformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.content = nn.Embedding(K + 1, D)
        self.row, self.col = nn.Embedding(GRID, D), nn.Embedding(GRID, D)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln = nn.LayerNorm(D)
        self.out = nn.Linear(D, K)
        self.null = nn.Parameter(torch.randn(1, E))
        pos = torch.arange(L)
        self.register_buffer("r", pos // GRID)
        self.register_buffer("cl", pos % GRID)

    def forward(self, xt, t, c):
        x = self.content(xt) + self.row(self.r) + self.col(self.cl)
        for blk in self.blocks:
            x = blk(x, t, c)
        return self.out(self.ln(x)).transpose(1, 2)


def log_add_exp(a, b):
    m = torch.max(a, b)
    return m + torch.log(torch.exp(a - m) + torch.exp(b - m))


class Schedule:
    """the released alpha1 schedule, log space"""

    def __init__(self):
        i = torch.arange(T, dtype=torch.float64) / (T - 1)
        att = 0.99999 + i * (0.000009 - 0.99999)
        ctt = 0.000009 + i * (0.99999 - 0.000009)
        att_prev = torch.cat([torch.ones(1, dtype=torch.float64), att[:-1]])
        ctt_prev = torch.cat([torch.zeros(1, dtype=torch.float64), ctt[:-1]])
        at = att / att_prev
        ct = 1 - (1 - ctt) / (1 - ctt_prev)
        bt = (1 - at - ct) / K
        btt = (1 - att - ctt) / K
        f = torch.float32
        one = lambda x, v: torch.cat([x, torch.full((1,), v, dtype=x.dtype)])  # noqa
        self.log_at, self.log_bt, self.log_ct = (torch.log(x).to(f) for x in (at, bt, ct))
        self.log_1_min_ct = torch.log(1 - ct).to(f)
        self.log_att = torch.log(one(att, 1.0)).to(f)
        self.log_btt = torch.log(one(btt, 1e-40)).to(f)
        self.log_ctt = torch.log(one(ctt, 1e-40)).to(f)
        self.log_1_min_ctt = torch.log(one(1 - ctt, 1.0)).to(f)


def ex(a, t):
    return a[t][:, None, None]


def log_onehot(x):
    return torch.log(F.one_hot(x, K + 1).permute(0, 2, 1).float().clamp(min=1e-30))


def q_pred(s, log_x0, t):
    t = (t + (T + 1)) % (T + 1)
    return torch.cat([log_add_exp(log_x0[:, :-1] + ex(s.log_att, t), ex(s.log_btt, t)),
                      log_add_exp(log_x0[:, -1:] + ex(s.log_1_min_ctt, t), ex(s.log_ctt, t))], 1)


def q_pred_one(s, log_xt, t):
    return torch.cat([log_add_exp(log_xt[:, :-1] + ex(s.log_at, t), ex(s.log_bt, t)),
                      log_add_exp(log_xt[:, -1:] + ex(s.log_1_min_ct, t), ex(s.log_ct, t))], 1)


def q_posterior(s, log_x0, log_xt, xt, t):
    b = xt.shape[0]
    mask = (xt == K).unsqueeze(1)
    log_one = torch.zeros(b, 1, 1)
    log_zero = torch.log(log_one + 1e-30).expand(-1, -1, L)
    log_qt = q_pred(s, log_xt, t)[:, :-1]
    log_qt = (~mask) * log_qt + mask * ex(s.log_ctt, t).expand(-1, K, -1)
    log_qt1 = torch.cat([q_pred_one(s, log_xt, t)[:, :-1], log_zero], 1)
    ct = torch.cat([ex(s.log_ct, t).expand(-1, K, -1), log_one], 1)
    log_qt1 = (~mask) * log_qt1 + mask * ct
    q = torch.cat([log_x0[:, :-1] - log_qt, log_zero], 1)
    lse = torch.logsumexp(q, 1, keepdim=True)
    return torch.clamp(q_pred(s, q - lse, t - 1) + log_qt1 + lse, -70, 0)


def log_x0(logits):
    lp = F.log_softmax(logits.double(), 1).float()
    return torch.clamp(torch.cat([lp, torch.full((lp.shape[0], 1, L), -70.0)], 1), -70, 0)


def kl(a, b):
    return (a.exp() * (a - b)).sum(1)


def train_step(net, opt, s, x0, c):
    b = x0.shape[0]
    t = torch.randint(0, T, (b,))
    pt = torch.full((b,), 1.0 / T)
    log_x_start = log_onehot(x0)
    # x_t ~ q(x_t | x_0), Gumbel-max
    logq = q_pred(s, log_x_start, t)
    u = torch.rand_like(logq)
    xt = (logq - torch.log(-torch.log(u + 1e-30) + 1e-30)).argmax(1)
    log_xt = log_onehot(xt)
    lx0 = log_x0(net(xt, t, c))
    model = q_posterior(s, lx0, log_xt, xt, t)
    truth = q_posterior(s, log_x_start, log_xt, xt, t)
    k = kl(truth, model).sum(1)
    nll = -(log_x_start.exp() * model).sum(1).sum(1)
    first = (t == 0).float()
    loss1 = first * nll + (1 - first) * k
    aux = kl(log_x_start[:, :-1], lx0[:, :-1]).sum(1)
    loss2 = first * nll + (1 - first) * aux
    w = (1 - t / T) + 1.0
    loss = ((loss1 + 5e-4 * w * loss2) / pt).sum() / (b * L)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def truncate(lp, r):
    p, idx = lp.sort(1, descending=True)
    keep = p.exp().cumsum(1) < r
    keep = torch.cat([torch.ones_like(keep[:, :1]), keep[:, :-1]], 1)
    kept = torch.zeros_like(keep).scatter(1, idx, keep)
    return torch.where(kept, lp, torch.full_like(lp, -70.0))


@torch.no_grad()
def sample(net, s, c, steps=10, guidance=3.0, r=0.85):
    b = c.shape[0]
    xt = torch.full((b, L), K)
    null = net.null.expand(b, -1)
    skip = T // steps - 1
    step = T - 1
    while True:
        t = torch.full((b,), step)
        lc = log_x0(net(xt, t, c))[:, :K]
        lu = log_x0(net(xt, t, null))[:, :K]
        g = lu + guidance * (lc - lu)
        g = torch.clamp(g - torch.logsumexp(g, 1, keepdim=True), -70, 0)
        lx = torch.cat([truncate(g, r), torch.full((b, 1, L), -70.0)], 1)
        tp = torch.full((b,), step - skip if step > skip else step)
        post = q_posterior(s, lx, log_onehot(xt), xt, tp)
        u = torch.rand_like(post)
        xt = (post - torch.log(-torch.log(u + 1e-30) + 1e-30)).argmax(1)
        if step == 0:
            break
        step = max(step - 1 - skip, 0)
    return xt


def cases(timeit, wanted, samples):
    torch.manual_seed(0)
    s = Schedule()
    net = Transformer()
    if wanted("vqdiff-train-step"):
        opt = torch.optim.AdamW(net.parameters(), lr=5e-4, betas=(0.9, 0.96),
                                weight_decay=0.045)
        x0 = torch.randint(0, K, (32, L))
        c = torch.randn(32, E)
        timeit("vqdiff-train-step", lambda: train_step(net, opt, s, x0, c),
               3 * 2.0 * 32 * macs() * 1e-9, samples)
    if wanted("vqdiff-sample"):
        c = torch.randn(16, E)
        timeit("vqdiff-sample", lambda: sample(net, s, c),
               10 * 2 * 2.0 * 16 * macs() * 1e-9, samples)
