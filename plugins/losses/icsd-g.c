/* kind=icsd-g: one stage's adversarial generator objective of ICSD-GAN,
 * L_Gi = L_Gi^TF + lambda L_Gi^ASL (eq. 3, 6, 7).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("scores", "d",
      "Prefix P of the stage's discriminator outputs (t2idiscriminator "
      "arch=msgan output=): P/fake, P/fake_uncond, P/fake_sim"),
  T2I_OPTION_DOUBLE ("lambda", 1.0, 0.0, 1e6, 0,
      "Weight lambda of the adversarial similarity loss (eq. 3)"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  const char *prefix = t2i_config_string (config, "scores");
  return t2i_losses_require_scores (in, prefix, "fake", error)
      && t2i_losses_require_scores (in, prefix, "fake_uncond", error)
      && (t2i_config_double (config, "lambda") == 0.0
      || t2i_losses_require_scores (in, prefix, "fake_sim", error));
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  const char *prefix = t2i_config_string (a->config, "scores");
  T2iTensor *fc = t2i_losses_get_score (record, prefix, "fake", error);
  T2iTensor *fu = fc ? t2i_losses_get_score (record, prefix, "fake_uncond",
      error) : NULL;
  if (!fu)
    return NULL;
  /* eq. 6: -E log D(I^g, t) - E log D(I^g) */
  g_autoptr (T2iTensor) c = t2i_losses_gan_g (fc);
  g_autoptr (T2iTensor) u = t2i_losses_gan_g (fu);
  g_autoptr (T2iTensor) tf = t2i_add (c, u);
  const double lambda = t2i_config_double (a->config, "lambda");
  if (lambda == 0.0)
    return g_steal_pointer (&tf);
  T2iTensor *fs = t2i_losses_get_score (record, prefix, "fake_sim", error);
  if (!fs)
    return NULL;
  g_autoptr (T2iTensor) asl = t2i_losses_asl_g (fs);
  g_autoptr (T2iTensor) wa = t2i_mul_scalar (asl, lambda);
  return t2i_add (tf, wa);
}

const T2iLossKind t2i_loss_kind_icsd_g = {
  "icsd-g",
  "One stage's adversarial generator objective of ICSD-GAN (eq. 3): "
  "L_Gi^TF (eq. 6) + lambda L_Gi^ASL (eq. 7) from the outputs scores=P of "
  "t2idiscriminator arch=msgan",
  options, check, compute,
};
