/* Printing for t2i-launch: status line, message lines and the JSON log.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "report.h"
/* libt2i's own t2i_text_one_line (), for messages that quote bytes */
#include "text.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Redraw the status line at most this often (microseconds). */
#define REDRAW_INTERVAL (100 * G_TIME_SPAN_MILLISECOND)

struct _T2iReporter
{
  FILE *out;
  gboolean interactive;
  T2iVerbosity verbosity;
  FILE *json;
  gchar *json_path;             /* for messages */
  gboolean json_failed;         /* a write failed; reported once */
  gint64 start;
  T2iProgress *progress;
  gchar *prefix;                /* before every printed line, or NULL */
  /* the live status line (interactive only) */
  gchar *status;
  gboolean status_shown;
  gboolean status_dirty;
  gint64 last_draw;
  /* plain progress lines (not interactive) */
  gint64 plain_interval;
  gint64 plain_time;
  gint64 plain_step;
  gboolean plain_finished;
};

/* ------------------------------------------------------------------ */
/* Field access and formatting                                         */

static gboolean
get_double (const GstStructure * s, const gchar * field, gdouble * out)
{
  return t2i_structure_get_number (s, field, out);
}

static gboolean
get_int (const GstStructure * s, const gchar * field, gint64 * out)
{
  gdouble d;

  if (!get_double (s, field, &d) || !isfinite (d))
    return FALSE;
  *out = (gint64) d;
  return TRUE;
}

static gboolean
is_integer_type (GType type)
{
  return type == G_TYPE_INT || type == G_TYPE_UINT || type == G_TYPE_LONG
      || type == G_TYPE_ULONG || type == G_TYPE_INT64 || type == G_TYPE_UINT64
      || type == G_TYPE_CHAR || type == G_TYPE_UCHAR;
}

/* A field value as text for a line: numbers plain, strings unquoted. */
static gchar *
value_to_text (const GValue * v, const gchar * double_format)
{
  GType type = G_VALUE_TYPE (v);

  if (type == G_TYPE_STRING)
    return g_strdup (g_value_get_string (v) ? g_value_get_string (v) : "");
  if (type == G_TYPE_BOOLEAN)
    return g_strdup (g_value_get_boolean (v) ? "true" : "false");
  if (type == G_TYPE_DOUBLE || type == G_TYPE_FLOAT) {
    GValue d = G_VALUE_INIT;
    gchar *text;

    g_value_init (&d, G_TYPE_DOUBLE);
    g_value_transform (v, &d);
    text = g_strdup_printf (double_format, g_value_get_double (&d));
    g_value_unset (&d);
    return text;
  }
  if (type == G_TYPE_UINT64)
    return g_strdup_printf ("%" G_GUINT64_FORMAT, g_value_get_uint64 (v));
  if (is_integer_type (type)) {
    GValue i = G_VALUE_INIT;
    gchar *text;

    g_value_init (&i, G_TYPE_INT64);
    g_value_transform (v, &i);
    text = g_strdup_printf ("%" G_GINT64_FORMAT, g_value_get_int64 (&i));
    g_value_unset (&i);
    return text;
  }
  {
    gchar *text = gst_value_serialize (v);

    return text != NULL ? text : g_strdup ("?");
  }
}

typedef struct
{
  GString *line;
  const gchar *const *skip;
  const gchar *skip_prefix;     /* nullable */
} AppendFields;

static gboolean
append_field (GQuark field, const GValue * value, gpointer user_data)
{
  AppendFields *a = user_data;
  const gchar *name = g_quark_to_string (field);
  g_autofree gchar *text = NULL;

  if ((a->skip != NULL && g_strv_contains (a->skip, name))
      || (a->skip_prefix != NULL && g_str_has_prefix (name, a->skip_prefix)))
    return TRUE;
  if (G_VALUE_HOLDS (value, GST_TYPE_STRUCTURE)
      || G_VALUE_HOLDS (value, GST_TYPE_ARRAY)
      || G_VALUE_HOLDS (value, GST_TYPE_LIST))
    return TRUE;                /* nested data: in the JSON log only */
  text = value_to_text (value, g_str_has_prefix (name, "loss/") ? "%.4f" :
      "%.6g");
  g_string_append_printf (a->line, " %s=%s", name, text);
  return TRUE;
}

