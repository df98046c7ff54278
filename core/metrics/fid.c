/* t2i — FID: streaming feature statistics and the Frechet distance.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/metrics.h>
#include <t2i/safetensors.h>

#include <lapacke.h>
#include <math.h>
#include <string.h>

G_DEFINE_QUARK (t2i-metrics-error-quark, t2i_metrics_error);

/* rows converted and shifted at a time by t2i_fid_stats_add_*() */
#define ADD_CHUNK 64

/**
 * T2iFidStats:
 *
 * Running sums of feature vectors x (dimension D) in double precision,
 * shifted by a reference vector r (the first sample, or the mean of loaded
 * statistics) so that the covariance does not suffer from cancellation
 * when the mean is large against the spread:
 *
 *   s = sum (x - r),  S = sum (x - r)(x - r)^T
 *   mu = r + s / n,   Sigma = (S - s s^T / n) / (n - 1)
 *
 * Memory is one block of D^2 + 2 D doubles, whatever the number of
 * samples (t2i_fid_stats_get_alloc_size()).
 */
struct _T2iFidStats
{
  gint dim;
  gint64 n;
  double *block;                /* ref, sum, sxx */
  double *ref;                  /* [D] */
  double *sum;                  /* [D] */
  double *sxx;                  /* [D, D]: upper triangle (j >= i) kept */
};

/**
 * t2i_fid_stats_new:
 * @dim: feature dimension D (1 .. 65536)
 *
 * Returns: (transfer full): an empty accumulator
 */
T2iFidStats *
t2i_fid_stats_new (gint dim)
{
  T2iFidStats *st;
  gsize d = (gsize) dim;

  g_return_val_if_fail (dim > 0 && dim <= 65536, NULL);
  st = g_new0 (T2iFidStats, 1);
  st->dim = dim;
  st->block = g_new0 (double, d * d + 2 * d);
  st->ref = st->block;
  st->sum = st->block + d;
  st->sxx = st->block + 2 * d;
  return st;
}

void
t2i_fid_stats_free (T2iFidStats * stats)
{
  if (stats == NULL)
    return;
  g_free (stats->block);
  g_free (stats);
}

/**
 * t2i_fid_stats_copy:
 * @stats: an accumulator
 *
 * Returns: (transfer full): an independent copy
 */
T2iFidStats *
t2i_fid_stats_copy (const T2iFidStats * stats)
{
  T2iFidStats *c;
  gsize d;

  g_return_val_if_fail (stats != NULL, NULL);
  d = (gsize) stats->dim;
  c = t2i_fid_stats_new (stats->dim);
  c->n = stats->n;
  memcpy (c->block, stats->block, (d * d + 2 * d) * sizeof (double));
  return c;
}

gint
t2i_fid_stats_get_dim (const T2iFidStats * stats)
{
  g_return_val_if_fail (stats != NULL, 0);
  return stats->dim;
}

gint64
t2i_fid_stats_get_n (const T2iFidStats * stats)
{
  g_return_val_if_fail (stats != NULL, 0);
  return stats->n;
}

/**
 * t2i_fid_stats_get_alloc_size:
 * @stats: an accumulator
 *
 * Returns: the bytes the accumulator holds between calls: the struct and
 *   (D^2 + 2 D) doubles, independent of the number of samples added
 */
gsize
t2i_fid_stats_get_alloc_size (const T2iFidStats * stats)
{
  gsize d;

  g_return_val_if_fail (stats != NULL, 0);
  d = (gsize) stats->dim;
  return sizeof (T2iFidStats) + (d * d + 2 * d) * sizeof (double);
}

/* S += B^T B for @rows shifted rows in @buf (upper triangle only) */
static void
accumulate_outer (T2iFidStats * st, const double *buf, gint64 rows)
{
  const gint64 d = st->dim;
  double *sxx = st->sxx;

#pragma omp parallel for schedule(dynamic, 8) if (d * d * rows > (1 << 20))
  for (gint64 i = 0; i < d; i++) {
    double *srow = sxx + i * d;
    gint64 r = 0;

    /* four rows at a time: one load and store of srow per four updates */
    for (; r + 4 <= rows; r += 4) {
      const double *b0 = buf + r * d, *b1 = b0 + d, *b2 = b1 + d;
      const double *b3 = b2 + d;
      const double a0 = b0[i], a1 = b1[i], a2 = b2[i], a3 = b3[i];

#pragma omp simd
      for (gint64 j = i; j < d; j++)
        srow[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j];
    }
    for (; r < rows; r++) {
      const double *b = buf + r * d;
      const double a = b[i];

#pragma omp simd
      for (gint64 j = i; j < d; j++)
        srow[j] += a * b[j];
    }
  }
}

