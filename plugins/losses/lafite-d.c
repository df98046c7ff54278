/* kind=lafite-d: the whole discriminator objective of LAFITE, eq. 8, plus
 * StyleGAN2's lazy R1.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static gboolean
r1_enabled (const T2iLossArgs * a)
{
  return a->every > 0 && a->r1_gamma != 0.0;
}

static gboolean
check (const T2iLossArgs * a, const GstStructure * in, GError ** error)
{
  if (!t2i_losses_require_logits (in, "real", a->real, error)
      || !t2i_losses_require_logits (in, "fake", a->fake, error))
    return FALSE;
  if (a->gamma != 0.0 && !t2i_losses_require_pair (in, "real-features",
          a->real_features, a->cond, error))
    return FALSE;
  return !r1_enabled (a) || t2i_losses_require (in, "image", a->image, 4,
      error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *real = t2i_losses_get (record, "real", a->real, error);
  T2iTensor *fake = real ? t2i_losses_get (record, "fake", a->fake, error)
      : NULL;
  if (!fake)
    return NULL;
  g_autoptr (T2iTensor) loss = t2i_losses_gan_d (real, fake);

  if (a->gamma != 0.0) {
    T2iTensor *fs = t2i_losses_get (record, "real-features",
        a->real_features, error);
    T2iTensor *h = fs ? t2i_losses_get (record, "cond", a->cond, error)
        : NULL;
    if (!h)
      return NULL;
    g_autoptr (T2iTensor) c = t2i_losses_contrastive (fs, h, a->tau,
        a->official_exp);
    g_autoptr (T2iTensor) wc = t2i_mul_scalar (c, a->gamma);
    T2iTensor *sum = t2i_add (loss, wc);
    t2i_tensor_unref (loss);
    loss = sum;
  }
  /* R1 trains D only: pipelines without a trainer (evaluation) skip it */
  if (t2i_losses_r1_due (a) && t2i_grad_enabled ()) {
    T2iTensor *image = t2i_losses_get (record, "image", a->image, error);
    g_autoptr (T2iTensor) r1 = image ? t2i_losses_r1 (real, image,
        a->r1_gamma, error) : NULL;
    if (!r1)
      return NULL;
    g_autoptr (T2iTensor) wr = t2i_mul_scalar (r1, (double) a->every);
    T2iTensor *sum = t2i_add (loss, wr);
    t2i_tensor_unref (loss);
    loss = sum;
  }
  return g_steal_pointer (&loss);
}

const T2iLossKind t2i_loss_kind_lafite_d = {
  "lafite-d",
  "L_D + gamma L_ConD(real-features, cond) (eq. 8) + every * r1-gamma / 2 "
  "E||grad D(real)||^2 on training steps that are multiples of every",
  NULL,
  T2I_LOSS_ARG_REAL | T2I_LOSS_ARG_FAKE | T2I_LOSS_ARG_REAL_FEATURES |
      T2I_LOSS_ARG_COND | T2I_LOSS_ARG_TAU | T2I_LOSS_ARG_OFFICIAL_EXP |
      T2I_LOSS_ARG_GAMMA | T2I_LOSS_ARG_IMAGE | T2I_LOSS_ARG_R1_GAMMA |
      T2I_LOSS_ARG_EVERY,
  check,
  compute,
};
