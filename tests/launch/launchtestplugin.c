/* A test-only plugin for the t2i-launch tests: "launchtestposter" passes
 * buffers through and posts the t2i-* element messages a trainer posts, with
 * fixed values, so that t2i-launch's lines and JSON log can be compared
 * exactly.
 *
 * Per buffer: t2i-train (step, epoch, total-steps when set,
 * items-per-second, loss/G, loss/D) and t2i-progress (step, total).  At EOS:
 * t2i-checkpoint (path, step) and t2i-metric (kind, value, n, extractor,
 * details with a nested array and a NaN).  fail-at=N posts an error at
 * buffer N instead; delay-ms=N sleeps N ms per buffer (a run long enough
 * for an ETA).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <math.h>

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

#define LAUNCH_TYPE_TEST_POSTER (launch_test_poster_get_type ())
G_DECLARE_FINAL_TYPE (LaunchTestPoster, launch_test_poster, LAUNCH,
    TEST_POSTER, GstBaseTransform);

struct _LaunchTestPoster
{
  GstBaseTransform parent;
  gint total_steps;
  gint fail_at;
  gint delay_ms;
  gchar *checkpoint;
  guint64 step;
};

enum
{
  PROP_0,
  PROP_TOTAL_STEPS,
  PROP_FAIL_AT,
  PROP_CHECKPOINT,
  PROP_DELAY_MS,
};

GST_ELEMENT_REGISTER_DECLARE (launchtestposter);

G_DEFINE_TYPE (LaunchTestPoster, launch_test_poster, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (launchtestposter, "launchtestposter",
    GST_RANK_NONE, LAUNCH_TYPE_TEST_POSTER);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

static void
post (LaunchTestPoster * self, GstStructure * s)
{
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

static GstFlowReturn
launch_test_poster_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  LaunchTestPoster *self = LAUNCH_TEST_POSTER (trans);
  GstStructure *train;

  self->step++;
  if (self->delay_ms > 0)
    g_usleep (self->delay_ms * G_TIME_SPAN_MILLISECOND);
  if (self->fail_at > 0 && self->step == (guint64) self->fail_at) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("loss is NaN at step %" G_GUINT64_FORMAT, self->step),
        ("kept the last good checkpoint\n  (%s)", self->checkpoint));
    return GST_FLOW_ERROR;
  }

  train = gst_structure_new ("t2i-train",
      "step", G_TYPE_UINT64, self->step, "epoch", G_TYPE_INT, 1, NULL);
  if (self->total_steps > 0)
    gst_structure_set (train, "total-steps", G_TYPE_INT, self->total_steps,
        NULL);
  gst_structure_set (train, "items-per-second", G_TYPE_DOUBLE, 12.5,
      "loss/G", G_TYPE_DOUBLE, 0.693147, "loss/D", G_TYPE_DOUBLE, 1.386294,
      NULL);
  post (self, train);
  post (self, gst_structure_new ("t2i-progress", "step", G_TYPE_INT,
          (gint) self->step, "total", G_TYPE_INT, self->total_steps, NULL));
  return GST_FLOW_OK;
}

static gboolean
launch_test_poster_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  LaunchTestPoster *self = LAUNCH_TEST_POSTER (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    GValue sizes = G_VALUE_INIT, v = G_VALUE_INIT;
    GstStructure *details;

    g_value_init (&sizes, GST_TYPE_ARRAY);
    g_value_init (&v, G_TYPE_INT);
    for (gint i = 1; i <= 3; i++) {
      g_value_set_int (&v, i);
      gst_value_array_append_value (&sizes, &v);
    }
    details = gst_structure_new ("details", "top1", G_TYPE_DOUBLE, 0.25,
        "ok", G_TYPE_BOOLEAN, TRUE, "loss", G_TYPE_DOUBLE, (gdouble) NAN, NULL);
    gst_structure_take_value (details, "sizes", &sizes);

    post (self, gst_structure_new ("t2i-checkpoint", "path", G_TYPE_STRING,
            self->checkpoint, "step", G_TYPE_UINT64, self->step, NULL));
    post (self, gst_structure_new ("t2i-metric", "kind", G_TYPE_STRING,
            "fid", "value", G_TYPE_DOUBLE, 12.5, "n", G_TYPE_INT,
            (gint) self->step, "extractor", G_TYPE_STRING, "test",
            "details", GST_TYPE_STRUCTURE, details, NULL));
    gst_structure_free (details);
    g_value_unset (&v);
  }
  return
      GST_BASE_TRANSFORM_CLASS (launch_test_poster_parent_class)->sink_event
      (trans, event);
}

static void
launch_test_poster_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  LaunchTestPoster *self = LAUNCH_TEST_POSTER (object);

  switch (prop_id) {
    case PROP_TOTAL_STEPS:
      self->total_steps = g_value_get_int (value);
      break;
    case PROP_FAIL_AT:
      self->fail_at = g_value_get_int (value);
      break;
    case PROP_DELAY_MS:
      self->delay_ms = g_value_get_int (value);
      break;
    case PROP_CHECKPOINT:
      g_free (self->checkpoint);
      self->checkpoint = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
launch_test_poster_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  LaunchTestPoster *self = LAUNCH_TEST_POSTER (object);

  switch (prop_id) {
    case PROP_TOTAL_STEPS:
      g_value_set_int (value, self->total_steps);
      break;
    case PROP_FAIL_AT:
      g_value_set_int (value, self->fail_at);
      break;
    case PROP_DELAY_MS:
      g_value_set_int (value, self->delay_ms);
      break;
    case PROP_CHECKPOINT:
      g_value_set_string (value, self->checkpoint);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
launch_test_poster_finalize (GObject * object)
{
  LaunchTestPoster *self = LAUNCH_TEST_POSTER (object);

  g_free (self->checkpoint);
  G_OBJECT_CLASS (launch_test_poster_parent_class)->finalize (object);
}

static void
launch_test_poster_class_init (LaunchTestPosterClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);

  gobject_class->set_property = launch_test_poster_set_property;
  gobject_class->get_property = launch_test_poster_get_property;
  gobject_class->finalize = launch_test_poster_finalize;

  g_object_class_install_property (gobject_class, PROP_TOTAL_STEPS,
      g_param_spec_int ("total-steps", "Total steps",
          "Total steps to report (0: unknown)", 0, G_MAXINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_FAIL_AT,
      g_param_spec_int ("fail-at", "Fail at",
          "Post an error at this buffer (0: never)", 0, G_MAXINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_DELAY_MS,
      g_param_spec_int ("delay-ms", "Delay",
          "Milliseconds to sleep per buffer", 0, G_MAXINT, 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_CHECKPOINT,
      g_param_spec_string ("checkpoint", "Checkpoint",
          "Checkpoint path to report", "out.safetensors",
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "t2i-launch test poster", "Filter",
      "Posts fixed t2i-* element messages (t2i-launch tests only)", "t2i");

  trans_class->transform_ip = launch_test_poster_transform_ip;
  trans_class->transform_ip_on_passthrough = TRUE;
  trans_class->sink_event = launch_test_poster_sink_event;
}

static void
launch_test_poster_init (LaunchTestPoster * self)
{
  self->checkpoint = g_strdup ("out.safetensors");
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), TRUE);
}

static gboolean
plugin_init (GstPlugin * plugin)
{
  return GST_ELEMENT_REGISTER (launchtestposter, plugin);
}

#define PACKAGE "t2i"
GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, t2ilaunchtest,
    "t2i-launch test elements", plugin_init, "0.1.0", "LGPL", "t2i",
    "https://github.com/t2i/t2i")
