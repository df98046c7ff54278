/* arch=multistage for t2igenerator: the multi-stage generator of ICSD-GAN
 * (Table 1) on MS-GAN's attention-modulated generators (Mao et al., BMVC
 * 2019) and AttnGAN's G_NET (taoxugit/AttnGAN code/model.py).
 *
 * G_0, from c (t2icondaug) and z, at the base resolution B:
 *   fc(concat(c, z)) -> BN -> GLU -> [ngf 2^u, 4, 4]     (no bias)
 *   u = log2(B / 4) times: nearest x2, conv 3x3, BN, GLU  (channels halve)
 *   h_0 [ngf, B, B]; fake0 = tanh(conv 3x3 (h_0))
 * G_i (i >= 1), from h_{i-1} and the word features e [N, L, Dw]:
 *   Attn: w = W e (W: conv_context, 1x1, no bias, Dw -> ngf); for each
 *     location r, a_r = softmax over the caption's words of h_r . w_l
 *     (padding left out), context_r = sum_l a_rl w_l          [ngf, H, W]
 *   x = concat(h, context)                                    [2 ngf, H, W]
 *   am-blocks times x = AM(x, context)
 *   h_i = GLU(BN(conv 3x3 (nearest x2 (x))))                  [ngf, 2H, 2W]
 *   fake_i = tanh(conv 3x3 (h_i))
 * so output= "fake" gives fake0, fake1, fake2 at B, 2B, 4B (64, 128, 256
 * as the paper; base-resolution=16 gives 16, 32, 64 for CPUs).
 *
 * MS-GAN has no public code and its paper describes the attention-
 * modulation block only as modulating the visual features with the
 * attended text.  Ours is AttnGAN's residual block with each batch norm's
 * learned scale and shift replaced by ones computed, per location, from
 * the word context (as SPADE does from a layout):
 *   y = BN'(conv 3x3 (x)) * (1 + gamma_1) + beta_1,  [gamma_1, beta_1] =
 *       conv 3x3 (context)                            (4 ngf channels each)
 *   y = GLU(y)
 *   y = BN'(conv 3x3 (y)) * (1 + gamma_2) + beta_2   (2 ngf channels)
 *   AM(x, context) = x + y
 * BN' is batch norm without its affine parameters; the 1 + gamma form
 * starts as the plain residual block.  block=res is AttnGAN's residual
 * block itself (BN with its own affine parameters, no modulation).
 *
 * Batch norms use the batch's statistics while the generator trains and
 * their running averages otherwise (PyTorch's train/eval).  Weights have
 * PyTorch's default initialisation (AttnGAN draws orthogonal ones).
 *
 * Parameters: g0.fc.weight, g0.fc_bn.*, g0.up.<k>.{conv.weight,bn.*},
 * g<i>.img.weight; g<i>.att.conv_context.weight, g<i>.am.<k>.{conv1,
 * conv2}.weight, g<i>.am.<k>.{mod1,mod2}.{weight,bias} (block=am) or
 * g<i>.am.<k>.{bn1,bn2}.{weight,bias} (block=res), g<i>.am.<k>.{bn1,bn2}.
 * {running_mean,running_var}, g<i>.up.{conv.weight,bn.*}.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <math.h>

#define MAX_STAGES 3
#define MAX_UP 8
#define MAX_AM 8
#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("cond", "c", 0,
      "The sentence condition c, f32 [N, cond-dim] (t2icondaug)"),
  T2I_OPTION_ENTRY ("noise", "z", 0, "Noise z, f32 [N, z-dim] (t2inoise)"),
  T2I_OPTION_ENTRY ("words", "words", 0,
      "Word features e, f32 [N, L, word-dim] (t2itextencoder "
      "token-features=), for the stages after the first"),
  T2I_OPTION_ENTRY ("words-mask", "words_mask", 0,
      "Which word positions are real, f32 [N, L] (t2itextencoder "
      "token-mask=)"),
  T2I_OPTION_ENTRY ("output", "fake", 0,
      "Prefix P of the images P0, P1, ... of each stage, f32 [N, 3, R_i, "
      "R_i] in [-1, 1]"),
  T2I_OPTION_INT ("stages", 3, 1, MAX_STAGES, T2I_OPTION_MODEL,
      "Stages: images at base-resolution times 1, 2, 4"),
  T2I_OPTION_INT ("base-resolution", 64, 8, 1024, T2I_OPTION_MODEL,
      "Side of the first stage's images (a power of two; the paper's 64)"),
  T2I_OPTION_INT ("channels", 32, 1, 4096, T2I_OPTION_MODEL,
      "ngf: channels of each stage's hidden features (AttnGAN's GF_DIM)"),
  T2I_OPTION_INT ("am-blocks", 1, 0, MAX_AM, T2I_OPTION_MODEL,
      "N_AM: attention-modulation blocks per later stage (the paper: 1 on "
      "CUB, 2 on Oxford-102)"),
  T2I_OPTION_CHOICE ("block", "am", "am|res", T2I_OPTION_MODEL,
      "The blocks of the later stages: am, attention-modulation blocks "
      "(MS-GAN); res, AttnGAN's residual blocks"),
  T2I_OPTION_INT ("z-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Noise size (0: the width of the noise entry)"),
  T2I_OPTION_INT ("cond-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Condition size (0: the width of the cond entry)"),
  T2I_OPTION_INT ("word-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Word feature size (0: the width of the words entry)"),
  {NULL}
};

typedef struct
{
  T2iTensor *weight, *bias;     /* NULL without affine parameters */
  T2iTensor *mean, *var;
} Bn;

