/* CLIP-VQDiffusion's discrete diffusion against PyTorch: the schedule, the
 * loss (t2iloss kind=vq-diffusion: the bound, the auxiliary term,
 * importance weights) in value and gradient, truncation and guidance; the
 * transformer of t2ivqdiffusion (logits, and the loss's gradient with
 * respect to the condition through it).  The
 * goldens (tests/gen-vqdiffusion-golden.py) build the transition matrices
 * of the paper's eq. 2 explicitly and sum eq. 4 over x_0 in probability
 * space, so they check the log-space implementation against the
 * definitions.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <math.h>
#include <t2i/vqdiffusion.h>

#define T 10
#define K 7

static T2iSafetensors *
golden (const char *name)
{
  g_autofree char *p = test_golden ("vqdiffusion", name);
  return test_load (p);
}

static void
test_schedule (void)
{
  g_autoptr (T2iSafetensors) st = golden ("schedule.safetensors");
  g_autoptr (T2iTensor) a = t2i_safetensors_get (st, "log_cumprod_a");
  g_autoptr (T2iTensor) g = t2i_safetensors_get (st, "log_cumprod_g");
  T2iVqSchedule *s = t2i_vq_schedule_new (T, K);
  for (gint t = 0; t < T; t++) {
    g_assert_cmpfloat_with_epsilon (t2i_vq_schedule_log_cumprod_a (s, t),
        t2i_tensor_get (a, t), 1e-12);
    g_assert_cmpfloat_with_epsilon (t2i_vq_schedule_log_cumprod_g (s, t),
        t2i_tensor_get (g, t), 1e-12);
  }
  /* t = -1 is the identity: nothing kept away, nothing masked */
  g_assert_cmpfloat (t2i_vq_schedule_log_cumprod_a (s, -1), ==, 0.0);
  g_assert_cmpfloat (t2i_vq_schedule_log_cumprod_g (s, -1), <, -1000.0);
  t2i_vq_schedule_free (s);
}

static void
test_losses (void)
{
  const char *entries[] = { "logits", NULL };
  g_assert_cmpuint (test_loss_cases ("vqdiffusion", entries, 1e-9), ==, 4);
}

static void
test_truncate_guide (void)
{
  g_autoptr (T2iSafetensors) st = golden ("math.safetensors");
  g_autoptr (T2iTensor) p = t2i_safetensors_get (st, "log_p");
  g_autoptr (T2iTensor) q = t2i_safetensors_get (st, "log_q");
  const char *rs[] = { "0.5", "0.8" };
  for (guint i = 0; i < G_N_ELEMENTS (rs); i++) {
    g_autofree char *name = g_strdup_printf ("truncate/%s", rs[i]);
    g_autoptr (T2iTensor) want = t2i_safetensors_get (st, name);
    g_autoptr (T2iTensor) got = t2i_vq_truncate (p, g_ascii_strtod (rs[i],
            NULL));
    test_compare_tensors (got, want, name, 1e-15);
  }
  const char *ss[] = { "1.0", "3.0" };
  for (guint i = 0; i < G_N_ELEMENTS (ss); i++) {
    g_autofree char *name = g_strdup_printf ("guide/%s", ss[i]);
    g_autoptr (T2iTensor) want = t2i_safetensors_get (st, name);
    g_autoptr (T2iTensor) got = t2i_vq_guide (p, q, g_ascii_strtod (ss[i],
            NULL));
    test_compare_tensors (got, want, name, 1e-12);
  }
}

/* x_t ~ q(x_t | x_0): nothing masked at t = -1, the masked fraction
 * follows gbar_t, unmasked tokens keep their value */
static void
test_q_sample (void)
{
  T2iVqSchedule *s = t2i_vq_schedule_new (100, 64);
  const gint64 n = 4, l = 2048;
  g_autoptr (T2iTensor) x0 = t2i_tensor_new (T2I_I32, T2I_SHAPE (n, l));
  g_autoptr (T2iTensor) t = t2i_tensor_new (T2I_I32, T2I_SHAPE (n));
  const gint steps[4] = { -1, 10, 50, 99 };
  for (gint64 i = 0; i < n * l; i++)
    t2i_tensor_i32 (x0)[i] = (gint32) (i % 64);
  for (gint i = 0; i < 4; i++)
    t2i_tensor_i32 (t)[i] = steps[i];
  T2iRng rng;
  t2i_rng_init (&rng, 7);
  g_autoptr (T2iTensor) xt = t2i_vq_q_sample (s, x0, t, &rng);
  for (gint64 i = 0; i < n; i++) {
    gint64 masked = 0, changed = 0;
    for (gint64 j = 0; j < l; j++) {
      gint32 v = t2i_tensor_i32 (xt)[i * l + j];
      masked += v == 64;
      changed += v != 64 && v != t2i_tensor_i32 (x0)[i * l + j];
    }
    double want = exp (t2i_vq_schedule_log_cumprod_g (s, steps[i]));
    g_test_message ("t=%d: masked %.3f, gbar %.3f", steps[i],
        (double) masked / l, want);
    g_assert_cmpfloat (fabs ((double) masked / l - want), <, 0.04);
    g_assert_cmpint (changed, ==, 0);
  }
  t2i_vq_schedule_free (s);
}

