#!/usr/bin/python3
"""Generates the goldens of tests/core/test-models.c (core/models/):
tests/golden/models/models.json and tests/golden/models/models.safetensors,
and tests scripts/convert-checkpoint.

Run with a Python that has torch (on our machines /usr/bin/python3):

    /usr/bin/python3 tests/gen-models-golden.py

The networks are re-implemented here with exactly the module structure, and
so the state-dict names, of OpenAI's clip/model.py, torchvision's vgg19 and
Inception3 and pytorch-fid's FID Inception patches (torchvision itself is
not needed; when it is installed, the names are checked against it).

Weights are not stored: both sides compute them from the parameter's name.
For a tensor called NAME with n elements, element i (flat, row-major) is

    seed = FNV-1a-32(NAME as UTF-8)
    x = (i * 0x9E3779B1 + seed) mod 2^32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) mod 2^32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) mod 2^32
    x = x ^ (x >> 16)
    u = (x >> 8) / 2^24                      in [0, 1), exact
    w = float32(lo + (hi - lo) * u)          computed in float64

with (lo, hi) chosen from the name and shape (weight_range() below).
Inputs use the same formula with the names "input:<case>" (range [-1, 1])
and "r:<case>" (the random cotangent of the gradient checks).  The
reference runs in float64 on these float32 values.

models.json lists, per case, the configuration and the [name, shape] of
every tensor of the PyTorch state dict (what scripts/convert-checkpoint
writes), so the C test writes a safetensors file with exactly those names
and loads it through the official-name loaders.  models.safetensors holds
the reference outputs (float32) and the token ids (int32).  Large feature
maps are stored as samples: elements 0, s, 2s, ... with
s = ceil(numel / 1024).

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import ctypes
import importlib.machinery
import importlib.util
import json
import math
import os
import struct
import sys
import tempfile
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "golden", "models")
M32 = 0xFFFFFFFF
SAMPLES = 1024

torch.set_num_threads(max(1, os.cpu_count() or 1))


# ---------------------------------------------------------------- weights

def fnv1a(name):
    h = 0x811C9DC5
    for b in name.encode("utf-8"):
        h ^= b
        h = (h * 0x01000193) & M32
    return h


def hash_uniform(name, n):
    i = torch.arange(n, dtype=torch.int64)
    x = (i * 0x9E3779B1 + fnv1a(name)) & M32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & M32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & M32
    x = x ^ (x >> 16)
    return (x >> 8).double() * (2.0 ** -24)


def weight_range(name, shape):
    """(lo, hi) of the formula weights; the C test has the same rules."""
    nd = len(shape)
    if nd == 0:
        return 2.0, 3.0
    if name.endswith("running_var"):
        return 0.5, 1.5
    if name.endswith("running_mean"):
        return -0.2, 0.2
    if name.endswith(("positional_embedding", "class_embedding",
                      "token_embedding.weight")):
        return -0.5, 0.5
    if name.endswith(("visual.proj", "text_projection")):
        b = math.sqrt(3.0 / shape[0])       # [in, out]
        return -b, b
    if nd == 1:
        return (0.8, 1.2) if name.endswith("weight") else (-0.2, 0.2)
    fan_in = math.prod(shape[1:])
    b = math.sqrt(6.0 / fan_in)
    return -b, b


def formula(name, shape, lo=None, hi=None):
    if lo is None:
        lo, hi = weight_range(name, list(shape))
    n = math.prod(shape)
    u = hash_uniform(name, n)
    w = (lo + (hi - lo) * u).float().double()
    return w.reshape(shape)


def fill_formula(model):
    """Sets every floating tensor of the state dict by formula; returns the
    [name, shape] list of what a conversion writes."""
    entries = []
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            t.copy_(formula(name, tuple(t.shape)))
            entries.append([name, list(t.shape)])
    return entries


def image_input(case, shape):
    return formula("input:" + case, shape, -1.0, 1.0)


def cotangent(case, shape):
    return formula("r:" + case, shape, -1.0, 1.0)


# ---------------------------------------------------------- OpenAI CLIP

class LayerNorm(nn.LayerNorm):
    pass


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, d_model, n_head, attn_mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, n_head)
        self.ln_1 = LayerNorm(d_model)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(d_model, d_model * 4)),
            ("gelu", QuickGELU()),
            ("c_proj", nn.Linear(d_model * 4, d_model))]))
        self.ln_2 = LayerNorm(d_model)
        self.attn_mask = attn_mask

    def attention(self, x):
        m = self.attn_mask
        if m is not None:
            m = m.to(dtype=x.dtype, device=x.device)
        return self.attn(x, x, x, need_weights=False, attn_mask=m)[0]

    def forward(self, x):
        x = x + self.attention(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, attn_mask=None):
        super().__init__()
        self.width = width
        self.layers = layers
        self.resblocks = nn.Sequential(
            *[ResidualAttentionBlock(width, heads, attn_mask)
              for _ in range(layers)])

    def forward(self, x):
        return self.resblocks(x)


class VisionTransformer(nn.Module):
    def __init__(self, input_resolution, patch_size, width, layers, heads,
                 output_dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size,
                               stride=patch_size, bias=False)
        scale = width ** -0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(
            scale * torch.randn((input_resolution // patch_size) ** 2 + 1,
                                width))
        self.ln_pre = LayerNorm(width)
        self.transformer = Transformer(width, layers, heads)
        self.ln_post = LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, output_dim))

    def forward(self, x):
        x = self.conv1(x)
        x = x.reshape(x.shape[0], x.shape[1], -1)
        x = x.permute(0, 2, 1)
        x = torch.cat([self.class_embedding.to(x.dtype) + torch.zeros(
            x.shape[0], 1, x.shape[-1], dtype=x.dtype), x], dim=1)
        x = x + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        x = x.permute(1, 0, 2)
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        x = self.ln_post(x[:, 0, :])
        return x @ self.proj


class CLIP(nn.Module):
    """OpenAI's CLIP (ViT image tower); text=False/vision=False leave a
    tower out (for single-tower files)."""

    def __init__(self, embed_dim, image_resolution, vision_layers,
                 vision_width, vision_patch_size, context_length, vocab_size,
                 transformer_width, transformer_heads, transformer_layers,
                 vision=True, text=True):
        super().__init__()
        self.context_length = context_length
        if vision:
            self.visual = VisionTransformer(
                image_resolution, vision_patch_size, vision_width,
                vision_layers, vision_width // 64, embed_dim)
        if text:
            self.transformer = Transformer(
                transformer_width, transformer_layers, transformer_heads,
                self.build_attention_mask())
            self.token_embedding = nn.Embedding(vocab_size, transformer_width)
            self.positional_embedding = nn.Parameter(
                torch.empty(context_length, transformer_width))
            self.ln_final = LayerNorm(transformer_width)
            self.text_projection = nn.Parameter(
                torch.empty(transformer_width, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    def build_attention_mask(self):
        mask = torch.empty(self.context_length, self.context_length)
        mask.fill_(float("-inf"))
        mask.triu_(1)
        return mask

    def encode_image(self, image):
        return self.visual(image)

    def encode_text_full(self, text):
        x = self.token_embedding(text)
        x = x + self.positional_embedding
        x = x.permute(1, 0, 2)
        x = self.transformer(x)
        x = x.permute(1, 0, 2)
        x = self.ln_final(x)
        pooled = x[torch.arange(x.shape[0]), text.argmax(dim=-1)] \
            @ self.text_projection
        return pooled, x

    def forward(self, image, text):
        return self.encode_image(image), self.encode_text_full(text)[0]


def build_model_config(sd):
    """OpenAI's build_model() inference, for the record in models.json."""
    cfg = {}
    if "visual.proj" in sd:
        cfg["vision_width"] = sd["visual.conv1.weight"].shape[0]
        cfg["vision_layers"] = len([k for k in sd if k.startswith("visual.")
                                    and k.endswith(".attn.in_proj_weight")])
        cfg["patch_size"] = sd["visual.conv1.weight"].shape[-1]
        grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
        cfg["image_size"] = cfg["patch_size"] * grid
        cfg["vision_heads"] = cfg["vision_width"] // 64
        cfg["embed_dim"] = sd["visual.proj"].shape[1]
    if "token_embedding.weight" in sd:
        cfg["embed_dim"] = sd["text_projection"].shape[1]
        cfg["context_length"] = sd["positional_embedding"].shape[0]
        cfg["vocab_size"] = sd["token_embedding.weight"].shape[0]
        cfg["text_width"] = sd["ln_final.weight"].shape[0]
        cfg["text_heads"] = cfg["text_width"] // 64
        cfg["text_layers"] = len(set(k.split(".")[2] for k in sd
                                     if k.startswith("transformer.resblocks")))
    return cfg


