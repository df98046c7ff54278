/* t2itrainer: backpropagates the loss entries and steps the optimizers.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2itrainer
 * @title: t2itrainer
 *
 * The end of a training chain.  For each record it collects every
 * `loss/<name>` entry, sums the losses that update the same parameter group
 * (the group a loss updates is the caps field `loss/<name>.update`, set by
 * the loss element's update=), backpropagates each sum into that group's
 * trainable parameters only, and then steps one optimizer per group
 * (Adam, AdamW or SGD with PyTorch's update rules).  All backward passes
 * of a record run before any parameter changes.
 *
 * Groups are looked up by name in the pipeline's session, where elements
 * register them; the trainer marks the session as training, so elements
 * record autograd graphs.  Steps and epochs are set at the source: the
 * trainer trains on every record it receives.  A step is a batch: with
 * t2idatasetsrc phases=D,G each batch comes as a D record and a G record,
 * the losses compute only in their phases= and a group steps only on a
 * record that carries one of its losses, so D and G alternate (ICSD's
 * Algorithm 1: the D groups step on the D record, G on a fresh forward
 * against the updated discriminators); the step count, the moving
 * averages, reports and checkpoints advance at the end of the batch.
 *
 * Per group (@group-settings): the optimizer's hyper-parameters, gradient
 * clipping (optionally until a step, as VQ-Diffusion clips for its first
 * 5000), a learning-rate schedule (t2i/schedule.h: warm-up, cosine, step,
 * or reduce-on-plateau on the mean of a loss entry over each report, the
 * lr then changing at report steps), and the decay and update interval of
 * its moving average when @ema names it (several groups may have one).
 * The learning rate of each group is reported as `lr/<group>`.
 *
 * Checkpoint (@checkpoint): one safetensors file with every registered
 * group's parameters under their full names (`G.fc.weight`), the optimizer
 * state (`optim/<group>/<param>/exp_avg`, ...), the EMA shadows
 * (`ema/<group>.<param>`) and, in `__metadata__`, the format version, the
 * step, the session seed and RNG state, the optimizer step counters, the
 * schedules' state and a description of every network (`model/<group>`,
 * t2i/arch.h), so weights= alone rebuilds a generator from it.
 * It is written every @save-every steps and at EOS (when it trained since
 * the last save), to a temporary file that is renamed over the old one;
 * temporaries that a kill during a save left behind are removed when the
 * trainer starts (with a warning naming them).
 * With @resume the trainer restores parameters, optimizer state, EMA, RNG
 * and step from the file (when it exists) before the first record, and
 * sources skip the records already trained, so N steps equal N/2 steps +
 * resume + N/2 steps bit for bit.
 *
 * A NaN or infinite loss stops the pipeline with an error naming the loss
 * entry and the step; the last checkpoint written stays as it is.
 *
 * Samples (@samples): a second pipeline, in gst-launch syntax, run to its
 * end right after each checkpoint is written, in the trainer's thread (so
 * training waits for it and no parameter changes under it), with
 * `{checkpoint}` and `{step}` replaced by the file and the step.  A
 * generator in it loading `weights={checkpoint}` draws sample grids of a
 * fixed set of prompts as training goes; see pipelines/lafite-train-*.t2i.
 * After each run the trainer posts `t2i-samples` (step, checkpoint, files:
 * what the pipeline's sinks wrote, their location= or, for a numbered
 * one such as multifilesink's, each file up to its index; captions and
 * columns: those of the first grid, when a t2itovideo in it sets
 * captions= and so posts `t2i-captions`).
 * The descriptions are parsed when the trainer starts, and its elements
 * that do not read `{checkpoint}` are taken to READY and back, so a typo,
 * a missing prompts file or a missing model fails at once, not at the
 * first save.
 *
 * Evaluation (@eval): a third pipeline, like @samples and run after it,
 * whose `t2i-metric` messages (t2imetric at its end) the trainer posts
 * again as `t2i-eval`: the same fields plus step, checkpoint and source
 * (the metric element's name), so t2i-launch logs and reports FID or
 * attribute accuracy per checkpoint.  Warnings of both pipelines become
 * the trainer's, prefixed with "samples at step N: ELEMENT:".
 * Both descriptions are parsed once at start, so a typo fails at once.
 *
 * Messages: `t2i-train` (step, epoch, phase when the records have one,
 * items-per-second, `lr/<group>`, and the mean of each loss entry since
 * the last report as a double field named after the entry, e.g. `loss/G`)
 * every @report-every steps, `t2i-checkpoint` (path, step) after each
 * save, then `t2i-samples` and `t2i-eval` as above.
 *
 * Data-parallel (`mpirun -np K t2i-launch ...`, docs/distributed.md): each
 * rank trains on its shard of the data (t2idatasetsrc), and before every
 * optimizer step the trainer replaces each group's gradients by their mean
 * over the ranks (one fused all-reduce per group and record), so every rank
 * takes the same step: K ranks at batch-size B train as one process at
 * K B (lr is not scaled).  The losses it reports and checks for NaN are
 * the ranks' means, the group's other tensors (moving averages such as
 * StyleGAN2's w_avg) are averaged after its step, and at start every
 * rank takes rank 0's parameters.  Rank 0 alone writes checkpoints, runs
 * @samples and posts messages; at each save and at the end the ranks
 * compare a hash of their parameters and stop with an error if they
 * differ.  Resuming needs the same checkpoint on every rank (a shared
 * filesystem) and the number of ranks that wrote it (the metadata `ranks`;
 * another number is a warning: the batch of a step changes).
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itensorsrc location=in.safetensors repeat=4 ! t2igenerator name=G cond=x noise=y resolution=16 channels=32 w-dim=32 cond-hidden=32 mapping-layers=2 ! t2idiscriminator name=D real="" fake=fake cond=x channels=32 ! t2iloss kind=gan-logistic-g update=G output=G ! t2itrainer lr=0.002 betas=0,0.99 ema=G checkpoint=run.safetensors save-every=2
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2itrainer.h"

#include <math.h>
#include <string.h>
#include <t2i/t2i.h>

GST_DEBUG_CATEGORY_STATIC (t2i_trainer_debug);
#define GST_CAT_DEFAULT t2i_trainer_debug

#define CHECKPOINT_FORMAT "t2i-checkpoint"
#define CHECKPOINT_VERSION "1"
#define GROUP_SETTINGS_EXAMPLE "G:lr=0.002,betas=0,0.99;D:lr=0.002," \
    "schedule=cosine,warmup=500,total=20000,clip=1"

/* hyper-parameters; has_* say which ones a group-settings entry sets */
typedef struct
{
  gboolean has_kind, has_lr, has_betas, has_eps, has_wd, has_momentum;
  gboolean has_clip, has_clip_until, has_ema_decay, has_ema_every;
  T2iOptimizerKind kind;
  double lr, beta1, beta2, eps, wd, momentum, clip, ema_decay;
  gint64 clip_until;
  guint ema_every;
  GString *schedule;            /* "KIND,key=value,..." or NULL */
  gchar *metric;                /* plateau: the loss entry it watches */
} Settings;

/* one parameter group the trainer steps */
typedef struct
{
  gchar *name;
  T2iParamGroup *group;
  T2iOptimizer *opt;
  T2iLrSchedule *schedule;      /* NULL: the constant lr */
  const char *metric;           /* plateau metric (in its Settings) */
  double clip;                  /* largest gradient norm, 0: none */
  gint64 clip_until;            /* clip before this step only, -1: always */
  T2iTensor *loss;              /* this record's sum, NULL between records */
} Slot;

/* one moving average */
typedef struct
{
  gchar *group;
  T2iEma *ema;
  guint every;
} Average;

typedef struct
{
  double sum;
  guint n;
} LossStat;

struct _T2iTrainer
{
  GstBaseSink parent;

  /* properties */
  T2iOptimizerKind optimizer;
  gdouble lr, eps, weight_decay, momentum, clip_grad_norm, ema_decay;
  gchar *betas, *group_settings, *ema, *checkpoint, *samples, *eval;
  guint save_every, report_every;
  gboolean resume;

  /* parsed in NULL->READY */
  double beta1, beta2;
  GHashTable *overrides;        /* group name -> Settings* */

  T2iSession *session;
  GHashTable *loss_groups;      /* "loss/x" -> group name, from the caps */
  GPtrArray *slots;             /* Slot*, sorted by name */
  GPtrArray *averages;          /* Average*, in ema= order */
  T2iSafetensors *resume_file;  /* open until the parameters are loaded */
  gint rank, size;              /* data-parallel: this rank of size */
  gboolean synced;              /* rank 0's parameters taken */
  GArray *loss_values;          /* this record's loss values (double) */
  GArray *buffers;              /* averaging a group's other tensors */
  gint64 step;                  /* steps done */
  gint64 saved_step;            /* step of the file on disk, -1 if none */
  gint64 epoch;
  gchar phase[8];
  gboolean failed;

  /* reporting */
  GHashTable *loss_stats;       /* entry -> LossStat* */
  GPtrArray *loss_order;        /* entry names in first-seen order */
  gint64 report_time;
  gint64 report_items;
};

enum
{
  PROP_0,
  PROP_OPTIMIZER,
  PROP_LR,
  PROP_BETAS,
  PROP_EPS,
  PROP_WEIGHT_DECAY,
  PROP_MOMENTUM,
  PROP_GROUP_SETTINGS,
  PROP_CLIP_GRAD_NORM,
  PROP_EMA,
  PROP_EMA_DECAY,
  PROP_CHECKPOINT,
  PROP_SAVE_EVERY,
  PROP_RESUME,
  PROP_REPORT_EVERY,
  PROP_SAMPLES,
  PROP_EVAL,
};

#define DEFAULT_OPTIMIZER T2I_OPTIMIZER_ADAM
#define DEFAULT_LR 1e-3
#define DEFAULT_BETAS "0.9,0.999"
#define DEFAULT_EPS 1e-8
#define DEFAULT_WEIGHT_DECAY -1.0
#define DEFAULT_EMA_DECAY 0.999
#define DEFAULT_REPORT_EVERY 10

#define EXAMPLE "t2itensorsrc location=in.safetensors repeat=4 ! " \
    "t2igenerator name=G cond=x noise=y resolution=16 channels=32 " \
    "w-dim=32 cond-hidden=32 mapping-layers=2 ! t2idiscriminator name=D " \
    "real=\"\" fake=fake cond=x channels=32 ! t2iloss kind=gan-logistic-g " \
    "update=G output=G ! t2itrainer lr=0.002 betas=0,0.99 ema=G " \
    "checkpoint=run.safetensors save-every=2"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (T2I_RECORD_CAPS_NAME));

