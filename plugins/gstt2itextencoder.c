/* t2itextencoder: CLIP text transformer as an element.
 * SPDX-License-Identifier: LGPL-2.1-or-later */

/**
 * SECTION:element-t2itextencoder
 * @title: t2itextencoder
 *
 * Encodes text with OpenAI CLIP's text transformer (t2i/clip.h) and adds
 * the pooled, projected embedding (the row at each caption's EOT token) as
 * @output, f32 [N, E], L2-normalised with @normalize.  On request it also
 * adds the token ids (@tokens-output, i32 [N, @context]) and the
 * per-token features after ln_final (@token-features, f32 [N, @context,
 * W]).
 *
 * @input is either a string entry (captions, tokenised with the byte-level
 * BPE of t2i/tokenizer.h) or an i32 [N, L] entry of ready token ids.
 * Captions need a vocabulary:
 *
 * - @vocab names a merges file in CLIP's format (OpenAI's
 *   `bpe_simple_vocab_16e6.txt.gz`, or one t2i_tokenizer_save() wrote);
 * - with @vocab-merges > 0 and a @vocab file that does not exist yet, the
 *   element trains a BPE of that many merges on the captions of the first
 *   record and saves it to @vocab, so later pipelines read the same one
 *   (pipelines/clip-pretrain.t2i does this);
 * - without @vocab, the file `<weights>-vocab.txt` beside weights=FILE
 *   (`runs/clip-vocab.txt` for `runs/clip.safetensors`, what
 *   pipelines/clip-pretrain.t2i writes) when it exists, else the 512 byte
 *   symbols alone (no merges: every character is a token, which works for
 *   any text but makes sequences long; a model trained with another
 *   vocabulary is then refused).
 *
 * With weights=FILE the architecture is read from the file's shapes
 * (t2i_clip_config_from_safetensors()) and the tensors load under their
 * official names after a prefix: "<group>." when the file has it, else
 * the one prefix under which the file holds a text tower (a checkpoint of
 * pipelines/clip-pretrain.t2i holds `clip.token_embedding.weight`, ...; a
 * file from scripts/convert-checkpoint has no prefix); @weights-prefix
 * names it explicitly.  Without weights the model is created fresh from
 * @width, @layers, @heads, @context and @embed-dim with OpenAI's
 * initialisation, for training from scratch.
 *
 * The parameters are the model's official names in the element's group:
 * with `group=clip` on both this element and a t2iimageencoder, the two
 * towers share one group (and t2iloss kind=clip adds `logit_scale` to
 * it), so one loss with `update=clip` trains both and the trainer's
 * checkpoint is a CLIP file under the prefix `clip.`.
 *
 * The encoder is differentiable; set trainable=false to freeze it.
 *
 * ## Example launch line
 * |[
 * t2i-launch -- t2itensorsrc location=in.safetensors ! t2itextencoder input=caption output=text_emb width=64 layers=1 embed-dim=32 normalize=true ! fakesink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstt2itextencoder.h"
#include "gstt2iutil.h"

#include <string.h>
#include <t2i/t2i.h>
#include <t2i/clip.h>
#include <t2i/tokenizer.h>

GST_DEBUG_CATEGORY_STATIC (t2i_text_encoder_debug);
#define GST_CAT_DEFAULT t2i_text_encoder_debug

#define EXAMPLE "t2itensorsrc location=in.safetensors ! t2itextencoder " \
    "input=caption output=text_emb width=64 layers=1 embed-dim=32 " \
    "normalize=true ! fakesink"

typedef enum
{
  ARCH_CLIP_TEXT,
} TextArch;

struct _T2iTextEncoder
{
  T2iTransform parent;

  /* properties */
  TextArch arch;
  gchar *input;
  gchar *output;
  gchar *tokens_output;
  gchar *token_features;
  gchar *vocab;
  gint vocab_merges;
  gboolean normalize;
  gchar *weights_prefix;
  gint width;
  gint layers;
  gint heads;
  gint context;
  gint embed_dim;

  /* resolved at the first negotiation */
  gboolean prepared;
  T2iClipConfig cfg;
  gchar *file_prefix;           /* weights= prefix */
  T2iTokenizer *tok;
  gboolean train_vocab;         /* at the first record */
  T2iClip *clip;
};

