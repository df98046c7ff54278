/* Tests of t2i/metrics.h: FID, IS, R-precision, CLIP score, SSIM, FSIM
 * against tests/golden/metrics/metrics.json (written by
 * tests/gen-metrics-golden.py with numpy, scipy and scikit-image), and
 * attr-acc on rendered shapes images and on noise.
 *
 * The golden file holds no inputs: both sides regenerate them with the
 * same SplitMix64 generator (see the script).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/metrics.h>
#include <t2i/rng.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

static JsonParser *golden_parser;

static JsonObject *
golden (void)
{
  if (golden_parser == NULL) {
    const char *src = g_getenv ("T2I_SOURCE_DIR");
    g_autofree char *path = g_build_filename (src ? src : ".", "tests",
        "golden", "metrics", "metrics.json", NULL);
    GError *error = NULL;

    golden_parser = json_parser_new ();
    json_parser_load_from_file (golden_parser, path, &error);
    g_assert_no_error (error);
  }
  return json_node_get_object (json_parser_get_root (golden_parser));
}

/* ---- the shared generator (tests/gen-metrics-golden.py: Gen) ---- */

typedef struct
{
  guint64 state;
} Gen;

static guint64
gen_next (Gen * g)
{
  guint64 z;

  g->state += G_GUINT64_CONSTANT (0x9E3779B97F4A7C15);
  z = g->state;
  z = (z ^ (z >> 30)) * G_GUINT64_CONSTANT (0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * G_GUINT64_CONSTANT (0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static double
gen_uniform (Gen * g)
{
  return (double) (gen_next (g) >> 11) * (1.0 / 9007199254740992.0);
}

static void
gen_normal (Gen * g, double *out, gsize n)
{
  const double s3 = sqrt (3.0);

  for (gsize i = 0; i < n; i++) {
    double u1 = gen_uniform (g), u2 = gen_uniform (g);
    double u3 = gen_uniform (g), u4 = gen_uniform (g);

    out[i] = s3 * ((((u1 + u2) + u3) + u4) - 2.0);
  }
}

/* features(): scale * z[i,j] + 0.5 * z[i,(j+1)%d] + shift * (j % 3 == 0) */
static float *
make_features (JsonObject * side, gint d, gint64 * n_out)
{
  guint64 seed = json_object_get_int_member (side, "seed");
  gint64 n = json_object_get_int_member (side, "n");
  double scale = json_object_get_double_member (side, "scale");
  double shift = json_object_get_double_member (side, "shift");
  g_autofree double *z = g_new (double, n * d);
  float *x = g_new (float, n * d);
  Gen g = { seed };

  gen_normal (&g, z, n * d);
  for (gint64 i = 0; i < n; i++)
    for (gint j = 0; j < d; j++)
      x[i * d + j] = (float) ((scale * z[i * d + j]
              + 0.5 * z[i * d + (j + 1) % d]) + (j % 3 == 0 ? shift : 0.0));
  *n_out = n;
  return x;
}

/* image_pair(): structured image and a noisy copy */
static void
make_images (JsonObject * c, float **x_out, float **y_out, gint * ch,
    gint * h, gint * w)
{
  Gen g = { json_object_get_int_member (c, "seed") };
  double noise = json_object_get_double_member (c, "noise");
  gsize n;

  *ch = json_object_get_int_member (c, "channels");
  *h = json_object_get_int_member (c, "height");
  *w = json_object_get_int_member (c, "width");
  n = (gsize) * ch * *h * *w;
  g_autofree double *z1 = g_new (double, n);
  g_autofree double *z2 = g_new (double, n);
  float *x = g_new (float, n), *y = g_new (float, n);

  gen_normal (&g, z1, n);
  gen_normal (&g, z2, n);
  for (gint k = 0; k < *ch; k++)
    for (gint r = 0; r < *h; r++)
      for (gint q = 0; q < *w; q++) {
        gsize i = ((gsize) k * *h + r) * *w + q;
        double pattern = (double) ((r / 4 + q / 5 + k) % 3 - 1);

        x[i] = (float) CLAMP (0.5 * pattern + 0.2 * z1[i], -1.0, 1.0);
        y[i] = (float) CLAMP ((double) x[i] + noise * z2[i], -1.0, 1.0);
      }
  *x_out = x;
  *y_out = y;
}

static void
assert_rel (double got, double want, double rel, const char *what)
{
  double err = fabs (got - want) / MAX (fabs (want), 1e-300);

  g_test_message ("%s: %.12g (reference %.12g, relative error %.2e)", what,
      got, want, err);
  if (!(err <= rel))
    g_error ("%s: %.12g differs from %.12g by %.3e relative (> %.1e)", what,
        got, want, err, rel);
}

static void
assert_abs (double got, double want, double tol, const char *what)
{
  g_test_message ("%s: %.12g (reference %.12g, error %.2e)", what, got,
      want, fabs (got - want));
  if (!(fabs (got - want) <= tol))
    g_error ("%s: %.12g differs from %.12g by %.3e (> %.1e)", what, got,
        want, fabs (got - want), tol);
}

/* ---- FID ---- */

static void
test_fid_golden (void)
{
  JsonArray *cases = json_object_get_array_member (golden (), "fid");

  for (guint c = 0; c < json_array_get_length (cases); c++) {
    JsonObject *o = json_array_get_object_element (cases, c);
    const char *name = json_object_get_string_member (o, "name");
    gint d = json_object_get_int_member (o, "dim");
    gint64 n1, n2;
    g_autofree float *x1 = make_features (json_object_get_object_member (o,
            "real"), d, &n1);
    g_autofree float *x2 = make_features (json_object_get_object_member (o,
            "fake"), d, &n2);
    g_autoptr (T2iFidStats) real = t2i_fid_stats_new (d);
    g_autoptr (T2iFidStats) fake = t2i_fid_stats_new (d);
    g_autofree double *mu = g_new (double, d);
    g_autofree double *sigma = g_new (double, d * d);
    g_autofree gchar *warning = NULL, *what = NULL;
    T2iFidResult r;
    GError *error = NULL;

    /* batches of uneven size */
    for (gint64 i = 0; i < n1; i += 7)
      t2i_fid_stats_add_f32 (real, x1 + i * d, MIN (7, n1 - i));
    for (gint64 i = 0; i < n2; i += 64)
      t2i_fid_stats_add_f32 (fake, x2 + i * d, MIN (64, n2 - i));
    g_assert_cmpint (t2i_fid_stats_get_n (real), ==, n1);

    g_assert_true (t2i_fid_stats_get (real, mu, sigma, &error));
    g_assert_no_error (error);
    assert_abs (mu[0], json_object_get_double_member (o, "mu_real_0"), 1e-12,
        "mu[0]");
    assert_abs (sigma[1], json_object_get_double_member (o, "sigma_real_01"),
        1e-12, "sigma[0,1]");
    g_assert_cmpfloat (sigma[1], ==, sigma[d]);

    g_assert_true (t2i_fid_compute (real, fake, &r, &warning, &error));
    g_assert_no_error (error);
    what = g_strdup_printf ("FID %s vs scipy sqrtm", name);
    assert_rel (r.value, json_object_get_double_member (o, "fid_sqrtm"), 1e-3,
        what);
    g_free (what);
    what = g_strdup_printf ("FID %s vs symmetric numpy", name);
    /* rank-deficient: the square roots of round-off eigenvalues (~1e-16)
     * of the null space add ~1e-8 each, whatever the implementation */
    assert_rel (r.value, json_object_get_double_member (o, "fid_symmetric"),
        n1 <= d || n2 <= d ? 1e-6 : 1e-8, what);
    g_assert_cmpfloat (fabs (r.value - (r.mean_term + r.trace1 + r.trace2
                - 2 * r.trace_sqrt)), <, 1e-9);
    if (n1 <= d || n2 <= d) {
      g_assert_nonnull (warning);
      g_assert_nonnull (strstr (warning, "rank-deficient"));
      g_test_message ("warning: %s", warning);
    } else {
      g_assert_null (warning);
    }
  }
}

static void
test_fid_memory (void)
{
  const gint d = 64;
  g_autoptr (T2iFidStats) st = t2i_fid_stats_new (d);
  gsize before = t2i_fid_stats_get_alloc_size (st);
  g_autofree double *z = g_new (double, 1000 * d);
  Gen g = { 5 };

  g_assert_cmpuint (before, >=, sizeof (double) * (d * d + 2 * d));
  g_assert_cmpuint (before, <=, sizeof (double) * (d * d + 2 * d) + 256);
  gen_normal (&g, z, 1000 * d);
  for (gint k = 0; k < 10; k++)
    t2i_fid_stats_add_f64 (st, z, 1000);
  g_assert_cmpint (t2i_fid_stats_get_n (st), ==, 10000);
  /* O(D^2): the same bytes after 10000 samples as before the first */
  g_assert_cmpuint (t2i_fid_stats_get_alloc_size (st), ==, before);
}

static void
test_fid_identical_and_shift (void)
{
  const gint d = 32, n = 500;
  g_autofree double *x = g_new (double, n * d);
  g_autofree double *y = g_new (double, n * d);
  g_autofree double *xs = g_new (double, n * d);
  g_autofree double *ys = g_new (double, n * d);
  g_autoptr (T2iFidStats) a = t2i_fid_stats_new (d);
  g_autoptr (T2iFidStats) b = t2i_fid_stats_new (d);
  g_autoptr (T2iFidStats) as = t2i_fid_stats_new (d);
  g_autoptr (T2iFidStats) bs = t2i_fid_stats_new (d);
  T2iFidResult r, rs;
  Gen g = { 77 };

  gen_normal (&g, x, n * d);
  gen_normal (&g, y, n * d);
  for (gint i = 0; i < n * d; i++) {
    y[i] = 0.8 * y[i] + 0.1;
    xs[i] = x[i] + 1e4;
    ys[i] = y[i] + 1e4;
  }
  t2i_fid_stats_add_f64 (a, x, n);
  t2i_fid_stats_add_f64 (b, x, n);
  g_assert_true (t2i_fid_compute (a, b, &r, NULL, NULL));
  g_test_message ("FID of identical sets: %.3g", r.value);
  g_assert_cmpfloat (fabs (r.value), <, 1e-9 * r.trace1);

  /* a large common offset changes nothing (shifted sums) */
  g_clear_pointer (&b, t2i_fid_stats_free);
  b = t2i_fid_stats_new (d);
  t2i_fid_stats_add_f64 (b, y, n);
  t2i_fid_stats_add_f64 (as, xs, n);
  t2i_fid_stats_add_f64 (bs, ys, n);
  g_assert_true (t2i_fid_compute (a, b, &r, NULL, NULL));
  g_assert_true (t2i_fid_compute (as, bs, &rs, NULL, NULL));
  assert_rel (rs.value, r.value, 1e-8, "FID with features + 1e4");
}

/* data-parallel shares: three accumulators (one empty), moved as bytes and
 * merged, give the statistics of all the samples in one accumulator, even
 * with references (first samples) far apart */
static void
test_fid_merge (void)
{
  const gint d = 12, n = 90;
  g_autofree double *x = g_new (double, n * d);
  g_autoptr (T2iFidStats) all = t2i_fid_stats_new (d);
  g_autoptr (T2iFidStats) merged = t2i_fid_stats_new (d);
  g_autofree double *mu1 = g_new (double, d), *mu2 = g_new (double, d);
  g_autofree double *s1 = g_new (double, d * d), *s2 = g_new (double, d * d);
  GError *error = NULL;
  Gen g = { 5 };

  gen_normal (&g, x, n * d);
  for (gint i = 0; i < 30 * d; i++)
    x[i] += 50.0;               /* the first share sits elsewhere */
  t2i_fid_stats_add_f64 (all, x, n);
  for (gint part = 0; part < 4; part++) {
    g_autoptr (T2iFidStats) share = t2i_fid_stats_new (d);
    if (part < 3)
      t2i_fid_stats_add_f64 (share, x + part * 30 * d, 30);
    g_autoptr (GBytes) bytes = t2i_fid_stats_serialize (share);
    g_autoptr (T2iFidStats) back = t2i_fid_stats_deserialize (bytes, &error);
    g_assert_no_error (error);
    g_assert_true (t2i_fid_stats_merge (merged, back, &error));
    g_assert_no_error (error);
  }
  g_assert_cmpint (t2i_fid_stats_get_n (merged), ==, n);
  g_assert_true (t2i_fid_stats_get (all, mu1, s1, NULL));
  g_assert_true (t2i_fid_stats_get (merged, mu2, s2, NULL));
  for (gint i = 0; i < d; i++)
    assert_rel (mu2[i], mu1[i], 1e-12, "merged mean");
  for (gint i = 0; i < d * d; i++)
    g_assert_cmpfloat (fabs (s2[i] - s1[i]), <, 1e-10 * (1 + fabs (s1[i])));

  g_autoptr (T2iFidStats) other = t2i_fid_stats_new (d + 1);
  g_assert_false (t2i_fid_stats_merge (merged, other, &error));
  g_assert_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_MISMATCH);
  g_clear_error (&error);
  g_autoptr (GBytes) junk = g_bytes_new_static ("junk", 4);
  g_assert_null (t2i_fid_stats_deserialize (junk, &error));
  g_clear_error (&error);
}

static void
test_fid_save_load (void)
{
  const gint d = 16, n = 300;
  g_autofree double *x = g_new (double, n * d);
  g_autofree double *y = g_new (double, n * d);
  g_autoptr (T2iFidStats) all = t2i_fid_stats_new (d);
  g_autoptr (T2iFidStats) half = t2i_fid_stats_new (d);
  g_autoptr (T2iFidStats) fake = t2i_fid_stats_new (d);
  g_autoptr (T2iFidStats) loaded = NULL;
  g_autofree gchar *dir = g_dir_make_tmp ("t2i-metrics-XXXXXX", NULL);
  g_autofree gchar *path = g_build_filename (dir, "real.safetensors", NULL);
  g_autofree gchar *ex = NULL;
  T2iFidResult r1, r2;
  GError *error = NULL;
  Gen g = { 99 };

  gen_normal (&g, x, n * d);
  gen_normal (&g, y, n * d);
  t2i_fid_stats_add_f64 (all, x, n);
  t2i_fid_stats_add_f64 (half, x, n / 2);
  t2i_fid_stats_add_f64 (fake, y, n);
  g_assert_true (t2i_fid_stats_save (half, path, "test-extractor", &error));
  g_assert_no_error (error);

  loaded = t2i_fid_stats_load (path, &ex, &error);
  g_assert_no_error (error);
  g_assert_nonnull (loaded);
  g_assert_cmpstr (ex, ==, "test-extractor");
  g_assert_cmpint (t2i_fid_stats_get_n (loaded), ==, n / 2);
  g_assert_true (t2i_fid_compute (half, fake, &r1, NULL, NULL));
  g_assert_true (t2i_fid_compute (loaded, fake, &r2, NULL, NULL));
  assert_rel (r2.value, r1.value, 1e-12, "FID from loaded statistics");

  /* loaded statistics keep accumulating */
  t2i_fid_stats_add_f64 (loaded, x + (n / 2) * d, n - n / 2);
  g_assert_true (t2i_fid_compute (all, fake, &r1, NULL, NULL));
  g_assert_true (t2i_fid_compute (loaded, fake, &r2, NULL, NULL));
  assert_rel (r2.value, r1.value, 1e-10, "FID of loaded + added");

  /* errors */
  {
    g_autoptr (T2iFidStats) one = t2i_fid_stats_new (d);
    g_autoptr (T2iFidStats) other = t2i_fid_stats_new (d + 1);

    t2i_fid_stats_add_f64 (one, x, 1);
    g_assert_false (t2i_fid_compute (one, fake, &r1, NULL, &error));
    g_assert_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_TOO_FEW);
    g_clear_error (&error);
    g_assert_false (t2i_fid_compute (other, fake, &r1, NULL, &error));
    g_assert_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_MISMATCH);
    g_clear_error (&error);
  }
  g_assert_cmpint (g_unlink (path), ==, 0);
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* ---- IS ---- */

static void
test_is_golden (void)
{
  JsonArray *cases = json_object_get_array_member (golden (), "is");

  for (guint c = 0; c < json_array_get_length (cases); c++) {
    JsonObject *o = json_array_get_object_element (cases, c);
    gint64 n = json_object_get_int_member (o, "n");
    gint k = json_object_get_int_member (o, "classes");
    gint splits = json_object_get_int_member (o, "splits");
    double scale = json_object_get_double_member (o, "scale");
    g_autofree double *z = g_new (double, n * k);
    g_autofree float *logits = g_new (float, n * k);
    Gen g = { json_object_get_int_member (o, "seed") };
    double mean, std, std1;
    GError *error = NULL;

    gen_normal (&g, z, n * k);
    for (gint64 i = 0; i < n * k; i++)
      logits[i] = (float) (scale * z[i]);
    g_assert_true (t2i_inception_score (logits, n, k, splits, FALSE, &mean,
            &std, &error));
    g_assert_no_error (error);
    g_assert_true (t2i_inception_score (logits, n, k, splits, TRUE, &mean,
            &std1, &error));
    assert_rel (mean, json_object_get_double_member (o, "mean"), 1e-10,
        "IS mean");
    assert_rel (std, json_object_get_double_member (o, "std"), 1e-8,
        "IS std");
    assert_rel (std1, json_object_get_double_member (o, "std_unbiased"),
        1e-8, "IS std (N-1)");
    g_assert_false (t2i_inception_score (logits, 3, k, 10, FALSE, &mean,
            NULL, &error));
    g_assert_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_TOO_FEW);
    g_clear_error (&error);
  }
}

