/* kind=hinge-d: the hinge loss of the discriminator, as VQGAN trains its
 * PatchGAN (taming-transformers' hinge_d_loss).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("real", "d/real", "Logits of the real images, [N, ...]"),
  T2I_LOSS_ENTRY ("fake", "d/fake",
      "Logits of the generated images, [N, ...]"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require (in, config, "real", 0, error)
      && t2i_losses_require (in, config, "fake", 0, error);
}

/* mean(relu(1 + sign x)) */
static T2iTensor *
hinge (T2iTensor * x, double sign)
{
  g_autoptr (T2iTensor) s = t2i_mul_scalar (x, sign);
  g_autoptr (T2iTensor) m = t2i_add_scalar (s, 1.0);
  g_autoptr (T2iTensor) r = t2i_relu (m);
  return t2i_mean (r, T2I_ALL_AXES, FALSE);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *real = t2i_losses_get (record, a->config, "real", error);
  T2iTensor *fake = real ? t2i_losses_get (record, a->config, "fake",
      error) : NULL;
  if (!fake)
    return NULL;
  g_autoptr (T2iTensor) lr = hinge (real, -1.0);
  g_autoptr (T2iTensor) lf = hinge (fake, 1.0);
  g_autoptr (T2iTensor) sum = t2i_add (lr, lf);
  return t2i_mul_scalar (sum, 0.5);
}

const T2iLossKind t2i_loss_kind_hinge_d = {
  "hinge-d",
  "(mean relu(1 - D(real)) + mean relu(1 + D(fake))) / 2, taming's "
      "hinge_d_loss",
  options, check, compute,
};
