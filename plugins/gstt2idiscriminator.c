/* t2idiscriminator: a StyleGAN2 discriminator with a semantic head.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2idiscriminator
 * @title: t2idiscriminator
 *
 * Scores real images (@real, f32 [N, 3, R, R]) and generated ones (@fake,
 * same shape) with one set of parameters (two forward passes) and adds,
 * with P = @output:
 *
 * - `P/real`, `P/fake`, f32 [N]: the logits D(x, h') = f_d(x) + <h', f_s(x)>
 *   of LAFITE's eq. 4, for each item with its own condition (@cond-logit =
 *   per-sample, the paper), or with the sum over the whole batch of
 *   f_s(x) . h' added to every logit (@cond-logit = batch-sum, what the
 *   official code computes), or f_d(x) alone (@cond-logit = none);
 * - `P/real_fs`, `P/fake_fs`, f32 [N, cond-dim]: the semantic features
 *   f_s(x), for the contrastive losses (t2iloss kind=lafite-cond,
 *   lafite-d, lafite-g); L2-normalised when @normalize-features is set
 *   (the normalised features then also enter the logits).
 *
 * R = the images' side, cond-dim = the width of @cond (h', the same for real
 * and fake).  With @cond empty the discriminator is unconditional: no
 * semantic head, only `P/real` and `P/fake`.  Either of @real and @fake may
 * be empty to score one kind of image only.
 *
 * Architecture (@arch=stylegan2, core/models/stylegan2.c): StyleGAN2's
 * residual discriminator: fromRGB (1x1) at R, then per resolution R..8 a
 * block of two 3x3 convolutions (the second blurs with [1,3,3,1] and
 * strides by 2) plus a 1x1 skip (blur, stride 2) summed with gains
 * sqrt(1/2); at 4x4 minibatch standard deviation (@mbstd-group items per
 * group; N must be a multiple of min(@mbstd-group, N)), a 3x3 convolution,
 * an FC and the output FC f_d; the head f_s is an FC from the same
 * features (`D.b4.fts`, as the official code).  Equalised learning rate,
 * lrelu(0.2) * sqrt(2); channels at resolution r are min(@channel-base / r,
 * @channels).
 *
 * R1 regularisation (t2iloss kind=r1 or kind=lafite-d) needs the gradient
 * of the real logits with respect to the real images.  With
 * @real-requires-grad set, while the pipeline trains, the discriminator
 * replaces the @real entry of the record by a detached copy of it (sharing
 * the pixels) that is a gradient leaf, and scores that: the loss then finds
 * the leaf under the same name.  An entry that already is a gradient leaf
 * (t2itensorsrc requires-grad=) is used as it is.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2idatasetsrc dataset=shapes batch-size=4 resolution=16 max-steps=1 ! t2inoise output=h dim=16 ! t2idiscriminator real=image fake="" cond=h channels=32 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2idiscriminator.h"
#include "gstt2iutil.h"

#include <t2i/t2i.h>
#include <t2i/stylegan2.h>

GST_DEBUG_CATEGORY_STATIC (t2i_discriminator_debug);
#define GST_CAT_DEFAULT t2i_discriminator_debug

#define EXAMPLE "t2idatasetsrc dataset=shapes batch-size=4 resolution=16 " \
    "max-steps=1 ! t2inoise output=h dim=16 ! t2idiscriminator real=image " \
    "fake=\"\" cond=h channels=32 ! fakesink"

typedef enum
{
  T2I_DISCRIMINATOR_ARCH_STYLEGAN2,
} T2iDiscriminatorArch;

typedef enum
{
  COND_LOGIT_PER_SAMPLE,
  COND_LOGIT_BATCH_SUM,
  COND_LOGIT_NONE,
} CondLogit;

struct _T2iDiscriminator
{
  T2iTransform parent;

  /* properties */
  T2iDiscriminatorArch arch;
  gchar *real;
  gchar *fake;
  gchar *cond;
  gchar *output;
  gint channels;
  gint channel_base;
  gint mbstd_group;
  gint mbstd_channels;
  CondLogit cond_logit;
  gboolean normalize_features;
  gboolean real_requires_grad;

  T2iStyleGan2D *model;
  gint cond_dim;                /* 0: unconditional */
};

enum
{
  PROP_0,
  PROP_ARCH,
  PROP_REAL,
  PROP_FAKE,
  PROP_COND,
  PROP_OUTPUT,
  PROP_CHANNELS,
  PROP_CHANNEL_BASE,
  PROP_MBSTD_GROUP,
  PROP_MBSTD_CHANNELS,
  PROP_COND_LOGIT,
  PROP_NORMALIZE_FEATURES,
  PROP_REAL_REQUIRES_GRAD,
};

