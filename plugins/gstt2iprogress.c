/* The t2i-progress message of the t2i sources.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gstt2iprogress.h"

void
t2i_progress_reset (T2iProgressPoster * p)
{
  p->posted = FALSE;
  p->time = 0;
  p->step = -1;
}

/**
 * t2i_progress_update:
 * @step: batches done (the resume step before the first record)
 * @total: batches the source will have emitted at its end, -1 if unknown
 * @batch_size: items per batch, 0 if unknown
 * @final: the source has ended (posted whatever the interval)
 *
 * Posts `t2i-progress` {step, total, batch-size} on the first call after
 * a reset, when @final, and otherwise when %T2I_PROGRESS_INTERVAL has
 * passed since the last one and the step changed.
 */
void
t2i_progress_update (T2iProgressPoster * p, GstElement * element,
    gint64 step, gint64 total, gint64 batch_size, gboolean final)
{
  gint64 now = g_get_monotonic_time ();
  GstStructure *s;

  if (p->posted && !final && (step == p->step
          || now - p->time < T2I_PROGRESS_INTERVAL))
    return;
  if (p->posted && final && step == p->step)
    return;
  p->posted = TRUE;
  p->time = now;
  p->step = step;
  s = gst_structure_new ("t2i-progress", "step", G_TYPE_INT64, step, NULL);
  if (total >= 0)
    gst_structure_set (s, "total", G_TYPE_INT64, total, NULL);
  if (batch_size > 0)
    gst_structure_set (s, "batch-size", G_TYPE_INT64, batch_size, NULL);
  gst_element_post_message (element, gst_message_new_element (GST_OBJECT
          (element), s));
}
