#!/usr/bin/python3
"""Generates the PyTorch goldens of tests/elements/test-vqdiffusion.c and
tests/core/test-vqdiffusion.c in tests/golden/vqdiffusion/:

  losses-in.safetensors   logits [6,7,5] (f64), tokens, xt [6,5], t [6]
                          (i32), pt [6] (f64)
  losses-out.safetensors  <case>/loss and <case>/grad/logits per case
  losses-cases.txt        <case> <t2iloss properties>
  schedule.safetensors    log_cumprod_a, log_cumprod_g [T+1] (the last:
                          the identity), log_a, log_g [T] for T=10, K=7
  math.safetensors        truncate/<r> and guide/<s> of given log p(x_0|x_t)
  net-weights.safetensors a t2ivqdiffusion arch=transformer (NET_PROPS)
  net-in.safetensors      tokens [3,2,2] (i32), cond [3,6] (f32)
  net-out.safetensors     t<s>/logits [3,7,4], t<s>/loss [3] (each item's
                          share of the loss) and t<s>/grad/cond [3,6] (of
                          that share) with every item at step s = 0 (x_t =
                          x_0) and s = 1 (all masks) of a T = 2 schedule

VQ-Diffusion's discrete diffusion written from the paper (Gu et al. 2022;
CLIP-VQDiffusion eq. 2-7) in probability space, float64: the transition
matrices Q_t of eq. 2 built explicitly (K codes + the mask), Qbar_t their
products, the posterior of eq. 4 as the explicit sum over x_0, the model's
p(x_{t-1} | x_t) = sum_x0 q(x_{t-1} | x_t, x_0) p(x_0 | x_t), the KL of
eq. 7 and the NLL of eq. 6 -- not the released code's log-space tricks, so
t2i's log-space implementation is checked against the definitions.  The
schedule is the released "alpha1" one (abar, gbar linear), the auxiliary
loss and importance weights the released code's.  Run with a Python that
has torch (on our machines /usr/bin/python3):

    /usr/bin/python3 tests/gen-vqdiffusion-golden.py tests/golden/vqdiffusion

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

save_safetensors = import_module("gen-lafite-golden").save_safetensors

T, K, N, L = 10, 7, 6, 5
STEPS = [0, 1, 4, 9, 5, 0]


def schedule(T=T, K=K):
    """abar, gbar per step 1..T (index 0: before any step), a, g, b"""
    i = torch.arange(T, dtype=torch.float64) / (T - 1)
    abar = torch.cat([torch.ones(1, dtype=torch.float64),
                      0.99999 + i * (0.000009 - 0.99999)])
    gbar = torch.cat([torch.zeros(1, dtype=torch.float64),
                      0.000009 + i * (0.99999 - 0.000009)])
    a = abar[1:] / abar[:-1]
    g = 1 - (1 - gbar[1:]) / (1 - gbar[:-1])
    b = (1 - a - g) / K
    return abar, gbar, a, g, b


def q_matrix(a, g, b, K=K):
    """eq. 2: [Q]_{mn} = q(x_t = m | x_{t-1} = n), K + 1 classes"""
    q = torch.full((K + 1, K + 1), 0.0, dtype=torch.float64)
    q[:K, :K] = b
    q[:K, :K] += torch.eye(K, dtype=torch.float64) * a
    q[K, :K] = g
    q[K, K] = 1.0
    return q


def matrices(T=T, K=K):
    """Q_t (t = 1..T) and Qbar_t (t = 0..T, Qbar_0 = I)"""
    _, _, a, g, b = schedule(T, K)
    qs = [q_matrix(a[i], g[i], b[i], K) for i in range(T)]
    qbar = [torch.eye(K + 1, dtype=torch.float64)]
    for q in qs:
        qbar.append(q @ qbar[-1])
    return qs, qbar


def posterior(p_x0, xt, step, qs, qbar, K=K):
    """sum_x0 q(x_{t-1} | x_t, x_0) p(x_0) for the released code's step
    index (the transition from x_{step} to x_{step+1} in 1-based terms):
    q(x_{t-1} | x_t, x_0) = qbar_{t-1}[x_{t-1}, x_0] Q_t[x_t, x_{t-1}] /
    qbar_t[x_t, x_0]; p_x0 [K+1] (mask entry 0), xt an int"""
    t = step + 1                   # 1-based: x_t is after t transitions
    num = qbar[t - 1][:, :K] * qs[t - 1][xt, :][:, None]  # [x_{t-1}, x_0]
    den = qbar[t][xt, :K]                                 # [x_0], codes
    post = num / den[None, :]
    return post @ p_x0[:K]          # x_0 is never the mask token


def loss_items(logits, x0, xt, t, pt, aux_weight, importance, adaptive=True,
               T=T):
    """each item's term of the loss (its mean over the items / L)"""
    N, K, L = logits.shape
    qs, qbar = matrices(T, K)
    p = torch.softmax(logits, dim=1)                 # [N, K, L]
    total = []
    for n in range(N):
        kl_sum, aux_sum = 0.0, 0.0
        for j in range(L):
            p_x0 = torch.cat([p[n, :, j], torch.zeros(1, dtype=torch.float64)])
            true_x0 = torch.zeros(K + 1, dtype=torch.float64)
            true_x0[x0[n, j]] = 1
            model = posterior(p_x0, int(xt[n, j]), t[n], qs, qbar, K)
            truth = posterior(true_x0, int(xt[n, j]), t[n], qs, qbar, K)
            if t[n] == 0:
                term = -torch.log(model[x0[n, j]])
                aux = term
            else:
                keep = truth > 0
                term = (truth[keep] * (torch.log(truth[keep])
                                       - torch.log(model[keep]))).sum()
                aux = -torch.log(p[n, x0[n, j], j])
            kl_sum = kl_sum + term
            aux_sum = aux_sum + aux
        w = aux_weight * (((1 - t[n] / T) + 1) if adaptive else 1.0)
        item = kl_sum + w * aux_sum
        if importance:
            item = item / pt[n]
        total.append(item)
    return torch.stack(total)


