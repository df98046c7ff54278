/* Losses: cross_entropy, bce_with_logits, l1_loss, mse_loss.  Each returns
 * a 0-d mean.  Forward is one fused pass (accumulated in double);
 * backward is one fused pass when grad mode is off and is built from the
 * public ops when it is on (create_graph), like the other families.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "ops-internal.h"

#include <math.h>

/* the value of a 0-d (or one-element) gradient */
static inline double
scalar_of (const T2iTensor * g)
{
  return t2i_tensor_get (g, 0);
}

/* ------------------------------------------------------------------ */
/* cross_entropy                                                       */
/* ------------------------------------------------------------------ */

/* one-hot [N, C] of @labels in @dtype (a constant) */
T2iTensor *
t2i_cpu_one_hot (const T2iTensor * labels, T2iDType dtype, gint64 c)
{
  gint64 n = labels->shape[0];
  T2iTensor *oh = t2i_tensor_zeros (dtype, 2, (gint64[]) { n, c });
  const gint32 *lb = labels->data;
  for (gint64 i = 0; i < n; i++)
    t2i_tensor_set (oh, i * c + lb[i], 1.0);
  return oh;
}

/* gx = (softmax(x) - onehot(label)) * s, row by row */
static void
ce_grad (const T2iTensor * x, const gint32 * lb, T2iTensor * gx, double s)
{
  gint64 N = x->shape[0], C = x->shape[1];
  gsize es = t2i_dtype_size (x->dtype);
  const char *px = x->data;
  char *pg = gx->data;
#pragma omp parallel for if (N * C >= T2I_OPS_PARALLEL_THRESHOLD)
  for (gint64 i = 0; i < N; i++) {
    t2i_ops_row_softmax (px + i * C * es, pg + i * C * es, x->dtype, C);
    if (x->dtype == T2I_F32) {
      float *q = (float *) (pg + i * C * es), fs = (float) s;
      for (gint64 c = 0; c < C; c++)
        q[c] *= fs;
      q[lb[i]] -= fs;
    } else {
      double *q = (double *) (pg + i * C * es);
      for (gint64 c = 0; c < C; c++)
        q[c] *= s;
      q[lb[i]] -= s;
    }
  }
}

/* sum over rows of logsumexp(row) - row[label] */
static double
ce_total (const T2iTensor * x, const gint32 * lb)
{
  gint64 N = x->shape[0], C = x->shape[1];
  gsize es = t2i_dtype_size (x->dtype);
  const char *px = x->data;
  double total = 0;
#pragma omp parallel for reduction (+:total) if (N * C >= T2I_OPS_PARALLEL_THRESHOLD)
  for (gint64 i = 0; i < N; i++)
    total += t2i_ops_row_logsumexp (px + i * C * es, x->dtype, C)
        - t2i_tensor_get (x, i * C + lb[i]);
  return total;
}

T2iTensor *
t2i_cpu_cross_entropy (const T2iTensor * logits, const T2iTensor * labels)
{
  gint64 N = logits->shape[0];
  double total = ce_total (logits, labels->data);
  return t2i_tensor_scalar (logits->dtype, N ? total / N : 0.0);
}

T2iTensor *
t2i_cpu_cross_entropy_bw (const T2iTensor * x, const T2iTensor * labels,
    const T2iTensor * g)
{
  double s = scalar_of (g) / (double) x->shape[0];
  T2iTensor *gx = t2i_tensor_new_like (x);
  ce_grad (x, labels->data, gx, s);
  return gx;
}

static void
cross_entropy_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *labels = node->saved[0];
  gint64 N = x->shape[0], C = x->shape[1];

  if (!t2i_grad_enabled ()) {
    gin[0] = T2I_BACKEND (x)->cross_entropy_bw (x, labels, g);
    return;
  }
  /* (softmax(x) - onehot) * g / N */
  g_autoptr (T2iTensor) p = t2i_softmax (x, 1);
  g_autoptr (T2iTensor) oh = T2I_BACKEND (x)->one_hot (labels, x->dtype, C);
  g_autoptr (T2iTensor) d = t2i_sub (p, oh);
  g_autoptr (T2iTensor) gs = t2i_mul_scalar (g, 1.0 / (double) N);
  gin[0] = t2i_mul (d, gs);
}

/**
 * t2i_cross_entropy:
 * @logits: [N, C] f32/f64
 * @labels: i32 [N], each in [0, C)
 *
 * Mean over rows of logsumexp(row) - row[label] (0-d).
 */
