/* t2imetric in pipelines: the t2i-metric message (kind, value, n,
 * extractor, details), output=FILE.json, real-stats caching, warnings and
 * errors.  Features come from t2itensorsrc reading files the test writes;
 * shapes images from t2idatasetsrc.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "data-test-util.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <t2i/clip.h>
#include <t2i/metrics.h>

static gchar *tmpdir;

static gchar *
tmp_path (const char *name)
{
  return g_build_filename (tmpdir, name, NULL);
}

static T2iTensor *
randn (guint64 seed, gint64 n, gint64 d, double scale, double shift)
{
  T2iRng rng;
  T2iTensor *t;

  t2i_rng_init (&rng, seed);
  t = t2i_rng_randn (&rng, T2I_F32, T2I_SHAPE (n, d));
  for (gint64 i = 0; i < t->numel; i++)
    t2i_tensor_f32 (t)[i] = (float) (scale * t2i_tensor_f32 (t)[i] + shift);
  return t;
}

static void
save (const char *path, const char *const *names, T2iTensor ** tensors,
    guint n)
{
  GError *error = NULL;

  g_assert_true (t2i_safetensors_save (path, names, tensors, n, NULL, &error));
  g_assert_no_error (error);
}

static const GstStructure *
metric_message (RunResult * r)
{
  const GstStructure *s;

  if (r->error)
    g_error ("pipeline failed: %s", r->error);
  g_assert_true (r->eos);
  s = run_result_message (r, "t2i-metric");
  g_assert_nonnull (s);
  {
    g_autofree gchar *text = gst_structure_to_string (s);
    g_test_message ("%s", text);
  }
  return s;
}

static double
get_double (const GstStructure * s, const char *field)
{
  double v = NAN;

  g_assert_true (gst_structure_get_double (s, field, &v));
  return v;
}

static const GstStructure *
get_details (const GstStructure * s)
{
  const GValue *v = gst_structure_get_value (s, "details");

  g_assert_nonnull (v);
  g_assert_true (GST_VALUE_HOLDS_STRUCTURE (v));
  return gst_value_get_structure (v);
}

static double
fid_of (T2iTensor * real, T2iTensor * fake, gint times)
{
  g_autoptr (T2iFidStats) a = t2i_fid_stats_new ((gint) real->shape[1]);
  g_autoptr (T2iFidStats) b = t2i_fid_stats_new ((gint) fake->shape[1]);
  T2iFidResult r;

  for (gint k = 0; k < times; k++) {
    g_assert_true (t2i_fid_stats_add_tensor (a, real, NULL));
    g_assert_true (t2i_fid_stats_add_tensor (b, fake, NULL));
  }
  g_assert_true (t2i_fid_compute (a, b, &r, NULL, NULL));
  return r.value;
}

static void
test_fid (void)
{
  g_autoptr (T2iTensor) real = randn (1, 300, 16, 1.0, 0.0);
  g_autoptr (T2iTensor) fake = randn (2, 300, 16, 1.2, 0.3);
  g_autofree gchar *feat = tmp_path ("feat.safetensors");
  g_autofree gchar *json = tmp_path ("fid.json");
  g_autofree gchar *desc = NULL;
  g_autoptr (RunResult) r = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  const GstStructure *s, *d;
  const char *kind, *extractor;
  gint64 n = 0, n_real = 0;
  gboolean deficient = TRUE;
  JsonObject *o;
  GError *error = NULL;

  save (feat, (const char *[]) { "feat_real", "feat_fake" },
      (T2iTensor *[]) { real, fake }, 2);
  desc = g_strdup_printf ("t2itensorsrc location=%s repeat=2 ! t2imetric "
      "kind=fid real=feat_real fake=feat_fake extractor=none output=%s ! "
      "fakesink name=sink", feat, json);
  r = run_pipeline (desc, NULL);
  s = metric_message (r);
  kind = gst_structure_get_string (s, "kind");
  extractor = gst_structure_get_string (s, "extractor");
  g_assert_cmpstr (kind, ==, "fid");
  g_assert_cmpstr (extractor, ==, "none");
  g_assert_true (gst_structure_get_int64 (s, "n", &n));
  g_assert_cmpint (n, ==, 600);
  g_assert_cmpfloat_with_epsilon (get_double (s, "value"),
      fid_of (real, fake, 2), 1e-9);
  d = get_details (s);
  g_assert_true (gst_structure_get_int64 (d, "n-real", &n_real));
  g_assert_cmpint (n_real, ==, 600);
  g_assert_true (gst_structure_get_boolean (d, "rank-deficient",
          &deficient));
  g_assert_false (deficient);
  g_assert_cmpuint (r->warnings->len, ==, 0);
  /* records pass through */
  g_assert_cmpuint (r->buffers->len, ==, 2);

  json_parser_load_from_file (parser, json, &error);
  g_assert_no_error (error);
  o = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (o, "kind"), ==, "fid");
  g_assert_cmpint (json_object_get_int_member (o, "n"), ==, 600);
  g_assert_cmpstr (json_object_get_string_member (o, "extractor"), ==, "none");
  g_assert_cmpfloat_with_epsilon (json_object_get_double_member (o, "value"),
      get_double (s, "value"), 1e-12);
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member
          (o, "details"), "dim"), ==, 16);
}

