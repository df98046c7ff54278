/* Checks on the links of a built pipeline for t2i-launch: a loop made
 * with name. references, which GStreamer cannot run (it warns and hangs),
 * and outputs that go nowhere, which stop it with "not-linked".
 *
 * Both look at the elements the description made: the bins of "( ... )"
 * and the pipeline are looked through, any other bin (decodebin, ...) is
 * one element whose inside is its own business (decodebin's typefind has
 * an unlinked src pad until it finds a type).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "graph.h"

static void
add_object (const GValue * item, gpointer array)
{
  g_ptr_array_add (array, g_value_dup_object (item));
}

static gboolean
is_plain_bin (GstElement * element)
{
  GType type = G_OBJECT_TYPE (element);

  return type == GST_TYPE_BIN || type == GST_TYPE_PIPELINE;
}

/* The elements in @top and in the plain bins inside it, at any depth
 * (plain bins themselves left out); @top itself when it is no plain bin. */
static GPtrArray *
all_elements (GstBin * top)
{
  GPtrArray *elements = g_ptr_array_new_with_free_func (gst_object_unref);
  g_autoptr (GPtrArray) bins = g_ptr_array_new_with_free_func
      (gst_object_unref);

  if (!is_plain_bin (GST_ELEMENT (top))) {
    g_ptr_array_add (elements, gst_object_ref (top));
    return elements;
  }
  g_ptr_array_add (bins, gst_object_ref (top));
  for (guint i = 0; i < bins->len; i++) {
    g_autoptr (GPtrArray) children = g_ptr_array_new ();
    GstIterator *it = gst_bin_iterate_elements (bins->pdata[i]);

    gst_iterator_foreach (it, add_object, children);
    gst_iterator_free (it);
    for (guint k = 0; k < children->len; k++)
      g_ptr_array_add (is_plain_bin (children->pdata[k]) ? bins : elements,
          children->pdata[k]);
  }
  return elements;
}

static GPtrArray *
src_pads (GstElement * element)
{
  GPtrArray *pads = g_ptr_array_new_with_free_func (gst_object_unref);
  GstIterator *it = gst_element_iterate_src_pads (element);

  gst_iterator_foreach (it, add_object, pads);
  gst_iterator_free (it);
  return pads;
}

/* The element that data leaving @src reaches, through the ghost pads of
 * plain bins in both directions; NULL when @src is unlinked. */
static GstElement *
downstream_element (GstPad * src)
{
  GstPad *pad = gst_pad_get_peer (src);

  while (pad != NULL) {
    GstPad *next;

    if (GST_IS_GHOST_PAD (pad)) {
      /* into a bin: a plain one is looked through */
      GstElement *bin = gst_pad_get_parent_element (pad);

      if (bin != NULL && !is_plain_bin (bin)) {
        gst_object_unref (pad);
        return bin;
      }
      gst_clear_object (&bin);
      next = gst_ghost_pad_get_target (GST_GHOST_PAD (pad));
    } else if (GST_IS_PROXY_PAD (pad)) {
      /* out of a bin: the inner side of one of its ghost pads */
      GstPad *ghost = GST_PAD (gst_proxy_pad_get_internal (GST_PROXY_PAD
              (pad)));

      next = ghost != NULL ? gst_pad_get_peer (ghost) : NULL;
      gst_clear_object (&ghost);
    } else {
      GstElement *element = gst_pad_get_parent_element (pad);

      gst_object_unref (pad);
      return element;
    }
    gst_object_unref (pad);
    pad = next;
  }
  return NULL;
}

/* "a -> b -> a" for the loop that starts at stack[from] */
static gchar *
describe_loop (GPtrArray * elements, const guint * stack, guint from,
    guint top)
{
  GString *s = g_string_new (NULL);

  for (guint i = from; i <= top; i++)
    g_string_append_printf (s, "%s -> ",
        GST_OBJECT_NAME (g_ptr_array_index (elements, stack[i])));
  g_string_append (s, GST_OBJECT_NAME (g_ptr_array_index (elements,
              stack[from])));
  return g_string_free (s, FALSE);
}

/**
 * t2i_graph_find_loop:
 *
 * Follows every link between the elements of @pipeline (plain bins are
 * looked through) and finds a path that comes back to where it started.
 *
 * Returns: (transfer full) (nullable): the loop as "a -> b -> a", or %NULL
 */