/* ---- R-precision ---- */

static void
test_rprecision_golden (void)
{
  JsonObject *o = json_object_get_object_member (golden (), "rprecision");
  gint64 n = json_object_get_int_member (o, "n");
  gint d = json_object_get_int_member (o, "dim");
  gint m = json_object_get_int_member (o, "mismatched");
  double noise = json_object_get_double_member (o, "noise");
  JsonArray *ks_a = json_object_get_array_member (o, "ks");
  JsonArray *hits_a = json_object_get_array_member (o, "hits");
  JsonArray *first = json_object_get_array_member (o, "first_candidates");
  g_autofree double *z1 = g_new (double, n * d);
  g_autofree double *z2 = g_new (double, n * d);
  g_autofree float *img = g_new (float, n * d);
  g_autofree float *txt = g_new (float, n * d);
  g_autofree gint64 *cand = g_new (gint64, n * m);
  gint ks[8], n_ks = json_array_get_length (ks_a);
  double hits[8];
  Gen g = { json_object_get_int_member (o, "seed") };
  Gen gc = { json_object_get_int_member (o, "candidate_seed") };
  GError *error = NULL;

  gen_normal (&g, z1, n * d);
  gen_normal (&g, z2, n * d);
  for (gint64 i = 0; i < n * d; i++) {
    img[i] = (float) z1[i];
    txt[i] = (float) (z1[i] + noise * z2[i]);
  }
  /* rprec_candidates(): m distinct j != i by rejection */
  for (gint64 i = 0; i < n; i++) {
    gint taken = 0;

    while (taken < m) {
      gint64 j = (gint64) floor (gen_uniform (&gc) * (double) (n - 1));
      gboolean dup = FALSE;

      if (j >= i)
        j++;
      for (gint t = 0; t < taken; t++)
        dup |= cand[i * m + t] == j;
      if (!dup)
        cand[i * m + taken++] = j;
    }
  }
  for (guint t = 0; t < json_array_get_length (first); t++)
    g_assert_cmpint (cand[t], ==, json_array_get_int_element (first, t));
  for (gint k = 0; k < n_ks; k++)
    ks[k] = json_array_get_int_element (ks_a, k);
  g_assert_true (t2i_rprecision_compute_with_candidates (img, txt, n, d, cand,
          m, ks, n_ks, hits, &error));
  g_assert_no_error (error);
  for (gint k = 0; k < n_ks; k++) {
    g_autofree gchar *what = g_strdup_printf ("R-precision top-%d", ks[k]);
    assert_abs (hits[k], json_array_get_double_element (hits_a, k), 1e-9,
        what);
  }

  /* a caption index equal to the image's is refused */
  cand[3] = 0;
  g_assert_false (t2i_rprecision_compute_with_candidates (img, txt, n, d, cand,
          m, ks, n_ks, hits, &error));
  g_assert_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID);
  g_clear_error (&error);
}

