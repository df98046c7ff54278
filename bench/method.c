/* Whole-method cases of bench/run (issue #18): a method's training step
 * as users run it, through t2i-launch and the method's pipeline file, and
 * the same step through the core API, so that what the pipeline itself
 * costs (records and their tables, caps, element boundaries, the dataset
 * source's thread, the trainer's bookkeeping) is the difference of the two.
 * bench/torch_lafite.py and bench/torch_distgan.py run the same steps in
 * PyTorch.
 *
 *   lafite-train-step   pipelines/lafite-train-free.t2i with ch=64 (batch
 *                       32, 32 px, the frozen CLIP of
 *                       models/clip-shapes.safetensors) through t2i-launch
 *   lafite-core-step    the same step through the core API
 *   distgan-train-step  pipelines/distgan-train.t2i (ch=64, batch 32,
 *                       32 px, the same CLIP) through t2i-launch
 *   distgan-core-step   the same step through the core API
 *   lafite-train-step-bf16, lafite-core-step-bf16
 *                       the LAFITE steps with precision bf16 (t2i-launch
 *                       --precision=bf16; the core step's thread set to
 *                       it), against PyTorch's CPU autocast to bfloat16
 *
 * Through t2i-launch a step is (T(N2) - T(N1)) / (N2 - N1), T(N) the wall
 * time of a whole run of N steps: start-up, loading, building, the first
 * steps' warm-up, the final checkpoint and the sample grid drawn after it
 * are in both runs and cancel.  One sample is one such pair of runs
 * (BENCH_PIPELINE_STEPS=N1,N2, default 16,48).  The trainer's t2i-train
 * reports would time steps inside one process, but the pipeline files
 * report every 50 steps, which is not a multiple of the lazy R1 interval.
 *
 * The core step builds every network through the architecture registry
 * exactly as the network elements do (options resolved from the same
 * properties, the CLIP towers described by and loaded from the same file,
 * caps negotiated entry by entry, clip_fake running clip_real's network
 * with its own options), computes the losses with the loss kinds of
 * t2iloss themselves (plugins/losses/, linked in), and trains as
 * t2itrainer does: every group's loss summed, all backward passes before
 * any step, Adam, the moving average of G.  Each step draws its batch
 * from the shapes dataset (as t2idatasetsrc does; how long that takes is
 * printed).  The rest of the pipeline, t2iperturb mode=fixed and t2inoise,
 * is a few ops, written here with the same ops.
 *
 * Lazy R1 runs on steps that are multiples of 16, so every figure is a
 * mean over whole periods of 16 steps: the pipeline's N1 and N2 are
 * multiples of 16, and a core sample is 16 consecutive steps after two of
 * warm-up.
 *
 * GFLOP per step counts the multiply-accumulates (x2) of convolutions,
 * transposed convolutions, linear layers and attention products, per item:
 * 3 G (forward, backward) + 7 D (real: forward and parameter gradients;
 * fake: forward, parameter gradients, and input gradients for G's loss) +
 * 3 on the CLIP image tower (real forward; fake forward and input
 * gradients), DiST-GAN adding the CLIP text tower's forward and 3 L2V;
 * lazy R1's double backward, FIR blurs, modulation, normalisation and
 * the element-wise work are not counted.
 *
 * Memory: "mem NAME PEAK_RSS_MIB START_RSS_MIB TENSOR_PEAK_MIB" lines.
 * Through t2i-launch the peak RSS of the run (wait4's ru_maxrss); for the
 * core step the process's peak RSS from the case's start (VmHWM after
 * resetting it through /proc/self/clear_refs), the RSS then, and the
 * caching allocator's peak of tensor memory in use.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"
#include "losses/losses.h"
#include <t2i/stylegan2.h>

#include <errno.h>
#include <glib/gstdio.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#define BATCH 32
#define RES 32
#define R1_EVERY 16
#define WARMUP_STEPS 2
#define CLIP_FILE "models/clip-shapes.safetensors"
#define CLIP_PREFIX "clip."

/* ---- memory ---- */

/* a field of /proc/self/status ("VmHWM"), MiB */
static double
status_mib (const char *key)
{
  g_autofree gchar *text = NULL;
  if (!g_file_get_contents ("/proc/self/status", &text, NULL, NULL))
    return 0.0;
  g_autofree gchar *pat = g_strconcat ("\n", key, ":", NULL);
  const char *p = strstr (text, pat);
  return p ? g_ascii_strtod (p + strlen (pat), NULL) / 1024.0 : 0.0;
}

/* restarts VmHWM from the current RSS (Linux >= 4.0) */
static void
reset_peak_rss (void)
{
  FILE *f = fopen ("/proc/self/clear_refs", "w");
  if (f) {
    fputs ("5", f);
    fclose (f);
  }
}

/* ---- options, as an element's properties set them ---- */

/* sets "name=value name=value ..." in @config, each value typed by its
 * option in @options */