/**
 * t2i_format_train:
 *
 * "step 100/1000 epoch 1 loss/G=0.6931 loss/D=1.3863 12.3 items/s": step
 * with total-steps when known, epoch when given, every other field as
 * name=value (losses with 4 decimals), then items-per-second.
 */
gchar *
t2i_format_train (const GstStructure * s)
{
  static const gchar *const known[] = { "step", "epoch", "total-steps",
    "items-per-second", NULL
  };
  GString *line = g_string_new ("step");
  AppendFields a = { line, known };
  gint64 step, total, epoch;
  gdouble rate;

  if (get_int (s, "step", &step))
    g_string_append_printf (line, " %" G_GINT64_FORMAT, step);
  else
    g_string_append (line, " ?");
  if (get_int (s, "total-steps", &total) && total > 0)
    g_string_append_printf (line, "/%" G_GINT64_FORMAT, total);
  if (get_int (s, "epoch", &epoch))
    g_string_append_printf (line, " epoch %" G_GINT64_FORMAT, epoch);
  gst_structure_foreach (s, append_field, &a);
  if (get_double (s, "items-per-second", &rate))
    g_string_append_printf (line, " %.1f items/s", rate);
  return g_string_free (line, FALSE);
}

/* "progress 5/10" */
gchar *
t2i_format_progress (const GstStructure * s)
{
  GString *line = g_string_new ("progress");
  gint64 step, total;

  if (get_int (s, "step", &step))
    g_string_append_printf (line, " %" G_GINT64_FORMAT, step);
  if (get_int (s, "total", &total) && total > 0)
    g_string_append_printf (line, "/%" G_GINT64_FORMAT, total);
  return g_string_free (line, FALSE);
}

/* "checkpoint step 500: runs/x.safetensors" */
gchar *
t2i_format_checkpoint (const GstStructure * s)
{
  const gchar *path = gst_structure_get_string (s, "path");
  gint64 step;

  if (get_int (s, "step", &step))
    return g_strdup_printf ("checkpoint step %" G_GINT64_FORMAT ": %s",
        step, path ? path : "?");
  return g_strdup_printf ("checkpoint: %s", path ? path : "?");
}

/**
 * t2i_format_fields:
 *
 * " n=1000 extractor=inception-v3 top1=0.25": the scalar fields of @s but
 * those in @skip, then the scalar fields of its `details` structure.
 */
gchar *
t2i_format_fields (const GstStructure * s, const gchar * const *skip)
{
  const GValue *details = gst_structure_get_value (s, "details");
  GString *line = g_string_new (NULL);
  AppendFields a = { line, skip };

  gst_structure_foreach (s, append_field, &a);
  if (details != NULL && G_VALUE_HOLDS (details, GST_TYPE_STRUCTURE)
      && gst_value_get_structure (details) != NULL) {
    AppendFields d = { line, NULL };

    gst_structure_foreach (gst_value_get_structure (details), append_field, &d);
  }
  return g_string_free (line, FALSE);
}

/* "metric fid=12.3456 n=1000 extractor=inception-v3 key=value..." with the
 * scalar fields of details appended. */
gchar *
t2i_format_metric (const GstStructure * s)
{
  static const gchar *const known[] = { "kind", "value", NULL };
  const gchar *kind = gst_structure_get_string (s, "kind");
  const GValue *value = gst_structure_get_value (s, "value");
  GString *line = g_string_new ("metric ");
  g_autofree gchar *fields = t2i_format_fields (s, known);

  g_string_append (line, kind ? kind : "?");
  if (value != NULL) {
    g_autofree gchar *text = value_to_text (value, "%.6g");

    g_string_append_printf (line, "=%s", text);
  }
  g_string_append (line, fields);
  return g_string_free (line, FALSE);
}

