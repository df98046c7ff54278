/* Tests of the nn op families: norm.c (batch/layer/group norm, adaLN
 * modulation, L2 normalisation, cosine similarity), modconv.c, attention.c
 * and misc.c (dropout, LSTM cell).
 *
 * - first-order gradient checks (f64, central differences) for every op;
 * - second-order checks for the ops that must support double backward;
 * - f32 forward agreement with f64;
 * - the fused backward kernels (grad mode off) against the ops-composed
 *   backward (grad mode on);
 * - PyTorch reference values from tests/golden/ops-nn.json, written by
 *   tests/gen-ops-golden.py.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/tensor.h>
#include <t2i/ops.h>
#include <t2i/rng.h>
#include <json-glib/json-glib.h>
#include <math.h>

#include "gradcheck.h"

#define F32_TOL 1e-4

/* ---- helpers ---- */

static T2iTensor *
leaf_rand (gint ndim, const gint64 * shape, double lo, double hi)
{
  T2iTensor *t = gc_rand (ndim, shape, lo, hi);
  t2i_tensor_set_requires_grad (t, TRUE);
  return t;
}

#define LEAF(lo, hi, ...) leaf_rand (T2I_SHAPE (__VA_ARGS__), lo, hi)

static void
unref_all (T2iTensor ** ts, gint n)
{
  for (gint i = 0; i < n; i++)
    if (ts[i])
      t2i_tensor_unref (ts[i]);
}

static double
max_abs_diff (T2iTensor * a, T2iTensor * b)
{
  g_assert_true (t2i_tensor_same_shape (a, b));
  double m = 0;
  for (gint64 i = 0; i < a->numel; i++) {
    double d = fabs (t2i_tensor_get (a, i) - t2i_tensor_get (b, i));
    m = isnan (d) ? INFINITY : MAX (m, d);
  }
  return m;
}

/* runs gc_check_grad, optionally gc_check_gradgrad, and gc_check_f32 */
static void
check_all (const char *what, T2iCheckFn fn, T2iTensor ** in, gint n,
    gpointer user, gboolean second)
{
  gc_check_grad (what, fn, in, n, user);
  if (second)
    gc_check_gradgrad (what, fn, in, n, user);
  gc_check_f32 (what, fn, in, n, user, F32_TOL);
}

/* The gradients of sum(fn(in) * r) with grad mode off in the backward
 * (fused kernels) and on (ops-composed backward) must agree. */
static void
check_fused_vs_ops (const char *what, T2iCheckFn fn, T2iTensor ** in, gint n,
    gpointer user)
{
  T2iTensor *req[8];
  gint m = 0;
  for (gint i = 0; i < n; i++)
    if (in[i] && in[i]->requires_grad)
      req[m++] = in[i];
  T2iTensor *out = fn (in, user);
  T2iTensor *r = gc_rand (out->ndim, out->shape, -1, 1);
  T2iTensor **g0 = t2i_grad (out, r, req, m, FALSE);
  T2iTensor **g1 = t2i_grad (out, r, req, m, TRUE);
  for (gint j = 0; j < m; j++) {
    double d = max_abs_diff (g0[j], g1[j]);
    if (!(d < 1e-10))
      g_test_fail_printf ("%s: fused and ops backward differ by %g for "
          "input %d", what, d, j);
  }
  unref_all (g0, m);
  unref_all (g1, m);
  g_free (g0);
  g_free (g1);
  t2i_tensor_unref (r);
  t2i_tensor_unref (out);
}

/* ---- batch norm ---- */

typedef struct
{
  gboolean training;
  T2iTensor *rm, *rv;
} BnArgs;

/* in: x, weight, bias */
static T2iTensor *
bn_fn (T2iTensor ** in, gpointer user)
{
  BnArgs *a = user;
  T2iTensor *rm = a->rm ? t2i_tensor_copy (a->rm) : NULL;
  T2iTensor *rv = a->rv ? t2i_tensor_copy (a->rv) : NULL;
  T2iTensor *y = t2i_batch_norm (in[0], in[1], in[2], rm, rv, a->training,
      0.1, 1e-5);
  if (rm) {
    t2i_tensor_unref (rm);
    t2i_tensor_unref (rv);
  }
  return y;
}

static void
test_batch_norm_grad (void)
{
  const double rmv[3] = { 0.1, -0.2, 0.3 }, rvv[3] = { 0.8, 1.3, 0.6 };
  T2iTensor *rm = t2i_tensor_from_data (T2I_F64, T2I_SHAPE (3), rmv);
  T2iTensor *rv = t2i_tensor_from_data (T2I_F64, T2I_SHAPE (3), rvv);
  BnArgs train = { TRUE, NULL, NULL }, train_rs = { TRUE, rm, rv };
  BnArgs eval = { FALSE, rm, rv };

  /* 3-D input, affine, training */
  T2iTensor *in[3] = { LEAF (-2, 2, 4, 3, 5), LEAF (0.5, 1.5, 3),
    LEAF (-0.5, 0.5, 3)
  };
  check_all ("batch_norm train [4,3,5]", bn_fn, in, 3, &train, TRUE);
  check_fused_vs_ops ("batch_norm train", bn_fn, in, 3, &train);
  check_all ("batch_norm train + running stats", bn_fn, in, 3, &train_rs,
      FALSE);
  check_all ("batch_norm eval", bn_fn, in, 3, &eval, TRUE);
  check_fused_vs_ops ("batch_norm eval", bn_fn, in, 3, &eval);
  unref_all (in, 3);

  /* 4-D input, no affine; 2-D input */
  T2iTensor *in4[3] = { LEAF (-2, 2, 3, 3, 2, 3), NULL, NULL };
  check_all ("batch_norm train [3,3,2,3] plain", bn_fn, in4, 3, &train, TRUE);
  check_all ("batch_norm eval plain", bn_fn, in4, 3, &eval, FALSE);
  unref_all (in4, 3);
  T2iTensor *in2[3] = { LEAF (-2, 2, 5, 3), LEAF (0.5, 1.5, 3), NULL };
  check_all ("batch_norm train [5,3]", bn_fn, in2, 3, &train, FALSE);
  unref_all (in2, 3);

  t2i_tensor_unref (rm);
  t2i_tensor_unref (rv);
}

