/* Basic op families: elementwise, activation, reduce, shape, loss.
 *
 * Every op: first-order gradient check in f64 (broadcasting, negative
 * axes, keepdim both ways), f32 forward agreement, second-order checks for
 * the ops a discriminator under an R1 penalty uses; hand-computed values;
 * the large-tensor (OpenMP, dedicated broadcast) paths against naive
 * loops; and the autograd engine driven by the real ops.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/tensor.h>
#include <t2i/ops.h>
#include <math.h>
#include <string.h>

#include "gradcheck.h"

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static T2iTensor *
leaf (T2iTensor * t)
{
  t2i_tensor_set_requires_grad (t, TRUE);
  return t;
}

#define RAND(lo, hi, ...) leaf (gc_rand (T2I_SHAPE (__VA_ARGS__), (lo), (hi)))
#define SPREAD(sc, ...) leaf (gc_rand_spread (T2I_SHAPE (__VA_ARGS__), (sc)))
#define RAND0(lo, hi) leaf (gc_rand (0, NULL, (lo), (hi)))

/* op parameters passed as the check's user data */
typedef struct
{
  gint axis;
  gboolean keepdim;
  double s0, s1;
  guint mask;
  gint nd;
  gint64 shape[T2I_MAX_DIMS];
  gint perm[T2I_MAX_DIMS];
  gint64 start, end;
  gint n;
  gint pads[4];
} P;

/* Second-order check one differentiable input at a time (the others held
 * constant), then with all of them together (mixed terms). */
static void
check_gradgrad (const char *what, T2iCheckFn fn, T2iTensor ** in, gint n,
    gpointer user)
{
  gboolean req[16];
  gint m = 0;
  g_assert_cmpint (n, <=, 16);
  for (gint i = 0; i < n; i++) {
    req[i] = in[i] && in[i]->requires_grad;
    m += req[i];
  }
  for (gint i = 0; i < n && m > 1; i++) {
    if (!req[i])
      continue;
    for (gint j = 0; j < n; j++)
      if (req[j])
        t2i_tensor_set_requires_grad (in[j], j == i);
    gc_check_gradgrad (what, fn, in, n, user);
  }
  for (gint j = 0; j < n; j++)
    if (req[j])
      t2i_tensor_set_requires_grad (in[j], TRUE);
  gc_check_gradgrad (what, fn, in, n, user);
}

static void
check (const char *what, T2iCheckFn fn, T2iTensor ** in, gint n, gpointer user,
    gboolean gradgrad)
{
  gc_check_grad (what, fn, in, n, user);
  gc_check_f32 (what, fn, in, n, user, 2e-5);
  if (gradgrad)
    check_gradgrad (what, fn, in, n, user);
}

static void
unref_all (T2iTensor ** t, gint n)
{
  for (gint i = 0; i < n; i++)
    g_clear_pointer (&t[i], t2i_tensor_unref);
}

static T2iTensor *
from_f64 (gint ndim, const gint64 * shape, const double *v)
{
  return t2i_tensor_from_data (T2I_F64, ndim, shape, v);
}

static void
assert_values (T2iTensor * t, const double *expect, gint64 n, double tol)
{
  g_assert_nonnull (t);
  g_assert_cmpint (t->numel, ==, n);
  for (gint64 i = 0; i < n; i++)
    g_assert_cmpfloat_with_epsilon (t2i_tensor_get (t, i), expect[i],
        MAX (tol, 1e-300));
}

/* ------------------------------------------------------------------ */
/* elementwise                                                         */
/* ------------------------------------------------------------------ */

static T2iTensor *f_add (T2iTensor ** x, gpointer u) { return t2i_add (x[0], x[1]); }
static T2iTensor *f_sub (T2iTensor ** x, gpointer u) { return t2i_sub (x[0], x[1]); }
static T2iTensor *f_mul (T2iTensor ** x, gpointer u) { return t2i_mul (x[0], x[1]); }
static T2iTensor *f_div (T2iTensor ** x, gpointer u) { return t2i_div (x[0], x[1]); }
static T2iTensor *f_maximum (T2iTensor ** x, gpointer u) { return t2i_maximum (x[0], x[1]); }

typedef struct
{
  gint nda;
  gint64 sa[T2I_MAX_DIMS];
  gint ndb;
  gint64 sb[T2I_MAX_DIMS];
} ShapePair;

static const ShapePair shape_pairs[] = {
  {3, {2, 3, 4}, 3, {2, 3, 4}},
  {3, {2, 3, 4}, 2, {3, 1}},
  {1, {4}, 3, {2, 3, 4}},
  {3, {2, 3, 4}, 0, {0}},
  {0, {0}, 2, {3, 2}},
  {4, {2, 3, 2, 2}, 4, {1, 3, 1, 1}},
  {2, {5, 4}, 2, {5, 1}},
  {2, {3, 1}, 2, {1, 4}},
};

static void
test_binary (void)
{
  static const struct
  {
    const char *name;
    T2iCheckFn fn;
    gboolean positive_b;
  } ops[] = {
    {"add", f_add, FALSE}, {"sub", f_sub, FALSE}, {"mul", f_mul, FALSE},
    {"div", f_div, TRUE}, {"maximum", f_maximum, FALSE},
  };
  for (guint o = 0; o < G_N_ELEMENTS (ops); o++)
    for (guint s = 0; s < G_N_ELEMENTS (shape_pairs); s++) {
      const ShapePair *sp = &shape_pairs[s];
      g_autofree char *what = g_strdup_printf ("%s case %u", ops[o].name, s);
      T2iTensor *in[2] = {
        leaf (gc_rand (sp->nda, sp->sa, -1, 1)),
        leaf (ops[o].positive_b ? gc_rand (sp->ndb, sp->sb, 0.5, 2)
            : gc_rand (sp->ndb, sp->sb, -1, 1)),
      };
      check (what, ops[o].fn, in, 2, NULL, TRUE);
      /* one side constant */
      t2i_tensor_set_requires_grad (in[0], FALSE);
      gc_check_grad (what, ops[o].fn, in, 2, NULL);
      unref_all (in, 2);
    }
}

/* Bad arguments: each case runs in a subprocess (criticals are fatal in
 * tests) and must die with a critical naming the problem. */
static void
bad_broadcast (void)
{
  g_autoptr (T2iTensor) a = gc_rand (T2I_SHAPE (2, 3), -1, 1);
  g_autoptr (T2iTensor) b = gc_rand (T2I_SHAPE (4), -1, 1);
  g_assert_null (t2i_add (a, b));
}

static void
bad_dtype_mix (void)
{
  g_autoptr (T2iTensor) a = gc_rand (T2I_SHAPE (2, 3), -1, 1);
  g_autoptr (T2iTensor) c = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2, 3));
  g_assert_null (t2i_mul (a, c));
}

static void
bad_int_math (void)
{
  g_autoptr (T2iTensor) d = t2i_tensor_zeros (T2I_I32, T2I_SHAPE (2, 3));
  g_assert_null (t2i_exp (d));
}

