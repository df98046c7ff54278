/* kind=hinge-g: the generator's side of the hinge GAN loss.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("fake", "d/fake",
      "Logits of the generated images, [N, ...]"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require (in, config, "fake", 0, error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *fake = t2i_losses_get (record, a->config, "fake", error);
  if (!fake)
    return NULL;
  g_autoptr (T2iTensor) m = t2i_mean (fake, T2I_ALL_AXES, FALSE);
  return t2i_neg (m);
}

const T2iLossKind t2i_loss_kind_hinge_g = {
  "hinge-g",
  "-mean D(fake), the generator's hinge loss",
  options, check, compute,
};
