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

G_END_DECLS
