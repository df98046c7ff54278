/* Shape ops: reshape, permute, transpose, concat, split, slice,
 * index_select, embedding, gather_rows, pad2d, and the strided gather
 * they (and t2i_expand) share.
 *
 * All results are contiguous.  t2i_reshape() shares its input's storage
 * (an alias with a node); every other op copies.  Backward functions use
 * the public ops or small internal ops that are themselves recorded
 * (slice <-> zero-padded embed, index_select <-> index_add, gather_rows
 * <-> scatter_rows), so shape ops stay differentiable to any order.
 * Shape ops accept any dtype (i32 ids, u8 pixels) except where noted.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ops-internal.h"

#define TILE 16

/* full TILE x TILE transposes, dst (m, l) at m * ld + l from src (m, l) at
 * m + l * ss; built for AVX-512/AVX2/baseline */
#define DEF_TILE(NAME, T)                                                   \
T2I_OPS_CLONES static void                                                  \
NAME (const T * restrict s, T * restrict d, gint64 ld, gint64 ss)           \
{                                                                           \
  for (gint i = 0; i < TILE; i++)                                           \
    for (gint j = 0; j < TILE; j++)                                         \
      d[i * ld + j] = s[i + j * ss];                                        \
}

DEF_TILE (tile_4, gint32)
DEF_TILE (tile_8, gint64)

/* ------------------------------------------------------------------ */
/* strided gather                                                      */
/* ------------------------------------------------------------------ */

#define COPY_ROW(T)                                                         \
  G_STMT_START {                                                            \
    const T *restrict s_ = (const T *) src + so;                            \
    T *restrict d_ = (T *) dst + r * len;                                   \
    if (sl == 0) {                                                          \
      T v_ = s_[0];                                                         \
      for (gint64 l = 0; l < len; l++)                                      \
        d_[l] = v_;                                                         \
    } else {                                                                \
      for (gint64 l = 0; l < len; l++)                                      \
        d_[l] = s_[l * sl];                                                 \
    }                                                                       \
  } G_STMT_END

#define TRANSPOSE_TILE(T, FULL)                                             \
  G_STMT_START {                                                            \
    const T *restrict s_ = (const T *) src + so;                            \
    T *restrict d_ = (T *) dst + bo;                                        \
    if (m1 - m0 == TILE && l1 - l0 == TILE) {                               \
      FULL (s_ + m0 + l0 * sl, d_ + m0 * len + l0, len, sl);                \
    } else {                                                                \
      for (gint64 m = m0; m < m1; m++)                                      \
        for (gint64 l = l0; l < l1; l++)                                    \
          d_[m * len + l] = s_[m + l * sl];                                 \
    }                                                                       \
  } G_STMT_END

