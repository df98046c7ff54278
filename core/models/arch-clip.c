/* CLIP's towers as architectures (t2i/clip.h): arch=clip for
 * t2itextencoder; arch=clip (whichever image tower weights= holds),
 * clip-vit and cnn for t2iimageencoder.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <stdlib.h>
#include <string.h>
#include "t2i/clip.h"
#include "t2i/tokenizer.h"

#define NORM_EPS 1e-12
#define OPENAI_VOCAB 49408

/* adds the model's parameters (official names) to the element's group;
 * logit_scale belongs to the loss (t2iloss kind=clip) */
static gboolean
adopt_params (T2iClip * clip, T2iParamGroup * group, const char *what,
    GError ** error)
{
  T2iParamGroup *g = t2i_clip_get_params (clip);
  for (guint i = 0; i < t2i_param_group_n_params (g); i++) {
    T2iParam *p = t2i_param_group_get (g, i);
    if (p->value == t2i_clip_get_logit_scale (clip))
      continue;
    if (t2i_param_group_lookup (group, p->local_name)) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "group=%s already has a parameter %s (two %s in one group?)",
          t2i_param_group_get_name (group), p->local_name, what);
      return FALSE;
    }
    t2i_param_group_add (group, p->local_name, p->value, p->trainable);
  }
  return TRUE;
}

static gboolean
set_vector (GstBuffer * record, const char *name, T2iTensor * v,
    gboolean normalize, GError ** error)
{
  g_autoptr (T2iTensor) out = normalize ? t2i_l2_normalize (v, 1, NORM_EPS)
      : t2i_tensor_ref (v);
  return t2i_record_set_tensor (record, name, out, error);
}

/* ================= text ================= */

static const T2iOption text_options[] = {
  T2I_OPTION_ENTRY ("input", "caption", 0,
      "Captions (str [N]) or token ids (i32 [N, L])"),
  T2I_OPTION_ENTRY ("output", "text_emb", 0,
      "The pooled, projected embedding, f32 [N, embed-dim]"),
  T2I_OPTION_ENTRY ("tokens-output", NULL, 0,
      "Entry for the token ids, i32 [N, L] (unset: not added)"),
  T2I_OPTION_ENTRY ("token-features", NULL, 0,
      "Entry for the per-token features after ln_final, f32 [N, L, width] "
      "(unset: not added)"),
  T2I_OPTION_ENTRY ("token-mask", NULL, 0,
      "Entry for the mask of real tokens, f32 [N, L]: 1 from the start "
      "token to the end token, 0 on padding (unset: not added)"),
  T2I_OPTION_STRING ("vocab", NULL, 0,
      "BPE merges file (CLIP's format); default: <weights>-vocab.txt "
      "beside weights=, else bytes only"),
  T2I_OPTION_INT ("vocab-merges", 0, 0, T2I_TOKENIZER_MAX_MERGES, 0,
      "With vocab= not existing yet: train a BPE of this many merges on "
      "the first record's captions and save it there"),
  T2I_OPTION_BOOLEAN ("normalize", FALSE, 0,
      "L2-normalise the output embedding"),
  T2I_OPTION_INT ("width", 256, 8, 8192, T2I_OPTION_MODEL,
      "Width of the text transformer"),
  T2I_OPTION_INT ("layers", 4, 1, 128, T2I_OPTION_MODEL,
      "Residual attention blocks"),
  T2I_OPTION_INT ("heads", 0, 0, 256, T2I_OPTION_MODEL,
      "Attention heads (0: width / 64)"),
  T2I_OPTION_INT ("context", T2I_TOKENIZER_CONTEXT_LENGTH, 2, 4096,
      T2I_OPTION_MODEL, "Token positions"),
  T2I_OPTION_INT ("embed-dim", 256, 1, 8192, T2I_OPTION_MODEL,
      "Size of the joint embedding"),
  T2I_OPTION_INT ("vocab-size", 0, 0, 1 << 24, T2I_OPTION_MODEL,
      "Token ids the model embeds (0: the vocabulary's size)"),
  {NULL}
};

typedef struct
{
  T2iClip *clip;
  T2iTokenizer *tok;
  gboolean train_vocab;         /* at the first record */
} TextNet;

static void
text_free (gpointer p)
{
  TextNet *n = p;
  g_clear_pointer (&n->clip, t2i_clip_free);
  g_clear_pointer (&n->tok, t2i_tokenizer_unref);
  g_free (n);
}

