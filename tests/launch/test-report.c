/* Unit tests of t2i-launch's message lines, error lines and JSON log.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>
#include <string.h>

#include <gst/gst.h>
#include <json-glib/json-glib.h>

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
  g_test_add_func ("/launch/report/errors", test_errors);
  g_test_add_func ("/launch/report/json", test_json);
  return g_test_run ();
}