static void
set_options (GstStructure * config, const T2iOption * options,
    const char *props)
{
  g_auto (GStrv) words = g_strsplit (props ? props : "", " ", -1);
  for (gchar ** w = words; *w; w++) {
    if (!**w)
      continue;
    const char *eq = strchr (*w, '=');
    g_autofree gchar *name = eq ? g_strndup (*w, eq - *w) : g_strdup (*w);
    const T2iOption *o = t2i_options_find (options, name);
    if (!eq || !o)
      g_error ("bench: '%s' is no option=value of this variant", *w);
    const char *v = eq + 1;
    switch (o->type) {
      case T2I_OPTION_TYPE_INT:
        gst_structure_set (config, name, G_TYPE_INT, atoi (v), NULL);
        break;
      case T2I_OPTION_TYPE_DOUBLE:
        gst_structure_set (config, name, G_TYPE_DOUBLE, g_ascii_strtod (v,
                NULL), NULL);
        break;
      case T2I_OPTION_TYPE_BOOLEAN:
        gst_structure_set (config, name, G_TYPE_BOOLEAN, g_str_equal (v,
                "true"), NULL);
        break;
      default:
        gst_structure_set (config, name, G_TYPE_STRING, v, NULL);
        break;
    }
  }
}

static void
check (gboolean ok, GError * err, const char *what)
{
  if (!ok)
    g_error ("bench: %s: %s", what, err ? err->message : "failed");
}

/* ---- networks through the architecture registry ---- */

typedef struct
{
  const T2iArch *arch;
  GstStructure *config;
  gpointer net;
  T2iParamGroup *params;
  gboolean trainable;
  gboolean shared;              /* runs another Net's network */
} Net;

/* negotiates @n on *@caps (the entries upstream offers) and replaces
 * *@caps by what it offers downstream */
static void
net_negotiate (Net * n, GstStructure ** caps)
{
  GError *err = NULL;
  GstStructure *out = gst_structure_copy (*caps);
  check (n->arch->negotiate (n->config, *caps, out, &err), err,
      n->arch->name);
  gst_structure_free (*caps);
  *caps = out;
}

/* what T2iNetwork does from resolving arch= and the properties to a built
 * network with its weights: @props are the element's properties, @weights
 * (nullable) its weights= (the network found at @prefix, its sizes read
 * from the file), @group its parameter group */
static void
net_build (Net * n, const char *role, const char *arch, const char *props,
    const char *weights, T2iParamGroup * group, gboolean trainable,
    GstStructure ** caps, T2iRng * init_rng)
{
  GError *err = NULL;
  g_autoptr (T2iSafetensors) st = NULL;
  GstStructure *file = NULL;

  n->arch = t2i_arch_find (role, arch);
  if (!n->arch)
    g_error ("bench: no %s arch=%s", role, arch);
  if (weights) {
    st = t2i_safetensors_load (weights, &err);
    check (st != NULL, err, weights);
    if (n->arch->read_file) {
      file = n->arch->read_file (st, CLIP_PREFIX, &err);
      check (file != NULL, err, weights);
    }
  }
  g_autofree gchar *variant = g_strdup_printf ("arch=%s", arch);
  n->config = t2i_options_resolve (n->arch->options, variant, NULL, file,
      weights, &err);
  check (n->config != NULL, err, variant);
  if (file)
    gst_structure_free (file);
  set_options (n->config, n->arch->options, props);
  T2iArchContext ctx = {
    .config = n->config,.params = group,.init_rng = init_rng,.weights = st,
    .prefix = weights ? CLIP_PREFIX : NULL,
  };
  if (n->arch->configure)
    check (n->arch->configure (n->config, &ctx, &err), err, variant);
  GstStructure *in = gst_structure_copy (*caps);
  net_negotiate (n, caps);
  n->net = n->arch->build (n->config, in, &ctx, &err);
  gst_structure_free (in);
  check (n->net != NULL, err, variant);
  if (st) {
    gboolean ok = n->arch->load ? n->arch->load (n->net, &ctx, &err) :
        t2i_param_group_load (group, st, CLIP_PREFIX, TRUE, &err);
    check (ok, err, weights);
  }
  n->params = t2i_param_group_ref (group);
  n->trainable = trainable;
  if (!trainable)
    t2i_param_group_set_trainable (group, FALSE);
}

/* share=OWNER: the owner's network and model options, its own entries */
static void
net_share (Net * n, const Net * owner, const char *props,
    GstStructure ** caps)
{
  GError *err = NULL;
  g_autofree gchar *variant = g_strdup_printf ("arch=%s", owner->arch->name);
  n->arch = owner->arch;
  n->config = t2i_options_resolve (n->arch->options, variant, NULL,
      owner->config, "share=", &err);
  check (n->config != NULL, err, variant);
  set_options (n->config, n->arch->options, props);
  net_negotiate (n, caps);
  n->net = owner->net;
  n->params = t2i_param_group_ref (owner->params);
  n->trainable = owner->trainable;
  n->shared = TRUE;
}

