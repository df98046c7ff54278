/* t2itextencoder, t2iimageencoder and t2iloss kind=clip: the elements
 * against the core model API on the same weights, normalisation, the loss
 * against PyTorch (tests/gen-clip-loss-golden.py, tests/golden/clip/),
 * shared parameter groups and a short training run.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "test-elements.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <t2i/clip.h>
#include <t2i/tokenizer.h>

#define TOL 1e-4

static const char *const texts[4] = {
  "a red circle", "a small blue square above a green triangle",
  "a yellow star", "two purple hexagons",
};

static char *
golden (const char *name)
{
  const char *src = g_getenv ("T2I_SOURCE_DIR");
  g_assert_nonnull (src);
  return g_build_filename (src, "tests", "golden", "clip", name, NULL);
}

static T2iSafetensors *
load (const char *path)
{
  GError *err = NULL;
  T2iSafetensors *st = t2i_safetensors_load (path, &err);
  g_assert_no_error (err);
  return st;
}

/* normwise relative error of @a against @b must be below TOL */
static void
compare_tensors (T2iTensor * a, T2iTensor * b, const char *what)
{
  g_assert_nonnull (a);
  g_assert_nonnull (b);
  g_assert_cmpint (a->numel, ==, b->numel);
  double diff = 0, scale = 0;
  for (gint64 i = 0; i < a->numel; i++) {
    double x = t2i_tensor_get (a, i), y = t2i_tensor_get (b, i);
    g_assert_true (isfinite (x));
    diff = MAX (diff, fabs (x - y));
    scale = MAX (scale, fabs (y));
  }
  g_test_message ("%s: max diff %.3g (max |ref| %.3g)", what, diff, scale);
  if (diff > TOL * MAX (scale, 1e-6))
    g_error ("%s differs by %.3g (relative to %.3g)", what, diff, scale);
}

static void
run_ok (const char *desc)
{
  g_autofree char *err = NULL;
  if (!test_run_pipeline (desc, &err, NULL, NULL))
    g_error ("pipeline failed: %s\n  %s", err ? err : "(no message)", desc);
}

static void
run_fails (const char *desc, const char *needle)
{
  g_autofree char *err = NULL;
  g_assert_false (test_run_pipeline (desc, &err, NULL, NULL));
  g_assert_nonnull (err);
  g_test_message ("error: %s", err);
  if (!strstr (err, needle))
    g_error ("expected an error about '%s', got: %s", needle, err);
}

/* saves @clip's parameters as "<prefix><official name>" */
static void
save_clip (T2iClip * clip, const char *path, const char *prefix)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) tensors =
      g_ptr_array_new_with_free_func ((GDestroyNotify) t2i_tensor_unref);
  t2i_param_group_collect (t2i_clip_get_params (clip), prefix, names,
      tensors);
  g_ptr_array_add (names, NULL);
  g_ptr_array_add (tensors, NULL);
  test_save (path, (const char *const *) names->pdata,
      (T2iTensor **) tensors->pdata);
}

static T2iTensor *
get (T2iSafetensors * st, const char *name)
{
  T2iTensor *t = t2i_safetensors_get (st, name);
  if (!t)
    g_error ("the pipeline wrote no '%s'", name);
  return t;
}

static void
assert_unit_rows (T2iTensor * t)
{
  for (gint64 r = 0; r < t->shape[0]; r++) {
    double s = 0;
    for (gint64 j = 0; j < t->shape[1]; j++) {
      double v = t2i_tensor_get (t, r * t->shape[1] + j);
      s += v * v;
    }
    g_assert_cmpfloat (fabs (sqrt (s) - 1.0), <, 1e-5);
  }
}

/* ---- text encoder ---- */

