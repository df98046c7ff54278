/* Reductions: sum, mean, max, logsumexp, softmax, log_softmax, sum over
 * several axes, argmax; and the graph-free sum kernel that
 * t2i_sum_to_shape() shares.
 *
 * Sums collapse the tensor into alternating kept/summed dims and run
 * contiguous inner loops: a summed innermost dim is a row sum (accumulated
 * in double), a kept innermost dim is a vector add of rows.  Work is split
 * across threads by output element (or by column chunks when there are
 * few outputs), so no two threads write the same output.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ops-internal.h"

#include <math.h>

/* ------------------------------------------------------------------ */
/* the sum kernel                                                      */
/* ------------------------------------------------------------------ */

typedef struct
{
  gint nd;
  gint64 shape[T2I_MAX_DIMS];
  gint64 gs[T2I_MAX_DIMS];      /* element strides in the source */
  gint64 os[T2I_MAX_DIMS];      /* element strides in the output */
  gboolean red[T2I_MAX_DIMS];   /* summed dim */
  /* outer dims (all but the last) split by kind */
  gint kd[T2I_MAX_DIMS], rd[T2I_MAX_DIMS];
  gint nk, nr;
  gint64 P, R, L;               /* kept outer count, summed outer count, last */
} RedPlan;

static void
red_plan (const T2iTensor * g, const gint64 * kshape, RedPlan * pl)
{
  gint64 gs[T2I_MAX_DIMS], os[T2I_MAX_DIMS], s = 1, t = 1;
  gboolean red[T2I_MAX_DIMS];

  for (gint d = g->ndim - 1; d >= 0; d--) {
    red[d] = kshape[d] != g->shape[d];
    gs[d] = s;
    s *= g->shape[d];
    os[d] = red[d] ? 0 : t;
    t *= kshape[d];
  }
  pl->nd = 0;
  for (gint d = 0; d < g->ndim; d++) {
    gint64 n = g->shape[d];
    gint c = pl->nd;
    if (n == 1)
      continue;
    if (c > 0 && pl->red[c - 1] == red[d] && pl->gs[c - 1] == gs[d] * n
        && pl->os[c - 1] == os[d] * n) {
      pl->shape[c - 1] *= n;
      pl->gs[c - 1] = gs[d];
      pl->os[c - 1] = os[d];
    } else {
      pl->shape[c] = n;
      pl->gs[c] = gs[d];
      pl->os[c] = os[d];
      pl->red[c] = red[d];
      pl->nd++;
    }
  }
  pl->nk = pl->nr = 0;
  pl->P = pl->R = 1;
  pl->L = pl->nd ? pl->shape[pl->nd - 1] : 1;
  for (gint d = 0; d < pl->nd - 1; d++) {
    if (pl->red[d]) {
      pl->rd[pl->nr++] = d;
      pl->R *= pl->shape[d];
    } else {
      pl->kd[pl->nk++] = d;
      pl->P *= pl->shape[d];
    }
  }
}

/* offsets of multi-index number @idx over @dims (row-major in that order) */
static inline void
red_unravel (gint64 idx, const gint * dims, gint n, const RedPlan * pl,
    gint64 * goff, gint64 * ooff)
{
  gint64 go = 0, oo = 0;
  for (gint j = n - 1; j >= 0; j--) {
    gint d = dims[j];
    gint64 i = idx % pl->shape[d];
    idx /= pl->shape[d];
    go += i * pl->gs[d];
    oo += i * pl->os[d];
  }
  *goff = go;
  if (ooff)
    *ooff = oo;
}

/* Row sums: 16 (8) independent float (double) accumulators over blocks of
 * 4096 elements, blocks added in double: vectorises without -ffast-math,
 * is not latency-bound, and keeps f32 error small. */
#define ROW_BLOCK 4096

T2I_OPS_CLONES static double
row_sum_f32 (const float *restrict x, gint64 n)
{
  double total = 0;
  for (gint64 b = 0; b < n; b += ROW_BLOCK) {
    gint64 e = MIN (n, b + ROW_BLOCK), i = b;
    float acc[16] = { 0 };
    for (; i + 16 <= e; i += 16)
      for (gint j = 0; j < 16; j++)
        acc[j] += x[i + j];
    double s = 0;
    for (; i < e; i++)
      s += x[i];
    for (gint j = 0; j < 16; j++)
      s += acc[j];
    total += s;
  }
  return total;
}

T2I_OPS_CLONES static double
row_sum_f64 (const double *restrict x, gint64 n)
{
  double acc[8] = { 0 }, s = 0;
  gint64 i = 0;
  for (; i + 8 <= n; i += 8)
    for (gint j = 0; j < 8; j++)
      acc[j] += x[i + j];
  for (; i < n; i++)
    s += x[i];
  for (gint j = 0; j < 8; j++)
    s += acc[j];
  return s;
}

