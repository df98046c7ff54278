/* t2i — learning-rate schedules: PyTorch's CosineAnnealingLR (closed form),
 * StepLR and ReduceLROnPlateau, behind a linear warm-up.
 *
 * Every expression keeps PyTorch's order of operations in double, so the
 * goldens written with it (tests/gen-schedule-golden.py) match to the last
 * bit, cosine included (the same libm cos).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "t2i/schedule.h"

#include <math.h>
#include <string.h>

G_DEFINE_QUARK (t2i-lr-schedule-error-quark, t2i_lr_schedule_error)

struct _T2iLrSchedule {
  T2iLrScheduleConfig c;
  /* plateau: the state ReduceLROnPlateau keeps */
  double lr;                    /* current lr after warm-up */
  double best;
  guint64 bad;                  /* num_bad_epochs */
  guint64 cooldown_left;        /* cooldown_counter */
  /* step: lr after cache_k multiplications, so that consecutive steps cost
   * one multiplication; derived from the config, not state */
  guint64 cache_k;
  double cache_lr;
};

/* ---- the kinds: their keys, their lr, their state ---- */

typedef double (*LrFunc) (T2iLrSchedule * s, guint64 t);

typedef struct {
  const char *key;
  gboolean is_count;
  gsize offset;
} StateField;

typedef struct {
  const char *name;
  /* the keys this kind reads besides warmup and warmup-from */
  const char *const *keys;
  gboolean has_min_lr;
  /* lr at step t counted from the end of warm-up */
  LrFunc lr;
  const StateField *state;
  guint n_state;
} KindInfo;

static double
constant_lr (T2iLrSchedule * s, guint64 t)
{
  return s->c.lr;
}

/* CosineAnnealingLR._get_closed_form_lr, held at min_lr past total */
static double
cosine_lr (T2iLrSchedule * s, guint64 t)
{
  const T2iLrScheduleConfig *c = &s->c;

  if (t >= c->total)
    return c->min_lr;
  return c->min_lr + (c->lr - c->min_lr) * (1 + cos (G_PI * (double) t / (double) c->total))
      / 2;
}

/* StepLR as it steps: lr_k = lr_(k-1) * gamma at each multiple of step_size.
 * Not pow(): the product of k roundings is what PyTorch gives and what a
 * resumed run must give.  The cache makes consecutive steps cost one
 * multiplication; the first query after a restore pays one per boundary
 * crossed so far (or until the lr reaches 0). */
static double
step_lr (T2iLrSchedule * s, guint64 t)
{
  guint64 k = t / s->c.step_size;

  if (k < s->cache_k) {
    s->cache_k = 0;
    s->cache_lr = s->c.lr;
  }
  while (s->cache_k < k) {
    /* once 0 (or with factor 1) further multiplications change nothing */
    if (s->cache_lr == 0.0 || s->c.factor == 1.0) {
      s->cache_k = k;
      break;
    }
    s->cache_lr *= s->c.factor;
    s->cache_k++;
  }
  return s->cache_lr;
}

static double
plateau_lr (T2iLrSchedule * s, guint64 t)
{
  return s->lr;
}

static const char *const no_keys[] = { NULL };
static const char *const cosine_keys[] = { "total", "min-lr", NULL };
static const char *const step_keys[] = { "step-size", "factor", NULL };
static const char *const plateau_keys[] = { "mode", "factor", "patience", "threshold",
  "threshold-mode", "cooldown", "min-lr", "eps", NULL
};

static const StateField plateau_state[] = {
  {"lr", FALSE, G_STRUCT_OFFSET (T2iLrSchedule, lr)},
  {"best", FALSE, G_STRUCT_OFFSET (T2iLrSchedule, best)},
  {"bad-reports", TRUE, G_STRUCT_OFFSET (T2iLrSchedule, bad)},
  {"cooldown-left", TRUE, G_STRUCT_OFFSET (T2iLrSchedule, cooldown_left)},
};

