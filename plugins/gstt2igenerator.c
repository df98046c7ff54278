/* t2igenerator: a text-conditional StyleGAN2 generator.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2igenerator
 * @title: t2igenerator
 *
 * Generates images from a latent noise entry (@noise, f32 [N, z-dim], e.g.
 * from t2inoise) and a condition (@cond, f32 [N, cond-dim]: text features,
 * or pseudo text features from t2iperturb) and adds them as @output, f32
 * [N, 3, R, R] in [-1, 1] (not clamped).  The architecture (@arch) is
 * StyleGAN2 with LAFITE's conditional StyleSpace (core/models/stylegan2.c,
 * t2i/stylegan2.h):
 *
 * - mapping: z normalised by its second moment, then @mapping-layers FCs of
 *   width @w-dim with learning-rate multiplier 0.01, equalised learning
 *   rate and lrelu(0.2) * sqrt(2); the average of w is tracked with decay
 *   @w-avg-beta while training (buffer `mapping.w_avg`) and @truncation
 *   psi pulls w towards it (w_avg + psi (w - w_avg)); trainable=false
 *   freezes the average too;
 * - synthesis: a learned 4x4 constant, then per resolution 8..R a
 *   modulated/demodulated 3x3 convolution that upsamples ([1,3,3,1] FIR)
 *   and one that does not, each with a per-pixel noise input of learned
 *   strength (@noise-mode), bias and lrelu; a 1x1 toRGB per resolution
 *   (modulated, not demodulated) whose outputs are summed after upsampling
 *   the previous ones ([1,3,3,1], skip architecture);
 * - condition: every layer's style depends on w and h.  @cond-mode=concat
 *   (default) is s = affine_0([pre_1(pre_0(h)), w]): the paper's Sec. 3.2
 *   (h' through a per-layer 2-layer FC, concatenated with the style code,
 *   then a per-layer affine map; two affine maps in a row collapse into
 *   one) and what the official code runs at 256 px.  @cond-mode=modulate
 *   is s = beta(h) + affine(w) * gamma(h) with 3-layer FCs gamma and beta
 *   (the official code's form above its --change resolution).
 *
 * Channels at resolution r are min(@channel-base / r, @channels).  The
 * parameters are named as in the official code under the group
 * (`G.mapping.fc0.weight`, `G.synthesis.b8.conv0.affine_0.weight`,
 * `G.synthesis.b8.conv0.noise_strength`, `G.synthesis.b4.const`, ...);
 * `noise_const` and `mapping.w_avg` are buffers (saved, never trained).
 *
 * The random noise inputs are drawn from the session RNG, so a seed gives
 * the same images on every machine.  For inference load trained weights
 * with weights= (group=ema/G reads the trainer's EMA copy of group G).
 *
 * Not implemented: style mixing regularisation and the path-length
 * regulariser of StyleGAN2 (the generator uses one w for every layer).
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itextsrc text="a red circle" batch-size=4 ! t2inoise output=z dim=32 ! t2inoise output=h dim=16 ! t2igenerator cond=h noise=z resolution=16 channels=32 w-dim=32 cond-hidden=32 mapping-layers=2 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2igenerator.h"

#include <t2i/t2i.h>
#include <t2i/stylegan2.h>

GST_DEBUG_CATEGORY_STATIC (t2i_generator_debug);
#define GST_CAT_DEFAULT t2i_generator_debug

#define EXAMPLE "t2itextsrc text=\"a red circle\" batch-size=4 ! " \
    "t2inoise output=z dim=32 ! t2inoise output=h dim=16 ! " \
    "t2igenerator cond=h noise=z resolution=16 channels=32 w-dim=32 " \
    "cond-hidden=32 mapping-layers=2 ! fakesink"

typedef enum
{
  T2I_GENERATOR_ARCH_STYLEGAN2,
} T2iGeneratorArch;

struct _T2iGenerator
{
  T2iTransform parent;

  /* properties */
  T2iGeneratorArch arch;
  gchar *cond;
  gchar *noise;
  gchar *output;
  gint resolution;
  gint channels;
  gint channel_base;
  gint mapping_layers;
  gint z_dim;
  gint w_dim;
  gint cond_dim;
  gint cond_hidden;
  T2iStyleGan2CondMode cond_mode;
  gdouble truncation;
  gdouble w_avg_beta;
  T2iStyleGan2NoiseMode noise_mode;

  T2iStyleGan2G *model;
};

