/* t2itensorsrc: records from a safetensors file.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2itensorsrc
 * @title: t2itensorsrc
 *
 * Reads a safetensors file and emits its tensors as one record, @repeat
 * times.  Each tensor becomes an entry of the same name, in the file's
 * order; the caps describe every entry.  String entries written by
 * t2itensorsink (as `strings:<entry>` JSON arrays in `__metadata__`) come
 * back as string entries after the tensors.
 *
 * Entries named in @requires-grad become gradient leaves: every record gets
 * fresh copies with requires_grad set, so t2itensorsink grads-of= can write
 * their gradients.  With a resuming t2itrainer downstream, the records the
 * checkpoint already trained on are skipped (records are numbered 0 to
 * @repeat - 1 in their meta step).  `t2i-progress` {step, total} counts
 * the records (no total when @repeat is 0), posted before the first, then
 * at most once a second, and at the end.
 *
 * Tensor names must be valid entry names (a letter, then letters, digits,
 * '/', '-', '_' or ':').
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itensorsrc location=in.safetensors repeat=2 ! t2itensorsink location=out-%02d.safetensors
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2itensorsrc.h"
#include "gstt2iprogress.h"

#include <json-glib/json-glib.h>
#include <string.h>
#include <t2i/t2i.h>

GST_DEBUG_CATEGORY_STATIC (t2i_tensor_src_debug);
#define GST_CAT_DEFAULT t2i_tensor_src_debug

#define STRINGS_PREFIX "strings:"

struct _T2iTensorSrc
{
  T2iSource parent;

  gchar *location;
  gchar *requires_grad;
  guint repeat;

  GPtrArray *names;             /* entry names, tensors first */
  GPtrArray *tensors;           /* T2iTensor*, NULL for string entries */
  GPtrArray *strings;           /* GStrv, NULL for tensor entries */
  GHashTable *grad_entries;     /* names that become leaves */
  GstCaps *caps;                /* describes the records, under the object lock */
  gint64 next;                  /* next record index */
  T2iProgressPoster progress;
};

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_REQUIRES_GRAD,
  PROP_REPEAT,
};

#define EXAMPLE "t2itensorsrc location=in.safetensors repeat=2 ! " \
    "t2itensorsink location=out-%02d.safetensors"

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (T2I_RECORD_CAPS_NAME));

G_DEFINE_TYPE_WITH_CODE (T2iTensorSrc, t2i_tensor_src, T2I_TYPE_SOURCE,
    GST_DEBUG_CATEGORY_INIT (t2i_tensor_src_debug, "t2itensorsrc", 0,
        "t2i safetensors source"));
GST_ELEMENT_REGISTER_DEFINE (t2itensorsrc, "t2itensorsrc", GST_RANK_NONE,
    T2I_TYPE_TENSOR_SRC);

static void
clear_entries (T2iTensorSrc * self)
{
  g_clear_pointer (&self->names, g_ptr_array_unref);
  g_clear_pointer (&self->tensors, g_ptr_array_unref);
  g_clear_pointer (&self->strings, g_ptr_array_unref);
  g_clear_pointer (&self->grad_entries, g_hash_table_unref);
}

static void
tensor_unref0 (gpointer t)
{
  if (t)
    t2i_tensor_unref (t);
}

static void
strv_free0 (gpointer s)
{
  g_strfreev (s);
}

/* a metadata value that is a JSON array of strings, or NULL */
static gchar **
parse_string_list (const char *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, json, -1, NULL))
    return NULL;
  JsonNode *root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_ARRAY (root))
    return NULL;
  JsonArray *arr = json_node_get_array (root);
  guint n = json_array_get_length (arr);
  gchar **strv = g_new0 (gchar *, n + 1);
  for (guint i = 0; i < n; i++) {
    JsonNode *e = json_array_get_element (arr, i);
    if (!JSON_NODE_HOLDS_VALUE (e)
        || json_node_get_value_type (e) != G_TYPE_STRING) {
      g_strfreev (strv);
      return NULL;
    }
    strv[i] = g_strdup (json_node_get_string (e));
  }
  return strv;
}

static gint
compare_str (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

static gboolean
add_entry (T2iTensorSrc * self, const char *name, T2iTensor * t, gchar ** strv)
{
  if (!t2i_record_name_is_valid (name)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("location=%s: '%s' is not a valid entry name (use a letter, then "
            "letters, digits, '/', '-', '_' or ':'); rename it in the file",
            self->location, name), (NULL));
    return FALSE;
  }
  g_ptr_array_add (self->names, g_strdup (name));
  g_ptr_array_add (self->tensors, t);
  g_ptr_array_add (self->strings, strv);
  return TRUE;
}

