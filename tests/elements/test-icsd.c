/* ICSD-GAN's elements against PyTorch: the t2iloss kinds csd, asl-d,
 * asl-g, icsd-d, icsd-g, ca-kl and damsm, values and gradients; the
 * architectures (arch=bilstm, arch=damsm, t2icondaug, arch=multistage,
 * arch=msgan) forward and backward on small sizes, the backward with
 * respect to the inputs and to every parameter (one SGD step of lr 1);
 * the errors users see; t2iop op=load and op=cosine.  The goldens come from
 * tests/gen-icsd-golden.py (tests/golden/icsd/).
 *
 * Errors are normwise: max_i |t2i_i - torch_i| / max_i |torch_i|; the
 * losses run in f64 (1e-12), the networks in f32 against an f64
 * reference (1e-5).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <math.h>
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

/* ---- the networks ---- */

#define TOL 1e-5
/* gradients read back from one SGD step of lr 1: (w - w') in f32 */
#define PARAM_TOL 1e-4

#define TEXT_PROPS "arch=bilstm input=tokens vocab-size=30 context=6 " \
    "word-dim=7 hidden=5 dropout=0"
#define IMAGE_PROPS "arch=damsm widths=8,16,16,16 embed-dim=10"
#define D_PROPS "arch=msgan channels=4 sim-dim=6"
#define G_PROPS "arch=multistage base-resolution=8 channels=4"

/* runs "t2itensorsrc (net-in, @leaves) ! @chain ! t2iloss @loss output=x
 * update=@group" to a tensor sink and compares each of @pairs (the
 * pipeline's entry, then <@prefix>/<golden name>); then runs it to a
 * trainer doing one SGD step of lr 1 and compares each trainable
 * parameter's move with <@prefix>/param_grad/<name> for the group's
 * weights file @weights */
static void
check_chain (const char *prefix, const char *leaves, const char *chain,
    const char *loss, const char *group, const char *weights,
    const char *const (*pairs)[2], guint n_pairs)
{
  g_autofree char *in = test_golden ("icsd", "net-in.safetensors");
  g_autofree char *gold_path = test_golden ("icsd", "net-out.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *ck = g_build_filename (dir, "ck.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=%s ! %s ! t2iloss %s output=x update=%s ! t2itensorsink "
      "location=%s grads-of=loss/x", in, leaves, chain, loss, group, out);
  test_run_ok (desc);
  g_autoptr (T2iSafetensors) got = test_load (out);
  g_autoptr (T2iSafetensors) gold = test_load (gold_path);
  for (guint i = 0; i < n_pairs; i++) {
    g_autofree char *gn = g_strdup_printf ("%s/%s", prefix, pairs[i][1]);
    test_compare (got, pairs[i][0], gold, gn, TOL);
  }

  g_autofree char *train = g_strdup_printf ("t2itensorsrc location=%s ! %s "
      "! t2iloss %s output=x update=%s ! t2itrainer optimizer=sgd lr=1 "
      "checkpoint=%s", in, chain, loss, group, ck);
  test_run_ok (train);
  g_autofree char *wpath = test_golden ("icsd", weights);
  g_autoptr (T2iSafetensors) before = test_load (wpath);
  g_autoptr (T2iSafetensors) after = test_load (ck);
  const char *const *names = t2i_safetensors_names (before);
  g_autofree char *gp = g_strconcat (group, ".", NULL);
  guint n = 0;
  for (guint i = 0; names[i]; i++) {
    /* the batch norms' running statistics are buffers */
    if (strstr (names[i], "running_"))
      continue;
    g_autoptr (T2iTensor) a = t2i_safetensors_get (before, names[i]);
    g_autoptr (T2iTensor) b = t2i_safetensors_get (after, names[i]);
    g_assert_nonnull (b);
    g_autoptr (T2iTensor) step = t2i_sub (a, b);
    g_autofree char *gn = g_strdup_printf ("%s/param_grad/%s", prefix,
        names[i] + strlen (gp));
    g_autoptr (T2iTensor) want = t2i_safetensors_get (gold, gn);
    if (!want)
      g_error ("the golden has no '%s'", gn);
    double m = 0;
    for (gint64 j = 0; j < want->numel; j++)
      m = MAX (m, fabs (t2i_tensor_get (want, j)));
    if (m == 0) {
      for (gint64 j = 0; j < step->numel; j++)
        g_assert_cmpfloat (t2i_tensor_get (step, j), ==, 0.0);
    } else {
      test_compare_tensors (step, want, gn, PARAM_TOL);
    }
    n++;
  }
  g_assert_cmpuint (n, >, 0);
  test_rmdir (dir);
}