/* row @i of @t [N, ...] as a new tensor [1, ...] */
static T2iTensor *
row (T2iTensor * t, gint64 i)
{
  return t2i_slice (t, 0, i, i + 1);
}

/* t2ivqdiffusion in train mode with T = 2: each item's step is 0 (x_t =
 * x_0) or 1 (all masks); the golden holds both, for every item */
static void
test_transformer (void)
{
  g_autofree char *in = test_golden ("vqdiffusion", "net-in.safetensors");
  g_autofree char *w = test_golden ("vqdiffusion", "net-weights.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=cond ! t2ivqdiffusion cond=cond weights=%s codes=7 "
      "width=8 heads=2 layers=2 timesteps=2 ! t2iloss kind=vq-diffusion "
      "timesteps=2 output=x update=none ! t2itensorsink location=%s "
      "grads-of=loss/x", in, w, out);
  test_run_ok (desc);
  g_autoptr (T2iSafetensors) got = test_load (out);
  g_autoptr (T2iSafetensors) gold = golden ("net-out.safetensors");
  g_autoptr (T2iTensor) t = t2i_safetensors_get (got, "t");
  g_autoptr (T2iTensor) xt = t2i_safetensors_get (got, "xt");
  g_autoptr (T2iTensor) x0 = t2i_safetensors_get (got, "tokens");
  g_autoptr (T2iTensor) logits = t2i_safetensors_get (got, "logits");
  g_autoptr (T2iTensor) loss = t2i_safetensors_get (got, "loss/x");
  g_autoptr (T2iTensor) grad = t2i_safetensors_get (got, "grad/cond");
  double want_loss = 0.0;
  gboolean steps[2] = { FALSE, FALSE };
  for (gint64 i = 0; i < t->numel; i++) {
    const gint s = t2i_tensor_i32 (t)[i];
    g_assert_true (s == 0 || s == 1);
    steps[s] = TRUE;
    for (gint64 j = 0; j < xt->shape[1]; j++)
      g_assert_cmpint (t2i_tensor_i32 (xt)[i * xt->shape[1] + j], ==,
          s == 0 ? t2i_tensor_i32 (x0)[i * xt->shape[1] + j] : 7);
    g_autofree char *ln = g_strdup_printf ("t%d/logits", s);
    g_autofree char *lo = g_strdup_printf ("t%d/loss", s);
    g_autofree char *gr = g_strdup_printf ("t%d/grad/cond", s);
    g_autoptr (T2iTensor) gl = t2i_safetensors_get (gold, ln);
    g_autoptr (T2iTensor) gs = t2i_safetensors_get (gold, lo);
    g_autoptr (T2iTensor) gg = t2i_safetensors_get (gold, gr);
    g_autoptr (T2iTensor) a = row (logits, i);
    g_autoptr (T2iTensor) b = row (gl, i);
    test_compare_tensors (a, b, ln, 1e-5);
    g_autoptr (T2iTensor) c = row (grad, i);
    g_autoptr (T2iTensor) d = row (gg, i);
    test_compare_tensors (c, d, gr, 1e-4);
    want_loss += t2i_tensor_get (gs, i);
  }
  g_test_message ("steps drawn: 0 %s, 1 %s", steps[0] ? "yes" : "no",
      steps[1] ? "yes" : "no");
  g_assert_cmpfloat (fabs (t2i_tensor_get (loss, 0) - want_loss), <,
      1e-5 * fabs (want_loss));
  test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vqdiffusion/schedule", test_schedule);
  g_test_add_func ("/vqdiffusion/losses", test_losses);
  g_test_add_func ("/vqdiffusion/truncate-guide", test_truncate_guide);
  g_test_add_func ("/vqdiffusion/q-sample", test_q_sample);
  g_test_add_func ("/vqdiffusion/transformer", test_transformer);
  return g_test_run ();
}
