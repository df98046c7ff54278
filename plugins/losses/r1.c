/* kind=r1: StyleGAN2's lazy R1 penalty on the real images.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("real", "d/real",
      "Discriminator logits of the real images, [N]"),
  T2I_LOSS_ENTRY ("image", "image",
      "Real images, the gradient leaf R1 differentiates with respect to"),
  T2I_LOSS_OPTION_R1_GAMMA,
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require_logits (in, config, "real", error)
      && t2i_losses_require (in, config, "image", 4, error);
}

/* runs on the records every= picks (the T2iLoss base class), scaled by
 * the interval: lazy regularisation */
static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *real = t2i_losses_get (record, a->config, "real", error);
  T2iTensor *image = real ? t2i_losses_get (record, a->config, "image",
      error) : NULL;
  if (!image)
    return NULL;
  g_autoptr (T2iTensor) r1 = t2i_losses_r1 (real, image,
      t2i_config_double (a->config, "r1-gamma"), error);
  return r1 ? t2i_mul_scalar (r1, (double) MAX (a->every, 1)) : NULL;
}

const T2iLossKind t2i_loss_kind_r1 = {
  "r1",
  "every * r1-gamma / 2 * mean ||grad_image D(real)||^2 on the records "
  "every= picks (lazy R1: every=16)",
  options, check, compute,
};