/* "samples step 500: runs/x-samples-500.png" (the files, comma-separated) */
gchar *
t2i_format_samples (const GstStructure * s)
{
  const GValue *files = gst_structure_get_value (s, "files");
  GString *line = g_string_new ("samples");
  gint64 step;

  if (get_int (s, "step", &step))
    g_string_append_printf (line, " step %" G_GINT64_FORMAT, step);
  g_string_append_c (line, ':');
  for (guint i = 0; files && GST_VALUE_HOLDS_ARRAY (files)
      && i < gst_value_array_get_size (files); i++) {
    const GValue *f = gst_value_array_get_value (files, i);

    if (G_VALUE_HOLDS_STRING (f))
      g_string_append_printf (line, "%s %s", i ? "," : "",
          g_value_get_string (f));
  }
  if (files == NULL || gst_value_array_get_size (files) == 0)
    g_string_append (line, " no files");
  return g_string_free (line, FALSE);
}

/* "eval step 500: metric attr-acc=0.5 n=100 ..." */
gchar *
t2i_format_eval (const GstStructure * s)
{
  static const gchar *const skip[] = { "step", "checkpoint", "source", NULL };
  g_autoptr (GstStructure) metric = gst_structure_copy (s);
  g_autofree gchar *text = NULL;
  gint64 step;

  gst_structure_remove_fields (metric, skip[0], skip[1], skip[2], NULL);
  text = t2i_format_metric (metric);
  if (get_int (s, "step", &step))
    return g_strdup_printf ("eval step %" G_GINT64_FORMAT ": %s", step,
        text);
  return g_strdup_printf ("eval: %s", text);
}

/* "1:05", "2:03:04" */
gchar *
t2i_format_duration (gdouble seconds)
{
  guint64 s = (guint64) (MAX (seconds, 0) + 0.5);

  if (s >= 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT ":%02u:%02u", s / 3600,
        (guint) (s / 60 % 60), (guint) (s % 60));
  return g_strdup_printf ("%u:%02u", (guint) (s / 60), (guint) (s % 60));
}

/* " 12.3 items/s elapsed 0:41 ETA 0:08" */
static void
append_times (GString * line, const T2iProgressState * st)
{
  g_autofree gchar *elapsed = t2i_format_duration (st->elapsed);

  if (st->items_per_second >= 0)
    g_string_append_printf (line, " %.1f items/s", st->items_per_second);
  g_string_append_printf (line, " elapsed %s", elapsed);
  if (st->eta >= 0) {
    g_autofree gchar *eta = t2i_format_duration (st->eta);

    g_string_append_printf (line, " ETA %s", eta);
  }
}

static gint
percent (const T2iProgressState * st)
{
  return (gint) CLAMP (100 * st->step / st->total, 0, 100);
}

/**
 * t2i_format_status:
 * @train: (nullable): the last t2i-train message
 *
 * The live status line: "[ 83%] step 50/60 epoch 1 loss/D=1.3863
 * loss/G=0.6931 12.3 items/s elapsed 0:41 ETA 0:08": the percentage and
 * total when known, the epoch and the scalar fields of the last t2i-train
 * (losses; not its learning rates or phase), the rate, the time since the
 * start and the time left when it can be estimated.
 */
gchar *
t2i_format_status (const T2iProgressState * st, const GstStructure * train)
{
  static const gchar *const known[] = { "step", "epoch", "total-steps",
    "items-per-second", "phase", NULL
  };
  GString *line = g_string_new (NULL);
  gint64 epoch;

  if (st->total > 0)
    g_string_append_printf (line, "[%3d%%] step %" G_GINT64_FORMAT "/%"
        G_GINT64_FORMAT, percent (st), st->step, st->total);
  else
    g_string_append_printf (line, "step %" G_GINT64_FORMAT, st->step);
  if (train != NULL) {
    /* the learning rates are in the plain lines and the report */
    AppendFields a = { line, known, "lr/" };

    if (get_int (train, "epoch", &epoch))
      g_string_append_printf (line, " epoch %" G_GINT64_FORMAT, epoch);
    gst_structure_foreach (train, append_field, &a);
  }
  append_times (line, st);
  return g_string_free (line, FALSE);
}

/* The plain progress line: "progress 50/60 (83%) 12.3 items/s elapsed
 * 0:41 ETA 0:08". */
gchar *
t2i_format_progress_line (const T2iProgressState * st)
{
  GString *line = g_string_new (NULL);

  g_string_append_printf (line, "progress %" G_GINT64_FORMAT, st->step);
  if (st->total > 0)
    g_string_append_printf (line, "/%" G_GINT64_FORMAT " (%d%%)", st->total,
        percent (st));
  append_times (line, st);
  return g_string_free (line, FALSE);
}

