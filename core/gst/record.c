/* The record buffer, its meta and its caps (see t2i/record.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/record.h"

#include <string.h>

G_DEFINE_QUARK (t2i-record-error-quark, t2i_record_error)

/* ---- entry memory: a GstMemory wrapping a tensor or a string list ---- */

#define T2I_ENTRY_MEMORY_TYPE "T2iEntry"

typedef struct
{
  GstMemory mem;
  T2iTensor *tensor;            /* or */
  gchar **strv;
  gchar *blob;                  /* strings NUL-separated, what map() shows */
} EntryMemory;

typedef struct
{
  GstAllocator parent;
} EntryAllocator;
typedef struct
{
  GstAllocatorClass parent_class;
} EntryAllocatorClass;

static GType entry_allocator_get_type (void);
G_DEFINE_TYPE (EntryAllocator, entry_allocator, GST_TYPE_ALLOCATOR);

static GstAllocator *entry_allocator;

static GstMemory *
entry_alloc (GstAllocator * a, gsize size, GstAllocationParams * params)
{
  g_warning ("t2i entry memory is created by t2i_record_set_*, not allocated");
  return NULL;
}

static void
entry_free (GstAllocator * a, GstMemory * mem)
{
  EntryMemory *m = (EntryMemory *) mem;
  if (m->tensor)
    t2i_tensor_unref (m->tensor);
  g_strfreev (m->strv);
  g_free (m->blob);
  g_free (m);
}

static gpointer
entry_map (GstMemory * mem, gsize maxsize, GstMapFlags flags)
{
  EntryMemory *m = (EntryMemory *) mem;
  return m->tensor ? m->tensor->data : m->blob;
}

static void
entry_unmap (GstMemory * mem)
{
}

static GstMemory *entry_memory_new_tensor (T2iTensor * t);
static GstMemory *entry_memory_new_strings (const char *const *strv);

static GstMemory *
entry_copy (GstMemory * mem, gssize offset, gssize size)
{
  EntryMemory *m = (EntryMemory *) mem;
  g_return_val_if_fail (offset == 0 && (size == -1
          || (gsize) size == mem->size), NULL);
  if (m->tensor) {
    T2iTensor *c = t2i_tensor_copy (m->tensor);
    GstMemory *r = entry_memory_new_tensor (c);
    t2i_tensor_unref (c);
    return r;
  }
  return entry_memory_new_strings ((const char *const *) m->strv);
}

static GstMemory *
entry_share (GstMemory * mem, gssize offset, gssize size)
{
  EntryMemory *m = (EntryMemory *) mem;
  /* a buffer copy shares the entry (and so keeps the autograd graph);
   * sub-ranges of a tensor are not tensors */
  if (offset != 0 || (size != -1 && (gsize) size != mem->size))
    return NULL;
  return m->tensor ? entry_memory_new_tensor (m->tensor)
      : entry_memory_new_strings ((const char *const *) m->strv);
}

static void
entry_allocator_class_init (EntryAllocatorClass * klass)
{
  GST_ALLOCATOR_CLASS (klass)->alloc = entry_alloc;
  GST_ALLOCATOR_CLASS (klass)->free = entry_free;
}

