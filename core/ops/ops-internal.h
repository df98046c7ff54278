/* t2i — private helpers shared by the op families in core/ops/.
 *
 * Not installed.  Include it from a file in core/ops/ as "ops-internal.h"
 * (or as "ops/ops-internal.h" from elsewhere in core/).
 *
 * What is here:
 *  - argument guards that g_critical() and return (T2I_CHECK_*);
 *  - NumPy broadcasting of shapes and the element strides that read an
 *    input of a broadcast op (t2i_broadcast_shape, t2i_broadcast_strides);
 *  - axis handling for reductions (t2i_ops_norm_axis, t2i_ops_axis_split);
 *  - one-line node recording (T2I_RECORD) and saving an op's own output for
 *    backward without a reference cycle (t2i_ops_save_output);
 *  - the size above which an elementwise loop is worth an OpenMP team
 *    (t2i_ops_parallel_threshold);
 *  - graph-free kernels drivers for elementwise maps (t2i_ops_map,
 *    t2i_ops_zip), strided copies and sum reductions, for ops that build
 *    their forward or their fast backward from them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include "t2i/tensor.h"
#include "t2i/ops.h"
#include "../backend/backend.h"

#include <math.h>
#include <string.h>

G_BEGIN_DECLS

/**
 * T2I_OPS_CLONES:
 *
 * Put before a small leaf kernel (a loop, no OpenMP team inside) to build
 * it for AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and the baseline, chosen
 * at load time.  Together with the vector variants of libm declared below
 * (glibc's libmvec, linked through libm), loops that call expf, tanhf,
 * erff, log1pf ... under `#pragma omp simd` run 16 lanes wide.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) \
    && __GNUC__ >= 12 && defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 35)
#define T2I_OPS_HAVE_LIBMVEC 1
#endif
#endif

#ifdef T2I_OPS_HAVE_LIBMVEC
#define T2I_OPS_CLONES \
  __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define T2I_OPS_SIMD_DECL __attribute__ ((__simd__ ("notinbranch")))
T2I_OPS_SIMD_DECL float expf (float);
T2I_OPS_SIMD_DECL float logf (float);
T2I_OPS_SIMD_DECL float log1pf (float);
T2I_OPS_SIMD_DECL float tanhf (float);
T2I_OPS_SIMD_DECL float erff (float);
T2I_OPS_SIMD_DECL float powf (float, float);
T2I_OPS_SIMD_DECL double exp (double);
T2I_OPS_SIMD_DECL double log (double);
T2I_OPS_SIMD_DECL double log1p (double);
T2I_OPS_SIMD_DECL double tanh (double);
T2I_OPS_SIMD_DECL double erf (double);
T2I_OPS_SIMD_DECL double pow (double, double);
#else
#define T2I_OPS_CLONES
#endif

/**
 * T2I_OPS_PARALLEL_THRESHOLD:
 *
 * Element count from which a memory-bound loop runs with
 * `#pragma omp parallel for simd if (n >= t2i_ops_parallel_threshold)`;
 * below it the fork/join of the OpenMP team costs more than it saves.
 */
#define T2I_OPS_PARALLEL_THRESHOLD 32768
static const gint64 t2i_ops_parallel_threshold = T2I_OPS_PARALLEL_THRESHOLD;

/* ---- argument guards: programming errors, g_critical + return @ret ---- */

#define T2I_CHECK_NOT_NULL(t, ret) G_STMT_START {                           \
  if (G_UNLIKELY ((t) == NULL)) {                                           \
    g_critical ("%s: %s is NULL", G_STRFUNC, #t);                            \
    return ret;                                                             \
  } } G_STMT_END

/* @t is non-NULL and f32 or f64 */
#define T2I_CHECK_FLOAT(t, ret) G_STMT_START {                              \
  T2I_CHECK_NOT_NULL (t, ret);                                              \
  if (G_UNLIKELY ((t)->dtype != T2I_F32 && (t)->dtype != T2I_F64)) {        \
    g_critical ("%s: %s must be f32 or f64, not %s", G_STRFUNC, #t,         \
        t2i_dtype_name ((t)->dtype));                                       \
    return ret;                                                             \
  } } G_STMT_END

