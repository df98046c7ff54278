/* The CUDA op table against the CPU's, op by op, forward and backward.
 *
 * By default the CUDA table runs on the host emulator (runtime-emu.c): the
 * same table code and the same kernel bodies the GPU runs, in loops on
 * the CPU, so every body's arithmetic is checked here on any machine;
 * the last case fails naming every kernel no case launched, and the first
 * one fails naming every op the CUDA table lacks.  With T2I_TEST_GPU=1
 * (tests/gpu/run) the cases run on a GPU instead, and skip with the
 * reason when there is none.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/t2i.h>
#include <math.h>
#include <string.h>

#include "backend/backend.h"
#include "cuda/runtime.h"

static gboolean on_gpu;

/* ---- tensors ---- */

static guint64 seed = 1;

static T2iTensor *
randu (T2iDType dt, gint ndim, const gint64 * shape, double lo, double hi)
{
  T2iRng rng;
  t2i_rng_init (&rng, seed++);
  T2iTensor *t = t2i_tensor_new (dt, ndim, shape);
  t2i_rng_fill_uniform (&rng, t, lo, hi);
  return t;
}

static T2iTensor *
ids (gint ndim, const gint64 * shape, gint64 hi)
{
  T2iRng rng;
  t2i_rng_init (&rng, seed++);
  return t2i_rng_randint (&rng, ndim, shape, 0, hi);
}

static T2iTensor *
dev (T2iTensor * t)
{
  GError *err = NULL;
  T2iTensor *d = t2i_tensor_to_device (t, T2I_DEVICE_CUDA, &err);
  g_assert_no_error (err);
  g_assert_cmpint (d->device, ==, T2I_DEVICE_CUDA);
  return d;
}

static T2iTensor *
host (T2iTensor * t)
{
  GError *err = NULL;
  T2iTensor *h = t2i_tensor_to_device (t, T2I_DEVICE_CPU, &err);
  g_assert_no_error (err);
  return h;
}

/* |cuda - cpu| <= tol * (1 + max |cpu|) element by element; exact with
 * tol 0 */
static void
assert_close (const char *what, T2iTensor * d, T2iTensor * ref, double tol)
{
  g_assert_nonnull (d);
  g_assert_cmpint (d->device, ==, T2I_DEVICE_CUDA);
  g_autoptr (T2iTensor) h = host (d);
  if (!t2i_tensor_same_shape (h, ref) || h->dtype != ref->dtype) {
    g_autofree char *a = t2i_shape_to_string (h->ndim, h->shape);
    g_autofree char *b = t2i_shape_to_string (ref->ndim, ref->shape);
    g_error ("%s: cuda gives %s %s, cpu %s %s", what,
        t2i_dtype_name (h->dtype), a, t2i_dtype_name (ref->dtype), b);
  }
  double mx = 0;
  for (gint64 i = 0; i < ref->numel; i++)
    mx = MAX (mx, fabs (t2i_tensor_get (ref, i)));
  for (gint64 i = 0; i < ref->numel; i++) {
    double a = t2i_tensor_get (h, i), b = t2i_tensor_get (ref, i);
    if (isnan (a) && isnan (b))
      continue;
    if (!(fabs (a - b) <= tol * (1 + mx)))
      g_error ("%s: element %" G_GINT64_FORMAT ": cuda %.9g, cpu %.9g "
          "(tolerance %g of %g)", what, i, a, b, tol, 1 + mx);
  }
}

/* ---- the harness: an op on CPU inputs and on their device copies,
 * output and the gradients of sum (out * r) compared ---- */

typedef T2iTensor *(*OpFn) (T2iTensor ** in, gpointer user);

#define MAX_IN 6

static void
check_op_full (const char *what, OpFn fn, T2iTensor ** cpu, gint n,
    gpointer user, double tol, gboolean grads, gboolean gradgrad)
{
  T2iTensor *cuda[MAX_IN] = { NULL };
  for (gint i = 0; i < n; i++) {
    if (!cpu[i])
      continue;
    cuda[i] = dev (cpu[i]);
    gboolean fl = cpu[i]->dtype == T2I_F32 || cpu[i]->dtype == T2I_F64;
    if (grads && fl) {
      t2i_tensor_set_requires_grad (cpu[i], TRUE);
      t2i_tensor_set_requires_grad (cuda[i], TRUE);
    }
  }
  g_autoptr (T2iTensor) ref = fn (cpu, user);
  g_autoptr (T2iTensor) out = fn (cuda, user);
  g_assert_nonnull (ref);
  assert_close (what, out, ref, tol);

  if (grads && (ref->dtype == T2I_F32 || ref->dtype == T2I_F64)
      && ref->requires_grad) {
    g_autoptr (T2iTensor) r = randu (ref->dtype, ref->ndim, ref->shape, -1, 1);
    g_autoptr (T2iTensor) rd = dev (r);
    T2iTensor *outs[2] = { ref, out }, *rs[2] = { r, rd };
    T2iTensor **ins[2] = { cpu, cuda };
    T2iTensor *gx[2][MAX_IN] = { { NULL } };
    for (gint side = 0; side < 2; side++) {
      g_autoptr (T2iTensor) m = t2i_mul (outs[side], rs[side]);
      g_autoptr (T2iTensor) l = t2i_sum (m, T2I_ALL_AXES, FALSE);
      T2iTensor *params[MAX_IN + 1];
      gint np = 0;
      for (gint i = 0; i < n; i++)
        if (ins[side][i] && ins[side][i]->requires_grad)
          params[np++] = ins[side][i];
      T2iTensor **g = t2i_grad (l, NULL, params, np, gradgrad);
      for (gint i = 0, j = 0; i < n; i++)
        if (ins[side][i] && ins[side][i]->requires_grad)
          gx[side][i] = g[j++];
      g_free (g);
    }
    for (gint i = 0; i < n; i++) {
      if (!gx[0][i])
        continue;
      g_autofree char *w = g_strdup_printf ("%s: d/d input %d", what, i);
      assert_close (w, gx[1][i], gx[0][i], tol);
    }
    if (gradgrad) {
      /* second order: d/dx sum (grad_x * r2) (the R1 penalty's path) */
      T2iTensor *gg[2] = { NULL, NULL };
      for (gint side = 0; side < 2; side++) {
        T2iTensor *g0 = gx[side][0];
        g_autoptr (T2iTensor) r2 = randu (g0->dtype, g0->ndim, g0->shape,
            -1, 1);
        seed--;
        g_autoptr (T2iTensor) r2d = side ? dev (r2) : t2i_tensor_ref (r2);
        g_autoptr (T2iTensor) m = t2i_mul (g0, r2d);
        g_autoptr (T2iTensor) l = t2i_sum (m, T2I_ALL_AXES, FALSE);
        T2iTensor **g = t2i_grad (l, NULL, &ins[side][0], 1, FALSE);
        gg[side] = g[0];
        g_free (g);
      }
      seed++;
      g_autofree char *w = g_strdup_printf ("%s: second order", what);
      assert_close (w, gg[1], gg[0], tol);
      t2i_tensor_unref (gg[0]);
      t2i_tensor_unref (gg[1]);
    }
    for (gint s = 0; s < 2; s++)
      for (gint i = 0; i < n; i++)
        if (gx[s][i])
          t2i_tensor_unref (gx[s][i]);
  }
  for (gint i = 0; i < n; i++)
    if (cuda[i])
      t2i_tensor_unref (cuda[i]);
}

