/* t2i-launch: runs a t2i pipeline file (gst-launch syntax with comments and
 * variables) or a pipeline given on the command line.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "t2i-config.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include <t2i/dist.h>
#include <t2i/launch.h>
#include <t2i/session.h>
#include <t2i/safetensors.h>

#include "diagnose.h"
#include "dot.h"
#include "graph.h"
#include "plot.h"
#include "preprocess.h"
#include "report.h"
#include "run.h"

GST_PLUGIN_STATIC_DECLARE (t2i);

#define COMMAND_LINE_NAME "<command-line>"

typedef struct
{
  gchar **sets;
  gchar *json;
  gchar *report;
  gchar *graph;
  gdouble progress_interval;
  gboolean quiet;
  gboolean verbose;
  gboolean version;
  gboolean list_elements;
  gchar *device;
  gchar *precision;
} Options;

/* ------------------------------------------------------------------ */
/* GLib log messages are held back while a pipeline is parsed: when the
 * parse fails, the one located error line is all the user sees.        */

typedef struct
{
  GLogLevelFlags level;
  gchar *domain;
  gchar *message;
} HeldLog;

G_LOCK_DEFINE_STATIC (held_logs);
static GPtrArray *held_logs;    /* NULL when not holding */

static void
held_log_free (HeldLog * log)
{
  g_free (log->domain);
  g_free (log->message);
  g_free (log);
}

static GLogWriterOutput
log_writer (GLogLevelFlags level, const GLogField * fields, gsize n_fields,
    gpointer user_data)
{
  HeldLog *held;

  if (level & G_LOG_LEVEL_ERROR)
    return g_log_writer_default (level, fields, n_fields, user_data);
  G_LOCK (held_logs);
  if (held_logs == NULL) {
    G_UNLOCK (held_logs);
    return g_log_writer_default (level, fields, n_fields, user_data);
  }

  held = g_new0 (HeldLog, 1);
  held->level = level;
  for (gsize i = 0; i < n_fields; i++) {
    const gchar *value = fields[i].value;

    if (fields[i].length >= 0)
      continue;                 /* binary fields are not ours to show */
    if (g_strcmp0 (fields[i].key, "MESSAGE") == 0)
      held->message = g_strdup (value);
    else if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
      held->domain = g_strdup (value);
  }
  g_ptr_array_add (held_logs, held);
  G_UNLOCK (held_logs);
  return G_LOG_WRITER_HANDLED;
}

static void
hold_logs (void)
{
  G_LOCK (held_logs);
  held_logs = g_ptr_array_new_with_free_func ((GDestroyNotify) held_log_free);
  G_UNLOCK (held_logs);
}

static gboolean
logs_were_held (void)
{
  gboolean any;

  G_LOCK (held_logs);
  any = held_logs->len > 0;
  G_UNLOCK (held_logs);
  return any;
}

/* Stops holding; shows what was held when @show, else drops it. */
static void
release_logs (gboolean show)
{
  GPtrArray *logs;

  G_LOCK (held_logs);
  logs = g_steal_pointer (&held_logs);
  G_UNLOCK (held_logs);

  for (guint i = 0; show && i < logs->len; i++) {
    HeldLog *held = g_ptr_array_index (logs, i);
    GLogField fields[] = {
      {"MESSAGE", held->message ? held->message : "", -1},
      {"GLIB_DOMAIN", held->domain, -1},
    };

    g_log_writer_default (held->level, fields, held->domain ? 2 : 1, NULL);
  }
  g_ptr_array_unref (logs);
}

/* ------------------------------------------------------------------ */

static gint
compare_factories (gconstpointer a, gconstpointer b)
{
  return strcmp (GST_OBJECT_NAME (*(GstObject **) a),
      GST_OBJECT_NAME (*(GstObject **) b));
}

static void
list_elements (void)
{
  GList *features = gst_registry_get_feature_list_by_plugin (gst_registry_get
      (), "t2i");
  GPtrArray *factories = g_ptr_array_new ();
  gint width = 0;

  for (GList * l = features; l != NULL; l = l->next) {
    if (GST_IS_ELEMENT_FACTORY (l->data)) {
      g_ptr_array_add (factories, l->data);
      width = MAX (width, (gint) strlen (GST_OBJECT_NAME (l->data)));
    }
  }
  g_ptr_array_sort (factories, compare_factories);

  for (guint i = 0; i < factories->len; i++) {
    GstElementFactory *f = g_ptr_array_index (factories, i);
    const gchar *text = gst_element_factory_get_metadata (f,
        GST_ELEMENT_METADATA_DESCRIPTION);
    g_autofree gchar *line = NULL;

    if (text == NULL || *text == '\0')
      text = gst_element_factory_get_metadata (f,
          GST_ELEMENT_METADATA_LONGNAME);
    line = g_strdelimit (g_strdup (text ? text : ""), "\r\n", ' ');
    printf ("%-*s  %s\n", width, GST_OBJECT_NAME (f), line);
  }
  g_ptr_array_unref (factories);
  gst_plugin_feature_list_free (features);
}