static void
test_fid_real_stats (void)
{
  g_autoptr (T2iTensor) real = randn (3, 200, 8, 1.0, 0.0);
  g_autoptr (T2iTensor) fake = randn (4, 200, 8, 0.8, 0.1);
  g_autofree gchar *both = tmp_path ("both.safetensors");
  g_autofree gchar *only = tmp_path ("only-fake.safetensors");
  g_autofree gchar *stats = tmp_path ("real-stats.safetensors");
  g_autofree gchar *d1 = NULL, *d2 = NULL, *d3 = NULL;
  double v1, v2;

  save (both, (const char *[]) { "r", "f" }, (T2iTensor *[]) { real, fake },
      2);
  save (only, (const char *[]) { "f" }, (T2iTensor *[]) { fake }, 1);

  /* first run: computes the real statistics and saves them */
  d1 = g_strdup_printf ("t2itensorsrc location=%s ! t2imetric kind=fid "
      "real=r fake=f real-stats=%s extractor=test-features ! fakesink", both,
      stats);
  {
    g_autoptr (RunResult) r = run_pipeline (d1, NULL);
    const GstStructure *s = metric_message (r);
    g_assert_cmpstr (gst_structure_get_string (s, "extractor"), ==,
        "test-features");
    v1 = get_double (s, "value");
  }
  g_assert_true (g_file_test (stats, G_FILE_TEST_EXISTS));

  /* second run: no real entry needed */
  d2 = g_strdup_printf ("t2itensorsrc location=%s ! t2imetric kind=fid "
      "fake=f real-stats=%s extractor=test-features ! fakesink", only, stats);
  {
    g_autoptr (RunResult) r = run_pipeline (d2, NULL);
    v2 = get_double (metric_message (r), "value");
  }
  g_assert_cmpfloat_with_epsilon (v1, v2, 1e-9 * MAX (1.0, v1));
  g_assert_cmpfloat_with_epsilon (v1, fid_of (real, fake, 1), 1e-9);

  /* statistics of another extractor are refused */
  d3 = g_strdup_printf ("t2itensorsrc location=%s ! t2imetric kind=fid "
      "fake=f real-stats=%s extractor=other ! fakesink", only, stats);
  {
    g_autoptr (RunResult) r = run_pipeline (d3, NULL);
    g_assert_nonnull (r->error);
    g_test_message ("error: %s", r->error);
    g_assert_nonnull (strstr (r->error, "test-features"));
  }
}

