/* ICSD-GAN's elements against PyTorch: the t2iloss kinds csd, asl-d,
 * asl-g, icsd-d, icsd-g, ca-kl and damsm, values and gradients; the
 * architectures (arch=bilstm, arch=damsm, t2icondaug, arch=multistage,
 * arch=msgan) forward and backward on small sizes.  The goldens come from
 * tests/gen-icsd-golden.py (tests/golden/icsd/).
 *
 * Errors are normwise: max_i |t2i_i - torch_i| / max_i |torch_i|; the
 * losses run in f64 (1e-12), the networks in f32 against an f64
 * reference (1e-5).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <string.h>

static void
test_losses (void)
{
  const char *entries[] = { "d0/real", "d0/fake", "d0/wrong",
    "d0/real_uncond", "d0/fake_uncond", "d0/real_sim", "d0/wrong_sim",
    "d0/fake_sim", "d0/fake_feat", "d2/fake_feat", "ca/mu", "ca/logvar",
    "words", "words_mask", "text_emb", "img_regions", "img_emb", NULL
  };
  g_assert_cmpuint (test_loss_cases ("icsd", entries, 1e-12), ==, 12);
}

static void
test_loss_errors (void)
{
  g_autofree char *in = test_golden ("icsd", "losses-in.safetensors");
  struct
  {
    const char *props, *needle;
  } cases[] = {
    {"kind=csd tau=1", "tau= does not apply to kind=csd (it reads: student, "
          "teacher)"},
    {"kind=asl-g fake-sim=d0/fake_feat", "fake-sim=d0/fake_feat must hold "
          "one logit per item"},
    {"kind=icsd-d scores=d1", "scores=d1: "},
    {"kind=icsd-d scores=d0 tf=code", "tf"},
    {"kind=damsm regions=img_emb", "regions=img_emb"},
    {"kind=damsm sentence=ca/mu", "sentence=ca/mu [6,7] does not match "
          "words=words"},
    {"kind=damsm class-ids=words_mask", "class-ids=words_mask"},
    {"kind=ca-kl logvar=text_emb", "mu=ca/mu [6,7] and logvar=text_emb "
          "[6,10] must have one shape"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *d = g_strdup_printf ("t2itensorsrc location=%s ! "
        "t2iloss %s update=G ! fakesink", in, cases[i].props);
    test_run_fails (d, cases[i].needle);
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/icsd/losses", test_losses);
  g_test_add_func ("/icsd/loss-errors", test_loss_errors);
  return g_test_run ();
}
