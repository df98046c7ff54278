/* t2inoise: a Gaussian noise entry from the session RNG.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2inoise
 * @title: t2inoise
 *
 * Adds the entry @output, f32 [N, @dim], of standard normal noise to each
 * record, for a generator's latent z.  N is the batch dimension of the
 * entry @like (default: the record's first entry, e.g. `caption` after
 * t2itextsrc or `image` after t2idatasetsrc).
 *
 * The values are drawn from the session RNG (Philox 4x32-10, t2i/rng.h) in
 * stream order, so a pipeline run with the same session seed draws the same
 * noise, bit for bit, on every machine and device.  Each record draws fresh
 * values (records emitted once per GAN phase get different noise).
 *
 * With @seed set (0 or more) the element draws from its own Philox
 * stream with that key instead: the same seed gives the same z whatever
 * else the pipeline draws (the sampling seed of a generation pipeline).
 *
 * In a data-parallel run (`mpirun -np K`, docs/distributed.md) both
 * streams are sharded: the K ranks' batches together get the noise one
 * process draws for the K-times larger batch.
 *
 * @truncation multiplies the noise: z = psi * n.  This is the plain
 * "truncation by scaling" of BigGAN-style sampling; StyleGAN's truncation
 * trick (pulling w towards its mean) lives in the generator.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itextsrc text="a red circle" batch-size=4 ! t2inoise output=z dim=128 truncation=0.7 ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2inoise.h"

#include <t2i/t2i.h>

GST_DEBUG_CATEGORY_STATIC (t2i_noise_debug);
#define GST_CAT_DEFAULT t2i_noise_debug

#define EXAMPLE "t2itextsrc text=\"a red circle\" batch-size=4 ! " \
    "t2inoise output=z dim=128 truncation=0.7 ! fakesink"

struct _T2iNoise
{
  T2iTransform parent;

  gchar *output;
  gint dim;
  gchar *like;
  gdouble truncation;
  gint64 seed;                  /* -1: the session RNG */
  T2iRng own;                   /* the stream of @seed */
  gboolean own_ready;
};

enum
{
  PROP_0,
  PROP_OUTPUT,
  PROP_DIM,
  PROP_LIKE,
  PROP_TRUNCATION,
  PROP_SEED,
};

#define DEFAULT_OUTPUT "z"
#define DEFAULT_DIM 512
#define DEFAULT_TRUNCATION 1.0

G_DEFINE_TYPE_WITH_CODE (T2iNoise, t2i_noise, T2I_TYPE_TRANSFORM,
    GST_DEBUG_CATEGORY_INIT (t2i_noise_debug, "t2inoise", 0,
        "t2i Gaussian noise"));
GST_ELEMENT_REGISTER_DEFINE (t2inoise, "t2inoise", GST_RANK_NONE,
    T2I_TYPE_NOISE);

/* the entry whose first dimension is the batch */
static const char *
like_entry (T2iNoise * self, const GstStructure * in)
{
  if (self->like && *self->like)
    return self->like;
  const GValue *list = gst_structure_get_value (in, "entries");
  if (list && GST_VALUE_HOLDS_ARRAY (list)
      && gst_value_array_get_size (list) > 0)
    return g_value_get_string (gst_value_array_get_value (list, 0));
  return NULL;
}

static gboolean
t2i_noise_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iNoise *self = T2I_NOISE (t);
  const char *like = like_entry (self, in);
  gint ndim = 0;
  gint64 shape[T2I_MAX_DIMS];

  if (!like) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "the record has no entries to take the batch size from; put "
        "t2inoise after a source such as t2itextsrc");
    return FALSE;
  }
  if (!t2i_caps_get_entry (in, like, NULL, &ndim, shape) || ndim < 1) {
    g_autofree gchar *offers = t2i_caps_describe (in);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "like=%s: no such entry with a batch dimension (upstream offers %s)",
        like, offers);
    return FALSE;
  }
  gint64 z[2] = { shape[0], self->dim };
  t2i_caps_set_entry (out, self->output, "f32", 2, z);
  return TRUE;
}