#define DEFAULT_REAL "image"
#define DEFAULT_FAKE "fake"
#define DEFAULT_COND "h"
#define DEFAULT_OUTPUT "d"
#define DEFAULT_CHANNELS 128
#define DEFAULT_CHANNEL_BASE 32768
#define DEFAULT_MBSTD_GROUP 4
#define DEFAULT_MBSTD_CHANNELS 1

#define T2I_TYPE_DISCRIMINATOR_ARCH (t2i_discriminator_arch_get_type ())
static GType
t2i_discriminator_arch_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {T2I_DISCRIMINATOR_ARCH_STYLEGAN2,
        "StyleGAN2 residual discriminator with LAFITE's semantic head",
        "stylegan2"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iDiscriminatorArch", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

#define T2I_TYPE_DISCRIMINATOR_COND_LOGIT \
    (t2i_discriminator_cond_logit_get_type ())
static GType
t2i_discriminator_cond_logit_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {COND_LOGIT_PER_SAMPLE, "f_d(x_i) + <h'_i, f_s(x_i)> (paper eq. 4)",
        "per-sample"},
    {COND_LOGIT_BATCH_SUM,
        "f_d(x_i) + sum_j <h'_j, f_s(x_j)> (official code)", "batch-sum"},
    {COND_LOGIT_NONE, "f_d(x_i) only", "none"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iDiscriminatorCondLogit", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE_WITH_CODE (T2iDiscriminator, t2i_discriminator,
    T2I_TYPE_TRANSFORM, GST_DEBUG_CATEGORY_INIT (t2i_discriminator_debug,
        "t2idiscriminator", 0, "t2i discriminator"));
GST_ELEMENT_REGISTER_DEFINE (t2idiscriminator, "t2idiscriminator",
    GST_RANK_NONE, T2I_TYPE_DISCRIMINATOR);

static gboolean
has_name (const char *s)
{
  return s && *s;
}

static char *
entry_name (T2iDiscriminator * self, const char *what)
{
  return g_strconcat (self->output, "/", what, NULL);
}

/* checks the image and condition entries; fills the batch, side, cond dim */
static gboolean
check_inputs (T2iDiscriminator * self, const GstStructure * in,
    gint64 * batch, gint * res, gint * cond_dim, GError ** error)
{
  const char *images[2] = { self->real, self->fake };
  const char *props[2] = { "real", "fake" };
  gint64 first[T2I_MAX_DIMS] = { 0 };
  const char *first_name = NULL;

  for (gint i = 0; i < 2; i++) {
    gint64 shape[T2I_MAX_DIMS];
    gint ndim;
    if (!has_name (images[i]))
      continue;
    if (!t2i_caps_require (in, images[i], "f32", 4, NULL, error)) {
      g_prefix_error (error, "%s=%s: ", props[i], images[i]);
      return FALSE;
    }
    t2i_caps_get_entry (in, images[i], NULL, &ndim, shape);
    if (shape[1] != 3 || shape[2] != shape[3]) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "%s=%s must hold square RGB images [N,3,R,R], not [%"
          G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%" G_GINT64_FORMAT ",%"
          G_GINT64_FORMAT "]", props[i], images[i], shape[0], shape[1],
          shape[2], shape[3]);
      return FALSE;
    }
    if (first_name && (shape[2] != first[2] || (shape[0] >= 0 && first[0] >= 0
                && shape[0] != first[0]))) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "real=%s and fake=%s must have the same shape", self->real,
          self->fake);
      return FALSE;
    }
    if (!first_name) {
      memcpy (first, shape, sizeof first);
      first_name = images[i];
    }
  }
  if (!first_name) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "both real= and fake= are empty: name at least one image entry");
    return FALSE;
  }
  *batch = first[0];
  *res = (gint) first[2];
  *cond_dim = 0;
  if (has_name (self->cond)) {
    gint64 shape[T2I_MAX_DIMS];
    gint ndim;
    if (!t2i_caps_require (in, self->cond, "f32", 2, NULL, error)) {
      g_prefix_error (error, "cond=%s: ", self->cond);
      return FALSE;
    }
    t2i_caps_get_entry (in, self->cond, NULL, &ndim, shape);
    if (shape[0] >= 0 && first[0] >= 0 && shape[0] != first[0]) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "cond=%s has %" G_GINT64_FORMAT " items but %s=%s has %"
          G_GINT64_FORMAT, self->cond, shape[0], first_name == self->real ?
          "real" : "fake", first_name, first[0]);
      return FALSE;
    }
    *cond_dim = (gint) shape[1];
  }
  return TRUE;
}

