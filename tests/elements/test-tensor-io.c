/* t2itensorsrc / t2itensorsink: round trips, gradients, one-line errors.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <string.h>

typedef struct
{
  char *dir;
  char *in;
} Fixture;

/* in.safetensors: x f32[2,3], t f32[2,3], n i32[2], caption (strings) */
static void
fixture_setup (Fixture * f, gconstpointer data)
{
  f->dir = test_tmpdir ();
  f->in = g_build_filename (f->dir, "in.safetensors", NULL);
  float xv[6] = { 1, 2, 3, 4, 5, 6 };
  float tv[6] = { 0.5f, 2, 2, 4, 5.5f, 7 };
  gint32 nv[2] = { 7, -3 };
  g_autoptr (T2iTensor) x = t2i_tensor_from_data (T2I_F32, T2I_SHAPE (2, 3),
      xv);
  g_autoptr (T2iTensor) t = t2i_tensor_from_data (T2I_F32, T2I_SHAPE (2, 3),
      tv);
  g_autoptr (T2iTensor) n = t2i_tensor_from_data (T2I_I32, T2I_SHAPE (2), nv);
  const char *names[] = { "x", "t", "n", NULL };
  T2iTensor *tensors[] = { x, t, n };
  g_autoptr (GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "strings:caption", "[\"a red circle\",\"b\"]");
  g_assert_true (t2i_safetensors_save (f->in, names, tensors, 3, meta, NULL));
}

static void
fixture_teardown (Fixture * f, gconstpointer data)
{
  test_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->in);
}

static void
assert_same_tensor (T2iTensor * a, T2iTensor * b)
{
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpint (a->dtype, ==, b->dtype);
  g_assert_true (t2i_tensor_same_shape (a, b));
  g_assert_cmpmem (a->data, a->nbytes, b->data, b->nbytes);
}

static void
test_round_trip_pattern (Fixture * f, gconstpointer data)
{
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "repeat=3 ! t2itensorsink location=%s/out-%%03d.safetensors", f->in,
      f->dir);
  g_autofree char *err = NULL;
  g_autoptr (GPtrArray) progress =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_assert_true (test_run_pipeline (desc, &err, "t2i-progress", progress));
  /* t2i-progress counts the records: 0 of 3 first, 3 of 3 at the end */
  g_assert_cmpuint (progress->len, >=, 2);
  for (guint i = 0; i < 2; i++) {
    gint64 step = -1, total = -1;
    const GstStructure *p = progress->pdata[i ? progress->len - 1 : 0];
    g_assert_true (gst_structure_get_int64 (p, "step", &step));
    g_assert_true (gst_structure_get_int64 (p, "total", &total));
    g_assert_cmpint (step, ==, i ? 3 : 0);
    g_assert_cmpint (total, ==, 3);
  }

  g_autoptr (T2iSafetensors) in = t2i_safetensors_load (f->in, NULL);
  for (int i = 0; i < 3; i++) {
    g_autofree char *p = g_strdup_printf ("%s/out-%03d.safetensors", f->dir,
        i);
    g_autoptr (T2iSafetensors) out = t2i_safetensors_load (p, NULL);
    g_assert_nonnull (out);
    const char *const *names = t2i_safetensors_names (out);
    g_assert_cmpstr (names[0], ==, "x");
    g_assert_cmpstr (names[1], ==, "t");
    g_assert_cmpstr (names[2], ==, "n");
    g_assert_null (names[3]);
    for (int k = 0; k < 3; k++) {
      g_autoptr (T2iTensor) a = t2i_safetensors_get (in, names[k]);
      g_autoptr (T2iTensor) b = t2i_safetensors_get (out, names[k]);
      assert_same_tensor (a, b);
    }
    g_assert_cmpstr (t2i_safetensors_get_metadata (out, "strings:caption"),
        ==, "[\"a red circle\",\"b\"]");
    g_autofree char *step = g_strdup_printf ("%d", i);
    g_assert_cmpstr (t2i_safetensors_get_metadata (out, "record/step"), ==,
        step);
  }
  g_autofree char *p3 = g_strdup_printf ("%s/out-003.safetensors", f->dir);
  g_assert_false (g_file_test (p3, G_FILE_TEST_EXISTS));
}

/* a record has no entry limit: 300 tensors pass unchanged, in order */
static void
test_many_entries (Fixture * f, gconstpointer data)
{
  const gint n = 300;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) tensors =
      g_ptr_array_new_with_free_func ((GDestroyNotify) t2i_tensor_unref);
  for (gint i = 0; i < n; i++) {
    float v[2] = { (float) i, (float) -i };
    g_ptr_array_add (names, g_strdup_printf ("vgg/real/t%03d", i));
    g_ptr_array_add (tensors, t2i_tensor_from_data (T2I_F32, T2I_SHAPE (1,
                2), v));
  }
  g_ptr_array_add (names, NULL);
  g_autofree char *in = g_build_filename (f->dir, "many.safetensors", NULL);
  g_autofree char *out = g_build_filename (f->dir, "many-out.safetensors",
      NULL);
  g_assert_true (t2i_safetensors_save (in, (const char *const *)
          names->pdata, (T2iTensor **) tensors->pdata, (gsize) n, NULL, NULL));
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itensorsink location=%s", in, out);
  g_autofree char *err = NULL;
  g_assert_true (test_run_pipeline (desc, &err, NULL, NULL));

  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (out, NULL);
  g_assert_nonnull (st);
  const char *const *got = t2i_safetensors_names (st);
  g_assert_cmpuint (g_strv_length ((gchar **) got), ==, (guint) n);
  for (gint i = 0; i < n; i++) {
    g_assert_cmpstr (got[i], ==, names->pdata[i]);
    g_autoptr (T2iTensor) t = t2i_safetensors_get (st, got[i]);
    assert_same_tensor (t, tensors->pdata[i]);
  }
}

