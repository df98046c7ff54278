/* Unit tests of t2i-launch's message lines, error lines and JSON log, its
 * progress (rate, ETA, several sources, resumed runs), the plots and the
 * HTML report.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cairo.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>

#include "htmlreport.h"
#include "plot.h"
#include "progress.h"
#include "report.h"

static void
assert_format (gchar * (*format) (const GstStructure *), const gchar * str,
    const gchar * expected)
{
  GstStructure *s = gst_structure_from_string (str, NULL);
  g_autofree gchar *line = NULL;

  g_assert_nonnull (s);
  line = format (s);
  g_assert_cmpstr (line, ==, expected);
  gst_structure_free (s);
}

static void
test_lines (void)
{
  assert_format (t2i_format_train, "t2i-train, step=(guint64)100, "
      "epoch=(int)1, total-steps=(int)1000, items-per-second=12.34, "
      "loss/G=0.693147, loss/D=(float)1.386294",
      "step 100/1000 epoch 1 loss/G=0.6931 loss/D=1.3863 12.3 items/s");
  /* no total, no epoch; other fields as name=value */
  assert_format (t2i_format_train, "t2i-train, step=(int)7, lr=0.0002, "
      "loss/G=(double)NaN, phase=D", "step 7 lr=0.0002 loss/G=nan phase=D");
  assert_format (t2i_format_progress, "t2i-progress, step=5, total=10",
      "progress 5/10");
  assert_format (t2i_format_progress, "t2i-progress, step=5", "progress 5");
  assert_format (t2i_format_checkpoint, "t2i-checkpoint, "
      "path=runs/x.safetensors, step=(guint64)500",
      "checkpoint step 500: runs/x.safetensors");
  assert_format (t2i_format_metric, "t2i-metric, kind=fid, value=12.5, "
      "n=1000, extractor=inception-v3, details=[details, top1=0.25, "
      "list=<1,2>]", "metric fid=12.5 n=1000 extractor=inception-v3 top1=0.25");
}

static void
test_more_lines (void)
{
  assert_format (t2i_format_samples, "t2i-samples, step=(gint64)500, "
      "files=<\"runs/a-500.png\", \"runs/b.png\">",
      "samples step 500: runs/a-500.png, runs/b.png");
  assert_format (t2i_format_samples, "t2i-samples, step=(gint64)5, "
      "files=(string)<>", "samples step 5: no files");
  assert_format (t2i_format_eval, "t2i-eval, kind=attr-acc, value=0.5, "
      "n=(gint64)100, extractor=none, details=[details, color=0.75], "
      "step=(gint64)1000, checkpoint=x.safetensors, source=metric0",
      "eval step 1000: metric attr-acc=0.5 n=100 extractor=none color=0.75");

  T2iProgressState st = { TRUE, 50, 60, 41.2, 8.4, 12.34, FALSE };
  g_autoptr (GstStructure) train = gst_structure_from_string ("t2i-train, "
      "step=(gint64)50, epoch=(gint64)1, phase=G, items-per-second=12.34, "
      "lr/G=0.0025, loss/D=1.386294, loss/G=0.693147", NULL);
  g_autofree gchar *status = t2i_format_status (&st, train);
  g_autofree gchar *line = t2i_format_progress_line (&st);
  /* the learning rates and the phase stay off the live line */
  g_assert_cmpstr (status, ==, "[ 83%] step 50/60 epoch 1 loss/D=1.3863 "
      "loss/G=0.6931 12.3 items/s elapsed 0:41 ETA 0:08");
  g_assert_cmpstr (line, ==, "progress 50/60 (83%) 12.3 items/s elapsed "
      "0:41 ETA 0:08");
  T2iProgressState unknown = { TRUE, 7, -1, 3725, -1, -1, FALSE };
  g_autofree gchar *s2 = t2i_format_status (&unknown, NULL);
  g_assert_cmpstr (s2, ==, "step 7 elapsed 1:02:05");
}

#define SECOND G_USEC_PER_SEC