T2iTensor *
t2i_cross_entropy (T2iTensor * logits, T2iTensor * labels)
{
  T2I_CHECK_FLOAT (logits, NULL);
  T2I_CHECK_DTYPE (labels, T2I_I32, NULL);
  if (logits->ndim != 2 || labels->ndim != 1
      || labels->shape[0] != logits->shape[0] || logits->shape[1] < 1) {
    g_autofree char *sx = t2i_shape_to_string (logits->ndim, logits->shape);
    g_autofree char *sl = t2i_shape_to_string (labels->ndim, labels->shape);
    g_critical ("t2i_cross_entropy: need logits [N, C] and labels [N], got "
        "%s and %s", sx, sl);
    return NULL;
  }
  T2I_CHECK_SAME_DEVICE (logits, labels, NULL);
  gint64 C = logits->shape[1], bad_pos;
  gint32 bad;
  if (!T2I_BACKEND (logits)->index_check (labels, C, &bad_pos, &bad)) {
    g_critical ("t2i_cross_entropy: label %d out of range [0, %"
        G_GINT64_FORMAT ")", bad, C);
    return NULL;
  }

  T2iTensor *out = T2I_BACKEND (logits)->cross_entropy (logits, labels);
  T2iNode *node = T2I_RECORD (out, "cross_entropy", cross_entropy_backward,
      logits);
  if (node)
    t2i_node_save (node, 0, labels);
  return out;
}

/* ------------------------------------------------------------------ */
/* bce_with_logits                                                     */
/* ------------------------------------------------------------------ */

/* (sigmoid(x) - t) * p[0], sigmoid computed stably and branch-free */
#define DEF_BCE_GX(NAME, T, EXP, ABS)                                       \
T2I_OPS_CLONES static void                                                  \
NAME (const void *xv, const void *tv, void *ov, gint64 n, const double *p)  \
{                                                                           \
  const T *restrict x = xv, *restrict t = tv;                               \
  T *restrict o = ov;                                                       \
  const T s = (T) p[0];                                                     \
  _Pragma ("omp simd")                                                      \
  for (gint64 i = 0; i < n; i++) {                                          \
    T e = EXP (-ABS (x[i]));                                                \
    T pos = (T) (x[i] >= 0);                                                \
    T sg = (pos + (1 - pos) * e) / (1 + e);                                 \
    o[i] = (sg - t[i]) * s;                                                 \
  }                                                                         \
}

DEF_BCE_GX (bce_gx_f32, float, expf, fabsf)
DEF_BCE_GX (bce_gx_f64, double, exp, fabs)

/* the fused gradients: (sigmoid(x) - t) g / n for x, -x g / n for t */
T2iTensor *
t2i_cpu_bce_bw (const T2iTensor * x, const T2iTensor * t, const T2iTensor * g,
    gboolean target)
{
  double s = scalar_of (g) / (double) x->numel;
  if (target)
    return t2i_mul_scalar ((T2iTensor *) x, -s);
  double p[1] = { s };
  return t2i_ops_zip (x, t, bce_gx_f32, bce_gx_f64, p);
}

static void
bce_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *t = node->inputs[1];
  double n = (double) x->numel;

  if (!t2i_grad_enabled ()) {
    if (node->needs_grad[0])
      gin[0] = T2I_BACKEND (x)->bce_bw (x, t, g, FALSE);
    if (node->needs_grad[1])
      gin[1] = T2I_BACKEND (x)->bce_bw (x, t, g, TRUE);
    return;
  }
  g_autoptr (T2iTensor) gs = t2i_mul_scalar (g, 1.0 / n);
  if (node->needs_grad[0]) {
    /* (sigmoid(x) - t) g / n */
    g_autoptr (T2iTensor) s = t2i_sigmoid (x);
    g_autoptr (T2iTensor) d = t2i_sub (s, t);
    gin[0] = t2i_mul (d, gs);
  }
  if (node->needs_grad[1]) {
    /* -x g / n */
    g_autoptr (T2iTensor) nx = t2i_neg (x);
    gin[1] = t2i_mul (nx, gs);
  }
}

T2iTensor *
t2i_cpu_bce (const T2iTensor * logits, const T2iTensor * targets)
{
  gint64 n = logits->numel;
  double total = 0;
  if (logits->dtype == T2I_F32) {
    const float *x = logits->data, *t = targets->data;
#pragma omp parallel for simd reduction (+:total) if (n >= T2I_OPS_PARALLEL_THRESHOLD)
    for (gint64 i = 0; i < n; i++)
      total += (double) ((x[i] > 0 ? x[i] : 0.0f) - x[i] * t[i]
          + log1pf (expf (-fabsf (x[i]))));
  } else {
    const double *x = logits->data, *t = targets->data;
#pragma omp parallel for simd reduction (+:total) if (n >= T2I_OPS_PARALLEL_THRESHOLD)
    for (gint64 i = 0; i < n; i++)
      total += (x[i] > 0 ? x[i] : 0.0) - x[i] * t[i] + log1p (exp (-fabs (x[i])));
  }
  return t2i_tensor_scalar (logits->dtype, n ? total / n : 0.0);
}

/**
 * t2i_bce_with_logits:
 * Mean of max(x, 0) - x t + log1p(exp(-|x|)) over all elements; @targets
 * has the shape and dtype of @logits.
 */
