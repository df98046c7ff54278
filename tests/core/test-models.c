/* Tests for core/models/: CLIP (text transformer, ViT, CNN encoder,
 * preprocessing), VGG19 and Inception-v3 against PyTorch.
 *
 * The goldens (tests/golden/models/, written by tests/gen-models-golden.py)
 * hold reference outputs only.  Weights come from a formula of the tensor
 * name that both sides implement (see the script's docstring and
 * fill_formula() below); the C side writes them to a safetensors file
 * under the exact names of the PyTorch state dict (listed in models.json)
 * and loads that file through the official-name loaders, so the names,
 * the shape inference and the numerics are all checked.
 *
 * Errors are relative to the reference's largest magnitude:
 * max |got - ref| / max |ref| (the f32 outputs against float64 PyTorch).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/clip.h>
#include <t2i/inception.h>
#include <t2i/vgg.h>
#include <json-glib/json-glib.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#define TOL 1e-4

static JsonObject *cases;
static T2iSafetensors *golden;
static char *tmpdir;
static gint64 n_samples;

/* ---- the weight formula (tests/gen-models-golden.py) ---- */

static guint32
fnv1a (const char *s)
{
  guint32 h = 0x811C9DC5u;
  for (; *s; s++) {
    h ^= (guint8) * s;
    h *= 0x01000193u;
  }
  return h;
}

static void
fill_formula (T2iTensor * t, const char *name, double lo, double hi)
{
  const guint64 m = 0xFFFFFFFFu;
  guint64 seed = fnv1a (name);
  float *out = t2i_tensor_f32 (t);

  for (gint64 i = 0; i < t->numel; i++) {
    guint64 x = ((guint64) i * 0x9E3779B1u + seed) & m;
    x = ((x ^ (x >> 16)) * 0x45D9F3Bu) & m;
    x = ((x ^ (x >> 16)) * 0x45D9F3Bu) & m;
    x ^= x >> 16;
    double u = (double) (x >> 8) * (1.0 / 16777216.0);
    out[i] = (float) (lo + (hi - lo) * u);
  }
}

static void
weight_range (const char *name, gint nd, const gint64 * shape, double *lo,
    double *hi)
{
  double b;
  if (nd == 0) {
    *lo = 2.0;
    *hi = 3.0;
  } else if (g_str_has_suffix (name, "running_var")) {
    *lo = 0.5;
    *hi = 1.5;
  } else if (g_str_has_suffix (name, "running_mean")) {
    *lo = -0.2;
    *hi = 0.2;
  } else if (g_str_has_suffix (name, "positional_embedding")
      || g_str_has_suffix (name, "class_embedding")
      || g_str_has_suffix (name, "token_embedding.weight")) {
    *lo = -0.5;
    *hi = 0.5;
  } else if (g_str_has_suffix (name, "visual.proj")
      || g_str_has_suffix (name, "text_projection")) {
    b = sqrt (3.0 / (double) shape[0]);
    *lo = -b;
    *hi = b;
  } else if (nd == 1) {
    gboolean w = g_str_has_suffix (name, "weight");
    *lo = w ? 0.8 : -0.2;
    *hi = w ? 1.2 : 0.2;
  } else {
    gint64 fan_in = 1;
    for (gint d = 1; d < nd; d++)
      fan_in *= shape[d];
    b = sqrt (6.0 / (double) fan_in);
    *lo = -b;
    *hi = b;
  }
}

static T2iTensor *
formula_tensor (const char *name, gint nd, const gint64 * shape, double lo,
    double hi)
{
  T2iTensor *t = t2i_tensor_new (T2I_F32, nd, shape);
  fill_formula (t, name, lo, hi);
  return t;
}

static T2iTensor *
input_tensor (const char *kase, gint nd, const gint64 * shape)
{
  g_autofree char *name = g_strconcat ("input:", kase, NULL);
  return formula_tensor (name, nd, shape, -1.0, 1.0);
}

static T2iTensor *
cotangent (const char *kase, gint nd, const gint64 * shape)
{
  g_autofree char *name = g_strconcat ("r:", kase, NULL);
  return formula_tensor (name, nd, shape, -1.0, 1.0);
}

/* ---- goldens ---- */

static JsonObject *
get_case (const char *name)
{
  g_assert_true (json_object_has_member (cases, name));
  return json_object_get_object_member (cases, name);
}

static void
json_shape (JsonArray * a, gint * nd, gint64 * shape)
{
  *nd = (gint) json_array_get_length (a);
  g_assert_cmpint (*nd, <=, T2I_MAX_DIMS);
  for (gint d = 0; d < *nd; d++)
    shape[d] = json_array_get_int_element (a, d);
}

static T2iTensor *
case_input (const char *kase)
{
  gint nd;
  gint64 shape[T2I_MAX_DIMS];
  json_shape (json_object_get_array_member (get_case (kase), "input"), &nd,
      shape);
  return input_tensor (kase, nd, shape);
}

static T2iTensor *
ref (const char *kase, const char *what)
{
  g_autofree char *name = g_strdup_printf ("%s/%s", kase, what);
  T2iTensor *t = t2i_safetensors_get (golden, name);
  if (!t)
    g_error ("golden tensor %s missing: rerun tests/gen-models-golden.py",
        name);
  return t;
}

/* max |a - b| / max |b| */
static double
rel_err (T2iTensor * got, T2iTensor * want)
{
  double num = 0, den = 0;
  g_assert_cmpint (got->numel, ==, want->numel);
  for (gint64 i = 0; i < got->numel; i++) {
    double g = t2i_tensor_get (got, i), w = t2i_tensor_get (want, i);
    double d = fabs (g - w);
    num = isnan (d) ? INFINITY : MAX (num, d);
    den = MAX (den, fabs (w));
  }
  return num / MAX (den, 1e-30);
}