static void
test_fid_warning (void)
{
  g_autoptr (T2iTensor) real = randn (5, 20, 32, 1.0, 0.0);
  g_autoptr (T2iTensor) fake = randn (6, 20, 32, 1.0, 0.5);
  g_autofree gchar *feat = tmp_path ("small.safetensors");
  g_autofree gchar *desc = NULL;
  g_autoptr (RunResult) r = NULL;
  gboolean deficient = FALSE;

  save (feat, (const char *[]) { "real", "fake" },
      (T2iTensor *[]) { real, fake }, 2);
  desc = g_strdup_printf ("t2itensorsrc location=%s ! t2imetric kind=fid "
      "! fakesink", feat);
  r = run_pipeline (desc, NULL);
  g_assert_true (gst_structure_get_boolean (get_details (metric_message (r)),
          "rank-deficient", &deficient));
  g_assert_true (deficient);
  g_assert_true (run_result_warned (r, "rank-deficient"));
  g_assert_cmpuint (r->warnings->len, ==, 1);
  g_assert_null (strchr (g_ptr_array_index (r->warnings, 0), '\n'));
}

static void
test_fid_needs_features (void)
{
  g_autoptr (RunResult) r = run_pipeline ("t2idatasetsrc dataset=shapes "
      "batch-size=4 max-steps=1 resolution=16 ! t2imetric kind=fid "
      "real=image fake=image ! fakesink", NULL);

  g_assert_nonnull (r->error);
  g_test_message ("error: %s", r->error);
  g_assert_nonnull (strstr (r->error, "image"));
  g_assert_nonnull (strstr (r->error, "[N,D]"));
}

static void
test_is (void)
{
  g_autoptr (T2iTensor) logits = randn (7, 100, 10, 3.0, 0.0);
  g_autofree gchar *path = tmp_path ("logits.safetensors");
  g_autofree gchar *desc = NULL;
  g_autoptr (RunResult) r = NULL;
  const GstStructure *s;
  double mean, std;
  gint64 n;

  save (path, (const char *[]) { "logits" }, (T2iTensor *[]) { logits }, 1);
  desc = g_strdup_printf ("t2itensorsrc location=%s ! t2imetric kind=is "
      "splits=5 extractor=test-classifier ! fakesink", path);
  r = run_pipeline (desc, NULL);
  s = metric_message (r);
  g_assert_true (t2i_inception_score (t2i_tensor_f32 (logits), 100, 10, 5,
          FALSE, &mean, &std, NULL));
  g_assert_cmpstr (gst_structure_get_string (s, "kind"), ==, "is");
  g_assert_true (gst_structure_get_int64 (s, "n", &n));
  g_assert_cmpint (n, ==, 100);
  g_assert_cmpfloat_with_epsilon (get_double (s, "value"), mean, 1e-12);
  g_assert_cmpfloat_with_epsilon (get_double (get_details (s), "std"), std,
      1e-12);
}