void
t2i_ops_strided_copy (void *dst, const void *src, gsize es, gint nd,
    const gint64 * shape, const gint64 * ss)
{
  gint cd = 0;
  gint64 cs[T2I_MAX_DIMS], cst[T2I_MAX_DIMS], n = 1;

  for (gint d = 0; d < nd; d++) {
    n *= shape[d];
    if (shape[d] == 1)
      continue;
    if (cd > 0 && cst[cd - 1] == ss[d] * shape[d]) {
      cs[cd - 1] *= shape[d];
      cst[cd - 1] = ss[d];
    } else {
      cs[cd] = shape[d];
      cst[cd] = ss[d];
      cd++;
    }
  }
  if (n == 0)
    return;
  if (cd == 0) {
    memcpy (dst, src, es);
    return;
  }
  if (cd == 1 && cst[0] == 1) {
    memcpy (dst, src, n * es);
    return;
  }

  gboolean par = n >= T2I_OPS_PARALLEL_THRESHOLD;
  gint64 len = cs[cd - 1], sl = cst[cd - 1];

  if (cd >= 2 && sl != 1 && sl != 0 && cst[cd - 2] == 1
      && (es == 4 || es == 8 || es == 1)) {
    /* the two innermost dims swap: blocked transpose of [M, len] tiles
     * reading src (m, l) at m + l * sl */
    gint64 M = cs[cd - 2], batches = n / (M * len);
    gint64 tm = (M + TILE - 1) / TILE, tl = (len + TILE - 1) / TILE;
    gint64 tasks = batches * tm * tl;
#pragma omp parallel for if (par && tasks > 1)
    for (gint64 t = 0; t < tasks; t++) {
      gint64 bt = t / (tm * tl), rest = t % (tm * tl);
      gint64 m0 = (rest / tl) * TILE, l0 = (rest % tl) * TILE;
      gint64 m1 = MIN (M, m0 + TILE), l1 = MIN (len, l0 + TILE);
      gint64 so = 0, rem = bt, bo = bt * M * len;
      for (gint d = cd - 3; d >= 0; d--) {
        so += (rem % cs[d]) * cst[d];
        rem /= cs[d];
      }
      if (es == 4) {
        TRANSPOSE_TILE (gint32, tile_4);
      } else if (es == 8) {
        TRANSPOSE_TILE (gint64, tile_8);
      } else {
        const guint8 *s_ = (const guint8 *) src + so;
        guint8 *d_ = (guint8 *) dst + bo;
        for (gint64 m = m0; m < m1; m++)
          for (gint64 l = l0; l < l1; l++)
            d_[m * len + l] = s_[m + l * sl];
      }
    }
    return;
  }

  gint64 rows = n / len;
#pragma omp parallel for if (par && rows > 1)
  for (gint64 r = 0; r < rows; r++) {
    gint64 so = 0, rem = r;
    for (gint d = cd - 2; d >= 0; d--) {
      so += (rem % cs[d]) * cst[d];
      rem /= cs[d];
    }
    if (sl == 1) {
      memcpy ((char *) dst + r * len * es, (const char *) src + so * es,
          len * es);
    } else if (es == 4) {
      COPY_ROW (gint32);
    } else if (es == 8) {
      COPY_ROW (gint64);
    } else if (es == 2) {
      COPY_ROW (gint16);
    } else {
      COPY_ROW (guint8);
    }
  }
}

gboolean
t2i_cpu_strided_copy (T2iTensor * dst, const T2iTensor * src, gint ndim,
    const gint64 * shape, const gint64 * strides)
{
  t2i_ops_strided_copy (dst->data, src->data, t2i_dtype_size (src->dtype),
      ndim, shape, strides);
  return TRUE;
}

/* contiguous element strides of @t */
static void
contiguous_strides (const T2iTensor * t, gint64 * st)
{
  gint64 s = 1;
  for (gint d = t->ndim - 1; d >= 0; d--) {
    st[d] = s;
    s *= t->shape[d];
  }
}

/* copies @rows blocks of @blk bytes from @src (block r at r * @sstride) to
 * @dst (block r at r * @dstride) */
static void
copy_blocks (char *dst, gint64 dstride, const char *src, gint64 sstride,
    gint64 rows, gint64 blk)
{
  gboolean par = rows * blk >= T2I_OPS_PARALLEL_THRESHOLD * 4 && rows > 1;
#pragma omp parallel for if (par)
  for (gint64 r = 0; r < rows; r++)
    memcpy (dst + r * dstride, src + r * sstride, blk);
}

/* ------------------------------------------------------------------ */
/* reshape                                                             */
/* ------------------------------------------------------------------ */

static T2iTensor *reshape_impl (T2iTensor * a, gint ndim,
    const gint64 * shape, gboolean share);

static void
reshape_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  /* never an alias here: gradients may be accumulated in place */
  gin[0] = reshape_impl (g, a->ndim, a->shape, FALSE);
}

static T2iTensor *
reshape_impl (T2iTensor * a, gint ndim, const gint64 * shape, gboolean share)
{
  gint64 sh[T2I_MAX_DIMS], known = 1;
  gint infer = -1;

  T2I_CHECK_NOT_NULL (a, NULL);
  if (ndim < 0 || ndim > T2I_MAX_DIMS || (ndim > 0 && !shape)) {
    g_critical ("t2i_reshape: bad rank %d", ndim);
    return NULL;
  }
  for (gint d = 0; d < ndim; d++) {
    sh[d] = shape[d];
    if (shape[d] == -1 && infer < 0) {
      infer = d;
    } else if (shape[d] < 0) {
      infer = -2;
      break;
    } else {
      known *= shape[d];
    }
  }
  if (infer >= 0 && known > 0 && a->numel % known == 0)
    sh[infer] = a->numel / known;
  else if (infer >= 0)
    infer = -2;
  if (infer == -2 || t2i_shape_numel (ndim, sh) != a->numel) {
    g_autofree char *sa = t2i_shape_to_string (a->ndim, a->shape);
    g_autofree char *st = t2i_shape_to_string (ndim, shape);
    g_critical ("t2i_reshape: cannot reshape %s to %s", sa, st);
    return NULL;
  }

  T2iTensor *out;
  if (share) {
    out = t2i_tensor_alias (a, ndim, sh);
  } else {
    out = t2i_ops_new_shape (a, ndim, sh);
    if (out && !T2I_BACKEND (a)->copy (out, a))
      g_clear_pointer (&out, t2i_tensor_unref);
  }
  T2I_RECORD (out, "reshape", reshape_backward, a);
  return out;
}