/* @t is non-NULL and of dtype @dt */
#define T2I_CHECK_DTYPE(t, dt, ret) G_STMT_START {                          \
  T2I_CHECK_NOT_NULL (t, ret);                                              \
  if (G_UNLIKELY ((t)->dtype != (dt))) {                                    \
    g_critical ("%s: %s must be %s, not %s", G_STRFUNC, #t,                 \
        t2i_dtype_name (dt), t2i_dtype_name ((t)->dtype));                  \
    return ret;                                                             \
  } } G_STMT_END

/* both non-NULL and on one device */
#define T2I_CHECK_SAME_DEVICE(a, b, ret) G_STMT_START {                     \
  T2I_CHECK_NOT_NULL (a, ret);                                              \
  T2I_CHECK_NOT_NULL (b, ret);                                              \
  if (G_UNLIKELY ((a)->device != (b)->device)) {                            \
    g_critical ("%s: %s is on %s and %s on %s; move one with "              \
        "t2i_tensor_to_device()", G_STRFUNC, #a,                            \
        t2i_device_name ((a)->device), #b, t2i_device_name ((b)->device));  \
    return ret;                                                             \
  } } G_STMT_END

/* both non-NULL, on one device and of one dtype */
#define T2I_CHECK_SAME_DTYPE(a, b, ret) G_STMT_START {                      \
  T2I_CHECK_SAME_DEVICE (a, b, ret);                                        \
  if (G_UNLIKELY ((a)->dtype != (b)->dtype)) {                              \
    g_critical ("%s: dtypes differ (%s is %s, %s is %s)", G_STRFUNC, #a,    \
        t2i_dtype_name ((a)->dtype), #b, t2i_dtype_name ((b)->dtype));      \
    return ret;                                                             \
  } } G_STMT_END

/* both non-NULL and of one shape */
#define T2I_CHECK_SAME_SHAPE(a, b, ret) G_STMT_START {                      \
  T2I_CHECK_NOT_NULL (a, ret);                                              \
  T2I_CHECK_NOT_NULL (b, ret);                                              \
  if (G_UNLIKELY (!t2i_tensor_same_shape ((a), (b)))) {                     \
    g_autofree char *_sa = t2i_shape_to_string ((a)->ndim, (a)->shape);     \
    g_autofree char *_sb = t2i_shape_to_string ((b)->ndim, (b)->shape);     \
    g_critical ("%s: shapes differ (%s is %s, %s is %s)", G_STRFUNC, #a,    \
        _sa, #b, _sb);                                                      \
    return ret;                                                             \
  } } G_STMT_END

/* ---- broadcasting ---- */

/**
 * t2i_broadcast_shapes:
 *
 * NumPy broadcasting of two shapes (aligned at the last dim; a dim of 1
 * stretches).  Writes the result to @ndim / @shape (%T2I_MAX_DIMS
 * entries) and returns %TRUE, or returns %FALSE when they do not
 * broadcast.  Does not log.
 */
