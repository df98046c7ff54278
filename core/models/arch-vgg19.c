/* arch=vgg19 for t2iimageencoder: VGG19's convolutional features, one
 * entry per tap (t2i/vgg.h), for perceptual losses and SDN's teacher.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <string.h>
#include "t2i/vgg.h"

#define MAX_TAPS 38

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("input", "image", 0,
      "Images, f32 [N, 3, H, W] in [-1, 1]"),
  T2I_OPTION_ENTRY ("output", "vgg", 0,
      "Prefix P of the tap entries P/<tap>, f32 [N, C, h, w]"),
  T2I_OPTION_STRING ("layers", "relu1_2,relu2_2,relu3_4,relu4_4,relu5_4", 0,
      "The taps, comma-separated (input, conv1_1, relu1_1, ..., pool5), "
      "or sdn for SDN's 22 levels"),
  T2I_OPTION_CHOICE ("pooling", "max", "max|avg", T2I_OPTION_MODEL,
      "Pooling between blocks: max (torchvision) or avg (SDN's teacher)"),
  T2I_OPTION_CHOICE ("input-mode", "imagenet", "imagenet|bgr255|raw",
      T2I_OPTION_MODEL, "Input convention: imagenet (RGB, ImageNet mean "
      "and std, torchvision weights), bgr255 (BGR 0..255, no mean: SDN's "
      "code) or raw"),
  T2I_OPTION_INT ("width", 64, 1, 4096, T2I_OPTION_MODEL,
      "Channels of block 1; blocks 2-5 have 2, 4, 8 and 8 times as many "
      "(64: VGG19; smaller for a VGG19-shaped network trained here)"),
  {NULL}
};

typedef struct
{
  T2iVgg19 *vgg;
} Net;

/* the tap names of layers= (NULL-terminated) or NULL with @error */
static gchar **
taps_of (const GstStructure * config, GError ** error)
{
  const char *layers = t2i_config_string (config, "layers");
  gchar **taps = g_strcmp0 (layers, "sdn") == 0 ?
      g_strdupv ((gchar **) t2i_vgg19_sdn_taps ()) :
      g_strsplit (layers ? layers : "", ",", -1);
  guint n = g_strv_length (taps);
  if (n == 0 || n > MAX_TAPS) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
        "layers=%s: name 1 to %d VGG19 taps", layers, MAX_TAPS);
    g_strfreev (taps);
    return NULL;
  }
  for (guint i = 0; i < n; i++) {
    g_strstrip (taps[i]);
    if (t2i_vgg19_tap_index (taps[i]) < 0) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
          "layers=%s: unknown VGG19 tap '%s' (conv1_1, relu1_1, ..., "
          "pool5)", layers, taps[i]);
      g_strfreev (taps);
      return NULL;
    }
  }
  return taps;
}

static gboolean
configure (GstStructure * config, const T2iArchContext * ctx, GError ** error)
{
  g_auto (GStrv) taps = taps_of (config, error);
  return taps != NULL;
}

/* [N, C, h, w] of tap @name for an H x W input (pools floor) */
static void
tap_shape (const char *name, gint width, gint64 n, gint64 h, gint64 w,
    gint64 * shape)
{
  shape[0] = n;
  shape[1] = t2i_vgg19_tap_channels (name, width);
  shape[2] = h;
  shape[3] = w;
  for (gint s = t2i_vgg19_tap_stride (name); s > 1; s /= 2) {
    shape[2] /= 2;
    shape[3] /= 2;
  }
}

/* the width of an undescribed file: features.0.weight is [width, 3, 3, 3] */
static GstStructure *
read_file (T2iSafetensors * st, const char *prefix, GError ** error)
{
  g_autofree char *name = g_strconcat (prefix ? prefix : "",
      "features.0.weight", NULL);
  gint ndim;
  gint64 shape[T2I_MAX_DIMS];
  if (!t2i_safetensors_get_info (st, name, NULL, &ndim, shape, NULL)
      || ndim != 4) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
        "%s: no VGG19 (no 4-d %s)", t2i_safetensors_get_path (st), name);
    return NULL;
  }
  return gst_structure_new ("config", "width", G_TYPE_INT, (gint) shape[0],
      NULL);
}

