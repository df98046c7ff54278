/* Pipeline file preprocessing for t2i-launch.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "preprocess.h"

#include <string.h>

/* *INDENT-OFF* */
G_DEFINE_QUARK (t2i-preprocess-error-quark, t2i_preprocess_error);
/* *INDENT-ON* */

typedef struct
{
  const gchar *src;
  gsize len;
  GString *out;
  GArray *origin;
  GHashTable *set;
  gchar **envp;
  GHashTable *used;
  gsize error_offset;
  GError *error;
} Preprocessor;

static void
emit (Preprocessor * pp, gchar c, gsize origin)
{
  g_string_append_c (pp->out, c);
  g_array_append_val (pp->origin, origin);
}

/* *INDENT-OFF* */
static gboolean
fail (Preprocessor * pp, gsize offset, T2iPreprocessError code,
    const gchar * format, ...) G_GNUC_PRINTF (4, 5);
/* *INDENT-ON* */

/* Every byte of a substituted value points at the '$' of its reference.
 * Values are the only text that can grow the result past the input. */
static gboolean
emit_value (Preprocessor * pp, const gchar * value, gsize origin)
{
  if (pp->out->len + strlen (value) > T2I_PREPROCESS_MAX_BYTES)
    return fail (pp, origin, T2I_PREPROCESS_ERROR_LIMIT,
        "the pipeline is longer than %d KiB after this substitution (the "
        "limit)", T2I_PREPROCESS_MAX_BYTES / 1024);
  for (const gchar * p = value; *p != '\0'; p++)
    emit (pp, *p, origin);
  return TRUE;
}

static gboolean
fail (Preprocessor * pp, gsize offset, T2iPreprocessError code,
    const gchar * format, ...)
{
  va_list args;

  if (pp->error != NULL)
    return FALSE;
  va_start (args, format);
  pp->error = g_error_new_valist (T2I_PREPROCESS_ERROR, code, format, args);
  va_end (args);
  pp->error_offset = offset;
  return FALSE;
}

static const gchar *
lookup (Preprocessor * pp, const gchar * name)
{
  const gchar *value = NULL;

  if (pp->set != NULL)
    value = g_hash_table_lookup (pp->set, name);
  if (value == NULL && pp->envp != NULL)
    value = g_environ_getenv (pp->envp, name);
  return value;
}

static gboolean
is_name_start (gchar c)
{
  return g_ascii_isalpha (c) || c == '_';
}

static gboolean
is_name_char (gchar c)
{
  return g_ascii_isalnum (c) || c == '_';
}

/* A shortened copy of the reference text for messages: at most up to the
 * end of the line, and not too long. */
static gchar *
reference_excerpt (Preprocessor * pp, gsize start)
{
  gsize end = start;

  while (end < pp->len && pp->src[end] != '\n' && pp->src[end] != '}'
      && end - start < 40)
    end++;
  if (end < pp->len && pp->src[end] == '}')
    end++;
  return g_strndup (pp->src + start, end - start);
}

static gboolean expand_reference (Preprocessor * pp, gsize start,
    gboolean active, guint depth, gsize * next);

/* Processes the default text of ${NAME:-default} starting at *pos up to the
 * matching '}'; emits it when active.  *pos ends just after the '}'. */
static gboolean
expand_default (Preprocessor * pp, gsize ref_start, gsize * pos,
    gboolean active, guint depth)
{
  gsize i = *pos;

  while (i < pp->len) {
    gchar c = pp->src[i];

    if (c == '}') {
      *pos = i + 1;
      return TRUE;
    }
    if (c == '$' && i + 2 < pp->len && pp->src[i + 1] == '$'
        && pp->src[i + 2] == '{') {
      /* "$${" stands for a literal "${" */
      if (active)
        emit (pp, '$', i + 1);
      i += 2;
      continue;
    }
    if (c == '$' && i + 1 < pp->len && pp->src[i + 1] == '{') {
      if (!expand_reference (pp, i, active, depth + 1, &i))
        return FALSE;
      continue;
    }
    if (active)
      emit (pp, c, i);
    i++;
  }

  return fail (pp, ref_start, T2I_PREPROCESS_ERROR_SYNTAX,
      "unterminated variable reference (missing '}')");
}

