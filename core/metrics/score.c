/* t2i — Inception Score, R-precision and CLIP score.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/metrics.h>
#include <t2i/rng.h>

#include <math.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Inception Score                                                           */
/* ------------------------------------------------------------------------ */

/* p = softmax(@logits) in double */
static void
softmax_row (const float *logits, gint c, double *p)
{
  double m = -INFINITY, s = 0.0;

  for (gint k = 0; k < c; k++)
    m = MAX (m, (double) logits[k]);
  for (gint k = 0; k < c; k++) {
    p[k] = exp ((double) logits[k] - m);
    s += p[k];
  }
  for (gint k = 0; k < c; k++)
    p[k] /= s;
}

/**
 * t2i_inception_score:
 * @logits: (array): @n rows of @n_classes classifier logits
 * @n: number of images
 * @n_classes: number of classes C
 * @splits: number of splits (1 .. @n)
 * @unbiased_std: divide the spread by splits - 1 (torch.std, torchmetrics)
 *   instead of splits (numpy's default, as OpenAI's and stylegan2-ada's
 *   code)
 * @mean: (out): the mean score over the splits
 * @std: (out) (optional): the standard deviation over the splits
 * @error: return location for a #GError
 *
 * p(y|x) = softmax(logits) in double precision.  Split k holds rows
 * k n / splits .. (k + 1) n / splits - 1 (integer division, in order, no
 * shuffle: OpenAI's reference code); its score is
 * exp(mean_x KL(p(y|x) || p(y))) with p(y) the split's mean p(y|x), and
 * 0 log 0 taken as 0.
 *
 * Returns: %FALSE with @error on bad sizes or non-finite logits
 */
