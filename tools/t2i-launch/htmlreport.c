/* t2i-launch --report DIR: DIR/index.html, the plots it shows (PNG, drawn
 * with cairo) and copies of the sample grids in DIR/samples/.
 *
 * The page is static HTML with inline CSS and no script, so it opens
 * offline from the disk; while the run goes on it reloads itself every
 * T2I_HTML_REPORT_REFRESH seconds (a meta refresh), and the last version,
 * written when the run ends, does not.  Every file is written to a
 * temporary name and renamed, so a reload never sees half of one.  The
 * sample grids are copied when their t2i-samples message comes: a
 * samples= pipeline that writes the same file at every checkpoint still
 * leaves one grid per checkpoint in the report.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "t2i-config.h"

#include "htmlreport.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "plot.h"
#include "report.h"

/* one curve: y against the step */
typedef struct
{
  gchar *name;
  GArray *x;
  GArray *y;
} Series;

typedef struct
{
  gint64 step;
  gchar **files;                /* relative to the report folder */
  gchar **missing;              /* files named by the message but absent */
  gchar **captions;
  gint columns;
} Samples;

/* a t2i-metric (at the end) or a t2i-eval (after a checkpoint) */
typedef struct
{
  gint64 step;                  /* -1 for t2i-metric */
  gchar *source;
  gchar *kind;
  gdouble value;
  gchar *rest;                  /* n, extractor, details as text */
} Metric;

struct _T2iHtmlReport
{
  gchar *dir;
  gchar *page;                  /* DIR/index.html */
  /* the run */
  gchar *title;
  gchar *filename;
  gchar *original;
  gchar *expanded;
  GPtrArray *variables;         /* "NAME", "VALUE", "FROM" triples */
  gchar *command;
  gchar *started;
  gchar *versions;
  /* what came */
  GPtrArray *series;            /* Series*, in first-seen order */
  GHashTable *series_index;     /* name -> Series* */
  GstStructure *last_train;
  GPtrArray *samples;           /* Samples* */
  GPtrArray *evals;             /* Metric* */
  GPtrArray *metrics;           /* Metric* */
  GPtrArray *checkpoints;       /* "step N: path" */
  GPtrArray *problems;          /* error and warning lines */
  gchar *outcome;               /* NULL while running */
  /* writing */
  gboolean plots_dirty;
  gboolean page_dirty;
  gint64 last_write;
};

static void
series_free (gpointer p)
{
  Series *s = p;

  g_free (s->name);
  g_array_unref (s->x);
  g_array_unref (s->y);
  g_free (s);
}

static void
samples_free (gpointer p)
{
  Samples *s = p;

  g_strfreev (s->files);
  g_strfreev (s->missing);
  g_strfreev (s->captions);
  g_free (s);
}

static void
metric_free (gpointer p)
{
  Metric *m = p;

  g_free (m->source);
  g_free (m->kind);
  g_free (m->rest);
  g_free (m);
}

static gchar *
esc (const gchar * text)
{
  return g_markup_escape_text (text ? text : "", -1);
}

/* ------------------------------------------------------------------ */
/* Files                                                               */

static gboolean
write_file (const gchar * path, const gchar * data, gssize length,
    GError ** error)
{
  g_autoptr (GError) local = NULL;

  if (g_file_set_contents (path, data, length, &local))
    return TRUE;
  g_set_error (error, local->domain, local->code, "--report: %s",
      local->message);
  return FALSE;
}

/* "loss/G" -> "loss-G": a name that is safe in a file name */
static gchar *
file_safe (const gchar * name)
{
  return g_strcanon (g_strdup (name), "abcdefghijklmnopqrstuvwxyz"
      "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", '-');
}

/* ------------------------------------------------------------------ */
/* Collecting                                                          */

static void
add_point (T2iHtmlReport * r, const gchar * name, gdouble x, gdouble y)
{
  Series *s = g_hash_table_lookup (r->series_index, name);

  if (s == NULL) {
    s = g_new0 (Series, 1);
    s->name = g_strdup (name);
    s->x = g_array_new (FALSE, FALSE, sizeof (gdouble));
    s->y = g_array_new (FALSE, FALSE, sizeof (gdouble));
    g_ptr_array_add (r->series, s);
    g_hash_table_insert (r->series_index, s->name, s);
  }
  g_array_append_val (s->x, x);
  g_array_append_val (s->y, y);
  r->plots_dirty = TRUE;
}

