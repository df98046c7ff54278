/* t2itrainer: same parameters as the core API, bit-exact resume, NaN and
 * configuration errors, messages, and checkpoints that survive SIGKILL.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <glib/gstdio.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define IN 5
#define HIDDEN 6
#define OUT 3
#define BATCH 8

typedef struct
{
  char *dir, *data, *init, *ck;
} Fixture;

static const char *param_names[] = { "toy.fc1.weight", "toy.fc1.bias",
  "toy.fc2.weight", "toy.fc2.bias", NULL
};

static T2iTensor *
randn (T2iRng * rng, gint ndim, const gint64 * shape, double scale)
{
  T2iTensor *t = t2i_rng_randn (rng, T2I_F32, ndim, shape);
  for (gint64 i = 0; i < t->numel; i++)
    t2i_tensor_f32 (t)[i] *= (float) scale;
  return t;
}

static void
fixture_setup (Fixture * f, gconstpointer data)
{
  T2iRng rng;
  t2i_rng_init (&rng, 42);
  f->dir = test_tmpdir ();
  f->data = g_build_filename (f->dir, "data.safetensors", NULL);
  f->init = g_build_filename (f->dir, "init.safetensors", NULL);
  f->ck = g_build_filename (f->dir, "ck.safetensors", NULL);

  g_autoptr (T2iTensor) x = randn (&rng, T2I_SHAPE (BATCH, IN), 1.0);
  g_autoptr (T2iTensor) t = randn (&rng, T2I_SHAPE (BATCH, OUT), 1.0);
  test_save (f->data, (const char *[]) { "x", "t", NULL },
      (T2iTensor *[]) { x, t });

  g_autoptr (T2iTensor) w1 = randn (&rng, T2I_SHAPE (HIDDEN, IN), 0.4);
  g_autoptr (T2iTensor) b1 = randn (&rng, T2I_SHAPE (HIDDEN), 0.1);
  g_autoptr (T2iTensor) w2 = randn (&rng, T2I_SHAPE (OUT, HIDDEN), 0.4);
  g_autoptr (T2iTensor) b2 = randn (&rng, T2I_SHAPE (OUT), 0.1);
  test_save (f->init, param_names, (T2iTensor *[]) { w1, b1, w2, b2 });
}

static void
fixture_teardown (Fixture * f, gconstpointer data)
{
  test_rmdir (f->dir);
  g_free (f->dir);
  g_free (f->data);
  g_free (f->init);
  g_free (f->ck);
}

#define TRAIN_SETTINGS "lr=0.05 group-settings=\"toy:lr=0.02,betas=0.5,0.9\" " \
  "clip-grad-norm=0.5"

static char *
train_pipeline (Fixture * f, guint repeat, const char *loss_extra,
    const char *trainer_extra)
{
  return g_strdup_printf ("t2itensorsrc location=%s repeat=%u ! "
      "t2itesttoy name=toy hidden=%d out-features=%d weights=%s ! "
      "t2itestmse update=toy output=mse %s ! t2itrainer checkpoint=%s %s",
      f->data, repeat, HIDDEN, OUT, f->init, loss_extra, f->ck,
      trainer_extra);
}

static double
max_abs_diff (T2iTensor * a, T2iTensor * b)
{
  double m = 0;
  g_assert_true (t2i_tensor_same_shape (a, b));
  for (gint64 i = 0; i < a->numel; i++)
    m = MAX (m, fabs (t2i_tensor_get (a, i) - t2i_tensor_get (b, i)));
  return m;
}

/* The pipeline reaches the parameters of the same model trained with the
 * core API (optimizer + t2i_backward in a loop). */
static void
test_matches_core_api (Fixture * f, gconstpointer data)
{
  const guint steps = 7;
  g_autofree char *desc = train_pipeline (f, steps, "", TRAIN_SETTINGS);
  g_autofree char *err = NULL;
  gboolean ok = test_run_pipeline (desc, &err, NULL, NULL);
  g_assert_cmpstr (err, ==, NULL);
  g_assert_true (ok);

  /* the same by hand */
  g_autoptr (T2iSafetensors) data_st = t2i_safetensors_load (f->data, NULL);
  g_autoptr (T2iSafetensors) init_st = t2i_safetensors_load (f->init, NULL);
  g_autoptr (T2iTensor) x = t2i_safetensors_get (data_st, "x");
  g_autoptr (T2iTensor) t = t2i_safetensors_get (data_st, "t");
  g_autoptr (T2iParamGroup) group = t2i_param_group_new ("toy");
  T2iTensor *p[5] = { NULL };
  for (int i = 0; i < 4; i++) {
    g_autoptr (T2iTensor) v = t2i_safetensors_get (init_st, param_names[i]);
    p[i] = t2i_param_group_add (group, param_names[i] + 4, v, TRUE)->value;
  }
  T2iOptimizerConfig config;
  t2i_optimizer_config_init (&config, T2I_OPTIMIZER_ADAM);
  config.lr = 0.02;
  config.beta1 = 0.5;
  config.beta2 = 0.9;
  g_autoptr (T2iOptimizer) opt = t2i_optimizer_new (group, &config);
  for (guint s = 0; s < steps; s++) {
    g_autoptr (T2iTensor) h = t2i_linear (x, p[0], p[1]);
    g_autoptr (T2iTensor) a = t2i_tanh (h);
    g_autoptr (T2iTensor) y = t2i_linear (a, p[2], p[3]);
    g_autoptr (T2iTensor) l = t2i_mse_loss (y, t);
    t2i_param_group_zero_grad (group);
    t2i_backward (l, p);
    t2i_param_groups_clip_grad_norm (&group, 1, 0.5);
    t2i_optimizer_step (opt);
    t2i_optimizer_zero_grad (opt);
  }

  g_autoptr (T2iSafetensors) ck = t2i_safetensors_load (f->ck, NULL);
  g_assert_nonnull (ck);
  g_assert_cmpstr (t2i_safetensors_get_metadata (ck, "step"), ==, "7");
  g_assert_cmpstr (t2i_safetensors_get_metadata (ck, "optim/toy/step"), ==,
      "7");
  gboolean exact = TRUE;
  for (int i = 0; i < 4; i++) {
    g_autoptr (T2iTensor) got = t2i_safetensors_get (ck, param_names[i]);
    g_autoptr (T2iTensor) init = t2i_safetensors_get (init_st,
        param_names[i]);
    g_assert_nonnull (got);
    /* it trained */
    g_assert_cmpfloat (max_abs_diff (got, init), >, 1e-4);
    double d = max_abs_diff (got, p[i]);
    g_test_message ("%s: max |pipeline - core| = %g", param_names[i], d);
    g_assert_cmpfloat (d, <=, 1e-6);
    exact &= memcmp (got->data, p[i]->data, got->nbytes) == 0;
  }
  g_test_message ("bit-identical: %s", exact ? "yes" : "no");
}

