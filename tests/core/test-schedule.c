/* Tests for learning-rate schedules.  The sequences come from
 * tests/golden/schedule.json, written by tests/gen-schedule-golden.py with
 * PyTorch's CosineAnnealingLR, StepLR and ReduceLROnPlateau.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/schedule.h>
#include <t2i/safetensors.h>

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

/* cosine goes through cos(): the same libm gives the same bits, but only
 * agreement to rounding is promised */
#define RTOL 1e-12

static JsonParser *golden_parser;
static JsonArray *golden_cases;
static char *tmpdir;

static JsonArray *
load_cases (void)
{
  if (golden_cases == NULL) {
    const char *src = g_getenv ("T2I_SOURCE_DIR");
    g_autofree char *path = g_build_filename (src ? src : ".", "tests", "golden",
        "schedule.json", NULL);
    GError *error = NULL;

    golden_parser = json_parser_new ();
    json_parser_load_from_file (golden_parser, path, &error);
    g_assert_no_error (error);
    golden_cases = json_object_get_array_member (json_node_get_object
        (json_parser_get_root (golden_parser)), "cases");
    g_assert_cmpuint (json_array_get_length (golden_cases), >=, 8);
  }
  return golden_cases;
}

/* a case's schedule, from its specification string */
static T2iLrSchedule *
case_schedule (JsonObject * c)
{
  T2iLrScheduleConfig config;
  GError *error = NULL;
  T2iLrSchedule *s;

  config.lr = json_object_get_double_member (c, "lr");
  g_assert_true (t2i_lr_schedule_config_parse (&config,
          json_object_get_string_member (c, "spec"), &error));
  g_assert_no_error (error);
  g_assert_cmpfloat (config.lr, ==, json_object_get_double_member (c, "lr"));
  s = t2i_lr_schedule_new (&config, &error);
  g_assert_no_error (error);
  g_assert_nonnull (s);
  return s;
}

/* reports the case's metrics for @step, in order */
static void
report_step (T2iLrSchedule * s, JsonObject * c, gint64 step)
{
  JsonArray *reports = json_object_get_array_member (c, "reports");

  for (guint i = 0; i < json_array_get_length (reports); i++) {
    JsonArray *r = json_array_get_array_element (reports, i);

    if (json_array_get_int_element (r, 0) == step)
      t2i_lr_schedule_report (s, step, json_array_get_double_element (r, 1));
  }
}

/* runs @s from @from to the end of the case, checking every lr against
 * PyTorch's and storing it in @got (nullable) */
static guint
check_steps (T2iLrSchedule * s, JsonObject * c, gint64 from, double *got)
{
  const char *name = json_object_get_string_member (c, "name");
  JsonArray *expected = json_object_get_array_member (c, "expected");
  gint64 steps = json_object_get_int_member (c, "steps");
  gboolean exact = json_object_get_boolean_member (c, "exact");
  guint bit_equal = 0;

  g_assert_cmpint (json_array_get_length (expected), ==, steps);
  for (gint64 step = from; step < steps; step++) {
    double e = json_array_get_double_element (expected, (guint) step);
    double a = t2i_lr_schedule_lr (s, step);

    if (a == e)
      bit_equal++;
    else if (exact || fabs (a - e) > RTOL * fabs (e))
      g_error ("%s, step %" G_GINT64_FORMAT ": got %.17g, PyTorch %.17g", name, step, a, e);
    if (got)
      got[step] = a;
    report_step (s, c, step);
  }
  return bit_equal;
}

static void
test_golden (void)
{
  JsonArray *cases = load_cases ();

  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    g_autoptr (T2iLrSchedule) s = case_schedule (c);
    guint equal = check_steps (s, c, 0, NULL);

    g_test_message ("%s: %u of %" G_GINT64_FORMAT " bit-equal to PyTorch",
        json_object_get_string_member (c, "name"), equal,
        json_object_get_int_member (c, "steps"));
  }
}

/* stops every case at every step, saves, restores into a fresh schedule and
 * checks that the rest of the sequence is PyTorch's and the same, bit for
 * bit, as the uninterrupted schedule's */