typedef struct
{
  T2iHtmlReport *r;
  gdouble step;
} TrainPoint;

static gboolean
add_train_field (GQuark field, const GValue * value, gpointer user_data)
{
  TrainPoint *t = user_data;
  const gchar *name = g_quark_to_string (field);
  GValue d = G_VALUE_INIT;

  if (g_str_equal (name, "step") || g_str_equal (name, "epoch")
      || g_str_equal (name, "total-steps") || G_VALUE_HOLDS_BOOLEAN (value)
      || !g_value_type_transformable (G_VALUE_TYPE (value), G_TYPE_DOUBLE))
    return TRUE;
  g_value_init (&d, G_TYPE_DOUBLE);
  if (g_value_transform (value, &d))
    add_point (t->r, name, t->step, g_value_get_double (&d));
  return TRUE;
}

/* "n=100 extractor=none color=0.5 ...": what a table cell shows besides
 * the kind and the value */
static gchar *
metric_rest (const GstStructure * s)
{
  static const gchar *const skip[] = { "kind", "value", "step",
    "checkpoint", "source", NULL
  };
  g_autofree gchar *text = t2i_format_fields (s, skip);

  return g_strdup (g_strstrip (text));
}

static Metric *
metric_new (const GstStructure * s, const gchar * source, gint64 step)
{
  Metric *m = g_new0 (Metric, 1);
  const gchar *kind = gst_structure_get_string (s, "kind");

  m->step = step;
  m->source = g_strdup (source ? source : "?");
  m->kind = g_strdup (kind ? kind : "?");
  if (!t2i_structure_get_number (s, "value", &m->value))
    m->value = NAN;
  m->rest = metric_rest (s);
  return m;
}

static gchar **
string_array (const GstStructure * s, const gchar * field)
{
  const GValue *v = gst_structure_get_value (s, field);
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; v && GST_VALUE_HOLDS_ARRAY (v)
      && i < gst_value_array_get_size (v); i++) {
    const GValue *item = gst_value_array_get_value (v, i);

    if (G_VALUE_HOLDS_STRING (item))
      g_ptr_array_add (out, g_value_dup_string (item));
  }
  for (guint i = 0; v && GST_VALUE_HOLDS_LIST (v)
      && i < gst_value_list_get_size (v); i++) {
    const GValue *item = gst_value_list_get_value (v, i);

    if (G_VALUE_HOLDS_STRING (item))
      g_ptr_array_add (out, g_value_dup_string (item));
  }
  g_ptr_array_add (out, NULL);
  return (gchar **) g_ptr_array_free (out, FALSE);
}

static gboolean
is_image (const gchar * path)
{
  g_autofree gchar *lower = g_ascii_strdown (path, -1);

  return g_str_has_suffix (lower, ".png") || g_str_has_suffix (lower, ".jpg")
      || g_str_has_suffix (lower, ".jpeg") || g_str_has_suffix (lower,
      ".gif") || g_str_has_suffix (lower, ".webp")
      || g_str_has_suffix (lower, ".svg");
}

/* Copies the images of a t2i-samples message into DIR/samples/. */
static gboolean
add_samples (T2iHtmlReport * r, const GstStructure * s, GError ** error)
{
  Samples *sm = g_new0 (Samples, 1);
  g_auto (GStrv) files = string_array (s, "files");
  g_autoptr (GPtrArray) copied = g_ptr_array_new ();
  g_autoptr (GPtrArray) missing = g_ptr_array_new ();
  g_autofree gchar *folder = g_build_filename (r->dir, "samples", NULL);
  gdouble step = -1;

  t2i_structure_get_number (s, "step", &step);
  sm->step = (gint64) step;
  sm->captions = string_array (s, "captions");
  if (!gst_structure_get_int (s, "columns", &sm->columns))
    sm->columns = 0;
  g_ptr_array_add (r->samples, sm);
  if (g_mkdir_with_parents (folder, 0755) != 0) {
    int saved = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
        "--report: cannot create %s: %s", folder, g_strerror (saved));
    return FALSE;
  }
  for (guint i = 0; files[i]; i++) {
    g_autofree gchar *base = g_path_get_basename (files[i]);
    g_autofree gchar *name = g_strdup_printf ("%08" G_GINT64_FORMAT "-%s",
        MAX (sm->step, 0), base);
    g_autofree gchar *target = g_build_filename (folder, name, NULL);
    g_autofree gchar *data = NULL;
    gsize length;

    if (!is_image (files[i]))
      continue;
    if (!g_file_get_contents (files[i], &data, &length, NULL)) {
      g_ptr_array_add (missing, g_strdup (files[i]));
      continue;
    }
    if (!write_file (target, data, length, error))
      return FALSE;
    g_ptr_array_add (copied, g_build_filename ("samples", name, NULL));
  }
  g_ptr_array_add (copied, NULL);
  g_ptr_array_add (missing, NULL);
  sm->files = (gchar **) g_ptr_array_steal (copied, NULL);
  sm->missing = (gchar **) g_ptr_array_steal (missing, NULL);
  return TRUE;
}

