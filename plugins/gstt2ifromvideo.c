/* t2ifromvideo: RGB video frames batched into an image entry.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2ifromvideo
 * @title: t2ifromvideo
 *
 * Collects @batch-size decoded `video/x-raw,format=RGB` frames into one
 * record with the entry @output, f32 [N,3,H,W] with values in [-1, 1]
 * (byte / 127.5 - 1, exactly what t2itovideo mode=frames reverses), and
 * `id` i32 [N], the index of each frame in the stream.  The record's meta
 * step counts the batches from 0.  Put `videoconvert ! videoscale !
 * video/x-raw,format=RGB,width=64,height=64` before it to feed images of
 * any format and size.
 *
 * Every batch has exactly @batch-size frames: frames left over at EOS (or
 * before a change of frame size) are dropped with a warning that says how
 * many; choose a @batch-size that divides the number of frames to keep all.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- videotestsrc num-buffers=8 ! video/x-raw,format=RGB,width=64,height=64 ! t2ifromvideo batch-size=4 ! t2itovideo ! videoconvert ! pngenc ! multifilesink location=batch-%02d.png
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2ifromvideo.h"
#include "gstt2iutil.h"

#include <gst/video/video.h>
#include <string.h>
#include <t2i/t2i.h>

GST_DEBUG_CATEGORY_STATIC (t2i_from_video_debug);
#define GST_CAT_DEFAULT t2i_from_video_debug

#define EXAMPLE "videotestsrc num-buffers=8 ! " \
    "video/x-raw,format=RGB,width=64,height=64 ! t2ifromvideo batch-size=4 " \
    "! t2itovideo ! videoconvert ! pngenc ! multifilesink " \
    "location=batch-%02d.png"

struct _T2iFromVideo
{
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;

  /* properties */
  gchar *output;
  gint batch_size;

  /* state */
  gboolean configured;
  GstVideoInfo info;
  T2iTensor *image;             /* the batch being filled */
  T2iTensor *ids;
  gint filled;
  gint64 n_frames;
  gint64 n_batches;
  GstClockTime first_pts;
};

enum
{
  PROP_0,
  PROP_OUTPUT,
  PROP_BATCH_SIZE,
};

#define DEFAULT_OUTPUT "image"
#define DEFAULT_BATCH_SIZE 16

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, format=(string)RGB, "
        "width=(int)[1, 16384], height=(int)[1, 16384]"));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (T2I_RECORD_CAPS_NAME));

G_DEFINE_TYPE_WITH_CODE (T2iFromVideo, t2i_from_video, GST_TYPE_ELEMENT,
    GST_DEBUG_CATEGORY_INIT (t2i_from_video_debug, "t2ifromvideo", 0,
        "t2i video frames to records"));
GST_ELEMENT_REGISTER_DEFINE (t2ifromvideo, "t2ifromvideo", GST_RANK_NONE,
    T2I_TYPE_FROM_VIDEO);

/* drops a partly filled batch, with a warning */
static void
drop_partial (T2iFromVideo * self, const char *why)
{
  if (self->filled > 0)
    GST_ELEMENT_WARNING (self, STREAM, DEMUX,
        ("dropped the last %d frame(s) at %s: they do not fill a batch of "
            "batch-size=%d", self->filled, why, self->batch_size), (NULL));
  self->filled = 0;
}

static void
clear_batch (T2iFromVideo * self)
{
  g_clear_pointer (&self->image, t2i_tensor_unref);
  g_clear_pointer (&self->ids, t2i_tensor_unref);
  self->filled = 0;
}

static gboolean
configure (T2iFromVideo * self, GstCaps * caps)
{
  GstVideoInfo info;
  gint64 n = self->batch_size;

  if (!gst_video_info_from_caps (&info, caps)
      || GST_VIDEO_INFO_FORMAT (&info) != GST_VIDEO_FORMAT_RGB) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("t2ifromvideo needs video/x-raw,format=RGB; put videoconvert "
            "before it"), (NULL));
    return FALSE;
  }
  if (self->configured && (GST_VIDEO_INFO_WIDTH (&info) !=
          GST_VIDEO_INFO_WIDTH (&self->info)
          || GST_VIDEO_INFO_HEIGHT (&info) !=
          GST_VIDEO_INFO_HEIGHT (&self->info)))
    drop_partial (self, "a change of frame size");
  clear_batch (self);
  self->info = info;

  gint64 shape[4] = { n, 3, GST_VIDEO_INFO_HEIGHT (&info),
    GST_VIDEO_INFO_WIDTH (&info)
  };
  GstCaps *out = t2i_record_caps_new_any ();
  GstStructure *s = gst_caps_get_structure (out, 0);
  t2i_caps_set_entry (s, self->output, "f32", 4, shape);
  t2i_caps_set_entry (s, "id", "i32", 1, &n);
  gboolean ok = gst_pad_push_event (self->srcpad, gst_event_new_caps (out));
  gst_caps_unref (out);
  if (!ok) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("downstream refused the record with %s f32[%" G_GINT64_FORMAT
            ",3,%d,%d]", self->output, n, GST_VIDEO_INFO_HEIGHT (&info),
            GST_VIDEO_INFO_WIDTH (&info)), (NULL));
    return FALSE;
  }
  self->configured = TRUE;
  return TRUE;
}

