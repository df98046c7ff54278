/* arch=transformer for t2ivqdiffusion: CLIP-VQDiffusion's diffusion image
 * decoder (Han & Kim 2024; INFINIQ-AI1/CLIPVQDiffusion's
 * Condition2ImageTransformer "selfcondition"), with the discrete diffusion
 * of t2i/vqdiffusion.h.
 *
 *   x = content_emb[x_t] + row_emb[i] + col_emb[j]      tokens of an h x w grid
 *   per block:  x += attn(AdaLN_t(x))                     full self-attention
 *               x += ConvMLP(AdaLN_clip(x, e))            eq. 9, no cross-attention
 *   logits = to_logits(LN(x))                             [N, K, L]
 *
 * AdaLN_t: Embedding(T, d) -> SiLU -> Linear(d, 2d) -> (scale, shift) on a
 * LayerNorm without affine: LN(x) (1 + scale) + shift (eq. 9's sigma_e is
 * 1 + scale).  AdaLN_clip: Linear(E, d) -> SiLU -> Linear(d, 2d) from the
 * CLIP embedding e.  ConvMLP: the tokens as a d x h x w map, conv3x3 d ->
 * 4d, QuickGELU ("GELU2"), conv3x3 4d -> d.  Init N(0, 0.02), zero biases.
 *
 * mode=train draws t per item (uniform until every step was seen more than
 * 10 times, then the released importance sampling: p(t) proportional to
 * sqrt(E[L_t^2]) + 1e-4, the history an EMA 0.9/0.1 kept in the buffers
 * Lt_history and Lt_count), x_t ~ q(x_t | x_0), and adds logits, xt, t and
 * pt for t2iloss kind=vq-diffusion.  With drop-condition=p each item's
 * condition is the learned null embedding with probability p (classifier-
 * free guidance fine-tuning; null-condition=true creates it).  mode=sample
 * runs the reverse process from all-mask tokens (steps=, top-r truncation,
 * guidance=s with the null embedding) and adds the tokens.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <math.h>
#include <string.h>
#include "t2i/vqdiffusion.h"

#define MAX_LAYERS 64
#define INIT_STD 0.02

static const T2iOption options[] = {
  T2I_OPTION_CHOICE ("mode", "train", "train|sample", 0,
      "train: draw t and x_t and add the logits of x_0 for t2iloss "
      "kind=vq-diffusion; sample: run the reverse process from all-mask "
      "tokens"),
  T2I_OPTION_ENTRY ("tokens", "tokens", 0,
      "Tokens x_0 (train: read, i32 [N, h, w]; sample: written)"),
  T2I_OPTION_ENTRY ("cond", "h", 0,
      "The CLIP embedding the image is drawn from, f32 [N, E] (training: "
      "the image's, perturbed; sampling: the caption's)"),
  T2I_OPTION_ENTRY ("logits", "logits", 0,
      "train: the logits of x_0, f32 [N, K, L]"),
  T2I_OPTION_ENTRY ("xt", "xt", 0,
      "train: the noised tokens x_t, i32 [N, L]"),
  T2I_OPTION_ENTRY ("t", "t", 0, "train: the steps, i32 [N]"),
  T2I_OPTION_ENTRY ("pt", "pt", 0,
      "train: the probability each step was drawn with, f32 [N]"),
  T2I_OPTION_INT ("codes", 256, 2, 1 << 20, T2I_OPTION_MODEL,
      "Codebook size K of the tokenizer (the mask token is K)"),
  T2I_OPTION_INT ("grid", 0, 0, 1024, T2I_OPTION_MODEL,
      "Side of the token grid (0: the tokens entry's)"),
  T2I_OPTION_INT ("width", 128, 8, 8192, T2I_OPTION_MODEL,
      "Inner dimension d of the transformer"),
  T2I_OPTION_INT ("layers", 4, 1, MAX_LAYERS, T2I_OPTION_MODEL,
      "Transformer blocks"),
  T2I_OPTION_INT ("heads", 4, 1, 256, T2I_OPTION_MODEL, "Attention heads"),
  T2I_OPTION_INT ("timesteps", 100, 2, 100000, T2I_OPTION_MODEL,
      "Diffusion steps T"),
  T2I_OPTION_INT ("cond-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Size E of the condition (0: the cond entry's)"),
  T2I_OPTION_BOOLEAN ("null-condition", FALSE,
      T2I_OPTION_MODEL | T2I_OPTION_GROWS,
      "A learned null embedding for classifier-free guidance (added to a "
      "loaded model with weights-strict=false)"),
  T2I_OPTION_DOUBLE ("drop-condition", 0.0, 0.0, 1.0, 0,
      "train: the probability an item's condition is the null embedding"),
  T2I_OPTION_BOOLEAN ("normalize-null", FALSE, 0,
      "train: L2-normalise the null embedding where it replaces a "
      "condition, as the released code (which samples with it as it is); "
      "false: as it is in both, the paper"),
  T2I_OPTION_BOOLEAN ("importance", TRUE, 0,
      "train: importance sampling of t once every step has been drawn more "
      "than 10 times (false: uniform)"),
  T2I_OPTION_INT ("steps", 0, 0, 100000, 0,
      "sample: reverse steps (0: timesteps); fewer steps skip as VQ-"
      "Diffusion's fast sampling"),
  T2I_OPTION_DOUBLE ("truncation", 1.0, 0.0, 1.0, 0,
      "sample: keep the codes of p(x_0 | x_t) whose probabilities sum to r "
      "(1: all)"),
  T2I_OPTION_DOUBLE ("guidance", 1.0, 0.0, 100.0, 0,
      "sample: classifier-free guidance scale s (1: none; needs "
      "null-condition)"),
  T2I_OPTION_INT ("seed", -1, -1, G_MAXINT, 0,
      "sample: seed of the element's own noise stream, so a seed draws the "
      "same images whatever else the pipeline draws (-1: the session RNG)"),
  {NULL}
};

typedef struct
{
  T2iNnEmbedding t_emb;         /* AdaLN_t */
  T2iNnLinear t_lin;
  T2iNnLinear q, k, v, proj;
  T2iNnLinear c_lin0, c_lin1;   /* AdaLN_clip */
  T2iNnConv2d conv0, conv1;     /* ConvMLP */
} Block;

