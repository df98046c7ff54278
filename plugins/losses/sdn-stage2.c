/* kind=sdn-stage2: SDN's Stage-II distillation (eq. 3, and eq. 5 with
 * choices > 1): the L1 distance between the teacher's levels on the real
 * image (real=vgg/real) and on the generated image (fake=vgg/synth: the
 * same frozen teacher run on the generator's output, t2iimageencoder
 * share=), plus the image space loss.  With choices = n the teacher sees
 * the n candidates as n images per item (t2igenerator arch=sdn
 * candidates=) and the loss takes, per item, the least bracket of eq. 5.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_OPTION_SDN_LEVELS ("vgg/synth",
      "Prefix of the teacher's levels on the generated images "
      "phi^D_l(I_s), f32 [N choices, C, h, w] (a t2iimageencoder share= of "
      "the teacher on the generator's output, or its candidates= with "
      "choices > 1)"),
  T2I_LOSS_OPTION_SDN_IMAGE,
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  const gint choices = t2i_config_int (config, "choices");
  if (!t2i_losses_sdn_require_levels (in, config, choices, error))
    return FALSE;
  return t2i_config_double (config, "image-weight") == 0.0
      || t2i_losses_sdn_require_images (in, config, "image", "input",
      choices, error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  const gint choices = t2i_config_int (a->config, "choices");
  /* [N, n]: sum_l ||phi^D_l(I_r) - phi^D_l(I_s^p)||_1 */
  g_autoptr (T2iTensor) levels = t2i_losses_sdn_levels (record, a->config,
      choices, error);
  if (!levels)
    return NULL;
  const double iw = t2i_config_double (a->config, "image-weight");
  g_autoptr (T2iTensor) total = NULL;
  if (iw == 0.0) {
    total = t2i_tensor_ref (levels);
  } else {
    T2iTensor *fake = t2i_losses_get (record, a->config, "input", error);
    T2iTensor *real = fake ? t2i_losses_get (record, a->config, "image",
        error) : NULL;
    if (!real)
      return NULL;
    g_autoptr (T2iTensor) img = t2i_losses_sdn_l1 (real, fake, choices,
        g_str_equal (t2i_config_string (a->config, "reduce"), "sum"));
    g_autoptr (T2iTensor) wimg = t2i_mul_scalar (img, iw);
    total = t2i_add (levels, wimg);
  }
  /* eq. 3 averaged over the batch; eq. 5: min_p of the whole bracket */
  return t2i_losses_sdn_min_mean (total);
}

const T2iLossKind t2i_loss_kind_sdn_stage2 = {
  "sdn-stage2",
  "SDN's Stage-II distillation (eq. 3): sum over layers= of "
  "||phi^D_l(I_r) - phi^D_l(I_s)||_1 between the teacher's levels on the "
  "real image real=P/l and on the generated one fake=P/l, plus "
  "image-weight times the image loss (eq. 2); with choices=n the least "
  "of the n candidates' totals per item (eq. 5)",
  options, check, compute,
};