static void
entry_allocator_init (EntryAllocator * self)
{
  GstAllocator *a = GST_ALLOCATOR (self);
  a->mem_type = T2I_ENTRY_MEMORY_TYPE;
  a->mem_map = entry_map;
  a->mem_unmap = entry_unmap;
  a->mem_copy = entry_copy;
  a->mem_share = entry_share;
  GST_OBJECT_FLAG_SET (self, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

static GstAllocator *
get_entry_allocator (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    entry_allocator = g_object_new (entry_allocator_get_type (), NULL);
    gst_object_ref_sink (entry_allocator);
    GST_OBJECT_FLAG_SET (entry_allocator, GST_OBJECT_FLAG_MAY_BE_LEAKED);
    g_once_init_leave (&once, 1);
  }
  return entry_allocator;
}

static GstMemory *
entry_memory_wrap (EntryMemory * m, gsize size)
{
  gst_memory_init (GST_MEMORY_CAST (m), 0,
      get_entry_allocator (), NULL, size, 0, 0, size);
  return GST_MEMORY_CAST (m);
}

static GstMemory *
entry_memory_new_tensor (T2iTensor * t)
{
  EntryMemory *m = g_new0 (EntryMemory, 1);
  m->tensor = t2i_tensor_ref (t);
  return entry_memory_wrap (m, t->nbytes);
}

static GstMemory *
entry_memory_new_strings (const char *const *strv)
{
  EntryMemory *m = g_new0 (EntryMemory, 1);
  gsize size = 0;
  m->strv = g_strdupv ((gchar **) strv);
  for (guint i = 0; strv[i]; i++)
    size += strlen (strv[i]) + 1;
  m->blob = g_malloc (size ? size : 1);
  gsize off = 0;
  for (guint i = 0; strv[i]; i++) {
    gsize l = strlen (strv[i]) + 1;
    memcpy (m->blob + off, strv[i], l);
    off += l;
  }
  return entry_memory_wrap (m, size);
}

static gboolean
is_entry_memory (GstMemory * mem)
{
  return mem && mem->allocator == entry_allocator;
}

/* ---- meta ---- */

GType
t2i_record_meta_api_get_type (void)
{
  static GType type = 0;
  static const gchar *tags[] = { NULL };
  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("T2iRecordMetaAPI", tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  T2iRecordMeta *m = (T2iRecordMeta *) meta;
  m->n_entries = 0;
  memset (m->names, 0, sizeof (m->names));
  m->step = m->epoch = 0;
  m->phase[0] = 0;
  m->seed = 0;
  return TRUE;
}

static void
meta_free (GstMeta * meta, GstBuffer * buffer)
{
  T2iRecordMeta *m = (T2iRecordMeta *) meta;
  for (guint i = 0; i < m->n_entries; i++)
    g_free (m->names[i]);
}

static gboolean
meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer,
    GQuark type, gpointer data)
{
  T2iRecordMeta *src = (T2iRecordMeta *) meta, *d;
  if (!GST_META_TRANSFORM_IS_COPY (type))
    return FALSE;
  d = (T2iRecordMeta *) gst_buffer_get_meta (dest,
      t2i_record_meta_api_get_type ());
  if (!d)
    d = (T2iRecordMeta *) gst_buffer_add_meta (dest, t2i_record_meta_get_info (),
        NULL);
  for (guint i = 0; i < d->n_entries; i++)
    g_free (d->names[i]);
  d->n_entries = src->n_entries;
  for (guint i = 0; i < src->n_entries; i++)
    d->names[i] = g_strdup (src->names[i]);
  d->step = src->step;
  d->epoch = src->epoch;
  memcpy (d->phase, src->phase, sizeof (d->phase));
  d->seed = src->seed;
  return TRUE;
}

const GstMetaInfo *
t2i_record_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *i = gst_meta_register (t2i_record_meta_api_get_type (),
        "T2iRecordMeta", sizeof (T2iRecordMeta), meta_init, meta_free,
        meta_transform);
    g_once_init_leave ((GstMetaInfo **) & info, (GstMetaInfo *) i);
  }
  return info;
}

/* ---- record ---- */

GstBuffer *
t2i_record_new (void)
{
  GstBuffer *b = gst_buffer_new ();
  gst_buffer_add_meta (b, t2i_record_meta_get_info (), NULL);
  return b;
}

T2iRecordMeta *
t2i_record_get_meta (GstBuffer * record)
{
  return (T2iRecordMeta *) gst_buffer_get_meta (record,
      t2i_record_meta_api_get_type ());
}

gboolean
t2i_record_is_record (GstBuffer * buffer)
{
  return t2i_record_get_meta (buffer) != NULL;
}

gboolean
t2i_record_name_is_valid (const char *name)
{
  if (!name || !g_ascii_isalpha (name[0]))
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && !strchr ("/-_:", *p))
      return FALSE;
  return TRUE;
}

