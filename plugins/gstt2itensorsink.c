/* t2itensorsink: records to safetensors files.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2itensorsink
 * @title: t2itensorsink
 *
 * Writes every record it receives to a safetensors file: each tensor entry
 * under its own name, in record order.  String entries (captions) go to the
 * file's `__metadata__` as `"strings:<entry>"`, a JSON array of strings,
 * which t2itensorsrc reads back; the record's step, epoch and phase are
 * written as `record/step`, `record/epoch` and `record/phase`.
 *
 * When @location contains a `%d` conversion (e.g. `out-%05d.safetensors`)
 * each record gets its own file, numbered from 0; otherwise every record
 * overwrites the file.  Files are written to a temporary name and renamed,
 * so readers never see a torn file.
 *
 * With @grads-of set to a one-element entry (a loss), the sink also writes
 * `grad/<entry>`, the gradient of that entry with respect to every entry
 * that is a gradient leaf (see t2itensorsrc requires-grad=).  It then marks
 * the pipeline's session as training, so elements record autograd graphs.
 * This is how any element is checked against PyTorch from files.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itensorsrc location=in.safetensors ! t2itensorsink location=copy.safetensors
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2itensorsink.h"
#include "gstt2iutil.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include <t2i/t2i.h>

GST_DEBUG_CATEGORY_STATIC (t2i_tensor_sink_debug);
#define GST_CAT_DEFAULT t2i_tensor_sink_debug

struct _T2iTensorSink
{
  GstBaseSink parent;

  gchar *location;
  gchar *grads_of;

  T2iSession *session;
  gboolean has_pattern;
  guint index;
};

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_GRADS_OF,
};

#define EXAMPLE "t2itensorsrc location=in.safetensors ! " \
    "t2itensorsink location=copy.safetensors"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (T2I_RECORD_CAPS_NAME));

G_DEFINE_TYPE_WITH_CODE (T2iTensorSink, t2i_tensor_sink, GST_TYPE_BASE_SINK,
    GST_DEBUG_CATEGORY_INIT (t2i_tensor_sink_debug, "t2itensorsink", 0,
        "t2i safetensors sink"));
GST_ELEMENT_REGISTER_DEFINE (t2itensorsink, "t2itensorsink", GST_RANK_NONE,
    T2I_TYPE_TENSOR_SINK);

/* Expands the one %d / %0Nd conversion of @pattern (%% is a percent sign).
 * Returns NULL when @pattern has another conversion or more than one. */
static gchar *
expand_pattern (const char *pattern, guint index, gboolean * has_conversion)
{
  GString *out = g_string_new (NULL);
  guint conversions = 0;

  for (const char *p = pattern; *p; p++) {
    if (*p != '%') {
      g_string_append_c (out, *p);
      continue;
    }
    p++;
    if (*p == '%') {
      g_string_append_c (out, '%');
      continue;
    }
    gboolean zero = *p == '0';
    if (zero)
      p++;
    guint width = 0;
    while (g_ascii_isdigit (*p) && width < 64)
      width = width * 10 + (guint) (*p++ - '0');
    if ((*p != 'd' && *p != 'u' && *p != 'i') || ++conversions > 1) {
      g_string_free (out, TRUE);
      return NULL;
    }
    g_autofree char *num = g_strdup_printf ("%u", index);
    for (gsize l = strlen (num); l < width; l++)
      g_string_append_c (out, zero ? '0' : ' ');
    g_string_append (out, num);
  }
  if (has_conversion)
    *has_conversion = conversions > 0;
  return g_string_free (out, FALSE);
}

static gchar *
strings_to_json (const char *const *strv)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_array (b);
  for (guint i = 0; strv[i]; i++)
    json_builder_add_string_value (b, strv[i]);
  json_builder_end_array (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static gboolean
t2i_tensor_sink_start (GstBaseSink * sink)
{
  T2iTensorSink *self = T2I_TENSOR_SINK (sink);

  if (!self->location || !*self->location) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("property 'location' is not set: name the safetensors file to "
            "write (a %%05d in it writes one file per record)"), (NULL));
    return FALSE;
  }
  g_autofree char *probe = expand_pattern (self->location, 0,
      &self->has_pattern);
  if (!probe) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("location=%s: only one %%d (or %%05d) conversion is allowed; write "
            "a literal percent sign as %%%%", self->location), (NULL));
    return FALSE;
  }
  self->index = 0;
  return TRUE;
}

