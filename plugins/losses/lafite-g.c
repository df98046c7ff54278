/* kind=lafite-g: the whole generator objective of LAFITE, eq. 9.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("fake", "d/fake",
      "Discriminator logits of the generated images, [N]"),
  T2I_LOSS_ENTRY ("fake-features", "d/fake_fs",
      "Discriminator features f_s of the generated images"),
  T2I_LOSS_ENTRY ("image-features", "fake_feat",
      "Image-encoder features of the generated images"),
  T2I_LOSS_OPTION_COND,
  T2I_LOSS_OPTION_TAU,
  T2I_LOSS_OPTION_OFFICIAL_EXP,
  T2I_OPTION_DOUBLE ("gamma", 10.0, 0.0, 1e6, 0,
      "Weight of L_ConD in eq. 8-9"),
  T2I_OPTION_DOUBLE ("lambda", 10.0, 0.0, 1e6, 0,
      "Weight of L_ConG in eq. 9 (0 without an image encoder)"),
  {NULL}
};

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  if (!t2i_losses_require_logits (in, config, "fake", error))
    return FALSE;
  if (t2i_config_double (config, "gamma") != 0.0
      && !t2i_losses_require_pair (in, config, "fake-features", error))
    return FALSE;
  return t2i_config_double (config, "lambda") == 0.0
      || t2i_losses_require_pair (in, config, "image-features", error);
}

/* @loss + @weight L_Con(features @prop, cond) */
static T2iTensor *
add_term (const T2iLossArgs * a, GstBuffer * record, T2iTensor * loss,
    const char *prop, double weight, GError ** error)
{
  T2iTensor *x = t2i_losses_get (record, a->config, prop, error);
  T2iTensor *h = x ? t2i_losses_get (record, a->config, "cond", error) : NULL;
  if (!h)
    return NULL;
  g_autoptr (T2iTensor) c = t2i_losses_contrastive (x, h,
      t2i_config_double (a->config, "tau"), t2i_config_boolean (a->config,
          "official-exp"));
  g_autoptr (T2iTensor) wc = t2i_mul_scalar (c, weight);
  return t2i_add (loss, wc);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  static const char *const props[2] = { "fake-features", "image-features" };
  static const char *const weights[2] = { "gamma", "lambda" };
  T2iTensor *fake = t2i_losses_get (record, a->config, "fake", error);
  if (!fake)
    return NULL;
  g_autoptr (T2iTensor) loss = t2i_losses_gan_g (fake);
  for (gint i = 0; i < 2; i++) {
    const double w = t2i_config_double (a->config, weights[i]);
    if (w == 0.0)
      continue;
    T2iTensor *sum = add_term (a, record, loss, props[i], w, error);
    if (!sum)
      return NULL;
    t2i_tensor_unref (loss);
    loss = sum;
  }
  return g_steal_pointer (&loss);
}

const T2iLossKind t2i_loss_kind_lafite_g = {
  "lafite-g",
  "L_G + gamma L_ConD(fake-features, cond) + lambda L_ConG(image-features, "
  "cond) (eq. 9)",
  options, check, compute,
};
