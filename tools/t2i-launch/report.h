/* What t2i-launch prints while a pipeline runs: errors, the t2i-* element
 * messages (live progress on a terminal, plain lines otherwise) and the
 * --json log.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>
#include <gst/gst.h>
#include <json-glib/json-glib.h>

#include "progress.h"

G_BEGIN_DECLS

typedef enum
{
  T2I_VERBOSITY_QUIET,          /* errors only */
  T2I_VERBOSITY_NORMAL,
  T2I_VERBOSITY_VERBOSE,        /* also state changes, all messages */
} T2iVerbosity;

typedef struct _T2iReporter T2iReporter;

/* Plain progress lines (output not a terminal): at most one per this
 * many seconds, unless --progress-interval says otherwise. */
#define T2I_REPORTER_PLAIN_INTERVAL (10 * G_USEC_PER_SEC)

T2iReporter *t2i_reporter_new (FILE * out, gboolean interactive,
    T2iVerbosity verbosity);

void t2i_reporter_set_plain_interval (T2iReporter * reporter,
    gdouble seconds);

T2iProgress *t2i_reporter_get_progress (T2iReporter * reporter);

void t2i_reporter_tick (T2iReporter * reporter);

gboolean t2i_reporter_open_json (T2iReporter * reporter, const gchar * path,
    GError ** error);

void t2i_reporter_set_prefix (T2iReporter * reporter, const gchar * prefix);

void t2i_reporter_free (T2iReporter * reporter);

void t2i_reporter_print (T2iReporter * reporter, T2iVerbosity level,
    const gchar * format, ...) G_GNUC_PRINTF (3, 4);

gboolean t2i_reporter_element_message (T2iReporter * reporter,
    GstMessage * message, GError ** error);

gboolean t2i_reporter_close_json (T2iReporter * reporter, GError ** error);

void t2i_reporter_finish (T2iReporter * reporter);

/* Formatting, shared with the tests. */
gchar *t2i_format_train (const GstStructure * s);

gchar *t2i_format_progress (const GstStructure * s);

gchar *t2i_format_checkpoint (const GstStructure * s);

gchar *t2i_format_fields (const GstStructure * s,
    const gchar * const *skip);

gchar *t2i_format_metric (const GstStructure * s);

gchar *t2i_format_samples (const GstStructure * s);

gchar *t2i_format_eval (const GstStructure * s);

gchar *t2i_format_duration (gdouble seconds);

gchar *t2i_format_status (const T2iProgressState * st,
    const GstStructure * train);

gchar *t2i_format_progress_line (const T2iProgressState * st);


gchar *t2i_format_error (const gchar * source, const GError * error,
    const gchar * debug);

gchar *t2i_shorten_debug (const gchar * debug);

JsonNode *t2i_value_to_json (const GValue * value);

JsonNode *t2i_message_to_json (const GstStructure * s, const gchar * source,
    gdouble time);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iReporter, t2i_reporter_free)

G_END_DECLS
