/* t2iperturb: pseudo text features by perturbing features (LAFITE).
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2iperturb
 * @title: t2iperturb
 *
 * Turns features f (@input, f32 [N, ...], flattened to [N, D]: CLIP image
 * features for language-free training, or text features) into pseudo text
 * features h' (@output, f32 [N, D], unit L2 norm), the condition of
 * LAFITE's generator and discriminator.  With @normalize-input (default) f
 * is first L2-normalised, as the paper's footnote 2 and the official code
 * do.  ε ~ N(0, I) is drawn per item from the session RNG, so a seed gives
 * the same features everywhere.  @mode:
 *
 * - `fixed` (LAFITE_G, eq. 1): h' = normalize(f + xi ε ||f|| / ||ε||).  The
 *   official code's normalize(0.25 f + 0.75 ε/||ε||) for unit f is xi = 3
 *   (the default); its 0.1 perturbation of ground-truth text features,
 *   normalize(0.9 f + 0.1 ε/||ε||), is xi = 1/9.
 * - `trainable` (LAFITE_NN, eq. 2): h' = normalize(f + r1(f) + ε ⊙
 *   exp(r2(f))), r1 and r2 4-layer MLPs D -> @hidden -> @hidden -> @hidden
 *   -> D with leaky ReLU (slope 0.01) after the first three layers, named
 *   as the official mapper `Model` (`linear1`..`linear4` = r1,
 *   `linear5`..`linear8` = r2), so its weights load with weights=.  With
 *   @target naming real text features t (f32 [N, D]) and a training
 *   pipeline, the element also adds the loss entry `loss/<name>-perturb` =
 *   mean_i (1 - cos(h'_i, t_i)) that updates its own group: maximising
 *   Sim(h', h) as the paper trains the inference model.  Set
 *   trainable=false to use a trained model frozen.
 * - `alpha` (CLIP-VQDiffusion eq. 10-11): h' = normalize(f + @alpha ε /
 *   ||ε||).
 * - `none`: h' = f (normalised with @normalize-input), e.g. for the text
 *   features at inference.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itextsrc text="a red circle" batch-size=4 ! t2inoise output=img_feat dim=64 ! t2iperturb mode=fixed xi=1 input=img_feat output=h ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2iperturb.h"

#include <math.h>
#include <t2i/t2i.h>

GST_DEBUG_CATEGORY_STATIC (t2i_perturb_debug);
#define GST_CAT_DEFAULT t2i_perturb_debug

#define EXAMPLE "t2itextsrc text=\"a red circle\" batch-size=4 ! " \
    "t2inoise output=img_feat dim=64 ! t2iperturb mode=fixed xi=1 " \
    "input=img_feat output=h ! fakesink"

typedef enum
{
  MODE_NONE,
  MODE_FIXED,
  MODE_TRAINABLE,
  MODE_ALPHA,
} PerturbMode;

#define N_LINEAR 8

struct _T2iPerturb
{
  T2iTransform parent;

  /* properties */
  PerturbMode mode;
  gchar *input;
  gchar *output;
  gchar *target;
  gdouble xi;
  gdouble alpha;
  gint hidden;
  gboolean normalize_input;

  gint dim;
  T2iNnLinear linear[N_LINEAR]; /* r1 = linear[0..3], r2 = linear[4..7] */
  gchar *loss_entry;
};

enum
{
  PROP_0,
  PROP_MODE,
  PROP_INPUT,
  PROP_OUTPUT,
  PROP_TARGET,
  PROP_XI,
  PROP_ALPHA,
  PROP_HIDDEN,
  PROP_NORMALIZE_INPUT,
};

#define DEFAULT_INPUT "img_feat"
#define DEFAULT_OUTPUT "h"
#define DEFAULT_XI 3.0
#define DEFAULT_ALPHA 0.25
#define DEFAULT_HIDDEN 1024
#define MAPPER_SLOPE 0.01
#define NORM_EPS 1e-12