static void
bad_split (void)
{
  g_autoptr (T2iTensor) a = gc_rand (T2I_SHAPE (2, 3), -1, 1);
  T2iTensor *parts[3];
  t2i_split (a, 0, 3, (gint64[]) { 1, 2, 1 }, parts);
  g_assert_null (parts[0]);
}

static void
bad_index (void)
{
  g_autoptr (T2iTensor) a = gc_rand (T2I_SHAPE (2, 3), -1, 1);
  gint32 bad[1] = { 7 };
  g_autoptr (T2iTensor) bi = t2i_tensor_from_data (T2I_I32, T2I_SHAPE (1), bad);
  g_assert_null (t2i_index_select (a, 1, bi));
}

static void
bad_reshape (void)
{
  g_autoptr (T2iTensor) a = gc_rand (T2I_SHAPE (2, 3), -1, 1);
  g_assert_null (t2i_reshape (a, T2I_SHAPE (4, -1)));
}

static void
bad_permute (void)
{
  g_autoptr (T2iTensor) a = gc_rand (T2I_SHAPE (2, 3), -1, 1);
  g_assert_null (t2i_permute (a, (gint[]) { 0, 0 }));
}

static void
bad_axis (void)
{
  g_autoptr (T2iTensor) a = gc_rand (T2I_SHAPE (2, 3), -1, 1);
  g_assert_null (t2i_sum (a, 2, FALSE));
}

static void
bad_label (void)
{
  g_autoptr (T2iTensor) a = gc_rand (T2I_SHAPE (2, 3), -1, 1);
  gint32 lb[2] = { 0, 3 };
  g_autoptr (T2iTensor) l = t2i_tensor_from_data (T2I_I32, T2I_SHAPE (2), lb);
  g_assert_null (t2i_cross_entropy (a, l));
}

static void
bad_sum_to_shape (void)
{
  g_autoptr (T2iTensor) a = gc_rand (T2I_SHAPE (2, 3), -1, 1);
  g_assert_null (t2i_sum_to_shape (a, T2I_SHAPE (2, 1, 3)));
}

static const struct
{
  const char *name;
  void (*fn) (void);
  const char *pattern;
} bad_cases[] = {
  {"broadcast", bad_broadcast, "*do not broadcast*"},
  {"dtype-mix", bad_dtype_mix, "*dtypes differ*"},
  {"int-math", bad_int_math, "*must be f32 or f64*"},
  {"split", bad_split, "*sizes add up*"},
  {"index", bad_index, "*out of range*"},
  {"reshape", bad_reshape, "*cannot reshape*"},
  {"permute", bad_permute, "*not a permutation*"},
  {"axis", bad_axis, "*axis 2 out of range*"},
  {"label", bad_label, "*label 3 out of range*"},
  {"sum-to-shape", bad_sum_to_shape, "*does not broadcast*"},
};