static void
test_text_encoder (void)
{
  g_autofree char *w = test_golden ("icsd", "text.safetensors");
  g_autofree char *chain = g_strdup_printf ("t2itextencoder name=T "
      TEXT_PROPS " weights=%s", w);
  const char *const pairs[][2] = {
    {"text_emb", "text_emb"}, {"words", "words"},
    {"words_mask", "words_mask"}, {"loss/x", "loss"},
    {"grad/img_emb", "grad/img_emb"}, {"grad/img_regions",
        "grad/img_regions"},
  };
  check_chain ("text", "img_emb,img_regions", chain, "kind=damsm", "T",
      "text.safetensors", pairs, G_N_ELEMENTS (pairs));
}

static void
test_image_encoder (void)
{
  g_autofree char *w = test_golden ("icsd", "image.safetensors");
  g_autofree char *chain = g_strdup_printf ("t2iimageencoder name=I "
      IMAGE_PROPS " weights=%s", w);
  const char *const pairs[][2] = {
    {"img_emb", "img_emb"}, {"img_regions", "img_regions"},
    {"loss/x", "loss"}, {"grad/image", "grad/image"},
  };
  check_chain ("image", "image", chain, "kind=damsm", "I",
      "image.safetensors", pairs, G_N_ELEMENTS (pairs));
}

static void
check_discriminator (gint stage)
{
  g_autofree char *wname = g_strdup_printf ("d%d.safetensors", stage);
  g_autofree char *w = test_golden ("icsd", wname);
  g_autofree char *chain = g_strdup_printf ("t2idiscriminator name=D%d "
      D_PROPS " stage=%d real=real%d fake=fake%d wrong=wrong%d output=d%d "
      "weights=%s", stage, stage, stage, stage, stage, stage, w);
  g_autofree char *leaves = g_strdup_printf ("text_emb,real%d,fake%d,"
      "wrong%d", stage, stage, stage);
  g_autofree char *loss = g_strdup_printf ("kind=icsd-d scores=d%d", stage);
  g_autofree char *group = g_strdup_printf ("D%d", stage);
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  static const char *const kinds[] = { "real", "fake", "wrong" };
  static const char *const sfx[] = { "", "_uncond", "_sim", "_feat" };
  for (guint k = 0; k < 3; k++)
    for (guint s = 0; s < 4; s++)
      g_ptr_array_add (names, g_strdup_printf ("d%d/%s%s", stage, kinds[k],
              sfx[s]));
  g_ptr_array_add (names, g_strdup ("loss/x"));
  g_ptr_array_add (names, g_strdup ("grad/text_emb"));
  for (guint k = 0; k < 3; k++)
    g_ptr_array_add (names, g_strdup_printf ("grad/%s%d", kinds[k], stage));
  typedef const char *Pair[2];
  Pair *pairs = g_new0 (Pair, names->len);
  for (guint i = 0; i < names->len; i++) {
    const char *nm = names->pdata[i];
    pairs[i][0] = nm;
    /* the golden names the discriminator outputs d<i>/d<i>/...: its
     * prefix, then the entry */
    pairs[i][1] = g_str_equal (nm, "loss/x") ? "loss" : nm;
  }
  g_autofree char *prefix = g_strdup_printf ("d%d", stage);
  check_chain (prefix, leaves, chain, loss, group, wname,
      (const char *const (*)[2]) pairs, names->len);
  g_free (pairs);
  g_ptr_array_unref (names);
}

