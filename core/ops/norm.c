/* Normalisation ops: batch, layer and group norm, the adaptive-LN
 * modulation, L2 normalisation and the cosine-similarity matrix.
 *
 * Batch, layer and group norm share one scheme.  The forward is a fused
 * kernel (two passes over each normalised slice, double accumulators,
 * OpenMP) that also keeps the per-slice mean and 1/sqrt(var + eps).  The
 * backward has two paths:
 *
 * - grad mode off (the ordinary backward): a fused kernel that uses the
 *   saved statistics;
 * - grad mode on (create_graph, e.g. an R1 penalty): the same formulas
 *   written with the public ops, with the statistics recomputed from the
 *   input with ops so that the gradient is itself differentiable in x.
 *
 * Both paths use three 3-D views of the input: the "affine" view
 * [A0, C, A2] in which weight and bias broadcast as [1, C, 1], and the
 * "stats" view [B0, B1, B2] in which the statistics are reduced over the
 * axes of a mask:
 *
 *   layer norm  affine [R, D, 1]   stats [R, D, 1]    mask {1}
 *   group norm  affine [N, C, S]   stats [N, G, C/G*S] mask {2}
 *   batch norm  affine [N, C, S]   stats [N, C, S]    mask {0, 2}
 *
 * With xhat = (x - mean) * rstd and gh = dL/dxhat = g * w, the input
 * gradient is rstd * (gh - mean(gh) - xhat * mean(gh * xhat)), the weight
 * gradient sum(g * xhat) and the bias gradient sum(g) over axes {0, 2} of
 * the affine view.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/ops.h"
#include "../backend/backend.h"

#include <math.h>
#include <string.h>
#include <omp.h>

#define PAR_MIN 32768           /* elements below which kernels stay serial */

static gboolean
is_float (const T2iTensor * t)
{
  return t->dtype == T2I_F32 || t->dtype == T2I_F64;
}

static gboolean
check_param (const char *op, const char *what, const T2iTensor * p,
    const T2iTensor * x, gint64 numel)
{
  if (!p)
    return TRUE;
  if (p->dtype != x->dtype || p->numel != numel || p->device != x->device) {
    g_critical ("%s: %s must be %s with %" G_GINT64_FORMAT " elements, on "
        "%s", op, what, t2i_dtype_name (x->dtype), numel,
        t2i_device_name (x->device));
    return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Row kernels (layer and group norm)                                        */
/*                                                                          */
/* R rows of M = Cg * S contiguous elements; row r covers channels           */
/* (r % G) * Cg .. + Cg - 1, each a run of S elements.                       */
/* ------------------------------------------------------------------------ */

#define DEFINE_ROW_KERNELS(T, sfx)                                            \
static void                                                                   \
row_fwd_##sfx (const T * x, const T * w, const T * b, T * y, T * mean,        \
    T * rstd, gint64 R, gint64 G, gint64 Cg, gint64 S, double eps)            \
{                                                                             \
  const gint64 M = Cg * S;                                                    \
  _Pragma ("omp parallel for schedule(static) if (R * M > PAR_MIN)")          \
  for (gint64 r = 0; r < R; r++) {                                            \
    const T *xr = x + r * M;                                                  \
    T *yr = y + r * M;                                                        \
    double s = 0, v = 0;                                                      \
    for (gint64 m = 0; m < M; m++)                                            \
      s += xr[m];                                                             \
    const double mu = s / M;                                                  \
    for (gint64 m = 0; m < M; m++) {                                          \
      double d = xr[m] - mu;                                                  \
      v += d * d;                                                             \
    }                                                                         \
    const double rs = 1.0 / sqrt (v / M + eps);                               \
    mean[r] = (T) mu;                                                         \
    rstd[r] = (T) rs;                                                         \
    const gint64 c0 = (r % G) * Cg;                                           \
    if (S == 1) {                                                             \
      const T ts = (T) rs, tm = (T) mu;                                       \
      for (gint64 m = 0; m < M; m++) {                                        \
        T h = (xr[m] - tm) * ts;                                              \
        yr[m] = (w ? h * w[c0 + m] : h) + (b ? b[c0 + m] : 0);                \
      }                                                                       \
    } else {                                                                  \
      for (gint64 cg = 0; cg < Cg; cg++) {                                    \
        double a = w ? w[c0 + cg] * rs : rs;                                  \
        const T ta = (T) a, tb = (T) ((b ? b[c0 + cg] : 0) - mu * a);         \
        const T *xs = xr + cg * S;                                            \
        T *ys = yr + cg * S;                                                  \
        for (gint64 k = 0; k < S; k++)                                        \
          ys[k] = xs[k] * ta + tb;                                            \
      }                                                                       \
    }                                                                         \
  }                                                                           \
}                                                                             \
                                                                              \
/* gx (nullable) and, summed into gw / gb (double [G * Cg], nullable), the    \
 * affine gradients */                                                        \
static void                                                                   \
row_bwd_##sfx (const T * x, const T * g, const T * w, const T * mean,         \
    const T * rstd, T * gx, double *gw, double *gb, gint64 R, gint64 G,       \
    gint64 Cg, gint64 S)                                                      \
{                                                                             \
  const gint64 M = Cg * S, C = G * Cg;                                        \
  const gboolean par = R * M > PAR_MIN;                                       \
  const gint nt = par ? omp_get_max_threads () : 1;                           \
  const gboolean aff = gw || gb;                                              \
  double *part = aff ? g_new0 (double, 2 * C * nt) : NULL;                    \
  _Pragma ("omp parallel if (par)")                                           \
  {                                                                           \
    double *lw = aff ? part + 2 * C * omp_get_thread_num () : NULL;           \
    double *lb = aff ? lw + C : NULL;                                         \
    _Pragma ("omp for schedule(static)")                                      \
    for (gint64 r = 0; r < R; r++) {                                          \
      const T *xr = x + r * M, *gr = g + r * M;                               \
      const double mu = mean[r], rs = rstd[r];                                \
      const gint64 c0 = (r % G) * Cg;                                         \
      double s1 = 0, s2 = 0;                                                  \
      if (S == 1) {                                                           \
        /* layer norm: one channel per element */                             \
        for (gint64 m = 0; m < M; m++) {                                      \
          const double xh = (xr[m] - mu) * rs, gv = gr[m];                    \
          const double gh = w ? gv * w[c0 + m] : gv;                          \
          s1 += gh;                                                           \
          s2 += gh * xh;                                                      \
          if (aff) {                                                          \
            lw[c0 + m] += gv * xh;                                            \
            lb[c0 + m] += gv;                                                 \
          }                                                                   \
        }                                                                     \
      }                                                                       \
      for (gint64 cg = 0; cg < Cg && S > 1; cg++) {                           \
        const double wv = w ? w[c0 + cg] : 1.0;                               \
        double a1 = 0, a2 = 0;                                                \
        for (gint64 k = cg * S; k < (cg + 1) * S; k++) {                      \
          const double xh = (xr[k] - mu) * rs;                                \
          a1 += gr[k];                                                        \
          a2 += gr[k] * xh;                                                   \
        }                                                                     \
        s1 += wv * a1;                                                        \
        s2 += wv * a2;                                                        \
        if (aff) {                                                            \
          lw[c0 + cg] += a2;                                                  \
          lb[c0 + cg] += a1;                                                  \
        }                                                                     \
      }                                                                       \
      if (gx) {                                                               \
        T *gxr = gx + r * M;                                                  \
        const double m1 = s1 / M, m2 = s2 / M;                                \
        for (gint64 cg = 0; cg < Cg; cg++) {                                  \
          const double wv = w ? w[c0 + cg] : 1.0;                             \
          for (gint64 k = cg * S; k < (cg + 1) * S; k++) {                    \
            const double xh = (xr[k] - mu) * rs;                              \
            gxr[k] = (T) (rs * (gr[k] * wv - m1 - xh * m2));                  \
          }                                                                   \
        }                                                                     \
      }                                                                       \
    }                                                                         \
  }                                                                           \
  if (aff) {                                                                  \
    /* fixed order: the result does not depend on thread timing */           \
    for (gint t = 0; t < nt; t++)                                             \
      for (gint64 c = 0; c < C; c++) {                                        \
        if (gw)                                                               \
          gw[c] += part[2 * C * t + c];                                       \
        if (gb)                                                               \
          gb[c] += part[2 * C * t + C + c];                                   \
      }                                                                       \
    g_free (part);                                                            \
  }                                                                           \
}