/**
 * t2i_html_report_message:
 *
 * Takes a t2i-* element message: t2i-train (the curves), t2i-samples (the
 * grids, copied now), t2i-eval and t2i-metric (tables and, for t2i-eval,
 * a curve per metric), t2i-checkpoint.
 *
 * Returns: %FALSE with @error set when a sample grid could not be copied
 */
gboolean
t2i_html_report_message (T2iHtmlReport * r, const GstStructure * s,
    const gchar * source, GError ** error)
{
  const gchar *name = gst_structure_get_name (s);
  gdouble step = -1;

  t2i_structure_get_number (s, "step", &step);
  r->page_dirty = TRUE;
  if (g_str_equal (name, "t2i-train")) {
    TrainPoint t = { r, step };

    gst_structure_foreach (s, add_train_field, &t);
    g_clear_pointer (&r->last_train, gst_structure_free);
    r->last_train = gst_structure_copy (s);
  } else if (g_str_equal (name, "t2i-samples")) {
    return add_samples (r, s, error);
  } else if (g_str_equal (name, "t2i-eval")) {
    const gchar *metric_source = gst_structure_get_string (s, "source");
    Metric *m = metric_new (s, metric_source ? metric_source : source,
        (gint64) step);
    g_autofree gchar *series = g_strdup_printf ("eval/%s", m->kind);

    g_ptr_array_add (r->evals, m);
    add_point (r, series, step, m->value);
  } else if (g_str_equal (name, "t2i-metric")) {
    g_ptr_array_add (r->metrics, metric_new (s, source, -1));
  } else if (g_str_equal (name, "t2i-checkpoint")) {
    const gchar *path = gst_structure_get_string (s, "path");

    g_ptr_array_add (r->checkpoints, g_strdup_printf ("step %.0f: %s", step,
            path ? path : "?"));
  } else {
    r->page_dirty = FALSE;
  }
  return TRUE;
}

/* An error or warning line, shown on the page (the last 20). */
void
t2i_html_report_problem (T2iHtmlReport * r, const gchar * line)
{
  if (r->problems->len >= 20)
    g_ptr_array_remove_index (r->problems, 0);
  g_ptr_array_add (r->problems, g_strdup (line));
  r->page_dirty = TRUE;
}

/* ------------------------------------------------------------------ */
/* Plots                                                               */

typedef gboolean (*SeriesFilter) (const gchar * name, gconstpointer data);

static gboolean
has_prefix (const gchar * name, gconstpointer prefix)
{
  return g_str_has_prefix (name, prefix);
}

static gboolean
is_named (const gchar * name, gconstpointer other)
{
  return g_str_equal (name, other);
}

/* Draws the series that pass @filter into DIR/@file; FALSE (and no file)
 * when none does. */
static gboolean
plot (T2iHtmlReport * r, const gchar * file, const gchar * title,
    SeriesFilter filter, gconstpointer data, gboolean * drawn,
    GError ** error)
{
  g_autoptr (GArray) chosen = g_array_new (FALSE, FALSE,
      sizeof (T2iPlotSeries));
  g_autofree gchar *path = g_build_filename (r->dir, file, NULL);

  for (guint i = 0; i < r->series->len; i++) {
    Series *s = g_ptr_array_index (r->series, i);
    T2iPlotSeries p = { s->name, (gdouble *) s->x->data,
      (gdouble *) s->y->data, s->x->len
    };

    if (filter (s->name, data))
      g_array_append_val (chosen, p);
  }
  *drawn = chosen->len > 0;
  if (!*drawn)
    return TRUE;
  if (!t2i_plot_write_png (path, title, "step",
          (T2iPlotSeries *) chosen->data, chosen->len, error)) {
    g_prefix_error (error, "--report: ");
    return FALSE;
  }
  return TRUE;
}

