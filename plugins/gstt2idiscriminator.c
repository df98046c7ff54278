/* t2idiscriminator: scores real and generated images.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2idiscriminator
 * @title: t2idiscriminator
 *
 * Scores real images (@real, f32 [N, 3, R, R]) and generated ones (@fake,
 * same shape) with one network (two forward passes) and adds, with P =
 * @output:
 *
 * - `P/real`, `P/fake`, f32 [N]: the logits D(x, h') = f_d(x) + <h',
 *   f_s(x)> of LAFITE's eq. 4, per item (@cond-logit=per-sample, the
 *   paper), with the batch sum of f_s(x) . h' (batch-sum, the official
 *   code) or f_d(x) alone (none);
 * - `P/real_fs`, `P/fake_fs`, f32 [N, cond-dim]: the semantic features
 *   f_s(x), for the contrastive losses; L2-normalised with
 *   @normalize-features.
 *
 * With @cond empty the discriminator is unconditional.  Either of @real
 * and @fake may be empty to score one kind of image only.  @arch picks the
 * network (t2i/arch.h); a property the architecture does not read is an
 * error:
 *
 * - `stylegan2` (core/models/stylegan2.c): StyleGAN2's residual
 *   discriminator, fromRGB then per resolution two 3x3 convolutions (the
 *   second blurs and strides) and a 1x1 skip, minibatch standard
 *   deviation (@mbstd-group), a 3x3 convolution, an FC and the output f_d;
 *   the head f_s is an FC from the same features (`D.b4.fts`);
 * - `patchgan` (core/models/arch-patchgan.c): pix2pix's PatchGAN, the
 *   discriminator VQGAN trains against (t2iloss kind=hinge-d, hinge-g):
 *   strided 4x4 convolutions with BatchNorm, one logit per patch (`P/real`
 *   and `P/fake` are f32 [N, patches]); unconditional.
 *
 * R1 regularisation (t2iloss kind=r1 or lafite-d) needs the gradient of
 * the real logits with respect to the real images: with
 * @real-requires-grad, while the pipeline trains, the @real entry is
 * replaced by a detached alias that is a gradient leaf, and scored.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2idatasetsrc dataset=shapes batch-size=4 resolution=16 max-steps=1 ! t2inoise output=h dim=16 ! t2idiscriminator real=image fake="" cond=h channels=32 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2idiscriminator.h"

#define EXAMPLE "t2idatasetsrc dataset=shapes batch-size=4 resolution=16 " \
    "max-steps=1 ! t2inoise output=h dim=16 ! t2idiscriminator real=image " \
    "fake=\"\" cond=h channels=32 ! fakesink"

struct _T2iDiscriminator
{
  T2iNetwork parent;
};

G_DEFINE_TYPE (T2iDiscriminator, t2i_discriminator, T2I_TYPE_NETWORK);
GST_ELEMENT_REGISTER_DEFINE (t2idiscriminator, "t2idiscriminator",
    GST_RANK_NONE, T2I_TYPE_DISCRIMINATOR);

static void
t2i_discriminator_class_init (T2iDiscriminatorClass * klass)
{
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  t2i_network_class_set_role (T2I_NETWORK_CLASS (klass),
      T2I_ROLE_DISCRIMINATOR, "stylegan2");
  gst_element_class_set_static_metadata (ec, "t2i discriminator",
      "Filter/Tensor/Discriminator",
      "Scores real and generated images and extracts semantic features "
      "(StyleGAN2, LAFITE)", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_discriminator_init (T2iDiscriminator * self)
{
}