static void
test_bad_arguments (gconstpointer data)
{
  guint i = GPOINTER_TO_UINT (data);
  if (g_test_subprocess ()) {
    bad_cases[i].fn ();
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr (bad_cases[i].pattern);
}

static T2iTensor *f_neg (T2iTensor ** x, gpointer u) { return t2i_neg (x[0]); }
static T2iTensor *f_exp (T2iTensor ** x, gpointer u) { return t2i_exp (x[0]); }
static T2iTensor *f_log (T2iTensor ** x, gpointer u) { return t2i_log (x[0]); }
static T2iTensor *f_sqrt (T2iTensor ** x, gpointer u) { return t2i_sqrt (x[0]); }
static T2iTensor *f_rsqrt (T2iTensor ** x, gpointer u) { return t2i_rsqrt (x[0]); }
static T2iTensor *f_abs (T2iTensor ** x, gpointer u) { return t2i_abs (x[0]); }
static T2iTensor *f_square (T2iTensor ** x, gpointer u) { return t2i_square (x[0]); }
static T2iTensor *f_add_scalar (T2iTensor ** x, gpointer u) { return t2i_add_scalar (x[0], ((P *) u)->s0); }
static T2iTensor *f_mul_scalar (T2iTensor ** x, gpointer u) { return t2i_mul_scalar (x[0], ((P *) u)->s0); }
static T2iTensor *f_pow_scalar (T2iTensor ** x, gpointer u) { return t2i_pow_scalar (x[0], ((P *) u)->s0); }
static T2iTensor *f_clamp (T2iTensor ** x, gpointer u) { return t2i_clamp (x[0], ((P *) u)->s0, ((P *) u)->s1); }

static void
test_unary (void)
{
  static const struct
  {
    const char *name;
    T2iCheckFn fn;
    double lo, hi;
    gboolean spread;
  } ops[] = {
    {"neg", f_neg, -1, 1, FALSE},
    {"exp", f_exp, -2, 2, FALSE},
    {"log", f_log, 0.5, 2, FALSE},
    {"sqrt", f_sqrt, 0.5, 2, FALSE},
    {"rsqrt", f_rsqrt, 0.5, 2, FALSE},
    {"abs", f_abs, 0, 0, TRUE},
    {"square", f_square, -2, 2, FALSE},
  };
  for (guint o = 0; o < G_N_ELEMENTS (ops); o++) {
    T2iTensor *in[1] = {
      ops[o].spread ? SPREAD (1.0, 2, 3, 4) : RAND (ops[o].lo, ops[o].hi, 2, 3, 4)
    };
    check (ops[o].name, ops[o].fn, in, 1, NULL, TRUE);
    unref_all (in, 1);
  }

  P p = { 0 };
  T2iTensor *x[1] = { RAND (-1, 1, 3, 5) };
  p.s0 = 0.75;
  check ("add_scalar", f_add_scalar, x, 1, &p, TRUE);
  p.s0 = -1.5;
  check ("mul_scalar", f_mul_scalar, x, 1, &p, TRUE);
  unref_all (x, 1);

  static const double exps[] = { 0, 1, 2, 3, 0.5, -0.5, -1, -2, 1.7, -2.3 };
  x[0] = RAND (0.5, 2, 2, 5);
  for (guint i = 0; i < G_N_ELEMENTS (exps); i++) {
    g_autofree char *what = g_strdup_printf ("pow_scalar %g", exps[i]);
    p.s0 = exps[i];
    check (what, f_pow_scalar, x, 1, &p, TRUE);
  }
  unref_all (x, 1);

  /* spread values are k/24: keep the bounds off that grid */
  x[0] = SPREAD (1.0, 4, 6);
  p.s0 = -0.33;
  p.s1 = 0.41;
  check ("clamp", f_clamp, x, 1, &p, TRUE);
  unref_all (x, 1);
}

static void
test_unary_values (void)
{
  double v[4] = { -2, 0, 1.5, 4 };
  g_autoptr (T2iTensor) x = from_f64 (T2I_SHAPE (4), v);
  g_autoptr (T2iTensor) c = t2i_clamp (x, -1, 2);
  assert_values (c, (double[]) { -1, 0, 1.5, 2 }, 4, 0);
  g_autoptr (T2iTensor) a = t2i_abs (x);
  assert_values (a, (double[]) { 2, 0, 1.5, 4 }, 4, 0);
  g_autoptr (T2iTensor) p = t2i_pow_scalar (x, 2);
  assert_values (p, (double[]) { 4, 0, 2.25, 16 }, 4, 0);
  g_autoptr (T2iTensor) m = t2i_maximum (x, c);
  assert_values (m, (double[]) { -1, 0, 1.5, 4 }, 4, 0);
}

static T2iTensor *f_sum_to_shape (T2iTensor ** x, gpointer u) { P *p = u; return t2i_sum_to_shape (x[0], p->nd, p->shape); }
static T2iTensor *f_expand (T2iTensor ** x, gpointer u) { P *p = u; return t2i_expand (x[0], p->nd, p->shape); }

static void
test_broadcast_ops (void)
{
  static const struct
  {
    gint nd;
    gint64 big[T2I_MAX_DIMS];
    gint snd;
    gint64 small[T2I_MAX_DIMS];
  } cases[] = {
    {3, {2, 3, 4}, 2, {3, 1}},
    {3, {2, 3, 4}, 1, {4}},
    {3, {2, 3, 4}, 0, {0}},
    {4, {2, 3, 2, 2}, 4, {1, 3, 1, 1}},
    {3, {2, 3, 4}, 3, {2, 3, 4}},
    {3, {2, 3, 4}, 3, {2, 1, 4}},
    {2, {5, 4}, 2, {5, 1}},
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    P p = { 0 };
    g_autofree char *w1 = g_strdup_printf ("sum_to_shape case %u", c);
    g_autofree char *w2 = g_strdup_printf ("expand case %u", c);
    T2iTensor *big[1] = { leaf (gc_rand (cases[c].nd, cases[c].big, -1, 1)) };
    T2iTensor *small[1] = {
      leaf (gc_rand (cases[c].snd, cases[c].small, -1, 1))
    };
    p.nd = cases[c].snd;
    memcpy (p.shape, cases[c].small, sizeof (p.shape));
    check (w1, f_sum_to_shape, big, 1, &p, TRUE);
    p.nd = cases[c].nd;
    memcpy (p.shape, cases[c].big, sizeof (p.shape));
    check (w2, f_expand, small, 1, &p, TRUE);
    unref_all (big, 1);
    unref_all (small, 1);
  }
}

/* ------------------------------------------------------------------ */
/* reductions                                                          */
/* ------------------------------------------------------------------ */

static T2iTensor *f_sum (T2iTensor ** x, gpointer u) { P *p = u; return t2i_sum (x[0], p->axis, p->keepdim); }
static T2iTensor *f_mean (T2iTensor ** x, gpointer u) { P *p = u; return t2i_mean (x[0], p->axis, p->keepdim); }
static T2iTensor *f_max (T2iTensor ** x, gpointer u) { P *p = u; return t2i_max (x[0], p->axis, p->keepdim); }
static T2iTensor *f_lse (T2iTensor ** x, gpointer u) { P *p = u; return t2i_logsumexp (x[0], p->axis, p->keepdim); }
static T2iTensor *f_softmax (T2iTensor ** x, gpointer u) { P *p = u; return t2i_softmax (x[0], p->axis); }
static T2iTensor *f_log_softmax (T2iTensor ** x, gpointer u) { P *p = u; return t2i_log_softmax (x[0], p->axis); }
static T2iTensor *f_sum_axes (T2iTensor ** x, gpointer u) { P *p = u; return t2i_sum_axes (x[0], p->mask, p->keepdim); }

static void
test_reductions (void)
{
  static const gint axes[] = { 0, 1, 2, -1, -2, T2I_ALL_AXES };
  static const struct
  {
    const char *name;
    T2iCheckFn fn;
    gboolean spread;
  } ops[] = {
    {"sum", f_sum, FALSE}, {"mean", f_mean, FALSE}, {"max", f_max, TRUE},
    {"logsumexp", f_lse, FALSE},
  };
  for (guint o = 0; o < G_N_ELEMENTS (ops); o++)
    for (guint a = 0; a < G_N_ELEMENTS (axes); a++)
      for (gint k = 0; k < 2; k++) {
        P p = { .axis = axes[a], .keepdim = k };
        g_autofree char *what = g_strdup_printf ("%s axis %d keepdim %d",
            ops[o].name, axes[a], k);
        T2iTensor *in[1] = {
          ops[o].spread ? SPREAD (2.0, 2, 3, 4) : RAND (-2, 2, 2, 3, 4)
        };
        check (what, ops[o].fn, in, 1, &p, TRUE);
        unref_all (in, 1);
      }

  for (guint a = 0; a < G_N_ELEMENTS (axes) - 1; a++) {
    P p = { .axis = axes[a] };
    g_autofree char *w1 = g_strdup_printf ("softmax axis %d", axes[a]);
    g_autofree char *w2 = g_strdup_printf ("log_softmax axis %d", axes[a]);
    T2iTensor *in[1] = { RAND (-2, 2, 2, 3, 4) };
    check (w1, f_softmax, in, 1, &p, TRUE);
    check (w2, f_log_softmax, in, 1, &p, TRUE);
    unref_all (in, 1);
  }

  static const guint masks[] = { 0x5, 0x3, 0x6, 0x7, 0x0, 0x2 };
  for (guint m = 0; m < G_N_ELEMENTS (masks); m++)
    for (gint k = 0; k < 2; k++) {
      P p = { .mask = masks[m], .keepdim = k };
      g_autofree char *what = g_strdup_printf ("sum_axes 0x%x keepdim %d",
          masks[m], k);
      T2iTensor *in[1] = { RAND (-1, 1, 2, 3, 4) };
      check (what, f_sum_axes, in, 1, &p, TRUE);
      unref_all (in, 1);
    }
}

static void
test_reduction_values (void)
{
  double v[3] = { 1, 2, 3 };
  g_autoptr (T2iTensor) x = from_f64 (T2I_SHAPE (3), v);
  g_autoptr (T2iTensor) sm = t2i_softmax (x, 0);
  assert_values (sm, (double[]) { 0.09003057317038046, 0.24472847105479767,
          0.6652409557748219 }, 3, 1e-12);
  g_autoptr (T2iTensor) lsm = t2i_log_softmax (x, -1);
  assert_values (lsm, (double[]) { -2.4076059644443806, -1.4076059644443806,
          -0.4076059644443806 }, 3, 1e-12);
  g_autoptr (T2iTensor) lse = t2i_logsumexp (x, 0, FALSE);
  g_assert_cmpint (lse->ndim, ==, 0);
  assert_values (lse, (double[]) { 3.4076059644443806 }, 1, 1e-12);

  /* stable for huge and -inf inputs */
  double big[3] = { 1000, 1001, -INFINITY };
  g_autoptr (T2iTensor) xb = from_f64 (T2I_SHAPE (3), big);
  g_autoptr (T2iTensor) smb = t2i_softmax (xb, 0);
  assert_values (smb, (double[]) { 0.2689414213699951, 0.7310585786300049, 0 },
      3, 1e-12);
  g_autoptr (T2iTensor) lseb = t2i_logsumexp (xb, 0, TRUE);
  g_assert_cmpint (lseb->ndim, ==, 1);
  assert_values (lseb, (double[]) { 1001.3132616875182 }, 1, 1e-9);
  g_autoptr (T2iTensor) f32 = t2i_tensor_to_dtype (xb, T2I_F32);
  g_autoptr (T2iTensor) lsm32 = t2i_log_softmax (f32, 0);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (lsm32, 1),
      -0.31326168751822286, 1e-5);

  double m[6] = { 3, 7, 7, 1, -2, 0 };
  g_autoptr (T2iTensor) xm = from_f64 (T2I_SHAPE (2, 3), m);
  g_autoptr (T2iTensor) am = t2i_argmax (xm, -1);
  g_assert_cmpint (am->dtype, ==, T2I_I32);
  assert_values (am, (double[]) { 1, 0 }, 2, 0);
  g_autoptr (T2iTensor) am0 = t2i_argmax (xm, 0);
  assert_values (am0, (double[]) { 0, 0, 0 }, 3, 0);
  g_autoptr (T2iTensor) amall = t2i_argmax (xm, T2I_ALL_AXES);
  g_assert_cmpint (amall->ndim, ==, 0);
  assert_values (amall, (double[]) { 1 }, 1, 0);
  gint32 iv[4] = { 4, -1, 9, 9 };
  g_autoptr (T2iTensor) xi = t2i_tensor_from_data (T2I_I32, T2I_SHAPE (4), iv);
  g_autoptr (T2iTensor) ami = t2i_argmax (xi, 0);
  assert_values (ami, (double[]) { 2 }, 1, 0);

  /* max gradient goes to the first maximum only */
  g_autoptr (T2iTensor) xl = leaf (from_f64 (T2I_SHAPE (2, 3), m));
  g_autoptr (T2iTensor) mx = t2i_max (xl, 1, FALSE);
  assert_values (mx, (double[]) { 7, 1 }, 2, 0);
  g_autoptr (T2iTensor) s = t2i_sum (mx, T2I_ALL_AXES, FALSE);
  t2i_backward (s, NULL);
  assert_values (xl->grad, (double[]) { 0, 1, 0, 1, 0, 0 }, 6, 0);

  g_autoptr (T2iTensor) mean = t2i_mean (xm, T2I_ALL_AXES, TRUE);
  g_assert_cmpint (mean->ndim, ==, 2);
  assert_values (mean, (double[]) { 16.0 / 6 }, 1, 1e-12);
}