enum
{
  PROP_0,
  PROP_ARCH,
  PROP_INPUT,
  PROP_OUTPUT,
  PROP_TOKENS_OUTPUT,
  PROP_TOKEN_FEATURES,
  PROP_VOCAB,
  PROP_VOCAB_MERGES,
  PROP_NORMALIZE,
  PROP_WEIGHTS_PREFIX,
  PROP_WIDTH,
  PROP_LAYERS,
  PROP_HEADS,
  PROP_CONTEXT,
  PROP_EMBED_DIM,
};

#define DEFAULT_INPUT "caption"
#define DEFAULT_OUTPUT "text_emb"
#define DEFAULT_WIDTH 256
#define DEFAULT_LAYERS 4
#define DEFAULT_CONTEXT T2I_TOKENIZER_CONTEXT_LENGTH
#define DEFAULT_EMBED_DIM 256
#define OPENAI_VOCAB 49408
#define NORM_EPS 1e-12

#define T2I_TYPE_TEXT_ARCH (t2i_text_arch_get_type ())
static GType
t2i_text_arch_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {ARCH_CLIP_TEXT, "OpenAI CLIP's text transformer", "clip-text"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("T2iTextEncoderArch", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

G_DEFINE_TYPE_WITH_CODE (T2iTextEncoder, t2i_text_encoder,
    T2I_TYPE_TRANSFORM,
    GST_DEBUG_CATEGORY_INIT (t2i_text_encoder_debug, "t2itextencoder", 0,
        "t2i text encoder"));
GST_ELEMENT_REGISTER_DEFINE (t2itextencoder, "t2itextencoder", GST_RANK_NONE,
    T2I_TYPE_TEXT_ENCODER);

/* the prefix under which @st holds a tensor named <prefix>@stem: @explicit,
 * else "<group>." when present, else the only candidate (names with a '/'
 * are optimizer state or EMA copies and do not count) */
static gchar *
find_prefix (T2iSafetensors * st, const char *explicit, const char *group,
    const char *stem, const char *what, GError ** error)
{
  if (explicit)
    return g_strdup (explicit);
  g_autofree char *gp = g_strconcat (group, ".", NULL);
  g_autofree char *gname = g_strconcat (gp, stem, NULL);
  if (t2i_safetensors_has (st, gname))
    return g_strdup (gp);

  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_free);
  const char *const *names = t2i_safetensors_names (st);
  const gsize sl = strlen (stem);
  for (guint i = 0; names[i]; i++) {
    const gsize nl = strlen (names[i]);
    if (nl < sl || strcmp (names[i] + nl - sl, stem) != 0)
      continue;
    g_autofree char *p = g_strndup (names[i], nl - sl);
    if (strchr (p, '/') || (*p && p[strlen (p) - 1] != '.'))
      continue;
    g_ptr_array_add (found, g_steal_pointer (&p));
  }
  if (found->len == 1)
    return g_strdup (g_ptr_array_index (found, 0));
  g_autoptr (GString) list = g_string_new (NULL);
  for (guint i = 0; i < found->len; i++)
    g_string_append_printf (list, "%s\"%s\"", i ? ", " : "",
        (const char *) g_ptr_array_index (found, i));
  g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_NOT_FOUND,
      "%s: %s %s (looked for %s%s%s); set weights-prefix=",
      t2i_safetensors_get_path (st), found->len ? "several prefixes hold"
      : "holds no", what, gname, found->len ? ", found " : "", list->str);
  return NULL;
}