static double worst;

static void
check_close (const char *what, T2iTensor * got, T2iTensor * want)
{
  g_assert_nonnull (got);
  g_assert_true (t2i_tensor_same_shape (got, want)
      || got->numel == want->numel);
  double e = rel_err (got, want);
  worst = MAX (worst, e);
  g_test_message ("%-34s rel err %.2e", what, e);
  if (!(e < TOL))
    g_error ("%s: relative error %.3e above %.0e", what, e, TOL);
}

static void
check_ref (const char *kase, const char *what, T2iTensor * got)
{
  g_autoptr (T2iTensor) want = ref (kase, what);
  g_autofree char *label = g_strdup_printf ("%s/%s", kase, what);
  check_close (label, got, want);
}

/* compares the golden's samples (every stride-th element) and |.| sum */
static void
check_sampled (const char *kase, const char *what, gint64 stride,
    T2iTensor * got)
{
  g_autoptr (T2iTensor) want = ref (kase, what);
  g_autofree char *sumname = g_strconcat (what, ".abssum", NULL);
  g_autoptr (T2iTensor) want_sum = ref (kase, sumname);
  gint64 n = (got->numel + stride - 1) / stride;
  g_autoptr (T2iTensor) s = t2i_tensor_new (T2I_F64, T2I_SHAPE (n));
  double abssum = 0;

  g_assert_cmpint (stride, ==, MAX (1, (got->numel + n_samples - 1)
          / n_samples));
  for (gint64 i = 0; i < n; i++)
    t2i_tensor_f64 (s)[i] = t2i_tensor_get (got, i * stride);
  for (gint64 i = 0; i < got->numel; i++)
    abssum += fabs (t2i_tensor_get (got, i));
  g_autofree char *label = g_strdup_printf ("%s/%s", kase, what);
  check_close (label, s, want);
  double ws = t2i_tensor_get (want_sum, 0);
  double e = fabs (abssum - ws) / MAX (ws, 1e-30);
  g_test_message ("%-34s rel err %.2e (sum |x|)", label, e);
  worst = MAX (worst, e);
  g_assert_cmpfloat (e, <, TOL);
}

static gint64
stride_of (const char *kase, const char *what)
{
  JsonObject *st = json_object_get_object_member (get_case (kase), "strides");
  return json_object_get_int_member (st, what);
}

/* ---- weight files ---- */

typedef struct
{
  GPtrArray *names;
  GPtrArray *tensors;
} State;

static void
state_init (State * s)
{
  s->names = g_ptr_array_new_with_free_func (g_free);
  s->tensors = g_ptr_array_new_with_free_func ((GDestroyNotify)
      t2i_tensor_unref);
}

static void
state_clear (State * s)
{
  g_ptr_array_unref (s->names);
  g_ptr_array_unref (s->tensors);
}

static void
state_add (State * s, const char *name, T2iTensor * t)
{
  g_ptr_array_add (s->names, g_strdup (name));
  g_ptr_array_add (s->tensors, t);
}

/* the formula weights of a case's state dict, names prefixed */
static void
state_from_case (State * s, const char *kase, const char *prefix)
{
  JsonArray *arr = json_object_get_array_member (get_case (kase), "state");
  state_init (s);
  for (guint i = 0; i < json_array_get_length (arr); i++) {
    JsonArray *e = json_array_get_array_element (arr, i);
    const char *name = json_array_get_string_element (e, 0);
    gint nd;
    gint64 shape[T2I_MAX_DIMS];
    double lo, hi;
    json_shape (json_array_get_array_element (e, 1), &nd, shape);
    weight_range (name, nd, shape, &lo, &hi);
    g_autofree char *full = g_strconcat (prefix ? prefix : "", name, NULL);
    state_add (s, full, formula_tensor (name, nd, shape, lo, hi));
  }
}

static gint
state_find (State * s, const char *name)
{
  for (guint i = 0; i < s->names->len; i++)
    if (strcmp (g_ptr_array_index (s->names, i), name) == 0)
      return (gint) i;
  g_error ("no %s in the state", name);
  return -1;
}

static T2iSafetensors *
state_save (State * s, const char *file, GHashTable * meta)
{
  g_autofree char *path = g_build_filename (tmpdir, file, NULL);
  g_autoptr (GError) err = NULL;
  g_assert_true (t2i_safetensors_save (path, (const char *const *)
          s->names->pdata, (T2iTensor **) s->tensors->pdata, s->names->len,
          meta, &err));
  g_assert_no_error (err);
  T2iSafetensors *st = t2i_safetensors_load (path, &err);
  g_assert_no_error (err);
  /* the data is mapped: the file can go now */
  g_unlink (path);
  return st;
}

static T2iSafetensors *
case_file (const char *kase, const char *prefix)
{
  State s;
  state_from_case (&s, kase, prefix);
  T2iSafetensors *st = state_save (&s, kase, NULL);
  state_clear (&s);
  return st;
}

/* ---- preprocessing ---- */

static void
test_preprocess (void)
{
  const char *kase = "preprocess_up";
  g_autoptr (T2iTensor) x = case_input (kase);
  g_autoptr (T2iTensor) y = t2i_clip_preprocess_images (x, 32);
  g_assert_cmpint (y->shape[2], ==, 32);
  g_assert_cmpint (y->shape[3], ==, 32);
  check_ref (kase, "out", y);
  g_autoptr (T2iTensor) r = t2i_resize_bicubic2d (x, 13, 29);
  check_ref (kase, "resize", r);

  /* f64 agrees with f32 and gives the identity at the same size */
  g_autoptr (T2iTensor) x64 = t2i_tensor_to_dtype (x, T2I_F64);
  g_autoptr (T2iTensor) r64 = t2i_resize_bicubic2d (x64, 13, 29);
  g_assert_cmpfloat (rel_err (r, r64), <, 1e-6);
  g_autoptr (T2iTensor) same = t2i_resize_bicubic2d (x64, 27, 20);
  g_assert_cmpfloat (rel_err (same, x64), <, 1e-12);
}

