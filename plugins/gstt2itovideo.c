/* t2itovideo: an image entry as video/x-raw RGB frames or grids.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2itovideo
 * @title: t2itovideo
 *
 * Turns the image entry @input of each record (f32 or f64 [N,C,H,W] with
 * values in @range, or u8 [N,C,H,W] taken as is; C = 3 for RGB or 1 for
 * gray) into `video/x-raw,format=RGB` buffers, so every GStreamer element
 * works on t2i output: `videoconvert ! pngenc ! multifilesink` writes
 * PNG files, `autovideosink` shows them.
 *
 * - `mode=grid` (default): one frame per record, the N images in a grid of
 *   @grid-columns columns (default: ceil (sqrt (N))) filled row by row,
 *   separated and surrounded by @padding pixels of @padding-color (grey by
 *   default).  Cells of a last incomplete row keep that colour.
 * - `mode=frames`: one frame per image.
 *
 * Each image is enlarged @scale times (nearest neighbour); padding is not
 * scaled.  Values outside @range are clamped; NaN becomes 0 (black).
 *
 * Captions: with @captions-file (and @captions naming the string entry,
 * default `caption`), the captions of each grid are written to a text
 * file, numbered from 1 in grid order (row-major, the order of the batch),
 * after a header line `# step S: N images, C columns, row-major`.  A
 * `%d`-style pattern in the file name (e.g. `out/grid-%05d.txt`) writes one
 * file per grid, numbered like multifilesink's files; without one, every
 * grid is appended to the same file.  Missing folders are created.  When
 * @captions is set explicitly, the captions are also posted as the element
 * message `t2i-captions` {step, columns, captions (array of strings)}.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2idatasetsrc dataset=shapes batch-size=16 max-steps=1 ! t2itovideo input=image grid-columns=4 scale=2 captions-file=grid.txt ! videoconvert ! pngenc ! filesink location=grid.png
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2itovideo.h"
#include "gstt2iutil.h"

#include <errno.h>
#include <gst/video/video.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <t2i/t2i.h>

GST_DEBUG_CATEGORY_STATIC (t2i_to_video_debug);
#define GST_CAT_DEFAULT t2i_to_video_debug

#define EXAMPLE "t2idatasetsrc dataset=shapes batch-size=16 max-steps=1 ! " \
    "t2itovideo input=image grid-columns=4 scale=2 captions-file=grid.txt ! " \
    "videoconvert ! pngenc ! filesink location=grid.png"

#define MAX_SIDE 32768

typedef enum
{
  RANGE_SIGNED,
  RANGE_UNIT,
} ValueRange;

typedef enum
{
  MODE_GRID,
  MODE_FRAMES,
} OutputMode;

struct _T2iToVideo
{
  GstElement parent;
  GstPad *sinkpad;
  GstPad *srcpad;

  /* properties */
  gchar *input;
  gint grid_columns;
  gint scale;
  ValueRange range;
  OutputMode mode;
  gchar *captions;
  gchar *captions_file;
  gint padding;
  guint padding_color;

  /* negotiated */
  gboolean configured;
  gint n, c, h, w;
  gint cols, rows;
  GstVideoInfo info;

  /* captions output */
  FILE *fp;                     /* single-file mode */
  gint64 n_grids;
  guint64 n_frames;
};

enum
{
  PROP_0,
  PROP_INPUT,
  PROP_GRID_COLUMNS,
  PROP_SCALE,
  PROP_RANGE,
  PROP_MODE,
  PROP_CAPTIONS,
  PROP_CAPTIONS_FILE,
  PROP_PADDING,
  PROP_PADDING_COLOR,
};

#define DEFAULT_INPUT "image"
#define DEFAULT_GRID_COLUMNS 0
#define DEFAULT_SCALE 1
#define DEFAULT_RANGE RANGE_SIGNED
#define DEFAULT_MODE MODE_GRID
#define DEFAULT_PADDING 2
#define DEFAULT_PADDING_COLOR 0x808080

#define T2I_TYPE_VIDEO_RANGE (video_range_get_type ())
static GType
video_range_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {RANGE_SIGNED, "Values in [-1, 1]", "-1,1"},
    {RANGE_UNIT, "Values in [0, 1]", "0,1"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("T2iToVideoRange",
            values));
  return type;
}