#define T2I_TYPE_PERTURB_MODE (t2i_perturb_mode_get_type ())
static GType
t2i_perturb_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {MODE_NONE, "h = f (normalised)", "none"},
    {MODE_FIXED, "h = normalize(f + xi eps ||f|| / ||eps||) (LAFITE eq. 1)",
        "fixed"},
    {MODE_TRAINABLE,
        "h = normalize(f + r1(f) + eps * exp(r2(f))) (LAFITE eq. 2)",
        "trainable"},
    {MODE_ALPHA, "h = normalize(f + alpha eps / ||eps||) (CLIP-VQDiffusion)",
        "alpha"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iPerturbMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE_WITH_CODE (T2iPerturb, t2i_perturb, T2I_TYPE_TRANSFORM,
    GST_DEBUG_CATEGORY_INIT (t2i_perturb_debug, "t2iperturb", 0,
        "t2i feature perturbation"));
GST_ELEMENT_REGISTER_DEFINE (t2iperturb, "t2iperturb", GST_RANK_NONE,
    T2I_TYPE_PERTURB);

static gboolean
has_target (T2iPerturb * self)
{
  return self->target && *self->target;
}

/* "loss/<element name>-perturb" */
static const char *
loss_entry (T2iPerturb * self)
{
  if (!self->loss_entry)
    self->loss_entry = g_strdup_printf ("loss/%s-perturb",
        GST_OBJECT_NAME (self));
  return self->loss_entry;
}

/* whether this record gets the mapper's loss */
static gboolean
adds_loss (T2iPerturb * self)
{
  T2iTransform *t = T2I_TRANSFORM (self);
  return self->mode == MODE_TRAINABLE && has_target (self)
      && t2i_transform_is_trainable (t) && t2i_transform_is_training (t);
}

/* checks @input (f32 [N, ...]); *batch, *dim = N, prod(rest) */
static gboolean
check_input (T2iPerturb * self, const GstStructure * in, gint64 * batch,
    gint64 * dim, GError ** error)
{
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;

  if (!t2i_caps_require (in, self->input, "f32", 0, NULL, error)) {
    g_prefix_error (error, "input=%s: ", self->input);
    return FALSE;
  }
  t2i_caps_get_entry (in, self->input, NULL, &ndim, shape);
  if (ndim < 2) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be [N, features...], not a %d-d entry", self->input,
        ndim);
    return FALSE;
  }
  *batch = shape[0];
  *dim = 1;
  for (gint i = 1; i < ndim; i++)
    *dim *= shape[i];
  if (has_target (self)) {
    if (self->mode != MODE_TRAINABLE) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "target=%s trains the perturbation networks: it needs "
          "mode=trainable", self->target);
      return FALSE;
    }
    gint64 want[2] = { *batch, *dim };
    if (!t2i_caps_require (in, self->target, "f32", 2, want, error)) {
      g_prefix_error (error, "target=%s: ", self->target);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
t2i_perturb_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iPerturb *self = T2I_PERTURB (t);
  gint64 n, d;

  if (!check_input (self, in, &n, &d, error))
    return FALSE;
  gint64 shape[2] = { n, d };
  t2i_caps_set_entry (out, self->output, "f32", 2, shape);
  if (adds_loss (self)) {
    const char *entry = loss_entry (self);
    t2i_caps_set_entry (out, entry, "f32", 0, NULL);
    g_autofree char *f = g_strconcat (entry, ".update", NULL);
    gst_structure_set (out, f, G_TYPE_STRING,
        t2i_transform_get_group_name (t), NULL);
  }
  return TRUE;
}

static gboolean
t2i_perturb_build (T2iTransform * t, const GstStructure * in,
    GError ** error)
{
  T2iPerturb *self = T2I_PERTURB (t);
  gint64 n, d;

  if (!check_input (self, in, &n, &d, error))
    return FALSE;
  self->dim = (gint) d;
  if (self->mode != MODE_TRAINABLE)
    return TRUE;
  for (gint i = 0; i < N_LINEAR; i++) {
    const gint k = i % 4;
    const gint64 in_f = k == 0 ? d : self->hidden;
    const gint64 out_f = k == 3 ? d : self->hidden;
    g_autofree char *name = g_strdup_printf ("linear%d", i + 1);
    t2i_nn_linear_init (&self->linear[i], t2i_transform_get_params (t), name,
        in_f, out_f, TRUE, t2i_transform_get_init_rng (t));
  }
  return TRUE;
}

/* one 4-layer MLP of the mapper */
static T2iTensor *
mlp (T2iNnLinear * l, T2iTensor * x)
{
  T2iTensor *y = t2i_tensor_ref (x);
  for (gint k = 0; k < 4; k++) {
    T2iTensor *z = t2i_nn_linear (&l[k], y);
    t2i_tensor_unref (y);
    y = k < 3 ? t2i_leaky_relu (z, MAPPER_SLOPE) : t2i_tensor_ref (z);
    t2i_tensor_unref (z);
  }
  return y;
}