/* Adds grad/<leaf> for every leaf entry; FALSE after posting an error. */
static gboolean
add_gradients (T2iTensorSink * self, GstBuffer * rec, GPtrArray * names,
    GPtrArray * tensors)
{
  T2iTensor *out = t2i_record_get_tensor (rec, self->grads_of);
  g_autofree char *all = t2i_record_describe (rec);

  if (!out) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("grads-of=%s: the record has no tensor entry '%s' (it has: %s)",
            self->grads_of, self->grads_of, all), (NULL));
    return FALSE;
  }
  if (out->numel != 1) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("grads-of=%s: entry '%s' has %" G_GINT64_FORMAT " elements; name a "
            "one-element entry such as a loss", self->grads_of,
            self->grads_of, out->numel), (NULL));
    return FALSE;
  }

  g_autoptr (GPtrArray) leaves = g_ptr_array_new ();
  g_autoptr (GPtrArray) leaf_names = g_ptr_array_new ();
  for (guint i = 0; i < t2i_record_n_entries (rec); i++) {
    const char *name = t2i_record_entry_name (rec, i);
    T2iTensor *t = t2i_record_get_tensor (rec, name);
    if (t && t->requires_grad && !t->node) {
      g_ptr_array_add (leaves, t);
      g_ptr_array_add (leaf_names, (gpointer) name);
    }
  }
  if (leaves->len == 0 || !out->requires_grad) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("grads-of=%s: entry '%s' depends on no gradient leaf; mark inputs "
            "with requires-grad= on t2itensorsrc", self->grads_of,
            self->grads_of), (NULL));
    return FALSE;
  }

  T2iTensor **grads = t2i_grad (out, NULL, (T2iTensor **) leaves->pdata,
      (gint) leaves->len, FALSE);
  for (guint i = 0; i < leaves->len; i++) {
    g_ptr_array_add (names, g_strconcat ("grad/",
            (const char *) leaf_names->pdata[i], NULL));
    g_ptr_array_add (tensors, grads[i]);
  }
  g_free (grads);
  return TRUE;
}

static GstFlowReturn
tensor_sink_process (GstElement * sink, GstBuffer * rec)
{
  T2iTensorSink *self = T2I_TENSOR_SINK (sink);
  GError *err = NULL;

  /* gradients are computed on the session's stream; the file is written
   * from host copies */
  t2i_session_enter (self->session);
  if (!t2i_record_is_record (rec)) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE,
        ("received a buffer that is not a t2i record"), (NULL));
    return GST_FLOW_ERROR;
  }

  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) tensors =
      g_ptr_array_new_with_free_func ((GDestroyNotify) t2i_tensor_unref);
  g_autoptr (GHashTable) meta = g_hash_table_new_full (g_str_hash,
      g_str_equal, g_free, g_free);

  for (guint i = 0; i < t2i_record_n_entries (rec); i++) {
    const char *name = t2i_record_entry_name (rec, i);
    T2iTensor *t = t2i_record_get_tensor (rec, name);
    const char *const *strv = t2i_record_get_strings (rec, name);
    if (t) {
      g_ptr_array_add (names, g_strdup (name));
      g_ptr_array_add (tensors, t2i_tensor_ref (t));
    } else if (strv) {
      g_hash_table_insert (meta, g_strconcat ("strings:", name, NULL),
          strings_to_json (strv));
    }
  }
  T2iRecordMeta *m = t2i_record_get_meta (rec);
  g_hash_table_insert (meta, g_strdup ("record/step"),
      g_strdup_printf ("%" G_GINT64_FORMAT, m->step));
  g_hash_table_insert (meta, g_strdup ("record/epoch"),
      g_strdup_printf ("%" G_GINT64_FORMAT, m->epoch));
  if (m->phase[0])
    g_hash_table_insert (meta, g_strdup ("record/phase"),
        g_strndup (m->phase, sizeof (m->phase)));

  if (self->grads_of && *self->grads_of
      && !add_gradients (self, rec, names, tensors))
    return GST_FLOW_ERROR;

  g_autofree char *path = self->has_pattern ?
      expand_pattern (self->location, self->index, NULL) :
      g_strdup (self->location);
  g_ptr_array_add (names, NULL);
  if (!t2i_safetensors_save (path, (const char *const *) names->pdata,
          (T2iTensor **) tensors->pdata, tensors->len, meta, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("location=%s: %s", path, err->message), (NULL));
    g_error_free (err);
    return GST_FLOW_ERROR;
  }
  GST_DEBUG_OBJECT (self, "wrote %s (%u tensors)", path, tensors->len);
  self->index++;
  return GST_FLOW_OK;
}

