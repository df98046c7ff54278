/* t2i — learning-rate schedules.
 *
 * A #T2iLrSchedule gives the learning rate of one parameter group for a
 * step; the trainer asks it before every optimizer step and hands the
 * answer to t2i_optimizer_set_lr().  The kinds follow PyTorch's schedulers
 * (torch.optim.lr_scheduler, checked against goldens written with it):
 *
 *   constant  lr
 *   cosine    CosineAnnealingLR in closed form: min_lr + (lr - min_lr) *
 *             (1 + cos(pi * t / total)) / 2 for t <= total, then min_lr
 *             (PyTorch's cosine rises again past T_max; this one holds)
 *   step      StepLR: lr multiplied by factor every step_size steps, one
 *             multiplication at a time as PyTorch's chained updates do
 *   plateau   ReduceLROnPlateau: the caller reports a metric (a validation
 *             score, the loss) with t2i_lr_schedule_report(); after more
 *             than patience reports without an improvement larger than
 *             threshold the lr is multiplied by factor (not below min_lr),
 *             then cooldown reports are not counted
 *
 * Warm-up composes with every kind: for the first @warmup steps the lr goes
 * linearly from @warmup_from to @lr,
 *
 *   lr(step) = warmup_from + (lr - warmup_from) * step / warmup,
 *
 * (not below min_lr for the kinds that have one) and the main schedule does
 * not advance: step @warmup is the main schedule's step t = 0, cosine's
 * @total counts the steps after warm-up, and plateau ignores the metrics
 * reported for steps before @warmup.  This is VQ-Diffusion's
 * ReduceLROnPlateauWithWarmup (which CLIP-VQDiffusion trains with) with its
 * names mapped: its optimizer lr ("base_lr") is @warmup_from, its
 * "warmup_lr" is @lr, its "warmup" is @warmup; the ramp is computed in
 * closed form where VQ-Diffusion adds the increment once per step, so the
 * two agree to rounding.  (VQ-Diffusion's CosineAnnealingLRWithWarmup counts
 * its T_max from step 0: T_max = @warmup + @total.)
 *
 * A schedule is owned by one caller and not thread-safe.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define T2I_LR_SCHEDULE_ERROR (t2i_lr_schedule_error_quark ())
GQuark t2i_lr_schedule_error_quark (void);

/**
 * T2iLrScheduleError:
 * @T2I_LR_SCHEDULE_ERROR_INVALID: a configuration or specification is wrong
 * @T2I_LR_SCHEDULE_ERROR_STATE: saved state is missing, of another kind or
 *   malformed
 */
typedef enum {
  T2I_LR_SCHEDULE_ERROR_INVALID,
  T2I_LR_SCHEDULE_ERROR_STATE,
} T2iLrScheduleError;

typedef enum {
  T2I_LR_SCHEDULE_CONSTANT,
  T2I_LR_SCHEDULE_COSINE,
  T2I_LR_SCHEDULE_STEP,
  T2I_LR_SCHEDULE_PLATEAU,
} T2iLrScheduleKind;

/**
 * T2iLrScheduleConfig:
 * @kind: the main schedule
 * @lr: the base learning rate (the optimizer's), reached at the end of
 *   warm-up
 * @warmup: ("warmup") steps of linear warm-up, 0 for none
 * @warmup_from: ("warmup-from") learning rate at step 0 of warm-up
 * @total: ("total", cosine) steps from @lr down to @min_lr, after warm-up
 * @min_lr: ("min-lr", cosine and plateau) the lowest learning rate
 * @step_size: ("step-size", step) steps between two multiplications
 * @factor: ("factor", step and plateau) the multiplier; plateau needs
 *   0 <= @factor < 1
 * @maximize: ("mode=max", plateau) a larger metric is better (mode=min:
 *   smaller is better)
 * @patience: ("patience", plateau) reports without improvement that are
 *   tolerated; the lr drops on the one after
 * @threshold: ("threshold", plateau) the smallest improvement that counts,
 *   relative to the best value (threshold-mode=rel, the default: better
 *   means below best * (1 - threshold) in mode=min, above best *
 *   (1 + threshold) in mode=max) or absolute (threshold-mode=abs)
 * @threshold_abs: ("threshold-mode=abs", plateau) see @threshold
 * @cooldown: ("cooldown", plateau) reports after a reduction that are not
 *   counted as bad
 * @eps: ("eps", plateau) a reduction smaller than this is not applied
 *
 * In brackets, the key t2i_lr_schedule_config_parse() reads.
 */