static gboolean
need_device (void)
{
  if (t2i_cuda_is_available ())
    return TRUE;
  g_autofree char *msg = g_strdup_printf ("no CUDA: %s",
      t2i_cuda_unavailable_reason ());
  g_test_skip (msg);
  return FALSE;
}

/* tolerances: float arithmetic in another order (and on a GPU another
 * libm); f64 to rounding */
#define TOL32 2e-5
#define TOL64 1e-11

/* runs @fn on inputs built by @make for f32 and f64 */
typedef void (*MakeFn) (T2iDType dt, T2iTensor ** in, gint * n);

static void
check_both (const char *what, OpFn fn, MakeFn make, gpointer user,
    gboolean gradgrad)
{
  if (!need_device ())
    return;
  for (gint d = 0; d < 2; d++) {
    T2iDType dt = d ? T2I_F64 : T2I_F32;
    T2iTensor *in[MAX_IN] = { NULL };
    gint n = 0;
    make (dt, in, &n);
    g_autofree char *w = g_strdup_printf ("%s (%s)", what, t2i_dtype_name (dt));
    /* the fused backward (grad mode off), then the differentiable one */
    check_op_full (w, fn, in, n, user, d ? TOL64 : TOL32, TRUE, FALSE);
    for (gint i = 0; i < n && gradgrad; i++)
      if (in[i])
        t2i_tensor_set_requires_grad (in[i], FALSE);
    if (gradgrad) {
      g_autofree char *w2 = g_strdup_printf ("%s, create_graph", w);
      check_op_full (w2, fn, in, n, user, d ? TOL64 : TOL32, TRUE, TRUE);
    }
    for (gint i = 0; i < n; i++)
      if (in[i])
        t2i_tensor_unref (in[i]);
  }
}

#define SH(...) T2I_SHAPE (__VA_ARGS__)

/* ---- elementwise ---- */

static void
make_bcast (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 3, 4), -2, 2);
  in[1] = randu (dt, SH (3, 1), 0.5, 2);
  *n = 2;
}

static void
make_one (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (3, 17), -3, 3);
  *n = 1;
}

static void
make_pos (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (3, 17), 0.2, 3);
  *n = 1;
}

static void
make_ties (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (4, 5), -1, 1);
  in[1] = randu (dt, SH (5), -1, 1);
  t2i_tensor_set (in[1], 2, t2i_tensor_get (in[0], 2));
  *n = 2;
}

#define BIN(name) \
static T2iTensor * op_##name (T2iTensor ** in, gpointer u) \
{ return t2i_##name (in[0], in[1]); }
BIN (add) BIN (sub) BIN (mul) BIN (div) BIN (maximum)
#define UN(name) \
static T2iTensor * op_##name (T2iTensor ** in, gpointer u) \
{ return t2i_##name (in[0]); }
UN (neg) UN (exp) UN (log) UN (sqrt) UN (rsqrt) UN (abs) UN (square)
UN (relu) UN (gelu) UN (quick_gelu) UN (tanh) UN (sigmoid) UN (softplus)
UN (silu)

static T2iTensor *
op_add_scalar (T2iTensor ** in, gpointer u)
{
  return t2i_add_scalar (in[0], 0.75);
}

static T2iTensor *
op_mul_scalar (T2iTensor ** in, gpointer u)
{
  return t2i_mul_scalar (in[0], -1.25);
}

static T2iTensor *
op_pow (T2iTensor ** in, gpointer u)
{
  return t2i_pow_scalar (in[0], *(double *) u);
}

static T2iTensor *
op_clamp (T2iTensor ** in, gpointer u)
{
  return t2i_clamp (in[0], -1, 1.5);
}

static T2iTensor *
op_leaky_relu (T2iTensor ** in, gpointer u)
{
  return t2i_leaky_relu (in[0], 0.2);
}

static T2iTensor *
op_glu (T2iTensor ** in, gpointer u)
{
  return t2i_glu (in[0], 1);
}

static void
make_glu (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 6, 5), -3, 3);
  *n = 1;
}

static T2iTensor *
op_sum_to_shape (T2iTensor ** in, gpointer u)
{
  return t2i_sum_to_shape (in[0], SH (3, 1));
}

static T2iTensor *
op_expand (T2iTensor ** in, gpointer u)
{
  return t2i_expand (in[1], SH (2, 3, 4));
}

