/* arch=damsm for t2iimageencoder: the image encoder of AttnGAN's DAMSM
 * (Xu et al. 2018, Sec. 3.3; taoxugit/AttnGAN CNN_ENCODER): region
 * features for the word-level matching and a global feature for the
 * sentence-level one, both in the text encoder's space.
 *
 *   regions = emb_features(mid(x))            conv 1x1, no bias: [N, E, h, w]
 *   global  = emb_cnn_code(mean(last(x)))     linear: [N, E]
 *
 * backbone=inception-v3 is AttnGAN's: torchvision's Inception-v3 (frozen),
 * the images resized to 299 x 299, mid = Mixed_6e (768 x 17 x 17), last =
 * Mixed_7c (2048, average pooled); ImageNet weights load from
 * backbone-weights= (torchvision's names, e.g. converted with
 * scripts/convert-checkpoint), and an AttnGAN image_encoder.pth converted
 * to safetensors loads whole with weights=.  No ImageNet weights can be
 * downloaded on our machines, so backbone=cnn (default) is a small CNN
 * trained from scratch with the projections: a 3x3 stem, then one stage
 * per further widths= entry, each a stride-2 3x3 convolution and depth-1
 * stride-1 ones (GroupNorm of 8 groups and LeakyReLU 0.2 after each); mid
 * is the second-to-last stage's output (1/2^(stages-1) of the input side,
 * as Mixed_6e is ~1/17), last the last stage's.  The projections start
 * uniform in +-0.1 as AttnGAN's.
 *
 * Parameters: emb_features.weight, emb_cnn_code.{weight,bias}, and the
 * backbone's: torchvision's Inception-v3 names (Conv2d_1a_3x3.conv.weight,
 * ..., Mixed_7c...), or stem.{conv.weight,norm.weight,norm.bias} and
 * stages.<s>.<i>.{conv.weight,norm.weight,norm.bias}.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <stdlib.h>
#include "t2i/inception.h"

#define MAX_STAGES 6
#define MAX_DEPTH 8
#define GROUPS 8
#define GN_EPS 1e-5
#define SLOPE 0.2

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("input", "image", 0,
      "Images, f32 [N, 3, H, W] in [-1, 1]"),
  T2I_OPTION_ENTRY ("output", "img_emb", 0,
      "The global features, f32 [N, embed-dim]"),
  T2I_OPTION_ENTRY ("regions-output", "img_regions", 0,
      "Entry for the region features, f32 [N, embed-dim, h, w] (unset: "
      "not added)"),
  T2I_OPTION_CHOICE ("backbone", "cnn", "cnn|inception-v3", T2I_OPTION_MODEL,
      "cnn: a small CNN trained with the projections; inception-v3: "
      "AttnGAN's frozen ImageNet Inception-v3 (Mixed_6e regions, Mixed_7c "
      "pool)"),
  T2I_OPTION_STRING ("backbone-weights", NULL, 0,
      "inception-v3: a file with torchvision's ImageNet weights to load "
      "into the backbone (weights= loads a whole DAMSM image encoder)"),
  T2I_OPTION_STRING ("widths", "32,64,128,256", T2I_OPTION_MODEL,
      "cnn: channels of the stem, then of each stride-2 stage (multiples "
      "of 8, at least two stages)"),
  T2I_OPTION_INT ("depth", 1, 1, MAX_DEPTH, T2I_OPTION_MODEL,
      "cnn: convolutions per stage"),
  T2I_OPTION_INT ("image-size", 0, 0, 4096, T2I_OPTION_MODEL,
      "Side the images are resized to (bilinear) first; 0: cnn keeps the "
      "input's, inception-v3 resizes to 299"),
  T2I_OPTION_INT ("embed-dim", 256, 1, 8192, T2I_OPTION_MODEL,
      "Size of the features: the text encoder's (2 hidden)"),
  {NULL}
};

typedef struct
{
  T2iTensor *conv, *norm_w, *norm_b;
  gint stride;
} Block;

typedef struct
{
  gboolean inception;
  T2iInception *inc;
  Block stem;
  Block blocks[MAX_STAGES][MAX_DEPTH];
  gint n_stages, depth;
  gint image_size;
  T2iTensor *emb_features;      /* [E, mid, 1, 1] */
  T2iNnLinear emb_cnn_code;
} Damsm;

static void
damsm_free (gpointer p)
{
  Damsm *m = p;
  g_clear_pointer (&m->inc, t2i_inception_free);
  g_free (m);
}

