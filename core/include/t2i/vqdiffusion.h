/* t2i — VQ-Diffusion's discrete diffusion (Gu et al. 2022) as CLIP-
 * VQDiffusion (Han & Kim 2024) trains it: the mask-and-replace forward
 * process, its posterior, the variational bound, and sampling with
 * truncation and classifier-free guidance.
 *
 * Tokens are in [0, K) with K the codebook size; K is the mask token, so
 * distributions have K + 1 classes.  Timesteps are indexed 0 .. T - 1 as
 * in the released code (microsoft/VQ-Diffusion, INFINIQ-AI1/CLIPVQDiffusion);
 * index -1 is the identity.  The schedule is the released "alpha1" one:
 * the cumulative keep probability abar_t linear from 0.99999 to 0.000009
 * and the cumulative mask probability gbar_t linear from 0.000009 to
 * 0.99999 over the T steps, the per-step a_t = abar_t / abar_{t-1}, g_t =
 * 1 - (1 - gbar_t) / (1 - gbar_{t-1}), b_t = (1 - a_t - g_t) / K (the
 * replace probability, ~2e-10: in practice pure masking), all in log
 * space.  Distributions are log probabilities [N, K + 1, L] clamped to
 * [-70, 0], as the released code keeps them.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/tensor.h>
#include <t2i/rng.h>

G_BEGIN_DECLS

typedef struct _T2iVqSchedule T2iVqSchedule;

/* the released schedule for @timesteps steps and @codes codes */
T2iVqSchedule *t2i_vq_schedule_new (gint timesteps, gint codes);
void t2i_vq_schedule_free (T2iVqSchedule * s);
gint t2i_vq_schedule_timesteps (const T2iVqSchedule * s);
gint t2i_vq_schedule_codes (const T2iVqSchedule * s);
/* log abar_t, log gbar_t (index -1 .. T - 1); for tests and reports */
double t2i_vq_schedule_log_cumprod_a (const T2iVqSchedule * s, gint t);
double t2i_vq_schedule_log_cumprod_g (const T2iVqSchedule * s, gint t);

/* log one-hot of tokens i32 [N, L]: [N, K + 1, L], log(1e-30) off the
 * token (f32) */
T2iTensor *t2i_vq_log_onehot (const T2iVqSchedule * s, T2iTensor * tokens);

/* log q(x_t | x_0) for log x_0 [N, K + 1, L] (any distribution) at the
 * items' steps @t (i32 [N], -1 allowed: the identity) */
T2iTensor *t2i_vq_q_pred (const T2iVqSchedule * s, T2iTensor * log_x0,
    T2iTensor * t);

/* samples x_t ~ q(x_t | x_0) for tokens x_0 [N, L] at steps @t, Gumbel-max
 * with noise from @rng: i32 [N, L] */
T2iTensor *t2i_vq_q_sample (const T2iVqSchedule * s, T2iTensor * x0,
    T2iTensor * t, T2iRng * rng);

/* log p(x_0 | x_t) from the network's logits [N, K, L]: log_softmax over
 * the codes, a mask row of -70, clamped to [-70, 0]: [N, K + 1, L];
 * differentiable */
T2iTensor *t2i_vq_log_x0 (T2iTensor * logits);

/**
 * t2i_vq_q_posterior:
 * @s: the schedule
 * @log_x0: log x_0 [N, K + 1, L]: one-hot (the true posterior) or the
 *   network's prediction (the model's p(x_{t-1} | x_t)); differentiable
 *   with respect to it
 * @xt: tokens x_t, i32 [N, L]
 * @t: the items' steps, i32 [N], 0 .. T - 1
 *
 * log q(x_{t-1} | x_t, x_0) (eq. 4) summed over x_0 with the weights
 * exp(@log_x0), the released code's log-space computation: clamped to
 * [-70, 0].
 *
 * Returns: [N, K + 1, L]
 */
T2iTensor *t2i_vq_q_posterior (const T2iVqSchedule * s, T2iTensor * log_x0,
    T2iTensor * xt, T2iTensor * t);

/**
 * t2i_vq_loss_terms:
 * @s: the schedule
 * @logits: the network's logits of x_0, [N, K, L]
 * @x0: the tokens, i32 [N, L]
 * @xt: the noised tokens, i32 [N, L]
 * @t: the steps, i32 [N]
 * @aux: (out) (optional): per item, the auxiliary term summed over tokens:
 *   KL(one-hot x_0 || p(x_0 | x_t)) over the codes (-log p(x_0 | x_t) at
 *   t = 0)
 *
 * Per item, summed over the tokens: KL(q(x_{t-1} | x_t, x_0) ||
 * p(x_{t-1} | x_t)) for t > 0 (eq. 7) and -log p(x_0 | x_t) through the
 * posterior at t = 0 (eq. 6), in nats.  Differentiable with respect to
 * @logits.
 *
 * Returns: [N]
 */
T2iTensor *t2i_vq_loss_terms (const T2iVqSchedule * s, T2iTensor * logits,
    T2iTensor * x0, T2iTensor * xt, T2iTensor * t, T2iTensor ** aux);

/**
 * t2i_vq_truncate:
 * @log_x0: log p(x_0 | x_t), [N, K + 1, L]
 * @r: keep, per token, the most probable codes whose probabilities sum to
 *   @r (the first always), the others at -70 (VQ-Diffusion's "top r");
 *   1 or more: no truncation
 *
 * Returns: [N, K + 1, L] (no gradient)
 */
T2iTensor *t2i_vq_truncate (T2iTensor * log_x0, double r);

/* classifier-free guidance on log p(x_0 | x_t): log p_u + @scale (log p_c -
 * log p_u) over the codes, renormalised, clamped, the mask row kept: the
 * paper's log p_c + (s - 1)(log p_c - log p_u) with s = @scale */
T2iTensor *t2i_vq_guide (T2iTensor * log_cond, T2iTensor * log_uncond,
    double scale);

/* x ~ Categorical(exp(@log_p)) over the classes, Gumbel-max with noise
 * from @rng: i32 [N, L] */
T2iTensor *t2i_vq_sample_categorical (T2iTensor * log_p, T2iRng * rng);

G_END_DECLS