enum
{
  PROP_0,
  PROP_ARCH,
  PROP_COND,
  PROP_NOISE,
  PROP_OUTPUT,
  PROP_RESOLUTION,
  PROP_CHANNELS,
  PROP_CHANNEL_BASE,
  PROP_MAPPING_LAYERS,
  PROP_Z_DIM,
  PROP_W_DIM,
  PROP_COND_DIM,
  PROP_COND_HIDDEN,
  PROP_COND_MODE,
  PROP_TRUNCATION,
  PROP_W_AVG_BETA,
  PROP_NOISE_MODE,
};

#define DEFAULT_COND "h"
#define DEFAULT_NOISE "z"
#define DEFAULT_OUTPUT "fake"
#define DEFAULT_RESOLUTION 32
#define DEFAULT_CHANNELS 128
#define DEFAULT_CHANNEL_BASE 32768
#define DEFAULT_MAPPING_LAYERS 8
#define DEFAULT_W_DIM 512
#define DEFAULT_COND_HIDDEN 512
#define DEFAULT_TRUNCATION 1.0
#define DEFAULT_W_AVG_BETA 0.995

#define T2I_TYPE_GENERATOR_ARCH (t2i_generator_arch_get_type ())
static GType
t2i_generator_arch_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {T2I_GENERATOR_ARCH_STYLEGAN2,
        "StyleGAN2 with LAFITE's conditional StyleSpace", "stylegan2"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iGeneratorArch", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

#define T2I_TYPE_GENERATOR_COND_MODE (t2i_generator_cond_mode_get_type ())
static GType
t2i_generator_cond_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {T2I_STYLEGAN2_COND_CONCAT,
        "s = affine_0([pre(h), w]) (paper Sec. 3.2, official <= 256 px)",
        "concat"},
    {T2I_STYLEGAN2_COND_MODULATE,
        "s = beta(h) + affine(w) * gamma(h) (official > 256 px)", "modulate"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iGeneratorCondMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

#define T2I_TYPE_GENERATOR_NOISE_MODE (t2i_generator_noise_mode_get_type ())
static GType
t2i_generator_noise_mode_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {T2I_STYLEGAN2_NOISE_RANDOM, "Fresh noise per image and layer", "random"},
    {T2I_STYLEGAN2_NOISE_CONST, "Each layer's stored noise_const buffer",
        "const"},
    {T2I_STYLEGAN2_NOISE_NONE, "No noise inputs", "none"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iGeneratorNoiseMode", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE_WITH_CODE (T2iGenerator, t2i_generator, T2I_TYPE_TRANSFORM,
    GST_DEBUG_CATEGORY_INIT (t2i_generator_debug, "t2igenerator", 0,
        "t2i generator"));
GST_ELEMENT_REGISTER_DEFINE (t2igenerator, "t2igenerator", GST_RANK_NONE,
    T2I_TYPE_GENERATOR);

/* checks one [N, D] input; *dim gets D; @want (0 = any, else the value of
 * the property @dim_prop) must match */
static gboolean
require_matrix (const GstStructure * in, const char *prop, const char *name,
    const char *dim_prop, gint want, gint64 * batch, gint * dim,
    GError ** error)
{
  gint64 shape[T2I_MAX_DIMS];
  gint ndim = 0;
  if (!t2i_caps_require (in, name, "f32", 2, NULL, error)) {
    g_prefix_error (error, "%s=%s: ", prop, name);
    return FALSE;
  }
  t2i_caps_get_entry (in, name, NULL, &ndim, shape);
  if (want > 0 && shape[1] != want) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "%s=%s has %" G_GINT64_FORMAT " features per item but %s=%d; "
        "leave %s at 0 to take the entry's width", prop, name, shape[1],
        dim_prop, want, dim_prop);
    return FALSE;
  }
  *batch = shape[0];
  *dim = (gint) shape[1];
  return TRUE;
}

