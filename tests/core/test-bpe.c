/* Tests for the BPE tokenizers (core/data/bpe.c): CLIP golden ids, our own
 * training, file round trips.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <t2i/shapes.h>
#include <t2i/tokenizer.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

static char *
clip_vocab_path (void)
{
  const char *shared = g_getenv ("T2I_SHARED_DIR");
  char *path;

  if (!shared)
    return NULL;
  path = g_build_filename (shared, "data", "bpe_simple_vocab_16e6.txt.gz",
      NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_free (path);
    return NULL;
  }
  return path;
}

static T2iTokenizer *
load_clip_or_skip (void)
{
  char *path = clip_vocab_path ();
  GError *error = NULL;
  T2iTokenizer *tok;

  if (!path) {
    g_test_skip ("CLIP merges not found: set T2I_SHARED_DIR to the folder "
        "holding data/bpe_simple_vocab_16e6.txt.gz");
    return NULL;
  }
  tok = t2i_tokenizer_load (path, &error);
  g_assert_no_error (error);
  g_free (path);
  return tok;
}

static void
assert_ids (JsonArray * want, const gint32 * got, guint n, const char *what,
    const char *text)
{
  guint i;

  if (json_array_get_length (want) != n)
    g_error ("%s of \"%s\": %u ids, want %u", what, text, n,
        json_array_get_length (want));
  for (i = 0; i < n; i++)
    if (json_array_get_int_element (want, i) != got[i])
      g_error ("%s of \"%s\": id %u is %d, want %" G_GINT64_FORMAT, what,
          text, i, got[i], json_array_get_int_element (want, i));
}

static void
test_golden (void)
{
  T2iTokenizer *tok = load_clip_or_skip ();
  const char *src = g_getenv ("T2I_SOURCE_DIR");
  char *golden;
  JsonParser *parser;
  JsonObject *root;
  JsonArray *cases;
  GError *error = NULL;
  guint c, n_ftfy = 0;

  if (!tok)
    return;
  g_assert_nonnull (src);
  golden = g_build_filename (src, "tests", "golden", "tokenizer.json", NULL);
  parser = json_parser_new ();
  json_parser_load_from_file (parser, golden, &error);
  g_assert_no_error (error);
  root = json_node_get_object (json_parser_get_root (parser));

  g_assert_cmpint (t2i_tokenizer_vocab_size (tok), ==,
      json_object_get_int_member (root, "vocab_size"));
  g_assert_cmpint (t2i_tokenizer_sot (tok), ==,
      json_object_get_int_member (root, "sot"));
  g_assert_cmpint (t2i_tokenizer_eot (tok), ==,
      json_object_get_int_member (root, "eot"));
  g_assert_cmpint (t2i_tokenizer_n_merges (tok), ==, T2I_TOKENIZER_MAX_MERGES);

  cases = json_object_get_array_member (root, "cases");
  g_assert_cmpuint (json_array_get_length (cases), >, 40);
  for (c = 0; c < json_array_get_length (cases); c++) {
    JsonObject *k = json_array_get_object_element (cases, c);
    const char *text = json_object_get_string_member (k, "text");
    JsonArray *want_words = json_object_get_array_member (k, "words");
    gint32 ctx[T2I_TOKENIZER_CONTEXT_LENGTH];
    gboolean truncated, has_special;
    GPtrArray *words;
    GArray *ids;
    char *clean, *decoded;
    gint n;
    guint i;

    if (json_object_has_member (k, "ftfy_note"))
      n_ftfy++;

    clean = t2i_tokenizer_clean (text);
    g_assert_cmpstr (clean, ==, json_object_get_string_member (k, "clean"));
    g_free (clean);

    words = t2i_tokenizer_split (text);
    g_assert_cmpuint (words->len, ==, json_array_get_length (want_words));
    for (i = 0; i < words->len; i++)
      g_assert_cmpstr (g_ptr_array_index (words, i), ==,
          json_array_get_string_element (want_words, i));
    g_ptr_array_unref (words);

    ids = t2i_tokenizer_encode_ids (tok, text);
    assert_ids (json_object_get_array_member (k, "ids"),
        (const gint32 *) ids->data, ids->len, "encode", text);

    n = t2i_tokenizer_encode (tok, text, T2I_TOKENIZER_CONTEXT_LENGTH, ctx,
        &truncated);
    assert_ids (json_object_get_array_member (k, "context"), ctx,
        T2I_TOKENIZER_CONTEXT_LENGTH, "tokenize", text);
    g_assert_cmpint (truncated, ==,
        json_object_get_boolean_member (k, "truncated"));
    g_assert_cmpint (n, ==, MIN ((gint) ids->len + 2,
            T2I_TOKENIZER_CONTEXT_LENGTH));
    g_assert_cmpint (ctx[n - 1], ==, t2i_tokenizer_eot (tok));

    decoded = t2i_tokenizer_decode (tok, (const gint32 *) ids->data, ids->len,
        FALSE);
    g_assert_cmpstr (decoded, ==, json_object_get_string_member (k, "decoded"));
    g_free (decoded);

    /* skip_special drops SOT, stops at EOT and so before the padding (for
     * text without literal special tokens) */
    has_special = FALSE;
    for (i = 0; i < ids->len; i++)
      has_special |= g_array_index (ids, gint32, i) >= t2i_tokenizer_sot (tok);
    if (!truncated && !has_special) {
      char *a = t2i_tokenizer_decode (tok, ctx, T2I_TOKENIZER_CONTEXT_LENGTH,
          TRUE);

      g_assert_cmpstr (a, ==, json_object_get_string_member (k, "decoded"));
      g_free (a);
    }
    g_array_unref (ids);
  }
  g_test_message ("%u golden cases (%u that ftfy would change, compared "
      "without ftfy)", json_array_get_length (cases), n_ftfy);

  g_object_unref (parser);
  g_free (golden);
  t2i_tokenizer_unref (tok);
}