def loss_case(logits, x0, xt, t, pt, aux_weight, importance, adaptive=True):
    return loss_items(logits, x0, xt, t, pt, aux_weight, importance,
                      adaptive).mean() / L


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/golden/vqdiffusion"
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator().manual_seed(20241204)

    abar, gbar, a, g, b = schedule()
    save_safetensors(os.path.join(out, "schedule.safetensors"), {
        "log_cumprod_a": torch.log(torch.cat([abar[1:], torch.ones(1, dtype=torch.float64)])),
        "log_cumprod_g": torch.log(torch.cat([gbar[1:], torch.full((1,), 1e-300,
                                                                  dtype=torch.float64)])),
        "log_a": torch.log(a), "log_g": torch.log(g)})

    # tokens; x_t: masks with more probability at larger t, the token kept
    # otherwise (the replace path has probability ~1e-7)
    x0 = torch.randint(0, K, (N, L), generator=gen)
    xt = x0.clone()
    for n in range(N):
        for j in range(L):
            if torch.rand(1, generator=gen).item() < 0.15 + 0.08 * STEPS[n]:
                xt[n, j] = K
    xt[3, 0] = K           # step T - 1: mostly masked
    t = torch.tensor(STEPS)
    pt = torch.tensor([0.05, 0.1, 0.2, 0.08, 0.12, 0.05], dtype=torch.float64)
    logits = torch.randn(N, K, L, generator=gen, dtype=torch.float64) * 2
    li = {"logits": logits, "tokens": x0.to(torch.int32),
          "xt": xt.to(torch.int32), "t": t.to(torch.int32), "pt": pt}
    save_safetensors(os.path.join(out, "losses-in.safetensors"), li)

    cases = {
        "plain": ("kind=vq-diffusion timesteps=10 aux-weight=0 importance=false",
                  dict(aux_weight=0.0, importance=False)),
        "aux": ("kind=vq-diffusion timesteps=10 importance=false",
                dict(aux_weight=5e-4, importance=False)),
        "importance": ("kind=vq-diffusion timesteps=10 aux-weight=0.5",
                       dict(aux_weight=0.5, importance=True)),
        "aux-flat": ("kind=vq-diffusion timesteps=10 aux-weight=0.5 "
                     "adaptive-aux=false importance=false",
                     dict(aux_weight=0.5, importance=False, adaptive=False)),
    }
    lo = {}
    with open(os.path.join(out, "losses-cases.txt"), "w") as f:
        for name, (props, kw) in cases.items():
            lg = logits.clone().requires_grad_(True)
            loss = loss_case(lg, x0, xt, STEPS, pt, **kw)
            (grad,) = torch.autograd.grad(loss, [lg])
            lo[name + "/loss"] = loss.detach().reshape(())
            lo[name + "/grad/logits"] = grad
            f.write(f"{name} {props}\n")
    save_safetensors(os.path.join(out, "losses-out.safetensors"), lo)

    # truncation ("top r") and guidance on given distributions
    p = torch.softmax(torch.randn(2, K, 3, generator=gen, dtype=torch.float64) * 2, 1)
    log_p = torch.cat([torch.log(p), torch.full((2, 1, 3), -70.0, dtype=torch.float64)], 1)
    q = torch.softmax(torch.randn(2, K, 3, generator=gen, dtype=torch.float64) * 2, 1)
    log_q = torch.cat([torch.log(q), torch.full((2, 1, 3), -70.0, dtype=torch.float64)], 1)
    m = {"log_p": log_p, "log_q": log_q}
    for r in (0.5, 0.8):
        tr = log_p.clone()
        for n in range(2):
            for j in range(3):
                order = torch.argsort(p[n, :, j], descending=True, stable=True)
                cum = 0.0
                for rank, k in enumerate(order.tolist()):
                    if rank > 0 and cum >= r:
                        tr[n, k, j] = -70.0
                    cum += p[n, k, j].item()
        m[f"truncate/{r}"] = tr
    for s in (1.0, 3.0):
        gl = log_q[:, :K] + s * (log_p[:, :K] - log_q[:, :K])
        gl = torch.clamp(gl - torch.logsumexp(gl, 1, keepdim=True), -70, 0)
        m[f"guide/{s}"] = torch.cat([gl, log_p[:, K:]], 1)
    save_safetensors(os.path.join(out, "math.safetensors"), m)
    network(out, gen)