static void
test_rprecision_sampler (void)
{
  const gint64 n = 300;
  const gint m = 99;
  g_autofree gint64 *a = g_new (gint64, n * m);
  g_autofree gint64 *b = g_new (gint64, n * m);
  g_autofree gint64 *all = g_new (gint64, 5 * 4);
  g_autofree gint *seen = g_new0 (gint, n);
  gint64 same = 0;

  t2i_rprecision_sample_candidates (42, n, m, a);
  t2i_rprecision_sample_candidates (42, n, m, b);
  g_assert_cmpmem (a, n * m * sizeof (gint64), b, n * m * sizeof (gint64));
  for (gint64 i = 0; i < n; i++) {
    for (gint t = 0; t < m; t++) {
      gint64 j = a[i * m + t];

      g_assert_cmpint (j, >=, 0);
      g_assert_cmpint (j, <, n);
      g_assert_cmpint (j, !=, i);
      for (gint u = 0; u < t; u++)
        g_assert_cmpint (a[i * m + u], !=, j);
      seen[j]++;
    }
  }
  /* roughly uniform: every caption drawn about m times */
  for (gint64 j = 0; j < n; j++) {
    g_assert_cmpint (seen[j], >, m / 3);
    g_assert_cmpint (seen[j], <, 3 * m);
  }
  t2i_rprecision_sample_candidates (43, n, m, b);
  for (gint64 i = 0; i < n * m; i++)
    same += a[i] == b[i];
  g_assert_cmpint (same, <, n * m / 20);

  /* n - 1 mismatched: every other caption once */
  t2i_rprecision_sample_candidates (1, 5, 4, all);
  for (gint i = 0; i < 5; i++) {
    gint64 sum = 0;

    for (gint t = 0; t < 4; t++)
      sum += all[i * 4 + t];
    g_assert_cmpint (sum, ==, 10 - i);
  }

  /* perfectly aligned embeddings retrieve their caption at rank 1 */
  {
    const gint d = 4;
    float img[6 * 4], txt[6 * 4];
    gint ks[] = { 1 };
    double hits[1];
    gint used;
    GError *error = NULL;

    for (gint i = 0; i < 6 * d; i++)
      img[i] = txt[i] = (i % d == i / d % d) ? 1.0f : 0.1f * (i % 3);
    g_assert_true (t2i_rprecision_compute (img, txt, 6, d, 0, 100, ks, 1, hits,
            &used, &error));
    g_assert_no_error (error);
    g_assert_cmpint (used, ==, 6);
    g_assert_cmpfloat (hits[0], ==, 100.0);
  }
}