static void
test_vocab (void)
{
  T2iTokenizer *tok = load_clip_or_skip ();
  gint32 ctx[8];
  gboolean truncated = FALSE;
  char *s;

  if (!tok)
    return;
  g_assert_cmpstr (t2i_tokenizer_token (tok, 0), ==, "!");
  g_assert_cmpstr (t2i_tokenizer_token (tok, 256), ==, "!</w>");
  g_assert_cmpstr (t2i_tokenizer_token (tok, 49406), ==, "<|startoftext|>");
  g_assert_cmpstr (t2i_tokenizer_token (tok, 49407), ==, "<|endoftext|>");
  g_assert_null (t2i_tokenizer_token (tok, 49408));
  g_assert_null (t2i_tokenizer_token (tok, -1));
  g_assert_cmpint (t2i_tokenizer_token_id (tok, "a</w>"), ==, 320);
  g_assert_cmpint (t2i_tokenizer_token_id (tok, "no such token"), ==, -1);

  /* a short context: truncated, the last id stays EOT */
  g_assert_cmpint (t2i_tokenizer_encode (tok, "a photo of a cat", 5, ctx,
          &truncated), ==, 5);
  g_assert_true (truncated);
  g_assert_cmpint (ctx[0], ==, 49406);
  g_assert_cmpint (ctx[1], ==, 320);
  g_assert_cmpint (ctx[4], ==, 49407);

  /* a batch, as the `tokens` entry of a record */
  {
    const char *texts[] = { "a photo of a cat", "", NULL };
    gint n_trunc = -1;
    T2iTensor *t = t2i_tokenizer_encode_batch (tok, texts, 3, 77, &n_trunc);

    g_assert_cmpint (t->dtype, ==, T2I_I32);
    g_assert_cmpint (t->shape[0], ==, 3);
    g_assert_cmpint (t->shape[1], ==, 77);
    g_assert_cmpint (n_trunc, ==, 0);
    g_assert_cmpint (t2i_tensor_i32 (t)[1], ==, 320);
    g_assert_cmpint (t2i_tensor_i32 (t)[77], ==, 49406);
    g_assert_cmpint (t2i_tensor_i32 (t)[78], ==, 49407);
    g_assert_cmpint (t2i_tensor_i32 (t)[154], ==, 49406);
    t2i_tensor_unref (t);
  }

  /* invalid UTF-8 and out-of-range ids do not crash */
  g_assert_cmpint (t2i_tokenizer_encode (tok, "\xff\xfe abc \xc3", 8, ctx,
          NULL), >=, 3);
  ctx[0] = 99999;
  ctx[1] = -5;
  ctx[2] = 320;
  s = t2i_tokenizer_decode (tok, ctx, 3, FALSE);
  g_assert_cmpstr (s, ==, "\xef\xbf\xbd\xef\xbf\xbd" "a ");
  g_free (s);
  t2i_tokenizer_unref (tok);
}

