/* t2itextsrc: batches of prompts for inference.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2itextsrc
 * @title: t2itextsrc
 *
 * Reads prompts and emits them in records of @batch-size:
 *
 * - `caption` str[N]: the prompts
 * - `prompt-index` i32[N]: the 0-based index of each prompt in the list,
 *   or -1 for padding
 *
 * Prompts come from @location (one per line; blank lines and lines whose
 * first non-blank character is `#` are skipped; surrounding white space is
 * trimmed) or from @text, separated by `;`.  Each prompt is repeated
 * @repeat times in a row (several samples per prompt).  Every record has
 * exactly @batch-size rows, so downstream shapes never change: the last
 * batch is padded by cycling the list from its start, and its padding rows
 * carry prompt-index -1 (drop them when writing results).  The record's
 * meta step counts batches from 0; `t2i-progress` {step, total,
 * batch-size} is posted before the first record, then at most once a
 * second, and at the end.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itextsrc text="a red circle;a blue square" batch-size=4 repeat=2 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2itextsrc.h"
#include "gstt2iprogress.h"

#include <string.h>
#include <t2i/t2i.h>

GST_DEBUG_CATEGORY_STATIC (t2i_text_src_debug);
#define GST_CAT_DEFAULT t2i_text_src_debug

#define EXAMPLE "t2itextsrc text=\"a red circle;a blue square\" batch-size=4 " \
    "repeat=2 ! fakesink"

struct _T2iTextSrc
{
  T2iSource parent;

  /* properties */
  gchar *location;
  gchar *text;
  gint batch_size;
  gint repeat;

  /* state */
  GPtrArray *prompts;
  gint64 n_rows;                /* prompts x repeat */
  gint64 total;                 /* batches */
  gint64 next;                  /* next batch */
  T2iProgressPoster progress;
  GstCaps *caps;                /* under the object lock */
};

enum
{
  PROP_0,
  PROP_LOCATION,
  PROP_TEXT,
  PROP_BATCH_SIZE,
  PROP_REPEAT,
};

#define DEFAULT_BATCH_SIZE 1
#define DEFAULT_REPEAT 1

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (T2I_RECORD_CAPS_NAME));

G_DEFINE_TYPE_WITH_CODE (T2iTextSrc, t2i_text_src, T2I_TYPE_SOURCE,
    GST_DEBUG_CATEGORY_INIT (t2i_text_src_debug, "t2itextsrc", 0,
        "t2i prompt source"));
GST_ELEMENT_REGISTER_DEFINE (t2itextsrc, "t2itextsrc", GST_RANK_NONE,
    T2I_TYPE_TEXT_SRC);

static GstCaps *
make_caps (gint batch_size)
{
  GstCaps *caps = t2i_record_caps_new_any ();
  GstStructure *s = gst_caps_get_structure (caps, 0);
  gint64 n = batch_size;
  t2i_caps_set_entry (s, "caption", "str", 1, &n);
  t2i_caps_set_entry (s, "prompt-index", "i32", 1, &n);
  return caps;
}

static gboolean
add_prompt (T2iTextSrc * self, const char *p, gsize len, const char *where,
    gint line)
{
  g_autofree gchar *s = g_strndup (p, len);
  g_strstrip (s);
  if (!*s || s[0] == '#')
    return TRUE;
  if (strlen (s) > T2I_CAPTION_MAX_BYTES) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("%s:%d: the prompt is %" G_GSIZE_FORMAT " bytes long, more than the "
            "limit of %d", where, line, strlen (s), T2I_CAPTION_MAX_BYTES),
        (NULL));
    return FALSE;
  }
  if (!g_utf8_validate (s, -1, NULL)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("%s:%d: the prompt is not valid UTF-8; save the file as UTF-8",
            where, line), (NULL));
    return FALSE;
  }
  g_ptr_array_add (self->prompts, g_steal_pointer (&s));
  return TRUE;
}