typedef struct
{
  gint K, T, d, layers, heads, grid, E;
  T2iNnEmbedding content, row, col;
  Block blocks[MAX_LAYERS];
  T2iNnLayerNorm ln_out;
  T2iNnLinear to_logits;
  T2iTensor *null_emb;          /* [1, E] or NULL */
  T2iTensor *lt_history, *lt_count;     /* buffers, f64 [T] */
  T2iVqSchedule *schedule;
  T2iRng own;                   /* seed >= 0: the sampling stream */
  gboolean has_own;
} VqDiffusion;

static void
net_free (gpointer p)
{
  VqDiffusion *m = p;
  t2i_vq_schedule_free (m->schedule);
  g_free (m);
}

/* ---- negotiation ---- */

static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint * grid, gint * cond_dim, GError ** error)
{
  const char *cond = t2i_config_string (config, "cond");
  gint64 cs[T2I_MAX_DIMS];
  if (!t2i_caps_require (in, cond, "f32", 2, NULL, error)) {
    g_prefix_error (error, "cond=%s: ", cond);
    return FALSE;
  }
  t2i_caps_get_entry (in, cond, NULL, NULL, cs);
  const gint want_e = t2i_config_int (config, "cond-dim");
  if (want_e > 0 && cs[1] != want_e) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "cond=%s has %" G_GINT64_FORMAT " features per item but the model "
        "takes cond-dim=%d", cond, cs[1], want_e);
    return FALSE;
  }
  *n = cs[0];
  *cond_dim = (gint) cs[1];
  *grid = t2i_config_int (config, "grid");
  if (g_str_equal (t2i_config_string (config, "mode"), "train")) {
    const char *tokens = t2i_config_string (config, "tokens");
    gint64 ts[T2I_MAX_DIMS];
    gint64 want[3] = { cs[0], -1, -1 };
    if (!t2i_caps_require (in, tokens, "i32", 3, want, error)) {
      g_prefix_error (error, "tokens=%s (x_0, one grid per item of "
          "cond=%s): ", tokens, cond);
      return FALSE;
    }
    t2i_caps_get_entry (in, tokens, NULL, NULL, ts);
    if (ts[1] != ts[2] || (*grid > 0 && ts[1] != *grid)) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "tokens=%s must be square grids%s", tokens, *grid > 0 ?
          " of the model's grid=" : "");
      return FALSE;
    }
    *grid = (gint) ts[1];
  } else if (*grid == 0) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "mode=sample needs the token grid: load a trained model (weights=) "
        "or set grid=");
    return FALSE;
  }
  return TRUE;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n;
  gint grid, e;
  if (!check (config, in, &n, &grid, &e, error))
    return FALSE;
  const gint64 L = (gint64) grid * grid, K = t2i_config_int (config, "codes");
  if (g_str_equal (t2i_config_string (config, "mode"), "sample")) {
    gint64 ts[3] = { n, grid, grid };
    t2i_caps_set_entry (out, t2i_config_string (config, "tokens"), "i32", 3,
        ts);
    return TRUE;
  }
  gint64 ls[3] = { n, K, L }, xs[2] = { n, L }, ns[1] = { n };
  t2i_caps_set_entry (out, t2i_config_string (config, "logits"), "f32", 3,
      ls);
  t2i_caps_set_entry (out, t2i_config_string (config, "xt"), "i32", 2, xs);
  t2i_caps_set_entry (out, t2i_config_string (config, "t"), "i32", 1, ns);
  t2i_caps_set_entry (out, t2i_config_string (config, "pt"), "f32", 1, ns);
  return TRUE;
}