static void
test_text_encoder (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *w = g_build_filename (dir, "w.safetensors", NULL);
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  T2iClipConfig cfg = { 0 };
  T2iRng rng;

  cfg.embed_dim = 24;
  cfg.context_length = 20;
  cfg.vocab_size = T2I_TOKENIZER_N_BYTE_TOKENS + 2;
  cfg.text_width = 64;
  cfg.text_heads = 1;
  cfg.text_layers = 2;
  t2i_rng_init (&rng, 3);
  g_autoptr (T2iClip) clip = t2i_clip_new (&cfg, NULL, NULL, &rng);
  /* under the group's prefix */
  save_clip (clip, w, "T.");

  g_autofree char *desc = g_strdup_printf ("t2itextsrc text=\"%s;%s;%s;%s\" "
      "batch-size=4 ! t2itextencoder name=T weights=%s tokens-output=tokens "
      "token-features=feat ! t2itextencoder name=N weights=%s "
      "weights-prefix=T. output=text_unit normalize=true ! "
      "t2itensorsink location=%s", texts[0], texts[1], texts[2], texts[3],
      w, w, out);
  run_ok (desc);
  g_autoptr (T2iSafetensors) got = load (out);

  /* the byte-level tokenizer (no vocab=) and the API on the same tokens */
  static const char header[] = "#version: 0.2\n";
  g_autoptr (GBytes) b = g_bytes_new_static (header, strlen (header));
  g_autoptr (T2iTokenizer) tok = t2i_tokenizer_new_from_bytes (b, NULL);
  g_autoptr (T2iTensor) tokens = t2i_tokenizer_encode_batch (tok, texts, 4,
      cfg.context_length, NULL);
  g_autoptr (T2iTensor) got_tokens = get (got, "tokens");
  compare_tensors (got_tokens, tokens, "tokens");

  T2iTensor *feat = NULL;
  g_autoptr (T2iTensor) emb = t2i_clip_encode_text (clip, tokens, &feat);
  g_autoptr (T2iTensor) feat_ref = feat;
  g_autoptr (T2iTensor) got_emb = get (got, "text_emb");
  g_autoptr (T2iTensor) got_feat = get (got, "feat");
  compare_tensors (got_emb, emb, "text_emb");
  compare_tensors (got_feat, feat_ref, "token features");

  g_autoptr (T2iTensor) unit = t2i_l2_normalize (emb, 1, 1e-12);
  g_autoptr (T2iTensor) got_unit = get (got, "text_unit");
  compare_tensors (got_unit, unit, "normalized text_emb");
  assert_unit_rows (got_unit);

  /* token ids in, from the file */
  g_autofree char *tin = g_build_filename (dir, "tokens.safetensors", NULL);
  const char *tn[] = { "tokens", NULL };
  T2iTensor *tt[] = { tokens, NULL };
  test_save (tin, tn, tt);
  g_autofree char *desc2 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itextencoder group=T input=tokens weights=%s ! t2itensorsink "
      "location=%s", tin, w, out);
  run_ok (desc2);
  g_autoptr (T2iSafetensors) got2 = load (out);
  g_autoptr (T2iTensor) got_emb2 = get (got2, "text_emb");
  compare_tensors (got_emb2, emb, "text_emb from tokens");

  /* a file without the tower */
  g_autofree char *desc3 = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itextencoder input=tokens weights=%s weights-prefix=nope. ! "
      "fakesink", tin, w);
  run_fails (desc3, "nope.");
  test_rmdir (dir);
}

/* ---- image encoders ---- */

static T2iTensor *
images (gint n, gint size)
{
  T2iRng rng;
  T2iTensor *x = t2i_tensor_new (T2I_F32, T2I_SHAPE (n, 3, size, size));
  t2i_rng_init (&rng, 5);
  t2i_init_uniform (x, &rng, -1.0, 1.0);
  return x;
}

