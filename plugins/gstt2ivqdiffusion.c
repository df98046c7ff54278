/* t2ivqdiffusion: CLIP-VQDiffusion's diffusion image decoder.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2ivqdiffusion
 * @title: t2ivqdiffusion
 *
 * The discrete diffusion model of CLIP-VQDiffusion (Han & Kim 2024): a
 * transformer that predicts the tokens x_0 of an image (a VQGAN's codes,
 * from t2ivqgan mode=encode) from their noised version x_t, conditioned on
 * one CLIP embedding (@cond, f32 [N, E]).  It trains language-free: the
 * condition is the CLIP *image* embedding of the training image, perturbed
 * by t2iperturb; it draws from the CLIP *text* embedding of a caption,
 * the two being aligned by CLIP.
 *
 * - @mode=train reads the tokens x_0 (@tokens, i32 [N, h, w]), draws a
 *   step t per item (importance sampling once every step has been drawn
 *   more than 10 times, as the released code: @importance) and x_t ~ q(x_t
 *   | x_0) (the mask-and-replace process of t2i/vqdiffusion.h), and adds
 *   the logits of p(x_0 | x_t) (@logits, f32 [N, K, h w]), @xt, @t and
 *   @pt for t2iloss kind=vq-diffusion.  With @drop-condition=p an item's
 *   condition is the learned null embedding with probability p: the
 *   classifier-free guidance fine-tuning (fine-tune a trained model with
 *   @null-condition=true weights-strict=false, which adds the embedding).
 * - @mode=sample runs the reverse process from all-mask tokens (@steps,
 *   VQ-Diffusion's fast sampling when fewer than @timesteps), keeps the
 *   top-r codes of p(x_0 | x_t) (@truncation) and mixes the conditional
 *   and null predictions with @guidance, and adds the tokens (@tokens).
 *
 * @arch (core/models/arch-vqdiffusion.c):
 *
 * - `transformer` (default): the released Condition2ImageTransformer
 *   ("selfcondition"): content, row and column embeddings; per block
 *   self-attention after an AdaLN on the step, and a convolutional MLP
 *   after an AdaLN on the CLIP embedding (eq. 9, no cross-attention);
 *   a LayerNorm and a linear head to the K codes.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itextsrc text="a red circle" batch-size=2 ! t2itextencoder width=32 layers=1 embed-dim=16 output=h ! t2ivqdiffusion mode=sample codes=16 grid=4 width=32 layers=1 heads=2 timesteps=10 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2ivqdiffusion.h"

#define EXAMPLE "t2itextsrc text=\"a red circle\" batch-size=2 ! " \
    "t2itextencoder width=32 layers=1 embed-dim=16 output=h ! " \
    "t2ivqdiffusion mode=sample codes=16 grid=4 width=32 layers=1 heads=2 " \
    "timesteps=10 ! fakesink"

struct _T2iVqDiffusion
{
  T2iNetwork parent;
};

G_DEFINE_TYPE (T2iVqDiffusion, t2i_vqdiffusion, T2I_TYPE_NETWORK);
GST_ELEMENT_REGISTER_DEFINE (t2ivqdiffusion, "t2ivqdiffusion",
    GST_RANK_NONE, T2I_TYPE_VQDIFFUSION);

static void
t2i_vqdiffusion_class_init (T2iVqDiffusionClass * klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  t2i_network_class_set_role (T2I_NETWORK_CLASS (klass),
      T2I_ROLE_VQDIFFUSION, "transformer");
  gst_element_class_set_static_metadata (ec, "t2i discrete diffusion",
      "Filter/Tensor/Generator", "Predicts image tokens from noised ones "
      "conditioned on a CLIP embedding, and samples them "
      "(CLIP-VQDiffusion)", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_vqdiffusion_init (T2iVqDiffusion * self)
{
}
