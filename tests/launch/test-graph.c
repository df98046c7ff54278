/* Unit tests of t2i-launch's checks on a built pipeline's links: loops,
 * and outputs that go nowhere getting a fakesink.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <gst/gst.h>

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

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/launch/graph/loops", test_loops);
  g_test_add_func ("/launch/graph/missing-sinks", test_missing_sinks);
  g_test_add_func ("/launch/graph/other-bins", test_other_bins);
  return g_test_run ();
}