static gboolean
t2i_discriminator_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iDiscriminator *self = T2I_DISCRIMINATOR (t);
  const char *images[2] = { self->real, self->fake };
  const char *kinds[2] = { "real", "fake" };
  gint64 n;
  gint res, cd;

  if (!check_inputs (self, in, &n, &res, &cd, error))
    return FALSE;
  for (gint i = 0; i < 2; i++) {
    if (!has_name (images[i]))
      continue;
    g_autofree char *logit = entry_name (self, kinds[i]);
    t2i_caps_set_entry (out, logit, "f32", 1, &n);
    if (cd > 0) {
      g_autofree char *what = g_strconcat (kinds[i], "_fs", NULL);
      g_autofree char *fs = entry_name (self, what);
      gint64 shape[2] = { n, cd };
      t2i_caps_set_entry (out, fs, "f32", 2, shape);
    }
  }
  return TRUE;
}

static gboolean
t2i_discriminator_build (T2iTransform * t, const GstStructure * in,
    GError ** error)
{
  T2iDiscriminator *self = T2I_DISCRIMINATOR (t);
  T2iStyleGan2DConfig c;
  gint64 n;

  t2i_stylegan2_d_config_init (&c);
  if (!check_inputs (self, in, &n, &c.resolution, &c.cond_dim, error))
    return FALSE;
  c.channel_base = self->channel_base;
  c.channel_max = self->channels;
  c.mbstd_group = self->mbstd_group;
  c.mbstd_channels = self->mbstd_channels;
  self->cond_dim = c.cond_dim;
  self->model = t2i_stylegan2_d_new (&c, t2i_transform_get_params (t), NULL,
      t2i_transform_get_init_rng (t), error);
  return self->model != NULL;
}

/* logits + <h, fs> per item, or + the batch sum of <h, fs> */
static T2iTensor *
cond_logits (T2iDiscriminator * self, T2iTensor * logits, T2iTensor * fs,
    T2iTensor * h)
{
  if (self->cond_logit == COND_LOGIT_NONE)
    return t2i_tensor_ref (logits);
  g_autoptr (T2iTensor) prod = t2i_mul (fs, h);
  g_autoptr (T2iTensor) proj = self->cond_logit == COND_LOGIT_PER_SAMPLE ?
      t2i_sum (prod, 1, FALSE) : t2i_sum (prod, T2I_ALL_AXES, FALSE);
  return t2i_add (logits, proj);
}

/* the R1 leaf: the entry itself when it is a leaf already, else a
 * detached alias that requires grad, put back under the same name */
static T2iTensor *
real_leaf (T2iDiscriminator * self, GstBuffer * record, T2iTensor * real,
    GError ** error)
{
  if (real->requires_grad && !real->node)
    return t2i_tensor_ref (real);
  T2iTensor *leaf = t2i_detach (real);
  t2i_tensor_set_requires_grad (leaf, TRUE);
  if (!t2i_record_set_tensor (record, self->real, leaf, error)) {
    t2i_tensor_unref (leaf);
    return NULL;
  }
  return leaf;
}

static gboolean
score (T2iDiscriminator * self, GstBuffer * record, const char *kind,
    T2iTensor * img, T2iTensor * h, GError ** error)
{
  g_autoptr (T2iTensor) logits = NULL;
  g_autoptr (T2iTensor) fs = NULL;

  if (!t2i_stylegan2_d_forward (self->model, img, &logits,
          self->cond_dim > 0 ? &fs : NULL, error)) {
    g_prefix_error (error, "%s=%s: ", kind, g_str_equal (kind, "real") ?
        self->real : self->fake);
    return FALSE;
  }
  g_autofree char *logit_name = entry_name (self, kind);
  if (self->cond_dim == 0)
    return t2i_record_set_tensor (record, logit_name, logits, error);

  if (self->normalize_features) {
    T2iTensor *nf = t2i_l2_normalize (fs, 1, 1e-12);
    t2i_tensor_unref (fs);
    fs = nf;
  }
  g_autoptr (T2iTensor) d = cond_logits (self, logits, fs, h);
  g_autofree char *what = g_strconcat (kind, "_fs", NULL);
  g_autofree char *fs_name = entry_name (self, what);
  return t2i_record_set_tensor (record, logit_name, d, error)
      && t2i_record_set_tensor (record, fs_name, fs, error);
}