static GstStructure *
text_read_file (T2iSafetensors * st, const char *prefix, GError ** error)
{
  T2iClipConfig c;
  if (!t2i_clip_config_from_safetensors (st, prefix, T2I_CLIP_TEXT, &c,
          error))
    return NULL;
  return gst_structure_new ("config", "width", G_TYPE_INT, c.text_width,
      "layers", G_TYPE_INT, c.text_layers, "heads", G_TYPE_INT, c.text_heads,
      "context", G_TYPE_INT, c.context_length, "embed-dim", G_TYPE_INT,
      c.embed_dim, "vocab-size", G_TYPE_INT, c.vocab_size, NULL);
}

static gboolean
text_configure (GstStructure * config, const T2iArchContext * ctx,
    GError ** error)
{
  if (t2i_config_int (config, "heads") == 0)
    t2i_config_set_int (config, "heads",
        MAX (t2i_config_int (config, "width") / 64, 1));
  if (t2i_config_int (config, "vocab-merges") > 0
      && !t2i_config_has_string (config, "vocab")) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "vocab-merges=%d needs vocab=FILE to save the trained vocabulary to",
        t2i_config_int (config, "vocab-merges"));
    return FALSE;
  }
  return TRUE;
}

/* checks the input; *n: batch, *len: token positions; *text: captions */
static gboolean
text_check (const GstStructure * config, const GstStructure * in,
    gint64 * n, gint64 * len, gboolean * text, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  const gint context = t2i_config_int (config, "context");
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;
  const char *dtype;

  if (!t2i_caps_get_entry (in, input, &dtype, &ndim, shape)) {
    t2i_caps_require (in, input, "str", 1, NULL, error);
    g_prefix_error (error, "input=%s: ", input);
    return FALSE;
  }
  *text = g_strcmp0 (dtype, "str") == 0;
  if (*text) {
    if (ndim != 1) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "input=%s: captions must be str [N]", input);
      return FALSE;
    }
    *n = shape[0];
    *len = context;
    return TRUE;
  }
  if (!t2i_caps_require (in, input, "i32", 2, NULL, error)) {
    g_prefix_error (error, "input=%s (captions str [N] or token ids): ",
        input);
    return FALSE;
  }
  if (shape[1] > context) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s has %" G_GINT64_FORMAT " token positions, the model's "
        "context is %d", input, shape[1], context);
    return FALSE;
  }
  *n = shape[0];
  *len = shape[1];
  return TRUE;
}

static gboolean
text_negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n, len;
  gboolean text;

  if (!text_check (config, in, &n, &len, &text, error))
    return FALSE;
  gint64 emb[2] = { n, t2i_config_int (config, "embed-dim") };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 2,
      emb);
  gint64 ts[2] = { n, len };
  if (t2i_config_has_string (config, "tokens-output"))
    t2i_caps_set_entry (out, t2i_config_string (config, "tokens-output"),
        "i32", 2, ts);
  if (t2i_config_has_string (config, "token-mask"))
    t2i_caps_set_entry (out, t2i_config_string (config, "token-mask"), "f32",
        2, ts);
  if (t2i_config_has_string (config, "token-features")) {
    gint64 fs[3] = { n, len, t2i_config_int (config, "width") };
    t2i_caps_set_entry (out, t2i_config_string (config, "token-features"),
        "f32", 3, fs);
  }
  return TRUE;
}

/* the tokenizer for captions: vocab=, else the file beside weights=, else
 * bytes only; *bytes_only tells the last case */
static gboolean
text_tokenizer (TextNet * net, const GstStructure * config,
    const T2iArchContext * ctx, gboolean * bytes_only, gchar ** sibling,
    GError ** error)
{
  T2iModelVocab v;
  if (!t2i_model_vocab_open (&v, config, ctx->weights, error))
    return FALSE;
  net->tok = g_steal_pointer (&v.tok);
  net->train_vocab = v.train;
  *bytes_only = v.bytes_only;
  *sibling = g_steal_pointer (&v.sibling);
  return TRUE;
}

