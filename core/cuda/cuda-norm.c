/* The CUDA table: normalisation (core/ops/norm.c).  Statistics one slice
 * per index into double scratch buffers, then one element per index.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "cuda-private.h"
#include "../ops/ops-internal.h"

#define DATA(t) ((t) ? (t)->data : NULL)

gboolean
t2i_cuda_row_norm (const T2iNormDims * d, const T2iTensor * x,
    const T2iTensor * w, const T2iTensor * b, double eps, T2iTensor * y,
    T2iTensor * mean, T2iTensor * rstd)
{
  gpointer blk;
  double *stat = t2i_cuda_scratch (sizeof (double) * 2 * MAX (d->R, 1), &blk);
  if (!stat)
    return FALSE;
  gboolean ok = T2I_CUDA_FT (x->dtype, row_stats, d->R, k.M = d->Cg * d->S;
      k.eps = eps; k.x = x->data; k.mean = mean->data; k.rstd = rstd->data;
      k.stat = stat)
      && T2I_CUDA_FT (x->dtype, row_apply, x->numel, k.G = d->G;
      k.Cg = d->Cg; k.S = d->S; k.x = x->data; k.w = DATA (w);
      k.b = DATA (b); k.stat = stat; k.y = y->data);
  t2i_cuda_mem_free (blk);
  return ok;
}

gboolean
t2i_cuda_row_norm_bw (const T2iNormDims * d, const T2iTensor * x,
    const T2iTensor * g, const T2iTensor * w, const T2iTensor * mean,
    const T2iTensor * rstd, T2iTensor * gx, T2iTensor * gw, T2iTensor * gb)
{
  gboolean ok = TRUE;
  if (gx) {
    gpointer blk;
    double *sums = t2i_cuda_scratch (sizeof (double) * 2 * MAX (d->R, 1),
        &blk);
    if (!sums)
      return FALSE;
    ok = T2I_CUDA_FT (x->dtype, row_bw_sums, d->R, k.G = d->G; k.Cg = d->Cg;
        k.S = d->S; k.x = x->data; k.g = g->data; k.w = DATA (w);
        k.mean = mean->data; k.rstd = rstd->data; k.sums = sums)
        && T2I_CUDA_FT (x->dtype, row_bw_gx, x->numel, k.G = d->G;
        k.Cg = d->Cg; k.S = d->S; k.x = x->data; k.g = g->data;
        k.w = DATA (w); k.mean = mean->data; k.rstd = rstd->data;
        k.sums = sums; k.gx = gx->data);
    t2i_cuda_mem_free (blk);
  }
  if (ok && (gw || gb))
    ok = T2I_CUDA_FT (x->dtype, row_bw_affine, d->G * d->Cg, k.R = d->R;
        k.G = d->G; k.Cg = d->Cg; k.S = d->S; k.x = x->data; k.g = g->data;
        k.mean = mean->data; k.rstd = rstd->data; k.gw = DATA (gw);
        k.gb = DATA (gb));
  return ok;
}

gboolean
t2i_cuda_batch_norm_stats (const T2iTensor * x, gboolean batch_stats,
    T2iTensor * rm, T2iTensor * rv, gboolean update, double momentum,
    double eps, T2iTensor * mean, T2iTensor * rstd)
{
  const gint64 N = x->shape[0], C = x->shape[1], S = x->numel / MAX (N * C, 1);
  if (!batch_stats)
    return T2I_CUDA_FT (x->dtype, bn_running, C, k.update = 0;
        k.mdt = rm->dtype; k.vdt = rv->dtype; k.eps = eps; k.rm = rm->data;
        k.rv = rv->data; k.mean = mean->data; k.rstd = rstd->data);
  gpointer blk;
  double *var = t2i_cuda_scratch (sizeof (double) * MAX (C, 1), &blk);
  if (!var)
    return FALSE;
  gboolean ok = T2I_CUDA_FT (x->dtype, bn_stats, C, k.N = N; k.C = C;
      k.S = S; k.eps = eps; k.x = x->data; k.mean = mean->data;
      k.rstd = rstd->data; k.var = var);
  if (ok && update)
    ok = T2I_CUDA_FT (x->dtype, bn_running, C, k.update = 1;
        k.mdt = rm->dtype; k.vdt = rv->dtype; k.momentum = momentum;
        k.unbias = (double) (N * S) / (double) (N * S - 1); k.rm = rm->data;
        k.rv = rv->data; k.var = var; k.mean = mean->data;
        k.rstd = rstd->data);
  t2i_cuda_mem_free (blk);
  return ok;
}

gboolean
t2i_cuda_batch_norm_apply (const T2iTensor * x, const T2iTensor * w,
    const T2iTensor * b, const T2iTensor * mean, const T2iTensor * rstd,
    T2iTensor * y)
{
  const gint64 N = x->shape[0], C = x->shape[1], S = x->numel / MAX (N * C, 1);
  return T2I_CUDA_FT (x->dtype, bn_apply, x->numel, k.C = C; k.S = S;
      k.x = x->data; k.w = DATA (w); k.b = DATA (b); k.mean = mean->data;
      k.rstd = rstd->data; k.y = y->data);
}

gboolean
t2i_cuda_batch_norm_bw (const T2iTensor * x, const T2iTensor * g,
    const T2iTensor * w, const T2iTensor * mean, const T2iTensor * rstd,
    gboolean batch_stats, T2iTensor * gx, T2iTensor * gw, T2iTensor * gb)
{
  const gint64 N = x->shape[0], C = x->shape[1], S = x->numel / MAX (N * C, 1);
  gpointer blk;
  double *sums = t2i_cuda_scratch (sizeof (double) * 2 * MAX (C, 1), &blk);
  if (!sums)
    return FALSE;
  gboolean ok = T2I_CUDA_FT (x->dtype, bn_bw_sums, C, k.N = N; k.C = C;
      k.S = S; k.x = x->data; k.g = g->data; k.mean = mean->data;
      k.rstd = rstd->data; k.gw = DATA (gw); k.gb = DATA (gb);
      k.sums = sums);
  if (ok && gx)
    ok = T2I_CUDA_FT (x->dtype, bn_bw_gx, x->numel,
        k.batch_stats = batch_stats; k.N = N; k.C = C; k.S = S;
        k.x = x->data; k.g = g->data; k.w = DATA (w); k.mean = mean->data;
        k.rstd = rstd->data; k.sums = sums; k.gx = gx->data);
  t2i_cuda_mem_free (blk);
  return ok;
}

gboolean
t2i_cuda_adaln (const T2iTensor * x, const T2iTensor * scale,
    const T2iTensor * shift, T2iTensor * y)
{
  return T2I_CUDA_FT (x->dtype, adaln, x->numel, k.L = x->shape[1];
      k.D = x->shape[2]; k.x = x->data; k.sc = scale->data;
      k.sh = DATA (shift); k.y = y->data);
}

gboolean
t2i_cuda_l2_normalize (const T2iTensor * x, gint ax, double eps,
    T2iTensor * y, T2iTensor * den)
{
  gint64 O, K, I;
  t2i_ops_axis_split (x, ax, &O, &K, &I);
  return T2I_CUDA_FT (x->dtype, l2norm, O * I, k.K = K; k.I = I;
      k.eps = eps; k.x = x->data; k.y = y->data; k.den = den->data);
}

/* always the mask of the unclamped rows (multiplying by its ones is
 * exact; the CPU skips the mask when nothing was clamped) */
T2iTensor *
t2i_cuda_l2_clamp_mask (const T2iTensor * den, double eps)
{
  const double p[2] = { eps, 0 };
  return T2I_BACKEND (den)->unary (T2I_UN_GT, den, p);
}
