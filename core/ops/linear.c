/* Linear algebra ops: batched matmul with broadcast batch dims, and linear.
 *
 * f32 runs on oneDNN's sgemm (row-major, ~410 GFLOP/s on two Zen 5 cores),
 * or with precision bf16 on a cached oneDNN matmul primitive whose
 * reorders round the f32 operands to bf16 (f32 result); f64 is a plain
 * loop, the reference for gradient checks.
 *
 * Two internal differentiable ops carry the transposes as flags, so no
 * gradient ever materialises a transposed copy:
 *   matmul_ex (a, b, ta, tb)        op(a) @ op(b), batch dims broadcast
 *   mm_flat (a, b, ta, tb, shape)   like matmul_ex on the 2-D views of a and
 *                                   b (all leading dims folded into rows),
 *                                   result reshaped to @shape
 * With C = A'B' (A' = op(A), B' = op(B)) and upstream G:
 *   dA = G B'^T  -> ta ? mm(b, G, tb, 1) : mm(G, b, 0, !tb)
 *   dB = A'^T G  -> tb ? mm(G, a, 1, ta) : mm(a, G, !ta, 0)
 * so backward functions are again these ops and double backward works.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/ops.h"
#include "../backend/backend.h"
#include "dnnl-util.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <string.h>

/* below this many multiply-adds per matrix a batch runs one matrix per
 * thread instead of one threaded sgemm per matrix */
#define SMALL_GEMM_MACS (1 << 21)

/* ---- kernels ---- */

static void
gemm_f64 (gboolean ta, gboolean tb, gint64 M, gint64 N, gint64 K,
    const double *A, const double *B, double *C)
{
  const gint64 lda = ta ? M : K, ldb = tb ? K : N;

#pragma omp parallel for if (M * N * K > (1 << 18) && !omp_in_parallel ())
  for (gint64 i = 0; i < M; i++) {
    double *c = C + i * N;
    for (gint64 j = 0; j < N; j++)
      c[j] = 0.0;
    for (gint64 k = 0; k < K; k++) {
      const double aik = ta ? A[k * lda + i] : A[i * lda + k];
      if (tb) {
        for (gint64 j = 0; j < N; j++)
          c[j] += aik * B[j * ldb + k];
      } else {
        const double *b = B + k * ldb;
        for (gint64 j = 0; j < N; j++)
          c[j] += aik * b[j];
      }
    }
  }
}

typedef struct
{
  gboolean ta, tb, acc;
  gint64 M, N, K;
} MmArgs;

/* the matmul primitive of op(A) op(B) (+ C with @acc): the caller's f32
 * operands (transposes as strides) reordered to bf16 in the layouts the
 * primitive picks, the result written in place as f32 */
static T2iDnnlPrim *
build_mm_bf16 (gconstpointer user)
{
  const MmArgs *a = user;
  const gint64 ad[2] = { a->M, a->K }, bd[2] = { a->K, a->N };
  const gint64 cd[2] = { a->M, a->N };
  const gint64 as[2] = { a->ta ? 1 : a->K, a->ta ? a->M : 1 };
  const gint64 bs[2] = { a->tb ? 1 : a->N, a->tb ? a->K : 1 };
  T2iDnnlArgSpec args[3] = {
    {DNNL_ARG_SRC, FALSE}, {DNNL_ARG_WEIGHTS, FALSE}, {DNNL_ARG_DST, TRUE},
  };
  dnnl_memory_desc_t am, bm;
  dnnl_matmul_desc_t desc;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_primitive_attr_t attr;
  dnnl_status_t st;

  if (!t2i_dnnl_md_strided (&args[0].user_md, 2, ad, as)
      || !t2i_dnnl_md_strided (&args[1].user_md, 2, bd, bs))
    return NULL;
  t2i_dnnl_md_plain (&args[2].user_md, 2, cd);
  t2i_dnnl_md_any (&am, 2, ad);
  t2i_dnnl_md_any_bf16 (&am, TRUE);
  t2i_dnnl_md_any (&bm, 2, bd);
  t2i_dnnl_md_any_bf16 (&bm, TRUE);
  if (dnnl_matmul_desc_init (&desc, &am, &bm, NULL, &args[2].user_md)
      != dnnl_success)
    return NULL;
  attr = t2i_dnnl_attr_new ();
  if (a->acc) {
    dnnl_post_ops_t po = NULL;
    dnnl_post_ops_create (&po);
    dnnl_post_ops_append_sum (po, 1.0f);
    dnnl_primitive_attr_set_post_ops (attr, po);
    dnnl_post_ops_destroy (po);
  }
  st = dnnl_primitive_desc_create (&pd, &desc, attr, t2i_dnnl_engine (),
      NULL);
  dnnl_primitive_attr_destroy (attr);
  return st == dnnl_success ? t2i_dnnl_prim_new (pd, 3, args) : NULL;
}

