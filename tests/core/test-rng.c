/* Tests for the Philox counter-based RNG and its distributions.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/rng.h>

#include <math.h>
#include <string.h>

/* Random123 known-answer vectors for philox4x32_10. */
static void
test_philox_kat (void)
{
  static const struct {
    guint32 ctr[4], key[2], out[4];
  } kat[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
        {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
        {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };

  for (guint i = 0; i < G_N_ELEMENTS (kat); i++) {
    guint32 out[4];

    t2i_philox4x32_10 (kat[i].ctr, kat[i].key, out);
    for (gint j = 0; j < 4; j++)
      g_assert_cmphex (out[j], ==, kat[i].out[j]);
  }
}

/* Word w of the stream is word w % 4 of block w / 4 keyed by the seed. */
static void
test_stream_layout (void)
{
  T2iRng rng;
  guint32 words[10], block[4];
  const guint64 seed = G_GUINT64_CONSTANT (0x0123456789abcdef);

  t2i_rng_init (&rng, seed);
  t2i_rng_fill_u32 (&rng, words, 10);
  g_assert_cmpuint (rng.offset, ==, 12);
  for (guint w = 0; w < 10; w++) {
    const guint32 ctr[4] = { w / 4, 0, 0, 0 };
    const guint32 key[2] = { (guint32) seed, (guint32) (seed >> 32) };

    t2i_philox4x32_10 (ctr, key, block);
    g_assert_cmphex (words[w], ==, block[w % 4]);
  }

  /* a non-aligned offset is rounded up to the next block first */
  t2i_rng_set_state (&rng, seed, 5);
  t2i_rng_fill_u32 (&rng, words, 1);
  g_assert_cmpuint (rng.offset, ==, 12);
  {
    const guint32 ctr[4] = { 2, 0, 0, 0 };
    const guint32 key[2] = { (guint32) seed, (guint32) (seed >> 32) };

    t2i_philox4x32_10 (ctr, key, block);
    g_assert_cmphex (words[0], ==, block[0]);
  }

  /* the high half of the block index goes in counter word 1 */
  t2i_rng_set_state (&rng, seed, G_GUINT64_CONSTANT (4) << 32 << 2);
  t2i_rng_fill_u32 (&rng, words, 1);
  {
    const guint32 ctr[4] = { 0, 4, 0, 0 };
    const guint32 key[2] = { (guint32) seed, (guint32) (seed >> 32) };

    t2i_philox4x32_10 (ctr, key, block);
    g_assert_cmphex (words[0], ==, block[0]);
  }

  /* offsets consumed by each kind of fill */
  t2i_rng_init (&rng, 1);
  float f[7];
  double d[7];
  t2i_rng_uniform_f32 (&rng, f, 7, 0, 1);
  g_assert_cmpuint (rng.offset, ==, 8);
  t2i_rng_uniform_f64 (&rng, d, 7, 0, 1);
  g_assert_cmpuint (rng.offset, ==, 8 + 16);
  t2i_rng_normal_f32 (&rng, f, 7, 0, 1);
  g_assert_cmpuint (rng.offset, ==, 24 + 8);
  t2i_rng_normal_f64 (&rng, d, 7, 0, 1);
  g_assert_cmpuint (rng.offset, ==, 32 + 16);
  t2i_rng_normal1 (&rng);
  g_assert_cmpuint (rng.offset, ==, 52);
  t2i_rng_skip (&rng, 5);
  g_assert_cmpuint (rng.offset, ==, 60);
}

/* Values are a function of (seed, offset, index): a longer fill starts with
 * the shorter one, and save/restore replays. */
static void
test_prefix_and_state (void)
{
  T2iRng a, b;
  float fa[1001], fb[1001];
  double da[1001], db[1001];

  for (gsize n = 1; n <= 9; n++) {
    t2i_rng_init (&a, 42);
    t2i_rng_init (&b, 42);
    t2i_rng_normal_f32 (&a, fa, n, 0, 1);
    t2i_rng_normal_f32 (&b, fb, 1001, 0, 1);
    g_assert_cmpmem (fa, n * sizeof (float), fb, n * sizeof (float));
    t2i_rng_init (&a, 42);
    t2i_rng_init (&b, 42);
    t2i_rng_normal_f64 (&a, da, n, 0, 1);
    t2i_rng_normal_f64 (&b, db, 1001, 0, 1);
    g_assert_cmpmem (da, n * sizeof (double), db, n * sizeof (double));
    t2i_rng_init (&a, 42);
    t2i_rng_init (&b, 42);
    t2i_rng_gumbel_f32 (&a, fa, n);
    t2i_rng_gumbel_f32 (&b, fb, 1001);
    g_assert_cmpmem (fa, n * sizeof (float), fb, n * sizeof (float));
  }

  guint64 seed, offset;
  t2i_rng_init (&a, 7);
  t2i_rng_uniform_f32 (&a, fa, 13, 0, 1);
  t2i_rng_get_state (&a, &seed, &offset);
  t2i_rng_normal_f32 (&a, fa, 1001, 0, 1);
  t2i_rng_set_state (&b, seed, offset);
  t2i_rng_normal_f32 (&b, fb, 1001, 0, 1);
  g_assert_cmpmem (fa, sizeof fa, fb, sizeof fb);
  g_assert_cmpuint (a.offset, ==, b.offset);

  /* different seeds differ */
  t2i_rng_init (&a, 1);
  t2i_rng_init (&b, 2);
  t2i_rng_normal_f32 (&a, fa, 16, 0, 1);
  t2i_rng_normal_f32 (&b, fb, 16, 0, 1);
  g_assert_true (memcmp (fa, fb, 16 * sizeof (float)) != 0);

  /* derived streams are deterministic, distinct and start at offset 0 */
  T2iRng c1, c2, c3;
  t2i_rng_init (&a, 99);
  t2i_rng_derive (&a, 0, &c1);
  t2i_rng_derive (&a, 0, &c2);
  t2i_rng_derive (&a, 1, &c3);
  g_assert_cmpuint (c1.seed, ==, c2.seed);
  g_assert_cmpuint (c1.seed, !=, c3.seed);
  g_assert_cmpuint (c1.seed, !=, a.seed);
  g_assert_cmpuint (c1.offset, ==, 0);
}

/* Filling with 1 or 2 threads gives the same bytes. */
static void
test_thread_independence (void)
{
  const gsize n = 1000003;      /* odd, big enough to run in parallel */
  float *f1 = g_new (float, n), *f2 = g_new (float, n);
  double *d1 = g_new (double, n), *d2 = g_new (double, n);
  gint32 *i1 = g_new (gint32, n), *i2 = g_new (gint32, n);
  T2iRng rng;
  gint saved = t2i_get_num_threads ();

  for (gint pass = 0; pass < 2; pass++) {
    float *f = pass ? f2 : f1;
    double *d = pass ? d2 : d1;
    gint32 *iv = pass ? i2 : i1;

    t2i_set_num_threads (pass + 1);
    t2i_rng_init (&rng, 1234);
    t2i_rng_normal_f32 (&rng, f, n, 0, 1);
    t2i_rng_normal_f64 (&rng, d, n, 0, 1);
    t2i_rng_uniform_f32 (&rng, f, n / 2, -1, 1);
    t2i_rng_randint_i32 (&rng, iv, n, -5, 17);
    t2i_rng_categorical (&rng, f, (gint64) n / 16, 16, TRUE, iv);
    t2i_rng_gumbel_f64 (&rng, d, n / 3);
  }
  t2i_set_num_threads (saved);
  g_assert_cmpmem (f1, n * sizeof (float), f2, n * sizeof (float));
  g_assert_cmpmem (d1, n * sizeof (double), d2, n * sizeof (double));
  g_assert_cmpmem (i1, n * sizeof (gint32), i2, n * sizeof (gint32));
  g_free (f1);
  g_free (f2);
  g_free (d1);
  g_free (d2);
  g_free (i1);
  g_free (i2);
}

static void
moments_f32 (const float *x, gsize n, double *mean, double *var)
{
  double s = 0, s2 = 0;

  for (gsize i = 0; i < n; i++)
    s += x[i];
  *mean = s / (double) n;
  for (gsize i = 0; i < n; i++)
    s2 += (x[i] - *mean) * (x[i] - *mean);
  *var = s2 / (double) (n - 1);
}

static void
moments_f64 (const double *x, gsize n, double *mean, double *var)
{
  double s = 0, s2 = 0;

  for (gsize i = 0; i < n; i++)
    s += x[i];
  *mean = s / (double) n;
  for (gsize i = 0; i < n; i++)
    s2 += (x[i] - *mean) * (x[i] - *mean);
  *var = s2 / (double) (n - 1);
}

static void
test_moments (void)
{
  const gsize n = 1000000;
  float *f = g_new (float, n);
  double *d = g_new (double, n);
  double mean, var;
  T2iRng rng;

  t2i_rng_init (&rng, 2024);

  /* normal: standard errors of mean / var are 1e-3 / 1.4e-3 */
  t2i_rng_normal_f32 (&rng, f, n, 0, 1);
  moments_f32 (f, n, &mean, &var);
  g_assert_cmpfloat (fabs (mean), <, 0.006);
  g_assert_cmpfloat (fabs (var - 1.0), <, 0.008);
  t2i_rng_normal_f32 (&rng, f, n, 3, 0.5);
  moments_f32 (f, n, &mean, &var);
  g_assert_cmpfloat (fabs (mean - 3.0), <, 0.003);
  g_assert_cmpfloat (fabs (var - 0.25), <, 0.002);
  t2i_rng_normal_f64 (&rng, d, n, 0, 1);
  moments_f64 (d, n, &mean, &var);
  g_assert_cmpfloat (fabs (mean), <, 0.006);
  g_assert_cmpfloat (fabs (var - 1.0), <, 0.008);
  /* tails: P(|z| > 3) = 0.0027 */
  gsize tail = 0;
  for (gsize i = 0; i < n; i++)
    tail += fabs (d[i]) > 3.0;
  g_assert_cmpfloat (fabs ((double) tail / (double) n - 0.0027), <, 0.0004);

  /* uniform: mean 1/2, var 1/12, range */
  t2i_rng_uniform_f32 (&rng, f, n, 0, 1);
  moments_f32 (f, n, &mean, &var);
  g_assert_cmpfloat (fabs (mean - 0.5), <, 0.002);
  g_assert_cmpfloat (fabs (var - 1.0 / 12), <, 0.001);
  for (gsize i = 0; i < n; i++)
    g_assert_true (f[i] >= 0.0f && f[i] < 1.0f);
  t2i_rng_uniform_f64 (&rng, d, n, -2, 6);
  moments_f64 (d, n, &mean, &var);
  g_assert_cmpfloat (fabs (mean - 2.0), <, 0.015);
  g_assert_cmpfloat (fabs (var - 64.0 / 12), <, 0.03);
  for (gsize i = 0; i < n; i++)
    g_assert_true (d[i] >= -2.0 && d[i] < 6.0);

  /* Gumbel: mean = Euler's gamma, var = pi^2 / 6, always finite */
  t2i_rng_gumbel_f32 (&rng, f, n);
  moments_f32 (f, n, &mean, &var);
  g_assert_cmpfloat (fabs (mean - 0.5772156649), <, 0.008);
  g_assert_cmpfloat (fabs (var - G_PI * G_PI / 6), <, 0.03);
  for (gsize i = 0; i < n; i++)
    g_assert_true (isfinite (f[i]));
  t2i_rng_gumbel_f64 (&rng, d, n);
  moments_f64 (d, n, &mean, &var);
  g_assert_cmpfloat (fabs (mean - 0.5772156649), <, 0.008);

  /* bernoulli */
  t2i_rng_bernoulli_f32 (&rng, f, n, 0.3);
  moments_f32 (f, n, &mean, &var);
  g_assert_cmpfloat (fabs (mean - 0.3), <, 0.003);
  for (gsize i = 0; i < n; i++)
    g_assert_true (f[i] == 0.0f || f[i] == 1.0f);

  g_free (f);
  g_free (d);
}

/* Pearson's chi-square statistic of @counts against @expected_p. */
static double
chi_square (const gint64 * counts, const double *expected_p, gint k, gint64 total)
{
  double chi = 0;

  for (gint i = 0; i < k; i++) {
    double e = expected_p[i] * (double) total;

    chi += (counts[i] - e) * (counts[i] - e) / e;
  }
  return chi;
}

static void
test_categorical (void)
{
  const gint64 rows = 200000;
  const double probs[5] = { 0.1, 0.2, 0.0, 0.3, 0.4 };
  float *p = g_new (float, rows * 5);
  float *lg = g_new (float, rows * 5);
  gint32 *out = g_new (gint32, rows);
  T2iRng rng;

  for (gint64 r = 0; r < rows; r++)
    for (gint c = 0; c < 5; c++) {
      /* unnormalised weights, and logits with an arbitrary shift */
      p[r * 5 + c] = (float) (probs[c] * 7.0);
      lg[r * 5 + c] = probs[c] > 0 ? (float) (log (probs[c]) + 3.0) : -INFINITY;
    }
  t2i_rng_init (&rng, 5);
  for (gint pass = 0; pass < 2; pass++) {
    gint64 counts[5] = { 0 };
    double nz_p[4] = { 0.1, 0.2, 0.3, 0.4 };
    gint64 nz_counts[4];

    t2i_rng_categorical (&rng, pass ? lg : p, rows, 5, pass == 1, out);
    for (gint64 r = 0; r < rows; r++) {
      g_assert_cmpint (out[r], >=, 0);
      g_assert_cmpint (out[r], <, 5);
      counts[out[r]]++;
    }
    g_assert_cmpint (counts[2], ==, 0);
    nz_counts[0] = counts[0];
    nz_counts[1] = counts[1];
    nz_counts[2] = counts[3];
    nz_counts[3] = counts[4];
    /* 3 degrees of freedom: P(chi2 > 20) < 2e-4 */
    g_assert_cmpfloat (chi_square (nz_counts, nz_p, 4, rows), <, 20.0);
  }

  /* an all-zero (or all -inf / NaN) row draws uniformly */
  {
    float zeros[4] = { 0, 0, -1, NAN };
    float ninf[4] = { -INFINITY, -INFINITY, NAN, -INFINITY };
    gint64 counts[4] = { 0 };
    double up[4] = { 0.25, 0.25, 0.25, 0.25 };

    for (gint i = 0; i < 40000; i++) {
      gint32 o;

      t2i_rng_categorical (&rng, (i & 1) ? zeros : ninf, 1, 4, (i & 1) == 0, &o);
      g_assert_cmpint (o, >=, 0);
      g_assert_cmpint (o, <, 4);
      counts[o]++;
    }
    g_assert_cmpfloat (chi_square (counts, up, 4, 40000), <, 20.0);
  }
  /* +inf logits win; a single positive weight always wins */
  {
    float l[3] = { 5, INFINITY, 1e30f };
    float q[3] = { 0, 0, 1e-30f };
    gint32 o;

    for (gint i = 0; i < 100; i++) {
      t2i_rng_categorical (&rng, l, 1, 3, TRUE, &o);
      g_assert_cmpint (o, ==, 1);
      t2i_rng_categorical (&rng, q, 1, 3, FALSE, &o);
      g_assert_cmpint (o, ==, 2);
    }
  }
  g_free (p);
  g_free (lg);
  g_free (out);
}

static void
test_randint_permutation (void)
{
  const gsize n = 300000;
  gint32 *v = g_new (gint32, n);
  gint64 counts[10] = { 0 };
  double up[10];
  T2iRng rng;

  t2i_rng_init (&rng, 77);
  t2i_rng_randint_i32 (&rng, v, n, -3, 7);
  for (gsize i = 0; i < n; i++) {
    g_assert_cmpint (v[i], >=, -3);
    g_assert_cmpint (v[i], <, 7);
    counts[v[i] + 3]++;
  }
  for (gint i = 0; i < 10; i++)
    up[i] = 0.1;
  /* 9 degrees of freedom: P(chi2 > 33) < 2e-4 */
  g_assert_cmpfloat (chi_square (counts, up, 10, (gint64) n), <, 33.0);

  /* full 64-bit ranges do not overflow */
  gint64 big[64];
  t2i_rng_randint_i64 (&rng, big, 64, G_MININT64, G_MAXINT64);
  gboolean neg = FALSE, pos = FALSE;
  for (gint i = 0; i < 64; i++) {
    neg |= big[i] < 0;
    pos |= big[i] > 0;
    g_assert_cmpint (big[i], <, G_MAXINT64);
  }
  g_assert_true (neg && pos);
  for (gint i = 0; i < 1000; i++) {
    gint64 x = t2i_rng_randint1 (&rng, 5, 8);
    double u = t2i_rng_uniform1 (&rng);

    g_assert_cmpint (x, >=, 5);
    g_assert_cmpint (x, <, 8);
    g_assert_true (u >= 0.0 && u < 1.0);
  }

  /* permutations are permutations, reproducible, and shuffle agrees */
  for (gint64 len = 0; len <= 1000; len += (len < 10 ? 1 : 497)) {
    gint64 *perm = g_new (gint64, MAX (len, 1));
    gint64 *ident = g_new (gint64, MAX (len, 1));
    gboolean *seen = g_new0 (gboolean, MAX (len, 1));
    T2iRng r1, r2;

    t2i_rng_init (&r1, (guint64) len);
    r2 = r1;
    t2i_rng_permutation (&r1, perm, len);
    for (gint64 i = 0; i < len; i++) {
      g_assert_cmpint (perm[i], >=, 0);
      g_assert_cmpint (perm[i], <, len);
      g_assert_false (seen[perm[i]]);
      seen[perm[i]] = TRUE;
      ident[i] = i;
    }
    t2i_rng_shuffle (&r2, ident, (gsize) len, sizeof (gint64));
    g_assert_cmpmem (perm, len * sizeof (gint64), ident, len * sizeof (gint64));
    g_assert_cmpuint (r1.offset, ==, r2.offset);
    g_free (perm);
    g_free (ident);
    g_free (seen);
  }

  /* uniformity: where element 0 of 5 lands, over many shuffles */
  gint64 pos_counts[5] = { 0 };
  double up5[5] = { 0.2, 0.2, 0.2, 0.2, 0.2 };
  for (gint t = 0; t < 50000; t++) {
    gint64 perm[5];

    t2i_rng_permutation (&rng, perm, 5);
    for (gint i = 0; i < 5; i++)
      if (perm[i] == 0)
        pos_counts[i]++;
  }
  g_assert_cmpfloat (chi_square (pos_counts, up5, 5, 50000), <, 23.0);
  g_free (v);
}

static void
test_tensors (void)
{
  T2iRng rng, copy;
  T2iTensor *t, *u;

  t2i_rng_init (&rng, 3);
  copy = rng;
  t = t2i_rng_randn (&rng, T2I_F32, T2I_SHAPE (3, 5));
  g_assert_cmpint (t->ndim, ==, 2);
  g_assert_cmpint (t->numel, ==, 15);
  float raw[15];
  t2i_rng_normal_f32 (&copy, raw, 15, 0, 1);
  g_assert_cmpmem (t->data, sizeof raw, raw, sizeof raw);
  g_assert_cmpuint (copy.offset, ==, rng.offset);
  t2i_tensor_unref (t);

  t = t2i_rng_rand (&rng, T2I_F64, T2I_SHAPE (4, 4));
  for (gint64 i = 0; i < t->numel; i++)
    g_assert_true (t2i_tensor_get (t, i) >= 0 && t2i_tensor_get (t, i) < 1);
  t2i_rng_fill_normal (&rng, t, 1, 0);
  for (gint64 i = 0; i < t->numel; i++)
    g_assert_cmpfloat (t2i_tensor_get (t, i), ==, 1.0);
  t2i_rng_fill_gumbel (&rng, t);
  t2i_rng_fill_bernoulli (&rng, t, 1.0);
  for (gint64 i = 0; i < t->numel; i++)
    g_assert_cmpfloat (t2i_tensor_get (t, i), ==, 1.0);
  t2i_tensor_unref (t);

  t = t2i_tensor_new (T2I_U8, T2I_SHAPE (100));
  t2i_rng_fill_bernoulli (&rng, t, 0.0);
  for (gint64 i = 0; i < t->numel; i++)
    g_assert_cmpuint (t2i_tensor_u8 (t)[i], ==, 0);
  t2i_tensor_unref (t);

  t = t2i_rng_randint (&rng, T2I_SHAPE (2, 50), 10, 12);
  g_assert_cmpint (t->dtype, ==, T2I_I32);
  for (gint64 i = 0; i < t->numel; i++)
    g_assert_true (t2i_tensor_i32 (t)[i] == 10 || t2i_tensor_i32 (t)[i] == 11);
  t2i_tensor_unref (t);

  t = t2i_rng_randperm (&rng, 10);
  gint sum = 0;
  for (gint64 i = 0; i < 10; i++)
    sum += t2i_tensor_i32 (t)[i];
  g_assert_cmpint (sum, ==, 45);
  t2i_tensor_unref (t);

  float pr[6] = { 0, 1, 0, 0, 0, 1 };
  t = t2i_tensor_from_data (T2I_F32, T2I_SHAPE (2, 3), pr);
  u = t2i_rng_multinomial (&rng, t, FALSE);
  g_assert_cmpint (u->ndim, ==, 1);
  g_assert_cmpint (u->shape[0], ==, 2);
  g_assert_cmpint (t2i_tensor_i32 (u)[0], ==, 1);
  g_assert_cmpint (t2i_tensor_i32 (u)[1], ==, 2);
  t2i_tensor_unref (u);
  t2i_tensor_unref (t);
  t = t2i_tensor_from_data (T2I_F32, T2I_SHAPE (3), pr);
  u = t2i_rng_multinomial (&rng, t, FALSE);
  g_assert_cmpint (u->ndim, ==, 0);
  g_assert_cmpint (t2i_tensor_i32 (u)[0], ==, 1);
  t2i_tensor_unref (u);
  t2i_tensor_unref (t);
}

/* K sharded generators drawing n values each hold, together and in rank
 * order, the K n values one unsharded generator draws, and all K end at
 * its offset (data-parallel noise: docs/distributed.md).  Odd n puts a
 * shard boundary inside a Box-Muller pair and a block. */
#define SHARD_CHECK(T, CALL)                                            \
  G_STMT_START {                                                        \
    T *whole = g_new0 (T, n * k), *part = g_new0 (T, n);                \
    T2iRng one, r;                                                      \
    t2i_rng_init (&one, 99);                                            \
    t2i_rng_skip (&one, 8);                                             \
    guint64 start = one.offset;                                         \
    { T2iRng *rng = &one; gsize len = n * k; T *out = whole; CALL; }    \
    for (guint s = 0; s < k; s++) {                                     \
      t2i_rng_init (&r, 99);                                            \
      r.offset = start;                                                 \
      t2i_rng_set_shard (&r, s, k);                                     \
      { T2iRng *rng = &r; gsize len = n; T *out = part; CALL; }         \
      g_assert_cmpuint (r.offset, ==, one.offset);                      \
      g_assert_cmpmem (part, n * sizeof (T), whole + s * n,             \
          n * sizeof (T));                                              \
    }                                                                   \
    g_free (whole);                                                     \
    g_free (part);                                                      \
  } G_STMT_END

static void
test_shards (void)
{
  static const gsize sizes[] = { 1, 2, 3, 5, 8, 13 };
  float probs[6 * 3 * 3];

  for (guint i = 0; i < G_N_ELEMENTS (probs); i++)
    probs[i] = (float) ((i * 7) % 5);
  for (guint k = 2; k <= 3; k++) {
    for (guint si = 0; si < G_N_ELEMENTS (sizes); si++) {
      const gsize n = sizes[si];
      SHARD_CHECK (guint32, t2i_rng_fill_u32 (rng, out, len));
      SHARD_CHECK (float, t2i_rng_uniform_f32 (rng, out, len, -1, 2));
      SHARD_CHECK (double, t2i_rng_uniform_f64 (rng, out, len, 0, 1));
      SHARD_CHECK (float, t2i_rng_normal_f32 (rng, out, len, 0.5, 2));
      SHARD_CHECK (double, t2i_rng_normal_f64 (rng, out, len, 0, 1));
      SHARD_CHECK (float, t2i_rng_gumbel_f32 (rng, out, len));
      SHARD_CHECK (double, t2i_rng_gumbel_f64 (rng, out, len));
      SHARD_CHECK (guint8, t2i_rng_bernoulli_u8 (rng, out, len, 0.3));
      SHARD_CHECK (gint32, t2i_rng_randint_i32 (rng, out, len, -4, 9));
      SHARD_CHECK (gint64, t2i_rng_randint_i64 (rng, out, len, 0, 1000));
      if (n <= 6)
        SHARD_CHECK (gint32, t2i_rng_categorical (rng, probs + (out ==
                    part ? (gsize) r.shard * n * 3 : 0), len, 3, FALSE,
                out));
    }
  }

  /* single values: distinct blocks per rank, the offset of K calls */
  T2iRng a, b, one;
  t2i_rng_init (&a, 5);
  t2i_rng_init (&b, 5);
  t2i_rng_init (&one, 5);
  t2i_rng_set_shard (&a, 0, 2);
  t2i_rng_set_shard (&b, 1, 2);
  double x0 = t2i_rng_uniform1 (&one), x1 = t2i_rng_uniform1 (&one);
  g_assert_cmpfloat (t2i_rng_uniform1 (&a), ==, x0);
  g_assert_cmpfloat (t2i_rng_uniform1 (&b), ==, x1);
  g_assert_cmpuint (a.offset, ==, one.offset);
  g_assert_cmpuint (b.offset, ==, one.offset);

  /* permutations ignore the shard; init and derive clear it */
  gint64 pa[10], pb[10];
  t2i_rng_permutation (&a, pa, 10);
  t2i_rng_permutation (&b, pb, 10);
  g_assert_cmpmem (pa, sizeof pa, pb, sizeof pb);
  T2iRng d;
  t2i_rng_derive (&b, 3, &d);
  g_assert_cmpuint (d.shards, ==, 0);
  t2i_rng_init (&b, 1);
  g_assert_cmpuint (b.shards, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rng/philox-kat", test_philox_kat);
  g_test_add_func ("/rng/stream-layout", test_stream_layout);
  g_test_add_func ("/rng/prefix-and-state", test_prefix_and_state);
  g_test_add_func ("/rng/thread-independence", test_thread_independence);
  g_test_add_func ("/rng/moments", test_moments);
  g_test_add_func ("/rng/categorical", test_categorical);
  g_test_add_func ("/rng/randint-permutation", test_randint_permutation);
  g_test_add_func ("/rng/tensors", test_tensors);
  g_test_add_func ("/rng/shards", test_shards);
  return g_test_run ();
}
