/* The loss kinds of t2iloss: one file per kind, one line per kind in
 * T2I_LOSS_KINDS below.
 *
 * To add a kind `foo-bar`: write plugins/losses/foo-bar.c defining its
 * options and
 *
 *   static const T2iOption options[] = {
 *     T2I_LOSS_ENTRY ("input", "x", "What the loss reads, f32 [N, D]"),
 *     T2I_OPTION_DOUBLE ("tau", 0.5, 1e-6, 1000, 0, "Temperature"),
 *     { NULL }
 *   };
 *   const T2iLossKind t2i_loss_kind_foo_bar = {
 *     "foo-bar", "what it computes", options, check, compute,
 *   };
 *
 * add `X (foo_bar)` to T2I_LOSS_KINDS (sorted) and the file to
 * plugin_sources in plugins/meson.build.  t2iloss installs every kind's
 * options as properties; a property the chosen kind does not declare is an
 * error that lists the ones it does.  check() validates the caps
 * (t2i_losses_require() names the property, the entry and what upstream
 * offers); compute() returns the unweighted scalar (weight= is applied,
 * and phases=, every=, start=, until= decide whether it runs at all, by
 * the T2iLoss base class).  The helpers below compute the shared terms.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/t2i.h>

G_BEGIN_DECLS

/* an entry option of a loss kind */
#define T2I_LOSS_ENTRY(name, def, blurb) T2I_OPTION_ENTRY (name, def, 0, blurb)

/* options several kinds share */
#define T2I_LOSS_OPTION_TAU \
  T2I_OPTION_DOUBLE ("tau", 0.5, 1e-6, 1000.0, 0, \
      "Temperature of the contrastive terms")
#define T2I_LOSS_OPTION_OFFICIAL_EXP \
  T2I_OPTION_BOOLEAN ("official-exp", FALSE, 0, \
      "Contrastive terms as LAFITE's released code: softmax over " \
      "exp(Sim / tau), -log(tau softmax)")
#define T2I_LOSS_OPTION_COND \
  T2I_LOSS_ENTRY ("cond", "h", "Condition entry h', f32 [N, D]")
/* SDN's distillation (sdn-stage1, sdn-stage2): the two level prefixes,
 * the levels, their weights and the reduction */
#define T2I_LOSS_OPTION_SDN_LEVELS(fake_default, fake_blurb) \
  T2I_LOSS_ENTRY ("real", "vgg/real", "Prefix of the teacher's levels " \
      "phi^D_l(I_r), f32 [N, C, h, w] (t2iimageencoder arch=vgg19 " \
      "layers=sdn output=)"), \
  T2I_LOSS_ENTRY ("fake", fake_default, fake_blurb), \
  T2I_OPTION_STRING ("layers", "sdn", 0, "The levels l: tap names, " \
      "comma-separated, each paired as real/<tap> with fake/<tap>; sdn: " \
      "SDN's 21 (relu1_1 .. pool5; the 22nd, the input image, is the " \
      "image loss)"), \
  T2I_OPTION_STRING ("level-weights", NULL, 0, "Weight of each level of " \
      "layers=, comma-separated, or one for all (unset: 1 each, the " \
      "paper's plain sum)"), \
  T2I_OPTION_CHOICE ("reduce", "sum", "mean|sum", 0, "Each ||.||_1 as " \
      "the paper writes it, summed over each item's elements (sum), or " \
      "averaged over them (mean: the released code's tf.reduce_mean); " \
      "either way averaged over the batch")
/* SDN's image term (sdn-stage1, sdn-stage2) */
#define T2I_LOSS_OPTION_SDN_IMAGE \
  T2I_LOSS_ENTRY ("image", "image", "Real images I_r, f32 [N, 3, H, W]"), \
  T2I_LOSS_ENTRY ("input", "fake", "Generated images I_s, f32 [N, 3 " \
      "choices, H, W] (t2igenerator arch=sdn output=)"), \
  T2I_OPTION_DOUBLE ("image-weight", 1.0, 0.0, 1e6, 0, "Weight of the " \
      "image loss (eq. 2), 1 in the paper; the released code's 22nd " \
      "level, the input in BGR 0..255, is it times 127.5 with " \
      "reduce=mean; 0 drops it"), \
  T2I_OPTION_INT ("choices", 1, 1, 64, 0, "Candidates n per item (the " \
      "generator's choices=): multiple choice learning, eq. 4-5")
