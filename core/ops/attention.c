/* Scaled dot-product attention.
 *
 * Forward (one fused op): per (batch, head) S = q k^T (sgemm, k read
 * transposed in place), then a fused pass per row that scales, applies the
 * causal mask (j > i is masked, top-left aligned as PyTorch's is_causal),
 * and takes a stable softmax, then out = P v (sgemm).  P is kept for the
 * backward.
 *
 * Long sequences (Lq Lk >= FLASH_MIN_SCORES per head) run blocked instead,
 * as FlashAttention (Dao et al. 2022) does, and never hold the score
 * matrix: the forward walks key blocks of BK keys for each block of BQ
 * queries, keeping per row the running maximum m, the running sum l of
 * exp(s - m) and the unnormalised output, rescaled by exp(m_old - m_new)
 * when the maximum grows; it saves the output and the row log-sum-exp
 * L = m + log l.  The backward recomputes P = exp(s - L) block by block:
 * with D_i = sum_d dO_id O_id,
 *   dV_j = sum_i P_ij dO_i,  dS_ij = P_ij (dO_i . v_j - D_i),
 *   dQ_i = scale sum_j dS_ij k_j,  dK_j = scale sum_i dS_ij q_i,
 * in two passes so threads never share an output block: one over key
 * blocks (dK, dV), one over query blocks (dQ).  Memory: O(BQ BK) a thread
 * instead of B H Lq Lk.  $T2I_ATTENTION=flash or full forces one path (for
 * tests and measurements); a graph that must be differentiated again
 * (create_graph) recomputes P with ops either way.
 *
 * Backward, written with the public ops:
 *   gv = P^T g,  gP = g v^T,  gS = P * (gP - sum_j(gP * P)),
 *   gq = scale * gS k,  gk = scale * gS^T q.
 * With grad mode on (create_graph) P is recomputed from q and k with ops
 * (matmul, mul_scalar, add of a constant -inf mask, softmax), so the
 * gradient is differentiable again.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/ops.h"
#include "../backend/backend.h"

#include <math.h>
#include <string.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#define DEFINE_SOFTMAX_ROWS(T, sfx, EXP)                                      \
/* in place over @rows rows of @Lk: s * scale, mask, softmax; row r is       \
 * query index r % Lq */                                                      \
static void                                                                   \
softmax_rows_##sfx (T * s, gint64 rows, gint64 Lq, gint64 Lk, double scale,   \
    gboolean causal)                                                          \
{                                                                             \
  _Pragma ("omp parallel for schedule(static) if (rows * Lk > 16384)")        \
  for (gint64 r = 0; r < rows; r++) {                                         \
    T *row = s + r * Lk;                                                      \
    const gint64 n = causal ? MIN (r % Lq + 1, Lk) : Lk;                      \
    T mx = -INFINITY;                                                         \
    for (gint64 j = 0; j < n; j++) {                                          \
      row[j] = (T) (row[j] * scale);                                          \
      mx = MAX (mx, row[j]);                                                  \
    }                                                                         \
    double sum = 0;                                                           \
    for (gint64 j = 0; j < n; j++) {                                          \
      row[j] = EXP (row[j] - mx);                                             \
      sum += row[j];                                                          \
    }                                                                         \
    const T inv = (T) (1.0 / sum);                                            \
    for (gint64 j = 0; j < n; j++)                                            \
      row[j] *= inv;                                                          \
    for (gint64 j = n; j < Lk; j++)                                           \
      row[j] = 0;                                                             \
  }                                                                           \
}

DEFINE_SOFTMAX_ROWS (float, f32, expf)
DEFINE_SOFTMAX_ROWS (double, f64, exp)

/* C[M,N] = A[M,K] B^T (B [N,K]) or A B (B [K,N]), row-major, f64 */
static void
gemm_f64 (gboolean trans_b, gint64 M, gint64 N, gint64 K, const double *A,
    const double *B, double *C)
{
  for (gint64 i = 0; i < M; i++)
    for (gint64 j = 0; j < N; j++) {
      double acc = 0;
      for (gint64 p = 0; p < K; p++)
        acc += A[i * K + p] * (trans_b ? B[j * K + p] : B[p * N + j]);
      C[i * N + j] = acc;
    }
}