typedef struct {
  T2iLrScheduleKind kind;
  double lr;
  guint64 warmup;
  double warmup_from;
  guint64 total;
  double min_lr;
  guint64 step_size;
  double factor;
  gboolean maximize;
  guint patience;
  double threshold;
  gboolean threshold_abs;
  guint cooldown;
  double eps;
} T2iLrScheduleConfig;

/* PyTorch's defaults for @kind (factor 0.1; plateau: mode=min, patience 10,
 * threshold 1e-4 relative, cooldown 0, min-lr 0, eps 1e-8), lr 1e-3, no
 * warm-up */
void t2i_lr_schedule_config_init (T2iLrScheduleConfig * config, T2iLrScheduleKind kind);

/**
 * t2i_lr_schedule_config_parse:
 * @config: filled in; @config->lr is kept
 * @spec: "KIND[,key=value...]", e.g. "cosine,total=10000,min-lr=1e-6,
 *   warmup=500"; the keys are those in brackets in #T2iLrScheduleConfig
 * @error: return location for a #GError
 *
 * Sets @config to the defaults of KIND, then applies the keys.  A key that
 * KIND does not read is an error that lists the keys it does.  Ranges are
 * checked by t2i_lr_schedule_new().
 *
 * Returns: %TRUE on success (@config is unchanged on failure)
 */
gboolean t2i_lr_schedule_config_parse (T2iLrScheduleConfig * config, const char *spec,
    GError ** error);

/* "constant", "cosine", "step", "plateau" */
const char *t2i_lr_schedule_kind_to_string (T2iLrScheduleKind kind);

typedef struct _T2iLrSchedule T2iLrSchedule;

/* a new schedule at its start, or %NULL with one line in @error when a value
 * of @config is out of range */
T2iLrSchedule *t2i_lr_schedule_new (const T2iLrScheduleConfig * config, GError ** error);
void t2i_lr_schedule_free (T2iLrSchedule * s);
const T2iLrScheduleConfig *t2i_lr_schedule_get_config (T2iLrSchedule * s);

/**
 * t2i_lr_schedule_lr:
 * @s: the schedule
 * @step: the optimizer steps done before this one (0 for the first step,
 *   t2i_optimizer_get_step() before t2i_optimizer_step())
 *
 * Returns: the learning rate for that step.  For plateau, the current
 *   reduced value once @step is past warm-up.
 */
double t2i_lr_schedule_lr (T2iLrSchedule * s, gint64 step);

/**
 * t2i_lr_schedule_report:
 * @s: the schedule
 * @step: the step the metric was measured at (as in t2i_lr_schedule_lr())
 * @metric: the monitored value
 *
 * One ReduceLROnPlateau.step(metric): updates the best value, the count of
 * bad reports and the cooldown, and reduces the lr.  Reports for steps in
 * warm-up are ignored, and so is every report to the other kinds.  A NaN
 * metric is never an improvement, as in PyTorch.
 *
 * Returns: %TRUE when the learning rate was reduced
 */
gboolean t2i_lr_schedule_report (T2iLrSchedule * s, gint64 step, double metric);

/**
 * t2i_lr_schedule_get_state:
 * @s: the schedule
 * @prefix: prepended to every key, e.g. "sched/<group>/"
 * @metadata: a string -> string table that frees keys and values with
 *   g_free()
 *
 * Adds "<prefix>kind" and, for plateau, "<prefix>lr", "<prefix>best",
 * "<prefix>bad-reports" and "<prefix>cooldown-left" (numbers written so that
 * they read back bit-exactly).  The other kinds are functions of the step
 * and keep no state beyond their configuration.
 */
void t2i_lr_schedule_get_state (T2iLrSchedule * s, const char *prefix,
    GHashTable * metadata);

/**
 * t2i_lr_schedule_set_state:
 * @s: the schedule
 * @prefix: as given to t2i_lr_schedule_get_state()
 * @metadata: string -> string, e.g. t2i_safetensors_get_metadata_table()
 * @error: return location for a #GError
 *
 * Restores what t2i_lr_schedule_get_state() saved, so that the schedule
 * continues exactly where it stopped (the configuration is @s's own: a
 * changed factor or patience applies from here).  Fails, changing nothing,
 * when "<prefix>kind" is missing or names another kind, or a value is
 * missing or not a number.
 *
 * Returns: %TRUE on success
 */
gboolean t2i_lr_schedule_set_state (T2iLrSchedule * s, const char *prefix,
    GHashTable * metadata, GError ** error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iLrSchedule, t2i_lr_schedule_free)

G_END_DECLS