static void
test_resume (void)
{
  JsonArray *cases = load_cases ();

  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    gint64 steps = json_object_get_int_member (c, "steps");

    for (gint64 stop = 0; stop <= steps; stop++) {
      g_autoptr (T2iLrSchedule) first = case_schedule (c);
      g_autoptr (T2iLrSchedule) second = case_schedule (c);
      g_autoptr (GHashTable) md = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
          g_free);
      GError *error = NULL;

      for (gint64 step = 0; step < stop; step++) {
        t2i_lr_schedule_lr (first, step);
        report_step (first, c, step);
      }
      t2i_lr_schedule_get_state (first, "sched/G/", md);
      g_assert_true (t2i_lr_schedule_set_state (second, "sched/G/", md, &error));
      g_assert_no_error (error);
      g_autofree double *resumed = g_new0 (double, steps + 1);
      g_autofree double *straight = g_new0 (double, steps + 1);
      check_steps (second, c, stop, resumed);
      check_steps (first, c, stop, straight);
      /* bit for bit what the uninterrupted schedule gives */
      g_assert_cmpmem (resumed, (steps + 1) * sizeof (double), straight,
          (steps + 1) * sizeof (double));
    }
  }
}

/* the trainer's way: the state goes through a checkpoint's __metadata__ */
static void
test_resume_file (void)
{
  JsonObject *c = NULL;
  JsonArray *cases = load_cases ();
  g_autofree char *path = g_build_filename (tmpdir, "sched.safetensors", NULL);
  GError *error = NULL;

  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *o = json_array_get_object_element (cases, i);

    if (g_str_equal (json_object_get_string_member (o, "name"), "plateau_min"))
      c = o;
  }
  g_assert_nonnull (c);

  g_autoptr (T2iLrSchedule) first = case_schedule (c);
  g_autoptr (GHashTable) md = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  const gint64 stop = 17;       /* in a cooldown, with bad reports counted before */

  for (gint64 step = 0; step < stop; step++) {
    t2i_lr_schedule_lr (first, step);
    report_step (first, c, step);
  }
  t2i_lr_schedule_get_state (first, "sched/G/", md);
  g_assert_cmpstr (g_hash_table_lookup (md, "sched/G/kind"), ==, "plateau");
  g_assert_nonnull (g_hash_table_lookup (md, "sched/G/best"));
  g_assert_true (t2i_safetensors_save (path, NULL, NULL, 0, md, &error));
  g_assert_no_error (error);

  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (path, &error);
  g_assert_no_error (error);
  g_autoptr (T2iLrSchedule) second = case_schedule (c);
  g_assert_true (t2i_lr_schedule_set_state (second, "sched/G/",
          t2i_safetensors_get_metadata_table (st), &error));
  g_assert_no_error (error);
  g_assert_true (json_object_get_boolean_member (c, "exact"));
  check_steps (second, c, stop, NULL);
  g_unlink (path);
}

static T2iLrSchedule *
from_spec (const char *spec, double lr)
{
  T2iLrScheduleConfig config;
  GError *error = NULL;
  T2iLrSchedule *s;

  config.lr = lr;
  g_assert_true (t2i_lr_schedule_config_parse (&config, spec, &error));
  g_assert_no_error (error);
  s = t2i_lr_schedule_new (&config, &error);
  g_assert_no_error (error);
  return s;
}

