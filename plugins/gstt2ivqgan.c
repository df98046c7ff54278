/* t2ivqgan: the Gumbel VQGAN image tokenizer.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2ivqgan
 * @title: t2ivqgan
 *
 * The image tokenizer of CLIP-VQDiffusion (Han & Kim 2024): a VQGAN whose
 * quantiser is a Gumbel-softmax over a codebook (taming-transformers'
 * GumbelVQ).  Images (f32 [N, 3, R, R] in [-1, 1]) become grids of
 * tokens (i32 [N, R / f, R / f], f = 2^(levels - 1)) that t2ivqdiffusion
 * learns to draw, and tokens become images again.
 *
 * - @mode=encode: the tokens, the most probable code at each position.
 *   The released codec samples them with Gumbel noise even at inference;
 *   t2i takes the argmax, so an image always gives the same tokens.
 * - @mode=decode: the images of the tokens, clamped to [-1, 1].
 * - @mode=autoencode (training): the tokens, the reconstructions (@output)
 *   and the KL of the code distribution to the uniform one (@kl, the
 *   Gumbel quantiser's regulariser: weight it with t2iloss kind=mean).
 *   While it trains, the codes are drawn by a hard Gumbel-softmax at a
 *   temperature annealed from @temperature to @min-temperature over
 *   @anneal-steps (cosine, the record's step), with the soft sample's
 *   gradient (straight-through); otherwise by the argmax.
 *
 * pipelines/vqgan-train.t2i trains it with L1, perceptual (the project's
 * VGG19) and PatchGAN terms (t2idiscriminator arch=patchgan).
 *
 * @arch (core/models/arch-vqgan.c):
 *
 * - `gumbel` (default): encoder, quant_conv, the quantiser's projection to
 *   code logits, codebook, post_quant_conv and decoder with the released
 *   names, so taming's checkpoints load.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2idatasetsrc dataset=shapes batch-size=2 resolution=16 max-steps=1 ! t2ivqgan channels=16 ch-mult=1,2 groups=8 z-channels=8 embed-dim=8 codes=16 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2ivqgan.h"

#define EXAMPLE "t2idatasetsrc dataset=shapes batch-size=2 resolution=16 " \
    "max-steps=1 ! t2ivqgan channels=16 ch-mult=1,2 groups=8 z-channels=8 " \
    "embed-dim=8 codes=16 ! fakesink"

struct _T2iVqGan
{
  T2iNetwork parent;
};

G_DEFINE_TYPE (T2iVqGan, t2i_vqgan, T2I_TYPE_NETWORK);
GST_ELEMENT_REGISTER_DEFINE (t2ivqgan, "t2ivqgan", GST_RANK_NONE,
    T2I_TYPE_VQGAN);

static void
t2i_vqgan_class_init (T2iVqGanClass * klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  t2i_network_class_set_role (T2I_NETWORK_CLASS (klass), T2I_ROLE_VQGAN,
      "gumbel");
  gst_element_class_set_static_metadata (ec, "t2i VQGAN tokenizer",
      "Filter/Tensor/Encoder", "Turns images into grids of codebook tokens "
      "and back (Gumbel VQGAN)", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_vqgan_init (T2iVqGan * self)
{
}