static gboolean
is_variable_name (const gchar * name)
{
  if (!(g_ascii_isalpha (*name) || *name == '_'))
    return FALSE;
  for (const gchar * p = name; *p != '\0'; p++) {
    if (!(g_ascii_isalnum (*p) || *p == '_'))
      return FALSE;
  }
  return TRUE;
}

/* NAME=VALUE from --set; the last one for a NAME wins. */
static GHashTable *
parse_sets (gchar ** sets, GError ** error)
{
  g_autoptr (GHashTable) table = g_hash_table_new_full (g_str_hash,
      g_str_equal, g_free, g_free);

  for (gchar ** s = sets; s != NULL && *s != NULL; s++) {
    const gchar *eq = strchr (*s, '=');
    g_autofree gchar *name = eq ? g_strndup (*s, eq - *s) : NULL;

    if (name == NULL || !is_variable_name (name)) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
          "--set expects NAME=VALUE with NAME made of letters, digits and "
          "'_', got '%s'", *s);
      return NULL;
    }
    g_hash_table_insert (table, g_steal_pointer (&name), g_strdup (eq + 1));
  }
  return g_steal_pointer (&table);
}

static gint
usage_error (const gchar * message)
{
  g_printerr ("t2i-launch: %s\n", message);
  g_printerr ("Try 't2i-launch --help' for more information.\n");
  return T2I_EXIT_USAGE;
}

static void
print_located (const gchar * filename, const T2iPreprocessed * pp,
    gsize offset, const gchar * message)
{
  guint line, column;

  g_autofree gchar *one = t2i_text_one_line (message);

  t2i_preprocessed_locate (pp, offset, &line, &column);
  g_printerr ("%s:%u:%u: %s\n", filename, line, column, one);
}

/* Builds the pipeline, refuses a loop and gives outputs that go nowhere
 * a fakesink.  On failure prints one line and returns NULL with
 * *exit_code set: a located parse error or a loop (2), or the error an
 * element posted when it was linked (1, as when it posts it running). */
static GstElement *
build_pipeline (const gchar * filename, const T2iPreprocessed * pp,
    gboolean quiet, gint * exit_code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (T2iDiagnostic) diagnostic = NULL;
  g_autoptr (GPtrArray) added = NULL;
  g_autofree gchar *loop = NULL;
  GstElement *pipeline = NULL;

  /* what GStreamer warns of while the description is checked and parsed
   * is shown only when no located error replaces it */
  hold_logs ();
  GstParseContext *context = gst_parse_context_new ();
  pipeline = t2i_parse_launch_checked (pp->text, context, &diagnostic,
      &error);
  /* with no refusal (located already), locate GStreamer's error, or what
   * it only warned of */
  if (diagnostic == NULL && pipeline == NULL
      && error->domain == GST_PARSE_ERROR)
    diagnostic = t2i_diagnose_parse_error (pp->text, error, context);
  else if (diagnostic == NULL && pipeline != NULL && logs_were_held ())
    diagnostic = t2i_diagnose_values (pp->text);
  gst_parse_context_free (context);
  release_logs (pipeline != NULL && diagnostic == NULL);

  if (diagnostic != NULL) {
    print_located (filename, pp, diagnostic->offset, diagnostic->message);
    g_clear_object (&pipeline);
    *exit_code = T2I_EXIT_USAGE;
    return NULL;
  }
  if (pipeline == NULL) {
    /* "ELEMENT: MESSAGE", the line it gets when it fails running */
    g_printerr ("%s\n", error->message);
    *exit_code = T2I_EXIT_RUNTIME_ERROR;
    return NULL;
  }

  /* a single element or bin: run it inside a pipeline */
  if (!GST_IS_PIPELINE (pipeline)) {
    GstElement *wrapper = gst_pipeline_new (NULL);

    gst_bin_add (GST_BIN (wrapper), pipeline);
    pipeline = wrapper;
  }

  loop = t2i_graph_find_loop (GST_BIN (pipeline));
  if (loop != NULL) {
    g_printerr ("t2i-launch: the links form a loop: %s (an element cannot "
        "take its own output; remove one of these links)\n", loop);
    gst_object_unref (pipeline);
    *exit_code = T2I_EXIT_USAGE;
    return NULL;
  }

  added = t2i_graph_add_missing_sinks (GST_BIN (pipeline));
  for (guint i = 0; i < added->len && !quiet; i++)
    g_printerr ("t2i-launch: note: %s's output goes nowhere; added a "
        "fakesink (end the pipeline with '! fakesink' to silence this)\n",
        (const gchar *) g_ptr_array_index (added, i));
  return pipeline;
}

