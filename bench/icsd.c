/* ICSD-GAN's training step, t2i side (see icsd.h): the networks of the
 * architecture registry (the code t2igenerator, t2idiscriminator,
 * t2icondaug and t2iimageencoder run) and the loss helpers of t2iloss.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bench.h"
#include "icsd.h"

#include <math.h>
#include <string.h>
#include "losses/losses.h"

typedef struct
{
  const T2iArch *arch;
  GstStructure *config;         /* the D phase's (all images) */
  GstStructure *config_g;       /* discriminators in the G phase: fake only */
  gpointer net;
  T2iParamGroup *params;
  T2iOptimizer *opt;
} Net;

struct _IcsdBench
{
  Net ca, g, d[3], enc;
  T2iRng rng;
  gint batch;
  T2iTensor *words, *mask, *text, *real[3], *wrong[3];
};

/* "key=value,...": ints, doubles and strings as the options' types */
static void
apply_sets (GstStructure * config, const T2iOption * options,
    const char *sets)
{
  g_auto (GStrv) pairs = g_strsplit (sets, ",", -1);
  for (gchar ** p = pairs; *p && **p; p++) {
    g_auto (GStrv) kv = g_strsplit (*p, "=", 2);
    const T2iOption *o = t2i_options_find (options, kv[0]);
    g_assert (o && kv[1]);
    if (o->type == T2I_OPTION_TYPE_INT)
      gst_structure_set (config, kv[0], G_TYPE_INT, atoi (kv[1]), NULL);
    else if (o->type == T2I_OPTION_TYPE_DOUBLE)
      gst_structure_set (config, kv[0], G_TYPE_DOUBLE, g_ascii_strtod (kv[1],
              NULL), NULL);
    else
      gst_structure_set (config, kv[0], G_TYPE_STRING, kv[1], NULL);
  }
}

/* builds arch @name of @role into a group @group; adds its outputs to
 * @caps */
static void
net_init (Net * n, const char *role, const char *name, const char *group,
    const char *sets, GstStructure * caps, T2iRng * rng, gboolean train)
{
  GError *err = NULL;
  n->arch = t2i_arch_find (role, name);
  g_assert (n->arch);
  n->config = t2i_options_resolve (n->arch->options, name, NULL, NULL, NULL,
      &err);
  g_assert_no_error (err);
  apply_sets (n->config, n->arch->options, sets);
  n->params = t2i_param_group_new (group);
  T2iArchContext ctx = {.config = n->config,.params = n->params,.init_rng =
        rng
  };
  if (n->arch->configure)
    g_assert (n->arch->configure (n->config, &ctx, &err));
  g_assert (n->arch->negotiate (n->config, caps, caps, &err));
  n->net = n->arch->build (n->config, caps, &ctx, &err);
  g_assert_no_error (err);
  if (!train) {
    t2i_param_group_set_trainable (n->params, FALSE);
    return;
  }
  T2iOptimizerConfig cfg;
  t2i_optimizer_config_init (&cfg, T2I_OPTIMIZER_ADAM);
  cfg.lr = 2e-4;
  cfg.beta1 = 0.5;
  cfg.beta2 = 0.999;
  n->opt = t2i_optimizer_new (n->params, &cfg);
}

static void
net_clear (Net * n)
{
  if (n->opt)
    t2i_optimizer_free (n->opt);
  n->arch->free (n->net);
  t2i_param_group_unref (n->params);
  gst_structure_free (n->config);
  if (n->config_g)
    gst_structure_free (n->config_g);
}

static void
forward (Net * n, GstStructure * config, GstBuffer * record,
    gboolean trainable, T2iRng * rng)
{
  GError *err = NULL;
  T2iArchContext ctx = {.config = config ? config : n->config,.params =
        n->params,.training = TRUE,.trainable = trainable,.rng = rng
  };
  g_assert (n->arch->forward (n->net, &ctx, record, &err));
  g_assert_no_error (err);
}

static void
set (GstBuffer * r, const char *name, T2iTensor * t)
{
  g_assert (t2i_record_set_tensor (r, name, t, NULL));
}

