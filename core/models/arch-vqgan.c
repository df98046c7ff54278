/* arch=gumbel for t2ivqgan: the Gumbel VQGAN image tokenizer of
 * CLIP-VQDiffusion (taming-transformers' GumbelVQ, the released names).
 *
 *   encoder: conv_in; per level res-blocks (+ attention at the listed
 *     resolutions) and a stride-2 downsample but at the last; mid
 *     res-attn-res; GroupNorm, swish, conv_out to z-channels
 *   quant_conv 1x1 (z -> embed-dim), quantize.proj 1x1 (-> codes logits)
 *   tokens: argmax of the logits (training: Gumbel-softmax at the
 *     annealed temperature, hard with a straight-through gradient)
 *   quantize.embed (codes x embed-dim), post_quant_conv 1x1 (-> z)
 *   decoder: conv_in; mid res-attn-res; per level (reversed) res-blocks + 1
 *     (+ attention) and a nearest x2 + conv3x3 upsample but at level 0;
 *     GroupNorm, swish, conv_out to 3 channels
 *
 * ResnetBlock: GN, swish, conv3x3, GN, swish, conv3x3, a 1x1 shortcut when
 * the width changes.  AttnBlock: GN, 1x1 q, k, v, single-head attention
 * over the positions, 1x1 proj_out, residual.  GroupNorm(groups, eps
 * 1e-6).  PyTorch's default initialisation.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <math.h>
#include <string.h>

#define MAX_LEVELS 8
#define MAX_BLOCKS 8

static const T2iOption options[] = {
  T2I_OPTION_CHOICE ("mode", "autoencode", "autoencode|encode|decode", 0,
      "autoencode: images to tokens, reconstructions and the Gumbel KL "
      "(training); encode: images to tokens; decode: tokens to images"),
  T2I_OPTION_ENTRY ("input", "image", 0,
      "autoencode, encode: the images, f32 [N, 3, R, R] in [-1, 1]"),
  T2I_OPTION_ENTRY ("tokens", "tokens", 0,
      "The tokens, i32 [N, R / f, R / f] (encode, autoencode: written; "
      "decode: read)"),
  T2I_OPTION_ENTRY ("output", "recon", 0,
      "autoencode, decode: the decoded images, f32 [N, 3, R, R] (decode "
      "clamps them to [-1, 1])"),
  T2I_OPTION_ENTRY ("kl", "vq/kl", 0,
      "autoencode: KL(q(code | x) || uniform), the mean over positions of "
      "sum_k q_k log(K q_k), f32 [] (weight it with t2iloss kind=mean)"),
  T2I_OPTION_INT ("resolution", 0, 0, 4096, T2I_OPTION_MODEL,
      "Side R of the images (0: the input's)"),
  T2I_OPTION_INT ("channels", 64, 1, 4096, T2I_OPTION_MODEL,
      "Base width ch; level i has ch * ch-mult[i] channels"),
  T2I_OPTION_STRING ("ch-mult", "1,2,2", T2I_OPTION_MODEL,
      "Width multipliers per level, comma-separated; the downsampling "
      "factor f is 2^(levels - 1)"),
  T2I_OPTION_INT ("res-blocks", 1, 1, MAX_BLOCKS - 1, T2I_OPTION_MODEL,
      "Residual blocks per encoder level (the decoder has one more)"),
  T2I_OPTION_STRING ("attention", "", T2I_OPTION_MODEL,
      "Resolutions with an attention block after each residual block, "
      "comma-separated (\"\": none; mid blocks always have one)"),
  T2I_OPTION_INT ("groups", 32, 1, 1024, T2I_OPTION_MODEL,
      "GroupNorm groups (every width must be a multiple)"),
  T2I_OPTION_INT ("z-channels", 64, 1, 65536, T2I_OPTION_MODEL,
      "Channels of the encoder output and decoder input"),
  T2I_OPTION_INT ("embed-dim", 64, 1, 65536, T2I_OPTION_MODEL,
      "Width of the code vectors"),
  T2I_OPTION_INT ("codes", 256, 2, 1 << 20, T2I_OPTION_MODEL,
      "Codebook size K"),
  T2I_OPTION_DOUBLE ("temperature", 0.9, 1e-6, 100.0, 0,
      "autoencode, training: the Gumbel-softmax temperature at step 0"),
  T2I_OPTION_DOUBLE ("min-temperature", 0.01, 1e-6, 100.0, 0,
      "autoencode, training: the temperature after anneal-steps (cosine "
      "from temperature, as taming's scheduler)"),
  T2I_OPTION_INT ("anneal-steps", 10000, 1, G_MAXINT, 0,
      "autoencode, training: steps of the cosine temperature decay"),
  T2I_OPTION_DOUBLE ("gumbel-noise", 1.0, 0.0, 100.0, 0,
      "autoencode, training: scale of the Gumbel noise (1: Gumbel-softmax, "
      "as taming; 0: the most probable code forward, the softmax's "
      "gradient back, so training decodes the codes inference will)"),
  {NULL}
};

typedef struct
{
  T2iTensor *weight, *bias;
} Norm;

typedef struct
{
  Norm norm1, norm2;
  T2iNnConv2d conv1, conv2, nin;
  gboolean has_nin;
} ResBlock;

typedef struct
{
  Norm norm;
  T2iNnConv2d q, k, v, proj;
} AttnBlock;

typedef struct
{
  ResBlock block[MAX_BLOCKS];
  AttnBlock attn[MAX_BLOCKS];
  gboolean has_attn;
  T2iNnConv2d sample;           /* down- or upsample conv */
  gboolean has_sample;
} Level;

