/* kind=sdn-stage1: SDN's Stage-I distillation (eq. 1, and eq. 4 with
 * choices > 1): the L1 distance between the teacher's levels on the real
 * image and the generator's own levels that mirror them, plus the image
 * space loss.  Levels pair by name under two prefixes: real=vgg/real holds
 * the teacher's taps (t2iimageencoder arch=vgg19 layers=sdn), fake=vgg/fake
 * the generator's (t2igenerator arch=sdn prefix=); the paper's phi^G_{l+1}
 * is the generator layer whose output mirrors the teacher's layer l, which
 * is the entry of the same tap name.  Also the level helpers sdn-stage2
 * shares (losses.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

static const T2iOption options[] = {
  T2I_LOSS_OPTION_SDN_LEVELS ("vgg/fake",
      "Prefix of the generator's levels phi^G, f32 [N, C, h, w] "
      "(t2igenerator arch=sdn prefix=)"),
  T2I_LOSS_OPTION_SDN_IMAGE,
  {NULL}
};

/* the tap names of layers= (NULL-terminated) */
static gchar **
layers_of (const GstStructure * config)
{
  const char *layers = t2i_config_string (config, "layers");
  if (!layers || g_strcmp0 (layers, "sdn") == 0)
    return g_strdupv ((gchar **) t2i_sdn_levels ());
  gchar **names = g_strsplit (layers, ",", -1);
  for (gchar ** n = names; *n; n++)
    g_strstrip (*n);
  return names;
}

/* the weights of level-weights=, one per layer (every 1 when unset; one
 * value applies to all) */
static double *
weights_of (const GstStructure * config, guint n, GError ** error)
{
  const char *text = t2i_config_string (config, "level-weights");
  double *w = g_new (double, n);
  for (guint i = 0; i < n; i++)
    w[i] = 1.0;
  if (!text || !*text)
    return w;
  g_auto (GStrv) parts = g_strsplit (text, ",", -1);
  const guint k = g_strv_length (parts);
  for (guint i = 0; i < k; i++) {
    char *end;
    const double v = g_ascii_strtod (g_strstrip (parts[i]), &end);
    if (!*parts[i] || *end || !(v >= 0.0 && v < G_MAXDOUBLE)
        || (k != 1 && k != n)) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "level-weights=%s: give one non-negative number, or one for each "
          "of the %u layers", text, n);
      g_free (w);
      return NULL;
    }
    if (k == 1)
      for (guint j = 0; j < n; j++)
        w[j] = v;
    else
      w[i] = v;
  }
  gboolean any = FALSE;
  for (guint i = 0; i < n; i++)
    any = any || w[i] > 0.0;
  if (!any) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "level-weights=%s: every level has weight 0 (drop the loss "
        "instead)", text);
    g_free (w);
    return NULL;
  }
  return w;
}

static gchar *
level_entry (const GstStructure * config, const char *prop, const char *tap)
{
  return g_strconcat (t2i_config_string (config, prop), "/", tap, NULL);
}

gboolean
t2i_losses_sdn_require_levels (const GstStructure * in,
    const GstStructure * config, gint fake_rows, GError ** error)
{
  g_auto (GStrv) layers = layers_of (config);
  const guint n = g_strv_length (layers);
  if (n == 0 || !*layers[0]) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "layers= is empty: name the levels to distil (or sdn)");
    return FALSE;
  }
  g_autofree double *w = weights_of (config, n, error);
  if (!w)
    return FALSE;
  for (guint i = 0; i < n; i++) {
    g_autofree gchar *real = level_entry (config, "real", layers[i]);
    g_autofree gchar *fake = level_entry (config, "fake", layers[i]);
    gint64 rs[T2I_MAX_DIMS], fs[T2I_MAX_DIMS];
    if (!t2i_caps_require (in, real, NULL, 4, NULL, error)) {
      g_prefix_error (error, "real=%s, layer %s: ",
          t2i_config_string (config, "real"), layers[i]);
      return FALSE;
    }
    if (!t2i_caps_require (in, fake, NULL, 4, NULL, error)) {
      g_prefix_error (error, "fake=%s, layer %s: ",
          t2i_config_string (config, "fake"), layers[i]);
      return FALSE;
    }
    t2i_caps_get_entry (in, real, NULL, NULL, rs);
    t2i_caps_get_entry (in, fake, NULL, NULL, fs);
    const gboolean rows_ok = rs[0] < 0 || fs[0] < 0
        || fs[0] == rs[0] * fake_rows;
    if (!rows_ok || rs[1] != fs[1] || rs[2] != fs[2] || rs[3] != fs[3]) {
      g_autofree char *a = t2i_shape_to_string (4, rs);
      g_autofree char *b = t2i_shape_to_string (4, fs);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "layer %s: %s %s and %s %s do not pair (%s); give the generator "
          "the teacher's width=", layers[i], real, a, fake, b,
          fake_rows > 1 ? "the second needs choices rows per item" :
          "they need one shape");
      return FALSE;
    }
  }
  return TRUE;
}

