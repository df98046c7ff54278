/* The CUDA table: shape ops (core/ops/shape.c), linear algebra and
 * attention (linear.c, attention.c) on cuBLAS-style GEMMs.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "cuda-private.h"
#include "../ops/ops-internal.h"

/* ---- shape ---- */

gboolean
t2i_cuda_copy_axis_range (T2iTensor * dst, gint64 dstart,
    const T2iTensor * src, gint64 sstart, gint axis, gint64 len)
{
  gint64 outer, sn, inner;
  t2i_ops_axis_split (src, axis, &outer, &sn, &inner);
  return T2I_CUDA_ES (t2i_dtype_size (src->dtype), range,
      outer * len * inner, k.len_inner = len * inner;
      k.dn = dst->shape[axis]; k.sn = sn; k.dstart = dstart;
      k.sstart = sstart; k.inner = inner; k.src = src->data;
      k.dst = dst->data);
}

/* the indices come to the host to be checked (one small copy) */
gboolean
t2i_cuda_index_check (const T2iTensor * index, gint64 n, gint64 * bad_pos,
    gint32 * bad_value)
{
  gint32 *ix = g_new (gint32, MAX (index->numel, 1));
  gboolean ok = t2i_cuda_download (index, ix);
  for (gint64 k = 0; ok && k < index->numel; k++)
    if (ix[k] < 0 || ix[k] >= n) {
      *bad_pos = k;
      *bad_value = ix[k];
      ok = FALSE;
    }
  g_free (ix);
  return ok;
}

gboolean
t2i_cuda_index_select (const T2iTensor * a, gint axis,
    const T2iTensor * index, T2iTensor * out)
{
  gint64 outer, n, inner;
  t2i_ops_axis_split (a, axis, &outer, &n, &inner);
  return T2I_CUDA_ES (t2i_dtype_size (a->dtype), select, out->numel,
      k.K = index->shape[0]; k.n = n; k.inner = inner; k.ix = index->data;
      k.src = a->data; k.dst = out->data);
}

gboolean
t2i_cuda_index_add (const T2iTensor * g, gint axis, const T2iTensor * index,
    T2iTensor * out)
{
  gint64 outer, K, inner;
  t2i_ops_axis_split (g, axis, &outer, &K, &inner);
  return T2I_CUDA_FT (g->dtype, index_add, outer * inner, k.K = K;
      k.full = out->shape[axis]; k.inner = inner; k.ix = index->data;
      k.g = g->data; k.out = out->data);
}

gboolean
t2i_cuda_gather_rows (const T2iTensor * a, const T2iTensor * idx,
    T2iTensor * out)
{
  const gint64 N = a->shape[0], M = a->shape[1];
  return T2I_CUDA_ES (t2i_dtype_size (a->dtype), rows, out->numel,
      k.scatter = 0; k.M = M; k.rest = a->numel / MAX (N * M, 1);
      k.ix = idx->data; k.src = a->data; k.dst = out->data);
}

gboolean
t2i_cuda_scatter_rows (const T2iTensor * g, const T2iTensor * idx,
    T2iTensor * out)
{
  const gint64 N = g->shape[0];
  return T2I_CUDA_ES (t2i_dtype_size (g->dtype), rows, g->numel,
      k.scatter = 1; k.M = out->shape[1]; k.rest = N ? g->numel / N : 0;
      k.ix = idx->data; k.src = g->data; k.dst = out->data);
}

gboolean
t2i_cuda_pad2d (const T2iTensor * a, gint top, gint left, T2iTensor * out)
{
  /* f32 or f64 (t2i_pad2d pads float tensors): 4- or 8-byte moves */
  const gint nd = a->ndim;
#define PAD_ARGS k.H = a->shape[nd - 2]; k.W = a->shape[nd - 1];             \
      k.OH = out->shape[nd - 2]; k.OW = out->shape[nd - 1]; k.top = top;    \
      k.left = left; k.src = a->data; k.dst = out->data
  if (a->dtype == T2I_F32)
    return T2I_CUDA_K (pad_u32, a->numel, PAD_ARGS);
  return T2I_CUDA_K (pad_u64, a->numel, PAD_ARGS);
#undef PAD_ARGS
}

/* ---- GEMM ---- */

/* C[b] = op(A[b]) op(B[b]) + beta C[b] over @batch matrices */
static gboolean
gemm (T2iDType dtype, gboolean ta, gboolean tb, gint64 M, gint64 N, gint64 K,
    gconstpointer A, gint64 sa, gconstpointer B, gint64 sb, double beta,
    gpointer C, gint64 sc, gint64 batch)
{
  if (M == 0 || N == 0 || batch == 0)
    return TRUE;
  if (K == 0) {
    /* an empty sum: C = beta C (cuBLAS wants leading dims >= 1) */
    const gsize es = t2i_dtype_size (dtype);
    for (gint64 b = 0; b < batch && beta == 0; b++)
      if (!T2I_CUDA_ES (es, fill, M * N, k.v = 0;
              k.dst = (gpointer) ((char *) C + b * sc * es)))
        return FALSE;
    return TRUE;
  }
  return t2i_cuda_check ("gemm", t2i_cuda_rt ()->gemm (t2i_cuda_stream (),
          dtype == T2I_F64, ta, tb, M, N, K, A, ta ? M : K, sa, B,
          tb ? K : N, sb, beta, C, N, sc, batch));
}

