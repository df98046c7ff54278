#!/usr/bin/python3
"""Generates the PyTorch goldens of tests/elements/test-icsd.c in
tests/golden/icsd/:

  losses-in.safetensors   the loss inputs (f64) and class_id (i32)
  losses-out.safetensors  <case>/loss and <case>/grad/<entry> per case
  losses-cases.txt        <case> <t2iloss properties>
  net-in.safetensors      the networks' inputs (f32): tokens (i32), text_emb,
                          eps, z, words, words_mask, image, img_emb,
                          img_regions, real<i>, fake<i>, wrong<i>
  text.safetensors        arch=bilstm weights (group T)
  image.safetensors       arch=damsm (cnn backbone) weights (group I)
  g-<variant>.safetensors t2icondaug + arch=multistage weights (group G),
                          variant am (one AM block) and res (AttnGAN's
                          residual blocks, two of them)
  d<i>.safetensors        arch=msgan stage=i weights (group D<i>)
  net-out.safetensors     outputs, losses and gradients of each chain (see
                          test-icsd.c), parameter gradients as
                          <chain>/param_grad/<name>

The networks are re-implemented from their definitions: AttnGAN's
RNN_ENCODER with torch.nn.LSTM on packed sequences, CA_NET, G_NET's
stages with GlobalAttentionGeneral, D_NET's blocks (code/model.py), and
the parts the paper and core/models/ define (the AM block, the similarity
head, the small CNN backbone).  Batch norms in training mode.

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
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

save_safetensors = import_module("gen-lafite-golden").save_safetensors


N, D, L, H = 6, 10, 5, 3        # batch, features, word positions, region side
LENGTHS = [3, 5, 1, 4, 2, 5]
CLASSES = [0, 1, 0, 2, 1, 3]


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


# ---------------------------------------------------------------- networks

# the small networks (test-icsd.c sets the same properties)
NN = 4                  # batch
VOCAB, CTX, WDIM, HID = 30, 6, 7, 5     # bilstm: vocab-size, context, word-dim, hidden
TOKEN_LENGTHS = [3, 6, 1, 9]            # the last is cut to CTX words
E = 2 * HID             # text and image features
BASE, NGF, ZD, CD = 8, 4, 6, 5          # multistage
NDF, SIM = 4, 6         # msgan
IMG_RES = 16            # damsm image input
WIDTHS = [8, 16, 16, 16]


def bnorm(x, p, name, affine=True):
    return F.batch_norm(x, None, None, p[name + ".weight"] if affine else None,
                        p[name + ".bias"] if affine else None, True, 0.1, 1e-5)


def bilstm(p, tokens):
    """AttnGAN's RNN_ENCODER on the word ids between start and end token"""
    sot, eot = VOCAB - 2, VOCAB - 1
    rows, lengths = [], []
    for r in tokens.tolist():
        r = r[1:] if r[0] == sot else r
        w = []
        for t in r:
            if t == eot or len(w) == CTX:
                break
            w.append(t)
        rows.append(w + [0] * (CTX - len(w)))
        lengths.append(len(w))
    ids = torch.tensor(rows)
    emb = F.embedding(ids, p["encoder.weight"])
    rnn = torch.nn.LSTM(WDIM, HID, 1, batch_first=True, bidirectional=True)
    rnn = rnn.double()
    # the module's own parameters become the leaves p holds (LSTM runs on
    # its flattened parameter list, so they must be its parameters)
    for name, v in rnn.named_parameters():
        v.data.copy_(p["rnn." + name].detach())
        p["rnn." + name] = v
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        emb, torch.tensor(lengths), batch_first=True, enforce_sorted=False)
    out, (hn, _) = rnn(packed)
    out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True,
                                                     total_length=CTX)
    words = out                                   # [N, CTX, 2H]
    sent = hn.transpose(0, 1).reshape(len(rows), -1)
    mask = torch.zeros(len(rows), CTX, dtype=torch.float64)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    return words, sent, mask


def damsm_cnn(p, x):
    """the small CNN backbone of core/models/damsm-image.c"""
    def block(x, name, stride):
        x = F.conv2d(x, p[name + ".conv.weight"], stride=stride, padding=1)
        x = F.group_norm(x, 8, p[name + ".norm.weight"], p[name + ".norm.bias"],
                         1e-5)
        return F.leaky_relu(x, 0.2)
    h = block(x, "stem", 1)
    n_stages = len(WIDTHS) - 1
    for s in range(n_stages):
        h = block(h, f"stages.{s}.0", 2)
        if s == n_stages - 2:
            mid = h
    regions = F.conv2d(mid, p["emb_features.weight"])
    glob = h.mean((2, 3)) @ p["emb_cnn_code.weight"].t() + p["emb_cnn_code.bias"]
    return glob, regions


