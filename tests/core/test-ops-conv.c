/* Tests for core/ops/{linear,conv,pool}.c: gradients (f64, finite
 * differences), second-order gradients for the ops used under an R1
 * penalty, oneDNN f32 against the f64 loops, a few PyTorch goldens
 * (tests/golden/ops-conv.txt, from tests/gen-ops-conv-golden.py), argument
 * errors, the steady-state allocation behaviour, and precision bf16.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/ops.h>
#include "gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define F32_TOL 1e-4

static T2iConvParams
cp (gint sh, gint sw, gint ph, gint pw, gint dh, gint dw, gint groups,
    gint oph, gint opw)
{
  T2iConvParams p = { {sh, sw}, {ph, pw}, {dh, dw}, groups, {oph, opw} };
  return p;
}

static T2iTensor *
rnd (const gint64 * shape, gint ndim, gboolean grad)
{
  T2iTensor *t = gc_rand (ndim, shape, -1, 1);
  t2i_tensor_set_requires_grad (t, grad);
  return t;
}

static void
unref_all (T2iTensor ** ts, gint n)
{
  for (gint i = 0; i < n; i++)
    if (ts[i])
      t2i_tensor_unref (ts[i]);
}

/* ---- conv family ---- */

typedef struct
{
  const char *name;
  gint64 x[4];                  /* input */
  gint64 w[4];                  /* weight (conv or ConvT layout) */
  T2iConvParams p;
  gboolean bias;
  gboolean second;              /* include in second-order checks */
} ConvCase;

static T2iTensor *
conv_fn (T2iTensor ** in, gpointer user)
{
  return t2i_conv2d (in[0], in[1], in[2], &((ConvCase *) user)->p);
}

static T2iTensor *
convt_fn (T2iTensor ** in, gpointer user)
{
  return t2i_conv_transpose2d (in[0], in[1], in[2], &((ConvCase *) user)->p);
}

static T2iTensor *
wgrad_fn (T2iTensor ** in, gpointer user)
{
  ConvCase *c = user;
  return t2i_conv2d_weight_grad (in[0], in[1], c->w, &c->p);
}

static ConvCase conv_cases[] = {
  {"s1p1-bias", {2, 3, 6, 5}, {4, 3, 3, 3}, {{1, 1}, {1, 1}, {1, 1}, 1}, TRUE,
      TRUE},
  {"s2p0", {2, 3, 7, 8}, {4, 3, 3, 3}, {{2, 2}, {0, 0}, {1, 1}, 1}, FALSE},
  {"p2-d2-nonsquare", {1, 2, 8, 9}, {3, 2, 3, 2}, {{1, 1}, {2, 1}, {2, 2}, 1},
      TRUE, TRUE},
  {"groups2-s2", {2, 4, 7, 7}, {6, 2, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, 2}, TRUE,
      TRUE},
  {"k1x3-s2x1", {2, 3, 5, 6}, {2, 3, 1, 3}, {{2, 1}, {0, 1}, {1, 1}, 1},
      FALSE},
  {"1x1", {2, 4, 3, 3}, {5, 4, 1, 1}, {{1, 1}, {0, 0}, {1, 1}, 1}, TRUE},
  {"k4s2p1", {2, 3, 8, 8}, {4, 3, 4, 4}, {{2, 2}, {1, 1}, {1, 1}, 1}, FALSE,
      TRUE},
  {"groups2-k4s2p1", {2, 4, 8, 8}, {6, 2, 4, 4}, {{2, 2}, {1, 1}, {1, 1}, 2},
      TRUE},
  {"k2-s3-p1-trailing", {1, 2, 8, 7}, {3, 2, 2, 2}, {{3, 3}, {1, 1}, {1, 1}, 1},
      TRUE},
};

static ConvCase convt_cases[] = {
  {"k4s2p1-bias", {2, 4, 3, 3}, {4, 3, 4, 4}, {{2, 2}, {1, 1}, {1, 1}, 1},
      TRUE, TRUE},
  {"k3s2p1-op1", {2, 3, 4, 3}, {3, 2, 3, 3}, {{2, 2}, {1, 1}, {1, 1}, 1, {1,
              1}}, FALSE, TRUE},
  {"groups2-d2-s2", {1, 4, 3, 4}, {4, 2, 3, 3}, {{2, 2}, {1, 1}, {2, 2}, 2},
      TRUE, TRUE},
  {"1x1-to-4x4", {3, 5, 1, 1}, {5, 3, 4, 4}, {{1, 1}, {0, 0}, {1, 1}, 1},
      FALSE},
  {"nonsquare-op", {2, 3, 4, 3}, {3, 2, 2, 3}, {{1, 2}, {0, 1}, {1, 1}, 1, {0,
              1}}, TRUE},
  {"k4s2p0-op1", {1, 2, 3, 3}, {2, 3, 4, 4}, {{2, 2}, {0, 0}, {1, 1}, 1, {1,
              1}}, FALSE},
  {"groups2-k4s2p1", {2, 4, 3, 3}, {4, 3, 4, 4}, {{2, 2}, {1, 1}, {1, 1}, 2},
      TRUE},
  {"phases-s2x1", {1, 3, 3, 4}, {3, 2, 4, 3}, {{2, 1}, {1, 1}, {1, 1}, 1},
      TRUE},
  {"p2-s1", {2, 3, 5, 5}, {3, 4, 5, 3}, {{1, 1}, {2, 1}, {1, 1}, 1}, TRUE},
};

/* inputs for a conv case: x, w, b (nullable) */
static void
conv_inputs (const ConvCase * c, gint64 bias_len, T2iTensor ** in)
{
  in[0] = rnd (c->x, 4, TRUE);
  in[1] = rnd (c->w, 4, TRUE);
  in[2] = c->bias ? rnd ((gint64[]) { bias_len }, 1, TRUE) : NULL;
}

