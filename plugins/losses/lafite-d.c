/* kind=lafite-d: the whole discriminator objective of LAFITE, eq. 8, plus
 * StyleGAN2's lazy R1.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("real", "d/real",
      "Discriminator logits of the real images, [N]"),
  T2I_LOSS_ENTRY ("fake", "d/fake",
      "Discriminator logits of the generated images, [N]"),
  T2I_LOSS_ENTRY ("real-features", "d/real_fs",
      "Discriminator features f_s of the real images"),
  T2I_LOSS_OPTION_COND,
  T2I_LOSS_ENTRY ("image", "image",
      "Real images, the gradient leaf R1 differentiates with respect to"),
  T2I_LOSS_OPTION_TAU,
  T2I_LOSS_OPTION_OFFICIAL_EXP,
  T2I_OPTION_DOUBLE ("gamma", 10.0, 0.0, 1e6, 0,
      "Weight of L_ConD in eq. 8-9"),
  T2I_LOSS_OPTION_R1_GAMMA,
  T2I_OPTION_INT ("r1-every", 16, 0, G_MAXINT, 0,
      "Lazy R1 interval: the R1 term runs on records whose step is a "
      "multiple, scaled by the interval (0 disables R1)"),
  {NULL}
};

static gboolean
r1_enabled (const GstStructure * config)
{
  return t2i_config_int (config, "r1-every") > 0
      && t2i_config_double (config, "r1-gamma") != 0.0;
}

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  if (!t2i_losses_require_logits (in, config, "real", error)
      || !t2i_losses_require_logits (in, config, "fake", error))
    return FALSE;
  if (t2i_config_double (config, "gamma") != 0.0
      && !t2i_losses_require_pair (in, config, "real-features", error))
    return FALSE;
  return !r1_enabled (config) || t2i_losses_require (in, config, "image", 4,
      error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  const GstStructure *c = a->config;
  T2iTensor *real = t2i_losses_get (record, c, "real", error);
  T2iTensor *fake = real ? t2i_losses_get (record, c, "fake", error) : NULL;
  if (!fake)
    return NULL;
  g_autoptr (T2iTensor) loss = t2i_losses_gan_d (real, fake);

  const double gamma = t2i_config_double (c, "gamma");
  if (gamma != 0.0) {
    T2iTensor *fs = t2i_losses_get (record, c, "real-features", error);
    T2iTensor *h = fs ? t2i_losses_get (record, c, "cond", error) : NULL;
    if (!h)
      return NULL;
    g_autoptr (T2iTensor) con = t2i_losses_contrastive (fs, h,
        t2i_config_double (c, "tau"), t2i_config_boolean (c,
            "official-exp"));
    g_autoptr (T2iTensor) wc = t2i_mul_scalar (con, gamma);
    T2iTensor *sum = t2i_add (loss, wc);
    t2i_tensor_unref (loss);
    loss = sum;
  }
  /* R1 trains D only: pipelines without a trainer (evaluation) skip it */
  const gint every = t2i_config_int (c, "r1-every");
  if (r1_enabled (c) && a->step % every == 0 && t2i_grad_enabled ()) {
    T2iTensor *image = t2i_losses_get (record, c, "image", error);
    g_autoptr (T2iTensor) r1 = image ? t2i_losses_r1 (real, image,
        t2i_config_double (c, "r1-gamma"), error) : NULL;
    if (!r1)
      return NULL;
    g_autoptr (T2iTensor) wr = t2i_mul_scalar (r1, (double) every);
    T2iTensor *sum = t2i_add (loss, wr);
    t2i_tensor_unref (loss);
    loss = sum;
  }
  return g_steal_pointer (&loss);
}

const T2iLossKind t2i_loss_kind_lafite_d = {
  "lafite-d",
  "L_D + gamma L_ConD(real-features, cond) (eq. 8) + r1-every * r1-gamma / "
  "2 E||grad D(real)||^2 on training steps that are multiples of r1-every",
  options, check, compute,
};
