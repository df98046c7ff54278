/* The loss kinds of t2iloss: one file per kind, one line per kind in
 * T2I_LOSS_KINDS below.
 *
 * To add a kind `foo-bar`: write plugins/losses/foo-bar.c defining
 *
 *   const T2iLossKind t2i_loss_kind_foo_bar = {
 *     "foo-bar", "what it computes", "default input entry or NULL",
 *     T2I_LOSS_ARG_INPUT | T2I_LOSS_ARG_COND, check, compute,
 *   };
 *
 * add `X (foo_bar)` to T2I_LOSS_KINDS (sorted) and the file to
 * plugin_sources in plugins/meson.build.  check() validates the caps
 * (t2i_losses_require() names the property, the entry and what upstream
 * offers); compute() returns the unweighted scalar (weight= is applied by
 * the T2iLoss base class).  The helpers below compute the shared terms.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/t2i.h>

G_BEGIN_DECLS

/**
 * T2iLossArg:
 *
 * The properties of t2iloss a kind reads (besides output, update and
 * weight, which every kind has).  Setting one a kind does not read is a
 * negotiation error that lists the ones it does.
 */
typedef enum {
  T2I_LOSS_ARG_INPUT = 1 << 0,
  T2I_LOSS_ARG_COND = 1 << 1,
  T2I_LOSS_ARG_REAL = 1 << 2,
  T2I_LOSS_ARG_FAKE = 1 << 3,
  T2I_LOSS_ARG_IMAGE = 1 << 4,
  T2I_LOSS_ARG_REAL_FEATURES = 1 << 5,
  T2I_LOSS_ARG_FAKE_FEATURES = 1 << 6,
  T2I_LOSS_ARG_IMAGE_FEATURES = 1 << 7,
  T2I_LOSS_ARG_TAU = 1 << 8,
  T2I_LOSS_ARG_OFFICIAL_EXP = 1 << 9,
  T2I_LOSS_ARG_GAMMA = 1 << 10,
  T2I_LOSS_ARG_LAMBDA = 1 << 11,
  T2I_LOSS_ARG_R1_GAMMA = 1 << 12,
  T2I_LOSS_ARG_EVERY = 1 << 13,
} T2iLossArg;

#define T2I_LOSS_N_ARGS 14

/**
 * T2iLossArgs:
 * @input: the kind's main input (the kind's default when unset)
 * @cond: condition h' (default `h`)
 * @real: discriminator logits on real images (default `d/real`)
 * @fake: discriminator logits on generated images (default `d/fake`)
 * @image: the real images, a gradient leaf for R1 (default `image`)
 * @real_features: f_s of real images (default `d/real_fs`)
 * @fake_features: f_s of generated images (default `d/fake_fs`)
 * @image_features: f_img of generated images (default `fake_feat`)
 * @tau: contrastive temperature
 * @official_exp: the official contrastive form (see t2i_losses_contrastive())
 * @gamma: weight of L_ConD in eq. 8-9
 * @lambda: weight of L_ConG in eq. 9
 * @r1_gamma: R1 weight gamma of gamma/2 E||grad||^2
 * @every: lazy R1 interval (0 disables R1)
 * @step: the record's step
 * @element: the t2iloss element (a kind with parameters keeps them in its
 *   group: t2i_transform_get_params(), t2i_transform_add_param())
 *
 * The property values a kind computes with.
 */
typedef struct {
  const char *input;
  const char *cond;
  const char *real;
  const char *fake;
  const char *image;
  const char *real_features;
  const char *fake_features;
  const char *image_features;
  double tau;
  gboolean official_exp;
  double gamma;
  double lambda;
  double r1_gamma;
  guint every;
  gint64 step;
  T2iTransform *element;
} T2iLossArgs;

/**
 * T2iLossKind:
 * @name: the value of kind=
 * @description: one line for gst-inspect and the docs
 * @default_input: what input= means when unset (%NULL: the kind has none)
 * @args: the #T2iLossArg bits of the properties the kind reads
 * @check: validates the sink caps (names the property and entry on error)
 * @compute: the unweighted scalar loss, a new reference
 * @build: (nullable): creates the kind's parameters in @a->element's group
 *   (t2i_transform_add_param()) once the caps are known; weights= then
 *   loads them
 */