static void
test_behaviour (void)
{
  /* cosine holds min-lr after total (PyTorch's would rise again) */
  g_autoptr (T2iLrSchedule) cos = from_spec ("cosine,total=10,min-lr=0.01,warmup=2", 1.0);
  g_assert_cmpfloat (t2i_lr_schedule_lr (cos, 2), ==, 1.0);
  for (gint64 step = 12; step < 40; step++)
    g_assert_cmpfloat (t2i_lr_schedule_lr (cos, step), ==, 0.01);
  g_assert_false (t2i_lr_schedule_report (cos, 5, 1.0));

  /* step: the cached product does not depend on the order of the queries */
  g_autoptr (T2iLrSchedule) a = from_spec ("step,step-size=2,factor=0.9", 0.5);
  g_autoptr (T2iLrSchedule) b = from_spec ("step,step-size=2,factor=0.9", 0.5);
  double seq[100];
  for (gint64 step = 0; step < 100; step++)
    seq[step] = t2i_lr_schedule_lr (a, step);
  const gint64 order[] = { 99, 3, 50, 51, 0, 98, 7 };
  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    g_assert_cmpfloat (t2i_lr_schedule_lr (b, order[i]), ==, seq[order[i]]);
  /* and stops multiplying once the lr is 0 */
  g_autoptr (T2iLrSchedule) z = from_spec ("step,step-size=1,factor=0.5", 1.0);
  g_assert_cmpfloat (t2i_lr_schedule_lr (z, G_MAXINT64 / 2), ==, 0.0);

  /* plateau: a NaN metric is never better; warm-up reports are ignored */
  g_autoptr (T2iLrSchedule) p = from_spec ("plateau,patience=1,factor=0.5,warmup=3", 1.0);
  g_assert_false (t2i_lr_schedule_report (p, 0, 1e9));
  g_assert_false (t2i_lr_schedule_report (p, 2, 1e9));
  g_assert_cmpfloat (t2i_lr_schedule_lr (p, 1), ==, 1.0 / 3);
  g_assert_false (t2i_lr_schedule_report (p, 3, 1.0));
  g_assert_false (t2i_lr_schedule_report (p, 4, NAN));
  g_assert_true (t2i_lr_schedule_report (p, 5, NAN));
  g_assert_cmpfloat (t2i_lr_schedule_lr (p, 6), ==, 0.5);
  g_assert_cmpfloat (t2i_lr_schedule_lr (p, 1), ==, 1.0 / 3);

  /* the configuration a schedule was made with */
  const T2iLrScheduleConfig *c = t2i_lr_schedule_get_config (p);
  g_assert_cmpint (c->kind, ==, T2I_LR_SCHEDULE_PLATEAU);
  g_assert_cmpuint (c->patience, ==, 1);
  g_assert_cmpfloat (c->threshold, ==, 1e-4);
  g_assert_cmpstr (t2i_lr_schedule_kind_to_string (c->kind), ==, "plateau");
}

static void
expect_parse_error (const char *spec, const char *part)
{
  T2iLrScheduleConfig config;
  GError *error = NULL;

  t2i_lr_schedule_config_init (&config, T2I_LR_SCHEDULE_COSINE);
  config.total = 77;
  g_assert_false (t2i_lr_schedule_config_parse (&config, spec, &error));
  g_assert_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_INVALID);
  g_test_message ("%s -> %s", spec, error->message);
  g_assert_nonnull (strstr (error->message, part));
  g_assert_null (strchr (error->message, '\n'));
  g_assert_cmpuint (config.total, ==, 77);      /* untouched */
  g_error_free (error);
}

static void
expect_new_error (const char *spec, const char *part)
{
  T2iLrScheduleConfig config;
  GError *error = NULL;

  config.lr = 0.1;
  g_assert_true (t2i_lr_schedule_config_parse (&config, spec, &error));
  g_assert_null (t2i_lr_schedule_new (&config, &error));
  g_assert_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_INVALID);
  g_test_message ("%s -> %s", spec, error->message);
  g_assert_nonnull (strstr (error->message, part));
  g_error_free (error);
}

static void
test_config_errors (void)
{
  expect_parse_error ("linear,total=3", "unknown kind 'linear'");
  expect_parse_error ("cosine,totl=3", "unknown key 'totl' (it reads total, min-lr, "
      "warmup, warmup-from)");
  expect_parse_error ("step,step-size=3,patience=2", "step schedule: does not read key "
      "'patience' (it reads step-size, factor, warmup, warmup-from)");
  expect_parse_error ("constant,factor=0.5", "(it reads warmup, warmup-from)");
  expect_parse_error ("cosine,total=ten", "total=ten is not a whole number of steps");
  expect_parse_error ("cosine,total=-3", "total=-3 is not a whole number");
  expect_parse_error ("plateau,mode=up", "mode=up is not min or max");
  expect_parse_error ("plateau,threshold-mode=relative", "is not rel or abs");
  expect_parse_error ("plateau,factor=0.5x", "factor=0.5x is not a number");
  expect_parse_error ("plateau,patience", "'patience' is not key=value");

  expect_new_error ("cosine", "cosine schedule: needs total > 0");
  expect_new_error ("cosine,total=5,min-lr=-1", "min-lr must be a finite number >= 0");
  expect_new_error ("step", "step schedule: needs step-size > 0");
  expect_new_error ("step,step-size=2,factor=inf", "factor must be a finite number");
  expect_new_error ("plateau,factor=1", "plateau schedule: factor must be >= 0 and < 1, "
      "not 1");
  expect_new_error ("plateau,threshold=nan", "threshold must be");
  expect_new_error ("constant,warmup=3,warmup-from=-0.1", "warmup-from must be");

  T2iLrScheduleConfig config;
  GError *error = NULL;
  t2i_lr_schedule_config_init (&config, T2I_LR_SCHEDULE_CONSTANT);
  config.lr = -1;
  g_assert_null (t2i_lr_schedule_new (&config, &error));
  g_assert_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "lr must be a finite number >= 0, not -1"));
  g_clear_error (&error);

  /* spaces around the pieces are allowed */
  g_autoptr (T2iLrSchedule) s = from_spec (" plateau , mode = max , threshold-mode=abs ",
      0.1);
  g_assert_true (t2i_lr_schedule_get_config (s)->maximize);
  g_assert_true (t2i_lr_schedule_get_config (s)->threshold_abs);
}