static gint
find_entry (T2iRecordMeta * m, const char *name)
{
  for (guint i = 0; i < m->n_entries; i++)
    if (strcmp (m->names[i], name) == 0)
      return (gint) i;
  return -1;
}

static gboolean
set_memory (GstBuffer * record, const char *name, GstMemory * mem,
    GError ** error)
{
  T2iRecordMeta *m = t2i_record_get_meta (record);
  g_return_val_if_fail (m != NULL, FALSE);
  g_return_val_if_fail (gst_buffer_is_writable (record), FALSE);
  if (!t2i_record_name_is_valid (name)) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_BAD_NAME,
        "invalid entry name '%s' (use a letter, then letters, digits, '/', "
        "'-', '_' or ':')", name ? name : "(null)");
    gst_memory_unref (mem);
    return FALSE;
  }
  gint i = find_entry (m, name);
  if (i >= 0) {
    gst_buffer_replace_memory (record, (guint) i, mem);
    return TRUE;
  }
  if (m->n_entries >= T2I_RECORD_MAX_ENTRIES) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_TOO_MANY,
        "cannot add entry '%s': a record holds at most %d entries; drop "
        "entries you no longer need (e.g. with keep= on the element)",
        name, T2I_RECORD_MAX_ENTRIES);
    gst_memory_unref (mem);
    return FALSE;
  }
  m->names[m->n_entries++] = g_strdup (name);
  gst_buffer_append_memory (record, mem);
  return TRUE;
}

gboolean
t2i_record_set_tensor (GstBuffer * record, const char *name,
    T2iTensor * tensor, GError ** error)
{
  g_return_val_if_fail (tensor != NULL, FALSE);
  return set_memory (record, name, entry_memory_new_tensor (tensor), error);
}

gboolean
t2i_record_set_strings (GstBuffer * record, const char *name,
    const char *const *strv, GError ** error)
{
  g_return_val_if_fail (strv != NULL, FALSE);
  return set_memory (record, name, entry_memory_new_strings (strv), error);
}

gboolean
t2i_record_remove (GstBuffer * record, const char *name)
{
  T2iRecordMeta *m = t2i_record_get_meta (record);
  gint i = m ? find_entry (m, name) : -1;
  if (i < 0)
    return FALSE;
  gst_buffer_remove_memory (record, (guint) i);
  g_free (m->names[i]);
  for (guint k = (guint) i; k + 1 < m->n_entries; k++)
    m->names[k] = m->names[k + 1];
  m->n_entries--;
  return TRUE;
}

gboolean
t2i_record_has (GstBuffer * record, const char *name)
{
  T2iRecordMeta *m = t2i_record_get_meta (record);
  return m && find_entry (m, name) >= 0;
}

guint
t2i_record_n_entries (GstBuffer * record)
{
  T2iRecordMeta *m = t2i_record_get_meta (record);
  return m ? m->n_entries : 0;
}

const char *
t2i_record_entry_name (GstBuffer * record, guint index)
{
  T2iRecordMeta *m = t2i_record_get_meta (record);
  return m && index < m->n_entries ? m->names[index] : NULL;
}

static EntryMemory *
get_entry (GstBuffer * record, const char *name)
{
  T2iRecordMeta *m = t2i_record_get_meta (record);
  gint i = m ? find_entry (m, name) : -1;
  if (i < 0 || (guint) i >= gst_buffer_n_memory (record))
    return NULL;
  GstMemory *mem = gst_buffer_peek_memory (record, (guint) i);
  return is_entry_memory (mem) ? (EntryMemory *) mem : NULL;
}

T2iTensor *
t2i_record_get_tensor (GstBuffer * record, const char *name)
{
  EntryMemory *e = get_entry (record, name);
  return e ? e->tensor : NULL;
}

const char *const *
t2i_record_get_strings (GstBuffer * record, const char *name)
{
  EntryMemory *e = get_entry (record, name);
  return e ? (const char *const *) e->strv : NULL;
}