static void
net_forward (Net * n, GstBuffer * record, T2iRng * rng)
{
  GError *err = NULL;
  T2iArchContext ctx = {
    .config = n->config,.params = n->params,.training = TRUE,.trainable =
        n->trainable,.rng = rng,
  };
  check (n->arch->forward (n->net, &ctx, record, &err), err, n->arch->name);
}

static void
net_clear (Net * n)
{
  if (!n->arch)
    return;
  if (!n->shared)
    n->arch->free (n->net);
  gst_structure_free (n->config);
  t2i_param_group_unref (n->params);
  memset (n, 0, sizeof *n);
}

/* ---- losses: the kinds of t2iloss ---- */

typedef struct
{
  const T2iLossKind *kind;
  GstStructure *config;
  double weight;                /* the element's weight= */
  gint group;                   /* update=: 0 D, 1 G */
} Loss;

static void
loss_init (Loss * l, const T2iLossKind * kind, const char *props,
    double weight, gint group, const GstStructure * caps)
{
  GError *err = NULL;
  g_autofree gchar *variant = g_strdup_printf ("kind=%s", kind->name);
  l->kind = kind;
  l->config = t2i_options_resolve (kind->options, variant, NULL, NULL, NULL,
      &err);
  check (l->config != NULL, err, variant);
  set_options (l->config, kind->options, props);
  check (kind->check (l->config, caps, &err), err, variant);
  l->weight = weight;
  l->group = group;
}

/* what T2iLoss adds as loss/<output>: the kind's value times weight= */
static T2iTensor *
loss_compute (Loss * l, GstBuffer * record, gint64 step)
{
  GError *err = NULL;
  T2iLossArgs a = { l->config, step, 1, NULL };
  T2iTensor *v = l->kind->compute (&a, record, &err);
  check (v != NULL, err, l->kind->name);
  if (l->weight == 1.0)
    return v;
  T2iTensor *w = t2i_mul_scalar (v, l->weight);
  t2i_tensor_unref (v);
  return w;
}

/* ---- multiply-accumulates per item, one forward pass ---- */

static double
g_macs (const GstStructure * c)
{
  const double w = t2i_config_int (c, "w-dim");
  const double cd = t2i_config_int (c, "cond-dim");
  const double ch = t2i_config_int (c, "cond-hidden");
  const double hid = (gint) (cd + ch) / 2;
  const gint base = t2i_config_int (c, "channel-base");
  const gint cmax = t2i_config_int (c, "channels");
  const gint res = t2i_config_int (c, "resolution");
  double m = t2i_config_int (c, "z-dim") * w
      + (t2i_config_int (c, "mapping-layers") - 1) * w * w;
  /* each layer's style (cond-mode=concat): pre_0, pre_1, affine_0 */
#define STYLE(cin) (cd * hid + hid * ch + (ch + w) * (cin))
  for (gint r = 4; r <= res; r *= 2) {
    const double co = t2i_stylegan2_channels (base, cmax, r);
    if (r > 4) {
      const double ci = t2i_stylegan2_channels (base, cmax, r / 2);
      /* conv0: the stride-2 transposed convolution of the r/2 input */
      m += STYLE (ci) + ci * co * 9 * (r / 2) * (r / 2);
    }
    m += STYLE (co) + co * co * 9 * r * r;      /* conv1 */
    m += STYLE (co) + co * 3 * r * r;   /* torgb */
  }
#undef STYLE
  return m;
}

static double
d_macs (const GstStructure * c)
{
  const gint base = t2i_config_int (c, "channel-base");
  const gint cmax = t2i_config_int (c, "channels");
  const gint res = t2i_config_int (c, "resolution");
  double m = 0;
  for (gint r = res; r >= 8; r /= 2) {
    const double ci = t2i_stylegan2_channels (base, cmax, r);
    const double co = t2i_stylegan2_channels (base, cmax, r / 2);
    const double o = (r / 2) * (r / 2);
    if (r == res)
      m += 3 * ci * r * r;      /* fromrgb */
    m += ci * ci * 9 * r * r + ci * co * 9 * o + ci * co * o;
  }
  const double c4 = t2i_stylegan2_channels (base, cmax, 4);
  return m + (c4 + t2i_config_int (c, "mbstd-channels")) * c4 * 9 * 16
      + c4 * 16 * c4 + c4 + c4 * t2i_config_int (c, "cond-dim");
}

/* the CNN image tower at @res px */
static double
cnn_macs (const GstStructure * c, gint res)
{
  g_auto (GStrv) widths = g_strsplit (t2i_config_string (c, "widths"), ",",
      -1);
  const gint depth = t2i_config_int (c, "depth");
  double cin = atoi (widths[0]), m = 3 * cin * 9 * res * res;
  for (gint i = 1; widths[i]; i++) {
    const double co = atoi (widths[i]);
    res /= 2;
    m += cin * co * 9 * res * res + (depth - 1) * co * co * 9 * res * res;
    cin = co;
  }
  return m + cin * t2i_config_int (c, "embed-dim");
}