/* ---- CLIP ---- */

static void
assert_vit_config (const T2iClipConfig * c)
{
  JsonObject *want = json_object_get_object_member (get_case ("clip_vit"),
      "config");
#define EQ(field, key) g_assert_cmpint (c->field, ==, \
    json_object_get_int_member (want, key))
  EQ (embed_dim, "embed_dim");
  EQ (context_length, "context_length");
  EQ (vocab_size, "vocab_size");
  EQ (text_width, "text_width");
  EQ (text_heads, "text_heads");
  EQ (text_layers, "text_layers");
  EQ (image_size, "image_size");
  EQ (vision_width, "vision_width");
  EQ (vision_heads, "vision_heads");
  EQ (vision_layers, "vision_layers");
  EQ (patch_size, "patch_size");
#undef EQ
  g_assert_cmpint (c->vision, ==, T2I_CLIP_VISION_VIT);
  /* the shapes chosen for the test: heads = width / 64 */
  g_assert_cmpint (c->text_heads, ==, 2);
  g_assert_cmpint (c->vision_heads, ==, 3);
}

static void
check_clip_image (T2iClip * clip, const char *kase, gboolean grads)
{
  g_autoptr (T2iTensor) x = case_input (kase);
  t2i_tensor_set_requires_grad (x, grads);
  g_autoptr (T2iTensor) pre = t2i_clip_preprocess (clip, x);
  check_ref (kase, "preprocessed", pre);
  g_autoptr (T2iTensor) emb = t2i_clip_encode_image (clip, pre);
  check_ref (kase, "image", emb);
  if (!grads)
    return;
  g_autoptr (T2iTensor) r = cotangent (kase, emb->ndim, emb->shape);
  g_autoptr (T2iTensor) prod = t2i_mul (emb, r);
  g_autoptr (T2iTensor) loss = t2i_sum (prod, T2I_ALL_AXES, FALSE);
  t2i_backward (loss, (T2iTensor *[]) { x, NULL });
  g_assert_nonnull (x->grad);
  check_ref (kase, "image_grad", x->grad);
}