#define DEF_SUM_REDUCE(NAME, T, ROWSUM)                                             \
static void                                                                 \
NAME (const RedPlan * pl, const T * g, T * o, gint64 total)                 \
{                                                                           \
  gboolean par = total >= T2I_OPS_PARALLEL_THRESHOLD;                       \
  gint64 L = pl->L, P = pl->P, R = pl->R;                                   \
  if (pl->nd == 0 || !pl->red[pl->nd - 1]) {                                \
    /* kept innermost dim: out rows of L += source rows */                  \
    gint64 ncc = 1, cw = L;                                                 \
    if (par && P < 8 && L >= 2048) {                                        \
      ncc = MIN ((L + 1023) / 1024, 64);                                    \
      cw = (L + ncc - 1) / ncc;                                             \
    }                                                                       \
    gint64 tasks = P * ncc;                                                 \
    _Pragma ("omp parallel for if (par && tasks > 1)")                      \
    for (gint64 tk = 0; tk < tasks; tk++) {                                 \
      gint64 p = tk / ncc, l0 = (tk % ncc) * cw, l1 = MIN (L, l0 + cw);     \
      gint64 gk, ok;                                                        \
      if (l0 >= l1)                                                         \
        continue;                                                           \
      red_unravel (p, pl->kd, pl->nk, pl, &gk, &ok);                        \
      T *restrict dst = o + ok;                                             \
      for (gint64 r = 0; r < R; r++) {                                      \
        gint64 gr;                                                          \
        red_unravel (r, pl->rd, pl->nr, pl, &gr, NULL);                     \
        const T *restrict src = g + gk + gr;                                \
        if (r == 0) {                                                       \
          _Pragma ("omp simd")                                              \
          for (gint64 l = l0; l < l1; l++)                                  \
            dst[l] = src[l];                                                \
        } else {                                                            \
          _Pragma ("omp simd")                                              \
          for (gint64 l = l0; l < l1; l++)                                  \
            dst[l] += src[l];                                               \
        }                                                                   \
      }                                                                     \
    }                                                                       \
  } else if (P >= 8 || !par) {                                              \
    /* summed innermost dim, many outputs: one output per task */           \
    _Pragma ("omp parallel for if (par && P > 1)")                          \
    for (gint64 p = 0; p < P; p++) {                                        \
      gint64 gk, ok;                                                        \
      double acc = 0;                                                       \
      red_unravel (p, pl->kd, pl->nk, pl, &gk, &ok);                        \
      for (gint64 r = 0; r < R; r++) {                                      \
        gint64 gr;                                                          \
        red_unravel (r, pl->rd, pl->nr, pl, &gr, NULL);                     \
        const T *restrict src = g + gk + gr;                                \
        acc += ROWSUM (src, L);                                             \
      }                                                                     \
      o[ok] = (T) acc;                                                      \
    }                                                                       \
  } else {                                                                  \
    /* few outputs: split each one's sum across threads */                  \
    gint64 ncc = MAX ((gint64) 1, MIN ((L + 4095) / 4096, 256));            \
    gint64 cw = (L + ncc - 1) / ncc, tasks = R * ncc;                       \
    for (gint64 p = 0; p < P; p++) {                                        \
      gint64 gk, ok;                                                        \
      double acc = 0;                                                       \
      red_unravel (p, pl->kd, pl->nk, pl, &gk, &ok);                        \
      _Pragma ("omp parallel for reduction (+:acc)")                        \
      for (gint64 tk = 0; tk < tasks; tk++) {                               \
        gint64 r = tk / ncc, l0 = (tk % ncc) * cw, l1 = MIN (L, l0 + cw);   \
        gint64 gr;                                                          \
        red_unravel (r, pl->rd, pl->nr, pl, &gr, NULL);                     \
        const T *restrict src = g + gk + gr;                                \
        acc += ROWSUM (src + l0, l1 - l0);                                  \
      }                                                                     \
      o[ok] = (T) acc;                                                      \
    }                                                                       \
  }                                                                         \
}

DEF_SUM_REDUCE (sum_reduce_f32, float, row_sum_f32)
DEF_SUM_REDUCE (sum_reduce_f64, double, row_sum_f64)

T2iTensor *
t2i_ops_sum_reduce (const T2iTensor * g, const gint64 * kshape, gint out_ndim,
    const gint64 * out_shape)
{
  T2iTensor *out = t2i_tensor_new (g->dtype, out_ndim, out_shape);
  g_return_val_if_fail (out->numel == t2i_shape_numel (g->ndim, kshape), out);

  if (g->numel == 0) {
    memset (out->data, 0, out->nbytes);
    return out;
  }
  RedPlan pl;
  red_plan (g, kshape, &pl);
  if (g->dtype == T2I_F32)
    sum_reduce_f32 (&pl, g->data, out->data, g->numel);
  else
    sum_reduce_f64 (&pl, g->data, out->data, g->numel);
  return out;
}

/* The CPU table's sum entry: the sum kernel, then (for means) a scale
 * by @scale in the output dtype. */
T2iTensor *
t2i_cpu_sum_reduce (const T2iTensor * g, const gint64 * kshape, gint out_ndim,
    const gint64 * out_shape, double scale)
{
  T2iTensor *out = t2i_ops_sum_reduce (g, kshape, out_ndim, out_shape);
  if (scale != 1.0) {
    if (out->dtype == T2I_F32) {
      float *o = out->data, sc = (float) scale;
      for (gint64 i = 0; i < out->numel; i++)
        o[i] *= sc;
    } else {
      double *o = out->data;
      for (gint64 i = 0; i < out->numel; i++)
        o[i] *= scale;
    }
  }
  return out;
}