/**
 * t2i_shorten_debug:
 *
 * The useful part of an error's debug string: without the
 * "file.c(123): function (): /GstPipeline:..." header, on one line, at
 * most 200 characters.
 *
 * Returns: (transfer full) (nullable): the text, or %NULL if nothing is
 *   left
 */
gchar *
t2i_shorten_debug (const gchar * debug)
{
  const gchar *nl;
  GString *s;

  if (debug == NULL)
    return NULL;
  nl = strchr (debug, '\n');
  if (strstr (debug, "(): ") != NULL && (nl == NULL
          || strstr (debug, "(): ") < nl))
    debug = nl != NULL ? nl + 1 : "";

  s = g_string_new (NULL);
  for (const gchar * p = debug; *p != '\0'; p++) {
    if (g_ascii_isspace (*p)) {
      if (s->len > 0 && s->str[s->len - 1] != ' ')
        g_string_append_c (s, ' ');
    } else {
      g_string_append_c (s, *p);
    }
  }
  while (s->len > 0 && s->str[s->len - 1] == ' ')
    g_string_truncate (s, s->len - 1);
  if (s->len > 200) {
    gsize end = 197;

    /* do not cut a character in two */
    while (end > 0 && ((guchar) s->str[end] & 0xc0) == 0x80)
      end--;
    g_string_truncate (s, end);
    g_string_append (s, "...");
  }
  if (s->len == 0) {
    g_string_free (s, TRUE);
    return NULL;
  }
  return g_string_free (s, FALSE);
}

/* "filesrc0: Resource not found. (No such file "/nonexistent")"; a
 * message that quotes a file's bytes stays one line */
gchar *
t2i_format_error (const gchar * source, const GError * error,
    const gchar * debug)
{
  g_autofree gchar *detail = t2i_shorten_debug (debug);
  g_autofree gchar *message = t2i_text_one_line (error->message);
  if (detail != NULL && g_strcmp0 (detail, error->message) != 0)
    return g_strdup_printf ("%s: %s (%s)", source, message, detail);
  return g_strdup_printf ("%s: %s", source, message);
}

/* ------------------------------------------------------------------ */
/* JSON                                                                */

static JsonNode *
double_to_json (gdouble d)
{
  JsonNode *node = json_node_new (JSON_NODE_VALUE);

  /* JSON has no NaN or infinities: they become strings */
  if (isnan (d))
    json_node_set_string (node, "NaN");
  else if (isinf (d))
    json_node_set_string (node, d > 0 ? "Infinity" : "-Infinity");
  else
    json_node_set_double (node, d);
  return node;
}

static gboolean
add_member (GQuark field, const GValue * value, gpointer user_data)
{
  JsonObject *object = user_data;
  const gchar *name = g_quark_to_string (field);

  if (!json_object_has_member (object, name))
    json_object_set_member (object, name, t2i_value_to_json (value));
  return TRUE;
}

static JsonNode *
structure_to_json (const GstStructure * s)
{
  JsonObject *object = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (object, "type", gst_structure_get_name (s));
  gst_structure_foreach (s, add_member, object);
  json_node_take_object (node, object);
  return node;
}

/**
 * t2i_value_to_json:
 *
 * Booleans, numbers and strings as themselves, nested structures as
 * objects (their name as "type"), arrays and lists as arrays, enums as
 * their nick, anything else as its GStreamer serialisation.
 */
