/* How far a pipeline is, for t2i-launch.
 *
 * Sources post t2i-progress {step, total, batch-size} at their start, at
 * most once a second, and at their end; a trainer posts t2i-train {step,
 * ...} every report-every steps.  Both count steps (batches), from the
 * resume step of a resumed run, so the step shown is the larger of the
 * two; with several sources, the one least far along (the pipeline ends
 * when it does).  The rate is measured from the first step seen, so a
 * resumed run's ETA counts only the steps it trains.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "progress.h"

#include <math.h>

typedef struct
{
  gint64 step;
  gint64 total;                 /* -1: unknown */
  gint64 batch;                 /* items per step, 0: unknown */
} Entry;

struct _T2iProgress
{
  gint64 start;
  GHashTable *entries;          /* source name -> Entry */
  gint64 train_step;            /* the largest t2i-train step, -1: none */
  GstStructure *last_train;
  /* the combined step: when it was first seen and when it last grew */
  gboolean started;
  gint64 t0, s0, t_last, s_last;
};

gboolean
t2i_structure_get_number (const GstStructure * s, const gchar * field,
    gdouble * out)
{
  const GValue *v = gst_structure_get_value (s, field);
  GValue d = G_VALUE_INIT;

  if (v == NULL || G_VALUE_HOLDS_BOOLEAN (v)
      || !g_value_type_transformable (G_VALUE_TYPE (v), G_TYPE_DOUBLE))
    return FALSE;
  g_value_init (&d, G_TYPE_DOUBLE);
  if (!g_value_transform (v, &d))
    return FALSE;
  *out = g_value_get_double (&d);
  return TRUE;
}

static gboolean
get_count (const GstStructure * s, const gchar * field, gint64 * out)
{
  gdouble d;

  if (!t2i_structure_get_number (s, field, &d) || !isfinite (d))
    return FALSE;
  *out = (gint64) d;
  return TRUE;
}

T2iProgress *
t2i_progress_new (gint64 start)
{
  T2iProgress *p = g_new0 (T2iProgress, 1);

  p->start = start;
  p->entries = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  p->train_step = -1;
  return p;
}

void
t2i_progress_free (T2iProgress * p)
{
  if (p == NULL)
    return;
  g_hash_table_unref (p->entries);
  g_clear_pointer (&p->last_train, gst_structure_free);
  g_free (p);
}

/* The entry that decides: the least far along of those with a total. */
static const Entry *
primary (T2iProgress * p)
{
  GHashTableIter it;
  gpointer value;
  const Entry *best = NULL;

  g_hash_table_iter_init (&it, p->entries);
  while (g_hash_table_iter_next (&it, NULL, &value)) {
    const Entry *e = value;

    if (e->total > 0 && (best == NULL || (gdouble) e->step / e->total <
            (gdouble) best->step / best->total))
      best = e;
  }
  return best;
}

static void
combined (T2iProgress * p, gint64 * step, gint64 * total, gint64 * batch)
{
  const Entry *e = primary (p);

  *batch = 0;
  if (e != NULL) {
    *step = MAX (e->step, p->train_step);
    *total = e->total;
    *batch = e->batch;
    return;
  }
  *total = -1;
  *step = p->train_step;
  if (*step < 0) {
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init (&it, p->entries);
    while (g_hash_table_iter_next (&it, NULL, &value))
      *step = MAX (*step, ((const Entry *) value)->step);
  }
}

/**
 * t2i_progress_feed:
 *
 * Takes a t2i-progress or t2i-train message from @source.
 *
 * Returns: whether it was one of those
 */
gboolean
t2i_progress_feed (T2iProgress * p, const GstStructure * s,
    const gchar * source, gint64 now)
{
  gboolean is_train = gst_structure_has_name (s, "t2i-train");
  Entry *e;
  gint64 step, total, batch;

  if (!is_train && !gst_structure_has_name (s, "t2i-progress"))
    return FALSE;
  if (!get_count (s, "step", &step))
    return TRUE;
  if (source == NULL)
    source = "";
  e = g_hash_table_lookup (p->entries, source);
  if (e == NULL) {
    e = g_new0 (Entry, 1);
    e->total = -1;
    g_hash_table_insert (p->entries, g_strdup (source), e);
  }
  e->step = step;
  if (get_count (s, is_train ? "total-steps" : "total", &total) && total > 0)
    e->total = total;
  if (get_count (s, "batch-size", &batch) && batch > 0)
    e->batch = batch;
  if (is_train) {
    p->train_step = MAX (p->train_step, step);
    g_clear_pointer (&p->last_train, gst_structure_free);
    p->last_train = gst_structure_copy (s);
  }

  combined (p, &step, &total, &batch);
  if (!p->started || step < p->s_last) {
    p->started = TRUE;
    p->t0 = p->t_last = now;
    p->s0 = p->s_last = step;
  } else if (step > p->s_last) {
    p->t_last = now;
    p->s_last = step;
  }
  return TRUE;
}

void
t2i_progress_get (T2iProgress * p, gint64 now, T2iProgressState * out)
{
  gint64 step, total, batch;
  gdouble rate = 0, ips;

  combined (p, &step, &total, &batch);
  out->known = p->started;
  out->step = MAX (step, 0);
  out->total = total;
  out->elapsed = (now - p->start) / 1e6;
  out->finished = total > 0 && step >= total;
  if (p->started && p->s_last > p->s0 && p->t_last > p->t0)
    rate = (p->s_last - p->s0) / ((p->t_last - p->t0) / 1e6);

  out->items_per_second = -1;
  if (p->last_train && t2i_structure_get_number (p->last_train,
          "items-per-second", &ips) && isfinite (ips) && ips > 0)
    out->items_per_second = ips;
  else if (rate > 0 && batch > 0)
    out->items_per_second = rate * batch;

  out->eta = -1;
  if (total > 0 && rate > 0 && !out->finished)
    out->eta = MAX ((total - out->step) / rate - (now - p->t_last) / 1e6,
        0.0);
}

/* the last t2i-train message, NULL before the first */
const GstStructure *
t2i_progress_last_train (T2iProgress * p)
{
  return p->last_train;
}