#define T2I_TYPE_VIDEO_MODE (video_mode_get_type ())
static GType
video_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {MODE_GRID, "One frame per record: the images in a grid", "grid"},
    {MODE_FRAMES, "One frame per image", "frames"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type))
    g_once_init_leave (&type, g_enum_register_static ("T2iToVideoMode",
            values));
  return type;
}

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (T2I_RECORD_CAPS_NAME));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS ("video/x-raw, format=(string)RGB, "
        "width=(int)[1, 32768], height=(int)[1, 32768], "
        "framerate=(fraction)0/1, pixel-aspect-ratio=(fraction)1/1"));

G_DEFINE_TYPE_WITH_CODE (T2iToVideo, t2i_to_video, GST_TYPE_ELEMENT,
    GST_DEBUG_CATEGORY_INIT (t2i_to_video_debug, "t2itovideo", 0,
        "t2i records to video frames"));
GST_ELEMENT_REGISTER_DEFINE (t2itovideo, "t2itovideo", GST_RANK_NONE,
    T2I_TYPE_TO_VIDEO);

static const char *
captions_entry (T2iToVideo * self)
{
  if (self->captions && *self->captions)
    return self->captions;
  return self->captions_file && *self->captions_file ? "caption" : NULL;
}

/* Checks a captions-file pattern: at most one %d conversion (with an
 * optional zero flag and width), %% for a literal percent sign.  Sets
 * @has_number. */
static gboolean
pattern_is_valid (const char *pattern, gboolean * has_number)
{
  gint n = 0;
  for (const char *p = pattern; *p; p++) {
    if (*p != '%')
      continue;
    p++;
    if (*p == '%')
      continue;
    while (g_ascii_isdigit (*p))
      p++;
    if (*p != 'd')
      return FALSE;
    n++;
  }
  *has_number = n == 1;
  return n <= 1;
}

static gchar *
format_pattern (const char *pattern, gint64 number)
{
  GString *s = g_string_new (NULL);
  for (const char *p = pattern; *p; p++) {
    if (*p != '%') {
      g_string_append_c (s, *p);
      continue;
    }
    p++;
    if (*p == '%') {
      g_string_append_c (s, '%');
      continue;
    }
    gboolean zero = *p == '0';
    gint width = 0;
    while (g_ascii_isdigit (*p))
      width = MIN (width * 10 + (*p++ - '0'), 64);
    g_string_append_printf (s, zero ? "%0*" G_GINT64_FORMAT :
        "%*" G_GINT64_FORMAT, width, number);
  }
  return g_string_free (s, FALSE);
}

static gboolean
make_parent_dir (T2iToVideo * self, const char *path)
{
  g_autofree gchar *dir = g_path_get_dirname (path);
  if (g_mkdir_with_parents (dir, 0755) != 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
        ("captions-file=%s: cannot create folder %s: %s", self->captions_file,
            dir, g_strerror (errno)), (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
configure (T2iToVideo * self, GstCaps * caps)
{
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  const char *dtype = NULL, *centry = captions_entry (self);
  gint ndim = 0;
  gint64 shape[T2I_MAX_DIMS];
  GError *err = NULL;
  gint64 width, height;

  if (!t2i_caps_get_entry (s, self->input, &dtype, &ndim, shape)
      || g_strcmp0 (dtype, "u8") != 0) {
    if (!t2i_caps_require (s, self->input, NULL, 4, NULL, &err)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("input=%s: %s",
              self->input, err->message), (NULL));
      g_error_free (err);
      return FALSE;
    }
    t2i_caps_get_entry (s, self->input, &dtype, &ndim, shape);
  }
  if (ndim != 4 || (shape[1] != 1 && shape[1] != 3) || shape[0] < 1
      || shape[2] < 1 || shape[3] < 1) {
    g_autofree gchar *sh = t2i_shape_to_string (ndim, shape);
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("input=%s must be an image batch [N,3,H,W] (or [N,1,H,W]) but "
            "upstream offers %s%s", self->input, dtype, sh), (NULL));
    return FALSE;
  }
  if (centry) {
    gint64 n = shape[0];
    if (!t2i_caps_require (s, centry, "str", 1, &n, &err)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("captions=%s: %s",
              centry, err->message), (NULL));
      g_error_free (err);
      return FALSE;
    }
  }

  self->n = (gint) shape[0];
  self->c = (gint) shape[1];
  self->h = (gint) shape[2];
  self->w = (gint) shape[3];
  if (self->mode == MODE_GRID) {
    self->cols = self->grid_columns > 0 ? MIN (self->grid_columns, self->n) :
        (gint) ceil (sqrt ((double) self->n));
    self->rows = (self->n + self->cols - 1) / self->cols;
    width = (gint64) self->cols * self->w * self->scale +
        (gint64) (self->cols + 1) * self->padding;
    height = (gint64) self->rows * self->h * self->scale +
        (gint64) (self->rows + 1) * self->padding;
  } else {
    self->cols = self->rows = 1;
    width = (gint64) self->w * self->scale;
    height = (gint64) self->h * self->scale;
  }
  if (width > MAX_SIDE || height > MAX_SIDE) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("the output would be %" G_GINT64_FORMAT "x%" G_GINT64_FORMAT
            " pixels, more than %d a side; lower scale= or use mode=frames",
            width, height, MAX_SIDE), (NULL));
    return FALSE;
  }
  gst_video_info_set_format (&self->info, GST_VIDEO_FORMAT_RGB, (guint) width,
      (guint) height);
  GST_VIDEO_INFO_FPS_N (&self->info) = 0;
  GST_VIDEO_INFO_FPS_D (&self->info) = 1;
  GstCaps *out = gst_video_info_to_caps (&self->info);
  gboolean ok = gst_pad_push_event (self->srcpad, gst_event_new_caps (out));
  gst_caps_unref (out);
  if (!ok) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("downstream refused video/x-raw,format=RGB,width=%" G_GINT64_FORMAT
            ",height=%" G_GINT64_FORMAT "; add videoconvert after "
            "t2itovideo", width, height), (NULL));
    return FALSE;
  }
  self->configured = TRUE;
  return TRUE;
}

