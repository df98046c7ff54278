/* t2i — safetensors reader and atomic writer.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/safetensors.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

G_DEFINE_QUARK (t2i-safetensors-error-quark, t2i_safetensors_error)

/* nesting deeper than this is never a safetensors header; refusing it keeps
 * the recursive JSON parser far from the end of the stack */
#define MAX_JSON_DEPTH 64

typedef enum {
  CONV_COPY,                    /* same bytes, our dtype */
  CONV_F16,
  CONV_BF16,
  CONV_F8_E4M3,
  CONV_F8_E5M2,
  CONV_I8,
  CONV_I16,
  CONV_U16,
  CONV_U32,
  CONV_I64,
  CONV_U64,
} Conversion;

typedef struct {
  const char *name;
  guint size;
  T2iDType dtype;               /* what t2i_safetensors_get() returns */
  Conversion conv;
} FileDType;

static const FileDType file_dtypes[] = {
  {"F32", 4, T2I_F32, CONV_COPY},
  {"F64", 8, T2I_F64, CONV_COPY},
  {"I32", 4, T2I_I32, CONV_COPY},
  {"U8", 1, T2I_U8, CONV_COPY},
  {"BOOL", 1, T2I_U8, CONV_COPY},
  {"F16", 2, T2I_F32, CONV_F16},
  {"BF16", 2, T2I_F32, CONV_BF16},
  {"F8_E4M3", 1, T2I_F32, CONV_F8_E4M3},
  {"F8_E5M2", 1, T2I_F32, CONV_F8_E5M2},
  {"I8", 1, T2I_I32, CONV_I8},
  {"I16", 2, T2I_I32, CONV_I16},
  {"U16", 2, T2I_I32, CONV_U16},
  {"U32", 4, T2I_I32, CONV_U32},
  {"I64", 8, T2I_I32, CONV_I64},
  {"U64", 8, T2I_I32, CONV_U64},
};

typedef struct {
  char *name;
  const FileDType *fdt;
  gint ndim;
  gint64 shape[T2I_MAX_DIMS];
  gint64 numel;
  guint64 begin, end;
} Entry;

struct _T2iSafetensors {
  char *path;
  GMappedFile *map;
  const guint8 *data;           /* start of the data section */
  guint64 data_len;
  Entry *entries;
  guint n;
  const char **names;           /* NULL-terminated, into entries */
  GHashTable *index;            /* name -> Entry* */
  GHashTable *metadata;         /* char* -> char* */
};

static void G_GNUC_PRINTF (4, 5)
fail (GError ** error, gint code, const char *path, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  /* messages quote the header: one line whatever it holds */
  gchar *line = t2i_text_one_line (msg);
  g_set_error (error, T2I_SAFETENSORS_ERROR, code, "%s: %s", path, line);
  g_free (line);
  g_free (msg);
}

static const FileDType *
lookup_file_dtype (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (file_dtypes); i++)
    if (strcmp (file_dtypes[i].name, name) == 0)
      return &file_dtypes[i];
  return NULL;
}

static const char *
our_file_dtype (T2iDType dtype)
{
  switch (dtype) {
    case T2I_F32:
      return "F32";
    case T2I_F64:
      return "F64";
    case T2I_I32:
      return "I32";
    case T2I_U8:
      return "U8";
    default:
      return NULL;
  }
}

void
t2i_safetensors_free (T2iSafetensors * st)
{
  if (st == NULL)
    return;
  for (guint i = 0; i < st->n; i++)
    g_free (st->entries[i].name);
  g_free (st->entries);
  g_free (st->names);
  g_clear_pointer (&st->index, g_hash_table_unref);
  g_clear_pointer (&st->metadata, g_hash_table_unref);
  g_clear_pointer (&st->map, g_mapped_file_unref);
  g_free (st->path);
  g_free (st);
}

/* ---- header validation ---- */

typedef struct {
  GHashTable *counts;           /* JsonObject* -> members seen */
  char *duplicate;
} DupCheck;

/* json-glib keeps the last of duplicate keys silently; count the members it
 * reports and compare with the object's size to notice. */
static void
on_object_member (JsonParser * parser, JsonObject * object, const char *name,
    gpointer user_data)
{
  DupCheck *dc = user_data;
  guint seen = GPOINTER_TO_UINT (g_hash_table_lookup (dc->counts, object)) + 1;

  g_hash_table_insert (dc->counts, object, GUINT_TO_POINTER (seen));
  if (seen != json_object_get_size (object) && dc->duplicate == NULL)
    dc->duplicate = g_strdup (name);
}

