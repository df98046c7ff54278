/* arch=msgan for t2idiscriminator: one stage's similarity-aware
 * discriminator D_i of ICSD-GAN (Table 2, eq. 5-8), after MS-GAN (Mao et
 * al., BMVC 2019) and AttnGAN's D_NET64/128/256 (taoxugit/AttnGAN
 * code/model.py).
 *
 * Downsampling (Table 2), for images of side R, n = log2(R / 4):
 *   conv 4x4/2 (3 -> ndf), LeakyReLU 0.2
 *   n - 1 times: conv 4x4/2 (channels double), BN, LeakyReLU
 *   stage times: conv 3x3/1 (channels halve), BN, LeakyReLU
 * gives F_i [C_F, 4, 4] (the features CSD distils, eq. 1-2); stage=i with
 * R = base 2^i makes C_F the same for every stage: 8 ndf at the paper's
 * base of 64, as AttnGAN.  On F:
 *   unconditional logit: conv 4x4/4 (C_F -> 1)
 *   conditional logit: conv 4x4/4 (LeakyReLU(BN(conv 3x3 (concat(F, t
 *     tiled 4 x 4)))))                    (AttnGAN's COND_DNET)
 *   similarity (eq. 8): d(t, f) = cos(W_t t, W_im f), f = F flattened,
 *     W_t, W_im linear maps (no bias) to sim-dim
 * The logits are D's before the sigmoid (the losses take log sigmoid).
 * Convolutions have no bias except the two logit heads; weights have
 * PyTorch's default initialisation.  Batch norms use the batch's statistics
 * while the discriminator trains, their running averages otherwise.
 *
 * Each image entry scored (real=, fake=, wrong=: mismatched real images,
 * e.g. t2iop op=roll of the real ones) adds, with P = output= and K its
 * property's name: P/K (conditional logit, [N]), P/K_uncond ([N]), P/K_sim
 * (d, [N]) and P/K_feat (F, [N, C_F, 4, 4]).
 *
 * Parameters: down.<k>.conv.weight, down.<k>.bn.*, joint.conv.weight,
 * joint.bn.*, cond_logits.{weight,bias}, uncond_logits.{weight,bias},
 * sim_text.weight, sim_image.weight.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <math.h>
#include <string.h>

#define MAX_DOWN 12
#define MAX_STAGE 4
#define BN_EPS 1e-5
#define BN_MOMENTUM 0.1
#define SLOPE 0.2
#define COS_EPS 1e-8

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("real", "image", 0,
      "Entry of the real images, f32 [N, 3, R, R] (empty: none)"),
  T2I_OPTION_ENTRY ("fake", "fake", 0,
      "Entry of the generated images, f32 [N, 3, R, R] (empty: none)"),
  T2I_OPTION_ENTRY ("wrong", "wrong", 0,
      "Entry of mismatched real images, each paired with another item's "
      "text, f32 [N, 3, R, R] (empty: none)"),
  T2I_OPTION_ENTRY ("cond", "text_emb", 0,
      "Sentence features t, f32 [N, D]"),
  T2I_OPTION_ENTRY ("output", "d", 0,
      "Prefix P of the outputs P/K, P/K_uncond, P/K_sim, P/K_feat for K = "
      "real, fake, wrong"),
  T2I_OPTION_INT ("stage", 0, 0, MAX_STAGE, T2I_OPTION_MODEL,
      "Which stage's discriminator: the number of 3x3 blocks after the "
      "downsampling (Table 2)"),
  T2I_OPTION_INT ("channels", 64, 1, 4096, T2I_OPTION_MODEL,
      "ndf: channels of the first convolution (AttnGAN's DF_DIM)"),
  T2I_OPTION_INT ("resolution", 0, 0, 4096, T2I_OPTION_MODEL,
      "Side of the images (0: the side of the image entries)"),
  T2I_OPTION_INT ("cond-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Size of t (0: the width of the cond entry)"),
  T2I_OPTION_INT ("sim-dim", 256, 1, 65536, T2I_OPTION_MODEL,
      "Size of the common space of the similarity score (eq. 8)"),
  {NULL}
};

static const char *const kinds[3] = { "real", "fake", "wrong" };

typedef struct
{
  T2iTensor *conv;
  T2iNnBatchNorm bn;            /* unused by the first block */
  gint stride;
} Block;