gboolean
t2i_cuda_matmul (const T2iTensor * a, const T2iTensor * b, gboolean ta,
    gboolean tb, T2iTensor * out)
{
  const gint64 M = a->shape[a->ndim - (ta ? 1 : 2)];
  const gint64 K = a->shape[a->ndim - (ta ? 2 : 1)];
  const gint64 N = b->shape[b->ndim - (tb ? 2 : 1)];
  const gint bd = out->ndim - 2;
  const gsize es = t2i_dtype_size (a->dtype);
  gint64 nb = 1;
  for (gint i = 0; i < bd; i++)
    nb *= out->shape[i];

  if (b->ndim == 2 && !ta)
    /* fold a's batch dims into the rows: one gemm */
    return gemm (a->dtype, FALSE, tb, M * nb, N, K, a->data, 0, b->data, 0,
        0, out->data, 0, 1);

  /* each batch matrix's offset in a and b (broadcast dims: stride 0) */
  gint64 sa[T2I_MAX_DIMS], sb[T2I_MAX_DIMS], idx[T2I_MAX_DIMS] = { 0 };
  gint64 acc_a = M * K, acc_b = K * N;
  for (gint i = bd - 1; i >= 0; i--) {
    gint ia = i - (bd - (a->ndim - 2)), ib = i - (bd - (b->ndim - 2));
    gint64 da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
    sa[i] = da == 1 ? 0 : acc_a;
    sb[i] = db == 1 ? 0 : acc_b;
    acc_a *= da;
    acc_b *= db;
  }
  gint64 *a_off = g_new (gint64, nb), *b_off = g_new (gint64, nb);
  for (gint64 n = 0; n < nb; n++) {
    gint64 oa = 0, ob = 0;
    for (gint i = 0; i < bd; i++) {
      oa += idx[i] * sa[i];
      ob += idx[i] * sb[i];
    }
    a_off[n] = oa;
    b_off[n] = ob;
    for (gint i = bd - 1; i >= 0; i--) {
      if (++idx[i] < out->shape[i])
        break;
      idx[i] = 0;
    }
  }
  /* one strided-batched call when the offsets are arithmetic progressions
   * (every case but mixed broadcasting), else one call per matrix */
  gboolean uniform = TRUE;
  const gint64 da = nb > 1 ? a_off[1] - a_off[0] : 0;
  const gint64 db = nb > 1 ? b_off[1] - b_off[0] : 0;
  for (gint64 n = 1; n < nb && uniform; n++)
    uniform = a_off[n] == n * da && b_off[n] == n * db;
  gboolean ok = TRUE;
  if (uniform) {
    ok = gemm (a->dtype, ta, tb, M, N, K, a->data, da, b->data, db, 0,
        out->data, M * N, nb);
  } else {
    for (gint64 n = 0; n < nb && ok; n++)
      ok = gemm (a->dtype, ta, tb, M, N, K, (const char *) a->data
          + a_off[n] * es, 0, (const char *) b->data + b_off[n] * es, 0, 0,
          (char *) out->data + n * M * N * es, 0, 1);
  }
  g_free (a_off);
  g_free (b_off);
  return ok;
}

gboolean
t2i_cuda_mm (const T2iTensor * a, const T2iTensor * b, gboolean ta,
    gboolean tb, gint64 M, gint64 N, gint64 K, T2iTensor * out)
{
  return gemm (a->dtype, ta, tb, M, N, K, a->data, 0, b->data, 0, 0,
      out->data, 0, 1);
}

gboolean
t2i_cuda_linear (const T2iTensor * x, const T2iTensor * w, const T2iTensor * b,
    T2iTensor * y)
{
  const gint64 out_f = w->shape[0], in = w->shape[1];
  const gint64 rows = in ? x->numel / in : 0;
  if (b && !T2I_CUDA_FT (x->dtype, bias_rows, rows * out_f, k.n = out_f;
          k.b = b->data; k.y = y->data))
    return FALSE;
  if (in == 0 && !b)
    return T2I_BACKEND (y)->fill (y, 0);
  return gemm (x->dtype, FALSE, TRUE, rows, out_f, in, x->data, 0, w->data,
      0, b ? 1.0 : 0.0, y->data, 0, 1);
}

/* ---- attention ---- */

gboolean
t2i_cuda_sdpa (const T2iTensor * q, const T2iTensor * key,
    const T2iTensor * v, gboolean causal, double scale, T2iTensor * P,
    T2iTensor * out)
{
  const gint64 BH = q->shape[0] * q->shape[1], Lq = q->shape[2];
  const gint64 Lk = key->shape[2], Dh = q->shape[3];
  return gemm (q->dtype, FALSE, TRUE, Lq, Lk, Dh, q->data, Lq * Dh, key->data,
      Lk * Dh, 0, P->data, Lq * Lk, BH)
      && T2I_CUDA_FT (q->dtype, attn_softmax, BH * Lq, k.causal = causal;
      k.Lq = Lq; k.Lk = Lk; k.scale = scale; k.s = P->data)
      && gemm (q->dtype, FALSE, FALSE, Lq, Dh, Lk, P->data, Lq * Lk, v->data,
      Lk * Dh, 0, out->data, Lq * Dh, BH);
}

T2iTensor *
t2i_cuda_causal_mask (T2iDType dtype, gint64 Lq, gint64 Lk)
{
  const gint64 shape[2] = { Lq, Lk };
  T2iTensor *m = t2i_tensor_new_on (T2I_DEVICE_CUDA, dtype, 2, shape);
  if (m && !T2I_CUDA_FT (dtype, causal_mask, Lq * Lk, k.Lk = Lk;
          k.m = m->data))
    g_clear_pointer (&m, t2i_tensor_unref);
  return m;
}
