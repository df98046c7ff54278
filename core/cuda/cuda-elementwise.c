/* The CUDA table: whole tensors, elementwise ops, activations and the
 * reductions along one axis (the device side of core/tensor,
 * core/ops/elementwise.c, activation.c and reduce.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "cuda-private.h"
#include "../ops/ops-internal.h"

static T2iTensor *
cuda_new (T2iDType dtype, gint ndim, const gint64 * shape)
{
  return t2i_tensor_new_on (T2I_DEVICE_CUDA, dtype, ndim, shape);
}

/* @t unreferenced and NULL unless @ok */
static T2iTensor *
kept (T2iTensor * t, gboolean ok)
{
  if (!ok)
    g_clear_pointer (&t, t2i_tensor_unref);
  return t;
}

/* ---- whole tensors ---- */

gboolean
t2i_cuda_fill (T2iTensor * t, double value)
{
  switch (t->dtype) {
    case T2I_F32:{
      float f = (float) value;
      guint32 u;
      memcpy (&u, &f, sizeof u);
      return T2I_CUDA_K (fill_u32, t->numel, k.v = u; k.dst = t->data);
    }
    case T2I_F64:{
      guint64 u;
      memcpy (&u, &value, sizeof u);
      return T2I_CUDA_K (fill_u64, t->numel, k.v = u; k.dst = t->data);
    }
    case T2I_I32:{
      gint32 i = (gint32) value;
      guint32 u;
      memcpy (&u, &i, sizeof u);
      return T2I_CUDA_K (fill_u32, t->numel, k.v = u; k.dst = t->data);
    }
    case T2I_U8:
      return T2I_CUDA_K (fill_u8, t->numel,
          k.v = (guint8) CLAMP (value, 0, 255); k.dst = t->data);
  }
  return FALSE;
}

gboolean
t2i_cuda_convert (T2iTensor * dst, const T2iTensor * src)
{
  return T2I_CUDA_K (convert, src->numel, k.sdt = src->dtype;
      k.ddt = dst->dtype; k.src = src->data; k.dst = dst->data);
}

gboolean
t2i_cuda_accumulate (T2iTensor * dst, const T2iTensor * src)
{
  return T2I_CUDA_FT (dst->dtype, accumulate, dst->numel, k.s = src->data;
      k.d = dst->data);
}

gboolean
t2i_cuda_scale (T2iTensor * t, double c)
{
  return T2I_CUDA_FT (t->dtype, scale, t->numel, k.c = c; k.d = t->data);
}

gboolean
t2i_cuda_swap (T2iTensor * a, T2iTensor * b)
{
  return T2I_CUDA_ES (t2i_dtype_size (a->dtype), swap, a->numel,
      k.a = a->data; k.b = b->data);
}

/* ---- elementwise ---- */

T2iTensor *
t2i_cuda_binary (T2iBinaryOp op, const T2iTensor * a, const T2iTensor * b)
{
  gint nd = 0;
  gint64 shape[T2I_MAX_DIMS] = { 0 }, sa[T2I_MAX_DIMS], sb[T2I_MAX_DIMS];

  if (!t2i_broadcast_shape (a, b, &nd, shape))
    return NULL;
  T2iTensor *out = cuda_new (a->dtype, nd, shape);
  if (!out)
    return NULL;
  t2i_broadcast_strides (a->ndim, a->shape, nd, shape, sa);
  t2i_broadcast_strides (b->ndim, b->shape, nd, shape, sb);
  return kept (out, T2I_CUDA_FT (a->dtype, binary, out->numel, k.op = op;
          k.nd = nd; memcpy (k.shape, shape, sizeof (gint64) * nd);
          memcpy (k.sa, sa, sizeof (gint64) * nd);
          memcpy (k.sb, sb, sizeof (gint64) * nd);
          k.a = a->data; k.b = b->data; k.o = out->data));
}

T2iTensor *
t2i_cuda_unary (T2iUnaryOp op, const T2iTensor * x, const double *p)
{
  T2iTensor *out = t2i_tensor_new_like (x);
  if (!out)
    return NULL;
  return kept (out, T2I_CUDA_FT (x->dtype, unary, x->numel, k.op = op;
          k.p0 = p ? p[0] : 0; k.p1 = p ? p[1] : 0; k.x = x->data;
          k.o = out->data));
}