T2iTensor *
t2i_ops_reshape_copy (T2iTensor * a, gint ndim, const gint64 * shape)
{
  return reshape_impl (a, ndim, shape, FALSE);
}

/**
 * t2i_reshape:
 * The same elements in @ndim/@shape (one entry may be -1: inferred).  The
 * result shares @a's storage (no copy); it is recorded for autograd like
 * any op.
 */
T2iTensor *
t2i_reshape (T2iTensor * a, gint ndim, const gint64 * shape)
{
  return reshape_impl (a, ndim, shape, TRUE);
}

/* ------------------------------------------------------------------ */
/* permute, transpose                                                  */
/* ------------------------------------------------------------------ */

static void
permute_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gint inv[T2I_MAX_DIMS];
  for (gint k = 0; k < g->ndim; k++)
    inv[node->i[k]] = k;
  gin[0] = t2i_permute (g, inv);
}

/**
 * t2i_permute:
 * Output dim k is input dim @perm[k] (@perm has @a->ndim entries).
 */
T2iTensor *
t2i_permute (T2iTensor * a, const gint * perm)
{
  gint64 st[T2I_MAX_DIMS], ss[T2I_MAX_DIMS], sh[T2I_MAX_DIMS];
  guint seen = 0;

  T2I_CHECK_NOT_NULL (a, NULL);
  g_return_val_if_fail (perm != NULL || a->ndim == 0, NULL);
  for (gint k = 0; k < a->ndim; k++) {
    if (perm[k] < 0 || perm[k] >= a->ndim || (seen >> perm[k]) & 1) {
      g_critical ("t2i_permute: not a permutation of %d dims", a->ndim);
      return NULL;
    }
    seen |= 1u << perm[k];
  }
  contiguous_strides (a, st);
  for (gint k = 0; k < a->ndim; k++) {
    sh[k] = a->shape[perm[k]];
    ss[k] = st[perm[k]];
  }
  T2iTensor *out = t2i_ops_new_shape (a, a->ndim, sh);
  if (out && !T2I_BACKEND (a)->strided_copy (out, a, a->ndim, sh, ss))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "permute", permute_backward, a);
  if (node)
    for (gint k = 0; k < a->ndim; k++)
      node->i[k] = perm[k];
  return out;
}

/**
 * t2i_transpose:
 * Swaps dims @d0 and @d1 (negative counts from the end).
 */
T2iTensor *
t2i_transpose (T2iTensor * a, gint d0, gint d1)
{
  gint perm[T2I_MAX_DIMS];
  T2I_CHECK_NOT_NULL (a, NULL);
  if (!t2i_ops_norm_axis (d0, a->ndim, &d0)
      || !t2i_ops_norm_axis (d1, a->ndim, &d1))
    return NULL;
  for (gint k = 0; k < a->ndim; k++)
    perm[k] = k;
  perm[d0] = d1;
  perm[d1] = d0;
  return t2i_permute (a, perm);
}

/* ------------------------------------------------------------------ */
/* slice and its backward                                              */
/* ------------------------------------------------------------------ */

static T2iTensor *embed_slice (T2iTensor * g, gint axis, gint64 start,
    gint64 full);

static void
slice_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  gint axis = (gint) node->i[0];
  gin[0] = embed_slice (g, axis, node->i[1], a->shape[axis]);
}

static void
embed_slice_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  gint axis = (gint) node->i[0];
  gint64 start = node->i[1];
  gin[0] = t2i_slice (g, axis, start, start + a->shape[axis]);
}