/* N steps == N/2 steps + resume + N/2 steps, byte for byte */
static void
test_resume_bit_identical (Fixture * f, gconstpointer data)
{
  const char *extra = TRAIN_SETTINGS " ema=toy ema-decay=0.9 save-every=2";
  g_autofree char *ck_full = g_build_filename (f->dir, "full.safetensors",
      NULL);

  g_autofree char *full = train_pipeline (f, 6, "", extra);
  g_assert_true (test_run_pipeline (full, NULL, NULL, NULL));
  g_assert_cmpint (g_rename (f->ck, ck_full), ==, 0);

  g_autofree char *half = train_pipeline (f, 3, "", extra);
  g_assert_true (test_run_pipeline (half, NULL, NULL, NULL));
  g_autoptr (T2iSafetensors) mid = t2i_safetensors_load (f->ck, NULL);
  g_assert_cmpstr (t2i_safetensors_get_metadata (mid, "step"), ==, "3");

  g_autofree char *extra2 = g_strconcat (extra, " resume=true", NULL);
  g_autofree char *rest = train_pipeline (f, 6, "", extra2);
  g_autoptr (GPtrArray) msgs =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_assert_true (test_run_pipeline (rest, NULL, "t2i-checkpoint", msgs));
  /* the source skipped the 3 trained records: saves at 4 and 6 only */
  g_assert_cmpuint (msgs->len, ==, 2);
  gint64 step;
  g_assert_true (gst_structure_get_int64 (msgs->pdata[1], "step", &step));
  g_assert_cmpint (step, ==, 6);

  g_autoptr (GBytes) a = test_read_file (ck_full);
  g_autoptr (GBytes) b = test_read_file (f->ck);
  g_assert_true (g_bytes_equal (a, b));

  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (f->ck, NULL);
  g_assert_true (t2i_safetensors_has (st, "ema/toy.fc1.weight"));
  g_assert_true (t2i_safetensors_has (st, "optim/toy/fc1.weight/exp_avg"));
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "format"), ==,
      "t2i-checkpoint");
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "ema/toy/updates"), ==,
      "6");
  g_assert_nonnull (t2i_safetensors_get_metadata (st, "rng/offset"));

  /* resuming a finished run trains nothing and keeps the file */
  g_assert_true (test_run_pipeline (rest, NULL, NULL, NULL));
  g_autoptr (GBytes) c = test_read_file (f->ck);
  g_assert_true (g_bytes_equal (a, c));
}

static void
test_messages (Fixture * f, gconstpointer data)
{
  g_autofree char *desc = train_pipeline (f, 6, "",
      "report-every=2 save-every=3");
  g_autoptr (GPtrArray) train =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_assert_true (test_run_pipeline (desc, NULL, "t2i-train", train));
  g_assert_cmpuint (train->len, ==, 3);
  for (guint i = 0; i < train->len; i++) {
    const GstStructure *s = train->pdata[i];
    gint64 step, epoch;
    double loss, ips;
    g_assert_true (gst_structure_get_int64 (s, "step", &step));
    g_assert_cmpint (step, ==, 2 * (i + 1));
    g_assert_true (gst_structure_get_int64 (s, "epoch", &epoch));
    g_assert_true (gst_structure_get_double (s, "loss/mse", &loss));
    g_assert_true (isfinite (loss) && loss > 0);
    g_assert_true (gst_structure_get_double (s, "items-per-second", &ips));
    /* records without phases: no phase field (not an empty one) */
    g_assert_false (gst_structure_has_field (s, "phase"));
  }

  g_autoptr (GPtrArray) cks =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_assert_true (test_run_pipeline (desc, NULL, "t2i-checkpoint", cks));
  g_assert_cmpuint (cks->len, ==, 2);
  g_assert_cmpstr (gst_structure_get_string (cks->pdata[0], "path"), ==,
      f->ck);
}