#define T2I_LOSS_OPTION_R1_GAMMA \
  T2I_OPTION_DOUBLE ("r1-gamma", 10.0, 0.0, 1e6, 0, \
      "R1 weight: r1-gamma / 2 E||grad D(real)||^2 (0 disables R1)")

/**
 * T2iLossArgs:
 * @config: the kind's options (t2i_config_string (a->config, "real"), ...)
 * @step: the record's step
 * @every: the element's every= (a lazy regulariser scales by it)
 * @element: the t2iloss element (a kind with parameters keeps them in its
 *   group: t2i_transform_get_params(), t2i_transform_add_param())
 */
typedef struct {
  const GstStructure *config;
  gint64 step;
  guint every;
  T2iTransform *element;
} T2iLossArgs;

/**
 * T2iLossKind:
 * @name: the value of kind=
 * @description: one line for gst-inspect and the docs
 * @options: the kind's options, %NULL-name terminated
 * @check: validates the sink caps (names the property and entry on error)
 * @compute: the unweighted scalar loss, a new reference
 * @build: (nullable): creates the kind's parameters in @a->element's group
 *   (t2i_transform_add_param()) once the caps are known; weights= then
 *   loads them
 */
typedef struct {
  const char *name;
  const char *description;
  const T2iOption *options;
  gboolean (*check) (const GstStructure * config, const GstStructure * in,
      GError ** error);
  T2iTensor *(*compute) (const T2iLossArgs * a, GstBuffer * record,
      GError ** error);
  gboolean (*build) (const T2iLossArgs * a, GError ** error);
} T2iLossKind;

/* T2I_LOSS_KINDS(X): X(c_name) per kind, sorted; the kind is
 * t2i_loss_kind_<c_name> */
#define T2I_LOSS_KINDS(X) \
  X (asl_d) \
  X (asl_g) \
  X (ca_kl) \
  X (clip) \
  X (cross_entropy) \
  X (csd) \
  X (damsm) \
  X (dist_con) \
  X (dist_vl) \
  X (gan_logistic_d) \
  X (gan_logistic_g) \
  X (hinge_d) \
  X (hinge_g) \
  X (icsd_d) \
  X (icsd_g) \
  X (l1) \
  X (lafite_cond) \
  X (lafite_cong) \
  X (lafite_d) \
  X (lafite_g) \
  X (mean) \
  X (perceptual) \
  X (r1) \
  X (sdn_image) \
  X (sdn_stage1) \
  X (sdn_stage2) \
  X (vq_diffusion)

#define T2I_LOSS_DECLARE(c) extern const T2iLossKind t2i_loss_kind_##c;
T2I_LOSS_KINDS (T2I_LOSS_DECLARE)
#undef T2I_LOSS_DECLARE

/* ---- shared helpers (common.c) ---- */

/* checks the entry the option @prop names is a float tensor with @ndim
 * dims (0: any) */
gboolean t2i_losses_require (const GstStructure * in,
    const GstStructure * config, const char *prop, gint ndim,
    GError ** error);
/* checks logits, [N] or [N, 1] */
gboolean t2i_losses_require_logits (const GstStructure * in,
    const GstStructure * config, const char *prop, GError ** error);
/* checks the features @prop names, [N, ...], and the condition cond=,
 * [N, D], agree in N and D */
gboolean t2i_losses_require_pair (const GstStructure * in,
    const GstStructure * config, const char *prop, GError ** error);

/* checks the entries the options @a and @b name have one shape */
gboolean t2i_losses_require_same (const GstStructure * in,
    const GstStructure * config, const char *a, const char *b,
    GError ** error);

/* borrowed float tensor the option @prop names, or %NULL with @error
 * naming @prop */
T2iTensor *t2i_losses_get (GstBuffer * record, const GstStructure * config,
    const char *prop, GError ** error);

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


/* DiST-GAN's eq. 3-4 (dist-con.c): mean_i lse_j(S_ij / tau - log
 * max(m_ij, @min_similarity)) - S_ii / tau with S the cosine of @images
 * and @texts, m that of the texts (no gradient through m); without
 * @adaptive the plain InfoNCE of eq. 2 */
T2iTensor *t2i_losses_dist_con (T2iTensor * images, T2iTensor * texts,
    double tau, gboolean adaptive, double min_similarity);
