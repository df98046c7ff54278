/* Tests for T2I_PRECISION_BF16 (core/ops/precision.c and the bf16 paths
 * of core/ops/{linear,conv}.c): every matmul and convolution path run in
 * bf16 must equal the same computation in f64 on the inputs rounded to
 * bf16 (round to nearest even, as the CPU's conversion), up to f32
 * accumulation, and be measurably further from the f32 result, which
 * shows the bf16 path ran.  Biases and accumulated outputs stay f32.
 * Also: the setting is per thread, and a machine without bf16 is refused
 * with a message.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/ops.h>
#include "gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* |bf16 - reference| / max |reference| stays under this (f32 sums) */
#define ACC_TOL 2e-5

typedef T2iTensor *(*Fn) (T2iTensor ** in, gpointer user);

/* @t (f32) rounded to bf16, as f64 */
static T2iTensor *
round_bf16 (T2iTensor * t)
{
  T2iTensor *r = t2i_tensor_new (T2I_F64, t->ndim, t->shape);
  const float *s = t->data;
  double *d = r->data;
  for (gint64 i = 0; i < t->numel; i++) {
    guint32 bits;
    float f;
    memcpy (&bits, &s[i], sizeof (bits));
    bits += 0x7fff + ((bits >> 16) & 1);
    bits &= 0xffff0000u;
    memcpy (&f, &bits, sizeof (f));
    d[i] = f;
  }
  return r;
}

static double
max_diff (T2iTensor * a, T2iTensor * b, double *maxabs)
{
  double m = 0;
  *maxabs = 0;
  g_assert_true (t2i_tensor_same_shape (a, b));
  for (gint64 i = 0; i < a->numel; i++) {
    const double x = t2i_tensor_get (a, i), y = t2i_tensor_get (b, i);
    m = MAX (m, fabs (x - y));
    *maxabs = MAX (*maxabs, fabs (x));
  }
  return m;
}

/* runs @fn on the f32 inputs @in in bf16 and in f32, and in f64 on them
 * rounded to bf16 where bit i of @rounded is set (exact elsewhere) */
static void
check (const char *what, Fn fn, T2iTensor ** in, gint n, guint rounded,
    gpointer user)
{
  T2iTensor *ref_in[4];
  for (gint i = 0; i < n; i++)
    ref_in[i] = !in[i] ? NULL : (rounded >> i) & 1 ? round_bf16 (in[i])
        : t2i_tensor_to_dtype (in[i], T2I_F64);
  T2iTensor *ref = fn (ref_in, user);
  g_assert_cmpint (t2i_set_precision (T2I_PRECISION_BF16), ==,
      T2I_PRECISION_F32);
  T2iTensor *b16 = fn (in, user);
  g_assert_cmpint (t2i_set_precision (T2I_PRECISION_F32), ==,
      T2I_PRECISION_BF16);
  T2iTensor *f32 = fn (in, user);
  double scale;
  const double eb = max_diff (ref, b16, &scale) / scale;
  const double ef = max_diff (ref, f32, &scale) / scale;
  g_test_message ("%s: bf16 %.2g, f32 %.2g from the bf16-rounded reference",
      what, eb, ef);
  if (eb > ACC_TOL)
    g_test_fail_printf ("%s: bf16 differs from the f64 product of the "
        "bf16-rounded inputs by %.3g of its largest value (tolerance %g)",
        what, eb, ACC_TOL);
  if (!(ef > 10 * eb))
    g_test_fail_printf ("%s: the bf16 result (%.3g off the rounded "
        "reference) is not closer to it than f32's (%.3g): it did not run "
        "in bf16", what, eb, ef);
  t2i_tensor_unref (ref);
  t2i_tensor_unref (b16);
  t2i_tensor_unref (f32);
  for (gint i = 0; i < n; i++)
    if (ref_in[i])
      t2i_tensor_unref (ref_in[i]);
}

static T2iTensor *
rnd32 (gint ndim, const gint64 * shape)
{
  T2iTensor *t = gc_rand (ndim, shape, -1, 1);
  T2iTensor *f = t2i_tensor_to_dtype (t, T2I_F32);
  t2i_tensor_unref (t);
  return f;
}