/* samples=: run after each save with {checkpoint} and {step} replaced; here
 * it copies the checkpoint just written */
static void
test_samples (Fixture * f, gconstpointer data)
{
  g_autofree char *extra = g_strdup_printf ("save-every=3 samples=\""
      "filesrc location={checkpoint} ! filesink location=%s/copy-{step}\"",
      f->dir);
  g_autofree char *desc = train_pipeline (f, 7, "", extra);
  g_assert_true (test_run_pipeline (desc, NULL, NULL, NULL));
  const char *steps[] = { "3", "6", "7" };
  for (guint i = 0; i < G_N_ELEMENTS (steps); i++) {
    g_autofree char *copy = g_strdup_printf ("%s/copy-%s", f->dir, steps[i]);
    g_autoptr (T2iSafetensors) st = t2i_safetensors_load (copy, NULL);
    g_assert_nonnull (st);
    g_assert_cmpstr (t2i_safetensors_get_metadata (st, "step"), ==, steps[i]);
  }
}

/* After each samples run: t2i-samples with the files its sinks wrote
 * (filesink's location, each file of multifilesink's numbered one) and
 * the captions of its first grid */
static void
test_samples_message (Fixture * f, gconstpointer data)
{
  g_autofree char *extra = g_strdup_printf ("save-every=2 samples=\""
      "t2idatasetsrc dataset=shapes batch-size=4 resolution=8 max-steps=2 "
      "! tee name=t ! queue ! t2itovideo input=image grid-columns=2 "
      "captions=caption ! videoconvert ! pngenc ! multifilesink "
      "location=%s/grid-{step}-%%02d.png t. ! queue ! filesink "
      "location=%s/raw-{step}\"", f->dir, f->dir);
  g_autofree char *desc = train_pipeline (f, 3, "", extra);
  g_autoptr (GPtrArray) msgs =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_autofree char *err = NULL;
  g_assert_true (test_run_pipeline (desc, &err, "t2i-samples", msgs));
  g_assert_cmpuint (msgs->len, ==, 2);
  for (guint i = 0; i < msgs->len; i++) {
    const GstStructure *s = msgs->pdata[i];
    gint64 step = -1;
    gint columns = 0;
    g_assert_true (gst_structure_get_int64 (s, "step", &step));
    g_assert_cmpint (step, ==, i == 0 ? 2 : 3);
    g_assert_cmpstr (gst_structure_get_string (s, "checkpoint"), ==, f->ck);
    const GValue *files = gst_structure_get_value (s, "files");
    g_assert_true (GST_VALUE_HOLDS_ARRAY (files));
    g_assert_cmpuint (gst_value_array_get_size (files), ==, 3);
    /* sorted: the two grids, then the raw file */
    for (guint k = 0; k < 3; k++) {
      g_autofree char *want = k < 2 ?
          g_strdup_printf ("%s/grid-%" G_GINT64_FORMAT "-%02u.png", f->dir,
          step, k) : g_strdup_printf ("%s/raw-%" G_GINT64_FORMAT, f->dir,
          step);
      g_assert_cmpstr (g_value_get_string (gst_value_array_get_value (files,
                  k)), ==, want);
      g_assert_true (g_file_test (want, G_FILE_TEST_IS_REGULAR));
    }
    const GValue *captions = gst_structure_get_value (s, "captions");
    g_assert_nonnull (captions);
    g_assert_cmpuint (gst_value_array_get_size (captions), ==, 4);
    g_assert_true (gst_structure_get_int (s, "columns", &columns));
    g_assert_cmpint (columns, ==, 2);
  }
}

/* eval=: run after each save (and the samples); each t2i-metric becomes a
 * t2i-eval with the step, the checkpoint and the metric element's name */
static void
test_eval (Fixture * f, gconstpointer data)
{
  g_autofree char *extra = g_strdup_printf ("save-every=2 samples=\""
      "fakesrc num-buffers=1 ! fakesink\" eval=\"t2itensorsrc location=%s "
      "! t2imetric name=score kind=fid real=x fake=x output=%s/fid-{step}"
      ".json ! fakesink\"", f->data, f->dir);
  g_autofree char *desc = train_pipeline (f, 5, "", extra);
  g_autoptr (GPtrArray) msgs =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_autofree char *err = NULL;
  g_assert_true (test_run_pipeline (desc, &err, "t2i-eval", msgs));
  g_assert_cmpstr (err, ==, NULL);
  /* saves at 2, 4 and at EOS (5) */
  g_assert_cmpuint (msgs->len, ==, 3);
  for (guint i = 0; i < msgs->len; i++) {
    const GstStructure *s = msgs->pdata[i];
    gint64 step = -1, n = -1;
    double value = -1;
    g_assert_true (gst_structure_get_int64 (s, "step", &step));
    g_assert_cmpint (step, ==, i < 2 ? 2 * (i + 1) : 5);
    g_assert_cmpstr (gst_structure_get_string (s, "kind"), ==, "fid");
    g_assert_cmpstr (gst_structure_get_string (s, "source"), ==, "score");
    g_assert_cmpstr (gst_structure_get_string (s, "checkpoint"), ==, f->ck);
    g_assert_true (gst_structure_get_double (s, "value", &value));
    g_assert_cmpfloat (fabs (value), <, 1e-6);
    g_assert_true (gst_structure_get_int64 (s, "n", &n));
    g_assert_cmpint (n, ==, BATCH);
    g_assert_true (gst_structure_has_field (s, "details"));
    /* {step} was replaced */
    g_autofree char *out = g_strdup_printf ("%s/fid-%" G_GINT64_FORMAT
        ".json", f->dir, step);
    g_assert_true (g_file_test (out, G_FILE_TEST_IS_REGULAR));
  }

  /* an error of the eval pipeline stops training, naming it and the step */
  g_autofree char *failing = g_strdup_printf ("save-every=2 eval=\""
      "t2itensorsrc location=%s ! t2imetric kind=fid real=nosuch fake=x ! "
      "fakesink\"", f->data);
  g_autofree char *d2 = train_pipeline (f, 5, "", failing);
  g_autofree char *err2 = NULL;
  g_assert_false (test_run_pipeline (d2, &err2, NULL, NULL));
  g_test_message ("error: %s", err2);
  g_assert_nonnull (strstr (err2, "eval at step 2"));
  g_assert_nonnull (strstr (err2, "nosuch"));
}

