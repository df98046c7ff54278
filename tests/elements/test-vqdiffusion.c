/* CLIP-VQDiffusion's discrete diffusion against PyTorch: the schedule, the
 * loss (t2iloss kind=vq-diffusion: the bound, the auxiliary term,
 * importance weights) in value and gradient, truncation and guidance.  The
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

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vqdiffusion/schedule", test_schedule);
  g_test_add_func ("/vqdiffusion/losses", test_losses);
  g_test_add_func ("/vqdiffusion/truncate-guide", test_truncate_guide);
  g_test_add_func ("/vqdiffusion/q-sample", test_q_sample);
  return g_test_run ();
}