/* C[M,N] = op(A) op(B) (+ C when @acc) in bf16; FALSE when oneDNN has no
 * bf16 matmul for it */
static gboolean
gemm_bf16 (gboolean ta, gboolean tb, gint64 M, gint64 N, gint64 K,
    const float *A, const float *B, gboolean acc, float *C)
{
  const MmArgs a = { ta, tb, acc, M, N, K };
  T2iDnnlKey key = { 0 };
  const gint64 v[] = { 0x6d6d6266 /* "mmbf" */ , ta, tb, acc, M, N, K };
  gpointer h[3] = { (gpointer) A, (gpointer) B, C };

  for (guint i = 0; i < G_N_ELEMENTS (v); i++)
    t2i_dnnl_key_push (&key, v[i]);
  T2iDnnlPrim *p = t2i_dnnl_cache_get (&key, build_mm_bf16, &a);
  if (!p)
    return FALSE;
  gboolean ok = t2i_dnnl_prim_execute (p, h);
  t2i_dnnl_prim_unref (p);
  return ok;
}

/* C[M,N] = op(A) op(B) + beta C, row-major; in bf16 with @bf16 (the
 * caller's precision: OpenMP's threads have their own) */
static void
gemm_f32 (gboolean bf16, gboolean ta, gboolean tb, gint64 M, gint64 N,
    gint64 K, const float *A, const float *B, float beta, float *C)
{
  dnnl_status_t st;

  if (M == 0 || N == 0)
    return;
  if (K == 0) {
    for (gint64 i = 0; i < M * N; i++)
      C[i] *= beta;
    return;
  }
  if (bf16 && (beta == 0.0f || beta == 1.0f)
      && gemm_bf16 (ta, tb, M, N, K, A, B, beta == 1.0f, C))
    return;
  st = dnnl_sgemm (ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, 1.0f, A,
      ta ? M : K, B, tb ? K : N, beta, C, N);
  if (st != dnnl_success)
    g_critical ("t2i: dnnl_sgemm failed (%d)", (int) st);
}

/* C = op(A) op(B), @nb matrices at the given element offsets */
static void
gemm_batched (T2iDType dtype, gboolean ta, gboolean tb, gint64 M, gint64 N,
    gint64 K, gconstpointer A, const gint64 * a_off, gconstpointer B,
    const gint64 * b_off, gpointer C, gint64 nb)
{
  const gint64 c_stride = M * N;

  if (dtype == T2I_F32) {
    const float *a = A, *b = B;
    float *c = C;
    /* a bf16 primitive threads itself and runs one call at a time */
    const gboolean bf16 = t2i_get_precision () == T2I_PRECISION_BF16;
    if (!bf16 && nb > 1 && M * N * K < SMALL_GEMM_MACS
        && nb * M * N * K >= SMALL_GEMM_MACS / 16) {
#pragma omp parallel for schedule(dynamic, 1)
      for (gint64 i = 0; i < nb; i++)
        gemm_f32 (bf16, ta, tb, M, N, K, a + a_off[i], b + b_off[i], 0.0f,
            c + i * c_stride);
    } else {
      for (gint64 i = 0; i < nb; i++)
        gemm_f32 (bf16, ta, tb, M, N, K, a + a_off[i], b + b_off[i], 0.0f,
            c + i * c_stride);
    }
  } else {
    const double *a = A, *b = B;
    double *c = C;
#pragma omp parallel for if (nb > 1 && M * N * K * nb > (1 << 18))
    for (gint64 i = 0; i < nb; i++)
      gemm_f64 (ta, tb, M, N, K, a + a_off[i], b + b_off[i], c + i * c_stride);
  }
}

/* The CPU table's matmul entry: op(a) @ op(b) into @out, whose shape is
 * the broadcast batch dims and [M, N] */
