/* SDN's symmetric generator (t2i/sdn.h) and arch=sdn for t2igenerator:
 * the caption's text embedding to an image through VGG19 run backwards,
 * every activation an entry named after the VGG19 tap it mirrors, for
 * SDN's two-stage distillation (t2iloss kind=sdn-stage1, sdn-stage2;
 * docs/sdn.md).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <string.h>
#include "t2i/sdn.h"
#include "t2i/vgg.h"

#define N_CONVS 16
#define N_STEPS 21

/* The generator after fc6 (which gives pool5): each step upsamples (conv
 * NULL) or applies the conv named after the VGG19 conv it mirrors, and
 * produces the mirror of @level (NULL: the image) */
static const struct
{
  const char *conv;
  const char *level;
} steps[N_STEPS] = {
  {NULL, "relu5_4"}, {"conv5_4", "relu5_3"}, {"conv5_3", "relu5_2"},
  {"conv5_2", "relu5_1"}, {"conv5_1", "pool4"},
  {NULL, "relu4_4"}, {"conv4_4", "relu4_3"}, {"conv4_3", "relu4_2"},
  {"conv4_2", "relu4_1"}, {"conv4_1", "pool3"},
  {NULL, "relu3_4"}, {"conv3_4", "relu3_3"}, {"conv3_3", "relu3_2"},
  {"conv3_2", "relu3_1"}, {"conv3_1", "pool2"},
  {NULL, "relu2_2"}, {"conv2_2", "relu2_1"}, {"conv2_1", "pool1"},
  {NULL, "relu1_2"}, {"conv1_2", "relu1_1"}, {"conv1_1", NULL},
};

struct _T2iSdn
{
  T2iSdnConfig c;
  T2iNnLinear fc[3];            /* fc8, fc7, fc6 */
  T2iNnConv2d conv[N_CONVS];    /* in network order: conv5_4 .. conv1_1 */
};

void
t2i_sdn_config_init (T2iSdnConfig * c)
{
  g_return_if_fail (c != NULL);
  c->cond_dim = 1024;
  c->resolution = 224;
  c->width = 64;
  c->hidden = 4096;
  c->choices = 1;
}

const char *const *
t2i_sdn_levels (void)
{
  /* SDN's 22 teacher levels start with the input image */
  return t2i_vgg19_sdn_taps () + 1;
}

/* the position of @level in t2i_sdn_levels() */
static gint
level_index (const char *level)
{
  const char *const *names = t2i_sdn_levels ();
  for (gint i = 0; names[i]; i++)
    if (strcmp (names[i], level) == 0)
      return i;
  g_return_val_if_reached (-1);
}

T2iSdn *
t2i_sdn_new (const T2iSdnConfig * c, T2iParamGroup * group,
    const char *prefix, T2iRng * rng, GError ** error)
{
  g_return_val_if_fail (c != NULL && group != NULL, NULL);
  if (c->cond_dim < 1 || c->width < 1 || c->hidden < 1 || c->choices < 1
      || c->resolution < 32 || c->resolution % 32 != 0) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "SDN generator: resolution=%d must be a multiple of 32 (VGG19's "
        "pool5 is 1/32 of the input) and cond-dim=%d, width=%d, hidden=%d, "
        "choices=%d positive", c->resolution, c->cond_dim, c->width,
        c->hidden, c->choices);
    return NULL;
  }
  T2iSdn *m = g_new0 (T2iSdn, 1);
  T2iRng zero;
  m->c = *c;
  t2i_rng_init (&zero, 0);
  T2iRng *r = rng ? rng : &zero;
  const gint64 side = c->resolution / 32;
  const gint64 fc_in[3] = { c->cond_dim, c->hidden, c->hidden };
  const gint64 fc_out[3] = { c->hidden, c->hidden,
    t2i_vgg19_tap_channels ("pool5", c->width) * side * side
  };
  static const char *const fc_names[3] = { "fc8", "fc7", "fc6" };
  for (gint i = 0; i < 3; i++) {
    g_autofree char *name = t2i_model_joinf (prefix, "%s", fc_names[i]);
    t2i_nn_linear_init (&m->fc[i], group, name, fc_in[i], fc_out[i], TRUE, r);
    if (rng)
      t2i_init_kaiming_normal (m->fc[i].weight, rng, 0.0, T2I_FAN_IN,
          T2I_NONLINEARITY_RELU);
    t2i_init_zeros (m->fc[i].bias);
  }
  gint64 in = fc_out[2] / (side * side);
  for (gint s = 0, k = 0; s < N_STEPS; s++) {
    if (!steps[s].conv)
      continue;
    const gint64 out = steps[s].level ? t2i_vgg19_tap_channels
        (steps[s].level, c->width) : 3 * c->choices;
    g_autofree char *name = t2i_model_joinf (prefix, "%s", steps[s].conv);
    t2i_nn_conv2d_init (&m->conv[k], group, name, in, out, 3, 1, 1, TRUE, r);
    if (rng)
      t2i_init_kaiming_normal (m->conv[k].weight, rng, 0.0, T2I_FAN_IN,
          steps[s].level ? T2I_NONLINEARITY_RELU : T2I_NONLINEARITY_LINEAR);
    t2i_init_zeros (m->conv[k].bias);
    in = out;
    k++;
  }
  return m;
}

