/* arch=bilstm for t2itextencoder: the text encoder of AttnGAN's DAMSM
 * (Xu et al. 2018, Sec. 3.3; taoxugit/AttnGAN RNN_ENCODER), the word and
 * sentence features ICSD-GAN conditions on.
 *
 *   e = dropout(embedding(w))                 [N, T, word-dim]
 *   h_t = [forward LSTM_t(e), backward LSTM_t(e)]   [N, T, 2 hidden]
 *   words = h, sentence = [last forward state, last backward state]
 *
 * Captions are BPE tokens of the project's tokenizer (vocab=, as arch=clip),
 * without its start and end tokens: the "words" are BPE tokens, which on
 * template captions with a trained vocabulary are the words.  Captions
 * have their own lengths, handled exactly as PyTorch's packed sequences:
 * the forward direction's state stops at each caption's last token, the
 * backward direction starts there from zeros, and the outputs past a
 * caption's end are zeros (so a caption's features do not depend on how
 * long the others of its batch are).  The words entry has context=
 * positions; token-mask= marks the real ones.
 *
 * Parameters, with PyTorch's names (an AttnGAN text_encoder.pth converted
 * to safetensors loads as is): encoder.weight [V, word-dim] (uniform
 * +-0.1 as AttnGAN), rnn.{weight_ih,weight_hh,bias_ih,bias_hh}_l0 and the
 * same with _reverse (uniform +-1/sqrt(hidden) as torch.nn.LSTM).  Dropout
 * (dropout=) applies to the embeddings while the encoder trains.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "archs.h"

#include <math.h>
#include <string.h>

static const T2iOption options[] = {
  T2I_OPTION_ENTRY ("input", "caption", 0,
      "Captions (str [N]) or token ids (i32 [N, L] as the tokenizer writes "
      "them: start token, ids, end token, padding)"),
  T2I_OPTION_ENTRY ("output", "text_emb", 0,
      "The sentence features, f32 [N, 2 hidden]"),
  T2I_OPTION_ENTRY ("token-features", "words", 0,
      "Entry for the word features, f32 [N, context, 2 hidden] (zeros after "
      "each caption's last word)"),
  T2I_OPTION_ENTRY ("token-mask", "words_mask", 0,
      "Entry for the mask of real words, f32 [N, context]"),
  T2I_OPTION_ENTRY ("tokens-output", NULL, 0,
      "Entry for the token ids, i32 [N, L] (unset: not added)"),
  T2I_OPTION_STRING ("vocab", NULL, 0,
      "BPE merges file (CLIP's format); default: <weights>-vocab.txt "
      "beside weights=, else bytes only"),
  T2I_OPTION_INT ("vocab-merges", 0, 0, T2I_TOKENIZER_MAX_MERGES, 0,
      "With vocab= not existing yet: train a BPE of this many merges on "
      "the first record's captions and save it there"),
  T2I_OPTION_DOUBLE ("dropout", 0.5, 0.0, 1.0, 0,
      "Dropout on the word embeddings while the encoder trains"),
  T2I_OPTION_INT ("context", 18, 1, 4096, T2I_OPTION_MODEL,
      "Words per caption at most (longer captions are cut; AttnGAN's "
      "WORDS_NUM)"),
  T2I_OPTION_INT ("word-dim", 300, 1, 8192, T2I_OPTION_MODEL,
      "Size of the word embeddings"),
  T2I_OPTION_INT ("hidden", 128, 1, 8192, T2I_OPTION_MODEL,
      "Hidden size of each direction: the features have 2 hidden"),
  T2I_OPTION_INT ("vocab-size", 0, 0, 1 << 24, T2I_OPTION_MODEL,
      "Token ids the model embeds (0: the vocabulary's size)"),
  {NULL}
};

typedef struct
{
  T2iTensor *w_ih, *w_hh, *b_ih, *b_hh;
} Direction;

typedef struct
{
  T2iModelVocab vocab;
  gint context, hidden, vocab_size;
  double dropout;
  T2iTensor *embedding;
  Direction dir[2];             /* forward, reverse */
} BiLstm;