# CLIP preprocessing on tensors (see t2i_clip_preprocess_images())
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def clip_preprocess(x, size):
    h, w = x.shape[-2:]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    x = F.interpolate(x, size=(nh, nw), mode="bicubic", align_corners=False)
    top = int(round((nh - size) / 2.0))
    left = int(round((nw - size) / 2.0))
    x = x[:, :, top:top + size, left:left + size]
    x = (x + 1) / 2
    mean = torch.tensor(CLIP_MEAN, dtype=x.dtype).reshape(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, dtype=x.dtype).reshape(1, 3, 1, 1)
    return (x - mean) / std


# ------------------------------------------------------ our CNN encoder

class CnnBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm = nn.GroupNorm(8, cout, eps=1e-5)

    def forward(self, x):
        return F.silu(self.norm(self.conv(x)))


class CnnVisual(nn.Module):
    def __init__(self, stem, widths, depth, embed):
        super().__init__()
        self.stem = CnnBlock(3, stem, 1)
        stages = []
        cin = stem
        for w in widths:
            stages.append(nn.ModuleList(
                [CnnBlock(cin if b == 0 else w, w, 2 if b == 0 else 1)
                 for b in range(depth)]))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(cin, embed)

    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            for b, block in enumerate(stage):
                x = block(x) if b == 0 else x + block(x)
        return self.head(x.mean(dim=(2, 3)))