static void
describe_one (GString * s, const char *name, const char *dtype, gint ndim,
    const gint64 * shape)
{
  g_autofree char *sh = t2i_shape_to_string (ndim, shape);
  if (s->len)
    g_string_append (s, ", ");
  g_string_append_printf (s, "%s %s%s", name, dtype, sh);
}

char *
t2i_record_describe (GstBuffer * record)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < t2i_record_n_entries (record); i++) {
    const char *name = t2i_record_entry_name (record, i);
    EntryMemory *e = get_entry (record, name);
    if (e && e->tensor) {
      describe_one (s, name, t2i_dtype_name (e->tensor->dtype),
          e->tensor->ndim, e->tensor->shape);
    } else if (e) {
      gint64 n = g_strv_length (e->strv);
      describe_one (s, name, "str", 1, &n);
    }
  }
  if (!s->len)
    g_string_append (s, "no entries");
  return g_string_free (s, FALSE);
}

/* ---- caps ---- */

GstCaps *
t2i_record_caps_new_any (void)
{
  return gst_caps_new_empty_simple (T2I_RECORD_CAPS_NAME);
}

static char *
field (const char *name, const char *what)
{
  return g_strconcat (name, ".", what, NULL);
}

void
t2i_caps_set_entry (GstStructure * s, const char *name, const char *dtype,
    gint ndim, const gint64 * shape)
{
  g_autofree char *fd = field (name, "dtype");
  g_autofree char *fs = field (name, "shape");
  GValue arr = G_VALUE_INIT, v = G_VALUE_INIT;

  gst_structure_set (s, fd, G_TYPE_STRING, dtype, NULL);
  gst_value_array_init (&arr, ndim);
  g_value_init (&v, G_TYPE_INT);
  for (gint i = 0; i < ndim; i++) {
    g_value_set_int (&v, (gint) shape[i]);
    gst_value_array_append_value (&arr, &v);
  }
  gst_structure_take_value (s, fs, &arr);
  g_value_unset (&v);

  /* keep the ordered entry list */
  const GValue *old = gst_structure_get_value (s, "entries");
  GValue list = G_VALUE_INIT, sv = G_VALUE_INIT;
  gboolean present = FALSE;
  gst_value_array_init (&list, 0);
  g_value_init (&sv, G_TYPE_STRING);
  if (old && GST_VALUE_HOLDS_ARRAY (old)) {
    for (guint i = 0; i < gst_value_array_get_size (old); i++) {
      const GValue *e = gst_value_array_get_value (old, i);
      present |= g_strcmp0 (g_value_get_string (e), name) == 0;
      gst_value_array_append_value (&list, e);
    }
  }
  if (!present) {
    g_value_set_string (&sv, name);
    gst_value_array_append_value (&list, &sv);
  }
  g_value_unset (&sv);
  gst_structure_take_value (s, "entries", &list);
}

gboolean
t2i_caps_remove_entry (GstStructure * s, const char *name)
{
  g_autofree char *fd = field (name, "dtype");
  g_autofree char *fs = field (name, "shape");
  gboolean had = gst_structure_has_field (s, fd);
  gst_structure_remove_fields (s, fd, fs, NULL);
  const GValue *old = gst_structure_get_value (s, "entries");
  if (old && GST_VALUE_HOLDS_ARRAY (old)) {
    GValue list = G_VALUE_INIT;
    gst_value_array_init (&list, 0);
    for (guint i = 0; i < gst_value_array_get_size (old); i++) {
      const GValue *e = gst_value_array_get_value (old, i);
      if (g_strcmp0 (g_value_get_string (e), name) != 0)
        gst_value_array_append_value (&list, e);
    }
    gst_structure_take_value (s, "entries", &list);
  }
  return had;
}