static void
test_elementwise (void)
{
  static const struct
  {
    const char *name;
    OpFn fn;
    MakeFn make;
  } cases[] = {
    {"add", op_add, make_bcast}, {"sub", op_sub, make_bcast},
    {"mul", op_mul, make_bcast}, {"div", op_div, make_bcast},
    {"maximum", op_maximum, make_ties},
    {"neg", op_neg, make_one}, {"exp", op_exp, make_one},
    {"log", op_log, make_pos}, {"sqrt", op_sqrt, make_pos},
    {"rsqrt", op_rsqrt, make_pos}, {"abs", op_abs, make_one},
    {"square", op_square, make_one}, {"add_scalar", op_add_scalar, make_one},
    {"mul_scalar", op_mul_scalar, make_one}, {"clamp", op_clamp, make_one},
    {"sum_to_shape", op_sum_to_shape, make_bcast},
    {"expand", op_expand, make_bcast},
    {"relu", op_relu, make_one}, {"leaky_relu", op_leaky_relu, make_one},
    {"gelu", op_gelu, make_one}, {"quick_gelu", op_quick_gelu, make_one},
    {"tanh", op_tanh, make_one}, {"sigmoid", op_sigmoid, make_one},
    {"softplus", op_softplus, make_one}, {"silu", op_silu, make_one},
    {"glu", op_glu, make_glu},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    check_both (cases[i].name, cases[i].fn, cases[i].make, NULL, FALSE);
  static double exps[] = { 1, 2, 3, 0.5, -0.5, -1, -2, 1.7, 0 };
  for (guint i = 0; i < G_N_ELEMENTS (exps); i++) {
    g_autofree char *w = g_strdup_printf ("pow_scalar %g", exps[i]);
    check_both (w, op_pow, make_pos, &exps[i], FALSE);
  }
  /* the activations' create_graph paths (the R1 penalty's) */
  check_both ("leaky_relu", op_leaky_relu, make_one, NULL, TRUE);
  check_both ("gelu", op_gelu, make_one, NULL, TRUE);
  check_both ("quick_gelu", op_quick_gelu, make_one, NULL, TRUE);
  check_both ("sigmoid", op_sigmoid, make_one, NULL, TRUE);
  check_both ("tanh", op_tanh, make_one, NULL, TRUE);
  check_both ("silu", op_silu, make_one, NULL, TRUE);
  check_both ("softplus", op_softplus, make_one, NULL, TRUE);
  check_both ("glu", op_glu, make_glu, NULL, TRUE);
  check_both ("maximum", op_maximum, make_ties, NULL, TRUE);
  check_both ("div", op_div, make_bcast, NULL, TRUE);
}

/* ---- reductions ---- */

static void
make_3d (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (3, 4, 5), -2, 2);
  *n = 1;
}

static T2iTensor *
op_sum1 (T2iTensor ** in, gpointer u)
{
  return t2i_sum (in[0], 1, FALSE);
}

static T2iTensor *
op_sum_all (T2iTensor ** in, gpointer u)
{
  return t2i_sum (in[0], T2I_ALL_AXES, FALSE);
}

static T2iTensor *
op_mean2 (T2iTensor ** in, gpointer u)
{
  return t2i_mean (in[0], -1, TRUE);
}

static T2iTensor *
op_mean_all (T2iTensor ** in, gpointer u)
{
  return t2i_mean (in[0], T2I_ALL_AXES, FALSE);
}

static T2iTensor *
op_sum_axes (T2iTensor ** in, gpointer u)
{
  return t2i_sum_axes (in[0], 1u | 4u, FALSE);
}

static T2iTensor *
op_max1 (T2iTensor ** in, gpointer u)
{
  return t2i_max (in[0], 1, FALSE);
}

static T2iTensor *
op_max_all (T2iTensor ** in, gpointer u)
{
  return t2i_max (in[0], T2I_ALL_AXES, FALSE);
}

static T2iTensor *
op_lse (T2iTensor ** in, gpointer u)
{
  return t2i_logsumexp (in[0], 1, TRUE);
}

static T2iTensor *
op_lse_all (T2iTensor ** in, gpointer u)
{
  return t2i_logsumexp (in[0], T2I_ALL_AXES, FALSE);
}

static T2iTensor *
op_softmax1 (T2iTensor ** in, gpointer u)
{
  return t2i_softmax (in[0], 1);
}

static T2iTensor *
op_softmax_last (T2iTensor ** in, gpointer u)
{
  return t2i_softmax (in[0], -1);
}

static T2iTensor *
op_log_softmax1 (T2iTensor ** in, gpointer u)
{
  return t2i_log_softmax (in[0], 1);
}

static T2iTensor *
op_argmax (T2iTensor ** in, gpointer u)
{
  return t2i_argmax (in[0], 1);
}

static void
test_reductions (void)
{
  static const struct
  {
    const char *name;
    OpFn fn;
  } cases[] = {
    {"sum axis 1", op_sum1}, {"sum all", op_sum_all},
    {"mean keepdim", op_mean2}, {"mean all", op_mean_all},
    {"sum_axes", op_sum_axes}, {"max axis 1", op_max1},
    {"max all", op_max_all}, {"logsumexp", op_lse},
    {"logsumexp all", op_lse_all}, {"softmax axis 1", op_softmax1},
    {"softmax last", op_softmax_last}, {"log_softmax", op_log_softmax1},
    {"argmax", op_argmax},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    check_both (cases[i].name, cases[i].fn, make_3d, NULL, FALSE);
  check_both ("softmax", op_softmax1, make_3d, NULL, TRUE);
  check_both ("log_softmax", op_log_softmax1, make_3d, NULL, TRUE);
  if (!need_device ())
    return;
  /* a larger sum (partial sums over chunks) and an i32 argmax */
  T2iTensor *in[1] = { randu (T2I_F32, SH (4, 30000), -1, 1) };
  check_op_full ("sum of 120000", op_sum_all, in, 1, NULL, 1e-6, TRUE, FALSE);
  t2i_tensor_unref (in[0]);
  in[0] = ids (SH (3, 7), 50);
  check_op_full ("argmax i32", op_argmax, in, 1, NULL, 0, FALSE, FALSE);
  t2i_tensor_unref (in[0]);
}

/* ---- shape ---- */

static T2iTensor *
op_reshape (T2iTensor ** in, gpointer u)
{
  return t2i_reshape (in[0], SH (4, -1));
}

static T2iTensor *
op_permute (T2iTensor ** in, gpointer u)
{
  return t2i_permute (in[0], (gint[]) { 2, 0, 1 });
}

static T2iTensor *
op_transpose (T2iTensor ** in, gpointer u)
{
  return t2i_transpose (in[0], 0, 2);
}

static T2iTensor *
op_concat (T2iTensor ** in, gpointer u)
{
  T2iTensor *ts[3] = { in[0], in[0], in[0] };
  return t2i_concat (ts, 3, 1);
}

static T2iTensor *
op_split (T2iTensor ** in, gpointer u)
{
  T2iTensor *parts[2];
  t2i_split (in[0], 2, 2, (gint64[]) { 2, 3 }, parts);
  T2iTensor *r = t2i_mul (parts[0], parts[0]);
  T2iTensor *s = t2i_sum (parts[1], -1, TRUE);
  T2iTensor *o = t2i_add (r, s);
  t2i_tensor_unref (r);
  t2i_tensor_unref (s);
  t2i_tensor_unref (parts[0]);
  t2i_tensor_unref (parts[1]);
  return o;
}

static T2iTensor *
op_slice (T2iTensor ** in, gpointer u)
{
  return t2i_slice (in[0], 1, 1, -1);
}

static T2iTensor *
op_pad (T2iTensor ** in, gpointer u)
{
  return t2i_pad2d (in[0], 1, 2, 0, 3, 0.5);
}

static void
test_shape (void)
{
  static const struct
  {
    const char *name;
    OpFn fn;
  } cases[] = {
    {"reshape", op_reshape}, {"permute", op_permute},
    {"transpose", op_transpose}, {"concat", op_concat}, {"split", op_split},
    {"slice", op_slice}, {"pad2d", op_pad},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    check_both (cases[i].name, cases[i].fn, make_3d, NULL, FALSE);
}

static T2iTensor *
op_index_select (T2iTensor ** in, gpointer u)
{
  return t2i_index_select (in[0], 1, in[1]);
}

static T2iTensor *
op_embedding (T2iTensor ** in, gpointer u)
{
  return t2i_embedding (in[0], in[1]);
}

static T2iTensor *
op_gather_rows (T2iTensor ** in, gpointer u)
{
  return t2i_gather_rows (in[0], in[1]);
}

static void
make_index (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (3, 5, 4), -1, 1);
  in[1] = t2i_tensor_from_data (T2I_I32, SH (6),
      (gint32[]) { 4, 0, 4, 2, 4, 1 });
  *n = 2;
}

static void
make_embedding (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (9, 4), -1, 1);
  in[1] = ids (SH (2, 5), 9);
  *n = 2;
}