static GstFlowReturn
t2i_tensor_sink_render (GstBaseSink * sink, GstBuffer * rec)
{
  return t2i_guard_flow (GST_ELEMENT (sink), tensor_sink_process, rec);
}

static gboolean
t2i_tensor_sink_query (GstBaseSink * sink, GstQuery * query)
{
  T2iTensorSink *self = T2I_TENSOR_SINK (sink);
  if (t2i_session_handle_context_query (GST_ELEMENT (self), query,
          self->session))
    return TRUE;
  return GST_BASE_SINK_CLASS (t2i_tensor_sink_parent_class)->query (sink,
      query);
}

static void
t2i_tensor_sink_set_context (GstElement * element, GstContext * context)
{
  t2i_session_handle_set_context (element, context,
      &T2I_TENSOR_SINK (element)->session);
  GST_ELEMENT_CLASS (t2i_tensor_sink_parent_class)->set_context (element,
      context);
}

static GstStateChangeReturn
t2i_tensor_sink_change_state (GstElement * element, GstStateChange transition)
{
  T2iTensorSink *self = T2I_TENSOR_SINK (element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    T2iSession *s = t2i_session_ensure (element, &self->session);
    /* gradients need the graphs elements only record when training */
    if (s && self->grads_of && *self->grads_of)
      t2i_session_set_training (s, TRUE);
  }
  return GST_ELEMENT_CLASS (t2i_tensor_sink_parent_class)->change_state
      (element, transition);
}

static void
t2i_tensor_sink_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iTensorSink *self = T2I_TENSOR_SINK (obj);
  switch (id) {
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (v);
      break;
    case PROP_GRADS_OF:
      g_free (self->grads_of);
      self->grads_of = g_value_dup_string (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_tensor_sink_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iTensorSink *self = T2I_TENSOR_SINK (obj);
  switch (id) {
    case PROP_LOCATION:
      g_value_set_string (v, self->location);
      break;
    case PROP_GRADS_OF:
      g_value_set_string (v, self->grads_of);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_tensor_sink_finalize (GObject * obj)
{
  T2iTensorSink *self = T2I_TENSOR_SINK (obj);
  g_free (self->location);
  g_free (self->grads_of);
  g_clear_object (&self->session);
  G_OBJECT_CLASS (t2i_tensor_sink_parent_class)->finalize (obj);
}

static void
t2i_tensor_sink_class_init (T2iTensorSinkClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *bc = GST_BASE_SINK_CLASS (klass);

  oc->set_property = t2i_tensor_sink_set_property;
  oc->get_property = t2i_tensor_sink_get_property;
  oc->finalize = t2i_tensor_sink_finalize;
  ec->set_context = t2i_tensor_sink_set_context;
  ec->change_state = t2i_tensor_sink_change_state;
  bc->start = t2i_tensor_sink_start;
  bc->render = t2i_tensor_sink_render;
  bc->query = t2i_tensor_sink_query;

  g_object_class_install_property (oc, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "safetensors file to write; a %d or %05d in it writes one file "
          "per record, numbered from 0", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, PROP_GRADS_OF,
      g_param_spec_string ("grads-of", "Gradients of",
          "One-element entry (e.g. loss/G) whose gradients with respect to "
          "every gradient-leaf entry are written as grad/<entry>", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (ec, &sink_template);
  gst_element_class_set_static_metadata (ec, "t2i tensor sink",
      "Sink/Tensor", "Writes records (and optionally gradients) to "
      "safetensors files", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_tensor_sink_init (T2iTensorSink * self)
{
  GstBaseSink *bs = GST_BASE_SINK (self);
  /* records are steps, not media: render at once, hold no graph */
  gst_base_sink_set_sync (bs, FALSE);
  gst_base_sink_set_last_sample_enabled (bs, FALSE);
}