static T2iTensor *
get (GstBuffer * r, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static T2iTensor *
get (GstBuffer * r, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *name = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  T2iTensor *t = t2i_record_get_tensor (r, name);
  g_assert (t);
  return t;
}

/* a record with the fixed inputs and fresh noise */
static GstBuffer *
inputs (IcsdBench * b)
{
  GstBuffer *r = t2i_record_new ();
  set (r, "words", b->words);
  set (r, "words_mask", b->mask);
  set (r, "text_emb", b->text);
  static const char *const real[3] = { "real0", "real1", "image" };
  for (gint i = 0; i < 3; i++) {
    set (r, real[i], b->real[i]);
    g_autofree char *w = g_strdup_printf ("wrong%d", i);
    set (r, w, b->wrong[i]);
  }
  g_autoptr (T2iTensor) z = t2i_rng_randn (&b->rng, T2I_F32,
      T2I_SHAPE (b->batch, ICSD_BENCH_Z));
  set (r, "z", z);
  return r;
}

static void
add_to (T2iTensor ** sum, T2iTensor * term)
{
  T2iTensor *s = *sum ? t2i_add (*sum, term) : t2i_tensor_ref (term);
  if (*sum)
    t2i_tensor_unref (*sum);
  *sum = s;
  t2i_tensor_unref (term);
}

void
icsd_bench_step (IcsdBench * b)
{
  /* D phase: the discriminators in turn (Algorithm 1, lines 5-8) */
  GstBuffer *r = inputs (b);
  forward (&b->ca, NULL, r, TRUE, &b->rng);
  forward (&b->g, NULL, r, TRUE, &b->rng);
  for (gint i = 0; i < 3; i++) {
    forward (&b->d[i], NULL, r, TRUE, &b->rng);
    T2iTensor *loss = NULL;
    add_to (&loss, t2i_losses_gan_d (get (r, "d%d/real", i), get (r,
                "d%d/fake", i)));
    add_to (&loss, t2i_losses_gan_d (get (r, "d%d/real_uncond", i), get (r,
                "d%d/fake_uncond", i)));
    add_to (&loss, t2i_losses_asl_d (get (r, "d%d/real_sim", i), get (r,
                "d%d/wrong_sim", i), get (r, "d%d/fake_sim", i)));
    g_autofree T2iTensor **p = bench_trainable (b->d[i].params);
    t2i_optimizer_zero_grad (b->d[i].opt);
    t2i_backward (loss, p);
    t2i_optimizer_step (b->d[i].opt);
    t2i_tensor_unref (loss);
  }
  gst_buffer_unref (r);

  /* G phase: a fresh forward against the updated discriminators */
  r = inputs (b);
  forward (&b->ca, NULL, r, TRUE, &b->rng);
  forward (&b->g, NULL, r, TRUE, &b->rng);
  T2iTensor *loss = NULL;
  for (gint i = 0; i < 3; i++) {
    forward (&b->d[i], b->d[i].config_g, r, TRUE, &b->rng);
    add_to (&loss, t2i_losses_gan_g (get (r, "d%d/fake", i)));
    add_to (&loss, t2i_losses_gan_g (get (r, "d%d/fake_uncond", i)));
    add_to (&loss, t2i_losses_asl_g (get (r, "d%d/fake_sim", i)));
  }
  forward (&b->enc, NULL, r, FALSE, &b->rng);
  T2iTensor *words = get (r, "words");
  const gint64 n = words->shape[0];
  gint64 lengths[256];
  for (gint64 i = 0; i < n; i++) {
    lengths[i] = 0;
    for (gint64 t = 0; t < words->shape[1]; t++)
      lengths[i] += t2i_tensor_f32 (b->mask)[i * words->shape[1] + t] != 0;
  }
  g_autoptr (T2iTensor) ws = t2i_losses_damsm_word_scores (words, lengths,
      get (r, "fake_regions"), 4.0, 5.0, TRUE);
  g_autoptr (T2iTensor) wl = t2i_losses_matching (ws, 10.0, NULL);
  g_autoptr (T2iTensor) ss = t2i_cosine_similarity_matrix (get (r,
          "fake_emb"), b->text, 1e-8);
  g_autoptr (T2iTensor) sl = t2i_losses_matching (ss, 10.0, NULL);
  g_autoptr (T2iTensor) damsm = t2i_add (wl, sl);
  add_to (&loss, t2i_mul_scalar (damsm, 5.0));
  add_to (&loss, t2i_losses_ca_kl (get (r, "ca/mu"), get (r, "ca/logvar"),
          FALSE));
  add_to (&loss, t2i_losses_csd (get (r, "d0/fake_feat"), get (r,
              "d2/fake_feat")));
  add_to (&loss, t2i_losses_csd (get (r, "d1/fake_feat"), get (r,
              "d2/fake_feat")));
  /* G and CA are one group in the pipeline; two optimizers here */
  g_autofree T2iTensor **pg = bench_trainable (b->g.params);
  g_autofree T2iTensor **pc = bench_trainable (b->ca.params);
  guint ng = 0, nc = 0;
  while (pg[ng])
    ng++;
  while (pc[nc])
    nc++;
  g_autofree T2iTensor **all = g_new0 (T2iTensor *, ng + nc + 1);
  memcpy (all, pg, ng * sizeof *all);
  memcpy (all + ng, pc, nc * sizeof *all);
  t2i_optimizer_zero_grad (b->g.opt);
  t2i_optimizer_zero_grad (b->ca.opt);
  t2i_backward (loss, all);
  t2i_optimizer_step (b->g.opt);
  t2i_optimizer_step (b->ca.opt);
  t2i_tensor_unref (loss);
  gst_buffer_unref (r);
}

IcsdBench *
icsd_bench_new (gint batch)
{
  IcsdBench *b = g_new0 (IcsdBench, 1);
  const gint base = ICSD_BENCH_BASE;
  g_assert (batch <= 256);
  b->batch = batch;
  t2i_rng_init (&b->rng, 3);

  /* fixed inputs: the frozen DAMSM text encoder's features of captions of
   * 4 to 12 words, real images per stage and the batch rolled by one */
  const gint64 l = ICSD_BENCH_WORDS, d = ICSD_BENCH_TEXT;
  b->mask = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (batch, l));
  for (gint i = 0; i < batch; i++)
    for (gint t = 0; t < 4 + i % 9; t++)
      t2i_tensor_f32 (b->mask)[i * l + t] = 1.0f;
  g_autoptr (T2iTensor) w = t2i_rng_randn (&b->rng, T2I_F32,
      T2I_SHAPE (batch, l, d));
  g_autoptr (T2iTensor) m3 = t2i_reshape (b->mask, T2I_SHAPE (batch, l, 1));
  b->words = t2i_mul (w, m3);
  b->text = t2i_rng_randn (&b->rng, T2I_F32, T2I_SHAPE (batch, d));
  for (gint i = 0; i < 3; i++) {
    const gint64 s = (gint64) base << i;
    g_autoptr (T2iTensor) x = t2i_rng_randn (&b->rng, T2I_F32,
        T2I_SHAPE (batch, 3, s, s));
    b->real[i] = t2i_tanh (x);
    g_autoptr (T2iTensor) tail = t2i_slice (b->real[i], 0, batch - 1, batch);
    g_autoptr (T2iTensor) head = t2i_slice (b->real[i], 0, 0, batch - 1);
    b->wrong[i] = t2i_concat ((T2iTensor *[]) { tail, head }, 2, 0);
  }

  GstStructure *caps = gst_structure_new_empty (T2I_RECORD_CAPS_NAME);
  gint64 ws[3] = { batch, l, d }, ms[2] = { batch, l }, ts[2] = { batch, d },
      zs[2] = { batch, ICSD_BENCH_Z };
  t2i_caps_set_entry (caps, "words", "f32", 3, ws);
  t2i_caps_set_entry (caps, "words_mask", "f32", 2, ms);
  t2i_caps_set_entry (caps, "text_emb", "f32", 2, ts);
  t2i_caps_set_entry (caps, "z", "f32", 2, zs);
  static const char *const real[3] = { "real0", "real1", "image" };
  for (gint i = 0; i < 3; i++) {
    gint64 s[4] = { batch, 3, (gint64) base << i, (gint64) base << i };
    g_autofree char *wn = g_strdup_printf ("wrong%d", i);
    t2i_caps_set_entry (caps, real[i], "f32", 4, s);
    t2i_caps_set_entry (caps, wn, "f32", 4, s);
  }
  g_autofree char *gsets = g_strdup_printf ("base-resolution=%d,"
      "channels=%d,am-blocks=1", base, ICSD_BENCH_NGF);
  g_autofree char *casets = g_strdup_printf ("cond-dim=%d", ICSD_BENCH_C);
  net_init (&b->ca, T2I_ROLE_CONDAUG, "glu", "G", casets, caps, &b->rng,
      TRUE);
  net_init (&b->g, T2I_ROLE_GENERATOR, "multistage", "G", gsets, caps,
      &b->rng, TRUE);
  for (gint i = 0; i < 3; i++) {
    g_autofree char *sets = g_strdup_printf ("stage=%d,real=%s,fake=fake%d,"
        "wrong=wrong%d,output=d%d,channels=%d", i, real[i], i, i, i,
        ICSD_BENCH_NDF);
    g_autofree char *group = g_strdup_printf ("D%d", i);
    net_init (&b->d[i], T2I_ROLE_DISCRIMINATOR, "msgan", group, sets, caps,
        &b->rng, TRUE);
    b->d[i].config_g = gst_structure_copy (b->d[i].config);
    gst_structure_set (b->d[i].config_g, "real", G_TYPE_STRING, "", "wrong",
        G_TYPE_STRING, "", NULL);
  }
  net_init (&b->enc, T2I_ROLE_IMAGE_ENCODER, "damsm", "damsm",
      "input=fake2,output=fake_emb,regions-output=fake_regions", caps,
      &b->rng, FALSE);
  gst_structure_free (caps);
  return b;
}

