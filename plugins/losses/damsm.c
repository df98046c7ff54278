/* kind=damsm: AttnGAN's deep attentional multimodal similarity model loss
 * (Xu et al. 2018, eq. 7-14): word-level and sentence-level image-text
 * matching in both directions.
 *
 * Word level, for caption D_j (its T_j words e) and image Q_i (its R
 * region features v):
 *   s = e^T v                                 [T_j, R] (eq. 7)
 *   s' = softmax over the words of s          (eq. 8)
 *   alpha = softmax over the regions of gamma1 s'
 *   c_t = sum_r alpha_tr v_r                  the word's region context
 *   R(c_t, e_t) = cos(c_t, e_t)               (eq. 9)
 *   R(Q_i, D_j) = log(sum_t exp(gamma2 R(c_t, e_t)))^(1/gamma2)  (eq. 10)
 * and P(D_j | Q_i) = softmax_j(gamma3 R(Q_i, D_j)) (eq. 11); the loss is
 * -log P(D_i | Q_i) - log P(Q_i | D_i) averaged over the batch (eq.
 * 12-13).  Sentence level: the same with R = cos(image global feature,
 * sentence feature) (eq. 14).  AttnGAN's code leaves out the 1/gamma2
 * power of eq. 10 (word-score=attngan).  With class-ids=, a mismatched
 * pair whose classes are equal is left out of the softmax (AttnGAN's
 * masking with -inf).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "losses.h"

#include <math.h>

#define COS_EPS 1e-8

static const T2iOption options[] = {
  T2I_LOSS_ENTRY ("words", "words",
      "Word features e, f32 [N, L, D] (t2itextencoder arch=bilstm "
      "token-features=)"),
  T2I_LOSS_ENTRY ("words-mask", "words_mask",
      "Which of the L positions hold a word, f32 [N, L]: 1 for the first "
      "T_i, 0 after"),
  T2I_LOSS_ENTRY ("sentence", "text_emb",
      "Sentence features, f32 [N, D] (t2itextencoder output=)"),
  T2I_LOSS_ENTRY ("regions", "img_regions",
      "Image region features v, f32 [N, D, H, W] (t2iimageencoder "
      "arch=damsm regions-output=)"),
  T2I_LOSS_ENTRY ("image", "img_emb",
      "Global image features, f32 [N, D] (t2iimageencoder output=)"),
  T2I_LOSS_ENTRY ("class-ids", NULL,
      "Class of each item, i32 [N]: mismatched pairs of one class are left "
      "out of the softmax (unset: none are)"),
  T2I_OPTION_DOUBLE ("gamma1", 4.0, 0.0, 1e6, 0,
      "gamma1: sharpness of the attention over regions (eq. 9)"),
  T2I_OPTION_DOUBLE ("gamma2", 5.0, 1e-6, 1e6, 0,
      "gamma2: how much the best-matching words dominate R(Q, D) (eq. 10)"),
  T2I_OPTION_DOUBLE ("gamma3", 10.0, 0.0, 1e6, 0,
      "gamma3: smoothing of the posteriors P(D|Q) (eq. 11)"),
  T2I_OPTION_CHOICE ("word-score", "paper", "paper|attngan", 0,
      "R(Q, D) as eq. 10, log(sum exp(gamma2 R))^(1/gamma2), or as "
      "AttnGAN's code, log(sum exp(gamma2 R))"),
  {NULL}
};

static gboolean
require_dim (const GstStructure * config, const GstStructure * in,
    const char *prop, gint ndim, gint dim_axis, gint64 n, gint64 d,
    GError ** error)
{
  gint64 s[T2I_MAX_DIMS];
  if (!t2i_losses_require (in, config, prop, ndim, error))
    return FALSE;
  const char *name = t2i_config_string (config, prop);
  t2i_caps_get_entry (in, name, NULL, NULL, s);
  if ((n >= 0 && s[0] >= 0 && s[0] != n) || (d >= 0 && s[dim_axis] != d)) {
    g_autofree char *sh = t2i_shape_to_string (ndim, s);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s %s does not match words=%s: N = %" G_GINT64_FORMAT
        " items of D = %" G_GINT64_FORMAT " features", prop, name, sh,
        t2i_config_string (config, "words"), n, d);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check (const GstStructure * config, const GstStructure * in, GError ** error)
{
  gint64 ws[T2I_MAX_DIMS], ms[T2I_MAX_DIMS];
  if (!t2i_losses_require (in, config, "words", 3, error)
      || !t2i_losses_require (in, config, "words-mask", 2, error))
    return FALSE;
  t2i_caps_get_entry (in, t2i_config_string (config, "words"), NULL, NULL,
      ws);
  t2i_caps_get_entry (in, t2i_config_string (config, "words-mask"), NULL,
      NULL, ms);
  if (ms[0] != ws[0] || ms[1] != ws[1]) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "words-mask=%s must hold one value per position of words=%s [N, L]",
        t2i_config_string (config, "words-mask"), t2i_config_string (config,
            "words"));
    return FALSE;
  }
  const gint64 n = ws[0], d = ws[2];
  if (!require_dim (config, in, "sentence", 2, 1, n, d, error)
      || !require_dim (config, in, "regions", 4, 1, n, d, error)
      || !require_dim (config, in, "image", 2, 1, n, d, error))
    return FALSE;
  if (t2i_config_has_string (config, "class-ids")) {
    const char *c = t2i_config_string (config, "class-ids");
    gint64 want[1] = { n };
    if (!t2i_caps_require (in, c, "i32", 1, want, error)) {
      g_prefix_error (error, "class-ids=%s: ", c);
      return FALSE;
    }
  }
  return TRUE;
}

/* cos of @a [.., T, D] and @b [.., T, D] along the last axis, as AttnGAN:
 * a.b / max(|a| |b|, eps) */