class CnnClip(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.visual = CnnVisual(**kw)


# ------------------------------------------------------------- VGG19

VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
             512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]


class VGG19(nn.Module):
    """torchvision's vgg19().features (the classifier is not needed)."""

    def __init__(self, avg_pool=False):
        super().__init__()
        layers, cin = [], 3
        for v in VGG19_CFG:
            if v == "M":
                layers.append(nn.AvgPool2d(2, 2) if avg_pool
                              else nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1),
                           nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*layers)


def vgg_tap_names():
    names, b, i = ["input"], 1, 1
    for v in VGG19_CFG:
        if v == "M":
            names.append("pool%d" % b)
            b, i = b + 1, 1
        else:
            names += ["conv%d_%d" % (b, i), "relu%d_%d" % (b, i)]
            i += 1
    return names


def vgg_taps(model, x):
    outs = [x]
    for layer in model.features:
        x = layer(x)
        outs.append(x)
    return outs


# ------------------------------------------------------- Inception-v3

class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class InceptionA(nn.Module):
    def __init__(self, cin, pool_features, fid):
        super().__init__()
        self.fid = fid
        self.branch1x1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(cin, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = F.avg_pool2d(x, 3, 1, 1, count_include_pad=not self.fid)
        return torch.cat([b1, b5, b3, self.branch_pool(bp)], 1)


class InceptionB(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3(x)
        bd = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([b3, bd, F.max_pool2d(x, 3, 2)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin, c7, fid):
        super().__init__()
        self.fid = fid
        self.branch1x1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7),
                                       padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1),
                                       padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1),
                                          padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7),
                                          padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1),
                                          padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7),
                                          padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = self.branch7x7dbl_1(x)
        for m in (self.branch7x7dbl_2, self.branch7x7dbl_3,
                  self.branch7x7dbl_4, self.branch7x7dbl_5):
            bd = m(bd)
        bp = F.avg_pool2d(x, 3, 1, 1, count_include_pad=not self.fid)
        return torch.cat([b1, b7, bd, self.branch_pool(bp)], 1)