/* samples= that GStreamer's parser would crash on (links between
 * references and no element, fuzz-launch's regressions) or that does not
 * parse: one error when the trainer starts, before a step */
static void
test_samples_refused (Fixture * f, gconstpointer data)
{
  static const char *const bad[][2] = {
    {"a. ! b.", "samples: no element named 'a' (at byte 0)"},
    {"fakesrc ! ( fakesink", "samples: syntax error: '(' is never closed"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autofree char *extra = g_strdup_printf ("save-every=2 samples=\"%s\"",
        bad[i][0]);
    g_autofree char *desc = train_pipeline (f, 4, "", extra);
    g_autofree char *err = NULL;
    g_assert_false (test_run_pipeline (desc, &err, NULL, NULL));
    g_test_message ("error: %s", err);
    g_assert_true (g_str_has_prefix (err, bad[i][1]));
    g_assert_null (strchr (err, '\n'));
    g_assert_false (g_file_test (f->ck, G_FILE_TEST_EXISTS));
  }
}

/* samples= reading a file that is not there: the trainer fails when it
 * starts, before a step, and no output file is created */
static void
test_samples_missing_input (Fixture * f, gconstpointer data)
{
  g_autofree char *prompts = g_build_filename (f->dir, "prompts.txt", NULL);
  g_autofree char *extra = g_strdup_printf ("save-every=2 samples=\""
      "t2itextsrc location=%s ! filesink location=%s/out-{step}\"", prompts,
      f->dir);
  g_autofree char *desc = train_pipeline (f, 4, "", extra);
  g_autofree char *err = NULL;
  g_autofree char *out0 = g_strdup_printf ("%s/out-0", f->dir);
  g_autofree char *out2 = g_strdup_printf ("%s/out-2", f->dir);

  g_assert_false (test_run_pipeline (desc, &err, NULL, NULL));
  g_test_message ("error: %s", err);
  g_assert_true (g_str_has_prefix (err, "samples: t2itextsrc"));
  g_assert_nonnull (strstr (err, "location=" ));
  g_assert_nonnull (strstr (err, "No such file"));
  g_assert_false (g_file_test (f->ck, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (out0, G_FILE_TEST_EXISTS));

  /* there at start, gone at the first save: that save's samples fail,
   * still before the sink creates its file */
  g_assert_true (g_file_set_contents (prompts, "a red circle\n", -1, NULL));
  g_autofree char *slow = g_strdup_printf ("t2itensorsrc location=%s "
      "repeat=4 ! identity sleep-time=300000 ! t2itesttoy name=toy hidden=%d "
      "out-features=%d weights=%s ! t2itestmse update=toy output=mse ! "
      "t2itrainer checkpoint=%s %s", f->data, HIDDEN, OUT, f->init, f->ck,
      extra);
  GstElement *pipe = gst_parse_launch (slow, NULL);
  g_assert_nonnull (pipe);
  GstBus *bus = gst_element_get_bus (pipe);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  g_assert_cmpint (gst_element_get_state (pipe, NULL, NULL,
          GST_CLOCK_TIME_NONE), ==, GST_STATE_CHANGE_SUCCESS);
  g_unlink (prompts);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_cmpint (GST_MESSAGE_TYPE (msg), ==, GST_MESSAGE_ERROR);
  GError *gerr = NULL;
  gst_message_parse_error (msg, &gerr, NULL);
  g_test_message ("error: %s", gerr->message);
  g_assert_true (g_str_has_prefix (gerr->message, "samples: t2itextsrc"));
  g_error_free (gerr);
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  g_assert_true (g_file_test (f->ck, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (out2, G_FILE_TEST_EXISTS));
}

static void
test_nan (Fixture * f, gconstpointer data)
{
  g_autofree char *desc = train_pipeline (f, 6, "nan-at-step=3",
      "save-every=1");
  g_autofree char *err = NULL;
  g_assert_false (test_run_pipeline (desc, &err, NULL, NULL));
  g_test_message ("error: %s", err);
  g_assert_nonnull (strstr (err, "'loss/mse'"));
  g_assert_nonnull (strstr (err, "NaN at step 4"));
  g_assert_nonnull (strstr (err, "(step 3) is kept"));
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (f->ck, NULL);
  g_assert_nonnull (st);
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "step"), ==, "3");
}

static void
expect_error (const char *desc, const char *const *needles)
{
  g_autofree char *err = NULL;
  g_assert_false (test_run_pipeline (desc, &err, NULL, NULL));
  g_assert_nonnull (err);
  g_test_message ("error: %s", err);
  g_assert_null (strchr (err, '\n'));
  for (guint i = 0; needles[i]; i++)
    if (!strstr (err, needles[i]))
      g_error ("error \"%s\" does not mention \"%s\"", err, needles[i]);
}

static void
test_errors (Fixture * f, gconstpointer data)
{
  struct
  {
    const char *loss, *trainer;
    const char *needles[4];
  } cases[] = {
    {"", "group-settings=\"toy:lr=abc\"", {"group-settings", "'abc'", "lr"}},
    {"", "group-settings=\"toy lr=1\"", {"group-settings", "no ':'"}},
    {"", "group-settings=\"toy:speed=3\"", {"unknown key 'speed'"}},
    {"", "group-settings=\"toy:lr=1;toy:eps=1\"", {"'toy' appears twice"}},
    {"", "group-settings=\"other:lr=1\"", {"group 'other'", "toy"}},
    {"", "betas=0.9", {"betas=\"0.9\""}},
    {"", "ema=nosuch", {"ema=nosuch", "toy"}},
    {"", "resume=true checkpoint=\"\"", {"resume=true", "checkpoint"}},
    {"", "samples=\"fakesrc ! nosuchelement\"", {"samples", "nosuchelement"}},
    {"", "checkpoint=\"\" samples=\"fakesrc ! fakesink\"",
        {"samples", "checkpoint"}},
    {"", "eval=\"fakesrc ! nosuchelement\"", {"eval", "nosuchelement"}},
    {"", "checkpoint=\"\" eval=\"fakesrc ! fakesink\"",
        {"eval needs checkpoint"}},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *d = train_pipeline (f, 2, cases[i].loss,
        cases[i].trainer);
    expect_error (d, cases[i].needles);
  }

  g_autofree char *d1 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itesttoy name=toy out-features=3 ! t2itestmse update=nosuch output=mse ! "
      "t2itrainer", f->data);
  expect_error (d1, (const char *[]) { "'loss/mse'", "'nosuch'",
        "groups: toy", NULL });

  g_autofree char *d2 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itesttoy name=toy out-features=3 ! t2itrainer", f->data);
  expect_error (d2, (const char *[]) { "loss/*", "upstream offers", NULL });

  g_autofree char *d3 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itesttoy name=toy out-features=3 trainable=false ! t2itestmse update=toy ! "
      "t2itrainer", f->data);
  expect_error (d3, (const char *[]) { "'toy'", "trainable", NULL });

  /* a file that is not a checkpoint */
  g_autofree char *d4 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itesttoy name=toy out-features=3 ! t2itestmse update=toy ! t2itrainer "
      "checkpoint=%s resume=true", f->data, f->data);
  expect_error (d4, (const char *[]) { "resume", "not a t2itrainer "
        "checkpoint", NULL });
}