/* Expands the reference "${...}" at start (pp->src[start] == '$'); when not
 * active the reference is only skipped (an unused default).  @depth is 1
 * outside defaults and one more in each default around it.  *next is set
 * to the offset just after the reference. */
static gboolean
expand_reference (Preprocessor * pp, gsize start, gboolean active,
    guint depth, gsize * next)
{
  gsize i = start + 2;
  gsize name_start = i;
  g_autofree gchar *name = NULL;
  const gchar *value = NULL;

  if (depth > T2I_PREPROCESS_MAX_DEPTH)
    return fail (pp, start, T2I_PREPROCESS_ERROR_LIMIT, "variable "
        "references nested more than %d deep in defaults (the limit)",
        T2I_PREPROCESS_MAX_DEPTH);

  if (i >= pp->len || !is_name_start (pp->src[i])) {
    g_autofree gchar *excerpt = reference_excerpt (pp, start);

    return fail (pp, start, T2I_PREPROCESS_ERROR_SYNTAX,
        "bad variable reference '%s' (expected ${NAME} or "
        "${NAME:-default})", excerpt);
  }
  while (i < pp->len && is_name_char (pp->src[i]))
    i++;
  name = g_strndup (pp->src + name_start, i - name_start);

  {
    const gchar *eol = memchr (pp->src + i, '\n', pp->len - i);
    gsize line_end = eol != NULL ? (gsize) (eol - pp->src) : pp->len;

    if (memchr (pp->src + i, '}', line_end - i) == NULL)
      return fail (pp, start, T2I_PREPROCESS_ERROR_SYNTAX,
          "unterminated variable reference '${%s' (missing '}')", name);
  }

  if (active) {
    value = lookup (pp, name);
    g_hash_table_add (pp->used, g_strdup (name));
  }

  if (pp->src[i] == '}') {
    if (active && value == NULL)
      return fail (pp, start, T2I_PREPROCESS_ERROR_UNDEFINED,
          "undefined variable '%s' (use --set %s=VALUE or ${%s:-default})",
          name, name, name);
    if (active && !emit_value (pp, value, start))
      return FALSE;
    *next = i + 1;
    return TRUE;
  }

  if (pp->src[i] == ':' && i + 1 < pp->len && pp->src[i + 1] == '-') {
    gboolean use_default = active && (value == NULL || *value == '\0');

    i += 2;
    if (active && !use_default && !emit_value (pp, value, start))
      return FALSE;
    if (!expand_default (pp, start, &i, use_default, depth))
      return FALSE;
    *next = i;
    return TRUE;
  }

  {
    g_autofree gchar *excerpt = reference_excerpt (pp, start);

    return fail (pp, start, T2I_PREPROCESS_ERROR_SYNTAX,
        "bad variable reference '%s' (expected ${NAME} or "
        "${NAME:-default})", excerpt);
  }
}

static gboolean
run (Preprocessor * pp)
{
  gsize i = 0;
  gchar quote = '\0';

  while (i < pp->len) {
    gchar c = pp->src[i];

    if (c == '\\' && i + 1 < pp->len) {
      /* an escaped character keeps its backslash (gst_parse unescapes it)
       * and loses any meaning here: "\#" is no comment, "\"" no quote */
      emit (pp, c, i);
      emit (pp, pp->src[i + 1], i + 1);
      i += 2;
      continue;
    }

    if (c == '$' && i + 2 < pp->len && pp->src[i + 1] == '$'
        && pp->src[i + 2] == '{') {
      emit (pp, '$', i + 1);
      i += 2;
      continue;
    }
    if (c == '$' && i + 1 < pp->len && pp->src[i + 1] == '{') {
      if (!expand_reference (pp, i, TRUE, 1, &i))
        return FALSE;
      continue;
    }

    if (quote != '\0') {
      if (c == quote)
        quote = '\0';
    } else if (c == '#') {
      while (i < pp->len && pp->src[i] != '\n')
        i++;
      continue;
    } else if (c == '"') {
      quote = c;
    } else if (c == '\'' && (i == 0 || !g_ascii_isalnum (pp->src[i - 1]))) {
      /* an apostrophe inside a word ("don't") opens no string */
      quote = c;
    }

    emit (pp, c, i);
    i++;
  }

  return TRUE;
}