static gboolean
check_inputs (T2iGenerator * self, const GstStructure * in, gint64 * batch,
    gint * z_dim, gint * cond_dim, GError ** error)
{
  gint64 nz, nc;
  if (!require_matrix (in, "noise", self->noise, "z-dim", self->z_dim, &nz,
          z_dim, error)
      || !require_matrix (in, "cond", self->cond, "cond-dim", self->cond_dim,
          &nc, cond_dim, error))
    return FALSE;
  if (nz >= 0 && nc >= 0 && nz != nc) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "noise=%s has %" G_GINT64_FORMAT " items but cond=%s has %"
        G_GINT64_FORMAT, self->noise, nz, self->cond, nc);
    return FALSE;
  }
  *batch = nc;
  return TRUE;
}

static gboolean
t2i_generator_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iGenerator *self = T2I_GENERATOR (t);
  gint64 n;
  gint zd, cd;

  if (!check_inputs (self, in, &n, &zd, &cd, error))
    return FALSE;
  gint64 shape[4] = { n, 3, self->resolution, self->resolution };
  t2i_caps_set_entry (out, self->output, "f32", 4, shape);
  return TRUE;
}

static gboolean
t2i_generator_build (T2iTransform * t, const GstStructure * in,
    GError ** error)
{
  T2iGenerator *self = T2I_GENERATOR (t);
  T2iStyleGan2GConfig c;
  gint64 n;

  t2i_stylegan2_g_config_init (&c);
  if (!check_inputs (self, in, &n, &c.z_dim, &c.cond_dim, error))
    return FALSE;
  c.resolution = self->resolution;
  c.channel_base = self->channel_base;
  c.channel_max = self->channels;
  c.w_dim = self->w_dim;
  c.cond_hidden = self->cond_hidden;
  c.mapping_layers = self->mapping_layers;
  c.w_avg_beta = self->w_avg_beta;
  c.cond_mode = self->cond_mode;
  self->model = t2i_stylegan2_g_new (&c, t2i_transform_get_params (t), NULL,
      t2i_transform_get_init_rng (t), error);
  return self->model != NULL;
}

static gboolean
t2i_generator_process (T2iTransform * t, GstBuffer * record, GError ** error)
{
  T2iGenerator *self = T2I_GENERATOR (t);
  const T2iStyleGan2GConfig *c = t2i_stylegan2_g_get_config (self->model);
  T2iTensor *z = t2i_record_get_tensor (record, self->noise);
  T2iTensor *h = t2i_record_get_tensor (record, self->cond);

  if (!z || !h || z->dtype != T2I_F32 || h->dtype != T2I_F32 || z->ndim != 2
      || h->ndim != 2 || z->shape[1] != c->z_dim || h->shape[1] != c->cond_dim
      || z->shape[0] != h->shape[0]) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "needs noise=%s f32 [N,%d] and cond=%s f32 [N,%d] (the record has: "
        "%s)", self->noise, c->z_dim, self->cond, c->cond_dim, has);
    return FALSE;
  }
  /* the average of w moves only while G itself trains */
  gboolean training = t2i_transform_is_training (t)
      && t2i_transform_is_trainable (t);
  T2iRng *rng = t2i_session_get_rng (t2i_transform_get_session (t));
  g_autoptr (T2iTensor) w = t2i_stylegan2_g_mapping (self->model, z,
      training, self->truncation);
  g_autoptr (T2iTensor) img = w ? t2i_stylegan2_g_synthesis (self->model, w,
      h, self->noise_mode, rng) : NULL;
  if (!img) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "the generator failed on noise=%s and cond=%s", self->noise,
        self->cond);
    return FALSE;
  }
  return t2i_record_set_tensor (record, self->output, img, error);
}

static void
set_name (gchar ** field, const GValue * v, const char *def)
{
  g_free (*field);
  *field = g_value_dup_string (v);
  if (!*field || !**field) {
    g_free (*field);
    *field = g_strdup (def);
  }
}

