/* t2i_parse_launch: gst_parse_launch_full() with the elements' own errors.
 *
 * t2i elements check the entries they need when caps are queried, and
 * gst_parse_launch links the pipeline, so a missing entry or weights file
 * shows while parsing.  The element posts a precise error message, but
 * GStreamer only says "could not link a to b" and drops the pipeline with
 * its bus when GST_PARSE_FLAG_FATAL_ERRORS is set.  GStreamer 1.22 builds
 * every element first, puts the top-level chain into a pipeline and only
 * then performs the links (gst/parse/grammar.y, priv_gst_parse_launch), so
 * without that flag the half-built pipeline comes back with the parse
 * error and its bus holds what the elements posted while linking.
 *
 * GStreamer 1.22 crashes, or queries caps forever, on some descriptions
 * (links between references without any element, some syntax errors,
 * caps it cannot parse: diagnose.c's t2i_diagnose_limits), so those are
 * refused before it sees them.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/launch.h>
#include "diagnose.h"

/**
 * t2i_parse_launch:
 * @description: a pipeline in gst-launch syntax
 * @context: (nullable): as for gst_parse_launch_full()
 * @error: return location for the error
 *
 * Like gst_parse_launch_full() with %GST_PARSE_FLAG_FATAL_ERRORS: returns
 * the pipeline only when nothing failed.  When a link fails because an
 * element posted an error (a t2i element whose entries or weights do not
 * fit), @error is that element's error: its domain and code, and the
 * message "ELEMENT: MESSAGE".  Every other failure is GStreamer's own
 * %GST_PARSE_ERROR.  A description whose top level is a single bin, `( ...
 * )`, has no bus while it is linked: there only the parse error is known.
 * Descriptions GStreamer cannot parse safely (bins nested too deep, links
 * between references with no element, syntax errors, bad caps, references
 * to no element) fail with %GST_PARSE_ERROR_SYNTAX without reaching it;
 * the message names the byte offset.
 *
 * Returns: (transfer floating) (nullable): the pipeline, or %NULL
 */
GstElement *
t2i_parse_launch (const char *description, GstParseContext * context,
    GError ** error)
{
  g_autoptr (T2iDiagnostic) refused = NULL;
  GstElement *element;

  g_return_val_if_fail (description != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  element = t2i_parse_launch_checked (description, context, &refused, error);
  if (refused != NULL)
    g_set_error (error, GST_PARSE_ERROR, GST_PARSE_ERROR_SYNTAX,
        "%s (at byte %" G_GSIZE_FORMAT ")", refused->message,
        refused->offset);
  return element;
}

/* t2i_parse_launch() with what t2i_diagnose_limits() refuses handed back
 * as *@refused (located) instead of as @error (diagnose.h) */
GstElement *
t2i_parse_launch_checked (const char *description, GstParseContext * context,
    T2iDiagnostic ** refused, GError ** error)
{
  GError *parse_error = NULL;
  GstElement *element;
  GstMessage *posted = NULL;

  *refused = t2i_diagnose_limits (description);
  if (*refused != NULL)
    return NULL;

  element = gst_parse_launch_full (description, context,
      GST_PARSE_FLAG_NONE, &parse_error);
  if (parse_error == NULL)
    return element;

  if (element != NULL && g_error_matches (parse_error, GST_PARSE_ERROR,
          GST_PARSE_ERROR_LINK)) {
    GstBus *bus = gst_element_get_bus (element);

    if (bus != NULL) {
      posted = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
      gst_object_unref (bus);
    }
  }
  if (posted != NULL) {
    GError *cause = NULL;

    gst_message_parse_error (posted, &cause, NULL);
    g_set_error (error, cause->domain, cause->code, "%s: %s",
        GST_MESSAGE_SRC_NAME (posted) ? GST_MESSAGE_SRC_NAME (posted) : "?",
        cause->message);
    g_error_free (cause);
    g_error_free (parse_error);
    gst_message_unref (posted);
  } else {
    g_propagate_error (error, parse_error);
  }
  if (element != NULL)
    gst_object_unref (element);
  return NULL;
}