typedef struct
{
  T2iNnConv2d conv_in, conv_out;
  Level level[MAX_LEVELS];
  ResBlock mid1, mid2;
  AttnBlock mid_attn;
  Norm norm_out;
} Coder;

typedef struct
{
  gint levels, blocks, groups, codes, res, factor;
  Coder enc, dec;
  T2iNnConv2d quant_conv, proj, post_quant_conv;
  T2iNnEmbedding embed;
} VqGan;

/* ---- configuration ---- */

/* the integers of a comma-separated option; FALSE with @error when one is
 * not a positive integer or there are more than @max */
static gboolean
int_list (const GstStructure * config, const char *prop, gint * out,
    gint max, gint * n, GError ** error)
{
  const char *text = t2i_config_string (config, prop);
  g_auto (GStrv) parts = g_strsplit (text ? text : "", ",", -1);
  *n = 0;
  for (gchar ** p = parts; *p; p++) {
    g_strstrip (*p);
    if (!**p)
      continue;
    gchar *end;
    gint64 v = g_ascii_strtoll (*p, &end, 10);
    if (*end || v < 1 || v > 65536 || *n == max) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
          "%s=%s: give up to %d positive integers, comma-separated", prop,
          text, max);
      return FALSE;
    }
    out[(*n)++] = (gint) v;
  }
  return TRUE;
}

static gboolean
configure (GstStructure * config, const T2iArchContext * ctx, GError ** error)
{
  gint mult[MAX_LEVELS], attn[16], nm, na;
  if (!int_list (config, "ch-mult", mult, MAX_LEVELS, &nm, error)
      || !int_list (config, "attention", attn, 16, &na, error))
    return FALSE;
  if (nm == 0) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "ch-mult= is empty: give one multiplier per level (\"1,2,2\")");
    return FALSE;
  }
  const gint ch = t2i_config_int (config, "channels"),
      g = t2i_config_int (config, "groups");
  if (ch % g) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "channels=%d is not a multiple of groups=%d", ch, g);
    return FALSE;
  }
  for (gint i = 0; i < nm; i++)
    if ((ch * mult[i]) % g) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
          "channels=%d x ch-mult %d is not a multiple of groups=%d", ch,
          mult[i], g);
      return FALSE;
    }
  if (t2i_config_double (config, "min-temperature") >
      t2i_config_double (config, "temperature")) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "min-temperature=%g is above temperature=%g",
        t2i_config_double (config, "min-temperature"),
        t2i_config_double (config, "temperature"));
    return FALSE;
  }
  return TRUE;
}

