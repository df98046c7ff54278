/* Unit tests of the t2i-launch preprocessor: comments, quotes, line
 * breaks, ${NAME} substitution with defaults and precedence, and the map
 * from the processed text back to lines and columns of the original.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "preprocess.h"

static T2iPreprocessed *
run (const gchar * text, GHashTable * set, gchar ** envp)
{
  g_autoptr (GError) error = NULL;
  T2iPreprocessed *pp = t2i_preprocess (text, strlen (text), set, envp, NULL,
      &error);

  g_assert_no_error (error);
  g_assert_nonnull (pp);
  return pp;
}

static void
assert_output (const gchar * text, const gchar * expected)
{
  g_autoptr (T2iPreprocessed) pp = run (text, NULL, NULL);

  g_assert_cmpstr (pp->text, ==, expected);
  g_assert_cmpuint (pp->length, ==, strlen (expected));
}

/* The error of preprocessing @text, with its line and column. */
static void
assert_error (const gchar * text, GHashTable * set, gchar ** envp,
    gint code, guint line, guint column, const gchar * message)
{
  g_autoptr (GError) error = NULL;
  gsize offset = 0;
  T2iPreprocessed *pp = t2i_preprocess (text, strlen (text), set, envp,
      &offset, &error);
  guint l, c;

  g_assert_null (pp);
  g_assert_error (error, T2I_PREPROCESS_ERROR, code);
  g_assert_cmpstr (error->message, ==, message);
  t2i_text_locate (text, strlen (text), offset, &l, &c);
  g_assert_cmpuint (l, ==, line);
  g_assert_cmpuint (c, ==, column);
}

static void
test_comments (void)
{
  assert_output ("fakesrc # a comment\n! fakesink", "fakesrc \n! fakesink");
  assert_output ("# only a comment", "");
  assert_output ("a#b\nc", "a\nc");
  assert_output ("# one\n# two\nfakesrc", "\n\nfakesrc");
  /* no comment inside quotes, with escaped quotes, or after a backslash */
  assert_output ("x name=\"a # b\" # c", "x name=\"a # b\" ");
  assert_output ("x name=\"a \\\" # b\" # c", "x name=\"a \\\" # b\" ");
  assert_output ("x name='a # b' # c", "x name='a # b' ");
  assert_output ("x name=a\\#b # c", "x name=a\\#b ");
  /* an apostrophe inside a word opens no string */
  assert_output ("x caption=don't # c\ny", "x caption=don't \ny");
}

static void
test_line_breaks (void)
{
  assert_output ("fakesrc\n   num-buffers=3\n  ! fakesink\n",
      "fakesrc\n   num-buffers=3\n  ! fakesink\n");
  assert_output ("a \"multi\nline # quoted\" # c\nb",
      "a \"multi\nline # quoted\" \nb");
}

static void
test_substitution (void)
{
  g_autoptr (GHashTable) set = g_hash_table_new (g_str_hash, g_str_equal);
  g_auto (GStrv) envp = g_environ_setenv (NULL, "N", "env", TRUE);
  T2iPreprocessed *pp;

  envp = g_environ_setenv (envp, "ONLY_ENV", "e", TRUE);
  envp = g_environ_setenv (envp, "EMPTY", "", TRUE);

  /* environment */
  pp = run ("n=${N} m=${ONLY_ENV}", NULL, envp);
  g_assert_cmpstr (pp->text, ==, "n=env m=e");
  g_assert_true (g_hash_table_contains (pp->used, "N"));
  g_assert_true (g_hash_table_contains (pp->used, "ONLY_ENV"));
  t2i_preprocessed_free (pp);

  /* --set wins over the environment */
  g_hash_table_insert (set, (gpointer) "N", (gpointer) "set");
  pp = run ("n=${N} m=${ONLY_ENV}", set, envp);
  g_assert_cmpstr (pp->text, ==, "n=set m=e");
  t2i_preprocessed_free (pp);

  /* defaults: used when unset or empty, not when set */
  pp = run ("${UNSET:-d1} ${EMPTY:-d2} ${N:-d3} ${UNSET:-}.", set, envp);
  g_assert_cmpstr (pp->text, ==, "d1 d2 set .");
  t2i_preprocessed_free (pp);

  /* nested references in defaults; an unused default is not expanded */
  pp = run ("${UNSET:-${ONLY_ENV}x} ${N:-${UNDEFINED}}", set, envp);
  g_assert_cmpstr (pp->text, ==, "ex set");
  g_assert_false (g_hash_table_contains (pp->used, "UNDEFINED"));
  t2i_preprocessed_free (pp);

  /* inside quotes, not in comments; "$${" and other '$' are literal */
  pp = run ("a=\"${N}\" # ${UNDEFINED}\n$${N} $N $ ${N}", set, envp);
  g_assert_cmpstr (pp->text, ==, "a=\"set\" \n${N} $N $ set");
  t2i_preprocessed_free (pp);

  /* values are inserted as they are: no comments or references in them */
  g_hash_table_insert (set, (gpointer) "V", (gpointer) "a # ${N}");
  pp = run ("x=${V}", set, NULL);
  g_assert_cmpstr (pp->text, ==, "x=a # ${N}");
  t2i_preprocessed_free (pp);
}