/* ---- build ---- */

static void
linear (T2iNnLinear * m, T2iParamGroup * g, const char *name, gint64 in,
    gint64 out, T2iRng * rng)
{
  t2i_nn_linear_init (m, g, name, in, out, TRUE, rng);
  t2i_init_normal (m->weight, rng, 0.0, INIT_STD);
  t2i_init_zeros (m->bias);
}

static void
embedding (T2iNnEmbedding * m, T2iParamGroup * g, const char *name,
    gint64 n, gint64 d, T2iRng * rng)
{
  t2i_nn_embedding_init (m, g, name, n, d, INIT_STD, rng);
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  gint64 n;
  gint grid, e;
  if (!check (config, in, &n, &grid, &e, error))
    return NULL;
  t2i_config_set_int (config, "grid", grid);
  t2i_config_set_int (config, "cond-dim", e);
  VqDiffusion *m = g_new0 (VqDiffusion, 1);
  m->K = t2i_config_int (config, "codes");
  m->T = t2i_config_int (config, "timesteps");
  m->d = t2i_config_int (config, "width");
  m->layers = t2i_config_int (config, "layers");
  m->heads = t2i_config_int (config, "heads");
  m->grid = grid;
  m->E = e;
  if (m->d % m->heads) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "width=%d is not a multiple of heads=%d", m->d, m->heads);
    g_free (m);
    return NULL;
  }
  T2iParamGroup *g = ctx->params;
  T2iRng *rng = ctx->init_rng;
  const gint d = m->d;
  embedding (&m->content, g, "content_emb.emb", m->K + 1, d, rng);
  embedding (&m->row, g, "content_emb.height_emb", grid, d, rng);
  embedding (&m->col, g, "content_emb.width_emb", grid, d, rng);
  for (gint i = 0; i < m->layers; i++) {
    Block *b = &m->blocks[i];
    g_autofree char *p = g_strdup_printf ("blocks.%d", i);
    g_autofree char *te = g_strconcat (p, ".ln1.emb", NULL);
    g_autofree char *tl = g_strconcat (p, ".ln1.linear", NULL);
    g_autofree char *q = g_strconcat (p, ".attn1.query", NULL);
    g_autofree char *k = g_strconcat (p, ".attn1.key", NULL);
    g_autofree char *v = g_strconcat (p, ".attn1.value", NULL);
    g_autofree char *pr = g_strconcat (p, ".attn1.proj", NULL);
    g_autofree char *c0 = g_strconcat (p, ".ln2.clip_proj.0", NULL);
    g_autofree char *c1 = g_strconcat (p, ".ln2.clip_proj.2", NULL);
    g_autofree char *m0 = g_strconcat (p, ".mlp.conv1", NULL);
    g_autofree char *m1 = g_strconcat (p, ".mlp.conv2", NULL);
    embedding (&b->t_emb, g, te, m->T, d, rng);
    linear (&b->t_lin, g, tl, d, 2 * d, rng);
    linear (&b->q, g, q, d, d, rng);
    linear (&b->k, g, k, d, d, rng);
    linear (&b->v, g, v, d, d, rng);
    linear (&b->proj, g, pr, d, d, rng);
    linear (&b->c_lin0, g, c0, e, d, rng);
    linear (&b->c_lin1, g, c1, d, 2 * d, rng);
    t2i_nn_conv2d_init (&b->conv0, g, m0, d, 4 * d, 3, 1, 1, TRUE, rng);
    t2i_nn_conv2d_init (&b->conv1, g, m1, 4 * d, d, 3, 1, 1, TRUE, rng);
  }
  t2i_nn_layer_norm_init (&m->ln_out, g, "to_logits.0", d);
  linear (&m->to_logits, g, "to_logits.1", d, m->K, rng);
  if (t2i_config_boolean (config, "null-condition")) {
    m->null_emb = t2i_tensor_new (T2I_F32, T2I_SHAPE (1, e));
    t2i_init_normal (m->null_emb, rng, 0.0, 1.0);
    t2i_param_group_add (g, "empty_text_embed", m->null_emb, TRUE);
    t2i_tensor_unref (m->null_emb);
  }
  /* importance sampling's history: saved and restored, never trained */
  m->lt_history = t2i_tensor_zeros (T2I_F64, T2I_SHAPE (m->T));
  m->lt_count = t2i_tensor_zeros (T2I_F64, T2I_SHAPE (m->T));
  t2i_param_group_add (g, "Lt_history", m->lt_history, FALSE);
  t2i_param_group_add (g, "Lt_count", m->lt_count, FALSE);
  t2i_tensor_unref (m->lt_history);
  t2i_tensor_unref (m->lt_count);
  m->schedule = t2i_vq_schedule_new (m->T, m->K);
  const gint seed = t2i_config_int (config, "seed");
  m->has_own = seed >= 0;
  if (m->has_own)
    t2i_rng_init (&m->own, (guint64) seed);
  return m;
}