static void
stats_add (T2iFidStats * st, const float *xf, const double *xd, gint64 n)
{
  const gint64 d = st->dim;
  double *buf;

  if (n <= 0)
    return;
  if (st->n == 0) {
    for (gint64 j = 0; j < d; j++)
      st->ref[j] = xf ? (double) xf[j] : xd[j];
  }
  buf = g_new (double, ADD_CHUNK * d);
  for (gint64 r0 = 0; r0 < n; r0 += ADD_CHUNK) {
    gint64 rows = MIN (ADD_CHUNK, n - r0);

    for (gint64 r = 0; r < rows; r++) {
      double *b = buf + r * d;

      for (gint64 j = 0; j < d; j++) {
        double v = xf ? (double) xf[(r0 + r) * d + j] : xd[(r0 + r) * d + j];

        b[j] = v - st->ref[j];
        st->sum[j] += b[j];
      }
    }
    accumulate_outer (st, buf, rows);
  }
  st->n += n;
  g_free (buf);
}

/**
 * t2i_fid_stats_add_f32:
 * @stats: an accumulator
 * @x: (array): @n rows of D floats
 * @n: number of rows
 *
 * Adds @n feature vectors.
 */
void
t2i_fid_stats_add_f32 (T2iFidStats * stats, const float *x, gint64 n)
{
  g_return_if_fail (stats != NULL && (x != NULL || n == 0));
  stats_add (stats, x, NULL, n);
}

/* like t2i_fid_stats_add_f32() for doubles */
void
t2i_fid_stats_add_f64 (T2iFidStats * stats, const double *x, gint64 n)
{
  g_return_if_fail (stats != NULL && (x != NULL || n == 0));
  stats_add (stats, NULL, x, n);
}

/**
 * t2i_fid_stats_add_tensor:
 * @stats: an accumulator
 * @features: a CPU f32 or f64 tensor [N, D]
 * @error: return location for a #GError
 *
 * Returns: %FALSE (with @error) when @features is not [N, D]
 */
gboolean
t2i_fid_stats_add_tensor (T2iFidStats * stats, T2iTensor * features,
    GError ** error)
{
  g_return_val_if_fail (stats != NULL && features != NULL, FALSE);

  if (features->device != T2I_DEVICE_CPU) {
    /* the statistics accumulate on the host */
    g_autoptr (T2iTensor) h = t2i_tensor_to_device (features, T2I_DEVICE_CPU,
        error);
    return h && t2i_fid_stats_add_tensor (stats, h, error);
  }
  if (features->ndim != 2
      || features->shape[1] != stats->dim
      || (features->dtype != T2I_F32 && features->dtype != T2I_F64)) {
    g_autofree char *shape = t2i_shape_to_string (features->ndim,
        features->shape);
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID,
        "FID features must be f32 or f64 [N,%d], got %s%s",
        stats->dim, t2i_dtype_name (features->dtype), shape);
    return FALSE;
  }
  if (features->dtype == T2I_F32)
    stats_add (stats, t2i_tensor_f32 (features), NULL, features->shape[0]);
  else
    stats_add (stats, NULL, t2i_tensor_f64 (features), features->shape[0]);
  return TRUE;
}

/**
 * t2i_fid_stats_merge:
 * @stats: an accumulator
 * @other: another one of the same dimension
 * @error: return location for a #GError
 *
 * Adds the samples @other holds, as if they had been added to @stats (up
 * to rounding): the statistics of several processes' shares of a data set
 * (data-parallel evaluation).  @other's sums are moved to @stats'
 * reference r_a: with d = r_b - r_a, s_a += s_b + n_b d and
 * S_a += S_b + d s_b^T + s_b d^T + n_b d d^T.
 *
 * Returns: %FALSE with @error when the dimensions differ
 */