static T2iTensor *
cosine_rows (T2iTensor * a, T2iTensor * b)
{
  g_autoptr (T2iTensor) ab = t2i_mul (a, b);
  g_autoptr (T2iTensor) dot = t2i_sum (ab, -1, FALSE);
  g_autoptr (T2iTensor) a2 = t2i_square (a);
  g_autoptr (T2iTensor) b2 = t2i_square (b);
  g_autoptr (T2iTensor) sa = t2i_sum (a2, -1, FALSE);
  g_autoptr (T2iTensor) sb = t2i_sum (b2, -1, FALSE);
  g_autoptr (T2iTensor) na = t2i_sqrt (sa);
  g_autoptr (T2iTensor) nb = t2i_sqrt (sb);
  g_autoptr (T2iTensor) den = t2i_mul (na, nb);
  g_autoptr (T2iTensor) safe = t2i_clamp (den, COS_EPS, G_MAXDOUBLE);
  return t2i_div (dot, safe);
}

T2iTensor *
t2i_losses_damsm_word_scores (T2iTensor * words, const gint64 * lengths,
    T2iTensor * regions, double gamma1, double gamma2, gboolean paper)
{
  const gint64 n = words->shape[0], d = words->shape[2];
  const gint64 nr = regions->shape[0];
  g_autoptr (T2iTensor) rf = t2i_reshape (regions, T2I_SHAPE (nr, d, -1));
  /* regions as rows: [N, R, D] */
  g_autoptr (T2iTensor) rt = t2i_transpose (rf, 1, 2);
  T2iTensor **cols = g_new0 (T2iTensor *, n);

  for (gint64 j = 0; j < n; j++) {
    g_autoptr (T2iTensor) wj = t2i_slice (words, 0, j, j + 1);
    /* the caption's T_j words: [1, T, D] */
    g_autoptr (T2iTensor) e = t2i_slice (wj, 1, 0, lengths[j]);
    g_autoptr (T2iTensor) et = t2i_transpose (e, 1, 2);
    /* s[i, r, t] = v_ir . e_t against every image i: [N, R, T] */
    g_autoptr (T2iTensor) s = t2i_matmul (rt, et);
    g_autoptr (T2iTensor) s1 = t2i_softmax (s, 2);
    g_autoptr (T2iTensor) s1t = t2i_transpose (s1, 1, 2);
    g_autoptr (T2iTensor) s1g = t2i_mul_scalar (s1t, gamma1);
    g_autoptr (T2iTensor) alpha = t2i_softmax (s1g, 2);
    /* c[i, t] = sum_r alpha[i, t, r] v_ir: [N, T, D] */
    g_autoptr (T2iTensor) c = t2i_matmul (alpha, rt);
    g_autoptr (T2iTensor) r = cosine_rows (c, e);
    g_autoptr (T2iTensor) rg = t2i_mul_scalar (r, gamma2);
    g_autoptr (T2iTensor) lse = t2i_logsumexp (rg, 1, TRUE);
    cols[j] = paper ? t2i_mul_scalar (lse, 1.0 / gamma2)
        : t2i_tensor_ref (lse);
  }
  /* [N images, N captions] */
  T2iTensor *scores = t2i_concat (cols, (gint) n, 1);
  for (gint64 j = 0; j < n; j++)
    t2i_tensor_unref (cols[j]);
  g_free (cols);
  return scores;
}

