/* A model of the gst-launch syntax of GStreamer 1.22.
 *
 * The lexer follows the flex rules of gst/parse/parse.l (longest match, the
 * earlier rule on a tie); the parser follows the grammar of
 * gst/parse/grammar.y and stops at the first token the grammar cannot
 * take.  Both only locate errors: the pipeline itself is always built by
 * gst_parse_launch_full().
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "syntax.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* Lexer: each match_* returns the length of its rule's match at s.    */

static gboolean
is_space (gchar c)
{
  return c != '\0' && g_ascii_isspace (c);
}

static gsize
match_spaces (const gchar * s)
{
  gsize n = 0;

  while (is_space (s[n]))
    n++;
  return n;
}

/* [[:alnum:]_][[:alnum:]\-_%:]* */
static gsize
match_identifier (const gchar * s)
{
  gsize n;

  if (!(g_ascii_isalnum (s[0]) || s[0] == '_'))
    return 0;
  for (n = 1; g_ascii_isalnum (s[n]) || s[n] == '-' || s[n] == '_'
      || s[n] == '%' || s[n] == ':'; n++);
  return n;
}

/* ("\\".|[^[:space:]])+ */
static gsize
match_chars (const gchar * s)
{
  gsize n = 0;

  for (;;) {
    if (s[n] == '\\' && s[n + 1] != '\0' && s[n + 1] != '\n')
      n += 2;
    else if (s[n] != '\0' && !is_space (s[n]))
      n++;
    else
      return n;
  }
}

/* "([^"]|\\")*" and the same with single quotes: the longest match ends at
 * the first unescaped quote, or at the last escaped one before the end. */
static gsize
match_quoted (const gchar * s, gchar quote)
{
  gsize best = 0;

  if (s[0] != quote)
    return 0;
  for (gsize n = 1; s[n] != '\0'; n++) {
    if (s[n] != quote)
      continue;
    if (n >= 2 && s[n - 1] == '\\')
      best = n + 1;
    else
      return n + 1;
  }
  return best;
}

static gsize
match_string (const gchar * s)
{
  return MAX (match_chars (s), MAX (match_quoted (s, '"'),
          match_quoted (s, '\'')));
}

/* [[:space:]]*"="[[:space:]]* */
static gsize
match_assign (const gchar * s)
{
  gsize n = match_spaces (s);

  if (s[n] != '=')
    return 0;
  n++;
  return n + match_spaces (s + n);
}

static gsize
match_assignment (const gchar * s)
{
  gsize a, b, c;

  if (!(a = match_identifier (s)) || !(b = match_assign (s + a))
      || !(c = match_string (s + a + b)))
    return 0;
  return a + b + c;
}

static gsize
match_preset (const gchar * s)
{
  gsize b, c;

  if (strncmp (s, "@preset", 7) != 0 || !(b = match_assign (s + 7))
      || !(c = match_string (s + 7 + b)))
    return 0;
  return 7 + b + c;
}

static gsize
match_padref (const gchar * s)
{
  gsize a;

  if (s[0] != '.' || !(a = match_identifier (s + 1)))
    return 0;
  return 1 + a;
}

static gsize
match_ref (const gchar * s)
{
  gsize a = match_identifier (s);

  if (!a || s[a] != '.')
    return 0;
  return a + 1 + match_identifier (s + a + 1);
}

static gsize
match_binref (const gchar * s)
{
  gsize n = match_identifier (s);

  if (!n)
    return 0;
  n += match_spaces (s + n);
  if (s[n] != '.')
    return 0;
  n++;
  n += match_spaces (s + n);
  return s[n] == '(' ? n + 1 : 0;
}

static gboolean
is_mime_char (gchar c)
{
  return g_ascii_isalnum (c) || c == '-';
}

/* [[:alnum:]-]+"/"[[:alnum:]-]+ */
static gsize
match_mimetype (const gchar * s)
{
  gsize n = 0, m;

  while (is_mime_char (s[n]))
    n++;
  if (!n || s[n] != '/')
    return 0;
  for (m = n + 1; is_mime_char (s[m]); m++);
  return m > n + 1 ? m : 0;
}

/* [!:] ws* caps (ws* (";" ws* caps)* ws*)* [!:] | [!:]
 * Caps run up to the next unescaped '!' or ';'; the longest match ends at
 * that '!', or else at the last ':' inside the caps. */