static void
make_rows (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (3, 5, 4), -1, 1);
  in[1] = t2i_tensor_from_data (T2I_I32, SH (3), (gint32[]) { 4, 0, 2 });
  *n = 2;
}

/* shape ops move any dtype: the same on u8 */
static void
test_shape_u8 (void)
{
  if (!need_device ())
    return;
  T2iTensor *in[2] = { t2i_tensor_new (T2I_U8, SH (3, 5, 4)), NULL };
  for (gint64 i = 0; i < in[0]->numel; i++)
    t2i_tensor_set (in[0], i, (double) ((i * 37) % 251));
  check_op_full ("permute u8", op_permute, in, 1, NULL, 0, FALSE, FALSE);
  check_op_full ("slice u8", op_slice, in, 1, NULL, 0, FALSE, FALSE);
  in[1] = t2i_tensor_from_data (T2I_I32, SH (3), (gint32[]) { 4, 0, 2 });
  check_op_full ("gather_rows u8", op_gather_rows, in, 2, NULL, 0, FALSE,
      FALSE);
  t2i_tensor_unref (in[1]);
  in[1] = t2i_tensor_from_data (T2I_I32, SH (6),
      (gint32[]) { 4, 0, 4, 2, 4, 1 });
  check_op_full ("index_select u8", op_index_select, in, 2, NULL, 0, FALSE,
      FALSE);
  t2i_tensor_unref (in[1]);
  t2i_tensor_unref (in[0]);
}

static void
test_indexing (void)
{
  check_both ("index_select", op_index_select, make_index, NULL, FALSE);
  check_both ("embedding", op_embedding, make_embedding, NULL, FALSE);
  check_both ("gather_rows", op_gather_rows, make_rows, NULL, TRUE);
  check_both ("index_select", op_index_select, make_index, NULL, TRUE);
}

/* ---- linear algebra ---- */

static T2iTensor *
op_matmul (T2iTensor ** in, gpointer u)
{
  return t2i_matmul (in[0], in[1]);
}

static T2iTensor *
op_linear (T2iTensor ** in, gpointer u)
{
  return t2i_linear (in[0], in[1], in[2]);
}

static void
make_mm2 (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (5, 7), -1, 1);
  in[1] = randu (dt, SH (7, 3), -1, 1);
  *n = 2;
}

static void
make_mm_batched (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 3, 4, 5), -1, 1);
  in[1] = randu (dt, SH (2, 3, 5, 6), -1, 1);
  *n = 2;
}

static void
make_mm_folded (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 3, 4, 5), -1, 1);
  in[1] = randu (dt, SH (5, 6), -1, 1);
  *n = 2;
}

static void
make_mm_mixed (T2iDType dt, T2iTensor ** in, gint * n)
{
  /* broadcasting in both: offsets that are no progression */
  in[0] = randu (dt, SH (2, 1, 4, 5), -1, 1);
  in[1] = randu (dt, SH (3, 5, 6), -1, 1);
  *n = 2;
}

static void
make_linear (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 3, 7), -1, 1);
  in[1] = randu (dt, SH (5, 7), -1, 1);
  in[2] = randu (dt, SH (5), -1, 1);
  *n = 3;
}

static void
make_linear_nobias (T2iDType dt, T2iTensor ** in, gint * n)
{
  make_linear (dt, in, n);
  g_clear_pointer (&in[2], t2i_tensor_unref);
}

static T2iTensor *
op_cosine (T2iTensor ** in, gpointer u)
{
  return t2i_cosine_similarity_matrix (in[0], in[1], 1e-8);
}

static void
make_cos (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (4, 6), -1, 1);
  in[1] = randu (dt, SH (3, 6), -1, 1);
  *n = 2;
}

static void
test_linear (void)
{
  check_both ("matmul 2-d", op_matmul, make_mm2, NULL, TRUE);
  check_both ("matmul batched", op_matmul, make_mm_batched, NULL, FALSE);
  check_both ("matmul folded", op_matmul, make_mm_folded, NULL, FALSE);
  check_both ("matmul mixed broadcast", op_matmul, make_mm_mixed, NULL,
      FALSE);
  check_both ("linear", op_linear, make_linear, NULL, TRUE);
  check_both ("linear without bias", op_linear, make_linear_nobias, NULL,
      FALSE);
  check_both ("cosine_similarity_matrix", op_cosine, make_cos, NULL, FALSE);
}

/* ---- convolution ---- */

static T2iTensor *
op_conv (T2iTensor ** in, gpointer u)
{
  return t2i_conv2d (in[0], in[1], in[2], u);
}

static T2iTensor *
op_convt (T2iTensor ** in, gpointer u)
{
  return t2i_conv_transpose2d (in[0], in[1], in[2], u);
}

static T2iTensor *
op_conv_wgrad (T2iTensor ** in, gpointer u)
{
  return t2i_conv2d_weight_grad (in[0], in[1], (gint64[]) { 4, 3, 3, 3 }, u);
}

static void
make_conv (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 6, 7, 6), -1, 1);
  in[1] = randu (dt, SH (4, 3, 3, 3), -1, 1);
  in[2] = randu (dt, SH (4), -1, 1);
  *n = 3;
}