static void
check_clip_image (T2iClipConfig * cfg, const char *arch)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *w = g_build_filename (dir, "w.safetensors", NULL);
  g_autofree char *in = g_build_filename (dir, "in.safetensors", NULL);
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  T2iRng rng;

  t2i_rng_init (&rng, 4);
  g_autoptr (T2iClip) clip = t2i_clip_new (cfg, NULL, NULL, &rng);
  /* official names, no prefix (as scripts/convert-checkpoint writes) */
  save_clip (clip, w, "");
  g_autoptr (T2iTensor) x = images (3, 24);
  const char *names[] = { "image", NULL };
  T2iTensor *ts[] = { x, NULL };
  test_save (in, names, ts);

  /* frozen encoders still pass gradients to their input */
  g_autofree char *train = g_strdup_printf ("t2itensorsrc location=%s "
      "requires-grad=image ! t2iimageencoder arch=%s weights=%s "
      "trainable=false ! t2iimageencoder arch=%s weights=%s normalize=true "
      "output=img_unit trainable=false ! t2iloss kind=clip input=img_emb "
      "cond=img_unit update=none output=t ! t2itensorsink location=%s "
      "grads-of=loss/t", in, arch, w, arch, w, out);
  run_ok (train);
  g_autoptr (T2iSafetensors) got = load (out);

  g_autoptr (T2iTensor) pix = strcmp (arch, "clip-vit") == 0 ?
      t2i_clip_preprocess (clip, x) : t2i_tensor_ref (x);
  g_autoptr (T2iTensor) emb = t2i_clip_encode_image (clip, pix);
  g_autoptr (T2iTensor) got_emb = get (got, "img_emb");
  compare_tensors (got_emb, emb, arch);
  g_autoptr (T2iTensor) got_unit = get (got, "img_unit");
  assert_unit_rows (got_unit);
  g_autoptr (T2iTensor) gx = get (got, "grad/image");
  double norm = 0;
  for (gint64 i = 0; i < gx->numel; i++)
    norm += fabs (t2i_tensor_get (gx, i));
  g_assert_cmpfloat (norm, >, 0.0);
  test_rmdir (dir);
}

static void
test_image_cnn (void)
{
  T2iClipConfig cfg = { 0 };
  cfg.embed_dim = 16;
  cfg.vision = T2I_CLIP_VISION_CNN;
  cfg.image_size = 24;
  cfg.cnn_stem = 8;
  cfg.cnn_n_stages = 2;
  cfg.cnn_widths[0] = 16;
  cfg.cnn_widths[1] = 24;
  cfg.cnn_depth = 2;
  check_clip_image (&cfg, "cnn");
}

static void
test_image_vit (void)
{
  T2iClipConfig cfg = { 0 };
  cfg.embed_dim = 16;
  cfg.vision = T2I_CLIP_VISION_VIT;
  cfg.image_size = 16;
  cfg.patch_size = 8;
  cfg.vision_width = 64;
  cfg.vision_heads = 1;
  cfg.vision_layers = 1;
  check_clip_image (&cfg, "clip-vit");
}

static void
test_image_vgg (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *in = g_build_filename (dir, "in.safetensors", NULL);
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autoptr (T2iTensor) x = images (2, 32);
  const char *names[] = { "image", NULL };
  T2iTensor *ts[] = { x, NULL };
  test_save (in, names, ts);
  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iimageencoder arch=vgg19 output=vgg layers=relu1_1,pool2,conv3_1 "
      "trainable=false ! t2itensorsink location=%s", in, out);
  run_ok (desc);
  g_autoptr (T2iSafetensors) got = load (out);
  const struct
  {
    const char *name;
    gint64 c, s;
  } want[] = { {"vgg/relu1_1", 64, 32}, {"vgg/pool2", 128, 8},
  {"vgg/conv3_1", 256, 8}
  };
  for (guint i = 0; i < G_N_ELEMENTS (want); i++) {
    g_autoptr (T2iTensor) t = get (got, want[i].name);
    g_assert_cmpint (t->ndim, ==, 4);
    g_assert_cmpint (t->shape[1], ==, want[i].c);
    g_assert_cmpint (t->shape[2], ==, want[i].s);
  }
  g_autofree char *bad = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iimageencoder arch=vgg19 layers=relu9_9 ! fakesink", in);
  run_fails (bad, "relu9_9");
  test_rmdir (dir);
}