/* ---- the network ---- */

/* LN(x) (1 + scale) + shift with (scale, shift) = chunks of @ss [B, 2d] */
static T2iTensor *
adaln (T2iTensor * x, T2iTensor * ss, gint d)
{
  const gint64 b = x->shape[0];
  g_autoptr (T2iTensor) ln = t2i_layer_norm (x, 1, NULL, NULL, 1e-5);
  g_autoptr (T2iTensor) scale = t2i_slice (ss, 1, 0, d);
  g_autoptr (T2iTensor) shift = t2i_slice (ss, 1, d, 2 * d);
  g_autoptr (T2iTensor) s3 = t2i_reshape (scale, T2I_SHAPE (b, 1, d));
  g_autoptr (T2iTensor) h3 = t2i_reshape (shift, T2I_SHAPE (b, 1, d));
  return t2i_adaln_modulate (ln, s3, h3);
}

static T2iTensor *
attention (Block * bl, T2iTensor * x, gint heads)
{
  const gint64 b = x->shape[0], l = x->shape[1], d = x->shape[2],
      dh = d / heads;
  static const gint perm[4] = { 0, 2, 1, 3 };
  T2iNnLinear *lin[3] = { &bl->q, &bl->k, &bl->v };
  T2iTensor *qkv[3];
  for (gint i = 0; i < 3; i++) {
    g_autoptr (T2iTensor) y = t2i_nn_linear (lin[i], x);
    g_autoptr (T2iTensor) r = t2i_reshape (y, T2I_SHAPE (b, l, heads, dh));
    qkv[i] = t2i_permute (r, perm);
  }
  g_autoptr (T2iTensor) a = t2i_scaled_dot_product_attention (qkv[0], qkv[1],
      qkv[2], FALSE, 0.0);
  for (gint i = 0; i < 3; i++)
    t2i_tensor_unref (qkv[i]);
  g_autoptr (T2iTensor) ap = t2i_permute (a, perm);
  g_autoptr (T2iTensor) merged = t2i_reshape (ap, T2I_SHAPE (b, l, d));
  return t2i_nn_linear (&bl->proj, merged);
}