/* ------------------------------------------------------------------ */
/* shape ops                                                           */
/* ------------------------------------------------------------------ */

static T2iTensor *f_reshape (T2iTensor ** x, gpointer u) { P *p = u; return t2i_reshape (x[0], p->nd, p->shape); }
static T2iTensor *f_permute (T2iTensor ** x, gpointer u) { P *p = u; return t2i_permute (x[0], p->perm); }
static T2iTensor *f_transpose (T2iTensor ** x, gpointer u) { P *p = u; return t2i_transpose (x[0], p->perm[0], p->perm[1]); }
static T2iTensor *f_concat (T2iTensor ** x, gpointer u) { P *p = u; return t2i_concat (x, p->n, p->axis); }
static T2iTensor *f_slice (T2iTensor ** x, gpointer u) { P *p = u; return t2i_slice (x[0], p->axis, p->start, p->end); }
static T2iTensor *f_index_select (T2iTensor ** x, gpointer u) { P *p = u; return t2i_index_select (x[0], p->axis, x[1]); }
static T2iTensor *f_embedding (T2iTensor ** x, gpointer u) { return t2i_embedding (x[0], x[1]); }
static T2iTensor *f_gather_rows (T2iTensor ** x, gpointer u) { return t2i_gather_rows (x[0], x[1]); }
static T2iTensor *f_pad2d (T2iTensor ** x, gpointer u) { P *p = u; return t2i_pad2d (x[0], p->pads[0], p->pads[1], p->pads[2], p->pads[3], p->s0); }

/* split then recombine with weights, so every piece matters */
static T2iTensor *
f_split (T2iTensor ** x, gpointer u)
{
  P *p = u;
  T2iTensor *parts[3];
  gint64 sizes[3] = { 1, 2, 1 };
  t2i_split (x[0], p->axis, 3, sizes, parts);
  T2iTensor *a = t2i_mul_scalar (parts[0], 2.0);
  T2iTensor *b = t2i_sum (parts[1], p->axis, TRUE);
  T2iTensor *c = t2i_add (a, b);
  T2iTensor *out = t2i_sub (c, parts[2]);
  t2i_tensor_unref (a);
  t2i_tensor_unref (b);
  t2i_tensor_unref (c);
  unref_all (parts, 3);
  return out;
}

