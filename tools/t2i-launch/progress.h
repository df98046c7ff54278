/* How far a pipeline is, from its t2i-progress and t2i-train messages: the
 * step, the total, the rate, the time left.  Shared by the status line,
 * the plain progress lines and the HTML report of t2i-launch.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct _T2iProgress T2iProgress;

typedef struct
{
  gboolean known;               /* a t2i-progress or t2i-train came */
  gint64 step;                  /* steps (batches) done */
  gint64 total;                 /* -1: unknown */
  gdouble elapsed;              /* seconds since the start */
  gdouble eta;                  /* seconds left, -1: unknown */
  gdouble items_per_second;     /* -1: unknown */
  gboolean finished;            /* step reached total */
} T2iProgressState;

T2iProgress *t2i_progress_new (gint64 start);

void t2i_progress_free (T2iProgress * p);

gboolean t2i_progress_feed (T2iProgress * p, const GstStructure * s,
    const gchar * source, gint64 now);

void t2i_progress_get (T2iProgress * p, gint64 now, T2iProgressState * out);

const GstStructure *t2i_progress_last_train (T2iProgress * p);

gboolean t2i_structure_get_number (const GstStructure * s,
    const gchar * field, gdouble * out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iProgress, t2i_progress_free)

G_END_DECLS