typedef struct
{
  T2iTensor *conv;              /* [2 out, in, 3, 3] */
  Bn bn;
} Up;

typedef struct
{
  T2iTensor *conv1, *conv2;
  T2iNnConv2d mod1, mod2;       /* block=am */
  Bn bn1, bn2;
} Am;

typedef struct
{
  T2iTensor *conv_context;      /* [ngf, Dw] (a 1x1 convolution) */
  Am am[MAX_AM];
  Up up;
} Next;

typedef struct
{
  gint stages, base, ngf, n_am, n_up;
  gboolean modulate;
  gint64 z_dim, cond_dim, word_dim;
  T2iTensor *fc;
  Bn fc_bn;
  Up up0[MAX_UP];
  Next next[MAX_STAGES];
  T2iTensor *img[MAX_STAGES];
} MultiStage;

/* ---- negotiation ---- */

static gboolean
require (const GstStructure * config, const GstStructure * in,
    const char *prop, gint ndim, const char *dim_prop, gint64 * shape,
    GError ** error)
{
  const char *name = t2i_config_string (config, prop);
  if (!t2i_caps_require (in, name, "f32", ndim, NULL, error)) {
    g_prefix_error (error, "%s=%s: ", prop, name);
    return FALSE;
  }
  t2i_caps_get_entry (in, name, NULL, NULL, shape);
  const gint want = dim_prop ? t2i_config_int (config, dim_prop) : 0;
  if (want > 0 && shape[ndim - 1] != want) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s has %" G_GINT64_FORMAT " features but the model takes "
        "%s=%d", prop, name, shape[ndim - 1], dim_prop, want);
    return FALSE;
  }
  return TRUE;
}