/* @host (consumed) on @device: the discrete state (steps, masks) is
 * built on the host; on the CPU this is a reference */
static T2iTensor *
onto (T2iTensor * host, T2iDevice device)
{
  T2iTensor *r = t2i_tensor_to_device (host, device, NULL);
  t2i_tensor_unref (host);
  return r;
}

/* tokens [B, L] (i32), t [B] (i32), cond [B, E] -> logits [B, K, L], on the
 * device of the transformer */
static T2iTensor *
run (VqDiffusion * m, T2iTensor * tokens_any, T2iTensor * t_any,
    T2iTensor * cond)
{
  const T2iDevice dev = cond->device;
  g_autoptr (T2iTensor) tokens = t2i_tensor_to_device (tokens_any, dev, NULL);
  g_autoptr (T2iTensor) t = t2i_tensor_to_device (t_any, dev, NULL);
  const gint64 b = tokens->shape[0], L = tokens->shape[1];
  const gint d = m->d, g = m->grid;
  T2iTensor *rows_h = t2i_tensor_new (T2I_I32, T2I_SHAPE (L));
  T2iTensor *cols_h = t2i_tensor_new (T2I_I32, T2I_SHAPE (L));
  for (gint64 i = 0; i < L; i++) {
    t2i_tensor_i32 (rows_h)[i] = (gint32) (i / g);
    t2i_tensor_i32 (cols_h)[i] = (gint32) (i % g);
  }
  g_autoptr (T2iTensor) rows = onto (rows_h, dev);
  g_autoptr (T2iTensor) cols = onto (cols_h, dev);
  g_autoptr (T2iTensor) ce = t2i_nn_embedding (&m->content, tokens);
  g_autoptr (T2iTensor) re = t2i_nn_embedding (&m->row, rows);
  g_autoptr (T2iTensor) co = t2i_nn_embedding (&m->col, cols);
  g_autoptr (T2iTensor) pos = t2i_add (re, co);
  T2iTensor *x = t2i_add (ce, pos);

  for (gint i = 0; i < m->layers; i++) {
    Block *bl = &m->blocks[i];
    /* x += attn(AdaLN_t(x)) */
    g_autoptr (T2iTensor) te = t2i_nn_embedding (&bl->t_emb, t);
    g_autoptr (T2iTensor) ts = t2i_silu (te);
    g_autoptr (T2iTensor) tss = t2i_nn_linear (&bl->t_lin, ts);
    g_autoptr (T2iTensor) h = adaln (x, tss, d);
    g_autoptr (T2iTensor) a = attention (bl, h, m->heads);
    T2iTensor *x1 = t2i_add (x, a);
    t2i_tensor_unref (x);
    /* x += ConvMLP(AdaLN_clip(x, e)) */
    g_autoptr (T2iTensor) c0 = t2i_nn_linear (&bl->c_lin0, cond);
    g_autoptr (T2iTensor) cs = t2i_silu (c0);
    g_autoptr (T2iTensor) css = t2i_nn_linear (&bl->c_lin1, cs);
    g_autoptr (T2iTensor) h2 = adaln (x1, css, d);
    static const gint to_map[3] = { 0, 2, 1 };
    g_autoptr (T2iTensor) ht = t2i_permute (h2, to_map);
    g_autoptr (T2iTensor) map = t2i_reshape (ht, T2I_SHAPE (b, d, g, g));
    g_autoptr (T2iTensor) f0 = t2i_nn_conv2d (&bl->conv0, map);
    g_autoptr (T2iTensor) f1 = t2i_quick_gelu (f0);
    g_autoptr (T2iTensor) f2 = t2i_nn_conv2d (&bl->conv1, f1);
    g_autoptr (T2iTensor) f3 = t2i_reshape (f2, T2I_SHAPE (b, d, L));
    g_autoptr (T2iTensor) f4 = t2i_permute (f3, to_map);
    x = t2i_add (x1, f4);
    t2i_tensor_unref (x1);
  }
  g_autoptr (T2iTensor) xn = t2i_nn_layer_norm (&m->ln_out, x);
  t2i_tensor_unref (x);
  g_autoptr (T2iTensor) lg = t2i_nn_linear (&m->to_logits, xn);
  static const gint to_cl[3] = { 0, 2, 1 };
  return t2i_permute (lg, to_cl);
}

