/* Unit tests of t2i_parse_launch(): when an element refuses a link while
 * the pipeline is built, its own error comes back, not "could not link".
 * t2i elements check their entries and model files from READY on (their
 * model may not exist yet while a description is parsed), so their
 * errors come when the pipeline starts: each as the element's own line.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <gst/gst.h>
#include <t2i/t2i.h>

/* records with image f32[2,3,8,8], caption, id and attr/ entries */
#define SHAPES "t2idatasetsrc dataset=shapes batch-size=2 resolution=8 " \
  "max-steps=1 ! "

/* Parses @description, which must fail with @domain and @code and a
 * one-line message starting with @prefix. */
static void
assert_fails (const gchar * description, GQuark domain, gint code,
    const gchar * prefix)
{
  g_autoptr (GError) error = NULL;
  GstElement *pipeline = t2i_parse_launch (description, NULL, &error);

  g_assert_null (pipeline);
  g_assert_error (error, domain, code);
  if (!g_str_has_prefix (error->message, prefix))
    g_error ("'%s' does not start with '%s'", error->message, prefix);
  g_assert_null (strchr (error->message, '\n'));
}

/* Parses @description, which must succeed, and starts it: it must stop
 * with an error of @domain and @code whose source and message read
 * "SOURCE: MESSAGE", starting with @prefix. */
static void
assert_run_fails (const gchar * description, GQuark domain, gint code,
    const gchar * prefix)
{
  g_autoptr (GError) error = NULL;
  GstElement *pipeline = t2i_parse_launch (description, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_cmpint (GST_MESSAGE_TYPE (m), ==, GST_MESSAGE_ERROR);
  GError *err = NULL;
  gst_message_parse_error (m, &err, NULL);
  g_assert_error (err, domain, code);
  g_autofree gchar *line = g_strdup_printf ("%s: %s",
      GST_MESSAGE_SRC_NAME (m), err->message);
  if (!g_str_has_prefix (line, prefix))
    g_error ("'%s' does not start with '%s'", line, prefix);
  g_assert_null (strchr (line, '\n'));
  g_error_free (err);
  gst_message_unref (m);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
}

static void
test_missing_entry (void)
{
  /* the discriminator asks for fake=fake, which shapes records lack */
  assert_run_fails (SHAPES "t2idiscriminator name=d real=image fake=fake ! "
      "fakesink", GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED,
      "d: fake=fake: needs entry 'fake' but upstream offers image "
      "f32[2,3,8,8], caption str[2]");
}

static void
test_missing_files (void)
{
  assert_run_fails (SHAPES "t2iimageencoder name=enc input=image output=f "
      "weights=/nonexistent/clip.safetensors ! fakesink",
      GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "enc: weights=/nonexistent/clip.safetensors: ");
  assert_run_fails (SHAPES "t2itextencoder name=text input=caption "
      "output=h weights=/nonexistent/clip.safetensors ! fakesink",
      GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "text: weights=/nonexistent/clip.safetensors: ");
  assert_run_fails (SHAPES "t2itextencoder name=vocab input=caption "
      "output=h vocab=/nonexistent/vocab.txt ! fakesink", GST_STREAM_ERROR,
      GST_STREAM_ERROR_FAILED,
      "vocab: vocab=/nonexistent/vocab.txt does not exist");
}

/* GStreamer's own errors stay what they are */
static void
test_parse_errors (void)
{
  assert_fails (SHAPES "video/x-raw ! fakesink", GST_PARSE_ERROR,
      GST_PARSE_ERROR_LINK, "could not link t2idatasetsrc");
  assert_fails ("fakesrc ! ! fakesink", GST_PARSE_ERROR,
      GST_PARSE_ERROR_SYNTAX, "");
  assert_fails ("fakesrc ! nosuchelement", GST_PARSE_ERROR,
      GST_PARSE_ERROR_NO_SUCH_ELEMENT, "");
}

static void
test_success (void)
{
  g_autoptr (GError) error = NULL;
  GstElement *pipeline = t2i_parse_launch (SHAPES "fakesink", NULL, &error);

  g_assert_no_error (error);
  g_assert_true (GST_IS_PIPELINE (pipeline));
  gst_object_unref (gst_object_ref_sink (pipeline));
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/parse-launch/missing-entry", test_missing_entry);
  g_test_add_func ("/parse-launch/missing-files", test_missing_files);
  g_test_add_func ("/parse-launch/parse-errors", test_parse_errors);
  g_test_add_func ("/parse-launch/success", test_success);
  return g_test_run ();
}
