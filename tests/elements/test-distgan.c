/* DiST-GAN's elements against PyTorch: t2iloss kind=dist-con (adaptive,
 * plain InfoNCE, temperature, the similarity floor) and kind=dist-vl (mean
 * and sum), values and gradients; t2il2v (transformer and mlp) forward and
 * backward, with padding tokens that must not reach the output.  The
 * goldens come from tests/gen-distgan-golden.py (tests/golden/distgan/).
 *
 * Errors are normwise: max_i |t2i_i - torch_i| / max_i |torch_i|; the
 * losses run in f64 (1e-12), the L2V module in f32 against an f64
 * reference (1e-5).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <string.h>

#define L2V_PROPS "token-dim=10 width=16 heads=2 layers=2 embed-dim=12"

static void
test_losses (void)
{
  const char *entries[] = { "fake_emb", "text_emb", "v_m", "img_emb", NULL };
  g_assert_cmpuint (test_loss_cases ("distgan", entries, 1e-12), ==, 6);
}

static void
check_l2v (const char *arch)
{
  g_autofree char *in = test_golden ("distgan", "l2v-in.safetensors");
  g_autofree char *wname = g_strdup_printf ("l2v-%s.safetensors", arch);
  g_autofree char *w = test_golden ("distgan", wname);
  g_autofree char *gold_path = test_golden ("distgan", "l2v-out.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=tokens ! t2il2v name=L arch=%s weights=%s %s ! t2iloss "
      "kind=dist-vl output=x update=none ! t2itensorsink location=%s "
      "grads-of=loss/x", in, arch, w, g_str_equal (arch, "mlp") ?
      "token-dim=10 width=16 layers=2 embed-dim=12" : L2V_PROPS, out);
  test_run_ok (desc);
  g_autoptr (T2iSafetensors) got = test_load (out);
  g_autoptr (T2iSafetensors) gold = test_load (gold_path);
  const char *pairs[][2] = {
    {"v_m", "v_m"}, {"loss/x", "loss"}, {"grad/tokens", "grad/tokens"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (pairs); i++) {
    g_autofree char *gn = g_strdup_printf ("%s/%s", arch, pairs[i][1]);
    test_compare (got, pairs[i][0], gold, gn, 1e-5);
  }
  test_rmdir (dir);
}

static void
test_l2v_transformer (void)
{
  check_l2v ("transformer");
}

static void
test_l2v_mlp (void)
{
  check_l2v ("mlp");
}

static void
test_errors (void)
{
  g_autofree char *in = test_golden ("distgan", "losses-in.safetensors");
  g_autofree char *a = g_strdup_printf ("t2itensorsrc location=%s ! t2iloss "
      "kind=dist-vl input=v_m target=text_emb reduce=max update=G ! "
      "fakesink", in);
  test_run_fails (a, "reduce");
  g_autofree char *b = g_strdup_printf ("t2itensorsrc location=%s ! t2iloss "
      "kind=dist-con gamma=1 update=G ! fakesink", in);
  test_run_fails (b, "gamma= does not apply to kind=dist-con (it reads: "
      "input, cond, tau, adaptive, min-similarity)");
  g_autofree char *l2v = test_golden ("distgan", "l2v-in.safetensors");
  g_autofree char *c = g_strdup_printf ("t2itensorsrc location=%s ! t2il2v "
      "mask=img_emb ! fakesink", l2v);
  test_run_fails (c, "mask=img_emb (one value per token of input=tokens)");
  g_autofree char *d = g_strdup_printf ("t2itensorsrc location=%s ! t2il2v "
      "arch=mlp heads=4 ! fakesink", l2v);
  test_run_fails (d, "heads= does not apply to arch=mlp");
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/distgan/losses", test_losses);
  g_test_add_func ("/distgan/l2v-transformer", test_l2v_transformer);
  g_test_add_func ("/distgan/l2v-mlp", test_l2v_mlp);
  g_test_add_func ("/distgan/errors", test_errors);
  return g_test_run ();
}
