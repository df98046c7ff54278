/* t2iop: each operation's values, gradients flowing through, detach
 * stopping them, and one-line errors.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <string.h>

typedef struct
{
  char *dir, *in, *out;
} Fixture;

/* in.safetensors: x f32[2,1,4,4] = 0..31, v f32[3,2] = 0..5, caption */
static void
fixture_setup (Fixture * f, gconstpointer data)
{
  f->dir = test_tmpdir ();
  f->in = g_build_filename (f->dir, "in.safetensors", NULL);
  f->out = g_build_filename (f->dir, "out.safetensors", NULL);
  float xv[32], vv[6];
  for (gint i = 0; i < 32; i++)
    xv[i] = (float) i;
  for (gint i = 0; i < 6; i++)
    vv[i] = (float) i;
  g_autoptr (T2iTensor) x = t2i_tensor_from_data (T2I_F32, T2I_SHAPE (2, 1,
          4, 4), xv);
  g_autoptr (T2iTensor) v = t2i_tensor_from_data (T2I_F32, T2I_SHAPE (3, 2),
      vv);
  const char *names[] = { "x", "v", NULL };
  T2iTensor *tensors[] = { x, v };
  g_autoptr (GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "strings:caption", "[\"a\",\"b\",\"c\"]");
  g_assert_true (t2i_safetensors_save (f->in, names, tensors, 2, meta,
          NULL));
}

static void
fixture_teardown (Fixture * f, gconstpointer data)
{
  test_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->in);
  g_free (f->out);
}

/* runs "t2itensorsrc ! @ops ! t2itensorsink" and opens the output */
static T2iSafetensors *
run (Fixture * f, const char *ops, const char *sink_props)
{
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=x,v ! %s ! t2itensorsink location=%s %s", f->in, ops,
      f->out, sink_props ? sink_props : "");
  g_autofree char *err = NULL;
  if (!test_run_pipeline (desc, &err, NULL, NULL))
    g_error ("%s: %s", desc, err);
  return t2i_safetensors_load (f->out, NULL);
}

static void
assert_values (T2iSafetensors * st, const char *name, gint n,
    const float *want)
{
  g_autoptr (T2iTensor) t = t2i_safetensors_get (st, name);
  g_assert_nonnull (t);
  g_assert_cmpint (t->numel, ==, n);
  for (gint i = 0; i < n; i++)
    g_assert_cmpfloat (t2i_tensor_f32 (t)[i], ==, want[i]);
}

static void
test_resize_area (Fixture * f, gconstpointer data)
{
  g_autoptr (T2iSafetensors) st = run (f, "t2iop op=resize input=x "
      "output=y size=2", NULL);
  /* 2x2 means of the 4x4 images 0..15 and 16..31 */
  const float want[8] = { 2.5f, 4.5f, 10.5f, 12.5f, 18.5f, 20.5f, 26.5f,
    28.5f
  };
  assert_values (st, "y", 8, want);
  g_autoptr (T2iTensor) x = t2i_safetensors_get (st, "x");
  g_assert_cmpint (x->shape[3], ==, 4);
}

static void
test_roll_slice_concat_rename (Fixture * f, gconstpointer data)
{
  g_autoptr (T2iSafetensors) st = run (f, "t2iop op=roll input=v output=r "
      "! t2iop op=roll input=caption output=wrong shift=-1 ! t2iop op=slice "
      "input=v output=s start=-2 ! t2iop op=concat inputs=v,r output=c "
      "axis=1 ! t2iop op=rename input=c output=joined", NULL);
  const float roll[6] = { 4, 5, 0, 1, 2, 3 };
  const float slice[4] = { 2, 3, 4, 5 };
  const float joined[12] = { 0, 1, 4, 5, 2, 3, 0, 1, 4, 5, 2, 3 };
  assert_values (st, "r", 6, roll);
  assert_values (st, "s", 4, slice);
  assert_values (st, "joined", 12, joined);
  g_assert_false (t2i_safetensors_has (st, "c"));
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "strings:wrong"), ==,
      "[\"b\",\"c\",\"a\"]");
}

/* L = mean((roll(v) - detach(v))^2): the gradient reaches v through the
 * roll only, rolled back: grad v[j] = 2 (r - v)[j + 1] / 6 */
static void
test_gradients (Fixture * f, gconstpointer data)
{
  g_autoptr (T2iSafetensors) st = run (f, "t2iop op=roll input=v output=r "
      "! t2iop op=detach input=v output=d ! t2itestmse input=r target=d "
      "output=l update=none", "grads-of=loss/l");
  g_autoptr (T2iTensor) g = t2i_safetensors_get (st, "grad/v");
  g_assert_nonnull (g);
  const double want[6] = { -2 / 3., -2 / 3., -2 / 3., -2 / 3., 4 / 3.,
    4 / 3.
  };
  for (gint i = 0; i < 6; i++)
    g_assert_cmpfloat_with_epsilon (t2i_tensor_f32 (g)[i], want[i], 1e-6);
}

static void
test_errors (Fixture * f, gconstpointer data)
{
  struct
  {
    const char *ops, *expect;
  } cases[] = {
    {"t2iop op=resize input=x", "op=resize: size= is not set"},
    {"t2iop op=resize input=x size=2 shift=1",
        "shift= does not apply to op=resize (it reads: input, output, size, "
          "mode)"},
    {"t2iop op=slice input=v start=3", "select nothing"},
    {"t2iop op=concat inputs=v,x output=c", "does not join"},
    {"t2iop op=rename input=v", "output= must name the new entry"},
    {"t2iop input=v", "property 'op' is not set"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s ! %s "
        "! fakesink", f->in, cases[i].ops);
    g_autofree char *err = NULL;
    g_assert_false (test_run_pipeline (desc, &err, NULL, NULL));
    if (!strstr (err, cases[i].expect))
      g_error ("%s: expected '%s', got %s", desc, cases[i].expect, err);
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  test_elements_register ();
  g_test_add ("/op/resize-area", Fixture, NULL, fixture_setup,
      test_resize_area, fixture_teardown);
  g_test_add ("/op/roll-slice-concat-rename", Fixture, NULL, fixture_setup,
      test_roll_slice_concat_rename, fixture_teardown);
  g_test_add ("/op/gradients", Fixture, NULL, fixture_setup, test_gradients,
      fixture_teardown);
  g_test_add ("/op/errors", Fixture, NULL, fixture_setup, test_errors,
      fixture_teardown);
  return g_test_run ();
}