/* the kinds of the t2i-eval metrics, in first-seen order */
static GPtrArray *
eval_kinds (T2iHtmlReport * r)
{
  GPtrArray *kinds = g_ptr_array_new ();

  for (guint i = 0; i < r->evals->len; i++) {
    Metric *m = g_ptr_array_index (r->evals, i);

    if (!g_ptr_array_find_with_equal_func (kinds, m->kind, g_str_equal,
            NULL))
      g_ptr_array_add (kinds, m->kind);
  }
  return kinds;
}

/* ------------------------------------------------------------------ */
/* The page                                                            */

static const gchar style[] =
    "body{font-family:sans-serif;margin:1.5em auto;max-width:1200px;"
    "padding:0 1em;color:#222;background:#fff}"
    "h1{font-size:1.4em;margin-bottom:.2em}h2{font-size:1.15em;"
    "margin-top:1.6em;border-bottom:1px solid #ddd}"
    ".status{font-size:1.05em;margin:.4em 0}"
    ".running{color:#1a6}.failed{color:#c22}.finished{color:#26a}"
    "progress{width:100%;height:1.1em}"
    "table{border-collapse:collapse;margin:.4em 0}"
    "td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left;"
    "vertical-align:top}th{background:#f3f3f3}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}"
    ".plots{display:flex;flex-wrap:wrap;gap:0 1.5em}"
    "img.plot{display:block;width:560px;max-width:100%;height:auto;"
    "margin:.5em 0}"
    ".samples{display:flex;flex-wrap:wrap;gap:1.5em}"
    "figure{margin:0;width:480px;max-width:100%}"
    "figure img{image-rendering:pixelated;width:480px;max-width:100%}"
    "ol.captions{display:grid;gap:.1em .6em;font-size:.75em;"
    "list-style-position:inside;padding:0;margin:.3em 0}"
    "pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}"
    ".problem{color:#c22;font-family:monospace;white-space:pre-wrap}";

static void
append_plot (GString * html, const gchar * file, const gchar * alt)
{
  g_string_append_printf (html, "<img class=\"plot\" src=\"%s\" alt=\"%s\" "
      "width=\"%d\" height=\"%d\">\n", file, alt, T2I_PLOT_WIDTH,
      T2I_PLOT_HEIGHT);
}

static void
append_status (T2iHtmlReport * r, GString * html, T2iProgress * progress)
{
  T2iProgressState st;
  gint64 now = g_get_monotonic_time ();
  const gchar *outcome = r->outcome ? r->outcome : "running";
  const gchar *klass = r->outcome == NULL ? "running" :
      g_str_has_prefix (r->outcome, "failed") ? "failed" : "finished";
  g_autoptr (GDateTime) time = g_date_time_new_now_local ();
  g_autofree gchar *clock = g_date_time_format (time, "%H:%M:%S");

  t2i_progress_get (progress, now, &st);
  /* the ETA is for a run that goes on */
  if (r->outcome != NULL)
    st.eta = -1;
  g_string_append_printf (html, "<p class=\"status %s\"><b>%s</b>", klass,
      outcome);
  if (st.known) {
    g_autofree gchar *line = t2i_format_progress_line (&st);

    /* "progress 50/60 (83%) ..." without its first word */
    g_string_append_printf (html, " &mdash; step %s", strchr (line, ' ') + 1);
  }
  g_string_append_printf (html, " <small>(updated %s%s)</small></p>\n",
      clock, r->outcome ? "" : "; this page reloads every "
      G_STRINGIFY (T2I_HTML_REPORT_REFRESH) " s while the run goes on");
  if (st.known && st.total > 0)
    g_string_append_printf (html, "<progress value=\"%" G_GINT64_FORMAT
        "\" max=\"%" G_GINT64_FORMAT "\"></progress>\n",
        MIN (st.step, st.total), st.total);
  for (guint i = 0; i < r->problems->len; i++) {
    g_autofree gchar *line = esc (g_ptr_array_index (r->problems, i));

    g_string_append_printf (html, "<p class=\"problem\">%s</p>\n", line);
  }
}

typedef struct
{
  GString *head;
  GString *row;
} LastRow;