/* checks the inputs: dims[0..2] get z, cond and word sizes, *n the batch */
static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint64 * dims, GError ** error)
{
  gint64 zs[T2I_MAX_DIMS], cs[T2I_MAX_DIMS], ws[T2I_MAX_DIMS] = { 0 };
  const gint base = t2i_config_int (config, "base-resolution");
  if (base & (base - 1)) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "base-resolution=%d is not a power of two", base);
    return FALSE;
  }
  if (!require (config, in, "noise", 2, "z-dim", zs, error)
      || !require (config, in, "cond", 2, "cond-dim", cs, error))
    return FALSE;
  if (zs[0] != cs[0]) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "noise=%s has %" G_GINT64_FORMAT " items but cond=%s has %"
        G_GINT64_FORMAT, t2i_config_string (config, "noise"), zs[0],
        t2i_config_string (config, "cond"), cs[0]);
    return FALSE;
  }
  if (t2i_config_int (config, "stages") > 1) {
    gint64 ms[T2I_MAX_DIMS];
    if (!require (config, in, "words", 3, "word-dim", ws, error)
        || !require (config, in, "words-mask", 2, NULL, ms, error))
      return FALSE;
    if (ws[0] != cs[0] || ms[0] != ws[0] || ms[1] != ws[1]) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "words=%s [N, L, D] and words-mask=%s [N, L] must hold the words "
          "of cond=%s's %" G_GINT64_FORMAT " items",
          t2i_config_string (config, "words"), t2i_config_string (config,
              "words-mask"), t2i_config_string (config, "cond"), cs[0]);
      return FALSE;
    }
  }
  *n = cs[0];
  dims[0] = zs[1];
  dims[1] = cs[1];
  dims[2] = ws[2];
  return TRUE;
}

static gchar *
stage_entry (const GstStructure * config, gint i)
{
  return g_strdup_printf ("%s%d", t2i_config_string (config, "output"), i);
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n, dims[3];
  if (!check (config, in, &n, dims, error))
    return FALSE;
  const gint base = t2i_config_int (config, "base-resolution");
  for (gint i = 0; i < t2i_config_int (config, "stages"); i++) {
    g_autofree gchar *name = stage_entry (config, i);
    gint64 shape[4] = { n, 3, (gint64) base << i, (gint64) base << i };
    t2i_caps_set_entry (out, name, "f32", 4, shape);
  }
  return TRUE;
}

/* ---- building ---- */

static T2iTensor *
conv_weight (T2iParamGroup * g, const char *name, gint64 in, gint64 out,
    gint k, T2iRng * rng)
{
  T2iNnConv2d c;
  t2i_nn_conv2d_init (&c, g, name, in, out, k, 1, k / 2, FALSE, rng);
  return c.weight;
}

static void
bn_init (Bn * b, T2iParamGroup * g, const char *name, gint64 c,
    gboolean affine)
{
  b->weight = affine ? t2i_model_add (g, name, "weight",
      t2i_tensor_full (T2I_F32, T2I_SHAPE (c), 1.0), TRUE) : NULL;
  b->bias = affine ? t2i_model_add (g, name, "bias",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (c)), TRUE) : NULL;
  b->mean = t2i_model_add (g, name, "running_mean",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (c)), FALSE);
  b->var = t2i_model_add (g, name, "running_var",
      t2i_tensor_full (T2I_F32, T2I_SHAPE (c), 1.0), FALSE);
}

/* upBlock(in, out): nearest x2, conv 3x3 (in -> 2 out), BN, GLU */
static void
up_init (Up * u, T2iParamGroup * g, const char *name, gint64 in, gint64 out,
    T2iRng * rng)
{
  g_autofree char *c = t2i_model_join (name, "conv");
  g_autofree char *b = t2i_model_join (name, "bn");
  u->conv = conv_weight (g, c, in, 2 * out, 3, rng);
  bn_init (&u->bn, g, b, 2 * out, TRUE);
}