DEFINE_ROW_KERNELS (float, f32)
DEFINE_ROW_KERNELS (double, f64)

gboolean
t2i_cpu_row_norm (const T2iNormDims * d, const T2iTensor * x,
    const T2iTensor * w, const T2iTensor * b, double eps, T2iTensor * y,
    T2iTensor * mean, T2iTensor * rstd)
{
  if (x->dtype == T2I_F32)
    row_fwd_f32 (x->data, w ? w->data : NULL, b ? b->data : NULL, y->data,
        mean->data, rstd->data, d->R, d->G, d->Cg, d->S, eps);
  else
    row_fwd_f64 (x->data, w ? w->data : NULL, b ? b->data : NULL, y->data,
        mean->data, rstd->data, d->R, d->G, d->Cg, d->S, eps);
  return TRUE;
}

gboolean
t2i_cpu_row_norm_bw (const T2iNormDims * d, const T2iTensor * x,
    const T2iTensor * g, const T2iTensor * w, const T2iTensor * mean,
    const T2iTensor * rstd, T2iTensor * gx, T2iTensor * gwt, T2iTensor * gbt)
{
  const gint64 C = d->G * d->Cg;
  double *gw = gwt ? g_new0 (double, C) : NULL;
  double *gb = gbt ? g_new0 (double, C) : NULL;

  if (x->dtype == T2I_F32)
    row_bwd_f32 (x->data, g->data, w ? w->data : NULL, mean->data,
        rstd->data, gx ? gx->data : NULL, gw, gb, d->R, d->G, d->Cg, d->S);
  else
    row_bwd_f64 (x->data, g->data, w ? w->data : NULL, mean->data,
        rstd->data, gx ? gx->data : NULL, gw, gb, d->R, d->G, d->Cg, d->S);
  if (gw) {
    for (gint64 c = 0; c < C; c++)
      t2i_tensor_set (gwt, c, gw[c]);
    g_free (gw);
  }
  if (gb) {
    for (gint64 c = 0; c < C; c++)
      t2i_tensor_set (gbt, c, gb[c]);
    g_free (gb);
  }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Channel kernels (batch norm): x viewed as [N, C, S], stats per channel.   */
/* ------------------------------------------------------------------------ */

#define DEFINE_CHANNEL_KERNELS(T, sfx)                                        \
/* training: batch statistics; @mean / @rstd (T [C]) and the biased          \
 * variance @var (double [C]) come out */                                     \
static void                                                                   \
chan_stats_##sfx (const T * x, T * mean, T * rstd, double *var, gint64 N,     \
    gint64 C, gint64 S, double eps)                                           \
{                                                                             \
  const double cnt = (double) N * S;                                          \
  _Pragma ("omp parallel for schedule(static) if (N * C * S > PAR_MIN)")      \
  for (gint64 c = 0; c < C; c++) {                                            \
    double s = 0, v = 0;                                                      \
    for (gint64 n = 0; n < N; n++) {                                          \
      const T *xs = x + (n * C + c) * S;                                      \
      for (gint64 k = 0; k < S; k++)                                          \
        s += xs[k];                                                           \
    }                                                                         \
    const double mu = s / cnt;                                                \
    for (gint64 n = 0; n < N; n++) {                                          \
      const T *xs = x + (n * C + c) * S;                                      \
      for (gint64 k = 0; k < S; k++) {                                        \
        double d = xs[k] - mu;                                                \
        v += d * d;                                                           \
      }                                                                       \
    }                                                                         \
    var[c] = v / cnt;                                                         \
    mean[c] = (T) mu;                                                         \
    rstd[c] = (T) (1.0 / sqrt (v / cnt + eps));                               \
  }                                                                           \
}                                                                             \
                                                                              \
