/* kind=l1: the mean absolute difference, VQGAN's reconstruction term.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "recon", "What is compared, f32 [N, ...]"),
  T2I_LOSS_ENTRY ("target", "image", "What it should equal, same shape"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_require_same (in, config, "input", "target", error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *x = t2i_losses_get (record, a->config, "input", error);
  T2iTensor *y = x ? t2i_losses_get (record, a->config, "target", error) :
      NULL;
  if (!y)
    return NULL;
  g_autoptr (T2iTensor) d = t2i_sub (x, y);
  g_autoptr (T2iTensor) ad = t2i_abs (d);
  return t2i_mean (ad, T2I_ALL_AXES, FALSE);
}

const T2iLossKind t2i_loss_kind_l1 = {
  "l1",
  "mean |input - target| over every element",
  options, check, compute,
};