/* ------------------------------------------------------------------ */
/* shapes of reductions                                                */
/* ------------------------------------------------------------------ */

/* Resolves @axis (or T2I_ALL_AXES) of @a into a mask of reduced dims. */
static gboolean
axis_mask (const T2iTensor * a, gint axis, guint * mask)
{
  if (axis == T2I_ALL_AXES) {
    *mask = (1u << a->ndim) - 1;
    return TRUE;
  }
  gint ax;
  if (!t2i_ops_norm_axis (axis, a->ndim, &ax))
    return FALSE;
  *mask = 1u << ax;
  return TRUE;
}

/* keepdim shape (@a->ndim dims) and output shape for reducing @mask */
static void
reduced_shapes (const T2iTensor * a, guint mask, gboolean keepdim,
    gint64 * kshape, gint * out_nd, gint64 * out_shape)
{
  gint nd = 0;
  for (gint d = 0; d < a->ndim; d++) {
    gboolean r = (mask >> d) & 1;
    kshape[d] = r ? 1 : a->shape[d];
    if (keepdim || !r)
      out_shape[nd++] = kshape[d];
  }
  *out_nd = nd;
}

/* @g reshaped to the keepdim shape of a reduction of @in (differentiable) */
static T2iTensor *
grad_keepdim (T2iTensor * g, const T2iTensor * in, guint mask)
{
  gint64 kshape[T2I_MAX_DIMS], os[T2I_MAX_DIMS];
  gint ond;
  reduced_shapes (in, mask, TRUE, kshape, &ond, os);
  return t2i_reshape (g, in->ndim, kshape);
}

/* ------------------------------------------------------------------ */
/* sum, mean, sum_axes                                                 */
/* ------------------------------------------------------------------ */

static void
sum_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  if (g->numel == a->numel) {
    /* nothing was reduced (size-1 axes): a reshape, into fresh storage */
    g_autoptr (T2iTensor) r = t2i_ops_reshape_copy (g, a->ndim, a->shape);
    gin[0] = node->f[0] == 1.0 ? g_steal_pointer (&r)
        : t2i_mul_scalar (r, node->f[0]);
    return;
  }
  g_autoptr (T2iTensor) gk = grad_keepdim (g, a, (guint) node->i[0]);
  if (node->f[0] == 1.0) {
    gin[0] = t2i_expand (gk, a->ndim, a->shape);
  } else {
    g_autoptr (T2iTensor) e = t2i_expand (gk, a->ndim, a->shape);
    gin[0] = t2i_mul_scalar (e, node->f[0]);
  }
}

/* sum (scale 1) or mean (scale 1/count) over @mask */
static T2iTensor *
sum_mask (T2iTensor * a, guint mask, gboolean keepdim, gboolean mean,
    const char *name)
{
  gint64 kshape[T2I_MAX_DIMS], os[T2I_MAX_DIMS];
  gint ond;
  reduced_shapes (a, mask, keepdim, kshape, &ond, os);
  double scale = 1.0;
  if (mean) {
    gint64 outn = t2i_shape_numel (ond, os);
    gint64 cnt = outn ? a->numel / outn : 0;
    scale = 1.0 / (double) cnt;
  }
  T2iTensor *out = T2I_BACKEND (a)->sum_reduce (a, kshape, ond, os, scale);
  T2iNode *node = T2I_RECORD (out, name, sum_backward, a);
  if (node) {
    node->i[0] = mask;
    node->f[0] = scale;
  }
  return out;
}

/**
 * t2i_sum:
 * Sum over @axis (negative counts from the end) or over everything with
 * %T2I_ALL_AXES; @keepdim keeps the reduced dims as 1.
 */
T2iTensor *
t2i_sum (T2iTensor * a, gint axis, gboolean keepdim)
{
  guint mask;
  T2I_CHECK_FLOAT (a, NULL);
  if (!axis_mask (a, axis, &mask))
    return NULL;
  return sum_mask (a, mask, keepdim, FALSE, "sum");
}

/**
 * t2i_mean:
 * Mean over @axis or over everything (%T2I_ALL_AXES).
 */
T2iTensor *
t2i_mean (T2iTensor * a, gint axis, gboolean keepdim)
{
  guint mask;
  T2I_CHECK_FLOAT (a, NULL);
  if (!axis_mask (a, axis, &mask))
    return NULL;
  return sum_mask (a, mask, keepdim, TRUE, "mean");
}

/**
 * t2i_sum_axes:
 * Sum over every axis i with bit i of @axes_mask set.
 */
T2iTensor *
t2i_sum_axes (T2iTensor * a, guint axes_mask, gboolean keepdim)
{
  T2I_CHECK_FLOAT (a, NULL);
  if (axes_mask >> a->ndim) {
    g_critical ("t2i_sum_axes: mask 0x%x names axes beyond a %d-d tensor",
        axes_mask, a->ndim);
    return NULL;
  }
  return sum_mask (a, axes_mask, keepdim, FALSE, "sum_axes");
}