/* pre-LN transformer blocks over @n positions of width @d */
static double
blocks_macs (double n, double d, double layers)
{
  return layers * (12 * n * d * d + 2 * n * n * d);
}

/* ---- the methods ---- */

typedef struct
{
  gboolean distgan;
  T2iShapesConfig shapes;
  T2iRng rng;                   /* the session RNG: noise, perturbation */
  T2iRng init_rng;
  T2iParamGroup *group[2];      /* D, G */
  T2iParamGroup *clip_image_group, *clip_text_group;
  Net clip_text, clip_real, l2v, g, clip_fake, d;
  Loss loss[4];
  gint n_losses;
  T2iOptimizer *opt[2];
  T2iEma *ema;
  gint64 step;
  gint l2v_tokens;              /* positions the first batch's L2V ran on */
  gint64 l2v_sum, l2v_steps;    /* and the timed steps' */
  double data_s;                /* drawing batches */
  double gflop;
} Method;

/* what t2idatasetsrc dataset=shapes puts in a record: the batch of step
 * @step, images and captions */
static GstBuffer *
draw_batch (Method * m)
{
  T2iShapesItem items[BATCH];
  gchar *captions[BATCH + 1] = { NULL };
  GstBuffer *rec = t2i_record_new ();
  double t = bench_now ();

  for (gint j = 0; j < BATCH; j++) {
    t2i_shapes_sample (&m->shapes, (guint64) (m->step * BATCH + j), &items[j]);
    captions[j] = t2i_shapes_caption (&m->shapes, &items[j],
        items[j].caption_variant);
  }
  g_autoptr (T2iTensor) image = t2i_shapes_render_batch (&m->shapes, items,
      BATCH, RES);
  t2i_record_set_tensor (rec, "image", image, NULL);
  t2i_record_set_strings (rec, "caption", (const char *const *) captions,
      NULL);
  for (gint j = 0; j < BATCH; j++)
    g_free (captions[j]);
  t2i_record_get_meta (rec)->step = m->step;
  m->data_s += bench_now () - t;
  return rec;
}

/* t2inoise output=@name dim=@dim */
static void
add_noise (Method * m, GstBuffer * rec, const char *name, gint dim)
{
  g_autoptr (T2iTensor) z = t2i_rng_randn (&m->rng, T2I_F32,
      T2I_SHAPE (BATCH, dim));
  t2i_record_set_tensor (rec, name, z, NULL);
}

/* t2iperturb mode=fixed xi=@xi input=img_feat output=h (LAFITE eq. 1):
 * h = normalize(f + xi u ||f||), f = normalize(img_feat), u = eps / ||eps||
 * (the element's ops, in its order) */
static void
perturb_fixed (Method * m, GstBuffer * rec, double xi)
{
  T2iTensor *in = t2i_record_get_tensor (rec, "img_feat");
  const gint64 d = in->shape[1];
  g_autoptr (T2iTensor) f = t2i_l2_normalize (in, 1, 1e-12);
  g_autoptr (T2iTensor) eps = t2i_tensor_new (T2I_F32, T2I_SHAPE (BATCH, d));
  t2i_rng_fill_normal (&m->rng, eps, 0.0, 1.0);
  gboolean prev = t2i_set_grad_enabled (FALSE);
  g_autoptr (T2iTensor) u = t2i_l2_normalize (eps, 1, 1e-12);
  t2i_set_grad_enabled (prev);
  g_autoptr (T2iTensor) f2 = t2i_square (f);
  g_autoptr (T2iTensor) s = t2i_sum (f2, 1, TRUE);
  g_autoptr (T2iTensor) norm = t2i_sqrt (s);
  g_autoptr (T2iTensor) un = t2i_mul (u, norm);
  g_autoptr (T2iTensor) step = t2i_mul_scalar (un, xi);
  g_autoptr (T2iTensor) ht = t2i_add (f, step);
  g_autoptr (T2iTensor) h = t2i_l2_normalize (ht, 1, 1e-12);
  t2i_record_set_tensor (rec, "h", h, NULL);
}

static gint
used_tokens (GstBuffer * rec)
{
  T2iTensor *mask = t2i_record_get_tensor (rec, "tokens_mask");
  gint used = 1;
  for (gint64 i = 0; i < mask->shape[0]; i++)
    for (gint64 j = used; j < mask->shape[1]; j++)
      if (t2i_tensor_get (mask, i * mask->shape[1] + j) != 0.0)
        used = (gint) j + 1;
  return used;
}