gboolean
t2i_fid_stats_merge (T2iFidStats * stats, const T2iFidStats * other,
    GError ** error)
{
  g_return_val_if_fail (stats != NULL && other != NULL, FALSE);
  const gint64 d = stats->dim;

  if (other->dim != stats->dim) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_MISMATCH,
        "cannot merge %d-dim FID statistics into %d-dim ones", other->dim,
        stats->dim);
    return FALSE;
  }
  if (other->n == 0)
    return TRUE;
  if (stats->n == 0) {
    memcpy (stats->block, other->block, (d * d + 2 * d) * sizeof (double));
    stats->n = other->n;
    return TRUE;
  }
  double *delta = g_new (double, d);
  const double nb = (double) other->n;
  for (gint64 j = 0; j < d; j++)
    delta[j] = other->ref[j] - stats->ref[j];
#pragma omp parallel for schedule(dynamic, 8) if (d * d > (1 << 16))
  for (gint64 i = 0; i < d; i++) {
    const double di = delta[i], si = other->sum[i];
    double *row = stats->sxx + i * d;
    const double *orow = other->sxx + i * d;
    for (gint64 j = i; j < d; j++)
      row[j] += orow[j] + di * other->sum[j] + si * delta[j]
          + nb * di * delta[j];
  }
  for (gint64 j = 0; j < d; j++)
    stats->sum[j] += other->sum[j] + nb * delta[j];
  stats->n += other->n;
  g_free (delta);
  return TRUE;
}

/**
 * t2i_fid_stats_serialize:
 * @stats: an accumulator
 *
 * Returns: (transfer full): the accumulator as bytes (dimension, count and
 *   sums, native byte order), for moving it between processes of one job
 */
GBytes *
t2i_fid_stats_serialize (const T2iFidStats * stats)
{
  g_return_val_if_fail (stats != NULL, NULL);
  const gsize d = (gsize) stats->dim, nblock = (d * d + 2 * d);
  gint64 head[2] = { stats->dim, stats->n };
  guint8 *buf = g_malloc (sizeof head + nblock * sizeof (double));
  memcpy (buf, head, sizeof head);
  memcpy (buf + sizeof head, stats->block, nblock * sizeof (double));
  return g_bytes_new_take (buf, sizeof head + nblock * sizeof (double));
}

/**
 * t2i_fid_stats_deserialize:
 * @bytes: what t2i_fid_stats_serialize() returned (in this build)
 * @error: return location for a #GError
 *
 * Returns: (transfer full) (nullable): the accumulator, or %NULL with
 *   @error when @bytes do not hold one
 */
T2iFidStats *
t2i_fid_stats_deserialize (GBytes * bytes, GError ** error)
{
  gsize len = 0;
  const guint8 *p = g_bytes_get_data (bytes, &len);
  gint64 head[2] = { 0, -1 };
  gsize nblock = 0;

  if (len >= sizeof head)
    memcpy (head, p, sizeof head);
  if (head[0] >= 1 && head[0] <= 65536)
    nblock = (gsize) head[0] * (gsize) head[0] + 2 * (gsize) head[0];
  if (head[1] < 0 || nblock == 0
      || len != sizeof head + nblock * sizeof (double)) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID,
        "the bytes (%" G_GSIZE_FORMAT ") hold no FID statistics", len);
    return NULL;
  }
  T2iFidStats *st = t2i_fid_stats_new ((gint) head[0]);
  st->n = head[1];
  memcpy (st->block, p + sizeof head, nblock * sizeof (double));
  return st;
}

/**
 * t2i_fid_stats_get:
 * @stats: an accumulator holding at least 2 samples
 * @mu: (out caller-allocates) (nullable): D doubles, the mean
 * @sigma: (out caller-allocates) (nullable): D x D doubles, the covariance
 *   with the N - 1 denominator (as numpy.cov), both triangles filled
 * @error: return location for a #GError
 *
 * Returns: %FALSE with @error when fewer than 2 samples were added
 */