static gboolean
node_get_uint (JsonNode * node, guint64 * out)
{
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node)
      || json_node_get_value_type (node) != G_TYPE_INT64)
    return FALSE;
  gint64 v = json_node_get_int (node);
  if (v < 0)
    return FALSE;
  *out = (guint64) v;
  return TRUE;
}

static gboolean
parse_metadata (T2iSafetensors * st, JsonNode * node, GError ** error)
{
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, st->path,
        "\"__metadata__\" is not an object");
    return FALSE;
  }
  JsonObject *obj = json_node_get_object (node);
  GList *members = json_object_get_members (obj);
  gboolean ok = TRUE;

  for (GList * l = members; l; l = l->next) {
    const char *key = l->data;
    JsonNode *v = json_object_get_member (obj, key);

    if (!JSON_NODE_HOLDS_VALUE (v) || json_node_get_value_type (v) != G_TYPE_STRING) {
      fail (error, T2I_SAFETENSORS_ERROR_FORMAT, st->path,
          "metadata value of \"%s\" is not a string", key);
      ok = FALSE;
      break;
    }
    g_hash_table_insert (st->metadata, g_strdup (key),
        g_strdup (json_node_get_string (v)));
  }
  g_list_free (members);
  return ok;
}

static gboolean
parse_entry (T2iSafetensors * st, Entry * e, const char *name, JsonNode * node,
    GError ** error)
{
  const char *path = st->path;

  e->name = g_strdup (name);
  if (!JSON_NODE_HOLDS_OBJECT (node)) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "tensor \"%s\": entry is not an object", name);
    return FALSE;
  }
  JsonObject *obj = json_node_get_object (node);
  JsonNode *dtype = json_object_get_member (obj, "dtype");
  JsonNode *shape = json_object_get_member (obj, "shape");
  JsonNode *offsets = json_object_get_member (obj, "data_offsets");

  if (dtype == NULL || !JSON_NODE_HOLDS_VALUE (dtype)
      || json_node_get_value_type (dtype) != G_TYPE_STRING) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "tensor \"%s\": missing or non-string \"dtype\"", name);
    return FALSE;
  }
  e->fdt = lookup_file_dtype (json_node_get_string (dtype));
  if (e->fdt == NULL) {
    fail (error, T2I_SAFETENSORS_ERROR_UNSUPPORTED, path,
        "tensor \"%s\": unsupported dtype \"%s\"", name, json_node_get_string (dtype));
    return FALSE;
  }

  if (shape == NULL || !JSON_NODE_HOLDS_ARRAY (shape)) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "tensor \"%s\": missing or non-array \"shape\"", name);
    return FALSE;
  }
  JsonArray *sa = json_node_get_array (shape);
  guint rank = json_array_get_length (sa);
  if (rank > T2I_MAX_DIMS) {
    fail (error, T2I_SAFETENSORS_ERROR_UNSUPPORTED, path,
        "tensor \"%s\": rank %u is above the supported maximum of %d", name, rank,
        T2I_MAX_DIMS);
    return FALSE;
  }
  e->ndim = (gint) rank;
  e->numel = 1;
  for (guint i = 0; i < rank; i++) {
    guint64 d;

    if (!node_get_uint (json_array_get_element (sa, i), &d) || d > G_MAXINT64) {
      fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
          "tensor \"%s\": shape entry %u is not a non-negative integer", name, i);
      return FALSE;
    }
    e->shape[i] = (gint64) d;
  }
  /* overflow-checked product, in elements then bytes */
  gboolean has_zero = FALSE;
  for (gint i = 0; i < e->ndim; i++)
    has_zero |= e->shape[i] == 0;
  if (has_zero) {
    e->numel = 0;
  } else {
    for (gint i = 0; i < e->ndim; i++) {
      if (e->numel > G_MAXINT64 / e->shape[i]) {
        fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
            "tensor \"%s\": the shape's element count overflows", name);
        return FALSE;
      }
      e->numel *= e->shape[i];
    }
  }
  if ((guint64) e->numel > G_MAXUINT64 / e->fdt->size) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "tensor \"%s\": the shape's byte size overflows", name);
    return FALSE;
  }
  guint64 nbytes = (guint64) e->numel * e->fdt->size;

  if (offsets == NULL || !JSON_NODE_HOLDS_ARRAY (offsets)
      || json_array_get_length (json_node_get_array (offsets)) != 2
      || !node_get_uint (json_array_get_element (json_node_get_array (offsets), 0),
          &e->begin)
      || !node_get_uint (json_array_get_element (json_node_get_array (offsets), 1),
          &e->end)) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "tensor \"%s\": \"data_offsets\" is not two non-negative integers", name);
    return FALSE;
  }
  if (e->begin > e->end) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "tensor \"%s\": data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
        "] end before they begin", name, e->begin, e->end);
    return FALSE;
  }
  if (e->end > st->data_len) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "tensor \"%s\": data_offsets end at %" G_GUINT64_FORMAT
        ", past the end of the data section (%" G_GUINT64_FORMAT " bytes)", name,
        e->end, st->data_len);
    return FALSE;
  }
  if (e->end - e->begin != nbytes) {
    char *s = t2i_shape_to_string (e->ndim, e->shape);

    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "tensor \"%s\": %s %s needs %" G_GUINT64_FORMAT " bytes but data_offsets span %"
        G_GUINT64_FORMAT, name, e->fdt->name, s, nbytes, e->end - e->begin);
    g_free (s);
    return FALSE;
  }
  return TRUE;
}