#define T2I_TYPE_TRAINER_OPTIMIZER (t2i_trainer_optimizer_get_type ())
static GType
t2i_trainer_optimizer_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {T2I_OPTIMIZER_SGD, "SGD (momentum= for momentum)", "sgd"},
    {T2I_OPTIMIZER_ADAM, "Adam (L2 weight decay)", "adam"},
    {T2I_OPTIMIZER_ADAMW, "AdamW (decoupled weight decay)", "adamw"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iTrainerOptimizer", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE_WITH_CODE (T2iTrainer, t2i_trainer, GST_TYPE_BASE_SINK,
    GST_DEBUG_CATEGORY_INIT (t2i_trainer_debug, "t2itrainer", 0,
        "t2i trainer"));
GST_ELEMENT_REGISTER_DEFINE (t2itrainer, "t2itrainer", GST_RANK_NONE,
    T2I_TYPE_TRAINER);

/* ---- parsing ---- */

static gboolean
parse_double (const char *s, double *out)
{
  char *end = NULL;
  s = s ? s : "";
  while (g_ascii_isspace (*s))
    s++;
  if (!*s)
    return FALSE;
  double v = g_ascii_strtod (s, &end);
  while (end && g_ascii_isspace (*end))
    end++;
  if (!end || *end || !isfinite (v))
    return FALSE;
  *out = v;
  return TRUE;
}

/* "b1,b2", both in [0, 1) */
static gboolean
parse_betas (const char *s, double *b1, double *b2)
{
  g_auto (GStrv) parts = g_strsplit (s ? s : "", ",", -1);
  return g_strv_length (parts) == 2 && parse_double (parts[0], b1)
      && parse_double (parts[1], b2) && *b1 >= 0 && *b1 < 1 && *b2 >= 0
      && *b2 < 1;
}

static void
settings_free (gpointer p)
{
  Settings *set = p;
  if (set->schedule)
    g_string_free (set->schedule, TRUE);
  g_free (set->metric);
  g_free (set);
}

static void
average_free (gpointer p)
{
  Average *a = p;
  g_free (a->group);
  g_clear_pointer (&a->ema, t2i_ema_free);
  g_free (a);
}

static void
slot_free (gpointer p)
{
  Slot *s = p;
  g_free (s->name);
  g_clear_pointer (&s->schedule, t2i_lr_schedule_free);
  g_clear_pointer (&s->opt, t2i_optimizer_free);
  g_clear_pointer (&s->group, t2i_param_group_unref);
  g_clear_pointer (&s->loss, t2i_tensor_unref);
  g_free (s);
}

/* the keys of a learning-rate schedule (t2i/schedule.h) in group-settings */
static const char *const schedule_keys[] = {
  "warmup", "warmup-from", "total", "min-lr", "step-size", "factor", "mode",
  "patience", "threshold", "threshold-mode", "cooldown", NULL
};

/* one "GROUP:key=value,key=value" entry; the value of betas holds a comma,
 * so a piece without '=' continues the previous value */
static gboolean
parse_group_entry (const char *entry, GHashTable * out, GString * why)
{
  const char *colon = strchr (entry, ':');
  if (!colon) {
    g_string_printf (why, "entry '%s' has no ':' after the group name", entry);
    return FALSE;
  }
  g_autofree char *group = g_strstrip (g_strndup (entry, colon - entry));
  if (!*group) {
    g_string_printf (why, "entry '%s' has an empty group name", entry);
    return FALSE;
  }
  if (g_hash_table_contains (out, group)) {
    g_string_printf (why, "group '%s' appears twice", group);
    return FALSE;
  }
  g_auto (GStrv) pieces = g_strsplit (colon + 1, ",", -1);
  g_autoptr (GPtrArray) pairs = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; pieces[i]; i++) {
    const char *p = g_strstrip (pieces[i]);
    if (strchr (p, '=')) {
      g_ptr_array_add (pairs, g_strdup (p));
    } else if (pairs->len > 0 && *p) {
      char *prev = pairs->pdata[pairs->len - 1];
      pairs->pdata[pairs->len - 1] = g_strconcat (prev, ",", p, NULL);
      g_free (prev);
    } else {
      g_string_printf (why, "group '%s': '%s' is not key=value", group, p);
      return FALSE;
    }
  }
  if (pairs->len == 0) {
    g_string_printf (why, "group '%s' sets nothing", group);
    return FALSE;
  }

  Settings *set = g_new0 (Settings, 1);
  g_autoptr (GString) sched_keys = g_string_new (NULL);
  for (guint i = 0; i < pairs->len; i++) {
    char *kv = pairs->pdata[i];
    char *eq = strchr (kv, '=');
    *eq = 0;
    const char *key = g_strstrip (kv), *val = g_strstrip (eq + 1);
    gboolean ok;
    guint64 u;
    if (g_strv_contains (schedule_keys, key)) {
      g_string_append_printf (sched_keys, ",%s=%s", key, val);
      ok = TRUE;
    } else if (g_str_equal (key, "schedule")) {
      ok = *val != 0;
      if (ok)
        set->schedule = g_string_new (val);
    } else if (g_str_equal (key, "metric")) {
      ok = g_str_has_prefix (val, "loss/");
      g_free (set->metric);
      set->metric = g_strdup (val);
    } else if (g_str_equal (key, "clip")) {
      ok = set->has_clip = parse_double (val, &set->clip) && set->clip >= 0;
    } else if (g_str_equal (key, "clip-until")) {
      ok = set->has_clip_until = g_ascii_string_to_unsigned (val, 10, 0,
          G_MAXINT64, &u, NULL);
      set->clip_until = (gint64) u;
    } else if (g_str_equal (key, "ema-decay")) {
      ok = set->has_ema_decay = parse_double (val, &set->ema_decay)
          && set->ema_decay >= 0 && set->ema_decay <= 1;
    } else if (g_str_equal (key, "ema-every")) {
      ok = set->has_ema_every = g_ascii_string_to_unsigned (val, 10, 1,
          G_MAXUINT, &u, NULL);
      set->ema_every = (guint) u;
    } else if (g_str_equal (key, "lr")) {
      ok = set->has_lr = parse_double (val, &set->lr) && set->lr >= 0;
    } else if (g_str_equal (key, "betas")) {
      ok = set->has_betas = parse_betas (val, &set->beta1, &set->beta2);
    } else if (g_str_equal (key, "eps")) {
      ok = set->has_eps = parse_double (val, &set->eps) && set->eps >= 0;
    } else if (g_str_equal (key, "weight-decay")) {
      ok = set->has_wd = parse_double (val, &set->wd) && set->wd >= 0;
    } else if (g_str_equal (key, "momentum")) {
      ok = set->has_momentum = parse_double (val, &set->momentum)
          && set->momentum >= 0;
    } else if (g_str_equal (key, "optimizer")) {
      ok = set->has_kind = t2i_optimizer_kind_from_string (val, &set->kind);
    } else {
      g_autofree char *sk = g_strjoinv (", ", (gchar **) schedule_keys);
      g_string_printf (why, "group '%s': unknown key '%s' (use lr, betas, "
          "eps, weight-decay, momentum, optimizer, clip, clip-until, "
          "ema-decay, ema-every, schedule, metric or the schedule's %s)",
          group, key, sk);
      settings_free (set);
      return FALSE;
    }
    if (!ok) {
      g_string_printf (why, "group '%s': bad value '%s' for %s", group, val,
          key);
      settings_free (set);
      return FALSE;
    }
  }
  if (sched_keys->len && !set->schedule)
    set->schedule = g_string_new ("constant");
  if (set->schedule)
    g_string_append (set->schedule, sched_keys->str);
  if (set->metric && (!set->schedule || !g_str_has_prefix
          (set->schedule->str, "plateau"))) {
    g_string_printf (why, "group '%s': metric=%s is for schedule=plateau",
        group, set->metric);
    settings_free (set);
    return FALSE;
  }
  if (set->schedule) {
    /* a typo fails now; lr is the group's, checked when it is known */
    T2iLrScheduleConfig c;
    GError *err = NULL;
    t2i_lr_schedule_config_init (&c, T2I_LR_SCHEDULE_CONSTANT);
    if (!t2i_lr_schedule_config_parse (&c, set->schedule->str, &err)) {
      g_string_printf (why, "group '%s': %s", group, err->message);
      g_error_free (err);
      settings_free (set);
      return FALSE;
    }
    if (c.kind == T2I_LR_SCHEDULE_PLATEAU && !set->metric) {
      g_string_printf (why, "group '%s': schedule=plateau needs metric=loss/"
          "NAME, the loss whose mean over each report it watches", group);
      settings_free (set);
      return FALSE;
    }
  }
  g_hash_table_insert (out, g_steal_pointer (&group), set);
  return TRUE;
}

/* ---- the samples= and eval= pipelines ---- */

/* A side pipeline: @samples or @eval, run to its end after each save. */
typedef enum
{
  SIDE_SAMPLES,
  SIDE_EVAL,
} Side;

static const char *const side_names[] = { "samples", "eval" };

static const char *
side_template (T2iTrainer * self, Side side)
{
  const char *t = side == SIDE_SAMPLES ? self->samples : self->eval;
  return t && *t ? t : NULL;
}

/* the template with {checkpoint} and {step} replaced */
static gchar *
side_description (const char *template, const char *checkpoint, gint64 step)
{
  GString *d = g_string_new (template);
  g_autofree gchar *num = g_strdup_printf ("%" G_GINT64_FORMAT, step);
  g_string_replace (d, "{checkpoint}", checkpoint, 0);
  g_string_replace (d, "{step}", num, 0);
  return g_string_free (d, FALSE);
}

/* whether a string property of @e names @checkpoint (weights={checkpoint}) */
static gboolean
reads_checkpoint (GstElement * e, const char *checkpoint)
{
  guint n;
  g_autofree GParamSpec **props =
      g_object_class_list_properties (G_OBJECT_GET_CLASS (e), &n);
  for (guint i = 0; i < n; i++) {
    if (props[i]->value_type != G_TYPE_STRING
        || !(props[i]->flags & G_PARAM_READABLE))
      continue;
    g_autofree gchar *v = NULL;
    g_object_get (e, props[i]->name, &v, NULL);
    if (v && strstr (v, checkpoint))
      return TRUE;
  }
  return FALSE;
}

/* Takes the elements of the samples pipeline to READY, except sinks
 * (filesink creates its file there) and, with @skip_readers, those that
 * read the checkpoint (it may not exist yet): what they check there (a
 * prompts file, a model's weights=) fails before any sink has opened its
 * output, so a failing samples run leaves no empty image behind.  Posts
 * the error itself. */
