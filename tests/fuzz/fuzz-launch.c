/* libFuzzer target: a pipeline file, through everything t2i-launch does
 * before it runs one: comments and ${VAR} substitution (with the mapping
 * back to lines and columns), the syntax model, the limits and building
 * it (t2i_parse_launch_checked()), the located diagnostics, the loop and
 * open-end checks.  GStreamer sees the t2i plugin and the core elements
 * only (fakesrc, tee, queue, ...): nothing is ever set to READY, so no
 * file is opened.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <t2i/launch.h>
#include <unistd.h>

#include "diagnose.h"
#include "graph.h"
#include "preprocess.h"
#include "syntax.h"

GST_PLUGIN_STATIC_DECLARE (t2i);

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 * data, size_t size);

static GHashTable *sets;
static gchar *tmpdir;

/* Warnings are dropped.  A critical is a bug the fuzzer reports, except
 * while the pipeline is built and diagnosed: t2i-launch holds those and
 * shows them only when the pipeline was built and it finds no located
 * error to show instead (build_pipeline() in tools/t2i-launch/main.c). */
static gboolean building, held_critical;

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField * fields, gsize n_fields,
    gpointer user_data)
{
  if (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) {
    g_log_writer_standard_streams (level, fields, n_fields, user_data);
    if (building && !(level & G_LOG_LEVEL_ERROR)) {
      held_critical = TRUE;
      return G_LOG_WRITER_HANDLED;
    }
    abort ();
  }
  return G_LOG_WRITER_HANDLED;
}

static gchar **envp;
static gboolean ready;

static void
remove_tmpdir (void)
{
  g_autofree char *plugins = g_build_filename (tmpdir, "plugins", NULL);
  g_autofree char *link = g_build_filename (plugins,
      "libgstcoreelements.so", NULL);
  g_autofree char *registry = g_build_filename (tmpdir, "registry.bin", NULL);
  g_unlink (link);
  g_rmdir (plugins);
  g_unlink (registry);
  g_rmdir (tmpdir);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  /* a private registry of the core elements: what is installed on the
   * machine plays no part (and no plugin scanner process is forked) */
  const char *dir = tmpdir = g_dir_make_tmp ("t2i-fuzz-launch-XXXXXX", NULL);
  g_autofree char *plugins = g_build_filename (dir, "plugins", NULL);
  g_autofree char *registry = g_build_filename (dir, "registry.bin", NULL);
  g_autofree char *link = g_build_filename (plugins,
      "libgstcoreelements.so", NULL);
  g_autofree char *core = g_build_filename (GST_PLUGINS_DIR,
      "libgstcoreelements.so", NULL);
  g_mkdir (plugins, 0700);
  atexit (remove_tmpdir);
  if (symlink (core, link) != 0)
    g_error ("cannot link %s", core);
  g_setenv ("GST_PLUGIN_SYSTEM_PATH_1_0", plugins, TRUE);
  g_setenv ("GST_PLUGIN_PATH_1_0", "", TRUE);
  g_setenv ("GST_REGISTRY_1_0", registry, TRUE);
  g_setenv ("GST_REGISTRY_FORK", "no", TRUE);
  g_setenv ("GST_DEBUG", "0", TRUE);
  gst_init (NULL, NULL);
  GST_PLUGIN_STATIC_REGISTER (t2i);
  g_log_set_writer_func (log_writer, NULL, NULL);

  sets = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (sets, "N", "3");
  g_hash_table_insert (sets, "OUT", "out/run-1");
  g_hash_table_insert (sets, "P", "fakesrc num-buffers=1 ! fakesink");
  g_hash_table_insert (sets, "EMPTY", "");
  envp = g_new0 (gchar *, 3);
  envp[0] = g_strdup ("HOME=/home/fuzz");
  envp[1] = g_strdup ("STEPS=10");
  ready = TRUE;
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 * data, size_t size)
{
  GError *error = NULL;
  gsize error_offset = 0;
  guint line, column;

  if (!ready)
    LLVMFuzzerInitialize (NULL, NULL);
  /* what t2i-launch refuses before preprocessing */
  if (size > T2I_PREPROCESS_MAX_BYTES || memchr (data, '\0', size))
    return 0;

  g_autoptr (T2iPreprocessed) pp = t2i_preprocess ((const gchar *) data,
      size, sets, envp, &error_offset, &error);
  if (!pp) {
    g_assert (error && error_offset <= size);
    t2i_text_locate ((const gchar *) data, size, error_offset, &line,
        &column);
    g_error_free (error);
    return 0;
  }
  g_assert (pp->text[pp->length] == 0);
  for (gsize i = 0; i <= pp->length; i += 1 + pp->length / 16)
    t2i_preprocessed_locate (pp, i, &line, &column);

  /* the syntax model on its own */
  g_autoptr (T2iSyntax) syntax = t2i_syntax_parse (pp->text);
  if (syntax->error)
    g_assert (syntax->error_offset <= pp->length);

  /* what build_pipeline() in tools/t2i-launch/main.c does */
  building = TRUE;
  held_critical = FALSE;
  g_autoptr (T2iDiagnostic) limits = NULL;
  GstParseContext *context = gst_parse_context_new ();
  GstElement *pipeline = t2i_parse_launch_checked (pp->text, context,
      &limits, &error);
  if (limits) {
    building = FALSE;
    g_assert (!pipeline && !error);
    gst_parse_context_free (context);
    t2i_preprocessed_locate (pp, limits->offset, &line, &column);
    return 0;
  }
  g_autoptr (T2iDiagnostic) diagnostic = NULL;
  if (!pipeline && error->domain == GST_PARSE_ERROR)
    diagnostic = t2i_diagnose_parse_error (pp->text, error, context);
  else if (pipeline)
    diagnostic = t2i_diagnose_values (pp->text);
  building = FALSE;
  if (diagnostic) {
    g_assert (diagnostic->offset <= pp->length && diagnostic->message);
    t2i_preprocessed_locate (pp, diagnostic->offset, &line, &column);
  } else if (pipeline && held_critical) {
    /* t2i-launch would show it: the pipeline was built and nothing
     * explains the critical */
    g_printerr ("a critical while building, and no located error\n");
    abort ();
  }
  gst_parse_context_free (context);
  g_clear_error (&error);
  if (!pipeline)
    return 0;
  if (!GST_IS_PIPELINE (pipeline)) {
    GstElement *wrapper = gst_pipeline_new (NULL);
    gst_bin_add (GST_BIN (wrapper), pipeline);
    pipeline = wrapper;
  }
  g_autofree gchar *loop = t2i_graph_find_loop (GST_BIN (pipeline));
  if (!loop) {
    GPtrArray *added = t2i_graph_add_missing_sinks (GST_BIN (pipeline));
    g_ptr_array_unref (added);
  }
  gst_object_unref (pipeline);
  return 0;
}
