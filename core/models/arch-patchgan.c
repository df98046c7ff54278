/* arch=patchgan for t2idiscriminator: pix2pix's PatchGAN (taming-
 * transformers' NLayerDiscriminator, the released names), the
 * discriminator VQGAN trains against.
 *
 *   main.0  conv4x4 s2 3 -> c, bias       LeakyReLU 0.2
 *   per layer n = 1 .. layers - 1: conv4x4 s2 (no bias) to c min(2^n, 8),
 *     BatchNorm, LeakyReLU 0.2
 *   conv4x4 s1 (no bias) to c min(2^layers, 8), BatchNorm, LeakyReLU 0.2
 *   conv4x4 s1 to 1, bias                  one logit per patch
 *
 * Init as taming's weights_init: conv weights N(0, 0.02), BatchNorm
 * weights N(1, 0.02) and biases 0; conv biases PyTorch's default.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#define MAX_LAYERS 8

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("real", "image", 0,
      "Real images, f32 [N, 3, R, R] (empty: score fake= only)"),
  T2I_OPTION_ENTRY ("fake", "fake", 0,
      "Generated images, same shape (empty: score real= only)"),
  T2I_OPTION_ENTRY ("output", "d", 0,
      "Prefix P of the outputs P/real, P/fake: one logit per patch, f32 "
      "[N, patches]"),
  T2I_OPTION_INT ("channels", 64, 1, 4096, T2I_OPTION_MODEL,
      "Channels c of the first convolution (ndf)"),
  T2I_OPTION_INT ("layers", 3, 1, MAX_LAYERS, T2I_OPTION_MODEL,
      "Stride-2 convolutions (n_layers; the patch grows with them)"),
  {NULL}
};

typedef struct
{
  gint layers;
  T2iNnConv2d conv[MAX_LAYERS + 2];
  T2iNnBatchNorm bn[MAX_LAYERS + 1];
} PatchGan;

static gboolean
has (const GstStructure * config, const char *prop)
{
  return t2i_config_has_string (config, prop);
}

/* the side after the network for an R x R input */
static gint64
patches_side (gint64 r, gint layers)
{
  for (gint i = 0; i < layers; i++)
    r = (r + 2 - 4) / 2 + 1;
  r = r + 2 - 4 + 1;
  return r + 2 - 4 + 1;
}

static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint64 * r, GError ** error)
{
  const char *props[2] = { "real", "fake" };
  *r = -1;
  for (gint i = 0; i < 2; i++) {
    if (!has (config, props[i]))
      continue;
    const char *name = t2i_config_string (config, props[i]);
    gint64 s[T2I_MAX_DIMS];
    if (!t2i_caps_require (in, name, "f32", 4, NULL, error)) {
      g_prefix_error (error, "%s=%s: ", props[i], name);
      return FALSE;
    }
    t2i_caps_get_entry (in, name, NULL, NULL, s);
    if (s[1] != 3 || s[2] != s[3] || (*r >= 0 && s[2] != *r)) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "%s=%s must hold square RGB images [N, 3, R, R], as real= and "
          "fake= both", props[i], name);
      return FALSE;
    }
    *n = s[0];
    *r = s[2];
  }
  if (*r < 0) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "both real= and fake= are empty: name at least one image entry");
    return FALSE;
  }
  if (patches_side (*r, t2i_config_int (config, "layers")) < 1) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%" G_GINT64_FORMAT " px images are too small for layers=%d: use "
        "fewer layers", *r, t2i_config_int (config, "layers"));
    return FALSE;
  }
  return TRUE;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n, r;
  if (!check (config, in, &n, &r, error))
    return FALSE;
  const gint64 side = patches_side (r, t2i_config_int (config, "layers"));
  gint64 shape[2] = { n, side * side };
  const char *kinds[2] = { "real", "fake" };
  for (gint i = 0; i < 2; i++)
    if (has (config, kinds[i])) {
      g_autofree char *name = g_strconcat (t2i_config_string (config,
              "output"), "/", kinds[i], NULL);
      t2i_caps_set_entry (out, name, "f32", 2, shape);
    }
  return TRUE;
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  gint64 n, r;
  if (!check (config, in, &n, &r, error))
    return NULL;
  PatchGan *m = g_new0 (PatchGan, 1);
  m->layers = t2i_config_int (config, "layers");
  const gint c = t2i_config_int (config, "channels");
  T2iParamGroup *g = ctx->params;
  T2iRng *rng = ctx->init_rng;
  gint idx = 0, prev = 3;
  for (gint i = 0; i <= m->layers + 1; i++) {
    const gboolean first = i == 0, last = i == m->layers + 1;
    const gint out = last ? 1 : c * MIN (1 << i, 8);
    const gint stride = i < m->layers ? 2 : 1;
    g_autofree char *p = g_strdup_printf ("main.%d", idx);
    t2i_nn_conv2d_init (&m->conv[i], g, p, prev, out, 4, stride, 1,
        first || last, rng);
    t2i_init_normal (m->conv[i].weight, rng, 0.0, 0.02);
    idx++;
    if (!first && !last) {
      g_autofree char *b = g_strdup_printf ("main.%d", idx);
      t2i_nn_batch_norm_init (&m->bn[i], g, b, out);
      t2i_init_normal (m->bn[i].weight, rng, 1.0, 0.02);
      idx++;
    }
    idx += last ? 0 : 1;        /* the LeakyReLU */
    prev = out;
  }
  return m;
}

static T2iTensor *
score (PatchGan * m, T2iTensor * img, gboolean training)
{
  T2iTensor *h = t2i_tensor_ref (img);
  for (gint i = 0; i <= m->layers + 1; i++) {
    T2iTensor *y = t2i_nn_conv2d (&m->conv[i], h);
    t2i_tensor_unref (h);
    h = y;
    if (i == m->layers + 1)
      break;
    if (i > 0) {
      y = t2i_nn_batch_norm (&m->bn[i], h, training);
      t2i_tensor_unref (h);
      h = y;
    }
    y = t2i_leaky_relu (h, 0.2);
    t2i_tensor_unref (h);
    h = y;
  }
  T2iTensor *flat = t2i_reshape (h, T2I_SHAPE (h->shape[0], -1));
  t2i_tensor_unref (h);
  return flat;
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  PatchGan *m = net;
  const char *kinds[2] = { "real", "fake" };
  for (gint i = 0; i < 2; i++) {
    if (!has (ctx->config, kinds[i]))
      continue;
    const char *name = t2i_config_string (ctx->config, kinds[i]);
    T2iTensor *img = t2i_record_get_tensor (record, name);
    if (!img || img->ndim != 4 || img->shape[1] != 3) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "%s=%s must be f32 [N, 3, R, R] in every record", kinds[i], name);
      return FALSE;
    }
    g_autoptr (T2iTensor) logits = score (m, img, ctx->training);
    g_autofree char *out = g_strconcat (t2i_config_string (ctx->config,
            "output"), "/", kinds[i], NULL);
    if (!t2i_record_set_tensor (record, out, logits, error))
      return FALSE;
  }
  return TRUE;
}

static void
net_free (gpointer p)
{
  g_free (p);
}

const T2iArch t2i_arch_patchgan = {
  "patchgan", T2I_ROLE_DISCRIMINATOR,
  "pix2pix's PatchGAN, one logit per patch (VQGAN's discriminator)",
  options, "main.0.weight",
  NULL, NULL, negotiate, build, NULL, forward, net_free,
};
