/* t2i — optimizers, gradient clipping and exponential moving averages.
 *
 * An optimizer updates the trainable f32 CPU parameters of one #T2iParamGroup
 * from their ->grad (parameters whose grad is %NULL are skipped, as in
 * PyTorch, and their state does not advance).  The update rules are
 * PyTorch's (torch.optim.SGD, Adam, AdamW, single-tensor path), in f32, and
 * are checked against goldens produced with PyTorch.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <t2i/params.h>
#include <t2i/safetensors.h>

G_BEGIN_DECLS

typedef enum {
  T2I_OPTIMIZER_SGD,
  T2I_OPTIMIZER_ADAM,
  T2I_OPTIMIZER_ADAMW,
} T2iOptimizerKind;

/**
 * T2iOptimizerConfig:
 * @kind: the update rule
 * @lr: learning rate
 * @momentum: SGD momentum (0: plain SGD, no state)
 * @dampening: SGD dampening
 * @nesterov: SGD Nesterov momentum (needs @momentum > 0 and @dampening 0)
 * @beta1: Adam first-moment decay
 * @beta2: Adam second-moment decay
 * @eps: Adam denominator epsilon
 * @weight_decay: L2 penalty added to the gradient (SGD, Adam) or decoupled
 *   decay of the weights (AdamW)
 *
 * Hyper-parameters of one group's optimizer; they may be changed between
 * steps (learning-rate schedules) through t2i_optimizer_get_config().
 */
typedef struct {
  T2iOptimizerKind kind;
  double lr;
  double momentum;
  double dampening;
  gboolean nesterov;
  double beta1;
  double beta2;
  double eps;
  double weight_decay;
} T2iOptimizerConfig;

/* PyTorch's defaults for @kind (SGD lr 1e-3; Adam lr 1e-3, betas 0.9/0.999,
 * eps 1e-8; AdamW the same with weight_decay 1e-2) */
void t2i_optimizer_config_init (T2iOptimizerConfig * config, T2iOptimizerKind kind);
/**
 * t2i_optimizer_config_lazy_regularization:
 * @config: a configuration to adjust in place
 * @interval: the regularisation runs every @interval steps (0 or 1: no-op)
 *
 * StyleGAN2's correction for lazy regularisation: with
 * ratio = @interval / (@interval + 1), multiplies lr by ratio and raises
 * beta1 and beta2 to the power ratio.
 */
void t2i_optimizer_config_lazy_regularization (T2iOptimizerConfig * config,
    guint interval);
/* "sgd", "adam", "adamw" */
const char *t2i_optimizer_kind_to_string (T2iOptimizerKind kind);
gboolean t2i_optimizer_kind_from_string (const char *name, T2iOptimizerKind * kind);

typedef struct _T2iOptimizer T2iOptimizer;

/* keeps a reference to @group */
T2iOptimizer *t2i_optimizer_new (T2iParamGroup * group, const T2iOptimizerConfig * config);
void t2i_optimizer_free (T2iOptimizer * opt);
T2iParamGroup *t2i_optimizer_get_group (T2iOptimizer * opt);
/* (transfer none): mutable; changes apply from the next step */
T2iOptimizerConfig *t2i_optimizer_get_config (T2iOptimizer * opt);
void t2i_optimizer_set_lr (T2iOptimizer * opt, double lr);
double t2i_optimizer_get_lr (T2iOptimizer * opt);

/* one update of every trainable parameter that has a grad */
void t2i_optimizer_step (T2iOptimizer * opt);
/* drops the gradients of the group's parameters */
void t2i_optimizer_zero_grad (T2iOptimizer * opt);
/* number of t2i_optimizer_step() calls (restored by load_state) */
guint64 t2i_optimizer_get_step (T2iOptimizer * opt);

/**
 * t2i_optimizer_state_tensors:
 * @opt: the optimizer
 * @names: a #GPtrArray freeing with g_free(); gets
 *   "optim/<group>/<local name>/<buffer>" names, buffer being exp_avg and
 *   exp_avg_sq (Adam, AdamW) or momentum_buffer (SGD)
 * @tensors: a #GPtrArray freeing with t2i_tensor_unref(); gets new
 *   references to the state tensors (live: write them before the next step)
 *
 * Appends the optimizer's state for a checkpoint.  Only parameters that have
 * been stepped have state.  Pair it with t2i_optimizer_state_metadata().
 */
void t2i_optimizer_state_tensors (T2iOptimizer * opt, GPtrArray * names,
    GPtrArray * tensors);