/* eps / ||eps|| per row, a constant */
static T2iTensor *
unit_noise (T2iTensor * eps)
{
  gboolean prev = t2i_set_grad_enabled (FALSE);
  T2iTensor *u = t2i_l2_normalize (eps, 1, NORM_EPS);
  t2i_set_grad_enabled (prev);
  return u;
}

static T2iTensor *
perturb (T2iPerturb * self, T2iTensor * f, T2iTensor * eps)
{
  g_autoptr (T2iTensor) ht = NULL;

  switch (self->mode) {
    case MODE_NONE:
      return t2i_tensor_ref (f);
    case MODE_FIXED:{
      g_autoptr (T2iTensor) u = unit_noise (eps);
      g_autoptr (T2iTensor) f2 = t2i_square (f);
      g_autoptr (T2iTensor) s = t2i_sum (f2, 1, TRUE);
      g_autoptr (T2iTensor) norm = t2i_sqrt (s);
      g_autoptr (T2iTensor) un = t2i_mul (u, norm);
      g_autoptr (T2iTensor) step = t2i_mul_scalar (un, self->xi);
      ht = t2i_add (f, step);
      break;
    }
    case MODE_ALPHA:{
      g_autoptr (T2iTensor) u = unit_noise (eps);
      g_autoptr (T2iTensor) step = t2i_mul_scalar (u, self->alpha);
      ht = t2i_add (f, step);
      break;
    }
    case MODE_TRAINABLE:{
      g_autoptr (T2iTensor) mu = mlp (&self->linear[0], f);
      g_autoptr (T2iTensor) logstd = mlp (&self->linear[4], f);
      g_autoptr (T2iTensor) std = t2i_exp (logstd);
      g_autoptr (T2iTensor) noise = t2i_mul (eps, std);
      g_autoptr (T2iTensor) fm = t2i_add (f, mu);
      ht = t2i_add (fm, noise);
      break;
    }
  }
  return t2i_l2_normalize (ht, 1, NORM_EPS);
}

static gboolean
t2i_perturb_process (T2iTransform * t, GstBuffer * record, GError ** error)
{
  T2iPerturb *self = T2I_PERTURB (t);
  T2iTensor *in = t2i_record_get_tensor (record, self->input);

  if (!in || in->dtype != T2I_F32 || in->ndim < 2
      || in->numel != in->shape[0] * self->dim) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be f32 [N, ...] with %d features per item (the "
        "record has: %s)", self->input, self->dim, has);
    return FALSE;
  }
  const gint64 n = in->shape[0];
  g_autoptr (T2iTensor) flat = t2i_reshape (in, T2I_SHAPE (n, self->dim));
  g_autoptr (T2iTensor) f = self->normalize_input ?
      t2i_l2_normalize (flat, 1, NORM_EPS) : t2i_tensor_ref (flat);
  g_autoptr (T2iTensor) eps = NULL;
  if (self->mode != MODE_NONE) {
    eps = t2i_tensor_new_on (in->device, T2I_F32, T2I_SHAPE (n, self->dim));
    t2i_rng_fill_normal (t2i_session_get_rng (t2i_transform_get_session (t)),
        eps, 0.0, 1.0);
  }
  g_autoptr (T2iTensor) h = perturb (self, f, eps);
  if (!t2i_record_set_tensor (record, self->output, h, error))
    return FALSE;
  if (!adds_loss (self))
    return TRUE;

  T2iTensor *target = t2i_record_get_tensor (record, self->target);
  if (!target || target->dtype != T2I_F32 || target->ndim != 2
      || target->shape[0] != n || target->shape[1] != self->dim) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "target=%s must be f32 [%" G_GINT64_FORMAT ",%d] in every record",
        self->target, n, self->dim);
    return FALSE;
  }
  /* mean_i (1 - cos(h'_i, t_i)); h' has unit norm */
  g_autoptr (T2iTensor) tn = t2i_l2_normalize (target, 1, NORM_EPS);
  g_autoptr (T2iTensor) prod = t2i_mul (h, tn);
  g_autoptr (T2iTensor) cos = t2i_sum (prod, 1, FALSE);
  g_autoptr (T2iTensor) mean = t2i_mean (cos, T2I_ALL_AXES, FALSE);
  g_autoptr (T2iTensor) neg = t2i_neg (mean);
  g_autoptr (T2iTensor) loss = t2i_add_scalar (neg, 1.0);
  return t2i_record_set_tensor (record, loss_entry (self), loss, error);
}

