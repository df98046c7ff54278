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
 *   ||d sum D(real) / d x_i||^2 on the records @every picks (every=16 for
 *   StyleGAN2's lazy regularisation), differentiated with create_graph with
 *   respect to the gradient leaf @image (t2idiscriminator
 *   real-requires-grad=true);
 * - `lafite-cond`: L_ConD (eq. 6) between @input (default `d/real_fs`: the
 *   discriminator's f_s of the real images, with update=D; use
 *   input=d/fake_fs with update=G for the generator's gamma L_ConD term of
 *   eq. 9) and the condition @cond;
 * - `lafite-cong`: L_ConG (eq. 7) between @input (default `fake_feat`: a
 *   frozen image encoder's features of the generated images) and @cond;
 * - `lafite-d`: eq. 8 in one element, L_D + @gamma L_ConD(@real-features,
 *   @cond), plus the lazy R1 term every @r1-every steps while training
 *   (@r1-gamma = 0 or @r1-every = 0 turn it off);
 * - `lafite-g`: eq. 9 in one element, L_G + @gamma L_ConD(@fake-features,
 *   @cond) + @lambda L_ConG(@image-features, @cond) (@lambda = 0 when there
 *   is no image encoder, as the paper's text-encoder-only ablation).
 *
 * - `sdn-image`, `sdn-stage1`, `sdn-stage2`: SDN's image space loss (eq.
 *   2) and its two distillation stages (eq. 1, 3), with @choices the
 *   multiple-choice forms of eq. 4-5 (docs/sdn.md);
 * - `cross-entropy`: logits @input against class ids @target (a classifier
 *   head's training, e.g. a VGG19 teacher trained here).
 * The contrastive terms are -@tau mean_i log softmax_j(Sim(x_j, h'_i) /
 * @tau)[j = i] with Sim the cosine similarity: the paper's sums over the
 * batch are means here, for every term, which keeps the ratios of eq. 8-9
 * (gamma = lambda = 10, tau = 0.5 for language-free training; gamma = 5 with
 * ground-truth text).  @official-exp reproduces the released code instead:
 * softmax over exp(Sim / tau) and -log(tau softmax), whose
 * hyper-parameters were tuned with that form.
 *
 * Each kind declares its own properties (each property's description
 * lists the kinds that read it); setting one the kind does not read is an
 * error that lists the ones it does.  When the loss runs is the base
 * class's: @phases (with t2idatasetsrc phases=D,G, e.g. phases=D on the
 * discriminator's losses), @every, @start and @until on the record's
 * step; on the other records the loss entry is absent and the trainer
 * does not step its group for it.
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

#define T2I_LOSS_KIND_ENTRY(c) &t2i_loss_kind_##c,
static const T2iLossKind *const kinds[] = {
  T2I_LOSS_KINDS (T2I_LOSS_KIND_ENTRY)
};
#undef T2I_LOSS_KIND_ENTRY

struct _T2iLossElement
{
  T2iLoss parent;

  gint kind;                    /* 0: unset, else index + 1 into kinds */
  T2iOptionValues *values;      /* the kind options the user set */
  GstStructure *config;         /* resolved at the first negotiation */
};

enum
{
  PROP_0,
  PROP_KIND,
  PROP_FIRST_OPTION,
};

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

static void
fill_args (T2iLossElement * self, T2iLossArgs * a, gint64 step)
{
  a->config = self->config;
  a->step = step;
  a->every = t2i_loss_get_every (T2I_LOSS (self));
  a->element = T2I_TRANSFORM (self);
}

static gboolean
t2i_loss_element_check (T2iLoss * loss, const GstStructure * in,
    GError ** error)
{
  T2iLossElement *self = T2I_LOSS_ELEMENT (loss);
  const T2iLossKind *k = get_kind (self);

  if (!k) {
    g_autoptr (GString) names = g_string_new (NULL);
    for (guint i = 0; i < G_N_ELEMENTS (kinds); i++)
      g_string_append_printf (names, "%s%s", i ? ", " : "", kinds[i]->name);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISSING,
        "property 'kind' is not set: choose one of %s", names->str);
    return FALSE;
  }
  if (!self->config) {
    g_autofree char *variant = g_strdup_printf ("kind=%s", k->name);
    self->config = t2i_options_resolve (k->options, variant, self->values,
        NULL, NULL, error);
    if (!self->config)
      return FALSE;
  }
  if (!k->check (self->config, in, error)) {
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
  if (id == PROP_KIND)
    self->kind = g_value_get_enum (v);
  else
    t2i_option_values_set (self->values, pspec, v);
  g_clear_pointer (&self->config, gst_structure_free);
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_loss_element_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iLossElement *self = T2I_LOSS_ELEMENT (obj);

  GST_OBJECT_LOCK (self);
  if (id == PROP_KIND)
    g_value_set_enum (v, self->kind);
  else
    t2i_option_values_get (self->values, pspec, self->config, v);
  GST_OBJECT_UNLOCK (self);
}

static void
t2i_loss_element_finalize (GObject * obj)
{
  T2iLossElement *self = T2I_LOSS_ELEMENT (obj);
  t2i_option_values_free (self->values);
  g_clear_pointer (&self->config, gst_structure_free);
  G_OBJECT_CLASS (t2i_loss_element_parent_class)->finalize (obj);
}

static void
t2i_loss_element_class_init (T2iLossElementClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iLossClass *lc = T2I_LOSS_CLASS (klass);
  const T2iOption *tables[G_N_ELEMENTS (kinds)];
  const char *names[G_N_ELEMENTS (kinds)];
  const char *descriptions[G_N_ELEMENTS (kinds)];

  oc->set_property = t2i_loss_element_set_property;
  oc->get_property = t2i_loss_element_get_property;
  oc->finalize = t2i_loss_element_finalize;
  T2I_TRANSFORM_CLASS (klass)->build = t2i_loss_element_build;
  lc->check = t2i_loss_element_check;
  lc->compute = t2i_loss_element_compute;

  for (guint i = 0; i < G_N_ELEMENTS (kinds); i++) {
    tables[i] = kinds[i]->options;
    names[i] = kinds[i]->name;
    descriptions[i] = kinds[i]->description;
  }
  g_object_class_install_property (oc, PROP_KIND,
      g_param_spec_enum ("kind", "Kind", "Which loss to compute",
          t2i_options_variant_enum ("T2iLossElementKind",
              "Not set (choose a kind)", names, descriptions,
              G_N_ELEMENTS (kinds)), 0, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));
  t2i_options_install (oc, PROP_FIRST_OPTION, "T2iLoss", tables, names,
      G_N_ELEMENTS (kinds));

  gst_element_class_set_static_metadata (ec, "t2i loss", "Filter/Tensor/Loss",
      "GAN, R1 and LAFITE contrastive losses", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
}

static void
t2i_loss_element_init (T2iLossElement * self)
{
  self->values = t2i_option_values_new ();
}