static gint
factor_of (const GstStructure * config)
{
  gint mult[MAX_LEVELS], n;
  if (!int_list (config, "ch-mult", mult, MAX_LEVELS, &n, NULL))
    return 1;
  return 1 << (n - 1);
}

/* ---- negotiation ---- */

static gboolean
images_in (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint * res, GError ** error)
{
  const char *name = t2i_config_string (config, "input");
  gint64 s[T2I_MAX_DIMS];
  if (!t2i_caps_require (in, name, "f32", 4, NULL, error)) {
    g_prefix_error (error, "input=%s: ", name);
    return FALSE;
  }
  t2i_caps_get_entry (in, name, NULL, NULL, s);
  const gint f = factor_of (config), want = t2i_config_int (config,
      "resolution");
  if (s[1] != 3 || s[2] != s[3] || s[2] % f) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be RGB square images [N, 3, R, R] with R a multiple "
        "of the downsampling factor %d", name, f);
    return FALSE;
  }
  if (want > 0 && s[2] != want) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s has %" G_GINT64_FORMAT " px images but the model takes "
        "resolution=%d", name, s[2], want);
    return FALSE;
  }
  *n = s[0];
  *res = (gint) s[2];
  return TRUE;
}

static gboolean
tokens_in (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint * res, GError ** error)
{
  const char *name = t2i_config_string (config, "tokens");
  gint64 s[T2I_MAX_DIMS];
  if (!t2i_caps_require (in, name, "i32", 3, NULL, error)) {
    g_prefix_error (error, "tokens=%s: ", name);
    return FALSE;
  }
  t2i_caps_get_entry (in, name, NULL, NULL, s);
  const gint f = factor_of (config), want = t2i_config_int (config,
      "resolution");
  if (s[1] != s[2] || (want > 0 && s[1] * f != want)) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "tokens=%s must be square grids%s", name, want > 0 ?
        " of the model's resolution / factor" : "");
    return FALSE;
  }
  *n = s[0];
  *res = (gint) (s[1] * f);
  return TRUE;
}

static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint * res, GError ** error)
{
  return g_str_equal (t2i_config_string (config, "mode"), "decode") ?
      tokens_in (config, in, n, res, error) : images_in (config, in, n, res,
      error);
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n;
  gint res;
  if (!check (config, in, &n, &res, error))
    return FALSE;
  const char *mode = t2i_config_string (config, "mode");
  const gint64 h = res / factor_of (config);
  gint64 ts[3] = { n, h, h }, is[4] = { n, 3, res, res };
  if (!g_str_equal (mode, "decode"))
    t2i_caps_set_entry (out, t2i_config_string (config, "tokens"), "i32", 3,
        ts);
  if (!g_str_equal (mode, "encode"))
    t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 4,
        is);
  if (g_str_equal (mode, "autoencode"))
    t2i_caps_set_entry (out, t2i_config_string (config, "kl"), "f32", 0,
        NULL);
  return TRUE;
}

/* ---- build ---- */

static void
norm_init (Norm * m, T2iParamGroup * g, const char *prefix, gint64 c)
{
  g_autofree char *w = g_strconcat (prefix, ".weight", NULL);
  g_autofree char *b = g_strconcat (prefix, ".bias", NULL);
  m->weight = t2i_tensor_full (T2I_F32, T2I_SHAPE (c), 1.0);
  m->bias = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (c));
  t2i_param_group_add (g, w, m->weight, TRUE);
  t2i_param_group_add (g, b, m->bias, TRUE);
  t2i_tensor_unref (m->weight);
  t2i_tensor_unref (m->bias);
}

static void
conv (T2iNnConv2d * m, T2iParamGroup * g, const char *prefix,
    const char *name, gint64 in, gint64 out, gint k, gint stride, gint pad,
    T2iRng * rng)
{
  g_autofree char *p = name ? g_strconcat (prefix, ".", name, NULL) :
      g_strdup (prefix);
  t2i_nn_conv2d_init (m, g, p, in, out, k, stride, pad, TRUE, rng);
}

