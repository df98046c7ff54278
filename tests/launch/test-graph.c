/* Unit tests of t2i-launch's checks on a built pipeline's links: loops,
 * and outputs that go nowhere getting a fakesink; and of --graph's
 * drawing, with the record entries on the links.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <glib/gstdio.h>
#include <gst/gst.h>

#include "dot.h"
#include "graph.h"

static GstBin *
parse (const gchar * description)
{
  g_autoptr (GError) error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);

  g_assert_no_error (error);
  g_assert_true (GST_IS_PIPELINE (pipeline));
  return GST_BIN (gst_object_ref_sink (pipeline));
}

/* The loop found in @description, one of @expected (NULL-terminated). */
static void
assert_loop (const gchar * description, const gchar * const *expected)
{
  GstBin *pipeline = parse (description);
  g_autofree gchar *loop = t2i_graph_find_loop (pipeline);

  g_assert_nonnull (loop);
  if (!g_strv_contains (expected, loop))
    g_error ("unexpected loop '%s' in '%s'", loop, description);
  gst_object_unref (pipeline);
}

static void
assert_no_loop (const gchar * description)
{
  GstBin *pipeline = parse (description);
  g_autofree gchar *loop = t2i_graph_find_loop (pipeline);

  g_assert_null (loop);
  gst_object_unref (pipeline);
}

static void
test_loops (void)
{
  assert_loop ("fakesrc ! funnel name=f ! identity name=i ! f.",
      (const gchar *[]) { "f -> i -> f", "i -> f -> i", NULL });
  /* through the ghost pads of bins, in and out */
  assert_loop ("fakesrc ! funnel name=f ! ( identity name=i ! "
      "( identity name=j ) ) ! f.", (const gchar *[]) {
        "f -> i -> j -> f", "i -> j -> f -> i", "j -> f -> i -> j", NULL});
  /* branches that meet again, bins passed through */
  assert_no_loop ("fakesrc ! tee name=t ! queue ! funnel name=f ! fakesink "
      "t. ! queue ! f.");
  assert_no_loop ("fakesrc ! ( identity ! ( identity ) ) ! fakesink");
}

static void
test_missing_sinks (void)
{
  GstBin *pipeline = parse ("fakesrc ! identity name=a ! identity name=b "
      "fakesrc ! ( identity name=c )");
  g_autoptr (GPtrArray) added = t2i_graph_add_missing_sinks (pipeline);
  g_autoptr (GPtrArray) again = NULL;
  GstElement *c = gst_bin_get_by_name (pipeline, "c");
  GstPad *src = gst_element_get_static_pad (c, "src");
  GstPad *peer = gst_pad_get_peer (src);

  g_assert_cmpuint (added->len, ==, 2);
  g_assert_true (g_ptr_array_find_with_equal_func (added, "b", g_str_equal,
          NULL));
  g_assert_true (g_ptr_array_find_with_equal_func (added, "c", g_str_equal,
          NULL));
  /* c's fakesink is beside it, inside its bin */
  g_assert_nonnull (peer);
  g_assert_true (GST_OBJECT_PARENT (GST_OBJECT_PARENT (peer)) ==
      GST_OBJECT_PARENT (c));
  again = t2i_graph_add_missing_sinks (pipeline);
  g_assert_cmpuint (again->len, ==, 0);
  gst_object_unref (peer);
  gst_object_unref (src);
  gst_object_unref (c);
  gst_object_unref (pipeline);
}

/* decodebin's typefind has an unlinked src pad until it finds a type: the
 * inside of a bin that is not "( ... )" is left alone */
static void
test_other_bins (void)
{
  GstElementFactory *factory = gst_element_factory_find ("decodebin");
  GstBin *pipeline;
  g_autoptr (GPtrArray) added = NULL;
  g_autofree gchar *loop = NULL;

  if (factory == NULL) {
    g_test_skip ("decodebin is not installed");
    return;
  }
  gst_object_unref (factory);
  pipeline = parse ("fakesrc ! decodebin ! fakesink");
  added = t2i_graph_add_missing_sinks (pipeline);
  g_assert_cmpuint (added->len, ==, 0);
  loop = t2i_graph_find_loop (pipeline);
  g_assert_null (loop);
  gst_object_unref (pipeline);
}