gboolean
t2i_cpu_matmul (const T2iTensor * a, const T2iTensor * b, gboolean ta,
    gboolean tb, T2iTensor * out)
{
  const gint64 M = a->shape[a->ndim - (ta ? 1 : 2)];
  const gint64 K = a->shape[a->ndim - (ta ? 2 : 1)];
  const gint64 N = b->shape[b->ndim - (tb ? 2 : 1)];
  const gint bd = out->ndim - 2;
  const gint64 *out_shape = out->shape;
  gint64 nb = 1;
  for (gint i = 0; i < bd; i++)
    nb *= out_shape[i];

  if (b->ndim == 2 && !ta) {
    /* fold a's batch dims into the rows: one gemm */
    gint64 zero = 0;
    gemm_batched (a->dtype, FALSE, tb, M * nb, N, K, a->data, &zero, b->data,
        &zero, out->data, 1);
  } else {
    gint64 *a_off = g_new (gint64, nb), *b_off = g_new (gint64, nb);
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
    for (gint64 n = 0; n < nb; n++) {
      gint64 oa = 0, ob = 0;
      for (gint i = 0; i < bd; i++) {
        oa += idx[i] * sa[i];
        ob += idx[i] * sb[i];
      }
      a_off[n] = oa;
      b_off[n] = ob;
      for (gint i = bd - 1; i >= 0; i--) {
        if (++idx[i] < out_shape[i])
          break;
        idx[i] = 0;
      }
    }
    gemm_batched (a->dtype, ta, tb, M, N, K, a->data, a_off, b->data, b_off,
        out->data, nb);
    g_free (a_off);
    g_free (b_off);
  }
  return TRUE;
}

gboolean
t2i_cpu_mm (const T2iTensor * a, const T2iTensor * b, gboolean ta,
    gboolean tb, gint64 M, gint64 N, gint64 K, T2iTensor * out)
{
  gint64 zero = 0;
  gemm_batched (a->dtype, ta, tb, M, N, K, a->data, &zero, b->data, &zero,
      out->data, 1);
  return TRUE;
}

gboolean
t2i_cpu_linear (const T2iTensor * x, const T2iTensor * w, const T2iTensor * b,
    T2iTensor * y)
{
  const gint64 out_f = w->shape[0], in = w->shape[1];
  const gint64 rows = in ? x->numel / in : 0;
  if (x->dtype == T2I_F32) {
    float *yd = y->data;
    if (b) {
      const float *bd = b->data;
#pragma omp parallel for if (rows * out_f > 65536)
      for (gint64 r = 0; r < rows; r++)
        memcpy (yd + r * out_f, bd, sizeof (float) * out_f);
    }
    gemm_f32 (t2i_get_precision () == T2I_PRECISION_BF16, FALSE, TRUE, rows,
        out_f, in, x->data, w->data, b ? 1.0f : 0.0f, yd);
  } else {
    double *yd = y->data;
    gemm_f64 (FALSE, TRUE, rows, out_f, in, x->data, w->data, yd);
    if (b) {
      const double *bd = b->data;
      for (gint64 r = 0; r < rows; r++)
        for (gint64 o = 0; o < out_f; o++)
          yd[r * out_f + o] += bd[o];
    }
  }
  return TRUE;
}

static gboolean
check_float_pair (const char *op, T2iTensor * a, T2iTensor * b)
{
  if (!a || !b) {
    g_critical ("t2i_%s: NULL input", op);
    return FALSE;
  }
  if ((a->dtype != T2I_F32 && a->dtype != T2I_F64) || a->dtype != b->dtype) {
    g_critical ("t2i_%s: inputs must both be f32 or both f64 (got %s, %s)",
        op, t2i_dtype_name (a->dtype), t2i_dtype_name (b->dtype));
    return FALSE;
  }
  if (a->device != b->device) {
    g_critical ("t2i_%s: inputs on different devices (%s and %s)", op,
        t2i_device_name (a->device), t2i_device_name (b->device));
    return FALSE;
  }
  return TRUE;
}

/* ---- matmul_ex: op(a) @ op(b), broadcast batch dims ---- */

static T2iTensor *matmul_ex (T2iTensor * a, T2iTensor * b, gboolean ta,
    gboolean tb);
static T2iTensor *mm_flat (T2iTensor * a, T2iTensor * b, gboolean ta,
    gboolean tb, gint out_ndim, const gint64 * out_shape);

static T2iTensor *
reduce_to (T2iTensor * g, T2iTensor * like)
{
  T2iTensor *r;

  if (t2i_tensor_same_shape (g, like))
    return g;
  r = t2i_sum_to_shape (g, like->ndim, like->shape);
  t2i_tensor_unref (g);
  return r;
}