/* ---- train ---- */

/* t ~ p(t) and pt per item (the released sample_time) */
static void
draw_steps (VqDiffusion * m, gboolean importance, T2iRng * rng, gint64 n,
    T2iTensor * t, T2iTensor * pt)
{
  /* the history lives with the parameters: read a host copy */
  g_autoptr (T2iTensor) lt_count = t2i_tensor_to_device (m->lt_count,
      T2I_DEVICE_CPU, NULL);
  g_autoptr (T2iTensor) lt_history = t2i_tensor_to_device (m->lt_history,
      T2I_DEVICE_CPU, NULL);
  gboolean seen = importance;
  for (gint i = 0; seen && i < m->T; i++)
    seen = t2i_tensor_get (lt_count, i) > 10;
  if (!seen) {
    for (gint64 i = 0; i < n; i++) {
      t2i_tensor_i32 (t)[i] = (gint32) t2i_rng_randint1 (rng, 0, m->T);
      t2i_tensor_set (pt, i, 1.0 / m->T);
    }
    return;
  }
  g_autofree double *p = g_new (double, m->T);
  double total = 0;
  for (gint i = 0; i < m->T; i++) {
    p[i] = sqrt (t2i_tensor_get (lt_history, i) + 1e-10) + 0.0001;
    total += i == 0 ? 0 : p[i];
  }
  /* the decoder term's weight is L_1's */
  p[0] = p[1];
  total += p[0];
  for (gint64 i = 0; i < n; i++) {
    double u = t2i_rng_uniform1 (rng) * total, cum = 0;
    gint k = m->T - 1;
    for (gint j = 0; j < m->T; j++) {
      cum += p[j];
      if (u < cum) {
        k = j;
        break;
      }
    }
    t2i_tensor_i32 (t)[i] = k;
    t2i_tensor_set (pt, i, p[k] / total);
  }
}

/* the conditions, each replaced by the null embedding with probability p */
static T2iTensor *
drop_conditions (VqDiffusion * m, T2iTensor * cond, double p,
    gboolean normalize, T2iRng * rng)
{
  const gint64 n = cond->shape[0];
  if (p <= 0.0 || !m->null_emb)
    return t2i_tensor_ref (cond);
  T2iTensor *keep_h = t2i_tensor_new (cond->dtype, T2I_SHAPE (n, 1));
  for (gint64 i = 0; i < n; i++)
    t2i_tensor_set (keep_h, i, t2i_rng_uniform1 (rng) < p ? 0.0 : 1.0);
  g_autoptr (T2iTensor) keep = onto (keep_h, cond->device);
  g_autoptr (T2iTensor) null = normalize ? t2i_l2_normalize (m->null_emb, 1,
      1e-12) : t2i_tensor_ref (m->null_emb);
  g_autoptr (T2iTensor) d = t2i_sub (cond, null);
  g_autoptr (T2iTensor) kd = t2i_mul (keep, d);
  return t2i_add (null, kd);
}

