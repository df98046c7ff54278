/* T2iTransform's drop= property: entries leave the record and its caps.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

static void
test_drop (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "batch-size=4 max-steps=1 resolution=16 ! t2inoise output=z dim=8 "
      "drop=attr/*,id ! t2itensorsink location=%s", out);
  g_autofree char *err = NULL;
  GError *error = NULL;

  g_assert_true (test_run_pipeline (desc, &err, NULL, NULL));
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (out, &error);
  g_assert_no_error (error);
  g_assert_true (t2i_safetensors_has (st, "image"));
  g_assert_true (t2i_safetensors_has (st, "z"));
  g_assert_false (t2i_safetensors_has (st, "id"));
  g_assert_false (t2i_safetensors_has (st, "attr/color"));
  g_assert_false (t2i_safetensors_has (st, "attr/shape"));
  g_assert_nonnull (t2i_safetensors_get_metadata (st, "strings:caption"));
  test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_setenv ("GST_REGISTRY_FORK", "no", TRUE);
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/transform/drop", test_drop);
  return g_test_run ();
}