static void                                                                   \
chan_apply_##sfx (const T * x, const T * w, const T * b, const T * mean,      \
    const T * rstd, T * y, gint64 N, gint64 C, gint64 S)                      \
{                                                                             \
  _Pragma ("omp parallel for collapse(2) if (N * C * S > PAR_MIN)")          \
  for (gint64 n = 0; n < N; n++)                                              \
    for (gint64 c = 0; c < C; c++) {                                          \
      const double a = (w ? (double) w[c] : 1.0) * rstd[c];                   \
      const T ta = (T) a, tb = (T) ((b ? b[c] : 0) - mean[c] * a);            \
      const T *xs = x + (n * C + c) * S;                                      \
      T *ys = y + (n * C + c) * S;                                            \
      for (gint64 k = 0; k < S; k++)                                          \
        ys[k] = xs[k] * ta + tb;                                              \
    }                                                                         \
}                                                                             \
                                                                              \
/* @batch_stats: the statistics depend on x (training) or are constants      \
 * (evaluation with running statistics) */                                    \
static void                                                                   \
chan_bwd_##sfx (const T * x, const T * g, const T * w, const T * mean,        \
    const T * rstd, T * gx, T * gw, T * gb, gint64 N, gint64 C, gint64 S,     \
    gboolean batch_stats)                                                     \
{                                                                             \
  const double cnt = (double) N * S;                                          \
  _Pragma ("omp parallel for schedule(static) if (N * C * S > PAR_MIN)")      \
  for (gint64 c = 0; c < C; c++) {                                            \
    const double mu = mean[c], rs = rstd[c];                                  \
    double sg = 0, sgx = 0;                                                   \
    for (gint64 n = 0; n < N; n++) {                                          \
      const T *xs = x + (n * C + c) * S, *gs = g + (n * C + c) * S;           \
      for (gint64 k = 0; k < S; k++) {                                        \
        sg += gs[k];                                                          \
        sgx += gs[k] * ((xs[k] - mu) * rs);                                   \
      }                                                                       \
    }                                                                         \
    if (gw)                                                                   \
      gw[c] = (T) sgx;                                                        \
    if (gb)                                                                   \
      gb[c] = (T) sg;                                                         \
    if (!gx)                                                                  \
      continue;                                                               \
    const double a = (w ? (double) w[c] : 1.0) * rs;                          \
    const double m1 = batch_stats ? sg / cnt : 0;                             \
    const double m2 = batch_stats ? sgx / cnt : 0;                            \
    for (gint64 n = 0; n < N; n++) {                                          \
      const T *xs = x + (n * C + c) * S, *gs = g + (n * C + c) * S;           \
      T *gxs = gx + (n * C + c) * S;                                          \
      for (gint64 k = 0; k < S; k++)                                          \
        gxs[k] = (T) (a * (gs[k] - m1 - (xs[k] - mu) * rs * m2));             \
    }                                                                         \
  }                                                                           \
}

DEFINE_CHANNEL_KERNELS (float, f32)
DEFINE_CHANNEL_KERNELS (double, f64)

gboolean
t2i_cpu_batch_norm_stats (const T2iTensor * x, gboolean batch_stats,
    T2iTensor * running_mean, T2iTensor * running_var, gboolean update,
    double momentum, double eps, T2iTensor * mean, T2iTensor * rstd)
{
  const gint64 N = x->shape[0], C = x->shape[1], S = x->numel / MAX (N * C, 1);
  if (batch_stats) {
    double *var = g_new (double, C);
    if (x->dtype == T2I_F32)
      chan_stats_f32 (x->data, mean->data, rstd->data, var, N, C, S, eps);
    else
      chan_stats_f64 (x->data, mean->data, rstd->data, var, N, C, S, eps);
    if (update) {
      const double unbias = (double) (N * S) / (double) (N * S - 1);
      for (gint64 c = 0; c < C; c++) {
        double rm = t2i_tensor_get (running_mean, c);
        double rv = t2i_tensor_get (running_var, c);
        t2i_tensor_set (running_mean, c, (1 - momentum) * rm
            + momentum * t2i_tensor_get (mean, c));
        t2i_tensor_set (running_var, c, (1 - momentum) * rv
            + momentum * var[c] * unbias);
      }
    }
    g_free (var);
  } else {
    for (gint64 c = 0; c < C; c++) {
      t2i_tensor_set (mean, c, t2i_tensor_get (running_mean, c));
      t2i_tensor_set (rstd, c, 1.0 / sqrt (t2i_tensor_get (running_var, c)
              + eps));
    }
  }
  return TRUE;
}

gboolean
t2i_cpu_batch_norm_apply (const T2iTensor * x, const T2iTensor * weight,
    const T2iTensor * bias, const T2iTensor * mean, const T2iTensor * rstd,
    T2iTensor * y)
{
  const gint64 N = x->shape[0], C = x->shape[1], S = x->numel / MAX (N * C, 1);
  if (x->dtype == T2I_F32)
    chan_apply_f32 (x->data, weight ? weight->data : NULL,
        bias ? bias->data : NULL, mean->data, rstd->data, y->data, N, C, S);
  else
    chan_apply_f64 (x->data, weight ? weight->data : NULL,
        bias ? bias->data : NULL, mean->data, rstd->data, y->data, N, C, S);
  return TRUE;
}