static void
warn_unused_sets (GHashTable * sets, const T2iPreprocessed * pp,
    const gchar * filename)
{
  GList *names = g_list_sort (g_hash_table_get_keys (sets),
      (GCompareFunc) strcmp);

  for (GList * l = names; l != NULL; l = l->next) {
    if (!g_hash_table_contains (pp->used, l->data))
      g_printerr ("t2i-launch: warning: --set %s is not used by %s\n",
          (const gchar *) l->data, filename);
  }
  g_list_free (names);
}

/* Reads @path whole, refusing more than T2I_PREPROCESS_MAX_BYTES: a
 * pipeline file is text someone wrote, and /dev/zero never ends. */
static gboolean
read_bounded (const gchar * path, gchar ** text, gsize * length,
    GError ** error)
{
  g_autofree gchar *buffer = NULL;
  gsize size = 0;
  gint fd = g_open (path, O_RDONLY, 0);

  if (fd < 0) {
    gint saved = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
        "cannot read %s: %s", path, g_strerror (saved));
    return FALSE;
  }
  buffer = g_malloc (T2I_PREPROCESS_MAX_BYTES + 2);
  while (size <= T2I_PREPROCESS_MAX_BYTES) {
    gssize n = read (fd, buffer + size, T2I_PREPROCESS_MAX_BYTES + 1 - size);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      gint saved = errno;

      g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
          "cannot read %s: %s", path, g_strerror (saved));
      close (fd);
      return FALSE;
    }
    if (n == 0)
      break;
    size += n;
  }
  close (fd);
  if (size > T2I_PREPROCESS_MAX_BYTES) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
        "%s: longer than %d KiB, the limit for a pipeline file", path,
        T2I_PREPROCESS_MAX_BYTES / 1024);
    return FALSE;
  }
  buffer[size] = '\0';
  *text = g_steal_pointer (&buffer);
  *length = size;
  return TRUE;
}

/* The text to run and its name for error lines. */
static gboolean
read_description (gchar ** args, gchar ** words, gchar ** filename,
    gchar ** text, gsize * length, gint * exit_code)
{
  g_autoptr (GError) error = NULL;
  guint n_args = g_strv_length (args) - 1;

  if (words != NULL) {
    if (n_args > 0 || words[0] == NULL) {
      *exit_code = usage_error (n_args > 0 ? "give either FILE or -- "
          "PIPELINE, not both" : "no pipeline after '--'");
      return FALSE;
    }
    *filename = g_strdup (COMMAND_LINE_NAME);
    *text = g_strjoinv (" ", words);
    *length = strlen (*text);
    if (*length > T2I_PREPROCESS_MAX_BYTES) {
      g_printerr ("t2i-launch: the pipeline after '--' is longer than %d "
          "KiB (the limit)\n", T2I_PREPROCESS_MAX_BYTES / 1024);
      *exit_code = T2I_EXIT_USAGE;
      return FALSE;
    }
    return TRUE;
  }

  if (n_args != 1) {
    *exit_code = usage_error (n_args == 0 ? "no pipeline file given" :
        "more than one pipeline file given (use -- for a pipeline on the "
        "command line)");
    return FALSE;
  }
  *filename = g_strdup (args[1]);
  if (!read_bounded (args[1], text, length, &error)) {
    g_printerr ("t2i-launch: %s\n", error->message);
    *exit_code = T2I_EXIT_USAGE;
    return FALSE;
  }
  if (memchr (*text, '\0', *length) != NULL) {
    g_printerr ("t2i-launch: %s: not a text file (contains NUL bytes)\n",
        args[1]);
    *exit_code = T2I_EXIT_USAGE;
    return FALSE;
  }
  return TRUE;
}

/* --device, --precision: the pipeline gets a session on DEVICE computing
 * in PRECISION before it starts (the elements take it from the context
 * instead of making their own) */