/* x and grad_y for the weight-gradient op of a conv case */
static void
wgrad_inputs (const ConvCase * c, T2iTensor ** in)
{
  T2iTensor *x = rnd (c->x, 4, FALSE), *w = rnd (c->w, 4, FALSE);
  T2iTensor *y = t2i_conv2d (x, w, NULL, &c->p);
  in[0] = x;
  in[1] = rnd (y->shape, 4, FALSE);
  t2i_tensor_set_requires_grad (in[0], TRUE);
  t2i_tensor_set_requires_grad (in[1], TRUE);
  t2i_tensor_unref (y);
  t2i_tensor_unref (w);
}

static void
test_conv2d_grad (void)
{
  for (guint k = 0; k < G_N_ELEMENTS (conv_cases); k++) {
    ConvCase *c = &conv_cases[k];
    T2iTensor *in[3];
    g_autofree char *what = g_strdup_printf ("conv2d %s", c->name);
    conv_inputs (c, c->w[0], in);
    gc_check_grad (what, conv_fn, in, 3, c);
    if (c->second)
      gc_check_gradgrad (what, conv_fn, in, 3, c);
    gc_check_f32 (what, conv_fn, in, 3, c, F32_TOL);
    unref_all (in, 3);
  }
}

static void
test_conv_transpose2d_grad (void)
{
  for (guint k = 0; k < G_N_ELEMENTS (convt_cases); k++) {
    ConvCase *c = &convt_cases[k];
    T2iTensor *in[3];
    g_autofree char *what = g_strdup_printf ("conv_transpose2d %s", c->name);
    conv_inputs (c, c->w[1] * c->p.groups, in);
    gc_check_grad (what, convt_fn, in, 3, c);
    if (c->second)
      gc_check_gradgrad (what, convt_fn, in, 3, c);
    gc_check_f32 (what, convt_fn, in, 3, c, F32_TOL);
    unref_all (in, 3);
  }
}

static void
test_conv2d_weight_grad_grad (void)
{
  for (guint k = 0; k < G_N_ELEMENTS (conv_cases); k++) {
    ConvCase *c = &conv_cases[k];
    T2iTensor *in[2];
    g_autofree char *what = g_strdup_printf ("conv2d_weight_grad %s", c->name);
    wgrad_inputs (c, in);
    gc_check_grad (what, wgrad_fn, in, 2, c);
    if (c->second)
      gc_check_gradgrad (what, wgrad_fn, in, 2, c);
    gc_check_f32 (what, wgrad_fn, in, 2, c, F32_TOL);
    unref_all (in, 2);
  }
}

/* conv2d_weight_grad is what the engine computes for conv2d's weight */
static void
test_conv2d_weight_grad_matches_autograd (void)
{
  ConvCase *c = &conv_cases[3];
  T2iTensor *x = rnd (c->x, 4, FALSE), *w = rnd (c->w, 4, TRUE);
  T2iTensor *y = t2i_conv2d (x, w, NULL, &c->p);
  T2iTensor *r = rnd (y->shape, 4, FALSE);
  T2iTensor **g = t2i_grad (y, r, &w, 1, FALSE);
  T2iTensor *dw = t2i_conv2d_weight_grad (x, r, c->w, &c->p);

  for (gint64 i = 0; i < dw->numel; i++)
    g_assert_cmpfloat_with_epsilon (t2i_tensor_get (dw, i),
        t2i_tensor_get (g[0], i), 1e-12);
  T2iTensor *ts[] = { x, w, y, r, g[0], dw };
  unref_all (ts, G_N_ELEMENTS (ts));
  g_free (g);
}