typedef struct
{
  gint n_down, stage, feat_ch;
  gint64 cond_dim;
  Block down[MAX_DOWN + MAX_STAGE];
  Block joint;
  T2iNnConv2d cond_logits, uncond_logits;
  T2iTensor *sim_text, *sim_image;
} MsganD;

static gboolean
has (const GstStructure * config, const char *prop)
{
  return t2i_config_has_string (config, prop);
}

/* checks the entries: *n, *res, *cond_dim */
static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint * res, gint64 * cond_dim, GError ** error)
{
  const char *first = NULL;
  gint64 fs[T2I_MAX_DIMS] = { 0 };
  for (gint i = 0; i < 3; i++) {
    if (!has (config, kinds[i]))
      continue;
    const char *name = t2i_config_string (config, kinds[i]);
    gint64 s[T2I_MAX_DIMS];
    if (!t2i_caps_require (in, name, "f32", 4, NULL, error)) {
      g_prefix_error (error, "%s=%s: ", kinds[i], name);
      return FALSE;
    }
    t2i_caps_get_entry (in, name, NULL, NULL, s);
    if (s[1] != 3 || s[2] != s[3]) {
      g_autofree char *sh = t2i_shape_to_string (4, s);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "%s=%s must hold square RGB images [N,3,R,R], not %s", kinds[i],
          name, sh);
      return FALSE;
    }
    if (first && (s[2] != fs[2] || s[0] != fs[0])) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "%s=%s and %s=%s must have the same shape", first,
          t2i_config_string (config, first), kinds[i], name);
      return FALSE;
    }
    if (!first) {
      first = kinds[i];
      memcpy (fs, s, sizeof fs);
    }
  }
  if (!first) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "real=, fake= and wrong= are all empty: name an image entry");
    return FALSE;
  }
  const gint want = t2i_config_int (config, "resolution");
  if (want > 0 && fs[2] != want) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s has %" G_GINT64_FORMAT " px images but the model takes "
        "resolution=%d", first, t2i_config_string (config, first), fs[2],
        want);
    return FALSE;
  }
  const gint r = (gint) fs[2];
  if (r < 8 || (r & (r - 1))) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s: the side %d is not a power of two of at least 8", first,
        t2i_config_string (config, first), r);
    return FALSE;
  }
  const gint n_down = (gint) log2 (r / 4.0);
  const gint stage = t2i_config_int (config, "stage");
  if (stage > n_down - 1) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "stage=%d halves the channels %d times after %d doublings: images "
        "of %d px allow stage <= %d", stage, stage, n_down - 1, r,
        n_down - 1);
    return FALSE;
  }
  const char *cond = t2i_config_string (config, "cond");
  gint64 cs[T2I_MAX_DIMS];
  if (!t2i_caps_require (in, cond, "f32", 2, NULL, error)) {
    g_prefix_error (error, "cond=%s: ", cond);
    return FALSE;
  }
  t2i_caps_get_entry (in, cond, NULL, NULL, cs);
  const gint want_d = t2i_config_int (config, "cond-dim");
  if (cs[0] != fs[0] || (want_d > 0 && cs[1] != want_d)) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "cond=%s must be [%" G_GINT64_FORMAT ", %s]: one sentence per image",
        cond, fs[0], want_d > 0 ? "cond-dim" : "D");
    return FALSE;
  }
  *n = fs[0];
  *res = r;
  *cond_dim = cs[1];
  return TRUE;
}