/* copies the [start, start+len) range of @axis of @src into range
 * [dstart, dstart+len) of @dst (both contiguous, same dims elsewhere) */
gboolean
t2i_cpu_copy_axis_range (T2iTensor * dst, gint64 dstart, const T2iTensor * src,
    gint64 sstart, gint axis, gint64 len)
{
  gint64 outer, sn, inner, dn;
  gsize es = t2i_dtype_size (src->dtype);
  t2i_ops_axis_split (src, axis, &outer, &sn, &inner);
  dn = dst->shape[axis];
  copy_blocks ((char *) dst->data + dstart * inner * es, dn * inner * es,
      (const char *) src->data + sstart * inner * es, sn * inner * es,
      outer, len * inner * es);
  return TRUE;
}

/* the op's side: the range copy through @src's table */
static gboolean
copy_axis_range (T2iTensor * dst, gint64 dstart, const T2iTensor * src,
    gint64 sstart, gint axis, gint64 len)
{
  return T2I_BACKEND (src)->copy_axis_range (dst, dstart, src, sstart, axis,
      len);
}

/* zeros of @g's shape with @axis of size @full, @g placed at @start */
static T2iTensor *
embed_slice (T2iTensor * g, gint axis, gint64 start, gint64 full)
{
  gint64 sh[T2I_MAX_DIMS];
  memcpy (sh, g->shape, sizeof (sh));
  sh[axis] = full;
  T2iTensor *out = t2i_tensor_zeros_on (g->device, g->dtype, g->ndim, sh);
  if (out && !copy_axis_range (out, start, g, 0, axis, g->shape[axis]))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "slice_backward", embed_slice_backward, g);
  if (node) {
    node->i[0] = axis;
    node->i[1] = start;
  }
  return out;
}

/**
 * t2i_slice:
 * Elements [@start, @end) along @axis.  Negative @start/@end count from
 * the end of the axis; both are clamped to the axis (Python slicing with
 * step 1), so an empty range gives a zero-size axis.
 */
T2iTensor *
t2i_slice (T2iTensor * a, gint axis, gint64 start, gint64 end)
{
  T2I_CHECK_NOT_NULL (a, NULL);
  if (!t2i_ops_norm_axis (axis, a->ndim, &axis))
    return NULL;
  gint64 n = a->shape[axis];
  if (start < 0)
    start += n;
  if (end < 0)
    end += n;
  start = CLAMP (start, 0, n);
  end = CLAMP (end, start, n);

  gint64 sh[T2I_MAX_DIMS];
  memcpy (sh, a->shape, sizeof (sh));
  sh[axis] = end - start;
  T2iTensor *out = t2i_ops_new_shape (a, a->ndim, sh);
  if (out && !copy_axis_range (out, 0, a, start, axis, end - start))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "slice", slice_backward, a);
  if (node) {
    node->i[0] = axis;
    node->i[1] = start;
  }
  return out;
}

/**
 * t2i_split:
 * Splits @a along @axis into @n consecutive pieces of @sizes (which must
 * add up to the axis); fills @out[0..n-1] with new references (all %NULL
 * on bad arguments).
 */
void
t2i_split (T2iTensor * a, gint axis, gint n, const gint64 * sizes,
    T2iTensor ** out)
{
  g_return_if_fail (out != NULL && n >= 0);
  for (gint k = 0; k < n; k++)
    out[k] = NULL;
  T2I_CHECK_NOT_NULL (a,);
  g_return_if_fail (sizes != NULL || n == 0);
  if (!t2i_ops_norm_axis (axis, a->ndim, &axis))
    return;
  gint64 total = 0;
  gboolean neg = FALSE;
  for (gint k = 0; k < n; k++) {
    neg |= sizes[k] < 0;
    total += sizes[k];
  }
  if (neg || total != a->shape[axis]) {
    g_critical ("t2i_split: sizes add up to %" G_GINT64_FORMAT
        ", axis %d has %" G_GINT64_FORMAT, total, axis, a->shape[axis]);
    return;
  }
  gint64 off = 0;
  for (gint k = 0; k < n; k++) {
    out[k] = t2i_slice (a, axis, off, off + sizes[k]);
    off += sizes[k];
  }
}