static void
bilstm_free (gpointer p)
{
  BiLstm *m = p;
  t2i_model_vocab_clear (&m->vocab);
  g_free (m);
}

/* checks the input; *n: batch; *text: captions, not ids */
static gboolean
check (const GstStructure * config, const GstStructure * in, gint64 * n,
    gboolean * text, GError ** error)
{
  const char *input = t2i_config_string (config, "input");
  gint64 shape[T2I_MAX_DIMS];
  gint ndim;
  const char *dtype;

  if (!t2i_caps_get_entry (in, input, &dtype, &ndim, shape)) {
    t2i_caps_require (in, input, "str", 1, NULL, error);
    g_prefix_error (error, "input=%s: ", input);
    return FALSE;
  }
  *text = g_strcmp0 (dtype, "str") == 0;
  if (*text && ndim != 1) {
    g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
        "input=%s: captions must be str [N]", input);
    return FALSE;
  }
  if (!*text && !t2i_caps_require (in, input, "i32", 2, NULL, error)) {
    g_prefix_error (error, "input=%s (captions str [N] or token ids): ",
        input);
    return FALSE;
  }
  *n = shape[0];
  return TRUE;
}

static gboolean
negotiate (const GstStructure * config, const GstStructure * in,
    GstStructure * out, GError ** error)
{
  gint64 n;
  gboolean text;
  if (!check (config, in, &n, &text, error))
    return FALSE;
  const gint context = t2i_config_int (config, "context");
  const gint64 d = 2 * (gint64) t2i_config_int (config, "hidden");
  gint64 sent[2] = { n, d }, words[3] = { n, context, d }, mask[2] = { n,
    context
  };
  t2i_caps_set_entry (out, t2i_config_string (config, "output"), "f32", 2,
      sent);
  if (t2i_config_has_string (config, "token-features"))
    t2i_caps_set_entry (out, t2i_config_string (config, "token-features"),
        "f32", 3, words);
  if (t2i_config_has_string (config, "token-mask"))
    t2i_caps_set_entry (out, t2i_config_string (config, "token-mask"), "f32",
        2, mask);
  if (t2i_config_has_string (config, "tokens-output")) {
    gint64 ts[2] = { n, context + 2 };
    if (!text) {
      gint64 s[T2I_MAX_DIMS];
      t2i_caps_get_entry (in, t2i_config_string (config, "input"), NULL, NULL,
          s);
      ts[1] = s[1];
    }
    t2i_caps_set_entry (out, t2i_config_string (config, "tokens-output"),
        "i32", 2, ts);
  }
  return TRUE;
}

static T2iTensor *
uniform (gint64 rows, gint64 cols, double bound, T2iRng * rng)
{
  T2iTensor *t = cols > 0 ? t2i_tensor_new (T2I_F32, T2I_SHAPE (rows, cols))
      : t2i_tensor_new (T2I_F32, T2I_SHAPE (rows));
  if (rng)
    t2i_rng_fill_uniform (rng, t, -bound, bound);
  else
    t2i_init_zeros (t);
  return t;
}

