#!/usr/bin/python3
"""Generates the PyTorch goldens of tests/elements/test-distgan.c in
tests/golden/distgan/:

  losses-in.safetensors   fake_emb, text_emb, v_m, img_emb [8,12] (f64)
  losses-out.safetensors  <case>/loss and <case>/grad/<entry> per case
  losses-cases.txt        <case> <t2iloss properties>
  l2v-<arch>.safetensors  weights of a small t2il2v (group L)
  l2v-in.safetensors      tokens [4,7,10], tokens_mask [4,7], img_emb [4,12]
                          (f32; the padding tokens hold noise: they must not
                          reach the output)
  l2v-out.safetensors     <arch>/v_m, <arch>/loss (dist-vl of v_m and
                          img_emb) and <arch>/grad/tokens

DiST-GAN's losses written literally from the paper (Yang et al., ICME
2023): eq. 3-4 as -log(exp(S_ii) / sum_j sigma_ij exp(S_ij)) with
sigma_ij = 1 / max(m_ij, floor) computed directly (not in log space), eq.
2 with every sigma 1, and eq. 5 with its two L1 terms; and the L2V module
of core/models/l2v.c from its definition (CLIP's pre-LN residual blocks
with causal attention, masked mean, projection; or a masked mean through a
ReLU MLP).  float64 throughout.  Run with a Python that has torch (on our
machines /usr/bin/python3):

    /usr/bin/python3 tests/gen-distgan-golden.py tests/golden/distgan

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

BATCH, EMB = 8, 12
# the small L2V (test-distgan.c sets the same properties)
L2V_N, L2V_L, TOKEN_DIM, WIDTH, HEADS, LAYERS = 4, 7, 10, 16, 2, 2
LENGTHS = [3, 7, 1, 5]


def cos_matrix(a, b):
    return F.normalize(a, dim=1) @ F.normalize(b, dim=1).t()


def dist_con(x, t, tau=1.0, adaptive=True, floor=1e-3):
    s = cos_matrix(x, t) / tau
    if adaptive:
        m = cos_matrix(t.detach(), t.detach())
        sigma = 1.0 / torch.clamp(m, min=floor)
    else:
        sigma = torch.ones_like(s)
    num = torch.exp(torch.diagonal(s))
    den = (sigma * torch.exp(s)).sum(1)
    return -torch.log(num / den).mean()


def dist_vl(vm, vx, reduce="mean"):
    def l1(a, b):
        d = (a - b).abs()
        return d.mean() if reduce == "mean" else d.sum(1).mean()
    return l1(vm, vx) + l1(cos_matrix(vm, vm), cos_matrix(vx, vx))


def loss_cases(t):
    x, tx, vm, vx = t["fake_emb"], t["text_emb"], t["v_m"], t["img_emb"]
    return {
        "con": ("kind=dist-con", dist_con(x, tx)),
        "con-plain": ("kind=dist-con adaptive=false",
                      dist_con(x, tx, adaptive=False)),
        "con-tau": ("kind=dist-con tau=0.25", dist_con(x, tx, tau=0.25)),
        "con-floor": ("kind=dist-con min-similarity=0.3",
                      dist_con(x, tx, floor=0.3)),
        "vl": ("kind=dist-vl", dist_vl(vm, vx)),
        "vl-sum": ("kind=dist-vl reduce=sum", dist_vl(vm, vx, "sum")),
    }


# ---------------------------------------------------------------- L2V

def layer_norm(x, p, name):
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"],
                        p[name + ".bias"], 1e-5)


def linear(x, p, name):
    return x @ p[name + ".weight"].t() + p[name + ".bias"]


def block(x, p, name):
    """CLIP's ResidualAttentionBlock with a causal mask"""
    b, l, d = x.shape
    dh = d // HEADS
    h = layer_norm(x, p, name + ".ln_1")
    qkv = h @ p[name + ".attn.in_proj_weight"].t() + p[name + ".attn.in_proj_bias"]
    q, k, v = [z.reshape(b, l, HEADS, dh).transpose(1, 2)
               for z in qkv.split(d, dim=2)]
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    s = s.masked_fill(torch.ones(l, l, dtype=torch.bool).triu(1), float("-inf"))
    a = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(b, l, d)
    x = x + linear(a, p, name + ".attn.out_proj")
    h = linear(layer_norm(x, p, name + ".ln_2"), p, name + ".mlp.c_fc")
    h = h * torch.sigmoid(1.702 * h)
    return x + linear(h, p, name + ".mlp.c_proj")


def masked_mean(x, mask):
    return (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdim=True)


def l2v(p, tokens, mask, arch):
    if arch == "mlp":
        h = masked_mean(tokens, mask)
        for i in range(LAYERS + 1):
            h = linear(h, p, f"fc{i}")
            if i < LAYERS:
                h = torch.relu(h)
        return h
    h = linear(tokens, p, "in_proj")
    for i in range(LAYERS):
        h = block(h, p, f"blocks.{i}")
    return linear(masked_mean(layer_norm(h, p, "ln_final"), mask), p, "proj")


