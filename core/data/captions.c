/* captions.jsonl lines and bounded text files (t2i/captions.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "t2i/captions.h"
#include "text.h"

#include <errno.h>
#include <fcntl.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <unistd.h>

G_DEFINE_QUARK (t2i-captions-error-quark, t2i_captions_error)

#define PARSE_ERROR(error, ...) g_set_error (error, T2I_CAPTIONS_ERROR, \
    T2I_CAPTIONS_ERROR_PARSE, __VA_ARGS__)

static gboolean
path_is_safe (const char *rel)
{
  if (!*rel || g_path_is_absolute (rel) || strchr (rel, '\\'))
    return FALSE;
  g_auto (GStrv) parts = g_strsplit (rel, "/", -1);
  for (guint i = 0; parts[i]; i++)
    if (strcmp (parts[i], "..") == 0)
      return FALSE;
  return TRUE;
}

static gboolean
holds_string (JsonNode * node)
{
  return node && JSON_NODE_HOLDS_VALUE (node)
      && json_node_get_value_type (node) == G_TYPE_STRING;
}

/* a caption: white space around removed, not empty, within the limit */
static gboolean
add_caption (GPtrArray * caps, const char *text, guint index, GError ** error)
{
  gsize len = strlen (text);
  if (len > T2I_CAPTION_MAX_BYTES) {
    g_set_error (error, T2I_CAPTIONS_ERROR, T2I_CAPTIONS_ERROR_LIMIT,
        "caption %u is %" G_GSIZE_FORMAT " bytes long, more than the limit "
        "of %d", index, len, T2I_CAPTION_MAX_BYTES);
    return FALSE;
  }
  gchar *c = g_strstrip (g_strdup (text));
  if (!*c) {
    g_free (c);
    PARSE_ERROR (error, "caption %u is empty", index);
    return FALSE;
  }
  g_ptr_array_add (caps, c);
  return TRUE;
}

static gboolean parse_line (const char *text, gsize len,
    T2iCaptionsLine * line, GError ** error);

gboolean
t2i_captions_parse_line (const char *text, gsize len, T2iCaptionsLine * line,
    GError ** error)
{
  GError *err = NULL;
  gboolean ok = parse_line (text, len, line, &err);
  /* messages quote the line: one line whatever it holds */
  t2i_error_one_line (err);
  if (err)
    g_propagate_error (error, err);
  return ok;
}