static gboolean
append_last_field (GQuark field, const GValue * value, gpointer user_data)
{
  LastRow *t = user_data;
  g_autofree gchar *name = esc (g_quark_to_string (field));
  g_autofree gchar *text = NULL;
  g_autofree gchar *cell = NULL;

  if (G_VALUE_HOLDS (value, GST_TYPE_STRUCTURE)
      || GST_VALUE_HOLDS_ARRAY (value) || GST_VALUE_HOLDS_LIST (value))
    return TRUE;
  if (G_VALUE_HOLDS_DOUBLE (value))
    text = g_strdup_printf ("%.6g", g_value_get_double (value));
  else if (G_VALUE_HOLDS_STRING (value))
    text = g_value_dup_string (value);
  else
    text = gst_value_serialize (value);
  cell = esc (text);
  g_string_append_printf (t->head, "<th>%s</th>", name);
  g_string_append_printf (t->row, "<td class=\"num\">%s</td>", cell);
  return TRUE;
}

static void
append_training (T2iHtmlReport * r, GString * html, GError ** error,
    gboolean * ok)
{
  gboolean loss = FALSE, lr = FALSE, speed = FALSE;

  if (r->plots_dirty) {
    *ok = *ok && plot (r, "loss.png", "Losses (mean over each report)",
        has_prefix, "loss/", &loss, error);
    *ok = *ok && plot (r, "lr.png", "Learning rates", has_prefix, "lr/",
        &lr, error);
    *ok = *ok && plot (r, "speed.png", "Items per second", is_named,
        "items-per-second", &speed, error);
  } else {
    for (guint i = 0; i < r->series->len; i++) {
      const gchar *name = ((Series *) g_ptr_array_index (r->series,
              i))->name;

      loss = loss || g_str_has_prefix (name, "loss/");
      lr = lr || g_str_has_prefix (name, "lr/");
      speed = speed || g_str_equal (name, "items-per-second");
    }
  }
  if (!loss && !lr && !speed && r->last_train == NULL)
    return;
  g_string_append (html, "<h2>Training</h2>\n");
  if (r->last_train != NULL) {
    LastRow t = { g_string_new ("<tr><th>report</th>"),
      g_string_new ("<tr><td>last</td>")
    };

    gst_structure_foreach (r->last_train, append_last_field, &t);
    g_string_append_printf (html, "<table>%s</tr>%s</tr></table>\n",
        t.head->str, t.row->str);
    g_string_free (t.head, TRUE);
    g_string_free (t.row, TRUE);
  }
  g_string_append (html, "<div class=\"plots\">\n");
  if (loss)
    append_plot (html, "loss.png", "losses");
  if (lr)
    append_plot (html, "lr.png", "learning rates");
  if (speed)
    append_plot (html, "speed.png", "items per second");
  g_string_append (html, "</div>\n");
}

static void
append_samples (T2iHtmlReport * r, GString * html)
{
  if (r->samples->len == 0)
    return;
  g_string_append (html, "<h2>Samples</h2>\n<div class=\"samples\">\n");
  /* the newest first */
  for (guint i = r->samples->len; i-- > 0;) {
    Samples *s = g_ptr_array_index (r->samples, i);

    g_string_append (html, "<figure>\n");
    for (guint f = 0; s->files[f]; f++) {
      g_autofree gchar *src = esc (s->files[f]);

      g_string_append_printf (html, "<img src=\"%s\" alt=\"samples at step "
          "%" G_GINT64_FORMAT "\">\n", src, s->step);
    }
    g_string_append_printf (html, "<figcaption>step %" G_GINT64_FORMAT,
        s->step);
    for (guint f = 0; s->missing[f]; f++) {
      g_autofree gchar *path = esc (s->missing[f]);

      g_string_append_printf (html, " (%s could not be read)", path);
    }
    if (s->files[0] == NULL && s->missing[0] == NULL)
      g_string_append (html, " (the samples pipeline wrote no image file)");
    g_string_append (html, "</figcaption>\n");
    if (s->captions[0] != NULL) {
      g_string_append_printf (html, "<ol class=\"captions\" style=\""
          "grid-template-columns:repeat(%d,1fr)\">", MAX (s->columns, 1));
      for (guint c = 0; s->captions[c]; c++) {
        g_autofree gchar *caption = esc (s->captions[c]);

        g_string_append_printf (html, "<li>%s</li>", caption);
      }
      g_string_append (html, "</ol>\n");
    }
    g_string_append (html, "</figure>\n");
  }
  g_string_append (html, "</div>\n");
}