static gpointer
build (GstStructure * config, const GstStructure * in,
    const T2iArchContext * ctx, GError ** error)
{
  gint64 n;
  gboolean text;
  if (!check (config, in, &n, &text, error))
    return NULL;
  BiLstm *m = g_new0 (BiLstm, 1);
  if (text && !t2i_model_vocab_open (&m->vocab, config, ctx->weights, error))
    goto fail;
  gint vocab_size = t2i_config_int (config, "vocab-size");
  const gint merges = t2i_config_int (config, "vocab-merges");
  if (vocab_size == 0) {
    if (!m->vocab.tok && !m->vocab.train) {
      g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
          "input=%s holds token ids: give the model's vocab-size=",
          t2i_config_string (config, "input"));
      goto fail;
    }
    /* with vocab-merges, the size a vocabulary trained now can reach (or
     * the larger one that exists) */
    const gint have = m->vocab.tok ? t2i_tokenizer_vocab_size (m->vocab.tok)
        : 0;
    vocab_size = merges > 0 ? MAX (T2I_TOKENIZER_N_BYTE_TOKENS + 2 + merges,
        have) : have;
  }
  t2i_config_set_int (config, "vocab-size", vocab_size);
  if (m->vocab.bytes_only && ctx->weights
      && vocab_size != t2i_tokenizer_vocab_size (m->vocab.tok)) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "weights=%s was trained with a vocabulary of %d tokens: set vocab= "
        "to its merges file (none given, and no %s beside it)",
        t2i_safetensors_get_path (ctx->weights), vocab_size,
        m->vocab.sibling);
    goto fail;
  }
  if (m->vocab.tok && t2i_tokenizer_vocab_size (m->vocab.tok) > vocab_size) {
    g_set_error (error, T2I_MODEL_ERROR, T2I_MODEL_ERROR_CONFIG,
        "the vocabulary has %d tokens but the model only %d",
        t2i_tokenizer_vocab_size (m->vocab.tok), vocab_size);
    goto fail;
  }

  m->vocab_size = vocab_size;
  m->context = t2i_config_int (config, "context");
  m->hidden = t2i_config_int (config, "hidden");
  m->dropout = t2i_config_double (config, "dropout");
  const gint64 e = t2i_config_int (config, "word-dim"), h = m->hidden;
  T2iRng *rng = ctx->weights ? NULL : ctx->init_rng;
  m->embedding = t2i_model_add (ctx->params, NULL, "encoder.weight",
      uniform (vocab_size, e, 0.1, rng), TRUE);
  const double bound = 1.0 / sqrt ((double) h);
  for (gint d = 0; d < 2; d++) {
    const char *sfx = d ? "_reverse" : "";
    g_autofree char *wi = g_strdup_printf ("rnn.weight_ih_l0%s", sfx);
    g_autofree char *wh = g_strdup_printf ("rnn.weight_hh_l0%s", sfx);
    g_autofree char *bi = g_strdup_printf ("rnn.bias_ih_l0%s", sfx);
    g_autofree char *bh = g_strdup_printf ("rnn.bias_hh_l0%s", sfx);
    m->dir[d].w_ih = t2i_model_add (ctx->params, NULL, wi,
        uniform (4 * h, e, bound, rng), TRUE);
    m->dir[d].w_hh = t2i_model_add (ctx->params, NULL, wh,
        uniform (4 * h, h, bound, rng), TRUE);
    m->dir[d].b_ih = t2i_model_add (ctx->params, NULL, bi,
        uniform (4 * h, 0, bound, rng), TRUE);
    m->dir[d].b_hh = t2i_model_add (ctx->params, NULL, bh,
        uniform (4 * h, 0, bound, rng), TRUE);
  }
  return m;

fail:
  bilstm_free (m);
  return NULL;
}

/* The word ids of each row of @tokens (start token, ids, end token, ...),
 * at most @context of them: ids [N, T] (0 after a row's end), *lengths
 * (new array) and *t the longest row */
static T2iTensor *
word_ids (T2iTensor * tokens, gint32 sot, gint32 eot, gint context,
    gint64 ** lengths, gint64 * t_max)
{
  const gint64 n = tokens->shape[0], l = tokens->shape[1];
  const gint32 *tk = tokens->data;
  gint64 *len = g_new0 (gint64, n), longest = 1;
  for (gint64 i = 0; i < n; i++) {
    const gint32 *row = tk + i * l;
    const gint64 first = row[0] == sot ? 1 : 0;
    for (gint64 j = first; j < l && row[j] != eot && len[i] < context; j++)
      len[i]++;
    longest = MAX (longest, len[i]);
  }
  T2iTensor *ids = t2i_tensor_zeros (T2I_I32, T2I_SHAPE (n, longest));
  for (gint64 i = 0; i < n; i++) {
    const gint32 *row = tk + i * l;
    const gint64 first = row[0] == sot ? 1 : 0;
    for (gint64 j = 0; j < len[i]; j++)
      t2i_tensor_i32 (ids)[i * longest + j] = row[first + j];
  }
  *lengths = len;
  *t_max = longest;
  return ids;
}