static inline guint8
to_byte (double v, ValueRange range)
{
  double b = range == RANGE_SIGNED ? (v + 1.0) * 127.5 : v * 255.0;
  if (!(b > 0))                 /* also NaN */
    return 0;
  if (b >= 255)
    return 255;
  return (guint8) (b + 0.5);
}

/* draws image @i of @t at (@x0, @y0) of the mapped frame */
static void
draw_image (T2iToVideo * self, T2iTensor * t, gint i, guint8 * data,
    gint stride, gint x0, gint y0)
{
  gint c = self->c, h = self->h, w = self->w, k = self->scale;
  gsize plane = (gsize) h * w;
  gsize base = (gsize) i * c * plane;
  guint8 *row = g_malloc ((gsize) w * 3);

  for (gint y = 0; y < h; y++) {
    for (gint x = 0; x < w; x++) {
      for (gint ch = 0; ch < 3; ch++) {
        gsize idx = base + (c == 3 ? ch * plane : 0) + (gsize) y * w + x;
        guint8 b;
        switch (t->dtype) {
          case T2I_U8:
            b = t2i_tensor_u8 (t)[idx];
            break;
          case T2I_F64:
            b = to_byte (t2i_tensor_f64 (t)[idx], self->range);
            break;
          default:
            b = to_byte (t2i_tensor_f32 (t)[idx], self->range);
            break;
        }
        row[x * 3 + ch] = b;
      }
    }
    for (gint dy = 0; dy < k; dy++) {
      guint8 *dst = data + (gsize) (y0 + y * k + dy) * stride + (gsize) x0 * 3;
      if (k == 1) {
        memcpy (dst, row, (gsize) w * 3);
        continue;
      }
      for (gint x = 0; x < w; x++)
        for (gint dx = 0; dx < k; dx++)
          memcpy (dst + ((gsize) x * k + dx) * 3, row + x * 3, 3);
    }
  }
  g_free (row);
}