/* ---- the blocked (flash) path ---- */

#define BQ 64
#define BK 128
/* per-head score matrices from this size on run blocked: 1 MiB of f32 */
#define FLASH_MIN_SCORES (512 * 512)

/* C[M,N] = alpha op(A) op(B) + beta C with leading dimensions, row-major */
static void
gemm_ld_f32 (gboolean ta, gboolean tb, gint64 M, gint64 N, gint64 K,
    float alpha, const float *A, gint64 lda, const float *B, gint64 ldb,
    float beta, float *C, gint64 ldc)
{
  if (M > 0 && N > 0)
    dnnl_sgemm (ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B,
        ldb, beta, C, ldc);
}

static void
gemm_ld_f64 (gboolean ta, gboolean tb, gint64 M, gint64 N, gint64 K,
    double alpha, const double *A, gint64 lda, const double *B, gint64 ldb,
    double beta, double *C, gint64 ldc)
{
  for (gint64 i = 0; i < M; i++)
    for (gint64 j = 0; j < N; j++) {
      double acc = 0;
      for (gint64 p = 0; p < K; p++)
        acc += (ta ? A[p * lda + i] : A[i * lda + p])
            * (tb ? B[j * ldb + p] : B[p * ldb + j]);
      C[i * ldc + j] = alpha * acc + (beta != 0 ? beta * C[i * ldc + j] : 0);
    }
}

/* the keys query @i sees among [j0, j0 + nk): how many from j0 */
static inline gint64
visible (gboolean causal, gint64 i, gint64 j0, gint64 nk)
{
  return causal ? CLAMP (i + 1 - j0, 0, nk) : nk;
}

#define DEFINE_FLASH(T, sfx, EXP, LOG)                                        \
/* out and lse [BH * Lq] from q, k, v (contiguous [BH, L, Dh]) */             \
static void                                                                   \
flash_fwd_##sfx (const T * q, const T * k, const T * v, T * out, T * lse,     \
    gint64 BH, gint64 Lq, gint64 Lk, gint64 Dh, T scale, gboolean causal)     \
{                                                                             \
  const gint64 nqb = (Lq + BQ - 1) / BQ, per = BQ * BK + 2 * BQ;              \
  /* every thread's scratch, allocated outside the parallel region (an        \
   * allocation may unwind) */                                                \
  gpointer blk;                                                               \
  T *scratch = t2i_alloc (sizeof (T) * per * omp_get_max_threads (), &blk);   \
  _Pragma ("omp parallel")                                                    \
  {                                                                           \
    T *S = scratch + per * omp_get_thread_num ();                             \
    T *m = S + BQ * BK, *l = m + BQ;                                          \
    _Pragma ("omp for schedule(dynamic, 1)")                                  \
    for (gint64 t = 0; t < BH * nqb; t++) {                                   \
      const gint64 bh = t / nqb, i0 = (t % nqb) * BQ;                         \
      const gint64 nq = MIN (BQ, Lq - i0);                                    \
      const T *qb = q + (bh * Lq + i0) * Dh;                                  \
      T *ob = out + (bh * Lq + i0) * Dh;                                      \
      memset (ob, 0, sizeof (T) * nq * Dh);                                   \
      for (gint64 r = 0; r < nq; r++) {                                       \
        m[r] = -INFINITY;                                                     \
        l[r] = 0;                                                             \
      }                                                                       \
      const gint64 kend = causal ? MIN (Lk, i0 + nq) : Lk;                    \
      for (gint64 j0 = 0; j0 < kend; j0 += BK) {                              \
        const gint64 nk = MIN (BK, Lk - j0);                                  \
        const T *kb = k + (bh * Lk + j0) * Dh, *vb = v + (bh * Lk + j0) * Dh; \
        gemm_ld_##sfx (FALSE, TRUE, nq, nk, Dh, scale, qb, Dh, kb, Dh, 0, S,  \
            nk);                                                              \
        for (gint64 r = 0; r < nq; r++) {                                     \
          T *row = S + r * nk;                                                \
          const gint64 n = visible (causal, i0 + r, j0, nk);                  \
          T mx = m[r];                                                        \
          for (gint64 j = 0; j < n; j++)                                      \
            mx = MAX (mx, row[j]);                                            \
          const T alpha = n > 0 ? EXP (m[r] - mx) : 1;                        \
          T sum = 0;                                                          \
          for (gint64 j = 0; j < n; j++) {                                    \
            row[j] = EXP (row[j] - mx);                                       \
            sum += row[j];                                                    \
          }                                                                   \
          for (gint64 j = n; j < nk; j++)                                     \
            row[j] = 0;                                                       \
          if (n > 0) {                                                        \
            l[r] = l[r] * alpha + sum;                                        \
            m[r] = mx;                                                        \
            for (gint64 d = 0; d < Dh; d++)                                   \
              ob[r * Dh + d] *= alpha;                                        \
          }                                                                   \
        }                                                                     \
        gemm_ld_##sfx (FALSE, FALSE, nq, Dh, nk, 1, S, nk, vb, Dh, 1, ob,     \
            Dh);                                                              \
      }                                                                       \
      for (gint64 r = 0; r < nq; r++) {                                       \
        const T inv = 1 / l[r];                                               \
        for (gint64 d = 0; d < Dh; d++)                                       \
          ob[r * Dh + d] *= inv;                                              \
        lse[bh * Lq + i0 + r] = m[r] + LOG (l[r]);                            \
      }                                                                       \
    }                                                                         \
  }                                                                           \
  t2i_free (blk);                                                             \
}                                                                             \
                                                                              \