/* the widths= list: *n entries into @w */
static gboolean
parse_widths (const char *text, gint * w, gint * n, GError ** error)
{
  g_auto (GStrv) parts = g_strsplit (text ? text : "", ",", -1);
  *n = (gint) g_strv_length (parts);
  if (*n < 3 || *n > MAX_STAGES + 1) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "widths=%s: give the stem's channels and those of 2 to %d stages",
        text, MAX_STAGES);
    return FALSE;
  }
  for (gint i = 0; i < *n; i++) {
    char *end;
    glong v = strtol (parts[i], &end, 10);
    if (end == parts[i] || *end || v <= 0 || v % GROUPS) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
          "widths=%s: '%s' is not a positive multiple of %d", text, parts[i],
          GROUPS);
      return FALSE;
    }
    w[i] = (gint) v;
  }
  return TRUE;
}

static gboolean
is_inception (const GstStructure * config)
{
  return g_str_equal (t2i_config_string (config, "backbone"), "inception-v3");
}

static gboolean
configure (GstStructure * config, const T2iArchContext * ctx,
    GError ** error)
{
  gint w[MAX_STAGES + 1], n;
  if (is_inception (config)) {
    if (t2i_config_int (config, "image-size") == 0)
      t2i_config_set_int (config, "image-size", 299);
    return TRUE;
  }
  if (t2i_config_has_string (config, "backbone-weights")) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "backbone-weights= loads an ImageNet Inception-v3: it needs "
        "backbone=inception-v3");
    return FALSE;
  }
  return parse_widths (t2i_config_string (config, "widths"), w, &n, error);
}

/* the side of the region map for input side @s */
static gint64
region_side (const GstStructure * config, gint64 s)
{
  gint w[MAX_STAGES + 1], n;
  const gint size = t2i_config_int (config, "image-size");
  if (size > 0)
    s = size;
  if (is_inception (config))
    return 17;
  if (!parse_widths (t2i_config_string (config, "widths"), w, &n, NULL))
    return -1;
  /* the second-to-last of the n - 1 stride-2 stages */
  for (gint i = 0; i < n - 2; i++)
    s = (s + 1) / 2;
  return s;
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
  const gint64 e = t2i_config_int (config, "embed-dim");
  gint64 g[2] = { shape[0], e };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 2, g);
  if (t2i_config_has_string (config, "regions-output")) {
    gint64 r[4] = { shape[0], e, region_side (config, shape[2]),
      region_side (config, shape[3])
    };
    t2i_caps_set_entry (out, t2i_config_string (config, "regions-output"),
        "f32", 4, r);
  }
  return TRUE;
}

static void
block_init (Block * b, T2iParamGroup * group, const char *name, gint64 in,
    gint64 out, gint stride, T2iRng * rng)
{
  T2iNnConv2d conv;
  g_autofree char *cn = t2i_model_join (name, "conv");
  g_autofree char *nn = t2i_model_join (name, "norm");
  t2i_nn_conv2d_init (&conv, group, cn, in, out, 3, stride, 1, FALSE, rng);
  b->conv = conv.weight;
  b->stride = stride;
  b->norm_w = t2i_model_add (group, nn, "weight",
      t2i_tensor_full (T2I_F32, T2I_SHAPE (out), 1.0), TRUE);
  b->norm_b = t2i_model_add (group, nn, "bias",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (out)), TRUE);
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  Damsm *m = g_new0 (Damsm, 1);
  const gint64 e = t2i_config_int (config, "embed-dim");
  T2iRng fixed;
  t2i_rng_init (&fixed, 0);
  /* with weights= the draws are skipped: the file overwrites them */
  T2iRng *rng = ctx->weights ? &fixed : ctx->init_rng;
  gint64 mid, last;

  m->inception = is_inception (config);
  m->image_size = t2i_config_int (config, "image-size");
  if (m->inception) {
    m->inc = t2i_inception_new (ctx->params, NULL,
        T2I_INCEPTION_TORCHVISION, -1, ctx->weights ? NULL : ctx->init_rng);
    mid = 768;
    last = 2048;
    if (t2i_config_has_string (config, "backbone-weights")) {
      const char *path = t2i_config_string (config, "backbone-weights");
      g_autoptr (T2iSafetensors) st = t2i_safetensors_load (path, error);
      if (!st || !t2i_inception_load (m->inc, st, NULL, error)) {
        g_prefix_error (error, "backbone-weights=%s: ", path);
        damsm_free (m);
        return NULL;
      }
    }
  } else {
    gint w[MAX_STAGES + 1], n;
    if (!parse_widths (t2i_config_string (config, "widths"), w, &n, error)) {
      damsm_free (m);
      return NULL;
    }
    m->n_stages = n - 1;
    m->depth = t2i_config_int (config, "depth");
    block_init (&m->stem, ctx->params, "stem", 3, w[0], 1, rng);
    for (gint s = 0; s < m->n_stages; s++)
      for (gint i = 0; i < m->depth; i++) {
        g_autofree char *name = g_strdup_printf ("stages.%d.%d", s, i);
        block_init (&m->blocks[s][i], ctx->params, name, i ? w[s + 1] : w[s],
            w[s + 1], i ? 1 : 2, rng);
      }
    mid = w[n - 2];
    last = w[n - 1];
  }
  /* AttnGAN's init_trainable_weights: U(-0.1, 0.1) */
  T2iNnConv2d ef;
  t2i_nn_conv2d_init (&ef, ctx->params, "emb_features", mid, e, 1, 1, 0,
      FALSE, rng);
  m->emb_features = ef.weight;
  t2i_nn_linear_init (&m->emb_cnn_code, ctx->params, "emb_cnn_code", last, e,
      TRUE, rng);
  if (!ctx->weights) {
    t2i_rng_fill_uniform (ctx->init_rng, m->emb_features, -0.1, 0.1);
    t2i_rng_fill_uniform (ctx->init_rng, m->emb_cnn_code.weight, -0.1, 0.1);
  }
  return m;
}