void
icsd_bench_free (IcsdBench * b)
{
  net_clear (&b->ca);
  net_clear (&b->g);
  for (gint i = 0; i < 3; i++)
    net_clear (&b->d[i]);
  net_clear (&b->enc);
  T2iTensor *ts[] = { b->words, b->mask, b->text, b->real[0], b->real[1],
    b->real[2], b->wrong[0], b->wrong[1], b->wrong[2]
  };
  for (guint i = 0; i < G_N_ELEMENTS (ts); i++)
    t2i_tensor_unref (ts[i]);
  g_free (b);
}

/* ---- FLOPs (2 per multiply-add of the convolutions and linear maps) ---- */

static double
conv (double cin, double cout, double k, double side)
{
  return 2.0 * cin * cout * k * k * side * side;
}

double
icsd_bench_g_flops (void)
{
  const double ngf = ICSD_BENCH_NGF, l = ICSD_BENCH_WORDS, dw =
      ICSD_BENCH_TEXT;
  const gint u = (gint) log2 (ICSD_BENCH_BASE / 4.0);
  const double top = ngf * (1 << u);
  double f = 2.0 * (ICSD_BENCH_Z + ICSD_BENCH_C) * top * 32;
  for (gint k = 0; k < u; k++)
    f += conv (top / (1 << k), 2 * top / (1 << (k + 1)), 3, 8 << k);
  f += conv (ngf, 3, 3, ICSD_BENCH_BASE);
  for (gint i = 1; i < 3; i++) {
    const double h = ICSD_BENCH_BASE << (i - 1);
    f += 2.0 * dw * ngf * l + 2 * 2.0 * h * h * l * ngf;
    f += conv (2 * ngf, 4 * ngf, 3, h) + conv (ngf, 8 * ngf, 3, h)
        + conv (2 * ngf, 2 * ngf, 3, h) + conv (ngf, 4 * ngf, 3, h);
    f += conv (2 * ngf, 2 * ngf, 3, 2 * h) + conv (ngf, 3, 3, 2 * h);
  }
  return f;
}

double
icsd_bench_d_flops (void)
{
  double f = 0;
  for (gint s = 0; s < 3; s++) {
    const double r = ICSD_BENCH_BASE << s;
    const gint n = (gint) log2 (r / 4.0);
    double ch = ICSD_BENCH_NDF;
    f += conv (3, ch, 4, r / 2);
    for (gint k = 1; k < n; k++, ch *= 2)
      f += conv (ch, 2 * ch, 4, r / (2 << k));
    for (gint k = 0; k < s; k++, ch /= 2)
      f += conv (ch, ch / 2, 3, 4);
    f += conv (ch + ICSD_BENCH_TEXT, ch, 3, 4) + 2 * conv (ch, 1, 4, 1);
    f += 2.0 * 256 * (ICSD_BENCH_TEXT + ch * 16);
  }
  return f;
}

double
icsd_bench_e_flops (void)
{
  static const double w[4] = { 32, 64, 128, 256 };
  const double side = ICSD_BENCH_BASE * 4;
  double f = conv (3, w[0], 3, side);
  for (gint s = 0; s < 3; s++)
    f += conv (w[s], w[s + 1], 3, side / (2 << s));
  return f + conv (128, 256, 1, side / 4) + 2.0 * 256 * 256;
}
