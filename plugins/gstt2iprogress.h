/* The t2i-progress message of the t2i sources.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/* Rate limit of the t2i-progress messages: a source posts one before its
 * first record, then at most once per this interval, and one when it
 * ends, so that t2i-launch can draw a live progress line without a
 * message (and a --json log line) per batch. */
#define T2I_PROGRESS_INTERVAL G_TIME_SPAN_SECOND

typedef struct
{
  gboolean posted;              /* one was posted since the reset */
  gint64 time;                  /* when the last one was posted */
  gint64 step;                  /* its step */
} T2iProgressPoster;

void t2i_progress_reset (T2iProgressPoster * p);

void t2i_progress_update (T2iProgressPoster * p, GstElement * element,
    gint64 step, gint64 total, gint64 batch_size, gboolean final);

G_END_DECLS