static gboolean
write_captions (T2iToVideo * self, GstBuffer * rec, const char *const *caps)
{
  T2iRecordMeta *meta = t2i_record_get_meta (rec);
  gint64 step = meta ? meta->step : self->n_grids;
  gboolean numbered;
  GString *text = g_string_new (NULL);
  gboolean ok = TRUE;

  g_string_append_printf (text, "# step %" G_GINT64_FORMAT, step);
  if (meta && meta->phase[0])
    g_string_append_printf (text, " (phase %s)", meta->phase);
  if (self->mode == MODE_GRID)
    g_string_append_printf (text, ": %d images, %d columns, row-major\n",
        self->n, self->cols);
  else
    g_string_append_printf (text, ": %d frames\n", self->n);
  for (gint i = 0; i < self->n; i++)
    g_string_append_printf (text, "%d\t%s\n", i + 1, caps[i]);

  pattern_is_valid (self->captions_file, &numbered);
  if (numbered) {
    g_autofree gchar *path = format_pattern (self->captions_file,
        self->n_grids);
    GError *err = NULL;
    ok = make_parent_dir (self, path)
        && g_file_set_contents (path, text->str, (gssize) text->len, &err);
    if (err) {
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE, ("captions-file=%s: %s",
              self->captions_file, err->message), (NULL));
      g_error_free (err);
    }
  } else {
    if (!self->fp) {
      ok = make_parent_dir (self, self->captions_file);
      if (ok && !(self->fp = fopen (self->captions_file, "w"))) {
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
            ("captions-file=%s: cannot open for writing: %s",
                self->captions_file, g_strerror (errno)), (NULL));
        ok = FALSE;
      }
    }
    if (ok && (fwrite (text->str, 1, text->len, self->fp) != text->len
            || fflush (self->fp) != 0)) {
      GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
          ("captions-file=%s: write failed: %s", self->captions_file,
              g_strerror (errno)), (NULL));
      ok = FALSE;
    }
  }
  g_string_free (text, TRUE);
  return ok;
}

static GstFlowReturn
to_video_process (GstElement * parent, GstBuffer * rec)
{
  T2iToVideo *self = T2I_TO_VIDEO (parent);
  const char *centry = captions_entry (self);
  const char *const *caps = NULL;
  T2iTensor *t, *host;
  GError *err = NULL;
  GstFlowReturn ret = GST_FLOW_OK;

  if (!self->configured) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("received a record before its caps"), (NULL));
    gst_buffer_unref (rec);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  t = t2i_record_is_record (rec) ? t2i_record_get_tensor (rec, self->input) :
      NULL;
  if (!t || t->ndim != 4 || t->shape[0] != self->n || t->shape[1] != self->c
      || t->shape[2] != self->h || t->shape[3] != self->w) {
    g_autofree gchar *has = t2i_record_is_record (rec) ?
        t2i_record_describe (rec) : g_strdup ("not a t2i record");
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("input=%s: the record does not hold the negotiated image entry "
            "[%d,%d,%d,%d] (it has: %s)", self->input, self->n, self->c,
            self->h, self->w, has), (NULL));
    gst_buffer_unref (rec);
    return GST_FLOW_ERROR;
  }
  if (centry) {
    caps = t2i_record_get_strings (rec, centry);
    if (!caps || g_strv_length ((gchar **) caps) != (guint) self->n) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("captions=%s: the record holds no %d captions of that name",
              centry, self->n), (NULL));
      gst_buffer_unref (rec);
      return GST_FLOW_ERROR;
    }
  }
  host = t2i_tensor_to_device (t, T2I_DEVICE_CPU, &err);
  if (!host) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("input=%s: %s", self->input,
            err->message), (NULL));
    g_error_free (err);
    gst_buffer_unref (rec);
    return GST_FLOW_ERROR;
  }

  if (caps && self->captions && *self->captions) {
    T2iRecordMeta *meta = t2i_record_get_meta (rec);
    GValue list = G_VALUE_INIT, v = G_VALUE_INIT;
    GstStructure *s = gst_structure_new ("t2i-captions", "step", G_TYPE_INT64,
        meta ? meta->step : self->n_grids, "columns", G_TYPE_INT, self->cols,
        NULL);
    gst_value_array_init (&list, (guint) self->n);
    g_value_init (&v, G_TYPE_STRING);
    for (gint i = 0; i < self->n; i++) {
      g_value_set_string (&v, caps[i]);
      gst_value_array_append_value (&list, &v);
    }
    g_value_unset (&v);
    gst_structure_take_value (s, "captions", &list);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self), s));
  }
  if (caps) {
    if (self->captions_file && *self->captions_file
        && !write_captions (self, rec, caps)) {
      t2i_tensor_unref (host);
      gst_buffer_unref (rec);
      return GST_FLOW_ERROR;
    }
  }

  gint n_out = self->mode == MODE_GRID ? 1 : self->n;
  GstClockTime pts = GST_BUFFER_PTS (rec), dur = GST_BUFFER_DURATION (rec);
  for (gint f = 0; f < n_out && ret == GST_FLOW_OK; f++) {
    GstBuffer *out = gst_buffer_new_allocate (NULL,
        GST_VIDEO_INFO_SIZE (&self->info), NULL);
    GstVideoFrame frame;
    if (!gst_video_frame_map (&frame, &self->info, out, GST_MAP_WRITE)) {
      GST_ELEMENT_ERROR (self, CORE, FAILED, ("cannot map a video frame"),
          (NULL));
      gst_buffer_unref (out);
      ret = GST_FLOW_ERROR;
      break;
    }
    guint8 *data = GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
    gint stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
    /* also the bytes that round rows up to 4 */
    memset (data, 0, (gsize) stride * GST_VIDEO_INFO_HEIGHT (&self->info));
    if (self->mode == MODE_GRID) {
      guint8 rgb[3] = { self->padding_color >> 16,
        (self->padding_color >> 8) & 0xff, self->padding_color & 0xff
      };
      for (gint y = 0; y < GST_VIDEO_INFO_HEIGHT (&self->info); y++)
        for (gint x = 0; x < GST_VIDEO_INFO_WIDTH (&self->info); x++)
          memcpy (data + (gsize) y * stride + x * 3, rgb, 3);
      for (gint i = 0; i < self->n; i++) {
        gint row = i / self->cols, col = i % self->cols;
        gint x0 = self->padding + col * (self->w * self->scale + self->padding);
        gint y0 = self->padding + row * (self->h * self->scale + self->padding);
        draw_image (self, host, i, data, stride, x0, y0);
      }
    } else {
      draw_image (self, host, f, data, stride, 0, 0);
    }
    gst_video_frame_unmap (&frame);
    if (GST_CLOCK_TIME_IS_VALID (pts)) {
      GstClockTime d = GST_CLOCK_TIME_IS_VALID (dur) ? dur / n_out : 0;
      GST_BUFFER_PTS (out) = pts + f * d;
      if (GST_CLOCK_TIME_IS_VALID (dur))
        GST_BUFFER_DURATION (out) = d;
    }
    GST_BUFFER_OFFSET (out) = self->n_frames;
    GST_BUFFER_OFFSET_END (out) = self->n_frames + 1;
    self->n_frames++;
    ret = gst_pad_push (self->srcpad, out);
  }
  self->n_grids++;
  t2i_tensor_unref (host);
  gst_buffer_unref (rec);
  return ret;
}