static void
test_batch_norm_running_stats (void)
{
  /* running stats as PyTorch: momentum, unbiased running variance; an f32
   * input updates f32 running stats */
  const double xv[8] = { 1, 2, 3, 4, -1, 0, 5, 9 };
  T2iTensor *x = t2i_tensor_from_data (T2I_F64, T2I_SHAPE (4, 2), xv);
  T2iTensor *x32 = t2i_tensor_to_dtype (x, T2I_F32);
  T2iTensor *rm = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2));
  T2iTensor *rv = t2i_tensor_full (T2I_F32, T2I_SHAPE (2), 1.0);
  T2iTensor *y = t2i_batch_norm (x32, NULL, NULL, rm, rv, TRUE, 0.25, 1e-5);
  /* channel 0: 1, 3, -1, 5: mean 2, biased var 5, unbiased 20/3 */
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (rm, 0), 0.25 * 2, 1e-6);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (rv, 0),
      0.75 + 0.25 * 20.0 / 3.0, 1e-6);
  /* channel 1: 2, 4, 0, 9: mean 3.75 */
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (rm, 1), 0.25 * 3.75, 1e-6);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (y, 0),
      (1 - 2) / sqrt (5 + 1e-5), 1e-5);
  /* evaluation leaves them alone and uses them */
  T2iTensor *ye = t2i_batch_norm (x, NULL, NULL, rm, rv, FALSE, 0.25, 1e-5);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (rm, 0), 0.5, 1e-6);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (ye, 2),
      (3 - 0.5) / sqrt (t2i_tensor_get (rv, 0) + 1e-5), 1e-6);
  T2iTensor *ts[] = { x, x32, rm, rv, y, ye };
  unref_all (ts, G_N_ELEMENTS (ts));
}