/* the forward part of one step: the record every loss reads */
static GstBuffer *
forward (Method * m)
{
  GstBuffer *rec = draw_batch (m);
  if (m->distgan) {
    net_forward (&m->clip_text, rec, &m->rng);
    m->l2v_sum += used_tokens (rec);
    m->l2v_steps++;
    net_forward (&m->clip_real, rec, &m->rng);
    net_forward (&m->l2v, rec, &m->rng);
  } else {
    net_forward (&m->clip_real, rec, &m->rng);
    perturb_fixed (m, rec, 3.0);
  }
  add_noise (m, rec, "z", 512);
  net_forward (&m->g, rec, &m->rng);
  net_forward (&m->clip_fake, rec, &m->rng);
  net_forward (&m->d, rec, &m->rng);
  return rec;
}

/* one step as t2itrainer takes it: each group's losses summed, every
 * backward pass before any parameter changes, then the optimizers and
 * G's moving average */
static void
train_step (Method * m)
{
  gboolean prev = t2i_set_grad_enabled (TRUE);
  GstBuffer *rec = forward (m);
  T2iTensor *sum[2] = { NULL, NULL };

  for (gint i = 0; i < m->n_losses; i++) {
    T2iTensor *l = loss_compute (&m->loss[i], rec, m->step);
    if (!isfinite (t2i_tensor_item (l)))
      g_error ("bench: loss %s is not finite at step %" G_GINT64_FORMAT,
          m->loss[i].kind->name, m->step);
    T2iTensor **s = &sum[m->loss[i].group];
    if (*s) {
      T2iTensor *t = t2i_add (*s, l);
      t2i_tensor_unref (*s);
      t2i_tensor_unref (l);
      *s = t;
    } else {
      *s = l;
    }
  }
  for (gint i = 0; i < 2; i++) {
    g_autofree T2iTensor **p = bench_trainable (m->group[i]);
    t2i_param_group_zero_grad (m->group[i]);
    t2i_backward (sum[i], p);
  }
  for (gint i = 0; i < 2; i++) {
    t2i_tensor_unref (sum[i]);
    t2i_optimizer_step (m->opt[i]);
    t2i_optimizer_zero_grad (m->opt[i]);
  }
  t2i_ema_update (m->ema);
  gst_buffer_unref (rec);
  t2i_set_grad_enabled (prev);
  m->step++;
}

static T2iOptimizer *
adam (T2iParamGroup * group, double lr, double beta2)
{
  T2iOptimizerConfig c;
  t2i_optimizer_config_init (&c, T2I_OPTIMIZER_ADAM);
  c.lr = lr;
  c.beta1 = 0.0;
  c.beta2 = beta2;
  return t2i_optimizer_new (group, &c);
}

/* the networks, losses and optimizers of pipelines/lafite-train-free.t2i
 * or pipelines/distgan-train.t2i at ch=64 */