gchar *
t2i_graph_find_loop (GstBin * pipeline)
{
  g_autoptr (GPtrArray) elements = all_elements (pipeline);
  g_autoptr (GHashTable) index = g_hash_table_new (NULL, NULL);
  guint n = elements->len;
  g_autofree GArray **next = g_new0 (GArray *, n);
  g_autofree guint8 *state = g_new0 (guint8, n);       /* 0 new, 1 open, 2 done */
  g_autofree guint *stack = g_new (guint, n);
  g_autofree guint *edge = g_new (guint, n);
  gchar *loop = NULL;

  for (guint i = 0; i < n; i++)
    g_hash_table_insert (index, g_ptr_array_index (elements, i),
        GUINT_TO_POINTER (i + 1));

  for (guint i = 0; i < n; i++) {
    g_autoptr (GPtrArray) pads = src_pads (g_ptr_array_index (elements, i));

    next[i] = g_array_new (FALSE, FALSE, sizeof (guint));
    for (guint k = 0; k < pads->len; k++) {
      GstElement *peer = downstream_element (g_ptr_array_index (pads, k));
      guint j = GPOINTER_TO_UINT (g_hash_table_lookup (index, peer));

      if (j > 0) {
        j--;
        g_array_append_val (next[i], j);
      }
      gst_clear_object (&peer);
    }
  }

  /* depth-first search with an explicit stack: a pipeline may hold many
   * thousand elements in one chain */
  for (guint root = 0; root < n && loop == NULL; root++) {
    gint top = 0;

    if (state[root] != 0)
      continue;
    stack[0] = root;
    edge[0] = 0;
    state[root] = 1;
    while (top >= 0 && loop == NULL) {
      guint u = stack[top];

      if (edge[top] < next[u]->len) {
        guint v = g_array_index (next[u], guint, edge[top]);

        edge[top]++;
        if (state[v] == 1) {
          guint from = top;

          while (stack[from] != v)
            from--;
          loop = describe_loop (elements, stack, from, top);
        } else if (state[v] == 0) {
          top++;
          stack[top] = v;
          edge[top] = 0;
          state[v] = 1;
        }
      } else {
        state[u] = 2;
        top--;
      }
    }
  }

  for (guint i = 0; i < n; i++)
    g_array_unref (next[i]);
  return loop;
}

static gboolean
is_always (GstPad * pad)
{
  GstPadTemplate *templ = gst_pad_get_pad_template (pad);
  gboolean always = templ == NULL
      || GST_PAD_TEMPLATE_PRESENCE (templ) == GST_PAD_ALWAYS;

  gst_clear_object (&templ);
  return always;
}

/* Links @pad to a new fakesink beside its element. */
static gboolean
add_fakesink (GstElement * element, GstPad * pad)
{
  GstObject *parent = gst_object_get_parent (GST_OBJECT (element));
  GstElement *sink = NULL;
  GstPad *sink_pad = NULL;
  gboolean ok = FALSE;

  if (parent != NULL && GST_IS_BIN (parent))
    sink = gst_element_factory_make ("fakesink", NULL);
  if (sink != NULL && gst_bin_add (GST_BIN (parent), sink)) {
    sink_pad = gst_element_get_static_pad (sink, "sink");
    ok = gst_pad_link (pad, sink_pad) == GST_PAD_LINK_OK;
    if (!ok)
      gst_bin_remove (GST_BIN (parent), sink);
  }
  gst_clear_object (&sink_pad);
  gst_clear_object (&parent);
  return ok;
}

/**
 * t2i_graph_add_missing_sinks:
 *
 * Gives every unlinked always src pad in @pipeline a fakesink, so that a
 * pipeline ending in a transform (a metric, say) runs instead of stopping
 * with "not-linked".
 *
 * Returns: (transfer full): the outputs that got one: "element" for its
 *   pad "src", else "element:pad"
 */
GPtrArray *
t2i_graph_add_missing_sinks (GstBin * pipeline)
{
  g_autoptr (GPtrArray) elements = all_elements (pipeline);
  GPtrArray *added = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < elements->len; i++) {
    GstElement *element = g_ptr_array_index (elements, i);
    g_autoptr (GPtrArray) pads = src_pads (element);

    for (guint k = 0; k < pads->len; k++) {
      GstPad *pad = g_ptr_array_index (pads, k);

      if (gst_pad_is_linked (pad) || !is_always (pad)
          || !add_fakesink (element, pad))
        continue;
      g_ptr_array_add (added, g_strcmp0 (GST_OBJECT_NAME (pad), "src") == 0 ?
          g_strdup (GST_OBJECT_NAME (element)) :
          g_strdup_printf ("%s:%s", GST_OBJECT_NAME (element),
              GST_OBJECT_NAME (pad)));
    }
  }
  return added;
}