static gboolean
check_samples (T2iTrainer * self, const char *name, GstElement * pipe,
    gboolean skip_readers)
{
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipe));
  GValue item = G_VALUE_INIT;
  gboolean ok = TRUE, done = FALSE;

  while (ok && !done) {
    switch (gst_iterator_next (it, &item)) {
      case GST_ITERATOR_OK:{
        GstElement *e = g_value_get_object (&item);
        if (!GST_IS_BIN (e)
            && !GST_OBJECT_FLAG_IS_SET (e, GST_ELEMENT_FLAG_SINK)
            && !(skip_readers && reads_checkpoint (e, self->checkpoint))
            && gst_element_set_state (e, GST_STATE_READY)
            == GST_STATE_CHANGE_FAILURE) {
          g_autoptr (GstBus) bus = gst_element_get_bus (pipe);
          g_autoptr (GstMessage) msg = gst_bus_pop_filtered (bus,
              GST_MESSAGE_ERROR);
          GError *err = NULL;
          if (msg)
            gst_message_parse_error (msg, &err, NULL);
          GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
              ("%s: %s: %s", name, GST_OBJECT_NAME (e), err ? err->message :
                  "cannot start"), (NULL));
          g_clear_error (&err);
          ok = FALSE;
        }
        g_value_reset (&item);
        break;
      }
      case GST_ITERATOR_RESYNC:
        gst_iterator_resync (it);
        break;
      default:
        done = TRUE;
    }
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  return ok;
}

/* "out/grid-%03d.png" with @index, when the pattern holds exactly one
 * integer conversion (multifilesink's location); NULL otherwise */
static gchar *
format_numbered (const char *pattern, guint index)
{
  GString *out = g_string_new (NULL);
  guint conversions = 0;
  gboolean bad = FALSE;

  for (const char *p = pattern; *p && !bad; p++) {
    if (*p != '%') {
      g_string_append_c (out, *p);
      continue;
    }
    if (p[1] == '%') {
      g_string_append_c (out, '%');
      p++;
      continue;
    }
    const char *q = p + 1;
    gboolean zero = *q == '0';
    guint width = 0;
    while (g_ascii_isdigit (*q))
      width = MIN (width * 10 + (guint) (*q++ - '0'), 64);
    bad = (*q != 'd' && *q != 'u' && *q != 'i') || ++conversions > 1;
    if (!bad)
      g_string_append_printf (out, zero ? "%0*u" : "%*u", (int) width, index);
    p = q;
  }
  if (bad || conversions != 1) {
    g_string_free (out, TRUE);
    return NULL;
  }
  return g_string_free (out, FALSE);
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The files the side pipeline's sinks wrote: the location= of every sink
 * that has one (filesink), or each file of a numbered location=
 * (multifilesink, up to its index=), that exists; sorted. */
static GPtrArray *
side_files (GstElement * pipe)
{
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  GstIterator *it = gst_bin_iterate_recurse (GST_BIN (pipe));
  GValue item = G_VALUE_INIT;

  while (gst_iterator_next (it, &item) == GST_ITERATOR_OK) {
    GObject *e = g_value_get_object (&item);
    GParamSpec *loc = g_object_class_find_property (G_OBJECT_GET_CLASS (e),
        "location");
    GParamSpec *idx = g_object_class_find_property (G_OBJECT_GET_CLASS (e),
        "index");
    g_autofree gchar *location = NULL;

    if (GST_IS_BASE_SINK (e) && loc && loc->value_type == G_TYPE_STRING)
      g_object_get (e, "location", &location, NULL);
    if (location && !strchr (location, '%')) {
      if (g_file_test (location, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (files, g_strdup (location));
    } else if (location && idx && (idx->value_type == G_TYPE_INT
            || idx->value_type == G_TYPE_UINT)) {
      GValue v = G_VALUE_INIT;
      g_value_init (&v, idx->value_type);
      g_object_get_property (e, "index", &v);
      gint64 n = idx->value_type == G_TYPE_INT ? g_value_get_int (&v) :
          (gint64) g_value_get_uint (&v);
      for (gint64 i = 0; i < MIN (n, 10000); i++) {
        gchar *path = format_numbered (location, (guint) i);
        if (path && g_file_test (path, G_FILE_TEST_IS_REGULAR))
          g_ptr_array_add (files, path);
        else
          g_free (path);
      }
    }
    g_value_reset (&item);
  }
  g_value_unset (&item);
  gst_iterator_free (it);
  g_ptr_array_sort (files, compare_strings);
  return files;
}

static void
take_strings (GstStructure * s, const char *field, const gchar * const *v,
    guint n)
{
  GValue array = G_VALUE_INIT, item = G_VALUE_INIT;
  gst_value_array_init (&array, n);
  for (guint i = 0; i < n; i++) {
    g_value_init (&item, G_TYPE_STRING);
    g_value_set_string (&item, v[i]);
    gst_value_array_append_and_take_value (&array, &item);
  }
  gst_structure_take_value (s, field, &array);
}

/* `t2i-samples` {step, checkpoint, files, captions, columns}: what the
 * samples pipeline wrote, with the captions of its first grid when a
 * t2itovideo in it posted them (captions=) */
static void
post_samples (T2iTrainer * self, GstElement * pipe, gint64 step,
    const GstStructure * captions)
{
  g_autoptr (GPtrArray) files = side_files (pipe);
  GstStructure *s = gst_structure_new ("t2i-samples", "step", G_TYPE_INT64,
      step, "checkpoint", G_TYPE_STRING, self->checkpoint, NULL);
  gint columns;

  take_strings (s, "files", (const gchar * const *) files->pdata, files->len);
  if (captions) {
    const GValue *c = gst_structure_get_value (captions, "captions");
    if (c)
      gst_structure_set_value (s, "captions", c);
    if (gst_structure_get_int (captions, "columns", &columns))
      gst_structure_set (s, "columns", G_TYPE_INT, columns, NULL);
  }
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

/* a t2i-metric of the eval pipeline, on the main bus as `t2i-eval` with
 * the step, the checkpoint and the metric element's name (source) */
static void
post_eval (T2iTrainer * self, GstMessage * msg, gint64 step)
{
  GstStructure *s = gst_structure_copy (gst_message_get_structure (msg));
  gst_structure_set_name (s, "t2i-eval");
  gst_structure_set (s, "step", G_TYPE_INT64, step, "checkpoint",
      G_TYPE_STRING, self->checkpoint, "source", G_TYPE_STRING,
      GST_MESSAGE_SRC_NAME (msg), NULL);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

/* Parses (and with @run, plays to EOS) a side pipeline; posts the error
 * itself.  Its warnings become the trainer's; after a samples run the
 * trainer posts t2i-samples, and each t2i-metric of an eval run becomes a
 * t2i-eval. */
static gboolean
run_side (T2iTrainer * self, Side side, const char *checkpoint, gint64 step,
    gboolean run)
{
  const char *name = side_names[side];
  g_autofree gchar *desc = side_description (side_template (self, side),
      checkpoint, step);
  GError *err = NULL;
  GstElement *pipe = t2i_parse_launch (desc, NULL, &err);
  if (!pipe) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("%s: %s%s", name, err->message, err->domain == GST_PARSE_ERROR ?
            "; the property takes a pipeline in gst-launch syntax" : ""),
        (NULL));
    g_error_free (err);
    return FALSE;
  }
  /* a session of its own on the trainer's device, in its precision; rank
   * 0 runs it alone, not part of the job */
  gboolean ok = TRUE;
  GstStructure *captions = NULL;
  {
    g_autoptr (T2iSession) ss = t2i_session_new ();
    g_autoptr (GError) error = NULL;
    if (!t2i_session_set_compute (ss, t2i_session_get_device (self->session),
            t2i_session_get_precision (self->session), &error)) {
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("%s: %s", name,
              error->message), (NULL));
      gst_object_unref (pipe);
      return FALSE;
    }
    if (run)
      t2i_session_set_rank (ss, 0, 1);
    t2i_session_provide (ss, pipe);
  }
  /* what its elements check at READY fails before a sink opens a file */
  if (!check_samples (self, name, pipe, !run)) {
    gst_element_set_state (pipe, GST_STATE_NULL);
    gst_object_unref (pipe);
    return FALSE;
  }
  GstBus *bus = gst_element_get_bus (pipe);
  /* a failed start has its element's error on the bus; without one the
   * wait below would never end */
  GstClockTime wait = GST_CLOCK_TIME_NONE;
  if (run && gst_element_set_state (pipe, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE)
    wait = 0;
  for (gboolean done = !run; !done;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, wait,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING |
        GST_MESSAGE_ELEMENT);
    if (!msg) {
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
          ("%s at step %" G_GINT64_FORMAT ": the pipeline could not be "
              "started", name, step), (NULL));
      ok = FALSE;
      break;
    }
    const GstStructure *ms = gst_message_get_structure (msg);
    switch (GST_MESSAGE_TYPE (msg)) {
      case GST_MESSAGE_ERROR:
        gst_message_parse_error (msg, &err, NULL);
        GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
            ("%s at step %" G_GINT64_FORMAT ": %s: %s", name, step,
                GST_MESSAGE_SRC_NAME (msg), err->message), (NULL));
        g_clear_error (&err);
        ok = FALSE;
        done = TRUE;
        break;
      case GST_MESSAGE_WARNING:
        gst_message_parse_warning (msg, &err, NULL);
        GST_ELEMENT_WARNING (self, RESOURCE, FAILED,
            ("%s at step %" G_GINT64_FORMAT ": %s: %s", name, step,
                GST_MESSAGE_SRC_NAME (msg), err->message), (NULL));
        g_clear_error (&err);
        break;
      case GST_MESSAGE_ELEMENT:
        if (side == SIDE_EVAL && gst_structure_has_name (ms, "t2i-metric"))
          post_eval (self, msg, step);
        else if (side == SIDE_SAMPLES && !captions
            && gst_structure_has_name (ms, "t2i-captions"))
          captions = gst_structure_copy (ms);
        break;
      default:
        done = TRUE;
        break;
    }
    gst_message_unref (msg);
  }
  gst_object_unref (bus);
  if (run && ok && side == SIDE_SAMPLES)
    post_samples (self, pipe, step, captions);
  g_clear_pointer (&captions, gst_structure_free);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  return ok;
}

/* validates the properties; posts one error line and returns FALSE */
static gboolean
parse_settings (T2iTrainer * self)
{
  if (!parse_betas (self->betas, &self->beta1, &self->beta2)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("betas=\"%s\" is not two numbers in [0, 1) separated by a comma "
            "(e.g. betas=\"0.5,0.999\")", self->betas ? self->betas : ""),
        (NULL));
    return FALSE;
  }
  g_clear_pointer (&self->overrides, g_hash_table_unref);
  self->overrides = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      settings_free);
  g_auto (GStrv) entries = g_strsplit (self->group_settings ?
      self->group_settings : "", ";", -1);
  g_autoptr (GString) why = g_string_new (NULL);
  for (guint i = 0; entries[i]; i++) {
    const char *e = g_strstrip (entries[i]);
    if (*e && !parse_group_entry (e, self->overrides, why)) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("group-settings=\"%s\": %s; write it like \"%s\"",
              self->group_settings, why->str, GROUP_SETTINGS_EXAMPLE), (NULL));
      return FALSE;
    }
  }
  if (self->resume && (!self->checkpoint || !*self->checkpoint)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("resume=true needs checkpoint=FILE to resume from"), (NULL));
    return FALSE;
  }
  if (self->save_every > 0 && (!self->checkpoint || !*self->checkpoint)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("save-every=%u needs checkpoint=FILE to write to", self->save_every),
        (NULL));
    return FALSE;
  }
  for (Side side = SIDE_SAMPLES; side <= SIDE_EVAL; side++) {
    if (!side_template (self, side))
      continue;
    if (!self->checkpoint || !*self->checkpoint) {
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("%s needs checkpoint=FILE: it runs after each save",
              side_names[side]), (NULL));
      return FALSE;
    }
    /* a typo fails now, not after the first save-every steps */
    if (!run_side (self, side, self->checkpoint, 0, FALSE))
      return FALSE;
  }
  return TRUE;
}