static const KindInfo kinds[] = {
  [T2I_LR_SCHEDULE_CONSTANT] = {"constant", no_keys, FALSE, constant_lr, NULL, 0},
  [T2I_LR_SCHEDULE_COSINE] = {"cosine", cosine_keys, TRUE, cosine_lr, NULL, 0},
  [T2I_LR_SCHEDULE_STEP] = {"step", step_keys, FALSE, step_lr, NULL, 0},
  [T2I_LR_SCHEDULE_PLATEAU] = {"plateau", plateau_keys, TRUE, plateau_lr, plateau_state,
      G_N_ELEMENTS (plateau_state)},
};

G_STATIC_ASSERT (G_N_ELEMENTS (kinds) == T2I_LR_SCHEDULE_PLATEAU + 1);

const char *
t2i_lr_schedule_kind_to_string (T2iLrScheduleKind kind)
{
  g_return_val_if_fail ((guint) kind < G_N_ELEMENTS (kinds), NULL);
  return kinds[kind].name;
}

/* ---- configuration ---- */

void
t2i_lr_schedule_config_init (T2iLrScheduleConfig * config, T2iLrScheduleKind kind)
{
  g_return_if_fail (config != NULL);
  memset (config, 0, sizeof *config);
  config->kind = kind;
  config->lr = 1e-3;
  config->factor = 0.1;
  config->patience = 10;
  config->threshold = 1e-4;
  config->eps = 1e-8;
}

typedef enum {
  KEY_STEPS,                    /* guint64 */
  KEY_COUNT,                    /* guint */
  KEY_NUMBER,                   /* double */
  KEY_MODE,                     /* gboolean: min|max */
  KEY_THRESHOLD_MODE,           /* gboolean: rel|abs */
} KeyType;

typedef struct {
  const char *key;
  KeyType type;
  gsize offset;
} KeyInfo;

static const KeyInfo keys[] = {
  {"warmup", KEY_STEPS, G_STRUCT_OFFSET (T2iLrScheduleConfig, warmup)},
  {"warmup-from", KEY_NUMBER, G_STRUCT_OFFSET (T2iLrScheduleConfig, warmup_from)},
  {"total", KEY_STEPS, G_STRUCT_OFFSET (T2iLrScheduleConfig, total)},
  {"min-lr", KEY_NUMBER, G_STRUCT_OFFSET (T2iLrScheduleConfig, min_lr)},
  {"step-size", KEY_STEPS, G_STRUCT_OFFSET (T2iLrScheduleConfig, step_size)},
  {"factor", KEY_NUMBER, G_STRUCT_OFFSET (T2iLrScheduleConfig, factor)},
  {"mode", KEY_MODE, G_STRUCT_OFFSET (T2iLrScheduleConfig, maximize)},
  {"patience", KEY_COUNT, G_STRUCT_OFFSET (T2iLrScheduleConfig, patience)},
  {"threshold", KEY_NUMBER, G_STRUCT_OFFSET (T2iLrScheduleConfig, threshold)},
  {"threshold-mode", KEY_THRESHOLD_MODE, G_STRUCT_OFFSET (T2iLrScheduleConfig,
          threshold_abs)},
  {"cooldown", KEY_COUNT, G_STRUCT_OFFSET (T2iLrScheduleConfig, cooldown)},
  {"eps", KEY_NUMBER, G_STRUCT_OFFSET (T2iLrScheduleConfig, eps)},
};

static gboolean
parse_number (const char *s, double *out)
{
  char *end = NULL;
  double v;

  if (s == NULL || *s == 0)
    return FALSE;
  v = g_ascii_strtod (s, &end);
  if (end == s || *end != 0)
    return FALSE;
  *out = v;
  return TRUE;
}

static gboolean
parse_steps (const char *s, guint64 max, guint64 * out)
{
  return s != NULL && g_ascii_string_to_unsigned (s, 10, 0, max, out, NULL);
}

/* "mode" / "threshold-mode": the second name sets TRUE */
static gboolean
parse_choice (const char *s, const char *no, const char *yes, gboolean * out)
{
  if (g_str_equal (s, no) || g_str_equal (s, yes)) {
    *out = g_str_equal (s, yes);
    return TRUE;
  }
  return FALSE;
}