/* P (into S) and dS (into dP) of one block: P = exp(s - L), masked,          \
 * dS = P (dO v^T - D); FALSE when no query of the block sees a key */        \
static gboolean                                                               \
flash_block_##sfx (const T * qb, const T * kb, const T * vb, const T * gb,    \
    const T * L, const T * D, gint64 i0, gint64 nq, gint64 j0, gint64 nk,     \
    gint64 Dh, T scale, gboolean causal, T * S, T * dP)                       \
{                                                                             \
  if (causal && j0 > i0 + nq - 1)                                             \
    return FALSE;                                                             \
  gemm_ld_##sfx (FALSE, TRUE, nq, nk, Dh, scale, qb, Dh, kb, Dh, 0, S, nk);   \
  gemm_ld_##sfx (FALSE, TRUE, nq, nk, Dh, 1, gb, Dh, vb, Dh, 0, dP, nk);      \
  for (gint64 r = 0; r < nq; r++) {                                           \
    const gint64 n = visible (causal, i0 + r, j0, nk);                        \
    T *p = S + r * nk, *dp = dP + r * nk;                                     \
    for (gint64 j = 0; j < n; j++) {                                          \
      p[j] = EXP (p[j] - L[r]);                                               \
      dp[j] = p[j] * (dp[j] - D[r]);                                          \
    }                                                                         \
    for (gint64 j = n; j < nk; j++)                                           \
      p[j] = dp[j] = 0;                                                       \
  }                                                                           \
  return TRUE;                                                                \
}                                                                             \
                                                                              \
