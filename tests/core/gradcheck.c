/* Gradient-check harness (see gradcheck.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gradcheck.h"

#include <t2i/ops.h>
#include <math.h>

static guint64 rng_state = 0x9E3779B97F4A7C15ull;
static double g_eps = 1e-6, g_atol = 1e-6, g_rtol = 1e-4;

void
gc_seed (guint64 seed)
{
  rng_state = seed * 0x9E3779B97F4A7C15ull + 1;
}

void
gc_set_tolerances (double eps, double atol, double rtol)
{
  g_eps = eps;
  g_atol = atol;
  g_rtol = rtol;
}

static double
next_uniform (void)
{
  /* splitmix64 */
  guint64 z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (z >> 11) * (1.0 / 9007199254740992.0);
}

T2iTensor *
gc_rand (gint ndim, const gint64 * shape, double lo, double hi)
{
  T2iTensor *t = t2i_tensor_new (T2I_F64, ndim, shape);
  double *d = t->data;
  for (gint64 i = 0; i < t->numel; i++)
    d[i] = lo + (hi - lo) * next_uniform ();
  return t;
}

T2iTensor *
gc_rand_spread (gint ndim, const gint64 * shape, double scale)
{
  /* a random permutation of evenly spaced values, sign-alternating, none
   * closer than scale/numel to another or to zero */
  T2iTensor *t = t2i_tensor_new (T2I_F64, ndim, shape);
  double *d = t->data;
  gint64 n = t->numel;
  for (gint64 i = 0; i < n; i++)
    d[i] = scale * (i + 1) / (double) n * ((i & 1) ? -1.0 : 1.0);
  for (gint64 i = n - 1; i > 0; i--) {
    gint64 j = (gint64) (next_uniform () * (i + 1));
    double tmp = d[i];
    d[i] = d[j];
    d[j] = tmp;
  }
  return t;
}

static double
weighted_sum (T2iTensor * out, T2iTensor * r)
{
  double s = 0;
  for (gint64 i = 0; i < out->numel; i++)
    s += t2i_tensor_get (out, i) * t2i_tensor_get (r, i);
  return s;
}

static double
eval_weighted (T2iCheckFn fn, T2iTensor ** inputs, gpointer user, T2iTensor * r)
{
  gboolean prev = t2i_set_grad_enabled (FALSE);
  T2iTensor *out = fn (inputs, user);
  double s = weighted_sum (out, r);
  t2i_tensor_unref (out);
  t2i_set_grad_enabled (prev);
  return s;
}

/* compares analytic gradient @ga of input @k with central differences of
 * @scalar_fn; returns FALSE and fails the test on mismatch */
typedef double (*ScalarFn) (T2iCheckFn fn, T2iTensor ** inputs, gint n,
    gpointer user, gpointer ctx);

static void
compare (const char *what, const char *order, gint k, T2iTensor * x,
    T2iTensor * ga, ScalarFn sf, T2iCheckFn fn, T2iTensor ** inputs, gint n,
    gpointer user, gpointer ctx)
{
  double *xd = x->data;
  double worst = 0, worst_a = 0, worst_n = 0;
  gint64 worst_i = -1;
  for (gint64 i = 0; i < x->numel; i++) {
    double save = xd[i];
    xd[i] = save + g_eps;
    double fp = sf (fn, inputs, n, user, ctx);
    xd[i] = save - g_eps;
    double fm = sf (fn, inputs, n, user, ctx);
    xd[i] = save;
    double num = (fp - fm) / (2 * g_eps);
    double ana = t2i_tensor_get (ga, i);
    double err = fabs (ana - num) - (g_atol + g_rtol * fabs (num));
    if (err > worst || !isfinite (ana)) {
      worst = isfinite (ana) ? err : INFINITY;
      worst_i = i;
      worst_a = ana;
      worst_n = num;
    }
  }
  if (worst_i >= 0) {
    g_autofree char *s = t2i_shape_to_string (x->ndim, x->shape);
    g_test_fail_printf ("%s: %s gradient of input %d %s wrong at element %"
        G_GINT64_FORMAT ": analytic %.10g numeric %.10g", what, order, k, s,
        worst_i, worst_a, worst_n);
  }
}

typedef struct
{
  T2iTensor *r;
} FirstCtx;

static double
first_scalar (T2iCheckFn fn, T2iTensor ** inputs, gint n, gpointer user,
    gpointer ctx)
{
  return eval_weighted (fn, inputs, user, ((FirstCtx *) ctx)->r);
}

static T2iTensor *
rand_like (T2iTensor * t)
{
  return gc_rand (t->ndim, t->shape, -1, 1);
}

void
gc_check_grad (const char *what, T2iCheckFn fn, T2iTensor ** inputs, gint n,
    gpointer user)
{
  T2iTensor *out = fn (inputs, user);
  g_assert_nonnull (out);
  T2iTensor *r = rand_like (out);
  T2iTensor *req[T2I_NODE_MAX_INPUTS * 2];
  gint idx[T2I_NODE_MAX_INPUTS * 2], m = 0;
  for (gint i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad) {
      idx[m] = i;
      req[m++] = inputs[i];
    }
  g_assert_cmpint (m, >, 0);
  T2iTensor **ga = t2i_grad (out, r, req, m, FALSE);
  FirstCtx ctx = { r };
  for (gint j = 0; j < m; j++) {
    compare (what, "first-order", idx[j], req[j], ga[j], first_scalar, fn,
        inputs, n, user, &ctx);
    t2i_tensor_unref (ga[j]);
  }
  g_free (ga);
  t2i_tensor_unref (r);
  t2i_tensor_unref (out);
}

