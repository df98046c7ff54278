/* Scaled dot-product attention.
 *
 * Forward (one fused op): per (batch, head) S = q k^T (sgemm, k read
 * transposed in place), then a fused pass per row that scales, applies the
 * causal mask (j > i is masked, top-left aligned as PyTorch's is_causal),
 * and takes a stable softmax, then out = P v (sgemm).  P is kept for the
 * backward.
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