static void
test_batch_norm_single_value (void)
{
  /* a single value per channel cannot be normalised in training */
  if (g_test_subprocess ()) {
    T2iTensor *one = t2i_tensor_zeros (T2I_F64, T2I_SHAPE (1, 2));
    T2iTensor *y = t2i_batch_norm (one, NULL, NULL, NULL, NULL, TRUE, 0.1,
        1e-5);
    g_assert_null (y);
    t2i_tensor_unref (one);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*more than 1 value per channel*");
}

/* ---- layer norm ---- */

typedef struct
{
  gint norm_ndim;
} LnArgs;

static T2iTensor *
ln_fn (T2iTensor ** in, gpointer user)
{
  return t2i_layer_norm (in[0], ((LnArgs *) user)->norm_ndim, in[1], in[2],
      1e-5);
}

static void
test_layer_norm_grad (void)
{
  LnArgs one = { 1 }, two = { 2 };
  T2iTensor *a[3] = { LEAF (-2, 2, 2, 3, 5), LEAF (0.5, 1.5, 5),
    LEAF (-0.5, 0.5, 5)
  };
  check_all ("layer_norm 1 dim affine", ln_fn, a, 3, &one, TRUE);
  check_fused_vs_ops ("layer_norm 1 dim affine", ln_fn, a, 3, &one);
  unref_all (a, 3);

  T2iTensor *b[3] = { LEAF (-2, 2, 2, 3, 4), NULL, NULL };
  check_all ("layer_norm 1 dim plain", ln_fn, b, 3, &one, TRUE);
  check_all ("layer_norm 2 dims plain", ln_fn, b, 3, &two, TRUE);
  unref_all (b, 3);

  T2iTensor *c[3] = { LEAF (-2, 2, 2, 3, 4), LEAF (0.5, 1.5, 3, 4),
    LEAF (-0.5, 0.5, 3, 4)
  };
  check_all ("layer_norm 2 dims affine", ln_fn, c, 3, &two, TRUE);
  check_fused_vs_ops ("layer_norm 2 dims affine", ln_fn, c, 3, &two);
  unref_all (c, 3);

  /* weight only, bias only */
  T2iTensor *d[3] = { LEAF (-2, 2, 3, 6), LEAF (0.5, 1.5, 6), NULL };
  check_all ("layer_norm weight only", ln_fn, d, 3, &one, TRUE);
  unref_all (d, 3);
  T2iTensor *e[3] = { LEAF (-2, 2, 3, 6), NULL, LEAF (-0.5, 0.5, 6) };
  check_all ("layer_norm bias only", ln_fn, e, 3, &one, TRUE);
  unref_all (e, 3);
}

/* ---- group norm ---- */

typedef struct
{
  gint groups;
} GnArgs;

static T2iTensor *
gn_fn (T2iTensor ** in, gpointer user)
{
  return t2i_group_norm (in[0], ((GnArgs *) user)->groups, in[1], in[2], 1e-5);
}

static void
test_group_norm_grad (void)
{
  const gint groups[3] = { 1, 2, 4 };
  for (gint k = 0; k < 3; k++) {
    GnArgs a = { groups[k] };
    g_autofree char *what = g_strdup_printf ("group_norm groups %d", groups[k]);
    T2iTensor *in[3] = { LEAF (-2, 2, 2, 4, 3, 2), LEAF (0.5, 1.5, 4),
      LEAF (-0.5, 0.5, 4)
    };
    check_all (what, gn_fn, in, 3, &a, TRUE);
    check_fused_vs_ops (what, gn_fn, in, 3, &a);
    unref_all (in, 3);
  }
  /* no affine, 3-D input */
  GnArgs two = { 2 };
  T2iTensor *in[3] = { LEAF (-2, 2, 3, 4, 5), NULL, NULL };
  check_all ("group_norm plain [3,4,5]", gn_fn, in, 3, &two, TRUE);
  unref_all (in, 3);
}

/* ---- adaLN modulation ---- */

static T2iTensor *
adaln_fn (T2iTensor ** in, gpointer user)
{
  return t2i_adaln_modulate (in[0], in[1], in[2]);
}

static void
test_adaln_grad (void)
{
  T2iTensor *in[3] = { LEAF (-2, 2, 2, 3, 4), LEAF (-1, 1, 2, 1, 4),
    LEAF (-1, 1, 2, 1, 4)
  };
  check_all ("adaln_modulate", adaln_fn, in, 3, NULL, TRUE);
  g_clear_pointer (&in[2], t2i_tensor_unref);
  check_all ("adaln_modulate no shift", adaln_fn, in, 3, NULL, TRUE);
  unref_all (in, 3);

  /* value check: x * (1 + s) + t */
  const double xv[2] = { 2, 3 }, sv[2] = { 0.5, -1 }, tv[2] = { 1, 2 };
  T2iTensor *x = t2i_tensor_from_data (T2I_F64, T2I_SHAPE (1, 1, 2), xv);
  T2iTensor *s = t2i_tensor_from_data (T2I_F64, T2I_SHAPE (1, 1, 2), sv);
  T2iTensor *t = t2i_tensor_from_data (T2I_F64, T2I_SHAPE (1, 1, 2), tv);
  T2iTensor *y = t2i_adaln_modulate (x, s, t);
  g_assert_cmpfloat (t2i_tensor_get (y, 0), ==, 4);
  g_assert_cmpfloat (t2i_tensor_get (y, 1), ==, 2);
  T2iTensor *ts[] = { x, s, t, y };
  unref_all (ts, 4);
}

/* ---- L2 normalisation and cosine similarity ---- */

typedef struct
{
  gint axis;
  double eps;
} L2Args;

static T2iTensor *
l2_fn (T2iTensor ** in, gpointer user)
{
  L2Args *a = user;
  return t2i_l2_normalize (in[0], a->axis, a->eps);
}

static T2iTensor *
cos_fn (T2iTensor ** in, gpointer user)
{
  return t2i_cosine_similarity_matrix (in[0], in[1], 1e-8);
}

static void
test_l2_normalize_grad (void)
{
  L2Args mid = { 1, 1e-12 }, last = { -1, 1e-12 }, big = { 1, 1e-2 };
  T2iTensor *x = LEAF (-2, 2, 3, 4, 2);
  check_all ("l2_normalize axis 1", l2_fn, &x, 1, &mid, TRUE);
  check_fused_vs_ops ("l2_normalize axis 1", l2_fn, &x, 1, &mid);
  check_all ("l2_normalize axis -1", l2_fn, &x, 1, &last, TRUE);
  t2i_tensor_unref (x);

  /* one vector below eps: x / eps there, no projection term */
  x = LEAF (-2, 2, 3, 4);
  for (gint k = 0; k < 4; k++)
    t2i_tensor_set (x, 4 + k, 1e-3 * (k - 1.5));
  check_all ("l2_normalize clamped row", l2_fn, &x, 1, &big, TRUE);
  check_fused_vs_ops ("l2_normalize clamped row", l2_fn, &x, 1, &big);
  T2iTensor *y = t2i_l2_normalize (x, 1, 1e-2);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (y, 4), -1.5e-3 / 1e-2,
      1e-12);
  t2i_tensor_unref (y);
  t2i_tensor_unref (x);
}

static void
test_cosine_similarity_grad (void)
{
  T2iTensor *in[2] = { LEAF (-2, 2, 3, 5), LEAF (-2, 2, 4, 5) };
  check_all ("cosine_similarity_matrix", cos_fn, in, 2, NULL, TRUE);
  /* value: equals cos of the raw vectors */
  gboolean prev = t2i_set_grad_enabled (FALSE);
  T2iTensor *c = cos_fn (in, NULL);
  t2i_set_grad_enabled (prev);
  g_assert_cmpint (c->shape[0], ==, 3);
  g_assert_cmpint (c->shape[1], ==, 4);
  for (gint i = 0; i < 3; i++)
    for (gint j = 0; j < 4; j++) {
      double ab = 0, aa = 0, bb = 0;
      for (gint d = 0; d < 5; d++) {
        double u = t2i_tensor_get (in[0], i * 5 + d);
        double v = t2i_tensor_get (in[1], j * 5 + d);
        ab += u * v;
        aa += u * u;
        bb += v * v;
      }
      g_assert_cmpfloat_with_epsilon (t2i_tensor_get (c, i * 4 + j),
          ab / sqrt (aa * bb), 1e-12);
    }
  t2i_tensor_unref (c);
  unref_all (in, 2);
}

/* ---- modulated convolution ---- */

typedef struct
{
  gboolean demodulate;
  gint padding;
  gint up;
} ModArgs;

/* in: x, w, style */
static T2iTensor *
modconv_fn (T2iTensor ** in, gpointer user)
{
  ModArgs *a = user;
  return t2i_modulated_conv2d (in[0], in[1], in[2], a->demodulate, a->padding,
      a->up);
}