gboolean
t2i_cpu_batch_norm_bw (const T2iTensor * x, const T2iTensor * g,
    const T2iTensor * w, const T2iTensor * mean, const T2iTensor * rstd,
    gboolean batch_stats, T2iTensor * gx, T2iTensor * gw, T2iTensor * gb)
{
  const gint64 N = x->shape[0], C = x->shape[1], S = x->numel / MAX (N * C, 1);
  if (x->dtype == T2I_F32)
    chan_bwd_f32 (x->data, g->data, w ? w->data : NULL, mean->data,
        rstd->data, gx ? gx->data : NULL, gw ? gw->data : NULL,
        gb ? gb->data : NULL, N, C, S, batch_stats);
  else
    chan_bwd_f64 (x->data, g->data, w ? w->data : NULL, mean->data,
        rstd->data, gx ? gx->data : NULL, gw ? gw->data : NULL,
        gb ? gb->data : NULL, N, C, S, batch_stats);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The differentiable backward (create_graph)                                */
/* ------------------------------------------------------------------------ */

/* sum over the axes of @mask, keepdim, divided by their count */
static T2iTensor *
mean_axes (T2iTensor * t, guint mask)
{
  gint64 cnt = 1;
  for (gint i = 0; i < t->ndim; i++)
    if (mask & (1u << i))
      cnt *= t->shape[i];
  g_autoptr (T2iTensor) s = t2i_sum_axes (t, mask, TRUE);
  return t2i_mul_scalar (s, 1.0 / (double) cnt);
}

/* a new tensor of @dtype holding @src (any float dtype) viewed as @shape */
static T2iTensor *
const_view (const T2iTensor * src, T2iDType dtype, gint ndim,
    const gint64 * shape)
{
  g_autoptr (T2iTensor) c = t2i_tensor_to_dtype (src, dtype);
  return c ? t2i_tensor_alias (c, ndim, shape) : NULL;
}

typedef struct
{
  gint64 affine[3];             /* [A0, C, A2] */
  gint64 stats[3];              /* [B0, B1, B2] */
  guint stats_mask;
  double eps;
  /* evaluation-mode batch norm: constant statistics, else NULL */
  const T2iTensor *const_mean;
  const T2iTensor *const_rstd;
} NormLayout;

/* gin[0..2] for inputs (x, weight, bias), computed with ops only */
static void
norm_backward_ops (T2iNode * node, T2iTensor * g, T2iTensor ** gin,
    const NormLayout * L)
{
  T2iTensor *x = node->inputs[0], *w = node->inputs[1], *b = node->inputs[2];
  const gint64 wshape[3] = { 1, L->affine[1], 1 };
  const guint amask = 1u | 4u;
  g_autoptr (T2iTensor) xa = t2i_reshape (x, 3, L->affine);
  g_autoptr (T2iTensor) ga = t2i_reshape (g, 3, L->affine);
  g_autoptr (T2iTensor) wa = w ? t2i_reshape (w, 3, wshape) : NULL;
  g_autoptr (T2iTensor) gha = wa ? t2i_mul (ga, wa) : t2i_tensor_ref (ga);
  g_autoptr (T2iTensor) xhat = NULL;     /* affine view */
  g_autoptr (T2iTensor) gxa = NULL;

  if (L->const_mean) {
    g_autoptr (T2iTensor) mu = const_view (L->const_mean, x->dtype, 3, wshape);
    g_autoptr (T2iTensor) rs = const_view (L->const_rstd, x->dtype, 3, wshape);
    g_autoptr (T2iTensor) xc = t2i_sub (xa, mu);
    xhat = t2i_mul (xc, rs);
    if (node->needs_grad[0])
      gxa = t2i_mul (gha, rs);
  } else {
    gboolean same = memcmp (L->affine, L->stats, sizeof (L->affine)) == 0;
    g_autoptr (T2iTensor) xs = same ? t2i_tensor_ref (xa)
        : t2i_reshape (xa, 3, L->stats);
    g_autoptr (T2iTensor) mu = mean_axes (xs, L->stats_mask);
    g_autoptr (T2iTensor) xc = t2i_sub (xs, mu);
    g_autoptr (T2iTensor) xc2 = t2i_square (xc);
    g_autoptr (T2iTensor) var = mean_axes (xc2, L->stats_mask);
    g_autoptr (T2iTensor) ve = t2i_add_scalar (var, L->eps);
    g_autoptr (T2iTensor) rs = t2i_rsqrt (ve);
    g_autoptr (T2iTensor) xhs = t2i_mul (xc, rs);
    xhat = same ? t2i_tensor_ref (xhs) : t2i_reshape (xhs, 3, L->affine);
    if (node->needs_grad[0]) {
      g_autoptr (T2iTensor) ghs = same ? t2i_tensor_ref (gha)
          : t2i_reshape (gha, 3, L->stats);
      g_autoptr (T2iTensor) m1 = mean_axes (ghs, L->stats_mask);
      g_autoptr (T2iTensor) ghx = t2i_mul (ghs, xhs);
      g_autoptr (T2iTensor) m2 = mean_axes (ghx, L->stats_mask);
      g_autoptr (T2iTensor) t1 = t2i_sub (ghs, m1);
      g_autoptr (T2iTensor) t2 = t2i_mul (xhs, m2);
      g_autoptr (T2iTensor) t3 = t2i_sub (t1, t2);
      g_autoptr (T2iTensor) gxs = t2i_mul (t3, rs);
      gxa = same ? t2i_tensor_ref (gxs) : t2i_reshape (gxs, 3, L->affine);
    }
  }

  if (node->needs_grad[0])
    gin[0] = t2i_reshape (gxa, x->ndim, x->shape);
  if (w && node->needs_grad[1]) {
    g_autoptr (T2iTensor) gx = t2i_mul (ga, xhat);
    g_autoptr (T2iTensor) s = t2i_sum_axes (gx, amask, TRUE);
    gin[1] = t2i_reshape (s, w->ndim, w->shape);
  }
  if (b && node->needs_grad[2]) {
    g_autoptr (T2iTensor) s = t2i_sum_axes (ga, amask, TRUE);
    gin[2] = t2i_reshape (s, b->ndim, b->shape);
  }
}

/* ------------------------------------------------------------------------ */
/* Layer norm and group norm                                                 */
/* ------------------------------------------------------------------------ */

/* node->i: [0] R, [1] G, [2] Cg, [3] S, [4] kind (0 layer, 1 group),
 * [5] N, [6] C; f[0] eps; saved: mean [R], rstd [R] */
static void
row_norm_layout (T2iNode * node, NormLayout * L)
{
  const gint64 R = node->i[0], G = node->i[1], Cg = node->i[2], S = node->i[3];
  memset (L, 0, sizeof (*L));
  L->eps = node->f[0];
  if (node->i[4] == 0) {
    const gint64 a[3] = { R, Cg, 1 };
    memcpy (L->affine, a, sizeof (a));
    memcpy (L->stats, a, sizeof (a));
    L->stats_mask = 2u;
  } else {
    const gint64 N = node->i[5], C = node->i[6];
    const gint64 a[3] = { N, C, S }, s[3] = { N, G, Cg * S };
    memcpy (L->affine, a, sizeof (a));
    memcpy (L->stats, s, sizeof (s));
    L->stats_mask = 4u;
  }
}

static void
row_norm_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *w = node->inputs[1], *b = node->inputs[2];

  if (t2i_grad_enabled ()) {
    NormLayout L;
    row_norm_layout (node, &L);
    norm_backward_ops (node, g, gin, &L);
    return;
  }

  const T2iNormDims d = { node->i[0], node->i[1], node->i[2], node->i[3] };
  T2iTensor *gx = node->needs_grad[0] ? t2i_tensor_new_like (x) : NULL;
  T2iTensor *gw = w && node->needs_grad[1] ? t2i_tensor_new_like (w) : NULL;
  T2iTensor *gb = b && node->needs_grad[2] ? t2i_tensor_new_like (b) : NULL;
  if (!T2I_BACKEND (x)->row_norm_bw (&d, x, g, w, node->saved[0],
          node->saved[1], gx, gw, gb)) {
    g_clear_pointer (&gx, t2i_tensor_unref);
    g_clear_pointer (&gw, t2i_tensor_unref);
    g_clear_pointer (&gb, t2i_tensor_unref);
  }
  gin[0] = gx;
  gin[1] = gw;
  gin[2] = gb;
}

