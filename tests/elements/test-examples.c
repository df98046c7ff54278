/* Runs the example launch line of every t2i element (the "t2i-example"
 * element metadata, also shown in docs/elements.md) through the built
 * t2i-launch, or gst_parse_launch() when t2i-launch is not built.  Each
 * runs in a scratch directory holding in.safetensors: x and y f32[4,8]
 * and caption (4 strings).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <string.h>
#include <unistd.h>

static char *root;              /* scratch root, holds the registry */
static char *launcher;          /* t2i-launch, or NULL */

static void
write_fixture (const char *dir)
{
  T2iRng rng;
  t2i_rng_init (&rng, 1);
  g_autoptr (T2iTensor) x = t2i_rng_randn (&rng, T2I_F32, T2I_SHAPE (4, 8));
  g_autoptr (T2iTensor) y = t2i_rng_randn (&rng, T2I_F32, T2I_SHAPE (4, 8));
  g_autofree char *path = g_build_filename (dir, "in.safetensors", NULL);
  g_autoptr (GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (meta, "strings:caption", "[\"a red circle\","
      "\"a blue square\",\"a green triangle left of a red circle\","
      "\"a small yellow square\"]");
  g_assert_true (t2i_safetensors_save (path, (const char *[]) { "x", "y",
              NULL }, (T2iTensor *[]) { x, y }, 2, meta, NULL));
}

static void
run_example (gconstpointer data)
{
  const char *element = data;
  GstElementFactory *f = gst_element_factory_find (element);
  g_assert_nonnull (f);
  const char *example = gst_element_factory_get_metadata (f, "t2i-example");
  if (!example)
    g_error ("%s has no \"t2i-example\" metadata: add an example launch "
        "line with gst_element_class_add_static_metadata()", element);
  g_test_message ("%s: %s", element, example);

  g_autofree char *dir = g_build_filename (root, element, NULL);
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  write_fixture (dir);

  if (launcher) {
    GError *err = NULL;
    /* the line as one word: t2i-launch reads it as gst-launch syntax */
    char *argv[] = { launcher, (char *) "--", (char *) example, NULL };
    g_auto (GStrv) env = g_get_environ ();
    g_autofree char *reg = g_build_filename (root, "registry.bin", NULL);
    /* t2i-launch has the plugin built in */
    env = g_environ_unsetenv (env, "GST_PLUGIN_PATH_1_0");
    env = g_environ_unsetenv (env, "GST_PLUGIN_PATH");
    env = g_environ_setenv (env, "GST_REGISTRY_1_0", reg, TRUE);
    /* under ASan, t2i-launch scans the plugins itself: full stacks let
     * lsan.supp match what system libraries leak while they are loaded */
    const char *asan = g_environ_getenv (env, "ASAN_OPTIONS");
    g_autofree char *asan2 = g_strconcat (asan ? asan : "",
        asan ? ":" : "", "fast_unwind_on_malloc=0", NULL);
    env = g_environ_setenv (env, "ASAN_OPTIONS", asan2, TRUE);
    g_autofree char *out = NULL, *errout = NULL;
    gint status;
    g_assert_true (g_spawn_sync (dir, argv, env, G_SPAWN_DEFAULT, NULL, NULL,
            &out, &errout, &status, &err));
    g_assert_no_error (err);
    if (!g_spawn_check_wait_status (status, NULL))
      g_error ("example of %s failed: t2i-launch -- %s\n%s%s", element,
          example, out, errout);
  } else {
    g_autofree char *cwd = g_get_current_dir ();
    g_assert_cmpint (chdir (dir), ==, 0);
    g_autofree char *err = NULL;
    gboolean ok = test_run_pipeline (example, &err, NULL, NULL);
    g_assert_cmpint (chdir (cwd), ==, 0);
    if (!ok)
      g_error ("example of %s failed: %s: %s", element, example, err);
  }
  gst_object_unref (f);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);

  const char *build = g_getenv ("T2I_BUILD_DIR");
  g_autofree char *l = build ? g_build_filename (build, "tools",
      "t2i-launch", "t2i-launch", NULL) : NULL;
  if (l && g_file_test (l, G_FILE_TEST_IS_EXECUTABLE))
    launcher = g_steal_pointer (&l);
  g_test_message ("running examples with %s", launcher ? launcher :
      "gst_parse_launch()");
  root = test_tmpdir ();

  GList *features = gst_registry_get_feature_list_by_plugin (gst_registry_get
      (), "t2i");
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  for (GList * f = features; f; f = f->next)
    if (GST_IS_ELEMENT_FACTORY (f->data))
      g_ptr_array_add (names, g_strdup (GST_OBJECT_NAME (f->data)));
  gst_plugin_feature_list_free (features);
  g_assert_cmpuint (names->len, >, 0);
  g_ptr_array_sort (names, compare_names);
  for (guint i = 0; i < names->len; i++) {
    g_autofree char *path = g_strdup_printf ("/examples/%s",
        (char *) names->pdata[i]);
    g_test_add_data_func (path, names->pdata[i], run_example);
  }
  int ret = g_test_run ();
  test_rmdir (root);
  g_free (root);
  g_free (launcher);
  return ret;
}
