/* t2i side of the benchmark: times ops and a whole DCGAN 64x64 training
 * step; bench/run pairs it with bench/torch_bench.py.  Prints one line per
 * case: "case NAME MEDIAN_MS MIN_MS MAX_MS GFLOP" (GFLOP per call).
 *
 *   bench-t2i [--threads N] [--samples K] [NAME...]
 *   bench-t2i [--threads N] --info     ("key value" lines: threads, oneDNN)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "gan.h"
#include "icsd.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <string.h>
#include <time.h>

static gint n_samples = 5;

static double
now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

typedef void (*BenchFn) (gpointer user);

static long
minor_faults (void)
{
  struct rusage r;
  getrusage (RUSAGE_SELF, &r);
  return r.ru_minflt;
}

/* median seconds per call; each sample runs >= 0.3 s of calls */
static void
bench (const char *name, BenchFn fn, gpointer user, double gflop)
{
  fn (user);
  fn (user);
  double t = now ();
  fn (user);
  double one = now () - t;
  gint k = MAX (1, (gint) (0.3 / MAX (one, 1e-6)));
  double *s = g_new (double, n_samples);
  T2iAllocStats a0, a1;
  long f0 = minor_faults ();
  t2i_alloc_get_stats (&a0);
  for (gint i = 0; i < n_samples; i++) {
    t = now ();
    for (gint j = 0; j < k; j++)
      fn (user);
    s[i] = (now () - t) / k;
  }
  t2i_alloc_get_stats (&a1);
  long calls = (long) n_samples * k;
  printf ("# %s after warm-up: %.1f page faults and %.2f allocator misses "
      "per call, peak %.0f MiB\n", name, (double) (minor_faults () - f0) / calls,
      (double) (a1.system_allocs - a0.system_allocs) / calls,
      a1.peak_bytes / 1048576.0);
  qsort (s, n_samples, sizeof (double), cmp_double);
  printf ("case %s %.3f %.3f %.3f %.4f\n", name, s[n_samples / 2] * 1e3,
      s[0] * 1e3, s[n_samples - 1] * 1e3, gflop);
  fflush (stdout);
  g_free (s);
}

/* ---- sgemm peak ---- */
typedef struct
{
  gint n;
  float *a, *b, *c;
} Gemm;

static void
run_sgemm (gpointer user)
{
  Gemm *g = user;
  dnnl_sgemm ('N', 'N', g->n, g->n, g->n, 1.f, g->a, g->n, g->b, g->n, 0.f,
      g->c, g->n);
}

static void
bench_sgemm (void)
{
  Gemm g = { 2048 };
  gsize e = (gsize) g.n * g.n;
  g.a = g_new (float, e);
  g.b = g_new (float, e);
  g.c = g_new (float, e);
  for (gsize i = 0; i < e; i++)
    g.a[i] = g.b[i] = (float) (i % 7) * 0.1f;
  bench ("sgemm-2048", run_sgemm, &g, 2.0 * g.n * g.n * g.n * 1e-9);
  g_free (g.a);
  g_free (g.b);
  g_free (g.c);
}

/* ---- one op forward + backward ---- */
typedef T2iTensor *(*OpFn) (T2iTensor * x, T2iTensor * w);

typedef struct
{
  OpFn op;
  T2iTensor *x, *w, *gout;
} OpCase;

static void
run_op (gpointer user)
{
  OpCase *c = user;
  T2iTensor *y = c->op (c->x, c->w);
  if (!c->gout)
    c->gout = t2i_tensor_full (T2I_F32, y->ndim, y->shape, 0.01);
  T2iTensor *in[2] = { c->x, c->w };
  T2iTensor **g = t2i_grad (y, c->gout, in, 2, FALSE);
  t2i_tensor_unref (g[0]);
  t2i_tensor_unref (g[1]);
  g_free (g);
  t2i_tensor_unref (y);
}

static T2iTensor *
op_matmul (T2iTensor * x, T2iTensor * w)
{
  return t2i_matmul (x, w);
}

