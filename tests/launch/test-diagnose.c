/* Unit tests of t2i-launch's model of the gst-launch syntax and of the
 * located, hinted parse error messages built from it.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include <gst/gst.h>

#include "diagnose.h"
#include "syntax.h"

static void
test_edit_distance (void)
{
  const gchar *const names[] = { "fakesink", "fakesrc", "filesink", NULL };
  g_autofree gchar *a = NULL;
  g_autofree gchar *b = NULL;
  g_autofree gchar *c = NULL;

  g_assert_cmpuint (t2i_edit_distance ("kitten", "sitting"), ==, 3);
  g_assert_cmpuint (t2i_edit_distance ("", "abc"), ==, 3);
  g_assert_cmpuint (t2i_edit_distance ("nmu-buffers", "num-buffers"), ==, 1);
  g_assert_cmpuint (t2i_edit_distance ("FakeSrc", "fakesrc"), ==, 0);

  a = t2i_nearest_name ("fakesinkk", names);
  g_assert_cmpstr (a, ==, "fakesink");
  b = t2i_nearest_name ("fakesrcc", names);
  g_assert_cmpstr (b, ==, "fakesrc");
  /* too far from everything: no hint */
  c = t2i_nearest_name ("videoconvert", names);
  g_assert_null (c);
}

static gchar *
token_text (const gchar * text, const T2iToken * t)
{
  return g_strndup (text + t->start, t->end - t->start);
}

static void
test_lexer (void)
{
  const gchar *text = "fakesrc num-buffers = 3 name=\"a b\" ! "
      "video/x-raw,width=(int)4 ; video/x-bayer ! t.src_0 "
      "tee name=t .src_1 : file:///tmp/x";
  struct
  {
    T2iTokenType type;
    const gchar *text;
  } expected[] = {
    {T2I_TOKEN_IDENTIFIER, "fakesrc"},
    {T2I_TOKEN_ASSIGNMENT, "num-buffers = 3"},
    {T2I_TOKEN_ASSIGNMENT, "name=\"a b\""},
    {T2I_TOKEN_LINK, "! video/x-raw,width=(int)4 ; video/x-bayer !"},
    {T2I_TOKEN_REF, "t.src_0"},
    {T2I_TOKEN_IDENTIFIER, "tee"},
    {T2I_TOKEN_ASSIGNMENT, "name=t"},
    {T2I_TOKEN_PADREF, ".src_1"},
    {T2I_TOKEN_LINK_ALL, ":"},
    {T2I_TOKEN_URL, "file:///tmp/x"},
    {T2I_TOKEN_END, ""},
  };
  g_autoptr (GArray) tokens = t2i_syntax_lex (text);

  g_assert_cmpuint (tokens->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < tokens->len; i++) {
    const T2iToken *t = &g_array_index (tokens, T2iToken, i);
    g_autofree gchar *s = token_text (text, t);

    g_assert_cmpint (t->type, ==, expected[i].type);
    g_assert_cmpstr (s, ==, expected[i].text);
  }
}

static void
test_parse (void)
{
  const gchar *text = "fakesrc num-buffers=3 name=\"my src\" ! "
      "audio/x-raw ! bin.( identity silent=\\true ) ! tee name=t "
      "t. ! fakesink";
  g_autoptr (T2iSyntax) syntax = t2i_syntax_parse (text);
  const T2iSyntaxElement *e;
  const T2iSyntaxProperty *p;
  const T2iSyntaxLink *l;

  g_assert_false (syntax->error);
  g_assert_cmpuint (syntax->elements->len, ==, 5);

  e = g_ptr_array_index (syntax->elements, 0);
  g_assert_cmpstr (e->factory, ==, "fakesrc");
  g_assert_cmpuint (e->properties->len, ==, 2);
  p = g_ptr_array_index (e->properties, 1);
  g_assert_cmpstr (p->key, ==, "name");
  g_assert_cmpstr (p->value, ==, "my src");
  g_assert_cmpstr (t2i_syntax_element_name (e), ==, "my src");

  /* the bin is created after its child */
  e = g_ptr_array_index (syntax->elements, 1);
  g_assert_cmpstr (e->factory, ==, "identity");
  p = g_ptr_array_index (e->properties, 0);
  g_assert_cmpstr (p->value, ==, "true");
  e = g_ptr_array_index (syntax->elements, 2);
  g_assert_cmpstr (e->factory, ==, "bin");
  g_assert_true (e->is_bin);

  g_assert_cmpuint (syntax->links->len, ==, 3);
  l = g_ptr_array_index (syntax->links, 0);
  g_assert_cmpstr (l->caps, ==, "audio/x-raw");
  g_assert_cmpuint (l->caps_offset, ==, strstr (text, "audio") - text);
  g_assert_cmpint (l->src, ==, 0);
  g_assert_cmpint (l->sink, ==, 2);
  l = g_ptr_array_index (syntax->links, 2);
  g_assert_cmpint (l->src, ==, -1);
  g_assert_cmpstr (l->src_ref, ==, "t");
  g_assert_cmpint (l->sink, ==, 4);
}

static void
assert_syntax_error (const gchar * text, const gchar * at,
    const gchar * message)
{
  g_autoptr (T2iSyntax) syntax = t2i_syntax_parse (text);

  g_assert_true (syntax->error);
  g_assert_cmpuint (syntax->error_offset, ==, strstr (text, at) - text);
  g_assert_cmpstr (syntax->error_message, ==, message);
}