/* ------------------------------------------------------------------ */
/* concat                                                              */
/* ------------------------------------------------------------------ */

static void
concat_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gint axis = (gint) node->i[0];
  gint64 off = 0;
  for (gint k = 0; k < node->n_inputs; k++) {
    gint64 len = node->inputs[k]->shape[axis];
    if (node->needs_grad[k])
      gin[k] = t2i_slice (g, axis, off, off + len);
    off += len;
  }
}

/**
 * t2i_concat:
 * Joins @n tensors of one dtype and rank along @axis (all other dims
 * equal).
 */
T2iTensor *
t2i_concat (T2iTensor ** ts, gint n, gint axis)
{
  g_return_val_if_fail (ts != NULL && n >= 1, NULL);
  T2iTensor *a = ts[0];
  T2I_CHECK_NOT_NULL (a, NULL);
  if (!t2i_ops_norm_axis (axis, a->ndim, &axis))
    return NULL;

  gint64 sh[T2I_MAX_DIMS];
  memcpy (sh, a->shape, sizeof (sh));
  sh[axis] = 0;
  for (gint k = 0; k < n; k++) {
    T2iTensor *t = ts[k];
    gboolean ok = t != NULL && t->dtype == a->dtype && t->ndim == a->ndim
        && t->device == a->device;
    for (gint d = 0; ok && d < a->ndim; d++)
      ok = d == axis || t->shape[d] == a->shape[d];
    if (!ok) {
      g_autofree char *s0 = t2i_shape_to_string (a->ndim, a->shape);
      g_autofree char *sk = t ? t2i_shape_to_string (t->ndim, t->shape)
          : g_strdup ("NULL");
      g_critical ("t2i_concat: input %d (%s%s) does not match input 0 "
          "(%s %s) along axis %d", k, sk, t ? t2i_dtype_name (t->dtype) : "",
          s0, t2i_dtype_name (a->dtype), axis);
      return NULL;
    }
    sh[axis] += t->shape[axis];
  }

  /* a node holds at most T2I_NODE_MAX_INPUTS inputs: concatenate larger
   * recorded lists in groups */
  if (n > T2I_NODE_MAX_INPUTS && t2i_any_requires_grad (n, ts)) {
    T2iTensor *parts[T2I_NODE_MAX_INPUTS];
    gint np = 0, per = (n + T2I_NODE_MAX_INPUTS - 1) / T2I_NODE_MAX_INPUTS;
    for (gint k = 0; k < n; k += per)
      parts[np++] = t2i_concat (ts + k, MIN (per, n - k), axis);
    T2iTensor *out = t2i_concat (parts, np, axis);
    for (gint k = 0; k < np; k++)
      t2i_tensor_unref (parts[k]);
    return out;
  }

  T2iTensor *out = t2i_ops_new_shape (a, a->ndim, sh);
  gint64 off = 0;
  for (gint k = 0; out && k < n; k++) {
    if (!copy_axis_range (out, off, ts[k], 0, axis, ts[k]->shape[axis]))
      g_clear_pointer (&out, t2i_tensor_unref);
    off += ts[k]->shape[axis];
  }
  if (n <= T2I_NODE_MAX_INPUTS) {
    T2iNode *node = t2i_ops_record (out, "concat", concat_backward, n, ts);
    if (node)
      node->i[0] = axis;
  }
  return out;
}

/* ------------------------------------------------------------------ */
/* index_select, embedding                                             */
/* ------------------------------------------------------------------ */

static T2iTensor *index_add_zeros (T2iTensor * g, gint axis,
    T2iTensor * index, gint64 full);

static void
index_select_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  gint axis = (gint) node->i[0];
  gin[0] = index_add_zeros (g, axis, node->saved[0], a->shape[axis]);
}

static void
index_add_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = t2i_index_select (g, (gint) node->i[0], node->saved[0]);
}

#define INDEX_ADD(T)                                                        \
  G_STMT_START {                                                            \
    const T *s_ = g->data;                                                  \
    T *d_ = out->data;                                                      \
    _Pragma ("omp parallel for if (par)")                                   \
    for (gint64 o = 0; o < outer; o++)                                      \
      for (gint64 k = 0; k < K; k++) {                                      \
        const T *sr = s_ + (o * K + k) * inner;                             \
        T *dr = d_ + (o * full + ix[k]) * inner;                            \
        for (gint64 i = 0; i < inner; i++)                                  \
          dr[i] += sr[i];                                                   \
      }                                                                     \
  } G_STMT_END