static void
test_overwrite (Fixture * f, gconstpointer data)
{
  g_autofree char *out = g_build_filename (f->dir, "o.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "repeat=4 ! t2itensorsink location=%s", f->in, out);
  g_assert_true (test_run_pipeline (desc, NULL, NULL, NULL));
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (out, NULL);
  g_assert_nonnull (st);
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "record/step"), ==, "3");
}

/* d mean((x - t)^2) / dx = 2 (x - t) / 6 */
static void
test_grads_of (Fixture * f, gconstpointer data)
{
  g_autofree char *out = g_build_filename (f->dir, "g.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=x ! t2itestmse input=x target=t update=none output=l ! "
      "t2itensorsink location=%s grads-of=loss/l", f->in, out);
  g_autofree char *err = NULL;
  gboolean ok = test_run_pipeline (desc, &err, NULL, NULL);
  g_assert_cmpstr (err, ==, NULL);
  g_assert_true (ok);
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (out, NULL);
  g_autoptr (T2iTensor) x = t2i_safetensors_get (st, "x");
  g_autoptr (T2iTensor) t = t2i_safetensors_get (st, "t");
  g_autoptr (T2iTensor) g = t2i_safetensors_get (st, "grad/x");
  g_autoptr (T2iTensor) l = t2i_safetensors_get (st, "loss/l");
  g_assert_nonnull (g);
  g_assert_nonnull (l);
  g_assert_false (t2i_safetensors_has (st, "grad/t"));
  double loss = 0;
  for (int i = 0; i < 6; i++) {
    double d = t2i_tensor_get (x, i) - t2i_tensor_get (t, i);
    g_assert_cmpfloat_with_epsilon (t2i_tensor_get (g, i), 2 * d / 6, 1e-6);
    loss += d * d / 6;
  }
  g_assert_cmpfloat_with_epsilon (t2i_tensor_item (l), loss, 1e-6);
}

static void
expect_error (const char *desc, const char *const *needles)
{
  g_autofree char *err = NULL;
  g_assert_false (test_run_pipeline (desc, &err, NULL, NULL));
  g_assert_nonnull (err);
  g_test_message ("error: %s", err);
  g_assert_null (strchr (err, '\n'));
  for (guint i = 0; needles[i]; i++)
    if (!strstr (err, needles[i]))
      g_error ("error \"%s\" does not mention \"%s\"", err, needles[i]);
}

static void
test_errors (Fixture * f, gconstpointer data)
{
  g_autofree char *missing = g_build_filename (f->dir, "nope.safetensors",
      NULL);
  g_autofree char *d1 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "fakesink", missing);
  expect_error (d1, (const char *[]) { "location=", "nope.safetensors",
        NULL });

  g_autofree char *d2 = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=x,zz ! fakesink", f->in);
  expect_error (d2, (const char *[]) { "requires-grad", "'zz'", "x, t, n",
        NULL });

  g_autofree char *d3 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itensorsink location=%s/o-%%s.safetensors", f->in, f->dir);
  expect_error (d3, (const char *[]) { "location=", "%d", NULL });

  g_autofree char *d4 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itensorsink location=%s/g.safetensors grads-of=nothere", f->in,
      f->dir);
  expect_error (d4, (const char *[]) { "grads-of=nothere", "x f32[2,3]",
        NULL });

  g_autofree char *d5 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itensorsink location=%s/g.safetensors grads-of=x", f->in, f->dir);
  expect_error (d5, (const char *[]) { "grads-of=x", "6 elements", NULL });

  /* tensor names that are no entry names */
  g_autofree char *bad = g_build_filename (f->dir, "bad.safetensors", NULL);
  g_autoptr (T2iTensor) v = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2));
  test_save (bad, (const char *[]) { "G.fc.weight", NULL }, &v);
  g_autofree char *d6 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "fakesink", bad);
  expect_error (d6, (const char *[]) { "'G.fc.weight'", "entry name", NULL });
}

/* A loss fed a record without its input fails at negotiation, naming the
 * entry and what upstream offers. */
static void
test_negotiation_error (Fixture * f, gconstpointer data)
{
  g_autofree char *d = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itestmse input=x target=nothere update=g ! fakesink", f->in);
  expect_error (d, (const char *[]) { "'nothere'", "upstream offers",
        "x f32[2,3]", NULL });

  g_autofree char *d2 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itesttoy input=n ! fakesink", f->in);
  expect_error (d2, (const char *[]) { "'n'", "upstream offers", NULL });
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  test_elements_register ();
  g_test_add ("/tensor-io/round-trip-pattern", Fixture, NULL, fixture_setup,
      test_round_trip_pattern, fixture_teardown);
  g_test_add ("/tensor-io/many-entries", Fixture, NULL, fixture_setup,
      test_many_entries, fixture_teardown);
  g_test_add ("/tensor-io/overwrite", Fixture, NULL, fixture_setup,
      test_overwrite, fixture_teardown);
  g_test_add ("/tensor-io/grads-of", Fixture, NULL, fixture_setup,
      test_grads_of, fixture_teardown);
  g_test_add ("/tensor-io/errors", Fixture, NULL, fixture_setup,
      test_errors, fixture_teardown);
  g_test_add ("/tensor-io/negotiation-error", Fixture, NULL, fixture_setup,
      test_negotiation_error, fixture_teardown);
  return g_test_run ();
}