# the transformer: T = 2 steps, so x_t is x_0 at step 0 and all masks at
# step 1 (with probability 1 - 1e-5 per token), whichever step the element
# draws
NET = dict(T=2, K=7, grid=2, E=6, d=8, heads=2, layers=2, N=3)
NET_PROPS = "codes=7 width=8 heads=2 layers=2 timesteps=2"


def net_weights(gen):
    """CLIP-VQDiffusion's Condition2ImageTransformer, the released names"""
    d, K, T, E, g = NET["d"], NET["K"], NET["T"], NET["E"], NET["grid"]

    def r(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64) * 0.3

    w = {"content_emb.emb.weight": r(K + 1, d),
         "content_emb.height_emb.weight": r(g, d),
         "content_emb.width_emb.weight": r(g, d)}

    def lin(name, i, o):
        w[name + ".weight"], w[name + ".bias"] = r(o, i), r(o)
    for b in range(NET["layers"]):
        p = f"blocks.{b}."
        w[p + "ln1.emb.weight"] = r(T, d)
        lin(p + "ln1.linear", d, 2 * d)
        for n in ("query", "key", "value", "proj"):
            lin(p + "attn1." + n, d, d)
        lin(p + "ln2.clip_proj.0", E, d)
        lin(p + "ln2.clip_proj.2", d, 2 * d)
        w[p + "mlp.conv1.weight"], w[p + "mlp.conv1.bias"] = r(4 * d, d, 3, 3), r(4 * d)
        w[p + "mlp.conv2.weight"], w[p + "mlp.conv2.bias"] = r(d, 4 * d, 3, 3), r(d)
    w["to_logits.0.weight"], w["to_logits.0.bias"] = 1 + r(d), r(d)
    lin("to_logits.1", d, K)
    # the importance-sampling history, buffers of the released model
    w["Lt_history"] = torch.zeros(T, dtype=torch.float64)
    w["Lt_count"] = torch.zeros(T, dtype=torch.float64)
    return w