/* ---- CLIP score ---- */

static void
test_clip_golden (void)
{
  JsonObject *o = json_object_get_object_member (golden (), "clip");
  gint64 n = json_object_get_int_member (o, "n");
  gint d = json_object_get_int_member (o, "dim");
  g_autofree double *z1 = g_new (double, n * d);
  g_autofree double *z2 = g_new (double, n * d);
  g_autofree float *img = g_new (float, n * d);
  g_autofree float *txt = g_new (float, n * d);
  g_autofree double *cos = g_new (double, n);
  Gen g = { json_object_get_int_member (o, "seed") };
  double score, std;
  GError *error = NULL;

  gen_normal (&g, z1, n * d);
  gen_normal (&g, z2, n * d);
  for (gint64 i = 0; i < n * d; i++) {
    img[i] = (float) z1[i];
    txt[i] = (float) (z1[i] + z2[i]);
  }
  t2i_cosine_rows (img, txt, n, d, cos);
  g_assert_true (t2i_clip_score (cos, n, 1, 100.0, FALSE, &score, &std,
          &error));
  g_assert_no_error (error);
  assert_rel (score, json_object_get_double_member (o, "score"), 1e-10,
      "CLIP score");
  assert_rel (std, json_object_get_double_member (o, "std"), 1e-9,
      "CLIP score std");
  g_assert_true (t2i_clip_score (cos, n, 4, 100.0, FALSE, &score, NULL,
          &error));
  assert_rel (score, json_object_get_double_member (o, "best_of_4"), 1e-10,
      "CLIP score best of 4");
  g_assert_false (t2i_clip_score (cos, n, 3, 100.0, FALSE, &score, NULL,
          &error));
  g_assert_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID);
  g_clear_error (&error);

  /* clamp: a negative mean becomes 0 */
  for (gint64 i = 0; i < n; i++)
    cos[i] = -fabs (cos[i]);
  g_assert_true (t2i_clip_score (cos, n, 1, 100.0, TRUE, &score, NULL, NULL));
  g_assert_cmpfloat (score, ==, 0.0);
}