static void
append_metric_rows (GString * html, GPtrArray * metrics, gboolean steps)
{
  g_string_append_printf (html, "<table><tr>%s<th>element</th><th>metric"
      "</th><th>value</th><th>details</th></tr>\n", steps ? "<th>step</th>" :
      "");
  for (guint i = 0; i < metrics->len; i++) {
    Metric *m = g_ptr_array_index (metrics, i);
    g_autofree gchar *source = esc (m->source);
    g_autofree gchar *kind = esc (m->kind);
    g_autofree gchar *rest = esc (m->rest);

    g_string_append (html, "<tr>");
    if (steps)
      g_string_append_printf (html, "<td class=\"num\">%" G_GINT64_FORMAT
          "</td>", m->step);
    g_string_append_printf (html, "<td>%s</td><td>%s</td><td class=\"num\">"
        "%.6g</td><td>%s</td></tr>\n", source, kind, m->value, rest);
  }
  g_string_append (html, "</table>\n");
}

/* One row per checkpoint, one column per metric: its value. */
static void
append_eval_table (GString * html, GPtrArray * evals, GPtrArray * kinds)
{
  g_string_append (html, "<table><tr><th>step</th>");
  for (guint k = 0; k < kinds->len; k++) {
    g_autofree gchar *kind = esc (g_ptr_array_index (kinds, k));

    g_string_append_printf (html, "<th>%s</th>", kind);
  }
  g_string_append (html, "</tr>\n");
  for (guint i = 0; i < evals->len; i++) {
    gint64 step = ((Metric *) g_ptr_array_index (evals, i))->step;

    /* the first metric of each step starts its row */
    if (i > 0 && ((Metric *) g_ptr_array_index (evals, i - 1))->step == step)
      continue;
    g_string_append_printf (html, "<tr><td class=\"num\">%" G_GINT64_FORMAT
        "</td>", step);
    for (guint k = 0; k < kinds->len; k++) {
      const Metric *found = NULL;

      for (guint j = i; j < evals->len; j++) {
        const Metric *m = g_ptr_array_index (evals, j);

        if (m->step != step)
          break;
        if (g_str_equal (m->kind, g_ptr_array_index (kinds, k)))
          found = m;
      }
      if (found)
        g_string_append_printf (html, "<td class=\"num\">%.6g</td>",
            found->value);
      else
        g_string_append (html, "<td></td>");
    }
    g_string_append (html, "</tr>\n");
  }
  g_string_append (html, "</table>\n");
}

static void
append_evals (T2iHtmlReport * r, GString * html, GError ** error,
    gboolean * ok)
{
  g_autoptr (GPtrArray) kinds = NULL;

  if (r->evals->len == 0)
    return;
  kinds = eval_kinds (r);
  g_string_append (html, "<h2>Evaluation after each checkpoint</h2>\n"
      "<div class=\"plots\">\n");
  for (guint i = 0; i < kinds->len; i++) {
    const gchar *kind = g_ptr_array_index (kinds, i);
    g_autofree gchar *series = g_strdup_printf ("eval/%s", kind);
    g_autofree gchar *safe = file_safe (kind);
    g_autofree gchar *file = g_strdup_printf ("eval-%s.png", safe);
    g_autofree gchar *title = g_strdup_printf ("%s per checkpoint", kind);
    gboolean drawn = TRUE;

    if (r->plots_dirty)
      *ok = *ok && plot (r, file, title, is_named, series, &drawn, error);
    if (drawn)
      append_plot (html, file, kind);
  }
  g_string_append (html, "</div>\n");
  append_eval_table (html, r->evals, kinds);
  g_string_append (html, "<details><summary>every figure</summary>\n");
  append_metric_rows (html, r->evals, TRUE);
  g_string_append (html, "</details>\n");
}

static void
append_pre (GString * html, const gchar * text)
{
  g_autofree gchar *e = esc (text);

  g_string_append_printf (html, "<pre>%s</pre>\n", e);
}

