/* libFuzzer target: the BPE tokenizer.  The first byte picks what the
 * rest is: even, text that the shipped CLIP vocabulary encodes (cleaning,
 * splitting, merges, then decoding back); odd, a merges file to load, then
 * a fixed caption encoded with it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "t2i-config.h"
#include <t2i/tokenizer.h>

#include <string.h>

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const guint8 * data, size_t size);

static T2iTokenizer *clip;

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  const char *dir = g_getenv ("T2I_SOURCE_DIR");
  g_autofree char *path = g_build_filename (dir ? dir : T2I_SOURCE_DIR,
      "models", "clip-shapes-vocab.txt", NULL);
  GError *error = NULL;
  clip = t2i_tokenizer_load (path, &error);
  g_assert_no_error (error);
  return 0;
}

int
LLVMFuzzerTestOneInput (const guint8 * data, size_t size)
{
  gint32 ids[T2I_TOKENIZER_CONTEXT_LENGTH];
  GError *error = NULL;

  if (!clip)
    LLVMFuzzerInitialize (NULL, NULL);
  if (size == 0)
    return 0;
  if (data[0] % 2 == 0) {
    g_autofree char *text = g_strndup ((const char *) data + 1, size - 1);
    gboolean truncated;
    gint n = t2i_tokenizer_encode (clip, text, T2I_TOKENIZER_CONTEXT_LENGTH,
        ids, &truncated);
    g_assert (n >= 2 && n <= T2I_TOKENIZER_CONTEXT_LENGTH);
    g_assert (ids[0] == t2i_tokenizer_sot (clip)
        && ids[n - 1] == t2i_tokenizer_eot (clip));
    g_autofree char *back = t2i_tokenizer_decode (clip, ids, (gsize) n, TRUE);
    g_assert (back != NULL);
    GPtrArray *words = t2i_tokenizer_split (text);
    g_ptr_array_unref (words);
    return 0;
  }
  GBytes *bytes = g_bytes_new (data + 1, size - 1);
  T2iTokenizer *tok = t2i_tokenizer_new_from_bytes (bytes, &error);
  g_bytes_unref (bytes);
  if (!tok) {
    g_assert (error && !strchr (error->message, '\n'));
    g_error_free (error);
    return 0;
  }
  gint n = t2i_tokenizer_encode (tok, "a red circle above a blue square",
      T2I_TOKENIZER_CONTEXT_LENGTH, ids, NULL);
  for (gint i = 0; i < n; i++)
    g_assert (ids[i] >= 0 && ids[i] < t2i_tokenizer_vocab_size (tok)
        && t2i_tokenizer_token (tok, ids[i]) != NULL);
  g_free (t2i_tokenizer_decode (tok, ids, (gsize) n, FALSE));
  t2i_tokenizer_unref (tok);
  return 0;
}