JsonNode *
t2i_value_to_json (const GValue * value)
{
  GType type = G_VALUE_TYPE (value);
  JsonNode *node;

  if (type == G_TYPE_BOOLEAN) {
    node = json_node_new (JSON_NODE_VALUE);
    json_node_set_boolean (node, g_value_get_boolean (value));
    return node;
  }
  if (type == G_TYPE_DOUBLE)
    return double_to_json (g_value_get_double (value));
  if (type == G_TYPE_FLOAT)
    return double_to_json (g_value_get_float (value));
  if (type == G_TYPE_UINT64 && g_value_get_uint64 (value) > G_MAXINT64)
    return double_to_json ((gdouble) g_value_get_uint64 (value));
  if (is_integer_type (type)) {
    GValue i = G_VALUE_INIT;

    g_value_init (&i, G_TYPE_INT64);
    g_value_transform (value, &i);
    node = json_node_new (JSON_NODE_VALUE);
    json_node_set_int (node, g_value_get_int64 (&i));
    return node;
  }
  if (type == G_TYPE_STRING) {
    if (g_value_get_string (value) == NULL)
      return json_node_new (JSON_NODE_NULL);
    node = json_node_new (JSON_NODE_VALUE);
    json_node_set_string (node, g_value_get_string (value));
    return node;
  }
  if (type == GST_TYPE_STRUCTURE) {
    if (gst_value_get_structure (value) == NULL)
      return json_node_new (JSON_NODE_NULL);
    return structure_to_json (gst_value_get_structure (value));
  }
  if (type == GST_TYPE_ARRAY || type == GST_TYPE_LIST) {
    JsonArray *array = json_array_new ();
    gboolean is_array = type == GST_TYPE_ARRAY;
    guint n = is_array ? gst_value_array_get_size (value) :
        gst_value_list_get_size (value);

    for (guint i = 0; i < n; i++)
      json_array_add_element (array, t2i_value_to_json (is_array ?
              gst_value_array_get_value (value, i) :
              gst_value_list_get_value (value, i)));
    node = json_node_new (JSON_NODE_ARRAY);
    json_node_take_array (node, array);
    return node;
  }
  if (G_TYPE_IS_ENUM (type)) {
    GEnumValue *e = g_enum_get_value (g_type_class_peek (type),
        g_value_get_enum (value));

    node = json_node_new (JSON_NODE_VALUE);
    if (e != NULL)
      json_node_set_string (node, e->value_nick);
    else
      json_node_set_int (node, g_value_get_enum (value));
    return node;
  }
  {
    g_autofree gchar *text = gst_value_serialize (value);

    if (text == NULL)
      return json_node_new (JSON_NODE_NULL);
    node = json_node_new (JSON_NODE_VALUE);
    json_node_set_string (node, text);
    return node;
  }
}

/**
 * t2i_message_to_json:
 *
 * {"type": structure name, "element": source, "time": seconds since the
 * start, then every field}; fields named like those three are left out.
 */
JsonNode *
t2i_message_to_json (const GstStructure * s, const gchar * source, gdouble time)
{
  JsonObject *object = json_object_new ();
  JsonNode *node = json_node_new (JSON_NODE_OBJECT);

  json_object_set_string_member (object, "type", gst_structure_get_name (s));
  json_object_set_string_member (object, "element", source);
  json_object_set_double_member (object, "time", round (time * 1e3) / 1e3);
  gst_structure_foreach (s, add_member, object);
  json_node_take_object (node, object);
  return node;
}

/* ------------------------------------------------------------------ */
/* Reporter                                                            */

T2iReporter *
t2i_reporter_new (FILE * out, gboolean interactive, T2iVerbosity verbosity)
{
  T2iReporter *r = g_new0 (T2iReporter, 1);

  r->out = out;
  r->interactive = interactive;
  r->verbosity = verbosity;
  r->start = g_get_monotonic_time ();
  r->progress = t2i_progress_new (r->start);
  r->plain_interval = T2I_REPORTER_PLAIN_INTERVAL;
  r->plain_step = -1;
  return r;
}

/* How often a plain progress line is printed when the output is not a
 * terminal (0: at every t2i-progress message). */
void
t2i_reporter_set_plain_interval (T2iReporter * r, gdouble seconds)
{
  r->plain_interval = (gint64) (seconds * G_USEC_PER_SEC);
}

T2iProgress *
t2i_reporter_get_progress (T2iReporter * r)
{
  return r->progress;
}

static gboolean
json_write_failed (T2iReporter * r, int saved, GError ** error)
{
  r->json_failed = TRUE;
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
      "cannot write %s: %s", r->json_path, g_strerror (saved));
  return FALSE;
}

/* Puts @prefix before every line printed (a rank's "rank 1: "). */
void
t2i_reporter_set_prefix (T2iReporter * r, const gchar * prefix)
{
  g_free (r->prefix);
  r->prefix = g_strdup (prefix);
}