typedef struct
{
  T2iTokenizer *tok;
  const char *const *texts;
  gint n;
  gint32 *out;
} ThreadJob;

static gpointer
encode_thread (gpointer data)
{
  ThreadJob *job = data;
  gint i, r;

  for (r = 0; r < 5; r++)
    for (i = 0; i < job->n; i++)
      t2i_tokenizer_encode (job->tok, job->texts[i],
          T2I_TOKENIZER_CONTEXT_LENGTH,
          job->out + (gsize) i * T2I_TOKENIZER_CONTEXT_LENGTH, NULL);
  return NULL;
}

static void
test_threads (void)
{
  T2iTokenizer *tok = load_clip_or_skip ();
  static const char *const texts[] = {
    "a red circle", "two dogs in the snow", "café naïve", "東京タワー",
    "it's a dog's life", "1234567890", "a small blue star at the bottom",
  };
  gint n = G_N_ELEMENTS (texts), t, i;
  ThreadJob jobs[4];
  GThread *threads[4];

  if (!tok)
    return;
  for (t = 0; t < 4; t++) {
    jobs[t].tok = tok;
    jobs[t].texts = texts;
    jobs[t].n = n;
    jobs[t].out = g_new (gint32, n * T2I_TOKENIZER_CONTEXT_LENGTH);
    threads[t] = g_thread_new ("encode", encode_thread, &jobs[t]);
  }
  for (t = 0; t < 4; t++)
    g_thread_join (threads[t]);
  for (t = 1; t < 4; t++)
    for (i = 0; i < n * T2I_TOKENIZER_CONTEXT_LENGTH; i++)
      g_assert_cmpint (jobs[t].out[i], ==, jobs[0].out[i]);
  for (t = 0; t < 4; t++)
    g_free (jobs[t].out);
  t2i_tokenizer_unref (tok);
}

static GPtrArray *
shapes_captions (guint64 seed, gint n)
{
  GPtrArray *caps = g_ptr_array_new_with_free_func (g_free);
  T2iShapesConfig cfg;
  gint i;

  t2i_shapes_config_init (&cfg);
  cfg.seed = seed;
  for (i = 0; i < n; i++) {
    T2iShapesItem it;

    t2i_shapes_sample (&cfg, (guint64) i, &it);
    g_ptr_array_add (caps, t2i_shapes_caption (&cfg, &it, it.caption_variant));
  }
  return caps;
}

static char *
strip_spaces (const char *s)
{
  GString *out = g_string_new (NULL);

  for (; *s; s++)
    if (*s != ' ')
      g_string_append_c (out, *s);
  return g_string_free (out, FALSE);
}