static void
expect_state_error (T2iLrSchedule * s, GHashTable * md, const char *part)
{
  GError *error = NULL;

  g_assert_false (t2i_lr_schedule_set_state (s, "sched/G/", md, &error));
  g_assert_error (error, T2I_LR_SCHEDULE_ERROR, T2I_LR_SCHEDULE_ERROR_STATE);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, part));
  g_error_free (error);
}

static void
test_state_errors (void)
{
  g_autoptr (T2iLrSchedule) p = from_spec ("plateau,patience=0,factor=0.5", 1.0);
  g_autoptr (T2iLrSchedule) cos = from_spec ("cosine,total=4", 1.0);
  g_autoptr (GHashTable) md = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);

  expect_state_error (p, md, "no lr schedule state (\"sched/G/kind\" missing)");
  t2i_lr_schedule_get_state (cos, "sched/G/", md);
  g_assert_cmpuint (g_hash_table_size (md), ==, 1);
  expect_state_error (p, md, "\"sched/G/kind\" is for a cosine schedule, not plateau");

  /* a reduced plateau; a failed restore leaves it as it was */
  t2i_lr_schedule_report (p, 0, 1.0);
  g_assert_true (t2i_lr_schedule_report (p, 1, 2.0));
  g_assert_cmpfloat (t2i_lr_schedule_lr (p, 2), ==, 0.5);
  g_hash_table_remove_all (md);
  t2i_lr_schedule_get_state (p, "sched/G/", md);
  g_assert_cmpuint (g_hash_table_size (md), ==, 5);
  g_assert_cmpstr (g_hash_table_lookup (md, "sched/G/lr"), ==, "0.5");
  g_assert_cmpstr (g_hash_table_lookup (md, "sched/G/best"), ==, "1");

  g_autoptr (T2iLrSchedule) fresh = from_spec ("plateau,patience=0,factor=0.5", 1.0);
  g_hash_table_insert (md, g_strdup ("sched/G/best"), g_strdup ("1.0x"));
  expect_state_error (fresh, md, "\"sched/G/best\" is not a number: \"1.0x\"");
  g_hash_table_insert (md, g_strdup ("sched/G/best"), g_strdup ("1"));
  g_hash_table_remove (md, "sched/G/cooldown-left");
  expect_state_error (fresh, md, "\"sched/G/cooldown-left\" is missing");
  g_assert_cmpfloat (t2i_lr_schedule_lr (fresh, 0), ==, 1.0);

  /* an unset best (inf) survives the round trip */
  g_autoptr (T2iLrSchedule) max = from_spec ("plateau,mode=max", 1.0);
  g_hash_table_remove_all (md);
  t2i_lr_schedule_get_state (max, "p.", md);
  g_assert_cmpstr (g_hash_table_lookup (md, "p.best"), ==, "-inf");
  g_autoptr (T2iLrSchedule) max2 = from_spec ("plateau,mode=max", 1.0);
  GError *error = NULL;
  g_assert_true (t2i_lr_schedule_set_state (max2, "p.", md, &error));
  g_assert_no_error (error);
}

int
main (int argc, char **argv)
{
  gint ret;

  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("t2i-schedule-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_test_add_func ("/schedule/golden", test_golden);
  g_test_add_func ("/schedule/resume", test_resume);
  g_test_add_func ("/schedule/resume-file", test_resume_file);
  g_test_add_func ("/schedule/behaviour", test_behaviour);
  g_test_add_func ("/schedule/config-errors", test_config_errors);
  g_test_add_func ("/schedule/state-errors", test_state_errors);
  ret = g_test_run ();
  g_rmdir (tmpdir);
  g_free (tmpdir);
  g_clear_object (&golden_parser);
  return ret;
}