gboolean
t2i_fid_stats_get (const T2iFidStats * stats, double *mu, double *sigma,
    GError ** error)
{
  gint64 d, n;

  g_return_val_if_fail (stats != NULL, FALSE);
  d = stats->dim;
  n = stats->n;
  if (n < 2) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_TOO_FEW,
        "FID statistics need at least 2 samples, have %" G_GINT64_FORMAT, n);
    return FALSE;
  }
  if (mu != NULL)
    for (gint64 j = 0; j < d; j++)
      mu[j] = stats->ref[j] + stats->sum[j] / (double) n;
  if (sigma != NULL) {
    for (gint64 i = 0; i < d; i++) {
      const double si = stats->sum[i];

      for (gint64 j = i; j < d; j++) {
        double c = (stats->sxx[i * d + j] - si * stats->sum[j] / (double) n)
            / (double) (n - 1);

        sigma[i * d + j] = c;
        sigma[j * d + i] = c;
      }
    }
  }
  return TRUE;
}

/**
 * t2i_fid_stats_save:
 * @stats: an accumulator holding at least 2 samples
 * @path: a .safetensors file to write
 * @extractor: (nullable): what produced the features, kept in the file's
 *   metadata so that t2imetric does not mix features of different
 *   extractors
 * @error: return location for a #GError
 *
 * Writes `mu` f64 [D], `sigma` f64 [D, D] and `n` i32 [1] (the same
 * layout as pytorch-fid's .npz statistics), with the metadata "format":
 * "t2i-fid-stats" and "extractor".
 *
 * Returns: %TRUE on success
 */
gboolean
t2i_fid_stats_save (const T2iFidStats * stats, const char *path,
    const char *extractor, GError ** error)
{
  g_autoptr (T2iTensor) mu = NULL;
  g_autoptr (T2iTensor) sigma = NULL;
  g_autoptr (T2iTensor) n = NULL;
  g_autoptr (GHashTable) meta = NULL;
  g_autofree gchar *n_text = NULL;
  const gint64 d = stats ? stats->dim : 0;

  g_return_val_if_fail (stats != NULL && path != NULL, FALSE);
  if (stats->n > G_MAXINT32) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID,
        "%s: too many samples to save (%" G_GINT64_FORMAT ")", path,
        stats->n);
    return FALSE;
  }
  mu = t2i_tensor_new (T2I_F64, T2I_SHAPE (d));
  sigma = t2i_tensor_new (T2I_F64, T2I_SHAPE (d, d));
  if (!t2i_fid_stats_get (stats, t2i_tensor_f64 (mu), t2i_tensor_f64 (sigma),
          error)) {
    g_prefix_error (error, "%s: ", path);
    return FALSE;
  }
  n = t2i_tensor_full (T2I_I32, T2I_SHAPE (1), (double) stats->n);
  n_text = g_strdup_printf ("%" G_GINT64_FORMAT, stats->n);
  meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, (gpointer) "format", (gpointer) "t2i-fid-stats");
  g_hash_table_insert (meta, (gpointer) "extractor",
      (gpointer) (extractor ? extractor : "none"));
  g_hash_table_insert (meta, (gpointer) "n", n_text);
  return t2i_safetensors_save (path, (const char *const[]) { "mu", "sigma",
          "n", NULL }, (T2iTensor *[]) { mu, sigma, n }, 3, meta, error);
}

/**
 * t2i_fid_stats_load:
 * @path: a file written by t2i_fid_stats_save() (or any safetensors file
 *   with `mu` [D], `sigma` [D, D] and `n` [1])
 * @extractor: (out) (optional) (transfer full): the extractor named in the
 *   metadata, or "none"
 * @error: return location for a #GError
 *
 * The statistics come back as an accumulator equivalent to the one saved:
 * more samples can be added to it.
 *
 * Returns: (transfer full) (nullable): the statistics, or %NULL with @error
 */