static T2iTensor *
row_norm (const char *name, T2iTensor * x, T2iTensor * w, T2iTensor * b,
    gint64 R, gint64 G, gint64 Cg, gint64 S, gint kind, double eps)
{
  T2iTensor *y = t2i_tensor_new_like (x);
  const gint64 rshape[1] = { R };
  g_autoptr (T2iTensor) mean = t2i_tensor_new_on (x->device, x->dtype, 1,
      rshape);
  g_autoptr (T2iTensor) rstd = t2i_tensor_new_on (x->device, x->dtype, 1,
      rshape);
  const T2iNormDims d = { R, G, Cg, S };

  if (!y || !mean || !rstd
      || !T2I_BACKEND (x)->row_norm (&d, x, w, b, eps, y, mean, rstd)) {
    g_clear_pointer (&y, t2i_tensor_unref);
    return NULL;
  }

  T2iTensor *in[3] = { x, w, b };
  if (!t2i_any_requires_grad (3, in))
    return y;
  T2iNode *node = t2i_node_new (name, row_norm_backward, 3, in);
  node->i[0] = R;
  node->i[1] = G;
  node->i[2] = Cg;
  node->i[3] = S;
  node->i[4] = kind;
  node->i[5] = x->shape[0];
  node->i[6] = G * Cg;
  node->f[0] = eps;
  t2i_node_save (node, 0, mean);
  t2i_node_save (node, 1, rstd);
  return t2i_node_attach (node, y);
}

/**
 * t2i_layer_norm:
 * @x: the input, any shape with at least @norm_ndim dims
 * @norm_ndim: how many trailing dims to normalise over (>= 1)
 * @weight: (nullable): the scale, shaped like the trailing dims
 * @bias: (nullable): the shift, shaped like the trailing dims
 * @eps: added to the biased variance
 *
 * As torch.nn.functional.layer_norm.  Differentiable twice.
 */
T2iTensor *
t2i_layer_norm (T2iTensor * x, gint norm_ndim, T2iTensor * weight,
    T2iTensor * bias, double eps)
{
  g_return_val_if_fail (x != NULL && is_float (x), NULL);
  if (norm_ndim < 1 || norm_ndim > x->ndim) {
    g_critical ("t2i_layer_norm: norm_ndim %d out of range for %d-D input",
        norm_ndim, x->ndim);
    return NULL;
  }
  gint64 D = 1;
  for (gint i = x->ndim - norm_ndim; i < x->ndim; i++)
    D *= x->shape[i];
  if (!check_param ("t2i_layer_norm", "weight", weight, x, D)
      || !check_param ("t2i_layer_norm", "bias", bias, x, D))
    return NULL;
  if (D == 0 || x->numel == 0)
    return t2i_tensor_zeros_like (x);
  return row_norm ("layer_norm", x, weight, bias, x->numel / D, 1, D, 1, 0,
      eps);
}

