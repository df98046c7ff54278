/* VQ-Diffusion's discrete diffusion: schedule, forward process, posterior,
 * variational bound, truncation, guidance (see t2i/vqdiffusion.h).
 *
 * Everything follows the released code's log-space computation
 * (microsoft/VQ-Diffusion diffusion_transformer.py: alpha_schedule,
 * q_pred, q_pred_one_timestep, q_posterior, predict_start, _train_loss):
 * log_add_exp of two terms, the -70 clamp, log(1e-30) for impossible
 * classes.  Per-item schedule values are [N, 1, 1] constants broadcast over
 * classes and tokens; the gradient flows through log x_0 only.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/vqdiffusion.h"

#include <math.h>
#include <string.h>
#include "t2i/ops.h"

#define LOG_MIN (-70.0)
/* log of the probability of an impossible class (log(1e-30)) */
#define LOG_ZERO (-69.07755278982137)
/* stands for log(0) in the schedule arrays: exp() of it is 0 in f32 */
#define LOG_NONE (-1.0e4)

struct _T2iVqSchedule
{
  gint T, K;
  /* one step, index 0 .. T - 1 */
  double *la, *lb, *lg, *l1mg;
  /* cumulative, index 0 .. T, T being the identity ("t = -1") */
  double *lca, *lcb, *lcg, *l1mcg;
};

static double
safe_log (double x)
{
  return x > 0 ? log (x) : LOG_NONE;
}

/* log(1 - exp(a)), as the code's log_1_min_a: log(1 - e^a + 1e-40) */
static double
log_1_min (double a)
{
  return log (1.0 - exp (a) + 1e-40);
}

T2iVqSchedule *
t2i_vq_schedule_new (gint timesteps, gint codes)
{
  g_return_val_if_fail (timesteps >= 2 && codes >= 2, NULL);
  T2iVqSchedule *s = g_new0 (T2iVqSchedule, 1);
  const gint T = timesteps;
  const double att_1 = 0.99999, att_T = 0.000009, ctt_1 = 0.000009,
      ctt_T = 0.99999;
  g_autofree double *att = g_new (double, T + 1);
  g_autofree double *ctt = g_new (double, T + 1);

  s->T = T;
  s->K = codes;
  s->la = g_new (double, T);
  s->lb = g_new (double, T);
  s->lg = g_new (double, T);
  s->l1mg = g_new (double, T);
  s->lca = g_new (double, T + 1);
  s->lcb = g_new (double, T + 1);
  s->lcg = g_new (double, T + 1);
  s->l1mcg = g_new (double, T + 1);

  /* att[0] = 1, ctt[0] = 0 (before the first step), then linear */
  att[0] = 1.0;
  ctt[0] = 0.0;
  for (gint i = 0; i < T; i++) {
    att[i + 1] = (double) i / (T - 1) * (att_T - att_1) + att_1;
    ctt[i + 1] = (double) i / (T - 1) * (ctt_T - ctt_1) + ctt_1;
  }
  for (gint i = 0; i < T; i++) {
    const double at = att[i + 1] / att[i];
    const double ct = 1.0 - (1.0 - ctt[i + 1]) / (1.0 - ctt[i]);
    const double bt = (1.0 - at - ct) / codes;
    s->la[i] = safe_log (at);
    s->lb[i] = safe_log (bt);
    s->lg[i] = safe_log (ct);
    s->l1mg[i] = log_1_min (s->lg[i]);
  }
  /* the cumulative arrays shifted by one, the identity last */
  for (gint i = 0; i <= T; i++) {
    const double a = i < T ? att[i + 1] : 1.0;
    const double g = i < T ? ctt[i + 1] : 0.0;
    s->lca[i] = safe_log (a);
    s->lcb[i] = safe_log ((1.0 - a - g) / codes);
    s->lcg[i] = safe_log (g);
    s->l1mcg[i] = log_1_min (s->lcg[i]);
  }
  return s;
}