/* the sizes of a GAN at batch 8 (f32 = oneDNN, f64 = loops) */
static void
test_conv_f32_large (void)
{
  T2iConvParams p1 = cp (1, 1, 1, 1, 1, 1, 1, 0, 0);
  T2iConvParams p2 = cp (2, 2, 1, 1, 1, 1, 1, 0, 0);
  {
    T2iTensor *in[3] = { rnd ((gint64[]) { 8, 64, 16, 16 }, 4, FALSE),
      rnd ((gint64[]) { 64, 64, 3, 3 }, 4, FALSE),
      rnd ((gint64[]) { 64 }, 1, FALSE)
    };
    ConvCase c = { "big", {0}, {0}, p1 };
    gc_check_f32 ("conv2d [8,64,16,16] 3x3", conv_fn, in, 3, &c, F32_TOL);
    unref_all (in, 3);
  }
  {
    T2iTensor *in[3] = { rnd ((gint64[]) { 2, 512, 4, 4 }, 4, FALSE),
      rnd ((gint64[]) { 512, 256, 4, 4 }, 4, FALSE),
      rnd ((gint64[]) { 256 }, 1, FALSE)
    };
    ConvCase c = { "big", {0}, {0}, p2 };
    gc_check_f32 ("conv_transpose2d k4s2p1 512->256", convt_fn, in, 3, &c,
        F32_TOL);
    unref_all (in, 3);
  }
  {
    ConvCase c = { "big", {8, 64, 16, 16}, {64, 64, 3, 3}, p1 };
    T2iTensor *in[2] = { rnd (c.x, 4, FALSE),
      rnd ((gint64[]) { 8, 64, 16, 16 }, 4, FALSE)
    };
    gc_check_f32 ("conv2d_weight_grad [8,64,16,16] 3x3", wgrad_fn, in, 2, &c,
        F32_TOL);
    unref_all (in, 2);
  }
  {
    /* discriminator block k4 s2 p1 64 -> 128, and its weight gradient */
    T2iTensor *in[3] = { rnd ((gint64[]) { 4, 64, 16, 16 }, 4, FALSE),
      rnd ((gint64[]) { 128, 64, 4, 4 }, 4, FALSE), NULL
    };
    ConvCase c = { "big", {4, 64, 16, 16}, {128, 64, 4, 4}, p2 };
    gc_check_f32 ("conv2d k4s2p1 64->128", conv_fn, in, 3, &c, F32_TOL);
    t2i_tensor_unref (in[1]);
    in[1] = rnd ((gint64[]) { 4, 128, 8, 8 }, 4, FALSE);
    gc_check_f32 ("conv2d_weight_grad k4s2p1 64->128", wgrad_fn, in, 2, &c,
        F32_TOL);
    unref_all (in, 2);
  }
  {
    /* discriminator block 8x8 -> 4x4 (by phases), and its weight gradient */
    T2iTensor *in[3] = { rnd ((gint64[]) { 4, 128, 8, 8 }, 4, FALSE),
      rnd ((gint64[]) { 256, 128, 4, 4 }, 4, FALSE),
      rnd ((gint64[]) { 256 }, 1, FALSE)
    };
    ConvCase c = { "big", {4, 128, 8, 8}, {256, 128, 4, 4}, p2 };
    gc_check_f32 ("conv2d k4s2p1 128->256 8x8", conv_fn, in, 3, &c, F32_TOL);
    t2i_tensor_unref (in[1]);
    in[1] = rnd ((gint64[]) { 4, 256, 4, 4 }, 4, FALSE);
    gc_check_f32 ("conv2d_weight_grad k4s2p1 128->256 8x8", wgrad_fn, in, 2,
        &c, F32_TOL);
    unref_all (in, 3);
  }
  {
    /* groups and dilation on the oneDNN path, odd channel counts */
    T2iConvParams pg = cp (1, 2, 2, 1, 2, 1, 3, 0, 1);
    ConvCase c = { "big", {3, 24, 13, 11}, {21, 8, 3, 3}, pg };
    T2iTensor *in[3] = { rnd (c.x, 4, FALSE), rnd (c.w, 4, FALSE),
      rnd ((gint64[]) { 21 }, 1, FALSE)
    };
    gc_check_f32 ("conv2d groups 3 dilation 2", conv_fn, in, 3, &c, F32_TOL);
    t2i_tensor_unref (in[1]);
    in[1] = rnd ((gint64[]) { 3, 21, 13, 6 }, 4, FALSE);
    gc_check_f32 ("conv2d_weight_grad groups 3 dilation 2", wgrad_fn, in, 2,
        &c, F32_TOL);
    t2i_tensor_unref (in[0]);
    /* ConvT layout: [Cin = 21, Cout / 3 = 8, 3, 3] -> Cout 24 */
    in[0] = rnd ((gint64[]) { 3, 21, 13, 6 }, 4, FALSE);
    t2i_tensor_unref (in[1]);
    in[1] = rnd ((gint64[]) { 21, 8, 3, 3 }, 4, FALSE);
    t2i_tensor_unref (in[2]);
    in[2] = rnd ((gint64[]) { 24 }, 1, FALSE);
    gc_check_f32 ("conv_transpose2d groups 3 dilation 2", convt_fn, in, 3, &c,
        F32_TOL);
    unref_all (in, 3);
  }
}

/* ---- matmul and linear ---- */

typedef struct
{
  gint na, nb;
  gint64 a[4], b[4];
} MmCase;

static T2iTensor *
matmul_fn (T2iTensor ** in, gpointer user)
{
  return t2i_matmul (in[0], in[1]);
}

static T2iTensor *
linear_fn (T2iTensor ** in, gpointer user)
{
  return t2i_linear (in[0], in[1], in[2]);
}

static void
test_matmul_grad (void)
{
  const MmCase cases[] = {
    {2, 2, {3, 4}, {4, 5}},
    {4, 3, {2, 1, 3, 4}, {3, 4, 2}},
    {3, 2, {2, 3, 4}, {4, 5}},
    {2, 3, {4, 5}, {2, 5, 3}},
    {3, 3, {2, 3, 4}, {1, 4, 2}},
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    const MmCase *c = &cases[k];
    T2iTensor *in[2] = { rnd (c->a, c->na, TRUE), rnd (c->b, c->nb, TRUE) };
    g_autofree char *what = g_strdup_printf ("matmul case %u", k);
    gc_check_grad (what, matmul_fn, in, 2, NULL);
    gc_check_gradgrad (what, matmul_fn, in, 2, NULL);
    gc_check_f32 (what, matmul_fn, in, 2, NULL, F32_TOL);
    unref_all (in, 2);
  }
  {
    /* many small matrices (one per thread) and one large one */
    T2iTensor *in[2] = { rnd ((gint64[]) { 16, 77, 64 }, 3, FALSE),
      rnd ((gint64[]) { 16, 64, 77 }, 3, FALSE)
    };
    gc_check_f32 ("matmul batched 16x77x64x77", matmul_fn, in, 2, NULL,
        F32_TOL);
    unref_all (in, 2);
    T2iTensor *in2[2] = { rnd ((gint64[]) { 2, 96, 160 }, 3, FALSE),
      rnd ((gint64[]) { 160, 130 }, 2, FALSE)
    };
    gc_check_f32 ("matmul folded 2x96x160 @ 160x130", matmul_fn, in2, 2, NULL,
        F32_TOL);
    unref_all (in2, 2);
  }
}