static inline gboolean
t2i_broadcast_shapes (gint nda, const gint64 * sa, gint ndb, const gint64 * sb,
    gint * ndim, gint64 * shape)
{
  gint nd = MAX (nda, ndb);
  for (gint k = 0; k < nd; k++) {
    gint ia = nda - nd + k, ib = ndb - nd + k;
    gint64 da = ia >= 0 ? sa[ia] : 1;
    gint64 db = ib >= 0 ? sb[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return FALSE;
    shape[k] = da == 1 ? db : da;
  }
  *ndim = nd;
  return TRUE;
}

/**
 * t2i_broadcast_shape:
 * @ndim: (out): rank of the result
 * @shape: (out): %T2I_MAX_DIMS entries, the broadcast shape
 *
 * Returns: %TRUE when @a and @b broadcast; otherwise g_critical()s with
 * both shapes and returns %FALSE.
 */
static inline gboolean
t2i_broadcast_shape (const T2iTensor * a, const T2iTensor * b, gint * ndim,
    gint64 * shape)
{
  if (t2i_broadcast_shapes (a->ndim, a->shape, b->ndim, b->shape, ndim, shape))
    return TRUE;
  g_autofree char *sa = t2i_shape_to_string (a->ndim, a->shape);
  g_autofree char *sb = t2i_shape_to_string (b->ndim, b->shape);
  g_critical ("t2i: shapes %s and %s do not broadcast", sa, sb);
  return FALSE;
}

/**
 * t2i_broadcast_strides:
 *
 * Element strides (%T2I_MAX_DIMS entries, indexed like @out_shape) that
 * read a contiguous tensor of shape @in_shape as if it had @out_shape:
 * 0 for dims that are broadcast or missing.  @in_shape must broadcast to
 * @out_shape.
 */
static inline void
t2i_broadcast_strides (gint in_ndim, const gint64 * in_shape, gint out_ndim,
    const gint64 * out_shape, gint64 * strides)
{
  gint64 s = 1;
  for (gint k = out_ndim - 1; k >= 0; k--) {
    gint i = in_ndim - out_ndim + k;
    if (i < 0 || in_shape[i] == 1) {
      strides[k] = 0;
    } else {
      strides[k] = s;
      s *= in_shape[i];
    }
  }
  (void) out_shape;
}

/* ---- axes ---- */

/**
 * t2i_ops_norm_axis:
 *
 * Maps @axis (negative counts from the end) into [0, @ndim); g_critical()s
 * and returns %FALSE when out of range.
 */
static inline gboolean
t2i_ops_norm_axis (gint axis, gint ndim, gint * out)
{
  gint a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) {
    g_critical ("t2i: axis %d out of range for a %d-d tensor", axis, ndim);
    return FALSE;
  }
  *out = a;
  return TRUE;
}

/**
 * t2i_ops_axis_split:
 *
 * Views a contiguous @t as [@outer, @n, @inner] around @axis (already
 * normalised): element (o, k, i) lives at (o * n + k) * inner + i.
 */
static inline void
t2i_ops_axis_split (const T2iTensor * t, gint axis, gint64 * outer, gint64 * n,
    gint64 * inner)
{
  gint64 o = 1, in = 1;
  for (gint k = 0; k < axis; k++)
    o *= t->shape[k];
  for (gint k = axis + 1; k < t->ndim; k++)
    in *= t->shape[k];
  *outer = o;
  *n = t->shape[axis];
  *inner = in;
}

/* ---- autograd recording ---- */

/**
 * t2i_ops_record:
 * @out: (transfer none): the op's freshly computed output (may be %NULL)
 *
 * When grad mode is on and one of @inputs requires grad, creates the node,
 * attaches it to @out and returns it (borrowed: fill ->f, ->i, ->saved
 * afterwards).  Otherwise returns %NULL and records nothing.
 */
static inline T2iNode *
t2i_ops_record (T2iTensor * out, const char *name, T2iBackwardFn backward,
    gint n, T2iTensor ** inputs)
{
  if (!out || !t2i_any_requires_grad (n, inputs))
    return NULL;
  T2iNode *node = t2i_node_new (name, backward, n, inputs);
  t2i_node_attach (node, out);
  return node;
}

/**
 * T2I_RECORD:
 * @out: the output
 * @name: static op name
 * @bw: its #T2iBackwardFn
 * @...: the inputs, in the order backward expects them
 *
 * One-line t2i_ops_record(): `T2iNode *node = T2I_RECORD (out, "mul",
 * mul_backward, a, b); if (node) node->f[0] = ...;`
 */
#define T2I_RECORD(out, name, bw, ...)                                      \
  t2i_ops_record ((out), (name), (bw),                                      \
      (gint) G_N_ELEMENTS (((T2iTensor *[]) { __VA_ARGS__ })),              \
      ((T2iTensor *[]) { __VA_ARGS__ }))