static void
config_for_group (T2iTrainer * self, const char *group,
    T2iOptimizerConfig * c)
{
  Settings *o = g_hash_table_lookup (self->overrides, group);
  t2i_optimizer_config_init (c, o && o->has_kind ? o->kind : self->optimizer);
  c->lr = self->lr;
  c->beta1 = self->beta1;
  c->beta2 = self->beta2;
  c->eps = self->eps;
  c->momentum = self->momentum;
  if (self->weight_decay >= 0)
    c->weight_decay = self->weight_decay;
  if (!o)
    return;
  if (o->has_lr)
    c->lr = o->lr;
  if (o->has_betas) {
    c->beta1 = o->beta1;
    c->beta2 = o->beta2;
  }
  if (o->has_eps)
    c->eps = o->eps;
  if (o->has_wd)
    c->weight_decay = o->wd;
  if (o->has_momentum)
    c->momentum = o->momentum;
}

/* ---- groups ---- */

static char *
list_groups (T2iTrainer * self)
{
  g_auto (GStrv) groups = t2i_session_list_groups (self->session);
  return groups[0] ? g_strjoinv (", ", groups) : g_strdup ("none");
}

static Slot *
find_slot (T2iTrainer * self, const char *name)
{
  for (guint i = 0; i < self->slots->len; i++) {
    Slot *s = self->slots->pdata[i];
    if (g_str_equal (s->name, name))
      return s;
  }
  return NULL;
}

static gint
compare_slots (gconstpointer a, gconstpointer b)
{
  const Slot *x = *(Slot * const *) a, *y = *(Slot * const *) b;
  return strcmp (x->name, y->name);
}

/* ---- data-parallel (docs/distributed.md) ---- */

/* posts @err as the element's one error line; returns FALSE */
static gboolean
dist_failed (T2iTrainer * self, GError * err)
{
  GST_ELEMENT_ERROR (self, STREAM, FAILED, ("data-parallel: %s",
          err->message), (NULL));
  g_error_free (err);
  self->failed = TRUE;
  return FALSE;
}

/* rank 0's values of @tensors (CPU) on every rank, in one broadcast */
static gboolean
broadcast_tensors (T2iTrainer * self, GPtrArray * tensors)
{
  gsize total = 0, off = 0;
  GError *err = NULL;

  for (guint i = 0; i < tensors->len; i++)
    total += ((T2iTensor *) tensors->pdata[i])->nbytes;
  guint8 *buf = g_malloc (MAX (total, 1));
  for (guint i = 0; i < tensors->len; i++) {
    T2iTensor *t = tensors->pdata[i];
    memcpy (buf + off, t->data, t->nbytes);
    off += t->nbytes;
  }
  gboolean ok = t2i_dist_broadcast (buf, total, &err);
  off = 0;
  for (guint i = 0; ok && i < tensors->len; i++) {
    T2iTensor *t = tensors->pdata[i];
    memcpy (t->data, buf + off, t->nbytes);
    off += t->nbytes;
  }
  g_free (buf);
  return ok || dist_failed (self, err);
}

/* every parameter of @group, trainable or not */
static void
add_values (GPtrArray * out, T2iParamGroup * group)
{
  for (guint i = 0; i < t2i_param_group_n_params (group); i++)
    g_ptr_array_add (out, t2i_param_group_get (group, i)->value);
}

/* Before the first step: every rank takes rank 0's parameters of the
 * groups it trains and of their moving averages (they agree already when
 * initialised from the same seed or loaded from the same file; this makes
 * sure). */
static gboolean
sync_parameters (T2iTrainer * self)
{
  g_autoptr (GPtrArray) values = g_ptr_array_new ();
  for (guint i = 0; i < self->slots->len; i++)
    add_values (values, ((Slot *) self->slots->pdata[i])->group);
  for (guint i = 0; i < self->averages->len; i++)
    add_values (values, t2i_ema_get_group (((Average *)
                self->averages->pdata[i])->ema));
  return broadcast_tensors (self, values);
}

/* The gradients of @slot's trainable parameters become their means over
 * the ranks, in one fused all-reduce.  A parameter without a gradient on
 * this rank counts as zeros; one without a gradient on every rank keeps
 * none (the optimizer skips it, as in one process). */
static gboolean
average_gradients (T2iTrainer * self, Slot * slot)
{
  guint n = t2i_param_group_n_params (slot->group);
  g_autoptr (GPtrArray) grads = g_ptr_array_new ();
  g_autoptr (GPtrArray) params = g_ptr_array_new ();
  GError *err = NULL;

  for (guint i = 0; i < n; i++) {
    T2iParam *p = t2i_param_group_get (slot->group, i);
    if (p->trainable)
      g_ptr_array_add (params, p->value);
  }
  g_autoptr (T2iTensor) had = t2i_tensor_zeros (T2I_F32,
      T2I_SHAPE (MAX (params->len, 1)));
  for (guint i = 0; i < params->len; i++) {
    T2iTensor *v = params->pdata[i];
    if (v->grad)
      t2i_tensor_f32 (had)[i] = 1.0f;
    else
      v->grad = t2i_tensor_zeros_like (v);
    g_ptr_array_add (grads, v->grad);
  }
  g_ptr_array_add (grads, had);
  if (!t2i_dist_allreduce_mean_tensors ((T2iTensor **) grads->pdata,
          grads->len, &err)) {
    g_prefix_error (&err, "averaging the gradients of group '%s': ",
        slot->name);
    return dist_failed (self, err);
  }
  for (guint i = 0; i < params->len; i++)
    if (t2i_tensor_f32 (had)[i] == 0.0f)
      t2i_tensor_zero_grad (params->pdata[i]);
  return TRUE;
}

/* After @slot's step: its other f32 tensors (moving averages updated in
 * the forward pass, such as StyleGAN2's w_avg) become their means over the
 * ranks.  Summed in double, so tensors that agree stay bit for bit; a
 * running mean of batch means is then the one of the whole batch. */
static gboolean
average_buffers (T2iTrainer * self, Slot * slot)
{
  guint n = t2i_param_group_n_params (slot->group);
  GArray *buf = self->buffers;
  GError *err = NULL;

  g_array_set_size (buf, 0);
  for (guint i = 0; i < n; i++) {
    T2iParam *p = t2i_param_group_get (slot->group, i);
    T2iTensor *v = p->value;
    if (p->trainable || v->dtype != T2I_F32 || v->device != T2I_DEVICE_CPU)
      continue;
    for (gint64 j = 0; j < v->numel; j++) {
      double d = t2i_tensor_f32 (v)[j];
      g_array_append_val (buf, d);
    }
  }
  if (buf->len == 0)
    return TRUE;
  if (!t2i_dist_allreduce_f64 ((double *) buf->data, buf->len, &err)) {
    g_prefix_error (&err, "averaging the tensors of group '%s': ",
        slot->name);
    return dist_failed (self, err);
  }
  gsize off = 0;
  for (guint i = 0; i < n; i++) {
    T2iParam *p = t2i_param_group_get (slot->group, i);
    T2iTensor *v = p->value;
    if (p->trainable || v->dtype != T2I_F32 || v->device != T2I_DEVICE_CPU)
      continue;
    for (gint64 j = 0; j < v->numel; j++)
      t2i_tensor_f32 (v)[j] = (float) (g_array_index (buf, double, off++) /
          self->size);
  }
  return TRUE;
}

/* FNV-1a over the 64-bit words (and the tail bytes) of @t's values */
static guint64
hash_tensor (const T2iTensor * t, guint64 h)
{
  const guint8 *p = t->data;
  gsize n = t->nbytes, i = 0;
  for (; i + 8 <= n; i += 8) {
    guint64 w;
    memcpy (&w, p + i, 8);
    h = (h ^ w) * G_GUINT64_CONSTANT (0x100000001b3);
  }
  for (; i < n; i++)
    h = (h ^ p[i]) * G_GUINT64_CONSTANT (0x100000001b3);
  return h;
}

static guint64
hash_group (T2iParamGroup * g)
{
  guint64 h = G_GUINT64_CONSTANT (0xcbf29ce484222325);
  for (guint i = 0; i < t2i_param_group_n_params (g); i++)
    h = hash_tensor (t2i_param_group_get (g, i)->value, h);
  return h;
}

/* Every rank must hold the same parameters (the sums are the same on every
 * rank, and so are the steps): compares a hash of each trained group and
 * moving average with rank 0's, and stops every rank with one line naming
 * the group when one differs. */
static gboolean
verify_replicas (T2iTrainer * self)
{
  guint n = self->slots->len + self->averages->len;
  g_autofree guint64 *mine = g_new0 (guint64, MAX (n, 1));
  g_autofree guint64 *root = g_new0 (guint64, MAX (n, 1));
  g_autofree double *differ = g_new0 (double, MAX (n, 1));
  GError *err = NULL;

  for (guint i = 0; i < n; i++)
    mine[i] = hash_group (i < self->slots->len ?
        ((Slot *) self->slots->pdata[i])->group :
        t2i_ema_get_group (((Average *) self->averages->pdata[i -
                    self->slots->len])->ema));
  memcpy (root, mine, n * sizeof (guint64));
  if (!t2i_dist_broadcast (root, n * sizeof (guint64), &err))
    return dist_failed (self, err);
  for (guint i = 0; i < n; i++)
    differ[i] = mine[i] != root[i];
  if (!t2i_dist_allreduce_f64 (differ, n, &err))
    return dist_failed (self, err);
  for (guint i = 0; i < n; i++) {
    if (differ[i] == 0)
      continue;
    const char *name = i < self->slots->len ?
        ((Slot *) self->slots->pdata[i])->name :
        t2i_param_group_get_name (t2i_ema_get_group (((Average *)
                self->averages->pdata[i - self->slots->len])->ema));
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("data-parallel: after step %" G_GINT64_FORMAT " the parameters of "
            "group '%s' differ between ranks (%.0f of %d differ from rank "
            "0; this rank %s): some element computed differently on some "
            "rank; training stopped", self->step, name, differ[i],
            self->size, mine[i] == root[i] ? "agrees" : "differs"), (NULL));
    self->failed = TRUE;
    return FALSE;
  }
  guint64 all = G_GUINT64_CONSTANT (0xcbf29ce484222325);
  for (guint i = 0; i < n; i++)
    all = (all ^ mine[i]) * G_GUINT64_CONSTANT (0x100000001b3);
  GST_INFO_OBJECT (self, "rank %d of %d, step %" G_GINT64_FORMAT ": the "
      "parameters agree with rank 0 (hash %016" G_GINT64_MODIFIER "x)",
      self->rank, self->size, self->step, all);
  return TRUE;
}

