/* t2iop: small operations on a record's entries (plugins/ops/).
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2iop
 * @title: t2iop
 *
 * The glue the methods need between their stages, one operation per
 * element (@op, plugins/ops/, one file each):
 *
 * - `resize`: an image entry at @size x @size, by area averaging (the mean
 *   over each output pixel's area: ICSD's real images per stage) or
 *   bilinear / bicubic interpolation (@mode);
 * - `roll`: an entry rolled by @shift along @axis, as torch.roll (on the
 *   batch, shift=1 pairs each caption with another item's image: the
 *   mismatched pairs of a matching-aware discriminator);
 * - `detach`: the same values without their autograd graph;
 * - `concat`: the entries of @inputs joined along @axis;
 * - `slice`: indices @start to @end of an entry along @axis;
 * - `interpolate`: a batch of two items to @steps items between them
 *   (@inputs linearly, @hold the first item repeated): DiST-GAN's strips of
 *   images between two similar texts;
 * - `rename`: an entry (tensor or strings) under another name;
 * - `load`: a tensor of a safetensors file (@location, @tensor) added to
 *   every record as a constant (prototype embeddings);
 * - `cosine`: @scale times the cosine of each row of @input [N, D] with
 *   each row of @with [K, D], [N, K] (a prototype classifier's logits: the
 *   IS classifier of pipelines/icsd-eval.t2i).
 *
 * Each operation declares its properties (each property's description
 * lists the operations that read it); setting one the operation does not
 * read is an error.  @output unset writes over @input (resize, roll,
 * detach, slice).  The operations are differentiable (but detach), so
 * gradients flow through them to the elements upstream.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2idatasetsrc dataset=shapes batch-size=4 resolution=32 max-steps=1 ! t2iop op=resize input=image output=image16 size=16 ! t2iop op=roll input=caption output=wrong ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2iop.h"
#include "ops/recordops.h"

#define EXAMPLE "t2idatasetsrc dataset=shapes batch-size=4 resolution=32 " \
    "max-steps=1 ! t2iop op=resize input=image output=image16 size=16 ! " \
    "t2iop op=roll input=caption output=wrong ! fakesink"

#define T2I_RECORD_OP_ENTRY(c) &t2i_record_op_##c,
static const T2iRecordOp *const ops[] = {
  T2I_RECORD_OPS (T2I_RECORD_OP_ENTRY)
};
#undef T2I_RECORD_OP_ENTRY

struct _T2iOp
{
  T2iTransform parent;

  gint op;                      /* 0: unset, else index + 1 into ops */
  T2iOptionValues *values;
  GstStructure *config;
};

enum
{
  PROP_0,
  PROP_OP,
  PROP_FIRST_OPTION,
};

G_DEFINE_TYPE (T2iOp, t2i_op, T2I_TYPE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (t2iop, "t2iop", GST_RANK_NONE, T2I_TYPE_OP);

static const T2iRecordOp *
get_op (T2iOp * self, GError ** error)
{
  if (self->op > 0)
    return ops[self->op - 1];
  g_autoptr (GString) names = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (ops); i++)
    g_string_append_printf (names, "%s%s", i ? ", " : "", ops[i]->name);
  g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
      "property 'op' is not set: choose one of %s", names->str);
  return NULL;
}

static gboolean
t2i_op_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iOp *self = T2I_OP (t);
  const T2iRecordOp *op = get_op (self, error);
  if (!op)
    return FALSE;
  if (!self->config) {
    g_autofree char *variant = g_strdup_printf ("op=%s", op->name);
    self->config = t2i_options_resolve (op->options, variant, self->values,
        NULL, NULL, error);
    if (!self->config)
      return FALSE;
  }
  if (!op->negotiate (self->config, in, out, error)) {
    g_prefix_error (error, "op=%s: ", op->name);
    return FALSE;
  }
  return TRUE;
}

static gboolean
t2i_op_process (T2iTransform * t, GstBuffer * record, GError ** error)
{
  T2iOp *self = T2I_OP (t);
  const T2iRecordOp *op = ops[self->op - 1];
  if (!op->apply (self->config, record, error)) {
    g_prefix_error (error, "op=%s: ", op->name);
    return FALSE;
  }
  return TRUE;
}

static void
t2i_op_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iOp *self = T2I_OP (obj);
  GST_OBJECT_LOCK (self);
  if (id == PROP_OP)
    self->op = g_value_get_enum (v);
  else
    t2i_option_values_set (self->values, pspec, v);
  g_clear_pointer (&self->config, gst_structure_free);
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_op_get_property (GObject * obj, guint id, GValue * v, GParamSpec * pspec)
{
  T2iOp *self = T2I_OP (obj);
  GST_OBJECT_LOCK (self);
  if (id == PROP_OP)
    g_value_set_enum (v, self->op);
  else
    t2i_option_values_get (self->values, pspec, self->config, v);
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_op_finalize (GObject * obj)
{
  T2iOp *self = T2I_OP (obj);
  t2i_option_values_free (self->values);
  g_clear_pointer (&self->config, gst_structure_free);
  G_OBJECT_CLASS (t2i_op_parent_class)->finalize (obj);
}

static void
t2i_op_class_init (T2iOpClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);
  const T2iOption *tables[G_N_ELEMENTS (ops)];
  const char *names[G_N_ELEMENTS (ops)];
  const char *descriptions[G_N_ELEMENTS (ops)];

  oc->set_property = t2i_op_set_property;
  oc->get_property = t2i_op_get_property;
  oc->finalize = t2i_op_finalize;
  tc->negotiate = t2i_op_negotiate;
  tc->process = t2i_op_process;

  for (guint i = 0; i < G_N_ELEMENTS (ops); i++) {
    tables[i] = ops[i]->options;
    names[i] = ops[i]->name;
    descriptions[i] = ops[i]->description;
  }
  g_object_class_install_property (oc, PROP_OP,
      g_param_spec_enum ("op", "Operation", "Which operation to apply",
          t2i_options_variant_enum ("T2iOpKind", "Not set (choose an op)",
              names, descriptions, G_N_ELEMENTS (ops)), 0,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  t2i_options_install (oc, PROP_FIRST_OPTION, "T2iOp", tables, names,
      G_N_ELEMENTS (ops));

  gst_element_class_set_static_metadata (ec, "t2i record operation",
      "Filter/Tensor", "Resizes, rolls, detaches, joins, slices or renames "
      "record entries", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_op_init (T2iOp * self)
{
  self->values = t2i_option_values_new ();
}