static void
test_shape_ops (void)
{
  P p = { 0 };
  T2iTensor *x[1] = { RAND (-1, 1, 2, 3, 4) };

  p.nd = 2;
  p.shape[0] = -1;
  p.shape[1] = 6;
  check ("reshape", f_reshape, x, 1, &p, TRUE);
  p.nd = 4;
  memcpy (p.shape, (gint64[]) { 4, 1, 3, 2 }, 4 * sizeof (gint64));
  check ("reshape 4d", f_reshape, x, 1, &p, TRUE);

  memcpy (p.perm, (gint[]) { 2, 0, 1 }, 3 * sizeof (gint));
  check ("permute 201", f_permute, x, 1, &p, TRUE);
  memcpy (p.perm, (gint[]) { 1, 2, 0 }, 3 * sizeof (gint));
  check ("permute 120", f_permute, x, 1, &p, TRUE);
  memcpy (p.perm, (gint[]) { 0, -1 }, 2 * sizeof (gint));
  check ("transpose 0,-1", f_transpose, x, 1, &p, TRUE);

  for (gint ax = -3; ax < 3; ax++) {
    g_autofree char *what = g_strdup_printf ("slice axis %d", ax);
    p.axis = ax;
    p.start = 1;
    p.end = -1;
    check (what, f_slice, x, 1, &p, TRUE);
  }
  p.axis = -1;
  p.start = -3;
  p.end = 100;
  check ("slice clamped", f_slice, x, 1, &p, TRUE);

  p.axis = 2;
  check ("split", f_split, x, 1, &p, TRUE);
  unref_all (x, 1);

  T2iTensor *x4[1] = { RAND (-1, 1, 2, 3, 2, 2) };
  memcpy (p.perm, (gint[]) { 0, 2, 3, 1 }, 4 * sizeof (gint));
  check ("permute nchw->nhwc", f_permute, x4, 1, &p, TRUE);
  memcpy (p.perm, (gint[]) { 0, 3, 1, 2 }, 4 * sizeof (gint));
  check ("permute nhwc->nchw", f_permute, x4, 1, &p, TRUE);
  p.pads[0] = 1;
  p.pads[1] = 0;
  p.pads[2] = 2;
  p.pads[3] = 1;
  p.s0 = 0.5;
  check ("pad2d", f_pad2d, x4, 1, &p, TRUE);
  unref_all (x4, 1);

  /* concat: three inputs, two axes; and more inputs than a node holds */
  for (gint ax = -1; ax <= 1; ax += 2) {
    T2iTensor *c[3] = {
      RAND (-1, 1, 2, 3), RAND (-1, 1, 2, ax == 1 ? 1 : 3), RAND (-1, 1, 2, 3)
    };
    if (ax == -1) {
      t2i_tensor_unref (c[1]);
      c[1] = RAND (-1, 1, 2, 2);
    }
    p.axis = ax;
    p.n = 3;
    check ("concat", f_concat, c, 3, &p, TRUE);
    t2i_tensor_set_requires_grad (c[1], FALSE);
    gc_check_grad ("concat partial", f_concat, c, 3, &p);
    unref_all (c, 3);
  }
  T2iTensor *many[9];
  for (gint i = 0; i < 9; i++)
    many[i] = RAND (-1, 1, 2, 1 + i % 2);
  p.axis = 1;
  p.n = 9;
  check ("concat 9", f_concat, many, 9, &p, TRUE);
  unref_all (many, 9);

  /* index ops, with repeated indices */
  gint32 idx[5] = { 2, 0, 2, 1, 2 };
  T2iTensor *is[2] = { RAND (-1, 1, 3, 4),
    t2i_tensor_from_data (T2I_I32, T2I_SHAPE (5), idx)
  };
  p.axis = 0;
  check ("index_select axis 0", f_index_select, is, 2, &p, TRUE);
  t2i_tensor_unref (is[0]);
  is[0] = RAND (-1, 1, 2, 3, 2);
  p.axis = -2;
  check ("index_select axis -2", f_index_select, is, 2, &p, TRUE);
  unref_all (is, 2);

  gint32 ids[6] = { 3, 0, 3, 1, 1, 3 };
  T2iTensor *em[2] = { RAND (-1, 1, 4, 5),
    t2i_tensor_from_data (T2I_I32, T2I_SHAPE (2, 3), ids)
  };
  check ("embedding", f_embedding, em, 2, NULL, TRUE);
  g_autoptr (T2iTensor) e = t2i_embedding (em[0], em[1]);
  g_assert_cmpint (e->ndim, ==, 3);
  g_assert_cmpint (e->shape[2], ==, 5);
  g_assert_cmpfloat (t2i_tensor_get (e, 7), ==, t2i_tensor_get (em[0], 2));
  unref_all (em, 2);

  gint32 rows[3] = { 1, 0, 1 };
  T2iTensor *gr[2] = { RAND (-1, 1, 3, 2, 4),
    t2i_tensor_from_data (T2I_I32, T2I_SHAPE (3), rows)
  };
  check ("gather_rows", f_gather_rows, gr, 2, NULL, TRUE);
  unref_all (gr, 2);
}

static void
test_shape_int (void)
{
  gint32 v[6] = { 0, 1, 2, 3, 4, 5 };
  g_autoptr (T2iTensor) x = t2i_tensor_from_data (T2I_I32, T2I_SHAPE (2, 3), v);
  g_autoptr (T2iTensor) r = t2i_reshape (x, T2I_SHAPE (3, -1));
  g_assert_cmpint (r->shape[1], ==, 2);
  g_autoptr (T2iTensor) t = t2i_transpose (x, 0, 1);
  assert_values (t, (double[]) { 0, 3, 1, 4, 2, 5 }, 6, 0);
  g_autoptr (T2iTensor) s = t2i_slice (x, 1, 1, 3);
  assert_values (s, (double[]) { 1, 2, 4, 5 }, 4, 0);
  T2iTensor *cc[2] = { x, s };
  g_autoptr (T2iTensor) c = t2i_concat (cc, 2, 1);
  assert_values (c, (double[]) { 0, 1, 2, 1, 2, 3, 4, 5, 4, 5 }, 10, 0);
  gint32 iv[2] = { 1, 1 };
  g_autoptr (T2iTensor) idx = t2i_tensor_from_data (T2I_I32, T2I_SHAPE (2), iv);
  g_autoptr (T2iTensor) sel = t2i_index_select (x, 0, idx);
  assert_values (sel, (double[]) { 3, 4, 5, 3, 4, 5 }, 6, 0);

  double pv[4] = { 1, 2, 3, 4 };
  g_autoptr (T2iTensor) px = from_f64 (T2I_SHAPE (1, 2, 2), pv);
  g_autoptr (T2iTensor) pd = t2i_pad2d (px, 1, 0, 0, 1, -1);
  assert_values (pd, (double[]) { -1, -1, -1, 1, 2, -1, 3, 4, -1 }, 9, 0);

}

/* ------------------------------------------------------------------ */
/* activations                                                         */
/* ------------------------------------------------------------------ */

static T2iTensor *f_relu (T2iTensor ** x, gpointer u) { return t2i_relu (x[0]); }
static T2iTensor *f_leaky_relu (T2iTensor ** x, gpointer u) { return t2i_leaky_relu (x[0], 0.2); }
static T2iTensor *f_gelu (T2iTensor ** x, gpointer u) { return t2i_gelu (x[0]); }
static T2iTensor *f_quick_gelu (T2iTensor ** x, gpointer u) { return t2i_quick_gelu (x[0]); }
static T2iTensor *f_tanh (T2iTensor ** x, gpointer u) { return t2i_tanh (x[0]); }
static T2iTensor *f_sigmoid (T2iTensor ** x, gpointer u) { return t2i_sigmoid (x[0]); }
static T2iTensor *f_softplus (T2iTensor ** x, gpointer u) { return t2i_softplus (x[0]); }
static T2iTensor *f_silu (T2iTensor ** x, gpointer u) { return t2i_silu (x[0]); }
static T2iTensor *f_glu (T2iTensor ** x, gpointer u) { P *p = u; return t2i_glu (x[0], p->axis); }

static void
test_activations (void)
{
  static const struct
  {
    const char *name;
    T2iCheckFn fn;
    gboolean spread;
  } ops[] = {
    {"relu", f_relu, TRUE}, {"leaky_relu", f_leaky_relu, TRUE},
    {"gelu", f_gelu, FALSE}, {"quick_gelu", f_quick_gelu, FALSE},
    {"tanh", f_tanh, FALSE}, {"sigmoid", f_sigmoid, FALSE},
    {"softplus", f_softplus, FALSE}, {"silu", f_silu, FALSE},
  };
  for (guint o = 0; o < G_N_ELEMENTS (ops); o++) {
    T2iTensor *in[1] = {
      ops[o].spread ? SPREAD (3.0, 3, 8) : RAND (-3, 3, 3, 8)
    };
    check (ops[o].name, ops[o].fn, in, 1, NULL, TRUE);
    unref_all (in, 1);
  }
  for (gint ax = -1; ax <= 1; ax++) {
    P p = { .axis = ax };
    g_autofree char *what = g_strdup_printf ("glu axis %d", ax);
    T2iTensor *in[1] = { RAND (-2, 2, 2, 4, 6) };
    check (what, f_glu, in, 1, &p, TRUE);
    unref_all (in, 1);
  }
}