typedef struct {
  const char *name;
  const char *description;
  const char *default_input;
  guint args;
  gboolean (*check) (const T2iLossArgs * a, const GstStructure * in,
      GError ** error);
  T2iTensor *(*compute) (const T2iLossArgs * a, GstBuffer * record,
      GError ** error);
  gboolean (*build) (const T2iLossArgs * a, GError ** error);
} T2iLossKind;

/* T2I_LOSS_KINDS(X): X(c_name) per kind, sorted; the kind is
 * t2i_loss_kind_<c_name> */
#define T2I_LOSS_KINDS(X) \
  X (clip) \
  X (gan_logistic_d) \
  X (gan_logistic_g) \
  X (lafite_cond) \
  X (lafite_cong) \
  X (lafite_d) \
  X (lafite_g) \
  X (r1)

#define T2I_LOSS_DECLARE(c) extern const T2iLossKind t2i_loss_kind_##c;
T2I_LOSS_KINDS (T2I_LOSS_DECLARE)
#undef T2I_LOSS_DECLARE

/* ---- shared helpers (common.c) ---- */

/* the property name of a #T2iLossArg bit ("real-features") */
const char *t2i_losses_arg_name (T2iLossArg arg);

/* checks entry @name (property @prop) is a float tensor with @ndim dims
 * (0: any) */
gboolean t2i_losses_require (const GstStructure * in, const char *prop,
    const char *name, gint ndim, GError ** error);
/* checks logits, [N] or [N, 1] */
gboolean t2i_losses_require_logits (const GstStructure * in,
    const char *prop, const char *name, GError ** error);
/* checks features [N, ...] and the condition [N, D] agree in N and D */
gboolean t2i_losses_require_pair (const GstStructure * in, const char *prop,
    const char *features, const char *cond, GError ** error);

/* borrowed tensor @name of the record, or %NULL with @error naming @prop */
T2iTensor *t2i_losses_get (GstBuffer * record, const char *prop,
    const char *name, GError ** error);

/* mean(softplus(fake)) + mean(softplus(-real)) */
T2iTensor *t2i_losses_gan_d (T2iTensor * real, T2iTensor * fake);
/* mean(softplus(-fake)) */
T2iTensor *t2i_losses_gan_g (T2iTensor * fake);

/**
 * t2i_losses_contrastive:
 * @features: [n, ...] image-side features x (flattened to [n, D])
 * @cond: [n, D] conditions h'
 * @tau: temperature
 * @official_exp: the official form
 *
 * LAFITE's eq. 6-7 over a batch, S_ji = cos(x_j, h'_i):
 * paper:    -tau / n sum_i log softmax_j(S_ji / tau)[j = i]
 * official: -1 / n sum_i log(tau softmax_j(exp(S_ji / tau))[j = i])
 * (drboog/Lafite contra_loss with lam = 0: the extra exponential and tau
 * inside the log).  The paper's sum over the batch is a mean here, as for
 * every term of eq. 5-9, which keeps their ratios.
 */
T2iTensor *t2i_losses_contrastive (T2iTensor * features, T2iTensor * cond,
    double tau, gboolean official_exp);

/**
 * t2i_losses_r1:
 * @real_logits: [N] logits of the real images (with their graph)
 * @image: the real images, the gradient leaf the logits were computed from
 * @r1_gamma: gamma
 * @error: return location for a #GError
 *
 * gamma / 2 * mean_i ||d sum(real_logits) / d image_i||^2, the gradient
 * built with create_graph so the penalty trains the discriminator.
 */
T2iTensor *t2i_losses_r1 (T2iTensor * real_logits, T2iTensor * image,
    double r1_gamma, GError ** error);

/* CLIP's loss (clip.c): the mean of the cross-entropies of
 * exp(min(@logit_scale, ln 100)) cos(image_i, text_j) over j (per image)
 * and over i (per text), the matching row the label */
T2iTensor *t2i_losses_clip (T2iTensor * image_emb, T2iTensor * text_emb,
    T2iTensor * logit_scale);

/* whether lazy R1 runs at this record: every > 0 and step % every == 0 */
gboolean t2i_losses_r1_due (const T2iLossArgs * a);

G_END_DECLS
