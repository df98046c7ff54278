/* Text helpers private to libt2i (text.h).
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#include "text.h"

gchar *
t2i_text_one_line (const gchar * text)
{
  GString *s = g_string_new (NULL);

  for (const guchar * p = (const guchar *) text; *p; p++) {
    if (*p == '\n')
      g_string_append (s, "\\n");
    else if (*p == '\r')
      g_string_append (s, "\\r");
    else if (*p == '\t')
      g_string_append (s, "\\t");
    else if (*p < 0x20 || *p == 0x7f)
      g_string_append_printf (s, "\\x%02x", *p);
    else
      g_string_append_c (s, (gchar) * p);
  }
  return g_string_free (s, FALSE);
}

void
t2i_error_one_line (GError * error)
{
  if (!error)
    return;
  gchar *m = t2i_text_one_line (error->message);
  g_free (error->message);
  error->message = m;
}

gint
t2i_json_depth (const char *s, gsize len, gint limit)
{
  gint depth = 0, deepest = 0;
  gboolean in_string = FALSE;

  for (gsize i = 0; i < len && deepest <= limit; i++) {
    char c = s[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = FALSE;
    } else if (c == '"') {
      in_string = TRUE;
    } else if (c == '[' || c == '{') {
      depth++;
      deepest = MAX (deepest, depth);
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return deepest;
}