T2iTensor *
t2i_losses_sdn_levels (GstBuffer * record, const GstStructure * config,
    gint candidates, GError ** error)
{
  g_auto (GStrv) layers = layers_of (config);
  const guint n = g_strv_length (layers);
  g_autofree double *w = weights_of (config, n, error);
  if (!w)
    return NULL;
  const gboolean sum = g_str_equal (t2i_config_string (config, "reduce"),
      "sum");
  T2iTensor *total = NULL;
  for (guint i = 0; i < n; i++) {
    g_autofree gchar *rn = level_entry (config, "real", layers[i]);
    g_autofree gchar *fn = level_entry (config, "fake", layers[i]);
    T2iTensor *real = t2i_record_get_tensor (record, rn);
    T2iTensor *fake = t2i_record_get_tensor (record, fn);
    if (!real || !fake || fake->shape[0] != real->shape[0] * candidates
        || real->numel * candidates != fake->numel) {
      g_autofree char *has = t2i_record_describe (record);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "layer %s: needs %s and %s of one shape (with %d rows per item "
          "in the second) (the record has: %s)", layers[i], rn, fn,
          candidates, has);
      g_clear_pointer (&total, t2i_tensor_unref);
      return NULL;
    }
    if (w[i] == 0.0)
      continue;
    g_autoptr (T2iTensor) d = t2i_losses_sdn_l1 (real, fake, candidates,
        sum);
    g_autoptr (T2iTensor) wd = w[i] == 1.0 ? t2i_tensor_ref (d) :
        t2i_mul_scalar (d, w[i]);
    T2iTensor *t = total ? t2i_add (total, wd) : t2i_tensor_ref (wd);
    g_clear_pointer (&total, t2i_tensor_unref);
    total = t;
  }
  return total;
}

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  if (!t2i_losses_sdn_require_levels (in, config, 1, error))
    return FALSE;
  return t2i_config_double (config, "image-weight") == 0.0
      || t2i_losses_sdn_require_images (in, config, "image", "input",
      t2i_config_int (config, "choices"), error);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  g_autoptr (T2iTensor) levels = t2i_losses_sdn_levels (record, a->config, 1,
      error);
  if (!levels)
    return NULL;
  /* sum_l ||phi^D_l(I_r) - phi^G_{l+1}||_1, averaged over the batch */
  g_autoptr (T2iTensor) distil = t2i_mean (levels, T2I_ALL_AXES, FALSE);
  const double iw = t2i_config_double (a->config, "image-weight");
  if (iw == 0.0)
    return t2i_tensor_ref (distil);
  T2iTensor *fake = t2i_losses_get (record, a->config, "input", error);
  T2iTensor *real = fake ? t2i_losses_get (record, a->config, "image", error)
      : NULL;
  if (!real)
    return NULL;
  /* + Loss_Image (eq. 2), or min_p of it (eq. 4) */
  g_autoptr (T2iTensor) img = t2i_losses_sdn_image (real, fake,
      t2i_config_int (a->config, "choices"),
      g_str_equal (t2i_config_string (a->config, "reduce"), "sum"));
  g_autoptr (T2iTensor) wimg = t2i_mul_scalar (img, iw);
  return t2i_add (distil, wimg);
}

const T2iLossKind t2i_loss_kind_sdn_stage1 = {
  "sdn-stage1",
  "SDN's Stage-I distillation (eq. 1): sum over layers= of "
  "||phi^D_l(I_r) - phi^G_{l+1}||_1 between the teacher's levels real=P/l "
  "and the generator's fake=P/l, plus image-weight times the image loss "
  "(eq. 2; with choices=n its least candidate, eq. 4)",
  options, check, compute,
};
