/* The autograd engine and allocator, tested with two local ops so the test
 * does not depend on any op family.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/tensor.h>
#include <t2i/ops.h>

/* y = x * y elementwise (same shapes), backward without graph */
static T2iTensor *local_mul (T2iTensor * a, T2iTensor * b);

static void
local_mul_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  for (gint k = 0; k < 2; k++)
    if (node->needs_grad[k])
      gin[k] = local_mul (g, node->inputs[1 - k]);
}

static T2iTensor *
local_mul (T2iTensor * a, T2iTensor * b)
{
  T2iTensor *out = t2i_tensor_new_like (a);
  for (gint64 i = 0; i < a->numel; i++)
    t2i_tensor_set (out, i, t2i_tensor_get (a, i) * t2i_tensor_get (b, i));
  T2iTensor *in[2] = { a, b };
  if (t2i_any_requires_grad (2, in))
    t2i_node_attach (t2i_node_new ("local_mul", local_mul_backward, 2, in), out);
  return out;
}

/* s = sum(x) */
static T2iTensor *local_sum (T2iTensor * a);

static void
local_sum_backward (T2iNode * node, T2iTensor * g, T2iTensor ** gin)
{
  T2iTensor *x = node->inputs[0];
  gin[0] = t2i_tensor_full (x->dtype, x->ndim, x->shape, t2i_tensor_item (g));
}

static T2iTensor *
local_sum (T2iTensor * a)
{
  double s = 0;
  for (gint64 i = 0; i < a->numel; i++)
    s += t2i_tensor_get (a, i);
  T2iTensor *out = t2i_tensor_scalar (a->dtype, s);
  if (t2i_any_requires_grad (1, &a))
    t2i_node_attach (t2i_node_new ("local_sum", local_sum_backward, 1, &a), out);
  return out;
}

static T2iTensor *
leaf (double v0, double v1, double v2)
{
  double v[3] = { v0, v1, v2 };
  T2iTensor *t = t2i_tensor_from_data (T2I_F64, T2I_SHAPE (3), v);
  t2i_tensor_set_requires_grad (t, TRUE);
  return t;
}

static void
assert_grad (T2iTensor * t, double g0, double g1, double g2)
{
  g_assert_nonnull (t->grad);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (t->grad, 0), g0, 1e-12);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (t->grad, 1), g1, 1e-12);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_get (t->grad, 2), g2, 1e-12);
}

static void
test_fanout (void)
{
  /* L = sum(x * x * w): dL/dx = 2 x w, dL/dw = x^2 */
  T2iTensor *x = leaf (1, 2, 3), *w = leaf (4, 5, 6);
  T2iTensor *xx = local_mul (x, x), *xxw = local_mul (xx, w), *l = local_sum (xxw);
  g_assert_cmpfloat (t2i_tensor_item (l), ==, 4 + 20 + 54);
  t2i_backward (l, NULL);
  assert_grad (x, 8, 20, 36);
  assert_grad (w, 1, 4, 9);
  /* accumulation across a second backward */
  t2i_backward (l, NULL);
  assert_grad (x, 16, 40, 72);
  t2i_tensor_zero_grad (x);
  g_assert_null (x->grad);
  T2iTensor *tensors[] = { xx, xxw, l, x, w };
  for (guint i = 0; i < G_N_ELEMENTS (tensors); i++)
    t2i_tensor_unref (tensors[i]);
}

static void
test_pruning (void)
{
  T2iTensor *x = leaf (1, 2, 3), *w = leaf (4, 5, 6);
  T2iTensor *xw = local_mul (x, w), *l = local_sum (xw);
  T2iTensor *params[] = { w, NULL };
  t2i_backward (l, params);
  g_assert_null (x->grad);
  assert_grad (w, 1, 2, 3);
  t2i_tensor_unref (l);
  t2i_tensor_unref (xw);
  t2i_tensor_unref (x);
  t2i_tensor_unref (w);
}

