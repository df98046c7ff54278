/* Helpers for the data element tests (datasetsrc, textsrc, noise, video
 * bridges): run a pipeline ending in a fakesink named "sink" and keep
 * everything it produced.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>
#include <t2i/t2i.h>

G_BEGIN_DECLS

typedef struct
{
  GPtrArray *buffers;           /* GstBuffer refs reaching "sink", in order */
  GPtrArray *messages;          /* GstStructure copies of element messages */
  GPtrArray *warnings;          /* warning texts */
  gchar *error;                 /* first error text, or NULL */
  gboolean eos;
} RunResult;

/* Runs @description to EOS or error; the buffers reaching the fakesink
 * named "sink", if there is one, are kept.
 * @session: nullable; handed to the pipeline as its "t2i.session" context. */
RunResult *run_pipeline (const char *description, T2iSession * session);
void run_result_free (RunResult * r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (RunResult, run_result_free)

/* the first element message named @name, or NULL */
const GstStructure *run_result_message (RunResult * r, const char *name);
/* the last one, or NULL */
const GstStructure *run_result_last_message (RunResult * r, const char *name);
/* TRUE when some warning contains @needle */
gboolean run_result_warned (RunResult * r, const char *needle);

/* a fresh temporary folder, and its recursive removal */
gchar *data_tmpdir (void);
void data_rmdir (const char *dir);

G_END_DECLS