static gint
feat_channels (const GstStructure * config, gint res)
{
  const gint n_down = (gint) log2 (res / 4.0);
  return t2i_config_int (config, "channels") << (n_down - 1 -
      t2i_config_int (config, "stage"));
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n, d;
  gint res;
  if (!check (config, in, &n, &res, &d, error))
    return FALSE;
  const char *p = t2i_config_string (config, "output");
  gint64 feat[4] = { n, feat_channels (config, res), 4, 4 };
  for (gint i = 0; i < 3; i++) {
    if (!has (config, kinds[i]))
      continue;
    static const char *const sfx[3] = { "", "_uncond", "_sim" };
    for (gint k = 0; k < 3; k++) {
      g_autofree char *name = g_strdup_printf ("%s/%s%s", p, kinds[i],
          sfx[k]);
      t2i_caps_set_entry (out, name, "f32", 1, &n);
    }
    g_autofree char *fname = g_strdup_printf ("%s/%s_feat", p, kinds[i]);
    t2i_caps_set_entry (out, fname, "f32", 4, feat);
  }
  return TRUE;
}

static void
block_init (Block * b, T2iParamGroup * g, const char *name, gint64 in,
    gint64 out, gint k, gint stride, gboolean norm, T2iRng * rng)
{
  T2iNnConv2d c;
  g_autofree char *cn = t2i_model_join (name, "conv");
  t2i_nn_conv2d_init (&c, g, cn, in, out, k, stride, 1, FALSE,
      rng);
  b->conv = c.weight;
  b->stride = stride;
  if (norm) {
    g_autofree char *bn = t2i_model_join (name, "bn");
    t2i_nn_batch_norm_init (&b->bn, g, bn, out);
  }
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  gint64 n, d;
  gint res;
  if (!check (config, in, &n, &res, &d, error))
    return NULL;
  t2i_config_set_int (config, "resolution", res);
  t2i_config_set_int (config, "cond-dim", (gint) d);
  MsganD *m = g_new0 (MsganD, 1);
  T2iParamGroup *g = ctx->params;
  T2iRng *rng = ctx->init_rng;
  const gint64 ndf = t2i_config_int (config, "channels");
  m->n_down = (gint) log2 (res / 4.0);
  m->stage = t2i_config_int (config, "stage");
  m->cond_dim = d;
  gint64 ch = ndf;
  gint k = 0;
  block_init (&m->down[k++], g, "down.0", 3, ndf, 4, 2, FALSE, rng);
  for (gint i = 1; i < m->n_down; i++, ch *= 2) {
    g_autofree char *name = g_strdup_printf ("down.%d", k);
    block_init (&m->down[k++], g, name, ch, 2 * ch, 4, 2, TRUE, rng);
  }
  for (gint i = 0; i < m->stage; i++, ch /= 2) {
    g_autofree char *name = g_strdup_printf ("down.%d", k);
    block_init (&m->down[k++], g, name, ch, ch / 2, 3, 1, TRUE, rng);
  }
  m->feat_ch = (gint) ch;
  block_init (&m->joint, g, "joint", ch + d, ch, 3, 1, TRUE, rng);
  t2i_nn_conv2d_init (&m->cond_logits, g, "cond_logits", ch, 1, 4, 4, 0,
      TRUE, rng);
  t2i_nn_conv2d_init (&m->uncond_logits, g, "uncond_logits", ch, 1, 4, 4, 0,
      TRUE, rng);
  const gint64 sd = t2i_config_int (config, "sim-dim");
  T2iNnLinear lt, li;
  t2i_nn_linear_init (&lt, g, "sim_text", d, sd, FALSE, rng);
  t2i_nn_linear_init (&li, g, "sim_image", ch * 16, sd, FALSE, rng);
  m->sim_text = lt.weight;
  m->sim_image = li.weight;
  return m;
}

static T2iTensor *
block (Block * b, T2iTensor * x, gboolean training)
{
  T2iConvParams p = T2I_CONV_PARAMS (b->stride, 1);
  T2iTensor *y = t2i_conv2d (x, b->conv, NULL, &p);
  if (b->bn.weight)
    T2I_MODEL_STEP (y, t2i_nn_batch_norm (&b->bn, y, training));
  T2I_MODEL_STEP (y, t2i_leaky_relu (y, SLOPE));
  return y;
}

static T2iTensor *
flat_logits (T2iNnConv2d * head, T2iTensor * x)
{
  g_autoptr (T2iTensor) y = t2i_nn_conv2d (head, x);
  return t2i_reshape (y, T2I_SHAPE (x->shape[0]));
}