static gint
compare_entry_offsets (gconstpointer a, gconstpointer b)
{
  const Entry *ea = *(const Entry * const *) a, *eb = *(const Entry * const *) b;

  if (ea->begin != eb->begin)
    return ea->begin < eb->begin ? -1 : 1;
  if (ea->end != eb->end)
    return ea->end < eb->end ? -1 : 1;
  return 0;
}

/* The tensors must tile the data section: no overlap, no gap, no tail. */
static gboolean
check_coverage (T2iSafetensors * st, GError ** error)
{
  Entry **sorted = g_new (Entry *, MAX (st->n, 1));
  guint64 expected = 0;
  gboolean ok = TRUE;

  for (guint i = 0; i < st->n; i++)
    sorted[i] = &st->entries[i];
  qsort (sorted, st->n, sizeof (Entry *), compare_entry_offsets);
  for (guint i = 0; i < st->n && ok; i++) {
    Entry *e = sorted[i];

    if (e->begin < expected) {
      fail (error, T2I_SAFETENSORS_ERROR_FORMAT, st->path,
          "tensor \"%s\": data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
          "] overlap tensor \"%s\"", e->name, e->begin, e->end, sorted[i - 1]->name);
      ok = FALSE;
    } else if (e->begin > expected) {
      fail (error, T2I_SAFETENSORS_ERROR_FORMAT, st->path,
          "tensor \"%s\": data_offsets begin at %" G_GUINT64_FORMAT
          ", leaving a gap after byte %" G_GUINT64_FORMAT, e->name, e->begin, expected);
      ok = FALSE;
    }
    expected = e->end;
  }
  if (ok && expected != st->data_len) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, st->path,
        "%" G_GUINT64_FORMAT " bytes of data after the last tensor",
        st->data_len - expected);
    ok = FALSE;
  }
  g_free (sorted);
  return ok;
}

static gboolean
parse_header (T2iSafetensors * st, const char *header, gsize len, GError ** error)
{
  JsonParser *parser;
  DupCheck dc = { g_hash_table_new (NULL, NULL), NULL };
  GError *jerr = NULL;
  gboolean ok = FALSE;
  GList *members = NULL;

  if (t2i_json_depth (header, len, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, st->path,
        "header JSON is nested more than %d levels deep", MAX_JSON_DEPTH);
    g_hash_table_unref (dc.counts);
    return FALSE;
  }
  parser = json_parser_new ();
  g_signal_connect (parser, "object-member", G_CALLBACK (on_object_member), &dc);
  if (!json_parser_load_from_data (parser, header, (gssize) len, &jerr)) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, st->path, "header is not valid JSON: %s",
        jerr->message);
    g_error_free (jerr);
    goto out;
  }
  if (dc.duplicate) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, st->path,
        "duplicate key \"%s\" in the header", dc.duplicate);
    goto out;
  }
  JsonNode *root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, st->path,
        "header is not a JSON object");
    goto out;
  }
  JsonObject *obj = json_node_get_object (root);
  members = json_object_get_members (obj);
  guint n = 0;

  st->entries = g_new0 (Entry, MAX (json_object_get_size (obj), 1));
  for (GList * l = members; l; l = l->next) {
    const char *name = l->data;
    JsonNode *node = json_object_get_member (obj, name);

    if (strcmp (name, "__metadata__") == 0) {
      if (!parse_metadata (st, node, error))
        goto out;
      continue;
    }
    /* count it first so t2i_safetensors_free() releases its name */
    st->n = ++n;
    if (!parse_entry (st, &st->entries[n - 1], name, node, error))
      goto out;
  }
  if (!check_coverage (st, error))
    goto out;

  st->names = g_new0 (const char *, st->n + 1);
  for (guint i = 0; i < st->n; i++) {
    st->names[i] = st->entries[i].name;
    g_hash_table_insert (st->index, st->entries[i].name, &st->entries[i]);
  }
  ok = TRUE;