def l2v_weights(arch, gen):
    def w(o, i):
        return torch.randn(o, i, generator=gen) / math.sqrt(i)

    def b(o):
        return torch.randn(o, generator=gen) * 0.1
    p = {}
    if arch == "mlp":
        for i in range(LAYERS + 1):
            fin = TOKEN_DIM if i == 0 else WIDTH
            fout = EMB if i == LAYERS else WIDTH
            p[f"fc{i}.weight"], p[f"fc{i}.bias"] = w(fout, fin), b(fout)
        return p
    p["in_proj.weight"], p["in_proj.bias"] = w(WIDTH, TOKEN_DIM), b(WIDTH)
    for i in range(LAYERS):
        n = f"blocks.{i}"
        for ln in ("ln_1", "ln_2"):
            p[f"{n}.{ln}.weight"] = 1 + 0.1 * torch.randn(WIDTH, generator=gen)
            p[f"{n}.{ln}.bias"] = b(WIDTH)
        p[f"{n}.attn.in_proj_weight"] = w(3 * WIDTH, WIDTH)
        p[f"{n}.attn.in_proj_bias"] = b(3 * WIDTH)
        p[f"{n}.attn.out_proj.weight"] = w(WIDTH, WIDTH)
        p[f"{n}.attn.out_proj.bias"] = b(WIDTH)
        p[f"{n}.mlp.c_fc.weight"] = w(4 * WIDTH, WIDTH)
        p[f"{n}.mlp.c_fc.bias"] = b(4 * WIDTH)
        p[f"{n}.mlp.c_proj.weight"] = w(WIDTH, 4 * WIDTH)
        p[f"{n}.mlp.c_proj.bias"] = b(WIDTH)
    p["ln_final.weight"] = 1 + 0.1 * torch.randn(WIDTH, generator=gen)
    p["ln_final.bias"] = b(WIDTH)
    p["proj.weight"], p["proj.bias"] = w(EMB, WIDTH), b(EMB)
    return p


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/distgan"
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20241204)

    # ---- losses: texts with near duplicates (shapes-like captions) and
    # pairs of negative cosine (the floor)
    base = torch.randn(4, EMB, generator=gen, dtype=torch.float64)
    text = torch.cat([base, base + 0.05 * torch.randn(4, EMB, generator=gen,
                                                      dtype=torch.float64)])
    text[3] = -text[0] + 0.3 * torch.randn(EMB, generator=gen, dtype=torch.float64)
    li = {
        "fake_emb": F.normalize(text + 0.8 * torch.randn(BATCH, EMB, generator=gen,
                                                         dtype=torch.float64), dim=1),
        "text_emb": F.normalize(text, dim=1),
        "v_m": torch.randn(BATCH, EMB, generator=gen, dtype=torch.float64) * 0.5,
        "img_emb": F.normalize(torch.randn(BATCH, EMB, generator=gen,
                                           dtype=torch.float64), dim=1),
    }
    assert (cos_matrix(li["text_emb"], li["text_emb"]) < 0).any()
    save_safetensors(os.path.join(out, "losses-in.safetensors"), li)
    leaves = {k: v.clone().requires_grad_(True) for k, v in li.items()}
    lo, props = {}, {}
    for name, (prop, loss) in loss_cases(leaves).items():
        grads = torch.autograd.grad(loss, list(leaves.values()),
                                    allow_unused=True)
        lo[name + "/loss"] = loss.detach().reshape(())
        for k, g in zip(leaves, grads):
            lo[f"{name}/grad/{k}"] = torch.zeros_like(li[k]) if g is None else g
        props[name] = prop
    save_safetensors(os.path.join(out, "losses-out.safetensors"), lo)
    with open(os.path.join(out, "losses-cases.txt"), "w") as f:
        for name, prop in props.items():
            f.write(f"{name} {prop}\n")

    # ---- the L2V module (f32 weights and inputs, f64 reference)
    mask = torch.zeros(L2V_N, L2V_L)
    for i, n in enumerate(LENGTHS):
        mask[i, :n] = 1
    ni = {"tokens": torch.randn(L2V_N, L2V_L, TOKEN_DIM, generator=gen),
          "tokens_mask": mask,
          "img_emb": F.normalize(torch.randn(L2V_N, EMB, generator=gen), dim=1)}
    save_safetensors(os.path.join(out, "l2v-in.safetensors"), ni)
    no = {}
    for arch in ("transformer", "mlp"):
        p = l2v_weights(arch, gen)
        save_safetensors(os.path.join(out, f"l2v-{arch}.safetensors"),
                         {"L." + k: v for k, v in p.items()})
        pd = {k: v.double() for k, v in p.items()}
        tokens = ni["tokens"].double().requires_grad_(True)
        vm = l2v(pd, tokens, mask.double(), arch)
        loss = dist_vl(vm, ni["img_emb"].double())
        (g,) = torch.autograd.grad(loss, [tokens])
        # the padding positions get no gradient: they never reach v_m
        assert (g[0, 3:] == 0).all() and (g[2, 1:] == 0).all()
        no[f"{arch}/v_m"] = vm.detach()
        no[f"{arch}/loss"] = loss.detach().reshape(())
        no[f"{arch}/grad/tokens"] = g
    save_safetensors(os.path.join(out, "l2v-out.safetensors"), no)


if __name__ == "__main__":
    main()