static void
test_clip_vit (void)
{
  const char *kase = "clip_vit";
  g_autoptr (GError) err = NULL;
  g_autoptr (T2iSafetensors) st = case_file (kase, NULL);
  g_autoptr (T2iClip) clip = t2i_clip_new_from_safetensors (st, NULL,
      T2I_CLIP_TOWERS_PRESENT, &err);
  g_assert_no_error (err);
  assert_vit_config (t2i_clip_get_config (clip));
  g_assert_true (t2i_clip_has_text (clip) && t2i_clip_has_vision (clip));
  /* parameters carry the official names */
  T2iParamGroup *g = t2i_clip_get_params (clip);
  g_assert_nonnull (t2i_param_group_lookup (g,
          "visual.transformer.resblocks.1.attn.in_proj_weight"));
  g_assert_nonnull (t2i_param_group_lookup (g,
          "transformer.resblocks.0.mlp.c_proj.bias"));

  /* text: pooled and per-token */
  g_autoptr (T2iTensor) tokens = ref (kase, "tokens");
  T2iTensor *per_token = NULL;
  g_autoptr (T2iTensor) text = t2i_clip_encode_text (clip, tokens, &per_token);
  check_ref (kase, "text", text);
  check_ref (kase, "per_token", per_token);

  /* a shorter context gives the same rows (causal mask) */
  g_autoptr (T2iTensor) two = t2i_slice (tokens, 0, 0, 2);
  g_autoptr (T2iTensor) short9 = t2i_slice (two, 1, 0, 9);
  T2iTensor *pt9 = NULL;
  g_autoptr (T2iTensor) text9 = t2i_clip_encode_text (clip, short9, &pt9);
  g_autoptr (T2iTensor) text2 = t2i_slice (text, 0, 0, 2);
  g_autoptr (T2iTensor) pt2 = t2i_slice (per_token, 0, 0, 2);
  g_autoptr (T2iTensor) pt2_9 = t2i_slice (pt2, 1, 0, 9);
  g_assert_cmpfloat (rel_err (text9, text2), <, 1e-5);
  g_assert_cmpfloat (rel_err (pt9, pt2_9), <, 1e-5);
  t2i_tensor_unref (pt9);
  /* without per-token output, rows padded to 77 run only 9 positions */
  g_autoptr (T2iTensor) text_auto = t2i_clip_encode_text (clip, two, NULL);
  g_assert_cmpfloat (rel_err (text_auto, text2), <, 1e-5);

  /* image: preprocessing, embedding, gradient to the [-1, 1] input */
  check_clip_image (clip, kase, TRUE);

  /* logits */
  g_autoptr (T2iTensor) x = case_input (kase);
  g_autoptr (T2iTensor) pre = t2i_clip_preprocess (clip, x);
  g_autoptr (T2iTensor) img = t2i_clip_encode_image (clip, pre);
  g_autoptr (T2iTensor) logits = t2i_clip_logits (clip, img, text);
  check_ref (kase, "logits", logits);

  /* save and reload through t2i_clip_save() (metadata carries the heads) */
  g_autofree char *path = g_build_filename (tmpdir, "clip-saved", NULL);
  g_assert_true (t2i_clip_save (clip, path, &err));
  g_assert_no_error (err);
  g_autoptr (T2iSafetensors) st2 = t2i_safetensors_load (path, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (t2i_safetensors_get_metadata (st2, "t2i.clip.text_heads"),
      ==, "2");
  g_autoptr (T2iClip) clip2 = t2i_clip_new_from_safetensors (st2, "",
      T2I_CLIP_BOTH, &err);
  g_assert_no_error (err);
  g_autoptr (T2iTensor) text_again = t2i_clip_encode_text (clip2, tokens, NULL);
  g_assert_cmpfloat (rel_err (text_again, text), ==, 0.0);
  g_assert_cmpfloat (t2i_tensor_item (t2i_clip_get_logit_scale (clip2)), ==,
      t2i_tensor_item (t2i_clip_get_logit_scale (clip)));
  g_unlink (path);
  t2i_tensor_unref (per_token);
}

/* one tower out of a full file; an element's group with prefixed names */
static void
test_clip_towers (void)
{
  const char *kase = "clip_vit";
  g_autoptr (GError) err = NULL;
  g_autoptr (T2iSafetensors) st = case_file (kase, NULL);

  g_autoptr (T2iClip) vis = t2i_clip_new_from_safetensors (st, NULL,
      T2I_CLIP_VISION, &err);
  g_assert_no_error (err);
  g_assert_false (t2i_clip_has_text (vis));
  g_assert_true (t2i_clip_has_vision (vis));
  g_assert_null (t2i_param_group_lookup (t2i_clip_get_params (vis),
          "token_embedding.weight"));
  check_clip_image (vis, kase, FALSE);

  g_autoptr (T2iClip) txt = t2i_clip_new_from_safetensors (st, NULL,
      T2I_CLIP_TEXT, &err);
  g_assert_no_error (err);
  g_assert_false (t2i_clip_has_vision (txt));
  g_autoptr (T2iTensor) tokens = ref (kase, "tokens");
  g_autoptr (T2iTensor) text = t2i_clip_encode_text (txt, tokens, NULL);
  check_ref (kase, "text", text);

  /* as an element would: model in group "G" under module prefix "clip",
   * file written with the names "G.clip.<official>", loaded with
   * t2i_param_group_load() (weights=) */
  T2iClipConfig cfg;
  T2iRng rng;
  g_assert_true (t2i_clip_config_from_safetensors (st, "", T2I_CLIP_BOTH,
          &cfg, &err));
  g_assert_no_error (err);
  t2i_rng_init (&rng, 7);
  g_autoptr (T2iParamGroup) group = t2i_param_group_new ("G");
  g_autoptr (T2iClip) clip = t2i_clip_new (&cfg, group, "clip", &rng);
  g_autoptr (T2iSafetensors) pst = case_file (kase, "G.clip.");
  g_assert_true (t2i_param_group_load (group, pst, NULL, TRUE, &err));
  g_assert_no_error (err);
  g_autoptr (T2iTensor) text2 = t2i_clip_encode_text (clip, tokens, NULL);
  check_ref (kase, "text", text2);
  /* a fresh, randomly initialised model: t2i_clip_load() with a file
   * prefix */
  g_autoptr (T2iClip) fresh = t2i_clip_new (&cfg, NULL, NULL, &rng);
  g_assert_true (t2i_clip_load (fresh, pst, "G.clip.", &err));
  g_assert_no_error (err);
  check_clip_image (fresh, kase, FALSE);
}

static void
test_clip_text_only (void)
{
  const char *kase = "clip_text";
  g_autoptr (GError) err = NULL;
  g_autoptr (T2iSafetensors) st = case_file (kase, NULL);
  T2iClipConfig cfg;

  g_assert_true (t2i_clip_config_from_safetensors (st, NULL,
          T2I_CLIP_TOWERS_PRESENT, &cfg, &err));
  g_assert_no_error (err);
  g_assert_cmpint (cfg.vision, ==, T2I_CLIP_VISION_NONE);
  g_assert_cmpint (cfg.text_width, ==, 64);
  g_assert_cmpint (cfg.text_heads, ==, 1);
  g_assert_cmpint (cfg.text_layers, ==, 1);
  g_assert_cmpint (cfg.context_length, ==, 16);
  g_assert_cmpint (cfg.vocab_size, ==, 300);
  g_assert_cmpint (cfg.embed_dim, ==, 32);

  g_autoptr (T2iClip) clip = t2i_clip_new_from_safetensors (st, NULL,
      T2I_CLIP_TOWERS_PRESENT, &err);
  g_assert_no_error (err);
  /* no logit_scale in the file: the initial value stays */
  g_assert_cmpfloat_with_epsilon (t2i_tensor_item (t2i_clip_get_logit_scale
          (clip)), log (1 / 0.07), 1e-6);
  g_autoptr (T2iTensor) tokens = ref (kase, "tokens");
  T2iTensor *per_token = NULL;
  g_autoptr (T2iTensor) text = t2i_clip_encode_text (clip, tokens, &per_token);
  check_ref (kase, "text", text);
  check_ref (kase, "per_token", per_token);
  t2i_tensor_unref (per_token);

  /* asking for the missing tower */
  T2iClip *none = t2i_clip_new_from_safetensors (st, NULL, T2I_CLIP_BOTH,
      &err);
  g_assert_null (none);
  g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND);
  g_test_message ("%s", err->message);
  g_assert_nonnull (strstr (err->message, "image tower"));
}