static GstFlowReturn
t2i_to_video_chain (GstPad * pad, GstObject * parent, GstBuffer * rec)
{
  return t2i_guard_flow (GST_ELEMENT (parent), to_video_process, rec);
}

static void
close_captions (T2iToVideo * self)
{
  if (self->fp) {
    fclose (self->fp);
    self->fp = NULL;
  }
}

static gboolean
t2i_to_video_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  T2iToVideo *self = T2I_TO_VIDEO (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      gst_event_parse_caps (event, &caps);
      gboolean ok = configure (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_EOS:
      if (self->fp)
        fflush (self->fp);
      break;
    default:
      break;
  }
  return gst_pad_event_default (pad, parent, event);
}

static GstStateChangeReturn
t2i_to_video_change_state (GstElement * element, GstStateChange transition)
{
  T2iToVideo *self = T2I_TO_VIDEO (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    gboolean numbered;
    if (self->captions_file && *self->captions_file
        && !pattern_is_valid (self->captions_file, &numbered)) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("captions-file=%s: use at most one %%d-style number (e.g. "
              "out/grid-%%05d.txt) and %%%% for a literal %%",
              self->captions_file), (NULL));
      return GST_STATE_CHANGE_FAILURE;
    }
    self->configured = FALSE;
    self->n_grids = 0;
    self->n_frames = 0;
  }
  ret = GST_ELEMENT_CLASS (t2i_to_video_parent_class)->change_state (element,
      transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY) {
    close_captions (self);
    self->configured = FALSE;
  }
  return ret;
}