static void
unref_all (T2iTensor ** ts, gint n)
{
  for (gint i = 0; i < n; i++)
    if (ts[i])
      t2i_tensor_unref (ts[i]);
}

static gboolean
have_bf16 (void)
{
  g_autoptr (GError) error = NULL;
  if (t2i_precision_check (T2I_PRECISION_BF16, &error))
    return TRUE;
  g_test_skip_printf ("%s", error->message);
  return FALSE;
}

/* ---- matmul and linear ---- */

static T2iTensor *
matmul_fn (T2iTensor ** in, gpointer user)
{
  return t2i_matmul (in[0], in[1]);
}

static T2iTensor *
linear_fn (T2iTensor ** in, gpointer user)
{
  return t2i_linear (in[0], in[1], in[2]);
}

/* the gradient of sum(matmul(a, b) * g) for a (@user 0: g b^T, the
 * transposed-b product) or b (1: a^T g, the transposed-a one) */
static T2iTensor *
matmul_grad_fn (T2iTensor ** in, gpointer user)
{
  const gint which = GPOINTER_TO_INT (user);
  g_autoptr (T2iTensor) a = t2i_detach (in[0]);
  g_autoptr (T2iTensor) b = t2i_detach (in[1]);
  t2i_tensor_set_requires_grad (a, TRUE);
  t2i_tensor_set_requires_grad (b, TRUE);
  g_autoptr (T2iTensor) y = t2i_matmul (a, b);
  T2iTensor *leaves[2] = { a, b };
  T2iTensor **g = t2i_grad (y, in[2], leaves, 2, FALSE);
  T2iTensor *out = g[which];
  t2i_tensor_unref (g[1 - which]);
  g_free (g);
  return out;
}

static void
test_matmul (void)
{
  if (!have_bf16 ())
    return;
  {
    T2iTensor *in[2] = { rnd32 (T2I_SHAPE (64, 200)),
      rnd32 (T2I_SHAPE (200, 48))
    };
    check ("matmul [64,200] [200,48]", matmul_fn, in, 2, 3, NULL);
    unref_all (in, 2);
  }
  {
    /* batch dims broadcast: one product per (i, j) */
    T2iTensor *in[2] = { rnd32 (T2I_SHAPE (3, 1, 17, 40)),
      rnd32 (T2I_SHAPE (5, 40, 9))
    };
    check ("matmul [3,1,17,40] [5,40,9]", matmul_fn, in, 2, 3, NULL);
    unref_all (in, 2);
  }
  {
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (2, 33, 70)),
      rnd32 (T2I_SHAPE (70, 21)), rnd32 (T2I_SHAPE (2, 33, 21))
    };
    check ("matmul gradient of a (b transposed)", matmul_grad_fn, in, 3, 7,
        GINT_TO_POINTER (0));
    check ("matmul gradient of b (a transposed)", matmul_grad_fn, in, 3, 7,
        GINT_TO_POINTER (1));
    unref_all (in, 3);
  }
  {
    /* the bias is added in f32 */
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (37, 100)),
      rnd32 (T2I_SHAPE (30, 100)), rnd32 (T2I_SHAPE (30))
    };
    check ("linear [37,100] [30,100] + bias", linear_fn, in, 3, 3, NULL);
    unref_all (in, 3);
  }
}

/* ---- convolutions ---- */

typedef struct
{
  T2iConvParams p;
  gint64 w[4];                  /* the weight's shape, for the weight grad */
} ConvCase;

static T2iConvParams
cp (gint s, gint p, gint groups)
{
  T2iConvParams c = { {s, s}, {p, p}, {1, 1}, groups, {0, 0} };
  return c;
}

static T2iTensor *
conv_fn (T2iTensor ** in, gpointer user)
{
  return t2i_conv2d (in[0], in[1], in[2], &((ConvCase *) user)->p);
}

static T2iTensor *
convt_fn (T2iTensor ** in, gpointer user)
{
  return t2i_conv_transpose2d (in[0], in[1], in[2], &((ConvCase *) user)->p);
}

static T2iTensor *
wgrad_fn (T2iTensor ** in, gpointer user)
{
  ConvCase *c = user;
  return t2i_conv2d_weight_grad (in[0], in[1], c->w, &c->p);
}

