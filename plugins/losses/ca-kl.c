/* kind=ca-kl: the conditioning augmentation's KL term (ICSD-GAN eq. 4,
 * L_CA; StackGAN's regulariser).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("mu", "ca/mu", "Means mu(t), f32 [N, D] (t2icondaug)"),
  T2I_LOSS_ENTRY ("logvar", "ca/logvar",
      "Log variances log sigma^2(t), f32 [N, D] (t2icondaug)"),
  T2I_OPTION_CHOICE ("reduce", "sum", "mean|sum", 0,
      "sum: D_KL(N(mu, Sigma) || N(0, I)) of each item, summed over the D "
      "dimensions, averaged over the batch (the paper's); mean: averaged "
      "over every element too (AttnGAN's and StackGAN's code: 1/D of it)"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  gint64 ms[T2I_MAX_DIMS], ls[T2I_MAX_DIMS];
  if (!t2i_losses_require (in, config, "mu", 2, error)
      || !t2i_losses_require (in, config, "logvar", 2, error))
    return FALSE;
  const char *mu = t2i_config_string (config, "mu");
  const char *lv = t2i_config_string (config, "logvar");
  t2i_caps_get_entry (in, mu, NULL, NULL, ms);
  t2i_caps_get_entry (in, lv, NULL, NULL, ls);
  if (ms[0] != ls[0] || ms[1] != ls[1]) {
    g_autofree char *a = t2i_shape_to_string (2, ms);
    g_autofree char *b = t2i_shape_to_string (2, ls);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "mu=%s %s and logvar=%s %s must have one shape", mu, a, lv, b);
    return FALSE;
  }
  return TRUE;
}

T2iTensor *
t2i_losses_ca_kl (T2iTensor * mu, T2iTensor * logvar, gboolean mean)
{
  /* 1/2 (mu^2 + sigma^2 - log sigma^2 - 1) per dimension */
  g_autoptr (T2iTensor) m2 = t2i_square (mu);
  g_autoptr (T2iTensor) v = t2i_exp (logvar);
  g_autoptr (T2iTensor) a = t2i_add (m2, v);
  g_autoptr (T2iTensor) b = t2i_sub (a, logvar);
  g_autoptr (T2iTensor) c = t2i_add_scalar (b, -1.0);
  g_autoptr (T2iTensor) kl = t2i_mul_scalar (c, 0.5);
  if (mean)
    return t2i_mean (kl, T2I_ALL_AXES, FALSE);
  g_autoptr (T2iTensor) per_item = t2i_sum (kl, 1, FALSE);
  return t2i_mean (per_item, T2I_ALL_AXES, FALSE);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *mu = t2i_losses_get (record, a->config, "mu", error);
  T2iTensor *lv = mu ? t2i_losses_get (record, a->config, "logvar", error)
      : NULL;
  if (!lv)
    return NULL;
  return t2i_losses_ca_kl (mu, lv, g_str_equal (t2i_config_string
          (a->config, "reduce"), "mean"));
}

const T2iLossKind t2i_loss_kind_ca_kl = {
  "ca-kl",
  "Conditioning augmentation's KL term (ICSD-GAN eq. 4, L_CA): D_KL(N(mu, "
  "Sigma) || N(0, I)) = 1/2 sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - "
  "1), averaged over the batch (reduce=mean: over every element, as "
  "AttnGAN's code)",
  options, check, compute,
};