static void
make_convt (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 4, 3, 4), -1, 1);
  in[1] = randu (dt, SH (4, 3, 4, 4), -1, 1);
  in[2] = randu (dt, SH (6), -1, 1);
  *n = 3;
}

static void
make_wgrad (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 6, 7, 6), -1, 1);
  in[1] = randu (dt, SH (2, 4, 4, 2), -1, 1);
  *n = 2;
}

static T2iTensor *
op_modconv (T2iTensor ** in, gpointer u)
{
  return t2i_modulated_conv2d (in[0], in[1], in[2], TRUE, 1,
      GPOINTER_TO_INT (u));
}

static void
make_modconv (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 3, 4, 4), -1, 1);
  in[1] = randu (dt, SH (5, 3, 3, 3), -1, 1);
  in[2] = randu (dt, SH (2, 3), 0.5, 1.5);
  *n = 3;
}

static void
test_conv (void)
{
  T2iConvParams p = T2I_CONV_PARAMS (2, 1);
  p.groups = 2;
  p.dilation[1] = 2;
  check_both ("conv2d", op_conv, make_conv, &p, TRUE);
  T2iConvParams q = T2I_CONV_PARAMS (2, 1);
  q.groups = 2;
  q.output_padding[0] = 1;
  check_both ("conv_transpose2d", op_convt, make_convt, &q, FALSE);
  check_both ("conv2d_weight_grad", op_conv_wgrad, make_wgrad, &p, FALSE);
  check_both ("modulated_conv2d", op_modconv, make_modconv,
      GINT_TO_POINTER (1), FALSE);
  check_both ("modulated_conv2d up", op_modconv, make_modconv,
      GINT_TO_POINTER (2), FALSE);
}

/* ---- resampling and pooling ---- */

static void
make_img (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 3, 6, 5), -1, 1);
  *n = 1;
}

static T2iTensor *
op_up_nearest (T2iTensor ** in, gpointer u)
{
  return t2i_upsample_nearest2d (in[0], 2);
}

static T2iTensor *
op_up_bilinear (T2iTensor ** in, gpointer u)
{
  return t2i_upsample_bilinear2d (in[0], 9, 11, GPOINTER_TO_INT (u));
}

static T2iTensor *
op_avg (T2iTensor ** in, gpointer u)
{
  return t2i_avg_pool2d (in[0], 3, 2, 1, GPOINTER_TO_INT (u));
}

static T2iTensor *
op_maxpool (T2iTensor ** in, gpointer u)
{
  return t2i_max_pool2d (in[0], 3, 2, 1);
}

static T2iTensor *
op_adaptive (T2iTensor ** in, gpointer u)
{
  return t2i_adaptive_avg_pool2d (in[0], 4, 3);
}

static void
test_pool (void)
{
  check_both ("upsample_nearest2d", op_up_nearest, make_img, NULL, TRUE);
  check_both ("upsample_bilinear2d", op_up_bilinear, make_img,
      GINT_TO_POINTER (0), FALSE);
  check_both ("upsample_bilinear2d aligned", op_up_bilinear, make_img,
      GINT_TO_POINTER (1), FALSE);
  check_both ("avg_pool2d", op_avg, make_img, GINT_TO_POINTER (1), TRUE);
  check_both ("avg_pool2d excluding pad", op_avg, make_img,
      GINT_TO_POINTER (0), FALSE);
  check_both ("max_pool2d", op_maxpool, make_img, NULL, TRUE);
  check_both ("adaptive_avg_pool2d", op_adaptive, make_img, NULL, FALSE);
}

/* ---- normalisation ---- */

static T2iTensor *
op_layer_norm (T2iTensor ** in, gpointer u)
{
  return t2i_layer_norm (in[0], 1, in[1], in[2], 1e-5);
}

static T2iTensor *
op_group_norm (T2iTensor ** in, gpointer u)
{
  return t2i_group_norm (in[0], 2, in[1], in[2], 1e-5);
}

static T2iTensor *
op_batch_norm_eval (T2iTensor ** in, gpointer u)
{
  return t2i_batch_norm (in[0], in[1], in[2], in[3], in[4], FALSE, 0.1,
      1e-5);
}

static T2iTensor *
op_batch_norm_batch (T2iTensor ** in, gpointer u)
{
  return t2i_batch_norm (in[0], in[1], in[2], NULL, NULL, TRUE, 0.1, 1e-5);
}

static void
make_ln (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 3, 8), -2, 2);
  in[1] = randu (dt, SH (8), 0.5, 1.5);
  in[2] = randu (dt, SH (8), -1, 1);
  *n = 3;
}

static void
make_gn (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 4, 3, 3), -2, 2);
  in[1] = randu (dt, SH (4), 0.5, 1.5);
  in[2] = randu (dt, SH (4), -1, 1);
  *n = 3;
}

static void
make_bn (T2iDType dt, T2iTensor ** in, gint * n)
{
  make_gn (dt, in, n);
  in[3] = randu (dt, SH (4), -0.5, 0.5);
  in[4] = randu (dt, SH (4), 0.5, 2);
  *n = 5;
}

static T2iTensor *
op_adaln (T2iTensor ** in, gpointer u)
{
  return t2i_adaln_modulate (in[0], in[1], in[2]);
}

static void
make_adaln (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 3, 5), -1, 1);
  in[1] = randu (dt, SH (2, 1, 5), -1, 1);
  in[2] = randu (dt, SH (2, 1, 5), -1, 1);
  *n = 3;
}

static T2iTensor *
op_l2 (T2iTensor ** in, gpointer u)
{
  return t2i_l2_normalize (in[0], 1, 0.3);
}

static void
make_l2 (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (3, 4, 2), -1, 1);
  /* one clamped line */
  for (gint k = 0; k < 4; k++)
    t2i_tensor_set (in[0], k * 2, 0.01);
  *n = 1;
}

static void
test_norm (void)
{
  check_both ("layer_norm", op_layer_norm, make_ln, NULL, TRUE);
  check_both ("group_norm", op_group_norm, make_gn, NULL, TRUE);
  check_both ("batch_norm, batch statistics", op_batch_norm_batch, make_gn,
      NULL, TRUE);
  check_both ("batch_norm, running statistics", op_batch_norm_eval, make_bn,
      NULL, FALSE);
  check_both ("adaln_modulate", op_adaln, make_adaln, NULL, FALSE);
  check_both ("l2_normalize", op_l2, make_l2, NULL, TRUE);
}