static gboolean
t2i_noise_process (T2iTransform * t, GstBuffer * record, GError ** error)
{
  T2iNoise *self = T2I_NOISE (t);
  const char *like = self->like && *self->like ? self->like :
      t2i_record_entry_name (record, 0);
  T2iTensor *lt = like ? t2i_record_get_tensor (record, like) : NULL;
  const char *const *strv = like ? t2i_record_get_strings (record, like) : NULL;
  gint64 n;

  if (lt && lt->ndim >= 1) {
    n = lt->shape[0];
  } else if (strv) {
    n = g_strv_length ((gchar **) strv);
  } else {
    g_autofree gchar *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "like=%s: the record has no such entry with a batch dimension (it "
        "has: %s)", like ? like : "(first entry)", has);
    return FALSE;
  }

  T2iRng *rng;
  if (self->seed >= 0) {
    if (!self->own_ready) {
      T2iSession *session = t2i_transform_get_session (t);
      t2i_rng_init (&self->own, (guint64) self->seed);
      /* data-parallel: each rank its part of the one stream */
      t2i_rng_set_shard (&self->own, (guint) t2i_session_get_rank (session),
          (guint) t2i_session_get_size (session));
      self->own_ready = TRUE;
    }
    rng = &self->own;
  } else {
    rng = t2i_session_get_rng (t2i_transform_get_session (t));
  }
  /* drawn on the session's device: the same Philox words everywhere */
  T2iTensor *z = t2i_rng_randn_on (rng,
      t2i_session_get_device (t2i_transform_get_session (t)), T2I_F32,
      T2I_SHAPE (n, self->dim));
  if (self->truncation != 1.0) {
    T2iTensor *zt = t2i_mul_scalar (z, self->truncation);
    t2i_tensor_unref (z);
    z = zt;
  }
  gboolean ok = t2i_record_set_tensor (record, self->output, z, error);
  t2i_tensor_unref (z);
  return ok;
}

static void
t2i_noise_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iNoise *self = T2I_NOISE (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_OUTPUT:
      g_free (self->output);
      self->output = g_value_dup_string (v);
      if (!self->output)
        self->output = g_strdup (DEFAULT_OUTPUT);
      break;
    case PROP_DIM:
      self->dim = g_value_get_int (v);
      break;
    case PROP_LIKE:
      g_free (self->like);
      self->like = g_value_dup_string (v);
      break;
    case PROP_TRUNCATION:
      self->truncation = g_value_get_double (v);
      break;
    case PROP_SEED:
      self->seed = g_value_get_int64 (v);
      self->own_ready = FALSE;
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_noise_get_property (GObject * obj, guint id, GValue * v, GParamSpec * pspec)
{
  T2iNoise *self = T2I_NOISE (obj);

  GST_OBJECT_LOCK (self);
  switch (id) {
    case PROP_OUTPUT:
      g_value_set_string (v, self->output);
      break;
    case PROP_DIM:
      g_value_set_int (v, self->dim);
      break;
    case PROP_LIKE:
      g_value_set_string (v, self->like);
      break;
    case PROP_TRUNCATION:
      g_value_set_double (v, self->truncation);
      break;
    case PROP_SEED:
      g_value_set_int64 (v, self->seed);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_noise_finalize (GObject * obj)
{
  T2iNoise *self = T2I_NOISE (obj);
  g_free (self->output);
  g_free (self->like);
  G_OBJECT_CLASS (t2i_noise_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_noise_class_init (T2iNoiseClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_noise_set_property;
  oc->get_property = t2i_noise_get_property;
  oc->finalize = t2i_noise_finalize;
  tc->negotiate = t2i_noise_negotiate;
  tc->process = t2i_noise_process;

  g_object_class_install_property (oc, PROP_OUTPUT,
      g_param_spec_string ("output", "Output", "Name of the noise entry",
          DEFAULT_OUTPUT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_DIM,
      g_param_spec_int ("dim", "Dim", "Noise values per item (f32 [N,dim])",
          1, 1 << 20, DEFAULT_DIM, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_LIKE,
      g_param_spec_string ("like", "Like",
          "Entry whose first dimension gives the batch size N (default: "
          "the record's first entry)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_TRUNCATION,
      g_param_spec_double ("truncation", "Truncation",
          "Scale psi applied to the noise: z = psi * n (1 = none)", 0.0,
          100.0, DEFAULT_TRUNCATION, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SEED,
      g_param_spec_int64 ("seed", "Seed",
          "Seed of the element's own noise stream: the same seed draws the "
          "same z (-1 = draw from the session RNG)", -1, G_MAXINT64, -1,
          PARAM_FLAGS));

  gst_element_class_set_static_metadata (ec, "t2i noise", "Filter/Tensor",
      "Adds a Gaussian noise entry drawn from the session RNG", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_noise_init (T2iNoise * self)
{
  self->output = g_strdup (DEFAULT_OUTPUT);
  self->dim = DEFAULT_DIM;
  self->truncation = DEFAULT_TRUNCATION;
  self->seed = -1;
}