static void
matmul_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0], *b = node->inputs[1];
  const gboolean ta = node->i[0], tb = node->i[1];

  if (node->needs_grad[0]) {
    T2iTensor *da = ta ? matmul_ex (b, g, tb, TRUE) : matmul_ex (g, b, FALSE,
        !tb);
    gin[0] = reduce_to (da, a);
  }
  if (node->needs_grad[1]) {
    if (b->ndim == 2 && a->ndim > 2 && !ta) {
      /* b is shared by every batch: one gemm over the folded rows */
      gin[1] = tb ? mm_flat (g, a, TRUE, FALSE, 2, b->shape)
          : mm_flat (a, g, TRUE, FALSE, 2, b->shape);
    } else {
      T2iTensor *db = tb ? matmul_ex (g, a, TRUE, ta) : matmul_ex (a, g, !ta,
          FALSE);
      gin[1] = reduce_to (db, b);
    }
  }
}

static T2iTensor *
matmul_ex (T2iTensor * a, T2iTensor * b, gboolean ta, gboolean tb)
{
  gint64 M, K, N, Kb;
  gint64 out_shape[T2I_MAX_DIMS];
  gint bd, out_ndim;
  T2iTensor *out;

  if (!check_float_pair ("matmul", a, b))
    return NULL;
  if (a->ndim < 2 || b->ndim < 2) {
    g_critical ("t2i_matmul: inputs need at least 2 dims (got %d and %d)",
        a->ndim, b->ndim);
    return NULL;
  }
  M = a->shape[a->ndim - (ta ? 1 : 2)];
  K = a->shape[a->ndim - (ta ? 2 : 1)];
  Kb = b->shape[b->ndim - (tb ? 1 : 2)];
  N = b->shape[b->ndim - (tb ? 2 : 1)];
  if (K != Kb) {
    g_autofree char *sa = t2i_shape_to_string (a->ndim, a->shape);
    g_autofree char *sb = t2i_shape_to_string (b->ndim, b->shape);
    g_critical ("t2i_matmul: inner dims differ: %s @ %s", sa, sb);
    return NULL;
  }

  /* broadcast batch dims, aligned from the right */
  bd = MAX (a->ndim, b->ndim) - 2;
  out_ndim = bd + 2;
  for (gint i = 0; i < bd; i++) {
    gint ia = i - (bd - (a->ndim - 2)), ib = i - (bd - (b->ndim - 2));
    gint64 da = ia >= 0 ? a->shape[ia] : 1, db = ib >= 0 ? b->shape[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      g_autofree char *sa = t2i_shape_to_string (a->ndim, a->shape);
      g_autofree char *sb = t2i_shape_to_string (b->ndim, b->shape);
      g_critical ("t2i_matmul: batch dims do not broadcast: %s @ %s", sa, sb);
      return NULL;
    }
    out_shape[i] = da == 1 ? db : da;
  }
  out_shape[bd] = M;
  out_shape[bd + 1] = N;
  out = t2i_tensor_new_on (a->device, a->dtype, out_ndim, out_shape);
  if (out && !T2I_BACKEND (a)->matmul (a, b, ta, tb, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  if (!out)
    return NULL;

  if (t2i_any_requires_grad (2, (T2iTensor *[]) { a, b })) {
    T2iNode *node = t2i_node_new ("matmul", matmul_backward, 2,
        (T2iTensor *[]) { a, b });
    node->i[0] = ta;
    node->i[1] = tb;
    t2i_node_attach (node, out);
  }
  return out;
}

/**
 * t2i_matmul:
 * @a: [..., M, K]
 * @b: [..., K, N]
 *
 * Matrix product over the last two dims; the leading (batch) dims
 * broadcast as in NumPy.  Both inputs need at least two dims.
 *
 * Returns: [broadcast batch..., M, N]
 */
T2iTensor *
t2i_matmul (T2iTensor * a, T2iTensor * b)
{
  return matmul_ex (a, b, FALSE, FALSE);
}

/* ---- mm_flat: gemm on the 2-D views ---- */

static void
mm_flat_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0], *b = node->inputs[1];
  const gboolean ta = node->i[0], tb = node->i[1];

  if (node->needs_grad[0])
    gin[0] = ta ? mm_flat (b, g, tb, TRUE, a->ndim, a->shape)
        : mm_flat (g, b, FALSE, !tb, a->ndim, a->shape);
  if (node->needs_grad[1])
    gin[1] = tb ? mm_flat (g, a, TRUE, ta, b->ndim, b->shape)
        : mm_flat (a, g, !ta, FALSE, b->ndim, b->shape);
}

