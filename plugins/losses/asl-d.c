/* kind=asl-d: MS-GAN's adversarial similarity loss of the discriminator
 * (ICSD-GAN eq. 7, L_D^ASL).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("real-sim", "d/real_sim",
      "Similarity scores d(t, f_im^r) of the real images and their texts, "
      "[N] (eq. 8)"),
  T2I_LOSS_ENTRY ("wrong-sim", "d/wrong_sim",
      "Similarity scores d(t, f_im^w) of mismatched real images, [N]"),
  T2I_LOSS_ENTRY ("fake-sim", "d/fake_sim",
      "Similarity scores d(t, f_im^g) of the generated images, [N]"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require_logits (in, config, "real-sim", error)
      && t2i_losses_require_logits (in, config, "wrong-sim", error)
      && t2i_losses_require_logits (in, config, "fake-sim", error);
}

/* mean max(0, 1 + sign x) */
static T2iTensor *
mean_hinge (T2iTensor * x, double sign)
{
  g_autoptr (T2iTensor) s = t2i_mul_scalar (x, sign);
  g_autoptr (T2iTensor) m = t2i_add_scalar (s, 1.0);
  g_autoptr (T2iTensor) h = t2i_relu (m);
  return t2i_mean (h, T2I_ALL_AXES, FALSE);
}

T2iTensor *
t2i_losses_asl_d (T2iTensor * real, T2iTensor * wrong, T2iTensor * fake)
{
  /* E[max(0, 1 - d_r) + (max(0, 1 + d_w) + max(0, 1 + d_g)) / 2] */
  g_autoptr (T2iTensor) r = mean_hinge (real, -1.0);
  g_autoptr (T2iTensor) w = mean_hinge (wrong, 1.0);
  g_autoptr (T2iTensor) g = mean_hinge (fake, 1.0);
  g_autoptr (T2iTensor) wg = t2i_add (w, g);
  g_autoptr (T2iTensor) half = t2i_mul_scalar (wg, 0.5);
  return t2i_add (r, half);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *r = t2i_losses_get (record, a->config, "real-sim", error);
  T2iTensor *w = r ? t2i_losses_get (record, a->config, "wrong-sim", error)
      : NULL;
  T2iTensor *g = w ? t2i_losses_get (record, a->config, "fake-sim", error)
      : NULL;
  return g ? t2i_losses_asl_d (r, w, g) : NULL;
}

const T2iLossKind t2i_loss_kind_asl_d = {
  "asl-d",
  "Adversarial similarity loss of D (ICSD-GAN eq. 7): mean max(0, 1 - "
  "d_r) + (max(0, 1 + d_w) + max(0, 1 + d_g)) / 2 of the similarity "
  "scores of real, mismatched and generated images",
  options, check, compute,
};
