/* LAFITE's elements against PyTorch: t2iloss (every kind), t2igenerator
 * (both condition modes), t2idiscriminator (logits, semantic features, R1
 * through a double backward, with respect to the images and to every
 * parameter), t2iperturb (trainable mode and its loss; the statistics of
 * the noise modes), the errors users see, and a short training run.  The
 * goldens come from tests/gen-lafite-golden.py (tests/golden/lafite/).
 *
 * Errors are normwise: max_i |t2i_i - torch_i| / max_i |torch_i| over each
 * tensor, at most 1e-5 (the networks run in f32 against an f64 reference;
 * the losses run in f64).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <math.h>
#include <t2i/stylegan2.h>

#define TOL 1e-5

/* the small networks of gen-lafite-golden.py */
#define G_PROPS "resolution=16 channels=8 w-dim=10 cond-hidden=7 " \
    "mapping-layers=2 noise-mode=const"
#define D_PROPS "channels=8"

static char *
golden (const char *name)
{
  return test_golden ("lafite", name);
}

#define load test_load
#define run_ok test_run_ok
#define run_fails test_run_fails

static void
compare (T2iSafetensors * got, const char *got_name, T2iSafetensors * gold,
    const char *gold_name)
{
  test_compare (got, got_name, gold, gold_name, TOL);
}

/* ---- losses ---- */

static void
test_losses (void)
{
  const char *entries[] = { "d/real", "d/fake", "d/real_fs", "d/fake_fs", "h",
    "fake_feat", NULL
  };
  g_assert_cmpuint (test_loss_cases ("lafite", entries, TOL), >=, 10);
}

/* ---- generator + discriminator ---- */

static void
check_generator (const char *mode)
{
  g_autofree char *in = golden ("net-in.safetensors");
  g_autofree char *gold_path = golden ("net-out.safetensors");
  g_autofree char *gw_name = g_strdup_printf ("g-%s.safetensors", mode);
  g_autofree char *gw = golden (gw_name);
  g_autofree char *dw = golden ("d.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=z,h ! t2igenerator name=G weights=%s cond-mode=%s "
      G_PROPS " ! t2idiscriminator name=D weights=%s " D_PROPS " ! "
      "t2iloss kind=lafite-g gamma=1 lambda=0 output=x update=none ! "
      "t2itensorsink location=%s grads-of=loss/x", in, gw, mode, dw, out);
  const char *pairs[][2] = {
    {"fake", "fake"}, {"d/real", "d/real"}, {"d/fake", "d/fake"},
    {"d/real_fs", "d/real_fs"}, {"d/fake_fs", "d/fake_fs"},
    {"loss/x", "loss"}, {"grad/z", "grad/z"}, {"grad/h", "grad/h"},
  };

  run_ok (desc);
  g_autoptr (T2iSafetensors) got = load (out);
  g_autoptr (T2iSafetensors) gold = load (gold_path);
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++) {
    g_autofree char *gn = g_strdup_printf ("%s/%s", mode, pairs[i][1]);
    compare (got, pairs[i][0], gold, gn);
  }
  test_rmdir (dir);
}

static void
test_generator_concat (void)
{
  check_generator ("concat");
}

static void
test_generator_modulate (void)
{
  check_generator ("modulate");
}

/* kind=lafite-d with R1 at step 0: the gradient with respect to the real
 * images is a Hessian-vector product through the whole discriminator */
static void
test_discriminator_r1 (void)
{
  g_autofree char *in = golden ("net-in.safetensors");
  g_autofree char *gold_path = golden ("net-out.safetensors");
  g_autofree char *dw = golden ("d.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=image,fake,h ! t2idiscriminator name=D weights=%s "
      D_PROPS " real-requires-grad=true ! t2iloss kind=lafite-d gamma=10 "
      "output=x update=none ! t2itensorsink location=%s grads-of=loss/x",
      in, dw, out);

  run_ok (desc);
  g_autoptr (T2iSafetensors) got = load (out);
  g_autoptr (T2iSafetensors) gold = load (gold_path);
  compare (got, "loss/x", gold, "r1/loss");
  compare (got, "grad/image", gold, "r1/grad/image");
  compare (got, "grad/fake", gold, "r1/grad/fake");
  compare (got, "grad/h", gold, "r1/grad/h");
  test_rmdir (dir);
}