static T2iTensor *
mm_flat (T2iTensor * a, T2iTensor * b, gboolean ta, gboolean tb,
    gint out_ndim, const gint64 * out_shape)
{
  gint64 la, lb, M, K, Kb, N;
  T2iTensor *out;

  if (!check_float_pair ("linear", a, b))
    return NULL;
  la = a->ndim ? a->shape[a->ndim - 1] : 1;
  lb = b->ndim ? b->shape[b->ndim - 1] : 1;
  M = ta ? la : (la ? a->numel / la : 0);
  K = ta ? (la ? a->numel / la : 0) : la;
  Kb = tb ? lb : (lb ? b->numel / lb : 0);
  N = tb ? (lb ? b->numel / lb : 0) : lb;
  if (K != Kb || out_ndim < 1 || out_shape[out_ndim - 1] != N
      || t2i_shape_numel (out_ndim, out_shape) != M * N) {
    g_critical ("t2i mm_flat: shapes do not agree");
    return NULL;
  }
  out = t2i_tensor_new_on (a->device, a->dtype, out_ndim, out_shape);
  if (out && !T2I_BACKEND (a)->mm (a, b, ta, tb, M, N, K, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  if (!out)
    return NULL;
  if (t2i_any_requires_grad (2, (T2iTensor *[]) { a, b })) {
    T2iNode *node = t2i_node_new ("mm", mm_flat_backward, 2,
        (T2iTensor *[]) { a, b });
    node->i[0] = ta;
    node->i[1] = tb;
    t2i_node_attach (node, out);
  }
  return out;
}

/* ---- linear ---- */

static void
linear_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *w = node->inputs[1];

  if (node->needs_grad[0])
    gin[0] = mm_flat (g, w, FALSE, FALSE, x->ndim, x->shape);
  if (node->needs_grad[1])
    gin[1] = mm_flat (g, x, TRUE, FALSE, 2, w->shape);
  if (node->needs_grad[2]) {
    if (g->ndim == 1)
      gin[2] = t2i_tensor_ref (g);
    else
      gin[2] = t2i_sum_axes (g, (1u << (g->ndim - 1)) - 1, FALSE);
  }
}

/**
 * t2i_linear:
 * @x: [..., in] (at least one dim)
 * @w: [out, in]
 * @b: (nullable): [out]
 *
 * y = x w^T + b, as torch.nn.functional.linear.  The f32 path is one
 * sgemm over all leading rows with the bias as its initial C.
 *
 * Returns: [..., out]
 */
T2iTensor *
t2i_linear (T2iTensor * x, T2iTensor * w, T2iTensor * b)
{
  gint64 out_f;
  gint64 shape[T2I_MAX_DIMS];
  T2iTensor *y;

  if (!check_float_pair ("linear", x, w))
    return NULL;
  if (x->ndim < 1 || w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[1]) {
    g_autofree char *sx = t2i_shape_to_string (x->ndim, x->shape);
    g_autofree char *sw = t2i_shape_to_string (w->ndim, w->shape);
    g_critical ("t2i_linear: x %s does not fit weight %s", sx, sw);
    return NULL;
  }
  out_f = w->shape[0];
  if (b && (b->dtype != x->dtype || b->ndim != 1 || b->shape[0] != out_f)) {
    g_critical ("t2i_linear: bias must be %s [%" G_GINT64_FORMAT "]",
        t2i_dtype_name (x->dtype), out_f);
    return NULL;
  }
  memcpy (shape, x->shape, sizeof (gint64) * x->ndim);
  shape[x->ndim - 1] = out_f;
  if (b && b->device != x->device) {
    g_critical ("t2i_linear: bias on %s, x on %s",
        t2i_device_name (b->device), t2i_device_name (x->device));
    return NULL;
  }
  y = t2i_tensor_new_on (x->device, x->dtype, x->ndim, shape);
  if (y && !T2I_BACKEND (x)->linear (x, w, b, y))
    g_clear_pointer (&y, t2i_tensor_unref);
  if (!y)
    return NULL;

  if (t2i_any_requires_grad (3, (T2iTensor *[]) { x, w, b })) {
    T2iNode *node = t2i_node_new ("linear", linear_backward, 3,
        (T2iTensor *[]) { x, w, b });
    t2i_node_attach (node, y);
  }
  return y;
}