static void
append_run (T2iHtmlReport * r, GString * html)
{
  g_autofree gchar *filename = esc (r->filename);
  g_autofree gchar *command = esc (r->command);
  g_autofree gchar *versions = esc (r->versions);

  if (r->checkpoints->len > 0) {
    g_string_append (html, "<h2>Checkpoints</h2>\n<ul>\n");
    for (guint i = 0; i < r->checkpoints->len; i++) {
      g_autofree gchar *line = esc (g_ptr_array_index (r->checkpoints, i));

      g_string_append_printf (html, "<li>%s</li>\n", line);
    }
    g_string_append (html, "</ul>\n");
  }

  g_string_append_printf (html, "<h2>Pipeline</h2>\n<p>%s</p>\n", filename);
  append_pre (html, r->original);
  g_string_append (html, "<details><summary>after comments and variables"
      "</summary>\n");
  append_pre (html, r->expanded);
  g_string_append (html, "</details>\n");

  g_string_append (html, "<h2>Variables</h2>\n");
  if (r->variables->len == 0)
    g_string_append (html, "<p>none</p>\n");
  else
    g_string_append (html, "<table><tr><th>name</th><th>value</th>"
        "<th>from</th></tr>\n");
  for (guint i = 0; i + 2 < r->variables->len; i += 3) {
    g_autofree gchar *name = esc (g_ptr_array_index (r->variables, i));
    g_autofree gchar *value = esc (g_ptr_array_index (r->variables, i + 1));

    g_string_append_printf (html, "<tr><td>%s</td><td>%s</td><td>%s</td>"
        "</tr>\n", name, value,
        (const gchar *) g_ptr_array_index (r->variables, i + 2));
  }
  if (r->variables->len > 0)
    g_string_append (html, "</table>\n");

  g_string_append_printf (html, "<h2>Run</h2>\n<table>"
      "<tr><th>command</th><td><code>%s</code></td></tr>"
      "<tr><th>started</th><td>%s</td></tr>"
      "<tr><th>versions</th><td>%s</td></tr></table>\n", command,
      r->started, versions);
}

static gboolean
write_page (T2iHtmlReport * r, T2iProgress * progress, GError ** error)
{
  GString *html = g_string_new (NULL);
  g_autofree gchar *title = esc (r->title);
  gboolean ok = TRUE;

  g_string_append_printf (html, "<!DOCTYPE html>\n<html lang=\"en\">\n"
      "<head>\n<meta charset=\"utf-8\">\n");
  if (r->outcome == NULL)
    g_string_append_printf (html, "<meta http-equiv=\"refresh\" content="
        "\"%d\">\n", T2I_HTML_REPORT_REFRESH);
  g_string_append_printf (html, "<title>%s &mdash; t2i report</title>\n"
      "<style>%s</style>\n</head>\n<body>\n<h1>%s</h1>\n", title, style,
      title);
  append_status (r, html, progress);
  append_training (r, html, error, &ok);
  append_evals (r, html, error, &ok);
  append_samples (r, html);
  if (r->metrics->len > 0) {
    g_string_append (html, "<h2>Metrics</h2>\n");
    append_metric_rows (html, r->metrics, FALSE);
  }
  append_run (r, html);
  g_string_append (html, "</body>\n</html>\n");

  ok = ok && write_file (r->page, html->str, html->len, error);
  g_string_free (html, TRUE);
  if (ok) {
    r->plots_dirty = FALSE;
    r->page_dirty = FALSE;
    r->last_write = g_get_monotonic_time ();
  }
  return ok;
}

/**
 * t2i_html_report_update:
 * @force: write now, whatever changed
 *
 * Rewrites the page (and the plots whose data changed) when something
 * came since the last write and two seconds have passed, or every ten
 * seconds to move the elapsed time and the ETA on.
 */
gboolean
t2i_html_report_update (T2iHtmlReport * r, T2iProgress * progress,
    gboolean force, GError ** error)
{
  gint64 since = g_get_monotonic_time () - r->last_write;

  if (!force && !(r->page_dirty && since >= 2 * G_USEC_PER_SEC)
      && since < 10 * G_USEC_PER_SEC)
    return TRUE;
  return write_page (r, progress, error);
}

/* The last version of the page, without the reload; @outcome is
 * "finished", "failed" or "interrupted". */
gboolean
t2i_html_report_finish (T2iHtmlReport * r, T2iProgress * progress,
    const gchar * outcome, GError ** error)
{
  g_free (r->outcome);
  r->outcome = g_strdup (outcome);
  return write_page (r, progress, error);
}

/* ------------------------------------------------------------------ */

static void
add_variable (T2iHtmlReport * r, const gchar * name, const gchar * value,
    const gchar * from)
{
  g_ptr_array_add (r->variables, g_strdup (name));
  g_ptr_array_add (r->variables, g_strdup (value));
  g_ptr_array_add (r->variables, g_strdup (from));
}

