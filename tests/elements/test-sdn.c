/* SDN's elements against PyTorch: t2iloss kind=sdn-image, sdn-stage1,
 * sdn-stage2 (the paper's sum and the released code's mean, level
 * weights, the multiple-choice forms of eq. 4 and 5) and cross-entropy,
 * values and gradients; t2igenerator arch=sdn forward and backward (with
 * respect to the condition and to every parameter), the VGG19-shaped
 * teacher of width 2 with average pooling and the BGR 0..255 input, Stage
 * II through it with two candidates, and t2iimageencoder arch=probe.  The
 * goldens come from tests/gen-sdn-golden.py (tests/golden/sdn/).
 *
 * Errors are normwise: max_i |t2i_i - torch_i| / max_i |torch_i|; the
 * losses run in f64 (1e-12), the networks in f32 against an f64 reference
 * (1e-5).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <string.h>

#define TOL 1e-5
/* the small networks of gen-sdn-golden.py */
#define G_PROPS "arch=sdn width=2 hidden=16 choices=2"
#define V_PROPS "arch=vgg19 layers=sdn pooling=avg input-mode=bgr255 " \
    "trainable=false"
#define CODE_FORM "reduce=mean image-weight=127.5 choices=2"

static const char *const keep[] = { "relu1_1", "pool2", "relu3_4", "relu5_1",
  "pool5", NULL
};

/* Like test_loss_cases(), with gradients stored only for the entries a
 * case reads: every floating entry of losses-in is a leaf; those without a
 * stored gradient must get none */
static void
test_losses (void)
{
  g_autofree char *in = test_golden ("sdn", "losses-in.safetensors");
  g_autofree char *out_path = test_golden ("sdn", "losses-out.safetensors");
  g_autofree char *cases_path = test_golden ("sdn", "losses-cases.txt");
  g_autoptr (T2iSafetensors) input = test_load (in);
  g_autoptr (T2iSafetensors) gold = test_load (out_path);
  g_autofree char *cases = NULL;
  g_autofree char *tmp = test_tmpdir ();
  g_autoptr (GPtrArray) leaves = g_ptr_array_new ();
  guint n_cases = 0;

  for (const char *const *n = t2i_safetensors_names (input); *n; n++) {
    T2iDType dt;
    g_assert_true (t2i_safetensors_get_info (input, *n, &dt, NULL, NULL,
            NULL));
    if (dt == T2I_F64)
      g_ptr_array_add (leaves, (gpointer) * n);
  }
  g_ptr_array_add (leaves, NULL);
  g_autofree char *names = g_strjoinv (",", (gchar **) leaves->pdata);
  g_assert_true (g_file_get_contents (cases_path, &cases, NULL, NULL));
  g_auto (GStrv) lines = g_strsplit (cases, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    char *sp = strchr (lines[i], ' ');
    if (!sp)
      continue;
    *sp = 0;
    const char *name = lines[i], *props = sp + 1;
    g_autofree char *out = g_build_filename (tmp, "out.safetensors", NULL);
    g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
        "requires-grad=%s ! t2iloss %s output=x update=none ! t2itensorsink "
        "location=%s grads-of=loss/x", in, names, props, out);
    test_run_ok (desc);
    g_autoptr (T2iSafetensors) got = test_load (out);
    g_autofree char *gl = g_strdup_printf ("%s/loss", name);
    test_compare (got, "loss/x", gold, gl, 1e-12);
    guint compared = 0;
    for (guint k = 0; k + 1 < leaves->len; k++) {
      const char *e = g_ptr_array_index (leaves, k);
      g_autofree char *gn = g_strdup_printf ("grad/%s", e);
      g_autofree char *gg = g_strdup_printf ("%s/grad/%s", name, e);
      g_autoptr (T2iTensor) a = t2i_safetensors_get (got, gn);
      if (!t2i_safetensors_has (gold, gg)) {
        /* an entry the loss does not read */
        for (gint64 j = 0; a && j < a->numel; j++)
          g_assert_cmpfloat (t2i_tensor_get (a, j), ==, 0.0);
        continue;
      }
      g_assert_nonnull (a);
      g_autoptr (T2iTensor) b = t2i_safetensors_get (gold, gg);
      test_compare_tensors (a, b, gg, 1e-12);
      compared++;
    }
    g_assert_cmpuint (compared, >, 0);
    n_cases++;
  }
  g_assert_cmpuint (n_cases, ==, 14);
  test_rmdir (tmp);
}

