/* kind=icsd-d: one stage's whole discriminator objective of ICSD-GAN,
 * L_Di = L_Di^TF + lambda L_Di^ASL (eq. 3, 5, 7).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("scores", "d",
      "Prefix P of the stage's discriminator outputs (t2idiscriminator "
      "arch=msgan output=): P/real, P/fake (conditional logits), "
      "P/real_uncond, P/fake_uncond, P/real_sim, P/wrong_sim, P/fake_sim "
      "(and P/wrong with tf=attngan)"),
  T2I_OPTION_DOUBLE ("lambda", 1.0, 0.0, 1e6, 0,
      "Weight lambda of the adversarial similarity loss (eq. 3)"),
  T2I_OPTION_CHOICE ("tf", "paper", "paper|attngan", 0,
      "The true/false term: paper, eq. 5 (conditional and unconditional "
      "BCE of real and generated images); attngan, AttnGAN's code: (real "
      "uncond + real cond) / 2 + (fake uncond + fake cond + wrong cond) / 3"),
  {NULL}
};

static gboolean
attngan (const GstStructure * config)
{
  return g_str_equal (t2i_config_string (config, "tf"), "attngan");
}

/* the entries of the discriminator outputs this configuration reads */
static GPtrArray *
needed (const GstStructure * config)
{
  static const char *const tf[] = { "real", "fake", "real_uncond",
    "fake_uncond"
  };
  static const char *const asl[] = { "real_sim", "wrong_sim", "fake_sim" };
  GPtrArray *a = g_ptr_array_new ();
  for (guint i = 0; i < G_N_ELEMENTS (tf); i++)
    g_ptr_array_add (a, (gpointer) tf[i]);
  if (attngan (config))
    g_ptr_array_add (a, (gpointer) "wrong");
  if (t2i_config_double (config, "lambda") != 0.0)
    for (guint i = 0; i < G_N_ELEMENTS (asl); i++)
      g_ptr_array_add (a, (gpointer) asl[i]);
  return a;
}

/* checks P/what, one score per item */
gboolean
t2i_losses_require_scores (const GstStructure * in, const char *prefix,
    const char *what, GError ** error)
{
  g_autofree char *name = g_strconcat (prefix, "/", what, NULL);
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;
  if (!t2i_caps_require (in, name, NULL, 0, NULL, error)) {
    g_prefix_error (error, "scores=%s: ", prefix);
    return FALSE;
  }
  t2i_caps_get_entry (in, name, NULL, &ndim, shape);
  if (ndim != 1 && !(ndim == 2 && shape[1] == 1)) {
    g_autofree char *s = t2i_shape_to_string (ndim, shape);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "scores=%s: %s must hold one score per item, [N] or [N,1], not %s",
        prefix, name, s);
    return FALSE;
  }
  return TRUE;
}

T2iTensor *
t2i_losses_get_score (GstBuffer * record, const char *prefix,
    const char *what, GError ** error)
{
  g_autofree char *name = g_strconcat (prefix, "/", what, NULL);
  T2iTensor *t = t2i_record_get_tensor (record, name);
  if (!t || (t->dtype != T2I_F32 && t->dtype != T2I_F64)) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "scores=%s: the record has no float tensor %s (it has: %s)", prefix,
        name, has);
    return NULL;
  }
  return t;
}

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  const char *prefix = t2i_config_string (config, "scores");
  g_autoptr (GPtrArray) a = needed (config);
  for (guint i = 0; i < a->len; i++)
    if (!t2i_losses_require_scores (in, prefix, a->pdata[i], error))
      return FALSE;
  return TRUE;
}

/* mean softplus(sign x): BCE of logits x against 1 (sign -1) or 0 (+1) */
static T2iTensor *
bce (T2iTensor * x, double sign)
{
  g_autoptr (T2iTensor) s = t2i_mul_scalar (x, sign);
  g_autoptr (T2iTensor) sp = t2i_softplus (s);
  return t2i_mean (sp, T2I_ALL_AXES, FALSE);
}

/* sum of @n terms, each times @scale */
static T2iTensor *
sum_scaled (T2iTensor ** terms, gint n, double scale)
{
  T2iTensor *s = t2i_tensor_ref (terms[0]);
  for (gint i = 1; i < n; i++) {
    T2iTensor *next = t2i_add (s, terms[i]);
    t2i_tensor_unref (s);
    s = next;
  }
  if (scale == 1.0)
    return s;
  T2iTensor *r = t2i_mul_scalar (s, scale);
  t2i_tensor_unref (s);
  return r;
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  const char *prefix = t2i_config_string (a->config, "scores");
  g_autoptr (GPtrArray) names = needed (a->config);
  T2iTensor *s[8] = { NULL };
  for (guint i = 0; i < names->len; i++) {
    s[i] = t2i_losses_get_score (record, prefix, names->pdata[i], error);
    if (!s[i])
      return NULL;
  }
  /* s: real, fake, real_uncond, fake_uncond, [wrong], [sims] */
  g_autoptr (T2iTensor) rc = bce (s[0], -1.0);
  g_autoptr (T2iTensor) fc = bce (s[1], 1.0);
  g_autoptr (T2iTensor) ru = bce (s[2], -1.0);
  g_autoptr (T2iTensor) fu = bce (s[3], 1.0);
  g_autoptr (T2iTensor) tf = NULL;
  guint next = 4;
  if (attngan (a->config)) {
    g_autoptr (T2iTensor) wc = bce (s[next++], 1.0);
    g_autoptr (T2iTensor) real = sum_scaled ((T2iTensor *[]) { ru, rc }, 2,
        0.5);
    g_autoptr (T2iTensor) fake = sum_scaled ((T2iTensor *[]) { fu, fc, wc },
        3, 1.0 / 3.0);
    tf = t2i_add (real, fake);
  } else {
    /* eq. 5: the conditional and the unconditional terms */
    tf = sum_scaled ((T2iTensor *[]) { rc, fc, ru, fu }, 4, 1.0);
  }
  const double lambda = t2i_config_double (a->config, "lambda");
  if (lambda == 0.0)
    return g_steal_pointer (&tf);
  g_autoptr (T2iTensor) asl = t2i_losses_asl_d (s[next], s[next + 1],
      s[next + 2]);
  g_autoptr (T2iTensor) wa = t2i_mul_scalar (asl, lambda);
  return t2i_add (tf, wa);
}

const T2iLossKind t2i_loss_kind_icsd_d = {
  "icsd-d",
  "One stage's discriminator objective of ICSD-GAN (eq. 3): L_Di^TF "
  "(eq. 5, or AttnGAN's weighting with tf=attngan) + lambda L_Di^ASL "
  "(eq. 7) from the outputs scores=P of t2idiscriminator arch=msgan",
  options, check, compute,
};
