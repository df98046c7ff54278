#!/usr/bin/python3
"""Writes tests/golden/metrics/metrics.json: reference values of the metrics
that tests/core/test-metrics.c recomputes with t2i's C implementations.
Needs Debian's numpy, scipy and python3-skimage:

    /usr/bin/python3 tests/gen-metrics-golden.py

Inputs are not stored: both sides regenerate them from a tiny documented
generator (SplitMix64 -> 53-bit uniforms; "normal" values are
sqrt(3) * (u1 + u2 + u3 + u4 - 2), zero mean and unit variance), using only
IEEE +, -, *, sqrt so that C and numpy produce the same bits, then round to
float32 as t2i's tensors hold them.

References:
- FID: pytorch-fid's calculate_frechet_distance (np.cov with N - 1,
  scipy.linalg.sqrtm of sigma1 @ sigma2, real part); for rank-deficient
  statistics (N <= D) the symmetric route (eigh of sqrt(S1) S2 sqrt(S1),
  negatives clamped), which is what the C computes and sqrtm approximates.
- IS: OpenAI's / stylegan2-ada's numpy code (softmax, in-order splits of
  rows k*N//s .. (k+1)*N//s, exp(mean KL)), std with ddof 0 and 1.
- R-precision: cosine ranking of 1 true + 99 mismatched captions; the
  mismatched sets come from the shared generator (see rprec_candidates) and
  are replayed in C through t2i_rprecision_compute_with_candidates().
- CLIP score: mean cosine x 100, best of 4 consecutive rows.
- SSIM: skimage.metrics.structural_similarity(gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=1), per channel
  (channel_axis) and on BT.601 luma, images mapped from [-1, 1] to [0, 1].
- FSIM / FSIMc: a numpy port, written here, of the authors' FeatureSIM.m
  and its phasecong2 (Zhang et al., IEEE TIP 2011; Kovesi's phase
  congruency), images mapped to 0..255.  piq is not packaged for Debian;
  piq differs from the MATLAB code in small ways (YIQ coefficients, abs
  instead of the complex power in FSIMc, average pooling, median), the C
  follows the MATLAB code.
"""
import json
import math
import os

import numpy as np
import scipy.linalg
import scipy.signal
import skimage
from skimage.metrics import structural_similarity

MASK = (1 << 64) - 1