class InceptionD(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7),
                                         padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1),
                                         padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x):
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_1(x)
        for m in (self.branch7x7x3_2, self.branch7x7x3_3,
                  self.branch7x7x3_4):
            b7 = m(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, 3, 2)], 1)


class InceptionE(nn.Module):
    """pool: "avg" (torchvision), "avg_nopad" (FID E_1), "max" (FID E_2)"""

    def __init__(self, cin, pool):
        super().__init__()
        self.pool = pool
        self.branch1x1 = BasicConv2d(cin, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(cin, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3),
                                        padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1),
                                        padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3),
                                           padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1),
                                           padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, kernel_size=1)

    def forward(self, x):
        b1 = self.branch1x1(x)
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "max":
            bp = F.max_pool2d(x, 3, 1, 1)
        else:
            bp = F.avg_pool2d(x, 3, 1, 1,
                              count_include_pad=self.pool == "avg")
        return torch.cat([b1, b3, bd, self.branch_pool(bp)], 1)


class Inception3(nn.Module):
    """torchvision's Inception3 without AuxLogits; fid=True applies
    pytorch-fid's patches (FIDInceptionA/C/E_1/E_2, 1008 classes)."""

    def __init__(self, fid):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, 32, fid)
        self.Mixed_5c = InceptionA(256, 64, fid)
        self.Mixed_5d = InceptionA(288, 64, fid)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128, fid)
        self.Mixed_6c = InceptionC(768, 160, fid)
        self.Mixed_6d = InceptionC(768, 160, fid)
        self.Mixed_6e = InceptionC(768, 192, fid)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, "avg_nopad" if fid else "avg")
        self.Mixed_7c = InceptionE(2048, "max" if fid else "avg")
        self.fc = nn.Linear(2048, 1008 if fid else 1000)

    def forward(self, x, resize):
        """x in [-1, 1]; returns block0, block1, mixed_6e, pool, logits."""
        if resize:
            x = F.interpolate(x, size=(299, 299), mode="bilinear",
                              align_corners=False)
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        b0 = F.max_pool2d(x, 3, 2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(b0))
        b1 = F.max_pool2d(x, 3, 2)
        x = b1
        for m in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                  self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = m(x)
        m6e = x
        for m in (self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = m(x)
        pool = F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)
        return b0, b1, m6e, pool, self.fc(pool)


def check_torchvision_names(vgg_names, inc_names):
    try:
        import torchvision
    except ImportError:
        print("torchvision not installed: names not cross-checked",
              file=sys.stderr)
        return
    tv = [k for k in torchvision.models.vgg19().state_dict()
          if k.startswith("features.")]
    assert tv == vgg_names, "VGG19 names differ from torchvision's"
    tv = [k for k in torchvision.models.Inception3(
        aux_logits=False, init_weights=False).state_dict()
        if not k.endswith("num_batches_tracked")]
    assert sorted(tv) == sorted(inc_names), \
        "Inception names differ from torchvision's"
    print("state-dict names match torchvision %s" % torchvision.__version__,
          file=sys.stderr)


# ------------------------------------------------------- golden output

