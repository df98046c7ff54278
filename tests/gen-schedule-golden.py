#!/usr/bin/python3
"""Writes tests/golden/schedule.json: learning-rate sequences of PyTorch's
CosineAnnealingLR (closed form), StepLR and ReduceLROnPlateau, alone and
behind a linear warm-up, which tests/core/test-schedule.c replays with
t2i_lr_schedule.  Needs Debian's python3-torch:

    /usr/bin/python3 tests/gen-schedule-golden.py

Each case gives the t2i specification ("KIND,key=value,..."), the base lr,
the number of steps, the metrics reported (plateau: [step, value] pairs,
reported after that step's lr is read) and the lr of every step.

torch 1.13 has no warm-up from 0 (LinearLR needs start_factor > 0) and no
ReduceLROnPlateau behind a warm-up, so the warm-up ramp is the formula
VQ-Diffusion's ReduceLROnPlateauWithWarmup follows, in closed form
(checked against LinearLR where LinearLR can express it); after warm-up
the torch scheduler runs unchanged, its step count starting at 0.
"""
import json
import math
import os
import re
import warnings

import torch
from torch.optim import lr_scheduler

warnings.filterwarnings("ignore", category=UserWarning)


def optimizer(lr):
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


def warm(step, lr, warmup, frm, min_lr):
    """the ramp of t2i_lr_schedule_lr during warm-up (min_lr: None if the
    kind has none); VQ-Diffusion adds (lr - frm) / warmup per step and takes
    max(new_lr, min_lr)"""
    v = frm + (lr - frm) * step / warmup
    return v if min_lr is None else max(v, min_lr)


def spec_string(kind, keys):
    return ",".join([kind] + ["%s=%s" % (k, v) for k, v in keys.items()])


def cosine(lr, steps, total, min_lr=0.0, warmup=0, frm=0.0):
    sched = lr_scheduler.CosineAnnealingLR(optimizer(lr), T_max=total, eta_min=min_lr)
    out = []
    for s in range(steps):
        if s < warmup:
            out.append(warm(s, lr, warmup, frm, min_lr))
            continue
        if s > warmup:
            sched.step()
        closed = sched._get_closed_form_lr()[0]
        # the chained form torch steps with agrees to rounding
        chained = sched.optimizer.param_groups[0]["lr"]
        assert abs(closed - chained) <= 1e-12 * lr, (closed, chained)
        out.append(closed)
    return out


def step(lr, steps, step_size, factor, warmup=0, frm=0.0):
    sched = lr_scheduler.StepLR(optimizer(lr), step_size=step_size, gamma=factor)
    out = []
    for s in range(steps):
        if s < warmup:
            out.append(warm(s, lr, warmup, frm, None))
            continue
        if s > warmup:
            sched.step()
        out.append(sched.optimizer.param_groups[0]["lr"])
    return out


def plateau(lr, steps, reports, warmup=0, frm=0.0, mode="min", factor=0.1, patience=10,
            threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
    opt = optimizer(lr)
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=factor, patience=patience,
                                           threshold=threshold, threshold_mode=threshold_mode,
                                           cooldown=cooldown, min_lr=min_lr, eps=eps)
    at = dict(reports)
    out = []
    for s in range(steps):
        out.append(warm(s, lr, warmup, frm, min_lr) if s < warmup else opt.param_groups[0]["lr"])
        # VQ-Diffusion: a report during warm-up only raises the lr
        if s in at and s >= warmup:
            sched.step(at[s])
    return out


def check_linear_lr():
    """the closed-form ramp against torch's LinearLR (chained) for a start > 0"""
    lr, frm, warmup = 0.02, 0.005, 7
    sched = lr_scheduler.LinearLR(optimizer(lr), start_factor=frm / lr, total_iters=warmup)
    for s in range(warmup + 3):
        ours = warm(min(s, warmup), lr, warmup, frm, None) if s < warmup else lr
        theirs = sched.optimizer.param_groups[0]["lr"]
        assert abs(ours - theirs) <= 1e-12 * lr, (s, ours, theirs)
        sched.step()


# a loss that falls, flattens (improvements below the threshold), recovers
# once, then stalls long enough to reach min_lr
LOSS = ([1.0, 0.9, 0.8, 0.795, 0.794, 0.793, 0.9, 0.9, 0.9, 0.9]
        + [0.6, 0.599, 0.6, 0.61, 0.62, 0.5, 0.5, 0.5, 0.5, 0.5]
        + [0.5] * 20)
