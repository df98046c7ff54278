/* kind=sdn-image: SDN's image space loss (eq. 2), and with choices = n > 1
 * the multiple-choice image term of eq. 4: for each item the least L1
 * distance among its n candidates, averaged over the batch.  Also the L1
 * helpers of kind=sdn-stage1 and sdn-stage2 (losses.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "fake",
      "Generated images I_s, f32 [N, 3 choices, H, W]: choices candidates "
      "of 3 channels (t2igenerator arch=sdn output=)"),
  T2I_LOSS_ENTRY ("real", "image", "Paired real images I_r, f32 [N, 3, H, W]"),
  T2I_OPTION_INT ("choices", 1, 1, 64, 0,
      "Candidates n per item (the generator's choices=): the loss takes the "
      "least distance among them (multiple choice learning, eq. 4)"),
  T2I_OPTION_CHOICE ("reduce", "sum", "mean|sum", 0,
      "||.||_1 as the paper writes it, summed over each item's elements "
      "(sum), or averaged over them (mean: the released code's "
      "tf.reduce_mean); either way averaged over the batch"),
  {NULL}
};

T2iTensor *
t2i_losses_sdn_l1 (T2iTensor * a, T2iTensor * b, gint n, gboolean sum)
{
  const gint64 items = a->shape[0];
  g_autoptr (T2iTensor) a3 = t2i_reshape (a, T2I_SHAPE (items, 1, -1));
  g_autoptr (T2iTensor) b3 = t2i_reshape (b, T2I_SHAPE (items, n, -1));
  g_autoptr (T2iTensor) d = t2i_sub (b3, a3);
  g_autoptr (T2iTensor) ad = t2i_abs (d);
  return sum ? t2i_sum (ad, 2, FALSE) : t2i_mean (ad, 2, FALSE);
}

T2iTensor *
t2i_losses_sdn_min_mean (T2iTensor * per)
{
  /* min_p = -max_p(-x): the gradient reaches the best candidate only */
  g_autoptr (T2iTensor) neg = t2i_neg (per);
  g_autoptr (T2iTensor) best = t2i_max (neg, 1, FALSE);
  g_autoptr (T2iTensor) mean = t2i_mean (best, T2I_ALL_AXES, FALSE);
  return t2i_neg (mean);
}

gboolean
t2i_losses_sdn_require_images (const GstStructure * in,
    const GstStructure * config, const char *real_prop,
    const char *fake_prop, gint choices, GError ** error)
{
  gint64 rs[T2I_MAX_DIMS], fs[T2I_MAX_DIMS];
  if (!t2i_losses_require (in, config, real_prop, 4, error)
      || !t2i_losses_require (in, config, fake_prop, 4, error))
    return FALSE;
  const char *real = t2i_config_string (config, real_prop);
  const char *fake = t2i_config_string (config, fake_prop);
  t2i_caps_get_entry (in, real, NULL, NULL, rs);
  t2i_caps_get_entry (in, fake, NULL, NULL, fs);
  if (rs[1] != 3 || fs[1] != 3 * choices || rs[0] != fs[0] || rs[2] != fs[2]
      || rs[3] != fs[3]) {
    g_autofree char *a = t2i_shape_to_string (4, rs);
    g_autofree char *b = t2i_shape_to_string (4, fs);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s %s and %s=%s %s must be N real images [N, 3, H, W] and their "
        "%d generated candidates [N, %d, H, W] (choices=%d)", real_prop,
        real, a, fake_prop, fake, b, choices, 3 * choices, choices);
    return FALSE;
  }
  return TRUE;
}

T2iTensor *
t2i_losses_sdn_image (T2iTensor * real, T2iTensor * fake, gint choices,
    gboolean sum)
{
  g_autoptr (T2iTensor) per = t2i_losses_sdn_l1 (real, fake, choices, sum);
  return t2i_losses_sdn_min_mean (per);
}

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  return t2i_losses_sdn_require_images (in, config, "real", "input",
      t2i_config_int (config, "choices"), error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  T2iTensor *fake = t2i_losses_get (record, a->config, "input", error);
  T2iTensor *real = fake ? t2i_losses_get (record, a->config, "real", error)
      : NULL;
  if (!real)
    return NULL;
  return t2i_losses_sdn_image (real, fake, t2i_config_int (a->config,
          "choices"), g_str_equal (t2i_config_string (a->config, "reduce"),
          "sum"));
}

const T2iLossKind t2i_loss_kind_sdn_image = {
  "sdn-image",
  "SDN's image space loss (eq. 2): ||I_r - I_s||_1 between real= and the "
  "generated input=, averaged over the batch; with choices=n the least of "
  "the n candidates' distances per item (eq. 4)",
  options, check, compute,
};