/* ---- SSIM and FSIM ---- */

static void
test_ssim_golden (void)
{
  JsonArray *cases = json_object_get_array_member (golden (), "images");

  for (guint c = 0; c < json_array_get_length (cases); c++) {
    JsonObject *o = json_array_get_object_element (cases, c);
    g_autofree float *x = NULL, *y = NULL;
    gint ch, h, w;
    double v;
    GError *error = NULL;

    if (!json_object_has_member (o, "ssim"))
      continue;
    make_images (o, &x, &y, &ch, &h, &w);
    g_assert_true (t2i_ssim (x, y, ch, h, w, FALSE, &v, &error));
    g_assert_no_error (error);
    assert_abs (v, json_object_get_double_member (o, "ssim"), 1e-4,
        "SSIM per channel vs skimage");
    assert_abs (v, json_object_get_double_member (o, "ssim"), 1e-10,
        "SSIM per channel vs skimage (tight)");
    if (ch == 3) {
      g_assert_true (t2i_ssim (x, y, ch, h, w, TRUE, &v, &error));
      assert_abs (v, json_object_get_double_member (o, "ssim_luma"), 1e-10,
          "SSIM luma vs skimage");
    }
    g_assert_true (t2i_ssim (x, x, ch, h, w, FALSE, &v, &error));
    assert_abs (v, 1.0, 1e-12, "SSIM of an image with itself");
  }
  {
    float small[3 * 10 * 10] = { 0 };
    double v;
    GError *error = NULL;

    g_assert_false (t2i_ssim (small, small, 3, 10, 10, FALSE, &v, &error));
    g_assert_error (error, T2I_METRICS_ERROR, T2I_METRICS_ERROR_INVALID);
    g_clear_error (&error);
  }
}