class Gen:
    """SplitMix64; uniform() = (next >> 11) * 2^-53."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self):
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)

    def normal(self, n):
        out = np.empty(n, dtype=np.float64)
        s3 = math.sqrt(3.0)
        for i in range(n):
            u1 = self.uniform()
            u2 = self.uniform()
            u3 = self.uniform()
            u4 = self.uniform()
            out[i] = s3 * (((u1 + u2) + u3) + u4 - 2.0)
        return out


def f32(x):
    return np.asarray(x, dtype=np.float64).astype(np.float32)


# ---- inputs (mirrored in tests/core/test-metrics.c) ----

def features(seed, n, d, scale, shift):
    """x[i,j] = scale * z[i,j] + 0.5 * z[i,(j+1)%d] + shift * (j % 3 == 0)"""
    z = Gen(seed).normal(n * d).reshape(n, d)
    zr = np.roll(z, -1, axis=1)
    sh = np.array([shift if j % 3 == 0 else 0.0 for j in range(d)])
    return f32(scale * z + 0.5 * zr + sh)


def image_pair(seed, c, h, w, noise):
    """x = clip(0.5 * (((y // 4 + x // 5 + ch) % 3) - 1) + 0.2 z1, -1, 1);
    y = clip(x + noise * z2, -1, 1)"""
    g = Gen(seed)
    z1 = g.normal(c * h * w).reshape(c, h, w)
    z2 = g.normal(c * h * w).reshape(c, h, w)
    ch, yy, xx = np.meshgrid(np.arange(c), np.arange(h), np.arange(w), indexing="ij")
    pattern = ((yy // 4 + xx // 5 + ch) % 3 - 1).astype(np.float64)
    x = f32(np.clip(0.5 * pattern + 0.2 * z1, -1.0, 1.0))
    y = f32(np.clip(x.astype(np.float64) + noise * z2, -1.0, 1.0))
    return x, y


def rprec_candidates(seed, n, m):
    """image i: m distinct j != i; j = floor(u (n - 1)), +1 when >= i,
    redrawn when already taken"""
    g = Gen(seed)
    out = []
    for i in range(n):
        taken = []
        while len(taken) < m:
            j = int(math.floor(g.uniform() * (n - 1)))
            if j >= i:
                j += 1
            if j not in taken:
                taken.append(j)
        out.append(taken)
    return np.array(out, dtype=np.int64)


# ---- references ----

def fid_sqrtm(x1, x2):
    mu1, mu2 = x1.mean(0), x2.mean(0)
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    diff = mu1 - mu2
    covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + offset).dot(s2 + offset))
    covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def fid_symmetric(x1, x2):
    mu1, mu2 = x1.mean(0), x2.mean(0)
    s1, s2 = np.cov(x1, rowvar=False), np.cov(x2, rowvar=False)
    w, v = np.linalg.eigh(s1)
    r = v @ np.diag(np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = np.linalg.eigvalsh(r @ s2 @ r)
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2)
                 - 2 * np.sqrt(np.clip(ev, 0, None)).sum())


def inception_score(logits, splits, ddof):
    x = logits.astype(np.float64)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    n = p.shape[0]
    scores = []
    for k in range(splits):
        part = p[k * n // splits:(k + 1) * n // splits]
        py = part.mean(0, keepdims=True)
        kl = part * (np.log(part) - np.log(py))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
    return float(np.mean(scores)), float(np.std(scores, ddof=ddof))


def normalize(x):
    x = x.astype(np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def rprecision(img, txt, cand, ks):
    a, t = normalize(img), normalize(txt)
    n = a.shape[0]
    hits = np.zeros(len(ks))
    for i in range(n):
        s_true = a[i].dot(t[i])
        rank = 1 + int(np.sum(t[cand[i]] @ a[i] > s_true))
        hits += np.array([rank <= k for k in ks])
    return [float(100.0 * h / n) for h in hits]


def ssim_ref(x, y, luma):
    a = (x.astype(np.float64) + 1.0) / 2.0
    b = (y.astype(np.float64) + 1.0) / 2.0
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
              data_range=1.0)
    if a.shape[0] == 1:
        return float(structural_similarity(a[0], b[0], **kw))
    if luma:
        ya = 0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2]
        yb = 0.299 * b[0] + 0.587 * b[1] + 0.114 * b[2]
        return float(structural_similarity(ya, yb, **kw))
    return float(structural_similarity(a, b, channel_axis=0, **kw))


# FeatureSIM.m / phasecong2 port

def kovesi_grid(rows, cols):
    if cols % 2:
        xr = np.arange(-(cols - 1) / 2, (cols - 1) / 2 + 1) / (cols - 1)
    else:
        xr = np.arange(-cols / 2, cols / 2) / cols
    if rows % 2:
        yr = np.arange(-(rows - 1) / 2, (rows - 1) / 2 + 1) / (rows - 1)
    else:
        yr = np.arange(-rows / 2, rows / 2) / rows
    return np.meshgrid(xr, yr)


def lowpassfilter(rows, cols, cutoff, n):
    x, y = kovesi_grid(rows, cols)
    radius = np.sqrt(x ** 2 + y ** 2)
    return np.fft.ifftshift(1.0 / (1.0 + (radius / cutoff) ** (2 * n)))


def phasecong2(im):
    nscale, norient, min_wl, mult, sigma_onf = 4, 4, 6, 2, 0.55
    d_theta_on_sigma, k, epsilon = 1.2, 2.0, 0.0001
    theta_sigma = math.pi / norient / d_theta_on_sigma
    rows, cols = im.shape
    imagefft = np.fft.fft2(im)
    x, y = kovesi_grid(rows, cols)
    radius = np.fft.ifftshift(np.sqrt(x ** 2 + y ** 2))
    theta = np.fft.ifftshift(np.arctan2(-y, x))
    radius[0, 0] = 1
    sintheta, costheta = np.sin(theta), np.cos(theta)
    lp = lowpassfilter(rows, cols, 0.45, 15)
    log_gabor = []
    for s in range(nscale):
        wavelength = min_wl * mult ** s
        fo = 1.0 / wavelength
        lg = np.exp(-(np.log(radius / fo)) ** 2 / (2 * math.log(sigma_onf) ** 2)) * lp
        lg[0, 0] = 0
        log_gabor.append(lg)
    spread = []
    for o in range(norient):
        angl = o * math.pi / norient
        ds = sintheta * math.cos(angl) - costheta * math.sin(angl)
        dc = costheta * math.cos(angl) + sintheta * math.sin(angl)
        dtheta = np.abs(np.arctan2(ds, dc))
        spread.append(np.exp(-dtheta ** 2 / (2 * theta_sigma ** 2)))
    energy_all = np.zeros((rows, cols))
    an_all = np.zeros((rows, cols))
    for o in range(norient):
        sum_e = np.zeros((rows, cols))
        sum_o = np.zeros((rows, cols))
        sum_an = np.zeros((rows, cols))
        energy = np.zeros((rows, cols))
        eo = []
        ifft_filters = []
        em_n = 0.0
        for s in range(nscale):
            filt = log_gabor[s] * spread[o]
            ifft_filters.append(np.real(np.fft.ifft2(filt)) * math.sqrt(rows * cols))
            e = np.fft.ifft2(imagefft * filt)
            eo.append(e)
            sum_an += np.abs(e)
            sum_e += np.real(e)
            sum_o += np.imag(e)
            if s == 0:
                em_n = np.sum(filt ** 2)
        x_energy = np.sqrt(sum_e ** 2 + sum_o ** 2) + epsilon
        mean_e = sum_e / x_energy
        mean_o = sum_o / x_energy
        for s in range(nscale):
            e, od = np.real(eo[s]), np.imag(eo[s])
            energy += e * mean_e + od * mean_o - np.abs(e * mean_o - od * mean_e)
        median_e2n = np.median(np.abs(eo[0]).reshape(-1) ** 2)
        mean_e2n = -median_e2n / math.log(0.5)
        noise_power = mean_e2n / em_n
        est_sum_an2 = np.zeros((rows, cols))
        for s in range(nscale):
            est_sum_an2 += ifft_filters[s] ** 2
        est_sum_aiaj = np.zeros((rows, cols))
        for si in range(nscale - 1):
            for sj in range(si + 1, nscale):
                est_sum_aiaj += ifft_filters[si] * ifft_filters[sj]
        est_noise_energy2 = (2 * noise_power * np.sum(est_sum_an2)
                             + 4 * noise_power * np.sum(est_sum_aiaj))
        tau = math.sqrt(est_noise_energy2 / 2)
        est_noise_energy = tau * math.sqrt(math.pi / 2)
        est_noise_energy_sigma = math.sqrt((2 - math.pi / 2) * tau ** 2)
        t = (est_noise_energy + k * est_noise_energy_sigma) / 1.7
        energy = np.maximum(energy - t, 0)
        energy_all += energy
        an_all += sum_an
    return np.where(an_all > 0, energy_all / np.where(an_all > 0, an_all, 1), 0.0)


def feature_sim(img1, img2, chromatic):
    """img: [C, H, W] in 0..255 (C = 1 or 3); returns FSIM or FSIMc"""
    rows, cols = img1.shape[1:]
    if img1.shape[0] == 3:
        def yiq(im):
            r, g, b = im
            return (0.299 * r + 0.587 * g + 0.114 * b,
                    0.596 * r - 0.274 * g - 0.322 * b,
                    0.211 * r - 0.523 * g + 0.312 * b)
        y1, i1, q1 = yiq(img1)
        y2, i2, q2 = yiq(img2)
    else:
        y1, y2 = img1[0], img2[0]
        i1 = q1 = i2 = q2 = np.zeros((rows, cols))
    f = max(1, int(math.floor(min(rows, cols) / 256 + 0.5)))
    p = f // 2
    kernel = np.ones((f, f)) / (f * f)

    def down(a):
        full = scipy.signal.convolve2d(a, kernel, mode="full")
        return full[p:p + rows, p:p + cols][::f, ::f]
    y1, i1, q1, y2, i2, q2 = [down(a) for a in (y1, i1, q1, y2, i2, q2)]
    pc1, pc2 = phasecong2(y1), phasecong2(y2)
    dx = np.array([[3, 0, -3], [10, 0, -10], [3, 0, -3]]) / 16.0
    dy = np.array([[3, 10, 3], [0, 0, 0], [-3, -10, -3]]) / 16.0

    def grad(a):
        gx = scipy.signal.convolve2d(a, dx, mode="same")
        gy = scipy.signal.convolve2d(a, dy, mode="same")
        return np.sqrt(gx ** 2 + gy ** 2)
    g1, g2 = grad(y1), grad(y2)
    t1, t2, t3, t4, lam = 0.85, 160, 200, 200, 0.03
    pc_sim = (2 * pc1 * pc2 + t1) / (pc1 ** 2 + pc2 ** 2 + t1)
    g_sim = (2 * g1 * g2 + t2) / (g1 ** 2 + g2 ** 2 + t2)
    pcm = np.maximum(pc1, pc2)
    sim = g_sim * pc_sim
    if chromatic:
        i_sim = (2 * i1 * i2 + t3) / (i1 ** 2 + i2 ** 2 + t3)
        q_sim = (2 * q1 * q2 + t4) / (q1 ** 2 + q2 ** 2 + t4)
        sim = sim * np.real(np.power((i_sim * q_sim).astype(complex), lam))
    return float(np.sum(sim * pcm) / np.sum(pcm)), float(np.mean(pc1))


def to255(x):
    return (x.astype(np.float64) + 1.0) * 127.5


def main():
    out = {"generator": "splitmix64", "skimage": skimage.__version__,
           "numpy": np.__version__, "scipy": scipy.__version__}

    # FID: (seed, n, scale, shift) per side, D = 64
    fid_cases = []
    for name, real, fake, d in [
            ("n200-n300", (101, 200, 1.0, 0.0), (202, 300, 1.2, 0.3), 64),
            ("n300-n300", (303, 300, 1.0, 0.0), (404, 300, 0.9, -0.2), 64),
            ("rank-deficient", (505, 40, 1.0, 0.0), (606, 50, 1.1, 0.1), 64)]:
        x1 = features(real[0], real[1], d, real[2], real[3]).astype(np.float64)
        x2 = features(fake[0], fake[1], d, fake[2], fake[3]).astype(np.float64)
        fid_cases.append({
            "name": name, "dim": d,
            "real": {"seed": real[0], "n": real[1], "scale": real[2], "shift": real[3]},
            "fake": {"seed": fake[0], "n": fake[1], "scale": fake[2], "shift": fake[3]},
            "fid_sqrtm": fid_sqrtm(x1, x2),
            "fid_symmetric": fid_symmetric(x1, x2),
            "mu_real_0": float(x1.mean(0)[0]),
            "sigma_real_01": float(np.cov(x1, rowvar=False)[0, 1]),
        })
    out["fid"] = fid_cases

    # IS: logits = scale * z
    is_cases = []
    for seed, n, c, splits, scale in [(707, 250, 10, 10, 3.0), (808, 253, 7, 5, 2.0)]:
        logits = f32(scale * Gen(seed).normal(n * c)).reshape(n, c)
        m0, s0 = inception_score(logits, splits, 0)
        _, s1 = inception_score(logits, splits, 1)
        is_cases.append({"seed": seed, "n": n, "classes": c, "splits": splits,
                         "scale": scale, "mean": m0, "std": s0, "std_unbiased": s1})
    out["is"] = is_cases

    # R-precision: img = z1, txt = img + noise * z2
    n, d, m, noise = 150, 16, 99, 1.5
    g = Gen(909)
    z1 = g.normal(n * d)
    z2 = g.normal(n * d)
    img = f32(z1).reshape(n, d)
    txt = f32(z1 + noise * z2).reshape(n, d)
    cand = rprec_candidates(910, n, m)
    ks = [1, 5, 10]
    out["rprecision"] = {"seed": 909, "candidate_seed": 910, "n": n, "dim": d,
                         "mismatched": m, "noise": noise, "ks": ks,
                         "hits": rprecision(img, txt, cand, ks),
                         "first_candidates": cand[0][:5].tolist()}

    # CLIP score: img = z1, txt = img + z2, best of 4
    n, d = 40, 8
    g = Gen(1001)
    z1 = g.normal(n * d)
    z2 = g.normal(n * d)
    img = normalize(f32(z1).reshape(n, d))
    txt = normalize(f32(z1 + z2).reshape(n, d))
    cos = np.sum(img * txt, axis=1)
    best = cos.reshape(-1, 4).max(1)
    out["clip"] = {"seed": 1001, "n": n, "dim": d,
                   "score": float(100 * cos.mean()), "std": float(100 * cos.std()),
                   "best_of_4": float(100 * best.mean())}

    # SSIM and FSIM on image pairs
    pairs = []
    for seed, c, h, w, noise in [(1101, 3, 32, 32, 0.25), (1102, 3, 48, 40, 0.5),
                                 (1103, 1, 24, 30, 0.3), (1104, 3, 64, 64, 0.15),
                                 (1105, 3, 384, 400, 0.3)]:
        x, y = image_pair(seed, c, h, w, noise)
        case = {"seed": seed, "channels": c, "height": h, "width": w, "noise": noise}
        if h < 100:
            case["ssim"] = ssim_ref(x, y, False)
            if c == 3:
                case["ssim_luma"] = ssim_ref(x, y, True)
        fs, pc_mean = feature_sim(to255(x), to255(y), False)
        case["fsim"] = fs
        case["pc_mean_x"] = pc_mean
        if c == 3:
            case["fsimc"] = feature_sim(to255(x), to255(y), True)[0]
        pairs.append(case)
    out["images"] = pairs

    root = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(root, "golden", "metrics", "metrics.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