static GstStructure *
msg (const gchar * text)
{
  GstStructure *s = gst_structure_from_string (text, NULL);

  g_assert_nonnull (s);
  return s;
}

static void
feed (T2iProgress * p, const gchar * text, const gchar * source, gint64 now)
{
  g_autoptr (GstStructure) s = msg (text);

  g_assert_true (t2i_progress_feed (p, s, source, now));
}

static void
test_progress (void)
{
  g_autoptr (T2iProgress) p = t2i_progress_new (0);
  g_autoptr (GstStructure) other = msg ("t2i-checkpoint, step=(gint64)1");
  T2iProgressState st;

  g_assert_false (t2i_progress_feed (p, other, "x", 0));
  t2i_progress_get (p, 0, &st);
  g_assert_false (st.known);

  /* a source: 0 of 100 at the start, 10 one second later */
  feed (p, "t2i-progress, step=(gint64)0, total=(gint64)100, "
      "batch-size=(gint64)8", "src", 0);
  t2i_progress_get (p, 0, &st);
  g_assert_true (st.known);
  g_assert_cmpint (st.step, ==, 0);
  g_assert_cmpfloat (st.eta, ==, -1);   /* no rate yet */
  feed (p, "t2i-progress, step=(gint64)10, total=(gint64)100, "
      "batch-size=(gint64)8", "src", SECOND);
  t2i_progress_get (p, SECOND, &st);
  g_assert_cmpint (st.step, ==, 10);
  g_assert_cmpint (st.total, ==, 100);
  g_assert_cmpfloat_with_epsilon (st.eta, 9.0, 1e-9);
  /* no trainer: items/s from the steps and the batch size */
  g_assert_cmpfloat_with_epsilon (st.items_per_second, 80.0, 1e-9);
  /* between messages the ETA counts down */
  t2i_progress_get (p, 3 * SECOND, &st);
  g_assert_cmpfloat_with_epsilon (st.eta, 7.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (st.elapsed, 3.0, 1e-9);

  /* a trainer ahead of the source's last message: its step counts, and
   * its items/s */
  feed (p, "t2i-train, step=(gint64)20, items-per-second=100.0, "
      "loss/G=1.0", "trainer", 2 * SECOND);
  t2i_progress_get (p, 2 * SECOND, &st);
  g_assert_cmpint (st.step, ==, 20);
  g_assert_cmpint (st.total, ==, 100);
  g_assert_cmpfloat_with_epsilon (st.eta, 8.0, 1e-9);
  g_assert_cmpfloat_with_epsilon (st.items_per_second, 100.0, 1e-9);
  g_assert_nonnull (t2i_progress_last_train (p));

  /* the end */
  feed (p, "t2i-progress, step=(gint64)100, total=(gint64)100", "src",
      10 * SECOND);
  t2i_progress_get (p, 10 * SECOND, &st);
  g_assert_true (st.finished);
  g_assert_cmpint (st.step, ==, 100);
  g_assert_cmpfloat (st.eta, ==, -1);
}

static void
test_progress_resumed (void)
{
  g_autoptr (T2iProgress) p = t2i_progress_new (0);
  T2iProgressState st;

  /* resumed at step 50: the rate counts the steps trained now only */
  feed (p, "t2i-progress, step=(gint64)50, total=(gint64)100", "src",
      SECOND);
  feed (p, "t2i-train, step=(gint64)60, loss/G=1.0", "trainer",
      3 * SECOND);
  t2i_progress_get (p, 3 * SECOND, &st);
  g_assert_cmpint (st.step, ==, 60);
  g_assert_cmpfloat_with_epsilon (st.eta, 8.0, 1e-9);   /* 40 at 5/s */
  g_assert_cmpfloat (st.items_per_second, ==, -1);
}

static void
test_progress_sources (void)
{
  g_autoptr (T2iProgress) p = t2i_progress_new (0);
  T2iProgressState st;

  /* two sources: the one least far along decides */
  feed (p, "t2i-progress, step=(gint64)9, total=(gint64)10", "a", 0);
  feed (p, "t2i-progress, step=(gint64)50, total=(gint64)100", "b", 0);
  t2i_progress_get (p, 0, &st);
  g_assert_cmpint (st.step, ==, 50);
  g_assert_cmpint (st.total, ==, 100);
  /* a total in t2i-train counts as well */
  feed (p, "t2i-train, step=(gint64)3, total-steps=(gint64)4", "t", 0);
  t2i_progress_get (p, 0, &st);
  g_assert_cmpint (st.step, ==, 50);
  g_assert_cmpint (st.total, ==, 100);
  feed (p, "t2i-progress, step=(gint64)10, total=(gint64)100", "b", 0);
  t2i_progress_get (p, 0, &st);
  g_assert_cmpint (st.step, ==, 10);
  g_assert_cmpint (st.total, ==, 100);

  /* no total: the step alone */
  g_autoptr (T2iProgress) q = t2i_progress_new (0);
  feed (q, "t2i-progress, step=(gint64)3", "src", 0);
  t2i_progress_get (q, 0, &st);
  g_assert_cmpint (st.step, ==, 3);
  g_assert_cmpint (st.total, ==, -1);
  g_assert_false (st.finished);
}

/* the RGB of a pixel of a cairo image surface */
static guint32
pixel (cairo_surface_t * surface, gint x, gint y)
{
  guchar *data = cairo_image_surface_get_data (surface);
  gint stride = cairo_image_surface_get_stride (surface);

  return *(guint32 *) (data + y * stride + 4 * x) & 0xffffff;
}

/* pixels within 3 of @rgb in each channel */
static guint
count_color (cairo_surface_t * surface, guint32 rgb)
{
  guint n = 0;

  for (gint y = 0; y < cairo_image_surface_get_height (surface); y++)
    for (gint x = 0; x < cairo_image_surface_get_width (surface); x++) {
      guint32 p = pixel (surface, x, y);
      gboolean near = TRUE;

      for (gint shift = 0; shift < 24; shift += 8)
        near = near && ABS ((gint) ((p >> shift) & 0xff) -
            (gint) ((rgb >> shift) & 0xff)) <= 3;
      n += near;
    }
  return n;
}

static void
test_plot (void)
{
  g_autofree gchar *dir = g_dir_make_tmp ("t2i-plot-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "p.png", NULL);
  g_autofree gchar *empty = g_build_filename (dir, "e.png", NULL);
  const gdouble x[] = { 0, 10, 20, 30 }, y[] = { 1, 0.5, NAN, 0.25 };
  const gdouble y2[] = { 2, 2, 2, 2 };
  T2iPlotSeries series[] = { {"loss/G", x, y, 4}, {"loss/D", x, y2, 4} };
  g_autoptr (GError) error = NULL;
  cairo_surface_t *surface;

  g_assert_true (t2i_plot_write_png (path, "Losses", "step", series, 2,
          &error));
  g_assert_no_error (error);
  surface = cairo_image_surface_create_from_png (path);
  g_assert_cmpint (cairo_surface_status (surface), ==, CAIRO_STATUS_SUCCESS);
  g_assert_cmpint (cairo_image_surface_get_width (surface), ==,
      T2I_PLOT_WIDTH);
  g_assert_cmpint (cairo_image_surface_get_height (surface), ==,
      T2I_PLOT_HEIGHT);
  /* both curves are drawn in their colours (first two of the palette) */
  g_assert_cmpuint (count_color (surface, 0x1f78b5), >, 50);
  g_assert_cmpuint (count_color (surface, 0xff800d), >, 50);
  cairo_surface_destroy (surface);

  /* no data: a frame that says so, no error */
  g_assert_true (t2i_plot_write_png (empty, "Nothing", "step", NULL, 0,
          &error));
  /* an unwritable place is an error naming it */
  g_assert_false (t2i_plot_write_png ("/nonexistent/p.png", "x", "step",
          series, 1, &error));
  g_assert_nonnull (strstr (error->message, "/nonexistent/p.png"));
  g_unlink (path);
  g_unlink (empty);
  g_rmdir (dir);
}

static gchar *
read_text (const gchar * dir, const gchar * name)
{
  g_autofree gchar *path = g_build_filename (dir, name, NULL);
  gchar *text = NULL;

  g_assert_true (g_file_get_contents (path, &text, NULL, NULL));
  return text;
}

static gboolean
exists (const gchar * dir, const gchar * name)
{
  g_autofree gchar *path = g_build_filename (dir, name, NULL);

  return g_file_test (path, G_FILE_TEST_IS_REGULAR);
}

static void
report_message (T2iHtmlReport * r, const gchar * text)
{
  g_autoptr (GstStructure) s = msg (text);
  g_autoptr (GError) error = NULL;

  g_assert_true (t2i_html_report_message (r, s, "trainer", &error));
  g_assert_no_error (error);
}

static void
test_html_report (void)
{
  g_autofree gchar *tmp = g_dir_make_tmp ("t2i-report-XXXXXX", NULL);
  g_autofree gchar *dir = g_build_filename (tmp, "a", "report", NULL);
  g_autofree gchar *grid = g_build_filename (tmp, "run-samples-2.png", NULL);
  g_autoptr (GHashTable) sets = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (GHashTable) used = g_hash_table_new (g_str_hash, g_str_equal);
  gchar *envp[] = { (gchar *) "batch=8", NULL };
  gchar *argv[] = { (gchar *) "t2i-launch", (gchar *) "x.t2i", NULL };
  g_autoptr (T2iProgress) progress = t2i_progress_new (0);
  g_autoptr (GError) error = NULL;
  g_autofree gchar *page = NULL, *last = NULL, *samples = NULL;
  const gdouble x[] = { 0, 1 }, y[] = { 0, 1 };
  T2iPlotSeries series = { "s", x, y, 2 };
  g_autoptr (GstStructure) p = msg ("t2i-progress, step=(gint64)2, "
      "total=(gint64)4");

  g_hash_table_insert (sets, (gpointer) "steps", (gpointer) "4");
  g_hash_table_add (used, (gpointer) "steps");
  g_hash_table_add (used, (gpointer) "batch");
  g_hash_table_add (used, (gpointer) "res");
  T2iHtmlReportInfo info = { "pipelines/x.t2i", "t2idatasetsrc # <data>\n",
    "t2idatasetsrc max-steps=4", sets, used, envp, argv
  };
  g_autoptr (T2iHtmlReport) r = t2i_html_report_new (dir, &info, &error);

  g_assert_no_error (error);
  g_assert_nonnull (r);
  g_assert_true (exists (dir, "index.html"));
  g_assert_true (t2i_plot_write_png (grid, "grid", "x", &series, 1, NULL));

  t2i_progress_feed (progress, p, "src", 0);
  report_message (r, "t2i-train, step=(gint64)1, epoch=(gint64)0, "
      "items-per-second=10.0, lr/G=0.002, loss/G=0.5, loss/D=1.5");
  report_message (r, "t2i-train, step=(gint64)2, epoch=(gint64)0, "
      "items-per-second=12.0, lr/G=0.002, loss/G=0.4, loss/D=1.4");
  report_message (r, "t2i-checkpoint, path=run.safetensors, step=(gint64)2");
  g_autofree gchar *samples_msg = g_strdup_printf ("t2i-samples, "
      "step=(gint64)2, checkpoint=run.safetensors, files=<\"%s\", "
      "\"/nonexistent/x.png\">, captions=<\"a red <circle>\", \"b & c\">, "
      "columns=(int)2", grid);
  report_message (r, samples_msg);
  report_message (r, "t2i-eval, kind=fid, value=12.5, n=(gint64)100, "
      "extractor=own-clip, step=(gint64)2, checkpoint=run.safetensors, "
      "source=metric0");
  report_message (r, "t2i-metric, kind=attr-acc, value=0.75, n=(gint64)100, "
      "extractor=none, details=[details, color=0.5]");
  t2i_html_report_problem (r, "G: warning: <odd>");
  g_assert_true (t2i_html_report_update (r, progress, TRUE, &error));
  g_assert_no_error (error);

  page = read_text (dir, "index.html");
  g_assert_nonnull (strstr (page, "http-equiv=\"refresh\""));
  g_assert_nonnull (strstr (page, "running</b> &mdash; step 2/4 (50%)"));
  g_assert_nonnull (strstr (page, "<progress value=\"2\" max=\"4\">"));
  for (const gchar * const *f = (const gchar *[]) { "loss.png", "lr.png",
    "speed.png", "eval-fid.png", NULL }; *f; f++) {
    g_assert_true (exists (dir, *f));
    g_assert_nonnull (strstr (page, *f));
  }
  /* the grid was copied, its captions are escaped, the missing file is
   * named */
  g_assert_true (exists (dir, "samples/00000002-run-samples-2.png"));
  g_assert_nonnull (strstr (page, "src=\"samples/00000002-run-samples-2.png"));
  g_assert_nonnull (strstr (page, "<li>a red &lt;circle&gt;</li><li>b &amp; "
          "c</li>"));
  g_assert_nonnull (strstr (page, "repeat(2,1fr)"));
  g_assert_nonnull (strstr (page, "/nonexistent/x.png could not be read"));
  g_assert_nonnull (strstr (page, "G: warning: &lt;odd&gt;"));
  /* metrics, pipeline as written and expanded, variables and their origin,
   * versions */
  g_assert_nonnull (strstr (page, "<tr><th>step</th><th>fid</th></tr>\n"
          "<tr><td class=\"num\">2</td><td class=\"num\">12.5</td></tr>"));
  g_assert_nonnull (strstr (page, "<td>metric0</td><td>fid</td>"));
  g_assert_nonnull (strstr (page, "<td>attr-acc</td><td class=\"num\">0.75"
          "</td><td>n=100 extractor=none color=0.5</td>"));
  g_assert_nonnull (strstr (page, "t2idatasetsrc # &lt;data&gt;"));
  g_assert_nonnull (strstr (page, "t2idatasetsrc max-steps=4"));
  g_assert_nonnull (strstr (page, "<td>steps</td><td>4</td><td>--set</td>"));
  g_assert_nonnull (strstr (page, "<td>batch</td><td>8</td><td>environment"));
  g_assert_nonnull (strstr (page, "<td>res</td><td></td><td>its default"));
  g_assert_nonnull (strstr (page, "GStreamer"));
  g_assert_nonnull (strstr (page, "cairo"));
  g_assert_nonnull (strstr (page, "step 2: run.safetensors"));

  /* the last version does not reload */
  g_assert_true (t2i_html_report_finish (r, progress, "finished", &error));
  last = read_text (dir, "index.html");
  g_assert_null (strstr (last, "http-equiv=\"refresh\""));
  g_assert_nonnull (strstr (last, "finished</b>"));

  /* a folder that cannot be made fails at once, naming --report */
  g_autoptr (T2iHtmlReport) bad = t2i_html_report_new ("/dev/null/report",
      &info, &error);
  g_assert_null (bad);
  g_assert_nonnull (strstr (error->message, "--report"));

  g_clear_pointer (&r, t2i_html_report_free);
  g_autofree gchar *rm = g_strdup_printf ("rm -rf '%s'", tmp);
  g_assert_cmpint (system (rm), ==, 0);
}

static void
test_errors (void)
{
  GError *error = g_error_new_literal (GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_NOT_FOUND, "Resource not found.");
  g_autofree gchar *a = NULL;
  g_autofree gchar *b = NULL;
  g_autofree gchar *c = NULL;
  g_autofree gchar *d = NULL;
  g_autofree gchar *e = NULL;
  g_autofree gchar *long_text = g_strnfill (300, 'x');

  a = t2i_format_error ("filesrc0", error, "../plugins/elements/"
      "gstfilesrc.c(557): gst_file_src_start (): /GstPipeline:pipeline0/"
      "GstFileSrc:filesrc0:\nNo such file \"/nonexistent\"");
  g_assert_cmpstr (a, ==,
      "filesrc0: Resource not found. (No such file \"/nonexistent\")");
  /* only a location: no detail */
  b = t2i_format_error ("src", error, "gstx.c(1): f (): /GstPipeline:p/X:src");
  g_assert_cmpstr (b, ==, "src: Resource not found.");
  c = t2i_format_error ("src", error, NULL);
  g_assert_cmpstr (c, ==, "src: Resource not found.");
  /* detail on one line */
  d = t2i_shorten_debug ("first line\n  second\tline  ");
  g_assert_cmpstr (d, ==, "first line second line");
  e = t2i_shorten_debug (long_text);
  g_assert_cmpuint (strlen (e), ==, 200);
  g_assert_true (g_str_has_suffix (e, "..."));
  g_error_free (error);
  /* a message quoting a file's bytes stays one line */
  error = g_error_new_literal (GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
      "x.safetensors: unexpected \"Ipe\n: [0]\x01\"");
  g_autofree gchar *f = t2i_format_error ("src", error, NULL);
  g_assert_cmpstr (f, ==, "src: x.safetensors: unexpected \"Ipe\\n: [0]"
      "\\x01\"");
  g_error_free (error);
}

static gchar *
to_json (JsonNode * node)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();

  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, NULL);
}