static void
test_train_roundtrip (void)
{
  GPtrArray *caps = shapes_captions (7, 2000);
  GPtrArray *held = shapes_captions (8, 300);
  GError *error = NULL;
  T2iTokenizer *tok, *again, *plain, *twice;
  char *dir, *gz, *txt;
  gchar *d1, *d2;
  gsize l1, l2;
  guint i;
  gint64 n_tokens = 0, n_bytes = 0;

  tok = t2i_tokenizer_train ((const char *const *) caps->pdata, caps->len,
      300, &error);
  g_assert_no_error (error);
  g_assert_cmpint (t2i_tokenizer_n_merges (tok), >, 100);
  g_assert_cmpint (t2i_tokenizer_n_merges (tok), <=, 300);
  g_assert_cmpint (t2i_tokenizer_vocab_size (tok), ==,
      514 + t2i_tokenizer_n_merges (tok));
  g_assert_cmpint (t2i_tokenizer_sot (tok), ==,
      512 + t2i_tokenizer_n_merges (tok));
  g_assert_cmpint (t2i_tokenizer_eot (tok), ==,
      513 + t2i_tokenizer_n_merges (tok));

  dir = g_dir_make_tmp ("t2i-bpe-XXXXXX", &error);
  g_assert_no_error (error);
  gz = g_build_filename (dir, "merges.txt.gz", NULL);
  txt = g_build_filename (dir, "merges.txt", NULL);
  g_assert_true (t2i_tokenizer_save (tok, gz, &error));
  g_assert_no_error (error);
  g_assert_true (t2i_tokenizer_save (tok, txt, &error));
  g_assert_no_error (error);

  again = t2i_tokenizer_load (gz, &error);
  g_assert_no_error (error);
  plain = t2i_tokenizer_load (txt, &error);
  g_assert_no_error (error);
  g_assert_cmpint (t2i_tokenizer_vocab_size (again), ==,
      t2i_tokenizer_vocab_size (tok));
  for (i = 0; i < (guint) t2i_tokenizer_vocab_size (tok); i++) {
    g_assert_cmpstr (t2i_tokenizer_token (again, i), ==,
        t2i_tokenizer_token (tok, i));
    g_assert_cmpstr (t2i_tokenizer_token (plain, i), ==,
        t2i_tokenizer_token (tok, i));
  }

  /* the file is CLIP's format: header, then "a b" lines */
  g_assert_true (g_file_get_contents (txt, &d1, &l1, NULL));
  g_assert_true (g_str_has_prefix (d1, "#version: 0.2\n"));
  g_assert_false (g_str_has_suffix (d1, "\n"));
  g_free (d1);

  for (i = 0; i < caps->len + held->len; i++) {
    const char *text = i < caps->len ? g_ptr_array_index (caps, i)
        : g_ptr_array_index (held, i - caps->len);
    gint32 a[T2I_TOKENIZER_CONTEXT_LENGTH], b[T2I_TOKENIZER_CONTEXT_LENGTH];
    gint n;
    char *dec, *x, *y;

    n = t2i_tokenizer_encode (tok, text, T2I_TOKENIZER_CONTEXT_LENGTH, a, NULL);
    t2i_tokenizer_encode (again, text, T2I_TOKENIZER_CONTEXT_LENGTH, b, NULL);
    g_assert_cmpmem (a, sizeof (a), b, sizeof (b));
    t2i_tokenizer_encode (plain, text, T2I_TOKENIZER_CONTEXT_LENGTH, b, NULL);
    g_assert_cmpmem (a, sizeof (a), b, sizeof (b));
    n_tokens += n - 2;
    n_bytes += strlen (text);

    /* decoding gives the text back, up to the spaces between words */
    dec = t2i_tokenizer_decode (again, a, T2I_TOKENIZER_CONTEXT_LENGTH, TRUE);
    x = strip_spaces (dec);
    y = strip_spaces (text);
    g_assert_cmpstr (x, ==, y);
    g_free (dec);
    g_free (x);
    g_free (y);
  }
  /* the merges cover the caption vocabulary: about one token per word */
  g_test_message ("%.2f bytes per token", (double) n_bytes / n_tokens);
  g_assert_cmpfloat ((double) n_bytes / n_tokens, >, 3.5);

  /* training is deterministic */
  twice = t2i_tokenizer_train ((const char *const *) caps->pdata, caps->len,
      300, &error);
  g_assert_no_error (error);
  g_assert_true (t2i_tokenizer_save (twice, txt, &error));
  g_assert_true (g_file_get_contents (txt, &d2, &l2, NULL));
  g_assert_true (t2i_tokenizer_save (tok, txt, &error));
  g_assert_true (g_file_get_contents (txt, &d1, &l1, NULL));
  g_assert_cmpmem (d1, l1, d2, l2);
  g_free (d1);
  g_free (d2);

  g_unlink (gz);
  g_unlink (txt);
  g_rmdir (dir);
  g_free (gz);
  g_free (txt);
  g_free (dir);
  t2i_tokenizer_unref (tok);
  t2i_tokenizer_unref (again);
  t2i_tokenizer_unref (plain);
  t2i_tokenizer_unref (twice);
  g_ptr_array_unref (caps);
  g_ptr_array_unref (held);
}