/* ------------------------------------------------------------------ */
/* line kernels: max, argmax, logsumexp, softmax, log_softmax           */
/* ------------------------------------------------------------------ */

/* A reduction along one axis is a set of lines of @n elements spaced
 * @inner apart: line j starts at (j / inner) * n * inner + j % inner. */
typedef struct
{
  gint64 outer, n, inner, lines;
} Lines;

static void
lines_of (const T2iTensor * a, gint axis, Lines * ln)
{
  if (axis == T2I_ALL_AXES) {
    ln->outer = 1;
    ln->n = a->numel;
    ln->inner = 1;
  } else {
    t2i_ops_axis_split (a, axis, &ln->outer, &ln->n, &ln->inner);
  }
  ln->lines = ln->outer * ln->inner;
}

static inline gint64
line_base (const Lines * ln, gint64 j)
{
  return (j / ln->inner) * ln->n * ln->inner + j % ln->inner;
}

/* max and first argmax of every line */
#define DEF_MAX_LINES(NAME, T)                                              \
static void                                                                 \
NAME (const Lines * ln, const T * x, T * y, gint32 * idx)                   \
{                                                                           \
  gint64 st = ln->inner;                                                    \
  _Pragma ("omp parallel for if (ln->lines * ln->n >= T2I_OPS_PARALLEL_THRESHOLD)") \
  for (gint64 j = 0; j < ln->lines; j++) {                                  \
    const T *p = x + line_base (ln, j);                                     \
    T m = p[0];                                                             \
    gint64 mi = 0;                                                          \
    for (gint64 k = 1; k < ln->n; k++) {                                    \
      T v = p[k * st];                                                      \
      if (v > m || (isnan (v) && !isnan (m))) {                             \
        m = v;                                                              \
        mi = k;                                                             \
      }                                                                     \
    }                                                                       \
    if (y)                                                                  \
      y[j] = m;                                                             \
    if (idx)                                                                \
      idx[j] = (gint32) mi;                                                 \
  }                                                                         \
}

DEF_MAX_LINES (max_lines_f32, float)
DEF_MAX_LINES (max_lines_f64, double)

static void
max_lines_i32 (const Lines * ln, const gint32 * x, gint32 * idx)
{
  for (gint64 j = 0; j < ln->lines; j++) {
    const gint32 *p = x + line_base (ln, j);
    gint32 m = p[0];
    gint64 mi = 0;
    for (gint64 k = 1; k < ln->n; k++)
      if (p[k * ln->inner] > m) {
        m = p[k * ln->inner];
        mi = k;
      }
    idx[j] = (gint32) mi;
  }
}

/* Contiguous row kernels (the common case: the last axis).  Sums of
 * exponentials accumulate in T within blocks and in double across. */
#define DEF_ROW_KERNELS(SFX, T, EXP)                                        \
T2I_OPS_CLONES static T                                                     \
row_max_##SFX (const T * restrict x, gint64 n)                              \
{                                                                           \
  T m = -INFINITY;                                                          \
  _Pragma ("omp simd reduction (max:m)")                                    \
  for (gint64 i = 0; i < n; i++)                                            \
    m = x[i] > m ? x[i] : m;                                                \
  return m;                                                                 \
}                                                                           \
                                                                            \
/* sum of exp(x - m); stores the exponentials in y unless y is NULL */      \
T2I_OPS_CLONES static double                                                \
row_expsum_##SFX (const T * restrict x, T * restrict y, gint64 n, T m)      \
{                                                                           \
  double total = 0;                                                         \
  for (gint64 b = 0; b < n; b += ROW_BLOCK) {                               \
    gint64 e = MIN (n, b + ROW_BLOCK);                                      \
    T acc = 0;                                                              \
    if (y) {                                                                \
      _Pragma ("omp simd reduction (+:acc)")                                \
      for (gint64 i = b; i < e; i++) {                                      \
        T v = EXP (x[i] - m);                                               \
        y[i] = v;                                                           \
        acc += v;                                                           \
      }                                                                     \
    } else {                                                                \
      _Pragma ("omp simd reduction (+:acc)")                                \
      for (gint64 i = b; i < e; i++)                                        \
        acc += EXP (x[i] - m);                                              \
    }                                                                       \
    total += acc;                                                           \
  }                                                                         \
  return total;                                                             \
}                                                                           \
                                                                            \
T2I_OPS_CLONES static void                                                  \
row_scale_##SFX (T * restrict y, gint64 n, T s)                             \
{                                                                           \
  _Pragma ("omp simd")                                                      \
  for (gint64 i = 0; i < n; i++)                                            \
    y[i] *= s;                                                              \
}                                                                           \
                                                                            \
/* y = (x - m) - c */                                                       \
T2I_OPS_CLONES static void                                                  \
row_shift_##SFX (const T * restrict x, T * restrict y, gint64 n, T m, T c)  \
{                                                                           \
  _Pragma ("omp simd")                                                      \
  for (gint64 i = 0; i < n; i++)                                            \
    y[i] = (x[i] - m) - c;                                                  \
}                                                                           \
                                                                            \