static T2iTensor *
block (Block * b, T2iTensor * x)
{
  T2iConvParams cp = T2I_CONV_PARAMS (b->stride, 1);
  T2iTensor *y = t2i_conv2d (x, b->conv, NULL, &cp);
  T2I_MODEL_STEP (y, t2i_group_norm (y, GROUPS, b->norm_w, b->norm_b,
          GN_EPS));
  T2I_MODEL_STEP (y, t2i_leaky_relu (y, SLOPE));
  return y;
}

/* the backbone's *mid [N, C, h, w] and pooled *last [N, C'] */
static gboolean
backbone (Damsm * m, T2iTensor * x, T2iTensor ** mid, T2iTensor ** last,
    GError ** error)
{
  if (m->inception) {
    T2iInceptionOutputs o;
    if (!t2i_inception_forward (m->inc, x, TRUE, T2I_INCEPTION_MIXED_6E |
            T2I_INCEPTION_POOL, &o, error))
      return FALSE;
    *mid = g_steal_pointer (&o.mixed_6e);
    *last = g_steal_pointer (&o.pool);
    t2i_inception_outputs_clear (&o);
    return TRUE;
  }
  T2iTensor *h = block (&m->stem, x);
  for (gint s = 0; s < m->n_stages; s++) {
    for (gint i = 0; i < m->depth; i++)
      T2I_MODEL_STEP (h, block (&m->blocks[s][i], h));
    if (s == m->n_stages - 2)
      *mid = t2i_tensor_ref (h);
  }
  const gint64 n = h->shape[0], c = h->shape[1];
  T2I_MODEL_STEP (h, t2i_reshape (h, T2I_SHAPE (n, c, -1)));
  T2I_MODEL_STEP (h, t2i_mean (h, 2, FALSE));
  *last = h;
  return TRUE;
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  Damsm *m = net;
  const GstStructure *config = ctx->config;
  const char *input = t2i_config_string (config, "input");
  T2iTensor *x = t2i_record_get_tensor (record, input);
  if (!x || x->dtype != T2I_F32 || x->ndim != 4 || x->shape[1] != 3) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be f32 [N, 3, H, W] (the record has: %s)", input, has);
    return FALSE;
  }
  const gint size = m->image_size;
  g_autoptr (T2iTensor) xr = size > 0 && (x->shape[2] != size
      || x->shape[3] != size) ? t2i_upsample_bilinear2d (x, size, size,
      FALSE) : t2i_tensor_ref (x);
  g_autoptr (T2iTensor) mid = NULL;
  g_autoptr (T2iTensor) last = NULL;
  if (!backbone (m, xr, &mid, &last, error))
    return FALSE;
  g_autoptr (T2iTensor) global = t2i_nn_linear (&m->emb_cnn_code, last);
  if (!t2i_record_set_tensor (record, t2i_config_string (config, "output"),
          global, error))
    return FALSE;
  if (!t2i_config_has_string (config, "regions-output"))
    return TRUE;
  T2iConvParams cp = T2I_CONV_PARAMS (1, 0);
  g_autoptr (T2iTensor) regions = t2i_conv2d (mid, m->emb_features, NULL,
      &cp);
  return t2i_record_set_tensor (record, t2i_config_string (config,
          "regions-output"), regions, error);
}

const T2iArch t2i_arch_damsm = {
  "damsm", T2I_ROLE_IMAGE_ENCODER,
  "AttnGAN's DAMSM image encoder: region and global features projected "
      "into the text space (a small CNN, or a frozen Inception-v3)",
  options, "emb_cnn_code.weight",
  NULL, configure, negotiate, build, NULL, forward, damsm_free,
};