static void
res_init (ResBlock * b, T2iParamGroup * g, const char *prefix, gint64 in,
    gint64 out, T2iRng * rng)
{
  g_autofree char *n1 = g_strconcat (prefix, ".norm1", NULL);
  g_autofree char *n2 = g_strconcat (prefix, ".norm2", NULL);
  norm_init (&b->norm1, g, n1, in);
  conv (&b->conv1, g, prefix, "conv1", in, out, 3, 1, 1, rng);
  norm_init (&b->norm2, g, n2, out);
  conv (&b->conv2, g, prefix, "conv2", out, out, 3, 1, 1, rng);
  b->has_nin = in != out;
  if (b->has_nin)
    conv (&b->nin, g, prefix, "nin_shortcut", in, out, 1, 1, 0, rng);
}

static void
attn_init (AttnBlock * a, T2iParamGroup * g, const char *prefix, gint64 c,
    T2iRng * rng)
{
  g_autofree char *n = g_strconcat (prefix, ".norm", NULL);
  norm_init (&a->norm, g, n, c);
  conv (&a->q, g, prefix, "q", c, c, 1, 1, 0, rng);
  conv (&a->k, g, prefix, "k", c, c, 1, 1, 0, rng);
  conv (&a->v, g, prefix, "v", c, c, 1, 1, 0, rng);
  conv (&a->proj, g, prefix, "proj_out", c, c, 1, 1, 0, rng);
}

static gboolean
has_attention (const gint * attn, gint na, gint res)
{
  for (gint i = 0; i < na; i++)
    if (attn[i] == res)
      return TRUE;
  return FALSE;
}

static void
mid_init (Coder * c, T2iParamGroup * g, const char *which, gint64 ch,
    T2iRng * rng)
{
  g_autofree char *b1 = g_strconcat (which, ".mid.block_1", NULL);
  g_autofree char *a1 = g_strconcat (which, ".mid.attn_1", NULL);
  g_autofree char *b2 = g_strconcat (which, ".mid.block_2", NULL);
  res_init (&c->mid1, g, b1, ch, ch, rng);
  attn_init (&c->mid_attn, g, a1, ch, rng);
  res_init (&c->mid2, g, b2, ch, ch, rng);
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  gint64 n;
  gint res, mult[MAX_LEVELS], attn[16], nl, na;
  if (!check (config, in, &n, &res, error)
      || !int_list (config, "ch-mult", mult, MAX_LEVELS, &nl, error)
      || !int_list (config, "attention", attn, 16, &na, error))
    return NULL;
  t2i_config_set_int (config, "resolution", res);
  VqGan *m = g_new0 (VqGan, 1);
  m->levels = nl;
  m->blocks = t2i_config_int (config, "res-blocks");
  m->groups = t2i_config_int (config, "groups");
  m->codes = t2i_config_int (config, "codes");
  m->res = res;
  m->factor = 1 << (nl - 1);
  const gint ch = t2i_config_int (config, "channels"),
      z = t2i_config_int (config, "z-channels"),
      e = t2i_config_int (config, "embed-dim");
  T2iParamGroup *g = ctx->params;
  T2iRng *rng = ctx->init_rng;

  /* encoder */
  conv (&m->enc.conv_in, g, "encoder.conv_in", NULL, 3, ch, 3, 1, 1, rng);
  gint cur = res, block_in = ch;
  for (gint i = 0; i < nl; i++) {
    Level *l = &m->enc.level[i];
    const gint block_out = ch * mult[i];
    l->has_attn = has_attention (attn, na, cur);
    for (gint j = 0; j < m->blocks; j++) {
      g_autofree char *bp = g_strdup_printf ("encoder.down.%d.block.%d", i,
          j);
      res_init (&l->block[j], g, bp, block_in, block_out, rng);
      block_in = block_out;
      if (l->has_attn) {
        g_autofree char *ap = g_strdup_printf ("encoder.down.%d.attn.%d", i,
            j);
        attn_init (&l->attn[j], g, ap, block_in, rng);
      }
    }
    l->has_sample = i != nl - 1;
    if (l->has_sample) {
      g_autofree char *dp = g_strdup_printf ("encoder.down.%d.downsample."
          "conv", i);
      conv (&l->sample, g, dp, NULL, block_in, block_in, 3, 2, 0, rng);
      cur /= 2;
    }
  }
  mid_init (&m->enc, g, "encoder", block_in, rng);
  norm_init (&m->enc.norm_out, g, "encoder.norm_out", block_in);
  conv (&m->enc.conv_out, g, "encoder.conv_out", NULL, block_in, z, 3, 1, 1,
      rng);

  /* quantiser */
  conv (&m->quant_conv, g, "quant_conv", NULL, z, e, 1, 1, 0, rng);
  conv (&m->proj, g, "quantize.proj", NULL, e, m->codes, 1, 1, 0, rng);
  t2i_nn_embedding_init (&m->embed, g, "quantize.embed", m->codes, e, 1.0,
      rng);
  conv (&m->post_quant_conv, g, "post_quant_conv", NULL, e, z, 1, 1, 0, rng);

  /* decoder */
  block_in = ch * mult[nl - 1];
  cur = res / m->factor;
  conv (&m->dec.conv_in, g, "decoder.conv_in", NULL, z, block_in, 3, 1, 1,
      rng);
  mid_init (&m->dec, g, "decoder", block_in, rng);
  for (gint i = nl - 1; i >= 0; i--) {
    Level *l = &m->dec.level[i];
    const gint block_out = ch * mult[i];
    l->has_attn = has_attention (attn, na, cur);
    for (gint j = 0; j < m->blocks + 1; j++) {
      g_autofree char *bp = g_strdup_printf ("decoder.up.%d.block.%d", i, j);
      res_init (&l->block[j], g, bp, block_in, block_out, rng);
      block_in = block_out;
      if (l->has_attn) {
        g_autofree char *ap = g_strdup_printf ("decoder.up.%d.attn.%d", i, j);
        attn_init (&l->attn[j], g, ap, block_in, rng);
      }
    }
    l->has_sample = i != 0;
    if (l->has_sample) {
      g_autofree char *up = g_strdup_printf ("decoder.up.%d.upsample.conv",
          i);
      conv (&l->sample, g, up, NULL, block_in, block_in, 3, 1, 1, rng);
      cur *= 2;
    }
  }
  norm_init (&m->dec.norm_out, g, "decoder.norm_out", block_in);
  conv (&m->dec.conv_out, g, "decoder.conv_out", NULL, block_in, 3, 3, 1, 1,
      rng);
  return m;
}