/* gq, gk, gv (each nullable) from g, out and lse */                          \
static void                                                                   \
flash_bwd_##sfx (const T * q, const T * k, const T * v, const T * out,        \
    const T * lse, const T * g, T * gq, T * gk, T * gv, gint64 BH, gint64 Lq, \
    gint64 Lk, gint64 Dh, T scale, gboolean causal)                           \
{                                                                             \
  const gint64 nqb = (Lq + BQ - 1) / BQ, nkb = (Lk + BK - 1) / BK;            \
  const gint64 per = 2 * BQ * BK;                                             \
  gpointer dblk, blk;                                                         \
  T *D = t2i_alloc (sizeof (T) * BH * Lq, &dblk);                             \
  T *scratch = t2i_alloc (sizeof (T) * per * omp_get_max_threads (), &blk);   \
  _Pragma ("omp parallel for if (BH * Lq * Dh > 32768)")                      \
  for (gint64 r = 0; r < BH * Lq; r++) {                                      \
    T acc = 0;                                                                \
    for (gint64 d = 0; d < Dh; d++)                                           \
      acc += g[r * Dh + d] * out[r * Dh + d];                                 \
    D[r] = acc;                                                               \
  }                                                                           \
  _Pragma ("omp parallel")                                                    \
  {                                                                           \
    T *S = scratch + per * omp_get_thread_num (), *dP = S + BQ * BK;          \
    /* dK, dV: a key block's sums over every query block */                   \
    if (gk || gv) {                                                           \
      _Pragma ("omp for schedule(dynamic, 1)")                                \
      for (gint64 t = 0; t < BH * nkb; t++) {                                 \
        const gint64 bh = t / nkb, j0 = (t % nkb) * BK;                       \
        const gint64 nk = MIN (BK, Lk - j0);                                  \
        const T *kb = k + (bh * Lk + j0) * Dh, *vb = v + (bh * Lk + j0) * Dh; \
        T *gkb = gk ? gk + (bh * Lk + j0) * Dh : NULL;                        \
        T *gvb = gv ? gv + (bh * Lk + j0) * Dh : NULL;                        \
        if (gkb)                                                              \
          memset (gkb, 0, sizeof (T) * nk * Dh);                              \
        if (gvb)                                                              \
          memset (gvb, 0, sizeof (T) * nk * Dh);                              \
        for (gint64 i0 = 0; i0 < Lq; i0 += BQ) {                              \
          const gint64 nq = MIN (BQ, Lq - i0), row = bh * Lq + i0;            \
          if (!flash_block_##sfx (q + row * Dh, kb, vb, g + row * Dh,         \
                  lse + row, D + row, i0, nq, j0, nk, Dh, scale, causal, S,   \
                  dP))                                                        \
            continue;                                                         \
          if (gvb)                                                            \
            gemm_ld_##sfx (TRUE, FALSE, nk, Dh, nq, 1, S, nk, g + row * Dh,   \
                Dh, 1, gvb, Dh);                                              \
          if (gkb)                                                            \
            gemm_ld_##sfx (TRUE, FALSE, nk, Dh, nq, scale, dP, nk,            \
                q + row * Dh, Dh, 1, gkb, Dh);                                \
        }                                                                     \
      }                                                                       \
    }                                                                         \
    /* dQ: a query block's sums over every key block */                       \
    if (gq) {                                                                 \
      _Pragma ("omp for schedule(dynamic, 1)")                                \
      for (gint64 t = 0; t < BH * nqb; t++) {                                 \
        const gint64 bh = t / nqb, i0 = (t % nqb) * BQ;                       \
        const gint64 nq = MIN (BQ, Lq - i0), row = bh * Lq + i0;              \
        T *gqb = gq + row * Dh;                                               \
        memset (gqb, 0, sizeof (T) * nq * Dh);                                \
        for (gint64 j0 = 0; j0 < Lk; j0 += BK) {                              \
          const gint64 nk = MIN (BK, Lk - j0);                                \
          const T *kb = k + (bh * Lk + j0) * Dh;                              \
          if (!flash_block_##sfx (q + row * Dh, kb, v + (bh * Lk + j0) * Dh,  \
                  g + row * Dh, lse + row, D + row, i0, nq, j0, nk, Dh,       \
                  scale, causal, S, dP))                                      \
            break;                                                            \
          gemm_ld_##sfx (FALSE, FALSE, nq, Dh, nk, scale, dP, nk, kb, Dh, 1,  \
              gqb, Dh);                                                       \
        }                                                                     \
      }                                                                       \
    }                                                                         \
  }                                                                           \
  t2i_free (blk);                                                             \
  t2i_free (dblk);                                                            \
}