static gchar *
get_weights (T2iTextEncoder * self)
{
  gchar *w = NULL;
  g_object_get (self, "weights", &w, NULL);
  if (w && !*w)
    g_clear_pointer (&w, g_free);
  return w;
}

/* tokenizer and model config, once */
static gboolean
prepare (T2iTextEncoder * self, gboolean text, GError ** error)
{
  T2iTransform *t = T2I_TRANSFORM (self);

  if (self->prepared)
    return TRUE;

  g_autofree gchar *weights = get_weights (self);
  g_autofree gchar *sibling = NULL;
  gboolean bytes_only = FALSE;
  if (weights) {
    g_autofree gchar *stem = g_str_has_suffix (weights, ".safetensors") ?
        g_strndup (weights, strlen (weights) - strlen (".safetensors"))
        : g_strdup (weights);
    sibling = g_strconcat (stem, "-vocab.txt", NULL);
  }
  const char *vocab = t2i_str_is_set (self->vocab) ? self->vocab : sibling;

  if (text && !self->tok) {
    if (vocab && g_file_test (vocab, G_FILE_TEST_EXISTS)) {
      self->tok = t2i_tokenizer_load (vocab, error);
      if (!self->tok) {
        g_prefix_error (error, "vocab=%s: ", vocab);
        return FALSE;
      }
    } else if (t2i_str_is_set (self->vocab) && self->vocab_merges > 0) {
      self->train_vocab = TRUE;
    } else if (t2i_str_is_set (self->vocab)) {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
          "vocab=%s does not exist (set vocab-merges=N to train one on the "
          "first record's captions and save it there)", self->vocab);
      return FALSE;
    } else {
      static const char header[] = "#version: 0.2\n";
      g_autoptr (GBytes) b = g_bytes_new_static (header, strlen (header));
      self->tok = t2i_tokenizer_new_from_bytes (b, error);
      if (!self->tok)
        return FALSE;
      bytes_only = TRUE;
    }
  }

  if (weights) {
    g_autoptr (T2iSafetensors) st = t2i_safetensors_load (weights, error);
    if (!st) {
      g_prefix_error (error, "weights=%s: ", weights);
      return FALSE;
    }
    g_free (self->file_prefix);
    self->file_prefix = find_prefix (st, self->weights_prefix,
        t2i_transform_get_group_name (t), "token_embedding.weight",
        "a CLIP text tower", error);
    if (!self->file_prefix
        || !t2i_clip_config_from_safetensors (st, self->file_prefix,
            T2I_CLIP_TEXT, &self->cfg, error)) {
      g_prefix_error (error, "weights=%s: ", weights);
      return FALSE;
    }
  } else {
    T2iClipConfig *c = &self->cfg;
    /* with vocab-merges, the size a trained vocabulary can reach, whether
     * it is trained now or was by an earlier run (a resumed one) */
    gint n_tokens = self->vocab_merges > 0 ? T2I_TOKENIZER_N_BYTE_TOKENS +
        2 + self->vocab_merges : self->tok ?
        t2i_tokenizer_vocab_size (self->tok) : OPENAI_VOCAB;
    memset (c, 0, sizeof *c);
    c->embed_dim = self->embed_dim;
    c->context_length = self->context;
    c->vocab_size = n_tokens;
    c->text_width = self->width;
    c->text_heads = self->heads > 0 ? self->heads : MAX (self->width / 64, 1);
    c->text_layers = self->layers;
    c->vision = T2I_CLIP_VISION_NONE;
    if (!t2i_clip_config_validate (c, error))
      return FALSE;
  }
  if (bytes_only && weights
      && self->cfg.vocab_size != t2i_tokenizer_vocab_size (self->tok)) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "weights=%s was trained with a vocabulary of %d tokens: set vocab= "
        "to its merges file (none given, and no %s beside it)",
        weights, self->cfg.vocab_size, sibling);
    return FALSE;
  }
  if (self->tok && t2i_tokenizer_vocab_size (self->tok) > self->cfg.vocab_size) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "the vocabulary has %d tokens but the model only %d",
        t2i_tokenizer_vocab_size (self->tok), self->cfg.vocab_size);
    return FALSE;
  }
  self->prepared = TRUE;
  return TRUE;
}