static T2iTensor *
op_conv (T2iTensor * x, T2iTensor * w)
{
  T2iConvParams p = T2I_CONV_PARAMS (2, 1);
  return t2i_conv2d (x, w, NULL, &p);
}

static T2iTensor *
op_deconv (T2iTensor * x, T2iTensor * w)
{
  T2iConvParams p = T2I_CONV_PARAMS (2, 1);
  return t2i_conv_transpose2d (x, w, NULL, &p);
}

static T2iTensor *
leaf (T2iRng * rng, gint ndim, const gint64 * shape)
{
  T2iTensor *t = t2i_rng_randn (rng, T2I_F32, ndim, shape);
  t2i_tensor_set_requires_grad (t, TRUE);
  return t;
}

static void
bench_op (const char *name, OpFn op, T2iTensor * x, T2iTensor * w, double gflop)
{
  OpCase c = { op, x, w, NULL };
  bench (name, run_op, &c, gflop);
  t2i_tensor_unref (x);
  t2i_tensor_unref (w);
  if (c.gout)
    t2i_tensor_unref (c.gout);
}

/* ---- the GAN ---- */
typedef struct
{
  GanG g;
  GanD d;
  T2iOptimizer *opt_g, *opt_d;
  T2iTensor *real, *cond, *ones, *zeros;
  T2iRng rng;
  gint batch;
} Gan;

static void
gan_setup (Gan * s, gint res, gint batch)
{
  T2iOptimizerConfig cfg;
  t2i_rng_init (&s->rng, 1);
  s->batch = batch;
  gan_g_init (&s->g, res, &s->rng);
  gan_d_init (&s->d, res, &s->rng);
  t2i_optimizer_config_init (&cfg, T2I_OPTIMIZER_ADAM);
  cfg.lr = 2e-4;
  cfg.beta1 = 0.5;
  cfg.beta2 = 0.999;
  s->opt_g = t2i_optimizer_new (s->g.params, &cfg);
  s->opt_d = t2i_optimizer_new (s->d.params, &cfg);
  s->real = t2i_rng_randn (&s->rng, T2I_F32, T2I_SHAPE (batch, 3, res, res));
  s->cond = t2i_rng_randn (&s->rng, T2I_F32, T2I_SHAPE (batch, GAN_NCOND));
  s->ones = t2i_tensor_full (T2I_F32, T2I_SHAPE (batch), 1.0);
  s->zeros = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (batch));
}

static void
gan_teardown (Gan * s)
{
  t2i_optimizer_free (s->opt_g);
  t2i_optimizer_free (s->opt_d);
  gan_g_clear (&s->g);
  gan_d_clear (&s->d);
  T2iTensor *ts[] = { s->real, s->cond, s->ones, s->zeros };
  for (guint i = 0; i < G_N_ELEMENTS (ts); i++)
    t2i_tensor_unref (ts[i]);
}

static T2iTensor **
trainable (T2iParamGroup * group)
{
  guint n = t2i_param_group_n_params (group), k = 0;
  T2iTensor **r = g_new0 (T2iTensor *, n + 1);
  for (guint i = 0; i < n; i++) {
    T2iParam *p = t2i_param_group_get (group, i);
    if (p->trainable)
      r[k++] = p->value;
  }
  return r;
}