T2I_OPS_CLONES static double                                                \
row_dot_##SFX (const T * restrict a, const T * restrict b, gint64 n)        \
{                                                                           \
  double total = 0;                                                         \
  for (gint64 k = 0; k < n; k += ROW_BLOCK) {                               \
    gint64 e = MIN (n, k + ROW_BLOCK);                                      \
    T acc = 0;                                                              \
    _Pragma ("omp simd reduction (+:acc)")                                  \
    for (gint64 i = k; i < e; i++)                                          \
      acc += a[i] * b[i];                                                   \
    total += acc;                                                           \
  }                                                                         \
  return total;                                                             \
}                                                                           \
                                                                            \
/* gx = y * (g - d) */                                                      \
T2I_OPS_CLONES static void                                                  \
row_softmax_bw_##SFX (const T * restrict y, const T * restrict g,           \
    T * restrict gx, gint64 n, T d)                                         \
{                                                                           \
  _Pragma ("omp simd")                                                      \
  for (gint64 i = 0; i < n; i++)                                            \
    gx[i] = y[i] * (g[i] - d);                                              \
}                                                                           \
                                                                            \
/* gx = g - exp(y) * s */                                                   \
T2I_OPS_CLONES static void                                                  \
row_logsoftmax_bw_##SFX (const T * restrict y, const T * restrict g,        \
    T * restrict gx, gint64 n, T s)                                         \
{                                                                           \
  _Pragma ("omp simd")                                                      \
  for (gint64 i = 0; i < n; i++)                                            \
    gx[i] = g[i] - EXP (y[i]) * s;                                          \
}

DEF_ROW_KERNELS (f32, float, expf)
DEF_ROW_KERNELS (f64, double, exp)

/* logsumexp of every line, shifted by the line max */
#define DEF_LSE_LINES(NAME, SFX, T, EXP)                                    \
static void                                                                 \
NAME (const Lines * ln, const T * x, T * y)                                 \
{                                                                           \
  gint64 st = ln->inner;                                                    \
  _Pragma ("omp parallel for if (ln->lines * ln->n >= T2I_OPS_PARALLEL_THRESHOLD)") \
  for (gint64 j = 0; j < ln->lines; j++) {                                  \
    const T *p = x + line_base (ln, j);                                     \
    T m;                                                                    \
    double s = 0;                                                           \
    if (st == 1) {                                                          \
      m = row_max_##SFX (p, ln->n);                                         \
      if (!isinf (m))                                                       \
        s = row_expsum_##SFX (p, NULL, ln->n, m);                           \
    } else {                                                                \
      m = -INFINITY;                                                        \
      for (gint64 k = 0; k < ln->n; k++)                                    \
        m = p[k * st] > m ? p[k * st] : m;                                  \
      if (!isinf (m))                                                       \
        for (gint64 k = 0; k < ln->n; k++)                                  \
          s += EXP (p[k * st] - m);                                         \
    }                                                                       \
    y[j] = isinf (m) ? m : m + (T) log (s);                                 \
  }                                                                         \
}

DEF_LSE_LINES (lse_lines_f32, f32, float, expf)
DEF_LSE_LINES (lse_lines_f64, f64, double, exp)

/* softmax (lg FALSE) or log_softmax (lg TRUE) of every line */
#define DEF_SOFTMAX_LINES(NAME, SFX, T, EXP)                                \
static void                                                                 \
NAME (const Lines * ln, const T * x, T * y, gboolean lg)                    \
{                                                                           \
  gint64 st = ln->inner;                                                    \
  _Pragma ("omp parallel for if (ln->lines * ln->n >= T2I_OPS_PARALLEL_THRESHOLD)") \
  for (gint64 j = 0; j < ln->lines; j++) {                                  \
    gint64 b = line_base (ln, j);                                           \
    const T *p = x + b;                                                     \
    T *q = y + b;                                                           \
    if (st == 1) {                                                          \
      T m = row_max_##SFX (p, ln->n);                                       \
      if (isinf (m) && m < 0)                                               \
        m = 0;                                                              \
      if (lg) {                                                             \
        double s = row_expsum_##SFX (p, NULL, ln->n, m);                    \
        row_shift_##SFX (p, q, ln->n, m, (T) log (s));                      \
      } else {                                                              \
        double s = row_expsum_##SFX (p, q, ln->n, m);                       \
        row_scale_##SFX (q, ln->n, (T) (1.0 / s));                          \
      }                                                                     \
      continue;                                                             \
    }                                                                       \
    T m = -INFINITY;                                                        \
    for (gint64 k = 0; k < ln->n; k++)                                      \
      m = p[k * st] > m ? p[k * st] : m;                                    \
    if (isinf (m) && m < 0)                                                 \
      m = 0;                                                                \
    double s = 0;                                                           \
    if (lg) {                                                               \
      for (gint64 k = 0; k < ln->n; k++)                                    \
        s += EXP (p[k * st] - m);                                           \
      T ls = (T) log (s);                                                   \
      for (gint64 k = 0; k < ln->n; k++)                                    \
        q[k * st] = (p[k * st] - m) - ls;                                   \
    } else {                                                                \
      for (gint64 k = 0; k < ln->n; k++) {                                  \
        T e = EXP (p[k * st] - m);                                          \
        q[k * st] = e;                                                      \
        s += e;                                                             \
      }                                                                     \
      T inv = (T) (1.0 / s);                                                \
      for (gint64 k = 0; k < ln->n; k++)                                    \
        q[k * st] *= inv;                                                   \
    }                                                                       \
  }                                                                         \
}

