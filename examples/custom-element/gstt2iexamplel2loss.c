/* t2iexamplel2loss: an out-of-tree t2i element, built against t2i.pc.
 * loss/<output> = mean((a - b)^2) of the entries named by a= and b=.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/t2i.h>

#define EXAMPLE_TYPE_L2_LOSS (example_l2_loss_get_type ())
G_DECLARE_FINAL_TYPE (ExampleL2Loss, example_l2_loss, EXAMPLE, L2_LOSS, T2iLoss)

struct _ExampleL2Loss
{
  T2iLoss parent;
  gchar *a, *b;
};

G_DEFINE_TYPE (ExampleL2Loss, example_l2_loss, T2I_TYPE_LOSS);
enum { PROP_0, PROP_A, PROP_B };

static gboolean
check (T2iLoss * loss, const GstStructure * in, GError ** error)
{
  ExampleL2Loss *self = EXAMPLE_L2_LOSS (loss);
  return t2i_caps_require (in, self->a, NULL, 0, NULL, error)
      && t2i_caps_require (in, self->b, NULL, 0, NULL, error);
}

static T2iTensor *
compute (T2iLoss * loss, GstBuffer * record, GError ** error)
{
  ExampleL2Loss *self = EXAMPLE_L2_LOSS (loss);
  return t2i_mse_loss (t2i_record_get_tensor (record, self->a),
      t2i_record_get_tensor (record, self->b));
}

static void
set_property (GObject * obj, guint id, const GValue * v, GParamSpec * pspec)
{
  ExampleL2Loss *self = EXAMPLE_L2_LOSS (obj);
  gchar **slot = id == PROP_A ? &self->a : &self->b;
  g_free (*slot);
  *slot = g_value_dup_string (v);
}

static void
get_property (GObject * obj, guint id, GValue * v, GParamSpec * pspec)
{
  ExampleL2Loss *self = EXAMPLE_L2_LOSS (obj);
  g_value_set_string (v, id == PROP_A ? self->a : self->b);
}

static void
finalize (GObject * obj)
{
  ExampleL2Loss *self = EXAMPLE_L2_LOSS (obj);
  g_free (self->a);
  g_free (self->b);
  G_OBJECT_CLASS (example_l2_loss_parent_class)->finalize (obj);
}

static void
example_l2_loss_class_init (ExampleL2LossClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  oc->set_property = set_property;
  oc->get_property = get_property;
  oc->finalize = finalize;
  T2I_LOSS_CLASS (klass)->check = check;
  T2I_LOSS_CLASS (klass)->compute = compute;
  g_object_class_install_property (oc, PROP_A, g_param_spec_string ("a", "A",
          "First entry", "a", G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (oc, PROP_B, g_param_spec_string ("b", "B",
          "Second entry", "b", G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  gst_element_class_set_static_metadata (GST_ELEMENT_CLASS (klass),
      "Example L2 loss", "Filter/Loss", "Mean squared distance of two entries",
      "t2i authors");
}

static void
example_l2_loss_init (ExampleL2Loss * self)
{
  self->a = g_strdup ("a");
  self->b = g_strdup ("b");
}

static gboolean
plugin_init (GstPlugin * plugin)
{
  return gst_element_register (plugin, "t2iexamplel2loss", GST_RANK_NONE,
      EXAMPLE_TYPE_L2_LOSS);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, t2iexample,
    "Example out-of-tree t2i element", plugin_init, "1.0", "LGPL",
    "t2i-example", "https://github.com/t2i/t2i")