static void
test_linear_grad (void)
{
  struct
  {
    gint nx;
    gint64 x[3];
    gboolean bias;
  } cases[] = {
    {2, {3, 5}, TRUE},
    {3, {2, 3, 5}, FALSE},
    {3, {2, 3, 5}, TRUE},
    {1, {5}, TRUE},
  };
  for (guint k = 0; k < G_N_ELEMENTS (cases); k++) {
    T2iTensor *in[3] = { rnd (cases[k].x, cases[k].nx, TRUE),
      rnd ((gint64[]) { 4, 5 }, 2, TRUE),
      cases[k].bias ? rnd ((gint64[]) { 4 }, 1, TRUE) : NULL
    };
    g_autofree char *what = g_strdup_printf ("linear case %u", k);
    gc_check_grad (what, linear_fn, in, 3, NULL);
    gc_check_gradgrad (what, linear_fn, in, 3, NULL);
    gc_check_f32 (what, linear_fn, in, 3, NULL, F32_TOL);
    unref_all (in, 3);
  }
  {
    T2iTensor *in[3] = { rnd ((gint64[]) { 64, 512 }, 2, FALSE),
      rnd ((gint64[]) { 256, 512 }, 2, FALSE),
      rnd ((gint64[]) { 256 }, 1, FALSE)
    };
    gc_check_f32 ("linear 64x512 -> 256", linear_fn, in, 3, NULL, F32_TOL);
    unref_all (in, 3);
  }
}

/* ---- pooling and resampling ---- */

typedef struct
{
  gint op;                      /* 0 nearest 1 bilinear 2 avg 3 max 4 adaptive */
  gint a, b, c;
  gboolean flag;
} PoolCase;

static T2iTensor *
pool_fn (T2iTensor ** in, gpointer user)
{
  const PoolCase *c = user;
  switch (c->op) {
    case 0:
      return t2i_upsample_nearest2d (in[0], c->a);
    case 1:
      return t2i_upsample_bilinear2d (in[0], c->a, c->b, c->flag);
    case 2:
      return t2i_avg_pool2d (in[0], c->a, c->b, c->c, c->flag);
    case 3:
      return t2i_max_pool2d (in[0], c->a, c->b, c->c);
    default:
      return t2i_adaptive_avg_pool2d (in[0], c->a, c->b);
  }
}

static void
check_pool (const char *what, const PoolCase * c, const gint64 * shape,
    gboolean second)
{
  /* max pooling needs well separated values (no ties near the argmax) */
  T2iTensor *x = c->op == 3 ? gc_rand_spread (4, shape, 1.0)
      : gc_rand (4, shape, -1, 1);
  t2i_tensor_set_requires_grad (x, TRUE);
  gc_check_grad (what, pool_fn, &x, 1, (gpointer) c);
  if (second)
    gc_check_gradgrad (what, pool_fn, &x, 1, (gpointer) c);
  gc_check_f32 (what, pool_fn, &x, 1, (gpointer) c, F32_TOL);
  t2i_tensor_unref (x);
}

static void
test_upsample_grad (void)
{
  check_pool ("nearest x2", &(PoolCase) { 0, 2 }, (gint64[]) { 2, 3, 3, 4 },
      TRUE);
  check_pool ("nearest x3", &(PoolCase) { 0, 3 }, (gint64[]) { 1, 2, 2, 3 },
      TRUE);
  check_pool ("bilinear up align", &(PoolCase) { 1, 5, 7, 0, TRUE },
      (gint64[]) { 1, 2, 3, 4 }, TRUE);
  check_pool ("bilinear up", &(PoolCase) { 1, 5, 7, 0, FALSE },
      (gint64[]) { 1, 2, 3, 4 }, TRUE);
  check_pool ("bilinear down", &(PoolCase) { 1, 3, 4, 0, FALSE },
      (gint64[]) { 1, 2, 7, 6 }, FALSE);
  check_pool ("bilinear down align", &(PoolCase) { 1, 3, 4, 0, TRUE },
      (gint64[]) { 1, 2, 7, 6 }, FALSE);
  check_pool ("bilinear to one row", &(PoolCase) { 1, 1, 4, 0, TRUE },
      (gint64[]) { 1, 1, 3, 3 }, FALSE);
}

static void
test_pool_grad (void)
{
  check_pool ("avg k3s2p1 count_include_pad", &(PoolCase) { 2, 3, 2, 1, TRUE },
      (gint64[]) { 2, 2, 7, 6 }, TRUE);
  check_pool ("avg k3s2p1 exclude pad", &(PoolCase) { 2, 3, 2, 1, FALSE },
      (gint64[]) { 2, 2, 7, 6 }, TRUE);
  check_pool ("avg k2s2", &(PoolCase) { 2, 2, 2, 0, TRUE },
      (gint64[]) { 2, 3, 6, 6 }, TRUE);
  check_pool ("avg k3s1", &(PoolCase) { 2, 3, 1, 0, TRUE },
      (gint64[]) { 1, 2, 5, 6 }, FALSE);
  check_pool ("max k3s2p1", &(PoolCase) { 3, 3, 2, 1 },
      (gint64[]) { 2, 2, 7, 6 }, TRUE);
  check_pool ("max k2s2", &(PoolCase) { 3, 2, 0, 0 },
      (gint64[]) { 2, 3, 6, 6 }, FALSE);
  check_pool ("adaptive 7x5->3x2", &(PoolCase) { 4, 3, 2 },
      (gint64[]) { 2, 2, 7, 5 }, TRUE);
  check_pool ("adaptive 3x3->5x4", &(PoolCase) { 4, 5, 4 },
      (gint64[]) { 1, 2, 3, 3 }, FALSE);
  check_pool ("adaptive ->1x1", &(PoolCase) { 4, 1, 1 },
      (gint64[]) { 2, 3, 4, 5 }, FALSE);
}

/* ---- goldens ---- */