static void
test_train_edge_cases (void)
{
  GError *error = NULL;
  T2iTokenizer *tok;
  const char *texts[] = { "aaaa aaaa", "<|endoftext|>", "", NULL };
  GArray *ids;

  /* nothing to learn: a byte-level tokenizer */
  tok = t2i_tokenizer_train (NULL, 0, 10, &error);
  g_assert_no_error (error);
  g_assert_cmpint (t2i_tokenizer_n_merges (tok), ==, 0);
  g_assert_cmpint (t2i_tokenizer_vocab_size (tok), ==, 514);
  ids = t2i_tokenizer_encode_ids (tok, "ab <|endoftext|>");
  g_assert_cmpuint (ids->len, ==, 3);
  g_assert_cmpint (g_array_index (ids, gint32, 2), ==, 513);
  g_array_unref (ids);
  t2i_tokenizer_unref (tok);

  /* repeated symbols; special tokens are not learned from */
  tok = t2i_tokenizer_train (texts, 4, 10, &error);
  g_assert_no_error (error);
  ids = t2i_tokenizer_encode_ids (tok, "aaaa");
  g_assert_cmpuint (ids->len, ==, 1);
  g_assert_cmpstr (t2i_tokenizer_token (tok, g_array_index (ids, gint32, 0)),
      ==, "aaaa</w>");
  g_array_unref (ids);
  t2i_tokenizer_unref (tok);

  tok = t2i_tokenizer_train (texts, 3, T2I_TOKENIZER_MAX_MERGES + 1, &error);
  g_assert_null (tok);
  g_assert_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_INVALID);
  g_clear_error (&error);
}

static T2iTokenizer *
load_text (const char *text, GError ** error)
{
  GBytes *b = g_bytes_new (text, strlen (text));
  T2iTokenizer *tok = t2i_tokenizer_new_from_bytes (b, error);

  g_bytes_unref (b);
  return tok;
}

static void
test_bad_files (void)
{
  GError *error = NULL;
  T2iTokenizer *tok;

  tok = t2i_tokenizer_load ("/nonexistent/merges.txt.gz", &error);
  g_assert_null (tok);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error (&error);

  tok = load_text ("", &error);
  g_assert_null (tok);
  g_assert_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_PARSE);
  g_clear_error (&error);

  tok = load_text ("#version: 0.2\na b\nab c d\n", &error);
  g_assert_null (tok);
  g_assert_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, ":3:"));
  g_clear_error (&error);

  tok = load_text ("#version: 0.2\nxy z\n", &error);
  g_assert_null (tok);
  g_assert_error (error, T2I_TOKENIZER_ERROR, T2I_TOKENIZER_ERROR_PARSE);
  g_assert_nonnull (strstr (error->message, ":2:"));
  g_clear_error (&error);

  tok = load_text ("#version: 0.2\na b\xff\n", &error);
  g_assert_null (tok);
  g_clear_error (&error);

  /* a truncated gzip stream */
  tok = load_text ("\x1f\x8b\x08\x00\x00\x00", &error);
  g_assert_null (tok);
  g_assert_nonnull (error);
  g_clear_error (&error);

  /* blank lines are ignored; a merge may use a later merge's result; a
   * repeated result keeps the last id, as the reference's dict does */
  tok = load_text ("header\n\na b\nab c\r\n\nb c\na bc\nx yz\ny z\n", &error);
  g_assert_no_error (error);
  g_assert_cmpint (t2i_tokenizer_n_merges (tok), ==, 6);
  g_assert_cmpint (t2i_tokenizer_token_id (tok, "yz"), ==, 517);
  g_assert_cmpint (t2i_tokenizer_token_id (tok, "abc"), ==, 515);
  {
    GArray *ids = t2i_tokenizer_encode_ids (tok, "abc");

    g_assert_cmpuint (ids->len, ==, 2);
    g_assert_cmpstr (t2i_tokenizer_token (tok, g_array_index (ids, gint32, 0)),
        ==, "ab");
    g_array_unref (ids);
  }
  t2i_tokenizer_unref (tok);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bpe/golden", test_golden);
  g_test_add_func ("/bpe/vocab", test_vocab);
  g_test_add_func ("/bpe/threads", test_threads);
  g_test_add_func ("/bpe/train-roundtrip", test_train_roundtrip);
  g_test_add_func ("/bpe/train-edge-cases", test_train_edge_cases);
  g_test_add_func ("/bpe/bad-files", test_bad_files);
  return g_test_run ();
}
