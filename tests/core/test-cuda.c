/* The CUDA backend mirrors the CPU ops it implements: each case runs the
 * op on CPU and on the device and compares.  Without a device every case
 * skips with the reason.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/t2i.h>
#include <math.h>

static T2iTensor *
randn (gint ndim, const gint64 * shape, guint64 seed)
{
  T2iRng rng;
  t2i_rng_init (&rng, seed);
  return t2i_rng_randn (&rng, T2I_F32, ndim, shape);
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

static T2iTensor *
up (T2iTensor * t)
{
  GError *err = NULL;
  T2iTensor *d = t2i_tensor_to_device (t, T2I_DEVICE_CUDA, &err);
  g_assert_no_error (err);
  g_assert_cmpint (d->device, ==, T2I_DEVICE_CUDA);
  return d;
}

static void
assert_close_on_host (T2iTensor * dev, T2iTensor * ref, double tol)
{
  GError *err = NULL;
  T2iTensor *h = t2i_tensor_to_device (dev, T2I_DEVICE_CPU, &err);
  g_assert_no_error (err);
  g_assert_true (t2i_tensor_same_shape (h, ref));
  for (gint64 i = 0; i < ref->numel; i++)
    g_assert_cmpfloat (fabs (t2i_tensor_get (h, i) - t2i_tensor_get (ref, i)),
        <=, tol * (1 + fabs (t2i_tensor_get (ref, i))));
  t2i_tensor_unref (h);
}

static void
test_round_trip (void)
{
  if (!need_device ())
    return;
  T2iTensor *a = randn (T2I_SHAPE (3, 5), 1);
  T2iTensor *d = up (a);
  assert_close_on_host (d, a, 0);
  t2i_tensor_unref (d);
  t2i_tensor_unref (a);
}

typedef T2iTensor *(*Binary) (T2iTensor *, T2iTensor *);

static void
check_binary (Binary op, gint ndim, const gint64 * sa, const gint64 * sb,
    double tol)
{
  T2iTensor *a = randn (ndim, sa, 2), *b = randn (ndim, sb, 3);
  T2iTensor *ref = op (a, b);
  T2iTensor *da = up (a), *db = up (b);
  T2iTensor *dr = op (da, db);
  g_assert_nonnull (dr);
  assert_close_on_host (dr, ref, tol);
  T2iTensor *ts[] = { a, b, ref, da, db, dr };
  for (guint i = 0; i < G_N_ELEMENTS (ts); i++)
    t2i_tensor_unref (ts[i]);
}

static void
test_add (void)
{
  if (need_device ())
    check_binary (t2i_add, T2I_SHAPE (4, 1000), (gint64[]) { 4, 1000 }, 0);
}

static void
test_mul (void)
{
  if (need_device ())
    check_binary (t2i_mul, T2I_SHAPE (4, 1000), (gint64[]) { 4, 1000 }, 0);
}

static void
test_matmul (void)
{
  if (need_device ())
    check_binary (t2i_matmul, T2I_SHAPE (33, 17), (gint64[]) { 17, 9 }, 1e-5);
}

static void
test_relu (void)
{
  if (!need_device ())
    return;
  T2iTensor *a = randn (T2I_SHAPE (2, 300), 4);
  T2iTensor *ref = t2i_relu (a), *da = up (a), *dr = t2i_relu (da);
  assert_close_on_host (dr, ref, 0);
  T2iTensor *ts[] = { a, ref, da, dr };
  for (guint i = 0; i < G_N_ELEMENTS (ts); i++)
    t2i_tensor_unref (ts[i]);
}

static void
test_unavailable_is_an_error (void)
{
  if (t2i_cuda_is_available ()) {
    g_test_skip ("a device is present");
    return;
  }
  GError *err = NULL;
  T2iTensor *a = randn (T2I_SHAPE (2), 5);
  g_assert_null (t2i_tensor_to_device (a, T2I_DEVICE_CUDA, &err));
  g_assert_nonnull (err);
  g_assert_true (g_str_has_prefix (err->message, "CUDA: "));
  g_error_free (err);
  t2i_tensor_unref (a);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cuda/round-trip", test_round_trip);
  g_test_add_func ("/cuda/add", test_add);
  g_test_add_func ("/cuda/mul", test_mul);
  g_test_add_func ("/cuda/matmul", test_matmul);
  g_test_add_func ("/cuda/relu", test_relu);
  g_test_add_func ("/cuda/unavailable", test_unavailable_is_an_error);
  return g_test_run ();
}