static GHashTable *
load_goldens (void)
{
  const char *src = g_getenv ("T2I_SOURCE_DIR");
  g_autofree char *path = g_build_filename (src ? src : ".", "tests",
      "golden", "ops-conv.txt", NULL);
  g_autofree char *text = NULL;
  g_autoptr (GError) err = NULL;
  GHashTable *h = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      (GDestroyNotify) g_array_unref);

  if (!g_file_get_contents (path, &text, NULL, &err))
    g_error ("cannot read %s: %s", path, err->message);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (gint i = 0; lines[i]; i++) {
    char *p = lines[i], *end;
    if (!*p)
      continue;
    char *sp = strchr (p, ' ');
    g_assert_nonnull (sp);
    char *name = g_strndup (p, sp - p);
    gint64 n = g_ascii_strtoll (sp + 1, &end, 10);
    GArray *a = g_array_sized_new (FALSE, FALSE, sizeof (double), n);
    p = end;
    for (gint64 k = 0; k < n; k++) {
      double v = g_ascii_strtod (p, &end);
      g_assert_true (end != p);
      g_array_append_val (a, v);
      p = end;
    }
    g_hash_table_insert (h, name, a);
  }
  return h;
}

typedef enum
{ FX, FW, FB } Formula;

static T2iTensor *
formula (Formula f, const gint64 * shape, gint ndim)
{
  T2iTensor *t = t2i_tensor_new (T2I_F64, ndim, shape);
  for (gint64 i = 0; i < t->numel; i++)
    t2i_tensor_set (t, i, f == FX ? sin (0.37 * i + 0.1)
        : f == FW ? 0.5 * cos (0.23 * i + 0.2) : 0.1 * i - 0.05);
  return t;
}

static void
compare_golden (GHashTable * gold, const char *name, T2iTensor * out)
{
  GArray *a = g_hash_table_lookup (gold, name);
  g_assert_nonnull (a);
  g_assert_nonnull (out);
  g_assert_cmpint (a->len, ==, out->numel);
  /* f64 against torch, then the f32 path against the same values */
  for (gint64 i = 0; i < out->numel; i++)
    if (fabs (t2i_tensor_get (out, i) - g_array_index (a, double, i)) > 1e-10)
      g_test_fail_printf ("golden %s: element %" G_GINT64_FORMAT
          " is %.12g, torch says %.12g", name, i, t2i_tensor_get (out, i),
          g_array_index (a, double, i));
}

typedef T2iTensor *(*GoldFn) (T2iTensor ** in, gpointer user);

/* runs @fn in f64 and f32 and compares both with golden @name */
static void
check_golden (GHashTable * gold, const char *name, GoldFn fn, T2iTensor ** in,
    gint n, gpointer user)
{
  T2iTensor *o = fn (in, user);
  compare_golden (gold, name, o);
  gc_check_f32 (name, fn, in, n, user, 1e-5);
  t2i_tensor_unref (o);
}

static void
test_goldens (void)
{
  GHashTable *gold = load_goldens ();
  {
    ConvCase c = { "a", {0}, {0}, cp (2, 1, 1, 0, 1, 2, 1, 1, 0) };
    T2iTensor *in[3] = { formula (FX, (gint64[]) { 2, 3, 3, 4 }, 4),
      formula (FW, (gint64[]) { 3, 2, 3, 2 }, 4),
      formula (FB, (gint64[]) { 2 }, 1)
    };
    check_golden (gold, "convt_a", convt_fn, in, 3, &c);
    unref_all (in, 3);
  }
  {
    ConvCase c = { "b", {0}, {0}, cp (2, 2, 1, 1, 1, 1, 2, 0, 0) };
    T2iTensor *in[3] = { formula (FX, (gint64[]) { 1, 4, 3, 3 }, 4),
      formula (FW, (gint64[]) { 4, 3, 4, 4 }, 4), NULL
    };
    check_golden (gold, "convt_b", convt_fn, in, 3, &c);
    unref_all (in, 3);
  }
  {
    ConvCase c = { "c", {0}, {0}, cp (1, 2, 2, 1, 2, 2, 2, 0, 0) };
    T2iTensor *in[3] = { formula (FX, (gint64[]) { 2, 4, 7, 6 }, 4),
      formula (FW, (gint64[]) { 6, 2, 3, 2 }, 4),
      formula (FB, (gint64[]) { 6 }, 1)
    };
    check_golden (gold, "conv_a", conv_fn, in, 3, &c);
    unref_all (in, 3);
  }
  {
    T2iTensor *x = formula (FX, (gint64[]) { 1, 2, 3, 5 }, 4);
    T2iTensor *xd = formula (FX, (gint64[]) { 1, 2, 7, 9 }, 4);
    T2iTensor *xp = formula (FX, (gint64[]) { 2, 2, 7, 5 }, 4);
    check_golden (gold, "bilinear_up_ac", pool_fn, &x, 1,
        &(PoolCase) { 1, 7, 4, 0, TRUE });
    check_golden (gold, "bilinear_up", pool_fn, &x, 1,
        &(PoolCase) { 1, 7, 4, 0, FALSE });
    check_golden (gold, "bilinear_down", pool_fn, &xd, 1,
        &(PoolCase) { 1, 3, 4, 0, FALSE });
    check_golden (gold, "avgpool_nopad", pool_fn, &xp, 1,
        &(PoolCase) { 2, 3, 2, 1, FALSE });
    check_golden (gold, "avgpool_pad", pool_fn, &xp, 1,
        &(PoolCase) { 2, 3, 2, 1, TRUE });
    check_golden (gold, "maxpool", pool_fn, &xp, 1, &(PoolCase) { 3, 3, 2, 1 });
    check_golden (gold, "adaptive", pool_fn, &xp, 1, &(PoolCase) { 4, 3, 2 });
    t2i_tensor_unref (x);
    t2i_tensor_unref (xd);
    t2i_tensor_unref (xp);
  }
  g_hash_table_destroy (gold);
}