static void
test_no_grad_and_detach (void)
{
  T2iTensor *x = leaf (1, 2, 3);
  gboolean prev = t2i_set_grad_enabled (FALSE);
  T2iTensor *y = local_mul (x, x);
  g_assert_true (prev);
  g_assert_null (y->node);
  g_assert_false (y->requires_grad);
  t2i_set_grad_enabled (TRUE);
  T2iTensor *z = local_mul (x, x);
  g_assert_nonnull (z->node);
  T2iTensor *d = t2i_detach (z);
  g_assert_null (d->node);
  g_assert_false (d->requires_grad);
  g_assert_true (d->data == z->data);
  T2iTensor *tensors[] = { y, z, d, x };
  for (guint i = 0; i < G_N_ELEMENTS (tensors); i++)
    t2i_tensor_unref (tensors[i]);
}

static void
test_grad_function (void)
{
  /* t2i_grad leaves ->grad alone; grad of an unreached input is zero */
  T2iTensor *x = leaf (1, 2, 3), *w = leaf (4, 5, 6), *u = leaf (7, 8, 9);
  T2iTensor *xw = local_mul (x, w), *l = local_sum (xw);
  T2iTensor *in[] = { x, u };
  T2iTensor **g = t2i_grad (l, NULL, in, 2, FALSE);
  g_assert_null (x->grad);
  g_assert_cmpfloat (t2i_tensor_get (g[0], 2), ==, 6);
  g_assert_cmpfloat (t2i_tensor_get (g[1], 0), ==, 0);
  g_assert_null (g[2]);
  t2i_tensor_unref (g[0]);
  t2i_tensor_unref (g[1]);
  g_free (g);
  T2iTensor *tensors[] = { xw, l, x, w, u };
  for (guint i = 0; i < G_N_ELEMENTS (tensors); i++)
    t2i_tensor_unref (tensors[i]);
}

static void
test_allocator_reuse (void)
{
  T2iAllocStats a, b;
  /* warm up one size, then a steady state must not ask the system */
  for (gint i = 0; i < 2; i++)
    t2i_tensor_unref (t2i_tensor_new (T2I_F32, T2I_SHAPE (64, 1024)));
  t2i_alloc_get_stats (&a);
  for (gint i = 0; i < 100; i++)
    t2i_tensor_unref (t2i_tensor_new (T2I_F32, T2I_SHAPE (64, 1024)));
  t2i_alloc_get_stats (&b);
  if (g_getenv ("T2I_NO_ALLOC_CACHE") == NULL && b.bytes_cached + a.bytes_cached > 0)
    g_assert_cmpuint (b.system_allocs, ==, a.system_allocs);
}

static void
test_allocator_peak (void)
{
  T2iAllocStats a, b;
  T2iTensor *big = t2i_tensor_new (T2I_F32, T2I_SHAPE (256, 1024));
  t2i_tensor_unref (big);
  t2i_alloc_reset_peak ();
  t2i_alloc_get_stats (&a);
  g_assert_cmpuint (a.peak_bytes, ==, a.bytes_in_use);
  T2iTensor *small = t2i_tensor_new (T2I_F32, T2I_SHAPE (16, 1024));
  t2i_alloc_get_stats (&b);
  /* the peak since the reset, not the earlier, larger one */
  g_assert_cmpuint (b.peak_bytes, ==, b.bytes_in_use);
  g_assert_cmpuint (b.peak_bytes, >=, a.peak_bytes + 16 * 1024 * 4);
  g_assert_cmpuint (b.peak_bytes, <, a.peak_bytes + 256 * 1024 * 4);
  t2i_tensor_unref (small);
}

static void
test_alias_shares_storage (void)
{
  T2iTensor *t = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2, 6));
  T2iTensor *a = t2i_tensor_alias (t, T2I_SHAPE (3, 4));
  t2i_tensor_unref (t);
  t2i_tensor_f32 (a)[11] = 5;   /* storage outlives the first tensor */
  g_assert_cmpfloat (t2i_tensor_get (a, 11), ==, 5);
  g_assert_cmpint (a->shape[0], ==, 3);
  t2i_tensor_unref (a);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/autograd/fanout-and-accumulation", test_fanout);
  g_test_add_func ("/autograd/pruning", test_pruning);
  g_test_add_func ("/autograd/no-grad-and-detach", test_no_grad_and_detach);
  g_test_add_func ("/autograd/grad-function", test_grad_function);
  g_test_add_func ("/alloc/reuse", test_allocator_reuse);
  g_test_add_func ("/alloc/peak", test_allocator_peak);
  g_test_add_func ("/tensor/alias", test_alias_shares_storage);
  return g_test_run ();
}