class Golden:
    def __init__(self):
        self.tensors = OrderedDict()
        self.cases = OrderedDict()

    def put(self, name, t, dtype=torch.float32):
        self.tensors[name] = t.detach().to(dtype).contiguous()

    def put_sampled(self, name, t):
        flat = t.detach().reshape(-1)
        stride = max(1, -(-flat.numel() // SAMPLES))
        self.put(name, flat[::stride])
        return stride


def tensor_bytes(t):
    t = t.contiguous()
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size())


def write_safetensors(path, tensors, metadata=None):
    """A minimal writer (the format of t2i/safetensors.h)."""
    codes = {torch.float32: "F32", torch.int32: "I32", torch.float64: "F64"}
    header, blobs, off = OrderedDict(), [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        b = tensor_bytes(t)
        header[name] = {"dtype": codes[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    dt = {"F32": torch.float32, "F16": torch.float16, "I64": torch.int64,
          "I32": torch.int32, "F64": torch.float64, "BF16": torch.bfloat16}
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = OrderedDict()
    for name, info in header.items():
        a, b = info["data_offsets"]
        raw = bytearray(data[8 + n + a:8 + n + b])
        t = torch.frombuffer(raw, dtype=dt[info["dtype"]]) if raw else \
            torch.empty(0, dtype=dt[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out, meta


# ---------------------------------------------------------------- cases

def tokens_for(case, n, ctx, vocab, lengths):
    """[SOT, ids..., EOT, 0...] rows; SOT = vocab-2, EOT = vocab-1."""
    ids = formula("tokens:" + case, (n, ctx), 1.0, vocab - 2.0).long()
    t = torch.zeros(n, ctx, dtype=torch.long)
    for r, l in enumerate(lengths):
        t[r, 0] = vocab - 2
        t[r, 1:l - 1] = ids[r, 1:l - 1]
        t[r, l - 1] = vocab - 1
    return t


def case_clip_vit(g):
    case = "clip_vit"
    cfg = dict(embed_dim=64, image_resolution=32, vision_layers=2,
               vision_width=192, vision_patch_size=8, context_length=77,
               vocab_size=1000, transformer_width=128, transformer_heads=2,
               transformer_layers=2)
    model = CLIP(**cfg).double().eval()
    state = fill_formula(model)
    sd = model.state_dict()
    tokens = tokens_for(case, 3, 77, 1000, [2, 9, 77])
    pooled, per_token = model.encode_text_full(tokens)
    images = image_input(case, (2, 3, 40, 52)).requires_grad_(True)
    pre = clip_preprocess(images, 32)
    emb = model.encode_image(pre)
    r = cotangent(case, tuple(emb.shape))
    (emb * r).sum().backward()
    imn = emb / emb.norm(dim=-1, keepdim=True)
    txn = pooled / pooled.norm(dim=-1, keepdim=True)
    logits = model.logit_scale.exp() * imn @ txn.t()
    g.put(case + "/tokens", tokens, torch.int32)
    g.put(case + "/text", pooled)
    g.put(case + "/per_token", per_token)
    g.put(case + "/preprocessed", pre)
    g.put(case + "/image", emb)
    g.put(case + "/image_grad", images.grad)
    g.put(case + "/logits", logits)
    g.cases[case] = {"config": build_model_config(sd), "state": state,
                     "input": [2, 3, 40, 52]}


def case_clip_text(g):
    case = "clip_text"
    cfg = dict(embed_dim=32, image_resolution=0, vision_layers=0,
               vision_width=0, vision_patch_size=0, context_length=16,
               vocab_size=300, transformer_width=64, transformer_heads=1,
               transformer_layers=1)
    model = CLIP(vision=False, **cfg).double().eval()
    state = fill_formula(model)
    state = [e for e in state if e[0] != "logit_scale"]   # text-only file
    tokens = tokens_for(case, 2, 16, 300, [5, 16])
    pooled, per_token = model.encode_text_full(tokens)
    g.put(case + "/tokens", tokens, torch.int32)
    g.put(case + "/text", pooled)
    g.put(case + "/per_token", per_token)
    g.cases[case] = {"config": build_model_config(model.state_dict()),
                     "state": state}


def case_clip_cnn(g):
    case = "clip_cnn"
    kw = dict(stem=16, widths=[16, 32], depth=2, embed=24)
    model = CnnClip(**kw).double().eval()
    state = fill_formula(model)
    images = image_input(case, (2, 3, 32, 32)).requires_grad_(True)
    emb = model.visual(images)
    r = cotangent(case, tuple(emb.shape))
    (emb * r).sum().backward()
    g.put(case + "/image", emb)
    g.put(case + "/image_grad", images.grad)
    g.cases[case] = {"config": kw, "state": state, "input": [2, 3, 32, 32]}


def case_preprocess(g):
    # upsampling, tall input (the width is the shorter side)
    case = "preprocess_up"
    x = image_input(case, (1, 3, 27, 20))
    g.put(case + "/out", clip_preprocess(x, 32))
    g.put(case + "/resize", F.interpolate(x, size=(13, 29), mode="bicubic",
                                          align_corners=False))
    g.cases[case] = {"input": [1, 3, 27, 20], "size": 32,
                     "resize": [13, 29]}


def case_vgg(g):
    model = VGG19().double().eval()
    state = fill_formula(model)
    taps = vgg_tap_names()
    assert len(taps) == 38
    mean = torch.tensor([0.485, 0.456, 0.406],
                        dtype=torch.float64).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225],
                       dtype=torch.float64).reshape(1, 3, 1, 1)
    for case, avg, mode in (("vgg_max_imagenet", False, "imagenet"),
                            ("vgg_avg_bgr255", True, "bgr255")):
        m = VGG19(avg_pool=avg).double().eval()
        m.load_state_dict(model.state_dict())
        x = image_input(case, (1, 3, 32, 32))
        if mode == "imagenet":
            xin = ((x + 1) / 2 - mean) / std
        else:
            xin = (x.flip(1) + 1) * 127.5
        strides = {}
        with torch.no_grad():
            for name, t in zip(taps, vgg_taps(m, xin)):
                strides[name] = g.put_sampled("%s/%s" % (case, name), t)
                g.put("%s/%s.abssum" % (case, name),
                      t.abs().sum().reshape(1))
        g.cases[case] = {"pool": "avg" if avg else "max", "input_mode": mode,
                         "input": [1, 3, 32, 32], "strides": strides}
    g.cases["vgg_state"] = {"state": state}
    return [e[0] for e in state]


def case_inception(g):
    names = None
    for case, fid, shape, resize in (
            ("inception_fid", True, (2, 3, 64, 80), True),
            ("inception_tv", False, (1, 3, 75, 75), False)):
        model = Inception3(fid).double().eval()
        state = fill_formula(model)
        names = [e[0] for e in state if not e[0].startswith("fc.")]
        x = image_input(case, shape).requires_grad_(not fid)
        b0, b1, m6e, pool, logits = model(x, resize)
        strides = {}
        for name, t in (("block0", b0), ("block1", b1), ("mixed_6e", m6e)):
            strides[name] = g.put_sampled("%s/%s" % (case, name), t)
            g.put("%s/%s.abssum" % (case, name), t.abs().sum().reshape(1))
        g.put(case + "/pool", pool)
        g.put(case + "/logits", logits)
        if not fid:
            r = cotangent(case, tuple(pool.shape))
            (pool * r).sum().backward()
            g.put(case + "/pool_grad", x.grad)
        g.cases[case] = {"fid": fid, "input": list(shape), "resize": resize,
                         "classes": 1008 if fid else 1000, "state": state,
                         "strides": strides}
    return names + ["fc.weight", "fc.bias"]


# ------------------------------------------------ convert-checkpoint

def load_converter():
    path = os.path.join(HERE, "..", "scripts", "convert-checkpoint")
    loader = importlib.machinery.SourceFileLoader("convert_checkpoint", path)
    spec = importlib.util.spec_from_loader("convert_checkpoint", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def check_conversion(conv, src_path, dst_path, expected, args=()):
    rc = conv.main(list(args) + [src_path, dst_path])
    assert rc == 0, "convert-checkpoint failed on " + src_path
    got, meta = read_safetensors(dst_path)
    assert list(got) == list(expected), (
        "names differ: %s" % sorted(set(got) ^ set(expected)))
    for k, v in expected.items():
        assert got[k].dtype == torch.float32, k
        assert torch.equal(got[k], v.float()), k
    return meta


def test_converter():
    conv = load_converter()
    with tempfile.TemporaryDirectory() as tmp:
        # OpenAI CLIP as a TorchScript archive with fp16 weights and the
        # scalar entries build_model() deletes
        model = CLIP(embed_dim=16, image_resolution=16, vision_layers=1,
                     vision_width=64, vision_patch_size=8, context_length=8,
                     vocab_size=50, transformer_width=64,
                     transformer_heads=1, transformer_layers=1).eval()
        fill_formula(model)
        del model.context_length
        model.register_buffer("input_resolution", torch.tensor(16))
        model.register_buffer("context_length", torch.tensor(8))
        model.register_buffer("vocab_size", torch.tensor(50))
        image = torch.zeros(1, 3, 16, 16)
        text = torch.zeros(1, 8, dtype=torch.long)
        traced = torch.jit.trace(model, (image, text), check_trace=False)
        half = {}
        for name, p in traced.named_parameters():
            if p.dim() >= 2 and "embedding" not in name:
                p.data = p.data.half()      # as convert_weights()
            half[name] = p.data
        src = os.path.join(tmp, "clip.pt")
        torch.jit.save(traced, src)
        expected = OrderedDict((k, v) for k, v in
                               torch.jit.load(src).state_dict().items()
                               if k not in ("input_resolution",
                                            "context_length", "vocab_size"))
        assert any(v.dtype == torch.float16 for v in expected.values())
        meta = check_conversion(conv, src, os.path.join(tmp, "clip.st"),
                                expected)
        assert meta.get("t2i.kind") == "clip", meta

        # the same as a plain state dict with a "module." wrapper
        sd = OrderedDict(("module." + k, v) for k, v in expected.items())
        src = os.path.join(tmp, "clip-sd.pt")
        torch.save({"state_dict": sd}, src)
        check_conversion(conv, src, os.path.join(tmp, "clip-sd.st"), expected)

        # torchvision VGG19 features and the FID Inception as .pth state
        # dicts (with num_batches_tracked, which the conversion drops)
        for name, m, kind in (("vgg", VGG19(), "vgg19"),
                              ("inception", Inception3(True), "inception")):
            fill_formula(m)
            src = os.path.join(tmp, name + ".pth")
            torch.save(m.state_dict(), src)
            expected = OrderedDict((k, v) for k, v in m.state_dict().items()
                                   if not k.endswith("num_batches_tracked"))
            meta = check_conversion(conv, src, os.path.join(tmp, name + ".st"),
                                    expected)
            assert meta.get("t2i.kind") == kind, meta
        # --prefix
        got, _ = read_safetensors(os.path.join(tmp, "vgg.st"))
        check_conversion(conv, os.path.join(tmp, "vgg.pth"),
                         os.path.join(tmp, "vgg-p.st"),
                         OrderedDict(("teacher." + k, v)
                                     for k, v in got.items()),
                         ["--prefix", "teacher."])
    print("convert-checkpoint: OK", file=sys.stderr)


def main():
    torch.manual_seed(0)
    g = Golden()
    case_clip_vit(g)
    case_clip_text(g)
    case_clip_cnn(g)
    case_preprocess(g)
    vgg_names = case_vgg(g)
    inc_names = case_inception(g)
    check_torchvision_names(vgg_names, inc_names)
    test_converter()

    os.makedirs(OUT_DIR, exist_ok=True)
    write_safetensors(os.path.join(OUT_DIR, "models.safetensors"), g.tensors,
                      {"generator": "tests/gen-models-golden.py",
                       "torch": torch.__version__})
    with open(os.path.join(OUT_DIR, "models.json"), "w") as f:
        json.dump({"samples": SAMPLES, "cases": g.cases}, f, indent=None,
                  separators=(",", ":"))
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT_DIR, n))
                for n in os.listdir(OUT_DIR))
    print("wrote %s (%d bytes)" % (OUT_DIR, total), file=sys.stderr)


if __name__ == "__main__":
    main()