/* running statistics are updated in place, identically */
static void
test_batch_norm_running (void)
{
  if (!need_device ())
    return;
  T2iTensor *x = randu (T2I_F32, SH (3, 4, 2, 2), -2, 2);
  T2iTensor *rm = randu (T2I_F32, SH (4), -1, 1);
  T2iTensor *rv = randu (T2I_F64, SH (4), 0.5, 2);
  T2iTensor *xd = dev (x), *rmd = dev (rm), *rvd = dev (rv);
  T2iTensor *y = t2i_batch_norm (x, NULL, NULL, rm, rv, TRUE, 0.1, 1e-5);
  T2iTensor *yd = t2i_batch_norm (xd, NULL, NULL, rmd, rvd, TRUE, 0.1, 1e-5);
  assert_close ("batch_norm training", yd, y, TOL32);
  assert_close ("running_mean", rmd, rm, TOL32);
  assert_close ("running_var", rvd, rv, TOL32);
  T2iTensor *ts[] = { x, rm, rv, xd, rmd, rvd, y, yd };
  for (guint i = 0; i < G_N_ELEMENTS (ts); i++)
    t2i_tensor_unref (ts[i]);
}

/* ---- attention, misc ---- */

static T2iTensor *
op_sdpa (T2iTensor ** in, gpointer u)
{
  return t2i_scaled_dot_product_attention (in[0], in[1], in[2],
      GPOINTER_TO_INT (u), 0);
}

static void
make_sdpa (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 2, 3, 4), -1, 1);
  in[1] = randu (dt, SH (2, 2, 5, 4), -1, 1);
  in[2] = randu (dt, SH (2, 2, 5, 4), -1, 1);
  *n = 3;
}

static T2iTensor *
op_lstm (T2iTensor ** in, gpointer u)
{
  T2iTensor *c = NULL;
  T2iTensor *h = t2i_lstm_cell (in[0], in[1], in[2], in[3], in[4], in[5],
      NULL, &c);
  T2iTensor *o = t2i_add (h, c);
  t2i_tensor_unref (h);
  t2i_tensor_unref (c);
  return o;
}

static void
make_lstm (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (2, 3), -1, 1);
  in[1] = randu (dt, SH (2, 4), -1, 1);
  in[2] = randu (dt, SH (2, 4), -1, 1);
  in[3] = randu (dt, SH (16, 3), -1, 1);
  in[4] = randu (dt, SH (16, 4), -1, 1);
  in[5] = randu (dt, SH (16), -1, 1);
  *n = 6;
}

static void
test_attention_misc (void)
{
  check_both ("scaled_dot_product_attention", op_sdpa, make_sdpa,
      GINT_TO_POINTER (0), TRUE);
  check_both ("scaled_dot_product_attention causal", op_sdpa, make_sdpa,
      GINT_TO_POINTER (1), TRUE);
  check_both ("lstm_cell", op_lstm, make_lstm, NULL, FALSE);
}

static void
test_running_mean (void)
{
  if (!need_device ())
    return;
  for (gint d = 0; d < 2; d++) {
    T2iDType dt = d ? T2I_F64 : T2I_F32;
    T2iTensor *x = randu (dt, SH (6, 5), -1, 1), *avg = randu (dt, SH (5), 0, 1);
    T2iTensor *xd = dev (x), *ad = dev (avg);
    t2i_update_running_mean (avg, x, 0.9);
    t2i_update_running_mean (ad, xd, 0.9);
    assert_close ("update_running_mean", ad, avg, 0);
    T2iTensor *ts[] = { x, avg, xd, ad };
    for (guint i = 0; i < G_N_ELEMENTS (ts); i++)
      t2i_tensor_unref (ts[i]);
  }
}

static void
test_dropout (void)
{
  if (!need_device ())
    return;
  for (gint d = 0; d < 2; d++) {
    T2iDType dt = d ? T2I_F64 : T2I_F32;
    T2iTensor *x = randu (dt, SH (7, 9), -1, 1), *xd = dev (x);
    T2iRng a, b;
    t2i_rng_init (&a, 42);
    t2i_rng_init (&b, 42);
    T2iTensor *y = t2i_dropout (x, 0.3, TRUE, &a);
    T2iTensor *yd = t2i_dropout (xd, 0.3, TRUE, &b);
    /* the same Philox words keep the same elements */
    assert_close ("dropout", yd, y, 0);
    g_assert_cmpuint (a.offset, ==, b.offset);
    T2iTensor *ts[] = { x, xd, y, yd };
    for (guint i = 0; i < G_N_ELEMENTS (ts); i++)
      t2i_tensor_unref (ts[i]);
  }
}

/* ---- losses ---- */

static T2iTensor *
op_ce (T2iTensor ** in, gpointer u)
{
  return t2i_cross_entropy (in[0], in[1]);
}

static void
make_ce (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (5, 7), -3, 3);
  in[1] = ids (SH (5), 7);
  *n = 2;
}

static T2iTensor *
op_bce (T2iTensor ** in, gpointer u)
{
  return t2i_bce_with_logits (in[0], in[1]);
}

static T2iTensor *
op_l1 (T2iTensor ** in, gpointer u)
{
  return t2i_l1_loss (in[0], in[1]);
}

static T2iTensor *
op_mse (T2iTensor ** in, gpointer u)
{
  return t2i_mse_loss (in[0], in[1]);
}

static void
make_pair (T2iDType dt, T2iTensor ** in, gint * n)
{
  in[0] = randu (dt, SH (4, 6), -3, 3);
  in[1] = randu (dt, SH (4, 6), 0, 1);
  *n = 2;
}

static void
test_losses (void)
{
  check_both ("cross_entropy", op_ce, make_ce, NULL, FALSE);
  check_both ("cross_entropy create_graph", op_ce, make_ce, NULL, TRUE);
  check_both ("bce_with_logits", op_bce, make_pair, NULL, FALSE);
  check_both ("bce_with_logits create_graph", op_bce, make_pair, NULL, TRUE);
  check_both ("l1_loss", op_l1, make_pair, NULL, FALSE);
  check_both ("mse_loss", op_mse, make_pair, NULL, TRUE);
}

/* ---- random fills: the same words for a seed ---- */

