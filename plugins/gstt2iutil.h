/* Small helpers shared by the t2i elements.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib-object.h>
#include <gst/gst.h>
#include <t2i/tensor.h>

/* replaces the string in *slot with a copy of @v's */
static inline void
t2i_replace_string (gchar ** slot, const GValue * v)
{
  g_free (*slot);
  *slot = g_value_dup_string (v);
}

/* a string property that is set and not empty */
static inline gboolean
t2i_str_is_set (const char *s)
{
  return s && *s;
}

/* ---- out of memory in elements that are not T2iTransform or T2iSource
 * (whose base classes do this themselves) ---- */

typedef GstFlowReturn (*T2iFlowFunc) (GstElement * element,
    GstBuffer * buffer);

typedef struct
{
  T2iFlowFunc fn;
  GstElement *element;
  GstBuffer *buffer;
  GstFlowReturn ret;
} T2iGuardedFlow;

static inline gboolean
t2i_guarded_flow_run (gpointer data, GError ** error)
{
  T2iGuardedFlow *g = (T2iGuardedFlow *) data;
  g->ret = g->fn (g->element, g->buffer);
  return TRUE;
}

/* Runs @fn (@element, @buffer) (a chain or render function's work) under
 * t2i_alloc_guard(): a tensor the machine cannot give becomes @element's
 * one-line error and GST_FLOW_ERROR (docs/reliability.md) */
static inline GstFlowReturn
t2i_guard_flow (GstElement * element, T2iFlowFunc fn, GstBuffer * buffer)
{
  T2iGuardedFlow g = { fn, element, buffer, GST_FLOW_ERROR };
  GError *err = NULL;

  if (!t2i_alloc_guard (t2i_guarded_flow_run, &g, &err)) {
    GST_ELEMENT_ERROR (element, RESOURCE, FAILED, ("%s", err->message),
        (NULL));
    g_error_free (err);
    return GST_FLOW_ERROR;
  }
  return g.ret;
}