static void
method_setup (Method * m, gboolean distgan)
{
  const char *clip = BENCH_SOURCE_DIR "/" CLIP_FILE;
  memset (m, 0, sizeof *m);
  m->distgan = distgan;
  t2i_shapes_config_init (&m->shapes);
  m->shapes.resolution = RES;
  m->shapes.min_objects = m->shapes.max_objects = 1;
  t2i_rng_init (&m->rng, 0);
  t2i_rng_init (&m->init_rng, 1);
  m->group[0] = t2i_param_group_new ("D");
  m->group[1] = t2i_param_group_new ("G");
  m->clip_image_group = t2i_param_group_new ("clip_real");

  GstBuffer *first = draw_batch (m);
  GstCaps *c = t2i_record_caps_from_record (first);
  GstStructure *caps = gst_structure_copy (gst_caps_get_structure (c, 0));
  gst_caps_unref (c);
  gst_buffer_unref (first);
  m->data_s = 0;

  if (distgan) {
    m->clip_text_group = t2i_param_group_new ("clip_text");
    net_build (&m->clip_text, T2I_ROLE_TEXT_ENCODER, "clip",
        "input=caption output=text_emb token-features=tokens "
        "token-mask=tokens_mask normalize=true", clip, m->clip_text_group,
        FALSE, &caps, &m->init_rng);
    net_build (&m->clip_real, T2I_ROLE_IMAGE_ENCODER, "clip",
        "input=image output=img_emb normalize=true", clip,
        m->clip_image_group, FALSE, &caps, &m->init_rng);
    net_build (&m->l2v, T2I_ROLE_L2V, "transformer",
        "input=tokens mask=tokens_mask output=v_m embed-dim=128 width=256 "
        "layers=2", NULL, m->group[1], TRUE, &caps, &m->init_rng);
  } else {
    net_build (&m->clip_real, T2I_ROLE_IMAGE_ENCODER, "clip",
        "input=image output=img_feat", clip, m->clip_image_group, FALSE,
        &caps, &m->init_rng);
    gint64 h[2] = { BATCH, t2i_config_int (m->clip_real.config,
          "embed-dim") };
    t2i_caps_set_entry (caps, "h", "f32", 2, h);
  }
  gint64 z[2] = { BATCH, 512 };
  t2i_caps_set_entry (caps, "z", "f32", 2, z);
  net_build (&m->g, T2I_ROLE_GENERATOR, "stylegan2", distgan ?
      "cond=v_m noise=z output=fake resolution=32 channels=64 w-dim=512 "
      "cond-hidden=512 mapping-layers=8" :
      "cond=h noise=z output=fake resolution=32 channels=64 w-dim=512 "
      "cond-hidden=512 mapping-layers=8", NULL, m->group[1], TRUE, &caps,
      &m->init_rng);
  net_share (&m->clip_fake, &m->clip_real, distgan ?
      "input=fake output=fake_emb" : "input=fake output=fake_feat", &caps);
  net_build (&m->d, T2I_ROLE_DISCRIMINATOR, "stylegan2", distgan ?
      "real=image fake=fake cond=text_emb channels=64 "
      "real-requires-grad=true" :
      "real=image fake=fake cond=h channels=64 real-requires-grad=true",
      NULL, m->group[0], TRUE, &caps, &m->init_rng);

  if (distgan) {
    loss_init (&m->loss[0], &t2i_loss_kind_lafite_d,
        "gamma=0 r1-gamma=0.0064 r1-every=16", 1.0, 0, caps);
    loss_init (&m->loss[1], &t2i_loss_kind_gan_logistic_g, "", 1.0, 1, caps);
    loss_init (&m->loss[2], &t2i_loss_kind_dist_con,
        "input=fake_emb cond=text_emb tau=1 adaptive=true", 10.0, 1, caps);
    loss_init (&m->loss[3], &t2i_loss_kind_dist_vl,
        "input=v_m target=img_emb", 10.0, 1, caps);
    m->n_losses = 4;
  } else {
    loss_init (&m->loss[0], &t2i_loss_kind_lafite_d,
        "tau=0.5 gamma=10 r1-gamma=0.0064 r1-every=16", 1.0, 0, caps);
    loss_init (&m->loss[1], &t2i_loss_kind_lafite_g,
        "tau=0.5 gamma=10 lambda=10 image-features=fake_feat", 1.0, 1, caps);
    m->n_losses = 2;
  }
  gst_structure_free (caps);

  /* group-settings="G:lr=0.0025,betas=0,0.99;D:lr=0.00235,betas=0,0.9906"
   * ema=G ema-decay=0.998 */
  m->opt[0] = adam (m->group[0], 0.00235, 0.9906);
  m->opt[1] = adam (m->group[1], 0.0025, 0.99);
  m->ema = t2i_ema_new (m->group[1], "ema/G", 0.998);

  /* GFLOP per step (the file's opening comment) */
  double macs = 3 * g_macs (m->g.config) + 7 * d_macs (m->d.config)
      + 3 * cnn_macs (m->clip_real.config, RES);
  if (distgan) {
    gboolean prev = t2i_set_grad_enabled (FALSE);
    GstBuffer *rec = draw_batch (m);
    net_forward (&m->clip_text, rec, &m->rng);
    m->l2v_tokens = used_tokens (rec);
    gst_buffer_unref (rec);
    t2i_set_grad_enabled (prev);
    const GstStructure *t = m->clip_text.config, *l = m->l2v.config;
    const double tw = t2i_config_int (t, "width");
    const double lw = t2i_config_int (l, "width");
    macs += blocks_macs (t2i_config_int (t, "context"), tw,
        t2i_config_int (t, "layers")) + tw * t2i_config_int (t, "embed-dim");
    macs += 3 * (m->l2v_tokens * tw * lw + blocks_macs (m->l2v_tokens, lw,
            t2i_config_int (l, "layers")) + lw * t2i_config_int (l,
            "embed-dim"));
    m->data_s = 0;
  }
  m->gflop = 2.0 * BATCH * macs * 1e-9;
}

static void
method_clear (Method * m)
{
  t2i_ema_free (m->ema);
  for (gint i = 0; i < 2; i++)
    t2i_optimizer_free (m->opt[i]);
  for (gint i = 0; i < m->n_losses; i++)
    gst_structure_free (m->loss[i].config);
  Net *nets[] = { &m->clip_text, &m->clip_real, &m->l2v, &m->g,
    &m->clip_fake, &m->d
  };
  for (guint i = 0; i < G_N_ELEMENTS (nets); i++)
    net_clear (nets[i]);
  for (gint i = 0; i < 2; i++)
    t2i_param_group_unref (m->group[i]);
  t2i_param_group_unref (m->clip_image_group);
  if (m->clip_text_group)
    t2i_param_group_unref (m->clip_text_group);
}

static long
minor_faults (void)
{
  struct rusage r;
  getrusage (RUSAGE_SELF, &r);
  return r.ru_minflt;
}