static gsize
match_link (const gchar * s)
{
  gsize n, m, last_end = 0;

  if (s[0] != '!' && s[0] != ':')
    return 0;
  n = 1 + match_spaces (s + 1);
  if (!(m = match_mimetype (s + n)))
    return 1;
  for (n += m; s[n] != '\0';) {
    if (s[n] == '\\' && s[n + 1] != '\0' && s[n + 1] != '\n') {
      n += 2;
    } else if (s[n] == '!') {
      return n + 1;
    } else if (s[n] == ';') {
      gsize j = n + 1 + match_spaces (s + n + 1);

      if (!(m = match_mimetype (s + j)))
        break;
      n = j + m;
    } else {
      if (s[n] == ':')
        last_end = n + 1;
      n++;
    }
  }
  return last_end ? last_end : 1;
}

/* [[:alpha:]][[:alnum:]+,\-.]* */
static gsize
match_protocol (const gchar * s)
{
  gsize n;

  if (!g_ascii_isalpha (s[0]))
    return 0;
  for (n = 1; g_ascii_isalnum (s[n]) || (s[n] >= '+' && s[n] <= '.'); n++);
  return n;
}

/* protocol "://" string? | [one of ".{_identifier}]? "/" string */
static gsize
match_url (const gchar * s)
{
  gsize best = 0, n, m;

  if ((n = match_protocol (s)) && strncmp (s + n, "://", 3) == 0)
    best = n + 3 + match_string (s + n + 3);
  /* flex reads ["."{_identifier}] as a bracket expression */
  for (n = 0; n < 2; n++) {
    if (n == 1 && (s[0] == '\0' || !strchr ("\".{_identifier}", s[0])))
      break;
    if (s[n] == '/' && (m = match_string (s + n + 1)))
      best = MAX (best, n + 1 + m);
  }
  return best;
}

typedef gsize (*MatchFunc) (const gchar * s);

typedef struct
{
  T2iTokenType type;
  MatchFunc match;
} Rule;

/* parse.l's rules in its order; spaces and single characters aside */
static const Rule rules[] = {
  {T2I_TOKEN_ASSIGNMENT, match_assignment},
  {T2I_TOKEN_PRESET, match_preset},
  {T2I_TOKEN_PADREF, match_padref},
  {T2I_TOKEN_REF, match_ref},
  {T2I_TOKEN_BINREF, match_binref},
  {T2I_TOKEN_IDENTIFIER, match_identifier},
  {T2I_TOKEN_LINK, match_link},
  {T2I_TOKEN_URL, match_url},
};

static void
lex_one (const gchar * s, T2iTokenType * type, gsize * len)
{
  /* a character of its own (operators included) unless a rule matches;
   * on a tie the earlier rule wins */
  *type = T2I_TOKEN_CHAR;
  *len = 0;
  for (guint i = 0; i < G_N_ELEMENTS (rules); i++) {
    gsize n = rules[i].match (s);

    if (n > *len) {
      *type = rules[i].type;
      *len = n;
    }
  }
  if (*len == 0) {
    *type = T2I_TOKEN_CHAR;
    *len = 1;
  }
  if (*type == T2I_TOKEN_LINK && (s[0] == ':' || s[*len - 1] == ':'))
    *type = T2I_TOKEN_LINK_ALL;
}

/**
 * t2i_syntax_lex:
 *
 * Returns: (transfer full): the tokens of @text, ending with a
 *   %T2I_TOKEN_END token
 */
GArray *
t2i_syntax_lex (const gchar * text)
{
  GArray *tokens = g_array_new (FALSE, FALSE, sizeof (T2iToken));
  gsize i = 0;
  T2iToken end;

  for (;;) {
    T2iToken token;
    gsize len;

    i += match_spaces (text + i);
    if (text[i] == '\0')
      break;
    lex_one (text + i, &token.type, &len);
    token.start = i;
    token.end = i + len;
    g_array_append_val (tokens, token);
    i += len;
  }
  end.type = T2I_TOKEN_END;
  end.start = end.end = i;
  g_array_append_val (tokens, end);
  return tokens;
}

/* ------------------------------------------------------------------ */
/* Parser                                                              */

typedef struct
{
  gint element;
  gchar *ref;
  gsize ref_offset;
} Endpoint;

typedef struct
{
  const gchar *text;
  GArray *tokens;
  guint pos;
  guint depth;                  /* of bins */
  T2iSyntax *syntax;
} Parser;

static const T2iToken *
peek (Parser * p)
{
  return &g_array_index (p->tokens, T2iToken, p->pos);
}

static void
advance (Parser * p)
{
  if (peek (p)->type != T2I_TOKEN_END)
    p->pos++;
}