# a validation score every third step, higher is better
SCORE = [0.1, 0.2, 0.25, 0.26, 0.255, 0.27, 0.3, 0.3, 0.29, 0.31, 0.305, 0.3, 0.3, 0.3]


def case(name, kind, lr, steps, keys, expected, reports=None, exact=True):
    return {
        "name": name,
        "spec": spec_string(kind, keys),
        "lr": lr,
        "steps": steps,
        "reports": reports or [],
        "exact": exact,
        "expected": expected,
    }


def cases():
    out = []
    out.append(case("cosine", "cosine", 0.1, 21, {"total": 20, "min-lr": 0.001},
                    cosine(0.1, 21, 20, 0.001), exact=False))
    out.append(case("cosine_to_zero", "cosine", 3e-4, 8, {"total": 7},
                    cosine(3e-4, 8, 7), exact=False))
    out.append(case("cosine_warmup", "cosine", 0.05, 26,
                    {"total": 20, "min-lr": 1e-3, "warmup": 5},
                    cosine(0.05, 26, 20, 1e-3, warmup=5), exact=False))
    out.append(case("step", "step", 0.1, 20, {"step-size": 3, "factor": 0.5},
                    step(0.1, 20, 3, 0.5)))
    out.append(case("step_default_factor", "step", 0.3, 12, {"step-size": 1},
                    step(0.3, 12, 1, 0.1)))
    out.append(case("step_warmup", "step", 0.01, 16,
                    {"step-size": 4, "factor": 0.7, "warmup": 3, "warmup-from": 0.002},
                    step(0.01, 16, 4, 0.7, warmup=3, frm=0.002)))
    out.append(case("constant_warmup", "constant", 2e-4, 8, {"warmup": 5},
                    [warm(s, 2e-4, 5, 0.0, None) if s < 5 else 2e-4 for s in range(8)]))

    hp = dict(factor=0.5, patience=2, threshold=0.01, cooldown=2, min_lr=0.02)
    reports = [[s, v] for s, v in enumerate(LOSS)]
    out.append(case("plateau_min", "plateau", 0.1, len(LOSS),
                    {"factor": 0.5, "patience": 2, "threshold": 0.01, "cooldown": 2,
                     "min-lr": 0.02},
                    plateau(0.1, len(LOSS), reports, **hp), reports))

    reports = [[3 * i + 2, v] for i, v in enumerate(SCORE)]
    steps = 3 * len(SCORE) + 1
    hp = dict(mode="max", factor=0.3, patience=1, threshold=0.005, threshold_mode="abs",
              cooldown=1, min_lr=1e-6)
    out.append(case("plateau_max_abs", "plateau", 1.5e-5, steps,
                    {"mode": "max", "factor": 0.3, "patience": 1, "threshold": 0.005,
                     "threshold-mode": "abs", "cooldown": 1, "min-lr": 1e-6},
                    plateau(1.5e-5, steps, reports, **hp), reports))

    # eps: the second reduction (1.5e-8 -> 7.5e-9) is smaller than 1e-8
    reports = [[s, 1.0] for s in range(6)]
    out.append(case("plateau_eps", "plateau", 3e-8, 7, {"factor": 0.5, "patience": 0},
                    plateau(3e-8, 7, reports, factor=0.5, patience=0), reports))

    # VQ-Diffusion: warm up from base_lr 1e-3 to warmup_lr 1e-2, then plateau
    # on the training loss; the very low losses during warm-up must be
    # ignored, else every later report would be bad
    warmup = 6
    loss = [0.0] * warmup + LOSS
    reports = [[s, v] for s, v in enumerate(loss)]
    hp = dict(factor=0.5, patience=1, threshold=1e-4, cooldown=1, min_lr=1e-4)
    out.append(case("plateau_warmup", "plateau", 1e-2, len(loss),
                    {"factor": 0.5, "patience": 1, "cooldown": 1, "min-lr": 1e-4,
                     "warmup": warmup, "warmup-from": 1e-3},
                    plateau(1e-2, len(loss), reports, warmup=warmup, frm=1e-3, **hp), reports))
    return out


check_linear_lr()
golden = {
    "generator": "tests/gen-schedule-golden.py, torch " + torch.__version__,
    "cases": cases(),
}
for c in golden["cases"]:
    assert all(math.isfinite(x) for x in c["expected"]), c["name"]
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "schedule.json")
# repr() of a float reads back to the same double
text = json.dumps(golden, indent=1)
# one line per flat array of numbers
text = re.sub(r"\[\s*([^\[\]{}]*?)\s*\]",
              lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
with open(out, "w") as f:
    f.write(text + "\n")
print(out, os.path.getsize(out), "bytes")