static gboolean
load_file (T2iTensorSrc * self)
{
  GError *err = NULL;

  if (!self->location || !*self->location) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("property 'location' is not set: name the safetensors file to read"),
        (NULL));
    return FALSE;
  }
  T2iSafetensors *st = t2i_safetensors_load (self->location, &err);
  if (!st) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("%s; set location= to a readable safetensors file", err->message),
        (NULL));
    g_error_free (err);
    return FALSE;
  }

  self->names = g_ptr_array_new_null_terminated (0, g_free, TRUE);
  self->tensors = g_ptr_array_new_with_free_func (tensor_unref0);
  self->strings = g_ptr_array_new_with_free_func (strv_free0);
  self->grad_entries = g_hash_table_new_full (g_str_hash, g_str_equal,
      g_free, NULL);

  gboolean ok = TRUE;
  const char *const *names = t2i_safetensors_names (st);
  for (guint i = 0; ok && names[i]; i++) {
    T2iTensor *t = t2i_safetensors_read (st, names[i], &err);
    if (!t) {
      GST_ELEMENT_ERROR (self, STREAM, DECODE,
          ("location=%s: %s", self->location, err->message), (NULL));
      g_clear_error (&err);
      ok = FALSE;
    } else {
      ok = add_entry (self, names[i], t, NULL);
      if (!ok)
        t2i_tensor_unref (t);
    }
  }

  /* string entries, in key order so the record is deterministic */
  GHashTable *meta = t2i_safetensors_get_metadata_table (st);
  guint n_keys = 0;
  gpointer *keys = meta ? g_hash_table_get_keys_as_array (meta, &n_keys) : NULL;
  if (keys)
    qsort (keys, n_keys, sizeof (gpointer), compare_str);
  for (guint i = 0; ok && i < n_keys; i++) {
    const char *key = keys[i];
    if (!g_str_has_prefix (key, STRINGS_PREFIX))
      continue;
    gchar **strv = parse_string_list (g_hash_table_lookup (meta, key));
    if (!strv) {
      GST_ELEMENT_ERROR (self, STREAM, DECODE,
          ("location=%s: metadata \"%s\" is not a JSON array of strings",
              self->location, key), (NULL));
      ok = FALSE;
    } else if (!add_entry (self, key + strlen (STRINGS_PREFIX), NULL, strv)) {
      g_strfreev (strv);
      ok = FALSE;
    }
  }
  g_free (keys);
  t2i_safetensors_free (st);

  /* requires-grad: every name must be a floating tensor of the file */
  g_auto (GStrv) wanted = self->requires_grad ?
      g_strsplit (self->requires_grad, ",", -1) : NULL;
  for (guint i = 0; ok && wanted && wanted[i]; i++) {
    const char *w = g_strstrip (wanted[i]);
    if (!*w)
      continue;
    guint idx;
    T2iTensor *t = NULL;
    if (g_ptr_array_find_with_equal_func (self->names, w, g_str_equal, &idx))
      t = self->tensors->pdata[idx];
    if (!t || (t->dtype != T2I_F32 && t->dtype != T2I_F64)) {
      g_autofree char *all = g_strjoinv (", ", (gchar **) self->names->pdata);
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("requires-grad names '%s' but location=%s has no floating tensor "
              "of that name (it has: %s)", w, self->location,
              self->names->len ? all : "nothing"), (NULL));
      ok = FALSE;
    } else {
      g_hash_table_add (self->grad_entries, g_strdup (w));
    }
  }
  if (!ok)
    clear_entries (self);
  return ok;
}

static GstCaps *
make_caps (T2iTensorSrc * self)
{
  GstCaps *caps = t2i_record_caps_new_any ();
  GstStructure *s = gst_caps_get_structure (caps, 0);
  for (guint i = 0; i < self->names->len; i++) {
    T2iTensor *t = self->tensors->pdata[i];
    if (t) {
      t2i_caps_set_entry (s, self->names->pdata[i], t2i_dtype_name (t->dtype),
          t->ndim, t->shape);
    } else {
      gint64 n = g_strv_length (self->strings->pdata[i]);
      t2i_caps_set_entry (s, self->names->pdata[i], "str", 1, &n);
    }
  }
  return caps;
}

static gboolean
t2i_tensor_src_start (GstBaseSrc * src)
{
  T2iTensorSrc *self = T2I_TENSOR_SRC (src);

  clear_entries (self);
  if (!load_file (self))
    return FALSE;
  GstCaps *caps = make_caps (self);
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->caps, caps);
  GST_OBJECT_UNLOCK (self);
  gst_caps_unref (caps);
  self->next =
      t2i_session_get_resume_step (t2i_source_get_session (T2I_SOURCE (self)));
  t2i_progress_reset (&self->progress);
  if (self->next > 0)
    GST_INFO_OBJECT (self, "resuming after %" G_GINT64_FORMAT " records",
        self->next);
  return TRUE;
}