static gboolean
is_char (const T2iToken * t, const gchar * text, gchar c)
{
  return t->type == T2I_TOKEN_CHAR && text[t->start] == c;
}

static gchar *
describe (Parser * p, const T2iToken * t)
{
  const gchar *s = p->text + t->start;
  gsize len = t->end - t->start;
  const gchar *nl;

  if (t->type == T2I_TOKEN_END)
    return g_strdup ("end of input");
  if ((nl = memchr (s, '\n', len)) != NULL)
    len = nl - s;
  if (len > 40)
    return g_strdup_printf ("'%.*s...'", 37, s);
  return g_strdup_printf ("'%.*s'", (gint) len, s);
}

/* *INDENT-OFF* */
static gboolean
syntax_error (Parser * p, gsize offset, const gchar * format, ...)
    G_GNUC_PRINTF (3, 4);
/* *INDENT-ON* */

static gboolean
syntax_error (Parser * p, gsize offset, const gchar * format, ...)
{
  va_list args;
  g_autofree gchar *message = NULL;

  if (p->syntax->error)
    return FALSE;
  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  p->syntax->error = TRUE;
  p->syntax->error_offset = offset;
  p->syntax->error_message = g_strconcat ("syntax error: ", message, NULL);
  return FALSE;
}

static gboolean
nested_too_deep (Parser * p, gsize offset)
{
  if (p->syntax->error)
    return FALSE;
  p->syntax->error = TRUE;
  p->syntax->too_deep = TRUE;
  p->syntax->error_offset = offset;
  p->syntax->error_message = g_strdup_printf ("bins nested more than %d "
      "deep (the limit)", T2I_SYNTAX_MAX_DEPTH);
  return FALSE;
}

static gboolean
unexpected (Parser * p, const T2iToken * t, const gchar * expected)
{
  g_autofree gchar *what = NULL;

  if (t->type == T2I_TOKEN_CHAR && (p->text[t->start] == '"'
          || p->text[t->start] == '\''))
    return syntax_error (p, t->start, "unterminated quoted string");
  if (is_char (t, p->text, ')'))
    return syntax_error (p, t->start, "')' without a matching '('");
  what = describe (p, t);
  if (expected != NULL)
    return syntax_error (p, t->start, "unexpected %s (expected %s)", what,
        expected);
  return syntax_error (p, t->start, "unexpected %s", what);
}

/* The value part of an assignment as gst_parse_split_assignment() and
 * gst_parse_unescape() leave it. */
static gchar *
assignment_value (const gchar * s, gsize len, gsize * key_len)
{
  gsize k = 0, v;
  gchar *value, *r, *w;
  gboolean in_quotes = FALSE;

  while (k < len && !g_ascii_isspace (s[k]) && s[k] != '=')
    k++;
  *key_len = k;
  v = k;
  while (v < len && (g_ascii_isspace (s[v]) || s[v] == '='))
    v++;
  value = g_strndup (s + v, len - v);
  len = strlen (value);
  if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
    memmove (value, value + 1, len - 2);
    value[len - 2] = '\0';
  }
  for (r = w = value; *r != '\0'; r++) {
    if (*r == '\\' && !in_quotes) {
      r++;
      if (*r == '\0')
        break;
    } else if (*r == '"' && (!in_quotes || r[-1] != '\\')) {
      in_quotes = !in_quotes;
    }
    *w++ = *r;
  }
  *w = '\0';
  return value;
}

static void
add_property (Parser * p, T2iSyntaxElement * element, const T2iToken * t)
{
  T2iSyntaxProperty *prop = g_new0 (T2iSyntaxProperty, 1);
  gsize key_len;

  prop->value = assignment_value (p->text + t->start, t->end - t->start,
      &key_len);
  prop->key = g_strndup (p->text + t->start, key_len);
  prop->offset = t->start;
  g_ptr_array_add (element->properties, prop);
}

static void
property_free (T2iSyntaxProperty * prop)
{
  g_free (prop->key);
  g_free (prop->value);
  g_free (prop);
}

static T2iSyntaxElement *
element_new (const gchar * factory, gsize offset, gboolean is_bin)
{
  T2iSyntaxElement *element = g_new0 (T2iSyntaxElement, 1);

  element->factory = g_strdup (factory);
  element->offset = offset;
  element->is_bin = is_bin;
  element->properties = g_ptr_array_new_with_free_func ((GDestroyNotify)
      property_free);
  return element;
}

