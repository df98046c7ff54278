/* kind=gan-logistic-g: the non-saturating logistic GAN loss of the
 * generator, LAFITE's L_G (eq. 5) as a batch mean.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("fake", "d/fake",
      "Discriminator logits of the generated images, [N]"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require_logits (in, config, "fake", error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *fake = t2i_losses_get (record, a->config, "fake", error);
  return fake ? t2i_losses_gan_g (fake) : NULL;
}

const T2iLossKind t2i_loss_kind_gan_logistic_g = {
  "gan-logistic-g",
  "mean softplus(-D(fake)) (eq. 5, L_G)",
  options, check, compute,
};