static void
am_init (Am * a, T2iParamGroup * g, const char *name, gint64 ngf,
    gboolean modulate, T2iRng * rng)
{
  g_autofree char *c1 = t2i_model_join (name, "conv1");
  g_autofree char *c2 = t2i_model_join (name, "conv2");
  g_autofree char *b1 = t2i_model_join (name, "bn1");
  g_autofree char *b2 = t2i_model_join (name, "bn2");
  a->conv1 = conv_weight (g, c1, 2 * ngf, 4 * ngf, 3, rng);
  bn_init (&a->bn1, g, b1, 4 * ngf, !modulate);
  a->conv2 = conv_weight (g, c2, 2 * ngf, 2 * ngf, 3, rng);
  bn_init (&a->bn2, g, b2, 2 * ngf, !modulate);
  if (!modulate)
    return;
  /* [gamma, beta] from the word context */
  g_autofree char *m1 = t2i_model_join (name, "mod1");
  g_autofree char *m2 = t2i_model_join (name, "mod2");
  t2i_nn_conv2d_init (&a->mod1, g, m1, ngf, 2 * 4 * ngf, 3, 1, 1, TRUE, rng);
  t2i_nn_conv2d_init (&a->mod2, g, m2, ngf, 2 * 2 * ngf, 3, 1, 1, TRUE, rng);
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  gint64 n, dims[3];
  if (!check (config, in, &n, dims, error))
    return NULL;
  MultiStage *m = g_new0 (MultiStage, 1);
  m->stages = t2i_config_int (config, "stages");
  m->base = t2i_config_int (config, "base-resolution");
  m->ngf = t2i_config_int (config, "channels");
  m->n_am = t2i_config_int (config, "am-blocks");
  m->modulate = g_str_equal (t2i_config_string (config, "block"), "am");
  m->z_dim = dims[0];
  m->cond_dim = dims[1];
  m->word_dim = dims[2];
  m->n_up = (gint) log2 ((double) m->base / 4.0);
  t2i_config_set_int (config, "z-dim", (gint) m->z_dim);
  t2i_config_set_int (config, "cond-dim", (gint) m->cond_dim);
  t2i_config_set_int (config, "word-dim", (gint) m->word_dim);
  if (m->n_up < 1 || m->n_up > MAX_UP) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "base-resolution=%d: the first stage upsamples 4 x 4 by 2 to %d "
        "times", m->base, MAX_UP);
    g_free (m);
    return NULL;
  }

  T2iParamGroup *g = ctx->params;
  T2iRng *rng = ctx->init_rng;
  const gint64 top = (gint64) m->ngf << m->n_up;
  T2iNnLinear fc;
  t2i_nn_linear_init (&fc, g, "g0.fc", m->cond_dim + m->z_dim,
      top * 4 * 4 * 2, FALSE, rng);
  m->fc = fc.weight;
  bn_init (&m->fc_bn, g, "g0.fc_bn", top * 4 * 4 * 2, TRUE);
  for (gint k = 0; k < m->n_up; k++) {
    g_autofree char *name = g_strdup_printf ("g0.up.%d", k);
    up_init (&m->up0[k], g, name, top >> k, top >> (k + 1), rng);
  }
  m->img[0] = conv_weight (g, "g0.img", m->ngf, 3, 3, rng);
  for (gint i = 1; i < m->stages; i++) {
    Next *s = &m->next[i];
    g_autofree char *cc = g_strdup_printf ("g%d.att.conv_context", i);
    T2iNnLinear ctxw;
    t2i_nn_linear_init (&ctxw, g, cc, m->word_dim, m->ngf, FALSE, rng);
    s->conv_context = ctxw.weight;
    for (gint k = 0; k < m->n_am; k++) {
      g_autofree char *name = g_strdup_printf ("g%d.am.%d", i, k);
      am_init (&s->am[k], g, name, m->ngf, m->modulate, rng);
    }
    g_autofree char *up = g_strdup_printf ("g%d.up", i);
    up_init (&s->up, g, up, 2 * m->ngf, m->ngf, rng);
    g_autofree char *img = g_strdup_printf ("g%d.img", i);
    m->img[i] = conv_weight (g, img, m->ngf, 3, 3, rng);
  }
  return m;
}

/* ---- forward ---- */

static T2iTensor *
bn (Bn * b, T2iTensor * x, gboolean training)
{
  return t2i_batch_norm (x, b->weight, b->bias, b->mean, b->var, training,
      BN_MOMENTUM, BN_EPS);
}

static T2iTensor *
conv3 (T2iTensor * x, T2iTensor * w)
{
  T2iConvParams p = T2I_CONV_PARAMS (1, 1);
  return t2i_conv2d (x, w, NULL, &p);
}