/* checks the input; *n: batch, *len: token positions */
static gboolean
check_input (T2iTextEncoder * self, const GstStructure * in, gint64 * n,
    gint64 * len, GError ** error)
{
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;
  const char *dtype;

  if (!t2i_caps_get_entry (in, self->input, &dtype, &ndim, shape)) {
    t2i_caps_require (in, self->input, "str", 1, NULL, error);
    g_prefix_error (error, "input=%s: ", self->input);
    return FALSE;
  }
  if (g_strcmp0 (dtype, "str") == 0) {
    if (ndim != 1) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "input=%s: captions must be str [N]", self->input);
      return FALSE;
    }
    if (!prepare (self, TRUE, error))
      return FALSE;
    *n = shape[0];
    *len = self->cfg.context_length;
    return TRUE;
  }
  if (!t2i_caps_require (in, self->input, "i32", 2, NULL, error)) {
    g_prefix_error (error, "input=%s (captions str [N] or token ids): ",
        self->input);
    return FALSE;
  }
  if (!prepare (self, FALSE, error))
    return FALSE;
  if (shape[1] > self->cfg.context_length) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s has %" G_GINT64_FORMAT " token positions, the model's "
        "context is %d", self->input, shape[1], self->cfg.context_length);
    return FALSE;
  }
  *n = shape[0];
  *len = shape[1];
  return TRUE;
}

static gboolean
t2i_text_encoder_negotiate (T2iTransform * t, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  T2iTextEncoder *self = T2I_TEXT_ENCODER (t);
  gint64 n, len;

  if (!check_input (self, in, &n, &len, error))
    return FALSE;
  gint64 emb[2] = { n, self->cfg.embed_dim };
  t2i_caps_set_entry (out, self->output, "f32", 2, emb);
  if (t2i_str_is_set (self->tokens_output)) {
    gint64 ts[2] = { n, len };
    t2i_caps_set_entry (out, self->tokens_output, "i32", 2, ts);
  }
  if (t2i_str_is_set (self->token_features)) {
    gint64 fs[3] = { n, len, self->cfg.text_width };
    t2i_caps_set_entry (out, self->token_features, "f32", 3, fs);
  }
  return TRUE;
}