static void
test_activation_values (void)
{
  double v[5] = { -1000, -20, 0, 20, 1000 };
  g_autoptr (T2iTensor) x = from_f64 (T2I_SHAPE (5), v);
  g_autoptr (T2iTensor) s = t2i_sigmoid (x);
  assert_values (s, (double[]) { 0, 2.0611536181902037e-09, 0.5,
          0.9999999979388463, 1 }, 5, 1e-15);
  g_autoptr (T2iTensor) sp = t2i_softplus (x);
  assert_values (sp, (double[]) { 0, 2.061153620314381e-09,
          0.6931471805599453, 20.000000002061153, 1000 }, 5, 1e-12);
  g_autoptr (T2iTensor) x32 = t2i_tensor_to_dtype (x, T2I_F32);
  g_autoptr (T2iTensor) s32 = t2i_sigmoid (x32);
  g_autoptr (T2iTensor) sp32 = t2i_softplus (x32);
  for (gint i = 0; i < 5; i++) {
    g_assert_true (isfinite (t2i_tensor_get (s32, i)));
    g_assert_true (isfinite (t2i_tensor_get (sp32, i)));
  }
  double g[3] = { -1, 0, 1.5 };
  g_autoptr (T2iTensor) xg = from_f64 (T2I_SHAPE (3), g);
  g_autoptr (T2iTensor) ge = t2i_gelu (xg);
  assert_values (ge, (double[]) { -0.15865525393145707, 0,
          1.399789198096713 }, 3, 1e-12);
  g_autoptr (T2iTensor) lr = t2i_leaky_relu (xg, 0.1);
  assert_values (lr, (double[]) { -0.1, 0, 1.5 }, 3, 1e-15);
  g_autoptr (T2iTensor) r = t2i_relu (xg);
  assert_values (r, (double[]) { 0, 0, 1.5 }, 3, 0);
  g_autoptr (T2iTensor) glx = from_f64 (T2I_SHAPE (1, 4),
      ((double[]) { 1, 2, 0, 100 }));
  g_autoptr (T2iTensor) gl = t2i_glu (glx, -1);
  assert_values (gl, (double[]) { 0.5, 2 }, 2, 1e-12);
}

/* ------------------------------------------------------------------ */
/* losses                                                              */
/* ------------------------------------------------------------------ */

static T2iTensor *f_ce (T2iTensor ** x, gpointer u) { return t2i_cross_entropy (x[0], x[1]); }
static T2iTensor *f_bce (T2iTensor ** x, gpointer u) { return t2i_bce_with_logits (x[0], x[1]); }
static T2iTensor *f_l1 (T2iTensor ** x, gpointer u) { return t2i_l1_loss (x[0], x[1]); }
static T2iTensor *f_mse (T2iTensor ** x, gpointer u) { return t2i_mse_loss (x[0], x[1]); }

static void
test_losses (void)
{
  gint32 lb[4] = { 2, 0, 4, 2 };
  T2iTensor *ce[2] = { RAND (-2, 2, 4, 5),
    t2i_tensor_from_data (T2I_I32, T2I_SHAPE (4), lb)
  };
  check ("cross_entropy", f_ce, ce, 2, NULL, TRUE);
  unref_all (ce, 2);

  T2iTensor *bce[2] = { RAND (-3, 3, 3, 4), RAND (0, 1, 3, 4) };
  check ("bce_with_logits", f_bce, bce, 2, NULL, TRUE);
  unref_all (bce, 2);

  T2iTensor *l1[2] = { SPREAD (1.0, 2, 5), RAND (-0.01, 0.01, 2, 5) };
  check ("l1_loss", f_l1, l1, 2, NULL, TRUE);
  unref_all (l1, 2);

  T2iTensor *mse[2] = { RAND (-1, 1, 2, 3, 2), RAND (-1, 1, 2, 3, 2) };
  check ("mse_loss", f_mse, mse, 2, NULL, TRUE);
  unref_all (mse, 2);
}

static void
test_loss_values (void)
{
  double lv[6] = { 1, 2, 3, 1, 2, 3 };
  gint32 lb[2] = { 2, 0 };
  g_autoptr (T2iTensor) logits = from_f64 (T2I_SHAPE (2, 3), lv);
  g_autoptr (T2iTensor) labels = t2i_tensor_from_data (T2I_I32, T2I_SHAPE (2), lb);
  g_autoptr (T2iTensor) ce = t2i_cross_entropy (logits, labels);
  g_assert_cmpint (ce->ndim, ==, 0);
  assert_values (ce, (double[]) { 1.4076059644443806 }, 1, 1e-12);
  g_autoptr (T2iTensor) l32 = t2i_tensor_to_dtype (logits, T2I_F32);
  g_autoptr (T2iTensor) ce32 = t2i_cross_entropy (l32, labels);
  g_assert_cmpint (ce32->dtype, ==, T2I_F32);
  assert_values (ce32, (double[]) { 1.4076059644443806 }, 1, 1e-6);

  double bx[3] = { 0, 2, -1 }, bt[3] = { 1, 0, 1 };
  g_autoptr (T2iTensor) x = from_f64 (T2I_SHAPE (3), bx);
  g_autoptr (T2iTensor) t = from_f64 (T2I_SHAPE (3), bt);
  g_autoptr (T2iTensor) bce = t2i_bce_with_logits (x, t);
  assert_values (bce, (double[]) { (0.6931471805599453 + 2.1269280110429727
              + 1.3132616875182228) / 3 }, 1, 1e-12);
  double hx[2] = { 800, -800 }, ht[2] = { 0, 1 };
  g_autoptr (T2iTensor) hxt = from_f64 (T2I_SHAPE (2), hx);
  g_autoptr (T2iTensor) htt = from_f64 (T2I_SHAPE (2), ht);
  g_autoptr (T2iTensor) hb = t2i_bce_with_logits (hxt, htt);
  assert_values (hb, (double[]) { 800 }, 1, 1e-9);

  g_autoptr (T2iTensor) l1 = t2i_l1_loss (x, t);
  assert_values (l1, (double[]) { (1 + 2 + 2) / 3.0 }, 1, 1e-12);
  g_autoptr (T2iTensor) mse = t2i_mse_loss (x, t);
  assert_values (mse, (double[]) { (1 + 4 + 4) / 3.0 }, 1, 1e-12);
}

/* ------------------------------------------------------------------ */
/* large tensors: threaded and dedicated paths against naive loops      */
/* ------------------------------------------------------------------ */

static T2iTensor *
rand32 (gint ndim, const gint64 * shape)
{
  g_autoptr (T2iTensor) d = gc_rand (ndim, shape, -1, 1);
  return t2i_tensor_to_dtype (d, T2I_F32);
}

/* naive broadcast index of flat output index @i into @t */
static gint64
bidx (const T2iTensor * t, const T2iTensor * out, gint64 i)
{
  gint64 off = 0, st = 1;
  for (gint d = out->ndim - 1; d >= 0; d--) {
    gint64 c = i % out->shape[d];
    i /= out->shape[d];
    gint k = t->ndim - out->ndim + d;
    if (k >= 0) {
      if (t->shape[k] != 1)
        off += c * st;
      st *= t->shape[k];
    }
  }
  return off;
}