static void
test_modconv_grad (void)
{
  const ModArgs cases[] = {
    {TRUE, 1, 1}, {FALSE, 1, 1}, {TRUE, 0, 1}, {TRUE, 1, 2}, {FALSE, 1, 2},
    {TRUE, 0, 2},
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    ModArgs a = cases[c];
    g_autofree char *what = g_strdup_printf ("modulated_conv2d demod %d "
        "pad %d up %d", a.demodulate, a.padding, a.up);
    T2iTensor *in[3] = { LEAF (-1, 1, 2, 3, 4, 4), LEAF (-1, 1, 2, 3, 3, 3),
      LEAF (0.5, 1.5, 2, 3)
    };
    check_all (what, modconv_fn, in, 3, &a, TRUE);
    T2iTensor *y = modconv_fn (in, &a);
    gint64 expect = (a.up == 2 ? 8 : 4) + 2 * a.padding - 2;
    g_assert_cmpint (y->shape[0], ==, 2);
    g_assert_cmpint (y->shape[1], ==, 2);
    g_assert_cmpint (y->shape[2], ==, expect);
    g_assert_cmpint (y->shape[3], ==, expect);
    t2i_tensor_unref (y);
    unref_all (in, 3);
  }
  /* 1x1 kernel (ToRGB-like) */
  ModArgs a = { FALSE, 0, 1 };
  T2iTensor *in[3] = { LEAF (-1, 1, 2, 3, 3, 3), LEAF (-1, 1, 3, 3, 1, 1),
    LEAF (0.5, 1.5, 2, 3)
  };
  check_all ("modulated_conv2d 1x1", modconv_fn, in, 3, &a, TRUE);
  unref_all (in, 3);
}

static void
test_modconv_demod_unit_norm (void)
{
  /* with demodulation and unit-variance input the per-sample effective
   * weights have unit L2 norm: check d directly on a 1x1 conv of a
   * one-hot input */
  const gint64 Cin = 3, Cout = 2;
  T2iTensor *w = gc_rand (T2I_SHAPE (Cout, Cin, 1, 1), -1, 1);
  T2iTensor *s = gc_rand (T2I_SHAPE (1, Cin), 0.5, 1.5);
  for (gint64 i = 0; i < Cin; i++) {
    T2iTensor *x = t2i_tensor_zeros (T2I_F64, T2I_SHAPE (1, Cin, 1, 1));
    t2i_tensor_set (x, i, 1.0);
    T2iTensor *y = t2i_modulated_conv2d (x, w, s, TRUE, 0, 1);
    for (gint64 o = 0; o < Cout; o++) {
      double n2 = 0;
      for (gint64 j = 0; j < Cin; j++) {
        double e = t2i_tensor_get (w, o * Cin + j) * t2i_tensor_get (s, j);
        n2 += e * e;
      }
      double expect = t2i_tensor_get (w, o * Cin + i) * t2i_tensor_get (s, i)
          / sqrt (n2 + 1e-8);
      g_assert_cmpfloat_with_epsilon (t2i_tensor_get (y, o), expect, 1e-12);
    }
    t2i_tensor_unref (x);
    t2i_tensor_unref (y);
  }
  t2i_tensor_unref (w);
  t2i_tensor_unref (s);
}

/* ---- attention ---- */

typedef struct
{
  gboolean causal;
  double scale;
} AttnArgs;

static T2iTensor *
attn_fn (T2iTensor ** in, gpointer user)
{
  AttnArgs *a = user;
  return t2i_scaled_dot_product_attention (in[0], in[1], in[2], a->causal,
      a->scale);
}

static void
test_attention_grad (void)
{
  const struct
  {
    gint64 Lq, Lk;
    AttnArgs a;
  } cases[] = {
    {4, 4, {FALSE, 0}}, {4, 4, {TRUE, 0}}, {3, 5, {FALSE, 0}},
    {3, 5, {TRUE, 0.7}}, {5, 3, {TRUE, 0}},
  };
  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    AttnArgs a = cases[c].a;
    g_autofree char *what = g_strdup_printf ("attention Lq %d Lk %d causal %d",
        (gint) cases[c].Lq, (gint) cases[c].Lk, a.causal);
    T2iTensor *in[3] = { LEAF (-1, 1, 2, 2, cases[c].Lq, 3),
      LEAF (-1, 1, 2, 2, cases[c].Lk, 3), LEAF (-1, 1, 2, 2, cases[c].Lk, 3)
    };
    check_all (what, attn_fn, in, 3, &a, TRUE);
    check_fused_vs_ops (what, attn_fn, in, 3, &a);
    unref_all (in, 3);
  }
}

/* the blocked (FlashAttention) path, forced: the checks above, then
 * against the full path in f64 and f32 across block boundaries (blocks of
 * 64 queries and 128 keys), forward and the three gradients */