T2iFidStats *
t2i_fid_stats_load (const char *path, gchar ** extractor, GError ** error)
{
  g_autoptr (T2iSafetensors) sf = NULL;
  g_autoptr (T2iTensor) mu = NULL;
  g_autoptr (T2iTensor) sigma = NULL;
  g_autoptr (T2iTensor) n = NULL;
  T2iFidStats *st;
  const char *ex;
  gint64 d, count;

  g_return_val_if_fail (path != NULL, NULL);
  sf = t2i_safetensors_load (path, error);
  if (sf == NULL)
    return NULL;
  mu = t2i_safetensors_read (sf, "mu", error);
  if (mu == NULL)
    return NULL;
  sigma = t2i_safetensors_read (sf, "sigma", error);
  if (sigma == NULL)
    return NULL;
  n = t2i_safetensors_read (sf, "n", error);
  if (n == NULL)
    return NULL;
  d = mu->ndim == 1 ? mu->shape[0] : 0;
  if (d < 1 || d > 65536 || sigma->ndim != 2 || sigma->shape[0] != d
      || sigma->shape[1] != d || n->numel != 1
      || mu->dtype == T2I_I32 || mu->dtype == T2I_U8
      || sigma->dtype == T2I_I32 || sigma->dtype == T2I_U8) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_MISMATCH,
        "%s: FID statistics need float mu [D], sigma [D,D] and n [1]", path);
    return NULL;
  }
  count = (gint64) t2i_tensor_get (n, 0);
  if (count < 2) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_TOO_FEW,
        "%s: FID statistics of %" G_GINT64_FORMAT " samples (need 2 or more)",
        path, count);
    return NULL;
  }
  st = t2i_fid_stats_new ((gint) d);
  st->n = count;
  for (gint64 i = 0; i < d; i++) {
    st->ref[i] = t2i_tensor_get (mu, i);
    for (gint64 j = i; j < d; j++)
      st->sxx[i * d + j] = (double) (count - 1) * t2i_tensor_get (sigma,
          i * d + j);
  }
  for (gint64 i = 0; i < d * d + 2 * d; i++)
    if (!isfinite (st->block[i])) {
      g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_NUMERIC,
          "%s: FID statistics hold non-finite values", path);
      t2i_fid_stats_free (st);
      return NULL;
    }
  ex = t2i_safetensors_get_metadata (sf, "extractor");
  if (extractor != NULL)
    *extractor = g_strdup (ex ? ex : "none");
  return st;
}

/* ------------------------------------------------------------------------ */
/* Frechet distance                                                          */
/* ------------------------------------------------------------------------ */

#define BLOCK_J 256
#define BLOCK_K 256

/* C[M, N] = op(A) B with op(A)(i, k) = A[i * ai + k * ak], B [K, N] row-major
 * with leading dimension ldb, C row-major with leading dimension N.  Blocked
 * over columns (one block per thread) and over k. */
static void
gemm_acc (gint64 M, gint64 N, gint64 K, const double *A, gint64 ai, gint64 ak,
    const double *B, gint64 ldb, double *C)
{
  const gint64 n_jb = (N + BLOCK_J - 1) / BLOCK_J;

  memset (C, 0, (gsize) (M * N) * sizeof (double));
#pragma omp parallel for schedule(dynamic, 1) if (M * N * K > (1 << 20))
  for (gint64 jb = 0; jb < n_jb; jb++) {
    const gint64 j0 = jb * BLOCK_J, jn = MIN (BLOCK_J, N - j0);

    for (gint64 k0 = 0; k0 < K; k0 += BLOCK_K) {
      const gint64 kn = MIN (BLOCK_K, K - k0);
      gint64 i = 0;

      for (; i + 4 <= M; i += 4) {
        double *c0 = C + i * N + j0, *c1 = c0 + N, *c2 = c1 + N, *c3 = c2 + N;

        for (gint64 k = k0; k < k0 + kn; k++) {
          const double a0 = A[i * ai + k * ak], a1 = A[(i + 1) * ai + k * ak];
          const double a2 = A[(i + 2) * ai + k * ak];
          const double a3 = A[(i + 3) * ai + k * ak];
          const double *b = B + k * ldb + j0;

#pragma omp simd
          for (gint64 j = 0; j < jn; j++) {
            c0[j] += a0 * b[j];
            c1[j] += a1 * b[j];
            c2[j] += a2 * b[j];
            c3[j] += a3 * b[j];
          }
        }
      }
      for (; i < M; i++) {
        double *c0 = C + i * N + j0;

        for (gint64 k = k0; k < k0 + kn; k++) {
          const double a0 = A[i * ai + k * ak];
          const double *b = B + k * ldb + j0;

#pragma omp simd
          for (gint64 j = 0; j < jn; j++)
            c0[j] += a0 * b[j];
        }
      }
    }
  }
}

