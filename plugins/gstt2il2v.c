/* t2il2v: DiST-GAN's language-to-vision module.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2il2v
 * @title: t2il2v
 *
 * DiST-GAN's L2V module T (Yang et al. 2023, eq. 1): maps the per-token
 * text embeddings v_w of a caption (@input, f32 [N, L, D], from
 * t2itextencoder token-features=, with the mask of real tokens @mask from
 * token-mask=) to one intermediate embedding v_m (@output, f32 [N,
 * @embed-dim]) that the generator is conditioned on and that t2iloss
 * kind=dist-vl aligns with the CLIP image embedding of the paired image
 * (eq. 5).  @arch (core/models/l2v.c):
 *
 * - `transformer` (default): in_proj to @width, @layers pre-LN residual
 *   blocks with causal self-attention (CLIP's convention: the padding after
 *   a caption's end token never reaches its real tokens), ln_final, the
 *   mean over the real tokens and a projection to @embed-dim.  The paper
 *   does not fix T; a transformer over the tokens is what lets it weigh
 *   words against each other (an attribute against the noun it
 *   qualifies), which a mean of token embeddings cannot;
 * - `mlp`: the mean of the real tokens' embeddings through a ReLU MLP of
 *   @layers hidden layers, the cheap baseline.
 *
 * It trains with the generator: give both the same group= (e.g. group=G)
 * so the generator's losses and dist-vl update both, and the moving
 * average and the checkpoint hold both.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itextsrc text="a red circle" batch-size=2 ! t2itextencoder width=64 layers=1 embed-dim=32 token-features=tokens token-mask=tokens_mask ! t2il2v embed-dim=32 width=64 layers=1 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2il2v.h"

#define EXAMPLE "t2itextsrc text=\"a red circle\" batch-size=2 ! " \
    "t2itextencoder width=64 layers=1 embed-dim=32 token-features=tokens " \
    "token-mask=tokens_mask ! t2il2v embed-dim=32 width=64 layers=1 ! " \
    "fakesink"

struct _T2iL2v
{
  T2iNetwork parent;
};

G_DEFINE_TYPE (T2iL2v, t2i_l2v, T2I_TYPE_NETWORK);
GST_ELEMENT_REGISTER_DEFINE (t2il2v, "t2il2v", GST_RANK_NONE, T2I_TYPE_L2V);

static void
t2i_l2v_class_init (T2iL2vClass * klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  t2i_network_class_set_role (T2I_NETWORK_CLASS (klass), T2I_ROLE_L2V,
      "transformer");
  gst_element_class_set_static_metadata (ec, "t2i language-to-vision",
      "Filter/Tensor", "Maps per-token text embeddings to one embedding in "
      "the image-embedding space (DiST-GAN's L2V module)", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_l2v_init (T2iL2v * self)
{
}
