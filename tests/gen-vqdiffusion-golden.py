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


def schedule():
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


def q_matrix(a, g, b):
    """eq. 2: [Q]_{mn} = q(x_t = m | x_{t-1} = n), K + 1 classes"""
    q = torch.full((K + 1, K + 1), 0.0, dtype=torch.float64)
    q[:K, :K] = b
    q[:K, :K] += torch.eye(K, dtype=torch.float64) * a
    q[K, :K] = g
    q[K, K] = 1.0
    return q


def matrices():
    """Q_t (t = 1..T) and Qbar_t (t = 0..T, Qbar_0 = I)"""
    _, _, a, g, b = schedule()
    qs = [q_matrix(a[i], g[i], b[i]) for i in range(T)]
    qbar = [torch.eye(K + 1, dtype=torch.float64)]
    for q in qs:
        qbar.append(q @ qbar[-1])
    return qs, qbar


def posterior(p_x0, xt, step, qs, qbar):
    """sum_x0 q(x_{t-1} | x_t, x_0) p(x_0) for the released code's step
    index (the transition from x_{step} to x_{step+1} in 1-based terms):
    q(x_{t-1} | x_t, x_0) = qbar_{t-1}[x_{t-1}, x_0] Q_t[x_t, x_{t-1}] /
    qbar_t[x_t, x_0]; p_x0 [K+1] (mask entry 0), xt an int"""
    t = step + 1                   # 1-based: x_t is after t transitions
    num = qbar[t - 1][:, :K] * qs[t - 1][xt, :][:, None]  # [x_{t-1}, x_0]
    den = qbar[t][xt, :K]                                 # [x_0], codes
    post = num / den[None, :]
    return post @ p_x0[:K]          # x_0 is never the mask token


def loss_case(logits, x0, xt, t, pt, aux_weight, importance, adaptive=True):
    qs, qbar = matrices()
    p = torch.softmax(logits, dim=1)                 # [N, K, L]
    total = []
    for n in range(N):
        kl_sum, aux_sum = 0.0, 0.0
        for j in range(L):
            p_x0 = torch.cat([p[n, :, j], torch.zeros(1, dtype=torch.float64)])
            true_x0 = torch.zeros(K + 1, dtype=torch.float64)
            true_x0[x0[n, j]] = 1
            model = posterior(p_x0, int(xt[n, j]), t[n], qs, qbar)
            truth = posterior(true_x0, int(xt[n, j]), t[n], qs, qbar)
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
    return torch.stack(total).mean() / L


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


if __name__ == "__main__":
    main()
