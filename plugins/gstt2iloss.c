/* t2iloss: GAN, R1 and LAFITE contrastive losses (plugins/losses/).
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2iloss
 * @title: t2iloss
 *
 * Computes one loss of the kind @kind and adds it as `loss/<output>` (a
 * scalar) for the group @update, multiplied by @weight (the T2iLoss base
 * class).  The kinds (plugins/losses/, one file each):
 *
 * - `clip`: CLIP's symmetric InfoNCE between paired image embeddings
 *   @input (default `img_emb`) and text embeddings @cond, with a learnable
 *   `logit_scale` parameter in the element's group (ln(1/0.07) at init,
 *   clamped at ln 100; give the encoders and the loss one `group=` so
 *   `update=` trains all three);
 * - `gan-logistic-d`: mean softplus(D(fake)) + mean softplus(-D(real)),
 *   from the logit entries @real and @fake (LAFITE eq. 5, L_D);
 * - `gan-logistic-g`: mean softplus(-D(fake)) (eq. 5, L_G);
 * - `r1`: StyleGAN2's lazy R1 penalty, @every * @r1-gamma / 2 * mean_i
 *   ||d sum D(real) / d x_i||^2 on records whose step is a multiple of
 *   @every (0 on the others), differentiated with create_graph with respect
 *   to the gradient leaf @image (t2idiscriminator real-requires-grad=true);
 * - `lafite-cond`: L_ConD (eq. 6) between @input (default `d/real_fs`: the
 *   discriminator's f_s of the real images, with update=D; use
 *   input=d/fake_fs with update=G for the generator's gamma L_ConD term of
 *   eq. 9) and the condition @cond;
 * - `lafite-cong`: L_ConG (eq. 7) between @input (default `fake_feat`: a
 *   frozen image encoder's features of the generated images) and @cond;
 * - `lafite-d`: eq. 8 in one element, L_D + @gamma L_ConD(@real-features,
 *   @cond), plus the lazy R1 term of `r1` while training (@r1-gamma = 0 or
 *   @every = 0 turn it off);
 * - `lafite-g`: eq. 9 in one element, L_G + @gamma L_ConD(@fake-features,
 *   @cond) + @lambda L_ConG(@image-features, @cond) (@lambda = 0 when there
 *   is no image encoder, as the paper's text-encoder-only ablation).
 *
 * The contrastive terms are -@tau mean_i log softmax_j(Sim(x_j, h'_i) /
 * @tau)[j = i] with Sim the cosine similarity: the paper's sums over the
 * batch are means here, for every term, which keeps the ratios of eq. 8-9
 * (gamma = lambda = 10, tau = 0.5 for language-free training; gamma = 5 with
 * ground-truth text).  @official-exp reproduces the released code instead:
 * softmax over exp(Sim / tau) and -log(tau softmax), whose
 * hyper-parameters were tuned with that form.
 *
 * The composite kinds keep records small (a record holds at most 16
 * entries); the single kinds let any term get its own weight and group.
 * Setting a property the kind does not read is an error that lists the
 * ones it reads.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itextsrc text="a red circle" batch-size=4 ! t2inoise output=d/real dim=1 ! t2inoise output=d/fake dim=1 ! t2iloss kind=gan-logistic-d real=d/real fake=d/fake update=D ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2iloss.h"
#include "losses/losses.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (t2i_loss_element_debug);
#define GST_CAT_DEFAULT t2i_loss_element_debug

/* logits may be [N] or [N, 1], so t2inoise dim=1 stands in for them */
#define EXAMPLE "t2itextsrc text=\"a red circle\" batch-size=4 ! " \
    "t2inoise output=d/real dim=1 ! t2inoise output=d/fake dim=1 ! " \
    "t2iloss kind=gan-logistic-d real=d/real fake=d/fake update=D ! fakesink"

#define T2I_LOSS_ENTRY(c) &t2i_loss_kind_##c,
static const T2iLossKind *const kinds[] = {
  T2I_LOSS_KINDS (T2I_LOSS_ENTRY)
};
#undef T2I_LOSS_ENTRY

struct _T2iLossElement
{
  T2iLoss parent;