static gboolean
train (VqDiffusion * m, const T2iArchContext * ctx, GstBuffer * record,
    T2iTensor * cond, GError ** error)
{
  const GstStructure *c = ctx->config;
  const char *tokens = t2i_config_string (c, "tokens");
  T2iTensor *x0 = t2i_record_get_tensor (record, tokens);
  if (!x0 || x0->dtype != T2I_I32 || x0->ndim != 3
      || x0->shape[0] != cond->shape[0] || x0->shape[1] != m->grid) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "tokens=%s must be i32 [N, %d, %d]", tokens, m->grid, m->grid);
    return FALSE;
  }
  g_autoptr (T2iTensor) x0h = t2i_tensor_to_device (x0, T2I_DEVICE_CPU, NULL);
  for (gint64 i = 0; i < x0h->numel; i++)
    if (t2i_tensor_i32 (x0h)[i] < 0 || t2i_tensor_i32 (x0h)[i] >= m->K) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "tokens=%s holds %d, outside the codebook 0 .. %d (codes=%d)",
          tokens, t2i_tensor_i32 (x0h)[i], m->K - 1, m->K);
      return FALSE;
    }
  const gint64 n = x0->shape[0], L = (gint64) m->grid * m->grid;
  const T2iDevice dev = cond->device;
  g_autoptr (T2iTensor) flat = t2i_reshape (x0, T2I_SHAPE (n, L));
  /* the steps are drawn on the host, then go where the model is */
  g_autoptr (T2iTensor) th = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  g_autoptr (T2iTensor) pth = t2i_tensor_new (T2I_F32, T2I_SHAPE (n));
  draw_steps (m, t2i_config_boolean (c, "importance"), ctx->rng, n, th, pth);
  g_autoptr (T2iTensor) t = t2i_tensor_to_device (th, dev, NULL);
  g_autoptr (T2iTensor) pt = t2i_tensor_to_device (pth, dev, NULL);
  g_autoptr (T2iTensor) xt = t2i_vq_q_sample (m->schedule, flat, t, ctx->rng);
  g_autoptr (T2iTensor) e = drop_conditions (m, cond,
      t2i_config_double (c, "drop-condition"),
      t2i_config_boolean (c, "normalize-null"), ctx->rng);
  g_autoptr (T2iTensor) logits = run (m, xt, t, e);

  /* the released importance history: E[L_t^2] by EMA 0.9/0.1 */
  if (ctx->training) {
    gboolean prev = t2i_set_grad_enabled (FALSE);
    g_autoptr (T2iTensor) ld = t2i_detach (logits);
    g_autoptr (T2iTensor) lt = t2i_vq_loss_terms (m->schedule, ld, flat, xt,
        t, NULL);
    t2i_set_grad_enabled (prev);
    g_autoptr (T2iTensor) lth = t2i_tensor_to_device (lt, T2I_DEVICE_CPU,
        NULL);
    g_autoptr (T2iTensor) hist = t2i_tensor_to_device (m->lt_history,
        T2I_DEVICE_CPU, NULL);
    g_autoptr (T2iTensor) count = t2i_tensor_to_device (m->lt_count,
        T2I_DEVICE_CPU, NULL);
    for (gint64 i = 0; i < n; i++) {
      const gint k = t2i_tensor_i32 (th)[i];
      const double l2 = pow (t2i_tensor_get (lth, i), 2);
      t2i_tensor_set (hist, k, 0.1 * l2 + 0.9 * t2i_tensor_get (hist, k));
      t2i_tensor_set (count, k, t2i_tensor_get (count, k) + 1);
    }
    /* back where they live (a no-op on the CPU: the same tensors) */
    if (hist != m->lt_history)
      t2i_tensor_copy_into (m->lt_history, hist, NULL);
    if (count != m->lt_count)
      t2i_tensor_copy_into (m->lt_count, count, NULL);
  }
  return t2i_record_set_tensor (record, t2i_config_string (c, "logits"),
      logits, error)
      && t2i_record_set_tensor (record, t2i_config_string (c, "xt"), xt,
      error)
      && t2i_record_set_tensor (record, t2i_config_string (c, "t"), t, error)
      && t2i_record_set_tensor (record, t2i_config_string (c, "pt"), pt,
      error);
}

/* ---- sample ---- */

/* log p(x_0 | x_t) with guidance and truncation */
static T2iTensor *
predict (VqDiffusion * m, T2iTensor * xt, T2iTensor * t, T2iTensor * cond,
    T2iTensor * null_cond, double guidance, double r)
{
  g_autoptr (T2iTensor) lg = run (m, xt, t, cond);
  g_autoptr (T2iTensor) lc = t2i_vq_log_x0 (lg);
  g_autoptr (T2iTensor) guided = NULL;
  if (null_cond) {
    g_autoptr (T2iTensor) lu_logits = run (m, xt, t, null_cond);
    g_autoptr (T2iTensor) lu = t2i_vq_log_x0 (lu_logits);
    guided = t2i_vq_guide (lc, lu, guidance);
  } else {
    guided = t2i_tensor_ref (lc);
  }
  return t2i_vq_truncate (guided, r);
}