/* ---- the network ---- */

static T2iTensor *
norm_swish (const Norm * m, gint groups, T2iTensor * x, gboolean swish)
{
  g_autoptr (T2iTensor) h = t2i_group_norm (x, groups, m->weight, m->bias,
      1e-6);
  return swish ? t2i_silu (h) : t2i_tensor_ref (h);
}

static T2iTensor *
res_forward (ResBlock * b, gint groups, T2iTensor * x)
{
  g_autoptr (T2iTensor) h1 = norm_swish (&b->norm1, groups, x, TRUE);
  g_autoptr (T2iTensor) c1 = t2i_nn_conv2d (&b->conv1, h1);
  g_autoptr (T2iTensor) h2 = norm_swish (&b->norm2, groups, c1, TRUE);
  g_autoptr (T2iTensor) c2 = t2i_nn_conv2d (&b->conv2, h2);
  g_autoptr (T2iTensor) skip = b->has_nin ? t2i_nn_conv2d (&b->nin, x) :
      t2i_tensor_ref (x);
  return t2i_add (skip, c2);
}

/* [N, C, H, W] -> [N, 1, HW, C] */
static T2iTensor *
positions (T2iTensor * x)
{
  const gint64 n = x->shape[0], c = x->shape[1],
      hw = x->shape[2] * x->shape[3];
  static const gint perm[4] = { 0, 1, 3, 2 };
  g_autoptr (T2iTensor) r = t2i_reshape (x, T2I_SHAPE (n, 1, c, hw));
  return t2i_permute (r, perm);
}

