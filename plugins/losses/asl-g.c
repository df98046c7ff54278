/* kind=asl-g: MS-GAN's adversarial similarity loss of the generator
 * (ICSD-GAN eq. 7, L_G^ASL).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("fake-sim", "d/fake_sim",
      "Similarity scores d(t, f_im^g) of the generated images, [N] (eq. 8)"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require_logits (in, config, "fake-sim", error);
}

T2iTensor *
t2i_losses_asl_g (T2iTensor * fake)
{
  g_autoptr (T2iTensor) m = t2i_mean (fake, T2I_ALL_AXES, FALSE);
  return t2i_neg (m);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *g = t2i_losses_get (record, a->config, "fake-sim", error);
  return g ? t2i_losses_asl_g (g) : NULL;
}

const T2iLossKind t2i_loss_kind_asl_g = {
  "asl-g",
  "Adversarial similarity loss of G (ICSD-GAN eq. 7): -mean d(t, f_im^g), "
  "the similarity scores of the generated images",
  options, check, compute,
};