static void
test_discriminators (void)
{
  for (gint i = 0; i < 3; i++)
    check_discriminator (i);
}

static void
check_generator (const char *variant, const char *props)
{
  g_autofree char *wname = g_strdup_printf ("g-%s.safetensors", variant);
  g_autofree char *w = test_golden ("icsd", wname);
  g_autofree char *dw = test_golden ("icsd", "d2.safetensors");
  g_autofree char *chain = g_strdup_printf ("t2icondaug name=CA group=G "
      "noise=eps cond-dim=5 weights=%s ! t2igenerator name=G " G_PROPS
      " %s weights=%s ! t2idiscriminator name=D2 " D_PROPS " stage=2 "
      "real=\"\" fake=fake2 wrong=\"\" output=d2 weights=%s", w, props, w,
      dw);
  const char *const pairs[][2] = {
    {"c", "c"}, {"ca/mu", "ca/mu"}, {"ca/logvar", "ca/logvar"},
    {"fake0", "fake0"}, {"fake1", "fake1"}, {"fake2", "fake2"},
    {"d2/fake", "d2/fake"}, {"d2/fake_uncond", "d2/fake_uncond"},
    {"d2/fake_sim", "d2/fake_sim"}, {"d2/fake_feat", "d2/fake_feat"},
    {"loss/x", "loss"}, {"grad/text_emb", "grad/text_emb"},
    {"grad/z", "grad/z"}, {"grad/words", "grad/words"},
  };
  check_chain (variant, "text_emb,z,words", chain, "kind=icsd-g scores=d2",
      "G", wname, pairs, G_N_ELEMENTS (pairs));
}

static void
test_generator_am (void)
{
  check_generator ("am", "am-blocks=1");
}

static void
test_generator_res (void)
{
  check_generator ("res", "am-blocks=2 block=res");
}

/* AttnGAN's Inception-v3 backbone: Mixed_6e regions (17 x 17), Mixed_7c
 * pool (random weights here: no ImageNet weights on our machines) */
static void
test_image_encoder_inception (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "batch-size=1 resolution=32 max-steps=1 ! t2iimageencoder arch=damsm "
      "backbone=inception-v3 embed-dim=12 ! t2itensorsink location=%s", out);
  test_run_ok (desc);
  g_autoptr (T2iSafetensors) got = test_load (out);
  g_autoptr (T2iTensor) g = t2i_safetensors_get (got, "img_emb");
  g_autoptr (T2iTensor) r = t2i_safetensors_get (got, "img_regions");
  g_assert_cmpint (g->shape[1], ==, 12);
  g_assert_cmpint (r->ndim, ==, 4);
  g_assert_cmpint (r->shape[1], ==, 12);
  g_assert_cmpint (r->shape[2], ==, 17);
  g_assert_cmpint (r->shape[3], ==, 17);
  test_rmdir (dir);
}