static gpointer
text_build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  TextNet *net = g_new0 (TextNet, 1);
  g_autofree gchar *sibling = NULL;
  gboolean bytes_only = FALSE, text;
  gint64 n, len;

  if (!text_check (config, in, &n, &len, &text, error))
    goto fail;
  if (text && !text_tokenizer (net, config, ctx, &bytes_only, &sibling,
          error))
    goto fail;

  gint vocab_size = t2i_config_int (config, "vocab-size");
  const gint merges = t2i_config_int (config, "vocab-merges");
  if (vocab_size == 0)
    /* with vocab-merges, the size a trained vocabulary can reach, whether
     * it is trained now or was by an earlier run (a resumed one) */
    vocab_size = merges > 0 ? T2I_TOKENIZER_N_BYTE_TOKENS + 2 + merges :
        net->tok ? t2i_tokenizer_vocab_size (net->tok) : OPENAI_VOCAB;
  t2i_config_set_int (config, "vocab-size", vocab_size);
  if (bytes_only && ctx->weights
      && vocab_size != t2i_tokenizer_vocab_size (net->tok)) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "weights=%s was trained with a vocabulary of %d tokens: set vocab= "
        "to its merges file (none given, and no %s beside it)",
        t2i_safetensors_get_path (ctx->weights), vocab_size, sibling);
    goto fail;
  }
  if (net->tok && t2i_tokenizer_vocab_size (net->tok) > vocab_size) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "the vocabulary has %d tokens but the model only %d",
        t2i_tokenizer_vocab_size (net->tok), vocab_size);
    goto fail;
  }

  T2iClipConfig c = { 0 };
  c.embed_dim = t2i_config_int (config, "embed-dim");
  c.context_length = t2i_config_int (config, "context");
  c.vocab_size = vocab_size;
  c.text_width = t2i_config_int (config, "width");
  c.text_heads = t2i_config_int (config, "heads");
  c.text_layers = t2i_config_int (config, "layers");
  c.vision = T2I_CLIP_VISION_NONE;
  if (!t2i_clip_config_validate (&c, error))
    goto fail;
  net->clip = t2i_clip_new (&c, NULL, NULL, ctx->weights ? NULL :
      ctx->init_rng);
  if (!adopt_params (net->clip, ctx->params, "text encoders", error))
    goto fail;
  return net;

fail:
  text_free (net);
  return NULL;
}

static gboolean
text_load (gpointer p, const T2iArchContext * ctx, GError ** error)
{
  return t2i_clip_load (((TextNet *) p)->clip, ctx->weights, ctx->prefix,
      error);
}

/* 1 from the start to each row's end token (its largest id), 0 after; on
 * @device */
static T2iTensor *
token_mask (T2iTensor * tokens, T2iDevice device)
{
  const gint64 n = tokens->shape[0], l = tokens->shape[1];
  g_autoptr (T2iTensor) th = t2i_tensor_to_device (tokens, T2I_DEVICE_CPU,
      NULL);
  g_autoptr (T2iTensor) m = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (n, l));
  const gint32 *t = th->data;
  float *mv = m->data;
  for (gint64 i = 0; i < n; i++) {
    gint64 end = 0;
    for (gint64 j = 1; j < l; j++)
      if (t[i * l + j] > t[i * l + end])
        end = j;
    for (gint64 j = 0; j <= end; j++)
      mv[i * l + j] = 1.0f;
  }
  return t2i_tensor_to_device (m, device, NULL);
}