static void
test_large_paths (void)
{
  static const ShapePair pairs[] = {
    {4, {16, 32, 16, 16}, 4, {1, 32, 1, 1}},
    {2, {256, 300}, 2, {256, 1}},
    {2, {256, 300}, 1, {300}},
    {3, {64, 40, 30}, 3, {64, 40, 30}},
    {3, {64, 40, 30}, 0, {0}},
    {3, {2, 200, 300}, 3, {2, 1, 300}},
  };
  for (guint c = 0; c < G_N_ELEMENTS (pairs); c++) {
    const ShapePair *sp = &pairs[c];
    g_autoptr (T2iTensor) a = rand32 (sp->nda, sp->sa);
    g_autoptr (T2iTensor) b = rand32 (sp->ndb, sp->sb);
    g_autoptr (T2iTensor) y = t2i_mul (a, b);
    g_autoptr (T2iTensor) z = t2i_add (b, a);
    g_assert_cmpint (y->numel, ==, a->numel);
    for (gint64 i = 0; i < y->numel; i++) {
      double av = t2i_tensor_get (a, bidx (a, y, i));
      double bv = t2i_tensor_get (b, bidx (b, y, i));
      if (t2i_tensor_get (y, i) != (float) (av * bv)
          || t2i_tensor_get (z, i) != (float) (bv + av))
        g_error ("broadcast case %u wrong at %" G_GINT64_FORMAT, c, i);
    }
    /* the backward reduction of the same broadcast */
    g_autoptr (T2iTensor) s = t2i_sum_to_shape (y, b->ndim, b->shape);
    g_autoptr (T2iTensor) ref = t2i_tensor_zeros (T2I_F64, b->ndim, b->shape);
    for (gint64 i = 0; i < y->numel; i++) {
      gint64 k = bidx (b, y, i);
      t2i_tensor_set (ref, k, t2i_tensor_get (ref, k) + t2i_tensor_get (y, i));
    }
    for (gint64 k = 0; k < s->numel; k++)
      g_assert_cmpfloat_with_epsilon (t2i_tensor_get (s, k),
          t2i_tensor_get (ref, k), 2e-6 * (y->numel / s->numel + 10));
  }

  /* reductions with few outputs (threads split each sum) */
  g_autoptr (T2iTensor) w = rand32 (T2I_SHAPE (3, 100000));
  g_autoptr (T2iTensor) rs = t2i_sum (w, -1, TRUE);
  g_autoptr (T2iTensor) cs = t2i_sum (w, 0, FALSE);
  g_autoptr (T2iTensor) all = t2i_mean (w, T2I_ALL_AXES, FALSE);
  double tot = 0;
  for (gint r = 0; r < 3; r++) {
    double acc = 0;
    for (gint64 k = 0; k < 100000; k++)
      acc += t2i_tensor_get (w, r * 100000 + k);
    g_assert_cmpfloat_with_epsilon (t2i_tensor_get (rs, r), acc, 1e-3);
    tot += acc;
  }
  for (gint64 k = 0; k < 100000; k += 997) {
    double acc = 0;
    for (gint r = 0; r < 3; r++)
      acc += t2i_tensor_get (w, r * 100000 + k);
    g_assert_cmpfloat_with_epsilon (t2i_tensor_get (cs, k), acc, 1e-5);
  }
  g_assert_cmpfloat_with_epsilon (t2i_tensor_item (all), tot / 300000, 1e-7);

  /* permutes: NCHW <-> NHWC and a plain transpose */
  g_autoptr (T2iTensor) x = rand32 (T2I_SHAPE (4, 24, 20, 18));
  g_autoptr (T2iTensor) nhwc = t2i_permute (x, (gint[]) { 0, 2, 3, 1 });
  g_autoptr (T2iTensor) back = t2i_permute (nhwc, (gint[]) { 0, 3, 1, 2 });
  g_assert_cmpmem (back->data, back->nbytes, x->data, x->nbytes);
  for (gint64 i = 0; i < nhwc->numel; i += 7) {
    gint64 c = i % 24, wq = (i / 24) % 18, h = (i / (24 * 18)) % 20,
        n = i / (24 * 18 * 20);
    g_assert_cmpfloat (t2i_tensor_get (nhwc, i), ==,
        t2i_tensor_get (x, ((n * 24 + c) * 20 + h) * 18 + wq));
  }
  g_autoptr (T2iTensor) m = rand32 (T2I_SHAPE (300, 201));
  g_autoptr (T2iTensor) mt = t2i_transpose (m, 0, 1);
  for (gint64 i = 0; i < 300; i += 3)
    for (gint64 j = 0; j < 201; j++)
      g_assert_cmpfloat (t2i_tensor_get (mt, j * 300 + i), ==,
          t2i_tensor_get (m, i * 201 + j));

  /* softmax along a long last axis and along a middle axis */
  g_autoptr (T2iTensor) sx = rand32 (T2I_SHAPE (64, 40, 30));
  g_autoptr (T2iTensor) s1 = t2i_softmax (sx, 1);
  for (gint64 o = 0; o < 64; o += 5)
    for (gint64 i = 0; i < 30; i++) {
      double z = 0, mx = -INFINITY;
      for (gint64 k = 0; k < 40; k++)
        mx = MAX (mx, t2i_tensor_get (sx, (o * 40 + k) * 30 + i));
      for (gint64 k = 0; k < 40; k++)
        z += exp (t2i_tensor_get (sx, (o * 40 + k) * 30 + i) - mx);
      for (gint64 k = 0; k < 40; k++) {
        gint64 at = (o * 40 + k) * 30 + i;
        g_assert_cmpfloat_with_epsilon (t2i_tensor_get (s1, at),
            exp (t2i_tensor_get (sx, at) - mx) / z, 1e-6);
      }
    }

  /* large unary map, threaded */
  g_autoptr (T2iTensor) e = t2i_exp (sx);
  for (gint64 i = 0; i < sx->numel; i += 13)
    g_assert_cmpfloat_with_epsilon (t2i_tensor_get (e, i),
        exp (t2i_tensor_get (sx, i)), 1e-6);
}

/* ------------------------------------------------------------------ */
/* the autograd engine with real ops                                   */
/* ------------------------------------------------------------------ */