/* user + system seconds of every thread of @ru */
static double
cpu_seconds (const struct rusage *ru)
{
  return ru->ru_utime.tv_sec + ru->ru_stime.tv_sec
      + (ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) * 1e-6;
}

static double
self_cpu_seconds (void)
{
  struct rusage r;
  getrusage (RUSAGE_SELF, &r);
  return cpu_seconds (&r);
}

/* NAME-core-step: after WARMUP_STEPS steps (step 0 runs R1), each sample
 * is R1_EVERY consecutive steps (exactly one with R1) */
static double
bench_core (const char *name, gboolean distgan)
{
  Method m;
  T2iAllocStats a0, a1;

  t2i_alloc_trim ();
  malloc_trim (0);
  reset_peak_rss ();
  t2i_alloc_reset_peak ();
  const double start_rss = status_mib ("VmRSS");
  method_setup (&m, distgan);
  for (gint i = 0; i < WARMUP_STEPS; i++)
    train_step (&m);
  m.data_s = 0;
  m.l2v_sum = m.l2v_steps = 0;
  double *s = g_new (double, bench_n_samples);
  const long f0 = minor_faults ();
  const double cpu0 = self_cpu_seconds ();
  t2i_alloc_get_stats (&a0);
  for (gint i = 0; i < bench_n_samples; i++) {
    const double t = bench_now ();
    for (gint j = 0; j < R1_EVERY; j++)
      train_step (&m);
    s[i] = (bench_now () - t) / R1_EVERY;
  }
  t2i_alloc_get_stats (&a1);
  const double steps = (double) bench_n_samples * R1_EVERY;
  printf ("# %s after warm-up: %.1f page faults and %.2f allocator misses "
      "per step; drawing the batch %.2f ms of it; %.0f ms of CPU time per "
      "step (all threads)\n", name, (minor_faults () - f0) / steps,
      (a1.system_allocs - a0.system_allocs) / steps,
      m.data_s / steps * 1e3, (self_cpu_seconds () - cpu0) / steps * 1e3);
  if (distgan)
    printf ("# %s: the L2V module ran on the batch's longest caption, %d "
        "token positions in the first batch (the GFLOP count's), %.1f on "
        "average over the timed steps\n", name, m.l2v_tokens,
        (double) m.l2v_sum / MAX (m.l2v_steps, 1));
  printf ("# %s: trained parameters D %" G_GINT64_FORMAT ", G %"
      G_GINT64_FORMAT "%s\n", name, t2i_param_group_numel (m.group[0], TRUE),
      t2i_param_group_numel (m.group[1], TRUE), distgan ? " (with L2V)" : "");
  printf ("mem %s %.0f %.0f %.0f\n", name, status_mib ("VmHWM"), start_rss,
      a1.peak_bytes / 1048576.0);
  const double gflop = m.gflop;
  bench_print_case (name, s, bench_n_samples, gflop);
  g_free (s);
  method_clear (&m);
  return gflop;
}

/* ---- through t2i-launch ---- */