static T2iTensor *
up_forward (Up * u, T2iTensor * x, gboolean training)
{
  T2iTensor *y = t2i_upsample_nearest2d (x, 2);
  T2I_MODEL_STEP (y, conv3 (y, u->conv));
  T2I_MODEL_STEP (y, bn (&u->bn, y, training));
  T2I_MODEL_STEP (y, t2i_glu (y, 1));
  return y;
}

/* y * (1 + gamma) + beta, [gamma, beta] = mod(context) */
static T2iTensor *
modulate (T2iNnConv2d * mod, T2iTensor * y, T2iTensor * context)
{
  const gint64 c = y->shape[1];
  g_autoptr (T2iTensor) gb = t2i_nn_conv2d (mod, context);
  T2iTensor *parts[2] = { NULL };
  t2i_split (gb, 1, 2, (gint64[]) { c, c }, parts);
  g_autoptr (T2iTensor) gamma = parts[0];
  g_autoptr (T2iTensor) beta = parts[1];
  g_autoptr (T2iTensor) scale = t2i_add_scalar (gamma, 1.0);
  g_autoptr (T2iTensor) ys = t2i_mul (y, scale);
  return t2i_add (ys, beta);
}

static T2iTensor *
am_forward (MultiStage * m, Am * a, T2iTensor * x, T2iTensor * context,
    gboolean training)
{
  T2iTensor *y = conv3 (x, a->conv1);
  T2I_MODEL_STEP (y, bn (&a->bn1, y, training));
  if (m->modulate)
    T2I_MODEL_STEP (y, modulate (&a->mod1, y, context));
  T2I_MODEL_STEP (y, t2i_glu (y, 1));
  T2I_MODEL_STEP (y, conv3 (y, a->conv2));
  T2I_MODEL_STEP (y, bn (&a->bn2, y, training));
  if (m->modulate)
    T2I_MODEL_STEP (y, modulate (&a->mod2, y, context));
  T2I_MODEL_STEP (y, t2i_add (x, y));
  return y;
}

/* AttnGAN's GlobalAttentionGeneral: the word context of each location of
 * h [N, C, H, W]; @bias [N, 1, L] is -inf on padding, 0 on words */
static T2iTensor *
word_context (Next * s, T2iTensor * h, T2iTensor * words, T2iTensor * bias)
{
  const gint64 n = h->shape[0], c = h->shape[1], hh = h->shape[2],
      ww = h->shape[3];
  /* w = W e: [N, L, C] */
  g_autoptr (T2iTensor) w = t2i_linear (words, s->conv_context, NULL);
  g_autoptr (T2iTensor) hf = t2i_reshape (h, T2I_SHAPE (n, c, hh * ww));
  g_autoptr (T2iTensor) q = t2i_transpose (hf, 1, 2);
  g_autoptr (T2iTensor) wt = t2i_transpose (w, 1, 2);
  /* scores [N, HW, L] over the words */
  g_autoptr (T2iTensor) sc = t2i_matmul (q, wt);
  g_autoptr (T2iTensor) masked = t2i_add (sc, bias);
  g_autoptr (T2iTensor) a = t2i_softmax (masked, 2);
  g_autoptr (T2iTensor) ctxr = t2i_matmul (a, w);
  g_autoptr (T2iTensor) ctxt = t2i_transpose (ctxr, 1, 2);
  return t2i_reshape (ctxt, T2I_SHAPE (n, c, hh, ww));
}

/* [N, 1, L]: -inf at padding (rows without any word stay unmasked) */
static T2iTensor *
mask_bias (T2iTensor * mask)
{
  const gint64 n = mask->shape[0], l = mask->shape[1];
  T2iTensor *b = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (n, 1, l));
  for (gint64 i = 0; i < n; i++) {
    gboolean any = FALSE;
    for (gint64 j = 0; j < l; j++)
      any |= t2i_tensor_get (mask, i * l + j) != 0.0;
    for (gint64 j = 0; any && j < l; j++)
      if (t2i_tensor_get (mask, i * l + j) == 0.0)
        t2i_tensor_f32 (b)[i * l + j] = -INFINITY;
  }
  return b;
}