static void
t2i_perturb_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iPerturb *self = T2I_PERTURB (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_MODE:
      self->mode = g_value_get_enum (v);
      break;
    case PROP_INPUT:
      g_free (self->input);
      self->input = g_value_dup_string (v);
      if (!self->input || !*self->input) {
        g_free (self->input);
        self->input = g_strdup (DEFAULT_INPUT);
      }
      break;
    case PROP_OUTPUT:
      g_free (self->output);
      self->output = g_value_dup_string (v);
      if (!self->output || !*self->output) {
        g_free (self->output);
        self->output = g_strdup (DEFAULT_OUTPUT);
      }
      break;
    case PROP_TARGET:
      g_free (self->target);
      self->target = g_value_dup_string (v);
      break;
    case PROP_XI:
      self->xi = g_value_get_double (v);
      break;
    case PROP_ALPHA:
      self->alpha = g_value_get_double (v);
      break;
    case PROP_HIDDEN:
      self->hidden = g_value_get_int (v);
      break;
    case PROP_NORMALIZE_INPUT:
      self->normalize_input = g_value_get_boolean (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_perturb_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iPerturb *self = T2I_PERTURB (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_MODE:
      g_value_set_enum (v, self->mode);
      break;
    case PROP_INPUT:
      g_value_set_string (v, self->input);
      break;
    case PROP_OUTPUT:
      g_value_set_string (v, self->output);
      break;
    case PROP_TARGET:
      g_value_set_string (v, self->target);
      break;
    case PROP_XI:
      g_value_set_double (v, self->xi);
      break;
    case PROP_ALPHA:
      g_value_set_double (v, self->alpha);
      break;
    case PROP_HIDDEN:
      g_value_set_int (v, self->hidden);
      break;
    case PROP_NORMALIZE_INPUT:
      g_value_set_boolean (v, self->normalize_input);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_perturb_finalize (GObject * obj)
{
  T2iPerturb *self = T2I_PERTURB (obj);
  g_free (self->input);
  g_free (self->output);
  g_free (self->target);
  g_free (self->loss_entry);
  G_OBJECT_CLASS (t2i_perturb_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_perturb_class_init (T2iPerturbClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_perturb_set_property;
  oc->get_property = t2i_perturb_get_property;
  oc->finalize = t2i_perturb_finalize;
  tc->negotiate = t2i_perturb_negotiate;
  tc->build = t2i_perturb_build;
  tc->process = t2i_perturb_process;

  g_object_class_install_property (oc, PROP_MODE,
      g_param_spec_enum ("mode", "Mode", "How the features are perturbed",
          T2I_TYPE_PERTURB_MODE, MODE_FIXED, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_INPUT,
      g_param_spec_string ("input", "Input",
          "Feature entry f, f32 [N, ...] (image or text features)",
          DEFAULT_INPUT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_OUTPUT,
      g_param_spec_string ("output", "Output",
          "Entry of the pseudo text features h', f32 [N, D], unit norm",
          DEFAULT_OUTPUT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_TARGET,
      g_param_spec_string ("target", "Target",
          "Real text features f32 [N, D] the trainable mode is trained "
          "towards (adds loss/<name>-perturb while training; unset: no "
          "loss)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_XI,
      g_param_spec_double ("xi", "xi",
          "Perturbation level of mode=fixed (3 = the official 0.75 noise "
          "level)", 0.0, 1000.0, DEFAULT_XI, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_ALPHA,
      g_param_spec_double ("alpha", "alpha",
          "Noise scale of mode=alpha (CLIP-VQDiffusion: 0.25 COCO, 0.5 "
          "FFHQ)", 0.0, 1000.0, DEFAULT_ALPHA, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_HIDDEN,
      g_param_spec_int ("hidden", "Hidden",
          "Hidden width of the r1 and r2 MLPs of mode=trainable", 1, 65536,
          DEFAULT_HIDDEN, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_NORMALIZE_INPUT,
      g_param_spec_boolean ("normalize-input", "Normalize input",
          "L2-normalise the input features first", TRUE, PARAM_FLAGS));

  gst_element_class_set_static_metadata (ec, "t2i perturb", "Filter/Tensor",
      "Pseudo text features from image or text features by (learned) "
      "perturbation (LAFITE)", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);

  gst_type_mark_as_plugin_api (T2I_TYPE_PERTURB_MODE, 0);
}

static void
t2i_perturb_init (T2iPerturb * self)
{
  self->mode = MODE_FIXED;
  self->input = g_strdup (DEFAULT_INPUT);
  self->output = g_strdup (DEFAULT_OUTPUT);
  self->xi = DEFAULT_XI;
  self->alpha = DEFAULT_ALPHA;
  self->hidden = DEFAULT_HIDDEN;
  self->normalize_input = TRUE;
}
