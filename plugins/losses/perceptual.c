/* kind=perceptual: a perceptual distance between two images through the
 * features of a network (t2iimageencoder arch=vgg19 run on both): LPIPS's
 * form with unit weights (Zhang et al. 2018, "lin" off), as VQGAN's
 * perceptual term, on the project's own VGG19.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

#define MAX_LAYERS 38

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("input", "vgg/fake",
      "Prefix P of the features of the images judged, P/<layer>, f32 [N, "
      "C, h, w]"),
  T2I_LOSS_ENTRY ("target", "vgg/real",
      "Prefix of the features of the reference images, same shapes"),
  T2I_OPTION_STRING ("layers", "relu1_2,relu2_2,relu3_4,relu4_4,relu5_4", 0,
      "The feature layers compared, comma-separated (the encoder's "
      "layers=)"),
  {NULL}
};

static gchar **
layers_of (const GstStructure * config, GError ** error)
{
  const char *text = t2i_config_string (config, "layers");
  gchar **layers = g_strsplit (text ? text : "", ",", -1);
  guint n = g_strv_length (layers);
  for (guint i = 0; i < n; i++)
    g_strstrip (layers[i]);
  if (n == 0 || n > MAX_LAYERS || !*layers[0]) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "layers=%s: name 1 to %d feature layers", text ? text : "",
        MAX_LAYERS);
    g_strfreev (layers);
    return NULL;
  }
  return layers;
}

static char *
entry (const GstStructure * config, const char *prop, const char *layer)
{
  return g_strconcat (t2i_config_string (config, prop), "/", layer, NULL);
}

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  g_auto (GStrv) layers = layers_of (config, error);
  if (!layers)
    return FALSE;
  for (gchar ** l = layers; *l; l++) {
    g_autofree char *a = entry (config, "input", *l);
    g_autofree char *b = entry (config, "target", *l);
    gint64 as[T2I_MAX_DIMS], bs[T2I_MAX_DIMS];
    if (!t2i_caps_require (in, a, NULL, 4, NULL, error)
        || !t2i_caps_require (in, b, NULL, 4, NULL, error)) {
      g_prefix_error (error, "layers=%s: ", *l);
      return FALSE;
    }
    t2i_caps_get_entry (in, a, NULL, NULL, as);
    t2i_caps_get_entry (in, b, NULL, NULL, bs);
    for (gint i = 0; i < 4; i++)
      if (as[i] != bs[i]) {
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "%s and %s must have one shape (the same encoder on images of "
            "one size)", a, b);
        return FALSE;
      }
  }
  return TRUE;
}

/* each position's feature vector over the channels divided by its norm,
 * sqrt(sum f^2 + 1e-20): LPIPS's normalize_tensor divides by the norm +
 * 1e-10, whose gradient is NaN where ReLU features are all zero */
static T2iTensor *
unit (T2iTensor * f)
{
  g_autoptr (T2iTensor) sq = t2i_square (f);
  g_autoptr (T2iTensor) ss = t2i_sum (sq, 1, TRUE);
  g_autoptr (T2iTensor) se = t2i_add_scalar (ss, 1e-20);
  g_autoptr (T2iTensor) n = t2i_sqrt (se);
  return t2i_div (f, n);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  g_auto (GStrv) layers = layers_of (a->config, error);
  if (!layers)
    return NULL;
  T2iTensor *total = NULL;
  for (gchar ** l = layers; *l; l++) {
    g_autofree char *an = entry (a->config, "input", *l);
    g_autofree char *bn = entry (a->config, "target", *l);
    T2iTensor *x = t2i_record_get_tensor (record, an);
    T2iTensor *y = t2i_record_get_tensor (record, bn);
    if (!x || !y) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "layers=%s: the record has no %s", *l, x ? bn : an);
      g_clear_pointer (&total, t2i_tensor_unref);
      return NULL;
    }
    g_autoptr (T2iTensor) ux = unit (x);
    g_autoptr (T2iTensor) uy = unit (y);
    g_autoptr (T2iTensor) d = t2i_sub (ux, uy);
    g_autoptr (T2iTensor) d2 = t2i_square (d);
    g_autoptr (T2iTensor) c = t2i_sum (d2, 1, FALSE);
    g_autoptr (T2iTensor) m = t2i_mean (c, T2I_ALL_AXES, FALSE);
    T2iTensor *next = total ? t2i_add (total, m) : t2i_tensor_ref (m);
    g_clear_pointer (&total, t2i_tensor_unref);
    total = next;
  }
  return total;
}

const T2iLossKind t2i_loss_kind_perceptual = {
  "perceptual",
  "sum over layers= of the mean over positions of ||u(input) - "
      "u(target)||^2, u the features divided by their norm over the "
      "channels (LPIPS with unit weights)",
  options, check, compute,
};