/* ---- checkpoint ---- */

static void
put (GHashTable * meta, const char *key, char *value)
{
  g_hash_table_insert (meta, g_strdup (key), value);
}

/* "model/<name>": the networks built into @group, so that weights= alone
 * rebuilds them (t2i/arch.h) */
static void
describe_models (GHashTable * meta, const char *name, T2iParamGroup * group)
{
  char *json = group ? t2i_param_group_models_json (group) : NULL;
  if (json)
    g_hash_table_insert (meta, g_strconcat (T2I_MODEL_METADATA_PREFIX, name,
            NULL), json);
}

static gboolean
save_checkpoint (T2iTrainer * self, GError ** error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) tensors =
      g_ptr_array_new_with_free_func ((GDestroyNotify) t2i_tensor_unref);
  g_autoptr (GHashTable) meta = g_hash_table_new_full (g_str_hash,
      g_str_equal, g_free, g_free);
  g_auto (GStrv) groups = t2i_session_list_groups (self->session);

  for (guint i = 0; groups[i]; i++) {
    T2iParamGroup *g = t2i_session_lookup_group (self->session, groups[i]);
    if (g) {
      t2i_param_group_collect (g, NULL, names, tensors);
      describe_models (meta, groups[i], g);
    }
  }
  for (guint i = 0; i < self->slots->len; i++) {
    Slot *s = self->slots->pdata[i];
    t2i_optimizer_state_tensors (s->opt, names, tensors);
    t2i_optimizer_state_metadata (s->opt, meta);
  }
  for (guint i = 0; i < self->slots->len; i++) {
    Slot *slot = self->slots->pdata[i];
    if (slot->schedule) {
      g_autofree char *prefix = g_strdup_printf ("sched/%s/", slot->name);
      t2i_lr_schedule_get_state (slot->schedule, prefix, meta);
    }
  }
  for (guint i = 0; i < self->averages->len; i++) {
    Average *a = self->averages->pdata[i];
    T2iParamGroup *shadow = t2i_ema_get_group (a->ema);
    t2i_param_group_collect (shadow, NULL, names, tensors);
    /* the average is the same network as the group it follows */
    describe_models (meta, t2i_param_group_get_name (shadow),
        t2i_session_lookup_group (self->session, a->group));
    g_autofree char *key = g_strdup_printf ("%s/updates",
        t2i_param_group_get_name (shadow));
    put (meta, key, g_strdup_printf ("%" G_GUINT64_FORMAT,
            t2i_ema_get_updates (a->ema)));
  }

  T2iRng *rng = t2i_session_get_rng (self->session);
  guint64 rng_seed, rng_offset;
  t2i_rng_get_state (rng, &rng_seed, &rng_offset);
  put (meta, "format", g_strdup (CHECKPOINT_FORMAT));
  put (meta, "format_version", g_strdup (CHECKPOINT_VERSION));
  put (meta, "step", g_strdup_printf ("%" G_GINT64_FORMAT, self->step));
  put (meta, "epoch", g_strdup_printf ("%" G_GINT64_FORMAT, self->epoch));
  put (meta, "seed", g_strdup_printf ("%" G_GUINT64_FORMAT,
          t2i_session_get_seed (self->session)));
  put (meta, "rng/seed", g_strdup_printf ("%" G_GUINT64_FORMAT, rng_seed));
  put (meta, "rng/offset", g_strdup_printf ("%" G_GUINT64_FORMAT,
          rng_offset));
  put (meta, "groups", g_strjoinv (",", groups));
  put (meta, "ranks", g_strdup_printf ("%d", self->size));

  g_ptr_array_add (names, NULL);
  return t2i_safetensors_save (self->checkpoint,
      (const char *const *) names->pdata, (T2iTensor **) tensors->pdata,
      tensors->len, meta, error);
}

/* posts the error itself; returns FALSE on failure */
static gboolean
do_save (T2iTrainer * self)
{
  GError *err = NULL;
  if (self->size > 1 && !verify_replicas (self))
    return FALSE;
  /* the ranks hold the same parameters: rank 0 writes them */
  if (self->rank != 0) {
    self->saved_step = self->step;
    return TRUE;
  }
  if (!save_checkpoint (self, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("checkpoint=%s could not be written: %s", self->checkpoint,
            err->message), (NULL));
    g_error_free (err);
    return FALSE;
  }
  self->saved_step = self->step;
  GST_INFO_OBJECT (self, "saved %s at step %" G_GINT64_FORMAT,
      self->checkpoint, self->step);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("t2i-checkpoint", "path", G_TYPE_STRING,
              self->checkpoint, "step", G_TYPE_INT64, self->step, NULL)));
  for (Side side = SIDE_SAMPLES; side <= SIDE_EVAL; side++)
    if (side_template (self, side)
        && !run_side (self, side, self->checkpoint, self->step, TRUE))
      return FALSE;
  return TRUE;
}

static gboolean
parse_u64 (const char *s, guint64 * out)
{
  return s && g_ascii_string_to_unsigned (s, 10, 0, G_MAXUINT64, out, NULL);
}

/* In READY->PAUSED: opens the checkpoint to resume from and restores what
 * the sources need before they start (step, RNG). */
static gboolean
open_resume_file (T2iTrainer * self)
{
  GError *err = NULL;
  guint64 step, seed, rng_seed, rng_offset;

  if (!self->resume || !g_file_test (self->checkpoint, G_FILE_TEST_EXISTS)) {
    if (self->resume)
      GST_INFO_OBJECT (self, "%s does not exist yet: starting from scratch",
          self->checkpoint);
    return TRUE;
  }
  T2iSafetensors *st = t2i_safetensors_load (self->checkpoint, &err);
  if (!st) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("resume: checkpoint=%s cannot be read: %s", self->checkpoint,
            err->message), (NULL));
    g_error_free (err);
    return FALSE;
  }
  if (g_strcmp0 (t2i_safetensors_get_metadata (st, "format"),
          CHECKPOINT_FORMAT) != 0
      || !parse_u64 (t2i_safetensors_get_metadata (st, "step"), &step)
      || !parse_u64 (t2i_safetensors_get_metadata (st, "seed"), &seed)
      || !parse_u64 (t2i_safetensors_get_metadata (st, "rng/seed"), &rng_seed)
      || !parse_u64 (t2i_safetensors_get_metadata (st, "rng/offset"),
          &rng_offset)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("resume: checkpoint=%s is not a t2itrainer checkpoint (its "
            "metadata lacks format, step, seed or rng state)",
            self->checkpoint), (NULL));
    t2i_safetensors_free (st);
    return FALSE;
  }
  if (g_strcmp0 (t2i_safetensors_get_metadata (st, "format_version"),
          CHECKPOINT_VERSION) != 0) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("resume: checkpoint=%s has format version %s, this trainer reads "
            "version %s", self->checkpoint,
            t2i_safetensors_get_metadata (st, "format_version"),
            CHECKPOINT_VERSION), (NULL));
    t2i_safetensors_free (st);
    return FALSE;
  }
  guint64 epoch = 0, ranks = 1;
  parse_u64 (t2i_safetensors_get_metadata (st, "epoch"), &epoch);
  parse_u64 (t2i_safetensors_get_metadata (st, "ranks"), &ranks);
  if (ranks != (guint64) self->size && self->rank == 0)
    GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
        ("resume: checkpoint=%s was written by a run of %" G_GUINT64_FORMAT
            " rank(s), this one has %d: the batch of a step is now %d x "
            "batch-size and the steps that follow see other items than the "
            "first run would have; resume with the same number of ranks to "
            "continue it exactly", self->checkpoint, ranks, self->size,
            self->size), (NULL));
  self->step = self->saved_step = (gint64) step;
  self->epoch = (gint64) epoch;
  t2i_session_set_seed (self->session, seed);
  t2i_rng_set_state (t2i_session_get_rng (self->session), rng_seed,
      rng_offset);
  t2i_session_set_resume_step (self->session, (gint64) step);
  self->resume_file = st;
  GST_INFO_OBJECT (self, "resuming from %s at step %" G_GUINT64_FORMAT,
      self->checkpoint, step);
  return TRUE;
}

/* Every rank resumes from the same step, or none does */
static gboolean
open_resume (T2iTrainer * self)
{
  if (!open_resume_file (self))
    return FALSE;
  if (self->size <= 1 || !self->resume)
    return TRUE;
  gint64 mine = self->resume_file ? self->step : -1, root = mine;
  double differ;
  GError *err = NULL;
  if (!t2i_dist_broadcast (&root, sizeof root, &err))
    return dist_failed (self, err);
  differ = mine != root;
  if (!t2i_dist_allreduce_f64 (&differ, 1, &err))
    return dist_failed (self, err);
  if (differ > 0) {
    g_autofree char *at = mine >= 0 ? g_strdup_printf ("at step %"
        G_GINT64_FORMAT, mine) : g_strdup ("nothing");
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("resume: %.0f of %d ranks do not find checkpoint=%s as rank 0 does "
            "(this rank finds %s): every rank must read the same file; put "
            "it on a filesystem all hosts share, or copy it to each",
            differ, self->size, self->checkpoint, at), (NULL));
    return FALSE;
  }
  return TRUE;
}