static void
test_fsim_golden (void)
{
  JsonArray *cases = json_object_get_array_member (golden (), "images");
  g_autoptr (T2iFsim) fsim = t2i_fsim_new ();

  for (guint c = 0; c < json_array_get_length (cases); c++) {
    JsonObject *o = json_array_get_object_element (cases, c);
    g_autofree float *x = NULL, *y = NULL;
    g_autofree double *lum = NULL, *pc = NULL;
    gint ch, h, w;
    double v, pc_mean = 0.0;
    GError *error = NULL;

    make_images (o, &x, &y, &ch, &h, &w);
    g_test_message ("FSIM %dx%dx%d", ch, h, w);
    g_assert_true (t2i_fsim_compute (fsim, x, y, ch, h, w, FALSE, &v, &error));
    g_assert_no_error (error);
    assert_abs (v, json_object_get_double_member (o, "fsim"), 1e-4,
        "FSIM vs the numpy FeatureSIM port");
    assert_abs (v, json_object_get_double_member (o, "fsim"), 1e-8,
        "FSIM vs the numpy FeatureSIM port (tight)");
    if (ch == 3) {
      g_assert_true (t2i_fsim_compute (fsim, x, y, ch, h, w, TRUE, &v,
              &error));
      assert_abs (v, json_object_get_double_member (o, "fsimc"), 1e-8,
          "FSIMc vs the numpy FeatureSIM port");
    }
    if (h < 256 && w < 256) {
      /* the phase congruency map of x's luma (no downsampling here) */
      lum = g_new (double, h * w);
      pc = g_new (double, h * w);
      for (gint i = 0; i < h * w; i++) {
        if (ch == 3)
          lum[i] = 0.299 * ((x[i] + 1.0) * 127.5) + 0.587 * ((x[h * w + i]
                  + 1.0) * 127.5) + 0.114 * ((x[2 * h * w + i] + 1.0) * 127.5);
        else
          lum[i] = (x[i] + 1.0) * 127.5;
      }
      t2i_fsim_phase_congruency (fsim, lum, h, w, pc);
      for (gint i = 0; i < h * w; i++)
        pc_mean += pc[i] / (h * w);
      assert_abs (pc_mean, json_object_get_double_member (o, "pc_mean_x"),
          1e-8, "mean phase congruency");
    }
    g_assert_true (t2i_fsim_compute (fsim, x, x, ch, h, w, ch == 3, &v,
            &error));
    assert_abs (v, 1.0, 1e-12, "FSIM of an image with itself");
  }
}