static gboolean
t2i_tensor_src_stop (GstBaseSrc * src)
{
  T2iTensorSrc *self = T2I_TENSOR_SRC (src);
  clear_entries (self);
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->caps, NULL);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static GstCaps *
t2i_tensor_src_get_caps (GstBaseSrc * src, GstCaps * filter)
{
  T2iTensorSrc *self = T2I_TENSOR_SRC (src);
  GstCaps *caps;

  GST_OBJECT_LOCK (self);
  caps = self->caps ? gst_caps_ref (self->caps) : t2i_record_caps_new_any ();
  GST_OBJECT_UNLOCK (self);
  if (filter) {
    GstCaps *f = gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = f;
  }
  return caps;
}

static GstFlowReturn
t2i_tensor_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  T2iTensorSrc *self = T2I_TENSOR_SRC (psrc);
  GError *err = NULL;

  gboolean end = self->repeat > 0 && self->next >= (gint64) self->repeat;
  t2i_progress_update (&self->progress, GST_ELEMENT (self), self->next,
      self->repeat > 0 ? (gint64) self->repeat : -1, 0, end);
  if (end)
    return GST_FLOW_EOS;

  GstBuffer *rec = t2i_record_new ();
  for (guint i = 0; i < self->names->len; i++) {
    const char *name = self->names->pdata[i];
    T2iTensor *t = self->tensors->pdata[i];
    gboolean ok;
    if (t) {
      /* fresh copies: a leaf per record, and no element can change the
       * file's values for the next record */
      T2iTensor *c = t2i_tensor_copy (t);
      if (g_hash_table_contains (self->grad_entries, name))
        t2i_tensor_set_requires_grad (c, TRUE);
      ok = t2i_record_set_tensor (rec, name, c, &err);
      t2i_tensor_unref (c);
    } else {
      ok = t2i_record_set_strings (rec, name,
          (const char *const *) self->strings->pdata[i], &err);
    }
    if (!ok) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", err->message), (NULL));
      g_error_free (err);
      gst_buffer_unref (rec);
      return GST_FLOW_ERROR;
    }
  }
  T2iRecordMeta *meta = t2i_record_get_meta (rec);
  meta->step = self->next;
  meta->epoch = 0;
  meta->seed = t2i_session_get_seed (t2i_source_get_session (T2I_SOURCE (self)));
  GST_BUFFER_OFFSET (rec) = (guint64) self->next;
  GST_BUFFER_OFFSET_END (rec) = (guint64) self->next + 1;
  self->next++;
  *outbuf = rec;
  return GST_FLOW_OK;
}

static void
t2i_tensor_src_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iTensorSrc *self = T2I_TENSOR_SRC (obj);
  switch (id) {
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (v);
      break;
    case PROP_REQUIRES_GRAD:
      g_free (self->requires_grad);
      self->requires_grad = g_value_dup_string (v);
      break;
    case PROP_REPEAT:
      self->repeat = g_value_get_uint (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_tensor_src_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iTensorSrc *self = T2I_TENSOR_SRC (obj);
  switch (id) {
    case PROP_LOCATION:
      g_value_set_string (v, self->location);
      break;
    case PROP_REQUIRES_GRAD:
      g_value_set_string (v, self->requires_grad);
      break;
    case PROP_REPEAT:
      g_value_set_uint (v, self->repeat);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_tensor_src_finalize (GObject * obj)
{
  T2iTensorSrc *self = T2I_TENSOR_SRC (obj);
  clear_entries (self);
  gst_caps_replace (&self->caps, NULL);
  g_free (self->location);
  g_free (self->requires_grad);
  G_OBJECT_CLASS (t2i_tensor_src_parent_class)->finalize (obj);
}

static void
t2i_tensor_src_class_init (T2iTensorSrcClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *bc = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pc = GST_PUSH_SRC_CLASS (klass);

  oc->set_property = t2i_tensor_src_set_property;
  oc->get_property = t2i_tensor_src_get_property;
  oc->finalize = t2i_tensor_src_finalize;
  bc->start = t2i_tensor_src_start;
  bc->stop = t2i_tensor_src_stop;
  bc->get_caps = t2i_tensor_src_get_caps;
  pc->create = t2i_tensor_src_create;

  g_object_class_install_property (oc, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "safetensors file whose tensors become the record's entries", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, PROP_REQUIRES_GRAD,
      g_param_spec_string ("requires-grad", "Requires grad",
          "Comma-separated entries that become gradient leaves (fresh per "
          "record), e.g. \"x,w\"", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (oc, PROP_REPEAT,
      g_param_spec_uint ("repeat", "Repeat",
          "Number of records to emit (0 = until stopped)", 0, G_MAXUINT, 1,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (ec, &src_template);
  gst_element_class_set_static_metadata (ec, "t2i tensor source",
      "Source/Tensor", "Emits the tensors of a safetensors file as records",
      "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_tensor_src_init (T2iTensorSrc * self)
{
  self->repeat = 1;
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}