/* a hand-computed transposed conv: stride 2 scatters each pixel's kernel */
static void
test_conv_transpose2d_hand (void)
{
  const double xv[] = { 1, 2 };         /* [1,1,1,2] */
  const double wv[] = { 1, 10, 100, 1000 };     /* [1,1,2,2] */
  T2iConvParams p = cp (2, 2, 0, 0, 1, 1, 1, 0, 0);
  const double want[] = { 1, 10, 2, 20, 100, 1000, 200, 2000 };  /* [2,4] */

  for (gint d = 0; d < 2; d++) {
    T2iDType dt = d ? T2I_F32 : T2I_F64;
    T2iTensor *x64 = t2i_tensor_from_data (T2I_F64, T2I_SHAPE (1, 1, 1, 2), xv);
    T2iTensor *w64 = t2i_tensor_from_data (T2I_F64, T2I_SHAPE (1, 1, 2, 2), wv);
    T2iTensor *x = t2i_tensor_to_dtype (x64, dt), *w = t2i_tensor_to_dtype (w64,
        dt);
    T2iTensor *y = t2i_conv_transpose2d (x, w, NULL, &p);
    g_assert_cmpint (y->shape[2], ==, 2);
    g_assert_cmpint (y->shape[3], ==, 4);
    for (gint i = 0; i < 8; i++)
      g_assert_cmpfloat (t2i_tensor_get (y, i), ==, want[i]);
    T2iTensor *ts[] = { x64, w64, x, w, y };
    unref_all (ts, G_N_ELEMENTS (ts));
  }
}

/* ---- argument errors ---- */

static void
test_bad_args (void)
{
  if (g_test_subprocess ()) {
    T2iTensor *x = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (1, 3, 5, 5));
    T2iTensor *w = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (4, 2, 3, 3));
    T2iConvParams p = T2I_CONV_PARAMS (1, 0);
    g_assert_null (t2i_conv2d (x, w, NULL, &p));
    t2i_tensor_unref (x);
    t2i_tensor_unref (w);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*does not fit weight*");
}

static void
test_bad_args_matmul (void)
{
  if (g_test_subprocess ()) {
    T2iTensor *a = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (2, 3, 4));
    T2iTensor *b = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (3, 5, 2));
    g_assert_null (t2i_matmul (a, b));
    t2i_tensor_unref (a);
    t2i_tensor_unref (b);
    return;
  }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*inner dims differ*");
}

/* ---- steady state: a repeated step asks the system for no memory ---- */

static void
conv_step (T2iTensor * x, T2iTensor * w, T2iTensor * b)
{
  T2iConvParams p = T2I_CONV_PARAMS (2, 1);
  T2iTensor *y = t2i_conv2d (x, w, b, &p);
  T2iTensor *t = t2i_conv_transpose2d (y, w, NULL, &p);
  T2iTensor *l = t2i_sum (t, T2I_ALL_AXES, FALSE);
  T2iTensor *params[] = { x, w, b, NULL };
  t2i_backward (l, params);
  t2i_tensor_zero_grad (x);
  t2i_tensor_zero_grad (w);
  t2i_tensor_zero_grad (b);
  t2i_tensor_unref (l);
  t2i_tensor_unref (t);
  t2i_tensor_unref (y);
}

static void
test_steady_state (void)
{
  T2iTensor *x = t2i_tensor_full (T2I_F32, T2I_SHAPE (4, 16, 12, 12), 0.5);
  T2iTensor *w = t2i_tensor_full (T2I_F32, T2I_SHAPE (32, 16, 4, 4), 0.1);
  T2iTensor *b = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (32));
  T2iAllocStats s1, s2;

  t2i_tensor_set_requires_grad (x, TRUE);
  t2i_tensor_set_requires_grad (w, TRUE);
  t2i_tensor_set_requires_grad (b, TRUE);
  conv_step (x, w, b);
  conv_step (x, w, b);
  t2i_alloc_get_stats (&s1);
  if (s1.bytes_cached == 0) {
    g_test_skip ("the caching allocator is off");
  } else {
    conv_step (x, w, b);
    t2i_alloc_get_stats (&s2);
    g_assert_cmpuint (s2.system_allocs, ==, s1.system_allocs);
  }
  t2i_tensor_unref (x);
  t2i_tensor_unref (w);
  t2i_tensor_unref (b);
}


/* ---- precision bf16 (core/ops/precision.c and the bf16 paths of
 * linear.c and conv.c): every matmul and convolution path run in bf16
 * must equal the same computation in f64 on the inputs rounded to bf16
 * (round to nearest even, as the CPU's conversion), up to f32
 * accumulation, and be measurably further from the f32 result, which
 * shows the bf16 path ran.  Biases and accumulated outputs stay f32.
 * Also: the setting is per thread, and a machine without bf16 is refused
 * with a message. ---- */

/* |bf16 - reference| / max |reference| stays under this (f32 sums) */
#define ACC_TOL 2e-5

/* @t (f32) rounded to bf16, as f64 */
static T2iTensor *
round_bf16 (T2iTensor * t)
{
  T2iTensor *r = t2i_tensor_new (T2I_F64, t->ndim, t->shape);
  const float *s = t->data;
  double *d = r->data;
  for (gint64 i = 0; i < t->numel; i++) {
    guint32 bits;
    float f;
    memcpy (&bits, &s[i], sizeof (bits));
    bits += 0x7fff + ((bits >> 16) & 1);
    bits &= 0xffff0000u;
    memcpy (&f, &bits, sizeof (f));
    d[i] = f;
  }
  return r;
}

static double
max_diff (T2iTensor * a, T2iTensor * b, double *maxabs)
{
  double m = 0;
  *maxabs = 0;
  g_assert_true (t2i_tensor_same_shape (a, b));
  for (gint64 i = 0; i < a->numel; i++) {
    const double x = t2i_tensor_get (a, i), y = t2i_tensor_get (b, i);
    m = MAX (m, fabs (x - y));
    *maxabs = MAX (*maxabs, fabs (x));
  }
  return m;
}

