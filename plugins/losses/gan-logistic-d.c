/* kind=gan-logistic-d: the non-saturating logistic GAN loss of the
 * discriminator, LAFITE's L_D (eq. 5) as a batch mean.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("real", "d/real",
      "Discriminator logits of the real images, [N]"),
  T2I_LOSS_ENTRY ("fake", "d/fake",
      "Discriminator logits of the generated images, [N]"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require_logits (in, config, "real", error)
      && t2i_losses_require_logits (in, config, "fake", error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *real = t2i_losses_get (record, a->config, "real", error);
  T2iTensor *fake = real ? t2i_losses_get (record, a->config, "fake", error)
      : NULL;
  return fake ? t2i_losses_gan_d (real, fake) : NULL;
}

const T2iLossKind t2i_loss_kind_gan_logistic_d = {
  "gan-logistic-d",
  "mean softplus(D(fake)) + mean softplus(-D(real)) (eq. 5, L_D)",
  options, check, compute,
};