/* Once every group is known: parameters, optimizer state, EMA. */
static gboolean
load_resume (T2iTrainer * self)
{
  T2iSafetensors *st = self->resume_file;
  GError *err = NULL;
  g_auto (GStrv) groups = t2i_session_list_groups (self->session);
  gboolean ok = TRUE;

  for (guint i = 0; ok && groups[i]; i++) {
    T2iParamGroup *g = t2i_session_lookup_group (self->session, groups[i]);
    ok = !g || t2i_param_group_load (g, st, NULL, TRUE, &err);
  }
  for (guint i = 0; ok && i < self->slots->len; i++) {
    Slot *s = self->slots->pdata[i];
    g_autofree char *key = g_strdup_printf ("optim/%s/step", s->name);
    /* a group that was never stepped has no state yet */
    if (t2i_safetensors_get_metadata (st, key))
      ok = t2i_optimizer_load_state (s->opt, st, &err);
  }
  for (guint i = 0; ok && i < self->slots->len; i++) {
    Slot *slot = self->slots->pdata[i];
    g_autofree char *prefix = g_strdup_printf ("sched/%s/", slot->name);
    g_autofree char *kind = g_strconcat (prefix, "kind", NULL);
    /* a checkpoint written before the schedule was set starts it afresh */
    if (slot->schedule && t2i_safetensors_get_metadata (st, kind))
      ok = t2i_lr_schedule_set_state (slot->schedule, prefix,
          t2i_safetensors_get_metadata_table (st), &err);
  }
  for (guint i = 0; ok && i < self->averages->len; i++) {
    Average *a = self->averages->pdata[i];
    T2iParamGroup *shadow = t2i_ema_get_group (a->ema);
    g_autofree char *key = g_strdup_printf ("%s/updates",
        t2i_param_group_get_name (shadow));
    guint64 updates;
    if (parse_u64 (t2i_safetensors_get_metadata (st, key), &updates)) {
      ok = t2i_param_group_load (shadow, st, NULL, TRUE, &err);
      if (ok)
        t2i_ema_set_updates (a->ema, updates);
    } else {
      /* no average in the file yet: start it from the restored weights */
      g_autofree char *name = g_strdup (t2i_param_group_get_name (shadow));
      double decay = t2i_ema_get_decay (a->ema);
      t2i_ema_free (a->ema);
      a->ema = t2i_ema_new (t2i_session_lookup_group (self->session,
              a->group), name, decay);
    }
  }
  if (!ok) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("resume: checkpoint=%s does not fit this pipeline: %s",
            self->checkpoint, err->message), (NULL));
    g_error_free (err);
  }
  g_clear_pointer (&self->resume_file, t2i_safetensors_free);
  return ok;
}

/* the group's schedule and clipping (group-settings) */
static gboolean
setup_slot (T2iTrainer * self, Slot * slot, double lr)
{
  Settings *o = g_hash_table_lookup (self->overrides, slot->name);
  slot->clip = o && o->has_clip ? o->clip : self->clip_grad_norm;
  slot->clip_until = o && o->has_clip_until ? o->clip_until : -1;
  if (!o || !o->schedule)
    return TRUE;
  T2iLrScheduleConfig c;
  GError *err = NULL;
  t2i_lr_schedule_config_init (&c, T2I_LR_SCHEDULE_CONSTANT);
  c.lr = lr;
  if (t2i_lr_schedule_config_parse (&c, o->schedule->str, &err))
    slot->schedule = t2i_lr_schedule_new (&c, &err);
  if (!slot->schedule) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("group-settings: group '%s': %s", slot->name, err->message),
        (NULL));
    g_error_free (err);
    return FALSE;
  }
  slot->metric = o->metric;
  return TRUE;
}

/* one moving average per group of ema= */
static gboolean
setup_averages (T2iTrainer * self)
{
  g_auto (GStrv) names = g_strsplit_set (self->ema ? self->ema : "", ", ",
      -1);
  for (gchar ** n = names; *n; n++) {
    if (!**n)
      continue;
    T2iParamGroup *g = t2i_session_lookup_group (self->session, *n);
    if (!g) {
      g_autofree char *all = list_groups (self);
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("ema=%s: the pipeline has no parameter group '%s' (groups: %s)",
              self->ema, *n, all), (NULL));
      return FALSE;
    }
    Settings *o = g_hash_table_lookup (self->overrides, *n);
    Average *a = g_new0 (Average, 1);
    g_autofree char *shadow = g_strconcat ("ema/", *n, NULL);
    a->group = g_strdup (*n);
    a->ema = t2i_ema_new (g, shadow, o && o->has_ema_decay ? o->ema_decay :
        self->ema_decay);
    a->every = o && o->has_ema_every ? o->ema_every : 1;
    g_ptr_array_add (self->averages, a);
  }
  return TRUE;
}

/* ---- negotiation ---- */

static gboolean
t2i_trainer_set_caps (GstBaseSink * sink, GstCaps * caps)
{
  T2iTrainer *self = T2I_TRAINER (sink);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  g_autofree char *offers = t2i_caps_describe (s);

  g_hash_table_remove_all (self->loss_groups);
  for (gint i = 0; i < gst_structure_n_fields (s); i++) {
    const char *field = gst_structure_nth_field_name (s, (guint) i);
    const char *group;
    if (g_str_has_prefix (field, "loss/") && g_str_has_suffix (field,
            ".update") && (group = gst_structure_get_string (s, field)))
      g_hash_table_insert (self->loss_groups,
          g_strndup (field, strlen (field) - strlen (".update")),
          g_strdup (group));
  }

  /* every loss entry must name its group */
  const GValue *entries = gst_structure_get_value (s, "entries");
  guint n_losses = 0;
  for (guint i = 0; entries && GST_VALUE_HOLDS_ARRAY (entries)
      && i < gst_value_array_get_size (entries); i++) {
    const char *e = g_value_get_string (gst_value_array_get_value (entries,
            i));
    if (!e || !g_str_has_prefix (e, "loss/"))
      continue;
    n_losses++;
    if (!g_hash_table_contains (self->loss_groups, e)) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("loss entry '%s' names no parameter group: set update=GROUP on "
              "the element that adds it", e), (NULL));
      return FALSE;
    }
  }
  if (n_losses == 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("needs at least one loss/* entry but upstream offers %s; add a loss "
            "element with update=GROUP before t2itrainer", offers), (NULL));
    return FALSE;
  }

  /* the groups the losses update */
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init (&it, self->loss_groups);
  while (g_hash_table_iter_next (&it, &k, &v)) {
    const char *group = v;
    if (find_slot (self, group))
      continue;
    T2iParamGroup *g = t2i_session_lookup_group (self->session, group);
    if (!g) {
      g_autofree char *all = list_groups (self);
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("loss '%s' updates group '%s' but the pipeline has no parameter "
              "group of that name (groups: %s); set update= to one of them",
              (const char *) k, group, all), (NULL));
      return FALSE;
    }
    T2iOptimizerConfig config;
    config_for_group (self, group, &config);
    Slot *slot = g_new0 (Slot, 1);
    slot->name = g_strdup (group);
    slot->group = t2i_param_group_ref (g);
    slot->opt = t2i_optimizer_new (g, &config);
    g_ptr_array_add (self->slots, slot);
    g_ptr_array_sort (self->slots, compare_slots);
    if (!setup_slot (self, slot, config.lr))
      return FALSE;
  }

  /* group-settings must name groups the trainer steps */
  g_hash_table_iter_init (&it, self->overrides);
  while (g_hash_table_iter_next (&it, &k, NULL)) {
    if (!find_slot (self, k)) {
      g_autoptr (GString) stepped = g_string_new (NULL);
      for (guint i = 0; i < self->slots->len; i++)
        g_string_append_printf (stepped, "%s%s", i ? ", " : "",
            ((Slot *) self->slots->pdata[i])->name);
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("group-settings names group '%s' but no loss updates it (groups "
              "updated by losses: %s)", (const char *) k, stepped->str),
          (NULL));
      return FALSE;
    }
  }

  if (self->averages->len == 0 && !setup_averages (self))
    return FALSE;

  if (self->resume_file && !load_resume (self))
    return FALSE;
  if (self->size > 1 && !self->synced) {
    if (!sync_parameters (self))
      return FALSE;
    self->synced = TRUE;
  }
  return TRUE;
}

/* ---- training ---- */

static void
report (T2iTrainer * self)
{
  gint64 now = g_get_monotonic_time ();
  double secs = (double) (now - self->report_time) / G_USEC_PER_SEC;
  GstStructure *s = gst_structure_new ("t2i-train",
      "step", G_TYPE_INT64, self->step,
      "epoch", G_TYPE_INT64, self->epoch, NULL);
  /* the phase of the record that ended the step; none without phases */
  if (self->phase[0])
    gst_structure_set (s, "phase", G_TYPE_STRING, self->phase, NULL);
  gst_structure_set (s, "items-per-second", G_TYPE_DOUBLE,
      secs > 0 ? (double) self->report_items * self->size / secs : 0.0,
      NULL);
  for (guint i = 0; i < self->slots->len; i++) {
    Slot *slot = self->slots->pdata[i];
    LossStat *st = slot->metric ? g_hash_table_lookup (self->loss_stats,
        slot->metric) : NULL;
    /* plateau: the mean of its metric over the report's steps */
    if (st && st->n > 0)
      t2i_lr_schedule_report (slot->schedule, self->step, st->sum / st->n);
    g_autofree char *field = g_strconcat ("lr/", slot->name, NULL);
    gst_structure_set (s, field, G_TYPE_DOUBLE,
        slot->schedule ? t2i_lr_schedule_lr (slot->schedule, self->step) :
        t2i_optimizer_get_lr (slot->opt), NULL);
  }
  for (guint i = 0; i < self->loss_order->len; i++) {
    const char *name = self->loss_order->pdata[i];
    LossStat *st = g_hash_table_lookup (self->loss_stats, name);
    if (st->n > 0)
      gst_structure_set (s, name, G_TYPE_DOUBLE, st->sum / st->n, NULL);
    st->sum = 0;
    st->n = 0;
  }
  /* every rank keeps its schedules; rank 0 alone reports */
  if (self->rank == 0)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self), s));
  else
    gst_structure_free (s);
  self->report_time = now;
  self->report_items = 0;
}

static void
note_loss (T2iTrainer * self, const char *name, double value)
{
  LossStat *st = g_hash_table_lookup (self->loss_stats, name);
  if (!st) {
    st = g_new0 (LossStat, 1);
    g_hash_table_insert (self->loss_stats, g_strdup (name), st);
    g_ptr_array_add (self->loss_order, g_strdup (name));
  }
  st->sum += value;
  st->n++;
}

static void fail_non_finite (T2iTrainer * self, const char *what,
    double value);

/* The record's loss values (collected in entry order) become their means
 * over the ranks; then each is checked and noted for the report. */
static gboolean
average_losses (T2iTrainer * self, GstBuffer * rec)
{
  GArray *values = self->loss_values;
  GError *err = NULL;
  guint k = 0;

  if (self->size > 1 && values->len > 0) {
    if (!t2i_dist_allreduce_f64 ((double *) values->data, values->len,
            &err))
      return dist_failed (self, err);
    for (guint i = 0; i < values->len; i++)
      g_array_index (values, double, i) /= self->size;
  }
  for (guint i = 0; i < t2i_record_n_entries (rec); i++) {
    const char *name = t2i_record_entry_name (rec, i);
    if (!g_str_has_prefix (name, "loss/")
        || !t2i_record_get_tensor (rec, name))
      continue;
    double value = g_array_index (values, double, k++);
    if (!isfinite (value)) {
      g_autofree char *what = g_strdup_printf ("loss entry '%s'%s", name,
          self->size > 1 ? " (mean over the ranks)" : "");
      fail_non_finite (self, what, value);
      return FALSE;
    }
    note_loss (self, name, value);
  }
  return TRUE;
}

static gchar *
what_is_kept (T2iTrainer * self)
{
  return self->saved_step >= 0 ?
      g_strdup_printf ("the last good checkpoint %s (step %" G_GINT64_FORMAT
      ") is kept", self->checkpoint, self->saved_step) :
      g_strdup ("no checkpoint was written");
}