/* ---- attr-acc ---- */

static T2iAttrAcc
score_shapes (gint res, gint n, gboolean noise)
{
  T2iShapesConfig cfg;
  g_autofree T2iShapesItem *items = g_new (T2iShapesItem, n);
  g_autoptr (T2iTensor) img = NULL;
  g_autoptr (T2iShapesDetector) det = t2i_shapes_detector_new (res);
  T2iAttrAcc acc;

  memset (&acc, 0, sizeof (acc));
  t2i_shapes_config_init (&cfg);
  cfg.resolution = res;
  cfg.seed = 11;
  t2i_shapes_sample_batch (&cfg, 0, n, items);
  img = t2i_shapes_render_batch (&cfg, items, n, res);
  if (noise) {
    T2iRng rng;

    t2i_rng_init (&rng, 5);
    t2i_rng_fill_normal (&rng, img, 0.0, 1.0);
  }
  for (gint i = 0; i < n; i++) {
    T2iShapesDetection d;
    gint32 color[2], shape[2], size[2], pos[2];

    for (gint k = 0; k < items[i].n_objects; k++) {
      color[k] = items[i].objects[k].color;
      shape[k] = items[i].objects[k].shape;
      size[k] = items[i].objects[k].size;
      pos[k] = items[i].objects[k].pos;
    }
    t2i_shapes_detector_detect (det, t2i_tensor_f32 (img)
        + (gsize) i * 3 * res * res, &d);
    t2i_attr_acc_add (&acc, &d, items[i].n_objects, color, shape, size, pos,
        items[i].relation);
  }
  g_test_message ("attr-acc %s %dpx, %d images: color %.4f shape %.4f "
      "size %.4f pos %.4f count %.4f relation %.4f", noise ? "noise" :
      "shapes", res, n, t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_COLOR),
      t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_SHAPE),
      t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_SIZE),
      t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_POS),
      t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_COUNT),
      t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_RELATION));
  return acc;
}