out:
  g_list_free (members);
  g_object_unref (parser);
  g_hash_table_unref (dc.counts);
  g_free (dc.duplicate);
  return ok;
}

T2iSafetensors *
t2i_safetensors_load (const char *path, GError ** error)
{
  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  T2iSafetensors *st = g_new0 (T2iSafetensors, 1);
  GError *ioerr = NULL;
  guint64 n_header;
  gsize size;
  const guint8 *bytes;

  st->path = g_strdup (path);
  st->index = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    fail (error, T2I_SAFETENSORS_ERROR_IO, path, "is a directory");
    goto error;
  }
  st->map = g_mapped_file_new (path, FALSE, &ioerr);
  if (st->map == NULL) {
    g_set_error (error, T2I_SAFETENSORS_ERROR, T2I_SAFETENSORS_ERROR_IO, "%s",
        ioerr->message);
    g_error_free (ioerr);
    goto error;
  }
  size = g_mapped_file_get_length (st->map);
  bytes = (const guint8 *) g_mapped_file_get_contents (st->map);
  if (size < 8) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "file is %" G_GSIZE_FORMAT " bytes, too short for the 8-byte header length",
        size);
    goto error;
  }
  memcpy (&n_header, bytes, 8);
  n_header = GUINT64_FROM_LE (n_header);
  if (n_header > T2I_SAFETENSORS_MAX_HEADER) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "header length %" G_GUINT64_FORMAT " exceeds the %d-byte limit", n_header,
        T2I_SAFETENSORS_MAX_HEADER);
    goto error;
  }
  if (n_header > size - 8) {
    fail (error, T2I_SAFETENSORS_ERROR_FORMAT, path,
        "header length %" G_GUINT64_FORMAT " runs past the end of the file (%"
        G_GSIZE_FORMAT " bytes); truncated?", n_header, size);
    goto error;
  }
  st->data = bytes + 8 + n_header;
  st->data_len = size - 8 - n_header;
  if (!parse_header (st, (const char *) bytes + 8, (gsize) n_header, error))
    goto error;
  return st;

error:
  t2i_safetensors_free (st);
  return NULL;
}

const char *
t2i_safetensors_get_path (T2iSafetensors * st)
{
  g_return_val_if_fail (st != NULL, NULL);
  return st->path;
}

guint
t2i_safetensors_n_tensors (T2iSafetensors * st)
{
  g_return_val_if_fail (st != NULL, 0);
  return st->n;
}

const char *const *
t2i_safetensors_names (T2iSafetensors * st)
{
  g_return_val_if_fail (st != NULL, NULL);
  return st->names;
}

gboolean
t2i_safetensors_has (T2iSafetensors * st, const char *name)
{
  g_return_val_if_fail (st != NULL && name != NULL, FALSE);
  return g_hash_table_contains (st->index, name);
}

gboolean
t2i_safetensors_get_info (T2iSafetensors * st, const char *name, T2iDType * dtype,
    gint * ndim, gint64 * shape, const char **file_dtype)
{
  g_return_val_if_fail (st != NULL && name != NULL, FALSE);
  Entry *e = g_hash_table_lookup (st->index, name);

  if (e == NULL)
    return FALSE;
  if (dtype)
    *dtype = e->fdt->dtype;
  if (ndim)
    *ndim = e->ndim;
  if (shape)
    for (gint i = 0; i < T2I_MAX_DIMS; i++)
      shape[i] = i < e->ndim ? e->shape[i] : 0;
  if (file_dtype)
    *file_dtype = e->fdt->name;
  return TRUE;
}

const char *
t2i_safetensors_get_metadata (T2iSafetensors * st, const char *key)
{
  g_return_val_if_fail (st != NULL && key != NULL, NULL);
  return g_hash_table_lookup (st->metadata, key);
}

GHashTable *
t2i_safetensors_get_metadata_table (T2iSafetensors * st)
{
  g_return_val_if_fail (st != NULL, NULL);
  return st->metadata;
}

/* ---- conversions ---- */

static inline float
half_to_float (guint16 h)
{
  guint32 sign = (guint32) (h & 0x8000) << 16;
  guint32 exp = (h >> 10) & 0x1f;
  guint32 mant = h & 0x3ff;
  guint32 bits;
  float f;

  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    /* subnormal: mant * 2^-24 exactly */
    f = (float) mant * (1.0f / 16777216.0f);
    return sign ? -f : f;
  }
  memcpy (&f, &bits, 4);
  return f;
}