/* the R1 penalty's gradient with respect to every discriminator parameter,
 * through the model API (what the trainer backpropagates) */
static void
test_r1_param_grads (void)
{
  g_autofree char *in_path = golden ("net-in.safetensors");
  g_autofree char *gold_path = golden ("net-out.safetensors");
  g_autofree char *dw = golden ("d.safetensors");
  g_autoptr (T2iSafetensors) in = load (in_path);
  g_autoptr (T2iSafetensors) gold = load (gold_path);
  g_autoptr (T2iSafetensors) weights = load (dw);
  g_autoptr (T2iParamGroup) group = t2i_param_group_new ("D");
  T2iStyleGan2DConfig c;
  T2iRng rng;
  GError *err = NULL;

  t2i_rng_init (&rng, 1);
  t2i_stylegan2_d_config_init (&c);
  c.resolution = 16;
  c.channel_max = 8;
  c.cond_dim = 12;
  T2iStyleGan2D *d = t2i_stylegan2_d_new (&c, group, NULL, &rng, &err);
  g_assert_no_error (err);
  g_assert_true (t2i_param_group_load (group, weights, NULL, TRUE, &err));
  g_assert_no_error (err);

  g_autoptr (T2iTensor) img = t2i_safetensors_get (in, "image");
  g_autoptr (T2iTensor) h = t2i_safetensors_get (in, "h");
  t2i_tensor_set_requires_grad (img, TRUE);
  g_autoptr (T2iTensor) logits = NULL;
  g_autoptr (T2iTensor) fs = NULL;
  g_assert_true (t2i_stylegan2_d_forward (d, img, &logits, &fs, &err));
  g_autoptr (T2iTensor) prod = t2i_mul (fs, h);
  g_autoptr (T2iTensor) proj = t2i_sum (prod, 1, FALSE);
  g_autoptr (T2iTensor) dr = t2i_add (logits, proj);
  g_autoptr (T2iTensor) total = t2i_sum (dr, T2I_ALL_AXES, FALSE);
  T2iTensor **grads = t2i_grad (total, NULL, &img, 1, TRUE);
  g_autoptr (T2iTensor) g = grads[0];
  g_free (grads);
  g_autoptr (T2iTensor) sq = t2i_square (g);
  g_autoptr (T2iTensor) flat = t2i_reshape (sq, T2I_SHAPE (g->shape[0], -1));
  g_autoptr (T2iTensor) per = t2i_sum (flat, 1, FALSE);
  g_autoptr (T2iTensor) mean = t2i_mean (per, T2I_ALL_AXES, FALSE);
  g_autoptr (T2iTensor) r1 = t2i_mul_scalar (mean, 5.0);
  g_autoptr (T2iTensor) gold_r1 = t2i_safetensors_get (gold, "r1only/loss");
  test_compare_tensors (r1, gold_r1, "r1only/loss", TOL);

  t2i_backward (r1, NULL);
  for (guint i = 0; i < t2i_param_group_n_params (group); i++) {
    T2iParam *p = t2i_param_group_get (group, i);
    g_autofree char *gn = g_strdup_printf ("r1only/param_grad/%s", p->name);
    g_autoptr (T2iTensor) b = t2i_safetensors_get (gold, gn);
    g_assert_nonnull (b);
    if (!p->value->grad) {
      for (gint64 j = 0; j < b->numel; j++)
        g_assert_cmpfloat (t2i_tensor_get (b, j), ==, 0.0);
      continue;
    }
    test_compare_tensors (p->value->grad, b, gn, TOL);
  }
  t2i_stylegan2_d_free (d);
}

/* ---- perturbation ---- */

static void
test_perturb_trainable (void)
{
  g_autofree char *in = golden ("perturb-in.safetensors");
  g_autofree char *gold_path = golden ("perturb-out.safetensors");
  g_autofree char *pw = golden ("perturb.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=img_feat,txt_feat ! t2iperturb name=P mode=trainable "
      "hidden=16 input=img_feat target=txt_feat weights=%s ! "
      "t2itensorsink location=%s grads-of=loss/P-perturb", in, pw, out);

  run_ok (desc);
  g_autoptr (T2iSafetensors) got = load (out);
  g_autoptr (T2iSafetensors) gold = load (gold_path);
  compare (got, "h", gold, "h");
  compare (got, "loss/P-perturb", gold, "loss");
  compare (got, "grad/img_feat", gold, "grad/img_feat");
  compare (got, "grad/txt_feat", gold, "grad/txt_feat");
  test_rmdir (dir);
}