static void
remove_tree (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *e;
  while (d && (e = g_dir_read_name (d))) {
    g_autofree gchar *p = g_build_filename (dir, e, NULL);
    g_remove (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
}

/* seconds of a whole t2i-launch run; *@rss_mib: its peak RSS, *@cpu
 * (nullable): its CPU seconds */
static double
launch (const char *const *args, gint steps, const char *dir, gint threads,
    double *rss_mib, double *cpu)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (argv, g_strdup (BENCH_T2I_LAUNCH));
  g_ptr_array_add (argv, g_strdup ("-q"));
  if (steps > 0) {
    g_ptr_array_add (argv, g_strdup ("--set"));
    g_ptr_array_add (argv, g_strdup_printf ("steps=%d", steps));
    g_ptr_array_add (argv, g_strdup ("--set"));
    g_ptr_array_add (argv, g_strdup_printf ("out=%s/run", dir));
  }
  for (const char *const *a = args; *a; a++)
    g_ptr_array_add (argv, g_strdup (*a));
  g_ptr_array_add (argv, NULL);

  g_auto (GStrv) env = g_get_environ ();
  g_autofree gchar *nt = g_strdup_printf ("%d", threads);
  g_autofree gchar *reg = g_build_filename (dir, "registry.bin", NULL);
  env = g_environ_setenv (env, "OMP_NUM_THREADS", nt, TRUE);
  env = g_environ_setenv (env, "GST_REGISTRY_1_0", reg, TRUE);

  GError *err = NULL;
  GPid pid;
  struct rusage ru;
  int status;
  const double t = bench_now ();
  check (g_spawn_async (BENCH_SOURCE_DIR, (gchar **) argv->pdata, env,
          G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
          &pid, &err), err, BENCH_T2I_LAUNCH);
  while (wait4 (pid, &status, 0, &ru) < 0 && errno == EINTR);
  const double sec = bench_now () - t;
  g_spawn_close_pid (pid);
  if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
    g_error ("bench: t2i-launch (steps=%d) failed with wait status %d; run "
        "it by hand to see why", steps, status);
  if (rss_mib)
    *rss_mib = MAX (*rss_mib, ru.ru_maxrss / 1024.0);
  if (cpu)
    *cpu = cpu_seconds (&ru);
  return sec;
}

/* BENCH_PIPELINE_STEPS=N1,N2: multiples of the lazy R1 interval */
static void
pipeline_steps (gint * n1, gint * n2)
{
  const char *v = g_getenv ("BENCH_PIPELINE_STEPS");
  *n1 = 16;
  *n2 = 48;
  if (v && sscanf (v, "%d,%d", n1, n2) != 2)
    g_error ("bench: BENCH_PIPELINE_STEPS=%s: give N1,N2", v);
  if (*n1 <= 0 || *n2 <= *n1 || *n1 % R1_EVERY || *n2 % R1_EVERY)
    g_error ("bench: BENCH_PIPELINE_STEPS=%d,%d: need 0 < N1 < N2, both "
        "multiples of %d (the lazy R1 interval)", *n1, *n2, R1_EVERY);
}

/* NAME-train-step: pipelines/FILE through t2i-launch */
static void
bench_pipeline (const char *name, const char *const *args, gint threads,
    double gflop)
{
  gint n1, n2;
  double rss = 0;
  pipeline_steps (&n1, &n2);
  g_autofree gchar *dir = g_dir_make_tmp ("t2i-bench-XXXXXX", NULL);
  if (!dir)
    g_error ("bench: no temporary directory");
  /* untimed: the registry, the file cache */
  static const char *const warm[] = { "--", "fakesrc", "num-buffers=1", "!",
    "fakesink", NULL
  };
  launch (warm, 0, dir, threads, NULL, NULL);
  launch (args, 1, dir, threads, NULL, NULL);
  double *s = g_new (double, bench_n_samples);
  for (gint i = 0; i < bench_n_samples; i++) {
    double ca, cb;
    const double a = launch (args, n1, dir, threads, &rss, &ca);
    const double b = launch (args, n2, dir, threads, &rss, &cb);
    printf ("# %s: %d steps %.2f s, %d steps %.2f s; %.0f ms of CPU time "
        "per step (all threads)\n", name, n1, a, n2, b,
        (cb - ca) / (n2 - n1) * 1e3);
    s[i] = (b - a) / (n2 - n1);
  }
  remove_tree (dir);
  printf ("mem %s %.0f - -\n", name, rss);
  bench_print_case (name, s, bench_n_samples, gflop);
  g_free (s);
}

void
bench_methods (gchar ** names, gint threads)
{
  static const char *const lafite[] = { "--set", "ch=64", "--set",
    "batch=32", "--set", "res=32", "--set", "clip=" CLIP_FILE,
    "pipelines/lafite-train-free.t2i", NULL
  };
  static const char *const lafite_bf16[] = { "--precision=bf16", "--set",
    "ch=64", "--set", "batch=32", "--set", "res=32", "--set",
    "clip=" CLIP_FILE, "pipelines/lafite-train-free.t2i", NULL
  };
  static const char *const distgan[] = { "--set", "ch=64", "--set",
    "batch=32", "--set", "res=32", "--set", "clip=" CLIP_FILE,
    "pipelines/distgan-train.t2i", NULL
  };
  const struct
  {
    const char *method;
    const char *const *args;
    gboolean distgan;
    T2iPrecision precision;
  } methods[] = {
    {"lafite", lafite, FALSE, T2I_PRECISION_F32},
    {"distgan", distgan, TRUE, T2I_PRECISION_F32},
    {"lafite", lafite_bf16, FALSE, T2I_PRECISION_BF16},
  };

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++) {
    const char *sfx = methods[i].precision == T2I_PRECISION_BF16 ? "-bf16"
        : "";
    g_autofree gchar *core = g_strconcat (methods[i].method, "-core-step",
        sfx, NULL);
    g_autofree gchar *pipe = g_strconcat (methods[i].method, "-train-step",
        sfx, NULL);
    if (!bench_wanted (names, core) && !bench_wanted (names, pipe))
      continue;
    if (!bench_precision (methods[i].precision, core))
      continue;
    double gflop = 0;
    if (bench_wanted (names, core)) {
      t2i_set_precision (methods[i].precision);
      gflop = bench_core (core, methods[i].distgan);
      t2i_set_precision (T2I_PRECISION_F32);
    }
    if (!bench_wanted (names, pipe))
      continue;
    if (gflop == 0) {
      /* the FLOPs of the networks the pipeline builds */
      Method m;
      method_setup (&m, methods[i].distgan);
      gflop = m.gflop;
      method_clear (&m);
    }
    bench_pipeline (pipe, methods[i].args, threads, gflop);
  }
}