/**
 * t2i_group_norm:
 * @x: [N, C, ...] input
 * @groups: number of groups, dividing C
 * @weight: (nullable): per-channel scale [C]
 * @bias: (nullable): per-channel shift [C]
 * @eps: added to the biased variance
 *
 * As torch.nn.functional.group_norm: statistics over the C/groups channels
 * and all spatial positions of each (sample, group).  Differentiable twice.
 */
T2iTensor *
t2i_group_norm (T2iTensor * x, gint groups, T2iTensor * weight,
    T2iTensor * bias, double eps)
{
  g_return_val_if_fail (x != NULL && is_float (x), NULL);
  if (x->ndim < 2 || groups < 1 || x->shape[1] % groups != 0) {
    g_critical ("t2i_group_norm: need [N,C,...] input with C divisible by "
        "groups (%d)", groups);
    return NULL;
  }
  const gint64 N = x->shape[0], C = x->shape[1];
  gint64 S = 1;
  for (gint i = 2; i < x->ndim; i++)
    S *= x->shape[i];
  if (!check_param ("t2i_group_norm", "weight", weight, x, C)
      || !check_param ("t2i_group_norm", "bias", bias, x, C))
    return NULL;
  if (x->numel == 0)
    return t2i_tensor_zeros_like (x);
  return row_norm ("group_norm", x, weight, bias, N * groups, groups,
      C / groups, S, 1, eps);
}

/* ------------------------------------------------------------------------ */
/* Batch norm                                                                */
/* ------------------------------------------------------------------------ */

/* node->i: [0] N, [1] C, [2] S, [3] batch stats; f[0] eps;
 * saved: mean [C], rstd [C] (batch or running statistics) */
static void
batch_norm_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *w = node->inputs[1], *b = node->inputs[2];
  const gint64 N = node->i[0], C = node->i[1], S = node->i[2];
  const gboolean batch_stats = node->i[3];

  if (t2i_grad_enabled ()) {
    NormLayout L = { {N, C, S}, {N, C, S}, 1u | 4u, node->f[0], NULL, NULL };
    if (!batch_stats) {
      L.const_mean = node->saved[0];
      L.const_rstd = node->saved[1];
    }
    norm_backward_ops (node, g, gin, &L);
    return;
  }

  T2iTensor *gx = node->needs_grad[0] ? t2i_tensor_new_like (x) : NULL;
  T2iTensor *gw = w && node->needs_grad[1] ? t2i_tensor_new_like (w) : NULL;
  T2iTensor *gb = b && node->needs_grad[2] ? t2i_tensor_new_like (b) : NULL;
  if (!T2I_BACKEND (x)->batch_norm_bw (x, g, w, node->saved[0],
          node->saved[1], batch_stats, gx, gw, gb)) {
    g_clear_pointer (&gx, t2i_tensor_unref);
    g_clear_pointer (&gw, t2i_tensor_unref);
    g_clear_pointer (&gb, t2i_tensor_unref);
  }
  gin[0] = gx;
  gin[1] = gw;
  gin[2] = gb;
}

/**
 * t2i_batch_norm:
 * @x: [N, C, ...] input
 * @weight: (nullable): per-channel scale [C]
 * @bias: (nullable): per-channel shift [C]
 * @running_mean: (nullable): [C], f32 or f64
 * @running_var: (nullable): [C], f32 or f64
 * @training: use batch statistics and update the running ones
 * @momentum: running = (1 - momentum) * running + momentum * batch
 * @eps: added to the variance
 *
 * As torch.nn.functional.batch_norm.  In training mode (or when no running
 * statistics are given) the batch mean and biased variance over N and the
 * spatial dims normalise x, and the running statistics, when given, are
 * updated in place with the batch mean and the unbiased variance.  In
 * evaluation mode the running statistics normalise x and are constants for
 * autograd (copies are kept, so later updates do not change the graph).
 * Differentiable twice.
 */
T2iTensor *
t2i_batch_norm (T2iTensor * x, T2iTensor * weight, T2iTensor * bias,
    T2iTensor * running_mean, T2iTensor * running_var, gboolean training,
    double momentum, double eps)
{
  g_return_val_if_fail (x != NULL && is_float (x), NULL);
  if (x->ndim < 2) {
    g_critical ("t2i_batch_norm: need an [N,C,...] input");
    return NULL;
  }
  const gint64 N = x->shape[0], C = x->shape[1], S = x->numel / MAX (N * C, 1);
  if (!check_param ("t2i_batch_norm", "weight", weight, x, C)
      || !check_param ("t2i_batch_norm", "bias", bias, x, C))
    return NULL;
  if ((running_mean == NULL) != (running_var == NULL)
      || (running_mean && (!is_float (running_mean)
              || !is_float (running_var) || running_mean->numel != C
              || running_var->numel != C))) {
    g_critical ("t2i_batch_norm: running_mean and running_var must both be "
        "given, as float tensors of %" G_GINT64_FORMAT " elements", C);
    return NULL;
  }
  const gboolean batch_stats = training || running_mean == NULL;
  if (batch_stats && N * S <= 1) {
    g_critical ("t2i_batch_norm: expected more than 1 value per channel when "
        "training");
    return NULL;
  }

  if (running_mean && (running_mean->device != x->device
          || running_var->device != x->device)) {
    g_critical ("t2i_batch_norm: running statistics must be on %s like x",
        t2i_device_name (x->device));
    return NULL;
  }

  const gint64 cshape[1] = { C };
  g_autoptr (T2iTensor) mean = t2i_tensor_new_on (x->device, x->dtype, 1,
      cshape);
  g_autoptr (T2iTensor) rstd = t2i_tensor_new_on (x->device, x->dtype, 1,
      cshape);
  T2iTensor *y = t2i_tensor_new_like (x);
  const T2iBackend *be = T2I_BACKEND (x);

  if (!y || !mean || !rstd
      || !be->batch_norm_stats (x, batch_stats, running_mean, running_var,
          training && running_mean != NULL, momentum, eps, mean, rstd)
      || !be->batch_norm_apply (x, weight, bias, mean, rstd, y)) {
    g_clear_pointer (&y, t2i_tensor_unref);
    return NULL;
  }

  T2iTensor *in[3] = { x, weight, bias };
  if (!t2i_any_requires_grad (3, in))
    return y;
  T2iNode *node = t2i_node_new ("batch_norm", batch_norm_backward, 3, in);
  node->i[0] = N;
  node->i[1] = C;
  node->i[2] = S;
  node->i[3] = batch_stats;
  node->f[0] = eps;
  t2i_node_save (node, 0, mean);
  t2i_node_save (node, 1, rstd);
  return t2i_node_attach (node, y);
}