static void
test_json (void)
{
  GstStructure *details = gst_structure_new ("details", "top1",
      G_TYPE_DOUBLE, 0.25, "ok", G_TYPE_BOOLEAN, TRUE, "inf", G_TYPE_DOUBLE,
      (gdouble) INFINITY, "none", G_TYPE_STRING, NULL, NULL);
  GstStructure *s;
  GValue array = G_VALUE_INIT, v = G_VALUE_INIT;
  g_autoptr (JsonNode) node = NULL;
  g_autofree gchar *json = NULL;

  g_value_init (&array, GST_TYPE_ARRAY);
  g_value_init (&v, G_TYPE_INT);
  g_value_set_int (&v, 1);
  gst_value_array_append_value (&array, &v);
  g_value_set_int (&v, 2);
  gst_value_array_append_value (&array, &v);
  gst_structure_take_value (details, "sizes", &array);

  s = gst_structure_new ("t2i-metric", "kind", G_TYPE_STRING, "fid",
      "value", G_TYPE_DOUBLE, (gdouble) NAN, "n", G_TYPE_UINT64,
      G_GUINT64_CONSTANT (18446744073709551615), "step", G_TYPE_UINT, 3,
      "type", G_TYPE_STRING, "shadowed", "state", GST_TYPE_STATE,
      GST_STATE_PLAYING, "rate", GST_TYPE_FRACTION, 30, 1, "details",
      GST_TYPE_STRUCTURE, details, NULL);

  node = t2i_message_to_json (s, "metric0", 1.5);
  json = to_json (node);
  g_assert_cmpstr (json, ==, "{\"type\":\"t2i-metric\",\"element\":\"metric0\","
      "\"time\":1.5,\"kind\":\"fid\",\"value\":\"NaN\","
      "\"n\":1.8446744073709552e+19,\"step\":3,\"state\":\"playing\","
      "\"rate\":\"30/1\",\"details\":{\"type\":\"details\",\"top1\":0.25,"
      "\"ok\":true,\"inf\":\"Infinity\",\"none\":null,\"sizes\":[1,2]}}");

  g_value_unset (&v);
  gst_structure_free (details);
  gst_structure_free (s);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/launch/report/lines", test_lines);
  g_test_add_func ("/launch/report/more-lines", test_more_lines);
  g_test_add_func ("/launch/report/progress", test_progress);
  g_test_add_func ("/launch/report/progress-resumed", test_progress_resumed);
  g_test_add_func ("/launch/report/progress-sources", test_progress_sources);
  g_test_add_func ("/launch/report/plot", test_plot);
  g_test_add_func ("/launch/report/html", test_html_report);
  g_test_add_func ("/launch/report/errors", test_errors);
  g_test_add_func ("/launch/report/json", test_json);
  gint status = g_test_run ();

  t2i_plot_reset ();
  return status;
}
