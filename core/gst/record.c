/* The record buffer, its meta and its caps (see t2i/record.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/record.h"

#include <string.h>

G_DEFINE_QUARK (t2i-record-error-quark, t2i_record_error)

/* ---- the entry table: one GstMemory per record ----
 *
 * The buffer's only memory is a TableMemory: an ordered array of entries
 * and a name index.  It is never changed while shared: a writer that finds
 * it shared (gst_memory_is_writable() is FALSE once two buffers hold it)
 * replaces it by a copy of the table that references the same tensors. */

#define T2I_TABLE_MEMORY_TYPE "T2iRecordTable"

typedef struct
{
  gchar *name;
  T2iTensor *tensor;            /* or */
  gchar **strv;
} Entry;

typedef struct
{
  GstMemory mem;
  GPtrArray *entries;           /* Entry*, in order */
  GHashTable *index;            /* name (owned by the entry) -> Entry* */
} TableMemory;

typedef struct
{
  GstAllocator parent;
} TableAllocator;
typedef struct
{
  GstAllocatorClass parent_class;
} TableAllocatorClass;

static GType table_allocator_get_type (void);
G_DEFINE_TYPE (TableAllocator, table_allocator, GST_TYPE_ALLOCATOR);

static GstAllocator *table_allocator;

static void
entry_free (gpointer p)
{
  Entry *e = p;
  g_free (e->name);
  if (e->tensor)
    t2i_tensor_unref (e->tensor);
  g_strfreev (e->strv);
  g_free (e);
}

static Entry *
entry_new (const char *name, T2iTensor * tensor, gchar ** strv)
{
  Entry *e = g_new (Entry, 1);
  e->name = g_strdup (name);
  e->tensor = tensor;
  e->strv = strv;
  return e;
}

static GstMemory *
table_alloc (GstAllocator * a, gsize size, GstAllocationParams * params)
{
  g_warning ("t2i record tables are created by t2i_record_new, not "
      "allocated");
  return NULL;
}

static void
table_free (GstAllocator * a, GstMemory * mem)
{
  TableMemory *m = (TableMemory *) mem;
  g_hash_table_unref (m->index);
  g_ptr_array_unref (m->entries);
  g_free (m);
}

/* A record has no bytes of its own (its entries are tensors); mapping it
 * shows the table pointer.  The memory still has a size: GstBuffer skips
 * empty memories when it copies a buffer. */
static gpointer
table_map (GstMemory * mem, gsize maxsize, GstMapFlags flags)
{
  return &((TableMemory *) mem)->entries;
}

static void
table_unmap (GstMemory * mem)
{
}

static TableMemory *table_new (void);

static void
table_append (TableMemory * m, Entry * e)
{
  g_ptr_array_add (m->entries, e);
  g_hash_table_insert (m->index, e->name, e);
}

/* @deep copies the tensors (detached) and strings too */
static TableMemory *
table_copy (TableMemory * src, gboolean deep)
{
  TableMemory *m = table_new ();
  for (guint i = 0; i < src->entries->len; i++) {
    Entry *e = src->entries->pdata[i];
    T2iTensor *t = !e->tensor ? NULL : deep ? t2i_tensor_copy (e->tensor)
        : t2i_tensor_ref (e->tensor);
    table_append (m, entry_new (e->name, t, g_strdupv (e->strv)));
  }
  return m;
}

static GstMemory *
table_mem_copy (GstMemory * mem, gssize offset, gssize size)
{
  return GST_MEMORY_CAST (table_copy ((TableMemory *) mem, TRUE));
}

static GstMemory *
table_mem_share (GstMemory * mem, gssize offset, gssize size)
{
  /* a record is shared whole, by reference (gst_buffer_copy does that);
   * a part of a table means nothing */
  return NULL;
}

static void
table_allocator_class_init (TableAllocatorClass * klass)
{
  GST_ALLOCATOR_CLASS (klass)->alloc = table_alloc;
  GST_ALLOCATOR_CLASS (klass)->free = table_free;
}

static void
table_allocator_init (TableAllocator * self)
{
  GstAllocator *a = GST_ALLOCATOR (self);
  a->mem_type = T2I_TABLE_MEMORY_TYPE;
  a->mem_map = table_map;
  a->mem_unmap = table_unmap;
  a->mem_copy = table_mem_copy;
  a->mem_share = table_mem_share;
  GST_OBJECT_FLAG_SET (self, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

static GstAllocator *
get_table_allocator (void)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    table_allocator = g_object_new (table_allocator_get_type (), NULL);
    gst_object_ref_sink (table_allocator);
    GST_OBJECT_FLAG_SET (table_allocator, GST_OBJECT_FLAG_MAY_BE_LEAKED);
    g_once_init_leave (&once, 1);
  }
  return table_allocator;
}

