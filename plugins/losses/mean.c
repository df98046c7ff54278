/* kind=mean: the mean of an entry, for a regulariser a network computes
 * itself (t2ivqgan's Gumbel KL).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "vq/kl",
      "The term, f32 of any shape (a scalar: itself)"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require (in, config, "input", 0, error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *x = t2i_losses_get (record, a->config, "input", error);
  return x ? t2i_mean (x, T2I_ALL_AXES, FALSE) : NULL;
}

const T2iLossKind t2i_loss_kind_mean = {
  "mean",
  "the mean of input= (a term a network computed)",
  options, check, compute,
};