static void
t2i_to_video_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iToVideo *self = T2I_TO_VIDEO (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_INPUT:
      g_free (self->input);
      self->input = g_value_dup_string (v);
      if (!self->input)
        self->input = g_strdup (DEFAULT_INPUT);
      break;
    case PROP_GRID_COLUMNS:
      self->grid_columns = g_value_get_int (v);
      break;
    case PROP_SCALE:
      self->scale = g_value_get_int (v);
      break;
    case PROP_RANGE:
      self->range = g_value_get_enum (v);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (v);
      break;
    case PROP_CAPTIONS:
      g_free (self->captions);
      self->captions = g_value_dup_string (v);
      break;
    case PROP_CAPTIONS_FILE:
      g_free (self->captions_file);
      self->captions_file = g_value_dup_string (v);
      break;
    case PROP_PADDING:
      self->padding = g_value_get_int (v);
      break;
    case PROP_PADDING_COLOR:
      self->padding_color = g_value_get_uint (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_to_video_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iToVideo *self = T2I_TO_VIDEO (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_INPUT:
      g_value_set_string (v, self->input);
      break;
    case PROP_GRID_COLUMNS:
      g_value_set_int (v, self->grid_columns);
      break;
    case PROP_SCALE:
      g_value_set_int (v, self->scale);
      break;
    case PROP_RANGE:
      g_value_set_enum (v, self->range);
      break;
    case PROP_MODE:
      g_value_set_enum (v, self->mode);
      break;
    case PROP_CAPTIONS:
      g_value_set_string (v, self->captions);
      break;
    case PROP_CAPTIONS_FILE:
      g_value_set_string (v, self->captions_file);
      break;
    case PROP_PADDING:
      g_value_set_int (v, self->padding);
      break;
    case PROP_PADDING_COLOR:
      g_value_set_uint (v, self->padding_color);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_to_video_finalize (GObject * obj)
{
  T2iToVideo *self = T2I_TO_VIDEO (obj);
  close_captions (self);
  g_free (self->input);
  g_free (self->captions);
  g_free (self->captions_file);
  G_OBJECT_CLASS (t2i_to_video_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_to_video_class_init (T2iToVideoClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);

  oc->set_property = t2i_to_video_set_property;
  oc->get_property = t2i_to_video_get_property;
  oc->finalize = t2i_to_video_finalize;
  ec->change_state = t2i_to_video_change_state;

  g_object_class_install_property (oc, PROP_INPUT,
      g_param_spec_string ("input", "Input",
          "Image entry to show: f32/f64 or u8 [N,3,H,W] (or [N,1,H,W])",
          DEFAULT_INPUT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_GRID_COLUMNS,
      g_param_spec_int ("grid-columns", "Grid columns",
          "Columns of the grid (0 = ceil (sqrt (N)))", 0, 65536,
          DEFAULT_GRID_COLUMNS, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SCALE,
      g_param_spec_int ("scale", "Scale",
          "Enlarge each image this many times (nearest neighbour)", 1, 64,
          DEFAULT_SCALE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_RANGE,
      g_param_spec_enum ("range", "Range",
          "Value range of f32/f64 images: -1,1 or 0,1 (clamped; u8 images "
          "are taken as is)", T2I_TYPE_VIDEO_RANGE, DEFAULT_RANGE,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "grid: one frame per record; frames: one frame per image",
          T2I_TYPE_VIDEO_MODE, DEFAULT_MODE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CAPTIONS,
      g_param_spec_string ("captions", "Captions",
          "String entry with the images' captions: posted as the element "
          "message t2i-captions and written to captions-file (which reads "
          "'caption' when this is unset)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CAPTIONS_FILE,
      g_param_spec_string ("captions-file", "Captions file",
          "Text file for the numbered captions of each grid in grid order; "
          "a %d-style pattern (out/grid-%05d.txt) gives one file per grid",
          NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_PADDING,
      g_param_spec_int ("padding", "Padding",
          "Pixels between and around the images of a grid", 0, 64,
          DEFAULT_PADDING, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_PADDING_COLOR,
      g_param_spec_uint ("padding-color", "Padding color",
          "Colour of the grid padding and of empty cells, 0xRRGGBB", 0,
          0xffffff, DEFAULT_PADDING_COLOR, PARAM_FLAGS));

  gst_element_class_add_static_pad_template (ec, &sink_template);
  gst_element_class_add_static_pad_template (ec, &src_template);
  gst_element_class_set_static_metadata (ec, "t2i to video",
      "Converter/Video", "Turns an image entry into RGB video frames: one "
      "grid per batch or one frame per image", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
  gst_type_mark_as_plugin_api (T2I_TYPE_VIDEO_RANGE, 0);
  gst_type_mark_as_plugin_api (T2I_TYPE_VIDEO_MODE, 0);
}

static void
t2i_to_video_init (T2iToVideo * self)
{
  self->input = g_strdup (DEFAULT_INPUT);
  self->grid_columns = DEFAULT_GRID_COLUMNS;
  self->scale = DEFAULT_SCALE;
  self->range = DEFAULT_RANGE;
  self->mode = DEFAULT_MODE;
  self->padding = DEFAULT_PADDING;
  self->padding_color = DEFAULT_PADDING_COLOR;

  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (t2i_to_video_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (t2i_to_video_sink_event));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);
}