static gboolean
t2i_text_encoder_build (T2iTransform * t, const GstStructure * in,
    GError ** error)
{
  T2iTextEncoder *self = T2I_TEXT_ENCODER (t);
  gint64 n, len;

  if (!check_input (self, in, &n, &len, error))
    return FALSE;
  g_autofree gchar *weights = get_weights (self);
  g_clear_pointer (&self->clip, t2i_clip_free);
  self->clip = t2i_clip_new (&self->cfg, NULL, NULL,
      weights ? NULL : t2i_transform_get_init_rng (t));
  /* the tower's parameters under their official names; logit_scale
   * belongs to the loss (t2iloss kind=clip) */
  T2iParamGroup *g = t2i_clip_get_params (self->clip);
  for (guint i = 0; i < t2i_param_group_n_params (g); i++) {
    T2iParam *p = t2i_param_group_get (g, i);
    if (p->value != t2i_clip_get_logit_scale (self->clip)
        && !t2i_transform_add_param (t, p->local_name, p->value)) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "group=%s already has a parameter %s (two text encoders in one "
          "group?)", t2i_transform_get_group_name (t), p->local_name);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
t2i_text_encoder_load_weights (T2iTransform * t, T2iSafetensors * st,
    GError ** error)
{
  T2iTextEncoder *self = T2I_TEXT_ENCODER (t);
  return t2i_clip_load (self->clip, st, self->file_prefix, error);
}

static gboolean
t2i_text_encoder_process (T2iTransform * t, GstBuffer * record,
    GError ** error)
{
  T2iTextEncoder *self = T2I_TEXT_ENCODER (t);
  g_autoptr (T2iTensor) tokens = NULL;
  const char *const *captions = t2i_record_get_strings (record, self->input);

  if (captions) {
    const gsize n = g_strv_length ((gchar **) captions);
    if (self->train_vocab) {
      T2iTokenizer *tok = t2i_tokenizer_train (captions, n,
          self->vocab_merges, error);
      if (!tok || !t2i_tokenizer_save (tok, self->vocab, error)) {
        if (tok)
          t2i_tokenizer_unref (tok);
        g_prefix_error (error, "vocab=%s: ", self->vocab);
        return FALSE;
      }
      GST_INFO_OBJECT (self, "trained a BPE of %d merges on %" G_GSIZE_FORMAT
          " captions, saved to %s", t2i_tokenizer_n_merges (tok), n,
          self->vocab);
      self->tok = tok;
      self->train_vocab = FALSE;
    }
    gint truncated = 0;
    tokens = t2i_tokenizer_encode_batch (self->tok, captions, n,
        self->cfg.context_length, &truncated);
    if (truncated)
      GST_WARNING_OBJECT (self, "%d captions truncated to %d tokens",
          truncated, self->cfg.context_length);
  } else {
    T2iTensor *in = t2i_record_get_tensor (record, self->input);
    if (!in || in->dtype != T2I_I32 || in->ndim != 2) {
      g_autofree char *has = t2i_record_describe (record);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "input=%s must be captions or i32 [N, L] token ids (the record "
          "has: %s)", self->input, has);
      return FALSE;
    }
    tokens = t2i_tensor_ref (in);
  }

  T2iTensor *per_token = NULL;
  g_autoptr (T2iTensor) pooled = t2i_clip_encode_text (self->clip, tokens,
      t2i_str_is_set (self->token_features) ? &per_token : NULL);
  g_autoptr (T2iTensor) features = per_token;
  g_autoptr (T2iTensor) emb = self->normalize ?
      t2i_l2_normalize (pooled, 1, NORM_EPS) : t2i_tensor_ref (pooled);

  if (!t2i_record_set_tensor (record, self->output, emb, error))
    return FALSE;
  if (t2i_str_is_set (self->tokens_output)
      && !t2i_record_set_tensor (record, self->tokens_output, tokens, error))
    return FALSE;
  if (features && !t2i_record_set_tensor (record, self->token_features,
          features, error))
    return FALSE;
  return TRUE;
}

static GstStateChangeReturn
t2i_text_encoder_change_state (GstElement * element, GstStateChange trans)
{
  T2iTextEncoder *self = T2I_TEXT_ENCODER (element);
  if (trans == GST_STATE_CHANGE_NULL_TO_READY)
    self->prepared = FALSE;
  return GST_ELEMENT_CLASS (t2i_text_encoder_parent_class)->change_state
      (element, trans);
}