def ca(p, t, eps):
    """AttnGAN's CA_NET"""
    x = F.glu(t @ p["fc.weight"].t() + p["fc.bias"], dim=1)
    mu, logvar = x[:, :CD], x[:, CD:]
    return eps * torch.exp(0.5 * logvar) + mu, mu, logvar


def up_block(p, x, name):
    x = F.interpolate(x, scale_factor=2, mode="nearest")
    x = F.conv2d(x, p[name + ".conv.weight"], padding=1)
    return F.glu(bnorm(x, p, name + ".bn"), dim=1)


def attention(p, h, words, mask, name):
    """AttnGAN's GlobalAttentionGeneral: conv_context on the words, the
    locations' softmax over the words, padding masked with -inf"""
    n, c, hh, ww = h.shape
    source = words.transpose(1, 2).unsqueeze(3)            # [N, Dw, L, 1]
    w = p[name + ".conv_context.weight"][:, :, None, None]
    sourceT = F.conv2d(source, w).squeeze(3)                # [N, ngf, L]
    targetT = h.view(n, c, hh * ww).transpose(1, 2)         # [N, HW, ngf]
    attn = torch.bmm(targetT, sourceT)                      # [N, HW, L]
    attn = attn.masked_fill((mask == 0)[:, None, :], float("-inf"))
    attn = torch.softmax(attn, dim=2)
    ctx = torch.bmm(sourceT, attn.transpose(1, 2))          # [N, ngf, HW]
    return ctx.view(n, c, hh, ww)


def am_block(p, x, ctx, name, block):
    if block == "res":
        y = F.conv2d(x, p[name + ".conv1.weight"], padding=1)
        y = F.glu(bnorm(y, p, name + ".bn1"), dim=1)
        y = bnorm(F.conv2d(y, p[name + ".conv2.weight"], padding=1), p,
                  name + ".bn2")
        return x + y

    def mod(y, m):
        gb = F.conv2d(ctx, p[m + ".weight"], p[m + ".bias"], padding=1)
        gamma, beta = gb.chunk(2, dim=1)
        return y * (1 + gamma) + beta
    y = F.conv2d(x, p[name + ".conv1.weight"], padding=1)
    y = F.glu(mod(bnorm(y, p, name + ".bn1", False), name + ".mod1"), dim=1)
    y = F.conv2d(y, p[name + ".conv2.weight"], padding=1)
    y = mod(bnorm(y, p, name + ".bn2", False), name + ".mod2")
    return x + y