static void
test_clip_errors (void)
{
  g_autoptr (GError) err = NULL;
  State s;

  /* one tensor missing, one mis-shaped: one error naming both */
  state_from_case (&s, "clip_text", NULL);
  gint fc = state_find (&s, "transformer.resblocks.0.mlp.c_fc.weight");
  t2i_tensor_unref (g_ptr_array_index (s.tensors, fc));
  g_ptr_array_index (s.tensors, fc) = t2i_tensor_zeros (T2I_F32,
      T2I_SHAPE (255, 64));
  g_ptr_array_remove_index (s.tensors, state_find (&s, "ln_final.bias"));
  g_ptr_array_remove_index (s.names, state_find (&s, "ln_final.bias"));
  {
    g_autoptr (T2iSafetensors) st = state_save (&s, "bad", NULL);
    T2iClip *c = t2i_clip_new_from_safetensors (st, NULL,
        T2I_CLIP_TOWERS_PRESENT, &err);
    g_assert_null (c);
    g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_MISMATCH);
    g_test_message ("%s", err->message);
    g_assert_nonnull (strstr (err->message, "missing: ln_final.bias"));
    g_assert_nonnull (strstr (err->message,
            "transformer.resblocks.0.mlp.c_fc.weight (file [255,64], "
            "model [256,64])"));
    g_assert_null (strchr (err->message, '\n'));
    g_clear_error (&err);
  }
  state_clear (&s);

  /* not a CLIP file at all */
  {
    g_autoptr (T2iSafetensors) st = case_file ("clip_cnn", "x.");
    g_assert_null (t2i_clip_new_from_safetensors (st, NULL,
            T2I_CLIP_TOWERS_PRESENT, &err));
    g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND);
    g_test_message ("%s", err->message);
    g_clear_error (&err);
  }

  /* ResNet CLIP */
  state_init (&s);
  state_add (&s, "visual.layer1.0.conv1.weight",
      t2i_tensor_zeros (T2I_F32, T2I_SHAPE (4, 4, 1, 1)));
  {
    g_autoptr (T2iSafetensors) st = state_save (&s, "resnet", NULL);
    g_assert_null (t2i_clip_new_from_safetensors (st, NULL,
            T2I_CLIP_TOWERS_PRESENT, &err));
    g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_UNSUPPORTED);
    g_clear_error (&err);
  }
  state_clear (&s);

  /* width 32: heads cannot be inferred unless the metadata says */
  T2iClipConfig cfg;
  T2iRng rng;
  t2i_clip_config_init_small (&cfg, 32, 100);
  cfg.vision = T2I_CLIP_VISION_NONE;
  cfg.text_width = 32;
  cfg.text_heads = 2;
  cfg.text_layers = 1;
  cfg.context_length = 8;
  t2i_rng_init (&rng, 1);
  g_autoptr (T2iClip) small = t2i_clip_new (&cfg, NULL, NULL, &rng);
  state_init (&s);
  T2iParamGroup *g = t2i_clip_get_params (small);
  for (guint i = 0; i < t2i_param_group_n_params (g); i++) {
    T2iParam *p = t2i_param_group_get (g, i);
    state_add (&s, p->name, t2i_tensor_ref (p->value));
  }
  {
    g_autoptr (T2iSafetensors) st = state_save (&s, "w32", NULL);
    g_assert_false (t2i_clip_config_from_safetensors (st, NULL,
            T2I_CLIP_TOWERS_PRESENT, &cfg, &err));
    g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG);
    g_test_message ("%s", err->message);
    g_clear_error (&err);
  }
  {
    g_autoptr (GHashTable) meta = g_hash_table_new (g_str_hash, g_str_equal);
    g_hash_table_insert (meta, (gpointer) "t2i.clip.text_heads",
        (gpointer) "2");
    g_autoptr (T2iSafetensors) st = state_save (&s, "w32m", meta);
    g_autoptr (T2iClip) c = t2i_clip_new_from_safetensors (st, NULL,
        T2I_CLIP_TOWERS_PRESENT, &err);
    g_assert_no_error (err);
    g_assert_cmpint (t2i_clip_get_config (c)->text_heads, ==, 2);
  }
  state_clear (&s);

  /* invalid configs */
  t2i_clip_config_init_small (&cfg, 32, 100);
  cfg.cnn_widths[1] = 100;
  g_assert_false (t2i_clip_config_validate (&cfg, &err));
  g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG);
  g_clear_error (&err);
  t2i_clip_config_init_vit_b32 (&cfg);
  cfg.image_size = 200;
  g_assert_false (t2i_clip_config_validate (&cfg, &err));
  g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG);
}

static void
test_clip_cnn (void)
{
  const char *kase = "clip_cnn";
  g_autoptr (GError) err = NULL;
  g_autoptr (T2iSafetensors) st = case_file (kase, NULL);
  g_autoptr (T2iClip) clip = t2i_clip_new_from_safetensors (st, NULL,
      T2I_CLIP_TOWERS_PRESENT, &err);
  g_assert_no_error (err);
  const T2iClipConfig *c = t2i_clip_get_config (clip);
  g_assert_cmpint (c->vision, ==, T2I_CLIP_VISION_CNN);
  g_assert_cmpint (c->text_width, ==, 0);
  g_assert_cmpint (c->cnn_stem, ==, 16);
  g_assert_cmpint (c->cnn_n_stages, ==, 2);
  g_assert_cmpint (c->cnn_widths[0], ==, 16);
  g_assert_cmpint (c->cnn_widths[1], ==, 32);
  g_assert_cmpint (c->cnn_depth, ==, 2);
  g_assert_cmpint (c->embed_dim, ==, 24);
  g_assert_cmpint (c->image_size, ==, 64);      /* no metadata: default */

  g_autoptr (T2iTensor) x = case_input (kase);
  t2i_tensor_set_requires_grad (x, TRUE);
  g_autoptr (T2iTensor) emb = t2i_clip_encode_image (clip, x);
  check_ref (kase, "image", emb);
  g_autoptr (T2iTensor) r = cotangent (kase, emb->ndim, emb->shape);
  g_autoptr (T2iTensor) prod = t2i_mul (emb, r);
  g_autoptr (T2iTensor) loss = t2i_sum (prod, T2I_ALL_AXES, FALSE);
  t2i_backward (loss, (T2iTensor *[]) { x, NULL });
  check_ref (kase, "image_grad", x->grad);
}