static T2iTensor *
attn_forward (AttnBlock * a, gint groups, T2iTensor * x)
{
  const gint64 n = x->shape[0], c = x->shape[1], h = x->shape[2],
      w = x->shape[3];
  g_autoptr (T2iTensor) hn = norm_swish (&a->norm, groups, x, FALSE);
  g_autoptr (T2iTensor) q = t2i_nn_conv2d (&a->q, hn);
  g_autoptr (T2iTensor) k = t2i_nn_conv2d (&a->k, hn);
  g_autoptr (T2iTensor) v = t2i_nn_conv2d (&a->v, hn);
  g_autoptr (T2iTensor) qp = positions (q);
  g_autoptr (T2iTensor) kp = positions (k);
  g_autoptr (T2iTensor) vp = positions (v);
  g_autoptr (T2iTensor) o = t2i_scaled_dot_product_attention (qp, kp, vp,
      FALSE, 0.0);
  static const gint perm[4] = { 0, 1, 3, 2 };
  g_autoptr (T2iTensor) ot = t2i_permute (o, perm);
  g_autoptr (T2iTensor) map = t2i_reshape (ot, T2I_SHAPE (n, c, h, w));
  g_autoptr (T2iTensor) p = t2i_nn_conv2d (&a->proj, map);
  return t2i_add (x, p);
}

/* replaces *x by f(*x) */
#define STEP(x, expr) do { T2iTensor *next_ = (expr); \
    t2i_tensor_unref (x); x = next_; } while (0)

static T2iTensor *
mid_forward (Coder * c, gint groups, T2iTensor * x)
{
  T2iTensor *h = res_forward (&c->mid1, groups, x);
  STEP (h, attn_forward (&c->mid_attn, groups, h));
  STEP (h, res_forward (&c->mid2, groups, h));
  return h;
}

static T2iTensor *
level_blocks (Level * l, gint n, gint groups, T2iTensor * h)
{
  T2iTensor *x = t2i_tensor_ref (h);
  for (gint j = 0; j < n; j++) {
    STEP (x, res_forward (&l->block[j], groups, x));
    if (l->has_attn)
      STEP (x, attn_forward (&l->attn[j], groups, x));
  }
  return x;
}

/* images [N, 3, R, R] -> code logits [N, K, R/f, R/f] */
static T2iTensor *
encode (VqGan * m, T2iTensor * image)
{
  T2iTensor *h = t2i_nn_conv2d (&m->enc.conv_in, image);
  for (gint i = 0; i < m->levels; i++) {
    Level *l = &m->enc.level[i];
    STEP (h, level_blocks (l, m->blocks, m->groups, h));
    if (l->has_sample) {
      /* taming pads right and bottom by one, then a valid stride-2 conv */
      STEP (h, t2i_pad2d (h, 0, 1, 0, 1, 0.0));
      STEP (h, t2i_nn_conv2d (&l->sample, h));
    }
  }
  STEP (h, mid_forward (&m->enc, m->groups, h));
  STEP (h, norm_swish (&m->enc.norm_out, m->groups, h, TRUE));
  STEP (h, t2i_nn_conv2d (&m->enc.conv_out, h));
  STEP (h, t2i_nn_conv2d (&m->quant_conv, h));
  STEP (h, t2i_nn_conv2d (&m->proj, h));
  return h;
}

/* code vectors [N, embed-dim, h, w] -> images [N, 3, R, R] */
static T2iTensor *
decode (VqGan * m, T2iTensor * zq)
{
  T2iTensor *h = t2i_nn_conv2d (&m->post_quant_conv, zq);
  STEP (h, t2i_nn_conv2d (&m->dec.conv_in, h));
  STEP (h, mid_forward (&m->dec, m->groups, h));
  for (gint i = m->levels - 1; i >= 0; i--) {
    Level *l = &m->dec.level[i];
    STEP (h, level_blocks (l, m->blocks + 1, m->groups, h));
    if (l->has_sample) {
      STEP (h, t2i_upsample_nearest2d (h, 2));
      STEP (h, t2i_nn_conv2d (&l->sample, h));
    }
  }
  STEP (h, norm_swish (&m->dec.norm_out, m->groups, h, TRUE));
  STEP (h, t2i_nn_conv2d (&m->dec.conv_out, h));
  return h;
}

