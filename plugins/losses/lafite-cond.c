/* kind=lafite-cond: LAFITE's contrastive regulariser L_ConD (eq. 6).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static gboolean
check (const T2iLossArgs * a, const GstStructure * in, GError ** error)
{
  return t2i_losses_require_pair (in, "input", a->input, a->cond, error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *x = t2i_losses_get (record, "input", a->input, error);
  T2iTensor *h = x ? t2i_losses_get (record, "cond", a->cond, error) : NULL;
  return h ? t2i_losses_contrastive (x, h, a->tau, a->official_exp) : NULL;
}

const T2iLossKind t2i_loss_kind_lafite_cond = {
  "lafite-cond",
  "L_ConD (eq. 6): -tau mean_i log softmax_j(cos(x_j, h'_i) / tau)[i] "
  "between input= (f_s of the discriminator: d/real_fs, or d/fake_fs for "
  "the generator's term) and cond=",
  "d/real_fs",
  T2I_LOSS_ARG_INPUT | T2I_LOSS_ARG_COND | T2I_LOSS_ARG_TAU |
      T2I_LOSS_ARG_OFFICIAL_EXP,
  check,
  compute,
};
