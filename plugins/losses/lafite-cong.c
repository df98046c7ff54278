/* kind=lafite-cong: LAFITE's contrastive regulariser L_ConG (eq. 7).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "fake_feat",
      "Features x: a frozen image encoder's features of the "
      "generated images"),
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

const T2iLossKind t2i_loss_kind_lafite_cong = {
  "lafite-cong",
  "L_ConG (eq. 7): -tau mean_i log softmax_j(cos(x_j, h'_i) / tau)[i] "
  "between input= (f_img of a frozen image encoder on the generated "
  "images) and cond=",
  options, check, compute,
};