T2iTensor *
t2i_cuda_sum_reduce (const T2iTensor * g, const gint64 * kshape,
    gint out_ndim, const gint64 * out_shape, double scale)
{
  T2iTensor *out = cuda_new (g->dtype, out_ndim, out_shape);
  if (!out || out->numel == 0)
    return out;
  if (g->numel == 0) {
    gboolean ok = t2i_cuda_fill (out, 0);
    if (ok && scale != 1.0)
      ok = t2i_cuda_scale (out, scale);
    return kept (out, ok);
  }
  /* kept dims enumerate the outputs, reduced dims the summands */
  gint64 gst[T2I_MAX_DIMS], s = 1;
  gint64 ks[T2I_MAX_DIMS], kst[T2I_MAX_DIMS], rs[T2I_MAX_DIMS],
      rst[T2I_MAX_DIMS], R = 1;
  gint nk = 0, nr = 0;
  for (gint d = g->ndim - 1; d >= 0; d--) {
    gst[d] = s;
    s *= g->shape[d];
  }
  for (gint d = 0; d < g->ndim; d++) {
    if (kshape[d] != g->shape[d]) {
      rs[nr] = g->shape[d];
      rst[nr++] = gst[d];
      R *= g->shape[d];
    } else {
      ks[nk] = g->shape[d];
      kst[nk++] = gst[d];
    }
  }
  const gint64 outn = out->numel, nch = t2i_cuda_chunks (outn, R);
  gpointer blk = NULL;
  double *part = nch > 1 ? t2i_cuda_scratch (sizeof (double) * outn * nch,
      &blk) : NULL;
  if (nch > 1 && !part)
    return kept (out, FALSE);
  gboolean ok = T2I_CUDA_FT (g->dtype, sum_partial, outn * nch, k.nk = nk;
      k.nr = nr; memcpy (k.kshape, ks, sizeof (gint64) * nk);
      memcpy (k.kst, kst, sizeof (gint64) * nk);
      memcpy (k.rshape, rs, sizeof (gint64) * nr);
      memcpy (k.rst, rst, sizeof (gint64) * nr);
      k.R = R; k.nchunk = nch; k.scale = scale; k.g = g->data;
      k.part = part; k.out = out->data);
  if (ok && part)
    ok = T2I_CUDA_FT (g->dtype, sum_finish, outn, k.nchunk = nch;
        k.scale = scale; k.part = part; k.out = out->data);
  t2i_cuda_mem_free (blk);
  return kept (out, ok);
}

gboolean
t2i_cuda_strided_copy (T2iTensor * dst, const T2iTensor * src, gint ndim,
    const gint64 * shape, const gint64 * strides)
{
  return T2I_CUDA_ES (t2i_dtype_size (src->dtype), strided, dst->numel,
      k.nd = ndim; memcpy (k.shape, shape, sizeof (gint64) * ndim);
      memcpy (k.st, strides, sizeof (gint64) * ndim);
      k.src = src->data; k.dst = dst->data);
}

/* ---- activations ---- */

T2iTensor *
t2i_cuda_activation (T2iActOp op, const T2iTensor * x, double p)
{
  T2iTensor *out = t2i_tensor_new_like (x);
  if (!out)
    return NULL;
  return kept (out, T2I_CUDA_FT (x->dtype, act, x->numel, k.op = op;
          k.p = p; k.x = x->data; k.o = out->data));
}

T2iTensor *
t2i_cuda_activation_bw (T2iActOp op, const T2iTensor * g, const T2iTensor * x,
    double p)
{
  T2iTensor *out = t2i_tensor_new_like (x);
  if (!out)
    return NULL;
  return kept (out, T2I_CUDA_FT (x->dtype, act_bw, x->numel, k.op = op;
          k.p = p; k.g = g->data; k.x = x->data; k.o = out->data));
}

gboolean
t2i_cuda_glu (const T2iTensor * x, gint axis, T2iTensor * y)
{
  gint64 outer, n, inner;
  t2i_ops_axis_split (x, axis, &outer, &n, &inner);
  return T2I_CUDA_FT (x->dtype, glu, y->numel, k.blk = (n / 2) * inner;
      k.x = x->data; k.y = y->data);
}