/* ---- the loss against PyTorch ---- */

static void
test_clip_loss_golden (void)
{
  static const char *const cases[] = { "init", "s3", "clamped" };
  g_autofree char *in = golden ("loss-in.safetensors");
  g_autofree char *gold_path = golden ("loss-out.safetensors");
  g_autoptr (T2iSafetensors) gold = load (gold_path);
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *out = g_build_filename (dir, "out.safetensors", NULL);
  g_autofree char *ck = g_build_filename (dir, "ck.safetensors", NULL);

  for (guint c = 0; c < G_N_ELEMENTS (cases); c++) {
    g_autofree char *sname = g_strdup_printf ("scale-%s.safetensors",
        cases[c]);
    g_autofree char *scale = golden (sname);
    g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
        "requires-grad=img_emb,text_emb ! t2iloss name=L kind=clip "
        "input=img_emb cond=text_emb weights=%s update=L output=x ! "
        "t2itensorsink location=%s grads-of=loss/x", in, scale, out);
    run_ok (desc);
    g_autoptr (T2iSafetensors) got = load (out);
    const char *const entries[] = { "loss", "grad/img_emb",
      "grad/text_emb"
    };
    const char *const mine[] = { "loss/x", "grad/img_emb", "grad/text_emb" };
    for (guint k = 0; k < G_N_ELEMENTS (entries); k++) {
      g_autofree char *gn = g_strdup_printf ("%s/%s", cases[c], entries[k]);
      g_autoptr (T2iTensor) a = get (got, mine[k]);
      g_autoptr (T2iTensor) b = t2i_safetensors_get (gold, gn);
      compare_tensors (a, b, gn);
    }

    /* d loss / d logit_scale: one SGD step of lr 1 moves it by that */
    g_autofree char *train = g_strdup_printf ("t2itensorsrc location=%s ! "
        "t2iloss name=L kind=clip input=img_emb cond=text_emb weights=%s "
        "update=L output=x ! t2itrainer optimizer=sgd lr=1 checkpoint=%s",
        in, scale, ck);
    run_ok (train);
    g_autoptr (T2iSafetensors) s0 = load (scale);
    g_autoptr (T2iSafetensors) s1 = load (ck);
    g_autoptr (T2iTensor) before = get (s0, "L.logit_scale");
    g_autoptr (T2iTensor) after = get (s1, "L.logit_scale");
    g_autoptr (T2iTensor) step = t2i_sub (before, after);
    g_autofree char *gn = g_strdup_printf ("%s/grad/logit_scale", cases[c]);
    g_autoptr (T2iTensor) want = t2i_safetensors_get (gold, gn);
    double d = t2i_tensor_item (step), w = t2i_tensor_item (want);
    g_test_message ("%s: %.6g, PyTorch %.6g", gn, d, w);
    g_assert_cmpfloat (fabs (d - w), <, 1e-5 + 1e-3 * fabs (w));
  }
  test_rmdir (dir);
}

/* ---- shared group, training ---- */