static void
test_attention_flash (void)
{
  const gint64 sizes[][2] = { {70, 150}, {150, 70}, {129, 257} };

  g_setenv ("T2I_ATTENTION", "flash", TRUE);
  test_attention_grad ();
  for (guint c = 0; c < G_N_ELEMENTS (sizes); c++)
    for (gint causal = 0; causal < 2; causal++)
      for (gint dt = 0; dt < 2; dt++) {
        const gint64 Lq = sizes[c][0], Lk = sizes[c][1];
        T2iTensor *in64[3] = { gc_rand (T2I_SHAPE (1, 2, Lq, 8), -1, 1),
          gc_rand (T2I_SHAPE (1, 2, Lk, 8), -1, 1),
          gc_rand (T2I_SHAPE (1, 2, Lk, 8), -1, 1)
        };
        T2iTensor *in[3], *y[2], **g[2];
        for (gint i = 0; i < 3; i++) {
          in[i] = t2i_tensor_to_dtype (in64[i], dt ? T2I_F32 : T2I_F64);
          t2i_tensor_set_requires_grad (in[i], TRUE);
        }
        T2iTensor *r = gc_rand (T2I_SHAPE (1, 2, Lq, 8), -1, 1);
        T2iTensor *rt = t2i_tensor_to_dtype (r, in[0]->dtype);
        AttnArgs a = { causal, 0 };
        for (gint flash = 0; flash < 2; flash++) {
          g_setenv ("T2I_ATTENTION", flash ? "flash" : "full", TRUE);
          y[flash] = attn_fn (in, &a);
          g[flash] = t2i_grad (y[flash], rt, in, 3, FALSE);
        }
        const double tol = dt ? 1e-5 : 1e-12;
        g_autofree char *what = g_strdup_printf ("flash attention %s Lq %d "
            "Lk %d causal %d", dt ? "f32" : "f64", (gint) Lq, (gint) Lk,
            causal);
        /* the blocked path saves the row log-sum-exp, the full one P */
        g_assert_nonnull (y[1]->node->saved[1]);
        g_assert_null (y[0]->node->saved[1]);
        g_assert_cmpfloat (max_abs_diff (y[0], y[1]), <, tol);
        for (gint i = 0; i < 3; i++) {
          const double e = max_abs_diff (g[0][i], g[1][i]);
          if (e >= tol)
            g_test_fail_printf ("%s: gradient %d differs by %g", what, i, e);
        }
        for (gint f = 0; f < 2; f++) {
          t2i_tensor_unref (y[f]);
          unref_all (g[f], 3);
          g_free (g[f]);
        }
        t2i_tensor_unref (r);
        t2i_tensor_unref (rt);
        unref_all (in, 3);
        unref_all (in64, 3);
      }
  g_unsetenv ("T2I_ATTENTION");
}

static void
test_attention_causal_first_row (void)
{
  /* with the causal mask query 0 sees key 0 only: out[0] = v[0] */
  AttnArgs a = { TRUE, 0 };
  T2iTensor *in[3] = { gc_rand (T2I_SHAPE (1, 1, 3, 4), -1, 1),
    gc_rand (T2I_SHAPE (1, 1, 3, 4), -1, 1),
    gc_rand (T2I_SHAPE (1, 1, 3, 4), -1, 1)
  };
  for (gint dt = 0; dt < 2; dt++) {
    T2iTensor *c[3];
    for (gint i = 0; i < 3; i++)
      c[i] = t2i_tensor_to_dtype (in[i], dt ? T2I_F32 : T2I_F64);
    T2iTensor *y = attn_fn (c, &a);
    for (gint d = 0; d < 4; d++)
      g_assert_cmpfloat_with_epsilon (t2i_tensor_get (y, d),
          t2i_tensor_get (in[2], d), 1e-6);
    t2i_tensor_unref (y);
    unref_all (c, 3);
  }
  unref_all (in, 3);
}

/* ---- dropout ---- */

typedef struct
{
  double p;
  guint64 seed;
} DropArgs;

static T2iTensor *
dropout_fn (T2iTensor ** in, gpointer user)
{
  DropArgs *a = user;
  T2iRng rng;
  t2i_rng_init (&rng, a->seed);
  return t2i_dropout (in[0], a->p, TRUE, &rng);
}

static void
test_dropout (void)
{
  const double p = 0.3;
  T2iTensor *x = gc_rand (T2I_SHAPE (50, 40), 0.5, 1.5);
  T2iRng rng, rng2;
  t2i_rng_init (&rng, 7);
  t2i_rng_init (&rng2, 7);
  t2i_tensor_set_requires_grad (x, TRUE);
  T2iTensor *y = t2i_dropout (x, p, TRUE, &rng);
  T2iTensor *y2 = t2i_dropout (x, p, TRUE, &rng2);
  g_assert_cmpuint (rng.offset, >, 0);
  /* same seed, same mask; kept elements are scaled by 1 / (1 - p) */
  gint64 kept = 0;
  for (gint64 i = 0; i < x->numel; i++) {
    double xv = t2i_tensor_get (x, i), yv = t2i_tensor_get (y, i);
    g_assert_cmpfloat (yv, ==, t2i_tensor_get (y2, i));
    if (yv != 0) {
      g_assert_cmpfloat_with_epsilon (yv, xv / (1 - p), 1e-12);
      kept++;
    }
  }
  double frac = (double) kept / x->numel;
  g_assert_cmpfloat (fabs (frac - (1 - p)), <, 0.05);
  /* the gradient uses the same mask */
  T2iTensor *r = t2i_tensor_full (T2I_F64, 2, x->shape, 1.0);
  T2iTensor **g = t2i_grad (y, r, &x, 1, FALSE);
  for (gint64 i = 0; i < x->numel; i++) {
    double yv = t2i_tensor_get (y, i);
    g_assert_cmpfloat (t2i_tensor_get (g[0], i), ==, yv != 0 ? 1 / (1 - p) : 0);
  }
  t2i_tensor_unref (g[0]);
  g_free (g);
  /* a second call draws a different mask */
  T2iTensor *y3 = t2i_dropout (x, p, TRUE, &rng);
  g_assert_cmpfloat (max_abs_diff (y, y3), >, 0);

  /* evaluation and p = 0: identity; p = 1: zeros */
  T2iTensor *ye = t2i_dropout (x, p, FALSE, NULL);
  T2iTensor *y0 = t2i_dropout (x, 0, TRUE, NULL);
  T2iTensor *y1 = t2i_dropout (x, 1, TRUE, &rng);
  g_assert_cmpfloat (max_abs_diff (ye, x), ==, 0);
  g_assert_cmpfloat (max_abs_diff (y0, x), ==, 0);
  for (gint64 i = 0; i < x->numel; i++)
    g_assert_cmpfloat (t2i_tensor_get (y1, i), ==, 0);

  /* gradient check with a fixed seed; f32 forward draws the same mask */
  DropArgs a = { 0.4, 11 };
  T2iTensor *xs = LEAF (-1, 1, 3, 5);
  gc_check_grad ("dropout", dropout_fn, &xs, 1, &a);
  gc_check_gradgrad ("dropout", dropout_fn, &xs, 1, &a);
  gc_check_f32 ("dropout", dropout_fn, &xs, 1, &a, 1e-6);

  T2iTensor *ts[] = { x, y, y2, y3, r, ye, y0, y1, xs };
  unref_all (ts, G_N_ELEMENTS (ts));
}

