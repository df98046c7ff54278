/* Helpers for the data element tests (see data-test-util.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "data-test-util.h"

#include <glib/gstdio.h>
#include <string.h>

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer user)
{
  g_ptr_array_add (user, gst_buffer_ref (buf));
}

RunResult *
run_pipeline (const char *description, T2iSession * session)
{
  RunResult *r = g_new0 (RunResult, 1);
  GError *err = NULL;
  GstElement *pipe, *sink;

  r->buffers = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_buffer_unref);
  r->messages = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  r->warnings = g_ptr_array_new_with_free_func (g_free);

  pipe = gst_parse_launch (description, &err);
  if (!pipe || err) {
    GString *msg = g_string_new (err ? err->message : "parse failed");
    /* a failed link: the elements' own errors are on the bus */
    GstBus *bus = pipe ? gst_element_get_bus (pipe) : NULL;
    GstMessage *m;
    while (bus && (m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR))) {
      GError *e = NULL;
      gst_message_parse_error (m, &e, NULL);
      g_string_append_printf (msg, "; %s", e->message);
      g_error_free (e);
      gst_message_unref (m);
    }
    if (bus)
      gst_object_unref (bus);
    r->error = g_string_free (msg, FALSE);
    g_clear_error (&err);
    if (pipe)
      gst_object_unref (pipe);
    return r;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  if (sink) {
    g_object_set (sink, "signal-handoffs", TRUE, "sync", FALSE, NULL);
    g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), r->buffers);
    gst_object_unref (sink);
  }

  if (session) {
    GstContext *c = gst_context_new (T2I_SESSION_CONTEXT_TYPE, TRUE);
    gst_structure_set (gst_context_writable_structure (c), "session",
        T2I_TYPE_SESSION, session, NULL);
    gst_element_set_context (pipe, c);
    gst_context_unref (c);
  }

  GstBus *bus = gst_element_get_bus (pipe);
  GstStateChangeReturn ret = gst_element_set_state (pipe, GST_STATE_PLAYING);
  for (;;) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus,
        ret == GST_STATE_CHANGE_FAILURE ? 0 : 120 * GST_SECOND,
        GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_ELEMENT |
        GST_MESSAGE_WARNING);
    if (!m) {
      if (!r->error)
        r->error = g_strdup ("no EOS and no error");
      break;
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ELEMENT) {
      const GstStructure *s = gst_message_get_structure (m);
      if (s)
        g_ptr_array_add (r->messages, gst_structure_copy (s));
      gst_message_unref (m);
      continue;
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING) {
      GError *e = NULL;
      gst_message_parse_warning (m, &e, NULL);
      g_ptr_array_add (r->warnings, g_strdup (e->message));
      g_error_free (e);
      gst_message_unref (m);
      continue;
    }
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error (m, &e, NULL);
      r->error = g_strdup (e->message);
      g_error_free (e);
    } else {
      r->eos = TRUE;
    }
    gst_message_unref (m);
    break;
  }
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipe);
  return r;
}

void
run_result_free (RunResult * r)
{
  g_ptr_array_unref (r->buffers);
  g_ptr_array_unref (r->messages);
  g_ptr_array_unref (r->warnings);
  g_free (r->error);
  g_free (r);
}

const GstStructure *
run_result_message (RunResult * r, const char *name)
{
  for (guint i = 0; i < r->messages->len; i++)
    if (gst_structure_has_name (r->messages->pdata[i], name))
      return r->messages->pdata[i];
  return NULL;
}

const GstStructure *
run_result_last_message (RunResult * r, const char *name)
{
  for (guint i = r->messages->len; i-- > 0;)
    if (gst_structure_has_name (r->messages->pdata[i], name))
      return r->messages->pdata[i];
  return NULL;
}

gboolean
run_result_warned (RunResult * r, const char *needle)
{
  for (guint i = 0; i < r->warnings->len; i++)
    if (strstr (r->warnings->pdata[i], needle))
      return TRUE;
  return FALSE;
}

gchar *
data_tmpdir (void)
{
  GError *err = NULL;
  gchar *dir = g_dir_make_tmp ("t2i-data-XXXXXX", &err);
  g_assert_no_error (err);
  return dir;
}

void
data_rmdir (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  while (d && (name = g_dir_read_name (d))) {
    g_autofree gchar *p = g_build_filename (dir, name, NULL);
    if (g_file_test (p, G_FILE_TEST_IS_DIR)
        && !g_file_test (p, G_FILE_TEST_IS_SYMLINK))
      data_rmdir (p);
    else
      g_unlink (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
}