/* S = sum_j sum(grad_j(sum(out * r)) * r2_j), with the inner gradient
 * recorded (create_graph) so S can be differentiated again */
typedef struct
{
  T2iTensor *r;
  T2iTensor **r2;
  T2iTensor **req;
  gint m;
} SecondCtx;

static T2iTensor *
second_build (T2iCheckFn fn, T2iTensor ** inputs, gpointer user, SecondCtx * c)
{
  T2iTensor *out = fn (inputs, user);
  T2iTensor **g = t2i_grad (out, c->r, c->req, c->m, TRUE);
  T2iTensor *s = NULL;
  for (gint j = 0; j < c->m; j++) {
    T2iTensor *p = t2i_mul (g[j], c->r2[j]);
    T2iTensor *ps = t2i_sum (p, T2I_ALL_AXES, FALSE);
    if (s) {
      T2iTensor *s2 = t2i_add (s, ps);
      t2i_tensor_unref (s);
      t2i_tensor_unref (ps);
      s = s2;
    } else {
      s = ps;
    }
    t2i_tensor_unref (p);
    t2i_tensor_unref (g[j]);
  }
  g_free (g);
  t2i_tensor_unref (out);
  return s;
}

static double
second_scalar (T2iCheckFn fn, T2iTensor ** inputs, gint n, gpointer user,
    gpointer ctx)
{
  T2iTensor *s = second_build (fn, inputs, user, ctx);
  double v = t2i_tensor_item (s);
  t2i_tensor_unref (s);
  return v;
}

void
gc_check_gradgrad (const char *what, T2iCheckFn fn, T2iTensor ** inputs,
    gint n, gpointer user)
{
  T2iTensor *out = fn (inputs, user);
  g_assert_nonnull (out);
  SecondCtx c = { rand_like (out), NULL, g_new0 (T2iTensor *, n), 0 };
  gint idx[T2I_NODE_MAX_INPUTS * 2];
  t2i_tensor_unref (out);
  c.r2 = g_new0 (T2iTensor *, n);
  for (gint i = 0; i < n; i++)
    if (inputs[i] && inputs[i]->requires_grad) {
      idx[c.m] = i;
      c.r2[c.m] = rand_like (inputs[i]);
      c.req[c.m++] = inputs[i];
    }
  g_assert_cmpint (c.m, >, 0);
  T2iTensor *s = second_build (fn, inputs, user, &c);
  T2iTensor **ga = t2i_grad (s, NULL, c.req, c.m, FALSE);
  for (gint j = 0; j < c.m; j++) {
    compare (what, "second-order", idx[j], c.req[j], ga[j], second_scalar, fn,
        inputs, n, user, &c);
    t2i_tensor_unref (ga[j]);
  }
  for (gint j = 0; j < c.m; j++)
    t2i_tensor_unref (c.r2[j]);
  g_free (ga);
  t2i_tensor_unref (s);
  t2i_tensor_unref (c.r);
  g_free (c.r2);
  g_free (c.req);
}

void
gc_check_f32 (const char *what, T2iCheckFn fn, T2iTensor ** inputs, gint n,
    gpointer user, double tol)
{
  gboolean prev = t2i_set_grad_enabled (FALSE);
  T2iTensor *in32[T2I_NODE_MAX_INPUTS * 2];
  g_assert_cmpint (n, <=, T2I_NODE_MAX_INPUTS * 2);
  for (gint i = 0; i < n; i++)
    in32[i] = !inputs[i] ? NULL : inputs[i]->dtype == T2I_F64
        ? t2i_tensor_to_dtype (inputs[i], T2I_F32) : t2i_tensor_ref (inputs[i]);
  T2iTensor *o64 = fn (inputs, user);
  T2iTensor *o32 = fn (in32, user);
  g_assert_nonnull (o64);
  g_assert_nonnull (o32);
  g_assert_true (t2i_tensor_same_shape (o64, o32));
  double maxabs = 1, maxerr = 0;
  gint64 at = 0;
  for (gint64 i = 0; i < o64->numel; i++)
    maxabs = MAX (maxabs, fabs (t2i_tensor_get (o64, i)));
  for (gint64 i = 0; i < o64->numel; i++) {
    double e = fabs (t2i_tensor_get (o64, i) - t2i_tensor_get (o32, i));
    if (e > maxerr || isnan (e)) {
      maxerr = isnan (e) ? INFINITY : e;
      at = i;
    }
  }
  if (maxerr > tol * maxabs)
    g_test_fail_printf ("%s: f32 forward differs from f64 by %.3g at element %"
        G_GINT64_FORMAT " (f64 %.8g, f32 %.8g; tolerance %.3g)", what, maxerr,
        at, t2i_tensor_get (o64, at), t2i_tensor_get (o32, at), tol * maxabs);
  t2i_tensor_unref (o64);
  t2i_tensor_unref (o32);
  for (gint i = 0; i < n; i++)
    if (in32[i])
      t2i_tensor_unref (in32[i]);
  t2i_set_grad_enabled (prev);
}