/* Stage I in the released code's form, eq. 4 over two candidates: the
 * generator's images and levels, the teacher's taps, the loss and its
 * gradient with respect to the condition */
static void
test_stage1 (void)
{
  g_autofree char *in = test_golden ("sdn", "net-in.safetensors");
  g_autofree char *gw = test_golden ("sdn", "g.safetensors");
  g_autofree char *vw = test_golden ("sdn", "v.safetensors");
  g_autofree char *gold_path = test_golden ("sdn", "net-out.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  /* the teacher's width comes from the file's shapes */
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=text_emb ! t2igenerator name=G weights=%s " G_PROPS
      " ! t2iimageencoder name=V weights=%s " V_PROPS " output=vgg/real ! "
      "t2iloss kind=sdn-stage1 " CODE_FORM " output=x update=none ! "
      "t2itensorsink location=%s grads-of=loss/x", in, gw, vw, out);
  test_run_ok (desc);
  g_autoptr (T2iSafetensors) got = test_load (out);
  g_autoptr (T2iSafetensors) gold = test_load (gold_path);
  test_compare (got, "fake", gold, "s1/fake", TOL);
  for (const char *const *k = keep; *k; k++) {
    g_autofree char *a = g_strdup_printf ("vgg/fake/%s", *k);
    g_autofree char *b = g_strdup_printf ("s1/levels/%s", *k);
    test_compare (got, a, gold, b, TOL);
    g_autofree char *c = g_strdup_printf ("vgg/real/%s", *k);
    g_autofree char *d = g_strdup_printf ("s1/real/%s", *k);
    test_compare (got, c, gold, d, TOL);
  }
  test_compare (got, "vgg/real/input", gold, "s1/real/input", TOL);
  test_compare (got, "loss/x", gold, "s1/loss", TOL);
  test_compare (got, "grad/text_emb", gold, "s1/grad/text_emb", TOL);
  test_rmdir (dir);
}

/* Stage II with two candidates (eq. 5): the frozen teacher shared on the
 * generator's candidates= */
static void
test_stage2_choices (void)
{
  g_autofree char *in = test_golden ("sdn", "net-in.safetensors");
  g_autofree char *gw = test_golden ("sdn", "g.safetensors");
  g_autofree char *vw = test_golden ("sdn", "v.safetensors");
  g_autofree char *gold_path = test_golden ("sdn", "net-out.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=text_emb ! t2igenerator name=G weights=%s " G_PROPS
      " candidates=cand ! t2iimageencoder name=V weights=%s " V_PROPS
      " output=vgg/real ! t2iimageencoder share=V input=cand "
      "output=vgg/synth layers=sdn ! t2iloss kind=sdn-stage2 " CODE_FORM
      " output=x update=none ! t2itensorsink location=%s grads-of=loss/x",
      in, gw, vw, out);
  test_run_ok (desc);
  g_autoptr (T2iSafetensors) got = test_load (out);
  g_autoptr (T2iSafetensors) gold = test_load (gold_path);
  test_compare (got, "vgg/synth/pool5", gold, "s2/synth/pool5", TOL);
  test_compare (got, "loss/x", gold, "s2/loss", TOL);
  test_compare (got, "grad/text_emb", gold, "s2/grad/text_emb", TOL);
  test_rmdir (dir);
}

/* the gradient with respect to every generator parameter, through the
 * model API (what the trainer backpropagates): f = sum(u image) +
 * sum_k (k + 1) mean(level_k^2) */
