/* The CUDA table: losses (core/ops/loss.c), optimizer steps and moving
 * averages (core/optim), random fills and dropout (core/rng, misc.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "cuda-private.h"
#include "../ops/ops-internal.h"

static T2iTensor *
scalar_on_device (T2iDType dtype)
{
  return t2i_tensor_new_on (T2I_DEVICE_CUDA, dtype, 0, NULL);
}

/* out (0-d) = sum (part[0..m)) / div */
static T2iTensor *
mean_of_parts (T2iDType dtype, const double *part, gint64 m, double div)
{
  T2iTensor *out = scalar_on_device (dtype);
  if (out && !T2I_CUDA_FT (dtype, mean_finish, 1, k.m = m; k.div = div;
          k.part = part; k.out = out->data))
    g_clear_pointer (&out, t2i_tensor_unref);
  return out;
}

/* ---- losses ---- */

T2iTensor *
t2i_cuda_cross_entropy (const T2iTensor * x, const T2iTensor * labels)
{
  const gint64 N = x->shape[0];
  gpointer blk;
  double *part = t2i_cuda_scratch (sizeof (double) * MAX (N, 1), &blk);
  if (!part)
    return NULL;
  T2iTensor *out = T2I_CUDA_FT (x->dtype, ce_rows, N, k.C = x->shape[1];
      k.x = x->data; k.lb = labels->data; k.part = part)
      ? mean_of_parts (x->dtype, part, N, (double) N) : NULL;
  t2i_cuda_mem_free (blk);
  return out;
}

T2iTensor *
t2i_cuda_cross_entropy_bw (const T2iTensor * x, const T2iTensor * labels,
    const T2iTensor * g)
{
  T2iTensor *gx = t2i_tensor_new_like (x);
  if (gx && !T2I_CUDA_FT (x->dtype, ce_grad, x->shape[0], k.N = x->shape[0];
          k.C = x->shape[1]; k.x = x->data; k.g = g->data;
          k.lb = labels->data; k.gx = gx->data))
    g_clear_pointer (&gx, t2i_tensor_unref);
  return gx;
}

T2iTensor *
t2i_cuda_one_hot (const T2iTensor * labels, T2iDType dtype, gint64 c)
{
  const gint64 shape[2] = { labels->shape[0], c };
  T2iTensor *oh = t2i_tensor_new_on (T2I_DEVICE_CUDA, dtype, 2, shape);
  if (oh && !T2I_CUDA_FT (dtype, one_hot, oh->numel, k.c = c;
          k.lb = labels->data; k.o = oh->data))
    g_clear_pointer (&oh, t2i_tensor_unref);
  return oh;
}

T2iTensor *
t2i_cuda_bce (const T2iTensor * x, const T2iTensor * t)
{
  const gint64 n = x->numel, nch = t2i_cuda_chunks (1, n);
  gpointer blk;
  double *part = t2i_cuda_scratch (sizeof (double) * nch, &blk);
  if (!part)
    return NULL;
  T2iTensor *out = T2I_CUDA_FT (x->dtype, bce_partial, nch, k.n = n;
      k.nchunk = nch; k.x = x->data; k.t = t->data; k.part = part)
      ? mean_of_parts (x->dtype, part, nch, (double) n) : NULL;
  t2i_cuda_mem_free (blk);
  return out;
}

T2iTensor *
t2i_cuda_bce_bw (const T2iTensor * x, const T2iTensor * t, const T2iTensor * g,
    gboolean target)
{
  T2iTensor *o = t2i_tensor_new_like (x);
  if (o && !T2I_CUDA_FT (x->dtype, bce_grad, x->numel, k.target = target;
          k.n = x->numel; k.x = x->data; k.t = t->data; k.g = g->data;
          k.o = o->data))
    g_clear_pointer (&o, t2i_tensor_unref);
  return o;
}

T2iTensor *
t2i_cuda_dist_loss (const T2iTensor * a, const T2iTensor * b, gboolean l1)
{
  const gint64 n = a->numel, nch = t2i_cuda_chunks (1, n);
  gpointer blk;
  double *part = t2i_cuda_scratch (sizeof (double) * nch, &blk);
  if (!part)
    return NULL;
  T2iTensor *out = T2I_CUDA_FT (a->dtype, dist_partial, nch, k.l1 = l1;
      k.n = n; k.nchunk = nch; k.a = a->data; k.b = b->data; k.part = part)
      ? mean_of_parts (a->dtype, part, nch, (double) n) : NULL;
  t2i_cuda_mem_free (blk);
  return out;
}

