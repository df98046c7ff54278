/* captions.jsonl lines and bounded files (t2i/captions.h): every bad line
 * is one error, every limit is checked before the JSON parser sees the
 * line (json-glib recurses: 200000 '[' overflowed the stack).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <t2i/captions.h>

#include <string.h>

static void
test_good (void)
{
  const char *text = "{\"image\": \"images/1.png\", \"captions\": [\" a red "
      "circle \", \"two\"], \"split\": \"test\", \"subsets\": [\"s\", 3]}";
  T2iCaptionsLine l;
  GError *err = NULL;

  g_assert_true (t2i_captions_parse_line (text, strlen (text), &l, &err));
  g_assert_no_error (err);
  g_assert_cmpstr (l.image, ==, "images/1.png");
  g_assert_cmpstr (l.split, ==, "test");
  g_assert_cmpuint (g_strv_length (l.captions), ==, 2);
  g_assert_cmpstr (l.captions[0], ==, "a red circle");
  g_assert_cmpuint (g_strv_length (l.subsets), ==, 1);
  t2i_captions_line_clear (&l);

  const char *one = "{\"image\": \"a.png\", \"caption\": \"x\"}";
  g_assert_true (t2i_captions_parse_line (one, strlen (one), &l, &err));
  g_assert_cmpstr (l.split, ==, "train");
  g_assert_null (l.subsets);
  t2i_captions_line_clear (&l);
}

static void
test_bad (void)
{
  struct
  {
    const char *line, *error;
    gint code;
  } cases[] = {
    {"{", "not valid JSON (", T2I_CAPTIONS_ERROR_PARSE},
    {"[1]", "expected a JSON object", T2I_CAPTIONS_ERROR_PARSE},
    {"{\"captions\": [\"a\"]}", "\"image\" must be a string",
        T2I_CAPTIONS_ERROR_PARSE},
    {"{\"image\": \"/etc/passwd\", \"caption\": \"a\"}",
        "image path '/etc/passwd' must be relative", T2I_CAPTIONS_ERROR_PARSE},
    {"{\"image\": \"a/../../b.png\", \"caption\": \"a\"}",
        "image path 'a/../../b.png' must be relative",
        T2I_CAPTIONS_ERROR_PARSE},
    {"{\"image\": \"\", \"caption\": \"a\"}", "image path '' must",
        T2I_CAPTIONS_ERROR_PARSE},
    {"{\"image\": \"a.png\", \"split\": 1, \"caption\": \"a\"}",
        "\"split\" must be a string", T2I_CAPTIONS_ERROR_PARSE},
    {"{\"image\": \"a.png\"}", "\"captions\" must be an array of strings",
        T2I_CAPTIONS_ERROR_PARSE},
    {"{\"image\": \"a.png\", \"captions\": []}", "no captions",
        T2I_CAPTIONS_ERROR_PARSE},
    {"{\"image\": \"a.png\", \"captions\": [\"a\", 2]}",
        "caption 2 is not a string", T2I_CAPTIONS_ERROR_PARSE},
    {"{\"image\": \"a.png\", \"captions\": [\"  \"]}", "caption 1 is empty",
        T2I_CAPTIONS_ERROR_PARSE},
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++) {
    T2iCaptionsLine l;
    GError *err = NULL;
    g_assert_false (t2i_captions_parse_line (cases[i].line,
            strlen (cases[i].line), &l, &err));
    g_assert_error (err, T2I_CAPTIONS_ERROR, cases[i].code);
    if (!g_str_has_prefix (err->message, cases[i].error))
      g_error ("%s: \"%s\" does not start with \"%s\"", cases[i].line,
          err->message, cases[i].error);
    g_assert_null (l.image);
    g_error_free (err);
  }
  /* a NUL inside the line */
  T2iCaptionsLine l;
  GError *err = NULL;
  g_assert_false (t2i_captions_parse_line ("{\"image\"\0}", 11, &l, &err));
  g_assert_nonnull (strstr (err->message, "NUL"));
  g_clear_error (&err);
}

static void
expect_limit (const char *line, gsize len, const char *message)
{
  T2iCaptionsLine l;
  GError *err = NULL;
  g_assert_false (t2i_captions_parse_line (line, len, &l, &err));
  g_assert_error (err, T2I_CAPTIONS_ERROR, T2I_CAPTIONS_ERROR_LIMIT);
  g_assert_cmpstr (err->message, ==, message);
  g_error_free (err);
}

static void
test_limits (void)
{
  /* nesting: refused before json-glib sees it */
  gsize n = 200000;
  char *deep = g_malloc (2 * n);
  memset (deep, '[', n);
  memset (deep + n, ']', n);
  expect_limit (deep, 2 * T2I_CAPTIONS_MAX_LINE / 2, "arrays and objects "
      "nested more than 16 deep");
  expect_limit (deep, 2 * n, "the line is 400000 bytes long, more than the "
      "limit of 65536");
  /* brackets inside strings are text */
  const char *quoted = "{\"image\": \"a.png\", \"caption\": "
      "\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[[[[[[[[[[[\"}";
  T2iCaptionsLine l;
  GError *err = NULL;
  g_assert_true (t2i_captions_parse_line (quoted, strlen (quoted), &l, &err));
  g_assert_no_error (err);
  t2i_captions_line_clear (&l);
  g_free (deep);

  /* one caption */
  GString *s = g_string_new ("{\"image\": \"a.png\", \"captions\": [\"a\", \"");
  for (gint i = 0; i < T2I_CAPTION_MAX_BYTES; i++)
    g_string_append_c (s, 'c');
  g_string_append (s, "\"]}");
  g_assert_true (t2i_captions_parse_line (s->str, s->len, &l, &err));
  t2i_captions_line_clear (&l);
  g_string_insert_c (s, 40, 'c');
  expect_limit (s->str, s->len, "caption 2 is 4097 bytes long, more than the "
      "limit of 4096");
  g_string_free (s, TRUE);
}

static void
test_read_file (void)
{
  gchar *contents;
  gsize len;
  GError *err = NULL;

  g_assert_false (t2i_captions_read_file ("/dev/zero", 1 << 20, &contents,
          &len, &err));
  g_assert_error (err, T2I_CAPTIONS_ERROR, T2I_CAPTIONS_ERROR_LIMIT);
  g_assert_cmpstr (err->message, ==, "longer than 1 MiB, the limit");
  g_assert_null (contents);
  g_clear_error (&err);
  g_assert_false (t2i_captions_read_file ("/nonexistent", 1 << 20, &contents,
          &len, &err));
  g_assert_error (err, T2I_CAPTIONS_ERROR, T2I_CAPTIONS_ERROR_IO);
  g_assert_cmpstr (err->message, ==, "cannot open it: No such file or "
      "directory");
  g_clear_error (&err);
  g_assert_true (t2i_captions_read_file ("/dev/null", 1 << 20, &contents,
          &len, &err));
  g_assert_cmpuint (len, ==, 0);
  g_assert_cmpstr (contents, ==, "");
  g_free (contents);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/captions/good", test_good);
  g_test_add_func ("/captions/bad", test_bad);
  g_test_add_func ("/captions/limits", test_limits);
  g_test_add_func ("/captions/read-file", test_read_file);
  return g_test_run ();
}