/* runs t2iperturb @props on f [64, 512] (scaled by @scale) and returns the
 * mean cosine between h' and f; checks ||h'|| = 1 */
static double
perturb_cos (const char *dir, const char *props, double scale,
    T2iTensor ** h_out)
{
  g_autofree char *in = g_build_filename (dir, "f.safetensors", NULL);
  g_autofree char *out = g_build_filename (dir, "h.safetensors", NULL);
  T2iRng rng;
  t2i_rng_init (&rng, 7);
  g_autoptr (T2iTensor) f = t2i_rng_randn (&rng, T2I_F32, T2I_SHAPE (64, 512));
  for (gint64 i = 0; i < f->numel; i++)
    t2i_tensor_f32 (f)[i] *= (float) scale;
  const char *names[] = { "f", NULL };
  T2iTensor *ts[] = { f };
  test_save (in, names, ts);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iperturb input=f output=h %s ! t2itensorsink location=%s", in, props,
      out);
  run_ok (desc);
  g_autoptr (T2iSafetensors) got = load (out);
  g_autoptr (T2iTensor) h = t2i_safetensors_get (got, "h");
  g_assert_nonnull (h);
  double cos_sum = 0;
  for (gint64 i = 0; i < 64; i++) {
    double hh = 0, ff = 0, hf = 0;
    for (gint64 j = 0; j < 512; j++) {
      double a = t2i_tensor_get (h, i * 512 + j), b = t2i_tensor_get (f,
          i * 512 + j);
      hh += a * a;
      ff += b * b;
      hf += a * b;
    }
    g_assert_cmpfloat_with_epsilon (hh, 1.0, 1e-5);
    cos_sum += hf / sqrt (ff);
  }
  if (h_out)
    *h_out = t2i_tensor_ref (h);
  return cos_sum / 64;
}

static void
test_perturb_modes (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autoptr (T2iTensor) h1 = NULL;
  g_autoptr (T2iTensor) h2 = NULL;

  /* none: h' = f / ||f|| */
  g_assert_cmpfloat_with_epsilon (perturb_cos (dir, "mode=none", 1.0, NULL),
      1.0, 1e-5);
  /* fixed: ||h~ - f|| = xi ||f|| with noise almost orthogonal to f in 512
   * dimensions: cos = 1 / sqrt(1 + xi^2), whatever the scale of f */
  double c3 = perturb_cos (dir, "mode=fixed xi=3", 1.0, &h1);
  g_assert_cmpfloat (fabs (c3 - 1.0 / sqrt (10.0)), <, 0.03);
  double c3s = perturb_cos (dir, "mode=fixed xi=3 normalize-input=false",
      5.0, NULL);
  g_assert_cmpfloat (fabs (c3s - 1.0 / sqrt (10.0)), <, 0.03);
  /* the same seed draws the same noise */
  perturb_cos (dir, "mode=fixed xi=3", 1.0, &h2);
  for (gint64 i = 0; i < h1->numel; i++)
    g_assert_cmpfloat (t2i_tensor_get (h1, i), ==, t2i_tensor_get (h2, i));
  /* alpha: the noise does not scale with f */
  double ca = perturb_cos (dir, "mode=alpha alpha=0.5", 1.0, NULL);
  g_assert_cmpfloat (fabs (ca - 1.0 / sqrt (1.25)), <, 0.02);
  /* with ||f|| = 5 sqrt(512) unnormalised, alpha noise is negligible */
  double cab = perturb_cos (dir, "mode=alpha alpha=0.5 normalize-input=false",
      5.0, NULL);
  g_assert_cmpfloat (cab, >, 0.9999);
  test_rmdir (dir);
}

/* ---- errors ---- */