static gchar *
tap_entry (const GstStructure * config, const char *tap)
{
  return g_strconcat (t2i_config_string (config, "output"), "/", tap, NULL);
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  gint64 want[4] = { -1, 3, -1, -1 }, shape[T2I_MAX_DIMS];
  if (!t2i_caps_require (in, input, "f32", 4, want, error)) {
    g_prefix_error (error, "input=%s: ", input);
    return FALSE;
  }
  t2i_caps_get_entry (in, input, NULL, NULL, shape);
  g_auto (GStrv) taps = taps_of (config, error);
  if (!taps)
    return FALSE;
  for (gchar ** t = taps; *t; t++) {
    gint64 ts[4];
    g_autofree gchar *name = tap_entry (config, *t);
    tap_shape (*t, t2i_config_int (config, "width"), shape[0], shape[2],
        shape[3], ts);
    t2i_caps_set_entry (out, name, "f32", 4, ts);
  }
  return TRUE;
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  const char *mode = t2i_config_string (config, "input-mode");
  T2iVggInput input = g_str_equal (mode, "bgr255") ? T2I_VGG_INPUT_BGR255 :
      g_str_equal (mode, "raw") ? T2I_VGG_INPUT_RAW : T2I_VGG_INPUT_IMAGENET;
  T2iVggPool pool = g_str_equal (t2i_config_string (config, "pooling"),
      "avg") ? T2I_VGG_POOL_AVG : T2I_VGG_POOL_MAX;
  const guint first = t2i_param_group_n_params (ctx->params);
  T2iVgg19 *vgg = t2i_vgg19_new_width (ctx->params, NULL, pool, input,
      t2i_config_int (config, "width"), ctx->weights ? NULL : ctx->init_rng);
  /* a teacher or a metric is frozen (trainable=false); trained here, as
   * SDN's substitute teacher (pipelines/vgg-pretrain.t2i), it follows the
   * element */
  for (guint i = first; ctx->trainable
      && i < t2i_param_group_n_params (ctx->params); i++)
    t2i_param_group_set_param_trainable (t2i_param_group_get (ctx->params,
            i), TRUE);
  return vgg;
}

static gboolean
load (gpointer net, const T2iArchContext * ctx, GError ** error)
{
  return t2i_vgg19_load (net, ctx->weights, ctx->prefix, error);
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  const char *input = t2i_config_string (ctx->config, "input");
  T2iTensor *x = t2i_record_get_tensor (record, input);
  if (!x || x->dtype != T2I_F32 || x->ndim != 4 || x->shape[1] != 3) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be f32 [N, 3, H, W] (the record has: %s)", input, has);
    return FALSE;
  }
  g_auto (GStrv) taps = taps_of (ctx->config, error);
  if (!taps)
    return FALSE;
  const gint n = (gint) g_strv_length (taps);
  T2iTensor *outs[MAX_TAPS] = { NULL };
  gboolean ok = t2i_vgg19_forward (net, x, (const char *const *) taps, n,
      outs, error);
  for (gint i = 0; i < n; i++) {
    g_autofree gchar *name = tap_entry (ctx->config, taps[i]);
    if (ok)
      ok = t2i_record_set_tensor (record, name, outs[i], error);
    g_clear_pointer (&outs[i], t2i_tensor_unref);
  }
  return ok;
}

const T2iArch t2i_arch_vgg19 = {
  "vgg19", T2I_ROLE_IMAGE_ENCODER,
  "VGG19's convolutional features (torchvision names), one entry per tap",
  options, "features.0.weight",
  read_file, configure, negotiate, build, load, forward,
  (void (*)(gpointer)) t2i_vgg19_free,
};