gboolean
t2i_inception_score (const float *logits, gint64 n, gint n_classes,
    gint splits, gboolean unbiased_std, double *mean, double *std,
    GError ** error)
{
  g_autofree double *p = NULL, *pbar = NULL, *scores = NULL;
  double m = 0.0, v = 0.0;

  g_return_val_if_fail (mean != NULL, FALSE);
  if (logits == NULL || n < 1 || n_classes < 1 || splits < 1 || splits > n) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_TOO_FEW,
        "Inception Score: %d splits of %" G_GINT64_FORMAT " images over %d "
        "classes (need 1 <= splits <= images)", splits, n, n_classes);
    return FALSE;
  }
  for (gint64 i = 0; i < n * n_classes; i++)
    if (!isfinite (logits[i])) {
      g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_NUMERIC,
          "Inception Score: the logits hold non-finite values");
      return FALSE;
    }

  p = g_new (double, n_classes);
  pbar = g_new (double, n_classes);
  scores = g_new (double, splits);
  for (gint k = 0; k < splits; k++) {
    gint64 i0 = k * n / splits, i1 = (k + 1) * n / splits;
    double kl = 0.0;

    memset (pbar, 0, sizeof (double) * n_classes);
    for (gint64 i = i0; i < i1; i++) {
      softmax_row (logits + i * n_classes, n_classes, p);
      for (gint c = 0; c < n_classes; c++)
        pbar[c] += p[c];
    }
    for (gint c = 0; c < n_classes; c++)
      pbar[c] /= (double) (i1 - i0);
    for (gint64 i = i0; i < i1; i++) {
      softmax_row (logits + i * n_classes, n_classes, p);
      for (gint c = 0; c < n_classes; c++)
        if (p[c] > 0.0)
          kl += p[c] * (log (p[c]) - log (pbar[c]));
    }
    scores[k] = exp (kl / (double) (i1 - i0));
    m += scores[k];
  }
  m /= splits;
  for (gint k = 0; k < splits; k++)
    v += (scores[k] - m) * (scores[k] - m);
  *mean = m;
  if (std != NULL) {
    if (unbiased_std)
      *std = splits > 1 ? sqrt (v / (splits - 1)) : 0.0;
    else
      *std = sqrt (v / splits);
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Cosine similarity                                                         */
/* ------------------------------------------------------------------------ */

/* as torch.nn.functional.normalize */
#define NORM_EPS 1e-12

static double
norm_row (const float *a, gint dim)
{
  double s = 0.0;

  for (gint k = 0; k < dim; k++)
    s += (double) a[k] * a[k];
  return MAX (sqrt (s), NORM_EPS);
}

/**
 * t2i_cosine_rows:
 * @a: (array): @n rows of @dim floats
 * @b: (array): @n rows of @dim floats
 * @n: rows
 * @dim: columns
 * @out: (out caller-allocates) (array): @n cosines, in double
 *
 * out[i] = a_i . b_i / (max(|a_i|, 1e-12) max(|b_i|, 1e-12)), as
 * F.normalize then a dot product.
 */
void
t2i_cosine_rows (const float *a, const float *b, gint64 n, gint dim,
    double *out)
{
  g_return_if_fail ((a && b && out) || n == 0);

  for (gint64 i = 0; i < n; i++) {
    const float *x = a + i * dim, *y = b + i * dim;
    double dot = 0.0;

    for (gint k = 0; k < dim; k++)
      dot += (double) x[k] * y[k];
    out[i] = dot / (norm_row (x, dim) * norm_row (y, dim));
  }
}

/* rows of @x normalized to unit length, in double */
static double *
normalized_rows (const float *x, gint64 n, gint dim)
{
  double *y = g_new (double, n * dim);

  for (gint64 i = 0; i < n; i++) {
    double nr = norm_row (x + i * dim, dim);

    for (gint k = 0; k < dim; k++)
      y[i * dim + k] = x[i * dim + k] / nr;
  }
  return y;
}

static inline double
dot_rows (const double *a, const double *b, gint dim)
{
  double s = 0.0;

  for (gint k = 0; k < dim; k++)
    s += a[k] * b[k];
  return s;
}

/* ------------------------------------------------------------------------ */
/* R-precision                                                               */
/* ------------------------------------------------------------------------ */

/**
 * t2i_rprecision_sample_candidates:
 * @seed: seed of the Philox stream
 * @n: pool size: image i's true caption is caption i
 * @n_mismatched: mismatched captions per image, at most @n - 1
 * @out: (out caller-allocates) (array): @n rows of @n_mismatched caption
 *   indices
 *
 * For each image i in order, draws @n_mismatched distinct captions among
 * the @n - 1 others by a partial Fisher-Yates shuffle of the list
 * 0..i-1, i+1..n-1: for t = 0, 1, ..., swap entry t with entry
 * t2i_rng_randint1 (rng, t, n - 1) and take entry t (the list is restored
 * after each image, so each image's draw starts from the sorted list).  The generator is t2i_rng_init (rng, @seed), drawn in
 * that order, so the sets depend only on (@seed, @n, @n_mismatched).
 */
void
t2i_rprecision_sample_candidates (guint64 seed, gint64 n, gint n_mismatched,
    gint64 * out)
{
  g_autofree gint64 *list = NULL, *swaps = NULL;
  T2iRng rng;

  g_return_if_fail (n >= 1 && n_mismatched >= 0 && n_mismatched <= n - 1);
  g_return_if_fail (out != NULL || n_mismatched == 0);

  t2i_rng_init (&rng, seed);
  list = g_new (gint64, n > 1 ? n - 1 : 1);
  swaps = g_new (gint64, n_mismatched > 0 ? n_mismatched : 1);
  /* the others of image 0: 1..n-1 */
  for (gint64 j = 0; j < n - 1; j++)
    list[j] = j + 1;
  for (gint64 i = 0; i < n; i++) {
    for (gint t = 0; t < n_mismatched; t++) {
      gint64 r = t2i_rng_randint1 (&rng, t, n - 1), tmp = list[t];

      list[t] = list[r];
      list[r] = tmp;
      swaps[t] = r;
      out[i * n_mismatched + t] = list[t];
    }
    /* undo the swaps, then turn 0..i-1, i+1..n-1 into the list of i + 1 */
    for (gint t = n_mismatched - 1; t >= 0; t--) {
      gint64 r = swaps[t], tmp = list[t];

      list[t] = list[r];
      list[r] = tmp;
    }
    if (i < n - 1)
      list[i] = i;
  }
}

/**
 * t2i_rprecision_compute_with_candidates:
 * @image_emb: (array): @n image embeddings of @dim floats
 * @text_emb: (array): @n caption embeddings; caption i belongs to image i
 * @n: number of pairs
 * @dim: embedding size
 * @mismatched: (array): @n rows of @n_mismatched caption indices (each in
 *   0..@n-1 and not the row's own index)
 * @n_mismatched: mismatched captions per image (99 in the AttnGAN /
 *   DiST-GAN protocol)
 * @ks: (array): @n_ks ranks k
 * @n_ks: how many
 * @hits: (out caller-allocates) (array): @n_ks percentages: how often the
 *   true caption ranks within the top k
 * @error: return location for a #GError
 *
 * For image i the candidates are its caption and its @n_mismatched
 * mismatched ones, ranked by cosine similarity with the image embedding.
 * The true caption's rank is 1 + the number of mismatched captions scoring
 * strictly higher (ties go to the true caption, as a stable sort with the
 * true caption listed first, AttnGAN's layout).
 *
 * Returns: %FALSE with @error on a bad index
 */
gboolean
t2i_rprecision_compute_with_candidates (const float *image_emb,
    const float *text_emb, gint64 n, gint dim, const gint64 * mismatched,
    gint n_mismatched, const gint * ks, gint n_ks, double *hits,
    GError ** error)
{
  g_autofree double *img = NULL, *txt = NULL;
  g_autofree gint64 *count = NULL;

  g_return_val_if_fail (hits != NULL && (ks != NULL || n_ks == 0), FALSE);
  if (n < 1 || dim < 1 || image_emb == NULL || text_emb == NULL
      || n_mismatched < 0 || (n_mismatched > 0 && mismatched == NULL)) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_TOO_FEW,
        "R-precision needs at least one image-caption pair");
    return FALSE;
  }
  for (gint64 i = 0; i < n * n_mismatched; i++)
    if (mismatched[i] < 0 || mismatched[i] >= n
        || mismatched[i] == i / n_mismatched) {
      g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID,
          "R-precision: candidate %" G_GINT64_FORMAT " of image %"
          G_GINT64_FORMAT " is not a mismatched caption index",
          mismatched[i], i / n_mismatched);
      return FALSE;
    }

  img = normalized_rows (image_emb, n, dim);
  txt = normalized_rows (text_emb, n, dim);
  count = g_new0 (gint64, MAX (n_ks, 1));
  for (gint64 i = 0; i < n; i++) {
    const double *a = img + i * dim;
    double s_true = dot_rows (a, txt + i * dim, dim);
    gint64 rank = 1;

    for (gint t = 0; t < n_mismatched; t++)
      if (dot_rows (a, txt + mismatched[i * n_mismatched + t] * dim, dim)
          > s_true)
        rank++;
    for (gint k = 0; k < n_ks; k++)
      if (rank <= ks[k])
        count[k]++;
  }
  for (gint k = 0; k < n_ks; k++)
    hits[k] = 100.0 * (double) count[k] / (double) n;
  return TRUE;
}