void
t2i_sdn_free (T2iSdn * m)
{
  g_free (m);
}

const T2iSdnConfig *
t2i_sdn_get_config (T2iSdn * m)
{
  g_return_val_if_fail (m != NULL, NULL);
  return &m->c;
}

/* takes @x, returns relu(x) */
static T2iTensor *
relu_take (T2iTensor * x)
{
  T2iTensor *y = t2i_relu (x);
  t2i_tensor_unref (x);
  return y;
}

T2iTensor *
t2i_sdn_forward (T2iSdn * m, T2iTensor * cond, T2iTensor ** levels)
{
  g_return_val_if_fail (m != NULL && cond != NULL, NULL);
  g_return_val_if_fail (cond->ndim == 2 && cond->shape[1] == m->c.cond_dim,
      NULL);
  const gint64 n = cond->shape[0], side = m->c.resolution / 32;

  T2iTensor *h = t2i_tensor_ref (cond);
  for (gint i = 0; i < 3; i++) {
    T2iTensor *y = t2i_nn_linear (&m->fc[i], h);
    t2i_tensor_unref (h);
    h = relu_take (y);
  }
  T2iTensor *x = t2i_reshape (h, T2I_SHAPE (n, -1, side, side));
  t2i_tensor_unref (h);
  if (levels)
    levels[level_index ("pool5")] = t2i_tensor_ref (x);
  for (gint s = 0, k = 0; s < N_STEPS; s++) {
    T2iTensor *y;
    if (!steps[s].conv) {
      y = t2i_upsample_nearest2d (x, 2);
    } else {
      y = t2i_nn_conv2d (&m->conv[k++], x);
      if (steps[s].level)
        y = relu_take (y);
    }
    t2i_tensor_unref (x);
    x = y;
    if (levels && steps[s].level)
      levels[level_index (steps[s].level)] = t2i_tensor_ref (x);
  }
  return x;
}

/* ================= arch=sdn for t2igenerator ================= */

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("cond", "text_emb", 0,
      "Text condition, f32 [N, cond-dim] (the caption's CLIP text "
      "embedding)"),
  T2I_OPTION_ENTRY ("output", "fake", 0,
      "Images, f32 [N, 3 choices, R, R]: choices candidates of 3 channels"),
  T2I_OPTION_ENTRY ("prefix", "vgg/fake", 0,
      "Prefix P of the mirrored levels P/<tap>, f32 [N, C, h, w], one per "
      "VGG19 tap of SDN's levels (relu1_1 .. pool5)"),
  T2I_OPTION_ENTRY ("candidates", NULL, 0,
      "When set, the choices candidates as a batch of images, f32 [N "
      "choices, 3, R, R], item i's candidate p at row i choices + p (what "
      "the teacher encodes in Stage II with choices > 1)"),
  T2I_OPTION_INT ("resolution", 32, 32, 1024, T2I_OPTION_MODEL,
      "Side R of the images, a multiple of 32 (pool5 is R/32)"),
  T2I_OPTION_INT ("width", 64, 1, 4096, T2I_OPTION_MODEL,
      "Block-1 channels of the VGG19 it mirrors (64: VGG19; the teacher's "
      "width=)"),
  T2I_OPTION_INT ("hidden", 0, 0, 65536, T2I_OPTION_MODEL,
      "Widths of g-fc8 and g-fc7 (0: 64 width, VGG19's 4096 at width 64)"),
  T2I_OPTION_INT ("choices", 1, 1, 64, T2I_OPTION_MODEL,
      "Candidates n per condition: the last conv has 3n channels (diverse "
      "synthesis, eq. 4-5)"),
  T2I_OPTION_INT ("cond-dim", 0, 0, 65536, T2I_OPTION_MODEL,
      "Size of the condition (0: the width of the cond entry)"),
  {NULL}
};

static gboolean
configure (GstStructure * config, const T2iArchContext * ctx, GError ** error)
{
  const gint r = t2i_config_int (config, "resolution");
  if (r % 32 != 0) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "resolution=%d is not a multiple of 32: the generator mirrors "
        "VGG19, whose pool5 is 1/32 of the image", r);
    return FALSE;
  }
  if (t2i_config_int (config, "hidden") == 0)
    t2i_config_set_int (config, "hidden", 64 * t2i_config_int (config,
            "width"));
  return TRUE;
}