gboolean
t2i_caps_get_entry (const GstStructure * s, const char *name,
    const char **dtype, gint * ndim, gint64 * shape)
{
  g_autofree char *fd = field (name, "dtype");
  g_autofree char *fs = field (name, "shape");
  const char *dt = gst_structure_get_string (s, fd);
  const GValue *sh = gst_structure_get_value (s, fs);
  if (!dt)
    return FALSE;
  if (dtype)
    *dtype = dt;
  gint nd = 0;
  if (sh && GST_VALUE_HOLDS_ARRAY (sh)) {
    nd = (gint) MIN (gst_value_array_get_size (sh), T2I_MAX_DIMS);
    for (gint i = 0; i < nd && shape; i++) {
      const GValue *e = gst_value_array_get_value (sh, (guint) i);
      shape[i] = G_VALUE_HOLDS_INT (e) ? g_value_get_int (e) : -1;
    }
  }
  if (ndim)
    *ndim = nd;
  return TRUE;
}

char *
t2i_caps_describe (const GstStructure * s)
{
  GString *str = g_string_new (NULL);
  const GValue *list = gst_structure_get_value (s, "entries");
  if (list && GST_VALUE_HOLDS_ARRAY (list)) {
    for (guint i = 0; i < gst_value_array_get_size (list); i++) {
      const char *name = g_value_get_string (gst_value_array_get_value (list, i));
      const char *dt;
      gint nd;
      gint64 sh[T2I_MAX_DIMS];
      if (name && t2i_caps_get_entry (s, name, &dt, &nd, sh))
        describe_one (str, name, dt, nd, sh);
    }
  }
  if (!str->len)
    g_string_append (str, "no entries");
  return g_string_free (str, FALSE);
}

GstCaps *
t2i_record_caps_from_record (GstBuffer * record)
{
  GstCaps *caps = t2i_record_caps_new_any ();
  GstStructure *s = gst_caps_get_structure (caps, 0);
  for (guint i = 0; i < t2i_record_n_entries (record); i++) {
    const char *name = t2i_record_entry_name (record, i);
    EntryMemory *e = get_entry (record, name);
    if (e && e->tensor) {
      t2i_caps_set_entry (s, name, t2i_dtype_name (e->tensor->dtype),
          e->tensor->ndim, e->tensor->shape);
    } else if (e) {
      gint64 n = g_strv_length (e->strv);
      t2i_caps_set_entry (s, name, "str", 1, &n);
    }
  }
  return caps;
}

gboolean
t2i_caps_require (const GstStructure * s, const char *name,
    const char *dtype, gint ndim, const gint64 * shape, GError ** error)
{
  const char *dt;
  gint nd;
  gint64 sh[T2I_MAX_DIMS];
  g_autofree char *offers = t2i_caps_describe (s);

  if (!t2i_caps_get_entry (s, name, &dt, &nd, sh)) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "needs entry '%s' but upstream offers %s", name, offers);
    return FALSE;
  }
  gboolean ok = dtype ? g_strcmp0 (dt, dtype) == 0
      : (g_strcmp0 (dt, "f32") == 0 || g_strcmp0 (dt, "f64") == 0);
  if (ok && ndim > 0 && nd != ndim)
    ok = FALSE;
  for (gint i = 0; ok && ndim > 0 && shape && i < ndim; i++)
    if (shape[i] >= 0 && shape[i] != sh[i])
      ok = FALSE;
  if (!ok) {
    GString *want = g_string_new (dtype ? dtype : "f32");
    if (ndim > 0) {
      g_string_append_c (want, '[');
      for (gint i = 0; i < ndim; i++) {
        if (i)
          g_string_append_c (want, ',');
        if (shape && shape[i] >= 0)
          g_string_append_printf (want, "%" G_GINT64_FORMAT, shape[i]);
        else
          g_string_append_c (want, '*');
      }
      g_string_append_c (want, ']');
    }
    g_autofree char *got = t2i_shape_to_string (nd, sh);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "entry '%s' must be %s but upstream offers %s%s (all entries: %s)",
        name, want->str, dt, got, offers);
    g_string_free (want, TRUE);
    return FALSE;
  }
  return TRUE;
}