static void
test_syntax_errors (void)
{
  assert_syntax_error ("a ! ! b", "! b",
      "syntax error: unexpected '!' (expected an element)");
  assert_syntax_error ("! a", "!",
      "syntax error: unexpected '!' (expected an element)");
  assert_syntax_error ("a !\n", "!",
      "syntax error: '!' is not followed by an element");
  assert_syntax_error ("x ( a ! b", "(", "syntax error: '(' is never closed");
  assert_syntax_error ("a ! b )", ")",
      "syntax error: ')' without a matching '('");
  assert_syntax_error ("a ! b name=c \"x", "\"",
      "syntax error: unterminated quoted string");
  assert_syntax_error ("a ! b\nt.", "t.",
      "syntax error: reference 't.' is not linked to anything");
  assert_syntax_error ("a ! b = c", "b = c",
      "syntax error: unexpected 'b = c' (expected an element)");
  assert_syntax_error ("a .src , ! b", "! b",
      "syntax error: unexpected '!' (expected a pad name)");
}

/* Nesting deeper than T2I_SYNTAX_MAX_DEPTH is refused where it starts,
 * without recursing (50000 levels took the stack). */
static void
test_nesting_limit (void)
{
  GString *text = g_string_new (NULL);
  g_autoptr (T2iDiagnostic) d = NULL;
  g_autoptr (T2iDiagnostic) none = NULL;

  for (guint i = 0; i < 50000; i++)
    g_string_append (text, i % 2 ? "( " : "bin.( ");
  g_string_append (text, "fakesrc ! fakesink");
  for (guint i = 0; i < 50000; i++)
    g_string_append (text, " )");
  d = t2i_diagnose_limits (text->str);
  g_assert_nonnull (d);
  g_assert_cmpstr (d->message, ==, "bins nested more than 256 deep (the "
      "limit)");
  /* 128 "bin.( " and 128 "( " before the one past the limit */
  g_assert_cmpuint (d->offset, ==, 128 * 6 + 128 * 2);

  /* a bin closed before the next one opens adds no depth */
  g_string_truncate (text, 0);
  for (guint i = 0; i < 1000; i++)
    g_string_append (text, "( fakesrc ! fakesink ) ");
  none = t2i_diagnose_limits (text->str);
  g_assert_null (none);
  g_string_free (text, TRUE);
}

/* Parses @text with GStreamer, which must fail, and checks the located
 * message built from its error. */
static void
assert_diagnostic (const gchar * text, const gchar * at, const gchar * message)
{
  GstParseContext *context = gst_parse_context_new ();
  g_autoptr (GError) error = NULL;
  GstElement *pipeline = gst_parse_launch_full (text, context,
      GST_PARSE_FLAG_FATAL_ERRORS, &error);
  g_autoptr (T2iDiagnostic) d = NULL;

  g_assert_null (pipeline);
  g_assert_nonnull (error);
  d = t2i_diagnose_parse_error (text, error, context);
  g_assert_cmpstr (d->message, ==, message);
  g_assert_cmpuint (d->offset, ==, strstr (text, at) - text);
  gst_parse_context_free (context);
}

static void
test_diagnose (void)
{
  assert_diagnostic ("fakesrc ! fakesinkk", "fakesinkk",
      "unknown element 'fakesinkk' (did you mean 'fakesink'?)");
  assert_diagnostic ("fakesrc ! identity ! fakesink ! fakesink\n"
      "fakesrc nmu-buffers=1 ! fakesink", "nmu",
      "element 'fakesrc' has no property 'nmu-buffers' "
      "(did you mean 'num-buffers'?)");
  assert_diagnostic ("fakesrc num-buffers=1 ! fakesink sync=maybe",
      "sync", "bad value 'maybe' for property 'sync' of 'fakesink' "
      "(expected gboolean)");
  assert_diagnostic ("fakesrc\n! ! fakesink", "! fakesink",
      "syntax error: unexpected '!' (expected an element)");
  /* the unknown element comes first, before the syntax error */
  assert_diagnostic ("fakesrcc ! ! fakesink", "fakesrcc",
      "unknown element 'fakesrcc' (did you mean 'fakesrc'?)");
  assert_diagnostic ("fakesrc ! audio/x-raw,rate=(int)x ! fakesink",
      "audio/", "bad caps 'audio/x-raw,rate=(int)x'");
  assert_diagnostic ("fakesrc ! queue ! out.", "out.",
      "no element named 'out'");
}

static void
test_diagnose_values (void)
{
  g_autoptr (T2iDiagnostic) d = NULL;
  g_autoptr (T2iDiagnostic) none = NULL;
  const gchar *text = "fakesrc num-buffers=2 ! fakesink ts-offset=1 "
      "qos=1 max-lateness=-2";

  d = t2i_diagnose_values (text);
  g_assert_nonnull (d);
  g_assert_cmpstr (d->message, ==, "bad value '-2' for property "
      "'max-lateness' of 'fakesink' (expected gint64 from -1 to "
      "9223372036854775807)");
  g_assert_cmpuint (d->offset, ==, strstr (text, "max-") - text);

  none = t2i_diagnose_values ("fakesrc num-buffers=2 ! fakesink");
  g_assert_null (none);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/launch/diagnose/edit-distance", test_edit_distance);
  g_test_add_func ("/launch/diagnose/lexer", test_lexer);
  g_test_add_func ("/launch/diagnose/parse", test_parse);
  g_test_add_func ("/launch/diagnose/syntax-errors", test_syntax_errors);
  g_test_add_func ("/launch/diagnose/nesting-limit", test_nesting_limit);
  g_test_add_func ("/launch/diagnose/parse-errors", test_diagnose);
  g_test_add_func ("/launch/diagnose/values", test_diagnose_values);
  return g_test_run ();
}