static void
test_embeddings (void)
{
  g_autoptr (T2iTensor) img = randn (8, 120, 12, 1.0, 0.0);
  g_autoptr (T2iTensor) txt = t2i_tensor_copy (img);
  g_autoptr (T2iTensor) noise = randn (9, 120, 12, 0.5, 0.0);
  g_autofree gchar *path = tmp_path ("emb.safetensors");
  g_autofree gchar *d1 = NULL, *d2 = NULL;
  g_autofree double *cos = g_new (double, 120);
  double want, hits[2];
  gint ks[] = { 1, 5 }, used;

  for (gint64 i = 0; i < txt->numel; i++)
    t2i_tensor_f32 (txt)[i] += t2i_tensor_f32 (noise)[i];
  save (path, (const char *[]) { "image-emb", "text-emb" },
      (T2iTensor *[]) { img, txt }, 2);

  d1 = g_strdup_printf ("t2itensorsrc location=%s ! t2imetric "
      "kind=clip-score best-of=4 ! fakesink", path);
  {
    g_autoptr (RunResult) r = run_pipeline (d1, NULL);
    const GstStructure *s = metric_message (r);

    t2i_cosine_rows (t2i_tensor_f32 (img), t2i_tensor_f32 (txt), 120, 12,
        cos);
    g_assert_true (t2i_clip_score (cos, 120, 4, 100.0, FALSE, &want, NULL,
            NULL));
    g_assert_cmpfloat_with_epsilon (get_double (s, "value"), want, 1e-9);
  }

  d2 = g_strdup_printf ("t2itensorsrc location=%s ! t2imetric "
      "kind=r-precision seed=3 top-k=1,5 ! fakesink", path);
  {
    g_autoptr (RunResult) r = run_pipeline (d2, NULL);
    const GstStructure *s = metric_message (r);
    const GstStructure *d = get_details (s);
    gint cands = 0;

    g_assert_true (t2i_rprecision_compute (t2i_tensor_f32 (img),
            t2i_tensor_f32 (txt), 120, 12, 3, 100, ks, 2, hits, &used, NULL));
    g_assert_cmpfloat_with_epsilon (get_double (s, "value"), hits[0], 1e-9);
    g_assert_cmpfloat_with_epsilon (get_double (d, "top-5"), hits[1], 1e-9);
    g_assert_true (gst_structure_get_int (d, "candidates", &cands));
    g_assert_cmpint (cands, ==, 100);
    g_assert_cmpfloat (hits[0], >, 50.0);
  }
}

static void
test_ssim_fsim (void)
{
  static const char *const kinds[] = { "ssim", "fsim" };

  for (guint k = 0; k < G_N_ELEMENTS (kinds); k++) {
    g_autofree gchar *desc = g_strdup_printf ("t2idatasetsrc dataset=shapes "
        "batch-size=4 max-steps=2 resolution=32 ! t2imetric kind=%s "
        "real=image fake=image ! fakesink", kinds[k]);
    g_autoptr (RunResult) r = run_pipeline (desc, NULL);
    const GstStructure *s = metric_message (r);
    gint64 n;

    g_assert_cmpstr (gst_structure_get_string (s, "kind"), ==, kinds[k]);
    g_assert_true (gst_structure_get_int64 (s, "n", &n));
    g_assert_cmpint (n, ==, 8);
    g_assert_cmpfloat_with_epsilon (get_double (s, "value"), 1.0, 1e-9);
  }
}

static void
test_attr_acc (void)
{
  g_autoptr (RunResult) r = run_pipeline ("t2idatasetsrc dataset=shapes "
      "batch-size=16 max-steps=4 resolution=32 phases=D,G ! t2imetric "
      "kind=attr-acc fake=image ! fakesink", NULL);
  const GstStructure *s = metric_message (r);
  const GstStructure *d = get_details (s);
  gint64 n;

  g_assert_cmpstr (gst_structure_get_string (s, "kind"), ==, "attr-acc");
  /* each batch counts once, whatever the phases */
  g_assert_true (gst_structure_get_int64 (s, "n", &n));
  g_assert_cmpint (n, ==, 64);
  g_assert_cmpfloat (get_double (s, "value"), >=, 0.95);
  g_assert_cmpfloat (get_double (d, "color"), >=, 0.95);
  g_assert_cmpfloat (get_double (d, "pos"), >=, 0.95);
  g_assert_cmpfloat (get_double (d, "size"), >=, 0.95);
  g_assert_cmpfloat (get_double (d, "shape"), >=, 0.9);
}

static void
test_missing_entry (void)
{
  g_autoptr (RunResult) r = run_pipeline ("t2idatasetsrc dataset=shapes "
      "batch-size=4 max-steps=1 resolution=16 ! t2imetric kind=is "
      "logits=nope ! fakesink", NULL);

  g_assert_nonnull (r->error);
  g_test_message ("error: %s", r->error);
  g_assert_nonnull (strstr (r->error, "nope"));
}

/* extractor=clip: a small random-weight CLIP image tower run on the images
 * themselves; real == fake gives FID 0 */