static TableMemory *
table_new (void)
{
  TableMemory *m = g_new0 (TableMemory, 1);
  m->entries = g_ptr_array_new_with_free_func (entry_free);
  m->index = g_hash_table_new (g_str_hash, g_str_equal);
  gst_memory_init (GST_MEMORY_CAST (m), 0, get_table_allocator (), NULL,
      sizeof (gpointer), 0, 0, sizeof (gpointer));
  return m;
}

/* the record's table for reading, or NULL */
static TableMemory *
get_table (GstBuffer * record)
{
  if (!record || gst_buffer_n_memory (record) != 1)
    return NULL;
  GstMemory *mem = gst_buffer_peek_memory (record, 0);
  return mem->allocator == table_allocator ? (TableMemory *) mem : NULL;
}

/* the record's table for changing: its own copy when it is shared */
static TableMemory *
get_writable_table (GstBuffer * record)
{
  TableMemory *m = get_table (record);
  g_return_val_if_fail (m != NULL, NULL);
  g_return_val_if_fail (gst_buffer_is_writable (record), NULL);
  if (!gst_memory_is_writable (GST_MEMORY_CAST (m))) {
    m = table_copy (m, FALSE);
    gst_buffer_replace_memory (record, 0, GST_MEMORY_CAST (m));
  }
  return m;
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
  m->step = m->epoch = 0;
  m->phase[0] = 0;
  m->phase_index = 0;
  m->n_phases = 1;
  m->seed = 0;
  return TRUE;
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
  d->step = src->step;
  d->epoch = src->epoch;
  memcpy (d->phase, src->phase, sizeof (d->phase));
  d->phase_index = src->phase_index;
  d->n_phases = src->n_phases;
  d->seed = src->seed;
  return TRUE;
}

const GstMetaInfo *
t2i_record_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter ((GstMetaInfo **) & info)) {
    const GstMetaInfo *i = gst_meta_register (t2i_record_meta_api_get_type (),
        "T2iRecordMeta", sizeof (T2iRecordMeta), meta_init, NULL,
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
  gst_buffer_append_memory (b, GST_MEMORY_CAST (table_new ()));
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
  return t2i_record_get_meta (buffer) != NULL && get_table (buffer) != NULL;
}

gboolean
t2i_record_ends_step (GstBuffer * record)
{
  T2iRecordMeta *m = t2i_record_get_meta (record);
  return !m || m->phase_index + 1 >= m->n_phases;
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

/* takes @tensor and @strv */
static gboolean
set_entry (GstBuffer * record, const char *name, T2iTensor * tensor,
    gchar ** strv, GError ** error)
{
  if (!t2i_record_name_is_valid (name)) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_BAD_NAME,
        "invalid entry name '%s' (use a letter, then letters, digits, '/', "
        "'-', '_' or ':')", name ? name : "(null)");
    g_clear_pointer (&tensor, t2i_tensor_unref);
    g_strfreev (strv);
    return FALSE;
  }
  TableMemory *m = get_writable_table (record);
  if (!m) {
    g_clear_pointer (&tensor, t2i_tensor_unref);
    g_strfreev (strv);
    return FALSE;
  }
  Entry *e = g_hash_table_lookup (m->index, name);
  if (e) {
    g_clear_pointer (&e->tensor, t2i_tensor_unref);
    g_strfreev (e->strv);
    e->tensor = tensor;
    e->strv = strv;
    return TRUE;
  }
  table_append (m, entry_new (name, tensor, strv));
  return TRUE;
}

gboolean
t2i_record_set_tensor (GstBuffer * record, const char *name,
    T2iTensor * tensor, GError ** error)
{
  g_return_val_if_fail (tensor != NULL, FALSE);
  return set_entry (record, name, t2i_tensor_ref (tensor), NULL, error);
}

gboolean
t2i_record_set_strings (GstBuffer * record, const char *name,
    const char *const *strv, GError ** error)
{
  g_return_val_if_fail (strv != NULL, FALSE);
  return set_entry (record, name, NULL, g_strdupv ((gchar **) strv), error);
}

gboolean
t2i_record_remove (GstBuffer * record, const char *name)
{
  TableMemory *m = get_table (record);
  if (!m || !name || !g_hash_table_contains (m->index, name))
    return FALSE;
  m = get_writable_table (record);
  Entry *e = g_hash_table_lookup (m->index, name);
  g_hash_table_remove (m->index, name);
  g_ptr_array_remove (m->entries, e);
  return TRUE;
}

static Entry *
get_entry (GstBuffer * record, const char *name)
{
  TableMemory *m = get_table (record);
  return m && name ? g_hash_table_lookup (m->index, name) : NULL;
}

gboolean
t2i_record_has (GstBuffer * record, const char *name)
{
  return get_entry (record, name) != NULL;
}

guint
t2i_record_n_entries (GstBuffer * record)
{
  TableMemory *m = get_table (record);
  return m ? m->entries->len : 0;
}

static Entry *
nth_entry (GstBuffer * record, guint index)
{
  TableMemory *m = get_table (record);
  return m && index < m->entries->len ? m->entries->pdata[index] : NULL;
}