static gboolean
parse_line (const char *text, gsize len, T2iCaptionsLine * line,
    GError ** error)
{
  g_autoptr (JsonParser) parser = NULL;
  g_autoptr (GPtrArray) caps = NULL;
  GError *err = NULL;
  JsonObject *obj;
  JsonNode *node;

  g_return_val_if_fail (text != NULL || len == 0, FALSE);
  memset (line, 0, sizeof *line);
  if (len > T2I_CAPTIONS_MAX_LINE) {
    g_set_error (error, T2I_CAPTIONS_ERROR, T2I_CAPTIONS_ERROR_LIMIT,
        "the line is %" G_GSIZE_FORMAT " bytes long, more than the limit of "
        "%d", len, T2I_CAPTIONS_MAX_LINE);
    return FALSE;
  }
  if (t2i_json_depth (text, len, T2I_CAPTIONS_MAX_DEPTH)
      > T2I_CAPTIONS_MAX_DEPTH) {
    g_set_error (error, T2I_CAPTIONS_ERROR, T2I_CAPTIONS_ERROR_LIMIT,
        "arrays and objects nested more than %d deep", T2I_CAPTIONS_MAX_DEPTH);
    return FALSE;
  }
  if (memchr (text, '\0', len)) {
    PARSE_ERROR (error, "the line holds a NUL byte; is this a text file?");
    return FALSE;
  }
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, text, (gssize) len, &err)) {
    PARSE_ERROR (error, "not valid JSON (%s)", err->message);
    g_error_free (err);
    return FALSE;
  }
  node = json_parser_get_root (parser);
  if (!node || !JSON_NODE_HOLDS_OBJECT (node)) {
    PARSE_ERROR (error, "expected a JSON object {\"image\": ..., "
        "\"captions\": [...]}");
    return FALSE;
  }
  obj = json_node_get_object (node);

  node = json_object_get_member (obj, "image");
  if (!holds_string (node)) {
    PARSE_ERROR (error, "\"image\" must be a string (a path relative to the "
        "folder)");
    return FALSE;
  }
  const char *image = json_node_get_string (node);
  if (!path_is_safe (image)) {
    PARSE_ERROR (error, "image path '%s' must be relative to the folder and "
        "stay inside it", image);
    return FALSE;
  }

  const char *split = "train";
  node = json_object_get_member (obj, "split");
  if (node) {
    if (!holds_string (node)) {
      PARSE_ERROR (error, "\"split\" must be a string such as \"train\" or "
          "\"test\"");
      return FALSE;
    }
    split = json_node_get_string (node);
  }

  /* captions: "captions": [..] or "caption": ".." */
  caps = g_ptr_array_new_null_terminated (4, g_free, TRUE);
  node = json_object_get_member (obj, "captions");
  if (!node)
    node = json_object_get_member (obj, "caption");
  if (holds_string (node)) {
    if (!add_caption (caps, json_node_get_string (node), 1, error))
      return FALSE;
  } else if (node && JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *arr = json_node_get_array (node);
    for (guint i = 0; i < json_array_get_length (arr); i++) {
      JsonNode *e = json_array_get_element (arr, i);
      if (!holds_string (e)) {
        PARSE_ERROR (error, "caption %u is not a string", i + 1);
        return FALSE;
      }
      if (!add_caption (caps, json_node_get_string (e), i + 1, error))
        return FALSE;
    }
  } else {
    PARSE_ERROR (error, "\"captions\" must be an array of strings");
    return FALSE;
  }
  if (caps->len == 0) {
    PARSE_ERROR (error, "no captions");
    return FALSE;
  }

  node = json_object_get_member (obj, "subsets");
  if (node && JSON_NODE_HOLDS_ARRAY (node)) {
    JsonArray *arr = json_node_get_array (node);
    GPtrArray *subsets = g_ptr_array_new_null_terminated (4, g_free, TRUE);
    for (guint i = 0; i < json_array_get_length (arr); i++) {
      JsonNode *e = json_array_get_element (arr, i);
      if (holds_string (e))
        g_ptr_array_add (subsets, g_strdup (json_node_get_string (e)));
    }
    line->subsets = (gchar **) g_ptr_array_free (subsets, FALSE);
  }
  line->image = g_strdup (image);
  line->split = g_strdup (split);
  line->captions = (gchar **) g_ptr_array_free (g_steal_pointer (&caps),
      FALSE);
  return TRUE;
}

void
t2i_captions_line_clear (T2iCaptionsLine * line)
{
  g_clear_pointer (&line->image, g_free);
  g_clear_pointer (&line->split, g_free);
  g_clear_pointer (&line->captions, g_strfreev);
  g_clear_pointer (&line->subsets, g_strfreev);
}

gboolean
t2i_captions_read_file (const char *path, gsize max_bytes, gchar ** contents,
    gsize * length, GError ** error)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  GByteArray *buf;

  *contents = NULL;
  *length = 0;
  if (fd < 0) {
    int e = errno;
    g_set_error (error, T2I_CAPTIONS_ERROR, T2I_CAPTIONS_ERROR_IO,
        "cannot open it: %s", g_strerror (e));
    return FALSE;
  }
  buf = g_byte_array_new ();
  for (;;) {
    guint8 chunk[65536];
    ssize_t n = read (fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      g_set_error (error, T2I_CAPTIONS_ERROR, T2I_CAPTIONS_ERROR_IO,
          "cannot read it: %s", g_strerror (e));
      break;
    }
    if (n == 0) {
      close (fd);
      *length = buf->len;
      g_byte_array_append (buf, (const guint8 *) "", 1);
      *contents = (gchar *) g_byte_array_free (buf, FALSE);
      return TRUE;
    }
    if (buf->len + (gsize) n > max_bytes) {
      g_autofree gchar *limit = max_bytes % (1 << 20) == 0 ?
          g_strdup_printf ("%" G_GSIZE_FORMAT " MiB", max_bytes >> 20) :
          g_strdup_printf ("%" G_GSIZE_FORMAT " bytes", max_bytes);
      g_set_error (error, T2I_CAPTIONS_ERROR, T2I_CAPTIONS_ERROR_LIMIT,
          "longer than %s, the limit", limit);
      break;
    }
    g_byte_array_append (buf, chunk, (guint) n);
  }
  close (fd);
  g_byte_array_free (buf, TRUE);
  return FALSE;
}