/* @out (zeros, @axis of size full) += row k of @g at row index[k] */
gboolean
t2i_cpu_index_add (const T2iTensor * g, gint axis, const T2iTensor * index,
    T2iTensor * out)
{
  gint64 outer, K, inner, full = out->shape[axis];
  t2i_ops_axis_split (g, axis, &outer, &K, &inner);
  const gint32 *ix = index->data;
  gboolean par = g->numel >= T2I_OPS_PARALLEL_THRESHOLD && outer > 1;
  if (g->dtype == T2I_F32)
    INDEX_ADD (float);
  else
    INDEX_ADD (double);
  return TRUE;
}

/* zeros with @axis of size @full; row k of @g added at row index[k] */
static T2iTensor *
index_add_zeros (T2iTensor * g, gint axis, T2iTensor * index, gint64 full)
{
  gint64 sh[T2I_MAX_DIMS];
  memcpy (sh, g->shape, sizeof (sh));
  sh[axis] = full;
  T2iTensor *out = t2i_tensor_zeros_on (g->device, g->dtype, g->ndim, sh);
  if (out && !T2I_BACKEND (g)->index_add (g, axis, index, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "index_select_backward",
      index_add_backward, g);
  if (node) {
    node->i[0] = axis;
    t2i_node_save (node, 0, index);
  }
  return out;
}

/* TRUE when every entry of the i32 @index is in [0, @n); otherwise the
 * first one that is not, at @bad_pos */
gboolean
t2i_cpu_index_check (const T2iTensor * index, gint64 n, gint64 * bad_pos,
    gint32 * bad_value)
{
  const gint32 *ix = index->data;
  for (gint64 k = 0; k < index->numel; k++)
    if (ix[k] < 0 || ix[k] >= n) {
      *bad_pos = k;
      *bad_value = ix[k];
      return FALSE;
    }
  return TRUE;
}

gboolean
t2i_cpu_index_select (const T2iTensor * a, gint axis, const T2iTensor * index,
    T2iTensor * out)
{
  gint64 outer, n, inner, K = index->shape[0];
  const gint32 *ix = index->data;
  t2i_ops_axis_split (a, axis, &outer, &n, &inner);
  gsize es = t2i_dtype_size (a->dtype), blk = inner * es;
  const char *src = a->data;
  char *dst = out->data;
  gint64 tasks = outer * K;
#pragma omp parallel for if (out->numel >= T2I_OPS_PARALLEL_THRESHOLD && tasks > 1)
  for (gint64 t = 0; t < tasks; t++) {
    gint64 o = t / K, k = t % K;
    memcpy (dst + t * blk, src + (o * n + ix[k]) * blk, blk);
  }
  return TRUE;
}

/**
 * t2i_index_select:
 * Picks the entries @index (i32, 1-D, each in [0, size)) along @axis.
 */
T2iTensor *
t2i_index_select (T2iTensor * a, gint axis, T2iTensor * index)
{
  T2I_CHECK_NOT_NULL (a, NULL);
  T2I_CHECK_DTYPE (index, T2I_I32, NULL);
  if (!t2i_ops_norm_axis (axis, a->ndim, &axis))
    return NULL;
  if (index->ndim != 1) {
    g_critical ("t2i_index_select: index must be 1-D, has %d dims",
        index->ndim);
    return NULL;
  }
  T2I_CHECK_SAME_DEVICE (a, index, NULL);
  gint64 outer, n, inner, K = index->shape[0], bad_pos;
  gint32 bad;
  t2i_ops_axis_split (a, axis, &outer, &n, &inner);
  if (!T2I_BACKEND (a)->index_check (index, n, &bad_pos, &bad)) {
    g_critical ("t2i_index_select: index %d out of range [0, %"
        G_GINT64_FORMAT ")", bad, n);
    return NULL;
  }

  gint64 sh[T2I_MAX_DIMS];
  memcpy (sh, a->shape, sizeof (sh));
  sh[axis] = K;
  T2iTensor *out = t2i_ops_new_shape (a, a->ndim, sh);
  if (out && !T2I_BACKEND (a)->index_select (a, axis, index, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "index_select", index_select_backward, a);
  if (node) {
    node->i[0] = axis;
    t2i_node_save (node, 0, index);
  }
  return out;
}

/**
 * t2i_embedding:
 * Rows of @weight [V, D] for the i32 @ids of any shape (up to 4 dims):
 * result [..., D].  The gradient accumulates into the rows used.
 */
T2iTensor *
t2i_embedding (T2iTensor * weight, T2iTensor * ids)
{
  T2I_CHECK_NOT_NULL (weight, NULL);
  T2I_CHECK_DTYPE (ids, T2I_I32, NULL);
  if (weight->ndim != 2 || ids->ndim >= T2I_MAX_DIMS) {
    g_critical ("t2i_embedding: weight must be [V, D] (is %d-d) and ids at "
        "most %d-d (is %d-d)", weight->ndim, T2I_MAX_DIMS - 1, ids->ndim);
    return NULL;
  }
  g_autoptr (T2iTensor) flat = t2i_tensor_alias (ids, 1, &ids->numel);
  g_autoptr (T2iTensor) rows = t2i_index_select (weight, 0, flat);
  if (!rows)
    return NULL;
  gint64 sh[T2I_MAX_DIMS];
  memcpy (sh, ids->shape, ids->ndim * sizeof (gint64));
  sh[ids->ndim] = weight->shape[1];
  return t2i_reshape (rows, ids->ndim + 1, sh);
}

/* ------------------------------------------------------------------ */
/* gather_rows                                                         */
/* ------------------------------------------------------------------ */

static T2iTensor *scatter_rows (T2iTensor * g, T2iTensor * idx, gint64 m);

static void
gather_rows_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = scatter_rows (g, node->saved[0], node->inputs[0]->shape[1]);
}

static void
scatter_rows_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  gin[0] = t2i_gather_rows (g, node->saved[0]);
}