/* weights [N, K, h, w] over the codes -> code vectors [N, E, h, w] */
static T2iTensor *
lookup (VqGan * m, T2iTensor * weights)
{
  static const gint to_last[4] = { 0, 2, 3, 1 }, to_chan[4] = { 0, 3, 1, 2 };
  g_autoptr (T2iTensor) wl = t2i_permute (weights, to_last);
  g_autoptr (T2iTensor) z = t2i_matmul (wl, m->embed.weight);
  return t2i_permute (z, to_chan);
}

/* tokens [N, h, w] -> code vectors [N, E, h, w] */
static T2iTensor *
lookup_tokens (VqGan * m, T2iTensor * tokens)
{
  static const gint to_chan[4] = { 0, 3, 1, 2 };
  g_autoptr (T2iTensor) z = t2i_nn_embedding (&m->embed, tokens);
  return t2i_permute (z, to_chan);
}

/* one-hot of the codes along axis 1 of @idx's [N, h, w], built on the
 * host and put where @idx is */
static T2iTensor *
one_hot (T2iTensor * idx, gint64 codes)
{
  const gint64 n = idx->shape[0], hw = idx->shape[1] * idx->shape[2];
  g_autoptr (T2iTensor) ih = t2i_tensor_to_device (idx, T2I_DEVICE_CPU, NULL);
  g_autoptr (T2iTensor) o = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (n, codes,
          idx->shape[1], idx->shape[2]));
  for (gint64 i = 0; i < n; i++)
    for (gint64 p = 0; p < hw; p++)
      t2i_tensor_f32 (o)[(i * codes + t2i_tensor_i32 (ih)[i * hw + p]) * hw
          + p] = 1.0f;
  return t2i_tensor_to_device (o, idx->device, NULL);
}

/* the annealed temperature at @step (taming's cosine schedule) */
static double
temperature (const GstStructure * c, gint64 step)
{
  const double t0 = t2i_config_double (c, "temperature"),
      t1 = t2i_config_double (c, "min-temperature");
  const double f = MIN ((double) step / t2i_config_int (c, "anneal-steps"),
      1.0);
  return t1 + 0.5 * (t0 - t1) * (1.0 + cos (f * G_PI));
}

/* mean over positions of sum_k q_k log(K q_k + 1e-10), q = softmax */
static T2iTensor *
kl_uniform (T2iTensor * logits, gint codes)
{
  g_autoptr (T2iTensor) q = t2i_softmax (logits, 1);
  g_autoptr (T2iTensor) kq = t2i_mul_scalar (q, (double) codes);
  g_autoptr (T2iTensor) kq1 = t2i_add_scalar (kq, 1e-10);
  g_autoptr (T2iTensor) lg = t2i_log (kq1);
  g_autoptr (T2iTensor) p = t2i_mul (q, lg);
  g_autoptr (T2iTensor) s = t2i_sum (p, 1, FALSE);
  return t2i_mean (s, T2I_ALL_AXES, FALSE);
}