/* -inf where two items share a class, except on the diagonal */
static T2iTensor *
class_mask (T2iTensor * ids, T2iDType dtype)
{
  const gint64 n = ids->shape[0];
  T2iTensor *m = t2i_tensor_zeros (dtype, T2I_SHAPE (n, n));
  const gint32 *c = ids->data;
  for (gint64 i = 0; i < n; i++)
    for (gint64 j = 0; j < n; j++)
      if (i != j && c[i] == c[j])
        t2i_tensor_set (m, i * n + j, -INFINITY);
  return m;
}

T2iTensor *
t2i_losses_matching (T2iTensor * scores, double gamma3, T2iTensor * ids)
{
  const gint64 n = scores->shape[0];
  g_autoptr (T2iTensor) s = t2i_mul_scalar (scores, gamma3);
  g_autoptr (T2iTensor) masked = NULL;
  if (ids) {
    g_autoptr (T2iTensor) m = class_mask (ids, s->dtype);
    masked = t2i_add (s, m);
  } else {
    masked = t2i_tensor_ref (s);
  }
  g_autoptr (T2iTensor) labels = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  for (gint64 i = 0; i < n; i++)
    t2i_tensor_i32 (labels)[i] = (gint32) i;
  /* -log P(D_i | Q_i): over the captions for each image; then over the
   * images for each caption */
  g_autoptr (T2iTensor) l0 = t2i_cross_entropy (masked, labels);
  g_autoptr (T2iTensor) mt = t2i_transpose (masked, 0, 1);
  g_autoptr (T2iTensor) l1 = t2i_cross_entropy (mt, labels);
  return t2i_add (l0, l1);
}

static T2iTensor *
compute (const T2iLossArgs * a, GstBuffer * record, GError ** error)
{
  const GstStructure *c = a->config;
  T2iTensor *w = t2i_losses_get (record, c, "words", error);
  T2iTensor *m = w ? t2i_losses_get (record, c, "words-mask", error) : NULL;
  T2iTensor *s = m ? t2i_losses_get (record, c, "sentence", error) : NULL;
  T2iTensor *r = s ? t2i_losses_get (record, c, "regions", error) : NULL;
  T2iTensor *g = r ? t2i_losses_get (record, c, "image", error) : NULL;
  if (!g)
    return NULL;
  T2iTensor *ids = NULL;
  if (t2i_config_has_string (c, "class-ids")) {
    const char *name = t2i_config_string (c, "class-ids");
    ids = t2i_record_get_tensor (record, name);
    if (!ids || ids->dtype != T2I_I32 || ids->numel != w->shape[0]) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "class-ids=%s: the record has no i32 [%" G_GINT64_FORMAT "] "
          "tensor of that name", name, w->shape[0]);
      return NULL;
    }
  }
  const gint64 n = w->shape[0], l = w->shape[1];
  g_autofree gint64 *lengths = g_new (gint64, n);
  for (gint64 i = 0; i < n; i++) {
    lengths[i] = 0;
    for (gint64 t = 0; t < l; t++)
      lengths[i] += t2i_tensor_get (m, i * l + t) != 0.0;
    if (lengths[i] == 0) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "words-mask=%s: caption %" G_GINT64_FORMAT " has no words",
          t2i_config_string (c, "words-mask"), i);
      return NULL;
    }
  }
  const double gamma3 = t2i_config_double (c, "gamma3");
  g_autoptr (T2iTensor) ws = t2i_losses_damsm_word_scores (w, lengths, r,
      t2i_config_double (c, "gamma1"), t2i_config_double (c, "gamma2"),
      g_str_equal (t2i_config_string (c, "word-score"), "paper"));
  g_autoptr (T2iTensor) word = t2i_losses_matching (ws, gamma3, ids);
  /* eq. 14: cos(image_i, sentence_j) */
  g_autoptr (T2iTensor) ss = t2i_cosine_similarity_matrix (g, s, COS_EPS);
  g_autoptr (T2iTensor) sent = t2i_losses_matching (ss, gamma3, ids);
  return t2i_add (word, sent);
}

const T2iLossKind t2i_loss_kind_damsm = {
  "damsm",
  "AttnGAN's DAMSM loss (eq. 7-14): word-level (attention of each word over "
  "the image regions) and sentence-level image-text matching, each "
  "-log P(D|Q) - log P(Q|D) with posteriors softmax(gamma3 R) over the "
  "batch",
  options, check, compute,
};