DEFINE_FLASH (float, f32, expf, logf)
DEFINE_FLASH (double, f64, exp, log)

/* whether attention of these sizes runs blocked */
static gboolean
use_flash (gint64 Lq, gint64 Lk)
{
  const char *env = g_getenv ("T2I_ATTENTION");
  if (env && strcmp (env, "flash") == 0)
    return TRUE;
  if (env && strcmp (env, "full") == 0)
    return FALSE;
  return Lq * Lk >= FLASH_MIN_SCORES;
}

/* the additive causal mask [Lq, Lk]: 0 where j <= i, -inf elsewhere */
T2iTensor *
t2i_cpu_causal_mask (T2iDType dtype, gint64 Lq, gint64 Lk)
{
  const gint64 shape[2] = { Lq, Lk };
  T2iTensor *m = t2i_tensor_new (dtype, 2, shape);
  for (gint64 i = 0; i < Lq; i++)
    for (gint64 j = 0; j < Lk; j++)
      t2i_tensor_set (m, i * Lk + j, j > i ? -INFINITY : 0.0);
  return m;
}

/* node->i[0] causal; f[0] scale; saved[0] P [B,H,Lq,Lk] */
static void
sdpa_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *q = node->inputs[0], *k = node->inputs[1], *v = node->inputs[2];
  const gboolean causal = node->i[0];
  const double scale = node->f[0];
  g_autoptr (T2iTensor) P = NULL;

  if (t2i_grad_enabled ()) {
    g_autoptr (T2iTensor) kt = t2i_transpose (k, -2, -1);
    g_autoptr (T2iTensor) s = t2i_matmul (q, kt);
    g_autoptr (T2iTensor) ss = t2i_mul_scalar (s, scale);
    g_autoptr (T2iTensor) sm = NULL;
    if (causal) {
      g_autoptr (T2iTensor) mask = T2I_BACKEND (q)->causal_mask (q->dtype,
          q->shape[2], k->shape[2]);
      sm = t2i_add (ss, mask);
    } else {
      sm = t2i_tensor_ref (ss);
    }
    P = t2i_softmax (sm, -1);
  } else {
    P = t2i_tensor_ref (node->saved[0]);
  }

  if (node->needs_grad[2]) {
    g_autoptr (T2iTensor) pt = t2i_transpose (P, -2, -1);
    gin[2] = t2i_matmul (pt, g);
  }
  if (!node->needs_grad[0] && !node->needs_grad[1])
    return;
  g_autoptr (T2iTensor) vt = t2i_transpose (v, -2, -1);
  g_autoptr (T2iTensor) gp = t2i_matmul (g, vt);
  g_autoptr (T2iTensor) gpp = t2i_mul (gp, P);
  g_autoptr (T2iTensor) rs = t2i_sum (gpp, -1, TRUE);
  g_autoptr (T2iTensor) d = t2i_sub (gp, rs);
  g_autoptr (T2iTensor) gs0 = t2i_mul (P, d);
  g_autoptr (T2iTensor) gs = t2i_mul_scalar (gs0, scale);
  if (node->needs_grad[0])
    gin[0] = t2i_matmul (gs, k);
  if (node->needs_grad[1]) {
    g_autoptr (T2iTensor) gst = t2i_transpose (gs, -2, -1);
    gin[1] = t2i_matmul (gst, q);
  }
}