def net_forward(w, xt, t, cond):
    """logits of x_0 [N, K, L] for tokens x_t [N, L] at steps t [N]"""
    F = torch.nn.functional
    d, g, heads = NET["d"], NET["grid"], NET["heads"]
    n, L = xt.shape
    pos = torch.arange(L)
    x = (w["content_emb.emb.weight"][xt]
         + w["content_emb.height_emb.weight"][pos // g]
         + w["content_emb.width_emb.weight"][pos % g])

    def lin(name, a):
        return F.linear(a, w[name + ".weight"], w[name + ".bias"])

    def adaln(a, ss):
        scale, shift = ss.chunk(2, dim=-1)
        return F.layer_norm(a, (d,)) * (1 + scale[:, None]) + shift[:, None]
    for b in range(NET["layers"]):
        p = f"blocks.{b}."
        h = adaln(x, lin(p + "ln1.linear", F.silu(w[p + "ln1.emb.weight"][t])))
        q, k, v = (lin(p + "attn1." + m, h).reshape(n, L, heads, -1)
                   .transpose(1, 2) for m in ("query", "key", "value"))
        a = torch.softmax(q @ k.transpose(-1, -2) / (d // heads) ** 0.5, -1) @ v
        x = x + lin(p + "attn1.proj", a.transpose(1, 2).reshape(n, L, d))
        c = lin(p + "ln2.clip_proj.2", F.silu(lin(p + "ln2.clip_proj.0", cond)))
        h = adaln(x, c).transpose(1, 2).reshape(n, d, g, g)
        h = F.conv2d(h, w[p + "mlp.conv1.weight"], w[p + "mlp.conv1.bias"], padding=1)
        h = h * torch.sigmoid(1.702 * h)
        h = F.conv2d(h, w[p + "mlp.conv2.weight"], w[p + "mlp.conv2.bias"], padding=1)
        x = x + h.reshape(n, d, L).transpose(1, 2)
    x = F.layer_norm(x, (d,), w["to_logits.0.weight"], w["to_logits.0.bias"])
    return lin("to_logits.1", x).transpose(1, 2)


def network(out, gen):
    n, K, E, L = NET["N"], NET["K"], NET["E"], NET["grid"] ** 2
    w = net_weights(gen)
    x0 = torch.randint(0, K, (n, L), generator=gen)
    cond = torch.randn(n, E, generator=gen, dtype=torch.float64)
    save_safetensors(os.path.join(out, "net-weights.safetensors"),
                     {k: v.float() for k, v in w.items()})
    save_safetensors(os.path.join(out, "net-in.safetensors"), {
        "tokens": x0.reshape(n, NET["grid"], NET["grid"]).to(torch.int32),
        "cond": cond.float()})
    w = {k: v.float().double() for k, v in w.items()}
    cond = cond.float().double()
    res = {}
    for step in (0, 1):
        xt = x0 if step == 0 else torch.full_like(x0, K)
        t = torch.full((n,), step)
        c = cond.clone().requires_grad_(True)
        logits = net_forward(w, xt, t, c)
        # the default loss: aux-weight 5e-4, adaptive, divided by p(t) = 1/2
        items = loss_items(logits, x0, xt, [step] * n, [0.5] * n, 5e-4, True,
                           T=NET["T"]) / (n * L)
        (grad,) = torch.autograd.grad(items.sum(), [c])
        res[f"t{step}/logits"] = logits.detach()
        res[f"t{step}/loss"] = items.detach()
        res[f"t{step}/grad/cond"] = grad
    save_safetensors(os.path.join(out, "net-out.safetensors"), res)


if __name__ == "__main__":
    main()