/**
 * t2i_ops_save_output:
 *
 * Saves the op's own output @out for backward in @node->saved[@slot] as a
 * detached alias (shares the data, holds no node), so the node does not
 * keep its output alive in a cycle.  A backward that must stay
 * differentiable (create_graph) recomputes the output from the inputs with
 * the public op when t2i_grad_enabled() is TRUE, and uses this saved copy
 * otherwise.
 */
static inline void
t2i_ops_save_output (T2iNode * node, gint slot, T2iTensor * out)
{
  if (!node)
    return;
  T2iTensor *d = t2i_detach (out);
  t2i_node_save (node, slot, d);
  t2i_tensor_unref (d);
}

/* a new tensor of @t's dtype and device and @ndim/@shape (uninitialised) */
static inline T2iTensor *
t2i_ops_new_shape (const T2iTensor * t, gint ndim, const gint64 * shape)
{
  return t2i_tensor_new_on (t->device, t->dtype, ndim, shape);
}

/* ---- graph-free compute helpers (implemented in elementwise.c, reduce.c
 * and shape.c).  None of these records a node. ---- */

/**
 * T2iMapFn:
 * @x: @n input elements (float or double, as the dtype of the call)
 * @out: @n output elements of the same type
 * @p: the parameter array given to t2i_ops_map() (may be %NULL)
 */
typedef void (*T2iMapFn) (const void *x, void *out, gint64 n, const double *p);
/* like #T2iMapFn with two inputs of @n elements each */
typedef void (*T2iZipFn) (const void *a, const void *b, void *out, gint64 n,
    const double *p);

/* out[i] = f(x[i]) in chunks, OpenMP above the threshold; @x f32 or f64 */
G_GNUC_INTERNAL T2iTensor *t2i_ops_map (const T2iTensor * x, T2iMapFn f32,
    T2iMapFn f64, const double *p);
/* out[i] = f(a[i], b[i]); @a and @b of one shape and float dtype */
G_GNUC_INTERNAL T2iTensor *t2i_ops_zip (const T2iTensor * a,
    const T2iTensor * b, T2iZipFn f32, T2iZipFn f64, const double *p);

/**
 * t2i_ops_strided_copy:
 * @dst: contiguous destination of @ndim/@shape
 * @src: source, element (i0..in) at sum(i_k * @src_strides[k]) elements
 *   (strides may be 0: broadcasting)
 *
 * Gathers any strided view into a contiguous buffer (permute, expand,
 * slices), with blocked transposes for the common layout swaps.
 */
G_GNUC_INTERNAL void t2i_ops_strided_copy (void *dst, const void *src,
    gsize elsize, gint ndim, const gint64 * shape, const gint64 * src_strides);

/**
 * t2i_ops_sum_reduce:
 * @kshape: @g->ndim entries: @g's shape with 1 at every summed dim
 *
 * Sums @g (f32 or f64) over the dims where @kshape is 1 and @g is not;
 * returns a new tensor of @out_ndim/@out_shape, which must have the
 * numel of @kshape (the keepdim shape or any reshaping of it).
 */
G_GNUC_INTERNAL T2iTensor *t2i_ops_sum_reduce (const T2iTensor * g,
    const gint64 * kshape, gint out_ndim, const gint64 * out_shape);

/**
 * t2i_ops_reshape_copy:
 *
 * t2i_reshape() into fresh storage (recorded, differentiable).  Backward
 * functions use it instead of t2i_reshape() for a gradient they return:
 * the engine may accumulate into a returned gradient in place, so it must
 * not share storage with another tensor.
 */
G_GNUC_INTERNAL T2iTensor *t2i_ops_reshape_copy (T2iTensor * a, gint ndim,
    const gint64 * shape);

/* log(sum(exp(x))) of @n contiguous elements of @dtype (f32/f64), max
 * shifted; -inf for all -inf */
G_GNUC_INTERNAL double t2i_ops_row_logsumexp (const void *x, T2iDType dtype,
    gint64 n);
/* softmax of @n contiguous elements into @y (may not alias @x) */
G_GNUC_INTERNAL void t2i_ops_row_softmax (const void *x, void *y,
    T2iDType dtype, gint64 n);

G_END_DECLS