static gboolean
t2i_discriminator_process (T2iTransform * t, GstBuffer * record,
    GError ** error)
{
  T2iDiscriminator *self = T2I_DISCRIMINATOR (t);
  T2iTensor *h = NULL;

  if (self->cond_dim > 0) {
    h = t2i_record_get_tensor (record, self->cond);
    if (!h || h->ndim != 2 || h->dtype != T2I_F32
        || h->shape[1] != self->cond_dim) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "cond=%s must be f32 [N,%d] in every record", self->cond,
          self->cond_dim);
      return FALSE;
    }
  }
  if (has_name (self->real)) {
    T2iTensor *real = t2i_record_get_tensor (record, self->real);
    if (!real) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "real=%s: the record has no such tensor", self->real);
      return FALSE;
    }
    g_autoptr (T2iTensor) img = self->real_requires_grad
        && t2i_transform_is_training (t) ? real_leaf (self, record, real,
        error) : t2i_tensor_ref (real);
    if (!img || !score (self, record, "real", img, h, error))
      return FALSE;
  }
  if (has_name (self->fake)) {
    T2iTensor *fake = t2i_record_get_tensor (record, self->fake);
    if (!fake) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
          "fake=%s: the record has no such tensor", self->fake);
      return FALSE;
    }
    if (!score (self, record, "fake", fake, h, error))
      return FALSE;
  }
  return TRUE;
}