/* ---- a kill during a save never leaves a torn checkpoint ---- */

static int
save_loop_child (const char *dir)
{
  g_autofree char *data = g_build_filename (dir, "big.safetensors", NULL);
  g_autofree char *ck = g_build_filename (dir, "loop.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "repeat=0 ! t2itesttoy name=toy hidden=2048 out-features=8 ! "
      "t2itestmse update=toy ! t2itrainer checkpoint=%s save-every=1 "
      "report-every=0", data, ck);
  test_run_pipeline (desc, NULL, NULL, NULL);
  return 1;
}

static void
check_loadable (const char *path, gint64 * step_out)
{
  GError *err = NULL;
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (path, &err);
  g_assert_no_error (err);
  g_assert_nonnull (st);
  const char *const *names = t2i_safetensors_names (st);
  for (guint i = 0; names[i]; i++) {
    g_autoptr (T2iTensor) t = t2i_safetensors_read (st, names[i], &err);
    g_assert_no_error (err);
  }
  g_assert_true (t2i_safetensors_has (st, "toy.fc1.weight"));
  guint64 step;
  g_assert_true (g_ascii_string_to_unsigned (t2i_safetensors_get_metadata
          (st, "step"), 10, 1, G_MAXUINT64, &step, NULL));
  *step_out = (gint64) step;
}

static guint
count_temp_files (const char *dir)
{
  guint n = 0;
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;
  while ((name = g_dir_read_name (d)))
    n += strstr (name, ".tmp") != NULL;
  g_dir_close (d);
  return n;
}