gboolean
t2i_cuda_glu_bw (const T2iTensor * x, const T2iTensor * g, gint axis,
    T2iTensor * gx)
{
  gint64 outer, n, inner;
  t2i_ops_axis_split (x, axis, &outer, &n, &inner);
  return T2I_CUDA_FT (x->dtype, glu_bw, g->numel, k.blk = (n / 2) * inner;
      k.x = x->data; k.g = g->data; k.gx = gx->data);
}

/* ---- reductions along one axis ---- */

/* lines of @a along @axis (T2I_ALL_AXES: one line of everything) */
static void
lines_of (const T2iTensor * a, gint axis, gint64 * n, gint64 * inner,
    gint64 * lines)
{
  gint64 outer;
  if (axis == T2I_ALL_AXES) {
    outer = 1;
    *n = a->numel;
    *inner = 1;
  } else {
    t2i_ops_axis_split (a, axis, &outer, n, inner);
  }
  *lines = outer * *inner;
}

gboolean
t2i_cuda_max_lines (const T2iTensor * a, gint axis, T2iTensor * out,
    T2iTensor * idx)
{
  gint64 n, inner, lines;
  lines_of (a, axis, &n, &inner, &lines);
  if (a->dtype == T2I_I32)
    return T2I_CUDA_K (argmax_i32, lines, k.n = n; k.inner = inner;
        k.x = a->data; k.idx = idx->data);
  return T2I_CUDA_FT (a->dtype, max_lines, lines, k.n = n; k.inner = inner;
      k.x = a->data; k.y = out ? out->data : NULL;
      k.idx = idx ? idx->data : NULL);
}

gboolean
t2i_cuda_logsumexp_lines (const T2iTensor * a, gint axis, T2iTensor * out)
{
  gint64 n, inner, lines;
  lines_of (a, axis, &n, &inner, &lines);
  return T2I_CUDA_FT (a->dtype, lse_lines, lines, k.n = n; k.inner = inner;
      k.x = a->data; k.y = out->data);
}

gboolean
t2i_cuda_softmax_lines (const T2iTensor * a, gint axis, gboolean lg,
    T2iTensor * out)
{
  gint64 n, inner, lines;
  lines_of (a, axis, &n, &inner, &lines);
  return T2I_CUDA_FT (a->dtype, softmax_lines, lines, k.lg = lg; k.n = n;
      k.inner = inner; k.x = a->data; k.y = out->data);
}

gboolean
t2i_cuda_softmax_bw_lines (const T2iTensor * y, const T2iTensor * g,
    gint axis, gboolean lg, T2iTensor * gx)
{
  gint64 n, inner, lines;
  lines_of (y, axis, &n, &inner, &lines);
  return T2I_CUDA_FT (y->dtype, softmax_bw, lines, k.lg = lg; k.n = n;
      k.inner = inner; k.y = y->data; k.g = g->data; k.gx = gx->data);
}

T2iTensor *
t2i_cuda_max_onehot (const T2iTensor * a, gint axis, const T2iTensor * idx)
{
  gint64 n, inner, lines;
  lines_of (a, axis, &n, &inner, &lines);
  T2iTensor *oh = t2i_tensor_new_like (a);
  if (!oh)
    return NULL;
  return kept (oh, T2I_CUDA_FT (a->dtype, max_onehot, a->numel, k.n = n;
          k.inner = inner; k.idx = idx->data; k.o = oh->data));
}

/* ---- sums of squares (gradient clipping) ---- */

double
t2i_cuda_sq_sum (const T2iTensor * t)
{
  if (t->numel == 0)
    return 0;
  const gint64 nch = t2i_cuda_chunks (1, t->numel);
  gpointer blk;
  double *part = t2i_cuda_scratch (sizeof (double) * nch, &blk);
  double *host = g_new (double, nch), total = 0;
  if (part && T2I_CUDA_FT (t->dtype, sq_partial, nch, k.n = t->numel;
          k.nchunk = nch; k.x = t->data; k.part = part)
      && t2i_cuda_check ("sq_sum", t2i_cuda_rt ()->d2h (host, part,
              sizeof (double) * nch, t2i_cuda_stream ())))
    for (gint64 c = 0; c < nch; c++)
      total += host[c];
  else
    total = NAN;
  g_free (host);
  t2i_cuda_mem_free (part ? blk : NULL);
  return total;
}