  gint kind;                    /* 0: unset, else index + 1 into kinds */
  gchar *entries[8];            /* input, cond, real, fake, image, *features */
  gdouble tau;
  gboolean official_exp;
  gdouble gamma;
  gdouble lambda;
  gdouble r1_gamma;
  guint every;
  guint set_args;               /* T2iLossArg bits set by the user */
};

enum
{
  PROP_0,
  PROP_KIND,
  /* PROP_KIND + 1 + log2(arg): one per T2iLossArg, in its order */
  PROP_ARG0,
};

#define DEFAULT_TAU 0.5
#define DEFAULT_GAMMA 10.0
#define DEFAULT_LAMBDA 10.0
#define DEFAULT_R1_GAMMA 10.0
#define DEFAULT_EVERY 16

/* entry defaults for args 1..7 (input's default comes from the kind) */
static const char *const entry_defaults[8] = {
  NULL, "h", "d/real", "d/fake", "image", "d/real_fs", "d/fake_fs",
  "fake_feat",
};

static const char *const entry_blurbs[8] = {
  "Main input entry of the kind (lafite-cond: d/real_fs, lafite-cong: "
      "fake_feat)",
  "Condition entry h', f32 [N, D]",
  "Discriminator logits of the real images, [N]",
  "Discriminator logits of the generated images, [N]",
  "Real images, the gradient leaf R1 differentiates with respect to",
  "Discriminator features f_s of the real images (lafite-d)",
  "Discriminator features f_s of the generated images (lafite-g)",
  "Image-encoder features of the generated images (lafite-g)",
};

#define T2I_TYPE_LOSS_KIND (t2i_loss_kind_get_type ())
static GType
t2i_loss_kind_get_type (void)
{
  static GType type = 0;
  if (g_once_init_enter (&type)) {
    const guint n = G_N_ELEMENTS (kinds);
    GEnumValue *values = g_new0 (GEnumValue, n + 2);
    values[0].value = 0;
    values[0].value_name = "Not set (choose a kind)";
    values[0].value_nick = "none";
    for (guint i = 0; i < n; i++) {
      values[i + 1].value = (gint) i + 1;
      values[i + 1].value_name = kinds[i]->description;
      values[i + 1].value_nick = kinds[i]->name;
    }
    GType t = g_enum_register_static ("T2iLossElementKind", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE_WITH_CODE (T2iLossElement, t2i_loss_element, T2I_TYPE_LOSS,
    GST_DEBUG_CATEGORY_INIT (t2i_loss_element_debug, "t2iloss", 0,
        "t2i losses"));
GST_ELEMENT_REGISTER_DEFINE (t2iloss, "t2iloss", GST_RANK_NONE,
    T2I_TYPE_LOSS_ELEMENT);

static const T2iLossKind *
get_kind (T2iLossElement * self)
{
  return self->kind > 0 ? kinds[self->kind - 1] : NULL;
}

static const char *
entry (T2iLossElement * self, gint i)
{
  if (self->entries[i] && *self->entries[i])
    return self->entries[i];
  if (i == 0) {
    const T2iLossKind *k = get_kind (self);
    return k ? k->default_input : NULL;
  }
  return entry_defaults[i];
}

static void
fill_args (T2iLossElement * self, T2iLossArgs * a, gint64 step)
{
  memset (a, 0, sizeof *a);
  a->input = entry (self, 0);
  a->cond = entry (self, 1);
  a->real = entry (self, 2);
  a->fake = entry (self, 3);
  a->image = entry (self, 4);
  a->real_features = entry (self, 5);
  a->fake_features = entry (self, 6);
  a->image_features = entry (self, 7);
  a->tau = self->tau;
  a->official_exp = self->official_exp;
  a->gamma = self->gamma;
  a->lambda = self->lambda;
  a->r1_gamma = self->r1_gamma;
  a->every = self->every;
  a->step = step;
  a->element = T2I_TRANSFORM (self);
}

static gboolean
t2i_loss_element_check (T2iLoss * loss, const GstStructure * in,
    GError ** error)
{
  T2iLossElement *self = T2I_LOSS_ELEMENT (loss);
  const T2iLossKind *k = get_kind (self);
  T2iLossArgs a;

  if (!k) {
    g_autoptr (GString) names = g_string_new (NULL);
    for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
      g_string_append_printf (names, "%s%s", i ? ", " : "", kinds[i]->name);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "property 'kind' is not set: choose one of %s", names->str);
    return FALSE;
  }
  guint extra = self->set_args & ~k->args;
  if (extra) {
    g_autoptr (GString) reads = g_string_new (NULL);
    const char *bad = NULL;
    for (gint i = 0; i < T2I_LOSS_N_ARGS; i++) {
      if (k->args & (1u << i))
        g_string_append_printf (reads, "%s%s", reads->len ? ", " : "",
            t2i_losses_arg_name (1u << i));
      if (!bad && (extra & (1u << i)))
        bad = t2i_losses_arg_name (1u << i);
    }
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "kind=%s does not read %s= (it reads: %s)", k->name, bad,
        reads->len ? reads->str : "none of the kind properties");
    return FALSE;
  }
  if ((k->args & T2I_LOSS_ARG_TAU) && self->tau <= 0) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "tau=%g: the temperature must be > 0", self->tau);
    return FALSE;
  }
  fill_args (self, &a, 0);
  if (!k->check (&a, in, error)) {
    g_prefix_error (error, "kind=%s: ", k->name);
    return FALSE;
  }
  return TRUE;
}