/**
 * t2i_rprecision_compute:
 * @image_emb: (array): @n image embeddings
 * @text_emb: (array): @n caption embeddings, paired row by row
 * @n: number of pairs; the captions are also the candidate pool
 * @dim: embedding size
 * @seed: seed for t2i_rprecision_sample_candidates()
 * @n_candidates: candidates per image, the true one included (100)
 * @ks: (array): @n_ks ranks k
 * @n_ks: how many
 * @hits: (out caller-allocates) (array): @n_ks percentages
 * @n_used: (out) (optional): candidates actually used: @n_candidates, or
 *   @n when the pool is smaller
 * @error: return location for a #GError
 *
 * Samples the mismatched captions with t2i_rprecision_sample_candidates()
 * and ranks with t2i_rprecision_compute_with_candidates().
 *
 * Returns: %FALSE with @error on bad arguments
 */
gboolean
t2i_rprecision_compute (const float *image_emb, const float *text_emb,
    gint64 n, gint dim, guint64 seed, gint n_candidates, const gint * ks,
    gint n_ks, double *hits, gint * n_used, GError ** error)
{
  g_autofree gint64 *cand = NULL;
  gint m;

  if (n < 1 || n_candidates < 1) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_TOO_FEW,
        "R-precision needs at least one image-caption pair and one "
        "candidate");
    return FALSE;
  }
  m = (gint) MIN ((gint64) n_candidates - 1, n - 1);
  if (n_used != NULL)
    *n_used = m + 1;
  cand = g_new (gint64, MAX (n * m, 1));
  t2i_rprecision_sample_candidates (seed, n, m, cand);
  return t2i_rprecision_compute_with_candidates (image_emb, text_emb, n, dim,
      cand, m, ks, n_ks, hits, error);
}

/* ------------------------------------------------------------------------ */
/* CLIP score                                                                */
/* ------------------------------------------------------------------------ */

/**
 * t2i_clip_score:
 * @cosines: (array): @n cosine similarities of paired image and text
 *   embeddings (t2i_cosine_rows())
 * @n: count, a multiple of @best_of
 * @best_of: candidates per prompt: rows p * best_of .. (p + 1) * best_of - 1
 *   are prompt p's; the best (highest cosine) counts, the CLIP re-ranking
 *   of CLIP-VQDiffusion / clip2latent; 1 keeps every row
 * @scale: factor w on the cosine (100 as torchmetrics, 1 for a raw cosine
 *   as CLIP-VQDiffusion's tables, 2.5 as CLIPScore)
 * @clamp: clamp the final mean at 0, as torchmetrics does
 * @score: (out): scale * mean over prompts of the (best) cosine
 * @std: (out) (optional): scale * population standard deviation over
 *   prompts (not clamped)
 * @error: return location for a #GError
 *
 * Returns: %FALSE with @error when @n is not a positive multiple of
 *   @best_of
 */
gboolean
t2i_clip_score (const double *cosines, gint64 n, gint best_of, double scale,
    gboolean clamp, double *score, double *std, GError ** error)
{
  gint64 prompts;
  double m = 0.0, v = 0.0;

  g_return_val_if_fail (score != NULL, FALSE);
  if (best_of < 1 || n < 1 || cosines == NULL || n % best_of != 0) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID,
        "CLIP score: %" G_GINT64_FORMAT " images is not a positive multiple "
        "of best-of=%d", n, best_of);
    return FALSE;
  }
  prompts = n / best_of;
  for (gint pass = 0; pass < 2; pass++) {
    for (gint64 p = 0; p < prompts; p++) {
      double best = -INFINITY;

      for (gint k = 0; k < best_of; k++)
        best = MAX (best, cosines[p * best_of + k]);
      if (pass == 0)
        m += best;
      else
        v += (best - m) * (best - m);
    }
    if (pass == 0)
      m /= (double) prompts;
  }
  *score = scale * m;
  if (clamp && *score < 0.0)
    *score = 0.0;
  if (std != NULL)
    *std = fabs (scale) * sqrt (v / (double) prompts);
  return TRUE;
}