static gboolean
score (MsganD * m, const GstStructure * config, GstBuffer * record,
    const char *kind, T2iTensor * img, T2iTensor * t, gboolean training,
    GError ** error)
{
  const gint64 n = img->shape[0];
  const char *p = t2i_config_string (config, "output");
  T2iTensor *f = t2i_tensor_ref (img);
  for (gint i = 0; i < m->n_down + m->stage; i++)
    T2I_MODEL_STEP (f, block (&m->down[i], f, training));
  g_autoptr (T2iTensor) feat = f;

  g_autoptr (T2iTensor) uncond = flat_logits (&m->uncond_logits, feat);
  /* the sentence tiled over the 4 x 4 features */
  g_autoptr (T2iTensor) t4 = t2i_reshape (t, T2I_SHAPE (n, m->cond_dim, 1,
          1));
  g_autoptr (T2iTensor) tt = t2i_expand (t4, T2I_SHAPE (n, m->cond_dim,
          feat->shape[2], feat->shape[3]));
  g_autoptr (T2iTensor) joint_in = t2i_concat ((T2iTensor *[]) { feat, tt },
      2, 1);
  g_autoptr (T2iTensor) joint = block (&m->joint, joint_in, training);
  g_autoptr (T2iTensor) cond = flat_logits (&m->cond_logits, joint);
  /* eq. 8 */
  g_autoptr (T2iTensor) ff = t2i_reshape (feat, T2I_SHAPE (n, -1));
  g_autoptr (T2iTensor) pi = t2i_linear (ff, m->sim_image, NULL);
  g_autoptr (T2iTensor) pt = t2i_linear (t, m->sim_text, NULL);
  g_autoptr (T2iTensor) pin = t2i_l2_normalize (pi, 1, COS_EPS);
  g_autoptr (T2iTensor) ptn = t2i_l2_normalize (pt, 1, COS_EPS);
  g_autoptr (T2iTensor) prod = t2i_mul (pin, ptn);
  g_autoptr (T2iTensor) sim = t2i_sum (prod, 1, FALSE);

  static const char *const sfx[4] = { "", "_uncond", "_sim", "_feat" };
  T2iTensor *outs[4] = { cond, uncond, sim, feat };
  for (gint k = 0; k < 4; k++) {
    g_autofree char *name = g_strdup_printf ("%s/%s%s", p, kind, sfx[k]);
    if (!t2i_record_set_tensor (record, name, outs[k], error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  MsganD *m = net;
  const GstStructure *config = ctx->config;
  const gboolean training = ctx->training && ctx->trainable;
  const char *cond = t2i_config_string (config, "cond");
  T2iTensor *t = t2i_record_get_tensor (record, cond);
  if (!t || t->dtype != T2I_F32 || t->ndim != 2
      || t->shape[1] != m->cond_dim) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "cond=%s must be f32 [N, %" G_GINT64_FORMAT "] in every record", cond,
        m->cond_dim);
    return FALSE;
  }
  for (gint i = 0; i < 3; i++) {
    if (!has (config, kinds[i]))
      continue;
    const char *name = t2i_config_string (config, kinds[i]);
    T2iTensor *img = t2i_record_get_tensor (record, name);
    if (!img || img->ndim != 4 || img->shape[0] != t->shape[0]) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "%s=%s: the record has no such images [%" G_GINT64_FORMAT
          ", 3, R, R]", kinds[i], name, t->shape[0]);
      return FALSE;
    }
    if (!score (m, config, record, kinds[i], img, t, training, error))
      return FALSE;
  }
  return TRUE;
}

const T2iArch t2i_arch_msgan_d = {
  "msgan", T2I_ROLE_DISCRIMINATOR,
  "ICSD-GAN's per-stage similarity-aware discriminator: AttnGAN's "
      "downsampling, conditional and unconditional logits, MS-GAN's "
      "similarity score",
  options, "sim_image.weight",
  NULL, NULL, negotiate, build, NULL, forward, g_free,
};