static void
test_network_errors (void)
{
  g_autofree char *in = test_golden ("icsd", "net-in.safetensors");
  struct
  {
    const char *chain, *needle;
  } cases[] = {
    {"t2itextencoder " TEXT_PROPS " layers=2",
        "layers= does not apply to arch=bilstm"},
    {"t2itextencoder arch=bilstm input=tokens", "input=tokens holds token "
          "ids: give the model's vocab-size="},
    {"t2itextencoder arch=bilstm input=tokens vocab-size=12", "holds the id"},
    {"t2iimageencoder arch=damsm backbone-weights=x.safetensors",
        "backbone-weights= loads an ImageNet Inception-v3: it needs "
          "backbone=inception-v3"},
    {"t2iimageencoder arch=damsm widths=8,16", "widths=8,16: give the "
          "stem's channels and those of 2 to"},
    {"t2icondaug noise=z", "noise=z: "},
    {"t2icondaug input=z input-dim=7", "input=z has 6 features per item but "
          "the model takes input-dim=7"},
    {"t2icondaug input=text_emb output=c ! t2igenerator " G_PROPS
          " words=z", "words=z: "},
    {"t2icondaug ! t2igenerator arch=multistage base-resolution=12 "
          "noise=z", "base-resolution=12 is not a power of two"},
    {"t2idiscriminator " D_PROPS " real=real0 fake=fake0 wrong=wrong0 "
          "stage=1", "stage=1 halves the channels 1 times after 0 "
          "doublings: images of 8 px allow stage <= 0"},
    {"t2idiscriminator " D_PROPS " real=real0 fake=fake1 wrong=\"\"",
        "real=real0 and fake=fake1 must have the same shape"},
    {"t2idiscriminator " D_PROPS " real=real1 fake=\"\" wrong=\"\" "
          "mbstd-group=2", "mbstd-group= does not apply to arch=msgan"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *d = g_strdup_printf ("t2itensorsrc location=%s ! %s ! "
        "fakesink", in, cases[i].chain);
    test_run_fails (d, cases[i].needle);
  }
}

/* t2iop op=load and op=cosine: the IS classifier's logits of
 * pipelines/icsd-eval.t2i */
static void
test_ops (void)
{
  g_autofree char *in = test_golden ("icsd", "net-in.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iop op=load location=%s tensor=img_emb output=protos ! t2iop "
      "op=cosine input=text_emb with=protos scale=2.5 output=logits ! "
      "t2itensorsink location=%s", in, in, out);
  test_run_ok (desc);
  g_autoptr (T2iSafetensors) src = test_load (in);
  g_autoptr (T2iSafetensors) got = test_load (out);
  g_autoptr (T2iTensor) a = t2i_safetensors_get (src, "text_emb");
  g_autoptr (T2iTensor) b = t2i_safetensors_get (src, "img_emb");
  g_autoptr (T2iTensor) l = t2i_safetensors_get (got, "logits");
  const gint64 n = a->shape[0], k = b->shape[0], d = a->shape[1];
  g_assert_cmpint (l->shape[0], ==, n);
  g_assert_cmpint (l->shape[1], ==, k);
  for (gint64 i = 0; i < n; i++)
    for (gint64 j = 0; j < k; j++) {
      double ab = 0, aa = 0, bb = 0;
      for (gint64 c = 0; c < d; c++) {
        const double x = t2i_tensor_get (a, i * d + c);
        const double y = t2i_tensor_get (b, j * d + c);
        ab += x * y;
        aa += x * x;
        bb += y * y;
      }
      g_assert_cmpfloat_with_epsilon (t2i_tensor_get (l, i * k + j),
          2.5 * ab / sqrt (aa * bb), 1e-5);
    }
  g_autofree char *e1 = g_strdup_printf ("t2itensorsrc location=%s ! t2iop "
      "op=load location=%s output=x ! fakesink", in, in);
  test_run_fails (e1, "holds 18 tensors: name one with tensor=");
  g_autofree char *e2 = g_strdup_printf ("t2itensorsrc location=%s ! t2iop "
      "op=cosine input=text_emb with=z output=y ! fakesink", in);
  test_run_fails (e2, "input=text_emb [4,10] and with=z [4,6] need rows of "
      "one size");
  test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/icsd/losses", test_losses);
  g_test_add_func ("/icsd/loss-errors", test_loss_errors);
  g_test_add_func ("/icsd/text-encoder", test_text_encoder);
  g_test_add_func ("/icsd/image-encoder", test_image_encoder);
  g_test_add_func ("/icsd/discriminators", test_discriminators);
  g_test_add_func ("/icsd/generator-am", test_generator_am);
  g_test_add_func ("/icsd/generator-res", test_generator_res);
  g_test_add_func ("/icsd/image-encoder-inception",
      test_image_encoder_inception);
  g_test_add_func ("/icsd/network-errors", test_network_errors);
  g_test_add_func ("/icsd/ops", test_ops);
  return g_test_run ();
}
