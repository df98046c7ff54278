/* t2i-launch --graph FILE: GStreamer's dot dump of the pipeline
 * (GST_DEBUG_BIN_TO_DOT_DATA, with the elements' non-default properties)
 * with each link labelled by what flows on it, rendered by graphviz's
 * `dot` into FILE (SVG, PNG or PDF, from its extension).
 *
 * GStreamer labels a link with its media type only, and the same
 * "application/x-t2i-record" on every link says nothing; the full caps
 * (GST_DEBUG_GRAPH_SHOW_CAPS_DETAILS) are a wall of NAME.dtype and
 * NAME.shape fields.  So each link's label is replaced by its record
 * entries, one per line, as t2i_caps_describe() writes them ("fake
 * f32[8,3,32,32]"), those the element at its tail added marked "+".  A
 * link is found in the dump by its source pad: every node name GStreamer
 * writes for a pad ends in the pad's address ("%p"), in all versions.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dot.h"

#include <string.h>

#include <gio/gio.h>
#include <t2i/record.h>

static const gchar *const formats[] = { "svg", "png", "pdf", NULL };

static const gchar *
extension (const gchar * path)
{
  const gchar *dot = strrchr (path, '.');

  return dot != NULL && strchr (dot, '/') == NULL ? dot + 1 : "";
}

/* FILE must end in .svg, .png, .pdf or .dot */
gboolean
t2i_dot_check_path (const gchar * path, GError ** error)
{
  const gchar *ext = extension (path);

  if (g_strv_contains (formats, ext) || g_str_equal (ext, "dot"))
    return TRUE;
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
      "--graph %s: the file name must end in .svg, .png, .pdf or .dot", path);
  return FALSE;
}