def multistage(p, c, z, words, mask, n_am, block):
    n_up = int(math.log2(BASE // 4))
    top = NGF << n_up
    x = torch.cat([c, z], 1) @ p["g0.fc.weight"].t()
    x = F.glu(bnorm(x, p, "g0.fc_bn"), dim=1).view(-1, top, 4, 4)
    for k in range(n_up):
        x = up_block(p, x, f"g0.up.{k}")
    h = x
    fakes = [torch.tanh(F.conv2d(h, p["g0.img.weight"], padding=1))]
    for i in (1, 2):
        ctx = attention(p, h, words, mask, f"g{i}.att")
        x = torch.cat([h, ctx], 1)
        for k in range(n_am):
            x = am_block(p, x, ctx, f"g{i}.am.{k}", block)
        h = up_block(p, x, f"g{i}.up")
        fakes.append(torch.tanh(F.conv2d(h, p[f"g{i}.img.weight"], padding=1)))
    return fakes


def msgan_d(p, x, t, stage):
    """Table 2's downsampling, AttnGAN's (un)conditional logits, eq. 8"""
    n_down = int(math.log2(x.shape[2] // 4))
    h = F.leaky_relu(F.conv2d(x, p["down.0.conv.weight"], stride=2, padding=1),
                     0.2)
    k = 1
    for _ in range(n_down - 1):
        h = F.conv2d(h, p[f"down.{k}.conv.weight"], stride=2, padding=1)
        h = F.leaky_relu(bnorm(h, p, f"down.{k}.bn"), 0.2)
        k += 1
    for _ in range(stage):
        h = F.conv2d(h, p[f"down.{k}.conv.weight"], padding=1)
        h = F.leaky_relu(bnorm(h, p, f"down.{k}.bn"), 0.2)
        k += 1
    feat = h
    n = x.shape[0]
    uncond = F.conv2d(feat, p["uncond_logits.weight"], p["uncond_logits.bias"],
                      stride=4).view(n)
    tt = t.view(n, -1, 1, 1).repeat(1, 1, 4, 4)
    j = F.conv2d(torch.cat([feat, tt], 1), p["joint.conv.weight"], padding=1)
    j = F.leaky_relu(bnorm(j, p, "joint.bn"), 0.2)
    cond = F.conv2d(j, p["cond_logits.weight"], p["cond_logits.bias"],
                    stride=4).view(n)
    a = t @ p["sim_text.weight"].t()
    b = feat.reshape(n, -1) @ p["sim_image.weight"].t()
    sim = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    return {"": cond, "_uncond": uncond, "_sim": sim, "_feat": feat}


def rand_weights(shapes, gen):
    p = {}
    for name, shape in shapes.items():
        if name.endswith("running_mean"):
            p[name] = torch.zeros(*shape)
            continue
        if name.endswith("running_var"):
            p[name] = torch.ones(*shape)
            continue
        if name.endswith(".weight") and len(shape) == 1 and ("bn" in name or
                                                             "norm" in name):
            p[name] = 1 + 0.1 * torch.randn(*shape, generator=gen)
        elif len(shape) == 1:
            p[name] = 0.1 * torch.randn(*shape, generator=gen)
        else:
            fan_in = math.prod(shape[1:])
            p[name] = torch.randn(*shape, generator=gen) / math.sqrt(fan_in)
    return p


def text_shapes():
    s = {"encoder.weight": (VOCAB, WDIM)}
    for sfx in ("", "_reverse"):
        s["rnn.weight_ih_l0" + sfx] = (4 * HID, WDIM)
        s["rnn.weight_hh_l0" + sfx] = (4 * HID, HID)
        s["rnn.bias_ih_l0" + sfx] = (4 * HID,)
        s["rnn.bias_hh_l0" + sfx] = (4 * HID,)
    return s


def image_shapes():
    s = {"stem.conv.weight": (WIDTHS[0], 3, 3, 3),
         "stem.norm.weight": (WIDTHS[0],), "stem.norm.bias": (WIDTHS[0],)}
    for i in range(len(WIDTHS) - 1):
        n = f"stages.{i}.0"
        s[n + ".conv.weight"] = (WIDTHS[i + 1], WIDTHS[i], 3, 3)
        s[n + ".norm.weight"] = (WIDTHS[i + 1],)
        s[n + ".norm.bias"] = (WIDTHS[i + 1],)
    s["emb_features.weight"] = (E, WIDTHS[-2], 1, 1)
    s["emb_cnn_code.weight"] = (E, WIDTHS[-1])
    s["emb_cnn_code.bias"] = (E,)
    return s


def g_shapes(n_am, block):
    n_up = int(math.log2(BASE // 4))
    top = NGF << n_up
    s = {"fc.weight": (4 * CD, E), "fc.bias": (4 * CD,),
         "g0.fc.weight": (top * 32, CD + ZD), "g0.fc_bn.weight": (top * 32,),
         "g0.fc_bn.bias": (top * 32,), "g0.img.weight": (3, NGF, 3, 3)}
    for k in range(n_up):
        s[f"g0.up.{k}.conv.weight"] = (top >> k, top >> k, 3, 3)
        s[f"g0.up.{k}.bn.weight"] = (top >> k,)
        s[f"g0.up.{k}.bn.bias"] = (top >> k,)
    for i in (1, 2):
        s[f"g{i}.att.conv_context.weight"] = (NGF, E)
        for k in range(n_am):
            a = f"g{i}.am.{k}"
            s[a + ".conv1.weight"] = (4 * NGF, 2 * NGF, 3, 3)
            s[a + ".conv2.weight"] = (2 * NGF, 2 * NGF, 3, 3)
            if block == "am":
                s[a + ".mod1.weight"] = (8 * NGF, NGF, 3, 3)
                s[a + ".mod1.bias"] = (8 * NGF,)
                s[a + ".mod2.weight"] = (4 * NGF, NGF, 3, 3)
                s[a + ".mod2.bias"] = (4 * NGF,)
            else:
                for b, c in (("bn1", 4 * NGF), ("bn2", 2 * NGF)):
                    s[f"{a}.{b}.weight"] = (c,)
                    s[f"{a}.{b}.bias"] = (c,)
            if block == "am":
                for b, c in (("bn1", 4 * NGF), ("bn2", 2 * NGF)):
                    s[f"{a}.{b}.running_mean"] = (c,)
                    s[f"{a}.{b}.running_var"] = (c,)
        s[f"g{i}.up.conv.weight"] = (2 * NGF, 2 * NGF, 3, 3)
        s[f"g{i}.up.bn.weight"] = (2 * NGF,)
        s[f"g{i}.up.bn.bias"] = (2 * NGF,)
        s[f"g{i}.img.weight"] = (3, NGF, 3, 3)
    return s


def d_shapes(stage):
    res = BASE << stage
    n_down = int(math.log2(res // 4))
    s = {"down.0.conv.weight": (NDF, 3, 4, 4)}
    ch, k = NDF, 1
    for _ in range(n_down - 1):
        s[f"down.{k}.conv.weight"] = (2 * ch, ch, 4, 4)
        s[f"down.{k}.bn.weight"] = (2 * ch,)
        s[f"down.{k}.bn.bias"] = (2 * ch,)
        ch, k = 2 * ch, k + 1
    for _ in range(stage):
        s[f"down.{k}.conv.weight"] = (ch // 2, ch, 3, 3)
        s[f"down.{k}.bn.weight"] = (ch // 2,)
        s[f"down.{k}.bn.bias"] = (ch // 2,)
        ch, k = ch // 2, k + 1
    s["joint.conv.weight"] = (ch, ch + E, 3, 3)
    s["joint.bn.weight"] = (ch,)
    s["joint.bn.bias"] = (ch,)
    s["cond_logits.weight"] = (1, ch, 4, 4)
    s["cond_logits.bias"] = (1,)
    s["uncond_logits.weight"] = (1, ch, 4, 4)
    s["uncond_logits.bias"] = (1,)
    s["sim_text.weight"] = (SIM, E)
    s["sim_image.weight"] = (SIM, ch * 16)
    return s


def with_running(shapes):
    """the batch norms' running statistics (buffers) beside their weights;
    the modulated ones have none"""
    out = dict(shapes)
    for name, shape in shapes.items():
        if name.endswith("bn.weight") or name.endswith("_bn.weight") or \
                (".bn" in name and name.endswith(".weight")):
            base = name[:-len(".weight")]
            out[base + ".running_mean"] = shape
            out[base + ".running_var"] = shape
    return out


def save_group(path, group, p):
    save_safetensors(path, {f"{group}.{k}": v for k, v in p.items()})


def leaves64(p):
    return {k: v.double().requires_grad_(True) for k, v in p.items()}


def param_grads(prefix, loss, p, out):
    names = list(p)
    grads = torch.autograd.grad(loss, [p[k] for k in names], allow_unused=True,
                                retain_graph=True)
    for k, g in zip(names, grads):
        out[f"{prefix}/param_grad/{k}"] = torch.zeros_like(p[k]) if g is None \
            else g.detach()


def networks(out, gen):
    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen) * scale

    sot, eot = VOCAB - 2, VOCAB - 1
    tokens = torch.zeros(NN, 12, dtype=torch.int32)
    for i, n in enumerate(TOKEN_LENGTHS):
        tokens[i, 0] = sot
        tokens[i, 1:1 + n] = torch.randint(0, VOCAB - 2, (n,), generator=gen)
        tokens[i, 1 + n] = eot
        # after the end token: ids that must not count
        tokens[i, 2 + n:] = torch.randint(0, VOCAB, (10 - n,), generator=gen)
    wmask = torch.zeros(NN, CTX)
    for i, n in enumerate([2, 6, 1, 4]):
        wmask[i, :n] = 1
    ni = {"tokens": tokens, "text_emb": randn(NN, E), "eps": randn(NN, CD),
          "z": randn(NN, ZD), "words": randn(NN, CTX, E) * wmask[:, :, None],
          "words_mask": wmask, "image": torch.tanh(randn(NN, 3, IMG_RES, IMG_RES)),
          "img_emb": randn(NN, E), "img_regions": randn(NN, E, 3, 3)}
    for i in range(3):
        r = BASE << i
        ni[f"real{i}"] = torch.tanh(randn(NN, 3, r, r))
        ni[f"fake{i}"] = torch.tanh(randn(NN, 3, r, r))
        ni[f"wrong{i}"] = torch.roll(ni[f"real{i}"], 1, 0)
    save_safetensors(os.path.join(out, "net-in.safetensors"), ni)
    d = {k: (v.double() if v.is_floating_point() else v) for k, v in ni.items()}
    no = {}

    # text: bilstm -> damsm loss against fixed image features
    pt = rand_weights(text_shapes(), gen)
    save_group(os.path.join(out, "text.safetensors"), "T", pt)
    p = leaves64(pt)
    img_emb = d["img_emb"].clone().requires_grad_(True)
    img_regions = d["img_regions"].clone().requires_grad_(True)
    words, sent, mask = bilstm(p, d["tokens"])
    lengths = [int(x) for x in mask.sum(1)]
    loss = damsm({"words": words, "img_regions": img_regions,
                  "img_emb": img_emb, "text_emb": sent}, lengths)
    gi = torch.autograd.grad(loss, [img_emb, img_regions], retain_graph=True)
    no.update({"text/words": words, "text/text_emb": sent,
               "text/words_mask": mask, "text/loss": loss.reshape(()),
               "text/grad/img_emb": gi[0], "text/grad/img_regions": gi[1]})
    param_grads("text", loss, p, no)
    # the padding positions are zeros
    assert (words[2, 1:] == 0).all()

    # image: damsm cnn -> damsm loss against fixed text features
    pi = rand_weights(image_shapes(), gen)
    save_group(os.path.join(out, "image.safetensors"), "I", pi)
    p = leaves64(pi)
    x = d["image"].clone().requires_grad_(True)
    glob, regions = damsm_cnn(p, x)
    lengths = [int(v) for v in d["words_mask"].sum(1)]
    loss = damsm({"words": d["words"], "img_regions": regions,
                  "img_emb": glob, "text_emb": d["text_emb"]}, lengths)
    (gx,) = torch.autograd.grad(loss, [x], retain_graph=True)
    no.update({"image/img_emb": glob, "image/img_regions": regions,
               "image/loss": loss.reshape(()), "image/grad/image": gx})
    param_grads("image", loss, p, no)

    # discriminators: D_i -> icsd-d
    pds = []
    for i in range(3):
        pd = rand_weights(with_running(d_shapes(i)), gen)
        pds.append(pd)
        save_group(os.path.join(out, f"d{i}.safetensors"), f"D{i}", pd)
        p = leaves64(pd)
        t = d["text_emb"].clone().requires_grad_(True)
        imgs = {k: d[f"{k}{i}"].clone().requires_grad_(True)
                for k in ("real", "fake", "wrong")}
        sc = {}
        for k, x in imgs.items():
            for sfx, v in msgan_d(p, x, t, i).items():
                sc[f"d{i}/{k}{sfx}"] = v
        loss = icsd_d(sc, f"d{i}")
        grads = torch.autograd.grad(loss, [t] + list(imgs.values()),
                                    retain_graph=True)
        no.update({f"d{i}/{k}": v for k, v in sc.items()})
        no[f"d{i}/loss"] = loss.reshape(())
        no[f"d{i}/grad/text_emb"] = grads[0]
        for k, g in zip(imgs, grads[1:]):
            no[f"d{i}/grad/{k}{i}"] = g
        param_grads(f"d{i}", loss, p, no)

    # the generator: CA -> G -> D2 -> icsd-g, per variant
    for variant, n_am, block in (("am", 1, "am"), ("res", 2, "res")):
        pg = rand_weights(with_running(g_shapes(n_am, block)), gen)
        save_group(os.path.join(out, f"g-{variant}.safetensors"), "G", pg)
        p = leaves64(pg)
        pd = leaves64(pds[2])
        t = d["text_emb"].clone().requires_grad_(True)
        z = d["z"].clone().requires_grad_(True)
        w = d["words"].clone().requires_grad_(True)
        c, mu, logvar = ca(p, t, d["eps"])
        fakes = multistage(p, c, z, w, d["words_mask"], n_am, block)
        sc = {f"d2/fake{k}": v for k, v in msgan_d(pd, fakes[2], t, 2).items()}
        loss = icsd_g(sc, "d2")
        grads = torch.autograd.grad(loss, [t, z, w], retain_graph=True)
        v = variant
        no.update({f"{v}/c": c, f"{v}/ca/mu": mu, f"{v}/ca/logvar": logvar,
                   f"{v}/loss": loss.reshape(()), f"{v}/grad/text_emb": grads[0],
                   f"{v}/grad/z": grads[1], f"{v}/grad/words": grads[2]})
        for i, f in enumerate(fakes):
            no[f"{v}/fake{i}"] = f
        for k, x in sc.items():
            no[f"{v}/{k}"] = x
        param_grads(v, loss, p, no)
    # f32 is enough for comparisons at 1e-5
    save_safetensors(os.path.join(out, "net-out.safetensors"),
                     {k: x.detach().float() for k, x in no.items()})


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

    networks(out, gen)


if __name__ == "__main__":
    main()