const char *
t2i_record_entry_name (GstBuffer * record, guint index)
{
  Entry *e = nth_entry (record, index);
  return e ? e->name : NULL;
}

T2iTensor *
t2i_record_get_tensor (GstBuffer * record, const char *name)
{
  Entry *e = get_entry (record, name);
  return e ? e->tensor : NULL;
}

const char *const *
t2i_record_get_strings (GstBuffer * record, const char *name)
{
  Entry *e = get_entry (record, name);
  return e ? (const char *const *) e->strv : NULL;
}

/* ---- descriptions ----
 * Entries are listed in order; a family of more than FAMILY_MIN entries
 * sharing a prefix up to its last '/' is listed once, where its first
 * member stands, as "prefix/... (n entries)". */

#define FAMILY_MIN 8

typedef struct
{
  gchar *name;
  gchar *what;                  /* "f32[8,3,32,32]" */
} Described;

static void
described_clear (gpointer p)
{
  Described *d = p;
  g_free (d->name);
  g_free (d->what);
}

static void
describe_add (GArray * list, const char *name, const char *dtype, gint ndim,
    const gint64 * shape)
{
  g_autofree char *sh = t2i_shape_to_string (ndim, shape);
  Described d = { g_strdup (name), g_strconcat (dtype, sh, NULL) };
  g_array_append_val (list, d);
}

static gsize
family_len (const char *name)
{
  const char *slash = strrchr (name, '/');
  return slash ? (gsize) (slash - name) + 1 : 0;
}

static char *
describe_list (GArray * list)
{
  GString *s = g_string_new (NULL);
  g_autoptr (GHashTable) count = g_hash_table_new_full (g_str_hash,
      g_str_equal, g_free, NULL);
  g_autoptr (GHashTable) shown = g_hash_table_new_full (g_str_hash,
      g_str_equal, g_free, NULL);

  for (guint i = 0; i < list->len; i++) {
    const char *n = g_array_index (list, Described, i).name;
    gsize l = family_len (n);
    if (l) {
      char *f = g_strndup (n, l);
      g_hash_table_insert (count, f,
          GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (count,
                      f)) + 1));
    }
  }
  for (guint i = 0; i < list->len; i++) {
    Described *d = &g_array_index (list, Described, i);
    gsize l = family_len (d->name);
    g_autofree char *f = l ? g_strndup (d->name, l) : NULL;
    guint n = f ? GPOINTER_TO_UINT (g_hash_table_lookup (count, f)) : 0;
    if (n > FAMILY_MIN && g_hash_table_contains (shown, f))
      continue;
    if (s->len)
      g_string_append (s, ", ");
    if (n > FAMILY_MIN) {
      g_hash_table_add (shown, g_steal_pointer (&f));
      g_string_append_printf (s, "%.*s... (%u entries)", (int) l, d->name, n);
    } else {
      g_string_append_printf (s, "%s %s", d->name, d->what);
    }
  }
  if (!s->len)
    g_string_append (s, "no entries");
  return g_string_free (s, FALSE);
}

char *
t2i_record_describe (GstBuffer * record)
{
  g_autoptr (GArray) list = g_array_new (FALSE, FALSE, sizeof (Described));
  g_array_set_clear_func (list, described_clear);
  for (guint i = 0; i < t2i_record_n_entries (record); i++) {
    Entry *e = nth_entry (record, i);
    if (e->tensor) {
      describe_add (list, e->name, t2i_dtype_name (e->tensor->dtype),
          e->tensor->ndim, e->tensor->shape);
    } else {
      gint64 n = g_strv_length (e->strv);
      describe_add (list, e->name, "str", 1, &n);
    }
  }
  return describe_list (list);
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
  g_autoptr (GArray) list = g_array_new (FALSE, FALSE, sizeof (Described));
  g_array_set_clear_func (list, described_clear);
  const GValue *names = gst_structure_get_value (s, "entries");
  for (guint i = 0; names && GST_VALUE_HOLDS_ARRAY (names)
      && i < gst_value_array_get_size (names); i++) {
    const char *name = g_value_get_string (gst_value_array_get_value (names,
            i));
    const char *dt;
    gint nd;
    gint64 sh[T2I_MAX_DIMS];
    if (name && t2i_caps_get_entry (s, name, &dt, &nd, sh))
      describe_add (list, name, dt, nd, sh);
  }
  return describe_list (list);
}

GstCaps *
t2i_record_caps_from_record (GstBuffer * record)
{
  GstCaps *caps = t2i_record_caps_new_any ();
  GstStructure *s = gst_caps_get_structure (caps, 0);
  for (guint i = 0; i < t2i_record_n_entries (record); i++) {
    Entry *e = nth_entry (record, i);
    if (e->tensor) {
      t2i_caps_set_entry (s, e->name, t2i_dtype_name (e->tensor->dtype),
          e->tensor->ndim, e->tensor->shape);
    } else {
      gint64 n = g_strv_length (e->strv);
      t2i_caps_set_entry (s, e->name, "str", 1, &n);
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