static gboolean
set_session (GstElement * pipeline, const char *device_name,
    const char *precision_name, gint * exit_code)
{
  T2iDevice device = T2I_DEVICE_CPU;
  T2iPrecision precision = T2I_PRECISION_F32;
  g_autoptr (GError) error = NULL;
  if (device_name && !t2i_device_from_name (device_name, &device)) {
    *exit_code = usage_error ("--device takes cpu or cuda");
    return FALSE;
  }
  if (precision_name && !t2i_precision_from_name (precision_name,
          &precision)) {
    *exit_code = usage_error ("--precision takes f32 or bf16");
    return FALSE;
  }
  g_autoptr (T2iSession) session = t2i_session_new ();
  /* what an option names replaces $T2I_DEVICE and $T2I_PRECISION */
  if (!device_name)
    device = t2i_session_get_device (session);
  if (!precision_name)
    precision = t2i_session_get_precision (session);
  if (!t2i_session_set_compute (session, device, precision, &error)) {
    g_printerr ("t2i-launch: --device=%s --precision=%s: %s\n",
        t2i_device_name (device), t2i_precision_name (precision),
        error->message);
    *exit_code = T2I_EXIT_RUNTIME_ERROR;
    return FALSE;
  }
  t2i_session_provide (session, pipeline);
  return TRUE;
}

/* OpenMP threads for one of the @local ranks a launcher started on this
 * host: 0 (OpenMP's default, the CPUs the process may use) when the
 * launcher bound the rank to some of the cores (mpirun binds each rank to
 * a core when it starts at most 2), else its share of the cores. */
static gint
rank_threads (void)
{
  const gchar *v = g_getenv ("OMPI_COMM_WORLD_LOCAL_SIZE");
  guint64 local = 0;
  cpu_set_t set;
  glong online = sysconf (_SC_NPROCESSORS_ONLN);

  if (v == NULL)
    v = g_getenv ("MPI_LOCALNRANKS");
  if (v == NULL || !g_ascii_string_to_unsigned (v, 10, 1, G_MAXINT, &local,
          NULL) || local < 2 || online < 1)
    return 0;
  if (sched_getaffinity (0, sizeof set, &set) == 0
      && CPU_COUNT (&set) < online)
    return 0;
  return MAX (1, (gint) (online / (glong) local));
}

/* OpenMP reads its wait policy and thread count once, when libgomp is
 * loaded, so they must be in the environment before the process starts:
 * busy-waiting compute threads make every op several times slower as soon
 * as another process shares the cores, and so do K ranks of a
 * data-parallel job on one host with a thread per core each.  Passive
 * waiting and a rank's share of the cores are the right defaults for a
 * tool; the user's own OMP_WAIT_POLICY and OMP_NUM_THREADS win. */
static void
ensure_openmp_env (char **argv)
{
  gboolean changed = FALSE;
  gint threads;

  if (!g_getenv ("OMP_WAIT_POLICY")) {
    g_setenv ("OMP_WAIT_POLICY", "passive", TRUE);
    changed = TRUE;
  }
  if (!g_getenv ("OMP_NUM_THREADS") && (threads = rank_threads ()) > 0) {
    g_autofree gchar *n = g_strdup_printf ("%d", threads);
    g_setenv ("OMP_NUM_THREADS", n, TRUE);
    changed = TRUE;
  }
  if (changed)
    execv ("/proc/self/exe", argv);
  /* exec failed: go on with OpenMP's defaults */
}