static gboolean
text_forward (gpointer p, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  TextNet *net = p;
  const GstStructure *config = ctx->config;
  const char *input = t2i_config_string (config, "input");
  const gint context = t2i_clip_get_config (net->clip)->context_length;
  g_autoptr (T2iTensor) tokens = NULL;
  const char *const *captions = t2i_record_get_strings (record, input);

  if (captions) {
    const gsize n = g_strv_length ((gchar **) captions);
    if (net->train_vocab) {
      T2iModelVocab v = {.train = TRUE };
      if (!t2i_model_vocab_prepare (&v, config, captions, n, error))
        return FALSE;
      net->tok = v.tok;
      net->train_vocab = FALSE;
    }
    if (!net->tok) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "input=%s: captions reached an encoder built for token ids",
          input);
      return FALSE;
    }
    tokens = t2i_tokenizer_encode_batch (net->tok, captions, n, context,
        NULL);
  } else {
    T2iTensor *in = t2i_record_get_tensor (record, input);
    if (!in || in->dtype != T2I_I32 || in->ndim != 2) {
      g_autofree char *has = t2i_record_describe (record);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "input=%s must be captions or i32 [N, L] token ids (the record "
          "has: %s)", input, has);
      return FALSE;
    }
    tokens = t2i_tensor_ref (in);
  }

  const gboolean want_features = t2i_config_has_string (config,
      "token-features");
  T2iTensor *per_token = NULL;
  g_autoptr (T2iTensor) pooled = t2i_clip_encode_text (net->clip, tokens,
      want_features ? &per_token : NULL);
  g_autoptr (T2iTensor) features = per_token;

  if (!set_vector (record, t2i_config_string (config, "output"), pooled,
          t2i_config_boolean (config, "normalize"), error))
    return FALSE;
  if (t2i_config_has_string (config, "tokens-output")) {
    g_autoptr (T2iTensor) td = t2i_tensor_to_device (tokens, pooled->device,
        error);
    if (!td || !t2i_record_set_tensor (record, t2i_config_string (config,
                "tokens-output"), td, error))
      return FALSE;
  }
  if (t2i_config_has_string (config, "token-mask")) {
    g_autoptr (T2iTensor) m = token_mask (tokens, pooled->device);
    if (!t2i_record_set_tensor (record, t2i_config_string (config,
                "token-mask"), m, error))
      return FALSE;
  }
  return !features || t2i_record_set_tensor (record,
      t2i_config_string (config, "token-features"), features, error);
}

const T2iArch t2i_arch_clip_text = {
  "clip", T2I_ROLE_TEXT_ENCODER,
  "OpenAI CLIP's text transformer (sizes read from weights=)",
  text_options, "token_embedding.weight",
  text_read_file, text_configure, text_negotiate, text_build, text_load,
  text_forward, text_free,
};

/* ================= image ================= */

#define IMAGE_IO_OPTIONS \
  T2I_OPTION_ENTRY ("input", "image", 0, \
      "Images, f32 [N, 3, H, W] in [-1, 1]"), \
  T2I_OPTION_ENTRY ("output", "img_emb", 0, \
      "The projected embedding, f32 [N, embed-dim]"), \
  T2I_OPTION_BOOLEAN ("normalize", FALSE, 0, \
      "L2-normalise the output embedding")

#define VIT_OPTIONS \
  T2I_OPTION_INT ("width", 256, 8, 8192, T2I_OPTION_MODEL, \
      "Width of the vision transformer"), \
  T2I_OPTION_INT ("vit-layers", 4, 1, 128, T2I_OPTION_MODEL, \
      "Blocks of the vision transformer"), \
  T2I_OPTION_INT ("heads", 0, 0, 256, T2I_OPTION_MODEL, \
      "Attention heads (0: width / 64)"), \
  T2I_OPTION_INT ("patch-size", 8, 1, 1024, T2I_OPTION_MODEL, \
      "Patch size of the vision transformer"), \
  T2I_OPTION_INT ("image-size", 0, 0, 4096, T2I_OPTION_MODEL, \
      "Resolution the images are preprocessed to (0: the input's side)")

#define CNN_OPTIONS \
  T2I_OPTION_STRING ("widths", "32,64,128,256", T2I_OPTION_MODEL, \
      "CNN channels: the stem's, then each stride-2 stage's " \
      "(multiples of 8)"), \
  T2I_OPTION_INT ("depth", 1, 1, 64, T2I_OPTION_MODEL, \
      "CNN convolutions per stage")

#define EMBED_OPTION \
  T2I_OPTION_INT ("embed-dim", 256, 1, 8192, T2I_OPTION_MODEL, \
      "Size of the joint embedding")

static const T2iOption clip_options[] = {
  IMAGE_IO_OPTIONS,
  T2I_OPTION_CHOICE ("vision", "vit", "vit|cnn", T2I_OPTION_MODEL,
      "The image tower without weights= (with weights, the file's)"),
  VIT_OPTIONS, CNN_OPTIONS, EMBED_OPTION,
  {NULL}
};

static const T2iOption vit_options[] = {
  IMAGE_IO_OPTIONS, VIT_OPTIONS, EMBED_OPTION,
  {NULL}
};

static const T2iOption cnn_options[] = {
  IMAGE_IO_OPTIONS, CNN_OPTIONS, EMBED_OPTION,
  {NULL}
};