static void
test_param_grads (void)
{
  g_autofree char *in_path = test_golden ("sdn", "net-in.safetensors");
  g_autofree char *gold_path = test_golden ("sdn", "net-out.safetensors");
  g_autofree char *gw = test_golden ("sdn", "g.safetensors");
  g_autoptr (T2iSafetensors) in = test_load (in_path);
  g_autoptr (T2iSafetensors) gold = test_load (gold_path);
  g_autoptr (T2iSafetensors) weights = test_load (gw);
  g_autoptr (T2iParamGroup) group = t2i_param_group_new ("G");
  GError *err = NULL;
  T2iSdnConfig c;

  t2i_sdn_config_init (&c);
  c.cond_dim = 8;
  c.resolution = 32;
  c.width = 2;
  c.hidden = 16;
  c.choices = 2;
  g_autoptr (T2iSdn) g = t2i_sdn_new (&c, group, NULL, NULL, &err);
  g_assert_no_error (err);
  g_assert_true (t2i_param_group_load (group, weights, NULL, TRUE, &err));
  g_assert_no_error (err);

  g_autoptr (T2iTensor) cond = t2i_safetensors_get (in, "text_emb");
  T2iTensor *levels[T2I_SDN_N_LEVELS];
  g_autoptr (T2iTensor) img = t2i_sdn_forward (g, cond, levels);
  g_autoptr (T2iTensor) u = t2i_safetensors_get (gold, "pg/u");
  g_autoptr (T2iTensor) uimg = t2i_mul (u, img);
  T2iTensor *f = t2i_sum (uimg, T2I_ALL_AXES, FALSE);
  for (gint k = 0; k < T2I_SDN_N_LEVELS; k++) {
    g_autoptr (T2iTensor) sq = t2i_square (levels[k]);
    g_autoptr (T2iTensor) m = t2i_mean (sq, T2I_ALL_AXES, FALSE);
    g_autoptr (T2iTensor) wm = t2i_mul_scalar (m, k + 1);
    T2iTensor *s = t2i_add (f, wm);
    t2i_tensor_unref (f);
    f = s;
    t2i_tensor_unref (levels[k]);
  }
  g_autoptr (T2iTensor) total = f;
  g_autoptr (T2iTensor) gold_f = t2i_safetensors_get (gold, "pg/f");
  test_compare_tensors (total, gold_f, "pg/f", TOL);

  t2i_backward (total, NULL);
  g_assert_cmpuint (t2i_param_group_n_params (group), ==, 38);
  for (guint i = 0; i < t2i_param_group_n_params (group); i++) {
    T2iParam *p = t2i_param_group_get (group, i);
    g_autofree char *gn = g_strdup_printf ("pg/%s", p->name);
    g_autoptr (T2iTensor) b = t2i_safetensors_get (gold, gn);
    g_assert_nonnull (b);
    g_assert_nonnull (p->value->grad);
    test_compare_tensors (p->value->grad, b, gn, TOL);
  }
}

/* arch=probe with a hidden layer and kind=cross-entropy on a column with
 * ignored items */
static void
test_probe (void)
{
  g_autofree char *in = test_golden ("sdn", "probe-in.safetensors");
  g_autofree char *pw = test_golden ("sdn", "p.safetensors");
  g_autofree char *gold_path = test_golden ("sdn", "net-out.safetensors");
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=vgg/pool5 ! t2iimageencoder name=P arch=probe "
      "weights=%s input=vgg/pool5 classes=6 hidden=5 ! t2iloss "
      "kind=cross-entropy target=attr/shape column=1 output=x update=none "
      "! t2itensorsink location=%s grads-of=loss/x", in, pw, out);
  test_run_ok (desc);
  g_autoptr (T2iSafetensors) got = test_load (out);
  g_autoptr (T2iSafetensors) gold = test_load (gold_path);
  test_compare (got, "logits", gold, "probe/logits", TOL);
  test_compare (got, "loss/x", gold, "probe/loss", TOL);
  test_compare (got, "grad/vgg/pool5", gold, "probe/grad/vgg/pool5", TOL);
  test_rmdir (dir);
}

