/* Runs a libFuzzer target's LLVMFuzzerTestOneInput() on files, for builds
 * without libFuzzer: the test suite replays the seed corpora and the
 * inputs of every bug the fuzzers found (tests/fuzz/regressions/), with
 * gcc and under ASan/UBSan (docs/reliability.md).
 *   replay FILE|DIR...   (a path that does not exist is skipped)
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>

int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__ ((weak));
int LLVMFuzzerTestOneInput (const guint8 * data, size_t size);

static guint
run_path (const char *path)
{
  /* regressions/TARGET exists once a bug was found */
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    return 0;
  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    GDir *d = g_dir_open (path, 0, NULL);
    const char *name;
    guint n = 0;
    g_assert (d != NULL);
    while ((name = g_dir_read_name (d))) {
      g_autofree char *p = g_build_filename (path, name, NULL);
      n += run_path (p);
    }
    g_dir_close (d);
    return n;
  }
  gchar *data;
  gsize len;
  GError *error = NULL;
  if (!g_file_get_contents (path, &data, &len, &error))
    g_error ("%s", error->message);
  /* a copy of exactly @len bytes, so reads past the input are caught */
  guint8 *copy = g_memdup2 (data, len);
  g_free (data);
  LLVMFuzzerTestOneInput (copy, len);
  g_free (copy);
  return 1;
}

int
main (int argc, char **argv)
{
  guint n = 0;

  if (LLVMFuzzerInitialize)
    LLVMFuzzerInitialize (&argc, &argv);
  for (int i = 1; i < argc; i++)
    n += run_path (argv[i]);
  g_print ("%u inputs\n", n);
  return n > 0 ? 0 : 1;
}
