/* Gradients written by t2itensorsink grads-of= match PyTorch: the goldens
 * of tests/gen-elements-golden.py for loss = mean(tanh(x @ w + b)^2),
 * computed by the test-only element t2itestexpr from the entries x, w, b.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <math.h>

static void
test_expr_grads (void)
{
  const char *src = g_getenv ("T2I_SOURCE_DIR");
  g_assert_nonnull (src);
  g_autofree char *in = g_build_filename (src, "tests", "golden",
      "elements-expr-in.safetensors", NULL);
  g_autofree char *gold_path = g_build_filename (src, "tests", "golden",
      "elements-expr-grad.safetensors", NULL);
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "grads.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=x,w,b ! t2itestexpr output=expr update=none ! "
      "t2itensorsink location=%s grads-of=loss/expr", in, out);
  g_autofree char *err = NULL;
  gboolean ok = test_run_pipeline (desc, &err, NULL, NULL);
  g_assert_cmpstr (err, ==, NULL);
  g_assert_true (ok);

  g_autoptr (T2iSafetensors) got = t2i_safetensors_load (out, NULL);
  g_autoptr (T2iSafetensors) gold = t2i_safetensors_load (gold_path, NULL);
  g_assert_nonnull (got);
  g_assert_nonnull (gold);
  const char *pairs[][2] = {
    {"loss/expr", "loss"}, {"grad/x", "grad/x"}, {"grad/w", "grad/w"},
    {"grad/b", "grad/b"},
  };
  for (guint k = 0; k < G_N_ELEMENTS (pairs); k++) {
    g_autoptr (T2iTensor) a = t2i_safetensors_get (got, pairs[k][0]);
    g_autoptr (T2iTensor) b = t2i_safetensors_get (gold, pairs[k][1]);
    g_assert_nonnull (a);
    g_assert_nonnull (b);
    g_assert_cmpint (a->numel, ==, b->numel);
    g_assert_cmpint (a->ndim, ==, b->ndim);
    double worst = 0;
    for (gint64 i = 0; i < a->numel; i++) {
      double ga = t2i_tensor_get (a, i), gb = t2i_tensor_get (b, i);
      worst = MAX (worst, fabs (ga - gb) / (1e-6 + fabs (gb)));
      if (fabs (ga - gb) > 1e-6 + 1e-5 * fabs (gb))
        g_error ("%s[%" G_GINT64_FORMAT "]: t2i %.9g, PyTorch %.9g",
            pairs[k][0], i, ga, gb);
    }
    g_test_message ("%s: worst relative difference %.3g", pairs[k][0], worst);
  }
  test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  test_elements_register ();
  g_test_add_func ("/grads-golden/expr", test_expr_grads);
  return g_test_run ();
}
