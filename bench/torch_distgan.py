"""PyTorch side of bench/run's DiST-GAN cases (bench/method.c): the
training step of pipelines/distgan-train.t2i (the full model, Base+L2V+Ada)
at ch=64, batch 32, 32 px, with the frozen CLIP towers of
models/clip-shapes.safetensors.

    distgan-train-step   one measurement, printed under both names: t2i
    distgan-core-step    runs the step through t2i-launch and its core API

One step, as the pipeline takes it: the frozen CLIP text tower gives the
normalised sentence embedding t, the per-token features v_w and their
mask; the frozen image tower the normalised embedding v_x of the real
images; the L2V module (trained with G) v_m = T(v_w) over the positions up
to the batch's longest caption; x' = G(v_m, z); D on x (a gradient leaf,
for R1) and x', conditioned on t; D's loss L_D (+ 16 x R1, gamma 0.0064, on
steps that are multiples of 16); G's and T's L_G + 10 L_con(CLIP(x'), t)
(eq. 3-4, tau 1, adaptive) + 10 L_vl(v_m, v_x) (eq. 5); Adam and G's (and
T's) moving average as torch_lafite.py's trainer.

Networks: torch_lafite.py's G and D (tests/gen-lafite-golden.py's), the
CLIP towers of tests/gen-models-golden.py (OpenAI's text transformer, our
CNN image tower) with the file's weights, and tests/gen-distgan-golden.py's
L2V module and losses (all imported).  Token ids are random, each caption
ending with its end token at length 6 to L2V_TOKENS: the L2V module runs
on the batch's longest caption, and L2V_TOKENS = 13 is the longest of the
shapes dataset's first batch (bench-t2i prints the mean over its steps).

SPDX-License-Identifier: LGPL-2.1-or-later
"""
import importlib

import torch
import torch.nn.functional as F

import torch_lafite as tl

dg = importlib.import_module("gen-distgan-golden")
mg = tl.mg
lg = tl.lg

L2V_WIDTH, L2V_LAYERS = 256, 2
L2V_TOKENS = 13
CON_WEIGHT, VL_WEIGHT, CON_TAU = 10.0, 10.0, 1.0


def clip_text(sd):
    """the file's text tower, frozen; (module, its config)"""
    text = {k: v for k, v in sd.items() if not k.startswith("visual.")}
    cfg = mg.build_model_config(text)
    m = mg.CLIP(embed_dim=cfg["embed_dim"], image_resolution=0,
                vision_layers=0, vision_width=0, vision_patch_size=0,
                context_length=cfg["context_length"],
                vocab_size=cfg["vocab_size"],
                transformer_width=cfg["text_width"],
                transformer_heads=cfg["text_heads"],
                transformer_layers=cfg["text_layers"], vision=False)
    m.load_state_dict(text)
    m.requires_grad_(False)
    return m, cfg


def l2v_params(token_dim, embed):
    dg.TOKEN_DIM, dg.WIDTH, dg.EMB = token_dim, L2V_WIDTH, embed
    dg.LAYERS, dg.HEADS = L2V_LAYERS, L2V_WIDTH // 64
    return dg.l2v_weights("transformer", torch.Generator().manual_seed(0))


class DistGan:
    def __init__(self):
        torch.manual_seed(0)
        tl.use_sizes(tl.RES, tl.MAP_LAYERS, tl.MBSTD)
        sd = tl.clip_file()
        self.clip_image, kw = tl.clip_image(sd)
        self.clip_text, cfg = clip_text(sd)
        embed, width = cfg["embed_dim"], cfg["text_width"]
        self.l2v = l2v_params(width, embed)
        self.g, self.d = tl.g_params(embed), tl.d_params(embed)
        self.trainer = tl.Trainer(self.g, self.d, self.l2v.values())
        self.real = torch.rand(tl.BATCH, 3, tl.RES, tl.RES) * 2 - 1
        ctx, vocab = cfg["context_length"], cfg["vocab_size"]
        lengths = [6 + i % (L2V_TOKENS - 5) for i in range(tl.BATCH)]
        self.tokens = torch.zeros(tl.BATCH, ctx, dtype=torch.long)
        for r, n in enumerate(lengths):
            self.tokens[r, 0] = vocab - 2
            self.tokens[r, 1:n - 1] = torch.randint(1, vocab - 2, (n - 2,))
            self.tokens[r, n - 1] = vocab - 1
        self.n = 0
        macs = 3 * tl.g_macs(embed) + 7 * tl.d_macs(embed) \
            + 3 * tl.cnn_macs(kw, tl.RES) \
            + tl.blocks_macs(ctx, width, cfg["text_layers"]) + width * embed \
            + 3 * (L2V_TOKENS * width * L2V_WIDTH
                   + tl.blocks_macs(L2V_TOKENS, L2V_WIDTH, L2V_LAYERS)
                   + L2V_WIDTH * embed)
        self.gflop = 2.0 * tl.BATCH * macs * 1e-9

    def step(self):
        with torch.no_grad():
            pooled, v_w = self.clip_text.encode_text_full(self.tokens)
            t = F.normalize(pooled, dim=1)
            mask = (torch.arange(self.tokens.shape[1])[None]
                    <= self.tokens.argmax(1)[:, None]).float()
            v_x = F.normalize(self.clip_image(self.real), dim=1)
        used = int(mask.sum(1).max())
        v_m = dg.l2v(self.l2v, v_w[:, :used], mask[:, :used], "transformer")
        fake = tl.generator(self.g, torch.randn(tl.BATCH, tl.Z_DIM), v_m)
        fake_emb = self.clip_image(fake)
        real = self.real.detach().requires_grad_(True)
        d_real, _ = lg.d_logits(self.d, real, t)
        d_fake, _ = lg.d_logits(self.d, fake, t)
        loss_d = lg.gan_d(d_real, d_fake)
        if self.n % tl.R1_EVERY == 0:
            loss_d = loss_d + tl.r1_penalty(d_real, real)
        loss_g = lg.gan_g(d_fake) \
            + CON_WEIGHT * dg.dist_con(fake_emb, t, tau=CON_TAU) \
            + VL_WEIGHT * dg.dist_vl(v_m, v_x)
        self.trainer.step(loss_d, loss_g)
        self.n += 1


def cases(wanted, samples):
    names = [n for n in ("distgan-train-step", "distgan-core-step")
             if wanted(n)]
    if names:
        tl.run_case(names, DistGan, samples)