static void
fail_non_finite (T2iTrainer * self, const char *what, double value)
{
  g_autofree char *kept = what_is_kept (self);
  GST_ELEMENT_ERROR (self, STREAM, FAILED,
      ("%s is %s at step %" G_GINT64_FORMAT "; training stopped and %s "
          "(lower lr or set clip-grad-norm)", what,
          isnan (value) ? "NaN" : "infinite", self->step + 1, kept), (NULL));
  self->failed = TRUE;
}

static gboolean
train_step (T2iTrainer * self, GstBuffer * rec)
{
  g_array_set_size (self->loss_values, 0);
  /* 1. sum the losses per group */
  for (guint i = 0; i < t2i_record_n_entries (rec); i++) {
    const char *name = t2i_record_entry_name (rec, i);
    T2iTensor *l;
    if (!g_str_has_prefix (name, "loss/")
        || !(l = t2i_record_get_tensor (rec, name)))
      continue;
    const char *group = g_hash_table_lookup (self->loss_groups, name);
    Slot *slot = group ? find_slot (self, group) : NULL;
    if (!slot) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("loss entry '%s' appeared without being announced in the caps; "
              "set update=GROUP on the element that adds it", name), (NULL));
      return FALSE;
    }
    if (l->numel != 1) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("loss entry '%s' has %" G_GINT64_FORMAT " elements; a loss must "
              "be one number", name, l->numel), (NULL));
      return FALSE;
    }
    double value = t2i_tensor_item (l);
    g_array_append_val (self->loss_values, value);
    if (slot->loss) {
      T2iTensor *sum = t2i_add (slot->loss, l);
      t2i_tensor_unref (slot->loss);
      slot->loss = sum;
    } else {
      slot->loss = t2i_tensor_ref (l);
    }
  }

  /* the values reported and checked are the means over the ranks: every
   * rank sees the same NaN and stops at the same step */
  if (!average_losses (self, rec))
    return FALSE;

  /* 2. every backward pass before any parameter changes */
  for (guint i = 0; i < self->slots->len; i++) {
    Slot *slot = self->slots->pdata[i];
    if (!slot->loss)
      continue;
    g_autoptr (GPtrArray) params = g_ptr_array_new ();
    for (guint p = 0; p < t2i_param_group_n_params (slot->group); p++) {
      T2iParam *param = t2i_param_group_get (slot->group, p);
      if (param->trainable)
        g_ptr_array_add (params, param->value);
    }
    if (params->len == 0) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("a loss updates group '%s' but none of its parameters is "
              "trainable (trainable=false?); update another group",
              slot->name), (NULL));
      return FALSE;
    }
    g_ptr_array_add (params, NULL);
    t2i_param_group_zero_grad (slot->group);
    t2i_backward (slot->loss, (T2iTensor **) params->pdata);
  }

  /* 3. clip and step */
  for (guint i = 0; i < self->slots->len; i++) {
    Slot *slot = self->slots->pdata[i];
    if (!slot->loss)
      continue;
    g_clear_pointer (&slot->loss, t2i_tensor_unref);
    if (self->size > 1 && !average_gradients (self, slot))
      return FALSE;
    if (slot->schedule)
      t2i_optimizer_set_lr (slot->opt, t2i_lr_schedule_lr (slot->schedule,
              self->step));
    if (slot->clip > 0 && (slot->clip_until < 0
            || self->step < slot->clip_until)) {
      double norm = t2i_param_groups_clip_grad_norm (&slot->group, 1,
          slot->clip);
      if (!isfinite (norm)) {
        g_autofree char *what = g_strdup_printf ("the gradient norm of "
            "group '%s'", slot->name);
        fail_non_finite (self, what, norm);
        return FALSE;
      }
    }
    t2i_optimizer_step (slot->opt);
    t2i_optimizer_zero_grad (slot->opt);
    if (self->size > 1 && !average_buffers (self, slot))
      return FALSE;
  }
  return TRUE;
}

typedef struct
{
  T2iTrainer *self;
  GstBuffer *rec;
  gboolean ok;
} Step;

/* backward, optimizer and moving averages allocate: under
 * t2i_alloc_guard(), running out of memory is this element's error */
static gboolean
guarded_step (gpointer data, GError ** error)
{
  Step *st = data;
  T2iTrainer *self = st->self;

  st->ok = train_step (self, st->rec);
  if (st->ok && t2i_record_ends_step (st->rec))
    for (guint i = 0; i < self->averages->len; i++) {
      Average *a = self->averages->pdata[i];
      if ((self->step + 1) % a->every == 0)
        t2i_ema_update (a->ema);
    }
  return TRUE;
}

static void
clear_losses (T2iTrainer * self)
{
  for (guint i = 0; i < self->slots->len; i++)
    g_clear_pointer (&((Slot *) self->slots->pdata[i])->loss,
        t2i_tensor_unref);
}

static GstFlowReturn
t2i_trainer_render (GstBaseSink * sink, GstBuffer * rec)
{
  T2iTrainer *self = T2I_TRAINER (sink);

  if (self->failed)
    return GST_FLOW_ERROR;
  if (!t2i_record_is_record (rec)) {
    GST_ELEMENT_ERROR (self, STREAM, WRONG_TYPE,
        ("received a buffer that is not a t2i record"), (NULL));
    return GST_FLOW_ERROR;
  }
  if (self->report_time == 0)
    self->report_time = g_get_monotonic_time ();
  t2i_session_enter (self->session);

  T2iRecordMeta *meta = t2i_record_get_meta (rec);
  self->epoch = meta->epoch;
  memcpy (self->phase, meta->phase, sizeof (self->phase));
  self->phase[sizeof (self->phase) - 1] = 0;

  gboolean prev = t2i_set_grad_enabled (TRUE);
  Step st = { self, rec, FALSE };
  GError *err = NULL;
  if (!t2i_alloc_guard (guarded_step, &st, &err)) {
    /* the parameters may be half stepped: no checkpoint at EOS */
    g_autofree char *kept = what_is_kept (self);
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("%s (at step %"
            G_GINT64_FORMAT "; training stopped and %s)", err->message,
            self->step + 1, kept), (NULL));
    g_error_free (err);
  }
  t2i_set_grad_enabled (prev);
  clear_losses (self);
  if (!st.ok) {
    self->failed = TRUE;
    return GST_FLOW_ERROR;
  }
  /* a step is a batch: with phases, its last record ends it */
  if (!t2i_record_ends_step (rec))
    return GST_FLOW_OK;

  for (guint i = 0; i < t2i_record_n_entries (rec); i++) {
    T2iTensor *t = t2i_record_get_tensor (rec,
        t2i_record_entry_name (rec, i));
    if (t && t->ndim > 0) {
      self->report_items += t->shape[0];
      break;
    }
  }
  self->step++;
  if (self->report_every > 0 && self->step % self->report_every == 0)
    report (self);
  if (self->save_every > 0 && self->step % self->save_every == 0
      && !do_save (self)) {
    self->failed = TRUE;
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static gboolean
t2i_trainer_event (GstBaseSink * sink, GstEvent * event)
{
  T2iTrainer *self = T2I_TRAINER (sink);

  /* the final checkpoint is on disk before EOS reaches the application */
  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS && !self->failed
      && self->step > 0) {
    if (self->checkpoint && *self->checkpoint
        && self->step != self->saved_step)
      do_save (self);
    else if (self->size > 1 && self->step != self->saved_step)
      verify_replicas (self);
  }
  return GST_BASE_SINK_CLASS (t2i_trainer_parent_class)->event (sink, event);
}

/* ---- state ---- */

static void
reset (T2iTrainer * self)
{
  g_ptr_array_set_size (self->slots, 0);
  g_hash_table_remove_all (self->loss_groups);
  g_hash_table_remove_all (self->loss_stats);
  g_ptr_array_set_size (self->loss_order, 0);
  g_ptr_array_set_size (self->averages, 0);
  g_clear_pointer (&self->resume_file, t2i_safetensors_free);
  self->step = 0;
  self->saved_step = -1;
  self->epoch = 0;
  self->phase[0] = 0;
  self->failed = FALSE;
  self->report_time = 0;
  self->report_items = 0;
  self->synced = FALSE;
}

/* the temporaries that killed saves of our checkpoint left behind (a
 * save in progress elsewhere holds a lock on its own and is left alone) */
static void
remove_stale_temporaries (T2iTrainer * self)
{
  g_auto (GStrv) removed = NULL;
  GError *err = NULL;

  if (!self->checkpoint || !*self->checkpoint)
    return;
  gint n = t2i_safetensors_remove_stale (self->checkpoint, &removed, &err);
  if (n < 0) {
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("%s", err->message), (NULL));
    g_error_free (err);
  } else if (n > 0) {
    g_autofree gchar *list = g_strjoinv (", ", removed);
    GST_ELEMENT_WARNING (self, RESOURCE, WRITE, ("removed what an "
            "interrupted save of checkpoint=%s left behind: %s",
            self->checkpoint, list), (NULL));
  }
}

static gboolean
t2i_trainer_start (GstBaseSink * sink)
{
  T2iTrainer *self = T2I_TRAINER (sink);
  reset (self);
  remove_stale_temporaries (self);
  return open_resume (self);
}

static gboolean
t2i_trainer_stop (GstBaseSink * sink)
{
  reset (T2I_TRAINER (sink));
  return TRUE;
}

static gboolean
t2i_trainer_query (GstBaseSink * sink, GstQuery * query)
{
  T2iTrainer *self = T2I_TRAINER (sink);
  if (t2i_session_handle_context_query (GST_ELEMENT (self), query,
          self->session))
    return TRUE;
  return GST_BASE_SINK_CLASS (t2i_trainer_parent_class)->query (sink, query);
}

static void
t2i_trainer_set_context (GstElement * element, GstContext * context)
{
  t2i_session_handle_set_context (element, context,
      &T2I_TRAINER (element)->session);
  GST_ELEMENT_CLASS (t2i_trainer_parent_class)->set_context (element,
      context);
}

static GstStateChangeReturn
t2i_trainer_change_state (GstElement * element, GstStateChange transition)
{
  T2iTrainer *self = T2I_TRAINER (element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    if (!parse_settings (self))
      return GST_STATE_CHANGE_FAILURE;
    /* sinks change state first: the session is training before any other
     * element looks at it */
    T2iSession *s = t2i_session_ensure (element, &self->session);
    if (!s) {
      GST_ELEMENT_ERROR (self, CORE, STATE_CHANGE,
          ("could not create the pipeline's t2i session"), (NULL));
      return GST_STATE_CHANGE_FAILURE;
    }
    t2i_session_set_training (s, TRUE);
    /* a job the launcher started but this process cannot join must not
     * train K separate models */
    GError *err = NULL;
    if (!t2i_dist_init (&err)) {
      GST_ELEMENT_ERROR (self, CORE, STATE_CHANGE, ("%s", err->message),
          (NULL));
      g_error_free (err);
      return GST_STATE_CHANGE_FAILURE;
    }
    self->rank = t2i_session_get_rank (s);
    self->size = t2i_session_get_size (s);
  }
  return GST_ELEMENT_CLASS (t2i_trainer_parent_class)->change_state (element,
      transition);
}