static void
collect_variables (T2iHtmlReport * r, const T2iHtmlReportInfo * info)
{
  GList *names = NULL;

  if (info->used)
    names = g_hash_table_get_keys (info->used);
  if (info->sets) {
    GList *sets = g_hash_table_get_keys (info->sets);

    for (GList * l = sets; l; l = l->next)
      if (!g_list_find_custom (names, l->data, (GCompareFunc) strcmp))
        names = g_list_prepend (names, l->data);
    g_list_free (sets);
  }
  names = g_list_sort (names, (GCompareFunc) strcmp);
  for (GList * l = names; l; l = l->next) {
    const gchar *name = l->data;
    const gchar *set = info->sets ? g_hash_table_lookup (info->sets, name) :
        NULL;
    const gchar *env = info->envp ? g_environ_getenv (info->envp, name) :
        NULL;
    gboolean used = info->used && g_hash_table_contains (info->used, name);

    if (set)
      add_variable (r, name, set, used ? "--set" : "--set (not used)");
    else if (env && *env)
      add_variable (r, name, env, "environment");
    else
      add_variable (r, name, "", "its default in the file");
  }
  g_list_free (names);
}

/**
 * t2i_html_report_new:
 *
 * Creates @dir (with its parents) and writes a first page, so that a
 * mistake in the folder fails before the pipeline runs.
 */
T2iHtmlReport *
t2i_html_report_new (const gchar * dir, const T2iHtmlReportInfo * info,
    GError ** error)
{
  g_autoptr (T2iHtmlReport) r = g_new0 (T2iHtmlReport, 1);
  g_autoptr (GDateTime) now = g_date_time_new_now_local ();
  g_autofree gchar *gst = gst_version_string ();
  g_autoptr (T2iProgress) progress = t2i_progress_new (0);

  r->dir = g_strdup (dir);
  r->page = g_build_filename (dir, "index.html", NULL);
  r->filename = g_strdup (info->filename);
  r->title = g_path_get_basename (info->filename);
  r->original = g_strdup (info->original);
  r->expanded = g_strdup (info->expanded);
  r->variables = g_ptr_array_new_with_free_func (g_free);
  r->command = info->argv ? g_strjoinv (" ", info->argv) : g_strdup ("");
  r->started = g_date_time_format (now, "%Y-%m-%d %H:%M:%S %Z");
  r->versions = g_strdup_printf ("t2i %s, %s, cairo %s", T2I_VERSION, gst,
      t2i_plot_cairo_version ());
  r->series = g_ptr_array_new_with_free_func (series_free);
  r->series_index = g_hash_table_new (g_str_hash, g_str_equal);
  r->samples = g_ptr_array_new_with_free_func (samples_free);
  r->evals = g_ptr_array_new_with_free_func (metric_free);
  r->metrics = g_ptr_array_new_with_free_func (metric_free);
  r->checkpoints = g_ptr_array_new_with_free_func (g_free);
  r->problems = g_ptr_array_new_with_free_func (g_free);
  collect_variables (r, info);

  if (g_mkdir_with_parents (dir, 0755) != 0) {
    int saved = errno;

    g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (saved),
        "--report: cannot create %s: %s", dir, g_strerror (saved));
    return NULL;
  }
  if (!write_page (r, progress, error))
    return NULL;
  return g_steal_pointer (&r);
}

const gchar *
t2i_html_report_get_dir (T2iHtmlReport * r)
{
  return r->dir;
}

void
t2i_html_report_free (T2iHtmlReport * r)
{
  if (r == NULL)
    return;
  g_free (r->dir);
  g_free (r->page);
  g_free (r->title);
  g_free (r->filename);
  g_free (r->original);
  g_free (r->expanded);
  g_clear_pointer (&r->variables, g_ptr_array_unref);
  g_free (r->command);
  g_free (r->started);
  g_free (r->versions);
  g_clear_pointer (&r->series, g_ptr_array_unref);
  g_clear_pointer (&r->series_index, g_hash_table_unref);
  g_clear_pointer (&r->last_train, gst_structure_free);
  g_clear_pointer (&r->samples, g_ptr_array_unref);
  g_clear_pointer (&r->evals, g_ptr_array_unref);
  g_clear_pointer (&r->metrics, g_ptr_array_unref);
  g_clear_pointer (&r->checkpoints, g_ptr_array_unref);
  g_clear_pointer (&r->problems, g_ptr_array_unref);
  g_free (r->outcome);
  g_free (r);
}