static gboolean
sample (VqDiffusion * m, const T2iArchContext * ctx, GstBuffer * record,
    T2iTensor * cond, GError ** error)
{
  const GstStructure *c = ctx->config;
  const double guidance = t2i_config_double (c, "guidance");
  const double r = t2i_config_double (c, "truncation");
  if (guidance != 1.0 && !m->null_emb) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "guidance=%g needs a null embedding: fine-tune with "
        "null-condition=true drop-condition=0.1 (weights-strict=false) "
        "first", guidance);
    return FALSE;
  }
  const gint64 n = cond->shape[0], L = (gint64) m->grid * m->grid;
  T2iRng *rng = m->has_own ? &m->own : ctx->rng;
  gint steps = t2i_config_int (c, "steps");
  if (steps <= 0 || steps > m->T)
    steps = m->T;
  const gint skip = m->T / steps - 1;
  gboolean prev = t2i_set_grad_enabled (FALSE);
  g_autoptr (T2iTensor) null_cond = NULL;
  if (guidance != 1.0) {
    null_cond = t2i_expand (m->null_emb, T2I_SHAPE (n, m->E));
  }
  const T2iDevice dev = cond->device;
  g_autoptr (T2iTensor) xt = t2i_tensor_full_on (dev, T2I_I32,
      T2I_SHAPE (n, L), m->K);
  g_autoptr (T2iTensor) t = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  /* VQ-Diffusion's sample_fast: steps T - 1, T - 2 - skip, ..., and 0 */
  for (gint step = m->T - 1; step >= 0;) {
    for (gint64 i = 0; i < n; i++)
      t2i_tensor_i32 (t)[i] = step;
    g_autoptr (T2iTensor) lx0 = predict (m, xt, t, cond, null_cond, guidance,
        r);
    g_autoptr (T2iTensor) tp = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
    for (gint64 i = 0; i < n; i++)
      t2i_tensor_i32 (tp)[i] = step > skip ? step - skip : step;
    g_autoptr (T2iTensor) post = t2i_vq_q_posterior (m->schedule, lx0, xt,
        tp);
    T2iTensor *next = t2i_vq_sample_categorical (post, rng);
    t2i_tensor_unref (xt);
    xt = next;
    if (step == 0)
      break;
    step = MAX (step - 1 - skip, 0);
  }
  t2i_set_grad_enabled (prev);
  g_autoptr (T2iTensor) xth = t2i_tensor_to_device (xt, T2I_DEVICE_CPU, NULL);
  g_autoptr (T2iTensor) xtc = t2i_tensor_copy (xth);
  for (gint64 i = 0; i < n * L; i++)
    if (t2i_tensor_i32 (xtc)[i] >= m->K)
      t2i_tensor_i32 (xtc)[i] = m->K - 1;       /* never after step 0 */
  g_autoptr (T2iTensor) xtd = t2i_tensor_to_device (xtc, dev, NULL);
  g_autoptr (T2iTensor) grid = t2i_reshape (xtd, T2I_SHAPE (n, m->grid,
          m->grid));
  return t2i_record_set_tensor (record, t2i_config_string (c, "tokens"), grid,
      error);
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  VqDiffusion *m = net;
  const char *cond_name = t2i_config_string (ctx->config, "cond");
  T2iTensor *cond = t2i_record_get_tensor (record, cond_name);
  if (!cond || cond->dtype != T2I_F32 || cond->ndim != 2
      || cond->shape[1] != m->E) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "cond=%s must be f32 [N, %d]", cond_name, m->E);
    return FALSE;
  }
  if (g_str_equal (t2i_config_string (ctx->config, "mode"), "sample"))
    return sample (m, ctx, record, cond, error);
  return train (m, ctx, record, cond, error);
}

const T2iArch t2i_arch_vqdiffusion_transformer = {
  "transformer", T2I_ROLE_VQDIFFUSION,
  "CLIP-VQDiffusion's transformer: AdaLN on the step and on the CLIP "
      "embedding, no cross-attention",
  options, "to_logits.1.weight",
  NULL, NULL, negotiate, build, NULL, forward, net_free,
};