int
main (int argc, char **argv)
{
  Options opt = {.progress_interval = T2I_REPORTER_PLAIN_INTERVAL / 1e6 };

  ensure_openmp_env (argv);
  GOptionEntry entries[] = {
    {"set", 's', 0, G_OPTION_ARG_STRING_ARRAY, &opt.sets,
          "Set variable NAME (wins over the environment); repeatable",
        "NAME=VALUE"},
    {"json", 'j', 0, G_OPTION_ARG_FILENAME, &opt.json,
        "Write every t2i-* element message as one JSON object per line "
          "to FILE ('-' for standard output)", "FILE"},
    {"report", 'r', 0, G_OPTION_ARG_FILENAME, &opt.report,
          "Write an HTML report of the run to DIR/index.html (curves, "
          "sample grids, metrics, the pipeline); it refreshes while the "
          "run goes on", "DIR"},
    {"graph", 'g', 0, G_OPTION_ARG_FILENAME, &opt.graph,
          "Draw the pipeline with the record entries on its links, once "
          "they are known, to FILE (.svg, .png or .pdf with graphviz; .dot)",
        "FILE"},
    {"progress-interval", 0, 0, G_OPTION_ARG_DOUBLE, &opt.progress_interval,
          "Seconds between progress lines when standard error is not a "
          "terminal (default 10; 0: every progress message)", "SECONDS"},
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &opt.quiet,
        "Print errors only", NULL},
    {"verbose", 'v', 0, G_OPTION_ARG_NONE, &opt.verbose,
        "Also print state changes and all element messages", NULL},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &opt.device,
          "Where the pipeline's tensors live: cpu (default, or "
          "$T2I_DEVICE) or cuda (docs/cuda.md)", "DEVICE"},
    {"precision", 0, 0, G_OPTION_ARG_STRING, &opt.precision,
          "What matmuls and convolutions multiply in: f32 (default, or "
          "$T2I_PRECISION) or bf16 (f32 results and weights; CPUs with "
          "AVX512-BF16 or AMX; docs/performance.md)", "PRECISION"},
    {"list-elements", 0, 0, G_OPTION_ARG_NONE, &opt.list_elements,
        "List the elements of the t2i plugin and exit", NULL},
    {"version", 0, 0, G_OPTION_ARG_NONE, &opt.version,
        "Print the version and exit", NULL},
    {NULL}
  };
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) args = NULL;
  g_auto (GStrv) words = NULL;
  g_autoptr (GHashTable) sets = NULL;
  g_autoptr (T2iPreprocessed) pp = NULL;
  g_autoptr (T2iReporter) reporter = NULL;
  g_autoptr (T2iHtmlReport) html = NULL;
  T2iRunExtras extras = { 0 };
  g_autofree gchar *filename = NULL;
  g_autofree gchar *text = NULL;
  g_auto (GStrv) envp = NULL;
  GstElement *pipeline;
  gsize length = 0, error_offset = 0;
  gint exit_code = T2I_EXIT_OK;
  gint rank = 0;
  gboolean quiet;
  gint split;

  g_log_set_writer_func (log_writer, NULL, NULL);

  /* everything after "--" is the pipeline, options or not */
  for (split = 1; split < argc && strcmp (argv[split], "--") != 0; split++);
  args = g_new0 (gchar *, split + 1);
  for (gint i = 0; i < split; i++)
    args[i] = g_strdup (argv[i]);
  if (split < argc)
    words = g_strdupv (argv + split + 1);

  context = g_option_context_new ("FILE.t2i | -- PIPELINE...");
  g_option_context_set_summary (context,
      "Runs a t2i pipeline: a file in gst-launch syntax with '#' comments "
      "and ${NAME} / ${NAME:-default} variables, or a pipeline given after "
      "'--'.");
  g_option_context_set_description (context,
      "Exit status: 0 success, 1 runtime error, 2 usage or pipeline error, "
      "130 aborted (second Ctrl-C).\n"
      "The first Ctrl-C sends EOS so that trainers save and metrics "
      "report.\n");
  g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_group (context, gst_init_get_option_group ());
  if (!g_option_context_parse_strv (context, &args, &error)) {
    exit_code = usage_error (error->message);
    goto out;
  }
  if (opt.quiet && opt.verbose) {
    exit_code = usage_error ("--quiet and --verbose exclude each other");
    goto out;
  }
  if (opt.progress_interval < 0 || !isfinite (opt.progress_interval)) {
    exit_code = usage_error ("--progress-interval takes a number of "
        "seconds, 0 or more");
    goto out;
  }
  if (opt.graph && !t2i_dot_check_path (opt.graph, &error)) {
    exit_code = usage_error (error->message);
    goto out;
  }

  if (opt.version) {
    g_autofree gchar *gst = gst_version_string ();

    printf ("t2i-launch %s\n%s\n", T2I_VERSION, gst);
    goto out;
  }

  if (!gst_init_check (NULL, NULL, &error)) {
    g_printerr ("t2i-launch: %s\n", error->message);
    exit_code = T2I_EXIT_RUNTIME_ERROR;
    goto out;
  }
  GST_PLUGIN_STATIC_REGISTER (t2i);

  if (opt.list_elements) {
    list_elements ();
    goto out_deinit;
  }

  /* a data-parallel job (mpirun -np K): join it, or fail with one line
   * rather than train K separate models */
  if (!t2i_dist_init (&error)) {
    g_printerr ("t2i-launch: %s\n", error->message);
    exit_code = T2I_EXIT_RUNTIME_ERROR;
    goto out_deinit;
  }
  rank = t2i_dist_rank ();

  sets = parse_sets (opt.sets, &error);
  if (sets == NULL) {
    exit_code = usage_error (error->message);
    goto out_deinit;
  }
  if (!read_description (args, words, &filename, &text, &length, &exit_code))
    goto out_deinit;

  envp = g_get_environ ();
  pp = t2i_preprocess (text, length, sets, envp, &error_offset, &error);
  if (pp == NULL) {
    guint line, column;

    t2i_text_locate (text, length, error_offset, &line, &column);
    g_printerr ("%s:%u:%u: %s\n", filename, line, column, error->message);
    exit_code = T2I_EXIT_USAGE;
    goto out_deinit;
  }
  /* the other ranks of a job print errors only (rank 0 reports) */
  quiet = opt.quiet || (rank > 0 && !opt.verbose);
  if (!quiet)
    warn_unused_sets (sets, pp, filename);

  pipeline = build_pipeline (filename, pp, quiet, &exit_code);
  if (pipeline == NULL)
    goto out_deinit;

  if ((opt.device || opt.precision)
      && !set_session (pipeline, opt.device, opt.precision, &exit_code)) {
    gst_object_unref (pipeline);
    goto out_deinit;
  }

  reporter = t2i_reporter_new (stderr, rank == 0 && isatty (fileno (stderr)),
      quiet ? T2I_VERBOSITY_QUIET : opt.verbose ? T2I_VERBOSITY_VERBOSE :
      T2I_VERBOSITY_NORMAL);
  t2i_reporter_set_plain_interval (reporter, opt.progress_interval);
  if (rank > 0) {
    g_autofree gchar *prefix = g_strdup_printf ("rank %d: ", rank);
    t2i_reporter_set_prefix (reporter, prefix);
  }
  if (opt.json && rank == 0
      && !t2i_reporter_open_json (reporter, opt.json, &error)) {
    g_printerr ("t2i-launch: %s\n", error->message);
    gst_object_unref (pipeline);
    exit_code = T2I_EXIT_USAGE;
    goto out_deinit;
  }
  /* rank 0 alone writes the report */
  if (opt.report && rank == 0) {
    T2iHtmlReportInfo info = {
      .filename = filename,
      .original = text,
      .expanded = pp->text,
      .sets = sets,
      .used = pp->used,
      .envp = envp,
      .argv = argv,
    };

    html = t2i_html_report_new (opt.report, &info, &error);
    if (html == NULL) {
      g_printerr ("t2i-launch: %s\n", error->message);
      gst_object_unref (pipeline);
      exit_code = T2I_EXIT_USAGE;
      goto out_deinit;
    }
  }

  extras.html = html;
  extras.graph = rank == 0 ? opt.graph : NULL;
  extras.leave_on_error = t2i_dist_size () > 1;
  exit_code = t2i_run_pipeline (pipeline, reporter, &extras);
  if (exit_code != T2I_EXIT_OK && t2i_dist_size () > 1) {
    /* the other ranks may wait for this one in a collective: end the
     * job (mpirun then reports which rank aborted) */
    g_clear_pointer (&html, t2i_html_report_free);
    g_clear_pointer (&reporter, t2i_reporter_free);
    fflush (stdout);
    fflush (stderr);
    t2i_dist_abort (exit_code);
  }
  if (exit_code == T2I_EXIT_ABORTED) {
    /* streaming threads may be stuck: leave without joining them, and
     * without the temporary files of the saves they were writing */
    t2i_safetensors_abort_saves ();
    g_clear_pointer (&reporter, t2i_reporter_free);
    fflush (stdout);
    _exit (T2I_EXIT_ABORTED);
  }
  gst_object_unref (pipeline);
  if (!t2i_reporter_close_json (reporter, &error)
      && exit_code == T2I_EXIT_OK) {
    g_printerr ("t2i-launch: %s\n", error->message);
    exit_code = T2I_EXIT_RUNTIME_ERROR;
  }

out_deinit:
  g_clear_pointer (&html, t2i_html_report_free);
  g_clear_pointer (&reporter, t2i_reporter_free);
  t2i_plot_reset ();
  t2i_dist_finalize ();
  gst_deinit ();
out:
  g_strfreev (opt.sets);
  g_free (opt.json);
  g_free (opt.report);
  g_free (opt.graph);
  g_free (opt.device);
  g_free (opt.precision);
  return exit_code;
}