/* runs @fn on the f32 inputs @in in bf16 and in f32, and in f64 on them
 * rounded to bf16 where bit i of @rounded is set (exact elsewhere) */
static void
check_bf16 (const char *what, T2iCheckFn fn, T2iTensor ** in, gint n, guint rounded,
    gpointer user)
{
  T2iTensor *ref_in[4];
  for (gint i = 0; i < n; i++)
    ref_in[i] = !in[i] ? NULL : (rounded >> i) & 1 ? round_bf16 (in[i])
        : t2i_tensor_to_dtype (in[i], T2I_F64);
  T2iTensor *ref = fn (ref_in, user);
  g_assert_cmpint (t2i_set_precision (T2I_PRECISION_BF16), ==,
      T2I_PRECISION_F32);
  T2iTensor *b16 = fn (in, user);
  g_assert_cmpint (t2i_set_precision (T2I_PRECISION_F32), ==,
      T2I_PRECISION_BF16);
  T2iTensor *f32 = fn (in, user);
  double scale;
  const double eb = max_diff (ref, b16, &scale) / scale;
  const double ef = max_diff (ref, f32, &scale) / scale;
  g_test_message ("%s: bf16 %.2g, f32 %.2g from the bf16-rounded reference",
      what, eb, ef);
  if (eb > ACC_TOL)
    g_test_fail_printf ("%s: bf16 differs from the f64 product of the "
        "bf16-rounded inputs by %.3g of its largest value (tolerance %g)",
        what, eb, ACC_TOL);
  if (!(ef > 10 * eb))
    g_test_fail_printf ("%s: the bf16 result (%.3g off the rounded "
        "reference) is not closer to it than f32's (%.3g): it did not run "
        "in bf16", what, eb, ef);
  t2i_tensor_unref (ref);
  t2i_tensor_unref (b16);
  t2i_tensor_unref (f32);
  for (gint i = 0; i < n; i++)
    if (ref_in[i])
      t2i_tensor_unref (ref_in[i]);
}

static T2iTensor *
rnd32 (gint ndim, const gint64 * shape)
{
  T2iTensor *t = gc_rand (ndim, shape, -1, 1);
  T2iTensor *f = t2i_tensor_to_dtype (t, T2I_F32);
  t2i_tensor_unref (t);
  return f;
}

static gboolean
have_bf16 (void)
{
  g_autoptr (GError) error = NULL;
  if (t2i_precision_check (T2I_PRECISION_BF16, &error))
    return TRUE;
  g_test_skip_printf ("%s", error->message);
  return FALSE;
}

/* ---- matmul and linear ---- */

/* the gradient of sum(matmul(a, b) * g) for a (@user 0: g b^T, the
 * transposed-b product) or b (1: a^T g, the transposed-a one) */
static T2iTensor *
matmul_grad_fn (T2iTensor ** in, gpointer user)
{
  const gint which = GPOINTER_TO_INT (user);
  g_autoptr (T2iTensor) a = t2i_detach (in[0]);
  g_autoptr (T2iTensor) b = t2i_detach (in[1]);
  t2i_tensor_set_requires_grad (a, TRUE);
  t2i_tensor_set_requires_grad (b, TRUE);
  g_autoptr (T2iTensor) y = t2i_matmul (a, b);
  T2iTensor *leaves[2] = { a, b };
  T2iTensor **g = t2i_grad (y, in[2], leaves, 2, FALSE);
  T2iTensor *out = g[which];
  t2i_tensor_unref (g[1 - which]);
  g_free (g);
  return out;
}

static void
test_bf16_matmul (void)
{
  if (!have_bf16 ())
    return;
  {
    T2iTensor *in[2] = { rnd32 (T2I_SHAPE (64, 200)),
      rnd32 (T2I_SHAPE (200, 48))
    };
    check_bf16 ("matmul [64,200] [200,48]", matmul_fn, in, 2, 3, NULL);
    unref_all (in, 2);
  }
  {
    /* batch dims broadcast: one product per (i, j) */
    T2iTensor *in[2] = { rnd32 (T2I_SHAPE (3, 1, 17, 40)),
      rnd32 (T2I_SHAPE (5, 40, 9))
    };
    check_bf16 ("matmul [3,1,17,40] [5,40,9]", matmul_fn, in, 2, 3, NULL);
    unref_all (in, 2);
  }
  {
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (2, 33, 70)),
      rnd32 (T2I_SHAPE (70, 21)), rnd32 (T2I_SHAPE (2, 33, 21))
    };
    check_bf16 ("matmul gradient of a (b transposed)", matmul_grad_fn, in, 3, 7,
        GINT_TO_POINTER (0));
    check_bf16 ("matmul gradient of b (a transposed)", matmul_grad_fn, in, 3, 7,
        GINT_TO_POINTER (1));
    unref_all (in, 3);
  }
  {
    /* the bias is added in f32 */
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (37, 100)),
      rnd32 (T2I_SHAPE (30, 100)), rnd32 (T2I_SHAPE (30))
    };
    check_bf16 ("linear [37,100] [30,100] + bias", linear_fn, in, 3, 3, NULL);
    unref_all (in, 3);
  }
}

