/* arch=inception-v3 for t2iimageencoder: Inception-v3's pool features and
 * logits (t2i/inception.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include "t2i/inception.h"

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("input", "image", 0,
      "Images, f32 [N, 3, H, W] in [-1, 1] (resized to 299 x 299)"),
  T2I_OPTION_ENTRY ("output", "img_emb", 0,
      "The 2048-d pool features, f32 [N, 2048]"),
  T2I_OPTION_ENTRY ("logits-output", NULL, 0,
      "Entry for the classifier logits, f32 [N, classes] (unset: none)"),
  T2I_OPTION_BOOLEAN ("normalize", FALSE, 0,
      "L2-normalise the pool features"),
  T2I_OPTION_CHOICE ("inception-variant", "fid", "fid|torchvision",
      T2I_OPTION_MODEL, "The network: pytorch-fid's FID Inception (1008 "
      "classes) or torchvision's Inception3 (1000 classes)"),
  T2I_OPTION_INT ("classes", -1, -1, 1 << 20, T2I_OPTION_MODEL,
      "Classifier outputs (0: the variant's; -1: the file's, or none "
      "without logits-output)"),
  {NULL}
};

static GstStructure *
read_file (T2iSafetensors * st, const char *prefix, GError ** error)
{
  g_autofree char *fc = g_strconcat (prefix ? prefix : "", "fc.weight",
      NULL);
  gint nd;
  gint64 sh[T2I_MAX_DIMS];
  gint classes = t2i_safetensors_get_info (st, fc, NULL, &nd, sh, NULL)
      && nd == 2 ? (gint) sh[0] : -1;
  return gst_structure_new ("config", "classes", G_TYPE_INT, classes, NULL);
}

static T2iInceptionVariant
variant_of (const GstStructure * config)
{
  return g_str_equal (t2i_config_string (config, "inception-variant"),
      "torchvision") ? T2I_INCEPTION_TORCHVISION : T2I_INCEPTION_FID;
}

static gboolean
configure (GstStructure * config, const T2iArchContext * ctx, GError ** error)
{
  gint classes = t2i_config_int (config, "classes");
  const gboolean logits = t2i_config_has_string (config, "logits-output");
  if (classes < 0 && logits && !ctx->weights)
    classes = 0;
  if (classes == 0)
    classes = variant_of (config) == T2I_INCEPTION_FID ? 1008 : 1000;
  t2i_config_set_int (config, "classes", classes);
  if (logits && classes < 0) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT,
        "logits-output=%s: the network has no classifier (fc.weight)",
        t2i_config_string (config, "logits-output"));
    return FALSE;
  }
  return TRUE;
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
  gint64 pool[2] = { shape[0], 2048 };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 2,
      pool);
  if (t2i_config_has_string (config, "logits-output")) {
    gint64 lg[2] = { shape[0], t2i_config_int (config, "classes") };
    t2i_caps_set_entry (out, t2i_config_string (config, "logits-output"),
        "f32", 2, lg);
  }
  return TRUE;
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  return t2i_inception_new (ctx->params, NULL, variant_of (config),
      t2i_config_int (config, "classes"), ctx->weights ? NULL :
      ctx->init_rng);
}

static gboolean
load (gpointer net, const T2iArchContext * ctx, GError ** error)
{
  return t2i_inception_load (net, ctx->weights, ctx->prefix, error);
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  const GstStructure *config = ctx->config;
  const char *input = t2i_config_string (config, "input");
  T2iTensor *x = t2i_record_get_tensor (record, input);
  if (!x || x->dtype != T2I_F32 || x->ndim != 4 || x->shape[1] != 3) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be f32 [N, 3, H, W] (the record has: %s)", input, has);
    return FALSE;
  }
  const gboolean logits = t2i_config_has_string (config, "logits-output");
  T2iInceptionOutputs o;
  if (!t2i_inception_forward (net, x, TRUE, T2I_INCEPTION_POOL | (logits ?
              T2I_INCEPTION_LOGITS : 0), &o, error))
    return FALSE;
  g_autoptr (T2iTensor) pool = t2i_config_boolean (config, "normalize") ?
      t2i_l2_normalize (o.pool, 1, 1e-12) : t2i_tensor_ref (o.pool);
  gboolean ok = t2i_record_set_tensor (record, t2i_config_string (config,
          "output"), pool, error);
  if (ok && logits)
    ok = t2i_record_set_tensor (record, t2i_config_string (config,
            "logits-output"), o.logits, error);
  t2i_inception_outputs_clear (&o);
  return ok;
}

const T2iArch t2i_arch_inception_v3 = {
  "inception-v3", T2I_ROLE_IMAGE_ENCODER,
  "Inception-v3 pool features and logits (pytorch-fid's or torchvision's)",
  options, "Conv2d_1a_3x3.conv.weight",
  read_file, configure, negotiate, build, load, forward,
  (void (*)(gpointer)) t2i_inception_free,
};