/* Calls @func on every element of @bin and of the bins in it. */
static void
foreach_element (GstBin * bin, GFunc func, gpointer data)
{
  GstIterator *it = gst_bin_iterate_recurse (bin);
  GValue item = G_VALUE_INIT;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    func (g_value_get_object (&item), data);
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

static void
check_element (gpointer element, gpointer ready)
{
  GstIterator *it = gst_element_iterate_src_pads (element);
  GValue item = G_VALUE_INIT;

  while (*(gboolean *) ready && gst_iterator_next (it, &item) ==
      GST_ITERATOR_OK) {
    GstPad *pad = g_value_get_object (&item);
    g_autoptr (GstPad) peer = gst_pad_get_peer (pad);

    /* a sink pad keeps its caps only once the caps event has gone through
     * everything downstream (the elements there may build their networks
     * on it): both ends, so the graph tells what each element added */
    if (peer != NULL && !(gst_pad_has_current_caps (pad)
            && gst_pad_has_current_caps (peer)))
      *(gboolean *) ready = FALSE;
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

/* Whether every link of @bin has its caps: the graph is worth drawing. */
gboolean
t2i_dot_caps_ready (GstBin * bin)
{
  gboolean ready = TRUE;

  foreach_element (bin, check_element, &ready);
  return ready;
}

static gboolean
is_record (const GstStructure * s)
{
  return gst_structure_has_field (s, "entries")
      && g_str_has_prefix (gst_structure_get_name (s), "application/x-t2i");
}

/* the entries that come into @element (on any sink pad); NULL when
 * they are not known */
static GHashTable *
entries_in (GstElement * element)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal,
      g_free, NULL);
  GstIterator *it = gst_element_iterate_sink_pads (element);
  GValue item = G_VALUE_INIT;
  gboolean any = FALSE, has_sink = FALSE;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    g_autoptr (GstCaps) caps =
        gst_pad_get_current_caps (g_value_get_object (&item));

    has_sink = TRUE;
    const GstStructure *s = caps && gst_caps_get_size (caps) > 0 ?
        gst_caps_get_structure (caps, 0) : NULL;
    const GValue *entries = s ? gst_structure_get_value (s, "entries") : NULL;

    for (guint i = 0; s && is_record (s) && entries
        && GST_VALUE_HOLDS_ARRAY (entries)
        && i < gst_value_array_get_size (entries); i++) {
      const GValue *v = gst_value_array_get_value (entries, i);

      if (G_VALUE_HOLDS_STRING (v))
        g_hash_table_add (names, g_value_dup_string (v));
      any = TRUE;
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  /* a link whose caps are not known yet marks nothing (a source, with no
   * sink pad, added every entry) */
  if (!any && has_sink)
    g_clear_pointer (&names, g_hash_table_unref);
  return names;
}

/* dot's \l ends a left-aligned line; quotes and backslashes escaped */
static void
append_escaped (GString * label, const gchar * text)
{
  for (const gchar * p = text; *p; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_c (label, '\\');
    g_string_append_c (label, *p);
  }
}

/* The label of the link from @pad, NULL when its caps are not known. */
static gchar *
link_label (GstPad * pad)
{
  g_autoptr (GstCaps) caps = gst_pad_get_current_caps (pad);
  g_autoptr (GstElement) element = gst_pad_get_parent_element (pad);
  GString *label;
  const GstStructure *s;

  if (caps == NULL || gst_caps_get_size (caps) == 0)
    return NULL;
  s = gst_caps_get_structure (caps, 0);
  label = g_string_new (NULL);
  if (is_record (s)) {
    g_autofree gchar *described = t2i_caps_describe (s);
    g_auto (GStrv) items = g_strsplit (described, ", ", -1);
    GHashTable *before = element ? entries_in (element) : NULL;

    for (guint i = 0; items[i]; i++) {
      g_autofree gchar *name = g_strndup (items[i], strcspn (items[i], " "));
      /* a folded family ("vgg/real/... (22 entries)") is not marked */
      gboolean added = before != NULL && !g_str_has_suffix (name, "/...")
          && !g_hash_table_contains (before, name);

      g_string_append (label, added ? "+ " : "  ");
      append_escaped (label, items[i]);
      g_string_append (label, "\\l");
    }
    g_clear_pointer (&before, g_hash_table_unref);
  } else {
    g_autofree gchar *text = gst_caps_to_string (caps);
    g_auto (GStrv) fields = g_strsplit (text, ", ", 8);

    for (guint i = 0; fields[i]; i++) {
      append_escaped (label, fields[i]);
      g_string_append (label, "\\l");
    }
  }
  return g_string_free (label, FALSE);
}

typedef struct
{
  GHashTable *labels;           /* "%p" of a source pad -> label */
} Labels;

static void
collect_labels (gpointer element, gpointer data)
{
  Labels *l = data;
  GstIterator *it = gst_element_iterate_src_pads (element);
  GValue item = G_VALUE_INIT;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GstPad *pad = g_value_get_object (&item);
    gchar *label = gst_pad_is_linked (pad) ? link_label (pad) : NULL;

    if (label != NULL)
      g_hash_table_insert (l->labels, g_strdup_printf ("%p", (void *) pad),
          label);
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
}

/* the address at the end of a node name ("..._0x55d0c2a1b0"), or NULL */
static gchar *
trailing_address (const gchar * node, gsize length)
{
  gsize start = length;

  while (start > 0 && g_ascii_isxdigit (node[start - 1]))
    start--;
  if (start < 2 || node[start - 1] != 'x' || node[start - 2] != '0')
    return NULL;
  return g_strndup (node + start - 2, length - start + 2);
}

/**
 * t2i_dot_describe:
 *
 * GStreamer's dot text of @bin with the links labelled by their entries.
 */
gchar *
t2i_dot_describe (GstBin * bin)
{
  g_autofree gchar *dot = gst_debug_bin_to_dot_data (bin,
      GST_DEBUG_GRAPH_SHOW_MEDIA_TYPE |
      GST_DEBUG_GRAPH_SHOW_NON_DEFAULT_PARAMS);
  Labels l = { g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
        g_free)
  };
  g_auto (GStrv) lines = g_strsplit (dot, "\n", -1);
  GString *out = g_string_new (NULL);

  foreach_element (bin, collect_labels, &l);
  for (guint i = 0; lines[i]; i++) {
    const gchar *line = lines[i];
    const gchar *arrow = strstr (line, " -> ");
    const gchar *attrs = arrow ? strstr (arrow, " [") : NULL;
    gsize end;
    g_autofree gchar *address = NULL;
    const gchar *label;

    if (i > 0)
      g_string_append_c (out, '\n');
    if (arrow == NULL) {
      g_string_append (out, line);
      continue;
    }
    for (end = arrow - line; end > 0 && line[end - 1] == ' '; end--);
    address = trailing_address (line, end);
    label = address ? g_hash_table_lookup (l.labels, address) : NULL;
    if (label == NULL || (attrs && strstr (attrs, "invis"))) {
      g_string_append (out, line);
      continue;
    }
    g_string_append_len (out, line, attrs ? attrs - line : (gssize) -1);
    g_string_append_printf (out, " [label=\"%s\", fontsize=\"8\"]", label);
  }
  g_hash_table_unref (l.labels);
  return g_string_free (out, FALSE);
}

/**
 * t2i_dot_write:
 * @note: (out) (optional): set to a line for the user when the graph went
 *   elsewhere than @path (graphviz missing: the .dot file beside it)
 *
 * Writes the graph of @bin to @path: dot text for .dot, else rendered by
 * graphviz's dot in the format of the extension.
 */
gboolean
t2i_dot_write (GstBin * bin, const gchar * path, gchar ** note,
    GError ** error)
{
  g_autofree gchar *dot = t2i_dot_describe (bin);
  g_autofree gchar *program = NULL;
  g_autofree gchar *format = NULL;
  g_autofree gchar *dot_path = NULL;
  g_autoptr (GSubprocess) process = NULL;
  g_autofree gchar *errors = NULL;
  g_autoptr (GError) local = NULL;
  const gchar *ext = extension (path);

  if (note)
    *note = NULL;
  if (g_str_equal (ext, "dot")) {
    if (g_file_set_contents (path, dot, -1, &local))
      return TRUE;
    g_set_error (error, local->domain, local->code, "--graph: %s",
        local->message);
    return FALSE;
  }

  program = g_find_program_in_path ("dot");
  if (program == NULL) {
    /* x.svg -> x.dot, to render later */
    g_autofree gchar *stem = g_strndup (path, strlen (path) - strlen (ext));

    dot_path = g_strconcat (stem, "dot", NULL);
    if (!g_file_set_contents (dot_path, dot, -1, &local)) {
      g_set_error (error, local->domain, local->code, "--graph: %s",
          local->message);
      return FALSE;
    }
    if (note)
      *note = g_strdup_printf ("graphviz's dot is not installed: wrote %s "
          "instead of %s (apt-get install graphviz, then dot -T%s %s -o %s)",
          dot_path, path, ext, dot_path, path);
    return TRUE;
  }

  format = g_strconcat ("-T", ext, NULL);
  process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
      G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
      &local, program, format, "-o", path, NULL);
  if (process == NULL || !g_subprocess_communicate_utf8 (process, dot, NULL,
          NULL, &errors, &local)) {
    g_set_error (error, local->domain, local->code, "--graph: %s: %s",
        program, local->message);
    return FALSE;
  }
  if (!g_subprocess_get_successful (process)) {
    g_set_error (error, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED,
        "--graph: %s %s -o %s failed: %s", program, format, path,
        errors && *errors ? g_strstrip (errors) : "no message");
    return FALSE;
  }
  return TRUE;
}