DEF_SOFTMAX_LINES (softmax_lines_f32, f32, float, expf)
DEF_SOFTMAX_LINES (softmax_lines_f64, f64, double, exp)

/* fast (graph-free) softmax backward: gx = y * (g - sum(g * y)) */
#define DEF_SOFTMAX_BW_LINES(NAME, SFX, T)                                  \
static void                                                                 \
NAME (const Lines * ln, const T * y, const T * g, T * gx)                   \
{                                                                           \
  gint64 st = ln->inner;                                                    \
  _Pragma ("omp parallel for if (ln->lines * ln->n >= T2I_OPS_PARALLEL_THRESHOLD)") \
  for (gint64 j = 0; j < ln->lines; j++) {                                  \
    gint64 b = line_base (ln, j);                                           \
    if (st == 1) {                                                          \
      T d = (T) row_dot_##SFX (g + b, y + b, ln->n);                        \
      row_softmax_bw_##SFX (y + b, g + b, gx + b, ln->n, d);                \
      continue;                                                             \
    }                                                                       \
    double dot = 0;                                                         \
    for (gint64 k = 0; k < ln->n; k++)                                      \
      dot += (double) g[b + k * st] * y[b + k * st];                        \
    T d = (T) dot;                                                          \
    for (gint64 k = 0; k < ln->n; k++)                                      \
      gx[b + k * st] = y[b + k * st] * (g[b + k * st] - d);                 \
  }                                                                         \
}

DEF_SOFTMAX_BW_LINES (softmax_bw_lines_f32, f32, float)
DEF_SOFTMAX_BW_LINES (softmax_bw_lines_f64, f64, double)

/* fast log_softmax backward: gx = g - exp(y) * sum(g) */
#define DEF_LOGSOFTMAX_BW_LINES(NAME, SFX, T, EXP)                          \
static void                                                                 \
NAME (const Lines * ln, const T * y, const T * g, T * gx)                   \
{                                                                           \
  gint64 st = ln->inner;                                                    \
  _Pragma ("omp parallel for if (ln->lines * ln->n >= T2I_OPS_PARALLEL_THRESHOLD)") \
  for (gint64 j = 0; j < ln->lines; j++) {                                  \
    gint64 b = line_base (ln, j);                                           \
    if (st == 1) {                                                          \
      T s = (T) row_sum_##SFX (g + b, ln->n);                               \
      row_logsoftmax_bw_##SFX (y + b, g + b, gx + b, ln->n, s);             \
      continue;                                                             \
    }                                                                       \
    double sg = 0;                                                          \
    for (gint64 k = 0; k < ln->n; k++)                                      \
      sg += g[b + k * st];                                                  \
    T s = (T) sg;                                                           \
    for (gint64 k = 0; k < ln->n; k++)                                      \
      gx[b + k * st] = g[b + k * st] - EXP (y[b + k * st]) * s;             \
  }                                                                         \
}

DEF_LOGSOFTMAX_BW_LINES (logsoftmax_bw_lines_f32, f32, float, expf)
DEF_LOGSOFTMAX_BW_LINES (logsoftmax_bw_lines_f64, f64, double, exp)

/* ---- the CPU table's line entries ---- */

gboolean
t2i_cpu_max_lines (const T2iTensor * a, gint axis, T2iTensor * out,
    T2iTensor * idx)
{
  Lines ln;
  lines_of (a, axis, &ln);
  if (a->dtype == T2I_F32)
    max_lines_f32 (&ln, a->data, out ? out->data : NULL,
        idx ? idx->data : NULL);
  else if (a->dtype == T2I_F64)
    max_lines_f64 (&ln, a->data, out ? out->data : NULL,
        idx ? idx->data : NULL);
  else
    max_lines_i32 (&ln, a->data, idx->data);
  return TRUE;
}

gboolean
t2i_cpu_logsumexp_lines (const T2iTensor * a, gint axis, T2iTensor * out)
{
  Lines ln;
  lines_of (a, axis, &ln);
  if (a->dtype == T2I_F32)
    lse_lines_f32 (&ln, a->data, out->data);
  else
    lse_lines_f64 (&ln, a->data, out->data);
  return TRUE;
}

gboolean
t2i_cpu_softmax_lines (const T2iTensor * a, gint axis, gboolean lg,
    T2iTensor * out)
{
  Lines ln;
  lines_of (a, axis, &ln);
  if (a->dtype == T2I_F32)
    softmax_lines_f32 (&ln, a->data, out->data, lg);
  else
    softmax_lines_f64 (&ln, a->data, out->data, lg);
  return TRUE;
}