static void
t2i_generator_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iGenerator *self = T2I_GENERATOR (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_ARCH:
      self->arch = g_value_get_enum (v);
      break;
    case PROP_COND:
      set_name (&self->cond, v, DEFAULT_COND);
      break;
    case PROP_NOISE:
      set_name (&self->noise, v, DEFAULT_NOISE);
      break;
    case PROP_OUTPUT:
      set_name (&self->output, v, DEFAULT_OUTPUT);
      break;
    case PROP_RESOLUTION:
      self->resolution = g_value_get_int (v);
      break;
    case PROP_CHANNELS:
      self->channels = g_value_get_int (v);
      break;
    case PROP_CHANNEL_BASE:
      self->channel_base = g_value_get_int (v);
      break;
    case PROP_MAPPING_LAYERS:
      self->mapping_layers = g_value_get_int (v);
      break;
    case PROP_Z_DIM:
      self->z_dim = g_value_get_int (v);
      break;
    case PROP_W_DIM:
      self->w_dim = g_value_get_int (v);
      break;
    case PROP_COND_DIM:
      self->cond_dim = g_value_get_int (v);
      break;
    case PROP_COND_HIDDEN:
      self->cond_hidden = g_value_get_int (v);
      break;
    case PROP_COND_MODE:
      self->cond_mode = g_value_get_enum (v);
      break;
    case PROP_TRUNCATION:
      self->truncation = g_value_get_double (v);
      break;
    case PROP_W_AVG_BETA:
      self->w_avg_beta = g_value_get_double (v);
      break;
    case PROP_NOISE_MODE:
      self->noise_mode = g_value_get_enum (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_generator_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iGenerator *self = T2I_GENERATOR (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_ARCH:
      g_value_set_enum (v, self->arch);
      break;
    case PROP_COND:
      g_value_set_string (v, self->cond);
      break;
    case PROP_NOISE:
      g_value_set_string (v, self->noise);
      break;
    case PROP_OUTPUT:
      g_value_set_string (v, self->output);
      break;
    case PROP_RESOLUTION:
      g_value_set_int (v, self->resolution);
      break;
    case PROP_CHANNELS:
      g_value_set_int (v, self->channels);
      break;
    case PROP_CHANNEL_BASE:
      g_value_set_int (v, self->channel_base);
      break;
    case PROP_MAPPING_LAYERS:
      g_value_set_int (v, self->mapping_layers);
      break;
    case PROP_Z_DIM:
      g_value_set_int (v, self->z_dim);
      break;
    case PROP_W_DIM:
      g_value_set_int (v, self->w_dim);
      break;
    case PROP_COND_DIM:
      g_value_set_int (v, self->cond_dim);
      break;
    case PROP_COND_HIDDEN:
      g_value_set_int (v, self->cond_hidden);
      break;
    case PROP_COND_MODE:
      g_value_set_enum (v, self->cond_mode);
      break;
    case PROP_TRUNCATION:
      g_value_set_double (v, self->truncation);
      break;
    case PROP_W_AVG_BETA:
      g_value_set_double (v, self->w_avg_beta);
      break;
    case PROP_NOISE_MODE:
      g_value_set_enum (v, self->noise_mode);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_generator_finalize (GObject * obj)
{
  T2iGenerator *self = T2I_GENERATOR (obj);
  g_free (self->cond);
  g_free (self->noise);
  g_free (self->output);
  g_clear_pointer (&self->model, t2i_stylegan2_g_free);
  G_OBJECT_CLASS (t2i_generator_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_generator_class_init (T2iGeneratorClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_generator_set_property;
  oc->get_property = t2i_generator_get_property;
  oc->finalize = t2i_generator_finalize;
  tc->negotiate = t2i_generator_negotiate;
  tc->build = t2i_generator_build;
  tc->process = t2i_generator_process;

  g_object_class_install_property (oc, PROP_ARCH,
      g_param_spec_enum ("arch", "Architecture", "Generator architecture",
          T2I_TYPE_GENERATOR_ARCH, T2I_GENERATOR_ARCH_STYLEGAN2, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_COND,
      g_param_spec_string ("cond", "Condition",
          "Condition entry, f32 [N, cond-dim] (text or pseudo text "
          "features)", DEFAULT_COND, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_NOISE,
      g_param_spec_string ("noise", "Noise",
          "Latent noise entry, f32 [N, z-dim] (e.g. from t2inoise)",
          DEFAULT_NOISE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_OUTPUT,
      g_param_spec_string ("output", "Output",
          "Entry of the generated images, f32 [N, 3, R, R]", DEFAULT_OUTPUT,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_RESOLUTION,
      g_param_spec_int ("resolution", "Resolution",
          "Side R of the generated images (a power of two)", 4, 1024,
          DEFAULT_RESOLUTION, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CHANNELS,
      g_param_spec_int ("channels", "Channels",
          "Most channels of any layer; resolution r has "
          "min(channel-base / r, channels)", 1, 4096, DEFAULT_CHANNELS,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CHANNEL_BASE,
      g_param_spec_int ("channel-base", "Channel base",
          "Channels at resolution r are min(channel-base / r, channels) "
          "(official 32768)", 1, G_MAXINT, DEFAULT_CHANNEL_BASE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_MAPPING_LAYERS,
      g_param_spec_int ("mapping-layers", "Mapping layers",
          "FC layers of the mapping network z -> w", 1, 16,
          DEFAULT_MAPPING_LAYERS, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_Z_DIM,
      g_param_spec_int ("z-dim", "z dim",
          "Latent size (0: the width of the noise entry)", 0, 65536, 0,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_W_DIM,
      g_param_spec_int ("w-dim", "w dim",
          "Size of w and width of the mapping network", 1, 65536,
          DEFAULT_W_DIM, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_COND_DIM,
      g_param_spec_int ("cond-dim", "Condition dim",
          "Condition size (0: the width of the cond entry)", 0, 65536, 0,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_COND_HIDDEN,
      g_param_spec_int ("cond-hidden", "Condition hidden width",
          "Output width of each layer's condition FCs (official 512)", 1,
          65536, DEFAULT_COND_HIDDEN, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_COND_MODE,
      g_param_spec_enum ("cond-mode", "Condition mode",
          "How the condition enters each layer's style",
          T2I_TYPE_GENERATOR_COND_MODE, T2I_STYLEGAN2_COND_CONCAT,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_TRUNCATION,
      g_param_spec_double ("truncation", "Truncation",
          "Truncation psi: w = w_avg + psi (w - w_avg) (1 = none; use < 1 "
          "at inference)", -10.0, 10.0, DEFAULT_TRUNCATION, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_W_AVG_BETA,
      g_param_spec_double ("w-avg-beta", "w average decay",
          "Decay of the average of w tracked while training", 0.0, 1.0,
          DEFAULT_W_AVG_BETA, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_NOISE_MODE,
      g_param_spec_enum ("noise-mode", "Noise mode",
          "Per-layer noise inputs", T2I_TYPE_GENERATOR_NOISE_MODE,
          T2I_STYLEGAN2_NOISE_RANDOM, PARAM_FLAGS));

  gst_element_class_set_static_metadata (ec, "t2i generator",
      "Filter/Tensor/Generator",
      "Generates images from noise and a text condition (StyleGAN2, LAFITE)",
      "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);

  gst_type_mark_as_plugin_api (T2I_TYPE_GENERATOR_ARCH, 0);
  gst_type_mark_as_plugin_api (T2I_TYPE_GENERATOR_COND_MODE, 0);
  gst_type_mark_as_plugin_api (T2I_TYPE_GENERATOR_NOISE_MODE, 0);
}

static void
t2i_generator_init (T2iGenerator * self)
{
  self->arch = T2I_GENERATOR_ARCH_STYLEGAN2;
  self->cond = g_strdup (DEFAULT_COND);
  self->noise = g_strdup (DEFAULT_NOISE);
  self->output = g_strdup (DEFAULT_OUTPUT);
  self->resolution = DEFAULT_RESOLUTION;
  self->channels = DEFAULT_CHANNELS;
  self->channel_base = DEFAULT_CHANNEL_BASE;
  self->mapping_layers = DEFAULT_MAPPING_LAYERS;
  self->w_dim = DEFAULT_W_DIM;
  self->cond_hidden = DEFAULT_COND_HIDDEN;
  self->cond_mode = T2I_STYLEGAN2_COND_CONCAT;
  self->truncation = DEFAULT_TRUNCATION;
  self->w_avg_beta = DEFAULT_W_AVG_BETA;
  self->noise_mode = T2I_STYLEGAN2_NOISE_RANDOM;
}