static gboolean
load_prompts (T2iTextSrc * self)
{
  gchar *contents = NULL;
  gsize size = 0;
  GError *err = NULL;
  gboolean ok = TRUE;
  const char *where, *sep;

  self->prompts = g_ptr_array_new_null_terminated (16, g_free, TRUE);
  if (self->location && *self->location) {
    if (self->text && *self->text) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("set either location= or text=, not both"), (NULL));
      return FALSE;
    }
    if (!t2i_captions_read_file (self->location, T2I_PROMPTS_MAX_FILE,
            &contents, &size, &err)) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("location=%s: %s",
              self->location, err->message), (NULL));
      g_error_free (err);
      return FALSE;
    }
    where = self->location;
    sep = "\n";
  } else if (self->text && *self->text) {
    contents = g_strdup (self->text);
    size = strlen (contents);
    where = "text";
    sep = ";";
  } else {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("no prompts: set location=FILE (one prompt per line) or "
            "text=\"first prompt;second prompt\""), (NULL));
    return FALSE;
  }

  const char *p = contents, *end = contents + size;
  for (gint line = 1; ok && p < end; line++) {
    const char *stop = memchr (p, sep[0], (gsize) (end - p));
    if (!stop)
      stop = end;
    if (memchr (p, '\0', (gsize) (stop - p))) {
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("%s:%d: the prompt holds a NUL byte; is this a text file?", where,
              line), (NULL));
      ok = FALSE;
    } else {
      ok = add_prompt (self, p, (gsize) (stop - p), where, line);
    }
    p = stop < end ? stop + 1 : end;
  }
  g_free (contents);
  if (ok && self->prompts->len == 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("%s holds no prompts (blank lines and lines starting with # are "
            "skipped)", self->location ? self->location : "text="), (NULL));
    ok = FALSE;
  }
  return ok;
}

static gboolean
t2i_text_src_start (GstBaseSrc * src)
{
  T2iTextSrc *self = T2I_TEXT_SRC (src);

  g_clear_pointer (&self->prompts, g_ptr_array_unref);
  if (!load_prompts (self))
    return FALSE;
  self->n_rows = (gint64) self->prompts->len * self->repeat;
  self->total = (self->n_rows + self->batch_size - 1) / self->batch_size;
  self->next =
      MAX (t2i_session_get_resume_step (t2i_source_get_session (T2I_SOURCE (self))), 0);
  t2i_progress_reset (&self->progress);
  GstCaps *caps = make_caps (self->batch_size);
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->caps, caps);
  GST_OBJECT_UNLOCK (self);
  gst_caps_unref (caps);
  GST_INFO_OBJECT (self, "%u prompts, %" G_GINT64_FORMAT " batches",
      self->prompts->len, self->total);
  return TRUE;
}

/* the prompts are checked in NULL->READY already: a pipeline that cannot
 * start fails before its sinks open their files (a trainer's samples=
 * pipeline is checked at READY when training starts) */
static GstStateChangeReturn
t2i_text_src_change_state (GstElement * element, GstStateChange transition)
{
  T2iTextSrc *self = T2I_TEXT_SRC (element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    g_clear_pointer (&self->prompts, g_ptr_array_unref);
    gboolean ok = load_prompts (self);
    g_clear_pointer (&self->prompts, g_ptr_array_unref);
    if (!ok)
      return GST_STATE_CHANGE_FAILURE;
  }
  return GST_ELEMENT_CLASS (t2i_text_src_parent_class)->change_state (element,
      transition);
}