void
t2i_vq_schedule_free (T2iVqSchedule * s)
{
  if (!s)
    return;
  g_free (s->la);
  g_free (s->lb);
  g_free (s->lg);
  g_free (s->l1mg);
  g_free (s->lca);
  g_free (s->lcb);
  g_free (s->lcg);
  g_free (s->l1mcg);
  g_free (s);
}

gint
t2i_vq_schedule_timesteps (const T2iVqSchedule * s)
{
  return s->T;
}

gint
t2i_vq_schedule_codes (const T2iVqSchedule * s)
{
  return s->K;
}

/* the cumulative arrays' index of step t (-1: the identity, at T) */
static gint
cum_index (const T2iVqSchedule * s, gint t)
{
  return (t + s->T + 1) % (s->T + 1);
}

double
t2i_vq_schedule_log_cumprod_a (const T2iVqSchedule * s, gint t)
{
  return s->lca[cum_index (s, t)];
}

double
t2i_vq_schedule_log_cumprod_g (const T2iVqSchedule * s, gint t)
{
  return s->lcg[cum_index (s, t)];
}

/* The discrete state (tokens, steps) is read and built on the host: a
 * host copy of @t (a reference when it is there), and @host (consumed) on
 * @device.  On the CPU both are references, so nothing changes there. */
static T2iTensor *
host_of (T2iTensor * t)
{
  return t2i_tensor_to_device (t, T2I_DEVICE_CPU, NULL);
}

static T2iTensor *
onto (T2iTensor * host, T2iDevice device)
{
  T2iTensor *r = t2i_tensor_to_device (host, device, NULL);
  t2i_tensor_unref (host);
  return r;
}

/* [N, 1, 1] of @array at each item's step (+ @shift), of @dtype, on
 * @device */
static T2iTensor *
per_item (const T2iVqSchedule * s, const double *array, gboolean cumulative,
    T2iTensor * t, gint shift, T2iDType dtype, T2iDevice device)
{
  const gint64 n = t->shape[0];
  g_autoptr (T2iTensor) th = host_of (t);
  T2iTensor *v = t2i_tensor_new (dtype, T2I_SHAPE (n, 1, 1));
  for (gint64 i = 0; i < n; i++) {
    const gint step = t2i_tensor_i32 (th)[i] + shift;
    t2i_tensor_set (v, i, array[cumulative ? cum_index (s, step) : step]);
  }
  return onto (v, device);
}

/* log(e^a + e^b), stable */
static T2iTensor *
log_add_exp (T2iTensor * a, T2iTensor * b)
{
  g_autoptr (T2iTensor) m = t2i_maximum (a, b);
  g_autoptr (T2iTensor) m0 = t2i_detach (m);
  g_autoptr (T2iTensor) da = t2i_sub (a, m0);
  g_autoptr (T2iTensor) db = t2i_sub (b, m0);
  g_autoptr (T2iTensor) ea = t2i_exp (da);
  g_autoptr (T2iTensor) eb = t2i_exp (db);
  g_autoptr (T2iTensor) sum = t2i_add (ea, eb);
  g_autoptr (T2iTensor) l = t2i_log (sum);
  return t2i_add (l, m0);
}

T2iTensor *
t2i_vq_log_onehot (const T2iVqSchedule * s, T2iTensor * tokens)
{
  const gint64 n = tokens->shape[0], l = tokens->shape[1];
  const gint c = s->K + 1;
  g_autoptr (T2iTensor) th = host_of (tokens);
  T2iTensor *x = t2i_tensor_new (T2I_F32, T2I_SHAPE (n, c, l));
  float *xv = t2i_tensor_f32 (x);
  for (gint64 i = 0; i < n * c * l; i++)
    xv[i] = (float) LOG_ZERO;
  for (gint64 i = 0; i < n; i++)
    for (gint64 j = 0; j < l; j++) {
      const gint32 v = t2i_tensor_i32 (th)[i * l + j];
      g_return_val_if_fail (v >= 0 && v < c, onto (x, tokens->device));
      xv[(i * c + v) * l + j] = 0.0f;
    }
  return onto (x, tokens->device);
}