static void
t2i_text_encoder_set_property (GObject * obj, guint id, const GValue * v,
    GParamSpec * pspec)
{
  T2iTextEncoder *self = T2I_TEXT_ENCODER (obj);

  switch (id) {
    case PROP_ARCH:
      self->arch = g_value_get_enum (v);
      break;
    case PROP_INPUT:
      t2i_replace_string (&self->input, v);
      break;
    case PROP_OUTPUT:
      t2i_replace_string (&self->output, v);
      break;
    case PROP_TOKENS_OUTPUT:
      t2i_replace_string (&self->tokens_output, v);
      break;
    case PROP_TOKEN_FEATURES:
      t2i_replace_string (&self->token_features, v);
      break;
    case PROP_VOCAB:
      t2i_replace_string (&self->vocab, v);
      g_clear_pointer (&self->tok, t2i_tokenizer_unref);
      break;
    case PROP_VOCAB_MERGES:
      self->vocab_merges = g_value_get_int (v);
      break;
    case PROP_NORMALIZE:
      self->normalize = g_value_get_boolean (v);
      break;
    case PROP_WEIGHTS_PREFIX:
      t2i_replace_string (&self->weights_prefix, v);
      break;
    case PROP_WIDTH:
      self->width = g_value_get_int (v);
      break;
    case PROP_LAYERS:
      self->layers = g_value_get_int (v);
      break;
    case PROP_HEADS:
      self->heads = g_value_get_int (v);
      break;
    case PROP_CONTEXT:
      self->context = g_value_get_int (v);
      break;
    case PROP_EMBED_DIM:
      self->embed_dim = g_value_get_int (v);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_text_encoder_get_property (GObject * obj, guint id, GValue * v,
    GParamSpec * pspec)
{
  T2iTextEncoder *self = T2I_TEXT_ENCODER (obj);

  switch (id) {
    case PROP_ARCH:
      g_value_set_enum (v, self->arch);
      break;
    case PROP_INPUT:
      g_value_set_string (v, self->input);
      break;
    case PROP_OUTPUT:
      g_value_set_string (v, self->output);
      break;
    case PROP_TOKENS_OUTPUT:
      g_value_set_string (v, self->tokens_output);
      break;
    case PROP_TOKEN_FEATURES:
      g_value_set_string (v, self->token_features);
      break;
    case PROP_VOCAB:
      g_value_set_string (v, self->vocab);
      break;
    case PROP_VOCAB_MERGES:
      g_value_set_int (v, self->vocab_merges);
      break;
    case PROP_NORMALIZE:
      g_value_set_boolean (v, self->normalize);
      break;
    case PROP_WEIGHTS_PREFIX:
      g_value_set_string (v, self->weights_prefix);
      break;
    case PROP_WIDTH:
      g_value_set_int (v, self->width);
      break;
    case PROP_LAYERS:
      g_value_set_int (v, self->layers);
      break;
    case PROP_HEADS:
      g_value_set_int (v, self->heads);
      break;
    case PROP_CONTEXT:
      g_value_set_int (v, self->context);
      break;
    case PROP_EMBED_DIM:
      g_value_set_int (v, self->embed_dim);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (obj, id, pspec);
  }
}

static void
t2i_text_encoder_finalize (GObject * obj)
{
  T2iTextEncoder *self = T2I_TEXT_ENCODER (obj);

  g_free (self->input);
  g_free (self->output);
  g_free (self->tokens_output);
  g_free (self->token_features);
  g_free (self->vocab);
  g_free (self->weights_prefix);
  g_free (self->file_prefix);
  g_clear_pointer (&self->tok, t2i_tokenizer_unref);
  g_clear_pointer (&self->clip, t2i_clip_free);
  G_OBJECT_CLASS (t2i_text_encoder_parent_class)->finalize (obj);
}

#define PARAM_FLAGS (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | \
    GST_PARAM_MUTABLE_READY)

static void
t2i_text_encoder_class_init (T2iTextEncoderClass * klass)
{
  GObjectClass *oc = G_OBJECT_CLASS (klass);
  GstElementClass *ec = GST_ELEMENT_CLASS (klass);
  T2iTransformClass *tc = T2I_TRANSFORM_CLASS (klass);

  oc->set_property = t2i_text_encoder_set_property;
  oc->get_property = t2i_text_encoder_get_property;
  oc->finalize = t2i_text_encoder_finalize;
  ec->change_state = t2i_text_encoder_change_state;
  tc->negotiate = t2i_text_encoder_negotiate;
  tc->build = t2i_text_encoder_build;
  tc->process = t2i_text_encoder_process;
  tc->load_weights = t2i_text_encoder_load_weights;

  g_object_class_install_property (oc, PROP_ARCH,
      g_param_spec_enum ("arch", "Architecture", "The text encoder",
          T2I_TYPE_TEXT_ARCH, ARCH_CLIP_TEXT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_INPUT,
      g_param_spec_string ("input", "Input",
          "Captions (str [N]) or token ids (i32 [N, L])", DEFAULT_INPUT,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_OUTPUT,
      g_param_spec_string ("output", "Output",
          "Entry of the pooled, projected embedding, f32 [N, E]",
          DEFAULT_OUTPUT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_TOKENS_OUTPUT,
      g_param_spec_string ("tokens-output", "Tokens output",
          "Entry of the token ids, i32 [N, L] (unset: not added)", NULL,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_TOKEN_FEATURES,
      g_param_spec_string ("token-features", "Token features",
          "Entry of the per-token features after ln_final, f32 [N, L, W] "
          "(unset: not computed)", NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_VOCAB,
      g_param_spec_string ("vocab", "Vocabulary",
          "BPE merges file in CLIP's format for caption input (unset: "
          "<weights>-vocab.txt when it exists, else byte symbols only)",
          NULL, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_VOCAB_MERGES,
      g_param_spec_int ("vocab-merges", "Vocabulary merges",
          "When vocab= does not exist: train a BPE of this many merges on "
          "the first record's captions and save it there (0: an error); a "
          "fresh model then has room for 514 + this many tokens",
          0, T2I_TOKENIZER_MAX_MERGES, 0, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_NORMALIZE,
      g_param_spec_boolean ("normalize", "Normalize",
          "L2-normalise the output embedding", FALSE, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_WEIGHTS_PREFIX,
      g_param_spec_string ("weights-prefix", "Weights prefix",
          "Prefix of the official names in weights= (unset: \"<group>.\" "
          "when present, else the file's only text tower)", NULL,
          PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_WIDTH,
      g_param_spec_int ("width", "Width",
          "Transformer width W of a fresh model (no weights=)", 8, 8192,
          DEFAULT_WIDTH, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_LAYERS,
      g_param_spec_int ("layers", "Layers",
          "Residual attention blocks of a fresh model", 0, 256,
          DEFAULT_LAYERS, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_HEADS,
      g_param_spec_int ("heads", "Heads",
          "Attention heads of a fresh model (0: width / 64, as OpenAI; "
          "files without t2i.clip.text_heads metadata assume that)", 0, 256,
          0, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_CONTEXT,
      g_param_spec_int ("context", "Context",
          "Token positions of a fresh model (captions are padded or "
          "truncated to it)", 2, 4096, DEFAULT_CONTEXT, PARAM_FLAGS));
  g_object_class_install_property (oc, PROP_EMBED_DIM,
      g_param_spec_int ("embed-dim", "Embedding size",
          "Joint embedding size E of a fresh model", 1, 65536,
          DEFAULT_EMBED_DIM, PARAM_FLAGS));

  gst_element_class_set_static_metadata (ec, "t2i text encoder",
      "Filter/Tensor", "Encodes captions or token ids with CLIP's text "
      "transformer (pretrained or trained from scratch)", "t2i authors");
  gst_element_class_add_static_metadata (ec, "t2i-example", EXAMPLE);

  gst_type_mark_as_plugin_api (T2I_TYPE_TEXT_ARCH, 0);
}

static void
t2i_text_encoder_init (T2iTextEncoder * self)
{
  self->input = g_strdup (DEFAULT_INPUT);
  self->output = g_strdup (DEFAULT_OUTPUT);
  self->width = DEFAULT_WIDTH;
  self->layers = DEFAULT_LAYERS;
  self->context = DEFAULT_CONTEXT;
  self->embed_dim = DEFAULT_EMBED_DIM;
}