static gboolean
kind_reads (const KindInfo * k, const char *key)
{
  if (g_str_equal (key, "warmup") || g_str_equal (key, "warmup-from"))
    return TRUE;
  for (guint i = 0; k->keys[i]; i++)
    if (g_str_equal (k->keys[i], key))
      return TRUE;
  return FALSE;
}

static char *
kind_keys_string (const KindInfo * k)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; k->keys[i]; i++)
    g_string_append_printf (s, "%s, ", k->keys[i]);
  g_string_append (s, "warmup, warmup-from");
  return g_string_free (s, FALSE);
}

static gboolean
set_key (T2iLrScheduleConfig * c, const KindInfo * k, const char *key, const char *val,
    GError ** error)
{
  const KeyInfo *ki = NULL;
  gpointer field;
  gboolean ok = FALSE;
  const char *what = "";

  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    if (g_str_equal (keys[i].key, key))
      ki = &keys[i];
  if (ki == NULL || !kind_reads (k, key)) {
    g_autofree char *list = kind_keys_string (k);

    g_set_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_INVALID,
        "%s schedule: %s key '%s' (it reads %s)", k->name,
        ki ? "does not read" : "unknown", key, list);
    return FALSE;
  }
  field = G_STRUCT_MEMBER_P (c, ki->offset);
  switch (ki->type) {
    case KEY_STEPS:
      ok = parse_steps (val, G_MAXINT64, field);
      what = "a whole number of steps";
      break;
    case KEY_COUNT:{
      guint64 v;

      ok = parse_steps (val, G_MAXUINT, &v);
      if (ok)
        *(guint *) field = (guint) v;
      what = "a whole number";
      break;
    }
    case KEY_NUMBER:
      ok = parse_number (val, field);
      what = "a number";
      break;
    case KEY_MODE:
      ok = parse_choice (val, "min", "max", field);
      what = "min or max";
      break;
    case KEY_THRESHOLD_MODE:
      ok = parse_choice (val, "rel", "abs", field);
      what = "rel or abs";
      break;
  }
  if (!ok)
    g_set_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_INVALID,
        "%s schedule: %s=%s is not %s", k->name, key, val, what);
  return ok;
}

gboolean
t2i_lr_schedule_config_parse (T2iLrScheduleConfig * config, const char *spec,
    GError ** error)
{
  g_return_val_if_fail (config != NULL && spec != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  g_auto (GStrv) parts = g_strsplit (spec, ",", -1);
  const char *name = g_strstrip (parts[0]);
  T2iLrScheduleConfig c;
  const KindInfo *k = NULL;
  guint kind;

  for (kind = 0; kind < G_N_ELEMENTS (kinds); kind++)
    if (g_str_equal (name, kinds[kind].name)) {
      k = &kinds[kind];
      break;
    }
  if (k == NULL) {
    g_autoptr (GString) names = g_string_new (NULL);

    for (kind = 0; kind < G_N_ELEMENTS (kinds); kind++)
      g_string_append_printf (names, "%s%s", kind ? ", " : "", kinds[kind].name);
    g_set_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_INVALID,
        "lr schedule '%s': unknown kind '%s' (use %s, then ,key=value pairs)", spec,
        name, names->str);
    return FALSE;
  }
  t2i_lr_schedule_config_init (&c, (T2iLrScheduleKind) kind);
  c.lr = config->lr;
  for (guint i = 1; parts[i]; i++) {
    char *kv = g_strstrip (parts[i]);
    char *eq = strchr (kv, '=');

    if (eq == NULL) {
      g_set_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_INVALID,
          "%s schedule: '%s' is not key=value", k->name, kv);
      return FALSE;
    }
    *eq = 0;
    if (!set_key (&c, k, g_strstrip (kv), g_strstrip (eq + 1), error))
      return FALSE;
  }
  *config = c;
  return TRUE;
}

static gboolean
check (gboolean ok, GError ** error, const char *format, ...) G_GNUC_PRINTF (3, 4);