/* [x[:, :K] + @a_k, x[:, K:] + @a_mask] log-added to [@b_k, @b_mask]:
 * the shape both forward kernels share */
static T2iTensor *
kernel (T2iTensor * log_x, gint K, T2iTensor * a_k, T2iTensor * b_k,
    T2iTensor * a_mask, T2iTensor * b_mask)
{
  g_autoptr (T2iTensor) codes = t2i_slice (log_x, 1, 0, K);
  g_autoptr (T2iTensor) mask = t2i_slice (log_x, 1, K, K + 1);
  g_autoptr (T2iTensor) c1 = t2i_add (codes, a_k);
  g_autoptr (T2iTensor) m1 = t2i_add (mask, a_mask);
  g_autoptr (T2iTensor) bk = t2i_expand (b_k, 3, c1->shape);
  g_autoptr (T2iTensor) bm = t2i_expand (b_mask, 3, m1->shape);
  g_autoptr (T2iTensor) c2 = log_add_exp (c1, bk);
  g_autoptr (T2iTensor) m2 = log_add_exp (m1, bm);
  T2iTensor *parts[2] = { c2, m2 };
  return t2i_concat (parts, 2, 1);
}

/* q_pred at each item's step + @shift */
static T2iTensor *
q_pred_shift (const T2iVqSchedule * s, T2iTensor * log_x0, T2iTensor * t,
    gint shift)
{
  const T2iDType dt = log_x0->dtype;
  const T2iDevice dev = log_x0->device;
  g_autoptr (T2iTensor) a = per_item (s, s->lca, TRUE, t, shift, dt, dev);
  g_autoptr (T2iTensor) b = per_item (s, s->lcb, TRUE, t, shift, dt, dev);
  g_autoptr (T2iTensor) m = per_item (s, s->l1mcg, TRUE, t, shift, dt, dev);
  g_autoptr (T2iTensor) g = per_item (s, s->lcg, TRUE, t, shift, dt, dev);
  return kernel (log_x0, s->K, a, b, m, g);
}

T2iTensor *
t2i_vq_q_pred (const T2iVqSchedule * s, T2iTensor * log_x0, T2iTensor * t)
{
  return q_pred_shift (s, log_x0, t, 0);
}

T2iTensor *
t2i_vq_sample_categorical (T2iTensor * log_p, T2iRng * rng)
{
  const gint64 n = log_p->shape[0], c = log_p->shape[1], l = log_p->shape[2];
  /* Gumbel argmax on the host over a host copy of the log-probabilities */
  g_autoptr (T2iTensor) lp = host_of (log_p);
  g_autofree double *u = g_new (double, n * c * l);
  t2i_rng_uniform_f64 (rng, u, (gsize) (n * c * l), 0.0, 1.0);
  T2iTensor *out = t2i_tensor_new (T2I_I32, T2I_SHAPE (n, l));
  for (gint64 i = 0; i < n; i++)
    for (gint64 j = 0; j < l; j++) {
      double best = -G_MAXDOUBLE;
      gint32 arg = 0;
      for (gint64 k = 0; k < c; k++) {
        const gint64 at = (i * c + k) * l + j;
        /* the released code's Gumbel noise */
        const double g = -log (-log (u[at] + 1e-30) + 1e-30);
        const double v = t2i_tensor_get (lp, at) + g;
        if (v > best) {
          best = v;
          arg = (gint32) k;
        }
      }
      t2i_tensor_i32 (out)[i * l + j] = arg;
    }
  return onto (out, log_p->device);
}

T2iTensor *
t2i_vq_q_sample (const T2iVqSchedule * s, T2iTensor * x0, T2iTensor * t,
    T2iRng * rng)
{
  g_autoptr (T2iTensor) lx = t2i_vq_log_onehot (s, x0);
  g_autoptr (T2iTensor) lq = t2i_vq_q_pred (s, lx, t);
  return t2i_vq_sample_categorical (lq, rng);
}