static void
test_engine (void)
{
  double xv[3] = { 1, -2, 3 };
  g_autoptr (T2iTensor) x = leaf (from_f64 (T2I_SHAPE (3), xv));
  g_autoptr (T2iTensor) w = leaf (from_f64 (T2I_SHAPE (3), xv));

  /* fan-out: L = sum(x*x + x*w); dL/dx = 2x + w, dL/dw = x */
  {
    g_autoptr (T2iTensor) xx = t2i_mul (x, x);
    g_autoptr (T2iTensor) xw = t2i_mul (x, w);
    g_autoptr (T2iTensor) s = t2i_add (xx, xw);
    g_autoptr (T2iTensor) loss = t2i_sum (s, T2I_ALL_AXES, FALSE);
    g_assert_true (loss->requires_grad);
    t2i_backward (loss, NULL);
    assert_values (x->grad, (double[]) { 3, -6, 9 }, 3, 1e-12);
    assert_values (w->grad, xv, 3, 1e-12);
    /* accumulation across a second backward */
    t2i_backward (loss, NULL);
    assert_values (x->grad, (double[]) { 6, -12, 18 }, 3, 1e-12);
  }
  t2i_tensor_zero_grad (x);
  t2i_tensor_zero_grad (w);

  /* pruning: only x requested, w's grad stays NULL */
  {
    g_autoptr (T2iTensor) xw = t2i_mul (x, w);
    g_autoptr (T2iTensor) loss = t2i_sum (xw, 0, FALSE);
    T2iTensor *params[2] = { x, NULL };
    t2i_backward (loss, params);
    assert_values (x->grad, xv, 3, 1e-12);
    g_assert_null (w->grad);
  }
  t2i_tensor_zero_grad (x);

  /* no-grad mode records nothing */
  {
    gboolean prev = t2i_set_grad_enabled (FALSE);
    g_autoptr (T2iTensor) y = t2i_exp (x);
    g_assert_null (y->node);
    g_assert_false (y->requires_grad);
    t2i_set_grad_enabled (prev);
  }

  /* detach: no gradient through the detached branch */
  {
    g_autoptr (T2iTensor) y = t2i_square (x);
    g_autoptr (T2iTensor) d = t2i_detach (y);
    g_assert_null (d->node);
    g_autoptr (T2iTensor) z = t2i_mul (d, x);   /* d/dx = x^2 only */
    g_autoptr (T2iTensor) loss = t2i_sum (z, T2I_ALL_AXES, FALSE);
    t2i_backward (loss, NULL);
    assert_values (x->grad, (double[]) { 1, 4, 9 }, 3, 1e-12);
  }
  t2i_tensor_zero_grad (x);

  /* gradients that pass through shared-storage reshapes and fan-out must
   * not alias each other */
  {
    g_autoptr (T2iTensor) a = RAND (-1, 1, 2, 3);
    g_autoptr (T2iTensor) b = RAND (-1, 1, 3, 2);
    g_autoptr (T2iTensor) ra = t2i_reshape (a, T2I_SHAPE (6));
    g_autoptr (T2iTensor) rb = t2i_reshape (b, T2I_SHAPE (6));
    g_autoptr (T2iTensor) s = t2i_add (ra, rb);
    g_autoptr (T2iTensor) l1 = t2i_sum (s, T2I_ALL_AXES, FALSE);
    g_autoptr (T2iTensor) a3 = t2i_mul_scalar (a, 3.0);
    g_autoptr (T2iTensor) l2 = t2i_sum (a3, T2I_ALL_AXES, FALSE);
    g_autoptr (T2iTensor) loss = t2i_add (l1, l2);
    t2i_backward (loss, NULL);
    for (gint i = 0; i < 6; i++) {
      g_assert_cmpfloat (t2i_tensor_get (a->grad, i), ==, 4.0);
      g_assert_cmpfloat (t2i_tensor_get (b->grad, i), ==, 1.0);
    }
  }

  /* the same through a sum over a size-1 axis (a pure reshape) */
  {
    g_autoptr (T2iTensor) a = RAND (-1, 1, 2, 1, 3);
    g_autoptr (T2iTensor) b = RAND (-1, 1, 2, 3);
    g_autoptr (T2iTensor) sa = t2i_sum (a, 1, FALSE);
    g_autoptr (T2iTensor) s = t2i_add (b, sa);
    g_autoptr (T2iTensor) l1 = t2i_sum (s, T2I_ALL_AXES, FALSE);
    g_autoptr (T2iTensor) a2 = t2i_mul_scalar (a, 2.0);
    g_autoptr (T2iTensor) l2 = t2i_sum (a2, T2I_ALL_AXES, FALSE);
    g_autoptr (T2iTensor) loss = t2i_add (l2, l1);
    t2i_backward (loss, NULL);
    for (gint i = 0; i < 6; i++) {
      g_assert_cmpfloat (t2i_tensor_get (a->grad, i), ==, 3.0);
      g_assert_cmpfloat (t2i_tensor_get (b->grad, i), ==, 1.0);
    }
  }

  /* R1-style: gradient penalty through leaky_relu and a linear map */
  {
    g_autoptr (T2iTensor) img = RAND (-1, 1, 2, 4);
    g_autoptr (T2iTensor) wt = RAND (-1, 1, 1, 4);
    g_autoptr (T2iTensor) h = t2i_mul (img, wt);
    g_autoptr (T2iTensor) act = t2i_leaky_relu (h, 0.2);
    g_autoptr (T2iTensor) d = t2i_sum (act, T2I_ALL_AXES, FALSE);
    T2iTensor **gi = t2i_grad (d, NULL, &img, 1, TRUE);
    g_assert_true (gi[0]->requires_grad);
    g_autoptr (T2iTensor) sq = t2i_square (gi[0]);
    g_autoptr (T2iTensor) pen = t2i_sum (sq, T2I_ALL_AXES, FALSE);
    T2iTensor *params[2] = { wt, NULL };
    t2i_backward (pen, params);
    /* d/dw sum_{n,k} (w_k m_nk)^2 = 2 w_k sum_n m_nk^2 */
    for (gint k = 0; k < 4; k++) {
      double acc = 0, wk = t2i_tensor_get (wt, k);
      for (gint n = 0; n < 2; n++) {
        double m = t2i_tensor_get (h, n * 4 + k) > 0 ? 1 : 0.2;
        acc += m * m;
      }
      g_assert_cmpfloat_with_epsilon (t2i_tensor_get (wt->grad, k),
          2 * wk * acc, 1e-12);
    }
    t2i_tensor_unref (gi[0]);
    g_free (gi);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gc_seed (20240611);

  g_test_add_func ("/ops-basic/elementwise/binary", test_binary);
  g_test_add_func ("/ops-basic/elementwise/unary", test_unary);
  g_test_add_func ("/ops-basic/elementwise/values", test_unary_values);
  g_test_add_func ("/ops-basic/elementwise/broadcast", test_broadcast_ops);
  g_test_add_func ("/ops-basic/reduce/grad", test_reductions);
  g_test_add_func ("/ops-basic/reduce/values", test_reduction_values);
  g_test_add_func ("/ops-basic/shape/grad", test_shape_ops);
  g_test_add_func ("/ops-basic/shape/int", test_shape_int);
  g_test_add_func ("/ops-basic/activation/grad", test_activations);
  g_test_add_func ("/ops-basic/activation/values", test_activation_values);
  g_test_add_func ("/ops-basic/loss/grad", test_losses);
  g_test_add_func ("/ops-basic/loss/values", test_loss_values);
  g_test_add_func ("/ops-basic/large", test_large_paths);
  g_test_add_func ("/ops-basic/engine", test_engine);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++) {
    g_autofree char *path = g_strdup_printf ("/ops-basic/bad-arguments/%s",
        bad_cases[i].name);
    g_test_add_data_func (path, GUINT_TO_POINTER (i), test_bad_arguments);
  }
  return g_test_run ();
}