static gboolean
check (gboolean ok, GError ** error, const char *format, ...)
{
  if (!ok) {
    va_list ap;

    va_start (ap, format);
    g_propagate_error (error, g_error_new_valist (T2I_LR_SCHEDULE_ERROR,
            T2I_LR_SCHEDULE_ERROR_INVALID, format, ap));
    va_end (ap);
  }
  return ok;
}

static gboolean
validate (const T2iLrScheduleConfig * c, GError ** error)
{
  if (!check ((guint) c->kind < G_N_ELEMENTS (kinds), error,
          "lr schedule: unknown kind %d", (int) c->kind))
    return FALSE;
  const char *n = kinds[c->kind].name;

  if (!check (isfinite (c->lr) && c->lr >= 0, error,
          "%s schedule: lr must be a finite number >= 0, not %g", n, c->lr)
      || !check (isfinite (c->warmup_from) && c->warmup_from >= 0, error,
          "%s schedule: warmup-from must be a finite number >= 0, not %g", n,
          c->warmup_from)
      || !check (c->warmup <= G_MAXINT64, error, "%s schedule: warmup is too large", n))
    return FALSE;
  switch (c->kind) {
    case T2I_LR_SCHEDULE_CONSTANT:
      return TRUE;
    case T2I_LR_SCHEDULE_COSINE:
      return check (c->total > 0 && c->total <= G_MAXINT64, error,
          "cosine schedule: needs total > 0 (the steps after warm-up)")
          && check (isfinite (c->min_lr) && c->min_lr >= 0, error,
          "cosine schedule: min-lr must be a finite number >= 0, not %g", c->min_lr);
    case T2I_LR_SCHEDULE_STEP:
      return check (c->step_size > 0 && c->step_size <= G_MAXINT64, error,
          "step schedule: needs step-size > 0")
          && check (isfinite (c->factor) && c->factor >= 0, error,
          "step schedule: factor must be a finite number >= 0, not %g", c->factor);
    case T2I_LR_SCHEDULE_PLATEAU:
      return check (c->factor >= 0 && c->factor < 1, error,
          "plateau schedule: factor must be >= 0 and < 1, not %g", c->factor)
          && check (isfinite (c->min_lr) && c->min_lr >= 0, error,
          "plateau schedule: min-lr must be a finite number >= 0, not %g", c->min_lr)
          && check (isfinite (c->threshold) && c->threshold >= 0, error,
          "plateau schedule: threshold must be a finite number >= 0, not %g",
          c->threshold)
          && check (isfinite (c->eps) && c->eps >= 0, error,
          "plateau schedule: eps must be a finite number >= 0, not %g", c->eps);
  }
  return TRUE;
}

/* ---- the schedule ---- */

T2iLrSchedule *
t2i_lr_schedule_new (const T2iLrScheduleConfig * config, GError ** error)
{
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  if (!validate (config, error))
    return NULL;
  T2iLrSchedule *s = g_new0 (T2iLrSchedule, 1);

  s->c = *config;
  s->lr = config->lr;
  s->best = config->maximize ? -INFINITY : INFINITY;
  s->cache_lr = config->lr;
  return s;
}

void
t2i_lr_schedule_free (T2iLrSchedule * s)
{
  g_free (s);
}

const T2iLrScheduleConfig *
t2i_lr_schedule_get_config (T2iLrSchedule * s)
{
  g_return_val_if_fail (s != NULL, NULL);
  return &s->c;
}

double
t2i_lr_schedule_lr (T2iLrSchedule * s, gint64 step)
{
  g_return_val_if_fail (s != NULL && step >= 0, 0.0);
  const T2iLrScheduleConfig *c = &s->c;
  const KindInfo *k = &kinds[c->kind];

  if ((guint64) step < c->warmup) {
    double lr = c->warmup_from + (c->lr - c->warmup_from) * (double) step
        / (double) c->warmup;

    /* VQ-Diffusion's _increase_lr: max(new_lr, min_lr) */
    if (k->has_min_lr && c->min_lr > lr)
      lr = c->min_lr;
    return lr;
  }
  return k->lr (s, (guint64) step - c->warmup);
}