static void
test_rng (void)
{
  if (!need_device ())
    return;
  /* the emulator shares the host's libm: bit-exact; a GPU's log, sqrt,
   * sin and cos differ in the last bits */
  const double tol = on_gpu ? 1e-6 : 0;
  const gint64 sizes[] = { 1, 5, 8, 1001 };
  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    for (gint d = 0; d < 2; d++) {
      T2iDType dt = d ? T2I_F64 : T2I_F32;
      gint64 n = sizes[s];
      for (gint kind = 0; kind < 4; kind++) {
        T2iRng a, b;
        t2i_rng_init (&a, 7 + kind);
        t2i_rng_skip (&a, 3);
        b = a;
        T2iTensor *h = t2i_tensor_new (dt, 1, &n);
        T2iTensor *g = t2i_tensor_new_on (T2I_DEVICE_CUDA, dt, 1, &n);
        switch (kind) {
          case 0:
            t2i_rng_fill_uniform (&a, h, -2, 3);
            t2i_rng_fill_uniform (&b, g, -2, 3);
            break;
          case 1:
            t2i_rng_fill_normal (&a, h, 0.5, 2);
            t2i_rng_fill_normal (&b, g, 0.5, 2);
            break;
          case 2:
            t2i_rng_fill_gumbel (&a, h);
            t2i_rng_fill_gumbel (&b, g);
            break;
          default:
            t2i_rng_fill_bernoulli (&a, h, 0.3);
            t2i_rng_fill_bernoulli (&b, g, 0.3);
            break;
        }
        g_autofree char *w = g_strdup_printf ("rng kind %d %s n %"
            G_GINT64_FORMAT, kind, t2i_dtype_name (dt), n);
        assert_close (w, g, h, kind == 3 ? 0 : tol);
        g_assert_cmpuint (a.offset, ==, b.offset);
        t2i_tensor_unref (h);
        t2i_tensor_unref (g);
      }
    }
  /* u8 Bernoulli and randn_on */
  T2iRng a, b;
  t2i_rng_init (&a, 3);
  b = a;
  T2iTensor *h = t2i_tensor_new (T2I_U8, SH (13));
  T2iTensor *g = t2i_tensor_new_on (T2I_DEVICE_CUDA, T2I_U8, SH (13));
  t2i_rng_fill_bernoulli (&a, h, 0.5);
  t2i_rng_fill_bernoulli (&b, g, 0.5);
  assert_close ("bernoulli u8", g, h, 0);
  t2i_tensor_unref (h);
  t2i_tensor_unref (g);
  h = t2i_rng_randn (&a, T2I_F32, SH (3, 3));
  g = t2i_rng_randn_on (&b, T2I_DEVICE_CUDA, T2I_F32, SH (3, 3));
  assert_close ("randn_on", g, h, tol);
  t2i_tensor_unref (h);
  t2i_tensor_unref (g);
}

/* ---- optimizers, moving averages, clipping ---- */

static void
run_optim (T2iOptimizerKind kind, double momentum, gboolean nesterov)
{
  T2iParamGroup *groups[2];
  T2iOptimizer *opts[2];
  T2iTensor *w0 = randu (T2I_F32, SH (3, 4), -1, 1);
  for (gint side = 0; side < 2; side++) {
    groups[side] = t2i_param_group_new ("g");
    T2iTensor *w = side ? dev (w0) : t2i_tensor_copy (w0);
    t2i_param_group_add (groups[side], "w", w, TRUE);
    t2i_tensor_unref (w);
    T2iOptimizerConfig c;
    t2i_optimizer_config_init (&c, kind);
    c.lr = 0.05;
    c.momentum = momentum;
    c.nesterov = nesterov;
    c.weight_decay = 0.01;
    opts[side] = t2i_optimizer_new (groups[side], &c);
  }
  T2iEma *emas[2] = { t2i_ema_new (groups[0], "ema", 0.9),
    t2i_ema_new (groups[1], "ema", 0.9)
  };
  for (gint step = 0; step < 3; step++) {
    T2iTensor *target = randu (T2I_F32, SH (3, 4), -1, 1);
    for (gint side = 0; side < 2; side++) {
      T2iTensor *w = t2i_param_group_get (groups[side], 0)->value;
      T2iTensor *t = side ? dev (target) : t2i_tensor_ref (target);
      T2iTensor *l = t2i_mse_loss (w, t);
      t2i_optimizer_zero_grad (opts[side]);
      t2i_backward (l, NULL);
      T2iTensor *params[1] = { w };
      double norm = t2i_clip_grad_norm (params, 1, 0.05);
      g_assert_cmpfloat (norm, >, 0);
      t2i_optimizer_step (opts[side]);
      t2i_ema_update (emas[side]);
      t2i_tensor_unref (l);
      t2i_tensor_unref (t);
    }
    t2i_tensor_unref (target);
  }
  assert_close ("optimizer step", t2i_param_group_get (groups[1], 0)->value,
      t2i_param_group_get (groups[0], 0)->value, 1e-6);
  assert_close ("ema", t2i_param_group_get (t2i_ema_get_group (emas[1]),
          0)->value, t2i_param_group_get (t2i_ema_get_group (emas[0]),
          0)->value, 1e-6);
  for (gint side = 0; side < 2; side++) {
    t2i_ema_swap (emas[side]);
    t2i_ema_copy_to (emas[side]);
  }
  assert_close ("ema swap", t2i_param_group_get (groups[1], 0)->value,
      t2i_param_group_get (groups[0], 0)->value, 1e-6);
  for (gint side = 0; side < 2; side++) {
    t2i_ema_free (emas[side]);
    t2i_optimizer_free (opts[side]);
    t2i_param_group_unref (groups[side]);
  }
  t2i_tensor_unref (w0);
}

/* an f64 moving average with a u8 buffer beside it, and the norm of
 * f64 gradients */
static void
test_ema_f64 (void)
{
  if (!need_device ())
    return;
  T2iTensor *w0 = randu (T2I_F64, SH (5), -1, 1);
  T2iTensor *u0 = t2i_tensor_full (T2I_U8, SH (3), 9);
  T2iParamGroup *groups[2];
  T2iEma *emas[2];
  for (gint side = 0; side < 2; side++) {
    groups[side] = t2i_param_group_new ("g");
    T2iTensor *w = side ? dev (w0) : t2i_tensor_copy (w0);
    T2iTensor *u = side ? dev (u0) : t2i_tensor_copy (u0);
    t2i_param_group_add (groups[side], "w", w, TRUE);
    t2i_param_group_add (groups[side], "u", u, FALSE);
    emas[side] = t2i_ema_new (groups[side], "ema", 0.8);
    t2i_init_constant (w, 0.25);
    t2i_tensor_set (u, 1, 200);
    t2i_ema_update (emas[side]);
    t2i_ema_swap (emas[side]);
    g_autoptr (T2iTensor) l = t2i_sum (w, T2I_ALL_AXES, FALSE);
    t2i_backward (l, NULL);
    T2iTensor *params[1] = { w };
    double norm = t2i_grad_norm (params, 1);
    g_assert_cmpfloat (fabs (norm - sqrt (5.0)), <, 1e-12);
    t2i_tensor_unref (w);
    t2i_tensor_unref (u);
  }
  for (guint i = 0; i < 2; i++)
    assert_close ("ema f64 swap", t2i_param_group_get (groups[1], i)->value,
        t2i_param_group_get (groups[0], i)->value, 0);
  for (gint side = 0; side < 2; side++) {
    t2i_ema_free (emas[side]);
    t2i_param_group_unref (groups[side]);
  }
  t2i_tensor_unref (w0);
  t2i_tensor_unref (u0);
}

