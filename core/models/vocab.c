/* The BPE vocabulary of a text encoder's captions (models-private.h), for
 * every architecture with the options vocab= and vocab-merges=.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include "models-private.h"

#include <string.h>

gboolean
t2i_model_vocab_open (T2iModelVocab * v, const GstStructure * config,
    T2iSafetensors * weights, GError ** error)
{
  const char *vocab = t2i_config_string (config, "vocab");
  memset (v, 0, sizeof *v);
  if (weights) {
    const char *w = t2i_safetensors_get_path (weights);
    g_autofree gchar *stem = g_str_has_suffix (w, ".safetensors") ?
        g_strndup (w, strlen (w) - strlen (".safetensors")) : g_strdup (w);
    v->sibling = g_strconcat (stem, "-vocab.txt", NULL);
  }
  const char *path = vocab && *vocab ? vocab : v->sibling;
  if (path && g_file_test (path, G_FILE_TEST_EXISTS)) {
    v->tok = t2i_tokenizer_load (path, error);
    if (!v->tok)
      g_prefix_error (error, "vocab=%s: ", path);
    return v->tok != NULL;
  }
  if (vocab && *vocab && t2i_config_int (config, "vocab-merges") > 0) {
    v->train = TRUE;
    return TRUE;
  }
  if (vocab && *vocab) {
    g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT,
        "vocab=%s does not exist (set vocab-merges=N to train one on the "
        "first record's captions and save it there)", vocab);
    return FALSE;
  }
  static const char header[] = "#version: 0.2\n";
  g_autoptr (GBytes) b = g_bytes_new_static (header, strlen (header));
  v->tok = t2i_tokenizer_new_from_bytes (b, error);
  v->bytes_only = TRUE;
  return v->tok != NULL;
}

gboolean
t2i_model_vocab_prepare (T2iModelVocab * v, const GstStructure * config,
    const char *const *captions, gsize n, GError ** error)
{
  if (!v->train)
    return TRUE;
  const char *vocab = t2i_config_string (config, "vocab");
  T2iTokenizer *tok = t2i_tokenizer_train (captions, n,
      t2i_config_int (config, "vocab-merges"), error);
  if (!tok || !t2i_tokenizer_save (tok, vocab, error)) {
    if (tok)
      t2i_tokenizer_unref (tok);
    g_prefix_error (error, "vocab=%s: ", vocab);
    return FALSE;
  }
  v->tok = tok;
  v->train = FALSE;
  return TRUE;
}

void
t2i_model_vocab_clear (T2iModelVocab * v)
{
  g_clear_pointer (&v->tok, t2i_tokenizer_unref);
  g_clear_pointer (&v->sibling, g_free);
}