gboolean
t2i_cpu_softmax_bw_lines (const T2iTensor * y, const T2iTensor * g,
    gint axis, gboolean lg, T2iTensor * gx)
{
  Lines ln;
  lines_of (y, axis, &ln);
  if (lg) {
    if (y->dtype == T2I_F32)
      logsoftmax_bw_lines_f32 (&ln, y->data, g->data, gx->data);
    else
      logsoftmax_bw_lines_f64 (&ln, y->data, g->data, gx->data);
  } else {
    if (y->dtype == T2I_F32)
      softmax_bw_lines_f32 (&ln, y->data, g->data, gx->data);
    else
      softmax_bw_lines_f64 (&ln, y->data, g->data, gx->data);
  }
  return TRUE;
}

/* a constant one-hot of the first argmax @idx of every line */
T2iTensor *
t2i_cpu_max_onehot (const T2iTensor * a, gint axis, const T2iTensor * idx)
{
  Lines ln;
  lines_of (a, axis, &ln);
  T2iTensor *onehot = t2i_tensor_zeros_like (a);
  const gint32 *ix = idx->data;
  for (gint64 j = 0; j < ln.lines; j++) {
    gint64 pos = line_base (&ln, j) + ix[j] * ln.inner;
    t2i_tensor_set (onehot, pos, 1.0);
  }
  return onehot;
}

/* ---- row helpers for other families (ops-internal.h) ---- */

double
t2i_ops_row_logsumexp (const void *x, T2iDType dtype, gint64 n)
{
  if (dtype == T2I_F32) {
    float m = row_max_f32 (x, n);
    return isinf (m) ? m : m + log (row_expsum_f32 (x, NULL, n, m));
  }
  double m = row_max_f64 (x, n);
  return isinf (m) ? m : m + log (row_expsum_f64 (x, NULL, n, m));
}

void
t2i_ops_row_softmax (const void *x, void *y, T2iDType dtype, gint64 n)
{
  if (dtype == T2I_F32) {
    float m = row_max_f32 (x, n);
    if (isinf (m) && m < 0)
      m = 0;
    row_scale_f32 (y, n, (float) (1.0 / row_expsum_f32 (x, y, n, m)));
  } else {
    double m = row_max_f64 (x, n);
    if (isinf (m) && m < 0)
      m = 0;
    row_scale_f64 (y, n, 1.0 / row_expsum_f64 (x, y, n, m));
  }
}

/* ------------------------------------------------------------------ */
/* max, argmax                                                         */
/* ------------------------------------------------------------------ */

static void
max_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  T2iTensor *idx = node->saved[0];
  gint axis = (gint) node->i[0];
  guint mask;

  axis_mask (a, axis, &mask);
  /* constant one-hot of the first argmax of every line */
  g_autoptr (T2iTensor) onehot = T2I_BACKEND (a)->max_onehot (a, axis, idx);
  g_autoptr (T2iTensor) gk = grad_keepdim (g, a, mask);
  gin[0] = t2i_mul (gk, onehot);
}

/**
 * t2i_max:
 * Maximum over @axis or everything; the gradient flows to the first
 * maximal element of each reduced line.
 */
T2iTensor *
t2i_max (T2iTensor * a, gint axis, gboolean keepdim)
{
  guint mask;
  gint64 kshape[T2I_MAX_DIMS], os[T2I_MAX_DIMS];
  gint ond;

  T2I_CHECK_FLOAT (a, NULL);
  if (!axis_mask (a, axis, &mask))
    return NULL;
  if (a->numel == 0) {
    g_critical ("t2i_max: empty tensor");
    return NULL;
  }
  if (axis != T2I_ALL_AXES)
    t2i_ops_norm_axis (axis, a->ndim, &axis);
  reduced_shapes (a, mask, keepdim, kshape, &ond, os);
  T2iTensor *out = t2i_ops_new_shape (a, ond, os);
  gboolean rec = t2i_any_requires_grad (1, &a);
  g_autoptr (T2iTensor) idx = rec
      ? t2i_tensor_new_on (a->device, T2I_I32, ond, os) : NULL;
  if (!T2I_BACKEND (a)->max_lines (a, axis, out, idx))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "max", max_backward, a);
  if (node) {
    node->i[0] = axis;
    t2i_node_save (node, 0, idx);
  }
  return out;
}

/**
 * t2i_argmax:
 * Index (i32) of the first maximum along @axis, the axis removed; with
 * %T2I_ALL_AXES a 0-d flat index.  f32, f64 or i32 input; no gradient.
 */