/* ReduceLROnPlateau.is_better, same expressions */
static gboolean
is_better (const T2iLrScheduleConfig * c, double a, double best)
{
  if (!c->maximize)
    return c->threshold_abs ? a < best - c->threshold : a < best * (1. - c->threshold);
  return c->threshold_abs ? a > best + c->threshold : a > best * (c->threshold + 1.);
}

gboolean
t2i_lr_schedule_report (T2iLrSchedule * s, gint64 step, double metric)
{
  g_return_val_if_fail (s != NULL && step >= 0, FALSE);
  const T2iLrScheduleConfig *c = &s->c;
  gboolean reduced = FALSE;

  if (c->kind != T2I_LR_SCHEDULE_PLATEAU || (guint64) step < c->warmup)
    return FALSE;
  if (is_better (c, metric, s->best)) {
    s->best = metric;
    s->bad = 0;
  } else {
    s->bad++;
  }
  if (s->cooldown_left > 0) {
    s->cooldown_left--;
    s->bad = 0;
  }
  if (s->bad > c->patience) {
    double old = s->lr, lr = old * c->factor;

    /* Python's max(old * factor, min_lr) keeps the first on a tie */
    if (c->min_lr > lr)
      lr = c->min_lr;
    if (old - lr > c->eps) {
      s->lr = lr;
      reduced = TRUE;
    }
    s->cooldown_left = c->cooldown;
    s->bad = 0;
  }
  return reduced;
}

/* ---- state ---- */

void
t2i_lr_schedule_get_state (T2iLrSchedule * s, const char *prefix, GHashTable * metadata)
{
  g_return_if_fail (s != NULL && prefix != NULL && metadata != NULL);
  const KindInfo *k = &kinds[s->c.kind];

  g_hash_table_insert (metadata, g_strconcat (prefix, "kind", NULL), g_strdup (k->name));
  for (guint i = 0; i < k->n_state; i++) {
    gpointer field = G_STRUCT_MEMBER_P (s, k->state[i].offset);
    char *value;

    if (k->state[i].is_count) {
      value = g_strdup_printf ("%" G_GUINT64_FORMAT, *(guint64 *) field);
    } else {
      /* %.17g: reads back to the same double; inf for an unset best */
      value = g_malloc (G_ASCII_DTOSTR_BUF_SIZE);
      g_ascii_dtostr (value, G_ASCII_DTOSTR_BUF_SIZE, *(double *) field);
    }
    g_hash_table_insert (metadata, g_strconcat (prefix, k->state[i].key, NULL), value);
  }
}

gboolean
t2i_lr_schedule_set_state (T2iLrSchedule * s, const char *prefix, GHashTable * metadata,
    GError ** error)
{
  g_return_val_if_fail (s != NULL && prefix != NULL && metadata != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  const KindInfo *k = &kinds[s->c.kind];
  g_autofree char *kind_key = g_strconcat (prefix, "kind", NULL);
  const char *kind = g_hash_table_lookup (metadata, kind_key);
  T2iLrSchedule staged = *s;

  if (kind == NULL) {
    g_set_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_STATE,
        "no lr schedule state (\"%s\" missing)", kind_key);
    return FALSE;
  }
  if (!g_str_equal (kind, k->name)) {
    g_set_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_STATE,
        "lr schedule state \"%s\" is for a %s schedule, not %s", kind_key, kind,
        k->name);
    return FALSE;
  }
  for (guint i = 0; i < k->n_state; i++) {
    g_autofree char *key = g_strconcat (prefix, k->state[i].key, NULL);
    const char *value = g_hash_table_lookup (metadata, key);
    gpointer field = G_STRUCT_MEMBER_P (&staged, k->state[i].offset);
    gboolean ok;

    if (k->state[i].is_count)
      ok = parse_steps (value, G_MAXUINT64, field);
    else
      ok = parse_number (value, field) && !isnan (*(double *) field);
    if (!ok) {
      g_set_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_STATE,
          "lr schedule state \"%s\" is %s%s%s", key, value ? "not a number: \"" :
          "missing", value ? value : "", value ? "\"" : "");
      return FALSE;
    }
  }
  *s = staged;
  return TRUE;
}