/* forward + backward of the CNN image tower of @cfg, batch 64 */
static void
time_cnn (const T2iClipConfig * cfg, gint size, gint iterations)
{
  T2iClipConfig c = *cfg;
  T2iRng rng;
  gint64 n = 0;

  c.text_width = 0;
  t2i_rng_init (&rng, 9);
  g_autoptr (T2iClip) clip = t2i_clip_new (&c, NULL, NULL, &rng);
  T2iParamGroup *g = t2i_clip_get_params (clip);
  for (guint i = 0; i < t2i_param_group_n_params (g); i++) {
    T2iParam *p = t2i_param_group_get (g, i);
    if (g_str_has_prefix (p->name, "visual."))
      n += p->value->numel;
  }
  g_autoptr (T2iTensor) batch = input_tensor ("timing",
      T2I_SHAPE (64, 3, size, size));
  double best = INFINITY;
  for (gint it = 0; it < iterations; it++) {
    gint64 t0 = g_get_monotonic_time ();
    g_autoptr (T2iTensor) e = t2i_clip_encode_image (clip, batch);
    g_autoptr (T2iTensor) sq = t2i_square (e);
    g_autoptr (T2iTensor) l = t2i_mean (sq, T2I_ALL_AXES, FALSE);
    t2i_backward (l, NULL);
    best = MIN (best, (g_get_monotonic_time () - t0) / 1e6);
    t2i_param_group_zero_grad (g);
  }
  g_test_message ("CNN image encoder (stem %d, widths %d/%d/%d, depth %d): "
      "%" G_GINT64_FORMAT " parameters, forward+backward batch 64 at %dx%d: "
      "%.3f s (best of %d, %d threads)", c.cnn_stem, c.cnn_widths[0],
      c.cnn_widths[1], c.cnn_widths[2], c.cnn_depth, n, size, size, best,
      iterations, t2i_get_num_threads ());
}

/* forward + backward of the text tower of @cfg, batch 64 of captions of
 * @len tokens padded to the context */
static void
time_text (const T2iClipConfig * cfg, gint len, gint iterations)
{
  T2iClipConfig c = *cfg;
  T2iRng rng;

  c.vision = T2I_CLIP_VISION_NONE;
  t2i_rng_init (&rng, 10);
  g_autoptr (T2iClip) clip = t2i_clip_new (&c, NULL, NULL, &rng);
  g_autoptr (T2iTensor) tokens = t2i_tensor_zeros (T2I_I32,
      T2I_SHAPE (64, c.context_length));
  for (gint r = 0; r < 64; r++) {
    gint32 *row = t2i_tensor_i32 (tokens) + r * c.context_length;
    for (gint j = 0; j < len - 1; j++)
      row[j] = 1 + (r * 7 + j * 13) % (c.vocab_size - 2);
    row[len - 1] = c.vocab_size - 1;
  }
  double best = INFINITY;
  for (gint it = 0; it < iterations; it++) {
    gint64 t0 = g_get_monotonic_time ();
    g_autoptr (T2iTensor) e = t2i_clip_encode_text (clip, tokens, NULL);
    g_autoptr (T2iTensor) sq = t2i_square (e);
    g_autoptr (T2iTensor) l = t2i_mean (sq, T2I_ALL_AXES, FALSE);
    t2i_backward (l, NULL);
    best = MIN (best, (g_get_monotonic_time () - t0) / 1e6);
    t2i_param_group_zero_grad (t2i_clip_get_params (clip));
  }
  g_test_message ("text tower (width %d, %d layers): forward+backward batch "
      "64, captions of %d tokens: %.3f s (best of %d)", c.text_width,
      c.text_layers, len, best, iterations);
}