/* Opens the --json log; "-" is standard output. */
gboolean
t2i_reporter_open_json (T2iReporter * r, const gchar * path, GError ** error)
{
  g_free (r->json_path);
  if (g_strcmp0 (path, "-") == 0) {
    r->json_path = g_strdup ("standard output");
    r->json = stdout;
    return TRUE;
  }
  r->json_path = g_strdup (path);
  r->json = fopen (path, "w");
  if (r->json == NULL)
    return json_write_failed (r, errno, error);
  return TRUE;
}

/**
 * t2i_reporter_close_json:
 *
 * Closes the --json log (flushes standard output).
 *
 * Returns: %FALSE with @error set when what was written did not all reach
 *   the file (a failure that t2i_reporter_element_message() already
 *   reported is not reported again)
 */
gboolean
t2i_reporter_close_json (T2iReporter * r, GError ** error)
{
  FILE *json = g_steal_pointer (&r->json);
  gboolean ok;

  if (json == NULL)
    return TRUE;
  errno = 0;
  ok = json == stdout ? fflush (json) == 0 : fclose (json) == 0;
  if (!ok && !r->json_failed)
    return json_write_failed (r, errno, error);
  return TRUE;
}

static guint
terminal_width (T2iReporter * r)
{
  struct winsize ws;

  if (ioctl (fileno (r->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
    return ws.ws_col;
  return 80;
}

static void
draw_status (T2iReporter * r)
{
  gsize width = terminal_width (r) - 1;
  gsize len = strlen (r->status);

  if (len > width) {
    len = width;
    while (len > 0 && ((guchar) r->status[len] & 0xc0) == 0x80)
      len--;
  }
  fprintf (r->out, "\r%.*s\033[K", (gint) len, r->status);
  fflush (r->out);
  r->status_shown = TRUE;
  r->status_dirty = FALSE;
  r->last_draw = g_get_monotonic_time ();
}

static void
clear_status (T2iReporter * r)
{
  if (r->status_shown) {
    fputs ("\r\033[K", r->out);
    r->status_shown = FALSE;
  }
}

void
t2i_reporter_print (T2iReporter * r, T2iVerbosity level,
    const gchar * format, ...)
{
  va_list args;

  if (r->verbosity < level)
    return;
  clear_status (r);
  if (r->prefix)
    fputs (r->prefix, r->out);
  va_start (args, format);
  vfprintf (r->out, format, args);
  va_end (args);
  fputc ('\n', r->out);
  if (r->status != NULL)
    draw_status (r);
  fflush (r->out);
}

/* Redraws the live status line from the progress (interactive), at most
 * every REDRAW_INTERVAL unless @force. */
static void
update_status (T2iReporter * r, gint64 now, gboolean force)
{
  T2iProgressState st;

  t2i_progress_get (r->progress, now, &st);
  if (!st.known)
    return;
  g_free (r->status);
  r->status = t2i_format_status (&st, t2i_progress_last_train (r->progress));
  r->status_dirty = TRUE;
  if (force || st.finished || now - r->last_draw >= REDRAW_INTERVAL)
    draw_status (r);
}

/* A plain progress line (not interactive): the first, then one per
 * interval when the step moved, and the one that reaches the total. */
static void
plain_progress (T2iReporter * r, gint64 now)
{
  T2iProgressState st;
  g_autofree gchar *line = NULL;

  t2i_progress_get (r->progress, now, &st);
  if (!st.known || r->plain_finished)
    return;
  if (!st.finished && r->plain_step >= 0 && (st.step == r->plain_step
          || now - r->plain_time < r->plain_interval))
    return;
  r->plain_time = now;
  r->plain_step = st.step;
  r->plain_finished = st.finished;
  line = t2i_format_progress_line (&st);
  t2i_reporter_print (r, T2I_VERBOSITY_NORMAL, "%s", line);
}

/**
 * t2i_reporter_tick:
 *
 * Called about once a second: keeps the elapsed time and the ETA of the
 * status line moving between messages, and prints the plain progress
 * line when one is due.
 */
void
t2i_reporter_tick (T2iReporter * r)
{
  gint64 now = g_get_monotonic_time ();

  if (r->verbosity == T2I_VERBOSITY_QUIET)
    return;
  if (r->interactive)
    update_status (r, now, TRUE);
  else
    plain_progress (r, now);
}

static gboolean
write_json (T2iReporter * r, GstMessage * message, GError ** error)
{
  g_autoptr (JsonNode) node = NULL;
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autofree gchar *line = NULL;

  node = t2i_message_to_json (gst_message_get_structure (message),
      GST_MESSAGE_SRC_NAME (message),
      (g_get_monotonic_time () - r->start) / 1e6);
  json_generator_set_root (generator, node);
  line = json_generator_to_data (generator, NULL);
  errno = 0;
  if (fputs (line, r->json) == EOF || fputc ('\n', r->json) == EOF
      || fflush (r->json) != 0)
    return json_write_failed (r, errno, error);
  return TRUE;
}

/**
 * t2i_reporter_element_message:
 *
 * An element message: t2i-* ones are shown and logged, others only shown
 * with --verbose.
 *
 * Returns: %FALSE with @error set when the --json log could not be
 *   written (a full disk); the log takes nothing more then
 */
gboolean
t2i_reporter_element_message (T2iReporter * r, GstMessage * message,
    GError ** error)
{
  const GstStructure *s = gst_message_get_structure (message);
  const gchar *name, *source = GST_MESSAGE_SRC_NAME (message);
  gboolean is_train, is_progress;
  g_autofree gchar *text = NULL;
  gint64 now;

  if (s == NULL)
    return TRUE;
  name = gst_structure_get_name (s);
  if (!g_str_has_prefix (name, "t2i-")) {
    if (r->verbosity >= T2I_VERBOSITY_VERBOSE) {
      g_autofree gchar *str = gst_structure_to_string (s);

      t2i_reporter_print (r, T2I_VERBOSITY_VERBOSE, "%s: %s",
          source ? source : "?", str);
    }
    return TRUE;
  }

  if (r->json != NULL && !r->json_failed && !write_json (r, message, error))
    return FALSE;

  now = g_get_monotonic_time ();
  is_train = g_str_equal (name, "t2i-train");
  is_progress = t2i_progress_feed (r->progress, s, source, now);
  if (r->verbosity == T2I_VERBOSITY_QUIET)
    return TRUE;

  if (is_progress && r->interactive) {
    update_status (r, now, FALSE);
    return TRUE;
  }
  if (is_train) {
    g_autoptr (GstStructure) train = gst_structure_copy (s);
    T2iProgressState st;

    /* the total a trainer does not know comes from the source */
    t2i_progress_get (r->progress, now, &st);
    if (!gst_structure_has_field (train, "total-steps") && st.total > 0)
      gst_structure_set (train, "total-steps", G_TYPE_INT64, st.total, NULL);
    text = t2i_format_train (train);
  } else if (is_progress) {
    plain_progress (r, now);
    return TRUE;
  } else if (g_str_equal (name, "t2i-checkpoint"))
    text = t2i_format_checkpoint (s);
  else if (g_str_equal (name, "t2i-metric"))
    text = t2i_format_metric (s);
  else if (g_str_equal (name, "t2i-samples"))
    text = t2i_format_samples (s);
  else if (g_str_equal (name, "t2i-eval"))
    text = t2i_format_eval (s);
  else
    text = gst_structure_to_string (s);
  t2i_reporter_print (r, T2I_VERBOSITY_NORMAL, "%s", text);
  return TRUE;
}

/* Leaves the last status on screen and ends its line. */
void
t2i_reporter_finish (T2iReporter * r)
{
  if (r->status != NULL && r->status_dirty)
    draw_status (r);
  if (r->status_shown)
    fputc ('\n', r->out);
  r->status_shown = FALSE;
  g_clear_pointer (&r->status, g_free);
  fflush (r->out);
}

void
t2i_reporter_free (T2iReporter * r)
{
  if (r == NULL)
    return;
  t2i_reporter_finish (r);
  t2i_reporter_close_json (r, NULL);
  t2i_progress_free (r->progress);
  g_free (r->json_path);
  g_free (r->prefix);
  g_free (r);
}