static void
test_kill_during_save (Fixture * f, gconstpointer data)
{
  T2iRng rng;
  t2i_rng_init (&rng, 7);
  g_autofree char *big = g_build_filename (f->dir, "big.safetensors", NULL);
  g_autofree char *ck = g_build_filename (f->dir, "loop.safetensors", NULL);
  g_autoptr (T2iTensor) x = randn (&rng, T2I_SHAPE (4, 512), 1.0);
  g_autoptr (T2iTensor) t = randn (&rng, T2I_SHAPE (4, 8), 1.0);
  test_save (big, (const char *[]) { "x", "t", NULL },
      (T2iTensor *[]) { x, t });

  g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", NULL);
  g_assert_nonnull (self_exe);
  gint64 max_step = 0;
  guint torn_saves = 0;
  for (int round = 0; round < 10; round++) {
    GPid pid;
    GError *err = NULL;
    char *argv[] = { self_exe, (char *) "--save-loop", f->dir, NULL };
    g_autofree char *shadow = NULL;

    g_unlink (ck);
    g_assert_true (g_spawn_async (NULL, argv, NULL,
            G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &err));
    g_assert_no_error (err);
    /* wait for the first checkpoint, then kill at a random moment */
    for (int i = 0; i < 6000 && !g_file_test (ck, G_FILE_TEST_EXISTS); i++)
      g_usleep (5000);
    g_assert_true (g_file_test (ck, G_FILE_TEST_EXISTS));
    g_usleep ((gulong) g_test_rand_int_range (0, 250000));
    kill (pid, SIGKILL);
    int status;
    g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
    g_spawn_close_pid (pid);
    g_assert_true (WIFSIGNALED (status));
    /* a temporary left behind: the kill interrupted a save */
    torn_saves += count_temp_files (f->dir) > 0;

    gint64 step;
    check_loadable (ck, &step);
    max_step = MAX (max_step, step);
    /* the next round's trainer removes what this kill left behind */
  }
  g_test_message ("largest step seen %" G_GINT64_FORMAT ", kills that "
      "interrupted a save: %u of 10", max_step, torn_saves);
  g_assert_cmpint (max_step, >=, 1);

  /* a trainer of the same checkpoint starts by removing the temporaries
   * of killed saves; a temporary that is not one is left alone */
  g_autofree char *stale = g_strconcat (ck, ".tmp-Zz9Zz9", NULL);
  g_autofree char *other = g_strconcat (ck, ".tmp-notmine", NULL);
  g_assert_true (g_file_set_contents (stale, "x", 1, NULL));
  g_assert_true (g_file_set_contents (other, "x", 1, NULL));
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "repeat=1 ! t2itesttoy name=toy hidden=4 out-features=8 ! "
      "t2itestmse update=toy ! t2itrainer checkpoint=%s", big, ck);
  g_assert_true (test_run_pipeline (desc, NULL, NULL, NULL));
  g_assert_false (g_file_test (stale, G_FILE_TEST_EXISTS));
  g_assert_cmpuint (count_temp_files (f->dir), ==, 1);
  g_unlink (other);
}

/* ---- out of memory in backward: the trainer's own error ---- */

/* in a child process: an abandoned step's allocations are not freed, by
 * design, so the leak checker must not count them */
static int
out_of_memory_child (const char *dir)
{
  g_autofree char *data = g_build_filename (dir, "data.safetensors", NULL);
  g_autofree char *ck = g_build_filename (dir, "oom.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "repeat=3 ! t2itesttoy name=toy hidden=262144 out-features=%d ! "
      "t2itestmse update=toy ! t2itrainer checkpoint=%s save-every=1", data,
      OUT, ck);
  g_autofree char *err = NULL;
  /* the parameters (8 MiB) and the forward pass (3 x 8 MiB) fit, the
   * gradients and Adam's moments do not */
  t2i_alloc_set_limit (40 << 20);
  gboolean ok = test_run_pipeline (desc, &err, NULL, NULL);
  g_print ("%s\n", ok ? "(no error)" : err);
  return 0;
}

static void
test_out_of_memory (Fixture * f, gconstpointer data)
{
  g_autofree char *self_exe = g_file_read_link ("/proc/self/exe", NULL);
  char *argv[] = { self_exe, (char *) "--out-of-memory", f->dir, NULL };
  g_auto (GStrv) envp = g_environ_setenv (g_get_environ (), "ASAN_OPTIONS",
      "detect_leaks=0:abort_on_error=1", TRUE);
  g_autofree char *out = NULL;
  gint status;
  GError *err = NULL;

  g_assert_true (g_spawn_sync (NULL, argv, envp, G_SPAWN_DEFAULT, NULL, NULL,
          &out, NULL, &status, &err));
  g_assert_no_error (err);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  g_test_message ("%s", out);
  g_assert_true (g_str_has_prefix (out, "out of memory: a tensor f32 "));
  g_assert_nonnull (strstr (out, "past the limit of 40 MiB"));
  g_assert_true (g_str_has_suffix (out, " (at step 1; training stopped and "
          "no checkpoint was written)\n"));
  g_autofree char *ck = g_build_filename (f->dir, "oom.safetensors", NULL);
  g_assert_false (g_file_test (ck, G_FILE_TEST_EXISTS));
}

/* ---- alternating phases ---- */

typedef struct
{
  GstElement *g, *d;
  GPtrArray *phases;            /* phase of each record, in order */
  GPtrArray *snapshots;         /* GBytes of G's and D's parameters */
} Alternation;

static GBytes *
snapshot (GstElement * e)
{
  T2iParamGroup *g = t2i_transform_get_params (T2I_TRANSFORM (e));
  GByteArray *b = g_byte_array_new ();
  for (guint i = 0; i < t2i_param_group_n_params (g); i++) {
    T2iTensor *v = t2i_param_group_get (g, i)->value;
    g_byte_array_append (b, v->data, (guint) v->nbytes);
  }
  return g_byte_array_free_to_bytes (b);
}

static void
take_snapshots (Alternation * a)
{
  g_ptr_array_add (a->snapshots, snapshot (a->g));
  g_ptr_array_add (a->snapshots, snapshot (a->d));
}