static GstFlowReturn
from_video_process (GstElement * parent, GstBuffer * buf)
{
  T2iFromVideo *self = T2I_FROM_VIDEO (parent);
  GstVideoFrame frame;
  gint w = GST_VIDEO_INFO_WIDTH (&self->info);
  gint h = GST_VIDEO_INFO_HEIGHT (&self->info);
  gsize plane = (gsize) w * h;

  if (!self->configured) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("received a frame before its caps"), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!gst_video_frame_map (&frame, &self->info, buf, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("a frame is smaller than its caps say (%dx%d RGB)", w, h), (NULL));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  if (!self->image) {
    gint64 shape[4] = { self->batch_size, 3, h, w };
    self->image = t2i_tensor_new (T2I_F32, 4, shape);
    self->ids = t2i_tensor_new (T2I_I32, T2I_SHAPE (self->batch_size));
    self->first_pts = GST_BUFFER_PTS (buf);
  }

  const guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
  gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
  float *chw = t2i_tensor_f32 (self->image) + (gsize) self->filled * 3 * plane;
  for (gint y = 0; y < h; y++) {
    const guint8 *row = data + (gsize) y * stride;
    for (gint x = 0; x < w; x++)
      for (gint c = 0; c < 3; c++)
        chw[c * plane + (gsize) y * w + x] = row[x * 3 + c] / 127.5f - 1.0f;
  }
  gst_video_frame_unmap (&frame);
  t2i_tensor_i32 (self->ids)[self->filled] = (gint32) self->n_frames;
  self->n_frames++;
  self->filled++;
  GstClockTime last_end = GST_BUFFER_PTS (buf);
  if (GST_CLOCK_TIME_IS_VALID (last_end)
      && GST_BUFFER_DURATION_IS_VALID (buf))
    last_end += GST_BUFFER_DURATION (buf);
  gst_buffer_unref (buf);

  if (self->filled < self->batch_size)
    return GST_FLOW_OK;

  GstBuffer *rec = t2i_record_new ();
  GError *err = NULL;
  if (!t2i_record_set_tensor (rec, self->output, self->image, &err)
      || !t2i_record_set_tensor (rec, "id", self->ids, &err)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("output=%s: %s", self->output,
            err->message), (NULL));
    g_error_free (err);
    gst_buffer_unref (rec);
    clear_batch (self);
    return GST_FLOW_ERROR;
  }
  clear_batch (self);
  T2iRecordMeta *meta = t2i_record_get_meta (rec);
  meta->step = self->n_batches;
  GST_BUFFER_PTS (rec) = self->first_pts;
  if (GST_CLOCK_TIME_IS_VALID (self->first_pts)
      && GST_CLOCK_TIME_IS_VALID (last_end) && last_end >= self->first_pts)
    GST_BUFFER_DURATION (rec) = last_end - self->first_pts;
  GST_BUFFER_OFFSET (rec) = (guint64) self->n_batches;
  GST_BUFFER_OFFSET_END (rec) = (guint64) self->n_batches + 1;
  self->n_batches++;
  return gst_pad_push (self->srcpad, rec);
}

static GstFlowReturn
t2i_from_video_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  return t2i_guard_flow (GST_ELEMENT (parent), from_video_process, buf);
}

static gboolean
t2i_from_video_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  T2iFromVideo *self = T2I_FROM_VIDEO (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      gboolean ok = configure (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_EOS:
      drop_partial (self, "the end of the stream");
      clear_batch (self);
      break;
    case GST_EVENT_FLUSH_STOP:
      clear_batch (self);
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

static GstStateChangeReturn
t2i_from_video_change_state (GstElement * element, GstStateChange transition)
{
  T2iFromVideo *self = T2I_FROM_VIDEO (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    self->configured = FALSE;
    self->n_frames = self->n_batches = 0;
    clear_batch (self);
  }
  ret = GST_ELEMENT_CLASS (t2i_from_video_parent_class)->change_state
      (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    clear_batch (self);
  return ret;
}

static void
t2i_from_video_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iFromVideo *self = T2I_FROM_VIDEO (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_OUTPUT:
      g_free (self->output);
      self->output = g_value_dup_string (v);
      if (!self->output || !t2i_record_name_is_valid (self->output)) {
        g_warning ("t2ifromvideo: output='%s' is not a valid entry name; "
            "using '%s'", self->output ? self->output : "", DEFAULT_OUTPUT);
        g_free (self->output);
        self->output = g_strdup (DEFAULT_OUTPUT);
      }
      break;
    case PROP_BATCH_SIZE:
      self->batch_size = g_value_get_int (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_from_video_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iFromVideo *self = T2I_FROM_VIDEO (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_OUTPUT:
      g_value_set_string (v, self->output);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_int (v, self->batch_size);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_from_video_finalize (GObject * obj)
{
  T2iFromVideo *self = T2I_FROM_VIDEO (obj);
  clear_batch (self);
  g_free (self->output);
  G_OBJECT_CLASS (t2i_from_video_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_from_video_class_init (T2iFromVideoClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  oc->set_property = t2i_from_video_set_property;
  oc->get_property = t2i_from_video_get_property;
  oc->finalize = t2i_from_video_finalize;
  ec->change_state = t2i_from_video_change_state;

  g_object_class_install_property (oc, PROP_OUTPUT,
      g_param_spec_string ("output", "Output",
          "Name of the image entry, f32 [N,3,H,W] in [-1, 1]", DEFAULT_OUTPUT,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_BATCH_SIZE,
      g_param_spec_int ("batch-size", "Batch size", "Frames per record", 1,
          65536, DEFAULT_BATCH_SIZE, PARAM_FLAGS));

  gst_element_class_add_static_pad_template (ec, &sink_template);
  gst_element_class_add_static_pad_template (ec, &src_template);
  gst_element_class_set_static_metadata (ec, "t2i from video",
      "Converter/Video", "Batches RGB video frames into an image entry of a "
      "record", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_from_video_init (T2iFromVideo * self)
{
  self->output = g_strdup (DEFAULT_OUTPUT);
  self->batch_size = DEFAULT_BATCH_SIZE;

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (t2i_from_video_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (t2i_from_video_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