/* the tower an image arch runs: arch=clip takes the vision= option */
static T2iClipVisionKind
vision_of (const GstStructure * config)
{
  const char *v = gst_structure_get_string (config, "vision");
  if (v)
    return g_str_equal (v, "cnn") ? T2I_CLIP_VISION_CNN : T2I_CLIP_VISION_VIT;
  return gst_structure_has_field (config, "widths") ? T2I_CLIP_VISION_CNN
      : T2I_CLIP_VISION_VIT;
}

static gchar *
widths_text (const T2iClipConfig * c)
{
  GString *s = g_string_new (NULL);
  g_string_append_printf (s, "%d", c->cnn_stem);
  for (gint i = 0; i < c->cnn_n_stages; i++)
    g_string_append_printf (s, ",%d", c->cnn_widths[i]);
  return g_string_free (s, FALSE);
}

/* the file's tower as options; @want: the tower the arch runs (NONE: any) */
static GstStructure *
image_read (T2iSafetensors * st, const char *prefix, T2iClipVisionKind want,
    const char *arch, GError ** error)
{
  T2iClipConfig c;
  if (!t2i_clip_config_from_safetensors (st, prefix, T2I_CLIP_VISION, &c,
          error))
    return NULL;
  if (want != T2I_CLIP_VISION_NONE && c.vision != want) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "holds a %s image encoder, not arch=%s",
        c.vision == T2I_CLIP_VISION_CNN ? "CNN" : "ViT", arch);
    return NULL;
  }
  GstStructure *s = gst_structure_new ("config", "embed-dim", G_TYPE_INT,
      c.embed_dim, NULL);
  if (want == T2I_CLIP_VISION_NONE)
    gst_structure_set (s, "vision", G_TYPE_STRING,
        c.vision == T2I_CLIP_VISION_CNN ? "cnn" : "vit", NULL);
  if (c.vision == T2I_CLIP_VISION_CNN) {
    g_autofree gchar *w = widths_text (&c);
    gst_structure_set (s, "widths", G_TYPE_STRING, w, "depth", G_TYPE_INT,
        c.cnn_depth, NULL);
  } else {
    gst_structure_set (s, "width", G_TYPE_INT, c.vision_width, "vit-layers",
        G_TYPE_INT, c.vision_layers, "heads", G_TYPE_INT, c.vision_heads,
        "patch-size", G_TYPE_INT, c.patch_size, "image-size", G_TYPE_INT,
        c.image_size, NULL);
  }
  return s;
}

static GstStructure *
clip_read_file (T2iSafetensors * st, const char *prefix, GError ** error)
{
  return image_read (st, prefix, T2I_CLIP_VISION_NONE, "clip", error);
}

static GstStructure *
vit_read_file (T2iSafetensors * st, const char *prefix, GError ** error)
{
  return image_read (st, prefix, T2I_CLIP_VISION_VIT, "clip-vit", error);
}

static GstStructure *
cnn_read_file (T2iSafetensors * st, const char *prefix, GError ** error)
{
  return image_read (st, prefix, T2I_CLIP_VISION_CNN, "cnn", error);
}

static gboolean
parse_widths (const char *text, T2iClipConfig * c, GError ** error)
{
  g_auto (GStrv) parts = g_strsplit (text ? text : "", ",", -1);
  const guint n = g_strv_length (parts);
  if (n < 2 || n > T2I_CLIP_CNN_MAX_STAGES + 1) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "widths=%s: give the stem's channels and those of 1 to %d stages",
        text, T2I_CLIP_CNN_MAX_STAGES);
    return FALSE;
  }
  for (guint i = 0; i < n; i++) {
    char *end;
    glong v = strtol (parts[i], &end, 10);
    if (end == parts[i] || *end || v <= 0 || v % 8) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
          "widths=%s: '%s' is not a positive multiple of 8", text, parts[i]);
      return FALSE;
    }
    if (i == 0)
      c->cnn_stem = (gint) v;
    else
      c->cnn_widths[i - 1] = (gint) v;
  }
  c->cnn_n_stages = (gint) n - 1;
  return TRUE;
}