/* Gumbel-softmax with a hard forward and the soft gradient */
static T2iTensor *
gumbel_hard (T2iTensor * logits, double tau, double noise, T2iRng * rng,
    T2iTensor ** idx)
{
  g_autoptr (T2iTensor) uh = t2i_tensor_new (T2I_F32, logits->ndim,
      logits->shape);
  t2i_rng_fill_uniform (rng, uh, 0.0, 1.0);
  for (gint64 i = 0; i < uh->numel; i++) {
    const double v = t2i_tensor_f32 (uh)[i];
    t2i_tensor_f32 (uh)[i] = (float) (-noise * log (-log (v + 1e-20)
            + 1e-20));
  }
  g_autoptr (T2iTensor) u = t2i_tensor_to_device (uh, logits->device, NULL);
  g_autoptr (T2iTensor) y = t2i_add (logits, u);
  g_autoptr (T2iTensor) ys = t2i_mul_scalar (y, 1.0 / tau);
  g_autoptr (T2iTensor) soft = t2i_softmax (ys, 1);
  *idx = t2i_argmax (soft, 1);
  g_autoptr (T2iTensor) hard = one_hot (*idx, logits->shape[1]);
  g_autoptr (T2iTensor) sd = t2i_detach (soft);
  g_autoptr (T2iTensor) diff = t2i_sub (hard, sd);
  return t2i_add (diff, soft);
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  VqGan *m = net;
  const GstStructure *c = ctx->config;
  const char *mode = t2i_config_string (c, "mode");
  if (g_str_equal (mode, "decode")) {
    const char *name = t2i_config_string (c, "tokens");
    T2iTensor *tokens = t2i_record_get_tensor (record, name);
    const gint h = m->res / m->factor;
    if (!tokens || tokens->dtype != T2I_I32 || tokens->ndim != 3
        || tokens->shape[1] != h || tokens->shape[2] != h) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "tokens=%s must be i32 [N, %d, %d]", name, h, h);
      return FALSE;
    }
    g_autoptr (T2iTensor) th = t2i_tensor_to_device (tokens, T2I_DEVICE_CPU,
        error);
    if (!th)
      return FALSE;
    for (gint64 i = 0; i < th->numel; i++)
      if (t2i_tensor_i32 (th)[i] < 0 || t2i_tensor_i32 (th)[i] >= m->codes) {
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "tokens=%s holds %d, outside the codebook 0 .. %d", name,
            t2i_tensor_i32 (th)[i], m->codes - 1);
        return FALSE;
      }
    g_autoptr (T2iTensor) zq = lookup_tokens (m, tokens);
    g_autoptr (T2iTensor) img = decode (m, zq);
    g_autoptr (T2iTensor) clamped = t2i_clamp (img, -1.0, 1.0);
    return t2i_record_set_tensor (record, t2i_config_string (c, "output"),
        clamped, error);
  }

  const char *in_name = t2i_config_string (c, "input");
  T2iTensor *image = t2i_record_get_tensor (record, in_name);
  if (!image || image->dtype != T2I_F32 || image->ndim != 4
      || image->shape[1] != 3 || image->shape[2] != m->res
      || image->shape[3] != m->res) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be f32 [N, 3, %d, %d]", in_name, m->res, m->res);
    return FALSE;
  }
  g_autoptr (T2iTensor) logits = encode (m, image);
  if (g_str_equal (mode, "encode")) {
    /* deterministic: the most probable code (the released codec adds
     * Gumbel noise here too) */
    g_autoptr (T2iTensor) idx = t2i_argmax (logits, 1);
    return t2i_record_set_tensor (record, t2i_config_string (c, "tokens"),
        idx, error);
  }
  g_autoptr (T2iTensor) idx = NULL;
  g_autoptr (T2iTensor) weights = NULL;
  if (ctx->training && ctx->trainable) {
    const double tau = temperature (c, t2i_record_get_meta (record)->step);
    weights = gumbel_hard (logits, tau, t2i_config_double (c, "gumbel-noise"),
        ctx->rng, &idx);
  } else {
    idx = t2i_argmax (logits, 1);
    weights = one_hot (idx, m->codes);
  }
  g_autoptr (T2iTensor) zq = lookup (m, weights);
  g_autoptr (T2iTensor) recon = decode (m, zq);
  g_autoptr (T2iTensor) kl = kl_uniform (logits, m->codes);
  return t2i_record_set_tensor (record, t2i_config_string (c, "tokens"), idx,
      error)
      && t2i_record_set_tensor (record, t2i_config_string (c, "output"),
      recon, error)
      && t2i_record_set_tensor (record, t2i_config_string (c, "kl"), kl,
      error);
}

static void
net_free (gpointer p)
{
  g_free (p);
}

const T2iArch t2i_arch_vqgan_gumbel = {
  "gumbel", T2I_ROLE_VQGAN,
  "taming-transformers' Gumbel VQGAN (CLIP-VQDiffusion's tokenizer)",
  options, "quantize.proj.weight",
  NULL, configure, negotiate, build, NULL, forward, net_free,
};