static inline float
bf16_to_float (guint16 h)
{
  guint32 bits = (guint32) h << 16;
  float f;

  memcpy (&f, &bits, 4);
  return f;
}

/* OCP E4M3FN: bias 7, no infinities, S.1111.111 is NaN. */
static inline float
f8_e4m3_to_float (guint8 b)
{
  guint exp = (b >> 3) & 0xf, mant = b & 7;
  float v;

  if (exp == 0xf && mant == 7)
    return NAN;
  if (exp == 0)
    v = ldexpf ((float) mant, -9);
  else
    v = ldexpf ((float) (8 + mant), (gint) exp - 10);
  return (b & 0x80) ? -v : v;
}

static inline guint16
rd16 (const guint8 * p)
{
  guint16 v;

  memcpy (&v, p, 2);
  return GUINT16_FROM_LE (v);
}

static inline guint32
rd32 (const guint8 * p)
{
  guint32 v;

  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}

static inline guint64
rd64 (const guint8 * p)
{
  guint64 v;

  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

#define PAR_ELEMS 65536

static gboolean
convert_entry (T2iSafetensors * st, const Entry * e, T2iTensor * t, GError ** error)
{
  const guint8 *src = st->data + e->begin;
  gint64 n = e->numel;

  if (n == 0)
    return TRUE;
  switch (e->fdt->conv) {
    case CONV_COPY:
      memcpy (t->data, src, (gsize) (e->end - e->begin));
#if G_BYTE_ORDER == G_BIG_ENDIAN
      if (e->fdt->size == 4) {
        guint32 *d = t->data;
        for (gint64 i = 0; i < n; i++)
          d[i] = GUINT32_FROM_LE (d[i]);
      } else if (e->fdt->size == 8) {
        guint64 *d = t->data;
        for (gint64 i = 0; i < n; i++)
          d[i] = GUINT64_FROM_LE (d[i]);
      }
#endif
      return TRUE;
    case CONV_F16:{
      float *d = t->data;
#pragma omp parallel for if (n >= PAR_ELEMS) schedule(static)
      for (gint64 i = 0; i < n; i++)
        d[i] = half_to_float (rd16 (src + 2 * i));
      return TRUE;
    }
    case CONV_BF16:{
      float *d = t->data;
#pragma omp parallel for if (n >= PAR_ELEMS) schedule(static)
      for (gint64 i = 0; i < n; i++)
        d[i] = bf16_to_float (rd16 (src + 2 * i));
      return TRUE;
    }
    case CONV_F8_E4M3:{
      float *d = t->data;
      for (gint64 i = 0; i < n; i++)
        d[i] = f8_e4m3_to_float (src[i]);
      return TRUE;
    }
    case CONV_F8_E5M2:{
      float *d = t->data;
      for (gint64 i = 0; i < n; i++)
        d[i] = half_to_float ((guint16) (src[i] << 8));
      return TRUE;
    }
    case CONV_I8:{
      gint32 *d = t->data;
      for (gint64 i = 0; i < n; i++)
        d[i] = (gint8) src[i];
      return TRUE;
    }
    case CONV_I16:{
      gint32 *d = t->data;
      for (gint64 i = 0; i < n; i++)
        d[i] = (gint16) rd16 (src + 2 * i);
      return TRUE;
    }
    case CONV_U16:{
      gint32 *d = t->data;
      for (gint64 i = 0; i < n; i++)
        d[i] = rd16 (src + 2 * i);
      return TRUE;
    }
    case CONV_U32:
    case CONV_I64:
    case CONV_U64:{
      gint32 *d = t->data;
      for (gint64 i = 0; i < n; i++) {
        gint64 v;
        gboolean in_range;

        if (e->fdt->conv == CONV_U32) {
          v = rd32 (src + 4 * i);
          in_range = v <= G_MAXINT32;
        } else if (e->fdt->conv == CONV_I64) {
          v = (gint64) rd64 (src + 8 * i);
          in_range = v >= G_MININT32 && v <= G_MAXINT32;
        } else {
          guint64 u = rd64 (src + 8 * i);
          in_range = u <= G_MAXINT32;
          v = in_range ? (gint64) u : 0;
        }
        if (!in_range) {
          fail (error, T2I_SAFETENSORS_ERROR_UNSUPPORTED, st->path,
              "tensor \"%s\": %s element %" G_GINT64_FORMAT
              " is outside the i32 range", e->name, e->fdt->name, i);
          return FALSE;
        }
        d[i] = (gint32) v;
      }
      return TRUE;
    }
  }
  g_assert_not_reached ();
  return FALSE;
}

T2iTensor *
t2i_safetensors_read (T2iSafetensors * st, const char *name, GError ** error)
{
  g_return_val_if_fail (st != NULL && name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  Entry *e = g_hash_table_lookup (st->index, name);
  T2iTensor *t;

  if (e == NULL) {
    fail (error, T2I_SAFETENSORS_ERROR_NOT_FOUND, st->path, "no tensor named \"%s\"",
        name);
    return NULL;
  }
  t = t2i_tensor_new (e->fdt->dtype, e->ndim, e->shape);
  if (t == NULL) {
    fail (error, T2I_SAFETENSORS_ERROR_UNSUPPORTED, st->path,
        "tensor \"%s\": cannot allocate it", name);
    return NULL;
  }
  if (!convert_entry (st, e, t, error)) {
    t2i_tensor_unref (t);
    return NULL;
  }
  return t;
}

T2iTensor *
t2i_safetensors_get (T2iSafetensors * st, const char *name)
{
  return t2i_safetensors_read (st, name, NULL);
}

/* ---- writer ---- */

static void
json_escape (GString * s, const char *str)
{
  g_string_append_c (s, '"');
  for (const guchar * p = (const guchar *) str; *p; p++) {
    switch (*p) {
      case '"':
        g_string_append (s, "\\\"");
        break;
      case '\\':
        g_string_append (s, "\\\\");
        break;
      case '\n':
        g_string_append (s, "\\n");
        break;
      case '\t':
        g_string_append (s, "\\t");
        break;
      case '\r':
        g_string_append (s, "\\r");
        break;
      default:
        if (*p < 0x20)
          g_string_append_printf (s, "\\u%04x", *p);
        else
          g_string_append_c (s, (char) *p);
    }
  }
  g_string_append_c (s, '"');
}

static gboolean
write_all (int fd, const void *buf, gsize len)
{
  const guint8 *p = buf;

  while (len > 0) {
    gssize w = write (fd, p, MIN (len, (gsize) 1 << 30));

    if (w < 0) {
      if (errno == EINTR)
        continue;
      return FALSE;
    }
    p += w;
    len -= (gsize) w;
  }
  return TRUE;
}

static gboolean
check_save_args (const char *path, const char *const *names, T2iTensor ** tensors,
    guint n, GHashTable * metadata, GError ** error)
{
  GHashTable *seen = g_hash_table_new (g_str_hash, g_str_equal);
  gboolean ok = FALSE;

  for (guint i = 0; i < n; i++) {
    const char *name = names[i];
    T2iTensor *t = tensors[i];

    if (name == NULL || *name == '\0' || strcmp (name, "__metadata__") == 0
        || !g_utf8_validate (name, -1, NULL)) {
      fail (error, T2I_SAFETENSORS_ERROR_INVALID, path,
          "tensor %u has an invalid name (empty, \"__metadata__\" or not UTF-8)", i);
      goto out;
    }
    if (!g_hash_table_add (seen, (gpointer) name)) {
      fail (error, T2I_SAFETENSORS_ERROR_INVALID, path,
          "tensor name \"%s\" given twice", name);
      goto out;
    }
    if (t == NULL) {
      fail (error, T2I_SAFETENSORS_ERROR_INVALID, path, "tensor \"%s\" is NULL", name);
      goto out;
    }
    if (our_file_dtype (t->dtype) == NULL) {
      fail (error, T2I_SAFETENSORS_ERROR_INVALID, path,
          "tensor \"%s\" has an unsupported dtype", name);
      goto out;
    }
  }
  if (metadata) {
    GHashTableIter it;
    gpointer k, v;

    g_hash_table_iter_init (&it, metadata);
    while (g_hash_table_iter_next (&it, &k, &v)) {
      if (k == NULL || v == NULL || !g_utf8_validate (k, -1, NULL)
          || !g_utf8_validate (v, -1, NULL)) {
        fail (error, T2I_SAFETENSORS_ERROR_INVALID, path,
            "metadata keys and values must be non-NULL UTF-8 strings");
        goto out;
      }
    }
  }
  ok = TRUE;
out:
  g_hash_table_unref (seen);
  return ok;
}

static GString *
build_header (const char *const *names, T2iTensor ** tensors, guint n,
    GHashTable * metadata)
{
  GString *h = g_string_new ("{");
  gboolean first = TRUE;
  guint64 offset = 0;

  if (metadata && g_hash_table_size (metadata) > 0) {
    GList *keys = g_list_sort (g_hash_table_get_keys (metadata),
        (GCompareFunc) strcmp);

    g_string_append (h, "\"__metadata__\":{");
    for (GList * l = keys; l; l = l->next) {
      if (l != keys)
        g_string_append_c (h, ',');
      json_escape (h, l->data);
      g_string_append_c (h, ':');
      json_escape (h, g_hash_table_lookup (metadata, l->data));
    }
    g_string_append_c (h, '}');
    g_list_free (keys);
    first = FALSE;
  }
  for (guint i = 0; i < n; i++) {
    T2iTensor *t = tensors[i];
    guint64 nbytes = (guint64) t->numel * t2i_dtype_size (t->dtype);

    if (!first)
      g_string_append_c (h, ',');
    first = FALSE;
    json_escape (h, names[i]);
    g_string_append_printf (h, ":{\"dtype\":\"%s\",\"shape\":[",
        our_file_dtype (t->dtype));
    for (gint d = 0; d < t->ndim; d++)
      g_string_append_printf (h, "%s%" G_GINT64_FORMAT, d ? "," : "", t->shape[d]);
    g_string_append_printf (h, "],\"data_offsets\":[%" G_GUINT64_FORMAT ",%"
        G_GUINT64_FORMAT "]}", offset, offset + nbytes);
    offset += nbytes;
  }
  g_string_append_c (h, '}');
  while (h->len % 8 != 0)
    g_string_append_c (h, ' ');
  return h;
}

static gboolean
write_tensor_data (int fd, T2iTensor * t)
{
  gsize nbytes = (gsize) t->numel * t2i_dtype_size (t->dtype);

  if (nbytes == 0)
    return TRUE;
#if G_BYTE_ORDER == G_BIG_ENDIAN
  gsize esz = t2i_dtype_size (t->dtype);
  if (esz > 1) {
    guint8 *tmp = g_malloc (nbytes);
    gboolean ok;

    for (gsize i = 0; i < nbytes; i += esz)
      for (gsize b = 0; b < esz; b++)
        tmp[i + b] = ((const guint8 *) t->data)[i + esz - 1 - b];
    ok = write_all (fd, tmp, nbytes);
    g_free (tmp);
    return ok;
  }
#endif
  return write_all (fd, t->data, nbytes);
}

static void
sync_directory_of (const char *path)
{
  char *dir = g_path_get_dirname (path);
  int dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  /* best effort: not every file system lets a directory be fsynced */
  if (dfd >= 0) {
    (void) fsync (dfd);
    close (dfd);
  }
  g_free (dir);
}

/* ---- temporary files ----
 * A save writes "<path>.tmp-XXXXXX" (mkstemp's six letters and digits),
 * holding an exclusive flock() on it until it is renamed or removed.  The
 * kernel drops the lock when the writer dies, however it dies, so a
 * temporary nobody holds locked is the remains of an interrupted save.
 * The temporaries this process is writing are listed, for
 * t2i_safetensors_abort_saves(). */

static GMutex temps_lock;
static GPtrArray *temps;        /* paths of the saves in progress */
static gboolean aborting;

static gboolean
register_temp (const char *tmp)
{
  gboolean ok;
  g_mutex_lock (&temps_lock);
  ok = !aborting;
  if (ok) {
    if (!temps)
      temps = g_ptr_array_new_with_free_func (g_free);
    g_ptr_array_add (temps, g_strdup (tmp));
  }
  g_mutex_unlock (&temps_lock);
  return ok;
}

static void
unregister_temp (const char *tmp)
{
  g_mutex_lock (&temps_lock);
  for (guint i = 0; temps && i < temps->len; i++)
    if (strcmp (temps->pdata[i], tmp) == 0) {
      g_ptr_array_remove_index_fast (temps, i);
      break;
    }
  g_mutex_unlock (&temps_lock);
}

void
t2i_safetensors_abort_saves (void)
{
  g_mutex_lock (&temps_lock);
  aborting = TRUE;
  for (guint i = 0; temps && i < temps->len; i++)
    (void) g_unlink (temps->pdata[i]);
  g_mutex_unlock (&temps_lock);
}

/* "<base>.tmp-" followed by exactly six of mkstemp's characters */
static gboolean
is_temp_name (const char *name, const char *base)
{
  gsize n = strlen (base);
  if (strncmp (name, base, n) != 0 || strncmp (name + n, ".tmp-", 5) != 0)
    return FALSE;
  const char *x = name + n + 5;
  for (gint i = 0; i < 6; i++)
    if (!g_ascii_isalnum (x[i]))
      return FALSE;
  return x[6] == 0;
}

gint
t2i_safetensors_remove_stale (const char *path, gchar *** removed,
    GError ** error)
{
  g_return_val_if_fail (path != NULL, -1);
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autoptr (GPtrArray) names = g_ptr_array_new_null_terminated (0, g_free,
      TRUE);
  GError *derr = NULL;
  GDir *d = g_dir_open (dir, 0, &derr);
  const char *name;

  if (removed)
    *removed = NULL;
  if (!d) {
    /* no folder yet: nothing was ever saved there */
    if (g_error_matches (derr, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
      g_error_free (derr);
      return 0;
    }
    fail (error, T2I_SAFETENSORS_ERROR_IO, path, "cannot look for the "
        "temporary files of interrupted saves: %s", derr->message);
    g_error_free (derr);
    return -1;
  }
  while ((name = g_dir_read_name (d))) {
    if (!is_temp_name (name, base))
      continue;
    g_autofree char *full = strcmp (dir, ".") == 0 ? g_strdup (name)
        : g_build_filename (dir, name, NULL);
    /* a regular file of ours (not a link), that no writer holds */
    int fd = open (full, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
      continue;
    if (fstat (fd, &st) == 0 && S_ISREG (st.st_mode)
        && flock (fd, LOCK_EX | LOCK_NB) == 0 && g_unlink (full) == 0)
      g_ptr_array_add (names, g_steal_pointer (&full));
    close (fd);
  }
  g_dir_close (d);
  gint n = (gint) names->len;
  if (removed)
    *removed = (gchar **) g_ptr_array_steal (names, NULL);
  return n;
}

gboolean
t2i_safetensors_save (const char *path, const char *const *names, T2iTensor ** tensors,
    guint n, GHashTable * metadata, GError ** error)
{
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (n == 0 || (names != NULL && tensors != NULL), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  char *tmp = NULL;
  int fd = -1;
  GString *header = NULL;
  T2iTensor **cpu = NULL;
  gboolean ok = FALSE;
  guint64 len_le;
  int saved_errno;
  gboolean registered = FALSE;

  if (!check_save_args (path, names, tensors, n, metadata, error))
    return FALSE;
  /* device tensors are written from a host copy */
  cpu = g_new0 (T2iTensor *, MAX (n, 1));
  for (guint i = 0; i < n; i++) {
    GError *derr = NULL;

    cpu[i] = t2i_tensor_to_device (tensors[i], T2I_DEVICE_CPU, &derr);
    if (cpu[i] == NULL) {
      fail (error, T2I_SAFETENSORS_ERROR_IO, path, "tensor \"%s\": %s", names[i],
          derr->message);
      g_error_free (derr);
      goto out;
    }
  }
  header = build_header (names, cpu, n, metadata);

  tmp = g_strdup_printf ("%s.tmp-XXXXXX", path);
  fd = g_mkstemp_full (tmp, O_WRONLY | O_CLOEXEC, 0666);
  if (fd < 0) {
    saved_errno = errno;
    fail (error, T2I_SAFETENSORS_ERROR_IO, path, "cannot create a temporary file: %s",
        g_strerror (saved_errno));
    g_clear_pointer (&tmp, g_free);
    goto out;
  }
  /* held until the end: t2i_safetensors_remove_stale() leaves it alone */
  (void) flock (fd, LOCK_EX);
  if (!register_temp (tmp)) {
    fail (error, T2I_SAFETENSORS_ERROR_IO, path, "not written: the process "
        "is being aborted");
    goto out;
  }
  registered = TRUE;
  len_le = GUINT64_TO_LE ((guint64) header->len);
  if (!write_all (fd, &len_le, 8) || !write_all (fd, header->str, header->len))
    goto io_error;
  for (guint i = 0; i < n; i++)
    if (!write_tensor_data (fd, cpu[i]))
      goto io_error;
  if (fsync (fd) != 0)
    goto io_error;
  if (close (fd) != 0) {
    fd = -1;
    goto io_error;
  }
  fd = -1;
  if (rename (tmp, path) != 0)
    goto io_error;
  unregister_temp (tmp);
  registered = FALSE;
  g_clear_pointer (&tmp, g_free);
  sync_directory_of (path);
  ok = TRUE;
  goto out;

io_error:
  saved_errno = errno;
  fail (error, T2I_SAFETENSORS_ERROR_IO, path, "writing failed: %s",
      g_strerror (saved_errno));
out:
  if (fd >= 0)
    close (fd);
  if (tmp) {
    g_unlink (tmp);
    if (registered)
      unregister_temp (tmp);
    g_free (tmp);
  }
  if (header)
    g_string_free (header, TRUE);
  if (cpu) {
    for (guint i = 0; i < n; i++)
      if (cpu[i])
        t2i_tensor_unref (cpu[i]);
    g_free (cpu);
  }
  return ok;
}