static void
test_errors (void)
{
  g_auto (GStrv) envp = g_environ_setenv (NULL, "N", "1", TRUE);

  assert_error ("fakesrc\n  num-buffers=${STEPS} ! fakesink", NULL, envp,
      T2I_PREPROCESS_ERROR_UNDEFINED, 2, 15,
      "undefined variable 'STEPS' (use --set STEPS=VALUE or "
      "${STEPS:-default})");
  assert_error ("x=${N:-${MISSING}}", NULL, NULL,
      T2I_PREPROCESS_ERROR_UNDEFINED, 1, 8,
      "undefined variable 'MISSING' (use --set MISSING=VALUE or "
      "${MISSING:-default})");
  assert_error ("a\nb=${N ! c", NULL, envp, T2I_PREPROCESS_ERROR_SYNTAX, 2, 3,
      "unterminated variable reference '${N' (missing '}')");
  assert_error ("a=${N:-x", NULL, NULL, T2I_PREPROCESS_ERROR_SYNTAX, 1, 3,
      "unterminated variable reference '${N' (missing '}')");
  assert_error ("a=${1X}", NULL, NULL, T2I_PREPROCESS_ERROR_SYNTAX, 1, 3,
      "bad variable reference '${1X}' (expected ${NAME} or "
      "${NAME:-default})");
  assert_error ("a=${N-x}", NULL, envp, T2I_PREPROCESS_ERROR_SYNTAX, 1, 3,
      "bad variable reference '${N-x}' (expected ${NAME} or "
      "${NAME:-default})");
}

/* Line and column in the original of a byte of the processed text. */
/* Past the limits: defaults nested too deep (80000 levels took the
 * stack) and values that blow the text up. */
static void
test_limits (void)
{
  GString *text = g_string_new ("a=");
  g_autoptr (GHashTable) set = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree gchar *big = g_strnfill (T2I_PREPROCESS_MAX_BYTES / 4, 'x');
  g_autofree gchar *deep = NULL;

  for (guint i = 0; i < 80000; i++)
    g_string_append (text, "${A:-");
  for (guint i = 0; i < 80000; i++)
    g_string_append_c (text, '}');
  deep = g_string_free (text, FALSE);
  assert_error (deep, NULL, NULL, T2I_PREPROCESS_ERROR_LIMIT, 1,
      3 + 256 * 5, "variable references nested more than 256 deep in "
      "defaults (the limit)");
  /* 256 deep is fine, and so are unused defaults up to the limit */
  {
    g_autoptr (T2iPreprocessed) ok = NULL;
    GString *t = g_string_new (NULL);

    for (guint i = 0; i < 256; i++)
      g_string_append (t, "${A:-");
    g_string_append_c (t, 'x');
    for (guint i = 0; i < 256; i++)
      g_string_append_c (t, '}');
    ok = run (t->str, NULL, NULL);
    g_assert_cmpstr (ok->text, ==, "x");
    g_string_free (t, TRUE);
  }

  /* the fourth quarter of the limit passes it (with the text around) */
  g_hash_table_insert (set, "BIG", big);
  assert_error ("a=${BIG} b=${BIG} c=${BIG} d=${BIG} e=${BIG}", set, NULL,
      T2I_PREPROCESS_ERROR_LIMIT, 1, 30, "the pipeline is longer than 1024 "
      "KiB after this substitution (the limit)");
}

static void
assert_maps (const T2iPreprocessed * pp, const gchar * needle, guint line,
    guint column)
{
  const gchar *at = strstr (pp->text, needle);
  guint l, c;

  g_assert_nonnull (at);
  t2i_preprocessed_locate (pp, at - pp->text, &l, &c);
  g_assert_cmpuint (l, ==, line);
  g_assert_cmpuint (c, ==, column);
}

static void
test_position_map (void)
{
  g_autoptr (GHashTable) set = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr (T2iPreprocessed) pp = NULL;
  guint l, c;

  g_hash_table_insert (set, (gpointer) "LONG", (gpointer) "0123456789");
  pp = run ("# header comment\n"
      "src a=${LONG} b=${X:-dflt} ! # comment\n"
      "   sink  # é\n" "  é élément\n", set, NULL);
  g_assert_cmpstr (pp->text, ==, "\nsrc a=0123456789 b=dflt ! \n   sink  \n"
      "  é élément\n");

  assert_maps (pp, "src", 2, 1);
  /* every byte of a value maps to its '${' */
  assert_maps (pp, "0123", 2, 7);
  assert_maps (pp, "6789", 2, 7);
  /* text after a substitution keeps its own position */
  assert_maps (pp, "b=", 2, 15);
  /* a default maps to where it is written */
  assert_maps (pp, "dflt", 2, 22);
  assert_maps (pp, "!", 2, 28);
  assert_maps (pp, "sink", 3, 4);
  /* columns count characters, not bytes */
  assert_maps (pp, "élément", 4, 5);

  /* the end of the text maps to the end of the original */
  t2i_preprocessed_locate (pp, pp->length, &l, &c);
  g_assert_cmpuint (l, ==, 5);
  g_assert_cmpuint (c, ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/launch/preprocess/comments", test_comments);
  g_test_add_func ("/launch/preprocess/line-breaks", test_line_breaks);
  g_test_add_func ("/launch/preprocess/substitution", test_substitution);
  g_test_add_func ("/launch/preprocess/errors", test_errors);
  g_test_add_func ("/launch/preprocess/limits", test_limits);
  g_test_add_func ("/launch/preprocess/position-map", test_position_map);
  return g_test_run ();
}