static void
run_gan_step (gpointer user)
{
  Gan *s = user;
  T2iTensor *z = t2i_rng_randn (&s->rng, T2I_F32, T2I_SHAPE (s->batch, GAN_NZ));
  T2iTensor *fake = gan_g_forward (&s->g, z, s->cond, TRUE);
  g_autofree T2iTensor **pd = trainable (s->d.params);
  g_autofree T2iTensor **pg = trainable (s->g.params);

  /* D step on real and detached fake */
  T2iTensor *fd = t2i_detach (fake);
  T2iTensor *lr = gan_d_forward (&s->d, s->real, s->cond);
  T2iTensor *lf = gan_d_forward (&s->d, fd, s->cond);
  T2iTensor *a = t2i_bce_with_logits (lr, s->ones);
  T2iTensor *b = t2i_bce_with_logits (lf, s->zeros);
  T2iTensor *ld = t2i_add (a, b);
  t2i_optimizer_zero_grad (s->opt_d);
  t2i_backward (ld, pd);
  t2i_optimizer_step (s->opt_d);
  T2iTensor *tmp[] = { fd, lr, lf, a, b, ld };
  for (guint i = 0; i < G_N_ELEMENTS (tmp); i++)
    t2i_tensor_unref (tmp[i]);

  /* G step through D */
  T2iTensor *lg_logits = gan_d_forward (&s->d, fake, s->cond);
  T2iTensor *lg = t2i_bce_with_logits (lg_logits, s->ones);
  t2i_optimizer_zero_grad (s->opt_g);
  t2i_backward (lg, pg);
  t2i_optimizer_step (s->opt_g);
  t2i_tensor_unref (lg_logits);
  t2i_tensor_unref (lg);
  t2i_tensor_unref (fake);
  t2i_tensor_unref (z);
}

static void
run_g_inference (gpointer user)
{
  Gan *s = user;
  gboolean prev = t2i_set_grad_enabled (FALSE);
  T2iTensor *z = t2i_rng_randn (&s->rng, T2I_F32, T2I_SHAPE (s->batch, GAN_NZ));
  T2iTensor *fake = gan_g_forward (&s->g, z, s->cond, FALSE);
  t2i_tensor_unref (fake);
  t2i_tensor_unref (z);
  t2i_set_grad_enabled (prev);
}

static void
bench_gan (gint res, gboolean step)
{
  Gan s;
  char name[64];
  gan_setup (&s, res, 64);
  if (step) {
    g_snprintf (name, sizeof name, "gan%d-train-step", res);
    bench (name, run_gan_step, &s,
        64 * (3 * gan_g_flops (res) + 9 * gan_d_flops (res)) * 1e-9);
  } else {
    g_snprintf (name, sizeof name, "gan%d-g-inference", res);
    bench (name, run_g_inference, &s, 64 * gan_g_flops (res) * 1e-9);
  }
  gan_teardown (&s);
}

/* ---- ICSD-GAN (icsd.h): batch 16, stages at 16, 32, 64 px ---- */
static void
run_icsd_step (gpointer user)
{
  icsd_bench_step (user);
}

static void
bench_icsd (void)
{
  const gint batch = 16;
  IcsdBench *b = icsd_bench_new (batch);
  /* D phase: G forward, three kinds of images through the Ds, forward and
   * backward; G phase: G forward and backward, fake through the Ds and the
   * encoder, forward and backward */
  bench ("icsd16-train-step", run_icsd_step, b, batch * (4 *
          icsd_bench_g_flops () + 12 * icsd_bench_d_flops () + 3 *
          icsd_bench_e_flops ()) * 1e-9);
  icsd_bench_free (b);
}

/* ---- CLIP ViT-B/32-shaped encoders, random weights, batch 16 ---- */
typedef struct
{
  T2iClip *clip;
  T2iTensor *input;
  gboolean text;
} ClipCase;

static void
run_clip (gpointer user)
{
  ClipCase *c = user;
  gboolean prev = t2i_set_grad_enabled (FALSE);
  T2iTensor *e = c->text ? t2i_clip_encode_text (c->clip, c->input, NULL)
      : t2i_clip_encode_image (c->clip, c->input);
  t2i_tensor_unref (e);
  t2i_set_grad_enabled (prev);
}

static double
transformer_flops (double n, double d, double layers)
{
  return layers * (24 * n * d * d + 4 * n * n * d);
}