static void
endpoint_clear (Endpoint * e)
{
  g_clear_pointer (&e->ref, g_free);
  e->element = -1;
}

static gboolean parse_chainlist (Parser * p, gboolean in_bin);

/* element | bin; sets *out to the index of the element or bin */
static gboolean
parse_elementary (Parser * p, gint * out)
{
  const T2iToken *t = peek (p);
  T2iSyntaxElement *element;

  if (t->type == T2I_TOKEN_IDENTIFIER) {
    g_autofree gchar *factory = g_strndup (p->text + t->start,
        t->end - t->start);

    element = element_new (factory, t->start, FALSE);
    advance (p);
    for (t = peek (p); t->type == T2I_TOKEN_ASSIGNMENT
        || t->type == T2I_TOKEN_PRESET; t = peek (p)) {
      if (t->type == T2I_TOKEN_ASSIGNMENT)
        add_property (p, element, t);
      advance (p);
    }
    *out = p->syntax->elements->len;
    g_ptr_array_add (p->syntax->elements, element);
    return TRUE;
  }

  /* '(' or type.( */
  {
    gsize open = t->start;
    g_autofree gchar *type = NULL;
    gboolean closed;

    if (p->depth == T2I_SYNTAX_MAX_DEPTH)
      return nested_too_deep (p, open);
    if (t->type == T2I_TOKEN_BINREF)
      type = g_strndup (p->text + t->start, match_identifier (p->text +
              t->start));
    else
      type = g_strdup ("bin");
    element = element_new (type, t->start, TRUE);
    advance (p);
    for (t = peek (p); t->type == T2I_TOKEN_ASSIGNMENT; t = peek (p)) {
      add_property (p, element, t);
      advance (p);
    }
    p->depth++;
    closed = parse_chainlist (p, TRUE);
    p->depth--;
    if (!closed) {
      if (!p->syntax->error)
        syntax_error (p, open, "'(' is never closed");
      g_ptr_array_add (p->syntax->elements, element);
      return FALSE;
    }
    advance (p);                /* ')' */
    *out = p->syntax->elements->len;
    g_ptr_array_add (p->syntax->elements, element);
    return TRUE;
  }
}

static gboolean
starts_elementary (Parser * p, const T2iToken * t)
{
  return t->type == T2I_TOKEN_IDENTIFIER || t->type == T2I_TOKEN_BINREF
      || is_char (t, p->text, '(');
}

/* PADREF (',' IDENTIFIER)*; returns the offset of the first pad or -1 */
static gboolean
parse_pads (Parser * p, gssize * first)
{
  const T2iToken *t = peek (p);

  *first = -1;
  if (t->type != T2I_TOKEN_PADREF)
    return TRUE;
  *first = t->start;
  advance (p);
  while (is_char (peek (p), p->text, ',')) {
    advance (p);
    if (peek (p)->type != T2I_TOKEN_IDENTIFIER)
      return unexpected (p, peek (p), "a pad name");
    advance (p);
  }
  return TRUE;
}

/* REF (',' IDENTIFIER)* */
static gboolean
parse_reference (Parser * p, Endpoint * e)
{
  const T2iToken *t = peek (p);
  gsize len = match_identifier (p->text + t->start);

  endpoint_clear (e);
  e->ref = g_strndup (p->text + t->start, len);
  e->ref_offset = t->start;
  advance (p);
  while (is_char (peek (p), p->text, ',')) {
    advance (p);
    if (peek (p)->type != T2I_TOKEN_IDENTIFIER)
      return unexpected (p, peek (p), "a pad name");
    advance (p);
  }
  return TRUE;
}

static T2iSyntaxLink *
link_new (Parser * p, const T2iToken * t, const Endpoint * src)
{
  T2iSyntaxLink *link = g_new0 (T2iSyntaxLink, 1);
  const gchar *s = p->text + t->start;
  gsize len = t->end - t->start;

  link->offset = t->start;
  link->src = src->element;
  link->src_ref = g_strdup (src->ref);
  link->src_ref_offset = src->ref_offset;
  link->sink = -1;
  if (len > 1) {
    gsize a = 1 + match_spaces (s + 1), b = len - 1;

    while (b > a && g_ascii_isspace (s[b - 1]))
      b--;
    link->caps = g_strndup (s + a, b - a);
    link->caps_offset = t->start + a;
  }
  g_ptr_array_add (p->syntax->links, link);
  return link;
}