static void
test_errors (void)
{
  g_autofree char *in = golden ("losses-in.safetensors");
  g_autofree char *net = golden ("net-in.safetensors");
  g_autofree char *a = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iloss update=D ! fakesink", in);
  run_fails (a, "property 'kind' is not set");
  g_autofree char *b = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iloss kind=gan-logistic-g gamma=5 update=G ! fakesink", in);
  run_fails (b, "gamma= does not apply to kind=gan-logistic-g (it reads: fake)");
  g_autofree char *c = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iloss kind=lafite-cond input=d/real update=D ! fakesink", in);
  run_fails (c, "does not pair with cond=h");
  g_autofree char *d = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2idiscriminator " D_PROPS " mbstd-group=3 ! fakesink", net);
  run_fails (d, "not a multiple of the minibatch-std group size 3");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *e = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=h ! t2idiscriminator " D_PROPS " ! t2iloss kind=r1 "
      "every=1 output=x update=none ! t2itensorsink location=%s "
      "grads-of=loss/x", net, out);
  run_fails (e, "set real-requires-grad=true on the discriminator");
  g_autofree char *f = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2igenerator cond=text " G_PROPS " ! fakesink", net);
  run_fails (f, "cond=text");
  g_autofree char *f2 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2igenerator z-dim=5 " G_PROPS " ! fakesink", net);
  run_fails (f2, "noise=z has 6 features per item but the model takes z-dim=5");
  g_autofree char *g = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iperturb input=image target=h ! fakesink", net);
  run_fails (g, "it needs mode=trainable");
  test_rmdir (dir);
}

/* ---- a short training run ---- */

static void
test_train (void)
{
  g_autofree char *in = golden ("net-in.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *ck = g_build_filename (dir, "ck.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "repeat=6 ! t2igenerator name=G resolution=16 channels=8 w-dim=10 "
      "cond-hidden=7 mapping-layers=2 ! t2idiscriminator name=D " D_PROPS
      " real-requires-grad=true ! t2iloss kind=lafite-d r1-every=2 update=D "
      "output=D ! t2iloss kind=lafite-g lambda=0 update=G output=G ! "
      "t2itrainer lr=0.002 betas=0,0.99 report-every=1 checkpoint=%s", in,
      ck);
  g_autoptr (GPtrArray) msgs =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_autofree char *err = NULL;

  gboolean ok = test_run_pipeline (desc, &err, "t2i-train", msgs);
  if (!ok)
    g_error ("training failed: %s", err);
  g_assert_cmpuint (msgs->len, ==, 6);
  for (guint i = 0; i < msgs->len; i++) {
    double ld, lg;
    g_assert_true (gst_structure_get_double (msgs->pdata[i], "loss/D", &ld));
    g_assert_true (gst_structure_get_double (msgs->pdata[i], "loss/G", &lg));
    g_test_message ("step %u: loss/D %.4f loss/G %.4f", i + 1, ld, lg);
    g_assert_true (isfinite (ld) && isfinite (lg));
  }
  /* the checkpoint holds both groups with the official names, and w_avg
   * moved while training */
  g_autoptr (T2iSafetensors) st = load (ck);
  g_assert_true (t2i_safetensors_has (st,
          "G.synthesis.b16.conv0.affine_0.weight"));
  g_assert_true (t2i_safetensors_has (st, "D.b4.fts.weight"));
  g_autoptr (T2iTensor) w_avg = t2i_safetensors_get (st, "G.mapping.w_avg");
  g_assert_nonnull (w_avg);
  double norm = 0;
  for (gint64 i = 0; i < w_avg->numel; i++)
    norm += fabs (t2i_tensor_get (w_avg, i));
  g_assert_cmpfloat (norm, >, 0.0);
  test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  test_elements_register ();
  g_test_add_func ("/lafite/losses", test_losses);
  g_test_add_func ("/lafite/generator-concat", test_generator_concat);
  g_test_add_func ("/lafite/generator-modulate", test_generator_modulate);
  g_test_add_func ("/lafite/discriminator-r1", test_discriminator_r1);
  g_test_add_func ("/lafite/r1-param-grads", test_r1_param_grads);
  g_test_add_func ("/lafite/perturb-trainable", test_perturb_trainable);
  g_test_add_func ("/lafite/perturb-modes", test_perturb_modes);
  g_test_add_func ("/lafite/errors", test_errors);
  g_test_add_func ("/lafite/train", test_train);
  return g_test_run ();
}