static void
bench_clip (gboolean text, T2iRng * rng)
{
  T2iClipConfig cfg;
  ClipCase c = { NULL, NULL, text };
  const gint b = 16;
  t2i_clip_config_init_vit_b32 (&cfg);
  g_autoptr (T2iParamGroup) group = t2i_param_group_new ("clip");
  c.clip = t2i_clip_new (&cfg, group, NULL, rng);
  if (text) {
    /* full-length captions: EOT at the last position, as the PyTorch side
     * computes all 77 positions */
    c.input = t2i_tensor_new (T2I_I32, T2I_SHAPE (b, 77));
    t2i_rng_randint_i32 (rng, t2i_tensor_i32 (c.input), c.input->numel, 1, 49406);
    for (gint i = 0; i < b; i++)
      t2i_tensor_i32 (c.input)[i * 77 + 76] = 49407;
    bench ("clip-text-b16", run_clip, &c,
        b * (transformer_flops (77, 512, 12) + 2.0 * 512 * 512) * 1e-9);
  } else {
    c.input = t2i_rng_randn (rng, T2I_F32, T2I_SHAPE (b, 3, 224, 224));
    bench ("clip-vit-b32-b16", run_clip, &c,
        b * (transformer_flops (50, 768, 12) + 2.0 * 49 * 768 * 3 * 32 * 32
            + 2.0 * 768 * 512) * 1e-9);
  }
  t2i_tensor_unref (c.input);
  t2i_clip_free (c.clip);
}

static gboolean
wanted (gchar ** names, const char *name)
{
  if (!names || !names[0])
    return TRUE;
  for (gchar ** n = names; *n; n++)
    if (g_str_has_prefix (name, *n))
      return TRUE;
  return FALSE;
}

int
main (int argc, char **argv)
{
  gint threads = 2;
  gboolean info = FALSE;
  gchar **names = NULL;
  GOptionEntry entries[] = {
    {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N"},
    {"info", 0, 0, G_OPTION_ARG_NONE, &info, "Print the thread count and oneDNN "
          "version, then exit", NULL},
    {"samples", 's', 0, G_OPTION_ARG_INT, &n_samples, "Samples per case", "K"},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &names, NULL,
        "[NAME...]"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- t2i side of bench/run");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, NULL))
    return 2;
  g_option_context_free (ctx);
  t2i_set_num_threads (threads);
  if (info) {
    const dnnl_version_t *v = dnnl_version ();

    printf ("t2i-threads %d\n", t2i_get_num_threads ());
    printf ("onednn %d.%d.%d\n", v->major, v->minor, v->patch);
    g_strfreev (names);
    return 0;
  }
  T2iRng rng;
  t2i_rng_init (&rng, 7);

  if (wanted (names, "sgemm-2048"))
    bench_sgemm ();
  if (wanted (names, "matmul-1024"))
    bench_op ("matmul-1024", op_matmul, leaf (&rng, T2I_SHAPE (1024, 1024)),
        leaf (&rng, T2I_SHAPE (1024, 1024)), 3 * 2.0 * 1024 * 1024 * 1024 * 1e-9);
  if (wanted (names, "conv-64x128-32"))
    bench_op ("conv-64x128-32", op_conv, leaf (&rng, T2I_SHAPE (64, 64, 32, 32)),
        leaf (&rng, T2I_SHAPE (128, 64, 4, 4)),
        3 * 2.0 * 64 * 128 * 16 * 16 * 64 * 16 * 1e-9);
  if (wanted (names, "deconv-512x256-4"))
    bench_op ("deconv-512x256-4", op_deconv, leaf (&rng, T2I_SHAPE (64, 512, 4, 4)),
        leaf (&rng, T2I_SHAPE (512, 256, 4, 4)),
        3 * 2.0 * 64 * 512 * 4 * 4 * 256 * 16 * 1e-9);
  if (wanted (names, "gan64-g-inference"))
    bench_gan (64, FALSE);
  if (wanted (names, "gan64-train-step"))
    bench_gan (64, TRUE);
  if (wanted (names, "icsd16-train-step")) {
    gst_init (NULL, NULL);
    bench_icsd ();
  }
  if (wanted (names, "clip-text-b16"))
    bench_clip (TRUE, &rng);
  if (wanted (names, "clip-vit-b32-b16"))
    bench_clip (FALSE, &rng);
  g_strfreev (names);
  return 0;
}