/* node->i[0] causal; f[0] scale; saved[0] out, saved[1] lse [B,H,Lq] */
static void
flash_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *q = node->inputs[0], *k = node->inputs[1], *v = node->inputs[2];
  const gboolean causal = node->i[0];
  const double scale = node->f[0];

  if (t2i_grad_enabled ()) {
    /* differentiable again: the ops' way, which holds P */
    sdpa_backward (node, g, gin);
    return;
  }
  const gint64 BH = q->shape[0] * q->shape[1], Lq = q->shape[2];
  const gint64 Lk = k->shape[2], Dh = q->shape[3];
  for (gint i = 0; i < 3; i++)
    if (node->needs_grad[i])
      gin[i] = t2i_tensor_new_like (node->inputs[i]);
  if (q->dtype == T2I_F32)
    flash_bwd_f32 (q->data, k->data, v->data, node->saved[0]->data,
        node->saved[1]->data, g->data, gin[0] ? gin[0]->data : NULL,
        gin[1] ? gin[1]->data : NULL, gin[2] ? gin[2]->data : NULL, BH, Lq,
        Lk, Dh, (float) scale, causal);
  else
    flash_bwd_f64 (q->data, k->data, v->data, node->saved[0]->data,
        node->saved[1]->data, g->data, gin[0] ? gin[0]->data : NULL,
        gin[1] ? gin[1]->data : NULL, gin[2] ? gin[2]->data : NULL, BH, Lq,
        Lk, Dh, scale, causal);
}

/* The CPU table's attention entry: P = softmax(q k^T * scale + mask),
 * out = P v */
gboolean
t2i_cpu_sdpa (const T2iTensor * q, const T2iTensor * k, const T2iTensor * v,
    gboolean causal, double scale, T2iTensor * P, T2iTensor * out)
{
  const gint64 B = q->shape[0], H = q->shape[1], Lq = q->shape[2];
  const gint64 Lk = k->shape[2], Dh = q->shape[3], BH = B * H;

  if (q->dtype == T2I_F32) {
    const float *qd = q->data, *kd = k->data, *vd = v->data;
    float *pd = P->data, *od = out->data;
    /* many heads: one single-threaded sgemm per head on each thread; few
     * heads: sgemm threads itself */
    const gboolean per_head = BH >= omp_get_max_threads ();
#pragma omp parallel for schedule(static) if (per_head)
    for (gint64 bh = 0; bh < BH; bh++)
      dnnl_sgemm ('N', 'T', Lq, Lk, Dh, 1.0f, qd + bh * Lq * Dh, Dh,
          kd + bh * Lk * Dh, Dh, 0.0f, pd + bh * Lq * Lk, Lk);
    softmax_rows_f32 (pd, BH * Lq, Lq, Lk, scale, causal);
#pragma omp parallel for schedule(static) if (per_head)
    for (gint64 bh = 0; bh < BH; bh++)
      dnnl_sgemm ('N', 'N', Lq, Dh, Lk, 1.0f, pd + bh * Lq * Lk, Lk,
          vd + bh * Lk * Dh, Dh, 0.0f, od + bh * Lq * Dh, Dh);
  } else {
    const double *qd = q->data, *kd = k->data, *vd = v->data;
    double *pd = P->data, *od = out->data;
#pragma omp parallel for schedule(static) if (BH * Lq * Lk * Dh > 65536)
    for (gint64 bh = 0; bh < BH; bh++)
      gemm_f64 (TRUE, Lq, Lk, Dh, qd + bh * Lq * Dh, kd + bh * Lk * Dh,
          pd + bh * Lq * Lk);
    softmax_rows_f64 (pd, BH * Lq, Lq, Lk, scale, causal);
#pragma omp parallel for schedule(static) if (BH * Lq * Lk * Dh > 65536)
    for (gint64 bh = 0; bh < BH; bh++)
      gemm_f64 (FALSE, Lq, Dh, Lk, pd + bh * Lq * Lk, vd + bh * Lk * Dh,
          od + bh * Lq * Dh);
  }

  return TRUE;
}

