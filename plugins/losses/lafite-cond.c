/* kind=lafite-cond: LAFITE's contrastive regulariser L_ConD (eq. 6).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "d/real_fs",
      "Features x: f_s of the discriminator (d/fake_fs for the "
      "generator's term)"),
  T2I_LOSS_OPTION_COND,
  T2I_LOSS_OPTION_TAU,
  T2I_LOSS_OPTION_OFFICIAL_EXP,
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require_pair (in, config, "input", error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *x = t2i_losses_get (record, a->config, "input", error);
  T2iTensor *h = x ? t2i_losses_get (record, a->config, "cond", error) : NULL;
  return h ? t2i_losses_contrastive (x, h, t2i_config_double (a->config,
          "tau"), t2i_config_boolean (a->config, "official-exp")) : NULL;
}

const T2iLossKind t2i_loss_kind_lafite_cond = {
  "lafite-cond",
  "L_ConD (eq. 6): -tau mean_i log softmax_j(cos(x_j, h'_i) / tau)[i] "
  "between input= (f_s of the discriminator: d/real_fs, or d/fake_fs for "
  "the generator's term) and cond=",
  options, check, compute,
};