/* ---- properties ---- */

static void
t2i_trainer_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iTrainer *self = T2I_TRAINER (obj);
  switch (id) {
    case PROP_OPTIMIZER:
      self->optimizer = g_value_get_enum (v);
      break;
    case PROP_LR:
      self->lr = g_value_get_double (v);
      break;
    case PROP_BETAS:
      g_free (self->betas);
      self->betas = g_value_dup_string (v);
      break;
    case PROP_EPS:
      self->eps = g_value_get_double (v);
      break;
    case PROP_WEIGHT_DECAY:
      self->weight_decay = g_value_get_double (v);
      break;
    case PROP_MOMENTUM:
      self->momentum = g_value_get_double (v);
      break;
    case PROP_GROUP_SETTINGS:
      g_free (self->group_settings);
      self->group_settings = g_value_dup_string (v);
      break;
    case PROP_CLIP_GRAD_NORM:
      self->clip_grad_norm = g_value_get_double (v);
      break;
    case PROP_EMA:
      g_free (self->ema);
      self->ema = g_value_dup_string (v);
      break;
    case PROP_EMA_DECAY:
      self->ema_decay = g_value_get_double (v);
      break;
    case PROP_CHECKPOINT:
      g_free (self->checkpoint);
      self->checkpoint = g_value_dup_string (v);
      break;
    case PROP_SAVE_EVERY:
      self->save_every = g_value_get_uint (v);
      break;
    case PROP_RESUME:
      self->resume = g_value_get_boolean (v);
      break;
    case PROP_REPORT_EVERY:
      self->report_every = g_value_get_uint (v);
      break;
    case PROP_SAMPLES:
      g_free (self->samples);
      self->samples = g_value_dup_string (v);
      break;
    case PROP_EVAL:
      g_free (self->eval);
      self->eval = g_value_dup_string (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_trainer_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iTrainer *self = T2I_TRAINER (obj);
  switch (id) {
    case PROP_OPTIMIZER:
      g_value_set_enum (v, self->optimizer);
      break;
    case PROP_LR:
      g_value_set_double (v, self->lr);
      break;
    case PROP_BETAS:
      g_value_set_string (v, self->betas);
      break;
    case PROP_EPS:
      g_value_set_double (v, self->eps);
      break;
    case PROP_WEIGHT_DECAY:
      g_value_set_double (v, self->weight_decay);
      break;
    case PROP_MOMENTUM:
      g_value_set_double (v, self->momentum);
      break;
    case PROP_GROUP_SETTINGS:
      g_value_set_string (v, self->group_settings);
      break;
    case PROP_CLIP_GRAD_NORM:
      g_value_set_double (v, self->clip_grad_norm);
      break;
    case PROP_EMA:
      g_value_set_string (v, self->ema);
      break;
    case PROP_EMA_DECAY:
      g_value_set_double (v, self->ema_decay);
      break;
    case PROP_CHECKPOINT:
      g_value_set_string (v, self->checkpoint);
      break;
    case PROP_SAVE_EVERY:
      g_value_set_uint (v, self->save_every);
      break;
    case PROP_RESUME:
      g_value_set_boolean (v, self->resume);
      break;
    case PROP_REPORT_EVERY:
      g_value_set_uint (v, self->report_every);
      break;
    case PROP_SAMPLES:
      g_value_set_string (v, self->samples);
      break;
    case PROP_EVAL:
      g_value_set_string (v, self->eval);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_trainer_finalize (GObject * obj)
{
  T2iTrainer *self = T2I_TRAINER (obj);
  reset (self);
  g_ptr_array_unref (self->slots);
  g_ptr_array_unref (self->averages);
  g_hash_table_unref (self->loss_groups);
  g_hash_table_unref (self->loss_stats);
  g_ptr_array_unref (self->loss_order);
  g_array_unref (self->loss_values);
  g_array_unref (self->buffers);
  g_clear_pointer (&self->overrides, g_hash_table_unref);
  g_free (self->betas);
  g_free (self->group_settings);
  g_free (self->ema);
  g_free (self->checkpoint);
  g_free (self->samples);
  g_free (self->eval);
  g_clear_object (&self->session);
  G_OBJECT_CLASS (t2i_trainer_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_trainer_class_init (T2iTrainerClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *bc = GST_BASE_SINK_CLASS (klass);

  oc->set_property = t2i_trainer_set_property;
  oc->get_property = t2i_trainer_get_property;
  oc->finalize = t2i_trainer_finalize;
  ec->set_context = t2i_trainer_set_context;
  ec->change_state = t2i_trainer_change_state;
  bc->start = t2i_trainer_start;
  bc->stop = t2i_trainer_stop;
  bc->set_caps = t2i_trainer_set_caps;
  bc->render = t2i_trainer_render;
  bc->event = t2i_trainer_event;
  bc->query = t2i_trainer_query;

  g_object_class_install_property (oc, PROP_OPTIMIZER,
      g_param_spec_enum ("optimizer", "Optimizer",
          "Update rule of every group (per group: group-settings)",
          T2I_TYPE_TRAINER_OPTIMIZER, DEFAULT_OPTIMIZER, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_LR,
      g_param_spec_double ("lr", "Learning rate",
          "Learning rate of every group (per group: group-settings)", 0,
          G_MAXDOUBLE, DEFAULT_LR, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_BETAS,
      g_param_spec_string ("betas", "Betas",
          "Adam/AdamW moment decays as \"beta1,beta2\"", DEFAULT_BETAS,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EPS,
      g_param_spec_double ("eps", "Epsilon",
          "Adam/AdamW denominator epsilon", 0, G_MAXDOUBLE, DEFAULT_EPS,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_WEIGHT_DECAY,
      g_param_spec_double ("weight-decay", "Weight decay",
          "L2 penalty (sgd, adam) or decoupled decay (adamw); -1 = the "
          "optimizer's default (0, or 0.01 for adamw)", -1, G_MAXDOUBLE,
          DEFAULT_WEIGHT_DECAY, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_MOMENTUM,
      g_param_spec_double ("momentum", "Momentum", "SGD momentum", 0,
          G_MAXDOUBLE, 0, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_GROUP_SETTINGS,
      g_param_spec_string ("group-settings", "Group settings",
          "Per-group overrides \"GROUP:key=value,...;GROUP:...\" with keys "
          "lr, betas, eps, weight-decay, momentum, optimizer; clip (largest "
          "gradient norm) and clip-until (a step); ema-decay and ema-every "
          "(for a group of ema=); schedule=constant|cosine|step|plateau "
          "with warmup, warmup-from, total, min-lr, step-size, factor, "
          "mode, patience, threshold, threshold-mode, cooldown and, for "
          "plateau, metric=loss/NAME (its mean over each report); e.g. \""
          GROUP_SETTINGS_EXAMPLE "\"", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CLIP_GRAD_NORM,
      g_param_spec_double ("clip-grad-norm", "Clip gradient norm",
          "Largest L2 norm of each group's gradient (0 = no clipping; per "
          "group: group-settings clip, clip-until)", 0, G_MAXDOUBLE, 0,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EMA,
      g_param_spec_string ("ema", "EMA groups",
          "Groups whose parameters get an exponential moving average, "
          "comma-separated, saved as ema/<group>.<param> (decay and update "
          "interval per group: group-settings ema-decay, ema-every)", NULL,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EMA_DECAY,
      g_param_spec_double ("ema-decay", "EMA decay",
          "Weight of the old average in each EMA update", 0, 1,
          DEFAULT_EMA_DECAY, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CHECKPOINT,
      g_param_spec_string ("checkpoint", "Checkpoint",
          "safetensors file with parameters, optimizer state, EMA, RNG and "
          "step, written every save-every steps and at EOS", NULL,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SAVE_EVERY,
      g_param_spec_uint ("save-every", "Save every",
          "Write the checkpoint every N steps (0 = only at EOS)", 0,
          G_MAXUINT, 0, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_RESUME,
      g_param_spec_boolean ("resume", "Resume",
          "Continue from the checkpoint when it exists (parameters, "
          "optimizer state, EMA, RNG, step)", FALSE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_REPORT_EVERY,
      g_param_spec_uint ("report-every", "Report every",
          "Post a t2i-train message every N steps (0 = never)", 0, G_MAXUINT,
          DEFAULT_REPORT_EVERY, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_SAMPLES,
      g_param_spec_string ("samples", "Samples",
          "Pipeline (gst-launch syntax) run to its end after each "
          "checkpoint save, with {checkpoint} and {step} replaced, e.g. a "
          "generator drawing sample grids from weights={checkpoint}", NULL,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EVAL,
      g_param_spec_string ("eval", "Evaluation",
          "Pipeline (gst-launch syntax) run to its end after each "
          "checkpoint save and the samples, with {checkpoint} and {step} "
          "replaced; each t2i-metric it posts is posted again as t2i-eval "
          "with the step", NULL, PARAM_FLAGS));

  gst_element_class_add_static_pad_template (ec, &sink_template);
  gst_element_class_set_static_metadata (ec, "t2i trainer", "Sink/Trainer",
      "Backpropagates the loss/* entries into their parameter groups and "
      "steps the optimizers; writes checkpoints", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);
  gst_type_mark_as_plugin_api (T2I_TYPE_TRAINER_OPTIMIZER, 0);
}

static void
t2i_trainer_init (T2iTrainer * self)
{
  GstBaseSink *bs = GST_BASE_SINK (self);

  self->optimizer = DEFAULT_OPTIMIZER;
  self->lr = DEFAULT_LR;
  self->betas = g_strdup (DEFAULT_BETAS);
  self->eps = DEFAULT_EPS;
  self->weight_decay = DEFAULT_WEIGHT_DECAY;
  self->ema_decay = DEFAULT_EMA_DECAY;
  self->report_every = DEFAULT_REPORT_EVERY;
  self->saved_step = -1;
  self->size = 1;
  self->loss_values = g_array_new (FALSE, FALSE, sizeof (double));
  self->buffers = g_array_new (FALSE, FALSE, sizeof (double));
  self->slots = g_ptr_array_new_with_free_func (slot_free);
  self->averages = g_ptr_array_new_with_free_func (average_free);
  self->loss_groups = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  self->loss_stats = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  self->loss_order = g_ptr_array_new_with_free_func (g_free);
  self->overrides = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      settings_free);
  /* a step is a record, not a point in time; keep no graph alive */
  gst_base_sink_set_sync (bs, FALSE);
  gst_base_sink_set_last_sample_enabled (bs, FALSE);
}