/* the blocked forward; saves the output and the row log-sum-exp */
static T2iTensor *
flash_attention (T2iTensor * q, T2iTensor * k, T2iTensor * v,
    gboolean causal, double scale)
{
  const gint64 B = q->shape[0], H = q->shape[1], Lq = q->shape[2];
  const gint64 Lk = k->shape[2], Dh = q->shape[3];
  T2iTensor *out = t2i_tensor_new_like (q);
  g_autoptr (T2iTensor) lse = t2i_tensor_new (q->dtype, 3,
      (gint64[]) { B, H, Lq });

  if (q->dtype == T2I_F32)
    flash_fwd_f32 (q->data, k->data, v->data, out->data, lse->data, B * H, Lq,
        Lk, Dh, (float) scale, causal);
  else
    flash_fwd_f64 (q->data, k->data, v->data, out->data, lse->data, B * H, Lq,
        Lk, Dh, scale, causal);
  T2iTensor *in[3] = { q, k, v };
  if (!t2i_any_requires_grad (3, in))
    return out;
  T2iNode *node = t2i_node_new ("scaled_dot_product_attention",
      flash_backward, 3, in);
  node->i[0] = causal;
  node->f[0] = scale;
  /* the output's data, not the output (which holds the node) */
  g_autoptr (T2iTensor) saved = t2i_detach (out);
  t2i_node_save (node, 0, saved);
  t2i_node_save (node, 1, lse);
  return t2i_node_attach (node, out);
}

/**
 * t2i_scaled_dot_product_attention:
 * @q: [B, H, Lq, Dh]
 * @k: [B, H, Lk, Dh]
 * @v: [B, H, Lk, Dh]
 * @causal: mask key j for query i when j > i
 * @scale: the logit scale; <= 0 means 1 / sqrt(Dh)
 *
 * softmax(q k^T * scale + mask) v, as PyTorch's
 * scaled_dot_product_attention(is_causal=...).  Differentiable twice.
 * From 512 x 512 scores per head on, the CPU computes it blocked, without
 * holding the score matrix (FlashAttention; see the top of attention.c).
 */
T2iTensor *
t2i_scaled_dot_product_attention (T2iTensor * q, T2iTensor * k,
    T2iTensor * v, gboolean causal, double scale)
{
  g_return_val_if_fail (q != NULL && k != NULL && v != NULL, NULL);
  if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4
      || (q->dtype != T2I_F32 && q->dtype != T2I_F64)
      || k->dtype != q->dtype || v->dtype != q->dtype
      || k->device != q->device || v->device != q->device
      || !t2i_tensor_same_shape (k, v) || k->shape[0] != q->shape[0]
      || k->shape[1] != q->shape[1] || k->shape[3] != q->shape[3]) {
    g_critical ("t2i_scaled_dot_product_attention: need q [B,H,Lq,Dh] and "
        "k, v [B,H,Lk,Dh] of one float dtype");
    return NULL;
  }
  const gint64 B = q->shape[0], H = q->shape[1], Lq = q->shape[2];
  const gint64 Lk = k->shape[2], Dh = q->shape[3];
  if (scale <= 0)
    scale = 1.0 / sqrt ((double) Dh);

  if (q->device == T2I_DEVICE_CPU && use_flash (Lq, Lk))
    return flash_attention (q, k, v, causal, scale);

  const gint64 pshape[4] = { B, H, Lq, Lk };
  g_autoptr (T2iTensor) P = t2i_tensor_new_on (q->device, q->dtype, 4, pshape);
  T2iTensor *out = t2i_tensor_new_like (q);
  if (!P || !out
      || !T2I_BACKEND (q)->sdpa (q, k, v, causal, scale, P, out)) {
    g_clear_pointer (&out, t2i_tensor_unref);
    return NULL;
  }

  T2iTensor *in[3] = { q, k, v };
  if (!t2i_any_requires_grad (3, in))
    return out;
  T2iNode *node = t2i_node_new ("scaled_dot_product_attention", sdpa_backward,
      3, in);
  node->i[0] = causal;
  node->f[0] = scale;
  t2i_node_save (node, 0, P);
  return t2i_node_attach (node, out);
}
