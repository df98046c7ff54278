/* Pipeline file preprocessing for t2i-launch: '#' comments and ${NAME}
 * substitution, with a map from every byte of the result back to the
 * user's file so that errors point into what the user wrote.
 * SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define T2I_PREPROCESS_ERROR (t2i_preprocess_error_quark ())

/* A pipeline, as read and after substitution, is at most this long ... */
#define T2I_PREPROCESS_MAX_BYTES (1024 * 1024)
/* ... and ${NAME:-default} nests at most this deep in defaults. */
#define T2I_PREPROCESS_MAX_DEPTH 256

typedef enum
{
  /* ${NAME} with NAME neither set nor in the environment, no default */
  T2I_PREPROCESS_ERROR_UNDEFINED,
  /* a malformed or unterminated ${...} */
  T2I_PREPROCESS_ERROR_SYNTAX,
  /* past T2I_PREPROCESS_MAX_BYTES or T2I_PREPROCESS_MAX_DEPTH */
  T2I_PREPROCESS_ERROR_LIMIT,
} T2iPreprocessError;

GQuark t2i_preprocess_error_quark (void);

typedef struct
{
  /* the text handed to gst_parse_launch_full(), NUL-terminated */
  gchar *text;
  gsize length;
  /* origin[i] is the offset in the original text that text[i] came from;
   * length + 1 entries, the last one for the end of the text */
  gsize *origin;
  /* a copy of the original text, for line and column lookups */
  gchar *original;
  gsize original_length;
  /* names of the variables that were expanded (a set) */
  GHashTable *used;
} T2iPreprocessed;

T2iPreprocessed *t2i_preprocess (const gchar * original, gsize length,
    GHashTable * set, gchar ** envp, gsize * error_offset, GError ** error);

void t2i_preprocessed_free (T2iPreprocessed * pp);

void t2i_preprocessed_locate (const T2iPreprocessed * pp, gsize offset,
    guint * line, guint * column);

void t2i_text_locate (const gchar * text, gsize length, gsize offset,
    guint * line, guint * column);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (T2iPreprocessed, t2i_preprocessed_free)

G_END_DECLS