static T2iTensor *
to_image (T2iTensor * h, T2iTensor * w)
{
  g_autoptr (T2iTensor) y = conv3 (h, w);
  return t2i_tanh (y);
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  MultiStage *m = net;
  const GstStructure *config = ctx->config;
  const gboolean training = ctx->training && ctx->trainable;
  T2iTensor *z = t2i_record_get_tensor (record, t2i_config_string (config,
          "noise"));
  T2iTensor *c = t2i_record_get_tensor (record, t2i_config_string (config,
          "cond"));
  T2iTensor *words = NULL, *mask = NULL;
  if (m->stages > 1) {
    words = t2i_record_get_tensor (record, t2i_config_string (config,
            "words"));
    mask = t2i_record_get_tensor (record, t2i_config_string (config,
            "words-mask"));
  }
  if (!z || !c || z->ndim != 2 || c->ndim != 2 || z->shape[1] != m->z_dim
      || c->shape[1] != m->cond_dim || z->shape[0] != c->shape[0]
      || (m->stages > 1 && (!words || !mask || words->ndim != 3
              || mask->ndim != 2 || words->shape[2] != m->word_dim
              || words->shape[0] != c->shape[0]
              || mask->numel != words->shape[0] * words->shape[1]))) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "needs noise=%s [N, %" G_GINT64_FORMAT "], cond=%s [N, %"
        G_GINT64_FORMAT "]%s (the record has: %s)",
        t2i_config_string (config, "noise"), m->z_dim,
        t2i_config_string (config, "cond"), m->cond_dim, m->stages > 1 ?
        ", words [N, L, word-dim] and words-mask [N, L]" : "", has);
    return FALSE;
  }
  const gint64 n = c->shape[0], top = (gint64) m->ngf << m->n_up;

  /* G_0 */
  g_autoptr (T2iTensor) cz = t2i_concat ((T2iTensor *[]) { c, z }, 2, 1);
  T2iTensor *h = t2i_linear (cz, m->fc, NULL);
  T2I_MODEL_STEP (h, bn (&m->fc_bn, h, training));
  T2I_MODEL_STEP (h, t2i_glu (h, 1));
  T2I_MODEL_STEP (h, t2i_reshape (h, T2I_SHAPE (n, top, 4, 4)));
  for (gint k = 0; k < m->n_up; k++)
    T2I_MODEL_STEP (h, up_forward (&m->up0[k], h, training));

  g_autoptr (T2iTensor) bias = mask ? mask_bias (mask) : NULL;
  gboolean ok = TRUE;
  for (gint i = 0; ok && i < m->stages; i++) {
    if (i > 0) {
      Next *s = &m->next[i];
      g_autoptr (T2iTensor) context = word_context (s, h, words, bias);
      T2iTensor *x = t2i_concat ((T2iTensor *[]) { h, context }, 2, 1);
      for (gint k = 0; k < m->n_am; k++)
        T2I_MODEL_STEP (x, am_forward (m, &s->am[k], x, context, training));
      T2I_MODEL_STEP (h, up_forward (&s->up, x, training));
      t2i_tensor_unref (x);
    }
    g_autoptr (T2iTensor) img = to_image (h, m->img[i]);
    g_autofree gchar *name = stage_entry (config, i);
    ok = t2i_record_set_tensor (record, name, img, error);
  }
  t2i_tensor_unref (h);
  return ok;
}

const T2iArch t2i_arch_multistage = {
  "multistage", T2I_ROLE_GENERATOR,
  "ICSD-GAN's multi-stage generator: AttnGAN's G_0, then stages with word "
      "attention and MS-GAN's attention-modulation blocks",
  options, "g0.fc.weight",
  NULL, NULL, negotiate, build, NULL, forward, g_free,
};
