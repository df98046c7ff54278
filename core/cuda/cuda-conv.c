/* The CUDA table: convolutions (core/ops/conv.c) through the runtime's
 * library (cuDNN on a GPU) with the direct kernels as the fallback, and
 * resampling / pooling (core/ops/pool.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "cuda-private.h"
#include "../ops/ops-internal.h"

static T2iKConvGeom
kgeom (const T2iConvGeom * G)
{
  T2iKConvGeom k = {
    G->n, G->ci, G->h, G->w, G->co, G->kh, G->kw, G->ho, G->wo,
    G->sh, G->sw, G->ph, G->pw, G->dh, G->dw, G->g
  };
  return k;
}

/* the library's convolution: 1 done, 0 failed, -1 not handled */
static int
library_conv (int kind, const T2iConvGeom * G, T2iDType dtype,
    gconstpointer in0, gconstpointer in1, gpointer out)
{
  const T2iKConvGeom kg = kgeom (G);
  int r = t2i_cuda_rt ()->conv (t2i_cuda_stream (), kind, dtype == T2I_F64,
      &kg, in0, in1, out);
  if (r == 0)
    t2i_cuda_check ("convolution", 0);
  return r;
}

gboolean
t2i_cuda_channel_bias (T2iTensor * y, const T2iTensor * b)
{
  const gint64 n = y->shape[0], c = y->shape[1];
  return T2I_CUDA_FT (y->dtype, channel_bias, y->numel,
      k.plane = y->numel / MAX (n * c, 1); k.C = c; k.b = b->data;
      k.y = y->data);
}

gboolean
t2i_cuda_conv_fwd (const T2iConvGeom * G, const T2iTensor * x,
    const T2iTensor * w, const T2iTensor * b, T2iTensor * y)
{
  if (y->numel == 0)
    return TRUE;
  if (G->n * G->ci > 0) {
    int r = library_conv (0, G, x->dtype, x->data, w->data, y->data);
    if (r >= 0)
      return r && (!b || t2i_cuda_channel_bias (y, b));
  }
  const T2iKConvGeom kg = kgeom (G);
  return T2I_CUDA_FT (x->dtype, conv_fwd, y->numel, k.G = kg; k.x = x->data;
      k.w = w->data; k.b = b ? b->data : NULL; k.y = y->data);
}

gboolean
t2i_cuda_conv_bwd_data (const T2iConvGeom * G, const T2iTensor * y,
    const T2iTensor * w, const T2iTensor * b, T2iTensor * x)
{
  if (x->numel == 0)
    return TRUE;
  int r = G->n * G->co > 0
      ? library_conv (1, G, y->dtype, y->data, w->data, x->data) : -1;
  if (r == 0)
    return FALSE;
  if (r < 0) {
    const T2iKConvGeom kg = kgeom (G);
    if (!T2I_CUDA_FT (y->dtype, conv_bwd_data, x->numel, k.G = kg;
            k.dy = y->data; k.w = w->data; k.dx = x->data))
      return FALSE;
  }
  return !b || t2i_cuda_channel_bias (x, b);
}

gboolean
t2i_cuda_conv_bwd_weights (const T2iConvGeom * G, const T2iTensor * x,
    const T2iTensor * dy, T2iTensor * dw)
{
  if (dw->numel == 0)
    return TRUE;
  if (G->n * G->ho * G->wo > 0) {
    int r = library_conv (2, G, x->dtype, x->data, dy->data, dw->data);
    if (r >= 0)
      return r;
  }
  const T2iKConvGeom kg = kgeom (G);
  return T2I_CUDA_FT (x->dtype, conv_bwd_w, dw->numel, k.G = kg;
      k.x = x->data; k.dy = dy->data; k.dw = dw->data);
}

T2iTensor *
t2i_cuda_channel_sum (const T2iTensor * g)
{
  const gint64 c = g->shape[1];
  T2iTensor *s = t2i_tensor_new_on (T2I_DEVICE_CUDA, g->dtype, 1, &c);
  if (s && !T2I_CUDA_FT (g->dtype, channel_sum, c, k.n = g->shape[0];
          k.c = c; k.plane = g->shape[2] * g->shape[3]; k.g = g->data;
          k.s = s->data))
    g_clear_pointer (&s, t2i_tensor_unref);
  return s;
}

/* ---- resampling and pooling ---- */

static T2iKResample
kspec (const T2iResampleSpec * sp)
{
  T2iKResample k = {
    sp->kind, sp->flag, sp->ih, sp->iw, sp->oh, sp->ow, sp->k, sp->s, sp->p,
    sp->idx ? (const int32_t *) sp->idx->data : NULL
  };
  return k;
}

gboolean
t2i_cuda_resample (const T2iResampleSpec * sp, gboolean transposed,
    const T2iTensor * x, T2iTensor * y)
{
  const T2iKResample ks = kspec (sp);
  if (transposed)
    return T2I_CUDA_FT (x->dtype, resample_adj, x->shape[0] * x->shape[1],
        k.sp = ks; k.g = x->data; k.dx = y->data);
  return T2I_CUDA_FT (x->dtype, resample, y->numel, k.sp = ks;
      k.x = x->data; k.y = y->data);
}

gboolean
t2i_cuda_max_pool (const T2iResampleSpec * sp, const T2iTensor * x,
    T2iTensor * y, T2iTensor * idx)
{
  const T2iKResample ks = kspec (sp);
  return T2I_CUDA_FT (x->dtype, max_pool, y->numel, k.sp = ks;
      k.x = x->data; k.y = y->data; k.idx = idx->data);
}