/**
 * t2i_optimizer_state_metadata:
 * @opt: the optimizer
 * @metadata: a string -> string table that frees keys and values with
 *   g_free()
 *
 * Adds "optim/<group>/step" and "optim/<group>/kind", and
 * "optim/<group>/<local name>/step" for each parameter whose own step count
 * differs from the group's (it missed steps without a grad).
 */
void t2i_optimizer_state_metadata (T2iOptimizer * opt, GHashTable * metadata);

/**
 * t2i_optimizer_load_state:
 * @opt: the optimizer
 * @st: a checkpoint written with the two functions above
 * @error: return location for a #GError
 *
 * Restores the step counters and state tensors so training continues
 * bit-exactly.  Fails (changing nothing) when the file has no state for the
 * group, was written by another kind of optimizer, or a state tensor's shape
 * differs from its parameter's.
 *
 * Returns: %TRUE on success
 */
gboolean t2i_optimizer_load_state (T2iOptimizer * opt, T2iSafetensors * st,
    GError ** error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iOptimizer, t2i_optimizer_free)

/* ---- gradient clipping ---- */

/* L2 norm of the concatenation of the ->grad of @params (NULL grads skipped) */
double t2i_grad_norm (T2iTensor * const *params, guint n);

/**
 * t2i_clip_grad_norm:
 * @params: tensors whose ->grad is clipped (%NULL grads are skipped)
 * @n: how many
 * @max_norm: the largest allowed global norm
 *
 * As torch.nn.utils.clip_grad_norm_: scales every gradient by
 * min(1, @max_norm / (norm + 1e-6)).  A non-finite norm propagates into the
 * gradients as in PyTorch; check the return value before stepping.
 *
 * Returns: the global L2 norm before clipping
 */
double t2i_clip_grad_norm (T2iTensor * const *params, guint n, double max_norm);
/* the same over the trainable parameters of @groups */
double t2i_param_groups_clip_grad_norm (T2iParamGroup * const *groups, guint n_groups,
    double max_norm);

/* ---- exponential moving average of weights ---- */

typedef struct _T2iEma T2iEma;

/**
 * t2i_ema_new:
 * @group: the live parameters (a reference is kept)
 * @name: (nullable): name of the shadow group, which is also its checkpoint
 *   prefix ("<name>."); %NULL means "<group>_ema", as StyleGAN's G_ema
 * @decay: the weight of the old average in each update
 *
 * Shadow copies of every parameter of @group (parameters added to @group
 * later are copied on the next update).  Trainable parameters are averaged;
 * frozen ones are copied as they are, like StyleGAN's buffers.
 */
T2iEma *t2i_ema_new (T2iParamGroup * group, const char *name, double decay);
void t2i_ema_free (T2iEma * ema);
/* (transfer none): the shadow parameters, for saving, loading and inference */
T2iParamGroup *t2i_ema_get_group (T2iEma * ema);
void t2i_ema_set_decay (T2iEma * ema, double decay);
double t2i_ema_get_decay (T2iEma * ema);
/**
 * t2i_ema_set_warmup:
 * @ema: the EMA
 * @warmup: ramp the decay up as min(decay, (1 + n) / (10 + n)), n being the
 *   number of updates so far (the timm / diffusers warm-up), so early
 *   averages are not dominated by the random initialisation
 */
void t2i_ema_set_warmup (T2iEma * ema, gboolean warmup);
/* shadow = decay * shadow + (1 - decay) * param, with the current decay */
void t2i_ema_update (T2iEma * ema);
/* one update with an explicit decay (e.g. from t2i_ema_stylegan_beta()) */
void t2i_ema_update_with_decay (T2iEma * ema, double decay);
guint64 t2i_ema_get_updates (T2iEma * ema);
void t2i_ema_set_updates (T2iEma * ema, guint64 n_updates);
/* writes the averages into the live parameters (e.g. before export) */
void t2i_ema_copy_to (T2iEma * ema);
/* exchanges averages and live values; call again to undo (evaluation) */
void t2i_ema_swap (T2iEma * ema);

/**
 * t2i_ema_stylegan_beta:
 * @ema_kimg: half-life of the average in thousands of images
 * @rampup: (ema_rampup) ratio limiting the half-life to @rampup * @cur_nimg
 *   early in training; <= 0 disables it
 * @cur_nimg: images shown so far
 * @batch_size: images per step
 *
 * StyleGAN2-ADA's decay: 0.5 ^ (batch / max(ema_nimg, 1e-8)) with
 * ema_nimg = min(@ema_kimg * 1000, @cur_nimg * @rampup).
 */
double t2i_ema_stylegan_beta (double ema_kimg, double rampup, guint64 cur_nimg,
    guint batch_size);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iEma, t2i_ema_free)

G_END_DECLS