/* h' where the row is still inside its caption at step t, else h */
static T2iTensor *
hold (T2iTensor * fresh, T2iTensor * old, T2iTensor * keep, T2iTensor * stop)
{
  if (!keep)
    return t2i_tensor_ref (fresh);
  g_autoptr (T2iTensor) a = t2i_mul (fresh, keep);
  g_autoptr (T2iTensor) b = t2i_mul (old, stop);
  return t2i_add (a, b);
}

/* [N, 1] masks: 1 (and 0) where t < length, or both %NULL when every row
 * is inside its caption */
static void
step_masks (const gint64 * lengths, gint64 n, gint64 t, T2iTensor ** keep,
    T2iTensor ** stop)
{
  gboolean all = TRUE;
  for (gint64 i = 0; i < n; i++)
    all &= t < lengths[i];
  *keep = *stop = NULL;
  if (all)
    return;
  *keep = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (n, 1));
  *stop = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (n, 1));
  for (gint64 i = 0; i < n; i++)
    t2i_tensor_f32 (t < lengths[i] ? *keep : *stop)[i] = 1.0f;
}

/* one direction over the T steps: outputs[t] [N, H] (zero past a row's
 * end) and the final state *last */
static void
run_direction (Direction * d, T2iTensor ** xs, const gint64 * lengths,
    gint64 n, gint64 t_max, gint64 hidden, gboolean reverse,
    T2iTensor ** outputs, T2iTensor ** last)
{
  T2iTensor *h = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (n, hidden));
  T2iTensor *c = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (n, hidden));
  for (gint64 k = 0; k < t_max; k++) {
    const gint64 t = reverse ? t_max - 1 - k : k;
    T2iTensor *c_new = NULL;
    g_autoptr (T2iTensor) h_new = t2i_lstm_cell (xs[t], h, c, d->w_ih,
        d->w_hh, d->b_ih, d->b_hh, &c_new);
    g_autoptr (T2iTensor) cn = c_new;
    g_autoptr (T2iTensor) keep = NULL;
    g_autoptr (T2iTensor) stop = NULL;
    step_masks (lengths, n, t, &keep, &stop);
    outputs[t] = keep ? t2i_mul (h_new, keep) : t2i_tensor_ref (h_new);
    T2iTensor *h2 = hold (h_new, h, keep, stop);
    T2iTensor *c2 = hold (cn, c, keep, stop);
    t2i_tensor_unref (h);
    t2i_tensor_unref (c);
    h = h2;
    c = c2;
  }
  t2i_tensor_unref (c);
  *last = h;
}