T2iTensor *
t2i_vq_log_x0 (T2iTensor * logits)
{
  const gint64 n = logits->shape[0], l = logits->shape[2];
  g_autoptr (T2iTensor) ls = t2i_log_softmax (logits, 1);
  T2iTensor *mask_h = t2i_tensor_new (logits->dtype, T2I_SHAPE (n, 1, l));
  for (gint64 i = 0; i < n * l; i++)
    t2i_tensor_set (mask_h, i, LOG_MIN);
  g_autoptr (T2iTensor) mask = onto (mask_h, logits->device);
  T2iTensor *parts[2] = { ls, mask };
  g_autoptr (T2iTensor) cat = t2i_concat (parts, 2, 1);
  return t2i_clamp (cat, LOG_MIN, 0.0);
}

/* [N, 1, L]: 1 where x_t is the mask token, on @device */
static T2iTensor *
mask_of (const T2iVqSchedule * s, T2iTensor * xt, T2iDType dtype,
    T2iDevice device)
{
  const gint64 n = xt->shape[0], l = xt->shape[1];
  g_autoptr (T2iTensor) xh = host_of (xt);
  T2iTensor *m = t2i_tensor_zeros (dtype, T2I_SHAPE (n, 1, l));
  for (gint64 i = 0; i < n * l; i++)
    if (t2i_tensor_i32 (xh)[i] == s->K)
      t2i_tensor_set (m, i, 1.0);
  return onto (m, device);
}

/* (1 - m) a + m b */
static T2iTensor *
blend (T2iTensor * m, T2iTensor * a, T2iTensor * b)
{
  g_autoptr (T2iTensor) d = t2i_sub (b, a);
  g_autoptr (T2iTensor) md = t2i_mul (m, d);
  return t2i_add (a, md);
}

T2iTensor *
t2i_vq_q_posterior (const T2iVqSchedule * s, T2iTensor * log_x0,
    T2iTensor * xt, T2iTensor * t)
{
  const T2iDType dt = log_x0->dtype;
  const T2iDevice dev = log_x0->device;
  const gint K = s->K;
  const gint64 n = xt->shape[0], l = xt->shape[1];
  g_autoptr (T2iTensor) log_xt_any = t2i_vq_log_onehot (s, xt);
  g_autoptr (T2iTensor) log_xt = t2i_tensor_to_device (log_xt_any, dev, NULL);
  g_autoptr (T2iTensor) lxt = t2i_tensor_to_dtype (log_xt, dt);
  g_autoptr (T2iTensor) mask = mask_of (s, xt, dt, dev);

  /* q(x_t | x_0 = k) for every code k: a column of the cumulative kernel;
   * gbar_t for every k where x_t is the mask */
  g_autoptr (T2iTensor) qt_all = t2i_vq_q_pred (s, lxt, t);
  g_autoptr (T2iTensor) qt = t2i_slice (qt_all, 1, 0, K);
  g_autoptr (T2iTensor) cg = per_item (s, s->lcg, TRUE, t, 0, dt, dev);
  g_autoptr (T2iTensor) cgv = t2i_expand (cg, 3, qt->shape);
  g_autoptr (T2iTensor) log_qt = blend (mask, qt, cgv);

  /* q(x_t | x_{t-1} = k): the one-step kernel's column, 0 for the mask
   * class; g_t for every code (1 for the mask) where x_t is the mask */
  g_autoptr (T2iTensor) a1 = per_item (s, s->la, FALSE, t, 0, dt, dev);
  g_autoptr (T2iTensor) b1 = per_item (s, s->lb, FALSE, t, 0, dt, dev);
  g_autoptr (T2iTensor) m1 = per_item (s, s->l1mg, FALSE, t, 0, dt, dev);
  g_autoptr (T2iTensor) g1 = per_item (s, s->lg, FALSE, t, 0, dt, dev);
  g_autoptr (T2iTensor) one = kernel (lxt, K, a1, b1, m1, g1);
  g_autoptr (T2iTensor) one_codes = t2i_slice (one, 1, 0, K);
  g_autoptr (T2iTensor) zero_row = t2i_tensor_full_on (dev, dt,
      T2I_SHAPE (n, 1, l), LOG_ZERO);
  T2iTensor *op[2] = { one_codes, zero_row };
  g_autoptr (T2iTensor) one_cat = t2i_concat (op, 2, 1);
  g_autoptr (T2iTensor) g1v = t2i_expand (g1, 3, one_codes->shape);
  g_autoptr (T2iTensor) one_row = t2i_tensor_zeros_on (dev, dt,
      T2I_SHAPE (n, 1, l));
  T2iTensor *cp[2] = { g1v, one_row };
  g_autoptr (T2iTensor) ct_vec = t2i_concat (cp, 2, 1);
  g_autoptr (T2iTensor) log_one = blend (mask, one_cat, ct_vec);

  /* x_0's weights divided by q(x_t | x_0), normalised (the normaliser
   * kept), pushed through the cumulative kernel at t - 1 */
  g_autoptr (T2iTensor) x0_codes = t2i_slice (log_x0, 1, 0, K);
  g_autoptr (T2iTensor) q_codes = t2i_sub (x0_codes, log_qt);
  T2iTensor *qp[2] = { q_codes, zero_row };
  g_autoptr (T2iTensor) q = t2i_concat (qp, 2, 1);
  g_autoptr (T2iTensor) lse = t2i_logsumexp (q, 1, TRUE);
  g_autoptr (T2iTensor) qn = t2i_sub (q, lse);
  g_autoptr (T2iTensor) prev = q_pred_shift (s, qn, t, -1);
  g_autoptr (T2iTensor) sum1 = t2i_add (prev, log_one);
  g_autoptr (T2iTensor) sum2 = t2i_add (sum1, lse);
  return t2i_clamp (sum2, LOG_MIN, 0.0);
}