/* ---- LSTM cell ---- */

/* in: x, h, c, w_ih, w_hh, b_ih, b_hh; returns [h' | c'] */
static T2iTensor *
lstm_fn (T2iTensor ** in, gpointer user)
{
  T2iTensor *c2 = NULL;
  T2iTensor *h2 = t2i_lstm_cell (in[0], in[1], in[2], in[3], in[4], in[5],
      in[6], &c2);
  T2iTensor *both[2] = { h2, c2 };
  T2iTensor *out = t2i_concat (both, 2, 1);
  t2i_tensor_unref (h2);
  t2i_tensor_unref (c2);
  return out;
}

static void
test_lstm_cell_grad (void)
{
  const gint64 N = 2, In = 3, H = 4;
  T2iTensor *in[7] = { LEAF (-1, 1, N, In), LEAF (-1, 1, N, H),
    LEAF (-1, 1, N, H), LEAF (-1, 1, 4 * H, In), LEAF (-1, 1, 4 * H, H),
    LEAF (-0.5, 0.5, 4 * H), LEAF (-0.5, 0.5, 4 * H)
  };
  check_all ("lstm_cell", lstm_fn, in, 7, NULL, TRUE);
  /* no initial state, no biases */
  T2iTensor *in0[7] = { in[0], NULL, NULL, in[3], in[4], NULL, NULL };
  check_all ("lstm_cell zero state", lstm_fn, in0, 7, NULL, FALSE);
  unref_all (in, 7);
}

/* ---- large shapes: the OpenMP paths of the fused kernels ---- */

static void
test_large_shapes (void)
{
  LnArgs one = { 1 };
  T2iTensor *a[3] = { LEAF (-2, 2, 70, 512), LEAF (0.5, 1.5, 512),
    LEAF (-0.5, 0.5, 512)
  };
  check_fused_vs_ops ("layer_norm [70,512]", ln_fn, a, 3, &one);
  /* the parallel reductions are deterministic */
  T2iTensor *y = ln_fn (a, &one);
  T2iTensor *r = gc_rand (y->ndim, y->shape, -1, 1);
  T2iTensor **g0 = t2i_grad (y, r, a, 3, FALSE);
  T2iTensor **g1 = t2i_grad (y, r, a, 3, FALSE);
  for (gint i = 0; i < 3; i++)
    g_assert_cmpfloat (max_abs_diff (g0[i], g1[i]), ==, 0);
  unref_all (g0, 3);
  unref_all (g1, 3);
  g_free (g0);
  g_free (g1);
  t2i_tensor_unref (r);
  t2i_tensor_unref (y);
  gc_check_f32 ("layer_norm [70,512]", ln_fn, a, 3, &one, F32_TOL);
  unref_all (a, 3);

  GnArgs four = { 4 };
  T2iTensor *b[3] = { LEAF (-2, 2, 4, 8, 32, 40), LEAF (0.5, 1.5, 8),
    LEAF (-0.5, 0.5, 8)
  };
  check_fused_vs_ops ("group_norm [4,8,32,40]", gn_fn, b, 3, &four);
  gc_check_f32 ("group_norm [4,8,32,40]", gn_fn, b, 3, &four, F32_TOL);
  unref_all (b, 3);

  BnArgs train = { TRUE, NULL, NULL };
  T2iTensor *c[3] = { LEAF (-2, 2, 9, 4, 32, 32), LEAF (0.5, 1.5, 4),
    LEAF (-0.5, 0.5, 4)
  };
  check_fused_vs_ops ("batch_norm [9,4,32,32]", bn_fn, c, 3, &train);
  gc_check_f32 ("batch_norm [9,4,32,32]", bn_fn, c, 3, &train, F32_TOL);
  unref_all (c, 3);

  AttnArgs causal = { TRUE, 0 };
  T2iTensor *d[3] = { LEAF (-1, 1, 2, 2, 64, 16), LEAF (-1, 1, 2, 2, 72, 16),
    LEAF (-1, 1, 2, 2, 72, 16)
  };
  check_fused_vs_ops ("attention [2,2,64|72,16]", attn_fn, d, 3, &causal);
  gc_check_f32 ("attention [2,2,64|72,16]", attn_fn, d, 3, &causal, F32_TOL);
  unref_all (d, 3);

  L2Args mid = { 1, 1e-12 };
  T2iTensor *x = LEAF (-2, 2, 300, 128);
  check_fused_vs_ops ("l2_normalize [300,128]", l2_fn, &x, 1, &mid);
  gc_check_f32 ("l2_normalize [300,128]", l2_fn, &x, 1, &mid, F32_TOL);
  t2i_tensor_unref (x);
}

/* ---- PyTorch goldens ---- */

static JsonParser *golden_parser;