/* the tower's config for input images of side @side */
static gboolean
image_config (const GstStructure * config, gint side, T2iClipConfig * c,
    GError ** error)
{
  const gint size = gst_structure_has_field (config, "image-size")
      && t2i_config_int (config, "image-size") > 0 ?
      t2i_config_int (config, "image-size") : side;
  t2i_clip_config_init_small (c, size, 0);
  c->text_width = c->text_layers = c->text_heads = c->vocab_size = 0;
  c->embed_dim = t2i_config_int (config, "embed-dim");
  c->vision = vision_of (config);
  if (c->vision == T2I_CLIP_VISION_CNN) {
    c->cnn_depth = t2i_config_int (config, "depth");
    if (!parse_widths (t2i_config_string (config, "widths"), c, error))
      return FALSE;
  } else {
    c->vision_width = t2i_config_int (config, "width");
    c->vision_layers = t2i_config_int (config, "vit-layers");
    c->vision_heads = t2i_config_int (config, "heads") > 0 ?
        t2i_config_int (config, "heads") : MAX (c->vision_width / 64, 1);
    c->patch_size = t2i_config_int (config, "patch-size");
  }
  return t2i_clip_config_validate (c, error);
}

static gboolean
image_check (const GstStructure * config, const GstStructure * in,
    gint64 * shape, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  gint64 want[4] = { -1, 3, -1, -1 };
  if (!t2i_caps_require (in, input, "f32", 4, want, error)) {
    g_prefix_error (error, "input=%s: ", input);
    return FALSE;
  }
  t2i_caps_get_entry (in, input, NULL, NULL, shape);
  return TRUE;
}

static gboolean
image_negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 shape[T2I_MAX_DIMS];
  if (!image_check (config, in, shape, error))
    return FALSE;
  gint64 emb[2] = { shape[0], t2i_config_int (config, "embed-dim") };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 2,
      emb);
  return TRUE;
}

static gpointer
image_build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  gint64 shape[T2I_MAX_DIMS];
  T2iClipConfig c;
  if (!image_check (config, in, shape, error)
      || !image_config (config, (gint) MIN (shape[2], shape[3]), &c, error))
    return NULL;
  if (c.vision == T2I_CLIP_VISION_VIT)
    t2i_config_set_int (config, "image-size", c.image_size);
  T2iClip *clip = t2i_clip_new (&c, NULL, NULL, ctx->weights ? NULL :
      ctx->init_rng);
  if (!adopt_params (clip, ctx->params, "image encoders", error)) {
    t2i_clip_free (clip);
    return NULL;
  }
  return clip;
}

static gboolean
image_load (gpointer net, const T2iArchContext * ctx, GError ** error)
{
  return t2i_clip_load (net, ctx->weights, ctx->prefix, error);
}

static gboolean
image_forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  T2iClip *clip = net;
  const char *input = t2i_config_string (ctx->config, "input");
  T2iTensor *x = t2i_record_get_tensor (record, input);

  if (!x || x->dtype != T2I_F32 || x->ndim != 4 || x->shape[1] != 3) {
    g_autofree char *has = t2i_record_describe (record);
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s must be f32 [N, 3, H, W] (the record has: %s)", input, has);
    return FALSE;
  }
  g_autoptr (T2iTensor) pix =
      t2i_clip_get_config (clip)->vision == T2I_CLIP_VISION_VIT ?
      t2i_clip_preprocess (clip, x) : t2i_tensor_ref (x);
  g_autoptr (T2iTensor) emb = t2i_clip_encode_image (clip, pix);
  return set_vector (record, t2i_config_string (ctx->config, "output"), emb,
      t2i_config_boolean (ctx->config, "normalize"), error);
}

#define IMAGE_FUNCS image_negotiate, image_build, image_load, image_forward, \
  (void (*)(gpointer)) t2i_clip_free

const T2iArch t2i_arch_clip_image = {
  "clip", T2I_ROLE_IMAGE_ENCODER,
  "CLIP's image tower that weights= holds (ViT or CNN; vision= without "
  "weights)", clip_options, "visual.conv1.weight|visual.stem.conv.weight",
  clip_read_file, NULL, IMAGE_FUNCS,
};

const T2iArch t2i_arch_clip_vit = {
  "clip-vit", T2I_ROLE_IMAGE_ENCODER,
  "OpenAI CLIP's vision transformer, after CLIP's preprocessing",
  vit_options, "visual.conv1.weight",
  vit_read_file, NULL, IMAGE_FUNCS,
};

const T2iArch t2i_arch_clip_cnn = {
  "cnn", T2I_ROLE_IMAGE_ENCODER,
  "The small CLIP-style CNN image encoder of t2i/clip.h (any input size)",
  cnn_options, "visual.stem.conv.weight",
  cnn_read_file, NULL, IMAGE_FUNCS,
};