static void
test_errors (void)
{
  g_autofree char *in = test_golden ("sdn", "net-in.safetensors");
  g_autofree char *vw = test_golden ("sdn", "v.safetensors");
  g_autofree char *probe = test_golden ("sdn", "probe-in.safetensors");
  g_autofree char *losses = test_golden ("sdn", "losses-in.safetensors");
  const struct
  {
    const char *pipeline;
    const char *needle;
  } cases[] = {
    {"t2itensorsrc location=%s ! t2igenerator arch=sdn resolution=48 ! "
          "fakesink", "resolution=48 is not a multiple of 32"},
    {"t2itensorsrc location=%s ! t2igenerator arch=sdn noise=z ! fakesink",
        "noise= does not apply to arch=sdn (it reads: cond, output, prefix, "
          "candidates, resolution, width, hidden, choices, cond-dim)"},
    {"t2itensorsrc location=%s ! t2igenerator arch=sdn cond=image ! "
          "fakesink", "cond=image: "},
    /* a generator of width 4 against the width-2 teacher */
    {"t2itensorsrc location=%s ! t2igenerator arch=sdn width=4 ! "
          "t2iimageencoder weights=" "%s " V_PROPS " output=vgg/real ! "
          "t2iloss kind=sdn-stage1 update=G ! fakesink",
        "layer relu1_1: vgg/real/relu1_1 [2,2,32,32] and vgg/fake/relu1_1 "
          "[2,4,32,32] do not pair"},
    {"t2itensorsrc location=%s ! t2igenerator arch=sdn width=2 ! "
          "t2iimageencoder weights=%s " V_PROPS " output=vgg/real ! "
          "t2iloss kind=sdn-stage1 update=G level-weights=1,2 ! fakesink",
        "level-weights=1,2: give one non-negative number, or one for each "
          "of the 21 layers"},
    {"t2itensorsrc location=%s ! t2igenerator arch=sdn width=2 ! "
          "t2iimageencoder weights=%s " V_PROPS " output=vgg/real ! "
          "t2iloss kind=sdn-stage2 update=G ! fakesink",
        "fake=vgg/synth, layer relu1_1: "},
    {"t2itensorsrc location=%s ! t2igenerator arch=sdn width=2 ! "
          "t2iimageencoder weights=%s " V_PROPS " output=vgg/real ! "
          "t2iloss kind=sdn-stage1 choices=2 update=G ! fakesink",
        "image=image [2,3,32,32] and input=fake [2,3,32,32] must be N real "
          "images [N, 3, H, W] and their 2 generated candidates"},
    {"t2itensorsrc location=%s ! t2igenerator arch=sdn width=2 ! "
          "t2iimageencoder weights=%s " V_PROPS " output=vgg/real ! "
          "t2iloss kind=sdn-image layers=sdn update=G ! fakesink",
        "layers= does not apply to kind=sdn-image (it reads: input, real, "
          "choices, reduce)"},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    g_autofree char *d = g_strdup_printf (cases[i].pipeline, in, vw);
    test_run_fails (d, cases[i].needle);
  }
  /* ids beyond the classes */
  g_autofree char *ce = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iimageencoder arch=probe input=vgg/pool5 classes=4 ! t2iloss "
      "kind=cross-entropy target=attr/shape update=P ! fakesink", probe);
  test_run_fails (ce, "target=attr/shape: item 1 has class 4, not in [0, 4)");
  g_autofree char *col = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iloss kind=cross-entropy input=logits target=attr column=2 "
      "update=P ! fakesink", losses);
  test_run_fails (col, "column=2 < K");
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sdn/losses", test_losses);
  g_test_add_func ("/sdn/stage1", test_stage1);
  g_test_add_func ("/sdn/stage2-choices", test_stage2_choices);
  g_test_add_func ("/sdn/param-grads", test_param_grads);
  g_test_add_func ("/sdn/probe", test_probe);
  g_test_add_func ("/sdn/errors", test_errors);
  return g_test_run ();
}