static gboolean
forward (gpointer net, const T2iArchContext * ctx, GstBuffer * record,
    GError ** error)
{
  BiLstm *m = net;
  const GstStructure *config = ctx->config;
  const char *input = t2i_config_string (config, "input");
  const char *const *captions = t2i_record_get_strings (record, input);
  g_autoptr (T2iTensor) tokens = NULL;
  gint32 sot = m->vocab_size - 2, eot = m->vocab_size - 1;

  if (captions) {
    const gsize n = g_strv_length ((gchar **) captions);
    if (!t2i_model_vocab_prepare (&m->vocab, config, captions, n, error))
      return FALSE;
    if (!m->vocab.tok) {
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "input=%s: captions reached an encoder built for token ids",
          input);
      return FALSE;
    }
    sot = t2i_tokenizer_sot (m->vocab.tok);
    eot = t2i_tokenizer_eot (m->vocab.tok);
    tokens = t2i_tokenizer_encode_batch (m->vocab.tok, captions, n,
        m->context + 2, NULL);
  } else {
    T2iTensor *in = t2i_record_get_tensor (record, input);
    if (!in || in->dtype != T2I_I32 || in->ndim != 2) {
      g_autofree char *has = t2i_record_describe (record);
      g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
          "input=%s must be captions or i32 [N, L] token ids (the record "
          "has: %s)", input, has);
      return FALSE;
    }
    for (gint64 i = 0; i < in->numel; i++)
      if (t2i_tensor_i32 (in)[i] < 0
          || t2i_tensor_i32 (in)[i] >= m->vocab_size) {
        g_set_error (error, T2I_RECORD_ERROR, T2I_RECORD_ERROR_MISMATCH,
            "input=%s holds the id %d, outside the model's vocab-size=%d",
            input, t2i_tensor_i32 (in)[i], m->vocab_size);
        return FALSE;
      }
    tokens = t2i_tensor_ref (in);
  }

  const gint64 n = tokens->shape[0], hd = m->hidden;
  g_autofree gint64 *lengths = NULL;
  gint64 t_max;
  g_autoptr (T2iTensor) ids = word_ids (tokens, sot, eot, m->context,
      &lengths, &t_max);
  g_autoptr (T2iTensor) emb0 = t2i_embedding (m->embedding, ids);
  g_autoptr (T2iTensor) emb = t2i_dropout (emb0, m->dropout,
      ctx->training && ctx->trainable, ctx->rng);

  /* the embeddings of step t, [N, E] */
  T2iTensor **xs = g_new0 (T2iTensor *, t_max);
  for (gint64 t = 0; t < t_max; t++) {
    g_autoptr (T2iTensor) s = t2i_slice (emb, 1, t, t + 1);
    xs[t] = t2i_reshape (s, T2I_SHAPE (n, -1));
  }
  T2iTensor **outs[2] = { g_new0 (T2iTensor *, t_max),
    g_new0 (T2iTensor *, t_max)
  };
  T2iTensor *last[2] = { NULL };
  for (gint d = 0; d < 2; d++)
    run_direction (&m->dir[d], xs, lengths, n, t_max, hd, d == 1, outs[d],
        &last[d]);

  /* words [N, context, 2H]: per step [forward, reverse], zeros after */
  T2iTensor **steps = g_new0 (T2iTensor *, m->context + 1);
  for (gint64 t = 0; t < t_max; t++) {
    T2iTensor *pair[2] = { outs[0][t], outs[1][t] };
    g_autoptr (T2iTensor) cat = t2i_concat (pair, 2, 1);
    steps[t] = t2i_reshape (cat, T2I_SHAPE (n, 1, 2 * hd));
  }
  gint n_steps = (gint) t_max;
  if (t_max < m->context)
    steps[n_steps++] = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (n,
            m->context - t_max, 2 * hd));
  g_autoptr (T2iTensor) words = t2i_concat (steps, n_steps, 1);
  g_autoptr (T2iTensor) sentence = t2i_concat (last, 2, 1);
  for (gint i = 0; i < n_steps; i++)
    t2i_tensor_unref (steps[i]);
  g_free (steps);
  for (gint64 t = 0; t < t_max; t++) {
    t2i_tensor_unref (xs[t]);
    t2i_tensor_unref (outs[0][t]);
    t2i_tensor_unref (outs[1][t]);
  }
  g_free (xs);
  g_free (outs[0]);
  g_free (outs[1]);
  t2i_tensor_unref (last[0]);
  t2i_tensor_unref (last[1]);

  if (!t2i_record_set_tensor (record, t2i_config_string (config, "output"),
          sentence, error))
    return FALSE;
  if (t2i_config_has_string (config, "token-features")
      && !t2i_record_set_tensor (record, t2i_config_string (config,
              "token-features"), words, error))
    return FALSE;
  if (t2i_config_has_string (config, "token-mask")) {
    g_autoptr (T2iTensor) mask = t2i_tensor_zeros (T2I_F32, T2I_SHAPE (n,
            m->context));
    for (gint64 i = 0; i < n; i++)
      for (gint64 t = 0; t < lengths[i]; t++)
        t2i_tensor_f32 (mask)[i * m->context + t] = 1.0f;
    if (!t2i_record_set_tensor (record, t2i_config_string (config,
                "token-mask"), mask, error))
      return FALSE;
  }
  return !t2i_config_has_string (config, "tokens-output")
      || t2i_record_set_tensor (record, t2i_config_string (config,
          "tokens-output"), tokens, error);
}

const T2iArch t2i_arch_bilstm = {
  "bilstm", T2I_ROLE_TEXT_ENCODER,
  "AttnGAN's DAMSM text encoder: word embeddings, dropout, a bidirectional "
      "LSTM; word and sentence features",
  options, "rnn.weight_ih_l0_reverse",
  NULL, NULL, negotiate, build, NULL, forward, bilstm_free,
};