static gboolean
parse_chain (Parser * p)
{
  const T2iToken *t = peek (p);
  Endpoint last = { -1, NULL, 0 };
  gssize pads = -1;
  gboolean ok = TRUE;

  if (starts_elementary (p, t)) {
    ok = parse_elementary (p, &last.element) && parse_pads (p, &pads);
  } else if (t->type == T2I_TOKEN_URL) {
    advance (p);
  } else if (t->type == T2I_TOKEN_REF) {
    ok = parse_reference (p, &last);
  } else {
    ok = unexpected (p, t, "an element");
  }

  while (ok) {
    const T2iToken *link_token = peek (p);
    T2iSyntaxLink *link;
    gssize sink_pads;

    if (link_token->type != T2I_TOKEN_LINK
        && link_token->type != T2I_TOKEN_LINK_ALL) {
      /* the chain ends here: a reference or pad must have been linked */
      if (last.ref != NULL) {
        ok = syntax_error (p, last.ref_offset,
            "reference '%s.' is not linked to anything", last.ref);
      } else if (pads >= 0) {
        ok = syntax_error (p, pads, "pad reference is not linked to "
            "anything");
      }
      break;
    }
    advance (p);
    link = link_new (p, link_token, &last);
    if (!(ok = parse_pads (p, &sink_pads)))
      break;
    t = peek (p);
    if (starts_elementary (p, t)) {
      endpoint_clear (&last);
      ok = parse_elementary (p, &last.element) && parse_pads (p, &pads);
      link->sink = last.element;
      continue;
    }
    if (sink_pads < 0 && t->type == T2I_TOKEN_URL) {
      advance (p);
      break;
    }
    if (sink_pads < 0 && t->type == T2I_TOKEN_REF) {
      ok = parse_reference (p, &last);
      link->sink_ref = g_strdup (last.ref);
      link->sink_ref_offset = last.ref_offset;
      break;
    }
    if (t->type == T2I_TOKEN_END || is_char (t, p->text, ')')) {
      g_autofree gchar *what = describe (p, link_token);

      ok = syntax_error (p, link_token->start,
          "%s is not followed by an element", what);
    } else {
      ok = unexpected (p, t, "an element");
    }
  }
  endpoint_clear (&last);
  return ok;
}

/* chain*, up to the end of input or, in a bin, up to its ')' */
static gboolean
parse_chainlist (Parser * p, gboolean in_bin)
{
  for (;;) {
    const T2iToken *t = peek (p);

    if (t->type == T2I_TOKEN_END)
      return !in_bin;
    if (in_bin && is_char (t, p->text, ')'))
      return TRUE;
    if (!parse_chain (p))
      return FALSE;
  }
}

static void
element_free (T2iSyntaxElement * element)
{
  g_free (element->factory);
  g_ptr_array_free (element->properties, TRUE);
  g_free (element);
}

static void
link_free (T2iSyntaxLink * link)
{
  g_free (link->caps);
  g_free (link->src_ref);
  g_free (link->sink_ref);
  g_free (link);
}

/**
 * t2i_syntax_parse:
 *
 * Reads @text like gst_parse_launch() would, recording every element with
 * its properties and every link with positions, up to the first syntax
 * error (recorded too).
 */
T2iSyntax *
t2i_syntax_parse (const gchar * text)
{
  T2iSyntax *syntax = g_new0 (T2iSyntax, 1);
  Parser p = { text, t2i_syntax_lex (text), 0, 0, syntax };

  syntax->elements = g_ptr_array_new_with_free_func ((GDestroyNotify)
      element_free);
  syntax->links = g_ptr_array_new_with_free_func ((GDestroyNotify)
      link_free);
  syntax->first_offset = peek (&p)->start;
  if (!parse_chainlist (&p, FALSE) && !syntax->error)
    unexpected (&p, peek (&p), NULL);
  g_array_free (p.tokens, TRUE);
  return syntax;
}

void
t2i_syntax_free (T2iSyntax * syntax)
{
  if (syntax == NULL)
    return;
  g_ptr_array_free (syntax->elements, TRUE);
  g_ptr_array_free (syntax->links, TRUE);
  g_free (syntax->error_message);
  g_free (syntax);
}

/* The value of the element's name= property, or NULL. */
const gchar *
t2i_syntax_element_name (const T2iSyntaxElement * element)
{
  const gchar *name = NULL;

  for (guint i = 0; i < element->properties->len; i++) {
    const T2iSyntaxProperty *prop = g_ptr_array_index (element->properties, i);

    if (g_strcmp0 (prop->key, "name") == 0)
      name = prop->value;
  }
  return name;
}