/* ------------------------------------------------------------------------ */
/* AdaLN modulation                                                          */
/* ------------------------------------------------------------------------ */

static void
adaln_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *scale = node->inputs[1];
  if (node->needs_grad[0]) {
    g_autoptr (T2iTensor) s1 = t2i_add_scalar (scale, 1.0);
    gin[0] = t2i_mul (g, s1);
  }
  if (node->needs_grad[1]) {
    g_autoptr (T2iTensor) gx = t2i_mul (g, x);
    gin[1] = t2i_sum (gx, 1, TRUE);
  }
  if (node->inputs[2] && node->needs_grad[2])
    gin[2] = t2i_sum (g, 1, TRUE);
}

#define DEFINE_ADALN(T, sfx)                                                  \
static void                                                                   \
adaln_fwd_##sfx (const T * x, const T * sc, const T * sh, T * y, gint64 B,    \
    gint64 L, gint64 D)                                                       \
{                                                                             \
  _Pragma ("omp parallel for collapse(2) if (B * L * D > PAR_MIN)")          \
  for (gint64 b = 0; b < B; b++)                                              \
    for (gint64 l = 0; l < L; l++) {                                          \
      const T *xr = x + (b * L + l) * D, *s = sc + b * D;                     \
      const T *t = sh ? sh + b * D : NULL;                                    \
      T *yr = y + (b * L + l) * D;                                            \
      for (gint64 d = 0; d < D; d++)                                          \
        yr[d] = xr[d] * (1 + s[d]) + (t ? t[d] : 0);                          \
    }                                                                         \
}

DEFINE_ADALN (float, f32)
DEFINE_ADALN (double, f64)

gboolean
t2i_cpu_adaln (const T2iTensor * x, const T2iTensor * scale,
    const T2iTensor * shift, T2iTensor * y)
{
  const gint64 B = x->shape[0], L = x->shape[1], D = x->shape[2];
  if (x->dtype == T2I_F32)
    adaln_fwd_f32 (x->data, scale->data, shift ? shift->data : NULL, y->data,
        B, L, D);
  else
    adaln_fwd_f64 (x->data, scale->data, shift ? shift->data : NULL, y->data,
        B, L, D);
  return TRUE;
}

/**
 * t2i_adaln_modulate:
 * @x: [B, L, D]
 * @scale: [B, 1, D]
 * @shift: (nullable): [B, 1, D]
 *
 * x * (1 + scale) + shift, the modulation of adaptive layer norm (DiT).
 * Differentiable twice.
 */
T2iTensor *
t2i_adaln_modulate (T2iTensor * x, T2iTensor * scale, T2iTensor * shift)
{
  g_return_val_if_fail (x != NULL && scale != NULL && is_float (x), NULL);
  if (x->ndim != 3 || scale->ndim != 3 || scale->dtype != x->dtype
      || scale->shape[0] != x->shape[0] || scale->shape[1] != 1
      || scale->shape[2] != x->shape[2]
      || (shift && !t2i_tensor_same_shape (shift, scale))
      || (shift && shift->dtype != x->dtype)) {
    g_critical ("t2i_adaln_modulate: need x [B,L,D] and scale, shift "
        "[B,1,D] of the same dtype");
    return NULL;
  }
  if (scale->device != x->device || (shift && shift->device != x->device)) {
    g_critical ("t2i_adaln_modulate: scale and shift must be on %s like x",
        t2i_device_name (x->device));
    return NULL;
  }
  T2iTensor *y = t2i_tensor_new_like (x);
  if (y && !T2I_BACKEND (x)->adaln (x, scale, shift, y))
    g_clear_pointer (&y, t2i_tensor_unref);
  if (!y)
    return NULL;
  T2iTensor *in[3] = { x, scale, shift };
  if (!t2i_any_requires_grad (3, in))
    return y;
  return t2i_node_attach (t2i_node_new ("adaln_modulate", adaln_backward, 3,
          in), y);
}

/* ------------------------------------------------------------------------ */
/* L2 normalisation                                                          */
/* ------------------------------------------------------------------------ */

#define DEFINE_L2(T, sfx)                                                     \
/* x viewed as [O, K, I], normalised along K; @den [O, I] = max(norm, eps) */ \
static void                                                                   \
l2_fwd_##sfx (const T * x, T * y, T * den, gint64 O, gint64 K, gint64 I,      \
    double eps)                                                               \
{                                                                             \
  _Pragma ("omp parallel for collapse(2) if (O * K * I > PAR_MIN)")          \
  for (gint64 o = 0; o < O; o++)                                              \
    for (gint64 i = 0; i < I; i++) {                                          \
      const T *xs = x + o * K * I + i;                                        \
      T *ys = y + o * K * I + i;                                              \
      double s = 0;                                                           \
      for (gint64 k = 0; k < K; k++)                                          \
        s += (double) xs[k * I] * xs[k * I];                                  \
      const double d = MAX (sqrt (s), eps);                                   \
      const T inv = (T) (1.0 / d);                                            \
      den[o * I + i] = (T) d;                                                 \
      for (gint64 k = 0; k < K; k++)                                          \
        ys[k * I] = xs[k * I] * inv;                                          \
    }                                                                         \
}