static void
test_optim (void)
{
  if (!need_device ())
    return;
  run_optim (T2I_OPTIMIZER_SGD, 0, FALSE);
  run_optim (T2I_OPTIMIZER_SGD, 0.9, TRUE);
  run_optim (T2I_OPTIMIZER_ADAM, 0, FALSE);
  run_optim (T2I_OPTIMIZER_ADAMW, 0, FALSE);
}

/* ---- tensors ---- */

static void
test_tensors (void)
{
  if (!need_device ())
    return;
  const T2iDType dts[] = { T2I_F32, T2I_F64, T2I_I32, T2I_U8 };
  for (guint i = 0; i < G_N_ELEMENTS (dts); i++) {
    T2iTensor *h = t2i_tensor_full (dts[i], SH (2, 3), 7);
    T2iTensor *d = t2i_tensor_full_on (T2I_DEVICE_CUDA, dts[i], SH (2, 3), 7);
    assert_close ("full", d, h, 0);
    t2i_tensor_set (d, 4, 3);
    t2i_tensor_set (h, 4, 3);
    g_assert_cmpfloat (t2i_tensor_get (d, 4), ==, 3);
    for (guint j = 0; j < G_N_ELEMENTS (dts); j++) {
      T2iTensor *hc = t2i_tensor_to_dtype (h, dts[j]);
      T2iTensor *dc = t2i_tensor_to_dtype (d, dts[j]);
      assert_close ("to_dtype", dc, hc, 0);
      t2i_tensor_unref (hc);
      t2i_tensor_unref (dc);
    }
    T2iTensor *c = t2i_tensor_copy (d);
    assert_close ("copy", c, h, 0);
    g_autoptr (T2iTensor) z = t2i_tensor_zeros_like (d);
    g_autoptr (T2iTensor) zh = host (z);
    for (gint64 k = 0; k < zh->numel; k++)
      g_assert_cmpfloat (t2i_tensor_get (zh, k), ==, 0);
    t2i_tensor_unref (c);
    t2i_tensor_unref (h);
    t2i_tensor_unref (d);
  }
}

/* mixing devices is an error that names both */
static void
test_mixed_devices (void)
{
  if (!need_device ())
    return;
  if (g_test_subprocess ()) {
    T2iTensor *a = randu (T2I_F32, SH (3), 0, 1), *b = dev (a);
    t2i_add (a, b);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*t2i_add: a is on cpu and b on cuda*");
}

/* the strict emulator catches host code that reads device memory */
static void
test_strict_emulator (void)
{
  if (on_gpu) {
    g_test_skip ("a check of the emulator");
    return;
  }
  if (g_test_subprocess ()) {
    T2iTensor *d = t2i_tensor_full_on (T2I_DEVICE_CUDA, T2I_F32, SH (4), 1);
    volatile float v = ((float *) d->data)[0];
    (void) v;
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*host code read or wrote CUDA memory*");
}

/* ---- completeness ---- */

static void
test_table_complete (void)
{
  g_autofree const char **missing = t2i_backend_missing (T2I_DEVICE_CUDA);
  if (missing[0]) {
    g_autofree char *list = g_strjoinv (", ", (char **) missing);
    g_error ("ops the CPU has and the CUDA table lacks: %s", list);
  }
}

static void
test_every_kernel_ran (void)
{
  if (on_gpu) {
    g_test_skip ("launch counts are the emulator's");
    return;
  }
  if (!need_device ())
    return;
  int n;
  const T2iCudaKernelCount *c = t2i_cuda_emu_counts (&n);
  GString *never = g_string_new (NULL);
  for (int i = 0; i < n; i++)
    if (c[i].launches == 0)
      g_string_append_printf (never, "%s%s", never->len ? ", " : "",
          c[i].name);
  if (never->len)
    g_error ("kernels no case ran (add a case to test-backend.c): %s",
        never->str);
  g_string_free (never, TRUE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  on_gpu = g_strcmp0 (g_getenv ("T2I_TEST_GPU"), "1") == 0;
  if (!on_gpu) {
    /* strict: host code touching device memory crashes, as on a GPU */
    g_setenv ("T2I_CUDA_EMULATE", "strict", TRUE);
    g_assert_true (t2i_cuda_set_emulation (TRUE));
  }
  g_test_add_func ("/backend/table-complete", test_table_complete);
  g_test_add_func ("/backend/tensors", test_tensors);
  g_test_add_func ("/backend/mixed-devices", test_mixed_devices);
  g_test_add_func ("/backend/strict-emulator", test_strict_emulator);
  g_test_add_func ("/backend/elementwise", test_elementwise);
  g_test_add_func ("/backend/reductions", test_reductions);
  g_test_add_func ("/backend/shape", test_shape);
  g_test_add_func ("/backend/indexing", test_indexing);
  g_test_add_func ("/backend/shape-u8", test_shape_u8);
  g_test_add_func ("/backend/linear", test_linear);
  g_test_add_func ("/backend/conv", test_conv);
  g_test_add_func ("/backend/pool", test_pool);
  g_test_add_func ("/backend/norm", test_norm);
  g_test_add_func ("/backend/batch-norm-running", test_batch_norm_running);
  g_test_add_func ("/backend/attention-misc", test_attention_misc);
  g_test_add_func ("/backend/dropout", test_dropout);
  g_test_add_func ("/backend/running-mean", test_running_mean);
  g_test_add_func ("/backend/losses", test_losses);
  g_test_add_func ("/backend/rng", test_rng);
  g_test_add_func ("/backend/optim", test_optim);
  g_test_add_func ("/backend/ema-f64", test_ema_f64);
  /* last: every kernel body ran in one of the cases above */
  g_test_add_func ("/backend/every-kernel-ran", test_every_kernel_ran);
  return g_test_run ();
}