/* checks cond= [N, D]; *n, *d get N and D */
static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gint * d, GError ** error)
{
  const char *cond = t2i_config_string (config, "cond");
  gint64 shape[T2I_MAX_DIMS];
  if (!t2i_caps_require (in, cond, "f32", 2, NULL, error)) {
    g_prefix_error (error, "cond=%s: ", cond);
    return FALSE;
  }
  t2i_caps_get_entry (in, cond, NULL, NULL, shape);
  const gint want = t2i_config_int (config, "cond-dim");
  if (want > 0 && shape[1] != want) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "cond=%s has %" G_GINT64_FORMAT " features per item but the model "
        "takes cond-dim=%d", cond, shape[1], want);
    return FALSE;
  }
  *n = shape[0];
  *d = (gint) shape[1];
  return TRUE;
}

static gchar *
level_entry (const GstStructure * config, const char *level)
{
  return g_strconcat (t2i_config_string (config, "prefix"), "/", level, NULL);
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n;
  gint d;
  if (!check (config, in, &n, &d, error))
    return FALSE;
  const gint r = t2i_config_int (config, "resolution");
  const gint w = t2i_config_int (config, "width");
  const gint choices = t2i_config_int (config, "choices");
  gint64 shape[4] = { n, 3 * choices, r, r };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 4,
      shape);
  if (t2i_config_has_string (config, "candidates")) {
    gint64 cs[4] = { n < 0 ? -1 : n * choices, 3, r, r };
    t2i_caps_set_entry (out, t2i_config_string (config, "candidates"),
        "f32", 4, cs);
  }
  for (const char *const *l = t2i_sdn_levels (); *l; l++) {
    const gint stride = t2i_vgg19_tap_stride (*l);
    gint64 ls[4] = { n, t2i_vgg19_tap_channels (*l, w), r / stride,
      r / stride
    };
    g_autofree gchar *name = level_entry (config, *l);
    t2i_caps_set_entry (out, name, "f32", 4, ls);
  }
  return TRUE;
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  T2iSdnConfig c;
  gint64 n;
  if (!check (config, in, &n, &c.cond_dim, error))
    return NULL;
  t2i_config_set_int (config, "cond-dim", c.cond_dim);
  c.resolution = t2i_config_int (config, "resolution");
  c.width = t2i_config_int (config, "width");
  c.hidden = t2i_config_int (config, "hidden");
  c.choices = t2i_config_int (config, "choices");
  return t2i_sdn_new (&c, ctx->params, NULL, ctx->weights ? NULL :
      ctx->init_rng, error);
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  T2iSdn *m = net;
  const GstStructure *config = ctx->config;
  const char *cond = t2i_config_string (config, "cond");
  T2iTensor *h = t2i_record_get_tensor (record, cond);
  if (!h || h->dtype != T2I_F32 || h->ndim != 2
      || h->shape[1] != m->c.cond_dim) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "needs cond=%s f32 [N,%d] (the record has: %s)", cond,
        m->c.cond_dim, has);
    return FALSE;
  }
  T2iTensor *levels[T2I_SDN_N_LEVELS] = { NULL };
  g_autoptr (T2iTensor) img = t2i_sdn_forward (m, h, levels);
  gboolean ok = t2i_record_set_tensor (record, t2i_config_string (config,
          "output"), img, error);
  const char *const *names = t2i_sdn_levels ();
  for (gint i = 0; i < T2I_SDN_N_LEVELS; i++) {
    g_autofree gchar *name = level_entry (config, names[i]);
    if (ok)
      ok = t2i_record_set_tensor (record, name, levels[i], error);
    t2i_tensor_unref (levels[i]);
  }
  if (ok && t2i_config_has_string (config, "candidates")) {
    const gint64 n = img->shape[0], r = img->shape[2];
    g_autoptr (T2iTensor) c = t2i_reshape (img, T2I_SHAPE (n *
            m->c.choices, 3, r, r));
    ok = t2i_record_set_tensor (record, t2i_config_string (config,
            "candidates"), c, error);
  }
  return ok;
}

const T2iArch t2i_arch_sdn = {
  "sdn", T2I_ROLE_GENERATOR,
  "SDN's symmetric generator: VGG19 backwards from the text condition, "
      "each activation an entry named after the VGG19 tap it mirrors",
  options, "fc8.weight",
  NULL, configure, negotiate, build, NULL, forward,
  (void (*)(gpointer)) t2i_sdn_free,
};
