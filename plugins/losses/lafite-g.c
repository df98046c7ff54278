/* kind=lafite-g: the whole generator objective of LAFITE, eq. 9.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static gboolean
check (const T2iLossArgs * a, const GstStructure * in, GError ** error)
{
  if (!t2i_losses_require_logits (in, "fake", a->fake, error))
    return FALSE;
  if (a->gamma != 0.0 && !t2i_losses_require_pair (in, "fake-features",
          a->fake_features, a->cond, error))
    return FALSE;
  return a->lambda == 0.0 || t2i_losses_require_pair (in, "image-features",
      a->image_features, a->cond, error);
}

/* @loss + @weight * contrastive(@features, cond) */
static T2iTensor *
add_term (const T2iLossArgs * a, GstBuffer * record, T2iTensor * loss,
    const char *prop, const char *features, double weight, GError ** error)
{
  T2iTensor *x = t2i_losses_get (record, prop, features, error);
  T2iTensor *h = x ? t2i_losses_get (record, "cond", a->cond, error) : NULL;
  if (!h)
    return NULL;
  g_autoptr (T2iTensor) c = t2i_losses_contrastive (x, h, a->tau,
      a->official_exp);
  g_autoptr (T2iTensor) wc = t2i_mul_scalar (c, weight);
  return t2i_add (loss, wc);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *fake = t2i_losses_get (record, "fake", a->fake, error);
  if (!fake)
    return NULL;
  g_autoptr (T2iTensor) loss = t2i_losses_gan_g (fake);
  if (a->gamma != 0.0) {
    T2iTensor *sum = add_term (a, record, loss, "fake-features",
        a->fake_features, a->gamma, error);
    if (!sum)
      return NULL;
    t2i_tensor_unref (loss);
    loss = sum;
  }
  if (a->lambda != 0.0) {
    T2iTensor *sum = add_term (a, record, loss, "image-features",
        a->image_features, a->lambda, error);
    if (!sum)
      return NULL;
    t2i_tensor_unref (loss);
    loss = sum;
  }
  return g_steal_pointer (&loss);
}

const T2iLossKind t2i_loss_kind_lafite_g = {
  "lafite-g",
  "L_G + gamma L_ConD(fake-features, cond) + lambda L_ConG(image-features, "
  "cond) (eq. 9)",
  NULL,
  T2I_LOSS_ARG_FAKE | T2I_LOSS_ARG_FAKE_FEATURES |
      T2I_LOSS_ARG_IMAGE_FEATURES | T2I_LOSS_ARG_COND | T2I_LOSS_ARG_TAU |
      T2I_LOSS_ARG_OFFICIAL_EXP | T2I_LOSS_ARG_GAMMA | T2I_LOSS_ARG_LAMBDA,
  check,
  compute,
};