/* before the trainer renders a record: what the previous one changed */
static GstPadProbeReturn
before_render (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Alternation *a = data;
  GstBuffer *rec = GST_PAD_PROBE_INFO_BUFFER (info);
  g_ptr_array_add (a->phases, g_strdup (t2i_record_get_meta (rec)->phase));
  take_snapshots (a);
  return GST_PAD_PROBE_OK;
}

/* phases=D,G: each batch is a D record then a G record; D's parameters
 * change only on D records, G's only on G records, and a batch is one
 * step of the trainer */
static void
test_phases_alternate (Fixture * f, gconstpointer data)
{
  g_autofree char *desc = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "resolution=8 batch-size=4 max-steps=3 phases=D,G ! t2inoise output=x "
      "dim=%d ! t2inoise output=t dim=1 ! t2itesttoy name=G input=x output=y "
      "hidden=%d out-features=2 ! t2itesttoy name=D input=y output=s "
      "hidden=%d out-features=1 ! t2itestmse input=s target=t update=D "
      "phases=D output=D ! t2itestmse input=s target=t update=G phases=G "
      "output=G ! t2itrainer name=trainer lr=0.01 checkpoint=%s", IN,
      HIDDEN, HIDDEN, f->ck);
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch (desc, &err);
  g_assert_no_error (err);
  Alternation a = {
    gst_bin_get_by_name (GST_BIN (pipe), "G"),
    gst_bin_get_by_name (GST_BIN (pipe), "D"),
    g_ptr_array_new_with_free_func (g_free),
    g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref),
  };
  GstElement *trainer = gst_bin_get_by_name (GST_BIN (pipe), "trainer");
  GstPad *sink = gst_element_get_static_pad (trainer, "sink");
  gst_pad_add_probe (sink, GST_PAD_PROBE_TYPE_BUFFER, before_render, &a,
      NULL);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *m = gst_bus_timed_pop_filtered (bus, GST_CLOCK_TIME_NONE,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_cmpint (GST_MESSAGE_TYPE (m), ==, GST_MESSAGE_EOS);
  gst_message_unref (m);
  take_snapshots (&a);
  gst_element_set_state (pipe, GST_STATE_NULL);

  g_assert_cmpuint (a.phases->len, ==, 6);
  for (guint r = 0; r < a.phases->len; r++) {
    const char *phase = a.phases->pdata[r];
    g_assert_cmpstr (phase, ==, r % 2 ? "G" : "D");
    /* snapshots 2r, 2r+1 before record r; 2r+2, 2r+3 after it */
    gboolean g_changed = !g_bytes_equal (a.snapshots->pdata[2 * r],
        a.snapshots->pdata[2 * r + 2]);
    gboolean d_changed = !g_bytes_equal (a.snapshots->pdata[2 * r + 1],
        a.snapshots->pdata[2 * r + 3]);
    g_assert_cmpint (g_changed, ==, g_str_equal (phase, "G"));
    g_assert_cmpint (d_changed, ==, g_str_equal (phase, "D"));
  }
  /* 3 batches, 3 steps; each group's optimizer stepped 3 times */
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (f->ck, NULL);
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "step"), ==, "3");
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "optim/G/step"), ==,
      "3");
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "optim/D/step"), ==,
      "3");

  gst_object_unref (sink);
  gst_object_unref (trainer);
  gst_object_unref (bus);
  gst_object_unref (a.g);
  gst_object_unref (a.d);
  g_ptr_array_unref (a.phases);
  g_ptr_array_unref (a.snapshots);
  gst_object_unref (pipe);
}

/* every=, start=, until= pick the steps a loss runs on; a group with no
 * loss in a record does not step */
static void
test_loss_schedule (Fixture * f, gconstpointer data)
{
  g_autofree char *desc = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "resolution=8 batch-size=4 max-steps=10 ! t2inoise output=x dim=%d ! "
      "t2inoise output=t dim=1 ! t2itesttoy name=G input=x output=y "
      "hidden=%d out-features=1 ! t2itestmse input=y target=t update=G "
      "every=3 start=1 until=8 output=G ! t2itrainer lr=0.01 checkpoint=%s",
      IN, HIDDEN, f->ck);
  g_autofree char *err = NULL;
  g_autoptr (GPtrArray) msgs =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_assert_true (test_run_pipeline (desc, &err, NULL, NULL));
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (f->ck, NULL);
  /* steps 1, 4, 7 */
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "step"), ==, "10");
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "optim/G/step"), ==,
      "3");

  /* a loss with phases= in a stream without phases is an error */
  g_autofree char *bad = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "resolution=8 batch-size=4 max-steps=1 ! t2inoise output=x dim=%d ! "
      "t2inoise output=t dim=1 ! t2itesttoy name=G input=x output=y "
      "hidden=%d out-features=1 ! t2itestmse input=y target=t update=G "
      "phases=G output=G ! t2itrainer lr=0.01", IN, HIDDEN);
  g_autofree char *bad_err = NULL;
  g_assert_false (test_run_pipeline (bad, &bad_err, NULL, NULL));
  g_assert_nonnull (strstr (bad_err, "phases=G but the records carry no "
          "phase"));
}

/* group-settings: a cosine schedule with warm-up (reported as lr/G), a
 * clip until a step, two moving averages, one updated every 2 steps */