static void
t2i_discriminator_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iDiscriminator *self = T2I_DISCRIMINATOR (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_ARCH:
      self->arch = g_value_get_enum (v);
      break;
    case PROP_REAL:
      t2i_replace_string (&self->real, v);
      break;
    case PROP_FAKE:
      t2i_replace_string (&self->fake, v);
      break;
    case PROP_COND:
      t2i_replace_string (&self->cond, v);
      break;
    case PROP_OUTPUT:
      t2i_replace_string (&self->output, v);
      if (!has_name (self->output)) {
        g_free (self->output);
        self->output = g_strdup (DEFAULT_OUTPUT);
      }
      break;
    case PROP_CHANNELS:
      self->channels = g_value_get_int (v);
      break;
    case PROP_CHANNEL_BASE:
      self->channel_base = g_value_get_int (v);
      break;
    case PROP_MBSTD_GROUP:
      self->mbstd_group = g_value_get_int (v);
      break;
    case PROP_MBSTD_CHANNELS:
      self->mbstd_channels = g_value_get_int (v);
      break;
    case PROP_COND_LOGIT:
      self->cond_logit = g_value_get_enum (v);
      break;
    case PROP_NORMALIZE_FEATURES:
      self->normalize_features = g_value_get_boolean (v);
      break;
    case PROP_REAL_REQUIRES_GRAD:
      self->real_requires_grad = g_value_get_boolean (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_discriminator_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iDiscriminator *self = T2I_DISCRIMINATOR (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_ARCH:
      g_value_set_enum (v, self->arch);
      break;
    case PROP_REAL:
      g_value_set_string (v, self->real);
      break;
    case PROP_FAKE:
      g_value_set_string (v, self->fake);
      break;
    case PROP_COND:
      g_value_set_string (v, self->cond);
      break;
    case PROP_OUTPUT:
      g_value_set_string (v, self->output);
      break;
    case PROP_CHANNELS:
      g_value_set_int (v, self->channels);
      break;
    case PROP_CHANNEL_BASE:
      g_value_set_int (v, self->channel_base);
      break;
    case PROP_MBSTD_GROUP:
      g_value_set_int (v, self->mbstd_group);
      break;
    case PROP_MBSTD_CHANNELS:
      g_value_set_int (v, self->mbstd_channels);
      break;
    case PROP_COND_LOGIT:
      g_value_set_enum (v, self->cond_logit);
      break;
    case PROP_NORMALIZE_FEATURES:
      g_value_set_boolean (v, self->normalize_features);
      break;
    case PROP_REAL_REQUIRES_GRAD:
      g_value_set_boolean (v, self->real_requires_grad);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_discriminator_finalize (GObject * obj)
{
  T2iDiscriminator *self = T2I_DISCRIMINATOR (obj);
  g_free (self->real);
  g_free (self->fake);
  g_free (self->cond);
  g_free (self->output);
  g_clear_pointer (&self->model, t2i_stylegan2_d_free);
  G_OBJECT_CLASS (t2i_discriminator_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_discriminator_class_init (T2iDiscriminatorClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_discriminator_set_property;
  oc->get_property = t2i_discriminator_get_property;
  oc->finalize = t2i_discriminator_finalize;
  tc->negotiate = t2i_discriminator_negotiate;
  tc->build = t2i_discriminator_build;
  tc->process = t2i_discriminator_process;

  g_object_class_install_property (oc, PROP_ARCH,
      g_param_spec_enum ("arch", "Architecture",
          "Discriminator architecture", T2I_TYPE_DISCRIMINATOR_ARCH,
          T2I_DISCRIMINATOR_ARCH_STYLEGAN2, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_REAL,
      g_param_spec_string ("real", "Real",
          "Entry of the real images, f32 [N,3,R,R] (empty: score fakes "
          "only)", DEFAULT_REAL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_FAKE,
      g_param_spec_string ("fake", "Fake",
          "Entry of the generated images, f32 [N,3,R,R] (empty: score "
          "reals only)", DEFAULT_FAKE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_COND,
      g_param_spec_string ("cond", "Condition",
          "Condition entry h', f32 [N, cond-dim], for the semantic head and "
          "the projection term (empty: unconditional)", DEFAULT_COND,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_OUTPUT,
      g_param_spec_string ("output", "Output",
          "Prefix P of the outputs P/real, P/fake, P/real_fs, P/fake_fs",
          DEFAULT_OUTPUT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CHANNELS,
      g_param_spec_int ("channels", "Channels",
          "Most channels of any layer; resolution r has "
          "min(channel-base / r, channels)", 1, 4096, DEFAULT_CHANNELS,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CHANNEL_BASE,
      g_param_spec_int ("channel-base", "Channel base",
          "Channels at resolution r are min(channel-base / r, channels) "
          "(official 32768)", 1, G_MAXINT, DEFAULT_CHANNEL_BASE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_MBSTD_GROUP,
      g_param_spec_int ("mbstd-group", "Minibatch-std group",
          "Items per minibatch standard deviation group (the batch must be "
          "a multiple of it)", 1, 1024, DEFAULT_MBSTD_GROUP, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_MBSTD_CHANNELS,
      g_param_spec_int ("mbstd-channels", "Minibatch-std channels",
          "Feature maps added by the minibatch standard deviation layer (0 "
          "disables it)", 0, 64, DEFAULT_MBSTD_CHANNELS, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_COND_LOGIT,
      g_param_spec_enum ("cond-logit", "Conditional logit",
          "How <h', f_s(x)> enters the logits",
          T2I_TYPE_DISCRIMINATOR_COND_LOGIT, COND_LOGIT_PER_SAMPLE,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_NORMALIZE_FEATURES,
      g_param_spec_boolean ("normalize-features", "Normalize features",
          "L2-normalise f_s(x) (official --d_use_norm; off by default)",
          FALSE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_REAL_REQUIRES_GRAD,
      g_param_spec_boolean ("real-requires-grad", "Real requires grad",
          "While training, make the real entry a gradient leaf (a detached "
          "copy put back under its name) for R1", FALSE, PARAM_FLAGS));

  gst_element_class_set_static_metadata (ec, "t2i discriminator",
      "Filter/Tensor/Discriminator",
      "Scores real and generated images and extracts semantic features "
      "(StyleGAN2, LAFITE)", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);

  gst_type_mark_as_plugin_api (T2I_TYPE_DISCRIMINATOR_ARCH, 0);
  gst_type_mark_as_plugin_api (T2I_TYPE_DISCRIMINATOR_COND_LOGIT, 0);
}

static void
t2i_discriminator_init (T2iDiscriminator * self)
{
  self->arch = T2I_DISCRIMINATOR_ARCH_STYLEGAN2;
  self->real = g_strdup (DEFAULT_REAL);
  self->fake = g_strdup (DEFAULT_FAKE);
  self->cond = g_strdup (DEFAULT_COND);
  self->output = g_strdup (DEFAULT_OUTPUT);
  self->channels = DEFAULT_CHANNELS;
  self->channel_base = DEFAULT_CHANNEL_BASE;
  self->mbstd_group = DEFAULT_MBSTD_GROUP;
  self->mbstd_channels = DEFAULT_MBSTD_CHANNELS;
  self->cond_logit = COND_LOGIT_PER_SAMPLE;
}