/* random init as OpenAI's, and the timing of the small CNN encoder */
static void
test_clip_init (void)
{
  T2iClipConfig cfg;
  T2iRng rng;

  t2i_clip_config_init_small (&cfg, 32, 1000);
  t2i_rng_init (&rng, 3);
  g_autoptr (T2iClip) clip = t2i_clip_new (&cfg, NULL, NULL, &rng);
  T2iParamGroup *g = t2i_clip_get_params (clip);
  T2iParam *te = t2i_param_group_lookup (g, "token_embedding.weight");
  T2iParam *inp = t2i_param_group_lookup (g,
      "transformer.resblocks.0.attn.in_proj_weight");
  double s2 = 0, s2b = 0;
  for (gint64 i = 0; i < te->value->numel; i++)
    s2 += t2i_tensor_get (te->value, i) * t2i_tensor_get (te->value, i);
  for (gint64 i = 0; i < inp->value->numel; i++)
    s2b += t2i_tensor_get (inp->value, i) * t2i_tensor_get (inp->value, i);
  g_assert_cmpfloat (fabs (sqrt (s2 / te->value->numel) - 0.02), <, 0.001);
  g_assert_cmpfloat (fabs (sqrt (s2b / inp->value->numel) - 1 / 16.0), <,
      0.002);
  g_assert_true (te->trainable);
  g_assert_cmpfloat_with_epsilon (t2i_tensor_item (t2i_clip_get_logit_scale
          (clip)), log (1 / 0.07), 1e-6);

  /* a contrastive step end to end */
  g_autoptr (T2iTensor) tokens = t2i_tensor_zeros (T2I_I32, T2I_SHAPE (4, 77));
  for (gint r = 0; r < 4; r++) {
    t2i_tensor_i32 (tokens)[r * 77] = 998;
    t2i_tensor_i32 (tokens)[r * 77 + 1] = r + 1;
    t2i_tensor_i32 (tokens)[r * 77 + 2] = 999;
  }
  g_autoptr (T2iTensor) x = input_tensor ("init", T2I_SHAPE (4, 3, 40, 40));
  g_autoptr (T2iTensor) pre = t2i_clip_preprocess (clip, x);
  g_autoptr (T2iTensor) img = t2i_clip_encode_image (clip, pre);
  g_autoptr (T2iTensor) txt = t2i_clip_encode_text (clip, tokens, NULL);
  g_autoptr (T2iTensor) logits = t2i_clip_logits (clip, img, txt);
  g_autoptr (T2iTensor) labels = t2i_tensor_from_data (T2I_I32,
      T2I_SHAPE (4), (gint32[]) { 0, 1, 2, 3 });
  g_autoptr (T2iTensor) loss = t2i_cross_entropy (logits, labels);
  t2i_backward (loss, NULL);
  g_assert_nonnull (te->value->grad);
  g_assert_nonnull (t2i_clip_get_logit_scale (clip)->grad);

  /* the CNN image tower: forward + backward, batch 64 at 32 x 32 */
  g_assert_nonnull (t2i_param_group_lookup (g, "visual.head.weight"));
  time_cnn (&cfg, 32, g_test_perf ()? 5 : 1);
  if (g_test_perf ()) {
    time_cnn (&cfg, 64, 3);
    time_text (&cfg, 16, 3);
    time_text (&cfg, 77, 2);
    cfg.cnn_depth = 2;
    time_cnn (&cfg, 32, 5);
    time_cnn (&cfg, 64, 3);
  }
}

/* ---- VGG19 ---- */

static void
test_vgg (void)
{
  g_autoptr (GError) err = NULL;
  g_autoptr (T2iSafetensors) st = case_file ("vgg_state", NULL);
  const char *const *taps = t2i_vgg19_tap_names ();
  gint n = (gint) g_strv_length ((char **) taps);
  g_assert_cmpint (n, ==, 38);
  g_assert_cmpint (g_strv_length ((char **) t2i_vgg19_sdn_taps ()), ==, 22);
  g_assert_cmpint (t2i_vgg19_tap_index ("relu3_4"), ==, 18);

  for (gint v = 0; v < 2; v++) {
    const char *kase = v == 0 ? "vgg_max_imagenet" : "vgg_avg_bgr255";
    g_autoptr (T2iVgg19) vgg = NULL;
    if (v == 0) {
      vgg = t2i_vgg19_new_from_safetensors (st, NULL, T2I_VGG_POOL_MAX,
          T2I_VGG_INPUT_IMAGENET, &err);
    } else {
      T2iRng rng;
      t2i_rng_init (&rng, 5);
      g_autoptr (T2iParamGroup) group = t2i_param_group_new ("teacher");
      vgg = t2i_vgg19_new (group, "vgg", T2I_VGG_POOL_AVG,
          T2I_VGG_INPUT_BGR255, &rng);
      g_assert_nonnull (t2i_param_group_lookup (group, "vgg.features.34.bias"));
      g_assert_false (t2i_param_group_lookup (group,
              "vgg.features.0.weight")->trainable);
      g_assert_true (t2i_vgg19_load (vgg, st, "", &err));
    }
    g_assert_no_error (err);
    g_autoptr (T2iTensor) x = case_input (kase);
    T2iTensor *out[38];
    g_assert_true (t2i_vgg19_forward (vgg, x, taps, n, out, &err));
    g_assert_no_error (err);
    for (gint i = 0; i < n; i++) {
      check_sampled (kase, taps[i], stride_of (kase, taps[i]), out[i]);
      t2i_tensor_unref (out[i]);
    }
    /* a shallow request stops early and matches */
    const char *few[2] = { "pool1", "conv1_2" };
    g_assert_true (t2i_vgg19_forward (vgg, x, few, 2, out, &err));
    check_sampled (kase, "pool1", stride_of (kase, "pool1"), out[0]);
    check_sampled (kase, "conv1_2", stride_of (kase, "conv1_2"), out[1]);
    t2i_tensor_unref (out[0]);
    t2i_tensor_unref (out[1]);
  }

  /* an unknown tap, a file without VGG */
  g_autoptr (T2iVgg19) vgg = t2i_vgg19_new_from_safetensors (st, NULL,
      T2I_VGG_POOL_MAX, T2I_VGG_INPUT_RAW, &err);
  g_autoptr (T2iTensor) x = input_tensor ("vgg", T2I_SHAPE (1, 3, 32, 32));
  T2iTensor *o;
  const char *bad = "conv6_1";
  g_assert_false (t2i_vgg19_forward (vgg, x, &bad, 1, &o, &err));
  g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT);
  g_clear_error (&err);
  g_autoptr (T2iSafetensors) other = case_file ("clip_text", NULL);
  g_assert_null (t2i_vgg19_new_from_safetensors (other, NULL,
          T2I_VGG_POOL_MAX, T2I_VGG_INPUT_RAW, &err));
  g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND);
}

/* ---- Inception-v3 ---- */

