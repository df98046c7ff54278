/* T2iSource: the session wiring every t2i source needs (see t2i/element.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/element.h"

typedef struct
{
  T2iSession *session;
} T2iSourcePrivate;

G_DEFINE_ABSTRACT_TYPE_WITH_PRIVATE (T2iSource, t2i_source, GST_TYPE_PUSH_SRC);
#define PRIV(self) ((T2iSourcePrivate *) t2i_source_get_instance_private (self))

T2iSession *
t2i_source_get_session (T2iSource * self)
{
  return PRIV (self)->session;
}

static gboolean
t2i_source_query (GstBaseSrc * src, GstQuery * query)
{
  if (t2i_session_handle_context_query (GST_ELEMENT (src), query,
          PRIV (T2I_SOURCE (src))->session))
    return TRUE;
  return GST_BASE_SRC_CLASS (t2i_source_parent_class)->query (src, query);
}

static void
t2i_source_set_context (GstElement * element, GstContext * context)
{
  t2i_session_handle_set_context (element, context,
      &PRIV (T2I_SOURCE (element))->session);
  GST_ELEMENT_CLASS (t2i_source_parent_class)->set_context (element, context);
}

static GstStateChangeReturn
t2i_source_change_state (GstElement * element, GstStateChange transition)
{
  if (transition == GST_STATE_CHANGE_NULL_TO_READY)
    t2i_session_ensure (element, &PRIV (T2I_SOURCE (element))->session);
  return GST_ELEMENT_CLASS (t2i_source_parent_class)->change_state (element,
      transition);
}

typedef struct
{
  GstBaseSrc *src;
  guint64 offset;
  guint size;
  GstBuffer **buf;
  GstFlowReturn ret;
} Create;

static gboolean
guarded_create (gpointer data, GError ** error)
{
  Create *c = data;
  c->ret = GST_BASE_SRC_CLASS (t2i_source_parent_class)->create (c->src,
      c->offset, c->size, c->buf);
  return TRUE;
}

/* the subclass's create() under t2i_alloc_guard(): a batch the machine
 * cannot hold is this element's error */
static GstFlowReturn
t2i_source_create (GstBaseSrc * src, guint64 offset, guint size,
    GstBuffer ** buf)
{
  Create c = { src, offset, size, buf, GST_FLOW_ERROR };
  GError *err = NULL;

  if (!t2i_alloc_guard (guarded_create, &c, &err)) {
    GST_ELEMENT_ERROR (src, RESOURCE, FAILED, ("%s", err->message), (NULL));
    g_error_free (err);
    return GST_FLOW_ERROR;
  }
  return c.ret;
}

static void
t2i_source_finalize (GObject * obj)
{
  g_clear_object (&PRIV (T2I_SOURCE (obj))->session);
  G_OBJECT_CLASS (t2i_source_parent_class)->finalize (obj);
}

static void
t2i_source_class_init (T2iSourceClass * klass)
{
  G_OBJECT_CLASS (klass)->finalize = t2i_source_finalize;
  GST_ELEMENT_CLASS (klass)->set_context = t2i_source_set_context;
  GST_ELEMENT_CLASS (klass)->change_state = t2i_source_change_state;
  GST_BASE_SRC_CLASS (klass)->query = t2i_source_query;
  GST_BASE_SRC_CLASS (klass)->create = t2i_source_create;
  gst_type_mark_as_plugin_api (T2I_TYPE_SOURCE, 0);
}

static void
t2i_source_init (T2iSource * self)
{
}
