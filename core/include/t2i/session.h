/* The session: what all t2i elements of one pipeline share, handed around
 * as a GstContext of type "t2i.session" (like "gst.cuda.context"): seed,
 * threads, whether the pipeline trains, the session RNG and the registry
 * of parameter groups the trainer reads.
 *
 * The first element that needs it in NULL->READY asks its neighbours and
 * the application (need-context); when nobody has one it creates it and
 * posts have-context, so the pipeline hands the same session to every
 * element.  State changes run sinks first, so a t2itrainer at the end of
 * the chain creates it and marks it as training before the other elements
 * look for it.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <gst/gst.h>
#include <t2i/rng.h>
#include <t2i/ops.h>
#include <t2i/tensor.h>

G_BEGIN_DECLS

#define T2I_SESSION_CONTEXT_TYPE "t2i.session"
#define T2I_TYPE_SESSION (t2i_session_get_type ())
G_DECLARE_FINAL_TYPE (T2iSession, t2i_session, T2I, SESSION, GObject)

T2iSession *t2i_session_new (void);

/* properties: "seed" (guint64), "threads" (int, 0 = cores), "training";
 * a NULL session reads as seed 0, not training */
guint64 t2i_session_get_seed (T2iSession * self);
void t2i_session_set_seed (T2iSession * self, guint64 seed);
gboolean t2i_session_is_training (T2iSession * self);
void t2i_session_set_training (T2iSession * self, gboolean training);
/* the session RNG (elements that need noise draw from it in stream order) */
T2iRng *t2i_session_get_rng (T2iSession * self);
/* Steps (batches) already trained when a t2itrainer resumes from a
 * checkpoint (0 otherwise; with phases=D,G a step is the batch's D and G
 * records).  The trainer sets it when it starts (READY->PAUSED runs sinks
 * first); sources read it in their start() and skip that many batches, so
 * a resumed run continues the stream where the checkpoint left it. */
gint64 t2i_session_get_resume_step (T2iSession * self);
void t2i_session_set_resume_step (T2iSession * self, gint64 step);

/* Data-parallel runs (t2i/dist.h, docs/distributed.md): this process's
 * rank among the job's size (0 and 1 alone).  A new session joins the job
 * the launcher started (t2i_dist_init(); when that fails the session is
 * alone and the elements that need the job report the error), and its
 * RNG is the rank's shard of the one stream (t2i/rng.h), so the noise of
 * K ranks' batches is the noise of one K-times larger batch.  A NULL
 * session reads as rank 0 of 1. */
gint t2i_session_get_rank (T2iSession * self);
gint t2i_session_get_size (T2iSession * self);
/* Sets the rank and size the elements see, and the RNG's shard, before
 * the pipeline starts.  0 of 1 makes a world of its own for a pipeline one
 * rank runs alone (t2itrainer's samples).  Other values are for tests and
 * for programs that run a rank's pipeline themselves: the collectives of
 * t2itrainer and t2imetric go to t2i/dist.h's job whatever this says. */
void t2i_session_set_rank (T2iSession * self, gint rank, gint size);
/* The device the pipeline's tensors live on (property "device": "cpu" or
 * "cuda"; a new session reads $T2I_DEVICE).  With cuda the session owns
 * one CUDA stream: every element queues its work there (it calls
 * t2i_session_enter() on its streaming thread before computing), sources
 * upload their records once (t2i_session_record_to_device()), networks keep
 * their parameters on the device, and only the bridges to the host
 * (t2itovideo, t2itensorsink, metrics, checkpoints) copy back.
 * t2i_session_set_device() fails when CUDA is unavailable. */
T2iDevice t2i_session_get_device (T2iSession * self);
gboolean t2i_session_set_device (T2iSession * self, T2iDevice device,
    GError ** error);
void t2i_session_enter (T2iSession * self);
/* What the pipeline's matmuls and convolutions multiply in (property
 * "precision": "f32" or "bf16", t2i/ops.h's T2iPrecision; a new session
 * reads $T2I_PRECISION).  t2i_session_enter() sets it on the calling
 * thread.  bf16 fails on a CPU without bf16 dot products and on cuda. */
T2iPrecision t2i_session_get_precision (T2iSession * self);
gboolean t2i_session_set_precision (T2iSession * self,
    T2iPrecision precision, GError ** error);
/* Sets both at once, whatever they were (a new session may hold
 * $T2I_DEVICE's and $T2I_PRECISION's); the two setters above change one
 * and keep the other.  Fails, changing nothing, on a pair that does not
 * go together. */
gboolean t2i_session_set_compute (T2iSession * self, T2iDevice device,
    T2iPrecision precision, GError ** error);
/* @t on the session's device (a new reference; @t itself when there) */
T2iTensor *t2i_session_to_device (T2iSession * self, T2iTensor * t,
    GError ** error);
/* replaces every tensor entry of @record (writable) by its device copy */
gboolean t2i_session_record_to_device (T2iSession * self, GstBuffer * record,
    GError ** error);

/* Registry of parameter groups by name (e.g. "G", "D").  A group is an
 * opaque pointer owned by its element; the trainer looks groups up by the
 * name a loss element's update= names. */
void t2i_session_register_group (T2iSession * self, const char *name,
    gpointer group, GstElement * owner);
void t2i_session_unregister_group (T2iSession * self, const char *name,
    gpointer group);
gpointer t2i_session_lookup_group (T2iSession * self, const char *name);
GstElement *t2i_session_lookup_owner (T2iSession * self, const char *name);
/* NULL-terminated, sorted; free with g_strfreev */
gchar **t2i_session_list_groups (T2iSession * self);

/* a "t2i.session" context holding @session: an application gives a whole
 * pipeline its session with gst_element_set_context (pipeline, context) */
GstContext *t2i_session_context_new (T2iSession * session);

/* ---- element helpers ---- */
/* Finds or creates the session for @element (call in NULL->READY); *slot
 * receives a reference. */
T2iSession *t2i_session_ensure (GstElement * element, T2iSession ** slot);
/* Hands @session to @element (a pipeline: to all its elements) as its
 * t2i.session context, before the element looks for one. */
void t2i_session_provide (T2iSession * session, GstElement * element);
/* In GstElement::set_context: keeps the session from @context. */
void t2i_session_handle_set_context (GstElement * element,
    GstContext * context, T2iSession ** slot);
/* In a pad or element query handler: answers a context query; returns
 * TRUE when it did. */
gboolean t2i_session_handle_context_query (GstElement * element,
    GstQuery * query, T2iSession * session);

G_END_DECLS
