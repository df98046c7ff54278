/* t2i side of the benchmark: times ops, a whole DCGAN 64x64 training
 * step, CLIP's towers, CLIP-VQDiffusion's transformer and (method.c) whole
 * methods' training steps; bench/run pairs it with bench/torch_bench.py.
 * Prints one line per case: "case NAME MEDIAN_MS MIN_MS MAX_MS GFLOP"
 * (GFLOP per call), for the methods also "mem NAME ..." (method.c).
 *
 *   bench-t2i [--threads N] [--samples K] [NAME...]
 *   bench-t2i [--threads N] --info     ("key value" lines: threads, oneDNN)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"
#include "gan.h"
#include "icsd.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <string.h>
#include <time.h>

gint bench_n_samples = 5;
/* --device: where the cases' tensors and parameters live */
static T2iDevice device = T2I_DEVICE_CPU;

/* waits for the device's queue (a no-op on the CPU) */
static void
sync_device (void)
{
  if (device != T2I_DEVICE_CPU && !t2i_cuda_synchronize (NULL))
    g_error ("CUDA synchronisation failed");
}

static T2iTensor *
on_device (T2iTensor * t)
{
  if (!t2i_tensor_move_to_device (t, device, NULL))
    g_error ("cannot move a tensor to %s", t2i_device_name (device));
  return t;
}

double
bench_now (void)
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