static void
test_bf16_conv (void)
{
  if (!have_bf16 ())
    return;
  {
    ConvCase c = { "bf16", {0}, {48, 32, 3, 3}, cp (1, 1, 1, 1, 1, 1, 1, 0, 0) };
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (4, 32, 16, 16)),
      rnd32 (4, c.w), rnd32 (T2I_SHAPE (48))
    };
    check_bf16 ("conv2d 3x3 32->48 + bias", conv_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[1]);
    in[1] = rnd32 (T2I_SHAPE (4, 48, 16, 16));
    check_bf16 ("conv2d_weight_grad 3x3 32->48", wgrad_fn, in, 2, 3, &c);
    unref_all (in, 3);
  }
  {
    /* k4 s2 p1 at 16x16 (oneDNN's strided kernel) and at 8x8 (phases) */
    ConvCase c = { "bf16", {0}, {128, 64, 4, 4}, cp (2, 2, 1, 1, 1, 1, 1, 0, 0) };
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (4, 64, 16, 16)),
      rnd32 (4, c.w), NULL
    };
    check_bf16 ("conv2d k4s2p1 16x16", conv_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[0]);
    in[0] = rnd32 (T2I_SHAPE (4, 64, 8, 8));
    check_bf16 ("conv2d k4s2p1 8x8 (phases)", conv_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[1]);
    in[1] = rnd32 (T2I_SHAPE (4, 128, 4, 4));
    check_bf16 ("conv2d_weight_grad k4s2p1 8x8", wgrad_fn, in, 2, 3, &c);
    unref_all (in, 2);
  }
  {
    /* up-sampling: phases at 4x4, the deconvolution primitive at 16x16 */
    ConvCase c = { "bf16", {0}, {0}, cp (2, 2, 1, 1, 1, 1, 1, 0, 0) };
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (2, 128, 4, 4)),
      rnd32 (T2I_SHAPE (128, 64, 4, 4)), rnd32 (T2I_SHAPE (64))
    };
    check_bf16 ("conv_transpose2d k4s2p1 4x4 (phases)", convt_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[0]);
    in[0] = rnd32 (T2I_SHAPE (2, 128, 16, 16));
    check_bf16 ("conv_transpose2d k4s2p1 16x16", convt_fn, in, 3, 3, &c);
    unref_all (in, 3);
  }
  {
    /* grouped, as StyleGAN2's modulated convolution runs one group per
     * sample */
    ConvCase c = { "bf16", {0}, {64, 16, 3, 3}, cp (1, 1, 1, 1, 1, 1, 4, 0, 0) };
    T2iTensor *in[3] = { rnd32 (T2I_SHAPE (1, 64, 8, 8)), rnd32 (4, c.w),
      NULL
    };
    check_bf16 ("conv2d groups 4", conv_fn, in, 3, 3, &c);
    t2i_tensor_unref (in[1]);
    in[1] = rnd32 (T2I_SHAPE (1, 64, 8, 8));
    check_bf16 ("conv2d_weight_grad groups 4", wgrad_fn, in, 2, 3, &c);
    unref_all (in, 2);
  }
}

/* ---- the setting ---- */

static gpointer
other_thread (gpointer data)
{
  return GINT_TO_POINTER (t2i_get_precision ());
}

static void
test_per_thread (void)
{
  T2iPrecision p;
  g_assert_true (t2i_precision_from_name ("bf16", &p));
  g_assert_cmpint (p, ==, T2I_PRECISION_BF16);
  g_assert_false (t2i_precision_from_name ("fp16", &p));
  g_assert_cmpstr (t2i_precision_name (T2I_PRECISION_F32), ==, "f32");
  g_assert_cmpint (t2i_get_precision (), ==, T2I_PRECISION_F32);
  t2i_set_precision (T2I_PRECISION_BF16);
  GThread *t = g_thread_new ("other", other_thread, NULL);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (t)), ==,
      T2I_PRECISION_F32);
  g_assert_cmpint (t2i_set_precision (T2I_PRECISION_F32), ==,
      T2I_PRECISION_BF16);
}

static void
test_refused (void)
{
  g_autoptr (GError) error = NULL;
  g_assert_true (t2i_precision_check (T2I_PRECISION_F32, NULL));
  g_setenv ("T2I_NO_BF16", "1", TRUE);
  g_assert_false (t2i_precision_check (T2I_PRECISION_BF16, &error));
  g_unsetenv ("T2I_NO_BF16");
  g_assert_error (error, T2I_PRECISION_ERROR, 0);
  g_assert_nonnull (strstr (error->message, "use f32"));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  gc_seed (20240611);

  g_test_add_func ("/ops-conv/conv2d/grad", test_conv2d_grad);
  g_test_add_func ("/ops-conv/conv-transpose2d/grad",
      test_conv_transpose2d_grad);
  g_test_add_func ("/ops-conv/conv-transpose2d/hand",
      test_conv_transpose2d_hand);
  g_test_add_func ("/ops-conv/conv2d-weight-grad/grad",
      test_conv2d_weight_grad_grad);
  g_test_add_func ("/ops-conv/conv2d-weight-grad/autograd",
      test_conv2d_weight_grad_matches_autograd);
  g_test_add_func ("/ops-conv/conv/f32-large", test_conv_f32_large);
  g_test_add_func ("/ops-conv/matmul/grad", test_matmul_grad);
  g_test_add_func ("/ops-conv/linear/grad", test_linear_grad);
  g_test_add_func ("/ops-conv/upsample/grad", test_upsample_grad);
  g_test_add_func ("/ops-conv/pool/grad", test_pool_grad);
  g_test_add_func ("/ops-conv/goldens", test_goldens);
  g_test_add_func ("/ops-conv/bad-args/conv", test_bad_args);
  g_test_add_func ("/ops-conv/bad-args/matmul", test_bad_args_matmul);
  g_test_add_func ("/ops-conv/steady-state", test_steady_state);
  g_test_add_func ("/ops-conv/bf16/matmul", test_bf16_matmul);
  g_test_add_func ("/ops-conv/bf16/conv", test_bf16_conv);
  g_test_add_func ("/ops-conv/bf16/per-thread", test_per_thread);
  g_test_add_func ("/ops-conv/bf16/refused", test_refused);
  return g_test_run ();
}
