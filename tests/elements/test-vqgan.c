/* CLIP-VQDiffusion's tokenizer and its training losses against PyTorch:
 * t2ivqgan arch=gumbel (encode, decode, the argmax autoencoder and its
 * Gumbel KL, with the gradient of the KL with respect to the images),
 * t2idiscriminator arch=patchgan (batch statistics, the hinge loss's
 * gradients), and t2iloss kind=l1, mean, hinge-d, hinge-g and perceptual
 * in value and gradient.  The goldens come from tests/gen-vqgan-golden.py
 * (tests/golden/vqgan/), networks written from taming-transformers'
 * layout in f64 on the f32 weights.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#define VQGAN_PROPS "channels=8 ch-mult=1,2 res-blocks=1 attention=4 " \
    "groups=4 z-channels=4 embed-dim=6 codes=10"

static void
test_losses (void)
{
  const char *entries[] = { "recon", "image", "d/real", "d/fake", "vq/kl",
    "vgg/real/relu1_2", "vgg/real/relu2_2", "vgg/fake/relu1_2",
    "vgg/fake/relu2_2", NULL
  };
  g_assert_cmpuint (test_loss_cases ("vqgan", entries, 1e-12), ==, 5);
}

/* runs t2ivqgan mode=@mode on vqgan-in and returns the sink's file */
static T2iSafetensors *
run_vqgan (const char *dir, const char *mode, const char *tail)
{
  g_autofree char *in = test_golden ("vqgan", "vqgan-in.safetensors");
  g_autofree char *w = test_golden ("vqgan", "vqgan-weights.safetensors");
  g_autofree char *out = g_build_filename (dir, mode, NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=image ! t2ivqgan mode=%s weights=%s trainable=false "
      VQGAN_PROPS " output=out tokens=%s ! %s t2itensorsink location=%s %s",
      in, mode, w, g_str_equal (mode, "decode") ? "tokens" : "codes",
      g_str_equal (mode, "autoencode") ? "t2iloss kind=mean input=vq/kl "
      "output=kl update=none !" : "", out, tail);
  test_run_ok (desc);
  return test_load (out);
}

static void
test_vqgan (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *gold_path = test_golden ("vqgan", "vqgan-out.safetensors");
  g_autoptr (T2iSafetensors) gold = test_load (gold_path);
  g_autoptr (T2iSafetensors) enc = run_vqgan (dir, "encode", "");
  g_autoptr (T2iTensor) tokens = t2i_safetensors_get (enc, "codes");
  g_autoptr (T2iTensor) want = t2i_safetensors_get (gold, "encode/tokens");
  g_assert_cmpint (tokens->numel, ==, want->numel);
  for (gint64 i = 0; i < want->numel; i++)
    g_assert_cmpint (t2i_tensor_i32 (tokens)[i], ==, t2i_tensor_i32 (want)[i]);

  g_autoptr (T2iSafetensors) dec = run_vqgan (dir, "decode", "");
  test_compare (dec, "out", gold, "decode/image", 1e-5);

  g_autoptr (T2iSafetensors) ae = run_vqgan (dir, "autoencode",
      "grads-of=loss/kl");
  test_compare (ae, "out", gold, "autoencode/recon", 1e-5);
  test_compare (ae, "vq/kl", gold, "autoencode/kl", 1e-5);
  test_compare (ae, "grad/image", gold, "autoencode/grad/image", 1e-4);
  test_rmdir (dir);
}

/* training: the tokens are argmax(logits + noise g), so gumbel-noise=0
 * gives the codes of mode=encode, and the default Gumbel noise others */
static void
test_gumbel_noise (void)
{
  g_autofree char *in = test_golden ("vqgan", "vqgan-in.safetensors");
  g_autofree char *w = test_golden ("vqgan", "vqgan-weights.safetensors");
  g_autofree char *gold_path = test_golden ("vqgan", "vqgan-out.safetensors");
  g_autoptr (T2iSafetensors) gold = test_load (gold_path);
  g_autoptr (T2iTensor) want = t2i_safetensors_get (gold, "encode/tokens");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *ck = g_build_filename (dir, "ck.safetensors", NULL);

  for (gint noise = 0; noise <= 1; noise++) {
    g_autofree char *out = g_build_filename (dir, "out", NULL);
    g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s ! "
        "t2ivqgan group=VQ mode=autoencode weights=%s " VQGAN_PROPS
        " gumbel-noise=%d output=recon tokens=codes ! tee name=t ! queue ! "
        "t2iloss kind=l1 input=recon target=image update=VQ ! t2itrainer "
        "optimizer=sgd lr=0 checkpoint=%s t. ! queue ! t2itensorsink "
        "location=%s", in, w, noise, ck, out);
    test_run_ok (desc);
    g_autoptr (T2iSafetensors) got = test_load (out);
    g_autoptr (T2iTensor) codes = t2i_safetensors_get (got, "codes");
    gint64 same = 0;
    for (gint64 i = 0; i < want->numel; i++)
      same += t2i_tensor_i32 (codes)[i] == t2i_tensor_i32 (want)[i];
    if (noise == 0)
      g_assert_cmpint (same, ==, want->numel);
    else
      g_assert_cmpint (same, <, want->numel);
  }
  test_rmdir (dir);
}

static void
test_patchgan (void)
{
  g_autofree char *in = test_golden ("vqgan", "patchgan-in.safetensors");
  g_autofree char *w = test_golden ("vqgan", "patchgan-weights.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=image,fake ! t2idiscriminator arch=patchgan weights=%s "
      "trainable=false channels=4 layers=2 real=image fake=fake ! t2iloss "
      "kind=hinge-d output=x update=none ! t2itensorsink location=%s "
      "grads-of=loss/x", in, w, out);
  test_run_ok (desc);
  g_autoptr (T2iSafetensors) got = test_load (out);
  g_autofree char *gold_path = test_golden ("vqgan",
      "patchgan-out.safetensors");
  g_autoptr (T2iSafetensors) gold = test_load (gold_path);
  const char *names[] = { "d/real", "d/fake", "grad/image", "grad/fake" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    test_compare (got, names[i], gold, names[i], 1e-5);
  test_compare (got, "loss/x", gold, "loss", 1e-5);
  test_rmdir (dir);
}

static void
test_errors (void)
{
  g_autofree char *in = test_golden ("vqgan", "vqgan-in.safetensors");
  g_autofree char *a = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2ivqgan " VQGAN_PROPS " groups=3 ! fakesink", in);
  test_run_fails (a, "channels=8 is not a multiple of groups=3");
  g_autofree char *b = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2ivqgan " VQGAN_PROPS " ch-mult=1,x ! fakesink", in);
  test_run_fails (b, "ch-mult=1,x: give up to 8 positive integers");
  g_autofree char *c = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2ivqgan mode=decode " VQGAN_PROPS " codes=4 ! fakesink", in);
  test_run_fails (c, "outside the codebook 0 .. 3");
  g_autofree char *d = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2idiscriminator arch=patchgan mbstd-group=2 ! fakesink", in);
  test_run_fails (d, "mbstd-group= does not apply to arch=patchgan");
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/vqgan/losses", test_losses);
  g_test_add_func ("/vqgan/vqgan", test_vqgan);
  g_test_add_func ("/vqgan/gumbel-noise", test_gumbel_noise);
  g_test_add_func ("/vqgan/patchgan", test_patchgan);
  g_test_add_func ("/vqgan/errors", test_errors);
  return g_test_run ();
}
