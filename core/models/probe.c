/* arch=probe for t2iimageencoder: a small classifier head on features an
 * encoder upstream wrote (VGG19's pool5, a CLIP embedding), giving logits.
 * It is how this project trains and reads its own VGG19-shaped networks:
 * pipelines/vgg-pretrain.t2i trains a VGG19 with probes for shapes'
 * colour and shape (or emoji's identity) under t2iloss kind=cross-entropy,
 * and the trained probe's logits are the Inception Score's classifier in
 * pipelines/sdn-eval.t2i (docs/sdn.md).
 *
 *   x = flatten(input)                        [N, D]
 *   logits = fc(x)                            hidden=0
 *   logits = fc(relu(fc0(x)))                 hidden=H
 *
 * Parameters: fc.{weight,bias} (and fc0.{weight,bias}), PyTorch's default
 * Linear initialisation.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("input", "vgg/pool5", 0,
      "Features, f32 [N, ...] (flattened per item)"),
  T2I_OPTION_ENTRY ("output", "logits", 0, "Logits, f32 [N, classes]"),
  T2I_OPTION_INT ("classes", 10, 1, 1 << 20, T2I_OPTION_MODEL,
      "Number of classes"),
  T2I_OPTION_INT ("hidden", 0, 0, 65536, T2I_OPTION_MODEL,
      "Width of one hidden ReLU layer (0: a linear classifier)"),
  T2I_OPTION_INT ("features", 0, 0, G_MAXINT, T2I_OPTION_MODEL,
      "Features per item (0: the input's)"),
  {NULL}
};

typedef struct
{
  gboolean hidden;
  T2iNnLinear fc0, fc;
} Probe;

/* checks input= [N, ...]; *n, *d get N and the features per item */
static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint64 * d, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;
  if (!t2i_caps_require (in, input, "f32", 0, NULL, error)) {
    g_prefix_error (error, "input=%s: ", input);
    return FALSE;
  }
  t2i_caps_get_entry (in, input, NULL, &ndim, shape);
  *d = 1;
  for (gint i = 1; i < ndim; i++)
    *d *= shape[i];
  const gint want = t2i_config_int (config, "features");
  if (ndim < 2 || (want > 0 && *d != want)) {
    g_autofree char *s = t2i_shape_to_string (ndim, shape);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s is %s: the probe needs [N, ...] with %d features per "
        "item", input, s, want);
    return FALSE;
  }
  *n = shape[0];
  return TRUE;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n, d;
  if (!check (config, in, &n, &d, error))
    return FALSE;
  gint64 shape[2] = { n, t2i_config_int (config, "classes") };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 2,
      shape);
  return TRUE;
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  gint64 n, d;
  if (!check (config, in, &n, &d, error))
    return NULL;
  if (d > G_MAXINT) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "input=%s: %" G_GINT64_FORMAT " features per item are too many",
        t2i_config_string (config, "input"), d);
    return NULL;
  }
  t2i_config_set_int (config, "features", (gint) d);
  const gint classes = t2i_config_int (config, "classes");
  const gint hidden = t2i_config_int (config, "hidden");
  Probe *p = g_new0 (Probe, 1);
  p->hidden = hidden > 0;
  if (p->hidden)
    t2i_nn_linear_init (&p->fc0, ctx->params, "fc0", d, hidden, TRUE,
        ctx->init_rng);
  t2i_nn_linear_init (&p->fc, ctx->params, "fc", p->hidden ? hidden : d,
      classes, TRUE, ctx->init_rng);
  return p;
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  Probe *p = net;
  const char *input = t2i_config_string (ctx->config, "input");
  const gint d = t2i_config_int (ctx->config, "features");
  T2iTensor *x = t2i_record_get_tensor (record, input);
  if (!x || x->dtype != T2I_F32 || x->ndim < 2 || x->numel != x->shape[0] * d) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "needs input=%s f32 [N, ...] with %d features per item (the record "
        "has: %s)", input, d, has);
    return FALSE;
  }
  g_autoptr (T2iTensor) flat = t2i_reshape (x, T2I_SHAPE (x->shape[0], d));
  g_autoptr (T2iTensor) h = NULL;
  if (p->hidden) {
    g_autoptr (T2iTensor) a = t2i_nn_linear (&p->fc0, flat);
    h = t2i_relu (a);
  } else {
    h = t2i_tensor_ref (flat);
  }
  g_autoptr (T2iTensor) logits = t2i_nn_linear (&p->fc, h);
  return t2i_record_set_tensor (record, t2i_config_string (ctx->config,
          "output"), logits, error);
}

const T2iArch t2i_arch_probe = {
  "probe", T2I_ROLE_IMAGE_ENCODER,
  "A linear (or one-hidden-layer) classifier on an encoder's features, "
      "giving logits",
  options, "fc.weight",
  NULL, NULL, negotiate, build, NULL, forward, g_free,
};