T2iTensor *
t2i_bce_with_logits (T2iTensor * logits, T2iTensor * targets)
{
  T2I_CHECK_FLOAT (logits, NULL);
  T2I_CHECK_SAME_DTYPE (logits, targets, NULL);
  T2I_CHECK_SAME_SHAPE (logits, targets, NULL);

  T2iTensor *out = T2I_BACKEND (logits)->bce (logits, targets);
  T2I_RECORD (out, "bce_with_logits", bce_backward, logits, targets);
  return out;
}

/* ------------------------------------------------------------------ */
/* l1, mse                                                             */
/* ------------------------------------------------------------------ */

/* sign(a - b), the constant weights of the l1 gradient */
T2iTensor *
t2i_cpu_sign_diff (const T2iTensor * a, const T2iTensor * b)
{
  T2iTensor *w = t2i_tensor_new_like (a);
  gint64 n_ = a->numel;
  if (a->dtype == T2I_F32) {
    const float *x = a->data, *y = b->data;
    float *o = w->data;
#pragma omp parallel for simd if (n_ >= T2I_OPS_PARALLEL_THRESHOLD)
    for (gint64 i = 0; i < n_; i++)
      o[i] = (float) ((x[i] > y[i]) - (x[i] < y[i]));
  } else {
    const double *x = a->data, *y = b->data;
    double *o = w->data;
#pragma omp parallel for simd if (n_ >= T2I_OPS_PARALLEL_THRESHOLD)
    for (gint64 i = 0; i < n_; i++)
      o[i] = (double) ((x[i] > y[i]) - (x[i] < y[i]));
  }
  return w;
}

static void
dist_loss_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *a = node->inputs[0], *b = node->inputs[1];
  gboolean l1 = node->i[0];
  double n = (double) a->numel;

  /* d/da = w * g / n with w = sign(a - b) (l1) or 2 (a - b) (mse) */
  g_autoptr (T2iTensor) w = NULL;
  if (l1) {
    w = T2I_BACKEND (a)->sign_diff (a, b);
  } else {
    g_autoptr (T2iTensor) d = t2i_sub (a, b);
    w = t2i_mul_scalar (d, 2.0);
  }
  g_autoptr (T2iTensor) gs = t2i_mul_scalar (g, 1.0 / n);
  g_autoptr (T2iTensor) ga = t2i_mul (w, gs);
  if (node->needs_grad[1])
    gin[1] = t2i_neg (ga);
  if (node->needs_grad[0])
    gin[0] = g_steal_pointer (&ga);
}

T2iTensor *
t2i_cpu_dist_loss (const T2iTensor * a, const T2iTensor * b, gboolean l1)
{
  gint64 n = a->numel;
  double total = 0;
  if (a->dtype == T2I_F32) {
    const float *x = a->data, *y = b->data;
    if (l1) {
#pragma omp parallel for simd reduction (+:total) if (n >= T2I_OPS_PARALLEL_THRESHOLD)
      for (gint64 i = 0; i < n; i++)
        total += fabsf (x[i] - y[i]);
    } else {
#pragma omp parallel for simd reduction (+:total) if (n >= T2I_OPS_PARALLEL_THRESHOLD)
      for (gint64 i = 0; i < n; i++)
        total += (double) ((x[i] - y[i]) * (x[i] - y[i]));
    }
  } else {
    const double *x = a->data, *y = b->data;
    if (l1) {
#pragma omp parallel for simd reduction (+:total) if (n >= T2I_OPS_PARALLEL_THRESHOLD)
      for (gint64 i = 0; i < n; i++)
        total += fabs (x[i] - y[i]);
    } else {
#pragma omp parallel for simd reduction (+:total) if (n >= T2I_OPS_PARALLEL_THRESHOLD)
      for (gint64 i = 0; i < n; i++)
        total += (x[i] - y[i]) * (x[i] - y[i]);
    }
  }
  return t2i_tensor_scalar (a->dtype, n ? total / n : 0.0);
}

static T2iTensor *
dist_loss (T2iTensor * a, T2iTensor * b, gboolean l1)
{
  T2I_CHECK_FLOAT (a, NULL);
  T2I_CHECK_SAME_DTYPE (a, b, NULL);
  T2I_CHECK_SAME_SHAPE (a, b, NULL);

  T2iTensor *out = T2I_BACKEND (a)->dist_loss (a, b, l1);
  T2iNode *node = T2I_RECORD (out, l1 ? "l1_loss" : "mse_loss",
      dist_loss_backward, a, b);
  if (node)
    node->i[0] = l1;
  return out;
}

/**
 * t2i_l1_loss:
 * mean |a - b| (0-d); @a and @b of one shape.
 */
T2iTensor *
t2i_l1_loss (T2iTensor * a, T2iTensor * b)
{
  return dist_loss (a, b, TRUE);
}

/**
 * t2i_mse_loss:
 * mean (a - b)^2 (0-d); @a and @b of one shape.
 */
T2iTensor *
t2i_mse_loss (T2iTensor * a, T2iTensor * b)
{
  return dist_loss (a, b, FALSE);
}