void
bench_print_case (const char *name, double *s, gint n, double gflop)
{
  qsort (s, n, sizeof (double), cmp_double);
  printf ("case %s %.3f %.3f %.3f %.4f\n", name, s[n / 2] * 1e3, s[0] * 1e3,
      s[n - 1] * 1e3, gflop);
  fflush (stdout);
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
  sync_device ();
  double t = bench_now ();
  fn (user);
  sync_device ();
  double one = bench_now () - t;
  gint k = MAX (1, (gint) (0.3 / MAX (one, 1e-6)));
  double *s = g_new (double, bench_n_samples);
  T2iAllocStats a0, a1;
  long f0 = minor_faults ();
  t2i_alloc_get_stats (&a0);
  for (gint i = 0; i < bench_n_samples; i++) {
    t = bench_now ();
    for (gint j = 0; j < k; j++)
      fn (user);
    sync_device ();
    s[i] = (bench_now () - t) / k;
  }
  t2i_alloc_get_stats (&a1);
  long calls = (long) bench_n_samples * k;
  printf ("# %s after warm-up: %.1f page faults and %.2f allocator misses "
      "per call, peak %.0f MiB\n", name, (double) (minor_faults () - f0) / calls,
      (double) (a1.system_allocs - a0.system_allocs) / calls,
      a1.peak_bytes / 1048576.0);
  bench_print_case (name, s, bench_n_samples, gflop);
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
    c->gout = t2i_tensor_full_on (device, T2I_F32, y->ndim, y->shape, 0.01);
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

/* causal self-attention with keys = values = w: long sequences take the
 * blocked (flash) path */
static T2iTensor *
op_attention (T2iTensor * x, T2iTensor * w)
{
  return t2i_scaled_dot_product_attention (x, w, w, TRUE, 0);
}

static T2iTensor *
leaf (T2iRng * rng, gint ndim, const gint64 * shape)
{
  T2iTensor *t = on_device (t2i_rng_randn (rng, T2I_F32, ndim, shape));
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
  if (!t2i_param_group_to_device (s->g.params, device, NULL)
      || !t2i_param_group_to_device (s->d.params, device, NULL))
    g_error ("cannot move the GAN to %s", t2i_device_name (device));
  s->real = t2i_rng_randn_on (&s->rng, device, T2I_F32, T2I_SHAPE (batch, 3,
          res, res));
  s->cond = t2i_rng_randn_on (&s->rng, device, T2I_F32, T2I_SHAPE (batch,
          GAN_NCOND));
  s->ones = t2i_tensor_full_on (device, T2I_F32, T2I_SHAPE (batch), 1.0);
  s->zeros = t2i_tensor_zeros_on (device, T2I_F32, T2I_SHAPE (batch));
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

T2iTensor **
bench_trainable (T2iParamGroup * group)
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
  T2iTensor *z = t2i_rng_randn_on (&s->rng, device, T2I_F32,
      T2I_SHAPE (s->batch, GAN_NZ));
  T2iTensor *fake = gan_g_forward (&s->g, z, s->cond, TRUE);
  g_autofree T2iTensor **pd = bench_trainable (s->d.params);
  g_autofree T2iTensor **pg = bench_trainable (s->g.params);

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
  T2iTensor *z = t2i_rng_randn_on (&s->rng, device, T2I_F32,
      T2I_SHAPE (s->batch, GAN_NZ));
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

/* clip-text-b16, clip-vit-b32-b16, with @sfx ("-bf16") after the name */
static void
bench_clip (gboolean text, const char *sfx, T2iRng * rng)
{
  g_autofree gchar *name = g_strconcat (text ? "clip-text-b16"
      : "clip-vit-b32-b16", sfx, NULL);
  T2iClipConfig cfg;
  ClipCase c = { NULL, NULL, text };
  const gint b = 16;
  t2i_clip_config_init_vit_b32 (&cfg);
  g_autoptr (T2iParamGroup) group = t2i_param_group_new ("clip");
  c.clip = t2i_clip_new (&cfg, group, NULL, rng);
  if (!t2i_param_group_to_device (group, device, NULL))
    g_error ("cannot move CLIP to %s", t2i_device_name (device));
  if (text) {
    /* full-length captions: EOT at the last position, as the PyTorch side
     * computes all 77 positions */
    c.input = t2i_tensor_new (T2I_I32, T2I_SHAPE (b, 77));
    t2i_rng_randint_i32 (rng, t2i_tensor_i32 (c.input), c.input->numel, 1, 49406);
    for (gint i = 0; i < b; i++)
      t2i_tensor_i32 (c.input)[i * 77 + 76] = 49407;
    on_device (c.input);
    bench (name, run_clip, &c,
        b * (transformer_flops (77, 512, 12) + 2.0 * 512 * 512) * 1e-9);
  } else {
    c.input = on_device (t2i_rng_randn (rng, T2I_F32, T2I_SHAPE (b, 3, 224,
            224)));
    bench (name, run_clip, &c,
        b * (transformer_flops (50, 768, 12) + 2.0 * 49 * 768 * 3 * 32 * 32
            + 2.0 * 768 * 512) * 1e-9);
  }
  t2i_tensor_unref (c.input);
  t2i_clip_free (c.clip);
}

/* ---- CLIP-VQDiffusion's transformer (t2ivqdiffusion arch=transformer,
 * built through the architecture registry as the element builds it): the
 * shipped shapes model's sizes, 8 x 8 tokens of a 256-code VQGAN, width
 * 128, 4 blocks, 4 heads, T = 100, a 128-d CLIP condition.
 * vqdiff-train-step: batch 32, t and x_t drawn, the bound with the
 * auxiliary loss and importance weights (t2iloss kind=vq-diffusion's
 * computation), backward, AdamW.  vqdiff-sample: 16 captions, 10 reverse
 * steps with guidance 3 (two passes per step) and truncation 0.85. */
#define VQ_GRID 8
#define VQ_K 256
#define VQ_D 128
#define VQ_LAYERS 4
#define VQ_E 128
#define VQ_T 100

typedef struct
{
  const T2iArch *arch;
  gpointer net;
  GstStructure *config;
  T2iArchContext ctx;
  T2iParamGroup *params;
  T2iOptimizer *opt;
  T2iVqSchedule *schedule;
  GstBuffer *record;
  T2iRng rng;
} VqCase;

/* multiply-accumulates of one pass over one item */
static double
vq_macs (void)
{
  const double L = VQ_GRID * VQ_GRID, d = VQ_D;
  const double block = L * (4 * d * d + 2 * L * d + 2 * 9 * d * 4 * d)
      + 2 * d * d + VQ_E * d + 2 * d * d;
  return VQ_LAYERS * block + L * d * VQ_K;
}

static void
run_vq_train (gpointer user)
{
  VqCase *c = user;
  GError *err = NULL;
  if (!c->arch->forward (c->net, &c->ctx, c->record, &err))
    g_error ("vqdiff: %s", err->message);
  T2iTensor *logits = t2i_record_get_tensor (c->record, "logits");
  T2iTensor *x0 = t2i_record_get_tensor (c->record, "tokens");
  T2iTensor *xt = t2i_record_get_tensor (c->record, "xt");
  T2iTensor *t = t2i_record_get_tensor (c->record, "t");
  T2iTensor *pt = t2i_record_get_tensor (c->record, "pt");
  const gint64 n = logits->shape[0], L = logits->shape[2];
  g_autoptr (T2iTensor) x0f = t2i_reshape (x0, T2I_SHAPE (n, L));
  T2iTensor *aux = NULL;
  g_autoptr (T2iTensor) terms = t2i_vq_loss_terms (c->schedule, logits, x0f,
      xt, t, &aux);
  g_autoptr (T2iTensor) w = t2i_tensor_new (T2I_F32, T2I_SHAPE (n));
  for (gint64 i = 0; i < n; i++)
    t2i_tensor_set (w, i, 5e-4 * ((1.0 - t2i_tensor_i32 (t)[i] /
                (double) VQ_T) + 1.0));
  g_autoptr (T2iTensor) wa = t2i_mul (w, aux);
  t2i_tensor_unref (aux);
  g_autoptr (T2iTensor) total = t2i_add (terms, wa);
  g_autoptr (T2iTensor) q = t2i_div (total, pt);
  g_autoptr (T2iTensor) mean = t2i_mean (q, T2I_ALL_AXES, FALSE);
  g_autoptr (T2iTensor) loss = t2i_mul_scalar (mean, 1.0 / (double) L);
  g_autofree T2iTensor **p = bench_trainable (c->params);
  t2i_optimizer_zero_grad (c->opt);
  t2i_backward (loss, p);
  t2i_optimizer_step (c->opt);
}

static void
run_vq_sample (gpointer user)
{
  VqCase *c = user;
  GError *err = NULL;
  if (!c->arch->forward (c->net, &c->ctx, c->record, &err))
    g_error ("vqdiff: %s", err->message);
}

static void
bench_vqdiff (gboolean train, T2iRng * rng)
{
  VqCase c = { 0 };
  GError *err = NULL;
  const gint b = train ? 32 : 16;
  c.arch = t2i_arch_find (T2I_ROLE_VQDIFFUSION, "transformer");
  g_autofree char *json = g_strdup_printf ("{\"codes\":%d,\"grid\":%d,"
      "\"width\":%d,\"layers\":%d,\"heads\":4,\"timesteps\":%d,"
      "\"cond-dim\":%d,\"null-condition\":true}", VQ_K, VQ_GRID, VQ_D,
      VQ_LAYERS, VQ_T, VQ_E);
  GstStructure *file = t2i_config_from_json (json, c.arch->options, &err);
  g_assert_no_error (err);
  T2iOptionValues *values = t2i_option_values_new ();
  c.config = t2i_options_resolve (c.arch->options, "arch=transformer", values,
      file, NULL, &err);
  g_assert_no_error (err);
  t2i_option_values_free (values);
  gst_structure_free (file);
  if (!train) {
    gst_structure_set (c.config, "mode", G_TYPE_STRING, "sample", "steps",
        G_TYPE_INT, 10, "guidance", G_TYPE_DOUBLE, 3.0, "truncation",
        G_TYPE_DOUBLE, 0.85, NULL);
  }
  c.record = t2i_record_new ();
  g_autoptr (T2iTensor) tokens = t2i_tensor_new (T2I_I32, T2I_SHAPE (b,
          VQ_GRID, VQ_GRID));
  t2i_rng_randint_i32 (rng, t2i_tensor_i32 (tokens), tokens->numel, 0, VQ_K);
  g_autoptr (T2iTensor) h = t2i_rng_randn (rng, T2I_F32, T2I_SHAPE (b, VQ_E));
  t2i_record_set_tensor (c.record, "tokens", tokens, NULL);
  t2i_record_set_tensor (c.record, "h", h, NULL);
  GstCaps *caps = t2i_record_caps_from_record (c.record);
  c.params = t2i_param_group_new ("T");
  t2i_rng_init (&c.rng, 11);
  c.ctx.config = c.config;
  c.ctx.params = c.params;
  c.ctx.init_rng = rng;
  c.ctx.training = train;
  c.ctx.trainable = train;
  c.ctx.rng = &c.rng;
  c.net = c.arch->build (c.config, gst_caps_get_structure (caps, 0), &c.ctx,
      &err);
  g_assert_no_error (err);
  gst_caps_unref (caps);
  if (!t2i_param_group_to_device (c.params, device, NULL))
    g_error ("cannot move the transformer to %s", t2i_device_name (device));
  on_device (tokens);
  on_device (h);
  c.schedule = t2i_vq_schedule_new (VQ_T, VQ_K);
  T2iOptimizerConfig oc;
  t2i_optimizer_config_init (&oc, T2I_OPTIMIZER_ADAMW);
  oc.lr = 5e-4;
  oc.beta1 = 0.9;
  oc.beta2 = 0.96;
  oc.weight_decay = 0.045;
  c.opt = t2i_optimizer_new (c.params, &oc);
  gboolean prev = t2i_set_grad_enabled (train);
  if (train)
    bench ("vqdiff-train-step", run_vq_train, &c, 3 * 2.0 * b * vq_macs ()
        * 1e-9);
  else
    bench ("vqdiff-sample", run_vq_sample, &c, 10 * 2 * 2.0 * b * vq_macs ()
        * 1e-9);
  t2i_set_grad_enabled (prev);
  t2i_optimizer_free (c.opt);
  t2i_vq_schedule_free (c.schedule);
  c.arch->free (c.net);
  t2i_param_group_unref (c.params);
  gst_buffer_unref (c.record);
  gst_structure_free (c.config);
}

/* ---- SDN: one Stage-II training step (t2i/sdn.h, t2i/vgg.h) ----
 * The frozen VGG19-shaped teacher (width 16, average pooling) on the real
 * images (no graph) and on the generated ones, the symmetric generator
 * (width 16, g-fc 1024 wide) from a 128-d condition, the loss of eq. 3 in
 * the released code's form (the mean L1 of each of the 21 levels plus the
 * image's), backward into the generator, Adam; batch 16 at 32 x 32, as
 * pipelines/sdn-train-stage2.t2i trains. */
#define SDN_B 16
#define SDN_RES 32
#define SDN_WIDTH 16
#define SDN_HIDDEN 1024
#define SDN_COND 128

typedef struct
{
  T2iParamGroup *gp, *vp;
  T2iSdn *g;
  T2iVgg19 *v;
  T2iOptimizer *opt;
  T2iTensor *real, *cond;
} SdnCase;

/* multiply-accumulates of one image through the teacher (as far as pool5)
 * and through the generator: each conv3x3 mirrors the other's */
static double
sdn_vgg_macs (void)
{
  static const gint convs[5] = { 2, 2, 4, 4, 4 }, mult[5] = { 1, 2, 4, 8, 8 };
  double macs = 0, in = 3;
  for (gint b = 0, side = SDN_RES; b < 5; b++, side /= 2)
    for (gint i = 0; i < convs[b]; i++) {
      macs += 9.0 * in * SDN_WIDTH * mult[b] * side * side;
      in = SDN_WIDTH * mult[b];
    }
  return macs;
}

static double
sdn_g_macs (void)
{
  const double pool5 = 8.0 * SDN_WIDTH * (SDN_RES / 32) * (SDN_RES / 32);
  /* the convs: VGG's, with the first one's 3 -> W read as W -> 3 */
  return SDN_COND * SDN_HIDDEN + (double) SDN_HIDDEN * SDN_HIDDEN
      + SDN_HIDDEN * pool5 + sdn_vgg_macs ();
}

static void
run_sdn_step (gpointer user)
{
  SdnCase *c = user;
  const char *const *taps = t2i_vgg19_sdn_taps ();
  T2iTensor *real[22], *fake_taps[22], *levels[T2I_SDN_N_LEVELS];
  gboolean prev = t2i_set_grad_enabled (FALSE);
  t2i_vgg19_forward (c->v, c->real, taps, 22, real, NULL);
  t2i_set_grad_enabled (prev);
  T2iTensor *fake = t2i_sdn_forward (c->g, c->cond, levels);
  t2i_vgg19_forward (c->v, fake, taps, 22, fake_taps, NULL);
  /* eq. 3: sum over the 21 levels (taps 1..21) + the image (tap 0 of a
   * raw-input teacher) */
  T2iTensor *loss = t2i_l1_loss (fake_taps[0], real[0]);
  for (gint i = 1; i < 22; i++) {
    T2iTensor *l = t2i_l1_loss (fake_taps[i], real[i]);
    T2iTensor *s = t2i_add (loss, l);
    t2i_tensor_unref (l);
    t2i_tensor_unref (loss);
    loss = s;
  }
  g_autofree T2iTensor **pg = bench_trainable (c->gp);
  t2i_optimizer_zero_grad (c->opt);
  t2i_backward (loss, pg);
  t2i_optimizer_step (c->opt);
  t2i_tensor_unref (loss);
  t2i_tensor_unref (fake);
  for (gint i = 0; i < 22; i++) {
    t2i_tensor_unref (real[i]);
    t2i_tensor_unref (fake_taps[i]);
  }
  for (gint i = 0; i < T2I_SDN_N_LEVELS; i++)
    t2i_tensor_unref (levels[i]);
}

static void
bench_sdn (T2iRng * rng)
{
  SdnCase c;
  T2iSdnConfig cfg;
  T2iOptimizerConfig oc;
  t2i_sdn_config_init (&cfg);
  cfg.cond_dim = SDN_COND;
  cfg.resolution = SDN_RES;
  cfg.width = SDN_WIDTH;
  cfg.hidden = SDN_HIDDEN;
  c.gp = t2i_param_group_new ("G");
  c.vp = t2i_param_group_new ("V");
  c.g = t2i_sdn_new (&cfg, c.gp, NULL, rng, NULL);
  c.v = t2i_vgg19_new_width (c.vp, NULL, T2I_VGG_POOL_AVG, T2I_VGG_INPUT_RAW,
      SDN_WIDTH, rng);
  t2i_optimizer_config_init (&oc, T2I_OPTIMIZER_ADAM);
  oc.lr = 1e-3;
  c.opt = t2i_optimizer_new (c.gp, &oc);
  c.real = t2i_rng_randn (rng, T2I_F32, T2I_SHAPE (SDN_B, 3, SDN_RES,
          SDN_RES));
  c.cond = t2i_rng_randn (rng, T2I_F32, T2I_SHAPE (SDN_B, SDN_COND));
  /* teacher twice forward and once backward (input gradient), generator
   * forward and backward (input and weight gradients) */
  bench ("sdn32-stage2-step", run_sdn_step, &c,
      SDN_B * 2.0 * (3 * sdn_vgg_macs () + 3 * sdn_g_macs ()) * 1e-9);
  t2i_optimizer_free (c.opt);
  t2i_sdn_free (c.g);
  t2i_vgg19_free (c.v);
  t2i_param_group_unref (c.gp);
  t2i_param_group_unref (c.vp);
  t2i_tensor_unref (c.real);
  t2i_tensor_unref (c.cond);
}

gboolean
bench_precision (T2iPrecision precision, const char *name)
{
  g_autoptr (GError) error = NULL;
  if (t2i_precision_check (precision, &error))
    return TRUE;
  printf ("# %s: skipped: %s\n", name, error->message);
  return FALSE;
}

gboolean
bench_wanted (gchar ** names, const char *name)
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
  g_autofree gchar *device_name = NULL;
  GOptionEntry entries[] = {
    {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "Threads (default 2)", "N"},
    {"info", 0, 0, G_OPTION_ARG_NONE, &info, "Print the thread count and oneDNN "
          "version, then exit", NULL},
    {"samples", 's', 0, G_OPTION_ARG_INT, &bench_n_samples,
        "Samples per case", "K"},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device_name, "cpu (default) or "
          "cuda: where tensors and parameters live", "DEVICE"},
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
  gst_init (NULL, NULL);        /* records are GstBuffers */
  if (device_name && !t2i_device_from_name (device_name, &device)) {
    g_printerr ("bench-t2i: --device takes cpu or cuda\n");
    return 2;
  }
  if (device == T2I_DEVICE_CUDA) {
    if (!t2i_cuda_is_available ()) {
      g_printerr ("bench-t2i: --device=cuda: %s\n",
          t2i_cuda_unavailable_reason ());
      return 2;
    }
    printf ("# device: %s (%s)\n", t2i_cuda_device_name (),
        t2i_cuda_runtime_name ());
  }
  if (info) {
    const dnnl_version_t *v = dnnl_version ();

    printf ("t2i-threads %d\n", t2i_get_num_threads ());
    printf ("onednn %d.%d.%d\n", v->major, v->minor, v->patch);
    g_strfreev (names);
    return 0;
  }
  T2iRng rng;
  t2i_rng_init (&rng, 7);

  /* oneDNN's own sgemm: a CPU case */
  if (device == T2I_DEVICE_CPU && bench_wanted (names, "sgemm-2048"))
    bench_sgemm ();
  if (bench_wanted (names, "deconv-512x256-4"))
    bench_op ("deconv-512x256-4", op_deconv, leaf (&rng, T2I_SHAPE (64, 512, 4, 4)),
        leaf (&rng, T2I_SHAPE (512, 256, 4, 4)),
        3 * 2.0 * 64 * 512 * 4 * 4 * 256 * 16 * 1e-9);
  if (bench_wanted (names, "attention-2048"))
    bench_op ("attention-2048", op_attention, leaf (&rng, T2I_SHAPE (2, 8,
                2048, 64)), leaf (&rng, T2I_SHAPE (2, 8, 2048, 64)),
        3 * 4.0 * 16 * 2048 * 2048 * 64 * 1e-9);
  if (bench_wanted (names, "gan64-g-inference"))
    bench_gan (64, FALSE);
  if (bench_wanted (names, "gan64-train-step"))
    bench_gan (64, TRUE);
  if (bench_wanted (names, "icsd16-train-step")) {
    gst_init (NULL, NULL);
    bench_icsd ();
  }
  /* these in f32 and as bf16 twins (NAME-bf16: precision bf16, against
   * PyTorch's autocast) */
  for (T2iPrecision p = T2I_PRECISION_F32; p <= T2I_PRECISION_BF16; p++) {
    const char *sfx = p == T2I_PRECISION_BF16 ? "-bf16" : "";
    g_autofree gchar *mm = g_strconcat ("matmul-1024", sfx, NULL);
    g_autofree gchar *conv = g_strconcat ("conv-64x128-32", sfx, NULL);
    g_autofree gchar *text = g_strconcat ("clip-text-b16", sfx, NULL);
    g_autofree gchar *vit = g_strconcat ("clip-vit-b32-b16", sfx, NULL);
    if ((!bench_wanted (names, mm) && !bench_wanted (names, conv)
            && !bench_wanted (names, text) && !bench_wanted (names, vit))
        || !bench_precision (p, "the -bf16 cases"))
      continue;
    t2i_set_precision (p);
    if (bench_wanted (names, mm))
      bench_op (mm, op_matmul, leaf (&rng, T2I_SHAPE (1024, 1024)),
          leaf (&rng, T2I_SHAPE (1024, 1024)),
          3 * 2.0 * 1024 * 1024 * 1024 * 1e-9);
    if (bench_wanted (names, conv))
      bench_op (conv, op_conv, leaf (&rng, T2I_SHAPE (64, 64, 32, 32)),
          leaf (&rng, T2I_SHAPE (128, 64, 4, 4)),
          3 * 2.0 * 64 * 128 * 16 * 16 * 64 * 16 * 1e-9);
    if (bench_wanted (names, text))
      bench_clip (TRUE, sfx, &rng);
    if (bench_wanted (names, vit))
      bench_clip (FALSE, sfx, &rng);
    t2i_set_precision (T2I_PRECISION_F32);
  }
  if (bench_wanted (names, "vqdiff-train-step"))
    bench_vqdiff (TRUE, &rng);
  if (bench_wanted (names, "vqdiff-sample"))
    bench_vqdiff (FALSE, &rng);
  if (bench_wanted (names, "sdn32-stage2-step"))
    bench_sdn (&rng);
  bench_methods (names, threads);
  g_strfreev (names);
  return 0;
}