static void
test_group_schedules (Fixture * f, gconstpointer data)
{
  g_autofree char *desc = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "resolution=8 batch-size=4 max-steps=6 ! t2inoise output=x dim=%d ! "
      "t2inoise output=t dim=1 ! t2itesttoy name=G input=x output=y "
      "hidden=%d out-features=1 ! t2itesttoy name=H input=x output=u "
      "hidden=%d out-features=1 ! t2itestmse input=y target=t update=G "
      "output=G ! t2itestmse input=u target=t update=H output=H ! "
      "t2itrainer lr=0.01 report-every=1 ema=G,H group-settings=\"G:lr=0.1,"
      "schedule=cosine,warmup=2,total=4,min-lr=0.01,clip=1,clip-until=3;"
      "H:ema-every=2,ema-decay=0.5\" checkpoint=%s", IN, HIDDEN, HIDDEN,
      f->ck);
  g_autofree char *err = NULL;
  g_autoptr (GPtrArray) msgs =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  if (!test_run_pipeline (desc, &err, "t2i-train", msgs))
    g_error ("%s", err);
  g_assert_cmpuint (msgs->len, ==, 6);
  for (guint i = 0; i < msgs->len; i++) {
    /* the lr of the next step: warm-up 0 -> 0.1 over 2 steps, then cosine
     * from 0.1 to 0.01 over 4 */
    const gint64 step = i + 1;
    double want = step < 2 ? 0.1 * step / 2 : 0.01 + 0.09 * (1 + cos (M_PI
            * (step - 2) / 4)) / 2, lr, lh;
    g_assert_true (gst_structure_get_double (msgs->pdata[i], "lr/G", &lr));
    g_assert_true (gst_structure_get_double (msgs->pdata[i], "lr/H", &lh));
    g_assert_cmpfloat_with_epsilon (lr, want, 1e-12);
    g_assert_cmpfloat (lh, ==, 0.01);
  }
  g_autoptr (T2iSafetensors) st = t2i_safetensors_load (f->ck, NULL);
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "ema/G/updates"), ==,
      "6");
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "ema/H/updates"), ==,
      "3");
  g_assert_cmpstr (t2i_safetensors_get_metadata (st, "sched/G/kind"), ==,
      "cosine");
  g_assert_true (t2i_safetensors_has (st, "ema/H.fc1.weight"));

  /* a plateau schedule needs its metric; a typo fails at once */
  g_autofree char *bad = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "max-steps=1 ! t2inoise output=x dim=%d ! t2inoise output=t dim=1 ! "
      "t2itesttoy name=G input=x output=y hidden=%d out-features=1 ! "
      "t2itestmse input=y target=t update=G output=G ! t2itrainer "
      "group-settings=\"G:schedule=plateau,patience=2\"", IN, HIDDEN);
  g_autofree char *bad_err = NULL;
  g_assert_false (test_run_pipeline (bad, &bad_err, NULL, NULL));
  g_assert_nonnull (strstr (bad_err, "schedule=plateau needs metric="));
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  test_elements_register ();
  if (argc == 3 && strcmp (argv[1], "--save-loop") == 0)
    return save_loop_child (argv[2]);
  if (argc == 3 && strcmp (argv[1], "--out-of-memory") == 0)
    return out_of_memory_child (argv[2]);

  g_test_init (&argc, &argv, NULL);
  g_test_add ("/trainer/matches-core-api", Fixture, NULL, fixture_setup,
      test_matches_core_api, fixture_teardown);
  g_test_add ("/trainer/resume-bit-identical", Fixture, NULL, fixture_setup,
      test_resume_bit_identical, fixture_teardown);
  g_test_add ("/trainer/messages", Fixture, NULL, fixture_setup,
      test_messages, fixture_teardown);
  g_test_add ("/trainer/samples", Fixture, NULL, fixture_setup,
      test_samples, fixture_teardown);
  g_test_add ("/trainer/samples-message", Fixture, NULL, fixture_setup,
      test_samples_message, fixture_teardown);
  g_test_add ("/trainer/eval", Fixture, NULL, fixture_setup, test_eval,
      fixture_teardown);
  g_test_add ("/trainer/samples-missing-input", Fixture, NULL,
      fixture_setup, test_samples_missing_input, fixture_teardown);
  g_test_add ("/trainer/samples-refused", Fixture, NULL, fixture_setup,
      test_samples_refused, fixture_teardown);
  g_test_add ("/trainer/nan", Fixture, NULL, fixture_setup, test_nan,
      fixture_teardown);
  g_test_add ("/trainer/errors", Fixture, NULL, fixture_setup, test_errors,
      fixture_teardown);
  g_test_add ("/trainer/phases-alternate", Fixture, NULL, fixture_setup,
      test_phases_alternate, fixture_teardown);
  g_test_add ("/trainer/loss-schedule", Fixture, NULL, fixture_setup,
      test_loss_schedule, fixture_teardown);
  g_test_add ("/trainer/group-schedules", Fixture, NULL, fixture_setup,
      test_group_schedules, fixture_teardown);
  g_test_add ("/trainer/kill-during-save", Fixture, NULL, fixture_setup,
      test_kill_during_save, fixture_teardown);
  g_test_add ("/trainer/out-of-memory", Fixture, NULL, fixture_setup,
      test_out_of_memory, fixture_teardown);
  return g_test_run ();
}