/* sum over classes of exp(a) (a - b): [N, 1, L] */
static T2iTensor *
multinomial_kl (T2iTensor * a, T2iTensor * b)
{
  g_autoptr (T2iTensor) pa = t2i_exp (a);
  g_autoptr (T2iTensor) d = t2i_sub (a, b);
  g_autoptr (T2iTensor) pd = t2i_mul (pa, d);
  return t2i_sum (pd, 1, TRUE);
}

/* -sum over classes of exp(a) b: [N, 1, L] */
static T2iTensor *
neg_log_categorical (T2iTensor * a, T2iTensor * b)
{
  g_autoptr (T2iTensor) pa = t2i_exp (a);
  g_autoptr (T2iTensor) pb = t2i_mul (pa, b);
  g_autoptr (T2iTensor) s = t2i_sum (pb, 1, TRUE);
  return t2i_neg (s);
}

/* [N]: sum over tokens, t = 0 items take @at_zero, the others @rest */
static T2iTensor *
per_item_terms (T2iTensor * t, T2iTensor * at_zero, T2iTensor * rest)
{
  const gint64 n = t->shape[0];
  g_autoptr (T2iTensor) th = host_of (t);
  T2iTensor *zh = t2i_tensor_zeros (rest->dtype, T2I_SHAPE (n, 1, 1));
  for (gint64 i = 0; i < n; i++)
    if (t2i_tensor_i32 (th)[i] == 0)
      t2i_tensor_set (zh, i, 1.0);
  g_autoptr (T2iTensor) z = onto (zh, rest->device);
  g_autoptr (T2iTensor) sel = blend (z, rest, at_zero);
  g_autoptr (T2iTensor) flat = t2i_reshape (sel, T2I_SHAPE (n, -1));
  return t2i_sum (flat, 1, FALSE);
}