/* @out (zeros [N, M, ...rest]) gets g[n] at (n, idx[n]) */
gboolean
t2i_cpu_scatter_rows (const T2iTensor * g, const T2iTensor * idx,
    T2iTensor * out)
{
  gint64 N = g->shape[0], m = out->shape[1], rest = N ? g->numel / N : 0;
  gsize es = t2i_dtype_size (g->dtype);
  const gint32 *ix = idx->data;
  for (gint64 n = 0; n < N; n++)
    memcpy ((char *) out->data + (n * m + ix[n]) * rest * es,
        (const char *) g->data + n * rest * es, rest * es);
  return TRUE;
}

gboolean
t2i_cpu_gather_rows (const T2iTensor * a, const T2iTensor * idx,
    T2iTensor * out)
{
  gint64 N = a->shape[0], M = a->shape[1], rest = a->numel / MAX (N * M, 1);
  gsize es = t2i_dtype_size (a->dtype);
  const gint32 *ix = idx->data;
  for (gint64 n = 0; n < N; n++)
    memcpy ((char *) out->data + n * rest * es,
        (const char *) a->data + (n * M + ix[n]) * rest * es, rest * es);
  return TRUE;
}

/* zeros [N, @m, ...rest] with g[n] placed at (n, idx[n]) */
static T2iTensor *
scatter_rows (T2iTensor * g, T2iTensor * idx, gint64 m)
{
  gint64 sh[T2I_MAX_DIMS];
  sh[0] = g->shape[0];
  sh[1] = m;
  for (gint d = 1; d < g->ndim; d++)
    sh[d + 1] = g->shape[d];
  T2iTensor *out = t2i_tensor_zeros_on (g->device, g->dtype, g->ndim + 1, sh);
  if (out && !T2I_BACKEND (g)->scatter_rows (g, idx, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "gather_rows_backward",
      scatter_rows_backward, g);
  if (node)
    t2i_node_save (node, 0, idx);
  return out;
}

/**
 * t2i_gather_rows:
 * @a [N, M, ...] and i32 @idx [N] with values in [0, M): result
 * [N, ...] with row n = a[n, idx[n]].
 */
T2iTensor *
t2i_gather_rows (T2iTensor * a, T2iTensor * idx)
{
  T2I_CHECK_NOT_NULL (a, NULL);
  T2I_CHECK_DTYPE (idx, T2I_I32, NULL);
  if (a->ndim < 2 || idx->ndim != 1 || idx->shape[0] != a->shape[0]) {
    g_autofree char *sa = t2i_shape_to_string (a->ndim, a->shape);
    g_autofree char *si = t2i_shape_to_string (idx->ndim, idx->shape);
    g_critical ("t2i_gather_rows: need a [N, M, ...] and idx [N], got %s "
        "and %s", sa, si);
    return NULL;
  }
  T2I_CHECK_SAME_DEVICE (a, idx, NULL);
  gint64 N = a->shape[0], M = a->shape[1], bad_pos;
  gint32 bad;
  if (!T2I_BACKEND (a)->index_check (idx, M, &bad_pos, &bad)) {
    g_critical ("t2i_gather_rows: idx[%" G_GINT64_FORMAT "] = %d out of "
        "range [0, %" G_GINT64_FORMAT ")", bad_pos, bad, M);
    return NULL;
  }
  gint64 sh[T2I_MAX_DIMS];
  sh[0] = N;
  for (gint d = 2; d < a->ndim; d++)
    sh[d - 1] = a->shape[d];
  T2iTensor *out = t2i_ops_new_shape (a, a->ndim - 1, sh);
  if (out && !T2I_BACKEND (a)->gather_rows (a, idx, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "gather_rows", gather_rows_backward, a);
  if (node)
    t2i_node_save (node, 0, idx);
  return out;
}

/* ------------------------------------------------------------------ */
/* pad2d                                                               */
/* ------------------------------------------------------------------ */

static void
pad2d_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  gint nd = a->ndim;
  gint64 top = node->i[0], left = node->i[1];
  g_autoptr (T2iTensor) rows = t2i_slice (g, nd - 2, top,
      top + a->shape[nd - 2]);
  gin[0] = t2i_slice (rows, nd - 1, left, left + a->shape[nd - 1]);
}

/* @a into the window at (@top, @left) of the last two dims of @out */
gboolean
t2i_cpu_pad2d (const T2iTensor * a, gint top, gint left, T2iTensor * out)
{
  gint nd = a->ndim;
  gint64 H = a->shape[nd - 2], W = a->shape[nd - 1];
  gint64 OH = out->shape[nd - 2], OW = out->shape[nd - 1];
  gint64 planes = (H * W) != 0 ? a->numel / (H * W) : 0;
  gsize es = t2i_dtype_size (a->dtype);
  gint64 rows = planes * H;
  const char *src = a->data;
  char *dst = out->data;
#pragma omp parallel for if (a->numel >= T2I_OPS_PARALLEL_THRESHOLD && rows > 1)
  for (gint64 r = 0; r < rows; r++) {
    gint64 p = r / H, h = r % H;
    memcpy (dst + ((p * OH + h + top) * OW + left) * es,
        src + r * W * es, W * es);
  }
  return TRUE;
}

/**
 * t2i_pad2d:
 * Pads the last two dims of @a (f32/f64) by non-negative @top, @bottom,
 * @left, @right elements of @value.
 */
T2iTensor *
t2i_pad2d (T2iTensor * a, gint top, gint bottom, gint left, gint right,
    double value)
{
  T2I_CHECK_FLOAT (a, NULL);
  if (a->ndim < 2 || top < 0 || bottom < 0 || left < 0 || right < 0) {
    g_critical ("t2i_pad2d: need >= 2 dims and non-negative pads");
    return NULL;
  }
  gint nd = a->ndim;
  gint64 sh[T2I_MAX_DIMS];
  memcpy (sh, a->shape, sizeof (sh));
  gint64 H = a->shape[nd - 2], W = a->shape[nd - 1];
  gint64 OH = H + top + bottom, OW = W + left + right;
  sh[nd - 2] = OH;
  sh[nd - 1] = OW;
  T2iTensor *out = t2i_tensor_full_on (a->device, a->dtype, nd, sh, value);
  if (out && !T2I_BACKEND (a)->pad2d (a, top, left, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "pad2d", pad2d_backward, a);
  if (node) {
    node->i[0] = top;
    node->i[1] = left;
  }
  return out;
}