T2iTensor *
t2i_cuda_sign_diff (const T2iTensor * a, const T2iTensor * b)
{
  T2iTensor *o = t2i_tensor_new_like (a);
  if (o && !T2I_CUDA_FT (a->dtype, sign_diff, a->numel, k.a = a->data;
          k.b = b->data; k.o = o->data))
    g_clear_pointer (&o, t2i_tensor_unref);
  return o;
}

/* ---- optimizers, moving averages ---- */

gboolean
t2i_cuda_sgd_step (T2iTensor * p, const T2iTensor * g, T2iTensor * buf,
    const T2iSgdArgs * a)
{
  return T2I_CUDA_K (sgd, p->numel, k.lr = a->lr; k.wd = a->wd;
      k.mom = a->mom; k.damp1 = a->damp1; k.momentum = a->momentum;
      k.nesterov = a->nesterov; k.first = a->first; k.p = p->data;
      k.buf = buf ? buf->data : NULL; k.g = g->data);
}

gboolean
t2i_cuda_adam_step (T2iTensor * p, const T2iTensor * g, T2iTensor * m,
    T2iTensor * v, const T2iAdamArgs * a)
{
  return T2I_CUDA_K (adam, p->numel, k.b1 = a->b1; k.one_m_b1 = a->one_m_b1;
      k.b2 = a->b2; k.one_m_b2 = a->one_m_b2; k.l2 = a->l2;
      k.shrink = a->shrink; k.neg_step_size = a->neg_step_size;
      k.bc2_sqrt = a->bc2_sqrt; k.eps = a->eps; k.decoupled = a->decoupled;
      k.p = p->data; k.m = m->data; k.v = v->data; k.g = g->data);
}

gboolean
t2i_cuda_lerp_mean (T2iTensor * avg, const T2iTensor * x, double beta)
{
  return T2I_CUDA_FT (x->dtype, lerp_mean, x->shape[1], k.n = x->shape[0];
      k.d = x->shape[1]; k.beta = beta; k.x = x->data; k.avg = avg->data);
}

gboolean
t2i_cuda_ema_step (T2iTensor * shadow, const T2iTensor * live, double decay)
{
  return T2I_CUDA_FT (live->dtype, ema, live->numel, k.d = decay;
      k.omd = 1.0 - decay; k.live = live->data; k.shadow = shadow->data);
}

/* ---- random fills: the same Philox blocks as core/rng/philox.c ---- */

gboolean
t2i_cuda_rng_fill (T2iRng * rng, T2iRngFill kind, T2iTensor * t, double a,
    double b)
{
  const guint64 n = (guint64) t->numel;
  const gboolean f32 = t->dtype == T2I_F32;
  guint64 nb;
  double top = 0;

  if (kind == T2I_RNG_BERNOULLI ? t->dtype == T2I_I32
      : (t->dtype != T2I_F32 && t->dtype != T2I_F64)) {
    g_critical ("t2i_rng_fill: unsupported dtype %s",
        t2i_dtype_name (t->dtype));
    return FALSE;
  }
  switch (kind) {
    case T2I_RNG_NORMAL:
      nb = f32 ? (n + (n & 1) + 3) / 4 : (n + 1) / 2;
      break;
    case T2I_RNG_BERNOULLI:
      nb = (n + 3) / 4;
      break;
    default:                   /* uniform, gumbel */
      nb = f32 ? (n + 3) / 4 : (2 * n + 3) / 4;
      break;
  }
  if (kind == T2I_RNG_UNIFORM) {
    /* the rounding of low + u * scale may reach @high: keep it below */
    if (f32) {
      float tf = nextafterf ((float) b, -INFINITY);
      if (!(tf >= (float) a))
        tf = (float) a;
      top = tf;
    } else {
      top = nextafter (b, -INFINITY);
      if (!(top >= a))
        top = a;
    }
  }
  const guint64 first = (rng->offset + 3) / 4;
  rng->offset = (first + nb) * 4;
  return T2I_CUDA_K (rng, nb, k.kind = kind; k.dt = t->dtype;
      k.n = (int64_t) n; k.seed = rng->seed; k.first = first; k.a = a;
      k.b = b; k.top = top; k.out = t->data);
}

gboolean
t2i_cuda_dropout_mask (T2iTensor * mask, double p, T2iRng * rng)
{
  return t2i_cuda_rng_fill (rng, T2I_RNG_BERNOULLI, mask, 1.0 - p, 0)
      && t2i_cuda_scale (mask, 1.0 / (1.0 - p));
}