static JsonObject *
golden_case (const char *name)
{
  if (!golden_parser) {
    const char *src = g_getenv ("T2I_SOURCE_DIR");
    g_autofree char *path = g_build_filename (src ? src : ".", "tests",
        "golden", "ops-nn.json", NULL);
    GError *err = NULL;
    golden_parser = json_parser_new ();
    if (!json_parser_load_from_file (golden_parser, path, &err))
      g_error ("cannot read %s: %s", path, err->message);
  }
  JsonObject *root =
      json_node_get_object (json_parser_get_root (golden_parser));
  JsonObject *cases = json_object_get_object_member (root, "cases");
  g_assert_true (json_object_has_member (cases, name));
  return json_object_get_object_member (cases, name);
}

/* an f64 tensor from case member @key, requiring grad when @grad */
static T2iTensor *
golden_tensor (JsonObject * c, const char *key, gboolean grad)
{
  g_assert_true (json_object_has_member (c, key));
  JsonObject *o = json_object_get_object_member (c, key);
  JsonArray *shape = json_object_get_array_member (o, "shape");
  JsonArray *data = json_object_get_array_member (o, "data");
  gint64 dims[T2I_MAX_DIMS];
  gint nd = (gint) json_array_get_length (shape);
  g_assert_cmpint (nd, <=, T2I_MAX_DIMS);
  for (gint i = 0; i < nd; i++)
    dims[i] = json_array_get_int_element (shape, i);
  T2iTensor *t = t2i_tensor_new (T2I_F64, nd, dims);
  g_assert_cmpint (t->numel, ==, json_array_get_length (data));
  for (gint64 i = 0; i < t->numel; i++)
    t2i_tensor_set (t, i, json_array_get_double_element (data, i));
  if (grad)
    t2i_tensor_set_requires_grad (t, TRUE);
  return t;
}

static void
assert_close (const char *what, const char *key, T2iTensor * got,
    T2iTensor * want, double tol)
{
  g_assert_nonnull (got);
  if (!t2i_tensor_same_shape (got, want)) {
    g_test_fail_printf ("%s %s: shape differs", what, key);
    return;
  }
  double worst = 0;
  for (gint64 i = 0; i < want->numel; i++) {
    double w = t2i_tensor_get (want, i), g = t2i_tensor_get (got, i);
    double e = fabs (g - w) / (1 + fabs (w));
    worst = isnan (e) ? INFINITY : MAX (worst, e);
  }
  if (worst > tol)
    g_test_fail_printf ("%s %s: differs from PyTorch by %g (relative)", what,
        key, worst);
}

/* compares fn(inputs) and the gradients of sum(out * r) with the golden
 * "out" and "grad_<name>" entries */
static void
golden_compare (const char *name, JsonObject * c, T2iTensor * out,
    T2iTensor ** in, const char *const *names, gint n)
{
  T2iTensor *want = golden_tensor (c, "out", FALSE);
  T2iTensor *r = golden_tensor (c, "r", FALSE);
  assert_close (name, "out", out, want, 1e-10);
  T2iTensor *req[8];
  gint idx[8], m = 0;
  for (gint i = 0; i < n; i++)
    if (in[i]) {
      idx[m] = i;
      req[m++] = in[i];
    }
  T2iTensor **g = t2i_grad (out, r, req, m, FALSE);
  for (gint j = 0; j < m; j++) {
    g_autofree char *key = g_strconcat ("grad_", names[idx[j]], NULL);
    T2iTensor *gw = golden_tensor (c, key, FALSE);
    assert_close (name, key, g[j], gw, 1e-9);
    t2i_tensor_unref (gw);
    t2i_tensor_unref (g[j]);
  }
  g_free (g);
  t2i_tensor_unref (want);
  t2i_tensor_unref (r);
}

static void
test_golden_batch_norm (void)
{
  const char *const cases[] = { "bn_train_3d", "bn_train_4d", "bn_eval" };
  const char *const names[] = { "x", "weight", "bias" };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    JsonObject *c = golden_case (cases[k]);
    T2iTensor *in[3];
    for (gint i = 0; i < 3; i++)
      in[i] = golden_tensor (c, names[i], TRUE);
    T2iTensor *rm = golden_tensor (c, "running_mean", FALSE);
    T2iTensor *rv = golden_tensor (c, "running_var", FALSE);
    gboolean training = json_object_get_boolean_member (c, "training");
    T2iTensor *y = t2i_batch_norm (in[0], in[1], in[2], rm, rv, training,
        json_object_get_double_member (c, "momentum"),
        json_object_get_double_member (c, "eps"));
    golden_compare (cases[k], c, y, in, names, 3);
    if (training) {
      T2iTensor *rm2 = golden_tensor (c, "running_mean_after", FALSE);
      T2iTensor *rv2 = golden_tensor (c, "running_var_after", FALSE);
      assert_close (cases[k], "running_mean", rm, rm2, 1e-12);
      assert_close (cases[k], "running_var", rv, rv2, 1e-12);
      t2i_tensor_unref (rm2);
      t2i_tensor_unref (rv2);
    }
    T2iTensor *ts[] = { y, rm, rv, in[0], in[1], in[2] };
    unref_all (ts, G_N_ELEMENTS (ts));
  }
}

static void
test_golden_layer_group_norm (void)
{
  const char *const names[] = { "x", "weight", "bias" };
  const char *const cases[] = { "ln_2d_affine", "ln_1d_plain", "gn_g3" };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    JsonObject *c = golden_case (cases[k]);
    T2iTensor *in[3] = { NULL, NULL, NULL };
    for (gint i = 0; i < 3; i++)
      if (json_object_has_member (c, names[i]))
        in[i] = golden_tensor (c, names[i], TRUE);
    double eps = json_object_get_double_member (c, "eps");
    T2iTensor *y = json_object_has_member (c, "groups")
        ? t2i_group_norm (in[0], json_object_get_int_member (c, "groups"),
        in[1], in[2], eps)
        : t2i_layer_norm (in[0], json_object_get_int_member (c, "norm_ndim"),
        in[1], in[2], eps);
    golden_compare (cases[k], c, y, in, names, 3);
    t2i_tensor_unref (y);
    unref_all (in, 3);
  }
}