/* DiST-GAN's eq. 5 (dist-vl.c): L1(@v_m, @v_x) + L1(cos(v_m, v_m),
 * cos(v_x, v_x)), each a mean over elements, or with @sum summed per row
 * and averaged over the rows */
T2iTensor *t2i_losses_dist_vl (T2iTensor * v_m, T2iTensor * v_x,
    gboolean sum);

/* ---- SDN (sdn-image.c, sdn-stage1.c) ---- */

/* ||a_i - b_{i,p}||_1 of @a [N, ...] and @b [N n, ...] (item i's n
 * candidates at rows i n .. i n + n - 1), summed over each item's elements
 * (@sum) or averaged: [N, n] */
T2iTensor *t2i_losses_sdn_l1 (T2iTensor * a, T2iTensor * b, gint n,
    gboolean sum);
/* mean_i min_p of @per [N, n] (the gradient reaches each item's best
 * candidate only) */
T2iTensor *t2i_losses_sdn_min_mean (T2iTensor * per);
/* eq. 2, and eq. 4's image term: mean_i min_p ||real_i - fake_i^p||_1 of
 * @real [N, 3, H, W] and @fake [N, 3 @choices, H, W] */
T2iTensor *t2i_losses_sdn_image (T2iTensor * real, T2iTensor * fake,
    gint choices, gboolean sum);
/* checks the options @real_prop [N, 3, H, W] and @fake_prop [N, 3 @choices,
 * H, W] name paired images */
gboolean t2i_losses_sdn_require_images (const GstStructure * in,
    const GstStructure * config, const char *real_prop,
    const char *fake_prop, gint choices, GError ** error);
/* checks that real=P/<l> and fake=Q/<l> exist for each level l of layers=,
 * the second with @fake_rows rows per item of the first, and
 * level-weights= */
gboolean t2i_losses_sdn_require_levels (const GstStructure * in,
    const GstStructure * config, gint fake_rows, GError ** error);
/* sum_l w_l ||real/l - fake/l||_1 per item and candidate: [N, @candidates]
 * (fake= holds @candidates rows per item) */
T2iTensor *t2i_losses_sdn_levels (GstBuffer * record,
    const GstStructure * config, gint candidates, GError ** error);
/* ICSD-GAN (asl-d.c, asl-g.c, ca-kl.c, csd.c, damsm.c, icsd-d.c) */
/* eq. 7: mean max(0, 1 - real) + (max(0, 1 + wrong) + max(0, 1 + fake)) / 2 */
T2iTensor *t2i_losses_asl_d (T2iTensor * real, T2iTensor * wrong,
    T2iTensor * fake);
/* eq. 7: -mean fake */
T2iTensor *t2i_losses_asl_g (T2iTensor * fake);
/* D_KL(N(mu, exp(logvar)) || N(0, I)) summed over dims and averaged over
 * the batch, or with @mean averaged over every element */
T2iTensor *t2i_losses_ca_kl (T2iTensor * mu, T2iTensor * logvar,
    gboolean mean);
/* eq. 1-2: mean (M_S - M_T)^2, M the cosine matrices of the flattened
 * features; no gradient into @teacher */
T2iTensor *t2i_losses_csd (T2iTensor * student, T2iTensor * teacher);
/* DAMSM's R(Q_i, D_j) [N images, N captions] of eq. 10 (@paper: with the
 * 1/gamma2 power), caption j's words the first @lengths[j] of @words */
T2iTensor *t2i_losses_damsm_word_scores (T2iTensor * words,
    const gint64 * lengths, T2iTensor * regions, double gamma1,
    double gamma2, gboolean paper);
/* CE(gamma3 S) + CE(gamma3 S^T) with diagonal labels, S [N, N]; @ids
 * (nullable, i32 [N]): same-class mismatches masked with -inf */
T2iTensor *t2i_losses_matching (T2iTensor * scores, double gamma3,
    T2iTensor * ids);
/* checks "<prefix>/<what>" is one score per item, or reads it */
gboolean t2i_losses_require_scores (const GstStructure * in,
    const char *prefix, const char *what, GError ** error);
T2iTensor *t2i_losses_get_score (GstBuffer * record, const char *prefix,
    const char *what, GError ** error);

G_END_DECLS