static void
test_fid_extractor_clip (void)
{
  g_autofree gchar *path = tmp_path ("clip.safetensors");
  g_autofree gchar *desc = NULL;
  GError *error = NULL;
  T2iClipConfig cfg;
  T2iRng rng;

  t2i_clip_config_init_small (&cfg, 32, 64);
  cfg.text_width = 0;
  t2i_rng_init (&rng, 5);
  {
    g_autoptr (T2iClip) clip = t2i_clip_new (&cfg, NULL, NULL, &rng);
    g_assert_true (t2i_clip_save (clip, path, &error));
    g_assert_no_error (error);
  }
  desc = g_strdup_printf ("t2idatasetsrc dataset=shapes batch-size=8 "
      "max-steps=2 resolution=32 ! t2imetric kind=fid real=image "
      "fake=image extractor=clip extractor-weights=%s ! fakesink", path);
  {
    g_autoptr (RunResult) r = run_pipeline (desc, NULL);
    const GstStructure *s = metric_message (r);
    const char *ex = gst_structure_get_string (s, "extractor");
    gint64 n;
    gint dim = 0;

    g_assert_cmpstr (gst_structure_get_string (s, "kind"), ==, "fid");
    g_assert_true (gst_structure_get_int64 (s, "n", &n));
    g_assert_cmpint (n, ==, 16);
    g_assert_true (gst_structure_get_int (get_details (s), "dim", &dim));
    g_assert_cmpint (dim, ==, cfg.embed_dim);
    g_assert_cmpfloat (fabs (get_double (s, "value")), <, 1e-3);
    g_assert_cmpstr (ex, ==, "clip (clip.safetensors, our own trained "
        "encoder)");
  }
}

static void
test_fid_extractor_errors (void)
{
  {
    g_autoptr (RunResult) r = run_pipeline ("t2idatasetsrc dataset=shapes "
        "batch-size=4 max-steps=1 resolution=16 ! t2imetric kind=fid "
        "real=image fake=image extractor=inception-v3 ! fakesink", NULL);

    g_assert_nonnull (r->error);
    g_test_message ("error: %s", r->error);
    g_assert_nonnull (strstr (r->error, "set extractor-weights= to a "
            "pytorch-fid Inception-v3 safetensors file "
            "(scripts/convert-checkpoint)"));
    g_assert_null (strchr (r->error, '\n'));
  }
  {
    g_autofree gchar *missing = tmp_path ("no-such.safetensors");
    g_autofree gchar *desc = g_strdup_printf ("t2idatasetsrc "
        "dataset=shapes batch-size=4 max-steps=1 resolution=16 ! t2imetric "
        "kind=fid real=image fake=image extractor=clip "
        "extractor-weights=%s ! fakesink", missing);
    g_autoptr (RunResult) r = run_pipeline (desc, NULL);
    g_autofree gchar *want = g_strdup_printf ("extractor-weights=%s: ",
        missing);

    g_assert_nonnull (r->error);
    g_test_message ("error: %s", r->error);
    g_assert_nonnull (strstr (r->error, want));
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  tmpdir = data_tmpdir ();
  g_test_add_func ("/metric/fid", test_fid);
  g_test_add_func ("/metric/fid-real-stats", test_fid_real_stats);
  g_test_add_func ("/metric/fid-warning", test_fid_warning);
  g_test_add_func ("/metric/fid-needs-features", test_fid_needs_features);
  g_test_add_func ("/metric/fid-extractor-clip", test_fid_extractor_clip);
  g_test_add_func ("/metric/fid-extractor-errors",
      test_fid_extractor_errors);
  g_test_add_func ("/metric/is", test_is);
  g_test_add_func ("/metric/embeddings", test_embeddings);
  g_test_add_func ("/metric/ssim-fsim", test_ssim_fsim);
  g_test_add_func ("/metric/attr-acc", test_attr_acc);
  g_test_add_func ("/metric/missing-entry", test_missing_entry);
  int ret = g_test_run ();
  data_rmdir (tmpdir);
  g_free (tmpdir);
  return ret;
}