T2iTensor *
t2i_argmax (T2iTensor * a, gint axis)
{
  guint mask;
  gint64 kshape[T2I_MAX_DIMS], os[T2I_MAX_DIMS];
  gint ond;

  T2I_CHECK_NOT_NULL (a, NULL);
  if (a->dtype != T2I_F32 && a->dtype != T2I_F64 && a->dtype != T2I_I32) {
    g_critical ("t2i_argmax: unsupported dtype %s", t2i_dtype_name (a->dtype));
    return NULL;
  }
  if (!axis_mask (a, axis, &mask))
    return NULL;
  if (a->numel == 0) {
    g_critical ("t2i_argmax: empty tensor");
    return NULL;
  }
  if (axis != T2I_ALL_AXES)
    t2i_ops_norm_axis (axis, a->ndim, &axis);
  reduced_shapes (a, mask, FALSE, kshape, &ond, os);
  T2iTensor *out = t2i_tensor_new_on (a->device, T2I_I32, ond, os);
  if (out && !T2I_BACKEND (a)->max_lines (a, axis, NULL, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  return out;
}

/* ------------------------------------------------------------------ */
/* logsumexp                                                           */
/* ------------------------------------------------------------------ */

static void
logsumexp_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  gint axis = (gint) node->i[0];
  guint mask;

  axis_mask (a, axis, &mask);
  /* d lse / dx = exp(x - lse) */
  g_autoptr (T2iTensor) yk = NULL;
  if (t2i_grad_enabled ()) {
    yk = t2i_logsumexp (a, axis, TRUE);
  } else {
    yk = grad_keepdim (node->saved[0], a, mask);
  }
  g_autoptr (T2iTensor) gk = grad_keepdim (g, a, mask);
  g_autoptr (T2iTensor) d = t2i_sub (a, yk);
  g_autoptr (T2iTensor) e = t2i_exp (d);
  gin[0] = t2i_mul (gk, e);
}

/**
 * t2i_logsumexp:
 * log(sum(exp(a))) over @axis or everything, shifted by the max for
 * stability (all -inf gives -inf).
 */
T2iTensor *
t2i_logsumexp (T2iTensor * a, gint axis, gboolean keepdim)
{
  guint mask;
  gint64 kshape[T2I_MAX_DIMS], os[T2I_MAX_DIMS];
  gint ond;

  T2I_CHECK_FLOAT (a, NULL);
  if (!axis_mask (a, axis, &mask))
    return NULL;
  if (axis != T2I_ALL_AXES)
    t2i_ops_norm_axis (axis, a->ndim, &axis);
  reduced_shapes (a, mask, keepdim, kshape, &ond, os);
  T2iTensor *out = t2i_ops_new_shape (a, ond, os);
  if (out && !T2I_BACKEND (a)->logsumexp_lines (a, axis, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, "logsumexp", logsumexp_backward, a);
  if (node) {
    node->i[0] = axis;
    t2i_ops_save_output (node, 0, out);
  }
  return out;
}

/* ------------------------------------------------------------------ */
/* softmax, log_softmax                                                */
/* ------------------------------------------------------------------ */

static void
softmax_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  gint axis = (gint) node->i[0];

  if (!t2i_grad_enabled ()) {
    gin[0] = t2i_tensor_new_like (a);
    if (gin[0] && !T2I_BACKEND (a)->softmax_bw_lines (node->saved[0], g,
            axis, FALSE, gin[0]))
      g_clear_pointer (&gin[0], t2i_tensor_unref);
    return;
  }
  /* y * (g - sum(g * y)) */
  g_autoptr (T2iTensor) y = t2i_softmax (a, axis);
  g_autoptr (T2iTensor) gy = t2i_mul (g, y);
  g_autoptr (T2iTensor) s = t2i_sum (gy, axis, TRUE);
  g_autoptr (T2iTensor) d = t2i_sub (g, s);
  gin[0] = t2i_mul (y, d);
}

static void
log_softmax_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0];
  gint axis = (gint) node->i[0];

  if (!t2i_grad_enabled ()) {
    gin[0] = t2i_tensor_new_like (a);
    if (gin[0] && !T2I_BACKEND (a)->softmax_bw_lines (node->saved[0], g,
            axis, TRUE, gin[0]))
      g_clear_pointer (&gin[0], t2i_tensor_unref);
    return;
  }
  /* g - softmax(a) * sum(g) */
  g_autoptr (T2iTensor) p = t2i_softmax (a, axis);
  g_autoptr (T2iTensor) s = t2i_sum (g, axis, TRUE);
  g_autoptr (T2iTensor) ps = t2i_mul (p, s);
  gin[0] = t2i_sub (g, ps);
}

static T2iTensor *
softmax_impl (T2iTensor * a, gint axis, gboolean lg)
{
  T2I_CHECK_FLOAT (a, NULL);
  if (!t2i_ops_norm_axis (axis, a->ndim, &axis))
    return NULL;
  T2iTensor *out = t2i_tensor_new_like (a);
  if (out && !T2I_BACKEND (a)->softmax_lines (a, axis, lg, out))
    g_clear_pointer (&out, t2i_tensor_unref);
  T2iNode *node = T2I_RECORD (out, lg ? "log_softmax" : "softmax",
      lg ? log_softmax_backward : softmax_backward, a);
  if (node) {
    node->i[0] = axis;
    t2i_ops_save_output (node, 0, out);
  }
  return out;
}

/**
 * t2i_softmax:
 * exp(a - max) / sum(exp(a - max)) along @axis.
 */
T2iTensor *
t2i_softmax (T2iTensor * a, gint axis)
{
  return softmax_impl (a, axis, FALSE);
}

/**
 * t2i_log_softmax:
 * a - logsumexp(a) along @axis, computed stably.
 */
T2iTensor *
t2i_log_softmax (T2iTensor * a, gint axis)
{
  return softmax_impl (a, axis, TRUE);
}