static void
test_inception_fid (void)
{
  const char *kase = "inception_fid";
  g_autoptr (GError) err = NULL;
  g_autoptr (T2iSafetensors) st = case_file (kase, NULL);
  g_autoptr (T2iInception) inc = t2i_inception_new_from_safetensors (st,
      NULL, T2I_INCEPTION_FID, &err);
  g_assert_no_error (err);
  g_assert_cmpint (t2i_inception_get_num_classes (inc), ==, 1008);
  g_autoptr (T2iTensor) x = case_input (kase);
  T2iInceptionOutputs out;
  gint64 t0 = g_get_monotonic_time ();
  g_assert_true (t2i_inception_forward (inc, x, TRUE, T2I_INCEPTION_BLOCK0 |
          T2I_INCEPTION_BLOCK1 | T2I_INCEPTION_MIXED_6E | T2I_INCEPTION_POOL
          | T2I_INCEPTION_LOGITS, &out, &err));
  g_test_message ("Inception-v3 (FID) forward, batch 2 at 299: %.2f s",
      (g_get_monotonic_time () - t0) / 1e6);
  g_assert_no_error (err);
  check_sampled (kase, "block0", stride_of (kase, "block0"), out.block0);
  check_sampled (kase, "block1", stride_of (kase, "block1"), out.block1);
  check_sampled (kase, "mixed_6e", stride_of (kase, "mixed_6e"), out.mixed_6e);
  check_ref (kase, "pool", out.pool);
  check_ref (kase, "logits", out.logits);
  t2i_inception_outputs_clear (&out);
  g_assert_null (out.pool);
}

static void
test_inception_torchvision (void)
{
  const char *kase = "inception_tv";
  g_autoptr (GError) err = NULL;
  g_autoptr (T2iSafetensors) st = case_file (kase, "m.");
  T2iRng rng;
  t2i_rng_init (&rng, 11);
  g_autoptr (T2iInception) inc = t2i_inception_new (NULL, "inc",
      T2I_INCEPTION_TORCHVISION, 0, &rng);
  g_assert_cmpint (t2i_inception_get_num_classes (inc), ==, 1000);
  g_assert_nonnull (t2i_param_group_lookup (t2i_inception_get_params (inc),
          "inc.Mixed_6e.branch7x7dbl_5.bn.running_var"));
  g_assert_true (t2i_inception_load (inc, st, "m.", &err));
  g_assert_no_error (err);

  g_autoptr (T2iTensor) x = case_input (kase);
  t2i_tensor_set_requires_grad (x, TRUE);
  T2iInceptionOutputs out;
  g_assert_true (t2i_inception_forward (inc, x, FALSE, T2I_INCEPTION_POOL |
          T2I_INCEPTION_LOGITS | T2I_INCEPTION_MIXED_6E, &out, &err));
  g_assert_no_error (err);
  g_assert_null (out.block0);
  check_sampled (kase, "mixed_6e", stride_of (kase, "mixed_6e"), out.mixed_6e);
  check_ref (kase, "pool", out.pool);
  check_ref (kase, "logits", out.logits);
  g_autoptr (T2iTensor) r = cotangent (kase, out.pool->ndim, out.pool->shape);
  g_autoptr (T2iTensor) prod = t2i_mul (out.pool, r);
  g_autoptr (T2iTensor) loss = t2i_sum (prod, T2I_ALL_AXES, FALSE);
  t2i_backward (loss, (T2iTensor *[]) { x, NULL });
  check_ref (kase, "pool_grad", x->grad);
  t2i_inception_outputs_clear (&out);

  /* too small without resizing; a mismatched file */
  g_autoptr (T2iTensor) small = input_tensor ("small", T2I_SHAPE (1, 3, 74,
          74));
  g_assert_false (t2i_inception_forward (inc, small, FALSE,
          T2I_INCEPTION_POOL, &out, &err));
  g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_ARGUMENT);
  g_clear_error (&err);
  g_autoptr (T2iInception) fid = t2i_inception_new (NULL, NULL,
      T2I_INCEPTION_FID, 0, &rng);
  g_assert_false (t2i_inception_load (fid, st, "m.", &err));
  g_assert_error (err, T2I_MODEL_ERROR, T2I_MODEL_ERROR_MISMATCH);
  g_test_message ("%s", err->message);
  g_assert_nonnull (strstr (err->message, "m.fc.weight (file [1000,2048], "
          "model [1008,2048])"));
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) err = NULL;
  g_test_init (&argc, &argv, NULL);

  const char *src = g_getenv ("T2I_SOURCE_DIR");
  g_autofree char *dir = g_build_filename (src ? src : ".", "tests",
      "golden", "models", NULL);
  g_autofree char *json = g_build_filename (dir, "models.json", NULL);
  g_autofree char *st = g_build_filename (dir, "models.safetensors", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, json, &err))
    g_error ("%s: %s", json, err->message);
  JsonObject *root = json_node_get_object (json_parser_get_root (parser));
  n_samples = json_object_get_int_member (root, "samples");
  cases = json_object_get_object_member (root, "cases");
  golden = t2i_safetensors_load (st, &err);
  g_assert_no_error (err);
  tmpdir = g_dir_make_tmp ("t2i-models-XXXXXX", &err);
  g_assert_no_error (err);

  g_test_add_func ("/models/preprocess", test_preprocess);
  g_test_add_func ("/models/clip/vit", test_clip_vit);
  g_test_add_func ("/models/clip/towers", test_clip_towers);
  g_test_add_func ("/models/clip/text-only", test_clip_text_only);
  g_test_add_func ("/models/clip/errors", test_clip_errors);
  g_test_add_func ("/models/clip/cnn", test_clip_cnn);
  g_test_add_func ("/models/clip/init", test_clip_init);
  g_test_add_func ("/models/vgg19", test_vgg);
  g_test_add_func ("/models/inception/fid", test_inception_fid);
  g_test_add_func ("/models/inception/torchvision", test_inception_torchvision);
  int rc = g_test_run ();

  g_test_message ("largest relative error: %.2e", worst);
  t2i_safetensors_free (golden);
  g_rmdir (tmpdir);
  g_free (tmpdir);
  return rc;
}