static gboolean
t2i_text_src_stop (GstBaseSrc * src)
{
  T2iTextSrc *self = T2I_TEXT_SRC (src);
  g_clear_pointer (&self->prompts, g_ptr_array_unref);
  GST_OBJECT_LOCK (self);
  gst_caps_replace (&self->caps, NULL);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static GstCaps *
t2i_text_src_get_caps (GstBaseSrc * src, GstCaps * filter)
{
  T2iTextSrc *self = T2I_TEXT_SRC (src);
  GstCaps *caps;

  GST_OBJECT_LOCK (self);
  caps = self->caps ? gst_caps_ref (self->caps) : make_caps (self->batch_size);
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
t2i_text_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  T2iTextSrc *self = T2I_TEXT_SRC (psrc);
  gint n = self->batch_size;
  GError *err = NULL;

  t2i_progress_update (&self->progress, GST_ELEMENT (self), self->next,
      self->total, n, self->next >= self->total);
  if (self->next >= self->total)
    return GST_FLOW_EOS;

  const char **captions = g_new0 (const char *, n + 1);
  T2iTensor *index = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  for (gint j = 0; j < n; j++) {
    gint64 row = self->next * n + j;
    gboolean pad = row >= self->n_rows;
    gint64 prompt = (row % self->n_rows) / self->repeat;
    captions[j] = self->prompts->pdata[prompt];
    t2i_tensor_i32 (index)[j] = pad ? -1 : (gint32) prompt;
  }
  GstBuffer *rec = t2i_record_new ();
  gboolean ok = t2i_record_set_strings (rec, "caption", captions, &err)
      && t2i_record_set_tensor (rec, "prompt-index", index, &err);
  g_free (captions);
  t2i_tensor_unref (index);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("%s", err->message), (NULL));
    g_error_free (err);
    gst_buffer_unref (rec);
    return GST_FLOW_ERROR;
  }
  T2iRecordMeta *meta = t2i_record_get_meta (rec);
  meta->step = self->next;
  meta->seed = t2i_session_get_seed (t2i_source_get_session (T2I_SOURCE (self)));
  GST_BUFFER_OFFSET (rec) = (guint64) self->next;
  GST_BUFFER_OFFSET_END (rec) = (guint64) self->next + 1;
  self->next++;
  *outbuf = rec;
  return GST_FLOW_OK;
}




static void
t2i_text_src_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iTextSrc *self = T2I_TEXT_SRC (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (v);
      break;
    case PROP_TEXT:
      g_free (self->text);
      self->text = g_value_dup_string (v);
      break;
    case PROP_BATCH_SIZE:
      self->batch_size = g_value_get_int (v);
      break;
    case PROP_REPEAT:
      self->repeat = g_value_get_int (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_text_src_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iTextSrc *self = T2I_TEXT_SRC (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_LOCATION:
      g_value_set_string (v, self->location);
      break;
    case PROP_TEXT:
      g_value_set_string (v, self->text);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_int (v, self->batch_size);
      break;
    case PROP_REPEAT:
      g_value_set_int (v, self->repeat);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_text_src_finalize (GObject * obj)
{
  T2iTextSrc *self = T2I_TEXT_SRC (obj);
  g_clear_pointer (&self->prompts, g_ptr_array_unref);
  gst_caps_replace (&self->caps, NULL);
  g_free (self->location);
  g_free (self->text);
  G_OBJECT_CLASS (t2i_text_src_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_text_src_class_init (T2iTextSrcClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *bc = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pc = GST_PUSH_SRC_CLASS (klass);

  oc->set_property = t2i_text_src_set_property;
  oc->get_property = t2i_text_src_get_property;
  oc->finalize = t2i_text_src_finalize;
  bc->start = t2i_text_src_start;
  GST_ELEMENT_CLASS (klass)->change_state = t2i_text_src_change_state;
  bc->stop = t2i_text_src_stop;
  bc->get_caps = t2i_text_src_get_caps;
  pc->create = t2i_text_src_create;

  g_object_class_install_property (oc, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "Text file with one prompt per line (# starts a comment line, "
          "blank lines are skipped)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_TEXT,
      g_param_spec_string ("text", "Text",
          "Prompts separated by ';' (instead of location=)", NULL,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_BATCH_SIZE,
      g_param_spec_int ("batch-size", "Batch size",
          "Prompts per record; the last record is padded by cycling the "
          "list (prompt-index -1)", 1, 65536, DEFAULT_BATCH_SIZE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_REPEAT,
      g_param_spec_int ("repeat", "Repeat",
          "Times each prompt is repeated in a row (samples per prompt)", 1,
          65536, DEFAULT_REPEAT, PARAM_FLAGS));

  gst_element_class_add_static_pad_template (ec, &src_template);
  gst_element_class_set_static_metadata (ec, "t2i text source",
      "Source/Tensor", "Emits prompts from a file or a string in batches "
      "for inference", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_text_src_init (T2iTextSrc * self)
{
  self->batch_size = DEFAULT_BATCH_SIZE;
  self->repeat = DEFAULT_REPEAT;
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}