static gboolean
all_finite (const double *x, gint64 n)
{
  for (gint64 i = 0; i < n; i++)
    if (!isfinite (x[i]))
      return FALSE;
  return TRUE;
}

/**
 * t2i_frechet_distance:
 * @dim: D
 * @mu1: D means of the first Gaussian
 * @sigma1: D x D covariance (symmetric; both triangles are read)
 * @mu2: D means of the second Gaussian
 * @sigma2: D x D covariance
 * @result: (out caller-allocates): the distance and its terms
 * @error: return location for a #GError
 *
 * ||mu1 - mu2||^2 + tr Sigma1 + tr Sigma2 - 2 tr sqrt(Sigma1 Sigma2),
 * with tr sqrt(Sigma1 Sigma2) = sum_i sqrt(lambda_i) over the eigenvalues
 * of the symmetric positive semi-definite matrix
 * Sigma1^1/2 Sigma2 Sigma1^1/2 (similar to Sigma1 Sigma2).
 *
 * Sigma1 = V diag(l) V^T is decomposed with LAPACKE_dsyevd; with
 * W = V diag(sqrt(l)) (columns of zero eigenvalues dropped), W^T Sigma2 W
 * has the same non-zero eigenvalues as Sigma1^1/2 Sigma2 Sigma1^1/2; they
 * come from a second dsyevd.  Negative eigenvalues (round-off) are clamped
 * to 0 and counted in @result.  Unlike scipy.linalg.sqrtm on Sigma1 Sigma2
 * (pytorch-fid) this never produces complex values, also for the
 * rank-deficient covariances of fewer samples than dimensions; on
 * well-conditioned statistics both agree to about 1e-6 relative.
 *
 * Returns: %FALSE with @error on non-finite input or a LAPACK failure
 */
gboolean
t2i_frechet_distance (gint dim, const double *mu1, const double *sigma1,
    const double *mu2, const double *sigma2, T2iFidResult * result,
    GError ** error)
{
  const gint64 d = dim;
  g_autofree double *a = NULL, *w = NULL, *wm = NULL, *t = NULL, *b = NULL;
  g_autofree double *ev = NULL;
  gint64 r = 0;
  lapack_int info;

  g_return_val_if_fail (dim > 0 && mu1 && sigma1 && mu2 && sigma2 && result,
      FALSE);
  memset (result, 0, sizeof (*result));
  if (!all_finite (mu1, d) || !all_finite (mu2, d)
      || !all_finite (sigma1, d * d) || !all_finite (sigma2, d * d)) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_NUMERIC,
        "FID: the statistics hold non-finite values");
    return FALSE;
  }

  for (gint64 i = 0; i < d; i++) {
    double dm = mu1[i] - mu2[i];

    result->mean_term += dm * dm;
    result->trace1 += sigma1[i * d + i];
    result->trace2 += sigma2[i * d + i];
  }

  /* Sigma1 = V diag(l) V^T; a holds V (row-major: a[i * d + k] = v_k[i]) */
  a = g_new (double, d * d);
  for (gint64 i = 0; i < d; i++)
    for (gint64 j = 0; j < d; j++)
      a[i * d + j] = 0.5 * (sigma1[i * d + j] + sigma1[j * d + i]);
  w = g_new (double, d);
  info = LAPACKE_dsyevd (LAPACK_ROW_MAJOR, 'V', 'U', (lapack_int) d, a,
      (lapack_int) d, w);
  if (info != 0) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_NUMERIC,
        "FID: eigendecomposition of the first covariance failed "
        "(LAPACKE_dsyevd info %d)", (int) info);
    return FALSE;
  }

  /* W = V diag(sqrt(l)), only the columns with l > 0 */
  for (gint64 k = 0; k < d; k++) {
    if (w[k] < 0.0) {
      result->n_clamped++;
      result->min_eigenvalue = MIN (result->min_eigenvalue, w[k]);
    }
    if (w[k] > 0.0)
      r++;
  }
  if (r > 0) {
    gint64 col = 0;

    wm = g_new (double, d * r);
    for (gint64 k = 0; k < d; k++) {
      double s;

      if (!(w[k] > 0.0))
        continue;
      s = sqrt (w[k]);
      for (gint64 i = 0; i < d; i++)
        wm[i * r + col] = a[i * d + k] * s;
      col++;
    }
    g_clear_pointer (&a, g_free);

    /* T = Sigma2 W [d, r]; B = W^T T [r, r] */
    t = g_new (double, d * r);
    gemm_acc (d, r, d, sigma2, d, 1, wm, r, t);
    b = g_new (double, r * r);
    gemm_acc (r, r, d, wm, 1, r, t, r, b);
    for (gint64 i = 0; i < r; i++)
      for (gint64 j = i + 1; j < r; j++) {
        double m = 0.5 * (b[i * r + j] + b[j * r + i]);

        b[i * r + j] = m;
        b[j * r + i] = m;
      }
    ev = g_new (double, r);
    info = LAPACKE_dsyevd (LAPACK_ROW_MAJOR, 'N', 'U', (lapack_int) r, b,
        (lapack_int) r, ev);
    if (info != 0) {
      g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_NUMERIC,
          "FID: eigenvalues of Sigma1^1/2 Sigma2 Sigma1^1/2 failed "
          "(LAPACKE_dsyevd info %d)", (int) info);
      return FALSE;
    }
    for (gint64 k = 0; k < r; k++) {
      if (ev[k] < 0.0) {
        result->n_clamped++;
        result->min_eigenvalue = MIN (result->min_eigenvalue, ev[k]);
      } else {
        result->trace_sqrt += sqrt (ev[k]);
      }
    }
  }
  result->value = result->mean_term + result->trace1 + result->trace2
      - 2.0 * result->trace_sqrt;
  return TRUE;
}