static void
test_attr_real (void)
{
  static const gint sizes[] = { 32, 64, 128 };

  for (guint k = 0; k < G_N_ELEMENTS (sizes); k++) {
    T2iAttrAcc acc = score_shapes (sizes[k], sizes[k] > 64 ? 150 : 500,
        FALSE);

    g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_COLOR), >=,
        0.95);
    g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_POS), >=,
        0.95);
    g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_SIZE), >=,
        0.95);
    g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_SHAPE), >=,
        0.95);
    g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_COUNT), >=,
        0.95);
  }
}

static void
test_attr_noise (void)
{
  T2iAttrAcc acc = score_shapes (32, 500, TRUE);

  /* chance: 1/10 colour and shape, 1/3 size, 1/9 position */
  g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_COLOR), <, 0.2);
  g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_SHAPE), <, 0.2);
  g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_SIZE), <, 0.45);
  g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_POS), <, 0.25);
  g_assert_cmpfloat (t2i_attr_acc_mean (&acc), <, 0.25);
}

static void
test_attr_matching (void)
{
  T2iShapesDetection d;
  T2iAttrAcc acc;
  gint32 color[2] = { 1, 2 }, shape[2] = { 3, 4 }, size[2] = { 0, 2 };
  gint32 pos[2] = { 0, 8 };

  memset (&acc, 0, sizeof (acc));
  memset (&d, 0, sizeof (d));
  /* found in the other order: matched by agreement */
  d.n_objects = 2;
  d.objects[0] = (T2iShapesFound) { 2, 4, 2, 8, 0.8f, 0.8f, 30.0f, 0.0f };
  d.objects[1] = (T2iShapesFound) { 1, 3, 0, 0, 0.2f, 0.2f, 20.0f, 0.0f };
  t2i_attr_acc_add (&acc, &d, 2, color, shape, size, pos, T2I_SHAPES_ABOVE);
  g_assert_cmpfloat (t2i_attr_acc_mean (&acc), ==, 1.0);
  g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_RELATION), ==,
      1.0);
  /* one missing object: its attributes count as wrong */
  d.n_objects = 1;
  t2i_attr_acc_add (&acc, &d, 2, color, shape, size, pos, T2I_SHAPES_ABOVE);
  g_assert_cmpint (acc.objects, ==, 4);
  g_assert_cmpint (acc.correct[T2I_SHAPES_ATTR_COLOR], ==, 3);
  g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_COUNT), ==, 0.5);
  g_assert_cmpfloat (t2i_attr_acc_get (&acc, T2I_SHAPES_ATTR_RELATION), ==,
      0.5);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/metrics/fid/golden", test_fid_golden);
  g_test_add_func ("/metrics/fid/memory", test_fid_memory);
  g_test_add_func ("/metrics/fid/identical-shift", test_fid_identical_and_shift);
  g_test_add_func ("/metrics/fid/save-load", test_fid_save_load);
  g_test_add_func ("/metrics/fid/merge", test_fid_merge);
  g_test_add_func ("/metrics/is/golden", test_is_golden);
  g_test_add_func ("/metrics/rprecision/golden", test_rprecision_golden);
  g_test_add_func ("/metrics/rprecision/sampler", test_rprecision_sampler);
  g_test_add_func ("/metrics/clip/golden", test_clip_golden);
  g_test_add_func ("/metrics/ssim/golden", test_ssim_golden);
  g_test_add_func ("/metrics/fsim/golden", test_fsim_golden);
  g_test_add_func ("/metrics/attr/real", test_attr_real);
  g_test_add_func ("/metrics/attr/noise", test_attr_noise);
  g_test_add_func ("/metrics/attr/matching", test_attr_matching);
  int ret = g_test_run ();
  g_clear_object (&golden_parser);
  return ret;
}