static void
run_to_eos (GstBin * pipeline)
{
  g_autoptr (GstBus) bus = gst_element_get_bus (GST_ELEMENT (pipeline));
  g_autoptr (GstMessage) m = NULL;

  gst_element_set_state (GST_ELEMENT (pipeline), GST_STATE_PLAYING);
  m = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS |
      GST_MESSAGE_ERROR);
  g_assert_nonnull (m);
  g_assert_cmpint (GST_MESSAGE_TYPE (m), ==, GST_MESSAGE_EOS);
}

/* GStreamer's dot dump with each link labelled by its record entries, the
 * ones its tail element added marked "+" */
static void
test_dot (void)
{
  GstBin *pipeline = parse ("t2idatasetsrc name=data dataset=shapes "
      "batch-size=2 resolution=8 max-steps=1 ! t2inoise output=z dim=4 ! "
      "fakesink");
  g_autofree gchar *dir = g_dir_make_tmp ("t2i-dot-XXXXXX", NULL);
  g_autofree gchar *dot_path = g_build_filename (dir, "p.dot", NULL);
  g_autofree gchar *svg_path = g_build_filename (dir, "p.svg", NULL);
  g_autofree gchar *fallback = g_build_filename (dir, "p.dot", NULL);
  g_autofree gchar *text = NULL, *written = NULL, *note = NULL;
  g_autofree gchar *graphviz = g_find_program_in_path ("dot");
  g_autoptr (GError) error = NULL;

  /* nothing negotiated before it runs */
  g_assert_false (t2i_dot_caps_ready (pipeline));
  run_to_eos (pipeline);
  g_assert_true (t2i_dot_caps_ready (pipeline));

  text = t2i_dot_describe (pipeline);
  g_assert_true (g_str_has_prefix (text, "digraph pipeline {"));
  /* the source added every entry; the noise element added z */
  g_assert_nonnull (strstr (text, "+ image f32[2,3,8,8]\\l+ caption str[2]"
          "\\l"));
  g_assert_nonnull (strstr (text, "  image f32[2,3,8,8]\\l"));
  g_assert_nonnull (strstr (text, "+ z f32[2,4]\\l"));
  g_assert_null (strstr (text, "+ z f32[2,4]\\l+"));
  g_assert_null (strstr (text, "label=\"application/x-t2i-record\""));
  /* the elements and their properties stay GStreamer's */
  g_assert_nonnull (strstr (text, "max-steps=1"));

  g_assert_true (t2i_dot_write (pipeline, dot_path, &note, &error));
  g_assert_no_error (error);
  g_assert_null (note);
  g_assert_true (g_file_get_contents (dot_path, &written, NULL, NULL));
  /* (not equal to text: fakesink's last-sample differs from dump to dump) */
  g_assert_true (g_str_has_prefix (written, "digraph pipeline {"));
  g_assert_nonnull (strstr (written, "+ z f32[2,4]\\l"));
  g_unlink (dot_path);

  g_assert_true (t2i_dot_write (pipeline, svg_path, &note, &error));
  g_assert_no_error (error);
  if (graphviz != NULL) {
    g_autofree gchar *svg = NULL;

    g_assert_null (note);
    g_assert_true (g_file_get_contents (svg_path, &svg, NULL, NULL));
    g_assert_nonnull (strstr (svg, "<svg"));
    g_assert_nonnull (strstr (svg, "+ z f32[2,4]"));
    g_unlink (svg_path);
  } else {
    /* without graphviz: the .dot beside it, and a note that says so */
    g_assert_nonnull (note);
    g_assert_nonnull (strstr (note, "graphviz"));
    g_assert_true (g_file_test (fallback, G_FILE_TEST_IS_REGULAR));
    g_unlink (fallback);
  }

  g_assert_true (t2i_dot_check_path ("a/b.svg", NULL));
  g_assert_true (t2i_dot_check_path ("b.dot", NULL));
  g_assert_false (t2i_dot_check_path ("b.jpg", &error));
  g_assert_nonnull (strstr (error->message, ".svg, .png, .pdf or .dot"));
  g_assert_false (t2i_dot_check_path ("a.svg/b", NULL));

  gst_element_set_state (GST_ELEMENT (pipeline), GST_STATE_NULL);
  gst_object_unref (pipeline);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/launch/graph/loops", test_loops);
  g_test_add_func ("/launch/graph/missing-sinks", test_missing_sinks);
  g_test_add_func ("/launch/graph/other-bins", test_other_bins);
  g_test_add_func ("/launch/graph/dot", test_dot);
  return g_test_run ();
}