T2iTensor *
t2i_vq_loss_terms (const T2iVqSchedule * s, T2iTensor * logits,
    T2iTensor * x0, T2iTensor * xt, T2iTensor * t, T2iTensor ** aux)
{
  const T2iDType dt = logits->dtype;
  g_autoptr (T2iTensor) log_x0_model = t2i_vq_log_x0 (logits);
  g_autoptr (T2iTensor) onehot_any = t2i_vq_log_onehot (s, x0);
  g_autoptr (T2iTensor) onehot = t2i_tensor_to_device (onehot_any,
      logits->device, NULL);
  g_autoptr (T2iTensor) log_x0_true = t2i_tensor_to_dtype (onehot, dt);
  g_autoptr (T2iTensor) model = t2i_vq_q_posterior (s, log_x0_model, xt, t);
  g_autoptr (T2iTensor) truth = t2i_vq_q_posterior (s, log_x0_true, xt, t);
  g_autoptr (T2iTensor) kl = multinomial_kl (truth, model);
  g_autoptr (T2iTensor) nll = neg_log_categorical (log_x0_true, model);
  if (aux) {
    const gint K = s->K;
    g_autoptr (T2iTensor) tc = t2i_slice (log_x0_true, 1, 0, K);
    g_autoptr (T2iTensor) mc = t2i_slice (log_x0_model, 1, 0, K);
    g_autoptr (T2iTensor) kl_aux = multinomial_kl (tc, mc);
    *aux = per_item_terms (t, nll, kl_aux);
  }
  return per_item_terms (t, nll, kl);
}

T2iTensor *
t2i_vq_truncate (T2iTensor * log_x0, double r)
{
  if (r >= 1.0)
    return t2i_tensor_copy (log_x0);
  /* a sort per position: on host copies */
  g_autoptr (T2iTensor) host = host_of (log_x0);
  g_autoptr (T2iTensor) src = t2i_tensor_to_dtype (host, T2I_F64);
  T2iTensor *out = t2i_tensor_copy (host);
  const gint64 n = log_x0->shape[0], c = log_x0->shape[1],
      l = log_x0->shape[2];
  g_autofree gint *order = g_new (gint, c);
  g_autofree double *p = g_new (double, c);
  for (gint64 i = 0; i < n; i++)
    for (gint64 j = 0; j < l; j++) {
      for (gint64 k = 0; k < c; k++) {
        p[k] = exp (t2i_tensor_get (src, (i * c + k) * l + j));
        order[k] = (gint) k;
      }
      /* the codes by probability, largest first (stable: lower index
       * first on ties), kept while the sum before them is below r */
      for (gint64 a = 1; a < c; a++) {
        gint v = order[a];
        gint64 b = a - 1;
        while (b >= 0 && p[order[b]] < p[v]) {
          order[b + 1] = order[b];
          b--;
        }
        order[b + 1] = v;
      }
      double cum = 0;
      for (gint64 k = 0; k < c; k++) {
        if (k > 0 && cum >= r)
          t2i_tensor_set (out, (i * c + order[k]) * l + j, LOG_MIN);
        cum += p[order[k]];
      }
    }
  return onto (out, log_x0->device);
}

T2iTensor *
t2i_vq_guide (T2iTensor * log_cond, T2iTensor * log_uncond, double scale)
{
  const gint64 c = log_cond->shape[1];
  g_autoptr (T2iTensor) cc = t2i_slice (log_cond, 1, 0, c - 1);
  g_autoptr (T2iTensor) uc = t2i_slice (log_uncond, 1, 0, c - 1);
  g_autoptr (T2iTensor) d = t2i_sub (cc, uc);
  g_autoptr (T2iTensor) sd = t2i_mul_scalar (d, scale);
  g_autoptr (T2iTensor) g = t2i_add (uc, sd);
  g_autoptr (T2iTensor) lse = t2i_logsumexp (g, 1, TRUE);
  g_autoptr (T2iTensor) gn = t2i_sub (g, lse);
  g_autoptr (T2iTensor) gc = t2i_clamp (gn, LOG_MIN, 0.0);
  g_autoptr (T2iTensor) mask = t2i_slice (log_cond, 1, c - 1, c);
  T2iTensor *parts[2] = { gc, mask };
  return t2i_concat (parts, 2, 1);
}