/**
 * t2i_preprocess:
 * @original: the pipeline file's text
 * @length: its length in bytes
 * @set: (nullable): NAME -> VALUE from --set; wins over the environment
 * @envp: (nullable): the environment, as from g_get_environ()
 * @error_offset: (out) (optional): on failure, the offset in @original the
 *   error points at
 * @error: return location for a #T2I_PREPROCESS_ERROR
 *
 * Strips '#' comments (outside quoted strings, up to the end of the line,
 * keeping the line break) and expands ${NAME} and ${NAME:-default}
 * (default used when NAME is unset or empty; "$${" is a literal "${").
 * Defaults nest at most %T2I_PREPROCESS_MAX_DEPTH deep and the result is
 * at most %T2I_PREPROCESS_MAX_BYTES long (%T2I_PREPROCESS_ERROR_LIMIT).
 *
 * Returns: (transfer full) (nullable): the result, or %NULL on error
 */
T2iPreprocessed *
t2i_preprocess (const gchar * original, gsize length, GHashTable * set,
    gchar ** envp, gsize * error_offset, GError ** error)
{
  Preprocessor pp = {
    .src = original,
    .len = length,
    .out = g_string_sized_new (length + 1),
    .origin = g_array_sized_new (FALSE, FALSE, sizeof (gsize), length + 1),
    .set = set,
    .envp = envp,
    .used = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL),
  };
  T2iPreprocessed *result;

  if (!run (&pp)) {
    if (error_offset != NULL)
      *error_offset = pp.error_offset;
    g_propagate_error (error, pp.error);
    g_string_free (pp.out, TRUE);
    g_array_free (pp.origin, TRUE);
    g_hash_table_unref (pp.used);
    return NULL;
  }

  g_array_append_val (pp.origin, length);

  result = g_new0 (T2iPreprocessed, 1);
  result->length = pp.out->len;
  result->text = g_string_free (pp.out, FALSE);
  result->origin = (gsize *) (gpointer) g_array_free (pp.origin, FALSE);
  result->original = g_strndup (original, length);
  result->original_length = length;
  result->used = pp.used;
  return result;
}

void
t2i_preprocessed_free (T2iPreprocessed * pp)
{
  if (pp == NULL)
    return;
  g_free (pp->text);
  g_free (pp->origin);
  g_free (pp->original);
  g_hash_table_unref (pp->used);
  g_free (pp);
}

/**
 * t2i_text_locate:
 *
 * Line and column (both from 1) of @offset in @text.  Columns count
 * characters: UTF-8 continuation bytes do not advance them.
 */
void
t2i_text_locate (const gchar * text, gsize length, gsize offset,
    guint * line, guint * column)
{
  guint l = 1, c = 1;

  offset = MIN (offset, length);
  for (gsize i = 0; i < offset; i++) {
    guchar b = (guchar) text[i];

    if (b == '\n') {
      l++;
      c = 1;
    } else if ((b & 0xc0) != 0x80) {
      c++;
    }
  }
  *line = l;
  *column = c;
}

/* Line and column in the original text of @offset in the processed text. */
void
t2i_preprocessed_locate (const T2iPreprocessed * pp, gsize offset,
    guint * line, guint * column)
{
  offset = MIN (offset, pp->length);
  t2i_text_locate (pp->original, pp->original_length, pp->origin[offset],
      line, column);
}