static void
test_conv (void)
{
  if (!have_bf16 ())
    return;
  {
    ConvCase c = { cp (1, 1, 1), {48, 32, 3, 3} };
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (4, 32, 16, 16)),
      rnd32 (4, c.w), rnd32 (T2I_SHAPE (48))
    };
    check ("conv2d 3x3 32->48 + bias", conv_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[1]);
    in[1] = rnd32 (T2I_SHAPE (4, 48, 16, 16));
    check ("conv2d_weight_grad 3x3 32->48", wgrad_fn, in, 2, 3, &c);
    unref_all (in, 3);
  }
  {
    /* k4 s2 p1 at 16x16 (oneDNN's strided kernel) and at 8x8 (phases) */
    ConvCase c = { cp (2, 1, 1), {128, 64, 4, 4} };
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (4, 64, 16, 16)),
      rnd32 (4, c.w), NULL
    };
    check ("conv2d k4s2p1 16x16", conv_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[0]);
    in[0] = rnd32 (T2I_SHAPE (4, 64, 8, 8));
    check ("conv2d k4s2p1 8x8 (phases)", conv_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[1]);
    in[1] = rnd32 (T2I_SHAPE (4, 128, 4, 4));
    check ("conv2d_weight_grad k4s2p1 8x8", wgrad_fn, in, 2, 3, &c);
    unref_all (in, 2);
  }
  {
    /* up-sampling: phases at 4x4, the deconvolution primitive at 16x16 */
    ConvCase c = { cp (2, 1, 1), {0} };
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (2, 128, 4, 4)),
      rnd32 (T2I_SHAPE (128, 64, 4, 4)), rnd32 (T2I_SHAPE (64))
    };
    check ("conv_transpose2d k4s2p1 4x4 (phases)", convt_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[0]);
    in[0] = rnd32 (T2I_SHAPE (2, 128, 16, 16));
    check ("conv_transpose2d k4s2p1 16x16", convt_fn, in, 3, 3, &c);
    unref_all (in, 3);
  }
  {
    /* grouped, as StyleGAN2's modulated convolution runs one group per
     * sample */
    ConvCase c = { cp (1, 1, 4), {64, 16, 3, 3} };
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (1, 64, 8, 8)), rnd32 (4, c.w),
      NULL
    };
    check ("conv2d groups 4", conv_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[1]);
    in[1] = rnd32 (T2I_SHAPE (1, 64, 8, 8));
    check ("conv2d_weight_grad groups 4", wgrad_fn, in, 2, 3, &c);
    unref_all (in, 2);
  }
}

/* ---- the setting ---- */

static gpointer
other_thread (gpointer data)
{
  return GINT_TO_POINTER (t2i_get_precision ());
}

static void
test_per_thread (void)
{
  T2iPrecision p;
  g_assert_true (t2i_precision_from_name ("bf16", &p));
  g_assert_cmpint (p, ==, T2I_PRECISION_BF16);
  g_assert_false (t2i_precision_from_name ("fp16", &p));
  g_assert_cmpstr (t2i_precision_name (T2I_PRECISION_F32), ==, "f32");
  g_assert_cmpint (t2i_get_precision (), ==, T2I_PRECISION_F32);
  t2i_set_precision (T2I_PRECISION_BF16);
  GThread *t = g_thread_new ("other", other_thread, NULL);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (t)), ==,
      T2I_PRECISION_F32);
  g_assert_cmpint (t2i_set_precision (T2I_PRECISION_F32), ==,
      T2I_PRECISION_BF16);
}

static void
test_refused (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (t2i_precision_check (T2I_PRECISION_F32, NULL));
  g_setenv ("T2I_NO_BF16", "1", TRUE);
  g_assert_false (t2i_precision_check (T2I_PRECISION_BF16, &error));
  g_unsetenv ("T2I_NO_BF16");
  g_assert_error (error, T2I_PRECISION_ERROR, 0);
  g_assert_nonnull (strstr (error->message, "use f32"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/precision/bf16/matmul", test_matmul);
  g_test_add_func ("/precision/bf16/conv", test_conv);
  g_test_add_func ("/precision/per-thread", test_per_thread);
  g_test_add_func ("/precision/refused", test_refused);
  return g_test_run ();
}