static void
test_train (void)
{
  g_autofree char *dir = test_tmpdir ();
  g_autofree char *batch = g_build_filename (dir, "b.safetensors", NULL);
  g_autofree char *ck = g_build_filename (dir, "ck.safetensors", NULL);
  /* beside the checkpoint, where t2itextencoder looks without vocab= */
  g_autofree char *vocab = g_build_filename (dir, "ck-vocab.txt", NULL);
  g_autofree char *grab = g_strdup_printf ("t2idatasetsrc dataset=shapes "
      "batch-size=16 resolution=16 max-steps=1 ! t2itensorsink location=%s",
      batch);
  run_ok (grab);

  g_autofree char *desc = g_strdup_printf ("t2itensorsrc location=%s "
      "repeat=20 ! t2iimageencoder arch=cnn group=clip widths=8,16,32 "
      "embed-dim=32 ! t2itextencoder group=clip vocab=%s vocab-merges=50 "
      "width=64 layers=1 context=24 embed-dim=32 ! t2iloss kind=clip "
      "group=clip input=img_emb cond=text_emb update=clip output=clip ! "
      "t2itrainer lr=0.003 report-every=1 checkpoint=%s", batch, vocab, ck);
  g_autoptr (GPtrArray) msgs =
      g_ptr_array_new_with_free_func ((GDestroyNotify) gst_structure_free);
  g_autofree char *err = NULL;
  if (!test_run_pipeline (desc, &err, "t2i-train", msgs))
    g_error ("training failed: %s", err);
  g_assert_cmpuint (msgs->len, ==, 20);
  double first = 0, last = 0;
  for (guint i = 0; i < msgs->len; i++) {
    double l;
    g_assert_true (gst_structure_get_double (msgs->pdata[i], "loss/clip",
            &l));
    g_assert_true (isfinite (l));
    if (i < 3)
      first += l / 3;
    if (i >= msgs->len - 3)
      last += l / 3;
  }
  g_test_message ("loss: first steps %.4f, last steps %.4f", first, last);
  g_assert_cmpfloat (last, <, first - 0.1);

  /* one group, official names: the checkpoint is a CLIP file */
  g_assert_true (g_file_test (vocab, G_FILE_TEST_EXISTS));
  g_autoptr (T2iSafetensors) st = load (ck);
  g_assert_true (t2i_safetensors_has (st, "clip.token_embedding.weight"));
  g_assert_true (t2i_safetensors_has (st, "clip.visual.head.weight"));
  g_assert_true (t2i_safetensors_has (st, "clip.logit_scale"));
  GError *e = NULL;
  g_autoptr (T2iClip) clip = t2i_clip_new_from_safetensors (st, "clip.",
      T2I_CLIP_BOTH, &e);
  g_assert_no_error (e);
  g_assert_true (t2i_clip_has_text (clip) && t2i_clip_has_vision (clip));

  /* and loads back into the elements: prefix "clip." found, arch=clip
   * (default) finds the CNN, the vocabulary beside the weights */
  g_autofree char *eval = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iimageencoder weights=%s ! t2itextencoder weights=%s ! fakesink",
      batch, ck, ck);
  run_ok (eval);
  /* the three in one group again, each loading its own parameters */
  g_autofree char *again = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2iimageencoder group=clip weights=%s ! t2itextencoder group=clip "
      "weights=%s ! t2iloss kind=clip group=clip weights=%s input=img_emb "
      "cond=text_emb update=clip output=clip ! fakesink", batch, ck, ck, ck);
  run_ok (again);
  /* without it, byte tokens would be wrong ids for this model */
  g_autofree char *moved = g_build_filename (dir, "other.safetensors", NULL);
  g_assert_cmpint (g_rename (ck, moved), ==, 0);
  g_autofree char *novocab = g_strdup_printf ("t2itensorsrc location=%s ! "
      "t2itextencoder weights=%s ! fakesink", batch, moved);
  run_fails (novocab, "set vocab=");
  test_rmdir (dir);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  test_elements_register ();
  g_test_add_func ("/encoders/text", test_text_encoder);
  g_test_add_func ("/encoders/image-cnn", test_image_cnn);
  g_test_add_func ("/encoders/image-vit", test_image_vit);
  g_test_add_func ("/encoders/image-vgg19", test_image_vgg);
  g_test_add_func ("/encoders/clip-loss-golden", test_clip_loss_golden);
  g_test_add_func ("/encoders/train", test_train);
  return g_test_run ();
}