DEFINE_L2 (float, f32)
DEFINE_L2 (double, f64)

gboolean
t2i_cpu_l2_normalize (const T2iTensor * x, gint ax, double eps, T2iTensor * y,
    T2iTensor * den)
{
  gint64 O = 1, I = 1;
  for (gint i = 0; i < ax; i++)
    O *= x->shape[i];
  for (gint i = ax + 1; i < x->ndim; i++)
    I *= x->shape[i];
  const gint64 K = x->shape[ax];
  if (x->dtype == T2I_F32)
    l2_fwd_f32 (x->data, y->data, den->data, O, K, I, eps);
  else
    l2_fwd_f64 (x->data, y->data, den->data, O, K, I, eps);
  return TRUE;
}

/* NULL when no norm of @den was clamped to @eps; else the constant mask of
 * the rows that were not */
T2iTensor *
t2i_cpu_l2_clamp_mask (const T2iTensor * den_saved, double eps)
{
  gboolean clamped = FALSE;
  for (gint64 i = 0; i < den_saved->numel && !clamped; i++)
    clamped = !(t2i_tensor_get (den_saved, i) > eps);
  if (!clamped)
    return NULL;
  T2iTensor *mask = t2i_tensor_new_like (den_saved);
  for (gint64 i = 0; i < mask->numel; i++)
    t2i_tensor_set (mask, i, t2i_tensor_get (den_saved, i) > eps);
  return mask;
}

/* node->i[0] axis; f[0] eps; saved[0] den (keepdim shape) */
static void
l2_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0], *den_saved = node->saved[0];
  const gint axis = (gint) node->i[0];
  const double eps = node->f[0];
  g_autoptr (T2iTensor) den = NULL;
  /* rows whose norm was clamped to eps are x / eps: no projection term */
  g_autoptr (T2iTensor) mask = T2I_BACKEND (x)->l2_clamp_mask (den_saved,
      eps);
  if (t2i_grad_enabled ()) {
    /* den = sqrt(max(sum x^2, eps^2)) = max(||x||, eps), differentiable */
    g_autoptr (T2iTensor) x2 = t2i_square (x);
    g_autoptr (T2iTensor) s = t2i_sum (x2, axis, TRUE);
    g_autoptr (T2iTensor) sc = t2i_clamp (s, eps * eps, HUGE_VAL);
    den = t2i_sqrt (sc);
  } else {
    den = t2i_tensor_ref (den_saved);
  }
  g_autoptr (T2iTensor) y = t2i_div (x, den);
  g_autoptr (T2iTensor) gy = t2i_mul (g, y);
  g_autoptr (T2iTensor) dot = t2i_sum (gy, axis, TRUE);
  g_autoptr (T2iTensor) dotm = mask ? t2i_mul (dot, mask)
      : t2i_tensor_ref (dot);
  g_autoptr (T2iTensor) proj = t2i_mul (y, dotm);
  g_autoptr (T2iTensor) diff = t2i_sub (g, proj);
  gin[0] = t2i_div (diff, den);
}

/**
 * t2i_l2_normalize:
 * @x: the input
 * @axis: the axis to normalise along (< 0 counts from the end)
 * @eps: lower bound of the norm
 *
 * x / max(||x||_2, eps) along @axis, as torch.nn.functional.normalize.
 * Differentiable twice.
 */
T2iTensor *
t2i_l2_normalize (T2iTensor * x, gint axis, double eps)
{
  g_return_val_if_fail (x != NULL && is_float (x), NULL);
  const gint ax = axis < 0 ? axis + x->ndim : axis;
  if (ax < 0 || ax >= x->ndim) {
    g_critical ("t2i_l2_normalize: axis %d out of range for %d-D input", axis,
        x->ndim);
    return NULL;
  }
  gint64 dshape[T2I_MAX_DIMS];
  memcpy (dshape, x->shape, sizeof (gint64) * x->ndim);
  dshape[ax] = 1;
  g_autoptr (T2iTensor) den = t2i_tensor_new_on (x->device, x->dtype, x->ndim,
      dshape);
  T2iTensor *y = t2i_tensor_new_like (x);
  if (!y || !den || !T2I_BACKEND (x)->l2_normalize (x, ax, eps, y, den)) {
    g_clear_pointer (&y, t2i_tensor_unref);
    return NULL;
  }
  if (!t2i_any_requires_grad (1, &x))
    return y;
  T2iNode *node = t2i_node_new ("l2_normalize", l2_backward, 1, &x);
  node->i[0] = ax;
  node->f[0] = eps;
  t2i_node_save (node, 0, den);
  return t2i_node_attach (node, y);
}

/**
 * t2i_cosine_similarity_matrix:
 * @a: [N, D]
 * @b: [M, D]
 * @eps: lower bound of each vector's norm
 *
 * out[i, j] = <a_i / max(||a_i||, eps), b_j / max(||b_j||, eps)>, the
 * pairwise form of torch.nn.functional.cosine_similarity; composed of
 * t2i_l2_normalize() and t2i_linear(), so differentiable twice.
 */
T2iTensor *
t2i_cosine_similarity_matrix (T2iTensor * a, T2iTensor * b, double eps)
{
  g_return_val_if_fail (a != NULL && b != NULL && is_float (a), NULL);
  if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[1]
      || a->dtype != b->dtype || a->device != b->device) {
    g_critical ("t2i_cosine_similarity_matrix: need a [N,D] and b [M,D] of "
        "the same dtype");
    return NULL;
  }
  g_autoptr (T2iTensor) an = t2i_l2_normalize (a, 1, eps);
  g_autoptr (T2iTensor) bn = t2i_l2_normalize (b, 1, eps);
  return t2i_linear (an, bn, NULL);
}