static gboolean
t2i_loss_element_build (T2iTransform * t, const GstStructure * in,
    GError ** error)
{
  T2iLossElement *self = T2I_LOSS_ELEMENT (t);
  const T2iLossKind *k = get_kind (self);
  T2iLossArgs a;

  if (!k || !k->build)
    return TRUE;
  fill_args (self, &a, 0);
  if (!k->build (&a, error)) {
    g_prefix_error (error, "kind=%s: ", k->name);
    return FALSE;
  }
  return TRUE;
}

static T2iTensor *
t2i_loss_element_compute (T2iLoss * loss, GstBuffer * record, GError ** error)
{
  T2iLossElement *self = T2I_LOSS_ELEMENT (loss);
  const T2iLossKind *k = get_kind (self);
  T2iRecordMeta *meta = t2i_record_get_meta (record);
  T2iLossArgs a;

  fill_args (self, &a, meta ? meta->step : 0);
  T2iTensor *l = k->compute (&a, record, error);
  if (!l && error && *error)
    g_prefix_error (error, "kind=%s: ", k->name);
  return l;
}

static void
t2i_loss_element_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iLossElement *self = T2I_LOSS_ELEMENT (obj);

  GST_OBJECT_LOCK (self);
  if (id == PROP_KIND) {
    self->kind = g_value_get_enum (v);
  } else if (id >= PROP_ARG0 && id < PROP_ARG0 + T2I_LOSS_N_ARGS) {
    const gint arg = (gint) (id - PROP_ARG0);
    self->set_args |= 1u << arg;
    if (arg < 8) {
      g_free (self->entries[arg]);
      self->entries[arg] = g_value_dup_string (v);
    } else {
      switch (1u << arg) {
        case T2I_LOSS_ARG_TAU:
          self->tau = g_value_get_double (v);
          break;
        case T2I_LOSS_ARG_OFFICIAL_EXP:
          self->official_exp = g_value_get_boolean (v);
          break;
        case T2I_LOSS_ARG_GAMMA:
          self->gamma = g_value_get_double (v);
          break;
        case T2I_LOSS_ARG_LAMBDA:
          self->lambda = g_value_get_double (v);
          break;
        case T2I_LOSS_ARG_R1_GAMMA:
          self->r1_gamma = g_value_get_double (v);
          break;
        case T2I_LOSS_ARG_EVERY:
          self->every = g_value_get_uint (v);
          break;
        default:
          break;
      }
    }
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_loss_element_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iLossElement *self = T2I_LOSS_ELEMENT (obj);

  GST_OBJECT_LOCK (self);
  if (id == PROP_KIND) {
    g_value_set_enum (v, self->kind);
  } else if (id >= PROP_ARG0 && id < PROP_ARG0 + T2I_LOSS_N_ARGS) {
    const gint arg = (gint) (id - PROP_ARG0);
    if (arg < 8) {
      g_value_set_string (v, self->entries[arg]);
    } else {
      switch (1u << arg) {
        case T2I_LOSS_ARG_TAU:
          g_value_set_double (v, self->tau);
          break;
        case T2I_LOSS_ARG_OFFICIAL_EXP:
          g_value_set_boolean (v, self->official_exp);
          break;
        case T2I_LOSS_ARG_GAMMA:
          g_value_set_double (v, self->gamma);
          break;
        case T2I_LOSS_ARG_LAMBDA:
          g_value_set_double (v, self->lambda);
          break;
        case T2I_LOSS_ARG_R1_GAMMA:
          g_value_set_double (v, self->r1_gamma);
          break;
        case T2I_LOSS_ARG_EVERY:
          g_value_set_uint (v, self->every);
          break;
        default:
          break;
      }
    }
  } else {
    G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_loss_element_finalize (GObject * obj)
{
  T2iLossElement *self = T2I_LOSS_ELEMENT (obj);
  for (guint i = 0; i < G_N_ELEMENTS (self->entries); i++)
    g_free (self->entries[i]);
  G_OBJECT_CLASS (t2i_loss_element_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_loss_element_class_init (T2iLossElementClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iLossClass *lc = T2I_LOSS_CLASS (klass);

  oc->set_property = t2i_loss_element_set_property;
  oc->get_property = t2i_loss_element_get_property;
  oc->finalize = t2i_loss_element_finalize;
  T2I_TRANSFORM_CLASS (klass)->build = t2i_loss_element_build;
  lc->check = t2i_loss_element_check;
  lc->compute = t2i_loss_element_compute;

  g_object_class_install_property (oc, PROP_KIND,
      g_param_spec_enum ("kind", "Kind", "Which loss to compute",
          T2I_TYPE_LOSS_KIND, 0, PARAM_FLAGS));
  for (gint i = 0; i < 8; i++)
    g_object_class_install_property (oc, PROP_ARG0 + i,
        g_param_spec_string (t2i_losses_arg_name (1u << i),
            t2i_losses_arg_name (1u << i), entry_blurbs[i],
            entry_defaults[i], PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_ARG0 + 8,
      g_param_spec_double ("tau", "tau",
          "Temperature of the contrastive terms (eq. 6-7)", 0.0, 1000.0,
          DEFAULT_TAU, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_ARG0 + 9,
      g_param_spec_boolean ("official-exp", "Official exp",
          "Contrastive terms as the released code: softmax over "
          "exp(Sim / tau), -log(tau softmax)", FALSE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_ARG0 + 10,
      g_param_spec_double ("gamma", "gamma",
          "Weight of L_ConD in eq. 8-9 (lafite-d, lafite-g)", 0.0, 1e6,
          DEFAULT_GAMMA, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_ARG0 + 11,
      g_param_spec_double ("lambda", "lambda",
          "Weight of L_ConG in eq. 9 (lafite-g; 0 without an image encoder)",
          0.0, 1e6, DEFAULT_LAMBDA, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_ARG0 + 12,
      g_param_spec_double ("r1-gamma", "R1 gamma",
          "R1 weight: r1-gamma / 2 E||grad D(real)||^2 (0 disables R1)", 0.0,
          1e6, DEFAULT_R1_GAMMA, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_ARG0 + 13,
      g_param_spec_uint ("every", "Every",
          "Lazy R1 interval: computed on records whose step is a multiple, "
          "scaled by the interval (0 disables R1)", 0, G_MAXUINT,
          DEFAULT_EVERY, PARAM_FLAGS));

  gst_element_class_set_static_metadata (ec, "t2i loss", "Filter/Tensor/Loss",
      "GAN, R1 and LAFITE contrastive losses", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);

  gst_type_mark_as_plugin_api (T2I_TYPE_LOSS_KIND, 0);
}

static void
t2i_loss_element_init (T2iLossElement * self)
{
  self->tau = DEFAULT_TAU;
  self->gamma = DEFAULT_GAMMA;
  self->lambda = DEFAULT_LAMBDA;
  self->r1_gamma = DEFAULT_R1_GAMMA;
  self->every = DEFAULT_EVERY;
}
