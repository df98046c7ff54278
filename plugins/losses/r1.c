/* kind=r1: StyleGAN2's lazy R1 penalty on the real images.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static gboolean
check (const T2iLossArgs * a, const GstStructure * in, GError ** error)
{
  return t2i_losses_require_logits (in, "real", a->real, error)
      && t2i_losses_require (in, "image", a->image, 4, error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *real = t2i_losses_get (record, "real", a->real, error);
  T2iTensor *image = real ? t2i_losses_get (record, "image", a->image,
      error) : NULL;
  if (!image)
    return NULL;
  if (!t2i_losses_r1_due (a))
    return t2i_tensor_scalar (real->dtype, 0.0);
  g_autoptr (T2iTensor) r1 = t2i_losses_r1 (real, image, a->r1_gamma, error);
  return r1 ? t2i_mul_scalar (r1, (double) a->every) : NULL;
}

const T2iLossKind t2i_loss_kind_r1 = {
  "r1",
  "every * r1-gamma / 2 * mean ||grad_image D(real)||^2 on steps that are "
  "multiples of every, 0 on the others (lazy R1)",
  NULL,
  T2I_LOSS_ARG_REAL | T2I_LOSS_ARG_IMAGE | T2I_LOSS_ARG_R1_GAMMA |
      T2I_LOSS_ARG_EVERY,
  check,
  compute,
};