/**
 * t2i_fid_compute:
 * @real: statistics of the real features
 * @fake: statistics of the generated features (same dimension)
 * @result: (out caller-allocates): the distance and its terms
 * @warning: (out) (optional) (transfer full) (nullable): set to a one-line
 *   warning when either side has N <= D samples (rank-deficient
 *   covariance: the value is biased and not comparable with published
 *   FIDs), else to %NULL
 * @error: return location for a #GError
 *
 * Returns: %FALSE with @error when the dimensions differ, a side has
 *   fewer than 2 samples or the linear algebra fails
 */
gboolean
t2i_fid_compute (const T2iFidStats * real, const T2iFidStats * fake,
    T2iFidResult * result, gchar ** warning, GError ** error)
{
  g_autofree double *mu1 = NULL, *mu2 = NULL, *s1 = NULL, *s2 = NULL;
  gsize d;

  g_return_val_if_fail (real != NULL && fake != NULL && result != NULL, FALSE);
  if (warning != NULL)
    *warning = NULL;
  if (real->dim != fake->dim) {
    g_set_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_MISMATCH,
        "FID: real features have %d dimensions, generated ones %d",
        real->dim, fake->dim);
    return FALSE;
  }
  d = (gsize) real->dim;
  mu1 = g_new (double, d);
  mu2 = g_new (double, d);
  s1 = g_new (double, d * d);
  s2 = g_new (double, d * d);
  if (!t2i_fid_stats_get (real, mu1, s1, error)) {
    g_prefix_error (error, "real: ");
    return FALSE;
  }
  if (!t2i_fid_stats_get (fake, mu2, s2, error)) {
    g_prefix_error (error, "generated: ");
    return FALSE;
  }
  if (!t2i_frechet_distance (real->dim, mu1, s1, mu2, s2, result, error))
    return FALSE;
  if (warning != NULL && (real->n <= real->dim || fake->n <= fake->dim))
    *warning = g_strdup_printf ("FID from %" G_GINT64_FORMAT " real and %"
        G_GINT64_FORMAT " generated samples of %d-dim features: N <= D "
        "makes the covariance rank-deficient, so the value is biased and "
        "not comparable with published FIDs (use N > D, ideally 10000+)",
        real->n, fake->n, real->dim);
  return TRUE;
}
