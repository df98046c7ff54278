/* Text helpers private to libt2i.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* @text with its control characters written as escapes ("\n", "\t",
 * "\x01"), so a message quoting a file's bytes stays one line */
gchar *t2i_text_one_line (const gchar * text);
/* the same on a GError's message, in place (NULL-safe) */
void t2i_error_one_line (GError * error);

/* the deepest nesting of JSON arrays and objects in @s (outside strings),
 * counted no further than @limit + 1: json-glib parses recursively, so
 * text nested deeper than a limit is refused before it reaches it */
gint t2i_json_depth (const char *s, gsize len, gint limit);

G_END_DECLS