static void
test_golden_attention (void)
{
  const char *const names[] = { "q", "k", "v" };
  const char *const cases[] = { "sdpa_causal_square", "sdpa_causal_rect" };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    JsonObject *c = golden_case (cases[k]);
    T2iTensor *in[3];
    for (gint i = 0; i < 3; i++)
      in[i] = golden_tensor (c, names[i], TRUE);
    T2iTensor *y = t2i_scaled_dot_product_attention (in[0], in[1], in[2],
        json_object_get_boolean_member (c, "causal"), 0);
    golden_compare (cases[k], c, y, in, names, 3);
    t2i_tensor_unref (y);
    unref_all (in, 3);
  }
}

static void
test_golden_lstm_cell (void)
{
  const char *const names[] = { "x", "h", "c", "w_ih", "w_hh", "b_ih", "b_hh" };
  JsonObject *c = golden_case ("lstm_cell");
  T2iTensor *in[7];
  for (gint i = 0; i < 7; i++)
    in[i] = golden_tensor (c, names[i], TRUE);
  T2iTensor *c2 = NULL;
  T2iTensor *h2 = t2i_lstm_cell (in[0], in[1], in[2], in[3], in[4], in[5],
      in[6], &c2);
  T2iTensor *want_c = golden_tensor (c, "c_out", FALSE);
  assert_close ("lstm_cell", "c_out", c2, want_c, 1e-10);
  /* L = sum(h' * r) + sum(c' * r_c), as the golden */
  T2iTensor *r = golden_tensor (c, "r", FALSE);
  T2iTensor *rc = golden_tensor (c, "r_c", FALSE);
  T2iTensor *hr = t2i_mul (h2, r), *cr = t2i_mul (c2, rc);
  T2iTensor *s = t2i_add (hr, cr);
  T2iTensor *l = t2i_sum (s, T2I_ALL_AXES, FALSE);
  T2iTensor *want_h = golden_tensor (c, "out", FALSE);
  assert_close ("lstm_cell", "out", h2, want_h, 1e-10);
  T2iTensor **g = t2i_grad (l, NULL, in, 7, FALSE);
  for (gint i = 0; i < 7; i++) {
    g_autofree char *key = g_strconcat ("grad_", names[i], NULL);
    T2iTensor *gw = golden_tensor (c, key, FALSE);
    assert_close ("lstm_cell", key, g[i], gw, 1e-9);
    t2i_tensor_unref (gw);
  }
  unref_all (g, 7);
  g_free (g);
  T2iTensor *ts[] = { c2, h2, want_c, want_h, r, rc, hr, cr, s, l };
  unref_all (ts, G_N_ELEMENTS (ts));
  unref_all (in, 7);
}

static void
test_golden_modconv (void)
{
  const char *const names[] = { "x", "w", "style" };
  const char *const cases[] = { "modconv_up1_demod", "modconv_up2_demod",
    "modconv_up2_plain_k1"
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    JsonObject *c = golden_case (cases[k]);
    T2iTensor *in[3];
    for (gint i = 0; i < 3; i++)
      in[i] = golden_tensor (c, names[i], TRUE);
    T2iTensor *y = t2i_modulated_conv2d (in[0], in[1], in[2],
        json_object_get_boolean_member (c, "demodulate"),
        json_object_get_int_member (c, "padding"),
        json_object_get_int_member (c, "up"));
    golden_compare (cases[k], c, y, in, names, 3);
    t2i_tensor_unref (y);
    unref_all (in, 3);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gc_seed (20240611);
  g_test_add_func ("/ops-nn/batch-norm/grad", test_batch_norm_grad);
  g_test_add_func ("/ops-nn/batch-norm/running-stats",
      test_batch_norm_running_stats);
  g_test_add_func ("/ops-nn/batch-norm/single-value",
      test_batch_norm_single_value);
  g_test_add_func ("/ops-nn/layer-norm/grad", test_layer_norm_grad);
  g_test_add_func ("/ops-nn/group-norm/grad", test_group_norm_grad);
  g_test_add_func ("/ops-nn/adaln/grad", test_adaln_grad);
  g_test_add_func ("/ops-nn/l2-normalize/grad", test_l2_normalize_grad);
  g_test_add_func ("/ops-nn/cosine-similarity/grad",
      test_cosine_similarity_grad);
  g_test_add_func ("/ops-nn/modconv/grad", test_modconv_grad);
  g_test_add_func ("/ops-nn/modconv/demod", test_modconv_demod_unit_norm);
  g_test_add_func ("/ops-nn/attention/grad", test_attention_grad);
  g_test_add_func ("/ops-nn/attention/flash", test_attention_flash);
  g_test_add_func ("/ops-nn/attention/causal-first-row",
      test_attention_causal_first_row);
  g_test_add_func ("/ops-nn/dropout", test_dropout);
  g_test_add_func ("/ops-nn/lstm-cell/grad", test_lstm_cell_grad);
  g_test_add_func ("/ops-nn/large-shapes", test_large_shapes);
  g_test_add_func ("/ops-nn/golden/batch-norm", test_golden_batch_norm);
  g_test_add_func ("/ops-nn/golden/layer-group-norm",
      test_golden_layer_group_norm);
  g_test_add_func ("/ops-nn/golden/attention", test_golden_attention);
  g_test_add_func ("/ops-nn/golden/lstm-cell", test_golden_lstm_cell);
  g_test_add_func ("/ops-nn/golden/modconv", test_golden_modconv);
  int ret = g_test_run ();
  g_clear_object (&golden_parser);
  return ret;
}
